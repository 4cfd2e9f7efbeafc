"""The benchmark harness runs end to end (quick mode, izhijax alone) and writes its table, JSON, plot."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_bench_quick_writes_table_json_and_plot(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "bench", "bench.py"),
                           "--quick", "--peers", "none", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((out / "bench.json").read_text())
    rows = {(r["workload"], r["label"]): r for r in data["rows"]}
    expected = {("fig3", "izhijax dense (float32)"), ("fig3", "izhijax event (float32)"),
                ("scaled", "izhijax sparse event (float32)")}
    pinned = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1
    csr = importlib.util.find_spec("brainevent") is not None
    if csr:                             # the scaled network as connectivity.CSR (brainevent)
        expected.add(("scaled", "izhijax CSR brainevent (float32)"))
    if pinned:                          # the same event-driven case pinned to one CPU
        expected.add(("fig3", "izhijax event (float32), 1 core"))
    assert set(rows) == expected
    if pinned:                          # the same program, the same spikes
        assert (rows[("fig3", "izhijax event (float32), 1 core")]["spikes"]
                == rows[("fig3", "izhijax event (float32)")]["spikes"])
    if csr:                             # the same synapses, the same spikes
        assert (rows[("scaled", "izhijax CSR brainevent (float32)")]["spikes"]
                == rows[("scaled", "izhijax sparse event (float32)")]["spikes"])
    for row in rows.values():
        assert "error" not in row, row
        assert row["run_s"] > 0 and row["compile_s"] > 0 and row["peak_rss_mb"] > 0
        # 200 quick steps = 0.2 s of a network firing at about 5-60 Hz.
        assert 2 < row["rate_exc"] < 80 and 2 < row["rate_inh"] < 80
        assert row["s_per_sim_s"] == row["run_s"] / 0.2
    table = (out / "bench.md").read_text()
    assert "izhijax event (float32)" in table and "| scaled | 1,000 |" in table
    assert (out / "bench.png").stat().st_size > 10000
    assert "done in" in (out / "bench.log").read_text()


def test_bench_rejects_an_unknown_peer(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "bench", "bench.py"),
                           "--peers", "nest", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown peers" in proc.stderr


@pytest.mark.slow
def test_step_profile_smoke(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "experiments", "bench"))
    import step_profile

    rows = step_profile.main(["--smoke", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "step_profile.json").read_text())["rows"]
    assert set(saved) == set(rows) and (tmp_path / "step_profile.png").exists()
    # Same network, key and dtype: the noise formulation does not change a single spike.
    assert rows["dense, noise per step"]["spikes"] == rows["dense, noise in blocks"]["spikes"] > 0
    assert rows["event, noise per step"]["spikes"] == rows["event, noise in blocks"]["spikes"]
    assert rows["dense, no noise"]["spikes"] == 0


@pytest.mark.slow
def test_step_profile_large_smoke(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "experiments", "bench"))
    import step_profile_large

    rows = step_profile_large.main(["--n", "2000", "--steps", "50", "--repeats", "1",
                                    "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "step_profile_large.json").read_text())["rows"]
    assert set(saved) == set(rows) and (tmp_path / "step_profile_large.md").exists()
    if "CSR (brainevent)" in rows:      # the same synapses: the same spikes
        assert rows["CSR (brainevent)"]["spikes_per_step"] == rows["Sparse"]["spikes_per_step"]
    # the stubs: unconnected (fires less than the network), finding indices changes no spike,
    # no noise and no input: silent
    assert 0 < rows["no propagation"]["spikes_per_step"] < rows["Sparse"]["spikes_per_step"]
    assert (rows["no propagation + fired indices"]["spikes_per_step"]
            == rows["no propagation"]["spikes_per_step"])
    assert rows["no noise, no propagation"]["spikes_per_step"] == 0
