"""Concurrent writers and a reader on one file: every read is one writer's whole file.

``izj.save`` writes to a unique temporary file in the target's folder and renames it over the
target (``os.replace``, atomic on POSIX), so a reader opening the path sees one complete file or
another, never a mix or a partial one, however many processes write it at once. This experiment
shows it: ``--writers`` processes (default 2) save each their own content (a network of another
size, a recording of it, a key and ``info = {"writer": i}``) to ONE path as fast as they can,
while one reader process loads that path in a loop, for ``--seconds`` seconds (default 20).
Each writer's content is made by the parent process (which also fingerprints it) and handed to
the writer as a file it loads once. ``--direct`` is the control: the writers write the same bytes
in place instead (no temporary file, no rename), and the reader then sees partial files.

Counted: reads, reads of each writer's content (the loaded checkpoint bit for bit that writer's:
every array's bytes and dtype, structure, key, info), partial or corrupt reads (any exception, or a
load equal to no writer's content), writes and failed writes per writer, and temporary files
(``.<name>.*.tmp``) left in the folder at the end. Writes ``experiments/out/concurrent_io.json``.

    python experiments/concurrent_io.py [--seconds 20] [--writers 2] [--out ...]
"""

import argparse
import glob
import hashlib
import json
import multiprocessing
import os
import queue
import shutil
import tempfile
import time


def _setup():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    jax.config.update("jax_enable_x64", True)


def content(writer):
    """What writer ``writer`` saves: a network (its size depends on ``writer``), 50 steps of its
    recording, the key, and ``info``."""
    import jax
    import jax.numpy as jnp

    import izhijax as izj
    params = izj.izhikevich2003(jax.random.key(writer), n_exc=40 + 160 * writer,
                                n_inh=10 + 40 * writer, dtype=jnp.float64)
    key = jax.random.key(100 + writer)
    _, rec = izj.simulate(params, key, 50, record_v=[0, 1])
    return dict(params=params, recording=rec, key=key, info={"writer": writer})


def fingerprint(recording=None, params=None, state=None, key=None, info=None):
    """SHA-256 of a checkpoint: the structure and every array's dtype, shape and bytes (typed keys
    by their data and implementation), and ``info``."""
    import jax
    import numpy as np
    h = hashlib.sha256()
    for part in (recording, params, state):
        leaves, tree = jax.tree_util.tree_flatten(part)
        h.update(str(tree).encode())
        for x in leaves:
            x = np.ascontiguousarray(x)
            h.update(f"{x.dtype.str}{x.shape}".encode())
            h.update(x.tobytes())
    if key is not None:
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            h.update(str(jax.random.key_impl(key)).encode())
            key = jax.random.key_data(key)
        h.update(np.asarray(key).tobytes())
    h.update(json.dumps(info, sort_keys=True).encode())
    return h.hexdigest()


def _writer(index, path, template, direct, ready, start, stop, results):
    _setup()
    import izhijax as izj
    mine = izj.load(template)._asdict()          # this writer's content, as the parent made it
    with open(template, "rb") as f:
        data = f.read()
    writes, failures, errors = 0, 0, []
    ready.put(index)
    start.wait()
    while not stop.is_set():
        try:
            if direct:                           # the control: in place, no temporary file
                with open(path, "wb") as f:
                    for at in range(0, len(data), 4096):
                        f.write(data[at:at + 4096])
            else:
                izj.save(path, **mine)
            writes += 1
        except Exception as err:           # noqa: BLE001 - every failure is counted
            failures += 1
            errors.append(f"{type(err).__name__}: {err}"[:300])
    results.put(("writer", index, {"writes": writes, "failures": failures,
                                   "errors": errors[:5]}))


def _reader(path, expected, ready, start, stop, results):
    _setup()
    import izhijax as izj
    reads, by_writer, partial, examples = 0, {}, 0, []
    ready.put("reader")
    start.wait()
    while not stop.is_set():
        try:
            saved = izj.load(path)
            found = expected.get(fingerprint(*saved))
        except Exception as err:           # noqa: BLE001 - every failure is counted
            found, problem = None, f"{type(err).__name__}: {err}"[:300]
        else:
            problem = "loaded content equal to no writer's"
        reads += 1
        if found is None:
            partial += 1
            examples.append(problem)
        else:
            by_writer[found] = by_writer.get(found, 0) + 1
    results.put(("reader", 0, {"reads": reads, "by_writer": by_writer, "partial": partial,
                               "examples": examples[:5]}))


def run(seconds=20.0, writers=2, folder=None, startup_timeout=600.0, direct=False):
    """Run ``writers`` writer processes and one reader on one path for ``seconds``.

    ``direct`` is the control: the writers write the file's bytes in place (``open(path, "wb")``,
    4 KiB at a time, no temporary file, no rename), and the reader should see partial files.

    Returns:
        dict (JSON-able): ``reads``, ``reads_by_writer`` (list, one count per writer),
        ``partial_reads`` (exceptions or loads equal to no writer's content) and examples,
        ``writes_by_writer``, ``writer_failures``, ``leftover_temp_files``, ``final_load_ok``.
    """
    _setup()
    import izhijax as izj
    own = folder is None
    folder = folder or tempfile.mkdtemp(prefix="izj_concurrent_")
    path = os.path.join(folder, "shared.npz")
    contents = [content(i) for i in range(writers)]
    expected = {fingerprint(**c): i for i, c in enumerate(contents)}
    if len(expected) != writers:
        raise RuntimeError("the writers' contents must differ")
    templates = [izj.save(os.path.join(folder, f"writer_{i}.npz"), **c)
                 for i, c in enumerate(contents)]
    izj.save(path, **contents[0])                       # the reader never finds no file
    ctx = multiprocessing.get_context("spawn")           # no fork of a process running JAX
    ready, results = ctx.Queue(), ctx.Queue()
    start, stop = ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=_writer, args=(i, path, templates[i], direct, ready, start,
                                               stop, results))
             for i in range(writers)]
    procs.append(ctx.Process(target=_reader, args=(path, expected, ready, start, stop, results)))
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=startup_timeout)
        start.set()
        time.sleep(seconds)
        stop.set()
        got = [results.get(timeout=startup_timeout) for _ in procs]
    except queue.Empty:
        raise RuntimeError("a writer or the reader did not start or finish in time") from None
    finally:
        stop.set()
        start.set()
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    report = {kind: {} for kind in ("writer", "reader")}
    for kind, index, values in got:
        report[kind][index] = values
    reader = report["reader"][0]
    leftovers = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, ".*.tmp")))
    try:
        final_ok = fingerprint(*izj.load(path)) in expected
    except ValueError:
        final_ok = False
    if own:
        shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "writers": writers, "direct": direct,
            "reads": reader["reads"],
            "reads_by_writer": [reader["by_writer"].get(i, 0) for i in range(writers)],
            "partial_reads": reader["partial"], "partial_examples": reader["examples"],
            "writes_by_writer": [report["writer"][i]["writes"] for i in range(writers)],
            "writer_failures": sum(report["writer"][i]["failures"] for i in range(writers)),
            "writer_errors": [e for i in range(writers) for e in report["writer"][i]["errors"]],
            "leftover_temp_files": leftovers, "final_load_ok": final_ok,
            "exit_codes": [p.exitcode for p in procs]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--direct", action="store_true",
                        help="control: writers write in place (no temporary file, no rename)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "out", "concurrent_io.json"))
    args = parser.parse_args()
    result = run(args.seconds, args.writers, direct=args.direct)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{'control, writing in place: ' if args.direct else ''}"
          f"{args.writers} writers and 1 reader on one path for {args.seconds:g} s: "
          f"{result['reads']} reads ({result['reads_by_writer']} of each writer's content), "
          f"{result['partial_reads']} partial or corrupt; writes {result['writes_by_writer']}, "
          f"{result['writer_failures']} failed; {len(result['leftover_temp_files'])} temporary "
          f"files left; final file loads: {result['final_load_ok']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
