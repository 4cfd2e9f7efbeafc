"""``izhijax fit-neuron``: fit one Izhikevich (2003) neuron to a recorded trace.

    izhijax fit-neuron --trace FILE [--loss voltage|spikes|both] [--fit a,b,c,d,gain,v_rest]
                       [--method shooting|gradient|cmaes] [--iters N] [--prefit N]
                       [--horizon MS] [--dt MS] [--seed S] [--out PREFIX] [--x64]
    izhijax fit-neuron --demo demo.csv        # writes a synthetic recording to try it on

``--trace``: CSV with a header (columns ``time`` in ms, ``current``, ``voltage`` in mV; ``spike``
0/1 optional) or NPZ (arrays ``t``, ``i``, ``v``, optional ``spikes`` times);
:func:`izhijax.traces.load_trace`. Writes ``PREFIX.json`` (fitted parameters, Gamma, loss, wall
time) and ``PREFIX.png`` (recorded vs model voltage, spike rasters). A recording that cannot be
read or is not valid (NaN, time not increasing or not regular, columns of different lengths, a
``--dt`` that does not divide the sampling interval) is one line naming the field, exit status 2.

The argument parser lives in :mod:`izhijax._src.cli` (``--help`` imports no JAX); this module is
imported when the subcommand runs.
"""

import json
import time

from .cli import _UsageError, _jax


def _figure(trace, result, title):
    import matplotlib.pyplot as plt
    import numpy as np
    fig, (ax_v, ax_s) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    model = result.model
    if trace.voltage is not None:
        ax_v.plot(trace.time, trace.voltage, color="0.3", lw=0.8, label="recording")
    ax_v.plot(model.time, np.minimum(model.voltage, 30.0 + result.params["v_rest"] + 70.0),
              color="tab:red", lw=0.8, alpha=0.8, label="model")
    ax_v.set_ylabel("v (mV)")
    ax_v.legend(loc="upper right", fontsize=8)
    ax_v.set_title(title, fontsize=9)
    ax_s.eventplot([result.target_spikes, model.spikes], lineoffsets=[1, 0], linelengths=0.8,
                   colors=["0.3", "tab:red"])
    ax_s.set_yticks([1, 0], ["recording", "model"])
    ax_s.set_xlabel("time (ms)")
    fig.tight_layout()
    return fig


def demo(path, seed=0):
    """Write a synthetic recording (2 s, 0.25 ms samples): an RS-like neuron (a, b, c, d =
    0.03, 0.22, -60, 6) under an Ornstein-Uhlenbeck current, 1 mV of measurement noise."""
    from . import traces
    dt = 0.25
    current = traces.ou_current(seed, int(2000 / dt) + 1, dt, mean=5.0, sigma=4.0, tau=5.0)
    truth = {"a": 0.03, "b": 0.22, "c": -60.0, "d": 6.0}
    trace = traces.synthetic_trace(truth, current, dt, noise_mv=1.0, seed=seed)
    traces.save_trace(path, trace._replace(spikes=None))
    return truth, trace


def run(args):
    """Run the subcommand on parsed ``args`` (see :func:`izhijax._src.cli.build_parser`)."""
    jax = _jax(args.x64)
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np

    from . import traces
    from .fit import FitDivergenceError

    if args.demo:
        truth, trace = demo(args.demo, args.seed)
        print(f"izhijax fit-neuron: wrote a synthetic recording to {args.demo} "
              f"({trace.time.size} samples of {trace.interval:g} ms, {trace.spikes.size} spikes; "
              f"a, b, c, d = {', '.join(f'{truth[k]:g}' for k in 'abcd')})")
        print(f"  try: izhijax fit-neuron --trace {args.demo} --out fit_neuron")
        return 0
    method = args.method or "shooting"
    iters = args.iters or traces.DEFAULT_N_ITERS.get(method)
    if method == "cmaes":
        k = traces.CMAES_POPSIZE
        if args.evals < k:
            raise _UsageError(f"argument --evals: CMA-ES asks {k} candidates at a time, expected "
                              f">= {k}, got {args.evals}")
        try:
            traces._import_cma()
        except ImportError as err:
            raise _UsageError(f"argument --method: {err}") from None
    try:
        trace = traces.load_trace(args.trace)
    except (OSError, ValueError, TypeError) as err:
        raise _UsageError(f"argument --trace: {err}") from None
    names = tuple(s.strip() for s in args.fit.split(",") if s.strip())
    bad = [n for n in names if n not in traces.PARAMETERS]
    if bad or not names or len(set(names)) != len(names):
        raise _UsageError(f"argument --fit: expected distinct names among "
                          f"{','.join(traces.PARAMETERS)}, got {args.fit!r}")
    if args.loss in ("voltage", "both") and trace.voltage is None:
        raise _UsageError(f"argument --loss: {args.loss} needs a voltage column in {args.trace!r}; "
                          f"use --loss spikes for spike times alone")
    if args.loss == "spikes" and trace.voltage is None and trace.spikes is None:
        raise _UsageError(f"argument --trace: {args.trace!r} holds neither a voltage nor spikes")
    dt = trace.interval if args.dt is None else args.dt
    try:
        traces.check_trace(trace, dt)
    except ValueError as err:
        raise _UsageError(f"argument --dt: {err}") from None
    print(f"izhijax fit-neuron: {args.trace}: {trace.time.size} samples of {trace.interval:g} ms "
          f"({trace.duration:g} ms), loss {args.loss}, fitting {','.join(names)}, dt {dt:g} ms, "
          + {"gradient": f"{args.prefit} pre-fit + {iters} steps",
             "cmaes": f"CMA-ES, {args.evals} runs",
             "shooting": f"multiple shooting, {iters} iterations at most"}[method]
          + f", backend={jax.default_backend()}")
    start = time.perf_counter()
    try:
        result = traces.fit_trace(trace, fit=names, loss=args.loss, n_iters=args.iters,
                                  n_prefit=args.prefit, dt=dt, key=jax.random.key(args.seed),
                                  progress=not args.no_progress, method=method,
                                  max_evals=args.evals,
                                  horizon=args.horizon or traces.SHOOTING_HORIZON)
    except FitDivergenceError as err:
        raise FloatingPointError(f"the fit stopped at step {err.iteration}: {err.cause}") from None
    seconds = time.perf_counter() - start
    p = result.params
    print("  fitted          " + ", ".join(f"{k}={p[k]:.4g}" for k in traces.PARAMETERS))
    print(f"  spikes          recording {result.target_spikes.size}, model "
          f"{result.model.spikes.size}; Gamma {result.gamma:.3f} (delta 4 ms)")
    print(f"  loss            {result.loss:.4g}; wall time {seconds:.1f} s")
    numbers = {"trace": args.trace, "loss_kind": args.loss, "fitted": list(names),
               "params": p, "gamma": result.gamma, "loss": result.loss,
               "wall_seconds": seconds, "dt_ms": result.dt,
               "spikes_recording": int(result.target_spikes.size),
               "spikes_model": int(result.model.spikes.size), "prefit_steps": args.prefit,
               "optimizer_steps": iters,
               "method": method,
               "loss_history": np.asarray(result.history["best"]).tolist()}
    with open(args.out + ".json", "w") as f:
        json.dump(numbers, f, indent=1)
    fig = _figure(trace, result, f"{args.trace}: loss {args.loss}, Gamma {result.gamma:.3f}, "
                                 + ", ".join(f"{k}={p[k]:.3g}" for k in names))
    fig.savefig(args.out + ".png", dpi=110)
    print(f"  numbers         {args.out}.json")
    print(f"  figure          {args.out}.png")
    return 0
