"""Test setup: float64 everywhere (reference comparisons are exact in float64), repo paths."""

import os
import sys

import jax

jax.config.update("jax_enable_x64", True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
# experiments/reference_network.py is NumPy only and shared with the peers' reference scripts.
sys.path.insert(0, os.path.join(ROOT, "experiments"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
