"""The ``izhijax`` console script, run as a user runs it."""

import os
import subprocess
import sys

import numpy as np
import pytest

import izhijax as izj

EXE = os.path.join(os.path.dirname(sys.executable), "izhijax")


def _run(*args, cwd=None):
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_fig3_writes_figure_summary_and_recording(tmp_path):
    out, save = tmp_path / "f.png", tmp_path / "run.npz"
    r = _run("fig3", "--duration", "200", "--seed", "3", "--out", str(out), "--save", str(save))
    assert r.returncode == 0, r.stderr
    for word in ("spikes", "rate exc / inh", "rhythm", "compile", "run"):
        assert word in r.stdout
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    rec, params = izj.load_run(str(save))
    assert rec.spikes.shape == (200, 1000) and params.config.n_exc == 800
    assert params.span("exc") == (0, 800) and rec.span("exc") == (0, 800)
    spikes = int(r.stdout.split("spikes")[1].split()[0])
    assert spikes == int(rec.counts.sum()) == int(np.asarray(rec.spikes).sum()) > 0


@pytest.mark.slow
def test_polychronization_run_with_groups(tmp_path):
    """Two simulated seconds with --groups: statistics, figure, and the group search's files
    equal to the library's search on the run's final state (checkpoint)."""
    run, out = tmp_path / "run", tmp_path / "p.png"
    r = _run("polychronization", "--seconds", "2", "--dir", str(run), "--groups", "--out",
             str(out), "--no-progress", "--cores", "1")
    assert r.returncode == 0, r.stderr
    assert ", 1 CPU, folder" in r.stdout                   # pinned to one core
    assert "backend numba" in r.stdout                     # the fused loop, installed with [test]
    rows = np.loadtxt(run / "stats.csv", delimiter=",", skiprows=1)
    assert rows.shape == (2, 4) and rows[:, 0].tolist() == [0, 1]
    assert f"exc {rows[-1, 1]:.2f} Hz" in r.stdout and f"inh {rows[-1, 3]:.2f} Hz" in r.stdout
    assert out.read_bytes()[:4] == b"\x89PNG"
    import json

    from izhijax._src import polychronization as pc
    from izhijax._src.groups import polychronous_groups
    import jax
    net, _ = izj.polychronization2006(jax.random.split(jax.random.key(0))[0])  # the CLI's seed 0
    ck = izj.load(str(run / "checkpoint.npz"))
    res = polychronous_groups(**pc.synapse_tables(net, ck.state))
    summary = json.loads((run / "groups.json").read_text())
    assert summary["groups"]["count"] == res.count
    assert summary["groups"]["n_triplets"] == res.n_triplets
    assert (run / "polyall.dat").read_text() == res.polyall()
    assert f"{res.count} polychronous groups ({res.n_triplets} anchor sets" in r.stdout


@pytest.mark.parametrize("args", [
    ("fig3", "--duration", "-5"),
    ("fig3", "--duration", "abc"),
    ("fig3", "--variant", "nest"),
    ("fig3", "--seed", "1.5"),
    ("fig3", "--bogus"),
    ("fig3", "--out", "/no/such/folder/f.png"),
    ("fig3", "--out", "figure.jpg"),
    ("nosuchcommand",),
    (),
    ("polychronization", "--cores", "0"),
    ("polychronization", "--cores", "4096"),
    ("polychronization", "--backend", "cuda"),
])
def test_bad_flags_one_line_exit_2(args):
    r = _run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("izhijax: error:"), r.stderr
