"""Public namespace ``izhijax.wiring``: the names below, implemented in :mod:`izhijax._src.wiring`."""

from ._src.wiring import (  # noqa: F401
    fixed_probability,
    fixed_indegree,
    lists_to_table,
    sparse,
    from_dense,
    to_dense,
)

__all__ = [
    "fixed_probability", "fixed_indegree", "lists_to_table", "sparse", "from_dense", "to_dense",
]
