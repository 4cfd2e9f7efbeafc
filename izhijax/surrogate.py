"""Spike functions: an exact Heaviside step forward, a surrogate derivative backward.

The spike of a neuron is ``H(x)`` with ``x = v - v_peak`` in mV. The forward pass is the exact step
(``x >= 0``, or ``x > 0`` for PymoNNto's strict threshold), so a simulation that takes gradients emits
bit for bit the spikes of one that does not. The backward pass replaces the Dirac delta ``H'(x)`` by a
smooth bump ``sigma'(x)`` of width set by ``scale`` (in 1/mV):

=================  ====================================================  ===========================
name               surrogate derivative ``sigma'(x)``                    reference
=================  ====================================================  ===========================
fast_sigmoid       ``1 / (1 + scale |x|)^2``                             SuperSpike (Zenke & Ganguli)
sigmoid            ``4 s (1 - s)`` with ``s = sigmoid(scale x)``         (peak normalised to 1)
arctan             ``1 / (1 + (pi scale x / 2)^2)``                      snnTorch / Norse (peak 1)
triangle           ``max(0, 1 - scale |x|)``                             Esser et al. (peak 1)
straight_through   ``1``                                                 Bengio et al.
=================  ====================================================  ===========================

All are normalised to a peak of 1 at ``x = 0``; only the width changes with ``scale``. Zenke & Vogels
(2021) found the shape matters little and the scale a lot.
"""

from functools import partial

import jax
import jax.numpy as jnp


def _fast_sigmoid(x, scale):
    return 1.0 / (1.0 + scale * jnp.abs(x)) ** 2


def _sigmoid(x, scale):
    s = jax.nn.sigmoid(scale * x)
    return 4.0 * s * (1.0 - s)


def _arctan(x, scale):
    return 1.0 / (1.0 + (0.5 * jnp.pi * scale * x) ** 2)


def _triangle(x, scale):
    return jnp.maximum(0.0, 1.0 - scale * jnp.abs(x))


def _straight_through(x, scale):
    del scale
    return jnp.ones_like(x)


SURROGATES = {
    "fast_sigmoid": _fast_sigmoid,
    "sigmoid": _sigmoid,
    "arctan": _arctan,
    "triangle": _triangle,
    "straight_through": _straight_through,
}
"""Surrogate derivatives by name: ``f(x, scale) -> sigma'(x)``, each with peak 1 at ``x = 0``."""


def heaviside(x, inclusive=True):
    """The exact step, as a float array of 0 and 1: ``x >= 0`` (inclusive) or ``x > 0``."""
    return (x >= 0 if inclusive else x > 0).astype(x.dtype)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def spike(x, surrogate="fast_sigmoid", scale=1.0, inclusive=True):
    """Spike function: Heaviside forward, surrogate derivative backward.

    Args:
        x: distance to threshold, ``v - v_peak`` in mV, any shape, floating dtype.
        surrogate: name of the surrogate derivative, a key of :data:`SURROGATES` (static).
        scale: inverse width of the surrogate in 1/mV (static Python float).
        inclusive: ``True`` spikes at ``x >= 0`` (Brian2, net.m), ``False`` at ``x > 0`` (PymoNNto).

    Returns:
        0/1 array of the dtype and shape of ``x``.
    """
    del surrogate, scale
    return heaviside(x, inclusive)


@spike.defjvp
def _spike_jvp(surrogate, scale, inclusive, primals, tangents):
    (x,), (dx,) = primals, tangents
    return heaviside(x, inclusive), SURROGATES[surrogate](x, scale).astype(x.dtype) * dx
