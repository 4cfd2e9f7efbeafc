"""External input given as a function of the step, not as a ``(T, n)`` array.

A run of hours holds ``O(n)`` input memory with these: the engine calls ``inputs(t, key)`` inside
the step for the current of step ``t`` (shape ``(n,)``, in the models' current unit, mV/ms for
the 2003 model). ``key`` is ``fold_in(run key, INPUT_TAG)``: an input's randomness depends on
``(key, t)`` alone, so chunked and resumed runs see the same input, and it is independent of the
neurons' noise.

* :class:`RandomNeuron`: each step ``count`` neurons drawn at random get ``amount``
  (``spnet``'s thalamic input: one random neuron gets 20 mV/ms every ms).
* :class:`Events`: a sparse list of ``(step, neuron, amount)`` (e.g. a stimulus recorded from
  another simulator), ``O(events)`` memory.
* :class:`Function`: any pure function ``f(t, key) -> (n,)`` (static: a new function object
  compiles a new program).
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

INPUT_TAG = 0x1A9B7
"""The input key is ``jax.random.fold_in(key, INPUT_TAG)`` of the run's key."""


class Input:
    """Protocol: ``input(t, key) -> (n,)`` current of step ``t`` (``t`` an int32 scalar)."""

    n: int

    def __call__(self, t, key):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class RandomNeuron(Input):
    """``count`` neurons, uniformly at random (with replacement), get ``amount`` each step.

    Attributes:
        n: number of neurons of the network.
        amount: current given (mV/ms for the 2003 model; 20 in ``spnet``).
        count: neurons drawn per step (1).
    """

    n: int
    amount: float = 20.0
    count: int = 1

    def sparse(self, t, key, dtype=None):
        """The input of step ``t`` as events: ``(neurons, amounts)``, ``(count,)`` each; the
        current is ``zeros(n).at[neurons].add(amounts)``."""
        dtype = jnp.result_type(float) if dtype is None else dtype
        idx = jax.random.randint(jax.random.fold_in(key, t), (self.count,), 0, self.n)
        return idx.astype(jnp.int32), jnp.full((self.count,), self.amount, dtype)

    def __call__(self, t, key, dtype=None):
        idx, amt = self.sparse(t, key, dtype)
        return jnp.zeros(self.n, amt.dtype).at[idx].add(amt)


jax.tree_util.register_dataclass(RandomNeuron, data_fields=[],
                                 meta_fields=["n", "amount", "count"])


@dataclasses.dataclass(frozen=True)
class Events(Input):
    """Input as a sparse list of events: at step ``steps[i]`` neuron ``neurons[i]`` gets
    ``amounts[i]`` (summed where one step lists a neuron twice).

    Build with :func:`events`. Attributes: ``steps`` (sorted int32 ``(E,)``), ``neurons`` (int32
    ``(E,)``), ``amounts`` (float ``(E,)``), ``n`` (static), ``per_step`` (static, the most
    events of one step).
    """

    steps: jax.Array
    neurons: jax.Array
    amounts: jax.Array
    n: int = 0
    per_step: int = 1

    def sparse(self, t, key=None, dtype=None):
        """The events of step ``t``: ``(neurons, amounts)``, ``(per_step,)`` each (padding:
        neuron ``n``, amount 0); the current is ``zeros(n).at[neurons].add(amounts,
        mode="drop")``."""
        dtype = self.amounts.dtype if dtype is None else dtype
        e = self.steps.shape[0]
        t = jnp.asarray(t)
        lo = jnp.searchsorted(self.steps, t.astype(self.steps.dtype), side="left")
        idx = lo + jnp.arange(self.per_step)
        ok = (idx < e) & (self.steps[jnp.minimum(idx, e - 1)] == t)
        idx = jnp.minimum(idx, e - 1)
        tgt = jnp.where(ok, self.neurons[idx], self.n)
        return tgt.astype(jnp.int32), jnp.where(ok, self.amounts[idx], 0).astype(dtype)

    def __call__(self, t, key, dtype=None):
        tgt, amt = self.sparse(t, key, dtype)
        return jnp.zeros(self.n, amt.dtype).at[tgt].add(amt, mode="drop")


jax.tree_util.register_dataclass(Events, data_fields=["steps", "neurons", "amounts"],
                                 meta_fields=["n", "per_step"])


def events(steps, neurons, amounts, n, *, dtype=None) -> Events:
    """Build :class:`Events` from lists (sorted here by step, stably).

    Args:
        steps: step index of each event, integers >= 0, ``(E,)``.
        neurons: neuron receiving it, integers in ``[0, n)``, ``(E,)``.
        amounts: current, a scalar or ``(E,)``.
        n: number of neurons of the network.
        dtype: float dtype (default JAX's default float).
    """
    steps, neurons = np.asarray(steps), np.asarray(neurons)
    for name, arr in (("steps", steps), ("neurons", neurons)):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
            raise TypeError(f"inputs {name} must be a 1-d integer array, got dtype {arr.dtype} "
                            f"shape {arr.shape}")
    if steps.shape != neurons.shape:
        raise ValueError(f"inputs steps and neurons must have the same length, got "
                         f"{steps.shape[0]} and {neurons.shape[0]}")
    if steps.size and steps.min() < 0:
        raise ValueError(f"inputs steps must be >= 0, got {steps.min()}")
    if steps.size and (neurons.min() < 0 or neurons.max() >= n):
        raise ValueError(f"inputs neurons must lie in [0, {n}), got "
                         f"[{neurons.min()}, {neurons.max()}]")
    amounts = np.broadcast_to(np.asarray(amounts), steps.shape)
    if not np.issubdtype(amounts.dtype, np.number) or np.iscomplexobj(amounts):
        raise TypeError(f"inputs amounts must be real numbers, got dtype {amounts.dtype}")
    order = np.argsort(steps, kind="stable")
    per = int(np.bincount(steps).max()) if steps.size else 1
    dtype = jnp.result_type(float) if dtype is None else dtype
    if steps.size == 0:
        steps, neurons, amounts = np.array([-1]), np.array([0]), np.array([0.0])
        order = np.array([0])
    return Events(steps=jnp.asarray(steps[order], jnp.int32),
                  neurons=jnp.asarray(neurons[order], jnp.int32),
                  amounts=jnp.asarray(amounts[order], dtype), n=int(n), per_step=per)


@dataclasses.dataclass(frozen=True)
class Function(Input):
    """A pure function ``fn(t, key) -> (n,)`` as an input (static)."""

    fn: Callable
    n: int = 0

    def __call__(self, t, key, dtype=None):
        out = self.fn(t, key)
        return out if dtype is None else out.astype(dtype)


jax.tree_util.register_dataclass(Function, data_fields=[], meta_fields=["fn", "n"])


def as_input(inputs, n):
    """An :class:`Input` from an ``Input`` or a plain callable (else ``None``: an array)."""
    if isinstance(inputs, Input):
        return inputs
    if callable(inputs) and not hasattr(inputs, "shape"):
        return Function(inputs, n)
    return None


def check_input(inputs, n, dtype, name="inputs"):
    """Call the input once abstractly: it must give a real ``(n,)`` array for ``(t, key)``."""
    key = jax.random.key(0)
    try:
        out = jax.eval_shape(lambda t: inputs(t, key), jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as err:    # the user's function failed: say where
        raise TypeError(f"{name}(t, key) failed for an int32 step t and a PRNG key: "
                        f"{type(err).__name__}: {err}") from None
    if not hasattr(out, "shape") or tuple(out.shape) != (n,):
        raise ValueError(f"{name}(t, key) must return the current of every neuron, shape "
                         f"({n},), got {getattr(out, 'shape', type(out).__name__)}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"{name}(t, key) must return floats, got dtype {out.dtype}")
    if getattr(inputs, "n", n) not in (0, n):
        raise ValueError(f"{name}.n is {inputs.n}, the network has {n} neurons")
    return inputs
