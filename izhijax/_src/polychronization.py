"""The polychronization network of Izhikevich (2006), and long runs of it.

The network (``spnet`` / ``poly_spnet.cpp``): 800 excitatory regular-spiking neurons
(``a = 0.02, d = 8``) and 200 inhibitory fast-spiking ones (``a = 0.1, d = 2``), ``b = 0.2``,
``c = -65``; each neuron has ``M = 100`` distinct targets (no self-connection), inhibitory neurons
target excitatory ones only. Excitatory synapses have axonal delays of ``1..D = 20`` ms (``M / D``
of each), start at 6 mV/ms and learn by :class:`izhijax.plasticity.Izhikevich2006`, clipped to
``[0, C_max = 10]``; inhibitory ones have a 1 ms delay and stay at -5. Input: each ms one random
neuron gets 20 mV/ms. ``v`` is stepped by two half steps with ``u`` fixed, then ``u``
(:class:`izhijax.IzhikevichHalfSteps`), and evaluated as ``(0.04 v + 5) v + 140`` (``horner``).

Spike labels: izhijax labels a spike by the step whose update crossed 30 mV; ``poly_spnet.cpp``
records it one ms later, when it resets the neuron. A spike of step ``t`` here is the original's
spike at ms ``t + 1``; :func:`run` reports per-second statistics with the original's labels, so
they can be compared number for number.
"""

import dataclasses
import json
import os
import time
import uuid
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import engine, fused
from .delays import Delayed, delayed
from .inputs import RandomNeuron, events
from .network import Config, init_state, network, population, projection
from .neuron import Izhikevich2003
from .plasticity import Izhikevich2006
from .threefry import uniform_jit


def _float():
    """JAX's default float dtype (``jax.random.uniform``'s default: float64 with x64 enabled)."""
    return jnp.dtype(jnp.result_type(float))


def wiring(key, n_exc=800, n_inh=200, synapses=100, max_delay=20):
    """Random connectivity of the 2006 network from a key (izhijax's own draw).

    Each excitatory neuron gets ``synapses`` distinct targets among all other neurons, each
    inhibitory neuron ``synapses`` distinct excitatory targets; excitatory synapse ``j`` has the
    delay ``j // (synapses / max_delay) + 1`` ms (``synapses / max_delay`` per delay, as in the
    paper), inhibitory ones 1 ms.

    Returns:
        ``(post, delay)``: NumPy int arrays ``(n, synapses)``, synapse ``j`` of neuron ``i``.
    """
    n = n_exc + n_inh
    if synapses % max_delay:
        raise ValueError(f"synapses ({synapses}) must be a multiple of max_delay ({max_delay})")
    if synapses > n_exc - 1:
        raise ValueError(f"synapses ({synapses}) must be below n_exc ({n_exc})")
    k_exc, k_inh = jax.random.split(key)
    # distinct targets: the first `synapses` of a random permutation of the allowed neurons
    scores = uniform_jit(k_exc, (n_exc, n - 1), _float())   # jax.random.uniform's bits
    order = np.asarray(jnp.argsort(scores, axis=1)[:, :synapses])
    post_exc = order + (order >= np.arange(n_exc)[:, None])        # skip the neuron itself
    scores = uniform_jit(k_inh, (n_inh, n_exc), _float())
    post_inh = np.asarray(jnp.argsort(scores, axis=1)[:, :synapses])
    post = np.concatenate([post_exc, post_inh]).astype(np.int32)
    delay = np.ones((n, synapses), np.int32)
    delay[:n_exc] = np.arange(synapses) // (synapses // max_delay) + 1
    return post, delay


def build(post, delay, v0, u0=None, *, n_exc=800, weights=None, c_max=10.0, rule=None,
          dtype=None, capacity=None):
    """The 2006 network from given connectivity and initial state (e.g. the original's).

    Args:
        post: target of synapse ``j`` of neuron ``i``, ints ``(n, M)``.
        delay: its delay in ms (= steps), ints ``(n, M)``; inhibitory rows must be 1.
        v0, u0: initial state ``(n,)`` (``u0`` default ``0.2 v0``).
        n_exc: the first ``n_exc`` neurons are excitatory.
        weights: ``(n, M)`` initial weights (default 6 excitatory, -5 inhibitory).
        c_max: weight cap (mV/ms).
        rule: plasticity of the excitatory synapses (default ``Izhikevich2006(w_max=c_max)``;
            ``False`` for fixed weights).
        dtype: float dtype (default JAX's default float: float64 with ``jax_enable_x64``).
        capacity: spikes per step of the event-driven delivery (default: the format's).

    Returns:
        :class:`izhijax.Network` with populations ``"exc"``, ``"inh"`` and projections ``"inh"``
        (inhibitory -> excitatory, fixed) and ``"exc"`` (excitatory -> all, plastic). The
        inhibitory projection comes first so the input of a neuron is summed in the original's
        order.
    """
    post, delay = np.asarray(post), np.asarray(delay)
    n, m = post.shape
    n_inh = n - n_exc
    dtype = jnp.result_type(float) if dtype is None else dtype
    if weights is None:
        weights = np.where(np.arange(n)[:, None] < n_exc, 6.0, -5.0) * np.ones((1, m))
    weights = np.asarray(weights)
    if weights.shape != post.shape:
        raise ValueError(f"weights must have the shape of post {post.shape}, got {weights.shape}")
    if np.any(post[n_exc:] >= n_exc):
        raise ValueError("inhibitory neurons must target excitatory neurons only")
    v0 = np.asarray(v0, np.float64)
    u0 = 0.2 * v0 if u0 is None else np.asarray(u0)
    pre = np.repeat(np.arange(n), m).reshape(n, m)
    exc_w = delayed(pre[:n_exc].ravel(), post[:n_exc].ravel(), delay[:n_exc].ravel(),
                    weights[:n_exc].ravel(), n_pre=n_exc, n_post=n, dtype=dtype,
                    capacity=capacity)
    inh_w = delayed(pre[n_exc:].ravel() - n_exc, post[n_exc:].ravel(), delay[n_exc:].ravel(),
                    weights[n_exc:].ravel(), n_pre=n_inh, n_post=n_exc, dtype=dtype,
                    capacity=capacity)
    model = Izhikevich2003(horner=True)
    exc = population("exc", model, n_exc, params=dict(a=0.02, b=0.2, c=-65.0, d=8.0),
                     v0=v0[:n_exc], initial={"u": u0[:n_exc]}, dtype=dtype)
    inh = population("inh", model, n_inh, params=dict(a=0.1, b=0.2, c=-65.0, d=2.0),
                     v0=v0[n_exc:], initial={"u": u0[n_exc:]}, dtype=dtype)
    rule = Izhikevich2006(w_max=float(c_max)) if rule is None else (rule or None)
    cfg = Config(integrator="izhikevich", noise="none", n_exc=n_exc)
    return network([exc, inh], [projection("inh", "exc", inh_w, name="inh"),
                                 projection("exc", ("exc", "inh"), exc_w, name="exc",
                                            plasticity=rule)], cfg)


def polychronization2006(key, *, n_exc=800, n_inh=200, synapses=100, max_delay=20, c_max=10.0,
                         rule=None, dtype=None, capacity=None):
    """The Izhikevich (2006) polychronization network, wired from ``key``, and its input.

    Args:
        key: PRNG key of the wiring and the initial ``v`` (``-65 + 10 U(0, 1)``).
        n_exc, n_inh, synapses, max_delay: sizes (800, 200, 100, 20 in the paper).
        c_max: weight cap (10).
        rule, dtype, capacity: as :func:`build`.

    Returns:
        ``(net, inputs)``: the :class:`izhijax.Network` and its thalamic input
        (:class:`izhijax.inputs.RandomNeuron`, one random neuron gets 20 mV/ms each ms); run with
        ``izj.simulate(net, key, n_steps, inputs=inputs)`` or :func:`run`.
    """
    from .validate import check_key
    for name, value in (("n_exc", n_exc), ("n_inh", n_inh), ("synapses", synapses),
                        ("max_delay", max_delay)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    k_wire, k_v = jax.random.split(check_key(key))
    post, delay = wiring(k_wire, n_exc, n_inh, synapses, max_delay)
    v0 = -65.0 + 10.0 * np.asarray(uniform_jit(k_v, (n_exc + n_inh,), _float()))
    net = build(post, delay, v0, n_exc=n_exc, c_max=c_max, rule=rule, dtype=dtype,
                capacity=capacity)
    return net, RandomNeuron(n_exc + n_inh, 20.0)


def from_spnet(dump, *, dtype=None, capacity=None, seconds=None):
    """The network, initial state and stimulus of a run of the original program.

    Args:
        dump: a mapping (e.g. ``np.load`` of ``tests/data/poly_spnet_10s.npz``, written by
            ``experiments/polychronization/make_reference.py``) with ``post``, ``delay``,
            ``v0``, ``u0`` (and ``stim``: the neuron given 20 mV/ms in each ms).
        seconds: use the stimulus of the first ``seconds`` only (default all of it).

    Returns:
        ``(net, inputs)``: the network and the stimulus as :class:`izhijax.inputs.Events`.
    """
    net = build(dump["post"], dump["delay"], dump["v0"], dump["u0"], dtype=dtype,
                capacity=capacity)
    stim = np.asarray(dump["stim"]).astype(np.int64)
    if seconds is not None:
        stim = stim[:int(seconds * 1000)]
    return net, events(np.arange(stim.size), stim, 20.0, net.n, dtype=net.dtype)


def exc_exc_strong(net, state, fraction=0.9, c_max=None):
    """Percent of excitatory synapses that target excitatory neurons with a weight above
    ``fraction C_max``, over all excitatory synapses: the original's ``str``, computed as it does
    (``100 count / n_exc / M``).

    Args:
        net: a network built by :func:`build` (projection ``"exc"``).
        state: its state (the learned weights); the initial weights if the projection is fixed.
        fraction: of ``C_max``.
        c_max: default the rule's ``w_max`` (10 without a rule).
    """
    proj = net.projection("exc")
    fmt = proj.weights
    k = net.projections.index(proj)
    rule = proj.plasticity
    w = np.asarray(state.synapses[k]["w"] if rule is not None else fmt.w)
    c_max = (rule.w_max if rule is not None else 10.0) if c_max is None else c_max
    n_exc = net.population("exc").size
    strong = int(np.sum((w > fraction * c_max) & (np.asarray(fmt.post) < n_exc)))
    m = fmt.n_synapses // fmt.n_pre
    return 100.0 * strong / fmt.n_pre / m


def learned_weights(net, state):
    """The excitatory weights of ``state`` as the original's table ``(n_exc, M)`` (synapse
    ``j`` of neuron ``i`` in the order of :func:`build`'s ``post``; needs a net built by it)."""
    proj = net.projection("exc")
    k = net.projections.index(proj)
    w = state.synapses[k]["w"] if proj.plasticity is not None else proj.weights.w
    return _table(proj.weights, np.asarray(w))


def synapse_tables(net, state=None):
    """The network's synapses as the original program's tables, for the group search.

    Args:
        net: a network built by :func:`build` or :func:`polychronization2006`.
        state: its state after a run (the learned excitatory weights); None: the network's own
            (initial) weights.

    Returns:
        dict with ``post``, ``delay`` (ints ``(n, M)``, delays in ms), ``weights`` (float64
        ``(n, M)``, inhibitory ones negative), ``a``, ``d`` (``(n,)``), ``n_exc`` and ``c_max``:
        the arguments of :func:`izhijax.groups.polychronous_groups`
        (``polychronous_groups(**tables)``).
    """
    rows = {}
    for name in ("exc", "inh"):
        proj = net.projection(name)
        fmt = proj.weights
        k = net.projections.index(proj)
        w = fmt.w if state is None or proj.plasticity is None else state.synapses[k]["w"]
        weights, delay = _table(fmt, np.asarray(w, np.float64))
        post, _ = _table(fmt, np.asarray(fmt.post))
        rows[name] = (post, delay, weights)
    post, delay, weights = (np.concatenate([rows["exc"][i], rows["inh"][i]]) for i in range(3))
    flat = lambda name: np.concatenate([np.broadcast_to(np.asarray(net.population(p).params[name],
                                                                   np.float64),
                                                        (net.population(p).size,))
                                        for p in ("exc", "inh")])
    rule = net.projection("exc").plasticity
    return dict(post=post.astype(np.int64), delay=delay.astype(np.int64), weights=weights,
                a=flat("a"), d=flat("d"), n_exc=net.population("exc").size,
                c_max=float(rule.w_max) if rule is not None else 10.0)


def _table(fmt, values):
    """Values of a Delayed table back in per-neuron synapse order ``(n_pre, M)``: the table is
    ordered by (pre, delay, input order), so with the builder's input order (pre, j) the real
    entries of each row, sorted by (delay, position), are synapses j in delay-stable order."""
    pre, _, d, _ = fmt.synapses()
    m = np.bincount(pre, minlength=fmt.n_pre).max()
    return values[np.asarray(fmt.mask())].reshape(fmt.n_pre, m), d.reshape(fmt.n_pre, m)


class Second(NamedTuple):
    """Per-second statistics of a run, with the original program's labels.

    Second ``s`` holds the spikes the original records at ms ``1000 s`` to ``1000 s + 999``
    (izhijax's steps ``1000 s - 1`` to ``1000 s + 998``).
    """

    second: int
    exc_rate: float       # Hz
    strong_percent: float  # % of exc synapses onto exc neurons above 0.9 C_max, during the second
    inh_rate: float       # Hz


def run(net, inputs, key, seconds, path=None, *, checkpoint_every=60, snapshot_every=None,
        progress=True, backend="auto"):
    """Run the network second by second, keeping per-second statistics and no raster.

    The loop is one compiled second (``1000 / dt`` steps, spikes counted per population only);
    memory does not grow with the run. With ``path`` the run is resumable: every
    ``checkpoint_every`` seconds the state and the statistics are saved (atomically) in the folder,
    a rerun with the same network, input and key continues from the last checkpoint, bit for bit
    (the folder's header ``run.npz`` binds it to them, and its checkpoint to the header), and
    ``snapshot_every`` seconds the excitatory weights are saved (``weights_<second>.npy``).

    Args:
        net: e.g. :func:`polychronization2006`'s network (populations ``exc`` and ``inh``,
            plastic projection ``exc``).
        inputs: its input (an :class:`izhijax.inputs.Input`).
        key: the run's key.
        seconds: simulated seconds.
        path: run folder (optional).
        checkpoint_every, snapshot_every: seconds between checkpoints / weight snapshots.
        progress: a progress bar (tqdm).
        backend: ``"xla"``: each second as the engine's compiled scan (:mod:`izhijax._src.engine`);
            ``"numba"``: each second as one fused loop (:mod:`izhijax._src.fused`: the same step,
            3x faster here, the original's float64 arithmetic to the bit; needs
            ``pip install "izhijax[brainevent]"``); ``"auto"`` (default): ``"numba"`` where it is
            installed and runs the network, else ``"xla"``. A run folder keeps its backend.

    Returns:
        ``(state, stats)``: the final :class:`izhijax.State` and a NumPy structured record
        array of :class:`Second` rows (``stats.exc_rate``...).
    """
    from .io import load, save
    from .simulate import _prepare
    from .validate import check_n_steps, check_params
    check_params(net, "net")
    seconds = check_n_steps(seconds, "seconds")
    checkpoint_every = check_n_steps(checkpoint_every, "checkpoint_every")
    if snapshot_every is not None:
        snapshot_every = check_n_steps(snapshot_every, "snapshot_every")
    missing = [name for name in ("exc", "inh") if name not in net.names]
    if missing:
        raise ValueError(f"net must have populations 'exc' and 'inh' (as polychronization2006 "
                         f"builds it), got {list(net.names)}")
    steps = int(round(1000.0 / net.config.dt))
    key, state, inputs, _, _ = _prepare(net, key, steps, None, inputs, (), ())
    backend = choose_backend(backend, net, inputs)
    one_second = fused.run_jit if backend == "numba" else engine.run_jit
    exc_n, inh_n = net.population("exc").size, net.population("inh").size
    rows, carry, start = [], np.zeros(2, np.int64), 0
    if path is not None:
        from .longrun import _inputs_hash, _same_run
        os.makedirs(path, exist_ok=True)
        head, ck = os.path.join(path, "run.npz"), os.path.join(path, "checkpoint.npz")
        settings = {"kind": "polychronization.run", "inputs_sha256": _inputs_hash(inputs)}
        if backend == "numba":      # (a folder of the XLA backend has no entry: older ones)
            settings["backend"] = backend
        if os.path.exists(head):
            old = load(head)
            _same_run(head, old, net, key, state, settings)
            run_id = old.info["run_id"]
        elif os.path.exists(ck):
            raise ValueError(f"{path} holds a checkpoint of a run whose header run.npz is "
                             f"missing: it cannot be told apart from another run; use another "
                             f"folder")
        else:
            run_id = uuid.uuid4().hex
            save(head, params=net, state=state, key=key, info={**settings, "run_id": run_id})
        if os.path.exists(ck):
            got = load(ck)
            info = got.info if isinstance(got.info, dict) else {}
            if info.get("run_id") != run_id:
                raise ValueError(f"{ck} is a checkpoint of another run (run_id "
                                 f"{str(info.get('run_id'))[:64]}; this folder's run is "
                                 f"{run_id}); use another folder")
            rows = [Second(*r) for r in info["rows"]]
            if got.state is None or int(np.asarray(got.state.t)) != len(rows) * steps:
                raise ValueError(f"{ck} holds {len(rows)} seconds of statistics but a state at "
                                 f"step {None if got.state is None else int(got.state.t)}, not "
                                 f"{len(rows) * steps}: it is damaged; use another folder")
            state = got.state
            carry = np.asarray(info["carry"], np.int64)
            start = len(rows)
    secs = range(start, int(seconds))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=int(seconds), initial=start, desc="polychronization", unit="s")
    t_start = time.perf_counter()
    for sec in secs:
        strong = exc_exc_strong(net, state)
        state, out = one_second(net, key, state, inputs, jnp.zeros(0, jnp.int32),
                                jnp.zeros(0, jnp.int32), n_steps=steps, record_spikes=False)
        pop = np.asarray(out.pop_counts, np.int64)
        # the original's labels: a spike of the second's last step belongs to the next second
        this = carry + pop[:-1].sum(axis=0)
        carry = pop[-1].copy()
        rows.append(Second(sec, this[0] / exc_n, strong, this[1] / inh_n))
        if int(out.diverged_at) >= 0:
            raise FloatingPointError(f"the run diverged at step {int(out.diverged_at)}")
        if bar is not None:
            bar.update(1)
            bar.set_postfix(exc=f"{rows[-1].exc_rate:.2f}Hz", inh=f"{rows[-1].inh_rate:.1f}Hz",
                            strong=f"{strong:.1f}%")
        done = sec + 1
        if path is not None and snapshot_every and done % snapshot_every == 0:
            w, _ = learned_weights(net, state)
            _atomic_npy(os.path.join(path, f"weights_{done:06d}.npy"), w)
        if path is not None and (done % checkpoint_every == 0 or done == int(seconds)):
            save(os.path.join(path, "checkpoint.npz"), state=state,
                 info={"run_id": run_id, "rows": [list(map(float, r)) for r in rows],
                       "carry": carry.tolist(), "wall_s": time.perf_counter() - t_start})
    if bar is not None:
        bar.close()
    stats = np.rec.fromrecords(rows, names=Second._fields) if rows else None
    return state, stats


BACKENDS = ("auto", "xla", "numba")


def choose_backend(backend, net, inputs=None):
    """``"xla"`` or ``"numba"`` for :func:`run` (``"auto"``: the fused loop where numba and
    brainevent are installed and it runs the network). Raises a ``ValueError`` naming what is
    wrong with an unknown name or a network the fused loop does not run, an ``ImportError``
    saying what to install when ``"numba"`` is asked for without it."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if fused.supported(net, inputs) is not None or not fused.available():
            return "xla"
        return "numba"
    if backend == "numba":
        fused.check_supported(net, inputs)
        fused.require()
    return backend


def _atomic_npy(path, array):
    """Write ``array`` to the ``.npy`` file ``path`` whole or not at all (as :mod:`izhijax.io`
    writes its files: a unique temporary file in the same folder, synced, renamed)."""
    from .io import _write_atomic
    _write_atomic(path, lambda f: np.save(f, array))
