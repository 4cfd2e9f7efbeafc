"""BrainPy driver for the bench harness: the Fig. 3 network (dense W, Brian2's Euler scheme,
5 / 2 randn noise) with ``bp.dyn.Izhikevich`` and ``DSRunner``, 1000 ms at dt 1 ms, float32.
The first run (tracing + compilation + run) minus the median of 3 later runs is the build time."""
import json
import resource
import time

import numpy as np
import brainpy as bp
import brainpy.math as bm
import jax.numpy as jnp


def main():
    bm.set_platform("cpu")
    ne, ni = 800, 200
    n = ne + ni
    rng = np.random.default_rng(0)
    re, ri = rng.uniform(size=ne), rng.uniform(size=ni)
    a = np.r_[0.02 * np.ones(ne), 0.02 + 0.08 * ri]
    b = np.r_[0.2 * np.ones(ne), 0.25 - 0.05 * ri]
    c = np.r_[-65 + 15 * re**2, -65 * np.ones(ni)]
    d = np.r_[8 - 6 * re**2, 2 * np.ones(ni)]
    w = np.hstack([0.5 * rng.uniform(size=(n, ne)), -rng.uniform(size=(n, ni))]).astype(np.float32)
    amp = np.r_[5 * np.ones(ne), 2 * np.ones(ni)].astype(np.float32)

    class Net(bp.DynamicalSystem):
        def __init__(self):
            super().__init__()
            # bp.dyn.Izhikevich rejects a per-neuron b at construction (2.8): assign it afterwards.
            self.neu = bp.dyn.Izhikevich(n, a=a, b=0.2, c=c, d=d, V_th=30.0,
                                         V_initializer=bp.init.Constant(-65.0), method="euler")
            self.neu.b = bm.asarray(b)
            self.neu.u.value = bm.asarray(b * -65.0)
            self.w = bm.asarray(w.T)  # [pre, post]

        def update(self):
            spikes = bm.as_jax(self.neu.spike.value).astype(jnp.float32)
            self.neu(spikes @ bm.as_jax(self.w) + jnp.asarray(amp) * bm.random.randn(n))
            return self.neu.spike.value

    net = Net()
    runner = bp.DSRunner(net, monitors={"spk": net.neu.spike}, progress_bar=False, dt=1.0)
    t0 = time.perf_counter()
    runner.run(1000.0)
    first = time.perf_counter() - t0
    spk = np.asarray(runner.mon["spk"])
    times = []
    for _ in range(3):
        net.neu.V.value = bm.ones(n) * -65.0
        net.neu.u.value = bm.asarray(b * -65.0)
        net.neu.spike.value = bm.zeros(n, dtype=bool)
        t = time.perf_counter()
        runner.run(1000.0)
        times.append(time.perf_counter() - t)
    run_s = float(np.median(times))
    print(json.dumps(dict(build_s=max(0.0, first - run_s), run_s=run_s, spikes=int(spk.sum()),
                          rate_exc=float(spk[:, :ne].sum() / ne), rate_inh=float(spk[:, ne:].sum() / ni),
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          version=bp.__version__)))


if __name__ == "__main__":
    main()
