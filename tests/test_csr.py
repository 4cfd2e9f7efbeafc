"""connectivity.CSR: brainevent's event-driven CSR kernel as a propagation backend, checked against
izhijax's own paths (dense, Sparse), which the Brian2 and NumPy references check."""

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax import connectivity, wiring

pytest.importorskip("brainevent", reason="the [brainevent] extra (CI installs it with [test])")

from test_connectivity import fig3  # noqa: E402,F401  (the Fig. 3 network, dyadic weights)


def test_fig3_as_csr_gives_the_dense_runs_spikes_and_voltages(fig3):
    key = jax.random.key(4)
    _, dense = izj.simulate(fig3, key, 400, record_v=[0, 500])
    net = connectivity.to_csr(fig3)
    w = net.weights
    assert isinstance(w, connectivity.CSR) and w.n_synapses == np.count_nonzero(fig3.weights)
    _, rec = izj.simulate(net, key, 400, record_v=[0, 500])
    np.testing.assert_array_equal(np.asarray(rec.spikes), np.asarray(dense.spikes))
    np.testing.assert_array_equal(np.asarray(rec.v), np.asarray(dense.v))
    assert np.asarray(dense.spikes).sum() > 1000      # a network that fires (and bursts)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_scaled_network_as_csr_equals_sparse_bit_for_bit(dtype):
    # Unrounded weights: the kernel adds each step's rows in Sparse's order, so the float sums
    # are the same to the last bit (not only the spikes).
    net = izj.scaled_izhikevich2003(jax.random.key(0), 2000, k=100, dtype=dtype)
    key = jax.random.key(1)
    s0, r0 = izj.simulate(net, key, 300, record_v=[0, 1999])
    s1, r1 = izj.simulate(connectivity.to_csr(net), key, 300, record_v=[0, 1999])
    assert np.asarray(r0.spikes).sum() > 5000
    np.testing.assert_array_equal(np.asarray(r1.spikes), np.asarray(r0.spikes))
    np.testing.assert_array_equal(np.asarray(s1.v), np.asarray(s0.v))
    np.testing.assert_array_equal(np.asarray(s1.pulse), np.asarray(s0.pulse))


def _pair(n=300, k=30, seed=1):
    post = wiring.fixed_indegree(jax.random.key(seed), n, n, k, self_connections=False)
    w = jax.random.normal(jax.random.key(seed + 1), post.shape, jnp.float64)
    sparse = wiring.sparse(post, w, n, buffers=(4, 16))
    return sparse, connectivity.to_csr(sparse)


def test_pulses_of_any_spike_count_and_of_scaled_spikes_equal_sparse():
    sparse, csr = _pair()
    n = sparse.n_pre
    rng = np.random.default_rng(0)
    f = jax.jit(connectivity.propagate)
    for count in (0, 1, 5, 17, 150, n):
        s = np.zeros(n)
        s[rng.choice(n, count, replace=False)] = 1.0
        np.testing.assert_array_equal(np.asarray(f(csr, jnp.asarray(s))),
                                      np.asarray(f(sparse, jnp.asarray(s))))
    # Values other than 0/1 (a PreScaled gain, negative ones included): every row weighted by its
    # value, which the kernel (any positive value = one spike) would get wrong.
    scale = jnp.asarray(rng.uniform(-2, 2, n))
    s = jnp.asarray((rng.random(n) < 0.1).astype(float))
    got = f(connectivity.PreScaled(csr, scale), s)
    want = connectivity.to_dense(sparse) @ (np.asarray(scale) * np.asarray(s))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_izhijaxs_cpu_kernels_equal_brainevents_bit_for_bit(dtype, monkeypatch):
    # Rows in any target order and with repeated targets (multapses), targets on the block
    # boundary, bool and float spikes of any count: the same pulse, to the last bit, as
    # brainevent's serial kernel, serial and with 2 and 3 blocks of targets; and a network run
    # through the two-thread kernel (the threshold lowered so that a small network takes it)
    # equals its Sparse run.
    pytest.importorskip("numba")
    from izhijax._src import csr as _csr
    rng = np.random.default_rng(3)
    n_pre, n_post, m = 400, 301, 12000
    pre, post = rng.integers(0, n_pre, m), rng.integers(0, n_post, m)
    post[:40] = n_post // 2                                # the boundary target, repeatedly
    weights = _csr.csr(pre, post, rng.normal(size=m), n_pre, n_post, dtype=dtype)
    assert np.any(np.diff(np.asarray(weights.indices)[:weights.indptr[1]]) < 0)   # unsorted
    serial = jax.jit(lambda s: _csr._brainevent_kernel(n_post, weights.task_capacity, weights.data,
                                                       weights.indices, weights.indptr, s))
    for count in (0, 1, 7, 60, n_pre):
        s = np.zeros(n_pre, bool)
        s[rng.choice(n_pre, count, replace=False)] = True
        want = np.asarray(serial(jnp.asarray(s, dtype)))
        for parts in (1, 2, 3):
            for spikes in (jnp.asarray(s), jnp.asarray(s, dtype)):
                got = _csr._own_kernel(n_post, weights.data, weights.indices, weights.indptr,
                                       spikes, parts)
                assert got.dtype == dtype
                np.testing.assert_array_equal(np.asarray(got), want)
    # numba's workqueue layer aborts on concurrent calls: never picked there
    import numba
    with monkeypatch.context() as m:
        m.setattr(numba.config, "THREADING_LAYER", "workqueue")
        assert _csr._parallel_threads() == 0
    monkeypatch.setattr(_csr, "OWN_MIN_SYNAPSES", 0)
    monkeypatch.setattr(_csr, "PARALLEL_MIN_SYNAPSES", 0)
    monkeypatch.setattr(_csr, "_parallel_threads", lambda: 2)
    traced = []
    kernel = _csr._own_kernel
    monkeypatch.setattr(_csr, "_own_kernel",
                        lambda *args: traced.append(args[-1]) or kernel(*args))
    _csr._forward.cache_clear()
    net = izj.scaled_izhikevich2003(jax.random.key(4), 1500, k=60, dtype=dtype)
    key = jax.random.key(1)
    s0, r0 = izj.simulate(net, key, 200, record_v=[0, 1499])
    csr_net = connectivity.to_csr(net)
    assert csr_net.projections[0].weights.sorted_rows     # the family's rows are sorted
    s1, r1 = izj.simulate(csr_net, key, 200, record_v=[0, 1499])
    assert traced and set(traced) == {2}                   # the run went through two threads
    assert np.asarray(r0.spikes).sum() > 3000
    np.testing.assert_array_equal(np.asarray(r1.spikes), np.asarray(r0.spikes))
    np.testing.assert_array_equal(np.asarray(s1.pulse), np.asarray(s0.pulse))
    # unsorted rows (where the two threads' range test mispredicts): one thread, same bits
    traced.clear()
    s = jnp.asarray(rng.random(n_pre) < 0.3, dtype)
    assert not weights.sorted_rows
    np.testing.assert_array_equal(np.asarray(weights.propagate(s)), np.asarray(serial(s)))
    assert traced == [1]
    _csr._forward.cache_clear()


def test_sorted_rows_is_read_from_the_table():
    # Sorted means non-decreasing within each row; a drop between two rows is allowed, one
    # inside a row is not, wherever the chunk boundaries of the check fall.
    from izhijax._src.csr import _sorted_rows
    indptr = np.array([0, 3, 3, 6, 8], np.int32)
    ok = np.array([1, 4, 4, 0, 2, 9, 3, 3], np.int32)
    for chunk in (1, 2, 3, 4, 1 << 22):
        assert _sorted_rows(ok, indptr, chunk)
        for bad_at in (1, 2, 4, 5, 7):                      # a drop inside row 0, 2 or 3
            bad = ok.copy()
            bad[bad_at] = bad[bad_at - 1] - 1
            assert not _sorted_rows(bad, indptr, chunk), (chunk, bad_at)
    assert _sorted_rows(np.zeros(0, np.int32), np.zeros(1, np.int32))
    assert _sorted_rows(np.array([5], np.int32), np.array([0, 1], np.int32))
    # computed when a CSR is built from concrete arrays, NumPy (a loaded file) or JAX
    w = connectivity.csr(np.array([0, 0, 1]), np.array([2, 1, 0]), np.ones(3), 2, 3)
    assert w.sorted_rows is False
    w = connectivity.csr(np.array([0, 0, 1]), np.array([1, 2, 0]), np.ones(3), 2, 3)
    assert w.sorted_rows is True
    again = connectivity.CSR(np.asarray(w.data), np.asarray(w.indices), np.asarray(w.indptr), 3)
    assert again.sorted_rows is True


def test_gradients_and_vmap_equal_the_sparse_formulation():
    sparse, csr = _pair()
    n = sparse.n_pre
    s = jnp.asarray((np.random.default_rng(2).random(n) < 0.2).astype(float))
    target = jnp.linspace(-1, 1, n)

    def loss(weights, spikes):
        return jnp.sum((connectivity.propagate(weights, spikes) - target) ** 2)

    gw_s, gs_s = jax.grad(loss, argnums=(0, 1), allow_int=True)(sparse, s)
    gw_c, gs_c = jax.grad(loss, argnums=(0, 1), allow_int=True)(csr, s)
    np.testing.assert_allclose(np.asarray(gs_c), np.asarray(gs_s), rtol=1e-12)
    keep = np.asarray(sparse.post) < n
    np.testing.assert_allclose(np.asarray(gw_c.data), np.asarray(gw_s.w)[keep], rtol=1e-12)
    batch = jnp.stack([s, 0 * s, 1 - s])
    np.testing.assert_allclose(np.asarray(jax.vmap(csr.propagate)(batch)),
                               np.asarray(jax.vmap(sparse.propagate)(batch)), rtol=1e-12)


def test_conversions_keep_the_synapses():
    sparse, csr = _pair()
    dense = connectivity.to_dense(sparse)
    np.testing.assert_array_equal(csr.to_dense(), dense)
    back = csr.to_sparse(buffers=(4, 16))
    np.testing.assert_array_equal(np.asarray(back.post), np.asarray(sparse.post))
    np.testing.assert_array_equal(np.asarray(back.w), np.asarray(sparse.w))
    for other in (jnp.asarray(dense), connectivity.event_dense(jnp.asarray(dense))):
        np.testing.assert_array_equal(connectivity.to_csr(other).to_dense(), dense)
    pre, post = np.nonzero(dense.T)
    direct = connectivity.csr(pre, post, dense[post, pre], dense.shape[1], dense.shape[0])
    np.testing.assert_array_equal(direct.to_dense(), dense)
    with pytest.raises(TypeError, match="to_csr takes"):
        connectivity.to_csr(connectivity.to_delayed(sparse, 2))


def test_save_and_load_a_csr_network(tmp_path):
    net = connectivity.to_csr(izj.scaled_izhikevich2003(jax.random.key(0), 500, k=50))
    key = jax.random.key(3)
    izj.save(tmp_path / "net.npz", params=net)
    loaded = izj.load(tmp_path / "net.npz").params
    assert isinstance(loaded.weights, connectivity.CSR)
    _, a = izj.simulate(net, key, 100)
    _, b = izj.simulate(loaded, key, 100)
    np.testing.assert_array_equal(np.asarray(a.spikes), np.asarray(b.spikes))


@pytest.mark.parametrize("field, change, message", [
    ("indices", lambda c: c.indices.at[3].set(c.n_post), r"CSR.indices must lie in \[0, n_post"),
    ("indices", lambda c: c.indices.at[0].set(-1), r"CSR.indices must lie"),
    ("indptr", lambda c: c.indptr.at[5].set(c.indptr[7]), r"CSR.indptr must start at 0, never"),
    ("indptr", lambda c: c.indptr.at[-1].add(-1), r"CSR.indptr must .* end at the number"),
    ("data", lambda c: c.data[:-1], r"CSR.indices must have the shape of CSR.data"),
])
def test_bad_arrays_are_refused_naming_the_field(field, change, message):
    _, csr = _pair()
    fields = dict(data=np.asarray(csr.data), indices=np.asarray(csr.indices),
                  indptr=np.asarray(csr.indptr), n_post=csr.n_post)
    fields[field] = np.asarray(change(csr))
    with pytest.raises(ValueError, match=message):
        connectivity.CSR(**fields)      # NumPy arrays, as a file loads them: values checked
    with pytest.raises(ValueError, match="n_post must be an integer >= 1"):
        connectivity.CSR(np.asarray(csr.data), np.asarray(csr.indices), np.asarray(csr.indptr),
                         n_post=0)


def test_shard_runs_csr_as_the_one_device_run():
    # The sharded run takes CSR weights (split by target device; 2, 4, 8 devices and two
    # processes in tests/test_shard.py); on this process's one device it is izj.simulate's run.
    from izhijax import shard
    net = connectivity.to_csr(izj.scaled_izhikevich2003(jax.random.key(0), 200, k=20))
    key = jax.random.key(3)
    f0, r0 = izj.simulate(net, key, 100, record_v=[0, 199])
    f1, r1 = shard.simulate(net, key, 100, record_v=[0, 199])
    assert np.asarray(r0.spikes).sum() > 100
    for a, b in ((r0.spikes, r1.spikes), (r0.v, r1.v), (f0.pulse, f1.pulse)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_without_brainevent_the_error_says_how_to_install_it(monkeypatch):
    sparse, csr = _pair()
    monkeypatch.setitem(sys.modules, "brainevent", None)     # import brainevent -> ImportError
    with pytest.raises(ImportError, match=r'pip install "izhijax\[brainevent\]"'):
        connectivity.to_csr(sparse)
    with pytest.raises(ImportError, match=r'pip install "izhijax\[brainevent\]"'):
        connectivity.propagate(csr, jnp.zeros(sparse.n_pre))   # e.g. a network loaded from a file


def test_a_delayed_projection_and_a_sweep_equal_sparse():
    net = izj.scaled_izhikevich2003(jax.random.key(0), 300, k=30)
    proj = net.projections[0]
    key = jax.random.key(1)
    # one delay of 3 steps on the projection (the engine's pulse ring)
    slow = net.replace(projections=(proj.replace(delay=3),))
    slow_csr = net.replace(projections=(proj.replace(delay=3, weights=connectivity.to_csr(
        proj.weights)),))
    _, a = izj.simulate(slow, key, 200)
    _, b = izj.simulate(slow_csr, key, 200)
    assert np.asarray(a.spikes).sum() > 1000
    np.testing.assert_array_equal(np.asarray(b.spikes), np.asarray(a.spikes))
    # a vmapped sweep, the excitatory weight scale among the axes (PreScaled spikes)
    axes = {"noise_amp": jnp.asarray([1.0, 3.0]), "exc_weight_scale": jnp.asarray([0.5, 1.0])}
    ra = izj.sweep.run(net, key, 150, axes)
    rb = izj.sweep.run(connectivity.to_csr(net), key, 150, axes)
    for name in ("spikes", "rate_exc", "rate_inh"):
        np.testing.assert_array_equal(np.asarray(rb.data[name]), np.asarray(ra.data[name]))


def test_gradient_through_a_run_equals_sparse():
    net = izj.scaled_izhikevich2003(jax.random.key(0), 200, k=20)
    sparse = net.projections[0].weights
    csr = connectivity.to_csr(sparse)
    key = jax.random.key(2)

    def loss(weights):
        run = net.replace(projections=(net.projections[0].replace(weights=weights),))
        _, rec = izj.simulate(run, key, 60, differentiable=True, record_v=())
        return jnp.sum(rec.counts * jnp.linspace(0.5, 1.5, 200))

    g_sparse = jax.grad(lambda w: loss(dataclasses.replace(sparse, w=w)))(sparse.w)
    g_csr = jax.grad(lambda d: loss(dataclasses.replace(csr, data=d)))(csr.data)
    keep = np.asarray(sparse.post) < sparse.n_post
    assert np.count_nonzero(np.asarray(g_csr)) > 100
    np.testing.assert_allclose(np.asarray(g_csr), np.asarray(g_sparse)[keep], rtol=1e-10,
                               atol=1e-14)


def test_csr_rebuilds_with_other_leaves_and_refuses_wrong_index_types():
    _, csr = _pair()
    # JAX rebuilds the structure with other leaves (axis specs, None, shapes): no check trips
    assert jax.tree.map(lambda x: None, csr).n_post == csr.n_post
    assert jax.eval_shape(lambda c: c, csr).data.shape == csr.data.shape
    with pytest.raises(TypeError, match="CSR.indices must be int32, got int64"):
        connectivity.CSR(np.asarray(csr.data), np.asarray(csr.indices).astype(np.int64),
                         np.asarray(csr.indptr), n_post=csr.n_post)
    with pytest.raises(TypeError, match="post must hold integer neuron indices"):
        connectivity.csr(np.array([0, 1]), np.array([1.0, 0.0]), np.ones(2), 2, 2)
