"""The scaled Fig. 3 family (N neurons, K synapses each): rates in the range Brian2 gives for it.

Reference: ``tests/data/brian2_scaled_rates.npz`` from ``experiments/brian2_scaled_reference.py``
(Brian2 2.9, the same equations with ``connect(p=K/N)``, 5 seeds per size). izhijax draws its own
networks and noise, so the check is statistical: each izhijax rate must lie within the Brian2 seeds'
range widened by that range's width (at least 1 Hz) on either side.
"""

import os

import jax
import numpy as np
import pytest

import izhijax as izj
from conftest import DATA


@pytest.fixture(scope="module")
def brian2():
    with np.load(os.path.join(DATA, "brian2_scaled_rates.npz")) as f:
        return {k: f[k] for k in ("n", "k", "seed", "rate_exc", "rate_inh")}


def _band(values):
    lo, hi = float(values.min()), float(values.max())
    pad = max(hi - lo, 1.0)
    return lo - pad, hi + pad


@pytest.mark.slow
@pytest.mark.parametrize("n, seeds", [(1000, (0, 1, 2)), (10000, (0,))])
def test_scaled_family_rates_match_brian2(brian2, n, seeds):
    rows = (brian2["n"] == n) & (brian2["k"] == 100)
    assert rows.sum() >= 3
    bands = _band(brian2["rate_exc"][rows]), _band(brian2["rate_inh"][rows])
    n_exc = int(0.8 * n)
    for seed in seeds:
        params = izj.scaled_izhikevich2003(jax.random.key(seed), n, 100)
        _, rec = izj.simulate(params, jax.random.key(100 + seed), 1000, record_spikes=False,
                              record_v=[])
        counts = np.asarray(rec.counts)
        rates = counts[:n_exc].mean(), counts[n_exc:].mean()  # spikes per neuron in 1 s = Hz
        for rate, (lo, hi), name in zip(rates, bands, ("exc", "inh")):
            assert lo <= rate <= hi, f"N={n} seed={seed} {name} rate {rate:.2f} Hz not in [{lo:.2f}, {hi:.2f}]"


def test_scaled_family_has_k_synapses_per_neuron_and_the_scaled_weights():
    params = izj.scaled_izhikevich2003(jax.random.key(0), 2000, 50, connection="indegree",
                                       self_connections=False)
    dense = izj.wiring.to_dense(params.weights)
    np.testing.assert_array_equal((dense != 0).sum(1), 50)
    scale = 1000.0 / 50
    assert 0 < dense[:, :1600].max() <= 0.5 * scale and dense[:, :1600].min() >= 0
    assert -scale <= dense[:, 1600:].min() < 0 and dense[:, 1600:].max() <= 0
    # Mean excitatory weight 0.25 scale, as the 1000-neuron network's 0.25 per synapse.
    assert abs(dense[:, :1600][dense[:, :1600] != 0].mean() - 0.25 * scale) < 0.02 * scale
    with pytest.raises(ValueError, match="connection"):
        izj.scaled_izhikevich2003(jax.random.key(0), 100, 10, connection="ring")
