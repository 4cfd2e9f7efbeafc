"""GPU diagnosis (issue 14): is a run reproducible bit for bit on a GPU, and where does the sharded
path spend its time there.

The GPU plan (``gpu_bench.py``) found on an H200 that ``izj.shard.simulate`` of the scaled
N = 1e6 network on its one device ran about 60x slower than ``izj.simulate`` and did not give
the same spike counts. This script separates the two questions:

* ``repeat``: the same ``izj.simulate`` call twice (Fig. 3 event-driven, scaled N = 1e5 and
  1e6 with ``Sparse`` weights, float32): equal spike counts and final ``v``, bit for bit?
  (XLA:GPU adds a scatter's colliding updates with atomics, in no fixed order.)
* ``shard``: per step, ``izj.simulate`` against ``izj.shard.simulate`` on the one device, both
  compiled (second call), N = 1e4 and 1e5; equal?
* ``trace`` (``--trace DIR``): a profiler trace of 100 steps of each at N = 1e5, as Perfetto
  JSON (read with ``experiments/gpu/trace_summary.py``).

Run once as it is and once with ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` to see what
deterministic scatters cost::

    python experiments/gpu/diagnose.py --out diag.json [--trace DIR]
"""

import argparse
import glob
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import izhijax as izj  # noqa: E402


def _net(name):
    if name == "fig3_event":
        return izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, propagation="event")
    n = int(float(name.split("_")[1]))
    return izj.scaled_izhikevich2003(jax.random.key(0), n, k=100, dtype=jnp.float32)


def _run(fn, net, steps):
    final, rec = fn(net, jax.random.key(1), steps, record_v=(), record_spikes=False)[:2]
    jax.block_until_ready((final, rec))
    return final, rec


def _v(final):
    return np.concatenate([np.asarray(x["v"]).ravel() for x in final.neurons])


def repeat(args):
    out = {}
    for name in ("fig3_event", "scaled_1e5", "scaled_1e6"):
        net = _net(name)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            final, rec = _run(izj.simulate, net, args.steps)
            runs.append((np.asarray(rec.counts), _v(final), time.perf_counter() - t0))
        out[name] = {
            "spikes": [int(r[0].sum()) for r in runs],
            "counts_equal": all(np.array_equal(runs[0][0], r[0]) for r in runs[1:]),
            "v_equal": all(np.array_equal(runs[0][1], r[1]) for r in runs[1:]),
            "s_per_sim_s": runs[-1][2] / (args.steps * 1e-3)}
        print(name, out[name], flush=True)
    return out


def shard(args):
    import izhijax.shard  # noqa: F401
    out = {}
    for name in ("scaled_1e4", "scaled_1e5"):
        net = _net(name)
        one = lambda: _run(izj.simulate, net, args.steps)
        many = lambda: _run(izj.shard.simulate, net, args.steps)
        row = {}
        for label, fn in (("simulate", one), ("shard", many)):
            fn()
            t0 = time.perf_counter()
            final, rec = fn()
            row[label + "_ms_per_step"] = (time.perf_counter() - t0) / args.steps * 1e3
            row[label + "_spikes"] = int(np.asarray(rec.counts).sum())
        # the compiled calls alone (the host's split of the network left out)
        final, rec, st = izj.shard.simulate(net, jax.random.key(1), args.steps, record_v=(),
                                            record_spikes=False, stats=True)
        row["shard_compiled_ms_per_step"] = st.seconds / args.steps * 1e3
        row["shard_v_equal"] = bool(np.array_equal(_v(final), _v(_run(izj.simulate, net,
                                                                       args.steps)[0])))
        out[name] = row
        print(name, row, flush=True)
    return out


def trace(args):
    import izhijax.shard  # noqa: F401
    net = _net("scaled_1e5")
    out = {}
    for label, fn in (("simulate", izj.simulate), ("shard", izj.shard.simulate)):
        _run(fn, net, 100)
        folder = os.path.join(args.trace, "raw_" + label)
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            _run(fn, net, 100)
        found = glob.glob(os.path.join(folder, "**", "perfetto_trace.json.gz"), recursive=True)
        if found:
            dest = os.path.join(args.trace, label + "_trace.json.gz")
            shutil.copy(found[0], dest)
            out[label] = dest
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--trace", default=None, help="folder for the profiler traces")
    ap.add_argument("--sections", default="repeat,shard")
    args = ap.parse_args()
    result = {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()],
              "xla_flags": os.environ.get("XLA_FLAGS", "")}
    sections = args.sections.split(",") + (["trace"] if args.trace else [])
    for name in sections:
        t0 = time.perf_counter()
        try:
            result[name] = globals()[name](args)
        except Exception as err:            # recorded; the rest still runs
            import traceback
            result[name] = {"error": f"{type(err).__name__}: {err}",
                            "traceback": traceback.format_exc()[-1500:]}
        result[name + "_s"] = time.perf_counter() - t0
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    print(json.dumps(result)[:3000])


if __name__ == "__main__":
    main()
