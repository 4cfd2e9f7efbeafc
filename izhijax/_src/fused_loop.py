"""The fused loop of :mod:`izhijax._src.fused`, compiled by numba (imported only when used: numba
is an optional dependency). Module-level functions, so that numba caches their machine code on
disk (``cache=True``): the first use compiles them (about 4 s), later processes load them."""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def fired_of(row_fired, row_over, row_spikes, n_pre, out):
    """The sources that fired in one ring row, highest first (the fired list, or the 0/1
    row itself when the step had more spikes than the list holds); returns the count."""
    m = 0
    if row_over:
        for j in range(n_pre - 1, -1, -1):
            if row_spikes[j] != 0:
                out[m] = j
                m += 1
    else:
        for k in range(row_fired.shape[0]):
            j = row_fired[k]
            if j >= n_pre:
                break
            out[m] = j
            m += 1
    return m

@numba.njit(nogil=True, cache=True)
def consolidate(post, w, sd, n_post, sd_decay, drift, w_min, w_max):
    wf, sf, pf = w.reshape(-1), sd.reshape(-1), post.reshape(-1)
    for e in range(wf.shape[0]):
        s = sf[e] * sd_decay
        sf[e] = s
        if pf[e] < n_post:
            x = wf[e] + (drift + s)
            if x < w_min:
                x = w_min
            if x > w_max:
                x = w_max
            wf[e] = x
        else:
            wf[e] = 0.0

@numba.njit(nogil=True, cache=True)
def loop(t0, n_steps, v, u, a, b, c, d, bias, pulse, pop_of, consts, flags,
         meta, posts, ws, fireds, overs, spikes, sds, x_pres, x_posts, post_sps, pendings,
         incomings, rules,
         ev_idx, ev_amt, dense,
         counts, pop_counts, raster, v_index, rec_v, u_index, rec_u):
    """``n_steps`` steps from step ``t0``; every state array is updated in place. Returns
    the first step after which some ``v`` or ``u`` was not finite (-1: none)."""
    n = v.shape[0]
    f0 = consts[0] - consts[0]                      # 0 in the float dtype
    c04, c5, c140, half, dt, v_peak = consts[0], consts[1], consts[2], consts[3], \
        consts[4], consts[5]
    horner, inclusive, halfsteps, cut_u = flags[0], flags[1], flags[2], flags[3]
    mode = flags[4]                                 # input: 0 none, 1 events, 2 dense
    cur = np.empty(n, v.dtype)
    s = np.zeros(n, v.dtype)
    tmp = np.zeros(n, v.dtype)
    mark = np.zeros(n, np.uint8)
    n_proj = meta.shape[0]
    max_pre = 1
    for p in range(n_proj):
        max_pre = max(max_pre, meta[p, 0])
    fired = np.empty(max_pre, np.int64)
    bad = -1
    one = consts[6]
    pre_v = np.empty(n, v.dtype)
    pre_u = np.empty(n, v.dtype)
    fired_now = np.empty(n, np.int64)
    # source and delay of every incoming synapse of the plastic projections (one table)
    inc_off = np.zeros(n_proj + 1, np.int64)
    for p in range(n_proj):
        inc_off[p + 1] = inc_off[p] + incomings[p].size
    inc_pre = np.zeros(inc_off[n_proj], np.int32)
    inc_dly = np.zeros(inc_off[n_proj], np.int32)
    for p in range(n_proj):
        inc = incomings[p].reshape(-1)
        D, L, size = posts[p].shape[1], posts[p].shape[2], posts[p].size
        for q in range(inc.shape[0]):
            e = inc[q]
            if e < size:
                inc_pre[inc_off[p] + q] = e // (D * L)
                inc_dly[inc_off[p] + q] = (e // L) % D
    for st in range(n_steps):
        t = t0 + st
        # the current: pulses in flight + bias + noise (none), then the external input
        if st < pulse.shape[0]:
            for i in range(n):
                cur[i] = (pulse[st, i] + bias[i]) + f0
        else:
            for i in range(n):
                cur[i] = (f0 + bias[i]) + f0
        if mode == 1:
            m = ev_idx.shape[1]
            for k in range(m):
                i = ev_idx[st, k]
                if i < n:
                    tmp[i] = f0
            for k in range(m):
                i = ev_idx[st, k]
                if i < n:
                    tmp[i] += ev_amt[st, k]
            for k in range(m):
                i = ev_idx[st, k]
                if i < n and mark[i] == 0:
                    cur[i] = cur[i] + tmp[i]
                    mark[i] = 1
            for k in range(m):
                i = ev_idx[st, k]
                if i < n:
                    mark[i] = 0
        elif mode == 2:
            for i in range(n):
                cur[i] = cur[i] + dense[st, i]
        # every projection: learning at the start of the step, then the arrivals
        for p in range(n_proj):
            n_pre, tgt0, n_post = meta[p, 0], meta[p, 2], meta[p, 3]
            plastic = meta[p, 4]
            post, w, ring_f, ring_o, ring_s = posts[p], ws[p], fireds[p], overs[p], spikes[p]
            D, L = post.shape[1], post.shape[2]
            if plastic:
                sd, x_pre, x_post, post_sp = sds[p], x_pres[p], x_posts[p], post_sps[p]
                rule = rules[p]
                a_plus, decay = rule[0], rule[2]
                # the pre trace of step t: last step's, decayed, or set by its spikes
                r1 = (t - 1) % D
                now, prev = t % (D + 1), (t - 1) % (D + 1)
                for j in range(n_pre):
                    x_pre[now, j] = a_plus if ring_s[r1, j] != f0 else decay * x_pre[prev, j]
                if pendings[p][0]:
                    consolidate(post, w, sd, n_post, rule[3], rule[4], rule[5], rule[6])
                # potentiation of the synapses onto last step's fired targets, as of arrival
                inc = incomings[p]
                width = inc.shape[1]
                size = post.size
                sdf = sd.reshape(-1)
                base = (t - 1) % (D + 1)
                for i in range(n_post):
                    if post_sp[i] != 0:
                        o = inc_off[p] + i * width
                        for q in range(width):
                            e = inc[i, q]
                            if e >= size:
                                break
                            row = base - inc_dly[o + q]
                            if row < 0:
                                row += D + 1
                            sdf[e] += x_pre[row, inc_pre[o + q]]
                # depression at the synapses delivering now
                for dd in range(D):
                    row = (t - 1 - dd) % D
                    m = fired_of(ring_f[row], ring_o[row], ring_s[row], n_pre, fired)
                    for k in range(m):
                        j = fired[k]
                        for l in range(L):
                            tg = post[j, dd, l]
                            if tg < n_post:
                                sd[j, dd, l] += -x_post[tg]
            # the arrivals: delay by delay, the highest source first, each row in order
            for dd in range(D):
                row = (t - 1 - dd) % D
                m = fired_of(ring_f[row], ring_o[row], ring_s[row], n_pre, fired)
                for k in range(m):
                    j = fired[k]
                    coef = ring_s[row, j]
                    for l in range(L):
                        tg = post[j, dd, l]
                        if tg < n_post:
                            cur[tgt0 + tg] += w[j, dd, l] * coef
        # the neurons: the update (branch-free, vectorised), then threshold and reset
        if halfsteps and horner:
            for i in range(n):
                vi, ui, ii = v[i], u[i], cur[i]
                vi = vi + half * (((c04 * vi + c5) * vi + c140 - ui) + ii)
                vi = vi + half * (((c04 * vi + c5) * vi + c140 - ui) + ii)
                pre_v[i] = vi
                pre_u[i] = ui + dt * (a[i] * (b[i] * vi - ui))
        elif halfsteps:
            for i in range(n):
                vi, ui, ii = v[i], u[i], cur[i]
                vi = vi + half * ((c04 * vi * vi + c5 * vi + c140 - ui) + ii)
                vi = vi + half * ((c04 * vi * vi + c5 * vi + c140 - ui) + ii)
                pre_v[i] = vi
                pre_u[i] = ui + dt * (a[i] * (b[i] * vi - ui))
        elif horner:
            for i in range(n):
                vi, ui = v[i], u[i]
                pre_v[i] = vi + dt * (((c04 * vi + c5) * vi + c140 - ui) + cur[i])
                pre_u[i] = ui + dt * (a[i] * (b[i] * vi - ui))
        else:
            for i in range(n):
                vi, ui = v[i], u[i]
                pre_v[i] = vi + dt * ((c04 * vi * vi + c5 * vi + c140 - ui) + cur[i])
                pre_u[i] = ui + dt * (a[i] * (b[i] * vi - ui))
        nonfinite = 0
        for i in range(n):
            vi, ui = pre_v[i], pre_u[i]
            dist = vi - v_peak
            fire = (dist >= f0) if inclusive else (dist > f0)
            si = one if fire else f0
            s[i] = si
            # reset_to's forward value: exactly c where fired, v elsewhere (+ 0 of the
            # smooth form's rounding: NaN where v is not finite, as the engine)
            smooth = vi + si * (c[i] - vi)
            vn = (c[i] if fire else vi) + (smooth - smooth)
            un = ui + si * d[i]
            if cut_u:
                un = un - si * (ui - ui)
            v[i] = vn
            u[i] = un
            nonfinite += not ((vn - vn == f0) and (un - un == f0))
        if nonfinite and bad < 0:
            bad = t
        n_fired = 0
        for i in range(n):
            if s[i] != 0:
                fired_now[n_fired] = i
                n_fired += 1
        for k in range(n_fired):
            i = fired_now[k]
            counts[i] += 1
            pop_counts[st, pop_of[i]] += 1
        if raster.shape[0]:
            for k in range(n_fired):
                raster[st, fired_now[k]] = True
        for k in range(v_index.shape[0]):       # recorded before the reset
            rec_v[st, k] = pre_v[v_index[k]]
        for k in range(u_index.shape[0]):
            rec_u[st, k] = pre_u[u_index[k]]
        # end of the step: traces, a consolidation due, the spike rings
        for p in range(n_proj):
            n_pre, src0, tgt0, n_post = meta[p, 0], meta[p, 1], meta[p, 2], meta[p, 3]
            plastic, K = meta[p, 4], meta[p, 5]
            if plastic:
                rule = rules[p]
                a_minus, decay = rule[1], rule[2]
                x_post, post_sp = x_posts[p], post_sps[p]
                for i in range(n_post):
                    si = s[tgt0 + i]
                    x_post[i] = a_minus if si != f0 else decay * x_post[i]
                    post_sp[i] = si
                pendings[p][0] = (t + 1) % meta[p, 6] == 0
            ring_f, ring_o, ring_s = fireds[p], overs[p], spikes[p]
            D = ring_f.shape[0]
            slot = t % D
            for j in range(n_pre):
                ring_s[slot, j] = s[src0 + j]
            m = 0                   # the source's fired neurons, highest first
            for k in range(n_fired - 1, -1, -1):
                j = fired_now[k] - src0
                if 0 <= j < n_pre:
                    if m < K:
                        ring_f[slot, m] = j
                    m += 1
            for k in range(min(m, K), K):
                ring_f[slot, k] = n_pre
            ring_o[slot] = m > K
    # a consolidation due after the last step (the engine's flush)
    for p in range(n_proj):
        if meta[p, 4] and pendings[p][0]:
            rule = rules[p]
            consolidate(posts[p], ws[p], sds[p], meta[p, 3], rule[3], rule[4], rule[5],
                        rule[6])
            pendings[p][0] = False
    return bad


_ARGS = ("t0", "v_in", "u_in", "a", "b", "c", "d", "bias", "pulse", "pop_of", "consts", "flags",
         "meta", "ev_idx", "ev_amt", "dense", "v_index", "u_index")
_OUTS = ("counts", "pop_counts", "raster", "rec_v", "rec_u", "bad")


def flat(n_proj, fields, state):
    """The loop for ``n_proj`` projections as one numba function of flat arrays (XLA's FFI
    hands over a list of buffers): :data:`_ARGS`, then each of ``fields`` for every projection
    (the ones in ``state`` as inputs ``<name>_<p>_in`` aliased to outputs ``<name>_<p>``),
    then the outputs ``v``, ``u``, the ``state`` fields and :data:`_OUTS`. Compiled once per
    ``n_proj`` and process (a few lines calling :func:`loop`, whose machine code is cached)."""
    names = lambda f: [f"{f}_{p}" for p in range(n_proj)]
    ins = list(_ARGS) + [x + ("_in" if f in state else "") for f in fields for x in names(f)]
    outs = ["v", "u"] + [x for f in state for x in names(f)] + list(_OUTS)
    tup = lambda f: "(" + "".join(x + ", " for x in names(f)) + ")"
    src = (f"def fused_{n_proj}({', '.join(ins + outs)}):\n"
           f"    counts[:] = 0\n    pop_counts[:] = 0\n    raster[:] = False\n"
           f"    bad[0] = loop(t0[0], pop_counts.shape[0], v, u, a, b, c, d, bias, pulse, pop_of, "
           f"consts, flags, meta, {', '.join(tup(f) for f in fields)}, ev_idx, ev_amt, dense, "
           f"counts, pop_counts, raster, v_index, rec_v, u_index, rec_u)\n")
    scope = {"loop": loop}
    exec(compile(src, f"<izhijax fused loop, {n_proj} projections>", "exec"), scope)
    return numba.jit(forceobj=True)(scope[f"fused_{n_proj}"])
