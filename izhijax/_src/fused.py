"""Many steps of a delayed, plastic network in one compiled CPU loop (numba), inside the JAX program.

XLA:CPU runs a step of the polychronization network as some 200 small kernels (thunks), each with
a fixed cost: measured, the step of the same network *without* plasticity already takes longer
than ``poly_spnet.cpp``'s whole step with STDP (experiments/bench/NOTES.md, 2026-12-04). A step
of this network is little work (1000 neurons, a few hundred synapses arriving, a few hundred
eligibilities changed), so what costs is the number of kernels, not the arithmetic. This module
runs ``n_steps`` steps as **one** kernel: a numba loop over the steps (as GeNN generates one
kernel per network), called from the jitted program through XLA's FFI (``brainevent.numba_kernel``:
the buffers handed over without copies, the state's arrays aliased from input to output).

It is the same model, not another one: the loop does the engine's step (:func:`izhijax._src.
engine.advance`) operation for operation, in the same order and the same dtype, on the same
:class:`izhijax.State` (the spike rings, fired lists, traces, eligibilities and learned weights
laid out as the engine lays them out), so a state can go from one to the other at any step. It
is tested to the bit against the engine run without fused multiply-adds (``XLA_FLAGS=
--xla_cpu_max_isa=AVX``) and against Izhikevich's ``poly_spnet.cpp`` (its spikes, statistics,
weights and eligibilities of 10 s; numba does not contract ``a * b + c`` into an FMA, so the
loop is the C program's float64 arithmetic without flags).

What it runs (:func:`supported` says what is missing, naming it):

* populations of one :class:`izhijax.Izhikevich2003` model (any ``v_peak``, ``horner``,
  ``inclusive``), per-neuron ``a, b, c, d`` and ``bias``, integrator ``"izhikevich"`` (two half
  steps of ``v``, as spnet) or ``"euler"``, no noise;
* projections with :class:`izhijax.connectivity.Delayed` weights (a delay per synapse), fixed or
  learning by :class:`izhijax.plasticity.Izhikevich2006`;
* input ``None``, :class:`izhijax.inputs.RandomNeuron`, :class:`izhijax.inputs.Events` (each
  step's events computed in JAX for the block and handed to the loop as lists), any other
  :class:`izhijax.inputs.Input` or a ``(n_steps, n)`` array (given to the loop dense).

It computes no gradient (use the engine: ``jax.grad`` through :func:`run` raises), and under
``jax.vmap`` the batch runs one network after the other. It needs numba and brainevent (its
bridge from XLA's FFI to numba, no copies of the buffers): ``pip install
"izhijax[brainevent]"``.

Speed (the polychronization network, AMD EPYC VM, ``experiments/bench/polychronization_bench.py``):
see the README's polychronization section.
"""

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from . import delays
from .inputs import INPUT_TAG, Events, Input, RandomNeuron
from .network import State


def require():
    """Raise an ``ImportError`` saying what to install if the fused loop cannot run here."""
    for name in ("numba", "brainevent"):
        try:
            __import__(name)
        except ImportError as err:
            raise ImportError(f"the fused CPU loop (backend='numba') needs numba and brainevent "
                              f"(XLA's FFI bridge to numba): pip install "
                              f"\"izhijax[brainevent]\" ({err})") from None


@lru_cache(maxsize=None)
def available():
    """Whether numba and brainevent are installed (the fused loop can run here)."""
    try:
        require()
    except ImportError:
        return False
    return True


def supported(net, inputs=None):
    """``None`` if :func:`run` can run ``net`` with ``inputs``, else why not (a sentence)."""
    from .components import Euler, IzhikevichHalfSteps
    from .network import blocks
    from .neuron import Izhikevich2003
    from .plasticity import Izhikevich2006
    cfg = net.config
    if jax.default_backend() != "cpu":
        return (f"JAX's default device is {jax.default_backend()!r} (the fused loop runs on the "
                f"CPU)")
    if cfg.noise.kind != "none":
        return f"its noise is {cfg.noise.kind!r} (the fused loop runs networks without noise)"
    if type(cfg.integrator) not in (IzhikevichHalfSteps, Euler):
        return (f"its integrator is {cfg.integrator!r} (the fused loop runs 'izhikevich' and "
                f"'euler')")
    models = {p.model for p in net.populations}
    if len(models) != 1 or type(next(iter(models))) is not Izhikevich2003:
        return (f"its populations' models are {sorted(map(repr, models))} (the fused loop runs "
                f"populations of one izhijax.Izhikevich2003 model)")
    if len(blocks(net)) != 1:
        return "its populations form several blocks (the fused loop runs one block of neurons)"
    for p in net.projections:
        where = f"projection {p.name!r}"
        if type(p.weights) is not delays.Delayed:
            return (f"{where} has {type(p.weights).__name__} weights (the fused loop runs "
                    f"Delayed weights, a delay per synapse)")
        if p.plasticity is not None and type(p.plasticity) is not Izhikevich2006:
            return (f"{where} learns by {type(p.plasticity).__name__} (the fused loop runs "
                    f"Izhikevich2006 or fixed weights)")
    if inputs is not None and not isinstance(inputs, Input) and not hasattr(inputs, "shape"):
        return f"its input is a {type(inputs).__name__}"
    return None


def check_supported(net, inputs=None):
    """Raise a ``ValueError`` naming what the fused loop does not run (see :func:`supported`)."""
    why = supported(net, inputs)
    if why is not None:
        raise ValueError(f"backend='numba' cannot run this network: {why}; use backend='xla'")


# --- the JAX side ----------------------------------------------------------------------------

_FIELDS = ("post", "w", "fired", "over", "spikes", "sd", "x_pre", "x_post", "post_sp", "pending",
           "incoming", "rule")
"""Per projection, the arrays the loop takes (in its argument order), one tuple each."""
_STATE = ("w", "fired", "over", "spikes", "sd", "x_pre", "x_post", "post_sp", "pending")
"""Of those, the ones that are state (aliased from the loop's inputs to its outputs)."""


def _input_block(inputs, key, t0, n_steps, n, dtype):
    """The input of steps ``t0 .. t0 + n_steps - 1`` for the loop: ``(mode, idx, amounts,
    dense)``; mode 1 (lists of events, ``(n_steps, m)`` each, padding ``n``) for
    :class:`RandomNeuron` and :class:`Events`, mode 2 (dense ``(n_steps, n)``) otherwise."""
    empty_i, empty_f = jnp.zeros((0, 0), jnp.int32), jnp.zeros((0, 0), dtype)
    if inputs is None:
        return 0, empty_i, empty_f, empty_f
    ts = t0 + jnp.arange(n_steps, dtype=jnp.int32)
    if isinstance(inputs, Input):
        ikey = jax.random.fold_in(key, INPUT_TAG)
        if isinstance(inputs, (RandomNeuron, Events)):
            idx, amt = jax.vmap(lambda t: inputs.sparse(t, ikey, dtype))(ts)
            return 1, idx.astype(jnp.int32), amt.astype(dtype), empty_f
        dense = jax.vmap(lambda t: inputs(t, ikey, dtype))(ts)
        return 2, empty_i, empty_f, dense.astype(dtype)
    return 2, empty_i, empty_f, jnp.asarray(inputs, dtype)


def run(net, key, state, inputs, v_index, u_index, *, n_steps, record_spikes=True):
    """:func:`izhijax._src.engine.run` (no gradient, no sweep) as one fused loop.

    Same arguments and results as the engine's run with ``differentiable=False``: ``(final
    state, Outputs)``; the final state and every output are the engine's bits where the engine
    runs without fused multiply-adds (see the module docstring). Traceable (``jax.jit``); the
    loop is called through XLA's FFI (``brainevent.numba_kernel``: the buffers are handed over
    without copies, the state's updated in place).
    """
    from .engine import Outputs, lower
    check_supported(net, inputs)
    call = _call(len(net.projections))
    low = lower(net)
    blk = low.blocks[0]
    model = blk.model
    cfg = net.config
    dtype = jnp.dtype(net.dtype)
    n = low.n
    per_neuron = lambda x: jnp.broadcast_to(jnp.asarray(x, dtype), (n,))
    a, b, c, d = (per_neuron(blk.params[k]) for k in "abcd")
    bias = per_neuron(low.bias)
    pop_of = np.zeros(n, np.int32)
    for k, (_, lo, hi) in enumerate(low.spans):
        pop_of[lo:hi] = k
    from .components import IzhikevichHalfSteps
    consts = jnp.asarray([0.04, 5.0, 140.0, 0.5 * cfg.dt, cfg.dt, model.v_peak, 1.0], dtype)
    crossing = cfg.threshold_grad == "crossing"
    mode, ev_idx, ev_amt, dense = _input_block(inputs, key, state.t, n_steps, n, dtype)
    flags = np.array([model.horner, model.inclusive,
                      isinstance(cfg.integrator, IzhikevichHalfSteps),
                      crossing and not cfg.reset_grad, mode], np.int32)
    meta, arrays = [], {name: [] for name in _FIELDS}
    syn_in = list(state.synapses)
    for k, fmt, (s0, s1), (t0, t1), rule in low.delayed:
        syn = syn_in[k]
        plastic = rule is not None
        period = rule.period_steps(cfg.dt) if plastic else 1
        meta.append([fmt.n_pre, s0, t0, t1 - t0, int(plastic), syn["fired"].shape[1], period])
        got = dict(post=fmt.post, fired=syn["fired"], over=syn["over"], spikes=syn["spikes"])
        if plastic:
            got.update(w=syn["w"], sd=syn["sd"], x_pre=syn["x_pre"], x_post=syn["x_post"],
                       post_sp=syn["post"], pending=syn["pending"].reshape(1),
                       incoming=fmt.incoming,
                       rule=jnp.asarray([rule.a_plus, rule.a_minus, rule.decay_plus(cfg.dt),
                                         rule.sd_decay, rule.drift, rule.w_min, rule.w_max],
                                        dtype))
        else:       # fixed weights; the rule's arrays empty (one array type per field)
            got.update(w=fmt.w, sd=jnp.zeros((0, 0, 0), dtype), x_pre=jnp.zeros((0, 0), dtype),
                       x_post=jnp.zeros((0,), dtype), post_sp=jnp.zeros((0,), dtype),
                       pending=jnp.zeros((1,), bool), incoming=jnp.zeros((0, 0), jnp.int32),
                       rule=jnp.zeros((7,), dtype))
        for name in _FIELDS:
            arrays[name].append(got[name])
    meta = np.asarray(meta, np.int32).reshape(-1, 7)
    v_index = jnp.asarray(v_index, jnp.int32)
    u_index = jnp.asarray(u_index, jnp.int32)
    n_pops = len(low.spans)
    first = (jnp.reshape(state.t, (1,)).astype(jnp.int32), state.neurons[0]["v"],
             state.neurons[0]["u"], a, b, c, d, bias, state.pulse, jnp.asarray(pop_of), consts,
             jnp.asarray(flags), jnp.asarray(meta),
             ev_idx, ev_amt, dense, v_index, u_index)
    tables = [x for name in _FIELDS for x in arrays[name]]
    outs = call(first, tables, arrays, n, n_steps, n_pops, record_spikes, dtype,
                v_index.shape[0], u_index.shape[0])
    v, u = outs[0], outs[1]
    p = len(low.delayed)
    new = {name: outs[2 + i * p: 2 + (i + 1) * p] for i, name in enumerate(_STATE)}
    counts, pop_counts, raster, rec_v, rec_u, bad = outs[2 + len(_STATE) * p:]
    synapses = list(state.synapses)
    for q, (k, fmt, _, _, rule) in enumerate(low.delayed):
        syn = {**syn_in[k], **{name: new[name][q] for name in ("fired", "over", "spikes")}}
        if rule is not None:
            syn.update(w=new["w"][q], sd=new["sd"][q], x_pre=new["x_pre"][q],
                       x_post=new["x_post"][q], post=new["post_sp"][q],
                       pending=new["pending"][q].reshape(()))
        synapses[k] = syn
    depth = state.pulse.shape[0]
    pulse = jnp.zeros_like(state.pulse) if n_steps >= depth else jnp.concatenate(
        [state.pulse[n_steps:], jnp.zeros((n_steps,) + state.pulse.shape[1:], dtype)])
    final = State(neurons=({**state.neurons[0], "v": v, "u": u},), pulse=pulse,
                  t=state.t + jnp.int32(n_steps), synapses=tuple(synapses))
    return final, Outputs(raster if record_spikes else None, rec_v, rec_u, counts, pop_counts,
                          bad[0])


@lru_cache(maxsize=None)
def _call(n_proj):
    """``call(first, tables, arrays, ...)``: the loop of ``n_proj`` projections through XLA's FFI,
    the state's arrays aliased from input to output (updated in place)."""
    require()
    import brainevent
    from .fused_loop import _ARGS, flat
    kernel = flat(n_proj, _FIELDS, _STATE)

    def call(first, tables, arrays, n, n_steps, n_pops, record_spikes, dtype, n_v, n_u):
        like = lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.asarray(x).dtype)
        outs = [like(first[1]), like(first[2])]
        outs += [like(x) for name in _STATE for x in arrays[name]]
        outs += [jax.ShapeDtypeStruct((n,), jnp.int32),
                 jax.ShapeDtypeStruct((n_steps, n_pops), jnp.int32),
                 jax.ShapeDtypeStruct((n_steps if record_spikes else 0, n), jnp.bool_),
                 jax.ShapeDtypeStruct((n_steps, n_v), dtype),
                 jax.ShapeDtypeStruct((n_steps, n_u), dtype),
                 jax.ShapeDtypeStruct((1,), jnp.int32)]
        aliases = {1: 0, 2: 1}
        base = len(_ARGS)
        for i, name in enumerate(_STATE):
            f = _FIELDS.index(name)
            for q in range(n_proj):
                aliases[base + f * n_proj + q] = 2 + i * n_proj + q
        fn = brainevent.numba_kernel(kernel, outs=outs, input_output_aliases=aliases,
                                     vmap_method="sequential")
        return fn(*first, *tables)
    return call


run_jit = jax.jit(run, static_argnames=("n_steps", "record_spikes"))
""":func:`run`, compiled (the numba loop is compiled once per dtype and number of projections,
and cached on disk)."""
