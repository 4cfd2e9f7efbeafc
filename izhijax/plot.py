"""Public namespace: re-exports of :mod:`izhijax._src.plot`."""

from ._src.plot import *  # noqa: F401,F403  (explicit list below)
from ._src import plot as _impl

__all__ = [n for n in dir(_impl) if not n.startswith("_") and getattr(getattr(_impl, n), "__module__", "").startswith("izhijax")]
