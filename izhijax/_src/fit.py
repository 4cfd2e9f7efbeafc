"""Fitting parameters to target firing rates: losses, reparametrisations, an optax training loop.

A fit works on a small pytree ``theta`` of free variables and a ``build(theta) -> Params`` that puts
them into the network, so any subset of the parameters can be fitted::

    theta, build = izj.fit.population_parameters(params)            # weight scales, noise, bias
    loss = izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, n_exc=800)
    result = izj.fit.fit(theta, build, loss, optax.adam(0.05), key, n_steps=1000, n_iters=300)
    evaluation = izj.fit.evaluate(build(result.theta), eval_keys, n_steps=1000)

Each iteration draws fresh noise keys (``fold_in(key, iteration)``, split ``batch`` ways), averages
the surrogate-gradient rates over them (``jax.vmap``), steps the optimizer and projects ``theta``
back into its bounds. Evaluation runs the plain :func:`izhijax.simulate` on keys the fit never saw.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .bptt import spike_rates
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


def population_loss(targets, n_exc, kind="relative"):
    """Loss on the mean rate of the excitatory (first ``n_exc``) and inhibitory neurons.

    Args:
        targets: ``{"exc": Hz, "inh": Hz}`` (either may be left out).
        n_exc: number of excitatory neurons.
        kind: ``"mse"`` or ``"relative"``.

    Returns:
        ``loss(rates) -> scalar`` for rates of shape ``(n,)`` in Hz.
    """
    err = _kind(kind)
    unknown = set(targets) - {"exc", "inh"}
    if unknown:
        raise ValueError(f"population targets are 'exc' and 'inh', got {sorted(unknown)}")

    def loss(rates):
        pops = {"exc": rates[:n_exc], "inh": rates[n_exc:]}
        return sum(err(jnp.mean(pops[name]), target) for name, target in targets.items())
    return loss


def neuron_loss(targets, kind="relative"):
    """Loss on the rate of every neuron: ``targets`` in Hz, shape ``(n,)``."""
    err = _kind(kind)
    targets = jnp.asarray(targets)
    return lambda rates: err(rates, targets.astype(rates.dtype))


def field_parameters(params, names):
    """Fit some fields of :class:`izhijax.Params` as they are (a mask over the pytree).

    Args:
        params: starting :class:`izhijax.Params`.
        names: field names, e.g. ``("bias",)`` or ``("a", "b", "c", "d")``.

    Returns:
        ``(theta, build)``: ``{name: array}`` and ``build(theta) -> Params``.
    """
    for name in names:
        if name not in ("a", "b", "c", "d", "weights", "noise_amp", "bias", "v0", "u0"):
            raise ValueError(f"{name!r} is not a Params array field")
    theta = {name: getattr(params, name) for name in names}
    return theta, lambda theta: params.replace(**theta)


POPULATION_NAMES = ("w_exc", "w_inh", "noise_exc", "noise_inh", "bias_exc", "bias_inh")


def population_parameters(params, names=POPULATION_NAMES):
    """Per-population knobs of a two-population network as scalars.

    ``w_exc`` / ``w_inh`` scale the weights *from* excitatory / inhibitory neurons, ``noise_exc`` /
    ``noise_inh`` scale the noise amplitude of each population, ``bias_exc`` / ``bias_inh`` (mV/ms)
    are added to each population's bias current. All start at the identity (1 or 0).

    Args:
        params: starting :class:`izhijax.Params` with ``config.n_exc`` set.
        names: which of :data:`POPULATION_NAMES` to fit.

    Returns:
        ``(theta, build)``: ``{name: scalar}`` and ``build(theta) -> Params``.
    """
    bad = set(names) - set(POPULATION_NAMES)
    if bad:
        raise ValueError(f"unknown population parameters {sorted(bad)}; "
                         f"expected some of {POPULATION_NAMES}")
    n, n_exc = params.n, params.config.n_exc if params.config.n_exc is not None else params.n
    exc = jnp.arange(n) < n_exc
    dtype = params.v0.dtype
    theta = {name: jnp.asarray(0.0 if name.startswith("bias") else 1.0, dtype) for name in names}

    def build(theta):
        get = lambda name, default: theta.get(name, default)
        col = jnp.where(exc, get("w_exc", 1.0), get("w_inh", 1.0))
        amp = jnp.where(exc, get("noise_exc", 1.0), get("noise_inh", 1.0))
        bias = jnp.where(exc, get("bias_exc", 0.0), get("bias_inh", 0.0))
        return params.replace(weights=params.weights * col[None, :],
                              noise_amp=params.noise_amp * amp, bias=params.bias + bias)
    return theta, build


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
        checkpoint: gradient checkpointing chunk in steps (see :func:`izhijax.bptt.spike_counts`).
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
        rates = jax.vmap(lambda k: spike_rates(params, k, n_steps, checkpoint=checkpoint))(keys)
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
