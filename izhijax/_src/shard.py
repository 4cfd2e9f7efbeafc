"""One network over many devices: the neurons split in blocks, the spikes exchanged every step.

:func:`simulate` runs one network with its neurons split over the devices of a one-axis mesh
(``jax.shard_map``): device ``d`` owns the neurons ``[d m, (d + 1) m)`` (``m`` the block size,
a multiple of 8; the network is padded with neurons that never fire to ``D m``), their state,
parameters and noise, and the synapses onto them (their incoming synapses, in every format).
Each step runs the engine's own step (:func:`izhijax._src.engine.advance`) on the device's
block; the spikes reach the other devices in the step's propagation:

1. each device counts its spikes and the counts are gathered (``D`` int32, one collective);
2. the largest count picks the smallest buffer of the exchange ladder (static sizes, as the
   event-driven formats' ladder, :mod:`izhijax._src.connectivity`) that holds every device's
   spikes; each device writes the global indices of its fired neurons into a buffer of that size
   and the buffers are gathered (``D x size`` int32, the exchange); a step with more spikes on
   some device than the largest buffer holds gathers the devices' 0/1 spikes instead (``n``
   bytes, the overflow fallback): no spike is ever dropped;
3. every device rebuilds the step's spike vector from what it received and propagates it into
   its own targets with its share of the weights, through the formats' own code
   (:func:`izhijax.connectivity.propagate`: the same buffer ladder and overflow path, the same
   order of additions for each target).

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

Multi-process: call ``jax.distributed.initialize`` first (on CPU with
``jax.config.update("jax_cpu_collectives_implementation", "gloo")``); the mesh then spans every
process's devices, each process builds the shards it holds from the same network and key (every
process passes the same arguments), and the results are gathered to every process.

Not sharded: per-synapse delays (:class:`izhijax.connectivity.Delayed`) and plasticity, networks
of several neuron models, gradients. Each device rebuilds the ``n``-neuron spike vector (``O(n)``
per step, as the unsharded step's scan for fired neurons): the exchange is ``O(D x spikes)``,
the scan of the received spikes is not yet.
"""

import dataclasses
import math
from functools import lru_cache, partial
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from . import connectivity, engine
from .delays import Delayed
from .inputs import INPUT_TAG, Input
from .network import State, blocks as model_blocks
from .threefry import _fast_path, threefry2x32, unit_noise_block
from .validate import is_traced

AXIS = "neurons"
TILE = 8
"""Neurons per device are a multiple of this (XLA:CPU's matrix-vector kernel takes rows by 8)."""
INDEX_BYTES = 4


# --- the partition ---------------------------------------------------------------------------


def block_size(n, n_devices):
    """Neurons per device: ``ceil(n / D)`` rounded up to a multiple of :data:`TILE`."""
    return -(-(-(-n // n_devices)) // TILE) * TILE


def default_exchange(n_local):
    """The exchange ladder: index buffers of ``4 .. n_local / 4`` spikes per device, x 2.

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
        n_local: neurons per device (``m``, a multiple of 8); the network is padded to ``D m``.
        blocks: ``((lo, hi), ...)`` the real neurons of each device (``lo == hi`` for a device of
            padding only).
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
        for d, ((lo, hi), syn, st) in enumerate(zip(self.blocks, self.synapses, self.stored)):
            lines.append(f"| {d} | {lo}-{hi} ({hi - lo}) | {syn} | {st} |")
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
    d = _check_devices(n_devices)
    m = block_size(params.n, d)
    ladder = _ladder(exchange, m)
    return _partition(params.n, d, m, ladder, _tables(params, d, m))


def _partition(n, d, m, ladder, tables):
    syn = np.zeros(d, np.int64)
    stored = np.zeros(d, np.int64)
    for t in tables:
        syn += t.synapses
        stored += t.stored
    blocks = tuple((min(n, k * m), min(n, (k + 1) * m)) for k in range(d))
    return Partition(n, d, m, blocks, tuple(int(x) for x in syn), tuple(int(x) for x in stored),
                     ladder)


def _check_devices(n_devices):
    if isinstance(n_devices, bool) or not isinstance(n_devices, (int, np.integer)) \
            or n_devices < 1:
        raise ValueError(f"n_devices must be a positive integer, got {n_devices!r}")
    return int(n_devices)


def _ladder(exchange, m):
    if exchange is None:
        return default_exchange(m)
    ladder = connectivity.check_buffers(exchange) if len(tuple(exchange)) else ()
    if any(s > m for s in ladder):
        raise ValueError(f"exchange buffers must be at most the {m} neurons of a device, "
                         f"got {ladder}")
    return ladder


def _check_supported(params):
    """One-line refusals for what the sharded run does not do (yet)."""
    from .network import Network
    if not isinstance(params, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(params).__name__}")
    if any(is_traced(x) for x in jax.tree_util.tree_leaves(params)):
        raise TypeError("shard.simulate takes a concrete network (its synapses are split on the "
                        "host), not one traced inside jit, vmap or grad")
    for p in params.projections:
        if isinstance(p.weights, Delayed) or p.plasticity is not None:
            raise NotImplementedError(
                f"shard: projection {p.name!r} has per-synapse delays (Delayed) or plasticity, "
                f"which the sharded run does not support yet; use izj.simulate")
        _kind(p.weights, p.name)
    if len(model_blocks(params)) > 1:
        raise NotImplementedError(
            f"shard: the network has {len(model_blocks(params))} blocks of different neuron "
            f"models; the sharded run supports networks of one model; use izj.simulate")


def _kind(w, name):
    if isinstance(w, connectivity.PreScaled):
        return "prescaled"
    if isinstance(w, connectivity.EventDense):
        return "event"
    if isinstance(w, connectivity.Sparse):
        return "sparse"
    if not connectivity.is_format(w):
        return "dense"
    raise NotImplementedError(f"shard: projection {name!r} has weights of format "
                              f"{type(w).__name__}, which the sharded run does not support "
                              f"(dense, EventDense, Sparse, PreScaled); use izj.simulate")


# --- the local tables: each device's share of the weights ------------------------------------


class Table(NamedTuple):
    """One projection's weights as the devices hold them (host arrays, stacked over devices)."""

    spec: tuple         # static: (kind, s0, s1, t0, t1, delay, extra)
    arrays: dict        # name -> (host array, partition spec)
    synapses: np.ndarray
    stored: np.ndarray


def _tables(params, d, m):
    out = []
    for p in params.projections:
        s0, s1 = params.span(p.source)
        t0, t1 = params.span(p.target)
        spec, arrays, syn, stored = _localize(p.weights, t0, t1, d, m, p.name)
        out.append(Table((spec[0], s0, s1, t0, t1, p.delay, spec), arrays, syn, stored))
    return tuple(out)


def _owned(t0, t1, d, m):
    """Per device the rows ``j`` of the projection's targets it owns: ``(D, m)`` int, -1 where
    the device's neuron is not a target."""
    g = np.arange(d * m).reshape(d, m)
    return np.where((g >= t0) & (g < t1), g - t0, -1)


def _localize(w, t0, t1, d, m, name):
    """``(spec, arrays, synapses per device, stored per device)`` of one weight format."""
    kind = _kind(w, name)
    rows = _owned(t0, t1, d, m)                                    # (D, m)
    if kind == "prescaled":
        spec, arrays, syn, stored = _localize(w.matrix, t0, t1, d, m, name)
        arrays = {**{"m_" + k: v for k, v in arrays.items()},
                  "scale": (np.asarray(w.scale), P())}
        return ("prescaled", spec), arrays, syn, stored
    if kind == "dense":
        W = np.asarray(w)                                          # (n_t, n_s)
        n_t, n_s = W.shape
        local = np.where(rows.reshape(-1, 1) >= 0, W[np.maximum(rows.reshape(-1), 0)], 0)
        r = n_t % TILE
        tail = W[n_t - r:] if r else np.zeros((0, n_s), W.dtype)
        per = (rows >= 0).sum(1) * n_s
        return (("dense", n_t - r, n_t, r), {"w": (local.astype(W.dtype), P(AXIS)),
                                             "tail": (tail, P())}, per,
                np.full(d, m * n_s + r * n_s))
    if kind == "event":
        W = np.asarray(w.w)                                        # (n_s, n_t)
        cols = rows.reshape(-1)
        local = np.where(cols[None, :] >= 0, W[:, np.maximum(cols, 0)], 0).astype(W.dtype)
        per = (rows >= 0).sum(1) * W.shape[0]
        return ("event", w.buffers), {"w": (local, P(None, AXIS))}, per, \
            np.full(d, m * W.shape[0])
    # Sparse: each device keeps, per presynaptic neuron, the synapses onto its neurons, in
    # table order (the order of the additions onto each target), re-indexed locally.
    post, wt, n_t = np.asarray(w.post), np.asarray(w.w), w.n_post
    real = post < n_t
    glob = np.where(real, post + t0, -1)
    per_dev, locals_ = [], []
    for k in range(d):
        lo = k * m
        mine = real & (glob >= lo) & (glob < lo + m)
        pos = np.cumsum(mine, axis=1) - 1
        per_dev.append(int(mine.sum()))
        locals_.append((mine, pos, lo))
    width = max(1, max(int((mine.sum(1)).max()) if mine.size else 0 for mine, _, _ in locals_))
    lpost = np.full((d, post.shape[0], width), m, np.int32)
    lw = np.zeros((d, post.shape[0], width), wt.dtype)
    for k, (mine, pos, lo) in enumerate(locals_):
        i, j = np.nonzero(mine)
        lpost[k, i, pos[i, j]] = glob[i, j] - lo
        lw[k, i, pos[i, j]] = wt[i, j]
    return ("sparse", w.buffers), {"post": (lpost, P(AXIS)), "w": (lw, P(AXIS))}, \
        np.asarray(per_dev), np.full(d, post.shape[0] * width)


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
    return connectivity.Sparse(arrays["post"][0], arrays["w"][0], gidx.shape[0],
                               spec[1]).propagate(spikes)


# --- the exchange ------------------------------------------------------------------------------


def _exchange(sent, lo, n, ladder, axis):
    """The step's 0/1 spikes of all ``n`` neurons on every device, from each device's ``sent``.

    Returns ``(spikes (n,), branch)``: ``branch`` is the ladder entry used (``len(ladder)`` for
    the 0/1 fallback), the same on every device.
    """
    count = jnp.sum(sent != 0, dtype=jnp.int32)
    top = jnp.max(jax.lax.all_gather(count, axis))
    branch = jnp.sum(top > jnp.asarray(ladder, jnp.int32)) if ladder else jnp.int32(0)

    def indices(size):
        idx, valid = connectivity._fired(sent, size)
        mine = jnp.where(valid, lo + idx, n)                        # global, n: none
        every = jax.lax.all_gather(mine, axis).reshape(-1)
        return jnp.zeros(n, sent.dtype).at[every].set(1, mode="drop")

    def dense():
        every = jax.lax.all_gather(sent != 0, axis).reshape(-1)
        return every[:n].astype(sent.dtype)

    paths = [partial(indices, size) for size in ladder] + [dense]
    if len(paths) == 1:
        return dense(), branch
    return jax.lax.switch(branch, [lambda _, f=f: f() for f in paths], None), branch


# --- noise -------------------------------------------------------------------------------------


def noise_slice(key, t0, size, lo, m, n, n_pad, dtype, kind):
    """Unit noise of steps ``t0 .. t0 + size - 1`` of neurons ``lo .. lo + m - 1`` (``lo`` may be
    traced): columns ``lo .. lo + m`` of ``unit_noise_block(key, t0, size, n, ...)``, bit for bit
    (neurons past ``n`` get noise too, of counters past ``n``; padding multiplies it by 0)."""
    steps = t0 + jnp.arange(size, dtype=jnp.asarray(t0).dtype)
    dtype = jnp.dtype(dtype)
    if not _fast_path(key) or dtype not in (jnp.float32, jnp.float64) \
            or n >= 2**32 or kind not in ("normal", "uniform"):
        full = unit_noise_block(key, t0, size, n, dtype, kind)
        full = jnp.pad(full, ((0, 0), (0, n_pad - n)))
        return jax.lax.dynamic_slice_in_dim(full, lo, m, axis=1)
    # the counters lo .. lo + m of each step's key: the lines of threefry.unit_noise_block
    keys = jax.random.key_data(jax.vmap(lambda t: jax.random.fold_in(key, t))(steps))
    k1, k2 = keys[:, :1], keys[:, 1:]
    count = (jnp.asarray(lo).astype(jnp.uint32) + jnp.arange(m, dtype=jnp.uint32))[None, :]
    b1, b2 = threefry2x32(k1, k2, jnp.zeros_like(count), count)
    if dtype == jnp.float32:
        bits, one, nmant = b1 ^ b2, np.float32(1.0), 23
    else:
        bits = (b1.astype(jnp.uint64) << np.uint64(32)) | b2.astype(jnp.uint64)
        one, nmant = np.float64(1.0), 52
    width = 8 * dtype.itemsize
    float_bits = (bits >> np.array(width - nmant, bits.dtype)) | np.array(one.view(bits.dtype))
    floats = jax.lax.bitcast_convert_type(float_bits, dtype) - one
    if kind == "uniform":
        return jnp.maximum(np.array(0, dtype), floats)
    lo_ = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    hi = np.array(1.0, dtype)
    u = jnp.maximum(lo_, floats * (hi - lo_) + lo_)
    return np.array(np.sqrt(2), dtype) * jax.lax.erf_inv(u)


# --- the sharded run ---------------------------------------------------------------------------


class _Static(NamedTuple):
    mesh: object
    axis: str
    n: int
    m: int
    d: int
    config: object
    model: object
    specs: tuple
    max_delay: int
    spans: tuple
    ladder: tuple
    n_steps: int
    record_spikes: bool
    inputs: str          # "none", "array", "function"
    impl: object
    dtype: object


class Stats(NamedTuple):
    """What the exchange did in a sharded run.

    Attributes:
        partition: the :class:`Partition`.
        branch: per step the exchange used (an index of ``partition.exchange``, or its length for
            the 0/1 fallback), int array ``(T,)``.
        bytes: per step the bytes each device received, ``(T,)``.
    """

    partition: Partition
    branch: np.ndarray
    bytes: np.ndarray

    @property
    def mean_bytes(self):
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
    lo = jax.lax.axis_index(st.axis).astype(jnp.int32) * m
    gidx = lo + jnp.arange(m, dtype=jnp.int32)
    real = gidx < n
    low = engine.Lowered(blocks=(engine.Block(st.model, 0, m, nparams["params"]),),
                         noise_amp=nparams["noise_amp"], bias=nparams["bias"], projections=(),
                         delayed=(), n=m, max_delay=st.max_delay, spans=())
    holder = _ConfigOnly(cfg)
    branch_box = []

    def propagate(pulse, _, sent):
        sent = jnp.where(real, sent, jnp.zeros_like(sent))          # padding never fires
        spikes, branch = _exchange(sent, lo, n, st.ladder, st.axis)
        branch_box.append(branch)
        new_row = lambda: jnp.zeros((1, m), pulse.dtype)
        if not st.specs:
            return jnp.concatenate([pulse[1:], new_row()])
        contrib = [_local_propagate(spec[6], arrays, spikes[spec[1]:spec[2]], gidx, spec[3])
                   for spec, arrays in zip(st.specs, tables)]
        if len(st.specs) == 1:      # the engine's one all-to-all projection: the row itself
            _, s0, s1, t0, t1, delay, _ = st.specs[0]
            if (s0, s1) == (0, n) and (t0, t1) == (0, n) and delay == st.max_delay:
                return jnp.concatenate([pulse[1:], contrib[0][None]])
        pulse = jnp.concatenate([pulse[1:], new_row()])
        for (_, s0, s1, t0, t1, delay, _), c in zip(st.specs, contrib):
            row = pulse[delay - 1]
            inside = (gidx >= t0) & (gidx < t1)
            pulse = pulse.at[delay - 1].set(jnp.where(inside, row + c, row))
        return pulse

    input_key = jax.random.fold_in(key, INPUT_TAG)
    first = st.model.state_names[0]
    vi = jnp.clip(v_index - lo, 0, m - 1)
    ui = jnp.clip(u_index - lo, 0, m - 1)
    pops = [(gidx >= plo) & (gidx < phi) for _, plo, phi in st.spans]

    def body(carry, xs):
        state, counts, bad = carry
        i_ext, z = xs
        t = state.t
        if st.inputs == "function":
            full = inputs(t, input_key, dtype)
            full = jnp.pad(full, (0, st.d * m - n))
            i_ext = jax.lax.dynamic_slice_in_dim(full, lo, m)
        state, s, pre = engine.advance(state, holder, key, i_ext, z, low, propagate=propagate)
        branch = branch_box.pop()
        fired = (s > 0) & real
        x = pre[0]
        v = x[first]
        u = x["u"] if "u" in x else jnp.zeros_like(v)
        pop = jnp.stack([jnp.sum(fired & p, dtype=jnp.int32) for p in pops])
        out = (fired if st.record_spikes else None, v[vi], u[ui], pop, branch)
        finite = engine._finite(state)
        bad = jnp.where((bad < 0) & ~finite, t.astype(jnp.int32), bad)
        return (state, counts + fired, bad), out

    def blocks_of(carry, xs_in, n_blocks, size):
        def outer(carry, i_blk):
            z = None if kind == "none" else noise_slice(key, carry[0].t, size, lo, m, n,
                                                        st.d * m, dtype, kind)
            return jax.lax.scan(body, carry, (i_blk, z), length=size)
        if xs_in is not None:
            xs_in = xs_in.reshape((n_blocks, size) + xs_in.shape[1:])
        carry, out = jax.lax.scan(outer, carry, xs_in, length=n_blocks)
        flat = lambda a: a.reshape((n_blocks * size,) + a.shape[2:])
        return carry, jax.tree_util.tree_map(flat, out)

    xs_inputs = inputs if st.inputs == "array" else None
    carry = (state, jnp.zeros(m, jnp.int32), jnp.int32(-1))
    size = engine.noise_block(m, st.n_steps, kind)
    n_blocks, rest = divmod(st.n_steps, size)
    main = n_blocks * size
    carry, out = blocks_of(carry, None if xs_inputs is None else xs_inputs[:main], n_blocks, size)
    if rest:
        carry, tail = blocks_of(carry, None if xs_inputs is None else xs_inputs[main:], 1, rest)
        out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, tail)
    final, counts, bad = carry
    spikes, v, u, pop, branch = out
    return final, (spikes, v, u, counts, pop, bad[None], branch[:, None])


class _ConfigOnly(NamedTuple):
    """What :func:`engine.advance` reads of the network when given its lowered form."""

    config: object


@lru_cache(maxsize=32)
def _program(st, table_specs):
    """The jitted ``shard_map`` of :func:`_device_run` for one static setting."""
    ax = st.axis
    state_spec = State(neurons=({k: P(ax) for k in st.model.state_names},),
                       pulse=P(None, ax), t=P(), synapses=())
    nparam_spec = {"params": {k: P(ax) for k in st.model.param_names}, "noise_amp": P(ax),
                   "bias": P(ax)}
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
    """A host array as a global array of ``spec`` (every process passes the same ``x``)."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, NamedSharding(mesh, spec),
                                        lambda index: x[index])


def _host(x):
    if x is None:
        return None
    if x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def _pad(x, size, mode="edge"):
    x = np.asarray(x)
    extra = size - x.shape[-1]
    if extra <= 0:
        return x
    widths = [(0, 0)] * (x.ndim - 1) + [(0, extra)]
    return np.pad(x, widths, mode=mode) if mode == "edge" else np.pad(x, widths)


def simulate(params, key, n_steps, *, mesh=None, axis=AXIS, state=None, inputs=None,
             record_v=(0,), record_u=(), record_spikes=True, chunk_size=None,
             on_divergence="warn", exchange=None, stats=False):
    """:func:`izhijax.simulate` with the neurons split over the devices of a mesh.

    Args:
        params, key, n_steps, state, inputs, record_v, record_u, record_spikes, chunk_size,
            on_divergence: as :func:`izhijax.simulate` (``inputs``: an ``(n_steps, n)`` array,
            an :class:`izhijax.inputs.Input` or ``None``).
        mesh: a ``jax.sharding.Mesh`` with an axis ``axis`` (the neurons are split along it,
            replicated along the others), a sequence of devices, or ``None`` (every device
            ``jax.devices()`` lists, every process's after ``jax.distributed.initialize``).
        axis: the mesh axis name.
        exchange: the exchange ladder, spikes per device of each index buffer (default
            :func:`default_exchange`; ``()`` always gathers the 0/1 spikes).
        stats: also return a :class:`Stats` (exchange per step, the partition).

    Returns:
        ``(final_state, recording)`` in the unsharded layout, equal bit for bit to
        :func:`izhijax.simulate`'s (see the module docstring), or with ``stats=True``
        ``(final_state, recording, stats)``.

    Raises:
        NotImplementedError: per-synapse delays, plasticity, several neuron models (one line).
        ValueError, TypeError: bad arguments, as :func:`izhijax.simulate`.
    """
    from .simulate import (_check_divergence, _check_on_divergence, _input_chunk, _prepare,
                           _recording)
    from .validate import check_n_steps
    _check_supported(params)
    key, state, inputs, v_index, u_index = _prepare(params, key, n_steps, state, inputs,
                                                    record_v, record_u)
    n_steps = int(n_steps)
    _check_on_divergence(on_divergence)
    chunk_size = n_steps if chunk_size is None else check_n_steps(chunk_size, "chunk_size")
    mesh = _as_mesh(mesh, axis)
    d = mesh.shape[axis]
    n = params.n
    m = block_size(n, d)
    n_pad = d * m
    ladder = _ladder(exchange, m)
    tables = _tables(params, d, m)
    part = _partition(n, d, m, ladder, tables)
    (model, _, _, pops), = model_blocks(params)
    low = engine.lower(params)
    blk = low.blocks[0]
    dtype = jnp.dtype(params.dtype)
    table_specs = tuple(tuple((k, spec) for k, (_, spec) in t.arrays.items()) for t in tables)
    g_tables = tuple({k: _global(x, mesh, spec) for k, (x, spec) in t.arrays.items()}
                     for t in tables)
    nparams = {"params": {k: _global(_pad(blk.params[k], n_pad), mesh, P(axis))
                          for k in model.param_names},
               "noise_amp": _global(_pad(low.noise_amp, n_pad, "zero"), mesh, P(axis)),
               "bias": _global(_pad(low.bias, n_pad, "zero"), mesh, P(axis))}
    impl = jax.random.key_impl(key)
    key_data = _global(np.asarray(jax.random.key_data(key)), mesh, P())
    function_input = isinstance(inputs, Input)
    g_v, g_u = _global(v_index, mesh, P()), _global(u_index, mesh, P())

    t0 = state.t
    pieces, branches = [], []
    for start in range(0, n_steps, chunk_size):
        length = min(chunk_size, n_steps - start)
        st = _Static(mesh, axis, n, m, d, params.config, model,
                     tuple(t.spec for t in tables), params.max_delay,
                     tuple((name, lo, hi) for name, (lo, hi) in params.slices().items()),
                     ladder, length, bool(record_spikes),
                     "function" if function_input else "none" if inputs is None else "array",
                     impl, dtype)
        chunk = _input_chunk(inputs, start, length)
        if function_input:
            g_in = jax.tree_util.tree_map(lambda x: _global(x, mesh, P()), chunk)
        elif chunk is not None:
            g_in = _global(_pad(chunk, n_pad, "zero"), mesh, P(None, axis))
        else:
            g_in = None
        g_state = State(neurons=({k: _global(_pad(state.neurons[0][k], n_pad), mesh, P(axis))
                                  for k in model.state_names},),
                        pulse=_global(_pad(state.pulse, n_pad, "zero"), mesh, P(None, axis)),
                        t=_global(state.t, mesh, P()), synapses=())
        fn = _program(st, table_specs)
        final, out = fn(g_tables, nparams, key_data, g_state, g_in, g_v, g_u)
        state = State(neurons=({k: jnp.asarray(_host(x)[:n])
                                for k, x in final.neurons[0].items()},),
                      pulse=jnp.asarray(_host(final.pulse)[:, :n]),
                      t=jnp.asarray(_host(final.t)), synapses=state.synapses)
        pieces.append(_collect(out, st, v_index, u_index))
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
    return state, rec, Stats(part, branch, nbytes)


def _collect(out, st, v_index, u_index):
    """The devices' outputs as the engine's :class:`Outputs` of the whole network."""
    spikes, v, u, counts, pop, bad, _ = (_host(x) for x in out)
    n, d = st.n, st.d
    owner_v = np.asarray(v_index) // st.m
    owner_u = np.asarray(u_index) // st.m
    k_v, k_u = len(owner_v), len(owner_u)
    pick = lambda a, k, owner: a.reshape(a.shape[0], d, k)[:, owner, np.arange(k)]
    bad = bad[bad >= 0]
    return engine.Outputs(
        spikes=None if spikes is None else jnp.asarray(spikes[:, :n]),
        v=jnp.asarray(pick(v, k_v, owner_v)), u=jnp.asarray(pick(u, k_u, owner_u)),
        counts=jnp.asarray(counts[:n]),
        pop_counts=jnp.asarray(pop.reshape(pop.shape[0], d, -1).sum(1, dtype=np.int32)),
        diverged_at=jnp.asarray(bad.min() if bad.size else -1, jnp.int32))
