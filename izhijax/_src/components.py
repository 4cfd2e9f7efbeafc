"""The open components of a network: neuron models, integrators and noise sources, as small objects.

Each is a frozen dataclass of static settings (hashable, so it can sit in a static :class:`Config`
or a :class:`Population` without being traced); the arrays it works on come from the network's
pytree. New kinds are written as subclasses and need no change anywhere else:

``NeuronModel``
    state variables (``state_names``, the first is the membrane potential in mV), per-neuron
    parameters (``param_names``, ``defaults``, ``presets``), the vector field, the threshold and
    the reset. :class:`izhijax.Izhikevich2003` and :class:`izhijax.Izhikevich2007` are two.
``Integrator``
    one step of length ``dt`` of any model's vector field: :class:`Euler`,
    :class:`IzhikevichHalfSteps` (net.m), :class:`SemiImplicit` (PymoNNto, figure1.m).
``NoiseSource``
    the unit noise of every neuron at every step, a function of ``(key, t, neuron)`` alone:
    :class:`NormalNoise`, :class:`UniformNoise`, :class:`NoNoise`.

Strings (``"euler"``, ``"normal"``) are accepted wherever a component is, and looked up in
:data:`INTEGRATORS` and :data:`NOISES`.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class NeuronModel:
    """Base of neuron models: a point neuron with state ``state_names`` and per-neuron parameters.

    Subclasses set the class attributes and implement the four methods; every method is
    elementwise ``jax.numpy`` on arrays of shape ``(n,)`` (no Python control flow on values) so the
    engine can ``jit``, ``vmap`` and differentiate it.

    Attributes:
        inclusive: spike where :meth:`threshold` is ``>= 0`` (True) or ``> 0`` (False).
    """

    state_names: ClassVar[tuple] = ("v", "u")
    """Names of the state variables; the first is the membrane potential in mV."""
    param_names: ClassVar[tuple] = ()
    """Names of the per-neuron parameters."""
    defaults: ClassVar[dict] = {}
    """Default value of each parameter (those without one must be given)."""
    presets: ClassVar[dict] = {}
    """Named parameter sets, ``name -> {param: value}``."""
    current_unit: ClassVar[str] = "mV/ms"
    """Unit of the input current (synaptic pulses, noise, bias, external input)."""

    inclusive: bool = True

    def initial_state(self, params, v0):
        """The state at ``t = 0`` from the initial membrane potential ``v0`` (mV), ``{name: (n,)}``."""
        raise NotImplementedError

    def vector_field(self, state, params, current):
        """Time derivatives (per ms) of every state variable, ``{name: (n,)}``.

        Args:
            state: ``{name: (n,)}``.
            params: ``{param: (n,)}``.
            current: input current held over the step, ``(n,)``, in :attr:`current_unit`.
        """
        raise NotImplementedError

    def threshold(self, state, params):
        """Distance past the spike threshold (mV), ``(n,)``: a spike where it is ``>= 0``."""
        raise NotImplementedError

    def reset(self, state, params, s):
        """The state after the spikes ``s`` (0/1 floats ``(n,)``), written to be differentiable."""
        raise NotImplementedError

    def preset(self, name):
        """Parameters of a named preset (case-insensitive), ``{param: value}``."""
        for key, values in self.presets.items():
            if key.lower() == str(name).lower():
                return dict(values)
        raise ValueError(f"unknown preset {name!r} of {type(self).__name__}; expected one of "
                         f"{sorted(self.presets)}")


def reset_to(v, s, c):
    """``v + s (c - v)`` with the forward value exactly ``c`` where ``s == 1`` and ``v`` elsewhere.

    The gradient is the arithmetic form's (it flows into ``s``, ``v`` and ``c``); its value alone
    could miss ``c`` by a rounding error.
    """
    smooth = v + s * (c - v)
    exact = jnp.where(s > 0, c, v)
    return jax.lax.stop_gradient(exact) + (smooth - jax.lax.stop_gradient(smooth))


_MODELS = {}


def register_model(cls):
    """Allow files to hold populations of the neuron model ``cls`` (a :class:`izhijax.NeuronModel`
    dataclass); usable as a class decorator.

    A model is saved by its class name and its dataclass fields (JSON: numbers, strings, bools,
    ``None`` and tuples of them) and rebuilt from this registry, so a file never names code to
    import. Registering another class of the same name replaces it.
    """
    if not (isinstance(cls, type) and issubclass(cls, NeuronModel)
            and dataclasses.is_dataclass(cls)):
        raise TypeError(f"register_model expects a NeuronModel dataclass, got {cls!r}")
    _MODELS[cls.__name__] = cls
    return cls


def models():
    """The neuron models files may hold, ``{class name: class}``."""
    return dict(_MODELS)


# --- integrators -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Integrator:
    """One step of length ``dt`` of a model's vector field (before threshold and reset)."""

    name: ClassVar[str] = ""

    def step(self, model, state, params, current, dt, guard):
        """The state after one step.

        Args:
            model: the :class:`NeuronModel`.
            state, params: ``{name: (n,)}`` dicts.
            current: input current of the step, ``(n,)``.
            dt: step length in ms (static float).
            guard: ``guard(state) -> state`` applied to the state that later variables read after
                the first one was updated (the engine's gradient guard on the overshoot; identity
                values).
        """
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Euler(Integrator):
    """Forward Euler: every variable from the old state at once (Brian2's ``method="euler"``)."""

    name: ClassVar[str] = "euler"

    def step(self, model, state, params, current, dt, guard):
        f = model.vector_field(state, params, current)
        return {k: state[k] + dt * f[k] for k in model.state_names}


def _rest(model, state, params, current, dt, guard):
    """The variables after the first, one after the other, each reading the ones updated before."""
    first = model.state_names[0]
    new = dict(state)
    for k in model.state_names[1:]:
        seen = guard(new)
        seen = {**new, first: seen[first]}
        new[k] = new[k] + dt * model.vector_field(seen, params, current)[k]
    return new


@dataclasses.dataclass(frozen=True)
class SemiImplicit(Integrator):
    """``v += dt f_v``, then each other variable from the new ``v`` (PymoNNto, figure1.m)."""

    name: ClassVar[str] = "semi-implicit"

    def step(self, model, state, params, current, dt, guard):
        v = model.state_names[0]
        new = {**state, v: state[v] + dt * model.vector_field(state, params, current)[v]}
        return _rest(model, new, params, current, dt, guard)


@dataclasses.dataclass(frozen=True)
class IzhikevichHalfSteps(Integrator):
    """Izhikevich's net.m: ``v`` by two half steps ``dt/2`` ("for numerical stability"), then the
    other variables from the new ``v``."""

    name: ClassVar[str] = "izhikevich"

    def step(self, model, state, params, current, dt, guard):
        v, half = model.state_names[0], 0.5 * dt
        new = dict(state)
        for _ in range(2):
            new[v] = new[v] + half * model.vector_field(new, params, current)[v]
        return _rest(model, new, params, current, dt, guard)


INTEGRATORS = {cls.name: cls for cls in (Euler, IzhikevichHalfSteps, SemiImplicit)}
"""Integrators by name: ``"euler"``, ``"izhikevich"``, ``"semi-implicit"``."""


# --- noise -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoiseSource:
    """Unit noise per neuron and step, scaled by each neuron's ``noise_amp``.

    ``kind`` names the draw (``jax.random.normal`` or ``uniform`` of ``fold_in(key, t)``), which the
    engine draws in blocks of steps bit for bit (:mod:`izhijax._src.threefry`).
    """

    kind: ClassVar[str] = "none"

    def unit(self, key, t, shape, dtype):
        """The unit noise of step ``t``, a function of ``(key, t)`` alone."""
        draw = jax.random.normal if self.kind == "normal" else jax.random.uniform
        return draw(jax.random.fold_in(key, t), shape, dtype)


@dataclasses.dataclass(frozen=True)
class NormalNoise(NoiseSource):
    """``amp * randn`` per step (Brian2's and net.m's thalamic input)."""

    kind: ClassVar[str] = "normal"


@dataclasses.dataclass(frozen=True)
class UniformNoise(NoiseSource):
    """``amp * U(0, 1)`` per step (PymoNNto's)."""

    kind: ClassVar[str] = "uniform"


@dataclasses.dataclass(frozen=True)
class NoNoise(NoiseSource):
    """No noise."""

    kind: ClassVar[str] = "none"


NOISES = {cls.kind: cls for cls in (NormalNoise, UniformNoise, NoNoise)}
"""Noise sources by name: ``"normal"``, ``"uniform"``, ``"none"``."""


# --- plasticity --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plasticity:
    """The protocol of a learning rule of a projection's weights (``Projection.plasticity``).

    A rule works on a projection with :class:`izhijax.connectivity.Delayed` weights. The weights
    that learn, and the rule's traces, live in the state (``state.synapses[k]``, one dict per
    projection; ``"w"`` is the learned weights, shaped as ``Delayed.w``)::

        syn = rule.init(weights)                                  # at t = 0
        syn = rule.on_arrival(syn, weights, arrivals, t, dt)      # step t, before the update
        syn = rule.after_step(syn, weights, pre, post, t, key, dt)  # step t, after the reset

    ``arrivals`` says which synapses deliver at step ``t``
    (:class:`izhijax._src.delays.Arrivals`); ``pre`` and ``post`` are the step's spikes of the
    source and the target (0/1 floats); ``t`` the step index, ``key`` the run's key, ``dt`` the
    step in ms. The rules that ship (:mod:`izhijax.plasticity`) are built from traces, an
    eligibility and a consolidation; learning is not differentiated (the weights' updates carry
    no gradient).
    """

    def init(self, weights):
        raise NotImplementedError

    def on_arrival(self, syn, weights, arrivals, t, dt):
        raise NotImplementedError

    def after_step(self, syn, weights, pre, post, t, key, dt):
        raise NotImplementedError

    def check(self, weights, where):
        """Refuse weights this rule cannot learn (raises ``ValueError`` naming ``where``)."""


def resolve(value, registry, what):
    """A component given as an object (returned) or a registered name (instantiated)."""
    if isinstance(value, str):
        if value not in registry:
            raise ValueError(f"{what} must be one of {tuple(registry)} or a component object, "
                             f"got {value!r}")
        return registry[value]()
    return value
