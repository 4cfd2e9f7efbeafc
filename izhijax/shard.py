"""Public namespace ``izhijax.shard``: one network over many devices (neurons split in blocks,
spikes exchanged every step as fired-index buffers), implemented in :mod:`izhijax._src.shard`."""

from ._src.shard import (  # noqa: F401
    simulate,
    partition,
    Partition,
    Stats,
    block_size,
    default_exchange,
    AXIS,
)

__all__ = ["simulate", "partition", "Partition", "Stats", "block_size", "default_exchange",
           "AXIS"]
