"""Gradient reference from izhijax 0.1's differentiable counts (``izj.spike_rates``, the bptt path).

Run against the 0.1 tree (the commit before the engine, 57fa878), e.g.
``git worktree add /tmp/old 57fa878 && PYTHONPATH=/tmp/old python experiments/bptt_reference.py``;
writes ``tests/data/bptt_gradients.npz``: for every variant (brian2, netm, pymonnto), weight format
(dense, event) and keys 0-2, the gradient of a rate loss of a 40 + 10 neuron network through 200
steps, float64. ``tests/test_engine_grad.py`` checks that ``jax.grad`` of the same loss written on
:func:`izhijax.simulate`'s recording gives these numbers.
"""

import os
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import izhijax as izj  # noqa: E402

N_STEPS = 200
KEYS = (0, 1, 2)
FIELDS = ("a", "b", "c", "d", "noise_amp", "bias")


def loss(rates, n_exc=40):
    """A rate loss in Hz^2: targets 5 Hz (exc) and 20 Hz (inh) plus a per-neuron term."""
    return ((jnp.mean(rates[:n_exc]) - 5.0) ** 2 + (jnp.mean(rates[n_exc:]) - 20.0) ** 2
            + 1e-3 * jnp.sum(rates ** 2))


def main(out):
    data = {}
    for variant in ("brian2", "netm", "pymonnto"):
        for fmt in ("dense", "event"):
            params = izj.izhikevich2003(jax.random.key(3), n_exc=40, n_inh=10, variant=variant,
                                        dtype=jnp.float64, propagation=fmt)
            params = params.replace(bias=2.0)
            for k in KEYS:
                key = jax.random.key(100 + k)
                g = jax.grad(lambda p: loss(izj.spike_rates(p, key, N_STEPS)))(params)
                tag = f"{variant}_{fmt}_{k}"
                for f in FIELDS:
                    data[f"{tag}_{f}"] = np.asarray(getattr(g, f))
                w = g.weights
                data[f"{tag}_weights"] = np.asarray(w.w.T if fmt == "event" else w)
                data[f"{tag}_rates"] = np.asarray(izj.spike_rates(params, key, N_STEPS))
    np.savez_compressed(out, n_steps=N_STEPS, **data)
    print(f"wrote {out}: {len(data)} arrays")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(os.path.dirname(__file__), "..", "tests", "data", "bptt_gradients.npz"))
