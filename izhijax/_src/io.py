"""Save and load runs exactly: parameters, state, PRNG key and recording in one ``.npz`` file.

Everything comes back bit for bit, with its dtype: every array of :class:`izhijax.Params` and its
static :class:`izhijax.Config`, the :class:`izhijax.State` (resume a run from it), the key (typed keys
as their key data and implementation name) and the :class:`izhijax.Recording` (the raster as the
indices of its spikes; batched recordings of a sweep work too). A SHA-256 checksum over every stored array, besides the zip format's own CRCs, detects a truncated or
corrupted file; files are written to a temporary name and renamed, so a crash while saving never leaves
a half-written file under the final name. A file that is not an izhijax run, is damaged, or comes from
another format version is refused with a ``ValueError`` that says which.
"""

import dataclasses
import hashlib
import json
import os
import zipfile
from typing import NamedTuple, Optional

import jax
import numpy as np

from .network import Config, Params, State, _ARRAY_FIELDS
from .simulate import Recording

FORMAT = "izhijax-run"
FORMAT_VERSION = 2
_REC_FIELDS = ("v", "u", "counts", "pop_counts", "v_index", "u_index", "t0")
_STATE_FIELDS = ("v", "u", "pulse", "t")


class Checkpoint(NamedTuple):
    """What a file held; parts that were not saved are ``None``.

    Attributes:
        recording: :class:`izhijax.Recording` (NumPy arrays).
        params: :class:`izhijax.Params` (NumPy arrays, the saved dtypes).
        state: :class:`izhijax.State` to resume from (NumPy arrays).
        key: the PRNG key, as saved (typed or raw ``uint32[2]``).
        info: the JSON-able ``dict`` given to :func:`save` as ``info``.
    """

    recording: Optional[Recording]
    params: Optional[Params]
    state: Optional[State]
    key: Optional[jax.Array]
    info: Optional[dict] = None


def save(path, *, recording=None, params=None, state=None, key=None, info=None):
    """Write any of a recording, parameters, state and key to one ``.npz`` file, exactly.

    Args:
        path: file name; ``.npz`` is appended if missing.
        recording: :class:`izhijax.Recording`.
        params: :class:`izhijax.Params`.
        state: :class:`izhijax.State`.
        key: PRNG key (``jax.random.key(seed)`` or a raw ``uint32[2]`` key).
        info: optional JSON-able ``dict`` of anything else (settings of the run).

    Returns:
        The file name written.
    """
    path = os.fspath(path)
    path = path if path.endswith(".npz") else path + ".npz"
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "info": info}
    arrays = {}
    if recording is not None:
        rec = recording
        arrays.update({"rec_" + f: np.asarray(getattr(rec, f)) for f in _REC_FIELDS})
        meta["recording"] = {"dt": rec.dt, "n_exc": rec.n_exc, "spikes": None,
                             "diverged_at": rec.diverged_at is not None}
        if rec.diverged_at is not None:
            arrays["rec_diverged_at"] = np.asarray(rec.diverged_at)
        if rec.spikes is not None:
            raster = np.asarray(rec.spikes)
            arrays["rec_spike_index"] = np.stack(np.nonzero(raster)).astype(np.int64)  # (ndim, k)
            meta["recording"]["spikes"] = {"shape": list(raster.shape), "dtype": raster.dtype.str}
    if params is not None:
        arrays.update({"params_" + f: np.asarray(getattr(params, f)) for f in _ARRAY_FIELDS
                       if f != "weights"})
        meta["weights"] = _put_weights(arrays, params.weights)
        meta["config"] = dataclasses.asdict(params.config)
    if state is not None:
        arrays.update({"state_" + f: np.asarray(getattr(state, f)) for f in _STATE_FIELDS})
    if key is not None:
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            arrays["key_data"] = np.asarray(jax.random.key_data(key))
            meta["key_impl"] = str(jax.random.key_impl(key))
        else:
            arrays["key_data"] = np.asarray(key)
            meta["key_impl"] = None
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    arrays["checksum"] = np.array(_checksum(arrays))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load(path):
    """Read a file written by :func:`save` (or a folder by :func:`izhijax.simulate_to_disk`).

    Returns:
        :class:`Checkpoint` ``(recording, params, state, key)``.

    Raises:
        ValueError: the file is not an izhijax run, is truncated or corrupt (checksum), or has
            another format version.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        from .longrun import load_chunks
        return load_chunks(path)
    arrays = _read(path)
    meta = json.loads(str(arrays["meta"]))
    recording = params = state = key = None
    if "recording" in meta:
        m = meta["recording"]
        spikes = None
        if m["spikes"] is not None:
            spikes = np.zeros(m["spikes"]["shape"], np.dtype(m["spikes"]["dtype"]))
            spikes[tuple(arrays["rec_spike_index"])] = True
        recording = Recording(spikes=spikes, dt=m["dt"], n_exc=m["n_exc"],
                              diverged_at=arrays["rec_diverged_at"] if m["diverged_at"] else None,
                              **{f: arrays["rec_" + f] for f in _REC_FIELDS})
    if "config" in meta:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
        try:
            config = Config(**fields)
        except TypeError as err:
            raise ValueError(f"{path} was written by another izhijax (its Config has fields "
                             f"{sorted(fields)}): {err}") from None
        fields = {f: arrays["params_" + f] for f in _ARRAY_FIELDS if f != "weights"}
        params = Params(config=config, weights=_get_weights(arrays, meta["weights"]), **fields)
    if "state_v" in arrays:
        state = State(**{f: arrays["state_" + f] for f in _STATE_FIELDS})
    if "key_data" in arrays:
        data = arrays["key_data"]
        key = (jax.random.wrap_key_data(data, impl=meta["key_impl"]) if meta["key_impl"]
               else jax.numpy.asarray(data))
    return Checkpoint(recording, params, state, key, meta["info"])


def save_run(path, rec, params=None, *, state=None, key=None):
    """Write a recording and optionally the parameters, final state and key that made it.

    Shorthand for :func:`save`; returns the file name written.
    """
    return save(path, recording=rec, params=params, state=state, key=key)


def load_run(path):
    """Read a file written by :func:`save_run`: ``(recording, params)`` (``params`` may be None).

    See :func:`load` for the state and key, and for the errors raised.
    """
    saved = load(path)
    return saved.recording, saved.params


def _put_weights(arrays, weights, name="params_weights"):
    """Store dense weights as one array, a connectivity dataclass field by field (a dataclass
    inside one, as :class:`~izhijax.connectivity.PreScaled` holds, likewise); return its meta."""
    if isinstance(weights, (jax.Array, np.ndarray)):
        arrays[name] = np.asarray(weights)
        return None
    if not dataclasses.is_dataclass(weights) or not type(weights).__module__.startswith("izhijax"):
        raise TypeError(f"cannot save weights of type {type(weights).__name__}: expected an array "
                        f"or an izhijax.connectivity format")
    static, nested = {}, {}
    for field in dataclasses.fields(weights):
        value = getattr(weights, field.name)
        if isinstance(value, (jax.Array, np.ndarray)):
            arrays[f"{name}.{field.name}"] = np.asarray(value)
        elif dataclasses.is_dataclass(value):
            nested[field.name] = _put_weights(arrays, value, f"{name}.{field.name}")
        else:
            static[field.name] = value
    return {"module": type(weights).__module__, "class": type(weights).__name__,
            "static": static, "nested": nested}


def _get_weights(arrays, meta, name="params_weights"):
    if meta is None:
        return arrays[name]
    import importlib
    cls = getattr(importlib.import_module(meta["module"]), meta["class"], None)
    if cls is None or not meta["module"].startswith("izhijax"):
        raise ValueError(f"weights of format {meta['module']}.{meta['class']} are not known to "
                         f"this izhijax")
    fields = {k[len(name) + 1:]: v for k, v in arrays.items()
              if k.startswith(name + ".") and "." not in k[len(name) + 1:]}
    fields.update({k: tuple(v) if isinstance(v, list) else v for k, v in meta["static"].items()})
    fields.update({k: _get_weights(arrays, sub, f"{name}.{k}")
                   for k, sub in meta.get("nested", {}).items()})
    return cls(**fields)


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
