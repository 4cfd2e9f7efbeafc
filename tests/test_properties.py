"""Property tests (hypothesis): random valid networks never give a silent NaN, spikes reset v to c,
rates are never negative; random invalid inputs always raise the documented error.

Networks are small (6 neurons, 120 steps) and the static settings come from a short list, so the
compiled programs are reused across examples; the example counts are modest for a 2-core CI.
"""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import izhijax as izj
from izhijax._src import engine

N, T = 6, 120
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
_advance = jax.jit(engine.advance)


def _log_uniform(lo, hi):
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: 10.0 ** e)


@st.composite
def networks(draw):
    """A valid network and run: (params, key, inputs or None)."""
    integrator = draw(st.sampled_from(tuple(izj.INTEGRATORS)))
    config = izj.Config(dt=draw(st.sampled_from([0.5, 1.0])), integrator=integrator,
                        inclusive=integrator != "semi-implicit")     # as in the seeds
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    vec = lambda lo, hi: rng.uniform(lo, hi, N)
    a = vec(0.0, draw(st.sampled_from([0.1, 1.0, 6.0])))      # 6 / ms: unstable for some dt
    weights = draw(_log_uniform(1e-3, 50.0)) * rng.randn(N, N)
    params = izj.make_params(a, vec(-0.5, 1.0), vec(-80.0, -40.0), vec(0.0, 10.0), weights,
                             noise_amp=vec(0.0, draw(st.floats(0.0, 10.0))),
                             bias=vec(-10.0, draw(st.floats(-10.0, 100.0))),
                             v0=vec(-90.0, 40.0), u0=vec(-30.0, 30.0), config=config)
    inputs = None
    if draw(st.booleans()):
        inputs = draw(_log_uniform(1e-2, 1e6)) * rng.randn(T, N)
    return params, jax.random.key(draw(st.integers(0, 2**32 - 1))), inputs


@pytest.mark.slow
@SETTINGS
@given(networks())
def test_finite_or_reported_reset_to_c_rates_non_negative(net):
    params, key, inputs = net
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        final, rec = izj.simulate(params, key, T, inputs=inputs, record_v=range(N),
                                  record_u=range(N))
    warned = [w for w in caught if issubclass(w.category, izj.DivergenceWarning)]
    bad = int(rec.diverged_at)

    # Reference: a Python loop of the same step, state by state.
    state, first_bad = izj.init_state(params), -1
    c = np.asarray(params.c)
    for t in range(T):
        state, s, pre = _advance(state, params, key, None if inputs is None else inputs[t])
        (pre,) = pre                                             # one block: one model
        s, v, v_after = np.asarray(s) > 0, np.asarray(pre["v"]), np.asarray(state.v)
        if not (np.isfinite(v_after).all() and np.isfinite(np.asarray(state.u)).all()):
            first_bad = t
            break
        np.testing.assert_array_equal(s, v >= 30.0 if params.config.inclusive else v > 30.0)
        np.testing.assert_array_equal(v_after[s], c[s])          # a spike is followed by v = c
        np.testing.assert_array_equal(v_after[~s], v[~s])        # no spike, no reset
        np.testing.assert_array_equal(np.asarray(rec.spikes[t]), s)

    assert bad == first_bad                                      # flagged at the first bad step
    assert len(warned) == (bad >= 0)                             # and the user is told
    if bad < 0:                                                  # never a silent NaN
        for x in (rec.v, rec.u, final.v, final.u, final.pulse):
            assert np.isfinite(np.asarray(x)).all()
    else:
        assert f"at step {bad} " in str(warned[0].message)
    rates = np.asarray(izj.firing_rates(rec))
    assert (rates >= 0).all() and (rates <= 1000.0 / params.config.dt + 1e-9).all()
    for pop in rec.names + ("all",):
        assert (np.asarray(izj.population_rate(rec, pop)) >= 0).all()


_FIELDS = ("a", "b", "c", "d", "weights", "noise_amp", "bias", "v0", "u0")


def _base():
    return izj.make_params(0.02, 0.2, -65.0, 8.0, np.full((N, N), 0.5), noise_amp=2.0)


def _with_shape(net, field, x):
    """``net`` with one field replaced by ``x`` as is (no broadcast, no check)."""
    if field == "weights":
        (proj,) = net.projections
        return net.replace(projections=(dataclasses.replace(proj, weights=x),))
    (pop,) = net.populations
    if field in ("noise_amp", "bias"):
        pop = dataclasses.replace(pop, **{field: x})
    elif field in pop.params:
        pop = dataclasses.replace(pop, params={**pop.params, field: x})
    else:
        pop = dataclasses.replace(pop, initial={**pop.initial, field[:-1]: x})
    return net.replace(populations=(pop,))


@st.composite
def invalid_calls(draw):
    """(thunk, exception type, text the message must contain) for one random bad input."""
    kind = draw(st.sampled_from(["value", "shape", "noise", "dt", "integrator", "surrogate",
                                 "inputs", "key", "n_steps"]))
    p = _base()
    run = lambda params=p, key=jax.random.key(0), n_steps=5, **kw: izj.simulate(
        params, key, n_steps, **kw)
    if kind == "value":
        field = draw(st.sampled_from(_FIELDS))
        x = np.array(getattr(p, field))
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return lambda: run(params=p.replace(**{field: x})), ValueError, f"params.{field} must be finite"
    if kind == "shape":
        field = draw(st.sampled_from(_FIELDS))
        shape = draw(st.lists(st.integers(1, 8), min_size=1, max_size=3).map(tuple)
                     .filter(lambda s: s != getattr(p, field).shape))
        return (lambda: run(params=_with_shape(p, field, jnp.zeros(shape))), ValueError,
                f"params.{field} must have shape")
    if kind == "noise":
        amp = draw(st.floats(max_value=-1e-300, allow_infinity=False, allow_nan=False))
        return lambda: run(params=p.replace(noise_amp=amp)), ValueError, "params.noise_amp must be >= 0"
    if kind == "dt":
        dt = draw(st.one_of(st.floats(max_value=0.0), st.sampled_from([np.nan, np.inf])))
        return lambda: izj.Config(dt=dt), ValueError, "Config.dt must be"
    if kind in ("integrator", "surrogate"):
        known = tuple(izj.INTEGRATORS) if kind == "integrator" else tuple(izj.SURROGATES)
        name = draw(st.text(max_size=12).filter(lambda s: s not in known))
        return lambda: izj.Config(**{kind: name}), ValueError, f"Config.{kind} must be one of"
    if kind == "inputs":
        steps, n = draw(st.tuples(st.integers(1, 9), st.integers(1, 9)).filter(
            lambda s: s != (5, N)))
        return lambda: run(inputs=np.zeros((steps, n))), ValueError, "inputs must have shape"
    if kind == "key":
        bad = draw(st.one_of(st.integers(), st.floats(allow_nan=False),
                             st.lists(st.integers(0, 9), max_size=4).map(np.asarray)
                             .filter(lambda k: k.shape != (2,)),
                             st.lists(st.floats(0, 1), min_size=2, max_size=2).map(np.asarray)))
        return lambda: run(key=bad), TypeError, "key must be a PRNG key"
    n_steps = draw(st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.text(),
                             st.booleans()))
    return lambda: run(n_steps=n_steps), ValueError, "n_steps must be a positive integer"


@pytest.mark.slow
@SETTINGS
@given(invalid_calls())
def test_invalid_inputs_always_raise_the_documented_error(call):
    thunk, error, text = call
    with pytest.raises(error) as info:
        thunk()
    assert info.type is error and text in str(info.value), str(info.value)
