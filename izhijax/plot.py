"""Figures: the seed's Fig. 3 (raster over the voltage of one neuron)."""

import numpy as np


def fig3(rec, *, title=None, neuron=None, fig=None):
    """Izhikevich (2003) Fig. 3 as the Brian2 seed draws it.

    Top: raster of every neuron (excitatory below the line, inhibitory above, labelled). Bottom: the
    membrane potential of one recorded neuron, clipped at 30 mV as in the seed.

    Args:
        rec: :class:`izhijax.Recording` with ``spikes`` recorded and at least one ``v`` trace.
        title: optional figure title.
        neuron: which recorded neuron's voltage to show (a neuron index in ``rec.v_index``);
            default the first recorded.
        fig: optional matplotlib figure to draw into.

    Returns:
        The matplotlib figure.
    """
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(8, 6))
    if rec.spikes is None:
        raise ValueError("fig3 needs the spike raster: simulate with record_spikes=True")
    ax, ax_v = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    spikes = np.asarray(rec.spikes)
    times = rec.times
    n = spikes.shape[1]
    step, idx = np.nonzero(spikes)
    ax.scatter(times[step], idx, marker="_", color="k", s=10, linewidths=1)
    t_end = times[0] + rec.duration
    ax.set_xlim(times[0], t_end)
    ax.set_ylim(0, n)
    ax.set_ylabel("neuron number")
    ax.set_yticks(np.arange(0, n, 100 if n > 200 else max(n // 5, 1)))
    mid = times[0] + rec.duration / 2
    if 0 < rec.n_exc < n:
        ax.axhline(rec.n_exc, color="k")
        box = dict(facecolor="w", edgecolor="none")
        ax.text(mid, (rec.n_exc + n) / 2, "inhibitory", bbox=box, ha="center", va="center")
        ax.text(mid, rec.n_exc / 2, "excitatory", bbox=box, ha="center", va="center")
    for a in (ax, ax_v):
        a.spines["right"].set_visible(False)
        a.spines["top"].set_visible(False)
    v_index = np.asarray(rec.v_index)
    if v_index.size:
        col = 0 if neuron is None else int(np.flatnonzero(v_index == neuron)[0])
        ax_v.plot(times, np.clip(np.asarray(rec.v[:, col]), -np.inf, 30), color="k", lw=0.8)
        ax_v.text(times[0] + 0.025 * rec.duration, 0, f"v$_{{{v_index[col] + 1}}}$(t)")
        ax_v.set_ylabel("mV")
    ax_v.set_xlabel("time, ms")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def fit_curves(history, n_exc, before, after, targets, *, title=None, fig=None):
    """A population-rate fit: loss and rates over the optimizer steps, rates before / after.

    Args:
        history: :attr:`izhijax.fit.FitResult.history` (``loss`` ``(S,)``, ``rates`` ``(S, n)``).
        n_exc: number of excitatory neurons (the first ``n_exc``).
        before, after: ``(exc, inh)`` mean rates in Hz (on held-out keys).
        targets: ``(exc, inh)`` target rates in Hz.
        title: optional figure title.
        fig: optional matplotlib figure to draw into.

    Returns:
        The matplotlib figure.
    """
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.semilogy(np.asarray(history["loss"]), "k", label="loss")
    ax1.set_xlabel("optimizer step")
    ax1.set_ylabel("loss (training keys)")
    rates = np.asarray(history["rates"])
    axr = ax1.twinx()
    axr.plot(rates[:, :n_exc].mean(1), "C0", lw=0.8, label="exc rate")
    axr.plot(rates[:, n_exc:].mean(1), "C3", lw=0.8, label="inh rate")
    for target, color in zip(targets, ("C0", "C3")):
        axr.axhline(target, color=color, ls=":", lw=0.8)
    axr.set_ylabel("rate, Hz")
    axr.legend(loc="upper right")
    x = np.arange(2)
    ax2.bar(x - 0.25, before, 0.25, label="before", color="0.7")
    ax2.bar(x, after, 0.25, label="after (held-out keys)", color="k")
    ax2.bar(x + 0.25, targets, 0.25, label="target", color="C2")
    ax2.set_xticks(x, ["excitatory", "inhibitory"])
    ax2.set_ylabel("mean rate, Hz")
    ax2.legend()
    fig.suptitle(title or "Fitting population rates")
    fig.tight_layout()
    return fig
