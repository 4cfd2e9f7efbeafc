"""izhijax: Izhikevich spiking networks as one pure, fast, differentiable JAX program.

    import jax, izhijax as izj
    net = izj.izhikevich2003(jax.random.key(0))               # the 2003 Fig. 3 network
    final, rec = izj.simulate(net, jax.random.key(1), n_steps=1000)
    izj.summary(rec)                                            # rates per population, rhythm

The implementation lives in the private package ``izhijax._src``; what is public is listed in
``__all__`` here and in the namespaces ``izhijax.sweep``, ``izhijax.fit``, ``izhijax.plot``,
``izhijax.patterns``, ``izhijax.features``, ``izhijax.connectivity`` and ``izhijax.wiring``.
"""

from . import connectivity, features, fit, patterns, plot, sweep, wiring
from ._src.analysis import (firing_rates, population_rate, population_rates, power_spectrum,
                            rhythm_frequency, summary, synchrony)
from ._src.components import (INTEGRATORS, NOISES, Euler, Integrator, IzhikevichHalfSteps, Plasticity,
                              NeuronModel, NoiseSource, NoNoise, NormalNoise, SemiImplicit,
                              UniformNoise, reset_to)
from ._src.engine import step
from ._src.io import Checkpoint, load, load_run, models, register_model, save, save_run
from ._src.longrun import concatenate, load_chunks, simulate_to_disk
from ._src.models import VARIANTS, izhikevich2003, scaled_izhikevich2003, thalamocortical
from ._src.network import (Config, Network, Population, Projection, State, init_state,
                           make_params, network, population, projection)
from ._src.neuron import Izhikevich2003, Izhikevich2004
from ._src.simple2007 import Izhikevich2007
from ._src.simulate import (DivergenceError, DivergenceWarning, Recording, compile_simulation,
                            simulate)
from ._src.surrogate import (SURROGATES, Arctan, FastSigmoid, Sigmoid, StraightThrough, Surrogate,
                             Triangle, spike)

__version__ = "0.2.0"

__all__ = [
    # networks
    "Network", "Population", "Projection", "Config", "State", "network", "population",
    "projection", "make_params", "init_state", "izhikevich2003", "scaled_izhikevich2003", "thalamocortical",
    "VARIANTS",
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
    "rhythm_frequency", "summary", "synchrony",
    # files
    "save", "load", "save_run", "load_run", "Checkpoint", "register_model", "models",
    # namespaces
    "connectivity", "wiring", "sweep", "fit", "plot", "patterns", "features",
]
