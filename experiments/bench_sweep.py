"""Benchmark of izhijax sweeps: a batch of Fig. 3 networks against one alone, compile time, 16 x 16.

Measures, each as the median of ``--repeats`` timed runs after a warm-up call:

* ``single_s``: one Fig. 3 network (1000 ms) alone, ``izj.simulate``'s compiled loop without the
  raster (``record_spikes=False``, no voltage trace), what a user would loop over, with the dense
  weights the sweep shares (``izhikevich2003``'s default); ``single_event_s``: the same with
  event-driven propagation (``propagation="event"``, the fastest single-network path on a CPU);
* ``batch_s``: one sweep call of ``--batch`` networks (excitatory weight scale x noise scale, one
  noise key: common random numbers, the default summaries), ``per_network_ratio = batch_s / batch
  / single_s`` (target <= 0.25) and ``per_network_ratio_event`` against ``single_event_s``;
* ``batch_trials_s``: one sweep call of ``--batch`` trials of the paper's network (a key each, so
  no noise is shared), and its ratio against ``single_s``;
* ``batch_no_synapses_s``: the ``batch_s`` sweep of the same neurons without synapses (an empty
  :class:`~izhijax.connectivity.Sparse` table): what the batch costs apart from propagation (noise,
  neuron updates, counts, summaries), so ``batch_s - batch_no_synapses_s`` is the batch's
  matrix-matrix product, reported as ``propagation_gflops`` (2 n^2 flops per network and step);
* ``compile_s``: ahead-of-time compile of that sweep's batched program (lower + compile);
* ``regimes_first_s`` / ``regimes_s``: the 16 x 16 grid of ``sweep_regimes.py`` (256 networks,
  1000 ms), first call (compile included, what the experiment's wall time is) and cached calls.

    python experiments/bench_sweep.py [--batch 64] [--out experiments/out/bench_sweep/bench.json]
    python experiments/bench_sweep.py --batch 1024          # on a GPU
    python experiments/bench_sweep.py --smoke --out /tmp/b.json   # tiny, for the tests

Run it on a quiet machine: the numbers are only as good as the machine is idle.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _median_time(fn, repeats):
    import jax
    jax.block_until_ready(fn())  # warm-up (compiles if needed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _grid(batch):
    """Near-square grid with ``batch`` points: excitatory weight scale x noise scale."""
    import numpy as np
    nx = int(np.sqrt(batch))
    while batch % nx:
        nx -= 1
    return {"exc_weight_scale": np.linspace(0.5, 1.5, nx),
            "noise_scale": np.linspace(0.6, 1.6, batch // nx)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64, help="networks per sweep call")
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per network")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--regimes-size", type=int, default=16, help="grid points per axis")
    parser.add_argument("--no-regimes", action="store_true", help="skip the 16 x 16 grid")
    parser.add_argument("--smoke", action="store_true", help="batch 4, 100 ms, 3 x 3, 1 repeat")
    parser.add_argument("--x64", action="store_true", help="float64")
    parser.add_argument("--out", default=os.path.join(HERE, "out", "bench_sweep", "bench.json"))
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.duration, args.repeats, args.regimes_size = 4, 100.0, 1, 3

    import jax
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    import izhijax as izj
    from izhijax._src.sweep import _batch, _shard, summaries

    net_key, noise_key = jax.random.split(jax.random.key(0))
    params = izj.izhikevich2003(net_key)
    n_steps = max(1, round(args.duration / params.config.dt))
    result = {"benchmark": "bench_sweep", "backend": jax.default_backend(),
              "device_kind": jax.devices()[0].device_kind, "devices": jax.device_count(),
              "dtype": str(params.a.dtype), "neurons": params.n, "n_steps": n_steps,
              "duration_ms": args.duration, "batch": args.batch, "repeats": args.repeats}

    # One network alone: simulate's compiled scan, no raster.
    run, single_compile = izj.compile_simulation(params, noise_key, n_steps, record_v=(),
                                                 record_spikes=False)
    result["single_compile_s"] = single_compile
    result["single_s"], result["single_runs_s"] = _median_time(run, args.repeats)

    event = izj.izhikevich2003(net_key, propagation="event")
    run_event, _ = izj.compile_simulation(event, noise_key, n_steps, record_v=(),
                                          record_spikes=False)
    result["single_event_s"], result["single_event_runs_s"] = _median_time(run_event, args.repeats)

    # A batch of networks in one sweep call (summaries computed in the call).
    axes = _grid(args.batch)
    sweep = lambda: izj.sweep.run(params, noise_key, n_steps, axes)
    result["batch_s"], result["batch_runs_s"] = _median_time(sweep, args.repeats)
    result["per_network_s"] = result["batch_s"] / args.batch
    result["per_network_ratio"] = result["per_network_s"] / result["single_s"]
    result["per_network_ratio_event"] = result["per_network_s"] / result["single_event_s"]

    # The same sweep without synapses: everything but the propagation.
    empty = izj.wiring.sparse(np.zeros((params.n, 0), np.int32), np.zeros((params.n, 0), params.a.dtype),
                              params.n, buffers=())
    bare = params.replace(weights=empty)
    no_syn = lambda: izj.sweep.run(bare, noise_key, n_steps, axes)
    result["batch_no_synapses_s"], result["batch_no_synapses_runs_s"] = _median_time(
        no_syn, args.repeats)
    product = result["batch_s"] - result["batch_no_synapses_s"]
    result["propagation_gflops"] = 2 * params.n ** 2 * args.batch * n_steps / product / 1e9

    # The same number of trials of one network, a noise key each.
    trials = lambda: izj.sweep.run(params, noise_key, n_steps, {"exc_weight_scale": [1.0]},
                                   trials=args.batch)
    result["batch_trials_s"], result["batch_trials_runs_s"] = _median_time(trials, args.repeats)
    result["per_network_trials_ratio"] = result["batch_trials_s"] / args.batch / result["single_s"]

    # Compile time of the batched program (what the first sweep call pays once).
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
    size = -(-args.batch // jax.device_count()) * jax.device_count()
    values = _shard(np.ones((size, 2), params.a.dtype), mesh)
    keys = _shard(np.asarray(jax.random.key_data(jax.random.split(noise_key, size))), mesh)
    start = time.perf_counter()
    _batch.lower(params, values, keys, None, names=tuple(axes), n_steps=n_steps, apply=None,
                 summarize=summaries, record_spikes=False, impl="threefry2x32").compile()
    result["compile_s"] = time.perf_counter() - start

    if not args.no_regimes:
        k = args.regimes_size
        grid = {"exc_weight_scale": np.linspace(0.25, 1.75, k), "noise_scale": np.linspace(0.4, 2, k)}
        regimes = lambda: izj.sweep.run(params, noise_key, n_steps, grid)
        jax.clear_caches()
        start = time.perf_counter()
        jax.block_until_ready(regimes())
        result["regimes_grid"] = [k, k]
        result["regimes_first_s"] = time.perf_counter() - start
        result["regimes_s"], result["regimes_runs_s"] = _median_time(regimes, args.repeats)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"bench_sweep on {result['devices']} {result['backend']} ({result['device_kind']}), "
          f"{result['dtype']}, {n_steps} steps:")
    print(f"  one network            {result['single_s']:.4f} s dense, "
          f"{result['single_event_s']:.4f} s event-driven")
    print(f"  batch of {args.batch:<5d}        {result['batch_s']:.3f} s = "
          f"{result['per_network_s']:.4f} s per network, ratio {result['per_network_ratio']:.3f} "
          f"(dense), {result['per_network_ratio_event']:.3f} (event-driven)")
    print(f"  {args.batch} trials, own keys   {result['batch_trials_s']:.3f} s, ratio "
          f"{result['per_network_trials_ratio']:.3f} (dense)")
    print(f"  batch, no synapses     {result['batch_no_synapses_s']:.3f} s: the matrix product "
          f"takes the rest, at {result['propagation_gflops']:.0f} GFLOP/s")
    print(f"  sweep compile          {result['compile_s']:.2f} s")
    if not args.no_regimes:
        print(f"  {k} x {k} grid          {result['regimes_first_s']:.2f} s first call, "
              f"{result['regimes_s']:.2f} s cached")
    print(f"  {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
