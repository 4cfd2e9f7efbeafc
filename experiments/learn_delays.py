"""Learning axonal delays by gradient descent: recover hidden real-valued delays from output spikes.

Twelve input neurons fire given spike trains (each forced by a 200 mV/ms pulse at its spike steps;
one input spike every 80 +- 5 ms, the inputs in shuffled rounds) onto three postsynaptic
Izhikevich RS neurons through all-to-all synapses (:func:`izhijax.learnable_delayed`, 36
synapses, weights 18-26 mV/ms) whose real delays (uniform in 3..17 ms) are hidden. The output
spike trains of the hidden delays are the targets; the fit starts from the hidden delays plus
Gaussian noise (sd 2 ms) and runs Adam (300 iterations, step 0.1 ms with a cosine decay) on a
spike-train loss of the output spikes, the gradient through the surrogate spike threshold
(``jax.grad`` of ``izj.simulate``, default gradient settings). Writes
``experiments/out/learn_delays/`` (``learn_delays.json``, ``learn_delays.png``): RMS delay
error before and after, the loss curve, the van Rossum distance (tau 5 ms) and the fraction of
target spikes matched within 1 ms. dt = 1 ms, so delays in steps are in ms.

    .venv/bin/python experiments/learn_delays.py            # ~1 min on 2 CPU cores
    .venv/bin/python experiments/learn_delays.py --smoke    # a few iterations
    .venv/bin/python experiments/learn_delays.py --loss van_rossum   # the comparisons of
    .venv/bin/python experiments/learn_delays.py --dither 0          # experiments/learn_delays.md

Choices (and why; the measurements are in experiments/learn_delays.md):

* the loss is the squared L2 distance between the cumulative spike counts of model and target,
  restarted every 80 ms: ``sum_t (N(t) - N*(t))^2 / T`` with ``N`` counting from the start of
  the window (the van Rossum distance with a step kernel, in windows). With an exponential kernel
  (``izj.traces.spike_loss``) the surrogate gradient of a spike that is too late and of one that
  is too early are the same, "make this spike weaker" (the derivative with respect to the spike
  at its own step dominates), which pushes every delay up; the step kernel gives a late spike no
  weight at its own step and a negative one before it ("fire earlier"). Counting over the whole
  run instead couples every error to every later one (the gradient at step t sums the errors of
  all later steps);
* the output neurons get a bias of 3.5 mV/ms, just below rheobase (3.75): a slow membrane
  (time constant ~12 ms at rest) on which a pulse split over two steps acts nearly like one
  pulse between them, and every input spike fires them, a few ms later;
* each gradient is taken at the delays plus a uniform dither of +-0.5 step per synapse
  (randomised smoothing): the current delivered by the linear interpolation is piecewise linear
  in the delay, and the membrane's nonlinearity makes the gradient's sign depend on the
  fractional part in a narrow band near 1 (tests/test_learnable_delays.py); the dither averages
  that out over the step.
"""

import argparse
import json
import os
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import izhijax as izj  # noqa: E402

RS = dict(a=0.02, b=0.2, c=-65.0, d=8.0)
FORCE = 200.0            # mV/ms: an input neuron at rest fires in the step it gets this


def rest_potential(bias, b=RS["b"]):
    """Resting v (mV) of an RS neuron with a constant bias current below rheobase."""
    p = 5.0 - b
    return (-p - np.sqrt(p * p - 0.16 * (140.0 + bias))) / 0.08


def input_trains(rng, n_in, duration, gap, jitter):
    """Spike steps and neurons: one input fires every ``gap`` ms (+- ``jitter``), the inputs in
    shuffled rounds (each fires once per round)."""
    n_events = int((duration - 40) // gap)
    order = np.concatenate([rng.permutation(n_in) for _ in range(n_events // n_in + 1)])[:n_events]
    times = 20 + gap * np.arange(n_events) + rng.uniform(-jitter, jitter, n_events)
    return np.rint(times).astype(np.int64), order.astype(np.int64)


def build(args, rng):
    n_in, n_out, D = args.n_in, args.n_out, args.max_delay
    steps, neurons = input_trains(rng, n_in, args.duration, args.gap, args.jitter)
    stim = izj.inputs.events(steps, neurons, FORCE, n_in + n_out)
    pre, post = np.repeat(np.arange(n_in), n_out), np.tile(np.arange(n_out), n_in)
    hidden = rng.uniform(3.0, D - 3.0, pre.size)
    w = rng.uniform(0.8, 1.2, pre.size) * args.weight
    fmt = izj.learnable_delayed(pre, post, hidden, w, n_pre=n_in, n_post=n_out, max_delay=D)
    pops = [izj.population("in", izj.Izhikevich2003(), n_in, params=RS),
            izj.population("out", izj.Izhikevich2003(), n_out, params={**RS, "d": args.reset_d},
                           bias=args.bias,
                           v0=rest_potential(args.bias))]
    net = izj.network(pops, [izj.projection("in", "out", fmt)],
                      izj.Config(dt=1.0, integrator="euler", noise="none"))
    return net, fmt, stim, steps


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="experiments/out/learn_delays")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-in", type=int, default=12)
    p.add_argument("--n-out", type=int, default=3)
    p.add_argument("--max-delay", type=int, default=20)
    p.add_argument("--duration", type=float, default=6000.0, help="ms (steps of 1 ms)")
    p.add_argument("--gap", type=float, default=80.0, help="ms between input spikes")
    p.add_argument("--jitter", type=float, default=5.0)
    p.add_argument("--weight", type=float, default=22.0, help="mV/ms, mean synaptic weight")
    p.add_argument("--reset-d", type=float, default=8.0, help="mV/ms, output neurons' d")
    p.add_argument("--bias", type=float, default=3.5, help="mV/ms, output neurons")
    p.add_argument("--sigma", type=float, default=2.0, help="ms, initial delay error (sd)")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.1, help="Adam step, ms")
    p.add_argument("--dither", type=float, default=1.0, help="steps, width of the dither")
    p.add_argument("--window", type=int, default=80, help="ms, count loss window")
    p.add_argument("--loss", choices=("count", "van_rossum"), default="count")
    args = p.parse_args()
    if args.smoke:
        args.iters, args.duration = 5, 500.0
    rng = np.random.default_rng(args.seed)
    net, fmt, stim, steps = build(args, rng)
    n_in, n_out, D, T = args.n_in, args.n_out, args.max_delay, int(args.duration)
    key = jax.random.key(0)
    real = np.asarray(fmt.post) < n_out
    hidden = np.asarray(fmt.delay)[real]

    def run(delay):
        _, rec = izj.simulate(net.replace(weights=fmt.replace(delay=delay)), key, T, inputs=stim,
                              record_v=(), differentiable=True)
        return rec.spikes[:, n_in:]

    target_full = np.asarray(izj.simulate(net, key, T, inputs=stim, record_v=())[1].spikes)
    assert target_full[:, :n_in].sum() == steps.size, "the inputs fire at the given steps only"
    target = jnp.asarray(target_full[:, n_in:], jnp.float64)

    W = args.window
    n_win = T // W

    def count_loss(s):
        """Mean over neurons of sum_t (N(t) - N*(t))^2 / T, the counts restarted every W ms."""
        e = (s - target)[:n_win * W].reshape(n_win, W, n_out)
        return jnp.mean(jnp.sum(jnp.cumsum(e, 1) ** 2, (0, 1))) / T

    def vr(s, tau=5.0):
        return jnp.mean(izj.traces.van_rossum_distance(s, target, tau=tau))

    def loss(delay):
        s = run(delay)
        return count_loss(s) if args.loss == "count" else jnp.mean(
            izj.traces.spike_loss(s, target, tau=5.0))

    value_and_grad = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def metrics(delay):
        s = run(delay)
        return count_loss(s), vr(s), s

    def matched(s):
        """Fraction of target spikes with a model spike of the same neuron within 1 ms."""
        s = np.asarray(s) > 0
        hit = tot = 0
        for j in range(n_out):
            tt, mm = np.flatnonzero(target_full[:, n_in + j]), np.flatnonzero(s[:, j])
            tot += tt.size
            hit += sum(bool(mm.size) and np.abs(mm - t).min() <= 1 for t in tt)
        return hit / max(tot, 1)

    d0 = np.asarray(fmt.delay).copy()
    d0[real] = np.clip(hidden + rng.normal(0.0, args.sigma, hidden.size), 1.0, D)
    delay = jnp.asarray(d0)
    rms = lambda d: float(np.sqrt(np.mean((np.asarray(d)[real] - hidden) ** 2)))
    opt = optax.adam(optax.cosine_decay_schedule(args.lr, args.iters, alpha=0.1))
    state = opt.init(delay)
    mask = jnp.asarray(real, delay.dtype)
    curve = []
    t0 = time.time()
    for it in range(args.iters):
        dither = args.dither * jnp.asarray(rng.uniform(-0.5, 0.5, delay.shape)) * mask
        value, grad = value_and_grad(jnp.clip(delay + dither, 1.0, D))
        updates, state = opt.update(grad * mask, state, delay)
        delay = jnp.clip(optax.apply_updates(delay, updates), 1.0, D)
        curve.append({"iter": it, "loss_dithered": float(value), "rms_delay_ms": rms(delay)})
        if it % 25 == 0 or it == args.iters - 1:
            print(f"iter {it:4d}  loss {float(value):.4f}  rms delay error {rms(delay):.3f} ms"
                  f"  ({time.time() - t0:.0f} s)", flush=True)
    before, after = metrics(jnp.asarray(d0)), metrics(delay)
    err0, err1 = d0[real] - hidden, np.asarray(delay)[real] - hidden
    result = {
        "setup": {k: v for k, v in vars(args).items() if k != "out"},
        "n_synapses": int(real.sum()), "n_input_spikes": int(steps.size),
        "n_target_spikes": [int(x) for x in target_full[:, n_in:].sum(0)],
        "rms_delay_error_ms": {"before": rms(d0), "after": rms(delay)},
        "median_abs_delay_error_ms": {"before": float(np.median(np.abs(err0))),
                                      "after": float(np.median(np.abs(err1)))},
        "within_0.5ms": {"before": float(np.mean(np.abs(err0) <= 0.5)),
                         "after": float(np.mean(np.abs(err1) <= 0.5))},
        "count_loss": {"before": float(before[0]), "after": float(after[0])},
        "van_rossum_5ms": {"before": float(before[1]), "after": float(after[1])},
        "target_spikes_matched_1ms": {"before": matched(before[2]), "after": matched(after[2])},
        "seconds": time.time() - t0,
        "delays": {"hidden": hidden.tolist(), "initial": d0[real].tolist(),
                   "learned": np.asarray(delay)[real].tolist()},
        "curve": curve,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "learn_delays.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot(result, os.path.join(args.out, "learn_delays.png"))
    print(json.dumps({k: v for k, v in result.items() if k not in ("delays", "curve")},
                     indent=1))


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curve = result["curve"]
    it = [c["iter"] for c in curve]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    ax[0].plot(it, [c["loss_dithered"] for c in curve], lw=0.8)
    ax[0].set(xlabel="Adam iteration", ylabel="loss (dithered delays)", yscale="log",
              title="loss")
    ax[1].plot(it, [c["rms_delay_ms"] for c in curve])
    ax[1].set(xlabel="Adam iteration", ylabel="RMS delay error (ms)", title="delay recovery")
    d = result["delays"]
    lim = [0, result["setup"]["max_delay"]]
    ax[2].plot(lim, lim, color="0.7", lw=0.8)
    ax[2].plot(d["hidden"], d["initial"], "x", color="0.5", label="initial")
    ax[2].plot(d["hidden"], d["learned"], "o", ms=4, label="learned")
    ax[2].set(xlabel="hidden delay (ms)", ylabel="delay (ms)", xlim=lim, ylim=lim,
              title=f"RMS {result['rms_delay_error_ms']['before']:.2f} -> "
                    f"{result['rms_delay_error_ms']['after']:.2f} ms")
    ax[2].legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
