"""Validation at the boundary: every bad input raises the documented error; traced values pass."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import CASES, good_params

import izhijax as izj
from izhijax._src import validate
from izhijax._src.engine import run_jit


@pytest.mark.parametrize("case, thunk, error, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_documented_error(case, thunk, error, fragments):
    with pytest.raises(error) as info:
        thunk()
    message = str(info.value)
    assert info.type is error, f"{case}: {info.type.__name__}: {message}"
    for fragment in fragments:
        assert re.search(fragment, message), f"{case}: {fragment!r} not in {message!r}"
    assert "\n" not in message


def test_checks_run_before_compiling():
    before = run_jit._cache_size()
    for _, thunk, error, _ in CASES:
        with pytest.raises(error):
            thunk()
    assert run_jit._cache_size() == before


def test_valid_inputs_pass_unchanged():
    params = good_params()
    assert validate.check_params(params) is params
    key = jax.random.key(3)
    raw = jax.random.PRNGKey(3)
    assert validate.check_key(key) is key and validate.check_key(raw) is raw
    state = izj.init_state(params)
    assert validate.check_state(state, params) is state
    assert validate.check_n_steps(np.int64(7)) == 7
    inputs = validate.check_inputs(np.ones((3, 4)), 3, 4, jnp.float32)
    assert inputs.shape == (3, 4) and inputs.dtype == jnp.float32
    # A raw key and a typed key with the same bits give the same run.
    _, r1 = izj.simulate(params, key, 30)
    _, r2 = izj.simulate(params, jax.random.key_data(key), 30)
    np.testing.assert_array_equal(np.asarray(r1.v), np.asarray(r2.v))


@pytest.mark.slow
def test_traced_values_pass_through_jit_vmap_and_grad():
    params = good_params()
    key = jax.random.key(1)

    # make_params inside jit: shapes are checked, values (traced) are not read.
    @jax.jit
    def build(a):
        return izj.make_params(a, 0.2, -65.0, 8.0, params.weights, noise_amp=3.0).a

    np.testing.assert_array_equal(np.asarray(build(jnp.full(4, 0.03))), np.full(4, 0.03))
    with pytest.raises(ValueError, match=r"a must be a scalar or have shape \(4,\)"):
        build(jnp.ones(5))

    # simulate under vmap over traced bias values equals a loop of simulate calls.
    biases = jnp.array([0.0, 5.0, 10.0])
    batched = jax.vmap(lambda b: izj.simulate(params.replace(bias=jnp.full(4, b)), key, 100)[1]
                       .counts)(biases)
    looped = [izj.simulate(params.replace(bias=float(b)), key, 100)[1].counts for b in biases]
    np.testing.assert_array_equal(np.asarray(batched), np.stack(looped))
    assert int(batched[2].sum()) > int(batched[0].sum())

    # grad through simulate (traced params in the checks) is finite.
    def loss(bias):
        _, rec = izj.simulate(params.replace(bias=jnp.full(4, bias)), key, 100, record_v=[0])
        return jnp.mean(rec.v)

    g = jax.grad(loss)(5.0)
    assert np.isfinite(float(g)) and float(g) != 0.0


def test_no_warning_for_a_healthy_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, rec = izj.simulate(good_params(bias=5.0), jax.random.key(0), 200)
    assert int(rec.diverged_at) == -1 and not rec.diverged


def test_bad_inputs_catalogue_script(tmp_path):
    import json

    import bad_inputs
    bad_inputs.main(["--out-dir", str(tmp_path)])
    rows = json.loads((tmp_path / "bad_inputs.json").read_text())
    assert [r["case"] for r in rows] == [c[0] for c in CASES]
    assert [r["error"] for r in rows] == [c[2].__name__ for c in CASES]
    assert (tmp_path / "bad_inputs.md").read_text().count("\n") == len(CASES) + 2


def test_finite_check_reads_a_jax_array_once_and_never_hides_a_new_nan(monkeypatch):
    """The finite check remembers the JAX arrays it found finite (immutable: the same network
    passed again is not read again), forgets them with the arrays, and still refuses a NaN in
    any new array, JAX or NumPy."""
    import gc
    reads = []      # arrays read, on the host path (NumPy) or the device path (one program)
    real, flags = validate.np.isfinite, validate._finite_flags
    monkeypatch.setattr(validate.np, "isfinite", lambda x: reads.append(np.shape(x)) or real(x))
    monkeypatch.setattr(validate, "_finite_flags",
                        lambda xs: reads.extend(np.shape(x) for x in xs) or flags(xs))
    w = jnp.ones((3, 2))
    validate.check_finite({"w": w})
    validate.check_finite({"w": w})
    assert reads == [(3, 2)] and validate._known_finite(w)
    ident = id(w)
    del w
    gc.collect()
    assert ident not in validate._FINITE
    with pytest.raises(ValueError, match=r"w must be finite, got nan at index \(1, 0\)"):
        validate.check_finite({"w": jnp.ones((3, 2)).at[1, 0].set(jnp.nan)})
    host = np.ones(4)
    validate.check_finite({"h": host})
    host[2] = np.inf            # NumPy arrays can change: read on every call
    with pytest.raises(ValueError, match="h must be finite, got inf"):
        validate.check_finite({"h": host})
    params = izj.izhikevich2003(jax.random.key(0), n_exc=8, n_inh=2)
    izj.simulate(params, jax.random.key(1), 5)
    bad = params.replace(bias=params.bias.at[3].set(jnp.inf))
    with pytest.raises(ValueError, match="bias must be finite"):
        izj.simulate(bad, jax.random.key(1), 5)


def test_a_network_checked_once_is_not_checked_again_and_a_changed_one_is(monkeypatch):
    """check_params remembers a network of JAX arrays it passed (immutable); a new network, a
    leaf replaced in a population's params dict or a network with a NumPy leaf is checked
    again, and the memo leaves with the network."""
    import gc
    params = izj.izhikevich2003(jax.random.key(0), n_exc=8, n_inh=2)
    validate.check_params(params)
    assert validate._checked_before(params)
    calls = []
    real = validate.check_finite
    monkeypatch.setattr(validate, "check_finite", lambda named: calls.append(1) or real(named))
    validate.check_params(params)
    assert calls == []                                  # not checked again
    pop = params.populations[0]
    pop.params["a"] = jnp.full(8, jnp.nan, pop.params["a"].dtype)    # a dict can be changed
    with pytest.raises(ValueError, match=r"\.a must be finite"):
        izj.simulate(params, jax.random.key(1), 5)
    host = jax.tree_util.tree_map(np.asarray, izj.izhikevich2003(jax.random.key(0), n_exc=8,
                                                                  n_inh=2))   # NumPy leaves
    validate.check_params(host)
    assert not validate._checked_before(host)
    ident = id(params)
    del params, pop
    gc.collect()
    assert ident not in validate._CHECKED


def test_simulate_skips_the_memory_check_of_a_small_run_only(monkeypatch):
    """Reading the available memory costs a fraction of a small run's time: a run estimated
    below 16 MiB is not checked; a larger one still is, before compiling."""
    from izhijax._src import memory
    monkeypatch.delenv(memory.ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 2**10)
    params = izj.izhikevich2003(jax.random.key(0), n_exc=80, n_inh=20)
    izj.simulate(params, jax.random.key(1), 10)             # ~10 kB: runs
    before = run_jit._cache_size()
    with pytest.raises(ValueError, match=r"simulation of 100 neurons x 200000 steps needs about"):
        izj.simulate(params, jax.random.key(1), 200_000)     # a 20 MB raster: refused
    assert run_jit._cache_size() == before
