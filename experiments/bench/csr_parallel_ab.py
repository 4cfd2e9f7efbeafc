"""Same-process A/B of ``connectivity.CSR``'s propagation on CPU: brainevent's serial event-driven
kernel against izhijax's numba kernel (``csr._own_kernel``: the fired rows prefetched whole,
ahead; on one thread, and on two threads that each own a block of the targets), for the scaled
family (K synapses per neuron, float32) at each ``--sizes`` N, ``--steps`` random spike vectors (firing probability ``--rate``
per step, the family's ~2.4 %), each inside one compiled ``lax.map``, the two taking turns.
Reports microseconds per step (median of ``--repeats``) and whether the pulses are equal bit for
bit; the thresholds ``csr.OWN_MIN_SYNAPSES`` (izhijax's kernel from there) and
``csr.PARALLEL_MIN_SYNAPSES`` (two threads from there, on sorted rows) are chosen from this table::

    python experiments/bench/csr_parallel_ab.py --out experiments/out/csr_parallel_ab

Needs brainevent (the ``[brainevent]`` extra, in the test extras). Never run it next to other
heavy processes (2 cores).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from runinfo import run_meta  # noqa: E402


def one_size(n, k, steps, rate, repeats):
    import jax
    import jax.numpy as jnp
    import izhijax as izj
    from izhijax._src import csr

    net = izj.connectivity.to_csr(izj.scaled_izhikevich2003(jax.random.key(0), n, k=k,
                                                             dtype=jnp.float32))
    w = net.projections[0].weights
    spikes = jnp.asarray(np.random.default_rng(0).random((steps, n)) < rate).astype(jnp.float32)
    serial = jax.jit(lambda s: jax.lax.map(
        lambda x: csr._brainevent_kernel(w.n_post, w.task_capacity, w.data, w.indices, w.indptr,
                                         x), s))
    one = jax.jit(lambda s: jax.lax.map(
        lambda x: csr._own_kernel(w.n_post, w.data, w.indices, w.indptr, x, 1), s))
    two = jax.jit(lambda s: jax.lax.map(
        lambda x: csr._own_kernel(w.n_post, w.data, w.indices, w.indptr, x, 2), s))
    a, b, c = np.asarray(serial(spikes)), np.asarray(one(spikes)), np.asarray(two(spikes))
    times = {"brainevent": [], "one thread": [], "two threads": []}
    for _ in range(repeats):
        for name, f in (("brainevent", serial), ("one thread", one), ("two threads", two)):
            t = time.perf_counter()
            jax.block_until_ready(f(spikes))
            times[name].append(time.perf_counter() - t)
    row = dict(n=n, k=k, steps=steps, rate=rate, synapses=int(w.n_synapses),
               bitwise_equal=bool(np.array_equal(a, b) and np.array_equal(a, c)))
    for name, ts in times.items():
        row[name] = dict(us_per_step=1e6 * statistics.median(ts) / steps, all_s=ts)
    for name in ("one thread", "two threads"):
        row[f"ratio {name}"] = row[name]["us_per_step"] / row["brainevent"]["us_per_step"]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rate", type=float, default=0.024)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out", "csr_parallel_ab"))
    args = ap.parse_args(argv)
    import jax
    import numba
    rows = [one_size(int(n), args.k, args.steps, args.rate, args.repeats)
            for n in args.sizes.split(",")]
    meta = run_meta(jax=jax.__version__, numba=numba.__version__,
                    numba_threads=numba.get_num_threads())
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "csr_parallel_ab.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    lines = [f"CSR propagation A/B ({meta['date']}, {meta['cpus']} CPUs, jax {meta['jax']}, "
             f"numba {meta['numba']} with {meta['numba_threads']} threads), float32, "
             f"{args.steps} steps, firing probability {args.rate} per step, median of "
             f"{args.repeats}:", "",
             "| N | synapses | brainevent us/step | izhijax one thread | izhijax two threads "
             "| ratios | bitwise equal |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['synapses']:,} | {r['brainevent']['us_per_step']:.0f} | "
                     f"{r['one thread']['us_per_step']:.0f} | "
                     f"{r['two threads']['us_per_step']:.0f} | {r['ratio one thread']:.2f} / "
                     f"{r['ratio two threads']:.2f} | {r['bitwise_equal']} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "csr_parallel_ab.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
