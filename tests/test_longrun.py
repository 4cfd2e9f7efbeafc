"""simulate_to_disk: chunks on disk, a crash loses at most the chunk in flight, resumed runs are exact."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src import longrun

N_STEPS, CHUNK = 250, 60     # 5 chunks, the last one shorter
RECORD = dict(record_v=[0, 9], record_u=[3])


@pytest.fixture(scope="module")
def params():
    return izj.izhikevich2003(jax.random.key(5), n_exc=40, n_inh=10, dtype=jnp.float64)


@pytest.fixture(scope="module")
def reference(params):
    return izj.simulate(params, jax.random.key(6), N_STEPS, **RECORD)


def _assert_same_run(a, b):
    (state_a, rec_a), (state_b, rec_b) = a, b
    for name in ("v", "u", "pulse", "t"):
        x, y = np.asarray(getattr(state_a, name)), np.asarray(getattr(state_b, name))
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    for name in ("spikes", "v", "u", "counts", "pop_counts", "v_index", "u_index", "t0",
                 "diverged_at"):
        np.testing.assert_array_equal(np.asarray(getattr(rec_a, name)),
                                      np.asarray(getattr(rec_b, name)))
    assert (rec_a.dt, rec_a.populations) == (rec_b.dt, rec_b.populations)


def test_chunks_on_disk_equal_one_run(params, reference, tmp_path):
    folder = str(tmp_path / "run")
    out = izj.simulate_to_disk(params, jax.random.key(6), N_STEPS, folder, chunk_size=CHUNK,
                               **RECORD)
    _assert_same_run(reference, out)
    assert sorted(os.listdir(folder)) == ["chunk_00000%d.npz" % i for i in range(5)] + ["run.npz"]
    saved = izj.load(folder)
    _assert_same_run(reference, (saved.state, saved.recording))
    assert saved.params.config == params.config and saved.info["chunk_size"] == CHUNK
    assert int(np.asarray(reference[1].spikes).sum()) > 0
    # Calling it again on a finished folder computes nothing and returns the same run.
    again = izj.simulate_to_disk(params, jax.random.key(6), N_STEPS, folder, chunk_size=CHUNK,
                                 **RECORD)
    _assert_same_run(reference, again)


def test_crash_loses_only_the_chunk_in_flight_and_resume_is_exact(params, reference, tmp_path,
                                                                  monkeypatch):
    folder = str(tmp_path / "run")
    real, calls = longrun.simulate, []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(longrun, "simulate", crashing)
    with pytest.raises(KeyboardInterrupt):
        izj.simulate_to_disk(params, jax.random.key(6), N_STEPS, folder, chunk_size=CHUNK,
                             **RECORD)
    partial = izj.load(folder)
    assert partial.recording.n_steps == 2 * CHUNK and int(partial.state.t) == 2 * CHUNK
    monkeypatch.setattr(longrun, "simulate", real)
    resumed = izj.simulate_to_disk(params, jax.random.key(6), N_STEPS, folder, chunk_size=CHUNK,
                                   **RECORD)
    _assert_same_run(reference, resumed)


def test_resuming_with_other_arguments_is_refused(params, tmp_path):
    folder = str(tmp_path / "run")
    key = jax.random.key(6)
    izj.simulate_to_disk(params, key, 120, folder, chunk_size=CHUNK, **RECORD)
    with pytest.raises(ValueError, match=r"another params\.population\('exc'\)\.bias"):
        izj.simulate_to_disk(params.replace(bias=1.0), key, 120, folder, chunk_size=CHUNK,
                             **RECORD)
    with pytest.raises(ValueError, match="another key"):
        izj.simulate_to_disk(params, jax.random.key(7), 120, folder, chunk_size=CHUNK, **RECORD)
    with pytest.raises(ValueError, match=r"other settings \(chunk_size\)"):
        izj.simulate_to_disk(params, key, 120, folder, chunk_size=30, **RECORD)
    with pytest.raises(ValueError, match=r"other settings \(inputs_sha256\)"):
        izj.simulate_to_disk(params, key, 120, folder, chunk_size=CHUNK,
                             inputs=np.zeros((120, params.n)), **RECORD)
    with pytest.raises(ValueError, match="config"):
        izj.simulate_to_disk(params.replace(config=params.config.replace(integrator="izhikevich")),
                             key, 120, folder, chunk_size=CHUNK, **RECORD)


def test_damaged_chunk_is_refused(params, tmp_path):
    folder = str(tmp_path / "run")
    izj.simulate_to_disk(params, jax.random.key(6), 120, folder, chunk_size=CHUNK, **RECORD)
    chunk = os.path.join(folder, "chunk_000001.npz")
    data = open(chunk, "rb").read()
    with open(chunk, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="chunk_000001.npz is truncated or corrupt"):
        izj.load(folder)
    with pytest.raises(ValueError, match="not an izhijax run folder"):
        izj.load(str(tmp_path))


def test_divergence_stops_after_the_chunk_and_warns(tmp_path):
    from bad_inputs import good_params
    unstable = good_params(bias=10.0).replace(a=5.0)
    key = jax.random.key(1)
    _, whole = izj.simulate(unstable, key, 400, on_divergence="ignore")
    bad = int(whole.diverged_at)
    with pytest.warns(izj.DivergenceWarning, match=f"at step {bad} "):
        _, rec = izj.simulate_to_disk(unstable, key, 400, str(tmp_path / "run"), chunk_size=50)
    assert int(rec.diverged_at) == bad and rec.n_steps == 50 * (bad // 50 + 1)
    with pytest.raises(izj.DivergenceError):
        izj.simulate_to_disk(unstable, key, 400, str(tmp_path / "run"), chunk_size=50,
                             on_divergence="raise")


@pytest.mark.slow
def test_network_of_several_models_resumes_exactly_and_refuses_another(tmp_path, monkeypatch):
    """A run of populations of different models and projections of different delays, chunked
    and interrupted, equals one run; resuming it with another model, delay or weight is refused."""
    from test_io import _mixed_network

    net, key, folder = _mixed_network(), jax.random.key(2), str(tmp_path / "run")
    record = dict(record_v={"rs": [0], "book": [1, 3]}, record_u={"fig1": [4]})
    reference = izj.simulate(net, key, 130, **record)
    real, calls = longrun.simulate, []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(longrun, "simulate", crashing)
    with pytest.raises(KeyboardInterrupt):
        izj.simulate_to_disk(net, key, 130, folder, chunk_size=50, **record)
    monkeypatch.setattr(longrun, "simulate", real)
    assert izj.load(folder).recording.n_steps == 50
    resumed = izj.simulate_to_disk(net, key, 130, folder, chunk_size=50, **record)
    _assert_same_run(reference, resumed)
    assert len(resumed[0].neurons) == 3
    assert np.asarray(reference[1].pop_counts).sum(0).min() > 0

    rs = net.population("rs")
    other_model = net.replace(populations=(rs.replace(model=izj.Izhikevich2003()),)
                              + net.populations[1:])
    with pytest.raises(ValueError, match="other populations"):
        izj.simulate_to_disk(other_model, key, 130, folder, chunk_size=50, **record)
    back = net.projection("back")
    with pytest.raises(ValueError, match="other projections"):
        izj.simulate_to_disk(net.replace(projections=(net.projections[0], back.replace(delay=2))),
                             key, 130, folder, chunk_size=50, **record)
    scaled = back.replace(weights=izj.connectivity.PreScaled(back.weights.matrix,
                                                             back.weights.scale * 2))
    with pytest.raises(ValueError, match=r"another params\.projection\('back'\)\.weights\.scale "):
        izj.simulate_to_disk(net.replace(projections=(net.projections[0], scaled)), key, 130,
                             folder, chunk_size=50, **record)
    with pytest.raises(ValueError, match=r"another params\.population\('book'\)\.C "):
        izj.simulate_to_disk(net.replace(populations=net.populations[:2] + (
            net.population("book").replace(params={**net.population("book").params,
                                                   "C": net.population("book").params["C"] + 1}),
        )), key, 130, folder, chunk_size=50, **record)
