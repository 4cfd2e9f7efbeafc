"""The one engine: the pure step and the one ``lax.scan`` behind every run.

:func:`simulate`, :func:`compile_simulation`, runs to disk, sweeps, fits, the firing patterns and
the differentiable spike counts all call :func:`run` (compiled as :func:`run_jit`): noise blocks,
recording, divergence check, gradient checkpointing and the differentiable outputs live here only.

The step (:func:`advance`) works on a :class:`Lowered` network: each block of consecutive
populations sharing a model has its parameters concatenated once per run (outside the scan), so a
network of one model costs what a flat network costs, and populations of different models step
side by side.
"""

from functools import partial
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import connectivity, delays
from .inputs import INPUT_TAG, Input
from .network import MIN_RISE, State, _cat, blocks
from .surrogate import forget, spike, spike_per_rise
from .threefry import unit_noise_block

NOISE_BLOCK_STEPS = 50
"""Steps of noise drawn at once (one draw per block, :mod:`izhijax._src.threefry`; fewer for large
networks)."""
NOISE_BLOCK_VALUES = 2**20
"""At most this many noise values per block (bounds the block's memory: 4 MB in float32)."""


class Block(NamedTuple):
    model: object
    start: int
    stop: int
    params: dict


class Lowered(NamedTuple):
    """A network as the step uses it: blocks of one model, flat noise and bias, projection spans."""

    blocks: tuple
    noise_amp: jax.Array
    bias: jax.Array
    projections: tuple      # (weights, (s0, s1), (t0, t1), delay) without per-synapse delays
    delayed: tuple          # (k, weights, (s0, s1), (t0, t1), plasticity): Delayed weights
    n: int
    max_delay: int
    spans: tuple            # (name, start, stop) of each population


def lower(net):
    """The :class:`Lowered` form of a :class:`izhijax.Network` (traceable; call once per run)."""
    blks = tuple(Block(model, lo, hi, {k: _cat([p.params[k] for p in pops])
                                       for k in model.param_names})
                 for model, lo, hi, pops in blocks(net))
    projs = tuple((p.weights, net.span(p.source), net.span(p.target), p.delay)
                  for p in net.projections if not isinstance(p.weights, delays.Delayed))
    dl = tuple((k, p.weights, net.span(p.source), net.span(p.target), p.plasticity)
               for k, p in enumerate(net.projections) if isinstance(p.weights, delays.Delayed))
    spans = tuple((name, lo, hi) for name, (lo, hi) in net.slices().items())
    return Lowered(blks, net.flat("noise_amp"), net.flat("bias"), projs, dl, net.n,
                   net.max_delay, spans)


def noise_block(n, n_steps, kind):
    """Steps per noise block for a run of ``n_steps`` steps of ``n`` neurons (1: draw every step).

    At most ``min(NOISE_BLOCK_STEPS, NOISE_BLOCK_VALUES // n, n_steps)`` steps (the cap); the
    largest size from the cap down to half of it that divides ``n_steps`` where there is one, so
    that the run is one scan over whole blocks (a remainder needs a second copy of the step in the
    program: 130 steps of the Fig. 3 network, float32, compiled in 2.0-2.6 s as 2 x 50 + 30 and
    in 1.5-1.6 s as 5 x 26 on the Intel Xeon VM). The noise is the same bits whatever the block
    size.
    """
    if kind == "none":
        return 1
    cap = max(1, min(NOISE_BLOCK_STEPS, NOISE_BLOCK_VALUES // max(n, 1), n_steps))
    return next((size for size in range(cap, (cap - 1) // 2, -1) if n_steps % size == 0), cap)


def advance(state, net, key, i_ext=None, z=None, low=None, propagate=None, sources=None,
            targets=None):
    """One step, returning also each state variable after the update and before the reset.

    Args:
        state: :class:`izhijax.State`.
        net: :class:`izhijax.Network`.
        key: PRNG key of the run (the same key for every step).
        i_ext: optional external current of this step, shape ``(n,)``.
        z: optional unit noise of this step drawn ahead (``(n,)``, e.g. in a block of steps).
        low: ``lower(net)``, computed here when ``None``.
        propagate: ``f(pulse, low, sent) -> pulse``, how this step's spikes enter the pulses in
            flight; default :func:`_propagate` (a neuron-sharded run, :mod:`izhijax._src.shard`,
            exchanges the spikes between devices there).
        sources: ``f(k, spikes) -> spikes``, the spikes of the source of the ``k``-th projection
            with :class:`Delayed` weights (what its spike ring records and its plasticity
            reads); default the slice of this step's spikes (a sharded run returns every
            device's).
        targets: ``f(k, spikes) -> spikes``, the spikes of the whole target of the ``k``-th
            projection with :class:`Delayed` weights, for a plasticity rule's modulation (a
            reward watching a target neuron); default None: the slice of this step's spikes
            (a sharded run returns every device's).

    Returns:
        ``(state, spikes, pre)``: the new state; the spikes of this step as 0/1 floats ``(n,)``
        (carrying the surrogate gradient); ``pre``, one ``{variable: (n_block,)}`` per block,
        after the update and before the reset (what Brian2 records ``'after_thresholds'``).
    """
    low = lower(net) if low is None else low
    cfg = net.config
    kind = cfg.noise.kind
    if kind == "none":
        z_noise = jnp.zeros_like(low.noise_amp)
    elif z is None:
        z_noise = low.noise_amp * cfg.noise.unit(key, state.t, low.noise_amp.shape,
                                                 low.noise_amp.dtype)
    else:
        z_noise = low.noise_amp * z
    current = state.pulse[0] + low.bias + z_noise
    if i_ext is not None:
        current = current + i_ext
    synapses = list(state.synapses)
    for k, fmt, _, (t0, t1), rule in low.delayed:   # spikes arriving now through delays
        syn = synapses[k]
        arrivals = delays.Arrivals.at(fmt, syn, state.t)
        if rule is not None:    # learning first: the spikes deliver the updated weights (as
            # NEST's STDP synapses; in spnet only the once-a-second update changes them)
            syn = synapses[k] = rule.on_arrival(syn, fmt, arrivals, state.t, cfg.dt)
        w = fmt.w if rule is None else jax.lax.stop_gradient(syn["w"])
        current = current.at[t0:t1].set(delays.arrive(fmt, w, arrivals, current[t0:t1]))
    crossing = cfg.threshold_grad == "crossing"
    one = len(low.blocks) == 1
    new, spikes, pre = [], [], []
    keep = None if cfg.grad_memory is None or math.isinf(cfg.grad_memory) else \
        math.exp(-cfg.dt / cfg.grad_memory)
    for blk, old in zip(low.blocks, state.neurons):
        model, params = blk.model, blk.params
        first = model.state_names[0]
        if keep is not None:    # the backward pass forgets the gradient through v (surrogate.py)
            old = {**old, first: forget(old[first], keep)}
        guard = _guard(model, params) if crossing else (lambda x: x)
        x = cfg.integrator.step(model, old, params, current if one else current[blk.start:blk.stop],
                                cfg.dt, guard)
        dist = model.threshold(x, params)
        if crossing:   # steps since the crossing, dist / rise: same sign, so the same spikes; the
            # division is in the backward pass only (see izhijax._src.surrogate)
            rise = jax.lax.stop_gradient(jnp.maximum(x[first] - old[first], MIN_RISE))
            s = spike_per_rise(dist, rise, cfg.surrogate, 1.0, model.inclusive)
        else:
            s = spike(dist, cfg.surrogate, 1.0, model.inclusive)
        after = model.reset(x, params, s if cfg.reset_grad else jax.lax.stop_gradient(s))
        if crossing and not cfg.reset_grad:   # a spike ends the backward path of every variable
            cut = jax.lax.stop_gradient(s)
            for k in model.state_names[1:]:
                after[k] = after[k] - cut * (x[k] - jax.lax.stop_gradient(x[k]))
        new.append(after)
        spikes.append(s)
        pre.append(x)
    s = _cat(spikes)
    sent = s if cfg.synapse_grad else jax.lax.stop_gradient(s)
    pulse = (_propagate if propagate is None else propagate)(state.pulse, low, sent)
    source = (lambda k, x, s0, s1: x[s0:s1]) if sources is None else (
        lambda k, x, s0, s1: sources(k, x))
    for k, fmt, (s0, s1), (t0, t1), rule in low.delayed:
        syn = synapses[k]
        if rule is not None:
            whole = {} if targets is None else {"post_all": targets(k, s)}
            syn = rule.after_step(syn, fmt, source(k, s, s0, s1), s[t0:t1], state.t, key,
                                  cfg.dt, **whole)
        synapses[k] = {**syn, **delays.record(syn, source(k, sent, s0, s1), state.t)}
    return State(neurons=tuple(new), pulse=pulse, t=state.t + 1, synapses=tuple(synapses)), s, pre


def _guard(model, params):
    """The state with the first variable's gradient stopped where it is past the threshold."""
    first = model.state_names[0]

    def guard(x):
        v = x[first]
        past = model.threshold(x, params) >= 0
        return {**x, first: jnp.where(past, jax.lax.stop_gradient(v), v)}
    return guard


def _propagate(pulse, low, sent):
    """Shift the pulses in flight by one step and add every projection's pulse at its delay."""
    n, depth = low.n, low.max_delay
    if not low.projections:
        return jnp.concatenate([pulse[1:], jnp.zeros((1, n), pulse.dtype)])
    if len(low.projections) == 1:
        w, src, tgt, delay = low.projections[0]
        if src == (0, n) and tgt == (0, n) and delay == depth:      # one all-to-all projection
            return jnp.concatenate([pulse[1:], connectivity.propagate(w, sent)[None]])
    pulse = jnp.concatenate([pulse[1:], jnp.zeros((1, n), pulse.dtype)])
    for w, (s0, s1), (t0, t1), delay in low.projections:
        pulse = pulse.at[delay - 1, t0:t1].add(connectivity.propagate(w, sent[s0:s1]))
    return pulse


def step(state: State, params, key: jax.Array, i_ext=None) -> tuple:
    """One time step of the network; pure, and jit-, vmap- and grad-able.

    Args:
        state: :class:`izhijax.State` (from :func:`init_state` or a previous step).
        params: :class:`izhijax.Network`.
        key: PRNG key of the run; the step draws its noise from ``fold_in(key, state.t)``.
        i_ext: optional external current of this step, shape ``(n,)``.

    The arguments are checked as :func:`izhijax.simulate` checks them (shapes and dtypes always;
    values, such as a NaN parameter or a negative step index, when they are concrete: inside a
    ``jit`` or ``scan`` the check costs nothing at run time).

    Returns:
        ``(state, spikes)``: the next state and this step's spikes, 0/1 floats of shape ``(n,)``
        (floats so that the surrogate gradient can flow through them).

    With plasticity, a periodic consolidation due after this step (``Izhikevich2006``'s once a
    second) is marked ``pending`` in ``state.synapses`` and applied at the start of the next
    step (first thing in the step, where XLA updates the tables in place); :func:`simulate`
    also applies one due after its last step before returning.
    """
    from .validate import check_step_args
    key, i_ext = check_step_args(state, params, key, i_ext)
    state, s, _ = advance(state, params, key, i_ext)
    return state, s


class Outputs(NamedTuple):
    """What :func:`run` records (time-major)."""

    spikes: object          # (T, n) bool, or floats when differentiable; None without raster
    v: jax.Array            # (T, len(v_index)) pre-reset
    u: jax.Array            # (T, len(u_index)) pre-reset
    counts: jax.Array       # (n,) int32, or floats when differentiable
    pop_counts: jax.Array   # (T, n_populations) int32, or floats
    diverged_at: jax.Array  # first step after which some state was not finite, -1 if none


def run(params, key, state, inputs, v_index, u_index, key_index=None, *, n_steps,
        record_spikes=True, differentiable=False, checkpoint=None):
    """The scan of ``n_steps`` steps: the one loop every run goes through (not jitted).

    Args:
        params: :class:`izhijax.Network`.
        key: the run's typed PRNG key, or, with ``key_index`` (int32 scalar), a typed key array of
            shape ``(k,)`` of which the run uses ``key[key_index]``: the noise of all ``k`` keys is
            drawn and row ``key_index`` taken. Under ``vmap`` over ``key_index`` with ``key``
            unbatched the ``k`` draws are done once for the whole batch (networks of a sweep
            sharing a trial key share its noise); the values are those of the run with
            ``key[key_index]``.
        state: :class:`izhijax.State` to start from.
        inputs: ``(n_steps, n)`` external current, an :class:`izhijax.inputs.Input` (called
            as ``inputs(t, fold_in(key, INPUT_TAG))`` in each step) or None.
        v_index, u_index: int32 global indices of the neurons whose ``v`` / ``u`` are recorded.
        n_steps: static int.
        record_spikes: keep the raster.
        differentiable: spikes, counts and population counts as floats of the network's dtype
            that carry the surrogate gradient (static); otherwise bool / int32 (a quarter of the
            memory for the raster).
        checkpoint: ``None``, or a number of steps ``K``: the scan runs in chunks of ``K`` steps
            under ``jax.checkpoint`` (backward memory ~ ``T / K + K`` steps instead of ``T``).

    Returns:
        ``(final_state, Outputs)``.
    """
    cfg = params.config
    low = lower(params)
    n, dtype = low.n, low.noise_amp.dtype
    kind = cfg.noise.kind

    def draw(t, size):
        if key_index is None:
            return unit_noise_block(key, t, size, n, dtype, kind)
        every = jax.vmap(lambda k: unit_noise_block(k, t, size, n, dtype, kind))(key)
        return every[key_index]

    function_input = isinstance(inputs, Input)
    input_key = jax.random.fold_in(key if key_index is None else key[key_index], INPUT_TAG)

    def body(carry, xs):
        state, counts, bad = carry
        i_ext, z = xs
        t = state.t
        if function_input:
            i_ext = inputs(t, input_key, dtype)
        state, s, pre = advance(state, params, key, i_ext, z, low)
        fired = s if differentiable else s > 0
        count = (lambda x: jnp.sum(x)) if differentiable else (
            lambda x: jnp.sum(x, dtype=jnp.int32))
        v = _cat([x[_first(blk)] for blk, x in zip(low.blocks, pre)])
        u = _cat([x["u"] if "u" in x else jnp.zeros_like(x[_first(blk)])
                  for blk, x in zip(low.blocks, pre)])
        out = (fired if record_spikes else None, v[v_index], u[u_index],
               jnp.stack([count(fired[lo:hi]) for _, lo, hi in low.spans]))
        finite = _finite(state)     # one O(n) reduction per step; the first bad step kept
        bad = jnp.where((bad < 0) & ~finite, t.astype(jnp.int32), bad)
        return (state, counts + fired, bad), out

    def blocks_of(carry, inputs, n_blocks, size):
        # The noise of steps t .. t + size - 1 in one draw (the per-step bits), then a scan over them.
        def outer(carry, i_blk):
            z = None if kind == "none" else draw(carry[0].t, size)
            return jax.lax.scan(body, carry, (i_blk, z), length=size)

        if checkpoint is not None:
            outer = jax.checkpoint(outer)
        if inputs is not None:
            inputs = inputs.reshape((n_blocks, size) + inputs.shape[1:])
        carry, out = jax.lax.scan(outer, carry, inputs, length=n_blocks)
        flat = lambda x: x.reshape((n_blocks * size,) + x.shape[2:])
        return carry, jax.tree_util.tree_map(flat, out)

    xs_inputs = None if function_input else inputs
    counts0 = jnp.zeros(n, dtype if differentiable else jnp.int32)
    carry = (state, counts0, jnp.int32(-1))
    size = noise_block(n, n_steps, kind) if checkpoint is None else min(int(checkpoint), n_steps)
    if size == 1 and checkpoint is None and (key_index is None or kind == "none"):
        carry, out = jax.lax.scan(body, carry, (xs_inputs, None), length=n_steps)  # per step
    else:
        n_blocks, rest = divmod(n_steps, size)
        main = n_blocks * size
        carry, out = blocks_of(carry, None if xs_inputs is None else xs_inputs[:main], n_blocks,
                               size)
        if rest:
            carry, tail = blocks_of(carry, None if xs_inputs is None else xs_inputs[main:], 1,
                                    rest)
            out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, tail)
    final, counts, bad = carry
    final = flush(final, low)
    spikes, v, u, pop = out
    return final, Outputs(spikes, v, u, counts, pop, bad)


def flush(state, low):
    """Apply the plasticity rules' consolidations due after the last step (see
    :meth:`izhijax.plasticity.TraceRule.flush`): the state a run returns is complete."""
    synapses = list(state.synapses)
    for k, fmt, _, _, rule in low.delayed:
        if rule is not None:
            synapses[k] = rule.flush(synapses[k], fmt)
    return state.replace(synapses=tuple(synapses))


def _first(blk):
    return blk.model.state_names[0]


def _finite(state):
    """True if every state variable of every neuron is finite (a scalar)."""
    out = None
    for blk in state.neurons:
        flags = [jnp.isfinite(x) for x in blk.values()]
        ok = flags[0]
        for f in flags[1:]:
            ok = ok & f
        ok = jnp.all(ok)
        out = ok if out is None else out & ok
    return out


run_jit = jax.jit(run, static_argnames=("n_steps", "record_spikes", "differentiable", "checkpoint"))
""":func:`run`, compiled (one program per shape, static settings and ``n_steps``)."""
