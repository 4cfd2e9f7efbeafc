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

Checks. :func:`fit` validates every argument before compiling or allocating anything (``theta``
finite floating arrays of one dtype, ``n_steps``, ``n_iters``, ``batch``, ``key``, ``bounds``, the
optimizer an ``optax.GradientTransformation``, ``loss`` a function of the rates returning a scalar,
``build(theta)`` a valid network) and refuses a step that needs more memory than the machine has
(:func:`izhijax._src.memory.fit_bytes`).

A fit that stops being finite. If the loss, or the parameters after an update, become NaN or
infinite (too large a learning rate, a diverging simulation), :func:`fit` stops and raises
:class:`FitDivergenceError` (a ``FloatingPointError``) naming the iteration and the cause; the
error's ``result`` holds the :class:`FitResult` up to the last finite parameters. Raising is what
diffrax does by default (``diffeqsolve(..., throw=True)``): a silent NaN result is an outcome a
caller could miss. To skip the updates whose gradient is NaN or infinite instead of stopping, wrap
the optimizer in ``optax.apply_if_finite`` (the skipped updates leave ``theta`` finite, so the fit
goes on).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import memory
from .connectivity import PreScaled, is_format
from .simulate import simulate
from .sweep import _check_steps
from .validate import check_finite, check_key, check_n_steps, check_params

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
    ``jax.grad`` they carry the surrogate gradient.

    Args:
        params: :class:`izhijax.Network` (may be traced).
        key: PRNG key of the run.
        n_steps: steps (a positive integer).
        checkpoint: gradient checkpointing chunk in steps, or None.

    Raises:
        ValueError, TypeError: a bad ``n_steps``, ``checkpoint``, ``key`` or ``params``
            (:mod:`izhijax._src.validate`), before anything is compiled.
    """
    n_steps = _check_steps(n_steps)
    if checkpoint is not None:
        checkpoint = check_n_steps(checkpoint, "checkpoint")
    key = check_key(key)
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


class FitDivergenceError(FloatingPointError):
    """:func:`fit` stopped: the loss or the updated parameters became NaN or infinite.

    Attributes:
        iteration: the optimizer step at which it happened.
        cause: what became non-finite, in words (``"the loss is nan"``).
        result: :class:`FitResult` of the iterations before, ``theta`` the last finite parameters.
    """

    def __init__(self, message, iteration, cause, result):
        super().__init__(message)
        self.iteration = iteration
        self.cause = cause
        self.result = result


def _positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_theta(theta):
    """``theta`` as a pytree of JAX arrays of one floating dtype, every value finite.

    Python numbers take the dtype of the arrays beside them (the default float if there are none).
    """
    if not isinstance(theta, dict):
        raise TypeError(f"theta must be a dict name -> array of free variables (as "
                        f"population_parameters gives), got {type(theta).__name__}")
    paths = jax.tree_util.tree_leaves_with_path(theta)
    if not paths:
        raise ValueError(f"theta must hold at least one array of free variables, got {theta!r}")
    arrays = {}
    for path, leaf in paths:
        name = "theta" + jax.tree_util.keystr(path)
        try:
            x = jnp.asarray(leaf)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an array of numbers, got "
                            f"{type(leaf).__name__}") from None
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name} must be a floating array (write 1.0, not 1), got dtype "
                            f"{x.dtype}")
        arrays[name] = x
    strong = {}
    for name, x in arrays.items():
        if not getattr(x, "weak_type", False):
            strong.setdefault(x.dtype, name)
    if len(strong) > 1:
        (d1, n1), (d2, n2) = list(strong.items())[:2]
        raise TypeError(f"theta must have one floating dtype, got {n1} {d1} and {n2} {d2}")
    dtype = next(iter(strong), None)
    arrays = {k: x if dtype is None else x.astype(dtype) for k, x in arrays.items()}
    check_finite(arrays)
    leaves = list(arrays.values())
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(theta), leaves)


def _check_bounds(bounds):
    if not isinstance(bounds, dict):
        raise TypeError(f"bounds must be a dict name -> (low, high), got {type(bounds).__name__}")
    for name, pair in bounds.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"bounds[{name!r}] must be a pair (low, high) with None for open, "
                             f"got {pair!r}")
        values = []
        for side, x in zip(("low", "high"), pair):
            if x is None:
                values.append(None)
                continue
            try:
                v = np.asarray(x, dtype=float)
            except (TypeError, ValueError):
                raise TypeError(f"bounds[{name!r}] {side} must be a number or None, got "
                                f"{type(x).__name__}") from None
            if not np.all(np.isfinite(v)):
                raise ValueError(f"bounds[{name!r}] {side} must be finite or None (open), got "
                                 f"{x!r}")
            values.append(v)
        low, high = values
        if low is not None and high is not None and np.any(low > high):
            raise ValueError(f"bounds[{name!r}] must have low <= high, got {pair!r}")


def _check_optimizer(optimizer):
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation (e.g. "
                        f"optax.adam(0.05)), got {type(optimizer).__name__}")


def _empty_history(theta, n):
    return {"loss": np.zeros((0,)), "rates": np.zeros((0, n)),
            "theta": jax.tree_util.tree_map(lambda x: np.zeros((0,) + np.shape(x),
                                                               np.asarray(x).dtype), theta)}


def _stack_history(history, theta, n):
    if not history["loss"]:
        return _empty_history(theta, n)
    return {"loss": np.array(history["loss"]), "rates": np.stack(history["rates"]),
            "theta": jax.tree_util.tree_map(lambda *x: np.stack(x), *history["theta"])}


def fit(theta, build, loss, optimizer, key, n_steps, *, n_iters=100, batch=2, bounds=BOUNDS,
        checkpoint=None, progress=True, tol=None, summary=None):
    """Gradient descent on ``loss(rates)`` over ``theta``, with fresh noise every iteration.

    Args:
        theta: pytree (dict) of free variables: floating arrays of one dtype, finite.
        build: ``build(theta) -> Params``.
        loss: ``loss(rates) -> scalar``, rates of every neuron in Hz, shape ``(n,)``.
        optimizer: any ``optax.GradientTransformation``.
        key: PRNG key; iteration ``i`` uses ``split(fold_in(key, i), batch)``.
        n_steps: steps per simulated run (a positive integer).
        n_iters: maximum number of optimizer steps (a positive integer).
        batch: noise keys per iteration (a positive integer); the loss sees their mean rates.
        bounds: ``{name: (low, high)}`` projected after every update (see :data:`BOUNDS`); None
            for an open side.
        checkpoint: gradient checkpointing chunk in steps (see :func:`izhijax.simulate`).
        progress: show a tqdm bar with the loss and ``summary`` of the rates.
        tol: stop early once the loss is below ``tol``.
        summary: ``summary(rates) -> dict`` of numbers shown in the bar; default mean rate.

    Returns:
        :class:`FitResult`.

    Raises:
        ValueError, TypeError: a bad argument (see the module docstring), before compiling.
        ValueError: one optimizer step needs more memory than is available (what reverse mode
            keeps of ``batch`` runs of ``n_steps`` steps; see :mod:`izhijax._src.memory`).
        FitDivergenceError: the loss or the updated ``theta`` became NaN or infinite; its
            ``result`` holds the fit up to the last finite parameters.
    """
    n_steps = _check_steps(n_steps)
    n_iters = _positive_int(n_iters, "n_iters")
    batch = _positive_int(batch, "batch")
    if checkpoint is not None:
        checkpoint = check_n_steps(checkpoint, "checkpoint")
    key = check_key(key)
    _check_optimizer(optimizer)
    _check_bounds(bounds)
    for name, fn in (("build", build), ("loss", loss)):
        if not callable(fn):
            raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
    if summary is not None and not callable(summary):
        raise TypeError(f"summary must be a function of the rates or None, got "
                        f"{type(summary).__name__}")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float, np.number))
                            or np.isnan(tol)):
        raise ValueError(f"tol must be a number or None, got {tol!r}")
    theta = project(_check_theta(theta), bounds)

    shapes = jax.eval_shape(build, theta)           # the network's shapes: nothing allocated
    if not hasattr(shapes, "populations") or not hasattr(shapes, "config"):
        raise TypeError(f"build(theta) must return an izhijax.Network, got "
                        f"{type(shapes).__name__}")
    n_theta = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(theta))
    device = jax.devices()[0]
    memory.check_placed(
        memory.fit_bytes(shapes, n_steps, batch, checkpoint=checkpoint, n_iters=n_iters,
                         n_theta=n_theta), ("residuals", "noise", "weights"),
        f"fit of {batch} run(s) x {memory.format_count(n_steps)} steps per optimizer step "
        f"({shapes.n} neurons)",
        None if device.platform == "cpu" else device,
        advice="use a smaller batch, fewer steps, gradient checkpointing (checkpoint=K, about "
               "sqrt(n_steps)) or fewer iterations")
    n = check_params(build(theta), "build(theta)").n
    out = jax.eval_shape(loss, jax.ShapeDtypeStruct((n,), shapes.dtype))
    if jnp.shape(out) != ():
        raise ValueError(f"loss must return a scalar for rates of shape ({n},), got shape "
                         f"{jnp.shape(out)}")

    def batch_loss(theta, key):
        params = build(theta)
        keys = jax.random.split(key, batch)
        rates = jax.vmap(lambda k: rates_of(params, k, n_steps, checkpoint))(keys)
        rates = jnp.mean(rates, axis=0)
        return loss(rates), rates

    def all_finite(tree):
        leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
        return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)

    @jax.jit
    def update(theta, opt_state, key):
        (value, rates), grads = jax.value_and_grad(batch_loss, has_aux=True)(theta, key)
        updates, opt_state = optimizer.update(grads, opt_state, theta)
        theta_new = project(optax.apply_updates(theta, updates), bounds)
        return theta_new, opt_state, value, rates, all_finite(grads), all_finite(theta_new)

    opt_state = optimizer.init(theta)
    summary = summary or (lambda rates: {"rate": float(jnp.mean(rates))})
    history = {"loss": [], "rates": [], "theta": []}
    iters = range(n_iters)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        iters = bar = tqdm(iters, desc="fit", unit="step")
    for i in iters:
        theta_new, opt_state, value, rates, grads_ok, theta_ok = update(
            theta, opt_state, jax.random.fold_in(key, i))
        value = float(value)
        if not np.isfinite(value) or not bool(theta_ok):
            if bar is not None:
                bar.close()
            _diverged(i, value, bool(grads_ok), theta_new, theta, build, history, n)
        history["theta"].append(jax.tree_util.tree_map(np.asarray, theta))
        history["loss"].append(value)
        history["rates"].append(np.asarray(rates))
        if bar is not None:
            bar.set_postfix(loss=f"{value:.4g}", **{k: f"{v:.3g}" for k, v in summary(rates).items()})
        if tol is not None and value < tol:
            break
        theta = theta_new
    return FitResult(theta=theta, params=build(theta), history=_stack_history(history, theta, n))


def _diverged(i, value, grads_ok, theta_new, theta, build, history, n):
    """Raise :class:`FitDivergenceError` for iteration ``i`` with the fit up to ``theta``."""
    if not np.isfinite(value):
        cause = f"the loss is {value}"
    else:
        bad = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_leaves_with_path(theta_new)
               if not np.all(np.isfinite(np.asarray(x)))]
        cause = (f"the update made theta{bad[0] if bad else ''} non-finite"
                 + ("" if grads_ok else " (the gradient is not finite)"))
    result = FitResult(theta=theta, params=build(theta),
                       history=_stack_history(history, theta, n))
    raise FitDivergenceError(
        f"fit stopped at iteration {i}: {cause}; the last finite parameters are in the error's "
        f"result; try a smaller learning rate, gradient clipping (optax.clip_by_global_norm) or "
        f"optax.apply_if_finite to skip such updates", i, cause, result)


def _check_keys(keys, name="keys"):
    """A non-empty sequence of PRNG keys (a typed key array ``(k,)``, raw keys ``(k, 2)`` or a
    list), as a list of single keys."""
    if isinstance(keys, (int, float, np.integer, np.floating, str)) or keys is None:
        raise TypeError(f"{name} must be several PRNG keys (jax.random.split(key, k)), got "
                        f"{type(keys).__name__} {keys!r}")
    if hasattr(keys, "dtype"):
        typed = jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
        if (typed and np.ndim(keys) == 0) or (not typed and np.ndim(keys) == 1):
            raise ValueError(f"{name} must be several PRNG keys (jax.random.split(key, k)), got a "
                             f"single key")
    out = [check_key(k, f"{name}[{i}]") for i, k in enumerate(keys)]
    if not out:
        raise ValueError(f"{name} must hold at least one PRNG key, got none")
    return out


def evaluate(params, keys, n_steps):
    """Rates of every neuron on each of ``keys`` (held out from the fit), with the plain simulator.

    Args:
        params: :class:`izhijax.Params`.
        keys: PRNG keys, e.g. ``jax.random.split(eval_key, 10)`` (at least one).
        n_steps: steps per run (a positive integer).

    Returns:
        NumPy array of rates in Hz, shape ``(len(keys), n)``.

    Raises:
        ValueError, TypeError: bad ``params``, ``keys`` or ``n_steps``, before the first run.
    """
    params = check_params(params)
    n_steps = _check_steps(n_steps)
    keys = _check_keys(keys)
    out = []
    for k in keys:
        _, rec = simulate(params, k, n_steps, record_spikes=False, record_v=())
        out.append(np.asarray(rec.counts, np.float64) / (n_steps * params.config.dt * 1e-3))
    return np.stack(out)
