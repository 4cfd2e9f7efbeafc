"""Peak memory of backpropagation through 10,000 steps of the 1000-neuron Fig. 3 network, with and
without gradient checkpointing (:func:`izhijax.simulate` ``checkpoint=K``, through
:func:`izhijax.fit.rates_of`).

Two measurements per setting, each in a fresh subprocess:

* XLA's own accounting of the compiled gradient program (``compile().memory_analysis()``:
  temporaries + arguments + outputs), which does not need to run it;
* the process's peak resident memory (``resource.getrusage(...).ru_maxrss``) after running it once,
  minus the peak of the same process after the forward run alone.

    python experiments/grad_memory.py                  # 10,000 steps, K in none, 100, 1000
    python experiments/grad_memory.py --smoke          # 200 steps, 100 neurons (the tests)

Writes ``grad_memory.json`` to ``--out`` (default experiments/out/grad_memory/).
"""

import argparse
import json
import os
import subprocess
import sys


def measure(n_steps, n_exc, n_inh, checkpoint, run=True):
    import resource
    import time

    import jax
    import jax.numpy as jnp

    import izhijax as izj

    params = izj.izhikevich2003(jax.random.key(0), n_exc=n_exc, n_inh=n_inh)
    key = jax.random.key(1)
    loss = izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, params)
    f = lambda p: loss(izj.fit.rates_of(p, key, n_steps, checkpoint=checkpoint))
    fwd = jax.jit(f)
    grad = jax.jit(jax.grad(f))
    t = time.perf_counter()
    compiled = grad.lower(params).compile()
    compile_s = time.perf_counter() - t
    m = compiled.memory_analysis()
    out = {"checkpoint": checkpoint, "n_steps": n_steps, "n": n_exc + n_inh,
           "backend": jax.default_backend(), "compile_s": compile_s}
    if m is not None:
        out.update(temp_bytes=int(m.temp_size_in_bytes), argument_bytes=int(m.argument_size_in_bytes),
                   output_bytes=int(m.output_size_in_bytes))
        out["xla_total_mb"] = (out["temp_bytes"] + out["argument_bytes"] + out["output_bytes"]) / 2**20
    if run:
        jax.block_until_ready(fwd(params))
        rss_fwd = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        g = jax.block_until_ready(compiled(params))
        out["grad_run_s"] = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.update(peak_rss_mb=rss, peak_rss_forward_only_mb=rss_fwd,
                   rss_grad_minus_forward_mb=rss - rss_fwd,
                   grad_finite=bool(jnp.isfinite(g.bias).all()))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--checkpoints", default="none,100,1000",
                        help="comma-separated chunk lengths; 'none' stores every step")
    parser.add_argument("--no-run", action="store_true", help="compile-time accounting only")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "grad_memory"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n_steps, n_exc, n_inh = (200, 80, 20) if args.smoke else (args.steps, 800, 200)
    if args.child is not None:
        k = None if args.child == "none" else int(args.child)
        print(json.dumps(measure(n_steps, n_exc, n_inh, k, run=not args.no_run)))
        return
    results = []
    for k in args.checkpoints.split(","):
        cmd = [sys.executable, __file__, "--child", k, "--steps", str(args.steps)]
        cmd += ["--smoke"] if args.smoke else []
        cmd += ["--no-run"] if args.no_run else []
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "grad_memory.json"), "w") as f:
        json.dump({"n_steps": n_steps, "n": n_exc + n_inh, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
