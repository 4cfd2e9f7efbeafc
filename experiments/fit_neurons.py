"""F2: per-neuron rates. Targets for every neuron of the Fig. 3 network drawn from a log-normal
(median 5 Hz, sigma 0.5); the fit moves a per-neuron bias current. Evaluated on 10 held-out keys
(rates averaged over them): Pearson correlation and median relative error against the targets.
Writes ``fit_neurons.png`` (loss curve, fitted vs target before / after) and ``fit_neurons.json``.

    python experiments/fit_neurons.py            # full: 1000 neurons, 1000 steps, 300 steps
    python experiments/fit_neurons.py --smoke    # small and short, for the tests
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


def _stats(rates, targets):
    rel = np.abs(rates - targets) / targets
    return {"pearson": float(np.corrcoef(rates, targets)[0, 1]),
            "median_relative_error": float(np.median(rel)),
            "mean_rate_hz": float(rates.mean())}


def run(out, smoke=False, seed=0, n_iters=300, lr=0.1, batch=4, progress=True):
    n_exc, n_inh, n_steps = (80, 20, 300) if smoke else (800, 200, 1000)
    n_iters = 5 if smoke else n_iters
    net_key, target_key, fit_key, eval_key = jax.random.split(jax.random.key(seed), 4)
    params = izj.izhikevich2003(net_key, n_exc=n_exc, n_inh=n_inh)
    targets = 5.0 * jnp.exp(0.5 * jax.random.normal(target_key, (params.n,), params.dtype))
    theta, build = izj.fit.field_parameters(params, ("bias",))
    loss = izj.fit.neuron_loss(targets, kind="relative")
    eval_keys = jax.random.split(eval_key, 10)
    t_np = np.asarray(targets, np.float64)
    before = izj.fit.evaluate(params, eval_keys, n_steps).mean(0)
    start = time.perf_counter()
    schedule = optax.exponential_decay(lr, transition_steps=n_iters, decay_rate=0.1)
    result = izj.fit.fit(theta, build, loss, optax.adam(schedule), fit_key, n_steps, n_iters=n_iters,
                         batch=batch, progress=progress,
                         summary=lambda r: {"median_rel": float(jnp.median(jnp.abs(r / targets - 1)))})
    fit_s = time.perf_counter() - start
    after = izj.fit.evaluate(result.params, eval_keys, n_steps).mean(0)
    b, a = _stats(before, t_np), _stats(after, t_np)
    numbers = {
        "experiment": "F2 per-neuron rates", "smoke": smoke, "seed": seed, "n": params.n,
        "n_steps": n_steps, "fitted": "per-neuron bias current (mV/ms)",
        "optimizer": f"adam({lr} decaying to {lr * 0.1:g})",
        "batch_keys_per_step": batch, "optimizer_steps": int(len(result.history["loss"])),
        "fit_seconds": fit_s, "held_out_keys": 10, "before": b, "after": a,
        "meets_criteria": bool(a["pearson"] >= 0.95 and a["median_relative_error"] <= 0.15),
        "bias_fitted_range": [float(result.theta["bias"].min()), float(result.theta["bias"].max())],
        "loss_history": result.history["loss"].tolist(),
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "fit_neurons.json"), "w") as f:
        json.dump(numbers, f, indent=1)
    _figure(result.history["loss"], t_np, before, after, b, a, os.path.join(out, "fit_neurons.png"))
    return numbers


def _figure(loss, targets, before, after, b, a, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.semilogy(loss, "k")
    ax1.set_xlabel("optimizer step")
    ax1.set_ylabel("loss (mean relative error$^2$, training keys)")
    lim = [0, max(targets.max(), after.max(), before.max()) * 1.05]
    ax2.plot(targets, before, ".", color="0.7", ms=3, label=f"before (r = {b['pearson']:.2f})")
    ax2.plot(targets, after, ".", color="k", ms=3,
             label=f"after (r = {a['pearson']:.3f}, median rel. err. "
                   f"{100 * a['median_relative_error']:.1f}%)")
    ax2.plot(lim, lim, "C2", lw=0.8)
    ax2.set_xlabel("target rate, Hz")
    ax2.set_ylabel("rate on 10 held-out keys, Hz")
    ax2.legend(fontsize=8)
    fig.suptitle("F2: per-neuron rates by per-neuron bias current")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for the tests")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "fit_neurons"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--iters", type=int, default=300)
    args = parser.parse_args(argv)
    n = run(args.out, smoke=args.smoke, seed=args.seed, lr=args.lr, n_iters=args.iters)
    print(json.dumps({k: n[k] for k in ("before", "after", "optimizer_steps", "fit_seconds",
                                        "meets_criteria")}, indent=1))


if __name__ == "__main__":
    main()
