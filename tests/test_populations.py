"""Networks of several populations and models: the Fig. 3 network as populations and projections,
and a thalamus (2003 model) driving excitatory RS and inhibitory FS cells of the 2007 model."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import izhijax as izj


def _fig3_four_projections(params):
    """The Fig. 3 network written as two populations and four dense projections (one per block)."""
    W = params.weights
    exc, inh = params.populations
    ne = exc.size
    blocks = {("exc", "exc"): W[:ne, :ne], ("exc", "inh"): W[ne:, :ne],
              ("inh", "exc"): W[:ne, ne:], ("inh", "inh"): W[ne:, ne:]}
    projections = [izj.projection(src, tgt, w) for (src, tgt), w in blocks.items()]
    return izj.network([exc, inh], projections, params.config)


def test_fig3_as_four_projections_same_spikes():
    """The block form adds the pulses in another order; in float64 every spike is the same."""
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float64)
    four = _fig3_four_projections(params)
    assert [p.name for p in four.projections] == ["exc->exc", "exc->inh", "inh->exc", "inh->inh"]
    _, one = izj.simulate(params, jax.random.key(1), 1000)
    _, rec = izj.simulate(four, jax.random.key(1), 1000)
    assert int(one.counts.sum()) > 5000
    np.testing.assert_array_equal(np.asarray(rec.spikes), np.asarray(one.spikes))
    np.testing.assert_allclose(np.asarray(rec.v), np.asarray(one.v), rtol=1e-9, atol=1e-9)


def test_fig3_is_two_populations_one_projection():
    params = izj.izhikevich2003(jax.random.key(0))
    assert params.names == ("exc", "inh") and params.n == 1000
    assert params.slices() == {"exc": (0, 800), "inh": (800, 1000)}
    (proj,) = params.projections
    assert proj.source == proj.target == ("exc", "inh") and proj.delay == 1
    assert all(p.model == izj.Izhikevich2003() for p in params.populations)


@pytest.fixture(scope="module")
def small():
    return izj.thalamocortical(jax.random.key(0), n_thal=50, n_exc=200, n_inh=50,
                               dtype=jnp.float64)


def test_three_populations_two_models_run_and_record(small):
    net = small
    assert net.names == ("thalamus", "exc", "inh")
    assert type(net.population("thalamus").model) is izj.Izhikevich2003
    assert type(net.population("exc").model) is izj.Izhikevich2007
    assert net.population("exc").model == net.population("inh").model
    assert izj.init_state(net).neurons[1]["v"].shape == (250,)      # exc + inh share one block
    final, rec = izj.simulate(net, jax.random.key(1), 2000,
                              record_v={"thalamus": [0], "exc": np.arange(200), "inh": [0]})
    assert not rec.diverged
    np.testing.assert_array_equal(np.asarray(rec.v_index), np.r_[0, 50:250, 250])
    rates = {k: float(v) for k, v in izj.population_rates(rec).items()}
    # an asynchronous cortex driven by a ~20 Hz thalamus, inhibitory cells faster
    assert 15 < rates["thalamus"] < 30, rates
    assert 3 < rates["exc"] < 20 and rates["exc"] < rates["inh"] < 60, rates
    exc = rec.population("exc")
    assert exc.spikes.shape == (2000, 200) and exc.v.shape == (2000, 200)
    np.testing.assert_array_equal(np.asarray(exc.counts), np.asarray(rec.counts[50:250]))
    np.testing.assert_array_equal(np.asarray(exc.pop_counts[:, 0]),
                                  np.asarray(rec.spikes[:, 50:250]).sum(1))
    assert rec.pop_counts.shape == (2000, 3)
    # the RS cells spike at their own cut-off, v >= 35 mV, and only there
    v_exc, spiked = np.asarray(exc.v), np.asarray(exc.spikes)
    assert spiked.sum() > 500
    assert np.all(v_exc[spiked] >= 35.0) and np.all(v_exc[~spiked] < 35.0)
    s = izj.summary(rec)
    assert set(s) == {"spikes", "rate_thalamus", "rate_exc", "rate_inh", "rate_all", "rhythm_hz",
                      "alpha_hz", "gamma_hz", "alpha_power", "gamma_power"}


@pytest.mark.slow
def test_three_populations_resume_and_chunks_bitwise(small):
    key = jax.random.key(2)
    full_final, full = izj.simulate(small, key, 300)
    half, a = izj.simulate(small, key, 150)
    final, b = izj.simulate(small, key, 150, state=half)
    np.testing.assert_array_equal(np.asarray(full.spikes),
                                  np.concatenate([np.asarray(a.spikes), np.asarray(b.spikes)]))
    for x, y in zip(jax.tree.leaves(full_final), jax.tree.leaves(final)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    _, chunked = izj.simulate(small, key, 300, chunk_size=70)
    np.testing.assert_array_equal(np.asarray(chunked.spikes), np.asarray(full.spikes))


@pytest.mark.slow
def test_three_populations_sweep_equals_single_runs(small):
    axes = {"thalamus_noise_scale": [0.75, 1.0], "exc_weight_scale": [0.5, 1.5]}
    res = izj.sweep.run(small, jax.random.key(3), 500, axes)
    assert res.dims == ("thalamus_noise_scale", "exc_weight_scale")
    assert {"rate_thalamus", "rate_exc", "rate_inh"} <= set(res.data)
    for i, tn in enumerate(axes["thalamus_noise_scale"]):
        for j, we in enumerate(axes["exc_weight_scale"]):
            p = izj.sweep.apply_values(small, {"thalamus_noise_scale": tn, "exc_weight_scale": we})
            _, rec = izj.simulate(p, jax.random.key(3), 500, record_spikes=False)
            rates = izj.population_rates(rec)
            for pop in ("thalamus", "exc", "inh"):
                assert res[f"rate_{pop}"][i, j] == pytest.approx(float(rates[pop]), rel=1e-12)
    # more thalamic noise, more thalamic spikes; stronger excitation, more cortical spikes
    assert np.all(res["rate_thalamus"][1] > res["rate_thalamus"][0])
    assert np.all(res["rate_exc"][:, 1] > res["rate_exc"][:, 0])


@pytest.mark.slow
def test_three_populations_fit_thalamic_drive(small):
    """Fit the thalamocortical weight scale so the excitatory cells fire at 15 Hz."""
    net = small
    theta, build = izj.fit.population_parameters(net, ["w_thalamus"])
    loss = izj.fit.population_loss({"exc": 15.0}, net)
    keys = jax.random.split(jax.random.key(9), 4)
    before = izj.fit.evaluate(net, keys, 1000)[:, 50:250].mean()
    result = izj.fit.fit(theta, build, loss, optax.adam(0.05), jax.random.key(4), 1000,
                         n_iters=40, batch=2, progress=False, tol=1e-3)
    after = izj.fit.evaluate(result.params, keys, 1000)[:, 50:250].mean()
    assert before < 12.0
    assert float(result.theta["w_thalamus"]) > 1.0            # more drive was needed
    assert abs(after - 15.0) < 0.15 * 15.0, (before, after, result.theta)
