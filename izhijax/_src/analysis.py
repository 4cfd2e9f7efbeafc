"""Summaries of a run: firing rates, population rate, spectrum and dominant rhythm.

Written with ``jax.numpy`` on plain arrays so they also run inside a compiled sweep; each takes the
recording's arrays and the step length ``dt`` in ms (:func:`summary` and :func:`rhythm_bands`, which
return Python numbers, are the exceptions: their traceable core is :func:`band_stats`).

Rhythm bands. The Fig. 3 network oscillates in two bands at once (Izhikevich 2003 reports alpha and
gamma rhythms): over Brian2's 10 seeds (tests/data/brian2_fig3_seeds.npz) the excitatory rate has a
narrow slow peak at 8-9 Hz and a broad fast hump whose highest bin lies between 23 and 42 Hz, with a
trough at 13-20 Hz; the two peaks are of similar height, so the single spectral maximum
(:func:`rhythm_frequency`) jumps between them from key to key. :func:`rhythm_bands` measures each
band separately: ``ALPHA_BAND`` = 6-15 Hz and ``GAMMA_BAND`` = 20-90 Hz (the edges sit in the
trough and above the fast hump, so neither peak is cut; the "gamma" band includes the 20-30 Hz top of
the conventional beta band because the network's fast rhythm reaches down to 23 Hz), and calls a band
dominant only when its peak power is more than ``DOMINANCE`` = 2 times the other's (amplitude ratio
sqrt 2).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


def _float(counts):
    """Integer counts as JAX's default float (float64 under ``jax_enable_x64``)."""
    return jnp.asarray(counts).astype(jnp.result_type(float))


def check_recording(rec, name="rec"):
    """Refuse what is not an :class:`izhijax.Recording` (a TypeError naming ``name``)."""
    from .simulate import Recording
    if not isinstance(rec, Recording):
        raise TypeError(f"{name} must be an izhijax.Recording (the second value izj.simulate "
                        f"returns), got {type(rec).__name__}")
    return rec


def firing_rates(rec):
    """Firing rate of every neuron over the run, Hz, shape ``(n,)``."""
    check_recording(rec)
    return _float(rec.counts) / (rec.duration * 1e-3)


def population_rates(rec):
    """Mean firing rate of each population and of all neurons, Hz.

    Args:
        rec: :class:`izhijax.Recording`.

    Returns:
        dict ``{population name: Hz, ..., "all": Hz}`` of scalars (differentiable under
        ``jax.grad`` of a traced run).
    """
    rates = firing_rates(rec)
    out = {name: jnp.mean(rates[lo:hi]) for name, lo, hi in rec.populations}
    out["all"] = jnp.mean(rates)
    return out


def population_rate(rec, population="all"):
    """Instantaneous population rate, Hz, shape ``(T,)``: spikes per step / neurons / dt.

    Args:
        rec: :class:`izhijax.Recording`.
        population: a population name, or ``"all"``.
    """
    check_recording(rec)
    if population == "all":
        counts, size = rec.pop_counts.sum(axis=1), rec.n
    else:
        if population not in rec.names:
            raise ValueError(f"population must be one of {rec.names + ('all',)}, got "
                             f"{population!r}")
        k = rec.names.index(population)
        lo, hi = rec.span(population)
        counts, size = rec.pop_counts[:, k], hi - lo
    return _float(counts) / max(size, 1) / (rec.dt * 1e-3)


def power_spectrum(signal, dt):
    """Periodogram of a signal sampled every ``dt`` ms, mean removed, Hann window.

    Args:
        signal: shape ``(T,)``.
        dt: sampling step in ms.

    Returns:
        ``(freqs, power)``: frequencies in Hz, shape ``(T // 2 + 1,)``, and power (arbitrary units).
    """
    signal = jnp.asarray(signal)
    T = signal.shape[0]
    window = jnp.asarray(np.hanning(T), signal.dtype)
    spec = jnp.fft.rfft((signal - signal.mean()) * window)
    freqs = jnp.asarray(np.fft.rfftfreq(T, d=dt * 1e-3), signal.dtype)
    return freqs, jnp.abs(spec) ** 2


def rhythm_frequency(signal, dt, fmin=2.0, fmax=200.0):
    """Dominant rhythm: the frequency (Hz) of the spectral peak of ``signal`` in ``[fmin, fmax]``.

    Args:
        signal: a population rate, shape ``(T,)`` sampled every ``dt`` ms.
        dt: sampling step in ms.
        fmin, fmax: band searched, Hz (the default skips the slow drift below 2 Hz).

    Returns:
        Scalar frequency in Hz (resolution ``1000 / (T dt)`` Hz).
    """
    freqs, power = power_spectrum(signal, dt)
    band = (freqs >= fmin) & (freqs <= fmax)
    return freqs[jnp.argmax(jnp.where(band, power, -jnp.inf))]


ALPHA_BAND = (6.0, 15.0)
"""Alpha band of :func:`rhythm_bands`, Hz (ends included); see the module docstring."""
GAMMA_BAND = (20.0, 90.0)
"""Gamma band of :func:`rhythm_bands`, Hz (ends included); see the module docstring."""
DOMINANCE = 2.0
"""A band is dominant when its peak power is more than this many times the other band's."""
LOBE_BINS = 2
"""Half-width of the Hann window's main lobe in bins: a band's power is summed over peak +- 2 bins."""


@partial(jax.jit, static_argnames=("dt", "alpha", "gamma", "factor", "fmin", "fmax"))
def band_stats(signal, dt, alpha=ALPHA_BAND, gamma=GAMMA_BAND, factor=DOMINANCE, fmin=2.0,
               fmax=200.0):
    """Traceable core of :func:`rhythm_bands` and of the ``rhythm_hz`` of :func:`summary` and
    :func:`izhijax.sweep.summaries`.

    Returns:
        dict of JAX scalars: ``alpha_hz``, ``alpha_power``, ``gamma_hz``, ``gamma_power`` (as in
        :func:`rhythm_bands`), ``dominant`` (int: 0 none, 1 alpha, 2 gamma), ``dominant_hz`` (the
        dominant band's peak, NaN when none) and ``rhythm_hz`` (``dominant_hz`` when a band dominates,
        else :func:`rhythm_frequency` in ``[fmin, fmax]``).
    """
    signal = jnp.asarray(signal)
    T = signal.shape[0]
    freqs, power = power_spectrum(signal, dt)
    # One-sided periodogram normalised so that a sine of amplitude A sums to A**2 / 2 (its variance)
    # over its main lobe: Parseval with the Hann window's energy.
    energy = T * float(np.sum(np.hanning(T) ** 2))
    power = 2.0 * power / (energy if energy > 0 else 1.0)
    bins = jnp.arange(freqs.shape[0])

    def band(lo, hi):
        inside = (freqs >= lo) & (freqs <= hi)
        k = jnp.argmax(jnp.where(inside, power, -jnp.inf))
        lobe = jnp.abs(bins - k) <= LOBE_BINS
        return (jnp.where(jnp.any(inside), freqs[k], jnp.nan),
                jnp.where(jnp.any(inside), jnp.sum(jnp.where(lobe, power, 0.0)), jnp.nan))

    alpha_hz, alpha_power = band(*alpha)
    gamma_hz, gamma_power = band(*gamma)
    dominant = jnp.where(alpha_power > factor * gamma_power, 1,
                         jnp.where(gamma_power > factor * alpha_power, 2, 0))
    dominant_hz = jnp.where(dominant == 1, alpha_hz, jnp.where(dominant == 2, gamma_hz, jnp.nan))
    peak = rhythm_frequency(signal, dt, fmin, fmax)
    return {"alpha_hz": alpha_hz, "alpha_power": alpha_power, "gamma_hz": gamma_hz,
            "gamma_power": gamma_power, "dominant": dominant, "dominant_hz": dominant_hz,
            "rhythm_hz": jnp.where(dominant > 0, dominant_hz, peak)}


def rhythm_bands(signal, dt, *, alpha=ALPHA_BAND, gamma=GAMMA_BAND, factor=DOMINANCE):
    """Alpha and gamma rhythms of a signal measured apart, and which one dominates, if any.

    Each band's peak is its highest periodogram bin (:func:`power_spectrum`: mean removed, Hann
    window); its power is the periodogram summed over the window's main lobe around that bin (peak
    +- 2 bins), normalised so that a sine of amplitude ``A`` inside the band has power ``A**2 / 2``
    (its variance; Hz**2 for a population rate in Hz). A band is ``dominant`` only when its power is
    more than ``factor`` times the other's; with comparable peaks (the Fig. 3 network's usual state, see
    the module docstring) ``dominant`` is ``"none"`` and ``dominant_hz`` NaN.

    Args:
        signal: e.g. a population rate (:func:`population_rate`), shape ``(T,)`` sampled every ``dt``
            ms.
        dt: sampling step in ms.
        alpha, gamma: ``(lo, hi)`` band edges in Hz, ends included (default 6-15 Hz and 20-90 Hz).
        factor: dominance factor on power (default 2).

    Returns:
        dict of Python values: ``alpha_hz``, ``alpha_power``, ``gamma_hz``, ``gamma_power`` (NaN for
        a band with no frequency bin, e.g. a signal too short), ``dominant`` (``"alpha"``,
        ``"gamma"`` or ``"none"``) and ``dominant_hz`` (the dominant band's peak, NaN for none).
        Under ``jit``/``vmap`` use :func:`band_stats` (JAX scalars), as :func:`izhijax.sweep.summaries`
        does.
    """
    from .validate import is_traced
    if is_traced(signal):
        raise TypeError("rhythm_bands() returns Python values and cannot be traced; inside jit / "
                        "vmap use izhijax._src.analysis.band_stats or izj.sweep.summaries")
    s = band_stats(signal, float(dt), tuple(map(float, alpha)), tuple(map(float, gamma)),
                   float(factor))
    out = {k: float(s[k]) for k in ("alpha_hz", "alpha_power", "gamma_hz", "gamma_power")}
    out["dominant"] = ("none", "alpha", "gamma")[int(s["dominant"])]
    out["dominant_hz"] = float(s["dominant_hz"])
    return out


def synchrony(rec):
    """Golomb's synchrony measure chi of all neurons, from the spike counts alone (no raster).

    ``chi^2 = Var_t[A(t)] / mean_i Var_t[s_i(t)]`` with ``s_i(t)`` the 0/1 spike train of neuron ``i``
    in bins of one step and ``A(t) = mean_i s_i(t)`` (Golomb 2007, Scholarpedia "Neuronal
    synchrony measures"). For a 0/1 train ``Var_t[s_i] = p_i (1 - p_i)`` with ``p_i`` = spikes / steps,
    so the per-neuron counts and the per-step population counts give chi exactly. About
    ``1 / sqrt(n)`` for independent neurons, 1 when all fire in the same steps.

    Args:
        rec: :class:`izhijax.Recording` (``counts`` and ``pop_counts``; the raster is not needed).

    Returns:
        Scalar chi in [0, 1]; ``nan`` if no neuron fired.
    """
    check_recording(rec)
    counts = _float(rec.counts)
    n, steps = counts.shape[0], rec.n_steps
    p = counts / steps
    var_single = jnp.mean(p * (1.0 - p))
    activity = _float(rec.pop_counts).sum(axis=1) / n
    var_pop = jnp.var(activity)
    return jnp.where(var_single > 0, jnp.sqrt(var_pop / jnp.where(var_single > 0, var_single, 1.0)),
                     jnp.nan)


def summary(rec):
    """The headline numbers of a run, as Python floats (not differentiable: under ``jax.grad`` use
    :func:`population_rates` or :func:`firing_rates`, which are).

    Returns:
        dict: ``spikes`` (total count), ``rate_<population>`` for each population, ``rate_all``
        (Hz); of the first population's rate (:func:`rhythm_bands`): ``alpha_hz``, ``gamma_hz``
        (each band's peak, Hz), ``alpha_power``, ``gamma_power`` (Hz**2), and ``rhythm_hz``: the
        dominant band's peak when one band's power is more than twice the other's, else the highest
        spectral peak in 2-200 Hz (:func:`rhythm_frequency`; with comparable alpha and gamma peaks it
        may be either from key to key: read ``alpha_hz`` and ``gamma_hz``).
    """
    from .validate import is_traced
    check_recording(rec)
    if is_traced(rec.counts):
        raise TypeError("summary() returns Python floats and cannot be traced or differentiated; "
                        "inside jax.grad / jit use izj.population_rates(rec) or "
                        "izj.firing_rates(rec), which carry the surrogate gradient")
    import dataclasses
    total, rates, bands = _summary_arrays(dataclasses.replace(rec, spikes=None))
    out = {"spikes": int(total)}
    out.update({f"rate_{name}": float(r) for name, r in rates.items()})
    out.update({k: float(bands[k]) for k in ("rhythm_hz", "alpha_hz", "gamma_hz", "alpha_power",
                                              "gamma_power")})
    return out


@jax.jit
def _summary_arrays(rec):
    """The numbers of :func:`summary` in one compiled program (one dispatch instead of a dozen)."""
    return (jnp.sum(rec.counts), population_rates(rec),
            band_stats(population_rate(rec, rec.names[0]), rec.dt))
