"""Alpha and gamma rhythms measured apart (izj.rhythm_bands), on sines with known answers and on the
Fig. 3 network, whose single spectral peak (izj.rhythm_frequency) jumps between the two bands."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src.analysis import ALPHA_BAND, GAMMA_BAND, band_stats


def sines(amplitudes, dt=1.0, ms=1000.0, noise=0.2, seed=0):
    """5 + sum A sin(2 pi f t) + white noise; ``amplitudes`` maps f (Hz) -> A."""
    t = np.arange(round(ms / dt)) * dt * 1e-3
    rng = np.random.default_rng(seed)
    x = 5.0 + noise * rng.standard_normal(t.size)
    for f, a in amplitudes.items():
        x = x + a * np.sin(2 * np.pi * f * t + 0.3)
    return x


@pytest.mark.parametrize("a_alpha, a_gamma, dominant", [
    (2.0, 1.0, "alpha"),        # power 2 vs 0.5: ratio 4 > 2
    (1.0, 2.0, "gamma"),
    (1.0, 1.2, "none"),         # power ratio 1.44 < 2
    (1.2, 1.0, "none"),
    (1.6, 1.0, "alpha"),        # ratio 2.56
    (1.0, 1.3, "none"),         # ratio 1.69
])
@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_two_sines_analytic(a_alpha, a_gamma, dominant, dt):
    x = sines({10.0: a_alpha, 40.0: a_gamma, 3.0: 0.5}, dt=dt)
    b = izj.rhythm_bands(x, dt)
    assert b["alpha_hz"] == 10.0 and b["gamma_hz"] == 40.0
    # a sine of amplitude A has power A**2 / 2 (its variance); the noise (sd 0.2) adds ~4e-4 over
    # the lobe, and its cross term with the sine a few % (2 sqrt(noise / sine power))
    np.testing.assert_allclose(b["alpha_power"], a_alpha ** 2 / 2, rtol=0.06)
    np.testing.assert_allclose(b["gamma_power"], a_gamma ** 2 / 2, rtol=0.06)
    assert b["dominant"] == dominant
    if dominant == "none":
        assert np.isnan(b["dominant_hz"])
    else:
        assert b["dominant_hz"] == b[f"{dominant}_hz"]
        assert b["dominant_hz"] == float(izj.rhythm_frequency(x, dt))


@pytest.mark.parametrize("f_alpha, f_gamma", [(7.5, 33.5), (12.5, 61.5), (8.0, 21.0)])
def test_off_bin_frequencies_keep_their_power(f_alpha, f_gamma):
    """Half-bin frequencies spread over the Hann main lobe, which the power sums (+- 2 bins)."""
    x = sines({f_alpha: 1.0, f_gamma: 3.0}, noise=0.0)
    b = izj.rhythm_bands(x, 1.0)
    assert abs(b["alpha_hz"] - f_alpha) <= 0.5 and abs(b["gamma_hz"] - f_gamma) <= 0.5
    np.testing.assert_allclose(b["alpha_power"], 0.5, rtol=0.05)
    np.testing.assert_allclose(b["gamma_power"], 4.5, rtol=0.05)
    assert b["dominant"] == "gamma"


def test_bands_factor_and_edge_cases():
    x = sines({10.0: 1.0, 40.0: 1.2})
    assert izj.rhythm_bands(x, 1.0)["dominant"] == "none"
    assert izj.rhythm_bands(x, 1.0, factor=1.2)["dominant"] == "gamma"        # 1.44 > 1.2
    b = izj.rhythm_bands(x, 1.0, alpha=(35.0, 45.0), gamma=(5.0, 15.0))       # bands swapped
    assert (b["alpha_hz"], b["gamma_hz"]) == (40.0, 10.0)
    # a constant signal (a silent network): no power, no dominant band
    b = izj.rhythm_bands(np.full(1000, 3.0), 1.0)
    assert b["alpha_power"] == b["gamma_power"] == 0.0 and b["dominant"] == "none"
    # too short for a bin in the alpha band (50 ms: 20 Hz bins)
    b = izj.rhythm_bands(sines({40.0: 1.0}, ms=50.0), 1.0)
    assert np.isnan(b["alpha_hz"]) and np.isnan(b["alpha_power"]) and b["gamma_hz"] == 40.0
    assert b["dominant"] == "none"
    assert ALPHA_BAND == (6.0, 15.0) and GAMMA_BAND == (20.0, 90.0)


def test_traceable_core_and_host_function():
    xs = np.stack([sines({10.0: 2.0, 40.0: 1.0}), sines({10.0: 1.0, 40.0: 2.0})])
    out = jax.jit(jax.vmap(lambda x: band_stats(x, 1.0)))(jnp.asarray(xs))
    np.testing.assert_array_equal(out["dominant"], [1, 2])
    np.testing.assert_array_equal(out["rhythm_hz"], [10.0, 40.0])
    with pytest.raises(TypeError, match="band_stats"):
        jax.jit(lambda x: izj.rhythm_bands(x, 1.0)["alpha_hz"])(xs[0])


@pytest.fixture(scope="module")
def fig3_keys():
    """Fig. 3 network (brian2 variant, float64), 1000 ms, network and noise keys 1..5."""
    out = []
    for k in range(1, 6):
        params = izj.izhikevich2003(jax.random.key(k), dtype=jnp.float64)
        _, rec = izj.simulate(params, jax.random.key(1000 + k), 1000, record_spikes=False)
        out.append(rec)
    return out


def test_fig3_bands_over_keys(fig3_keys):
    """Each band's peak stays in its mode from key to key, while the global peak jumps between them.

    Measured (brian2 variant, float64, CPU), keys 1..5:

        key  peak  alpha_hz alpha_power gamma_hz gamma_power dominant rhythm_hz
          1    10       10        4.36       32        3.00     none        10
          2    26        9        4.74       26        3.90     none        26
          3    29        7        1.63       29        3.54    gamma        29
          4     8        8        7.90       34        3.82    alpha         8
          5     9        9        4.53       33        3.28     none         9
    """
    rows = []
    for k, rec in enumerate(fig3_keys, start=1):
        rate = izj.population_rate(rec, "exc")
        b = izj.rhythm_bands(rate, rec.dt)
        s = izj.summary(rec)
        peak = float(izj.rhythm_frequency(rate, rec.dt))
        rows.append((k, peak, b["alpha_hz"], b["alpha_power"], b["gamma_hz"], b["gamma_power"],
                     b["dominant"], s["rhythm_hz"]))
        for name in ("alpha_hz", "gamma_hz", "alpha_power", "gamma_power"):
            assert s[name] == b[name]
        assert s["rhythm_hz"] == (b["dominant_hz"] if b["dominant"] != "none" else peak)
    print("\nkey  peak  alpha_hz alpha_power gamma_hz gamma_power dominant rhythm_hz")
    for row in rows:
        print("{:3d} {:5.0f} {:8.0f} {:11.2f} {:8.0f} {:11.2f} {:>8s} {:9.0f}".format(*row))
    _, peaks, alpha, alpha_power, gamma, gamma_power, dominant, _ = zip(*rows)
    assert all(6 <= f <= 12 for f in alpha) and all(20 <= f <= 40 for f in gamma), rows
    assert max(alpha) - min(alpha) <= 4 and max(gamma) - min(gamma) <= 10, rows
    assert min(peaks) <= 12 and max(peaks) >= 20, rows           # the global peak jumps bands
    assert min(alpha_power) > 1 and min(gamma_power) > 1, rows    # both rhythms in every key
    assert dominant.count("none") >= 2, rows                      # comparable powers are the rule
