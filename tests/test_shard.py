"""izhijax.shard: one network over many devices equals the single-device run bit for bit.

The main pytest process has one CPU device, so the comparisons on 2, 4 and 8 devices run in a
subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (this file is also that
worker: ``python tests/test_shard.py devices``), and the multi-process comparison in two local
processes joined by ``jax.distributed`` with gloo CPU collectives (``... process I PORT OUT``).
"""

import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys

import numpy as np

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("dense", "event", "sparse", "csr", "delayed", "mixed")
FIELDS = ("spikes", "v", "u", "counts", "pop_counts", "diverged_at", "n_steps")


# --- networks and comparison (shared by the tests and the workers) ----------------------------


def make_net(kind, dtype=None):
    import jax
    import jax.numpy as jnp
    import izhijax as izj
    key = jax.random.key(0)
    if kind.endswith("+synapse_grad"):     # the gradient also through the spikes sent
        net = make_net(kind[:-len("+synapse_grad")], dtype)
        return net.replace(config=net.config.replace(synapse_grad=True))
    if kind == "dense":
        return izj.izhikevich2003(key, n_exc=80, n_inh=20, propagation="dense", dtype=dtype)
    if kind == "event":
        return izj.izhikevich2003(key, n_exc=80, n_inh=20, propagation="event", dtype=dtype)
    if kind == "sparse":
        return izj.scaled_izhikevich2003(key, 1000, k=50, dtype=dtype)
    if kind == "csr":       # the same synapses as CSR (brainevent's kernels on each device)
        return izj.connectivity.to_csr(make_net("sparse", dtype))
    if kind == "delayed":   # the sparse network with a delay of 1-10 steps per synapse; a ring of
        # 40 spikes per step, which its bursts overflow (the all-synapse arrivals)
        net = izj.scaled_izhikevich2003(key, 1000, k=50, dtype=dtype)
        post, w = np.asarray(net.weights.post), np.asarray(net.weights.w)
        pre = np.broadcast_to(np.arange(1000)[:, None], post.shape)
        keep = post < 1000
        delay = np.asarray(jax.random.randint(jax.random.key(4), post.shape, 1, 11))
        return net.replace(weights=izj.connectivity.delayed(
            pre[keep], post[keep], delay[keep], w[keep], n_pre=1000, n_post=1000, capacity=40))
    # several projections of every format and delay, onto parts of the network, 77 neurons
    # (not a multiple of 8: the dense tail rows and padding are exercised)
    dtype = jnp.float64 if dtype is None else dtype
    k = jax.random.split(key, 6)
    u = lambda i, shape: jax.random.uniform(k[i], shape, dtype)
    model = izj.Izhikevich2003()
    exc = izj.population("exc", model, 61, preset="RS", noise_amp=6.0, dtype=dtype)
    inh = izj.population("inh", model, 16, preset="FS", noise_amp=3.0, dtype=dtype)
    post = izj.wiring.fixed_probability(k[4], 61, 61, 0.2)
    projs = [
        izj.projection("exc", ("exc", "inh"), 0.6 * u(0, (77, 61)), name="e"),
        izj.projection("inh", ("exc", "inh"), izj.connectivity.event_dense(-u(1, (77, 16))),
                       delay=2, name="i"),
        izj.projection("exc", "exc", izj.wiring.sparse(post, 2.0 * u(5, post.shape), 61),
                       delay=3, name="s"),
        izj.projection(("exc", "inh"), "inh", izj.connectivity.PreScaled(
            u(2, (16, 77)), 0.3 + u(3, (77,))), name="p"),
    ]
    return izj.network([exc, inh], projs, izj.Config(noise="normal"))


def fingerprint(final, rec):
    """The recording and final state as NumPy arrays (compared with array_equal: bits)."""
    out = {f: np.asarray(getattr(rec, f)) for f in FIELDS}
    out.update({"final_" + k: np.asarray(v) for k, v in final.neurons[0].items()})
    out["final_pulse"] = np.asarray(final.pulse)
    out["final_t"] = np.asarray(final.t)
    for k, ring in enumerate(final.synapses):
        for name, x in (ring or {}).items():
            if isinstance(x, dict):         # a reward's state (Dopamine2007)
                for sub, y in x.items():
                    out[f"final_ring{k}_{name}_{sub}"] = np.asarray(y)
            else:
                out[f"final_ring{k}_{name}"] = np.asarray(x)
    return out


def differences(a, b):
    return sorted(k for k in a if not (a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                                       and np.array_equal(a[k], b[k])))


def join(first, second):
    cat = ("spikes", "v", "u", "pop_counts")
    out = dict(second)
    for k in cat:
        out[k] = np.concatenate([first[k], second[k]])
    out["counts"] = first["counts"] + second["counts"]
    out["n_steps"] = first["n_steps"] + second["n_steps"]
    d1, d2 = int(first["diverged_at"]), int(second["diverged_at"])
    out["diverged_at"] = np.asarray(d1 if d1 >= 0 else d2, np.int32)
    return out


RECORD = dict(record_v=[0, 5, 63, 76], record_u=[3, 70])
PROCESS_KINDS = ("sparse",) + (("csr",) if importlib.util.find_spec("brainevent") else ())
"""The networks run over two processes (CSR where brainevent is installed)."""
STEPS = 100


# --- the workers ---------------------------------------------------------------------------------


def _devices_worker(group):
    """One group of comparisons on 2, 4 and 8 forced CPU devices; prints one JSON line:
    ``{case: [fields that differ]}`` (empty lists: equal bit for bit) and facts about the runs."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import izhijax as izj
    import izhijax.shard  # noqa: F401  (izj.shard)
    results = {}
    key, steps = jax.random.key(1), STEPS        # a multiple of the noise block: one scan
    kinds = {"small": ("dense", "event"), "sparse": ("sparse",), "csr": ("csr",),
             "delayed": ("delayed",), "mixed": ("mixed",), "grad": ()}[group]
    for kind in kinds:
        net = make_net(kind)
        ref = fingerprint(*izj.simulate(net, key, steps, **RECORD))
        for d in (2, 4, 8) if kind != "mixed" else (8,):
            final, rec, stats = izj.shard.simulate(net, key, steps, mesh=jax.devices()[:d],
                                                   stats=True, **RECORD)
            results[f"{kind}/{d}"] = differences(ref, fingerprint(final, rec))
            results[f"{kind}/{d}/branches"] = sorted(set(int(b) for b in stats.branch))
            results[f"{kind}/{d}/ladder"] = len(stats.partition.exchange)
        if kind in ("dense", "event"):
            continue
        # chunked (chunk_size) and resumed (state=) on 4 devices equal the whole run
        mesh = jax.devices()[:4]
        if kind == "sparse":
            # chunks of 25 steps throughout (chunked, to disk, resumed): one compiled program
            final, rec = izj.shard.simulate(net, key, steps, mesh=mesh, chunk_size=25, **RECORD)
            results[f"{kind}/chunked"] = differences(ref, fingerprint(final, rec))
            # to disk in chunks of 25 steps, sharded; then the same folder resumed unsharded
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                final, rec = izj.simulate_to_disk(net, key, steps, os.path.join(tmp, "run"),
                                                  chunk_size=25, mesh=mesh, **RECORD)
                results[f"{kind}/to_disk"] = differences(ref, fingerprint(final, rec))
                chunks = sorted(f for f in os.listdir(os.path.join(tmp, "run"))
                                if f != "run.npz")
                results[f"{kind}/to_disk/chunks"] = len(chunks)
                for f in chunks[2:]:            # as after a crash: two chunks of four written
                    os.remove(os.path.join(tmp, "run", f))
                final, rec = izj.simulate_to_disk(net, key, steps, os.path.join(tmp, "run"),
                                                  chunk_size=25, **RECORD)
                results[f"{kind}/to_disk_resumed_unsharded"] = differences(
                    ref, fingerprint(final, rec))
        chunk = dict(chunk_size=25) if kind == "sparse" else {}
        f1, r1 = izj.shard.simulate(net, key, steps // 2, mesh=mesh, **chunk, **RECORD)
        f2, r2 = izj.shard.simulate(net, key, steps // 2, mesh=mesh, state=f1, **chunk, **RECORD)
        results[f"{kind}/resumed"] = differences(ref, join(fingerprint(f1, r1),
                                                           fingerprint(f2, r2)))
        results[f"{kind}/t0"] = int(r2.t0)
    if group == "delayed":      # plasticity: the polychronization network's rule, and STDP,
        # over a consolidation (1000 ms), resumed halfway; the thalamic input as an array
        from izhijax.inputs import INPUT_TAG
        for name, rule in (("Izhikevich2006", None),
                           ("STDP", izj.plasticity.STDP(w_max=10.0, a_plus=0.1, a_minus=0.12))):
            net, drive = izj.polychronization2006(jax.random.key(0), n_exc=80, n_inh=20,
                                                  synapses=10, max_delay=5, rule=rule)
            long = 1100
            input_key = jax.random.fold_in(key, INPUT_TAG)
            table = jnp.stack([drive(jnp.int32(t), input_key, net.dtype) for t in range(long)])
            ref = fingerprint(*izj.simulate(net, key, long, inputs=table, **RECORD))
            for d in ((3,) if rule is None else (4,)):
                results[f"{name}/{d}"] = differences(ref, fingerprint(*izj.shard.simulate(
                    net, key, long, inputs=drive, mesh=jax.devices()[:d], **RECORD)))
            if rule is None:
                mesh = jax.devices()[:4]
                half = long // 2        # equal halves: one compiled program
                f1, r1 = izj.shard.simulate(net, key, half, inputs=table[:half], mesh=mesh,
                                            **RECORD)
                f2, r2 = izj.shard.simulate(net, key, long - half, inputs=table[half:], state=f1,
                                            mesh=mesh, **RECORD)
                results[f"{name}/resumed"] = differences(ref, join(fingerprint(f1, r1),
                                                                   fingerprint(f2, r2)))
                learned = [k for k, p in enumerate(net.projections) if p.plasticity][0]
                results[f"{name}/learned"] = float(np.max(np.abs(
                    np.asarray(f2.synapses[learned]["w"])
                    - np.asarray(net.projections[learned].weights.w))))
        # the 2007 dopamine rule: a reward 10-30 ms after exc neuron n1 fires and n2 follows
        # within 20 ms (the pair picked below from the network's raster; the queue, the reward
        # draws and the dopamine replicated on every device, from the whole network's spikes);
        # weights updated every 10 ms
        net, drive = izj.polychronization2006(jax.random.key(0), n_exc=80, n_inh=20,
                                              synapses=10, max_delay=5)
        exc = [k for k, p in enumerate(net.projections) if p.plasticity][0]
        long = 600
        input_key = jax.random.fold_in(key, INPUT_TAG)
        table = jnp.stack([drive(jnp.int32(t), input_key, net.dtype) for t in range(long)])
        # the pair to reward: the busiest exc neuron and the neuron that most often follows it
        raster = np.asarray(izj.simulate(net, key, long, inputs=table)[1].spikes)
        n1 = int(np.argmax(raster[:, :80].sum(0)))
        after = np.zeros(raster.shape[1])
        for t in np.flatnonzero(raster[:, n1]):
            after += raster[t + 1:t + 20].any(0)
        n2 = int(np.argmax(after))
        reward = izj.plasticity.RewardPairing(n1=n1, n2=n2, delay_min=10.0, delay_span=20.0)
        rule = izj.plasticity.Dopamine2007(w_max=10.0, reward=reward)
        net = net.replace(projections=tuple(
            p.replace(plasticity=rule) if k == exc else p for k, p in enumerate(net.projections)))
        final, rec = izj.simulate(net, key, long, inputs=table, **RECORD)
        ref = fingerprint(final, rec)
        for d in (8,):
            results[f"Dopamine2007/{d}"] = differences(ref, fingerprint(*izj.shard.simulate(
                net, key, long, inputs=drive, mesh=jax.devices()[:d], **RECORD)))
        mesh = jax.devices()[:4]
        f1, r1 = izj.shard.simulate(net, key, long // 2, inputs=table[:long // 2], mesh=mesh,
                                    **RECORD)
        f2, r2 = izj.shard.simulate(net, key, long // 2, inputs=table[long // 2:], state=f1,
                                    mesh=mesh, **RECORD)
        results["Dopamine2007/resumed"] = differences(ref, join(fingerprint(f1, r1),
                                                               fingerprint(f2, r2)))
        results["Dopamine2007/rewards"] = int(final.synapses[exc]["reward"]["rewards"])
        results["Dopamine2007/learned"] = float(np.max(np.abs(
            np.asarray(final.synapses[exc]["w"]) - np.asarray(net.projections[exc].weights.w))))
    if group == "small":
        net = make_net("event", jnp.float32)
        ref = fingerprint(*izj.simulate(net, key, steps, **RECORD))
        results["float32/4"] = differences(ref, fingerprint(*izj.shard.simulate(
            net, key, steps, mesh=jax.devices()[:4], **RECORD)))
        # PymoNNto's variant: uniform noise, a delay of 2 steps (two rows of pulses in flight)
        net = izj.izhikevich2003(jax.random.key(0), n_exc=80, n_inh=20, variant="pymonnto")
        ref = fingerprint(*izj.simulate(net, key, steps, **RECORD))
        results["pymonnto/3"] = differences(ref, fingerprint(*izj.shard.simulate(
            net, key, steps, mesh=jax.devices()[:3], **RECORD)))
        # a function input, no raster: equal to the unsharded run of the same input as an array
        # (izj.simulate's function-input path itself differs from its array path in the last bit
        # where XLA folds the input's scatter into the sum)
        from izhijax.inputs import INPUT_TAG, RandomNeuron
        net = make_net("event")
        drive = RandomNeuron(net.n, 20.0, 3)
        input_key = jax.random.fold_in(key, INPUT_TAG)
        table = jnp.stack([drive(jnp.int32(t), input_key, jnp.float64) for t in range(steps)])
        ref = fingerprint(*izj.simulate(net, key, steps, inputs=table, record_spikes=False,
                                        **RECORD))
        results["function-input/4"] = differences(ref, fingerprint(*izj.shard.simulate(
            net, key, steps, inputs=drive, mesh=jax.devices()[:4], record_spikes=False,
            **RECORD)))
        # divergence: the same first bad step, warned or raised
        import warnings
        bad = make_net("dense").replace(d=1e308, bias=10.0)
        first = int(izj.simulate(bad, key, 20, on_divergence="ignore")[1].diverged_at)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = int(izj.shard.simulate(bad, key, 20, mesh=jax.devices()[:4])[1].diverged_at)
        try:
            izj.shard.simulate(bad, key, 20, mesh=jax.devices()[:4], on_divergence="raise")
            raised = False
        except izj.DivergenceError:
            raised = True
        results["divergence/4"] = [] if (first == got >= 0 and raised and any(
            issubclass(w.category, izj.DivergenceWarning) for w in caught)) else [
            f"first bad step {first} != {got}, raised {raised}"]
    if group == "mixed":        # two neuron models: each model's block split over the devices
        net = izj.thalamocortical(jax.random.key(0), n_thal=20, n_exc=80, n_inh=21)
        ref = fingerprint(*izj.simulate(net, key, steps, **RECORD))
        results["models/3"] = differences(ref, fingerprint(*izj.shard.simulate(
            net, key, steps, mesh=jax.devices()[:3], **RECORD)))
        # event-driven: the devices' fired lists merged by a sort (blocks not in global order)
        net = net.replace(projections=tuple(p.replace(weights=izj.connectivity.event_dense(
            p.weights)) for p in net.projections))
        ref = fingerprint(*izj.simulate(net, key, steps, **RECORD))
        results["models-event/8"] = differences(ref, fingerprint(*izj.shard.simulate(
            net, key, steps, mesh=jax.devices()[:8], **RECORD)))
    if group == "mixed":        # an input array, the 0/1 exchange only, a 2-D mesh
        net = make_net("mixed")
        drive = 3.0 * jax.random.uniform(jax.random.key(7), (steps, net.n), jnp.float64)
        ref = fingerprint(*izj.simulate(net, key, steps, inputs=drive, **RECORD))
        mesh = jax.sharding.Mesh(np.array(jax.devices()).reshape(2, 4), ("copies", "neurons"))
        results["inputs-mesh2d"] = differences(ref, fingerprint(*izj.shard.simulate(
            net, key, steps, inputs=drive, mesh=mesh, exchange=(), **RECORD)))
    grads = {"grad": (("mixed", (4,), {}),
                      ("delayed", (4,), dict(chunk_size=50, checkpoint=10)),
                      ("mixed+synapse_grad", (4,), {}), ("delayed+synapse_grad", (4,), {})),
             "csr": (("csr", (4,), {}),)}
    if group in grads:      # gradients through the sharded run == through izj.simulate
        for kind, devices, kw in grads[group]:
            net = make_net(kind)
            values, merge = float_leaves(net)
            sharded = {d: grad_of(net, merge, key, partial_mesh(d), **kw) for d in devices}
            (ref, ref_loss) = grad_of(net, merge, key, None, **{k: v for k, v in kw.items()
                                                                 if k == "checkpoint"})(values)
            for d, fn in sharded.items():
                got, loss = fn(values)
                bad, equal = [], 0
                for i, (a, b) in enumerate(zip(ref, got)):
                    a, b = np.asarray(a), np.asarray(b)
                    equal += int(np.array_equal(a, b))
                    if not np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(a))):
                        bad.append(f"leaf {i} {a.shape}")
                if float(loss) != float(ref_loss):
                    bad.append(f"loss {float(loss)!r} != {float(ref_loss)!r}")
                results[f"grad-{kind}/{d}"] = bad
                results[f"grad-{kind}/{d}/bitwise"] = [equal, len(ref)]
                results[f"grad-{kind}/{d}/nonzero"] = sum(
                    int(np.any(np.asarray(a) != 0)) for a in ref)
    print("RESULTS " + json.dumps(results))


def float_leaves(net):
    """The network's floating-point leaves (what a gradient is taken for) and ``merge(values)``
    that puts them back (the connectivity, integers, stays concrete)."""
    import jax
    import jax.numpy as jnp
    leaves, treedef = jax.tree_util.tree_flatten(net)
    mask = [jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) for x in leaves]

    def merge(values):
        it = iter(values)
        return treedef.unflatten([next(it) if m else x for x, m in zip(leaves, mask)])
    return [x for x, m in zip(leaves, mask) if m], merge


def partial_mesh(d):
    import jax
    return jax.devices()[:d]


def grad_of(net, merge, key, mesh, **kw):
    """``jit(value_and_grad)`` of a loss on the recording (spike counts, population counts,
    recorded v), through ``izj.shard.simulate`` on ``mesh`` or, with ``mesh=None``,
    ``izj.simulate``; returns ``values -> (gradients, loss)``."""
    import jax
    import jax.numpy as jnp
    import izhijax as izj
    import izhijax.shard  # noqa: F401

    def loss(values):
        n = merge(values)
        if mesh is None:
            _, rec = izj.simulate(n, key, STEPS, record_v=[0, 5, 63], **kw)
        else:
            _, rec = izj.shard.simulate(n, key, STEPS, mesh=mesh, record_v=[0, 5, 63], **kw)
        w = jnp.arange(rec.counts.shape[0]) / rec.counts.shape[0]
        return (jnp.sum(rec.counts * w) + jnp.sum(rec.pop_counts[:, 0] * jnp.arange(STEPS))
                / STEPS + 1e-3 * jnp.sum(rec.v ** 2))

    fn = jax.jit(jax.value_and_grad(loss))
    return lambda values: fn(values)[::-1]


def _process_worker(index, port, out):
    """One of two processes of a ``jax.distributed`` run (2 CPU devices each)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                               process_id=index, initialization_timeout=60)
    import izhijax as izj
    import izhijax.shard  # noqa: F401
    assert jax.process_count() == 2 and len(jax.devices()) == 4, jax.devices()
    for kind in PROCESS_KINDS:
        net = make_net(kind)
        final, rec = izj.shard.simulate(net, jax.random.key(1), STEPS, **RECORD)
        np.savez(os.path.join(out, f"{kind}-{index}.npz"), **fingerprint(final, rec))
    jax.distributed.shutdown()


def _env(devices):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("JAX_PLATFORMS", None)
    return env


# --- tests in this process (one device) -----------------------------------------------------------

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402

import izhijax as izj  # noqa: E402
import izhijax.shard  # noqa: E402,F401  (izj.shard)
from izhijax._src import shard as _shard  # noqa: E402
from izhijax._src.threefry import unit_noise_block  # noqa: E402


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_noise_slice_is_the_block_columns(dtype, kind):
    key = jax.random.key(3)
    full = np.asarray(unit_noise_block(key, 5, 4, 100, dtype, kind))
    for neurons in (np.arange(16), np.arange(16, 32), np.array([99, 3, 50, 0, 7, 98, 1, 2])):
        part = np.asarray(_shard.noise_slice(key, 5, 4, jnp.asarray(neurons), 100, dtype, kind))
        assert np.array_equal(part, full[:, neurons])


def test_one_device_equals_simulate():
    net = make_net("event")
    key = jax.random.key(1)
    ref = fingerprint(*izj.simulate(net, key, 60, **RECORD))
    final, rec, stats = izj.shard.simulate(net, key, 60, stats=True, **RECORD)
    assert differences(ref, fingerprint(final, rec)) == []
    assert isinstance(rec, izj.Recording) and stats.bytes.shape == (60,)


def test_from_fired_is_the_binary_search_of_the_span():
    """``_from_fired``'s counts (one reduction each, no ``searchsorted`` loop) against NumPy's
    binary search on ascending fired lists padded with ``n``."""
    rng = np.random.default_rng(0)
    n = 500
    for trial in range(40):
        k = int(rng.integers(0, 60))
        fired = np.sort(rng.choice(n, k, replace=False)).astype(np.int32)
        padded = np.concatenate([fired, np.full(64 - k, n, np.int32)])
        s0 = int(rng.integers(0, n))
        s1 = int(rng.integers(s0 + 1, n + 1))
        size = int(rng.integers(1, 20))
        idx, valid, count = _shard._from_fired(jnp.asarray(padded), s0, s1, size, n)
        p0, p1 = np.searchsorted(fired, s0), np.searchsorted(fired, s1)
        want = fired[p0:p1][:size] - s0
        assert int(count) == p1 - p0
        assert np.array_equal(np.asarray(idx)[np.asarray(valid)], want)
        assert int(np.asarray(valid).sum()) == want.size


def test_the_split_of_a_network_is_reused_and_never_stale():
    """The host split of the weights is kept for the next call with the same arrays: the same
    bits again; new weight values (another array) are split anew and give that network's run;
    the entry goes with its arrays."""
    import gc
    net = make_net("sparse")
    key = jax.random.key(1)
    runs = [fingerprint(*izj.shard.simulate(net, key, 60, **RECORD)) for _ in range(2)]
    assert len(_shard._SPLIT) == 1 and differences(runs[0], runs[1]) == []
    w2 = net.weights.w * 1.5
    net2 = net.replace(weights=dataclasses.replace(net.weights, w=w2))
    ref2 = fingerprint(*izj.simulate(net2, key, 60, **RECORD))
    assert differences(ref2, fingerprint(*izj.shard.simulate(net2, key, 60, **RECORD))) == []
    assert differences(ref2, runs[0]) != []                 # a different network indeed
    del net2, w2
    gc.collect()
    assert len(_shard._SPLIT) == 0
    # NumPy weights may change in place between calls: never kept
    host = net.replace(weights=dataclasses.replace(net.weights, w=np.array(net.weights.w)))
    izj.shard.simulate(host, key, 60, **RECORD)
    assert len(_shard._SPLIT) == 0


def test_partition_blocks_balance_and_exchange():
    net = izj.izhikevich2003(jax.random.key(0), n_exc=80, n_inh=20)
    part = izj.shard.partition(net, 3)          # 3 does not divide 100: padded to 3 x 40
    assert part.n_local == 40 and part.n_pad == 120
    assert part.blocks == (((0, 40),), ((40, 80),), ((80, 100),))
    assert part.synapses == (4000, 4000, 2000)   # dense: every entry onto the device's neurons
    assert part.balance == pytest.approx(4000 / (10000 / 3))
    assert part.exchange == _shard.default_exchange(40)
    assert part.exchange_bytes(0) == 3 * 4 + 3 * part.exchange[0] * 4
    assert part.exchange_bytes(len(part.exchange)) == 3 * 4 + 3 * 40
    assert "balance" in part.table()
    sparse = izj.scaled_izhikevich2003(jax.random.key(0), 1000, k=20)
    part = izj.shard.partition(sparse, 4)
    assert sum(part.synapses) == sparse.weights.n_synapses
    assert part.balance < 1.1
    assert izj.shard.partition(sparse, 16).blocks[-1] == ((960, 1000),)


def test_csr_split_keeps_each_targets_synapses_in_order():
    # Each device's CSR holds exactly the synapses onto its neurons, per target in the global
    # storage order (the order of the additions), padded with -0.0 weights onto its last slot
    # (rows stay sorted, so the two-thread CPU kernel stays available).
    pytest.importorskip("brainevent")
    net = izj.connectivity.to_csr(izj.scaled_izhikevich2003(jax.random.key(0), 1000, k=20))
    w = net.weights
    lay = _shard.layout(net, 4)
    spec, arrays, per, stored, _ = _shard._split_csr(w, 0, lay)
    assert spec[2] is True and sum(per) == w.n_synapses and len(set(stored)) == 1
    data, idx, ptr = (np.asarray(arrays[k][0]) for k in ("data", "indices", "indptr"))
    g_idx, g_ptr, g_data = np.asarray(w.indices), np.asarray(w.indptr), np.asarray(w.data)
    want, got = {}, {}
    for i in range(w.n_pre):
        for j in range(g_ptr[i], g_ptr[i + 1]):
            want.setdefault(int(g_idx[j]), []).append((i, g_data[j]))
        for k in range(4):
            for j in range(ptr[k, i], ptr[k, i + 1]):
                if j < per[k]:
                    target = int(lay.perm[k * lay.m + idx[k, j]])
                    got.setdefault(target, []).append((i, data[k, j]))
    assert got == want
    pad = np.concatenate([data[k, per[k]:] for k in range(4)])
    assert pad.size == 4 * stored[0] - sum(per) and np.all(np.signbit(pad)) and not pad.any()


def test_layout_splits_each_model_block_over_the_devices():
    net = izj.thalamocortical(jax.random.key(0), n_thal=20, n_exc=80, n_inh=21)
    lay = _shard.layout(net, 3)      # thalamus (one model) and cortex (another), each split in 3
    assert lay.sizes == (8, 40) and lay.m == 48 and lay.offsets == (0, 8)
    assert izj.shard.partition(net, 3).blocks == (((0, 8), (20, 60)), ((8, 16), (60, 100)),
                                                  ((16, 20), (100, 121)))
    x = np.arange(net.n) * 1.5
    assert np.array_equal(lay.to_global(lay.to_local(x)), x)
    assert np.all(lay.to_local(x)[lay.perm == net.n] == 0)
    assert np.array_equal(lay.perm[lay.slot], np.arange(net.n))
    y = np.arange(101.0)
    assert np.array_equal(lay.block_to_global(1, lay.block_to_local(1, y)), y)


def test_unsupported_and_bad_inputs_are_one_line():
    from izhijax._src.delays import to_delayed
    net = izj.izhikevich2003(jax.random.key(0), n_exc=8, n_inh=2)

    class MyReward(izj.plasticity.RewardTimes):     # a reward of the user's own
        pass

    rule = izj.plasticity.Dopamine2007(w_max=100.0, reward=MyReward(steps=(3,)))
    plastic = net.replace(projections=(net.projections[0].replace(
        weights=to_delayed(net.weights, 1), plasticity=rule),))
    with pytest.raises(NotImplementedError) as err:
        izj.shard.simulate(plastic, jax.random.key(1), 5)
    assert "\n" not in str(err.value) and "MyReward" in str(err.value)
    for n_devices in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="n_devices"):
            izj.shard.partition(net, n_devices)
    with pytest.raises(ValueError, match="axis"):
        izj.shard.simulate(net, jax.random.key(1), 5, axis="batch",
                           mesh=jax.sharding.Mesh(np.array(jax.devices()), ("neurons",)))
    with pytest.raises(ValueError, match="exchange"):
        izj.shard.simulate(net, jax.random.key(1), 5, exchange=(4, 2))
    with pytest.raises(ValueError, match="n_steps"):
        izj.shard.simulate(net, jax.random.key(1), 0)
    # traced: the connectivity must stay concrete; the values may be traced (jit, grad)
    sparse = izj.scaled_izhikevich2003(jax.random.key(0), 100, k=10)
    prescaled = sparse.replace(weights=izj.connectivity.PreScaled(sparse.weights,
                                                                  jnp.ones(sparse.n)))
    for traced in (sparse, prescaled):
        with pytest.raises(TypeError, match=r"weights\.post"):
            jax.jit(lambda p: izj.shard.simulate(p, jax.random.key(1), 5)[1].counts)(traced)
    counts = jax.jit(lambda p: izj.shard.simulate(p, jax.random.key(1), 30)[1].counts)(net)
    assert np.array_equal(counts, izj.simulate(net, jax.random.key(1), 30)[1].counts)
    with pytest.raises(ValueError, match="stats"):
        jax.grad(lambda b: izj.shard.simulate(net.replace(bias=b), jax.random.key(1), 5,
                                              stats=True)[1].counts.sum())(net.bias)
    with pytest.raises(NotImplementedError, match="plasticity"):
        jax.grad(lambda b: izj.shard.simulate(plastic.replace(bias=b), jax.random.key(1),
                                              5)[1].counts.sum())(net.bias)


# --- tests on several devices and processes (subprocesses) ----------------------------------------


def run_group(group):
    proc = subprocess.run([sys.executable, HERE, "devices", group], env=_env(8),
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    results = json.loads(lines[-1][len("RESULTS "):])
    differ = {case: fields for case, fields in results.items()
              if isinstance(fields, list) and case.count("/") < 2 and fields}
    assert differ == {}, f"sharded != unsharded: {differ}"
    return results


def used_index_exchange(results, kind, devices=(2, 4, 8)):
    """Every run used the fired-index exchange (a ladder entry) in some step."""
    return all(min(results[f"{kind}/{d}/branches"]) < results[f"{kind}/{d}/ladder"]
               for d in devices)


# One test per subprocess (so that pytest-xdist spreads them without running one twice); each
# asserts every case of its group equal bit for bit (the recording, the final state, the ring).

@pytest.mark.slow
def test_dense_and_event_on_2_4_8_devices_float32_variants_inputs_divergence():
    results = run_group("small")
    assert set(results) >= {f"{k}/{d}" for k in ("dense", "event") for d in (2, 4, 8)}
    assert {"float32/4", "pymonnto/3", "function-input/4", "divergence/4"} <= set(results)
    assert used_index_exchange(results, "dense") and used_index_exchange(results, "event")


@pytest.mark.slow
def test_sparse_on_2_4_8_devices_chunked_and_resumed():
    results = run_group("sparse")
    assert {"sparse/2", "sparse/4", "sparse/8", "sparse/chunked", "sparse/resumed",
            "sparse/to_disk", "sparse/to_disk_resumed_unsharded"} <= set(results)
    assert results["sparse/to_disk/chunks"] == 4
    assert results["sparse/t0"] == STEPS // 2
    assert used_index_exchange(results, "sparse")
    # the bursts overflow the index buffers: the 0/1 fallback ran too
    assert max(results["sparse/8/branches"]) == results["sparse/8/ladder"]


@pytest.mark.slow
def test_csr_on_2_4_8_devices_resumed_and_gradients():
    pytest.importorskip("brainevent")
    results = run_group("csr")
    assert {"csr/2", "csr/4", "csr/8", "csr/resumed", "grad-csr/4"} <= set(results)
    assert results["csr/t0"] == STEPS // 2
    assert used_index_exchange(results, "csr")
    equal, total = results["grad-csr/4/bitwise"]
    assert results["grad-csr/4/nonzero"] == total       # real gradients, the weights' included
    assert equal >= total - 1, (equal, total)


@pytest.mark.slow
def test_delayed_and_plastic_on_2_3_4_8_devices_and_resumed():
    results = run_group("delayed")
    assert {"delayed/2", "delayed/4", "delayed/8", "delayed/resumed", "Izhikevich2006/3",
            "Izhikevich2006/resumed", "STDP/4"} <= set(results)
    assert results["delayed/t0"] == STEPS // 2
    assert used_index_exchange(results, "delayed")
    assert results["Izhikevich2006/learned"] > 0.01        # the weights did change
    assert {"Dopamine2007/8", "Dopamine2007/resumed"} <= set(results)
    assert results["Dopamine2007/rewards"] >= 1            # pairings rewarded (3 in this run)
    assert results["Dopamine2007/learned"] > 0.01


@pytest.mark.slow
def test_every_format_two_models_resumed_inputs_and_2d_mesh():
    results = run_group("mixed")
    assert {"mixed/8", "mixed/resumed", "inputs-mesh2d", "models/3",
            "models-event/8"} <= set(results)


@pytest.mark.slow
def test_gradients_through_sharded_runs_equal_unsharded():
    """jax.grad through izj.shard.simulate (every format; delays chunked with checkpoint; under
    jit) == through izj.simulate, float64, every floating-point leaf of the network."""
    results = run_group("grad")      # each within 1e-12 (relative to the leaf's largest)
    assert {"grad-mixed/4", "grad-delayed/4", "grad-mixed+synapse_grad/4",
            "grad-delayed+synapse_grad/4"} <= set(results)
    for case in ("grad-mixed/4", "grad-delayed/4", "grad-mixed+synapse_grad/4",
                 "grad-delayed+synapse_grad/4"):
        equal, total = results[case + "/bitwise"]
        assert results[case + "/nonzero"] == total, case        # real gradients, not zeros
    # one chunk: bit for bit but a replicated leaf's sum over the devices
    equal, total = results["grad-mixed/4/bitwise"]
    assert equal >= total - 1, (equal, total)


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, HERE, "process", str(i), str(port), str(tmp_path)],
                              env=_env(2), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-2000:] for log in logs)
    for kind in PROCESS_KINDS:
        ref = fingerprint(*izj.simulate(make_net(kind), jax.random.key(1), STEPS, **RECORD))
        for i in range(2):
            got = dict(np.load(tmp_path / f"{kind}-{i}.npz"))
            assert differences(ref, got) == [], (kind, i)


if __name__ == "__main__":
    if sys.argv[1] == "devices":
        _devices_worker(sys.argv[2])
    else:
        _process_worker(int(sys.argv[2]), sys.argv[3], sys.argv[4])
