"""Regime map of the Izhikevich (2003) Fig. 3 network: excitatory weight scale x thalamic noise.

A 16 x 16 grid (1000 ms per network) run as one izhijax sweep: ``exc_weight_scale`` multiplies the
excitatory synapses (``0.5 U`` in the paper) and ``noise_scale`` the thalamic noise (``5 randn``
excitatory, ``2 randn`` inhibitory; 1 is the paper). Writes heat maps of the excitatory and
inhibitory rates, the dominant rhythm of the excitatory population rate and Golomb's synchrony chi
(``regimes.png``), and every number with a heuristic regime label per grid point (``regimes.json``).

    python experiments/sweep_regimes.py [--out-dir experiments/out/sweep_regimes] [--trials 1]
    python experiments/sweep_regimes.py --smoke --out-dir /tmp/sweep     # 3 x 3, 200 ms (tests)

Ranges: ``exc_weight_scale`` 0.25 .. 1.75, ``noise_scale`` 0.4 .. 2 (below about 0.5 the network
is silent whatever its weights; above an excitatory scale of about 1.1 it runs away).

Regime labels (heuristic, from the summaries; see ``regime``): ``quiet`` (excitatory rate < 1 Hz),
``epileptic`` (excitatory rate >= 100 Hz, the runaway regime, or chi >= 0.5: population-wide
synchrony), ``alpha`` / ``beta`` / ``gamma`` (dominant rhythm in 8-13 / 13-30 / 30-100 Hz), else
``irregular``.
"""

import argparse
import json
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))


def regime(rate_exc, rhythm_hz, chi):
    """Heuristic label of one network's activity (thresholds documented in the module docstring)."""
    if not rate_exc >= 1.0:
        return "quiet"
    if rate_exc >= 100.0 or chi >= 0.5:
        return "epileptic"
    for name, lo, hi in (("alpha", 8, 13), ("beta", 13, 30), ("gamma", 30, 100)):
        if lo <= rhythm_hz < hi:
            return name
    return "irregular"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default=os.path.join(HERE, "out", "sweep_regimes"))
    parser.add_argument("--smoke", action="store_true", help="3 x 3 grid, 200 ms (for the tests)")
    parser.add_argument("--size", type=int, default=None, help="grid points per axis (default 16)")
    parser.add_argument("--duration", type=float, default=None, help="ms per network (default 1000)")
    parser.add_argument("--trials", type=int, default=1, help="trial keys per grid point")
    parser.add_argument("--batch-size", type=int, default=None, help="networks per compiled call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--x64", action="store_true")
    args = parser.parse_args(argv)

    import jax
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    import izhijax as izj

    size = args.size or (3 if args.smoke else 16)
    duration = args.duration or (200.0 if args.smoke else 1000.0)
    axes = {"exc_weight_scale": np.linspace(0.25, 1.75, size),
            "noise_scale": np.linspace(0.4, 2.0, size)}
    net_key, noise_key = jax.random.split(jax.random.key(args.seed))
    params = izj.izhikevich2003(net_key)
    n_steps = max(1, round(duration / params.config.dt))

    start = time.perf_counter()
    res = izj.sweep.run(params, noise_key, n_steps, axes, trials=args.trials,
                        batch_size=args.batch_size, progress=not args.smoke)
    wall = time.perf_counter() - start

    os.makedirs(args.out_dir, exist_ok=True)
    fig = izj.plot.sweep_maps(res, title=f"Fig. 3 network, {size} x {size} sweep, "
                                          f"{duration:g} ms, {args.trials} trial(s)")
    png = os.path.join(args.out_dir, "regimes.png")
    fig.savefig(png, dpi=110)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # chi is nan where no neuron fired
        mean = {k: np.nanmean(np.asarray(v, float), axis=-1) for k, v in res.data.items()}
    labels = [[regime(mean["rate_exc"][i, j], mean["rhythm_hz"][i, j], mean["chi"][i, j])
               for j in range(size)] for i in range(size)]
    counts = {name: sum(row.count(name) for row in labels) for name in
              ("quiet", "alpha", "beta", "gamma", "irregular", "epileptic")}
    out = {"experiment": "sweep_regimes", "grid": [size, size], "duration_ms": duration,
           "n_steps": n_steps, "trials": args.trials, "seed": args.seed,
           "backend": jax.default_backend(), "devices": jax.device_count(),
           "dtype": str(params.a.dtype), "wall_s": wall, "regimes": labels,
           "regime_counts": counts, "sweep": res.to_dict()}
    path = os.path.join(args.out_dir, "regimes.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"sweep_regimes: {size} x {size} x {args.trials} networks of {duration:g} ms in "
          f"{wall:.1f} s (compile included) on {jax.device_count()} {jax.default_backend()} "
          f"device(s); regimes {counts}")
    print(f"  {png}\n  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
