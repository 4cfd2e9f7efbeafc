"""Public namespace ``izhijax.fit``: the names below, implemented in :mod:`izhijax._src.fit`."""

from ._src.fit import (  # noqa: F401
    fit,
    FitResult,
    FitDivergenceError,
    evaluate,
    rates_of,
    population_parameters,
    population_names,
    field_parameters,
    population_loss,
    neuron_loss,
    mse,
    relative_error,
    project,
    BOUNDS,
    LOSSES,
)
from ._src.traces import (  # noqa: F401  (single neurons fitted to recordings: izhijax.traces)
    fit_trace,
    voltage_loss,
    spike_loss,
    van_rossum_distance,
    combined_loss,
    coincidence_factor,
)

__all__ = [
    "fit", "FitResult", "FitDivergenceError", "evaluate", "rates_of", "population_parameters",
    "population_names",
    "field_parameters", "population_loss", "neuron_loss", "mse", "relative_error", "project",
    "BOUNDS", "LOSSES",
    "fit_trace", "voltage_loss", "spike_loss", "van_rossum_distance", "combined_loss",
    "coincidence_factor",
]
