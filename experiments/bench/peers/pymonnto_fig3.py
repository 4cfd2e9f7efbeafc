"""PymoNNto driver for the bench harness: its Izhikevich example (the seed's variant: RS neurons,
dt 0.5 ms, 20 U noise, dense 0.5 U / -U weights), 2000 iterations = 1000 ms. One JSON line.

The network is ``experiments/pymonnto_reference.py``'s (the seed's behaviours as they are)."""
import importlib.metadata
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from pymonnto_reference import build  # noqa: E402  (experiments/: the seed's network, one copy)


def main():

    t0 = time.perf_counter()
    net, _, _ = build(0)
    t1 = time.perf_counter()
    net.simulate_iterations(2000, measure_block_time=False)
    t2 = time.perf_counter()
    fe = np.array(net["fired", 0, "np"])
    fi = np.array(net["fired", 1, "np"])
    print(json.dumps(dict(setup_s=t1 - t0, build_s=0.0, run_s=t2 - t1, spikes=int(fe.sum() + fi.sum()),
                          rate_exc=float(fe.sum() / 800), rate_inh=float(fi.sum() / 200),
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          version=importlib.metadata.version("pymonnto"))))


if __name__ == "__main__":
    main()
