"""Analysis: rates and population rate against NumPy on the raster; rhythm on known signals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj


@pytest.fixture(scope="module")
def rec():
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float64)
    return izj.simulate(params, jax.random.key(1), 1000)[1]


def test_rates_against_numpy_on_the_raster(rec):
    spikes = np.asarray(rec.spikes)
    np.testing.assert_allclose(np.asarray(izj.firing_rates(rec)), spikes.sum(0) / 1.0)
    rates = izj.population_rates(rec)
    np.testing.assert_allclose(float(rates["exc"]), spikes[:, :800].sum() / 800 / 1.0)
    np.testing.assert_allclose(float(rates["inh"]), spikes[:, 800:].sum() / 200 / 1.0)
    np.testing.assert_allclose(np.asarray(izj.population_rate(rec, "inh")),
                               spikes[:, 800:].sum(1) / 200 / 1e-3)
    s = izj.summary(rec)
    assert s["spikes"] == spikes.sum() and 5 < s["rate_exc"] < 15


@pytest.mark.parametrize("freq", [10.0, 40.0, 73.0])
def test_rhythm_frequency_finds_the_peak(freq):
    t = np.arange(1000) * 1e-3
    rng = np.random.default_rng(0)
    signal = 5 + np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 3.0 * t) \
        + 0.2 * rng.standard_normal(t.size)
    assert float(izj.rhythm_frequency(signal, 1.0)) == freq
    # a stronger slow drift below the band is ignored; sampling at dt = 0.5 ms is handled
    t2 = np.arange(2000) * 0.5e-3
    drift = 3 * np.sin(2 * np.pi * 1.0 * t2) + np.sin(2 * np.pi * freq * t2)
    assert float(izj.rhythm_frequency(drift, 0.5, fmin=5.0)) == freq
    assert float(izj.rhythm_frequency(drift, 0.5, fmin=0.5)) == 1.0


def test_population_rate_rejects_unknown_population(rec):
    with pytest.raises(ValueError, match="population must be one of"):
        izj.population_rate(rec, "thalamus")
