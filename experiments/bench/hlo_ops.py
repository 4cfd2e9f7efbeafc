"""Histogram of the ops of the compiled simulate loop (optimized HLO), for 0.1 and this tree.

    PYTHONPATH=/tmp/old python experiments/bench/hlo_ops.py event   # izhijax 0.1 (run outside the repo)
    python experiments/bench/hlo_ops.py event                        # this tree

Prints the package used, the op count and the histogram (event, dense or scaled = N 10,000).
"""
import sys, re, collections, jax, jax.numpy as jnp, izhijax as izj
from izhijax import __file__ as f
prop = sys.argv[1]
if prop == "scaled":
    params = izj.scaled_izhikevich2003(jax.random.key(0), 10000, 100, dtype=jnp.float32)
else:
    params = izj.izhikevich2003(jax.random.key(0), dtype=jnp.float32, propagation=prop)
if hasattr(izj, "Network"):
    from izhijax._src import engine
    from izhijax._src.simulate import _prepare
    key, state, inputs, vi, ui = _prepare(params, jax.random.key(1), 1000, None, None, [], [])
    txt = engine.run_jit.lower(params, key, state, inputs, vi, ui, n_steps=1000, record_spikes=False).compile().as_text()
else:
    from izhijax.simulate import _run, _prepare
    key, state, inputs, vi, ui = _prepare(params, jax.random.key(1), 1000, None, None, [], [])
    txt = _run.lower(params, key, state, inputs, vi, ui, n_steps=1000, record_spikes=False).compile().as_text()
ops = collections.Counter()
for line in txt.splitlines():
    m = re.match(r"\s*(ROOT )?%?[\w.\-]+ = (\w[\w\[\],{}: ]*?) (\w[\w\-]*)\(", line)
    if m: ops[m.group(3)] += 1
print(f, sum(ops.values()), sorted(ops.items()))
