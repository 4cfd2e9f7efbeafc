"""Sparse and event-driven propagation: the same connectivity in every format gives the same spikes."""

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax import connectivity, wiring
from izhijax._src import network


def _dyadic(w):
    """Weights rounded to multiples of 2**-10: every sum of them is exact in float64, whatever its order."""
    return jnp.round(jnp.asarray(w) * 1024.0) / 1024.0


@pytest.fixture(scope="module")
def fig3():
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float64, propagation="dense")
    return params.replace(weights=_dyadic(params.weights))


@pytest.mark.slow
def test_dense_event_and_sparse_fig3_give_the_same_spikes(fig3):
    key = jax.random.key(4)
    _, dense = izj.simulate(fig3, key, 1000, record_v=[0, 500])
    for weights in (connectivity.event_dense(fig3.weights), wiring.from_dense(fig3.weights)):
        _, rec = izj.simulate(fig3.replace(weights=weights), key, 1000, record_v=[0, 500])
        np.testing.assert_array_equal(np.asarray(rec.spikes), np.asarray(dense.spikes))
        np.testing.assert_array_equal(np.asarray(rec.v), np.asarray(dense.v))
    counts = np.asarray(dense.spikes).sum(1)
    # Quiet steps and population bursts: the run climbs several rungs of the buffer ladder.
    ladder = np.asarray(connectivity.event_dense(fig3.weights).buffers)
    assert len(np.unique(np.searchsorted(ladder, counts))) >= 4


@pytest.mark.parametrize("fmt", ["event_dense", "sparse"])
def test_no_spike_is_dropped_when_the_buffers_overflow(fmt):
    # A sparse random network with a tiny ladder (4, 16): steps with 0, 3, 10, 40 and all neurons
    # firing take every branch, the last ones the all-synapse fallback.
    n = 200
    post = wiring.fixed_indegree(jax.random.key(1), n, n, 20, self_connections=False)
    w = _dyadic(jax.random.normal(jax.random.key(2), post.shape, jnp.float64))
    sparse = wiring.sparse(post, w, n, buffers=(4, 16))
    dense = jnp.asarray(wiring.to_dense(sparse))
    weights = sparse if fmt == "sparse" else connectivity.event_dense(dense, buffers=(4, 16))
    rng = np.random.default_rng(0)
    for count in (0, 1, 3, 4, 5, 10, 16, 17, 40, 150, n):
        s = np.zeros(n)
        s[rng.choice(n, count, replace=False)] = 1.0
        got = jax.jit(connectivity.propagate)(weights, jnp.asarray(s))
        np.testing.assert_array_equal(np.asarray(got), np.asarray(dense) @ s)

    # And in a run: a burst of the whole network (injected current) against the dense path.
    params = izj.make_params(0.02, 0.2, -65.0, 8.0, weights, noise_amp=3.0, config=izj.Config())
    inputs = np.zeros((60, n))
    inputs[10] = 200.0  # every neuron fires at step 10, far more than the largest buffer (16)
    inputs[30, :12] = 200.0  # 12 neurons: the middle buffer
    key = jax.random.key(3)
    _, ref = izj.simulate(params.replace(weights=dense), key, 60, inputs=inputs)
    _, rec = izj.simulate(params, key, 60, inputs=inputs)
    assert np.asarray(ref.spikes)[10].sum() == n
    np.testing.assert_array_equal(np.asarray(rec.spikes), np.asarray(ref.spikes))


@pytest.mark.slow
def test_gradients_of_event_driven_formats_equal_the_dense_gradients(fig3):
    key = jax.random.key(5)
    small = izj.make_params(fig3.a[:100], fig3.b[:100], fig3.c[:100], fig3.d[:100],
                            fig3.weights[:100, :100] * 4, noise_amp=fig3.noise_amp[:100],
                            config=fig3.config.replace(n_exc=80))

    def loss(values, amp, make):
        p = small.replace(weights=make(values), noise_amp=amp)
        _, rec = izj.simulate(p, key, 40, record_v=list(range(0, 100, 7)))
        return jnp.mean(rec.v)

    ref = jax.grad(loss, argnums=(0, 1))(small.weights, small.noise_amp, lambda w: w)
    event = connectivity.event_dense(small.weights)
    sparse = wiring.from_dense(small.weights)
    for fmt, values in ((event, event.w), (sparse, sparse.w)):
        make = lambda w, fmt=fmt: dataclasses.replace(fmt, w=w)
        g_w, g_amp = jax.grad(loss, argnums=(0, 1))(values, small.noise_amp, make)
        np.testing.assert_allclose(np.asarray(g_amp), np.asarray(ref[1]), rtol=1e-9, atol=1e-12)
        g_dense = wiring.to_dense(make(g_w))
        mask = np.asarray(small.weights) != 0
        np.testing.assert_allclose(g_dense[mask], np.asarray(ref[0])[mask], rtol=1e-9, atol=1e-12)
    assert np.abs(np.asarray(ref[0])).max() > 0


def _small_formats():
    n = 120
    post = wiring.fixed_indegree(jax.random.key(6), n, n, 15, self_connections=False)
    w = _dyadic(jax.random.normal(jax.random.key(7), post.shape, jnp.float64))
    sparse = wiring.sparse(post, w, n, buffers=(4, 16))
    dense = jnp.asarray(wiring.to_dense(sparse))
    return dense, {"event_dense": connectivity.event_dense(dense, buffers=(4, 16)), "sparse": sparse}


@pytest.mark.parametrize("fmt", ["event_dense", "sparse"])
def test_vmapped_event_driven_propagation_is_the_batch_all_synapse_path(fmt):
    """Under vmap the event-driven formats propagate every network at once (no per-network buffer
    ladder, no top_k in the program), with the dense sums; weights batched or not, gains too."""
    dense, formats = _small_formats()
    weights = formats[fmt]
    n = dense.shape[0]
    rng = np.random.default_rng(1)
    counts = [0, 2, 9, 30, n]                     # every rung of the ladder within one batch
    spikes = np.zeros((len(counts), n))
    for row, count in zip(spikes, counts):
        row[rng.choice(n, count, replace=False)] = 1.0
    spikes = jnp.asarray(spikes)
    batched = jax.jit(jax.vmap(connectivity.propagate, in_axes=(None, 0)))
    np.testing.assert_array_equal(np.asarray(batched(weights, spikes)), spikes @ np.asarray(dense).T)
    assert not re.search("topk", batched.lower(weights, spikes).compile().as_text(), re.I)
    assert re.search("topk", jax.jit(connectivity.propagate).lower(weights, spikes[0])
                     .compile().as_text(), re.I)
    # Gains per network (a sweep's PreScaled): one shared table, a gain row per network.
    gains = jnp.asarray(rng.integers(0, 4, spikes.shape) / 2.0)
    scaled = jax.vmap(lambda g, s: connectivity.propagate(connectivity.PreScaled(weights, g), s))
    np.testing.assert_array_equal(np.asarray(jax.jit(scaled)(gains, spikes)),
                                  (gains * spikes) @ np.asarray(dense).T)
    np.testing.assert_array_equal(connectivity.PreScaled(weights, gains[1]).dense(),
                                  np.asarray(dense) * np.asarray(gains[1])[None])
    # Weights batched, spikes not: each network's own table.
    stacked = jax.tree.map(lambda *x: jnp.stack(x), weights, dataclasses.replace(weights, w=-weights.w))
    got = jax.vmap(connectivity.propagate, in_axes=(0, None))(stacked, spikes[2])
    np.testing.assert_array_equal(np.asarray(got), np.stack([dense @ spikes[2], -dense @ spikes[2]]))
    # Gradients of the vmapped propagation are the dense ones.
    loss = lambda w, s: jnp.sum(jnp.sin(jax.vmap(connectivity.propagate, in_axes=(None, 0))(
        dataclasses.replace(weights, w=w), s)))
    g_w, g_s = jax.grad(loss, argnums=(0, 1))(weights.w, spikes)
    ref_w, ref_s = jax.grad(lambda d, s: jnp.sum(jnp.sin(s @ d.T)), argnums=(0, 1))(dense, spikes)
    np.testing.assert_allclose(np.asarray(g_s), np.asarray(ref_s), rtol=1e-12)
    mask = np.asarray(dense) != 0
    np.testing.assert_allclose(wiring.to_dense(dataclasses.replace(weights, w=g_w))[mask],
                               np.asarray(ref_w)[mask], rtol=1e-12)


def test_fixed_indegree_and_fixed_probability_builders():
    n = 1000
    post = wiring.fixed_indegree(jax.random.key(0), n, n, 50, self_connections=False)
    dense = wiring.to_dense(wiring.sparse(post, np.ones(post.shape), n))
    np.testing.assert_array_equal(dense.sum(1), 50)  # exact in-degree, no repeated synapse
    assert dense.max() == 1 and not np.diag(dense).any()
    p = 0.05
    for self_connections in (True, False):
        post = wiring.fixed_probability(jax.random.key(1), n, n, p, self_connections=self_connections)
        dense = wiring.to_dense(wiring.sparse(post, np.ones(post.shape), n))
        pairs = n * n if self_connections else n * (n - 1)
        assert dense.max() == 1 and abs(dense.sum() - p * pairs) < 5 * np.sqrt(pairs * p * (1 - p))
        assert np.diag(dense).any() == self_connections
        # Rows are the presynaptic neurons: out-degrees spread as Binomial(n, p).
        assert abs(dense.sum(0).std() - np.sqrt(n * p * (1 - p))) < 1.0
    same = wiring.fixed_probability(jax.random.key(1), n, n, p)
    np.testing.assert_array_equal(same, wiring.fixed_probability(jax.random.key(1), n, n, p))


@pytest.mark.slow
def test_chunks_that_split_a_noise_block_equal_one_run():
    params = izj.scaled_izhikevich2003(jax.random.key(0), 300, 30, dtype=jnp.float64, buffers=(32,))
    key = jax.random.key(9)
    # 230 steps = 4 blocks of 50 + 30; chunks of 115 = 2 blocks + 15: blocks start mid-chunk.
    full_state, full = izj.simulate(params, key, 230, record_v=[0, 7])
    chunked_state, chunked = izj.simulate(params, key, 230, chunk_size=115, record_v=[0, 7])
    np.testing.assert_array_equal(np.asarray(full.spikes), np.asarray(chunked.spikes))
    np.testing.assert_array_equal(np.asarray(full.v), np.asarray(chunked.v))
    np.testing.assert_array_equal(np.asarray(full_state.v), np.asarray(chunked_state.v))
    # The blocked draw is the per-step noise: step t of a run sees noise(key, t).
    z = jax.vmap(lambda t: network.unit_noise(key, t, (300,), jnp.float64, "normal"))(
        jnp.arange(3))
    noise = params.config.noise                     # the noise source the step draws from
    assert noise.kind == "normal"
    np.testing.assert_array_equal(np.asarray(params.noise_amp * z[2]),
                                  np.asarray(params.noise_amp * noise.unit(key, 2, (300,),
                                                                          jnp.float64)))


def test_event_dense_reads_and_scales_as_its_dense_view():
    """izhikevich2003 builds EventDense weights by default; scripts written for W[post, pre] keep
    working: arithmetic broadcasts against the dense view (bit for bit the dense result), indexing
    and np.asarray return the dense view, anything else is refused naming the shapes."""
    W = np.asarray(jax.random.uniform(jax.random.key(3), (5, 7)))       # W[post, pre]
    ev = connectivity.event_dense(W, buffers=(2, 4))
    assert ev.shape == (5, 7) and np.array_equal(np.asarray(ev), W)
    assert np.array_equal(ev[1:3, 2], W[1:3, 2]) and np.array_equal(ev.T, W.T)
    g = np.arange(1.0, 8.0)                   # a gain per presynaptic neuron (columns of W)
    h = np.arange(1.0, 6.0)[:, None]          # a gain per postsynaptic neuron (rows of W)
    Wj = jnp.asarray(W)                       # the dense results as JAX computes them
    for got, want in ((ev * g, Wj * g), (g * ev, g * Wj), (ev * h, Wj * h), (ev / 3.0, Wj / 3.0),
                      (2.5 * ev, 2.5 * Wj), (-ev, -Wj), (ev * (W > 0.5), Wj * (W > 0.5))):
        assert isinstance(got, connectivity.EventDense) and got.buffers == (2, 4)
        np.testing.assert_array_equal(connectivity.to_dense(got), want)
    with pytest.raises(ValueError, match=r"shape \(5,\) does not broadcast against W\[post, pre\] "
                                         r"of shape \(5, 7\)"):
        ev * np.ones(5)
    with pytest.raises(TypeError, match="EventDense weights combine with numbers or arrays"):
        ev * ev
    assert isinstance(jnp.asarray(g) * ev, connectivity.EventDense)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_sum_rows_is_the_product_bit_for_bit_for_spikes(dtype):
    """The event path's sum of the fired rows (row by row up to ``_UNROLL`` rows, the product
    above) equals ``coef @ w[idx]`` bit for bit for 0/1 coefficients, at and around the switch
    between the two; inside a scan as the engine runs it."""
    from izhijax._src.connectivity import _UNROLL, sum_rows
    rng = np.random.default_rng(3)
    n = 500
    w = jnp.asarray(rng.normal(size=(n, n)) * rng.random((n, n)), dtype)
    for size in (1, 8, _UNROLL - 1, _UNROLL, _UNROLL + 1, 62):
        idx = jnp.asarray(np.sort(rng.integers(0, n, (200, size)), axis=1), jnp.int32)
        coef = jnp.asarray(rng.random((200, size)) < 0.7, dtype)
        scan = lambda f: jax.jit(lambda c, i: jax.lax.scan(
            lambda _, x: (None, f(x[0], w, x[1])), None, (c, i))[1])
        got = scan(sum_rows)(coef, idx)
        want = scan(lambda c, w, i: jnp.dot(c, w[i], precision="highest"))(coef, idx)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f"size {size}")
        assert float(jnp.max(jnp.abs(got))) > 0
