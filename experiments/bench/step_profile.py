"""Where a step's time goes: interleaved A/B timings of the Fig. 3 network's step variants.

Variants, each compiled once and then timed in turn (A/B/A/B ..., medians), in one process so that
a busy machine slows them alike:

* propagation: dense ``W s`` vs event-driven (:class:`izhijax.connectivity.EventDense`) vs sparse
  event-driven (:class:`izhijax.connectivity.Sparse` holding the same all-to-all weights);
* noise: drawn per step inside the scan (``noise_block = 1``, the original formulation) vs drawn in
  vmapped blocks of steps (the default, same bits); and no noise at all (the floor of the rest of
  the step; the network then stays silent, so it also removes propagation work);
* float32 (the benchmark's dtype);
* what issue 5's second pass changed, each put back alone: the noise block drawn by the vmapped
  ``jax.random`` call (JAX lowers Threefry as a rolled loop on CPU) instead of
  :mod:`izhijax.threefry`'s unrolled rounds (the same bits); the fired neurons found by a running
  count and ``jnp.searchsorted`` (a loop of binary-search steps) instead of one ``lax.top_k``;
  and the crossing-time surrogate replaced by ``threshold_grad="voltage"`` (no backward-only work).

Writes ``step_profile.json`` and ``step_profile.png`` (microseconds per step) to ``--out``
(default ``experiments/out/step_profile``). ``--smoke`` runs 50 steps and 2 repeats.

    python experiments/bench/step_profile.py
"""

import argparse
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
import izhijax as izj  # noqa: E402
from izhijax._src import connectivity as _connectivity  # noqa: E402
from izhijax._src import engine as _engine  # noqa: E402
from izhijax._src import network as _network  # noqa: E402


def _rolled_noise(key, t0, size, n, dtype, kind):
    """The block as the first pass drew it: ``jax.random`` vmapped over the steps."""
    t = t0 + jnp.arange(size, dtype=jnp.asarray(t0).dtype)
    return jax.vmap(lambda t: _network.unit_noise(key, t, (n,), dtype, kind))(t)


def _searchsorted_fired(spikes, size):
    """Fired indices as the first pass found them: running count, binary search per slot."""
    position = jnp.cumsum(spikes != 0, dtype=jnp.int32)
    want = jnp.arange(1, size + 1, dtype=jnp.int32)
    idx = jnp.searchsorted(position, want, side="left").astype(jnp.int32)
    return jnp.minimum(idx, position.shape[0] - 1), idx < position.shape[0]


PATCHES = {
    "rolled noise": {(_engine, "unit_noise_block"): _rolled_noise},
    "searchsorted": {(_connectivity, "_fired"): _searchsorted_fired},
}


def variants():
    key = jax.random.key(0)
    dense = izj.izhikevich2003(key, dtype=jnp.float32)
    event = izj.izhikevich2003(key, dtype=jnp.float32, propagation="event")
    sparse = dense.replace(weights=izj.wiring.from_dense(dense.weights))
    silent = dict(noise="none")
    voltage = event.replace(config=event.config.replace(threshold_grad="voltage"))
    return {
        "dense, noise per step": (dense, 1),
        "dense, noise in blocks": (dense, None),
        "event, noise per step": (event, 1),
        "event, noise in blocks": (event, None),
        "sparse event, noise in blocks": (sparse, None),
        "dense, no noise": (dense.replace(config=dense.config.replace(**silent)), None),
        "event, no noise": (event.replace(config=event.config.replace(**silent)), None),
        "event, voltage surrogate": (voltage, None),
        "event, rolled-loop noise (before)": (event, None, "rolled noise"),
        "event, searchsorted fired (before)": (event, None, "searchsorted"),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments", "out", "step_profile"))
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args(argv)
    steps, repeats = (50, 2) if args.smoke else (args.steps, args.repeats)
    default_block = _engine.NOISE_BLOCK_STEPS
    runs, compile_s = {}, {}
    for name, (params, block, *patch) in variants().items():
        _engine.NOISE_BLOCK_STEPS = default_block if block is None else block
        saved = {}
        for (module, attr), value in (PATCHES[patch[0]] if patch else {}).items():
            saved[module, attr] = getattr(module, attr)
            setattr(module, attr, value)
        _engine.run_jit.clear_cache()
        try:
            runs[name], compile_s[name] = izj.compile_simulation(
                params, jax.random.key(1), steps, record_spikes=False, record_v=[])
        finally:
            for (module, attr), value in saved.items():
                setattr(module, attr, value)
    _engine.NOISE_BLOCK_STEPS = default_block
    times = {name: [] for name in runs}
    spikes = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            _, rec = run()
            jax.block_until_ready(rec.counts)
            times[name].append(time.perf_counter() - start)
            spikes[name] = int(rec.counts.sum())
    rows = {name: dict(us_per_step=1e6 * statistics.median(t) / steps,
                       us_per_step_min=1e6 * min(t) / steps, compile_s=compile_s[name],
                       spikes=spikes[name]) for name, t in times.items()}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "step_profile.json"), "w") as f:
        json.dump(dict(steps=steps, repeats=repeats, device=str(jax.devices()[0]), rows=rows), f,
                  indent=1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(rows)
    ax.barh(names, [rows[n]["us_per_step"] for n in names])
    ax.set(xlabel="microseconds per step (median)", title="Fig. 3 network step, float32")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "step_profile.png"), dpi=110)
    plt.close(fig)
    for name, row in rows.items():
        print(f"{name:32s} {row['us_per_step']:8.1f} us/step  compile {row['compile_s']:.2f} s  "
              f"spikes {row['spikes']}")
    return rows


if __name__ == "__main__":
    main()
