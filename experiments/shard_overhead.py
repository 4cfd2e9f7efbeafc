"""Neuron-sharded simulation (izhijax.shard): exchange volume and time per step against devices.

One network split over 1, 2, 4 and 8 forced CPU devices (``--xla_force_host_platform_device_count``,
set here before JAX is imported) for the Fig. 3 network (1000 neurons, dense and event-driven) and
the scaled network (``scaled_izhikevich2003``, k = 100 sparse synapses per neuron) at N = 10,000
and 100,000. For each: the exchange volume per step (bytes each device receives: the gathered
spike counts and fired-index buffers, or the 0/1 fallback), the load balance, the wall time per
step of the compiled sharded run (second call, compilation excluded) and of ``izj.simulate``.
The CPU devices share the machine's cores (2 here), so the times show the overhead of the
exchange and of the per-device work, not a speed-up. Every sharded run is also checked equal,
bit for bit, to ``izj.simulate`` (spikes and final v).

The table ends with a paper estimate of weak scaling on 8 GPUs from the measured bytes per step
and NVLink 4 (900 GB/s per GPU, H100/H200; a few us per collective).

    nice -n 10 python experiments/shard_overhead.py [--quick]   # --table: table.md from results.json

Writes experiments/out/shard_overhead/results.json and table.md.
"""

import os
import sys

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()

import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import izhijax as izj  # noqa: E402
import izhijax.shard  # noqa: E402,F401

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "shard_overhead")
DEVICES = (1, 2, 4, 8)
NVLINK = 900e9          # bytes/s per GPU, NVLink 4 (H100 / H200 SXM)
LATENCY = 5e-6          # s per small collective (NCCL all-gather within one node), assumed
COLLECTIVES = 2         # per step: the spike counts, then the index buffers


def networks(quick):
    key = jax.random.key(0)
    yield "Fig. 3 dense", lambda: izj.izhikevich2003(key), 1000
    yield "Fig. 3 event", lambda: izj.izhikevich2003(key, propagation="event"), 1000
    yield "scaled N=1e4 (k=100)", lambda: izj.scaled_izhikevich2003(key, 10_000), 1000
    if not quick:
        yield "scaled N=1e5 (k=100)", lambda: izj.scaled_izhikevich2003(key, 100_000), 200


def count_synapses(w):
    if isinstance(w, izj.connectivity.Sparse):
        return w.n_synapses
    return int(np.sum(np.asarray(w.w if isinstance(w, izj.connectivity.EventDense) else w) != 0))


def timed(fn, repeats=2):
    best = None
    for _ in range(repeats):
        tic = time.perf_counter()
        out = fn()
        jax.block_until_ready(out[1].counts)
        sec = time.perf_counter() - tic
        best = sec if best is None else min(best, sec)
    return best, out


def main(quick=False):
    os.makedirs(OUT, exist_ok=True)
    rows = []
    run_key = jax.random.key(1)
    for name, build, steps in networks(quick):
        net = build()
        n = net.n
        synapses = sum(count_synapses(p.weights) for p in net.projections)
        ref_sec, (ref_final, ref_rec) = timed(lambda: izj.simulate(
            net, run_key, steps, record_spikes=True))
        ref_spikes = np.asarray(ref_rec.spikes)
        print(f"{name}: N={n} synapses={synapses} unsharded {1e3 * ref_sec / steps:.3f} ms/step "
              f"(with compile on first call), {ref_spikes.sum() / steps:.1f} spikes/step",
              flush=True)
        # unsharded time per step without compilation: second call
        ref_sec, _ = timed(lambda: izj.simulate(net, run_key, steps, record_spikes=True), 1)
        for d in DEVICES:
            mesh = jax.devices()[:d]
            tic = time.perf_counter()
            final, rec, first = izj.shard.simulate(net, run_key, steps, mesh=mesh, stats=True)
            first_wall = time.perf_counter() - tic
            tic = time.perf_counter()
            final, rec, stats = izj.shard.simulate(net, run_key, steps, mesh=mesh, stats=True)
            wall = time.perf_counter() - tic
            equal = bool(np.array_equal(np.asarray(rec.spikes), ref_spikes)
                         and np.array_equal(np.asarray(final.v), np.asarray(ref_final.v)))
            part = stats.partition
            row = dict(network=name, n=n, synapses=synapses, steps=steps, devices=d,
                       n_local=part.n_local, balance=part.balance,
                       synapses_per_device=list(part.synapses),
                       spikes_per_step=float(ref_spikes.sum() / steps),
                       max_device_spikes_per_step=float(np.max(
                           np.pad(ref_spikes, ((0, 0), (0, part.n_pad - n)))
                           .reshape(steps, d, part.n_local).sum(2).max(1).mean())),
                       exchange_ladder=list(part.exchange),
                       bytes_per_step_per_device=stats.mean_bytes,
                       bytes_per_step_all_devices=stats.mean_bytes * d,
                       dense_bytes_per_step_per_device=d * part.n_local,
                       overflow_steps=stats.overflow_steps,
                       ms_per_step=1e3 * stats.seconds / steps,
                       wall_per_step_ms=1e3 * wall / steps,
                       compile_s=first.seconds - stats.seconds, first_call_wall_s=first_wall,
                       unsharded_ms_per_step=1e3 * ref_sec / steps, equal=equal)
            rows.append(row)
            print(f"  D={d}: {row['ms_per_step']:.3f} ms/step (unsharded "
                  f"{row['unsharded_ms_per_step']:.3f}), {row['bytes_per_step_per_device']:.0f} "
                  f"B/step/device, overflow {row['overflow_steps']}/{steps}, balance "
                  f"{row['balance']:.3f}, compile {row['compile_s']:.1f} s, equal {equal}",
                  flush=True)
    meta = dict(machine=platform.machine(), processor=platform.processor(),
                cpus=os.cpu_count(), jax=jax.__version__,
                load=os.getloadavg() if hasattr(os, "getloadavg") else None,
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                xla_flags=os.environ["XLA_FLAGS"], dtype=str(jax.numpy.result_type(float)))
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(table(rows, meta))
    print(table(rows, meta))


def estimate(rows):
    """Weak scaling on 8 GPUs: the exchange time per step from the measured volume."""
    lines = []
    for row in rows:
        if row["devices"] != 8:
            continue
        per_device = row["n_local"]
        spikes = row["max_device_spikes_per_step"]
        # weak scaling: each of 8 GPUs keeps the measured per-device activity at 10x, 100x size
        for scale in (1, 10, 100):
            local = per_device * scale
            size = _ladder_size(row["exchange_ladder"], spikes * scale, local)
            if size is None:
                nbytes = 8 * 4 + 8 * local          # the 0/1 fallback
            else:
                nbytes = 8 * 4 + 8 * size * 4
            t = COLLECTIVES * LATENCY + nbytes / NVLINK
            lines.append(f"| {row['network']} | {8 * local:,} | {local:,} | {spikes * scale:.0f} "
                         f"| {nbytes:,} | {1e6 * nbytes / NVLINK:.3f} | {1e6 * t:.1f} |")
    return lines


def _ladder_size(ladder, spikes, local):
    """The index buffer holding ``spikes`` spikes (the ladder scaled with the block: x2 sizes up to
    a quarter of the block), None for the 0/1 fallback."""
    size = 4
    while size <= local // 4:
        if size >= spikes:
            return size
        size *= 2
    return None


def table(rows, meta):
    out = [
        "# izhijax.shard: exchange volume and time per step against device count",
        "",
        f"{meta['date']}, {meta['cpus']} CPU cores ({meta['processor'] or meta['machine']}), JAX "
        f"{meta['jax']}, {meta['dtype']}, load average at the end {meta['load']}; forced CPU "
        "devices (`--xla_force_host_platform_device_count=8`) sharing the cores: the times show "
        "the overhead of sharding, not a speed-up. `B/step/dev`: bytes each device receives per "
        "step (counts + fired-index buffer, or the 0/1 fallback), mean over the run; `0/1 B`: "
        "what gathering the 0/1 spike vector would cost every step. `ms/step`: the compiled run "
        "(second call), `unsharded`: `izj.simulate` (second call). `equal`: spikes and final v "
        "bit for bit equal to `izj.simulate`.",
        "",
        "| network | N | D | neurons/dev | balance | spikes/step | B/step/dev | all devices | "
        "0/1 B/dev | overflow steps | ms/step | unsharded ms/step | compile s | equal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for r in rows:
        out.append(f"| {r['network']} | {r['n']:,} | {r['devices']} | {r['n_local']:,} | "
                   f"{r['balance']:.3f} | {r['spikes_per_step']:.1f} | "
                   f"{r['bytes_per_step_per_device']:.0f} | {r['bytes_per_step_all_devices']:.0f} | "
                   f"{r['dense_bytes_per_step_per_device']:,} | {r['overflow_steps']}/{r['steps']} | "
                   f"{r['ms_per_step']:.3f} | {r['unsharded_ms_per_step']:.3f} | "
                   f"{r['compile_s']:.1f} | {'yes' if r['equal'] else 'NO'} |")
    out += [
        "",
        "## Estimate: weak scaling on 8 GPUs (NVLink 4)",
        "",
        "Not measured (this task had no GPU). Per step, each GPU receives the 8 spike counts and "
        "the 8 fired-index buffers (two all-gathers); with NVLink 4 at 900 GB/s per GPU "
        f"(H100/H200 SXM) and an assumed {1e6 * LATENCY:.0f} us per small NCCL collective, the "
        "exchange costs `2 x latency + bytes / 900 GB/s`. Activity per GPU is the measured "
        "busiest device's spikes per step on 8 CPU devices, scaled with the neurons per GPU "
        "(same rates); the buffer is the ladder entry holding it (x2 sizes up to a quarter of "
        "the block, else the 0/1 fallback).",
        "",
        "| network | N total | neurons/GPU | spikes/step/GPU | bytes/step/GPU | transfer us | "
        "exchange us/step |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    out += estimate(rows)
    out += [
        "",
        "The transfer itself stays under a microsecond up to a million neurons (2.3 us at ten "
        "million): the exchange is latency-bound, about 10 us per step, i.e. 10 ms per "
        "simulated second at dt = 1 ms. Sharding therefore pays where a GPU's step costs well "
        "above that (large sparse networks, whose per-GPU step shrinks with the neurons it "
        "holds) and costs a 1,000-neuron network more than it gains. Not in this estimate: "
        "dense (and PreScaled, Delayed) weights make every device rebuild the N-neuron 0/1 "
        "vector each step (O(N total) per device: the dense product reads it), which bounds "
        "their weak scaling (the event-driven formats work from the fired list); the "
        "per-device sparse tables are padded to the longest local row (2.6 times the real "
        "synapses at N = 10,000 on 8 devices); and the CPU times above grow with D because "
        "D devices share 2 cores, each paying its fixed per-step costs (the collectives, "
        "the buffer ladders' branch selection).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    if "--table" in sys.argv:           # rewrite table.md from results.json (no run)
        with open(os.path.join(OUT, "results.json")) as f:
            saved = json.load(f)
        with open(os.path.join(OUT, "table.md"), "w") as f:
            f.write(table(saved["rows"], saved["meta"]))
    else:
        main(quick="--quick" in sys.argv)
