"""Save and load a run (recording and parameters) as a NumPy ``.npz`` file."""

import dataclasses
import json

import numpy as np

from .connectivity import EventDense, Sparse
from .network import Config, Params
from .simulate import Recording

_FIELDS = ("a", "b", "c", "d", "weights", "noise_amp", "bias", "v0", "u0")

FORMAT = "izhijax-run"
FORMAT_VERSION = 1


def save_run(path, rec, params=None):
    """Write a recording (and optionally the parameters that made it) to ``path`` (.npz).

    The raster is stored sparsely as ``spike_step`` / ``spike_neuron`` index arrays.

    Args:
        path: file name; NumPy appends ``.npz`` if missing.
        rec: :class:`izhijax.Recording`.
        params: optional :class:`izhijax.Params`, stored with its static config as JSON.
    """
    arrays = {
        "format": np.array(FORMAT), "format_version": np.array(FORMAT_VERSION),
        "v": np.asarray(rec.v), "u": np.asarray(rec.u), "counts": np.asarray(rec.counts),
        "pop_counts": np.asarray(rec.pop_counts), "v_index": np.asarray(rec.v_index),
        "u_index": np.asarray(rec.u_index), "t0": np.asarray(rec.t0),
        "dt": np.array(rec.dt), "n_exc": np.array(rec.n_exc),
        "has_spikes": np.array(rec.spikes is not None),
    }
    if rec.spikes is not None:
        step, neuron = np.nonzero(np.asarray(rec.spikes))
        arrays.update(spike_step=step.astype(np.int32), spike_neuron=neuron.astype(np.int32),
                      n_steps=np.array(rec.n_steps))
    if params is not None:
        for name in _FIELDS:
            if name != "weights":
                arrays["params_" + name] = np.asarray(getattr(params, name))
        arrays.update(_weights_arrays(params.weights))
        arrays["params_config"] = np.array(json.dumps(dataclasses.asdict(params.config)))
    np.savez_compressed(path, **arrays)


def load_run(path):
    """Read a file written by :func:`save_run`.

    Returns:
        ``(recording, params)``; ``params`` is ``None`` if none was saved.

    Raises:
        ValueError: if the file is not an izhijax run of a known format version.
    """
    with np.load(path, allow_pickle=False) as f:
        if "format" not in f.files or str(f["format"]) != FORMAT:
            raise ValueError(f"{path} is not an izhijax run file")
        if int(f["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"{path} has format version {int(f['format_version'])}, "
                             f"this izhijax reads version {FORMAT_VERSION}")
        spikes = None
        if bool(f["has_spikes"]):
            spikes = np.zeros((int(f["n_steps"]), f["counts"].shape[0]), bool)
            spikes[f["spike_step"], f["spike_neuron"]] = True
        rec = Recording(spikes=spikes, v=f["v"], u=f["u"], counts=f["counts"],
                        pop_counts=f["pop_counts"], v_index=f["v_index"], u_index=f["u_index"],
                        t0=f["t0"], dt=float(f["dt"]), n_exc=int(f["n_exc"]))
        params = None
        if "params_config" in f.files:
            fields = {name: f["params_" + name] for name in _FIELDS if name != "weights"}
            fields["weights"] = _weights_from(f)
            params = Params(config=Config(**json.loads(str(f["params_config"]))), **fields)
    return rec, params


def _weights_arrays(weights):
    """The arrays that store any weight format (dense, EventDense, Sparse) in a run file."""
    if isinstance(weights, Sparse):
        return {"params_weights_format": np.array("sparse"),
                "params_weights_post": np.asarray(weights.post),
                "params_weights": np.asarray(weights.w),
                "params_weights_meta": np.array(json.dumps(
                    {"n_post": weights.n_post, "buffers": list(weights.buffers)}))}
    if isinstance(weights, EventDense):
        return {"params_weights_format": np.array("event_dense"),
                "params_weights": np.asarray(weights.w),
                "params_weights_meta": np.array(json.dumps({"buffers": list(weights.buffers)}))}
    return {"params_weights": np.asarray(weights)}


def _weights_from(f):
    fmt = str(f["params_weights_format"]) if "params_weights_format" in f.files else "dense"
    if fmt == "dense":
        return f["params_weights"]
    meta = json.loads(str(f["params_weights_meta"]))
    if fmt == "event_dense":
        return EventDense(w=f["params_weights"], buffers=tuple(meta["buffers"]))
    return Sparse(post=f["params_weights_post"], w=f["params_weights"], n_post=meta["n_post"],
                  buffers=tuple(meta["buffers"]))
