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

def run_one(n, k, seed, target):
    """Simulate one scaled network (:func:`brian2_model.build`) for 1000 ms; (rate_exc, rate_inh) Hz."""
    import brian2 as b2
    from brian2_model import build
    b2.start_scope()
    b2.prefs.codegen.target = target
    b2.defaultclock.dt = 1 * b2.ms
    net, mon, n_exc = build(n, k, seed)
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
