"""Start-up of the ``izhijax`` command and the lazy package: ``--help`` loads no JAX.

``import izhijax`` imports nothing of ``izhijax._src`` but ``izhijax._src.determinism`` (a few lines
of ``os.environ``, no JAX; PEP 562 ``__getattr__``); the first use of a public name imports its
module. The command imports JAX only when a subcommand runs, and turns on
JAX's persistent compilation cache then (``IZHIJAX_NO_CACHE=1`` turns it off; tests/conftest.py sets
it, so the other tests write no cache).
"""

import os
import subprocess
import sys

import pytest

import izhijax as izj

EXE = os.path.join(os.path.dirname(sys.executable), "izhijax")

NO_JAX = """
import sys
{code}
loaded = sorted(m for m in sys.modules if m == "jax" or m.startswith(("jax.", "jaxlib", "izhijax._src.")))
loaded = [m for m in loaded if m != "izhijax._src.determinism"]
assert loaded in ([], ["izhijax._src.cli"]), loaded
print("no jax")
"""


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", NO_JAX.format(code=code)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def test_import_izhijax_loads_no_jax():
    r = _python("import izhijax; assert izhijax.__version__ and 'summary' in dir(izhijax)")
    assert r.returncode == 0 and "no jax" in r.stdout, r.stderr


@pytest.mark.parametrize("argv", [["--help"], ["fig3", "--help"], ["patterns", "--help"],
                                  ["sweep", "--help"], ["fit", "--help"], ["fig3", "--seed", "x"],
                                  ["nosuchcommand"]])
def test_help_and_bad_flags_load_no_jax(argv):
    code = (f"import izhijax.cli\ntry:\n    izhijax.cli.main({argv!r})\n"
            f"except SystemExit as e:\n    assert e.code in (0, 2), e.code")
    r = _python(code)
    assert r.returncode == 0 and "no jax" in r.stdout, r.stderr


def test_console_script_help_imports_no_jax():
    """The installed ``izhijax`` script itself, with Python's import log (``-X importtime``)."""
    for argv in (["--help"], ["fig3", "--help"]):
        r = subprocess.run([EXE, *argv], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
        assert r.returncode == 0 and "usage: izhijax" in r.stdout, r.stderr
        modules = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
                   if line.startswith("import time:")]
        assert "izhijax._src.cli" in modules and "argparse" in modules
        assert not [m for m in modules if m == "jax" or m.startswith(("jax.", "jaxlib"))]


def test_variants_written_out_in_the_cli_are_the_models():
    from izhijax._src import cli, models
    assert cli.VARIANTS == models.VARIANTS


def test_lazy_names_are_the_implementation():
    """Every public name resolves to its _src object; __all__, dir and import * agree."""
    import importlib
    assert len(izj.__all__) == len(set(izj.__all__))
    assert set(izj.__all__) <= set(dir(izj))
    for name in izj.__all__:
        value = getattr(izj, name)
        module = izj._LAZY[name]
        if name in izj._NAMESPACES:
            assert value is importlib.import_module("izhijax." + name)
        else:
            assert value is getattr(importlib.import_module(module, "izhijax"), name)
    namespace = {}
    exec("from izhijax import *", namespace)
    assert set(izj.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no attribute 'nosuchname'"):
        izj.nosuchname      # noqa: B018


def test_cache_dir_and_opt_out(monkeypatch, tmp_path):
    from izhijax._src import cli
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for off in ("1", "yes", "true"):
        monkeypatch.setenv("IZHIJAX_NO_CACHE", off)
        assert cli.cache_dir() is None
    for on in ("", "0"):
        monkeypatch.setenv("IZHIJAX_NO_CACHE", on)
        assert cli.cache_dir() == str(tmp_path / "izhijax" / "jax")
    monkeypatch.delenv("IZHIJAX_NO_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cli.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "izhijax", "jax")


@pytest.mark.slow
def test_fig3_fills_the_persistent_cache_and_prints_its_time_split(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("IZHIJAX_NO_CACHE",
                                                            "JAX_COMPILATION_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    r = subprocess.run([EXE, "fig3", "--duration", "20", "--out", str(tmp_path / "f.png")],
                       capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(persistent cache on)" in r.stdout
    assert len(os.listdir(tmp_path / "cache" / "izhijax" / "jax")) > 0
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("time"))
    for part in ("python", "import", "build", "compile", "run", "summary", "plot"):
        assert f" {part} " in line, line


# --- XLA's deterministic GPU scatters, asked for at import (izhijax._src.determinism) -----------

FLAGS = """
import os, warnings
warnings.simplefilter("error")
{before}
import izhijax
print(repr(os.environ.get("XLA_FLAGS")))
"""


def _flags(before="", **env):
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "IZHIJAX_GPU_DETERMINISTIC")}
    r = subprocess.run([sys.executable, "-c", FLAGS.format(before=before)], capture_output=True,
                       text=True, timeout=120, env={**base, **env})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_asks_xla_for_deterministic_gpu_scatters():
    assert _flags() == repr("--xla_gpu_deterministic_ops=true")
    # the user's flags are kept, the flag appended; JAX then starts with both
    out = _flags("", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert out == repr("--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true")
    code = "import jax; print(len(jax.devices()))"
    r = subprocess.run([sys.executable, "-c", "import izhijax\n" + code], capture_output=True,
                       text=True, timeout=120,
                       env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr


def test_deterministic_flag_is_the_users_choice_where_named_or_switched_off():
    assert _flags("", XLA_FLAGS="--xla_gpu_deterministic_ops=false") == repr(
        "--xla_gpu_deterministic_ops=false")
    assert _flags("", IZHIJAX_GPU_DETERMINISTIC="0") == "None"


def test_too_late_once_jax_runs_left_alone_and_silent_on_cpu():
    # JAX's backend started first: XLA_FLAGS is read already, so it is left as it was (on a GPU
    # a warning says runs are not reproducible; here, on CPU, nothing to say: the filter above
    # turns any warning into an error)
    assert _flags("import jax; jax.numpy.ones(1)") == "None"
