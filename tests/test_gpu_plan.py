"""experiments/gpu/gpu_bench.py (the GPU plan) runs end to end on small sizes, on two forced CPU
devices, and its sharded section equals the one-device run."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_gpu_plan_smoke_on_two_cpu_devices(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "gpu", "gpu_bench.py"),
                           "--smoke", "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    for section in ("fig3", "scaled", "sweep", "grad", "shard"):
        assert "error" not in data[section] and "skipped" not in data[section], data[section]
    assert data["fig3"]["event"]["spikes"] == data["fig3"]["dense"]["spikes"] > 1000
    assert data["sweep"]["networks"] == 8
    assert data["shard"]["devices"] == 2 and data["shard"]["equal_counts"] is True
    assert data["shard"]["equal_v"] is True
    assert "--xla_gpu_deterministic_ops=true" in data["xla_flags"]
