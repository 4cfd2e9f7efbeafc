"""The API documentation: every public function and class has a docstring, and the site
(``docs/site``: Sphinx, autodoc + napoleon, MyST notebooks) builds offline with warnings as errors.

Build by hand: ``.venv/bin/python -m sphinx -W --keep-going -b html docs/site docs/_build/html``.
"""

import importlib
import inspect
import re
import subprocess
import sys
import types
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "site"
NAMESPACES = ["izhijax", "izhijax.sweep", "izhijax.fit", "izhijax.plot", "izhijax.patterns",
              "izhijax.features", "izhijax.connectivity", "izhijax.wiring", "izhijax.plasticity",
              "izhijax.inputs", "izhijax.polychronization", "izhijax.groups",
              "izhijax.traces", "izhijax.shard"]


def public_names():
    """``[(dotted public name, object)]`` of every name in the namespaces' ``__all__``."""
    out = []
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            out.append((f"{namespace}.{name}", getattr(module, name)))
    return out


def is_function_or_class(obj):
    # classes, functions, and wrapped functions such as ``jax.custom_jvp`` (``izhijax.spike``)
    return inspect.isclass(obj) or inspect.isroutine(obj) or (
        callable(obj) and hasattr(obj, "__wrapped__"))


def own_docstring(obj):
    """The object's own docstring; None if it has none (not inherited, not generated)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return None
    # dataclasses and NamedTuples without a docstring get "Name(field, ...)" generated
    if inspect.isclass(obj) and re.fullmatch(rf"{re.escape(obj.__name__)}\(.*\)", doc.strip(), re.S):
        return None
    return doc


def test_every_public_function_and_class_has_a_docstring():
    checked = [(name, obj) for name, obj in public_names() if is_function_or_class(obj)]
    assert len(checked) > 100, "the public API should not have shrunk this much"
    missing = sorted(name for name, obj in checked if own_docstring(obj) is None)
    assert missing == [], f"{len(missing)} public names without a docstring: {missing}"


def test_every_public_namespace_has_a_module_docstring():
    for namespace in NAMESPACES:
        assert (importlib.import_module(namespace).__doc__ or "").strip(), namespace


def test_every_namespace_has_an_api_page():
    pages = {p.stem for p in (SITE / "api").glob("*.rst")}
    for namespace in NAMESPACES:
        assert namespace.rsplit(".", 1)[-1] in pages, namespace


def _inventory(path):
    """Object names of a Sphinx ``objects.inv`` (format 2: four header lines, then zlib)."""
    data = path.read_bytes()
    for _ in range(4):
        data = data[data.index(b"\n") + 1:]
    names = set()
    for line in zlib.decompress(data).decode().splitlines():
        match = re.match(r"(.+?)\s+(\S+:\S+)\s+-?\d+\s", line)
        if match:
            names.add(match.group(1))
    return names


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    # about 20 s on 2 CPU cores (under the ~30 s above which tests are marked slow)
    pytest.importorskip("sphinx", reason="Sphinx is not installed (pip install -e \".[docs]\")")
    out = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
           "-d", str(tmp_path / "doctrees"), str(SITE), str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"docs build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    for page in ["index", "api/index", *(f"api/{n.rsplit('.', 1)[-1]}" for n in NAMESPACES)]:
        assert (out / f"{page}.html").is_file(), page
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and all((out / "notebooks" / f"{n}.html").is_file() for n in notebooks)
    # every public object is documented under one of its public names
    documented = _inventory(out / "objects.inv")
    by_object = {}
    for name, obj in public_names():
        if not isinstance(obj, types.ModuleType):
            by_object.setdefault(id(obj), []).append(name)
    undocumented = sorted(names[0] for names in by_object.values()
                          if not documented.intersection(names))
    assert undocumented == [], f"public names missing from the API pages: {undocumented}"
