"""Reward-modulated STDP: Izhikevich (2007), "Solving the distal reward problem through linkage of
STDP and dopamine signaling", Cerebral Cortex 17, Fig. 1 (the program ``daspnet.m``).

The network: 800 excitatory RS + 200 inhibitory FS neurons (``a, b, c, d`` of the 2006
network), 100 distinct targets per neuron (excitatory -> any other neuron, inhibitory ->
excitatory only), every delay 1 ms, weights +1 / -1, excitatory weights plastic in ``[0, 4]``,
input ``13 (rand - 0.5)`` to every neuron each ms (``Config(noise="uniform")``,
``noise_amp = 13``, ``bias = -6.5``), ``v`` stepped as in spnet (two half steps).

Plasticity (:class:`izhijax.plasticity.Dopamine2007`): STDP (LTP 0.1, LTD 0.15, traces x 0.95 /
ms) sets an eligibility ``sd``; every 10 ms ``w += (0.002 + DA) sd``, ``sd *= 0.99``; dopamine
decays x 0.995 / ms. One synapse is rewarded: ``n1`` = excitatory neuron 0, ``n2`` = its first
excitatory target; its weight starts at 0 (as in daspnet.m), and each time ``n1`` fires and
``n2`` follows within 20 ms, ``DA += 0.5`` is delivered 1-3 s later
(:class:`izhijax.plasticity.RewardPairing`).

The paper's result: the rewarded synapse grows to the cap (4) within about an hour of simulated
time while the other weights stay near their initial distribution. Acceptance here: in at least
8 of 10 seeds the rewarded synapse reaches the cap within 3600 s while the mean of the other
excitatory -> excitatory weights stays below a quarter of the cap.

Each seed runs in chunks (``--chunk`` seconds per ``izj.simulate`` call; the compiled program is
reused across chunks and seeds) and stops once its synapse is at the cap. Results are written
to ``--out-json`` after every chunk; a rerun with the same file skips the seeds it finished.

    python experiments/rstdp_2007.py --seeds 10 --max-seconds 3600
    python experiments/rstdp_2007.py --figure-only        # redraw from the JSON
"""

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

N_EXC, N_INH, M = 800, 200, 100
W_MAX = 4.0
HIST_BINS = np.linspace(0.0, W_MAX, 41)


def build(seed, w_max=W_MAX):
    """The daspnet network for one seed; returns ``(net, k, info)`` with ``k`` the index of the
    plastic projection and ``info`` the rewarded synapse's position."""
    import jax
    import izhijax as izj

    key = jax.random.key(seed)
    k_wire, _ = jax.random.split(key)
    post, delay = izj.polychronization.wiring(k_wire, N_EXC, N_INH, M, max_delay=1)
    assert np.all(delay == 1)
    n = N_EXC + N_INH
    weights = np.where(np.arange(n)[:, None] < N_EXC, 1.0, -1.0) * np.ones((1, M))
    n1 = 0
    j2 = int(np.flatnonzero(post[n1] < N_EXC)[0])         # its first excitatory target
    n2 = int(post[n1, j2])
    weights[n1, j2] = 0.0                                  # daspnet.m: s(n1, syn) = 0
    pre = np.repeat(np.arange(n), M).reshape(n, M)
    exc_w = izj.connectivity.delayed(pre[:N_EXC].ravel(), post[:N_EXC].ravel(),
                                     delay[:N_EXC].ravel(), weights[:N_EXC].ravel(),
                                     n_pre=N_EXC, n_post=n)
    inh_w = izj.connectivity.delayed(pre[N_EXC:].ravel() - N_EXC, post[N_EXC:].ravel(),
                                     delay[N_EXC:].ravel(), weights[N_EXC:].ravel(),
                                     n_pre=N_INH, n_post=N_EXC)
    rule = izj.plasticity.Dopamine2007(
        w_max=w_max, reward=izj.plasticity.RewardPairing(n1=n1, n2=n2))
    model = izj.Izhikevich2003(horner=True)
    v0 = -65.0                                             # daspnet.m: v = -65, u = 0.2 v
    common = dict(v0=v0, noise_amp=13.0, bias=-6.5)       # 13 U(0, 1) - 6.5 = 13 (rand - 0.5)
    exc = izj.population("exc", model, N_EXC, params=dict(a=0.02, b=0.2, c=-65.0, d=8.0),
                         initial={"u": np.full(N_EXC, 0.2 * v0)}, **common)
    inh = izj.population("inh", model, N_INH, params=dict(a=0.1, b=0.2, c=-65.0, d=2.0),
                         initial={"u": np.full(N_INH, 0.2 * v0)}, **common)
    cfg = izj.Config(integrator="izhikevich", noise="uniform", n_exc=N_EXC)
    net = izj.network([exc, inh], [
        izj.projection("inh", "exc", inh_w, name="inh"),
        izj.projection("exc", ("exc", "inh"), exc_w, name="exc", plasticity=rule)], cfg)
    proj = net.projection("exc")
    k = net.projections.index(proj)
    fmt = proj.weights
    slots = np.flatnonzero(np.asarray(fmt.post[n1, 0, :]) == n2)
    assert slots.size == 1, slots
    pos = (n1, 0, int(slots[0]))
    assert float(np.asarray(fmt.w)[pos]) == 0.0
    ee = np.asarray(fmt.post) < N_EXC                     # exc -> exc synapses (padding: n)
    others = ee.copy()
    others[pos] = False
    return net, k, dict(n1=n1, n2=n2, j2=j2, pos=pos, others=others, ee=ee,
                        run_key=jax.random.split(key)[1])


def run_seed(seed, args, record, save):
    """Run one seed chunk by chunk, filling ``record`` and calling ``save()`` after each."""
    import jax
    import izhijax as izj

    net, k, info = build(seed, args.w_max)
    pos, others, ee = info["pos"], info["others"], info["ee"]
    state = izj.init_state(net)
    steps = int(round(args.chunk * 1000))
    record.update(seed=seed, n1=info["n1"], n2=info["n2"], status="running",
                  t=[], w_rewarded=[], others_mean=[], others_max=[], others_frac_above_half=[],
                  rewards=[], dropped=[], da=[], exc_hz=[], inh_hz=[], wall_s=[],
                  t_cap=None, others_mean_at_cap=None)
    t_sim = 0.0
    while t_sim < args.max_seconds - 1e-9:
        t0 = time.perf_counter()
        state, rec = izj.simulate(net, info["run_key"], steps, state=state, record_v=(),
                                  record_spikes=False)
        syn = state.synapses[k]
        w = np.asarray(syn["w"])
        wall = time.perf_counter() - t0
        t_sim += args.chunk
        counts = np.asarray(rec.counts)
        w_rew = float(w[pos])
        oth = w[others]
        record["t"].append(round(t_sim, 6))
        record["w_rewarded"].append(w_rew)
        record["others_mean"].append(float(oth.mean()))
        record["others_max"].append(float(oth.max()))
        record["others_frac_above_half"].append(float(np.mean(oth > 0.5 * args.w_max)))
        record["rewards"].append(int(syn["reward"]["rewards"]))   # pairings queued so far
        record["dropped"].append(int(syn["reward"]["dropped"]))
        record["da"].append(float(syn["da"]))
        record["exc_hz"].append(float(counts[:N_EXC].mean() / args.chunk))
        record["inh_hz"].append(float(counts[N_EXC:].mean() / args.chunk))
        record["wall_s"].append(round(wall, 3))
        if int(rec.diverged_at) >= 0:
            record["status"] = "diverged"
            save()
            raise FloatingPointError(f"seed {seed} diverged at step {int(rec.diverged_at)}")
        print(f"seed {seed:2d}  t={t_sim:7.0f} s  w_rew={w_rew:.3f}  others mean={oth.mean():.4f} "
              f"max={oth.max():.3f}  rewards={record['rewards'][-1]:4d}  "
              f"exc {record['exc_hz'][-1]:.2f} Hz  inh {record['inh_hz'][-1]:.2f} Hz  "
              f"({wall:.1f} s wall, {wall / args.chunk:.3f} s/s)", flush=True)
        if w_rew >= args.w_max - 1e-4:
            record["t_cap"] = t_sim
            record["others_mean_at_cap"] = float(oth.mean())
            break
        save()
    record["status"] = "capped" if record["t_cap"] is not None else "not capped"
    record["final_hist_ee"] = np.histogram(w[others], HIST_BINS)[0].tolist()
    record["final_hist_exc_inh"] = np.histogram(w[~ee & (np.asarray(
        net.projections[k].weights.post) < N_EXC + N_INH)], HIST_BINS)[0].tolist()
    record["passed"] = bool(record["t_cap"] is not None and record["t_cap"] <= 3600.0
                            and record["others_mean_at_cap"] < args.w_max / 4)
    save()
    return record


def summary(data, w_max=W_MAX):
    seeds = [r for r in data["seeds"] if r.get("status") in ("capped", "not capped")]
    passed = sum(bool(r.get("passed")) for r in seeds)
    return {"seeds_done": len(seeds), "passed": passed,
            "criterion": "rewarded synapse at the cap within 3600 s and others' mean < cap/4",
            "criterion_8_of_10": passed >= 8 if len(seeds) >= 10 else None,
            "sec_wall_per_sim_s": _speed(data)}


def _speed(data):
    walls, sims = [], []
    for r in data["seeds"]:
        w = r.get("wall_s", [])[1:]                        # the first chunk compiles
        walls += w
        sims += [data["config"]["chunk"]] * len(w)
    return round(sum(walls) / sum(sims), 4) if sims else None


def figure(data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w_max = data["config"]["w_max"]
    seeds = [r for r in data["seeds"] if r.get("t")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    cmap = plt.get_cmap("tab10")
    ax = axes[0, 0]
    for i, r in enumerate(seeds):
        ax.plot(np.r_[0, r["t"]], np.r_[0, r["w_rewarded"]], color=cmap(i % 10), lw=1.2,
                label=f"seed {r['seed']}")
    ax.axhline(w_max, color="k", ls=":", lw=0.8)
    ax.set(xlabel="time (s)", ylabel="weight (mV/ms)", title="rewarded synapse n1 -> n2",
           ylim=(-0.1, w_max * 1.05))
    ax.legend(fontsize=7, ncol=2)
    ax = axes[0, 1]
    for i, r in enumerate(seeds):
        ax.plot(np.r_[0, r["t"]], np.r_[1.0, r["others_mean"]], color=cmap(i % 10), lw=1.2)
    ax.axhline(w_max / 4, color="r", ls="--", lw=0.8, label="cap / 4 (criterion)")
    ax.set(xlabel="time (s)", ylabel="mean weight (mV/ms)",
           title="mean of the other exc -> exc weights", ylim=(0, w_max * 0.3))
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    for i, r in enumerate(seeds):
        ax.plot(np.r_[0, r["t"]], np.r_[0, r["rewards"]], color=cmap(i % 10), lw=1.2)
    ax.set(xlabel="time (s)", ylabel="rewards scheduled (cumulative)",
           title="rewards (n2 within 20 ms after n1; paid 1-3 s later)")
    ax = axes[1, 1]
    hist = np.sum([r["final_hist_ee"] for r in seeds if "final_hist_ee" in r], axis=0)
    if np.ndim(hist):
        centers = 0.5 * (HIST_BINS[1:] + HIST_BINS[:-1])
        ax.bar(centers, hist, width=HIST_BINS[1] - HIST_BINS[0], color="0.5",
               label="other exc -> exc (all seeds)")
        ax.set_yscale("log")
        for i, r in enumerate(seeds):
            if "final_hist_ee" in r:
                ax.axvline(r["w_rewarded"][-1], color=cmap(i % 10), lw=1.0)
        ax.set(xlabel="final weight (mV/ms)", ylabel="synapses",
               title="final weights (lines: rewarded synapses)")
        ax.legend(fontsize=8)
    s = summary(data, w_max)
    fig.suptitle(f"Izhikevich (2007) reward-modulated STDP (izhijax): {s['passed']} of "
                 f"{s['seeds_done']} seeds capped within 3600 s with others' mean < cap/4",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[10],
                   help="a count N (seeds 0..N-1) or an explicit list of seeds")
    p.add_argument("--max-seconds", type=float, default=3600.0)
    p.add_argument("--chunk", type=float, default=10.0, help="simulated seconds per call")
    p.add_argument("--w-max", type=float, default=W_MAX)
    p.add_argument("--out-json", default="experiments/out/rstdp_2007.json")
    p.add_argument("--figure", default="experiments/out/rstdp_2007.png")
    p.add_argument("--results-dir", default="experiments/rstdp_2007_results",
                   help="where a compact copy of the JSON and the figure is kept ('' to skip)")
    p.add_argument("--figure-only", action="store_true")
    p.add_argument("--fresh", action="store_true", help="ignore finished seeds in --out-json")
    args = p.parse_args(argv)
    seeds = list(range(args.seeds[0])) if len(args.seeds) == 1 else args.seeds

    os.makedirs(os.path.dirname(args.out_json) or ".", exist_ok=True)
    data = None
    if os.path.exists(args.out_json) and not args.fresh:
        with open(args.out_json) as f:
            data = json.load(f)
    if args.figure_only:
        figure(data, args.figure)
        _copy(args)
        return
    config = {"chunk": args.chunk, "max_seconds": args.max_seconds, "w_max": args.w_max,
              "n_exc": N_EXC, "n_inh": N_INH, "M": M, "delay_ms": 1, "w_init": [1.0, -1.0],
              "input": "13 U(0,1) - 6.5 per neuron per ms", "integrator": "izhikevich",
              "rule": "Dopamine2007 defaults + RewardPairing(n1=0, n2=first exc target)"}
    if data is None or data.get("config") != config:
        data = {"config": config, "seeds": []}
    done = {r["seed"] for r in data["seeds"] if r.get("status") in ("capped", "not capped")}
    data["seeds"] = [r for r in data["seeds"] if r["seed"] in done]

    def save():
        data["summary"] = summary(data, args.w_max)
        tmp = args.out_json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, args.out_json)

    import jax
    print(f"jax {jax.__version__} {jax.devices()}  x64={jax.config.jax_enable_x64}", flush=True)
    for seed in seeds:
        if seed in done:
            print(f"seed {seed}: done already, skipped", flush=True)
            continue
        record = {}
        data["seeds"].append(record)
        run_seed(seed, args, record, save)
        r = record
        print(f"== seed {seed}: {r['status']}"
              + (f" at {r['t_cap']:.0f} s, others' mean {r['others_mean_at_cap']:.4f}"
                 if r["t_cap"] is not None else
                 f" after {r['t'][-1]:.0f} s (w = {r['w_rewarded'][-1]:.3f})")
              + f", {r['rewards'][-1]} rewards", flush=True)
        figure(data, args.figure)
        _copy(args)
    save()
    figure(data, args.figure)
    _copy(args)
    print(json.dumps(data["summary"]), flush=True)


def _copy(args):
    if not args.results_dir:
        return
    os.makedirs(args.results_dir, exist_ok=True)
    shutil.copyfile(args.figure, os.path.join(args.results_dir, os.path.basename(args.figure)))
    with open(args.out_json) as f:
        data = json.load(f)
    with open(os.path.join(args.results_dir, os.path.basename(args.out_json)), "w") as f:
        json.dump(_rounded(data), f, separators=(",", ":"))


def _rounded(x, digits=5):
    """A copy with floats to ``digits`` significant digits (the compact copy for the repo)."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: _rounded(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v, digits) for v in x]
    return x


if __name__ == "__main__":
    sys.exit(main())
