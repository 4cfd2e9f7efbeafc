"""Fit one voltage trace with brian2modelfitting 0.4 (runs in its own venv, /work/main/.venv-b2mf).

The Izhikevich (2003) neuron in Brian2 form, ``a, b, c, d`` free within izhijax's bounds
(:data:`izhijax.traces.PARAMETERS`: a in [0.002, 0.3], b in [0.02, 0.3], c in [-85, -35] mV,
d in [0, 20] mV/ms), spike at ``v >= 30`` mV, reset ``v = c, u += d``, forward Euler at the
recording's dt, ``v(0)`` the recording's first sample, ``u(0) = b v(0)``. brian2modelfitting's
TraceFitter with its default NevergradOptimizer (``"DE"``, population = ``n_samples``) on the
mean squared voltage error (MSEMetric); round after round until ``--budget`` wall seconds.

    .venv-b2mf/bin/python experiments/bench/peers/b2mf_fit.py IN.npz OUT.json --budget 60

``IN.npz``: ``time`` (ms), ``current`` (mV/ms), ``voltage`` (mV). ``OUT.json``: per round the wall
time since the fit started (set-up and code generation included), the best error and the best
``a, b, c, d`` so far; plus the versions and the set-up seconds.
"""

import argparse
import json
import time

import numpy as np

BOUNDS = {"a": (0.002, 0.3), "b": (0.02, 0.3), "c": (-85.0, -35.0), "d": (0.0, 20.0)}

EQS = """
dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u + I*mV) / ms : volt
du/dt = a * (b*v - u) / ms : volt
a : 1 (constant)
b : 1 (constant)
c : volt (constant)
d : volt (constant)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("npz")
    parser.add_argument("out")
    parser.add_argument("--budget", type=float, default=60.0, help="wall seconds")
    parser.add_argument("--n-samples", type=int, default=30, help="population per round")
    parser.add_argument("--method", default="DE", help="nevergrad method (default DE)")
    parser.add_argument("--max-rounds", type=int, default=100000)
    parser.add_argument("--target", default="numpy", help="Brian2 codegen target")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    clock = time.perf_counter()
    import brian2
    import brian2modelfitting
    import nevergrad
    from brian2 import mV, ms, prefs
    from brian2modelfitting import MSEMetric, NevergradOptimizer, TraceFitter
    prefs.codegen.target = args.target
    np.random.seed(args.seed)
    import_s = time.perf_counter() - clock

    rec = np.load(args.npz)
    t, current, voltage = rec["time"], rec["current"], rec["voltage"]
    dt = float(t[1] - t[0])
    brian2.defaultclock.dt = dt * ms
    v0 = float(voltage[0])
    start = time.perf_counter()
    fitter = TraceFitter(model=EQS, input_var="I", output_var="v",
                         input=current[None, :], output=voltage[None, :] * mV, dt=dt * ms,
                         n_samples=args.n_samples, method="euler",
                         threshold="v >= 30*mV", reset="v = c\nu += d",
                         param_init={"v": v0 * mV, "u": "b*v"})
    optimizer = NevergradOptimizer(args.method)
    metric = MSEMetric()
    rounds = []

    def callback(params, errors, best_params, best_error, index):
        rounds.append({"seconds": time.perf_counter() - start, "round": index + 1,
                       "best_error": float(best_error),
                       "best_params": {"a": float(best_params["a"]), "b": float(best_params["b"]),
                                       "c": float(best_params["c"] / mV),
                                       "d": float(best_params["d"] / mV)}})
        return rounds[-1]["seconds"] >= args.budget

    fitter.fit(n_rounds=args.max_rounds, optimizer=optimizer, metric=metric, callback=callback,
               a=list(BOUNDS["a"]), b=list(BOUNDS["b"]),
               c=[BOUNDS["c"][0] * mV, BOUNDS["c"][1] * mV],
               d=[BOUNDS["d"][0] * mV, BOUNDS["d"][1] * mV])
    with open(args.out, "w") as f:
        json.dump({"versions": {"brian2": brian2.__version__,
                                "brian2modelfitting": getattr(brian2modelfitting, "__version__",
                                                              "0.4"),
                                "nevergrad": nevergrad.__version__, "numpy": np.__version__},
                   "method": args.method, "n_samples": args.n_samples, "target": args.target,
                   "import_seconds": import_s, "rounds": rounds}, f, indent=1)


if __name__ == "__main__":
    main()
