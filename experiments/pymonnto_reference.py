"""PymoNNto reference data for the Izhikevich (2003) Fig. 3 network (PymoNNto's ``Izhikevich.py`` example).

Runs the PymoNNto seed (``shared/seeds/pymonnto_Izhikevich.md``) as it is -- the ``Izhikevich_main``
behaviour (threshold ``v > 30`` checked first, reset, then ``v += dt (...)`` and ``u`` with the new
``v``, ``dt = 0.5``; ``a, b, c, d = 0.02, 0.2, -65, 8`` for every neuron; ``v = -65 U``,
``u = -8 U``) and the ``Izhikevich_input`` behaviour (``I = 20 U`` per step, ``+ 0.5 W fired`` from
the excitatory and ``- W fired`` from the inhibitory groups, ``W = U``), 800 + 200 neurons, 1000
iterations (500 ms) -- once per seed, ``np.random.seed(s)`` right before building the network, with a
``Recorder(['fired'])`` on each group in place of the seed's ``['v', 'u', 'fired']`` (recording does
not change the run) and without the plots.

Environment (kept apart from the project's own; PymoNNto 3.0.6 pins nothing but breaks with numpy>=2.3
like Brian2)::

    python3 -m venv .venv-pymonnto
    .venv-pymonnto/bin/pip install pymonnto "numpy<2.3"

Last run with Python 3.11.7, PymoNNto 3.0.6, numpy 2.2.6, on Linux x86_64. From the repository root::

    .venv-pymonnto/bin/python experiments/pymonnto_reference.py [--out-dir tests/data] [--n-seeds 10]

Writes ``pymonnto_fig3_seeds.npz`` (``np.savez_compressed``, well under 100 kB):

- ``seeds`` (int16, [S]);
- ``counts`` (uint16, [S seeds, 1000 iterations, 2]): neurons of the excitatory (``[..., 0]``) and the
  inhibitory (``[..., 1]``) group whose recorded ``fired`` is true at each iteration. PymoNNto checks
  ``v > 30`` at the start of an iteration, so iteration ``k`` records the crossing made by the update
  of iteration ``k - 1``; iteration 0 records nothing (izhijax's ``spikes[k - 1]``);
- ``rate_exc``, ``rate_inh`` (float64, [S]): spikes / neuron / second over iterations 1..999 (the
  999 updates whose crossings are recorded, 499.5 ms);
- per population ``P`` in (exc, inh), over the same iterations, float64 [S]: ``P_mean``, ``P_std``
  (spikes per 0.5 ms step), ``P_q`` ([S, 7], the 5, 25, 50, 75, 95, 99 and 100 % quantiles),
  ``P_zero`` (fraction of steps without a spike);
- ``n_exc``, ``n_inh``, ``n_steps=1000``, ``dt=0.5``; ``pymonnto_version``, ``numpy_version``,
  ``python_version`` (strings); ``run_s`` (float64, [S]): wall seconds of each run (this machine).
"""

import argparse
import os
import platform
import time
from importlib.metadata import version

import numpy as np

N_STEPS = 1000
QUANTILES = (5, 25, 50, 75, 95, 99, 100)


def behaviours():
    """The seed's two behaviours, unchanged: ``(Izhikevich_main, Izhikevich_input)``.

    Defined on call so that this module (its :func:`statistics`) imports without PymoNNto.
    """
    from PymoNNto import Behavior, afferent

    class Izhikevich_main(Behavior):

        def initialize(self, n):
            self.set_parameters_as_variables(n)
            n.I = n.vector()
            n.a += n.vector()
            n.b += n.vector()
            n.c += n.vector()
            n.d += n.vector()
            n.v *= n.vector('uniform')
            n.u *= n.vector('uniform')
            n.fired = n.vector() > 0
            n.dt = 0.5

        def iteration(self, n):
            n.fired = n.v > 30
            if np.sum(n.fired) > 0:
                n.v[n.fired] = n.c[n.fired]
                n.u[n.fired] = n.u[n.fired] + n.d[n.fired]
            n.v += n.dt * (0.04 * n.v**2 + 5 * n.v + 140 - n.u + n.I)
            n.u += n.dt * (n.a * (n.b * n.v - n.u))

    class Izhikevich_input(Behavior):

        def initialize(self, n):
            for s in n.synapses(afferent):
                s.W = s.matrix('uniform')

        def iteration(self, n):
            n.I = 20 * n.vector('uniform')
            for s in n.synapses(afferent, 'GLUTAMATE'):
                n.I += 0.5 * np.sum(s.W[:, s.src.fired], axis=1)
            for s in n.synapses(afferent, 'GABA'):
                n.I -= np.sum(s.W[:, s.src.fired], axis=1)

    return Izhikevich_main, Izhikevich_input


def build(seed):
    """The seed's network after ``np.random.seed(seed)``, initialised: ``(net, exc, inh)``."""
    from PymoNNto import Network, NeuronGroup, Recorder, SynapseGroup, get_squared_dim
    Izhikevich_main, Izhikevich_input = behaviours()
    np.random.seed(seed)
    net = Network()
    groups = []
    for tag, size in (("excitatory_neurons", 800), ("inhibitory_neurons", 200)):
        groups.append(NeuronGroup(net=net, tag=tag, size=get_squared_dim(size), behavior={
            1: Izhikevich_main(a=0.02, b=0.2, c=-65, d=8.0, v=-65, u=-8.0),
            2: Izhikevich_input(),
            9: Recorder(['fired'], tag='rec')}))
    n_e, n_i = groups
    SynapseGroup(net=net, src=n_e, dst=n_e, tag='GLUTAMATE')
    SynapseGroup(net=net, src=n_e, dst=n_i, tag='GLUTAMATE')
    SynapseGroup(net=net, src=n_i, dst=n_e, tag='GABA')
    SynapseGroup(net=net, src=n_i, dst=n_i, tag='GABA')
    net.initialize(info=False)
    return net, n_e, n_i


def run_seed(seed):
    """One run of the seed; returns ``(counts [1000, 2], n_exc, n_inh, seconds)``."""
    net, n_e, n_i = build(seed)
    start = time.perf_counter()
    net.simulate_iterations(N_STEPS, measure_block_time=False)
    seconds = time.perf_counter() - start
    fe = np.asarray(net['fired', 0, 'np'])
    fi = np.asarray(net['fired', 1, 'np'])
    assert fe.shape == (N_STEPS, n_e.size) and fi.shape == (N_STEPS, n_i.size), (fe.shape, fi.shape)
    counts = np.stack([fe.sum(axis=1), fi.sum(axis=1)], axis=1)
    return counts, n_e.size, n_i.size, seconds


def statistics(counts, n_exc, n_inh, dt=0.5):
    """The file's per-seed statistics from ``counts [S, 1000, 2]`` (iterations 1..999)."""
    c = np.asarray(counts, np.float64)[:, 1:]
    seconds = c.shape[1] * dt * 1e-3
    out = dict(rate_exc=c[..., 0].sum(1) / n_exc / seconds, rate_inh=c[..., 1].sum(1) / n_inh / seconds)
    for k, pop in enumerate(("exc", "inh")):
        x = c[..., k]
        out[f"{pop}_mean"] = x.mean(1)
        out[f"{pop}_std"] = x.std(1)
        out[f"{pop}_q"] = np.percentile(x, QUANTILES, axis=1).T
        out[f"{pop}_zero"] = (x == 0).mean(1)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(here), "tests", "data"))
    parser.add_argument("--n-seeds", type=int, default=10)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    seeds = list(range(args.n_seeds))
    counts = np.zeros((len(seeds), N_STEPS, 2), np.uint16)
    run_s = np.zeros(len(seeds))
    for k, s in enumerate(seeds):
        counts[k], n_exc, n_inh, run_s[k] = run_seed(s)
        print(f"seed {s}: {counts[k, :, 0].sum()} exc and {counts[k, :, 1].sum()} inh spikes, "
              f"{run_s[k]:.2f} s", flush=True)
    stats = statistics(counts, n_exc, n_inh)
    path = os.path.join(args.out_dir, "pymonnto_fig3_seeds.npz")
    np.savez_compressed(
        path, seeds=np.asarray(seeds, np.int16), counts=counts, n_exc=np.int64(n_exc),
        n_inh=np.int64(n_inh), n_steps=np.int64(N_STEPS), dt=np.float64(0.5), run_s=run_s,
        quantiles=np.asarray(QUANTILES, np.float64), pymonnto_version=np.array(version("PymoNNto")),
        numpy_version=np.array(np.__version__), python_version=np.array(platform.python_version()),
        **stats)
    print(f"{path}: rate_exc {stats['rate_exc'].mean():.2f} Hz (min {stats['rate_exc'].min():.2f}, "
          f"max {stats['rate_exc'].max():.2f}); rate_inh {stats['rate_inh'].mean():.2f} Hz (min "
          f"{stats['rate_inh'].min():.2f}, max {stats['rate_inh'].max():.2f}); "
          f"{os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
