"""simulate: determinism, chunking and resuming, jit caching, the scan equals a loop of step."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src.engine import run_jit


@pytest.fixture(scope="module")
def params():
    return izj.izhikevich2003(jax.random.key(0), dtype=jnp.float64)


def _bits(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _assert_same(a, b):
    for x, y in zip(_bits(a), _bits(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_same_key_same_bits_different_key_different_spikes(params):
    f1, r1 = izj.simulate(params, jax.random.key(5), 300, record_v=[0, 900], record_u=[3])
    f2, r2 = izj.simulate(params, jax.random.key(5), 300, record_v=[0, 900], record_u=[3])
    _assert_same((f1, r1), (f2, r2))
    _, r3 = izj.simulate(params, jax.random.key(6), 300)
    assert not np.array_equal(np.asarray(r1.spikes), np.asarray(r3.spikes))


def test_two_chunks_and_a_resumed_run_equal_one_run(params):
    key = jax.random.key(11)
    full_state, full = izj.simulate(params, key, 1000, record_v=[0, 1], record_u=[0])
    s1, a = izj.simulate(params, key, 500, record_v=[0, 1], record_u=[0])
    s2, b = izj.simulate(params, key, 500, state=s1, record_v=[0, 1], record_u=[0])
    _assert_same(full_state, s2)
    np.testing.assert_array_equal(np.asarray(full.spikes),
                                  np.concatenate([np.asarray(a.spikes), np.asarray(b.spikes)]))
    np.testing.assert_array_equal(np.asarray(full.v), np.concatenate([a.v, b.v]))
    np.testing.assert_array_equal(np.asarray(full.counts), np.asarray(a.counts + b.counts))
    assert int(b.t0) == 500 and b.times[0] == 500.0
    chunked_state, chunked = izj.simulate(params, key, 1000, chunk_size=300, record_v=[0, 1],
                                          record_u=[0], progress=True)
    _assert_same((full_state, full.spikes, full.v, full.u, full.counts, full.pop_counts),
                 (chunked_state, chunked.spikes, chunked.v, chunked.u, chunked.counts,
                  chunked.pop_counts))


def test_scan_equals_python_loop_of_step(params):
    key = jax.random.key(3)
    _, rec = izj.simulate(params, key, 50)
    step = jax.jit(izj.step)
    state, rows = izj.init_state(params), []
    for _ in range(50):
        state, s = step(state, params, key)
        rows.append(np.asarray(s) > 0)
    np.testing.assert_array_equal(np.asarray(rec.spikes), np.array(rows))


def test_new_parameter_values_do_not_recompile(params):
    key = jax.random.key(0)
    izj.simulate(params, key, 200)
    before = run_jit._cache_size()
    for scale in (0.5, 0.8, 1.3):
        changed = params.replace(weights=params.weights * scale, noise_amp=params.noise_amp * scale,
                                 bias=params.bias + scale, a=params.a * scale)
        izj.simulate(changed, jax.random.key(int(10 * scale)), 200)
    assert run_jit._cache_size() == before
    # A static setting is a new program, as it should be.
    izj.simulate(params.replace(config=izj.Config(integrator="izhikevich", n_exc=800)), key, 200)
    assert run_jit._cache_size() == before + 1


def test_compiled_loop_does_not_grow_with_n_steps(params):
    args = (params, jax.random.key(0), izj.init_state(params), None,
            jnp.zeros(1, jnp.int32), jnp.zeros(0, jnp.int32))
    # Same program text once numbers (the trip count, the recording's length) are masked.
    texts = [re.sub(r"\d+", "#", run_jit.lower(*args, n_steps=n, record_spikes=True).as_text())
             for n in (10, 10000)]
    assert texts[0] == texts[1]
    assert "while" in texts[0]


def test_raster_free_recording_keeps_counts(params):
    key = jax.random.key(2)
    _, full = izj.simulate(params, key, 300)
    _, lean = izj.simulate(params, key, 300, record_spikes=False, record_v=[])
    assert lean.spikes is None and lean.v.shape == (300, 0)
    np.testing.assert_array_equal(np.asarray(lean.counts), np.asarray(full.spikes).sum(0))
    np.testing.assert_array_equal(np.asarray(lean.pop_counts),
                                  np.stack([np.asarray(full.spikes)[:, :800].sum(1),
                                            np.asarray(full.spikes)[:, 800:].sum(1)], 1))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_steps=0), ValueError, "n_steps"),
    (dict(n_steps=2.5), ValueError, "n_steps"),
    (dict(inputs=np.zeros((9, 1000))), ValueError, r"inputs must have shape \(n_steps, n\)"),
    (dict(record_v=[1000]), ValueError, "record_v"),
    (dict(key=np.zeros(3)), TypeError, "key"),
])
def test_bad_arguments_raise_clear_errors(params, kwargs, error, match):
    call = dict(key=jax.random.key(0), n_steps=10)
    call.update(kwargs)
    with pytest.raises(error, match=match):
        izj.simulate(params, call.pop("key"), call.pop("n_steps"), **call)


def test_replace_broadcasts_and_keeps_the_compiled_program(params):
    key = jax.random.key(0)
    izj.simulate(params, key, 200)
    before = run_jit._cache_size()
    p2 = params.replace(noise_amp=3.0, bias=1.5, v0=-70.0)
    assert p2.noise_amp.shape == (1000,) and p2.bias.dtype == params.bias.dtype
    _, rec = izj.simulate(p2, key, 200)
    assert run_jit._cache_size() == before
    with pytest.raises(ValueError, match=r"bias must be a scalar or have shape \(1000,\)"):
        params.replace(bias=np.zeros(7))
    assert params.config.replace(dt=0.5).dt == 0.5


def test_spike_times_as_brian2_spikemonitor(params):
    _, rec = izj.simulate(params, jax.random.key(1), 100)
    i, t = rec.spike_times()
    raster = np.asarray(rec.spikes)
    assert len(i) == raster.sum() and np.all(np.diff(t) >= 0)
    assert raster[t.astype(int), i].all()
