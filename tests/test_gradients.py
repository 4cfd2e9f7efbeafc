"""Surrogate gradients: forward equality, finite gradients over long runs, signs against finite
differences, checkpointing gives the same gradients."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj

FIELDS = ("a", "b", "c", "d", "weights", "noise_amp", "bias", "v0", "u0")


def _loss(params):
    return izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, params, kind="mse")


FORWARD_CASES = [(integrator, threshold_grad, (jnp.float64, jnp.float32)[(i + j) % 2])
                 for i, integrator in enumerate(izj.INTEGRATORS)
                 for j, threshold_grad in enumerate(("crossing", "voltage"))]
"""Every (integrator, threshold_grad) pair with the dtypes taking turns, so that every
(integrator, dtype) and (threshold_grad, dtype) pair is there too: 6 of the 12 combinations."""


def test_forward_cases_cover_every_pair():
    pairs = lambda a, b: {(c[a], c[b]) for c in FORWARD_CASES}
    assert len(pairs(0, 1)) == 6 and len(pairs(0, 2)) == 6 and len(pairs(1, 2)) == 4


@pytest.mark.slow
@pytest.mark.parametrize("integrator,threshold_grad,dtype", FORWARD_CASES,
                         ids=[f"{t}-{i}-{jnp.dtype(d).name}" for i, t, d in FORWARD_CASES])
def test_forward_with_gradients_is_the_plain_run(integrator, threshold_grad, dtype):
    params = izj.izhikevich2003(jax.random.key(1), n_exc=80, n_inh=20, dtype=dtype,
                                integrator=integrator, threshold_grad=threshold_grad,
                                reset_grad=True, synapse_grad=True)
    key = jax.random.key(7)
    final, rec = izj.simulate(params, key, 300)

    def f(p):
        state, rec = izj.simulate(p, key, 300, record_spikes=False, record_v=(), checkpoint=64,
                                  differentiable=True, on_divergence="ignore")
        return jnp.sum(rec.counts), (state, rec.counts)

    (_, (state, counts)), grads = jax.jit(jax.value_and_grad(f, has_aux=True))(params)
    assert int(rec.counts.sum()) > 100
    np.testing.assert_array_equal(np.asarray(counts), np.asarray(rec.counts))
    for name in ("v", "u", "pulse", "t"):          # the post-reset state, bit for bit
        np.testing.assert_array_equal(np.asarray(getattr(state, name)),
                                      np.asarray(getattr(final, name)))
    assert all(np.isfinite(np.asarray(getattr(grads, f))).all() for f in FIELDS)


def _grad_all_keys(params, n_steps=1000, n_keys=20):
    loss = _loss(params)
    rate = lambda p, k: loss(izj.fit.rates_of(p, k, n_steps))
    keys = jax.random.split(jax.random.key(3), n_keys)
    return jax.jit(jax.vmap(jax.grad(rate), in_axes=(None, 0)))(params, keys)


@pytest.mark.slow
@pytest.mark.parametrize("integrator", izj.INTEGRATORS)
def test_gradients_finite_over_keys_1000_steps_every_surrogate(integrator):
    """Every surrogate with the default integrator (Euler): the default surrogate over 10 keys,
    the others over 4; the other integrators with the default surrogate and the widest one
    (sigmoid), 4 keys (CI time: each case compiles and runs a 1000-step backward pass per key;
    the surrogate acts only at the threshold, the integrator only on the subthreshold update)."""
    start = time.perf_counter()
    default = izj.Config().surrogate.name
    surrogates = izj.SURROGATES if integrator == "euler" else (default, "sigmoid")
    for surrogate in surrogates:
        n_keys = 10 if (integrator, surrogate) == ("euler", default) else 4
        # the network's default: synapse_grad=True, except for straight_through (infinite
        # area: no height bounds the synaptic path)
        params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, integrator=integrator,
                                    surrogate=surrogate)
        assert params.config.synapse_grad is (surrogate != "straight_through"), surrogate
        grads = _grad_all_keys(params, n_keys=n_keys)
        for name in FIELDS:
            g = np.asarray(getattr(grads, name))
            assert np.isfinite(g).all(), (integrator, surrogate, name)
        assert np.abs(np.asarray(grads.bias)).sum() > 0
    print(f"{integrator}: {time.perf_counter() - start:.1f} s for {len(surrogates)} surrogates")


def test_plain_formulation_overflows():
    """The cause, kept reproducible: surrogate on v - 30, gradient through the reset, the overshoot
    and the synapses. Its backward pass grows exponentially and overflows float32 within 1000 steps."""
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, threshold_grad="voltage",
                                reset_grad=True, synapse_grad=True)
    grads = _grad_all_keys(params, n_keys=2)
    assert not np.isfinite(np.asarray(grads.bias)).all()


def _scalar_knobs(params):
    theta, build = izj.fit.population_parameters(params, ("w_exc", "w_inh", "noise_exc"))
    theta["bias"] = jnp.asarray(0.0, params.v0.dtype)
    rebuild = lambda t: build({k: v for k, v in t.items() if k != "bias"}).replace(
        bias=params.bias + t["bias"])
    return theta, rebuild


@pytest.mark.slow
def test_gradient_sign_matches_finite_differences_of_the_noise_averaged_rate():
    params = izj.izhikevich2003(jax.random.key(2), n_exc=400, n_inh=100)
    theta, build = _scalar_knobs(params)
    n_steps, keys = 500, jax.random.split(jax.random.key(5), 16)
    mean_rate = lambda t, k: jnp.mean(izj.fit.rates_of(build(t), k, n_steps))
    grads = jax.jit(jax.vmap(jax.grad(mean_rate), in_axes=(None, 0)))(theta, keys)
    steps = {"bias": 0.5, "w_exc": 0.05, "w_inh": 0.05, "noise_exc": 0.05}
    for name, h in steps.items():
        def avg(delta):
            t = dict(theta, **{name: theta[name] + delta})
            return np.mean(izj.fit.evaluate(build(t), keys, n_steps))
        fd = (avg(h) - avg(-h)) / (2 * h)
        g = float(np.mean(np.asarray(grads[name])))
        assert np.sign(g) == np.sign(fd) and abs(fd) > 0.5, (name, g, fd)


@pytest.mark.slow
def test_checkpointing_gives_the_same_gradients():
    params = izj.izhikevich2003(jax.random.key(1), n_exc=40, n_inh=10, integrator="izhikevich")
    key = jax.random.key(4)
    loss = _loss(params)
    grads = [jax.jit(jax.grad(lambda p: loss(izj.fit.rates_of(p, key, 250, checkpoint=c))))(params)
             for c in (None, 16, 50)]
    for g in grads[1:]:
        for name in FIELDS:
            np.testing.assert_allclose(np.asarray(getattr(g, name)),
                                       np.asarray(getattr(grads[0], name)), rtol=1e-10, atol=1e-12)


def test_checkpoint_and_threshold_grad_validation():
    params = izj.izhikevich2003(jax.random.key(1), n_exc=4, n_inh=1)
    with pytest.raises(ValueError, match="checkpoint"):
        izj.simulate(params, jax.random.key(0), 10, record_spikes=False, record_v=(), checkpoint=0,
                     differentiable=True, on_divergence="ignore")
    with pytest.raises(ValueError, match="threshold_grad"):
        izj.Config(threshold_grad="time")
