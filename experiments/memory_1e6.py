"""Peak memory of the scaled network at N = 10^6, K = 100 (issue 14): build, compile, a short run.

Prints the resident and peak resident memory (``/proc/self/status``) after each stage::

    /usr/bin/time -v .venv/bin/python experiments/memory_1e6.py 1000000 20

(arguments: N and the steps to run; ``/usr/bin/time -v`` reports the same peak as "Maximum resident
set size"). 2026-12-02, 2-core AMD EPYC VM, float32: peak 4.69 GB before the chunked builder,
2.07 GB after (reached in the build; 1.8 GB resident after 20 steps).
"""
import sys
import time

import jax
import jax.numpy as jnp

import izhijax as izj


def rss():
    with open("/proc/self/status") as f:
        d = dict(line.split(":", 1) for line in f)
    return (f"rss {int(d['VmRSS'].split()[0]) / 1e6:.2f} GB "
            f"peak {int(d['VmHWM'].split()[0]) / 1e6:.2f} GB")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    print("import", rss(), flush=True)
    t = time.perf_counter()
    params = izj.scaled_izhikevich2003(jax.random.key(0), n, 100, dtype=jnp.float32)
    jax.block_until_ready(params)
    print(f"built {params.weights.post.shape} in {time.perf_counter() - t:.1f} s,", rss(), flush=True)
    run, compile_s = izj.compile_simulation(params, jax.random.key(1), steps,
                                            record_spikes=False, record_v=[])
    print(f"compiled in {compile_s:.1f} s,", rss(), flush=True)
    t = time.perf_counter()
    _, rec = run()
    jax.block_until_ready(rec.counts)
    print(f"ran {steps} steps in {time.perf_counter() - t:.1f} s,", rss(), flush=True)


if __name__ == "__main__":
    main()
