"""Catalogue of bad inputs and what izhijax answers to each (issue 7's list for the closing note).

Every case builds parameters, a configuration or a ``simulate`` call that is wrong in one way, and
records the exception type and message. ``tests/test_validate.py`` runs the same cases and asserts
the documented error (type, and the field, expected and received value in the message).

    python experiments/bad_inputs.py [--out-dir experiments/out/bad_inputs]

Writes ``bad_inputs.json`` (list of ``{case, error, message}``) and ``bad_inputs.md`` (a table).
"""

import argparse
import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

import izhijax as izj

N = 4


def good_params(**kw):
    """A valid 4-neuron network (RS cells, small random weights)."""
    w = 0.5 * np.random.RandomState(0).rand(N, N)
    return izj.make_params(0.02, 0.2, -65.0, 8.0, w, noise_amp=3.0, **kw)


def _simulate(n_steps=5, key="good", params=None, **kw):
    key = jax.random.key(0) if isinstance(key, str) and key == "good" else key
    return izj.simulate(good_params() if params is None else params, key, n_steps, **kw)


def _raw(**fields):
    """The network of good_params with some fields replaced as they are (``dataclasses.replace``
    on its one population and projection, bypassing make_params and its checks)."""
    p = good_params()
    (pop,), (proj,) = p.populations, p.projections
    for field, x in fields.items():
        if field == "weights":
            proj = dataclasses.replace(proj, weights=x)
        elif field in ("noise_amp", "bias"):
            pop = dataclasses.replace(pop, **{field: x})
        elif field in pop.params:
            pop = dataclasses.replace(pop, params={**pop.params, field: x})
        else:
            pop = dataclasses.replace(pop, initial={**pop.initial, field[:-1]: x})
    return p.replace(populations=(pop,), projections=(proj,))


def _state(**fields):
    return izj.init_state(good_params()).replace(**fields)


def _tmp_folder():
    import tempfile
    return os.path.join(tempfile.mkdtemp(prefix="izhijax-bad-inputs-"), "run")


def _poly_run(net=None, seconds=1, **kw):
    """izj.polychronization.run on a small polychronization network (100 neurons)."""
    key = jax.random.key(0)
    small, stim = izj.polychronization2006(key, n_exc=80, n_inh=20, synapses=20)
    return izj.polychronization.run(small if net is None else net, stim, key, seconds,
                                    progress=False, **kw)


def _fit(theta_nan=False, **kw):
    """izj.fit.fit on the 4-neuron network for one iteration, with one argument replaced."""
    import optax
    params = good_params()
    theta, build = izj.fit.population_parameters(params)
    if theta_nan:
        name = sorted(theta)[0]
        theta = {**theta, name: theta[name] * np.nan}
    args = dict(loss=izj.fit.neuron_loss(np.full(N, 10.0)), optimizer=optax.adam(1e-2),
                key=jax.random.key(0), n_steps=5, n_iters=1, batch=1, progress=False)
    args.update(kw)
    return izj.fit.fit(theta, build, args.pop("loss"), args.pop("optimizer"), args.pop("key"),
                       args.pop("n_steps"), **args)


def _text_file():
    path = _tmp_folder() + ".npz"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("a,b\n1,2\n")
    return path


def _w():
    return 0.5 * np.ones((N, N))


# (case, thunk, expected exception type, regex fragments the message must contain)
CASES = [
    # make_params: shapes, mismatched neuron counts, non-finite values, negative noise, config kind
    ("make_params weights of shape (3, 4)",
     lambda: izj.make_params(0.02, 0.2, -65, 8, np.ones((3, 4))), ValueError,
     [r"weights", r"\(n, n\)", r"\(3, 4\)"]),
    ("make_params a of 5 values for 4 neurons",
     lambda: izj.make_params(np.full(5, 0.02), 0.2, -65, 8, _w()), ValueError,
     [r"\ba\b", r"\(4,\)", r"\(5,\)"]),
    ("make_params c as a (4, 1) column",
     lambda: izj.make_params(0.02, 0.2, np.full((4, 1), -65.0), 8, _w()), ValueError,
     [r"\bc\b", r"\(4,\)", r"\(4, 1\)"]),
    ("make_params a with a NaN",
     lambda: izj.make_params(np.array([0.02, np.nan, 0.02, 0.02]), 0.2, -65, 8, _w()),
     ValueError, [r"params\.a", "finite", "nan", r"index \(1,\)"]),
    ("make_params weights with +inf",
     lambda: izj.make_params(0.02, 0.2, -65, 8, np.where(np.eye(N) > 0, np.inf, 0.5)),
     ValueError, [r"params\.weights", "finite", "inf"]),
    ("make_params bias = -inf", lambda: good_params(bias=-np.inf), ValueError,
     [r"params\.bias", "finite", "-inf"]),
    ("make_params v0 = NaN", lambda: good_params(v0=np.nan), ValueError,
     [r"params\.v0", "finite", "nan"]),
    ("make_params noise_amp = -1",
     lambda: izj.make_params(0.02, 0.2, -65, 8, _w(), noise_amp=-1.0), ValueError,
     [r"noise_amp", ">= 0", r"-1\.0"]),
    ("make_params config given as a string",
     lambda: izj.make_params(0.02, 0.2, -65, 8, _w(), config="euler"), TypeError,
     [r"config", "Config", "str"]),
    ("make_params n_exc = 10 for 4 neurons",
     lambda: good_params(config=izj.Config(n_exc=10)), ValueError, [r"n_exc", "4", "10"]),
    # Config: dt, integrator, surrogate, noise, delay, ...
    ("Config dt = 0", lambda: izj.Config(dt=0.0), ValueError, [r"dt", "> 0", r"0\.0"]),
    ("Config dt = -0.5", lambda: izj.Config(dt=-0.5), ValueError, [r"dt", "> 0", r"-0\.5"]),
    ("Config dt = NaN", lambda: izj.Config(dt=float("nan")), ValueError,
     [r"dt", "finite", "nan"]),
    ("Config dt = inf", lambda: izj.Config(dt=float("inf")), ValueError, [r"dt", "finite", "inf"]),
    ("Config dt = '1' (a string)", lambda: izj.Config(dt="1"), ValueError,
     [r"dt", "finite number", "'1'"]),
    ("Config integrator = 'rk4'", lambda: izj.Config(integrator="rk4"), ValueError,
     [r"integrator", "euler", "'rk4'"]),
    ("Config surrogate = 'relu'", lambda: izj.Config(surrogate="relu"), ValueError,
     [r"surrogate", "fast_sigmoid", "'relu'"]),
    ("Config noise = 'pink'", lambda: izj.Config(noise="pink"), ValueError,
     [r"noise", "normal", "'pink'"]),
    ("Config delay = 0", lambda: izj.Config(delay=0), ValueError, [r"delay", ">= 1", "0"]),
    ("Config delay = 1.5", lambda: izj.Config(delay=1.5), ValueError, [r"delay", "integer", "1.5"]),
    ("Config surrogate_scale = 0", lambda: izj.Config(surrogate_scale=0.0), ValueError,
     [r"surrogate_scale", "> 0", r"0\.0"]),
    ("Config n_exc = -1", lambda: izj.Config(n_exc=-1), ValueError, [r"n_exc", ">= 0", "-1"]),
    ("Config inclusive = 'yes'", lambda: izj.Config(inclusive="yes"), ValueError,
     [r"inclusive", "True or False", "'yes'"]),
    # networks built by hand (dataclasses.replace) or changed with replace, then simulated
    ("simulate a network with 5x5 weights and 4 neurons",
     lambda: _simulate(params=_raw(weights=jnp.ones((5, 5)))), ValueError,
     [r"params\.weights", r"\(4, 4\)", r"\(5, 5\)"]),
    ("simulate a network with a float32 bias among float64 fields",
     lambda: _simulate(params=_raw(bias=np.zeros(N, np.float32))), TypeError,
     [r"params\.bias", "float64", "float32"]),
    ("simulate a network with integer c",
     lambda: _simulate(params=_raw(c=np.full(N, -65))), TypeError,
     [r"params\.c", "floating", "int"]),
    ("simulate params.replace(noise_amp=-2)",
     lambda: _simulate(params=good_params().replace(noise_amp=-2.0)), ValueError,
     [r"params\.noise_amp", ">= 0", r"-2\.0"]),
    ("simulate params.replace(d=inf)",
     lambda: _simulate(params=good_params().replace(d=np.inf)), ValueError,
     [r"params\.d", "finite", "inf"]),
    ("simulate a dict instead of a Network", lambda: _simulate(params={"a": 1}), TypeError,
     ["params", "Network", "dict"]),
    # keys of the wrong kind
    ("simulate key = 0 (an int seed)", lambda: _simulate(key=0), TypeError,
     ["key", r"jax\.random\.key", "int 0"]),
    ("simulate key = float64[3]", lambda: _simulate(key=np.zeros(3)), TypeError,
     ["key", "uint32", "float64", r"\(3,\)"]),
    ("simulate key = float[2]", lambda: _simulate(key=np.zeros(2)), TypeError,
     ["key", "uint32", "float"]),
    ("simulate key = 3 typed keys", lambda: _simulate(key=jax.random.split(jax.random.key(0), 3)),
     ValueError, ["key", r"shape \(\)", r"\(3,\)"]),
    ("simulate key = 'abc'", lambda: _simulate(key="abc"), TypeError, ["key", "PRNG key", "str"]),
    # n_steps, chunk_size, on_divergence
    ("simulate n_steps = 0", lambda: _simulate(n_steps=0), ValueError,
     ["n_steps", "positive integer", "0"]),
    ("simulate n_steps = 2.5", lambda: _simulate(n_steps=2.5), ValueError,
     ["n_steps", "positive integer", "2.5"]),
    ("simulate n_steps = True", lambda: _simulate(n_steps=True), ValueError,
     ["n_steps", "positive integer", "True"]),
    ("simulate n_steps = '10'", lambda: _simulate(n_steps="10"), ValueError,
     ["n_steps", "positive integer", "'10'"]),
    ("simulate chunk_size = 0", lambda: _simulate(chunk_size=0), ValueError,
     ["chunk_size", "positive integer", "0"]),
    ("simulate on_divergence = 'explode'", lambda: _simulate(on_divergence="explode"), ValueError,
     ["on_divergence", "raise", "'explode'"]),
    # inputs of the wrong length or values
    ("simulate inputs of 9 steps for n_steps = 5", lambda: _simulate(inputs=np.zeros((9, N))),
     ValueError, ["inputs", r"\(5, 4\)", r"\(9, 4\)"]),
    ("simulate inputs of 5 neurons for 4", lambda: _simulate(inputs=np.zeros((5, N + 1))),
     ValueError, ["inputs", r"\(5, 4\)", r"\(5, 5\)"]),
    ("simulate inputs as a flat (20,) vector", lambda: _simulate(inputs=np.zeros(5 * N)),
     ValueError, ["inputs", r"\(5, 4\)", r"\(20,\)"]),
    ("simulate inputs with a NaN",
     lambda: _simulate(inputs=np.where(np.arange(5 * N).reshape(5, N) == 7, np.nan, 0.0)),
     ValueError, ["inputs", "finite", "nan", r"\(1, 3\)"]),
    ("simulate inputs of strings", lambda: _simulate(inputs=[["a"] * N] * 5), TypeError,
     ["inputs", r"\(5, 4\)", "list"]),
    # states to resume from
    ("simulate state of 3 neurons",
     lambda: _simulate(state=_state(v=jnp.zeros(3), u=jnp.zeros(3))), ValueError,
     [r"state\.v", r"\(4,\)", r"\(3,\)"]),
    ("simulate state with pulse for delay 2 (params delay 1)",
     lambda: _simulate(state=_state(pulse=jnp.zeros((2, N)))), ValueError,
     [r"state\.pulse", r"\(1, 4\)", r"\(2, 4\)"]),
    ("simulate state v float32 (params float64)",
     lambda: _simulate(state=_state(v=np.full(N, -65.0, np.float32))), TypeError,
     [r"state\.v", "float64", "float32"]),
    ("simulate state u = NaN", lambda: _simulate(state=_state(u=jnp.full(N, jnp.nan))),
     ValueError, [r"state\.u", "finite", "nan"]),
    ("simulate state t = 1.5", lambda: _simulate(state=_state(t=jnp.asarray(1.5))), TypeError,
     [r"state\.t", "integer", "float"]),
    ("simulate a tuple as state", lambda: _simulate(state=(0, 0)), TypeError,
     ["state", "State", "tuple"]),
    ("simulate record_v = [4] (4 neurons)", lambda: _simulate(record_v=[4]), ValueError,
     ["record_v", "4"]),
    # --- round two (issue 15): step index range, coercions, raw errors, other entry points ----
    ("simulate state t of dtype int8 (wraps at 127)",
     lambda: _simulate(state=_state(t=jnp.int8(125))), TypeError,
     [r"state\.t", "int32", "int8", "127"]),
    ("simulate state t of dtype uint32", lambda: _simulate(state=_state(t=jnp.uint32(0))),
     TypeError, [r"state\.t", "int32", "uint32"]),
    ("simulate from step 2^31 - 3 for 5 steps (int32 wraps)",
     lambda: _simulate(state=_state(t=jnp.int32(2**31 - 3))), ValueError,
     [r"state\.t", "n_steps", "2147483647", "2147483645", "wrap"]),
    ("simulate from int64 step 2^32 - 2 for 5 steps (the noise would repeat)",
     lambda: _simulate(state=_state(t=jnp.int64(2**32 - 2))), ValueError,
     [r"state\.t", "int64", "4294967295", "noise would repeat"]),
    ("simulate from step -3", lambda: _simulate(state=_state(t=jnp.int32(-3))), ValueError,
     [r"state\.t", ">= 0", "-3"]),
    ("simulate n_steps = 10^13 (past the step index)", lambda: _simulate(n_steps=10**13),
     ValueError, ["n_steps", "largest step index", "10000000000000"]),
    ("simulate key = None", lambda: _simulate(key=None), TypeError, ["key", "PRNG key", "None"]),
    ("simulate record_v = [0.5] (a float index)", lambda: _simulate(record_v=[0.5]), TypeError,
     ["record_v", "integer", "0.5"]),
    ("simulate record_v = 1.0 (a float scalar)", lambda: _simulate(record_v=np.float64(1.0)),
     TypeError, ["record_v", "integer", "float64"]),
    ("simulate record_v = a boolean mask", lambda: _simulate(record_v=np.ones(N, bool)),
     TypeError, ["record_v", "integer", "bool", "flatnonzero"]),
    ("simulate record_v = [True]", lambda: _simulate(record_v=[True]), TypeError,
     ["record_v", "boolean"]),
    ("simulate record_v = [2**70]", lambda: _simulate(record_v=[2**70]), ValueError,
     ["record_v", r"\[0, 4\)", "1180591620717411303424"]),
    ("simulate record_u = {'neurons': [0.5]}",
     lambda: _simulate(record_u={"neurons": [0.5]}), TypeError,
     [r"record_u\['neurons'\]", "integer", "0.5"]),
    ("simulate complex inputs", lambda: _simulate(inputs=np.ones((5, N), complex)), TypeError,
     ["inputs", "real", "complex"]),
    ("simulate boolean inputs", lambda: _simulate(inputs=np.ones((5, N), bool)), TypeError,
     ["inputs", "real", "boolean"]),
    ("make_params complex weights",
     lambda: izj.make_params(0.02, 0.2, -65, 8, np.ones((N, N), complex)), TypeError,
     ["weights", "real", "complex"]),
    ("make_params boolean weights",
     lambda: izj.make_params(0.02, 0.2, -65, 8, np.ones((N, N), bool)), TypeError,
     ["weights", "real", "boolean"]),
    ("make_params ragged weights (a list of lists of 4 and 3)",
     lambda: izj.make_params(0.02, 0.2, -65, 8, [[0.1] * 4, [0.1] * 3, [0.1] * 4, [0.1] * 4]),
     TypeError, ["weights", "real numbers", "list"]),
    ("make_params a = 1j", lambda: izj.make_params(1j, 0.2, -65, 8, _w()), TypeError,
     [r"\ba\b", "complex"]),
    ("make_params d = None", lambda: izj.make_params(0.02, 0.2, -65, None, _w()), TypeError,
     [r"\bd\b", "real"]),
    ("population a = 'fast'",
     lambda: izj.population("e", izj.Izhikevich2003(), 4, preset="RS", params={"a": "fast"}),
     TypeError, ["population 'e'", r"\ba\b", "non-numeric"]),
    ("projection complex weights",
     lambda: izj.projection("e", "e", np.ones((N, N), complex)), TypeError,
     ["projection", "weights", "complex"]),
    ("params.replace(a=complex)", lambda: good_params().replace(a=np.full(N, 0.02 + 1j)),
     TypeError, [r"\ba\b", "complex"]),
    ("state.replace(v=complex)", lambda: _state().replace(v=np.full(N, -65 + 1j)), TypeError,
     [r"state\.v", "complex"]),
    ("step with a string as state", lambda: izj.step("x", good_params(), jax.random.key(0)),
     TypeError, ["state", "State", "str"]),
    ("step with key = 3", lambda: izj.step(_state(), good_params(), 3), TypeError,
     ["key", "PRNG key", "int"]),
    ("step with i_ext of 7 values for 4 neurons",
     lambda: izj.step(_state(), good_params(), jax.random.key(0), jnp.ones(7)), ValueError,
     ["i_ext", r"\(4,\)", r"\(7,\)"]),
    ("step with complex i_ext",
     lambda: izj.step(_state(), good_params(), jax.random.key(0), np.ones(N, complex)),
     TypeError, ["i_ext", "complex"]),
    ("step with a NaN parameter",
     lambda: izj.step(_state(), _raw(d=np.array([8.0, np.nan, 8.0, 8.0])), jax.random.key(0)),
     ValueError, [r"params\.d", "finite", "nan"]),
    ("step from step -1", lambda: izj.step(_state(t=jnp.int32(-1)), good_params(),
                                           jax.random.key(0)),
     ValueError, [r"state\.t", ">= 0"]),
    ("step from step 2^31 - 1 (int32 wraps)",
     lambda: izj.step(_state(t=jnp.int32(2**31 - 1)), good_params(), jax.random.key(0)),
     ValueError, [r"state\.t", "wrap"]),
    ("init_state of a dict", lambda: izj.init_state({"a": 1}), TypeError,
     ["params", "Network", "dict"]),
    ("freeze with a string as state", lambda: izj.freeze(good_params(), "x"), TypeError,
     ["state", "State", "str"]),
    ("polychronization.run for 1.5 s", lambda: _poly_run(seconds=1.5), ValueError,
     ["seconds", "positive integer", "1.5"]),
    ("polychronization.run for 0 s", lambda: _poly_run(seconds=0), ValueError,
     ["seconds", "positive integer", "0"]),
    ("polychronization.run of a dict", lambda: _poly_run(net={}), TypeError,
     ["net", "Network", "dict"]),
    ("polychronization.run with checkpoint_every = -1",
     lambda: _poly_run(checkpoint_every=-1), ValueError, ["checkpoint_every", "-1"]),
    ("polychronization2006 with key = 3", lambda: izj.polychronization2006(3), TypeError,
     ["key", "PRNG key", "int"]),
    ("polychronization2006 with n_exc = -5",
     lambda: izj.polychronization2006(jax.random.key(0), n_exc=-5), ValueError,
     ["n_exc", "positive integer", "-5"]),
    ("polychronization2006 with STDP(tau_plus=-1)",
     lambda: izj.polychronization2006(jax.random.key(0), n_exc=80, n_inh=20, synapses=20,
                                      rule=izj.plasticity.STDP(tau_plus=-1.0, w_max=10.0)),
     ValueError, [r"plasticity\.tau_plus", "> 0", "-1"]),
    ("polychronization2006 with Izhikevich2006(decay=1.5)",
     lambda: izj.polychronization2006(jax.random.key(0), n_exc=80, n_inh=20, synapses=20,
                                      rule=izj.plasticity.Izhikevich2006(decay=1.5)),
     ValueError, [r"plasticity\.decay", r"\(0, 1\]", "1.5"]),
    ("izhikevich2003 with key = None", lambda: izj.izhikevich2003(None), TypeError,
     ["key", "PRNG key", "None"]),
    ("patterns.run with dtype int32", lambda: izj.patterns.run(["A"], dtype=np.int32),
     TypeError, ["dtype", "floating", "int32"]),
    ("summary of a string", lambda: izj.summary("x"), TypeError,
     ["rec", "Recording", "str"]),
    ("firing_rates of a tuple", lambda: izj.firing_rates((1, 2)), TypeError,
     ["rec", "Recording", "tuple"]),
    ("sweep.run noise_amp = [-1, 1]",
     lambda: izj.sweep.run(good_params(), jax.random.key(0), 5, {"noise_amp": [-1.0, 1.0]}),
     ValueError, [r"noise_amp", ">= 0", "-1"]),
    ("sweep.run trials = 0",
     lambda: izj.sweep.run(good_params(), jax.random.key(0), 5, {"noise_amp": [1.0]}, trials=0),
     ValueError, ["trials", "positive integer", "0"]),
    ("sweep.run batch_size = 0",
     lambda: izj.sweep.run(good_params(), jax.random.key(0), 5, {"noise_amp": [1.0]},
                           batch_size=0), ValueError, ["batch_size", "0"]),
    ("sweep.run n_steps = 2.5",
     lambda: izj.sweep.run(good_params(), jax.random.key(0), 2.5, {"noise_amp": [1.0]}),
     ValueError, ["n_steps", "positive integer", "2.5"]),
    ("sweep.run an unknown axis 'tau'",
     lambda: izj.sweep.run(good_params(), jax.random.key(0), 5, {"tau": [1.0]}), ValueError,
     ["tau"]),
    ("sweep.run key = 7",
     lambda: izj.sweep.run(good_params(), 7, 5, {"noise_amp": [1.0]}), TypeError,
     ["key", "PRNG key"]),
    ("sweep.run 10^12 points x 10^6 steps (memory)",
     lambda: izj.sweep.run(good_params(), jax.random.key(0), 10**6,
                           {"noise_amp": np.linspace(0, 1, 10**6), "bias": np.linspace(0, 1, 10**6)}),
     ValueError, ["needs about", "available"]),
    ("fit.fit n_steps = 2.5", lambda: _fit(n_steps=2.5), ValueError,
     ["n_steps", "positive integer", "2.5"]),
    ("fit.fit theta with a NaN", lambda: _fit(theta_nan=True), ValueError,
     [r"theta\[", "finite", "nan"]),
    ("fit.fit optimizer = a function", lambda: _fit(optimizer=lambda g: g), TypeError,
     ["optimizer", "GradientTransformation"]),
    ("fit.fit n_iters = 0", lambda: _fit(n_iters=0), ValueError, ["n_iters", "0"]),
    ("fit.rates_of n_steps = -3",
     lambda: izj.fit.rates_of(good_params(), jax.random.key(0), -3), ValueError,
     ["n_steps", "-3"]),
    ("fit.evaluate with no keys",
     lambda: izj.fit.evaluate(good_params(), jax.random.split(jax.random.key(0), 0), 5),
     ValueError, ["keys"]),
    ("save key = 3", lambda: izj.save(_tmp_folder() + ".npz", params=good_params(), key=3),
     TypeError, ["key", "PRNG key", "int"]),
    ("save params = a dict", lambda: izj.save(_tmp_folder() + ".npz", params={"a": 1}),
     TypeError, ["params", "Network", "dict"]),
    ("save info with a NumPy integer",
     lambda: izj.save(_tmp_folder() + ".npz", params=good_params(), info={"n": np.int64(3)}),
     TypeError, [r"info\['n'\]"]),
    ("load a text file", lambda: izj.load(_text_file()), ValueError,
     ["not an izhijax run file"]),
    ("simulate_to_disk from step 2^31 - 3",
     lambda: izj.simulate_to_disk(good_params(), jax.random.key(0), 5, _tmp_folder(),
                                  chunk_size=2, state=_state(t=jnp.int32(2**31 - 3))),
     ValueError, [r"state\.t", "wrap"]),
]


def run_cases():
    """Run every case; return ``[{case, error, message}]`` (``error`` None if nothing was raised)."""
    rows = []
    for name, thunk, _, _ in CASES:
        try:
            thunk()
            rows.append({"case": name, "error": None, "message": ""})
        except Exception as err:  # noqa: BLE001 -- the point is to record what comes out
            rows.append({"case": name, "error": type(err).__name__, "message": str(err)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=os.path.join("experiments", "out", "bad_inputs"))
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    rows = run_cases()
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "bad_inputs.json"), "w") as f:
        json.dump(rows, f, indent=1)
    lines = ["| bad input | error | message |", "| --- | --- | --- |"]
    lines += [f"| {r['case']} | {r['error']} | {r['message'].replace('|', '/')} |" for r in rows]
    with open(os.path.join(args.out_dir, "bad_inputs.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
