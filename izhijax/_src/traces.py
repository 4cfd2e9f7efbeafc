"""Fitting single neurons to recordings: a voltage trace or spike times under an injected current.

A recording is a :class:`Trace`: sample times ``time`` (ms, regular), the injected ``current`` at
each sample (the model's current unit, mV/ms for the 2003 model, times a fitted ``gain`` when the
recording is in pA) and, optionally, the membrane ``voltage`` (mV) and the ``spikes`` (times in
ms; detected from the voltage when not given). :func:`load_trace` reads one from CSV or NPZ,
:func:`check_trace` refuses a bad one with one line naming the field.

Time grid. The model is simulated with a step ``dt`` that divides the sampling interval
``Delta`` of the recording (``m = Delta / dt`` whole steps per sample; ``dt`` defaults to
``Delta``) and compared at the recording's samples. The current of sample ``k`` is held over
``[t_k, t_k+1)`` (zero-order hold, ``m`` steps); the model's voltage at sample ``k >= 1`` is the
voltage after step ``k m - 1`` (before the reset: a spike shows its overshoot); sample 0 is the
initial state (``v = voltage[0]``, ``u = b v``; without a voltage, ``v_rest``). A spike of step
``j`` is at ``t_0 + (j + 1) dt``, the end of the step in which ``v`` crossed 30 mV: the time at
which a sampled trace shows it.

Losses (pure ``jax.numpy``, usable under ``jax.grad``; the model's spikes are the simulation's
0/1 floats carrying the surrogate gradient, :mod:`izhijax._src.surrogate`):

* :func:`voltage_loss`: mean squared voltage difference (mV^2) below a ``ceiling`` (both traces
  clipped there), with the samples in a window around the recorded *and* the model's spikes left
  out, so a spike's shape (tens of mV for a sample or two) does not dominate the subthreshold fit;
* :func:`van_rossum_distance`: van Rossum's (2001) distance between the model's spike train and the
  target times, both filtered by ``exp(-t / tau)``; :func:`spike_loss` is its square per target
  spike;
* :func:`combined_loss`: ``voltage_loss / v_scale^2 + weight * spike_loss``.

The reported metric is :func:`coincidence_factor`, Jolivet et al. (2008)'s Gamma (NumPy).

:func:`fit_trace` fits ``a, b, c, d`` (and ``gain``, ``bias``, ``v_rest`` where asked) of one
:class:`izhijax.Izhikevich2003` neuron, every start at once as one network of independent
neurons. By default with multiple shooting: the recorded voltage is imposed every ``horizon``
(0.5 ms), the recorded spikes reset the neuron, and Levenberg-Marquardt minimises the error of
the short predictions in between (smooth in the parameters; its Jacobian by forward-mode
differentiation through the simulation); from spike times alone, the error of each interval's
first spike time. Otherwise (``method="gradient"``) a screening run of
many starts, a teacher-forced pre-fit and Adam on the free run through the surrogate spikes; or
CMA-ES (``method="cmaes"``). Deterministic (no noise, a fixed key).
"""

import csv
import dataclasses
import functools
import math
import os
import time as _time
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .fit import FitDivergenceError
from .network import Config, Network, Population
from .neuron import PRESETS, Izhikevich2003
from .simulate import simulate

MIN_SAMPLES = 10
"""Fewest samples a trace may have."""
V_REST0 = -70.0
"""Resting potential (mV) of a 2003 neuron with ``b = 0.2`` and no input; ``v_rest`` shifts the
voltage axis by ``v_rest - V_REST0`` (see :data:`PARAMETERS`)."""
TONIC_PRESETS = ("RS", "IB", "CH", "FS", "LTS", "TC", "RZ")
"""The Izhikevich (2003) Fig. 2 cell types used as starts of every fit."""
LOSS_KINDS = ("voltage", "spikes", "both")
PREFIT_LR = 0.1
"""Adam's learning rate of the teacher-forced pre-fit (on the log / scaled coordinates)."""
MODEL = Izhikevich2003(v_peak=30.0, inclusive=True)
"""The fitted neuron: the 2003 model, spike and reset at ``v >= 30`` mV."""


class _Spec(NamedTuple):
    transform: str        # "log" or "affine"
    center: float
    scale: float
    low: float
    high: float
    default: float
    unit: str


PARAMETERS = {
    "a": _Spec("log", 0.0, 1.0, 0.002, 0.3, 0.02, "1/ms"),
    "b": _Spec("log", 0.0, 1.0, 0.02, 0.3, 0.2, ""),
    "c": _Spec("affine", -65.0, 5.0, -85.0, -35.0, -65.0, "mV"),
    "d": _Spec("affine", 4.0, 2.0, 0.0, 20.0, 8.0, "mV/ms"),
    "gain": _Spec("log", 0.0, 1.0, 1e-3, 1e3, 1.0, "model current per recorded unit"),
    "bias": _Spec("affine", 0.0, 1.0, -50.0, 50.0, 0.0, "mV/ms"),
    "v_rest": _Spec("affine", V_REST0, 5.0, -100.0, -30.0, V_REST0, "mV"),
}
"""Parameters :func:`fit_trace` can fit: ``name -> (transform, center, scale, low, high, default,
unit)``. The optimizer works on ``log p`` (a, b, gain: positive) or ``(p - center) / scale``
(c, d, bias, v_rest), projected into ``[low, high]`` after every step. ``gain`` multiplies the
recorded current, ``bias`` is a constant current added to it (mV/ms), ``v_rest`` shifts the voltage
axis: the recorded voltage is the model's ``v + v_rest - V_REST0`` (so ``v_rest`` is the recorded
resting potential of a ``b = 0.2`` neuron; the threshold 30 mV, ``c`` and the spike detection of
the model move with it). Parameters that are not fitted keep ``init``'s value or the default (the
RS cell, gain 1, no bias, no shift)."""


class Trace(NamedTuple):
    """A recording of one neuron under an injected current (NumPy arrays).

    Attributes:
        time: sample times, ms, shape ``(N,)``, strictly increasing and regular.
        current: injected current at each sample, shape ``(N,)``, in the model's current unit
            (mV/ms) or in the recording's (pA) with a fitted ``gain``; held until the next sample.
        voltage: membrane potential, mV, shape ``(N,)``, or None (spike times only, or a current
            to simulate).
        spikes: spike times, ms, shape ``(n_spikes,)``, increasing, or None (detected from
            ``voltage`` where needed, :func:`detect_spikes`).
    """

    time: np.ndarray
    current: np.ndarray
    voltage: Optional[np.ndarray] = None
    spikes: Optional[np.ndarray] = None

    @property
    def interval(self):
        """Sampling interval ``Delta`` in ms (``(t[-1] - t[0]) / (N - 1)``)."""
        t = np.asarray(self.time, np.float64)
        return float((t[-1] - t[0]) / (len(t) - 1))

    @property
    def duration(self):
        """Recorded time in ms, ``t[-1] - t[0]``."""
        return float(self.time[-1] - self.time[0])


# -- validation --------------------------------------------------------------------------------

def _real(x, name):
    """``x`` as a float64 NumPy array of real numbers; complex, bool, strings refused by name."""
    if isinstance(x, jax.core.Tracer):
        raise TypeError(f"{name} must be concrete numbers (a recording), got a traced array")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__} "
                        f"({err})") from None
    kind = arr.dtype
    if kind == np.bool_ or not (np.issubdtype(kind, np.floating) or np.issubdtype(kind, np.integer)):
        what = ("complex" if np.issubdtype(kind, np.complexfloating) else
                "boolean" if kind == np.bool_ else f"non-numeric ({type(x).__name__})")
        raise TypeError(f"{name} must hold real numbers (integers or floats), got {what} values "
                        f"of dtype {kind}; convert them explicitly if that is meant")
    return arr.astype(np.float64)


def _finite(arr, name):
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must be finite, got {float(arr[i])} at index {i} "
                         f"({int(bad.sum())} non-finite of {arr.size})")


def _vector(x, name):
    arr = _real(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per sample), got shape "
                         f"{arr.shape}")
    _finite(arr, name)
    return arr


def _check_dt(dt, interval, name="dt"):
    """Steps per sample ``m = interval / dt`` (a whole number >= 1), or the refusal naming ``dt``."""
    if isinstance(dt, (bool, np.bool_)) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of ms, got {type(dt).__name__} {dt!r}")
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"{name} must be a positive number of ms, got {dt!r}")
    ratio = interval / dt
    m = round(ratio)
    if m < 1 or abs(ratio - m) > 1e-6 * max(ratio, 1.0):
        raise ValueError(f"{name} must divide the recording's sampling interval "
                         f"({interval:g} ms) into a whole number of steps (the model is "
                         f"simulated at dt and compared at the samples), got dt = {dt:g} ms "
                         f"({ratio:.6g} steps per sample); use dt = {interval:g} / k")
    return int(m)


def check_trace(trace, dt=None, *, need_voltage=False, need_spikes=False, name="trace"):
    """Validate a recording; return it as a :class:`Trace` of float64 NumPy arrays.

    Args:
        trace: a :class:`Trace` (or any object with ``time``, ``current`` and optional ``voltage``
            and ``spikes`` attributes).
        dt: the simulation step (ms) to check against the sampling interval, or None.
        need_voltage: refuse a trace without a voltage.
        need_spikes: refuse a trace with neither spike times nor a voltage to detect them in.
        name: how to call the trace in messages.

    Returns:
        :class:`Trace` (``spikes`` as given, or None).

    Raises:
        TypeError: a field holds complex, boolean or non-numeric values, or ``dt`` is not a number.
        ValueError: a field is not finite (the index of the first bad value is named), not
            one-dimensional, of another length than ``time``; ``time`` has fewer than
            :data:`MIN_SAMPLES` samples, does not increase strictly or is not regular (the first
            irregular index and the tolerance are named); spike times outside the recording or not
            increasing; ``dt`` does not divide the sampling interval.
    """
    for field in ("time", "current"):
        if not hasattr(trace, field):
            raise TypeError(f"{name} must have fields time, current (and voltage, spikes), "
                            f"got {type(trace).__name__} without {field!r}")
    t = _vector(trace.time, f"{name}.time")
    if t.size < MIN_SAMPLES:
        raise ValueError(f"{name}.time must hold at least {MIN_SAMPLES} samples, got {t.size}")
    steps = np.diff(t)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0)) + 1
        raise ValueError(f"{name}.time must increase strictly, got {t[i]:g} ms at index {i} "
                         f"after {t[i - 1]:g} ms at index {i - 1}")
    interval = (t[-1] - t[0]) / (t.size - 1)
    tol = 1e-3 * interval
    off = np.abs(steps - interval) > tol
    if off.any():
        i = int(np.argmax(off)) + 1
        raise ValueError(f"{name}.time must be regularly sampled (interval {interval:g} ms, "
                         f"tolerance {tol:.3g} ms), got an interval of {steps[i - 1]:g} ms at "
                         f"index {i} (between samples {i - 1} and {i})")
    out = {"time": t}
    for field in ("current", "voltage"):
        x = getattr(trace, field, None)
        if x is None:
            if field == "current":
                raise TypeError(f"{name}.current must be an array of the injected current, "
                                f"got None")
            continue
        x = _real(x, f"{name}.{field}")
        if x.ndim != 1:
            raise ValueError(f"{name}.{field} must be one-dimensional (one value per sample), "
                             f"got shape {x.shape}")
        if x.size != t.size:
            raise ValueError(f"{name}.{field} must have one value per sample of {name}.time "
                             f"({t.size} samples), got {x.size}")
        _finite(x, f"{name}.{field}")
        out[field] = x
    if need_voltage and "voltage" not in out:
        raise ValueError(f"{name}.voltage is needed (a voltage loss), got None")
    spikes = getattr(trace, "spikes", None)
    if spikes is not None:
        s = _real(spikes, f"{name}.spikes")
        if s.ndim != 1:
            raise ValueError(f"{name}.spikes must be a one-dimensional array of spike times (ms), "
                             f"got shape {s.shape}")
        _finite(s, f"{name}.spikes")
        if s.size and (s.min() < t[0] or s.max() > t[-1]):
            i = int(np.argmax((s < t[0]) | (s > t[-1])))
            raise ValueError(f"{name}.spikes must lie within the recording [{t[0]:g}, "
                             f"{t[-1]:g}] ms, got {s[i]:g} at index {i}")
        if np.any(np.diff(s) <= 0):
            i = int(np.argmax(np.diff(s) <= 0)) + 1
            raise ValueError(f"{name}.spikes must increase strictly, got {s[i]:g} ms at index "
                             f"{i} after {s[i - 1]:g}")
        out["spikes"] = s
    if need_spikes and "spikes" not in out and "voltage" not in out:
        raise ValueError(f"{name}.spikes is needed (a spike loss) and there is no voltage to "
                         f"detect them in, got neither")
    if dt is not None:
        _check_dt(dt, interval)
    return Trace(**out)


def load_trace(path):
    """Read a recording from a CSV or NPZ file and validate it (:func:`check_trace`).

    CSV: a header row naming the columns ``time`` (ms), ``current`` and optionally ``voltage``
    (mV) and ``spike`` (1 at a sample holding a spike, else 0); ``t``, ``i``, ``v`` are accepted
    too, any case, any order; one row per sample. NPZ: arrays ``t``/``time``, ``i``/``current``,
    optionally ``v``/``voltage`` and ``spikes`` (spike times, ms).

    Returns:
        :class:`Trace`.

    Raises:
        OSError: the file cannot be read.
        ValueError, TypeError: the file's contents are not a valid recording; the message starts
            with the file's name and names the column or field.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".npz"):
        raise ValueError(f"trace file {path!r} must be .csv or .npz, got {ext or 'no extension'!r}")
    try:
        fields = _read_csv(path) if ext == ".csv" else _read_npz(path)
        return check_trace(Trace(**fields), name="trace")
    except (ValueError, TypeError) as err:
        raise type(err)(f"trace file {path!r}: {err}") from None


ALIASES = {"time": ("time", "t"), "current": ("current", "i"), "voltage": ("voltage", "v"),
           "spike": ("spike", "spikes")}


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError("the file is empty (expected a header time,current,voltage and a row "
                         "per sample)")
    header = [c.strip().lower() for c in rows[0]]
    where = {}
    for field, names in ALIASES.items():
        found = [k for k, h in enumerate(header) if h in names]
        if len(found) > 1:
            raise ValueError(f"column {field!r} appears {len(found)} times in the header {header}")
        if found:
            where[field] = found[0]
    for field in ("time", "current"):
        if field not in where:
            raise ValueError(f"the header must name a column {field!r} (header time,current"
                             f"[,voltage]), got {rows[0]}")
    data = {field: [] for field in where}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"line {line} has {len(row)} values, the header {len(header)}")
        for field, k in where.items():
            text = row[k].strip()
            try:
                data[field].append(float(text))
            except ValueError:
                raise ValueError(f"column {field!r}, line {line}: expected a number, got "
                                 f"{text!r}") from None
    out = {f: np.asarray(data[f], np.float64) for f in ("time", "current", "voltage") if f in data}
    if "spike" in data:
        flags = np.asarray(data["spike"])
        if not np.all(np.isin(flags, (0.0, 1.0))):
            i = int(np.argmax(~np.isin(flags, (0.0, 1.0))))
            raise ValueError(f"column 'spike' must hold 0 or 1, got {flags[i]!r} on line {i + 2}")
        out["spikes"] = out["time"][flags > 0]
    return out


def _read_npz(path):
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        out = {}
        for field, names in (("time", ("t", "time")), ("current", ("i", "current")),
                             ("voltage", ("v", "voltage")), ("spikes", ("spikes", "spike_times"))):
            found = [k for k in names if k in keys]
            if len(found) > 1:
                raise ValueError(f"holds both {found[0]!r} and {found[1]!r} for {field}")
            if found:
                out[field] = z[found[0]]
            elif field in ("time", "current"):
                raise ValueError(f"must hold an array {' or '.join(map(repr, names))} "
                                 f"({field}), got keys {sorted(keys)}")
    return out


def save_trace(path, trace):
    """Write a :class:`Trace` as CSV (header ``time,current[,voltage][,spike]``) or NPZ.

    Args:
        path: ``.csv`` or ``.npz`` file name.
        trace: :class:`Trace`; in a CSV its spike times are written as a 0/1 ``spike`` column
            (each spike at the nearest sample).
    """
    trace = check_trace(trace)
    path = os.fspath(path)
    if path.lower().endswith(".npz"):
        fields = {"t": trace.time, "i": trace.current}
        if trace.voltage is not None:
            fields["v"] = trace.voltage
        if trace.spikes is not None:
            fields["spikes"] = trace.spikes
        np.savez(path, **fields)
        return
    if not path.lower().endswith(".csv"):
        raise ValueError(f"path must end in .csv or .npz, got {path!r}")
    cols, names = [trace.time, trace.current], ["time", "current"]
    if trace.voltage is not None:
        cols.append(trace.voltage)
        names.append("voltage")
    if trace.spikes is not None:
        flag = np.zeros(trace.time.size)
        k = np.clip(np.rint((trace.spikes - trace.time[0]) / trace.interval).astype(int), 0,
                    trace.time.size - 1)
        flag[k] = 1
        cols.append(flag)
        names.append("spike")
    np.savetxt(path, np.stack(cols, 1), delimiter=",", header=",".join(names), comments="",
               fmt="%.10g")


# -- spikes --------------------------------------------------------------------------------------

def detect_spikes(voltage, time, threshold=0.0, refractory=2.0):
    """Spike times of a recorded voltage: upward crossings of ``threshold`` (NumPy).

    A spike is the first sample at or above ``threshold`` after one below it; crossings less than
    ``refractory`` ms after the previous spike are ignored (noise on a spike's peak).

    Args:
        voltage: mV, shape ``(N,)``.
        time: ms, shape ``(N,)``.
        threshold: mV.
        refractory: ms (>= 0).

    Returns:
        float64 spike times in ms, shape ``(n_spikes,)``.
    """
    v = _vector(voltage, "voltage")
    t = _vector(time, "time")
    if v.size != t.size:
        raise ValueError(f"voltage must have one value per sample of time ({t.size}), got "
                         f"{v.size}")
    if not (isinstance(refractory, (int, float, np.integer, np.floating))
            and math.isfinite(refractory) and refractory >= 0):
        raise ValueError(f"refractory must be a number of ms >= 0, got {refractory!r}")
    up = np.flatnonzero((v[1:] >= threshold) & (v[:-1] < threshold)) + 1
    out, last = [], -np.inf
    for k in up:
        if t[k] - last >= refractory:
            out.append(t[k])
            last = t[k]
    return np.asarray(out, np.float64)


def spike_train(times, t0, n_steps, dt, dtype=None):
    """Spike times binned on a grid: 1.0 at step ``round((t - t0) / dt)`` (clipped to the grid).

    Args:
        times: spike times, ms, shape ``(n_spikes,)``.
        t0: time of step 0, ms.
        n_steps: grid length.
        dt: grid step, ms.
        dtype: float dtype (default JAX's default float).

    Returns:
        JAX array ``(n_steps,)``; two spikes in one bin count 2.
    """
    times = np.asarray(times, np.float64)
    k = np.clip(np.rint((times - t0) / dt).astype(np.int64), 0, n_steps - 1)
    out = np.zeros(n_steps)
    np.add.at(out, k, 1.0)
    return jnp.asarray(out, jnp.result_type(float) if dtype is None else dtype)


def _decay(train, q):
    """``f[k] = q f[k-1] + train[k]`` along axis 0 (an associative scan: log depth)."""
    a = jnp.broadcast_to(jnp.asarray(q, train.dtype), train.shape)

    def combine(x, y):
        return x[0] * y[0], x[1] * y[0] + y[1]
    return jax.lax.associative_scan(combine, (a, train), axis=0)[1]


def van_rossum_distance(model_spikes, target_times, tau=10.0, dt=1.0, t0=0.0):
    """van Rossum's (2001) distance between a binned model spike train and target spike times.

    Both trains are filtered with ``exp(-t / tau)``; ``D^2 = (1 / tau) int (f - g)^2 dt`` over
    all time after ``t0`` (the tail past the grid is added in closed form). On the grid the
    normalisation is ``(1 - q^2) / 2`` with ``q = exp(-dt / tau)`` instead of ``dt / tau``, so
    that two spikes on the grid ``Delta`` apart give exactly ``D^2 = 1 - exp(-Delta / tau)`` and
    one unmatched spike ``D^2 = 1/2``.

    Differentiable in ``model_spikes`` (the simulation's 0/1 floats carry the surrogate
    gradient).

    Args:
        model_spikes: 0/1 floats, shape ``(T,)`` or ``(T, K)`` (K independent trains); row ``j`` is
            a spike at ``t0 + j dt``.
        target_times: target spike times, ms (NumPy), binned to the nearest step; or a binned
            train of the shape of ``model_spikes`` (a JAX array from :func:`spike_train`).
        tau: filter time constant, ms.
        dt: grid step, ms.
        t0: time of row 0, ms.

    Returns:
        ``D`` (not squared), shape ``()`` or ``(K,)``.
    """
    return jnp.sqrt(_van_rossum_sq(model_spikes, target_times, tau, dt, t0))


def _target_train(target, like, dt, t0):
    if isinstance(target, jax.Array) and target.ndim >= 1 and target.shape[0] == like.shape[0] \
            and target.ndim == like.ndim:
        return target.astype(like.dtype)
    train = spike_train(target, t0, like.shape[0], dt, like.dtype)
    return train.reshape(train.shape + (1,) * (like.ndim - 1))


def _van_rossum_sq(model_spikes, target, tau, dt, t0):
    s = jnp.asarray(model_spikes)
    if not jnp.issubdtype(s.dtype, jnp.floating):
        s = s.astype(jnp.result_type(float))
    q = math.exp(-float(dt) / float(tau))
    return _vr_core(s, _target_train(target, s, dt, t0), q)


@functools.partial(jax.jit, static_argnames=("q",))
def _vr_core(s, target, q):
    diff = _decay(s - target, q)
    tail = diff[-1] ** 2 * q * q / (1.0 - q * q)
    return 0.5 * (1.0 - q * q) * (jnp.sum(diff ** 2, axis=0) + tail)


def van_rossum_numpy(times_a, times_b, tau=10.0):
    """van Rossum distance ``D`` between two lists of spike times in closed form (NumPy).

    ``D^2 = 1/2 sum_ij e^{-|a_i - a_j| / tau} + 1/2 sum_ij e^{-|b_i - b_j| / tau}
    - sum_ij e^{-|a_i - b_j| / tau}``: the continuous-time value of
    :func:`van_rossum_distance` (equal to it for spikes on its grid).
    """
    a, b = np.asarray(times_a, np.float64), np.asarray(times_b, np.float64)
    k = lambda x, y: np.exp(-np.abs(x[:, None] - y[None, :]) / tau).sum()
    return float(np.sqrt(max(0.5 * k(a, a) + 0.5 * k(b, b) - k(a, b), 0.0)))


def spike_loss(model_spikes, target_times, tau=10.0, dt=1.0, t0=0.0):
    """Squared van Rossum distance per target spike (dimensionless; ~ 1/2 per unmatched spike
    over ``max(1, n_target)``), shape ``()`` or ``(K,)``. Arguments as
    :func:`van_rossum_distance`."""
    d2 = _van_rossum_sq(model_spikes, target_times, tau, dt, t0)
    target = _target_train(target_times, jnp.asarray(model_spikes), dt, t0)
    return d2 / jnp.maximum(jnp.sum(target, axis=0), 1.0)


def spike_window(spikes, before, after):
    """1.0 at the samples within ``before`` samples ahead of a spike and ``after`` samples after
    it (the spike's own sample included), else 0.0; no gradient.

    Args:
        spikes: spike counts per sample, shape ``(N,)`` or ``(N, K)`` (0/1 floats).
        before, after: window sizes in samples (non-negative integers, static).

    Returns:
        array of the shape and dtype of ``spikes``.
    """
    s = jax.lax.stop_gradient(jnp.asarray(spikes))
    n = s.shape[0]
    pad = jnp.zeros((after + 1,) + s.shape[1:], s.dtype), jnp.zeros((before,) + s.shape[1:],
                                                                     s.dtype)
    c = jnp.cumsum(jnp.concatenate([pad[0], s, pad[1]]), axis=0)
    # spikes in [k - after, k + before]: c[k + before + after + 1] - c[k]
    count = c[before + after + 1:before + after + 1 + n] - c[:n]
    return (count > 0.5).astype(s.dtype)


def voltage_loss(v_model, v_target, model_spikes, target_spikes, *, before=2, after=1,
                 ceiling=-30.0):
    """Mean squared voltage difference (mV^2) away from spikes, below a ceiling.

    Both voltages are clipped at ``ceiling`` (a spike's peak and most of its upswing weigh no more
    than a sample at the ceiling), and the samples within ``before`` samples before to ``after``
    samples after a target or a model spike are left out (:func:`spike_window`, no gradient
    through the mask).

    Args:
        v_model: model voltage at the samples, mV, shape ``(N,)`` or ``(N, K)``.
        v_target: recorded voltage, mV, shape ``(N,)`` (broadcast over ``K``).
        model_spikes: model spikes per sample (0/1 floats), shape of ``v_model``.
        target_spikes: recorded spikes per sample, shape ``(N,)``.
        before, after: window in samples (static non-negative integers).
        ceiling: mV.

    Returns:
        mV^2, shape ``()`` or ``(K,)``.
    """
    v_model = jnp.asarray(v_model)
    v_target = jnp.asarray(v_target, v_model.dtype)
    target_spikes = jnp.asarray(target_spikes, v_model.dtype)
    if v_model.ndim == 2:
        v_target, target_spikes = v_target[:, None], target_spikes[:, None]
    masked = jnp.maximum(spike_window(model_spikes, before, after),
                         spike_window(target_spikes, before, after))
    keep = 1.0 - masked
    err = (jnp.minimum(v_model, ceiling) - jnp.minimum(v_target, ceiling)) ** 2
    return jnp.sum(keep * err, axis=0) / jnp.maximum(jnp.sum(keep, axis=0), 1.0)


def combined_loss(v_loss, s_loss, v_scale=5.0, weight=1.0):
    """``v_loss / v_scale^2 + weight * s_loss``: a voltage loss (mV^2) and a spike loss on one
    scale (a mean error of ``v_scale`` mV weighs as much as ``1 / weight`` of the spike loss)."""
    return v_loss / v_scale ** 2 + weight * s_loss


def coincidence_factor(model_times, target_times, delta=4.0, duration=None):
    """Coincidence factor Gamma of Kistler et al. (1997) as Jolivet et al. (2008) report it.

    ``Gamma = (N_coinc - <N_coinc>) / (1/2 (N_data + N_model)) / (1 - 2 nu delta)`` with
    ``<N_coinc> = 2 nu delta N_data`` the coincidences expected of a Poisson train of the model's
    rate ``nu = N_model / duration``. ``N_coinc`` counts the target spikes with a model spike within
    ``+- delta`` ms, each model spike matched at most once (in time order, nearest first). 1 for
    identical trains, about 0 for independent ones; 1.0 when both trains are empty, 0.0 when one
    is. Undefined when the model fires at ``nu >= 1 / (2 delta)`` (125 Hz for 4 ms: the
    normalisation ``1 - 2 nu delta`` is not positive); then NaN, with a ``RuntimeWarning`` that
    says so (a smaller ``delta`` extends the range).

    Args:
        model_times, target_times: spike times, ms (NumPy arrays or lists).
        delta: coincidence window, ms.
        duration: recording length, ms; default the span from 0 to the last spike.

    Returns:
        float.
    """
    m = np.sort(np.asarray(model_times, np.float64).ravel())
    d = np.sort(np.asarray(target_times, np.float64).ravel())
    if m.size == 0 and d.size == 0:
        return 1.0
    if m.size == 0 or d.size == 0:
        return 0.0
    if duration is None:
        duration = float(max(m[-1], d[-1]))
    if not duration > 0:
        raise ValueError(f"duration must be > 0 ms, got {duration!r}")
    used = np.zeros(m.size, bool)
    coinc = 0
    for t in d:
        lo, hi = np.searchsorted(m, t - delta, "left"), np.searchsorted(m, t + delta, "right")
        cand = [j for j in range(lo, hi) if not used[j]]
        if cand:
            j = min(cand, key=lambda j: abs(m[j] - t))
            used[j] = True
            coinc += 1
    nu = m.size / duration
    expected = 2.0 * nu * delta * d.size
    norm = 1.0 - 2.0 * nu * delta
    if not norm > 0:
        import warnings
        warnings.warn(f"coincidence factor undefined: the model fires at {nu * 1e3:.0f} Hz, at or "
                      f"above 1 / (2 delta) = {1e3 / (2 * delta):.0f} Hz for delta = {delta} ms; "
                      f"returning NaN", RuntimeWarning, stacklevel=2)
        return float("nan")
    return float((coinc - expected) / (0.5 * (d.size + m.size)) / norm)


# -- the model ---------------------------------------------------------------------------------

class _Setup(NamedTuple):
    """Static description of a fit (hashable: one compiled program per setup)."""

    fitted: tuple
    loss: str
    m: int
    n_samples: int
    dt: float
    config: Config
    before: int
    after: int
    ceiling: float
    tau: float
    v_scale: float
    weight: float


def _to_z(name, value):
    spec = PARAMETERS[name]
    value = np.clip(np.asarray(value, np.float64), spec.low, spec.high)
    return np.log(value) if spec.transform == "log" else (value - spec.center) / spec.scale


def _from_z(name, z):
    spec = PARAMETERS[name]
    return jnp.exp(z) if spec.transform == "log" else spec.center + spec.scale * z


def _z_bounds(name):
    spec = PARAMETERS[name]
    return float(_to_z(name, spec.low)), float(_to_z(name, spec.high))


def _physical(z, fixed, setup):
    """``{name: (K,)}`` of every parameter from the fitted ``z`` and the ``fixed`` values."""
    out = dict(fixed)
    for name in setup.fitted:
        out[name] = _from_z(name, z[name])
    k = next(iter(z.values())).shape[0] if z else next(iter(fixed.values())).shape[0]
    return {n: jnp.broadcast_to(x, (k,)) for n, x in out.items()}


def _neurons(p, current, v0, setup):
    """The ``K`` neurons of a fit as a network, their input per step ``(T, K)``, the initial
    voltage in model coordinates ``(K,)`` and the ``v_rest`` offset ``(K,)``."""
    k = p["a"].shape[0]
    dtype = p["a"].dtype
    offset = p["v_rest"] - V_REST0
    i_steps = jnp.repeat(current[:-1].astype(dtype), setup.m)
    inputs = p["gain"][None, :] * i_steps[:, None]
    v0m = jnp.broadcast_to(v0.astype(dtype), (k,)) - offset
    pop = Population(name="neuron", model=MODEL,
                     params={n: p[n] for n in "abcd"}, noise_amp=jnp.zeros((k,), dtype),
                     bias=p["bias"], initial={"v": v0m, "u": p["b"] * v0m})
    return Network(populations=(pop,), projections=(), config=setup.config), inputs, v0m, offset


def _run_model(p, current, v0, setup):
    """Simulate ``K`` independent neurons with parameters ``p`` (``{name: (K,)}``) driven by the
    recorded ``current`` (``(N,)``). Returns the voltage at the samples ``(N, K)`` in the
    recording's coordinates and the raster ``(T, K)`` of 0/1 floats (``T = (N - 1) m``)."""
    k = p["a"].shape[0]
    net, inputs, v0m, offset = _neurons(p, current, v0, setup)
    n_steps = (setup.n_samples - 1) * setup.m
    _, rec = simulate(net, jax.random.key(0), n_steps, inputs=inputs, record_v=np.arange(k),
                      record_spikes=True, differentiable=True, on_divergence="ignore")
    v = rec.v[setup.m - 1::setup.m] + offset[None, :]
    v = jnp.concatenate([(v0m + offset)[None, :], v])
    return v, rec.spikes


def _forced_run(p, current, v0, data, setup, clamp=False):
    """The neurons of :func:`_run_model` with the recorded spikes imposed (teacher forcing).

    Each step is the engine's (:func:`izhijax._src.engine.advance`: the integrator, threshold and
    reset of ``setup.config``); at the end of a step that holds a recorded spike the neuron is
    reset (``v <- c``, ``u <- u + d``) unless it fired by itself in the last ``setup.before``
    samples. Between recorded spikes each inter-spike trajectory is then a smooth function of the
    parameters, so gradients of a loss on it are those of the ODE: the pre-fit of
    :func:`fit_trace`.

    With ``clamp`` (multiple shooting, :func:`_shooting_residuals`) the recorded voltage is also
    imposed: at the end of each step flagged by ``data["clamp_at"]`` (every ``horizon`` samples),
    ``v`` takes the recorded value ``data["clamp_v"]`` (in the recording's coordinates; skipped
    where the neuron was reset in the last ``setup.before`` samples), and the forced resets are
    those of ``data["peak_steps"]`` (at the end of the sample after each recorded spike's peak;
    :func:`_shooting_data`) instead of the threshold crossings ``data["step_spikes"]``.
    ``u`` is never imposed: it integrates the model's own ``v``, recorded or predicted.

    Returns:
        the voltage after each step, before any reset or clamp, ``(T, K)``, in the recording's
        coordinates.
    """
    from . import engine
    from .network import init_state
    k = p["a"].shape[0]
    net, inputs, v0m, offset = _neurons(p, current, v0, setup)
    low = engine.lower(net)
    key = jax.random.key(0)
    quiet = max(1, setup.before * setup.m)

    def body(carry, xs):
        state, since = carry
        i_ext, force, clamp_v, clamp_at = xs
        state, s, pre = engine.advance(state, net, key, i_ext, None, low)
        fired = jax.lax.stop_gradient(s) > 0
        since = jnp.where(fired, 0, since + 1)
        reset = (force > 0) & (since > quiet)
        v = jnp.where(reset, p["c"], state.v)
        u = jnp.where(reset, state.u + p["d"], state.u)
        since = jnp.where(reset, 0, since)
        if clamp:
            v = jnp.where((clamp_at > 0) & (since > quiet), clamp_v - offset, v)
        return (state.replace(v=v, u=u), since), pre[0]["v"]

    since0 = jnp.full((k,), 10 ** 6, jnp.int32)
    xs = ((inputs, data["peak_steps"], data["clamp_v"], data["clamp_at"]) if clamp
          else (inputs, data["step_spikes"], None, None))
    _, v = jax.lax.scan(body, (init_state(net), since0), xs)
    return v + offset[None, :]


def _shooting_residuals(z, fixed, data, setup):
    """Residuals ``(N - 1, K)`` of the multiple-shooting fit (``fit_trace(method="shooting")``).

    The run of :func:`_forced_run` with ``clamp``: the recorded voltage is imposed every
    ``horizon`` samples and each prediction runs ``horizon`` samples from it (``u`` carried
    throughout), the recorded spikes reset the neuron (:func:`_shooting_data`). Residual of sample ``k``:
    the predicted minus the recorded voltage, both clipped at ``setup.ceiling``, samples in the
    window around recorded spikes left out, over ``v_scale sqrt(kept samples)``: the sum of
    squares is the mean squared error in units of ``v_scale^2``, like :func:`voltage_loss`.
    Without noise and with the generating parameters every residual is zero (up to rounding):
    the run is then the generating run, sample for sample.
    """
    p = _physical(z, fixed, setup)
    v = _forced_run(p, data["current"], data["v0"], data, setup, clamp=True)
    vs = v[setup.m - 1::setup.m]
    keep = 1.0 - spike_window(data["sample_spikes"], setup.before, setup.after)[1:, None]
    err = (jnp.minimum(vs, setup.ceiling)
           - jnp.minimum(data["voltage"][1:, None], setup.ceiling))
    return keep * err / (setup.v_scale * jnp.sqrt(jnp.maximum(jnp.sum(keep), 1.0)))


SPIKE_SIGMA, SPIKE_VSCALE = 2.0, 20.0
"""Scales of :func:`_spike_time_residuals`: a spike ``SPIKE_SIGMA`` ms early or late, or a
voltage peak ``SPIKE_VSCALE`` mV short of the threshold in an interval where the model does not
fire, count 1. Chosen on the 25 hidden neurons of ``experiments/fit_traces.py`` from spike times
alone (32 starts, 20 iterations; median held-out Gamma): 2 ms and 20 mV 0.936; 1 ms 0.914; 4 ms
0.909; 5 mV 0.879 (40 iterations: 0.937 in twice the time)."""


def _spike_time_residuals(z, fixed, data, setup):
    """Residuals ``(n_steps, K)`` of the multiple-shooting fit to spike times alone (rows past
    the number of recorded spikes are zero).

    The teacher-forced run of :func:`_forced_run` (reset at each recorded spike unless the model
    fired by itself just before): every interval between recorded spikes starts from a reset,
    ``u`` carried. Residual of the interval ending at recorded spike ``j``: the model's first
    threshold crossing in it (interpolated linearly between the two steps around it, so smooth in
    the parameters), minus the recorded time, over :data:`SPIKE_SIGMA`; where the model does not
    fire in it, its highest voltage's shortfall from the threshold over :data:`SPIKE_VSCALE`.
    The recorded time is taken at the middle of its step (a recorded spike is at the end of the
    step in which the generating model crossed, anywhere in it): with the generating parameters
    and its own spike times every residual is within half a step. Over ``sqrt(spikes)``.
    """
    p = _physical(z, fixed, setup)
    offset = (p["v_rest"] - V_REST0)[None, :]
    v = _forced_run(p, data["current"], data["v0"], data, setup) - offset   # model coordinates
    n_steps = v.shape[0]
    peak = MODEL.v_peak
    fired = jax.lax.stop_gradient(v >= peak)
    seg = data["interval_id"]
    step = jnp.arange(n_steps)[:, None]
    first = jax.ops.segment_min(jnp.where(fired, step, n_steps), seg, num_segments=n_steps)
    got = first < n_steps
    k = jnp.clip(first, 1, n_steps - 1)
    v_k = jnp.take_along_axis(v, k, 0)
    v_before = jnp.take_along_axis(v, k - 1, 0)
    crossing = (k + 1).astype(v.dtype) - (v_k - peak) / jnp.maximum(v_k - v_before, 1e-3)
    top = jax.ops.segment_max(jnp.minimum(v, peak), seg, num_segments=n_steps)
    r = jnp.where(got, (crossing * setup.dt - data["interval_end"][:, None]) / SPIKE_SIGMA,
                  (peak - top) / SPIKE_VSCALE)
    valid = data["interval_valid"][:, None] > 0
    return jnp.where(valid, r, 0.0) / jnp.sqrt(jnp.maximum(jnp.sum(data["interval_valid"]), 1.0))


SHOOTING_HORIZON = 0.5
"""ms: default prediction horizon of ``fit_trace(method="shooting")`` (the recorded voltage is
imposed every ``horizon``: every second sample at 0.25 ms). Chosen on the 25 hidden neurons of
``experiments/fit_traces.py`` (1 mV noise, 0.25 ms samples, 8 starts, 20 iterations; median
held-out Gamma): 0.25 ms 0.940, **0.5 ms 0.974**, 0.75 ms 0.956, 1 ms 0.951, 2 ms 0.940; fitting
0.5 ms and then 2 ms (or 4 ms) from its result was worse (0.937, 0.885)."""


LM_LAMBDA0, LM_DOWN, LM_UP = 1e-2, 3.0, 4.0
"""Levenberg-Marquardt's initial damping (relative to the diagonal of ``J^T J``) and its factors
after a kept and a refused step (:func:`_levenberg_marquardt`)."""


def _levenberg_marquardt(residuals, z, n_iters, tol=1e-5):
    """Minimise ``sum(residuals(z) ** 2, axis=0)`` of ``K`` independent problems at once.

    ``z``: ``{name: (K,)}``; ``residuals(z)``: ``(S, K)``, column ``k`` depending on the ``k``-th
    entry of each ``z[name]`` only (independent starts). The Jacobian ``(S, K, P)`` is ``P``
    forward-mode products (one-hot tangents over every start at once, batched with ``vmap``:
    one run of the model). Marquardt's damping scaled by the diagonal of ``J^T J``, parameters
    clipped into their bounds (:func:`_z_bounds`), a step kept only if it lowers that start's
    loss (damping / 3), else the damping x 4. Stops after ``n_iters`` iterations, or earlier
    when every start has converged (a kept step lowering its loss by less than ``tol``
    relatively, or damping above 1e10). A start whose loss is not finite never moves.

    Returns ``(z, loss (K,), iterations run, best loss per iteration (n_iters,), NaN after the
    last)``.
    """
    names = tuple(z)
    p_count = len(names)
    dtype = z[names[0]].dtype
    eye = jnp.eye(p_count, dtype=dtype)
    tangents = {nm: jnp.broadcast_to(eye[:, j][:, None], (p_count,) + z[nm].shape)
                for j, nm in enumerate(names)}
    lo = {nm: _z_bounds(nm)[0] for nm in names}
    hi = {nm: _z_bounds(nm)[1] for nm in names}

    def loss_of(z):
        r = residuals(z)
        total = jnp.sum(r * r, 0)
        return jnp.where(jnp.isfinite(total), total, jnp.inf)

    def linearise(z):
        r, jac = jax.vmap(lambda t: jax.jvp(residuals, (z,), (t,)), out_axes=(None, 0))(tangents)
        return (jnp.einsum("psk,qsk->kpq", jac, jac), jnp.einsum("psk,sk->kp", jac, r))

    def cond(c):
        return (c[0] < n_iters) & ~jnp.all(c[4])

    def body(c):
        i, z, lam, cur, done, hist, normal, moved = c
        # J^T J and J^T r (P x P per start) at z; recomputed only after a kept step
        jtj, jtr = jax.lax.cond(moved, linearise, lambda z: normal, z)
        diag = jnp.diagonal(jtj, axis1=1, axis2=2)
        damped = jtj + lam[:, None, None] * (eye * diag[:, None, :] + 1e-12 * eye)
        step = -jnp.linalg.solve(damped, jtr[..., None])[..., 0]
        trial = {nm: jnp.clip(z[nm] + step[:, j], lo[nm], hi[nm]) for j, nm in enumerate(names)}
        new = loss_of(trial)
        ok = (new < cur) & ~done
        gain = (cur - new) / jnp.maximum(cur, 1e-30)
        z = {nm: jnp.where(ok, trial[nm], z[nm]) for nm in names}
        lam = jnp.where(ok, jnp.maximum(lam / LM_DOWN, 1e-9), lam * LM_UP)
        done = done | (ok & (gain < tol)) | (lam > 1e10)
        cur = jnp.where(ok, new, cur)
        return (i + 1, z, lam, cur, done, hist.at[i].set(jnp.min(cur)), (jtj, jtr),
                jnp.any(ok))

    k = z[names[0]].shape[0]
    cur = loss_of(z)
    normal = (jnp.zeros((k, p_count, p_count), dtype), jnp.zeros((k, p_count), dtype))
    start = (0, z, jnp.full((k,), LM_LAMBDA0, dtype), cur, ~jnp.isfinite(cur),
             jnp.full((n_iters,), jnp.nan, cur.dtype), normal, jnp.asarray(True))
    i, z, _, cur, _, hist, _, _ = jax.lax.while_loop(cond, body, start)
    return z, cur, i, hist


@functools.lru_cache(maxsize=32)
def _compiled_shooting(setup, n_iters):
    """The jitted multiple-shooting fit of a setup: ``(z, fixed, data) -> (z, loss, iterations,
    history)`` (:func:`_levenberg_marquardt` on :func:`_shooting_residuals`, or with spike
    times alone, ``setup.loss == "spikes"``, on :func:`_spike_time_residuals`)."""
    residuals = _spike_time_residuals if setup.loss == "spikes" else _shooting_residuals

    def solve(z, fixed, data):
        return _levenberg_marquardt(lambda z: residuals(z, fixed, data, setup), z, n_iters)
    return jax.jit(solve)


def _interval_data(target, t0, dt, n_steps, dtype):
    """The intervals of :func:`_spike_time_residuals`, per step ``(n_steps,)``: ``interval_id``,
    the recorded spike each step leads to (``n_steps - 1`` after the last one); per interval
    (padded to ``n_steps``): ``interval_end``, the middle of the recorded spike's step from
    ``t0`` (ms), and
    ``interval_valid``, 1 for the recorded spikes inside the run (0 for a second one in the same
    step)."""
    ends = np.clip(np.rint((np.asarray(target) - t0) / dt).astype(int) - 1, 0, n_steps - 1)
    ends = ends[:n_steps - 1]
    interval_id = np.full(n_steps, n_steps - 1, np.int32)
    valid = np.zeros(n_steps)
    start = 0
    for j, e in enumerate(ends):
        interval_id[start:e + 1] = j
        valid[j] = float(e >= start)          # two recorded spikes in one step: one interval
        start = max(start, e + 1)
    end_ms = np.zeros(n_steps)
    end_ms[:ends.size] = (ends + 0.5) * dt
    return {"interval_id": jnp.asarray(interval_id), "interval_end": jnp.asarray(end_ms, dtype),
            "interval_valid": jnp.asarray(valid, dtype)}


def _shooting_data(trace, target, m, horizon_samples, ceiling, dtype):
    """What the shooting run imposes, per step ``(T,)``: ``clamp_v``, the recorded voltage of the
    sample the step ends at; ``clamp_at``, 1 at the last step of every ``horizon_samples``-th
    sample whose recorded voltage is below ``ceiling`` (mV; a spike's upstroke and peak are not
    imposed: the model runs into its own spike); ``peak_steps``, 1 at the last step of the
    sample after each recorded spike's peak (the highest sample from the crossing at ``target``
    to 1 ms after): the forced reset of a model that has not fired by itself by then (the
    generating model fires before: in the step its peak sample ends, or with several steps per
    sample possibly inside the next sample, whose voltage is then already past the reset)."""
    n = trace.time.size
    n_steps = (n - 1) * m
    interval = trace.interval
    t0 = float(trace.time[0])
    clamp_v = np.repeat(np.asarray(trace.voltage[1:], np.float64), m)
    clamp_at = np.zeros(n_steps)
    every = np.zeros(n - 1, bool)
    every[horizon_samples - 1::horizon_samples] = True
    below = np.asarray(trace.voltage[1:], np.float64) < ceiling
    clamp_at[m - 1::m] = (every & below).astype(np.float64)
    peak_steps = np.zeros(n_steps)
    width = max(1, int(round(1.0 / interval)))
    for k in np.rint((np.asarray(target) - t0) / interval).astype(int):
        if 1 <= k < n:
            top = k + int(np.argmax(trace.voltage[k:min(n, k + width + 1)]))
            if top + 1 < n:
                peak_steps[(top + 1) * m - 1] = 1.0
    return {"clamp_v": jnp.asarray(clamp_v, dtype), "clamp_at": jnp.asarray(clamp_at, dtype),
            "peak_steps": jnp.asarray(peak_steps, dtype)}


def _prefit_losses(z, fixed, data, setup):
    """Per-start losses ``(K,)`` of the teacher-forced run (:func:`_forced_run`).

    With a voltage: the mean squared difference (clipped at the ceiling, recorded spike windows
    left out) over ``v_scale^2``. With spike times only: at each recorded spike the voltage must
    have reached :data:`FORCED_LEVEL` in the ``before`` samples up to it, and stay below it
    elsewhere (squared shortfall and excess over ``v_scale^2``, per recorded spike).
    """
    p = _physical(z, fixed, setup)
    v = _forced_run(p, data["current"], data["v0"], data, setup)
    if setup.loss in ("voltage", "both"):
        vs = jnp.concatenate([jnp.broadcast_to(data["voltage"][:1, None], v[:1].shape),
                              v[setup.m - 1::setup.m]])
        target = data["sample_spikes"]
        keep = 1.0 - spike_window(target, setup.before, setup.after)[1:, None]
        err = (jnp.minimum(vs[1:], setup.ceiling)
               - jnp.minimum(data["voltage"][1:, None], setup.ceiling)) ** 2
        return jnp.sum(keep * err, 0) / jnp.maximum(jnp.sum(keep), 1.0) / setup.v_scale ** 2
    level = FORCED_LEVEL
    top = jax.ops.segment_max(v, data["window_id"], num_segments=v.shape[0])
    short = jnp.where(data["window_valid"][:, None] > 0,
                      jnp.maximum(level - jnp.clip(top, level - 100.0, 30.0), 0.0) ** 2, 0.0)
    outside = (data["window_id"] == v.shape[0] - 1)[:, None]
    excess = jnp.where(outside, jnp.maximum(jnp.minimum(v, 30.0) - level, 0.0) ** 2, 0.0)
    n_target = jnp.maximum(jnp.sum(data["window_valid"]), 1.0)
    return (jnp.sum(short, 0) + jnp.sum(excess, 0) / setup.m) / n_target / setup.v_scale ** 2


FORCED_LEVEL = -20.0
"""mV: the voltage a neuron fitted to spike times alone must reach before each recorded spike
(and stay below elsewhere) in the teacher-forced pre-fit; above about -40 mV an Izhikevich neuron
runs away into its spike within a few ms."""


def _sampled_spikes(raster, m):
    """Spikes of each sample ``(N, K)`` from the raster ``(T, K)``: step ``j`` ends in
    ``(t_k-1, t_k]`` with ``k = j // m + 1``; sample 0 has none."""
    per = raster.reshape((-1, m) + raster.shape[1:]).sum(axis=1)
    return jnp.concatenate([jnp.zeros_like(per[:1]), per])


def _losses(z, fixed, data, setup):
    """Per-start losses ``(K,)`` and the model's outputs."""
    p = _physical(z, fixed, setup)
    v, raster = _run_model(p, data["current"], data["v0"], setup)
    parts = []
    if setup.loss in ("voltage", "both"):
        parts.append(voltage_loss(v[1:], data["voltage"][1:],
                                  _sampled_spikes(raster, setup.m)[1:], data["sample_spikes"][1:],
                                  before=setup.before, after=setup.after, ceiling=setup.ceiling)
                     / setup.v_scale ** 2)
    if setup.loss in ("spikes", "both"):
        w = 1.0 if setup.loss == "spikes" else setup.weight
        parts.append(w * spike_loss(raster, data["step_spikes"][:, None], setup.tau, setup.dt))
    return sum(parts), (v, raster)


def _masked_update(loss_fn, optimizer):
    """An optimizer step on the sum of per-start losses; a start whose loss or gradient is not
    finite keeps its parameters (its update is dropped), parameters projected into bounds."""
    def update(z, opt_state, fixed, data):
        def total(z):
            per = loss_fn(z, fixed, data)
            return jnp.sum(jnp.where(jnp.isfinite(per), per, 0.0)), per
        (_, per), grads = jax.value_and_grad(total, has_aux=True)(z)
        ok = jnp.isfinite(per)
        for g in grads.values():
            ok = ok & jnp.isfinite(g)
        grads = {n: jnp.where(ok, g, 0.0) for n, g in grads.items()}
        updates, opt_state = optimizer.update(grads, opt_state, z)
        z_new = optax.apply_updates(z, updates)
        z_new = {n: jnp.where(ok, jnp.clip(x, *_z_bounds(n)), z[n]) for n, x in z_new.items()}
        return z_new, opt_state, jnp.where(ok, per, jnp.inf)
    return jax.jit(update)


@functools.lru_cache(maxsize=32)
def _compiled(setup, optimizer, prefit_optimizer):
    """The jitted programs of a setup (cached: fits of the same shapes and settings reuse them):
    the free-run loss, its optimizer step, the teacher-forced pre-fit step, the model's run."""
    def free(z, fixed, data):
        return _losses(z, fixed, data, setup)[0]

    def forced(z, fixed, data):
        return _prefit_losses(z, fixed, data, setup)

    def model(z, fixed, data):
        return _losses(z, fixed, data, setup)[1]

    return (jax.jit(free), _masked_update(free, optimizer),
            _masked_update(forced, prefit_optimizer), jax.jit(model))


@functools.lru_cache(maxsize=8)
def default_optimizer(lr=0.05, n_iters=150):
    """Adam with a cosine decay from ``lr`` to ``lr / 10`` over ``n_iters`` steps (cached per
    arguments, so that fits with the default reuse their compiled step)."""
    return optax.adam(optax.cosine_decay_schedule(lr, n_iters, alpha=0.1))


# -- fitting -----------------------------------------------------------------------------------

class TraceFit(NamedTuple):
    """What :func:`fit_trace` returns.

    Attributes:
        params: every parameter of the fitted neuron (fitted and fixed), ``{name: float}``
            (a 1/ms, b, c mV, d mV/ms, gain, bias mV/ms, v_rest mV).
        fitted: names of the fitted parameters.
        loss: the best start's final loss (dimensionless, see :func:`fit_trace`).
        gamma: coincidence factor of the fitted model's spikes with the target spikes on the
            fitting trace (:func:`coincidence_factor`, ``delta``).
        model: the fitted model's response, a :class:`Trace` (voltage at the samples, spike
            times).
        target_spikes: spike times fitted to, ms.
        history: NumPy arrays over iterations: ``loss`` ``(n_iters, n_refine)`` of every refined
            start, ``best`` ``(n_iters,)`` the lowest; ``screen`` ``(n_starts,)`` the losses of
            the screening run; ``starts`` ``{name: (n_refine,)}`` the refined starts.
        seconds: wall time of the fit (compilation included), s.
        dt: simulation step, ms.
    """

    params: dict
    fitted: tuple
    loss: float
    gamma: float
    model: Trace
    target_spikes: np.ndarray
    history: dict
    seconds: float
    dt: float


def _check_names(fit):
    if isinstance(fit, str):
        fit = tuple(s.strip() for s in fit.split(",") if s.strip())
    try:
        names = tuple(fit)
    except TypeError:
        raise TypeError(f"fit must be a sequence of parameter names, got {type(fit).__name__}") \
            from None
    bad = [n for n in names if n not in PARAMETERS]
    if bad or not names or len(set(names)) != len(names):
        raise ValueError(f"fit must name distinct parameters among {tuple(PARAMETERS)}, got "
                         f"{names!r}")
    return names


def _check_init(init):
    if init is None:
        return {}
    if not isinstance(init, dict):
        raise TypeError(f"init must be a dict name -> value, got {type(init).__name__}")
    out = {}
    for name, value in init.items():
        if name not in PARAMETERS:
            raise ValueError(f"init[{name!r}] is not a parameter; expected some of "
                             f"{tuple(PARAMETERS)}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            raise ValueError(f"init[{name!r}] must be a finite number, got {value!r}")
        spec = PARAMETERS[name]
        if not spec.low <= value <= spec.high:
            raise ValueError(f"init[{name!r}] must be within [{spec.low:g}, {spec.high:g}] "
                             f"{spec.unit}, got {value!r}")
        out[name] = float(value)
    return out


def _positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_number(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _seed_of(key):
    """NumPy seed bits of a PRNG key (typed or raw)."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key).ravel().astype(np.uint64)


def _starts(names, init, n_starts, key, presets=TONIC_PRESETS):
    """``{name: (n_starts,)}`` starting values: ``init`` (if any), the presets, random draws."""
    rng = np.random.default_rng(_seed_of(key))
    rows = []
    if any(n in init for n in names):
        rows.append({n: init.get(n, PARAMETERS[n].default) for n in names})
    for preset in presets:
        row = dict(zip("abcd", PRESETS[preset]))
        rows.append({n: row.get(n, init.get(n, PARAMETERS[n].default)) for n in names})
    while len(rows) < n_starts:
        draw = {"a": math.exp(rng.uniform(math.log(0.005), math.log(0.2))),
                "b": rng.uniform(0.1, 0.27), "c": rng.uniform(-75.0, -45.0),
                "d": math.exp(rng.uniform(math.log(0.5), math.log(12.0))),
                "gain": init.get("gain", 1.0) * math.exp(rng.uniform(-0.5, 0.5)),
                "bias": init.get("bias", 0.0) + rng.uniform(-2.0, 2.0),
                "v_rest": init.get("v_rest", V_REST0) + rng.uniform(-5.0, 5.0)}
        rows.append({n: draw[n] for n in names})
    rows = rows[:n_starts]
    return {n: np.asarray([r[n] for r in rows]) for n in names}


FIT_METHODS = ("gradient", "cmaes", "shooting")
DEFAULT_N_ITERS = {"shooting": 20, "gradient": 30}
"""``fit_trace``'s default ``n_iters`` per method (Levenberg-Marquardt iterations at most,
optimizer steps); CMA-ES has a budget of runs instead (``max_evals``)."""


def _import_cma():
    try:
        import cma
    except ImportError:
        raise ImportError('fit_trace(method="cmaes") needs the cma package (pycma, CMA-ES): '
                          'pip install "izhijax[cma]"') from None
    return cma


def _trace_fit(best_z, best, hist, model, fixed, data, setup, names, dtype, trace, target, t0,
               delta, start_clock):
    """The :class:`TraceFit` of the lowest of ``best`` (``{name: (K,)}`` z coordinates)."""
    i = int(np.argmin(best))
    zi = {nm: jnp.asarray(best_z[nm][i:i + 1], dtype) for nm in names}
    v, raster = model(zi, fixed, data)
    # within the bounds also after float32 rounding (exp(log 0.3) is 0.30000001 in float32)
    params = {nm: min(max(float(_physical(zi, fixed, setup)[nm][0]), PARAMETERS[nm].low),
                      PARAMETERS[nm].high) for nm in PARAMETERS}
    step = np.flatnonzero(np.asarray(raster[:, 0]) > 0)
    spikes = t0 + (step + 1) * setup.dt
    gamma = coincidence_factor(spikes, target, delta, trace.duration)
    mt = Trace(time=trace.time, current=trace.current, voltage=np.asarray(v[:, 0], np.float64),
               spikes=spikes)
    return TraceFit(params=params, fitted=names, loss=float(best[i]), gamma=gamma, model=mt,
                    target_spikes=target, history=hist,
                    seconds=_time.perf_counter() - start_clock, dt=setup.dt)


CMAES_POPSIZE = 16
"""Default CMA-ES candidates per generation of :func:`fit_trace` (one batched run each)."""

CMAES_SIGMA0 = 0.2
"""Initial CMA-ES step of :func:`_cmaes_search`, a fraction of each parameter's box (its bounds
in the log or scaled coordinates of :data:`PARAMETERS`)."""


def _cmaes_search(evaluate, fixed, data, names, z0, screen, dtype, popsize, max_evals, seed,
                  progress):
    """CMA-ES (pycma) over the fitted parameters, each mapped to [0, 1] across its bounds in
    the fit's coordinates (log for ``a``, ``b``, ``gain``; affine for the others) with
    pycma's bound handling. The first run starts at the best screened start with step
    :data:`CMAES_SIGMA0`; when pycma stops (its tolerances), the next run starts at the next-best
    screened start, until ``max_evals`` model runs. Each generation is one call of ``evaluate``
    on ``popsize`` neurons (one compiled program); a non-finite loss counts as 1e12.

    Returns ``(best_z {name: (1,)}, best (1,), history)``."""
    cma = _import_cma()
    lo = np.array([_z_bounds(nm)[0] for nm in names])
    hi = np.array([_z_bounds(nm)[1] for nm in names])
    z0 = np.stack([np.asarray(z0[nm], np.float64) for nm in names], axis=1)     # (S, P)
    order = np.argsort(np.where(np.isfinite(screen), screen, np.inf))
    seed = int(np.sum(np.asarray(seed, np.uint64) % np.uint64(2 ** 31 - 1))) % (2 ** 31 - 2) + 1
    best, best_u, gens, losses, runs = np.inf, None, [], [], 0
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=max_evals, desc="fit_trace (CMA-ES)", unit="run")
    evals = 0
    while evals + popsize <= max_evals:
        start = order[runs % order.size]
        u0 = np.clip((z0[start] - lo) / (hi - lo), 0.0, 1.0)
        es = cma.CMAEvolutionStrategy(list(u0), CMAES_SIGMA0, {
            "popsize": popsize, "bounds": [0.0, 1.0], "seed": seed + runs, "verbose": -9,
            "tolfun": 1e-9, "tolx": 1e-7})
        while not es.stop() and evals + popsize <= max_evals:
            u = np.asarray(es.ask(), np.float64)
            z = {nm: jnp.asarray(lo[j] + np.clip(u[:, j], 0, 1) * (hi[j] - lo[j]), dtype)
                 for j, nm in enumerate(names)}
            per = np.asarray(evaluate(z, fixed, data), np.float64)
            es.tell(list(u), [float(x) if np.isfinite(x) else 1e12 for x in per])
            evals += popsize
            k = int(np.argmin(np.where(np.isfinite(per), per, np.inf)))
            if np.isfinite(per[k]) and per[k] < best:
                best, best_u = float(per[k]), np.clip(u[k], 0, 1)
            gens.append(best)
            losses.append(per)
            if bar is not None:
                bar.update(popsize)
                bar.set_postfix(loss=f"{best:.4g}", restarts=runs)
        runs += 1
    if bar is not None:
        bar.close()
    if best_u is None:          # no finite candidate: the best screened start
        i = int(order[0])
        if not np.isfinite(screen[i]):
            raise ValueError("every start and CMA-ES candidate of the fit has a non-finite "
                             "loss: the recording cannot be simulated (check the current's "
                             "scale and dt)")
        best, best_u = float(screen[i]), np.clip((z0[i] - lo) / (hi - lo), 0, 1)
    best_z = {nm: np.asarray([lo[j] + best_u[j] * (hi[j] - lo[j])]) for j, nm in enumerate(names)}
    hist = {"best": np.asarray(gens), "loss": np.asarray(losses).reshape(-1, popsize),
            "screen": screen, "restarts": runs - 1, "evals": evals}
    return best_z, np.asarray([best]), hist


def fit_trace(trace, *, fit=("a", "b", "c", "d"), loss="voltage", init=None, n_iters=None,
              optimizer=None, lr=0.01, dt=None, key=None, n_starts=None, n_refine=8, tau=10.0,
              delta=4.0, window=(2.0, 1.0), ceiling=-30.0, v_scale=5.0, weight=1.0,
              spike_threshold=0.0, n_prefit=200, presets=TONIC_PRESETS, config=None, dtype=None,
              progress=False, method=None, popsize=CMAES_POPSIZE, max_evals=3000,
              horizon=SHOOTING_HORIZON):
    """Fit an :class:`izhijax.Izhikevich2003` neuron to a recording.

    Three methods share the losses, the starts and the batched forward model:

    * ``"shooting"`` (the default): multiple shooting. With a voltage (``loss`` ``"voltage"`` or
      ``"both"``) the recorded voltage is imposed every ``horizon`` ms (below the
      ``ceiling``) and each prediction runs ``horizon`` ms from it, ``u`` integrating the
      model's own ``v`` throughout, and the neuron is reset at each recorded spike (by itself, or
      forced one sample after the recorded peak)
      (:func:`_forced_run` with ``clamp``; :func:`_shooting_residuals`). The error of those
      predictions is smooth in the parameters and, without noise, zero at the generating ones;
      Levenberg-Marquardt (:func:`_levenberg_marquardt`, the Jacobian by forward-mode
      differentiation through the simulation, every start at once) minimises it from the
      ``n_starts`` starts for at most ``n_iters`` iterations, and the start with the lowest
      free-run ``loss`` wins. ``n_starts`` defaults to 4 (the first four presets: the problem
      has few local minima), ``n_iters`` to 20. From spike times alone (``loss="spikes"``) the
      neuron is reset at each recorded spike and the residual of each interval is the time of
      its first threshold crossing minus the recorded spike's
      (:func:`_spike_time_residuals`); that problem has more local minima: ``n_starts``
      defaults to 32.
    * ``"gradient"``: teacher-forced pre-fit, screening and
      surrogate-gradient refinement of the free run (below). ``n_starts`` defaults to 64,
      ``n_iters`` to 30.
    * ``"cmaes"`` (:func:`_cmaes_search`: CMA-ES from the ``cma`` package, pycma, asking
      ``popsize`` candidates at a time and evaluating them as one jitted run of ``popsize``
      independent neurons, restarted from the next-best screened start until ``max_evals``
      evaluations; ``n_starts`` defaults to 64).

    ``experiments/fit_traces.py`` measures them on 25 hidden neurons (README): from a voltage,
    shooting is the most accurate and the fastest (median held-out Gamma 0.966 in 0.13 s per
    fit, CMA-ES with its default budget 0.951 in 0.93 s, on a 2-core AMD EPYC); from spike times
    alone CMA-ES is the most accurate (0.980 in 0.82 s), shooting second (0.934 in 0.32 s) and
    the surrogate gradient last (0.812 in 12 s on an Intel Xeon).

    Loss ``"voltage"``: :func:`voltage_loss` / ``v_scale^2`` (the recorded voltage, spikes
    masked); ``"spikes"``: :func:`spike_loss` (van Rossum, ``tau``) on the spike times alone;
    ``"both"``: their sum with the spike loss weighted by ``weight`` (:func:`combined_loss`).

    Procedure of ``"gradient"``, all starts as independent neurons of one network at once
    (their losses are summed; each neuron's gradient is its own, and Adam scales each coordinate
    on its own):

    1. ``n_starts`` starts: ``init`` (if given), the :data:`TONIC_PRESETS`, random draws from
       ``key``;
    2. pre-fit: ``n_prefit`` Adam steps (:data:`PREFIT_LR`) of every start on the
       teacher-forced run (:func:`_forced_run`: the neuron is reset at the recorded spikes, so
       each inter-spike trajectory is smooth in the parameters): the voltage error, or with spike
       times alone, reaching :data:`FORCED_LEVEL` at each recorded spike and staying below it
       elsewhere;
    3. screening: the starts and their pre-fits run freely (one forward run) on ``loss``;
    4. refinement: the ``n_refine`` best take ``n_iters`` optimizer steps on ``loss`` through
       the free run (surrogate gradients); each keeps its best iterate, the lowest loss wins.

    The free-run loss is rough in the parameters (a spike moving by a step changes it by a
    jump), so step 4 often keeps the screened value; steps 2-3 do most of the work. Fitted parameters live in log or scaled coordinates and
    are projected into their bounds after each step (:data:`PARAMETERS`). A start whose loss or
    gradient is not finite is frozen; if every start's loss is, :class:`FitDivergenceError` is
    raised with the best fit so far in its ``result``.

    Args:
        trace: :class:`Trace` (a voltage for ``"voltage"``/``"both"``; spike times or a voltage
            for ``"spikes"``).
        fit: names among :data:`PARAMETERS` (``"a,b,c,d"`` or a sequence).
        loss: ``"voltage"``, ``"spikes"`` or ``"both"``.
        init: ``{name: value}``: a start for fitted parameters, the value of the others.
        n_iters: optimizer steps (``"gradient"``, default 30) or Levenberg-Marquardt
            iterations at most (``"shooting"``, default 20).
        optimizer: an ``optax.GradientTransformation`` (on the log / scaled coordinates);
            default :func:`default_optimizer` ``(lr, n_iters)``.
        lr: learning rate of the default optimizer.
        dt: simulation step, ms; default the sampling interval; must divide it.
        key: PRNG key of the random starts (default ``jax.random.key(0)``).
        n_starts, n_refine: starts (default 4 for ``"shooting"`` with a voltage, 32 with spike
            times alone, else 64), and starts refined
            by ``"gradient"`` (``n_refine <= n_starts``).
        n_prefit: teacher-forced pre-fit steps (0: none).
        presets: names of the 2003 cell types among the starts (``()``: random starts only).
        tau: van Rossum time constant, ms.
        delta: coincidence window of the reported Gamma, ms.
        window: ``(before, after)`` ms left out around spikes by the voltage loss.
        ceiling: mV, the voltage loss clips both traces here.
        v_scale: mV, the voltage error that counts 1.
        weight: weight of the spike loss in ``"both"``.
        spike_threshold: mV, the threshold that detects the recorded spikes (and the model's in
            the returned trace).
        config: :class:`izhijax.Config` of the simulation (integrator, surrogate, gradient
            settings); its ``dt`` and ``noise`` are replaced by ``dt`` and ``"none"``. Default
            forward Euler with the default surrogate settings.
        dtype: float dtype of the simulation (default JAX's default float).
        progress: show a tqdm bar.
        method: ``"shooting"``, ``"gradient"`` or ``"cmaes"`` (needs ``pip install
            "izhijax[cma]"``; ignores ``n_iters``, ``optimizer``, ``lr``, ``n_refine``,
            ``n_prefit``); default (None) ``"shooting"``. ``"shooting"`` ignores
            ``optimizer``, ``lr``, ``n_refine``, ``n_prefit``, ``progress`` (and with spike
            times alone ``horizon``).
        horizon: ``"shooting"``: ms from each imposed voltage to the next
            (:data:`SHOOTING_HORIZON`; rounded to whole samples, at least one), or a sequence
            of horizons fitted one after the other, each stage starting from the last.
        popsize: CMA-ES candidates per generation (one batched run each).
        max_evals: CMA-ES budget of model runs (restarts included).

    Returns:
        :class:`TraceFit` (with ``"cmaes"``: ``history["best"]`` per generation,
        ``history["loss"]`` ``(generations, popsize)``, ``history["restarts"]``; with
        ``"shooting"``: ``history["best"]``, the lowest shooting loss per iteration,
        ``history["shooting"]`` and ``history["screen"]``, each start's final shooting and
        free-run loss, ``history["iterations"]``).

    Raises:
        ValueError, TypeError: a bad trace (:func:`check_trace`) or argument, before compiling.
        FitDivergenceError: every start's loss became NaN or infinite.
    """
    start_clock = _time.perf_counter()
    if loss not in LOSS_KINDS:
        raise ValueError(f"loss must be one of {LOSS_KINDS}, got {loss!r}")
    if method is None:
        method = "shooting"
    if method not in FIT_METHODS:
        raise ValueError(f"method must be one of {FIT_METHODS}, got {method!r}")
    if n_starts is None:
        n_starts = (4 if loss != "spikes" else 32) if method == "shooting" else 64
    if n_iters is None:
        n_iters = DEFAULT_N_ITERS.get(method, DEFAULT_N_ITERS["gradient"])
    popsize = _positive_int(popsize, "popsize")
    max_evals = _positive_int(max_evals, "max_evals")
    if method == "cmaes":
        _import_cma()               # before any work: the missing extra named at once
        if max_evals < popsize:
            raise ValueError(f"max_evals must be >= popsize ({popsize}), got {max_evals}")
    horizons = (horizon,) if isinstance(horizon, (int, float, np.integer, np.floating)) \
        else tuple(horizon) if isinstance(horizon, (tuple, list)) else None
    if not horizons or any(isinstance(h, (bool, np.bool_)) or not isinstance(
            h, (int, float, np.integer, np.floating)) or not (math.isfinite(h) and h > 0)
            for h in horizons):
        raise ValueError(f"horizon must be a number of ms > 0 or a sequence of them, got "
                         f"{horizon!r}")
    names = _check_names(fit)
    init = _check_init(init)
    n_iters = _positive_int(n_iters, "n_iters")
    n_starts = _positive_int(n_starts, "n_starts")
    n_refine = _positive_int(n_refine, "n_refine")
    if isinstance(n_prefit, (bool, np.bool_)) or not isinstance(n_prefit, (int, np.integer)) \
            or n_prefit < 0:
        raise ValueError(f"n_prefit must be an integer >= 0, got {n_prefit!r}")
    if n_refine > n_starts and method == "gradient":
        raise ValueError(f"n_refine must be <= n_starts ({n_starts}), got {n_refine}")
    for value, label in ((tau, "tau"), (delta, "delta"), (v_scale, "v_scale"),
                         (lr, "lr")):
        _positive_number(value, label)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
            math.isfinite(weight) and weight >= 0):
        raise ValueError(f"weight must be a number >= 0, got {weight!r}")
    try:
        before_ms, after_ms = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be (before, after) in ms, got {window!r}") from None
    if not (before_ms >= 0 and after_ms >= 0 and math.isfinite(before_ms + after_ms)):
        raise ValueError(f"window must be (before, after) >= 0 ms, got {window!r}")
    if not (isinstance(ceiling, (int, float)) and math.isfinite(ceiling)):
        raise ValueError(f"ceiling must be a finite number of mV, got {ceiling!r}")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got "
                        f"{type(optimizer).__name__}")
    if config is not None and not isinstance(config, Config):
        raise TypeError(f"config must be an izhijax.Config, got {type(config).__name__}")
    if dtype is not None and not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype!r}")
    trace = check_trace(trace, need_voltage=loss in ("voltage", "both"),
                        need_spikes=loss in ("spikes", "both"))
    interval = trace.interval
    dt = interval if dt is None else dt
    m = _check_dt(dt, interval)
    dt = interval / m
    horizon_samples = tuple(max(1, int(round(float(h) / interval))) for h in horizons)
    if key is None:
        key = jax.random.key(0)
    from .validate import check_key
    key = check_key(key)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)

    target = trace.spikes
    if target is None:
        target = detect_spikes(trace.voltage, trace.time, spike_threshold)
    n = trace.time.size
    t0 = float(trace.time[0])
    n_steps = (n - 1) * m
    cfg = (Config(dt=dt, integrator="euler", noise="none") if config is None
           else config.replace(dt=dt, noise="none"))
    setup = _Setup(fitted=names, loss=loss, m=m, n_samples=n, dt=dt, config=cfg,
                   before=int(math.ceil(before_ms / interval - 1e-9)),
                   after=int(math.ceil(after_ms / interval - 1e-9)), ceiling=float(ceiling),
                   tau=float(tau), v_scale=float(v_scale), weight=float(weight))
    v_start = (float(trace.voltage[0]) if trace.voltage is not None
               else init.get("v_rest", V_REST0))
    data = {"current": jnp.asarray(trace.current, dtype),
            "v0": jnp.asarray(v_start, dtype),
            "voltage": jnp.asarray(trace.voltage if trace.voltage is not None
                                   else np.zeros(n), dtype),
            "sample_spikes": spike_train(target, t0, n, interval, dtype),
            "step_spikes": spike_train(target, t0 + dt, n_steps, dt, dtype)}
    window_id = np.full(n_steps, n_steps - 1, np.int32)
    width = setup.before * m
    for k, j in enumerate(np.clip(np.rint((target - t0) / dt).astype(int) - 1, 0, n_steps - 1)):
        window_id[max(0, j - width):j + 1] = k
    data["window_id"] = jnp.asarray(window_id)
    data["window_valid"] = jnp.asarray(np.arange(n_steps) < min(target.size, n_steps - 1), dtype)
    fixed = {name: jnp.asarray(init.get(name, PARAMETERS[name].default), dtype)
             for name in PARAMETERS if name not in names}
    optimizer = default_optimizer(float(lr), n_iters) if optimizer is None else optimizer
    prefit_optimizer = default_optimizer(PREFIT_LR, max(n_prefit, 1))
    evaluate, update, prefit_update, model = _compiled(setup, optimizer, prefit_optimizer)

    presets = tuple(presets)
    unknown = [q for q in presets if q not in PRESETS]
    if unknown:
        raise ValueError(f"presets must be names among {tuple(PRESETS)}, got {unknown}")
    starts = _starts(names, init, n_starts, key, presets)
    z0 = {nm: jnp.asarray(_to_z(nm, starts[nm]), dtype) for nm in names}
    if method == "cmaes":
        screen = np.asarray(evaluate(z0, fixed, data), np.float64)
        best_z, best, hist = _cmaes_search(evaluate, fixed, data, names, z0, screen, dtype,
                                           popsize, max_evals, _seed_of(key), progress)
        hist["starts"] = starts
        return _trace_fit(best_z, best, hist, model, fixed, data, setup, names, dtype, trace,
                          target, t0, delta, start_clock)
    if method == "shooting":
        z, iters, trails = z0, 0, []
        if loss == "spikes":              # one stage: the intervals between recorded spikes
            horizon_samples = (None,)
            data.update(_interval_data(target, t0, dt, n_steps, dtype))
        for h in horizon_samples:         # each stage starts from the previous one's results
            if h is not None:
                data.update(_shooting_data(trace, target, m, h, setup.ceiling, dtype))
            z, shoot, done, trail = _compiled_shooting(setup, n_iters)(z, fixed, data)
            iters += int(done)
            trails.append(np.asarray(trail, np.float64)[:int(done)])
        trail = np.concatenate(trails)
        screen = np.asarray(evaluate(z, fixed, data), np.float64)
        best = np.where(np.isfinite(screen), screen, np.inf)
        if not np.isfinite(best).any():
            raise ValueError("every start of the fit has a non-finite loss after the shooting "
                             "fit: the recording cannot be simulated (check the current's scale "
                             "and dt)")
        hist = {"best": trail, "shooting": np.asarray(shoot, np.float64),
                "screen": screen, "iterations": iters, "horizon_samples": horizon_samples,
                "starts": starts}
        return _trace_fit(jax.tree_util.tree_map(np.asarray, z), best, hist, model, fixed,
                          data, setup, names, dtype, trace, target, t0, delta, start_clock)
    zp, state_p = z0, prefit_optimizer.init(z0)
    prefit = np.full(n_starts, np.nan)
    for _ in range(n_prefit):                 # teacher-forced pre-fit of every start
        zp, state_p, per = prefit_update(zp, state_p, fixed, data)
        prefit = np.asarray(per, np.float64)
    z_all = {nm: jnp.concatenate([z0[nm], zp[nm]]) if n_prefit else z0[nm] for nm in names}
    for nm in names:
        starts[nm] = np.concatenate([starts[nm], np.asarray(_from_z(nm, zp[nm]))]) \
            if n_prefit else starts[nm]
    screen = np.asarray(evaluate(z_all, fixed, data), np.float64)
    order = np.argsort(np.where(np.isfinite(screen), screen, np.inf))[:n_refine]
    z = {nm: x[order] for nm, x in z_all.items()}
    opt_state = optimizer.init(z)
    best_z = jax.tree_util.tree_map(np.asarray, z)
    best = np.full(n_refine, np.inf)
    losses = []
    iters = range(n_iters)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        iters = bar = tqdm(iters, desc="fit_trace", unit="step")

    def result_of(best_z, best, history):
        hist = {"loss": np.asarray(history).reshape(-1, n_refine),
                "best": np.min(np.asarray(history).reshape(-1, n_refine), axis=1)
                if history else np.zeros(0), "screen": screen, "prefit": prefit,
                "starts": {nm: starts[nm][order] for nm in names}}
        return _trace_fit(best_z, best, hist, model, fixed, data, setup, names, dtype, trace,
                          target, t0, delta, start_clock)

    for it in iters:
        z_new, opt_state, per = update(z, opt_state, fixed, data)
        per = np.asarray(per, np.float64)
        finite = np.isfinite(per)
        if not finite.any():
            if bar is not None:
                bar.close()
            if not np.isfinite(best).any():
                best = np.where(np.isfinite(screen[order]), screen[order], np.inf)
                if not np.isfinite(best).any():
                    raise ValueError("every start of the fit has a non-finite loss before the "
                                     "first step: the recording cannot be simulated (check the "
                                     "current's scale and dt)")
            cause = f"the loss of every start is {per[0]}"
            res = result_of(best_z, best, losses)
            raise FitDivergenceError(
                f"fit_trace stopped at iteration {it}: {cause}; the best fit so far is in the "
                f"error's result; try a smaller lr or dt", it, cause, res)
        improved = finite & (per < best)
        for nm in names:
            best_z[nm] = np.where(improved, np.asarray(z[nm]), best_z[nm])
        best = np.where(improved, per, best)
        losses.append(per)
        if bar is not None:
            bar.set_postfix(loss=f"{np.nanmin(per):.4g}")
        z = z_new
    # the last update's parameters are not evaluated in the loop: one more run of them
    per = np.asarray(evaluate(z, fixed, data), np.float64)
    improved = np.isfinite(per) & (per < best)
    for nm in names:
        best_z[nm] = np.where(improved, np.asarray(z[nm]), best_z[nm])
    best = np.where(improved, per, best)
    return result_of(best_z, best, losses)


def simulate_trace(params, trace, dt=None, *, spike_threshold=0.0, config=None, dtype=None):
    """The response of a neuron with ``params`` to a recording's current (no fitting).

    Args:
        params: ``{name: value}`` among :data:`PARAMETERS` (missing ones take their defaults),
            e.g. :attr:`TraceFit.params`.
        trace: :class:`Trace` whose ``time`` and ``current`` drive the neuron; its ``voltage``
            (if any) sets the initial ``v``, else ``v_rest``.
        dt: simulation step, ms (default the sampling interval; must divide it).
        spike_threshold: unused by the model (its spikes are its own), kept for symmetry.
        config: :class:`izhijax.Config` (``dt`` and ``noise`` replaced), default Euler.
        dtype: float dtype.

    Returns:
        :class:`Trace` with the model's ``voltage`` at the samples (mV, the overshoot at a spike's
        sample) and its ``spikes`` (ms, the end of each crossing step).
    """
    del spike_threshold
    init = _check_init(params if isinstance(params, dict) else None)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict name -> value, got {type(params).__name__}")
    trace = check_trace(trace)
    interval = trace.interval
    m = _check_dt(interval if dt is None else dt, interval)
    dt = interval / m
    if config is not None and not isinstance(config, Config):
        raise TypeError(f"config must be an izhijax.Config, got {type(config).__name__}")
    cfg = (Config(dt=dt, integrator="euler", noise="none") if config is None
           else config.replace(dt=dt, noise="none"))
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    setup = _Setup(fitted=(), loss="voltage", m=m, n_samples=trace.time.size, dt=dt, config=cfg,
                   before=0, after=0, ceiling=0.0, tau=1.0, v_scale=1.0, weight=0.0)
    p = {n: jnp.asarray([init.get(n, PARAMETERS[n].default)], dtype) for n in PARAMETERS}
    v0 = trace.voltage[0] if trace.voltage is not None else p["v_rest"][0]
    v, raster = _model_jit(p, jnp.asarray(trace.current, dtype), jnp.asarray(v0, dtype), setup)
    step = np.flatnonzero(np.asarray(raster[:, 0]) > 0)
    return Trace(time=trace.time, current=trace.current,
                 voltage=np.asarray(v[:, 0], np.float64),
                 spikes=float(trace.time[0]) + (step + 1) * dt)


_model_jit = jax.jit(_run_model, static_argnames=("setup",))


# -- synthetic recordings ----------------------------------------------------------------------

def ou_current(seed, n_samples, dt, *, mean=5.0, sigma=3.0, tau=5.0):
    """An Ornstein-Uhlenbeck current (the model's unit), exact discretisation, NumPy float64.

    Args:
        seed: NumPy seed (an integer).
        n_samples: samples.
        dt: sampling interval, ms.
        mean, sigma: stationary mean and standard deviation.
        tau: correlation time, ms.

    Returns:
        ``(n_samples,)`` array, starting at ``mean``.
    """
    rng = np.random.default_rng(seed)
    q = math.exp(-dt / tau)
    x = np.empty(n_samples)
    x[0] = 0.0
    noise = rng.standard_normal(n_samples) * sigma * math.sqrt(1 - q * q)
    for k in range(1, n_samples):
        x[k] = q * x[k - 1] + noise[k]
    return mean + x


def synthetic_trace(params, current, dt, *, noise_mv=0.0, seed=0, sim_dt=None):
    """A recording made by the model itself: a neuron with ``params`` driven by ``current``.

    Args:
        params: ``{name: value}`` (:data:`PARAMETERS`).
        current: ``(N,)`` current at the samples.
        dt: sampling interval, ms (time starts at 0).
        noise_mv: standard deviation of Gaussian measurement noise added to the voltage, mV.
        seed: seed of the measurement noise.
        sim_dt: simulation step (default ``dt``; must divide it).

    Returns:
        :class:`Trace` with the voltage (30 mV at a spike's sample, as figure1.m draws it, plus
        noise) and the exact spike times.
    """
    current = _vector(current, "current")
    time = np.arange(current.size) * float(dt)
    v0 = params.get("v_rest", V_REST0)
    base = Trace(time=time, current=current, voltage=np.full(current.size, v0))
    model = simulate_trace(params, base, sim_dt)
    offset = params.get("v_rest", V_REST0) - V_REST0
    v = np.minimum(model.voltage, 30.0 + offset)
    if noise_mv:
        v = v + np.random.default_rng(seed).normal(0.0, noise_mv, v.size)
    return Trace(time=time, current=current, voltage=v, spikes=model.spikes)
