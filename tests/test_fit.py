"""izhijax.fit: losses, reparametrisations, bounds, the training loop, held-out evaluation, F1 smoke,
the ``izhijax fit`` command, the memory and timing scripts in their smoke size."""

import json
import os
import re
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
        np.testing.assert_array_equal(izj.connectivity.to_dense(getattr(same, name)),
                                      izj.connectivity.to_dense(getattr(params, name)))
    p = build(dict(theta, w_exc=2.0, w_inh=0.5, noise_inh=3.0, bias_exc=1.5))
    w, w0 = izj.connectivity.to_dense(p.weights), izj.connectivity.to_dense(params.weights)
    np.testing.assert_allclose(w[:, :8], 2 * w0[:, :8])
    np.testing.assert_allclose(w[:, 8:], 0.5 * w0[:, 8:])
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


@pytest.mark.slow
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


@pytest.fixture(scope="module")
def tiny():
    params = izj.izhikevich2003(jax.random.key(3), n_exc=8, n_inh=2)
    theta, build = izj.fit.population_parameters(params, ("bias_exc", "w_exc"))
    return params, theta, build, izj.fit.population_loss({"exc": 5.0}, params)


def _no_simulation(*args, **kwargs):
    raise AssertionError("a simulation ran: the bad argument was not caught at entry")


BAD_FITS = [
    # (id, changes to a good call, error, message fragment)
    ("n_steps fractional", dict(n_steps=10.5), ValueError,
     r"^n_steps must be a positive integer, got 10.5$"),
    ("n_steps float", dict(n_steps=10.0), ValueError, r"n_steps must be a positive integer"),
    ("n_steps 0", dict(n_steps=0), ValueError, r"n_steps must be a positive integer, got 0"),
    ("n_steps past int32", dict(n_steps=2**31), ValueError,
     r"^n_steps must be at most 2147483647 \(a run's step index is int32\), got 2147483648$"),
    ("n_iters 0", dict(n_iters=0), ValueError, r"^n_iters must be a positive integer, got 0$"),
    ("n_iters float", dict(n_iters=2.5), ValueError, r"n_iters must be a positive integer"),
    ("batch 0", dict(batch=0), ValueError, r"^batch must be a positive integer, got 0$"),
    ("batch True", dict(batch=True), ValueError, r"batch must be a positive integer, got True"),
    ("checkpoint 0", dict(checkpoint=0), ValueError, r"checkpoint must be a positive integer"),
    ("key int", dict(key=3), TypeError, r"key must be a PRNG key"),
    ("theta nan", dict(theta={"bias_exc": jnp.nan, "w_exc": 1.0}), ValueError,
     r"^theta\['bias_exc'\] must be finite, got nan"),
    ("theta inf array", dict(theta={"bias_exc": jnp.array([0.0, jnp.inf]), "w_exc": 1.0}),
     ValueError, r"theta\['bias_exc'\] must be finite, got inf at index \(1,\)"),
    ("theta int", dict(theta={"bias_exc": jnp.array(0), "w_exc": 1.0}), TypeError,
     r"theta\['bias_exc'\] must be a floating array \(write 1.0, not 1\), got dtype int"),
    ("theta mixed dtypes", dict(theta={"bias_exc": jnp.zeros((), jnp.float32),
                                       "w_exc": jnp.ones((), jnp.float64)}), TypeError,
     r"theta must have one floating dtype, got theta\['bias_exc'\] float32 and "
     r"theta\['w_exc'\] float64"),
    ("theta text", dict(theta={"bias_exc": "zero", "w_exc": 1.0}), TypeError,
     r"theta\['bias_exc'\] must be an array of numbers, got str"),
    ("theta list", dict(theta=[0.0, 1.0]), TypeError, r"theta must be a dict name -> array"),
    ("theta empty", dict(theta={}), ValueError, r"theta must hold at least one array"),
    ("bounds nan", dict(bounds={"w_exc": (np.nan, None)}), ValueError,
     r"bounds\['w_exc'\] low must be finite or None \(open\), got nan"),
    ("bounds crossed", dict(bounds={"w_exc": (2.0, 1.0)}), ValueError,
     r"bounds\['w_exc'\] must have low <= high, got \(2.0, 1.0\)"),
    ("bounds not a pair", dict(bounds={"w_exc": 0.0}), ValueError,
     r"bounds\['w_exc'\] must be a pair \(low, high\)"),
    ("bounds list", dict(bounds=[("w_exc", 0.0, None)]), TypeError, r"bounds must be a dict"),
    ("optimizer factory", dict(optimizer=optax.adam), TypeError,
     r"optimizer must be an optax.GradientTransformation \(e.g. optax.adam\(0.05\)\), "
     r"got function"),
    ("loss not callable", dict(loss=5.0), TypeError, r"loss must be a function, got float"),
    ("loss not scalar", dict(loss=lambda rates: rates * 2), ValueError,
     r"loss must return a scalar for rates of shape \(10,\), got shape \(10,\)"),
    ("build not a network", dict(build=lambda theta: theta), TypeError,
     r"build\(theta\) must return an izhijax.Network, got dict"),
    ("tol nan", dict(tol=float("nan")), ValueError, r"tol must be a number or None, got nan"),
    ("summary not callable", dict(summary="rate"), TypeError, r"summary must be a function"),
]


@pytest.mark.parametrize("case, change, error, fragment", BAD_FITS, ids=[c[0] for c in BAD_FITS])
def test_fit_checks_every_argument_at_entry(tiny, monkeypatch, case, change, error, fragment):
    """Each bad argument raises its documented error before anything is simulated; a NaN in theta
    no longer returns all-NaN parameters silently."""
    from izhijax._src import fit as fit_module
    monkeypatch.setattr(fit_module, "simulate", _no_simulation)
    params, theta, build, loss = tiny
    call = dict(theta=theta, build=build, loss=loss, optimizer=optax.adam(0.1),
                key=jax.random.key(0), n_steps=20, n_iters=2, progress=False)
    call.update(change)
    with pytest.raises(error) as info:
        izj.fit.fit(call.pop("theta"), call.pop("build"), call.pop("loss"), call.pop("optimizer"),
                    call.pop("key"), call.pop("n_steps"), **call)
    assert info.type is error
    assert re.search(fragment, str(info.value)), str(info.value)


def test_python_numbers_in_theta_take_the_arrays_dtype(tiny):
    params, theta, build, loss = tiny
    result = izj.fit.fit({"bias_exc": 0.5, "w_exc": jnp.ones((), jnp.float64)}, build, loss,
                         optax.adam(0.1), jax.random.key(0), 20, n_iters=1, progress=False)
    assert result.theta["bias_exc"].dtype == jnp.float64
    assert result.history["theta"]["bias_exc"][0] == 0.5


def _lr(count):
    """0.1 for two optimizer steps, then infinite: the third update makes theta non-finite."""
    return jnp.where(count >= 2, jnp.inf, 0.1)


@pytest.mark.slow
def test_non_finite_update_stops_with_the_last_finite_parameters(tiny):
    params, theta, build, loss = tiny
    from izhijax._src.fit import FitDivergenceError
    with pytest.raises(FitDivergenceError) as info:
        izj.fit.fit(theta, build, loss, optax.sgd(_lr), jax.random.key(0), 30, n_iters=10,
                    progress=False)
    err = info.value
    assert isinstance(err, FloatingPointError) and err.iteration == 2
    assert re.match(r"fit stopped at iteration 2: the update made theta\['(bias|w)_exc'\] "
                    r"non-finite; the last finite parameters are in the error's result", str(err))
    h = err.result.history
    assert h["loss"].shape == (2,) and h["rates"].shape == (2, 10)
    assert h["theta"]["w_exc"].shape == (2,)
    assert all(np.isfinite(float(v)) for v in err.result.theta.values())
    # The result's theta is the one the failing update started from: the same two steps again.
    again = izj.fit.fit(theta, build, loss, optax.sgd(_lr), jax.random.key(0), 30, n_iters=2,
                        progress=False)
    for k in theta:
        np.testing.assert_array_equal(np.asarray(err.result.theta[k]), np.asarray(again.theta[k]))
        np.testing.assert_array_equal(h["theta"][k], again.history["theta"][k])
    np.testing.assert_array_equal(h["loss"], again.history["loss"])


@pytest.mark.slow
def test_nan_loss_stops_at_once_and_nan_gradients_can_be_skipped(tiny):
    """A NaN loss stops the fit at its iteration; a NaN gradient with a finite loss stops it too,
    unless the optimizer is wrapped in optax.apply_if_finite (then the update is skipped)."""
    params, theta, build, loss = tiny
    nan_loss = lambda rates: jnp.mean(rates) * jnp.nan
    with pytest.raises(FloatingPointError, match=r"^fit stopped at iteration 0: the loss is nan;"):
        izj.fit.fit(theta, build, nan_loss, optax.adam(0.1), jax.random.key(0), 20, n_iters=3,
                    progress=False)
    # sqrt(0) has an infinite derivative: the loss is 0, its gradient is NaN.
    nan_grad = lambda rates: jnp.sqrt(jnp.abs(jnp.mean(rates) - jax.lax.stop_gradient(
        jnp.mean(rates))))
    with pytest.raises(FloatingPointError, match=r"non-finite \(the gradient is not finite\)"):
        izj.fit.fit(theta, build, nan_grad, optax.adam(0.1), jax.random.key(0), 20, n_iters=3,
                    progress=False)
    skipped = izj.fit.fit(theta, build, nan_grad, optax.apply_if_finite(optax.adam(0.1), 10),
                          jax.random.key(0), 20, n_iters=3, progress=False)
    assert skipped.history["loss"].shape == (3,)
    assert all(float(skipped.theta[k]) == float(theta[k]) for k in theta)


def test_evaluate_and_rates_of_check_their_arguments(tiny, monkeypatch):
    params, _, _, _ = tiny
    keys = jax.random.split(jax.random.key(1), 2)
    from izhijax._src import fit as fit_module
    monkeypatch.setattr(fit_module, "simulate", _no_simulation)
    cases = [
        (lambda: izj.fit.evaluate(params, [], 20), ValueError,
         r"^keys must hold at least one PRNG key, got none$"),
        (lambda: izj.fit.evaluate(params, jax.random.key(1), 20), ValueError,
         r"keys must be several PRNG keys \(jax.random.split\(key, k\)\), got a single key"),
        (lambda: izj.fit.evaluate(params, jax.random.PRNGKey(1), 20), ValueError,
         r"got a single key"),
        (lambda: izj.fit.evaluate(params, 5, 20), TypeError, r"keys must be several PRNG keys"),
        (lambda: izj.fit.evaluate(params, [keys[0], 7], 20), TypeError,
         r"keys\[1\] must be a PRNG key"),
        (lambda: izj.fit.evaluate(params, keys, 2.5), ValueError,
         r"n_steps must be a positive integer, got 2.5"),
        (lambda: izj.fit.evaluate({"a": 1}, keys, 20), TypeError,
         r"params must be an izhijax.Network, got dict"),
        (lambda: izj.fit.evaluate(params.replace(bias=jnp.nan), keys, 20), ValueError,
         r"params.population\('exc'\).bias must be finite"),
        (lambda: izj.fit.rates_of(params, keys[0], 2.5), ValueError,
         r"n_steps must be a positive integer, got 2.5"),
        (lambda: izj.fit.rates_of(params, keys[0], 2**40), ValueError,
         r"n_steps must be at most 2147483647"),
        (lambda: izj.fit.evaluate(params, keys, 2**31), ValueError,
         r"n_steps must be at most 2147483647"),
        (lambda: izj.fit.rates_of(params, keys[0], 20, checkpoint=0), ValueError,
         r"checkpoint must be a positive integer, got 0"),
        (lambda: izj.fit.rates_of(params, 3, 20), TypeError, r"key must be a PRNG key"),
    ]
    for thunk, error, fragment in cases:
        with pytest.raises(error) as info:
            thunk()
        assert info.type is error and re.search(fragment, str(info.value)), str(info.value)


@pytest.mark.slow
def test_fit_too_large_for_memory_is_refused_before_simulating(tiny, monkeypatch):
    from izhijax._src import fit as fit_module
    from izhijax._src import memory
    params, theta, build, loss = tiny
    monkeypatch.delenv("IZHIJAX_MEMORY_CHECK", raising=False)
    monkeypatch.setattr(fit_module, "simulate", _no_simulation)
    with pytest.raises(ValueError) as info:
        izj.fit.fit(theta, build, loss, optax.adam(0.1), jax.random.key(0), 10**9, n_iters=1,
                    batch=4, progress=False)
    assert re.match(r"fit of 4 run\(s\) x 1000000000 steps per optimizer step \(10 neurons\) "
                    r"needs about [\d.]+ TiB \(residuals [\d.]+ TiB.*\); this machine has "
                    r"[\d.]+ [KMGT]iB available; use a smaller batch, fewer steps, gradient "
                    r"checkpointing", str(info.value)), str(info.value)
    # 64 KiB available: 1000 steps without checkpointing need more; checkpointing fits.
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 2**16)
    with pytest.raises(ValueError, match=r"needs about [\d.]+ KiB \(residuals"):
        izj.fit.fit(theta, build, loss, optax.adam(0.1), jax.random.key(0), 1000, n_iters=1,
                    batch=1, progress=False)
    monkeypatch.undo()
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 2**16)
    result = izj.fit.fit(theta, build, loss, optax.adam(0.1), jax.random.key(0), 1000, n_iters=1,
                         batch=1, checkpoint=32, progress=False)
    assert result.history["loss"].shape == (1,)


@pytest.mark.slow
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
