"""save_run / load_run: everything comes back; foreign files are refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj


def test_round_trip(tmp_path):
    params = izj.izhikevich2003(jax.random.key(0), n_exc=40, n_inh=10, variant="pymonnto",
                                dtype=jnp.float64)
    _, rec = izj.simulate(params, jax.random.key(1), 300, record_v=[0, 5], record_u=[2])
    path = str(tmp_path / "run.npz")
    izj.save_run(path, rec, params)
    rec2, params2 = izj.load_run(path)
    assert params2.config == params.config and rec2.dt == 0.5
    assert rec2.populations == rec.populations == (("exc", 0, 40), ("inh", 40, 50))
    for name in ("a", "b", "c", "d", "weights", "noise_amp", "bias", "v0", "u0"):
        np.testing.assert_array_equal(np.asarray(getattr(params, name)), getattr(params2, name))
    for name in ("spikes", "v", "u", "counts", "pop_counts", "v_index", "u_index", "t0"):
        np.testing.assert_array_equal(np.asarray(getattr(rec, name)), getattr(rec2, name))
    assert np.asarray(rec.spikes).sum() > 0


def test_foreign_file_refused(tmp_path):
    path = str(tmp_path / "other.npz")
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="not an izhijax run file"):
        izj.load_run(path)


def _leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype, raw_key", [(jnp.float64, False), (jnp.float32, True)])
def test_everything_round_trips_exactly(tmp_path, dtype, raw_key):
    params = izj.izhikevich2003(jax.random.key(0), n_exc=16, n_inh=4, variant="netm",
                                dtype=dtype, surrogate="arctan", surrogate_scale=0.3)
    key = jax.random.PRNGKey(4) if raw_key else jax.random.key(4)
    state, rec = izj.simulate(params, key, 120, record_v=[1, 3], record_u=[2],
                              record_spikes=not raw_key)
    path = izj.save(str(tmp_path / "all"), recording=rec, params=params, state=state, key=key,
                    info={"note": "x", "n": 3})
    assert path.endswith("all.npz") and not any(p.suffix == ".tmp" for p in tmp_path.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["all.npz"]     # no temporary file left
    saved = izj.load(path)
    assert saved.params.config == params.config and saved.info == {"note": "x", "n": 3}
    assert (saved.recording.dt, saved.recording.populations) == (rec.dt, rec.populations)
    assert jax.tree_util.tree_structure(saved.params) == jax.tree_util.tree_structure(params)
    assert (saved.recording.spikes is None) == raw_key
    _leaves_equal((params, state, rec), (saved.params, saved.state, saved.recording))
    assert jax.dtypes.issubdtype(saved.key.dtype, jax.dtypes.prng_key) != raw_key
    _leaves_equal(key, saved.key)


def test_resumed_from_a_file_equals_the_uninterrupted_run(tmp_path):
    params = izj.izhikevich2003(jax.random.key(2), n_exc=80, n_inh=20, dtype=jnp.float64)
    key = jax.random.key(9)
    # Every call runs the same 250-step program (one compilation).
    full_state, full = izj.simulate(params, key, 500, chunk_size=250, record_v=[0, 50],
                                    record_u=[7])
    state, first = izj.simulate(params, key, 250, record_v=[0, 50], record_u=[7])
    izj.save(tmp_path / "ckpt.npz", recording=first, params=params, state=state, key=key)
    saved = izj.load(tmp_path / "ckpt.npz")
    end, second = izj.simulate(saved.params, saved.key, 250, state=saved.state,
                               record_v=[0, 50], record_u=[7])
    _leaves_equal(full_state, end)
    joined = izj.concatenate([saved.recording, second])
    for name in ("spikes", "v", "u", "counts", "pop_counts", "t0", "diverged_at"):
        np.testing.assert_array_equal(np.asarray(getattr(full, name)),
                                      np.asarray(getattr(joined, name)))
    assert np.asarray(full.spikes).sum() > 0


@pytest.fixture()
def saved_file(tmp_path):
    params = izj.izhikevich2003(jax.random.key(0), n_exc=40, n_inh=10, dtype=jnp.float64)
    state, rec = izj.simulate(params, jax.random.key(1), 200)
    return izj.save(tmp_path / "run.npz", recording=rec, params=params, state=state,
                    key=jax.random.key(1))


def test_truncated_file_refused(saved_file):
    data = open(saved_file, "rb").read()
    for cut in (len(data) // 2, len(data) - 10, 100):
        with open(saved_file, "wb") as f:
            f.write(data[:cut])
        with pytest.raises(ValueError, match="is truncated or corrupt"):
            izj.load(saved_file)


def test_corrupted_byte_refused(saved_file):
    data = bytearray(open(saved_file, "rb").read())
    data[len(data) // 3] ^= 0xFF
    with open(saved_file, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        izj.load(saved_file)


def test_edited_contents_fail_the_checksum(saved_file):
    with np.load(saved_file) as f:
        arrays = dict(f)
    name = next(k for k in arrays if k.startswith("network.proj0.weights"))   # .w: EventDense
    arrays[name] = arrays[name] * 1.0000001
    np.savez(saved_file, **arrays)
    with pytest.raises(ValueError, match="checksum does not match"):
        izj.load(saved_file)


def test_other_versions_and_foreign_files_refused(saved_file, tmp_path):
    import json
    with np.load(saved_file) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["meta"]))
    meta["format_version"] = 99
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(saved_file, **arrays)
    with pytest.raises(ValueError, match="format version 99, this izhijax reads versions 3 and "):
        izj.load(saved_file)
    old = str(tmp_path / "v1.npz")
    np.savez(old, format=np.array("izhijax-run"), format_version=np.array(1), v=np.zeros(3))
    with pytest.raises(ValueError, match="format version 1, this izhijax reads versions 3 and "):
        izj.load(old)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an izhijax run file"):
        izj.load(str(text))
    npy = str(tmp_path / "x.npy")
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="not an izhijax run file"):
        izj.load(npy)
    other = str(tmp_path / "other.npz")
    np.savez(other, meta=np.array(json.dumps({"format": "something-else", "format_version": 2})))
    with pytest.raises(ValueError, match="not an izhijax run file"):
        izj.load(other)


def test_batched_recording_of_a_sweep_round_trips(tmp_path):
    params = izj.izhikevich2003(jax.random.key(0), n_exc=16, n_inh=4, dtype=jnp.float64)
    keys = jax.random.split(jax.random.key(3), 3)
    states, recs = jax.vmap(lambda k: izj.simulate(params, k, 50))(keys)
    assert recs.spikes.shape == (3, 50, 20) and recs.diverged_at.shape == (3,)
    izj.save(tmp_path / "sweep.npz", recording=recs, state=states)
    saved = izj.load(tmp_path / "sweep.npz")
    _leaves_equal((states, recs), (saved.state, saved.recording))
    assert np.asarray(recs.spikes).sum() > 0


def test_connectivity_format_weights_round_trip(tmp_path):
    """Weights held in a connectivity dataclass are saved field by field and rebuilt as the same
    class with its static fields; their fields are validated like the other parameters."""
    import dataclasses

    from izhijax._src.validate import check_params

    base = izj.make_params(0.02, 0.2, -65.0, 8.0, np.zeros((5, 5)), dtype=jnp.float64)
    table = izj.wiring.sparse(jnp.array([[1, 5], [0, 2], [3, 5], [4, 5], [0, 1]], jnp.int32),
                              jnp.arange(10.0).reshape(5, 2), 5, buffers=(2, 4))
    params = base.replace(weights=table)
    assert check_params(params) is params
    izj.save(tmp_path / "t.npz", params=params)
    loaded = izj.load(tmp_path / "t.npz").params
    assert type(loaded.weights) is izj.connectivity.Sparse and loaded.weights.buffers == (2, 4)
    _leaves_equal(params, loaded)
    with pytest.raises(ValueError, match=r"params\.weights\.n_post must be 5"):
        check_params(base.replace(weights=dataclasses.replace(table, n_post=6)))
    with pytest.raises(ValueError, match=r"params\.weights\.w must be finite"):
        check_params(base.replace(
            weights=dataclasses.replace(table, w=table.w.at[1, 1].set(jnp.nan))))
    with pytest.raises(TypeError, match=r"params\.weights\.w must have the dtype"):
        check_params(base.replace(
            weights=dataclasses.replace(table, w=table.w.astype(jnp.float32))))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["event_dense", "sparse"])
def test_round_trip_of_event_driven_and_sparse_weights(tmp_path, fmt):
    if fmt == "sparse":
        params = izj.scaled_izhikevich2003(jax.random.key(0), 200, 20, buffers=(8, 32))
    else:
        params = izj.izhikevich2003(jax.random.key(0), n_exc=40, n_inh=10, propagation="event")
    key = jax.random.key(1)
    _, rec = izj.simulate(params, key, 50)
    path = str(tmp_path / "run.npz")
    izj.save_run(path, rec, params)
    _, params2 = izj.load_run(path)
    assert type(params2.weights) is type(params.weights)
    assert params2.weights.buffers == params.weights.buffers
    for a, b in zip(jax.tree_util.tree_leaves(params.weights),
                    jax.tree_util.tree_leaves(params2.weights), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    _, rec2 = izj.simulate(params2, key, 50)
    np.testing.assert_array_equal(np.asarray(rec2.spikes), np.asarray(rec.spikes))


@pytest.mark.slow
def test_round_trip_of_prescaled_weights_of_every_format(tmp_path):
    """A sweep's network (weights scaled per presynaptic population) saves and loads as it is."""
    params = izj.izhikevich2003(jax.random.key(0), n_exc=40, n_inh=10, dtype=jnp.float64)
    key = jax.random.key(1)
    for weights in (params.weights, izj.connectivity.event_dense(params.weights),
                    izj.wiring.from_dense(params.weights)):
        p = izj.sweep.apply_values(params.replace(weights=weights), {"exc_weight_scale": 1.5})
        _, rec = izj.simulate(p, key, 100)
        path = str(tmp_path / "run.npz")
        izj.save_run(path, rec, p)
        _, p2 = izj.load_run(path)
        assert type(p2.weights) is izj.connectivity.PreScaled
        if izj.connectivity.is_format(weights) and not isinstance(weights, izj.connectivity.PreScaled):
            assert type(p2.weights.matrix) is type(weights)
            assert p2.weights.matrix.buffers == weights.buffers
        else:
            assert np.shape(p2.weights.matrix) == weights.shape
        _leaves_equal(p, p2)
        _, rec2 = izj.simulate(p2, key, 100)
        np.testing.assert_array_equal(np.asarray(rec2.spikes), np.asarray(rec.spikes))


def _mixed_network(dtype=jnp.float64):
    """Three populations of three models, two projections of different delays and formats."""
    k = jax.random.split(jax.random.key(3), 3)
    rs = izj.population("rs", izj.Izhikevich2003(v_peak=30.0, inclusive=False), 12, preset="RS",
                        noise_amp=6.0, bias=jax.random.uniform(k[0], (12,), dtype), dtype=dtype)
    fig1 = izj.population("fig1", izj.Izhikevich2004(), 5, preset="FS",
                          params={"k1": 4.1, "k0": 108.0, "time_scale": 0.5}, noise_amp=2.0,
                          v0=-70.0, dtype=dtype)
    book = izj.population("book", izj.Izhikevich2007(), 4, preset="LTS", noise_amp=50.0,
                          bias=80.0, v0=-56.0, dtype=dtype)
    forward = 0.5 * jax.random.uniform(k[1], (9, 12), dtype)
    back = izj.connectivity.PreScaled(izj.wiring.from_dense(-jax.random.uniform(k[2], (12, 17),
                                                                                dtype)),
                                      jnp.linspace(0.5, 1.5, 17, dtype=dtype))
    config = izj.Config(dt=0.5, integrator="semi-implicit", noise="uniform",
                        surrogate=izj.Triangle(0.7), threshold_grad="voltage", synapse_grad=True,
                        grad_memory=2.5)
    return izj.network([rs, fig1, book],
                       [izj.projection("rs", ("fig1", "book"), forward, delay=1),
                        izj.projection(("rs", "fig1"), "rs", back, delay=3, name="back")], config)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_network_of_several_models_and_delays_round_trips(tmp_path, dtype):
    """Populations of different models, projections with different delays and weight formats, a
    state of one block per model: all come back as they were, and the run resumes bit for bit."""
    net = _mixed_network(dtype)
    key = jax.random.key(8)
    record = dict(record_v=[0, 13, 18], record_u=[20])
    state, rec = izj.simulate(net, key, 60, **record)
    assert len(state.neurons) == 3 and state.pulse.shape == (3, net.n)
    izj.save(tmp_path / "mixed", recording=rec, params=net, state=state, key=key)
    saved = izj.load(tmp_path / "mixed.npz")
    loaded = saved.params
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(net)
    assert loaded.config == net.config and loaded.config.surrogate == izj.Triangle(0.7)
    assert [type(p.model) for p in loaded.populations] == [izj.Izhikevich2003, izj.Izhikevich2004,
                                                           izj.Izhikevich2007]
    assert loaded.population("rs").model == izj.Izhikevich2003(v_peak=30.0, inclusive=False)
    assert [(p.name, p.source, p.target, p.delay) for p in loaded.projections] == [
        ("rs->fig1+book", ("rs",), ("fig1", "book"), 1), ("back", ("rs", "fig1"), ("rs",), 3)]
    assert type(loaded.projection("back").weights.matrix) is izj.connectivity.Sparse
    for p, q in zip(net.populations, loaded.populations):
        assert list(p.params) == list(q.params) and list(p.initial) == list(q.initial)
    _leaves_equal((net, state, rec, key), (loaded, saved.state, saved.recording, saved.key))
    assert saved.recording.populations == rec.populations == (
        ("rs", 0, 12), ("fig1", 12, 17), ("book", 17, 21))
    assert [sorted(b) for b in saved.state.neurons] == [["u", "v"]] * 3
    full_state, full = izj.simulate(net, key, 120, chunk_size=60, **record)
    end, second = izj.simulate(loaded, saved.key, 60, state=saved.state, **record)
    _leaves_equal(full_state, end)
    joined = izj.concatenate([saved.recording, second])
    _leaves_equal(full, joined)
    assert joined.populations == full.populations
    assert np.asarray(full.pop_counts).sum(0).min() > 0      # every population spiked


def _rewrite(path, edit):
    """Edit a saved file's metadata and reseal it with a valid checksum (a crafted file)."""
    import json

    from izhijax._src import components
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["meta"]))
    edit(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["checksum"] = np.array(__import__("izhijax._src.io", fromlist=["_checksum"])._checksum(arrays))
    np.savez(path, **arrays)


def test_unknown_model_weight_format_or_component_refused_without_importing(tmp_path,
                                                                           monkeypatch):
    """Loading is data only: a file that names a model, weight format or component that is not
    registered is refused with the field's name, and the code it names is never imported."""
    import importlib
    import sys

    marker = tmp_path / "imported"
    (tmp_path / "izj_evil_payload.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\n"
        "class Payload:\n    def __init__(self, *a, **k):\n        open('x', 'w')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    imports = []
    real_import_module = importlib.import_module
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a, **k: imports.append(name) or real_import_module(name, *a,
                                                                                          **k))
    net = _mixed_network()
    edits = {
        r"network\.populations\[1\]\.model names the neuron model 'izj_evil_payload\.Payload'":
            lambda m: m["network"]["populations"][1]["model"].update(
                {"class": "izj_evil_payload.Payload", "module": "izj_evil_payload"}),
        r"network\.projections\[0\]\.weights names the weight format 'Payload'":
            lambda m: m["network"]["projections"][0].update(
                {"weights": {"class": "Payload", "module": "izj_evil_payload", "arrays": [],
                             "static": {}, "nested": {}}}),
        r"network\.projections\[1\]\.weights\.matrix names the weight format 'Payload'":
            lambda m: m["network"]["projections"][1]["weights"]["nested"]["matrix"].update(
                {"class": "Payload", "module": "izj_evil_payload"}),
        r"network\.config\.integrator names the integrator 'izj_evil_payload\.Payload'":
            lambda m: m["network"]["config"]["integrator"].update(
                {"name": "izj_evil_payload.Payload"}),
        r"network\.populations\[0\]\.model\.evil is not a field of Izhikevich2003":
            lambda m: m["network"]["populations"][0]["model"]["fields"].update({"evil": 1}),
    }
    for message, edit in edits.items():
        path = izj.save(tmp_path / "net.npz", params=net)
        _rewrite(path, edit)
        with pytest.raises(ValueError, match=message):
            izj.load(path)
    assert not marker.exists() and "izj_evil_payload" not in sys.modules
    assert not any("evil" in name for name in imports)


def test_models_must_be_registered_to_be_saved(tmp_path, monkeypatch):
    import dataclasses

    from izhijax._src import components

    @dataclasses.dataclass(frozen=True)
    class Tagged(izj.Izhikevich2003):
        tag: str = "none"
        gains: tuple = ()

    pop = izj.population("p", Tagged(tag="t", gains=(1, 2.5)), 3, preset="RS")
    net = izj.network([pop], [izj.projection("p", "p", np.zeros((3, 3)))])
    with pytest.raises(ValueError, match=r"params\.populations\[0\]\.model: neuron model Tagged "
                                         r"is not registered"):
        izj.save(tmp_path / "x.npz", params=net)
    assert not list(tmp_path.iterdir())
    monkeypatch.setattr(components, "_MODELS", dict(components._MODELS))   # restored after
    assert izj.register_model(Tagged) is Tagged and izj.models()["Tagged"] is Tagged
    izj.save(tmp_path / "x.npz", params=net)
    loaded = izj.load(tmp_path / "x.npz").params
    assert loaded.populations[0].model == Tagged(tag="t", gains=(1, 2.5))
    _leaves_equal(net, loaded)
    with pytest.raises(TypeError, match="NeuronModel dataclass"):
        izj.register_model(dict)
