"""Public namespace ``izhijax.polychronization``: the Izhikevich (2006) network and its long runs,
implemented in :mod:`izhijax._src.polychronization`."""

from ._src.polychronization import (  # noqa: F401
    Second,
    build,
    choose_backend,
    exc_exc_strong,
    from_spnet,
    learned_weights,
    polychronization2006,
    run,
    synapse_tables,
    wiring,
)

__all__ = ["polychronization2006", "build", "from_spnet", "wiring", "run", "Second",
           "exc_exc_strong", "learned_weights", "synapse_tables", "choose_backend"]
