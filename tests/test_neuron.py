"""Neuron model: presets, integrator steps by hand, the reset, invariants, the spike function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src.neuron import integrate, reset


def test_presets_are_the_2003_fig2_values():
    presets = izj.Izhikevich2003.presets
    assert izj.Izhikevich2003().preset("rs") == {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0}
    assert presets["CH"] == {"a": 0.02, "b": 0.2, "c": -50.0, "d": 2.0}
    assert presets["TC"] == {"a": 0.02, "b": 0.25, "c": -65.0, "d": 0.05}
    assert presets["RZ"] == {"a": 0.1, "b": 0.26, "c": -65.0, "d": 2.0}
    assert set(presets) == {"RS", "IB", "CH", "FS", "LTS", "TC", "RZ"}
    with pytest.raises(ValueError, match="unknown preset"):
        izj.Izhikevich2003().preset("XX")


@pytest.mark.parametrize("method", izj.INTEGRATORS)
def test_one_step_matches_hand_arithmetic(method):
    v, u, i, a, b, dt = -60.0, -12.0, 7.0, 0.02, 0.2, 0.5
    f = lambda v, u: 0.04 * v * v + 5 * v + 140 - u + i
    if method == "euler":
        want = (v + dt * f(v, u), u + dt * a * (b * v - u))
    elif method == "izhikevich":
        v1 = v + dt / 2 * f(v, u)
        v2 = v1 + dt / 2 * f(v1, u)
        want = (v2, u + dt * a * (b * v2 - u))
    else:
        v1 = v + dt * f(v, u)
        want = (v1, u + dt * a * (b * v1 - u))
    got = integrate(jnp.float64(v), jnp.float64(u), i, a, b, dt, method)
    np.testing.assert_allclose([float(x) for x in got], want, rtol=1e-14)
    # the integrator object the engine steps with, on the 2003 model
    model = izj.Izhikevich2003()
    got = izj.INTEGRATORS[method]().step(
        model, {"v": jnp.float64(v), "u": jnp.float64(u)},
        {"a": jnp.float64(a), "b": jnp.float64(b), "c": jnp.float64(-65.0), "d": jnp.float64(8.0)},
        jnp.float64(i), dt, lambda x: x)
    np.testing.assert_allclose([float(got["v"]), float(got["u"])], want, rtol=1e-14)


def test_reset_is_exactly_c_and_differentiable():
    v = jnp.array([35.123456789, 10.0])
    s = jnp.array([1.0, 0.0])
    c = jnp.array([-65.0 + 15 * 0.37**2, -50.0])
    v_new, u_new = reset(v, jnp.array([-3.0, -3.0]), s, c, jnp.array([6.5, 6.5]))
    assert float(v_new[0]) == float(c[0]) and float(v_new[1]) == 10.0
    np.testing.assert_array_equal(np.asarray(u_new), [3.5, -3.0])
    # d v_new / d s = c - v, d v_new / d v = 1 - s, as for v + s (c - v).
    g = jax.grad(lambda s: reset(v, v, s, c, c)[0].sum())(s)
    np.testing.assert_allclose(np.asarray(g), np.asarray(c - v))
    g_stopped = jax.grad(lambda s: reset(v, v, s, c, c, grad=False)[0].sum())(s)
    np.testing.assert_array_equal(np.asarray(g_stopped), [0.0, 0.0])
    # the model's reset, which the engine uses, is the same
    model = izj.Izhikevich2003()
    after = model.reset({"v": v, "u": jnp.array([-3.0, -3.0])}, {"c": c, "d": jnp.array([6.5, 6.5])}, s)
    assert float(after["v"][0]) == float(c[0]) and float(after["v"][1]) == 10.0
    np.testing.assert_array_equal(np.asarray(after["u"]), [3.5, -3.0])
    g = jax.grad(lambda s: model.reset({"v": v, "u": v}, {"c": c, "d": c}, s)["v"].sum())(s)
    np.testing.assert_allclose(np.asarray(g), np.asarray(c - v))


def _single(bias, n=1, config=None, **kw):
    rs = izj.Izhikevich2003.presets["RS"]
    return izj.make_params(rs["a"], rs["b"], rs["c"], rs["d"], jnp.zeros((n, n)), bias=bias, v0=-70.0,
                           config=config or izj.Config(noise="none"), dtype=jnp.float64, **kw)


@pytest.mark.parametrize("method", izj.INTEGRATORS)
def test_no_input_no_spikes(method):
    params = _single(0.0, n=5, config=izj.Config(noise="none", integrator=method, dt=0.5))
    _, rec = izj.simulate(params, jax.random.key(0), 4000, record_v=range(5))
    assert int(rec.counts.sum()) == 0
    # and it settles at the resting point of v' = u' = 0 with u = b v: 0.04 v^2 + 4.8 v + 140 = 0
    np.testing.assert_allclose(np.asarray(rec.v[-1]), -70.0, atol=0.05)


@pytest.mark.parametrize("method", izj.INTEGRATORS)
def test_rate_grows_with_input_current(method):
    currents = jnp.array([0.0, 3.0, 5.0, 10.0, 20.0, 40.0])
    config = izj.Config(noise="none", integrator=method, dt=0.25)
    params = _single(currents, n=currents.size, config=config)
    _, rec = izj.simulate(params, jax.random.key(0), 8000, record_v=[])
    rates = np.asarray(izj.firing_rates(rec))
    assert rates[0] == 0 and rates[-1] > 30
    assert np.all(np.diff(rates) >= 0) and np.all(np.diff(rates[2:]) > 0), rates


def test_every_spike_is_followed_by_v_equal_c():
    params = izj.izhikevich2003(jax.random.key(4), dtype=jnp.float64)
    key = jax.random.key(9)
    state = izj.init_state(params)
    step = jax.jit(izj.step)
    seen = 0
    for _ in range(200):
        state, s = step(state, params, key)
        fired = np.asarray(s) > 0
        seen += fired.sum()
        np.testing.assert_array_equal(np.asarray(state.v)[fired], np.asarray(params.c)[fired])
    assert seen > 500


@pytest.mark.parametrize("name", sorted(izj.SURROGATES))
def test_spike_forward_is_heaviside_backward_is_surrogate(name):
    x = jnp.array([-5.0, -0.1, 0.0, 0.2, 40.0])
    np.testing.assert_array_equal(np.asarray(izj.spike(x, name, 2.0)), [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(izj.spike(x, name, 2.0, False)), [0, 0, 0, 1, 1])
    grad = jax.vmap(jax.grad(lambda x: izj.spike(x, name, 2.0)))(x)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(izj.SURROGATES[name](2.0)(x)))
    assert float(grad[2]) == 1.0                        # every surrogate peaks at 1 at threshold


def test_gradient_run_has_the_same_spikes_as_a_plain_run():
    params = izj.izhikevich2003(jax.random.key(1), n_exc=80, n_inh=20, dtype=jnp.float64)
    key = jax.random.key(2)
    _, plain = izj.simulate(params, key, 100)

    def total_spikes(bias):
        def body(state, _):
            state, s = izj.step(state, params.replace(bias=bias), key)
            return state, s
        _, spikes = jax.lax.scan(body, izj.init_state(params), length=100)
        return spikes.sum(), spikes

    (total, spikes), grad = jax.jit(jax.value_and_grad(total_spikes, has_aux=True))(params.bias)
    np.testing.assert_array_equal(np.asarray(spikes) > 0, np.asarray(plain.spikes))
    assert float(total) == int(plain.counts.sum()) > 0
    assert np.all(np.isfinite(np.asarray(grad))) and float(grad.sum()) != 0.0
