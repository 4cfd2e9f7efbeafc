"""izhijax: Izhikevich spiking networks as one pure, fast, differentiable JAX program.

    import jax, izhijax as izj
    params = izj.izhikevich2003(jax.random.key(0))          # the 2003 Fig. 3 network
    final, rec = izj.simulate(params, jax.random.key(1), n_steps=1000)
    izj.summary(rec)                                         # rates, rhythm
"""

from . import (analysis, bptt, connectivity, features, fit, neuron, patterns, plot, surrogate, sweep,
               validate, wiring)
from .bptt import spike_counts, spike_rates
from .analysis import (firing_rates, population_rate, population_rates, power_spectrum,
                       rhythm_frequency, summary, synchrony)
from .io import Checkpoint, load, load_run, save, save_run
from .longrun import concatenate, load_chunks, simulate_to_disk
from .models import VARIANTS, izhikevich2003, scaled_izhikevich2003
from .network import Config, Params, State, advance, init_state, make_params, noise, step
from .neuron import INTEGRATORS, PRESETS, preset
from .simulate import (DivergenceError, DivergenceWarning, Recording, compile_simulation,
                       simulate)
from .surrogate import SURROGATES, spike
from .sweep import SweepResult

__version__ = "0.1.0"

__all__ = sorted(name for name in dir() if not name.startswith("_"))
