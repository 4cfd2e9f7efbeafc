"""Ready-made networks: the Izhikevich (2003) Fig. 3 network in each seed's variant.

=========  =============  =====  ======  ===================  =========  =====================
variant    integrator     dt     delay   noise per step       threshold  neurons
=========  =============  =====  ======  ===================  =========  =====================
brian2     euler          1 ms   1 step  5 / 2 x randn        v >= 30    heterogeneous (2003)
netm       izhikevich     1 ms   1 step  5 / 2 x randn        v >= 30    heterogeneous (2003)
pymonnto   semi-implicit  0.5    2 steps 20 x U(0, 1), all    v > 30     RS for all (a, b, c, d =
                                                                          0.02, 0.2, -65, 8)
=========  =============  =====  ======  ===================  =========  =====================

Differences between the seeds, and what each variant does:

* **Brian2** (``Izhikevich_2003`` example). Each 1 ms step: ``I_noise`` is drawn (``run_regularly``
  in the 'start' slot), v and u are updated by forward Euler, the threshold ``v >= 30`` is checked,
  the spikes' ``I += w`` is applied and the previous step's ``I -= w`` removed, then the reset. The
  spike is recorded at the time of the step whose update crossed the threshold; ``StateMonitor``
  with ``when='after_thresholds'`` records v before the reset. izhijax's schedule *is* this one.
* **net.m** (Izhikevich's MATLAB). Each step checks ``v >= 30`` *first*, resets, adds
  ``sum(S(:, fired), 2)`` to the noise and updates v by two half steps and u with the new v. The
  dynamics are the same loop as Brian2's with a different integrator; net.m labels a spike one step
  later (at the start of the step after the crossing), so ``spikes[t]`` here is net.m's ``t + 1``.
* **PymoNNto** (``Izhikevich.py``). dt = 0.5 ms, 1000 iterations = 500 ms. The neuron behaviour runs
  before the input behaviour, so the input used by the update of iteration k was computed in
  iteration k - 1: a synaptic delay of two steps and noise ``20 U(0, 1)`` (mean 10) for every
  neuron. All neurons share RS parameters, the threshold is strict (``v > 30``), the excitatory
  weights are ``0.5 U`` and the inhibitory ``-U``, and the initial state is ``v = -65 U``,
  ``u = -8 U``. Like net.m it labels a spike one step after the crossing. Its very first update sees
  ``I = 0``; izhijax's first update already sees noise (one step of 500, documented, not emulated).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import connectivity, threefry, wiring
from .network import Config, make_params
from .surrogate import Surrogate, as_surrogate, synapse_grad_gain
from .validate import check_key

VARIANTS = ("brian2", "netm", "pymonnto")


PROPAGATIONS = ("dense", "event")
CONNECTIONS = ("probability", "indegree")


def izhikevich2003(key, *, n_exc=800, n_inh=200, variant="brian2", dtype=None, propagation="event",
                   **config):
    """The Izhikevich (2003) Fig. 3 network: ``n_exc`` excitatory + ``n_inh`` inhibitory, all to all.

    Parameters as in the paper and the seeds (``re, ri ~ U(0, 1)`` per neuron):
    excitatory ``a = 0.02, b = 0.2, c = -65 + 15 re^2, d = 8 - 6 re^2``;
    inhibitory ``a = 0.02 + 0.08 ri, b = 0.25 - 0.05 ri, c = -65, d = 2``;
    weights ``0.5 U`` from excitatory and ``-U`` from inhibitory neurons (self-connections included,
    as in the seeds); thalamic noise ``5 randn`` / ``2 randn`` per step; ``v0 = -65, u0 = b v0``.
    The ``pymonnto`` variant follows that seed instead (see the module docstring).

    Args:
        key: PRNG key for drawing the network (not the noise: that key goes to ``simulate``).
        n_exc, n_inh: population sizes.
        variant: ``"brian2"``, ``"netm"`` or ``"pymonnto"``.
        dtype: float dtype of the arrays (default: JAX's default float).
        propagation: ``"event"`` (the default: event-driven, ``weights`` a
            :class:`izhijax.connectivity.EventDense`, which reads, indexes and scales as the dense
            ``W[post, pre]``) or ``"dense"`` (``W s`` every step, ``weights`` a dense array). Same
            spikes up to the order of floating-point additions; event-driven is 2-3x faster for
            this network on a CPU (about 9 of 1000 neurons fire per step); vmapped batches run the
            batch's matrix product either way.
        **config: overrides of :class:`izhijax.Config` fields (e.g. ``surrogate="arctan"``).

    Gradients: the ``"brian2"`` variant (Euler steps of 1 ms) has ``synapse_grad=True``, with
    its calibrated surrogate height (1/4) and forgetting (``grad_memory`` 4 ms): measured
    against finite differences of the noise-averaged rates (``experiments/grad_quality.py``, 16
    keys), every key's gradient of both population rates has the finite difference's sign for
    every resolved knob, the other population's included, and the key-averaged gradient is
    within 2x. The ``"netm"`` variant (half steps) is hotter at that setting (96 % of keys,
    62 % for the worst knob, ratio 1.9) and keeps ``synapse_grad=False``, as ``"pymonnto"``,
    and so do ``threshold_grad="voltage"``, ``straight_through`` and a surrogate height above
    the calibrated one (a surrogate object brings its own height, 1 by default): the synaptic
    path would overflow. Pass ``synapse_grad=False`` for the plain setting (height 1, the spikes
    sent to others as input in the backward pass), which spike-time objectives want.

    Returns:
        :class:`izhijax.Params`.
    """
    if propagation not in PROPAGATIONS:
        raise ValueError(f"propagation must be one of {PROPAGATIONS}, got {propagation!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    for name, value in (("n_exc", n_exc), ("n_inh", n_inh)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    n = n_exc + n_inh
    if n == 0:
        raise ValueError("the network needs at least one neuron (n_exc + n_inh > 0)")
    dtype = jnp.dtype(jnp.result_type(float) if dtype is None else dtype)
    draws = _fig3_draws(check_key(key), n_exc, n_inh, dtype, variant == "pymonnto")
    # The random draws in one compiled call; the arithmetic on them in NumPy on the host (the
    # same IEEE operations, rounded once each, as jnp's op-by-op dispatch: identical bits), so
    # building the network costs one compilation instead of thirty (about 0.5 s in a fresh process).
    draws = {k: _host(x) for k, x in draws.items()}       # traced (jit, eval_shape): kept as is
    xp = _xp(draws["we"])
    w = xp.concatenate([0.5 * draws["we"], -draws["wi"]], axis=1)
    if propagation == "event":
        w = connectivity.event_dense(w)

    if variant == "pymonnto":
        cfg = dict(dt=0.5, integrator="semi-implicit", inclusive=False, delay=2, noise="uniform")
        cfg.update(config)
        return make_params(0.02, 0.2, -65.0, 8.0, w, noise_amp=20.0, bias=0.0,
                           v0=-65.0 * draws["v"], u0=-8.0 * draws["u"],
                           config=Config(n_exc=n_exc, **cfg))

    cfg = dict(dt=1.0, integrator="euler" if variant == "brian2" else "izhikevich", delay=1,
               noise="normal")
    if variant == "brian2":     # the gradient setting measured on this network (its docstring)
        cfg["synapse_grad"] = _calibrated_synapse_grad(config)
    cfg.update(config)
    return _fig3_neurons(draws["re"], draws["ri"], w, dtype, Config(n_exc=n_exc, **cfg))


def _calibrated_synapse_grad(config):
    """Whether the Fig. 3 network's default ``synapse_grad=True`` applies to these overrides:
    the crossing formulation with a surrogate of finite area at a height no larger than the
    calibrated one (:func:`izhijax._src.surrogate.synapse_grad_gain`). The plain
    ``threshold_grad="voltage"``, ``straight_through`` (infinite area) or a larger height (a
    surrogate object brings its own, 1 by default) would make the backward pass through the
    synapses overflow, so they keep it off."""
    if config.get("threshold_grad", "crossing") != "crossing":
        return False
    given = config.get("surrogate", "fast_sigmoid")
    try:
        sur = as_surrogate(given, config.get("surrogate_scale", 1.0))
    except (ValueError, TypeError):
        return True             # Config reports the bad value
    if not sur.area < float("inf"):
        return False
    gain = config.get("surrogate_gain")
    if gain is None and isinstance(given, Surrogate):
        gain = sur.gain
    return gain is None or gain <= synapse_grad_gain(sur)


def _uniform(key, shape, dtype):
    """``jax.random.uniform(key, shape, dtype)``, bit for bit, compiled in one program
    (:func:`izhijax._src.threefry.uniform`)."""
    return threefry.uniform_jit(key, shape, jnp.dtype(dtype))


def _host(x):
    """A concrete array as NumPy (read in place on CPU); a traced one unchanged."""
    return x if isinstance(x, jax.core.Tracer) else np.asarray(x)


def _xp(x):
    """NumPy for host arrays, jax.numpy for traced ones."""
    return jnp if isinstance(x, jax.core.Tracer) else np


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _fig3_draws(key, n_exc, n_inh, dtype, pymonnto):
    """The uniform draws of the Fig. 3 network: weights, per-neuron ``re`` / ``ri`` (or ``v``,
    ``u`` for PymoNNto), from the six keys of ``split(key, 6)``."""
    k_re, k_ri, k_we, k_wi, k_v, k_u = jax.random.split(key, 6)
    n = n_exc + n_inh
    u = lambda k, shape: threefry.uniform(k, shape, dtype)      # jax.random.uniform's bits
    out = {"we": u(k_we, (n, n_exc)), "wi": u(k_wi, (n, n_inh))}
    if pymonnto:
        out.update(v=u(k_v, (n,)), u=u(k_u, (n,)))
    else:
        out.update(re=u(k_re, (n_exc,)), ri=u(k_ri, (n_inh,)))
    return out


def _fig3_neurons(re, ri, weights, dtype, config):
    """Params with the 2003 neuron parameters from ``re, ri ~ U(0, 1)`` (NumPy arrays of ``dtype``,
    one per excitatory / inhibitory neuron) and ``weights``."""
    n_exc, n_inh = re.shape[0], ri.shape[0]
    xp = _xp(re)
    ones = lambda m, x: xp.full((m,), x, dtype)
    a = xp.concatenate([ones(n_exc, 0.02), 0.02 + 0.08 * ri])
    b = xp.concatenate([ones(n_exc, 0.2), 0.25 - 0.05 * ri])
    c = xp.concatenate([-65.0 + 15.0 * re**2, ones(n_inh, -65.0)])
    d = xp.concatenate([8.0 - 6.0 * re**2, ones(n_inh, 2.0)])
    amp = xp.concatenate([ones(n_exc, 5.0), ones(n_inh, 2.0)])
    return make_params(a, b, c, d, weights, noise_amp=amp, bias=0.0, v0=-65.0, config=config)


def scaled_izhikevich2003(key, n, k=100, *, connection="probability", self_connections=True,
                          dtype=None, buffers=None, **config):
    """The Fig. 3 network scaled to ``n`` neurons with ``k`` synapses per neuron, stored sparsely.

    ``n_exc = int(0.8 n)`` excitatory neurons (the first) and ``n - n_exc`` inhibitory, with the
    neuron parameters and noise of :func:`izhikevich2003` (variant ``brian2``); weights
    ``0.5 U 1000 / k`` from excitatory and ``-U 1000 / k`` from inhibitory neurons, so a neuron's
    summed input matches the 1000-neuron network's. This is Brian2's scaled benchmark
    (``connect(p=k/n)``) with ``connection="probability"``.

    Args:
        key: PRNG key for drawing the network (not the noise).
        n: number of neurons.
        k: synapses per neuron: the expected in-degree (``"probability"``, each pair connected with
            probability ``k / n``) or the exact in-degree (``"indegree"``).
        connection: ``"probability"`` or ``"indegree"``.
        self_connections: allow a neuron to connect to itself.
        dtype: float dtype (default: JAX's default float).
        buffers: spike-buffer sizes of the event-driven propagation (default
            :func:`izhijax.connectivity.default_buffers`; ``()`` touches every synapse every step).
        **config: overrides of :class:`izhijax.Config` fields.

    Returns:
        :class:`izhijax.Params` whose ``weights`` is a :class:`izhijax.connectivity.Sparse`.
    """
    if connection not in CONNECTIONS:
        raise ValueError(f"connection must be one of {CONNECTIONS}, got {connection!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, n], got {k!r}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    n_exc = int(0.8 * n)
    k_conn, k_re, k_ri, k_w = jax.random.split(check_key(key), 4)
    if connection == "probability":
        post = wiring.fixed_probability(k_conn, n, n, k / n, self_connections=self_connections)
    else:
        post = wiring.fixed_indegree(k_conn, n, n, k, self_connections=self_connections)
    post = jnp.asarray(post, jnp.int32)     # the host table is freed here (N = 10^6: 0.6 GB)
    w = _scaled_weights(k_w, post, n_exc, 1000.0 / k, jnp.dtype(dtype))
    buffers = connectivity.default_buffers(n) if buffers is None else \
        connectivity.check_buffers(buffers)
    weights = connectivity.Sparse(post=post, w=w, n_post=n, buffers=buffers)
    cfg = dict(dt=1.0, integrator="euler", delay=1, noise="normal")
    cfg.update(config)
    re = _host(_uniform(k_re, (n_exc,), dtype))
    ri = _host(_uniform(k_ri, (n - n_exc,), dtype))
    return _fig3_neurons(re, ri, weights, jnp.dtype(dtype), Config(n_exc=n_exc, **cfg))


@partial(jax.jit, static_argnums=(2, 3, 4))
def _scaled_weights(key, post, n_exc, scale, dtype):
    """``0.5 U scale`` from excitatory, ``-U scale`` from inhibitory rows, 0 at the padding: one
    compiled program, so the random bits, the uniforms and the product are not each a table in
    memory (N = 10^6, K = 100: one 0.6 GB table instead of three); the same bits as op by op."""
    n, m = post.shape
    sign = jnp.where(jnp.arange(n) < n_exc, 0.5 * scale, -scale).astype(dtype)
    rows = max(1, min(n, 2**20 // max(m, 1)))          # about 2^20 weights per block
    if not threefry.rows_fast_path(key, (n, m), dtype):
        w = sign[:, None] * jax.random.uniform(key, post.shape, dtype)
        return jnp.where(post < n, w, 0)

    def block(i, w):        # the last block overlaps the one before it (the same values)
        r0 = jnp.minimum(i * rows, n - rows)
        u = threefry.uniform_rows(key, r0, rows, (n, m), dtype)
        s = jax.lax.dynamic_slice_in_dim(sign, r0, rows)[:, None]
        p = jax.lax.dynamic_slice_in_dim(post, r0, rows)
        return jax.lax.dynamic_update_slice_in_dim(w, jnp.where(p < n, s * u, 0), r0, 0)

    return jax.lax.fori_loop(0, -(-n // rows), block, jnp.zeros((n, m), dtype))


def thalamocortical(key, *, n_thal=100, n_exc=800, n_inh=200, p_thal=0.1, dt=0.5, dtype=None,
                    **config):
    """Three populations of two neuron models: a thalamus driving a Fig. 3-like cortex of 2007 cells.

    * ``"thalamus"``: ``n_thal`` :class:`izhijax.Izhikevich2003` thalamo-cortical cells (the 2003
      Fig. 2 TC preset) firing irregularly from their own noise (``amp = 4`` mV/ms per step,
      about 20 Hz);
    * ``"exc"``: ``n_exc`` :class:`izhijax.Izhikevich2007` regular spiking cells (the book's RS
      preset), ``"inh"``: ``n_inh`` fast spiking cells (FS preset); currents in pA, a small
      noise (``30`` / ``10`` pA per step);
    * ``"thalamocortical"``: each thalamic cell contacts each cortical cell with probability
      ``p_thal``, ``600`` pA per spike to excitatory and ``300`` pA to inhibitory cells (times
      ``100 / n_thal``, so a cortical cell's thalamic input does not depend on ``n_thal``);
    * ``"recurrent"``: all to all among the cortical cells as in Fig. 3, ``W = 0.5 U`` from
      excitatory and ``-U`` from inhibitory cells, scaled to pA: ``40 U`` pA from excitatory and
      ``-60 U`` from inhibitory cells (a one-step pulse of ``w`` pA moves an RS cell, C = 100 pF,
      by ``w dt / C`` mV), times ``1000 / (n_exc + n_inh)`` as in
      :func:`scaled_izhikevich2003`.

    Every spike is a one-step current pulse, as in the 2003 network; ``dt`` defaults to 0.5 ms
    (the 2007 model's FS cell is stiff at 1 ms). The numbers give an asynchronous cortex
    (keys 0 and 1, 1000 ms: excitatory ~10 Hz, inhibitory ~22 Hz, Golomb's chi ~0.05); they are
    a demonstration of a network of two models, not a published one.

    Args:
        key: PRNG key for drawing the network.
        n_thal, n_exc, n_inh: population sizes.
        p_thal: connection probability thalamus -> cortex.
        dt: step in ms.
        dtype: float dtype (default JAX's default float).
        **config: overrides of :class:`izhijax.Config` fields.

    Returns:
        :class:`izhijax.Network` with populations ``("thalamus", "exc", "inh")`` and projections
        ``("thalamocortical", "recurrent")``.
    """
    from .neuron import Izhikevich2003
    from .network import network, population, projection
    from .simple2007 import Izhikevich2007
    dtype = jnp.result_type(float) if dtype is None else dtype
    k_v, k_tc, k_we, k_wi = jax.random.split(check_key(key), 4)
    n_ctx = n_exc + n_inh
    thal = population("thalamus", Izhikevich2003(), n_thal, preset="TC", noise_amp=4.0,
                      v0=-65.0 + 10.0 * _uniform(k_v, (n_thal,), dtype), dtype=dtype)
    exc = population("exc", Izhikevich2007(), n_exc, preset="RS", noise_amp=30.0, v0=-60.0,
                     dtype=dtype)
    inh = population("inh", Izhikevich2007(), n_inh, preset="FS", noise_amp=10.0, v0=-55.0,
                     dtype=dtype)
    gain = (100.0 / n_thal) * jnp.concatenate([jnp.full((n_exc, 1), 600.0, dtype),
                                               jnp.full((n_inh, 1), 300.0, dtype)])
    w_tc = gain * (_uniform(k_tc, (n_ctx, n_thal), dtype) < p_thal).astype(dtype)
    scale = 1000.0 / n_ctx
    w_ctx = jnp.concatenate([40.0 * scale * _uniform(k_we, (n_ctx, n_exc), dtype),
                             -60.0 * scale * _uniform(k_wi, (n_ctx, n_inh), dtype)],
                            axis=1)
    cfg = dict(dt=dt, integrator="euler", noise="normal")
    cfg.update(config)
    return network([thal, exc, inh],
                   [projection("thalamus", ("exc", "inh"), w_tc, name="thalamocortical"),
                    projection(("exc", "inh"), ("exc", "inh"), w_ctx, name="recurrent")],
                   Config(**cfg))
