"""The unrolled Threefry noise blocks: the published hash, and bit for bit jax.random's draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src import connectivity, threefry
from izhijax._src.network import unit_noise
from izhijax._src.threefry import threefry2x32, unit_noise_block


@pytest.mark.parametrize("key, count, expected", [
    # Threefry-2x32-20 known-answer vectors (Random123's kat_vectors, also JAX's own tests).
    ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
])
def test_threefry2x32_known_answers(key, count, expected):
    u = lambda x: jnp.asarray(np.uint32(x))
    y1, y2 = jax.jit(threefry2x32)(u(key[0]), u(key[1]), u(count[0]), u(count[1]))
    assert (int(y1), int(y2)) == expected


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kind", ["normal", "uniform"])
@pytest.mark.parametrize("seed, t0, n", [(0, 0, 1000), (7, 123_456, 37), (3, 2**31 - 60, 5)])
def test_noise_block_equals_the_per_step_jax_random_draws(dtype, kind, seed, t0, n):
    key = jax.random.key(seed)
    block = jax.jit(lambda k, t: unit_noise_block(k, t, 50, n, dtype, kind))(key, jnp.int32(t0))
    for j in (0, 1, 49):
        step = unit_noise(key, jnp.int32(t0 + j), (n,), dtype, kind)
        np.testing.assert_array_equal(np.asarray(block[j]), np.asarray(step))
    assert block.dtype == dtype and block.shape == (50, n)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("shape", [(1000, 800), (37,), (3, 0), (0,), (2, 3, 4)])
def test_uniform_equals_jax_random_uniform(dtype, shape):
    key = jax.random.fold_in(jax.random.key(11), 2)
    got = jax.jit(lambda k: threefry.uniform(k, shape, dtype))(key)
    np.testing.assert_array_equal(np.asarray(got),
                                  np.asarray(jax.random.uniform(key, shape, dtype)))
    assert got.dtype == dtype and got.shape == shape
    other = jax.random.key(5, impl="philox4x32")        # another PRNG: jax.random's own draw
    np.testing.assert_array_equal(np.asarray(threefry.uniform(other, shape, dtype)),
                                  np.asarray(jax.random.uniform(other, shape, dtype)))


def test_other_key_kinds_fall_back_to_jax_random():
    key = jax.random.key(5, impl="philox4x32")
    block = unit_noise_block(key, jnp.int32(10), 3, 20, jnp.float32, "normal")
    np.testing.assert_array_equal(np.asarray(block[2]),
                                  np.asarray(unit_noise(key, 12, (20,), jnp.float32, "normal")))


def test_fired_indices_are_the_first_fired_neurons_in_order():
    rng = np.random.default_rng(0)
    for k in (0, 1, 5, 16, 40):
        spikes = np.zeros(100)
        fired = np.sort(rng.choice(100, k, replace=False))
        spikes[fired] = 1.0
        idx, valid = connectivity._fired(jnp.asarray(spikes), 16)
        m = min(k, 16)
        np.testing.assert_array_equal(np.asarray(idx)[:m], fired[:m])
        assert np.asarray(valid).sum() == m and np.all(np.asarray(idx)[m:] == 99)


def test_block_drawn_run_equals_per_step_draws():
    # simulate (noise in unrolled blocks) against the step function drawing its own noise.
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, propagation="event")
    key = jax.random.key(2)
    _, rec = izj.simulate(params, key, 120, record_v=[0, 999])
    state, spikes = izj.init_state(params), []
    step = jax.jit(lambda s: izj.step(s, params, key))
    for _ in range(120):
        state, s = step(state)
        spikes.append(np.asarray(s) > 0)
    np.testing.assert_array_equal(np.asarray(rec.spikes), np.array(spikes))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_uniform_rows_are_rows_of_jax_random_uniform(dtype):
    """A block of rows drawn alone is bit for bit those rows of the whole jax.random.uniform draw
    (what the scaled network's weights are drawn with, in blocks)."""
    key = jax.random.key(11)
    whole = np.asarray(jax.random.uniform(key, (37, 13), dtype))
    for row0, rows in ((0, 37), (5, 9), (30, 7)):
        got = np.asarray(threefry.uniform_rows(key, row0, rows, (37, 13), dtype))
        np.testing.assert_array_equal(got.view(np.uint8), whole[row0:row0 + rows].view(np.uint8))
    traced = jax.jit(lambda r: threefry.uniform_rows(key, r, 4, (37, 13), dtype))(jnp.int32(20))
    np.testing.assert_array_equal(np.asarray(traced), whole[20:24])
    assert threefry.uniform_rows(key, 0, 1, (2**16, 2**16), dtype) is None     # >= 2^32 values
