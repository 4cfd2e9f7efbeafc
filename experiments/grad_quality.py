"""Surrogate gradients against central finite differences of the same noise-averaged objective.

For the Fig. 3 network (``izj.izhikevich2003``, 1000 neurons, 1000 steps, float32) and each gradient
setting (surrogate, its gain, ``threshold_grad``, ``synapse_grad``), the gradient of

* the excitatory and the inhibitory population rate (Hz),
* the rates of four single neurons of the network (two excitatory, two inhibitory),
* the first spike time (ms) of one regular-spiking neuron under a constant current with weak noise

with respect to population-level knobs: ``w_exc`` / ``w_inh`` (scale of every synapse from the
population), ``noise_<pop>`` (scale of its noise amplitude), ``bias_<pop>`` (added to its bias, pA),
``a_<pop>``, ``b_<pop>``, ``d_<pop>`` (scales) and ``c_<pop>`` (added, mV); the single neuron has
``bias``, ``noise``, ``a``, ``b``, ``c``, ``d``.

The gradient is taken per key (``K`` keys); the finite difference is central, of the ``K``-key average
of the objective with the same keys (common random numbers), at three step sizes; the step used is the
smallest whose slope agrees within 25 % with the next larger one (else the middle one), and its
standard error over keys (``std(per-key difference) / sqrt(K)``) is reported. A rate is piecewise
constant in a parameter for one key, so the step must move some spikes: the steps are listed in
``STEPS``. Reported per (setting, objective, parameter):

* ``sign_key``: fraction of keys whose gradient has the sign of the finite difference;
* ``sign_mean``: whether the key-averaged gradient has that sign;
* ``ratio_mean``: key-averaged gradient / finite difference;
* ``ratio_median``, ``ratio_q25``, ``ratio_q75``: of the per-key ratios gradient / finite difference;
* ``finite``: fraction of keys whose gradient is finite.

Only (objective, parameter) pairs whose finite difference is resolved (``|fd| > 2 se``) count in the
summaries.

    python experiments/grad_quality.py                  # Fig. 3 network, 16 keys
    python experiments/grad_quality.py --smoke          # 40 + 10 neurons, 200 steps, 4 keys
    python experiments/grad_quality.py --keys 32 --n-exc 160 --n-inh 40

Writes ``results.json`` and ``table.md`` to ``--out`` (default experiments/out/grad_quality/).
"""

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import izhijax as izj
from izhijax._src.surrogate import SYNAPSE_GRAD_GAIN

NET_PARAMS = ("bias_exc", "bias_inh", "noise_exc", "noise_inh", "w_exc", "w_inh",
              "a_exc", "a_inh", "b_exc", "b_inh", "c_exc", "c_inh", "d_exc", "d_inh")
NEURON_PARAMS = ("bias", "noise", "a", "b", "c", "d")
STEPS = {"bias": (0.25, 0.5, 1.0), "noise": (0.025, 0.05, 0.1), "w": (0.025, 0.05, 0.1),
         "a": (0.025, 0.05, 0.1), "b": (0.025, 0.05, 0.1), "c": (0.5, 1.0, 2.0),
         "d": (0.025, 0.05, 0.1)}
"""Central-difference half-steps per kind of knob (pA for bias, mV for c, relative for the rest)."""
NEURON_CURRENT = 6.0      # pA: the single neuron's constant current (rheobase ~3.8 pA)
NEURON_NOISE = 1.0        # pA: its noise amplitude
NEURON_STEPS = 200


def _kind(name):
    return name.split("_")[0]


def network_knobs(params):
    """``(theta, build)``: the 14 population-level knobs at their identity values."""
    pop_theta, pop_build = izj.fit.population_parameters(params)
    spans = params.slices()
    dtype = params.dtype
    theta = dict(pop_theta)
    for k in "abcd":
        for p in spans:
            theta[f"{k}_{p}"] = jnp.asarray(0.0 if k == "c" else 1.0, dtype)
    base = {k: params.flat(k) for k in "abcd"}

    def per_neuron(theta, k):
        return jnp.concatenate([jnp.broadcast_to(theta[f"{k}_{p}"], (hi - lo,))
                                for p, (lo, hi) in spans.items()])

    def build(theta):
        net = pop_build({k: v for k, v in theta.items() if k in pop_theta})
        return net.replace(**{k: base[k] + per_neuron(theta, k) if k == "c"
                              else base[k] * per_neuron(theta, k) for k in "abcd"})
    return theta, build


def network_objective(build, n_steps, watch):
    """``f(theta, config, key)`` -> ``[rate_exc, rate_inh, rate of each watched neuron]`` (Hz)."""
    def f(theta, config, key):
        net = build(theta)
        rates = izj.fit.rates_of(net.replace(config=config), key, n_steps)
        spans = net.slices()
        pops = [jnp.mean(rates[lo:hi]) for lo, hi in (spans["exc"], spans["inh"])]
        return jnp.concatenate([jnp.stack(pops), rates[jnp.asarray(watch)]])
    return f


def neuron_knobs(dtype):
    """One regular-spiking neuron (a, b, c, d = 0.02, 0.2, -65, 8) and its six knobs."""
    base = izj.make_params(0.02, 0.2, -65.0, 8.0, jnp.zeros((1, 1), dtype), noise_amp=NEURON_NOISE,
                           bias=NEURON_CURRENT, dtype=dtype)
    theta = {k: jnp.asarray(0.0 if k in ("bias", "c") else 1.0, dtype) for k in NEURON_PARAMS}

    def build(theta):
        return base.replace(bias=base.bias + theta["bias"], noise_amp=base.noise_amp * theta["noise"],
                            a=base.a * theta["a"], b=base.b * theta["b"], c=base.c + theta["c"],
                            d=base.d * theta["d"])
    return theta, build


def first_spike_time(spikes, dt):
    """Time of the first spike (ms; the run's length if none), differentiable through the spikes.

    Forward: ``dt * (t1 + 1)``, the steps up to and including the first spike. Backward: minus the
    surrogate gradient of the spikes of those steps (a spike pulled earlier, in steps, is a
    earlier first spike).
    """
    s = spikes[:, 0]
    fired = jax.lax.stop_gradient(s)
    before = jnp.cumsum(fired) - fired == 0            # steps up to and including the first spike
    steps = jnp.sum(before.astype(s.dtype))
    return dt * (steps - jnp.sum(jnp.where(before, s - fired, 0.0)))


def neuron_objective(build):
    def f(theta, config, key):
        net = build(theta).replace(config=config)
        _, rec = izj.simulate(net, key, NEURON_STEPS, record_v=(), record_spikes=True,
                              differentiable=True, on_divergence="ignore")
        return first_spike_time(rec.spikes, config.dt)[None]
    return f


def finite_differences(f, theta, config, keys, names):
    """Per name: central differences of the key-averaged objective at each step of ``STEPS``."""
    fwd = jax.jit(jax.vmap(f, in_axes=(None, None, 0)), static_argnums=1)
    out = {}
    for name in names:
        rows = []
        for h in STEPS[_kind(name)]:
            up = np.asarray(fwd(dict(theta, **{name: theta[name] + h}), config, keys), np.float64)
            dn = np.asarray(fwd(dict(theta, **{name: theta[name] - h}), config, keys), np.float64)
            per_key = (up - dn) / (2 * h)                                  # (K, n_obj)
            rows.append({"h": h, "fd": per_key.mean(0),
                         "se": per_key.std(0, ddof=1) / np.sqrt(len(keys))})
        out[name] = rows
    return out


def choose_step(rows, j):
    """The smallest step whose slope agrees within 25 % with the next larger one, else the middle."""
    for a, b in zip(rows[:-1], rows[1:]):
        if abs(a["fd"][j] - b["fd"][j]) <= 0.25 * max(abs(b["fd"][j]), 1e-12):
            return a
    return rows[len(rows) // 2]


def gradients(f, theta, config, keys):
    g = jax.jit(jax.vmap(jax.jacrev(f), in_axes=(None, None, 0)), static_argnums=1)
    return {k: np.asarray(v, np.float64) for k, v in g(theta, config, keys).items()}  # (K, n_obj)


def compare(grads, fds, objectives):
    """Rows of the comparison for every (objective, parameter)."""
    rows = []
    for name, steps in fds.items():
        for j, obj in enumerate(objectives):
            chosen = choose_step(steps, j)
            fd, se = float(chosen["fd"][j]), float(chosen["se"][j])
            g = grads[name][:, j]
            ok = np.isfinite(g)
            row = {"objective": obj, "param": name, "h": chosen["h"], "fd": fd, "fd_se": se,
                   "fd_all_steps": [float(r["fd"][j]) for r in steps],
                   "resolved": bool(abs(fd) > 2 * se and fd != 0), "finite": float(ok.mean()),
                   "grad_mean": float(np.mean(g)) if ok.all() else float("nan")}
            if ok.all() and fd != 0:
                ratios = g / fd
                row.update(sign_key=float(np.mean(np.sign(g) == np.sign(fd))),
                           sign_mean=bool(np.sign(g.mean()) == np.sign(fd)),
                           ratio_mean=float(g.mean() / fd), ratio_median=float(np.median(ratios)),
                           ratio_q25=float(np.percentile(ratios, 25)),
                           ratio_q75=float(np.percentile(ratios, 75)))
            rows.append(row)
    return rows


def summarise(rows, objectives=None):
    """Summary over the resolved rows (optionally of some objectives only)."""
    use = [r for r in rows if r["resolved"] and (objectives is None or r["objective"] in objectives)]
    finite = [r for r in use if r["finite"] == 1.0 and "sign_key" in r]
    if not finite:
        return {"pairs": len(use), "finite_pairs": 0}
    sk = np.array([r["sign_key"] for r in finite])
    rm = np.array([r["ratio_mean"] for r in finite])
    return {"pairs": len(use), "finite_pairs": len(finite),
            "sign_key_mean": float(sk.mean()), "sign_key_min": float(sk.min()),
            "sign_key_ge95": float(np.mean(sk >= 0.95)),
            "sign_mean_ok": float(np.mean([r["sign_mean"] for r in finite])),
            "ratio_mean_within2": float(np.mean((rm >= 0.5) & (rm <= 2.0))),
            "ratio_mean_median": float(np.median(rm)),
            "ratio_median_median": float(np.median([r["ratio_median"] for r in finite]))}


def settings(args):
    """The gradient settings measured: per surrogate, the default (``synapse_grad=False``, peak 1)
    and ``synapse_grad=True`` at its default height (1/64), both with ``threshold_grad="crossing"``;
    with ``--voltage`` the same two for fast_sigmoid with ``"voltage"``; and the heights of
    ``--scan`` for fast_sigmoid / crossing, with and without ``synapse_grad``."""
    out = []
    for sur in args.surrogates:
        for tg in args.threshold_grads:
            for sg in args.synapse_grads:
                if tg == "voltage" and sur != "fast_sigmoid":
                    continue
                try:
                    gain = izj.Config(surrogate=sur, threshold_grad=tg,
                                      synapse_grad=sg).surrogate_gain
                except ValueError:      # straight_through: no default height; fast_sigmoid's
                    gain = SYNAPSE_GRAD_GAIN
                memory = izj.Config(threshold_grad=tg, synapse_grad=sg).grad_memory
                out.append(dict(surrogate=sur, surrogate_gain=gain, threshold_grad=tg,
                                synapse_grad=sg, grad_memory=memory))
    for gain in args.scan:
        for sg in (False, True):
            out.append(dict(surrogate="fast_sigmoid", surrogate_gain=gain,
                            threshold_grad="crossing", synapse_grad=sg,
                            grad_memory=izj.Config(synapse_grad=sg).grad_memory))
    for spec in args.forget:
        sur, gain, tau = spec.split(":")
        out.append(dict(surrogate=sur, surrogate_gain=float(gain), threshold_grad="crossing",
                        synapse_grad=True, grad_memory=float(tau)))
    return out


def label(s):
    memory = s.get("grad_memory")
    return (f"{s['surrogate']} gain={s['surrogate_gain']:g} {s['threshold_grad']} "
            f"synapse_grad={s['synapse_grad']}"
            + ("" if memory is None else f" grad_memory={memory:g}"))


def _fmt(r):
    if r["finite"] < 1:
        return f"NaN/inf ({100 * r['finite']:.0f}% finite)"
    if "sign_key" not in r:
        return "FD = 0"
    return (f"{100 * r['sign_key']:.0f}% / {r['ratio_mean']:.2g} / {r['ratio_median']:.2g} "
            f"[{r['ratio_q25']:.2g}, {r['ratio_q75']:.2g}]")


def write_table(results, path):
    lines = ["# Surrogate gradients against central finite differences",
             "",
             f"Network: {results['network']}; {results['keys']} keys; objectives noise-averaged over "
             "the same keys (common random numbers). Resolved pairs: |FD| > 2 standard errors.",
             "",
             "## Summary per setting (resolved (objective, parameter) pairs)",
             "",
             "sign/key: mean over pairs of the fraction of keys whose gradient has the FD's sign "
             "(min over pairs in brackets); >=95%: fraction of pairs reaching 95%; sign of mean: "
             "fraction of pairs whose key-averaged gradient has the FD's sign; within 2x: fraction "
             "of pairs whose mean gradient / FD is in [0.5, 2]; ratio: median over pairs of mean "
             "gradient / FD.",
             "",
             "| setting | objectives | pairs | finite | sign/key [min] | >=95% | sign of mean | "
             "within 2x | ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for res in results["settings"]:
        for what, summ in res["summary"].items():
            if summ.get("finite_pairs", 0) == 0:
                lines.append(f"| {label(res['setting'])} | {what} | {summ['pairs']} | 0 | - | - "
                             f"| - | - | - |")
                continue
            lines.append(
                f"| {label(res['setting'])} | {what} | {summ['pairs']} | {summ['finite_pairs']} | "
                f"{100 * summ['sign_key_mean']:.0f}% [{100 * summ['sign_key_min']:.0f}%] | "
                f"{100 * summ['sign_key_ge95']:.0f}% | {100 * summ['sign_mean_ok']:.0f}% | "
                f"{100 * summ['ratio_mean_within2']:.0f}% | {summ['ratio_mean_median']:.2g} |")
    lines += ["", "## Per parameter: population rates",
              "",
              "Each cell: sign agreement per key / mean gradient over FD / median per-key ratio "
              "[25th, 75th percentile]; FD row: the finite difference (± standard error) and the "
              "half-step h. Unresolved FD (|FD| <= 2 se) in italics.", ""]
    first = results["settings"][0]
    for obj in ("rate_exc", "rate_inh"):
        params = [r["param"] for r in first["rows"] if r["objective"] == obj]
        lines.append(f"### d {obj} / d parameter")
        lines.append("")
        lines.append("| setting | " + " | ".join(params) + " |")
        lines.append("|---|" + "---|" * len(params))
        fdrow = {r["param"]: r for r in first["rows"] if r["objective"] == obj}
        cells = []
        for p in params:
            r = fdrow[p]
            c = f"{r['fd']:.3g} ± {r['fd_se']:.2g} (h={r['h']:g})"
            cells.append(c if r["resolved"] else f"*{c}*")
        lines.append("| FD | " + " | ".join(cells) + " |")
        for res in results["settings"]:
            by = {r["param"]: r for r in res["rows"] if r["objective"] == obj}
            lines.append(f"| {label(res['setting'])} | " + " | ".join(_fmt(by[p]) for p in params)
                         + " |")
        lines.append("")
    for obj_group, title in ((("neuron_",), "single neurons of the network"),
                             (("first_spike_ms",), "first spike time of one neuron")):
        lines += [f"## Per parameter: {title}", ""]
        for res in results["settings"]:
            rows = [r for r in res["rows"] + res.get("neuron_rows", [])
                    if r["objective"].startswith(obj_group)]
            if not rows:
                continue
            lines.append(f"- {label(res['setting'])}: " + "; ".join(
                f"{r['objective']}/{r['param']} {_fmt(r)}" + ("" if r["resolved"] else " (FD unresolved)")
                for r in rows))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--keys", type=int, default=16)
    parser.add_argument("--n-exc", type=int, default=800)
    parser.add_argument("--n-inh", type=int, default=200)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--variant", default="brian2", help="izj.izhikevich2003's variant")
    parser.add_argument("--scan", default="",
                        help="comma-separated extra gains for fast_sigmoid / crossing only")
    parser.add_argument("--forget", default="",
                        help="comma-separated surrogate:gain:grad_memory settings, each with "
                             "synapse_grad=True and threshold_grad='crossing'")
    parser.add_argument("--surrogates", default=",".join(izj.SURROGATES))
    parser.add_argument("--threshold-grads", default="crossing,voltage",
                        help="voltage is measured for fast_sigmoid only")
    parser.add_argument("--synapse-grad", choices=("both", "off", "on"), default="both")
    parser.add_argument("--append", action="store_true",
                        help="add these settings to the results.json already in --out")
    parser.add_argument("--no-neuron", action="store_true", help="skip the first-spike objective")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out",
                                                      "grad_quality"))
    args = parser.parse_args(argv)
    if args.smoke:
        args.keys, args.n_exc, args.n_inh, args.steps = 4, 40, 10, 200
    args.scan = [float(g) for g in args.scan.split(",") if g]
    args.forget = [s for s in args.forget.split(",") if s]
    args.surrogates = [s for s in args.surrogates.split(",") if s]
    args.threshold_grads = [s for s in args.threshold_grads.split(",") if s]
    args.synapse_grads = {"both": (False, True), "off": (False,), "on": (True,)}[args.synapse_grad]
    start = time.perf_counter()
    dtype = jnp.float32
    keys = jax.random.split(jax.random.key(11), args.keys)
    params = izj.izhikevich2003(jax.random.key(0), n_exc=args.n_exc, n_inh=args.n_inh, dtype=dtype,
                                variant=args.variant)
    watch = (0, 1, args.n_exc, args.n_exc + 1)
    objectives = ["rate_exc", "rate_inh"] + [f"neuron_{i}" for i in watch]
    theta, build = network_knobs(params)
    f = network_objective(build, args.steps, watch)
    fds = finite_differences(f, theta, params.config, keys, NET_PARAMS)
    rates = np.asarray(jax.jit(jax.vmap(f, in_axes=(None, None, 0)), static_argnums=1)(
        theta, params.config, keys)).mean(0)
    print(f"rates {dict(zip(objectives, np.round(rates, 2)))}; FD {time.perf_counter() - start:.0f} s",
          flush=True)
    if not args.no_neuron:
        n_theta, n_build = neuron_knobs(dtype)
        nf = neuron_objective(n_build)
        n_fds = finite_differences(nf, n_theta, params.config.replace(n_exc=None),
                                   keys, NEURON_PARAMS)
    results = {"network": f"izhikevich2003 {args.n_exc}+{args.n_inh} neurons"
                          f"{'' if args.variant == 'brian2' else ' (' + args.variant + ')'}, "
                          f"{args.steps} steps, "
                          f"float32", "keys": args.keys, "mean_objectives": dict(zip(objectives,
                                                                                    rates.tolist())),
               "steps": {k: list(v) for k, v in STEPS.items()}, "settings": []}
    for s in settings(args):
        t = time.perf_counter()
        cfg = params.config.replace(**s)
        rows = compare(gradients(f, theta, cfg, keys), fds, objectives)
        res = {"setting": s, "rows": rows,
               "summary": {"rates": summarise(rows, ("rate_exc", "rate_inh")),
                           "neurons": summarise(rows, objectives[2:])}}
        if not args.no_neuron:
            ncfg = cfg.replace(n_exc=None)
            res["neuron_rows"] = compare(gradients(nf, n_theta, ncfg, keys), n_fds,
                                         ["first_spike_ms"])
            res["summary"]["first_spike"] = summarise(res["neuron_rows"])
        res["seconds"] = time.perf_counter() - t
        results["settings"].append(res)
        r = res["summary"]["rates"]
        print(f"{label(s)}: {res['seconds']:.0f} s; rates: "
              + (f"sign/key {r['sign_key_mean']:.2f} min {r['sign_key_min']:.2f}, sign of mean "
                 f"{r['sign_mean_ok']:.2f}, within 2x {r['ratio_mean_within2']:.2f}, ratio "
                 f"{r['ratio_mean_median']:.3g}" if r.get("finite_pairs") else "not finite"),
              flush=True)
    results["seconds"] = time.perf_counter() - start
    os.makedirs(args.out, exist_ok=True)
    previous = os.path.join(args.out, "results.json")
    if args.append and os.path.exists(previous):
        with open(previous) as fh:
            old = json.load(fh)
        if old["network"] != results["network"] or old["keys"] != results["keys"]:
            raise SystemExit(f"--append: {previous} is of another network or number of keys")
        old["settings"] += results["settings"]
        old["seconds"] += results["seconds"]
        results = old
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=float)
    write_table(results, os.path.join(args.out, "table.md"))
    print(f"done in {results['seconds']:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
