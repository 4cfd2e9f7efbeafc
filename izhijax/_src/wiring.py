"""Connectivity builders: random wiring rules drawn as pre-major tables for :class:`connectivity.Sparse`.

Each builder returns ``post``, an int32 table of shape ``(n_pre, max_out)``: row ``i`` holds the sorted
targets of presynaptic neuron ``i``, padded with ``n_post`` (out of range). :func:`sparse` attaches
weights of that shape. The draws are made with NumPy (host memory, vectorised; fine up to millions of
neurons) from a generator seeded by the JAX key, so a key gives the same network on every machine.
"""

import math

import jax
import numpy as np

from .connectivity import EventDense, PreScaled, Sparse, check_buffers, default_buffers
from .connectivity import to_dense as _to_dense

_ROWS_PER_CHUNK = 8192


def _rng(key):
    """NumPy generator seeded by the bits of a JAX PRNG key."""
    if jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def fixed_probability(key, n_pre, n_post, p, *, self_connections=True):
    """Every pair ``(pre, post)`` connected independently with probability ``p`` (Brian2's ``connect(p=p)``).

    Drawn exactly as a Bernoulli process along each presynaptic row (geometric gaps between targets).

    Args:
        key: JAX PRNG key.
        n_pre, n_post: population sizes.
        p: connection probability in [0, 1].
        self_connections: allow ``pre == post`` (only meaningful when the populations are the same
            neurons, i.e. ``n_pre == n_post``); if False those pairs are never connected.

    Returns:
        ``post``: int32 table ``(n_pre, max_out)``, padded with ``n_post``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"connection probability must be in [0, 1], got {p!r}")
    rng = _rng(key)
    skip_self = not self_connections and n_pre == n_post
    span = n_post - 1 if skip_self else n_post
    if p == 0.0 or span <= 0:
        return np.full((n_pre, 1), n_post, np.int32)
    mean = p * span
    width = int(math.ceil(mean + 10.0 * math.sqrt(mean * (1.0 - p) + 1.0) + 10))
    # Each chunk of rows is packed as it is drawn (a row's targets are a prefix of its increasing
    # positions), so the peak is about twice the final table, not a list of n_pre small arrays
    # (N = 10^6, K = 100: 1.2 GB instead of 1.7 GB, and the arrays go back to the system).
    chunks = []
    for start in range(0, n_pre, _ROWS_PER_CHUNK):
        stop = min(n_pre, start + _ROWS_PER_CHUNK)
        while True:
            pos = np.cumsum(rng.geometric(p, size=(stop - start, width)), axis=1) - 1
            if np.all(pos[:, -1] >= span):  # every row's Bernoulli process ran past the end
                break
            width *= 2
        valid = pos < span
        if skip_self:
            pos = pos + (pos >= np.arange(start, stop)[:, None])
        used = max(1, int(valid.sum(axis=1).max(initial=0)))
        chunks.append(np.where(valid, pos, n_post)[:, :used].astype(np.int32))
        del pos, valid
    table = np.full((n_pre, max(c.shape[1] for c in chunks)), n_post, np.int32)
    for start, c in zip(range(0, n_pre, _ROWS_PER_CHUNK), chunks):
        table[start:start + c.shape[0], :c.shape[1]] = c
    return table


def fixed_indegree(key, n_pre, n_post, k, *, self_connections=True):
    """Every postsynaptic neuron receives exactly ``k`` synapses from distinct presynaptic neurons.

    The ``k`` sources of each neuron are a uniform random subset (drawn by rejecting repeats).

    Args:
        key: JAX PRNG key.
        n_pre, n_post: population sizes.
        k: in-degree, ``k <= n_pre`` (``k <= n_pre - 1`` without self-connections).
        self_connections: allow ``pre == post`` (when ``n_pre == n_post``).

    Returns:
        ``post``: int32 table ``(n_pre, max_out)``, padded with ``n_post``.
    """
    rng = _rng(key)
    skip_self = not self_connections and n_pre == n_post
    span = n_pre - 1 if skip_self else n_pre
    if not 0 <= k <= span:
        raise ValueError(f"in-degree k must be in [0, {span}], got {k!r}")
    src = np.sort(rng.integers(0, span, size=(n_post, k)), axis=1)
    while True:
        dup = np.zeros_like(src, dtype=bool)
        dup[:, 1:] = src[:, 1:] == src[:, :-1]
        if not dup.any():
            break
        src[dup] = rng.integers(0, span, size=int(dup.sum()))
        src.sort(axis=1)
    post = np.repeat(np.arange(n_post), k)
    pre = src.ravel()
    if skip_self:
        pre = pre + (pre >= post)
    return lists_to_table(pre, post, n_pre, n_post)


def lists_to_table(pre, post, n_pre, n_post):
    """Synapse lists ``pre[j] -> post[j]`` as a pre-major table (each row sorted by target)."""
    pre, post = np.asarray(pre, np.int64), np.asarray(post, np.int64)
    order = np.lexsort((post, pre))
    pre, post = pre[order], post[order]
    counts = np.bincount(pre, minlength=n_pre)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    table = np.full((n_pre, max(1, int(counts.max(initial=0)))), n_post, np.int32)
    table[pre, np.arange(len(pre)) - starts[pre]] = post
    return table


def sparse(post, w, n_post, buffers=None):
    """A :class:`connectivity.Sparse` from a target table and weights of the same shape.

    Args:
        post: int table ``(n_pre, max_out)`` padded with ``n_post`` (from a builder).
        w: weights in mV/ms per spike, shape ``(n_pre, max_out)``; padding entries are set to 0.
        n_post: number of postsynaptic neurons.
        buffers: spike-buffer sizes; default :func:`default_buffers`; ``()`` turns event-driven
            propagation off (every step touches every synapse).
    """
    post = jax.numpy.asarray(post, jax.numpy.int32)
    w = jax.numpy.where(post < n_post, jax.numpy.asarray(w), 0)
    buffers = default_buffers(post.shape[0]) if buffers is None else check_buffers(buffers)
    return Sparse(post=post, w=w, n_post=int(n_post), buffers=buffers)


def from_dense(weights, buffers=None):
    """The nonzero entries of a dense ``W[post, pre]`` as a :class:`connectivity.Sparse`."""
    weights = np.asarray(weights)
    post, pre = np.nonzero(weights)
    table = lists_to_table(pre, post, weights.shape[1], weights.shape[0])
    w = np.zeros(table.shape, weights.dtype)
    rows, cols = np.nonzero(table < weights.shape[0])
    w[rows, cols] = weights[table[rows, cols], rows]
    return sparse(table, w, weights.shape[0], buffers)


to_dense = _to_dense
