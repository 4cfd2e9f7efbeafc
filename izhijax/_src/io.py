"""Save and load runs exactly: network, state, PRNG key and recording in one ``.npz`` file.

Everything comes back bit for bit, with its dtype: every array of the :class:`izhijax.Network`
(each population's parameters, noise amplitude, bias and initial state; each projection's weights,
dense or in a registered format, :class:`~izhijax.connectivity.PreScaled` ones nested), its
structure (population names and neuron models, projection sources, targets, delays, names and
plasticity rules) and its static :class:`izhijax.Config`; the :class:`izhijax.State` (resume a run
from it; a plastic projection's learned weights and traces included); the key (typed keys as their
key data and implementation name) and the :class:`izhijax.Recording` (the raster as the indices of
its spikes; batched recordings of a sweep work too).

Dtypes: ``bool``, ``int8`` ... ``int64``, ``uint8`` ... ``uint64``, ``float16``, ``bfloat16``,
``float32`` and ``float64`` (:data:`DTYPES`). ``bfloat16`` (an ``ml_dtypes`` type NumPy's format
cannot name) is stored as its bits, ``uint16``, with its name in the metadata. :func:`save` refuses
any other dtype, naming the field; :func:`load` refuses a file holding one, naming the array.

Loading reads data only: no pickle, nothing named in a file is imported or called, and no text of
the file is compiled (the archive and each array's header are parsed by this module, not by
``np.load``). Neuron models, weight formats, plasticity rules and the config's components
(integrator, noise source, surrogate) are stored by name with their dataclass fields as JSON, and
looked up in allow-lists: :func:`models` (add one with :func:`register_model`),
:func:`izhijax.connectivity.formats` (add one with ``register_format``),
:data:`izhijax.plasticity.RULES`, :data:`izhijax.INTEGRATORS`, :data:`izhijax.NOISES` and
:data:`izhijax.SURROGATES`. A name that is not there is refused with a ``ValueError`` naming the
field.

A file loads only as what it says: what :func:`load` returns, saved again, gives the file's
metadata and arrays exactly (bit for bit); a file that :func:`save` could not have written (an
array its metadata does not describe, a field a constructor would change, a raster index that is
not sorted, a key of another kind...) is refused with a ``ValueError`` naming the field or array.

A SHA-256 checksum over every stored array, besides the zip format's own CRCs, detects a truncated
or corrupted file, and no array is allocated before its size has been checked against the size the
archive declares for it (itself bounded by the file's size and the compression's largest ratio).
Files are written to a unique temporary name in the same folder and renamed, so a crash while
saving never leaves a half-written file under the final name, and concurrent writers and readers
of one path see one whole file or another. A file that is not an izhijax run, is damaged, or comes
from another format version is refused with a ``ValueError`` that says which.

Layout (format version 4; version 3, the same without ``dtypes``, is read too): ``meta`` (JSON:
``format``, ``format_version``, ``info``, ``network``, ``state``, ``recording``, ``key_impl``,
``dtypes``), ``checksum`` and the arrays ``network.pop<i>.noise_amp``, ``.bias``, ``.param.<j>``,
``.initial.<j>``, ``network.proj<i>.weights[.<field>...]``, ``state.neurons.<k>.<j>``,
``state.pulse``, ``state.t``, ``state.synapses.<k>.<j>``, ``rec.<field>``, ``rec.spike_index``,
``key_data``; the names in order (populations, parameters, state variables) are in ``meta``, and
``dtypes`` maps the arrays stored as the bits of another dtype to its name.
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import numbers
import os
import re
import struct
import tempfile
import zipfile
import zlib
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import connectivity, delays, plasticity  # noqa: F401  (Delayed registers itself)
from . import components
from .components import INTEGRATORS, NOISES, NeuronModel, models, register_model  # noqa: F401
from .network import Config, Network, Population, Projection, State
from . import neuron, simple2007  # noqa: F401  (their models register themselves)
from .simulate import Recording
from .surrogate import SURROGATES


FORMAT = "izhijax-run"
FORMAT_VERSION = 4
READS = (3, 4)
"""Format versions :func:`load` reads (3: the same layout without ``meta["dtypes"]``)."""
_REC_FIELDS = ("v", "u", "counts", "pop_counts", "v_index", "u_index", "t0")
_COMPONENTS = {"integrator": INTEGRATORS, "noise": NOISES, "surrogate": SURROGATES}
"""Config fields holding a component object, and the registry (name -> class) it is stored by."""
_KEY_IMPLS = {"threefry2x32": (2,), "rbg": (4,), "unsafe_rbg": (4,)}
"""PRNG implementations a file may name, and the shape of their key data (uint32)."""

# --- dtypes -----------------------------------------------------------------------------------

_NATIVE = {np.dtype(t).newbyteorder("<").str: np.dtype(t).newbyteorder("<") for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64)}
"""Dtypes stored as themselves, by their little-endian code (``'<f8'``, ``'|b1'``...)."""
_BITS = {"bfloat16": (np.dtype(jnp.bfloat16), np.dtype("<u2"))}
"""Dtypes NumPy's format cannot name, by name: (dtype, the unsigned dtype of their bits)."""
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "bfloat16", "float32", "float64")
"""The dtypes a file may hold (in :func:`save`'s arrays and :func:`load`'s results)."""
_MAX_DEFLATE_RATIO = 1032
"""Deflate never expands data more than 1032:1 (RFC 1951); a member claiming more is forged."""


def _dtype_code(dtype, where):
    """How a dtype is named in a file: its little-endian code, or its name (``bfloat16``)."""
    dtype = np.dtype(dtype)
    for name, (bits_of, _) in _BITS.items():
        if dtype == bits_of:
            return name
    code = dtype.newbyteorder("<").str if dtype.kind in "biuf" else None
    if code not in _NATIVE or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(f"cannot save {where}: its dtype {dtype} is not one of {', '.join(DTYPES)}")
    return code


def _dtype_of(code, where):
    """The dtype a file names (:func:`_dtype_code`); anything else is refused."""
    if isinstance(code, str):
        if code in _NATIVE:
            return _NATIVE[code]
        if code in _BITS:
            return _BITS[code][0]
    raise ValueError(f"{where} has the dtype {code!r}, which izhijax does not store (it stores "
                     f"{', '.join(DTYPES)})")


class _Writer:
    """The arrays of a file being written, each checked: one of :data:`DTYPES`, little-endian;
    ``bfloat16`` ones as their bits, listed in ``dtypes``."""

    def __init__(self):
        self.arrays, self.dtypes = {}, {}

    def put(self, name, value, where):
        x = np.asarray(value)
        code = _dtype_code(x.dtype, where)
        if code in _BITS:
            x = x.view(_BITS[code][1])
            self.dtypes[name] = code
        elif x.dtype != _NATIVE[code]:
            x = x.astype(_NATIVE[code])          # big-endian -> little-endian, same values
        self.arrays[name] = x


class _Reader:
    """The arrays of a file being read: ``get`` returns one with its dtype, or refuses."""

    def __init__(self, arrays, dtypes):
        if not isinstance(dtypes, dict):
            raise ValueError(f"dtypes must map array names to dtype names, got {dtypes!r}")
        for name, code in dtypes.items():
            if not isinstance(code, str) or code not in _BITS:
                raise ValueError(f"dtypes[{name!r}] names the dtype {code!r}, which izhijax does "
                                 f"not store as bits (it does so for {sorted(_BITS)})")
            if name not in arrays or arrays[name].dtype != _BITS[code][1]:
                got = arrays[name].dtype if name in arrays else "missing"
                raise ValueError(f"the array {name!r} must hold the bits of its dtype {code} "
                                 f"({_BITS[code][1]}), got {got}")
        self.arrays, self.dtypes = arrays, dtypes

    def get(self, name, where):
        if name not in self.arrays or name in ("meta", "checksum"):
            raise ValueError(f"{where} is missing from the file (no array {name!r})")
        x = self.arrays[name]
        if name in self.dtypes:
            return x.view(_BITS[self.dtypes[name]][0])
        if x.dtype.str not in _NATIVE:
            raise ValueError(f"the array {name!r} ({where}) has the dtype {x.dtype}, which izhijax "
                             f"does not store (it stores {', '.join(DTYPES)})")
        return x


# --- neuron models a file may name ------------------------------------------------------------


class Checkpoint(NamedTuple):
    """What a file held; parts that were not saved are ``None``.

    Attributes:
        recording: :class:`izhijax.Recording` (NumPy arrays).
        params: :class:`izhijax.Network` (NumPy arrays, the saved dtypes).
        state: :class:`izhijax.State` to resume from (NumPy arrays).
        key: the PRNG key, as saved (typed or raw ``uint32[2]``).
        info: the JSON-able ``dict`` given to :func:`save` as ``info``.
    """

    recording: Optional[Recording]
    params: Optional[Network]
    state: Optional[State]
    key: Optional[jax.Array]
    info: Optional[dict] = None


def save(path, *, recording=None, params=None, state=None, key=None, info=None):
    """Write any of a recording, network, state and key to one ``.npz`` file, exactly.

    Every argument is checked before anything is written.

    Args:
        path: file name; ``.npz`` is appended if missing.
        recording: :class:`izhijax.Recording`.
        params: :class:`izhijax.Network`; its neuron models must be registered
            (:func:`register_model`), its weights dense arrays or registered formats, its config's
            components registered ones.
        state: :class:`izhijax.State`.
        key: one PRNG key (``jax.random.key(seed)``, a ``threefry2x32``, ``rbg`` or
            ``unsafe_rbg`` one, or a raw ``uint32[2]`` key from ``jax.random.PRNGKey``).
        info: optional ``dict`` of anything else (settings of the run): string keys; values
            ``None``, bool, int, float, str, lists (or tuples, read back as lists) and dicts of
            them.

    Every array must have one of the dtypes in :data:`DTYPES`.

    Returns:
        The file name written.

    Raises:
        TypeError, ValueError: an argument of the wrong type (``key=3``, ``params={...}``) or
            something that cannot be stored as data (an unregistered model, weight format or
            component, a model field that is not plain JSON, an array of another dtype); the
            message names the argument or field.
    """
    path = os.fspath(path)
    path = path if path.endswith(".npz") else path + ".npz"
    arrays, meta = _serialise(recording, params, state, key, info)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    arrays["checksum"] = np.array(_checksum(arrays))
    _write_atomic(path, lambda f: np.savez_compressed(f, **arrays))
    return path


def load(path):
    """Read a file written by :func:`save` (or a folder by :func:`izhijax.simulate_to_disk`).

    Returns:
        :class:`Checkpoint` ``(recording, params, state, key, info)``.

    Raises:
        ValueError: the file is not an izhijax run, is truncated or corrupt (checksum), has
            another format version, holds an array of a dtype not in :data:`DTYPES`, names a
            neuron model, weight format or component that is not registered, or is not exactly
            what :func:`save` writes for what it holds (the message names the field or array).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        from .longrun import load_chunks
        return load_chunks(path)
    return _load_file(path)[0]


def _load_file(path):
    """``(Checkpoint, checksum)`` of one file: what :func:`load` returns, and the file's SHA-256
    checksum (what identifies its contents)."""
    arrays, meta = _read(path)
    try:
        reader = _Reader(arrays, meta.get("dtypes", {}))
        saved = _parse(reader, meta)
        _check_canonical(arrays, meta, saved)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    except RecursionError:
        raise ValueError(f"{path} has malformed izhijax metadata (nested too deeply)") from None
    except (KeyError, TypeError, IndexError, AttributeError, ArithmeticError) as err:
        raise ValueError(f"{path} has malformed izhijax metadata ({type(err).__name__}: "
                         f"{_text(err)})") from None
    return saved, str(arrays["checksum"])


def save_run(path, rec, params=None, *, state=None, key=None):
    """Write a recording and optionally the network, final state and key that made it.

    Shorthand for :func:`save`; returns the file name written.
    """
    return save(path, recording=rec, params=params, state=state, key=key)


def load_run(path):
    """Read a file written by :func:`save_run`: ``(recording, params)`` (``params`` may be None).

    See :func:`load` for the state and key, and for the errors raised.
    """
    saved = load(path)
    return saved.recording, saved.params


# --- what a file holds ------------------------------------------------------------------------


def _serialise(recording, params, state, key, info):
    """``(arrays, meta)`` that :func:`save` writes (without ``meta`` and ``checksum``), every
    argument checked first."""
    if recording is not None and not isinstance(recording, Recording):
        raise TypeError(f"recording must be an izhijax.Recording, got {type(recording).__name__}")
    if params is not None and not isinstance(params, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(params).__name__}")
    if state is not None and not isinstance(state, State):
        raise TypeError(f"state must be an izhijax.State, got {type(state).__name__}")
    if key is not None:
        key = _check_key(key)
    _check_info(info)
    out = _Writer()
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "info": info}
    if recording is not None:
        meta["recording"] = _put_recording(out, recording)
    if params is not None:
        meta["network"] = _put_network(out, params)
    if state is not None:
        meta["state"] = _put_state(out, state)
    if key is not None:
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            out.put("key_data", jax.random.key_data(key), "key")
            meta["key_impl"] = str(jax.random.key_impl(key))
        else:
            out.put("key_data", key, "key")
            meta["key_impl"] = None
    meta["dtypes"] = dict(sorted(out.dtypes.items()))
    return out.arrays, meta


def _check_key(key):
    """One PRNG key :func:`save` can store (:func:`izhijax._src.validate.check_key`, and an
    implementation :func:`load` knows)."""
    from .validate import check_key
    key = check_key(key, "key")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        impl = str(jax.random.key_impl(key))
        if impl not in _KEY_IMPLS:
            raise ValueError(f"key has the PRNG implementation {impl!r}; a file can hold keys of "
                             f"{sorted(_KEY_IMPLS)}")
    return key


def _check_info(info, where="info"):
    """``info`` must be None or a dict of JSON values (string keys): what comes back from JSON."""
    if where == "info" and info is not None and not isinstance(info, dict):
        raise TypeError(f"info must be a dict (of JSON values), got {type(info).__name__}")
    try:
        _check_json(info, where)
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be saved") from None


def _check_json(value, where):
    if value is None or isinstance(value, (bool, str, float)) or type(value) is int:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has the key {k!r}; JSON keys must be strings")
            _check_json(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where} must be a JSON value (None, bool, int, float, str, list, dict), got "
                    f"{type(value).__name__} {_short(value)}")


def _parse(reader, meta):
    """The :class:`Checkpoint` a file's metadata and arrays describe (checked as far as building
    it needs; :func:`_check_canonical` checks the rest)."""
    if not isinstance(meta, dict):
        raise ValueError(f"the metadata must be a mapping, got {type(meta).__name__}")
    info = meta.get("info")
    _check_info(info)
    recording = (_get_recording(reader, meta["recording"]) if "recording" in meta else None)
    params = _get_network(reader, meta["network"]) if "network" in meta else None
    state = _get_state(reader, meta["state"]) if "state" in meta else None
    key = _get_key(reader, meta["key_impl"]) if "key_impl" in meta else None
    return Checkpoint(recording, params, state, key, info)


def _get_key(reader, impl):
    data = reader.get("key_data", "key")
    if impl is not None and (not isinstance(impl, str) or impl not in _KEY_IMPLS):
        raise ValueError(f"key_impl names the PRNG implementation {_short(impl)}, which izhijax "
                         f"does not know (known: {sorted(_KEY_IMPLS)})")
    shape = _KEY_IMPLS[impl] if impl is not None else (2,)
    if data.dtype != np.uint32 or data.shape != shape:
        raise ValueError(f"key_data must be uint32{list(shape)} for a "
                         f"{impl or 'raw'} key, got {data.dtype}{list(data.shape)}")
    return jax.random.wrap_key_data(data, impl=impl) if impl else jnp.asarray(data)


def _check_canonical(arrays, meta, saved):
    """Refuse a file that is not exactly what :func:`save` writes for what it loaded as: saved
    again, ``saved`` must give the file's metadata (numbers by value) and every array bit for
    bit, and no other array."""
    try:
        again, again_meta = _serialise(*saved)
    except (TypeError, ValueError) as err:
        raise ValueError(f"it holds what izhijax would not save ({_text(err, 300)})") from None
    said = {k: v for k, v in meta.items() if k != "format_version"}
    again_meta = {k: v for k, v in again_meta.items() if k != "format_version"}
    diff = _json_diff(said, again_meta, "meta")
    if diff:
        raise ValueError(diff)
    stored = set(arrays) - {"meta", "checksum"}
    extra = sorted(stored - set(again))
    if extra:
        raise ValueError(f"it holds the array {extra[0]!r}, which its metadata does not describe")
    missing = sorted(set(again) - stored)
    if missing:
        raise ValueError(f"the array {missing[0]!r} is missing from the file")
    for name in sorted(again):
        if not _same_bits(arrays[name], again[name]):
            raise ValueError(f"the array {name!r} does not hold what izhijax writes for what it "
                             f"loads as ({arrays[name].dtype}{list(arrays[name].shape)})")


_OPTIONAL = {"plasticity": None, "synapses": [], "dtypes": {}, "arrays": [], "static": {},
             "nested": {}}
"""Metadata a file may leave out, and the value the loader then takes (older files lack them)."""


def _json_diff(said, got, where):
    """Where the metadata a file says (``said``) and that of what it loads as (``got``) differ:
    a message naming the field, or None. Numbers compare by value (NaN equals NaN), bools are not
    numbers."""
    if isinstance(said, dict) and isinstance(got, dict):
        for k in said:
            if k not in got:
                return f"{where}.{k} is not something izhijax reads ({_short(said[k])})"
        for k in got:
            if k not in said:
                if k in _OPTIONAL and _json_diff(_OPTIONAL[k], got[k], "") is None:
                    continue
                return f"{where}.{k} is missing"
            diff = _json_diff(said[k], got[k], f"{where}.{k}")
            if diff:
                return diff
        return None
    if isinstance(said, list) and isinstance(got, list) and len(said) == len(got):
        for i, (a, b) in enumerate(zip(said, got)):
            diff = _json_diff(a, b, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if _same_json_scalar(said, got):
        return None
    return f"{where}: the file says {_short(said)}, which izhijax reads as {_short(got)}"


def _same_json_scalar(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return a == b or (math.isnan(a) and math.isnan(b))
    return (a is None and b is None) or (isinstance(a, str) and isinstance(b, str) and a == b)


def _same_bits(a, b):
    """Same dtype, shape and bytes (NaN payloads and -0.0 included)."""
    if a is b:
        return True
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    as_bytes = lambda x: np.ascontiguousarray(x).reshape(-1).view(np.uint8)
    return np.array_equal(as_bytes(a), as_bytes(b))


def _text(err, limit=160):
    """An exception's message, cut to ``limit`` characters."""
    text = str(err)
    return text if len(text) <= limit else text[:limit - 4] + " ..."


def _short(value, limit=120):
    """``repr`` of a value from a file, cut to ``limit`` characters for a message."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= limit else text[:limit - 5] + " ...]"


# --- JSON values ------------------------------------------------------------------------------


def _plain(value, where):
    """A static value as JSON: None, bool, int, float (exact: Python's repr), str, lists."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (np.ndarray, jax.Array)):
        return float(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"cannot save {where}: {type(value).__name__} {_short(value)} is not a "
                    f"number, string, bool, None or a tuple of them")


def _from_json(value):
    """JSON lists back to (hashable) tuples."""
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def _fields(obj, where):
    """The init fields of a dataclass object as JSON."""
    return {f.name: _plain(getattr(obj, f.name), f"{where}.{f.name}")
            for f in dataclasses.fields(obj) if f.init}


def _lookup(registry, name, where, what):
    """The class registered as ``name``; anything else is refused (nothing is imported)."""
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"{where} names the {what} {_short(name)}, which this izhijax does not "
                         f"know (registered: {sorted(registry)}); a file cannot name code to load")
    return registry[name]


def _construct(cls, fields, where):
    """``cls(**fields)`` for the init fields of a dataclass; other names refused."""
    if not isinstance(fields, dict):
        raise ValueError(f"{where}: fields must be a mapping, got {type(fields).__name__}")
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    for name in fields:
        if name not in known:
            raise ValueError(f"{where}.{name} is not a field of {cls.__name__} (fields: {known})")
    try:
        return cls(**fields)
    except (TypeError, ValueError, ArithmeticError, AttributeError, IndexError, KeyError) as err:
        raise ValueError(f"{where} cannot be rebuilt as {cls.__name__}: {type(err).__name__}: "
                         f"{_text(err, 300)}") from None


def _class_name(obj, registry, where, what, hint):
    """The name ``obj``'s class is registered under (the class itself, not a subclass)."""
    for name, cls in registry.items():
        if cls is type(obj):
            return name
    raise ValueError(f"cannot save {where}: {what} {type(obj).__name__} is not registered "
                     f"(registered: {sorted(registry)}); {hint}")


def _names(value, where):
    """A list of strings from the metadata."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a list of names, got {_short(value)}")
    return value


def _mapping(value, where):
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a mapping, got {_short(value)}")
    return value


# --- network ----------------------------------------------------------------------------------


def _put_network(out, net):
    if not isinstance(net, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(net).__name__}")
    pops, projs = [], []
    for i, p in enumerate(net.populations):
        where, prefix = f"params.populations[{i}]", f"network.pop{i}"
        model = p.model
        pops.append({
            "name": p.name,
            "model": {"class": _class_name(model, components._MODELS, where + ".model",
                                           "neuron model",
                                           "register it with izhijax.register_model"),
                      "fields": _fields(model, where + ".model")},
            "params": list(p.params), "initial": list(p.initial)})
        out.put(prefix + ".noise_amp", p.noise_amp, where + ".noise_amp")
        out.put(prefix + ".bias", p.bias, where + ".bias")
        for j, k in enumerate(p.params):
            out.put(f"{prefix}.param.{j}", p.params[k], f"{where}.params[{k!r}]")
        for j, k in enumerate(p.initial):
            out.put(f"{prefix}.initial.{j}", p.initial[k], f"{where}.initial[{k!r}]")
    for i, proj in enumerate(net.projections):
        where = f"params.projections[{i}]"
        projs.append({"name": _plain(proj.name, where + ".name"),
                      "source": _plain(tuple(proj.source), where + ".source"),
                      "target": _plain(tuple(proj.target), where + ".target"),
                      "delay": _plain(proj.delay, where + ".delay"),
                      "weights": _put_weights(out, proj.weights, f"network.proj{i}.weights",
                                              where + ".weights"),
                      "plasticity": _put_rule(proj.plasticity, where + ".plasticity")})
    return {"populations": pops, "projections": projs, "config": _put_config(net.config)}


def _get_network(reader, meta):
    meta = _mapping(meta, "network")
    pops, projs = [], []
    for i, pm in enumerate(_list(meta["populations"], "network.populations")):
        where, prefix = f"network.populations[{i}]", f"network.pop{i}"
        pm = _mapping(pm, where)
        name = pm["name"]
        if not isinstance(name, str):
            raise ValueError(f"{where}.name must be a string, got {_short(name)}")
        model_meta = _mapping(pm["model"], where + ".model")
        cls = _lookup(components._MODELS, model_meta.get("class"), where + ".model",
                      "neuron model")
        fields = _mapping(model_meta.get("fields"), where + ".model.fields")
        model = _construct(cls, {k: _from_json(v) for k, v in fields.items()}, where + ".model")
        params = {k: reader.get(f"{prefix}.param.{j}", f"{where}.params[{k!r}]")
                  for j, k in enumerate(_names(pm["params"], where + ".params"))}
        initial = {k: reader.get(f"{prefix}.initial.{j}", f"{where}.initial[{k!r}]")
                   for j, k in enumerate(_names(pm["initial"], where + ".initial"))}
        noise_amp = reader.get(prefix + ".noise_amp", where + ".noise_amp")
        bias = reader.get(prefix + ".bias", where + ".bias")
        pops.append(Population(name=name, model=model, params=params, noise_amp=noise_amp,
                               bias=bias, initial=initial))
    for i, pm in enumerate(_list(meta["projections"], "network.projections")):
        where = f"network.projections[{i}]"
        pm = _mapping(pm, where)
        delay = pm["delay"]
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise ValueError(f"{where}.delay must be an integer >= 1, got {_short(delay)}")
        if not isinstance(pm["name"], str):
            raise ValueError(f"{where}.name must be a string, got {_short(pm['name'])}")
        projs.append(Projection(
            source=tuple(_names(pm["source"], where + ".source")),
            target=tuple(_names(pm["target"], where + ".target")),
            weights=_get_weights(reader, pm["weights"], f"network.proj{i}.weights",
                                 where + ".weights"),
            delay=delay, name=pm["name"],
            plasticity=_get_rule(pm.get("plasticity"), where + ".plasticity")))
    return Network(populations=tuple(pops), projections=tuple(projs),
                   config=_get_config(meta["config"]))


def _list(value, where):
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list, got {_short(value)}")
    return value


def _put_rule(rule, where):
    """A plasticity rule as ``{"name", "fields"}`` (its reward source nested likewise)."""
    if rule is None:
        return None
    name = _class_name(rule, plasticity.RULES, where, "plasticity rule", "use one of izhijax's")
    fields = {}
    for f in dataclasses.fields(rule):
        if not f.init:
            continue
        value = getattr(rule, f.name)
        if f.name == "reward":
            fields[f.name] = {"name": _class_name(value, plasticity.REWARDS, where + ".reward",
                                                  "reward", "use one of izhijax's"),
                              "fields": _fields(value, where + ".reward")}
        else:
            fields[f.name] = _plain(value, f"{where}.{f.name}")
    return {"name": name, "fields": fields}


def _get_rule(meta, where):
    if meta is None:
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("fields"), dict):
        raise ValueError(f"{where} must be {{'name': ..., 'fields': {{...}}}}, got {_short(meta)}")
    cls = _lookup(plasticity.RULES, meta.get("name"), where, "plasticity rule")
    fields = {}
    for k, v in meta["fields"].items():
        if k == "reward":
            if not isinstance(v, dict) or not isinstance(v.get("fields"), dict):
                raise ValueError(f"{where}.reward must be {{'name': ..., 'fields': {{...}}}}")
            rcls = _lookup(plasticity.REWARDS, v.get("name"), where + ".reward", "reward")
            fields[k] = _construct(rcls, {a: _from_json(b) for a, b in v["fields"].items()},
                                   where + ".reward")
        else:
            fields[k] = _from_json(v)
    return _construct(cls, fields, where)


def _put_config(config):
    out = {}
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value, where = getattr(config, f.name), f"params.config.{f.name}"
        if f.name in _COMPONENTS:
            out[f.name] = {"name": _class_name(value, _COMPONENTS[f.name], where, "component",
                                               "use a registered one"),
                           "fields": _fields(value, where)}
        else:
            out[f.name] = _plain(value, where)
    return out


def _get_config(meta):
    if not isinstance(meta, dict):
        raise ValueError(f"network.config must be a mapping, got {type(meta).__name__}")
    fields = {}
    for name, value in meta.items():
        where = f"network.config.{name}"
        if name in _COMPONENTS:
            if not isinstance(value, dict) or not isinstance(value.get("fields"), dict):
                raise ValueError(f"{where} must be {{'name': ..., 'fields': {{...}}}}, "
                                 f"got {_short(value)}")
            cls = _lookup(_COMPONENTS[name], value.get("name"), where, name)
            fields[name] = _construct(cls, {k: _from_json(v) for k, v in value["fields"].items()},
                                      where)
        else:
            fields[name] = _from_json(value)
    return _construct(Config, fields, "network.config")


def _put_weights(out, weights, name, where):
    """Store dense weights as one array, a registered format field by field (a format inside one,
    as :class:`~izhijax.connectivity.PreScaled` holds, likewise); return its meta (None: dense)."""
    if isinstance(weights, (jax.Array, np.ndarray)):
        out.put(name, weights, where)
        return None
    cls = type(weights)
    if connectivity.formats().get(cls.__name__) is not cls or not dataclasses.is_dataclass(cls):
        raise TypeError(f"cannot save {where} of type {cls.__name__}: expected an array or a "
                        f"registered weight format dataclass {sorted(connectivity.formats())} "
                        f"(izhijax.connectivity.register_format)")
    meta = {"class": cls.__name__, "arrays": [], "static": {}, "nested": {}}
    for field in dataclasses.fields(weights):
        if not field.init:
            continue
        value = getattr(weights, field.name)
        sub, sub_where = f"{name}.{field.name}", f"{where}.{field.name}"
        if isinstance(value, (jax.Array, np.ndarray)):
            out.put(sub, value, sub_where)
            meta["arrays"].append(field.name)
        elif connectivity.is_format(value):
            meta["nested"][field.name] = _put_weights(out, value, sub, sub_where)
        else:
            meta["static"][field.name] = _plain(value, sub_where)
    return meta


def _get_weights(reader, meta, name, where):
    if meta is None:
        return reader.get(name, where)
    if not isinstance(meta, dict):
        raise ValueError(f"{where} must be described by a mapping, got {_short(meta)}")
    cls = _lookup(connectivity.formats(), meta.get("class"), where, "weight format")
    fields = {k: reader.get(f"{name}.{k}", f"{where}.{k}")
              for k in _names(meta.get("arrays", []), where + " arrays")}
    static, nested = meta.get("static", {}), meta.get("nested", {})
    if not isinstance(static, dict) or not isinstance(nested, dict):
        raise ValueError(f"{where}: static and nested fields must be mappings")
    fields.update({k: _from_json(v) for k, v in static.items()})
    fields.update({k: _get_weights(reader, _mapping(sub, f"{where}.{k}"), f"{name}.{k}",
                                   f"{where}.{k}")
                   for k, sub in nested.items()})
    return _construct(cls, fields, where)


# --- state and recording ----------------------------------------------------------------------


def _put_state(out, state):
    blocks = []
    for k, blk in enumerate(state.neurons):
        blocks.append(list(blk))
        for j, var in enumerate(blk):
            out.put(f"state.neurons.{k}.{j}", blk[var], f"state.neurons[{k}][{var!r}]")
    out.put("state.pulse", state.pulse, "state.pulse")
    out.put("state.t", state.t, "state.t")
    synapses = []
    for k, syn in enumerate(state.synapses):
        if syn is None:
            synapses.append(None)
            continue
        names = []
        for j, (path, leaf) in enumerate(jax.tree_util.tree_leaves_with_path(syn)):
            names.append([str(getattr(q, "key", q)) for q in path])
            out.put(f"state.synapses.{k}.{j}", leaf, f"state.synapses[{k}]"
                    f"{jax.tree_util.keystr(path)}")
        synapses.append(names)
    return {"neurons": blocks, "synapses": synapses}


def _get_state(reader, meta):
    meta = _mapping(meta, "state")
    blocks = meta["neurons"]
    if not isinstance(blocks, list):
        raise ValueError(f"state.neurons must be a list, got {_short(blocks)}")
    neurons = tuple({var: reader.get(f"state.neurons.{k}.{j}", f"state.neurons[{k}][{var!r}]")
                     for j, var in enumerate(_names(names, f"state.neurons[{k}]"))}
                    for k, names in enumerate(blocks))
    synapses = []
    listed = meta.get("synapses", [])
    if not isinstance(listed, list):
        raise ValueError(f"state.synapses must be a list, got {_short(listed)}")
    for k, names in enumerate(listed):
        if names is None:
            synapses.append(None)
            continue
        if not isinstance(names, list):
            raise ValueError(f"state.synapses[{k}] must be a list of names, got {_short(names)}")
        syn = {}
        for j, path in enumerate(names):
            path = _names(path, f"state.synapses[{k}][{j}]")
            if not path:
                raise ValueError(f"state.synapses[{k}][{j}] has an empty name")
            node = syn
            for part in path[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ValueError(f"state.synapses[{k}] names {path} twice")
            node[path[-1]] = reader.get(f"state.synapses.{k}.{j}",
                                        f"state.synapses[{k}][{'.'.join(path)!r}]")
        synapses.append(syn)
    return State(neurons=neurons, pulse=reader.get("state.pulse", "state.pulse"),
                 t=reader.get("state.t", "state.t"), synapses=tuple(synapses))


def _raster_shape(counts, pop_counts, where):
    """The shape of a recording's raster: its steps (``pop_counts``) by its neurons (``counts``)."""
    counts, pop_counts = np.shape(counts), np.shape(pop_counts)
    if len(counts) < 1 or len(pop_counts) < 2:
        raise ValueError(f"{where}: a recording with a raster has counts (..., n) and pop_counts "
                         f"(..., T, P), got shapes {counts} and {pop_counts}")
    return tuple(pop_counts[:-1]) + (counts[-1],)


def _put_recording(out, rec):
    for f in _REC_FIELDS:
        out.put("rec." + f, getattr(rec, f), "recording." + f)
    meta = {"dt": _plain(rec.dt, "recording.dt"),
            "populations": _plain(tuple(rec.populations), "recording.populations"),
            "spikes": None, "diverged_at": rec.diverged_at is not None}
    if rec.diverged_at is not None:
        out.put("rec.diverged_at", rec.diverged_at, "recording.diverged_at")
    if rec.spikes is not None:
        raster = np.asarray(rec.spikes)
        expected = _raster_shape(rec.counts, rec.pop_counts, "cannot save recording.spikes")
        if raster.shape != expected:
            raise ValueError(f"cannot save recording.spikes of shape {raster.shape}: the "
                             f"recording's pop_counts and counts make it {expected}")
        index = np.stack(np.nonzero(raster)).astype(np.int64)         # (ndim, k)
        out.put("rec.spike_index", index, "recording.spikes")
        meta["spikes"] = {"shape": list(raster.shape),
                          "dtype": _dtype_code(raster.dtype, "recording.spikes")}
    return meta


def _get_recording(reader, meta):
    meta = _mapping(meta, "recording")
    fields = {f: reader.get("rec." + f, "recording." + f) for f in _REC_FIELDS}
    spikes = None
    if meta["spikes"] is not None:
        said = _mapping(meta["spikes"], "recording.spikes")
        dtype = _dtype_of(said["dtype"], "recording.spikes")
        shape = said["shape"]
        if not isinstance(shape, list) or not all(
                type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"recording.spikes.shape must be a list of sizes, got "
                             f"{_short(shape)}")
        expected = _raster_shape(fields["counts"], fields["pop_counts"], "recording.spikes")
        if tuple(shape) != expected:
            raise ValueError(f"recording.spikes has the shape {shape}, but the recording's "
                             f"pop_counts and counts make it {list(expected)}")
        index = reader.get("rec.spike_index", "recording.spikes")
        if index.dtype.kind not in "iu" or index.shape[:1] != (len(shape),) or index.ndim != 2:
            raise ValueError(f"rec.spike_index must be integers of shape ({len(shape)}, k), got "
                             f"{index.dtype}{list(index.shape)}")
        if index.size and (index.min() < 0 or np.any(index.max(axis=1) >= np.array(shape))):
            raise ValueError(f"rec.spike_index holds an index outside the raster {shape}")
        try:
            spikes = np.zeros(tuple(shape), dtype)
        except MemoryError:
            raise ValueError(f"recording.spikes of shape {shape} does not fit in memory") from None
        spikes[tuple(index)] = True
    populations = _from_json(meta["populations"])
    if not isinstance(populations, tuple) or not all(
            isinstance(p, tuple) and len(p) == 3 and isinstance(p[0], str)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in p[1:])
            for p in populations):
        raise ValueError(f"recording.populations must be ((name, start, stop), ...), got "
                         f"{_short(meta['populations'])}")
    dt = meta["dt"]
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        raise ValueError(f"recording.dt must be a number, got {_short(dt)}")
    if not isinstance(meta["diverged_at"], bool):
        raise ValueError(f"recording.diverged_at must be true or false, got "
                         f"{_short(meta['diverged_at'])}")
    diverged = reader.get("rec.diverged_at", "recording.diverged_at") \
        if meta["diverged_at"] else None
    return Recording(spikes=spikes, dt=dt, populations=populations, diverged_at=diverged,
                     **fields)


# --- files ------------------------------------------------------------------------------------


def _checksum(arrays):
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        if name == "checksum":
            continue
        x = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{x.dtype.str}|{x.shape}|".encode())
        h.update(x.tobytes())
    return h.hexdigest()


def _umask():
    """The process's umask, read without changing it (Linux), else the usual 022."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _write_atomic(path, write, *, suffix=".tmp", by_name=False):
    """Write a file whole or not at all: ``write(f)`` fills a unique temporary file in the
    target's folder (``.<name>.<random><suffix>``), which is synced and renamed over ``path``.

    Readers of ``path`` see the old file or the new one, never part of one, also with several
    writers at once (each has its own temporary file; the last rename wins); a crash leaves at most
    the temporary file, never a partial ``path``. The file gets the permissions ``open`` gives.
    With ``by_name`` the writer gets the temporary file's name instead of an open file (for
    libraries that open files themselves, such as HDF5's).
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix,
                               dir=folder)
    try:
        if by_name:
            os.close(fd)
            write(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        else:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~_umask())     # mkstemp's 0600 -> what open() would give
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):     # the rename itself, durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class _Damaged(ValueError):
    """A file refused while reading its archive (message complete)."""


_NPY_HEADER = re.compile(r"\{'descr': '([<>|]?[A-Za-z][0-9]*)', 'fortran_order': (True|False), "
                         r"'shape': \(((?:0|[1-9][0-9]*)(?:, (?:0|[1-9][0-9]*))*,?|)\), \} *\n")
"""The header NumPy writes for an array of a plain dtype (nothing else is accepted)."""
_NPY_DESCR = re.compile(r"^\{'descr': ('[^'\n]*'|\[[^\n]*\]), 'fortran_order'")
"""The dtype of any header NumPy writes (to name a refused one)."""


def _read(path):
    """Every array of an izhijax file, as stored, and its metadata, checked: format, version,
    dtypes, sizes, checksum."""
    with open(path, "rb") as f:          # one open file: a writer may replace the path meanwhile
        if f.read(4) != b"PK\x03\x04":
            raise ValueError(f"{path} is not an izhijax run file (not an .npz archive)")
        try:
            arrays = _read_archive(path, f)
        except _Damaged:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
                NotImplementedError, RuntimeError, OverflowError, IndexError, KeyError) as err:
            raise ValueError(f"{path} is truncated or corrupt and cannot be read "
                             f"({type(err).__name__}: {_text(err)})") from None
    if "meta" not in arrays:
        if "format" in arrays and str(arrays["format"]) == FORMAT:     # version 1 kept no meta
            raise ValueError(f"{path} has izhijax format version "
                             f"{str(arrays.get('format_version'))[:40]}, this izhijax reads "
                             f"versions {' and '.join(map(str, READS))}")
        raise ValueError(f"{path} is not an izhijax run file (no izhijax metadata)")
    try:
        if arrays["meta"].dtype.kind != "U" or arrays["meta"].shape != ():
            raise ValueError("meta is not a string")
        meta = json.loads(str(arrays["meta"]))
        fmt, version = meta["format"], meta["format_version"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        raise ValueError(f"{path} is not an izhijax run file (unreadable metadata)") from None
    if fmt != FORMAT:
        raise ValueError(f"{path} is not an izhijax run file (format {_short(fmt)})")
    if isinstance(version, bool) or version not in READS:
        raise ValueError(f"{path} has izhijax format version {_short(version)}, this izhijax "
                         f"reads versions {' and '.join(map(str, READS))}")
    checksum = arrays.get("checksum")
    if (checksum is None or checksum.dtype.kind != "U" or checksum.shape != ()
            or str(checksum) != _checksum(arrays)):
        raise ValueError(f"{path} is corrupt: its checksum does not match its contents")
    return arrays, meta


def _read_archive(path, file):
    """The arrays of an ``.npz`` archive (the open binary ``file`` of ``path``), read without
    ``np.load``: each member is checked (a plain array of a stored dtype, or a string scalar;
    sizes within what the file can hold) before anything is allocated for it, and its CRC is
    verified."""
    size = os.fstat(file.fileno()).st_size
    file.seek(0)
    arrays = {}
    with zipfile.ZipFile(file) as archive:
        members = archive.infolist()
        if sum(m.compress_size for m in members) > size:
            raise _Damaged(f"{path} is truncated or corrupt (its members claim more bytes than "
                           f"the file has)")
        for member in members:
            name = member.filename
            if not name.endswith(".npy"):
                raise _Damaged(f"{path} holds {_short(name)}, which is not an array; not an "
                               f"izhijax run file")
            name = name[:-4]
            if name in arrays:
                raise _Damaged(f"{path} is corrupt: it holds the array {name!r} twice")
            arrays[name] = _read_member(path, archive, member, name)
    return arrays


def _read_member(path, archive, member, name):
    stored, deflated = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
    if member.flag_bits & 0x1 or member.compress_type not in (stored, deflated):
        raise _Damaged(f"{path} is corrupt or not izhijax's: the array {name!r} is encrypted or "
                       f"compressed with method {member.compress_type}")
    if (member.file_size != member.compress_size if member.compress_type == stored else
            member.file_size > _MAX_DEFLATE_RATIO * member.compress_size + 64):
        raise _Damaged(f"{path} is truncated or corrupt: the array {name!r} claims "
                       f"{member.file_size} bytes from {member.compress_size} stored")
    buf = bytearray(member.file_size)
    with archive.open(member) as f:
        got = f.readinto(buf)
        if got != member.file_size or f.read(1):          # reading to the end checks the CRC
            raise _Damaged(f"{path} is truncated or corrupt: the array {name!r} has another "
                           f"size than its archive entry says")
    return _parse_npy(path, name, buf)


def _parse_npy(path, name, buf):
    """The array in an ``.npy`` image (a ``bytearray``, viewed, not copied)."""
    bad = f"{path} is truncated or corrupt: the array {name!r}"
    if bytes(buf[:6]) != b"\x93NUMPY" or len(buf) < 10 or buf[6] not in (1, 2, 3) or buf[7]:
        raise _Damaged(f"{bad} is not in NumPy's format")
    if buf[6] == 1:
        start, length = 10, int.from_bytes(buf[8:10], "little")
    else:
        start, length = 12, int.from_bytes(buf[8:12], "little")
    if start + length > len(buf) or length > 65536:
        raise _Damaged(f"{bad} has a header longer than the array")
    try:
        header = bytes(buf[start:start + length]).decode("utf8" if buf[6] == 3 else "latin1")
    except UnicodeDecodeError:
        raise _Damaged(f"{bad} has an unreadable header") from None
    match = _NPY_HEADER.fullmatch(header)
    if match:
        descr = match.group(1)
        shape = tuple(int(n) for n in match.group(3).replace(",", " ").split())
    else:
        loose, shape = _NPY_DESCR.search(header), None
        descr = None if loose is None else loose.group(1).strip("'")
    if descr is not None and not (descr in _NATIVE or (
            descr.startswith("<U") and descr[2:].isdigit() and shape == ())):
        raise _Damaged(f"{path}: the array {name!r} has the dtype {descr[:80]}"
                       f"{'' if shape is None else list(shape)}, which izhijax does not store "
                       f"(it stores {', '.join(DTYPES)})")
    if match is None:
        raise _Damaged(f"{bad} has a header izhijax does not write ({_short(header.strip())})")
    fortran = match.group(2)
    dtype = _NATIVE[descr] if descr in _NATIVE else np.dtype(descr)   # a string: meta, checksum
    offset = start + length
    if math.prod(shape) * dtype.itemsize != len(buf) - offset:
        raise _Damaged(f"{bad} has {len(buf) - offset} bytes of data, its header says "
                       f"{list(shape)} x {dtype.itemsize}")
    try:
        return np.ndarray(shape, dtype, buffer=buf, offset=offset,
                          order="F" if fortran == "True" else "C")
    except (ValueError, TypeError, OverflowError) as err:
        raise _Damaged(f"{bad} cannot be an array ({_text(err)})") from None
