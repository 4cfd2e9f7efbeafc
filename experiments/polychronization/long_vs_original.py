"""izhijax against Izhikevich's original program over hours: where do the two runs first differ?

    .venv/bin/python experiments/polychronization/long_vs_original.py \
        --dump experiments/polychronization/build/grp_5h --seconds 18000 \
        --json experiments/polychronization/long_vs_original.json

``--backend numba`` runs each second as the fused loop (:mod:`izhijax._src.fused`; numba makes no
fused multiply-adds, so no flag is needed there) instead of the engine's scan.

``--dump`` is a folder written by the modified original (``make_reference.run_original(seconds,
folder)``): its wiring, initial state, the stimulus of every ms, its per-second statistics
(``stats.txt``: exc rate, % strong exc->exc weights, inh rate, printed with 17 digits) and its
final weights. izhijax runs the same network from that dump in float64 without fused multiply-add
(``XLA_FLAGS=--xla_cpu_max_isa=AVX``, set here before JAX starts), one compiled second at a time,
and compares each second's statistics with the original's to the last bit; at the end it compares
the final weights. With ``--spikes`` (the dump's ``spikes.i32``, written when the dump was made
with all spikes) the first differing second is resolved to the ms and the neurons.

Also measured: wall time per simulated second and the peak resident memory after 60 s and at the
end (the run keeps no raster: memory must stay flat).
"""

import argparse
import json
import os
import resource
import sys
import time

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_max_isa=AVX").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

import izhijax as izj  # noqa: E402
from izhijax._src import engine, fused  # noqa: E402
from izhijax._src import polychronization as pc  # noqa: E402



def read_dump(folder):
    """The files of a dump folder this comparison needs (the spikes are optional, memory-mapped)."""
    meta = dict(line.partition(" ")[::2] for line in
                open(os.path.join(folder, "meta.txt")).read().splitlines())
    n, m, seconds = int(meta["N"]), int(meta["M"]), int(meta["seconds"])
    f = lambda name, dtype: np.fromfile(os.path.join(folder, name), dtype=dtype)
    wsec = f("wsec.i32", "<i4")
    return {"seconds": seconds, "post": f("post.i32", "<i4").reshape(n, m),
            "delay": f("delay.i32", "<i4").reshape(n, m), "v0": f("v0.f64", "<f8"),
            "u0": f("u0.f64", "<f8"), "stim": f("stim.i32", "<i4"),
            "stats": np.loadtxt(os.path.join(folder, "stats.txt"), ndmin=2),
            "weight_seconds": wsec,
            "s": np.memmap(os.path.join(folder, "s.f64"), dtype="<f8", mode="r",
                           shape=(len(wsec), n, m))}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dump", required=True, help="folder written by the modified original")
    p.add_argument("--seconds", type=int, default=None, help="default: the dump's length")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--save-final", default=None, help="save izhijax's final weights (.npy)")
    p.add_argument("--backend", choices=("xla", "numba"), default="xla",
                   help="the engine's scan (default) or the fused loop")
    args = p.parse_args()
    d = read_dump(args.dump)
    seconds = d["seconds"] if args.seconds is None else min(args.seconds, d["seconds"])
    stats = d["stats"]
    net, stim = pc.from_spnet(d, seconds=seconds)
    key = jax.random.key(0)                          # unused: no noise, the stimulus is given
    state = izj.init_state(net)
    e = np.zeros(0, np.int32)
    one_second = fused.run_jit if args.backend == "numba" else engine.run_jit
    run = one_second.lower(net, key, state, stim, e, e, n_steps=1000,
                           record_spikes=True).compile()
    n_exc, n_inh = 800, 200
    carry = np.zeros(2, np.int64)
    first_diff, rss_60 = None, None
    out = {"dump": os.path.abspath(args.dump), "seconds": seconds, "machine": os.uname().machine,
           "backend": args.backend}
    start = time.perf_counter()
    spikes_ms, spikes_i = None, None
    if os.path.exists(os.path.join(args.dump, "spikes.i32")):
        raw = np.memmap(os.path.join(args.dump, "spikes.i32"), dtype="<i4", mode="r").reshape(-1, 2)
        spikes_ms, spikes_i = raw[:, 0], raw[:, 1]
    for sec in range(seconds):
        strong = pc.exc_exc_strong(net, state)
        state, rec = run(net, key, state, stim, e, e)
        raster = np.asarray(rec.spikes)
        pop = np.stack([raster[:, :n_exc].sum(1), raster[:, n_exc:].sum(1)], 1)
        this = carry + pop[:-1].sum(0)
        carry = pop[-1].copy()
        got = np.array([sec, this[0] / n_exc, strong, this[1] / n_inh])
        if not np.array_equal(got, stats[sec]):
            first_diff = {"second": sec, "izhijax": got.tolist(), "original": stats[sec].tolist()}
            if spikes_ms is not None:
                t, i = np.nonzero(raster)
                mine = np.stack([t + sec * 1000 + 1, i], 1)
                lo, hi = np.searchsorted(spikes_ms, [sec * 1000 + 1, sec * 1000 + 1001])
                theirs = np.stack([spikes_ms[lo:hi], spikes_i[lo:hi]], 1)
                n = min(len(mine), len(theirs))
                bad = np.flatnonzero(np.any(mine[:n] != theirs[:n], axis=1))
                k = int(bad[0]) if bad.size else n
                first_diff["first_ms"] = int(min(mine[k, 0] if k < len(mine) else 1 << 30,
                                                 theirs[k, 0] if k < len(theirs) else 1 << 30))
                first_diff["izhijax_spikes_at"] = mine[mine[:, 0] == first_diff["first_ms"], 1].tolist()
                first_diff["original_spikes_at"] = theirs[theirs[:, 0] == first_diff["first_ms"], 1].tolist()
            print("first difference:", first_diff, flush=True)
            break
        if sec == 59:
            rss_60 = peak_rss_mb()
        if sec % 600 == 0 or sec == seconds - 1:
            el = time.perf_counter() - start
            print(f"second {sec}: equal so far; {el:.0f} s wall, {el / (sec + 1):.3f} s per "
                  f"simulated second, peak RSS {peak_rss_mb():.0f} MB", flush=True)
    wall = time.perf_counter() - start
    done = sec + 1 if first_diff is None else sec
    out.update({"seconds_equal": done, "first_difference": first_diff,
                "wall_s": wall, "s_per_simulated_s": wall / max(sec + 1, 1),
                "peak_rss_mb_after_60s": rss_60, "peak_rss_mb_end": peak_rss_mb()})
    if first_diff is None and done == d["seconds"] and len(d["weight_seconds"]) and \
            d["weight_seconds"][-1] == d["seconds"] - 1:
        w, _ = pc.learned_weights(net, state)
        ref = np.asarray(d["s"][-1][:800])
        out["final_weights_bitwise_equal"] = bool(np.array_equal(w, ref))
        out["final_weights_max_abs_diff"] = float(np.max(np.abs(w - ref)))
    if args.save_final:
        w, _ = pc.learned_weights(net, state)
        np.save(args.save_final, w)
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
