"""The fused CPU loop (izhijax._src.fused, ``backend="numba"``) against the original program and
against the engine, to the bit.

The engine's float64 arithmetic is the C program's only without fused multiply-adds
(``XLA_FLAGS=--xla_cpu_max_isa=AVX``, see tests/test_polychronization.py); numba does not contract
``a * b + c``, so the fused loop is compared with ``poly_spnet.cpp``'s dump in this process, and
with the engine in a subprocess run with that flag.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src import fused
from izhijax._src import polychronization as pc

pytest.importorskip("numba")
pytest.importorskip("brainevent")

DATA = os.path.join(os.path.dirname(__file__), "data", "poly_spnet_10s.npz")


def _digest(x):
    return hashlib.sha256(np.ascontiguousarray(x, "<f8").tobytes()).hexdigest()


def test_fused_loop_is_the_original_program_to_the_bit():
    """10 s of ``poly_spnet.cpp`` from its dump: every spike at the same ms, the weights ``s``
    and eligibilities ``sd`` after every second (SHA-256 of the float64 tables) and the
    per-second statistics, with no XLA flag."""
    dump = dict(np.load(DATA))
    net, stim = pc.from_spnet(dump, seconds=10)
    key = jax.random.key(0)
    state, spikes = izj.init_state(net), []
    e = jnp.zeros(0, jnp.int32)
    for sec in range(10):
        state, out = fused.run_jit(net, key, state, stim, e, e, n_steps=1000,
                                   record_spikes=True)
        t, i = np.nonzero(np.asarray(out.spikes))
        spikes.append(np.stack([t + 1000 * sec + 1, i], 1))
        w, _ = pc.learned_weights(net, state)
        sd = pc._table(net.projection("exc").weights, np.asarray(state.synapses[1]["sd"]))[0]
        assert _digest(np.concatenate([w, np.full((200, 100), -5.0)])) == dump["s_sha256"][sec]
        assert _digest(np.concatenate([sd, np.zeros((200, 100))])) == dump["sd_sha256"][sec]
    got = np.concatenate(spikes)
    got = got[got[:, 0] < 10000]         # the original's run ends at ms 9999
    assert got.shape[0] == dump["spike_t"].size == 48607
    np.testing.assert_array_equal(got[:, 0], dump["spike_t"])
    np.testing.assert_array_equal(got[:, 1], dump["spike_i"])
    _, stats = pc.run(net, stim, key, 10, progress=False, backend="numba")
    np.testing.assert_array_equal(np.stack([stats.second, stats.exc_rate, stats.strong_percent,
                                            stats.inh_rate], 1), dump["stats"])


AGAINST_ENGINE = textwrap.dedent("""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import izhijax as izj
    from izhijax._src import engine, fused

    def small(dtype, rule=True, **kw):
        return izj.polychronization2006(
            jax.random.key(4), n_exc=80, n_inh=20, synapses=20, max_delay=5, dtype=dtype,
            capacity=2, rule=izj.plasticity.Izhikevich2006(period=300.0) if rule else False, **kw)

    def compare(net, inputs, n_steps, cut, record):
        # engine for `cut` steps, then the fused loop, against the engine all the way; and the
        # fused loop all the way: every state leaf and output, bit for bit
        key = jax.random.key(7)
        vi = jnp.asarray(record, jnp.int32)
        s0 = izj.init_state(net)
        piece = lambda f, s, x, m: f(net, key, s, x, vi, vi, n_steps=m, record_spikes=True)
        ref, ref_out = piece(engine.run_jit, s0, inputs, n_steps)
        a, _ = piece(engine.run_jit, s0, inputs[:cut] if hasattr(inputs, "shape") else inputs,
                     cut) if cut else (s0, None)
        a, a_out = piece(fused.run_jit, a, None if inputs is None else (
            inputs[cut:] if hasattr(inputs, "shape") else inputs), n_steps - cut)
        b, b_out = piece(fused.run_jit, s0, inputs, n_steps)
        bad = []
        for name, x, y in (("resumed", ref, a), ("whole", ref, b)):
            for (path, p), q in zip(jax.tree_util.tree_leaves_with_path(x),
                                    jax.tree_util.tree_leaves(y)):
                if not np.array_equal(np.asarray(p), np.asarray(q)):
                    bad.append(name + jax.tree_util.keystr(path))
        for field in ("spikes", "v", "u", "pop_counts"):
            if not np.array_equal(np.asarray(getattr(ref_out, field))[cut:],
                                  np.asarray(getattr(a_out, field))):
                bad.append("resumed." + field)
        for field in ref_out._fields:
            if not np.array_equal(np.asarray(getattr(ref_out, field)),
                                  np.asarray(getattr(b_out, field))):
                bad.append("whole." + field)
        return bad, int(np.asarray(ref_out.counts).sum())

    out = {}
    net, stim = small(jnp.float64)
    out["random_f64"] = compare(net, stim, 1000, 400, [0, 5, 97])
    net32, stim32 = small(jnp.float32)
    out["random_f32"] = compare(net32, stim32, 1000, 300, [3, 80])
    ev = izj.inputs.events(np.arange(0, 1000, 3), np.arange(334) % 100, 25.0, 100)
    out["events"] = compare(net, ev, 700, 350, [1])
    dense = 6.0 * jax.random.uniform(jax.random.key(3), (600, 100), jnp.float64)
    biased = net.replace(bias=jnp.linspace(-1.0, 4.0, 100))
    out["dense_bias"] = compare(biased, dense, 600, 250, [])
    fixed, _ = small(jnp.float64, rule=False)
    model = izj.Izhikevich2003(v_peak=25.0, inclusive=False)
    other = fixed.replace(populations=tuple(p.replace(model=model) for p in fixed.populations),
                          config=fixed.config.replace(integrator="euler", dt=0.5),
                          bias=8.0)
    out["euler_fixed_none"] = compare(other, None, 800, 0, [10])
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_fused_loop_is_the_engine_to_the_bit():
    """Against the engine without FMA: a small delayed network whose spike rings overflow
    (capacity 2) with consolidations every 300 ms, float64 and float32; inputs
    RandomNeuron, Events, a dense array with a bias, and none; the Euler integrator with another
    threshold and fixed weights; a state passed from the engine to the fused loop mid-run."""
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_max_isa=AVX", JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", AGAINST_ENGINE], capture_output=True,
                         text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for case, (bad, spikes) in out.items():
        assert bad == [], (case, bad)
        assert spikes > 100, case


def test_backend_choice_and_refusals():
    net, stim = izj.polychronization2006(jax.random.key(1), n_exc=40, n_inh=10, synapses=10,
                                         max_delay=5)
    assert pc.choose_backend("auto", net, stim) == "numba"
    assert pc.choose_backend("xla", net, stim) == "xla"
    with pytest.raises(ValueError, match="backend must be one of"):
        pc.choose_backend("cuda", net, stim)
    fig3 = izj.izhikevich2003(jax.random.key(0))
    assert pc.choose_backend("auto", fig3) == "xla"
    with pytest.raises(ValueError, match="noise is 'normal'"):
        pc.choose_backend("numba", fig3)
    stdp = izj.polychronization2006(jax.random.key(1), n_exc=40, n_inh=10, synapses=10,
                                    max_delay=5, rule=izj.plasticity.STDP(w_max=10.0))[0]
    with pytest.raises(ValueError, match="projection 'exc' learns by STDP"):
        pc.choose_backend("numba", stdp)
    noisy = net.replace(config=net.config.replace(noise="normal"))
    with pytest.raises(ValueError, match="backend='numba' cannot run this network"):
        fused.run(noisy, jax.random.key(0), izj.init_state(noisy), stim, jnp.zeros(0, jnp.int32),
                  jnp.zeros(0, jnp.int32), n_steps=10)


def test_simulate_with_the_numba_backend_is_the_original():
    """``izj.simulate(..., backend="numba")`` in chunks of 700 steps: the original's spikes of
    2 s, and the recorded ``v`` before the reset (a spike's ``v`` is at or above 30 mV)."""
    dump = dict(np.load(DATA))
    net, stim = pc.from_spnet(dump, seconds=2)
    state, rec = izj.simulate(net, jax.random.key(0), 2000, inputs=stim, record_v=(0, 999),
                              chunk_size=700, backend="numba")
    t, i = np.nonzero(np.asarray(rec.spikes))
    ref = dump["spike_t"] <= 2000
    np.testing.assert_array_equal(t + 1, dump["spike_t"][ref])
    np.testing.assert_array_equal(i, dump["spike_i"][ref])
    v = np.asarray(rec.v)
    assert v.shape == (2000, 2)
    fired = np.asarray(rec.spikes)[:, [0, 999]]
    assert fired.any() and np.all(v[fired] >= 30.0) and np.all(v[~fired] < 30.0)
    assert int(state.t) == 2000


def test_simulate_refuses_what_the_numba_backend_cannot_do():
    net, stim = izj.polychronization2006(jax.random.key(1), n_exc=40, n_inh=10, synapses=10,
                                         max_delay=5)
    with pytest.raises(ValueError, match="backend must be 'xla' or 'numba'"):
        izj.simulate(net, jax.random.key(0), 10, inputs=stim, backend="gpu")
    with pytest.raises(ValueError, match="noise is 'normal'"):
        izj.simulate(izj.izhikevich2003(jax.random.key(0)), jax.random.key(0), 10,
                     backend="numba")
    with pytest.raises(ValueError, match="checkpoint is for gradients"):
        izj.simulate(net, jax.random.key(0), 10, inputs=stim, checkpoint=5, backend="numba")
    frozen, fstate = izj.freeze(net, izj.init_state(net))

    def loss(w):
        proj = frozen.projection("exc")
        n = frozen.replace(projections=(frozen.projections[0],
                                        proj.replace(weights=proj.weights.replace(w=w))))
        _, rec = izj.simulate(n, jax.random.key(0), 10, state=fstate, inputs=stim,
                              backend="numba")
        return rec.counts.sum()

    with pytest.raises(ValueError, match="computes no gradient"):
        jax.grad(loss)(frozen.projection("exc").weights.w)


def test_fused_loop_under_vmap_runs_each_network_as_alone():
    """``jax.vmap`` over keys (the input's draws): each member's final state and counts are
    those of its own run, bit for bit."""
    net, stim = izj.polychronization2006(jax.random.key(0), n_exc=80, n_inh=20, synapses=20,
                                         max_delay=5)
    state, e = izj.init_state(net), jnp.zeros(0, jnp.int32)
    keys = jax.random.split(jax.random.key(1), 3)
    batch, out = jax.vmap(lambda k: fused.run(net, k, state, stim, e, e, n_steps=300,
                                              record_spikes=False))(keys)
    counts = []
    for i in range(3):
        alone, one = fused.run_jit(net, keys[i], state, stim, e, e, n_steps=300,
                                   record_spikes=False)
        for x, y in zip(jax.tree_util.tree_leaves(batch), jax.tree_util.tree_leaves(alone)):
            np.testing.assert_array_equal(np.asarray(x)[i], np.asarray(y))
        np.testing.assert_array_equal(np.asarray(out.counts)[i], np.asarray(one.counts))
        counts.append(int(np.asarray(one.counts).sum()))
    assert min(counts) > 50 and len(set(counts)) > 1      # the keys give different runs
