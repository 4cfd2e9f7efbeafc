"""Per-synapse axonal delays (:class:`izhijax.connectivity.Delayed`) against analytic results and
against the dense formulation: when a spike arrives, the same network written both ways, the
event-driven path against the all-synapse path, the memory it takes, the errors it raises, and
its gradients.

Conventions (:mod:`izhijax._src.delays`): a spike is labelled by the step whose update crossed the
threshold; a spike of step ``t`` through a synapse of delay ``d`` enters the update of step
``t + d`` as current, that step only.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj

RS = dict(a=0.02, b=0.2, c=-65.0, d=8.0)
QUIET = izj.Config(integrator="izhikevich", noise="none")
FORCE = 200.0           # mV/ms: a neuron at rest fires in the step it gets this


def _pop(n, name="n", **kw):
    return izj.population(name, izj.Izhikevich2003(), n, params=kw.pop("params", RS),
                          v0=kw.pop("v0", -65.0), **kw)


def _leaves_equal(a, b, what):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb), what
    for i, (x, y) in enumerate(zip(la, lb)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f"{what}: leaf {i}")


def _half_steps(v, u, i):
    """The ``izhikevich`` integrator's v: two half steps of 0.5 ms with the current i."""
    for _ in range(2):
        v = v + 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + i)
    return v


# --- delivery timing ---------------------------------------------------------------------------


def test_spike_arrives_in_update_t_plus_d():
    """Neuron 0 fires at step 10; neurons 1..5 get a synapse of delay 1..5 from it, neuron 6 two
    (delays 2 and 5). Against the same run with zero weights, target d's v first differs in the
    update of step 10 + d, by exactly the two half steps with the weight as current, and the
    step after evolves with no current (the pulse lasts one step)."""
    n, t_s, w = 7, 10, 3.0
    pre = [0, 0, 0, 0, 0, 0, 0]
    post = [1, 2, 3, 4, 5, 6, 6]
    delay = [1, 2, 3, 4, 5, 2, 5]
    inputs = np.zeros((30, n))
    inputs[t_s, 0] = FORCE
    record = tuple(range(n))
    runs = {}
    for weight in (w, 0.0):
        fmt = izj.connectivity.delayed(pre, post, delay, weight, n_pre=n, n_post=n)
        assert fmt.max_delay == 5 and fmt.n_synapses == 7
        net = izj.network([_pop(n)], [izj.projection("n", "n", fmt)], QUIET)
        _, rec = izj.simulate(net, jax.random.key(0), 30, inputs=inputs, record_v=record,
                              record_u=record)
        spikes = np.asarray(rec.spikes)
        assert np.array_equal(np.argwhere(spikes), [[t_s, 0]]), "only the forced spike"
        runs[weight] = (np.asarray(rec.v), np.asarray(rec.u))
    (v, u), (v0, u0) = runs[w], runs[0.0]
    for target, d in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 2)):
        diff = np.flatnonzero(v[:, target] != v0[:, target])
        assert diff.size and diff[0] == t_s + d, (
            f"target {target} (delay {d}): v first differs at step "
            f"{diff[0] if diff.size else None}, expected {t_s + d}")
        ta = t_s + d
        want = _half_steps(v[ta - 1, target], u[ta - 1, target], w)
        assert v[ta, target] == pytest.approx(want, rel=1e-13, abs=0), target
        want_next = _half_steps(v[ta, target], u[ta, target], 0.0)
        if target != 6:
            assert v[ta + 1, target] == pytest.approx(want_next, rel=1e-13, abs=0), \
                f"target {target}: the pulse of step {ta} lasts that step only"
    # neuron 6: the second synapse (delay 5) delivers again in step 15
    want = _half_steps(v[t_s + 4, 6], u[t_s + 4, 6], w)
    assert v[t_s + 5, 6] == pytest.approx(want, rel=1e-13, abs=0)
    want = _half_steps(v[t_s + 3, 6], u[t_s + 3, 6], 0.0)
    assert v[t_s + 4, 6] == pytest.approx(want, rel=1e-13, abs=0)


# --- Delayed with one delay == dense weights with that delay ----------------------------------


def _noisy_2003_network(n_exc, n_inh, seed, p_connect=0.3, exc_max=2, inh_max=4):
    """The 2003 network's neurons (heterogeneous a..d, noise 5 / 2), sparse weights that are
    multiples of 0.5 (so sums of them are exact in any order)."""
    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    re, ri = rng.random(n_exc), rng.random(n_inh)
    params = dict(a=np.r_[0.02 * np.ones(n_exc), 0.02 + 0.08 * ri],
                  b=np.r_[0.2 * np.ones(n_exc), 0.25 - 0.05 * ri],
                  c=np.r_[-65 + 15 * re ** 2, -65 * np.ones(n_inh)],
                  d=np.r_[8 - 6 * re ** 2, 2 * np.ones(n_inh)])
    W = np.c_[0.5 * rng.integers(0, exc_max + 1, (n, n_exc)),
              -0.5 * rng.integers(0, inh_max + 1, (n, n_inh))]
    W[rng.random((n, n)) > p_connect] = 0.0
    pop = _pop(n, params=params, noise_amp=np.r_[5.0 * np.ones(n_exc), 2.0 * np.ones(n_inh)])
    return pop, W


def test_delayed_with_one_delay_equals_dense_projection_delay():
    """300 noisy neurons, 1000 steps: Delayed weights all of delay 3 give the spikes of the dense
    weights with Projection.delay = 3 (same key). The current adds the same weights in another
    order (onto the noise one by one, or summed first), so v agrees to rounding."""
    pop, W = _noisy_2003_network(240, 60, seed=0)
    n = W.shape[0]
    cfg = izj.Config(integrator="izhikevich", noise="normal")
    fmt = izj.connectivity.to_delayed(W, 3)
    assert fmt.max_delay == 3 and fmt.n_synapses == np.count_nonzero(W)
    np.testing.assert_array_equal(fmt.to_dense(), W)
    dense = izj.network([pop], [izj.projection("n", "n", W, delay=3)], cfg)
    delayed = izj.network([pop], [izj.projection("n", "n", fmt)], cfg)
    key = jax.random.key(1)
    every = tuple(range(n))
    _, ra = izj.simulate(dense, key, 1000, record_v=every)
    _, rb = izj.simulate(delayed, key, 1000, record_v=every)
    sa, sb = np.asarray(ra.spikes), np.asarray(rb.spikes)
    assert sa.sum() > 1000, "the network is active"
    bad = np.argwhere(sa != sb)
    assert bad.size == 0, f"spikes differ first at (step, neuron) {bad[:3].tolist()}"
    np.testing.assert_allclose(np.asarray(rb.v), np.asarray(ra.v), rtol=1e-9, atol=1e-9)


# --- event path == all-synapse path -----------------------------------------------------------


def _two_projection_network(capacity, seed=0):
    """160 excitatory neurons with Delayed synapses (delays 1..5, 20 per neuron) learning with
    Izhikevich2006 (a consolidation every 200 ms) and 40 inhibitory ones with fixed Delayed
    synapses (delay 1, 20 per neuron), noisy, with a random thalamic input."""
    rng = np.random.default_rng(seed)
    n_exc, n_inh = 160, 40
    n = n_exc + n_inh

    def table(n_pre, m, weights, max_delay):
        pre = np.repeat(np.arange(n_pre), m)
        post = np.concatenate([rng.choice(n, m, replace=False) for _ in range(n_pre)])
        return izj.connectivity.delayed(pre, post, rng.integers(1, max_delay + 1, pre.size),
                                        weights(pre.size), n_pre=n_pre, n_post=n,
                                        max_delay=max_delay, capacity=capacity)

    exc = table(n_exc, 20, lambda k: rng.uniform(1.0, 6.0, k), 5)
    inh = table(n_inh, 20, lambda k: -rng.uniform(1.0, 5.0, k), 1)
    pops = [_pop(n_exc, "exc", noise_amp=2.0),
            _pop(n_inh, "inh", params=dict(a=0.1, b=0.2, c=-65.0, d=2.0), noise_amp=2.0)]
    projs = [izj.projection("exc", ("exc", "inh"), exc,
                            plasticity=izj.plasticity.Izhikevich2006(period=200.0), name="exc"),
             izj.projection("inh", ("exc", "inh"), inh, name="inh")]
    net = izj.network(pops, projs, izj.Config(integrator="izhikevich", noise="normal"))
    return net, izj.inputs.RandomNeuron(n, 20.0, count=2)


@pytest.mark.slow
def test_event_path_equals_all_synapse_path_bitwise():
    """capacity=1 (every step with more than one spike of a source takes the all-synapse path,
    for delivery, potentiation and depression) and capacity=n_pre (never): the same spikes and
    the same state bit for bit over 1000 steps, for the plastic and the fixed projection."""
    key = jax.random.key(2)
    out = {}
    for name, capacity in (("all-synapse", 1), ("event", 10 ** 6)):
        net, stim = _two_projection_network(capacity)
        assert net.projections[0].weights.capacity in (1, 160)
        out[name] = izj.simulate(net, key, 1000, inputs=stim, record_v=())
    (fa, ra), (fb, rb) = out["all-synapse"], out["event"]
    spikes = np.asarray(ra.spikes)
    over = spikes[:, :160].sum(1) > 1                  # steps the ring of capacity 1 overflows
    slow = np.convolve(over, np.ones(5), "full")[:1000] > 0   # ... in one of the last 5 steps
    assert over.mean() > 0.1 and slow.mean() > 0.5, \
        f"capacity=1: {over.mean():.0%} of the steps overflow, {slow.mean():.0%} deliver slowly"
    bad = np.argwhere(spikes != np.asarray(rb.spikes))
    assert bad.size == 0, f"spikes differ first at (step, neuron) {bad[:3].tolist()}"
    for k, name in enumerate(("exc", "inh")):
        sa, sb = fa.synapses[k], fb.synapses[k]
        for field in sorted(set(sa) - {"fired", "over"}):
            np.testing.assert_array_equal(
                np.asarray(sa[field]), np.asarray(sb[field]),
                err_msg=f"projection {name}: state.synapses[{k}][{field!r}], capacity=1 vs "
                        f"capacity=n_pre")
    _leaves_equal(fa.neurons, fb.neurons, "neurons")
    w0 = np.asarray(out["event"][0].synapses[0]["w"])
    assert not np.array_equal(w0, np.asarray(_two_projection_network(1)[0].projections[0]
                                             .weights.w)), "the weights were learned"


def test_a_vmapped_batch_of_delayed_plastic_networks_equals_each_run():
    """Under ``jax.vmap`` the delivery runs the all-synapse path for the whole batch (not every
    rung of the event path's switch): three keys in one batch give each key's own run, spikes
    and final state bit for bit."""
    from izhijax._src import engine
    net, stim = _two_projection_network(10 ** 6)
    keys = jax.random.split(jax.random.key(4), 3)
    e = jnp.zeros(0, jnp.int32)

    def one(k):
        return engine.run(net, k, izj.init_state(net), stim, e, e, n_steps=150)

    fb, rb = jax.jit(jax.vmap(one))(keys)
    assert np.asarray(rb.spikes).sum() > 50
    for i in range(3):
        fa, ra = jax.jit(one)(keys[i])
        np.testing.assert_array_equal(np.asarray(ra.spikes), np.asarray(rb.spikes)[i],
                                      err_msg=f"key {i}: spikes")
        _leaves_equal(fa, jax.tree_util.tree_map(lambda x: x[i], fb), f"key {i}: final state")


# --- memory -------------------------------------------------------------------------------------


@pytest.mark.parametrize("D", [20, 40])
def test_table_and_ring_do_not_grow_like_d_n_n(D):
    """n = 1000, 100 synapses per neuron: the table holds n * 100 entries when each neuron's
    synapses are spread evenly over the D delays (spnet's wiring), at most a few times that
    with random delays (padding to the fullest (neuron, delay)); the ring is (D, n)."""
    n, m = 1000, 100
    rng = np.random.default_rng(D)
    pre = np.repeat(np.arange(n), m)
    post = rng.integers(0, n, pre.size)
    even = np.tile(np.arange(m) % D + 1, n)                       # m / D per delay
    fmt = izj.connectivity.delayed(pre, post, even, 1.0, n_pre=n, n_post=n, max_delay=D)
    L = -(-m // D)
    assert fmt.post.shape == (n, D, L)                  # 5 (D = 20) or 3 (D = 40) per delay
    assert fmt.n_synapses == n * m and fmt.w.size == n * D * L <= 1.2 * n * m
    rand = izj.connectivity.delayed(pre, post, rng.integers(1, D + 1, pre.size), 1.0, n_pre=n,
                                    n_post=n, max_delay=D)
    assert rand.n_synapses == n * m
    assert rand.post.size <= 5 * n * m, f"table of {rand.post.size} entries for {n * m} synapses"
    assert rand.post.size < D * n * n / 20
    for weights in (fmt, rand):
        assert weights.incoming.shape[0] == n
        assert weights.incoming.size <= 3 * n * m       # synapses onto each neuron, padded
        net = izj.network([_pop(n)], [izj.projection(
            "n", "n", weights, plasticity=izj.plasticity.Izhikevich2006())], QUIET)
        syn = izj.init_state(net).synapses[0]
        assert syn["spikes"].shape == (D, n)
        assert syn["fired"].shape == (D, weights.capacity) and syn["over"].shape == (D,)
        assert syn["x_pre"].shape == (D + 1, n)
        assert syn["w"].shape == syn["sd"].shape == weights.post.shape
        total = sum(np.asarray(x).size for x in jax.tree_util.tree_leaves(syn))
        assert total < 4 * weights.post.size + 4 * D * n, total


# --- errors ---------------------------------------------------------------------------------


def test_bad_delays_are_refused():
    pre, post, w = [0, 1], [1, 0], [1.0, 1.0]
    mk = lambda delay, **kw: izj.connectivity.delayed(pre, post, delay, w, n_pre=2, n_post=2,
                                                      **kw)
    with pytest.raises(ValueError, match="delay"):
        mk([0, 1])
    with pytest.raises(ValueError, match="delay"):
        mk([-2, 1])
    with pytest.raises(ValueError, match="max_delay"):
        mk([3, 1], max_delay=2)
    with pytest.raises(TypeError, match="delay"):
        mk(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="delay"):
        mk(np.array([True, True]))
    with pytest.raises(ValueError, match="delay"):       # another length than pre/post
        mk([1, 2, 3])
    with pytest.raises(ValueError, match="weights"):     # weights of another length
        izj.connectivity.delayed(pre, post, [1, 2], [1.0, 1.0, 1.0], n_pre=2, n_post=2)
    with pytest.raises(ValueError, match="max_delay"):
        mk([1, 1], max_delay=0)
    # to_delayed: a delay per synapse must have the shape of the weights
    W = np.array([[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(TypeError, match="delay"):
        izj.connectivity.to_delayed(W, 1.5)
    with pytest.raises(TypeError, match="delay"):
        izj.connectivity.to_delayed(W, np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="delay"):
        izj.connectivity.to_delayed(W, 0)
    np.testing.assert_array_equal(
        izj.connectivity.to_delayed(W, np.array([[9, 2], [3, 9]])).synapses()[2], [3, 2])


def test_to_delayed_refuses_a_delay_array_of_another_shape():
    """A delay per synapse of another shape than the weights: an error that names the delay
    (not NumPy's broadcasting message)."""
    W = np.array([[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError) as err:
        izj.connectivity.to_delayed(W, np.ones((3, 3), int))
    assert "delay" in str(err.value), (
        f"to_delayed(W of shape (2, 2), delay of shape (3, 3)) should name the delay and the "
        f"shapes; got {type(err.value).__name__}: {err.value}")


def test_bad_projections_and_plasticity_are_refused():
    fmt = izj.connectivity.delayed([0], [1], [2], 1.0, n_pre=2, n_post=2)
    with pytest.raises(ValueError, match="delay"):
        izj.projection("n", "n", fmt, delay=2)
    stdp = izj.plasticity.STDP(w_max=1.0)
    neg = izj.connectivity.delayed([0, 1], [1, 0], [1, 1], [0.5, -0.5], n_pre=2, n_post=2)
    with pytest.raises(ValueError, match="inhibitory"):
        izj.network([_pop(2)], [izj.projection("n", "n", neg, plasticity=stdp)], QUIET)
    big = izj.connectivity.delayed([0], [1], [1], 2.0, n_pre=2, n_post=2)
    with pytest.raises(ValueError, match="w_max"):
        izj.network([_pop(2)], [izj.projection("n", "n", big, plasticity=stdp)], QUIET)
    with pytest.raises(ValueError, match="Delayed"):
        izj.network([_pop(2)], [izj.projection("n", "n", np.array([[0.0, 0.5], [0.0, 0.0]]),
                                               plasticity=stdp)], QUIET)
    with pytest.raises(ValueError, match="w_max"):
        izj.network([_pop(2)], [izj.projection(
            "n", "n", fmt, plasticity=izj.plasticity.STDP(w_min=1.0, w_max=0.5))], QUIET)
    with pytest.raises(ValueError, match="period"):
        net = izj.network([_pop(2)], [izj.projection(
            "n", "n", fmt, plasticity=izj.plasticity.Izhikevich2006(period=2.5))], QUIET)
        izj.simulate(net, jax.random.key(0), 5)
    # the delay table's shape must fit the projection's populations
    with pytest.raises(ValueError, match="weights must have shape"):
        izj.network([_pop(3)], [izj.projection("n", "n", fmt)], QUIET)


def test_bad_inputs_are_refused():
    net = izj.network([_pop(3)], [izj.projection(
        "n", "n", izj.connectivity.delayed([0], [1], [2], 1.0, n_pre=3, n_post=3))], QUIET)
    with pytest.raises(ValueError, match="inputs"):
        izj.simulate(net, jax.random.key(0), 5, inputs=lambda t, key: jnp.zeros(4))
    with pytest.raises(ValueError, match="inputs"):
        izj.simulate(net, jax.random.key(0), 5, inputs=np.zeros((5, 4)))
    with pytest.raises(ValueError, match="neurons"):
        izj.inputs.events([1, 2], [0, 3], 1.0, 3)
    with pytest.raises(ValueError, match="neurons"):
        izj.inputs.events([1, 2], [0, -1], 1.0, 3)
    with pytest.raises(ValueError, match="steps"):
        izj.inputs.events([-1, 2], [0, 1], 1.0, 3)
    with pytest.raises(ValueError, match="inputs"):
        izj.simulate(net, jax.random.key(0), 5, inputs=izj.inputs.events([1], [0], 1.0, 4))


# --- gradients --------------------------------------------------------------------------------


@pytest.mark.slow
def test_gradient_with_respect_to_delayed_weights_equals_dense():
    """d(mean spike count of 300 steps) / dw through Delayed weights of delay 1 equals the
    gradient with respect to the same dense weights (Projection.delay = 1), synapse by synapse;
    the padding of the table gets none."""
    pop, W = _noisy_2003_network(48, 12, seed=3, exc_max=6)
    np.fill_diagonal(W, 0.0)
    n = W.shape[0]
    cfg = izj.Config(integrator="izhikevich", noise="normal")
    fmt = izj.connectivity.to_delayed(W, 1)
    dense = izj.network([pop], [izj.projection("n", "n", W)], cfg)
    delayed = izj.network([pop], [izj.projection("n", "n", fmt)], cfg)
    key = jax.random.key(4)

    def loss(net, weights):
        _, rec = izj.simulate(net.replace(weights=weights), key, 300, record_v=(),
                              record_spikes=False)
        return jnp.mean(rec.counts)

    vd, gd = jax.value_and_grad(lambda w: loss(delayed, fmt.replace(w=w)))(fmt.w)
    vn, gn = jax.value_and_grad(lambda w: loss(dense, w))(jnp.asarray(W))
    assert float(vd) == float(vn) > 0.5, "the same spikes, and some"
    gd, gn = np.asarray(gd), np.asarray(gn)
    assert np.all(np.isfinite(gd))
    post = np.asarray(fmt.post)
    real = post < n
    i, d, l = np.nonzero(real)
    got, want = gd[i, d, l], gn[post[i, d, l], i]
    assert np.abs(want).max() > 1e-3, "a gradient to compare"
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max(),
                               err_msg="d loss / d w: Delayed (delay 1) vs dense")
    assert np.all(gd[~real] == 0), "the table's padding is not a synapse"
