"""Summaries of a run: firing rates, population rate, spectrum and dominant rhythm.

Written with ``jax.numpy`` on plain arrays so they also run inside a compiled sweep; each takes the
recording's arrays and the step length ``dt`` in ms.
"""

import jax.numpy as jnp
import numpy as np


def _float(counts):
    """Integer counts as JAX's default float (float64 under ``jax_enable_x64``)."""
    return jnp.asarray(counts).astype(jnp.result_type(float))


def firing_rates(rec):
    """Firing rate of every neuron over the run, Hz, shape ``(n,)``."""
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
        (Hz), and ``rhythm_hz`` (dominant frequency of the first population's rate).
    """
    from .validate import is_traced
    if is_traced(rec.counts):
        raise TypeError("summary() returns Python floats and cannot be traced or differentiated; "
                        "inside jax.grad / jit use izj.population_rates(rec) or "
                        "izj.firing_rates(rec), which carry the surrogate gradient")
    rates = population_rates(rec)
    rhythm = rhythm_frequency(population_rate(rec, rec.names[0]), rec.dt)
    out = {"spikes": int(jnp.sum(rec.counts))}
    out.update({f"rate_{name}": float(r) for name, r in rates.items()})
    out["rhythm_hz"] = float(rhythm)
    return out
