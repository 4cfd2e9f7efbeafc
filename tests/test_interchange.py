"""Spike trains out of izhijax: Neo objects, NWB files, and Elephant's statistics on them.

The Neo and NWB round trips must give back ``rec.spike_times()`` exactly; Elephant, run on the
exported Neo spike trains of the Fig. 3 network, must compute the firing rates, ISI CVs, the
population rate and its spectrum peak that izhijax and NumPy compute on the recording. (The
``importorskip`` calls only guard a checkout without the extras; CI installs them.)
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import izhijax as izj
from izhijax._src import interchange

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")

N_STEPS = 1000


@pytest.fixture(scope="module")
def fig3():
    """The Fig. 3 network (float64, see conftest), 1000 steps, u of one neuron per population."""
    params = izj.izhikevich2003(jax.random.key(0))
    _, rec = izj.simulate(params, jax.random.key(1), N_STEPS, record_v=(0, 5, 850),
                          record_u=(0, 900))
    return params, rec


@pytest.fixture(scope="module")
def mixed():
    """Two models (2003 in mV/ms, 2007 in pA), dt = 0.5 ms, a run resumed at step 30."""
    thal = izj.population("thal", izj.Izhikevich2003(), 6, preset="TC", noise_amp=8.0)
    exc = izj.population("exc", izj.Izhikevich2007(), 10, preset="RS", noise_amp=400.0,
                         bias=100.0, v0=-60.0)
    net = izj.network([thal, exc], [], izj.Config(dt=0.5))
    rv, ru = {"thal": [0, 1], "exc": [3]}, {"thal": [2], "exc": [0, 9]}
    final, _ = izj.simulate(net, jax.random.key(2), 30, record_v=rv, record_u=ru)
    _, rec = izj.simulate(net, jax.random.key(2), 40, state=final, record_v=rv, record_u=ru)
    return net, rec


def _neo_spike_times(seg):
    """``(i, t)`` of a segment's spike trains, in rec.spike_times()'s order (time, then neuron)."""
    i = np.concatenate([np.full(len(st), st.annotations["neuron"]) for st in seg.spiketrains])
    t = np.concatenate([st.rescale("ms").magnitude for st in seg.spiketrains])
    order = np.lexsort((i, t))
    return i[order], t[order]


# --- Neo -------------------------------------------------------------------------------------


def test_neo_round_trip_fig3(fig3):
    params, rec = fig3
    seg = rec.to_neo(params)
    assert isinstance(seg, neo.Segment) and len(seg.spiketrains) == rec.n == 1000
    counts = np.array([len(st) for st in seg.spiketrains])
    np.testing.assert_array_equal(counts, np.asarray(rec.counts))
    i, t = rec.spike_times()
    i2, t2 = _neo_spike_times(seg)
    assert i.size > 1000 and np.array_equal(i2, i) and np.array_equal(t2, t)   # bit for bit
    a = np.asarray(params.a)
    for j in (0, 799, 800, 999):
        st = seg.spiketrains[j]
        assert st.units == pq.ms and st.dimensionality.string == "ms" and st.dtype == np.float64
        assert float(st.t_start) == 0.0 and float(st.t_stop) == N_STEPS * rec.dt
        assert st.annotations["neuron"] == j
        assert st.annotations["population"] == ("exc" if j < 800 else "inh")
        assert st.annotations["index_in_population"] == (j if j < 800 else j - 800)
        assert st.annotations["model"] == "Izhikevich2003"
        assert st.annotations["model_settings"] == \
            "Izhikevich2003(inclusive=True, v_peak=30.0, horner=False)"
        assert st.annotations["a"] == a[j] and st.annotations["d"] == np.asarray(params.d)[j]
        assert st.annotations["noise_amp"] == np.asarray(params.noise_amp)[j]
        assert np.array_equal(st.magnitude, t[i == j])

    v, u = seg.analogsignals
    assert v.name == "v" and v.units == pq.mV and v.shape == (N_STEPS, 3)
    np.testing.assert_array_equal(v.magnitude, np.asarray(rec.v))
    np.testing.assert_array_equal(v.array_annotations["neuron"], [0, 5, 850])
    assert list(v.array_annotations["population"]) == ["exc", "exc", "inh"]
    assert v.annotations["neurons"] == [0, 5, 850]
    np.testing.assert_allclose(v.times.rescale("ms").magnitude, rec.times, rtol=0, atol=1e-9)
    assert float(v.sampling_period.rescale("ms")) == rec.dt
    assert u.name == "u" and u.units == pq.mV / pq.ms
    np.testing.assert_array_equal(u.magnitude, np.asarray(rec.u))
    np.testing.assert_array_equal(u.array_annotations["neuron"], [0, 900])

    ann = seg.annotations
    assert float(ann["dt"].rescale("ms")) == 1.0 and ann["t0"] == 0 and ann["n_steps"] == N_STEPS
    assert ann["populations"] == ["exc", "inh"]
    assert ann["population_start"] == [0, 800] and ann["population_stop"] == [800, 1000]
    assert ann["config"] == repr(params.config) and ann["config_integrator"] == "Euler()"
    assert ann["config_n_exc"] == "800" and ann["diverged_at"] == -1


def test_neo_resumed_run_two_models(mixed):
    net, rec = mixed
    assert int(rec.t0) == 30 and rec.dt == 0.5
    seg = izj.Recording.to_neo(rec, net)
    i, t = rec.spike_times()
    i2, t2 = _neo_spike_times(seg)
    assert i.size > 0 and np.array_equal(i2, i) and np.array_equal(t2, t)
    st = seg.spiketrains[6]                                   # exc[0], an Izhikevich2007 cell
    assert float(st.t_start) == 15.0 and float(st.t_stop) == 35.0
    assert st.annotations["population"] == "exc" and st.annotations["model"] == "Izhikevich2007"
    assert st.annotations["C"] == 100.0 and st.annotations["bias"] == 100.0
    assert "C" not in seg.spiketrains[0].annotations            # a 2003 cell has no C
    v, u_thal, u_exc = seg.analogsignals
    np.testing.assert_array_equal(v.array_annotations["neuron"], [0, 1, 9])
    assert float(v.t_start.rescale("ms")) == 15.0
    assert u_thal.units == pq.mV / pq.ms and u_exc.units == pq.pA
    np.testing.assert_array_equal(u_thal.array_annotations["neuron"], [2])
    np.testing.assert_array_equal(u_exc.array_annotations["neuron"], [6, 15])
    np.testing.assert_array_equal(np.hstack([u_thal.magnitude, u_exc.magnitude]), np.asarray(rec.u))
    assert seg.annotations["models"][1] == repr(izj.Izhikevich2007())


def test_neo_without_params_and_refusals(fig3, mixed):
    params, rec = fig3
    seg = interchange.to_neo(rec)
    assert "model" not in seg.spiketrains[0].annotations and "config" not in seg.annotations
    assert seg.analogsignals[1].units == pq.dimensionless
    net, _ = mixed
    with pytest.raises(ValueError, match="do not match"):
        interchange.to_neo(rec, net)
    _, counts_only = izj.simulate(net, jax.random.key(0), 5, record_spikes=False)
    with pytest.raises(ValueError, match="record_spikes=True"):
        counts_only.to_neo()


def test_missing_packages_name_the_extra(fig3, tmp_path, monkeypatch, capsys):
    _, rec = fig3
    monkeypatch.setitem(sys.modules, "neo", None)           # import neo -> ImportError
    with pytest.raises(ImportError, match=r'pip install "izhijax\[neo\]"'):
        rec.to_neo()
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ImportError, match=r'pip install "izhijax\[nwb\]"'):
        interchange.to_nwb(tmp_path / "x.nwb", rec)
    with pytest.raises(ImportError, match=r'pip install "izhijax\[nwb\]"'):
        interchange.from_nwb(tmp_path / "x.nwb")
    from izhijax import cli                                 # refused before simulating
    assert cli.main(["fig3", "--nwb", str(tmp_path / "x.nwb"),
                     "--out", str(tmp_path / "f.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("izhijax: error:") and 'pip install "izhijax[nwb]"' in err
    assert os.listdir(tmp_path) == []


# --- NWB -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_nwb_round_trip_fig3(fig3, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    params, rec = fig3
    path = tmp_path / "fig3.nwb"
    assert interchange.to_nwb(path, rec, params, identifier="fig3-test") == path
    assert os.listdir(tmp_path) == ["fig3.nwb"]                # no temporary file left
    assert pynwb.validate(path=str(path)) == []                # schema-valid NWB
    i, t = rec.spike_times()
    with pynwb.NWBHDF5IO(str(path), mode="r") as io:           # read by pynwb itself
        nwb = io.read()
        assert nwb.identifier == "fig3-test"
        units = nwb.units
        np.testing.assert_array_equal(units.id[:], np.arange(1000))
        for j in (0, 1, 799, 800, 999):
            np.testing.assert_array_equal(units.get_unit_spike_times(j), t[i == j] * 1e-3)
            assert units["population"][j] == ("exc" if j < 800 else "inh")
            assert units["a"][j] == np.asarray(params.a)[j]
            np.testing.assert_array_equal(units["obs_intervals"][j], [[0.0, 1.0]])
        n_back = sum(len(units.get_unit_spike_times(j)) for j in range(1000))
        assert n_back == i.size == int(np.asarray(rec.counts).sum())
        v = nwb.acquisition["v"]
        assert v.unit == "volts" and v.conversion == 1e-3 and v.rate == 1000.0
        np.testing.assert_array_equal(v.data[:], np.asarray(rec.v))
        assert json.loads(v.comments)["neurons"] == [0, 5, 850]
        assert nwb.acquisition["u"].unit == "volts/second"
        meta = json.loads(nwb.notes)
        assert meta["dt_ms"] == 1.0 and meta["populations"] == [["exc", 0, 800], ["inh", 800, 1000]]
        assert meta["config"]["n_exc"] == "800"
    back = interchange.from_nwb(path)
    i2, t2 = back.spike_times()
    assert np.array_equal(i2, i) and np.array_equal(t2, t)     # ms recovered bit for bit
    assert back.population[799] == "exc" and back.population[800] == "inh"
    np.testing.assert_array_equal(back.v, np.asarray(rec.v))
    np.testing.assert_array_equal(back.v_index, [0, 5, 850])


def test_nwb_resumed_two_models_and_atomic_write(mixed, tmp_path, monkeypatch):
    pynwb = pytest.importorskip("pynwb")
    net, rec = mixed
    path = tmp_path / "run.nwb"
    interchange.to_nwb(path, rec, net)
    i, t = rec.spike_times()
    back = interchange.from_nwb(path)
    i2, t2 = back.spike_times()
    assert np.array_equal(i2, i) and np.array_equal(t2, t)
    assert back.meta["t0"] == 30 and back.meta["dt_ms"] == 0.5
    with pynwb.NWBHDF5IO(str(path), mode="r") as io:
        nwb = io.read()
        assert set(nwb.acquisition) == {"v", "u_mV_per_ms", "u_pA"}
        assert nwb.acquisition["u_pA"].unit == "amperes"
        assert nwb.acquisition["v"].starting_time == 0.015
        assert np.isnan(nwb.units["C"][0]) and nwb.units["C"][6] == 100.0
    before = path.read_bytes()

    def crash(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        interchange.to_nwb(path, rec, net)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.nwb"]


@pytest.mark.slow
def test_cli_fig3_nwb(tmp_path, capsys):
    pytest.importorskip("pynwb")
    exe = os.path.join(os.path.dirname(sys.executable), "izhijax")
    out, nwb = tmp_path / "f.png", tmp_path / "run.nwb"
    r = subprocess.run([exe, "fig3", "--duration", "100", "--out", str(out), "--nwb", str(nwb)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"nwb             {nwb}" in r.stdout
    spikes = int(r.stdout.split("spikes")[1].split()[0])
    back = interchange.from_nwb(nwb)
    assert sum(len(x) for x in back.times) == spikes > 0 and back.meta["n_steps"] == 100
    from izhijax import cli
    with pytest.raises(SystemExit) as bad:
        cli.main(["fig3", "--nwb", str(tmp_path / "run.h5")])
    err = capsys.readouterr().err
    assert bad.value.code == 2 and err.startswith("izhijax: error:")
    assert "expected a .nwb file name" in err and len(err.splitlines()) == 1


# --- Elephant on the exported spike trains ------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity is deprecated")  # elephant's
def test_elephant_agrees_with_izhijax_on_fig3(fig3):
    pytest.importorskip("elephant")
    from elephant.spectral import welch_psd
    from elephant.statistics import cv, isi, mean_firing_rate, time_histogram
    params, rec = fig3
    seg = rec.to_neo(params)
    trains = seg.spiketrains
    i, t = rec.spike_times()
    numbers = {}

    # Firing rates: Elephant's count / (t_stop - t_start) against izj.firing_rates.
    rates = np.array([float(mean_firing_rate(st).rescale("Hz")) for st in trains])
    ours = np.asarray(izj.firing_rates(rec))
    np.testing.assert_allclose(rates, ours, rtol=1e-12, atol=0)
    numbers["rate_exc_hz"] = (rates[:800].mean(), ours[:800].mean())
    numbers["rate_inh_hz"] = (rates[800:].mean(), ours[800:].mean())

    # ISI coefficient of variation (std / mean, ddof 0) against NumPy on rec.spike_times().
    cvs_e, cvs_np = [], []
    for j, st in enumerate(trains):
        if len(st) < 3:
            continue
        cvs_e.append(float(cv(isi(st).magnitude)))
        d = np.diff(t[i == j])
        cvs_np.append(d.std() / d.mean())
    cvs_e, cvs_np = np.array(cvs_e), np.array(cvs_np)
    assert cvs_e.size > 900
    np.testing.assert_allclose(cvs_e, cvs_np, rtol=1e-12, atol=0)
    numbers["isi_cv_mean"] = (cvs_e.mean(), cvs_np.mean(), cvs_e.size)

    # Population rate of the excitatory neurons: Elephant's time histogram in bins of dt, picked
    # by the spike trains' population annotation, against izhijax's per-step population counts.
    exc = [st for st in trains if st.annotations["population"] == "exc"]
    assert len(exc) == 800
    dt = rec.dt * pq.ms
    counts = time_histogram(exc, bin_size=dt, output="counts")
    np.testing.assert_array_equal(counts.magnitude[:, 0], np.asarray(rec.pop_counts)[:, 0])
    rate = time_histogram(exc, bin_size=dt, output="rate").rescale("Hz")
    assert rate.shape == (N_STEPS, 1) and float(rate.sampling_period.rescale("ms")) == rec.dt
    ours_rate = np.asarray(izj.population_rate(rec, "exc"))
    np.testing.assert_allclose(rate.magnitude[:, 0], ours_rate, rtol=1e-12, atol=1e-9)

    # Spectrum: Welch with one segment of the whole run, izhijax's window (the symmetric Hann of
    # np.hanning; a list, as elephant compares a string name with ==) and mean removal is
    # izhijax's periodogram up to the one-sided density scale (2 / (fs sum w^2)) on the inner bins.
    w = np.hanning(N_STEPS)
    freqs, psd = welch_psd(rate, len_segment=N_STEPS, overlap=0.0, window=w.tolist(),
                           detrend="constant")
    freqs, psd = np.asarray(freqs.rescale("Hz")), np.asarray(psd)[0]
    f_izj, p_izj = map(np.asarray, izj.power_spectrum(ours_rate, rec.dt))
    np.testing.assert_allclose(freqs, f_izj, rtol=1e-12, atol=0)      # same binning: 1 Hz
    fs = 1000.0 / rec.dt
    scale = 2.0 / (fs * np.sum(w ** 2))
    np.testing.assert_allclose(psd[1:-1], scale * p_izj[1:-1], rtol=1e-9,
                               atol=1e-12 * psd.max())
    band = (freqs >= 2.0) & (freqs <= 200.0)
    peak_elephant = freqs[band][np.argmax(psd[band])]
    peak_izj = float(izj.rhythm_frequency(ours_rate, rec.dt))
    assert peak_elephant == peak_izj == izj.summary(rec)["rhythm_hz"]
    # Elephant's default window (the periodic Hann of scipy) finds the same rhythm.
    _, psd_default = welch_psd(rate, len_segment=N_STEPS, overlap=0.0)
    peak_default = freqs[band][np.argmax(np.asarray(psd_default)[0][band])]
    assert abs(peak_default - peak_izj) <= 1.0                        # within one 1 Hz bin
    numbers["rhythm_hz"] = (peak_elephant, peak_izj, peak_default)
    print("\nElephant vs izhijax on the Fig. 3 network:", numbers)
