"""Reference data from Izhikevich's original C++ program of the polychronization network (2006).

Compiles ``poly_spnet_dump.cpp`` (next to this file: a modified copy of the original
``poly_spnet.cpp`` that keeps its arithmetic and writes binary dumps, MIT, see ``LICENSE.INM-6``)
with ``g++ -O2 -ffp-contract=off`` into ``experiments/polychronization/build/`` (git-ignored), runs it
and packs ``tests/data/poly_spnet_10s.npz``. Regenerate it from the repository root with::

    .venv/bin/python experiments/polychronization/make_reference.py

(about 1 s; 10 simulated seconds). Other uses::

    # also build the UNMODIFIED anchor program (only its 5 h loop count patched to the same number
    # of seconds) and check that it writes the same dat.dat, spikes.dat, all.dat (and polyall.dat):
    .venv/bin/python experiments/polychronization/make_reference.py --check-unmodified
    # re-simulate the dumped run in plain NumPy from the dumped inputs (spikes and weights must match
    # bit for bit; documents the program's order of operations and its delay convention):
    .venv/bin/python experiments/polychronization/make_reference.py --check-replay
    # a long run without packing (dumps stay in --dump-dir), weights every 100 s, group search:
    .venv/bin/python experiments/polychronization/make_reference.py --seconds 18000 --every 100 \\
        --search --no-pack --dump-dir experiments/polychronization/build/run_5h

From Python (``sys.path.insert(0, "experiments/polychronization")``)::

    from make_reference import run_original
    d = run_original(18000, "experiments/polychronization/build/run_5h", search=True, every=100)
    d["spike_t"], d["spike_i"], d["stats"], d["s"][-1], d["groups"]

npz contents (``np.savez_compressed``; N = 1000 neurons, M = 100 synapses each, S = 10 seconds):

- ``post`` (int16, [N, M]): target of synapse (i, j), ``post[i][j]``;
- ``delay`` (int8, [N, M]): its axonal delay in ms, ``dd + 1`` where ``delays[i][dd][k] == j``
  (excitatory 1..20, five synapses per value, j = 5 (delay - 1) .. 5 delay - 1; inhibitory 1);
- ``v0``, ``u0`` (float64, [N]): the state after ``initialize()``;
- ``stim`` (int16, [S * 1000]): the neuron that gets I = 20 in each ms (one ``rand()`` per ms);
- ``spike_t`` (int32), ``spike_i`` (int16): every spike of the run in the program's order, labelled
  ``sec * 1000 + t`` as the program records it: in the iteration t where it SEES v >= 30, i.e. one
  ms after the update that crossed (that update belongs to iteration t - 1; a crossing in the last
  update of a second is labelled with the next second's t = 0);
- ``stats`` (float64, [S, 4]): per second ``sec, exc rate (Hz), str, inh rate (Hz)``, the
  program's dat.dat in full precision; rates count the spikes by label; ``str = 100 * (number of
  exc->exc synapses with s > 9) / (800 * 100)`` (the denominator counts exc->inh synapses too);
- ``s_sha256``, ``sd_sha256`` (str, [S]): SHA-256 (hex) of the bytes of the float64 little-endian
  C-order [N, M] arrays s and sd after that second's end-of-second update (+0.0 and -0.0 differ);
- ``s_sum``, ``sd_sum`` (float64, [S]): ``np.sum`` of those arrays (diagnosis only);
- ``s_final_exc``, ``sd_final_exc`` (float64, [800, M]): s and sd of the excitatory rows after the
  last second's update -- only if the file stays under ``--max-bytes`` (1.5 MB) with them;
- ``seconds``, ``n_spikes`` (int); ``cxxflags``, ``compiler``, ``source_sha256`` (of
  ``poly_spnet_dump.cpp``), ``machine`` (str).

Last run on Linux x86_64, g++ 12.2.0 (Debian 12), glibc ``rand()`` (``RAND_MAX`` 2^31 - 1): the
stimulus and the connectivity come from glibc's ``rand()`` after ``srand(0)``, so another C library
gives another network.
"""

import argparse
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SRC = HERE / "poly_spnet_dump.cpp"
BUILD = HERE / "build"  # git-ignored (".gitignore": build/)
ANCHOR = Path(
    os.environ.get(
        "IZHIJAX_POLY_ANCHOR", REPO.parent / "shared/anchors/polychronization/poly_spnet.cpp"
    )
)
OUT = REPO / "tests/data/poly_spnet_10s.npz"
CXX = os.environ.get("CXX", "g++")
# -ffp-contract=off: no fused multiply-add, so that a compiler targeting a CPU with FMA (aarch64 does
# by default) computes what x86-64's plain -O2 computes; on x86-64 it changes nothing (checked
# against the unmodified program built with plain -O2, see --check-unmodified).
CXXFLAGS = ["-O2", "-ffp-contract=off"]
N, NE, M, D = 1000, 800, 100, 20
DUMP_FILES = (
    "post.i32 delay.i32 v0.f64 u0.f64 stim.i32 spikes.i32 s.f64 sd.f64 wsec.i32 wsum.f64 stats.txt"
    " meta.txt dat.dat spikes.dat spikest.dat final_all.dat polyall.dat groups.txt stdout.log"
).split()


def _clear(directory, names):
    """Remove the files ``names`` from ``directory`` (only those: never a whole tree)."""
    for name in names:
        (Path(directory) / name).unlink(missing_ok=True)


def _sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def compile_dump(build_dir=BUILD, flags=CXXFLAGS):
    """Build ``poly_spnet_dump`` (once per source and flags) and return the executable's path."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha256((_sha256_file(SRC) + " ".join(flags)).encode()).hexdigest()[:12]
    exe = build_dir / f"poly_spnet_dump-{tag}"
    if not exe.exists():
        tmp = exe.with_suffix(".tmp")
        subprocess.run([CXX, *flags, "-o", str(tmp), str(SRC)], check=True)
        tmp.replace(exe)
    return exe


def read_dump(outdir):
    """Parse the files the dump program wrote into ``outdir`` (see README.md) into a dict.

    ``s`` and ``sd`` ([R, N, M] float64, one row per weight record, seconds in ``weight_seconds``)
    are read-only memory maps, so that long runs stay cheap.
    """
    outdir = Path(outdir)
    meta = {}
    for line in (outdir / "meta.txt").read_text().splitlines():
        key, _, val = line.partition(" ")
        meta[key] = val
    n, m = int(meta["N"]), int(meta["M"])
    seconds = int(meta["seconds"])
    spikes = np.fromfile(outdir / "spikes.i32", dtype="<i4").reshape(-1, 2)
    wsec = np.fromfile(outdir / "wsec.i32", dtype="<i4")
    r = len(wsec)
    d = dict(
        outdir=outdir,
        meta=meta,
        seconds=seconds,
        post=np.fromfile(outdir / "post.i32", dtype="<i4").reshape(n, m),
        delay=np.fromfile(outdir / "delay.i32", dtype="<i4").reshape(n, m),
        v0=np.fromfile(outdir / "v0.f64", dtype="<f8"),
        u0=np.fromfile(outdir / "u0.f64", dtype="<f8"),
        stim=np.fromfile(outdir / "stim.i32", dtype="<i4"),
        spike_t=np.ascontiguousarray(spikes[:, 0]),
        spike_i=np.ascontiguousarray(spikes[:, 1]),
        stats=np.loadtxt(outdir / "stats.txt", dtype=np.float64, ndmin=2),
        weight_seconds=wsec,
        s=np.memmap(outdir / "s.f64", dtype="<f8", mode="r", shape=(r, n, m)),
        sd=np.memmap(outdir / "sd.f64", dtype="<f8", mode="r", shape=(r, n, m)),
        wsum_c=np.fromfile(outdir / "wsum.f64", dtype="<f8").reshape(-1, 2),
        groups=None,
        polyall=None,
    )
    assert d["stim"].shape == (seconds * 1000,)
    assert d["stats"].shape == (seconds, 4)
    assert len(d["spike_t"]) == int(meta["n_spikes"])
    if (outdir / "groups.txt").exists():
        d["groups"] = int((outdir / "groups.txt").read_text())
        d["polyall"] = outdir / "polyall.dat"
    return d


def run_original(seconds, outdir, search=False, every=1, build_dir=BUILD):
    """Run the original program (dump version) for ``seconds`` simulated seconds into ``outdir``.

    ``search``: run its polychronous-group search at the end (``groups``: the count, ``polyall``:
    the path of its polyall.dat). ``every``: keep the weights of every ``every``-th second (and the
    last one). The program's console output goes to ``outdir/stdout.log``. Returns ``read_dump``'s
    dict.
    """
    exe = compile_dump(build_dir)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    _clear(outdir, DUMP_FILES)  # e.g. a groups.txt of an earlier run with --search
    args = [str(exe), str(int(seconds)), str(outdir), "--every", str(int(every))]
    if search:
        args.append("--search")
    with open(outdir / "stdout.log", "w") as log:
        subprocess.run(args, check=True, stdout=log)
    return read_dump(outdir)


def weight_digests(d):
    """Per weight record: sha256 hex of s and sd (float64 C-order bytes) and their np.sum."""
    s_sha, sd_sha, s_sum, sd_sum = [], [], [], []
    for k in range(len(d["weight_seconds"])):
        s = np.ascontiguousarray(d["s"][k], dtype="<f8")
        sd = np.ascontiguousarray(d["sd"][k], dtype="<f8")
        s_sha.append(hashlib.sha256(s.tobytes()).hexdigest())
        sd_sha.append(hashlib.sha256(sd.tobytes()).hexdigest())
        s_sum.append(np.sum(s))
        sd_sum.append(np.sum(sd))
    return (
        np.array(s_sha, dtype="U64"),
        np.array(sd_sha, dtype="U64"),
        np.array(s_sum, dtype=np.float64),
        np.array(sd_sum, dtype=np.float64),
    )


def pack(d, path=OUT, max_bytes=1.5e6):
    """Write the npz described in the module docstring; returns (size in bytes, final weights kept)."""
    seconds = d["seconds"]
    if not np.array_equal(d["weight_seconds"], np.arange(seconds)):
        raise ValueError("pack needs the weights of every second (every=1)")
    s_sha, sd_sha, s_sum, sd_sum = weight_digests(d)
    arrays = dict(
        post=d["post"].astype(np.int16),
        delay=d["delay"].astype(np.int8),
        v0=np.asarray(d["v0"], dtype=np.float64),
        u0=np.asarray(d["u0"], dtype=np.float64),
        stim=d["stim"].astype(np.int16),
        spike_t=d["spike_t"].astype(np.int32),
        spike_i=d["spike_i"].astype(np.int16),
        stats=np.asarray(d["stats"], dtype=np.float64),
        s_sha256=s_sha,
        sd_sha256=sd_sha,
        s_sum=s_sum,
        sd_sum=sd_sum,
        seconds=np.array(seconds),
        n_spikes=np.array(len(d["spike_t"])),
        cxxflags=np.array(" ".join(CXXFLAGS)),
        compiler=np.array(f"{CXX} {d['meta']['compiler']}"),
        source_sha256=np.array(_sha256_file(SRC)),
        machine=np.array(f"{platform.system()} {platform.machine()}"),
    )
    for name in ("post", "delay", "stim", "spike_i"):
        assert np.array_equal(arrays[name], d[name]), name  # no overflow in the small dtypes
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    final = dict(
        s_final_exc=np.array(d["s"][-1][:NE], dtype=np.float64),
        sd_final_exc=np.array(d["sd"][-1][:NE], dtype=np.float64),
    )
    np.savez_compressed(path, **arrays, **final)
    kept = path.stat().st_size <= max_bytes
    if not kept:
        np.savez_compressed(path, **arrays)
    return path.stat().st_size, kept


# ---------------------------------------------------------------------------------------------
# Checks


def check_unmodified(seconds, dump_dir, workdir=BUILD / "unmodified", anchor=ANCHOR):
    """Build the UNMODIFIED anchor program with plain ``g++ -O2`` (only its loop count ``5*60*60``
    replaced by ``seconds``), run it (it writes to ``../``) and compare its dat.dat, spikes.dat (last
    second), all.dat and polyall.dat, and its console's per-second lines, byte for byte with what
    the dump program wrote into ``dump_dir`` for the same number of seconds. The unmodified program
    always runs the group search at the end (instant at 10 s, minutes at 60 s: the weights must reach
    0.95 C_max); polyall.dat is compared when ``dump_dir`` has one.
    Returns a list of (name, equal) pairs.
    """
    workdir = Path(workdir)
    (workdir / "run").mkdir(parents=True, exist_ok=True)
    # the program appends to ../dat.dat
    _clear(workdir, ["dat.dat", "spikes.dat", "spikest.dat", "all.dat", "polyall.dat", "stdout.log"])
    with open(anchor, newline="") as f:  # keep its CRLF line endings
        src = f.read()
    assert src.count("sec<5*60*60") == 1
    with open(workdir / "poly_spnet_patched.cpp", "w", newline="") as f:
        f.write(src.replace("sec<5*60*60", f"sec<{int(seconds)}"))
    exe = workdir / "poly_spnet_unmodified"
    subprocess.run([CXX, "-O2", "-o", str(exe), str(workdir / "poly_spnet_patched.cpp")], check=True)
    with open(workdir / "stdout.log", "w") as log:
        subprocess.run([str(exe)], cwd=workdir / "run", check=True, stdout=log)
    dump_dir = Path(dump_dir)
    pairs = [("dat.dat", "dat.dat"), ("spikes.dat", "spikes.dat"), ("all.dat", "final_all.dat")]
    if (dump_dir / "polyall.dat").exists():
        pairs.append(("polyall.dat", "polyall.dat"))
    result = [
        (f"{a} == {b}", (workdir / a).read_bytes() == (dump_dir / b).read_bytes()) for a, b in pairs
    ]

    def sec_lines(p):
        return [x for x in Path(p).read_text().splitlines() if x.startswith("sec=")]

    result.append(
        ("console sec= lines", sec_lines(workdir / "stdout.log") == sec_lines(dump_dir / "stdout.log"))
    )
    return result


def replay_numpy(d, seconds=None):
    """Re-simulate the dumped run in NumPy from the dumped inputs only (post, delay, v0, u0, stim),
    following the program's order of operations (README.md, "Order within an iteration"), and
    compare every spike and the sha256 of s and sd after every second with the dump. Float64
    elementwise operations in the same order as the C code, so a correct transcription matches bit
    for bit. Returns a list of (name, equal) pairs. About 1 s per simulated second.
    """
    seconds = d["seconds"] if seconds is None else min(seconds, d["seconds"])
    post, delay = d["post"].astype(np.int64), d["delay"].astype(np.int64)
    n, m = post.shape
    a = np.where(np.arange(n) < NE, 0.02, 0.1)
    dpar = np.where(np.arange(n) < NE, 8.0, 2.0)
    s = np.where(np.arange(n)[:, None] < NE, 6.0, -5.0) * np.ones((n, m))
    sd = np.zeros((n, m))
    v, u = d["v0"].copy(), d["u0"].copy()
    # the program's synapse order for delivery: by delay value, then by synapse index
    by_delay = [[np.nonzero(delay[i] == dd + 1)[0] for dd in range(D)] for i in range(n)]
    # incoming excitatory synapses of every neuron (for the LTP update): pre, syn index, delay
    pre_of = [[] for _ in range(n)]
    for i in range(NE):
        for j in range(m):
            pre_of[post[i, j]].append((i, j))
    pre_i = [np.array([p for p, _ in x], dtype=np.int64) for x in pre_of]
    pre_j = [np.array([q for _, q in x], dtype=np.int64) for x in pre_of]
    # LTP history as in the program: LTP[:, t + D] holds the trace at iteration t
    ltp = np.zeros((n, 1001 + D))
    ltd = np.zeros(n)
    recent = []  # (t relative to this second, neuron) of the spikes of the last D ms, oldest first
    got_t, got_i, s_sha, sd_sha = [], [], [], []
    stim = d["stim"]
    for sec in range(seconds):
        for t in range(1000):
            I = np.zeros(n)
            I[stim[sec * 1000 + t]] = 20.0
            fired = np.nonzero(v >= 30)[0]
            for i in fired:  # ascending index, as the program's loop
                v[i] = -65.0
                u[i] += dpar[i]
                ltp[i, t + D] = 0.1
                ltd[i] = 0.12
                if len(pre_i[i]):
                    sd[pre_i[i], pre_j[i]] += ltp[pre_i[i], t + D - (delay[pre_i[i], pre_j[i]] - 1) - 1]
                recent.append((t, i))
                got_t.append(sec * 1000 + t)
                got_i.append(i)
            # arrivals: newest spike first, each spike's synapses with delay (t - tf + 1) ms
            tgt, w = [], []
            for tf, i in reversed(recent):
                dd = t - tf
                if dd >= D:
                    break
                js = by_delay[i][dd]
                if len(js):
                    tgt.append(post[i, js])
                    w.append(s[i, js])
                    if i < NE:
                        sd[i, js] -= ltd[post[i, js]]
            if tgt:  # np.add.at adds one by one in this order (float addition is not associative)
                np.add.at(I, np.concatenate(tgt), np.concatenate(w))
            v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
            v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
            u += a * (0.2 * v - u)
            ltp[:, t + D + 1] = 0.95 * ltp[:, t + D]
            ltd *= 0.95
        ltp[:, : D + 1] = ltp[:, 1000 : 1000 + D + 1]
        recent = [(tf - 1000, i) for tf, i in recent if 1000 - tf < D]
        sd[:NE] *= 0.9
        s[:NE] += 0.01 + sd[:NE]
        s[:NE] = np.where(s[:NE] > 10.0, 10.0, s[:NE])
        s[:NE] = np.where(s[:NE] < 0.0, 0.0, s[:NE])
        s_sha.append(hashlib.sha256(np.ascontiguousarray(s, "<f8").tobytes()).hexdigest())
        sd_sha.append(hashlib.sha256(np.ascontiguousarray(sd, "<f8").tobytes()).hexdigest())
    want = d["spike_t"] < seconds * 1000
    ref_sha, ref_sdsha, _, _ = weight_digests(d)
    keep = np.isin(d["weight_seconds"], np.arange(seconds))
    recs = d["weight_seconds"][keep]
    return [
        ("spike labels", np.array_equal(np.array(got_t), d["spike_t"][want])),
        ("spike neurons", np.array_equal(np.array(got_i), d["spike_i"][want])),
        ("s sha256 per second", [s_sha[k] for k in recs] == list(ref_sha[keep])),
        ("sd sha256 per second", [sd_sha[k] for k in recs] == list(ref_sdsha[keep])),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--every", type=int, default=1, help="keep the weights of every K-th second")
    p.add_argument("--search", action="store_true", help="run the program's group search at the end")
    p.add_argument("--dump-dir", type=Path, default=None, help="default: build/run_<seconds>s")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--no-pack", action="store_true", help="only run; keep the dumps")
    p.add_argument("--max-bytes", type=float, default=1.5e6)
    p.add_argument("--check-unmodified", action="store_true")
    p.add_argument("--anchor", type=Path, default=ANCHOR, help="the unmodified poly_spnet.cpp")
    p.add_argument("--check-replay", action="store_true")
    p.add_argument("--replay-seconds", type=int, default=None)
    args = p.parse_args()

    dump_dir = args.dump_dir or BUILD / f"run_{args.seconds}s"
    d = run_original(args.seconds, dump_dir, search=args.search, every=args.every)
    print(f"ran {args.seconds} s into {dump_dir}: {len(d['spike_t'])} spikes")
    for row in d["stats"][:3]:
        print(f"  sec {int(row[0])}: exc {row[1]:.17g} Hz, str {row[2]:.17g} %, inh {row[3]:.17g} Hz")
    if d["groups"] is not None:
        print(f"  polychronous groups: {d['groups']}")
    if not args.no_pack:
        size, kept = pack(d, args.out, args.max_bytes)
        print(
            f"wrote {args.out} ({size} bytes; final excitatory s/sd "
            f"{'included' if kept else 'left out, over ' + str(int(args.max_bytes))})"
        )
    ok = True
    if args.check_unmodified:
        for name, eq in check_unmodified(args.seconds, dump_dir, anchor=args.anchor):
            print(f"  unmodified vs dump: {name}: {'identical' if eq else 'DIFFERENT'}")
            ok &= eq
    if args.check_replay:
        for name, eq in replay_numpy(d, args.replay_seconds):
            print(f"  numpy replay: {name}: {'identical' if eq else 'DIFFERENT'}")
            ok &= eq
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
