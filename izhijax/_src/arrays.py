"""Arrays taken from users: numbers become arrays, anything else is refused by name.

``jnp.asarray(x, float)`` would turn a complex current into its real part, ``True`` into 1.0 and
``0.5`` as a neuron index into 0 (with at most a warning). These helpers convert only what converts
without loss of meaning: real numbers (integers or floats, of any precision; floats are rounded to
the requested floating dtype) and integer indices; complex, boolean, string or object values raise
a ``TypeError`` that names the field. Traced values (inside ``jit``, ``vmap``, ``grad``) are
checked on their dtype alone.

No dependency on the rest of the package, so every module may use them.
"""

import numpy as np
import jax
import jax.numpy as jnp

INT32_MAX = 2**31 - 1


def _dtype_of(x):
    """The dtype ``x`` has or would have as an array, without copying a JAX array to the host."""
    if hasattr(x, "dtype") and not isinstance(x, type):
        return np.dtype(x.dtype)
    return np.asarray(x).dtype


def real_array(x, name, dtype=None, host=False):
    """``x`` as a JAX array of real numbers, cast to ``dtype`` (default: kept, integers to the
    default float); with ``host=True`` as a NumPy array (a concrete ``x`` only).

    Args:
        x: scalar, sequence or array of integers or floats (NumPy, JAX, Python).
        name: the field's name for messages (``"weights"``, ``"inputs"``, ``"params.a"``).
        dtype: floating dtype to cast to, or None.

    Raises:
        TypeError: ``x`` holds complex, boolean, string or other non-real values, or is not an
            array of numbers at all (ragged lists, ``None``, dicts).
    """
    if isinstance(x, jax.core.Tracer):
        kind = x.dtype
    else:
        try:
            kind = _dtype_of(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__} "
                            f"({err})") from None
    if kind == np.bool_ or not (jnp.issubdtype(kind, jnp.floating)
                                or jnp.issubdtype(kind, jnp.integer)):
        what = ("complex" if jnp.issubdtype(kind, jnp.complexfloating) else
                "boolean" if kind == np.bool_ else f"non-numeric ({type(x).__name__})")
        raise TypeError(f"{name} must hold real numbers (integers or floats), got {what} "
                        f"values of dtype {kind}; convert them explicitly if that is meant")
    if isinstance(x, jax.core.Tracer):
        return x                    # never cast a traced value (that could cut its gradient)
    if dtype is None:
        dtype = (jax.dtypes.canonicalize_dtype(kind) if jnp.issubdtype(kind, jnp.floating)
                 else jnp.result_type(float))
    return np.asarray(x, dtype) if host else jnp.asarray(x, dtype)


def index_array(x, name, n):
    """Neuron indices as an ``int32`` NumPy array of shape ``(k,)``, each in ``[0, n)``.

    Args:
        x: an integer, a sequence or an array of integers (not floats, not booleans: a boolean
            mask is not a list of indices; use ``np.flatnonzero(mask)``).
        name: the field's name for messages.
        n: number of neurons the indices count.

    Raises:
        TypeError: a value is not an integer.
        ValueError: not one-dimensional, or an index outside ``[0, n)``.
    """
    if isinstance(x, jax.core.Tracer):
        raise TypeError(f"{name} must be concrete neuron indices (they fix the recording's "
                        f"shape), got a traced array")
    items = x if isinstance(x, (list, tuple)) else None
    if items is not None and any(isinstance(i, (bool, np.bool_)) for i in items):
        raise TypeError(f"{name} must hold integer neuron indices, got a boolean in {list(x)!r}")
    try:
        arr = np.asarray(x, dtype=object) if items is not None else np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must hold integer neuron indices, got {type(x).__name__} "
                        f"({err})") from None
    if arr.dtype == object:
        bad = [i for i in arr.ravel()
               if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer))]
        if bad:
            raise TypeError(f"{name} must hold integer neuron indices, got {bad[0]!r} "
                            f"({type(bad[0]).__name__})")
        values = [int(i) for i in arr.ravel()]
        out_of_range = [i for i in values if i < 0 or i >= n]
        if out_of_range:
            raise ValueError(f"{name} must hold neuron indices in [0, {n}), got "
                             f"{out_of_range[0]}")
        arr = np.asarray(values, dtype=np.int64).reshape(arr.shape)
    elif arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer neuron indices, got dtype {arr.dtype}"
                        + (" (a boolean mask? pass np.flatnonzero(mask))"
                           if arr.dtype == np.bool_ else ""))
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a sequence of neuron indices, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        bad = arr[(arr < 0) | (arr >= n)]
        raise ValueError(f"{name} must hold neuron indices in [0, {n}), got {bad[0]} "
                         f"({bad.size} of {arr.size} out of range)")
    return arr.astype(np.int32)
