"""Izhikevich's (2007) general simple model with the book's cell types.

Izhikevich, *Dynamical Systems in Neuroscience* (MIT Press, 2007), chapter 8, eqs. (8.5)-(8.6)::

    C v' = k (v - vr)(v - vt) - u + I
    u'   = a (U(v) - u)
    if v >= v_peak:  v <- c,  u <- u + d

Units: ``C`` pF, ``k`` nS/mV, voltages mV, ``a`` 1/ms, ``b`` nS, ``d`` and ``I`` pA, time ms.

The cell types of chapter 8 bend three parts of this model; here each is a per-neuron parameter,
so one population can mix every type (all four are "off" at their defaults)::

    U(v)   = (b + db_below [v < vb]) (v - vr) + b_cubic max(v - vb, 0)^3
    v_peak = vpeak + vpeak_u u
    reset:   v <- c + c_u u,   u <- min(u + d, u_max)       (u before its increment)

* linear ``U(v) = b (v - vr)`` (RS, IB, CH, MSN): ``db_below = b_cubic = 0``;
* FS: ``U(v) = 0`` below ``vb = -55`` mV and ``0.025 (v - vb)^3`` above: ``b = 0``,
  ``b_cubic = 0.025``;
* TC: ``b = 15`` nS below -65 mV and ``0`` above: ``b = 0``, ``db_below = 15``, ``vb = -65``;
  RTN: ``b = 10`` below -65 mV and ``2`` above: ``b = 2``, ``db_below = 8``, ``vb = -65``;
* LTS: ``v_peak = 40 - 0.1 u``, ``v <- -53 + 0.04 u``, ``u <- min(u + 20, 670)``;
* TC: ``v_peak = 35 + 0.1 u``, ``v <- -60 - 0.1 u``, ``u <- u + 10``.

Values and sources (also in ``tests/numpy_simple_model.py``, which transcribes the book's loop):

==== ===== ==== ==== ==== ============ ====== ============================== ============ ==== ====
type  C     k    vr   vt  v_peak        a      U(v)                            c            d    cap
==== ===== ==== ==== ==== ============ ====== ============================== ============ ==== ====
RS    100  0.7  -60  -40  35           0.03   -2 (v - vr)                     -50          100
IB    150  1.2  -75  -45  50           0.01    5 (v - vr)                     -56          130
CH     50  1.5  -60  -40  25           0.03    1 (v - vr)                     -40          150
LTS   100  1.0  -56  -42  40 - 0.1 u   0.03    8 (v - vr)                     -53 + 0.04 u  20   670
FS     20  1.0  -55  -40  25           0.2    0 (v < -55), 0.025 (v + 55)^3   -45            0
TC    200  1.6  -60  -50  35 + 0.1 u   0.01   15 (v - vr) (v < -65), else 0   -60 - 0.1 u   10
RTN    40  0.25 -65  -45   0           0.015  10 (v - vr) (v < -65), else 2   -55           50
MSN    50  1.0  -80  -25  40           0.01  -20 (v - vr)                     -55          150
==== ===== ==== ==== ==== ============ ====== ============================== ============ ==== ====

* RS: the book's MATLAB program (book p. 287, Fig. 8.6; the type of Fig. 8.12).
* IB, CH, LTS, FS, TC, RTN: ModelDB 39948 (Lytton & Dura-Bernal's NEURON port "parameters taken
  from figures of Izhikevich, 2007 book": izhi2007Wrapper.py ``type2007`` with C in units of
  100 pF, izhi2007b.mod for the U(v), peak and reset rules), which labels them Figs. 8.19 (IB),
  8.23 (CH), 8.25 (LTS), 8.27 (FS), 8.31 (TC), 8.32 (RTN). Its FS row stores ``vb = -55`` in
  ``d`` and leaves ``u`` unchanged at the reset (``d = 0`` here); its FS ``b = -2`` is unused.
* MSN (neostriatal spiny projection neuron, book section 8.4): one independent public
  transcription (andrewtran1995/automaticity-model ``classes/MSN.m``); figure not confirmed.

Uncertain: at ``v == vb`` exactly the book does not say which side TC/RTN take (here: above);
the book prints no LTS/TC program, so whether its loop tests the state-dependent peak and reset
with ``u`` after the Euler step (here, as ModelDB's event-driven port) is inferred, not read.

Initial state: ``u0 = U(v0)`` (the book starts at ``v = vr``, ``u = 0 = U(vr)``).
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from .components import NeuronModel, register_model

U_MAX_OFF = 1e30
"""``u_max`` of the types without a cap: large and finite (validation refuses infinities; 1e30 pA
is above any reachable u in float32 and float64)."""

_EXTENSIONS_OFF = {"vpeak_u": 0.0, "c_u": 0.0, "u_max": U_MAX_OFF, "db_below": 0.0,
                   "b_cubic": 0.0}

PRESETS = {
    # Layer 5 regular spiking pyramidal cell (book Figs. 8.6, 8.12).
    "RS": dict(C=100.0, k=0.7, vr=-60.0, vt=-40.0, vpeak=35.0, a=0.03, b=-2.0, c=-50.0,
               d=100.0, vb=-60.0, **_EXTENSIONS_OFF),
    # Layer 5 intrinsically bursting pyramidal cell (Fig. 8.19 per ModelDB 39948).
    "IB": dict(C=150.0, k=1.2, vr=-75.0, vt=-45.0, vpeak=50.0, a=0.01, b=5.0, c=-56.0,
               d=130.0, vb=-75.0, **_EXTENSIONS_OFF),
    # Chattering (fast rhythmic bursting) cell, cat visual cortex (Fig. 8.23 per ModelDB).
    "CH": dict(C=50.0, k=1.5, vr=-60.0, vt=-40.0, vpeak=25.0, a=0.03, b=1.0, c=-40.0,
               d=150.0, vb=-60.0, **_EXTENSIONS_OFF),
    # Low-threshold spiking interneuron, rat barrel cortex (Fig. 8.25 per ModelDB).
    "LTS": dict(C=100.0, k=1.0, vr=-56.0, vt=-42.0, vpeak=40.0, a=0.03, b=8.0, c=-53.0,
                d=20.0, vb=-56.0, vpeak_u=-0.1, c_u=0.04, u_max=670.0, db_below=0.0,
                b_cubic=0.0),
    # Fast-spiking interneuron, rat visual cortex layer 5 (Fig. 8.27 per ModelDB).
    "FS": dict(C=20.0, k=1.0, vr=-55.0, vt=-40.0, vpeak=25.0, a=0.2, b=0.0, c=-45.0, d=0.0,
               vb=-55.0, vpeak_u=0.0, c_u=0.0, u_max=U_MAX_OFF, db_below=0.0, b_cubic=0.025),
    # Thalamocortical relay cell, cat dorsal LGN (Fig. 8.31 per ModelDB).
    "TC": dict(C=200.0, k=1.6, vr=-60.0, vt=-50.0, vpeak=35.0, a=0.01, b=0.0, c=-60.0,
               d=10.0, vb=-65.0, vpeak_u=0.1, c_u=-0.1, u_max=U_MAX_OFF, db_below=15.0,
               b_cubic=0.0),
    # Reticular thalamic nucleus cell, rat (Fig. 8.32 per ModelDB).
    "RTN": dict(C=40.0, k=0.25, vr=-65.0, vt=-45.0, vpeak=0.0, a=0.015, b=2.0, c=-55.0,
                d=50.0, vb=-65.0, vpeak_u=0.0, c_u=0.0, u_max=U_MAX_OFF, db_below=8.0,
                b_cubic=0.0),
    # Neostriatal spiny projection (medium spiny) neuron (book section 8.4; one transcription).
    "MSN": dict(C=50.0, k=1.0, vr=-80.0, vt=-25.0, vpeak=40.0, a=0.01, b=-20.0, c=-55.0,
                d=150.0, vb=-80.0, **_EXTENSIONS_OFF),
}
"""The book's cell types, name -> ``{param: value}`` (see the module docstring for sources)."""


def preset(name):
    """Parameters of one of the book's cell types (case-insensitive), a fresh dict."""
    for key, values in PRESETS.items():
        if key.lower() == str(name).lower():
            return dict(values)
    raise ValueError(f"unknown cell type {name!r}; expected one of {sorted(PRESETS)}")


def recovery_nullcline(v, params):
    """``U(v) = (b + db_below [v < vb]) (v - vr) + b_cubic max(v - vb, 0)^3`` (pA), elementwise."""
    below = jnp.where(v < params["vb"], params["db_below"], 0.0)
    above = jnp.maximum(v - params["vb"], 0.0)
    return (params["b"] + below) * (v - params["vr"]) + params["b_cubic"] * above * above * above


@dataclasses.dataclass(frozen=True)
class Izhikevich2007(NeuronModel):
    """The general simple model of Izhikevich (2007), ch. 8, in physical units (pF, mV, ms, pA).

    State ``v`` (mV), ``u`` (pA). Parameters per neuron (:attr:`param_names`): ``C`` (pF), ``k``
    (nS/mV), ``vr``, ``vt``, ``vpeak`` (mV), ``a`` (1/ms), ``b`` (nS), ``c`` (mV), ``d`` (pA), and
    the cell-type extensions ``vpeak_u`` (mV/pA), ``c_u`` (mV/pA), ``u_max`` (pA), ``vb`` (mV),
    ``db_below`` (nS), ``b_cubic`` (nS/mV^2), all "off" by default (see the module docstring).
    :attr:`presets` are the book's cell types; :attr:`defaults` are the RS neuron's values.

    The input current is in pA. The threshold is ``v - (vpeak + vpeak_u u)`` (spike at ``>= 0``,
    as the book's ``if v(i+1) >= vpeak``).
    """

    state_names: ClassVar[tuple] = ("v", "u")
    param_names: ClassVar[tuple] = ("C", "k", "vr", "vt", "vpeak", "a", "b", "c", "d",
                                    "vpeak_u", "c_u", "u_max", "vb", "db_below", "b_cubic")
    defaults: ClassVar[dict] = dict(PRESETS["RS"])
    presets: ClassVar[dict] = PRESETS
    current_unit: ClassVar[str] = "pA"

    inclusive: bool = True

    def initial_state(self, params, v0):
        """``v = v0`` (broadcast to the parameters' shape), ``u = U(v0)``."""
        shape = jnp.shape(params["C"])
        dtype = jnp.result_type(params["C"])
        v = jnp.broadcast_to(jnp.asarray(v0, dtype), shape)
        return {"v": v, "u": recovery_nullcline(v, params)}

    def vector_field(self, state, params, current):
        v, u = state["v"], state["u"]
        dv = (params["k"] * (v - params["vr"]) * (v - params["vt"]) - u + current) / params["C"]
        du = params["a"] * (recovery_nullcline(v, params) - u)
        return {"v": dv, "u": du}

    def threshold(self, state, params):
        return state["v"] - (params["vpeak"] + params["vpeak_u"] * state["u"])

    def reset(self, state, params, s):
        v, u = state["v"], state["u"]
        c = params["c"] + params["c_u"] * u
        smooth = v + s * (c - v)
        exact = jnp.where(s > 0, c, v)
        v_new = jax.lax.stop_gradient(exact) + (smooth - jax.lax.stop_gradient(smooth))
        u_new = u + s * (jnp.minimum(u + params["d"], params["u_max"]) - u)
        return {**state, "v": v_new, "u": u_new}

    def preset(self, name):
        """Parameters of one of the book's cell types (case-insensitive), a fresh dict."""
        return preset(name)


register_model(Izhikevich2007)
