"""Fuzz ``izj.load``: thousands of damaged and crafted files, what the loader does with each.

Valid files (the bases): a network with dense weights; a network whose projections hold every
weight format (``EventDense``, ``Sparse``, ``PreScaled`` around a ``Sparse``, ``Delayed``); a run
(state, raw key, recording with raster, info); the Izhikevich (2006) polychronization network with
its plastic projection and ``izj.init_state`` (``izj.polychronization2006(jax.random.key(0))``);
a ``bfloat16`` network with its state. Each mutation takes one base and makes a file of it:

* damaged (the checksum is left as it was): byte flips, truncations, junk appended, zip members
  swapped or deleted, a member's sizes forged in the zip directory;
* crafted (the SHA-256 checksum is recomputed, so the file passes it): members swapped, deleted,
  duplicated or added; the metadata JSON re-written (values replaced by names of code such as
  ``"os.system"``, ``"builtins.eval"``, ``"subprocess.Popen"``, ``"izhijax._src.io.save"``, huge,
  negative or non-integer sizes, NaN, wrong dtype names, nested junk down to 100,000 levels; keys
  deleted or added), the ``dtypes`` map forged, arrays re-typed (complex, big-endian, structured,
  strings, datetimes, a pickled object whose unpickling would call ``os.system``) or re-valued
  (NaN, inf, other shapes), array headers forged (huge shapes, other dtypes, Python expressions).

``izj.load`` runs on each file under ``sys.addaudithook``: an ``import`` of a module not yet
imported, ``exec``, ``compile``, ``pickle.find_class``, starting a process (``os.system``,
``subprocess.Popen``, ``os.exec*``, ``os.spawn*``, ``os.posix_spawn``, ``os.fork``), opening a file
for writing and ``os.remove`` / ``os.rename`` / ``os.rmdir`` / ``os.mkdir`` / ``os.chmod`` /
``shutil.*`` fired during the load count as *code executed from the file* (and the dangerous ones
are blocked by the hook raising).

Outcomes, per mutation:

``refused``
    ``ValueError`` or ``TypeError`` (what the loader documents).
``refused_other``
    any other exception: a failure of the loader (must be 0).
``identical``
    loaded, and bit for bit the original (every array's bytes and dtype, the structure and static
    fields, key, info): the mutation hit nothing that matters (a zip timestamp, an unchanged value).
``as_crafted``
    crafted files only: loaded, not the original, and exactly what the file says: saving what was
    loaded again (``izj.save``) gives the same arrays (name, dtype, shape, bytes) and metadata
    (numbers by value, NaN equal to NaN, ``format_version`` aside; a key the format lets a file
    leave out counts as its documented default). A crafted file can describe another valid run;
    loading that is correct, as long as it is that run.
``silent_wrong``
    loaded, but neither the original nor (crafted) what the file says; for damaged files, loaded
    and not the original (must be 0).
``code_executed``
    a mutation during whose load an audited event above fired (must be 0).

    python experiments/fuzz_loader.py [--mutations 10000] [--seed 0] [--small]
                                      [--out experiments/out/fuzz_loader.json]
"""

import argparse
import copy
import io
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np

# --- the audit hook -----------------------------------------------------------------------------


class Blocked(BaseException):
    """Raised by the audit hook to stop a dangerous operation started during a load."""


_WATCH = {"on": False, "events": []}
_BLOCK_PREFIXES = ("os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.remove",
                   "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
                   "os.link", "os.symlink", "os.kill", "shutil.", "subprocess.", "ctypes.",
                   "socket.", "pickle.find_class", "marshal.load", "exec", "urllib.", "http.",
                   "webbrowser.")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _in_jax_cache(args):
    """Whether every path among an audit event's arguments lies in JAX's persistent compilation
    cache folder (where a load that compiles a program may write it: JAX's doing, not the file's;
    the test session sets one, and whether a program is written depends on its compile time)."""
    folder = sys.modules["jax"].config.jax_compilation_cache_dir if "jax" in sys.modules else None
    paths = [os.fspath(a) for a in args if isinstance(a, (str, bytes, os.PathLike))]
    if not folder or not paths:
        return False
    root = os.path.realpath(os.fspath(folder))
    return all(os.path.realpath(os.fsdecode(p)).startswith(root + os.sep) for p in paths)


def _hook(event, args):
    if not _WATCH["on"]:
        return
    watched = event == "open" or event.startswith(_BLOCK_PREFIXES)
    if watched and _in_jax_cache(args[:1] if event == "open" else args):
        _WATCH["events"].append(f"{event} in JAX's compilation cache")
        return
    if event == "import":
        if args[0] not in sys.modules:
            _WATCH["events"].append(f"import {args[0]}")
        return
    if event == "open":
        _, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS):
            _WATCH["events"].append(f"open for writing {str(args[0])[:80]}")
            raise Blocked(event)
        return
    if event == "compile":
        _WATCH["events"].append("compile")
        return
    if event.startswith(_BLOCK_PREFIXES):
        _WATCH["events"].append(event)
        raise Blocked(event)


def install_hook():
    """Install the audit hook (once per process; it stays, idle outside a monitored load)."""
    if not getattr(sys, "_izj_fuzz_hook", False):
        sys.addaudithook(_hook)
        sys._izj_fuzz_hook = True


def monitored_load(path):
    """``(outcome, value, events)``: ``("loaded", checkpoint)`` or ``("raised", exception)``,
    and the audited events fired during the load."""
    import izhijax as izj
    _WATCH["events"] = []
    _WATCH["on"] = True
    try:
        result = ("loaded", izj.load(path))
    except Blocked as err:
        result = ("raised", err)
    except Exception as err:           # noqa: BLE001 - every exception is classified
        result = ("raised", err)
    finally:
        _WATCH["on"] = False
    return result[0], result[1], list(_WATCH["events"])


# --- the bases ----------------------------------------------------------------------------------


def build_bases(small=False):
    """``{name: {recording, params, state, key, info}}``: the valid contents to mutate.

    ``small`` shrinks the polychronization network (100 neurons, 10 synapses each, delays up to
    5 ms) for the fast test.
    """
    import jax
    import jax.numpy as jnp

    import izhijax as izj

    f64 = jnp.float64
    bases = {}
    dense = izj.izhikevich2003(jax.random.key(0), n_exc=16, n_inh=4, dtype=f64)
    bases["dense"] = dict(params=dense, key=jax.random.key(1))

    rng = np.random.default_rng(0)
    exc = izj.population("exc", izj.Izhikevich2003(), 12, preset="RS", noise_amp=5.0, dtype=f64)
    inh = izj.population("inh", izj.Izhikevich2004(), 4, preset="FS", noise_amp=2.0, dtype=f64)
    w = lambda n_post, n_pre, s: s * rng.uniform(0, 1, (n_post, n_pre)) * (
        rng.random((n_post, n_pre)) < 0.5)
    projs = [
        izj.projection("exc", "exc", izj.connectivity.event_dense(jnp.asarray(w(12, 12, 0.5))),
                       name="event_dense"),
        izj.projection("exc", "inh", izj.wiring.from_dense(jnp.asarray(w(4, 12, 0.5))),
                       name="sparse"),
        izj.projection("inh", "exc", izj.connectivity.PreScaled(
            izj.wiring.from_dense(jnp.asarray(w(12, 4, -1.0))), jnp.linspace(0.5, 1.5, 4)),
            name="prescaled", delay=2),
        izj.projection("inh", "inh", izj.connectivity.to_delayed(w(4, 4, -0.5), 3),
                       name="delayed")]
    formats = izj.network([exc, inh], projs, izj.Config(dt=0.5, surrogate="arctan"))
    bases["formats"] = dict(params=formats)

    state, rec = izj.simulate(dense, jax.random.PRNGKey(3), 60, record_v=[0, 5], record_u=[2])
    bases["run"] = dict(recording=rec, state=state, key=jax.random.PRNGKey(3),
                        info={"note": "fuzz base", "steps": 60, "nested": {"a": [1, 2.5, None]}})

    if small:
        poly, _ = izj.polychronization2006(jax.random.key(0), n_exc=80, n_inh=20, synapses=10,
                                           max_delay=5)
    else:
        poly, _ = izj.polychronization2006(jax.random.key(0))
    bases["poly"] = dict(params=poly, state=izj.init_state(poly), key=jax.random.key(0))

    bf16 = jax.tree_util.tree_map(
        lambda x: x.astype(jnp.bfloat16) if jnp.issubdtype(x.dtype, jnp.floating) else x, dense)
    bases["bf16"] = dict(params=bf16, state=izj.init_state(bf16),
                         key=jax.random.key(2, impl="rbg"))
    return bases


class Base:
    """One valid file: its bytes, its members (name, array, ``.npy`` bytes) and metadata."""

    def __init__(self, name, content, folder):
        import izhijax as izj
        self.name, self.content = name, content
        path = izj.save(os.path.join(folder, f"base_{name}.npz"), **content)
        with open(path, "rb") as f:
            self.data = f.read()
        with np.load(path, allow_pickle=False) as f:
            self.arrays = {k: f[k] for k in f.files}
        self.npy = {k: _npy(v) for k, v in self.arrays.items()}
        self.meta = json.loads(str(self.arrays["meta"]))


def _npy(array, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def checksum(arrays):
    """The loader's SHA-256 over arrays (izhijax._src.io._checksum: crafted files pass it)."""
    from izhijax._src.io import _checksum
    return _checksum(arrays)


def zip_members(members, compress=False):
    """An ``.npz`` image of ``[(member name, bytes)]``."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", method) as z:
        warnings.simplefilter("ignore")          # duplicate names are meant
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def craft(base, arrays, meta, rng, *, reseal=True, deep=None):
    """A crafted file: ``arrays`` (name -> array, or raw ``.npy`` bytes) and ``meta`` (a dict, or
    the JSON text itself), resealed with a valid checksum. ``deep`` replaces the JSON string
    ``"__DEEP__"`` by that text (nesting too deep to build as Python objects)."""
    arrays = dict(arrays)
    if meta is not None:
        text = meta if isinstance(meta, str) else json.dumps(meta)
        if deep is not None:
            text = text.replace('"__DEEP__"', deep)
        arrays["meta"] = np.array(text)
    if reseal:
        plain = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray)
                 and not v.dtype.hasobject}
        arrays["checksum"] = np.array(checksum(plain))
    members = []
    for name, value in arrays.items():
        if isinstance(value, bytes):
            data = value
        elif name in base.arrays and value is base.arrays[name]:
            data = base.npy[name]
        else:
            data = _npy(value, allow_pickle=value.dtype.hasobject)
        members.append((name + ".npy", data))
    return zip_members(members, compress=rng.random() < 0.2)


# --- mutations ----------------------------------------------------------------------------------

CODE_NAMES = ["os.system", "builtins.eval", "subprocess.Popen", "izhijax._src.io.save",
              "__import__('os').system('true')", "posix.system", "numpy.load", "pickle.loads",
              "builtins.exec", "os.remove", "izhijax._src.io._write_atomic", "Izhikevich2003",
              "Izhikevich2004", "EventDense", "Sparse", "PreScaled", "Delayed", "STDP",
              "Izhikevich2006", "euler", "uniform", "arctan", "threefry2x32", "rbg"]
JUNK = [10 ** 12, 2 ** 63, 2 ** 64 + 1, -1, -10 ** 18, 0, 1, 2, True, False, None, 1e308, -0.0,
        float("nan"), float("inf"), float("-inf"), 0.5, [], {}, [10 ** 12, 10 ** 12], [-1, 5],
        [2 ** 40, 2 ** 40, 2 ** 40], [[[[]]]], [1.5, 2], ["a", "b"], {"class": "os.system",
                                                                     "fields": {}},
        {"name": "builtins.eval", "fields": {"x": 1}}, {"__class__": "subprocess.Popen",
                                                        "args": ["true"]},
        "object", "|O", "O", "V8", "<V2", "<c16", "complex128", "float8_e4m3fn", "bfloat16",
        "float16", "<f8", "<f4", "|b1", "<U5", "M8[ns]", "x" * 5000, "", "\u0000", "\ud800"]
PALETTE = CODE_NAMES + JUNK
ADDED_KEYS = ["module", "__reduce__", "__class__", "evil", "fields", "class", "name", "import",
              "format_version", "dtypes", "checksum"]
DTYPE_NAMES = ["bfloat16", "object", "float8_e4m3fn", "os.system", "<f8", "V2", "uint16", None, 3,
               "int4", "complex64"]


def json_paths(value, path=()):
    """Every path (tuple of keys and indices) into a JSON value, itself included."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += json_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += json_paths(v, path + (i,))
    return out


def _at(value, path):
    for p in path:
        value = value[p]
    return value


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _nearby(value, rng):
    """A value like ``value`` but different (for numbers, names, lists)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + int(_pick(rng, [1, -1, 2 ** 31, -2 ** 31, 10 ** 9]))
    if isinstance(value, float):
        return _pick(rng, [value * 2, -value, value + 1e-12, float("nan"), 0.0, 1e-320])
    if isinstance(value, str):
        return _pick(rng, [value + "x", value[:-1], value.upper(), value[::-1], "exc", "inh"])
    if isinstance(value, list):
        return value + [_pick(rng, PALETTE)] if rng.random() < 0.5 else value[:-1]
    return _pick(rng, PALETTE)


def mutate_meta(base, rng):
    """Crafted metadata: one or a few edits at random places, resealed."""
    meta = copy.deepcopy(base.meta)
    deep = None
    for _ in range(int(rng.integers(1, 4))):
        paths = json_paths(meta)
        path = _pick(rng, paths[1:]) if len(paths) > 1 else ()
        parent, last = _at(meta, path[:-1]), path[-1]
        op = rng.random()
        if op < 0.45:
            parent[last] = _pick(rng, PALETTE)
        elif op < 0.65:
            parent[last] = _nearby(parent[last], rng)
        elif op < 0.75:
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif op < 0.85:
            target = parent if isinstance(parent, dict) else meta
            target[_pick(rng, ADDED_KEYS)] = _pick(rng, PALETTE)
        elif op < 0.93 and deep is None:
            depth = int(_pick(rng, [50, 900, 2000, 100_000]))
            deep = "[" * depth + "]" * depth if rng.random() < 0.5 else \
                '{"a": ' * depth + "1" + "}" * depth
            parent[last] = "__DEEP__"
        else:
            siblings = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
            other = _pick(rng, siblings)
            parent[last], parent[other] = parent[other], parent[last]
    return craft(base, base.arrays, meta, rng, deep=deep)


def mutate_targeted_meta(base, rng):
    """Crafted metadata aimed at what a loader must not trust: class names, key implementation,
    the raster's shape and dtype, the dtypes map, the format fields, the metadata's own type."""
    meta = copy.deepcopy(base.meta)
    choice = int(rng.integers(8))
    if choice == 0 and "network" in meta:
        pops = meta["network"]["populations"]
        pop = pops[int(rng.integers(len(pops)))]
        pop["model"]["class"] = _pick(rng, CODE_NAMES)
        if rng.random() < 0.5:
            pop["model"]["module"] = _pick(rng, CODE_NAMES)
    elif choice == 1 and meta.get("network", {}).get("projections"):
        projs = meta["network"]["projections"]
        proj = projs[int(rng.integers(len(projs)))]
        if proj["weights"] is None or rng.random() < 0.3:
            proj["weights"] = {"class": _pick(rng, CODE_NAMES), "arrays": [], "static": {},
                               "nested": {}}
        else:
            proj["weights"]["class"] = _pick(rng, CODE_NAMES)
    elif choice == 2 and "network" in meta:
        comp = _pick(rng, ["integrator", "noise", "surrogate"])
        meta["network"]["config"][comp] = {"name": _pick(rng, CODE_NAMES),
                                           "fields": {"cmd": "true"}}
    elif choice == 3 and "key_impl" in meta:
        meta["key_impl"] = _pick(rng, CODE_NAMES + [3, None, ["threefry2x32"]])
    elif choice == 4 and meta.get("recording", {}).get("spikes"):
        spikes = meta["recording"]["spikes"]
        if rng.random() < 0.5:
            spikes["shape"] = _pick(rng, [[10 ** 12, 10 ** 12], [-1, 20], [2 ** 62, 2], [0, 0],
                                          [60, 20, 1], [60.0, 20], ["60", 20], [True, 20],
                                          [60, 21], [61, 20], [10 ** 400]])
        else:
            spikes["dtype"] = _pick(rng, DTYPE_NAMES)
    elif choice == 5:
        names = [k for k in base.arrays if k not in ("meta", "checksum")]
        dtypes = dict(meta.get("dtypes", {}))
        for _ in range(int(rng.integers(1, 3))):
            dtypes[_pick(rng, names + ["meta", "checksum", "nonexistent"])] = \
                _pick(rng, DTYPE_NAMES)
        meta["dtypes"] = dtypes if rng.random() < 0.9 else _pick(rng, [[], "bfloat16", None, 3])
    elif choice == 6:
        field = _pick(rng, ["format", "format_version", "info"])
        meta[field] = _pick(rng, PALETTE + [3, 4, "izhijax-run", 4.0])
    else:
        text = _pick(rng, ["[]", "3", '"izhijax-run"', "null", json.dumps(meta)[:-1],
                           json.dumps(meta) + "junk", "{" * 5000, "\x00" + json.dumps(meta),
                           json.dumps(meta).replace("izhijax-run", "izhijax-rum")])
        return craft(base, base.arrays, text, rng)
    return craft(base, base.arrays, meta, rng)


class Evil:
    """Unpickling this calls ``os.system`` (the audit hook would block it; nothing may unpickle)."""

    def __reduce__(self):
        return (os.system, ("echo unpickled-code-ran",))


def _retyped(x, rng):
    """``x`` as another dtype, or an array of an unsafe kind."""
    kind = int(rng.integers(12))
    if kind == 0:
        return x.astype(np.complex128)
    if kind == 1:
        return x.astype(x.dtype.newbyteorder(">")) if x.dtype.itemsize > 1 else x.astype(">f8")
    if kind == 2:
        return np.zeros(x.shape, [("a", "<f8"), ("b", "<i4")])
    if kind == 3:
        return np.array(["x"] * max(x.size, 1)).reshape(x.shape if x.size else (1,))
    if kind == 4:
        return np.zeros(x.shape, "M8[ns]")
    if kind == 5:
        out = np.empty(max(x.size, 1), object)
        out[:] = [Evil() for _ in range(out.size)]
        return out
    if kind == 6:
        return np.zeros(x.shape, "V8")
    if kind == 7:
        return np.array(str(x.tolist())[:100])
    natives = [np.float16, np.float32, np.float64, np.int32, np.int64, np.uint16, np.int8,
               np.bool_]
    return x.astype(_pick(rng, natives))


def _revalued(x, rng):
    """``x`` with other values or another shape (same dtype)."""
    kind = int(rng.integers(6))
    if kind == 0 and x.dtype.kind == "f" and x.size:
        y = x.copy()
        y.reshape(-1)[int(rng.integers(y.size))] = _pick(rng, [np.nan, np.inf, -np.inf, 1e300,
                                                              -0.0])
        return y
    if kind == 1 and x.size:
        y = x.copy()
        raw = y.reshape(-1).view(np.uint8)
        raw[int(rng.integers(raw.size))] ^= np.uint8(int(rng.integers(1, 256)))
        return y
    if kind == 2:
        return x.reshape(-1)
    if kind == 3:
        return np.concatenate([x.reshape(-1), x.reshape(-1)[:1]]) if x.size else x.reshape(1, 0)
    if kind == 4:
        return x[..., :0] if x.ndim else x.reshape(1)
    return np.zeros((), x.dtype) if x.ndim else np.zeros((3,), x.dtype)


def _forged_header(x, rng):
    """``.npy`` bytes whose header lies (or holds an expression) over ``x``'s data."""
    data = np.ascontiguousarray(x).tobytes()
    descr = x.dtype.str
    header = _pick(rng, [
        "{'descr': '%s', 'fortran_order': False, 'shape': (1000000000000,), }" % descr,
        "{'descr': '%s', 'fortran_order': False, 'shape': (4294967296, 4294967296), }" % descr,
        "{'descr': '%s', 'fortran_order': False, 'shape': (0, %d), }" % (descr, 2 ** 62),
        "{'descr': '|O', 'fortran_order': False, 'shape': (%d,), }" % max(x.size, 1),
        "{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '%s', 'fortran_order': False, 'shape': (-1,), }" % descr,
        "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '%s', 'fortran_order': True, 'shape': %r, }" % (descr, x.shape[::-1]),
        "{'descr': '%s', 'fortran_order': False, 'shape': %r, 'extra': 1, }" % (descr, x.shape),
        "{'descr': '%s', 'shape': %r, 'fortran_order': False, }" % (descr, x.shape),
    ])
    header = header.encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    version = _pick(rng, [1, 1, 2, 3])
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header + data


def mutate_arrays(base, rng):
    """Crafted arrays: swapped, deleted, duplicated, added, re-typed, re-valued, forged headers."""
    arrays = dict(base.arrays)
    names = [k for k in arrays if k not in ("meta", "checksum")]
    op = int(rng.integers(8))
    if op == 0 and len(names) > 1:
        a, b = rng.choice(len(names), 2, replace=False)
        arrays[names[a]], arrays[names[b]] = arrays[names[b]], arrays[names[a]]
    elif op == 1:
        del arrays[_pick(rng, names)]
    elif op == 2:
        name = _pick(rng, names)
        arrays[_pick(rng, ["extra", "network.pop9.bias", "rec.spikes", name + "x", "key_data",
                           "state.synapses.9.0"])] = arrays[name]
    elif op == 3:
        name = _pick(rng, names)
        arrays[name] = _retyped(arrays[name], rng)
    elif op == 4:
        name = _pick(rng, names)
        arrays[name] = _revalued(arrays[name], rng)
    elif op == 5:
        name = _pick(rng, names + ["meta", "checksum"])
        arrays[name] = _forged_header(arrays[name], rng)
    elif op == 6:
        data = craft(base, arrays, None, rng, reseal=False)      # the same members, duplicated
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [(m, z.read(m)) for m in z.namelist()]
        name = _pick(rng, names) + ".npy"
        members.append((name, _npy(_revalued(base.arrays[name[:-4]], rng))))
        return zip_members(members)
    else:
        arrays["meta"] = _pick(rng, [np.array([str(base.arrays["meta"])]), np.array(3),
                                     np.zeros(3), np.array(str(base.arrays["meta"]).encode())])
        return craft(base, arrays, None, rng)
    return craft(base, arrays, base.meta, rng)


def _forge_sizes(data, rng):
    """A stored zip whose directory claims other sizes for one member."""
    entries = [i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)]
    if not entries:
        return data
    at = _pick(rng, entries)
    out = bytearray(data)
    field = _pick(rng, [20, 24])         # compressed size, uncompressed size
    out[at + field:at + field + 4] = struct.pack("<I", int(_pick(rng, [0, 1, 2 ** 31, 2 ** 32 - 1,
                                                                      12345])))
    return bytes(out)


def mutate_bytes(base, rng):
    """Damaged files, checksum untouched: flips, truncation, junk, swaps, deletions, sizes."""
    data = base.data
    op = int(rng.integers(7))
    if op <= 1:
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            out[int(rng.integers(len(out)))] ^= int(rng.integers(1, 256))
        return bytes(out)
    if op == 2:
        return data[:int(rng.integers(len(data)))]
    if op == 3:
        return data + rng.bytes(int(rng.integers(1, 200)))
    names = [k for k in base.arrays if k not in ("meta", "checksum")]
    if op == 4 and len(names) > 1:
        a, b = rng.choice(len(names), 2, replace=False)
        arrays = dict(base.arrays)
        arrays[names[a]], arrays[names[b]] = arrays[names[b]], arrays[names[a]]
        return craft(base, arrays, None, rng, reseal=False)
    if op == 5:
        arrays = dict(base.arrays)
        del arrays[_pick(rng, names)]
        return craft(base, arrays, None, rng, reseal=False)
    return _forge_sizes(craft(base, base.arrays, None, rng, reseal=False), rng)


MUTATIONS = {"bytes": (mutate_bytes, False), "meta": (mutate_meta, True),
             "targeted_meta": (mutate_targeted_meta, True), "arrays": (mutate_arrays, True)}
"""name -> (function, crafted: the checksum is recomputed)."""


# --- the oracle ---------------------------------------------------------------------------------


def _bits(x):
    import jax
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    x = np.asarray(x)
    return x.dtype, x.shape, np.ascontiguousarray(x).tobytes()


def same_content(ck, content):
    """Whether a loaded checkpoint is bit for bit the saved content."""
    import jax
    for field in ("recording", "params", "state"):
        a, b = content.get(field), getattr(ck, field)
        if (a is None) != (b is None):
            return False
        if a is None:
            continue
        la, ta = jax.tree_util.tree_flatten(a)
        lb, tb = jax.tree_util.tree_flatten(b)
        if ta != tb or len(la) != len(lb) or any(_bits(x) != _bits(y) for x, y in zip(la, lb)):
            return False
    key, got = content.get("key"), ck.key
    if (key is None) != (got is None):
        return False
    if key is not None:
        typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        if typed != jax.dtypes.issubdtype(got.dtype, jax.dtypes.prng_key) or \
                _bits(key) != _bits(got):
            return False
        if typed and str(jax.random.key_impl(key)) != str(jax.random.key_impl(got)):
            return False
    return json_equal(json.loads(json.dumps(content.get("info"))), ck.info)


OPTIONAL = {"plasticity": None, "synapses": [], "dtypes": {}, "arrays": [], "static": {},
            "nested": {}}
"""Metadata keys the format lets a file leave out, and the default a missing one means."""


def json_equal(a, b, optional=False):
    """JSON values equal: numbers by value (NaN equals NaN; bools are not numbers). With
    ``optional``, a key of ``b`` missing from ``a`` may be one of :data:`OPTIONAL` at its
    default."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            if k in a and k in b:
                if not json_equal(a[k], b[k], optional):
                    return False
            elif not (optional and k in b and k in OPTIONAL and json_equal(OPTIONAL[k], b[k])):
                return False
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y, optional) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                          and math.isnan(b))
    return type(a) is type(b) and a == b


def as_crafted(ck, path, folder):
    """Whether a loaded checkpoint is exactly what the crafted file at ``path`` says: saved again,
    the same arrays bit for bit and the same metadata (``format_version`` aside)."""
    import izhijax as izj
    try:
        again = izj.save(os.path.join(folder, "again.npz"), recording=ck.recording,
                         params=ck.params, state=ck.state, key=ck.key, info=ck.info)
    except (TypeError, ValueError):
        return False
    files = []
    for p in (path, again):
        with np.load(p, allow_pickle=False) as f:
            files.append({k: f[k] for k in f.files})
    said, got = files
    meta_said, meta_got = (json.loads(str(x.pop("meta"))) for x in (said, got))
    for m in (meta_said, meta_got):
        m.pop("format_version", None)
    said.pop("checksum"), got.pop("checksum")
    if set(said) != set(got) or not json_equal(meta_said, meta_got, optional=True):
        return False
    return all(_bits(said[k]) == _bits(got[k]) for k in said)


# --- the run ------------------------------------------------------------------------------------


def run(n_mutations=10000, seed=0, *, small=False, bases=None, progress=False):
    """Fuzz ``izj.load`` with ``n_mutations`` mutations; return the counts (a JSON-able dict).

    Args:
        n_mutations: mutations in all (spread evenly over the bases and mutation kinds).
        seed: of the random mutations.
        small: a small polychronization network (see :func:`build_bases`).
        bases: names of the bases to use (default all).
        progress: print a line every 1000 mutations.
    """
    install_hook()
    rng = np.random.default_rng(seed)
    folder = tempfile.mkdtemp(prefix="izj_fuzz_")
    contents = build_bases(small)
    names = sorted(contents) if bases is None else list(bases)
    built = {name: Base(name, contents[name], folder) for name in names}
    target = os.path.join(folder, "mutant.npz")
    for base in built.values():                 # warm up: first loads import what they use
        with open(target, "wb") as f:
            f.write(base.data)
        outcome, value, events = monitored_load(target)
        assert outcome == "loaded" and same_content(value, base.content), (base.name, value,
                                                                           events)
        for fn, _ in MUTATIONS.values():      # and the error paths
            with open(target, "wb") as f:
                f.write(fn(base, np.random.default_rng(99)))
            monitored_load(target)
    outcomes = ("refused", "refused_other", "identical", "as_crafted", "silent_wrong")
    counts = {k: 0 for k in outcomes}
    counts["code_executed"] = 0
    by_kind = {f"{b}/{m}": {k: 0 for k in outcomes} for b in names for m in MUTATIONS}
    events, failures, messages = {}, [], {}
    t0 = time.perf_counter()
    kinds = list(MUTATIONS)
    for i in range(n_mutations):
        base = built[names[i % len(names)]]
        kind = kinds[(i // len(names)) % len(kinds)]
        fn, crafted = MUTATIONS[kind]
        data = fn(base, rng)
        with open(target, "wb") as f:
            f.write(data)
        outcome, value, fired = monitored_load(target)
        if outcome == "raised":
            if isinstance(value, (ValueError, TypeError)):
                result = "refused"
                first = str(value).replace(target, "<file>")[:70]
                messages[first] = messages.get(first, 0) + 1
            else:
                result = "refused_other"
                failures.append({"mutation": i, "base": base.name, "kind": kind,
                                 "error": f"{type(value).__name__}: {str(value)[:300]}"})
        elif same_content(value, base.content):
            result = "identical"
        elif crafted and as_crafted(value, target, folder):
            result = "as_crafted"
        else:
            result = "silent_wrong"
            failures.append({"mutation": i, "base": base.name, "kind": kind,
                             "error": "loaded, but neither the original nor what the file says"})
        counts[result] += 1
        by_kind[f"{base.name}/{kind}"][result] += 1
        if fired:
            counts["code_executed"] += 1
            for e in fired:
                events[e] = events.get(e, 0) + 1
            failures.append({"mutation": i, "base": base.name, "kind": kind,
                             "error": f"audited events during load: {fired[:5]}"})
        if progress and (i + 1) % 1000 == 0:
            print(f"  {i + 1} mutations, {time.perf_counter() - t0:.0f} s: {counts}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    return {"mutations": n_mutations, "seed": seed, "bases": names,
            "base_sizes_bytes": {n: len(b.data) for n, b in built.items()},
            "counts": counts, "by_base_and_kind": by_kind, "audited_events": events,
            "failures": sorted(failures, key=lambda f: f["error"].startswith("audited"))[:50],
            "refusal_messages_top": dict(sorted(messages.items(), key=lambda kv: -kv[1])[:40]),
            "seconds": round(time.perf_counter() - t0, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mutations", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true",
                        help="a small polychronization network (100 neurons)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "out", "fuzz_loader.json"))
    args = parser.parse_args()
    import jax
    jax.config.update("jax_enable_x64", True)
    result = run(args.mutations, args.seed, small=args.small, progress=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result["counts"]), f"in {result['seconds']} s")
    print(f"audited events: {result['audited_events']}")
    for failure in result["failures"][:10]:
        print("  FAILURE", failure)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
