"""The Izhikevich (2006) polychronization network against the original program, spike for spike.

``tests/data/poly_spnet_10s.npz`` is a run of ``poly_spnet.cpp`` (Izhikevich's C++ program, via
``experiments/polychronization/make_reference.py``): its connectivity, initial state, per-ms
stimulus, every spike of 10 s, the per-second statistics and the SHA-256 of the weights ``s`` and
eligibilities ``sd`` after every second.

Bit for bit needs the same float64 operations: XLA:CPU fuses ``a * b + c`` into one FMA on CPUs
that have it (a different rounding from the C program's separate multiply and add), so the exact
comparison runs in a subprocess with ``XLA_FLAGS=--xla_cpu_max_isa=AVX`` (no FMA instructions).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src import polychronization as pc

DATA = os.path.join(os.path.dirname(__file__), "data", "poly_spnet_10s.npz")

EXACT = textwrap.dedent("""
    import hashlib, json, sys
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import izhijax as izj
    from izhijax._src import polychronization as pc
    z = dict(np.load(sys.argv[1]))
    net, stim = pc.from_spnet(z, seconds=10)
    key = jax.random.key(0)
    state, out = izj.init_state(net), {"spikes": [], "s": [], "sd": []}
    for sec in range(10):
        state, rec = izj.simulate(net, key, 1000, state=state, inputs=stim, record_v=())
        t, i = np.nonzero(np.asarray(rec.spikes))
        out["spikes"] += [[int(a) + 1000 * sec + 1, int(b)] for a, b in zip(t, i)]
        w, _ = pc.learned_weights(net, state)
        sd = pc._table(net.projection("exc").weights, np.asarray(state.synapses[1]["sd"]))[0]
        s_full = np.concatenate([w, np.full((200, 100), -5.0)])
        sd_full = np.concatenate([sd, np.zeros((200, 100))])
        digest = lambda x: hashlib.sha256(np.ascontiguousarray(x, "<f8").tobytes()).hexdigest()
        out["s"].append(digest(s_full))
        out["sd"].append(digest(sd_full))
    _, stats = pc.run(net, stim, key, 10, progress=False)
    out["stats"] = np.stack([stats.second, stats.exc_rate, stats.strong_percent,
                             stats.inh_rate], 1).tolist()
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def dump():
    return dict(np.load(DATA))


@pytest.fixture(scope="module")
def exact(dump):
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_max_isa=AVX", JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", EXACT, DATA], capture_output=True, text=True,
                         env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_spike_for_spike_against_poly_spnet(exact, dump):
    """Every spike of 10 s at the same ms (izhijax's step t is the original's ms t + 1)."""
    got = np.asarray(exact["spikes"])
    got = got[got[:, 0] < 10000]         # the original's run ends at ms 9999
    assert got.shape[0] == dump["spike_t"].size == 48607
    np.testing.assert_array_equal(got[:, 0], dump["spike_t"])
    np.testing.assert_array_equal(got[:, 1], dump["spike_i"])


def test_weights_and_eligibilities_bitwise_every_second(exact, dump):
    assert exact["s"] == list(dump["s_sha256"])
    assert exact["sd"] == list(dump["sd_sha256"])


def test_per_second_statistics_equal_the_originals(exact, dump):
    """exc rate (Hz), % exc->exc weights above 0.9 C_max, inh rate: the original's numbers."""
    np.testing.assert_array_equal(np.asarray(exact["stats"]), dump["stats"])


def test_final_weights_table(dump):
    """Without the FMA switch too, the learned weights stay within float64 rounding of the
    original's after 10 s (the spikes here are the same; on other CPUs rounding may differ)."""
    net, stim = pc.from_spnet(dump, seconds=10)
    state, _ = izj.simulate(net, jax.random.key(0), 10000, inputs=stim, record_v=(),
                            record_spikes=False)
    w, delay = pc.learned_weights(net, state)
    np.testing.assert_allclose(w, dump["s_final_exc"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(delay, dump["delay"][:800])


def test_synapse_tables_are_the_originals_tables(dump):
    """synapse_tables gives back the program's post / delay / weight tables (the group search's
    input) from the network built from them: every synapse in its (neuron, j) place."""
    w = np.concatenate([dump["s_final_exc"], np.full((200, 100), -5.0)])
    net = pc.build(dump["post"], dump["delay"], dump["v0"], dump["u0"], weights=w,
                   dtype=jnp.float64)
    tables = pc.synapse_tables(net)
    np.testing.assert_array_equal(tables["post"], dump["post"])
    np.testing.assert_array_equal(tables["delay"], dump["delay"])
    np.testing.assert_array_equal(tables["weights"], w)
    np.testing.assert_array_equal(tables["a"], [0.02] * 800 + [0.1] * 200)
    np.testing.assert_array_equal(tables["d"], [8.0] * 800 + [2.0] * 200)
    assert tables["n_exc"] == 800 and tables["c_max"] == 10.0
    # from a state: the learned weights, where the network's own are the initial ones
    state = izj.init_state(net)
    k = net.projections.index(net.projection("exc"))
    grown = state.synapses[k]["w"] * 0.5
    state = state.replace(synapses=tuple({**syn, "w": grown} if i == k else syn
                                         for i, syn in enumerate(state.synapses)))
    np.testing.assert_array_equal(pc.synapse_tables(net, state)["weights"][:800],
                                  0.5 * dump["s_final_exc"])


def test_own_wiring_follows_the_paper():
    net, stim = izj.polychronization2006(jax.random.key(3))
    exc = net.projection("exc").weights
    inh = net.projection("inh").weights
    pre, post, delay, w = exc.synapses()
    assert exc.n_synapses == 800 * 100 and inh.n_synapses == 200 * 100
    assert np.all(np.bincount(pre, minlength=800) == 100)
    for d in range(1, 21):      # M / D = 5 synapses per delay per neuron
        assert np.all(np.bincount(pre[delay == d], minlength=800) == 5)
    assert not np.any(pre == post)                               # no self-connections
    pairs = pre.astype(np.int64) * 1000 + post
    assert np.unique(pairs).size == pairs.size                   # no duplicates
    ipre, ipost, idelay, iw = inh.synapses()
    assert np.all(ipost < 800) and np.all(idelay == 1) and np.all(iw == -5.0)
    assert np.all(w == 6.0)
    # memory: the delay table holds about one entry per synapse, not D x n x n
    assert exc.post.size == 800 * 20 * 5
    assert isinstance(stim, izj.inputs.RandomNeuron) and stim.amount == 20.0


@pytest.mark.slow
def test_resume_is_bitwise_with_delays_and_plasticity():
    """500 + 500 steps == 1000 steps, with delays, STDP and a consolidation in between."""
    net, stim = izj.polychronization2006(jax.random.key(0), rule=izj.plasticity.Izhikevich2006(
        period=300.0))
    key = jax.random.key(5)
    one, rec = izj.simulate(net, key, 1000, inputs=stim, record_v=(), record_spikes=True)
    half, r1 = izj.simulate(net, key, 500, inputs=stim, record_v=())
    two, r2 = izj.simulate(net, key, 500, state=half, inputs=stim, record_v=())
    leaves = lambda s: jax.tree_util.tree_leaves(s)
    for a, b in zip(leaves(one), leaves(two)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(rec.spikes),
                                  np.concatenate([np.asarray(r1.spikes),
                                                  np.asarray(r2.spikes)]))
    assert int(np.asarray(rec.counts).sum()) > 1000
    # the weights learned (consolidations at steps 299, 599, 899)
    assert not np.array_equal(np.asarray(one.synapses[1]["w"]),
                              np.asarray(net.projection("exc").weights.w))


@pytest.mark.slow
def test_run_folder_resumes_bit_for_bit(tmp_path):
    net, stim = izj.polychronization2006(jax.random.key(1), n_exc=80, n_inh=20, synapses=20,
                                         max_delay=5)
    key = jax.random.key(2)
    full, stats = pc.run(net, stim, key, 4, progress=False)
    path = str(tmp_path / "run")
    pc.run(net, stim, key, 2, path, checkpoint_every=1, progress=False)    # "crash" after 2 s
    again, stats2 = pc.run(net, stim, key, 4, path, checkpoint_every=1, progress=False)
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(stats.tolist()), np.asarray(stats2.tolist()))
    other, _ = izj.polychronization2006(jax.random.key(9), n_exc=80, n_inh=20, synapses=20,
                                        max_delay=5)
    with pytest.raises(ValueError, match="holds a run with another params"):
        pc.run(other, stim, key, 4, path, progress=False)


@pytest.mark.slow
def test_run_folder_is_bound_to_its_run(tmp_path):
    """A checkpoint copied from another run, or one whose header was deleted, is refused (it was
    resumed as if it were this run's); a header of another key or input is refused."""
    net, stim = izj.polychronization2006(jax.random.key(1), n_exc=80, n_inh=20, synapses=20,
                                         max_delay=5)
    key = jax.random.key(2)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    pc.run(net, stim, key, 1, a, checkpoint_every=1, progress=False)
    pc.run(net, stim, key, 1, b, checkpoint_every=1, progress=False)
    with pytest.raises(ValueError, match="holds a run with another key"):
        pc.run(net, stim, jax.random.key(3), 2, a, progress=False)
    with pytest.raises(ValueError, match="inputs_sha256"):
        pc.run(net, izj.inputs.RandomNeuron(100, 10.0), key, 2, a, progress=False)
    shutil.copy(os.path.join(b, "checkpoint.npz"), os.path.join(a, "checkpoint.npz"))
    with pytest.raises(ValueError, match="checkpoint of another run"):
        pc.run(net, stim, key, 2, a, progress=False)
    os.remove(os.path.join(b, "run.npz"))
    with pytest.raises(ValueError, match="header run.npz is missing"):
        pc.run(net, stim, key, 2, b, progress=False)
    assert not os.path.exists(os.path.join(b, "run.npz"))


@pytest.mark.slow
def test_frozen_copy_runs_as_an_ordinary_network():
    """Weights change only at consolidations: between two, the frozen copy gives the same spikes."""
    net, stim = izj.polychronization2006(jax.random.key(0), n_exc=80, n_inh=20, synapses=20,
                                         max_delay=5)
    key = jax.random.key(1)
    state, _ = izj.simulate(net, key, 1000, inputs=stim, record_v=())
    frozen, fstate = izj.freeze(net, state)
    assert frozen.projection("exc").plasticity is None
    np.testing.assert_array_equal(np.asarray(frozen.projection("exc").weights.w),
                                  np.asarray(state.synapses[1]["w"]))
    _, plastic = izj.simulate(net, key, 999, state=state, inputs=stim, record_v=())
    _, fixed = izj.simulate(frozen, key, 999, state=fstate, inputs=stim, record_v=())
    np.testing.assert_array_equal(np.asarray(plastic.spikes), np.asarray(fixed.spikes))
    assert int(np.asarray(fixed.counts).sum()) > 50


@pytest.mark.slow
def test_gradients_through_the_learned_network():
    """Finite, non-zero surrogate gradients with respect to weights, a, b, c, d through 1000
    steps of the polychronization network with frozen learned weights and delays."""
    net, stim = izj.polychronization2006(jax.random.key(0))
    state, _ = izj.simulate(net, jax.random.key(1), 2000, inputs=stim, record_v=(),
                            record_spikes=False)
    frozen, fstate = izj.freeze(net, state)
    key = jax.random.key(2)

    def loss(w_exc, a, b, c, d):
        proj = frozen.projection("exc")
        n = frozen.replace(projections=(frozen.projections[0], proj.replace(
            weights=proj.weights.replace(w=w_exc))))
        n = n.replace(a=a, b=b, c=c, d=d)
        _, rec = izj.simulate(n, key, 1000, state=fstate, inputs=stim, record_v=(),
                              record_spikes=False, checkpoint=100)
        return jnp.mean(rec.counts)

    args = (frozen.projection("exc").weights.w, frozen.a, frozen.b, frozen.c, frozen.d)
    grads = jax.grad(loss, argnums=(0, 1, 2, 3, 4))(*args)
    for name, g in zip(("w", "a", "b", "c", "d"), grads):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), name
        assert np.any(g != 0), name
    # more input weight, more spikes: the mean weight gradient is positive
    assert np.asarray(grads[0]).sum() > 0
