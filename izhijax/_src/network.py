"""The network as pytrees, and the pure step.

``Params`` holds everything that can be fitted or swept (traced arrays) plus a static ``Config`` of the
settings that change the compiled program. ``State`` is what a step carries forward. ``step`` is pure:
``step(state, params, key) -> (state, spikes)``.

One step ``t`` (Brian2's schedule, which net.m and PymoNNto share up to where they label a spike)::

    I     = pending synaptic pulse + noise(key, t) + bias + I_ext[t]
    v, u  = integrate(v, u, I)                       # euler | izhikevich | semi-implicit
    s     = H(v - v_peak)                            # recorded as the spikes of step t
    v, u  = v + s (c - v), u + s d                   # reset
    pulse = W s                                      # reaches the update of step t + delay

The synaptic pulse lasts one step and is gone after it, as in the seeds (Brian2's ``I += w`` then
``I -= w`` 1 ms later; net.m's ``I = I + sum(S(:, fired), 2)``).
"""

import dataclasses
import math
import numbers
from typing import Optional

import jax
import jax.numpy as jnp

from . import connectivity
from .neuron import INTEGRATORS, integrate, reset
from .surrogate import SURROGATES, spike, spike_per_rise

NOISE_KINDS = ("normal", "uniform", "none")
THRESHOLD_GRADS = ("crossing", "voltage")
MIN_RISE = 1.0
"""Floor (mV) of the per-step rise of v that normalises the crossing-time surrogate."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings: changing one recompiles; all hashable.

    Attributes:
        dt: step length in ms.
        integrator: ``"euler"``, ``"izhikevich"`` or ``"semi-implicit"`` (see :mod:`izhijax.neuron`).
        v_peak: spike threshold / cut-off in mV (30 in every seed).
        inclusive: spike at ``v >= v_peak`` (Brian2, net.m) if True, at ``v > v_peak`` (PymoNNto) if False.
        delay: synaptic delay in steps between the update whose spikes emit a pulse and the update it
            enters: 1 in Brian2 and net.m, 2 in PymoNNto (its input behaviour runs after the neuron
            update, so the pulse waits one more step).
        noise: thalamic noise per step: ``"normal"`` (``amp * randn``, Brian2 and net.m),
            ``"uniform"`` (``amp * U(0, 1)``, PymoNNto) or ``"none"``.
        surrogate: surrogate derivative of the spike function, a key of ``izhijax.surrogate.SURROGATES``.
        surrogate_scale: its inverse width: in 1/step with ``threshold_grad="crossing"``, in 1/mV
            with ``"voltage"``.
        threshold_grad: what the surrogate sees (backward only, spikes are the same):
            ``"crossing"`` (default) the time since the threshold crossing in steps,
            ``(v - v_peak) / max(v - v_before, 1 mV)``; ``"voltage"`` the distance ``v - v_peak`` in
            mV (the plain formulation). See :mod:`izhijax.surrogate` for why.
        reset_grad: keep the gradient through the reset, ``v + s (c - v)``, ``u + s d`` (False, the
            default, stops it as snnTorch's detached reset; with ``"crossing"`` a spike then also
            ends the backward path of ``u``: ``u + d`` depends on ``d`` only; forward unchanged).
        synapse_grad: keep the gradient through the spikes a neuron sends to the others (False, the
            default, treats them as given input in the backward pass; forward unchanged).
        n_exc: the first ``n_exc`` neurons are excitatory (for summaries and plots); None means all.
    """

    dt: float = 1.0
    integrator: str = "euler"
    v_peak: float = 30.0
    inclusive: bool = True
    delay: int = 1
    noise: str = "normal"
    surrogate: str = "fast_sigmoid"
    surrogate_scale: float = 1.0
    threshold_grad: str = "crossing"
    reset_grad: bool = False
    synapse_grad: bool = False
    n_exc: Optional[int] = None

    def __post_init__(self):
        for name in ("dt", "v_peak", "surrogate_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise ValueError(f"Config.{name} must be a finite number, got {value!r}")
        if not self.dt > 0:
            raise ValueError(f"Config.dt must be > 0 ms, got {self.dt!r}")
        if not self.surrogate_scale > 0:
            raise ValueError(f"Config.surrogate_scale must be > 0 1/mV, got {self.surrogate_scale!r}")
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"Config.integrator must be one of {INTEGRATORS}, got {self.integrator!r}")
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"Config.noise must be one of {NOISE_KINDS}, got {self.noise!r}")
        if self.surrogate not in SURROGATES:
            raise ValueError(
                f"Config.surrogate must be one of {tuple(SURROGATES)}, got {self.surrogate!r}")
        if self.threshold_grad not in THRESHOLD_GRADS:
            raise ValueError(f"Config.threshold_grad must be one of {THRESHOLD_GRADS}, "
                             f"got {self.threshold_grad!r}")
        if isinstance(self.delay, bool) or not isinstance(self.delay, numbers.Integral) \
                or self.delay < 1:
            raise ValueError(f"Config.delay must be an integer >= 1 step, got {self.delay!r}")
        if self.n_exc is not None and (isinstance(self.n_exc, bool) or not isinstance(
                self.n_exc, numbers.Integral) or self.n_exc < 0):
            raise ValueError(f"Config.n_exc must be None or an integer >= 0, got {self.n_exc!r}")
        for name in ("inclusive", "reset_grad", "synapse_grad"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Config.{name} must be True or False, got {getattr(self, name)!r}")

    def replace(self, **changes):
        """A copy with some settings changed (``config.replace(integrator="izhikevich")``)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Params:
    """Network parameters, a pytree; every array field may be traced, swept or fitted.

    Attributes:
        a: recovery time scale (1/ms), shape ``(n,)``.
        b: recovery sensitivity to v, shape ``(n,)``.
        c: after-spike reset of v (mV), shape ``(n,)``.
        d: after-spike increment of u (mV/ms), shape ``(n,)``.
        weights: synaptic weights ``W[post, pre]`` (mV/ms per spike), dense ``(n, n)``, or an
            event-driven / sparse pytree of :mod:`izhijax.connectivity` (propagation dispatches on it).
        noise_amp: amplitude of the per-step thalamic noise (mV/ms), shape ``(n,)``.
        bias: constant input current (mV/ms), shape ``(n,)``.
        v0: initial membrane potential (mV), shape ``(n,)``.
        u0: initial recovery variable, shape ``(n,)``.
        config: static :class:`Config`.
    """

    a: jax.Array
    b: jax.Array
    c: jax.Array
    d: jax.Array
    weights: jax.Array
    noise_amp: jax.Array
    bias: jax.Array
    v0: jax.Array
    u0: jax.Array
    config: Config = Config()

    @property
    def n(self):
        """Number of neurons."""
        return self.a.shape[-1]

    def replace(self, **changes):
        """A copy with some fields replaced, e.g. ``params.replace(bias=5.0)``.

        Per-neuron fields given as scalars (or any broadcastable array) are broadcast to ``(n,)``
        in the field's current dtype, so a replaced value keeps shapes and dtypes (and therefore
        the compiled program) unchanged. Traced values pass through as they are.
        """
        for name, value in changes.items():
            if name in _VECTOR_FIELDS and not isinstance(value, jax.core.Tracer):
                old = getattr(self, name)
                value = jnp.asarray(value, dtype=old.dtype)
                if value.shape != old.shape:
                    try:
                        value = jnp.broadcast_to(value, old.shape)
                    except ValueError:
                        raise ValueError(f"{name} must be a scalar or have shape {old.shape}, "
                                         f"got {value.shape}") from None
                changes[name] = value
        return dataclasses.replace(self, **changes)


_VECTOR_FIELDS = ("a", "b", "c", "d", "noise_amp", "bias", "v0", "u0")
_ARRAY_FIELDS = ("a", "b", "c", "d", "weights", "noise_amp", "bias", "v0", "u0")
jax.tree_util.register_dataclass(Params, data_fields=list(_ARRAY_FIELDS), meta_fields=["config"])


@dataclasses.dataclass(frozen=True)
class State:
    """What one step carries to the next.

    Attributes:
        v: membrane potential after the reset (mV), shape ``(n,)``.
        u: recovery variable after the reset, shape ``(n,)``.
        pulse: synaptic pulses in flight (mV/ms), shape ``(delay, n)``; row 0 enters the next update.
        t: index of the next step (int32 scalar); the noise of step ``t`` is drawn from
            ``fold_in(key, t)``, so a run resumed from a state continues the same noise.
    """

    v: jax.Array
    u: jax.Array
    pulse: jax.Array
    t: jax.Array

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


jax.tree_util.register_dataclass(State, data_fields=["v", "u", "pulse", "t"], meta_fields=[])


def make_params(a, b, c, d, weights, *, noise_amp=0.0, bias=0.0, v0=-65.0, u0=None,
                config=None, dtype=None):
    """Build :class:`Params` from arrays or scalars, broadcasting scalars to ``(n,)``.

    Args:
        a, b, c, d: neuron parameters, scalars or shape ``(n,)``; ``n`` is taken from ``weights``.
        weights: ``W[post, pre]``, shape ``(n, n)``, or a :mod:`izhijax.connectivity` format
            (:class:`~izhijax.connectivity.EventDense`, :class:`~izhijax.connectivity.Sparse`).
        noise_amp, bias, v0: scalars or shape ``(n,)``.
        u0: initial recovery variable; default ``b * v0`` (as in every seed).
        config: :class:`Config`; default ``Config()``.
        dtype: floating dtype of every array; default the JAX default float (float32, or float64
            with ``jax_enable_x64``).

    Returns:
        :class:`Params`.
    """
    if isinstance(weights, connectivity.FORMATS):
        if connectivity.n_pre(weights) != connectivity.n_post(weights):
            raise ValueError("weights must connect the network to itself (n_pre == n_post)")
        dtype = weights.dtype
    else:
        weights = jnp.asarray(weights, dtype=dtype)
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
            raise ValueError(f"weights must have shape (n, n), got {weights.shape}")
        if not jnp.issubdtype(weights.dtype, jnp.floating):
            weights = weights.astype(jnp.result_type(float))
        dtype = weights.dtype
    n = connectivity.n_post(weights)

    def vec(name, x):
        x = jnp.asarray(x, dtype=dtype)
        if x.ndim == 0:
            return jnp.full((n,), x, dtype)
        if x.shape != (n,):
            raise ValueError(f"{name} must be a scalar or have shape ({n},), got {x.shape}")
        return x

    b = vec("b", b)
    v0 = vec("v0", v0)
    u0 = b * v0 if u0 is None else vec("u0", u0)
    from .validate import check_params
    return check_params(Params(
        a=vec("a", a), b=b, c=vec("c", c), d=vec("d", d), weights=weights,
        noise_amp=vec("noise_amp", noise_amp), bias=vec("bias", bias), v0=v0, u0=u0,
        config=Config() if config is None else config))


def init_state(params):
    """The state at ``t = 0``: ``v = v0``, ``u = u0``, no pulse in flight.

    Args:
        params: :class:`Params`.

    Returns:
        :class:`State` with arrays of ``params``' dtype.
    """
    v0 = jnp.asarray(params.v0)
    return State(v=v0, u=jnp.asarray(params.u0, v0.dtype),
                 pulse=jnp.zeros((params.config.delay,) + v0.shape, v0.dtype),
                 t=jnp.zeros((), jnp.int32))


def unit_noise(key, t, shape, dtype, kind):
    """Unit noise of step ``t`` (``randn`` or ``U(0, 1)``), drawn from ``fold_in(key, t)`` alone.

    Args:
        key: PRNG key of the run.
        t: step index (int scalar, may be traced; vmap over it to draw a block of steps).
        shape, dtype: of the draw, e.g. ``(n,)`` and the network's float dtype.
        kind: ``"normal"`` or ``"uniform"`` (static).

    Returns:
        Array of ``shape``; the same bits whether drawn one step at a time or in a vmapped block.
    """
    draw = jax.random.normal if kind == "normal" else jax.random.uniform
    return draw(jax.random.fold_in(key, t), shape, dtype)


def noise(key, t, amp, kind):
    """Thalamic noise of step ``t``: a function of ``(key, t)`` alone.

    Args:
        key: PRNG key of the run.
        t: step index (int scalar, may be traced).
        amp: amplitude per neuron (mV/ms), shape ``(n,)``.
        kind: ``"normal"``, ``"uniform"`` or ``"none"`` (static).

    Returns:
        The noise current, shape ``(n,)``, dtype of ``amp``.
    """
    if kind == "none":
        return jnp.zeros_like(amp)
    return amp * unit_noise(key, t, amp.shape, amp.dtype, kind)


def advance(state, params, key, i_ext=None, z=None):
    """One step, returning also the pre-reset ``v`` and ``u`` (what Brian2 records 'after_thresholds').

    Args:
        state: :class:`State`.
        params: :class:`Params`.
        key: PRNG key of the run (the same key for every step).
        i_ext: optional external current of this step (mV/ms), shape ``(n,)``.
        z: optional unit noise of this step, ``unit_noise(key, state.t, ...)`` drawn ahead (e.g. in
            a block of steps by :func:`izhijax.simulate`); drawn here when ``None``.

    Returns:
        ``(state, spikes, v, u)``: the new state; spikes of this step as 0/1 floats ``(n,)``;
        ``v`` and ``u`` after the update and before the reset, ``(n,)``.
    """
    cfg = params.config
    if z is None or cfg.noise == "none":
        z_noise = noise(key, state.t, params.noise_amp, cfg.noise)
    else:
        z_noise = params.noise_amp * z
    current = state.pulse[0] + params.bias + z_noise
    if i_ext is not None:
        current = current + i_ext
    v, u = integrate(state.v, state.u, current, params.a, params.b, cfg.dt, cfg.integrator,
                     cfg.v_peak if cfg.threshold_grad == "crossing" else None)
    x = v - cfg.v_peak
    crossing = cfg.threshold_grad == "crossing"
    if crossing:  # steps since the crossing, x / rise: same sign, so the same spikes; the division
        # is in the backward pass only (see izhijax.surrogate)
        rise = jax.lax.stop_gradient(jnp.maximum(v - state.v, MIN_RISE))
        s = spike_per_rise(x, rise, cfg.surrogate, cfg.surrogate_scale, cfg.inclusive)
    else:
        s = spike(x, cfg.surrogate, cfg.surrogate_scale, cfg.inclusive)
    v_new, u_new = reset(v, u, s, params.c, params.d, cfg.reset_grad)
    if crossing and not cfg.reset_grad:  # a spike ends the backward path of u as it does v's
        u_new = u_new - jax.lax.stop_gradient(s) * (u - jax.lax.stop_gradient(u))
    sent = s if cfg.synapse_grad else jax.lax.stop_gradient(s)
    pulse = jnp.concatenate([state.pulse[1:], connectivity.propagate(params.weights, sent)[None]])
    return State(v=v_new, u=u_new, pulse=pulse, t=state.t + 1), s, v, u


def step(state, params, key, i_ext=None):
    """One time step of the network; pure, and jit-, vmap- and grad-able.

    Args:
        state: :class:`State` (from :func:`init_state` or a previous step).
        params: :class:`Params`.
        key: PRNG key of the run; the step draws its noise from ``fold_in(key, state.t)``.
        i_ext: optional external current of this step (mV/ms), shape ``(n,)``.

    Returns:
        ``(state, spikes)``: the next state and this step's spikes, 0/1 floats of shape ``(n,)``
        (floats so that the surrogate gradient can flow through them).
    """
    state, s, _, _ = advance(state, params, key, i_ext)
    return state, s
