"""The ``izhijax`` command (implementation in :mod:`izhijax._src.cli`)."""

from ._src.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
