"""Divergence: a run whose v or u become non-finite is flagged at its first bad step, never silently."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import good_params
from jax.experimental import checkify

import izhijax as izj
from izhijax._src import cli

N_STEPS = 400


@pytest.fixture(scope="module")
def unstable():
    """RS-like cells with a = 5 / ms: Euler at dt = 1 ms makes u oscillate with growing amplitude."""
    return good_params(bias=10.0).replace(a=5.0)


def _first_bad_step_of_a_loop(params, key, n_steps, t0=0, state=None):
    """Reference: a Python loop of the jitted step; first t after which v or u is non-finite."""
    step = jax.jit(izj.step)
    state = izj.init_state(params) if state is None else state
    for t in range(t0, t0 + n_steps):
        state, _ = step(state, params, key)
        if not (np.isfinite(np.asarray(state.v)).all() and np.isfinite(np.asarray(state.u)).all()):
            return t
    return -1


@pytest.mark.slow
def test_first_bad_step_equals_a_loop_of_step(unstable):
    key = jax.random.key(1)
    _, rec = izj.simulate(unstable, key, N_STEPS, on_divergence="ignore")
    expected = _first_bad_step_of_a_loop(unstable, key, N_STEPS)
    assert 0 < expected < N_STEPS
    assert int(rec.diverged_at) == expected and rec.diverged
    # Chunked and resumed runs report the same absolute step.
    _, chunked = izj.simulate(unstable, key, N_STEPS, chunk_size=100, on_divergence="ignore")
    assert int(chunked.diverged_at) == expected
    half = N_STEPS // 2
    assert half < expected
    s1, r1 = izj.simulate(unstable, key, half, on_divergence="ignore")
    _, r2 = izj.simulate(unstable, key, N_STEPS - half, state=s1, on_divergence="ignore")
    assert int(r1.diverged_at) == -1 and int(r2.diverged_at) == expected


def test_warn_raise_ignore(unstable):
    key = jax.random.key(1)
    with pytest.warns(izj.DivergenceWarning) as caught:
        _, rec = izj.simulate(unstable, key, N_STEPS)
    step = int(rec.diverged_at)
    assert len(caught) == 1 and step > 0
    assert f"diverged: v or u became NaN or infinite at step {step} (t = {step:g} ms)" in str(
        caught[0].message) and "smaller dt" in str(caught[0].message)
    with pytest.raises(izj.DivergenceError, match=f"at step {step} "):
        izj.simulate(unstable, key, N_STEPS, on_divergence="raise")
    with pytest.raises(izj.DivergenceError, match=f"at step {step} "):
        izj.simulate(unstable, key, N_STEPS, on_divergence="raise", chunk_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, quiet = izj.simulate(unstable, key, N_STEPS, on_divergence="ignore")
    assert int(quiet.diverged_at) == step
    run, _ = izj.compile_simulation(unstable, key, N_STEPS, on_divergence="raise")
    with pytest.raises(izj.DivergenceError):
        run()


def test_raise_inside_a_users_jit_through_checkify(unstable):
    key = jax.random.key(1)

    def rate(a):
        _, rec = izj.simulate(unstable.replace(a=jnp.full(4, a)), key, N_STEPS,
                              on_divergence="raise")
        return jnp.sum(rec.counts)

    checked = jax.jit(checkify.checkify(rate))
    err, _ = checked(5.0)
    with pytest.raises(checkify.JaxRuntimeError, match="diverged"):
        err.throw()
    err, count = checked(0.02)
    assert err.get() is None and int(count) > 0


def test_cli_fig3_exits_with_an_error_when_the_run_diverges(monkeypatch, tmp_path, capsys):
    real = izj.izhikevich2003
    monkeypatch.setattr(izj, "izhikevich2003",
                        lambda key, variant, **kw: real(key, n_exc=8, n_inh=2, variant=variant, **kw)
                        .replace(a=5.0, bias=10.0))
    code = cli.main(["fig3", "--duration", "500", "--out", str(tmp_path / "f.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("izhijax: error: the simulation diverged"), err
    assert not (tmp_path / "f.png").exists()


@pytest.mark.slow
def test_overhead_benchmark_smoke(tmp_path, unstable):
    import divergence_overhead
    result = divergence_overhead.main(["--smoke", "--out-dir", str(tmp_path)])
    assert [r["n"] for r in result["rows"]] == [40, 80]
    assert all(r["with_check"] > 0 and r["without_check"] > 0 for r in result["rows"])
    assert (tmp_path / "divergence_overhead.png").stat().st_size > 1000
    # The benchmark's checked loop finds the step simulate reports.
    key = jax.random.key(1)
    _, _, bad = divergence_overhead._loop(unstable, key, izj.init_state(unstable),
                                          n_steps=N_STEPS, check=True)
    _, rec = izj.simulate(unstable, key, N_STEPS, on_divergence="ignore")
    assert int(bad) == int(rec.diverged_at) > 0
