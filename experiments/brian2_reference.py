"""Brian2 reference data for the Izhikevich (2003) Fig. 3 network (the Brian2 example ``Izhikevich_2003``).

Reproduces the Brian2 example (``shared/seeds/brian2_Izhikevich_2003.rst``) exactly -- same
NeuronGroup equations, ``threshold="v>=30"``, ``reset="v=c; u+=d"``, ``method="euler"``,
``defaultclock.dt = 1*ms``, all-to-all Synapses with the ``up`` (``I += w``, delay 0 ms) and ``down``
(``I -= w``, delay 1 ms) pathways, float64 -- but with the network parameters drawn by
``fig3_network(seed)`` from ``reference_network.py`` (next to this file, NumPy ``RandomState``
only), so izhijax and the tests can rebuild the very same network without storing it.

Environment (kept apart from the project's own environment; Brian2 2.9 breaks with numpy>=2.3)::

    python3 -m venv .venv-brian
    .venv-brian/bin/pip install "brian2==2.9.0" "numpy<2.3" cython

Last run with Python 3.11.7, brian2 2.9.0, numpy 2.2.6 (Cython 3.3.1 installed, sympy 1.14.0), on
Linux x86_64, codegen target "numpy" for both files. Run from the repository root::

    .venv-brian/bin/python experiments/brian2_reference.py [--out-dir tests/data] [--seeds-target numpy|cython]

Writes (``np.savez_compressed``, small integer dtypes, each file well under 1 MB):

``brian2_fig3_injected.npz``
    Network ``fig3_network(0)``; the seed's ``randn()`` thalamic noise replaced by the injected
    noise ``injected_noise(0, 1000, noise_amp)`` (shape ``[1000 steps, 1000 neurons]``), handed to
    Brian2 as a 2-D ``TimedArray(noise, dt=1*ms)`` read by ``N.run_regularly("I_noise =
    noise_ta(t, i)", dt=1*ms)`` (the same ``start`` slot as the seed's ``run_regularly``), so step
    ``k`` uses row ``k``. 1000 ms, codegen target numpy. Arrays:

    - ``i`` (int16): index of the neuron of each spike, in SpikeMonitor order;
    - ``step`` (int16): spike time as an integer step, ``round(t/ms)``;
    - ``v0`` (float64, 1000 values): membrane potential of neuron 0 recorded by
      ``StateMonitor(N, 'v', record=0, when='after_thresholds')`` (i.e. before the reset, as in the
      seed's figure: a spiking step shows v >= 30);
    - ``brian2_version``, ``numpy_version``, ``python_version``, ``target`` (strings),
      ``net_seed=0``, ``noise_seed=0``, ``n_steps=1000`` (ints).

``brian2_fig3_seeds.npz``
    The Brian2 seed with its OWN noise (``N_exc.run_regularly("I_noise = 5*randn()")``,
    ``N_inh.run_regularly("I_noise = 2*randn()")``), for seeds ``s = 0..9``: network
    ``fig3_network(s)``, ``brian2.seed(s)`` just before running, 1000 ms. Arrays:

    - ``seeds`` (int16, [10]);
    - ``rate_exc``, ``rate_inh`` (float64, [10]): Hz, spikes / neuron / second of each population;
    - ``counts`` (uint16, [10 seeds, 1000 steps, 2]): number of excitatory (``[..., 0]``) and
      inhibitory (``[..., 1]``) spikes in each 1 ms step;
    - ``brian2_version``, ``numpy_version``, ``python_version``, ``target`` (the codegen target
      used), ``n_steps=1000``.

Every run builds its objects after ``start_scope()`` and runs them in a fresh ``Network``.
Weights: the dict's ``W`` is ``[post, pre]`` and Brian2's all-to-all ``S.connect()`` orders the
synapses pre-major, so ``S.w[:] = W.T.flatten()`` (the seed's ``weights.flatten()``, whose
``weights`` is already ``[pre, post]``).
"""

import argparse
import os
import platform
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from reference_network import fig3_network, injected_noise  # noqa: E402

import brian2  # noqa: E402
from brian2 import (  # noqa: E402
    Network,
    NeuronGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    TimedArray,
    defaultclock,
    ms,
    prefs,
    start_scope,
)

N_STEPS = 1000
EQS = """dv/dt = (0.04*v**2 + 5*v + 140 - u + I + I_noise )/ms : 1
         du/dt = (a*(b*v - u))/ms  : 1
         I : 1
         I_noise : 1
         a : 1
         b : 1
         c : 1
         d : 1
       """


def build(net, noise_ta=None):
    """The seed's NeuronGroup + Synapses with parameters from ``net`` (a ``fig3_network`` dict).

    With ``noise_ta`` the noise is read from that TimedArray, otherwise it is the seed's randn().
    Returns ``(N, S, n_exc)``.
    """
    n = net["a"].shape[0]
    n_exc = int(np.sum(net["noise_amp"] == 5.0))
    namespace = {} if noise_ta is None else {"noise_ta": noise_ta}
    N = NeuronGroup(
        n, EQS, threshold="v>=30", reset="v=c; u+=d", method="euler", namespace=namespace
    )
    N.a = net["a"]
    N.b = net["b"]
    N.c = net["c"]
    N.d = net["d"]
    N.v = net["v0"]
    N.u = net["u0"]
    S = Synapses(
        N,
        N,
        "w : 1",
        on_pre={"up": "I += w", "down": "I -= w"},
        delay={"up": 0 * ms, "down": 1 * ms},
    )
    S.connect()
    S.w[:] = net["W"].T.flatten()
    if noise_ta is not None:
        N.run_regularly("I_noise = noise_ta(t, i)", dt=1 * ms)
    else:
        N[:n_exc].run_regularly("I_noise = 5*randn()", dt=1 * ms)
        N[n_exc:].run_regularly("I_noise = 2*randn()", dt=1 * ms)
    return N, S, n_exc


def versions():
    return dict(
        brian2_version=np.array(brian2.__version__),
        numpy_version=np.array(np.__version__),
        python_version=np.array(platform.python_version()),
    )


def run_injected(out_dir):
    prefs.codegen.target = "numpy"
    start_scope()
    defaultclock.dt = 1 * ms
    net = fig3_network(0)
    noise = injected_noise(0, N_STEPS, net["noise_amp"])
    noise_ta = TimedArray(noise, dt=1 * ms)
    N, S, _ = build(net, noise_ta)
    spikemon = SpikeMonitor(N)
    statemon = StateMonitor(N, "v", record=0, when="after_thresholds")
    network = Network(N, S, spikemon, statemon)
    network.run(N_STEPS * ms)
    i = np.asarray(spikemon.i[:])
    step = np.rint(np.asarray(spikemon.t / ms)).astype(np.int64)
    v0 = np.asarray(statemon.v[0], dtype=np.float64)
    assert v0.shape == (N_STEPS,), v0.shape
    assert i.max(initial=0) < 2**15 and step.max(initial=0) < 2**15
    path = os.path.join(out_dir, "brian2_fig3_injected.npz")
    np.savez_compressed(
        path,
        i=i.astype(np.int16),
        step=step.astype(np.int16),
        v0=v0,
        target=np.array("numpy"),
        net_seed=np.int64(0),
        noise_seed=np.int64(0),
        n_steps=np.int64(N_STEPS),
        **versions(),
    )
    return path, i, step


def run_seeds(out_dir, seeds, target):
    prefs.codegen.target = target
    counts = np.zeros((len(seeds), N_STEPS, 2), dtype=np.uint16)
    rate_exc = np.zeros(len(seeds))
    rate_inh = np.zeros(len(seeds))
    for k, s in enumerate(seeds):
        start_scope()
        defaultclock.dt = 1 * ms
        net = fig3_network(s)
        N, S, n_exc = build(net)
        n_inh = N.N - n_exc
        spikemon = SpikeMonitor(N)
        network = Network(N, S, spikemon)
        brian2.seed(s)
        network.run(N_STEPS * ms)
        i = np.asarray(spikemon.i[:])
        step = np.rint(np.asarray(spikemon.t / ms)).astype(np.int64)
        exc = i < n_exc
        counts[k, :, 0] = np.bincount(step[exc], minlength=N_STEPS)
        counts[k, :, 1] = np.bincount(step[~exc], minlength=N_STEPS)
        seconds = N_STEPS * 1e-3
        rate_exc[k] = exc.sum() / n_exc / seconds
        rate_inh[k] = (~exc).sum() / n_inh / seconds
        print(f"seed {s}: rate_exc {rate_exc[k]:.3f} Hz, rate_inh {rate_inh[k]:.3f} Hz", flush=True)
    path = os.path.join(out_dir, "brian2_fig3_seeds.npz")
    np.savez_compressed(
        path,
        seeds=np.asarray(seeds, dtype=np.int16),
        rate_exc=rate_exc,
        rate_inh=rate_inh,
        counts=counts,
        target=np.array(target),
        n_steps=np.int64(N_STEPS),
        **versions(),
    )
    return path, rate_exc, rate_inh


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(HERE), "tests", "data"))
    parser.add_argument("--seeds-target", default="numpy", choices=["numpy", "cython"])
    parser.add_argument("--n-seeds", type=int, default=10)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    prefs.core.default_float_dtype = np.float64

    path, i, step = run_injected(args.out_dir)
    print(f"{path}: {len(i)} spikes ({np.sum(i < 800)} exc, {np.sum(i >= 800)} inh), "
          f"{os.path.getsize(path)} bytes", flush=True)

    path, re_, ri_ = run_seeds(args.out_dir, list(range(args.n_seeds)), args.seeds_target)
    print(f"{path}: rate_exc mean {re_.mean():.3f} min {re_.min():.3f} max {re_.max():.3f} Hz; "
          f"rate_inh mean {ri_.mean():.3f} min {ri_.min():.3f} max {ri_.max():.3f} Hz; "
          f"{os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
