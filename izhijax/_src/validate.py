"""Checks at the boundary: refuse bad parameters, states, inputs and keys before anything compiles.

Every check runs outside jit, in Python, on shapes and dtypes (static even for traced values) and, for
concrete arrays only, on values (finite, non-negative noise). Values that are traced (inside a user's
``jit``, ``vmap`` or ``grad``) pass through without a host sync, so the checks cost nothing in a
compiled loop and never break a transformation. Each failure is a ``ValueError`` (wrong shape, value
or setting) or ``TypeError`` (wrong kind of object) whose message names the field, what was expected
and what was received.

``fit`` and ``sweep`` call :func:`check_params` (and :func:`check_key`, :func:`check_state`,
:func:`check_inputs`) on what they are given, as ``simulate`` does.
"""

import weakref

import jax
import jax.numpy as jnp
import numpy as np

from . import connectivity
from .arrays import real_array
from .components import NeuronModel, Plasticity
from .delays import Delayed
from .learnable_delays import LearnableDelayed
from .network import Config, Network, Population, Projection, State, blocks, init_synapses


def is_traced(x):
    """True if ``x`` is a tracer (inside ``jit``/``vmap``/``grad``): its values are not known."""
    return isinstance(x, jax.core.Tracer)


def _dtype_of(x):
    """``jnp.result_type(x)``, read directly off a JAX array (canonical already; 10 us less a
    field on every call)."""
    return x.dtype if isinstance(x, jax.Array) else jnp.result_type(x)


@jax.jit
def _finite_flags(arrays):
    return jnp.stack([jnp.all(jnp.isfinite(x)) for x in arrays])


def _on_host(x):
    """True for a NumPy value or a JAX array whose every shard is in CPU memory (read without a
    copy or a compiled program)."""
    if not isinstance(x, jax.Array):
        return True
    try:
        return all(d.platform == "cpu" for d in x.devices())
    except Exception:       # deleted or otherwise unreadable: let the device path report it
        return False


_FINITE = {}
"""``id(x) -> weakref to x`` of the JAX arrays found finite: a JAX array cannot change, so a
network passed again (the usual loop of runs) is not read again (the Fig. 3 weights: 0.5 ms of
each ``simulate`` call). An entry leaves with its array."""


def _known_finite(x):
    ref = _FINITE.get(id(x))
    return ref is not None and ref() is x


def _remember_finite(x):
    if isinstance(x, jax.Array) and not is_traced(x):
        key = id(x)
        _FINITE[key] = weakref.ref(x, lambda _, key=key: _FINITE.pop(key, None))


_CHECKED = {}
"""``id(network) -> (weakref to it, its fingerprint)`` of the networks :func:`check_params` passed
whose every leaf is a concrete JAX array: such a network cannot change (frozen dataclasses,
immutable arrays), so the loop of runs on one network checks it once (the Fig. 3 network: ~0.2 ms
of each ``simulate`` call). The fingerprint (tree structure and the leaves' identities) catches a
leaf replaced in a population's ``params`` dict. An entry leaves with its network."""


def network_fingerprint(params):
    """``(treedef, ids of the leaves)`` of a network whose leaves are all concrete JAX arrays,
    else None (NumPy leaves can change in place; traced ones are not known)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if not all(isinstance(x, jax.Array) and not is_traced(x) for x in leaves):
        return None
    return treedef, tuple(map(id, leaves))


def _checked_before(params):
    entry = _CHECKED.get(id(params))
    return entry is not None and entry[0]() is params and \
        entry[1] == network_fingerprint(params)


def _remember_checked(params):
    mark = network_fingerprint(params)
    if mark is None:
        return
    key = id(params)
    try:
        ref = weakref.ref(params, lambda _, key=key: _CHECKED.pop(key, None))
    except TypeError:       # not weakly referable: checked every time
        return
    _CHECKED[key] = (ref, mark)


def check_finite(named):
    """Raise ``ValueError`` naming the first array that holds a NaN or an infinity.

    Args:
        named: ``{name: array}``; traced arrays are skipped. One device round trip for all of them;
            JAX arrays already found finite are not read again (they are immutable).
    """
    named = {k: x for k, x in named.items() if x is not None and not is_traced(x)
             and jnp.issubdtype(_dtype_of(x), jnp.inexact) and not _known_finite(x)}
    if not named:
        return
    if all(_on_host(x) for x in named.values()):    # NumPy, or JAX arrays in host memory: read
        flags = [bool(np.isfinite(np.asarray(x)).all()) for x in named.values()]  # in place
    else:
        with jax.ensure_compile_time_eval():     # concrete arrays are checked now, even in a trace
            flags = np.asarray(_finite_flags([jnp.asarray(x) for x in named.values()]))
    for (name, x), ok in zip(named.items(), flags):
        if not ok:
            x = np.asarray(x)
            bad = np.argwhere(~np.isfinite(x))[0]
            where = f" at index {tuple(int(i) for i in bad)}" if x.ndim else ""
            raise ValueError(f"{name} must be finite, got {x[tuple(bad)].item()!r}{where} "
                             f"({int((~np.isfinite(x)).sum())} non-finite of {x.size})")
    for x in named.values():
        _remember_finite(x)


def check_params(params, name="params"):
    """Validate a :class:`izhijax.Network`: kinds, shapes, dtypes, finite values, noise >= 0,
    population names and the sizes each projection connects.

    Args:
        params: the network to check.
        name: how to call it in messages (e.g. ``"params"`` or ``"init_params"``).

    Returns:
        ``params`` unchanged.

    Raises:
        TypeError: not a ``Network``, its ``config`` not a ``Config``, a model not a
            ``NeuronModel``, or a field not a floating array of the network's dtype.
        ValueError: a field has the wrong shape, is not finite, ``noise_amp`` is negative, names
            repeat, or a projection's weights do not have the shape of its populations.
    """
    if not isinstance(params, Network):
        raise TypeError(f"{name} must be an izhijax.Network, got {type(params).__name__}")
    if _checked_before(params):       # the same immutable network, passed before
        return params
    if not isinstance(params.config, Config):
        raise TypeError(f"{name}.config must be izhijax.Config, got {type(params.config).__name__}")
    pops = params.populations
    if not isinstance(pops, tuple) or not pops:
        raise ValueError(f"{name}.populations must be a non-empty tuple of Population")
    for p in pops:
        if not isinstance(p, Population):
            raise TypeError(f"{name}.populations must hold izhijax.Population, got "
                            f"{type(p).__name__}")
    names = [p.name for p in pops]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: population names must be unique, got {names}")
    dtype = None
    floats = {}
    for p in pops:
        where = f"{name}.population({p.name!r})" if len(pops) > 1 else name
        if not isinstance(p.model, NeuronModel):
            raise TypeError(f"{where}.model must be a NeuronModel, got {type(p.model).__name__}")
        size = jnp.shape(p.noise_amp)
        if len(size) != 1 or size[0] < 1:
            raise ValueError(f"{where}.noise_amp must have shape (size,) with size >= 1, got "
                             f"shape {size}")
        if not isinstance(p.params, dict) or set(p.params) != set(p.model.param_names):
            raise ValueError(f"{where}.params must hold {p.model.param_names} of "
                             f"{type(p.model).__name__}, got {tuple(p.params)}")
        if not isinstance(p.initial, dict) or set(p.initial) != set(p.model.state_names):
            raise ValueError(f"{where}.initial must hold {p.model.state_names}, got "
                             f"{tuple(p.initial)}")
        fields = {"noise_amp": p.noise_amp, "bias": p.bias}
        fields.update(p.params)
        fields.update({k + "0": x for k, x in p.initial.items()})
        shapes = [jnp.shape(x) for x in fields.values() if hasattr(x, "shape")]
        common = max(shapes, key=shapes.count)
        if len(common) == 1 and common[0] >= 1 and shapes.count(common) > shapes.count(size):
            size = common       # noise_amp is the odd one out: name it, not every other field
        for field, x in fields.items():
            if x is None or not hasattr(x, "shape") or not hasattr(x, "dtype"):
                raise TypeError(f"{where}.{field} must be an array, got {type(x).__name__}")
            if x.shape != size:
                raise ValueError(f"{where}.{field} must have shape {size} (n = {size[0]} "
                                 f"neurons), got shape {x.shape}")
            if not jnp.issubdtype(x.dtype, jnp.floating):
                raise TypeError(f"{where}.{field} must be a floating array, got dtype {x.dtype}")
            dtype = x.dtype if dtype is None else dtype
            if x.dtype != dtype:
                raise TypeError(f"{where}.{field} must have the network's dtype ({dtype}), "
                                f"got {x.dtype}")
            floats[f"{where}.{field}"] = x
    for k, proj in enumerate(params.projections):
        if not isinstance(proj, Projection):
            raise TypeError(f"{name}.projections must hold izhijax.Projection, got "
                            f"{type(proj).__name__}")
        where = f"{name}.weights" if len(params.projections) == 1 else \
            f"{name}.projection({proj.name!r}).weights"
        if proj.plasticity is not None:
            if isinstance(proj.weights, LearnableDelayed):
                raise ValueError(f"{name}.projection({proj.name!r}).plasticity must be None with "
                                 f"LearnableDelayed weights (learn their delays and weights by "
                                 f"gradient); got {type(proj.plasticity).__name__}")
            if not isinstance(proj.plasticity, Plasticity):
                raise TypeError(f"{name}.projection({proj.name!r}).plasticity must be an "
                                f"izhijax.Plasticity (izj.plasticity.STDP(), Izhikevich2006()...) "
                                f"or None, got {type(proj.plasticity).__name__}")
            proj.plasticity.check(proj.weights, f"{name}.projection({proj.name!r})")
        if isinstance(proj.weights, Delayed) and proj.delay != 1:
            raise ValueError(f"{name}.projection({proj.name!r}).delay must be 1 with Delayed "
                             f"weights (they carry a delay per synapse), got {proj.delay}")
        try:
            s0, s1 = params.span(proj.source)
            t0, t1 = params.span(proj.target)
        except ValueError as err:
            raise ValueError(f"{name}.projection({proj.name!r}): {err}") from None
        _check_weights(proj.weights, (t1 - t0, s1 - s0), dtype, where, floats)
        if isinstance(proj.weights, LearnableDelayed):
            proj.weights.check_delays(f"{where}.delay")
    n_exc = params.config.n_exc
    if n_exc is not None and n_exc > params.n:
        raise ValueError(f"{name}.config.n_exc must be <= n = {params.n} neurons, got {n_exc}")
    check_finite(floats)
    for p in pops:
        amp = p.noise_amp
        if not is_traced(amp) and bool(np.any(np.asarray(amp) < 0)):
            amp = np.asarray(amp)
            i = int(np.argmax(amp < 0))
            where = f"{name}.population({p.name!r})" if len(pops) > 1 else name
            raise ValueError(f"{where}.noise_amp must be >= 0, got {amp[i].item()!r} "
                             f"at index {i}")
    _remember_checked(params)
    return params


def _check_weights(weights, shape, dtype, name, floats):
    """Weights of a projection: a dense ``(n_post, n_pre)`` array or a registered format whose
    sizes match; floating leaves of the network's dtype (collected in ``floats`` for the finite
    check)."""
    if connectivity.is_format(weights):
        wshape = getattr(weights, "shape", None)
        if wshape is not None and tuple(wshape) != tuple(shape):
            raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(wshape)}")
        for attr, size in (("n_post", shape[0]), ("n_pre", shape[1])):
            got = getattr(weights, attr)
            if got != size:
                raise ValueError(f"{name}.{attr} must be {size}, got {got}")
        for path, leaf in jax.tree_util.tree_leaves_with_path(weights):
            leaf_dtype = _dtype_of(leaf)
            if jnp.issubdtype(leaf_dtype, jnp.floating):
                leaf_name = name + jax.tree_util.keystr(path)
                if leaf_dtype != dtype:
                    raise TypeError(f"{leaf_name} must have the dtype of the network ({dtype}), "
                                    f"got {leaf_dtype}")
                floats[leaf_name] = leaf
        return
    if not hasattr(weights, "shape") or not hasattr(weights, "dtype"):
        raise TypeError(f"{name} must be an array W[post, pre] or a registered weight format "
                        f"{sorted(connectivity.formats())}, got {type(weights).__name__}")
    if tuple(weights.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (post, pre), got shape "
                         f"{tuple(weights.shape)}")
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating array, got dtype {weights.dtype}")
    if weights.dtype != dtype:
        raise TypeError(f"{name} must have the dtype of the network ({dtype}), got "
                        f"{weights.dtype}")
    floats[name] = weights


def check_key(key, name="key"):
    """Validate a PRNG key: a single typed key (``jax.random.key``) or a raw ``uint32[2]`` key.

    Returns:
        The key as a JAX array.

    Raises:
        TypeError: not a key (an int seed, floats, a wrong-length array).
        ValueError: an array of several typed keys.
    """
    if key is None:
        raise TypeError(f"{name} must be a PRNG key from jax.random.key(seed), got None")
    if isinstance(key, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a PRNG key from jax.random.key(seed), got "
                        f"{type(key).__name__} {key!r} (pass jax.random.key({key!r}))")
    try:
        key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a PRNG key from jax.random.key(seed), got "
                        f"{type(key).__name__}") from None
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name} must be a single PRNG key of shape (), got a key array of "
                             f"shape {key.shape}")
    elif key.dtype != jnp.uint32 or key.shape != (2,):
        raise TypeError(f"{name} must be a PRNG key from jax.random.key(seed) (or a raw uint32[2] "
                        f"key from jax.random.PRNGKey), got dtype {key.dtype} shape {key.shape}")
    return key


def check_n_steps(n_steps, name="n_steps"):
    """A positive Python or NumPy integer (not a bool, not a float). Returns it as ``int``."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"{name} must be a positive integer, got {n_steps!r}")
    return int(n_steps)


STEP_INDEX_MAX = {np.dtype(np.int32): 2**31 - 1, np.dtype(np.int64): 2**32 - 1}
"""Largest step index a run may reach, by the dtype of ``State.t``: int32 wraps to negative after
2^31 - 1, and the noise of step ``t`` is drawn from ``fold_in(key, t)``, which keeps 32 bits of
``t``, so an int64 index past 2^32 - 1 would repeat the noise of step ``t - 2^32``."""


def check_step_range(t, n_steps, name="state.t"):
    """Refuse a run of ``n_steps`` steps from step index ``t`` whose final state's index
    ``t + n_steps`` would pass the largest index of ``t``'s dtype (:data:`STEP_INDEX_MAX`): the index would wrap, or the noise repeat.

    ``t`` traced: nothing is checked (its value is not known). Returns ``None``.
    """
    if is_traced(t):
        return
    dtype = np.dtype(jnp.result_type(t))
    top = STEP_INDEX_MAX.get(dtype)
    if top is None:
        return                                 # check_state refuses the dtype
    start = int(t)
    end = start + int(n_steps)             # the final state's index (the next step's)
    if end > top:
        raise ValueError(
            f"{name} + n_steps would pass the largest step index of {dtype} ({top}): the run "
            f"starts at step {start} and asks for {int(n_steps)} steps (its final state would "
            f"be at step {end}); "
            + ("the index would wrap around. Start from step 0 (state.replace(t=0)) or use an "
               "int64 step index with jax_enable_x64" if dtype == np.int32 else
               "the noise would repeat (fold_in keeps 32 bits of t). Start from step 0 with a "
               "new key (jax.random.fold_in(key, epoch)) for longer runs"))


def check_state(state, params, name="state"):
    """Validate a :class:`izhijax.State` to start ``params`` from: shapes, dtypes, finite values.

    Raises:
        TypeError: not a ``State``, or a dtype differs from the network's.
        ValueError: a shape does not fit ``params`` (one dict of state variables per run of
            consecutive populations sharing a model, ``pulse: (max_delay, n)``, ``t: ()``) or a
            value is not finite.
    """
    if not isinstance(state, State):
        raise TypeError(f"{name} must be izhijax.State, got {type(state).__name__}")
    n, delay, dtype = params.n, params.max_delay, params.dtype
    blks = blocks(params)
    if not isinstance(state.neurons, tuple) or len(state.neurons) != len(blks):
        got = len(state.neurons) if isinstance(state.neurons, tuple) else type(state.neurons)
        raise ValueError(f"{name}.neurons must hold {len(blks)} dict(s) of state variables (one "
                         f"per run of populations sharing a model), got {got}")
    named = {}
    for k, ((model, lo, hi, _), blk) in enumerate(zip(blks, state.neurons)):
        if not isinstance(blk, dict) or set(blk) != set(model.state_names):
            raise ValueError(f"{name}.neurons[{k}] must hold {model.state_names}, got "
                             f"{tuple(blk) if isinstance(blk, dict) else type(blk).__name__}")
        for var in model.state_names:
            field = f"{name}.{var}" if len(blks) == 1 else f"{name}.neurons[{k}][{var!r}]"
            named[field] = (blk[var], (hi - lo,))
    named[f"{name}.pulse"] = (state.pulse, (delay, n))
    _check_synapses(state, params, name)
    for field, (x, expected) in list(named.items()) + [(f"{name}.t", (state.t, ()))]:
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"{field} must be an array, got {type(x).__name__}")
        if jnp.shape(x) != expected:
            raise ValueError(f"{field} must have shape {expected} (n = {n}, delay = {delay} "
                             f"from params), got shape {jnp.shape(x)}")
        got = np.dtype(x.dtype)
        if field == f"{name}.t":
            if got not in STEP_INDEX_MAX:
                raise TypeError(f"{name}.t must be an integer step index of dtype int32 (or "
                                f"int64), got dtype {got}" + (
                                    f" (it would wrap around after step {np.iinfo(got).max})"
                                    if jnp.issubdtype(got, jnp.integer) else ""))
            if not is_traced(x) and int(x) < 0:
                raise ValueError(f"{name}.t must be a step index >= 0, got {int(x)}")
        elif got != dtype:
            raise TypeError(f"{field} must have the dtype of params ({dtype}), got {got}")
    check_finite({f: x for f, (x, _) in named.items()})
    return state


def _check_synapses(state, params, name):
    """``state.synapses``: one entry per projection, shaped as :func:`init_synapses` makes them
    (spike rings of Delayed projections, learned weights and traces of plastic ones)."""
    syn = state.synapses
    if not isinstance(syn, tuple) or len(syn) != len(params.projections):
        got = len(syn) if isinstance(syn, tuple) else type(syn).__name__
        raise ValueError(f"{name}.synapses must hold one entry per projection "
                         f"({len(params.projections)}), got {got}: not a state of this network")
    expected = jax.eval_shape(lambda: init_synapses(params))
    for k, (want, got) in enumerate(zip(expected, syn)):
        where = f"{name}.synapses[{k}] (projection {params.projections[k].name!r})"
        if want is None:
            if got is not None:
                raise ValueError(f"{where} must be None (no per-synapse delays), got "
                                 f"{type(got).__name__}")
            continue
        if not isinstance(got, dict) or set(got) != set(want):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            raise ValueError(f"{where} must hold {sorted(want)}, got {keys}")
        for field in sorted(want):
            flat_w = jax.tree_util.tree_leaves_with_path(want[field])
            flat_g = jax.tree_util.tree_leaves(got[field])
            if len(flat_w) != len(flat_g):
                raise ValueError(f"{where}[{field!r}] does not have the structure of this "
                                 f"network's")
            for (p, a), b in zip(flat_w, flat_g):
                label = f"{where}[{field!r}]{jax.tree_util.keystr(p)}"
                if not hasattr(b, "shape") or tuple(jnp.shape(b)) != tuple(a.shape):
                    raise ValueError(f"{label} must have shape {tuple(a.shape)}, got "
                                     f"{getattr(b, 'shape', type(b).__name__)}")
                if jnp.result_type(b) != a.dtype:
                    raise TypeError(f"{label} must have dtype {a.dtype}, got "
                                    f"{jnp.result_type(b)}")
                if jnp.issubdtype(a.dtype, jnp.floating):
                    check_finite({label: b})


def check_inputs(inputs, n_steps, n, dtype, name="inputs"):
    """Validate an external current of shape ``(n_steps, n)``; return it as an array of ``dtype``."""
    if inputs is None:
        return None
    try:
        inputs = real_array(inputs, name, dtype)
    except TypeError as err:
        raise TypeError(f"{err} (expected currents of shape ({n_steps}, {n}))") from None
    if jnp.shape(inputs) != (n_steps, n):
        raise ValueError(f"{name} must have shape (n_steps, n) = ({n_steps}, {n}), "
                         f"got {jnp.shape(inputs)}")
    check_finite({name: inputs})
    return jnp.asarray(inputs, dtype)


def check_step_args(state, params, key, i_ext, name="step"):
    """Check the arguments of :func:`izhijax.step` (one step from ``state``); return the key and
    the current as arrays."""
    check_params(params)
    check_state(state, params)
    check_step_range(state.t, 1)
    key = check_key(key)
    if i_ext is not None:
        i_ext = real_array(i_ext, "i_ext", params.dtype)
        if jnp.shape(i_ext) != (params.n,):
            raise ValueError(f"i_ext must have shape (n,) = ({params.n},), got "
                             f"{jnp.shape(i_ext)}")
        check_finite({"i_ext": i_ext})
    return key, i_ext
