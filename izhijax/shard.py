"""Public namespace ``izhijax.shard``: one network over many devices (its neurons split in blocks
over a mesh, spikes exchanged every step as fired-index buffers, bit for bit the single-device
run), implemented in :mod:`izhijax._src.shard`.

    import izhijax as izj, izhijax.shard
    final, rec = izj.shard.simulate(net, key, n_steps)       # over every device jax.devices() lists
    izj.shard.partition(net, 8).table()                       # blocks, synapses, exchange per step
"""

from ._src.shard import (  # noqa: F401
    simulate,
    partition,
    layout,
    Partition,
    Layout,
    Stats,
    block_size,
    default_exchange,
    AXIS,
)

__all__ = ["simulate", "partition", "layout", "Partition", "Layout", "Stats", "block_size",
           "default_exchange", "AXIS"]
