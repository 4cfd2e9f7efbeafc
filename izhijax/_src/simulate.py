"""simulate: a run of the engine (:mod:`izhijax._src.engine`) with recording, chunking, a progress bar.

Recordings differentiate: called with traced values (inside ``jax.grad``, ``jit`` or ``vmap``) the
raster, the counts and the population counts are floats of the network's dtype carrying the
surrogate gradient (the same spikes); called with concrete values they are bool / int32, a
quarter of the memory.
"""

import dataclasses
import functools
import math
from typing import Optional, Tuple
import time
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from . import engine
from .engine import NOISE_BLOCK_STEPS, NOISE_BLOCK_VALUES, noise_block  # noqa: F401
from .arrays import index_array
from .network import init_state
from .inputs import Input, as_input, check_input
from .validate import (check_inputs, check_key, check_n_steps, check_params, check_state,
                       check_step_range, is_traced, network_fingerprint)

ON_DIVERGENCE = ("warn", "raise", "ignore")


class DivergenceError(FloatingPointError):
    """A run's ``v`` or ``u`` became NaN or infinite (step too long, input too large)."""


class DivergenceWarning(RuntimeWarning):
    """Warned by :func:`simulate` when a run diverged and ``on_divergence="warn"``."""


@dataclasses.dataclass(frozen=True)
class Recording:
    """What a run recorded, time-major.

    Attributes:
        spikes: spikes of every neuron, shape ``(T, n)`` (``None`` with ``record_spikes=False``):
            bool, or 0/1 floats carrying the surrogate gradient when the run was traced (see the
            module docstring). Row ``t`` holds the spikes whose threshold crossing happened in the
            update of step ``t`` (Brian2's convention; net.m and PymoNNto label it ``t + 1``).
        v: membrane potential of the recorded neurons after each update and before the reset
            (Brian2's ``when='after_thresholds'``), mV, shape ``(T, len(v_index))``.
        u: recovery variable of the recorded neurons, likewise, shape ``(T, len(u_index))``.
        counts: number of spikes of each neuron over the run, shape ``(n,)`` (int32, or floats
            when traced).
        pop_counts: spikes per step of each population, shape ``(T, n_populations)`` (int32, or
            floats when traced); kept even when the raster is not.
        v_index, u_index: which neurons ``v`` and ``u`` hold, int32, shapes ``(k,)``.
        t0: index of the first recorded step (0 unless the run was resumed), int32 scalar.
        dt: step length in ms (static).
        populations: ``((name, start, stop), ...)``, each population's neurons in the global
            index (static).
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
    populations: tuple = ()
    diverged_at: object = None

    @property
    def names(self):
        """Population names, in order."""
        return tuple(name for name, _, _ in self.populations)

    @property
    def n(self):
        """Number of neurons."""
        return self.counts.shape[-1]

    def span(self, population):
        """``(start, stop)`` of a population's neurons in the global index."""
        for name, lo, hi in self.populations:
            if name == population:
                return lo, hi
        raise ValueError(f"no population {population!r}; the recording has {self.names}")

    def population(self, name):
        """The recording restricted to one population: raster, counts, and the recorded traces of
        its neurons (indices relative to the population), as a :class:`Recording`."""
        lo, hi = self.span(name)
        k = self.names.index(name)
        vi, ui = np.asarray(self.v_index), np.asarray(self.u_index)
        keep_v, keep_u = (vi >= lo) & (vi < hi), (ui >= lo) & (ui < hi)
        return Recording(
            spikes=None if self.spikes is None else self.spikes[..., lo:hi],
            v=self.v[..., keep_v], u=self.u[..., keep_u], counts=self.counts[..., lo:hi],
            pop_counts=self.pop_counts[..., k:k + 1], v_index=jnp.asarray(vi[keep_v] - lo),
            u_index=jnp.asarray(ui[keep_u] - lo), t0=self.t0, dt=self.dt,
            populations=((name, 0, hi - lo),), diverged_at=self.diverged_at)

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
        if is_traced(self.spikes):
            raise TypeError("spike_times() returns NumPy arrays and cannot be traced or "
                            "differentiated; inside jax.grad / jit use rec.spikes (0/1 floats "
                            "with the surrogate gradient) or rec.counts")
        step, i = np.nonzero(np.asarray(self.spikes))
        return i, self.times[step]

    def to_neo(self, params=None):
        """This run as a ``neo.Segment`` (``izhijax[neo]``): see ``interchange.to_neo``."""
        from .interchange import to_neo
        return to_neo(self, params)

    @property
    def times(self):
        """Start time of each recorded step in ms, shape ``(T,)``."""
        return (np.asarray(self.t0) + np.arange(self.n_steps)) * self.dt


jax.tree_util.register_dataclass(
    Recording,
    data_fields=["spikes", "v", "u", "counts", "pop_counts", "v_index", "u_index", "t0",
                 "diverged_at"],
    meta_fields=["dt", "populations"])


_initial_state = jax.jit(init_state)
"""``init_state`` as one compiled program (a few dozen microseconds a call against 0.3 ms for
its operations one by one, per :func:`simulate` call; compiled once per network structure)."""

_LAST_INITIAL = [None]
"""``(weakref to a network, its fingerprint, its initial state)`` of the last network run from
its initial state, if that state is at most :data:`_INITIAL_KEPT_BYTES`: the loop of runs on one
network builds it once (JAX arrays are immutable, so the runs can share it)."""
_INITIAL_KEPT_BYTES = 4 * 2**20


def _initial(params):
    """``init_state(params)``, the last network's kept (see :data:`_LAST_INITIAL`)."""
    entry = _LAST_INITIAL[0]
    mark = network_fingerprint(params)
    if entry is not None and mark is not None and entry[0]() is params and entry[1] == mark:
        return entry[2]
    state = _initial_state(params)
    if mark is not None and sum(x.nbytes for x in jax.tree_util.tree_leaves(state)) \
            <= _INITIAL_KEPT_BYTES:
        try:
            _LAST_INITIAL[0] = (weakref.ref(params), mark, state)
        except TypeError:
            pass
    return state


def _place_indices(idx):
    with jax.ensure_compile_time_eval():    # a concrete array even when called inside a trace
        return jnp.asarray(idx)


@functools.lru_cache(maxsize=256)
def _kept_indices(raw):
    return _place_indices(np.frombuffer(raw, np.int32))


_KEPT_INDICES_MAX = 4096
"""Index sets up to this size are placed once and kept (placing a small array costs ~70 us a
call; JAX arrays are immutable, so recordings can share it); larger ones, whose placement is
cheap next to their run, are placed every call rather than held in memory."""


def _indices(name, idx, params):
    """Global neuron indices to record, from indices or ``{population: indices within it}``
    (integers only: a float, a boolean mask or an out-of-range index is refused by name)."""
    if isinstance(idx, dict):
        parts = []
        for pop, local in idx.items():
            lo, hi = params.span(pop)
            parts.append(index_array(local, f"{name}[{pop!r}]", hi - lo).astype(np.int64) + lo)
        idx = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    idx = index_array([] if idx is None else idx, name, params.n)
    idx = np.ascontiguousarray(idx, np.int32)
    if idx.size <= _KEPT_INDICES_MAX:
        return _kept_indices(idx.tobytes())
    return _place_indices(idx)


def simulate(params, key: jax.Array, n_steps: int, *, state=None, inputs=None, record_v=(0,),
             record_u=(), record_spikes: bool = True, chunk_size: Optional[int] = None,
             progress: bool = False, on_divergence: str = "warn",
             checkpoint: Optional[int] = None,
             differentiable: Optional[bool] = None,
             backend: str = "xla") -> Tuple["State", "Recording"]:
    """Run the network for ``n_steps`` steps: one compiled ``lax.scan`` of :func:`izhijax.step`.

    The noise is drawn ahead in blocks of steps (one draw per block by
    :mod:`izhijax._src.threefry`, the same bits as drawing it in each step), a scan over blocks
    around the scan over steps.

    Args:
        params: :class:`izhijax.Network` (e.g. from :func:`izhijax.izhikevich2003`).
        key: PRNG key of the run (``jax.random.key(seed)``). The noise of step ``t`` depends on
            ``(key, t)`` alone, so chunked or resumed runs are bitwise identical to one run.
        n_steps: number of steps (each ``params.config.dt`` ms).
        state: state to start from (a previous run's final state to resume it); default
            ``init_state(params)``.
        inputs: optional external current added to the update of each step, shape
            ``(n_steps, n)`` in the models' current unit (mV/ms for the 2003 model), or a
            function of the step: an :class:`izhijax.inputs.Input` (``RandomNeuron``,
            ``Events``) or a pure ``f(t, key) -> (n,)`` (``O(n)`` memory for runs of hours;
            see :mod:`izhijax.inputs`).
        record_v, record_u: which neurons' ``v`` / ``u`` to record: global indices, or
            ``{population: indices within it}``.
        record_spikes: keep the full ``(T, n)`` raster; ``False`` keeps only per-neuron counts and
            per-step population counts (for long or large runs).
        chunk_size: run in compiled chunks of this many steps (bounded memory per call, progress);
            default one chunk.
        progress: show a progress bar over chunks (implies ``chunk_size = ceil(n_steps / 50)``
            if none is given).
        on_divergence: what to do if some state variable becomes NaN or infinite (the
            recording's ``diverged_at`` holds the first bad step in every case): ``"warn"``
            (default) warns a :class:`DivergenceWarning`; ``"raise"`` raises
            :class:`DivergenceError` (after the chunk in which it happened; inside a user's
            ``jit`` it is a ``checkify.check``, so wrap the function in
            ``jax.experimental.checkify.checkify``); ``"ignore"`` does neither.
        checkpoint: for gradients through long runs: rematerialise the steps in chunks of this
            many steps (``jax.checkpoint``), so the backward pass stores ``T / K + K`` steps
            instead of ``T``. Values are the same.
        differentiable: record the raster and counts as floats carrying the surrogate gradient
            (True) or as bool / int32 (False); default True exactly when ``params``, ``state``
            or ``inputs`` are traced (inside ``jax.grad``, ``jit``, ``vmap``).
        backend: ``"xla"`` (default): the engine's compiled scan. ``"numba"``: each chunk as one
            fused loop on the CPU (:mod:`izhijax._src.fused`: the same step to the bit where XLA
            makes no fused multiply-adds; several times faster for networks of
            :class:`izhijax.connectivity.Delayed` projections, fixed or learning by
            ``Izhikevich2006``, such as :func:`izhijax.polychronization2006`; no gradients,
            no noise; needs ``pip install "izhijax[brainevent]"``). A network it does not run
            is refused with the reason.

    Returns:
        ``(final_state, recording)``: the :class:`State` after the last step (resume from it) and a
        :class:`Recording`. Under ``jax.grad``, a loss on ``recording.counts``,
        ``recording.spikes``, ``recording.pop_counts`` or on :func:`izhijax.firing_rates` /
        :func:`izhijax.population_rates` of it has the surrogate gradient.

    Raises:
        ValueError, TypeError: bad arguments (see :mod:`izhijax._src.validate`), before compiling.
        DivergenceError: with ``on_divergence="raise"``, if the run diverged.

    The compiled loop depends on the shapes and the static ``config`` only: new parameter values of
    the same shapes reuse it without recompiling.
    """
    key, state, inputs, v_index, u_index = _prepare(
        params, key, n_steps, state, inputs, record_v, record_u)
    n_steps = int(n_steps)
    _check_on_divergence(on_divergence)
    differentiable = _differentiable(differentiable, params, state, inputs)
    run_jit = _backend(backend, params, inputs, differentiable, checkpoint)
    if differentiable:
        _warn_plastic_gradient(params, state)
    checkpoint = None if checkpoint is None else check_n_steps(checkpoint, "checkpoint")
    if progress and chunk_size is None:
        chunk_size = math.ceil(n_steps / 50)
    chunk_size = n_steps if chunk_size is None else check_n_steps(chunk_size, "chunk_size")
    _check_memory(params, n_steps, v_index, u_index, record_spikes, differentiable,
                  math.ceil(n_steps / chunk_size), state)

    t0 = state.t
    starts = range(0, n_steps, chunk_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="simulate", unit="chunk", total=len(starts))
    pieces = []
    for start in starts:
        length = min(chunk_size, n_steps - start)
        chunk = _input_chunk(inputs, start, length)
        state, out = run_jit(params, key, state, chunk, v_index, u_index, n_steps=length,
                             record_spikes=record_spikes)
        pieces.append(out)
        if on_divergence == "raise" and start + length < n_steps:
            _check_divergence(out.diverged_at, "raise", params)
    out = pieces[0] if len(pieces) == 1 else _join(pieces)
    rec = _recording(params, out, v_index, u_index, t0)
    _check_divergence(rec.diverged_at, on_divergence, params)
    return state, rec


def _backend(backend, params, inputs, differentiable, checkpoint):
    """The compiled run of ``backend`` (``run_jit(params, key, state, inputs, v_index, u_index,
    n_steps=, record_spikes=)``), or a ``ValueError`` naming why it cannot run this call."""
    if backend == "xla":
        return functools.partial(engine.run_jit, differentiable=differentiable,
                                 checkpoint=checkpoint)
    if backend != "numba":
        raise ValueError(f"backend must be 'xla' or 'numba', got {backend!r}")
    from . import fused
    if differentiable:
        raise ValueError("backend='numba' computes no gradient (and takes no traced network, "
                         "state or input): use backend='xla' under jax.grad, jit or vmap")
    if checkpoint is not None:
        raise ValueError("checkpoint is for gradients: backend='numba' computes none")
    fused.check_supported(params, inputs)
    fused.require()
    return fused.run_jit


_UNCHECKED_BYTES = 16 * 2**20
"""A run whose estimate is below this is not checked against the available memory (reading it,
``/proc/meminfo`` and the cgroup's files, costs ~0.1-0.2 ms a call: a tenth of a Fig. 3 run's
own overhead)."""


def _check_memory(params, n_steps, v_index, u_index, record_spikes, differentiable, chunks,
                  state=None):
    """Refuse a run whose recording cannot fit in memory, before allocating it (one line with
    the estimate, :mod:`izhijax._src.memory`). Skipped for a traced network (inside ``vmap`` the
    batch is not known here) and for a run that needs less than :data:`_UNCHECKED_BYTES`."""
    if any(is_traced(x) for x in jax.tree_util.tree_leaves(params)):
        return
    from .memory import check_memory, simulation_bytes
    need = simulation_bytes(params, n_steps, len(v_index), len(u_index), bool(record_spikes),
                            differentiable=differentiable, chunks=chunks, state=state)
    if int(need) < _UNCHECKED_BYTES:
        return
    device = jax.devices()[0]
    check_memory(need, f"simulation of {params.n} neurons x {n_steps} steps",
                 None if device.platform == "cpu" else device,
                 advice="use record_spikes=False, record fewer neurons or simulate in "
                        "shorter pieces (state=final)")


def _input_chunk(inputs, start, length):
    """The inputs of steps ``start .. start + length`` of a run (a function input: itself)."""
    if inputs is None or isinstance(inputs, Input):
        return inputs
    return inputs[start:start + length]


_AD_TRACERS = ("JVPTracer", "LinearizeTracer")
"""JAX's tracers of a value being differentiated (``jax.grad``, ``jvp``, ``linearize``)."""


def _warn_plastic_gradient(params, state):
    """Warn when a plastic projection's learned weights are being differentiated: the run uses
    them without a gradient (the learning rule is not differentiated), so a gradient with
    respect to them, or to the weights they start from, would be zero without a word."""
    for k, p in enumerate(params.projections):
        if p.plasticity is None:
            continue
        w = state.synapses[k].get("w") if isinstance(state.synapses[k], dict) else None
        if any(type(x).__name__ in _AD_TRACERS for x in jax.tree_util.tree_leaves(w)):
            warnings.warn(
                f"simulate: projection {p.name!r} learns its weights ({type(p.plasticity).__name__})"
                f" and the learned weights carry no gradient, so the gradient with respect to "
                f"its weights is zero; to differentiate through those weights, run the network "
                f"with them frozen (net, state = izj.freeze(net, state))", stacklevel=3)


def _differentiable(value, params, state, inputs):
    if value is not None:
        if not isinstance(value, bool):
            raise TypeError(f"differentiable must be True, False or None, got {value!r}")
        return value
    leaves = jax.tree_util.tree_leaves((params, state, inputs))
    return any(is_traced(x) for x in leaves)


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
    compiled = engine.run_jit.lower(*args, n_steps=int(n_steps), record_spikes=record_spikes,
                                    differentiable=False, checkpoint=None).compile()
    seconds = time.perf_counter() - start

    def run():
        final, out = compiled(*args)
        rec = _recording(params, out, v_index, u_index, state.t)
        _check_divergence(rec.diverged_at, on_divergence, params)
        return final, rec

    return run, seconds


def _prepare(params, key, n_steps, state, inputs, record_v, record_u):
    """Validate simulate's arguments outside jit (:mod:`izhijax._src.validate`); return arrays."""
    check_params(params)
    n_steps = check_n_steps(n_steps)
    key = check_key(key)
    n = params.n
    if state is None:       # the initial state: step 0 (checked without reading it back)
        state = _initial(params)
        check_step_range(np.zeros((), state.t.dtype), n_steps)
    else:
        state = check_state(state, params)
        check_step_range(state.t, n_steps)
    function_input = as_input(inputs, n)
    if function_input is not None:
        inputs = check_input(function_input, n, params.dtype)
    else:
        inputs = check_inputs(inputs, n_steps, n, jnp.result_type(params.dtype))
    v_index = _indices("record_v", record_v, params)
    u_index = _indices("record_u", record_u, params)
    return key, state, inputs, v_index, u_index


def _recording(params, out, v_index, u_index, t0):
    spans = tuple((name, lo, hi) for name, (lo, hi) in params.slices().items())
    return Recording(spikes=out.spikes, v=out.v, u=out.u, counts=out.counts,
                     pop_counts=out.pop_counts, v_index=v_index, u_index=u_index, t0=t0,
                     dt=params.config.dt, populations=spans, diverged_at=out.diverged_at)


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
    spikes = None if pieces[0].spikes is None else jnp.concatenate([p.spikes for p in pieces])
    cat = lambda f: jnp.concatenate([getattr(p, f) for p in pieces])
    bads = jnp.stack([p.diverged_at for p in pieces])
    never = jnp.iinfo(jnp.int32).max
    first = jnp.min(jnp.where(bads >= 0, bads, never))      # steps are absolute: earliest wins
    bad = jnp.where(first == never, -1, first).astype(jnp.int32)
    return engine.Outputs(spikes, cat("v"), cat("u"), sum(p.counts for p in pieces),
                          cat("pop_counts"), bad)
