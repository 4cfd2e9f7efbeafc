"""Izhikevich (2003) neuron: the vector field, three integrators, the reset, cell-type presets.

Model (v, u and I dimensionless as in the paper: v in mV, time in ms, I in mV/ms)::

    v' = 0.04 v^2 + 5 v + 140 - u + I
    u' = a (b v - u)
    if v >= 30:  v <- c,  u <- u + d

Integrators, one step of length ``dt`` (ms):

``euler``
    Brian2's ``method="euler"``: ``v`` and ``u`` both from the old values at once.
``izhikevich``
    Izhikevich's ``net.m``: two half steps of ``v`` (``dt/2`` each, "for numerical stability"),
    then ``u += dt a (b v - u)`` with the new ``v``.
``semi-implicit``
    PymoNNto (and Izhikevich 2004's ``figure1.m``): ``v += dt f(v, u)``, then ``u`` from the new ``v``.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from .components import NeuronModel, register_model, reset_to

INTEGRATORS = ("euler", "izhikevich", "semi-implicit")

PRESETS = {
    "RS": (0.02, 0.2, -65.0, 8.0),  # regular spiking
    "IB": (0.02, 0.2, -55.0, 4.0),  # intrinsically bursting
    "CH": (0.02, 0.2, -50.0, 2.0),  # chattering
    "FS": (0.1, 0.2, -65.0, 2.0),  # fast spiking
    "LTS": (0.02, 0.25, -65.0, 2.0),  # low-threshold spiking
    "TC": (0.02, 0.25, -65.0, 0.05),  # thalamo-cortical
    "RZ": (0.1, 0.26, -65.0, 2.0),  # resonator
}
"""Izhikevich (2003) Fig. 2 cell types: name -> ``(a, b, c, d)``."""


def preset(name):
    """``(a, b, c, d)`` of a 2003 Fig. 2 cell type (RS, IB, CH, FS, LTS, TC, RZ), case-insensitive."""
    key = str(name).upper()
    if key not in PRESETS:
        raise ValueError(f"unknown cell type {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[key]


def dvdt(v, u, i, k1=5.0, k0=140.0):
    """Membrane equation ``0.04 v^2 + k1 v + k0 - u + I`` in mV/ms, elementwise.

    ``k1 = 5, k0 = 140`` is the 2003 model; Izhikevich (2004) Fig. 1 G and L use ``4.1 v + 108``.
    Scalars or arrays broadcastable to ``v``'s shape.
    """
    return 0.04 * v * v + k1 * v + k0 - u + i


def dudt(v, u, a, b, leak=None, v_shift=None):
    """Recovery equation ``a (b v - u)`` in mV/ms, elementwise.

    With ``leak`` and ``v_shift`` given (scalars or arrays), ``a (b (v + v_shift) - leak u)``:
    Izhikevich (2004) Fig. 1 R (accommodation) uses ``a b (v + 65)``, i.e. ``leak = 0``,
    ``v_shift = 65``. Left out (the default), the 2003 model's arithmetic exactly.
    """
    if leak is None and v_shift is None:
        return a * (b * v - u)
    leak = 1.0 if leak is None else leak
    v_shift = 0.0 if v_shift is None else v_shift
    return a * (b * (v + v_shift) - leak * u)


def integrate(v, u, i, a, b, dt, method, v_peak=None, **coefficients):
    """Advance ``(v, u)`` by one step of length ``dt`` ms with the named integrator.

    Args:
        v, u: membrane potential and recovery variable (mV), shape ``(n,)``.
        i: input current held over the step (mV/ms), shape ``(n,)``.
        a, b: recovery time scale (1/ms) and sensitivity, shape ``(n,)`` or scalars.
        dt: step length in ms: a static Python float, or an array broadcastable to ``(n,)``
            (one step length per neuron, as the single-neuron protocols of :mod:`izhijax.patterns`).
        method: one of :data:`INTEGRATORS` (static).
        v_peak: if given (mV), the update of ``u`` from the new ``v`` (``izhikevich``,
            ``semi-implicit``) takes no gradient from a ``v`` at or past ``v_peak``: that overshoot
            (up to ~1000 mV in one step at dt = 1 ms) is an artifact of the step length, and its
            ``v^2`` slope would multiply the backward pass at every spike. Values are unchanged.
        **coefficients: optional equation variants passed on: ``k1``, ``k0`` to :func:`dvdt`,
            ``leak``, ``v_shift`` to :func:`dudt`; left out, the 2003 model unchanged.

    Returns:
        ``(v, u)`` after the step, before any threshold or reset.
    """
    fv = {k: coefficients.pop(k) for k in ("k1", "k0") if k in coefficients}
    fu = {k: coefficients.pop(k) for k in ("leak", "v_shift") if k in coefficients}
    if coefficients:
        raise TypeError(f"unknown equation coefficients {sorted(coefficients)}")
    if method == "euler":
        return v + dt * dvdt(v, u, i, **fv), u + dt * dudt(v, u, a, b, **fu)
    if method == "izhikevich":
        half = 0.5 * dt
        v = v + half * dvdt(v, u, i, **fv)
        v = v + half * dvdt(v, u, i, **fv)
        return v, u + dt * dudt(_below(v, v_peak), u, a, b, **fu)
    if method == "semi-implicit":
        v = v + dt * dvdt(v, u, i, **fv)
        return v, u + dt * dudt(_below(v, v_peak), u, a, b, **fu)
    raise ValueError(f"unknown integrator {method!r}; expected one of {INTEGRATORS}")


def _below(v, v_peak):
    """``v`` with its gradient stopped where ``v >= v_peak`` (the same values)."""
    if v_peak is None:
        return v
    return jnp.where(v >= v_peak, jax.lax.stop_gradient(v), v)


def reset(v, u, s, c, d, grad=True):
    """After-spike reset written to be differentiable: ``v + s (c - v)``, ``u + s d``.

    The forward value of ``v`` is exactly ``c`` where ``s == 1`` and exactly ``v`` elsewhere (the
    arithmetic form alone can miss ``c`` by a rounding error); the gradient is that of the arithmetic
    form, so it flows into ``s`` (through the surrogate), ``v``, ``c`` and ``d``.

    Args:
        v, u: values after the update (mV), shape ``(n,)``.
        s: spikes as 0/1 floats, shape ``(n,)``.
        c, d: reset potential (mV) and after-spike increment of ``u``.
        grad: if ``False`` the reset's dependence on ``s`` is cut from the gradient
            (snnTorch's "detached reset"); the forward pass is unchanged.

    Returns:
        ``(v, u)`` after the reset.
    """
    if not grad:
        s = jax.lax.stop_gradient(s)
    smooth = v + s * (c - v)
    exact = jnp.where(s > 0, c, v)
    v_new = jax.lax.stop_gradient(exact) + (smooth - jax.lax.stop_gradient(smooth))
    return v_new, u + s * d


@register_model
@dataclasses.dataclass(frozen=True)
class Izhikevich2003(NeuronModel):
    """The Izhikevich (2003) simple model, in the paper's dimensionless units.

    ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``; at ``v >= v_peak``: ``v <- c``,
    ``u <- u + d``. ``v`` in mV, time in ms, ``I`` in mV/ms.

    Parameters (per neuron): ``a`` (1/ms), ``b`` (dimensionless), ``c`` (mV), ``d`` (mV/ms);
    :attr:`presets` are the paper's Fig. 2 cell types. Initial state ``u0 = b v0``.

    Attributes:
        v_peak: spike cut-off in mV (30 in every seed).
        inclusive: spike at ``v >= v_peak`` (Brian2, net.m) or ``v > v_peak`` (PymoNNto, figure1.m).
        horner: evaluate ``0.04 v^2 + 5 v + 140`` as ``(0.04 v + 5) v + 140``, the arithmetic of
            Izhikevich's ``spnet.m`` and ``poly_spnet.cpp`` (the same function, other rounding:
            needed to match those programs bit for bit); ``False`` (default) is net.m's and
            Brian2's ``0.04 v**2 + 5 v + 140``.
    """

    state_names: ClassVar[tuple] = ("v", "u")
    param_names: ClassVar[tuple] = ("a", "b", "c", "d")
    defaults: ClassVar[dict] = {}
    presets: ClassVar[dict] = {k: dict(zip("abcd", v)) for k, v in PRESETS.items()}

    v_peak: float = 30.0
    inclusive: bool = True
    horner: bool = False

    def initial_state(self, params, v0):
        return {"v": v0, "u": params["b"] * v0}

    def vector_field(self, state, params, current):
        v, u = state["v"], state["u"]
        fv = ((0.04 * v + 5.0) * v + 140.0 - u + current) if self.horner else dvdt(v, u, current)
        return {"v": fv, "u": dudt(v, u, params["a"], params["b"])}

    def threshold(self, state, params):
        return state["v"] - self.v_peak

    def reset(self, state, params, s):
        return {"v": reset_to(state["v"], s, params["c"]), "u": state["u"] + s * params["d"]}


@register_model
@dataclasses.dataclass(frozen=True)
class Izhikevich2004(Izhikevich2003):
    """The 2003 model with the per-neuron coefficients of Izhikevich (2004)'s ``figure1.m``.

    ``v' = s (0.04 v^2 + k1 v + k0 - u + I)``, ``u' = s a (b (v + v_shift) - leak u)``, with
    ``k1 = 5, k0 = 140, leak = 1, v_shift = 0, time_scale = 1`` by default (the 2003 model).
    ``time_scale`` ``s`` is the model time of one unit of ``dt`` in ms: figure1.m steps each panel
    with its own ``tau``; a network with ``dt = 1`` and ``time_scale = tau`` per neuron does exactly
    those steps (``v + 1 (tau f) == v + tau f``), so neurons with different step lengths share one
    run (:mod:`izhijax.patterns`).
    """

    param_names: ClassVar[tuple] = ("a", "b", "c", "d", "k1", "k0", "leak", "v_shift",
                                    "time_scale")
    defaults: ClassVar[dict] = {"k1": 5.0, "k0": 140.0, "leak": 1.0, "v_shift": 0.0,
                                "time_scale": 1.0}

    def vector_field(self, state, params, current):
        v, u, p = state["v"], state["u"], params
        return {"v": p["time_scale"] * dvdt(v, u, current, p["k1"], p["k0"]),
                "u": p["time_scale"] * dudt(v, u, p["a"], p["b"], p["leak"], p["v_shift"])}
