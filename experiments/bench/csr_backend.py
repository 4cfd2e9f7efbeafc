"""Same-process A/B of whole simulations: the scaled family with :class:`izhijax.connectivity.Sparse`
weights (izhijax's own event-driven gather + scatter-add) against the same synapses as
:class:`izhijax.connectivity.CSR` (brainevent's event-driven CSR kernel), issue 14, item 5.

For each size N (K = 100, float32, ``record_spikes=False``, ``record_v=()``: counts only, as a
long run of a large network records), both networks run the same key for ``steps`` steps, taking
turns ``repeats`` times after one compiling run each. Reported: milliseconds per step and seconds
per simulated second (median), the ratio CSR / Sparse, whether the spike counts are equal, the
first (compiling) call, the conversion time (``connectivity.to_csr``) and the process's peak RSS.

Needs the ``[brainevent]`` extra::

    pip install -e ".[brainevent]"
    python experiments/bench/csr_backend.py --out experiments/out/csr_backend
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

from runinfo import run_meta

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def one_size(n, k, steps, repeats):
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, ROOT)
    import izhijax as izj

    t = time.perf_counter()
    sparse = izj.scaled_izhikevich2003(jax.random.key(0), n, k=k, dtype=jnp.float32)
    jax.block_until_ready(sparse)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    csr = izj.connectivity.to_csr(sparse)
    jax.block_until_ready(csr)
    convert_s = time.perf_counter() - t
    nets = {"sparse": sparse, "csr": csr}

    def run(net):
        t = time.perf_counter()
        _, rec = izj.simulate(net, jax.random.key(1), steps, record_v=(), record_spikes=False)
        counts = np.asarray(rec.counts)
        return time.perf_counter() - t, counts

    first, counts = {}, {}
    for name, net in nets.items():
        first[name], counts[name] = run(net)
    times = {name: [] for name in nets}
    for _ in range(repeats):
        for name, net in nets.items():
            times[name].append(run(net)[0])
    row = dict(n=n, k=k, steps=steps, synapses=int(csr.projections[0].weights.n_synapses),
               table_slots=int(np.asarray(sparse.projections[0].weights.post).size),
               spikes_per_step=float(counts["sparse"].sum()) / steps,
               counts_equal=bool(np.array_equal(counts["sparse"], counts["csr"])),
               build_s=build_s, to_csr_s=convert_s)
    for name, ts in times.items():
        med = statistics.median(ts)
        row[name] = dict(ms_per_step=1e3 * med / steps, s_per_sim_s=med / steps * 1000,
                         first_call_s=first[name], all_s=ts)
    row["ratio_csr_over_sparse"] = row["csr"]["ms_per_step"] / row["sparse"]["ms_per_step"]
    row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000:1000,100000:300,1000000:40",
                    help="N:steps pairs, comma-separated")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out", "csr_backend"))
    args = ap.parse_args(argv)
    try:
        import brainevent
    except ImportError:
        ap.error('brainevent is not installed here: pip install -e ".[brainevent]"')
    import jax
    rows = []
    for spec in args.sizes.split(","):
        n, steps = (int(x) for x in spec.split(":"))
        rows.append(one_size(n, args.k, steps, args.repeats))
        print(json.dumps({k: v for k, v in rows[-1].items()}, default=str)[:400], flush=True)
    meta = run_meta(jax=jax.__version__, brainevent=brainevent.__version__)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "csr_backend.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    lines = [f"Sparse vs CSR (brainevent) whole simulations ({meta['date']}, "
             f"{meta['cpu_model']}, {meta['cpus']} CPUs, jax {meta['jax']}, "
             f"brainevent {meta['brainevent']}), scaled family K = {args.k}, float32, counts only, "
             f"median of {args.repeats} turns:", "",
             "| N | synapses | spikes/step | Sparse s/sim-s | CSR s/sim-s | CSR / Sparse | "
             "counts equal | to_csr s | first call Sparse / CSR s | peak RSS GB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['synapses']:,} | {r['spikes_per_step']:.0f} | "
                     f"{r['sparse']['s_per_sim_s']:.3f} | {r['csr']['s_per_sim_s']:.3f} | "
                     f"{r['ratio_csr_over_sparse']:.2f} | {r['counts_equal']} | "
                     f"{r['to_csr_s']:.1f} | {r['sparse']['first_call_s']:.1f} / "
                     f"{r['csr']['first_call_s']:.1f} | {r['peak_rss_gb']:.1f} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "csr_backend.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
