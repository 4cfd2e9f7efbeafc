"""Public namespace ``izhijax.plasticity``: learning rules of projections with per-synapse delays,
implemented in :mod:`izhijax._src.plasticity` (see there for the timing conventions)."""

from ._src.plasticity import (  # noqa: F401
    STDP,
    Dopamine2007,
    Izhikevich2006,
    RewardPairing,
    RewardTimes,
    TraceRule,
    window,
)
from ._src.components import Plasticity  # noqa: F401

__all__ = ["Plasticity", "TraceRule", "STDP", "Izhikevich2006", "Dopamine2007", "RewardPairing",
           "RewardTimes", "window"]
