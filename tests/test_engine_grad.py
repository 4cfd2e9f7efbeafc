"""Gradients through izhijax.simulate's recording: izhijax 0.1's numbers, every way of asking.

``tests/data/bptt_gradients.npz`` holds the gradients of a rate loss computed by izhijax 0.1's
differentiable counts (``izj.spike_rates``, the bptt path; see ``experiments/bptt_reference.py``,
whose network, loss and keys are repeated here). In 0.2 the same loss is written on the recording of
a plain ``izj.simulate`` call with default arguments: inside ``jax.grad`` the parameters are traced,
so the recording's spikes and counts are floats that carry the surrogate gradient.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bptt_gradients.npz")
N_STEPS = 200
N_EXC = 40
KEYS = (0, 1, 2)
VARIANTS = ("brian2", "netm", "pymonnto")
FORMATS = ("dense", "event")
FIELDS = ("a", "b", "c", "d", "noise_amp", "bias")


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA) as d:
        return {k: d[k] for k in d.files}


def loss(rates, n_exc=N_EXC):
    """experiments/bptt_reference.py's loss, Hz^2."""
    return ((jnp.mean(rates[:n_exc]) - 5.0) ** 2 + (jnp.mean(rates[n_exc:]) - 20.0) ** 2
            + 1e-3 * jnp.sum(rates ** 2))


def build(variant="brian2", fmt="dense"):
    """experiments/bptt_reference.py's network: 40 + 10 neurons, float64, bias 2, with izhijax
    0.1's gradient setting (``synapse_grad=False``; the brian2 variant now defaults to True)."""
    params = izj.izhikevich2003(jax.random.key(3), n_exc=N_EXC, n_inh=10, variant=variant,
                                dtype=jnp.float64, propagation=fmt, synapse_grad=False)
    return params.replace(bias=2.0)


def run_key(k):
    return jax.random.key(100 + k)


def rate_loss(key):
    """The loss on simulate's recording, default arguments (rates returned as aux)."""
    def f(p):
        _, rec = izj.simulate(p, key, N_STEPS)
        rates = izj.firing_rates(rec)
        return loss(rates), rates
    return f


def dense_weights(w, fmt):
    """A weights gradient as the stored array ``W[post, pre]`` (EventDense is pre-major)."""
    if fmt == "event":
        assert isinstance(w, izj.connectivity.EventDense), type(w)
        return np.asarray(w.w).T
    return np.asarray(w)


def assert_close(got, ref, what):
    """Equal to rounding: relative 1e-9, absolute 1e-12 of the array's largest entry (entries that
    are exactly zero, e.g. the weights from a neuron that never fired)."""
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    assert np.isfinite(got).all(), what
    scale = max(float(np.abs(ref).max()), 1e-300)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * scale, err_msg=what)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_equal_izhijax_0_1(reference, variant, fmt):
    assert int(reference["n_steps"]) == N_STEPS
    params = build(variant, fmt)
    for k in KEYS:
        tag = f"{variant}_{fmt}_{k}"
        key = run_key(k)
        (_, rates), g = jax.value_and_grad(rate_loss(key), has_aux=True)(params)
        ref_rates = reference[f"{tag}_rates"]
        # the rates of the differentiable (traced) run and of the plain eager run: 0.1's exactly
        np.testing.assert_array_equal(np.asarray(rates), ref_rates, err_msg=tag)
        _, rec = izj.simulate(params, key, N_STEPS)
        np.testing.assert_array_equal(np.asarray(izj.firing_rates(rec)), ref_rates, err_msg=tag)
        assert ref_rates.sum() > 0, tag
        for field in FIELDS:
            assert_close(np.asarray(getattr(g, field)), reference[f"{tag}_{field}"],
                         f"{tag} {field}")
        assert_close(dense_weights(g.weights, fmt), reference[f"{tag}_weights"], f"{tag} weights")
        # not a vacuous comparison: the loss depends on every field
        assert all(np.abs(reference[f"{tag}_{f}"]).max() > 0 for f in FIELDS + ("weights",)), tag


def _grad_of(reduce, **kwargs):
    key = run_key(0)

    def f(p):
        _, rec = izj.simulate(p, key, N_STEPS, **kwargs)
        return reduce(rec)
    return jax.grad(f)


def _assert_same_grads(a, b, rtol=1e-12, what=""):
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        assert np.isfinite(x).all() and np.isfinite(y).all(), (what, path)
        scale = max(float(np.abs(y).max()), 1e-300)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-14 * scale,
                                   err_msg=f"{what} {jax.tree_util.keystr(path)}")


def test_raster_and_population_counts_carry_the_counts_gradient():
    params = build()
    by_counts = _grad_of(lambda rec: rec.counts.sum())(params)
    by_spikes = _grad_of(lambda rec: rec.spikes.sum())(params)
    by_pops = _grad_of(lambda rec: rec.pop_counts.sum())(params)
    assert np.abs(np.asarray(by_counts.bias)).max() > 0
    _assert_same_grads(by_spikes, by_counts, what="spikes.sum()")
    _assert_same_grads(by_pops, by_counts, what="pop_counts.sum()")


@pytest.mark.slow
def test_population_rate_loss_under_jit_and_grad():
    params = build()
    key = run_key(0)

    def f(p):
        _, rec = izj.simulate(p, key, N_STEPS)
        return (izj.population_rates(rec)["exc"] - 5.0) ** 2

    eager = jax.grad(f)(params)
    jit_of_grad = jax.jit(jax.grad(f))(params)
    grad_of_jit = jax.grad(jax.jit(f))(params)
    assert np.abs(np.asarray(eager.bias)).max() > 0
    _assert_same_grads(jit_of_grad, eager, what="jit(grad)")
    _assert_same_grads(grad_of_jit, eager, what="grad(jit)")
    # the value is the plain run's
    _, rec = izj.simulate(params, key, N_STEPS)
    np.testing.assert_allclose(float(jax.jit(f)(params)),
                               (float(izj.population_rates(rec)["exc"]) - 5.0) ** 2, rtol=1e-15)


def test_eager_forward_records_bool_spikes_and_int32_counts():
    params = build()
    _, rec = izj.simulate(params, run_key(0), N_STEPS)
    n = params.n
    assert rec.spikes.dtype == jnp.bool_ and rec.spikes.shape == (N_STEPS, n)
    assert rec.spikes.nbytes == N_STEPS * n               # one byte a spike, not eight
    assert rec.counts.dtype == jnp.int32 and rec.pop_counts.dtype == jnp.int32
    assert rec.pop_counts.shape == (N_STEPS, 2)
    assert int(rec.counts.sum()) == int(rec.spikes.sum()) == int(rec.pop_counts.sum()) > 0
    # the traced run records the same spikes, as floats
    _, traced = jax.jit(lambda p: izj.simulate(p, run_key(0), N_STEPS))(params)
    assert traced.spikes.dtype == jnp.float64 and traced.counts.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(traced.spikes), np.asarray(rec.spikes, np.float64))
    np.testing.assert_array_equal(np.asarray(traced.counts), np.asarray(rec.counts, np.float64))
    np.testing.assert_array_equal(np.asarray(traced.pop_counts),
                                  np.asarray(rec.pop_counts, np.float64))


def test_host_only_summaries_refuse_tracers_and_name_the_alternative():
    params = build()
    with pytest.raises(TypeError, match="population_rates"):
        _grad_of(lambda rec: izj.summary(rec)["rate_exc"])(params)
    with pytest.raises(TypeError, match=r"rec\.spikes"):
        _grad_of(lambda rec: jnp.sum(rec.spike_times()[1]))(params)


@pytest.mark.parametrize("checkpoint", [50, 64])
def test_checkpoint_gives_the_same_gradient(checkpoint):
    params = build()
    key = run_key(0)
    plain = jax.grad(lambda p: rate_loss(key)(p)[0])(params)

    def f(p):
        _, rec = izj.simulate(p, key, N_STEPS, checkpoint=checkpoint)
        return loss(izj.firing_rates(rec))

    chunked = jax.grad(f)(params)
    assert np.abs(np.asarray(plain.bias)).max() > 0
    _assert_same_grads(chunked, plain, rtol=1e-10, what=f"checkpoint={checkpoint}")
