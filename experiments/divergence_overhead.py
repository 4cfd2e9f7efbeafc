"""What the divergence check costs in the compiled loop.

``simulate`` carries the first step at which some ``v`` or ``u`` became non-finite: one fused O(n)
reduction per step beside the O(n^2) synaptic product. This benchmark times two scans over
:func:`izhijax._src.engine.advance` (the step of the engine's scan) that differ only in that check, for Fig. 3 networks of several sizes, and
writes the ratio. Run it on a quiet machine (timings on a busy one mean little):

    python experiments/divergence_overhead.py [--smoke] [--out-dir experiments/out/divergence_overhead]

Writes ``divergence_overhead.json`` and ``divergence_overhead.png`` (time per step with and without
the check, against network size).
"""

import argparse
import json
import os
import time
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import izhijax as izj  # noqa: E402
from izhijax._src import engine  # noqa: E402


@partial(jax.jit, static_argnames=("n_steps", "check"))
def _loop(params, key, state, *, n_steps, check):
    low = engine.lower(params)      # once per run, as engine.run does

    def body(carry, _):
        state, counts, bad = carry
        t = state.t
        state, s, _ = engine.advance(state, params, key, low=low)
        if check:     # the very lines the engine's scan body runs
            finite = engine._finite(state)
            bad = jnp.where((bad < 0) & ~finite, t.astype(jnp.int32), bad)
        return (state, counts + (s > 0), bad), None

    (state, counts, bad), _ = jax.lax.scan(
        body, (state, jnp.zeros(params.n, jnp.int32), jnp.int32(-1)), None, length=n_steps)
    return state, counts, bad


def _best_time(fn, repeats):
    jax.block_until_ready(fn())                      # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--out-dir", default=os.path.join("experiments", "out",
                                                          "divergence_overhead"))
    args = parser.parse_args(argv)
    sizes = [40, 80] if args.smoke else [250, 1000, 4000]
    n_steps, repeats = (50, 1) if args.smoke else (1000, 7)
    rows = []
    for n in sizes:
        params = izj.izhikevich2003(jax.random.key(0), n_exc=4 * n // 5, n_inh=n - 4 * n // 5)
        state, key = izj.init_state(params), jax.random.key(1)
        row = {"n": n, "n_steps": n_steps}
        for check in (False, True):
            run = partial(_loop, params, key, state, n_steps=n_steps, check=check)
            row["with_check" if check else "without_check"] = _best_time(run, repeats) / n_steps
        row["overhead"] = row["with_check"] / row["without_check"] - 1.0
        rows.append(row)
        print(f"n={n:5d}  {row['without_check'] * 1e6:9.2f} us/step without, "
              f"{row['with_check'] * 1e6:9.2f} us/step with the check  "
              f"({100 * row['overhead']:+.1f} %)")
    os.makedirs(args.out_dir, exist_ok=True)
    result = {"backend": jax.default_backend(), "device": str(jax.devices()[0]), "rows": rows}
    with open(os.path.join(args.out_dir, "divergence_overhead.json"), "w") as f:
        json.dump(result, f, indent=1)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in ("without_check", "with_check"):
        ax.loglog([r["n"] for r in rows], [r[name] * 1e6 for r in rows], "o-",
                  label=name.replace("_", " "))
    ax.set_xlabel("neurons n")
    ax.set_ylabel("time per step (us)")
    ax.set_title(f"divergence check, {jax.default_backend()}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out_dir, "divergence_overhead.png"), dpi=120)
    return result


if __name__ == "__main__":
    main()
