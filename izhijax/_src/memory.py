"""Memory estimates and checks: refuse a run that cannot fit before allocating anything.

A sweep of millions of networks, a fit through a million steps or a duration typed with one zero
too many should stop at once with one line saying how much it needs, not after minutes with an
allocator's traceback (or the kernel's OOM killer). This module estimates what a run allocates from
shapes alone (``jax.eval_shape``: nothing is allocated, nothing compiled) and compares it with what
the machine has.

    from izhijax._src import memory
    need = memory.simulation_bytes(params, n_steps=10_000, n_record_v=1)
    memory.check_memory(need, "simulation of 1000 neurons x 10000 steps")   # ValueError if too big
    memory.format_bytes(need), need.parts          # '10.1 MiB', {'recordings': 10124000, ...}

Not a public namespace: :func:`izhijax.sweep.run` and :func:`izhijax.fit.fit` call
:func:`check_memory` at entry, as does the ``izhijax`` command before it builds anything. Set the
environment variable ``IZHIJAX_MEMORY_CHECK=0`` to turn the check off (the estimates are rough: an
allocation the estimate misses is not caught, and a run refused although it would fit can be
forced through).

What is counted. The estimates count the arrays a run creates whose size grows with the request
(steps ``T``, neurons ``n``, networks of a batch ``B``); ``f`` is the network's float size (4 or 8
bytes), ``k`` the number of state variables per neuron (2 for ``v, u``), ``S`` the bytes of one
network's state (``init_state``: ``k n f`` plus the pulses in flight ``max_delay n f`` plus any
per-synapse state of delayed and plastic projections), ``b`` the steps of a noise block
(:func:`izhijax._src.engine.noise_block`, at most 50). The weights and other parameters the caller
already holds are *not* counted by the run estimates (they are resident before the call, and already
missing from the available memory); :func:`network_bytes` gives their size for a caller that checks
before building the network (the ``izhijax`` command). The constants below were fitted to XLA's own
accounting of the compiled programs (``compile().memory_analysis()``, CPU, float32 and float64,
100 to 1000 neurons): for the Izhikevich (2003) network the estimates are within about 10% of it
(up to 20% above it for checkpointed gradients of small networks; tests/test_memory.py checks
25%), and the recording and state parts are exactly the bytes of the arrays a run returns.

* :func:`simulation_bytes`, one run (times ``batch``): recording ``T n`` bytes for the raster (bool;
  ``T n f`` when differentiable), ``T (r_v + r_u) f`` for the voltage traces of ``r_v`` and ``r_u``
  recorded neurons, ``T P 4`` for the spikes per step of the ``P`` populations and ``4 n`` for the
  counts; states ``2 S`` (the start and the final state); noise ``2 b n f`` (a block of unit noise
  drawn ahead and its random bits). A run in several chunks holds its pieces and their concatenation
  at the end: twice the recording.
* :func:`sweep_bytes`, a batch of ``B`` networks held at once plus what is kept of every network:
  per network of the batch, states ``S + (m + 1) n f + 4 n`` (its state, the ``m`` swept per-neuron
  values, the counts), recording ``T (4 P + 2 f)`` (spikes per step per population, the population
  rate and its spectrum for the summaries; ``+ T n`` with the raster), noise ``2 b n f`` (per
  network, or once per trial key when the batch shares its keys); then the summaries of all ``N``
  networks twice (the per-batch pieces and their concatenation) and the trial keys twice (device
  and host).
* :func:`fit_bytes`, one optimizer step (``jax.value_and_grad`` of the loss over ``B`` runs):
  reverse mode keeps every step's residuals, ``R = S + n f + (k + 2) n f`` per step (the carry:
  state and counts, and the step's intermediates: ``8 n f`` for the 2003 network), so
  ``B T R``, plus noise ``10 b n f`` per run. With gradient checkpointing every ``K`` steps it
  keeps the state at each chunk boundary and one chunk's residuals and noise,
  ``B (ceil(T / K) S + K R + K n f)`` (with ``K ~ sqrt(T)`` that is ``~ 2 sqrt(T) R`` instead of
  ``T R``). For ``w`` bytes of floating weights add ``2 w`` for one run, ``3 w`` for a batch
  (the scaled weights, their cotangent, in part per run), and with checkpointing ``4 w`` and
  ``5 w`` (the recomputed chunks rebuild them); weights in a format (``EventDense``, ``Sparse``:
  the fit wraps them in ``PreScaled``, which scales the spikes, not the matrix) add ``w``; XLA's buffer sharing is not linear in ``B``, so
  these are rounded up from its accounting at 100 to 1000 neurons, ``B`` = 1 to 3. The history the
  loop keeps on the host is ``I (n + h + 1) 8`` for ``I`` iterations and ``h`` fitted numbers.

Available memory (:func:`available_bytes`): on the host, Linux's ``MemAvailable``
(``/proc/meminfo``), lowered to a cgroup's limit minus its usage when one is set (containers),
else ``os.sysconf`` free pages; on a GPU or TPU, ``device.memory_stats()``'s ``bytes_limit`` minus
``bytes_in_use``. Where it cannot be read the check passes.
"""

import math
import os

import numpy as np

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
ENV = "IZHIJAX_MEMORY_CHECK"
"""Environment variable: ``0`` turns :func:`check_memory` off."""

FIT_STEP_EXTRA = 2
"""Intermediates per state variable a differentiable step keeps, besides the carry, in units of
``n f`` (``k + FIT_STEP_EXTRA``; fitted: 8 ``n f`` per step for the 2003 network with ``k = 2``)."""
FIT_NOISE = 10
"""Noise block buffers of a differentiated run, in units of ``b n f`` (fitted)."""


class Estimate(int):
    """A number of bytes (an ``int``) with its breakdown: ``parts``, name -> bytes.

    ``int(estimate)`` and arithmetic give plain integers; :func:`check_memory` names the largest
    parts in its message.
    """

    def __new__(cls, parts):
        parts = {k: int(v) for k, v in parts.items() if int(v) > 0}
        self = super().__new__(cls, sum(parts.values()))
        self.parts = parts
        return self

    def __repr__(self):
        inner = ", ".join(f"{k} {format_bytes(v)}" for k, v in self.parts.items())
        return f"Estimate({format_bytes(self)}: {inner})"

    def select(self, names):
        """The estimate restricted to some parts."""
        return Estimate({k: v for k, v in self.parts.items() if k in names})

    def __add__(self, other):
        if isinstance(other, Estimate):
            parts = dict(self.parts)
            for k, v in other.parts.items():
                parts[k] = parts.get(k, 0) + v
            return Estimate(parts)
        return int(self) + other


def format_bytes(nbytes):
    """``nbytes`` in binary units with three significant digits: ``'3.2 TiB'``, ``'512 B'``."""
    nbytes = int(nbytes)
    if nbytes < 1024:
        return f"{nbytes} B"
    unit = min(len(UNITS) - 1, (nbytes.bit_length() - 1) // 10)
    whole = nbytes >> (10 * unit)
    if whole.bit_length() > 1000:                     # beyond float: say the order of magnitude
        return f"about 10^{len(str(whole)) - 1} {UNITS[unit]}"
    return f"{nbytes / 1024 ** unit:.3g} {UNITS[unit]}"


def format_count(count):
    """An integer for a message: as it is up to 15 digits, else ``'1.23e+300'``."""
    count = int(count)
    digits = str(abs(count))
    if len(digits) <= 15:
        return str(count)
    return f"{'-' if count < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


# -- what the machine has --------------------------------------------------------------------------

def _read_int(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available():
    """Limit minus usage of this process's memory cgroup (v2, then v1), or None without a limit."""
    for limit_path, usage_path in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_path), _read_int(usage_path)
        if limit is not None and usage is not None and limit < 2**60:   # "max" / huge: no limit
            return max(0, limit - usage)
    return None


def host_available_bytes():
    """Bytes of host memory available to new allocations (see the module docstring), or None."""
    found = [x for x in (_meminfo_available(), _cgroup_available()) if x is not None]
    if not found:
        try:
            found = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def available_bytes(device=None):
    """Bytes available for new arrays on ``device``.

    Args:
        device: a JAX device; None or a CPU device for the host's memory.

    Returns:
        int, or None where it cannot be read (a backend without ``memory_stats``).
    """
    if device is None or getattr(device, "platform", "cpu") == "cpu":
        return host_available_bytes()
    try:
        stats = device.memory_stats()
    except Exception:       # noqa: BLE001 - backends raise various errors for "not supported"
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return max(0, int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))


def _where(device):
    if device is None or getattr(device, "platform", "cpu") == "cpu":
        return "this machine has"
    return f"device {device} has"


def check_memory(nbytes, what, device=None, fraction=0.9, advice=None):
    """Raise ``ValueError`` if ``nbytes`` exceed ``fraction`` of the memory available on ``device``.

    Args:
        nbytes: bytes needed, an int or an :class:`Estimate` (its largest parts are named).
        what: the request in words, e.g. ``"sweep of 1000000 networks x 20000 steps"``.
        device: a JAX device; None (or a CPU device) for the host's memory.
        fraction: share of the available memory a request may take.
        advice: what to change, e.g. ``"use fewer points, a smaller batch_size or a shorter
            duration"``.

    Raises:
        ValueError: ``"<what> needs about 3.2 TiB (recordings 3.1 TiB, states 96 GiB); this machine
            has 21.5 GiB available; <advice>"``. Nothing is raised when the available memory cannot
            be read or ``IZHIJAX_MEMORY_CHECK=0``.
    """
    if os.environ.get(ENV, "").strip() == "0":
        return
    have = available_bytes(device)
    if have is None or int(nbytes) <= fraction * have:
        return
    parts = getattr(nbytes, "parts", {})
    largest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    detail = (" (" + ", ".join(f"{k} {format_bytes(v)}" for k, v in largest) + ")"
              if len(parts) > 1 else "")
    tail = f"; {advice}" if advice else ""
    raise ValueError(f"{what} needs about {format_bytes(nbytes)}{detail}; {_where(device)} "
                     f"{format_bytes(have)} available{tail} (set {ENV}=0 to try anyway)")


def check_placed(estimate, device_parts, what, device=None, fraction=0.9, advice=None):
    """:func:`check_memory` for a run whose ``device_parts`` live on ``device`` and the rest on the
    host: one check when the device is the host's CPU, else one per memory."""
    if device is None or getattr(device, "platform", "cpu") == "cpu":
        check_memory(estimate, what, None, fraction, advice)
        return
    check_memory(estimate.select(device_parts), what, device, fraction, advice)
    rest = [k for k in estimate.parts if k not in device_parts]
    check_memory(estimate.select(rest), f"{what} (results on the host)", None, fraction, advice)


# -- sizes of a network ----------------------------------------------------------------------------

def _nbytes(leaf):
    shape, dtype = np.shape(leaf) if not hasattr(leaf, "shape") else leaf.shape, leaf.dtype
    return math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize


def _itemsize(params):
    return np.dtype(params.dtype).itemsize


def network_bytes(params):
    """Bytes of a network's arrays (weights, per-neuron parameters): the sum over its leaves.

    ``params`` may be abstract (``jax.eval_shape`` of a builder), so a caller can check a network
    before building it.
    """
    import jax
    return sum(_nbytes(x) for x in jax.tree_util.tree_leaves(params) if hasattr(x, "dtype"))


def weight_bytes(params):
    """Bytes of the floating arrays of a network's projections (its weights)."""
    import jax
    leaves = jax.tree_util.tree_leaves(params.projections)
    return sum(_nbytes(x) for x in leaves if hasattr(x, "dtype")
               and np.issubdtype(np.dtype(x.dtype), np.floating))


def state_bytes(params, state=None):
    """Bytes of one network's :class:`izhijax.State`: state variables, pulses in flight,
    per-synapse state of delayed projections.

    Args:
        params: :class:`izhijax.Network`.
        state: the run's :class:`izhijax.State` if there is one already (its arrays are
            counted); default ``jax.eval_shape(init_state, params)`` (no allocation).
    """
    import jax
    from .network import State, init_state
    if state is None:
        state = jax.eval_shape(init_state, params)
    elif not isinstance(state, State):
        raise TypeError(f"state must be an izhijax.State, got {type(state).__name__}")
    return sum(_nbytes(x) for x in jax.tree_util.tree_leaves(state))


def _noise_steps(params, n_steps):
    from .engine import noise_block
    return noise_block(params.n, int(n_steps), params.config.noise.kind)


def _n_state_vars(params):
    return max(len(p.model.state_names) for p in params.populations)


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


# -- estimates -------------------------------------------------------------------------------------

def simulation_bytes(params, n_steps, n_record_v=1, n_record_u=0, record_spikes=True, batch=1, *,
                     differentiable=False, chunks=1, state=None):
    """Bytes one :func:`izhijax.simulate` call allocates (``batch`` of them under ``vmap``).

    Args:
        params: :class:`izhijax.Network` (concrete or abstract).
        n_steps: steps ``T``.
        n_record_v, n_record_u: neurons whose ``v`` / ``u`` are recorded.
        record_spikes: the ``(T, n)`` raster is kept.
        batch: runs held at once.
        differentiable: raster and counts as floats of the network's dtype.
        chunks: number of compiled chunks (more than one: pieces and their concatenation).
        state: the run's initial :class:`izhijax.State`, when at hand (see :func:`state_bytes`).

    Returns:
        :class:`Estimate` with parts ``recordings``, ``states``, ``noise`` (formulas in the module
        docstring). The network itself is not counted (see :func:`network_bytes`).
    """
    T, B = _positive(n_steps, "n_steps"), _positive(batch, "batch")
    n, f = params.n, _itemsize(params)
    flag = f if differentiable else 1
    count = f if differentiable else 4
    rec = (T * n * flag * bool(record_spikes) + T * (_positive(n_record_v, "n_record_v")
                                                    + _positive(n_record_u, "n_record_u")) * f
           + T * len(params.populations) * count + n * count)
    if _positive(chunks, "chunks") > 1:
        rec *= 2
    return Estimate({"recordings": B * rec, "states": B * 2 * state_bytes(params, state),
                     "noise": B * 2 * _noise_steps(params, T) * n * f})


def sweep_bytes(params, n_steps, n_networks, batch_size=None, *, n_values=1, n_keys=1,
                shared_keys=None, record_spikes=False, summary_bytes=0):
    """Bytes a sweep needs: one batch of networks at once plus what is kept of all of them.

    Args:
        params: the base :class:`izhijax.Network`.
        n_steps: steps per network ``T``.
        n_networks: networks of the whole sweep ``N`` (points times trial keys).
        batch_size: networks held at once in the memory being checked ``B`` (default all).
        n_values: swept values per network ``m``.
        n_keys: trial keys of the sweep.
        shared_keys: None if each network draws its own noise, else the number of keys whose noise
            the batch draws once and shares.
        record_spikes: the networks' summaries receive the raster.
        summary_bytes: bytes of one network's summaries (and its diverged step).

    Returns:
        :class:`Estimate` with parts ``states``, ``recordings``, ``noise`` (the batch) and
        ``summaries``, ``keys`` (the whole sweep): formulas in the module docstring.
    """
    T, N = _positive(n_steps, "n_steps"), _positive(n_networks, "n_networks")
    B = N if batch_size is None else min(_positive(batch_size, "batch_size"), N)
    n, f = params.n, _itemsize(params)
    state = state_bytes(params) + (_positive(n_values, "n_values") + 1) * n * f + 4 * n
    rec = T * (4 * len(params.populations) + 2 * f) + T * n * bool(record_spikes)
    block = 2 * _noise_steps(params, T) * n * f
    noise = block * (B if shared_keys is None else min(_positive(shared_keys, "shared_keys"), B))
    return Estimate({"states": B * state, "recordings": B * rec, "noise": noise,
                     "summaries": 2 * N * _positive(summary_bytes, "summary_bytes"),
                     "keys": 2 * _positive(n_keys, "n_keys") * 8})


def fit_bytes(params, n_steps, batch=1, *, checkpoint=None, n_iters=0, n_theta=0):
    """Bytes one optimizer step of :func:`izhijax.fit.fit` needs, plus its history.

    Args:
        params: the network the fit builds (concrete or abstract).
        n_steps: steps per run ``T``.
        batch: runs per optimizer step ``B``.
        checkpoint: gradient checkpointing chunk ``K`` in steps, or None.
        n_iters: optimizer steps whose history is kept on the host ``I``.
        n_theta: fitted numbers ``h`` (the size of ``theta``).

    Returns:
        :class:`Estimate` with parts ``residuals`` (what reverse mode keeps), ``noise``,
        ``weights`` and ``history``: formulas in the module docstring.
    """
    T, B = _positive(n_steps, "n_steps"), _positive(batch, "batch")
    n, f = params.n, _itemsize(params)
    S, w = state_bytes(params), weight_bytes(params)
    per_step = S + n * f + (_n_state_vars(params) + FIT_STEP_EXTRA) * n * f
    # Dense weights are scaled by the fitted gains (copies of the matrix, and their cotangents);
    # weights in a format (EventDense, Sparse...) are wrapped in PreScaled, which scales the spikes
    # and leaves the matrix as it is (XLA's accounting of the Fig. 3 fit: about one copy).
    from .connectivity import is_format
    formats = all(is_format(p.weights) for p in params.projections)
    if checkpoint is None:
        residuals = B * T * per_step
        noise = B * FIT_NOISE * _noise_steps(params, T) * n * f
        weights = (1 if formats else 2 if B == 1 else 3) * w
    else:
        K = min(_positive(checkpoint, "checkpoint"), T)
        residuals = B * (-(-T // K) * S + K * per_step)
        noise = B * K * n * f
        weights = (1 if formats else 4 if B == 1 else 5) * w
    return Estimate({"residuals": residuals, "noise": noise, "weights": weights,
                     "history": _positive(n_iters, "n_iters")
                     * (n + _positive(n_theta, "n_theta") + 1) * 8})
