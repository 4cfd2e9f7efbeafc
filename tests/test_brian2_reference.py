"""izhijax's ``variant="brian2"`` against Brian2 2.9 itself (tests/data, from experiments/brian2_reference.py)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import DATA
from reference_network import fig3_network, injected_noise

import izhijax as izj


@pytest.fixture(scope="module")
def injected():
    return np.load(os.path.join(DATA, "brian2_fig3_injected.npz"))


@pytest.fixture(scope="module")
def seeds():
    return np.load(os.path.join(DATA, "brian2_fig3_seeds.npz"))


def test_same_spikes_as_brian2_with_injected_noise(injected):
    """Driven by the same noise, every spike of Brian2's run is reproduced, at the same step."""
    T = int(injected["n_steps"])
    net = fig3_network(int(injected["net_seed"]))
    noise = injected_noise(int(injected["noise_seed"]), T, net["noise_amp"])
    cfg = izj.Config(noise="none", n_exc=800)           # the brian2 variant's schedule, noise injected
    # (the same forward settings; the network's gradient setting is synapse_grad=True)
    assert izj.izhikevich2003(jax.random.key(0), n_exc=4, n_inh=1).config == izj.Config(
        n_exc=4, synapse_grad=True)
    params = izj.make_params(net["a"], net["b"], net["c"], net["d"], net["W"], v0=net["v0"],
                             u0=net["u0"], config=cfg, dtype=jnp.float64)
    _, rec = izj.simulate(params, jax.random.key(0), T, inputs=noise, record_v=[0])
    ref = np.zeros((T, 1000), bool)
    ref[injected["step"], injected["i"]] = True
    assert ref.sum() == len(injected["i"]) > 5000
    np.testing.assert_array_equal(np.asarray(rec.spikes), ref)
    # Brian2's StateMonitor(when='after_thresholds') sees v before the reset, as rec.v does.
    np.testing.assert_allclose(np.asarray(rec.v[:, 0]), injected["v0"], rtol=1e-9, atol=1e-9)


def test_rates_with_own_noise_in_brian2_range(seeds):
    """Over 10 keys izhijax's own-noise rates are distributed as Brian2's over 10 seeds."""
    rates = {"exc": [], "inh": []}
    for s in range(10):
        params = izj.izhikevich2003(jax.random.key(s), dtype=jnp.float64)
        _, rec = izj.simulate(params, jax.random.key(1000 + s), 1000, record_spikes=False)
        for pop, r in izj.population_rates(rec).items():
            if pop in rates:
                rates[pop].append(float(r))
    for pop in ("exc", "inh"):
        ours, ref = np.array(rates[pop]), seeds["rate_" + pop]
        lo, hi = ref.min(), ref.max()
        assert lo <= ours.mean() <= hi, (pop, ours.mean(), lo, hi)
        stderr = np.sqrt(ours.var(ddof=1) / ours.size + ref.var(ddof=1) / ref.size)
        assert abs(ours.mean() - ref.mean()) < 3 * stderr, (pop, ours.mean(), ref.mean(), stderr)
        width = hi - lo                                 # every key inside the range widened by its width
        assert np.all((ours >= lo - width) & (ours <= hi + width)), (pop, ours, lo, hi)
