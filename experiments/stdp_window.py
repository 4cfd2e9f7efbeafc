"""The STDP windows of izhijax's rules, measured pair by pair in simulated networks, against the
analytic window (``izj.plasticity.window``): writes docs/stdp_window.png.

    .venv/bin/python experiments/stdp_window.py [--out docs/stdp_window.png]

Each pair is a presynaptic neuron forced to fire at step ``t_s`` and a postsynaptic one forced at
``t_p = t_s + d + lag`` (200 mV/ms in one step makes a neuron at rest fire in that step), joined by
one synapse of delay ``d`` (1 and 7 ms); the change of the rule's target (``w`` for ``STDP``, the
eligibility ``sd`` for ``Izhikevich2006``) after the run is the measured window. The same check runs
in the tests (tests/test_plasticity.py, rtol 1e-12).
"""

import argparse
import sys

import jax

jax.config.update("jax_enable_x64", True)
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import izhijax as izj  # noqa: E402

RS = dict(a=0.02, b=0.2, c=-65.0, d=2.0)


def measure(rule, lags, delay, start=0.5):
    n = lags.size
    ts = 50 + (3 * np.arange(n)) % 60
    tp = ts + delay + lags
    pre = izj.population("pre", izj.Izhikevich2003(), n, params=RS)
    post = izj.population("post", izj.Izhikevich2003(), n, params=RS)
    fmt = izj.connectivity.delayed(np.arange(n), np.arange(n), np.full(n, delay), start,
                                   n_pre=n, n_post=n)
    net = izj.network([pre, post], [izj.projection("pre", "post", fmt, plasticity=rule)],
                      izj.Config(integrator="izhikevich", noise="none"))
    ev = izj.inputs.events(np.r_[ts, tp], np.r_[np.arange(n), n + np.arange(n)], 200.0, 2 * n)
    final, rec = izj.simulate(net, jax.random.key(0), int(tp.max()) + 5, inputs=ev, record_v=())
    assert int(np.asarray(rec.counts).sum()) == 2 * n, "only the forced spikes"
    target = "w" if isinstance(rule, izj.plasticity.STDP) else "sd"
    got = np.asarray(final.synapses[0][target])[np.arange(n), delay - 1, 0]
    return got - (start if target == "w" else 0.0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="docs/stdp_window.png")
    args = p.parse_args()
    lags = np.arange(-40, 41)
    rules = {"STDP (Brian2's example, tau 20 ms)": izj.plasticity.STDP(a_plus=0.1, a_minus=0.105),
             "Izhikevich2006 (poly_spnet.cpp, on sd)": izj.plasticity.Izhikevich2006()}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True, constrained_layout=True)
    for ax, (name, rule) in zip(axes, rules.items()):
        fine = np.arange(-40, 41)
        ax.plot(fine, izj.plasticity.window(rule, fine), "-", color="0.6", label="analytic")
        worst = 0.0
        for delay, marker in ((1, "o"), (7, "x")):
            got = measure(rule, lags, delay)
            want = izj.plasticity.window(rule, lags)
            worst = max(worst, float(np.max(np.abs(got - want) / np.abs(want))))
            ax.plot(lags, got, marker, ms=3.5, label=f"simulated, delay {delay} ms")
        ax.axhline(0, color="0.85", lw=0.8)
        ax.set_title(f"{name}\nmax relative error {worst:.1e}", fontsize=10)
        ax.set_xlabel("t_post - t_arrival (ms)")
        print(f"{name}: max relative error {worst:.2e}")
    axes[0].set_ylabel("change of the target per pair")
    axes[0].legend(frameon=False, fontsize=8)
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
