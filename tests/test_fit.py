"""izhijax.fit: losses, reparametrisations, bounds, the training loop, held-out evaluation, F1 smoke,
the ``izhijax fit`` command, the memory and timing scripts in their smoke size."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import izhijax as izj

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(os.path.dirname(sys.executable), "izhijax")


def test_losses_against_numpy():
    r, t = np.array([4.0, 6.0, 21.0, 19.0]), np.array([5.0, 5.0, 20.0, 20.0])
    assert np.isclose(float(izj.fit.mse(jnp.asarray(r), t)), np.mean((r - t) ** 2))
    assert np.isclose(float(izj.fit.neuron_loss(t)(jnp.asarray(r))), np.mean(((r - t) / t) ** 2))
    net = izj.izhikevich2003(jax.random.key(0), n_exc=2, n_inh=2)
    pop = izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, net, kind="mse")
    assert np.isclose(float(pop(jnp.array([4.0, 8.0, 21.0, 23.0]))), (6 - 5) ** 2 + (22 - 20) ** 2)
    with pytest.raises(ValueError, match="loss kind"):
        izj.fit.neuron_loss(t, kind="l1")
    with pytest.raises(ValueError, match="no population 'all'"):
        izj.fit.population_loss({"all": 3.0}, net)


def test_population_parameters_identity_and_scaling():
    params = izj.izhikevich2003(jax.random.key(0), n_exc=8, n_inh=2)
    theta, build = izj.fit.population_parameters(params)
    same = build(theta)
    for name in ("weights", "noise_amp", "bias", "a", "c"):
        np.testing.assert_array_equal(np.asarray(getattr(same, name)), np.asarray(getattr(params, name)))
    p = build(dict(theta, w_exc=2.0, w_inh=0.5, noise_inh=3.0, bias_exc=1.5))
    np.testing.assert_allclose(p.weights[:, :8], 2 * params.weights[:, :8])
    np.testing.assert_allclose(p.weights[:, 8:], 0.5 * params.weights[:, 8:])
    np.testing.assert_allclose(p.noise_amp, [5.0] * 8 + [6.0] * 2)
    np.testing.assert_allclose(p.bias, [1.5] * 8 + [0.0] * 2)
    with pytest.raises(ValueError, match="unknown population parameters"):
        izj.fit.population_parameters(params, ("gain",))
    theta, build = izj.fit.field_parameters(params, ("a", "d"))
    assert set(theta) == {"a", "d"} and build(dict(theta, a=theta["a"] * 2)).a[0] == 0.04
    with pytest.raises(ValueError, match="cannot be fitted"):
        izj.fit.field_parameters(params, ("config",))


def test_projection_keeps_parameters_physical():
    theta = {"a": jnp.array([-0.1, 0.02]), "b": jnp.array(0.0), "w_exc": jnp.array(-2.0),
             "noise_amp": jnp.array([-1.0, 3.0]), "c": jnp.array(-80.0)}
    p = izj.fit.project(theta)
    np.testing.assert_array_equal(np.asarray(p["a"]), [1e-4, 0.02])
    assert float(p["b"]) == 1e-4 and float(p["w_exc"]) == 0.0 and float(p["c"]) == -80.0
    np.testing.assert_array_equal(np.asarray(p["noise_amp"]), [0.0, 3.0])


def test_evaluate_is_the_plain_simulator():
    params = izj.izhikevich2003(jax.random.key(0), n_exc=40, n_inh=10)
    keys = jax.random.split(jax.random.key(1), 2)
    rates = izj.fit.evaluate(params, keys, 300)
    _, rec = izj.simulate(params, keys[1], 300)
    np.testing.assert_allclose(rates[1], np.asarray(izj.firing_rates(rec)))


@pytest.mark.slow
def test_fit_reaches_population_targets_on_held_out_keys():
    params = izj.izhikevich2003(jax.random.key(3), n_exc=80, n_inh=20)
    theta, build = izj.fit.population_parameters(params, ("bias_exc", "bias_inh", "w_inh"))
    targets = {"exc": 12.0, "inh": 30.0}
    loss = izj.fit.population_loss(targets, params)
    held_out = jax.random.split(jax.random.key(99), 6)
    pops = lambda r: np.array([r[:, :80].mean(), r[:, 80:].mean()])
    err = lambda p: np.abs(pops(izj.fit.evaluate(p, held_out, 500)) / [12.0, 30.0] - 1)
    before = err(params)
    result = izj.fit.fit(theta, build, loss, optax.adam(0.2), jax.random.key(5), 500, n_iters=60,
                         batch=2, progress=False)
    after = err(result.params)
    assert before.min() > 0.3 and after.max() < 0.15, (before, after)
    h = result.history
    assert h["loss"].shape == (60,) and h["rates"].shape == (60, 100)
    assert h["theta"]["w_inh"].shape == (60,) and float(h["theta"]["w_inh"][0]) == 1.0
    assert h["loss"][-5:].mean() < 0.2 * h["loss"][:5].mean()


def test_fit_stops_at_tol_and_projects():
    params = izj.izhikevich2003(jax.random.key(3), n_exc=8, n_inh=2)
    theta, build = izj.fit.population_parameters(params, ("noise_exc",))
    # A huge learning rate pushes the noise scale below zero: the projection clips it at 0.
    result = izj.fit.fit(theta, build, izj.fit.population_loss({"exc": 0.5}, params),
                         optax.sgd(1e3), jax.random.key(0), 100, n_iters=3, progress=False)
    assert float(result.theta["noise_exc"]) >= 0.0
    result = izj.fit.fit(theta, build, izj.fit.population_loss({"exc": 1e3}, params), optax.adam(0.1),
                         jax.random.key(0), 50, n_iters=10, progress=True, tol=1e9)
    assert result.history["loss"].shape == (1,)


def test_f1_smoke(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import fit_population
    numbers = fit_population.run(str(tmp_path), smoke=True, progress=False)
    saved = json.loads((tmp_path / "fit_population.json").read_text())
    assert saved["optimizer_steps"] == numbers["optimizer_steps"] == 5
    assert len(saved["rates_after_per_key_hz"]["exc"]) == 10
    assert (tmp_path / "fit_population.png").read_bytes()[:4] == b"\x89PNG"


def _cli(*args):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_fit(tmp_path):
    out, js = tmp_path / "fit.png", tmp_path / "fit.json"
    r = _cli("fit", "--neurons", "50", "--duration", "200", "--iters", "3", "--no-progress",
             "--out", str(out), "--json", str(js))
    assert r.returncode == 0, r.stderr
    for word in ("optimizer steps", "before", "after", "fitted", "w_exc"):
        assert word in r.stdout
    saved = json.loads(js.read_text())
    assert saved["optimizer_steps"] == 3 and len(saved["loss"]) == 3
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args", [
    ("fit", "--exc", "-5"), ("fit", "--inh", "zero"), ("fit", "--iters", "0"),
    ("fit", "--iters", "2.5"), ("fit", "--batch", "x"), ("fit", "--lr", "-1"),
    ("fit", "--out", "/no/such/folder/f.png"), ("fit", "--json", "numbers.txt"), ("fit", "--bogus"),
])
def test_cli_fit_bad_flags_one_line_exit_2(args):
    r = _cli(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("izhijax: error:"), r.stderr


@pytest.mark.slow
def test_grad_memory_script_smoke_checkpointing_needs_less(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "grad_memory.py"),
                        "--smoke", "--no-run", "--checkpoints", "none,20", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "grad_memory.json").read_text())["results"]
    assert res[0]["checkpoint"] is None and res[1]["checkpoint"] == 20
    assert res[1]["temp_bytes"] < 0.6 * res[0]["temp_bytes"], res


@pytest.mark.slow
def test_grad_timing_script_smoke(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "grad_timing.py"),
                        "--smoke", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "grad_timing.json").read_text())
    assert res["grad_step_s"] > 0 and res["forward_run_s"] > 0


@pytest.mark.slow
def test_f2_and_f3_smoke(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import fit_fi_curve
    import fit_neurons
    f2 = fit_neurons.run(str(tmp_path), smoke=True, progress=False)
    assert f2["optimizer_steps"] == 5 and f2["n"] == 100
    assert f2["after"]["median_relative_error"] < f2["before"]["median_relative_error"]
    f3 = fit_fi_curve.run(str(tmp_path), smoke=True, progress=False)
    assert set(f3["cells"]) == {"RS", "IB", "CH", "FS", "LTS"}
    for cell, r in f3["cells"].items():
        assert r["start_from"] != cell and cell not in r["start_labels"]
        assert r["start"] != r["true"] and len(r["fitted_rates_hz"]) == 4
        # The error tracked from the differentiable run's exact counts is the plain simulator's.
        err = np.abs(np.subtract(r["fitted_rates_hz"], r["target_rates_hz"])).max()
        assert err == r["max_abs_error_hz"]
        assert np.isclose(err, min(r["max_abs_error_hz_per_start"]))
        assert all(b <= a for a, b in zip(r["max_abs_error_hz_per_start_at_start"],
                                          r["max_abs_error_hz_per_start"]))
    # Gradient steps improve on the starts: summed over cells, the best error falls well below
    # the best error of any start as given.
    best_start = sum(min(r["max_abs_error_hz_per_start_at_start"]) for r in f3["cells"].values())
    fitted = sum(r["max_abs_error_hz"] for r in f3["cells"].values())
    assert fitted < 0.5 * best_start, (fitted, best_start)
    for name in ("fit_neurons", "fit_fi_curve"):
        assert json.loads((tmp_path / f"{name}.json").read_text())["smoke"] is True
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
