"""Spike-for-spike agreement of each variant with a NumPy transcription of its seed (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy_seeds import brian2_loop, netm_loop, pymonnto_loop
from reference_network import fig3_network, injected_noise

import izhijax as izj

T = 1000


def _params(net, variant):
    """izhijax params holding the NumPy network, with the variant's static schedule and no own noise."""
    cfg = izj.izhikevich2003(jax.random.key(0), n_exc=8, n_inh=2, variant=variant).config
    cfg = cfg.__class__(**{**cfg.__dict__, "noise": "none", "n_exc": 800})
    return izj.make_params(net["a"], net["b"], net["c"], net["d"], net["W"], v0=net["v0"],
                           u0=net["u0"], config=cfg, dtype=jnp.float64)


@pytest.fixture(scope="module")
def net():
    return fig3_network(7)


@pytest.fixture(scope="module")
def noise(net):
    return injected_noise(7, T, net["noise_amp"])


def test_brian2_schedule_euler(net, noise):
    ref_spikes, ref_v = brian2_loop(net, noise)
    _, rec = izj.simulate(_params(net, "brian2"), jax.random.key(0), T, inputs=noise,
                          record_v=np.arange(5))
    spikes = np.asarray(rec.spikes)
    assert ref_spikes.sum() > 5000                      # a real, active network
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_allclose(np.asarray(rec.v), ref_v[:, :5], rtol=1e-10, atol=1e-9)


def test_netm_schedule_two_half_steps(net, noise):
    ref = netm_loop(net, noise)
    _, rec = izj.simulate(_params(net, "netm"), jax.random.key(0), T, inputs=noise)
    spikes = np.asarray(rec.spikes)
    assert ref.sum() > 5000
    assert not ref[0].any()                             # net.m's first check sees v0 = -65
    # net.m labels a spike at the start of the step after the crossing: izhijax's t is its t + 1.
    np.testing.assert_array_equal(spikes[:-1], ref[1:])


def test_pymonnto_schedule_semi_implicit_delay2():
    rs = np.random.RandomState(3)
    n_exc, n = 800, 1000
    W = np.hstack([0.5 * rs.uniform(size=(n, n_exc)), -rs.uniform(size=(n, n - n_exc))])
    net = dict(a=np.full(n, 0.02), b=np.full(n, 0.2), c=np.full(n, -65.0), d=np.full(n, 8.0),
               W=W, v0=-65 * rs.uniform(size=n), u0=-8 * rs.uniform(size=n))
    draws = 20 * rs.uniform(size=(T, n))                # iteration k's 20 * uniform
    ref = pymonnto_loop(net, draws)
    # PymoNNto computes iteration k's input after its update, so update k sees draw k - 1 (none at 0).
    inputs = np.vstack([np.zeros((1, n)), draws[:-1]])
    _, rec = izj.simulate(_params(net, "pymonnto"), jax.random.key(0), T, inputs=inputs)
    spikes = np.asarray(rec.spikes)
    assert ref.sum() > 10000
    np.testing.assert_array_equal(spikes[:-1], ref[1:])
