"""Property tests of validation (hypothesis): every public entry point, random bad inputs.

Each strategy below draws values that are wrong for one field by construction (wrong kind, dtype,
shape or range, non-finite, complex, boolean, ...). Whatever is drawn, the call must raise a
``ValueError`` or ``TypeError`` before anything compiles, with a one-line message that names the
field: never a raw JAX or NumPy error, never a silent coercion (a call that runs is a failure).
The fixed table of cases with their exact messages is ``experiments/bad_inputs.py``.
"""

import re
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import izhijax as izj
from izhijax._src.engine import run_jit

N, STEPS = 4, 5
KEY = jax.random.key(0)


def good_params():
    w = 0.5 * np.random.RandomState(0).rand(N, N)
    return izj.make_params(0.02, 0.2, -65.0, 8.0, w, noise_amp=3.0)


PARAMS = good_params()
STATE = izj.init_state(PARAMS)

# --- strategies of bad values ------------------------------------------------------------------

junk = st.sampled_from([None, "10", b"x", 1j, (), {}, {"a": 1}, object(), float("nan"),
                        float("inf"), [[1, 2], [3]]])
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


def non_integral_floats():
    return finite_floats.filter(lambda x: x != int(x) if abs(x) < 1e15 else True)


def _shape(x):
    """``np.shape(x)``, or None for what has no shape (a ragged list)."""
    try:
        return np.shape(x)
    except ValueError:
        return None


def bad_counts(huge=False):
    """Not a positive integer (a step count, a chunk size, a number of trials...)."""
    options = [st.integers(max_value=0), non_integral_floats(), st.booleans(), junk,
               st.just(np.float64(3.0)), st.text(max_size=3)]
    if huge:
        options.append(st.integers(min_value=2**31, max_value=2**80))
    return st.one_of(*options)


def bad_keys():
    return st.one_of(
        st.integers(), finite_floats, st.text(max_size=4), junk,
        hnp.arrays(np.float32, (2,)),
        hnp.arrays(np.uint32, st.sampled_from([(1,), (3,), (2, 2), ()])),
        hnp.arrays(np.int32, (2,)),
        st.integers(2, 4).map(lambda k: jax.random.split(KEY, k)))


def bad_indices():
    """Neuron indices for N neurons that are not integers in [0, N)."""
    return st.one_of(
        st.lists(non_integral_floats(), min_size=1, max_size=3),
        st.lists(st.one_of(st.integers(max_value=-1), st.integers(min_value=N)), min_size=1,
                 max_size=3),
        hnp.arrays(np.bool_, N), st.lists(st.booleans(), min_size=1, max_size=3),
        st.text(min_size=1, max_size=3), non_integral_floats(),
        st.just([[0, 1], [2, 3]]), st.just([None]), st.just([1j]),
        st.integers(min_value=2**63, max_value=2**90).map(lambda i: [i]))


def _with_bad_entry(shape):
    """A finite float array of ``shape`` with one NaN or infinity."""
    return st.tuples(st.integers(0, int(np.prod(shape)) - 1),
                     st.sampled_from([np.nan, np.inf, -np.inf])).map(
        lambda a: np.put(x := np.zeros(shape), a[0], a[1]) or x)


def bad_arrays(shape):
    """Arrays meant to be real, finite and of ``shape`` that are not."""
    wrong_shapes = st.sampled_from([shape[:-1] + (shape[-1] + 1,), shape[::-1] + (1,), (),
                                    (int(np.prod(shape)),)]).filter(lambda s: s != shape)
    return st.one_of(
        hnp.arrays(np.complex128, shape, elements=st.complex_numbers(max_magnitude=10)),
        hnp.arrays(np.bool_, shape),
        hnp.arrays(np.float64, wrong_shapes, elements=finite_floats),
        _with_bad_entry(shape),
        st.just(np.full(shape, "a")), junk.filter(lambda x: x is not None))


def bad_step_index():
    return st.one_of(
        st.sampled_from([jnp.int8(0), jnp.int16(3), jnp.uint8(1), jnp.uint32(0),
                         jnp.float32(1.0), jnp.float64(0.0)]),
        st.integers(-2**31, -1).map(jnp.int32),
        st.integers(2**31 - STEPS, 2**31 - 1).map(jnp.int32),
        st.integers(2**32 - STEPS, 2**62).map(jnp.int64))


# --- entry points: (name, strategy, call(value), what the message must name) -----------------

def _sweep(**kw):
    args = dict(params=PARAMS, key=KEY, n_steps=STEPS, axes={"noise_amp": [1.0, 2.0]})
    args.update(kw)
    return izj.sweep.run(args.pop("params"), args.pop("key"), args.pop("n_steps"),
                         args.pop("axes"), **args)


def _fit(**kw):
    theta, build = izj.fit.population_parameters(PARAMS)
    args = dict(theta=theta, build=build, loss=izj.fit.neuron_loss(np.full(N, 10.0)),
                optimizer=optax.adam(1e-2), key=KEY, n_steps=STEPS, n_iters=1, batch=1,
                progress=False)
    args.update(kw)
    return izj.fit.fit(args.pop("theta"), args.pop("build"), args.pop("loss"),
                       args.pop("optimizer"), args.pop("key"), args.pop("n_steps"), **args)


def _poly_run(**kw):
    args = dict(key=KEY, seconds=1)
    args.update(kw)
    small, stim = izj.polychronization2006(KEY, n_exc=80, n_inh=20, synapses=20)
    return izj.polychronization.run(small, stim, args["key"], args["seconds"], progress=False)


def _save(**kw):
    path = tempfile.mktemp(suffix=".npz")
    return izj.save(path, params=kw.get("params", PARAMS), key=kw.get("key", KEY))


ENTRIES = [
    ("simulate n_steps", bad_counts(huge=True), lambda x: izj.simulate(PARAMS, KEY, x),
     "n_steps"),
    ("simulate key", bad_keys(), lambda x: izj.simulate(PARAMS, x, STEPS), "key"),
    ("simulate record_v", bad_indices(), lambda x: izj.simulate(PARAMS, KEY, STEPS, record_v=x),
     "record_v"),
    ("simulate record_u", bad_indices(), lambda x: izj.simulate(PARAMS, KEY, STEPS, record_u=x),
     "record_u"),
    ("simulate inputs", bad_arrays((STEPS, N)),
     lambda x: izj.simulate(PARAMS, KEY, STEPS, inputs=x), "inputs"),
    ("simulate chunk_size", bad_counts().filter(lambda x: x is not None), lambda x: izj.simulate(PARAMS, KEY, STEPS,
                                                                 chunk_size=x), "chunk_size"),
    ("simulate checkpoint", bad_counts().filter(lambda x: x is not None), lambda x: izj.simulate(PARAMS, KEY, STEPS,
                                                                 checkpoint=x), "checkpoint"),
    ("simulate state.t", bad_step_index(),
     lambda x: izj.simulate(PARAMS, KEY, STEPS, state=STATE.replace(t=x)), r"state\.t"),
    ("simulate state.v", bad_arrays((N,)),
     lambda x: izj.simulate(PARAMS, KEY, STEPS, state=STATE.replace(
         neurons=({**STATE.neurons[0], "v": x},))), r"state\.v"),
    ("step key", bad_keys(), lambda x: izj.step(STATE, PARAMS, x), "key"),
    ("step i_ext", bad_arrays((N,)), lambda x: izj.step(STATE, PARAMS, KEY, x), "i_ext"),
    ("step state.t", bad_step_index().filter(
        lambda t: not (t.dtype == jnp.int32 and 0 <= int(t) <= 2**31 - 2)
        and not (t.dtype == jnp.int64 and 0 <= int(t) <= 2**32 - 2)),
     lambda x: izj.step(STATE.replace(t=x), PARAMS, KEY), r"state\.t"),
    ("make_params a", bad_arrays((N,)).filter(lambda x: _shape(x) != ()),
     lambda x: izj.make_params(x, 0.2, -65.0, 8.0, np.ones((N, N))), r"\ba\b"),
    ("make_params weights", bad_arrays((N, N)).filter(
        lambda x: _shape(x) is None or len(_shape(x)) != 2 or _shape(x)[0] != _shape(x)[1]
        or not np.issubdtype(np.asarray(x).dtype, np.floating) or not np.isfinite(x).all()),
     lambda x: izj.make_params(0.02, 0.2, -65.0, 8.0, x), "weights"),
    ("make_params noise_amp", st.one_of(bad_arrays((N,)).filter(lambda x: _shape(x) != ()),
                                        st.floats(max_value=-1e-9, allow_infinity=False)),
     lambda x: izj.make_params(0.02, 0.2, -65.0, 8.0, np.ones((N, N)), noise_amp=x),
     "noise_amp"),
    ("sweep n_steps", bad_counts(huge=True), lambda x: _sweep(n_steps=x), "n_steps"),
    ("sweep key", bad_keys(), lambda x: _sweep(key=x), "key"),
    ("sweep trials", bad_counts().filter(lambda x: x is not None), lambda x: _sweep(trials=x),
     "trials"),
    ("sweep noise_amp values", st.lists(st.floats(max_value=-1e-9, allow_infinity=False),
                                        min_size=1, max_size=3).map(lambda v: v + [1.0]),
     lambda x: _sweep(axes={"noise_amp": x}), "noise_amp"),
    ("fit n_steps", bad_counts(huge=True), lambda x: _fit(n_steps=x), "n_steps"),
    ("fit key", bad_keys(), lambda x: _fit(key=x), "key"),
    ("fit n_iters", bad_counts(), lambda x: _fit(n_iters=x), "n_iters"),
    ("fit batch", bad_counts(), lambda x: _fit(batch=x), "batch"),
    ("rates_of n_steps", bad_counts(huge=True), lambda x: izj.fit.rates_of(PARAMS, KEY, x),
     "n_steps"),
    ("save key", bad_keys(), lambda x: _save(key=x), "key"),
    ("save params", junk.filter(lambda x: x is not None), lambda x: _save(params=x), "params"),
    ("polychronization.run seconds", bad_counts(), lambda x: _poly_run(seconds=x), "seconds"),
    ("polychronization.run key", bad_keys(), lambda x: _poly_run(key=x), "key"),
]


@pytest.mark.parametrize("name, strategy, call, field", ENTRIES, ids=[e[0] for e in ENTRIES])
def test_bad_values_are_refused_by_name(name, strategy, call, field):
    compiled = run_jit._cache_size()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(strategy)
    def check(value):
        try:
            call(value)
        except (ValueError, TypeError) as err:
            message = str(err)
            assert re.search(field, message), f"{name}: {value!r}: {message!r} does not name " \
                                              f"{field!r}"
            assert "\n" not in message, f"{name}: {value!r}: a multi-line message {message!r}"
            return
        raise AssertionError(f"{name}: the bad value {value!r} was accepted")

    check()
    assert run_jit._cache_size() == compiled, f"{name}: compiled before refusing"
