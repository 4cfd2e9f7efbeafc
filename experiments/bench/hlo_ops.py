"""Histogram of the ops of the compiled simulate loop (optimized HLO), for 0.1 and this tree.

    cd /tmp && PYTHONPATH=/tmp/old python /path/to/hlo_ops.py event   # izhijax 0.1 (worktree)
    python experiments/bench/hlo_ops.py event                          # this tree

Prints the package used, the number of ops and their histogram, for the Fig. 3 network with
``event`` or ``dense`` propagation or the ``scaled`` family at N = 10,000 (1000 steps, float32,
counts only, as the benchmark). Two trees whose histograms agree compile the same loop.
"""

import collections
import re
import sys

import jax
import jax.numpy as jnp

import izhijax as izj


def compiled_text(case):
    key = jax.random.key(0)
    if case == "scaled":
        params = izj.scaled_izhikevich2003(key, 10_000, 100, dtype=jnp.float32)
    else:
        params = izj.izhikevich2003(key, dtype=jnp.float32, propagation=case)
    if hasattr(izj, "Network"):                     # 0.2: the engine
        from izhijax._src import engine
        from izhijax._src.simulate import _prepare
        loop = engine.run_jit
    else:                                           # 0.1
        from izhijax.simulate import _prepare
        from izhijax.simulate import _run as loop
    args = _prepare(params, jax.random.key(1), 1000, None, None, [], [])
    key, state, inputs, v_index, u_index = args
    lowered = loop.lower(params, key, state, inputs, v_index, u_index, n_steps=1000,
                         record_spikes=False)
    return lowered.compile().as_text()


def histogram(text):
    ops = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*(ROOT )?%?[\w.\-]+ = (\w[\w\[\],{}: ]*?) (\w[\w\-]*)\(", line)
        if m:
            ops[m.group(3)] += 1
    return ops


if __name__ == "__main__":
    ops = histogram(compiled_text(sys.argv[1] if len(sys.argv) > 1 else "event"))
    print(izj.__file__, sum(ops.values()), sorted(ops.items()))
