"""Public namespace: re-exports of :mod:`izhijax._src.connectivity`."""

from ._src.connectivity import *  # noqa: F401,F403  (explicit list below)
from ._src import connectivity as _impl

__all__ = [n for n in dir(_impl) if not n.startswith("_") and getattr(getattr(_impl, n), "__module__", "").startswith("izhijax")]
