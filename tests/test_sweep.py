"""Sweeps: batched equals looped, sharded equals unsharded, named axes, chunking, shared weights."""

import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src.simulate import noise_block
from izhijax._src import memory
from izhijax._src import sweep as sweep_module
from izhijax._src.sweep import _batch, summaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 300
AXES = {"exc_weight_scale": [0.6, 1.3], "noise_scale": [0.8, 1.0, 1.2]}


def with_raster(rec):
    """The default summaries and the raster (module level: a hashable, reused summarize)."""
    return {**summaries(rec), "raster": rec.spikes, "pop_counts": rec.pop_counts}


@pytest.fixture(scope="module")
def fig3():
    return izj.izhikevich2003(jax.random.key(0), dtype=jnp.float64)


@pytest.fixture(scope="module")
def swept(fig3):
    return izj.sweep.run(fig3, jax.random.key(1), STEPS, AXES, trials=2, summarize=with_raster,
                         record_spikes=True)


def test_batched_equals_looped(fig3, swept):
    """Every network of the vmapped sweep spikes exactly as the unbatched simulate (dense W)."""
    keys = izj.sweep.trial_keys(jax.random.key(1), 2)
    assert swept["raster"].shape == (2, 3, 2, STEPS, 1000)
    active = 0
    for i, g in enumerate(AXES["exc_weight_scale"]):
        for j, s in enumerate(AXES["noise_scale"]):
            for k in range(2):
                p = izj.sweep.apply_values(fig3, {"exc_weight_scale": g, "noise_scale": s})
                # The reference: plain dense weights scaled column-wise, noise_amp scaled.
                dense = fig3.replace(weights=fig3.weights * jnp.where(jnp.arange(1000) < 800, g, 1.0),
                                     noise_amp=fig3.noise_amp * s)
                np.testing.assert_allclose(np.asarray(p.weights.dense()), np.asarray(dense.weights),
                                           rtol=1e-15)
                _, rec = izj.simulate(dense, keys[k], STEPS)
                np.testing.assert_array_equal(swept["raster"][i, j, k], np.asarray(rec.spikes))
                np.testing.assert_array_equal(swept["pop_counts"][i, j, k], rec.pop_counts)
                ref = izj.summary(rec)
                assert swept["spikes"][i, j, k] == ref["spikes"]
                for name in ("rate_exc", "rate_inh", "rate_all", "rhythm_hz"):
                    np.testing.assert_allclose(swept[name][i, j, k], ref[name], rtol=1e-12)
                np.testing.assert_allclose(swept["chi"][i, j, k], float(izj.synchrony(rec)),
                                           rtol=1e-12)
                active += ref["spikes"] > 0
    assert active == 12
    # The grid really varies: stronger excitation fires more than weaker at the same noise and key.
    assert np.all(swept["spikes"][1] > swept["spikes"][0])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["event", "sparse"])
def test_event_driven_and_sparse_networks_sweep_like_their_single_runs(small, fmt):
    """Weight scales of an event-driven or sparse network: the batch propagates with one
    all-synapse product, each network spikes as its single (event-driven) run (float64)."""
    weights = (izj.connectivity.event_dense(small.weights) if fmt == "event"
               else izj.wiring.from_dense(small.weights))
    p = small.replace(weights=weights)
    axes = {"exc_weight_scale": [0.7, 1.6], "inh_weight_scale": [0.5, 1.5]}
    res = izj.sweep.run(p, jax.random.key(5), 300, axes, trials=2, summarize=with_raster,
                        record_spikes=True)
    keys = izj.sweep.trial_keys(jax.random.key(5), 2)
    for i, ge in enumerate(axes["exc_weight_scale"]):
        for j, gi in enumerate(axes["inh_weight_scale"]):
            one = izj.sweep.apply_values(p, {"exc_weight_scale": ge, "inh_weight_scale": gi})
            assert isinstance(one.weights.matrix, type(weights))
            for k in range(2):
                _, rec = izj.simulate(one, keys[k], 300)
                np.testing.assert_array_equal(res["raster"][i, j, k], np.asarray(rec.spikes))
    assert np.all(res["spikes"][1] > res["spikes"][0])


def test_named_axes_and_coordinates(swept):
    assert swept.dims == ("exc_weight_scale", "noise_scale", "trial")
    assert swept.shape == (2, 3, 2)
    np.testing.assert_array_equal(swept.coords["noise_scale"], [0.8, 1.0, 1.2])
    np.testing.assert_array_equal(swept.coords["trial"], [0, 1])
    sub = swept.sel(noise_scale=1.2, trial=1)
    assert sub.dims == ("exc_weight_scale",) and sub["rate_exc"].shape == (2,)
    np.testing.assert_array_equal(sub["rate_exc"], swept["rate_exc"][:, 2, 1])
    with pytest.raises(KeyError):
        swept.sel(noise_scale=0.9)
    d = json.loads(json.dumps(swept.sel(trial=0).to_dict()))
    assert d["dims"] == ["exc_weight_scale", "noise_scale"]
    assert d["data"]["rate_exc"]["shape"] == [2, 3]
    np.testing.assert_allclose(d["data"]["rate_exc"]["values"], swept["rate_exc"][:, :, 0].ravel())


def test_synchrony_matches_definition_on_the_raster(swept):
    """Golomb's chi from counts equals chi computed from the full raster by its definition."""
    for raster in (swept["raster"][0, 0, 0], swept["raster"][1, 2, 1]):
        s = raster.astype(float)
        chi = np.sqrt(np.var(s.mean(axis=1)) / np.mean(np.var(s, axis=0)))
        rec = izj.Recording(spikes=None, v=None, u=None, counts=jnp.asarray(s.sum(0), jnp.int32),
                            pop_counts=jnp.stack([s[:, :800].sum(1), s[:, 800:].sum(1)], 1),
                            v_index=None, u_index=None, t0=0,
                            populations=(("exc", 0, 800), ("inh", 800, 1000)))
        np.testing.assert_allclose(float(izj.synchrony(rec)), chi, rtol=1e-12)
    # All neurons in lockstep: chi = 1.
    lock = np.zeros((100, 10), bool)
    lock[::7] = True
    rec = izj.Recording(spikes=None, v=None, u=None, counts=jnp.asarray(lock.sum(0)),
                        pop_counts=jnp.stack([lock.sum(1), 0 * lock.sum(1)], 1), v_index=None,
                        u_index=None, t0=0, populations=(("exc", 0, 10), ("inh", 10, 10)))
    np.testing.assert_allclose(float(izj.synchrony(rec)), 1.0, rtol=1e-12)


def _assert_same(a, b):
    """Same spike counts exactly; float summaries to rounding (a reduction's order may differ)."""
    assert a.dims == b.dims and a.data.keys() == b.data.keys()
    np.testing.assert_array_equal(a["spikes"], b["spikes"])
    for name in a.data:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12)


@pytest.fixture(scope="module")
def small():
    return izj.izhikevich2003(jax.random.key(2), n_exc=80, n_inh=20, dtype=jnp.float64)


@pytest.mark.slow
def test_chunked_equals_unchunked_and_zipped_points(small):
    axes = {"exc_weight_scale": [0.5, 1.0, 1.5, 2.0], "bias": [0.0, 1.0, 2.0]}
    whole = izj.sweep.run(small, jax.random.key(3), 200, axes, trials=2)
    chunked = izj.sweep.run(small, jax.random.key(3), 200, axes, trials=2, batch_size=5,
                            progress=True)
    _assert_same(whole, chunked)
    # One network per call: each draws its own noise (no key shared within a batch); same results.
    alone = izj.sweep.run(small, jax.random.key(3), 200, axes, trials=2, batch_size=1)
    _assert_same(whole, alone)
    assert np.all(whole["diverged_at"] == -1)
    # grid=False zips the axes into one "point" axis; each point equals the grid's cell.
    zipped = izj.sweep.run(small, jax.random.key(3), 200,
                           {"exc_weight_scale": [0.5, 2.0], "bias": [2.0, 1.0]}, grid=False,
                           trials=2)
    assert zipped.dims == ("point", "trial") and zipped["spikes"].shape == (2, 2)
    np.testing.assert_array_equal(zipped["spikes"][0], whole["spikes"][0, 2])
    np.testing.assert_array_equal(zipped["spikes"][1], whole["spikes"][3, 1])
    # A per-neuron field is set for every neuron: bias 2 fires more than bias 0.
    assert np.all(whole["spikes"][:, 2] > whole["spikes"][:, 0])


def set_inh_d(params, values):
    """A value the sweep does not name: the after-spike increment d of the inhibitory neurons."""
    lo, hi = params.span("inh")
    return params.replace(d=params.d.at[lo:hi].set(values["inh_d"]))


@pytest.mark.slow
def test_custom_apply_and_explicit_trial_keys_equal_looped(small):
    keys = jax.random.split(jax.random.key(9), 3)
    res = izj.sweep.run(small, jax.random.key(0), 150, {"inh_d": [2.0, 6.0], "noise_scale": [1.5]},
                        trials=keys, apply=set_inh_d, summarize=with_raster, record_spikes=True)
    assert res.dims == ("inh_d", "noise_scale", "trial") and res.shape == (2, 1, 3)
    for i, d in enumerate([2.0, 6.0]):
        p = small.replace(d=small.d.at[80:].set(d), noise_amp=small.noise_amp * 1.5)
        for k in range(3):
            _, rec = izj.simulate(p, keys[k], 150)
            np.testing.assert_array_equal(res["raster"][i, 0, k], np.asarray(rec.spikes))
    assert not np.array_equal(res["raster"][0], res["raster"][1])


def test_bad_values_raise(small):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="unknown sweep value"):
        izj.sweep.run(small, key, 10, {"nonsense": [1.0]})
    with pytest.raises(ValueError, match="equal length"):
        izj.sweep.run(small, key, 10, {"bias": [1.0, 2.0], "noise_scale": [1.0]}, grid=False)
    with pytest.raises(ValueError, match="1-D"):
        izj.sweep.run(small, key, 10, {"bias": [[1.0]]})


def _never(*args, **kwargs):
    raise AssertionError("a batch was compiled or run: the bad argument was not caught at entry")


def _noise_amp(params, values):
    """A value the sweep does not name: the noise amplitude of every neuron, set directly."""
    return params.replace(noise_amp=values["amp"])


def _key_array():
    return jax.random.split(jax.random.key(0), 2)


BAD_SWEEPS = [
    # (id, keyword arguments changed from a good call, error, message fragment)
    ("negative noise_amp", dict(axes={"noise_amp": [-1.0, 1.0]}), ValueError,
     r"axes\['noise_amp'\] must be >= 0 \(a noise amplitude or a factor on it\), "
     r"got -1.0 at index 0"),
    ("negative noise_scale", dict(axes={"noise_scale": [1.0, -0.5]}), ValueError,
     r"axes\['noise_scale'\] must be >= 0 .*got -0.5 at index 1"),
    ("negative population noise", dict(axes={"exc.noise_amp": [-2.0]}), ValueError,
     r"axes\['exc.noise_amp'\] must be >= 0"),
    ("negative population noise scale", dict(axes={"inh_noise_scale": [-2.0]}), ValueError,
     r"axes\['inh_noise_scale'\] must be >= 0"),
    ("apply makes noise negative", dict(axes={"amp": [-1.0, 2.0]}, apply=_noise_amp), ValueError,
     r"axes\['amp'\]: the network at amp=-1 is invalid: params.population\('exc'\)"
     r".noise_amp must be >= 0, got -1.0"),
    ("nan value", dict(axes={"bias": [1.0, np.nan]}), ValueError,
     r"axes\['bias'\] must be finite \(in the network's dtype float64\), got nan at index 1"),
    ("inf value", dict(axes={"a": [np.inf]}), ValueError, r"axes\['a'\] must be finite"),
    ("unknown name", dict(axes={"nonsense": [1.0]}), ValueError,
     r"unknown sweep value 'nonsense' in axes: expected one of \('weight_scale'"),
    ("unknown population", dict(axes={"thal.bias": [1.0]}), ValueError,
     r"unknown sweep value 'thal.bias'"),
    ("2-D values", dict(axes={"bias": [[1.0]]}), ValueError,
     r"axes\['bias'\] must be a non-empty 1-D sequence of values, got shape \(1, 1\)"),
    ("empty values", dict(axes={"bias": []}), ValueError, r"got shape \(0,\)"),
    ("text values", dict(axes={"bias": ["x"]}), TypeError,
     r"axes\['bias'\] must be a 1-D sequence of numbers"),
    ("no axes", dict(axes={}), ValueError, r"axes must be a non-empty dict"),
    ("axes a list", dict(axes=[("bias", [1.0])]), ValueError, r"axes must be a non-empty dict"),
    ("trials 0", dict(trials=0), ValueError,
     r"trials must be a positive integer, a 1-D array of typed PRNG keys or None, got 0"),
    ("trials negative", dict(trials=-3), ValueError, r"trials must be a positive integer.*got -3"),
    ("trials float", dict(trials=2.0), ValueError, r"trials must be a positive integer.*got 2.0"),
    ("trials True", dict(trials=True), ValueError, r"trials must be a positive integer.*got True"),
    ("trials raw keys", dict(trials=np.zeros((3, 2), np.uint32)), ValueError,
     r"trials must be .*typed PRNG keys.*got dtype uint32 shape \(3, 2\)"),
    ("trials 2-D keys", dict(trials=_key_array()[None]), ValueError,
     r"non-empty 1-D array of typed PRNG keys"),
    ("batch_size 0", dict(batch_size=0), ValueError,
     r"batch_size must be a positive integer or None \(all networks at once\), got 0"),
    ("batch_size float", dict(batch_size=2.5), ValueError, r"batch_size must be .*got 2.5"),
    ("batch_size True", dict(batch_size=True), ValueError, r"batch_size must be .*got True"),
    ("n_steps float", dict(n_steps=10.5), ValueError,
     r"n_steps must be a positive integer, got 10.5"),
    ("n_steps 0", dict(n_steps=0), ValueError, r"n_steps must be a positive integer, got 0"),
    ("n_steps past int32", dict(n_steps=2**31), ValueError,
     r"^n_steps must be at most 2147483647 \(a run's step index is int32\), got 2147483648$"),
    ("n_steps huge", dict(n_steps=10**300), ValueError, r"n_steps must be at most .*got 1.00e\+300$"),
    ("key int", dict(key=0), TypeError, r"key must be a PRNG key from jax.random.key\(seed\)"),
    ("key array", dict(key=_key_array()), ValueError, r"key must be a single PRNG key"),
    ("params dict", dict(params={}), TypeError, r"params must be an izhijax.Network, got dict"),
    ("grid text", dict(grid="yes"), TypeError,
     r"grid must be True \(Cartesian product\) or False \(zip the axes\), got 'yes'"),
    ("zip unequal", dict(axes={"bias": [1.0, 2.0], "a": [0.02]}, grid=False), ValueError,
     r"grid=False needs values of equal length"),
    ("summarize None", dict(summarize=None), TypeError, r"summarize must be a function"),
    ("apply not callable", dict(apply=3), TypeError, r"apply must be a function, got int"),
    ("record_spikes text", dict(record_spikes="yes"), TypeError,
     r"record_spikes must be True or False"),
    ("no devices", dict(devices=[]), ValueError, r"devices must name at least one device"),
    ("on_divergence", dict(on_divergence="sometimes"), ValueError, r"on_divergence must be one of"),
]


@pytest.mark.parametrize("case, change, error, fragment", BAD_SWEEPS,
                         ids=[c[0] for c in BAD_SWEEPS])
def test_every_argument_is_checked_at_entry(small, monkeypatch, case, change, error, fragment):
    """Each bad argument raises its documented error naming the field, before any batch runs."""
    monkeypatch.setattr(sweep_module, "_batch", _never)
    call = dict(params=small, key=jax.random.key(0), n_steps=10, axes={"bias": [1.0, 2.0]})
    call.update(change)
    with pytest.raises(error) as info:
        izj.sweep.run(call.pop("params"), call.pop("key"), call.pop("n_steps"), call.pop("axes"),
                      **call)
    assert info.type is error
    assert re.search(fragment, str(info.value)), str(info.value)


def test_float32_network_refuses_values_beyond_its_range():
    p32 = izj.izhikevich2003(jax.random.key(2), n_exc=8, n_inh=2, dtype=jnp.float32)
    with pytest.raises(ValueError, match=r"axes\['c'\] must be finite \(in the network's dtype "
                                         r"float32\), got 1e\+39 at index 0"):
        izj.sweep.run(p32, jax.random.key(0), 10, {"c": [1e39]})


def test_too_large_sweep_is_refused_before_allocating(small, monkeypatch):
    """A sweep larger than the memory stops at entry with how much it needs; when only the batch
    is too large the message names a batch_size that fits, and that batch_size runs."""
    monkeypatch.delenv("IZHIJAX_MEMORY_CHECK", raising=False)
    monkeypatch.setattr(sweep_module, "_batch", _never)
    with pytest.raises(ValueError) as info:
        izj.sweep.run(small, jax.random.key(0), 20000, {"bias": np.linspace(0, 5, 1000)},
                      trials=10**8)
    message = str(info.value)
    assert re.match(r"sweep of 100000000000 networks x 20000 steps needs about [\d.]+ PiB "
                    r"\(.*\); this machine has [\d.]+ [KMGT]iB available; use fewer points or "
                    r"trials, a smaller batch_size or a shorter duration", message), message
    # 1 MiB available: 100 networks x 2000 steps at once are too many; the advice names a size.
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 2**20)
    axes = {"bias": np.linspace(0, 5, 100)}
    with pytest.raises(ValueError, match=r"use batch_size=(\d+) or less") as info:
        izj.sweep.run(small, jax.random.key(0), 2000, axes)
    fits = int(re.search(r"batch_size=(\d+)", str(info.value)).group(1))
    assert 1 <= fits < 100
    monkeypatch.undo()
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 2**20)
    res = izj.sweep.run(small, jax.random.key(0), 2000, {"bias": [0.0, 5.0]}, batch_size=fits)
    assert res["rate_exc"].shape == (2,)


def test_shared_weights_are_not_copied_per_network(small):
    """The compiled batch holds one W: its propagation is one (B, n) x (n, n) dot, no (B, n, n)."""
    B, n = 8, small.n
    values = jnp.ones((B, 2), jnp.float64)
    keys = jax.random.key_data(jax.random.split(jax.random.key(0), B))
    compiled = _batch.lower(small, values, keys, None, names=("exc_weight_scale", "noise_scale"),
                            n_steps=50, apply=None, summarize=summaries, record_spikes=False,
                            impl="threefry2x32").compile()
    hlo = compiled.as_text()
    assert not re.search(rf"\[{B},{n},{n}\]", hlo)
    dots = [line for line in hlo.splitlines() if re.search(r"= f64\[\d+,\d+\][^=]*\bdot\(", line)]
    assert any(re.search(rf"f64\[{B},{n}\]", d) or re.search(rf"f64\[{n},{B}\]", d) for d in dots), dots
    mem = compiled.memory_analysis()
    # Temporaries: the batch's noise blocks (drawn ahead, double-buffered) but never B copies of W.
    noise_bytes = 2 * B * noise_block(n, 50, "normal") * n * 8
    assert mem.temp_size_in_bytes < B * n * n * 8 + noise_bytes


@pytest.mark.slow
def test_a_shared_key_draws_its_noise_once_per_batch(small):
    """Networks with one key share one noise draw: the threefry blocks are (steps, n), not (B, ...);
    with a key per network they are (B, steps, n)."""
    B, n, steps = 8, small.n, 50
    values = jnp.ones((B, 1), jnp.float64)
    kw = dict(names=("bias",), n_steps=steps, apply=None, summarize=summaries,
              record_spikes=False, impl="threefry2x32")
    one_key = jax.random.key_data(jax.random.key(0))[None]
    shared = _batch.lower(small, values, one_key, jnp.zeros(B, jnp.int32), **kw).compile().as_text()
    keys = jax.random.key_data(jax.random.split(jax.random.key(0), B))
    own = _batch.lower(small, values, keys, None, **kw).compile().as_text()
    block = noise_block(n, steps, "normal")
    assert re.search(rf"u32\[{block},{n}\]", shared) and not re.search(rf"u32\[{B},{block},{n}\]", shared)
    assert re.search(rf"u32\[{B},{block},{n}\]", own)
    # Two keys shared by the batch: drawn for the two keys, (2, steps, n), then read per network.
    two = jax.random.key_data(jax.random.split(jax.random.key(0), 2))
    index = jnp.arange(B, dtype=jnp.int32) % 2
    both = _batch.lower(small, values, two, index, **kw).compile().as_text()
    assert re.search(rf"u32\[2,{block},{n}\]", both) and not re.search(rf"u32\[{B},{block},{n}\]", both)


def test_diverged_networks_are_counted_and_warned(small):
    """A sweep whose a is too large for Euler at dt = 1 ms diverges; which networks did is reported."""
    with pytest.warns(izj.DivergenceWarning, match="2 of 4 networks"):
        res = izj.sweep.run(small, jax.random.key(0), 300, {"a": [0.02, 5.0], "bias": [0.0, 10.0]})
    bad = res["diverged_at"]
    assert bad.dtype == np.int32 and bad.shape == (2, 2)
    assert np.all(bad[0] == -1) and np.all(bad[1] > 0)
    for j, bias in enumerate([0.0, 10.0]):
        _, rec = izj.simulate(small.replace(a=5.0, bias=bias), jax.random.key(0), 300,
                              on_divergence="ignore")
        assert int(rec.diverged_at) == bad[1, j]
    with pytest.raises(izj.DivergenceError, match="2 of 4"):
        izj.sweep.run(small, jax.random.key(0), 300, {"a": [0.02, 5.0], "bias": [0.0, 10.0]},
                      on_divergence="raise")
    with pytest.raises(ValueError, match="on_divergence"):
        izj.sweep.run(small, jax.random.key(0), 10, {"a": [0.02]}, on_divergence="sometimes")


SHARDED = r"""
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
import izhijax as izj
from izhijax._src.sweep import _batch, _shard, summaries
assert jax.device_count() == 4, jax.devices()
p = izj.izhikevich2003(jax.random.key(2), n_exc=80, n_inh=20)
axes = {"exc_weight_scale": [0.5, 1.0, 1.5], "noise_scale": [0.5, 1.5]}   # 6 networks: padded to 8
four = izj.sweep.run(p, jax.random.key(3), 200, axes)
four_chunks = izj.sweep.run(p, jax.random.key(3), 200, axes, batch_size=3)  # -> 4 per call
one = izj.sweep.run(p, jax.random.key(3), 200, axes, devices=jax.devices()[:1])
np.testing.assert_array_equal(four["spikes"], one["spikes"])
np.testing.assert_array_equal(four_chunks["spikes"], one["spikes"])
for name in one.data:   # float summaries: reductions of a different batch size may round apart
    np.testing.assert_allclose(four[name], one[name], rtol=1e-12)
    np.testing.assert_allclose(four_chunks[name], one[name], rtol=1e-12)
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
vals = _shard(np.ones((8, 1)), mesh)
keys = _shard(np.asarray(jax.random.key_data(jax.random.split(jax.random.key(0), 8))), mesh)
out, _ = _batch(p, vals, keys, None, names=("bias",), n_steps=20, apply=None,
                summarize=summaries, record_spikes=False, impl="threefry2x32")
shards = out["spikes"].addressable_shards
assert len({s.device for s in shards}) == 4 and all(s.data.shape == (2,) for s in shards)
print("OK", int(one["spikes"].sum()))
"""


@pytest.mark.slow
def test_sharded_over_four_cpu_devices_equals_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("OK") and int(r.stdout.split()[1]) > 0


def test_prescaled_propagation_equals_dense():
    k1, k2, k3 = jax.random.split(jax.random.key(4), 3)
    w = jax.random.normal(k1, (30, 30), jnp.float64)
    g = jax.random.uniform(k2, (30,), jnp.float64)
    s = (jax.random.uniform(k3, (30,)) < 0.3).astype(jnp.float64)
    scaled = izj.connectivity.PreScaled(w, g)
    np.testing.assert_allclose(izj.connectivity.propagate(scaled, s), (w * g[None]) @ s, rtol=1e-13)
    np.testing.assert_array_equal(scaled.dense(), w * g[None])


@pytest.mark.slow
def test_regimes_experiment_smoke(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "sweep_regimes.py"),
                        "--smoke", "--out-dir", str(tmp_path)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    png = (tmp_path / "regimes.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 10_000
    out = json.loads((tmp_path / "regimes.json").read_text())
    sweep = out["sweep"]
    assert sweep["dims"] == ["exc_weight_scale", "noise_scale", "trial"]
    data = {k: np.array(v["values"], float).reshape(3, 3) for k, v in sweep["data"].items()}
    np.testing.assert_allclose(sweep["coords"]["exc_weight_scale"], [0.25, 1.0, 1.75])
    np.testing.assert_allclose(sweep["coords"]["noise_scale"], [0.4, 1.2, 2.0])
    # Weak noise: silent at every weight; with noise, stronger excitation fires more; the paper's
    # noise with 1.75 x its excitatory weights runs away (hundreds of Hz).
    assert np.all(data["rate_exc"][:, 0] < 1.0)
    assert np.all(np.diff(data["rate_exc"][:, 1:], axis=0) > 0)
    assert data["rate_exc"][2, 1] > 100 and 1.0 < data["rate_exc"][1, 1] < 100
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    from sweep_regimes import regime
    assert out["regimes"] == [[regime(data["rate_exc"][i, j], data["rhythm_hz"][i, j],
                                      data["chi"][i, j]) for j in range(3)] for i in range(3)]
    assert out["regimes"][2][1] == "epileptic" and out["regimes"][0][0] == "quiet"
    assert sum(out["regime_counts"].values()) == 9


def _cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "izhijax.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_cli_sweep_writes_maps_and_json(tmp_path):
    out, js = tmp_path / "s.png", tmp_path / "s.json"
    r = _cli("sweep", "--x", "exc_weight_scale=0.5:1.5:3", "--y", "noise_scale=0.4,1.2",
             "--duration", "100", "--trials", "2", "--out", str(out), "--json", str(js))
    assert r.returncode == 0, r.stderr
    assert "12 networks" in r.stdout and "rate_exc" in r.stdout
    assert out.read_bytes()[:4] == b"\x89PNG"
    d = json.loads(js.read_text())
    assert d["dims"] == ["exc_weight_scale", "noise_scale", "trial"]
    assert d["coords"]["exc_weight_scale"] == [0.5, 1.0, 1.5]
    rate = np.array(d["data"]["rate_exc"]["values"]).reshape(3, 2, 2)
    assert np.all(rate[:, 0] < 1.0) and np.all(rate[:, 1] > 1.0)   # weak noise is silent


@pytest.mark.parametrize("args", [
    ("sweep", "--x", "nonsense=1:2:3"),
    ("sweep", "--x", "bias=1:2"),
    ("sweep", "--y", "bias=a,b"),
    ("sweep", "--x", "bias=1,inf"),
    ("sweep", "--trials", "0"),
    ("sweep", "--x", "bias=1,2", "--y", "bias=3"),
    ("sweep", "--batch-size", "-1"),
    ("sweep", "--json", "/no/such/folder/s.json"),
    ("sweep", "--out", "s.jpg"),
])
def test_cli_sweep_bad_flags_one_line_exit_2(args):
    r = _cli(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("izhijax: error:"), r.stderr


@pytest.mark.slow
def test_bench_smoke(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "bench_sweep.py"),
                        "--smoke", "--out", str(out)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    b = json.loads(out.read_text())
    assert b["batch"] == 4 and b["n_steps"] == 100 and b["regimes_grid"] == [3, 3]
    for key in ("single_s", "single_event_s", "batch_s", "batch_trials_s", "compile_s",
                "regimes_first_s", "regimes_s"):
        assert b[key] > 0
    np.testing.assert_allclose(b["per_network_ratio"], b["batch_s"] / 4 / b["single_s"])
