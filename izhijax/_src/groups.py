"""Polychronous groups: the activity-triggered search of Izhikevich (2006).

"Polychronization: computation with spikes" (Neural Computation 18) calls a group *polychronous*
when a few anchor neurons, fired with the right time lags, set off a reproducible, time-locked
cascade of spikes through the strong synapses. The program of the paper (``poly_spnet.cpp``, its
default "new" definition, ``polychronous()`` with ``all_polychronous()``) finds them like this, and
:func:`polychronous_groups` does the same, written here from that definition:

1. For every excitatory target neuron, its *strong* excitatory presynaptic neurons (synapse weight
   ``> 0.95 c_max``); every set of ``width`` (W = 3) of them is an anchor set.
2. The anchors fire so that their spikes reach the target together: anchor k (delay ``dk`` ms to
   the target, ``dmax`` the largest of the W) fires at ``dmax - dk``; its spikes travel only along
   its strong synapses with a delay of at least ``dk``.
3. The network of strong excitatory synapses plus every inhibitory synapse is simulated from rest
   (``v = -70``, ``u = 0.2 v``, every neuron) with the program's step: two 0.5 ms half steps of
   ``v``, then ``u``; a neuron with ``v >= 30`` after the step fires at that step (reset ``v = -65``,
   ``u += d``), its spikes arrive ``delay`` steps later (input ``I = sum of weights`` in the step of
   arrival). The run lasts until step ``t_last``: first ``3 D + 1`` (D the largest delay), then, at
   every recorded spike at ``t``, at least ``t + (largest delay of the neuron's strong synapses) + 1``
   (``t + 2`` for an inhibitory neuron; a neuron without strong synapses changes nothing), never
   more than ``polylenmax - D - 1``; the run also stops once ``polylenmax`` spikes (anchors
   included) are recorded, and spikes beyond that number are not recorded.
4. Links: for every recorded spike i (not an anchor's), every spike of an excitatory neuron J that
   reached it in the last ``D`` ms (arrival in ``(t_i - D, t_i]``) is a link J -> i; the layer of i
   is ``1 +`` the largest layer of any earlier recorded spike of J (anchors have layer 1; a spike
   without links has layer 0). The group's length is the largest layer ``L_max``.
5. The anchor set makes a group when more than ``2 W`` spikes were recorded, ``L_max >=
   min_path`` (7), and no anchor neuron is the source of exactly one link to an excitatory
   neuron.

The count is the program's ``N_polychronous``; the groups come in its order (target, then anchor sets
in lexicographic order) and :meth:`PolychronousGroups.polyall` writes its ``polyall.dat``.

Details of the program that decide the count and are reproduced here:

* the rest state ``(-70, 0.2 * -70)`` is not a fixed point of the float64 step: v becomes
  ``-69.99999999999999`` after the first step (then it stays). Inputs of one step are added in the
  order the program inserted them (anchors first, then by spike, then by synapse: delay, index);
* a spike is recorded in the step whose update crosses 30 (not one step later, unlike the
  program's main loop), and its neuron's spikes arrive at ``t + delay``;
* ``t_last`` grows with the *last* strong synapse of the spiking neuron in the program's loop
  order (the largest delay); it starts above its cap when ``polylenmax - D - 1 < 3 D + 1``;
* the link window is ``D`` steps (the program's ``latency = D``), arrivals at the spike's own step
  included; an anchor neuron that spikes again is an ordinary spike (its links count for the
  discard rule, which counts links by neuron, not by spike); spikes of inhibitory neurons get
  layers (from their excitatory links) and count for ``L_max``, but make no links;
* the program stores the spikes in flight in rows of N slots per arrival step; an anchor set with
  more than N spikes arriving in one step (reverberating activity; on the 5 h weights of the
  paper's network a few hundred of 2.75 million anchor sets) overflows into the next row, which
  changes its cascade and its links. Such anchor sets are detected and run again in an exact
  emulation of that storage (``_emulate``).

Speed. The program simulates all N neurons for every step of every anchor set. Two backends
avoid that, with the same results (tests: every anchor set of random networks against a
line-by-line transcription of the program):

* ``backend="numba"`` (:mod:`izhijax._src.groups_numba`, the default when Numba is installed):
  the program's per-anchor-set loop compiled, with its own storage of the spikes in flight, a
  neuron stepped only while it gets input or is not certified quiet (below), threads over ranges
  of anchor sets;
* ``backend="numpy"``: a batch of anchor sets runs together, event driven, in NumPy (exact
  float64 arithmetic, same operations in the same order), as follows.

* only neurons that received a spike are simulated; a neuron whose first input leaves it in a
  state certified quiet (below) keeps just that input (most neurons reached by an anchor set get
  one spike and nothing else) and is rebuilt only if a second spike arrives;
* a neuron is stepped only in the steps in which it gets input and while it is *hot*: after each
  step its state is looked up in a precomputed table of cells of the ``(v, u)`` plane certified
  (interval arithmetic, a greatest invariant set) never to fire without input. A certified neuron
  sleeps; its skipped input-free steps are replayed exactly when its next spike arrives, from a
  table of trajectories of the states that recur (those of one spike from rest above all);
* an anchor set is finished when no spike is in flight and no neuron is hot.

Layers, links and the discard rule are computed afterwards for the anchor sets that can still be
groups (enough spikes), also batched.
"""

import dataclasses
import functools
import itertools
import time

import numpy as np

from . import groups_numba as _numba

__all__ = ["Group", "PolychronousGroups", "polychronous_groups", "shuffle_weights"]


# ---------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True, eq=False)
class Group:
    """One polychronous group: the spikes set off by one anchor set.

    Attributes:
        target: the excitatory neuron the anchors' spikes converge on.
        anchors: (W,) the anchor neurons, in the order of the search (ascending index).
        neurons: (K,) the neuron of every recorded spike, in the order of recording: the W
            anchors first, then by time and, within a step, by neuron index (a neuron can appear
            more than once).
        times: (K,) the spike times (ms; the anchors' are ``dmax - delay to the target``).
        links: (L, 4) int: ``pre, post, delay (ms), layer`` of every link, in the program's order
            (by spike, then by arrival time from the latest back, then by arrival order); ``layer``
            is the post spike's layer as far as counted at that link (the program's running value;
            the last link of a spike holds its layer).
        layers: (K,) the layer of every spike (anchors 1, a spike without links 0).
        n_layers: the longest path, ``L_max`` (the largest layer).
    """

    target: int
    anchors: np.ndarray
    neurons: np.ndarray
    times: np.ndarray
    links: np.ndarray
    layers: np.ndarray
    n_layers: int

    @property
    def size(self):
        """The number of recorded spikes (the program's ``N_fired``)."""
        return len(self.neurons)

    @property
    def duration(self):
        """The time of the last spike (ms), the program's ``T``."""
        return int(self.times[-1])

    def polyall_line(self):
        """This group as a line of the program's ``polyall.dat`` (new definition: the link delay is
        printed 0-based, ``delay - 1``)."""
        parts = [" %d  %d,       " % (self.size, self.n_layers)]
        parts += [" %d %d, " % (n, t) for n, t in zip(self.neurons.tolist(), self.times.tolist())]
        parts.append("        ")
        parts += [" %d %d %d %d,  " % (p, q, dl - 1, ly) for p, q, dl, ly in self.links.tolist()]
        return "".join(parts) + "\n"


@dataclasses.dataclass(frozen=True, eq=False)
class PolychronousGroups:
    """What :func:`polychronous_groups` found.

    Attributes:
        groups: tuple of :class:`Group`, in the program's order.
        n_triplets: the number of anchor sets searched.
        n_targets: the number of target neurons searched.
        seconds: wall time of the search.
        settings: the parameters of the search (dict).
        n_emulated: anchor sets with more than N spikes arriving in one step, which overflow the
            program's storage of spikes in flight: run in an exact emulation of that storage.
    """

    groups: tuple
    n_triplets: int
    n_targets: int
    seconds: float
    settings: dict
    n_emulated: int = 0

    @property
    def count(self):
        """The number of groups (the program's ``N_polychronous``)."""
        return len(self.groups)

    def __len__(self):
        return len(self.groups)

    def per_target(self, n_exc=None):
        """Number of groups per target neuron, ``(n_exc,)`` int (``n_exc`` from the settings)."""
        n = self.settings["n_exc"] if n_exc is None else n_exc
        return np.bincount([g.target for g in self.groups], minlength=n).astype(np.int64)

    def polyall(self):
        """The program's ``polyall.dat`` for these groups (one line per group)."""
        return "".join(g.polyall_line() for g in self.groups)

    def summary(self):
        """A dict of plain numbers: count, sizes, lengths (``L_max``), durations."""
        sizes = np.array([g.size for g in self.groups])
        lengths = np.array([g.n_layers for g in self.groups])
        durations = np.array([g.duration for g in self.groups])

        def stats(x):
            if x.size == 0:
                return None
            return {"mean": float(x.mean()), "median": float(np.median(x)), "max": int(x.max())}

        return {"count": self.count, "n_triplets": self.n_triplets, "seconds": self.seconds,
                "n_emulated": self.n_emulated,
                "size": stats(sizes), "n_layers": stats(lengths), "duration_ms": stats(durations)}


# ---------------------------------------------------------------------------------------------
# The network as the search sees it


class _Net:
    """Strong synapses as flat tables (CSR by source, each source's synapses by (delay, index))."""

    def __init__(self, post, delay, weights, a, d, n_exc, c_max, max_delay, polylenmax):
        post = np.asarray(post)
        delay = np.asarray(delay)
        w = np.asarray(weights, dtype=np.float64)
        if post.ndim != 2 or delay.shape != post.shape or w.shape != post.shape:
            raise ValueError(f"post, delay and weights must be (N, M) arrays of one shape, got "
                             f"{post.shape}, {delay.shape}, {w.shape}")
        n, m = post.shape
        if not (np.issubdtype(post.dtype, np.integer) and np.issubdtype(delay.dtype, np.integer)):
            raise ValueError("post and delay must be integer arrays")
        if post.size and (post.min() < 0 or post.max() >= n):
            raise ValueError(f"post must hold neuron indices in [0, {n})")
        n_exc = int(n_exc)
        if not 0 < n_exc <= n:
            raise ValueError(f"n_exc must be in [1, {n}], got {n_exc}")
        dmax_given = int(delay.max()) if delay.size else 1
        D = dmax_given if max_delay is None else int(max_delay)
        if delay.size and (delay.min() < 1 or dmax_given > D):
            raise ValueError(f"delays must be integers in [1, {D}] ms")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights must be finite")
        a = np.broadcast_to(np.asarray(a, dtype=np.float64), (n,))
        d = np.broadcast_to(np.asarray(d, dtype=np.float64), (n,))
        strong_ee = (post[:n_exc] < n_exc) & (w[:n_exc] > 0.95 * float(c_max))
        srt = np.sort(np.where(strong_ee, post[:n_exc], -1 - np.arange(m)), axis=1)
        if m > 1 and np.any((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)):
            raise ValueError("an excitatory neuron has two strong synapses onto the same "
                             "excitatory target (not supported)")
        self.n, self.m, self.ne, self.D = n, m, n_exc, D
        self.polylenmax = n if polylenmax is None else int(polylenmax)
        self.c_rel = 0.95 * float(c_max)
        self.a, self.d = np.ascontiguousarray(a), np.ascontiguousarray(d)
        dd = delay.astype(np.int64) - 1

        # synapses that carry spikes in the search: excitatory ones above c_rel, all inhibitory
        qual = np.ones((n, m), dtype=bool)
        qual[:n_exc] = w[:n_exc] > self.c_rel
        order = np.argsort(dd * m + np.arange(m), axis=1, kind="stable")
        rows = np.repeat(np.arange(n), m).reshape(n, m)
        q = np.take_along_axis(qual, order, axis=1)
        src, col = rows[q], order[q]  # row-major: by source, then (delay, index)
        self.osrc = src.astype(np.int32)
        self.otgt = post[src, col].astype(np.int32)
        self.odd = dd[src, col].astype(np.int32)
        self.ow = w[src, col]
        cnt = np.bincount(src, minlength=n)
        self.deg = cnt.astype(np.int64)
        self.optr = np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64)
        # cnt_lt[i, x]: number of i's carrying synapses with 0-based delay < x
        hist = np.zeros((n, D + 1), dtype=np.int64)
        np.add.at(hist, (src, self.odd + 1), 1)
        self.cnt_lt = np.cumsum(hist, axis=1)
        # t_last grows to t + (largest 0-based delay) + 2 at a spike of a neuron with synapses
        last = self.optr[1:] - 1
        self.tl_inc = np.where(cnt > 0, self.odd[np.maximum(last, 0)] + 2, -1).astype(np.int64)

        # strong excitatory presynaptic neurons of each excitatory target, by (source, index)
        jj, kk = np.nonzero((post[:n_exc] < n_exc) & (w[:n_exc] > self.c_rel))
        tg = post[jj, kk]
        o = np.argsort(tg, kind="stable")
        self.pre_src = jj[o].astype(np.int32)
        self.pre_dd = dd[jj, kk][o].astype(np.int32)
        self.pre_ptr = np.concatenate([[0], np.cumsum(np.bincount(tg, minlength=n_exc))])

        # neuron classes (by a): rest trajectory and certified cells
        self.classes, self.cls = np.unique(self.a, return_inverse=True)
        self.cls = self.cls.astype(np.int32)
        t_max = self.polylenmax + 2 * D + 4
        self.rest_v = np.empty((len(self.classes), t_max))
        self.rest_u = np.empty((len(self.classes), t_max))
        for c, ac in enumerate(self.classes):
            self.rest_v[c], self.rest_u[c] = _rest_trajectory(float(ac), t_max)
        self.cert = _Certificate(tuple(float(x) for x in self.classes))
        # single inputs from rest that are certified quiet: an interval of inputs per class
        self.lazy_lo = np.full(len(self.classes), np.inf)
        self.lazy_hi = np.full(len(self.classes), -np.inf)
        self.settled = np.zeros(len(self.classes), dtype=bool)  # rest constant from step 1 on
        for c, ac in enumerate(self.classes):
            self.settled[c] = (np.all(self.rest_v[c, 1:] == self.rest_v[c, 1])
                               and np.all(self.rest_u[c, 1:] == self.rest_u[c, 1]))
            if self.settled[c]:
                self.lazy_lo[c], self.lazy_hi[c] = _quiet_inputs(
                    self.cert, c, float(ac), self.rest_v[c, 1], self.rest_u[c, 1])
        self.lazy_lo_n, self.lazy_hi_n = self.lazy_lo[self.cls], self.lazy_hi[self.cls]


def _rest_trajectory(a, n_steps):
    """State before each step of a neuron that never gets input (the program's float64 step)."""
    v, u = -70.0, 0.2 * -70.0
    rv, ru = np.empty(n_steps), np.empty(n_steps)
    for k in range(n_steps):
        rv[k], ru[k] = v, u
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + 0.0)
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + 0.0)
        u += a * (0.2 * v - u)
    return rv, ru


# ---------------------------------------------------------------------------------------------
# Certified quiet cells: (v, u) states that never fire without input


_GRID = dict(v0=-110.0, v1=-40.0, u0=-25.0, u1=35.0, hv=0.1, hu=0.05)


def _half_step_range(vl, vh, ul, uh):
    """Range of ``v + 0.5 ((0.04 v + 5) v + 140 - u)`` over a box (no input): a parabola in v
    (vertex at -87.5), decreasing in u."""

    def h(v, u):
        return v + 0.5 * ((0.04 * v + 5) * v + 140 - u)

    lo = np.minimum(h(vl, uh), h(vh, uh))
    lo = np.where((vl < -87.5) & (vh > -87.5), h(-87.5, uh), lo)
    hi = np.maximum(h(vl, ul), h(vh, ul))
    return lo, hi


def _box_image(vl, vh, ul, uh, a, eps=1e-9):
    """A box that holds the image of the box under one step without input (interval arithmetic,
    widened by ``eps`` per operation for float64 rounding)."""
    v1l, v1h = _half_step_range(vl, vh, ul, uh)
    v2l, v2h = _half_step_range(v1l - eps, v1h + eps, ul, uh)
    v2l, v2h = v2l - eps, v2h + eps
    # u + a (0.2 v - u) = (1 - a) u + 0.2 a v: increasing in u and v (0 < a < 1)
    return v2l, v2h, (1 - a) * ul + 0.2 * a * v2l - eps, (1 - a) * uh + 0.2 * a * v2h + eps


@functools.lru_cache(maxsize=16)
def _certified_cells(a, v0, v1, u0, u1, hv, hu):
    """Boolean (nv, nu) table: cell (i, j) = [v0 + i hv, +hv] x [u0 + j hu, +hu] (widened by
    1e-7) is certified never to reach ``v >= 30`` when no input arrives.

    The certified set is the greatest set of cells whose one-step image boxes (interval arithmetic)
    stay below 30 and inside the set: an invariant set that never fires, so every orbit that starts
    in it stays in it and never fires.
    """
    nv, nu = int(round((v1 - v0) / hv)), int(round((u1 - u0) / hu))
    if not 0 < a < 1:
        return np.zeros((nv, nu), dtype=bool)
    iv, iu = np.meshgrid(np.arange(nv), np.arange(nu), indexing="ij")
    pad = 1e-7
    vl, ul = v0 + iv * hv - pad, u0 + iu * hu - pad
    v2l, v2h, nul, nuh = _box_image(vl, vl + hv + 2 * pad, ul, ul + hu + 2 * pad, a)
    ok = (v2h < 30) & (v2l > v0 + 1e-6) & (v2h < v1 - 1e-6) & (nul > u0 + 1e-6) & (nuh < u1 - 1e-6)
    jv0 = np.floor((v2l - v0) / hv - 1e-6).astype(np.int64).clip(0, nv - 1)
    jv1 = np.floor((v2h - v0) / hv + 1e-6).astype(np.int64).clip(0, nv - 1) + 1
    ju0 = np.floor((nul - u0) / hu - 1e-6).astype(np.int64).clip(0, nu - 1)
    ju1 = np.floor((nuh - u0) / hu + 1e-6).astype(np.int64).clip(0, nu - 1) + 1
    cells = ok.copy()
    idx = np.nonzero(cells)
    while True:
        bad = np.zeros((nv + 1, nu + 1), dtype=np.int32)
        bad[1:, 1:] = (~cells).cumsum(0, dtype=np.int32).cumsum(1, dtype=np.int32)
        i0, i1, k0, k1 = jv0[idx], jv1[idx], ju0[idx], ju1[idx]
        hits = bad[i1, k1] - bad[i0, k1] - bad[i1, k0] + bad[i0, k0]
        drop = hits > 0
        if not drop.any():
            return cells
        cells[idx[0][drop], idx[1][drop]] = False
        idx = (idx[0][~drop], idx[1][~drop])


class _Certificate:
    """Look-up of certified cells for the neuron classes (one table per value of a), with a border
    of uncertified cells around each table so that any state maps to a cell."""

    def __init__(self, classes, grid=None):
        g = dict(_GRID if grid is None else grid)
        self.v0, self.u0 = g["v0"], g["u0"]
        self.ihv, self.ihu = 1.0 / g["hv"], 1.0 / g["hu"]
        tab = np.stack([_certified_cells(a, g["v0"], g["v1"], g["u0"], g["u1"], g["hv"], g["hu"])
                        for a in classes])
        c, nv, nu = tab.shape
        padded = np.zeros((c, nv + 2, nu + 2), dtype=bool)
        padded[:, 1:-1, 1:-1] = tab
        self.nv, self.nu = nv, nu
        self.flat = padded.ravel()
        self.sv, self.sc = nu + 2, (nv + 2) * (nu + 2)
        # prefix sums of uncertified cells, for box queries
        self.bad = np.zeros((c, nv + 3, nu + 3), dtype=np.int64)
        self.bad[:, 1:, 1:] = (~padded).cumsum(1).cumsum(2)

    def box_quiet(self, vl, vh, ul, uh, cls):
        """True where every cell that meets the box [vl, vh] x [ul, uh] is certified."""
        def cell(x, x0, ih, top, fudge):
            return np.clip(np.floor((x - x0) * ih + 1.0 + fudge), 0, top).astype(np.intp)

        i0, i1 = cell(vl, self.v0, self.ihv, self.nv + 1, -1e-6), cell(vh, self.v0, self.ihv,
                                                                          self.nv + 1, 1e-6) + 1
        j0, j1 = cell(ul, self.u0, self.ihu, self.nu + 1, -1e-6), cell(uh, self.u0, self.ihu,
                                                                          self.nu + 1, 1e-6) + 1
        b = self.bad[cls]
        return (b[i1, j1] - b[i0, j1] - b[i1, j0] + b[i0, j0]) == 0

    def quiet(self, v, u, cls):
        """True where the state is certified never to fire without input (NaN: not certified)."""
        x = np.fmin(np.fmax((v - self.v0) * self.ihv + 1.0, 0.0), self.nv + 1.0).astype(np.intp)
        y = np.fmin(np.fmax((u - self.u0) * self.ihu + 1.0, 0.0), self.nu + 1.0).astype(np.intp)
        return self.flat[cls * self.sc + x * self.sv + y]


def _quiet_inputs(cert, c, a, v0, u0, h=1 / 64, top=40.0, bottom=-34.0, eps=1e-9):
    """An interval [lo, hi] of inputs I such that one step from the rest state (v0, u0) with
    input I leaves a state in certified cells (so it fires neither then nor later without input).

    The step's v and u grow with I (for I > -35: v stays above the parabola's vertex), so the states
    of I in [I_k, I_k+1] lie in the box spanned by the states of I_k and I_k+1; the interval is
    grown from I = 0 in steps of ``h`` while those boxes are certified.
    """
    def states(I):
        v, u = np.full(I.size, v0), np.full(I.size, u0)
        _step(v, u, a, I)
        return v, u

    def extent(grid):
        v, u = states(grid)
        lo_v, hi_v = np.minimum(v[:-1], v[1:]) - eps, np.maximum(v[:-1], v[1:]) + eps
        lo_u, hi_u = np.minimum(u[:-1], u[1:]) - eps, np.maximum(u[:-1], u[1:]) + eps
        ok = cert.box_quiet(lo_v, hi_v, lo_u, hi_u, c) & (hi_v < 30)
        bad = np.flatnonzero(~ok)
        return grid[bad[0]] if bad.size else grid[-1]

    hi = extent(np.arange(0.0, top + h, h))
    lo = extent(-np.arange(0.0, -bottom + h, h))
    if not (lo <= 0 <= hi):
        return np.inf, -np.inf
    return lo, hi


# ---------------------------------------------------------------------------------------------
# The batched, event-driven search


def _ranges(start, count):
    """Concatenation of ``arange(s, s + c)`` for each pair (int64)."""
    count = np.asarray(count, dtype=np.int64)
    total = int(count.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.cumsum(count) - count
    nz = count > 0
    out = np.ones(total, dtype=np.int64)
    s = np.asarray(start, dtype=np.int64)[nz]
    c = count[nz]
    o = offs[nz]
    out[o[0]] = s[0]
    out[o[1:]] = s[1:] - (s[:-1] + c[:-1] - 1)
    return np.cumsum(out)


class _Store:
    """State of every (anchor set, neuron) pair of a batch, by key ``b * N + neuron``; reused from
    batch to batch.

    ``last[key]`` relative to the batch's ``base`` (so that nothing is reset between batches):
    ``base + t`` when ``v, u`` hold the neuron's state after step t; ``-(base + t + 2)`` for a
    neuron that got a single input, in step t, that left it certified quiet: ``v`` holds that
    input, and its state is rebuilt (rest trajectory, one step, input-free steps) only if another
    spike reaches it -- most neurons reached by an anchor set get one spike and nothing else;
    anything in between (older batches): no input yet, the neuron follows the rest trajectory.
    """

    def __init__(self, net, B):
        self.B, self.n = B, net.n
        # one record per key, so that a spike finds all of it in one cache line
        self.rec = np.zeros(B * net.n, dtype=[("last", "<i4"), ("tag", "<i4"), ("v", "<f8"),
                                              ("u", "<f8")])
        self.last, self.tag, self.v, self.u = (self.rec[f] for f in ("last", "tag", "v", "u"))
        self.stride = net.polylenmax + 2 * net.D + 8  # more than any step + 2
        self.base = 0

    def next_batch(self):
        """Start a batch: every neuron untouched."""
        self.base += self.stride
        if self.base + 2 * self.stride >= np.iinfo(np.int32).max:
            self.last.fill(0)
            self.base = self.stride


def _step(v, u, a, I):
    """The program's step (two half steps of v with u fixed, then u), in place: the same float64
    operations in the same order as ``v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)`` (twice) and
    ``u += a * (0.2 * v - u)``."""
    for _ in range(2):
        x = v * 0.04
        x += 5
        x *= v
        x += 140
        x -= u
        x += I
        x *= 0.5
        v += x
    x = v * 0.2
    x -= u
    x *= a
    u += x


def _step_free(v, u, a):
    """The step without input (``+ I`` with I = 0.0 changes no float64 value), in place."""
    for _ in range(2):
        x = v * 0.04
        x += 5
        x *= v
        x += 140
        x -= u
        x *= 0.5
        v += x
    x = v * 0.2
    x -= u
    x *= a
    u += x


class _Memo:
    """Input-free trajectories of exact states that many sleeping neurons share (above all a
    neuron rebuilt after one spike from rest): replaying a sleeper's skipped steps is a look-up.

    Filled between batches with the states that replays met at least MIN_COUNT times so far.
    """

    H = 96  # steps tabulated per state
    MAX = 16384  # states tabulated
    MIN_COUNT = 3  # replays of a state before it is tabulated
    MAX_CANDIDATES = 200_000

    def __init__(self, net):
        self.classes = np.asarray(net.classes, dtype=np.float64)
        self.rest = (net.rest_v[:, 1].copy(), net.rest_u[:, 1].copy())
        self.h = np.zeros(0, dtype=np.uint64)  # sorted; v, u, c, row in the same order
        self.v = np.zeros(0)
        self.u = np.zeros(0)
        self.c = np.zeros(0, dtype=np.int64)
        self.row = np.zeros(0, dtype=np.int64)
        self.traj = np.zeros((0, self.H + 1), dtype=np.complex128)  # v + i u after k steps
        self.n_rows = 0
        self.missed = []
        self.batches = 0
        self.missed_lazy = []  # (input, class) of single inputs rebuilt without a table
        self.lz_key = np.zeros(0)  # sorted input + 1000 class; lz_I, lz_c, lz_row alike
        self.lz_I = np.zeros(0)
        self.lz_c = np.zeros(0, dtype=np.int64)
        self.lz_row = np.zeros(0, dtype=np.int64)
        self.cand = (np.zeros(0, np.uint64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64),
                     np.zeros(0, np.int64))  # hash, v, u, class, count

    @staticmethod
    def _hash(v, u, c):
        with np.errstate(over="ignore"):
            return ((np.ascontiguousarray(v).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
                    ^ (np.ascontiguousarray(u).view(np.uint64)
                       + np.asarray(c).astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)))

    def lookup(self, v, u, c):
        """(hit, row): which states are tabulated, and where."""
        if self.h.size == 0:
            return np.zeros(v.size, dtype=bool), None
        h = self._hash(v, u, c)
        i = np.minimum(np.searchsorted(self.h, h), self.h.size - 1)
        hit = (self.h[i] == h) & (self.v[i] == v) & (self.u[i] == u) & (self.c[i] == c)
        return hit, self.row[i]

    def prefill(self, net):
        """Tabulate the states a single spike leaves a neuron at rest in (one state per class
        and synaptic weight): the states rebuilt when a neuron gets its second spike."""
        w = np.unique(net.ow)
        for k in range(len(net.classes)):
            x = w[(w >= net.lazy_lo[k]) & (w <= net.lazy_hi[k])]
            self.missed_lazy.append((x, np.full(x.size, k, dtype=np.int64)))
        self.grow(min_count=1)

    def single(self, I, c):
        """State after one step from rest with input I (class c), as the program computes it."""
        v, u = self.rest[0][c], self.rest[1][c]
        _step(v, u, self.classes[c], I)
        return v, u

    def lazy_lookup(self, I, c):
        """(hit, row) of the trajectories of single inputs I (class c) from rest."""
        if self.lz_key.size == 0:
            return np.zeros(I.size, dtype=bool), None
        i = np.minimum(np.searchsorted(self.lz_key, I + 1000.0 * c), self.lz_key.size - 1)
        return (self.lz_I[i] == I) & (self.lz_c[i] == c), self.lz_row[i]

    def grow(self, min_count=None):
        """Count the states replayed since the last call; tabulate the frequent ones."""
        min_count = self.MIN_COUNT if min_count is None else min_count
        if self.missed_lazy:  # single inputs: tabulate the state, index it by the input
            I = np.concatenate([x[0] for x in self.missed_lazy])
            c = np.concatenate([x[1] for x in self.missed_lazy])
            self.missed_lazy = []
            key = I + 1000.0 * c
            uk, first, counts = np.unique(key, return_index=True, return_counts=True)
            pick = first[(counts >= min_count) & ~np.isin(uk, self.lz_key)]
            pick = pick[: max(self.MAX - self.n_rows, 0)]
            if pick.size:
                I, c = I[pick], c[pick]
                v, u = self.single(I, c)
                r0 = self.n_rows
                self.missed.append((v, u, c))
                self._tabulate_missed(1, force=True)
                if self.n_rows == r0 + pick.size:  # tabulated, in this order
                    lk = np.concatenate([self.lz_key, I + 1000.0 * c])
                    o = np.argsort(lk, kind="stable")
                    self.lz_key = lk[o]
                    self.lz_I = np.concatenate([self.lz_I, I])[o]
                    self.lz_c = np.concatenate([self.lz_c, c])[o]
                    self.lz_row = np.concatenate([self.lz_row, np.arange(r0, self.n_rows)])[o]
        self._tabulate_missed(min_count)

    def _tabulate_missed(self, min_count, force=False):
        """Tabulate the states in ``missed`` met at least ``min_count`` times so far
        (``force``: all of them, in their order, as new rows)."""
        if not self.missed:
            return
        if force:
            v, u, c = self.missed.pop()
            self._add_rows(v, u, c, self._hash(v, u, c))
            return
        v = np.concatenate([self.cand[1]] + [x[0] for x in self.missed])
        u = np.concatenate([self.cand[2]] + [x[1] for x in self.missed])
        c = np.concatenate([self.cand[3]] + [x[2] for x in self.missed])
        n = np.concatenate([self.cand[4], np.ones(v.size - self.cand[4].size, dtype=np.int64)])
        self.missed = []
        h = self._hash(v, u, c)
        uh, first, inv = np.unique(h, return_index=True, return_inverse=True)
        counts = np.bincount(inv.ravel(), weights=n).astype(np.int64)
        room = self.MAX - self.h.size
        take = np.flatnonzero(counts >= min_count)
        take = take[np.argsort(-counts[take], kind="stable")][: max(room, 0)]
        rest = np.ones(uh.size, dtype=bool)
        rest[take] = False
        rest = np.flatnonzero(rest)
        if rest.size > self.MAX_CANDIDATES:
            rest = rest[np.argsort(-counts[rest], kind="stable")][: self.MAX_CANDIDATES]
            rest.sort()
        self.cand = (uh[rest], v[first[rest]], u[first[rest]], c[first[rest]], counts[rest])
        if take.size == 0:
            return
        pick = first[take]
        self._add_rows(v[pick], u[pick], c[pick], h[pick])

    def _add_rows(self, v, u, c, h):
        """Tabulate the input-free trajectories of these states (new rows)."""
        pick = np.arange(v.size)
        traj = np.empty((pick.size, self.H + 1), dtype=np.complex128)
        a = self.classes[c]
        vv, uu = v.copy(), u.copy()
        traj[:, 0].real, traj[:, 0].imag = vv, uu
        for k in range(1, self.H + 1):
            _step_free(vv, uu, a)
            traj[:, k].real, traj[:, k].imag = vv, uu
        r0, r1 = self.n_rows, self.n_rows + pick.size
        if r1 > self.traj.shape[0]:
            grown = np.empty((min(self.MAX, max(2 * self.traj.shape[0], r1, 1024)), self.H + 1),
                             dtype=np.complex128)
            grown[:r0] = self.traj[:r0]
            self.traj = grown
        self.traj[r0:r1] = traj
        self.n_rows = r1
        allh = np.concatenate([self.h, h])
        o = np.argsort(allh, kind="stable")
        self.h = allh[o]
        self.v = np.concatenate([self.v, v])[o]
        self.u = np.concatenate([self.u, u])[o]
        self.c = np.concatenate([self.c, c])[o]
        self.row = np.concatenate([self.row, np.arange(r0, r1)])[o]


def _replay(v, u, c, lag, memo, net):
    """States after ``lag`` input-free steps (certified quiet states: no spike on the way)."""
    v, u = v.copy(), u.copy()
    hit, row = memo.lookup(v, u, c)
    hit &= lag <= memo.H
    if hit.any():
        z = memo.traj[row[hit], lag[hit]]
        v[hit], u[hit] = z.real, z.imag
    miss = np.flatnonzero(~hit)
    if miss.size:
        memo.missed.append((v[miss], u[miss], c[miss]))
        miss = miss[np.argsort(-lag[miss], kind="stable")]
        lg = lag[miss]
        vv, uu, aa = v[miss], u[miss], net.classes[c[miss]]
        counts = np.searchsorted(-lg, -np.arange(1, int(lg[0]) + 1), side="right")
        k = 0
        while k < counts.size and counts[k] > _FEW:  # NumPy while many are left
            m = counts[k]
            _step_free(vv[:m], uu[:m], aa[:m])
            k += 1
        if k < counts.size:  # the few with the longest lags: one by one in Python floats
            m = int(counts[k])
            out = [_step_free_scalar(x, y, z, int(q) - k) for x, y, z, q in
                   zip(vv[:m].tolist(), uu[:m].tolist(), aa[:m].tolist(), lg[:m].tolist())]
            vv[:m], uu[:m] = np.array(out).T
        v[miss], u[miss] = vv, uu
    return v, u


_FEW = 128  # below this many neurons, Python floats beat NumPy calls


def _step_free_scalar(v, u, a, k):
    """``k`` input-free steps of one neuron in Python floats (IEEE float64, same operations)."""
    for _ in range(k):
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u)
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u)
        u += a * (0.2 * v - u)
    return v, u


def _simulate_batch(net, anch, dpre, memo, st):
    """Run the anchor sets ``anch`` (B, W) (0-based delays to the target ``dpre``) together.

    Returns (b, neuron, t) of the recorded spikes (by anchor set, then in recording order), the
    number of recorded spikes per set (anchors included) and the anchors' spike times (B, W).
    """
    B, W = anch.shape
    n, D, plm = net.n, net.D, net.polylenmax
    cap_t = plm - D - 1
    tfa = dpre.max(axis=1)[:, None] - dpre
    pend = {}

    # spikes in flight: pend[t] = chunks (keys b * n + target, weights) in the program's order of
    # insertion; first the anchors' (by set, anchor, synapse), bucketed by arrival
    g = anch.ravel()
    start = net.optr[g] + net.cnt_lt[g, dpre.ravel()]
    cnt = net.optr[g + 1] - start
    syn = _ranges(start, cnt)
    keys = np.repeat(np.repeat(np.arange(B, dtype=np.int32) * np.int32(n), W), cnt) + net.otgt[syn]
    arrival = (np.repeat(tfa.ravel(), cnt) + net.odd[syn] + 1).astype(np.int16)
    o = np.argsort(arrival, kind="stable")  # radix sort
    keys, w = keys[o], net.ow[syn[o]]
    counts = np.bincount(arrival)
    ends = np.cumsum(counts).tolist()
    s0 = 0
    for j, e in enumerate(ends):
        if e > s0:
            pend[j] = [(keys[s0:e], w[s0:e])]
            s0 = e

    st.next_batch()
    base = st.base
    hot = np.zeros(0, dtype=np.int32)  # keys b * n + neuron of neurons not certified quiet
    t_last = np.full(B, 3 * D + 1, dtype=np.int64)
    tl_min = 3 * D + 1
    nf = np.full(B, W, dtype=np.int64)
    nf_max = W
    fired = []
    # the program keeps at most N spikes per arrival step (per anchor set); more overflow into the
    # next step's storage. Anchor sets that send more than N spikes in all are watched, and those
    # that do overflow are flagged (their result is the program's emulation, _emulate)
    sent = np.bincount(np.repeat(np.repeat(np.arange(B), W), cnt), minlength=B)
    watch = bool(sent.max() > n)
    overflow = np.zeros(B, dtype=bool)
    cert, cls, rest_v, rest_u = net.cert, net.cls, net.rest_v, net.rest_u
    none = np.zeros(0, dtype=np.int32)
    t = -1
    while pend or hot.size:
        t = t + 1 if hot.size else min(pend)
        chunks = pend.pop(t, None)
        if t >= tl_min:
            tl_min = int(t_last.min())
        everyone = t < tl_min and nf_max < plm  # no anchor set has stopped
        if hot.size and not everyone:
            hb = hot // n
            hot = hot[(t < t_last[hb]) & (nf[hb] < plm)]
        if chunks:
            if len(chunks) > 1:
                keys = np.concatenate([c[0] for c in chunks])
                ew = np.concatenate([c[1] for c in chunks])
            else:
                keys, ew = chunks[0]
            if not everyone:
                eb = keys // n
                alive = (t < t_last[eb]) & (nf[eb] < plm)
                keys, ew = keys[alive], ew[alive]
            if watch and len(keys) > n:
                overflow |= np.bincount(keys // n, minlength=B) > n
        else:
            keys = ()
        E = len(keys)
        if E == 0 and hot.size == 0:
            continue
        fk, hk = [], []  # keys that fired, that are hot
        Uk, Uv, Uu, UI = [], [], [], []  # neurons to step now: keys, state before, input
        if E:
            # input of each neuron: its spikes' weights added in the program's order
            pos = np.arange(E, dtype=np.int32)
            st.tag[keys] = pos
            rep = st.tag[keys]
            first = rep == pos
            uk = keys[first]
            I = np.bincount(rep, weights=ew, minlength=E)[first]
            code = st.last[uk]
            new = (code < base) & (code > -base - 2)
            if new.any():  # first input: one step from the rest trajectory
                kn, In = uk[new], I[new]
                nrn = kn % n
                if t >= 1:  # rest settled: inputs in the certified interval stay quiet
                    quiet = (In >= net.lazy_lo_n[nrn]) & (In <= net.lazy_hi_n[nrn])
                else:
                    quiet = np.zeros(kn.size, dtype=bool)
                if not quiet.all():
                    kq, Iq = kn[quiet], In[quiet]
                else:
                    kq, Iq = kn, In
                st.last[kq] = -(base + t + 2)  # a single input, kept in v (same cache line)
                st.v[kq] = Iq
                if not quiet.all():
                    e = ~quiet
                    ke, nrn, In = kn[e], nrn[e], In[e]
                    c = cls[nrn]
                    v, u = rest_v[c, t], rest_u[c, t]
                    _step(v, u, net.a[nrn], In)
                    fire = v >= 30
                    q2 = cert.quiet(v, u, c) & ~fire & net.settled[c] & (t >= 1)
                    if q2.any():  # quiet, outside the interval
                        st.last[ke[q2]] = -(base + t + 2)
                        st.v[ke[q2]] = In[q2]
                        e = ~q2
                        ke, nrn, c, v, u, fire = ke[e], nrn[e], c[e], v[e], u[e], fire[e]
                    if fire.any():
                        v[fire] = -65.0
                        u[fire] += net.d[nrn[fire]]
                        fk.append(ke[fire])
                    st.v[ke], st.u[ke] = v, u
                    st.last[ke] = base + t
                    hk.append(ke[~cert.quiet(v, u, c)])
                old = np.flatnonzero(~new)
                uk, I, code = uk[old], I[old], code[old]
            if uk.size:
                lazy = code < 0
                code = np.where(lazy, -2 - base - code, code - base)  # the step of the state
                v, u = st.v[uk], st.u[uk]
                if lazy.any():  # a second input: rebuild the state after the first
                    lz = np.flatnonzero(lazy)
                    t1, I1 = code[lz], v[lz]
                    c = cls[uk[lz] % n]
                    lag = (t - 1) - t1
                    hit, row = memo.lazy_lookup(I1, c)
                    hit &= lag <= memo.H
                    if hit.any():  # tabulated: state after the first step and lag free steps
                        z = memo.traj[row[hit], lag[hit]]
                        v[lz[hit]], u[lz[hit]] = z.real, z.imag
                        code[lz[hit]] = t - 1
                    if not hit.all():
                        m = ~hit
                        memo.missed_lazy.append((I1[m], c[m]))
                        v[lz[m]], u[lz[m]] = memo.single(I1[m], c[m])
                        code[lz[m]] = t1[m]
                # replay the skipped input-free steps of sleeping neurons
                lag = (t - 1) - code
                mc = lag > 0
                if mc.any():
                    v[mc], u[mc] = _replay(v[mc], u[mc], cls[uk[mc] % n], lag[mc], memo, net)
                Uk.append(uk), Uv.append(v), Uu.append(u), UI.append(I)
        if hot.size:  # hot neurons without input now (st.tag points into this step's keys)
            x = hot[keys[np.minimum(st.tag[hot], E - 1)] != hot] if E else hot
            Uk.append(x), Uv.append(st.v[x]), Uu.append(st.u[x]), UI.append(np.zeros(x.size))
        if Uk:
            U, v, u, I = (np.concatenate(x) for x in (Uk, Uv, Uu, UI)) if len(Uk) > 1 else \
                (Uk[0], Uv[0], Uu[0], UI[0])
            nr = U % n
            c = cls[nr]
            _step(v, u, net.a[nr], I)
            f = np.flatnonzero(v >= 30)
            if f.size:
                v[f] = -65.0
                u[f] += net.d[nr[f]]
                fk.append(U[f])
            st.v[U], st.u[U] = v, u
            st.last[U] = base + t
            hk.append(U[~cert.quiet(v, u, c)])
        hot = np.concatenate(hk) if len(hk) > 1 else hk[0] if hk else none
        if fk:
            fkey = np.concatenate(fk) if len(fk) > 1 else fk[0]
            fkey = np.sort(fkey)  # by anchor set, then neuron: the program's order
            fb, fn = fkey // n, fkey % n
            if nf_max + fb.size > plm:  # the cap on recorded spikes may bite: by neuron index
                first = np.r_[True, fb[1:] != fb[:-1]]
                ar = np.arange(fb.size)
                rank = ar - np.maximum.accumulate(np.where(first, ar, 0))
                keep = rank < plm - nf[fb]
                fb, fn = fb[keep], fn[keep]
            if fb.size:
                np.add.at(nf, fb, 1)
                nf_max = max(nf_max, int(nf[fb].max()))
                np.add.at(sent, fb, net.deg[fn])
                watch = watch or bool(sent[fb].max() > n)
                fired.append((fb.astype(np.int64), fn.astype(np.int64),
                              np.full(fb.size, t, dtype=np.int64)))
                inc = net.tl_inc[fn]
                m = inc >= 0
                np.maximum.at(t_last, fb[m], np.minimum(t + inc[m], cap_t))
                # their spikes, by delay, then by (set, neuron), then by synapse: the order in
                # which the program inserts them into each future step
                lt = net.cnt_lt[fn]
                cnt = (lt[:, 1:] - lt[:, :-1]).T.ravel()
                syn = _ranges((net.optr[fn][:, None] + lt[:, :-1]).T.ravel(), cnt)
                keys = np.repeat(np.tile(fb * np.int32(n), D), cnt) + net.otgt[syn]
                w = net.ow[syn]
                ends = np.cumsum(cnt.reshape(D, -1).sum(axis=1)).tolist()
                s0 = 0
                for dd, e in enumerate(ends):
                    if e > s0:
                        pend.setdefault(t + 1 + dd, []).append((keys[s0:e], w[s0:e]))
                        s0 = e
    memo.batches += 1
    if memo.batches % 8 == 0:
        memo.grow()
    if fired:
        fb, fn, ft = (np.concatenate(x) for x in zip(*fired))
        o = np.argsort(fb, kind="stable")
        fb, fn, ft = fb[o], fn[o], ft[o]
    else:
        fb = fn = ft = np.zeros(0, dtype=np.int64)
    return fb, fn, ft, nf, tfa, overflow


def _evaluate(net, anch, dpre, W, min_path, sim):
    """Layers, links and the discard rule for the anchor sets that can be groups.

    Returns a list of (b, neurons, times, links, layers, L_max) of the groups, in b order.
    """
    fb, fn, ft, nf, tfa, overflow = sim
    B = anch.shape[0]
    n, D, ne = net.n, net.D, net.ne
    cand = (nf > 2 * W) & (nf - W >= min_path - 1) & ~overflow
    if not cand.any():
        return []
    cb = np.flatnonzero(cand)
    loc = np.full(B, -1, dtype=np.int64)
    loc[cb] = np.arange(cb.size)
    # recorded spikes of the candidates, with their index (>= W) in the group
    m = cand[fb]
    fb, fn, ft = fb[m], fn[m], ft[m]
    first = np.r_[True, fb[1:] != fb[:-1]]
    ar = np.arange(fb.size)
    idx = ar - np.maximum.accumulate(np.where(first, ar, 0)) + W
    # every excitatory spike sent, in the program's order of insertion (the anchors' first, then
    # the recorded spikes' in recording order; each source's synapses by delay): b, synapse,
    # arrival. Only arrivals before a recorded spike are looked at, and those were all delivered.
    ga, da = anch[cb].ravel(), dpre[cb].ravel()
    start = net.optr[ga] + net.cnt_lt[ga, da]
    cnt = net.optr[ga + 1] - start
    syn_a = _ranges(start, cnt)
    ex = fn < ne
    cnt_f = net.deg[fn[ex]]
    syn_f = _ranges(net.optr[fn[ex]], cnt_f)
    eb = np.concatenate([np.repeat(np.repeat(cb, W), cnt), np.repeat(fb[ex], cnt_f)])
    es = np.concatenate([syn_a, syn_f])
    ep = np.concatenate([np.repeat(tfa[cb].ravel(), cnt), np.repeat(ft[ex], cnt_f)]) + net.odd[es] + 1
    seq = np.arange(eb.size)
    T = int(max(ep.max(initial=0), ft.max(initial=0))) + 2
    ekey = (eb * n + net.otgt[es]) * T + ep
    o = np.argsort(ekey, kind="stable")
    ekey, es, ep, seq = ekey[o], es[o], ep[o], seq[o]
    # recorded spikes ordered by (index, b): one round per index, each a contiguous block
    o = np.lexsort((fb, idx))
    fb, fn, ft, idx = fb[o], fn[o], ft[o], idx[o]
    base = (fb * n + fn) * T
    lo = np.searchsorted(ekey, base + np.maximum(ft - D + 1, 0), side="left")
    hi = np.searchsorted(ekey, base + ft, side="right")
    pcnt = hi - lo
    pe = _ranges(lo, pcnt)  # links: (recorded spike, excitatory spike that reached it)
    pf = np.repeat(np.arange(fb.size), pcnt)
    pJ = net.osrc[es[pe]].astype(np.int64)
    pstart = np.concatenate([[0], np.cumsum(pcnt)])
    pval = np.zeros(pe.size, dtype=np.int64)
    layer = np.zeros(fb.size, dtype=np.int64)
    runmax = np.zeros((cb.size, n), dtype=np.int64)  # largest layer so far of each neuron
    runmax[np.repeat(np.arange(cb.size), W), anch[cb].ravel()] = 1
    rstart = np.searchsorted(idx, np.arange(W, int(idx.max(initial=W - 1)) + 2))
    for r in range(len(rstart) - 1):
        f0, f1 = rstart[r], rstart[r + 1]
        p0, p1 = pstart[f0], pstart[f1]
        if p1 == p0:
            continue
        vals = runmax[loc[fb[pf[p0:p1]]], pJ[p0:p1]] + 1
        pval[p0:p1] = vals
        lay = np.zeros(f1 - f0, dtype=np.int64)
        np.maximum.at(lay, pf[p0:p1] - f0, vals)
        layer[f0:f1] = lay
        lb, ln = loc[fb[f0:f1]], fn[f0:f1]
        runmax[lb, ln] = np.maximum(runmax[lb, ln], lay)
    # L_max and the discard rule
    lmax = np.zeros(cb.size, dtype=np.int64)
    np.maximum.at(lmax, loc[fb], layer)
    pb = loc[fb[pf]]
    to_exc = fn[pf] < ne
    discard = np.zeros(cb.size, dtype=bool)
    for k in range(W):
        used = np.bincount(pb[to_exc & (pJ == anch[cb, k][pb])], minlength=cb.size)
        discard |= used == 1
    ok = (~discard) & (lmax >= min_path)
    out = []
    for c in np.flatnonzero(ok).tolist():
        b = cb[c]
        fm = np.flatnonzero(fb == b)
        fm = fm[np.argsort(idx[fm])]
        # links in the program's order: by spike, arrival time from the latest back, insertion
        pm = np.flatnonzero(pb == c)
        pm = pm[np.lexsort((seq[pe[pm]], -ep[pe[pm]], idx[pf[pm]]))]
        off = idx[pf[pm]] * (int(pval.max(initial=0)) + 1)
        run = np.maximum.accumulate(pval[pm] + off) - off  # the running layer of each spike
        links = np.stack([pJ[pm], fn[pf[pm]], net.odd[es[pe[pm]]] + 1, run], axis=1)
        out.append((b, np.concatenate([anch[b], fn[fm]]).astype(np.int64),
                    np.concatenate([tfa[b], ft[fm]]).astype(np.int64), links.astype(np.int64),
                    np.concatenate([np.ones(W, dtype=np.int64), layer[fm]]), int(lmax[c])))
    return out


@functools.lru_cache(maxsize=64)
def _combinations(k, w):
    if k < w:
        return np.zeros((0, w), dtype=np.int32)
    return np.array(list(itertools.combinations(range(k), w)), dtype=np.int32).reshape(-1, w)


def _emulate(net, anchors, dpre, min_path):
    """One anchor set exactly as the program runs it, including its storage of spikes in flight:
    per arrival step a row of N slots (``I_postspikes[t][N]``, ...), so that an arrival step with
    more than N spikes overflows into the next row. Dense over all neurons; for the rare anchor sets
    that overflow. Returns (neurons, times, links, layers, L_max) if it is a group, else None.

    Not emulated: an overflow out of the last rows (``t >= polylenmax - D - 1``, never read by a
    run that stops there), which in the program reaches other arrays or stale rows of earlier
    anchor sets.
    """
    n, ne, D, plm = net.n, net.ne, net.D, net.polylenmax
    W = len(anchors)
    cap_t = plm - D - 1
    rows = plm + 2 * D + 4
    size = rows * n + n * net.m  # room for the largest overflow of the last rows
    I_ps = np.zeros(size, dtype=np.int64)  # flat rows of n slots, as the program's arrays
    J_ps = np.zeros(size, dtype=np.int64)
    D_ps = np.zeros(size, dtype=np.int64)
    C_ps = np.zeros(size)
    N_ps = np.zeros(rows, dtype=np.int64)

    def write(t0, syn):
        """Spikes along synapses syn (in the program's order) sent at t0 - 1."""
        p = t0 + net.odd[syn]
        # slot: the row's count so far plus the rank among this call's spikes of the same row
        first = np.r_[True, p[1:] != p[:-1]]
        ar = np.arange(p.size)
        k = p * n + N_ps[p] + ar - np.maximum.accumulate(np.where(first, ar, 0))
        I_ps[k], J_ps[k], D_ps[k], C_ps[k] = net.otgt[syn], net.osrc[syn], net.odd[syn], net.ow[syn]
        np.add.at(N_ps, p, 1)

    anchors = [int(x) for x in anchors]
    dpre = [int(x) for x in dpre]
    dmax = max(dpre)
    group = list(anchors)
    tf = [dmax - x for x in dpre]
    for k in range(W):
        g = anchors[k]
        s0 = net.optr[g] + net.cnt_lt[g, dpre[k]]
        write(tf[k] + 1, np.arange(s0, net.optr[g + 1]))
    v = np.full(n, -70.0)
    u = 0.2 * v
    t_last = 3 * D + 1
    t = -1
    while True:
        t += 1
        if not (t < t_last and len(group) < plm):
            break
        I = np.zeros(n)
        k0 = t * n
        np.add.at(I, I_ps[k0: k0 + N_ps[t]], C_ps[k0: k0 + N_ps[t]])
        _step(v, u, net.a, I)
        for i in np.flatnonzero(v >= 30).tolist():
            v[i] = -65.0
            u[i] += net.d[i]
            if len(group) < plm:
                tf.append(t)
                group.append(i)
                if net.deg[i]:
                    write(t + 1, np.arange(net.optr[i], net.optr[i + 1]))
                    t_last = max(t_last, min(t + int(net.tl_inc[i]), cap_t))
    if len(group) <= 2 * W:
        return None
    layer = [1] * W + [0] * (len(group) - W)
    best = {}  # neuron -> largest layer of its spikes so far (k < i)
    for k in range(W):
        best[group[k]] = max(best.get(group[k], 0), 1)
    links, lmax = [], 0
    for i in range(W, len(group)):
        lo = max(tf[i] - D + 1, 0)
        k0 = np.concatenate([np.arange(p * n, p * n + N_ps[p]) for p in range(tf[i], lo - 1, -1)])
        sel = k0[(I_ps[k0] == group[i]) & (J_ps[k0] < ne)]
        for k in sel.tolist():
            src = int(J_ps[k])
            if src in best and best[src] + 1 > layer[i]:
                layer[i] = best[src] + 1
            links.append((src, group[i], int(D_ps[k]) + 1, layer[i]))
            lmax = max(lmax, layer[i])
        best[group[i]] = max(best.get(group[i], 0), layer[i])
    for k in range(W):
        if sum(1 for x in links if x[0] == group[k] and x[1] < ne) == 1:
            return None
    if lmax < min_path:
        return None
    return (np.array(group, dtype=np.int64), np.array(tf, dtype=np.int64),
            np.array(links, dtype=np.int64).reshape(-1, 4), np.array(layer, dtype=np.int64),
            int(lmax))


class _Searcher:
    """The prepared network, the trajectory table and the state store (one per process)."""

    def __init__(self, net_args, batch_size, width, min_path, net=None):
        self.net = _Net(*net_args) if net is None else net
        self.memo = _Memo(self.net)
        self.memo.prefill(self.net)
        self.st = None
        self.batch_size, self.width, self.min_path = int(batch_size), int(width), int(min_path)
        self.n_emulated = 0

    def run(self, anch, dpre):
        """Groups of the anchor sets ``anch`` (B, W), at most ``batch_size`` of them:
        [(index in the batch, neurons, times, links, layers, L_max)]."""
        if self.st is None:
            self.st = _Store(self.net, self.batch_size)
        sim = _simulate_batch(self.net, anch, dpre, self.memo, self.st)
        out = _evaluate(self.net, anch, dpre, self.width, self.min_path, sim)
        flagged = np.flatnonzero(sim[-1])
        self.n_emulated += flagged.size
        if flagged.size:
            for b in flagged.tolist():
                g = _emulate(self.net, anch[b], dpre[b], self.min_path)
                if g is not None:
                    out.append((b,) + g)
            out.sort(key=lambda x: x[0])
        return out


_WORKER = None


def _worker_init(*args):
    global _WORKER
    _WORKER = _Searcher(*args)


def _worker_run(anch, dpre):
    before = _WORKER.n_emulated
    return _WORKER.run(anch, dpre), _WORKER.n_emulated - before


def _usable_cpus():
    """The CPUs this process may run on."""
    import os
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def polychronous_groups(post, delay, weights, a, d, n_exc, *, c_max=10.0, min_path=7, width=3,
                        max_delay=None, polylenmax=None, targets=None, batch_size=4096,
                        n_jobs=None, progress=False, backend="auto"):
    """Find the polychronous groups of a network as the program of Izhikevich (2006) does.

    The default ("new", activity-triggered) search of ``poly_spnet.cpp``; see the module docstring
    for the definition. Same network and weights, same groups in the same order (and the same
    ``polyall.dat``), much faster.

    Args:
        post: (N, M) int, ``post[i, j]`` the target of synapse j of neuron i.
        delay: (N, M) int, its axonal delay in ms (1 .. D).
        weights: (N, M) float64, its weight (inhibitory ones negative). Only excitatory weights
            above ``0.95 c_max`` and all inhibitory synapses take part.
        a, d: (N,) (or scalars) the neurons' recovery parameters (b = 0.2 and c = -65 as in the
            program).
        n_exc: neurons ``0 .. n_exc - 1`` are excitatory, the rest inhibitory.
        c_max: the weight cap; strong means ``> 0.95 c_max``.
        min_path: the shortest group, in layers (the program's ``min_group_path``).
        width: anchors per set (the program's W).
        max_delay: D, the program's largest delay (default: the largest in ``delay``); it sets the
            first ``t_last = 3 D + 1``, the link window (D ms) and the cap ``polylenmax - D - 1``.
        polylenmax: the most spikes recorded per anchor set (default N, as the program).
        targets: the excitatory targets to search (default all, ``0 .. n_exc - 1``).
        batch_size: anchor sets handed out together (NumPy backend: simulated together, memory
            about ``25 * batch_size * N`` bytes per process).
        n_jobs: workers: threads with the Numba backend, processes with the NumPy one (each
            prepares its own tables, a few seconds); 1 runs in this thread. Default: every CPU
            this process may use with Numba, 1 with NumPy.
        progress: show a tqdm progress bar over anchor sets.
        backend: ``"numba"`` (the program's per-anchor-set loop, compiled, event driven; needs
            the ``numba`` extra: ``pip install "izhijax[numba]"``), ``"numpy"`` (anchor sets
            batched in NumPy) or ``"auto"`` (Numba when it can be imported). The same groups
            either way; on the paper's 5 h weights the Numba backend is 3.6x faster per core
            than the NumPy one (12x faster than the original program's search).

    Returns:
        :class:`PolychronousGroups` (``.count``, ``.groups``, ``.polyall()``).
    """
    t0 = time.perf_counter()
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f'backend must be "auto", "numba" or "numpy", got {backend!r}')
    if backend == "auto":
        backend = "numba" if _numba.available() else "numpy"
    elif backend == "numba" and not _numba.available():
        raise ImportError('backend="numba" needs Numba: pip install "izhijax[numba]" '
                          '(or backend="numpy")')
    if n_jobs is None:  # threads are cheap, processes are not
        n_jobs = _usable_cpus() if backend == "numba" else 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an integer >= 1 (or None), got {n_jobs!r}")
    net_args = (post, delay, weights, a, d, n_exc, c_max, max_delay, polylenmax)
    net = _Net(*net_args)
    W = int(width)
    if W < 1:
        raise ValueError("width must be >= 1")
    if targets is None:
        targets = np.arange(net.ne)
    targets = np.atleast_1d(np.asarray(targets, dtype=np.int64))
    if targets.size and (targets.min() < 0 or targets.max() >= net.ne):
        raise ValueError(f"targets must be excitatory neurons, in [0, {net.ne})")
    # all anchor sets, in the program's order
    tg_list, an_list, dp_list = [], [], []
    for tgt in targets.tolist():
        p0, p1 = net.pre_ptr[tgt], net.pre_ptr[tgt + 1]
        comb = _combinations(int(p1 - p0), W)
        if comb.size == 0:
            continue
        tg_list.append(np.full(len(comb), tgt, dtype=np.int32))
        an_list.append(net.pre_src[p0:p1][comb])
        dp_list.append(net.pre_dd[p0:p1][comb])
    if tg_list:
        all_tg = np.concatenate(tg_list)
        all_an = np.concatenate(an_list).astype(np.int64)
        all_dp = np.concatenate(dp_list).astype(np.int64)
    else:
        all_tg = np.zeros(0, np.int32)
        all_an = all_dp = np.zeros((0, W), np.int64)
    total = len(all_tg)
    batch_size = max(1, min(int(batch_size), total))
    chunks = [(s0, min(total, s0 + batch_size)) for s0 in range(0, total, batch_size)]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc="polychronous groups", unit="set", unit_scale=True)
    found = {}
    n_emulated = 0
    args = (net_args, batch_size, W, min_path)
    try:
        if backend == "numba":
            def run_chunk(chunk):
                s0, s1 = chunk
                return _numba.search_range(net, all_an, all_dp, min_path, s0, s1)

            import concurrent.futures
            _numba.compiled()  # one dispatcher for every thread (made before they start)
            with concurrent.futures.ThreadPoolExecutor(max_workers=int(n_jobs)) as ex:
                for (s0, s1), (res, k) in zip(chunks, ex.map(run_chunk, chunks)):
                    found[s0] = [(x[0] - s0,) + x[1:] for x in res]
                    n_emulated += k
                    if bar is not None:
                        bar.update(s1 - s0)
                        bar.set_postfix(groups=sum(len(x) for x in found.values()))
        elif int(n_jobs) > 1 and len(chunks) > 1:
            import concurrent.futures
            import multiprocessing
            with concurrent.futures.ProcessPoolExecutor(
                    max_workers=min(int(n_jobs), len(chunks)), initializer=_worker_init,
                    initargs=args, mp_context=multiprocessing.get_context("forkserver")) as ex:
                futures = {ex.submit(_worker_run, all_an[s0:s1], all_dp[s0:s1]): (s0, s1)
                           for s0, s1 in chunks}
                for fut in concurrent.futures.as_completed(futures):
                    s0, s1 = futures[fut]
                    found[s0], k = fut.result()
                    n_emulated += k
                    if bar is not None:
                        bar.update(s1 - s0)
        else:
            searcher = _Searcher(*args, net=net)
            for s0, s1 in chunks:
                found[s0] = searcher.run(all_an[s0:s1], all_dp[s0:s1])
                n_emulated = searcher.n_emulated
                if bar is not None:
                    bar.update(s1 - s0)
                    bar.set_postfix(groups=sum(len(x) for x in found.values()))
    finally:
        if bar is not None:
            bar.close()
    groups = []
    for s0, _ in chunks:
        for b, neurons, times, links, layers, lmax in found[s0]:
            groups.append(Group(target=int(all_tg[s0 + b]), anchors=all_an[s0 + b].copy(),
                                neurons=neurons, times=times, links=links, layers=layers,
                                n_layers=lmax))
    settings = dict(c_max=float(c_max), min_path=int(min_path), width=W, max_delay=net.D,
                    polylenmax=net.polylenmax, n_exc=net.ne, n=net.n, backend=backend,
                    targets=None if targets.size == net.ne and np.array_equal(
                        targets, np.arange(net.ne)) else targets.tolist())
    return PolychronousGroups(groups=tuple(groups), n_triplets=total, n_targets=int(targets.size),
                              seconds=time.perf_counter() - t0, settings=settings,
                              n_emulated=int(n_emulated))


# ---------------------------------------------------------------------------------------------
# Control


def shuffle_weights(post, weights, n_exc, key_or_seed):
    """The shuffled-weights control: permute the excitatory -> excitatory weights among the
    excitatory -> excitatory synapses (uniformly at random), keep every other weight.

    Same weight distribution, same connectivity and delays, no structure in which synapse is strong
    (the paper compares the number of groups with this control).

    Args:
        post: (N, M) int targets.
        weights: (N, M) float weights.
        n_exc: neurons ``0 .. n_exc - 1`` are excitatory.
        key_or_seed: an int seed or ``numpy.random.Generator`` (NumPy's permutation), or a JAX
            PRNG key (``jax.random.permutation``).

    Returns:
        a new (N, M) float64 array.
    """
    post = np.asarray(post)
    w = np.array(weights, dtype=np.float64, copy=True)
    n_exc = int(n_exc)
    mask = np.zeros(w.shape, dtype=bool)
    mask[:n_exc] = post[:n_exc] < n_exc
    vals = w[mask]
    if isinstance(key_or_seed, (int, np.integer, np.random.Generator)):
        rng = np.random.default_rng(key_or_seed)
        perm = rng.permutation(vals.size)
    else:
        import jax
        perm = np.asarray(jax.random.permutation(key_or_seed, vals.size))
    w[mask] = vals[perm]
    return w
