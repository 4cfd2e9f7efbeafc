"""Public namespace ``izhijax.plot``: the names below, implemented in :mod:`izhijax._src.plot`."""

from ._src.plot import (  # noqa: F401
    fig3,
    fit_curves,
    patterns,
    polychronization,
    polychronous_group,
    sweep_maps,
)

__all__ = [
    "fig3", "fit_curves", "patterns", "polychronization", "polychronous_group", "sweep_maps",
]
