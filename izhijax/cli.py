"""The ``izhijax`` command (implementation in :mod:`izhijax._src.cli`)."""

import sys

from ._src.cli import console, main

__all__ = ["main", "console"]

if __name__ == "__main__":
    console()
