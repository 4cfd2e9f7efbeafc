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
    assert params2.config == params.config and rec2.dt == 0.5 and rec2.n_exc == 40
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
