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

One test session shares one JAX persistent compilation cache instead, in a temporary folder that
the session removes at its end (``JAX_COMPILATION_CACHE_DIR``, set before the xdist workers start,
inherited by them and by every subprocess: the README blocks, notebooks, CLI calls and forced-device
workers compile many of the same programs). A program from the cache is the one XLA compiled, so
no result changes; it cut the README and notebook tests from 188 to 160 s. A cache folder the
caller already set is used as it is and kept; ``IZHIJAX_TEST_NO_JAX_CACHE=1`` turns it off.
"""

import os
import shutil
import sys
import tempfile

import jax
import pytest

jax.config.update("jax_enable_x64", True)
os.environ.setdefault("IZHIJAX_NO_CACHE", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
# experiments/reference_network.py is NumPy only and shared with the peers' reference scripts.
sys.path.insert(0, os.path.join(ROOT, "experiments"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


_CACHE_ENV = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",     # small programs too
              "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}


def pytest_configure(config):
    """The session's compilation cache: made by the controlling process (before xdist starts its
    workers, which inherit the environment), applied to this process's JAX too."""
    if os.environ.get("IZHIJAX_TEST_NO_JAX_CACHE", "").strip() not in ("", "0"):
        return
    if not hasattr(config, "workerinput") and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        folder = tempfile.mkdtemp(prefix="izhijax-tests-jax-cache-")
        config._izhijax_jax_cache = folder          # removed in pytest_unconfigure
        os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
        for name, value in _CACHE_ENV.items():
            os.environ.setdefault(name, value)
    folder = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if folder:
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", 1)))
        jax.config.update("jax_persistent_cache_min_entry_size_bytes",
                          int(os.environ.get("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", 0)))


def pytest_unconfigure(config):
    folder = getattr(config, "_izhijax_jax_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", dest="run_all",
                     help="also run the tests marked slow (same as -m 'slow or not slow')")


def _select_all(config):
    return (config.getoption("run_all") or config.option.markexpr or config.option.keyword
            or any("::" in arg for arg in config.args))


def pytest_report_header(config):
    if not _select_all(config):
        return "fast selection: tests marked slow are deselected (run everything with --all)"


# Files whose slow tests are the longest (forced-device subprocesses, the README's shard block).
_HEAVIEST = ("test_shard.py", "test_readme.py", "test_gpu_plan.py", "test_gradients.py")


def _start_order(item):
    """Slow tests first (the heaviest files' before the others): with ``-n auto`` the longest
    tests start early and the short ones fill in at the end."""
    if not item.get_closest_marker("slow"):
        return 2
    return 0 if item.path.name in _HEAVIEST else 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``-n``: xdist's work-stealing scheduler instead of its default ``load`` one. ``load``
    hands each worker a block of consecutive tests and never takes them back, so one worker
    ended the run alone with the forced-device tests of ``test_shard.py`` queued behind each
    other (a run summed 2621 s of tests on 2 workers yet took 1698 s); a worker that runs out
    of tests now takes half of another's queue."""
    if config.getoption("dist") == "load":
        from xdist.scheduler import WorkStealingScheduling
        return WorkStealingScheduling(config, log)
    return None


def pytest_collection_modifyitems(config, items):
    if _select_all(config):
        items.sort(key=_start_order)        # stable: the file order within each group
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
