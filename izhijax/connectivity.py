"""Synaptic propagation: how the spikes of one step become the next step's input pulse."""

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class PreScaled:
    """Weights ``W[post, pre] * scale[pre]`` kept as the shared matrix and a per-presynaptic gain.

    Propagation is ``W (scale * s)``, so networks of a sweep that differ only in how strongly each
    population's synapses act (say an excitatory weight scale) share one ``W``: under ``vmap`` with
    ``matrix`` unbatched the batch's propagation is one matrix-matrix product and no network carries
    its own copy of ``W``.

    Attributes:
        matrix: ``W[post, pre]`` in mV/ms per spike, shape ``(n_post, n_pre)``.
        scale: gain of each presynaptic neuron's synapses, shape ``(n_pre,)``.
    """

    matrix: jax.Array
    scale: jax.Array

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def dtype(self):
        return self.matrix.dtype

    def dense(self):
        """The weights as one dense matrix ``W * scale[None, :]``, shape ``(n_post, n_pre)``."""
        return self.matrix * self.scale[None, :]


jax.tree_util.register_dataclass(PreScaled, data_fields=["matrix", "scale"], meta_fields=[])


def propagate(weights, spikes):
    """Synaptic pulse ``W s`` caused by this step's spikes.

    Args:
        weights: ``W[post, pre]`` in mV/ms per spike, shape ``(n_post, n_pre)``, or :class:`PreScaled`.
        spikes: 0/1 floats, shape ``(n_pre,)``.

    Returns:
        Input pulse of every postsynaptic neuron, shape ``(n_post,)``: the sum of the columns of the
        neurons that fired, as net.m's ``sum(S(:, fired), 2)``.
    """
    if isinstance(weights, PreScaled):
        return jnp.dot(weights.matrix, weights.scale * spikes, precision="highest")
    return jnp.dot(weights, spikes, precision="highest")
