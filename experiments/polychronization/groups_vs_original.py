"""Polychronous groups: izhijax's search against the original program's, on the same weights.

The weights come from the original program of Izhikevich (2006) (``poly_spnet_dump.cpp``, run by
``make_reference.run_original`` for ``--seconds`` simulated seconds; a run already in the dump folder
is reused). The original search runs in a second modified copy of the program, built here from the
unmodified ``poly_spnet.cpp`` (``shared/anchors/polychronization``): its ``main()`` is replaced by one
that loads the dumped ``post.i32``, ``delay.i32`` and ``s.f64`` (float64, bit for bit the weights of
the run), rebuilds the presynaptic lists as ``initialize()`` does, runs ``all_polychronous()``
untouched and prints the count and the wall time of the search alone. Built with ``g++ -O2`` into
``build/`` (git-ignored).

Both searches see the same float64 weights; the script compares the counts, the per-target counts and
``polyall.dat`` byte for byte, and writes a small JSON to ``out/``::

    .venv/bin/python experiments/polychronization/groups_vs_original.py --seconds 60
    .venv/bin/python experiments/polychronization/groups_vs_original.py --seconds 600 --runs 3
    .venv/bin/python experiments/polychronization/groups_vs_original.py --seconds 18000  # 5 h
    # (the 5 h run and its original search, ~8 + ~8 min, reused if already in build/grp_5h):
    .venv/bin/python experiments/polychronization/groups_vs_original.py --seconds 18000 \\
        --weights experiments/polychronization/build/grp_5h --reuse-original
    # the shuffled-weights control (exc->exc weights permuted), both searches:
    .venv/bin/python experiments/polychronization/groups_vs_original.py --seconds 18000 --shuffle 0
    # the compact test data of tests/test_groups.py (from the 60 s weights):
    .venv/bin/python experiments/polychronization/groups_vs_original.py --seconds 60 --pack-test-data

The original's search is run once per invocation unless ``--original-runs`` says more (it takes
minutes: ~340 s on the 60 s weights, ~1100 s on the 5 h weights on the project's 2-core machine);
``--original-json`` reuses a result already written for the same weights.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from make_reference import ANCHOR, BUILD, run_original  # noqa: E402

from izhijax._src.groups import polychronous_groups, shuffle_weights  # noqa: E402

OUT = HERE / "out"
N, NE, M, D = 1000, 800, 100, 20
CXX = os.environ.get("CXX", "g++")

LOADER_MAIN = r"""
// ---- groups_vs_original.py: main() replaced by a loader of dumped weights (search only) ----
#include <string>
#include <chrono>
int main(int argc, char **argv)
{
	if (argc < 3) { fprintf(stderr, "usage: search DIR POLYALL\n"); return 1; }
	std::string dir = argv[1];
	polyall_path = argv[2];
	int i, j, k, dd, jj;
	static int pi[N][M], dl[N][M];
	FILE *f = fopen((dir + "/post.i32").c_str(), "rb");
	if ((f == NULL) || (fread(pi, sizeof(int), N*M, f) != N*M)) { fprintf(stderr, "post.i32\n"); return 2; }
	fclose(f);
	f = fopen((dir + "/delay.i32").c_str(), "rb");
	if ((f == NULL) || (fread(dl, sizeof(int), N*M, f) != N*M)) { fprintf(stderr, "delay.i32\n"); return 2; }
	fclose(f);
	f = fopen((dir + "/s.f64").c_str(), "rb");  // the last weight record of the file
	if (f == NULL) { fprintf(stderr, "s.f64\n"); return 2; }
	fseek(f, 0, SEEK_END); long rec = ftell(f) / (long)(sizeof(double)*N*M);
	fseek(f, (rec - 1) * (long)(sizeof(double)*N*M), SEEK_SET);
	if (fread(s, sizeof(double), N*M, f) != N*M) { fprintf(stderr, "s.f64 read\n"); return 2; }
	fclose(f);
	for (i=0;i<Ne;i++) a[i]=0.02;
	for (i=Ne;i<N;i++) a[i]=0.1;
	for (i=0;i<Ne;i++) d[i]=8;
	for (i=Ne;i<N;i++) d[i]=2;
	for (i=0;i<N;i++) for (j=0;j<M;j++) post[i][j]=pi[i][j];
	for (i=0;i<N;i++)  // delays[i][dd][...]: the synapses of delay dd+1 ms, ascending index
	{
		for (dd=0;dd<D;dd++) delays_length[i][dd]=0;
		for (j=0;j<M;j++) { dd = dl[i][j]-1; delays[i][dd][delays_length[i][dd]++] = j; }
	}
	for (i=0;i<N;i++)  // as initialize() builds them
	{
		N_pre[i]=0;
		for (j=0;j<Ne;j++)
		for (k=0;k<M;k++)
		if (post[j][k] == i)
		{
			I_pre[i][N_pre[i]]=j;
			for (dd=0;dd<D;dd++)
				for (jj=0;jj<delays_length[j][dd];jj++)
					if (post[j][delays[j][dd][jj]]==i) D_pre[i][N_pre[i]]=dd;
			s_pre[i][N_pre[i]]=&s[j][k];
			sd_pre[i][N_pre[i]++]=&sd[j][k];
		}
	}
	auto t0 = std::chrono::steady_clock::now();
	clock_t c0 = clock();
	all_polychronous();
	double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	double cpu = double(clock() - c0) / CLOCKS_PER_SEC;
	printf("\nRESULT N_polychronous=%d seconds=%.3f cpu_seconds=%.3f\n", N_polychronous, el, cpu);
	return 0;
}
"""


def _sha256(b):
    return hashlib.sha256(b).hexdigest()


def build_search_only(anchor=ANCHOR, build_dir=BUILD):
    """The unmodified program with its main() replaced by LOADER_MAIN; returns the executable."""
    src = Path(anchor).read_text()
    cut = src.index("int main()")
    cut = src.rindex("\n//", 0, cut)  # drop the separator comment before main()
    head = src[:cut]
    for old, new in [('fpoly = fopen("..//polyall.dat","w");', "fpoly = fopen(polyall_path,\"w\");"),
                     ("FILE		*fpoly;", "FILE		*fpoly;\nconst char	*polyall_path = \"polyall.dat\";")]:
        assert head.count(old) == 1, old
        head = head.replace(old, new)
    code = head + LOADER_MAIN
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    exe = build_dir / f"poly_search_only-{_sha256(code.encode())[:12]}"
    if not exe.exists():
        cpp = exe.with_suffix(".cpp")
        cpp.write_text(code)
        subprocess.run([CXX, "-O2", "-o", str(exe), str(cpp)], check=True,
                       stderr=subprocess.DEVNULL)
    return exe


def load_weights(wdir):
    """post, delay (ms), s (last record) of a dump folder."""
    wdir = Path(wdir)
    post = np.fromfile(wdir / "post.i32", dtype="<i4").reshape(N, M)
    delay = np.fromfile(wdir / "delay.i32", dtype="<i4").reshape(N, M)
    s = np.fromfile(wdir / "s.f64", dtype="<f8").reshape(-1, N, M)[-1].copy()
    return post, delay, s


def model_params():
    a = np.where(np.arange(N) < NE, 0.02, 0.1)
    d = np.where(np.arange(N) < NE, 8.0, 2.0)
    return a, d


def weights_dir(seconds):
    """Run the original for ``seconds`` (weights of the last second only) unless already there."""
    wdir = BUILD / f"grp_{seconds}s"
    if not (wdir / "s.f64").exists() or (wdir / "s.f64").stat().st_size < 8 * N * M:
        print(f"running the original program for {seconds} s into {wdir} ...", flush=True)
        t0 = time.perf_counter()
        run_original(seconds, wdir, search=False, every=seconds)
        print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
        spikes = wdir / "spikes.i32"
        if spikes.exists() and spikes.stat().st_size > 50e6:
            spikes.unlink()  # the long runs' spike dump is large and unused here
    return wdir


def write_shuffled(wdir, seed):
    """A dump folder with the exc->exc weights permuted (izhijax.groups.shuffle_weights)."""
    post, delay, s = load_weights(wdir)
    out = Path(str(wdir) + f"_shuffled{seed}")
    out.mkdir(parents=True, exist_ok=True)
    post.astype("<i4").tofile(out / "post.i32")
    delay.astype("<i4").tofile(out / "delay.i32")
    shuffle_weights(post, s, NE, int(seed)).astype("<f8").tofile(out / "s.f64")
    return out


def parse_original_log(wdir):
    """The original's result from a search already run into ``wdir`` (its console log)."""
    text = (Path(wdir) / "stdout_original_search.log").read_text()
    m = re.search(r"RESULT N_polychronous=(\d+) seconds=([\d.]+)(?: cpu_seconds=([\d.]+))?", text)
    targets = [int(x) for x in re.findall(r"\ni= (\d+), N_polychronous=", text)]
    cpu = [float(m.group(3))] if m.group(3) else []
    return dict(count=int(m.group(1)), search_seconds=[float(m.group(2))],
                median_seconds=float(m.group(2)), cpu_seconds=cpu,
                median_cpu_seconds=cpu[0] if cpu else None,
                per_target=np.bincount(targets, minlength=NE).tolist(), reused_log=True)


def run_original_search(wdir, runs=1):
    """The original's search on the weights of ``wdir``: count, per-target counts, wall times."""
    exe = build_search_only()
    wdir = Path(wdir)
    walls, cpus, count, per_target = [], [], None, None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run([str(exe), str(wdir), str(wdir / "polyall_original.dat")],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        m = re.search(r"RESULT N_polychronous=(\d+) seconds=([\d.]+) cpu_seconds=([\d.]+)",
                      res.stdout)
        count = int(m.group(1))
        walls.append(float(m.group(2)))
        cpus.append(float(m.group(3)))
        targets = [int(x) for x in re.findall(r"\ni= (\d+), N_polychronous=", res.stdout)]
        per_target = np.bincount(targets, minlength=NE).tolist()
        (wdir / "stdout_original_search.log").write_text(res.stdout)
        print(f"  original: {count} groups, search {walls[-1]:.1f} s wall, {cpus[-1]:.1f} s CPU "
              f"(process {wall:.1f} s)", flush=True)
    return dict(count=count, search_seconds=walls, median_seconds=float(np.median(walls)),
                cpu_seconds=cpus, median_cpu_seconds=float(np.median(cpus)),
                per_target=per_target)


def run_izhijax_search(wdir, runs=1, batch_size=4096, progress=False, n_jobs=1):
    post, delay, s = load_weights(wdir)
    a, d = model_params()
    walls, cpus, res = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        res = polychronous_groups(post, delay, s, a, d, NE, max_delay=D, batch_size=batch_size,
                                  n_jobs=n_jobs, progress=progress)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        print(f"  izhijax: {res.count} groups, {walls[-1]:.1f} s wall, {cpus[-1]:.1f} s CPU "
              f"({res.n_triplets} anchor sets)", flush=True)
    (Path(wdir) / "polyall_izhijax.dat").write_text(res.polyall())
    return res, dict(count=res.count, n_jobs=n_jobs, n_emulated=res.n_emulated,
                     seconds=walls, median_seconds=float(np.median(walls)),
                     cpu_seconds=cpus, median_cpu_seconds=float(np.median(cpus)),
                     n_triplets=res.n_triplets, per_target=res.per_target().tolist(),
                     summary=res.summary())


def pack_test_data(wdir, original, path, targets=()):
    """What the search needs of these weights, compactly (tests/data, out/), and the original's
    result.

    Stored: ``post`` (int16), ``delay`` (int8), the strong excitatory synapses (``> 9.5``) as a
    packed mask over the excitatory rows and their float64 weights (every other excitatory weight
    plays no part in the search and is rebuilt as 0), the inhibitory weights' single value; the
    original's count and per-target counts, and its polyall.dat lines of ``targets``. Read back
    with ``load_compact``.
    """
    post, delay, s = load_weights(wdir)
    strong = s[:NE] > 0.95 * 10.0
    inh = np.unique(s[NE:])
    assert inh.size == 1
    lines = []
    if len(targets):
        lines = (Path(wdir) / "polyall_original.dat").read_text().splitlines(keepends=True)
    tg_of_line = np.repeat(np.arange(NE), original["per_target"])
    keep = np.isin(tg_of_line, targets)
    np.savez_compressed(
        path, post=post.astype(np.int16), delay=delay.astype(np.int8),
        strong_bits=np.packbits(strong.ravel()), strong_w=s[:NE][strong], inh_w=inh,
        n_exc=np.array(NE), count=np.array(original["count"]),
        per_target=np.array(original["per_target"], dtype=np.int16),
        lines_targets=np.array(targets, dtype=np.int16),
        lines=np.array("".join(line for line, k in zip(lines, keep) if k)),
        s_sha256=np.array(_sha256(np.ascontiguousarray(s, "<f8").tobytes())))
    return Path(path).stat().st_size


def load_compact(path):
    """post, delay, weights (the strong excitatory ones exact, the other excitatory ones 0), a, d,
    n_exc and the npz of ``pack_test_data``."""
    z = np.load(path)
    post, delay = z["post"].astype(np.int64), z["delay"].astype(np.int64)
    ne = int(z["n_exc"])
    w = np.zeros(post.shape)
    strong = np.unpackbits(z["strong_bits"])[: ne * post.shape[1]].astype(bool)
    w[:ne].ravel()[strong] = z["strong_w"]
    w[ne:] = z["inh_w"][0]
    n = post.shape[0]
    a = np.where(np.arange(n) < ne, 0.02, 0.1)
    d = np.where(np.arange(n) < ne, 8.0, 2.0)
    return post, delay, w, a, d, ne, z


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=60, help="simulated seconds of the original")
    p.add_argument("--weights", type=Path, default=None,
                   help="a dump folder of the original (post.i32, delay.i32, s.f64) to use "
                        "instead of running it; default build/grp_<seconds>s")
    p.add_argument("--shuffle", type=int, default=None, help="seed: search shuffled weights")
    p.add_argument("--runs", type=int, default=1, help="runs of the izhijax search (median)")
    p.add_argument("--original-runs", type=int, default=1)
    p.add_argument("--original-json", type=Path, default=None,
                   help="take the original's result from this JSON (same weights) instead")
    p.add_argument("--reuse-original", action="store_true",
                   help="take the original's result from its log in the weights folder, if any")
    p.add_argument("--original-cpu", type=float, default=None,
                   help="with --reuse-original: the search's CPU seconds, measured outside")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes of the izhijax search")
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--pack-test-data", action="store_true")
    p.add_argument("--test-data", type=Path, default=REPO / "tests/data/poly_groups_60s.npz")
    p.add_argument("--save-weights", type=Path, default=None,
                   help="also write the weights (what the search needs, compact npz) here")
    args = p.parse_args()

    wdir = weights_dir(args.seconds) if args.weights is None else args.weights.resolve()
    tag = f"{args.seconds}s"
    if args.shuffle is not None:
        wdir = write_shuffled(wdir, args.shuffle)
        tag += f"_shuffled{args.shuffle}"
    _, _, s = load_weights(wdir)
    print(f"weights: {wdir} (sha256 {_sha256(np.ascontiguousarray(s, '<f8').tobytes())[:16]})")

    if args.original_json is not None:
        original = json.loads(args.original_json.read_text())["original"]
        print(f"  original (from {args.original_json}): {original['count']} groups")
    elif args.reuse_original and (wdir / "stdout_original_search.log").exists():
        original = parse_original_log(wdir)
        if args.original_cpu is not None:
            original["cpu_seconds"] = [args.original_cpu]
            original["median_cpu_seconds"] = args.original_cpu
        print(f"  original (from its log): {original['count']} groups, "
              f"{original['median_seconds']:.1f} s wall")
    else:
        original = run_original_search(wdir, args.original_runs)
    res, mine = run_izhijax_search(wdir, args.runs, args.batch_size, args.progress, args.n_jobs)

    same_lines = None
    po = Path(wdir) / "polyall_original.dat"
    if po.exists():
        same_lines = po.read_bytes() == (Path(wdir) / "polyall_izhijax.dat").read_bytes()
    result = dict(
        weights=dict(dir=str(wdir.relative_to(REPO)), simulated_seconds=args.seconds,
                     shuffle_seed=args.shuffle,
                     s_sha256=_sha256(np.ascontiguousarray(s, "<f8").tobytes())),
        original=original,
        izhijax={k: v for k, v in mine.items()},
        same_count=original["count"] == mine["count"],
        same_per_target=original["per_target"] == mine["per_target"],
        same_polyall=same_lines,
        speedup=original["median_seconds"] / mine["median_seconds"],
        speedup_cpu=(original["median_cpu_seconds"] / mine["median_cpu_seconds"]
                     if original.get("median_cpu_seconds") else None),
        machine=f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    )
    OUT.mkdir(parents=True, exist_ok=True)
    if args.n_jobs > 1:
        tag += f"_jobs{args.n_jobs}"
    out = OUT / f"groups_vs_original_{tag}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"counts: original {original['count']}, izhijax {mine['count']} "
          f"({'same' if result['same_count'] else 'DIFFERENT'}); per target "
          f"{'same' if result['same_per_target'] else 'DIFFERENT'}; polyall.dat "
          f"{'identical' if same_lines else 'DIFFERENT' if same_lines is False else 'n/a'}")
    print(f"search wall time: original {original['median_seconds']:.1f} s, izhijax "
          f"{mine['median_seconds']:.1f} s (x{result['speedup']:.1f}); wrote {out}")
    if args.save_weights is not None:
        size = pack_test_data(wdir, original, args.save_weights)
        print(f"wrote {args.save_weights} ({size} bytes)")
    if args.pack_test_data:
        tg = [int(t) for t in np.flatnonzero(np.array(original["per_target"]))[:4]]
        size = pack_test_data(wdir, original, args.test_data, tg)
        print(f"wrote {args.test_data} ({size} bytes; lines of targets {tg})")
    return 0 if result["same_count"] else 1


if __name__ == "__main__":
    sys.exit(main())
