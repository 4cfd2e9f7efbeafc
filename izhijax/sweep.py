"""Public namespace ``izhijax.sweep``: the names below, implemented in :mod:`izhijax._src.sweep`."""

from ._src.sweep import (  # noqa: F401
    run,
    SweepResult,
    apply_values,
    value_names,
    summaries,
    trial_keys,
    SCALES,
)

__all__ = [
    "run", "SweepResult", "apply_values", "value_names", "summaries", "trial_keys", "SCALES",
]
