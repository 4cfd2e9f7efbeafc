"""Does a voltage trace show a neuro-computational feature? Criteria of Izhikevich (2004), Fig. 1.

Each feature's test is written from its definition in the paper's text, read off the spike train
(count, interspike intervals, bursts, latency) and the input protocol (when a step starts, where the
pulses are), never from the spike counts of a particular run:

=============================  ==============================================================
feature                        criterion
=============================  ==============================================================
tonic spiking                  fires as long as the input is on: single spikes (no burst)
                               at a steady rate until the end of the step
phasic spiking                 a single spike at the onset of the step, quiet afterwards
tonic bursting                 periodic bursts, >= 3 of them, still bursting at the end
phasic bursting                a single burst at the onset, quiet afterwards (2nd half)
mixed mode                     a burst at the onset, then a switch to tonic single spikes
spike frequency adaptation     tonic spikes with decreasing frequency (ISIs lengthen)
Class 1 excitable              frequency grows with a ramp, starting from a low frequency
Class 2 excitable              fires along a ramp, never below a high frequency
spike latency                  a brief pulse gives one spike, long after the pulse is over
subthreshold oscillations      after the response, damped oscillations of v, no more spikes
resonator                      responds to a doublet with a longer interval, not a shorter one
integrator                     responds to the doublet with the shorter interval only
rebound spike                  one spike after release from inhibition
rebound burst                  one burst after release from inhibition
threshold variability          a pulse that fails alone fires when preceded by inhibition
bistability                    a pulse switches on tonic spiking, a second pulse switches it off
depolarizing after-potential   after the spike v rises again and stays above rest
accommodation                  a slow ramp gives no spike, a steeper lower ramp does
inhibition-induced spiking     tonic spikes only while the input is lowered
inhibition-induced bursting    bursts only while the input is lowered
=============================  ==============================================================

Thresholds are physiological conventions: a *burst* is a run of spikes at >= 100 Hz (ISI <=
:data:`BURST_ISI` = 10 ms), firing is *steady* when consecutive ISIs differ by < 15 %, a response
"at the onset" falls in the first quarter of the step, "low frequency" is < 30 Hz and "high" is
>= 40 Hz (the paper's "relatively large frequency, say 40 Hz" of Class 2 neurons).
"""

import numpy as np

BURST_ISI = 10.0
"""Longest interspike interval inside a burst, ms (intra-burst frequency >= 100 Hz)."""
STEADY = 0.15
"""Largest relative change of consecutive ISIs that still counts as steady firing."""


def spike_times(t, v, v_peak=30.0):
    """Times (ms) where the trace reaches the cut-off ``v_peak`` (figure1.m records 30 at a spike)."""
    return np.asarray(t)[np.asarray(v) >= v_peak]


def bursts(times, max_isi=BURST_ISI):
    """Split spike times into events: runs of spikes with ISIs <= ``max_isi``.

    Returns:
        list of arrays of spike times; an event with >= 2 spikes is a burst, 1 a single spike.
    """
    times = np.asarray(times)
    if times.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(times) > max_isi) + 1
    return np.split(times, cuts)


def epochs(t, i):
    """Runs of constant 'level' of the input: where it leaves its initial value and comes back.

    Returns:
        list of ``(start, end, peak)``: times (ms) of the first and last step off the initial value,
        and the input value farthest from it, in order.
    """
    t, i = np.asarray(t), np.asarray(i)
    off = i != i[0]
    edges = np.flatnonzero(np.diff(off.astype(int))) + 1
    bounds = np.split(np.arange(t.size), edges)
    out = []
    for idx in bounds:
        if off[idx[0]]:
            dev = i[idx] - i[0]
            out.append((t[idx[0]], t[idx[-1]], i[idx][np.argmax(np.abs(dev))]))
    return out


def _steady(isis):
    return len(isis) >= 2 and abs(isis[-1] - isis[-2]) < STEADY * isis[-1]


def _tonic_to_end(times, end):
    """Single spikes at a steady rate still going at ``end``."""
    isis = np.diff(times)
    return (len(times) >= 3 and _steady(isis) and np.all(isis[-2:] > BURST_ISI)
            and end - times[-1] < 1.5 * isis[-1])


def _step_window(t, i):
    """``(onset, end)`` of a step protocol (input constant after its first change), or None."""
    ep = epochs(t, i)
    if len(ep) != 1 or ep[0][1] != t[-1]:
        return None
    after = np.asarray(i)[np.asarray(t) >= ep[0][0]]
    return (ep[0][0], t[-1]) if np.all(after == after[0]) else None


def _in(times, lo, hi):
    return times[(times >= lo) & (times <= hi)]


def tonic_spiking(t, v, i):
    """A (step): no spike before the step; single spikes at a steady rate up to its end."""
    w = _step_window(t, i)
    if w is None:
        return False
    times = spike_times(t, v)
    return _in(times, 0, w[0]).size == 0 and _tonic_to_end(times, w[1])


def phasic_spiking(t, v, i):
    """B (step): exactly one spike, in the first quarter of the step."""
    w = _step_window(t, i)
    if w is None:
        return False
    times = spike_times(t, v)
    return times.size == 1 and w[0] <= times[0] <= w[0] + 0.25 * (w[1] - w[0])


def tonic_bursting(t, v, i):
    """C (step): >= 3 bursts, evenly spaced, all events bursts, the last in the final third."""
    w = _step_window(t, i)
    if w is None:
        return False
    times = spike_times(t, v)
    events = bursts(times)
    if _in(times, 0, w[0]).size or len(events) < 3 or any(len(e) < 2 for e in events):
        return False
    gaps = [b[0] - a[-1] for a, b in zip(events, events[1:])]
    periodic = max(gaps) < (1 + 2 * STEADY) * min(gaps)
    return periodic and events[-1][0] > w[0] + (2 / 3) * (w[1] - w[0])


def phasic_bursting(t, v, i):
    """D (step): one burst, starting in the first quarter and over by mid-step."""
    w = _step_window(t, i)
    if w is None:
        return False
    events = bursts(spike_times(t, v))
    return (len(events) == 1 and len(events[0]) >= 2
            and w[0] <= events[0][0] <= w[0] + 0.25 * (w[1] - w[0])
            and events[0][-1] < w[0] + 0.5 * (w[1] - w[0]))      # quiet for the rest of the step


def mixed_mode(t, v, i):
    """E (step): an onset burst, a pause >= 3 x its longest ISI, then steady single spikes."""
    w = _step_window(t, i)
    if w is None:
        return False
    times = spike_times(t, v)
    events = bursts(times)
    if _in(times, 0, w[0]).size or len(events) < 3 or len(events[0]) < 2:
        return False
    rest = times[len(events[0]) - 1:]                  # last spike of the burst, then the tonic spikes
    isis = np.diff(rest)
    pause = isis[0] >= 3 * np.diff(events[0]).max()     # the burst stands apart from what follows
    switch = isis.min() >= (1 - STEADY) * isis[-1]     # no transition: straight to the tonic period
    return (all(len(e) == 1 for e in events[1:]) and pause and switch
            and _tonic_to_end(rest, w[1]))


def spike_frequency_adaptation(t, v, i):
    """F (step): >= 4 spikes, ISIs never shorten (5 %), the last >= 3 x the first."""
    w = _step_window(t, i)
    if w is None:
        return False
    times = spike_times(t, v)
    isis = np.diff(times)
    return (_in(times, 0, w[0]).size == 0 and times.size >= 4
            and np.all(isis[1:] >= (1 - 0.05) * isis[:-1]) and isis[-1] >= 3 * isis[0])


def _ramp(t, v, i):
    """Spike times during a rising input ramp, or None if it is not a ramp response."""
    ep = epochs(t, i)
    if len(ep) != 1 or not np.all(np.diff(np.asarray(i)[np.asarray(t) >= ep[0][0]]) > 0):
        return None
    times = spike_times(t, v)
    if _in(times, 0, ep[0][0]).size or times.size < 4:
        return None
    return times


def class_1_excitable(t, v, i):
    """G (ramp): ISIs shorten along the ramp from an onset below 30 Hz, over a factor >= 2."""
    times = _ramp(t, v, i)
    if times is None:
        return False
    isis, dt = np.diff(times), t[1] - t[0]
    # the frequency rises with the input (ISIs shorten, to the resolution of one step), from a low
    # onset frequency over at least a factor of two
    return bool(np.all(np.diff(isis) <= dt) and 1000 / isis[0] < 30 and isis[0] >= 2 * isis[-1])


def class_2_excitable(t, v, i):
    """H (ramp): every ISI faster than 40 Hz, firing up to the end of the ramp."""
    times = _ramp(t, v, i)
    if times is None:
        return False
    isis = np.diff(times)
    # no low frequencies: the first interval is already fast, and firing goes on along the ramp
    return 1000 / isis[0] >= 40 and 1000 / isis.max() >= 40 and t[-1] - times[-1] < 1.5 * isis[-1]


def _pulses(t, i, sign=+1):
    """Pulses of the input away from its initial value with the given sign: list of (start, end)."""
    return [(s, e) for s, e, p in epochs(t, i) if np.sign(p - np.asarray(i)[0]) == sign]


def spike_latency(t, v, i):
    """I (pulse): one spike, after the pulse, later than twice the pulse's length from its onset."""
    pulses = epochs(t, i)
    if len(pulses) != 1 or not pulses[0][2] > np.asarray(i)[0]:
        return False
    (start, end, _), times = pulses[0], spike_times(t, v)
    # one spike, after the pulse is over and late compared with the pulse: v kept rising on its own
    return times.size == 1 and times[0] > end and times[0] - start > 2 * (end - start)


def subthreshold_oscillations(t, v, i):
    """J (pulse): at most one spike; then >= 4 alternating extrema of decaying size."""
    pulses = epochs(t, i)
    if len(pulses) != 1:
        return False
    t, v = np.asarray(t), np.asarray(v)
    times = spike_times(t, v)
    if times.size > 1:
        return False
    after = t > max(pulses[0][1], times[-1] if times.size else -np.inf)
    dev = v[after] - v[-1]                               # around the final (resting) value
    k = np.flatnonzero(np.diff(np.sign(np.diff(dev))) != 0) + 1   # local extrema
    amp = np.abs(dev[k])
    k, amp = k[amp > 0.05], amp[amp > 0.05]               # ignore rounding-level wiggles
    alternate = np.all(np.sign(dev[k][1:]) != np.sign(dev[k][:-1]))
    return k.size >= 4 and alternate and np.all(np.diff(amp) < 0)


def _doublets(t, v, i):
    """Spikes in response to each doublet of pulses: list of (interval, n_after_1st, n_after_2nd)."""
    pulses = _pulses(t, i, +1)
    if len(pulses) < 4 or len(pulses) % 2:
        return None
    times = spike_times(t, v)
    starts = [p[0] for p in pulses] + [np.asarray(t)[-1] + 1]
    count = [_in(times, starts[k], starts[k + 1] - 1e-9).size for k in range(len(pulses))]
    if _in(times, 0, starts[0]).size:
        return None
    return [(starts[k + 1] - starts[k], count[k], count[k + 1]) for k in range(0, len(pulses), 2)]


def _doublet_split(t, v, i):
    """Intervals of the doublets that fired and of those that did not, or None when a first pulse
    fired, the protocol is not doublets, or either group is empty."""
    d = _doublets(t, v, i)
    if d is None or any(first for _, first, _ in d):
        return None
    fired = [interval for interval, _, second in d if second]
    silent = [interval for interval, _, second in d if not second]
    return (fired, silent) if fired and silent else None


def resonator(t, v, i):
    """K (doublets): no spike to a first pulse; the doublets that fire are longer than those that
    do not."""
    split = _doublet_split(t, v, i)
    return split is not None and min(split[0]) > max(split[1])


def integrator(t, v, i):
    """L (doublets): no spike to a first pulse; the doublets that fire are shorter than those that
    do not."""
    split = _doublet_split(t, v, i)
    return split is not None and max(split[0]) < min(split[1])


def _rebound(t, v, i):
    """Spike times after release from a single inhibitory pulse, or None."""
    ep = epochs(t, i)
    if len(ep) != 1 or not ep[0][2] < np.asarray(i)[0]:
        return None
    times = spike_times(t, v)
    return None if _in(times, 0, ep[0][1]).size else times


def rebound_spike(t, v, i):
    """M (inhibitory pulse): nothing until its end, then exactly one spike."""
    times = _rebound(t, v, i)
    return times is not None and times.size == 1


def rebound_burst(t, v, i):
    """N (inhibitory pulse): nothing until its end, then one burst."""
    times = _rebound(t, v, i)
    return times is not None and len(bursts(times)) == 1 and times.size >= 2


def threshold_variability(t, v, i):
    """O: the same excitatory pulse fails alone and fires right after an inhibitory one."""
    ep = epochs(t, i)
    base = np.asarray(i)[0]
    exc = [e for e in ep if e[2] > base]
    if len(exc) != 2 or exc[0][2] != exc[1][2]:          # the same excitatory pulse twice
        return False
    inh = [e for e in ep if e[2] < base and exc[0][1] < e[0] < exc[1][0]]
    times = spike_times(t, v)
    alone = _in(times, 0, inh[0][0] if inh else np.inf).size
    after = _in(times, exc[1][0], np.inf).size
    return bool(inh) and alone == 0 and after >= 1 and times.size == after


def bistability(t, v, i):
    """P (two pulses): quiet before the first, tonic between them, quiet after the second."""
    pulses = _pulses(t, i, +1)
    if len(pulses) != 2:
        return False
    times = spike_times(t, v)
    on = _in(times, pulses[0][0], pulses[1][0])
    return (_in(times, 0, pulses[0][0]).size == 0 and _in(times, pulses[1][0], np.inf).size == 0
            and _tonic_to_end(on, pulses[1][0]))


def depolarizing_after_potential(t, v, i):
    """Q (pulse): one spike; within 10 ms v climbs > 2 mV above its post-reset value and > 5 mV
    above rest."""
    pulses = epochs(t, i)
    t, v = np.asarray(t), np.asarray(v)
    times = spike_times(t, v)
    if len(pulses) != 1 or times.size != 1:
        return False
    rest = v[t < pulses[0][0]][-1]
    after = v[t > times[0]]
    window = after[:int(np.searchsorted(t[t > times[0]], times[0] + 10))]
    if window.size < 2:
        return False
    k = int(np.argmax(window))
    rises = k > 0 and after[k] > after[0] + 2.0             # v climbs again after the reset
    return rises and after[k] > rest + 5.0


def accommodation(t, v, i):
    """R (two ramps): no spike to the slow, higher ramp; a spike to the steeper, lower one."""
    ep = epochs(t, i)
    if len(ep) != 2:
        return False
    (s1, e1, p1), (s2, e2, p2) = ep
    dt = t[1] - t[0]
    slope1, slope2 = p1 / max(e1 - s1, dt), p2 / max(e2 - s2, dt)
    times = spike_times(t, v)
    return (p1 > p2 > 0 and slope2 > 2 * slope1 and _in(times, 0, s2).size == 0
            and _in(times, s2, np.inf).size >= 1)


def _lowered(t, v, i):
    """Spikes inside a single lowered-input window, if none outside it."""
    ep = epochs(t, i)
    if len(ep) != 1 or not ep[0][2] < np.asarray(i)[0]:
        return None
    times = spike_times(t, v)
    inside = _in(times, ep[0][0], ep[0][1])
    return inside if inside.size == times.size else None


def inhibition_induced_spiking(t, v, i):
    """S (lowered input): >= 3 single spikes, all inside the lowered window."""
    inside = _lowered(t, v, i)
    if inside is None or inside.size < 3:
        return False
    return all(len(e) == 1 for e in bursts(inside))


def inhibition_induced_bursting(t, v, i):
    """T (lowered input): >= 2 bursts, all spikes inside the lowered window."""
    inside = _lowered(t, v, i)
    if inside is None:
        return False
    events = bursts(inside)
    return len(events) >= 2 and all(len(e) >= 2 for e in events)


CRITERIA = {
    "tonic spiking": tonic_spiking,
    "phasic spiking": phasic_spiking,
    "tonic bursting": tonic_bursting,
    "phasic bursting": phasic_bursting,
    "mixed mode": mixed_mode,
    "spike frequency adaptation": spike_frequency_adaptation,
    "Class 1 excitable": class_1_excitable,
    "Class 2 excitable": class_2_excitable,
    "spike latency": spike_latency,
    "subthreshold oscillations": subthreshold_oscillations,
    "resonator": resonator,
    "integrator": integrator,
    "rebound spike": rebound_spike,
    "rebound burst": rebound_burst,
    "threshold variability": threshold_variability,
    "bistability": bistability,
    "depolarizing after-potential": depolarizing_after_potential,
    "accommodation": accommodation,
    "inhibition-induced spiking": inhibition_induced_spiking,
    "inhibition-induced bursting": inhibition_induced_bursting,
}
"""Feature name -> ``criterion(t, v, i) -> bool`` (NumPy arrays of one trace: ms, mV, mV/ms)."""


def shows(feature, trace):
    """Whether a trace (an :class:`izhijax.patterns.Trace`) shows the named feature."""
    if feature not in CRITERIA:
        raise ValueError(f"unknown feature {feature!r}; expected one of {tuple(CRITERIA)}")
    return bool(CRITERIA[feature](trace.t, trace.v, trace.i))


def classify(trace):
    """Every feature whose criterion the trace meets, in the paper's order (A-T)."""
    return [f for f in CRITERIA if shows(f, trace)]
