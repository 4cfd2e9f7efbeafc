"""The ``izhijax`` command (implementation in :mod:`izhijax._src.cli`)."""

import sys

from ._src.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
