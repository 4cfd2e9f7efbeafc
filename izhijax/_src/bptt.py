"""Differentiable runs: spike counts as floats through the scanned step, with gradient checkpointing.

:func:`izhijax.simulate` records spikes as booleans and counts as integers, which carry no gradient.
:func:`spike_counts` runs the same :func:`izhijax.advance` under ``lax.scan`` but keeps the spikes as
the 0/1 floats the surrogate spike function returns, so ``jax.grad`` of any function of the counts
flows back through every step. Its values are the plain run's (same spikes, same final state).

Backpropagation through ``T`` steps stores what every step needs for its backward pass: memory grows
like ``T``. With ``checkpoint=K`` the steps are scanned in chunks of ``K`` under ``jax.checkpoint``:
the backward pass keeps only the state at chunk boundaries and recomputes each chunk's steps when it
gets there, so memory grows like ``T / K + K`` (least near ``K = sqrt(T)``) for about one more
forward pass of compute. The values and gradients are the same either way.

Not jitted: compose it with ``jax.grad``, ``jax.vmap`` and ``jax.jit`` yourself (as
:func:`izhijax.fit.fit` does).
"""

import jax
import jax.numpy as jnp

from .network import advance, init_state


def spike_counts(params, key, n_steps, *, state=None, inputs=None, checkpoint=None):
    """Spike count of every neuron over a run, as differentiable floats.

    Args:
        params: :class:`izhijax.Params`.
        key: PRNG key of the run (the noise of step ``t`` is ``fold_in(key, t)``, as in simulate).
        n_steps: number of steps (static Python int).
        state: state to start from; default ``init_state(params)``.
        inputs: optional external current per step (mV/ms), shape ``(n_steps, n)``.
        checkpoint: ``None`` stores every step for the backward pass; an int ``K`` rematerialises
            the steps in chunks of ``K`` (static).

    Returns:
        ``(final_state, counts)``: the :class:`izhijax.State` after the last step and the number of
        spikes of each neuron, shape ``(n,)``, in the params' float dtype.
    """
    n_steps = int(n_steps)
    state = init_state(params) if state is None else state
    counts = jnp.zeros(params.v0.shape, params.v0.dtype)

    def one(carry, i_ext):
        state, counts = carry
        state, s, _, _ = advance(state, params, key, i_ext)
        return (state, counts + s), None

    def run(carry, inputs, length):
        return jax.lax.scan(one, carry, inputs, length=length)[0]

    carry = (state, counts)
    if checkpoint is None or int(checkpoint) >= n_steps:
        return run(carry, inputs, n_steps)
    k = int(checkpoint)
    if k < 1:
        raise ValueError(f"checkpoint must be a positive number of steps, got {checkpoint!r}")
    n_chunks, rest = divmod(n_steps, k)
    head = None if inputs is None else inputs[:n_chunks * k].reshape((n_chunks, k) + inputs.shape[1:])

    @jax.checkpoint
    def chunk(carry, chunk_inputs):
        return run(carry, chunk_inputs, k), None

    carry, _ = jax.lax.scan(chunk, carry, head, length=n_chunks)
    if rest:
        carry = run(carry, None if inputs is None else inputs[n_chunks * k:], rest)
    return carry


def spike_rates(params, key, n_steps, **kwargs):
    """Firing rate of every neuron in Hz, shape ``(n,)``, differentiable; see :func:`spike_counts`."""
    _, counts = spike_counts(params, key, n_steps, **kwargs)
    return counts / (n_steps * params.config.dt * 1e-3)
