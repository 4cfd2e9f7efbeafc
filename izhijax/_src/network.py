"""The network as pytrees: populations of neurons, projections between them, static settings.

A :class:`Network` is named :class:`Population` s, each with its own neuron model (an object, e.g.
:class:`izhijax.Izhikevich2003`) and per-neuron parameters, and :class:`Projection` s that carry the
spikes of one group of populations to another, with weights in any registered format and an axonal
delay in steps. Neurons have one global index: the populations' neurons in order. A :class:`Config`
holds the settings that change the compiled program (step length, integrator, noise source,
surrogate gradient). Everything else is a traced array: new values never recompile.

One step ``t`` (Brian2's schedule, which net.m and PymoNNto share up to where they label a spike)::

    I     = pending synaptic pulse + noise_amp * noise(key, t) + bias + I_ext[t]
    x     = integrator.step(model, x, I)              # every population, its own model
    s     = H(threshold(x))                           # recorded as the spikes of step t
    x     = reset(x, s)
    pulse[delay - 1, target] += W s[source]           # each projection; reaches step t + delay

The synaptic pulse lasts one step and is gone after it, as in the seeds (Brian2's ``I += w`` then
``I -= w`` 1 ms later; net.m's ``I = I + sum(S(:, fired), 2)``).
"""

import dataclasses
import math
import numbers
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import connectivity
from .arrays import real_array
from .components import INTEGRATORS, NOISES, Integrator, NeuronModel, NoiseSource, resolve
from .neuron import Izhikevich2003
from .surrogate import (DEFAULT_GAIN, SURROGATES, SYNAPSE_GRAD_MEMORY, Surrogate,
                        as_surrogate, synapse_grad_gain)

THRESHOLD_GRADS = ("crossing", "voltage")
MIN_RISE = 1.0
"""Floor (mV) of the per-step rise of v that normalises the crossing-time surrogate."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings of a network: changing one recompiles; all hashable.

    Components may be given as objects or by name (``integrator="euler"`` is ``Euler()``); they are
    stored as objects.

    Attributes:
        dt: step length in ms.
        integrator: an :class:`izhijax.Integrator` (``Euler()``, ``IzhikevichHalfSteps()``,
            ``SemiImplicit()``) or its name (``"euler"``, ``"izhikevich"``, ``"semi-implicit"``).
        noise: an :class:`izhijax.NoiseSource` or its name: ``"normal"`` (``amp * randn`` per step,
            Brian2 and net.m), ``"uniform"`` (``amp * U(0, 1)``, PymoNNto) or ``"none"``.
        surrogate: an :class:`izhijax.Surrogate` (``FastSigmoid(1.0)``...) or its name, with
            ``surrogate_scale`` its inverse width (in 1/step with ``threshold_grad="crossing"``,
            in 1/mV with ``"voltage"``) and ``surrogate_gain`` its height, the peak of the
            surrogate derivative: by default 1, and with ``synapse_grad=True`` and
            ``threshold_grad="crossing"`` 1/4 (1/8 for the wider sigmoid(1)), where a peak of 1
            makes the backward pass through the synapses grow without bound (see
            :mod:`izhijax._src.surrogate`, "Calibrated height"). A surrogate object brings its own
            scale and gain.
        threshold_grad: what the surrogate sees (backward only, spikes are the same):
            ``"crossing"`` (default) the time since the threshold crossing in steps,
            ``x / max(v - v_before, 1 mV)``; ``"voltage"`` the distance ``x`` in mV (the plain
            formulation). See :mod:`izhijax._src.surrogate` for why.
        reset_grad: keep the gradient through the reset (False, the default, stops it as snnTorch's
            detached reset; with ``"crossing"`` a spike then also ends the backward path of the
            other state variables; forward unchanged).
        synapse_grad: keep the gradient through the spikes a neuron sends to the others (False,
            the default, treats them as given input in the backward pass; forward unchanged).
            True gives the network's feedback (one population's rate against the other's
            parameters); it needs a surrogate height below 1 and a forgetting backward pass
            (the defaults then are 1/4 for fast_sigmoid(1) and ``grad_memory`` 4 ms), and it
            is what :func:`izhijax.izhikevich2003` sets (measured on that network).
        grad_memory: time constant (ms) with which the backward pass forgets the gradient
            through the membrane potential: entering each step, ``v``'s derivative is multiplied
            by ``exp(-dt / grad_memory)`` (forward unchanged); ``math.inf`` keeps all of it.
            Default None: 4 ms with ``synapse_grad=True`` and ``threshold_grad="crossing"``,
            where it bounds the network's chaotic amplification in the backward pass, so that
            every key's gradient of a rate has the finite difference's sign; no forgetting
            otherwise (see :mod:`izhijax._src.surrogate`, "Forgetting").
        v_peak, inclusive, delay, n_exc: how :func:`make_params` builds a network from flat
            arrays: the :class:`izhijax.Izhikevich2003` model's cut-off (mV) and whether it spikes
            at ``v >= v_peak`` (Brian2, net.m) or ``v > v_peak`` (PymoNNto); the delay in steps of
            its one projection (1 in Brian2 and net.m, 2 in PymoNNto); and the split into
            populations ``"exc"`` (the first ``n_exc``) and ``"inh"`` (None: one population
            ``"neurons"``). A network built from populations carries its own.
    """

    dt: float = 1.0
    integrator: Integrator = "euler"
    v_peak: float = 30.0
    inclusive: bool = True
    delay: int = 1
    noise: NoiseSource = "normal"
    surrogate: Surrogate = "fast_sigmoid"
    surrogate_scale: float = 1.0
    surrogate_gain: Optional[float] = None
    threshold_grad: str = "crossing"
    reset_grad: bool = False
    synapse_grad: bool = False
    n_exc: Optional[int] = None
    grad_memory: Optional[float] = None

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)
        if self.surrogate_gain is None and not isinstance(self.surrogate, Surrogate):
            # peak 1, or with synapse_grad the calibrated height (izhijax._src.surrogate)
            gain = DEFAULT_GAIN
            if _calibrated(self) and isinstance(self.surrogate, str) \
                    and self.surrogate in SURROGATES \
                    and isinstance(self.surrogate_scale, numbers.Real) \
                    and math.isfinite(self.surrogate_scale) and self.surrogate_scale > 0:
                try:
                    gain = synapse_grad_gain(as_surrogate(self.surrogate, self.surrogate_scale))
                except ValueError as err:
                    raise ValueError(f"Config.surrogate_gain: {err}") from None
            set_("surrogate_gain", gain)
        elif self.surrogate_gain is None:
            set_("surrogate_gain", self.surrogate.gain)
        for name in ("dt", "v_peak", "surrogate_scale", "surrogate_gain"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise ValueError(f"Config.{name} must be a finite number, got {value!r}")
        if not self.dt > 0:
            raise ValueError(f"Config.dt must be > 0 ms, got {self.dt!r}")
        if not self.surrogate_scale > 0:
            raise ValueError(f"Config.surrogate_scale must be > 0, got {self.surrogate_scale!r}")
        if not self.surrogate_gain > 0:
            raise ValueError(f"Config.surrogate_gain must be > 0, got {self.surrogate_gain!r}")
        set_("integrator", resolve(self.integrator, INTEGRATORS, "Config.integrator"))
        set_("noise", resolve(self.noise, NOISES, "Config.noise"))
        if isinstance(self.surrogate, str) and not isinstance(self.surrogate, Surrogate):
            try:
                set_("surrogate", as_surrogate(self.surrogate, self.surrogate_scale,
                                               self.surrogate_gain))
            except ValueError as err:
                raise ValueError(f"Config.{err}") from None
        for name, kind in (("integrator", Integrator), ("noise", NoiseSource),
                           ("surrogate", Surrogate)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"Config.{name} must be a {kind.__name__} or its name, got "
                                 f"{getattr(self, name)!r}")
        set_("surrogate_scale", float(self.surrogate.scale))
        set_("surrogate_gain", float(self.surrogate.gain))
        if self.threshold_grad not in THRESHOLD_GRADS:
            raise ValueError(f"Config.threshold_grad must be one of {THRESHOLD_GRADS}, "
                             f"got {self.threshold_grad!r}")
        if isinstance(self.delay, bool) or not isinstance(self.delay, numbers.Integral) \
                or self.delay < 1:
            raise ValueError(f"Config.delay must be an integer >= 1 step, got {self.delay!r}")
        if self.n_exc is not None and (isinstance(self.n_exc, bool) or not isinstance(
                self.n_exc, numbers.Integral) or self.n_exc < 0):
            raise ValueError(f"Config.n_exc must be None or an integer >= 0, got {self.n_exc!r}")
        if self.grad_memory is None:      # izhijax._src.surrogate, "Forgetting"
            set_("grad_memory", _default_memory(self))
        if self.grad_memory is not None and (
                isinstance(self.grad_memory, bool) or not isinstance(self.grad_memory, numbers.Real)
                or not self.grad_memory > 0 or math.isnan(self.grad_memory)):
            raise ValueError(f"Config.grad_memory must be None, a time > 0 ms or math.inf, got "
                             f"{self.grad_memory!r}")
        for name in ("inclusive", "reset_grad", "synapse_grad"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Config.{name} must be True or False, got {getattr(self, name)!r}")

    def replace(self, **changes):
        """A copy with some settings changed (``config.replace(integrator="izhikevich")``).

        The gradient settings derive from each other as in a new ``Config``: changing
        ``synapse_grad``, ``threshold_grad``, ``surrogate`` or ``surrogate_scale`` rebuilds the
        surrogate from its name, scale and height, and a height or ``grad_memory`` that was the
        default of the old settings becomes the default of the new ones
        (``izj.izhikevich2003(key).config.replace(synapse_grad=False)`` is the plain setting:
        height 1, no forgetting; ``Config().replace(synapse_grad=True)`` gets height 1/4 and
        4 ms). A height or memory that differs from the default (given explicitly) is kept, as
        is a surrogate object of a class of your own.
        """
        if changes.keys() & _GRAD_SETTINGS:
            named = SURROGATES.get(getattr(self.surrogate, "name", None)) is type(self.surrogate)
            if named and "surrogate" not in changes:
                changes["surrogate"] = self.surrogate.name
            if named and "surrogate_gain" not in changes:
                changes["surrogate_gain"] = None if self.surrogate_gain == _default_gain(self) \
                    else self.surrogate_gain
            if "grad_memory" not in changes and self.grad_memory == _default_memory(self):
                changes["grad_memory"] = None
        return dataclasses.replace(self, **changes)


_GRAD_SETTINGS = frozenset(("synapse_grad", "threshold_grad", "surrogate", "surrogate_scale"))
"""The settings the default surrogate height and ``grad_memory`` derive from."""


def _calibrated(config):
    """Whether these settings get the calibrated height and memory by default."""
    return config.synapse_grad is True and config.threshold_grad == "crossing"


def _default_gain(config):
    """The height a new ``Config`` with these settings and no height would get."""
    if not _calibrated(config):
        return DEFAULT_GAIN
    try:
        return synapse_grad_gain(config.surrogate)
    except ValueError:          # straight_through: no default, the height was given
        return None


def _default_memory(config):
    """The ``grad_memory`` a new ``Config`` with these settings and none given would get."""
    return SYNAPSE_GRAD_MEMORY if _calibrated(config) else None


@dataclasses.dataclass(frozen=True)
class Population:
    """A group of neurons of one model: a pytree (the arrays are traced, name and model static).

    Build one with :func:`population`.

    Attributes:
        name: the population's name (static), unique in its network.
        model: its :class:`izhijax.NeuronModel` (static).
        params: ``{param: (size,)}``, the model's per-neuron parameters.
        noise_amp: noise amplitude per neuron, ``(size,)``, in the model's current unit.
        bias: constant input current per neuron, ``(size,)``, in the model's current unit.
        initial: ``{state variable: (size,)}``, the state at ``t = 0``.
    """

    name: str
    model: NeuronModel
    params: dict
    noise_amp: jax.Array
    bias: jax.Array
    initial: dict

    @property
    def size(self):
        return self.noise_amp.shape[-1]

    @property
    def dtype(self):
        return self.noise_amp.dtype

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


jax.tree_util.register_dataclass(Population, data_fields=["params", "noise_amp", "bias", "initial"],
                                 meta_fields=["name", "model"])


@dataclasses.dataclass(frozen=True)
class Projection:
    """Synapses from the neurons of ``source`` to those of ``target``: a pytree.

    Attributes:
        source, target: population names (static tuples; several names must be consecutive
            populations of the network, which then act as one block of neurons).
        weights: ``W[post, pre]`` in the target model's current unit per spike: a dense array of
            shape ``(n_target, n_source)`` or a registered format (:mod:`izhijax.connectivity`).
        delay: steps between the update whose spikes emit a pulse and the update it enters
            (static, >= 1).
        name: a name for the projection (static).
        plasticity: a learning rule of the weights (static, an :class:`izhijax.Plasticity` from
            :mod:`izhijax.plasticity`; needs :class:`izhijax.connectivity.Delayed` weights) or
            ``None`` (fixed weights). The learned weights live in ``State.synapses``.
    """

    source: tuple
    target: tuple
    weights: object
    delay: int = 1
    name: str = ""
    plasticity: object = None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


jax.tree_util.register_dataclass(Projection, data_fields=["weights"],
                                 meta_fields=["source", "target", "delay", "name", "plasticity"])


@dataclasses.dataclass(frozen=True)
class Network:
    """Populations, projections and static settings: the parameters of a run, a pytree.

    Every array may be traced, swept or fitted. Flat views over all neurons in global order are
    there for networks whose populations share a model: ``net.a``, ``net.noise_amp``, ``net.v0``...
    (any parameter, ``noise_amp``, ``bias``, ``v0``/``u0`` or other initial value) and
    ``net.weights`` (the weights of the only projection).

    Attributes:
        populations: tuple of :class:`Population`, in the order of the global neuron index.
        projections: tuple of :class:`Projection`.
        config: static :class:`Config`.
    """

    populations: tuple
    projections: tuple
    config: Config = Config()

    # -- structure --------------------------------------------------------------------------
    @property
    def n(self):
        """Number of neurons."""
        return sum(p.size for p in self.populations)

    @property
    def dtype(self):
        return self.populations[0].dtype

    @property
    def names(self):
        """Population names, in order."""
        return tuple(p.name for p in self.populations)

    def slices(self):
        """``{population name: (start, stop)}`` in the global neuron index."""
        out, start = {}, 0
        for p in self.populations:
            out[p.name] = (start, start + p.size)
            start += p.size
        return out

    def span(self, names):
        """``(start, stop)`` of a group of consecutive populations (a name or a tuple of names)."""
        names = (names,) if isinstance(names, str) else tuple(names)
        where = self.slices()
        for name in names:
            if name not in where:
                raise ValueError(f"no population {name!r}; the network has {self.names}")
        order = [self.names.index(n) for n in names]
        if order != list(range(order[0], order[0] + len(order))):
            raise ValueError(f"populations {names} must be consecutive, in network order "
                             f"{self.names}")
        return where[names[0]][0], where[names[-1]][1]

    def population(self, name):
        """The :class:`Population` called ``name``."""
        for p in self.populations:
            if p.name == name:
                return p
        raise ValueError(f"no population {name!r}; the network has {self.names}")

    def projection(self, name):
        """The :class:`Projection` called ``name``."""
        for p in self.projections:
            if p.name == name:
                return p
        raise ValueError(f"no projection {name!r}; the network has "
                         f"{tuple(p.name for p in self.projections)}")

    @property
    def max_delay(self):
        """Longest delay of the projections without per-synapse delays, in steps (1 without):
        the depth of ``State.pulse`` (:class:`izhijax.connectivity.Delayed` weights keep their
        own spike ring)."""
        from .delays import Delayed
        return max([p.delay for p in self.projections if not isinstance(p.weights, Delayed)]
                   + [1])

    # -- flat views ---------------------------------------------------------------------------
    def __getattr__(self, name):
        if name.startswith("_") or name in ("populations", "projections", "config"):
            raise AttributeError(name)
        return self.flat(name)

    def flat(self, field):
        """A per-neuron field over all neurons in global order, shape ``(n,)``.

        ``field``: ``"noise_amp"``, ``"bias"``, a model parameter (``"a"``), an initial value
        (``"v0"``, ``"u0"``, or the state variable's own name with a ``0``).
        """
        parts = [_field(p, field) for p in self.populations]
        if any(x is None for x in parts):
            missing = [p.name for p, x in zip(self.populations, parts) if x is None]
            raise AttributeError(f"{field!r} is not a per-neuron field of population(s) {missing} "
                                 f"(network fields: noise_amp, bias, model parameters, initial "
                                 f"values such as v0)")
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)

    @property
    def weights(self):
        """The weights of the network's only projection."""
        if len(self.projections) != 1:
            raise AttributeError(f"the network has {len(self.projections)} projections: use "
                                 f"net.projection(name).weights")
        return self.projections[0].weights

    def replace(self, **changes):
        """A copy with some fields replaced: ``net.replace(bias=5.0)``.

        Accepts ``populations``, ``projections``, ``config``, ``weights`` (of the only projection)
        and any flat per-neuron field (see :meth:`flat`) as a scalar or an ``(n,)`` array, split
        over the populations in the field's dtype (traced values pass through), so shapes and the
        compiled program stay unchanged.
        """
        net = self
        for name, value in changes.items():
            if name in ("populations", "projections", "config"):
                net = dataclasses.replace(net, **{name: value})
            elif name == "weights":
                if len(net.projections) != 1:
                    raise ValueError(f"weights= replaces the only projection's weights; the network "
                                     f"has {len(net.projections)}")
                net = dataclasses.replace(net, projections=(net.projections[0].replace(
                    weights=value),))
            else:
                net = net._replace_flat(name, value)
        return net

    def _replace_flat(self, field, value):
        old = self.flat(field)
        value = real_array(value, field, old.dtype)
        if jnp.shape(value) != old.shape:
            try:
                value = jnp.broadcast_to(value, old.shape)
            except ValueError:
                raise ValueError(f"{field} must be a scalar or have shape {old.shape}, "
                                 f"got {jnp.shape(value)}") from None
        pops, start = [], 0
        for p in self.populations:
            pops.append(_set_field(p, field, value[..., start:start + p.size]))
            start += p.size
        return dataclasses.replace(self, populations=tuple(pops))


jax.tree_util.register_dataclass(Network, data_fields=["populations", "projections"],
                                 meta_fields=["config"])

Params = Network
"""The name of :class:`Network` before populations (izhijax 0.1)."""


def _field(pop, field):
    if field in ("noise_amp", "bias"):
        return getattr(pop, field)
    if field in pop.params:
        return pop.params[field]
    if field.endswith("0") and field[:-1] in pop.initial:
        return pop.initial[field[:-1]]
    return None


def _set_field(pop, field, value):
    if field in ("noise_amp", "bias"):
        return pop.replace(**{field: value})
    if field in pop.params:
        return pop.replace(params={**pop.params, field: value})
    return pop.replace(initial={**pop.initial, field[:-1]: value})


# --- builders ----------------------------------------------------------------------------------


def population(name: str, model: NeuronModel, size: int, *, params: Optional[dict] = None,
               preset: Optional[str] = None, noise_amp=0.0, bias=0.0, v0=-65.0,
               initial: Optional[dict] = None, dtype=None) -> Population:
    """Build a :class:`Population`: scalars are broadcast to ``(size,)``.

    Args:
        name: the population's name.
        model: a :class:`izhijax.NeuronModel`, e.g. ``izj.Izhikevich2003()``.
        size: number of neurons.
        params: ``{param: scalar or (size,)}``; missing ones come from ``preset`` or the model's
            defaults.
        preset: name of one of the model's presets (``"RS"``), the base of ``params``.
        noise_amp, bias: scalars or ``(size,)``, in the model's current unit.
        v0: initial membrane potential (mV), scalar or ``(size,)``.
        initial: ``{state variable: value}`` overriding the model's initial state (e.g. ``u``).
        dtype: float dtype (default JAX's default float).

    Returns:
        :class:`Population`.
    """
    if not isinstance(name, str) or not name or name == "all":
        raise ValueError(f"population name must be a non-empty string other than 'all', got {name!r}")
    if not isinstance(model, NeuronModel):
        raise TypeError(f"population {name!r}: model must be a NeuronModel object (e.g. "
                        f"izj.Izhikevich2003()), got {type(model).__name__}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"population {name!r}: size must be a positive integer, got {size!r}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    values = dict(model.defaults)
    if preset is not None:
        values.update(model.preset(preset))
    values.update(params or {})
    unknown = set(values) - set(model.param_names)
    if unknown:
        raise ValueError(f"population {name!r}: unknown parameters {sorted(unknown)} of "
                         f"{type(model).__name__}; expected {model.param_names}")
    missing = [k for k in model.param_names if k not in values]
    if missing:
        raise ValueError(f"population {name!r}: parameters {missing} of {type(model).__name__} "
                         f"must be given (params= or preset=)")

    def vec(field, x):
        x = real_array(x, f"population {name!r}: {field}", dtype)
        if x.ndim == 0:
            return jnp.full((size,), x, dtype)
        if x.shape != (size,):
            raise ValueError(f"population {name!r}: {field} must be a scalar or have shape "
                             f"({size},), got {x.shape}")
        return x

    p = {k: vec(k, values[k]) for k in model.param_names}
    init = {k: vec(k + "0", x) for k, x in model.initial_state(p, vec("v0", v0)).items()}
    for k, x in (initial or {}).items():
        if k not in model.state_names:
            raise ValueError(f"population {name!r}: initial {k!r} is not a state variable of "
                             f"{type(model).__name__} {model.state_names}")
        init[k] = vec(k + "0", x)
    return Population(name=name, model=model, params=p, noise_amp=vec("noise_amp", noise_amp),
                      bias=vec("bias", bias), initial=init)


def projection(source, target, weights, *, delay: int = 1, name: Optional[str] = None,
               plasticity=None) -> Projection:
    """Build a :class:`Projection` (names given as a string or a tuple of consecutive names).

    Args:
        source, target: population name(s).
        weights: ``W[post, pre]`` or a registered format; :class:`izhijax.connectivity.Delayed`
            for a delay per synapse (then ``delay`` stays 1).
        delay: one delay for every synapse, in steps (>= 1).
        name: the projection's name (default ``"source->target"``).
        plasticity: a learning rule (:mod:`izhijax.plasticity`, needs ``Delayed`` weights) or
            ``None`` (fixed weights).
    """
    from .delays import Delayed
    as_tuple = lambda x: (x,) if isinstance(x, str) else tuple(x)
    source, target = as_tuple(source), as_tuple(target)
    if isinstance(delay, bool) or not isinstance(delay, numbers.Integral) or delay < 1:
        raise ValueError(f"projection {source} -> {target}: delay must be an integer >= 1 step, "
                         f"got {delay!r}")
    if isinstance(weights, Delayed) and delay != 1:
        raise ValueError(f"projection {source} -> {target}: Delayed weights carry a delay per "
                         f"synapse; leave delay at 1 (got {delay!r})")
    if not connectivity.is_format(weights):
        weights = real_array(weights, f"projection {source} -> {target}: weights")
    name = name or f"{'+'.join(source)}->{'+'.join(target)}"
    return Projection(source=source, target=target, weights=weights, delay=int(delay), name=name,
                      plasticity=plasticity)


def network(populations, projections=(), config: Optional[Config] = None) -> Network:
    """Build a :class:`Network` and check that its parts fit together.

    Args:
        populations: sequence of :class:`Population` (unique names).
        projections: sequence of :class:`Projection` between them.
        config: :class:`Config` (its ``dt``, integrator, noise and gradient settings apply).

    Returns:
        :class:`Network` (validated, see :func:`izhijax._src.validate.check_params`).
    """
    net = Network(populations=tuple(populations), projections=tuple(projections),
                  config=Config() if config is None else config)
    from .validate import check_params
    return check_params(net)


def make_params(a, b, c, d, weights, *, noise_amp=0.0, bias=0.0, v0=-65.0, u0=None,
                config: Optional[Config] = None, dtype=None) -> Network:
    """A network of :class:`izhijax.Izhikevich2003` neurons from flat arrays, with one projection.

    The neurons are one population ``"neurons"``, or ``"exc"`` (the first ``config.n_exc``) and
    ``"inh"`` (the rest); the projection (``"recurrent"``) carries every neuron's spikes to every
    neuron with ``config.delay``; the model has ``config.v_peak`` and ``config.inclusive``.

    Args:
        a, b, c, d: neuron parameters, scalars or shape ``(n,)``; ``n`` is taken from ``weights``.
        weights: ``W[post, pre]``, shape ``(n, n)`` (mV/ms per spike), or a registered format
            (:mod:`izhijax.connectivity`).
        noise_amp, bias, v0: scalars or shape ``(n,)``.
        u0: initial recovery variable; default ``b * v0`` (as in every seed).
        config: :class:`Config`; default ``Config()``.
        dtype: floating dtype of every array; default the weights' (or JAX's default float).

    Returns:
        :class:`Network`.
    """
    config = Config() if config is None else config
    if not isinstance(config, Config):
        raise TypeError(f"params.config must be izhijax.Config, got {type(config).__name__}")
    if connectivity.is_format(weights):
        if connectivity.n_pre(weights) != connectivity.n_post(weights):
            raise ValueError("weights must connect the network to itself (n_pre == n_post)")
        dtype = weights.dtype
    else:
        weights = real_array(weights, "weights", dtype)
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
            raise ValueError(f"weights must have shape (n, n), got {weights.shape}")
        dtype = weights.dtype
    n = connectivity.n_post(weights)
    if config.n_exc is not None and config.n_exc > n:
        raise ValueError(f"config.n_exc must be <= n = {n} neurons, got {config.n_exc}")

    raw = dict(a=a, b=b, c=c, d=d, noise_amp=noise_amp, bias=bias, v0=v0, u0=u0)
    # Concrete values are assembled on the host (NumPy: the same IEEE operations as jnp's, without
    # a compiled program per broadcast, product and slice) and placed once; traced ones with jnp.
    host = not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(raw))
    xp = np if host else jnp

    def vec(name, x):
        x = real_array(x, name, dtype, host=host)
        if x.ndim == 0:
            return xp.full((n,), x, dtype)
        if x.shape != (n,):
            raise ValueError(f"{name} must be a scalar or have shape ({n},), got {x.shape}")
        return x

    fields = {k: vec(k, x) for k, x in raw.items() if k != "u0"}
    fields["u0"] = fields["b"] * fields["v0"] if u0 is None else vec("u0", u0)
    model = Izhikevich2003(v_peak=float(config.v_peak), inclusive=config.inclusive)
    bounds = ([("neurons", 0, n)] if config.n_exc is None else
              [(nm, lo, hi) for nm, lo, hi in (("exc", 0, config.n_exc), ("inh", config.n_exc, n))
               if hi > lo])
    part = lambda k, lo, hi: (jax.device_put if host else jnp.asarray)(
        fields[k][lo:hi] if len(bounds) > 1 else fields[k])
    pops = tuple(Population(
        name=name, model=model, params={k: part(k, lo, hi) for k in "abcd"},
        noise_amp=part("noise_amp", lo, hi), bias=part("bias", lo, hi),
        initial={"v": part("v0", lo, hi), "u": part("u0", lo, hi)})
        for name, lo, hi in bounds)
    names = tuple(p.name for p in pops)
    proj = Projection(source=names, target=names, weights=weights, delay=config.delay,
                      name="recurrent")
    from .validate import check_params
    return check_params(Network(populations=pops, projections=(proj,), config=config))


# --- state -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class State:
    """What one step carries to the next: a pytree.

    Attributes:
        neurons: one ``{state variable: (n_block,)}`` dict per block of consecutive populations
            that share a model (one dict for a network of one model), after the reset.
        pulse: synaptic pulses in flight, shape ``(max_delay, n)``; row 0 enters the next update.
        t: index of the next step (int32 scalar); the noise of step ``t`` is drawn from
            ``fold_in(key, t)``, so a run resumed from a state continues the same noise.
        synapses: one entry per projection: ``None`` for weights without per-synapse delays; for
            :class:`izhijax.connectivity.Delayed` weights a dict with the spike ring
            (``"fired"`` ``(D, capacity)``, ``"over"`` ``(D,)``, ``"spikes"`` ``(D, n_source)``)
            and, with plasticity, the learned weights ``"w"`` and the rule's traces
            (``"x_pre"``, ``"x_post"``, ``"sd"``, ...).

    ``state.v`` and ``state.u`` (any state variable by name) are the values of all neurons in
    global order, shape ``(n,)``.
    """

    neurons: tuple
    pulse: jax.Array
    t: jax.Array
    synapses: tuple = ()

    def __getattr__(self, name):
        if name.startswith("_") or name in ("neurons", "pulse", "t", "synapses"):
            raise AttributeError(name)
        parts = [blk.get(name) for blk in self.neurons]
        if not parts or any(x is None for x in parts):
            raise AttributeError(f"{name!r} is not a state variable of every neuron")
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)

    def replace(self, **changes):
        """A copy with ``pulse``, ``t``, ``neurons`` or a state variable (``v=``, all neurons)
        replaced."""
        out = self
        for name, value in changes.items():
            if name in ("neurons", "pulse", "t", "synapses"):
                out = dataclasses.replace(out, **{name: value})
                continue
            value = real_array(value, f"state.{name}")
            blocks, start = [], 0
            for blk in out.neurons:
                size = next(iter(blk.values())).shape[-1]
                blocks.append({**blk, name: value[..., start:start + size]})
                start += size
            out = dataclasses.replace(out, neurons=tuple(blocks))
        return out


jax.tree_util.register_dataclass(State, data_fields=["neurons", "pulse", "t", "synapses"],
                                 meta_fields=[])


def blocks(net):
    """Consecutive populations sharing a model, as ``(model, start, stop, [populations])``."""
    out, start = [], 0
    for p in net.populations:
        if out and out[-1][0] == p.model and set(out[-1][3][0].params) == set(p.params):
            out[-1] = (p.model, out[-1][1], start + p.size, out[-1][3] + [p])
        else:
            out.append((p.model, start, start + p.size, [p]))
        start += p.size
    return out


def _cat(arrays):
    return arrays[0] if len(arrays) == 1 else jnp.concatenate(arrays)


def init_state(params: Network) -> State:
    """The state at ``t = 0``: each population's initial values, no pulse in flight.

    Args:
        params: :class:`Network`.

    Returns:
        :class:`State` with arrays of the network's dtype.
    """
    if not isinstance(params, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(params).__name__}")
    neurons = tuple({k: _cat([p.initial[k] for p in pops]) for k in model.state_names}
                    for model, _, _, pops in blocks(params))
    return State(neurons=neurons, pulse=jnp.zeros((params.max_delay, params.n), params.dtype),
                 t=jnp.zeros((), jnp.int32), synapses=init_synapses(params))


def init_synapses(params: Network) -> tuple:
    """``State.synapses`` at ``t = 0``: per projection ``None`` or its empty spike ring and, with
    plasticity, the rule's initial state (the learned weights start as the projection's)."""
    from .delays import Delayed, init_ring
    out = []
    for p in params.projections:
        if not isinstance(p.weights, Delayed):
            out.append(None)
            continue
        syn = init_ring(p.weights, params.dtype)
        if p.plasticity is not None:
            syn.update(p.plasticity.init(p.weights))
        out.append(syn)
    return tuple(out)


def freeze(params: Network, state: State):
    """The network with the weights a run has learned (``state.synapses``) and no plasticity.

    Args:
        params: the :class:`Network` that was run.
        state: a state of that run (its ``final``).

    Returns:
        ``(net, state)``: a :class:`Network` whose plastic projections hold the learned weights,
        with ``plasticity=None`` (it runs as an ordinary network, same delays), and the state to
        continue from (the same neurons and spikes in flight, without the rules' traces).
    """
    if not isinstance(params, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(params).__name__}")
    if not isinstance(state, State):
        raise TypeError(f"state must be an izhijax.State, got {type(state).__name__}")
    if len(state.synapses) != len(params.projections):
        raise ValueError(f"state.synapses has {len(state.synapses)} entries for "
                         f"{len(params.projections)} projections: not a state of this network")
    projs, syns = [], []
    for p, syn in zip(params.projections, state.synapses):
        if p.plasticity is not None:
            if not isinstance(syn, dict) or "w" not in syn:
                raise ValueError(f"state.synapses of projection {p.name!r} holds no learned "
                                 f"weights 'w': not a state of this network")
            p = p.replace(weights=p.weights.replace(w=syn["w"]), plasticity=None)
            syn = {k: syn[k] for k in ("fired", "over", "spikes")}
        projs.append(p)
        syns.append(syn)
    return params.replace(projections=tuple(projs)), state.replace(synapses=tuple(syns))


def unit_noise(key, t, shape, dtype, kind):
    """Unit noise of step ``t`` (``randn`` or ``U(0, 1)``), drawn from ``fold_in(key, t)`` alone:
    the :class:`NoiseSource` of that ``kind`` (``"normal"`` or ``"uniform"``)."""
    return NOISES[kind]().unit(key, t, shape, dtype)
