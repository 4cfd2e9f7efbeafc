"""Brian2 driver for the bench harness: Fig. 3 network or the scaled family, one JSON line on stdout.

Usage: python brian2_fig3.py fig3 TARGET | scaled N K TARGET [THREADS]
TARGET: numpy, cython (runtime: run twice, the second run is the run time, the difference the
code-generation/compile time) or cpp_standalone (build = wall - run; run = Brian2's own timer).
The model is the Brian2 example ``Izhikevich_2003`` (dense all-to-all for fig3, ``connect(p=K/N)``
with weights scaled by 1000/K for scaled), dt 1 ms, 1000 ms, float64.
"""
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np
import brian2 as b2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from brian2_model import build  # noqa: E402  (experiments/brian2_model.py: the model, one copy)


def main():
    if sys.argv[1] == "fig3":
        n, k, target, threads = 1000, None, sys.argv[2], None
    else:
        n, k, target = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        threads = int(sys.argv[5]) if len(sys.argv) > 5 else None
    b2.defaultclock.dt = 1 * b2.ms
    t0 = time.perf_counter()
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", directory=tempfile.mkdtemp(prefix="bench_brian_"))
        if threads:
            b2.prefs.devices.cpp_standalone.openmp_threads = threads
    else:
        b2.prefs.codegen.target = target
    net, mon, n_exc = build(n, k)
    t1 = time.perf_counter()
    net.run(1000 * b2.ms, report=None)
    t2 = time.perf_counter()
    spikes = int(mon.num_spikes)
    i = np.asarray(mon.i[:])
    out = dict(setup_s=t1 - t0, spikes=spikes, rate_exc=float((i < n_exc).sum() / n_exc),
               rate_inh=float((i >= n_exc).sum() / (n - n_exc)))
    if target == "cpp_standalone":
        run_s = float(b2.device._last_run_time)
        out.update(run_s=run_s, build_s=(t2 - t1) - run_s)
    else:
        net.run(1000 * b2.ms, report=None)  # same code, already generated and compiled
        t3 = time.perf_counter()
        out.update(run_s=t3 - t2, build_s=max(0.0, (t2 - t1) - (t3 - t2)))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["version"] = b2.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
