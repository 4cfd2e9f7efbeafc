"""The Fig. 3 network and injected noise as plain NumPy, shared by peer scripts and tests.

NumPy only (no izhijax, no JAX), so the Brian2 and PymoNNto reference scripts can import it inside
their own virtual environments, and the tests can rebuild exactly the same network and noise without
storing megabytes in ``tests/data``. Every number is drawn with ``np.random.RandomState``, whose
streams NumPy keeps stable across versions (NEP 19), so a seed means the same arrays everywhere.
"""

import numpy as np

N_EXC = 800
N_INH = 200


def fig3_network(seed, n_exc=N_EXC, n_inh=N_INH):
    """Draw the Izhikevich (2003) Fig. 3 network in the order of the Brian2 seed / net.m.

    Args:
        seed: integer seed of ``np.random.RandomState``.
        n_exc, n_inh: population sizes.

    Returns:
        dict of float64 arrays: ``a, b, c, d`` shape ``(n,)``; ``W`` synaptic weights shape
        ``(n_post, n_pre)`` (net.m's ``S``: column j is what a spike of neuron j adds to each
        neuron's input); ``noise_amp`` shape ``(n,)`` (5 excitatory, 2 inhibitory); ``v0, u0``.
    """
    rs = np.random.RandomState(seed)
    n = n_exc + n_inh
    re = rs.uniform(size=n_exc)
    ri = rs.uniform(size=n_inh)
    W = np.hstack([0.5 * rs.uniform(size=(n, n_exc)), -rs.uniform(size=(n, n_inh))])
    a = np.r_[0.02 * np.ones(n_exc), 0.02 + 0.08 * ri]
    b = np.r_[0.2 * np.ones(n_exc), 0.25 - 0.05 * ri]
    c = np.r_[-65 + 15 * re**2, -65 * np.ones(n_inh)]
    d = np.r_[8 - 6 * re**2, 2 * np.ones(n_inh)]
    noise_amp = np.r_[5.0 * np.ones(n_exc), 2.0 * np.ones(n_inh)]
    v0 = -65.0 * np.ones(n)
    return dict(a=a, b=b, c=c, d=d, W=W, noise_amp=noise_amp, v0=v0, u0=b * v0)


def injected_noise(seed, n_steps, noise_amp):
    """Thalamic noise ``noise_amp * randn`` for every step, shape ``(n_steps, n)``, float64.

    Drawn from ``RandomState(seed + 1_000_000)`` so it never shares a stream with the network.
    Row ``t`` is the current added to the update of step ``t``.
    """
    rs = np.random.RandomState(seed + 1_000_000)
    return noise_amp[None, :] * rs.standard_normal(size=(n_steps, noise_amp.shape[0]))
