"""F3: single-neuron identification. For each 2003 cell type (RS, IB, CH, FS, LTS) the target is its
f-I curve (rate at 10 constant input currents, no noise); a, b, c, d are fitted by gradient descent
starting from a *different* preset, and the recovered parameters must reproduce the curve within
1 Hz at every current. Writes ``fit_fi_curve.png`` (loss curves, f-I curves) and
``fit_fi_curve.json``.

    python experiments/fit_fi_curve.py           # full: 10 currents, 2 s at dt 0.5 ms
    python experiments/fit_fi_curve.py --smoke   # short, for the tests
"""

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import izhijax as izj

CELLS = ("RS", "IB", "CH", "FS", "LTS")
START = {"RS": "FS", "IB": "RS", "CH": "LTS", "FS": "RS", "LTS": "CH"}
"""Which preset each fit starts from."""
SCALE = {"a": 0.02, "b": 0.2, "c": 10.0, "d": 2.0}
"""Free variables are a / 0.02, b / 0.2, c / 10 mV, d / 2 so that one learning rate fits all."""
BOUNDS = {"a": (1e-4 / 0.02, None), "b": (1e-4 / 0.2, None)}


def neurons(cell, currents, config):
    """One uncoupled neuron per current, all with the preset's a, b, c, d."""
    a, b, c, d = izj.preset(cell)
    n = len(currents)
    return izj.make_params(a, b, c, d, jnp.zeros((n, n)), bias=jnp.asarray(currents), v0=-65.0,
                           config=config)


def run(out, smoke=False, n_iters=1500, lr=0.05, kind="mse", progress=True):
    currents = np.linspace(4.0, 22.0, 4 if smoke else 10)
    duration = 300.0 if smoke else 2000.0
    config = izj.Config(dt=0.5, integrator="euler", noise="none")
    n_steps = int(duration / config.dt)
    n_iters = 5 if smoke else n_iters
    key = jax.random.key(0)  # the runs are noise-free: the key changes nothing
    rates = lambda params: izj.fit.evaluate(params, [key], n_steps)[0]
    report, curves = {}, {}
    for cell in CELLS:
        target_params = neurons(cell, currents, config)
        target = rates(target_params)
        start = neurons(START[cell], currents, config)
        theta = {k: jnp.asarray(getattr(start, k)[0] / SCALE[k]) for k in "abcd"}

        def build(theta, start=start):
            n = start.n
            return start.replace(**{k: jnp.full((n,), theta[k] * SCALE[k]) for k in "abcd"})

        loss = izj.fit.neuron_loss(jnp.asarray(target), kind=kind)
        t0 = time.perf_counter()
        schedule = optax.exponential_decay(lr, transition_steps=n_iters, decay_rate=0.02)
        result = izj.fit.fit(theta, build, loss, optax.adam(schedule), key, n_steps, n_iters=n_iters,
                             batch=1, bounds=BOUNDS, progress=progress,
                             tol=0.1 if kind == "mse" else None)
        fitted = rates(result.params)
        err = np.abs(fitted - target)
        report[cell] = {
            "start_from": START[cell], "true": dict(zip("abcd", izj.preset(cell))),
            "start": dict(zip("abcd", izj.preset(START[cell]))),
            "fitted": {k: float(result.theta[k] * SCALE[k]) for k in "abcd"},
            "target_rates_hz": target.tolist(), "start_rates_hz": rates(start).tolist(),
            "fitted_rates_hz": fitted.tolist(), "max_abs_error_hz": float(err.max()),
            "within_1_hz": bool(err.max() <= 1.0), "optimizer_steps": len(result.history["loss"]),
            "fit_seconds": time.perf_counter() - t0,
        }
        curves[cell] = (result.history["loss"], target, report[cell]["start_rates_hz"], fitted)
    numbers = {"experiment": "F3 single-neuron identification from f-I curves", "smoke": smoke,
               "currents": currents.tolist(), "duration_ms": duration, "dt_ms": config.dt,
               "integrator": config.integrator, "optimizer": f"adam({lr} decaying to {lr * 0.02:g}) on a/0.02, b/0.2, c/10, d/2",
               "all_within_1_hz": all(r["within_1_hz"] for r in report.values()), "cells": report}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "fit_fi_curve.json"), "w") as f:
        json.dump(numbers, f, indent=1)
    _figure(currents, curves, report, os.path.join(out, "fit_fi_curve.png"))
    return numbers


def _figure(currents, curves, report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(CELLS), figsize=(3 * len(CELLS), 6))
    for j, cell in enumerate(CELLS):
        loss, target, start, fitted = curves[cell]
        axes[0, j].semilogy(np.maximum(loss, 1e-3), "k")
        axes[0, j].set_title(f"{cell} (from {report[cell]['start_from']})")
        axes[0, j].set_xlabel("optimizer step")
        axes[1, j].plot(currents, target, "o", color="C2", label="target")
        axes[1, j].plot(currents, start, "--", color="0.6", label="start")
        axes[1, j].plot(currents, fitted, "k-", label="fitted")
        axes[1, j].set_xlabel("I, mV/ms")
    axes[0, 0].set_ylabel("loss, Hz$^2$")
    axes[1, 0].set_ylabel("rate, Hz")
    axes[1, 0].legend(fontsize=8)
    fig.suptitle("F3: a, b, c, d recovered from f-I curves")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for the tests")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "fit_fi_curve"))
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--iters", type=int, default=1500)
    args = parser.parse_args(argv)
    n = run(args.out, smoke=args.smoke, n_iters=args.iters, lr=args.lr)
    print(json.dumps({c: {k: r[k] for k in ("fitted", "max_abs_error_hz", "optimizer_steps")}
                      for c, r in n["cells"].items()}, indent=1))
    print("all within 1 Hz:", n["all_within_1_hz"])


if __name__ == "__main__":
    main()
