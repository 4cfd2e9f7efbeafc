"""Single-neuron protocols: the 20 firing patterns of Izhikevich (2004), Fig. 1.

E. M. Izhikevich, "Which model to use for cortical spiking neurons?", IEEE Trans. Neural Networks
15(5), 2004. Each panel is one neuron with its own ``(a, b, c, d)``, initial state, step length
``tau``, duration ``T`` and input current ``I(t)``, as the paper's MATLAB script ``figure1.m`` gives
them. That script integrates every panel with the semi-implicit scheme::

    for t = 0, tau, ..., T:   v += tau (0.04 v^2 + 5 v + 140 - u + I(t))
                              u += tau a (b v - u)            # with the new v
                              if v > 30: trace 30, v = c, u += d     else trace v

Where the paper and its MATLAB code differ, izhijax follows the code (which drew the figure):

* the paper gives one model for all panels, ``0.04 v^2 + 5 v + 140`` and ``u' = a (b v - u)``; the
  code uses ``4.1 v + 108`` in panels G (Class 1) and L (integrator), and ``u' = a b (v + 65)`` with
  ``u0 = -16`` in R (accommodation);
* the paper resets at ``v >= 30`` mV; the code at ``v > 30`` (``Config(inclusive=False)``);
* the paper gives no step; the code integrates each panel with its own ``tau`` (0.1 to 0.5 ms), one
  semi-implicit step per ``tau`` (not net.m's two half steps of a 1 ms step);
* the panels' ``(a, b, c, d)`` are not the 2003 Fig. 2 cell types (e.g. tonic spiking has d = 6, not
  RS's 8; mixed mode is IB's and tonic bursting CH's), and are given only in the code;
* the code records 30 mV at a spike (the figure's spike peaks), not the overshoot; inputs are switched
  with strict inequalities at ``t = k tau``, so a "3 ms" pulse at ``tau = 0.2`` lasts 14 steps.

All the panels of a run are integrated as independent neurons of one network, in one run of the
engine (:func:`run`): one population of :class:`izhijax.Izhikevich2004` neurons, each with its own
equation coefficients and its own step length (``time_scale = tau`` with ``dt = 1``: figure1.m's
steps exactly), :class:`izhijax.SemiImplicit`, a strict ``v > 30`` threshold, no synapses, no
noise; the protocols' inputs are the run's external current, padded with zeros to the longest.
"""

import dataclasses
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import engine
from .components import SemiImplicit
from .network import Config, Network, Population, init_state
from .neuron import Izhikevich2004

V_PEAK = 30.0
"""Spike cut-off of figure1.m (``v > 30``), mV."""


class Protocol(NamedTuple):
    """One panel of Fig. 1: a neuron, its integration and its input.

    Attributes:
        label: panel letter, ``"A"`` ... ``"T"``.
        name: the feature, e.g. ``"tonic spiking"``.
        a, b, c, d: neuron parameters.
        v0: initial membrane potential, mV.
        u0: initial recovery variable (``b v0`` unless the panel says otherwise).
        tau: step length, ms.
        T: duration, ms; the protocol has ``round(T / tau) + 1`` steps, at ``t = 0, tau, ..., T``.
        current: ``I(t)``: NumPy array of times (ms) -> input (mV/ms), elementwise.
        k1, k0: the membrane equation's ``k1 v + k0`` (5 and 140, or 4.1 and 108 in G and L).
        leak, v_shift: recovery equation ``a (b (v + v_shift) - leak u)``; (1, 0) except in R.
    """

    label: str
    name: str
    a: float
    b: float
    c: float
    d: float
    v0: float
    u0: float
    tau: float
    T: float
    current: Callable
    k1: float = 5.0
    k0: float = 140.0
    leak: float = 1.0
    v_shift: float = 0.0

    @property
    def n_steps(self):
        """Number of steps, ``t = 0, tau, ..., T``."""
        return int(round(self.T / self.tau)) + 1

    @property
    def times(self):
        """Times of the steps in ms, float64, shape ``(n_steps,)``."""
        return np.arange(self.n_steps) * self.tau

    def input(self):
        """The input current at each step (mV/ms), float64, shape ``(n_steps,)``."""
        return np.asarray(self.current(self.times), np.float64)

    def with_neuron(self, a, b, c, d):
        """The same protocol for another neuron (``u0 = b v0`` unless the panel fixes ``u0``)."""
        u0 = self.u0 if self.label == "R" else b * self.v0
        return self._replace(a=a, b=b, c=c, d=d, u0=u0)


def _step(t, t1, amp, base=0.0):
    return np.where(t > t1, amp, base)


def _pulses(t, starts, width, amp, base=0.0):
    on = np.zeros(t.shape, bool)
    for s in starts:
        on |= (t > s) & (t < s + width)
    return np.where(on, amp, base)


def _accommodation(t):
    return np.where(t < 200, t / 25, np.where(t < 300, 0.0,
                    np.where(t < 312.5, (t - 300) / 12.5 * 4, 0.0)))


def _threshold_variability(t):
    exc = ((t > 10) & (t < 15)) | ((t > 80) & (t < 85))
    return np.where(exc, 1.0, np.where((t > 70) & (t < 75), -6.0, 0.0))


def _p(label, name, a, b, c, d, v0, tau, T, current, u0=None, **kw):
    return Protocol(label, name, a, b, c, d, v0, b * v0 if u0 is None else u0, tau, T, current, **kw)


def _inhibition_step(t):
    return np.where((t < 50) | (t > 250), 80.0, 75.0)


PROTOCOLS = (
    _p("A", "tonic spiking", 0.02, 0.2, -65, 6, -70, 0.25, 100, lambda t: _step(t, 10, 14)),
    _p("B", "phasic spiking", 0.02, 0.25, -65, 6, -64, 0.25, 200, lambda t: _step(t, 20, 0.5)),
    _p("C", "tonic bursting", 0.02, 0.2, -50, 2, -70, 0.25, 220, lambda t: _step(t, 22, 15)),
    _p("D", "phasic bursting", 0.02, 0.25, -55, 0.05, -64, 0.2, 200, lambda t: _step(t, 20, 0.6)),
    _p("E", "mixed mode", 0.02, 0.2, -55, 4, -70, 0.25, 160, lambda t: _step(t, 16, 10)),
    _p("F", "spike frequency adaptation", 0.01, 0.2, -65, 8, -70, 0.25, 85,
       lambda t: _step(t, 8.5, 30)),
    _p("G", "Class 1 excitable", 0.02, -0.1, -55, 6, -60, 0.25, 300,
       lambda t: np.where(t > 30, 0.075 * (t - 30), 0.0), k1=4.1, k0=108.0),
    _p("H", "Class 2 excitable", 0.2, 0.26, -65, 0, -64, 0.25, 300,
       lambda t: np.where(t > 30, -0.5 + 0.015 * (t - 30), -0.5)),
    _p("I", "spike latency", 0.02, 0.2, -65, 6, -70, 0.2, 100,
       lambda t: _pulses(t, [10], 3, 7.04)),
    _p("J", "subthreshold oscillations", 0.05, 0.26, -60, 0, -62, 0.25, 200,
       lambda t: _pulses(t, [20], 5, 2)),
    _p("K", "resonator", 0.1, 0.26, -60, -1, -62, 0.25, 400,
       lambda t: _pulses(t, [40, 60, 280, 320], 4, 0.65)),
    _p("L", "integrator", 0.02, -0.1, -55, 6, -60, 0.25, 100,
       lambda t: _pulses(t, [100 / 11, 100 / 11 + 5, 70, 80], 2, 9), k1=4.1, k0=108.0),
    _p("M", "rebound spike", 0.03, 0.25, -60, 4, -64, 0.2, 200, lambda t: _pulses(t, [20], 5, -15)),
    _p("N", "rebound burst", 0.03, 0.25, -52, 0, -64, 0.2, 200, lambda t: _pulses(t, [20], 5, -15)),
    _p("O", "threshold variability", 0.03, 0.25, -60, 4, -64, 0.25, 100, _threshold_variability),
    _p("P", "bistability", 0.1, 0.26, -60, 0, -61, 0.25, 300,
       lambda t: _pulses(t, [300 / 8, 216], 5, 1.24, base=0.24)),
    _p("Q", "depolarizing after-potential", 1, 0.2, -60, -21, -70, 0.1, 50,
       lambda t: np.where(np.abs(t - 10) < 1, 20.0, 0.0)),
    _p("R", "accommodation", 0.02, 1, -55, 4, -65, 0.5, 400, _accommodation, u0=-16.0,
       leak=0.0, v_shift=65.0),
    _p("S", "inhibition-induced spiking", -0.02, -1, -60, 8, -63.8, 0.5, 350, _inhibition_step),
    _p("T", "inhibition-induced bursting", -0.026, -1, -45, -2, -63.8, 0.5, 350, _inhibition_step),
)
"""The 20 panels of Izhikevich (2004) Fig. 1, in order A-T, as figure1.m sets them."""

FEATURES = tuple(p.name for p in PROTOCOLS)


def protocol(which):
    """A panel by letter (``"C"``) or feature name (``"tonic bursting"``), case-insensitive."""
    key = str(which).strip().lower()
    for p in PROTOCOLS:
        if key in (p.label.lower(), p.name.lower()):
            return p
    raise ValueError(f"unknown pattern {which!r}; expected a letter A-T or one of {FEATURES}")


@dataclasses.dataclass(frozen=True)
class Batch:
    """A batch of panels as arrays, one entry per neuron (a pytree; every field may be traced).

    Attributes:
        a, b, c, d, v0, u0: neuron parameters and initial state, shape ``(n,)``.
        dt: step length of each neuron, ms, shape ``(n,)``.
        k1, k0, leak, v_shift: equation coefficients (see :class:`Protocol`), shape ``(n,)``.
        inputs: input current, mV/ms, time-major ``(T_max, n)``, zero-padded after a protocol ends.
        n_steps: steps of each protocol, int32 ``(n,)``; the neuron is frozen after them.
    """

    a: jax.Array
    b: jax.Array
    c: jax.Array
    d: jax.Array
    v0: jax.Array
    u0: jax.Array
    dt: jax.Array
    k1: jax.Array
    k0: jax.Array
    leak: jax.Array
    v_shift: jax.Array
    inputs: jax.Array
    n_steps: jax.Array


_FIELDS = ("a", "b", "c", "d", "v0", "u0", "dt", "k1", "k0", "leak", "v_shift", "inputs", "n_steps")
jax.tree_util.register_dataclass(Batch, data_fields=list(_FIELDS), meta_fields=[])


def batch(protocols, dtype=None):
    """Stack protocols into a :class:`Batch` (inputs padded with zeros to the longest).

    Args:
        protocols: sequence of :class:`Protocol`.
        dtype: float dtype (default JAX's default float).
    """
    if dtype is not None:
        try:
            ok = jnp.issubdtype(dtype, jnp.floating)
        except TypeError:
            ok = False
        if not ok:
            raise TypeError(f"dtype must be a floating dtype (float32, float64...), got {dtype!r}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    protocols = list(protocols)
    if not protocols:
        raise ValueError("need at least one protocol")
    longest = max(p.n_steps for p in protocols)
    inputs = np.zeros((longest, len(protocols)))
    for j, p in enumerate(protocols):
        inputs[:p.n_steps, j] = p.input()
    col = lambda f: jnp.asarray([float(getattr(p, f)) for p in protocols], dtype)
    return Batch(a=col("a"), b=col("b"), c=col("c"), d=col("d"), v0=col("v0"), u0=col("u0"),
                 dt=col("tau"), k1=col("k1"), k0=col("k0"), leak=col("leak"),
                 v_shift=col("v_shift"), inputs=jnp.asarray(inputs, dtype),
                 n_steps=jnp.asarray([p.n_steps for p in protocols], jnp.int32))


MODEL = Izhikevich2004(v_peak=V_PEAK, inclusive=False)
"""figure1.m's neuron: the 2004 coefficients per neuron, a strict ``v > 30`` threshold."""
CONFIG = Config(dt=1.0, integrator=SemiImplicit(), noise="none", threshold_grad="voltage",
                reset_grad=True, synapse_grad=True)
"""figure1.m's loop: semi-implicit steps of ``time_scale = tau`` each; the plain surrogate
formulation (gradient through the voltage, the reset and everything else)."""


def network(batch):
    """The batch as a :class:`izhijax.Network`: one population ``"panels"``, no projections."""
    params = {"a": batch.a, "b": batch.b, "c": batch.c, "d": batch.d, "k1": batch.k1,
              "k0": batch.k0, "leak": batch.leak, "v_shift": batch.v_shift,
              "time_scale": batch.dt}
    zeros = jnp.zeros_like(batch.a)
    pop = Population(name="panels", model=MODEL, params=params, noise_amp=zeros, bias=zeros,
                     initial={"v": batch.v0, "u": batch.u0})
    return Network(populations=(pop,), projections=(), config=CONFIG)


def integrate_batch(batch):
    """Run every neuron of a batch through its protocol: one run of the engine (not jitted).

    Args:
        batch: :class:`Batch`.

    Returns:
        ``(v, u, spikes)``, time-major ``(T_max, n)``: ``v`` as figure1.m records it (after the
        update; 30 mV at a spike), ``u`` after the reset, spikes as 0/1 floats (differentiable
        through the surrogate). Entries past a neuron's ``n_steps`` continue its run with zero
        input (:func:`run` drops them).
    """
    net = network(batch)
    n = batch.a.shape[0]
    every = jnp.arange(n, dtype=jnp.int32)
    _, out = engine.run(net, jax.random.key(0), init_state(net), batch.inputs, every, every,
                        n_steps=batch.inputs.shape[0], record_spikes=True, differentiable=True)
    s = out.spikes
    trace = jnp.where(s > 0, jnp.asarray(V_PEAK, out.v.dtype), out.v)
    return trace, out.u + s * batch.d, s


_integrate_jit = jax.jit(integrate_batch)


@dataclasses.dataclass(frozen=True)
class Trace:
    """One panel's result, NumPy arrays.

    Attributes:
        protocol: the :class:`Protocol` that was run.
        t: times, ms, shape ``(n_steps,)``.
        v: membrane potential (30 at a spike), mV, shape ``(n_steps,)``.
        u: recovery variable, shape ``(n_steps,)``.
        i: input current, mV/ms, shape ``(n_steps,)``.
        spikes: spike steps, bool, shape ``(n_steps,)``.
    """

    protocol: Protocol
    t: np.ndarray
    v: np.ndarray
    u: np.ndarray
    i: np.ndarray
    spikes: np.ndarray

    @property
    def spike_times(self):
        """Times of the spikes, ms."""
        return self.t[self.spikes]


def run(protocols=PROTOCOLS, dtype=None):
    """Run panels of Fig. 1, all in one compiled call.

    Args:
        protocols: :class:`Protocol` objects, letters or feature names (default all 20, A-T).
        dtype: float dtype (default JAX's default float).

    Returns:
        list of :class:`Trace`, in the order given.
    """
    protocols = [p if isinstance(p, Protocol) else protocol(p) for p in protocols]
    b = batch(protocols, dtype)
    v, u, s = jax.device_get(_integrate_jit(b))
    return [Trace(p, p.times, v[:p.n_steps, j], u[:p.n_steps, j], p.input(),
                  s[:p.n_steps, j] > 0) for j, p in enumerate(protocols)]
