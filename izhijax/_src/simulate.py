"""simulate: ``lax.scan`` over :func:`izhijax.step`, with recording, chunking and a progress bar."""

import dataclasses
import math
import time
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .network import advance, init_state
from .threefry import unit_noise_block
from .validate import (check_inputs, check_key, check_n_steps, check_params, check_state,
                       is_traced)

ON_DIVERGENCE = ("warn", "raise", "ignore")
_check_key = check_key      # the name other modules (sweep) import


class DivergenceError(FloatingPointError):
    """A run's ``v`` or ``u`` became NaN or infinite (step too long, input too large)."""


class DivergenceWarning(RuntimeWarning):
    """Warned by :func:`simulate` when a run diverged and ``on_divergence="warn"``."""


@dataclasses.dataclass(frozen=True)
class Recording:
    """What a run recorded, time-major.

    Attributes:
        spikes: spikes of every neuron, bool, shape ``(T, n)`` (``None`` with ``record_spikes=False``).
            Row ``t`` holds the spikes whose threshold crossing happened in the update of step ``t``
            (Brian2's convention; net.m and PymoNNto label the same spike ``t + 1``).
        v: membrane potential of the recorded neurons after each update and before the reset
            (Brian2's ``when='after_thresholds'``), mV, shape ``(T, len(v_index))``.
        u: recovery variable of the recorded neurons, likewise, shape ``(T, len(u_index))``.
        counts: number of spikes of each neuron over the run, int32, shape ``(n,)``.
        pop_counts: spikes per step of the excitatory and the inhibitory population, int32,
            shape ``(T, 2)``; kept even when the raster is not.
        v_index, u_index: which neurons ``v`` and ``u`` hold, int32, shapes ``(k,)``.
        t0: index of the first recorded step (0 unless the run was resumed), int32 scalar.
        dt: step length in ms (static).
        n_exc: number of excitatory neurons (the first ``n_exc``), static.
        diverged_at: index (counted like ``t0``) of the first step after which some ``v`` or ``u``
            was NaN or infinite, or -1 if the run stayed finite; int32 scalar.
    """

    spikes: object
    v: jax.Array
    u: jax.Array
    counts: jax.Array
    pop_counts: jax.Array
    v_index: jax.Array
    u_index: jax.Array
    t0: jax.Array
    dt: float = 1.0
    n_exc: int = 0
    diverged_at: object = None

    @property
    def diverged(self):
        """True if some ``v`` or ``u`` became non-finite during the run (see ``diverged_at``)."""
        return self.diverged_at is not None and int(self.diverged_at) >= 0

    @property
    def n_steps(self):
        """Number of recorded steps ``T``."""
        return self.pop_counts.shape[-2]

    @property
    def duration(self):
        """Recorded time in ms."""
        return self.n_steps * self.dt

    def spike_times(self):
        """Spikes as Brian2's ``SpikeMonitor`` gives them: ``(i, t)`` NumPy arrays, t in ms.

        ``t`` is the start time of the step whose update crossed the threshold; sorted by time.
        """
        if self.spikes is None:
            raise ValueError("no raster was recorded (simulate with record_spikes=True)")
        step, i = np.nonzero(np.asarray(self.spikes))
        return i, self.times[step]

    @property
    def times(self):
        """Start time of each recorded step in ms, shape ``(T,)``."""
        return (np.asarray(self.t0) + np.arange(self.n_steps)) * self.dt


jax.tree_util.register_dataclass(
    Recording,
    data_fields=["spikes", "v", "u", "counts", "pop_counts", "v_index", "u_index", "t0",
                 "diverged_at"],
    meta_fields=["dt", "n_exc"])


def _indices(name, idx, n):
    idx = np.atleast_1d(np.asarray(idx if idx is not None else [], dtype=np.int64))
    if idx.ndim != 1:
        raise ValueError(f"{name} must be a sequence of neuron indices, got shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{name} must hold neuron indices in [0, {n}), got {idx.tolist()}")
    return jnp.asarray(idx, jnp.int32)


NOISE_BLOCK_STEPS = 50
"""Steps of noise drawn at once (one draw per block, :mod:`izhijax.threefry`; fewer for large networks)."""
NOISE_BLOCK_VALUES = 2**20
"""At most this many noise values per block (bounds the block's memory: 4 MB in float32)."""


def noise_block(n, n_steps, kind):
    """Steps per noise block for a run of ``n_steps`` steps of ``n`` neurons (1: draw every step)."""
    if kind == "none":
        return 1
    return max(1, min(NOISE_BLOCK_STEPS, NOISE_BLOCK_VALUES // max(n, 1), n_steps))


@partial(jax.jit, static_argnames=("n_steps", "record_spikes"))
def _run(params, key, state, inputs, v_index, u_index, key_index=None, *, n_steps, record_spikes):
    """The compiled loop of :func:`simulate` (one chunk).

    ``key`` is the run's typed PRNG key, or, with ``key_index`` (int32 scalar), a typed key array of
    shape ``(k,)`` of which the run uses ``key[key_index]``: the noise of all ``k`` keys is drawn
    and row ``key_index`` taken. Under ``vmap`` over ``key_index`` with ``key`` unbatched the
    ``k`` draws are done once for the whole batch (networks of a sweep sharing a trial key share
    its noise); the values are those of the single run with ``key[key_index]``.
    """
    cfg = params.config

    def draw(t, size):
        if key_index is None:
            return unit_noise_block(key, t, size, params.n, params.v0.dtype, cfg.noise)
        every = jax.vmap(lambda k: unit_noise_block(k, t, size, params.n, params.v0.dtype,
                                                    cfg.noise))(key)
        return every[key_index]

    n_exc = cfg.n_exc if cfg.n_exc is not None else params.n

    def body(carry, xs):
        state, counts, bad = carry
        i_ext, z = xs
        t = state.t
        state, s, v, u = advance(state, params, key, i_ext, z)
        fired = s > 0
        out = (fired if record_spikes else None, v[v_index], u[u_index],
               jnp.stack([jnp.sum(fired[:n_exc], dtype=jnp.int32),
                          jnp.sum(fired[n_exc:], dtype=jnp.int32)]))
        # Divergence: one O(n) reduction per step; the first bad step is kept.
        finite = jnp.all(jnp.isfinite(state.v) & jnp.isfinite(state.u))
        bad = jnp.where((bad < 0) & ~finite, t.astype(jnp.int32), bad)
        return (state, counts + fired, bad), out

    def blocks(carry, inputs, n_blocks, size):
        # The noise of steps t .. t + size - 1 in one draw (the per-step bits), then a scan over them.
        def outer(carry, i_blk):
            z = draw(carry[0].t, size)
            return jax.lax.scan(body, carry, (i_blk, z))

        if inputs is not None:
            inputs = inputs.reshape((n_blocks, size) + inputs.shape[1:])
        carry, out = jax.lax.scan(outer, carry, inputs, length=n_blocks)
        flat = lambda x: x.reshape((n_blocks * size,) + x.shape[2:])
        return carry, jax.tree_util.tree_map(flat, out)

    carry = (state, jnp.zeros(params.n, jnp.int32), jnp.int32(-1))
    size = noise_block(params.n, n_steps, cfg.noise)
    if size == 1 and (key_index is None or cfg.noise == "none"):     # noise drawn in each step
        carry, out = jax.lax.scan(body, carry, (inputs, None), length=n_steps)
    else:
        n_blocks, rest = divmod(n_steps, size)
        main = n_blocks * size
        carry, out = blocks(carry, None if inputs is None else inputs[:main], n_blocks, size)
        if rest:
            carry, tail = blocks(carry, None if inputs is None else inputs[main:], 1, rest)
            out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, tail)
    final, counts, bad = carry
    spikes, v, u, pop = out
    return final, (spikes, v, u, counts, pop, bad)


def simulate(params, key, n_steps, *, state=None, inputs=None, record_v=(0,), record_u=(),
             record_spikes=True, chunk_size=None, progress=False, on_divergence="warn"):
    """Run the network for ``n_steps`` steps: one compiled ``lax.scan`` over :func:`izhijax.step`.

    The noise is drawn ahead in blocks of steps (:func:`noise_block`; one draw per block by
    :mod:`izhijax.threefry`, the same bits as drawing it in each step), a scan over blocks around
    the scan over steps.

    Args:
        params: :class:`Params` (e.g. from :func:`izhijax.izhikevich2003`).
        key: PRNG key of the run (``jax.random.key(seed)``). The noise of step ``t`` depends on
            ``(key, t)`` alone, so chunked or resumed runs are bitwise identical to one run.
        n_steps: number of steps (each ``params.config.dt`` ms).
        state: state to start from (a previous run's final state to resume it); default
            ``init_state(params)``.
        inputs: optional external current (mV/ms) added to the update of each step, shape
            ``(n_steps, n)``, e.g. a stimulus or another simulator's noise.
        record_v, record_u: indices of the neurons whose ``v`` / ``u`` are recorded.
        record_spikes: keep the full ``(T, n)`` raster; ``False`` keeps only per-neuron counts and
            per-step population counts (for long or large runs).
        chunk_size: run in compiled chunks of this many steps (bounded memory per call, progress);
            default one chunk.
        progress: show a progress bar over chunks (implies ``chunk_size = ceil(n_steps / 50)``
            if none is given).
        on_divergence: what to do if some ``v`` or ``u`` becomes NaN or infinite (the recording's
            ``diverged_at`` holds the first bad step in every case): ``"warn"`` (default) warns a
            :class:`DivergenceWarning`; ``"raise"`` raises :class:`DivergenceError` (after the
            chunk in which it happened; inside a user's ``jit`` it is a ``checkify.check``, so wrap
            the function in ``jax.experimental.checkify.checkify``); ``"ignore"`` does neither.

    Returns:
        ``(final_state, recording)``: the :class:`State` after the last step (resume from it) and a
        :class:`Recording`.

    Raises:
        ValueError, TypeError: bad arguments (see :mod:`izhijax.validate`), before compiling.
        DivergenceError: with ``on_divergence="raise"``, if the run diverged.

    The compiled loop depends on the shapes and the static ``config`` only: new parameter values of
    the same shapes reuse it without recompiling.
    """
    key, state, inputs, v_index, u_index = _prepare(
        params, key, n_steps, state, inputs, record_v, record_u)
    n_steps = int(n_steps)
    _check_on_divergence(on_divergence)
    if progress and chunk_size is None:
        chunk_size = math.ceil(n_steps / 50)
    chunk_size = n_steps if chunk_size is None else check_n_steps(chunk_size, "chunk_size")

    t0 = state.t
    starts = range(0, n_steps, chunk_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="simulate", unit="chunk", total=len(starts))
    pieces = []
    for start in starts:
        length = min(chunk_size, n_steps - start)
        chunk = None if inputs is None else inputs[start:start + length]
        state, out = _run(params, key, state, chunk, v_index, u_index,
                          n_steps=length, record_spikes=record_spikes)
        pieces.append(out)
        if on_divergence == "raise" and start + length < n_steps:
            _check_divergence(out[-1], "raise", params)
    out = pieces[0] if len(pieces) == 1 else _join(pieces)
    rec = _recording(params, out, v_index, u_index, t0)
    _check_divergence(rec.diverged_at, on_divergence, params)
    return state, rec


def compile_simulation(params, key, n_steps, *, state=None, inputs=None, record_v=(0,),
                       record_u=(), record_spikes=True, on_divergence="warn"):
    """Compile one :func:`simulate` call ahead of time, to time compilation apart from running.

    Takes the arguments of :func:`simulate` (one chunk, no progress bar).

    Returns:
        ``(run, compile_seconds)``: ``run()`` executes the compiled loop and returns
        ``(final_state, recording)`` exactly as :func:`simulate` would (``on_divergence``
        included).
    """
    key, state, inputs, v_index, u_index = _prepare(
        params, key, n_steps, state, inputs, record_v, record_u)
    _check_on_divergence(on_divergence)
    args = (params, key, state, inputs, v_index, u_index)
    start = time.perf_counter()
    compiled = _run.lower(*args, n_steps=int(n_steps), record_spikes=record_spikes).compile()
    seconds = time.perf_counter() - start

    def run():
        final, out = compiled(*args)
        rec = _recording(params, out, v_index, u_index, state.t)
        _check_divergence(rec.diverged_at, on_divergence, params)
        return final, rec

    return run, seconds


def _prepare(params, key, n_steps, state, inputs, record_v, record_u):
    """Validate simulate's arguments outside jit (:mod:`izhijax.validate`); return arrays."""
    check_params(params)
    n_steps = check_n_steps(n_steps)
    key = check_key(key)
    n = params.n
    state = init_state(params) if state is None else check_state(state, params)
    inputs = check_inputs(inputs, n_steps, n, jnp.result_type(params.v0))
    v_index = _indices("record_v", record_v, n)
    u_index = _indices("record_u", record_u, n)
    return key, state, inputs, v_index, u_index


def _recording(params, out, v_index, u_index, t0):
    spikes, v, u, counts, pop, bad = out
    cfg = params.config
    return Recording(spikes=spikes, v=v, u=u, counts=counts, pop_counts=pop, v_index=v_index,
                     u_index=u_index, t0=t0, dt=cfg.dt,
                     n_exc=params.n if cfg.n_exc is None else cfg.n_exc, diverged_at=bad)


def _check_on_divergence(value):
    if value not in ON_DIVERGENCE:
        raise ValueError(f"on_divergence must be one of {ON_DIVERGENCE}, got {value!r}")


def _divergence_message(step, params):
    return (f"the simulation diverged: v or u became NaN or infinite at step {step} "
            f"(t = {step * params.config.dt:g} ms); try a smaller dt "
            f"(now {params.config.dt:g} ms), smaller inputs, or another integrator "
            f"(now {params.config.integrator!r})")


def _check_divergence(bad, on_divergence, params):
    """Warn or raise if ``bad`` (first diverged step, -1 if none) says the run diverged."""
    if on_divergence == "ignore":
        return
    if is_traced(bad):
        if on_divergence == "raise":
            from jax.experimental import checkify
            checkify.check(bad < 0, "the simulation diverged: v or u became NaN or infinite at "
                           "step {step}", step=bad)
        return
    step = int(bad)
    if step < 0:
        return
    if on_divergence == "raise":
        raise DivergenceError(_divergence_message(step, params))
    warnings.warn(_divergence_message(step, params), DivergenceWarning, stacklevel=3)


def _join(pieces):
    spikes = None if pieces[0][0] is None else jnp.concatenate([p[0] for p in pieces])
    cat = [jnp.concatenate([p[i] for p in pieces]) for i in (1, 2)]
    counts = sum(p[3] for p in pieces)
    pop = jnp.concatenate([p[4] for p in pieces])
    bads = jnp.stack([p[5] for p in pieces])
    never = jnp.iinfo(jnp.int32).max
    first = jnp.min(jnp.where(bads >= 0, bads, never))      # steps are absolute: earliest wins
    bad = jnp.where(first == never, -1, first).astype(jnp.int32)
    return spikes, cat[0], cat[1], counts, pop, bad
