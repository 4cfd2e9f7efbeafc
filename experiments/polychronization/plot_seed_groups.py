"""Figure: polychronous groups of izhijax's own networks over simulated time, against shuffled weights.

Reads the tables ``seeds.py`` wrote (``groups.json`` of several runs, merged by seed and second; a
later file wins for the same seed and second) and draws, per seed, the group count of the learned
weights and of the same weights shuffled among the exc -> exc synapses, on a log scale against
simulated time. The original program's count on its own 5 h weights (4305, seed 0 of the anchor's
run, ``groups_vs_original_18000s.json``) is marked for reference::

    .venv/bin/python experiments/polychronization/plot_seed_groups.py \\
        experiments/polychronization/out/own_wiring_4seeds_1h.json \\
        experiments/polychronization/out/own_wiring_4seeds_5h.json \\
        --out experiments/polychronization/out/own_wiring_groups.png
"""
import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def merged(paths):
    """``{seed: {second: entry}}`` from several ``groups.json`` files."""
    out = {}
    for path in paths:
        for seed, entries in json.loads(Path(path).read_text())["seeds"].items():
            for e in entries:
                out.setdefault(int(seed), {})[int(e["second"])] = e
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tables", nargs="+", help="groups.json files of seeds.py")
    ap.add_argument("--out", default=str(HERE / "out" / "own_wiring_groups.png"))
    args = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = merged(args.tables)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (seed, by_second) in enumerate(sorted(data.items())):
        sec = sorted(by_second)
        hours = [s / 3600 for s in sec]
        c = colors[i % len(colors)]
        ax.plot(hours, [by_second[s]["groups"] for s in sec], "o-", color=c,
                label=f"seed {seed}")
        ax.plot(hours, [by_second[s]["shuffled"] for s in sec], "x--", color=c, alpha=0.6)
    original = HERE / "out" / "groups_vs_original_18000s.json"
    if original.exists():
        count = json.loads(original.read_text())["original"]["count"]
        ax.plot([5], [count], "k*", markersize=12, label=f"original program, 5 h ({count})")
    ax.plot([], [], "kx--", alpha=0.6, label="shuffled exc->exc weights")
    ax.set_yscale("log")
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("polychronous groups")
    ax.set_title("Izhikevich (2006) network, izhijax's own wiring (float32)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
