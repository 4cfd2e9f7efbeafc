"""Wall time of one gradient step against one forward run, in the same process.

The forward run is :func:`izhijax.simulate` (the plain simulator, record_spikes=False); the gradient
step is ``jax.grad`` of the F1 population loss through :func:`izhijax.fit.rates_of` (one key, every
parameter of the network). Compilation is timed apart; each is the median of ``--repeats`` runs.

    python experiments/grad_timing.py                 # 1000 neurons, 1000 steps
    python experiments/grad_timing.py --smoke

Writes ``grad_timing.json`` to ``--out`` (default experiments/out/grad_timing/).
"""

import argparse
import json
import os
import time

import jax
import numpy as np

import izhijax as izj


def _time(f, repeats):
    jax.block_until_ready(f())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkpoint", type=int, default=None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "grad_timing"))
    args = parser.parse_args(argv)
    n_exc, n_inh, n_steps = (80, 20, 200) if args.smoke else (800, 200, 1000)
    repeats = 1 if args.smoke else args.repeats
    params = izj.izhikevich2003(jax.random.key(0), n_exc=n_exc, n_inh=n_inh)
    key = jax.random.key(1)
    run, compile_fwd = izj.compile_simulation(params, key, n_steps, record_spikes=False, record_v=())
    forward_s = _time(run, repeats)
    loss = izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, params)
    grad = jax.jit(jax.grad(lambda p: loss(izj.fit.rates_of(p, key, n_steps,
                                                             checkpoint=args.checkpoint))))
    t = time.perf_counter()
    compiled = grad.lower(params).compile()
    compile_grad = time.perf_counter() - t
    grad_s = _time(lambda: compiled(params), repeats)
    out = {"n": n_exc + n_inh, "n_steps": n_steps, "backend": jax.default_backend(),
           "device": str(jax.devices()[0]), "checkpoint": args.checkpoint,
           "compile_forward_s": compile_fwd, "compile_grad_s": compile_grad,
           "forward_run_s": forward_s, "grad_step_s": grad_s,
           "grad_over_forward": grad_s / forward_s}
    print(json.dumps(out, indent=1))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "grad_timing.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
