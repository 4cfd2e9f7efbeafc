"""Figure: polychronous groups of the original program's own 5 h weights, drawn as in Izhikevich
(2006), Fig. 7, with the distributions of their sizes and lengths.

The weights are the compact record of the original's 5 h run (``out/weights_5h_seed0.npz``, the same
4305 groups as the original's search: ``search_speed.py``). Panels: the longest group (most layers),
a group of median size, and histograms of the groups' lengths (layers) and sizes (spikes), against
the same weights shuffled among the exc -> exc synapses (the control)::

    .venv/bin/python experiments/polychronization/draw_groups.py \\
        --out experiments/polychronization/out/groups_5h.png
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
from groups_vs_original import load_compact  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(HERE / "out" / "weights_5h_seed0.npz"))
    ap.add_argument("--out", default=str(HERE / "out" / "groups_5h.png"))
    ap.add_argument("--jobs", type=int, default=2, help="threads of the search")
    args = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import izhijax.plot as iplot
    from izhijax.groups import polychronous_groups, shuffle_weights

    post, delay, w, a, d, ne, _ = load_compact(args.weights)
    tables = dict(post=post, delay=delay, weights=w, a=a, d=d, n_exc=ne, max_delay=20)
    t0 = time.perf_counter()
    res = polychronous_groups(**tables, n_jobs=args.jobs)
    ctl = polychronous_groups(**dict(tables, weights=shuffle_weights(post, w, ne, 0)),
                              n_jobs=args.jobs)
    print(f"{res.count} groups, shuffled control {ctl.count} ({time.perf_counter() - t0:.1f} s, "
          f"{res.settings['backend']})")
    groups = sorted(res.groups, key=lambda g: (g.n_layers, g.size))
    longest = groups[-1]
    by_size = sorted(res.groups, key=lambda g: g.size)
    median = by_size[len(by_size) // 2]

    fig, ax = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    iplot.polychronous_group(longest, n_exc=ne, ax=ax[0, 0],
                             title=f"the longest: {longest.size} spikes, {longest.n_layers} "
                                   f"layers, {longest.duration} ms")
    iplot.polychronous_group(median, n_exc=ne, ax=ax[0, 1],
                             title=f"median size: {median.size} spikes, {median.n_layers} "
                                   f"layers, {median.duration} ms")
    for k, (what, label, bins) in enumerate([
            (lambda g: g.n_layers, "length (layers)", np.arange(7, 46) - 0.5),
            (lambda g: g.size, "size (spikes)", np.unique(np.geomspace(10, 1001, 30).astype(int)))]):
        x = ax[1, k]
        x.hist([what(g) for g in res.groups], bins=bins, color="k", label=f"learned ({res.count})")
        if ctl.count:
            x.hist([what(g) for g in ctl.groups], bins=bins, histtype="step", color="C3",
                   label=f"shuffled ({ctl.count})")
        x.set_yscale("log")
        if k == 1:
            x.set_xscale("log")
        x.set_xlabel(f"group {label}")
        x.set_ylabel("groups")
        x.legend(frameon=False)
        x.spines["right"].set_visible(False)
        x.spines["top"].set_visible(False)
    fig.suptitle("Polychronous groups of the original program's 5 h weights (izhijax's search)")
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
