"""Plasticity of projections with per-synapse delays (:mod:`izhijax.plasticity`) against analytic
results: the STDP windows of the three rules spike pair by spike pair, the Izhikevich (2006)
consolidation, dopamine's decay and rewards (Izhikevich 2007), resuming, freezing, saving.

Conventions (:mod:`izhijax._src.plasticity`): a spike of step ``t_s`` through a synapse of delay
``d`` arrives into the update of step ``t_a = t_s + d``; the target neuron's spike is labelled
``t_p``; one pair changes the rule's target (``w`` for STDP, the eligibility ``sd`` for the
others) by ``window(rule, t_p - t_a)``. Spikes are forced with a large input (200 mV/ms makes an
Izhikevich (2003) neuron at rest cross the threshold in that very step with the ``izhikevich``
integrator), without noise.
"""

import jax
import numpy as np
import pytest

import izhijax as izj

RS = dict(a=0.02, b=0.2, c=-65.0, d=2.0)
QUIET = izj.Config(integrator="izhikevich", noise="none")
FORCE = 200.0           # mV/ms: a neuron at rest fires in the step it gets this


def _pop(n, **kw):
    return izj.population("n", izj.Izhikevich2003(), n, params=RS, v0=-65.0, **kw)


def _leaves_equal(a, b, what):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb), what
    for i, (x, y) in enumerate(zip(la, lb)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f"{what}: leaf {i}")


# --- the STDP windows, pair by pair ----------------------------------------------------------

LAGS = np.arange(-15, 16)
DELAYS = (1, 3)
T_PAIRS = 120
PAIR_RULES = {
    "STDP": izj.plasticity.STDP(),
    "Izhikevich2006": izj.plasticity.Izhikevich2006(),
    "Dopamine2007": izj.plasticity.Dopamine2007(),    # its 10 ms updates: see the test below
}


def _pair_timing():
    """One pair pre_i -> post_i (one synapse each) per (delay, lag): the pre spike at ``t_s``,
    the post spike at ``t_p = t_s + d + lag``."""
    lag = np.tile(LAGS, len(DELAYS))
    d = np.repeat(DELAYS, len(LAGS))
    P = lag.size
    ts = 30 + (2 * np.arange(P)) % 40        # up to 4 presynaptic spikes in one step
    return dict(lag=lag, d=d, P=P, ts=ts, tp=ts + d + lag, i=np.arange(P))


@pytest.fixture(scope="module", params=[None, 1], ids=["event", "all-synapse"])
def pairs(request):
    """One network, for each rule a population ``pre_<rule>`` and one ``post_<rule>`` of P
    neurons and a projection between them with that rule (one compiled run for all rules).
    capacity=1 sends every step with more than one spike through the all-synapse paths."""
    p = _pair_timing()
    P = p["P"]
    pops, projs, steps, who = [], [], [], []
    for r, (name, rule) in enumerate(PAIR_RULES.items()):
        pops += [izj.population(f"pre_{name}", izj.Izhikevich2003(), P, params=RS, v0=-65.0),
                 izj.population(f"post_{name}", izj.Izhikevich2003(), P, params=RS, v0=-65.0)]
        fmt = izj.connectivity.delayed(p["i"], p["i"], p["d"], 0.5, n_pre=P, n_post=P,
                                       max_delay=max(DELAYS), capacity=request.param)
        projs.append(izj.projection(f"pre_{name}", f"post_{name}", fmt, plasticity=rule,
                                    name=name))
        steps += [p["ts"], p["tp"]]
        who += [2 * r * P + p["i"], (2 * r + 1) * P + p["i"]]
    n = 2 * P * len(PAIR_RULES)
    net = izj.network(pops, projs, QUIET)
    ev = izj.inputs.events(np.concatenate(steps), np.concatenate(who), FORCE, n)
    final, rec = izj.simulate(net, jax.random.key(0), T_PAIRS, inputs=ev, record_v=())
    want = np.zeros((T_PAIRS, n), bool)
    want[np.concatenate(steps), np.concatenate(who)] = True
    got = np.asarray(rec.spikes)
    assert np.array_equal(got, want), (
        f"spikes other than the forced ones: extra {np.argwhere(got & ~want)[:5].tolist()}, "
        f"missing {np.argwhere(want & ~got)[:5].tolist()}")
    return {name: final.synapses[k] for k, name in enumerate(PAIR_RULES)}, p


@pytest.mark.parametrize("name", ["STDP", "Izhikevich2006"])
def test_window_of_one_pair(pairs, name):
    """The change of w (STDP) or sd (eligibility rules) of each pair equals window(rule, lag),
    lags -15..15, delays 1 and 3 (no consolidation within the run)."""
    syns, p = pairs
    rule, syn = PAIR_RULES[name], syns[name]
    target = "w" if isinstance(rule, izj.plasticity.STDP) else "sd"
    start = 0.5 if target == "w" else 0.0
    got = np.asarray(syn[target])[p["i"], p["d"] - 1, 0] - start
    want = izj.plasticity.window(rule, p["lag"])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0,
                               err_msg=f"{name}: {target} change vs window(lag) for lags "
                                       f"{p['lag']}, delays {p['d']}")
    if target == "sd":      # the weights did not move (no consolidation was due)
        np.testing.assert_array_equal(np.asarray(syn["w"])[p["i"], p["d"] - 1, 0], 0.5)


def test_window_values_are_the_documented_ones():
    """window() itself: +a_plus decay^lag for lag >= 0, -a_minus decay^(-lag-1) for lag < 0."""
    rule = izj.plasticity.STDP(a_plus=0.01, a_minus=0.0105, tau_plus=20.0, tau_minus=10.0)
    w = izj.plasticity.window(rule, LAGS)
    for lag, value in zip(LAGS, w):
        want = (0.01 * np.exp(-1 / 20.0) ** lag if lag >= 0
                else -0.0105 * np.exp(-1 / 10.0) ** (-lag - 1))
        assert value == pytest.approx(want, rel=1e-14), lag
    assert izj.plasticity.window(izj.plasticity.Izhikevich2006(), [0, -1, 2]) == \
        pytest.approx([0.1, -0.12, 0.1 * 0.95 ** 2], rel=1e-15)


def test_dopamine_window_with_the_10ms_weight_updates(pairs):
    """Dopamine2007 with its 10 ms period and no reward: a change of sd made at the start of step
    s decays by 0.99 at each update applied after it (at the starts of steps 10j > s, and after
    the run's last step when the run ends on a multiple of 10), and each update first moves w by
    (0.002 + DA) sd with DA = 0."""
    syns, p = pairs
    rule, syn = PAIR_RULES["Dopamine2007"], syns["Dopamine2007"]
    dw = izj.plasticity.window(rule, p["lag"])
    ta = p["ts"] + p["d"]
    # LTP of a post spike at t_p is applied at the start of step t_p + 1, LTD at the arrival
    s = np.where(p["lag"] >= 0, p["tp"] + 1, ta)
    k = T_PAIRS // 10 - s // 10              # updates at the starts of steps 10j in (s, T]
    sd = np.asarray(syn["sd"])[p["i"], p["d"] - 1, 0]
    np.testing.assert_allclose(sd, dw * 0.99 ** k, rtol=1e-12, atol=0,
                               err_msg="sd after the 10 ms updates: window * 0.99^updates")
    w = np.asarray(syn["w"])[p["i"], p["d"] - 1, 0]
    moved = np.array([0.002 * x * sum(0.99 ** j for j in range(kk)) for x, kk in zip(dw, k)])
    np.testing.assert_allclose(w - 0.5, moved, rtol=1e-9, atol=1e-16,
                               err_msg="w after the 10 ms updates: 0.5 + 0.002 sum sd")
    assert float(syn["da"]) == 0.0


# --- Izhikevich (2006) consolidation ---------------------------------------------------------


def _quiet_tail_network(rule, n=24, seed=0, last_forced=850):
    """n neurons, 6 synapses each (delays 1..5), weights at both ends of [0, w_max], random
    forced spikes before ``last_forced`` and none after (then nothing changes sd)."""
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n), 6)
    post = np.concatenate([rng.choice(np.delete(np.arange(n), i), 6, replace=False)
                           for i in range(n)])
    delay = rng.integers(1, 6, pre.size)
    w = rng.choice([0.004, 0.05, 3.0, 9.995], pre.size)
    fmt = izj.connectivity.delayed(pre, post, delay, w, n_pre=n, n_post=n, max_delay=5,
                                   capacity=4)
    steps = rng.integers(0, last_forced, 40 * n)
    who = rng.integers(0, n, steps.size)
    ev = izj.inputs.events(steps, who, FORCE, n)
    net = izj.network([_pop(n)], [izj.projection("n", "n", fmt, plasticity=rule)], QUIET)
    return net, ev


def test_izhikevich2006_consolidation_is_sd_decay_then_drift():
    """At the end of each second: sd <- 0.9 sd, then w <- clip(w + (0.01 + sd), 0, w_max), from
    the values the run held before (no spike in the last 150 ms of each second, so sd and w
    stay as they were at step 900 until the consolidation; runs in chunks of 150 steps, so the
    consolidations due after steps 999 and 1999 happen inside a chunk, at the start of the next
    step).

    Exactly for sd (one multiplication); w to a few ulp, as XLA:CPU may fuse ``0.01 + 0.9 sd``
    into one FMA (one rounding instead of two; see tests/test_polychronization.py)."""
    rule = izj.plasticity.Izhikevich2006()
    net, ev = _quiet_tail_network(rule)
    mask = np.asarray(net.projections[0].weights.mask())
    key = jax.random.key(0)
    run = lambda n, state=None: izj.simulate(net, key, n, state=state, inputs=ev, record_v=(),
                                             chunk_size=150)
    before, rec = run(900)
    spikes = np.asarray(rec.spikes)
    assert spikes[:850].sum() > 500 and spikes[850:].sum() == 0, "the end of the second is quiet"
    after, rec = run(150, before)          # steps 900..1049: the consolidation after step 999
    assert not np.asarray(rec.spikes).any()
    sd0, w0 = (np.asarray(before.synapses[0][k]) for k in ("sd", "w"))
    sd1, w1 = (np.asarray(after.synapses[0][k]) for k in ("sd", "w"))
    want_sd = sd0 * 0.9
    want_w = np.where(mask, np.clip(w0 + (0.01 + want_sd), 0.0, 10.0), 0.0)
    assert np.abs(sd0[mask]).max() > 0.05, "the eligibilities hold something to consolidate"
    np.testing.assert_array_equal(sd1, want_sd, err_msg="sd after the consolidation: 0.9 sd")
    np.testing.assert_allclose(w1, want_w, rtol=1e-15, atol=1e-16,
                               err_msg="w after the consolidation: clip(w + 0.01 + 0.9 sd)")
    assert np.all(w1[~mask] == 0)
    # both ends of the clip were reached, and the drift moved the others
    assert np.sum(w1[mask] == 10.0) > 0 and np.sum(w1[mask] == 0.0) > 0
    assert np.sum((w1[mask] > 0) & (w1[mask] < 10) & (w1[mask] != w0[mask])) > 10
    # a second later the same again (one consolidation, not one per chunk)
    mid, _ = run(900, after)
    np.testing.assert_array_equal(np.asarray(mid.synapses[0]["sd"]), sd1,
                                  err_msg="sd moves only at spikes and consolidations")
    np.testing.assert_array_equal(np.asarray(mid.synapses[0]["w"]), w1)
    end, _ = run(150, mid)
    sd2 = sd1 * 0.9
    np.testing.assert_array_equal(np.asarray(end.synapses[0]["sd"]), sd2)
    np.testing.assert_allclose(
        np.asarray(end.synapses[0]["w"]),
        np.where(mask, np.clip(w1 + (0.01 + sd2), 0.0, 10.0), 0.0), rtol=1e-15, atol=1e-16)
    assert not bool(end.synapses[0]["pending"])


# --- dopamine ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dopamine():
    """Two pairs of neurons: ``times`` (0 -> 1) learns with RewardTimes(steps=(100,)) and never
    fires; ``pairing`` (2 -> 3) learns with RewardPairing(n1=0, n2=1) of its own projection.
    One compiled program (chunks of 100 steps) for every run."""
    times = izj.plasticity.Dopamine2007(reward=izj.plasticity.RewardTimes(steps=(100,),
                                                                          amount=0.5))
    pairing = izj.plasticity.Dopamine2007(reward=izj.plasticity.RewardPairing(n1=0, n2=1))
    pops = [izj.population(name, izj.Izhikevich2003(), 2, params=RS, v0=-65.0)
            for name in ("times", "pairing")]
    projs = [izj.projection(name, name, izj.connectivity.delayed([0], [1], [2], 1.0, n_pre=2,
                                                                 n_post=2),
                            plasticity=rule, name=name)
             for name, rule in (("times", times), ("pairing", pairing))]
    net = izj.network(pops, projs, QUIET)
    key = jax.random.key(3)

    def run(n, state=None, steps=(50, 55)):     # pairing's n1 (neuron 2), then n2 (neuron 3)
        ev = izj.inputs.events(list(steps), [2, 3], FORCE, 4)
        return izj.simulate(net, key, n, state=state, inputs=ev, record_v=(), chunk_size=100)

    return net, run


@pytest.mark.slow
def test_dopamine_decays_from_a_reward_at_a_given_step(dopamine):
    """RewardTimes(steps=(100,)), no spikes: at the end of each step DA first decays x 0.995,
    then that step's reward is added, so DA = 0.5 after step 100 and after a run of T steps
    (last step T - 1): DA = 0.5 * 0.995^(T - 1 - 100)."""
    net, run = dopamine
    w0 = np.asarray(net.projections[0].weights.w)
    state, T = None, 0
    for n in (100, 100, 300):
        state, rec = run(n, state)
        T += n
        assert not np.asarray(rec.spikes)[:, :2].any()
        syn = state.synapses[0]
        want = 0.5 * 0.995 ** (T - 1 - 100) if T > 100 else 0.0
        assert float(syn["da"]) == pytest.approx(want, rel=1e-12, abs=0), \
            f"DA after {T} steps: expected 0.5 * 0.995^({T} - 1 - 100) = {want}"
        # no spike, no eligibility, no weight change (the weight updates see sd = 0)
        assert np.all(np.asarray(syn["sd"]) == 0)
        np.testing.assert_array_equal(np.asarray(syn["w"]), w0)
    assert T == 500


def test_reward_pairing_schedules_one_reward_and_dopamine_jumps(dopamine):
    """n1 fires at step 50, n2 at step 55 (within 20 ms): one reward, due 1000..3000 steps after
    n2's spike; at that step DA jumps by 0.5 (then decays x 0.995 per step): before it DA = 0,
    after a run of T > due steps DA = 0.5 * 0.995^(T - 1 - due)."""
    net, run = dopamine
    state, rec = run(200)
    assert np.array_equal(np.argwhere(np.asarray(rec.spikes)), [[50, 2], [55, 3]])
    r = state.synapses[1]["reward"]
    assert int(r["rewards"]) == 1 and int(r["dropped"]) == 0
    pending = np.asarray(r["pending"])
    due = pending[pending >= 0]
    assert due.size == 1, f"one pending reward, got {pending.tolist()}"
    due = int(due[0])
    assert 55 + 1000 <= due <= 55 + 3000, due
    base = 100 * (due // 100)              # the last multiple of 100 <= due
    state, _ = run(base - 200, state)
    assert float(state.synapses[1]["da"]) == 0.0, f"DA before the reward step {due}"
    state, _ = run(100, state)
    T = base + 100
    assert float(state.synapses[1]["da"]) == pytest.approx(0.5 * 0.995 ** (T - 1 - due),
                                                           rel=1e-12, abs=0), \
        f"DA after {T} steps with the reward at step {due}"
    assert np.all(np.asarray(state.synapses[1]["reward"]["pending"]) < 0), "the reward was used"
    assert int(state.synapses[1]["reward"]["rewards"]) == 1
    # a pair out of the window (n2 20 ms after n1) or in the wrong order is not rewarded
    for steps in ((50, 70), (55, 50)):
        s, _ = run(200, steps=steps)
        assert int(s.synapses[1]["reward"]["rewards"]) == 0, steps
    s, _ = run(200, steps=(50, 69))
    assert int(s.synapses[1]["reward"]["rewards"]) == 1, "19 ms is within the window"


# --- resume, freeze, save/load --------------------------------------------------------------

N_EXC, N_INH = 64, 16
RULES = {       # one plastic projection of each rule in one network (state.synapses[k])
    "STDP": izj.plasticity.STDP(a_plus=0.02, a_minus=0.021, w_max=6.0),
    "Dopamine2007": izj.plasticity.Dopamine2007(reward=izj.plasticity.RewardPairing(
        n1=3, n2=5, delay_min=100.0, delay_span=200.0)),
}


def _plastic_network(seed=0):
    """64 excitatory and 16 inhibitory neurons, noisy, with a random thalamic input; plastic
    Delayed projections exc -> exc (STDP, 6 synapses per neuron) and exc -> inh (Dopamine2007,
    3), delays 1..8; fixed dense inh -> all."""
    rng = np.random.default_rng(seed)
    n = N_EXC + N_INH

    def table(m, n_post):
        pre = np.repeat(np.arange(N_EXC), m)
        return izj.connectivity.delayed(pre, rng.integers(0, n_post, pre.size),
                                        rng.integers(1, 9, pre.size),
                                        rng.uniform(0.5, 3.0, pre.size), n_pre=N_EXC,
                                        n_post=n_post, max_delay=8, capacity=4)

    inh_w = -rng.uniform(0.0, 2.0, (n, N_INH)) * (rng.random((n, N_INH)) < 0.5)
    pops = [izj.population("exc", izj.Izhikevich2003(), N_EXC, params=RS, v0=-65.0,
                           noise_amp=3.0),
            izj.population("inh", izj.Izhikevich2003(), N_INH, preset="FS", v0=-65.0,
                           noise_amp=2.0)]
    projs = [izj.projection("exc", "exc", table(6, N_EXC), plasticity=RULES["STDP"],
                            name="STDP"),
             izj.projection("exc", "inh", table(3, N_INH), plasticity=RULES["Dopamine2007"],
                            name="Dopamine2007"),
             izj.projection("inh", ("exc", "inh"), inh_w, name="inh")]
    net = izj.network(pops, projs, izj.Config(integrator="izhikevich", noise="normal"))
    return net, izj.inputs.RandomNeuron(n, 20.0)


def _run(net, key, n, state=None, inputs=None):
    """simulate in chunks of 100 steps (bitwise the same as one call; one program to compile
    for the tests below)."""
    return izj.simulate(net, key, n, state=state, inputs=inputs, record_v=(), chunk_size=100)


@pytest.fixture(scope="module")
def resumed():
    net, stim = _plastic_network()
    key = jax.random.key(11)
    one, rec = izj.simulate(net, key, 1000, inputs=stim, record_v=())      # one scan
    half, r1 = _run(net, key, 300, inputs=stim)
    two, r2 = _run(net, key, 700, half, stim)
    return dict(net=net, stim=stim, key=key, one=one, two=two, rec=rec, r1=r1, r2=r2)


@pytest.mark.slow
def test_resume_is_bitwise(resumed):
    """300 + 700 steps (in chunks of 100) == 1000 steps in one scan, every leaf of the state
    (synapses included), with STDP and Dopamine2007 (weight updates every 10 ms, inside the
    scan in one run and at the ends of the chunks in the other; rewards paid within the run)."""
    _leaves_equal(resumed["one"], resumed["two"], "1000 steps vs 300 + 700 steps")
    spikes = np.asarray(resumed["rec"].spikes)
    np.testing.assert_array_equal(
        spikes, np.concatenate([np.asarray(resumed["r1"].spikes),
                                np.asarray(resumed["r2"].spikes)]))
    assert spikes[:, :N_EXC].sum() > 300, "the network is active"
    net, syn = resumed["net"], resumed["one"].synapses
    for k, name in enumerate(RULES):
        assert not np.array_equal(np.asarray(syn[k]["w"]),
                                  np.asarray(net.projections[k].weights.w)), f"{name} learned"
    assert int(syn[1]["reward"]["rewards"]) > 0 and float(syn[1]["da"]) > 0, "rewards paid"


def test_the_next_steps_pre_trace_row_is_written_before_it_is_read(resumed):
    """The row ``t mod (D + 1)`` of the pre-trace ring is written at the start of step ``t``
    (from step ``t - 1``'s row and spikes) before any read: whatever it holds in the state
    (123 here; the trace itself in states saved before 2026-12-04, which wrote it at the end of
    step ``t - 1``), the next 100 steps are the same bit for bit."""
    import dataclasses
    import jax.numpy as jnp
    net, stim, key, state = resumed["net"], resumed["stim"], resumed["key"], resumed["two"]
    t = int(state.t)
    synapses = []
    for syn in state.synapses:
        if syn is not None and "x_pre" in syn:
            ring = np.array(syn["x_pre"])
            ring[t % ring.shape[0]] = 123.0          # a trace no rule makes
            syn = {**syn, "x_pre": jnp.asarray(ring)}
        synapses.append(syn)
    poisoned = dataclasses.replace(state, synapses=tuple(synapses))
    a, ra = izj.simulate(net, key, 100, state=state, inputs=stim, record_v=())
    b, rb = izj.simulate(net, key, 100, state=poisoned, inputs=stim, record_v=())
    np.testing.assert_array_equal(np.asarray(ra.spikes), np.asarray(rb.spikes))
    _leaves_equal(a, b, "from the state vs the state with the next row poisoned")
    assert np.asarray(ra.spikes).sum() > 0


def test_freeze_keeps_the_learned_weights_and_runs(resumed):
    net, state, key, stim = resumed["net"], resumed["one"], resumed["key"], resumed["stim"]
    frozen, fstate = izj.freeze(net, state)
    assert frozen.projection("inh").weights is net.projection("inh").weights
    assert fstate.synapses[2] is None
    _leaves_equal(fstate.neurons, state.neurons, "neurons of the frozen state")
    for k, name in enumerate(RULES):
        proj = frozen.projection(name)
        assert proj.plasticity is None
        np.testing.assert_array_equal(np.asarray(proj.weights.w),
                                      np.asarray(state.synapses[k]["w"]))
        np.testing.assert_array_equal(np.asarray(proj.weights.post),
                                      np.asarray(net.projections[k].weights.post))
        assert set(fstate.synapses[k]) == {"fired", "over", "spikes"}, name
        for f in ("fired", "over", "spikes"):
            np.testing.assert_array_equal(np.asarray(fstate.synapses[k][f]),
                                          np.asarray(state.synapses[k][f]))
    # the frozen network is an ordinary Delayed network: the same as one built from its synapses
    rebuilt = []
    for p in frozen.projections:
        if isinstance(p.weights, izj.connectivity.Delayed):
            pre, post, delay, w = p.weights.synapses()
            p = p.replace(weights=izj.connectivity.delayed(
                pre, post, delay, w, n_pre=p.weights.n_pre, n_post=p.weights.n_post,
                max_delay=8, capacity=4))
        rebuilt.append(p)
    other = frozen.replace(projections=tuple(rebuilt))
    fa, ra = _run(frozen, key, 200, fstate, stim)
    fb, rb = _run(other, key, 200, fstate, stim)
    np.testing.assert_array_equal(np.asarray(ra.spikes), np.asarray(rb.spikes))
    _leaves_equal(fa, fb, "frozen network vs rebuilt from its synapses")
    assert np.asarray(ra.spikes).sum() > 50
    with pytest.raises(ValueError, match="state.synapses"):
        izj.freeze(net, state.replace(synapses=state.synapses[:1]))


def test_gradient_into_learned_weights_warns_and_the_frozen_network_has_one(resumed):
    """The learned weights carry no gradient: differentiating with respect to a plastic
    projection's weights gives zero, and simulate says so (a warning naming the projection);
    with respect to a neuron parameter it stays quiet. Frozen (izj.freeze), the same weights
    have a gradient."""
    import warnings
    import jax.numpy as jnp
    net, stim, key = resumed["net"], resumed["stim"], resumed["key"]
    p = net.projection("STDP")

    def spikes_with(net, w, k):
        q = net.projections[k].replace(
            weights=net.projections[k].weights.replace(w=w))
        other = net.replace(projections=net.projections[:k] + (q,) + net.projections[k + 1:])
        _, rec = izj.simulate(other, key, 100, inputs=stim, record_v=(), record_spikes=False)
        return jnp.sum(rec.counts)

    with pytest.warns(UserWarning, match="projection 'STDP' learns its weights .*zero"):
        g = jax.grad(spikes_with, argnums=1)(net, p.weights.w, 0)
    assert float(jnp.max(jnp.abs(g))) == 0.0

    def spikes_a(scale):
        pops = tuple(q.replace(params={**q.params, "a": q.params["a"] * scale})
                     for q in net.populations)
        _, rec = izj.simulate(net.replace(populations=pops), key, 100, inputs=stim,
                              record_v=(), record_spikes=False)
        return jnp.sum(rec.counts)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(jax.grad(spikes_a)(1.0)) != 0.0

    frozen, _ = izj.freeze(net, izj.init_state(net))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = jax.grad(spikes_with, argnums=1)(frozen, frozen.projection("STDP").weights.w, 0)
    assert float(jnp.max(jnp.abs(g))) > 0.0


def test_save_load_restores_rule_and_state(resumed, tmp_path):
    net, state, key = resumed["net"], resumed["one"], resumed["key"]
    path = izj.save(tmp_path / "run", params=net, state=state, key=key)
    ck = izj.load(path)
    for k, (name, rule) in enumerate(RULES.items()):
        got = ck.params.projections[k].plasticity
        assert got == rule and type(got) is type(rule), name
        assert got.reward == rule.reward if name == "Dopamine2007" else True
    assert ck.params.projection("inh").plasticity is None
    assert jax.tree_util.tree_structure(state.synapses) == \
        jax.tree_util.tree_structure(ck.state.synapses)
    _leaves_equal(state.synapses, ck.state.synapses, "state.synapses after save/load")
    for a, b in zip(jax.tree_util.tree_leaves(state.synapses),
                    jax.tree_util.tree_leaves(ck.state.synapses)):
        assert np.asarray(a).dtype == np.asarray(b).dtype
    _leaves_equal(state, ck.state, "state after save/load")
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(ck.key)),
                                  np.asarray(jax.random.key_data(key)))
    # the loaded run continues exactly as the original
    fa, ra = _run(net, key, 100, state, resumed["stim"])
    fb, rb = _run(ck.params, ck.key, 100, ck.state, resumed["stim"])
    np.testing.assert_array_equal(np.asarray(ra.spikes), np.asarray(rb.spikes))
    _leaves_equal(fa, fb, "continued after save/load")
