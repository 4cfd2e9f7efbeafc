"""Every Python block of the README runs as written, each in a fresh interpreter.

The two shell blocks at the top (install and run, install and test) are what ``.ci/run`` runs.
"""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

with open(os.path.join(ROOT, "README.md")) as f:
    BLOCKS = re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", JAX_ENABLE_X64="0")
    proc = subprocess.run([sys.executable, "-c", BLOCKS[index]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n{proc.stderr[-3000:]}"
