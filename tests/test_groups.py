"""izhijax.groups: the polychronous-group search of Izhikevich (2006).

* the original program's own result on weights of its 60 s run (``tests/data/poly_groups_60s.npz``,
  made by ``experiments/polychronization/groups_vs_original.py --seconds 60 --pack-test-data``):
  per-target counts and its polyall.dat lines, byte for byte (a few targets; all 800 in a slow test);
* a hand-built network whose group is known in advance (a ladder of neuron pairs);
* every anchor set of small random networks against a plain transcription of the program's
  per-anchor-set loop (dense over all neurons, no event tricks, its rows of N slots for the spikes
  in flight included), spike for spike, caps and overflowing rows included;
* the certified quiet cells and the shuffled-weights control.
"""

import itertools
import os

import numpy as np
import pytest

from izhijax._src import groups as G
from izhijax._src.groups import polychronous_groups, shuffle_weights

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "poly_groups_60s.npz")


# ---------------------------------------------------------------------------------------------
# A plain transcription of the program's polychronous(nnum) for one anchor set (the oracle)


def oracle(post, delay, w, a, d, ne, anchors, dpre, c_max=10.0, D=None, polylenmax=None,
           min_path=7):
    """The program's polychronous(nnum) for one anchor set, line by line, with its storage of
    spikes in flight: rows of N slots per arrival step in flat arrays, so that a step with more
    than N arrivals overflows into the next row as in the C program."""
    n, m = post.shape
    D = int(delay.max()) if D is None else D
    plm = n if polylenmax is None else polylenmax
    c_rel = 0.95 * c_max
    W = len(anchors)
    rows = [sorted(range(m), key=lambda j: (delay[i, j], j)) for i in range(n)]
    size = (plm + 2 * D + 4) * n + n
    I_ps, J_ps, D_ps, C_ps = [0] * size, [0] * size, [0] * size, [0.0] * size
    N_ps = [0] * (plm + 2 * D + 4)

    def write(timing, tg, src, dd, x):
        k = timing * n + N_ps[timing]
        I_ps[k], J_ps[k], D_ps[k], C_ps[k] = tg, src, dd, x
        N_ps[timing] += 1

    dmax = max(dpre)
    group = list(anchors)
    tf = [dmax - x for x in dpre]
    for k in range(W):
        g = anchors[k]
        for j in rows[g]:
            if w[g, j] > c_rel and delay[g, j] - 1 >= dpre[k]:
                write(tf[k] + delay[g, j], post[g, j], g, delay[g, j] - 1, w[g, j])
    v = np.full(n, -70.0)
    u = 0.2 * v
    t_last = 3 * D + 1
    t = -1
    overflow = False
    while True:
        t += 1
        if not (t < t_last and len(group) < plm):
            break
        overflow |= N_ps[t] > n
        I = np.zeros(n)
        for k in range(t * n, t * n + N_ps[t]):
            I[I_ps[k]] += C_ps[k]
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
        u += a * (0.2 * v - u)
        for i in np.flatnonzero(v >= 30):
            v[i] = -65.0
            u[i] += d[i]
            if len(group) < plm:
                tf.append(t)
                group.append(int(i))
                timing = None
                for j in rows[i]:
                    if w[i, j] > c_rel or i >= ne:
                        timing = t + delay[i, j]
                        write(timing, post[i, j], i, delay[i, j] - 1, w[i, j])
                if timing is not None and t_last < timing + 1:
                    t_last = min(timing + 1, plm - D - 1)
    out = dict(group=group, tf=tf, is_group=False, overflow=overflow)
    if len(group) > 2 * W:
        layer = [1] * W + [0] * (len(group) - W)
        links, lmax = [], 0
        for i in range(W, len(group)):
            p = tf[i]
            while p > tf[i] - D and p >= 0:
                for k in range(p * n, p * n + N_ps[p]):
                    if I_ps[k] == group[i] and J_ps[k] < ne:
                        for kk in range(i):
                            if group[kk] == J_ps[k] and layer[kk] + 1 > layer[i]:
                                layer[i] = layer[kk] + 1
                        links.append((J_ps[k], I_ps[k], D_ps[k] + 1, layer[i]))
                        lmax = max(lmax, layer[i])
                p -= 1
        discard = any(sum(1 for x in links if x[0] == group[k] and x[1] < ne) == 1
                      for k in range(W))
        out.update(links=links, lmax=lmax, layer=layer,
                   is_group=(not discard) and lmax >= min_path)
    return out


def anchor_sets(post, w, delay, ne, W=3, c_max=10.0):
    """(target, anchors, 0-based delays) of every anchor set, in the program's order."""
    for tgt in range(ne):
        pre = [(j, k) for j in range(ne) for k in range(post.shape[1])
               if post[j, k] == tgt and w[j, k] > 0.95 * c_max]
        for c in itertools.combinations(pre, W):
            yield tgt, [j for j, _ in c], [int(delay[j, k]) - 1 for j, k in c]


# ---------------------------------------------------------------------------------------------
# The original program's result


def load_test_weights():
    z = np.load(DATA)
    post, delay = z["post"].astype(np.int64), z["delay"].astype(np.int64)
    ne = int(z["n_exc"])
    w = np.zeros(post.shape)
    strong = np.unpackbits(z["strong_bits"])[: ne * post.shape[1]].astype(bool)
    w[:ne].ravel()[strong] = z["strong_w"]
    w[ne:] = z["inh_w"][0]
    n = post.shape[0]
    a = np.where(np.arange(n) < ne, 0.02, 0.1)
    d = np.where(np.arange(n) < ne, 8.0, 2.0)
    return post, delay, w, a, d, ne, z


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_original_60s_targets(backend):
    """Same groups as the original's search, line for line, on the targets of the stored lines."""
    post, delay, w, a, d, ne, z = load_test_weights()
    targets = z["lines_targets"].astype(np.int64)
    res = polychronous_groups(post, delay, w, a, d, ne, max_delay=20, targets=targets,
                              backend=backend)
    assert res.count == int(z["per_target"][targets].sum()) > 0
    assert np.array_equal(res.per_target()[targets], z["per_target"][targets])
    assert res.polyall() == str(z["lines"])


@pytest.mark.slow
def test_original_60s_every_fourth_target():
    """The original's group count per target on every fourth of the 800 targets and on the 8
    targets with groups (11 groups; no group where the original finds none among about 330,000
    anchor sets), the Numba backend. All targets and the 5 h weights' 4305 groups with their
    polyall.dat: experiments/polychronization/groups_vs_original.py and search_speed.py (output in
    experiments/polychronization/out/)."""
    post, delay, w, a, d, ne, z = load_test_weights()
    targets = np.union1d(np.arange(1, ne, 4), np.flatnonzero(z["per_target"]))
    res = polychronous_groups(post, delay, w, a, d, ne, max_delay=20, targets=targets,
                              backend="numba", n_jobs=1)
    assert res.count == int(z["count"]) == 11
    assert np.array_equal(res.per_target()[targets], z["per_target"][targets])


# ---------------------------------------------------------------------------------------------
# A hand-built group


def single_neuron_latency(a, I, n_in):
    """Steps from the input step to the spike of a neuron at rest getting ``n_in`` inputs of
    ``I`` at once (0: fires in the step of the input), by the program's step equations."""
    v, u = -70.0, -14.0
    for k in range(100):
        x = n_in * I if k == 0 else 0.0
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + x)
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + x)
        u += a * (0.2 * v - u)
        if v >= 30:
            return k
    return None


# the program's D and polylenmax (= its N): first t_last 61, cap 979 (polylenmax = N would cap a
# 15-neuron network at 15 spikes and t_last at N - D - 1)
PROGRAM = dict(max_delay=20, polylenmax=1000)


def ladder(n_rungs=5, gap=3, discard_variant=False):
    """Anchors 0, 1, 2 -> (3, 4) -> (5, 6) -> ... : every neuron of a rung gets both neurons of the
    rung before (weight 10, delay ``gap`` ms); the anchors reach 3 and 4 with delay 5 ms.
    ``discard_variant``: anchor 2 reaches only 3 and anchors 0, 1 reach 4 with weight 15 (so 4 gets
    the same input, 30, as 3). Unused synapses: weight 0."""
    n = 5 + 2 * n_rungs
    m = 4
    post = np.zeros((n, m), dtype=np.int64)
    delay = np.ones((n, m), dtype=np.int64)
    w = np.zeros((n, m))
    for k in range(3):
        for j, x in enumerate([3] if (discard_variant and k == 2) else [3, 4]):
            post[k, j], delay[k, j] = x, 5
            w[k, j] = 15.0 if (discard_variant and x == 4) else 10.0
    for r in range(n_rungs):
        src, dst = (3 + 2 * r, 4 + 2 * r), (5 + 2 * r, 6 + 2 * r)
        for s in src:
            for j, x in enumerate(dst):
                post[s, j], delay[s, j], w[s, j] = x, gap, 10.0
    for i in range(n):  # the unused synapses: onto other neurons, no duplicates
        used = set(post[i, w[i] > 0].tolist())
        free = [x for x in range(n) if x != i and x not in used]
        for j in np.flatnonzero(w[i] == 0):
            post[i, j] = free.pop()
    a = np.full(n, 0.02)
    d = np.full(n, 8.0)
    return post, delay, w, a, d


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ladder_group_is_found_with_its_times_and_layers(backend):
    post, delay, w, a, d = ladder()
    n = post.shape[0]
    res = polychronous_groups(post, delay, w, a, d, n, backend=backend, **PROGRAM)
    # targets 3 and 4 have the same three strong presynaptic neurons: one anchor set each, and the
    # same cascade (the anchors send along all their strong synapses of delay >= 5)
    assert res.n_triplets == 2 and res.count == 2
    assert [g.target for g in res.groups] == [3, 4]
    l3 = single_neuron_latency(0.02, 10.0, 3)
    l2 = single_neuron_latency(0.02, 10.0, 2)
    assert l3 is not None and l2 is not None
    for g in res.groups:
        assert g.anchors.tolist() == [0, 1, 2]
        assert g.neurons.tolist() == list(range(15))
        t_rung = 5 + l3  # arrival at step 0 + 5, then the latency of a triple input
        want_t = [0, 0, 0]
        for r in range(6):
            want_t += [t_rung, t_rung]
            t_rung += 3 + l2
        assert g.times.tolist() == want_t
        assert g.layers.tolist() == [1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
        assert g.n_layers == 7 and g.size == 15
        # links: every anchor to 3 and 4, then both neurons of a rung to both of the next
        assert len(g.links) == 6 + 5 * 4
        assert set(map(tuple, g.links[:, :3].tolist())) >= {(0, 3, 5), (2, 4, 5), (11, 14, 3), (12, 13, 3)}
    # min_path 8: too short
    assert polychronous_groups(post, delay, w, a, d, n, min_path=8, backend=backend,
                               **PROGRAM).count == 0
    # a rung shorter: L_max 6
    post, delay, w, a, d = ladder(n_rungs=4)
    assert polychronous_groups(post, delay, w, a, d, post.shape[0], backend=backend,
                               **PROGRAM).count == 0


def test_group_is_drawn_spike_for_spike_and_link_for_link():
    import matplotlib
    matplotlib.use("Agg")
    import izhijax.plot as iplot
    from izhijax._src.plot import _link_segments
    post, delay, w, a, d = ladder()
    n = post.shape[0]
    g = polychronous_groups(post, delay, w, a, d, n, **PROGRAM).groups[0]
    seg = _link_segments(g, 20)
    assert len(seg) == len(g.links) == 26
    when = dict(zip(g.neurons.tolist(), g.times.tolist()))  # each neuron fires once here
    for (tp, p, tq, q), (pre, post_, dl, _) in zip(seg, g.links.tolist()):
        assert (p, q) == (pre, post_) and tp == when[p] and tq == when[q]
        assert 0 <= tq - (tp + dl) < 20
    ax = iplot.polychronous_group(g, n_exc=n)
    assert len(ax.lines) == len(g.links)
    drawn = np.concatenate([c.get_offsets() for c in ax.collections])
    assert sorted(map(tuple, drawn.tolist())) == sorted(zip(g.times.tolist(), g.neurons.tolist()))
    assert "15 spikes, 7 layers" in ax.get_title()
    with pytest.raises(ValueError, match="not both"):
        iplot.polychronization(None, (w, post), groups=([0], [1]), group=g)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ladder_discard_rule(backend):
    """Anchor 2 with a single link (to 3 only): the program discards the anchor set, although its
    cascade is as long (L_max 7)."""
    post, delay, w, a, d = ladder(discard_variant=True)
    n = post.shape[0]
    res = polychronous_groups(post, delay, w, a, d, n, backend=backend, **PROGRAM)
    assert res.n_triplets == 1 and res.count == 0
    o = oracle(post, delay, w, a, d, n, [0, 1, 2], [4, 4, 4], D=20, polylenmax=1000)
    assert o["lmax"] == 7 and not o["is_group"]
    assert sum(1 for x in o["links"] if x[0] == 2) == 1


# ---------------------------------------------------------------------------------------------
# Random networks against the oracle


def random_net(seed, n=50, ne=40, m=20, D=4, p_strong=0.6, mixed=False):
    rng = np.random.default_rng(seed)
    post = np.empty((n, m), dtype=np.int64)
    for i in range(n):
        pool = np.arange(ne) if i >= ne else np.delete(np.arange(n), i)
        post[i] = rng.choice(pool, m, replace=False)
    delay = rng.integers(1, D + 1, size=(n, m))
    delay[ne:] = 1
    w = np.where(rng.random((n, m)) < p_strong, np.where(rng.random((n, m)) < 0.5, 10.0,
                                                          rng.uniform(9.5, 10.0, (n, m))),
                 rng.uniform(0, 9.5, (n, m)))
    w[ne:] = -5.0
    a = np.where(np.arange(n) < ne, 0.02, 0.1)
    d = np.where(np.arange(n) < ne, 8.0, 2.0)
    if mixed:  # more neuron classes (values of a), other d
        a[:ne] = rng.choice([0.02, 0.03, 0.05], ne)
        d[:ne] = rng.choice([6.0, 8.0], ne)
    return post, delay, w, a, d, ne


@pytest.mark.slow
@pytest.mark.parametrize("seed,plm,mixed", [(1, None, False), (2, 40, False), (3, 200, False),
                                             (4, None, True)])
def test_every_anchor_set_matches_the_oracle(seed, plm, mixed):
    post, delay, w, a, d, ne = random_net(seed, mixed=mixed)
    sets = list(anchor_sets(post, w, delay, ne))[:250]
    want = [oracle(post, delay, w, a, d, ne, an, dp, polylenmax=plm) for _, an, dp in sets]
    net = G._Net(post, delay, w, a, d, ne, 10.0, None, plm)
    anch = np.array([an for _, an, _ in sets])
    dpre = np.array([dp for _, _, dp in sets])
    st = G._Store(net, 64)
    memo = G._Memo(net)
    got_groups = []
    for s0 in range(0, len(sets), 64):
        sl = slice(s0, s0 + 64)
        sim = G._simulate_batch(net, anch[sl], dpre[sl], memo, st)
        fb, fn, ft, nf, tfa, overflow = sim
        for b in range(len(anch[sl])):
            o = want[s0 + b]
            assert overflow[b] == o["overflow"]
            if not o["overflow"]:  # spike for spike (an overflowing set is emulated instead)
                assert anch[sl][b].tolist() + fn[fb == b].tolist() == o["group"]
                assert tfa[b].tolist() + ft[fb == b].tolist() == o["tf"]
                assert nf[b] == len(o["group"])
        got_groups += [s0 + b for b, *_ in G._evaluate(net, anch[sl], dpre[sl], 3, 7, sim)]
        got_groups += [s0 + b for b in np.flatnonzero(overflow)
                       if G._emulate(net, anch[sl][b], dpre[sl][b], 7) is not None]
    assert sorted(got_groups) == [k for k, o in enumerate(want) if o["is_group"]]
    # the public function, both backends: the same groups, links and layers
    targets = sorted({tg for tg, _, _ in sets})
    full = [oracle(post, delay, w, a, d, ne, an, dp, polylenmax=plm)
            for tg, an, dp in anchor_sets(post, w, delay, ne) if tg in targets]
    n_overflow = sum(o["overflow"] for o in full)
    full = [o for o in full if o["is_group"]]
    for backend, jobs in (("numba", 2), ("numpy", 1)):
        res = polychronous_groups(post, delay, w, a, d, ne, polylenmax=plm, targets=targets,
                                  batch_size=50, backend=backend, n_jobs=jobs)
        assert res.count == len(full)
        assert res.n_emulated == n_overflow
        for g, o in zip(res.groups, full):
            assert g.neurons.tolist() == o["group"] and g.times.tolist() == o["tf"]
            assert [tuple(x) for x in g.links.tolist()] == o["links"]
            assert g.layers.tolist() == o["layer"] and g.n_layers == o["lmax"]


@pytest.mark.parametrize("seed,plm,mixed", [(2, 40, False), (4, None, True), (5, 30, True)])
def test_numba_backend_matches_the_oracle(seed, plm, mixed):
    """The compiled per-set loop, set by set against the transcription, spike caps, t_last caps and
    overflowing rows included (every anchor set of three targets; the NumPy backend against the
    same oracle is the slow test above)."""
    post, delay, w, a, d, ne = random_net(seed, mixed=mixed)
    sets = list(anchor_sets(post, w, delay, ne))
    targets = sorted({tg for tg, _, _ in sets})[:3]
    want = [oracle(post, delay, w, a, d, ne, an, dp, polylenmax=plm)
            for tg, an, dp in sets if tg in targets]
    groups = [o for o in want if o["is_group"]]
    res = polychronous_groups(post, delay, w, a, d, ne, polylenmax=plm, targets=targets,
                              batch_size=7, backend="numba")
    assert res.n_triplets == len(want)
    assert res.n_emulated == sum(o["overflow"] for o in want)
    assert res.count == len(groups) > 0
    for g, o in zip(res.groups, groups):
        assert g.neurons.tolist() == o["group"] and g.times.tolist() == o["tf"]
        assert [tuple(x) for x in g.links.tolist()] == o["links"]
        assert g.layers.tolist() == o["layer"] and g.n_layers == o["lmax"]


def test_numba_backend_grows_its_buffers(monkeypatch):
    """More groups, spikes and links than the output buffers hold (here first 1 group, 64
    spikes, 256 links; each growth x4) come out whole: the kernel stops, the buffers grow, the
    search resumes at the set."""
    monkeypatch.setattr(G._numba, "FIRST_CAPACITY", 1)
    post, delay, w, a, d, ne = random_net(1)
    kw = dict(targets=np.arange(8), batch_size=100_000)
    want = polychronous_groups(post, delay, w, a, d, ne, backend="numpy", **kw)
    got = polychronous_groups(post, delay, w, a, d, ne, backend="numba", **kw)
    assert want.count > 16                                       # grown twice for the count
    assert sum(g.size for g in want.groups) > 16 * 64            # and for the spikes
    assert sum(len(g.links) for g in want.groups) > 4 * 256      # and the links
    assert got.polyall() == want.polyall()
    assert [g.target for g in got.groups] == [g.target for g in want.groups]


def test_random_networks_have_groups_and_caps():
    """The oracle test above is not vacuous: groups, and anchor sets stopped by the spike cap."""
    post, delay, w, a, d, ne = random_net(2)
    sets = list(anchor_sets(post, w, delay, ne))[:250]
    outs = [oracle(post, delay, w, a, d, ne, an, dp, polylenmax=40) for _, an, dp in sets]
    assert sum(o["is_group"] for o in outs) > 10
    assert sum(len(o["group"]) == 40 for o in outs) > 10  # stopped by the spike cap
    assert 10 < sum(o["overflow"] for o in outs) < 240  # > N spikes arriving in one step
    assert sum(max(o["tf"]) == 40 - 4 - 2 for o in outs) > 10  # by t_last's cap (35: last step 34)


# ---------------------------------------------------------------------------------------------
# Certified cells, control


@pytest.mark.parametrize("a", [0.02, 0.1])
def test_certified_cells_never_fire(a):
    """States drawn from certified cells, run 400 input-free steps: none fires."""
    cert = G._Certificate((a,))
    tab = cert.flat.reshape(cert.nv + 2, cert.nu + 2)
    iv, iu = np.nonzero(tab)
    rng = np.random.default_rng(0)
    k = rng.integers(0, iv.size, 20000)
    g = G._GRID
    v = g["v0"] + (iv[k] - 1 + rng.random(k.size)) * g["hv"]
    u = g["u0"] + (iu[k] - 1 + rng.random(k.size)) * g["hu"]
    assert cert.quiet(v, u, np.zeros(k.size, dtype=np.int64)).all()
    for _ in range(400):
        G._step_free(v, u, a)
        assert (v < 30).all()
    # rest is certified, a state just past threshold is not
    assert cert.quiet(np.array([-70.0, -45.0]), np.array([-14.0, -14.0]), np.zeros(2, int)).tolist() \
        == [True, False]


def test_shuffle_weights():
    post, delay, w, a, d, ne = random_net(0)
    s1 = shuffle_weights(post, w, ne, 7)
    ee = np.zeros(w.shape, bool)
    ee[:ne] = post[:ne] < ne
    assert np.array_equal(s1[~ee], w[~ee])
    assert np.array_equal(np.sort(s1[ee]), np.sort(w[ee])) and not np.array_equal(s1[ee], w[ee])
    assert np.array_equal(shuffle_weights(post, w, ne, 7), s1)
    import jax
    s2 = shuffle_weights(post, w, ne, jax.random.key(0))
    assert np.array_equal(np.sort(s2[ee]), np.sort(w[ee]))


def test_bad_inputs():
    post, delay, w, a, d = ladder()
    n = post.shape[0]
    with pytest.raises(ValueError, match="same shape|one shape"):
        polychronous_groups(post[:, :2], delay, w, a, d, n)
    with pytest.raises(ValueError, match="delays"):
        polychronous_groups(post, delay * 0, w, a, d, n)
    with pytest.raises(ValueError, match="targets"):
        polychronous_groups(post, delay, w, a, d, n, targets=[n])
    dup = post.copy()
    dup[3, 1] = dup[3, 0]
    with pytest.raises(ValueError, match="two strong synapses"):
        polychronous_groups(dup, delay, w, a, d, n)
    dup[3, 1], dup[3, 2] = dup[3, 2], dup[3, 0]  # onto the same target, but weak: fine
    polychronous_groups(dup, delay, w, a, d, n)
    with pytest.raises(ValueError, match="backend"):
        polychronous_groups(post, delay, w, a, d, n, backend="cuda")
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_jobs"):
            polychronous_groups(post, delay, w, a, d, n, n_jobs=bad)


def test_numba_backend_without_numba(monkeypatch):
    post, delay, w, a, d = ladder()
    n = post.shape[0]
    monkeypatch.setattr(G._numba, "numba", None)
    with pytest.raises(ImportError, match=r"izhijax\[numba\]"):
        polychronous_groups(post, delay, w, a, d, n, backend="numba", **PROGRAM)
    res = polychronous_groups(post, delay, w, a, d, n, **PROGRAM)  # auto: NumPy
    assert res.count == 2 and res.settings["backend"] == "numpy"
