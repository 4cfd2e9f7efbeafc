"""Brian2 driver for the bench harness: Fig. 3 network or the scaled family, one JSON line on stdout.

Usage: python brian2_fig3.py fig3 TARGET | scaled N K TARGET [THREADS]
TARGET: numpy, cython (runtime: run twice, the second run is the run time, the difference the
code-generation/compile time) or cpp_standalone (build = wall - run; run = Brian2's own timer).
The model is the Brian2 example ``Izhikevich_2003`` (dense all-to-all for fig3, ``connect(p=K/N)``
with weights scaled by 1000/K for scaled), dt 1 ms, 1000 ms, float64.
"""
import json
import resource
import sys
import tempfile
import time

import numpy as np
import brian2 as b2

EQS = """dv/dt = (0.04*v**2 + 5*v + 140 - u + I + I_noise)/ms : 1
         du/dt = (a*(b*v - u))/ms : 1
         I : 1
         I_noise : 1
         a : 1
         b : 1
         c : 1
         d : 1
         noise_amp : 1
      """


def build(n, k):
    np.random.seed(0)
    b2.seed(0)
    n_exc = int(0.8 * n)
    re, ri = np.random.uniform(size=n_exc), np.random.uniform(size=n - n_exc)
    g = b2.NeuronGroup(n, EQS, threshold="v>=30", reset="v=c; u+=d", method="euler")
    g.v = -65
    e, i = g[:n_exc], g[n_exc:]
    e.a = 0.02; e.b = 0.2; e.c = -65 + 15 * re**2; e.d = 8 - 6 * re**2; e.noise_amp = 5
    i.a = 0.02 + 0.08 * ri; i.b = 0.25 - 0.05 * ri; i.c = -65; i.d = 2; i.noise_amp = 2
    g.u = "b*v"
    path = dict(on_pre={"up": "I += w", "down": "I -= w"}, delay={"up": 0 * b2.ms, "down": 1 * b2.ms})
    if k is None:  # Fig. 3: all to all, 0.5 U excitatory, -U inhibitory
        s = b2.Synapses(g, g, "w : 1", **path)
        s.connect()
        w = np.hstack([0.5 * np.random.uniform(size=(n, n_exc)), -np.random.uniform(size=(n, n - n_exc))])
        s.w[:] = w.T.flatten()
        syn = [s]
    else:
        scale = 1000.0 / k
        se = b2.Synapses(e, g, "w : 1", **path)
        si = b2.Synapses(i, g, "w : 1", **path)
        se.connect(p=k / n)
        si.connect(p=k / n)
        se.w = "0.5*rand()*%r" % scale
        si.w = "-rand()*%r" % scale
        syn = [se, si]
    g.run_regularly("I_noise = noise_amp*randn()", dt=1 * b2.ms)
    mon = b2.SpikeMonitor(g)
    return b2.Network(g, mon, *syn, *g.contained_objects), mon, n_exc


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
