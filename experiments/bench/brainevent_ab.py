"""Same-process A/B of one step's synaptic propagation: izhijax's sparse event-driven path against
brainevent's event-driven CSR kernel (issue 14, item 5: "consider brainevent's CSR event kernels as
a dependency if they beat izhijax's own propagation in a same-run A/B").

For each size N of the scaled family (K synapses per neuron, float32), the network's own table
(``connectivity.Sparse``: ``post``/``w`` of shape ``(N, K_max)``, padded with the target ``N``) is
packed into CSR (padding dropped, row order kept) for ``brainevent.CSR``; both then propagate the
same ``T`` random spike vectors (each neuron firing with probability ``rate`` per step, the scaled
family's ~2.4 % at 24 Hz), each inside one compiled ``lax.map``. Reported: microseconds per step
(median of the repeats, the two taking turns), nanoseconds per synapse event, and whether the
outputs are equal bit for bit.

Needs brainevent next to izhijax, e.g. (2026-12-03: brainevent 0.2.1 with jax 0.10.2, numba
0.68.1)::

    python -m venv .venv-brainevent
    .venv-brainevent/bin/pip install -e . "brainevent[cpu]>=0.2,<0.3"
    .venv-brainevent/bin/python experiments/bench/brainevent_ab.py --out experiments/out/brainevent_ab
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from runinfo import run_meta

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def csr_of(weights, n):
    """``(data, indices, indptr)`` of a ``connectivity.Sparse`` table, padding dropped."""
    post, w = np.asarray(weights.post), np.asarray(weights.w)
    valid = post < n
    indptr = np.concatenate([[0], np.cumsum(valid.sum(1))]).astype(np.int32)
    return w[valid], post[valid].astype(np.int32), indptr


def one_size(n, k, steps, rate, repeats):
    import brainevent
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, ROOT)
    import izhijax as izj
    from izhijax._src import connectivity

    net = izj.scaled_izhikevich2003(jax.random.key(0), n, k=k, dtype=jnp.float32)
    weights = net.projections[0].weights
    data, indices, indptr = csr_of(weights, n)
    csr = brainevent.CSR((jnp.asarray(data), jnp.asarray(indices), jnp.asarray(indptr)),
                         shape=(n, n))
    spikes = jnp.asarray(np.random.RandomState(0).rand(steps, n) < rate)
    events = int(np.asarray(spikes).sum(0).astype(np.int64) @ np.diff(indptr))  # synapse events
    ours = jax.jit(lambda s: jax.lax.map(
        lambda x: connectivity.propagate(weights, x.astype(jnp.float32)), s))
    theirs = jax.jit(lambda s: jax.lax.map(lambda x: brainevent.BinaryArray(x) @ csr, s))
    a, b = np.asarray(ours(spikes)), np.asarray(theirs(spikes))
    times = {"izhijax": [], "brainevent": []}
    for _ in range(repeats):
        for name, f in (("izhijax", ours), ("brainevent", theirs)):
            t = time.perf_counter()
            jax.block_until_ready(f(spikes))
            times[name].append(time.perf_counter() - t)
    row = dict(n=n, k=k, steps=steps, rate=rate, synapses=int(data.size),
               stored=int(np.asarray(weights.post).size), synapse_events=events,
               bitwise_equal=bool(np.array_equal(a, b)),
               max_abs_diff=float(np.max(np.abs(a - b))))
    for name, ts in times.items():
        med = statistics.median(ts)
        row[name] = dict(us_per_step=1e6 * med / steps, ns_per_event=1e9 * med / max(events, 1),
                         all_s=ts)
    row["ratio_brainevent_over_izhijax"] = (row["brainevent"]["us_per_step"]
                                            / row["izhijax"]["us_per_step"])
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rate", type=float, default=0.024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out", "brainevent_ab"))
    args = ap.parse_args(argv)
    try:
        import brainevent
    except ImportError:
        ap.error("brainevent is not installed in this environment (see the module docstring)")
    import jax
    rows = [one_size(int(n), args.k, args.steps, args.rate, args.repeats)
            for n in args.sizes.split(",")]
    meta = run_meta(jax=jax.__version__, brainevent=brainevent.__version__)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "brainevent_ab.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    lines = [f"brainevent A/B ({meta['date']}, {meta['cpus']} CPUs, jax {meta['jax']}, "
             f"brainevent {meta['brainevent']}), float32, {args.steps} steps, firing "
             f"probability {args.rate} per step, median of {args.repeats}:", "",
             "| N | synapses | izhijax us/step | brainevent us/step | ratio | izhijax ns/event "
             "| brainevent ns/event | bitwise equal |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['synapses']:,} | {r['izhijax']['us_per_step']:.0f} | "
                     f"{r['brainevent']['us_per_step']:.0f} | "
                     f"{r['ratio_brainevent_over_izhijax']:.2f} | "
                     f"{r['izhijax']['ns_per_event']:.1f} | {r['brainevent']['ns_per_event']:.1f} "
                     f"| {r['bitwise_equal']} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "brainevent_ab.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
