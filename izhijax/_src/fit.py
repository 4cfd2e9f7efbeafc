"""Fitting parameters to target firing rates: losses, reparametrisations, an optax training loop.

A fit works on a small pytree ``theta`` of free variables and a ``build(theta) -> Params`` that puts
them into the network, so any subset of the parameters can be fitted::

    theta, build = izj.fit.population_parameters(params)            # weight scales, noise, bias
    loss = izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, params)
    result = izj.fit.fit(theta, build, loss, optax.adam(0.05), key, n_steps=1000, n_iters=300)
    evaluation = izj.fit.evaluate(build(result.theta), eval_keys, n_steps=1000)

Each iteration draws fresh noise keys (``fold_in(key, iteration)``, split ``batch`` ways), averages
the rates of :func:`izhijax.simulate`'s recording over them (``jax.vmap``; under ``jax.grad`` the
counts carry the surrogate gradient), steps the optimizer and projects ``theta``
back into its bounds. Evaluation runs the plain :func:`izhijax.simulate` on keys the fit never saw.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .connectivity import PreScaled, is_format
from .simulate import simulate

BOUNDS = {"a": (1e-4, None), "b": (1e-4, None), "noise_amp": (0.0, None), "w_exc": (0.0, None),
          "w_inh": (0.0, None), "noise_exc": (0.0, None), "noise_inh": (0.0, None)}
"""Default bounds ``name -> (low, high)`` (None: open) keeping fitted parameters physical."""


def mse(rates, target):
    """Mean squared error in Hz^2."""
    return jnp.mean((rates - target) ** 2)


def relative_error(rates, target):
    """Mean squared relative error ``((rates - target) / target)^2`` (dimensionless)."""
    return jnp.mean(((rates - target) / target) ** 2)


LOSSES = {"mse": mse, "relative": relative_error}


def _kind(kind):
    if kind not in LOSSES:
        raise ValueError(f"loss kind must be one of {tuple(LOSSES)}, got {kind!r}")
    return LOSSES[kind]


def population_loss(targets, network, kind="relative"):
    """Loss on the mean rate of named populations.

    Args:
        targets: ``{population name: Hz}``, e.g. ``{"exc": 5.0, "inh": 20.0}``.
        network: the :class:`izhijax.Network` (or a :class:`izhijax.Recording`) whose populations
            the names refer to.
        kind: ``"mse"`` or ``"relative"``.

    Returns:
        ``loss(rates) -> scalar`` for rates of every neuron, shape ``(n,)``, in Hz.
    """
    err = _kind(kind)
    if not hasattr(network, "span"):
        raise TypeError(f"population_loss needs the network (or a recording) to find its "
                        f"populations, got {type(network).__name__}")
    spans = {name: network.span(name) for name in targets}

    def loss(rates):
        return sum(err(jnp.mean(rates[lo:hi]), targets[name])
                   for name, (lo, hi) in spans.items())
    return loss


def neuron_loss(targets, kind="relative"):
    """Loss on the rate of every neuron: ``targets`` in Hz, shape ``(n,)``."""
    err = _kind(kind)
    targets = jnp.asarray(targets)
    return lambda rates: err(rates, targets.astype(rates.dtype))


def field_parameters(params, names):
    """Fit some per-neuron fields of the network as they are (``"bias"``, ``"a"``, ``"weights"``).

    Args:
        params: starting :class:`izhijax.Network`.
        names: flat per-neuron fields (see :meth:`izhijax.Network.flat`) or ``"weights"`` (of
            the only projection).

    Returns:
        ``(theta, build)``: ``{name: array}`` and ``build(theta) -> Network``.
    """
    theta = {}
    for name in names:
        try:
            theta[name] = params.weights if name == "weights" else params.flat(name)
        except AttributeError as err:
            raise ValueError(f"{name!r} cannot be fitted: {err}") from None
    return theta, lambda theta: params.replace(**theta)


def population_names(params):
    """The knobs :func:`population_parameters` offers for a network: for each population ``p``,
    ``w_p`` (scale of the synapses from ``p``), ``noise_p`` (scale of its noise) and ``bias_p``
    (added to its bias, in its current unit)."""
    return tuple(f"{kind}_{p}" for kind in ("w", "noise", "bias") for p in params.names)


def population_parameters(params, names=None):
    """Per-population knobs as scalars: weight scales, noise scales and bias offsets.

    ``w_<pop>`` scales the weights of every synapse *from* population ``<pop>``, ``noise_<pop>``
    its neurons' noise amplitude, ``bias_<pop>`` is added to their bias. All start at the identity
    (1 or 0).

    Args:
        params: starting :class:`izhijax.Network`.
        names: which knobs (default all of :func:`population_names`), e.g. ``("w_exc", "w_inh")``.

    Returns:
        ``(theta, build)``: ``{name: scalar}`` and ``build(theta) -> Network``.
    """
    allowed = population_names(params)
    names = allowed if names is None else tuple(names)
    bad = [k for k in names if k not in allowed]
    if bad:
        raise ValueError(f"unknown population parameters {bad}; expected some of {allowed}")
    dtype = params.dtype
    theta = {name: jnp.asarray(0.0 if name.startswith("bias") else 1.0, dtype) for name in names}
    spans = params.slices()

    def per_neuron(theta, kind, default):
        parts = [jnp.broadcast_to(jnp.asarray(theta.get(f"{kind}_{p}", default), dtype),
                                  (hi - lo,)) for p, (lo, hi) in spans.items()]
        return jnp.concatenate(parts)

    def build(theta):
        gain = per_neuron(theta, "w", 1.0)
        projections = []
        for proj in params.projections:
            s0, s1 = params.span(proj.source)
            g = gain[s0:s1]
            w = proj.weights
            w = PreScaled(w, g) if is_format(w) else w * g[None, :]
            projections.append(proj.replace(weights=w))
        return params.replace(projections=tuple(projections),
                              noise_amp=params.flat("noise_amp") * per_neuron(theta, "noise", 1.0),
                              bias=params.flat("bias") + per_neuron(theta, "bias", 0.0))
    return theta, build


def rates_of(params, key, n_steps, checkpoint=None):
    """Rate of every neuron in Hz, ``(n,)``, from :func:`izhijax.simulate`'s counts; under
    ``jax.grad`` they carry the surrogate gradient."""
    _, rec = simulate(params, key, n_steps, record_v=(), record_spikes=False,
                      checkpoint=checkpoint, differentiable=True, on_divergence="ignore")
    return rec.counts / (n_steps * params.config.dt * 1e-3)


def project(theta, bounds=BOUNDS):
    """Clip each named entry of ``theta`` into its ``(low, high)`` bounds (missing names: free)."""
    out = dict(theta)
    for name, (low, high) in bounds.items():
        if name in out:
            out[name] = jnp.clip(out[name], low, high)
    return out


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
        theta: fitted free variables (same pytree as the start).
        params: ``build(theta)``.
        history: dict of NumPy arrays over iterations: ``loss`` ``(n_iters,)``, ``rates``
            ``(n_iters, n)`` (Hz, mean over the iteration's keys, before its update), and ``theta``
            (the pytree with a leading ``n_iters`` axis, before each update).
    """

    theta: dict
    params: object
    history: dict


def fit(theta, build, loss, optimizer, key, n_steps, *, n_iters=100, batch=2, bounds=BOUNDS,
        checkpoint=None, progress=True, tol=None, summary=None):
    """Gradient descent on ``loss(rates)`` over ``theta``, with fresh noise every iteration.

    Args:
        theta: pytree (dict) of free variables.
        build: ``build(theta) -> Params``.
        loss: ``loss(rates) -> scalar``, rates of every neuron in Hz, shape ``(n,)``.
        optimizer: any ``optax.GradientTransformation``.
        key: PRNG key; iteration ``i`` uses ``split(fold_in(key, i), batch)``.
        n_steps: steps per simulated run.
        n_iters: maximum number of optimizer steps.
        batch: noise keys per iteration; the loss sees their mean rates.
        bounds: ``{name: (low, high)}`` projected after every update (see :data:`BOUNDS`).
        checkpoint: gradient checkpointing chunk in steps (see :func:`izhijax.simulate`).
        progress: show a tqdm bar with the loss and ``summary`` of the rates.
        tol: stop early once the loss is below ``tol``.
        summary: ``summary(rates) -> dict`` of numbers shown in the bar; default mean rate.

    Returns:
        :class:`FitResult`.
    """
    theta = project(jax.tree_util.tree_map(jnp.asarray, theta), bounds)

    def batch_loss(theta, key):
        params = build(theta)
        keys = jax.random.split(key, batch)
        rates = jax.vmap(lambda k: rates_of(params, k, n_steps, checkpoint))(keys)
        rates = jnp.mean(rates, axis=0)
        return loss(rates), rates

    @jax.jit
    def update(theta, opt_state, key):
        (value, rates), grads = jax.value_and_grad(batch_loss, has_aux=True)(theta, key)
        updates, opt_state = optimizer.update(grads, opt_state, theta)
        theta_new = project(optax.apply_updates(theta, updates), bounds)
        return theta_new, opt_state, value, rates

    opt_state = optimizer.init(theta)
    summary = summary or (lambda rates: {"rate": float(jnp.mean(rates))})
    history = {"loss": [], "rates": [], "theta": []}
    iters = range(n_iters)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        iters = bar = tqdm(iters, desc="fit", unit="step")
    for i in iters:
        history["theta"].append(jax.tree_util.tree_map(np.asarray, theta))
        theta_new, opt_state, value, rates = update(theta, opt_state, jax.random.fold_in(key, i))
        value = float(value)
        if not np.isfinite(value):
            raise FloatingPointError(f"loss is {value} at iteration {i}")
        history["loss"].append(value)
        history["rates"].append(np.asarray(rates))
        if bar is not None:
            bar.set_postfix(loss=f"{value:.4g}", **{k: f"{v:.3g}" for k, v in summary(rates).items()})
        if tol is not None and value < tol:
            break
        theta = theta_new
    history = {"loss": np.array(history["loss"]), "rates": np.stack(history["rates"]),
               "theta": jax.tree_util.tree_map(lambda *x: np.stack(x), *history["theta"])}
    return FitResult(theta=theta, params=build(theta), history=history)


def evaluate(params, keys, n_steps):
    """Rates of every neuron on each of ``keys`` (held out from the fit), with the plain simulator.

    Args:
        params: :class:`izhijax.Params`.
        keys: PRNG keys, e.g. ``jax.random.split(eval_key, 10)``.
        n_steps: steps per run.

    Returns:
        NumPy array of rates in Hz, shape ``(len(keys), n)``.
    """
    out = []
    for k in keys:
        _, rec = simulate(params, k, n_steps, record_spikes=False, record_v=())
        out.append(np.asarray(rec.counts, np.float64) / (n_steps * params.config.dt * 1e-3))
    return np.stack(out)
