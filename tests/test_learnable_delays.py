"""Learnable real-valued delays (:class:`izhijax.LearnableDelayed`): the interpolated delivery
against its analytic value, bit-for-bit equality with :class:`izhijax.connectivity.Delayed` at
integer delays, resumability, gradients with respect to the delays and the weights against
central finite differences, and the errors bad input raises.

Convention (:mod:`izhijax._src.learnable_delays`): a spike of step ``t`` through a synapse of
real delay ``d`` (``k = min(floor(d), D - 1)``, ``f = d - k``) enters the update of step
``t + k`` with ``w (1 - f)`` and that of step ``t + k + 1`` with ``w f``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src.learnable_delays import interpolated_arrival

from test_delays import FORCE, QUIET, RS, _half_steps, _leaves_equal, _pop  # noqa: E402,F401


# --- the delivery --------------------------------------------------------------------------------


def test_interpolated_pulse_enters_steps_t_plus_k_and_k_plus_1():
    """Neuron 0 fires at step 10 (forced); neurons 1..5 get one synapse each with delays 1.0,
    2.25, 3.5, 4.875 and 6.0 (= D, the top of the range: k = 5, f = 1). Against the run with
    zero weights, target j's v first differs in the update of step 10 + k by exactly the two
    half steps with w (1 - f) as current, and the next update has w f (rel 1e-13)."""
    n, t_s, w, D = 6, 10, 3.0, 6
    delay = np.array([1.0, 2.25, 3.5, 4.875, 6.0])
    inputs = np.zeros((30, n))
    inputs[t_s, 0] = FORCE
    runs = {}
    for weight in (w, 0.0):
        fmt = izj.learnable_delayed(np.zeros(5, int), np.arange(1, 6), delay, weight, n_pre=n,
                                    n_post=n, max_delay=D)
        net = izj.network([_pop(n)], [izj.projection("n", "n", fmt)], QUIET)
        _, rec = izj.simulate(net, jax.random.key(0), 30, inputs=inputs,
                              record_v=tuple(range(n)), record_u=tuple(range(n)))
        assert np.array_equal(np.argwhere(np.asarray(rec.spikes)), [[t_s, 0]])
        runs[weight] = (np.asarray(rec.v), np.asarray(rec.u))
    (v, u), (v0, _) = runs[w], runs[0.0]
    for target, d in zip(range(1, 6), delay):
        k = min(int(np.floor(d)), D - 1)
        f = d - k
        first = t_s + k if f < 1 else t_s + k + 1
        diff = np.flatnonzero(v[:, target] != v0[:, target])
        assert diff[0] == first, f"delay {d}: v first differs at step {diff[0]}, not {first}"
        for step, current in ((t_s + k, w * (1 - f)), (t_s + k + 1, w * f)):
            want = _half_steps(v[step - 1, target], u[step - 1, target], current)
            assert v[step, target] == pytest.approx(want, rel=1e-13, abs=0), (d, step)
        step = t_s + k + 2       # the pulse is over
        want = _half_steps(v[step - 1, target], u[step - 1, target], 0.0)
        assert v[step, target] == pytest.approx(want, rel=1e-13, abs=0), (d, "after")


def test_out_of_range_traced_delays_act_as_the_nearest_end():
    """Inside a traced program a delay below 1 or above D delivers as 1 or D (no gradient)."""
    D, n_pre = 4, 1
    post = jnp.array([[[0], [1], [1], [1]]], jnp.int32)       # one synapse, slot 1
    w = jnp.array([[[2.0], [0.0], [0.0], [0.0]]])
    ring = jnp.arange(1.0, D + 1)[:, None] / 10 * jnp.ones((1, n_pre))   # distinct rows
    slots = jnp.arange(D, dtype=jnp.int32)
    cur = jnp.zeros(1)

    @jax.jit
    def deliver(d):
        return interpolated_arrival(post, w, jnp.full((1, D, 1), d), ring, slots, cur)[0]
    assert float(deliver(0.3)) == float(deliver(1.0)) == 2.0 * 0.1
    assert float(deliver(D + 3.0)) == float(deliver(float(D))) == 2.0 * 0.4
    assert float(deliver(2.5)) == pytest.approx(2.0 * (0.5 * 0.2 + 0.5 * 0.3), rel=1e-15)
    assert float(jax.grad(deliver)(0.3)) == 0.0 and float(jax.grad(deliver)(D + 3.0)) == 0.0
    assert float(jax.grad(deliver)(2.5)) == pytest.approx(2.0 * (0.3 - 0.2), rel=1e-14)


# --- integer delays == Delayed; resumable ----------------------------------------------------


def _noisy_network(seed=0, n_exc=80, n_inh=20, m=15, max_delay=8):
    """The 2003 network's neurons (heterogeneous, noise 5 / 2) with m synapses per neuron,
    integer delays 1..7 and weights with all their bits (no exact sums in another order)."""
    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    re, ri = rng.random(n_exc), rng.random(n_inh)
    params = dict(a=np.r_[0.02 * np.ones(n_exc), 0.02 + 0.08 * ri],
                  b=np.r_[0.2 * np.ones(n_exc), 0.25 - 0.05 * ri],
                  c=np.r_[-65 + 15 * re ** 2, -65 * np.ones(n_inh)],
                  d=np.r_[8 - 6 * re ** 2, 2 * np.ones(n_inh)])
    pop = _pop(n, params=params, noise_amp=np.r_[5.0 * np.ones(n_exc), 2.0 * np.ones(n_inh)])
    pre = np.repeat(np.arange(n), m)
    post = np.concatenate([rng.choice(n, m, replace=False) for _ in range(n)])
    delay = rng.integers(1, max_delay, pre.size)
    w = np.where(pre < n_exc, rng.uniform(0, 4, pre.size), -rng.uniform(0, 6, pre.size))
    return pop, pre, post, delay, w, rng


def test_integer_delays_equal_delayed_bit_for_bit():
    """100 noisy neurons, 1500 synapses of delays 1..7, 600 steps: LearnableDelayed weights whose
    delays are integers (to_learnable of the Delayed table, and learnable_delayed of the same
    lists as floats) give the spikes, v and final state of the Delayed weights bit for bit; the
    table is the Delayed table plus one delay per entry (padded as Delayed's, no D x n x n)."""
    pop, pre, post, delay, w, _ = _noisy_network()
    n = pop.size
    fmt = izj.connectivity.delayed(pre, post, delay, w, n_pre=n, n_post=n, max_delay=8)
    learn = izj.to_learnable(fmt)
    again = izj.learnable_delayed(pre, post, delay.astype(float), w, n_pre=n, n_post=n,
                                  max_delay=8)
    for field in ("post", "w", "incoming", "delay"):
        np.testing.assert_array_equal(np.asarray(getattr(learn, field)),
                                      np.asarray(getattr(again, field)), err_msg=field)
    for field in ("post", "w", "incoming"):
        np.testing.assert_array_equal(np.asarray(getattr(learn, field)),
                                      np.asarray(getattr(fmt, field)), err_msg=field)
    assert learn.delay.shape == fmt.post.shape and learn.delay.size < 8 * n * n / 10
    cfg = izj.Config(integrator="izhikevich", noise="normal")
    key, every = jax.random.key(1), tuple(range(n))
    (fa, ra), (fb, rb) = [izj.simulate(izj.network([pop], [izj.projection("n", "n", x)], cfg),
                                       key, 600, record_v=every) for x in (fmt, learn)]
    sa, sb = np.asarray(ra.spikes), np.asarray(rb.spikes)
    assert sa.sum() > 200, "the network is active"
    bad = np.argwhere(sa != sb)
    assert bad.size == 0, f"spikes differ first at (step, neuron) {bad[:3].tolist()}"
    np.testing.assert_array_equal(np.asarray(rb.v), np.asarray(ra.v))
    _leaves_equal(fa, fb, "final state")
    assert fb.synapses[0]["spikes"].shape == (8, n)


def test_real_delays_resume_bit_for_bit():
    """Non-integer delays: 500 + 500 steps (resumed from the state) == 1000 steps, bit for bit
    (spikes, v, final state with the spike ring)."""
    pop, pre, post, delay, w, rng = _noisy_network(seed=1, n_exc=40, n_inh=10, m=10)
    n = pop.size
    real = np.clip(delay + rng.uniform(0.0, 1.0, delay.size), 1.0, 8.0)
    assert np.mean(real != np.floor(real)) > 0.99
    fmt = izj.learnable_delayed(pre, post, real, w, n_pre=n, n_post=n, max_delay=8)
    net = izj.network([pop], [izj.projection("n", "n", fmt)],
                      izj.Config(integrator="izhikevich", noise="normal"))
    key, every = jax.random.key(2), tuple(range(n))
    f_all, r_all = izj.simulate(net, key, 1000, record_v=every)
    f1, r1 = izj.simulate(net, key, 500, record_v=every)
    f2, r2 = izj.simulate(net, key, 500, state=f1, record_v=every)
    assert np.asarray(r_all.spikes).sum() > 100
    np.testing.assert_array_equal(np.r_[np.asarray(r1.spikes), np.asarray(r2.spikes)],
                                  np.asarray(r_all.spikes))
    np.testing.assert_array_equal(np.r_[np.asarray(r1.v), np.asarray(r2.v)], np.asarray(r_all.v))
    _leaves_equal(f2, f_all, "final state")


# --- gradients --------------------------------------------------------------------------------


def _driven(config, w_scale, n_in=6, n_out=2, T=150, D=8, seed=0):
    """n_in input neurons forced to fire 6 times each at given steps, all-to-all onto n_out
    RS neurons through LearnableDelayed synapses with delays k + U(0.1, 0.9)."""
    rng = np.random.default_rng(seed)
    pre, post = np.repeat(np.arange(n_in), n_out), np.tile(np.arange(n_out), n_in)
    delay = rng.integers(1, D - 1, pre.size) + rng.uniform(0.1, 0.9, pre.size)
    w = rng.uniform(0.5, 1.0, pre.size) * w_scale
    fmt = izj.learnable_delayed(pre, post, delay, w, n_pre=n_in, n_post=n_out, max_delay=D)
    net = izj.network([_pop(n_in, "in"), _pop(n_out, "out")],
                      [izj.projection("in", "out", fmt)], config)
    inputs = np.zeros((T, n_in + n_out))
    for i in range(n_in):
        inputs[rng.choice(np.arange(5, T - 10), 6, replace=False), i] = FORCE
    return net, fmt, inputs, tuple(range(n_in, n_in + n_out))


def _fd_check(config, w_scale, spiking, eps=1e-6):
    """Autodiff of J = mean (v_out - v_ref)^2 (pre-reset v of the postsynaptic neurons, v_ref
    the run with every delay + 0.7) with respect to every delay and weight, against central
    differences; returns the largest relative errors (of the largest derivative)."""
    net, fmt, inputs, out = _driven(config, w_scale)
    key, T = jax.random.key(0), inputs.shape[0]
    ref_fmt = izj.clip_delays(fmt, fmt.delay + 0.7)
    v_ref = izj.simulate(net.replace(weights=ref_fmt), key, T, inputs=inputs, record_v=out)[1].v

    @jax.jit
    def J(delay, w):
        _, rec = izj.simulate(net.replace(weights=fmt.replace(delay=delay, w=w)), key, T,
                              inputs=inputs, record_v=out)
        return jnp.mean((rec.v - v_ref) ** 2), rec.spikes

    (_, spikes), (g_d, g_w) = jax.value_and_grad(J, argnums=(0, 1), has_aux=True)(fmt.delay,
                                                                                 fmt.w)
    spikes = np.asarray(spikes)
    n_out_spikes = int(spikes[:, out[0]:].sum())
    assert (n_out_spikes > 4) if spiking else (n_out_spikes == 0), n_out_spikes
    real = np.argwhere(np.asarray(fmt.post) < fmt.n_post)
    bump = np.zeros((2 * len(real),) + fmt.delay.shape)    # +eps, -eps at each synapse
    for k, (i, j, l) in enumerate(real):
        bump[2 * k, i, j, l], bump[2 * k + 1, i, j, l] = eps, -eps
    bump = jnp.asarray(bump)
    batched = jax.jit(jax.vmap(J))
    errors = {}
    for name, grad in (("delay", g_d), ("w", g_w)):
        if name == "delay":
            values, s = batched(fmt.delay + bump, jnp.broadcast_to(fmt.w, bump.shape))
        else:
            values, s = batched(jnp.broadcast_to(fmt.delay, bump.shape), fmt.w + bump)
        assert np.array_equal(np.asarray(s), np.broadcast_to(spikes, s.shape)), \
            "the same spikes at +- eps"
        values = np.asarray(values)
        fd = (values[0::2] - values[1::2]) / (2 * eps)
        ad = np.asarray(grad)[tuple(real.T)]
        assert np.abs(fd).min() > 1e-5 * np.abs(fd).max(), f"every {name} matters"
        errors[name] = float(np.abs(ad - fd).max() / np.abs(fd).max())
    return errors


def test_gradient_subthreshold_voltage_matches_finite_differences():
    """Default gradient settings (crossing surrogate): postsynaptic neurons kept below
    threshold, d J / d delay and d J / d w of the voltage trajectory agree with central
    differences (eps 1e-6 steps / mV/ms, float64) to 1e-6 relative (measured 2.7e-9 for the
    delays, 2.7e-8 for the weights: the difference's truncation error is O(eps^2 J''') and its
    rounding ~1e-16 |J| / eps)."""
    errors = _fd_check(izj.Config(integrator="izhikevich", noise="none"), 3.0, spiking=False)
    assert errors["delay"] < 1e-6 and errors["w"] < 1e-6, errors


def test_gradient_through_spikes_matches_finite_differences():
    """threshold_grad="voltage": the postsynaptic neurons fire (the spikes stay the same at
    +- eps); the voltage trajectory's derivative through the threshold and the reset is exact,
    so autodiff agrees with central differences to 1e-6 relative (measured 1.4e-9 for the
    delays, 1.4e-8 for the weights). With the default crossing surrogate the backward pass cuts
    the reset's and the overshoot's paths on purpose (izhijax._src.surrogate), so it is not the
    trajectory's exact derivative once a neuron fires."""
    errors = _fd_check(izj.Config(integrator="izhikevich", noise="none",
                                  threshold_grad="voltage"), 25.0, spiking=True)
    assert errors["delay"] < 1e-6 and errors["w"] < 1e-6, errors


def test_surrogate_gradient_of_a_spike_train_loss_points_to_the_target_delay():
    """One input spike through one synapse onto an RS neuron biased just below rheobase
    (3.5 mV/ms): the output spike's step moves with the delay. The target is the output of
    delay 8; the loss is the cumulative-count distance sum_t (N(t) - N*(t))^2 (piecewise
    constant in the delay), its gradient the surrogate one (default settings). Averaged over
    the fractional part (8 points spread over one step, as experiments/learn_delays.py dithers)
    the gradient is negative below the target delay and positive above it at every delay of
    2..14 steps (0.13 apart) farther than 0.1 from 8. Unaveraged it has that sign except in a
    narrow band of fractional parts near 1 (measured 9 of the 85 points with a non-zero loss),
    where the leak of the split pulse's first part outweighs the shift."""
    D, T, bias = 20, 60, 3.5
    v_rest = (-4.8 - np.sqrt(4.8 ** 2 - 0.16 * (140.0 + bias))) / 0.08
    fmt = izj.learnable_delayed([0], [0], [8.0], [10.0], n_pre=1, n_post=1, max_delay=D)
    net = izj.network([_pop(1, "in"), _pop(1, "out", bias=bias, v0=v_rest)],
                      [izj.projection("in", "out", fmt)], izj.Config(noise="none"))
    stim = izj.inputs.events([10], [0], FORCE, 2)
    key = jax.random.key(0)

    def out_spikes(d):
        delay = jnp.full(fmt.delay.shape, d)
        _, rec = izj.simulate(net.replace(weights=fmt.replace(delay=delay)), key, T,
                              inputs=stim, record_v=(), differentiable=True)
        return rec.spikes[:, 1]

    target = out_spikes(8.0)
    assert float(jnp.sum(target)) == 1.0

    def loss(d):
        return jnp.sum((jnp.cumsum(out_spikes(d)) - jnp.cumsum(target)) ** 2)

    ds = np.arange(2.0, 14.0, 0.13)
    dither = (np.arange(8) + 0.5) / 8 - 0.5
    grad = jax.jit(jax.vmap(jax.value_and_grad(loss)))      # one program for all the delays
    value, every = (np.asarray(x) for x in grad(jnp.asarray(
        np.concatenate([ds, (ds[:, None] + dither[None, :]).ravel()]))))
    value, raw = value[:ds.size], every[:ds.size]
    smooth = every[ds.size:].reshape(ds.size, dither.size).mean(1)
    far = np.abs(ds - 8.0) > 0.1
    wrong = far & (np.sign(smooth) != np.sign(ds - 8.0))
    assert not wrong.any(), f"averaged gradient of the wrong sign at delays {ds[wrong]}"
    lossy = value > 0
    raw_wrong = lossy & (np.sign(raw) != np.sign(ds - 8.0))
    assert raw_wrong.sum() <= 0.15 * lossy.sum(), (raw_wrong.sum(), lossy.sum())


# --- the format ------------------------------------------------------------------------------


def test_synapses_rounded_and_file_round_trip(tmp_path):
    pre, post = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 0])
    delay = np.array([1.5, 3.0, 2.25, 2.75])
    fmt = izj.learnable_delayed(pre, post, delay, [1.0, 2.0, 3.0, 4.0], n_pre=3, n_post=3)
    assert fmt.max_delay == 3 and fmt.n_synapses == 4
    p, q, d, w = fmt.synapses()
    got = sorted(zip(p.tolist(), q.tolist(), d.tolist(), w.tolist()))
    assert got == sorted(zip(pre.tolist(), post.tolist(), delay.tolist(), [1.0, 2.0, 3.0, 4.0]))
    rounded = fmt.rounded()
    assert type(rounded) is izj.connectivity.Delayed
    assert sorted(zip(*[x.tolist() for x in rounded.synapses()[:3]])) == sorted(
        zip(pre.tolist(), post.tolist(), [2, 3, 2, 3]))
    np.testing.assert_array_equal(izj.connectivity.to_dense(fmt), fmt.to_dense())
    net = izj.network([_pop(3)], [izj.projection("n", "n", fmt)], QUIET)
    izj.save(tmp_path / "net", params=net)
    back = izj.load(tmp_path / "net.npz").params.weights
    assert type(back) is izj.LearnableDelayed
    _leaves_equal(back, fmt, "saved and loaded")


def test_bad_delays_are_refused():
    mk = lambda delay, **kw: izj.learnable_delayed([0, 1], [1, 0], delay, [1.0, 1.0], n_pre=2,
                                                   n_post=2, **kw)
    for bad in ([0.5, 2.0], [1.0, -3.0], [1.0, 4.5]):
        with pytest.raises(ValueError, match=r"delay must lie in \[1, max_delay"):
            mk(bad, max_delay=4)
    for bad in ([np.nan, 2.0], [1.0, np.inf]):
        with pytest.raises(ValueError, match="delay must be finite"):
            mk(bad)
    for bad in (np.array([True, True]), np.array([1 + 1j, 2.0]), np.array(["1", "2"])):
        with pytest.raises(TypeError, match="delay"):
            mk(bad)
    with pytest.raises(ValueError, match="delay must be a 1-d array"):
        mk(np.ones((2, 1)))
    with pytest.raises(ValueError, match="delay"):            # another length than pre/post
        mk([1.0, 2.0, 3.0])
    for bad in (1, 0, True, 2.5):
        with pytest.raises(ValueError, match="max_delay"):
            mk([1.0, 1.0], max_delay=bad)
    with pytest.raises(TypeError, match="Delayed"):
        izj.to_learnable(np.eye(2))
    fmt = mk([1.5, 2.0], max_delay=3)
    # the dataclass itself: the delay array must be floating, of the table's shape and dtype
    with pytest.raises(TypeError, match=r"LearnableDelayed\.delay must be a floating array"):
        fmt.replace(delay=jnp.ones(fmt.post.shape, jnp.int32))
    with pytest.raises(ValueError, match=r"LearnableDelayed\.delay must have the shape"):
        fmt.replace(delay=jnp.ones((2, 3)))
    with pytest.raises(TypeError, match=r"LearnableDelayed\.delay must have the dtype"):
        fmt.replace(delay=jnp.ones(fmt.post.shape, jnp.float32))
    with pytest.raises(TypeError, match=r"LearnableDelayed\.delay must be an array"):
        fmt.replace(delay=[1.0, 2.0])
    with pytest.raises(ValueError, match="max_delay must be an integer >= 2"):
        izj.to_learnable(izj.connectivity.delayed([0], [1], [1], 1.0, n_pre=2, n_post=2),
                         max_delay=1)
    one = izj.connectivity.delayed([0], [1], [1], 1.0, n_pre=2, n_post=2)      # D = 1
    with pytest.raises(ValueError, match=r"LearnableDelayed\.max_delay must be >= 2"):
        izj.LearnableDelayed(post=one.post, w=one.w, incoming=one.incoming, n_post=2,
                             delay=jnp.ones(one.post.shape))
    # ... and holds gradients, zeros and optimiser moments of the delays (no value checks) ...
    zeros = jax.tree_util.tree_map(jnp.zeros_like, fmt)
    assert type(zeros) is izj.LearnableDelayed and float(jnp.abs(zeros.delay).max()) == 0.0
    # ... while the network and the run refuse NaN and out-of-range delays, naming the field
    net = izj.network([_pop(2)], [izj.projection("n", "n", fmt)], QUIET)
    for bad, match in ((fmt.delay.at[0, 0, 0].set(jnp.nan), "weights.delay must be finite"),
                       (fmt.delay + 2.0, r"weights.delay must lie in \[1, max_delay=3\]"),
                       (fmt.delay.at[1, 0, 0].set(0.5), r"weights.delay must lie in \[1")):
        with pytest.raises(ValueError, match=match):
            izj.network([_pop(2)], [izj.projection("n", "n", fmt.replace(delay=bad))], QUIET)
        with pytest.raises(ValueError, match=match):
            izj.simulate(net.replace(weights=fmt.replace(delay=bad)), jax.random.key(0), 5)
    clipped = izj.clip_delays(fmt, fmt.delay + 2.0)
    assert float(clipped.delay.min()) == 3.0 and clipped.delay.dtype == fmt.w.dtype
    izj.simulate(net.replace(weights=clipped), jax.random.key(0), 5)


def test_plasticity_and_sharding_are_refused():
    fmt = izj.learnable_delayed([0], [1], [1.5], 0.5, n_pre=2, n_post=2)
    with pytest.raises(ValueError, match="plasticity must be None with LearnableDelayed"):
        izj.network([_pop(2)], [izj.projection("n", "n", fmt,
                                               plasticity=izj.plasticity.STDP(w_max=1.0))], QUIET)
    net = izj.network([_pop(2)], [izj.projection("n", "n", fmt)], QUIET)
    with pytest.raises(NotImplementedError, match="LearnableDelayed"):
        izj.shard.simulate(net, jax.random.key(0), 10, mesh=jax.devices()[:1])
