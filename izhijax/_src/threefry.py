"""The noise of a block of steps, bit for bit ``jax.random``'s, with the Threefry rounds unrolled.

``unit_noise(key, t, ...)`` (:mod:`izhijax.network`) draws step ``t``'s noise with
``jax.random.normal(fold_in(key, t), (n,))``. On CPU, JAX lowers the Threefry-2x32 hash as a rolled
loop of 5 iterations (to keep compile times short), so every round's intermediate arrays go through
memory. :func:`unit_noise_block` computes the same bits for the steps ``t .. t + size - 1`` with the
20 rounds written out in ``jnp`` operations that XLA fuses into one kernel, then applies
``jax.random``'s own bits-to-float transforms: the values are identical (tests compare them with
``jax.random`` for both float dtypes and noise kinds). It does this for JAX's default PRNG
(``threefry2x32`` keys with ``jax_threefry_partitionable``, the default since JAX 0.5) and falls
back to the vmapped ``jax.random`` draw for any other key or setting.

Threefry-2x32-20: Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2,
3", SC'11 (the Random123 generators); the rotation constants and key schedule are JAX's.
"""

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(x, d):
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def threefry2x32(k1, k2, x1, x2):
    """Threefry-2x32 with 20 rounds (JAX's ``threefry_2x32`` hash), elementwise and unrolled.

    Args:
        k1, k2: the two key words, uint32 arrays broadcastable against ``x1``.
        x1, x2: the two counter words, uint32 arrays of the same shape.

    Returns:
        ``(y1, y2)``: the two output words, uint32, the shape of ``x1``.
    """
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ _rotl(x2, r)
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _fast_path(key):
    return (jax.random.key_impl(key) == jax.random.key_impl(jax.random.key(0))
            and str(jax.random.key_impl(key)) == "threefry2x32"
            and jax.config.jax_threefry_partitionable)


def unit_noise_block(key, t0, size, n, dtype, kind, neurons=None):
    """Unit noise of steps ``t0 .. t0 + size - 1``: row ``j`` is ``unit_noise(key, t0 + j, (n,), ...)``.

    Args:
        key: PRNG key of the run (a typed key).
        t0: first step (int scalar, may be traced).
        size: number of steps (static).
        n: neurons per step (static).
        dtype: float32 or float64.
        kind: ``"normal"`` (``randn``) or ``"uniform"`` (``U(0, 1)``).
        neurons: optional int array ``(m,)`` (may be traced): draw only these neurons' columns
            (each neuron's value is its Threefry counter's, so a device of a neuron-sharded run,
            :mod:`izhijax._src.shard`, draws its own neurons' noise; an index past ``n``, padding,
            gets some value).

    Returns:
        Array of shape ``(size, n)`` (``(size, m)`` with ``neurons``), bit for bit the per-step
        ``jax.random`` draws.
    """
    from .network import unit_noise
    steps = t0 + jnp.arange(size, dtype=jnp.asarray(t0).dtype)
    dtype = jnp.dtype(dtype)
    if not _fast_path(key) or dtype not in (jnp.float32, jnp.float64) or n >= 2**32 \
            or kind not in ("normal", "uniform"):
        full = jax.vmap(lambda t: unit_noise(key, t, (n,), dtype, kind))(steps)
        return full if neurons is None else full[:, jnp.clip(neurons, 0, n - 1)]
    keys = jax.random.key_data(jax.vmap(lambda t: jax.random.fold_in(key, t))(steps))
    k1, k2 = keys[:, :1], keys[:, 1:]                                   # (size, 1) each
    count = (jnp.arange(n, dtype=jnp.uint32) if neurons is None
             else jnp.asarray(neurons).astype(jnp.uint32))[None, :]
    b1, b2 = threefry2x32(k1, k2, jnp.zeros_like(count), count)         # (size, n)
    return _unit(b1, b2, dtype, kind)


def _unit(b1, b2, dtype, kind):
    """``jax.random``'s bits-to-float transforms of the two Threefry output words."""
    if dtype == jnp.float32:
        bits, one, nmant = b1 ^ b2, np.float32(1.0), 23
    else:
        bits = (b1.astype(jnp.uint64) << np.uint64(32)) | b2.astype(jnp.uint64)
        one, nmant = np.float64(1.0), 52
    width = 8 * dtype.itemsize
    float_bits = (bits >> np.array(width - nmant, bits.dtype)) | np.array(one.view(bits.dtype))
    floats = jax.lax.bitcast_convert_type(float_bits, dtype) - one    # U[0, 1)
    if kind == "uniform":
        return jnp.maximum(np.array(0, dtype), floats)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    hi = np.array(1.0, dtype)
    u = jnp.maximum(lo, floats * (hi - lo) + lo)
    return np.array(np.sqrt(2), dtype) * jax.lax.erf_inv(u)


def uniform(key, shape, dtype):
    """``jax.random.uniform(key, shape, dtype)``, bit for bit, for a 1-D or 2-D ``shape``.

    With the fast path (:func:`rows_fast_path`) the draw is :func:`uniform_rows` of the whole
    table, whose unrolled rounds compile in about half the time of ``jax.random``'s loop (the
    Fig. 3 network's four draws: 0.75-0.9 s against 1.4-1.5 s per network size on the Intel Xeon
    VM); otherwise ``jax.random.uniform`` itself.
    """
    shape = tuple(int(x) for x in shape)
    if len(shape) in (1, 2):
        table = shape if len(shape) == 2 else (1,) + shape
        out = uniform_rows(key, 0, table[0], table, dtype)
        if out is not None:
            return out.reshape(shape)
    return jax.random.uniform(key, shape, dtype)


uniform_jit = jax.jit(uniform, static_argnums=(1, 2))
""":func:`uniform` compiled (for calls outside ``jit``; one program per shape and dtype)."""


def rows_fast_path(key, shape, dtype):
    """Whether :func:`uniform_rows` can draw blocks of a ``shape`` draw of this key and dtype."""
    return (_fast_path(key) and jnp.dtype(dtype) in (jnp.float32, jnp.float64)
            and shape[0] * shape[1] < 2**32)


def uniform_rows(key, row0, rows, shape, dtype):
    """Rows ``row0 .. row0 + rows - 1`` of ``jax.random.uniform(key, shape, dtype)``, bit for bit.

    With JAX's default PRNG the element at flat index ``i`` of a draw of ``shape`` is the Threefry
    hash of the counter ``i``, so a block of rows can be drawn alone (a table of 10^8 weights
    drawn in blocks needs no table-sized temporaries: :func:`izhijax.scaled_izhikevich2003`).

    Args:
        key: typed PRNG key of the whole draw.
        row0: first row (int scalar, may be traced).
        rows: number of rows (static).
        shape: ``(n_rows, m)`` of the whole draw (static).
        dtype: float32 or float64.

    Returns:
        ``(rows, m)`` array; None where the fast path does not apply (another PRNG, or a draw of
        2^32 values or more): draw the whole table with ``jax.random.uniform`` then.
    """
    if not rows_fast_path(key, shape, dtype):
        return None
    m, dtype = shape[1], jnp.dtype(dtype)
    k = jax.random.key_data(key)
    first = (jnp.asarray(row0).astype(jnp.uint32) * np.uint32(m))
    count = first + jnp.arange(rows * m, dtype=jnp.uint32).reshape(rows, m)
    b1, b2 = threefry2x32(k[0], k[1], jnp.zeros_like(count), count)
    return _unit(b1, b2, dtype, "uniform")
