"""NumPy transcriptions of the three seeds' loops, float64, written as the seeds write them.

Independent of izhijax: each loop follows its seed line by line (threshold check, reset, input,
update, in the seed's order), so agreement with izhijax checks both the integrator and the schedule.
Each takes a network dict (``a, b, c, d, W[post, pre], v0, u0``) and an injected current.
"""

import numpy as np


def brian2_loop(net, noise):
    """The Brian2 seed's schedule per 1 ms step (Brian2's scheduling slots, in order).

    start: ``I_noise = noise[t]``; groups: forward Euler of v and u from the old values;
    thresholds: ``v >= 30`` (SpikeMonitor records t; StateMonitor 'after_thresholds' records v);
    synapses: ``I += w`` of this step's spikes, ``I -= w`` of the previous step's (1 ms delay);
    resets: ``v = c; u += d``.

    Returns:
        ``(spikes [T, n] bool, v [T, n] recorded after thresholds)``.
    """
    a, b, c, d, W = (net[k] for k in "abcdW")
    v, u = net["v0"].copy(), net["u0"].copy()
    I = np.zeros_like(v)
    prev = np.zeros(v.shape, bool)
    T = noise.shape[0]
    spikes, vrec = np.zeros((T, v.size), bool), np.zeros((T, v.size))
    for t in range(T):
        I_noise = noise[t]
        dv = 0.04 * v**2 + 5 * v + 140 - u + I + I_noise
        du = a * (b * v - u)
        v, u = v + dv, u + du
        fired = v >= 30
        spikes[t], vrec[t] = fired, v
        I = I + W[:, fired].sum(axis=1)
        I = I - W[:, prev].sum(axis=1)
        prev = fired
        v[fired] = c[fired]
        u[fired] = u[fired] + d[fired]
    return spikes, vrec


def netm_loop(net, noise):
    """Izhikevich's net.m, with ``I = noise(t) + sum(S(:, fired), 2)`` (dt = 1 ms, two half steps).

    Returns:
        ``fired [T, n] bool`` with net.m's labels: row t holds the neurons found ``v >= 30`` at the
        start of iteration t.
    """
    a, b, c, d, S = (net[k] for k in "abcdW")
    v, u = net["v0"].copy(), net["u0"].copy()
    T = noise.shape[0]
    firings = np.zeros((T, v.size), bool)
    for t in range(T):
        I = noise[t].copy()
        fired = v >= 30
        firings[t] = fired
        v[fired] = c[fired]
        u[fired] = u[fired] + d[fired]
        I = I + S[:, fired].sum(axis=1)
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + I)
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + I)
        u = u + a * (b * v - u)
    return firings


def pymonnto_loop(net, noise, dt=0.5):
    """PymoNNto's Izhikevich example: behaviour 1 (neuron) then behaviour 2 (input) per iteration.

    ``noise[k]`` plays the role of iteration k's ``20 * uniform`` draw. ``W[post, pre]`` already holds
    the signs and the excitatory 0.5 factor.

    Returns:
        ``fired [T, n] bool`` with PymoNNto's labels (``v > 30`` at the start of iteration k).
    """
    a, b, c, d, W = (net[k] for k in "abcdW")
    v, u = net["v0"].copy(), net["u0"].copy()
    I = np.zeros_like(v)
    T = noise.shape[0]
    firings = np.zeros((T, v.size), bool)
    for k in range(T):
        fired = v > 30                                   # Izhikevich_main.iteration
        if np.sum(fired) > 0:
            v[fired] = c[fired]
            u[fired] = u[fired] + d[fired]
        v += dt * (0.04 * v**2 + 5 * v + 140 - u + I)
        u += dt * (a * (b * v - u))
        firings[k] = fired
        I = noise[k] + W[:, fired].sum(axis=1)           # Izhikevich_input.iteration
    return firings
