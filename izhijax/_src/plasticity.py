"""Spike-timing-dependent plasticity of projections with per-synapse delays.

Every rule here is built from the same pieces:

* **Traces**: a presynaptic trace per source neuron (jumping by ``a_plus`` at each of its spikes)
  and a postsynaptic trace per target neuron (jumping by ``a_minus``), both decaying by a factor
  per step. ``all_to_all=True`` adds the jumps (every pair of spikes counts, Brian2's ``STDP``
  example), ``False`` sets the trace to the jump (the nearest spike counts, Izhikevich's
  ``spnet``). The presynaptic trace is kept for the last ``D + 1`` steps, so a synapse of delay
  ``d`` reads it as of its spikes' arrival.
* **Events** on a *target*, the weights themselves or an eligibility ``sd`` per synapse:
  when a spike arrives through a synapse, ``target -= post trace`` (depression); when the target
  neuron fires, every synapse onto it gets ``target += pre trace`` as of the arrival
  (potentiation). With delays, "pre before post" means the spike *arrived* before the post spike.
* **Consolidation** (eligibility rules): every ``period`` ms the eligibility moves into the
  weights, ``w = clip(w + f(sd), w_min, w_max)`` and decays.

Timing, in the engine's step labels (a spike belongs to the step whose update crossed the
threshold; a spike of step ``t`` through a synapse of delay ``d`` enters the update of step
``t + d``): an arrival into the update of step ``t_a`` and a spike of the target at step
``t_p`` change the target by ``+a_plus decay_plus^(t_p - t_a)`` if ``t_p >= t_a`` and by
``-a_minus decay_minus^(t_a - 1 - t_p)`` if ``t_p < t_a`` (:func:`window`).

Rules:

* :class:`STDP`: pair-based additive STDP on the weights, exponential traces, clipped to
  ``[w_min, w_max]`` at each event.
* :class:`Izhikevich2006`: the polychronization paper's rule as ``poly_spnet.cpp`` runs it.
* :class:`Dopamine2007`: the distal-reward rule (Izhikevich 2007): STDP sets an eligibility, the
  weights move by ``(baseline + DA) sd`` every 10 ms, dopamine ``DA`` decays and jumps at
  rewards (:class:`RewardPairing`, :class:`RewardTimes`).

A projection with ``plasticity=None`` keeps its weights; :func:`izhijax.freeze` turns a run's
learned weights into an ordinary network.
"""

import dataclasses
import math
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .components import Plasticity
from . import delays
from .delays import Arrivals, Delayed, fired_desc


def _lin(x):
    return jax.lax.stop_gradient(x)


def per_ms(factor, dt):
    """A decay ``factor`` per ms as the factor of one step of ``dt`` ms (``factor`` itself, bit
    for bit, when ``dt`` is 1 ms, as the original programs multiply)."""
    return factor if dt == 1.0 else factor ** dt


@dataclasses.dataclass(frozen=True)
class TraceRule(Plasticity):
    """Shared machinery of the rules (see the module docstring); not used on its own."""

    eligibility: ClassVar[bool] = False

    # subclasses define: a_plus, a_minus, w_min, w_max, all_to_all
    def decay_plus(self, dt):
        raise NotImplementedError

    def decay_minus(self, dt):
        raise NotImplementedError

    def check(self, weights, where):
        if not isinstance(weights, Delayed):
            raise ValueError(f"{where}: {type(self).__name__} needs Delayed weights (a delay per "
                             f"synapse), got {type(weights).__name__}; convert with "
                             f"izj.connectivity.to_delayed(weights, delay)")
        for field in dataclasses.fields(self):
            name, value = field.name, getattr(self, field.name)
            if field.type not in (float, "float"):
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not math.isfinite(value):
                raise ValueError(f"{where}.plasticity.{name} must be a finite number, got "
                                 f"{value!r}")
            if name.startswith("tau") or name == "period":
                if not value > 0:
                    raise ValueError(f"{where}.plasticity.{name} must be > 0 ms, got {value!r}")
            if name.endswith("decay") and not 0 < value <= 1:
                raise ValueError(f"{where}.plasticity.{name} must be a decay factor in (0, 1], "
                                 f"got {value!r}")
        if not self.w_max > self.w_min:
            raise ValueError(f"{where}.plasticity.w_max ({self.w_max}) must be above w_min "
                             f"({self.w_min})")
        if isinstance(weights.w, jax.core.Tracer):
            return
        w = np.asarray(weights.w)[np.asarray(weights.mask())]
        if w.size and w.min() < self.w_min:
            kind = "inhibitory (negative)" if w.min() < 0 else "below w_min"
            raise ValueError(f"{where}: {type(self).__name__} learns excitatory synapses, but the "
                             f"weights hold {kind} values (min {w.min():g} < w_min = "
                             f"{self.w_min:g}); keep inhibitory projections without plasticity")
        if w.size and w.max() > self.w_max:
            raise ValueError(f"{where}.plasticity.w_max = {self.w_max:g} (C_max) is below the "
                             f"initial weights (max {w.max():g})")

    # -- state ----------------------------------------------------------------------------------
    def init(self, weights):
        D, dtype = weights.max_delay, weights.dtype
        syn = {"w": weights.w,
               "x_pre": jnp.zeros((D + 1, weights.n_pre), dtype),
               "x_post": jnp.zeros((weights.n_post,), dtype),
               "post": jnp.zeros((weights.n_post,), dtype),
               "pending": jnp.zeros((), bool)}
        if self.eligibility:
            syn["sd"] = jnp.zeros_like(weights.w)
        syn.update(self.init_extra(weights))
        return syn

    def init_extra(self, weights):
        return {}

    def _target(self):
        return "sd" if self.eligibility else "w"

    def _clip(self, w, weights):
        return jnp.where(weights.mask(), jnp.clip(w, self.w_min, self.w_max), 0)

    # -- the step -------------------------------------------------------------------------------
    def on_arrival(self, syn, weights, arrivals: Arrivals, t, dt):
        """Start of step ``t``, in ``spnet``'s order: a pending consolidation (due after step
        ``t - 1``), then potentiation of the synapses onto the target neurons that fired at step
        ``t - 1``, then depression, ``target -= post trace``, at every synapse delivering now.

        The common case is event-driven (``capacity`` spikes per step); a consolidation, or a
        step with more spikes, takes the all-synapse path in a loop of 0 or 1 iterations placed
        first, so XLA updates the tables in place (:func:`izhijax._src.delays.maybe`).
        """
        syn = self._pre_trace(syn, weights, arrivals, t, dt)
        post = _lin(syn["post"])
        K = self._post_capacity(weights)
        slow_pot = (jnp.sum(post != 0, dtype=jnp.int32) > K) | arrivals.overflow
        slow_ltd = arrivals.overflow
        name = self._target()
        keys = ("w", "sd") if self.eligibility else ("w",)

        def slow(tables):
            tables = jax.lax.cond(syn["pending"], lambda x: self.consolidate(x, syn, weights),
                                  lambda x: x, tables)
            tables = jax.lax.cond(slow_pot, lambda x: {**x, name: self._pot_full(
                x[name], syn, weights, post, t - 1)}, lambda x: x, tables)
            return jax.lax.cond(slow_ltd, lambda x: {**x, name: self._ltd_full(
                x[name], syn, weights, arrivals)}, lambda x: x, tables)

        # the learned tables carry no gradient (the engine delivers stop_gradient(w)); cut it
        # here too, so that no tangent enters the in-place loops of the updates
        tables = delays.maybe(syn["pending"] | slow_pot, slow, {k: _lin(syn[k]) for k in keys})
        target = self._pot_event(tables[name], syn, weights, post, t - 1, ~slow_pot)
        target = self._ltd_event(target, syn, weights, arrivals, ~slow_ltd)
        if not self.eligibility:
            target = self._clip(target, weights)
        return {**syn, **tables, name: target, "pending": jnp.zeros((), bool)}

    def _pre_trace(self, syn, weights, arrivals, t, dt):
        """The pre trace as of step ``t`` (row ``t mod (D + 1)`` of the ring ``x_pre``): the row
        of step ``t - 1`` decayed, and jumped by the source's spikes of step ``t - 1`` (read off
        the projection's spike ring). Written first thing in the step, before the step's loops
        read the ring, so that XLA updates it in place (written at the end of the previous step,
        after those reads, it cost two copies of the ring per step). A state saved after step
        ``t - 1`` with the row already written (as before 2026-12-04) gets the same value."""
        D = weights.max_delay
        ring = syn["x_pre"]
        dtype = ring.dtype
        dp = jnp.asarray(self.decay_plus(dt), dtype)
        pre = _lin(arrivals.ring[arrivals.slots[0]])            # the spikes of step t - 1
        x = dp * ring[jnp.mod(t - 1, D + 1).astype(jnp.int32)]
        if self.all_to_all:
            x = x + self.a_plus * pre.astype(dtype)
        else:
            x = jnp.where(pre != 0, jnp.asarray(self.a_plus, dtype), x)
        return {**syn, "x_pre": ring.at[jnp.mod(t, D + 1).astype(jnp.int32)].set(x)}

    def flush(self, syn, weights):
        """A consolidation due after the last step of a run, applied (the state after ``k``
        steps then holds what the original program holds after ``k`` ms)."""
        keys = ("w", "sd") if self.eligibility else ("w",)
        tables = delays.maybe(syn["pending"], lambda x: self.consolidate(x, syn, weights),
                              {k: syn[k] for k in keys})
        return {**syn, **tables, "pending": jnp.zeros((), bool)}

    def _ltd_event(self, target, syn, weights, arrivals, enabled):
        """``target -= post trace`` at the synapses of the (source, delay) pairs arriving now,
        a chunk of pairs at a time (:func:`izhijax._src.delays.chunk_scatter`)."""
        count = jnp.where(enabled, arrivals.pairs, 0)
        n = arrivals.src.shape[0]
        return delays.chunk_scatter(partial(_ltd_lists, weights), delays._rungs(n)[0], count,
                                    target, (arrivals.src, arrivals.dly), (weights.n_pre, 0),
                                    _lin(syn["x_post"]), enabled)

    def _ltd_full(self, target, syn, weights, arrivals):
        mask = arrivals.full_mask()
        val = _lin(syn["x_post"])[jnp.minimum(weights.post, weights.n_post - 1)]
        return jnp.where(mask, target - val, target)          # others untouched (-0.0 stays)

    def _pot_event(self, target, syn, weights, post, t, enabled):
        """``target += pre trace as of the arrival`` for the synapses onto the neurons that
        fired at step ``t``: a synapse of delay ``d`` reads the trace of time ``t + 1 - d``."""
        D, L, size = weights.max_delay, weights.width, weights.post.size
        K = self._post_capacity(weights)
        idx, valid = fired_desc(post, K)
        ok = valid & enabled
        # source and delay of every incoming synapse: whole-table arithmetic on the run's
        # constant table, which XLA computes once outside the loop; the step only gathers rows
        # (dividing the gathered ids took ~30 us of a ~120 us polychronization step), of the
        # fired targets 8 at a time (the polychronization network; delays.chunk_scatter)
        inc = jnp.where(weights.incoming < size, weights.incoming, 0)
        i_pre, dly = inc // (D * L), (inc // L) % D                        # dly: delay - 1
        count = jnp.sum(ok, dtype=jnp.int32)
        return delays.chunk_scatter(partial(_pot_lists, size), delays._rungs(K)[0], count,
                                    target, (idx, ok), (0, False), weights.incoming, i_pre,
                                    dly, _lin(syn["x_pre"]), t)

    @staticmethod
    def _post_capacity(weights):
        """Target neurons per step whose synapses the event path potentiates (two thirds of the
        source-side capacity, at least 8: 33 in the polychronization network, where 1 % of the
        steps have more spikes and take the all-synapse path)."""
        return int(min(weights.n_post, max(8, (2 * weights.capacity) // 3)))

    def _pot_full(self, target, syn, weights, post, t):
        D = weights.max_delay
        ring = _lin(syn["x_pre"])
        fired = post[jnp.minimum(weights.post, weights.n_post - 1)] != 0
        mask = fired & weights.mask()
        rows = ring[jnp.mod(t - jnp.arange(D), D + 1)]                      # (D, n_pre)
        return jnp.where(mask, target + rows.T[:, :, None], target)

    def after_step(self, syn, weights, pre, post, t, key, dt, post_all=None):
        """End of step ``t``: decay the post trace, modulate (dopamine), mark a consolidation
        due after this step, then let this step's spikes jump the post trace (and keep the
        target's spikes for the next step's potentiation). The pre trace of step ``t + 1`` is
        written at the start of that step (:meth:`_pre_trace`).

        ``post_all``: the spikes of the whole target, where ``post`` is only part of it (a
        neuron-sharded run, :mod:`izhijax._src.shard`, gives each device its own targets'
        spikes); the modulation (a reward that watches a target neuron) reads it."""
        pre, post = _lin(pre), _lin(post)
        dtype = syn["x_post"].dtype
        dm = jnp.asarray(self.decay_minus(dt), dtype)
        x_post = dm * syn["x_post"]
        syn = self.modulate(syn, weights, pre, post if post_all is None else _lin(post_all), t,
                            key, dt)
        if self.period_steps(dt) is not None:
            syn = {**syn, "pending": jnp.mod(t + 1, self.period_steps(dt)) == 0}
        if self.all_to_all:
            x_post = x_post + self.a_minus * post.astype(dtype)
        else:
            x_post = jnp.where(post != 0, jnp.asarray(self.a_minus, dtype), x_post)
        return {**syn, "x_post": x_post, "post": post.astype(dtype)}

    def period_steps(self, dt):
        """Steps between consolidations (None: the rule has none)."""
        return None

    def consolidate(self, tables, syn, weights):
        """The periodic update of ``tables`` (``{"w", "sd"}``); ``syn`` the rest of the state."""
        return tables

    def modulate(self, syn, weights, pre, post, t, key, dt):
        return syn


def _ltd_lists(weights, src, dly, x_post, enabled):
    """Depression at the arriving (source, delay) pairs ``src``, ``dly`` ``(m,)``: flat table
    ids and ``-post trace`` of each synapse's target, ``(m, L)`` each."""
    ids, post, ok = delays.event_ids(weights, src, dly, enabled)
    return ids, -jnp.where(ok, x_post[jnp.minimum(post, weights.n_post - 1)], 0)


def _pot_lists(size, idx, ok, incoming, i_pre, dly, ring, t):
    """Potentiation of ``m`` fired targets ``idx`` ``(m,)``: flat table ids (``size``: none)
    and the pre trace as of the arrival that each synapse adds, ``(m, max_in)`` each."""
    rows = jnp.minimum(idx, incoming.shape[0] - 1)
    ids = incoming[rows]
    good = ok[:, None] & (ids < size)
    val = ring[jnp.mod(t - dly[rows], ring.shape[0]), i_pre[rows]]
    return jnp.where(good, ids, size), jnp.where(good, val, 0)


def _period_steps(period_ms, dt, where):
    steps = period_ms / dt
    if abs(steps - round(steps)) > 1e-9 * max(1.0, steps) or round(steps) < 1:
        raise ValueError(f"{where}: period {period_ms} ms must be a whole number of steps of "
                         f"dt = {dt} ms")
    return int(round(steps))


@dataclasses.dataclass(frozen=True)
class STDP(TraceRule):
    """Pair-based additive STDP on the weights, with exponential traces (Brian2's ``STDP``).

    At an arrival ``w -= post trace``, at a spike of the target ``w += pre trace``; the traces
    jump by ``a_plus`` / ``a_minus`` and decay with ``tau_plus`` / ``tau_minus``; ``w`` is clipped
    to ``[w_min, w_max]`` after each event. With ``all_to_all`` (default) every pair counts.

    Attributes:
        a_plus, a_minus: potentiation and depression amplitudes (weight units).
        tau_plus, tau_minus: trace time constants (ms).
        w_min, w_max: bounds of the weights.
        all_to_all: traces add (all pairs) or are set (nearest spike).
    """

    a_plus: float = 0.01
    a_minus: float = 0.0105
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    w_min: float = 0.0
    w_max: float = 1.0
    all_to_all: bool = True

    def decay_plus(self, dt):
        return math.exp(-dt / self.tau_plus)

    def decay_minus(self, dt):
        return math.exp(-dt / self.tau_minus)


@dataclasses.dataclass(frozen=True)
class Izhikevich2006(TraceRule):
    """The STDP of the polychronization network, as ``poly_spnet.cpp`` runs it.

    Traces are set (nearest spike): ``0.1`` presynaptic (LTP), ``0.12`` postsynaptic (LTD), both
    ``x 0.95`` per ms. Spikes change an eligibility ``sd`` (arrival: ``sd -= LTD`` of the target;
    target spike: ``sd += LTP`` of the source as of the arrival). Every second
    ``sd *= 0.9``, then ``w += drift + sd``, clipped to ``[0, w_max]`` (``C_max``).

    Attributes:
        a_plus, a_minus: trace jumps (0.1, 0.12).
        decay: trace factor per ms (0.95, tau about 20 ms).
        w_max: ``C_max`` (10 mV/ms in the paper).
        period: ms between consolidations (1000).
        sd_decay: eligibility factor per consolidation (0.9).
        drift: added to every weight per consolidation (0.01).
    """

    eligibility: ClassVar[bool] = True

    a_plus: float = 0.1
    a_minus: float = 0.12
    decay: float = 0.95
    w_max: float = 10.0
    period: float = 1000.0
    sd_decay: float = 0.9
    drift: float = 0.01
    w_min: float = 0.0
    all_to_all: bool = False

    def decay_plus(self, dt):
        return per_ms(self.decay, dt)

    decay_minus = decay_plus

    def period_steps(self, dt):
        return _period_steps(self.period, dt, "Izhikevich2006.period")

    def consolidate(self, tables, syn, weights):
        sd = tables["sd"] * self.sd_decay
        return {"sd": sd, "w": self._clip(tables["w"] + (self.drift + sd), weights)}


# --- dopamine ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RewardTimes:
    """Rewards at given steps: ``DA += amount`` after each listed step (a sparse event list).

    Attributes:
        steps: step indices (a tuple of ints, static).
        amount: dopamine per reward.
    """

    steps: tuple = ()
    amount: float = 0.5

    def init(self):
        return {}

    def step(self, state, pre, post, t, key, dt=1.0):
        if not self.steps:
            return state, 0.0
        hits = jnp.sum(jnp.asarray(self.steps) == t)
        return state, self.amount * hits


@dataclasses.dataclass(frozen=True)
class RewardPairing:
    """Izhikevich (2007) Fig. 1: reward when source neuron ``n1`` fires and target neuron ``n2``
    follows within ``window`` ms; the reward comes ``delay_min`` + U(0, ``delay_span``) ms later.

    Pending rewards wait in a queue of ``capacity`` slots (``state["pending"]``: the steps they are
    due, -1 for a free slot; a pairing while it is full is dropped and counted in
    ``state["dropped"]``); ``state["rewards"]`` counts the pairings rewarded (scheduled, paid
    1-3 s later). Delays are drawn from the run's key and the step index.

    Attributes:
        n1: index of the rewarded synapse's source neuron in the projection's source.
        n2: index of its target neuron in the projection's target.
        window: ms within which ``n2`` must follow ``n1`` (20).
        delay_min, delay_span: reward delay ``delay_min + ceil(delay_span U)`` ms (1000, 2000).
        amount: dopamine per reward (0.5).
        capacity: pending rewards kept at once (static).
    """

    n1: int = 0
    n2: int = 0
    window: float = 20.0
    delay_min: float = 1000.0
    delay_span: float = 2000.0
    amount: float = 0.5
    capacity: int = 16

    def init(self):
        return {"last_n1": jnp.asarray(-(2**30), jnp.int32),
                "pending": jnp.full((self.capacity,), -1, jnp.int32),
                "rewards": jnp.zeros((), jnp.int32), "dropped": jnp.zeros((), jnp.int32)}

    def step(self, state, pre, post, t, key, dt=1.0):
        t = t.astype(jnp.int32)
        last = jnp.where(pre[self.n1] != 0, t, state["last_n1"])
        window = int(round(self.window / dt))
        # n2 fires after (not with) n1's latest spike and within the window
        paired = (post[self.n2] != 0) & (t - last < window) & (t > last)
        u = jax.random.uniform(jax.random.fold_in(jax.random.fold_in(key, 0x2007), t))
        delay = (jnp.round(self.delay_min / dt) + jnp.ceil(self.delay_span / dt * u)).astype(
            jnp.int32)
        pending = state["pending"]
        due = pending == t
        amount = jnp.where(jnp.any(due), self.amount * jnp.sum(due), 0.0)
        pending = jnp.where(due, -1, pending)
        free = pending < 0
        slot = jnp.argmax(free)
        can = paired & jnp.any(free)
        pending = jnp.where(can, pending.at[slot].set(t + delay), pending)
        state = {"last_n1": last, "pending": pending,
                 "rewards": state["rewards"] + can.astype(jnp.int32),
                 "dropped": state["dropped"] + (paired & ~jnp.any(free)).astype(jnp.int32)}
        return state, amount


@dataclasses.dataclass(frozen=True)
class Dopamine2007(TraceRule):
    """The distal-reward rule of Izhikevich (2007) (``daspnet.m``).

    STDP (traces set: ``0.1`` LTP, ``0.15`` LTD, i.e. spnet's with the LTD factor 1.5; ``x 0.95``
    per ms) changes an eligibility ``sd``; dopamine ``DA`` decays ``x 0.995`` per ms and jumps by
    the ``reward``'s amounts; every ``period`` ms ``w = clip(w + (baseline + DA) sd, 0, w_max)``
    and ``sd *= sd_decay``. ``DA`` is ``state.synapses[k]["da"]``.

    Attributes:
        a_plus, a_minus, decay: traces as above.
        w_max: weight cap (4 in the paper).
        period: ms between weight updates (10).
        sd_decay: eligibility factor per update (0.99: tau_c = 1 s).
        baseline: dopamine tone (0.002).
        da_decay: dopamine factor per ms (0.995: tau_DA = 200 ms).
        reward: :class:`RewardPairing` or :class:`RewardTimes` (static).
    """

    eligibility: ClassVar[bool] = True

    a_plus: float = 0.1
    a_minus: float = 0.15
    decay: float = 0.95
    w_max: float = 4.0
    period: float = 10.0
    sd_decay: float = 0.99
    baseline: float = 0.002
    da_decay: float = 0.995
    reward: object = RewardTimes()
    w_min: float = 0.0
    all_to_all: bool = False

    def decay_plus(self, dt):
        return per_ms(self.decay, dt)

    decay_minus = decay_plus

    def init_extra(self, weights):
        return {"da": jnp.zeros((), weights.dtype), "da_update": jnp.zeros((), weights.dtype),
                "reward": self.reward.init()}

    def period_steps(self, dt):
        return _period_steps(self.period, dt, "Dopamine2007.period")

    def consolidate(self, tables, syn, weights):
        w = self._clip(tables["w"] + (self.baseline + syn["da_update"]) * tables["sd"], weights)
        return {"w": w, "sd": tables["sd"] * self.sd_decay}

    def modulate(self, syn, weights, pre, post, t, key, dt):
        """Dopamine decays; the weight update due after this step uses this value (kept as
        ``da_update``); then the step's reward arrives."""
        da = syn["da"] * per_ms(self.da_decay, dt)
        rstate, amount = self.reward.step(syn["reward"], pre, post, t, key, dt)
        return {**syn, "da": da + jnp.asarray(amount, da.dtype), "da_update": da,
                "reward": rstate}


RULES = {cls.__name__: cls for cls in (STDP, Izhikevich2006, Dopamine2007)}
"""The rules that ship, by class name (files store a rule by this name)."""
REWARDS = {cls.__name__: cls for cls in (RewardTimes, RewardPairing)}


def window(rule, lags, dt=1.0):
    """The change of the target (weight or eligibility) for one pair, as a function of the lag.

    Args:
        rule: :class:`STDP`, :class:`Izhikevich2006` or :class:`Dopamine2007`.
        lags: integer steps ``t_post - t_arrival`` (the update the spike arrives into; see the
            module docstring), array.
        dt: ms per step.

    Returns:
        NumPy array of the analytic change: ``a_plus decay_plus^lag`` for ``lag >= 0``,
        ``-a_minus decay_minus^(-lag - 1)`` for ``lag < 0``.
    """
    lags = np.asarray(lags)
    dp, dm = rule.decay_plus(dt), rule.decay_minus(dt)
    return np.where(lags >= 0, rule.a_plus * dp ** np.maximum(lags, 0),
                    -rule.a_minus * dm ** np.maximum(-lags - 1, 0))
