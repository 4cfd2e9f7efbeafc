"""Synaptic propagation: how the spikes of one step become the next step's input pulse."""

import jax.numpy as jnp


def propagate(weights, spikes):
    """Synaptic pulse ``W s`` caused by this step's spikes.

    Args:
        weights: ``W[post, pre]`` in mV/ms per spike, shape ``(n_post, n_pre)``.
        spikes: 0/1 floats, shape ``(n_pre,)``.

    Returns:
        Input pulse of every postsynaptic neuron, shape ``(n_post,)``: the sum of the columns of the
        neurons that fired, as net.m's ``sum(S(:, fired), 2)``.
    """
    return jnp.dot(weights, spikes, precision="highest")
