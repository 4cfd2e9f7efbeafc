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

import jax
import jax.numpy as jnp
import numpy as np

from .network import Config, Params, State, _ARRAY_FIELDS


def is_traced(x):
    """True if ``x`` is a tracer (inside ``jit``/``vmap``/``grad``): its values are not known."""
    return isinstance(x, jax.core.Tracer)


@jax.jit
def _finite_flags(arrays):
    return jnp.stack([jnp.all(jnp.isfinite(x)) for x in arrays])


def check_finite(named):
    """Raise ``ValueError`` naming the first array that holds a NaN or an infinity.

    Args:
        named: ``{name: array}``; traced arrays are skipped. One device round trip for all of them.
    """
    named = {k: x for k, x in named.items() if x is not None and not is_traced(x)
             and jnp.issubdtype(jnp.result_type(x), jnp.inexact)}
    if not named:
        return
    with jax.ensure_compile_time_eval():     # concrete arrays are checked now, even under a trace
        flags = np.asarray(_finite_flags([jnp.asarray(x) for x in named.values()]))
    for (name, x), ok in zip(named.items(), flags):
        if not ok:
            x = np.asarray(x)
            bad = np.argwhere(~np.isfinite(x))[0]
            where = f" at index {tuple(int(i) for i in bad)}" if x.ndim else ""
            raise ValueError(f"{name} must be finite, got {x[tuple(bad)].item()!r}{where} "
                             f"({int((~np.isfinite(x)).sum())} non-finite of {x.size})")


def check_params(params, name="params"):
    """Validate a :class:`izhijax.Params`: kind, shapes, dtypes, finite values, noise >= 0.

    Args:
        params: the parameters to check.
        name: how to call them in messages (e.g. ``"params"`` or ``"init_params"``).

    Returns:
        ``params`` unchanged.

    Raises:
        TypeError: ``params`` is not a ``Params``, its ``config`` not a ``Config``, or a field is not
            a floating array.
        ValueError: a field has the wrong shape (per-neuron fields ``(n,)``, weights ``(n, n)``,
            ``n`` taken from ``a``), is not finite, ``noise_amp`` is negative, or ``config.n_exc`` is
            larger than ``n``.
    """
    if not isinstance(params, Params):
        raise TypeError(f"{name} must be izhijax.Params, got {type(params).__name__}")
    if not isinstance(params.config, Config):
        raise TypeError(f"{name}.config must be izhijax.Config, got {type(params.config).__name__}")
    shape_a = jnp.shape(params.a)
    if len(shape_a) != 1 or shape_a[0] < 1:
        raise ValueError(f"{name}.a must have shape (n,) with n >= 1, got shape {shape_a}")
    n = shape_a[0]
    dtype = jnp.result_type(params.a)
    for field in _ARRAY_FIELDS:
        x = getattr(params, field)
        if field == "weights" and _is_structured(x):
            _check_structured_weights(x, n, dtype, f"{name}.weights")
            continue
        if x is None or not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"{name}.{field} must be an array, got {type(x).__name__}")
        expected = (n, n) if field == "weights" else (n,)
        if x.shape != expected:
            raise ValueError(f"{name}.{field} must have shape {expected} (n = {n} neurons, from "
                             f"{name}.a), got shape {x.shape}")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name}.{field} must be a floating array, got dtype {x.dtype}")
        if x.dtype != dtype:
            raise TypeError(f"{name}.{field} must have the dtype of {name}.a ({dtype}), "
                            f"got {x.dtype}")
    n_exc = params.config.n_exc
    if n_exc is not None and n_exc > n:
        raise ValueError(f"{name}.config.n_exc must be <= n = {n} neurons, got {n_exc}")
    check_finite({f"{name}.{f}": getattr(params, f) for f in _ARRAY_FIELDS
                  if not _is_structured(getattr(params, f))})
    amp = params.noise_amp
    if not is_traced(amp) and bool(np.any(np.asarray(amp) < 0)):
        amp = np.asarray(amp)
        i = int(np.argmax(amp < 0))
        raise ValueError(f"{name}.noise_amp must be >= 0 mV/ms, got {amp[i].item()!r} "
                         f"at index {i}")
    return params


def _is_structured(weights):
    """True for a connectivity pytree (event-driven, sparse or pre-scaled weights), not an array."""
    return not isinstance(weights, (jax.Array, np.ndarray)) and bool(
        jax.tree_util.tree_leaves(weights))


def _check_structured_weights(weights, n, dtype, name):
    """Weights given as a connectivity pytree: sizes (``shape``/``n_pre``/``n_post`` where the
    format has them) match ``n``; floating leaves have the network's dtype and are finite."""
    shape = getattr(weights, "shape", None)
    if shape is not None and tuple(shape) != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}) (n = {n} neurons), got {tuple(shape)}")
    for attr in ("n_pre", "n_post"):
        size = getattr(weights, attr, None)
        if size is not None and size != n:
            raise ValueError(f"{name}.{attr} must be {n} (n neurons), got {size}")
    floats = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(weights):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            leaf_name = name + jax.tree_util.keystr(path)
            if jnp.result_type(leaf) != dtype:
                raise TypeError(f"{leaf_name} must have the dtype of the network ({dtype}), "
                                f"got {jnp.result_type(leaf)}")
            floats[leaf_name] = leaf
    check_finite(floats)


def check_key(key, name="key"):
    """Validate a PRNG key: a single typed key (``jax.random.key``) or a raw ``uint32[2]`` key.

    Returns:
        The key as a JAX array.

    Raises:
        TypeError: not a key (an int seed, floats, a wrong-length array).
        ValueError: an array of several typed keys.
    """
    if isinstance(key, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a PRNG key from jax.random.key(seed), got "
                        f"{type(key).__name__} {key!r} (pass jax.random.key({key!r}))")
    try:
        key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    except TypeError:
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


def check_state(state, params, name="state"):
    """Validate a :class:`izhijax.State` to start ``params`` from: shapes, dtypes, finite ``v, u``.

    Raises:
        TypeError: not a ``State``, or a dtype differs from the parameters'.
        ValueError: a shape does not fit ``params`` (``v, u: (n,)``, ``pulse: (delay, n)``,
            ``t: ()``) or ``v``/``u``/``pulse`` hold a NaN or infinity.
    """
    if not isinstance(state, State):
        raise TypeError(f"{name} must be izhijax.State, got {type(state).__name__}")
    n, delay, dtype = params.n, params.config.delay, jnp.result_type(params.v0)
    for field, expected in (("v", (n,)), ("u", (n,)), ("pulse", (delay, n)), ("t", ())):
        x = getattr(state, field)
        if jnp.shape(x) != expected:
            raise ValueError(f"{name}.{field} must have shape {expected} (n = {n}, delay = {delay} "
                             f"from params), got shape {jnp.shape(x)}")
        got = jnp.result_type(x)
        if field == "t" and not jnp.issubdtype(got, jnp.integer):
            raise TypeError(f"{name}.t must be an integer step index, got dtype {got}")
        if field != "t" and got != dtype:
            raise TypeError(f"{name}.{field} must have the dtype of params ({dtype}), got {got}")
    check_finite({f"{name}.{f}": getattr(state, f) for f in ("v", "u", "pulse")})
    return state


def check_inputs(inputs, n_steps, n, dtype, name="inputs"):
    """Validate an external current of shape ``(n_steps, n)``; return it as an array of ``dtype``."""
    if inputs is None:
        return None
    if not is_traced(inputs):
        try:
            inputs = jnp.asarray(inputs, dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be an array of currents, shape ({n_steps}, {n}), got "
                            f"{type(inputs).__name__} ({err})") from None
    if jnp.shape(inputs) != (n_steps, n):
        raise ValueError(f"{name} must have shape (n_steps, n) = ({n_steps}, {n}), "
                         f"got {jnp.shape(inputs)}")
    check_finite({name: inputs})
    return jnp.asarray(inputs, dtype)
