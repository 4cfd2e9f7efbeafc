"""Izhikevich (2004) Fig. 1: the 20 panels against a transcription of figure1.m, and their features."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy_figure1 import PANELS, figure1

import firing_patterns
from izhijax import features, patterns
from izhijax._src import neuron

LETTERS = "ABCDEFGHIJKLMNOPQRST"


@pytest.fixture(scope="module")
def traces():
    return patterns.run(dtype=jnp.float64)


def test_protocols_are_figure1m(traces):
    assert [p.label for p in patterns.PROTOCOLS] == list(LETTERS) == list(PANELS)
    for p in patterns.PROTOCOLS:
        a, b, c, d, v0, tau, T = PANELS[p.label]
        assert (p.a, p.b, p.c, p.d, p.v0, p.tau, p.T) == (a, b, c, d, v0, tau, T)


def test_same_traces_as_figure1m_transcription(traces):
    """Every panel, batched in one scan, equals the MATLAB loop run alone: inputs, spikes, voltage."""
    for tr in traces:
        t, vv, ii = figure1(tr.protocol.label)
        np.testing.assert_array_equal(tr.t, t)
        np.testing.assert_array_equal(tr.i, ii, err_msg=tr.protocol.label)
        np.testing.assert_array_equal(tr.spikes, vv >= 30, err_msg=tr.protocol.label)
        # rounding differs only in the order of operations (figure1.m's tau*a*(...) against
        # izhijax's dt*(a*(...))); it grows on the fast upstroke of each spike and carries over
        np.testing.assert_allclose(tr.v, vv, rtol=1e-3, atol=1e-6, err_msg=tr.protocol.label)
        assert np.abs(tr.v - vv).max() < 0.05


def test_batch_equals_each_panel_alone(traces):
    """Padding to the longest protocol and freezing after the end do not touch a panel's run."""
    for label in "AKQR":                                   # 100, 400 (longest), 50, 400 ms
        alone = patterns.run([label], dtype=jnp.float64)[0]
        batched = traces[LETTERS.index(label)]
        np.testing.assert_array_equal(alone.spikes, batched.spikes)
        np.testing.assert_allclose(alone.v, batched.v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_all_20_show_their_feature(dtype):
    for tr in patterns.run(dtype=dtype):
        assert features.shows(tr.protocol.name, tr), (tr.protocol.label, tr.spike_times)


def test_tonic_phasic_spiking_bursting_exclusive(traces):
    """Panels A-D: exactly one of the four tonic/phasic x spiking/bursting criteria holds."""
    quadrant = ("tonic spiking", "phasic spiking", "tonic bursting", "phasic bursting")
    for tr in traces[:4]:
        found = [f for f in quadrant if features.shows(f, tr)]
        assert found == [tr.protocol.name], (tr.protocol.label, found)


def test_wrong_neuron_told_apart():
    """A panel's protocol with another neuron (e.g. RS under the bursting protocol) is not the feature."""
    told_apart = []
    for (panel, other, why), tr in zip(firing_patterns.CONTRASTS,
                                        patterns.run(firing_patterns.contrast_protocols())):
        assert not features.shows(tr.protocol.name, tr), (panel, other, why, tr.spike_times)
        told_apart.append(panel)
    assert len(set(told_apart)) >= 5
    # the paper's pairs turn into each other
    pairs = {("M", "N"): "rebound burst", ("N", "M"): "rebound spike", ("D", "TC"): "phasic spiking",
             ("S", "T"): "inhibition-induced bursting", ("T", "S"): "inhibition-induced spiking",
             ("H", "TC"): "Class 1 excitable", ("C", "RS"): "tonic spiking"}
    for (panel, other), feature in pairs.items():
        p = patterns.protocol(panel).with_neuron(*firing_patterns.neuron_of(other))
        assert features.shows(feature, patterns.run([p])[0]), (panel, other, feature)


def test_one_compiled_program_new_values_do_not_retrace():
    traced = []

    def counted(b):
        traced.append(1)
        return patterns.integrate_batch(b)

    run = jax.jit(counted)
    b = patterns.batch(patterns.PROTOCOLS)
    v1 = run(b)[0]
    v2 = run(dataclasses.replace(b, c=b.c + 1.0, inputs=b.inputs * 1.1))[0]
    assert len(traced) == 1 and v1.shape == (1601, 20) and not np.array_equal(v1, v2)


def test_surrogate_gradient_through_all_panels():
    b = patterns.batch(patterns.PROTOCOLS)
    grad = jax.grad(lambda d: patterns.integrate_batch(dataclasses.replace(b, d=d))[2].sum())(b.d)
    assert grad.shape == (20,) and np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_equation_coefficients_default_to_2003():
    key = jax.random.key(0)
    v = -80 + 60 * jax.random.uniform(key, (50,), jnp.float64)
    u = -15 + 5 * jax.random.uniform(jax.random.fold_in(key, 1), (50,), jnp.float64)
    args = (v, u, 3.0, 0.02, 0.2, 0.25)
    for method in neuron.INTEGRATORS:
        base = neuron.integrate(*args, method)
        same = neuron.integrate(*args, method, k1=5.0, k0=140.0, leak=1.0, v_shift=0.0)
        np.testing.assert_array_equal(np.asarray(base), np.asarray(same))
    # accommodation's u' = a b (v + 65)
    np.testing.assert_allclose(neuron.dudt(v, u, 0.02, 1.0, leak=0.0, v_shift=65.0),
                               0.02 * (v + 65.0), rtol=1e-15)
    with pytest.raises(TypeError):
        neuron.integrate(*args, "euler", k2=1.0)


def test_bursts_epochs_helpers():
    groups = features.bursts([10, 12, 14, 40, 60, 61])
    assert [g.tolist() for g in groups] == [[10, 12, 14], [40], [60, 61]]
    t = np.arange(11.0)
    i = np.array([0, 0, 1, 1, 0, 0, -2, -2, -1, 0, 0.0])
    assert features.epochs(t, i) == [(2.0, 3.0, 1.0), (6.0, 8.0, -2.0)]


def test_protocol_lookup():
    assert patterns.protocol("c") is patterns.protocol("Tonic Bursting") is patterns.PROTOCOLS[2]
    with pytest.raises(ValueError, match="unknown pattern"):
        patterns.protocol("Z")
    with pytest.raises(ValueError, match="unknown feature"):
        features.shows("bursting", patterns.run(["A"])[0])


def test_experiment_smoke(tmp_path):
    assert firing_patterns.main(["--smoke", "--out-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "firing_patterns.json").read_text())
    assert result["all_classified"] and len(result["panels"]) == 20
    assert result["contrasts_told_apart"] == len(firing_patterns.CONTRASTS)
    assert (tmp_path / "firing_patterns.png").read_bytes()[:4] == b"\x89PNG"


EXE = os.path.join(os.path.dirname(sys.executable), "izhijax")


@pytest.mark.slow
def test_cli_patterns(tmp_path):
    out = tmp_path / "patterns.png"
    r = subprocess.run([EXE, "patterns", "--out", str(out)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("shows the feature") == 20 and "DOES NOT" not in r.stdout
    assert out.stat().st_size > 20_000 and out.read_bytes()[:4] == b"\x89PNG"
    for args in (("patterns", "--out", "p.jpg"), ("patterns", "--seed", "1"),
                 ("patterns", "--out", "/no/such/folder/p.png")):
        r = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("izhijax: error:")


def test_no_stimulus_no_feature():
    """Every feature is a response to its protocol: with the input held at 0 none is found."""
    flat = [p._replace(current=lambda t: 0.0 * t) for p in patterns.PROTOCOLS]
    for tr in patterns.run(flat, dtype=jnp.float64):
        assert features.classify(tr) == [], (tr.protocol.label, tr.spike_times)
