"""Before/after benchmark of the engine refactor: izhijax 0.1 against this tree, in one run.

Every case runs in a fresh process per tree, round-robin over ``--rounds`` rounds (0.1, then this
tree, case by case), so both see the same machine state. Per case: the compiled loop's run time
(median of ``--repeats`` runs, counts only, as ``experiments/bench/bench.py``), ``simulate()`` as a
user calls it (validation, default recording with the raster, transfers; median of ``--repeats``
after one warm-up call), the compile time, the spike count and the peak RSS of the process.

    git worktree add /tmp/old 57fa878          # izhijax 0.1, the commit before the engine
    python experiments/bench/ab_engine.py --old /tmp/old --rounds 3

Writes ``experiments/out/ab_engine/ab.json`` and prints a table of medians over rounds with the
ratio new / old.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CASES = (("fig3 event", dict(workload="fig3", propagation="event")),
         ("fig3 dense", dict(workload="fig3", propagation="dense")),
         ("scaled 1e4", dict(workload="scaled", n=10_000)),
         ("scaled 1e5", dict(workload="scaled", n=100_000)))


def worker(spec):
    """Run one case with the izhijax found first on sys.path; print one JSON line."""
    import resource

    import jax
    import jax.numpy as jnp
    import numpy as np

    import izhijax as izj
    assert os.path.realpath(izj.__file__).startswith(os.path.realpath(spec["root"])), izj.__file__
    key = jax.random.key(0)
    if spec["workload"] == "fig3":
        params = izj.izhikevich2003(key, dtype=jnp.float32, propagation=spec["propagation"])
    else:
        params = izj.scaled_izhikevich2003(key, spec["n"], 100, dtype=jnp.float32)
    jax.block_until_ready(params)
    steps, repeats, noise = spec["steps"], spec["repeats"], jax.random.key(1)
    run, compile_s = izj.compile_simulation(params, noise, steps, record_spikes=False,
                                            record_v=[])
    loop = []
    for _ in range(repeats):
        t = time.perf_counter()
        _, rec = run()
        jax.block_until_ready(rec.counts)
        loop.append(time.perf_counter() - t)
    spikes = int(np.asarray(rec.counts).sum())
    called = []
    record_spikes = spec["workload"] == "fig3"       # the default recording where it fits
    for i in range(repeats + 1):
        t = time.perf_counter()
        _, rec = izj.simulate(params, noise, steps, record_spikes=record_spikes)
        jax.block_until_ready(rec)
        if i:                                       # the first call compiles
            called.append(time.perf_counter() - t)
    assert int(np.asarray(rec.counts).sum()) == spikes
    print(json.dumps(dict(loop_s=statistics.median(loop), simulate_s=statistics.median(called),
                          compile_s=compile_s, spikes=spikes,
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          version=izj.__version__)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="a checkout of izhijax 0.1 (git worktree); required")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--cases", default=",".join(c for c, _ in CASES))
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out", "ab_engine"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if not args.old:
        ap.error("--old is required: a checkout of izhijax 0.1 (git worktree add /tmp/old 57fa878)")
    trees = {"0.1": os.path.abspath(args.old), "new": ROOT}
    chosen = [(c, s) for c, s in CASES if c in args.cases.split(",")]
    results = {(c, t): [] for c, _ in chosen for t in trees}
    for r in range(args.rounds):
        for case, spec in chosen:
            for tree, root in trees.items():
                spec = dict(spec, root=root, steps=args.steps, repeats=args.repeats)
                env = dict(os.environ, PYTHONPATH=root)
                proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                      capture_output=True, text=True, env=env, cwd="/")
                line = [x for x in proc.stdout.splitlines() if x.startswith("{")]
                if proc.returncode or not line:
                    raise SystemExit(f"{case} on {tree} failed:\n{proc.stderr[-3000:]}")
                results[case, tree].append(json.loads(line[-1]))
                print(f"round {r + 1} {case:15s} {tree:4s} {line[-1]}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for case, _ in chosen:
        row = {"case": case}
        for tree in trees:
            for field in ("loop_s", "simulate_s", "compile_s", "peak_rss_mb"):
                row[f"{field}_{tree}"] = statistics.median(x[field] for x in results[case, tree])
            row[f"spikes_{tree}"] = results[case, tree][0]["spikes"]
        rows.append(row)
    with open(os.path.join(args.out, "ab.json"), "w") as f:
        json.dump(dict(rounds=args.rounds, repeats=args.repeats, steps=args.steps, rows=rows,
                       raw={f"{c}|{t}": v for (c, t), v in results.items()}), f, indent=1)
    print(f"\nmedians over {args.rounds} rounds ({args.steps} steps, float32; loop and simulate "
          f"each the median of {args.repeats} runs); ratio = new / 0.1")
    print(f"{'case':15s} {'loop 0.1':>9s} {'loop new':>9s} {'ratio':>6s} {'sim 0.1':>9s} "
          f"{'sim new':>9s} {'ratio':>6s} {'RSS 0.1':>8s} {'RSS new':>8s} {'spikes 0.1/new':>16s}")
    for row in rows:
        print(f"{row['case']:15s} {row['loop_s_0.1']:9.4f} {row['loop_s_new']:9.4f} "
              f"{row['loop_s_new'] / row['loop_s_0.1']:6.3f} {row['simulate_s_0.1']:9.4f} "
              f"{row['simulate_s_new']:9.4f} {row['simulate_s_new'] / row['simulate_s_0.1']:6.3f} "
              f"{row['peak_rss_mb_0.1']:8.0f} {row['peak_rss_mb_new']:8.0f} "
              f"{row['spikes_0.1']:>7d}/{row['spikes_new']:<7d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
