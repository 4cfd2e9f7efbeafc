"""Save and load runs exactly: network, state, PRNG key and recording in one ``.npz`` file.

Everything comes back bit for bit, with its dtype: every array of the :class:`izhijax.Network`
(each population's parameters, noise amplitude, bias and initial state; each projection's weights,
dense or in a registered format, :class:`~izhijax.connectivity.PreScaled` ones nested), its
structure (population names and neuron models, projection sources, targets, delays and names) and
its static :class:`izhijax.Config`; the :class:`izhijax.State` (resume a run from it); the key
(typed keys as their key data and implementation name) and the :class:`izhijax.Recording` (the
raster as the indices of its spikes; batched recordings of a sweep work too).

Loading reads data only: no pickle, and nothing named in a file is imported or called. Neuron
models, weight formats and the config's components (integrator, noise source, surrogate) are stored
by name with their dataclass fields as JSON, and looked up in allow-lists: :func:`models` (add one
with :func:`register_model`), :func:`izhijax.connectivity.formats` (add one with
``register_format``), :data:`izhijax.INTEGRATORS`, :data:`izhijax.NOISES` and
:data:`izhijax.SURROGATES`. A name that is not there is refused with a ``ValueError`` naming the
field.

A SHA-256 checksum over every stored array, besides the zip format's own CRCs, detects a truncated
or corrupted file; files are written to a unique temporary name in the same folder and renamed, so a
crash while saving never leaves a half-written file under the final name. A file that is not an
izhijax run, is damaged, or comes from another format version is refused with a ``ValueError`` that
says which.

Layout (format version 3): ``meta`` (JSON), ``checksum`` and the arrays
``network.pop<i>.noise_amp``, ``.bias``, ``.param.<j>``, ``.initial.<j>``,
``network.proj<i>.weights[.<field>...]``, ``state.neurons.<k>.<j>``, ``state.pulse``,
``state.t``, ``rec.<field>``, ``key_data``; the names in order (populations, parameters, state
variables) are in ``meta``.
"""

import contextlib
import dataclasses
import hashlib
import json
import numbers
import os
import tempfile
import zipfile
from typing import NamedTuple, Optional

import jax
import numpy as np

from . import connectivity, delays, plasticity  # noqa: F401  (Delayed registers itself)
from . import components
from .components import INTEGRATORS, NOISES, NeuronModel, models, register_model  # noqa: F401
from .network import Config, Network, Population, Projection, State
from . import neuron, simple2007  # noqa: F401  (their models register themselves)
from .simulate import Recording
from .surrogate import SURROGATES


FORMAT = "izhijax-run"
FORMAT_VERSION = 3
_REC_FIELDS = ("v", "u", "counts", "pop_counts", "v_index", "u_index", "t0")
_COMPONENTS = {"integrator": INTEGRATORS, "noise": NOISES, "surrogate": SURROGATES}
"""Config fields holding a component object, and the registry (name -> class) it is stored by."""


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

    Args:
        path: file name; ``.npz`` is appended if missing.
        recording: :class:`izhijax.Recording`.
        params: :class:`izhijax.Network`; its neuron models must be registered
            (:func:`register_model`), its weights dense arrays or registered formats, its config's
            components registered ones.
        state: :class:`izhijax.State`.
        key: PRNG key (``jax.random.key(seed)`` or a raw ``uint32[2]`` key).
        info: optional JSON-able ``dict`` of anything else (settings of the run).

    Returns:
        The file name written.

    Raises:
        TypeError, ValueError: something that cannot be stored as data (an unregistered model,
            weight format or component, a model field that is not plain JSON); the message names
            the field.
    """
    path = os.fspath(path)
    path = path if path.endswith(".npz") else path + ".npz"
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "info": info}
    arrays = {}
    if recording is not None:
        meta["recording"] = _put_recording(arrays, recording)
    if params is not None:
        meta["network"] = _put_network(arrays, params)
    if state is not None:
        meta["state"] = _put_state(arrays, state)
    if key is not None:
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            arrays["key_data"] = np.asarray(jax.random.key_data(key))
            meta["key_impl"] = str(jax.random.key_impl(key))
        else:
            arrays["key_data"] = np.asarray(key)
            meta["key_impl"] = None
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    arrays["checksum"] = np.array(_checksum(arrays))
    _write_atomic(path, arrays)
    return path


def load(path):
    """Read a file written by :func:`save` (or a folder by :func:`izhijax.simulate_to_disk`).

    Returns:
        :class:`Checkpoint` ``(recording, params, state, key, info)``.

    Raises:
        ValueError: the file is not an izhijax run, is truncated or corrupt (checksum), has
            another format version, or names a neuron model, weight format or component that is not
            registered (the message names the field).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        from .longrun import load_chunks
        return load_chunks(path)
    arrays = _read(path)
    meta = json.loads(str(arrays["meta"]))
    try:
        recording = (_get_recording(arrays, meta["recording"]) if "recording" in meta else None)
        params = _get_network(arrays, meta["network"]) if "network" in meta else None
        state = _get_state(arrays, meta["state"]) if "state" in meta else None
        key = None
        if "key_data" in arrays:
            data = arrays["key_data"]
            impl = meta["key_impl"]
            if impl is not None and not isinstance(impl, str):
                raise ValueError(f"key_impl must be a name, got {impl!r}")
            key = jax.random.wrap_key_data(data, impl=impl) if impl else jax.numpy.asarray(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        raise ValueError(f"{path} has malformed izhijax metadata ({type(err).__name__}: "
                         f"{err})") from None
    return Checkpoint(recording, params, state, key, meta["info"])


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
    raise TypeError(f"cannot save {where}: {type(value).__name__} {value!r} is not a number, "
                    f"string, bool, None or a tuple of them")


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
        raise ValueError(f"{where} names the {what} {name!r}, which this izhijax does not know "
                         f"(registered: {sorted(registry)}); a file cannot name code to load")
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
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where} cannot be rebuilt as {cls.__name__}: {err}") from None


def _class_name(obj, registry, where, what, hint):
    """The name ``obj``'s class is registered under (the class itself, not a subclass)."""
    for name, cls in registry.items():
        if cls is type(obj):
            return name
    raise ValueError(f"cannot save {where}: {what} {type(obj).__name__} is not registered "
                     f"(registered: {sorted(registry)}); {hint}")


def _array(arrays, name, where):
    if name not in arrays:
        raise ValueError(f"{where} is missing from the file (no array {name!r})")
    return arrays[name]


def _names(value, where):
    """A list of strings from the metadata."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a list of names, got {value!r}")
    return value


# --- network ----------------------------------------------------------------------------------


def _put_network(arrays, net):
    if not isinstance(net, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(net).__name__}")
    pops, projs = [], []
    for i, p in enumerate(net.populations):
        where, prefix = f"params.populations[{i}]", f"network.pop{i}"
        model = p.model
        pops.append({
            "name": p.name,
            "model": {"class": _class_name(model, components._MODELS, where + ".model", "neuron model",
                                           "register it with izhijax.register_model"),
                      "fields": _fields(model, where + ".model")},
            "params": list(p.params), "initial": list(p.initial)})
        arrays[prefix + ".noise_amp"] = np.asarray(p.noise_amp)
        arrays[prefix + ".bias"] = np.asarray(p.bias)
        for j, k in enumerate(p.params):
            arrays[f"{prefix}.param.{j}"] = np.asarray(p.params[k])
        for j, k in enumerate(p.initial):
            arrays[f"{prefix}.initial.{j}"] = np.asarray(p.initial[k])
    for i, proj in enumerate(net.projections):
        where = f"params.projections[{i}]"
        projs.append({"name": _plain(proj.name, where + ".name"),
                      "source": _plain(tuple(proj.source), where + ".source"),
                      "target": _plain(tuple(proj.target), where + ".target"),
                      "delay": _plain(proj.delay, where + ".delay"),
                      "weights": _put_weights(arrays, proj.weights, f"network.proj{i}.weights",
                                              where + ".weights"),
                      "plasticity": _put_rule(proj.plasticity, where + ".plasticity")})
    return {"populations": pops, "projections": projs, "config": _put_config(net.config)}


def _get_network(arrays, meta):
    pops, projs = [], []
    for i, pm in enumerate(meta["populations"]):
        where, prefix = f"network.populations[{i}]", f"network.pop{i}"
        name = pm["name"]
        if not isinstance(name, str):
            raise ValueError(f"{where}.name must be a string, got {name!r}")
        cls = _lookup(components._MODELS, pm["model"]["class"], where + ".model", "neuron model")
        fields = pm["model"]["fields"]
        if not isinstance(fields, dict):
            raise ValueError(f"{where}.model.fields must be a mapping, got {fields!r}")
        model = _construct(cls, {k: _from_json(v) for k, v in fields.items()}, where + ".model")
        params = {k: _array(arrays, f"{prefix}.param.{j}", f"{where}.params[{k!r}]")
                  for j, k in enumerate(_names(pm["params"], where + ".params"))}
        initial = {k: _array(arrays, f"{prefix}.initial.{j}", f"{where}.initial[{k!r}]")
                   for j, k in enumerate(_names(pm["initial"], where + ".initial"))}
        noise_amp = _array(arrays, prefix + ".noise_amp", where + ".noise_amp")
        bias = _array(arrays, prefix + ".bias", where + ".bias")
        pops.append(Population(name=name, model=model, params=params, noise_amp=noise_amp,
                               bias=bias, initial=initial))
    for i, pm in enumerate(meta["projections"]):
        where = f"network.projections[{i}]"
        delay = pm["delay"]
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise ValueError(f"{where}.delay must be an integer >= 1, got {delay!r}")
        if not isinstance(pm["name"], str):
            raise ValueError(f"{where}.name must be a string, got {pm['name']!r}")
        projs.append(Projection(
            source=tuple(_names(pm["source"], where + ".source")),
            target=tuple(_names(pm["target"], where + ".target")),
            weights=_get_weights(arrays, pm["weights"], f"network.proj{i}.weights",
                                 where + ".weights"),
            delay=delay, name=pm["name"],
            plasticity=_get_rule(pm.get("plasticity"), where + ".plasticity")))
    return Network(populations=tuple(pops), projections=tuple(projs),
                   config=_get_config(meta["config"]))


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
        raise ValueError(f"{where} must be {{'name': ..., 'fields': {{...}}}}, got {meta!r}")
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
                                 f"got {value!r}")
            cls = _lookup(_COMPONENTS[name], value.get("name"), where, name)
            fields[name] = _construct(cls, {k: _from_json(v) for k, v in value["fields"].items()},
                                      where)
        else:
            fields[name] = _from_json(value)
    return _construct(Config, fields, "network.config")


def _put_weights(arrays, weights, name, where):
    """Store dense weights as one array, a registered format field by field (a format inside one,
    as :class:`~izhijax.connectivity.PreScaled` holds, likewise); return its meta (None: dense)."""
    if isinstance(weights, (jax.Array, np.ndarray)):
        arrays[name] = np.asarray(weights)
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
            arrays[sub] = np.asarray(value)
            meta["arrays"].append(field.name)
        elif connectivity.is_format(value):
            meta["nested"][field.name] = _put_weights(arrays, value, sub, sub_where)
        else:
            meta["static"][field.name] = _plain(value, sub_where)
    return meta


def _get_weights(arrays, meta, name, where):
    if meta is None:
        return _array(arrays, name, where)
    if not isinstance(meta, dict):
        raise ValueError(f"{where} must be described by a mapping, got {meta!r}")
    cls = _lookup(connectivity.formats(), meta.get("class"), where, "weight format")
    fields = {k: _array(arrays, f"{name}.{k}", f"{where}.{k}")
              for k in _names(meta.get("arrays", []), where + " arrays")}
    static, nested = meta.get("static", {}), meta.get("nested", {})
    if not isinstance(static, dict) or not isinstance(nested, dict):
        raise ValueError(f"{where}: static and nested fields must be mappings")
    fields.update({k: _from_json(v) for k, v in static.items()})
    fields.update({k: _get_weights(arrays, sub, f"{name}.{k}", f"{where}.{k}")
                   for k, sub in nested.items()})
    return _construct(cls, fields, where)


# --- state and recording ----------------------------------------------------------------------


def _put_state(arrays, state):
    blocks = []
    for k, blk in enumerate(state.neurons):
        blocks.append(list(blk))
        for j, var in enumerate(blk):
            arrays[f"state.neurons.{k}.{j}"] = np.asarray(blk[var])
    arrays["state.pulse"] = np.asarray(state.pulse)
    arrays["state.t"] = np.asarray(state.t)
    synapses = []
    for k, syn in enumerate(state.synapses):
        if syn is None:
            synapses.append(None)
            continue
        names = []
        for j, (path, leaf) in enumerate(jax.tree_util.tree_leaves_with_path(syn)):
            names.append([str(getattr(q, "key", q)) for q in path])
            arrays[f"state.synapses.{k}.{j}"] = np.asarray(leaf)
        synapses.append(names)
    return {"neurons": blocks, "synapses": synapses}


def _get_state(arrays, meta):
    blocks = meta["neurons"]
    if not isinstance(blocks, list):
        raise ValueError(f"state.neurons must be a list, got {blocks!r}")
    neurons = tuple({var: _array(arrays, f"state.neurons.{k}.{j}", f"state.neurons[{k}][{var!r}]")
                     for j, var in enumerate(_names(names, f"state.neurons[{k}]"))}
                    for k, names in enumerate(blocks))
    synapses = []
    listed = meta.get("synapses", [])
    if not isinstance(listed, list):
        raise ValueError(f"state.synapses must be a list, got {listed!r}")
    for k, names in enumerate(listed):
        if names is None:
            synapses.append(None)
            continue
        if not isinstance(names, list):
            raise ValueError(f"state.synapses[{k}] must be a list of names, got {names!r}")
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
            node[path[-1]] = _array(arrays, f"state.synapses.{k}.{j}",
                                    f"state.synapses[{k}][{'.'.join(path)!r}]")
        synapses.append(syn)
    return State(neurons=neurons, pulse=_array(arrays, "state.pulse", "state.pulse"),
                 t=_array(arrays, "state.t", "state.t"), synapses=tuple(synapses))


def _put_recording(arrays, rec):
    arrays.update({"rec." + f: np.asarray(getattr(rec, f)) for f in _REC_FIELDS})
    meta = {"dt": _plain(rec.dt, "recording.dt"),
            "populations": _plain(tuple(rec.populations), "recording.populations"),
            "spikes": None, "diverged_at": rec.diverged_at is not None}
    if rec.diverged_at is not None:
        arrays["rec.diverged_at"] = np.asarray(rec.diverged_at)
    if rec.spikes is not None:
        raster = np.asarray(rec.spikes)
        arrays["rec.spike_index"] = np.stack(np.nonzero(raster)).astype(np.int64)  # (ndim, k)
        meta["spikes"] = {"shape": list(raster.shape), "dtype": raster.dtype.str}
    return meta


def _get_recording(arrays, meta):
    spikes = None
    if meta["spikes"] is not None:
        dtype = np.dtype(meta["spikes"]["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"recording.spikes has dtype {dtype}, expected bool or numbers")
        spikes = np.zeros(tuple(meta["spikes"]["shape"]), dtype)
        spikes[tuple(_array(arrays, "rec.spike_index", "recording.spikes"))] = True
    populations = _from_json(meta["populations"])
    if not isinstance(populations, tuple) or not all(
            isinstance(p, tuple) and len(p) == 3 and isinstance(p[0], str)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in p[1:])
            for p in populations):
        raise ValueError(f"recording.populations must be ((name, start, stop), ...), got "
                         f"{meta['populations']!r}")
    dt = meta["dt"]
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        raise ValueError(f"recording.dt must be a number, got {dt!r}")
    diverged = _array(arrays, "rec.diverged_at", "recording.diverged_at") \
        if meta["diverged_at"] else None
    return Recording(spikes=spikes, dt=dt, populations=populations, diverged_at=diverged,
                     **{f: _array(arrays, "rec." + f, "recording." + f) for f in _REC_FIELDS})


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


def _write_atomic(path, arrays):
    """Write the archive to a unique temporary file in the target's folder, sync it, rename it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
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


def _read(path):
    """Every array of an izhijax file, checked: format, version, checksum."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ValueError(f"{path} is not an izhijax run file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path} is truncated or corrupt and cannot be read ({err})") from None
    if "meta" not in arrays:
        if "format" in arrays and str(arrays["format"]) == FORMAT:     # version 1 kept no meta
            raise ValueError(f"{path} has izhijax format version {arrays['format_version']}, "
                             f"this izhijax reads version {FORMAT_VERSION}")
        raise ValueError(f"{path} is not an izhijax run file (no izhijax metadata)")
    try:
        meta = json.loads(str(arrays["meta"]))
        fmt, version = meta["format"], meta["format_version"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not an izhijax run file (unreadable metadata)") from None
    if fmt != FORMAT:
        raise ValueError(f"{path} is not an izhijax run file (format {fmt!r})")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path} has izhijax format version {version!r}, this izhijax reads "
                         f"version {FORMAT_VERSION}")
    if "checksum" not in arrays or str(arrays["checksum"]) != _checksum(arrays):
        raise ValueError(f"{path} is corrupt: its checksum does not match its contents")
    return arrays
