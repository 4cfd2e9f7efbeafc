"""Learnable delays: :class:`LearnableDelayed` weights, whose synapses carry a real-valued delay.

A :class:`~izhijax.connectivity.Delayed` projection delivers a spike of step ``t`` through a
synapse of integer delay ``k`` into the update of step ``t + k``. A :class:`LearnableDelayed`
projection gives each synapse a real delay ``d`` in ``[1, D]`` steps (``D = max_delay``, the
depth of the spike ring) and delivers the linear interpolation between the two neighbouring
integer delays::

    k = min(floor(d), D - 1),   f = d - k  (in [0, 1])
    I_post[t] += w * ((1 - f) * s_pre[t - k] + f * s_pre[t - k - 1])

so a spike of step ``t`` enters the update of step ``t + k`` with ``w (1 - f)`` and that of
step ``t + k + 1`` with ``w f``. The delivered current is piecewise linear in ``d`` (linear
between integers, continuous everywhere), with ``d I / d d = w (s_pre[t-k-1] - s_pre[t-k])``;
the delivered charge ``w`` does not depend on ``d``, and its centre of mass arrives exactly ``d``
steps after the spike. At an integer ``d`` the derivative is the one-sided one of the interval
above ``d`` (below it at ``d = D``). The delay is in steps (``d * dt`` ms).

Gradients. ``jax.grad`` of any loss of a run (spike counts, a van Rossum distance of the
recorded spikes, the recorded voltage) with respect to ``weights.delay`` and ``weights.w`` is
exact autodiff of the step, with the threshold's surrogate derivative
(:mod:`izhijax._src.surrogate`) wherever a spike's timing is differentiated; a loss of the
membrane voltage between spikes (or with ``Config(threshold_grad="voltage")``) has the exact
derivative (``tests/test_learnable_delays.py`` checks both against central finite
differences). The loss of spike times is piecewise constant in ``d``; how well its surrogate
gradient points along a delay depends on the loss: an exponential-kernel van Rossum distance
pushes a spike that is too early and one that is too late the same way (later), while the
distance between cumulative spike counts, its gradient averaged over the fractional part of
``d``, points to the target delay (``experiments/learn_delays.py`` and ``.md``).

Equality with integer delays. The table is a :class:`Delayed` table (``(n_pre, D, L)`` by
presynaptic neuron and by the integer delay a synapse was built with, its *slot*), and every
step adds every synapse's contribution in the order of :class:`Delayed`'s delivery (delay by
delay, the highest source first, table order). With every ``delay`` equal to its slot
(``f = 0``, the contribution is ``w * (1 * s + 0 * s') = w * s`` exactly) a run is bit for bit
that of the :class:`Delayed` weights (:func:`to_learnable` of them, or :func:`learnable_delayed`
with integer-valued delays). When the delays move away from their slots, only the order of the
floating-point additions differs from a table rebuilt from the new delays (:meth:`rounded`).

Memory and work. The table (``post``, ``w``, ``delay``: about ``n_pre M`` entries each, as
for :class:`Delayed`) and the spike ring of the state (``(D, n_pre)``, shared with
:class:`Delayed`); nothing of size ``D x n x n``. Each step reads every synapse (there is no
event-driven path: a learned delay is not known when the table is built), ``O(n_pre D L)``
work, the all-synapse path of :class:`Delayed`. :meth:`LearnableDelayed.rounded` turns learned
delays into an event-driven :class:`Delayed` table for long runs.

Restrictions: no plasticity on a :class:`LearnableDelayed` projection (the learning rules time
their updates by the integer slots) and no sharded runs (:mod:`izhijax.shard`); both are refused.
The class checks its structure (``delay`` floating, of the table's shape and the weights' dtype:
it also holds gradients and optimiser moments of the delays); the builders, :func:`izhijax.network`
and :func:`izhijax.simulate` check concrete values (finite, in ``[1, D]``,
:meth:`LearnableDelayed.check_delays`). Inside a traced program (an optimiser step) a delay
outside ``[1, D]`` acts as the nearest end with no gradient: keep the delays in range with
:func:`clip_delays` (``weights = clip_delays(weights, weights.delay - lr * grad)``).

Example::

    fmt = izj.learnable_delayed(pre, post, delay_steps, w, n_pre=20, n_post=3, max_delay=20)
    net = izj.network(pops, [izj.projection("in", "out", fmt)], cfg)
    def loss(delay):
        _, rec = izj.simulate(net.replace(weights=fmt.replace(delay=delay)), key, 1000, ...)
        return ...                     # a loss of rec.spikes or rec.v
    g = jax.grad(loss)(fmt.delay)      # (n_pre, D, L), 0 in the padding
"""

import dataclasses
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .connectivity import register_format
from .delays import Delayed, _layout, delayed


@dataclasses.dataclass(frozen=True)
class LearnableDelayed(Delayed):
    """:class:`Delayed` weights whose synapses carry a real delay each, differentiable.

    Build one with :func:`learnable_delayed` (synapse lists) or :func:`to_learnable` (from
    :class:`Delayed` weights). See :mod:`izhijax._src.learnable_delays` for the delivery rule.

    Attributes:
        post, w, incoming, n_post, capacity: as :class:`Delayed` (the table ``(n_pre, D, L)``;
            ``post[i, k - 1, l]`` is a synapse of neuron ``i`` built with integer delay ``k``,
            its slot; ``capacity`` is unused by the delivery, kept for the spike ring).
        delay: the real delay of each synapse in steps, floating ``(n_pre, D, L)`` of the
            dtype of ``w``, in ``[1, D]`` (``D = max_delay >= 2``); the padding holds its slot.
    """

    delay: jax.Array = dataclasses.field(kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        D = self.max_delay
        if D < 2:
            raise ValueError(f"LearnableDelayed.max_delay must be >= 2 steps (a delay between the "
                             f"integers k and k + 1 needs both in the spike ring), got {D}")
        d = self.delay
        if not (hasattr(d, "shape") and hasattr(d, "dtype")):
            raise TypeError(f"LearnableDelayed.delay must be an array of real delays in steps, "
                            f"got {type(d).__name__}")
        if not jnp.issubdtype(d.dtype, jnp.floating):
            raise TypeError(f"LearnableDelayed.delay must be a floating array (real delays in "
                            f"steps, differentiable), got dtype {d.dtype}")
        if tuple(d.shape) != tuple(jnp.shape(self.post)):
            raise ValueError(f"LearnableDelayed.delay must have the shape of the table "
                             f"{tuple(jnp.shape(self.post))} (n_pre, D, L), got {tuple(d.shape)}")
        if hasattr(self.w, "dtype") and d.dtype != self.w.dtype:
            raise TypeError(f"LearnableDelayed.delay must have the dtype of the weights "
                            f"({self.w.dtype}), got {d.dtype}")
        # values are checked by the builders and by check_delays (izj.network, izj.simulate):
        # the same class also holds gradients, optimiser moments and updates of the delays

    def check_delays(self, name="LearnableDelayed.delay"):
        """Refuse a NaN, an infinity or a delay outside ``[1, D]`` (``ValueError`` naming
        ``name``); nothing for traced delays. :func:`izhijax.network` and
        :func:`izhijax.simulate` call it."""
        d = self.delay
        if isinstance(d, (np.ndarray, jax.Array)) and not isinstance(d, jax.core.Tracer):
            _check_range(np.asarray(d), self.max_delay, name)

    def deliver(self, w, arrivals, current):
        """``current`` plus every synapse's interpolated pulse at this step (see the module)."""
        return interpolated_arrival(self.post, w, self.delay, arrivals.ring, arrivals.slots,
                                    current)

    def synapses(self):
        """The real synapses as NumPy arrays ``(pre, post, delay, w)``, in table order; the
        delays are the real ones (steps, floats)."""
        pre, post, _, w = super().synapses()
        return pre, post, np.asarray(self.delay)[np.asarray(self.post) < self.n_post], w

    def rounded(self) -> Delayed:
        """These synapses as :class:`Delayed` weights with each delay rounded to the nearest
        integer (ties to even): the event-driven format, for long runs after learning."""
        pre, post, d, w = self.synapses()
        return delayed(pre, post, np.rint(d).astype(np.int64), w, n_pre=self.n_pre,
                       n_post=self.n_post, max_delay=self.max_delay, capacity=self.capacity,
                       dtype=np.asarray(self.w).dtype)


jax.tree_util.register_dataclass(LearnableDelayed, data_fields=["post", "w", "incoming", "delay"],
                                 meta_fields=["n_post", "capacity"])
register_format(LearnableDelayed)


def _check_range(d, D, name):
    """Refuse a NaN, an infinity or a delay outside ``[1, D]`` (NumPy ``d``), naming ``name``."""
    if d.size == 0:
        return
    bad = ~np.isfinite(d)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {d[bad].ravel()[0]!r} "
                         f"({int(bad.sum())} of {d.size} not finite)")
    out = (d < 1) | (d > D)
    if out.any():
        raise ValueError(f"{name} must lie in [1, max_delay={D}] steps, got "
                         f"{d[out].ravel()[0]!r} ({int(out.sum())} of {d.size} out of range)")


def interpolated_arrival(post, w, delay, ring, slots, current):
    """``current`` plus ``w * ((1 - f) s[t - k] + f s[t - k - 1])`` of every synapse.

    Args:
        post: int ``(n_pre, D, L)``, targets (padding ``n_post``, dropped).
        w: weights ``(n_pre, D, L)`` (current unit per spike).
        delay: real delays in steps ``(n_pre, D, L)``; outside ``[1, D]`` the nearest end (no
            gradient there).
        ring: the spike ring ``(D, n_pre)`` (``State.synapses[k]["spikes"]``).
        slots: int ``(D,)``, the ring row holding the spikes of step ``t - a`` at ``a - 1``.
        current: ``(n_post,)``.

    Returns:
        ``(n_post,)``; the additions in :class:`Delayed`'s order (slot by slot, the highest
        source first, table order), so integer delays give its sums bit for bit.
    """
    n_pre, D = post.shape[0], post.shape[1]
    d = jnp.where(delay < 1, jnp.ones_like(delay), jnp.where(delay > D, jnp.full_like(delay, D),
                                                            delay))
    k = jnp.clip(jnp.floor(d), 1, D - 1)           # the integer delay below (no gradient)
    f = d - k                                       # in [0, 1]; d f / d delay = 1
    ki = k.astype(jnp.int32)
    src = jnp.arange(n_pre, dtype=jnp.int32)[:, None, None]
    s_k = ring[slots[ki - 1], src].astype(w.dtype)            # spikes of step t - k
    s_k1 = ring[slots[ki], src].astype(w.dtype)               # ... of step t - k - 1
    contrib = w * ((1 - f) * s_k + f * s_k1)
    order = lambda x: jnp.swapaxes(x, 0, 1)[:, ::-1, :]
    return current.at[order(post)].add(order(contrib), mode="drop")


def _real_delays(delay):
    """Delays given by a user as a 1-d NumPy float64 array (TypeError for non-real values)."""
    if isinstance(delay, jax.core.Tracer):
        raise TypeError("delay must be concrete when the table is built (pass traced delays to "
                        "weights.replace(delay=...))")
    arr = np.asarray(delay)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating)
                                 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"delay must hold real numbers (steps), got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"delay must be a 1-d array (one entry per synapse), got shape "
                         f"{arr.shape}")
    return arr.astype(np.float64)


def learnable_delayed(pre, post, delay, weights, *, n_pre, n_post, max_delay=None, capacity=None,
                      dtype=None) -> LearnableDelayed:
    """Pack synapse lists with real delays into :class:`LearnableDelayed` weights.

    Args:
        pre, post: presynaptic and postsynaptic index of each synapse, integer arrays ``(E,)``.
        delay: real delay of each synapse in steps, in ``[1, max_delay]``, ``(E,)`` (integers
            are taken as exact real delays).
        weights: weight of each synapse, ``(E,)`` or a scalar (mV/ms per spike for the 2003
            model).
        n_pre, n_post: sizes of the source and target groups.
        max_delay: ``D`` (static, >= 2): the spike ring's depth and the longest delay; default
            ``ceil`` of the longest delay given (at least 2). A delay may learn up to ``D``.
        capacity: kept for the spike ring (as :func:`izhijax.connectivity.delayed`).
        dtype: float dtype of the weights and delays (default the weights' or JAX's default).

    Returns:
        :class:`LearnableDelayed`: the table of :func:`izhijax.connectivity.delayed` with each
        synapse in the slot ``min(floor(delay), D)`` and its real delay in ``.delay``. With
        integer delays, ``to_learnable(delayed(pre, post, delay, ...))`` equals it.

    Raises:
        TypeError: non-integer indices, non-real delays or weights.
        ValueError: lists of different lengths, an index out of range, a delay NaN, infinite,
            below 1 or above ``max_delay``, ``max_delay < 2``.
    """
    d = _real_delays(delay)
    if d.size and not np.all(np.isfinite(d)):
        _check_range(d, np.inf, "delay")
    if max_delay is None:
        max_delay = max(2, math.ceil(d.max())) if d.size else 2
    if isinstance(max_delay, bool) or not isinstance(max_delay, numbers.Integral) \
            or max_delay < 2:
        raise ValueError(f"max_delay must be an integer >= 2 steps (a delay between the integers "
                         f"k and k + 1 needs both in the spike ring), got {max_delay!r}")
    D = int(max_delay)
    _check_range(d, D, "delay")
    slots = np.clip(np.floor(d), 1, D).astype(np.int64)
    table = delayed(pre, post, slots, weights, n_pre=n_pre, n_post=n_post, max_delay=D,
                    capacity=capacity, dtype=dtype)
    pre = np.asarray(pre).astype(np.int64)
    slot, L = _layout(pre, slots, D)
    dt = np.asarray(table.w).dtype
    d_t = np.broadcast_to(np.arange(1, D + 1, dtype=dt)[None, :, None],
                          (n_pre, D, L)).copy()
    d_t[pre, slots - 1, slot] = d
    return LearnableDelayed(post=table.post, w=table.w, incoming=table.incoming,
                            n_post=table.n_post, capacity=table.capacity,
                            delay=jnp.asarray(d_t))


def to_learnable(weights, *, max_delay=None) -> LearnableDelayed:
    """:class:`Delayed` weights as :class:`LearnableDelayed` ones with the same (integer) delays:
    the same table, so a run is bit for bit the same until the delays change.

    Args:
        weights: :class:`izhijax.connectivity.Delayed`.
        max_delay: the ring's depth (default that of ``weights``, at least 2): room for the
            delays to grow.
    """
    if not isinstance(weights, Delayed):
        raise TypeError(f"weights must be izhijax.connectivity.Delayed, got "
                        f"{type(weights).__name__} (build real delays with learnable_delayed)")
    pre, post, d, w = weights.synapses()
    D = max(2, weights.max_delay) if max_delay is None else max_delay
    return learnable_delayed(pre, post, np.asarray(d, np.float64), w, n_pre=weights.n_pre,
                             n_post=weights.n_post, max_delay=D, capacity=weights.capacity,
                             dtype=np.asarray(weights.w).dtype)


def clip_delays(weights: LearnableDelayed, delay=None) -> LearnableDelayed:
    """The weights with ``delay`` (default their own) clipped into ``[1, D]``: the projection
    after an optimiser step (traceable).

    Args:
        weights: :class:`LearnableDelayed`.
        delay: new delays in steps, the shape of ``weights.delay`` (e.g. ``weights.delay``
            plus an update).
    """
    if not isinstance(weights, LearnableDelayed):
        raise TypeError(f"weights must be LearnableDelayed, got {type(weights).__name__}")
    delay = weights.delay if delay is None else delay
    return weights.replace(delay=jnp.clip(delay, 1, weights.max_delay).astype(weights.w.dtype))
