"""Public namespace ``izhijax.patterns``: the names below, implemented in :mod:`izhijax._src.patterns`."""

from ._src.patterns import (  # noqa: F401
    run,
    Protocol,
    Trace,
    Batch,
    PROTOCOLS,
    FEATURES,
    protocol,
    batch,
    integrate_batch,
    network,
    MODEL,
    CONFIG,
    V_PEAK,
)

__all__ = [
    "run", "Protocol", "Trace", "Batch", "PROTOCOLS", "FEATURES", "protocol", "batch",
    "integrate_batch", "network", "MODEL", "CONFIG", "V_PEAK",
]
