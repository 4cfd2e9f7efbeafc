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
from izhijax._src.surrogate import SYNAPSE_GRAD_GAIN, spike_per_rise

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
def test_default_gradient_has_the_sign_of_the_finite_difference_for_own_knobs():
    grads, fds = _measure(_network(), tuple(dict(OWN)))
    for name, j in OWN:
        g, fd = grads[name][:, j], fds[name][j]
        assert np.isfinite(g).all(), name
        assert np.sign(g.mean()) == np.sign(fd) != 0, (name, g.mean(), fd)
        assert np.mean(np.sign(g) == np.sign(fd)) >= 7 / 8, (name, g, fd)
    # the known limit of the default: no gradient across populations (the synapses are cut)
    assert (grads["bias_inh"][:, 0] == 0).all() and (grads["bias_exc"][:, 1] == 0).all()


@pytest.mark.slow
def test_synapse_grad_is_finite_and_has_the_cross_population_signs():
    params = _network(synapse_grad=True)
    assert params.config.surrogate_gain == SYNAPSE_GRAD_GAIN
    names = ("bias_exc", "bias_inh", "w_exc", "noise_inh")
    grads, fds = _measure(params, names)
    for name in names:
        assert np.isfinite(grads[name]).all(), name
    # more inhibitory drive lowers the excitatory rate; more excitatory drive raises the inhibitory
    for name, j in (("bias_inh", 0), ("noise_inh", 0), ("bias_exc", 1), ("bias_exc", 0),
                    ("w_exc", 1)):
        g, fd = grads[name][:, j].mean(), fds[name][j]
        assert np.sign(g) == np.sign(fd) != 0, (name, j, g, fd)
        assert 0.1 < g / fd < 10, (name, j, g, fd)


@pytest.mark.slow
def test_synapse_grad_finite_on_the_fig3_network_over_1000_steps():
    """The issue's case: NaN for every key with a surrogate of height 1 (the backward pass through
    the synapses grows ~1.26x per step); finite at the default height with synapse_grad=True."""
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, synapse_grad=True)
    theta, build = izj.fit.population_parameters(params)
    rate = lambda t, k: jnp.mean(izj.fit.rates_of(build(t), k, 1000))
    keys = jax.random.split(jax.random.key(3), 2)
    grads = jax.jit(jax.vmap(jax.grad(rate), in_axes=(None, 0)))(theta, keys)
    for name, g in grads.items():
        assert np.isfinite(np.asarray(g)).all(), name
    assert (np.asarray(grads["bias_exc"]) > 0).all()


def test_surrogate_gain_defaults_and_validation():
    assert izj.Config().surrogate_gain == 1.0
    assert izj.Config(synapse_grad=True).surrogate_gain == SYNAPSE_GRAD_GAIN == 1 / 64
    assert izj.Config(synapse_grad=True, threshold_grad="voltage").surrogate_gain == 1.0
    # 1/64 * min(1, 2 / area): less for a surrogate wider than fast_sigmoid(1)
    assert izj.Config(surrogate="sigmoid", synapse_grad=True).surrogate_gain == 1 / 128
    assert izj.Config(surrogate="triangle", synapse_grad=True).surrogate_gain == 1 / 64
    assert izj.Config(surrogate_scale=0.5, synapse_grad=True).surrogate_gain == 1 / 128
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
