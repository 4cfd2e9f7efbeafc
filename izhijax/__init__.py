"""izhijax: Izhikevich spiking networks as one pure, fast, differentiable JAX program.

    import jax, izhijax as izj
    params = izj.izhikevich2003(jax.random.key(0))          # the 2003 Fig. 3 network
    final, rec = izj.simulate(params, jax.random.key(1), n_steps=1000)
    izj.summary(rec)                                         # rates, rhythm
"""

from . import analysis, bptt, connectivity, fit, neuron, plot, surrogate
from .bptt import spike_counts, spike_rates
from .analysis import (firing_rates, population_rate, population_rates, power_spectrum,
                       rhythm_frequency, summary)
from .io import load_run, save_run
from .models import VARIANTS, izhikevich2003
from .network import Config, Params, State, advance, init_state, make_params, noise, step
from .neuron import INTEGRATORS, PRESETS, preset
from .simulate import Recording, compile_simulation, simulate
from .surrogate import SURROGATES, spike

__version__ = "0.1.0"

__all__ = [
    "Config", "INTEGRATORS", "PRESETS", "Params", "Recording", "SURROGATES", "State", "VARIANTS",
    "advance", "analysis", "compile_simulation", "connectivity", "firing_rates", "init_state", "izhikevich2003",
    "load_run", "make_params", "neuron", "noise", "plot", "population_rate", "population_rates",
    "power_spectrum", "preset", "rhythm_frequency", "save_run", "simulate", "spike", "step", "bptt", "fit", "spike_counts", "spike_rates",
    "summary", "surrogate",
]
