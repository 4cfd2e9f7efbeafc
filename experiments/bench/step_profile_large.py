"""Where a large network's step goes (issue 14, item 5): the scaled family at N = 100,000 (K = 100,
float32, counts only), its propagation swapped for variants, each compiled once and then timed in
turns (medians), in one process so that a busy machine slows them alike.

Variants:

* ``Sparse``: izhijax's event path (the fired neurons' indices by one ``lax.top_k`` into the
  smallest buffer of the ladder that holds them, their padded table rows gathered and
  scatter-added);
* ``CSR``: the same synapses through brainevent's event-driven CSR kernel (when installed);
* ``no propagation``: the pulse replaced by zeros (the network unconnected: noise, update, counts;
  it fires less, see the spike column);
* ``no propagation + fired indices``: as the last, plus the ``lax.top_k`` of ``Sparse``'s event path
  at the buffer the connected network needs at its mean rate;
* ``no noise, no propagation``: the update and counts alone (the network silent).

The differences give noise, finding the fired neurons, and the gather + scatter-add. Writes
``step_profile_large.json`` and ``.md`` to ``--out`` (default ``experiments/out/step_profile_large``)::

    python experiments/bench/step_profile_large.py
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
import izhijax as izj  # noqa: E402
from izhijax._src import connectivity as _connectivity  # noqa: E402
from runinfo import run_meta  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Stub:
    """A weight format whose pulse is zero; ``size`` > 0 also finds the fired neurons' indices
    (``lax.top_k`` into a buffer of that size) and keeps them alive in the program."""

    w: jax.Array        # one float, so the format has the network's dtype
    n: int = 0
    size: int = 0

    @property
    def n_pre(self):
        return self.n

    @property
    def n_post(self):
        return self.n

    @property
    def dtype(self):
        return self.w.dtype

    def propagate(self, spikes):
        out = jnp.zeros(self.n, self.w.dtype)
        if self.size:
            idx, valid = _connectivity._fired(spikes, self.size)
            out = out + 0 * (idx[0] + valid[-1]).astype(self.w.dtype)   # not dead code
        return out

    def to_dense(self):
        return np.zeros((self.n, self.n), np.asarray(self.w).dtype)


jax.tree_util.register_dataclass(Stub, data_fields=["w"], meta_fields=["n", "size"])
izj.connectivity.register_format(Stub)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out",
                                                  "step_profile_large"))
    args = ap.parse_args(argv)
    net = izj.scaled_izhikevich2003(jax.random.key(0), args.n, k=args.k, dtype=jnp.float32)
    sparse = net.projections[0].weights
    _, rec = izj.simulate(net, jax.random.key(1), args.steps, record_v=(), record_spikes=False)
    mean = float(np.asarray(rec.counts).sum()) / args.steps
    size = next(b for b in sparse.buffers if b >= mean)        # the rung the mean rate uses
    stub = jnp.zeros((1,), jnp.float32)

    def weights(w):
        return net.replace(projections=(net.projections[0].replace(weights=w),))

    silent = weights(Stub(stub, args.n))
    variants = {"Sparse": net}
    if importlib.util.find_spec("brainevent") is not None:
        variants["CSR (brainevent)"] = izj.connectivity.to_csr(net)
    variants.update({
        "no propagation": weights(Stub(stub, args.n)),
        "no propagation + fired indices": weights(Stub(stub, args.n, size)),
        "no noise, no propagation": silent.replace(config=silent.config.replace(noise="none")),
    })
    runs, compile_s = {}, {}
    for name, params in variants.items():
        runs[name], compile_s[name] = izj.compile_simulation(
            params, jax.random.key(1), args.steps, record_spikes=False, record_v=[])
        jax.block_until_ready(runs[name]()[1].counts)     # warm (brainevent JITs its kernel)
    times, spikes = {name: [] for name in runs}, {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            _, r = run()
            jax.block_until_ready(r.counts)
            times[name].append(time.perf_counter() - start)
            spikes[name] = float(np.asarray(r.counts).sum()) / args.steps
    rows = {name: dict(ms_per_step=1e3 * statistics.median(t) / args.steps,
                       all_ms_per_step=[1e3 * x / args.steps for x in t],
                       compile_s=compile_s[name], spikes_per_step=spikes[name])
            for name, t in times.items()}
    meta = run_meta(jax=jax.__version__, n=args.n, k=args.k, steps=args.steps,
                    repeats=args.repeats, buffer=size)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "step_profile_large.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    lines = [f"Step profile, scaled family N = {args.n:,}, K = {args.k}, float32, counts only "
             f"({meta['date']}, {meta['cpu_model']}, {meta['cpus']} CPUs, "
             f"jax {meta['jax']}), median of {args.repeats} turns of {args.steps} steps; fired-index "
             f"buffer {size}:", "", "| variant | ms per step | spikes per step | compile s |",
             "|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['ms_per_step']:.2f} | {r['spikes_per_step']:.0f} | "
                     f"{r['compile_s']:.1f} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "step_profile_large.md"), "w") as f:
        f.write(text)
    print(text)
    return rows


if __name__ == "__main__":
    main()
