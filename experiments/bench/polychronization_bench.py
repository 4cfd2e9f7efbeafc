"""Speed of the polychronization network (Izhikevich 2006, delays + STDP), side by side in one run.

    .venv/bin/python experiments/bench/polychronization_bench.py [--seconds 20] [--rounds 3]
        [--brian2-venv .venv-brian] [--json experiments/bench/polychronization_bench.json]

Cases, run round-robin (``--rounds`` times each, the median reported), each as seconds of wall
time per simulated second of the network with STDP:

- ``original``: Izhikevich's ``poly_spnet.cpp`` (the anchor, unmodified except the number of
  seconds and no group search at the end: two ``sed`` edits of a copy in ``build/``), ``g++ -O2``,
  one thread; its whole process timed (its set-up is < 0.1 s);
- ``izhijax float64`` / ``izhijax float32``: ``izj.polychronization2006`` run by the compiled
  one-second loop of ``izj.polychronization.run`` (no raster, per-second statistics), after one
  warm-up second; compile time reported apart; also with the process on one core (``, 1
  core``: XLA:CPU then runs every kernel on one thread, as the original runs; on the AMD EPYC VM,
  2026-12-04, two-core processes of this ~100-kernel step ran at either about the one-core speed
  or about half of it, by process, and one-core processes always at the faster one);
- ``izhijax numba float64`` / ``float32`` (``, 1 core``): the same seconds as one fused loop each
  (``backend="numba"``, :mod:`izhijax._src.fused`; the same step as the engine's, bit for bit
  against the original in float64); compile time with the first second, the loop's machine code
  loaded from numba's cache after the first process (the first process after an install compiles
  it: about 4 s more);
- ``brian2 cpp_standalone threads=0/2``: ``experiments/bench/peers/brian2_polychronization.py``
  (the same model; it matches the original spike for spike from the original's wiring) in its own
  virtual environment, Brian2's timer of the run without compilation, no OpenMP (Brian2's
  default) and 2 OpenMP threads, if ``--brian2-venv`` exists.

Never run it while other heavy processes run (2 cores).
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ANCHOR = os.path.join(ROOT, "..", "shared", "anchors", "polychronization", "poly_spnet.cpp")
BUILD = os.path.join(ROOT, "experiments", "polychronization", "build", "bench")

IZHIJAX = r"""
import json, sys, time
import jax
if sys.argv[1] == "float64":
    jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
import izhijax as izj
from izhijax._src import engine, fused
backend = engine if sys.argv[3] == "xla" else fused
net, stim = izj.polychronization2006(jax.random.key(0))
key = jax.random.key(1)
state = izj.init_state(net)
e = jnp.zeros(0, jnp.int32)
t0 = time.perf_counter()
run = backend.run_jit.lower(net, key, state, stim, e, e, n_steps=1000, record_spikes=False).compile()
state, out = run(net, key, state, stim, e, e)      # numba: its loop is loaded (or compiled) here
jax.block_until_ready(state)
compile_s = time.perf_counter() - t0               # with the first simulated second
seconds = int(sys.argv[2])
t0 = time.perf_counter()
spikes = 0
for _ in range(seconds):
    state, out = run(net, key, state, stim, e, e)
    spikes += int(np.asarray(out.counts).sum())
jax.block_until_ready(state)
wall = time.perf_counter() - t0
print(json.dumps({"s_per_s": wall / seconds, "compile_s": compile_s,
                  "spikes_per_s": spikes / seconds}))
"""


def original_binary(seconds):
    os.makedirs(BUILD, exist_ok=True)
    src = open(ANCHOR, encoding="latin-1").read().replace("\r\n", "\n")
    src, n1 = re.subn(r"sec<5\*60\*60", f"sec<{int(seconds)}", src)
    src, n2 = re.subn(r"\n\s*all_polychronous\(\); k=N_polychronous;", "\n", src)
    if n1 != 1 or n2 != 1:
        raise RuntimeError("the anchor program changed: cannot set its length / drop its search")
    path = os.path.join(BUILD, f"poly_spnet_{seconds}s.cpp")
    open(path, "w").write(src)
    exe = path[:-4]
    subprocess.run(["g++", "-O2", "-o", exe, path], check=True)
    os.makedirs(os.path.join(BUILD, "work"), exist_ok=True)   # it writes to ../
    return exe


def run_original(exe, seconds):
    work = os.path.join(BUILD, "work")
    t0 = time.perf_counter()
    subprocess.run([exe], cwd=work, check=True, stdout=subprocess.DEVNULL)
    return {"s_per_s": (time.perf_counter() - t0) / seconds}


def run_izhijax(dtype, seconds, cores=None, backend="xla"):
    """``cores``: run the process on that many of this process's CPUs (``taskset``'s
    ``sched_setaffinity``, inherited by the child and set before its JAX starts)."""
    preexec = None
    if cores:
        cpus = sorted(os.sched_getaffinity(0))[:cores]
        preexec = lambda: os.sched_setaffinity(0, cpus)      # noqa: E731
    out = subprocess.run([sys.executable, "-c", IZHIJAX, dtype, str(seconds), backend], check=True,
                         capture_output=True, text=True, cwd="/tmp", preexec_fn=preexec)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_brian2(venv, seconds, threads):
    """Brian2's own timer of the run in the built binary (``run_s``), compilation apart; the build
    folder is kept between rounds so only the first round compiles."""
    script = os.path.join(HERE, "peers", "brian2_polychronization.py")
    build = os.path.join(BUILD, f"brian2_t{threads}")
    out = subprocess.run([os.path.join(venv, "bin", "python"), script, "--seconds", str(seconds),
                          "--threads", str(threads), "--no-rates", "--build-dir", build],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return {"s_per_s": res["s_per_sim_s"], "build_s": res.get("build_s"),
            "spikes_per_s": res.get("spikes", 0) / seconds}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--brian2-venv", default=os.path.join(ROOT, ".venv-brian"))
    p.add_argument("--json", default=None)
    args = p.parse_args()
    exe = original_binary(args.seconds)
    cases = {"original": lambda: run_original(exe, args.seconds),
             "izhijax float64": lambda: run_izhijax("float64", args.seconds),
             "izhijax float32": lambda: run_izhijax("float32", args.seconds),
             "izhijax float64, 1 core": lambda: run_izhijax("float64", args.seconds, 1),
             "izhijax float32, 1 core": lambda: run_izhijax("float32", args.seconds, 1),
             "izhijax numba float64": lambda: run_izhijax("float64", args.seconds,
                                                          backend="numba"),
             "izhijax numba float32": lambda: run_izhijax("float32", args.seconds,
                                                          backend="numba"),
             "izhijax numba float64, 1 core": lambda: run_izhijax("float64", args.seconds, 1,
                                                                  backend="numba")}
    script = os.path.join(HERE, "peers", "brian2_polychronization.py")
    if os.path.isdir(args.brian2_venv) and os.path.exists(script):
        for threads in (0, 2):       # 0: Brian2's default (no OpenMP)
            cases[f"brian2 cpp_standalone threads={threads}"] = \
                lambda threads=threads: run_brian2(args.brian2_venv, args.seconds, threads)
    results = {name: [] for name in cases}
    for r in range(args.rounds):
        for name, fn in cases.items():
            res = fn()
            results[name].append(res)
            print(f"round {r}: {name}: {res}", flush=True)
    med = {name: statistics.median(x["s_per_s"] for x in runs) for name, runs in results.items()}
    summary = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or
               platform.machine(), "cpus": os.cpu_count(), "seconds": args.seconds,
               "rounds": args.rounds, "median_s_per_simulated_s": med,
               "ratio_to_original": {k: v / med["original"] for k, v in med.items()},
               "runs": results}
    print(json.dumps({k: summary[k] for k in ("median_s_per_simulated_s", "ratio_to_original")},
                     indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
