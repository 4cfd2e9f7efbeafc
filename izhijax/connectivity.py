"""Public namespace ``izhijax.connectivity``: the names below, implemented in :mod:`izhijax._src.connectivity`."""

from ._src.connectivity import (  # noqa: F401
    EventDense,
    Sparse,
    PreScaled,
    event_dense,
    propagate,
    to_dense,
    register_format,
    formats,
    is_format,
    n_pre,
    n_post,
    default_buffers,
    default_dense_buffers,
    check_buffers,
)
from ._src.csr import CSR, csr, to_csr  # noqa: F401
from ._src.delays import Delayed, default_capacity, delayed, to_delayed  # noqa: F401

__all__ = [
    "EventDense", "Sparse", "PreScaled", "event_dense", "propagate", "to_dense",
    "register_format", "formats", "is_format", "n_pre", "n_post", "default_buffers",
    "default_dense_buffers", "check_buffers", "Delayed", "delayed", "to_delayed",
    "default_capacity", "CSR", "csr", "to_csr",
]
