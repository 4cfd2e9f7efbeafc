"""Benchmark harness: izhijax against Brian2, PymoNNto, BrainPy and brainstate, in one run.

Workloads (1000 ms of simulated time each, dt 1 ms unless said):

* ``fig3``: the Izhikevich (2003) Fig. 3 network (800 + 200 neurons, dense all-to-all). izhijax dense
  and event-driven (float32); Brian2 with the numpy, cython and cpp_standalone targets; PymoNNto (its
  own example's variant: dt 0.5 ms, 2000 iterations); BrainPy (``DSRunner``); brainstate +
  brainevent (BrainPy's current stack: ``brainstate.nn.EventLinear``, event-driven dense, float32).
* ``scaled``: the scaled family with K = 100 synapses per neuron at N = 1,000, 10,000, 100,000
  (and 1,000,000 with ``--gpu``): izhijax sparse event-driven (float32) against Brian2
  cpp_standalone with 1 and 2 OpenMP threads and brainstate + brainevent (event-driven
  ``brainevent.CSR``, float32, CPU).

Each case runs in its own process (peers in their own virtual environments, created here if
missing: ``<venv-dir>/.venv-brian``, ``.venv-pymonnto``, ``.venv-brainpy``, ``.venv-brainstate``)
and reports build or compile time apart from run time, peak resident memory and spike counts.
izhijax and brainstate time the runs after one untimed run of the compiled loop (izhijax reports
that first run as ``first_run_s``); Brian2's timer covers its run without compilation.
Peers simulate 1000 ms, except brainstate, which runs as many steps as izhijax (200 with
``--quick``) and as many timed repeats. A peer that cannot be
installed or fails is reported with its error, never skipped silently.

Outputs in ``--out`` (default ``experiments/out/bench``): ``bench.json``, ``bench.md`` (table),
``bench.png`` (seconds per simulated second vs N, log-log), ``bench.log``.

Full run for the README (117 s on the 2-core VM with the peers' venvs in place, most of it
Brian2's seven C++ builds of about 10 s each and the N = 100,000 runs; creating a missing peer
venv adds a few minutes; add ``--gpu`` on a GPU machine for N = 1,000,000)::

    python experiments/bench/bench.py --venv-dir /work/main --out experiments/out/bench

Quick end-to-end check (izhijax only, small sizes, a few seconds; used by the tests)::

    python experiments/bench/bench.py --quick --peers none --out /tmp/bench
"""

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = ("brian2", "pymonnto", "brainpy", "brainstate")
VENVS = {  # peer -> (venv name, pip requirements, import name)
    "brian2": (".venv-brian", ["brian2==2.9.0", "numpy<2.3", "cython"], "brian2"),
    "pymonnto": (".venv-pymonnto", ["pymonnto", "numpy<2.3"], "PymoNNto"),
    "brainpy": (".venv-brainpy", ["brainpy", "jax", "jaxlib"], "brainpy"),
    # [cpu] pulls numba: brainevent's CPU kernels (its default CPU backend) are numba functions
    "brainstate": (".venv-brainstate", ["brainstate[cpu]>=0.5,<0.6", "brainevent[cpu]>=0.2,<0.3"],
                   "brainstate, brainevent, numba"),
}
SCRIPTS = {"brian2": "brian2_fig3.py", "pymonnto": "pymonnto_fig3.py", "brainpy": "brainpy_fig3.py",
           "brainstate": "brainstate_fig3.py"}


# ----------------------------------------------------------------------------- izhijax worker

def izhijax_case(spec):
    """Run one izhijax case in this process; return its measurements (a dict).

    ``spec["cores"]``: run on that many of this process's CPUs (``os.sched_setaffinity``, as
    ``taskset`` does), set before JAX starts: XLA's CPU runtime sizes its thread pool from the
    CPUs it may use, and on a small network its per-kernel hand-offs between threads cost more
    than they save (Fig. 3: the loop about 1.4x slower on 2 cores than on one, Intel Xeon VM,
    2026-12-03, experiments/out/bench_fig3_cores).
    """
    if spec.get("cores"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:spec["cores"]])
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, ROOT)
    import izhijax as izj

    t0 = time.perf_counter()
    key = jax.random.key(0)
    if spec["workload"] == "fig3":
        params = izj.izhikevich2003(key, dtype=jnp.float32, propagation=spec["propagation"])
    else:
        params = izj.scaled_izhikevich2003(key, spec["n"], spec["k"], dtype=jnp.float32)
        if spec.get("csr"):     # the same synapses, propagated by brainevent's CSR kernel
            params = izj.connectivity.to_csr(params)
    jax.block_until_ready(params)
    build_s = time.perf_counter() - t0
    run, compile_s = izj.compile_simulation(params, jax.random.key(1), spec["steps"],
                                            record_spikes=False, record_v=[])
    # One untimed run first, as the brainstate driver's first call (compile + one run) and
    # Brian2's timer (its run, not its first-touch set-up) leave out: a first execution pays for
    # first-touch page faults of the outputs and the kernels' start (N = 100,000 CSR on the AMD
    # EPYC VM, 2026-12-04: 2.03 s, then 1.67, 1.49, 1.53 s).
    t = time.perf_counter()
    _, rec = run()
    jax.block_until_ready(rec.counts)
    first_run_s = time.perf_counter() - t
    times = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        _, rec = run()
        jax.block_until_ready(rec.counts)
        times.append(time.perf_counter() - t)
    counts = np.asarray(rec.counts)
    n_exc = rec.span("exc")[1] if "exc" in rec.names else counts.size   # exc: the first neurons
    seconds = spec["steps"] * params.config.dt / 1000.0
    # The public simulate() as a user calls it: its default recording (the raster), argument
    # checks, the run, and the raster read on the host; the first call (compilation) not timed.
    called = []
    if spec["workload"] == "fig3":
        for i in range(spec["repeats"] + 1):
            t = time.perf_counter()
            _, r = izj.simulate(params, jax.random.key(1), spec["steps"])
            np.asarray(r.spikes)
            called.append(time.perf_counter() - t)
        called = called[1:]
    return dict(build_s=build_s, compile_s=compile_s, first_run_s=first_run_s,
                run_s=statistics.median(times),
                run_all_s=times, spikes=int(counts.sum()),
                simulate_s=statistics.median(called) if called else None, simulate_all_s=called,
                rate_exc=float(counts[:n_exc].sum() / n_exc / seconds),
                rate_inh=float(counts[n_exc:].sum() / max(1, counts.size - n_exc) / seconds),
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                version=izj.__version__, device=str(jax.devices()[0]))


# ----------------------------------------------------------------------------- harness

def log(msg, fh):
    line = f"[{datetime.datetime.now().strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    fh.write(line + "\n")
    fh.flush()


def run_json(cmd, timeout, fh, env=None):
    """Run a command that prints one JSON line last; return (dict or None, error string)."""
    log("$ " + " ".join(cmd), fh)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    fh.write(proc.stderr[-4000:])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"exit {proc.returncode}: {tail[0][:300]}"
    return json.loads(lines[-1]), ""


def ensure_venv(peer, venv_dir, fh):
    """Python of the peer's venv, created and installed if missing; (python, error)."""
    name, reqs, module = VENVS[peer]
    venv = os.path.join(venv_dir, name)
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python):
        check = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
        if check.returncode == 0:
            return python, ""
    log(f"creating {venv} for {peer}: pip install {' '.join(reqs)}", fh)
    steps = [[sys.executable, "-m", "venv", venv], [python, "-m", "pip", "install", "-q", *reqs]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        fh.write(proc.stdout[-2000:] + proc.stderr[-4000:])
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            return None, f"could not install {peer}: {tail[0][:300]}"
    return python, ""


def cases(args):
    """The list of (label, workload, n, simulator, how) cases of this run."""
    steps = 200 if args.quick else 1000
    reps = 1 if args.quick else args.repeats
    out = []
    for prop in ("dense", "event") if "fig3" in args.workloads else ():
        out.append(dict(label=f"izhijax {prop} (float32)", workload="fig3", n=1000, sim="izhijax",
                        spec=dict(workload="fig3", propagation=prop, steps=steps, repeats=reps)))
    if ("fig3" in args.workloads and hasattr(os, "sched_getaffinity")     # Linux
            and len(os.sched_getaffinity(0)) > 1):
        # the same resources as the single-threaded peers (Brian2 without OpenMP, PymoNNto)
        out.append(dict(label="izhijax event (float32), 1 core", workload="fig3", n=1000,
                        sim="izhijax", spec=dict(workload="fig3", propagation="event",
                                                 steps=steps, repeats=reps, cores=1)))
    fig3_peers = args.peers if "fig3" in args.workloads else []
    if "brian2" in fig3_peers:
        for target in ("numpy", "cython", "cpp_standalone"):
            out.append(dict(label=f"Brian2 {target}", workload="fig3", n=1000, sim="brian2",
                            argv=["fig3", target]))
    if "pymonnto" in fig3_peers:
        out.append(dict(label="PymoNNto (dt 0.5 ms variant)", workload="fig3", n=1000,
                        sim="pymonnto", argv=[]))
    if "brainpy" in fig3_peers:
        out.append(dict(label="BrainPy DSRunner", workload="fig3", n=1000, sim="brainpy", argv=[]))
    if "brainstate" in fig3_peers:
        out.append(dict(label="brainstate EventLinear (float32)", workload="fig3", n=1000,
                        sim="brainstate",
                        argv=["fig3", "--steps", str(steps), "--repeats", str(reps)]))
    sizes = [1000] if args.quick else [1000, 10000, 100000] + ([1000000] if args.gpu else [])
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else sizes
    sizes = sizes if "scaled" in args.workloads else []
    for n in sizes:
        out.append(dict(label="izhijax sparse event (float32)", workload="scaled", n=n,
                        sim="izhijax", spec=dict(workload="scaled", n=n, k=args.k, steps=steps,
                                                 repeats=reps if n <= 10000 else 1)))
        if args.csr:
            out.append(dict(label="izhijax CSR brainevent (float32)", workload="scaled", n=n,
                            sim="izhijax", spec=dict(workload="scaled", n=n, k=args.k, steps=steps,
                                                     repeats=reps if n <= 10000 else 1,
                                                     csr=True)))
        if "brian2" in args.peers and (n <= 100000 or args.sizes):   # larger: when asked for
            for threads in (1, 2) if n <= 100000 else (2,):
                out.append(dict(label=f"Brian2 cpp_standalone {threads} thread(s)",
                                workload="scaled", n=n, sim="brian2",
                                argv=["scaled", str(n), str(args.k), "cpp_standalone", str(threads)]))
        if "brainstate" in args.peers and n <= 100000:
            out.append(dict(label="brainstate brainevent CSR (float32)", workload="scaled", n=n,
                            sim="brainstate",
                            argv=["scaled", str(n), str(args.k), "--steps", str(steps),
                                  "--repeats", str(reps if n <= 10000 else 1)]))
    return out, steps


def measure(case, steps, args, fh):
    if case["sim"] == "izhijax":
        spec = json.dumps(case["spec"])
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if not args.gpu:
            env["JAX_PLATFORMS"] = "cpu"
        result, err = run_json([sys.executable, __file__, "--worker", spec], args.timeout, fh, env)
        sim_seconds = steps / 1000.0
    else:
        python, err = ensure_venv(case["sim"], args.venv_dir, fh)
        result = None
        if python:
            script = os.path.join(HERE, "peers", SCRIPTS[case["sim"]])
            env = dict(os.environ, JAX_PLATFORMS="cpu")
            result, err = run_json([python, script, *case["argv"]], args.timeout, fh, env)
        # 1000 ms, unless the peer says how many 1 ms steps it ran (brainstate)
        sim_seconds = (result or {}).get("steps", 1000) / 1000.0
    row = {k: case[k] for k in ("label", "workload", "n", "sim")}
    if result is None:
        row["error"] = err
        log(f"  {case['label']} N={case['n']}: FAILED ({err})", fh)
        return row
    row.update(result)
    row["sim_seconds"] = sim_seconds
    row["s_per_sim_s"] = result["run_s"] / sim_seconds
    log(f"  {case['label']} N={case['n']}: {row['s_per_sim_s']:.4f} s per simulated s, "
        f"compile {result.get('compile_s', result.get('build_s', 0)):.2f} s, "
        f"{result['spikes']} spikes, peak {result['peak_rss_mb']:.0f} MB", fh)
    return row


def median_row(case_rows):
    """One row per case: the median round's numbers, with every round's time kept."""
    ok = [r for r in case_rows if "error" not in r]
    if not ok:
        return case_rows[0]
    ok.sort(key=lambda r: r["s_per_sim_s"])
    row = dict(ok[(len(ok) - 1) // 2])
    row["rounds_s_per_sim_s"] = [r["s_per_sim_s"] for r in case_rows if "error" not in r]
    return row


def table(rows):
    head = ("| workload | N | simulator | s per simulated s | vs Brian2 C++ | setup s | compile s "
            "| spikes per sim s | exc / inh Hz | peak MB |\n|---|---|---|---|---|---|---|---|---|---|\n")
    # The reference of each workload: Brian2 cpp_standalone (Fig. 3), with 2 threads (scaled).
    ref = {(r["workload"], r["n"]): r["s_per_sim_s"] for r in rows if "error" not in r and
           r["label"] in ("Brian2 cpp_standalone", "Brian2 cpp_standalone 2 thread(s)")}
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['n']:,} | {r['label']} | not run: {r['error']} "
                         "| | | | | | |")
            continue
        base = ref.get((r["workload"], r["n"]))
        ratio = f"{r['s_per_sim_s'] / base:.2f}" if base else ""
        # izhijax: setup = building the network, compile = XLA; peers: setup = Python model
        # construction, compile = code generation and compilation (Brian2), tracing (BrainPy),
        # tracing + XLA compilation (brainstate: its first call minus a run).
        setup = r.get("setup_s", r["build_s"] if "compile_s" in r else 0.0)
        compile_s = r.get("compile_s", r.get("build_s", 0.0))
        lines.append(f"| {r['workload']} | {r['n']:,} | {r['label']} | {r['s_per_sim_s']:.4g} | "
                     f"{ratio} | {setup:.2f} | {compile_s:.2f} | {r['spikes'] / r['sim_seconds']:,.0f} | "
                     f"{r['rate_exc']:.1f} / {r['rate_inh']:.1f} | {r['peak_rss_mb']:.0f} |")
    out = head + "\n".join(lines) + "\n"
    called = [r for r in rows if "error" not in r and r.get("simulate_s")]
    if called:
        out += ("\nFig. 3 through the public `izj.simulate(params, key, 1000)` as called (default "
                "recording: the raster, read on the host; argument checks; first call not timed) "
                "against the compiled loop alone:\n\n| simulator | loop s per sim s | vs Brian2 C++ | "
                "simulate() s per sim s | vs Brian2 C++ |\n|---|---|---|---|---|\n")
        for r in called:
            base = ref.get((r["workload"], r["n"]))
            sim = r["simulate_s"] / r["sim_seconds"]
            out += (f"| {r['label']} | {r['s_per_sim_s']:.4g} | "
                    f"{r['s_per_sim_s'] / base if base else float('nan'):.2f} | {sim:.4g} | "
                    f"{sim / base if base else float('nan'):.2f} |\n")
    return out


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    ok = [r for r in rows if "error" not in r]
    for label in dict.fromkeys(r["label"] for r in ok if r["workload"] == "scaled"):
        pts = sorted((r["n"], r["s_per_sim_s"]) for r in ok
                     if r["workload"] == "scaled" and r["label"] == label)
        ax.plot(*zip(*pts), "o-", label=f"scaled K=100: {label}")
    for r in ok:
        if r["workload"] == "fig3":
            ax.plot(r["n"], r["s_per_sim_s"], "x", ms=9, label=f"Fig. 3: {r['label']}")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="real time")
    ax.set(xscale="log", yscale="log", xlabel="neurons N",
           ylabel="wall seconds per simulated second", title="izhijax vs peers (CPU unless noted)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description="izhijax vs Brian2, PymoNNto, BrainPy, brainstate")
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out", "bench"))
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    ap.add_argument("--gpu", action="store_true", help="let izhijax use the GPU and add N = 1e6")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma-separated peers to run (brian2,pymonnto,brainpy,brainstate) or "
                         "'none'")
    ap.add_argument("--venv-dir", default=ROOT, help="where the peers' .venv-* live or are made")
    ap.add_argument("--repeats", type=int, default=5,
                    help="timed runs per izhijax and brainstate case (median)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every case this many times, round-robin (peers included), and report "
                         "the median over rounds")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--workloads", default="fig3,scaled", help="fig3, scaled or both")
    ap.add_argument("--sizes", default="", help="N of the scaled family, e.g. 1000,10000")
    ap.add_argument("--csr", choices=("auto", "yes", "no"), default="auto",
                    help="also run the scaled family as connectivity.CSR (brainevent's kernel); "
                         "auto: where brainevent is installed next to this interpreter")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per case")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(izhijax_case(json.loads(args.worker))))
        return 0
    args.peers = [] if args.peers == "none" else args.peers.split(",")
    import importlib.util
    args.csr = (args.csr == "yes" or args.csr == "auto"
                and importlib.util.find_spec("brainevent") is not None)
    args.workloads = args.workloads.split(",")
    bad = [p for p in args.peers if p not in PEERS]
    if bad:
        ap.error(f"unknown peers {bad}; choose from {PEERS}")
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    with open(os.path.join(args.out, "bench.log"), "w") as fh:
        todo, steps = cases(args)
        log(f"{len(todo)} cases on {platform.node()} ({platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs)", fh)
        rounds = []
        for r in range(args.rounds):
            if args.rounds > 1:
                log(f"round {r + 1} of {args.rounds}", fh)
            rounds.append([measure(c, steps, args, fh) for c in todo])
        rows = [median_row(list(case_rows)) for case_rows in zip(*rounds)]
        log(f"done in {time.time() - start:.0f} s", fh)
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                machine=platform.node(), processor=platform.processor() or platform.machine(),
                cpus=os.cpu_count(), python=platform.python_version(), quick=args.quick,
                gpu=args.gpu, wall_s=time.time() - start)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(f"Benchmark ({meta['date']}, {meta['processor']}, {meta['cpus']} CPUs"
                f"{', GPU' if args.gpu else ''}{', QUICK' if args.quick else ''}): 1000 ms of "
                "simulated time per case unless quick; run time excludes build and compile.\n\n")
        f.write(table(rows))
    plot(rows, os.path.join(args.out, "bench.png"))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
