"""Figures: the seed's Fig. 3 (raster over one neuron's voltage), Izhikevich (2004) Fig. 1, sweep maps,
fits, the polychronization network's run and one polychronous group."""

import warnings

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
    labels = {"exc": "excitatory", "inh": "inhibitory"}
    if len(rec.populations) > 1:
        box = dict(facecolor="w", edgecolor="none")
        for name, lo, hi in rec.populations:
            if lo > 0:
                ax.axhline(lo, color="k")
            ax.text(mid, (lo + hi) / 2, labels.get(name, name), bbox=box, ha="center",
                    va="center")
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


def patterns(traces, *, title=None, fig=None, columns=4):
    """Izhikevich (2004) Fig. 1: one panel per trace, voltage above a sketch of the input.

    Args:
        traces: :class:`izhijax.patterns.Trace` objects (e.g. ``izhijax.patterns.run()``).
        title: optional figure title.
        fig: optional matplotlib figure to draw into.
        columns: panels per row (4, as in the paper: 5 rows of 4 panels).

    Returns:
        The matplotlib figure. Each panel: ``v`` (mV, 30 at a spike as figure1.m records it) on a
        common -100 to 30 mV scale, the input current drawn below it between -100 and -85 mV
        (scaled to its own range, as the paper sketches it), the panel's duration in its corner.
    """
    if fig is None:
        import matplotlib.pyplot as plt
        rows = -(-len(traces) // columns)
        fig = plt.figure(figsize=(3.0 * columns, 1.9 * rows))
    rows = -(-len(traces) // columns)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, tr in zip(axes, traces):
        t, i = np.asarray(tr.t), np.asarray(tr.i)
        span = np.ptp(i)
        sketch = -100 + (15 * (i - i.min()) / span if span > 0 else 0 * i + 5)
        ax.plot(t, np.asarray(tr.v), color="k", lw=0.7)
        ax.plot(t, sketch, color="tab:blue", lw=0.9)
        ax.set_xlim(t[0], t[-1])
        ax.set_ylim(-102, 32)
        ax.set_title(f"({tr.protocol.label}) {tr.protocol.name}", fontsize=9)
        ax.text(t[-1], -84, f"{t[-1]:g} ms", ha="right", va="bottom", fontsize=7, color="0.4")
        ax.axis("off")
    for ax in axes[len(traces):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


SWEEP_PANELS = (("rate_exc", "excitatory rate (Hz)", "log"), ("rate_inh", "inhibitory rate (Hz)", "log"),
                ("rhythm_hz", "dominant rhythm (Hz)", "linear"), ("chi", "synchrony $\\chi$", "linear"))


def sweep_maps(result, *, panels=SWEEP_PANELS, quiet_hz=1.0, title=None, fig=None):
    """Heat maps of a two-axis sweep, one panel per summary, averaged over trials.

    Args:
        result: :class:`izhijax.SweepResult` whose axes are two parameters (x first, then y) and
            optionally ``"trial"`` (averaged, ignoring nan).
        panels: ``(summary name, colour bar label, "log" | "linear")`` triples; names missing from
            the result are skipped. Log panels show values below 0.1 (silence) at the bottom colour.
        quiet_hz: rhythm and synchrony are left blank (grey) where the mean excitatory rate is
            below this (Hz): a nearly silent network has no meaningful rhythm. None shows all.
        title: optional figure title.
        fig: optional matplotlib figure to draw into.

    Returns:
        The matplotlib figure.
    """
    from matplotlib.colors import LogNorm
    dims = [d for d in result.dims if d != "trial"]
    if len(dims) != 2:
        raise ValueError(f"sweep_maps needs a sweep over two parameters, got axes {result.dims}")
    panels = [p for p in panels if p[0] in result.data]
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(4.2 * len(panels), 3.6))
    x, y = (np.asarray(result.coords[d]) for d in dims)
    quiet = None
    if quiet_hz is not None and "rate_exc" in result.data:
        quiet = _trial_mean(result, "rate_exc") < quiet_hz
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (name, label, scale) in zip(axes, panels):
        values = _trial_mean(result, name)
        if quiet is not None and name in ("rhythm_hz", "chi"):
            values = np.where(quiet, np.nan, values)
        norm = None
        if scale == "log":
            values = np.maximum(values, 0.1)
            norm = LogNorm(vmin=0.1, vmax=max(float(np.nanmax(values)), 1.0))
        ax.set_facecolor("0.8")
        mesh = ax.pcolormesh(_edges(x), _edges(y), values.T, shading="flat", cmap="viridis",
                             norm=norm)
        fig.colorbar(mesh, ax=ax, label=label)
        ax.set_xlabel(dims[0])
        ax.set_ylabel(dims[1])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _trial_mean(result, name):
    values = np.asarray(result[name], float)
    if "trial" in result.dims:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-nan cells stay nan
            values = np.nanmean(values, axis=result.dims.index("trial"))
    return values


def _edges(c):
    """Cell edges around sorted coordinates (midpoints, the outer cells mirrored)."""
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


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


def _link_segments(group, window):
    """``(t_pre, pre, t_post, post)`` of each link of ``group``: the pair of spikes of ``pre`` and
    ``post`` whose arrival (``t_pre + delay``) falls in the ``window`` ms up to the spike of
    ``post`` (the search's link rule), the latest arrival if several do."""
    t = np.asarray(group.times)
    nrn = np.asarray(group.neurons)
    out = []
    for pre, post, delay, _ in np.asarray(group.links).reshape(-1, 4).tolist():
        best = None
        for tp in t[nrn == pre].tolist():
            for tq in t[nrn == post].tolist():
                lag = tq - (tp + delay)
                if 0 <= lag < window and (best is None or lag < best[0]):
                    best = (lag, tp, tq)
        if best is not None:
            out.append((best[1], pre, best[2], post))
    return out


def polychronous_group(group, *, n_exc=800, window=20, ax=None, title=None):
    """One polychronous group drawn as in Izhikevich (2006), Fig. 7: its spikes over time and the
    links between them.

    Args:
        group: a :class:`izhijax.groups.Group` (from :func:`izhijax.groups.polychronous_groups`).
        n_exc: neurons below this index are excitatory (black), the others inhibitory (red).
        window: the search's link window, ms (its ``max_delay``: a link joins a spike of ``pre``
            to the spike of ``post`` it reached at most this long before).
        ax: optional matplotlib axes.
        title: optional title (default: target, spikes, layers, duration).

    Returns:
        The matplotlib axes. Anchors are open circles, each link a grey line from the spike of
        its presynaptic neuron to the spike it contributed to.
    """
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    t = np.asarray(group.times)
    nrn = np.asarray(group.neurons)
    for tp, pre, tq, post in _link_segments(group, window):
        ax.plot([tp, tq], [pre, post], color="0.6", lw=0.6, zorder=1)
    W = len(group.anchors)
    exc = nrn < n_exc
    ax.scatter(t[W:][exc[W:]], nrn[W:][exc[W:]], s=12, color="k", zorder=2, label="excitatory")
    if (~exc[W:]).any():
        ax.scatter(t[W:][~exc[W:]], nrn[W:][~exc[W:]], s=12, color="C3", zorder=2,
                   label="inhibitory")
    ax.scatter(t[:W], nrn[:W], s=60, facecolors="none", edgecolors="k", zorder=3, label="anchors")
    ax.set_xlabel("time, ms")
    ax.set_ylabel("neuron")
    ax.set_title(title if title is not None else
                 f"group of target {group.target}: {group.size} spikes, {group.n_layers} layers, "
                 f"{group.duration} ms", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="best")
    ax.spines["right"].set_visible(False)
    ax.spines["top"].set_visible(False)
    return ax


def polychronization(stats, weights, rec=None, *, c_max=10.0, n_exc=800, groups=None, group=None,
                     fig=None):
    """The polychronization network's run at a glance (Izhikevich 2006, Figs. 2 and 3).

    Panels: a raster of one second (if ``rec`` has spikes: the gamma rhythm), the per-second
    excitatory and inhibitory rates, the percent of strong excitatory weights, the histogram of
    the excitatory -> excitatory weights (bimodal after learning), and in the last panel the
    polychronous group count over time if ``groups`` (``(seconds, counts)``) is given, else one
    group drawn (:func:`polychronous_group`) if ``group`` is.

    Args:
        stats: the per-second records of :func:`izhijax.polychronization.run`.
        weights: ``(weights, targets)`` of the excitatory synapses (NumPy, same shape), e.g.
            ``learned_weights`` and the wiring's ``post``.
        rec: optional :class:`izhijax.Recording` of one second with its raster.
        c_max: the weight cap (mV/ms).
        n_exc: excitatory neurons (targets below it are excitatory).
        groups: optional ``(seconds, counts)``.
        group: optional :class:`izhijax.groups.Group` to draw (not with ``groups``).
        fig: optional matplotlib figure.

    Returns:
        The matplotlib figure.
    """
    if groups is not None and group is not None:
        raise ValueError("give groups (counts over time) or group (one group drawn) for the "
                         "last panel, not both")
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(11, 7), constrained_layout=True)
    grid = fig.add_gridspec(2, 3)
    ax_r = fig.add_subplot(grid[0, :2])
    if rec is not None and rec.spikes is not None:
        step, idx = np.nonzero(np.asarray(rec.spikes))
        times = rec.times
        ax_r.scatter(times[step] - times[0], idx, marker=".", s=1.5, color="k", linewidths=0)
        ax_r.axhline(n_exc, color="0.5", lw=0.8)
        ax_r.set_xlim(0, rec.duration)
        ax_r.set_ylim(0, np.asarray(rec.spikes).shape[1])
        ax_r.set_title("one second of spikes (excitatory below the line)")
    ax_r.set_xlabel("time in the second, ms")
    ax_r.set_ylabel("neuron")
    sec = np.asarray(stats.second)
    ax_h = fig.add_subplot(grid[0, 2])
    w, post = (np.asarray(x) for x in weights)
    ee = w[post < n_exc]
    ax_h.hist(ee, bins=np.linspace(0, c_max, 41), color="k")
    ax_h.set_yscale("log")
    ax_h.set_xlabel("exc -> exc weight, mV/ms")
    ax_h.set_title(f"weights after {int(sec[-1]) + 1 if sec.size else 0} s")
    ax_f = fig.add_subplot(grid[1, 0])
    ax_f.plot(sec, stats.exc_rate, label="excitatory", color="C0", lw=0.8)
    ax_f.plot(sec, stats.inh_rate, label="inhibitory", color="C3", lw=0.8)
    ax_f.set_xlabel("time, s")
    ax_f.set_ylabel("rate, Hz")
    ax_f.legend(frameon=False)
    ax_s = fig.add_subplot(grid[1, 1])
    ax_s.plot(sec, stats.strong_percent, color="k", lw=0.8)
    ax_s.set_xlabel("time, s")
    ax_s.set_ylabel(f"% exc weights > {0.9 * c_max:g} onto exc")
    ax_g = fig.add_subplot(grid[1, 2])
    if groups is not None:
        ax_g.plot(*groups, "o-", color="k")
        ax_g.set_xlabel("time, s")
        ax_g.set_ylabel("polychronous groups")
    elif group is not None:
        polychronous_group(group, n_exc=n_exc, ax=ax_g)
    else:
        ax_g.axis("off")
    for ax in fig.axes:
        ax.spines["right"].set_visible(False)
        ax.spines["top"].set_visible(False)
    return fig
