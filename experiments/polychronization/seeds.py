"""Polychronous groups of izhijax's own 2006 networks over several seeds, against shuffled weights.

Issue 12 asks for the group count of izhijax's own 5 h runs (its own wiring, from a key) over at
least 4 seeds, against shuffled-weight controls. Each seed runs as ``izhijax polychronization
--seed S`` (float32 by default, ``--x64`` for float64) in its own resumable folder
(``DIR/seed<S>``, checkpoints every 60 s, exc weights saved every ``--snapshot-every`` s); the seeds
advance round-robin in slices of ``--slice`` simulated seconds, so an interrupted run leaves every
seed at about the same length, and rerunning the command continues where it stopped (bit for bit:
the runs are resumable). Then, for each seed and each weight snapshot, the group search
(:func:`izhijax.groups.polychronous_groups`, the original program's definition) on the learned
weights and on the same weights shuffled among the exc -> exc synapses
(:func:`izhijax.groups.shuffle_weights`, seed = the network's seed).

Output: ``DIR/groups.json`` (every count, the per-second statistics at each snapshot, wall times)
and ``DIR/groups.md`` (the table). Usage::

    .venv/bin/python experiments/polychronization/seeds.py --seeds 0 1 2 3 --hours 5 --jobs 2
    .venv/bin/python experiments/polychronization/seeds.py --seeds 0 1 2 3 --seconds 600 \\
        --snapshot-every 300 --slice 300          # a short version (minutes)
    .venv/bin/python experiments/polychronization/seeds.py ... --search-only   # counts only

Cost on the project's 2-core VM: about 0.11-0.12 s per simulated second per seed (float32), so
4 x 5 h is about 2.4 core-hours, 1.2 h of wall time with ``--jobs 2`` (each worker single-threaded
on its own core: two runs with XLA's default thread pools take twice as long); the search about
0.5-2.5 min per weight table.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))


def izhijax_cmd():
    exe = Path(sys.executable).with_name("izhijax")
    return [str(exe)] if exe.exists() else [sys.executable, "-c",
                                              "import sys; from izhijax.cli import main; "
                                              "sys.exit(main(sys.argv[1:]))"]


def done_seconds(folder):
    """Simulated seconds a run folder's checkpoint holds (0 without one)."""
    ck = Path(folder) / "checkpoint.npz"
    if not ck.exists():
        return 0
    import izhijax as izj
    return len(izj.load(ck).info["rows"])


SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false"
"""XLA flag of a worker of ``--jobs`` (Eigen's matrix products on one thread). What makes a
worker's XLA single-threaded is its CPU affinity: XLA sizes its thread pool from the CPUs the
process may use (two runs side by side on the 2-core VM with the default pools: 0.22 s per
simulated second each, the pools fighting over the cores; each pinned to one core: 0.11). The
``intra_op_parallelism_threads=1`` written here before is not an XLA flag and did nothing
(2026-12-03: Fig. 3 at 30 ms per simulated second with or without it, 18-22 ms pinned)."""


def advance_parallel(seconds, args):
    """``--jobs J``: the seeds dealt to ``J`` worker processes (this script again, with
    ``--jobs 1``), each pinned to one CPU (``os.sched_setaffinity``) with single-threaded XLA."""
    groups = [args.seeds[j::args.jobs] for j in range(args.jobs)]
    cpus = sorted(os.sched_getaffinity(0))
    procs = []
    for j, group in enumerate(g for g in groups if g):
        cmd = [sys.executable, __file__, "--seeds", *map(str, group), "--seconds", str(seconds),
               "--snapshot-every", str(args.snapshot_every), "--slice", str(args.slice),
               "--dir", args.dir, "--run-only", "--jobs", "1"] + \
            (["--x64"] if args.x64 else []) + (["--quiet"] if args.quiet else [])
        env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " "
                                          + SINGLE_THREAD).strip())
        cpu = {cpus[j % len(cpus)]}
        procs.append(subprocess.Popen(cmd, env=env,
                                      preexec_fn=lambda cpu=cpu: os.sched_setaffinity(0, cpu)))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a worker failed (exit codes {codes})")


def advance(seeds, seconds, args):
    """Bring every seed's run to ``seconds``, round-robin in slices of ``args.slice`` seconds."""
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    target = 0
    while target < seconds:
        target = min(seconds, target + args.slice)
        for seed in seeds:
            folder = Path(args.dir) / f"seed{seed}"
            if done_seconds(folder) >= target:
                continue
            cmd = izhijax_cmd() + ["polychronization", "--seed", str(seed), "--seconds",
                                   str(target), "--dir", str(folder), "--snapshot-every",
                                   str(args.snapshot_every), "--no-progress",
                                   "--out", str(Path(args.dir) / f"seed{seed}.png")]
            if args.x64:
                cmd.append("--x64")
            t0 = time.perf_counter()
            print(f"[{time.strftime('%H:%M:%S')}] seed {seed}: to {target} s", flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL if args.quiet else None)
            print(f"    {time.perf_counter() - t0:.1f} s wall", flush=True)


def search(seeds, args):
    import jax
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import izhijax as izj
    from izhijax._src import polychronization as pc
    from izhijax._src.groups import polychronous_groups, shuffle_weights

    out = {"machine": platform.processor() or platform.machine(), "python": sys.version.split()[0],
           "x64": bool(args.x64), "seeds": {}}
    for seed in seeds:
        folder = Path(args.dir) / f"seed{seed}"
        net_key, _ = jax.random.split(jax.random.key(seed))      # as `izhijax polychronization`
        net, _ = izj.polychronization2006(net_key)
        base = pc.synapse_tables(net)
        ck = izj.load(folder / "checkpoint.npz")
        rows = np.asarray(ck.info["rows"])
        snaps = sorted(folder.glob("weights_*.npy"))
        if args.search_at:
            snaps = [f for f in snaps if int(f.stem.split("_")[1]) in args.search_at]
        entry = []
        for snap in snaps:
            second = int(snap.stem.split("_")[1])
            w = np.load(snap).astype(np.float64)
            tables = dict(base, weights=np.concatenate([w, base["weights"][base["n_exc"]:]]))
            t0 = time.perf_counter()
            res = polychronous_groups(**tables, n_jobs=args.search_jobs)
            t_search = time.perf_counter() - t0
            shuffled = shuffle_weights(tables["post"], tables["weights"], tables["n_exc"], seed)
            t0 = time.perf_counter()
            ctl = polychronous_groups(**dict(tables, weights=shuffled), n_jobs=args.search_jobs)
            t_ctl = time.perf_counter() - t0
            row = rows[second - 1]
            exc = tables["weights"][:tables["n_exc"]]
            entry.append(dict(second=second, groups=int(res.count), shuffled=int(ctl.count),
                              search_s=round(t_search, 2), shuffled_search_s=round(t_ctl, 2),
                              exc_rate_hz=float(row[1]), strong_percent=float(row[2]),
                              inh_rate_hz=float(row[3]),
                              frac_above_0p95_cmax=float(np.mean(exc > 0.95 * tables["c_max"])),
                              mean_exc_weight=float(exc.mean())))
            print(f"seed {seed} at {second} s: {res.count} groups, shuffled {ctl.count} "
                  f"({t_search:.0f} + {t_ctl:.0f} s search)", flush=True)
        out["seeds"][str(seed)] = entry
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    (Path(args.dir) / "groups.json").write_text(json.dumps(out, indent=1))
    lines = ["| seed | simulated s | groups | shuffled control | exc Hz | inh Hz | % exc->exc > 0.9 C_max |",
             "|---|---|---|---|---|---|---|"]
    for seed, entry in out["seeds"].items():
        for e in entry:
            lines.append(f"| {seed} | {e['second']} | {e['groups']} | {e['shuffled']} | "
                         f"{e['exc_rate_hz']:.2f} | {e['inh_rate_hz']:.2f} | "
                         f"{e['strong_percent']:.1f} |")
    (Path(args.dir) / "groups.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=int)
    g.add_argument("--hours", type=float)
    ap.add_argument("--snapshot-every", type=int, default=1800)
    ap.add_argument("--slice", type=int, default=600, help="seconds per round-robin slice")
    ap.add_argument("--dir", default=str(REPO / "experiments" / "out" / "poly_seeds"))
    ap.add_argument("--x64", action="store_true")
    ap.add_argument("--search-only", action="store_true")
    ap.add_argument("--run-only", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--search-jobs", type=int, default=1,
                    help="worker processes of each group search (polychronous_groups n_jobs)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="worker processes, the seeds dealt among them (one CPU each)")
    ap.add_argument("--search-at", type=int, nargs="*", default=[],
                    help="search only the snapshots of these seconds (default: every snapshot)")
    args = ap.parse_args()
    seconds = args.seconds if args.seconds else int(round((args.hours or 5) * 3600))
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    if not args.search_only:
        if args.jobs > 1:
            advance_parallel(seconds, args)
        else:
            advance(args.seeds, seconds, args)
    if not args.run_only:
        search(args.seeds, args)


if __name__ == "__main__":
    main()
