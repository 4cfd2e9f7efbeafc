"""Test setup: float64 everywhere (reference comparisons are exact in float64), repo paths, the
fast selection.

Fast selection: tests marked ``@pytest.mark.slow`` are deselected unless asked for, so a plain
``python -m pytest`` runs the fast tests (every reference comparison included: Brian2 spike for
spike, the NumPy seeds, PymoNNto statistics, figure1.m patterns, the 2007 model). Everything runs with
``python -m pytest --all`` (or ``-m "slow or not slow"``; add ``-n auto`` for every core, as CI
does); any ``-m`` or ``-k`` expression, or a test named by its id (``file::test``), selects as usual,
slow tests included.

The ``izhijax`` command's persistent compilation cache is turned off here (``IZHIJAX_NO_CACHE=1``,
inherited by the subprocesses): tests write nothing under ``~/.cache``, and a CLI test called
in-process does not switch the cache on for the rest of the session.
"""

import os
import sys

import jax

jax.config.update("jax_enable_x64", True)
os.environ.setdefault("IZHIJAX_NO_CACHE", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
# experiments/reference_network.py is NumPy only and shared with the peers' reference scripts.
sys.path.insert(0, os.path.join(ROOT, "experiments"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", dest="run_all",
                     help="also run the tests marked slow (same as -m 'slow or not slow')")


def _select_all(config):
    return (config.getoption("run_all") or config.option.markexpr or config.option.keyword
            or any("::" in arg for arg in config.args))


def pytest_report_header(config):
    if not _select_all(config):
        return "fast selection: tests marked slow are deselected (run everything with --all)"


def pytest_collection_modifyitems(config, items):
    if _select_all(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
