"""What a benchmark's output records about its run: when, on what CPU, with what, by which command."""

import datetime
import os
import platform
import sys


def run_meta(**versions):
    """``dict`` of date (UTC), processor, CPU model (Linux), CPU count, the command line and the
    given versions (``jax=jax.__version__``...)."""
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                processor=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                command=" ".join(["python"] + sys.argv), **versions)
    try:
        with open("/proc/cpuinfo") as f:
            meta["cpu_model"] = next(line.split(":", 1)[1].strip() for line in f
                                     if line.startswith("model name"))
    except (OSError, StopIteration):
        meta["cpu_model"] = meta["processor"]
    return meta
