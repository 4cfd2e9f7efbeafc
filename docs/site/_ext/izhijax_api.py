"""Sphinx extension: the API pages, generated at build time from the public namespaces' ``__all__``.

Each page ``api/<name>.rst`` is a stub (a title and a comment); on ``source-read`` its text is
replaced by autodoc directives for every name in the namespace's ``__all__``, so the pages follow
the code without a generation step or generated files in the tree. Rules:

- the page of a namespace ``izhijax.X`` opens with the docstring of its implementation module
  ``izhijax._src.X`` (the namespace module itself only says that it re-exports it);
- an object is documented once, under its canonical public name: ``izhijax.NAME`` when it is in
  ``izhijax.__all__``, else in the namespace whose implementation module defines it; a namespace
  that re-exports an object documented elsewhere links to it;
- the top-level page is grouped by the ``# comments`` inside ``izhijax.__all__``;
- type hints that name a private path (``izhijax._src.network.Config``) are shown under the
  public name (``izhijax.Config``), so they link to its documentation.

Nothing here fetches anything: the build is offline.
"""

import importlib
import inspect
import io
import re
import sys
import tokenize
import types

from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = "izhijax"
#: docname of each API page -> the public namespace it documents.
PAGES = {
    "api/izhijax": "izhijax",
    "api/sweep": "izhijax.sweep",
    "api/fit": "izhijax.fit",
    "api/plot": "izhijax.plot",
    "api/patterns": "izhijax.patterns",
    "api/features": "izhijax.features",
    "api/connectivity": "izhijax.connectivity",
    "api/wiring": "izhijax.wiring",
    "api/plasticity": "izhijax.plasticity",
    "api/inputs": "izhijax.inputs",
    "api/polychronization": "izhijax.polychronization",
    "api/groups": "izhijax.groups",
    "api/traces": "izhijax.traces",
    "api/shard": "izhijax.shard",
}
NAMESPACES = list(PAGES.values())


def implementation(namespace):
    """The private module whose names the public namespace re-exports (None for the top level)."""
    if namespace == ROOT:
        return None
    module = importlib.import_module(namespace)
    impl = getattr(module, "_impl", None)
    if isinstance(impl, types.ModuleType):
        return impl
    return importlib.import_module(f"{ROOT}._src.{namespace.rsplit('.', 1)[1]}")


def public(namespace):
    """``[(name, object)]`` of the namespace's ``__all__``, modules left out."""
    module = importlib.import_module(namespace)
    return [(name, getattr(module, name)) for name in module.__all__
            if not isinstance(getattr(module, name), types.ModuleType)]


def is_documentable(obj):
    """Classes and functions (also wrapped ones, e.g. ``jax.custom_jvp``): documented once."""
    return inspect.isclass(obj) or inspect.isroutine(obj) or (
        callable(obj) and hasattr(obj, "__wrapped__"))


def canonical_names():
    """``id(object) -> public dotted name`` of every public class and function."""
    names = {}
    for name, obj in public(ROOT):
        if is_documentable(obj):
            names.setdefault(id(obj), f"{ROOT}.{name}")
    for namespace in NAMESPACES[1:]:      # defined by the namespace's implementation module
        impl = implementation(namespace).__name__
        for name, obj in public(namespace):
            if is_documentable(obj) and getattr(obj, "__module__", None) == impl:
                names.setdefault(id(obj), f"{namespace}.{name}")
    for namespace in NAMESPACES[1:]:      # anything else: the first namespace that lists it
        for name, obj in public(namespace):
            if is_documentable(obj):
                names.setdefault(id(obj), f"{namespace}.{name}")
    return names


def private_paths(canonical):
    """``"izhijax._src.module.Name" -> canonical public name`` for the type-hint rewrite."""
    paths = {}
    for namespace in NAMESPACES:
        for _, obj in public(namespace):
            if is_documentable(obj) and id(obj) in canonical:
                module = getattr(obj, "__module__", "") or ""
                qualname = getattr(obj, "__qualname__", None)
                if module.startswith(f"{ROOT}._src") and qualname:
                    paths[f"{module}.{qualname}"] = canonical[id(obj)]
    return paths


def groups_of_all():
    """The top-level ``__all__`` split at its ``# comments``: ``[(title, [names])]``."""
    module = importlib.import_module(ROOT)
    try:
        source = inspect.getsource(module)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (OSError, TypeError, tokenize.TokenError):
        return [("Public names", list(module.__all__))]
    groups, inside, depth = [], False, 0
    for i, tok in enumerate(tokens):
        if not inside:
            if (tok.type == tokenize.NAME and tok.string == "__all__" and i + 2 < len(tokens)
                    and tokens[i + 1].string == "=" and tokens[i + 2].string == "["):
                inside = True
            continue
        if tok.type == tokenize.OP and tok.string in "[(":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in "])":
            depth -= 1
            if depth == 0:
                break
        elif tok.type == tokenize.COMMENT and tok.line.strip().startswith("#"):
            title = tok.string.lstrip("#").strip()
            groups.append((title[:1].upper() + title[1:], []))
        elif tok.type == tokenize.STRING:
            if not groups:
                groups.append(("Public names", []))
            groups[-1][1].append(tok.string.strip("\"'"))
    listed = [n for _, names in groups for n in names]
    if sorted(listed) != sorted(module.__all__):
        return [("Public names", list(module.__all__))]
    return groups


def data_doc(namespace, name, obj):
    """The doc comment / string of a module-level constant, from the module that assigns it."""
    candidates = [implementation(namespace)] if namespace != ROOT else []
    candidates += [m for n, m in sorted(sys.modules.items())
                   if n.startswith(f"{ROOT}._src.") and isinstance(m, types.ModuleType)]
    for module in candidates:
        if getattr(module, name, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
        except Exception:  # noqa: BLE001 - no source: no doc comment
            continue
        if ("", name) in docs:
            return list(docs[("", name)])
    return []


def data_value(obj, canonical):
    """A short, readable value for a constant (classes by their public names)."""
    if isinstance(obj, dict) and obj and all(inspect.isclass(v) and id(v) in canonical
                                             for v in obj.values()):
        items = ", ".join(f"``{k!r}``: :class:`~{canonical[id(v)]}`" for k, v in obj.items())
        return None, f"Maps names to classes: {items}."
    text = repr(obj)
    return (text if len(text) <= 120 and "\n" not in text else None), None


def rst_object(name, obj, indent=""):
    if inspect.isclass(obj):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        lines = [f"{indent}.. {kind}:: {name}", f"{indent}   :members:"]
        if obj.__bases__ != (object,):
            lines.append(f"{indent}   :show-inheritance:")
        return lines + [""]
    return [f"{indent}.. autofunction:: {name}", ""]


def rst_data(namespace, name, obj, canonical):
    value, text = data_value(obj, canonical)
    lines = [f".. py:data:: {name}"]
    if value is not None:
        lines.append(f"   :value: {value}")
    lines.append("")
    for line in data_doc(namespace, name, obj) + ([text] if text else []):
        lines.append(f"   {line}" if line else "")
    lines.append("")
    return lines


def heading(title, char):
    return [title, char * len(title), ""]


def section(title, names, namespace, objects, canonical):
    """A titled section: a summary table, then each object's documentation."""
    own = [n for n in names if not is_documentable(objects[n])
           or canonical.get(id(objects[n])) == f"{namespace}.{n}"]
    reexported = [n for n in names if n not in own]
    lines = heading(title, "-")
    documentable = [n for n in own if is_documentable(objects[n])]
    if documentable:
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {n}" for n in documentable] + [""]
    for n in own:
        obj = objects[n]
        lines += (rst_object(n, obj) if is_documentable(obj)
                  else rst_data(namespace, n, obj, canonical))
    if reexported:
        refs = ", ".join(f":py:obj:`{n} <{canonical[id(objects[n])]}>`" for n in reexported)
        lines += [f"Also importable from ``{namespace}`` (documented where they are defined): "
                  f"{refs}.", ""]
    return lines


def page(namespace):
    """The reStructuredText of one namespace's page (after its title)."""
    canonical = _canonical()[0]
    objects = dict(public(namespace))
    lines = [f".. automodule:: {namespace}", "", f".. currentmodule:: {namespace}", ""]
    if namespace == ROOT:
        module = importlib.import_module(ROOT)
        for title, names in groups_of_all():
            modules = [n for n in names if isinstance(getattr(module, n), types.ModuleType)]
            names = [n for n in names if n in objects]
            if names:
                lines += section(title, names, namespace, objects, canonical)
            if modules:
                lines += heading(title, "-") if not names else []
                lines += ["Each has its own page: " + ", ".join(
                    f":mod:`{ROOT}.{m}`" for m in modules) + ".", ""]
        return lines
    names = list(objects)
    classes = [n for n in names if inspect.isclass(objects[n])
               and not issubclass(objects[n], BaseException)]
    exceptions = [n for n in names if inspect.isclass(objects[n]) and n not in classes]
    functions = [n for n in names if is_documentable(objects[n]) and not inspect.isclass(objects[n])]
    data = [n for n in names if not is_documentable(objects[n])]
    for title, group in (("Functions", functions), ("Classes", classes),
                         ("Exceptions", exceptions), ("Constants", data)):
        if group:
            lines += section(title, group, namespace, objects, canonical)
    return lines


# -- Sphinx hooks -------------------------------------------------------------------------------

def on_source_read(app, docname, source):
    namespace = PAGES.get(docname)
    if namespace is None:
        return
    source[0] = source[0].rstrip() + "\n\n" + "\n".join(page(namespace)) + "\n"


_NOT_PARAGRAPH = re.compile(r"^(\.\. |[-*+] |\d+[.)] |#\. |:\w|>>>)")


def literal_examples(lines):
    """Module docstrings show examples as a block indented after a paragraph, without ``::``
    (``izhijax``, ``izhijax.sweep``): make such blocks literal, not block quotes."""
    out = []
    for i, line in enumerate(lines):
        if (i >= 2 and line[:1] in (" ", "\t") and line.strip() and not lines[i - 1].strip()
                and lines[i - 2].strip() and lines[i - 2][:1] not in (" ", "\t")
                and not lines[i - 2].rstrip().endswith("::")
                and not _NOT_PARAGRAPH.match(lines[i - 2])):
            out += ["::", ""]
        out.append(line)
    return out


def on_process_docstring(app, what, name, obj, options, lines):
    """A namespace's page shows its implementation module's docstring; examples are literal."""
    if what != "module":
        return
    if name in NAMESPACES[1:]:
        doc = inspect.getdoc(implementation(name)) or ""
        lines[:] = doc.splitlines() + [""]
    lines[:] = literal_examples(lines)


def on_skip_member(app, what, name, obj, skip, options):
    """Leave out a NamedTuple's field aliases: the class docstring's ``Attributes:`` has them."""
    doc = getattr(obj, "__doc__", None) or ""
    if what in ("class", "exception") and doc.startswith("Alias for field number"):
        return True
    return None


_PRIVATE = re.compile(rf"{ROOT}\._src(?:\.\w+)+")
_JAX_ARRAY = re.compile(r"\bjax(?:lib)?(?:\.jaxlib)?\._jax\.(?:Array|ArrayImpl)\b")


def _public_types(text, paths):
    if not text:
        return text
    text = _JAX_ARRAY.sub("jax.Array", text)
    return _PRIVATE.sub(lambda m: paths.get(m.group(0), m.group(0)), text)


_CACHE = {}


def _canonical():
    if not _CACHE:
        _CACHE["canonical"] = canonical_names()
        _CACHE["paths"] = private_paths(_CACHE["canonical"])
    return _CACHE["canonical"], _CACHE["paths"]


def on_process_signature(app, what, name, obj, options, signature, return_annotation):
    paths = _canonical()[1]
    return _public_types(signature, paths), _public_types(return_annotation, paths)


def on_public_types_in_docstring(app, what, name, obj, options, lines):
    """After napoleon: attribute types from annotations name the public classes too."""
    paths = _canonical()[1]
    lines[:] = [_public_types(line, paths) for line in lines]


def on_process_bases(app, name, obj, options, bases):
    """``Bases:`` names a public base class by its public name."""
    canonical = _canonical()[0]
    bases[:] = [f":py:class:`~{canonical[id(b)]}`" if id(b) in canonical else b for b in bases]


def on_env_get_outdated(app, env, added, changed, removed):
    """Regenerate the API pages on every build: ``__all__`` may change without their stubs."""
    return [d for d in PAGES if d in env.found_docs]


def setup(app):
    app.connect("source-read", on_source_read)
    app.connect("autodoc-process-docstring", on_process_docstring, priority=100)
    app.connect("autodoc-process-signature", on_process_signature)
    app.connect("autodoc-process-docstring", on_public_types_in_docstring, priority=900)
    app.connect("autodoc-process-bases", on_process_bases)
    app.connect("autodoc-skip-member", on_skip_member)
    app.connect("env-get-outdated", on_env_get_outdated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
