"""Speed of the polychronous-group search: the original program's against izhijax's, same weights.

The weights are the compact record of the original program's own 5 h run (seed 0 of the anchor,
``out/weights_5h_seed0.npz``: the strong excitatory weights exact, the others 0, which the search
never reads, and the inhibitory ones), written back as a dump folder (``post.i32``, ``delay.i32``,
``s.f64``) for the original's search (``groups_vs_original.build_search_only``: the unmodified
``poly_spnet.cpp`` with a loader as ``main()``, ``g++ -O2``). Then izhijax's search
(:func:`izhijax.groups.polychronous_groups`) in this process (``n_jobs=1``) and with two worker
processes or threads (``n_jobs=2``), for each ``--backends`` (``numba``: the compiled per-set loop,
threads; ``numpy``: batched anchor sets, processes); each izhijax result's ``polyall.dat`` is
compared byte for byte with the original's (written by the original's search in this run). Every case reports its count (the same 4305), wall and CPU seconds; the
ratios are the note's figures. ``--original-json`` reuses an original result of this script::

    .venv/bin/python experiments/polychronization/search_speed.py \\
        --json experiments/polychronization/out/search_speed_<machine>.json
    .venv/bin/python experiments/polychronization/search_speed.py --skip-original  # izhijax only

CPU seconds of the single-threaded cases are fair even on a busy machine; wall seconds, and the
two-worker case, need a quiet one (2 cores).
"""
import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from groups_vs_original import BUILD, load_compact, run_original_search  # noqa: E402


def dump_folder(post, delay, w, folder):
    folder.mkdir(parents=True, exist_ok=True)
    post.astype("<i4").tofile(folder / "post.i32")
    delay.astype("<i4").tofile(folder / "delay.i32")
    w.astype("<f8").tofile(folder / "s.f64")
    return folder


def izhijax_search(tables, n_jobs, backend, polyall_original=None):
    from izhijax._src.groups import polychronous_groups
    c0, t0 = time.process_time(), time.perf_counter()
    res = polychronous_groups(**tables, n_jobs=n_jobs, backend=backend)
    out = dict(count=int(res.count), wall_seconds=time.perf_counter() - t0,
               cpu_seconds_this_process=time.process_time() - c0, n_jobs=n_jobs,
               backend=backend, n_emulated=int(res.n_emulated))
    if polyall_original is not None and polyall_original.exists():
        out["same_polyall_as_original"] = res.polyall().encode() == polyall_original.read_bytes()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(HERE / "out" / "weights_5h_seed0.npz"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--skip-original", action="store_true")
    ap.add_argument("--original-json", default=None, help="reuse this script's earlier output")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--backends", nargs="+", default=["numba"], choices=["numba", "numpy"],
                    help="izhijax's search backends to time (each with every --jobs)")
    args = ap.parse_args()
    post, delay, w, a, d, ne, z = load_compact(args.weights)
    out = {"machine": platform.processor() or platform.machine(), "weights": args.weights,
           "expected_count": int(z["count"])}
    try:
        out["cpu_model"] = next(line.split(":", 1)[1].strip()
                                for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if args.original_json:
        out["original"] = json.loads(Path(args.original_json).read_text())["original"]
    folder = Path(BUILD) / "search_speed_5h"
    if not args.original_json and not args.skip_original:
        dump_folder(post, delay, w, folder)
        out["original"] = run_original_search(folder)  # writes folder/polyall_original.dat
        out["original"].pop("per_target", None)
    tables = dict(post=post, delay=delay, weights=w, a=a, d=d, n_exc=ne)
    names = []
    for backend in args.backends:
        for j in args.jobs:
            name = f"izhijax_{backend}_jobs{j}"
            names.append(name)
            out[name] = r = izhijax_search(tables, j, backend, folder / "polyall_original.dat")
            print(f"izhijax {backend} n_jobs={j}: {r['count']} groups, {r['wall_seconds']:.1f} s "
                  f"wall, {r['cpu_seconds_this_process']:.1f} s CPU in this process; polyall.dat "
                  f"as the original's: {r.get('same_polyall_as_original', 'n/a')}", flush=True)
    if "original" in out:
        o = out["original"]
        for name in names:
            r = out[name]
            r["speedup_wall"] = o["median_seconds"] / r["wall_seconds"]
            if r["n_jobs"] == 1 and o.get("median_cpu_seconds"):
                r["speedup_cpu"] = o["median_cpu_seconds"] / r["cpu_seconds_this_process"]
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
