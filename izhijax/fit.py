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

__all__ = [
    "fit", "FitResult", "FitDivergenceError", "evaluate", "rates_of", "population_parameters",
    "population_names",
    "field_parameters", "population_loss", "neuron_loss", "mse", "relative_error", "project",
    "BOUNDS", "LOSSES",
]
