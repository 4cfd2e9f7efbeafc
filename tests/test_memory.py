"""izhijax._src.memory: byte formatting, available memory, the estimates against the arrays a run
really allocates (exactly for the recording and the state) and against XLA's accounting of the
compiled programs, and the one-line refusal of :func:`check_memory`."""

import math
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import izhijax as izj
from izhijax._src import engine, memory
from izhijax._src.memory import Estimate
from izhijax._src.network import init_state
from izhijax._src.sweep import _batch, summaries


@pytest.fixture(scope="module")
def small():
    return izj.izhikevich2003(jax.random.key(0), n_exc=80, n_inh=20)      # float64 (conftest)


def _nbytes(tree):
    return sum(int(np.asarray(x).nbytes) if not hasattr(x, "nbytes") else int(x.nbytes)
               for x in jax.tree_util.tree_leaves(tree))


def _xla(compiled):
    m = compiled.memory_analysis()
    return m.temp_size_in_bytes + m.output_size_in_bytes


def test_format_bytes_and_counts():
    assert memory.format_bytes(0) == "0 B" and memory.format_bytes(1023) == "1023 B"
    assert memory.format_bytes(1024) == "1 KiB"
    assert memory.format_bytes(int(3.5 * 2**30)) == "3.5 GiB"
    assert memory.format_bytes(int(3.2 * 2**40)) == "3.2 TiB"
    assert memory.format_bytes(5 * 2**70) == "5.12e+03 EiB"
    assert re.fullmatch(r"about 10\^\d+ EiB", memory.format_bytes(10**400))
    assert memory.format_count(123456) == "123456"
    assert memory.format_count(10**300) == "1.00e+300"
    assert memory.format_count(123456789012345678) == "1.23e+17"


def test_estimate_parts_add_and_select():
    a = Estimate({"states": 10, "noise": 5, "empty": 0})
    b = Estimate({"states": 1, "summaries": 100})
    assert int(a) == 15 and a.parts == {"states": 10, "noise": 5}
    c = a + b
    assert isinstance(c, Estimate) and int(c) == 116
    assert c.parts == {"states": 11, "noise": 5, "summaries": 100}
    assert int(c.select(("states", "noise"))) == 16
    assert a + 1 == 16 and "states" in repr(a)


def test_simulation_estimate_is_the_recording_and_states_exactly(small):
    """The recording and state parts are the bytes of the arrays a real simulate call returns;
    the whole estimate is within 25% of XLA's own accounting of the compiled run."""
    T = 300
    final, rec = izj.simulate(small, jax.random.key(1), T, record_v=(0, 1, 2), record_u=(5,))
    est = memory.simulation_bytes(small, T, n_record_v=3, n_record_u=1, record_spikes=True)
    arrays = _nbytes((rec.spikes, rec.v, rec.u, rec.counts, rec.pop_counts))
    assert est.parts["recordings"] == arrays == T * 100 + T * 4 * 8 + T * 2 * 4 + 100 * 4
    assert est.parts["states"] == 2 * _nbytes(final)
    no_raster = memory.simulation_bytes(small, T, 3, 1, record_spikes=False)
    assert est.parts["recordings"] - no_raster.parts["recordings"] == rec.spikes.nbytes
    # Differentiable: raster and counts are floats of the network's dtype.
    _, shapes = jax.eval_shape(lambda p: izj.simulate(p, jax.random.key(1), T, record_v=(0,),
                                                      differentiable=True), small)
    diff = memory.simulation_bytes(small, T, 1, 0, True, differentiable=True)
    assert diff.parts["recordings"] == sum(
        math.prod(x.shape) * x.dtype.itemsize
        for x in (shapes.spikes, shapes.v, shapes.counts, shapes.pop_counts))
    assert memory.simulation_bytes(small, T, batch=3) == 3 * memory.simulation_bytes(small, T)
    compiled = engine.run_jit.lower(small, jax.random.key(1), init_state(small), None,
                                    jnp.arange(3, dtype=jnp.int32), jnp.array([5], jnp.int32),
                                    n_steps=T, record_spikes=True).compile()
    xla = _xla(compiled)
    assert 0.75 * xla < est < 1.25 * xla, (est, xla)


def test_sweep_batch_estimate_against_xla(small):
    """One batch of a sweep: states, recordings and noise within 25% of the compiled batch."""
    B, T = 8, 400
    values = jnp.ones((B, 2), jnp.float64)
    keys = jax.random.key_data(jax.random.split(jax.random.key(0), B))
    compiled = _batch.lower(small, values, keys, None, names=("exc_weight_scale", "noise_scale"),
                            n_steps=T, apply=None, summarize=summaries, record_spikes=False,
                            impl="threefry2x32").compile()
    est = memory.sweep_bytes(small, T, B, B, n_values=2, n_keys=B)
    batch = int(est.select(("states", "recordings", "noise")))
    xla = _xla(compiled)
    assert 0.75 * xla < batch < 1.25 * xla, (est, xla)
    # Summaries of every network are kept twice (pieces and their concatenation); keys twice.
    big = memory.sweep_bytes(small, T, 10**6, B, n_values=2, n_keys=10, summary_bytes=100)
    assert big.parts["summaries"] == 2 * 10**6 * 100 and big.parts["keys"] == 2 * 10 * 8
    assert big.select(("states", "recordings", "noise")) == batch
    # A batch sharing one key's noise draws it once.
    shared = memory.sweep_bytes(small, T, B, B, n_keys=1, shared_keys=1)
    assert shared.parts["noise"] * B == est.parts["noise"]


@pytest.mark.parametrize("propagation", ["event", "dense"])
@pytest.mark.parametrize("T, checkpoint", [(200, None), (400, None), (400, 20)])
def test_fit_estimate_against_xla(small, T, checkpoint, propagation):
    """Reverse mode through T steps: the estimate within 25% of XLA's temporaries of the compiled
    value_and_grad; checkpointing every 20 steps needs less, as compiled. Event-driven weights
    (the default) are scaled through PreScaled, dense ones copied: both estimated."""
    if propagation == "dense":
        small = izj.izhikevich2003(jax.random.key(0), n_exc=80, n_inh=20, propagation="dense")
    theta, build = izj.fit.population_parameters(small)
    loss = izj.fit.population_loss({"exc": 5.0, "inh": 20.0}, small)

    def f(theta, key):
        rates = jax.vmap(lambda k: izj.fit.rates_of(build(theta), k, T, checkpoint))(
            jax.random.split(key, 2))
        return loss(rates.mean(0))

    compiled = jax.jit(jax.value_and_grad(f)).lower(theta, jax.random.key(0)).compile()
    est = memory.fit_bytes(small, T, 2, checkpoint=checkpoint)
    xla = _xla(compiled)
    assert 0.75 * xla < est < 1.25 * xla, (est, xla)
    if checkpoint:
        assert est < memory.fit_bytes(small, T, 2)
    history = memory.fit_bytes(small, T, 2, checkpoint=checkpoint, n_iters=1000, n_theta=6)
    assert history.parts["history"] == 1000 * (100 + 6 + 1) * 8


def test_network_and_state_bytes_from_shapes_alone():
    """A network of 10**6 neurons is sized without building it (4 TB of weights in float32)."""
    shapes = jax.eval_shape(lambda: izj.izhikevich2003(jax.random.key(0), n_exc=800_000,
                                                        n_inh=200_000, dtype=jnp.float32))
    assert memory.weight_bytes(shapes) == 10**12 * 4
    assert memory.network_bytes(shapes) > 10**12 * 4
    assert memory.state_bytes(shapes) == 3 * 10**6 * 4 + 4       # v, u, one row of pulses, t


def test_check_memory_message_and_switches(monkeypatch):
    monkeypatch.delenv(memory.ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 20 * 2**30)
    need = Estimate({"recordings": int(3.1 * 2**40), "states": int(0.1 * 2**40), "noise": 1})
    with pytest.raises(ValueError) as info:
        memory.check_memory(need, "sweep of 1000000 networks x 20000 steps",
                            advice="use fewer points")
    assert str(info.value) == (
        "sweep of 1000000 networks x 20000 steps needs about 3.2 TiB (recordings 3.1 TiB, "
        "states 102 GiB, noise 1 B); this machine has 20 GiB available; use fewer points "
        "(set IZHIJAX_MEMORY_CHECK=0 to try anyway)")
    memory.check_memory(18 * 2**30, "x")                   # 90% of 20 GiB fits
    with pytest.raises(ValueError, match="needs about 18.1 GiB; this machine"):
        memory.check_memory(int(18.1 * 2**30), "x")
    monkeypatch.setenv(memory.ENV, "0")
    memory.check_memory(need, "anything")                  # turned off
    monkeypatch.delenv(memory.ENV)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: None)
    memory.check_memory(need, "anything")                  # unknown: no refusal


class _Device:
    platform = "gpu"

    def __init__(self, stats):
        self.stats = stats

    def memory_stats(self):
        if isinstance(self.stats, Exception):
            raise self.stats
        return self.stats

    def __str__(self):
        return "cuda:0"


def test_available_bytes_host_and_devices(monkeypatch):
    def meminfo():
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f
                        if line.startswith("MemAvailable:"))

    has_meminfo = os.path.exists("/proc/meminfo")
    before = meminfo() if has_meminfo else None
    host = memory.available_bytes()
    assert host is not None and host > 0
    if has_meminfo:
        # The same memory read three times; other test workers allocate and free in between
        # (a CI run saw 0.3 MB more available in the second read), hence the 256 MiB slack.
        after = meminfo()
        slack = 256 * 2**20
        assert host <= max(before, after) + slack
        assert host > 0.5 * min(before, after) - slack
    assert memory.available_bytes(jax.devices("cpu")[0]) is not None
    assert memory.available_bytes(_Device({"bytes_limit": 10_000, "bytes_in_use": 2_500})) == 7_500
    assert memory.available_bytes(_Device(None)) is None
    assert memory.available_bytes(_Device(RuntimeError("not supported"))) is None
    monkeypatch.delenv(memory.ENV, raising=False)
    with pytest.raises(ValueError, match=r"; device cuda:0 has 7.32 KiB available"):
        memory.check_memory(9_000, "x", _Device({"bytes_limit": 10_000, "bytes_in_use": 2_500}))


def test_check_placed_splits_device_and_host(monkeypatch):
    monkeypatch.delenv(memory.ENV, raising=False)
    seen = []
    monkeypatch.setattr(memory, "check_memory",
                        lambda nbytes, what, device=None, fraction=0.9, advice=None:
                        seen.append((dict(nbytes.parts), device)))
    need = Estimate({"states": 1, "noise": 2, "summaries": 3})
    memory.check_placed(need, ("states", "noise"), "x", None)
    assert seen == [({"states": 1, "noise": 2, "summaries": 3}, None)]
    seen.clear()
    gpu = _Device({})
    memory.check_placed(need, ("states", "noise"), "x", gpu)
    assert seen == [({"states": 1, "noise": 2}, gpu), ({"summaries": 3}, None)]


def test_estimators_refuse_bad_sizes(small):
    with pytest.raises(ValueError, match="n_steps must be a non-negative integer, got 2.5"):
        memory.simulation_bytes(small, 2.5)
    with pytest.raises(ValueError, match="batch must be a non-negative integer, got -1"):
        memory.fit_bytes(small, 10, -1)
    # Huge requests are plain integers: no overflow, a readable message.
    est = memory.sweep_bytes(small, 10**300, 10**12)
    assert est > 10**300 and "EiB" in memory.format_bytes(est)
