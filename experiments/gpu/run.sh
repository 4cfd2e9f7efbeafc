#!/usr/bin/env bash
# GPU plan (issue 14): on a machine with one or more GPUs, under 5 minutes, one JSON.
#   bash experiments/gpu/run.sh [OUT.json]
# Installs izhijax with JAX's CUDA wheels into .venv-gpu if JAX there sees no GPU yet.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-experiments/out/gpu/gpu.json}
if [ ! -x .venv-gpu/bin/python ]; then
    python3 -m venv .venv-gpu
    .venv-gpu/bin/pip install -q -e . "jax[cuda12]>=0.10,<0.11"
fi
.venv-gpu/bin/python -c "import jax; assert jax.default_backend() == 'gpu', jax.devices()"
exec timeout 290 .venv-gpu/bin/python experiments/gpu/gpu_bench.py --out "$out"
