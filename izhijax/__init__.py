"""izhijax: Izhikevich spiking networks as one pure, fast, differentiable JAX program.

    import jax, izhijax as izj
    net = izj.izhikevich2003(jax.random.key(0))               # the 2003 Fig. 3 network
    final, rec = izj.simulate(net, jax.random.key(1), n_steps=1000)
    izj.summary(rec)                                            # rates per population, rhythm

The implementation lives in the private package ``izhijax._src``; what is public is listed in
``__all__`` here and in the namespaces ``izhijax.sweep``, ``izhijax.fit``, ``izhijax.plot``,
``izhijax.patterns``, ``izhijax.features``, ``izhijax.connectivity``, ``izhijax.wiring``,
``izhijax.plasticity``, ``izhijax.inputs``, ``izhijax.polychronization``, ``izhijax.groups``,
``izhijax.traces`` and ``izhijax.shard``.

Imports are lazy (PEP 562): ``import izhijax`` loads neither JAX nor any of ``izhijax._src`` but
``izhijax._src.determinism``, which asks XLA for deterministic GPU scatters (runs reproducible bit
for bit on GPUs; ``IZHIJAX_GPU_DETERMINISTIC=0`` to leave ``XLA_FLAGS`` alone); the first use of a
name (``izj.simulate``, ``izj.sweep``, ...) imports the module that defines it. So the ``izhijax``
command starts (``--help``, a bad flag) without importing JAX.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

# GPU runs reproducible bit for bit: XLA's deterministic scatters, asked for before JAX starts
# (izhijax._src.determinism; IZHIJAX_GPU_DETERMINISTIC=0 leaves XLA_FLAGS alone).
from ._src import determinism as _determinism  # noqa: E402
_determinism.ensure()

# Public name -> module that defines it (relative to this package). Namespaces map to themselves.
_LAZY = {}
for _module, _names in {
    "._src.analysis": ("firing_rates", "population_rate", "population_rates", "power_spectrum",
                       "rhythm_bands", "rhythm_frequency", "summary", "synchrony"),
    "._src.components": ("INTEGRATORS", "NOISES", "Euler", "Integrator", "IzhikevichHalfSteps",
                         "Plasticity", "NeuronModel", "NoiseSource", "NoNoise", "NormalNoise",
                         "SemiImplicit", "UniformNoise", "reset_to"),
    "._src.engine": ("step",),
    "._src.io": ("Checkpoint", "load", "load_run", "models", "register_model", "save", "save_run"),
    "._src.interchange": ("to_neo", "to_nwb", "from_nwb"),
    "._src.learnable_delays": ("LearnableDelayed", "clip_delays", "learnable_delayed",
                               "to_learnable"),
    "._src.longrun": ("concatenate", "load_chunks", "simulate_to_disk"),
    "._src.models": ("VARIANTS", "izhikevich2003", "scaled_izhikevich2003", "thalamocortical"),
    "._src.network": ("Config", "Network", "Population", "Projection", "State", "freeze",
                      "init_state", "make_params", "network", "population", "projection"),
    "._src.polychronization": ("polychronization2006",),
    "._src.neuron": ("Izhikevich2003", "Izhikevich2004"),
    "._src.simple2007": ("Izhikevich2007",),
    "._src.simulate": ("DivergenceError", "DivergenceWarning", "Recording", "compile_simulation",
                       "simulate"),
    "._src.surrogate": ("SURROGATES", "Arctan", "FastSigmoid", "Sigmoid", "StraightThrough",
                        "Surrogate", "Triangle", "spike"),
}.items():
    _LAZY.update(dict.fromkeys(_names, _module))
_NAMESPACES = ("connectivity", "wiring", "sweep", "fit", "plot", "patterns", "features",
               "plasticity", "inputs", "polychronization", "groups", "traces",
               "shard")
_LAZY.update({_name: "." + _name for _name in _NAMESPACES})
del _module, _names

__all__ = [
    # networks
    "Network", "Population", "Projection", "Config", "State", "network", "population",
    "projection", "make_params", "init_state", "izhikevich2003", "scaled_izhikevich2003", "thalamocortical",
    "VARIANTS", "polychronization2006", "freeze",
    # learnable delays
    "LearnableDelayed", "learnable_delayed", "to_learnable", "clip_delays",
    # components
    "NeuronModel", "Izhikevich2003", "Izhikevich2004", "Izhikevich2007", "reset_to",
    "Integrator", "Euler", "IzhikevichHalfSteps", "SemiImplicit", "INTEGRATORS",
    "NoiseSource", "NormalNoise", "UniformNoise", "NoNoise", "NOISES", "Plasticity",
    "Surrogate", "FastSigmoid", "Sigmoid", "Arctan", "Triangle", "StraightThrough", "SURROGATES",
    "spike",
    # running
    "step", "simulate", "compile_simulation", "Recording", "DivergenceError",
    "DivergenceWarning", "simulate_to_disk", "load_chunks", "concatenate",
    # analysis
    "firing_rates", "population_rate", "population_rates", "power_spectrum",
    "rhythm_bands", "rhythm_frequency", "summary", "synchrony",
    # files
    "save", "load", "save_run", "load_run", "Checkpoint", "register_model", "models",
    "to_neo", "to_nwb", "from_nwb",
    # namespaces
    "connectivity", "wiring", "sweep", "fit", "plot", "patterns", "features", "plasticity",
    "inputs", "polychronization", "groups", "traces", "shard",
]


def __getattr__(name):
    """PEP 562: import a public name's module on first use, then keep the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _NAMESPACES:
        value = importlib.import_module(module, __name__)
    else:
        value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:       # static analysers and IDEs see the eager imports
    from . import (connectivity, features, fit, groups, inputs, patterns,  # noqa: F401
                   plasticity, plot, polychronization, sweep, wiring)
    from ._src.analysis import (firing_rates, population_rate, population_rates,  # noqa: F401
                                power_spectrum, rhythm_bands, rhythm_frequency, summary, synchrony)
    from ._src.components import (INTEGRATORS, NOISES, Euler, Integrator,  # noqa: F401
                                  IzhikevichHalfSteps, NeuronModel, NoiseSource, NoNoise,
                                  NormalNoise, Plasticity, SemiImplicit, UniformNoise, reset_to)
    from ._src.engine import step  # noqa: F401
    from ._src.io import (Checkpoint, load, load_run, models, register_model, save,  # noqa: F401
                          save_run)
    from ._src.learnable_delays import (LearnableDelayed, clip_delays,  # noqa: F401
                                        learnable_delayed, to_learnable)
    from ._src.longrun import concatenate, load_chunks, simulate_to_disk  # noqa: F401
    from ._src.models import (VARIANTS, izhikevich2003, scaled_izhikevich2003,  # noqa: F401
                              thalamocortical)
    from ._src.network import (Config, Network, Population, Projection, State,  # noqa: F401
                               freeze, init_state, make_params, network, population, projection)
    from ._src.polychronization import polychronization2006  # noqa: F401
    from ._src.neuron import Izhikevich2003, Izhikevich2004  # noqa: F401
    from ._src.simple2007 import Izhikevich2007  # noqa: F401
    from ._src.simulate import (DivergenceError, DivergenceWarning, Recording,  # noqa: F401
                                compile_simulation, simulate)
    from ._src.surrogate import (SURROGATES, Arctan, FastSigmoid, Sigmoid,  # noqa: F401
                                 StraightThrough, Surrogate, Triangle, spike)
