"""A plain-Python transcription of Izhikevich's figure1.m (2004, Fig. 1), one panel at a time.

Written from the MATLAB script's loop, with its order of operations and its ``if``/``else`` input
conditions, independently of izhijax.patterns (which builds the inputs as arrays)::

    for t = tspan                                   % tspan = 0:tau:T
        I = ...;                                    % the panel's protocol at time t
        V = V + tau*(0.04*V^2 + 5*V + 140 - u + I); % 4.1*V + 108 in panels G and L
        u = u + tau*a*(b*V - u);                    % tau*a*(b*(V+65)) in panel R
        if V > 30, VV(end+1) = 30; V = c; u = u + d; else VV(end+1) = V; end
    end
"""

import numpy as np


def _inputs():
    def step(t1, amp, base=0.0):
        return lambda t, T: amp if t > t1(T) else base

    def pulses(starts, width, amp, base=0.0):
        return lambda t, T: amp if any(s(T) < t < s(T) + width for s in starts) else base

    c = lambda x: (lambda T: x)
    return {
        "A": step(lambda T: T / 10, 14), "B": step(c(20), 0.5), "C": step(c(22), 15),
        "D": step(c(20), 0.6), "E": step(lambda T: T / 10, 10), "F": step(lambda T: T / 10, 30),
        "G": lambda t, T: 0.075 * (t - 30) if t > 30 else 0.0,
        "H": lambda t, T: -0.5 + 0.015 * (t - 30) if t > 30 else -0.5,
        "I": pulses([lambda T: T / 10], 3, 7.04), "J": pulses([lambda T: T / 10], 5, 2),
        "K": pulses([lambda T: T / 10, lambda T: T / 10 + 20, lambda T: 0.7 * T,
                     lambda T: 0.7 * T + 40], 4, 0.65),
        "L": pulses([lambda T: T / 11, lambda T: T / 11 + 5, lambda T: 0.7 * T,
                     lambda T: 0.7 * T + 10], 2, 9),
        "M": pulses([c(20)], 5, -15), "N": pulses([c(20)], 5, -15),
        "O": lambda t, T: 1.0 if (10 < t < 15) or (80 < t < 85) else (-6.0 if 70 < t < 75 else 0.0),
        "P": pulses([lambda T: T / 8, c(216)], 5, 1.24, base=0.24),
        "Q": lambda t, T: 20.0 if abs(t - 10) < 1 else 0.0,
        "R": lambda t, T: (t / 25 if t < 200 else 0.0 if t < 300
                           else (t - 300) / 12.5 * 4 if t < 312.5 else 0.0),
        "S": lambda t, T: 80.0 if (t < 50) or (t > 250) else 75.0,
        "T": lambda t, T: 80.0 if (t < 50) or (t > 250) else 75.0,
    }


# panel: a, b, c, d, V0, tau, T  (figure1.m)
PANELS = {
    "A": (0.02, 0.2, -65, 6, -70, 0.25, 100), "B": (0.02, 0.25, -65, 6, -64, 0.25, 200),
    "C": (0.02, 0.2, -50, 2, -70, 0.25, 220), "D": (0.02, 0.25, -55, 0.05, -64, 0.2, 200),
    "E": (0.02, 0.2, -55, 4, -70, 0.25, 160), "F": (0.01, 0.2, -65, 8, -70, 0.25, 85),
    "G": (0.02, -0.1, -55, 6, -60, 0.25, 300), "H": (0.2, 0.26, -65, 0, -64, 0.25, 300),
    "I": (0.02, 0.2, -65, 6, -70, 0.2, 100), "J": (0.05, 0.26, -60, 0, -62, 0.25, 200),
    "K": (0.1, 0.26, -60, -1, -62, 0.25, 400), "L": (0.02, -0.1, -55, 6, -60, 0.25, 100),
    "M": (0.03, 0.25, -60, 4, -64, 0.2, 200), "N": (0.03, 0.25, -52, 0, -64, 0.2, 200),
    "O": (0.03, 0.25, -60, 4, -64, 0.25, 100), "P": (0.1, 0.26, -60, 0, -61, 0.25, 300),
    "Q": (1, 0.2, -60, -21, -70, 0.1, 50), "R": (0.02, 1, -55, 4, -65, 0.5, 400),
    "S": (-0.02, -1, -60, 8, -63.8, 0.5, 350), "T": (-0.026, -1, -45, -2, -63.8, 0.5, 350),
}


def figure1(label):
    """Run one panel as figure1.m does. Returns ``(t, VV, II)``: times (ms), trace, input."""
    a, b, c, d, V, tau, T = PANELS[label]
    current = _inputs()[label]
    u = -16.0 if label == "R" else b * V
    tspan = np.arange(int(round(T / tau)) + 1) * tau
    VV, II = [], []
    for t in tspan:
        I = current(t, T)
        if label in "GL":
            V = V + tau * (0.04 * V**2 + 4.1 * V + 108 - u + I)
        else:
            V = V + tau * (0.04 * V**2 + 5 * V + 140 - u + I)
        if label == "R":
            u = u + tau * a * (b * (V + 65))
        else:
            u = u + tau * a * (b * V - u)
        if V > 30:
            VV.append(30.0)
            V = c
            u = u + d
        else:
            VV.append(V)
        II.append(I)
    return tspan, np.array(VV), np.array(II)
