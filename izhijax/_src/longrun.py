"""Long runs written to disk chunk by chunk: a crash loses at most the chunk in flight.

:func:`simulate_to_disk` runs :func:`izhijax.simulate` one chunk at a time and writes each chunk's
recording and final state to its own file in a folder (atomically, see :mod:`izhijax.io`). Called
again on the same folder it checks that the network (its layout, models, delays and every array),
key, start state, inputs and settings are the ones the folder was started with, skips the chunks
already written and resumes from the last saved state; the noise of step ``t`` depends on
``(key, t)`` alone, so the finished run is bit for bit the run that was never interrupted.
:func:`load_chunks` (or :func:`izhijax.load` on the folder) reads it back as one
:class:`izhijax.Recording`.

Folder layout: ``run.npz`` (network, key, start state, settings and the run's identity
``run_id``, a random UUID) and ``chunk_000000.npz``, ... (the recording of each chunk, the state
after it, and ``info = {"run_id", "header_sha256", "chunk", "start", "length"}``). Every chunk is
bound to its run: to the header's ``run_id`` and checksum, to its index and to the steps it covers
(its recording's ``t0``, its state's step ``t``); a chunk of another run (even one with the same
chunking), out of place, or a gap in the chunks is refused, naming the file. A folder with chunks
but no header is refused too (its network, key and settings are unknown): the header is never
written over existing chunks.
"""

import hashlib
import os
import re
import uuid
from functools import partial

import jax
import numpy as np

from .io import Checkpoint, _load_file, _short, save
from .inputs import Function, Input
from .simulate import (Recording, _check_divergence, _check_on_divergence, _input_chunk,
                       _prepare, simulate)
from .validate import check_n_steps

HEADER = "run.npz"
_SETTINGS = ("n_steps", "chunk_size", "record_spikes", "record_v", "record_u", "inputs_sha256")
"""The settings a run folder's header holds in its ``info`` (with ``run_id``)."""
_CHUNK = re.compile(r"chunk_([0-9]{6,})\.npz")


def _chunk_file(path, i):
    return os.path.join(path, f"chunk_{i:06d}.npz")


def simulate_to_disk(params, key, n_steps, path, *, chunk_size, state=None, inputs=None,
                     record_v=(0,), record_u=(), record_spikes=True, on_divergence="warn",
                     mesh=None):
    """Run ``n_steps`` steps in chunks, saving each chunk to the folder ``path``; resume if started.

    Args:
        params, key, n_steps, state, inputs, record_v, record_u, record_spikes: as for
            :func:`izhijax.simulate`.
        path: folder to write (created if missing). If it holds a run started with the same
            arguments, the chunks already there are kept and the run continues after them.
        chunk_size: steps per chunk (and per file): at most this much work is lost in a crash.
        on_divergence: ``"warn"``, ``"raise"`` or ``"ignore"`` as for :func:`izhijax.simulate`;
            a run that diverges stops after saving the chunk in which it did.
        mesh: run each chunk with its neurons split over the devices of this mesh
            (:func:`izhijax.shard.simulate`: a ``jax.sharding.Mesh``, a sequence of devices, or
            ``"all"`` for every device of every process). The sharded run is the one-device run
            bit for bit, so the files are the same either way and a run may be resumed with or
            without a mesh. Default None: one device.

    Returns:
        ``(final_state, recording)`` as :func:`izhijax.simulate` returns them (NumPy arrays, read
        back from the folder).

    Raises:
        ValueError: bad arguments, or ``path`` holds a different run (the message says what
            differs), chunks without their header ``run.npz``, or a chunk that is damaged,
            missing, out of place or from another run (the message names the file).
    """
    key, state, inputs, v_index, u_index = _prepare(params, key, n_steps, state, inputs,
                                                    record_v, record_u)
    n_steps, chunk_size = int(n_steps), check_n_steps(chunk_size, "chunk_size")
    _check_on_divergence(on_divergence)
    if mesh is None:
        run = simulate
    else:
        from . import shard
        shard._check_supported(params)
        if isinstance(mesh, str) and mesh != "all":
            raise ValueError(f"mesh must be a jax.sharding.Mesh, a sequence of devices or 'all', "
                             f"got {mesh!r}")
        run = partial(shard.simulate, mesh=None if isinstance(mesh, str) else mesh)
    settings = {"n_steps": n_steps, "chunk_size": chunk_size, "record_spikes": bool(record_spikes),
                "record_v": np.asarray(v_index).tolist(), "record_u": np.asarray(u_index).tolist(),
                "inputs_sha256": _inputs_hash(inputs)}
    os.makedirs(path, exist_ok=True)
    header = os.path.join(path, HEADER)
    found = _read_header(path)
    if found is None:
        save(header, params=params, state=state, key=key,
             info={**settings, "run_id": uuid.uuid4().hex})
        found = _read_header(path)
    else:
        _same_run(header, found[0], params, key, state, settings)
    head, checksum, files = found
    run_id = head.info["run_id"]

    last = None
    for last in _chunks(head, checksum, files):      # every chunk there checked before resuming
        pass
    if last is not None:
        state = last.state
    for i in range(len(files), -(-n_steps // chunk_size)):
        if last is not None and last.recording.diverged:
            break
        start = i * chunk_size
        length = min(chunk_size, n_steps - start)
        state, rec = run(params, key, length, state=state, record_v=v_index,
                         record_u=u_index, record_spikes=record_spikes,
                         inputs=_input_chunk(inputs, start, length), on_divergence="ignore")
        save(_chunk_file(path, i), recording=rec, state=state,
             info={"run_id": run_id, "header_sha256": checksum, "chunk": i, "start": start,
                   "length": length})
        last = Checkpoint(rec, None, state, None)
    saved = load_chunks(path)
    _check_divergence(saved.recording.diverged_at, on_divergence, params)
    return saved.state, saved.recording


def _chunk_files(path):
    """The chunk files of a run folder, in order; a missing chunk before others is refused."""
    found = {}
    if os.path.isdir(path):
        for name in os.listdir(path):
            match = _CHUNK.fullmatch(name)
            if match and name == os.path.basename(_chunk_file(path, int(match.group(1)))):
                found[int(match.group(1))] = name
    gaps = sorted(set(range(len(found))) - set(found))
    if gaps:
        raise ValueError(f"{_chunk_file(path, gaps[0])} is missing but later chunks exist (up to "
                         f"{found[max(found)]}): the run folder is damaged; use another folder")
    return [os.path.join(path, found[i]) for i in range(len(found))]


def _read_header(path):
    """``(header, checksum, chunk files)`` of a run folder, or None for a folder without a run.

    A folder with chunks but no header is refused: they cannot be told from another run's.
    """
    header, files = os.path.join(path, HEADER), _chunk_files(path)
    if not os.path.exists(header):
        if files:
            names = ", ".join(os.path.basename(f) for f in files[:3])
            raise ValueError(f"{path} holds chunks of a run whose header {HEADER} is missing "
                             f"({names}{', ...' if len(files) > 3 else ''}): its network, key "
                             f"and settings are unknown, so the chunks can be neither read nor "
                             f"resumed; use another folder")
        return None
    head, checksum = _load_file(header)
    info = head.info
    if (not isinstance(info, dict) or any(k not in info for k in _SETTINGS)
            or head.params is None or head.state is None or head.key is None):
        raise ValueError(f"{header} is not the header of an izhijax.simulate_to_disk run (it "
                         f"lacks the network, start state, key or settings)")
    return head, checksum, files


def _chunks(head, checksum, files):
    """The chunks of a run folder, each loaded and checked against the run (a generator)."""
    info = head.info
    run_id, n_steps, chunk_size = info.get("run_id"), info["n_steps"], info["chunk_size"]
    start = 0
    for i, file in enumerate(files):
        chunk, _ = _load_file(file)
        start += _check_chunk(file, chunk, i, start, run_id, checksum, n_steps, chunk_size)
        yield chunk


def _check_chunk(file, chunk, i, start, run_id, checksum, n_steps, chunk_size):
    """Refuse a chunk that is not chunk ``i`` of this run, starting at step ``start``; return its
    length. A header without ``run_id`` (older izhijax) has chunks without identity."""
    if start >= n_steps:
        raise ValueError(f"{file} lies past the end of its run ({n_steps} steps in chunks of "
                         f"{chunk_size}); it is not a chunk of this run")
    length = min(chunk_size, n_steps - start)
    said = chunk.info
    if run_id is None:
        if said is not None:
            raise ValueError(f"{file} is bound to a run ({_short(said)}), but the header of its "
                             f"folder has no run_id: it is not a chunk of this run")
    else:
        if not isinstance(said, dict) or said.get("run_id") != run_id \
                or said.get("header_sha256") != checksum:
            got = said.get("run_id") if isinstance(said, dict) else None
            raise ValueError(f"{file} is a chunk of another run (run_id {str(got)[:64]}; this "
                             f"folder's run is {run_id} with header checksum {checksum[:12]}...); "
                             f"use the right folder, or remove it and the chunks after it to "
                             f"recompute them")
        expected = {"chunk": i, "start": start, "length": length}
        got = {k: said.get(k) for k in expected}
        if any(type(got[k]) is not int or got[k] != v for k, v in expected.items()):
            raise ValueError(f"{file} is chunk {got['chunk']} of its run, starting at step "
                             f"{got['start']} with {got['length']} steps; expected chunk {i} "
                             f"at step {start} with {length} steps (where chunk {i - 1} ended)")
    if chunk.recording is None or chunk.state is None:
        raise ValueError(f"{file} holds no recording or no state: it is not a chunk of a run")
    try:
        t0, t = int(chunk.recording.t0), int(chunk.state.t)
        steps = chunk.recording.n_steps
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{file}: its recording's t0 and state's t must be step indices, got "
                         f"{_short(chunk.recording.t0)} and {_short(chunk.state.t)}") from None
    if (t0, steps, t) != (start, length, start + length):
        raise ValueError(f"{file}: its recording covers steps {t0} to {t0 + steps} and its state "
                         f"is at step {t}; expected steps {start} to {start + length} and the "
                         f"state at step {start + length}")
    return length


def _inputs_hash(inputs):
    """What identifies a run's inputs in its folder's header: the array's bytes, or the input
    object's description and arrays."""
    if inputs is None:
        return None
    if isinstance(inputs, Input):
        if isinstance(inputs, Function):
            raise ValueError("simulate_to_disk cannot bind a plain function input to its run "
                             "folder (a resumed run could not tell it apart from another); use "
                             "an izhijax.inputs.Input such as RandomNeuron or Events")
        h = hashlib.sha256(repr((type(inputs).__name__, jax.tree_util.tree_structure(inputs)))
                           .encode())
        for leaf in jax.tree_util.tree_leaves(inputs):
            h.update(np.ascontiguousarray(leaf).tobytes())
        return h.hexdigest()
    return hashlib.sha256(np.ascontiguousarray(inputs).tobytes()).hexdigest()


def load_chunks(path):
    """Read a folder written by :func:`simulate_to_disk` as one run.

    Returns:
        :class:`izhijax.io.Checkpoint`: the chunks' recordings joined into one
        :class:`izhijax.Recording` (``None`` if no chunk was written yet), the parameters and key,
        the state after the last chunk, and the run's settings (and ``run_id``) as ``info``.

    Raises:
        ValueError: the folder has no ``run.npz`` (the message says so if it holds chunks), or a
            chunk is damaged, missing, out of order or from another run (the message names it).
    """
    found = _read_header(path)
    if found is None:
        raise ValueError(f"{path} is not an izhijax run folder (no {HEADER})")
    head, checksum, files = found
    chunks = list(_chunks(head, checksum, files))
    if not chunks:
        return head
    recording = concatenate([c.recording for c in chunks])
    return Checkpoint(recording, head.params, chunks[-1].state, head.key, head.info)


def concatenate(recordings):
    """Join consecutive recordings of one run (as chunks or resumed runs give them) into one.

    Args:
        recordings: :class:`izhijax.Recording` objects in time order; each must start where the
            previous one ended (``t0``) and record the same neurons.

    Returns:
        One :class:`izhijax.Recording` (NumPy arrays): rasters, traces and population counts joined
        along time, spike counts summed, ``diverged_at`` the first divergence of any.
    """
    first = recordings[0]
    for k, (prev, rec) in enumerate(zip(recordings, recordings[1:]), 1):
        if int(rec.t0) != int(prev.t0) + prev.n_steps:
            raise ValueError(f"recording {k} starts at step {int(rec.t0)}, expected "
                             f"{int(prev.t0) + prev.n_steps} (where recording {k - 1} ended)")
        for name in ("v_index", "u_index"):
            if not np.array_equal(getattr(rec, name), getattr(first, name)):
                raise ValueError(f"recording {k} has {name} {np.asarray(getattr(rec, name))}, "
                                 f"expected {np.asarray(getattr(first, name))}")
        if (rec.dt, rec.populations, rec.spikes is None) != (first.dt, first.populations,
                                                             first.spikes is None):
            raise ValueError(f"recording {k} has dt={rec.dt}, populations={rec.populations}, "
                             f"raster {rec.spikes is not None}; expected dt={first.dt}, "
                             f"populations={first.populations}, raster "
                             f"{first.spikes is not None}")
    cat = lambda name: np.concatenate([np.asarray(getattr(r, name)) for r in recordings])
    bad = [int(r.diverged_at) for r in recordings
           if r.diverged_at is not None and int(r.diverged_at) >= 0]
    return Recording(spikes=None if first.spikes is None else cat("spikes"), v=cat("v"),
                     u=cat("u"), counts=sum(np.asarray(r.counts) for r in recordings),
                     pop_counts=cat("pop_counts"), v_index=np.asarray(first.v_index),
                     u_index=np.asarray(first.u_index), t0=np.asarray(first.t0), dt=first.dt,
                     populations=first.populations,
                     diverged_at=np.int32(bad[0] if bad else -1))


def _same_run(header, saved, params, key, state, settings):
    """Refuse to resume into a folder started with another network, key, state or settings.

    Compared: the settings, the config, the network's layout (population names, models and
    fields; projection names, sources, targets, delays and weight formats), then every array of
    the key, the network and the start state, bit for bit with its dtype. The message names what
    differs (``params.population('exc').bias``, ``params.weights.w``, ``state.v``...).
    """
    if "run_id" not in saved.info:
        raise ValueError(f"{header} was written by an older izhijax, whose chunks are not bound "
                         f"to their run: read it with izhijax.load_chunks, and use another "
                         f"folder to run it again")
    if {k: v for k, v in saved.info.items() if k != "run_id"} != settings:
        diff = sorted(k for k in settings if saved.info.get(k) != settings[k])
        raise ValueError(f"{header} holds a run with other settings ({', '.join(diff)}): "
                         f"{ {k: saved.info.get(k) for k in diff} } != "
                         f"{ {k: settings[k] for k in diff} }; use another folder")
    if saved.params.config != params.config:
        raise ValueError(f"{header} holds a run with config {saved.params.config}, "
                         f"got {params.config}")
    for what, old, new in (("populations", *(_populations(p) for p in (saved.params, params))),
                           ("projections", *(_projections(p) for p in (saved.params, params)))):
        if old != new:
            raise ValueError(f"{header} holds a run with other {what}: {old} != {new}; use "
                             f"another folder")
    old_state, new_state = _state_leaves(saved.state), _state_leaves(state)
    if [n for n, _ in old_state] != [n for n, _ in new_state]:
        raise ValueError(f"{header} holds a run whose start state has the variables "
                         f"{[n for n, _ in old_state]}, got {[n for n, _ in new_state]}; use "
                         f"another folder")
    pairs = [("key", _key_bits(saved.key), _key_bits(key))]
    pairs += [(n, x, y) for (n, x), (_, y) in zip(_network_leaves(saved.params),
                                                  _network_leaves(params), strict=True)]
    pairs += [(n, x, y) for (n, x), (_, y) in zip(old_state, new_state)]
    differ = []
    for name, old, new in pairs:
        old, new = np.asarray(old), np.asarray(new)
        if old.dtype != new.dtype or old.shape != new.shape or not np.array_equal(old, new):
            differ.append((name, old, new))
    if differ:
        name, old, new = differ[0]
        names = ", ".join(n for n, _, _ in differ[:6])
        names += f" and {len(differ) - 6} more" if len(differ) > 6 else ""
        same_kind = (old.dtype, old.shape) == (new.dtype, new.shape)
        raise ValueError(f"{header} holds a run with another {names} (saved {old.dtype}"
                         f"{list(old.shape)}, got {new.dtype}{list(new.shape)}"
                         f"{', values differ' if same_kind else ''}); use another folder")


def _populations(net):
    return [(p.name, p.model, sorted(p.params), sorted(p.initial)) for p in net.populations]


def _projections(net):
    return [(p.name, tuple(p.source), tuple(p.target), p.delay,
             jax.tree_util.tree_structure(p.weights), p.plasticity) for p in net.projections]


def _network_leaves(net, name="params"):
    """``(name, array)`` of every array of a network, named as the validation messages name
    them, in an order that depends on the layout alone (:func:`_populations`,
    :func:`_projections`)."""
    out = []
    for p in net.populations:
        where = f"{name}.population({p.name!r})" if len(net.populations) > 1 else name
        out += [(f"{where}.noise_amp", p.noise_amp), (f"{where}.bias", p.bias)]
        out += [(f"{where}.{k}", p.params[k]) for k in sorted(p.params)]
        out += [(f"{where}.{k}0", p.initial[k]) for k in sorted(p.initial)]
    names = [proj.name for proj in net.projections]
    for i, proj in enumerate(net.projections):
        where = (f"{name}.weights" if len(names) == 1 else
                 f"{name}.projection({proj.name!r}).weights" if names.count(proj.name) == 1 else
                 f"{name}.projections[{i}].weights")
        out += [(where + jax.tree_util.keystr(path), x)
                for path, x in jax.tree_util.tree_leaves_with_path(proj.weights)]
    return out


def _state_leaves(state, name="state"):
    out = []
    for k, blk in enumerate(state.neurons):
        out += [(f"{name}.{var}" if len(state.neurons) == 1 else f"{name}.neurons[{k}][{var!r}]",
                 blk[var]) for var in sorted(blk)]
    out += [(f"{name}.pulse", state.pulse), (f"{name}.t", state.t)]
    for k, syn in enumerate(state.synapses):
        out += [(f"{name}.synapses[{k}]{jax.tree_util.keystr(path)}", x)
                for path, x in jax.tree_util.tree_leaves_with_path(syn)]
    return out


def _key_bits(key):
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key
