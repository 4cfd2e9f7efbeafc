"""The Brian2 ``Izhikevich_2003`` network used by the Brian2 scripts (run in the Brian2 venv).

One copy of the model for ``brian2_scaled_reference.py`` (reference rates in ``tests/data``) and the
bench harness's ``bench/peers/brian2_fig3.py``: the Brian2 example's equations with a per-neuron
noise amplitude, Euler at the clock's dt, threshold ``v >= 30``, reset ``v = c; u += d``,
excitatory pulses delivered at once and inhibitory ones a step later, as the example does.
``brian2_reference.py`` keeps the example's own equations verbatim (it feeds them injected noise).
"""

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


def build(n, k=None, seed=0):
    """The network of ``n`` neurons (80 % excitatory) after ``np.random.seed(seed)`` and
    ``brian2.seed(seed)``.

    Args:
        n: number of neurons.
        k: None for Fig. 3's all-to-all weights (0.5 U excitatory, -U inhibitory); otherwise
            ``connect(p=k/n)`` from each population with weights scaled by ``1000 / k``.
        seed: NumPy and Brian2 seed.

    Returns:
        ``(network, spike_monitor, n_exc)``; set the clock and the codegen target before calling.
    """
    import brian2 as b2
    np.random.seed(seed)
    b2.seed(seed)
    n_exc = int(0.8 * n)
    re, ri = np.random.uniform(size=n_exc), np.random.uniform(size=n - n_exc)
    g = b2.NeuronGroup(n, EQS, threshold="v>=30", reset="v=c; u+=d", method="euler")
    g.v = -65
    e, i = g[:n_exc], g[n_exc:]
    e.a = 0.02; e.b = 0.2; e.c = -65 + 15 * re**2; e.d = 8 - 6 * re**2; e.noise_amp = 5
    i.a = 0.02 + 0.08 * ri; i.b = 0.25 - 0.05 * ri; i.c = -65; i.d = 2; i.noise_amp = 2
    g.u = "b*v"
    path = dict(on_pre={"up": "I += w", "down": "I -= w"}, delay={"up": 0 * b2.ms, "down": 1 * b2.ms})
    if k is None:
        s = b2.Synapses(g, g, "w : 1", **path)
        s.connect()
        w = np.hstack([0.5 * np.random.uniform(size=(n, n_exc)),
                       -np.random.uniform(size=(n, n - n_exc))])
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
