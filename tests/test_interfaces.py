"""One test per protocol: every neuron model x integrator x weight format x dtype is pure, jits,
vmaps, differentiates and resumes bit for bit.

A small network of two populations of one model (20 + 10 neurons, a recurrent projection in the
format under test and a second, delayed projection from the first population to the second) is
driven by noise and a bias that makes it fire; each property is checked on it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax import connectivity, wiring

MODELS = {
    "Izhikevich2003": (izj.Izhikevich2003(), {"preset": "RS"}, 5.0, 2.0, 6.0, 1.0),
    "Izhikevich2004": (izj.Izhikevich2004(), {"params": {"a": 0.02, "b": 0.2, "c": -65.0,
                                                        "d": 8.0, "k1": 4.1, "k0": 108.0}},
                       5.0, 2.0, 6.0, 1.0),
    "Izhikevich2007": (izj.Izhikevich2007(), {"preset": "RS"}, 400.0, 30.0, 80.0, 0.5),
}
"""name -> (model, population kwargs, bias, noise_amp, weight scale, dt)."""
FORMATS = ("dense", "event", "sparse", "prescaled")
N1, N2 = 20, 10
STEPS = 40


def _weights(w, fmt):
    if fmt == "event":
        return connectivity.event_dense(w)
    if fmt == "sparse":
        return wiring.from_dense(w)
    if fmt == "prescaled":
        return connectivity.PreScaled(w, jnp.linspace(0.5, 1.5, w.shape[1], dtype=w.dtype))
    return w


def _network(model_name, integrator, fmt, dtype):
    model, kwargs, bias, amp, scale, dt = MODELS[model_name]
    pops = [izj.population("a", model, N1, bias=bias, noise_amp=amp, dtype=dtype, **kwargs),
            izj.population("b", model, N2, bias=bias, noise_amp=amp, dtype=dtype, **kwargs)]
    rng = np.random.RandomState(0)
    w = rng.uniform(size=(N1 + N2, N1 + N2)) * (rng.uniform(size=(N1 + N2, N1 + N2)) < 0.3)
    w[:, N1:] *= -1.0
    w = jnp.asarray(scale * w, dtype)
    cross = jnp.asarray(scale * rng.uniform(size=(N2, N1)), dtype)
    projs = [izj.projection(("a", "b"), ("a", "b"), _weights(w, fmt), name="recurrent"),
             izj.projection("a", "b", cross, delay=3, name="delayed")]
    return izj.network(pops, projs, izj.Config(dt=dt, integrator=integrator))


DTYPES = (jnp.float32, jnp.float64)
INTEGRATORS = tuple(izj.INTEGRATORS)
CASES = [(m, INTEGRATORS[(k + j) % 3], f, DTYPES[(k + j) % 2])
         for k, m in enumerate(MODELS) for j, f in enumerate(FORMATS)]
"""Every (model, format) pair, with the integrators and dtypes taking turns so that every
(model, integrator) and every (format, dtype) pair is there too: 12 of the 72 combinations (each
case compiles five programs)."""


def test_cases_cover_every_pair():
    pairs = lambda a, b: {(c[a], c[b]) for c in CASES}
    assert len(pairs(0, 2)) == 12 and len(pairs(0, 1)) == 9 and len(pairs(2, 3)) == 8


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.slow
@pytest.mark.parametrize("model,integrator,fmt,dtype", CASES,
                         ids=[f"{m}-{i}-{f}-{jnp.dtype(d).name}" for m, i, f, d in CASES])
def test_protocols(model, integrator, fmt, dtype):
    net = _network(model, integrator, fmt, dtype)
    key = jax.random.key(7)
    before = _leaves(net)

    # pure: the same call gives the same bits, and leaves its inputs as they were
    final, rec = izj.simulate(net, key, STEPS, record_v=[0, N1], record_u=[1])
    final2, rec2 = izj.simulate(net, key, STEPS, record_v=[0, N1], record_u=[1])
    for x, y in zip(_leaves((final, rec)), _leaves((final2, rec2))):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(before, _leaves(net)):
        np.testing.assert_array_equal(x, y)
    assert int(rec.counts.sum()) > 0 and not rec.diverged
    assert rec.v.dtype == dtype and rec.spikes.dtype == jnp.bool_

    # resume == uninterrupted, and the jitted step == the scan
    half, a = izj.simulate(net, key, STEPS // 2)
    end, b = izj.simulate(net, key, STEPS - STEPS // 2, state=half)
    np.testing.assert_array_equal(np.concatenate([np.asarray(a.spikes), np.asarray(b.spikes)]),
                                  np.asarray(rec.spikes))
    for x, y in zip(_leaves(end), _leaves(final)):
        np.testing.assert_array_equal(x, y)
    step = jax.jit(izj.step)
    state = izj.init_state(net)
    for t in range(5):
        state, s = step(state, net, key)
        np.testing.assert_array_equal(np.asarray(s) > 0, np.asarray(rec.spikes[t]))

    # vmap over keys == one run per key
    keys = jax.random.split(key, 2)
    counts = jax.vmap(lambda k: izj.simulate(net, k, STEPS, record_v=())[1].counts)(keys)
    for k, c in zip(keys, counts):
        np.testing.assert_array_equal(np.asarray(c),
                                      np.asarray(izj.simulate(net, k, STEPS)[1].counts))

    # grad of a rate loss: finite, nonzero for the bias of every population, same forward
    def loss(bias):
        _, r = izj.simulate(net.replace(bias=bias), key, STEPS, record_v=())
        return jnp.sum(izj.firing_rates(r) ** 2), r.counts

    g, counts = jax.grad(loss, has_aux=True)(net.flat("bias"))
    np.testing.assert_array_equal(np.asarray(counts), np.asarray(rec.counts))
    assert g.dtype == dtype and np.all(np.isfinite(np.asarray(g)))
    assert np.any(np.asarray(g[:N1]) != 0) and np.any(np.asarray(g[N1:]) != 0)
