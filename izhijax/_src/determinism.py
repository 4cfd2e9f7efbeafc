"""Bit-for-bit reproducible runs on GPUs: XLA's deterministic scatters, switched on at import.

On a GPU, XLA adds a scatter's colliding updates (a :class:`~izhijax.connectivity.Sparse`
projection's synapses onto one target, say) with atomic additions, in whatever order the
threads arrive: the same call twice gives different float sums, and a chaotic network soon
different spikes. Measured on an NVIDIA H200 (JAX 0.11.2, float32, ``experiments/gpu/diagnose.py``,
``experiments/out/gpu/``): the scaled network of N = 100,000 run three times from the same key
gave 2,373,290, 2,374,416 and 2,379,241 spikes in one simulated second; the Fig. 3 network
(event-driven, few collisions) happened to repeat. With XLA's flag
``--xla_gpu_deterministic_ops=true`` every repeat was equal bit for bit (spike counts and final
``v``), and the sharded run equal to the one-device run, at a cost per simulated second of 1.5x
(N = 1e5: 0.16 -> 0.25 s) and 3.3x (N = 1e6: 0.21 -> 0.68 s).

izhijax promises runs reproducible from their key, so ``import izhijax`` adds that flag to
``XLA_FLAGS`` while JAX has not started a backend yet (XLA reads the variable when it does; CPU
backends ignore the flag). It leaves the variable alone where it already names the flag (either
value: ``--xla_gpu_deterministic_ops=false`` is the user's choice) or where
``IZHIJAX_GPU_DETERMINISTIC=0``. Where JAX already runs on a GPU without the flag (JAX used
before ``import izhijax``), it cannot be switched on any more: a :class:`UserWarning` says so.

This module imports nothing heavy: ``import izhijax`` stays free of JAX.
"""

import os
import sys
import warnings

FLAG = "--xla_gpu_deterministic_ops=true"
ENV = "IZHIJAX_GPU_DETERMINISTIC"


def _backends_started():
    """Whether JAX has started its backends (then ``XLA_FLAGS`` is read already)."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    if bridge is None:                      # JAX not even imported
        return False
    started = getattr(bridge, "backends_are_initialized", None)
    return True if started is None else bool(started())


def ensure():
    """Add :data:`FLAG` to ``XLA_FLAGS`` before JAX starts (see the module docstring).

    Returns ``"set"``, ``"kept"`` (the flag was named already), ``"off"`` (``IZHIJAX_GPU_DETERMINISTIC=0``)
    or ``"late"`` (JAX had started its backends; on a GPU with a warning)."""
    if os.environ.get(ENV, "1").strip() == "0":
        return "off"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" in flags:
        return "kept"
    if not _backends_started():
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
        return "set"
    import jax
    if jax.default_backend() == "gpu":
        warnings.warn(
            "izhijax: JAX started its GPU backend before izhijax was imported, without "
            f"XLA_FLAGS={FLAG}: scatter-adds on the GPU then add in no fixed order and runs are "
            f"not reproducible bit for bit. Import izhijax before using JAX, or set the flag "
            f"yourself (or {ENV}=0 to accept this and silence the warning).", UserWarning,
            stacklevel=3)
    return "late"
