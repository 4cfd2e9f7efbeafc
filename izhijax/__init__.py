"""izhijax: Izhikevich spiking networks as one pure, fast, differentiable JAX program.

    import jax, izhijax as izj
    params = izj.izhikevich2003(jax.random.key(0))          # the 2003 Fig. 3 network
    final, rec = izj.simulate(params, jax.random.key(1), n_steps=1000)
    izj.summary(rec)                                         # rates, rhythm
"""

from . import connectivity, features, fit, patterns, plot, sweep, wiring
from ._src import analysis, bptt, neuron, surrogate, validate
from ._src.bptt import spike_counts, spike_rates
from ._src.analysis import (firing_rates, population_rate, population_rates, power_spectrum,
                       rhythm_frequency, summary, synchrony)
from ._src.io import Checkpoint, load, load_run, save, save_run
from ._src.longrun import concatenate, load_chunks, simulate_to_disk
from ._src.models import VARIANTS, izhikevich2003, scaled_izhikevich2003
from ._src.network import Config, Params, State, advance, init_state, make_params, noise, step
from ._src.neuron import INTEGRATORS, PRESETS, preset
from ._src.simulate import (DivergenceError, DivergenceWarning, Recording, compile_simulation,
                       simulate)
from ._src.surrogate import SURROGATES, spike
from .sweep import SweepResult

__version__ = "0.1.0"

__all__ = sorted(name for name in dir() if not name.startswith("_"))
