"""Gradient quality: the surrogate gradient of the noise-averaged rate against central finite
differences of the same average (common keys), and ``synapse_grad=True`` finite.

The full measurement (every surrogate, 14 knobs, 16 keys, the Fig. 3 network) is
``experiments/grad_quality.py``; these are its reliable cases on a small network.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src.surrogate import (SYNAPSE_GRAD_GAIN, SYNAPSE_GRAD_MEMORY, forget,
                                    spike_per_rise)

N_EXC, N_INH, N_STEPS = 160, 40, 500
STEPS = {"bias": 0.5, "noise": 0.05, "w": 0.05}


def _network(**config):
    return izj.izhikevich2003(jax.random.key(0), n_exc=N_EXC, n_inh=N_INH, dtype=jnp.float32,
                              **config)


def _measure(params, names, n_keys=8):
    """Per-key gradients ``{name: (K, 2)}`` of (exc rate, inh rate) and central FDs ``{name: (2,)}``
    of their K-key averages."""
    theta, build = izj.fit.population_parameters(params, names)
    keys = jax.random.split(jax.random.key(5), n_keys)

    def rates(t, key):
        r = izj.fit.rates_of(build(t), key, N_STEPS)
        return jnp.stack([jnp.mean(r[:N_EXC]), jnp.mean(r[N_EXC:])])

    grads = jax.jit(jax.vmap(jax.jacrev(rates), in_axes=(None, 0)))(theta, keys)
    fwd = jax.jit(jax.vmap(rates, in_axes=(None, 0)))
    fds = {}
    for name in names:
        h = STEPS[name.split("_")[0]]
        up = np.asarray(fwd(dict(theta, **{name: theta[name] + h}), keys)).mean(0)
        dn = np.asarray(fwd(dict(theta, **{name: theta[name] - h}), keys)).mean(0)
        fds[name] = (up - dn) / (2 * h)
    return {k: np.asarray(v) for k, v in grads.items()}, fds


OWN = (("bias_exc", 0), ("noise_exc", 0), ("w_exc", 0), ("w_exc", 1), ("bias_inh", 1),
       ("noise_inh", 1), ("w_inh", 1))
"""(knob, rate: 0 exc, 1 inh) where the default gradient's sign is reliable: a population's own
bias and noise, the weight scales onto the inhibitory rate and w_exc onto the excitatory one (in
this small network d rate_exc / d w_inh is not resolved by 8 keys: its FD is +0.6 here, -3.3 in
the Fig. 3 network)."""


@pytest.mark.slow
def test_plain_gradient_has_the_sign_of_the_finite_difference_for_own_knobs():
    """``synapse_grad=False`` (the Config default, height 1)."""
    grads, fds = _measure(_network(synapse_grad=False), tuple(dict(OWN)))
    for name, j in OWN:
        g, fd = grads[name][:, j], fds[name][j]
        assert np.isfinite(g).all(), name
        assert np.sign(g.mean()) == np.sign(fd) != 0, (name, g.mean(), fd)
        assert np.mean(np.sign(g) == np.sign(fd)) >= 7 / 8, (name, g, fd)
    # the known limit of this setting: no gradient across populations (the synapses are cut)
    assert (grads["bias_inh"][:, 0] == 0).all() and (grads["bias_exc"][:, 1] == 0).all()


@pytest.mark.slow
def test_synapse_grad_is_finite_and_has_the_cross_population_signs():
    params = _network()     # izhikevich2003's default: synapse_grad=True, calibrated
    assert params.config.synapse_grad is True
    assert params.config.surrogate_gain == SYNAPSE_GRAD_GAIN
    assert params.config.grad_memory == SYNAPSE_GRAD_MEMORY
    names = ("bias_exc", "bias_inh", "w_exc", "noise_inh")
    grads, fds = _measure(params, names)
    for name in names:
        assert np.isfinite(grads[name]).all(), name
    # more inhibitory drive lowers the excitatory rate; more excitatory drive raises the inhibitory
    for name, j in (("bias_inh", 0), ("noise_inh", 0), ("bias_exc", 1), ("bias_exc", 0),
                    ("w_exc", 1)):
        g, fd = grads[name][:, j], fds[name][j]
        assert np.sign(g.mean()) == np.sign(fd) != 0, (name, j, g.mean(), fd)
        assert 0.1 < g.mean() / fd < 10, (name, j, g.mean(), fd)
        # with the forgetting backward pass every key has the sign (at 1/64 without it, the
        # excitatory rate against the inhibitory knobs had the sign in 75 % of the keys)
        assert (np.sign(g) == np.sign(fd)).all(), (name, j, g, fd)


@pytest.mark.slow
def test_synapse_grad_finite_on_the_fig3_network_over_1000_steps():
    """The issue's case: NaN for every key with a surrogate of height 1 (the backward pass through
    the synapses grows ~1.26x per step); finite at the default height with synapse_grad=True
    (the network's default)."""
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32)
    theta, build = izj.fit.population_parameters(params)
    rate = lambda t, k: jnp.mean(izj.fit.rates_of(build(t), k, 1000))
    keys = jax.random.split(jax.random.key(3), 2)
    grads = jax.jit(jax.vmap(jax.grad(rate), in_axes=(None, 0)))(theta, keys)
    for name, g in grads.items():
        assert np.isfinite(np.asarray(g)).all(), name
    assert (np.asarray(grads["bias_exc"]) > 0).all()


def test_surrogate_gain_defaults_and_validation():
    assert izj.Config().surrogate_gain == 1.0
    assert izj.Config(synapse_grad=True).surrogate_gain == SYNAPSE_GRAD_GAIN == 1 / 4
    assert izj.Config(synapse_grad=True, threshold_grad="voltage").surrogate_gain == 1.0
    # 1/4 * min(1, 2 / area): less for a surrogate wider than fast_sigmoid(1)
    assert izj.Config(surrogate="sigmoid", synapse_grad=True).surrogate_gain == 1 / 8
    assert izj.Config(surrogate="triangle", synapse_grad=True).surrogate_gain == 1 / 4
    assert izj.Config(surrogate_scale=0.5, synapse_grad=True).surrogate_gain == 1 / 8
    with pytest.raises(ValueError, match="infinite area"):
        izj.Config(surrogate="straight_through", synapse_grad=True)
    assert izj.Config(surrogate="straight_through", synapse_grad=True,
                      surrogate_gain=0.01).surrogate_gain == 0.01
    cfg = izj.Config(surrogate="arctan", surrogate_gain=0.25, synapse_grad=True)
    assert cfg.surrogate == izj.Arctan(1.0, 0.25) and cfg.surrogate_gain == 0.25
    assert izj.Config(surrogate=izj.Triangle(0.5, 0.1)).surrogate_gain == 0.1  # the object's own
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="surrogate_gain"):
            izj.Config(surrogate_gain=bad)


def test_gain_scales_the_backward_pass_only():
    x = jnp.asarray([-3.0, -0.5, 0.0, 2.0])
    rise = jnp.asarray([1.0, 2.0, 4.0, 8.0])
    for gain in (1.0, 1 / 64):
        sur = izj.FastSigmoid(1.0, gain)
        y, dy = jax.jvp(lambda z: spike_per_rise(z, rise, sur), (x,), (jnp.ones_like(x),))
        np.testing.assert_array_equal(np.asarray(y), [0.0, 0.0, 1.0, 1.0])
        np.testing.assert_allclose(np.asarray(dy), gain / (1 + np.abs(x / rise)) ** 2 / rise,
                                   rtol=1e-6)


def test_grad_memory_defaults_and_validation():
    assert izj.Config().grad_memory is None
    assert izj.Config(synapse_grad=True).grad_memory == SYNAPSE_GRAD_MEMORY == 4.0
    assert izj.Config(synapse_grad=True, threshold_grad="voltage").grad_memory is None
    assert izj.Config(synapse_grad=True, grad_memory=float("inf")).grad_memory == float("inf")
    assert izj.Config(grad_memory=2.5).grad_memory == 2.5
    for bad in (0.0, -1.0, float("nan"), True, "4"):
        with pytest.raises(ValueError, match="grad_memory"):
            izj.Config(grad_memory=bad)


def test_forget_scales_the_derivative_in_both_modes():
    x = jnp.asarray([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(forget(x, 0.25)), np.asarray(x))
    _, dx = jax.jvp(lambda z: forget(z, 0.25), (x,), (jnp.ones_like(x),))
    np.testing.assert_array_equal(np.asarray(dx), [0.25, 0.25, 0.25])
    g = jax.grad(lambda z: jnp.sum(3.0 * forget(z, 0.25) ** 2))(x)
    np.testing.assert_allclose(np.asarray(g), 0.25 * 6.0 * np.asarray(x), rtol=1e-7)


@pytest.mark.parametrize("memory", [None, 2.0, float("inf")])
def test_grad_memory_multiplies_the_step_jacobian_of_v(memory):
    """One Euler step of an isolated neuron below threshold: ``v1 = v0 + dt (0.04 v0^2 + 5 v0 +
    140 - u0 + I)``, so ``d v1 / d v0 = 1 + dt (0.08 v0 + 5)``, times ``exp(-dt / memory)``
    with forgetting; ``d v1 / d u0 = -dt`` is not forgotten; the forward value is the same."""
    dt, v0, u0, current = 0.5, -60.0, -12.0, 4.0
    cfg = izj.Config(dt=dt, noise="none", grad_memory=memory)
    net = izj.make_params(0.02, 0.2, -65.0, 8.0, jnp.zeros((1, 1)), bias=current, v0=v0,
                          config=cfg)
    state = izj.init_state(net)

    def v1(v, u):
        block = {**state.neurons[0], "v": jnp.full(1, v, net.dtype), "u": jnp.full(1, u, net.dtype)}
        new, _ = izj.step(state.replace(neurons=(block,)), net, jax.random.key(0))
        return new.neurons[0]["v"][0]

    keep = 1.0 if memory is None or memory == float("inf") else np.exp(-dt / memory)
    value = v1(v0, u0)
    assert float(value) == pytest.approx(v0 + dt * (0.04 * v0 ** 2 + 5 * v0 + 140 - u0 + current),
                                         rel=1e-6)
    dv, du = jax.grad(v1, argnums=(0, 1))(jnp.asarray(v0, net.dtype), jnp.asarray(u0, net.dtype))
    assert float(dv) == pytest.approx(keep * (1 + dt * (0.08 * v0 + 5)), rel=1e-5)
    assert float(du) == pytest.approx(-dt, rel=1e-6)


def test_the_fig3_network_turns_synapse_grad_on_only_where_it_is_calibrated():
    """izhikevich2003 (brian2 variant) defaults to synapse_grad=True at the calibrated height
    and memory, and keeps it off where no calibrated setting exists (the backward pass through
    the synapses would overflow): the voltage formulation, straight_through, a larger height, a
    surrogate object of height 1; the other variants keep it off; an explicit value wins."""
    build = lambda **kw: izj.izhikevich2003(jax.random.key(0), n_exc=8, n_inh=2, **kw).config
    cfg = build()
    assert (cfg.synapse_grad, cfg.surrogate_gain, cfg.grad_memory) == (True, 0.25, 4.0)
    assert build(surrogate="sigmoid").surrogate_gain == 1 / 8
    assert build(surrogate_gain=0.1).synapse_grad is True
    assert build(surrogate=izj.Triangle(1.0, 0.2)).synapse_grad is True
    for off in (dict(threshold_grad="voltage"), dict(surrogate="straight_through"),
                dict(surrogate="straight_through", surrogate_gain=0.01),
                dict(surrogate_gain=1.0), dict(surrogate=izj.FastSigmoid(1.0)),
                dict(variant="netm"), dict(variant="pymonnto"), dict(synapse_grad=False)):
        cfg = build(**off)
        assert cfg.synapse_grad is False and cfg.grad_memory is None, off
    assert build(synapse_grad=True, surrogate_gain=0.5).synapse_grad is True


def test_config_replace_rederives_the_default_height_and_memory():
    """replace() of a gradient setting behaves as a new Config: defaults follow the settings,
    explicit values stay (before, the Fig. 3 network's config with synapse_grad=False kept the
    synapse path's height 1/4 and memory, Config().replace(synapse_grad=True) kept height 1,
    and replace(surrogate_scale=...) was ignored)."""
    fig3 = izj.izhikevich2003(jax.random.key(0), n_exc=8, n_inh=2).config
    assert fig3.replace(synapse_grad=False) == izj.Config(n_exc=8)
    assert izj.Config().replace(synapse_grad=True) == izj.Config(synapse_grad=True)
    assert izj.Config().replace(surrogate_scale=2.0).surrogate == izj.FastSigmoid(2.0, 1.0)
    assert fig3.replace(surrogate="sigmoid") == izj.Config(n_exc=8, synapse_grad=True,
                                                          surrogate="sigmoid")
    kept = izj.Config(synapse_grad=True, surrogate_gain=0.1, grad_memory=7.0)
    assert (kept.replace(surrogate="arctan").surrogate_gain,
            kept.replace(synapse_grad=False).grad_memory) == (0.1, 7.0)
    assert izj.Config(surrogate=izj.Triangle(0.5, 0.3)).replace(
        synapse_grad=True).surrogate == izj.Triangle(0.5, 0.3)
    assert fig3.replace(dt=0.5) == izj.Config(n_exc=8, synapse_grad=True, dt=0.5)
