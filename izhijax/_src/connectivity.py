"""Synaptic propagation: how the spikes of one step become the next step's input pulse.

``Params.weights`` holds one of three formats; :func:`propagate` dispatches on it:

======================  ==========================================  ==================================
format                  storage                                     work per step
======================  ==========================================  ==================================
array ``W[post, pre]``  dense, post-major ``(n_post, n_pre)``       ``W s``: every synapse
:class:`EventDense`     dense, pre-major ``(n_pre, n_post)``        the rows of the neurons that fired
:class:`Sparse`         pre-major table ``(n_pre, max_out)`` (ELL)  the rows of the neurons that fired
======================  ==========================================  ==================================

Event-driven propagation (the last two) gathers the indices of this step's spikes into a buffer of
fixed size (one ``lax.top_k`` of the fired neurons' reversed indices, the equivalent of
``jnp.nonzero(size=...)``) and touches only those neurons' outgoing synapses. The
buffer sizes are static (``buffers``, increasing, by default a geometric ladder: see
:func:`default_buffers`); each step ``lax.switch`` picks the smallest buffer that holds every spike,
so a step costs at most the ladder's factor times the synapses of the neurons that fired, and a step
with more spikes than the largest buffer (a population burst) takes the path that handles every
neuron (``lax.switch``'s last branch). No spike is ever dropped, and every path gives the same
sums up to the order of the additions.

Batches: under ``jax.vmap`` (a sweep, a vmapped fit) the ladder would run all its branches for
every network (a batched ``lax.switch`` becomes a ``select``), so a batch takes the all-synapse
path at once instead: one matrix-matrix product for :class:`EventDense` weights shared by the batch
(``jax.custom_batching.custom_vmap``; the single network keeps its ladder).

Gradients: spikes are 0/1 floats carrying a surrogate gradient even where they are 0, so the
derivative of the pulse with respect to the spikes involves every synapse. The event-driven formats
therefore define their JVP with the all-synapse path (linear in the weights and in the spikes):
forward values are event-driven and exact, gradients equal those of the dense formulation.

Builders in :mod:`izhijax.wiring` (``fixed_probability``, ``fixed_indegree``) draw connectivity as index lists;
:func:`izhijax.wiring.sparse` packs a table and its weights into a :class:`Sparse`.
"""

import dataclasses
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np


def default_buffers(n_pre, first=1 / 256, last=1 / 2, factor=2**0.5, least=16):
    """Spike-buffer ladder: sizes from ``first * n_pre`` to ``last * n_pre``, each ``factor`` x the last.

    A step's propagation then costs at most ``factor`` times the synapses of the neurons that fired
    (unless more than ``last * n_pre`` fire: then every synapse is touched). Sizes are at least
    ``least`` and at most ``n_pre``.

    Args:
        n_pre: number of presynaptic neurons.
        first, last: smallest and largest buffer as fractions of ``n_pre``.
        factor: ratio of successive buffers (> 1). The default sqrt(2) was faster than 2 and 4 at
            N = 10,000 and 100,000 (same-process A/B: 13 % and 8 % less time per step than 2) for
            about 0.5 s more compile time.
        least: smallest buffer in neurons.

    Returns:
        Increasing tuple of ints.
    """
    sizes, size = set(), max(first * n_pre, 1.0)
    while size <= last * n_pre * (1 + 1e-9):
        sizes.add(min(n_pre, max(least, int(round(size)))))
        size *= factor
    return tuple(sorted(sizes))


def default_dense_buffers(n_pre):
    """Ladder for :class:`EventDense` (rows of ``n_post`` weights): ``n_pre / 128`` to ``n_pre / 2``, x 2.

    For the Fig. 3 network (8, 16, 31, 62, 125, 250, 500); in a same-process A/B it took 18.4 us per
    step against 19.6 for (16, 62, 250) and 21.4 for (32, 128), compiling in 0.95 s against 0.8.
    """
    return default_buffers(n_pre, first=1 / 128, last=1 / 2, factor=2, least=8)


@dataclasses.dataclass(frozen=True)
class EventDense:
    """Dense weights stored pre-major for event-driven propagation.

    Attributes:
        w: weights ``w[pre, post]`` in mV/ms per spike, shape ``(n_pre, n_post)`` (the transpose of
            the dense ``W[post, pre]``).
        buffers: static, increasing sizes of the spike buffers (see the module docstring).
    """

    w: jax.Array
    buffers: tuple = ()

    @property
    def n_pre(self):
        return self.w.shape[-2]

    @property
    def n_post(self):
        return self.w.shape[-1]

    @property
    def dtype(self):
        return self.w.dtype

    def propagate(self, spikes):
        return _event_dense(self.buffers, self.w, spikes)

    def to_dense(self):
        return np.asarray(self.w).T

    # The dense view: ``W[post, pre]``, as the weights of a dense network read. Since
    # ``izhikevich2003`` builds event-driven weights by default, scripts written for dense
    # weights (``net.weights * g``, ``net.weights[:, :800]``, ``np.asarray(net.weights)``) keep
    # working: arithmetic broadcasts against ``W[post, pre]`` and returns EventDense weights with
    # the same buffers; indexing and ``np.asarray`` return arrays of the dense view.

    @property
    def shape(self):
        """Shape of the dense view ``W[post, pre]``: ``(n_post, n_pre)``."""
        return self.w.shape[:-2] + (self.w.shape[-1], self.w.shape[-2])

    @property
    def T(self):
        """The transposed dense view, ``W.T`` = ``w[pre, post]`` (an array)."""
        return self.w

    def __getitem__(self, index):
        return jnp.swapaxes(self.w, -1, -2)[index]

    __array_ufunc__ = None      # ndarray * EventDense defers to __rmul__ (stays EventDense)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.to_dense(), dtype=dtype)

    def _scaled(self, other, op):
        if is_format(other):
            raise TypeError(f"EventDense weights combine with numbers or arrays broadcasting against "
                            f"W[post, pre] {self.shape}, got {type(other).__name__}")
        other = jnp.asarray(other)
        try:
            fits = other.ndim <= 2 and np.broadcast_shapes(other.shape, self.shape[-2:]) == \
                self.shape[-2:]
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"EventDense weights: an operand of shape {other.shape} does not "
                             f"broadcast against W[post, pre] of shape {self.shape[-2:]}")
        t = jnp.swapaxes(jnp.broadcast_to(other, self.shape[-2:]), -1, -2) if other.ndim else other
        return EventDense(w=op(self.w, t), buffers=self.buffers)

    def __mul__(self, other):
        return self._scaled(other, jnp.multiply)

    def __rmul__(self, other):
        return self._scaled(other, lambda w, t: jnp.multiply(t, w))

    def __truediv__(self, other):
        return self._scaled(other, jnp.divide)

    def __neg__(self):
        return EventDense(w=-self.w, buffers=self.buffers)


@dataclasses.dataclass(frozen=True)
class Sparse:
    """Sparse weights as a pre-major table of fixed width (ELL format).

    Row ``i`` lists the synapses of presynaptic neuron ``i``; rows with fewer than ``max_out``
    synapses are padded with target ``n_post`` (out of range, dropped) and weight 0.

    Attributes:
        post: postsynaptic index of each synapse, int32, shape ``(n_pre, max_out)``.
        w: weight of each synapse in mV/ms per spike, shape ``(n_pre, max_out)``.
        n_post: number of postsynaptic neurons (static).
        buffers: static, increasing sizes of the spike buffers.
    """

    post: jax.Array
    w: jax.Array
    n_post: int = 0
    buffers: tuple = ()

    @property
    def n_pre(self):
        return self.w.shape[-2]

    @property
    def dtype(self):
        return self.w.dtype

    @property
    def n_synapses(self):
        """Number of real (unpadded) synapses."""
        return int(np.sum(np.asarray(self.post) < self.n_post))

    def propagate(self, spikes):
        return _event_sparse(self.n_post, self.buffers, self.post, self.w, spikes)

    def to_dense(self):
        post, w = np.asarray(self.post), np.asarray(self.w)
        dense = np.zeros((self.n_post, self.n_pre), w.dtype)
        pre = np.broadcast_to(np.arange(self.n_pre)[:, None], post.shape)
        keep = post < self.n_post
        np.add.at(dense, (post[keep], pre[keep]), w[keep])
        return dense


jax.tree_util.register_dataclass(EventDense, data_fields=["w"], meta_fields=["buffers"])
jax.tree_util.register_dataclass(Sparse, data_fields=["post", "w"], meta_fields=["n_post", "buffers"])

_FORMATS = {}


def register_format(cls):
    """Register a weight format (a pytree class) so networks, validation and files accept it.

    A format is a registered JAX pytree (e.g. ``jax.tree_util.register_dataclass``) with:
    ``n_pre`` and ``n_post`` (ints), ``dtype``, ``propagate(spikes (n_pre,)) -> pulse (n_post,)``
    (differentiable in its floating leaves and in the spikes) and ``to_dense() -> W[post, pre]``
    (NumPy). Its floating leaves have the network's dtype. Usable as a class decorator.
    """
    for attr in ("propagate", "to_dense", "n_pre", "n_post", "dtype"):
        if not hasattr(cls, attr):
            raise TypeError(f"weight format {cls.__name__} lacks {attr!r}")
    _FORMATS[cls.__name__] = cls
    return cls


def formats():
    """The registered weight formats, ``{class name: class}`` (dense arrays are always accepted)."""
    return dict(_FORMATS)


def is_format(weights):
    """True for an instance of a registered format (not a plain array)."""
    return type(weights) in _FORMATS.values()


register_format(EventDense)
register_format(Sparse)
FORMATS = (EventDense, Sparse)


@dataclasses.dataclass(frozen=True)
class PreScaled:
    """Weights ``W[post, pre] * scale[pre]`` kept as the shared weights and a per-presynaptic gain.

    Propagation is that of the shared weights for the scaled spikes, ``W (scale * s)``, so networks
    of a sweep that differ only in how strongly each population's synapses act (say an excitatory
    weight scale) share one ``W``: under ``vmap`` with ``matrix`` unbatched no network carries its
    own copy of ``W`` and, for dense weights, the batch's propagation is one matrix-matrix product.

    Attributes:
        matrix: the shared weights in any format: a dense ``W[post, pre]`` array in mV/ms per
            spike, shape ``(n_post, n_pre)``, an :class:`EventDense` or a :class:`Sparse`.
        scale: gain of each presynaptic neuron's synapses, shape ``(n_pre,)``.
    """

    matrix: object
    scale: jax.Array

    @property
    def shape(self):
        """``(n_post, n_pre)``."""
        return (n_post(self.matrix), n_pre(self.matrix))

    @property
    def dtype(self):
        return self.matrix.dtype

    @property
    def n_pre(self):
        return n_pre(self.matrix)

    @property
    def n_post(self):
        return n_post(self.matrix)

    def propagate(self, spikes):
        return propagate(self.matrix, self.scale * spikes)

    def to_dense(self):
        """The weights as one dense NumPy matrix ``W * scale[None, :]``, shape ``(n_post, n_pre)``."""
        return to_dense(self.matrix) * np.asarray(self.scale)[None, :]

    dense = to_dense


jax.tree_util.register_dataclass(PreScaled, data_fields=["matrix", "scale"], meta_fields=[])
register_format(PreScaled)


def to_dense(weights):
    """Any weight format as a dense NumPy ``W[post, pre]`` (for checks on small networks)."""
    return weights.to_dense() if is_format(weights) else np.asarray(weights)


def event_dense(weights, buffers=None):
    """The dense ``W[post, pre]`` as :class:`EventDense` (event-driven, same connectivity)."""
    weights = jnp.asarray(weights)
    buffers = default_dense_buffers(weights.shape[1]) if buffers is None else check_buffers(buffers)
    return EventDense(w=weights.T, buffers=buffers)


def check_buffers(buffers):
    """Validate a spike-buffer ladder (see :func:`default_buffers`).

    Args:
        buffers: buffer sizes, increasing positive integers.

    Returns:
        The sizes as a tuple of Python ints.

    Raises:
        ValueError: if a size is below 1 or the sizes are not strictly increasing.
    """
    buffers = tuple(int(b) for b in buffers)
    if any(b < 1 for b in buffers) or list(buffers) != sorted(set(buffers)):
        raise ValueError(f"buffers must be increasing positive integers, got {buffers}")
    return buffers


def n_post(weights):
    """Number of postsynaptic neurons of any weight format."""
    return weights.n_post if is_format(weights) else weights.shape[-2]


def n_pre(weights):
    """Number of presynaptic neurons of any weight format."""
    return weights.n_pre if is_format(weights) else weights.shape[-1]


def propagate(weights, spikes):
    """Synaptic pulse ``W s`` caused by this step's spikes.

    Args:
        weights: dense ``W[post, pre]`` in mV/ms per spike, shape ``(n_post, n_pre)``, or an
            :class:`EventDense` or :class:`Sparse` holding the same kind of weights, or
            :class:`PreScaled` weights of any of these formats with a per-presynaptic gain.
        spikes: 0/1 floats, shape ``(n_pre,)``.

    Returns:
        Input pulse of every postsynaptic neuron, shape ``(n_post,)``: the sum of the outgoing
        weights of the neurons that fired, as net.m's ``sum(S(:, fired), 2)``.
    """
    if is_format(weights):
        return weights.propagate(spikes)
    return jnp.dot(weights, spikes, precision="highest")


def _fired(spikes, size):
    """Indices of the first ``size`` fired neurons, ascending, and a mask of the valid ones.

    One ``lax.top_k`` of the key ``n - i`` of each fired neuron ``i`` (0 for the others): the ``size``
    largest keys are the ``size`` smallest fired indices, in increasing order. On CPU this is one
    library call per step, where a running count plus a binary search per slot
    (``jnp.searchsorted``) ran a loop of ``log2 n`` iterations of several kernels each, and
    ``jnp.nonzero(size=...)`` scatters every neuron (Fig. 3 network, same-process A/B: about
    a quarter less time per step than the binary search, same indices). Unused slots hold
    ``n - 1`` (masked). Returns ``(idx, valid)``, int32 and bool, shape ``(size,)`` each.
    """
    n = spikes.shape[0]
    kind = jnp.float32 if n < 2**24 else jnp.int32      # float32 keys are exact below 2**24
    key = jnp.where(spikes != 0, jnp.arange(n, 0, -1, dtype=kind), 0)
    val, idx = jax.lax.top_k(key, size)
    valid = val > 0
    return jnp.where(valid, idx, n - 1).astype(jnp.int32), valid


_UNROLL = 32
"""Buffers up to this size sum their rows one by one (see :func:`sum_rows`)."""


def sum_rows(coef, w, idx):
    """``coef @ w[idx]``: the rows ``idx`` of ``w`` weighted by ``coef`` and summed, shape
    ``(w.shape[1],)``.

    For a buffer of up to ``_UNROLL`` rows, one fused kernel over the rows sliced in place (each
    row ``dynamic_slice``d, the products added in the buffer's order) instead of a gather of the
    rows into a new array followed by a product: on CPU, Fig. 3's step (a buffer of 8 or 16 rows
    of 1000) spends about half as long here. For 0/1 coefficients the sum is the product's
    bit for bit (each product exact, the same order of additions; tested); for other
    coefficients (:class:`PreScaled` gains) the product may fuse a multiply-add where this
    rounds the product first. Larger buffers take the product (one kernel, and a program that
    does not grow with the buffer)."""
    size = idx.shape[0]
    if size > _UNROLL:
        return jnp.dot(coef, w[idx], precision="highest")
    row = lambda j: coef[j] * jax.lax.dynamic_index_in_dim(w, idx[j], 0, keepdims=False)
    acc = row(0)
    for j in range(1, size):
        acc = acc + row(j)
    return acc


def _switch(spikes, buffers, event, full):
    """Run ``event(size)`` with the smallest buffer holding every spike, else ``full()``."""
    if not buffers:
        return full()
    count = jnp.sum(spikes != 0, dtype=jnp.int32)
    branch = jnp.sum(count > jnp.asarray(buffers, jnp.int32))
    branches = [partial(event, size) for size in buffers] + [full]
    return jax.lax.switch(branch, [lambda _, f=f: f() for f in branches], None)


def _dense_full(w, spikes):
    return jnp.dot(spikes, w, precision="highest")


def _batched(full, axis_size, in_batched, *args):
    """Under ``vmap``: the all-synapse path of every network at once (see :func:`_batchable`)."""
    axes = tuple(0 if b else None for b in in_batched)
    out = jax.vmap(full, in_axes=axes, axis_size=axis_size)(*args)
    return out, jax.tree_util.tree_map(lambda _: True, out)


def _batchable(event_path, full):
    """``event_path`` for one network; under ``vmap``, ``full`` for the whole batch.

    Vmapped, the buffer ladder's ``lax.switch`` would see one branch index per network and run
    every branch (XLA's ``select``): all buffers plus the full path. A batch runs the full path
    alone instead: for :class:`EventDense` weights shared by the batch that is one matrix-matrix
    product, for :class:`Sparse` one scatter-add of every network's synapses. Same sums up to
    the order of the additions.
    """
    fn = jax.custom_batching.custom_vmap(event_path)
    fn.def_vmap(partial(_batched, full))
    return fn


@lru_cache(maxsize=None)
def _dense_forward(buffers):
    def event_path(w, spikes):
        def event(size):
            idx, valid = _fired(spikes, size)
            return sum_rows(jnp.where(valid, spikes[idx], 0), w, idx)

        return _switch(spikes, buffers, event, lambda: _dense_full(w, spikes))

    return _batchable(event_path, _dense_full)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _event_dense(buffers, w, spikes):
    return _dense_forward(buffers)(w, spikes)


@_event_dense.defjvp
def _event_dense_jvp(buffers, primals, tangents):
    (w, spikes), (dw, ds) = primals, tangents
    out = _event_dense(buffers, w, spikes)
    return out, _dense_full(dw, spikes) + _dense_full(w, ds)


def _sparse_full(n_post, post, w, spikes):
    contrib = w * spikes[:, None].astype(w.dtype)
    return jnp.zeros(n_post, w.dtype).at[post].add(contrib, mode="drop")


@lru_cache(maxsize=None)
def _sparse_forward(n_post, buffers):
    def event_path(post, w, spikes):
        def event(size):
            idx, valid = _fired(spikes, size)
            coef = jnp.where(valid, spikes[idx], 0).astype(w.dtype)
            targets = jnp.where(valid[:, None], post[idx], n_post)
            return jnp.zeros(n_post, w.dtype).at[targets].add(w[idx] * coef[:, None], mode="drop")

        return _switch(spikes, buffers, event, lambda: _sparse_full(n_post, post, w, spikes))

    return _batchable(event_path, partial(_sparse_full, n_post))


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _event_sparse(n_post, buffers, post, w, spikes):
    return _sparse_forward(n_post, buffers)(post, w, spikes)


@_event_sparse.defjvp
def _event_sparse_jvp(n_post, buffers, primals, tangents):
    (post, w, spikes), (_, dw, ds) = primals, tangents
    out = _event_sparse(n_post, buffers, post, w, spikes)
    return out, _sparse_full(n_post, post, dw, spikes) + _sparse_full(n_post, post, w, ds)
