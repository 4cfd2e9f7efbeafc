"""Brian2 reference rates for the scaled Izhikevich (2003) family (``izhijax.scaled_izhikevich2003``).

The family: N neurons, the first 80 % excitatory with the Fig. 3 parameters, every pair connected
with probability K / N (self-connections allowed, as Brian2's ``connect(p=...)``), excitatory
weights ``0.5 U * 1000 / K``, inhibitory ``-U * 1000 / K``, thalamic noise ``5 randn`` / ``2 randn``
per 1 ms step, forward Euler, threshold ``v >= 30``, reset ``v = c; u += d``, pulse synapses
(``I += w`` then ``I -= w`` 1 ms later), ``v0 = -65``, ``u0 = b v0``. These are the same equations
as the Brian2 example ``Izhikevich_2003`` used in ``brian2_reference.py``; only the connectivity and
the weight scale change. izhijax draws its own network and noise, so the comparison is statistical:
the tests check that izhijax's rates fall in the range Brian2 gives over several seeds.

Run from the repository root with the Brian2 environment (brian2 2.9.0, numpy < 2.3)::

    /work/main/.venv-brian/bin/python experiments/brian2_scaled_reference.py [--out tests/data/brian2_scaled_rates.npz]

Writes ``brian2_scaled_rates.npz`` with ``n`` (int, [m]), ``k`` (int, [m]), ``seed`` (int, [m]),
``rate_exc``, ``rate_inh`` (Hz, float64, [m]) for every (N, K, seed) run, plus version strings.
Each run: 1000 ms, dt 1 ms, codegen target ``cython`` (runtime), ``brian2.seed(seed)`` and
``np.random.seed(seed)`` before building.
"""

import argparse
import os
import platform

import numpy as np

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


def run_one(n, k, seed, target):
    """Simulate one scaled network for 1000 ms; return (rate_exc, rate_inh) in Hz."""
    import brian2 as b2
    b2.start_scope()
    b2.prefs.codegen.target = target
    b2.defaultclock.dt = 1 * b2.ms
    np.random.seed(seed)
    b2.seed(seed)
    n_exc = int(0.8 * n)
    re, ri = np.random.uniform(size=n_exc), np.random.uniform(size=n - n_exc)
    g = b2.NeuronGroup(n, EQS, threshold="v>=30", reset="v=c; u+=d", method="euler")
    g.v = -65
    exc, inh = g[:n_exc], g[n_exc:]
    exc.a = 0.02; exc.b = 0.2; exc.c = -65 + 15 * re**2; exc.d = 8 - 6 * re**2; exc.noise_amp = 5
    inh.a = 0.02 + 0.08 * ri; inh.b = 0.25 - 0.05 * ri; inh.c = -65; inh.d = 2; inh.noise_amp = 2
    g.u = "b*v"
    scale = 1000.0 / k
    pathways = dict(on_pre={"up": "I += w", "down": "I -= w"},
                    delay={"up": 0 * b2.ms, "down": 1 * b2.ms})
    se = b2.Synapses(exc, g, "w : 1", **pathways)
    si = b2.Synapses(inh, g, "w : 1", **pathways)
    se.connect(p=k / n)
    si.connect(p=k / n)
    se.w = "0.5*rand()*%r" % scale
    si.w = "-rand()*%r" % scale
    g.run_regularly("I_noise = noise_amp*randn()", dt=1 * b2.ms)
    mon = b2.SpikeMonitor(g)
    net = b2.Network(g, se, si, mon, *g.contained_objects)
    net.run(1000 * b2.ms)
    i = np.asarray(mon.i[:])
    return float((i < n_exc).sum() / n_exc), float((i >= n_exc).sum() / (n - n_exc))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("tests", "data", "brian2_scaled_rates.npz"))
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--target", default="cython")
    args = ap.parse_args()
    import brian2 as b2
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        for seed in range(args.seeds):
            re, ri = run_one(n, args.k, seed, args.target)
            print(f"N={n} K={args.k} seed={seed}: exc {re:.2f} Hz, inh {ri:.2f} Hz", flush=True)
            rows.append((n, args.k, seed, re, ri))
    rows = np.array(rows)
    np.savez_compressed(args.out, n=rows[:, 0].astype(np.int64), k=rows[:, 1].astype(np.int64),
                        seed=rows[:, 2].astype(np.int64), rate_exc=rows[:, 3], rate_inh=rows[:, 4],
                        brian2_version=b2.__version__, numpy_version=np.__version__,
                        python_version=platform.python_version(), target=args.target)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
