"""One network over many devices: the neurons split in blocks, the spikes exchanged every step.

:func:`simulate` runs one network with its neurons split over the devices of a mesh axis
(``jax.shard_map``): each block of populations of one neuron model is cut in ``D`` equal parts
(a multiple of 8 neurons each, padded with neurons that never fire), and device ``d`` owns part
``d`` of every block (:class:`Layout`; one model: the neurons ``[d m, (d + 1) m)``), their state,
parameters and noise, and the synapses onto them (their incoming synapses, in every format:
dense, :class:`~izhijax.connectivity.EventDense`, :class:`~izhijax.connectivity.Sparse`,
:class:`~izhijax.connectivity.CSR`, :class:`~izhijax.connectivity.PreScaled` and per-synapse
delays,
:class:`~izhijax.connectivity.Delayed`, whose ring of source spikes every device holds whole;
with plasticity each device learns its own synapses, from the sources' traces, which every
device keeps whole, and its targets' traces).
Each step runs the engine's own step (:func:`izhijax._src.engine.advance`) on the device's
block; the spikes reach the other devices in the step's propagation:

1. each device counts its spikes and the counts are gathered (``D`` int32, one collective);
2. the largest count picks the smallest buffer of the exchange ladder (static sizes, as the
   event-driven formats' ladder, :mod:`izhijax._src.connectivity`) that holds every device's
   spikes; each device writes the global indices of its fired neurons into a buffer of that size
   and the buffers are gathered (``D x size`` int32, the exchange); a step with more spikes on
   some device than the largest buffer holds gathers the devices' 0/1 spikes instead (``n``
   bytes, the overflow fallback): no spike is ever dropped;
3. every device merges the buffers into the step's ascending list of fired neurons and
   propagates it into its own targets with its share of the weights: event-driven formats
   (:class:`~izhijax.connectivity.EventDense`, :class:`~izhijax.connectivity.Sparse`) straight
   from the list (the format's buffer ladder picked by the same count, the same fired indices,
   the same additions as :func:`izhijax.connectivity.propagate`, without scanning the ``n``
   neurons); dense, :class:`~izhijax.connectivity.PreScaled` and
   :class:`~izhijax.connectivity.CSR` weights (the CSR kernels list the fired neurons
   themselves) and the rings of :class:`~izhijax.connectivity.Delayed` ones through the
   formats' own code on the 0/1 vector rebuilt from the list (``O(n)`` per device).

Bit for bit. The noise of neuron ``i`` at step ``t`` is the Threefry counter ``i`` of
``fold_in(key, t)`` (:mod:`izhijax._src.threefry`): a device draws exactly its slice, and the
bits-to-float transform is elementwise. The neuron update is elementwise. Each target's input is
summed in the unsharded order: the event-driven formats gather the fired neurons in ascending
order and add, per target, their synapses in that order whatever the device holds; a dense
``W[post, pre]`` is multiplied by the device's rows. XLA:CPU's matrix-vector product adds a row in
an order that depends on where the row falls in the matrix (rows in blocks of 8, the last
``n mod 8`` rows by other kernels), so a device's block is a multiple of 8 rows and the last
``n mod 8`` rows of each dense projection are recomputed on their own (a ``(n mod 8, n_pre)``
product, as in the whole matrix). With these, a sharded run equals :func:`izhijax.simulate`
bit for bit on CPU (float32 and float64, tests on 2, 4 and 8 devices). On GPUs the dense product
is cuBLAS's, whose order may depend on the shape: dense networks are then equal up to rounding,
the event-driven formats stay exact.

With function inputs (:class:`izhijax.inputs.Input`) the sharded run equals
:func:`izhijax.simulate` of the same input given as an ``(n_steps, n)`` array; ``simulate``'s own
function-input path may differ from its array path in the last bit (XLA folds the input's
scatter into the sum of the currents), so there the two can differ by an ulp.

Several processes (a GPU cluster, or CPU processes on one host): every process calls
``jax.distributed.initialize`` before anything else (with SLURM or Open MPI without arguments,
else ``coordinator_address="host:port", num_processes=P, process_id=i``; on CPU first
``jax.config.update("jax_cpu_collectives_implementation", "gloo")``), then the same
``izj.shard.simulate(net, key, n_steps)`` with the same arguments: the default mesh is every
device of every process (``jax.devices()``), each process places the shards of its own devices
(``jax.make_array_from_callback``), the spikes are exchanged by the collectives (NCCL between
GPUs), and every process receives the whole recording and final state. The result equals the
one-process run bit for bit (tested with two CPU processes on one host).

Plasticity: :class:`~izhijax.plasticity.STDP`, :class:`~izhijax.plasticity.Izhikevich2006` and
:class:`~izhijax.plasticity.Dopamine2007` (its dopamine, reward queue and reward draws are
replicated: every device computes them from the whole source's and the whole target's spikes of
the step, which the exchange has rebuilt, so they agree bit for bit). A user's rule with its own
modulation is refused in one line (it may keep per-target state).

Gradients (one process): under ``jax.grad`` or ``jit`` the network's values may be traced (neuron
parameters, noise amplitudes, biases, the weights' values, inputs, the initial state); the
connectivity (``Sparse.post``, ``Delayed.post``) must be concrete, since the split is computed on
the host from it. The split of the values is then a gather of the traced arrays with the host's
indices, and ``shard_map`` differentiates each device's scan in place: no float crosses devices
in the forward pass (the spikes go as indices), so the gradient of a device's share is computed
on that device and equals :func:`izhijax.simulate`'s bit for bit; with
``Config(synapse_grad=True)`` the spikes cross as their 0/1 floats (an ``all_gather`` of ``n``
values per step, the 0/1 exchange), so that their surrogate gradient does too, and the gradients
equal :func:`izhijax.simulate`'s up to the order of the sums over devices;
a replicated leaf (a :class:`~izhijax.connectivity.PreScaled` scale, the dense tail rows) sums
its devices' shares, in another order. Plastic projections are refused under ``jax.grad``.
Per step and device the work is the device's neurons, its synapses that deliver, and
``O(D x buffer)`` for the exchange; a network with dense, PreScaled or Delayed weights also
rebuilds the ``n``-neuron 0/1 vector (``O(n)``: a dense product reads it, a ring stores it).
"""

import dataclasses
import time
import weakref
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from . import connectivity, delays, engine
from .csr import CSR, _csr_propagate, _sorted_rows, _task_capacity
from .delays import Delayed
from .inputs import INPUT_TAG, Input
from .network import State, blocks as model_blocks
from .threefry import unit_noise_block
from .validate import is_traced

AXIS = "neurons"
TILE = 8
"""Neurons per device are a multiple of this (XLA:CPU's matrix-vector kernel takes rows by 8)."""
INDEX_BYTES = 4


def _xp(x):
    """``(module, array)``: NumPy and a host array for concrete values, ``jax.numpy`` and the
    traced array itself inside ``jax.grad`` (the split of a network is then a traced gather)."""
    if is_traced(x):
        return jnp, x
    return np, np.asarray(x)


# --- the partition ---------------------------------------------------------------------------


def block_size(n, n_devices):
    """Neurons per device of a group of ``n``: ``ceil(n / D)`` rounded up to a multiple of
    :data:`TILE`."""
    return -(-(-(-n // n_devices)) // TILE) * TILE


class Layout(NamedTuple):
    """Where each neuron lives: each block of populations of one model (``network.blocks``) is
    split in ``D`` equal parts of ``sizes[b]`` slots (a multiple of 8), and device ``d`` holds
    part ``d`` of every block, one after the other (at ``offsets[b]``): ``m = sum(sizes)`` slots.

    ``perm[d * m + i]`` is the global index of slot ``i`` of device ``d`` (``n`` for padding);
    ``slot[g]`` the flat slot of neuron ``g``; ``fill`` like ``perm`` with padding slots given a
    neuron of their block (whose parameters and state the padding copies, never firing).
    """

    n: int
    d: int
    m: int
    sizes: tuple
    offsets: tuple
    starts: tuple       # global first neuron of each block
    perm: np.ndarray
    slot: np.ndarray
    fill: np.ndarray

    def to_local(self, x, pad=0):
        """A per-neuron array (last axis ``n``) in slot order (``D m``); padding ``pad`` or,
        with ``pad=None``, the value of a neuron of the block. A host array gives a host array,
        a traced one (inside ``jax.grad``) a traced one: the split is a gather."""
        xp, x = _xp(x)
        out = x[..., self.fill]
        if pad is not None:
            out = xp.where(self.perm < self.n, out, xp.asarray(pad, x.dtype))
        return out

    def to_global(self, x):
        """The inverse of :meth:`to_local` (last axis ``D m`` to ``n``)."""
        return _xp(x)[1][..., self.slot]

    def block_to_local(self, b, x):
        """A block's per-neuron array (last axis its size) in its own slot order (``D sizes[b]``),
        padding with a neuron of the block."""
        x = _xp(x)[1]
        size = self.sizes[b]
        idx = self.fill.reshape(self.d, self.m)[:, self.offsets[b]:self.offsets[b] + size]
        return x[..., idx.reshape(-1) - self.starts[b]]

    def block_to_global(self, b, x):
        """The inverse of :meth:`block_to_local` (a gather, host or traced)."""
        x = _xp(x)[1]
        size = self.sizes[b]
        part = self.perm.reshape(self.d, self.m)[:, self.offsets[b]:self.offsets[b] + size]
        part = part.reshape(-1)
        keep = np.flatnonzero(part < self.n)
        where = np.empty(keep.size, np.int64)           # block neuron j sits at where[j]
        where[part[keep] - self.starts[b]] = keep
        return x[..., where]


def layout(params, n_devices):
    """The :class:`Layout` of ``params`` over ``n_devices`` devices."""
    d = _check_devices(n_devices)
    n = params.n
    groups = [(lo, hi) for _, lo, hi, _ in model_blocks(params)]
    sizes = tuple(block_size(hi - lo, d) for lo, hi in groups)
    offsets = tuple(int(x) for x in np.cumsum((0,) + sizes)[:-1])
    m = sum(sizes)
    perm = np.full((d, m), n, np.int64)
    fill = np.zeros((d, m), np.int64)
    for (lo, hi), size, off in zip(groups, sizes, offsets):
        for k in range(d):
            a, b = min(hi, lo + k * size), min(hi, lo + (k + 1) * size)
            perm[k, off:off + b - a] = np.arange(a, b)
            fill[k, off:off + size] = lo
            fill[k, off:off + b - a] = np.arange(a, b)
    perm, fill = perm.reshape(-1), fill.reshape(-1)
    slot = np.empty(n, np.int64)
    slot[perm[perm < n]] = np.flatnonzero(perm < n)
    return Layout(n, d, m, sizes, offsets, tuple(lo for lo, _ in groups), perm, slot, fill)


def default_exchange(n_local):
    """The exchange ladder: index buffers of ``4`` to ``n_local / 4`` spikes per device, x 2.

    Beyond ``n_local / 4`` spikes the indices (4 bytes each) weigh more than the device's 0/1
    spikes (1 byte per neuron), which the overflow path gathers instead.
    """
    top = n_local // 4
    if top < 1:
        return ()
    return tuple(s for s in connectivity.default_buffers(n_local, first=1 / 128, last=1 / 4,
                                                          factor=2, least=4) if s <= top)


@dataclasses.dataclass(frozen=True)
class Partition:
    """How a network is split over devices (:func:`partition`).

    Attributes:
        n: neurons of the network.
        n_devices: devices ``D``.
        n_local: neuron slots per device (``m``, a multiple of 8); the network is padded to
            ``D m`` (see :class:`Layout`).
        blocks: per device, the ranges ``(lo, hi)`` of the network's neurons it holds (one per
            block of populations of one neuron model; ``lo == hi`` where it holds padding only).
        synapses: real synapses onto each device's neurons (all projections; a dense matrix counts
            every entry).
        stored: synapse entries each device stores (its padded tables).
        exchange: the exchange ladder, spikes per device of each index buffer.
    """

    n: int
    n_devices: int
    n_local: int
    blocks: tuple
    synapses: tuple
    stored: tuple
    exchange: tuple

    @property
    def n_pad(self):
        """Neuron slots of all devices, ``D m`` (the network and its padding)."""
        return self.n_devices * self.n_local

    @property
    def balance(self):
        """Load imbalance: most synapses on one device over the mean (1 is perfect balance)."""
        mean = sum(self.synapses) / self.n_devices
        return max(self.synapses) / mean if mean else 1.0

    def exchange_bytes(self, branch):
        """Bytes each device receives in a step that took exchange ``branch`` (an index of the
        ladder, or ``len(exchange)`` for the 0/1 fallback): the counts and the buffers."""
        d = self.n_devices
        counts = d * INDEX_BYTES
        if branch < len(self.exchange):
            return counts + d * self.exchange[branch] * INDEX_BYTES
        return counts + d * self.n_local

    def table(self):
        """A Markdown table: per device its neurons, synapses and stored entries."""
        lines = ["| device | neurons | synapses | stored |", "|---:|---:|---:|---:|"]
        for d, (ranges, syn, st) in enumerate(zip(self.blocks, self.synapses, self.stored)):
            held = ", ".join(f"{lo}-{hi}" for lo, hi in ranges if hi > lo) or "-"
            count = sum(hi - lo for lo, hi in ranges)
            lines.append(f"| {d} | {held} ({count}) | {syn} | {st} |")
        ladder = ", ".join(f"{s} ({self.exchange_bytes(k)} B)"
                           for k, s in enumerate(self.exchange))
        lines.append("")
        lines.append(f"balance (max / mean synapses) {self.balance:.3f}; exchange per step and "
                     f"device: counts {self.n_devices * INDEX_BYTES} B + buffer of "
                     f"[{ladder}] spikes, else 0/1 spikes "
                     f"({self.exchange_bytes(len(self.exchange))} B)")
        return "\n".join(lines)


def partition(params, n_devices, *, exchange=None):
    """The split of ``params`` over ``n_devices`` devices: blocks, load balance, exchange volume.

    Args:
        params: :class:`izhijax.Network`.
        n_devices: number of devices (any positive integer: the network is padded).
        exchange: the exchange ladder (default :func:`default_exchange`).

    Returns:
        :class:`Partition`.
    """
    _check_supported(params)
    lay = layout(params, n_devices)
    ladder = _ladder(exchange, lay.m)
    return _partition(lay, ladder, _tables(params, lay))


def _partition(lay, ladder, tables):
    d, m = lay.d, lay.m
    syn = np.zeros(d, np.int64)
    stored = np.zeros(d, np.int64)
    for t in tables:
        syn += t.synapses
        stored += t.stored
    perm = lay.perm.reshape(d, m)
    blocks = []
    for k in range(d):
        ranges = []
        for off, size in zip(lay.offsets, lay.sizes):
            part = perm[k, off:off + size]
            real = part[part < lay.n]
            ranges.append((int(real[0]), int(real[-1]) + 1) if real.size else (lay.n, lay.n))
        blocks.append(tuple(ranges))
    return Partition(lay.n, d, m, tuple(blocks), tuple(int(x) for x in syn),
                     tuple(int(x) for x in stored), ladder)


def _check_devices(n_devices):
    if isinstance(n_devices, bool) or not isinstance(n_devices, (int, np.integer)) \
            or n_devices < 1:
        raise ValueError(f"n_devices must be a positive integer, got {n_devices!r}")
    return int(n_devices)


def _ladder(exchange, m):
    if exchange is None:
        return default_exchange(m)
    try:
        ladder = connectivity.check_buffers(exchange)
    except (TypeError, ValueError) as err:
        raise ValueError(f"exchange: {err}") from None
    if any(s > m for s in ladder):
        raise ValueError(f"exchange buffers must be at most the {m} neurons of a device, "
                         f"got {ladder}")
    return ladder


def _check_supported(params):
    """One-line refusals for what the sharded run does not do (yet)."""
    from .network import Network
    if not isinstance(params, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(params).__name__}")
    traced = _is_traced_tree(params)
    from .plasticity import REWARDS, Dopamine2007, TraceRule
    for p in params.projections:
        w = p.weights.matrix if isinstance(p.weights, connectivity.PreScaled) else p.weights
        for field in ("post", "incoming", "indices", "indptr"):   # what the split is computed from
            if is_traced(getattr(w, field, None)):
                raise TypeError(
                    f"shard.simulate: projection {p.name!r} has traced weights.{field} (inside "
                    f"jit or vmap): the synapses are split on the host from their targets, so "
                    f"the connectivity must be concrete; differentiate with respect to the "
                    f"weights' values (close over the network, replace weights.w), or use "
                    f"izj.simulate")
        rule = p.plasticity
        if traced and rule is not None:
            raise NotImplementedError(
                f"shard: gradients through a sharded run with plasticity (projection "
                f"{p.name!r}) are not supported (the learned weights carry no gradient); use "
                f"izj.simulate")
        shipped = isinstance(rule, TraceRule) and (
            type(rule).modulate is TraceRule.modulate
            or (type(rule).modulate is Dopamine2007.modulate
                and type(rule.reward) in REWARDS.values()))
        if rule is not None and not shipped:
            raise NotImplementedError(
                f"shard: projection {p.name!r} is plastic with {type(rule).__name__} (reward "
                f"{type(getattr(rule, 'reward', None)).__name__}), a rule or reward of its own "
                f"whose state the sharded run cannot split; it supports STDP, Izhikevich2006 "
                f"and Dopamine2007 with RewardTimes or RewardPairing; use izj.simulate")
        _kind(p.weights, p.name)
    if traced and jax.process_count() > 1:
        raise NotImplementedError("shard: gradients through a sharded run over several "
                                  "processes are not supported; run one process per host")


def _is_traced_tree(tree):
    return any(is_traced(x) for x in jax.tree_util.tree_leaves(tree))


def _kind(w, name):
    if isinstance(w, connectivity.PreScaled):
        return "prescaled"
    if isinstance(w, connectivity.EventDense):
        return "event"
    if isinstance(w, connectivity.Sparse):
        return "sparse"
    if isinstance(w, CSR):
        return "csr"
    if type(w) is Delayed:      # not a subclass: LearnableDelayed delivers otherwise
        return "delayed"
    if not connectivity.is_format(w):
        return "dense"
    raise NotImplementedError(f"shard: projection {name!r} has weights of format "
                              f"{type(w).__name__}, which the sharded run does not support "
                              f"(dense, EventDense, Sparse, CSR, PreScaled); use izj.simulate")


# --- the local tables: each device's share of the weights ------------------------------------


class Table(NamedTuple):
    """One projection's weights as the devices hold them (host arrays, stacked over devices)."""

    spec: tuple         # static: (kind, s0, s1, t0, t1, delay, extra)
    arrays: dict        # name -> (host array, partition spec)
    synapses: np.ndarray
    stored: np.ndarray
    index: object = None    # Delayed: flat index into the global table of each local entry
                            # (D, n_pre, max_delay, width), -1 for padding


_SPLIT = {}
"""The last network's split (:func:`_split`): ``{key: (tables, global tables)}``, one entry."""
_FINALIZERS = []        # the entry's weakref.finalize objects, detached when it is replaced


def _split(params, lay, mesh):
    """``(tables, g_tables)``: the projections' weights split by device (host arrays,
    :func:`_tables`) and placed on the mesh.

    The split is host NumPy over every synapse (about 12 s at N = 1e6, K = 100: far more than
    a simulated second on a GPU), so the last network's split is kept for the next call with
    the same weight arrays (the same objects, alive: the entry is dropped when one of them is
    freed), layout, projections and mesh. Only JAX arrays are keyed so (immutable: a NumPy
    array could be changed in place between calls); NumPy and traced weights (``jax.grad``)
    are split every time."""
    leaves = jax.tree_util.tree_leaves([p.weights for p in params.projections])
    key = None
    if all(isinstance(x, jax.Array) and not is_traced(x) for x in leaves):
        key = (tuple(map(id, leaves)), lay.d, lay.m, lay.perm.tobytes(),
               tuple((params.span(p.source), params.span(p.target), p.delay, p.name)
                     for p in params.projections),
               tuple(mesh.devices.flat), mesh.axis_names)
        if key in _SPLIT:
            return _SPLIT[key]
    tables = _tables(params, lay)
    g_tables = tuple({k: _global(x, mesh, spec) for k, (x, spec) in t.arrays.items()}
                     for t in tables)
    if key is not None:
        for f in _FINALIZERS:
            f.detach()
        _SPLIT.clear()
        _SPLIT[key] = (tables, g_tables)
        # an id is only reused once its object is gone, and then the entry goes first
        _FINALIZERS[:] = [weakref.finalize(x, _SPLIT.pop, key, None) for x in leaves]
    return tables, g_tables


def _tables(params, lay):
    out = []
    for p in params.projections:
        s0, s1 = params.span(p.source)
        t0, t1 = params.span(p.target)
        spec, arrays, syn, stored, index = _localize(p.weights, t0, t1, lay, p.name)
        out.append(Table((spec[0], s0, s1, t0, t1, p.delay, spec), arrays, syn, stored, index))
    return tuple(out)


def _owned(t0, t1, lay):
    """Per device the rows ``j`` of the projection's targets it holds: ``(D, m)`` int, -1 where
    the device's slot is not a target."""
    g = lay.perm.reshape(lay.d, lay.m)
    return np.where((g >= t0) & (g < t1), g - t0, -1)


def _localize(w, t0, t1, lay, name):
    """``(spec, arrays, synapses per device, stored per device)`` of one weight format."""
    kind = _kind(w, name)
    d, m = lay.d, lay.m
    rows = _owned(t0, t1, lay)                                     # (D, m)
    if kind == "prescaled":
        spec, arrays, syn, stored, _ = _localize(w.matrix, t0, t1, lay, name)
        arrays = {**{"m_" + k: v for k, v in arrays.items()},
                  "scale": (_xp(w.scale)[1], P())}
        return ("prescaled", spec), arrays, syn, stored, None
    if kind == "delayed":   # as Sparse, per presynaptic neuron and delay
        lpost, per, index = _split_table(np.asarray(w.post), w.n_post, t0, lay)
        lw = _take(w.w, index)
        # the synapses onto each of the device's neurons, flat into its table (plasticity)
        inc = [delays._incoming(lpost[k], m) for k in range(d)]
        width = max(x.shape[1] for x in inc)
        incoming = np.stack([np.pad(x, ((0, 0), (0, width - x.shape[1])),
                                    constant_values=lpost[0].size) for x in inc])
        return ("delayed", w.capacity), {"post": (lpost, P(AXIS)), "w": (lw, P(AXIS)),
                                         "incoming": (incoming.astype(np.int32), P(AXIS))}, \
            per, np.full(d, lpost[0].size), index
    if kind == "dense":
        xp, W = _xp(w)                                             # (n_t, n_s)
        n_t, n_s = W.shape
        local = xp.where(rows.reshape(-1, 1) >= 0, W[np.maximum(rows.reshape(-1), 0)], 0)
        r = n_t % TILE
        tail = W[n_t - r:] if r else xp.zeros((0, n_s), W.dtype)
        per = (rows >= 0).sum(1) * n_s
        return (("dense", n_t - r, n_t, r), {"w": (local.astype(W.dtype), P(AXIS)),
                                             "tail": (tail, P())}, per,
                np.full(d, m * n_s + r * n_s), None)
    if kind == "event":
        xp, W = _xp(w.w)                                           # (n_s, n_t)
        cols = rows.reshape(-1)
        local = xp.where(cols[None, :] >= 0, W[:, np.maximum(cols, 0)], 0).astype(W.dtype)
        per = (rows >= 0).sum(1) * W.shape[0]
        return ("event", w.buffers), {"w": (local, P(None, AXIS))}, per, \
            np.full(d, m * W.shape[0]), None
    if kind == "csr":
        return _split_csr(w, t0, lay)
    lpost, per, index = _split_table(np.asarray(w.post), w.n_post, t0, lay)
    lw = _take(w.w, index)
    return ("sparse", w.buffers), {"post": (lpost, P(AXIS)), "w": (lw, P(AXIS))}, per, \
        np.full(d, lpost[0].size), None


def _split_csr(w, t0, lay):
    """A :class:`~izhijax.connectivity.CSR` split by target device: each device keeps, row by
    row, the synapses onto its neurons in storage order (the order of the additions onto each
    target), re-indexed to its block; every device's table is padded to the longest with
    synapses of weight ``-0.0`` onto its last slot at the end of the last row (``x + (-0.0)`` is
    ``x`` for every ``x``, so they change no bit). Returns what :func:`_localize` returns; the spec holds the
    static task capacity and whether every device's rows are sorted."""
    d, m = lay.d, lay.m
    indices, indptr = np.asarray(w.indices), np.asarray(w.indptr)
    n_pre = indptr.size - 1
    rows = np.repeat(np.arange(n_pre, dtype=np.int32), np.diff(indptr))
    slot = lay.slot[indices.astype(np.int64) + t0]                 # flat slot of each target
    owner = slot // m
    picks = [np.flatnonzero(owner == k) for k in range(d)]         # storage order
    per = np.array([x.size for x in picks])
    width = max(1, int(per.max(initial=0)))
    lidx = np.full((d, width), m - 1, np.int32)      # padding onto the last slot: sorted rows
    lptr = np.zeros((d, n_pre + 1), np.int32)       # stay sorted
    index = np.full((d, width), -1, np.int64)
    for k, sel in enumerate(picks):
        lidx[k, :sel.size] = slot[sel] - k * m
        index[k, :sel.size] = sel
        counts = np.bincount(rows[sel], minlength=n_pre)
        counts[-1] += width - sel.size                             # the padding: last row
        lptr[k, 1:] = np.cumsum(counts)
    xp, taken = _xp(_take(w.data, index))
    data = xp.where(index >= 0, taken, xp.asarray(-0.0, taken.dtype))
    capacity = max(_task_capacity(lptr[k]) or 1 for k in range(d))
    ordered = all(_sorted_rows(lidx[k], lptr[k]) for k in range(d))
    arrays = {"data": (data, P(AXIS)), "indices": (lidx, P(AXIS)), "indptr": (lptr, P(AXIS))}
    return ("csr", capacity, ordered), arrays, per, np.full(d, width), None


def _take(x, index):
    """The entries ``x.ravel()[index]`` (``0`` where ``index < 0``): a host gather, or a traced
    one (the weights' gradient flows back through it)."""
    xp, x = _xp(x)
    flat = x.reshape(-1)
    return xp.where(index >= 0, flat[np.maximum(index, 0)], 0).astype(x.dtype)


def _split_table(post, n_t, t0, lay):
    """A table of targets (last axis: the synapses of one row) split by target device.

    Each device keeps, in each row, the synapses onto its neurons in table order (the order of
    the additions onto each target), re-indexed to its block, padded with ``m`` (dropped).
    Returns ``(post (D, ..., width), real synapses per device, index)``, ``index`` the flat
    index into the table of each local entry (``-1`` for padding; the weights are
    ``_take(w, index)``).

    Flat NumPy passes over the table: a running count per device gives each synapse its place
    in its device's row, and one scatter writes every device's table (N = 1e6, K = 100 on the
    2-core VM: 5-6 s per device count where a gather by ``nonzero`` index tuples took 11-19 s).
    """
    d, m = lay.d, lay.m
    shape = post.shape
    rows, width_in = int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]
    flat = post.reshape(rows, width_in)
    real = flat < n_t
    where = lay.slot[np.where(real, flat.astype(np.int64) + t0, 0)]     # flat slot of each target
    owner = where // m if d > 1 else np.zeros((), where.dtype)
    sel = np.flatnonzero(real)                                          # flat index into post
    own = owner.reshape(-1)[sel] if d > 1 else np.zeros(sel.size, np.int64)
    per_dev = np.bincount(own, minlength=d)[:d]
    pos = np.zeros((rows, width_in), np.int32)
    width = 1
    for k in range(d):
        mine = real if d == 1 else real & (owner == k)
        count = np.cumsum(mine, axis=-1, dtype=np.int32)
        if rows and width_in:
            width = max(width, int(count[:, -1].max()))
        np.subtract(count, 1, out=pos, where=mine)
    dst = (own * rows + sel // width_in) * width + pos.reshape(-1)[sel]
    lpost = np.full(d * rows * width, m, np.int32)
    lpost[dst] = where.reshape(-1)[sel] - own * m
    index = np.full(d * rows * width, -1, np.int64)
    index[dst] = sel
    out_shape = (d,) + shape[:-1] + (width,)
    return lpost.reshape(out_shape), per_dev, index.reshape(out_shape)


def _local_propagate(spec, arrays, spikes, gidx, t0):
    """This device's targets' pulse of one projection, from the step's spike vector of its
    source (the unsharded :func:`izhijax.connectivity.propagate` of the device's weights)."""
    kind = spec[0]
    if kind == "prescaled":
        inner = {k[2:]: v for k, v in arrays.items() if k.startswith("m_")}
        return _local_propagate(spec[1], inner, arrays["scale"] * spikes, gidx, t0)
    if kind == "dense":
        _, n8, n_t, r = spec
        out = connectivity.propagate(arrays["w"], spikes)
        if r:   # the matrix's last rows, by the kernel that computes them in the whole matrix
            tail = connectivity.propagate(arrays["tail"], spikes)
            j = gidx - t0
            last = (j >= n8) & (j < n_t)
            out = jnp.where(last, tail[jnp.clip(j - n8, 0, r - 1)], out)
        return out
    if kind == "event":
        return connectivity.EventDense(arrays["w"], spec[1]).propagate(spikes)
    if kind == "csr":      # the device's share through the CSR kernels (csr.CSR.propagate)
        return _csr_propagate(gidx.shape[0], spec[1], spec[2], arrays["data"][0],
                              arrays["indices"][0], arrays["indptr"][0], spikes)
    return connectivity.Sparse(arrays["post"][0], arrays["w"][0], gidx.shape[0],
                               spec[1]).propagate(spikes)


# --- the exchange ------------------------------------------------------------------------------


def _exchange(sent, gidx, perm, n, ladder, axis, ascending, dense_needed, carry_grad=False):
    """What the devices send each other in a step, from each device's 0/1 spikes ``sent``.

    Returns ``(fired, spikes, branch, overflow)``, the same on every device: ``fired`` the
    global indices of the step's fired neurons, ascending, then ``n`` (``(D x ladder[-1],)``);
    ``spikes`` the 0/1 vector of all ``n`` neurons, built (``O(n)``) only on the 0/1 fallback
    or where ``dense_needed`` (zeros otherwise); ``branch`` the ladder entry used
    (``len(ladder)`` for the fallback); ``overflow`` whether it was the fallback (``fired``
    then holds nothing: use ``spikes``). ``ascending``: the devices' neurons are in increasing
    global order device after device (one neuron model), so the gathered buffers are merged by
    a prefix sum instead of a sort. ``carry_grad`` (static; with ``ladder = ()``): gather the
    spikes as the floats they are, so that the surrogate gradient crosses the devices
    (``Config(synapse_grad=True)`` under ``jax.grad``; the same 0/1 values).
    """
    dtype = sent.dtype
    count = jnp.sum(sent != 0, dtype=jnp.int32)
    counts = jax.lax.all_gather(count, axis)
    d = counts.shape[0]
    top = jnp.max(counts)
    branch = jnp.sum(top > jnp.asarray(ladder, jnp.int32)) if ladder else jnp.int32(0)
    width = d * (ladder[-1] if ladder else 1)

    def indices(size):
        idx, valid = connectivity._fired(sent, size)
        mine = jnp.where(valid, gidx[idx], n)                       # global, n: none
        every = jax.lax.all_gather(mine, axis).reshape(-1)
        if ascending:
            ok = every < n
            pos = jnp.where(ok, jnp.cumsum(ok, dtype=jnp.int32) - 1, width)
            fired = jnp.full(width, n, jnp.int32).at[pos].set(every, mode="drop")
        else:
            fired = jnp.pad(jnp.sort(every), (0, width - every.size), constant_values=n)
        spikes = jnp.zeros(n, dtype)
        if dense_needed:
            spikes = spikes.at[every].set(1, mode="drop")
        return fired, spikes

    def dense():
        every = jax.lax.all_gather(sent if carry_grad else sent != 0, axis).reshape(-1)  # slots
        spikes = jnp.zeros(n, dtype).at[perm].set(every.astype(dtype), mode="drop")
        return jnp.full(width, n, jnp.int32), spikes

    paths = [partial(indices, size) for size in ladder] + [dense]
    if len(paths) == 1:
        fired, spikes = dense()
    else:
        fired, spikes = jax.lax.switch(branch, [lambda _, f=f: f() for f in paths], None)
    return fired, spikes, branch, branch == len(ladder)


def _from_fired(fired, s0, s1, size, n):
    """:func:`izhijax._src.connectivity._fired` of the source span ``[s0, s1)`` from the step's
    ascending fired list: the first ``size`` fired indices of the span (relative to ``s0``),
    ascending, the unused slots ``s1 - s0 - 1``, and their validity; and the span's count."""
    # the binary search as counts (``searchsorted``'s left side of an ascending list): one
    # reduction each, where ``jnp.searchsorted`` runs a loop of log2(size) iterations, each
    # a kernel launch and a copy on a GPU (the sharded step there: 1.2 ms of launches)
    p0 = jnp.sum(fired < s0, dtype=jnp.int32)
    count = jnp.sum(fired < s1, dtype=jnp.int32) - p0
    room = jnp.concatenate([fired, jnp.full(size, n, fired.dtype)])
    part = jax.lax.dynamic_slice(room, (p0,), (size,))
    valid = part < s1
    return jnp.where(valid, part - s0, s1 - s0 - 1).astype(jnp.int32), valid, count


def _indexed_propagate(spec, arrays, fired, spikes, overflow, s0, s1, n, m):
    """The device's pulse of an :class:`EventDense` or :class:`Sparse` projection from the
    step's fired list, without scanning the ``n`` neurons: what
    :func:`izhijax.connectivity.propagate` of the device's weights computes (the same buffer
    ladder picked by the same count, the same fired indices in the same order, the same
    additions; its all-synapse path from the 0/1 vector, rebuilt then). On the exchange's 0/1
    fallback the indices come from the 0/1 vector, as there."""
    kind, buffers = spec[0], spec[1]
    dtype = spikes.dtype
    src = lambda: jax.lax.cond(overflow, lambda: spikes[s0:s1], lambda: jnp.zeros(
        s1 - s0, dtype).at[fired - s0].set(1, mode="drop"))
    count = jax.lax.cond(
        overflow, lambda: jnp.sum(spikes[s0:s1] != 0, dtype=jnp.int32),
        lambda: _from_fired(fired, s0, s1, 1, n)[2])

    def indices(size):
        return jax.lax.cond(overflow, lambda: connectivity._fired(spikes[s0:s1], size),
                            lambda: _from_fired(fired, s0, s1, size, n)[:2])

    if kind == "event":
        w = arrays["w"]

        def event(size):        # connectivity._dense_forward's event path (spikes[idx] = 1)
            idx, valid = indices(size)
            return connectivity.sum_rows(jnp.where(valid, jnp.ones((), dtype), 0), w, idx)

        full = lambda: connectivity._dense_full(w, src())
    else:
        post, w = arrays["post"][0], arrays["w"][0]

        def event(size):        # connectivity._sparse_forward's event path
            idx, valid = indices(size)
            coef = jnp.where(valid, jnp.ones((), dtype), 0).astype(w.dtype)
            targets = jnp.where(valid[:, None], post[idx], m)
            return jnp.zeros(m, w.dtype).at[targets].add(w[idx] * coef[:, None], mode="drop")

        full = lambda: connectivity._sparse_full(m, post, w, src())
    if not buffers:
        return full()
    branch = jnp.sum(count > jnp.asarray(buffers, jnp.int32))
    paths = [partial(event, size) for size in buffers] + [full]
    return jax.lax.switch(branch, [lambda _, f=f: f() for f in paths], None)


# --- noise -------------------------------------------------------------------------------------


def noise_slice(key, t0, size, neurons, n, dtype, kind):
    """Unit noise of steps ``t0 .. t0 + size - 1`` of the given neurons (int array ``(m,)``, may
    be traced): those columns of ``unit_noise_block(key, t0, size, n, ...)``, bit for bit (an
    index past ``n``, padding, gets some noise, which padding multiplies by 0)."""
    return unit_noise_block(key, t0, size, n, dtype, kind, neurons=neurons)


# --- the sharded run ---------------------------------------------------------------------------


class _Static(NamedTuple):
    mesh: object
    axis: str
    n: int
    m: int
    d: int
    config: object
    models: tuple        # (model, local offset, slots) of each block of one neuron model
    specs: tuple
    rules: tuple         # each projection's plasticity (or None)
    syn_specs: tuple     # per projection None or ((state key, "rep" | "table" | "slot"), ...)
    max_delay: int
    spans: tuple
    ladder: tuple
    n_steps: int
    record_spikes: bool
    inputs: str          # "none", "array", "function"
    impl: object
    dtype: object
    differentiable: bool = False   # spikes, counts, population counts as floats (surrogate)
    checkpoint: object = None      # steps per jax.checkpoint chunk, or None


class Stats(NamedTuple):
    """What the exchange did in a sharded run.

    Attributes:
        partition: the :class:`Partition`.
        branch: per step the exchange used (an index of ``partition.exchange``, or its length for
            the 0/1 fallback), int array ``(T,)``.
        bytes: per step the bytes each device received, ``(T,)``.
        seconds: wall time of the compiled calls (compilation included on a first call; the
            host work of splitting the network and gathering the results excluded).
    """

    partition: Partition
    branch: np.ndarray
    bytes: np.ndarray
    seconds: float = 0.0

    @property
    def mean_bytes(self):
        """Mean bytes each device received per step."""
        return float(np.mean(self.bytes)) if self.bytes.size else 0.0

    @property
    def overflow_steps(self):
        """Steps that gathered 0/1 spikes (some device had more spikes than the ladder holds)."""
        return int(np.sum(self.branch == len(self.partition.exchange)))


def _device_run(st, tables, nparams, key_data, state, inputs, v_index, u_index):
    """One device's scan (inside ``shard_map``): local blocks in, local blocks out."""
    key = jax.random.wrap_key_data(key_data, impl=st.impl)
    m, n, dtype = st.m, st.n, st.dtype
    cfg = st.config
    kind = cfg.noise.kind
    gidx = nparams["gidx"]                 # (m,) global index of each slot, n for padding
    real = gidx < n
    # Delayed projections: the engine's own arrivals (Arrivals.at, arrive) on the device's
    # table, from the ring of the source's spikes, which every device holds whole (replicated)
    # (plasticity: the rule on the device's table, with the source's traces whole and the
    # targets' traces of the device's neurons)
    delayed = tuple((k, Delayed(arrays["post"][0], arrays["w"][0], arrays["incoming"][0], m,
                                spec[6][1]), (0, m), (0, m), st.rules[k])
                    for k, (spec, arrays) in enumerate(zip(st.specs, tables))
                    if spec[0] == "delayed")
    fixed = [(spec, arrays) for spec, arrays in zip(st.specs, tables) if spec[0] != "delayed"]
    # the 0/1 vector of every step: for dense and PreScaled weights and the delay rings
    dense_needed = any(spec[0] not in _INDEXED for spec in st.specs)
    # synapse_grad under grad: the spikes cross as floats (simulate set the 0/1 exchange only)
    carry_grad = st.differentiable and st.config.synapse_grad
    blks = tuple(engine.Block(model, off, off + size, params)
                 for (model, off, size), params in zip(st.models, nparams["params"]))
    low = engine.Lowered(blocks=blks, noise_amp=nparams["noise_amp"], bias=nparams["bias"],
                         projections=(), delayed=delayed, n=m, max_delay=st.max_delay, spans=())
    holder = _ConfigOnly(cfg)
    box = []        # what the step's propagation gathered, for the ring and the statistics

    def propagate(pulse, _, sent):
        sent = jnp.where(real, sent, jnp.zeros_like(sent))          # padding never fires
        fired, spikes, branch, overflow = _exchange(sent, gidx, perm, n, st.ladder, st.axis,
                                                    len(st.models) == 1, dense_needed,
                                                    carry_grad)
        box.append((spikes, branch))
        new_row = lambda: jnp.zeros((1, m), pulse.dtype)
        if not fixed:
            return jnp.concatenate([pulse[1:], new_row()])
        # (carrying the gradient, the formats' own propagation from the 0/1 floats: the same
        # sums as the indexed one on the 0/1 fallback, and their all-synapse JVP in the spikes)
        contrib = [_indexed_propagate(spec[6], arrays, fired, spikes, overflow, spec[1],
                                      spec[2], n, m)
                   if spec[0] in _INDEXED and not carry_grad else
                   _local_propagate(spec[6], arrays, spikes[spec[1]:spec[2]], gidx, spec[3])
                   for spec, arrays in fixed]
        if len(fixed) == 1:      # the engine's one all-to-all projection: the row itself
            _, s0, s1, t0, t1, delay, _ = fixed[0][0]
            if (s0, s1) == (0, n) and (t0, t1) == (0, n) and delay == st.max_delay:
                return jnp.concatenate([pulse[1:], contrib[0][None]])
        pulse = jnp.concatenate([pulse[1:], new_row()])
        for ((_, s0, s1, t0, t1, delay, _), _), c in zip(fixed, contrib):
            row = pulse[delay - 1]
            inside = (gidx >= t0) & (gidx < t1)
            pulse = pulse.at[delay - 1].set(jnp.where(inside, row + c, row))
        return pulse

    def sources(k, _):      # a Delayed projection's source spikes: every device's
        return box[-1][0][st.specs[k][1]:st.specs[k][2]]

    def targets(k, _):      # its target's spikes, every device's (a reward reads them)
        return box[-1][0][st.specs[k][3]:st.specs[k][4]]

    perm = nparams["perm"]                 # (D m,) every slot's global index, replicated
    input_key = jax.random.fold_in(key, INPUT_TAG)
    pops = [(gidx >= plo) & (gidx < phi) for _, plo, phi in st.spans]

    def finite(state):      # the real neurons' state (the engine's _finite, padding left out)
        ok = None
        for (_, off, size), x in zip(st.models, state.neurons):
            mine = real[off:off + size]
            for value in x.values():
                good = jnp.all(jnp.isfinite(value) | ~mine)
                ok = good if ok is None else ok & good
        return ok

    def body(carry, xs):
        state, counts, bad = carry
        i_ext, z = xs
        t = state.t
        if st.inputs == "function":
            full = inputs(t, input_key, dtype)
            i_ext = jnp.where(real, full[jnp.clip(gidx, 0, n - 1)], 0)
        state, s, pre = engine.advance(state, holder, key, i_ext, z, low, propagate=propagate,
                                       sources=sources, targets=targets)
        branch = box.pop()[1]
        if st.differentiable:       # the engine's: the spikes themselves (surrogate gradient)
            fired = jnp.where(real, s, jnp.zeros_like(s))
            count = lambda p: jnp.sum(jnp.where(p, fired, jnp.zeros_like(fired)))
        else:
            fired = (s > 0) & real
            count = lambda p: jnp.sum(fired & p, dtype=jnp.int32)
        v = engine._cat([x[model.state_names[0]] for (model, _, _), x in zip(st.models, pre)])
        u = engine._cat([x["u"] if "u" in x else jnp.zeros_like(x[model.state_names[0]])
                         for (model, _, _), x in zip(st.models, pre)])
        pop = jnp.stack([count(p) for p in pops])
        out = (fired if st.record_spikes else None, v[v_index], u[u_index], pop, branch)
        bad = jnp.where((bad < 0) & ~finite(state), t.astype(jnp.int32), bad)
        return (state, counts + fired, bad), out

    def blocks_of(carry, xs_in, n_blocks, size):
        def outer(carry, i_blk):
            z = None if kind == "none" else noise_slice(key, carry[0].t, size, gidx, n, dtype,
                                                        kind)
            return jax.lax.scan(body, carry, (i_blk, z), length=size)
        if st.checkpoint is not None:       # the engine's rematerialisation (simulate's)
            outer = jax.checkpoint(outer)
        if xs_in is not None:
            xs_in = xs_in.reshape((n_blocks, size) + xs_in.shape[1:])
        carry, out = jax.lax.scan(outer, carry, xs_in, length=n_blocks)
        flat = lambda a: a.reshape((n_blocks * size,) + a.shape[2:])
        return carry, jax.tree_util.tree_map(flat, out)

    xs_inputs = inputs if st.inputs == "array" else None
    carry = (state, jnp.zeros(m, dtype if st.differentiable else jnp.int32), jnp.int32(-1))
    size = engine.noise_block(m, st.n_steps, kind) if st.checkpoint is None else min(
        st.checkpoint, st.n_steps)
    n_blocks, rest = divmod(st.n_steps, size)
    main = n_blocks * size
    carry, out = blocks_of(carry, None if xs_inputs is None else xs_inputs[:main], n_blocks, size)
    if rest:
        carry, tail = blocks_of(carry, None if xs_inputs is None else xs_inputs[main:], 1, rest)
        out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, tail)
    final, counts, bad = carry
    final = engine.flush(final, low)            # consolidations due after the last step
    spikes, v, u, pop, branch = out
    return final, (spikes, v, u, counts, pop, bad[None], branch[:, None])


class _ConfigOnly(NamedTuple):
    """What :func:`engine.advance` reads of the network when given its lowered form."""

    config: object


@lru_cache(maxsize=32)
def _program(st, table_specs):
    """The jitted ``shard_map`` of :func:`_device_run` for one static setting."""
    ax = st.axis
    state_spec = State(neurons=tuple({k: P(ax) for k in model.state_names}
                                     for model, _, _ in st.models),
                       pulse=P(None, ax), t=P(),
                       synapses=tuple(None if keys is None else
                                      {k: P() if where == "rep" else P(ax) for k, where in keys}
                                      for keys in st.syn_specs))
    nparam_spec = {"params": tuple({k: P(ax) for k in model.param_names}
                                   for model, _, _ in st.models),
                   "noise_amp": P(ax), "bias": P(ax), "gidx": P(ax), "perm": P()}
    input_spec = {"none": None, "array": P(None, ax), "function": P()}[st.inputs]
    in_specs = (tuple({k: s for k, s in spec} for spec in table_specs), nparam_spec, P(),
                state_spec, input_spec, P(), P())
    out_specs = (state_spec, (P(None, ax) if st.record_spikes else None, P(None, ax),
                              P(None, ax), P(ax), P(None, ax), P(ax), P(None, ax)))
    fn = jax.shard_map(partial(_device_run, st), mesh=st.mesh, in_specs=in_specs,
                       out_specs=out_specs, check_vma=False)
    return jax.jit(fn)


def _as_mesh(mesh, axis):
    if mesh is None:
        return Mesh(np.array(jax.devices()), (axis,))
    if isinstance(mesh, Mesh):
        if axis not in mesh.axis_names:
            raise ValueError(f"mesh has axes {mesh.axis_names}, not {axis!r} (axis=)")
        return mesh
    devices = list(mesh)
    if not devices:
        raise ValueError("mesh must be a jax.sharding.Mesh, devices or None, got an empty list")
    return Mesh(np.array(devices), (axis,))


def _global(x, mesh, spec):
    """A host array as a global array of ``spec`` (every process passes the same ``x``); a
    traced one (under ``jax.grad``, one process) as it is: the jitted ``shard_map`` places it."""
    if is_traced(x):
        return x
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, NamedSharding(mesh, spec),
                                        lambda index: x[index])


def _host(x):
    if x is None or is_traced(x):
        return x
    if x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def simulate(params, key, n_steps, *, mesh=None, axis=AXIS, state=None, inputs=None,
             record_v=(0,), record_u=(), record_spikes=True, chunk_size=None,
             on_divergence="warn", exchange=None, stats=False, checkpoint=None,
             differentiable=None):
    """:func:`izhijax.simulate` with the neurons split over the devices of a mesh.

    ``params``, ``key``, ``n_steps``, ``state``, ``inputs`` (an ``(n_steps, n)`` array, an
    :class:`izhijax.inputs.Input` or ``None``), ``record_v``, ``record_u``, ``record_spikes``,
    ``chunk_size``, ``on_divergence``, ``checkpoint`` and ``differentiable`` are
    :func:`izhijax.simulate`'s.

    Gradients: under ``jax.grad`` (one process) the run is differentiable with respect to the
    network's values (neuron parameters, noise amplitudes, biases, the weights' values of every
    format, inputs, the initial state): the split of the network is then a traced gather, each
    device's scan is differentiated in place, and the gradients equal :func:`izhijax.simulate`'s
    up to the order of floating-point sums (tests: float64, 4 devices; chunked within 1e-12).
    The connectivity (``Sparse.post``, ``Delayed.post``) must stay concrete (close over the
    network and replace the weights' values), the spikes cross devices as indices
    (with ``config.synapse_grad=True`` the spikes cross as 0/1 floats, every step, so that
    their gradient does too), plastic projections are refused, and
    ``stats`` is not available.

    Args:
        mesh: a ``jax.sharding.Mesh`` with an axis ``axis`` (the neurons are split along it,
            replicated along the others), a sequence of devices, or ``None`` (every device
            ``jax.devices()`` lists, every process's after ``jax.distributed.initialize``).
        axis: the mesh axis name.
        exchange: the exchange ladder, spikes per device of each index buffer (default
            :func:`default_exchange`; ``()`` always gathers the 0/1 spikes).
        stats: also return a :class:`Stats` (exchange per step, the partition).

    The split of the weights over the devices (host NumPy over every synapse) is kept for the
    next call with the same weight arrays, with its copy on the devices, until one of those
    arrays is freed or another network is split (one network's split at a time).

    Returns:
        ``(final_state, recording)`` in the unsharded layout, equal bit for bit to
        :func:`izhijax.simulate`'s (see the module docstring), or with ``stats=True``
        ``(final_state, recording, stats)``.

    Raises:
        NotImplementedError: a plasticity rule or reward of the user's own, in one line.
        ValueError, TypeError: bad arguments, as :func:`izhijax.simulate`.
    """
    from .simulate import (_check_divergence, _check_on_divergence, _differentiable,
                           _input_chunk, _prepare, _recording)
    from .validate import check_n_steps
    _check_supported(params)
    with jax.ensure_compile_time_eval():     # host indices, also inside a user's jit
        key, state, inputs, v_index, u_index = _prepare(params, key, n_steps, state, inputs,
                                                        record_v, record_u)
    n_steps = int(n_steps)
    _check_on_divergence(on_divergence)
    traced = _is_traced_tree((params, state, inputs))
    if traced and _is_traced_tree(state.synapses) and any(
            p.plasticity is not None for p in params.projections):
        raise NotImplementedError("shard: a traced plastic state is not supported; use "
                                  "izj.simulate")
    if traced and stats:
        raise ValueError("shard.simulate: stats=True is not available under jax.grad or jit "
                         "(the exchange's record is host data); call it on concrete values")
    differentiable = _differentiable(differentiable, params, state, inputs)
    checkpoint = None if checkpoint is None else check_n_steps(checkpoint, "checkpoint")
    chunk_size = n_steps if chunk_size is None else check_n_steps(chunk_size, "chunk_size")
    mesh = _as_mesh(mesh, axis)
    lay = layout(params, mesh.shape[axis])
    n, m = lay.n, lay.m
    ladder = _ladder(exchange, m)
    if differentiable and params.config.synapse_grad:
        ladder = ()     # the spikes carry the gradient: they cross as the 0/1 floats themselves
    tables, g_tables = _split(params, lay, mesh)
    part = _partition(lay, ladder, tables)
    low = engine.lower(params)
    models = tuple((blk.model, off, size)
                   for blk, off, size in zip(low.blocks, lay.offsets, lay.sizes))
    rules = tuple(p.plasticity for p in params.projections)
    dtype = jnp.dtype(params.dtype)
    table_specs = tuple(tuple((k, spec) for k, (_, spec) in t.arrays.items()) for t in tables)
    sharded = lambda x: _global(x, mesh, P(axis))
    nparams = {"params": tuple({k: sharded(lay.block_to_local(b, blk.params[k]))
                                for k in blk.model.param_names}
                               for b, blk in enumerate(low.blocks)),
               "noise_amp": sharded(lay.to_local(low.noise_amp)),
               "bias": sharded(lay.to_local(low.bias)),
               "gidx": sharded(lay.perm.astype(np.int32)),
               "perm": _global(lay.perm.astype(np.int32), mesh, P())}
    impl = jax.random.key_impl(key)
    key_data = _global(jax.random.key_data(key), mesh, P())
    function_input = isinstance(inputs, Input)
    # v and u of neuron g: slot slot[g] % m of device slot[g] // m (each device reads that
    # slot of its own; the owner's is kept)
    g_v = _global((lay.slot[np.asarray(v_index)] % m).astype(np.int32), mesh, P())
    g_u = _global((lay.slot[np.asarray(u_index)] % m).astype(np.int32), mesh, P())

    t0 = state.t
    pieces, branches, seconds = [], [], 0.0
    for start in range(0, n_steps, chunk_size):
        length = min(chunk_size, n_steps - start)
        syn_specs = tuple(None if ring is None else tuple(
            (k, "table" if k in _TABLE_KEYS else "slot" if k in _SLOT_KEYS else "rep")
            for k in sorted(ring)) for ring in state.synapses)
        st = _Static(mesh, axis, n, m, lay.d, params.config, models,
                     tuple(t.spec for t in tables), rules, syn_specs, params.max_delay,
                     tuple((name, lo, hi) for name, (lo, hi) in params.slices().items()),
                     ladder, length, bool(record_spikes),
                     "function" if function_input else "none" if inputs is None else "array",
                     impl, dtype, differentiable, checkpoint)
        chunk = _input_chunk(inputs, start, length)
        if function_input:
            g_in = jax.tree_util.tree_map(lambda x: _global(x, mesh, P()), chunk)
        elif chunk is not None:
            g_in = _global(lay.to_local(chunk), mesh, P(None, axis))
        else:
            g_in = None
        g_state = State(neurons=tuple({k: sharded(lay.block_to_local(b, x[k]))
                                       for k in blk.model.state_names}
                                      for b, (blk, x) in enumerate(zip(low.blocks,
                                                                       state.neurons))),
                        pulse=_global(lay.to_local(state.pulse), mesh, P(None, axis)),
                        t=_global(state.t, mesh, P()),
                        synapses=tuple(None if ring is None else
                                       {k: jax.tree_util.tree_map(partial(
                                           _global, mesh=mesh,
                                           spec=P() if where == "rep" else P(axis)), x)
                                        for k, x in _syn_to_local(ring, table, lay).items()
                                        for where in [dict(keys)[k]]}
                                       for ring, table, keys in zip(state.synapses, tables,
                                                                    syn_specs)))
        fn = _program(st, table_specs)
        tic = time.perf_counter()
        final, out = fn(g_tables, nparams, key_data, g_state, g_in, g_v, g_u)
        if not traced:
            final, out = jax.block_until_ready((final, out))
        seconds += time.perf_counter() - tic
        state = State(neurons=tuple({k: jnp.asarray(lay.block_to_global(b, _host(x)))
                                     for k, x in blk_state.items()}
                                    for b, blk_state in enumerate(final.neurons)),
                      pulse=jnp.asarray(lay.to_global(_host(final.pulse))),
                      t=jnp.asarray(_host(final.t)),
                      synapses=tuple(None if ring is None else
                                     {k: jax.tree_util.tree_map(jnp.asarray, x)
                                      for k, x in _syn_to_global(
                                          {k: jax.tree_util.tree_map(_host, x)
                                           for k, x in ring.items()}, old, table, lay).items()}
                                     for ring, old, table in zip(final.synapses,
                                                                 state.synapses, tables)))
        pieces.append(_collect(out, lay, v_index, u_index))
        if not traced:
            branches.append(_host(out[6])[:, 0])
        if on_divergence == "raise" and start + length < n_steps:
            _check_divergence(pieces[-1].diverged_at, "raise", params)
    from .simulate import _join
    res = pieces[0] if len(pieces) == 1 else _join(pieces)
    rec = _recording(params, res, v_index, u_index, t0)
    _check_divergence(rec.diverged_at, on_divergence, params)
    if not stats:
        return state, rec
    branch = np.concatenate(branches)
    nbytes = np.array([part.exchange_bytes(int(b)) for b in range(len(ladder) + 1)])[branch]
    return state, rec, Stats(part, branch, nbytes, seconds)


_INDEXED = ("event", "sparse")       # formats propagated from the fired list (no O(n) scan)
_TABLE_KEYS = ("w", "sd")            # a plastic projection's per-synapse state: device tables
_SLOT_KEYS = ("x_post", "post")      # its per-target state: the devices' slots


def _syn_to_local(ring, table, lay):
    """A Delayed projection's ``State.synapses`` entry as the devices hold it (host arrays):
    per-synapse tables split as the weights (stacked, ``(D n_pre, max_delay, width)``), per-target
    traces in slot order, the spike ring and the source's traces whole."""
    out = {}
    t0, t1 = table.spec[3], table.spec[4]
    for k, x in ring.items():
        if k not in _TABLE_KEYS and k not in _SLOT_KEYS:    # replicated (a reward's queue: a dict)
            out[k] = jax.tree_util.tree_map(lambda y: y if is_traced(y) else np.asarray(y), x)
            continue
        x = np.asarray(x)
        if k in _TABLE_KEYS:
            idx = table.index
            local = np.where(idx >= 0, x.reshape(-1)[np.maximum(idx, 0)], 0).astype(x.dtype)
            out[k] = local.reshape((-1,) + local.shape[2:])
        elif k in _SLOT_KEYS:
            j = lay.perm - t0
            inside = (lay.perm >= t0) & (lay.perm < t1)
            out[k] = np.where(inside, x[np.clip(j, 0, x.shape[0] - 1)], 0).astype(x.dtype)
        else:
            out[k] = x
    return out


def _syn_to_global(local, old, table, lay):
    """The inverse of :func:`_syn_to_local` (entries no device holds keep ``old``'s values)."""
    if local is None:
        return None
    out = {}
    t0, t1 = table.spec[3], table.spec[4]
    for k, x in local.items():
        if k in _TABLE_KEYS:
            glob = np.array(old[k]).reshape(-1)
            idx = table.index.reshape(-1)
            keep = idx >= 0
            glob[idx[keep]] = x.reshape(-1)[keep]
            out[k] = glob.reshape(np.shape(old[k]))
        elif k in _SLOT_KEYS:
            glob = np.array(old[k])
            inside = (lay.perm >= t0) & (lay.perm < t1)
            glob[lay.perm[inside] - t0] = x[inside]
            out[k] = glob
        else:
            out[k] = x
    return out


def _collect(out, lay, v_index, u_index):
    """The devices' outputs as the engine's :class:`Outputs` of the whole network."""
    spikes, v, u, counts, pop, bad, _ = (_host(x) for x in out)
    d = lay.d
    owner_v = lay.slot[np.asarray(v_index)] // lay.m
    owner_u = lay.slot[np.asarray(u_index)] // lay.m
    k_v, k_u = len(owner_v), len(owner_u)
    pick = lambda a, k, owner: a.reshape(a.shape[0], d, k)[:, owner, np.arange(k)]
    never = jnp.iinfo(jnp.int32).max
    first = jnp.min(jnp.where(bad >= 0, bad, never))
    return engine.Outputs(
        spikes=None if spikes is None else jnp.asarray(lay.to_global(spikes)),
        v=jnp.asarray(pick(v, k_v, owner_v)), u=jnp.asarray(pick(u, k_u, owner_u)),
        counts=jnp.asarray(lay.to_global(counts)),
        pop_counts=jnp.asarray(pop.reshape(pop.shape[0], d, -1).sum(1, dtype=pop.dtype)),
        diverged_at=jnp.where(first == never, -1, first).astype(jnp.int32))
