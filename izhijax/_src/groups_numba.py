"""The polychronous-group search compiled with Numba (the ``backend="numba"`` of
:func:`izhijax.groups.polychronous_groups`).

One anchor set at a time, as the program of Izhikevich (2006) runs it, with the program's own
storage of the spikes in flight (rows of N slots per arrival step in flat arrays, so that a row
with more than N arrivals overflows into the next one exactly as in the C program), its order of
insertion, its float64 step and its link scan. What differs is only what is *not* computed:

* a neuron is stepped only in the steps in which it gets input and while it is *hot* (its state is
  not in a cell of the ``(v, u)`` plane certified never to fire without input; the certificate of
  :mod:`izhijax._src.groups`); a sleeping neuron's skipped input-free steps are replayed, one by
  one with the same operations, when its next spike arrives; a neuron never reached follows the
  rest trajectory (tabulated);
* an anchor set ends as soon as no spike is in flight and no neuron is hot (the program steps on
  until ``t_last``, with nothing left that could fire).

So the recorded spikes, their times, the links and the layers are those of the program, bit for bit
(tests: every anchor set of random networks against a line-by-line transcription; the original's
``polyall.dat`` on its own weights). The NumPy backend batches anchor sets instead; this one
compiles the per-set loop: on the paper's 5 h weights 3.6x faster per core than the NumPy
backend and 12x faster than the original program's search; it runs ranges of anchor sets in
threads (the kernel releases the GIL).
"""

import numpy as np

try:  # optional: pip install "izhijax[numba]"
    import numba
except ImportError:  # pragma: no cover - exercised through available()
    numba = None

__all__ = ["available", "search_range"]

# counters of search_range (an int64 array)
N_GROUPS, N_SPIKES, N_LINKS, N_OVERFLOW, NEXT_SET, STATUS = range(6)
OK, NEED_ROOM, STORAGE_OVERFLOW = 0, 1, 2


def available():
    """Whether Numba can be imported."""
    return numba is not None


def _send_py(I_ps, J_ps, D_ps, C_ps, N_ps, n, t0, src, s0, s1, odd, otgt, ow, maxrow):
    """Spikes of neuron ``src`` along its synapses ``s0 .. s1 - 1`` (in the program's order),
    arriving at step ``t0 + delay index``, appended to the rows of their arrival steps. Returns the
    largest row written so far (``maxrow`` or more), or -1 if a row overflows past the end of the
    storage."""
    size = I_ps.shape[0]
    for s in range(s0, s1):
        row = t0 + odd[s]
        idx = row * n + N_ps[row]
        if idx >= size:
            return -1
        I_ps[idx] = otgt[s]
        J_ps[idx] = src
        D_ps[idx] = odd[s]
        C_ps[idx] = ow[s]
        N_ps[row] += 1
        if row > maxrow:
            maxrow = row
    return maxrow


_send = _send_py  # compiled by compiled() before the search is


def _search_range_py(anch, dpre, s0, s1, optr, odd, otgt, ow, cnt_lt, deg, tl_inc, a, d, cls,
                     rest_v, rest_u, cflat, cv0, cu0, cihv, cihu, cnv, cnu, csv, csc,
                     n, ne, D, plm, m, min_path, g_set, g_nf, g_nl, g_lmax, sp, lk, counters):
    """Search anchor sets ``s0 .. s1 - 1`` of ``anch`` (S, W) (0-based delays to the target
    ``dpre``), appending the groups found to the output buffers.

    Output buffers (filled from ``counters[N_GROUPS]``, ``[N_SPIKES]``, ``[N_LINKS]`` on): per group
    ``g_set`` (its anchor set), ``g_nf`` (recorded spikes), ``g_nl`` (links), ``g_lmax``; ``sp``
    (spikes, 3): neuron, time, layer; ``lk`` (links, 4): pre, post, delay (ms), layer. When a
    buffer is full, ``counters[STATUS] = NEED_ROOM`` and ``counters[NEXT_SET]`` is the anchor set
    to resume from (with larger buffers); ``STORAGE_OVERFLOW`` when spikes in flight overflow the
    last rows of the storage (not emulated: the program writes outside its arrays there).
    """
    W = anch.shape[1]
    rows = plm + 2 * D + 4
    size = rows * n + n * m
    I_ps = np.zeros(size, dtype=np.int32)
    J_ps = np.zeros(size, dtype=np.int32)
    D_ps = np.zeros(size, dtype=np.int32)
    C_ps = np.zeros(size, dtype=np.float64)
    N_ps = np.zeros(rows, dtype=np.int64)
    V = np.zeros(n)
    U = np.zeros(n)
    Iacc = np.zeros(n)
    lastt = np.zeros(n, dtype=np.int64)
    seen = np.zeros(n, dtype=np.int64)  # the anchor set (+1) that last touched the neuron
    mark = np.zeros(n, dtype=np.int64)  # the step stamp that last queued the neuron
    best = np.zeros(n, dtype=np.int64)  # largest layer of the neuron's spikes so far
    bst = np.zeros(n, dtype=np.int64)  # the anchor set (+1) best belongs to
    upd = np.zeros(n, dtype=np.int64)
    hot = np.zeros(n, dtype=np.int64)
    newhot = np.zeros(n, dtype=np.int64)
    fired = np.zeros(n, dtype=np.int64)
    group = np.zeros(plm + W, dtype=np.int64)
    tf = np.zeros(plm + W, dtype=np.int64)
    layer = np.zeros(plm + W, dtype=np.int64)
    used = np.zeros(W, dtype=np.int64)
    cap_t = plm - D - 1
    stamp = 0
    counters[STATUS] = OK
    for b in range(s0, s1):
        setid = b + 1
        dmax = 0
        for k in range(W):
            if dpre[b, k] > dmax:
                dmax = dpre[b, k]
        maxrow = 0
        bad = False
        for k in range(W):
            g = anch[b, k]
            group[k] = g
            tf[k] = dmax - dpre[b, k]
            layer[k] = 1
            maxrow = _send(I_ps, J_ps, D_ps, C_ps, N_ps, n, tf[k] + 1, g,
                           optr[g] + cnt_lt[g, dpre[b, k]], optr[g + 1], odd, otgt, ow, maxrow)
            if maxrow < 0:
                bad = True
                break
        nf = W
        nhot = 0
        t_last = 3 * D + 1
        overflow = False
        t = -1
        while not bad:
            t += 1
            if not (t < t_last and nf < plm):
                break
            if t > maxrow and nhot == 0:  # nothing in flight, nobody can fire
                break
            stamp += 1
            nupd = 0
            cnt = N_ps[t]
            if cnt > n:
                overflow = True
            base = t * n
            for q in range(cnt):
                j = I_ps[base + q]
                if mark[j] != stamp:
                    mark[j] = stamp
                    Iacc[j] = 0.0
                    upd[nupd] = j
                    nupd += 1
                Iacc[j] += C_ps[base + q]
            for h in range(nhot):
                j = hot[h]
                if mark[j] != stamp:
                    mark[j] = stamp
                    Iacc[j] = 0.0
                    upd[nupd] = j
                    nupd += 1
            nnew = 0
            nfire = 0
            for k in range(nupd):
                j = upd[k]
                c = cls[j]
                aj = a[j]
                if seen[j] != setid:  # first input: from the rest trajectory
                    seen[j] = setid
                    v = rest_v[c, t]
                    u = rest_u[c, t]
                else:
                    v = V[j]
                    u = U[j]
                    for _ in range(t - 1 - lastt[j]):  # replay the skipped input-free steps
                        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + 0.0)
                        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + 0.0)
                        u += aj * (0.2 * v - u)
                x = Iacc[j]
                v += 0.5 * ((0.04 * v + 5) * v + 140 - u + x)
                v += 0.5 * ((0.04 * v + 5) * v + 140 - u + x)
                u += aj * (0.2 * v - u)
                if v >= 30:
                    v = -65.0
                    u += d[j]
                    fired[nfire] = j
                    nfire += 1
                V[j] = v
                U[j] = u
                lastt[j] = t
                # the certificate: is the state in a cell that never fires without input?
                xf = (v - cv0) * cihv + 1.0
                if not xf > 0.0:
                    xf = 0.0
                if xf > cnv + 1.0:
                    xf = cnv + 1.0
                yf = (u - cu0) * cihu + 1.0
                if not yf > 0.0:
                    yf = 0.0
                if yf > cnu + 1.0:
                    yf = cnu + 1.0
                if not cflat[c * csc + int(xf) * csv + int(yf)]:
                    newhot[nnew] = j
                    nnew += 1
            hot, newhot = newhot, hot
            nhot = nnew
            if nfire:
                fired[:nfire].sort()  # the program records in neuron order
                for k in range(nfire):
                    i = fired[k]
                    if nf < plm:
                        tf[nf] = t
                        group[nf] = i
                        nf += 1
                        maxrow = _send(I_ps, J_ps, D_ps, C_ps, N_ps, n, t + 1, i, optr[i],
                                       optr[i + 1], odd, otgt, ow, maxrow)
                        if maxrow < 0:
                            bad = True
                            break
                        if deg[i] > 0 and t_last < t + tl_inc[i]:
                            t_last = min(t + tl_inc[i], cap_t)
        if bad:
            N_ps[:] = 0
            counters[STATUS] = STORAGE_OVERFLOW
            counters[NEXT_SET] = b
            return
        if overflow:
            counters[N_OVERFLOW] += 1
        need_room = False
        if nf > 2 * W:
            # links and layers: for each recorded spike, the excitatory spikes that reached it
            # in the last D steps (its own included), rows from the latest back, slots in order
            cs, cl = counters[N_SPIKES], counters[N_LINKS]
            nl = 0
            lmax = 0
            for k in range(W):
                used[k] = 0
                g = group[k]
                if bst[g] != setid or best[g] < 1:
                    bst[g] = setid
                    best[g] = 1
            for i in range(W, nf):
                gi = group[i]
                li = 0
                lo = max(tf[i] - D + 1, 0)
                for p in range(tf[i], lo - 1, -1):
                    base = p * n
                    for q in range(N_ps[p]):
                        idx = base + q
                        if I_ps[idx] == gi and J_ps[idx] < ne:
                            src = J_ps[idx]
                            if bst[src] == setid and best[src] + 1 > li:
                                li = best[src] + 1
                            if cl + nl >= lk.shape[0]:
                                need_room = True
                                break
                            lk[cl + nl, 0] = src
                            lk[cl + nl, 1] = gi
                            lk[cl + nl, 2] = D_ps[idx] + 1
                            lk[cl + nl, 3] = li
                            nl += 1
                            if li > lmax:
                                lmax = li
                            if gi < ne:
                                for k in range(W):
                                    if src == group[k]:
                                        used[k] += 1
                    if need_room:
                        break
                if need_room:
                    break
                layer[i] = li
                if bst[gi] != setid or best[gi] < li:
                    bst[gi] = setid
                    best[gi] = li
            if not need_room:
                discard = False
                for k in range(W):
                    if used[k] == 1:
                        discard = True
                if (not discard) and lmax >= min_path:
                    ng = counters[N_GROUPS]
                    if ng >= g_set.shape[0] or cs + nf > sp.shape[0]:
                        need_room = True
                    else:
                        g_set[ng] = b
                        g_nf[ng] = nf
                        g_nl[ng] = nl
                        g_lmax[ng] = lmax
                        for i in range(nf):
                            sp[cs + i, 0] = group[i]
                            sp[cs + i, 1] = tf[i]
                            sp[cs + i, 2] = layer[i]
                        counters[N_GROUPS] = ng + 1
                        counters[N_SPIKES] = cs + nf
                        counters[N_LINKS] = cl + nl
        N_ps[:maxrow + 1] = 0
        if need_room:
            if overflow:
                counters[N_OVERFLOW] -= 1  # counted again when the set is run again
            counters[STATUS] = NEED_ROOM
            counters[NEXT_SET] = b
            return
    counters[NEXT_SET] = s1


_COMPILED = None
FIRST_CAPACITY = 256  # groups in the first output buffers (64 spikes, 256 links per group)


def compiled():
    """The search as a Numba dispatcher (made once; Numba compiles it at the first call, or loads
    it from its on-disk cache)."""
    global _COMPILED, _send
    if _COMPILED is None:
        if numba is None:
            raise ImportError('backend="numba" needs Numba: pip install "izhijax[numba]"')
        _send = numba.njit(nogil=True, cache=True)(_send_py)  # called by the search
        _COMPILED = numba.njit(nogil=True, cache=True)(_search_range_py)
    return _COMPILED


def search_range(net, anch, dpre, min_path, s0, s1):
    """The groups of anchor sets ``s0 .. s1 - 1`` of ``anch`` (S, W) int64 (0-based delays to the
    target ``dpre``) on the prepared network ``net`` (:class:`izhijax._src.groups._Net`).

    Returns ``(found, n_overflow)``: ``found`` a list of ``(set index, neurons, times, links,
    layers, L_max)`` in set order; ``n_overflow`` the anchor sets whose spikes in flight overflowed
    a row of the program's storage (run as the program runs them).
    """
    kernel = compiled()
    cert = net.cert
    anch = np.ascontiguousarray(anch, dtype=np.int64)
    dpre = np.ascontiguousarray(dpre, dtype=np.int64)
    tables = (net.optr.astype(np.int64), net.odd.astype(np.int64), net.otgt.astype(np.int64),
              net.ow, net.cnt_lt.astype(np.int64), net.deg.astype(np.int64),
              net.tl_inc.astype(np.int64), net.a, net.d, net.cls.astype(np.int64),
              net.rest_v, net.rest_u, cert.flat, float(cert.v0), float(cert.u0),
              float(cert.ihv), float(cert.ihu), int(cert.nv), int(cert.nu), int(cert.sv),
              int(cert.sc), int(net.n), int(net.ne), int(net.D), int(net.polylenmax), int(net.m),
              int(min_path))
    cap_g = FIRST_CAPACITY
    found, n_over = [], 0
    start = s0
    while start < s1:
        g_set = np.zeros(cap_g, np.int64)
        g_nf, g_nl, g_lmax = np.zeros_like(g_set), np.zeros_like(g_set), np.zeros_like(g_set)
        sp = np.zeros((cap_g * 64, 3), np.int64)
        lk = np.zeros((cap_g * 256, 4), np.int64)
        counters = np.zeros(6, np.int64)
        kernel(anch, dpre, start, s1, *tables, g_set, g_nf, g_nl, g_lmax, sp, lk, counters)
        if counters[STATUS] == STORAGE_OVERFLOW:
            raise RuntimeError(
                f"anchor set {int(counters[NEXT_SET])}: spikes in flight overflow the last rows "
                "of the program's storage (not emulated); use backend='numpy'")
        ng, n_over = int(counters[N_GROUPS]), n_over + int(counters[N_OVERFLOW])
        s_off = np.concatenate([[0], np.cumsum(g_nf[:ng])])
        l_off = np.concatenate([[0], np.cumsum(g_nl[:ng])])
        for k in range(ng):
            spikes = sp[s_off[k]:s_off[k + 1]]
            found.append((int(g_set[k]), spikes[:, 0].copy(), spikes[:, 1].copy(),
                          lk[l_off[k]:l_off[k + 1]].copy(), spikes[:, 2].copy(), int(g_lmax[k])))
        start = int(counters[NEXT_SET])
        if counters[STATUS] == NEED_ROOM:
            cap_g *= 4
    return found, n_over
