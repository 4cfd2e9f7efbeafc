#!/usr/bin/env bash
# GPU plan (issue 14): on a machine with one or more GPUs, under 5 minutes, one JSON.
#   bash experiments/gpu/run.sh [OUT.json]
# Uses the first Python whose JAX sees a GPU and imports izhijax's dependencies: .venv-gpu, else
# the machine's python3 (an image with CUDA JAX and no network, say: izhijax then runs from this
# checkout through PYTHONPATH, under that image's JAX version). With neither, installs izhijax
# with JAX's CUDA wheels into .venv-gpu.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-experiments/out/gpu/gpu.json}
check='import jax, optax, matplotlib, tqdm, numpy; assert jax.default_backend() == "gpu", jax.devices()'
py=
for cand in .venv-gpu/bin/python python3; do
    if command -v "$cand" >/dev/null && "$cand" -c "$check" 2>/dev/null; then py=$cand; break; fi
done
if [ -z "$py" ]; then
    python3 -m venv .venv-gpu
    .venv-gpu/bin/pip install -q -e . "jax[cuda12]>=0.10,<0.11"
    py=.venv-gpu/bin/python
    "$py" -c "$check"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$py" -c 'import jax, platform; print("python", platform.python_version(), "jax", jax.__version__, jax.devices())'
exec timeout 290 "$py" experiments/gpu/gpu_bench.py --out "$out"
