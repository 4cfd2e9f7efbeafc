"""Izhikevich (2004) Fig. 1: the 20 firing patterns, run by izhijax in one compiled call, classified.

Runs the 20 panels (izhijax.patterns.PROTOCOLS, figure1.m's parameters, steps and inputs) as one
batch, checks each trace with its feature's criterion (izhijax.features), runs the contrasts below
(a panel's protocol with another neuron, which must NOT show the panel's feature), and writes::

    <out-dir>/firing_patterns.png    the 20-panel figure (voltage above the input sketch)
    <out-dir>/firing_patterns.json   per panel: spikes, spike times, features found; the contrasts;
                                     compile and run seconds (wall clock, this machine)

Run from the repository root::

    python experiments/firing_patterns.py [--out-dir experiments/out/firing_patterns] [--x64] [--smoke]

``--smoke`` skips the repeated timing runs (the tests use it).
"""

import argparse
import json
import os
import sys
import time

import jax

CONTRASTS = (
    # (panel, neuron used instead, what the panel's feature turns into)
    ("A", "CH", "chattering bursts instead of single tonic spikes"),
    ("B", "RZ", "tonic spiking instead of a single onset spike"),
    ("C", "RS", "tonic single spikes instead of bursts (the issue's example)"),
    ("D", "TC", "a single onset spike instead of an onset burst"),
    ("E", "CH", "tonic bursting instead of burst-then-tonic"),
    ("F", "IB", "tonic bursting instead of adapting single spikes"),
    ("H", "TC", "Class 1: spiking starts at a low frequency"),
    ("I", "LTS", "the spike comes during the pulse, no latency"),
    ("K", "RS", "no response to either doublet"),
    ("M", "N", "a rebound burst instead of a single rebound spike"),
    ("N", "M", "a single rebound spike instead of a burst"),
    ("O", "RZ", "the lone excitatory pulse already fires"),
    ("P", "RZ", "the second pulse does not stop the spiking"),
    ("Q", "RS", "after-hyperpolarization instead of after-depolarization"),
    ("R", "RS", "fires to the slow ramp"),
    ("S", "T", "bursts instead of single spikes while inhibited"),
    ("T", "S", "single spikes instead of bursts while inhibited"),
)
"""A panel's protocol run with another neuron: a 2003 preset (RS, IB, CH, FS, LTS, TC, RZ) or
another panel's ``(a, b, c, d)`` (the panel's own equation, step and initial ``v`` are kept)."""


def neuron_of(name):
    """``(a, b, c, d)`` of a 2003 preset or of a Fig. 1 panel (by letter)."""
    import izhijax as izj
    from izhijax import patterns
    presets = izj.Izhikevich2003.presets
    if name.upper() in presets:
        return tuple(presets[name.upper()][k] for k in "abcd")
    p = patterns.protocol(name)
    return p.a, p.b, p.c, p.d


def contrast_protocols():
    """The :data:`CONTRASTS` as protocols, in order."""
    from izhijax import patterns
    return [patterns.protocol(panel).with_neuron(*neuron_of(other)) for panel, other, _ in CONTRASTS]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=os.path.join("experiments", "out", "firing_patterns"))
    ap.add_argument("--x64", action="store_true", help="float64 (default float32)")
    ap.add_argument("--smoke", action="store_true", help="no repeated timing runs")
    args = ap.parse_args(argv)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import matplotlib
    matplotlib.use("Agg")
    from izhijax import features, patterns, plot

    os.makedirs(args.out_dir, exist_ok=True)
    batch = patterns.batch(patterns.PROTOCOLS)
    start = time.perf_counter()
    compiled = jax.jit(patterns.integrate_batch).lower(batch).compile()
    compile_s = time.perf_counter() - start
    repeats = 1 if args.smoke else 20
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(compiled(batch))
    run_s = (time.perf_counter() - start) / repeats

    traces = patterns.run()
    panels = []
    for tr in traces:
        found = features.classify(tr)
        panels.append(dict(label=tr.protocol.label, feature=tr.protocol.name,
                           spikes=int(tr.spikes.sum()), spike_times_ms=tr.spike_times.tolist(),
                           shows_feature=tr.protocol.name in found, features_found=found))
        print(f"({tr.protocol.label}) {tr.protocol.name:30s} spikes {int(tr.spikes.sum()):3d}  "
              f"{'ok ' if tr.protocol.name in found else 'NOT'}  found: {', '.join(found)}")
    contrasts = []
    for (panel, other, why), tr in zip(CONTRASTS, patterns.run(contrast_protocols())):
        shows = features.shows(tr.protocol.name, tr)
        contrasts.append(dict(panel=panel, neuron=other, expected=why, shows_feature=shows,
                              features_found=features.classify(tr),
                              spike_times_ms=tr.spike_times.tolist()))
        print(f"({panel}) with {other:3s}: shows {tr.protocol.name!r}: {shows}  ({why})")

    fig = plot.patterns(traces, title="Izhikevich (2004) Fig. 1, izhijax (one compiled batch)")
    png = os.path.join(args.out_dir, "firing_patterns.png")
    fig.savefig(png, dpi=110)
    result = dict(panels=panels, contrasts=contrasts,
                  all_classified=all(p["shows_feature"] for p in panels),
                  contrasts_told_apart=sum(not c["shows_feature"] for c in contrasts),
                  compile_s=compile_s, run_s=run_s, dtype=str(batch.a.dtype),
                  steps=int(batch.inputs.shape[0]), backend=jax.default_backend())
    with open(os.path.join(args.out_dir, "firing_patterns.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"all 20 classified: {result['all_classified']}; contrasts told apart: "
          f"{result['contrasts_told_apart']}/{len(contrasts)}; compile {compile_s:.3f} s, "
          f"run {run_s * 1e3:.2f} ms ({result['steps']} steps x 20 neurons); figure {png}")
    return 0 if result["all_classified"] else 1


if __name__ == "__main__":
    sys.exit(main())
