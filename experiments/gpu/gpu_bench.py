"""GPU plan (issue 14, item 7): one short script, one JSON, on a machine with one or more GPUs.

Sections, each timed apart and written to the JSON as soon as it is done (a section that fails or
would pass the time budget is recorded with its reason, never dropped):

* ``fig3``: the Izhikevich (2003) Fig. 3 network, float32, event-driven and dense: compile time and
  seconds per simulated second (median of 5 runs of 1000 ms, the compiled loop alone and the public
  ``simulate()`` as called).
* ``scaled``: ``scaled_izhikevich2003(key, N, k=100)`` for N = 1e5, 1e6, 4e6 (4e8 synapses), counts
  and population rates only (``record_spikes=False``): build, compile and seconds per simulated
  second, device memory in use.
* ``sweep``: a batch of 1024 Fig. 3 networks (excitatory noise scale 0.5-1.5) in one call against
  one network alone: time per network.
* ``grad``: one gradient step of the population-rate loss through 1000 steps of the Fig. 3 network
  (``jax.grad``, checkpointed) and its forward-only time.
* ``shard``: the scaled N = 1e6 network split over every device present (``izhijax.shard``), bitwise
  compared with the one-device run, time per simulated second and exchange volume.
* ``poly``: the Izhikevich (2006) polychronization network (per-synapse delays, STDP), float32: the
  compiled one-second loop of ``izj.polychronization.run`` as ``polychronization_bench.py`` times
  it (issue 12's figure on a GPU), compile time and seconds per simulated second.

    bash experiments/gpu/run.sh                 # writes experiments/out/gpu/gpu.json
    python experiments/gpu/gpu_bench.py --smoke  # small sizes, 200 steps, any machine, for tests
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)


def _median_time(fn, repeats):
    import jax
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _memory_in_use():
    import jax
    out = {}
    for d in jax.local_devices():
        try:
            stats = d.memory_stats() or {}
        except Exception:           # CPU devices have none
            stats = {}
        if "bytes_in_use" in stats:
            out[str(d)] = {"bytes_in_use": stats["bytes_in_use"],
                           "peak_bytes_in_use": stats.get("peak_bytes_in_use")}
    return out


def fig3(args):
    import jax
    import jax.numpy as jnp
    import izhijax as izj
    n_steps, out = args.steps, {}
    for prop in ("event", "dense"):
        params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, propagation=prop)
        key = jax.random.key(1)
        run, compile_s = izj.compile_simulation(params, key, n_steps)
        loop = _median_time(run, args.repeats)
        called = _median_time(lambda: izj.simulate(params, key, n_steps), args.repeats)
        _, rec = run()
        out[prop] = {"compile_s": compile_s, "loop_s_per_sim_s": loop / (n_steps * 1e-3),
                     "simulate_s_per_sim_s": called / (n_steps * 1e-3),
                     "spikes": int(rec.counts.sum())}
    return out


def scaled(args):
    import jax
    import jax.numpy as jnp
    import izhijax as izj
    n_steps, out = args.steps, {}
    for n in args.sizes:
        if time.perf_counter() - START > args.budget * 0.6:
            out[str(n)] = {"skipped": "time budget"}
            continue
        t0 = time.perf_counter()
        params = izj.scaled_izhikevich2003(jax.random.key(0), n, k=args.k, dtype=jnp.float32)
        params = jax.device_put(params)
        jax.block_until_ready(params)
        build = time.perf_counter() - t0
        key = jax.random.key(1)
        run, compile_s = izj.compile_simulation(params, key, n_steps, record_v=(),
                                                record_spikes=False)
        per = _median_time(run, max(1, args.repeats // 2))
        _, rec = run()
        out[str(n)] = {"k": args.k, "synapses": int(n * args.k), "build_s": build,
                       "compile_s": compile_s, "s_per_sim_s": per / (n_steps * 1e-3),
                       "rate_hz": float(rec.counts.sum()) / n, "memory": _memory_in_use()}
        del params, run, rec
        _flush(out, "scaled_partial")
    return out


def sweep(args):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import izhijax as izj
    n_steps = args.steps
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, propagation="event")
    key = jax.random.key(1)
    one = _median_time(lambda: izj.simulate(params, key, n_steps, record_spikes=False,
                                            record_v=()), args.repeats)
    values = np.linspace(0.5, 1.5, args.batch)
    axes = {"exc_noise_scale": values}
    izj.sweep.run(params, key, n_steps, axes)                     # compile
    start = time.perf_counter()
    result = izj.sweep.run(params, key, n_steps, axes)
    jax.block_until_ready(result.data)
    batch = time.perf_counter() - start
    return {"networks": args.batch, "one_alone_s": one, "batch_s": batch,
            "per_network_s": batch / args.batch, "speedup_per_network": one / (batch / args.batch)}


def grad(args):
    import jax
    import jax.numpy as jnp
    import izhijax as izj
    n_steps = args.steps
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32)
    theta, build = izj.fit.population_parameters(params)
    target = izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, params)
    key = jax.random.key(1)

    def loss(th):
        return target(izj.fit.rates_of(build(th), key, n_steps, checkpoint=50))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    forward = jax.jit(loss)
    t0 = time.perf_counter()
    jax.block_until_ready(value_and_grad(theta))
    compile_s = time.perf_counter() - t0
    return {"grad_step_s": _median_time(lambda: value_and_grad(theta), args.repeats),
            "forward_s": _median_time(lambda: forward(theta), args.repeats),
            "compile_and_first_s": compile_s}


def shard(args):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import izhijax as izj
    import izhijax.shard  # noqa: F401
    n, n_steps = args.shard_n, args.steps
    params = izj.scaled_izhikevich2003(jax.random.key(0), n, k=args.k, dtype=jnp.float32)
    key = jax.random.key(1)
    devices = jax.devices()
    kw = dict(record_v=(), record_spikes=False)
    run, _ = izj.compile_simulation(params, key, n_steps, **kw)
    one = _median_time(run, max(1, args.repeats // 2))
    ref_final, ref = run()
    part = izj.shard.partition(params, len(devices))
    izj.shard.simulate(params, key, n_steps, mesh=devices, **kw)        # compile
    t0 = time.perf_counter()
    final, rec, stats = izj.shard.simulate(params, key, n_steps, mesh=devices, stats=True, **kw)
    jax.block_until_ready(rec.counts)
    call = time.perf_counter() - t0
    v = lambda f: np.concatenate([np.asarray(x["v"]).ravel() for x in f.neurons])
    return {"devices": len(devices), "n": n,
            "one_device_s_per_sim_s": one / (n_steps * 1e-3),
            "sharded_compiled_s_per_sim_s": stats.seconds / (n_steps * 1e-3),
            "sharded_call_s_per_sim_s": call / (n_steps * 1e-3),
            "host_split_s": call - stats.seconds,
            "equal_counts": bool(np.array_equal(np.asarray(ref.counts), np.asarray(rec.counts))),
            "equal_v": bool(np.array_equal(v(ref_final), v(final))),
            "mean_exchange_bytes": stats.mean_bytes, "overflow_steps": stats.overflow_steps,
            "balance": part.balance, "partition": part.table()}


def poly(args):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import izhijax as izj
    from izhijax._src import engine
    net, stim = izj.polychronization2006(jax.random.key(0), dtype=jnp.float32)
    key, state, e = jax.random.key(1), izj.init_state(net), jnp.zeros(0, jnp.int32)
    n_steps = args.steps
    t0 = time.perf_counter()
    run = engine.run_jit.lower(net, key, state, stim, e, e, n_steps=n_steps,
                               record_spikes=False).compile()
    compile_s = time.perf_counter() - t0
    state, out = run(net, key, state, stim, e, e)          # a warm-up second
    jax.block_until_ready(state)
    seconds, spikes = args.poly_seconds, 0
    t0 = time.perf_counter()
    for _ in range(seconds):
        state, out = run(net, key, state, stim, e, e)
        spikes += int(np.asarray(out.counts).sum())
    jax.block_until_ready(state)
    wall = time.perf_counter() - t0
    return {"compile_s": compile_s, "s_per_sim_s": wall / (seconds * n_steps * 1e-3),
            "seconds": seconds, "spikes_per_s": spikes / seconds}


def _jsonable(x):
    """``x`` as JSON values: NamedTuples and dataclasses as dicts, arrays as lists, else repr."""
    import dataclasses
    import numpy as np
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if hasattr(x, "_asdict"):
        return {k: _jsonable(v) for k, v in x._asdict().items()}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    try:
        arr = np.asarray(x)
        if arr.dtype != object:
            return arr.tolist()
    except Exception:
        pass
    return repr(x)


RESULT = {}
OUT = None
START = time.perf_counter()


def _flush(partial=None, name=None):
    if partial is not None:
        RESULT[name] = partial
    RESULT["elapsed_s"] = time.perf_counter() - START
    with open(OUT, "w") as f:
        json.dump(RESULT, f, indent=1)


def main(argv=None):
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out", "gpu", "gpu.json"))
    ap.add_argument("--smoke", action="store_true",
                    help="small sizes, 200 steps per run (any machine; for the tests)")
    ap.add_argument("--budget", type=float, default=270.0, help="seconds for the whole run")
    ap.add_argument("--sections", default="fig3,scaled,sweep,grad,shard,poly")
    args = ap.parse_args(argv)
    args.repeats = 2 if args.smoke else 5
    args.steps = 200 if args.smoke else 1000
    args.k = 10 if args.smoke else 100
    args.sizes = [2000] if args.smoke else [100_000, 1_000_000, 4_000_000]
    args.batch = 8 if args.smoke else 1024
    args.shard_n = 2000 if args.smoke else 1_000_000
    args.poly_seconds = 1 if args.smoke else 5
    OUT = args.out
    os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
    import izhijax  # noqa: F401  (first: it asks XLA for deterministic GPU scatters)
    import jax
    RESULT.update(machine=platform.node(), python=platform.python_version(),
                  xla_flags=os.environ.get("XLA_FLAGS", ""),
                  jax=jax.__version__, backend=jax.default_backend(),
                  devices=[str(d) for d in jax.devices()], smoke=args.smoke,
                  steps=args.steps)
    for name in args.sections.split(","):
        if time.perf_counter() - START > args.budget:
            RESULT[name] = {"skipped": "time budget"}
            continue
        t0 = time.perf_counter()
        try:
            RESULT[name] = globals()[name](args)
        except Exception as err:        # recorded, not hidden: the rest still runs
            RESULT[name] = {"error": f"{type(err).__name__}: {err}",
                            "traceback": traceback.format_exc()[-2000:]}
        RESULT[name + "_section_s"] = time.perf_counter() - t0
        RESULT.pop("scaled_partial", None)
        _flush()
        print(f"{name}: {json.dumps(RESULT[name])[:300]}", flush=True)
    print(f"wrote {OUT} in {time.perf_counter() - START:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
