"""Public namespace ``izhijax.inputs``: external input as a function of the step (``O(n)`` memory
for runs of hours), implemented in :mod:`izhijax._src.inputs`."""

from ._src.inputs import INPUT_TAG, Events, Function, Input, RandomNeuron, events  # noqa: F401

__all__ = ["Input", "RandomNeuron", "Events", "events", "Function", "INPUT_TAG"]
