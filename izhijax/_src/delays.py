"""Per-synapse axonal delays: the :class:`Delayed` weight format and what arrives at each step.

A projection with :class:`Delayed` weights gives every synapse its own conduction delay of
``1..D`` steps (``D`` static). Its spikes wait in a ring buffer inside the state (the source
neurons' spikes of the last ``D`` steps, as fired-index lists of fixed size ``capacity`` and as a
0/1 vector for steps with more spikes), and at step ``t`` the synapses of delay ``d`` of the
neurons that fired at step ``t - d`` deliver their weight. Nothing of size ``D x n x n`` exists:
the synapses are stored per presynaptic neuron and per delay, ``(n_pre, D, L)`` with ``L`` the
most synapses one neuron has at one delay (for ``M`` synapses per neuron spread over ``D`` delays
``L`` is about ``M / D``, so the table holds about ``n_pre M`` entries whatever ``D`` is).

Work per step (event-driven): the synapses of the (source, delay) pairs that arrive now, padded to
the smallest of a few static list sizes that holds them (at most ``D x capacity / 3`` pairs of
``L`` synapses); a step whose last ``D`` steps include one with more than ``capacity`` spikes, or
with more pairs than the largest list, takes the path that reads every synapse
(``lax.switch``). Both give the same sums up to the order of the additions; no spike
is ever dropped. The event path adds the arrivals in the order Izhikevich's ``spnet`` does (the
most recent spikes first, within a step the highest neuron index first, each neuron's synapses in
table order).

Gradients: as for the other event-driven formats the JVP is that of the all-synapse path (linear
in the weights and in the spikes), so gradients with respect to the weights and, with
``Config(synapse_grad=True)``, through the delayed spikes equal those of a dense formulation.

Real-valued, learnable delays: :class:`izhijax.LearnableDelayed`
(:mod:`izhijax._src.learnable_delays`), a subclass with one real delay per table entry, delivers
the linear interpolation between the two neighbouring integer delays (differentiable in the
delay) through :meth:`Delayed.deliver`, the method the engine's :func:`arrive` calls.
"""

import dataclasses
import math
from functools import partial
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .connectivity import _batchable, register_format


@dataclasses.dataclass(frozen=True)
class Delayed:
    """Sparse synapses with an integer conduction delay each (steps), stored by delay.

    Build one with :func:`delayed` (from synapse lists) or :func:`to_delayed` (from another
    format and one delay).

    Attributes:
        post: target of each synapse, int32 ``(n_pre, D, L)``: ``post[i, d - 1, l]`` is the
            ``l``-th synapse of presynaptic neuron ``i`` with delay ``d`` steps; padding holds
            ``n_post`` (out of range, dropped).
        w: weight of each synapse in the target model's current unit per spike (mV/ms for the
            2003 model), ``(n_pre, D, L)``; 0 in the padding.
        incoming: the synapses onto each postsynaptic neuron, int32 ``(n_post, max_in)``, as flat
            indices into ``post.ravel()`` (padding ``post.size``): what plasticity touches when a
            neuron fires.
        n_post: number of postsynaptic neurons (static).
        capacity: spikes per step the event-driven path holds (static, >= 1).
    """

    post: jax.Array
    w: jax.Array
    incoming: jax.Array
    n_post: int = 0
    capacity: int = 32

    def __post_init__(self):
        cls = type(self).__name__
        shape = tuple(jnp.shape(self.post))
        if len(shape) != 3:
            raise ValueError(f"{cls}.post must have shape (n_pre, D, L), got {shape}")
        if tuple(jnp.shape(self.w)) != shape:
            raise ValueError(f"{cls}.w must have the shape of {cls}.post {shape} (the delay "
                             f"table), got {tuple(jnp.shape(self.w))}")
        inc = tuple(jnp.shape(self.incoming))
        if len(inc) != 2 or inc[0] != self.n_post:
            raise ValueError(f"{cls}.incoming must have shape (n_post={self.n_post}, max_in), "
                             f"got {inc}")
        for name in ("n_post", "capacity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{cls}.{name} must be an integer >= 1, got {value!r}")

    @property
    def n_pre(self):
        return self.post.shape[0]

    @property
    def max_delay(self):
        """``D``, the longest delay the table holds (steps)."""
        return self.post.shape[1]

    @property
    def width(self):
        """``L``, the most synapses of one neuron at one delay."""
        return self.post.shape[2]

    @property
    def dtype(self):
        return self.w.dtype

    @property
    def shape(self):
        """``(n_post, n_pre)``."""
        return (self.n_post, self.n_pre)

    @property
    def n_synapses(self):
        """Number of real (unpadded) synapses."""
        return int(np.sum(np.asarray(self.post) < self.n_post))

    def mask(self):
        """True where the table holds a synapse, ``(n_pre, D, L)``."""
        return self.post < self.n_post

    def synapses(self):
        """The real synapses as NumPy arrays ``(pre, post, delay, w)``, in table order."""
        post = np.asarray(self.post)
        pre, d, _ = np.nonzero(post < self.n_post)
        keep = post < self.n_post
        return pre, post[keep], d + 1, np.asarray(self.w)[keep]

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def deliver(self, w, arrivals, current):
        """``current`` ``(n_post,)`` plus the weights ``w`` ``(n_pre, D, L)`` of the synapses
        arriving now (:func:`arrive`, what the engine calls; a subclass with another delivery
        rule, :class:`izhijax._src.learnable_delays.LearnableDelayed`, overrides it)."""
        return _arrive(self.post, w, arrivals.src, arrivals.dly, arrivals.overflow,
                       arrivals.pairs, arrivals.ring, arrivals.slots, current)

    def propagate(self, spikes):
        """The pulse every delay of these spikes eventually delivers, summed (delays ignored)."""
        contrib = self.w * spikes.astype(self.w.dtype)[:, None, None]
        return jnp.zeros(self.n_post, self.w.dtype).at[self.post].add(contrib, mode="drop")

    def to_dense(self):
        """``W[post, pre]`` summed over delays (NumPy)."""
        pre, post, _, w = self.synapses()
        dense = np.zeros((self.n_post, self.n_pre), np.asarray(self.w).dtype)
        np.add.at(dense, (post, pre), w)
        return dense


jax.tree_util.register_dataclass(Delayed, data_fields=["post", "w", "incoming"],
                                 meta_fields=["n_post", "capacity"])
register_format(Delayed)


def default_capacity(n_pre):
    """Spikes per step of the event-driven path: ``n_pre / 16``, at least 32 (at most ``n_pre``)."""
    return int(min(n_pre, max(32, math.ceil(n_pre / 16))))


def _int_array(x, name):
    arr = np.asarray(x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got dtype {arr.dtype}"
                        + (" (delays are in steps: convert from ms with an explicit "
                           "np.rint(delay_ms / dt).astype(int))" if name == "delay" else ""))
    return arr.astype(np.int64)


def delayed(pre, post, delay, weights, *, n_pre, n_post, max_delay=None, capacity=None,
            dtype=None) -> Delayed:
    """Pack synapse lists into :class:`Delayed` weights.

    Args:
        pre, post: presynaptic and postsynaptic index of each synapse, integer arrays ``(E,)``.
        delay: conduction delay of each synapse in steps, integers ``1..max_delay``, ``(E,)``.
        weights: weight of each synapse, ``(E,)`` or a scalar (mV/ms per spike for the 2003
            model).
        n_pre, n_post: sizes of the source and target groups.
        max_delay: ``D`` (static); default the longest delay given. Delays above it are refused.
        capacity: spikes per step of the event-driven path (default :func:`default_capacity`).
        dtype: float dtype of the weights (default the weights' or JAX's default float).

    Returns:
        :class:`Delayed`; synapses of one neuron and one delay keep their order in the lists.

    Raises:
        TypeError: non-integer indices or delays.
        ValueError: lists of different lengths, an index out of range, a delay below 1 or above
            ``max_delay``.
    """
    for name, value in (("n_pre", n_pre), ("n_post", n_post)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    pre, post, delay = (_int_array(x, nm) for x, nm in ((pre, "pre"), (post, "post"),
                                                          (delay, "delay")))
    for name, arr in (("pre", pre), ("post", post), ("delay", delay)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-d array (one entry per synapse), got shape "
                             f"{arr.shape}")
    e = pre.shape[0]
    if post.shape[0] != e or delay.shape[0] != e:
        raise ValueError(f"pre, post and delay must have one entry per synapse: lengths "
                         f"{pre.shape[0]}, {post.shape[0]}, {delay.shape[0]}")
    if dtype is None:
        dtype = (np.asarray(weights).dtype if hasattr(weights, "dtype") and
                 np.issubdtype(np.asarray(weights).dtype, np.floating) else jnp.result_type(float))
    w = np.asarray(weights)
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)) \
            or w.dtype == bool:
        raise TypeError(f"weights must be real numbers, got dtype {w.dtype}")
    w = np.broadcast_to(w, (e,)) if w.ndim == 0 else w
    if w.shape != (e,):
        raise ValueError(f"weights must be a scalar or have one entry per synapse ({e},), got "
                         f"shape {w.shape} (the delay table does not match the weights)")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    if e and (pre.min() < 0 or pre.max() >= n_pre):
        raise ValueError(f"pre must lie in [0, n_pre={n_pre}), got [{pre.min()}, {pre.max()}]")
    if e and (post.min() < 0 or post.max() >= n_post):
        raise ValueError(f"post must lie in [0, n_post={n_post}), got "
                         f"[{post.min()}, {post.max()}]")
    if e and delay.min() < 1:
        raise ValueError(f"delay must be >= 1 step, got {delay.min()}")
    d_max = int(delay.max()) if e else 1
    if max_delay is None:
        max_delay = d_max
    if isinstance(max_delay, bool) or not isinstance(max_delay, numbers.Integral) or max_delay < 1:
        raise ValueError(f"max_delay must be an integer >= 1, got {max_delay!r}")
    if d_max > max_delay:
        raise ValueError(f"delay must be <= max_delay={max_delay}, got {d_max}")
    D = int(max_delay)
    slot, L = _layout(pre, delay, D)
    post_t = np.full((n_pre, D, L), n_post, np.int32)
    w_t = np.zeros((n_pre, D, L), dtype)
    post_t[pre, delay - 1, slot] = post
    w_t[pre, delay - 1, slot] = w
    capacity = default_capacity(n_pre) if capacity is None else min(int(capacity), n_pre)
    return Delayed(post=jnp.asarray(post_t), w=jnp.asarray(w_t),
                   incoming=jnp.asarray(_incoming(post_t, n_post)), n_post=int(n_post),
                   capacity=capacity)


def _layout(pre, delay, D):
    """Where each synapse goes in a ``(n_pre, D, L)`` table: entry ``[pre, delay - 1, slot]``.

    Synapses of one presynaptic neuron and one delay keep their order in the lists. Returns
    ``(slot, L)``: ``slot`` int ``(E,)`` in list order, ``L`` the fullest (neuron, delay).
    """
    e = pre.shape[0]
    order = np.lexsort((np.arange(e), delay, pre))          # by pre, then delay, stable
    group = pre[order] * D + (delay[order] - 1)
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1] if e else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, e]) if e else np.zeros(0, np.int64)
    slot = np.empty(e, np.int64)
    slot[order] = np.arange(e) - np.repeat(starts, counts)
    return slot, (int(counts.max()) if e else 1)


def _incoming(post_t, n_post):
    """``(n_post, max_in)`` flat synapse indices onto each neuron, ascending (padding: size)."""
    flat = post_t.ravel()
    ids = np.flatnonzero(flat < n_post)
    tgt = flat[ids]
    order = np.argsort(tgt, kind="stable")
    ids, tgt = ids[order], tgt[order]
    counts = np.bincount(tgt, minlength=n_post)
    width = max(int(counts.max()) if counts.size else 0, 1)
    out = np.full((n_post, width), flat.size, np.int64)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    out[tgt, np.arange(ids.size) - np.repeat(starts, counts)] = ids
    if flat.size >= 2**31:
        raise ValueError(f"a Delayed table of {flat.size} entries needs 64-bit indices")
    return out.astype(np.int32)


def to_delayed(weights, delay=1, *, max_delay=None, capacity=None) -> Delayed:
    """Other weights (a dense ``W[post, pre]``, :class:`~izhijax.connectivity.Sparse`,
    :class:`~izhijax.connectivity.EventDense`) as :class:`Delayed` with one delay for all.

    ``delay`` may also be an integer array of the shape of the dense ``W`` (a delay per synapse,
    read where ``W`` is non-zero). Zero weights are not synapses.
    """
    from .connectivity import to_dense
    dense = np.asarray(to_dense(weights))
    post, pre = np.nonzero(dense)
    d = np.asarray(delay)
    if d.ndim and d.shape != dense.shape:
        raise ValueError(f"delay must be one integer or an array of the weights' shape "
                         f"{dense.shape} (post, pre), got shape {d.shape}")
    d = d[post, pre] if d.ndim else np.full(post.shape, d)
    return delayed(pre, post, _int_array(d, "delay"), dense[post, pre], n_pre=dense.shape[1],
                   n_post=dense.shape[0], max_delay=max_delay, capacity=capacity,
                   dtype=dense.dtype)


# --- the ring buffer and the arrivals -----------------------------------------------------------


def init_ring(fmt: Delayed, dtype):
    """The empty spike ring of a :class:`Delayed` projection: no spike in flight."""
    D, K, n_pre = fmt.max_delay, fmt.capacity, fmt.n_pre
    return {"fired": jnp.full((D, K), n_pre, jnp.int32), "over": jnp.zeros((D,), bool),
            "spikes": jnp.zeros((D, n_pre), dtype)}


def fired_desc(spikes, size):
    """The ``size`` highest fired indices, descending, and their validity (``(size,)`` each)."""
    n = spikes.shape[0]
    kind = jnp.float32 if n < 2**24 else jnp.int32
    key = jnp.where(spikes != 0, jnp.arange(1, n + 1, dtype=kind), 0)
    val, idx = jax.lax.top_k(key, size)
    valid = val > 0
    return jnp.where(valid, idx, n).astype(jnp.int32), valid


def record(ring, spikes, t):
    """The ring after step ``t`` with this step's source spikes ``(n_pre,)`` in slot ``t mod D``."""
    D, K = ring["fired"].shape
    slot = jnp.mod(t, D).astype(jnp.int32)
    idx, _ = fired_desc(spikes, K)
    over = jnp.sum(spikes != 0, dtype=jnp.int32) > K
    return {"fired": ring["fired"].at[slot].set(idx), "over": ring["over"].at[slot].set(over),
            "spikes": ring["spikes"].at[slot].set(spikes.astype(ring["spikes"].dtype))}


def maybe(pred, fn, carry):
    """``fn(carry)`` if ``pred`` else ``carry``, as a loop of 0 or 1 iterations.

    Unlike ``lax.cond``, whose outputs XLA:CPU copies (a 640 kB eligibility table every step),
    a ``while_loop`` updates its carry in place, provided it is the first thing in the step to
    touch the carry's arrays (a read before it makes XLA copy them too): rare work (a
    consolidation, an overflow) goes first.
    """
    def body(s):
        return False, fn(s[1])
    return jax.lax.while_loop(lambda s: s[0], body, (jnp.asarray(pred), carry))[1]


def chunk_scatter(fn, chunk, count, target, lists, fills, *rest):
    """``target`` (any shape) plus the scatter-add of the first ``count`` rows of ``lists``.

    ``fn(*rows, *rest) -> (ids, val)`` gives, for the same rows of each of ``lists``, flat ids
    into ``target`` (out of range: dropped) and the values to add; rows past ``count`` must add
    nothing (padding, as the rows of ``fills``). The rows go ``chunk`` at a
    time (``lists`` padded with ``fills``), in order, in one ``while_loop`` of
    ``ceil(count / chunk)`` iterations that XLA runs in place on ``target``; the additions are
    those of the whole list in the same order (the same bits), with the work of the rows that
    hold something. Under ``vmap``: the whole list, for the whole batch.

    The plasticity's event updates of a 640 kB table go through it (polychronization network:
    chunks of 20 of 333 arriving (source, delay) pairs, 8 of 33 fired targets; 0.8x the step
    of one padded list each, bitwise the same).
    """
    shape = target.shape
    n = lists[0].shape[0]
    k = -(-n // chunk)

    def add(args, tgt):
        ids, val = fn(*args)
        return tgt.reshape(-1).at[ids.reshape(-1)].add(val.reshape(-1),
                                                       mode="drop").reshape(shape)

    nl = len(lists)

    def one(count, target, *args):
        lists, rest = args[:nl], args[nl:]
        padded = [jnp.concatenate([x, jnp.full((k * chunk - n,) + x.shape[1:], f, x.dtype)])
                  for x, f in zip(lists, fills)]

        def body(c):
            i, tgt = c
            part = [jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk) for x in padded]
            return i + 1, add(tuple(part) + tuple(rest), tgt)
        return jax.lax.while_loop(lambda c: (c[0] * chunk < count) & (c[0] < k), body,
                                  (jnp.zeros((), jnp.int32), target))[1]

    def every(count, target, *args):
        return add(args, target)

    return _batchable(one, every)(count, target, *lists, *rest)


class Arrivals:
    """Which synapses deliver at step ``t``: rows ``d - 1`` of the ring hold the spikes of step
    ``t - d``; the event path works on them compacted into one list of ``(source, delay)``
    pairs (delay by delay, highest source first), of static size :func:`arrival_capacity`.

    Attributes: ``src``, ``dly`` ``(K2,)`` source index (padding ``n_pre``) and delay index
    (delay - 1) of each pair; ``spikes`` ``(D, n_pre)``; ``overflow``: some step had more spikes
    than the ring holds, or the pairs do not fit in ``K2`` (then the all-synapse path);
    ``pairs``: how many pairs are valid (int32; the event path pads them to the smallest list
    size that holds them); ``fmt`` the :class:`Delayed` weights.
    """

    def __init__(self, src, dly, ring, slots, overflow, fmt=None, pairs=None):
        self.src, self.dly, self.ring, self.slots = src, dly, ring, slots
        self.overflow, self.fmt = overflow, fmt
        self.n_pre = ring.shape[1]
        self.pairs = jnp.sum(src < self.n_pre, dtype=jnp.int32) if pairs is None else pairs

    @property
    def spikes(self):
        """``(D, n_pre)``: row ``d - 1`` the source spikes of step ``t - d`` (a reordered copy of
        the ring: for the all-synapse paths only)."""
        return self.ring[self.slots]

    @classmethod
    def at(cls, fmt, ring, t):
        """The arrivals at step ``t`` from a projection's spike ring."""
        D, K = ring["fired"].shape
        n_pre = ring["spikes"].shape[1]
        K2 = arrival_capacity(D, K)
        slots = jnp.mod(t - jnp.arange(1, D + 1), D).astype(jnp.int32)
        rows = ring["fired"][slots]                             # (D, K), valid ones first
        valid = rows < n_pre
        counts = jnp.sum(valid, axis=1, dtype=jnp.int32)
        start = jnp.cumsum(counts) - counts
        pos = jnp.where(valid, start[:, None] + jnp.arange(K, dtype=jnp.int32), K2)
        src = jnp.full((K2,), n_pre, jnp.int32).at[pos].set(rows, mode="drop")
        dly = jnp.zeros((K2,), jnp.int32).at[pos].set(
            jnp.broadcast_to(jnp.arange(D, dtype=jnp.int32)[:, None], (D, K)), mode="drop")
        pairs = jnp.sum(counts)
        overflow = jnp.any(ring["over"]) | (pairs > K2)
        return cls(src, dly, ring["spikes"], slots, overflow, fmt, pairs)

    def full_mask(self):
        """All-synapse path: which synapses deliver now, bool ``(n_pre, D, L)``."""
        return (self.spikes.T[:, :, None] != 0) & (self.fmt.post < self.fmt.n_post)


def event_ids(fmt, src, dly, enabled=True):
    """``(ids, post, valid)``, ``(m, L)`` each, of the synapses of the (source, delay) pairs
    ``src``, ``dly`` ``(m,)`` (source padding ``n_pre``): flat ids into the table (padding its
    size) and targets (padding ``n_post``); none where ``enabled`` is False."""
    D, L = fmt.max_delay, fmt.width
    valid = (src < fmt.n_pre) & enabled
    r = jnp.where(valid, src, 0)
    ids = ((r * D + dly) * L)[:, None] + jnp.arange(L, dtype=jnp.int32)
    post = fmt.post.reshape(-1)[ids]
    ok = valid[:, None] & (post < fmt.n_post)
    return jnp.where(ok, ids, fmt.post.size), jnp.where(ok, post, fmt.n_post), ok


def arrival_capacity(max_delay, capacity):
    """``K2``: (source, delay) pairs the event path delivers per step, a third of the ring
    (``D capacity / 3``, at least ``capacity``): room for the ring's average fill to be a third
    of a burst-sized step (the polychronization network overflows in 0.5 % of its steps)."""
    return int(min(max_delay * capacity, max(capacity, (max_delay * capacity) // 3)))


def arrive(fmt: Delayed, w, arrivals: Arrivals, current):
    """``current`` plus the weights ``w`` (``(n_pre, D, L)``) of the synapses arriving now
    (``fmt.deliver``: a :class:`LearnableDelayed` table interpolates between delays)."""
    return fmt.deliver(w, arrivals, current)


def _full(post, w, spikes, current):
    # the event path's order of additions: delay by delay, the highest source index first
    contrib = w * spikes.T.astype(w.dtype)[:, :, None]
    order = lambda x: jnp.swapaxes(x, 0, 1)[:, ::-1, :]
    return current.at[order(post)].add(order(contrib), mode="drop")


def _event(post, w, src, dly, ring, slots, current):
    D, L = post.shape[1], post.shape[2]
    n_pre, n_post = post.shape[0], current.shape[0]
    valid = src < n_pre
    r = jnp.where(valid, src, 0)
    ids = ((r * D + dly) * L)[:, None] + jnp.arange(L, dtype=jnp.int32)
    coef = jnp.where(valid, ring[slots[dly], r], 0).astype(w.dtype)   # (K2,): 1 for a spike
    tgt = jnp.where(valid[:, None], post.reshape(-1)[ids], n_post)    # (K2, L)
    return current.at[tgt].add(w.reshape(-1)[ids] * coef[:, None], mode="drop")


def _rungs(k2):
    """List sizes of an event path: ``k2`` and rungs of a quarter, a sixteenth, ... down to 8
    (the polychronization network: 20, 83, 333 (source, delay) pairs for the excitatory
    projection, 8, 32 for the inhibitory one; a step delivers through the smallest that holds
    its pairs: its step 1.2x faster than with ``k2`` alone, compile time +0.1 s; the
    plasticity's depression and potentiation go through the smallest rung as a chunk size,
    :func:`chunk_scatter`)."""
    sizes, m = [k2], k2
    while m // 4 >= 8:
        m //= 4
        sizes.append(m)
    return tuple(sorted(sizes))


def _arrive_one(post, w, src, dly, overflow, pairs, ring, slots, current):
    # a switch is cheap here: its output (the current) is small, the tables are only read. The
    # valid pairs come first in src, so the smallest rung holding them adds the same values in
    # the same order as the full list would.
    sizes = _rungs(src.shape[0])
    branch = jnp.where(overflow, len(sizes), jnp.sum(pairs > jnp.asarray(sizes[:-1], jnp.int32)))
    event = [lambda m=m: _event(post, w, src[:m], dly[:m], ring, slots, current) for m in sizes]
    return jax.lax.switch(branch, event + [lambda: _full(post, w, ring[slots], current)])


def _arrive_all(post, w, src, dly, overflow, pairs, ring, slots, current):
    return _full(post, w, ring[slots], current)


# Under vmap (a batch of networks) the switch would run every branch (a select); the batch runs
# the all-synapse path alone, whose additions are in the event path's order (the same bits).
_arrive_impl = _batchable(_arrive_one, _arrive_all)


@jax.custom_jvp
def _arrive(post, w, src, dly, overflow, pairs, ring, slots, current):
    return _arrive_impl(post, w, src, dly, overflow, pairs, ring, slots, current)


@_arrive.defjvp
def _arrive_jvp(primals, tangents):
    post, w, src, dly, overflow, pairs, ring, slots, current = primals
    _, dw, _, _, _, _, dr, _, dc = tangents
    out = _arrive(post, w, src, dly, overflow, pairs, ring, slots, current)
    zero = jnp.zeros_like(current)
    return out, dc + _full(post, dw, ring[slots], zero) + _full(post, w, dr[slots], zero)


from . import learnable_delays  # noqa: E402,F401  (registers LearnableDelayed, a Delayed subclass)
