"""Compressed sparse rows propagated by an event-driven CSR kernel (brainevent's, an optional backend).

:class:`CSR` holds a projection's synapses compactly, row by presynaptic neuron, with no padding:
``data[indptr[i]:indptr[i + 1]]`` are the weights of neuron ``i``'s synapses onto
``indices[indptr[i]:indptr[i + 1]]``. A step's pulse is computed by brainevent's event-driven CSR
kernel (``brainevent.binary_csrmv``: on CPU a compiled numba loop over the neurons that fired, on
GPU its Pallas/CUDA kernels), which in a same-process A/B at N = 100,000 (K = 100, float32, this
project's Xeon VM) took the whole step from 6.46 to 3.35 ms with the same spikes
(``experiments/bench/step_profile_large.py``): it needs no index buffer of the fired neurons
(``lax.top_k``, about 0.9 ms of a step there) and touches no padding
(:class:`~izhijax.connectivity.Sparse`'s table pads every row to the longest one, 147 slots for
100 synapses on average there). Each call has a fixed cost (about 60 us there), so small networks
are faster with :class:`~izhijax.connectivity.EventDense` or ``Sparse``.

On CPU, from :data:`OWN_MIN_SYNAPSES` synapses on (about N = 20,000 at K = 100), the loop is
izhijax's own numba kernel instead (:func:`_own_kernel`, called through
``brainevent.numba_kernel``; brainevent keeps the GPU): it lists the fired neurons first and
fetches every cache line of the fired row three rows ahead while adding the current one (0.46x
brainevent's kernel at N = 100,000, 0.52x at N = 1,000,000), and from
:data:`PARALLEL_MIN_SYNAPSES` on, where numba has two threads and the rows are sorted, two threads
each own half of the targets (0.43x at N = 1,000,000).

Exactness: the kernels add the rows of the fired neurons in increasing neuron order and each row in
storage order, the order of :class:`~izhijax.connectivity.Sparse`'s event path for the same
synapses, so the pulses are the same bit for bit (tested). Spikes other than 0 and 1 (a
:class:`~izhijax.connectivity.PreScaled` gain) take a plain-JAX path that weights every row by its
value: the kernel counts any positive value as one spike and would be wrong.

Gradients and batches work as for :class:`~izhijax.connectivity.Sparse`: the JVP is the
all-synapse formulation in plain JAX (linear in the weights and in the spikes, so ``jax.grad``
transposes it), and under ``jax.vmap`` a batch takes the all-synapse path for every network.

brainevent is an optional dependency (``pip install "izhijax[brainevent]"``); building or running a
:class:`CSR` without it raises an ``ImportError`` that says so. Sharded runs
(:func:`izhijax.shard.simulate`) split it by target device, each device propagating its share
with these kernels (the same bits as one device, tested on 2, 4 and 8).
"""

import dataclasses
from functools import lru_cache, partial
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import connectivity
from .connectivity import EventDense, PreScaled, Sparse, register_format


def brainevent_module():
    """Import brainevent, or raise an ``ImportError`` that says how to install it."""
    try:
        import brainevent
    except ImportError as err:
        raise ImportError(
            "izhijax.connectivity.CSR propagates with brainevent's event-driven CSR kernel, and "
            "brainevent is not installed: pip install \"izhijax[brainevent]\" (brainevent>=0.2,<0.3 "
            f"with its numba CPU kernels), or use connectivity.Sparse ({err})") from None
    return brainevent


@dataclasses.dataclass(frozen=True)
class CSR:
    """Sparse weights in compressed sparse rows by presynaptic neuron, no padding.

    Build one with :func:`to_csr` (from a :class:`~izhijax.connectivity.Sparse`, a dense
    ``W[post, pre]``, an :class:`~izhijax.connectivity.EventDense` or a whole network) or
    :func:`csr` (from synapse lists).

    Attributes:
        data: weight of each synapse in the target model's current unit per spike (mV/ms for the
            2003 model), shape ``(n_synapses,)``, grouped by presynaptic neuron.
        indices: postsynaptic neuron of each synapse, int32, shape ``(n_synapses,)``, each in
            ``[0, n_post)``.
        indptr: row pointers, int32, shape ``(n_pre + 1,)``: ``indptr[0] == 0``, non-decreasing,
            ``indptr[-1] == n_synapses``.
        n_post: number of postsynaptic neurons (static).
        task_capacity: size of the task queue brainevent's GPU kernels split long rows into
            (static; computed from ``indptr`` by brainevent when the arrays are concrete, as
            :func:`csr` and :func:`to_csr` build them; ``None`` until then).
        sorted_rows: whether every row's targets are in non-decreasing order (static; computed
            when the arrays are concrete NumPy or CPU arrays, ``None`` until then). Only the
            speed depends on it: the two-thread CPU kernel, whose threads each skip the other
            half of the targets, is taken for sorted rows only (on unsorted rows that test
            mispredicts half the time: 3x slower than one thread at N = 100,000).
    """

    data: jax.Array
    indices: jax.Array
    indptr: jax.Array
    n_post: int = 0
    task_capacity: Optional[int] = None
    sorted_rows: Optional[bool] = None

    def __post_init__(self):
        if isinstance(self.n_post, bool) or not isinstance(self.n_post, (int, np.integer)) \
                or self.n_post < 1:
            raise ValueError(f"CSR.n_post must be an integer >= 1, got {self.n_post!r}")
        arrays = (self.data, self.indices, self.indptr)
        if not all(hasattr(x, "shape") and hasattr(x, "dtype") for x in arrays):
            return      # JAX rebuilding the structure with other leaves (vmap axes, None...)
        shapes = [tuple(x.shape) for x in arrays]
        if any(len(s) != 1 for s in shapes):
            raise ValueError(f"CSR.data, CSR.indices and CSR.indptr must be 1-D, got shapes "
                             f"{shapes}")
        if shapes[0] != shapes[1]:
            raise ValueError(f"CSR.indices must have the shape of CSR.data {shapes[0]} (one per "
                             f"synapse), got {shapes[1]}")
        if shapes[2][0] < 1:
            raise ValueError("CSR.indptr must hold n_pre + 1 >= 1 row pointers, got none")
        for name in ("indices", "indptr"):
            kind = jnp.dtype(getattr(self, name).dtype)
            if kind != jnp.int32 and kind != jax.dtypes.float0:     # float0: a gradient's
                raise TypeError(f"CSR.{name} must be int32, got {kind}")
        gradient = jnp.dtype(self.indptr.dtype) == jax.dtypes.float0
        if all(isinstance(x, np.ndarray) for x in arrays) and not gradient:
            check(self)     # concrete NumPy arrays (as a file loads them): check the values too,
            object.__setattr__(self, "task_capacity", _task_capacity(self.indptr))  # recompute
            object.__setattr__(self, "sorted_rows", _sorted_rows(self.indices, self.indptr))
        elif not gradient and isinstance(self.indptr, jax.Array) \
                and not isinstance(self.indptr, jax.core.Tracer):
            if self.task_capacity is None:
                object.__setattr__(self, "task_capacity", _task_capacity(self.indptr))
            if self.sorted_rows is None and isinstance(self.indices, jax.Array) \
                    and not isinstance(self.indices, jax.core.Tracer) \
                    and all(d.platform == "cpu" for d in self.indices.devices()):
                object.__setattr__(self, "sorted_rows", _sorted_rows(self.indices, self.indptr))

    @property
    def n_pre(self):
        return self.indptr.shape[-1] - 1

    @property
    def n_synapses(self):
        return self.data.shape[-1]

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def shape(self):
        """``(n_post, n_pre)``."""
        return (self.n_post, self.n_pre)

    def rows(self):
        """Presynaptic neuron of each synapse, NumPy int, shape ``(n_synapses,)``."""
        return np.repeat(np.arange(self.n_pre), np.diff(np.asarray(self.indptr)))

    def propagate(self, spikes):
        """Pulse ``(n_post,)`` of this step's spikes ``(n_pre,)`` (see the module docstring)."""
        return _csr_propagate(self.n_post, self.task_capacity, bool(self.sorted_rows),
                              self.data, self.indices, self.indptr, spikes)

    def to_dense(self):
        """``W[post, pre]`` (NumPy, synapses onto the same pair summed)."""
        data = np.asarray(self.data)
        dense = np.zeros((self.n_post, self.n_pre), data.dtype)
        np.add.at(dense, (np.asarray(self.indices), self.rows()), data)
        return dense

    def to_sparse(self, buffers=None):
        """The same synapses, in the same order, as a :class:`~izhijax.connectivity.Sparse`."""
        from .wiring import sparse
        indptr, rows = np.asarray(self.indptr), self.rows()
        counts = np.diff(indptr)
        slot = np.arange(rows.size) - np.repeat(indptr[:-1], counts)
        table = np.full((self.n_pre, max(1, int(counts.max(initial=0)))), self.n_post, np.int32)
        w = np.zeros(table.shape, np.asarray(self.data).dtype)
        table[rows, slot] = np.asarray(self.indices)
        w[rows, slot] = np.asarray(self.data)
        return sparse(table, w, self.n_post, buffers)


jax.tree_util.register_dataclass(CSR, data_fields=["data", "indices", "indptr"],
                                 meta_fields=["n_post", "task_capacity", "sorted_rows"])


@dataclasses.dataclass(frozen=True)
class _Workspace:
    """The task workspace ``brainevent.binary_csrmv`` takes (the attributes it documents)."""

    task_begin: jax.Array
    task_end: jax.Array
    status: jax.Array
    task_capacity: int


jax.tree_util.register_dataclass(_Workspace, data_fields=["task_begin", "task_end", "status"],
                                 meta_fields=["task_capacity"])


def _task_capacity(indptr):
    """brainevent's task-queue size for these rows, or ``None`` without brainevent."""
    try:
        from brainevent._csr.hybrid_config import hybrid_task_capacity
    except ImportError:
        return None
    return max(1, int(hybrid_task_capacity(np.asarray(indptr))))


def _sorted_rows(indices, indptr, chunk=1 << 22):
    """Whether each row of ``indices`` is non-decreasing (NumPy, ``chunk`` synapses at a time,
    so a table of 10^8 synapses needs no table-sized temporary)."""
    indices, indptr = np.asarray(indices), np.asarray(indptr)
    for lo in range(0, max(indices.size - 1, 0), chunk):
        hi = min(lo + chunk, indices.size - 1)
        drops = lo + 1 + np.flatnonzero(indices[lo + 1:hi + 1] < indices[lo:hi])
        # a drop (a target below the one before it) is allowed only where a row starts
        at = np.searchsorted(indptr, drops)
        if np.any((at >= indptr.size) | (indptr[np.minimum(at, indptr.size - 1)] != drops)):
            return False
    return True


register_format(CSR)


def check(weights):
    """Check a :class:`CSR`'s values (row pointers, targets in range; the int32 index types are
    checked when it is built); return it.

    The kernel reads ``indices`` without bounds checks, so a target out of range must never
    reach it. Raises ``ValueError`` naming the field.
    """
    indptr, indices = np.asarray(weights.indptr), np.asarray(weights.indices)
    data = np.asarray(weights.data)
    if not jnp.issubdtype(data.dtype, jnp.floating):      # bfloat16 included
        raise TypeError(f"CSR.data must be floating, got {data.dtype}")
    if indptr[0] != 0 or indptr[-1] != data.size or np.any(np.diff(indptr) < 0):
        raise ValueError(f"CSR.indptr must start at 0, never decrease and end at the number of "
                         f"synapses ({data.size}); got first {indptr[0]}, last {indptr[-1]}, "
                         f"{int(np.sum(np.diff(indptr) < 0))} decreases")
    if indices.size and (indices.min() < 0 or indices.max() >= weights.n_post):
        raise ValueError(f"CSR.indices must lie in [0, n_post={weights.n_post}), got "
                         f"[{indices.min()}, {indices.max()}]")
    return weights


def csr(pre, post, w, n_pre, n_post, dtype=None):
    """A :class:`CSR` from synapse lists (any order; kept in order within each neuron's row).

    Args:
        pre, post: presynaptic and postsynaptic neuron of each synapse, ints ``(n_synapses,)``.
        w: weight of each synapse (mV/ms per spike for the 2003 model), ``(n_synapses,)``.
        n_pre, n_post: population sizes.
        dtype: weight dtype (default: ``w``'s).
    """
    brainevent_module()
    pre, post = np.asarray(pre), np.asarray(post)
    for name, x in (("pre", pre), ("post", post)):
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"{name} must hold integer neuron indices, got dtype {x.dtype}")
    w = np.asarray(w, dtype)
    if not (pre.shape == post.shape == w.shape) or pre.ndim != 1:
        raise ValueError(f"pre, post and w must be 1-D of one length, got shapes {pre.shape}, "
                         f"{post.shape}, {w.shape}")
    if pre.size and (pre.min() < 0 or pre.max() >= n_pre):
        raise ValueError(f"pre must lie in [0, n_pre={n_pre}), got [{pre.min()}, {pre.max()}]")
    order = np.argsort(pre, kind="stable")
    counts = np.bincount(pre, minlength=n_pre)
    return _from_rows(counts, post[order], w[order], n_post)


def _from_rows(counts, indices, data, n_post):
    """A checked :class:`CSR` (JAX arrays) from each row's synapse count and the synapses in row
    order (NumPy)."""
    indptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    if indptr[-1] >= 2**31:
        raise ValueError(f"CSR holds {indptr[-1]} synapses: int32 row pointers cannot address "
                         f"them")
    out = CSR(data=np.ascontiguousarray(data), indices=indices.astype(np.int32, copy=False),
              indptr=indptr.astype(np.int32), n_post=int(n_post))    # checked (NumPy arrays)
    return jax.tree.map(jnp.asarray, out)


def to_csr(weights):
    """The same synapses as a :class:`CSR`, propagated by brainevent's kernel.

    Args:
        weights: a :class:`~izhijax.connectivity.Sparse` (table order kept, padding dropped), a
            dense ``W[post, pre]`` or an :class:`~izhijax.connectivity.EventDense` (its nonzero
            entries, by presynaptic then postsynaptic neuron), a
            :class:`~izhijax.connectivity.PreScaled` of one of these (the gain kept), a
            :class:`CSR` (returned as is), or an :class:`izhijax.Network`: every projection
            whose weights are one of these is converted (others, e.g.
            :class:`~izhijax.connectivity.Delayed`, are kept).

    Returns:
        The converted weights or network. Raises ``ImportError`` without brainevent and
        ``TypeError`` for weights it cannot convert.
    """
    from .network import Network
    brainevent_module()
    if isinstance(weights, Network):
        projections = [p.replace(weights=to_csr(p.weights)) if _convertible(p.weights) else p
                       for p in weights.projections]
        return weights.replace(projections=tuple(projections))
    if isinstance(weights, CSR):
        return weights
    if isinstance(weights, PreScaled):
        return PreScaled(to_csr(weights.matrix), weights.scale)
    if isinstance(weights, Sparse):     # rows in table order: no sort, no per-synapse row index
        post, w = np.asarray(weights.post), np.asarray(weights.w)
        keep = post < weights.n_post
        return _from_rows(keep.sum(1), post[keep], w[keep], weights.n_post)
    if isinstance(weights, EventDense):
        weights = weights.to_dense()
    if connectivity.is_format(weights) or not hasattr(weights, "shape"):
        raise TypeError(f"to_csr takes Sparse, EventDense, PreScaled, dense W[post, pre] or a "
                        f"Network, got {type(weights).__name__}")
    dense = np.asarray(weights)
    if dense.ndim != 2:
        raise ValueError(f"dense weights must be W[post, pre] (2-D), got shape {dense.shape}")
    pre, post = np.nonzero(dense.T)
    return csr(pre, post, dense[post, pre], dense.shape[1], dense.shape[0])


def _convertible(weights):
    if isinstance(weights, PreScaled):
        return _convertible(weights.matrix)
    return isinstance(weights, (Sparse, EventDense, CSR)) or not connectivity.is_format(weights)


def _full(n_post, data, indices, indptr, spikes):
    """Every synapse's ``data * spikes[pre]`` added onto its target (plain JAX)."""
    rows = jnp.repeat(jnp.arange(indptr.shape[0] - 1, dtype=jnp.int32), jnp.diff(indptr),
                      total_repeat_length=data.shape[0])
    contrib = data * spikes.astype(data.dtype)[rows]
    return jnp.zeros(n_post, data.dtype).at[indices].add(contrib, mode="promise_in_bounds")


OWN_MIN_SYNAPSES = 2_000_000
"""From this many synapses on, a CPU run propagates with izhijax's :func:`_own_kernel` instead of
brainevent's serial kernel. Measured on the AMD EPYC 2-core VM, 2026-12-04 (evening), 200 steps of
random spikes at 2.4 %, K = 100, float32, the kernels taking turns in one process
(``experiments/bench/csr_parallel_ab.py``; us per step, brainevent / izhijax one thread / two
threads): N = 10,000 72 / 67 / 76; N = 30,000 238 / 152 / 193; N = 100,000 1170 / 543 / 620;
N = 1,000,000 (20 steps) 22297 / 11647 / 9661. Below about 10^6 synapses the table is in cache
and listing the fired neurons costs what prefetching saves. Set it to ``math.inf`` to keep
brainevent's kernel everywhere."""

PARALLEL_MIN_SYNAPSES = 30_000_000
"""From this many synapses on, and where every row's targets are sorted (:attr:`CSR.sorted_rows`),
:func:`_own_kernel` runs on two threads where numba has two or more. In the table above the
second thread pays at N = 1,000,000 only (0.83x one thread); in whole N = 100,000 runs (same
process, taking turns, twice) one and two threads took 0.914 / 0.914 and 0.924 / 0.949 ms per
step: the threads share the table's memory traffic, and waking the second costs what it saves.
numba's OpenMP layer, like JAX itself, does not survive ``os.fork``: start worker processes with
``multiprocessing``'s ``spawn`` or ``forkserver`` context."""


def _prefetch_intrinsic():
    """A numba intrinsic ``prefetch(array, index)``: LLVM's ``llvm.prefetch`` (read, high
    locality) of ``array[index]``'s cache line; it changes no value."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, array, index):
        def codegen(context, builder, signature, args):
            array_type = signature.args[0]
            view = context.make_array(array_type)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]])
            byte_ptr = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = builder.module.declare_intrinsic(
                "llvm.prefetch", [byte_ptr], ir.FunctionType(ir.VoidType(),
                                                             [byte_ptr, i32, i32, i32]))
            builder.call(fn, [builder.bitcast(ptr, byte_ptr), ir.Constant(i32, 0),
                              ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()
        return types.void(array, index), codegen
    return prefetch


PREFETCH_ROWS = 3
"""The CPU kernels fetch every cache line of the fired row this many rows ahead (and its row
pointer twice as far): 2, 3, 4 and 6 rows within 8 % of each other at N = 100,000 (K = 100,
float32, the kernels called from NumPy, one and two threads)."""


def _make_kernels(prefetch):
    """The serial and the two-thread numba kernels (see :func:`_own_kernel`), prefetching with
    ``prefetch(array, index)``."""
    import numba

    @numba.njit(nogil=True)
    def fired_list(spikes, fired):
        count = 0
        for i in range(spikes.shape[0]):
            if spikes[i] != 0:
                fired[count] = i
                count += 1
        return count

    rows = PREFETCH_ROWS

    @numba.njit(nogil=True)
    def ahead(weights, indices, indptr, fired, count, k):
        # the row pointer of the fired row 2 * rows ahead, every cache line of the row `rows`
        # ahead (its synapses and weights): their misses overlap the adds of this row instead of
        # stalling the next ones (the hardware prefetcher starts only after a row's first lines)
        if k + 2 * rows < count:
            prefetch(indptr, fired[k + 2 * rows])
        if k + rows < count:
            i = fired[k + rows]
            start, stop = indptr[i], indptr[i + 1]
            for j in range(start, stop, 16):
                prefetch(indices, j)
                prefetch(weights, j)
            if stop > start:
                prefetch(indices, stop - 1)
                prefetch(weights, stop - 1)

    @numba.njit(nogil=True)
    def serial(weights, indices, indptr, spikes, bounds, posts, fired):
        count = fired_list(spikes, fired)
        for t in range(posts.shape[0]):
            posts[t] = 0.0
        for k in range(count):
            ahead(weights, indices, indptr, fired, count, k)
            i = fired[k]
            for j in range(indptr[i], indptr[i + 1]):
                posts[indices[j]] += weights[j]

    @numba.njit(parallel=True, nogil=True)
    def parallel(weights, indices, indptr, spikes, bounds, posts, fired):
        count = fired_list(spikes, fired)
        for part in numba.prange(bounds.shape[0] - 1):
            lo, hi = bounds[part], bounds[part + 1]
            for t in range(lo, hi):
                posts[t] = 0.0
            for k in range(count):
                ahead(weights, indices, indptr, fired, count, k)
                i = fired[k]
                for j in range(indptr[i], indptr[i + 1]):
                    t = indices[j]
                    if t >= lo and t < hi:
                        posts[t] += weights[j]

    return serial, parallel


@lru_cache(maxsize=None)
def _numba_kernels():
    """``(serial, parallel)``: with software prefetching where this numba / llvmlite compiles it
    (checked once on a small table with the serial kernel, which shares the prefetching code and
    compiles in a fraction of the parallel one's time), else without."""
    import numba

    @numba.njit(nogil=True)
    def no_prefetch(array, index):
        pass

    def checked(kernels):
        indptr = np.array([0, 2, 3, 5], np.int32)
        indices, weights = np.array([1, 0, 2, 1, 1], np.int32), np.arange(5.0, dtype=np.float32)
        spikes, bounds = np.array([1.0, 0.0, 1.0], np.float32), np.array([0, 1, 3], np.int32)
        posts, fired = np.empty(3, np.float32), np.empty(3, np.int32)
        kernels[0](weights, indices, indptr, spikes, bounds, posts, fired)
        if not np.array_equal(posts, [1.0, 7.0, 0.0]):
            raise RuntimeError(f"numba CSR kernel self-check: {posts}")
        return kernels

    try:
        return checked(_make_kernels(_prefetch_intrinsic()))
    except Exception:       # noqa: BLE001 - an llvmlite that cannot emit the prefetch
        return checked(_make_kernels(no_prefetch))


def _own_kernel(n_post, data, indices, indptr, spikes, parts=1):
    """The pulse of 0/1 ``spikes`` on CPU, by izhijax's numba kernel called through
    ``brainevent.numba_kernel``: the fired neurons listed first (into a scratch output XLA
    reuses), then their rows added in increasing neuron order, each in storage order, while the
    fired row :data:`PREFETCH_ROWS` ahead is prefetched whole (its cache lines come from memory
    during the current row's adds; at N = 100,000 0.46x brainevent's serial kernel, same bits;
    prefetching only each row's first line, two rows ahead, was 0.84x). With ``parts`` > 1,
    numba threads each own a contiguous block of the targets and walk every fired row, adding
    only onto their own block: each target receives the same additions in the same order as in
    the serial loop (the same bits, tested), no two threads write one value, and the table needs
    no second, target-sorted copy."""
    brainevent_module()
    import brainevent
    serial, parallel = _numba_kernels()
    bounds = jnp.asarray(np.linspace(0, n_post, parts + 1).round().astype(np.int32))
    call = brainevent.numba_kernel(
        parallel if parts > 1 else serial,
        outs=(jax.ShapeDtypeStruct((n_post,), data.dtype),
              jax.ShapeDtypeStruct((spikes.shape[0],), jnp.int32)))
    posts, _ = call(data, indices, indptr, spikes, bounds)
    return posts


def _brainevent_kernel(n_post, capacity, data, indices, indptr, spikes):
    """The pulse of 0/1 ``spikes`` by ``brainevent.binary_csrmv`` (serial on CPU)."""
    brainevent = brainevent_module()
    dtype = indptr.dtype
    work = _Workspace(jnp.empty((capacity,), dtype), jnp.empty((capacity,), dtype),
                      jnp.empty((2,), jnp.int32), capacity)
    return brainevent.binary_csrmv(data, indices, indptr, spikes,
                                   shape=(indptr.shape[0] - 1, n_post), workspace=work,
                                   transpose=True).astype(data.dtype)


@lru_cache(maxsize=None)
def _threadsafe_layer():
    """Whether numba has a threading layer that takes concurrent calls (TBB or OpenMP). Its
    fallback, ``workqueue``, aborts the process when two threads enter a parallel kernel at once
    (two simulations in two Python threads, say), so without TBB or OpenMP the serial kernel
    stays."""
    for name in ("tbbpool", "omppool"):
        try:
            __import__(f"numba.np.ufunc.{name}")
            return True
        except ImportError:
            continue
    return False


def _numba_available():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _parallel_threads():
    """numba's thread count, 0 where numba or a thread-safe threading layer is missing."""
    if not _numba_available():
        return 0
    import numba
    layer = numba.config.THREADING_LAYER
    if layer in ("workqueue", "forksafe") or (layer in ("default", "threadsafe")
                                              and not _threadsafe_layer()):
        return 0
    return numba.get_num_threads()


def _kernel(n_post, capacity, sorted_rows, data, indices, indptr, spikes):
    """The event-driven kernel where the spikes are 0/1 (brainevent's; on CPU from
    :data:`OWN_MIN_SYNAPSES` synapses on izhijax's :func:`_own_kernel`, from
    :data:`PARALLEL_MIN_SYNAPSES` on two threads where numba has them and the rows are sorted),
    else :func:`_full`."""
    if capacity is None:
        raise ValueError("CSR.task_capacity is unset: build the CSR from concrete arrays "
                         "(connectivity.csr, connectivity.to_csr), not inside a traced function")

    def brainevent_kernel():
        return _brainevent_kernel(n_post, capacity, data, indices, indptr, spikes)

    events = brainevent_kernel
    if data.shape[0] >= OWN_MIN_SYNAPSES and _numba_available():
        parts = 2 if (data.shape[0] >= PARALLEL_MIN_SYNAPSES and sorted_rows
                      and _parallel_threads() >= 2) else 1

        def events():
            return jax.lax.platform_dependent(
                cpu=lambda: _own_kernel(n_post, data, indices, indptr, spikes, parts),
                default=brainevent_kernel)

    binary = jnp.all((spikes == 0) | (spikes == 1))
    return jax.lax.cond(binary, events, lambda: _full(n_post, data, indices, indptr, spikes))


@lru_cache(maxsize=None)
def _forward(n_post, capacity, sorted_rows):
    """The kernel for one network; under ``vmap`` the all-synapse path of the whole batch."""
    return connectivity._batchable(partial(_kernel, n_post, capacity, sorted_rows),
                                   partial(_full, n_post))


@partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _csr_propagate(n_post, capacity, sorted_rows, data, indices, indptr, spikes):
    return _forward(n_post, capacity, sorted_rows)(data, indices, indptr, spikes)


@_csr_propagate.defjvp
def _csr_propagate_jvp(n_post, capacity, sorted_rows, primals, tangents):
    (data, indices, indptr, spikes), (ddata, _, _, dspikes) = primals, tangents
    out = _csr_propagate(n_post, capacity, sorted_rows, data, indices, indptr, spikes)
    return out, (_full(n_post, ddata, indices, indptr, spikes)
                 + _full(n_post, data, indices, indptr, dspikes))
