"""The ``izhijax`` command.

    izhijax fig3 [--seed S] [--variant V] [--duration MS] [--out fig3.png] [--save run.npz]
                 [--nwb run.nwb]
    izhijax patterns [--out patterns.png] [--x64]
    izhijax sweep [--x NAME=START:STOP:NUM] [--y NAME=V1,V2,...] [--trials K] [--duration MS]
                  [--out sweep.png] [--json sweep.json]
    izhijax fit [--exc HZ] [--inh HZ] [--iters N] [--lr LR] [--batch K] [--duration MS] [--seed S]
                [--variant V] [--out fit.png] [--json fit.json]
    izhijax polychronization [--seconds S | --hours H] [--seed S] [--dir DIR] [--x64] [--exact]
                             [--backend auto|xla|numba]
                             [--cores N] [--checkpoint-every S] [--snapshot-every S] [--groups]
                             [--out FILE.png]

A bad flag or value prints one line, ``izhijax: error: ...``, and exits with status 2; that includes
every output file or folder that cannot be written (checked while parsing, before anything runs).
A failure while running (a file that cannot be written after all, a diverged run, a request larger
than the memory this machine has: :mod:`izhijax._src.memory` estimates it before anything is
built) prints one line and exits with status 1. Output into a pipe that closes early
(``izhijax fig3 | head -1``) ends quietly with status 141 (128 + SIGPIPE, what a shell reports for
``yes | head -1``), after Python's recommended handling: the rest of stdout goes to ``os.devnull``.
Warnings print one line each, ``izhijax: warning: ...``; Ctrl-C prints ``izhijax: error:
interrupted`` and exits with status 130.

Start-up: this module and ``import izhijax`` load no JAX (izhijax's imports are lazy), so ``--help``
and a bad flag answer at once; a subcommand imports JAX when it runs.

Compilation cache: the subcommands turn on JAX's persistent compilation cache in
``$XDG_CACHE_HOME/izhijax/jax`` (``~/.cache/izhijax/jax``), for every program however small, so a
second ``izhijax fig3`` loads its compiled programs from disk instead of compiling them again. Set
``IZHIJAX_NO_CACHE=1`` to turn it off; a cache folder already chosen (``JAX_COMPILATION_CACHE_DIR``)
is kept. Only the command does this: ``import izhijax`` leaves JAX's configuration alone.
"""

import argparse
import os
import sys
import time

VARIANTS = ("brian2", "netm", "pymonnto")
"""The Fig. 3 variants, izhijax._src.models.VARIANTS written out here so that building the parser
imports no JAX (tests/test_startup.py checks the two are equal)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, without the usage block."""

    def error(self, message):
        self.exit(2, f"izhijax: error: {message}\n")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _duration_ms(text):
    """A positive duration in ms, at most 1e6 (fig3 keeps the (T, n) raster in memory)."""
    value = _positive_float(text)
    if value > 1e6:
        raise argparse.ArgumentTypeError(f"expected at most 1000000 ms (the raster is kept in "
                                         f"memory), got {text!r}")
    return value


MAX_RUN_MS = 1e9
"""Longest ``sweep`` / ``fit`` duration in ms: 2e9 steps at the smallest dt (0.5 ms), within the
int32 step index of a run."""


def _run_ms(text):
    """A positive duration in ms of a run that is not kept whole: at most 1e9 (11.6 days)."""
    value = _positive_float(text)
    if value > MAX_RUN_MS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_RUN_MS:.0e} ms (a run's step "
                                         f"index is int32), got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _probe(path, folder=False):
    """Why ``path`` cannot be written (None if it can), found by trying, leaving nothing behind:
    an existing file is opened for appending (nothing written), a new file or folder is created
    and removed, an existing folder gets a temporary file. Trying catches what permission bits
    miss: a read-only file system, a process running as root, /proc."""
    import tempfile
    try:
        if folder and os.path.isdir(path):
            with tempfile.NamedTemporaryFile(dir=path, prefix=".izhijax-probe-"):
                pass
        elif folder:
            os.rmdir(tempfile.mkdtemp(dir=os.path.dirname(path), prefix=".izhijax-probe-"))
        elif os.path.exists(path):
            with open(path, "ab"):
                pass
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.unlink(path)
    except OSError as err:
        return (err.strerror or type(err).__name__).lower()
    return None


def _writable(suffix):
    """An output file: a ``suffix`` name, not a folder, in an existing folder, writable (tried)."""
    def check(text):
        if not text:
            raise argparse.ArgumentTypeError("expected a file name, got ''")
        if suffix and not text.lower().endswith(suffix):
            raise argparse.ArgumentTypeError(f"expected a {suffix} file name, got {text!r}")
        path = os.path.abspath(text)
        if os.path.isdir(path):
            raise argparse.ArgumentTypeError(f"{text!r} is a folder, expected a file name")
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise argparse.ArgumentTypeError(f"folder {folder!r} does not exist")
        problem = _probe(path)
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write {text!r}: {problem}")
        return text
    check.output = suffix          # marks an output option (tests/test_cli_errors.py)
    return check


def _folder(text):
    """A run folder: an existing writable folder, or a new one in an existing writable folder."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder name, got ''")
    path = os.path.abspath(text)
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"folder {parent!r} does not exist")
    problem = _probe(path, folder=True)
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write into {text!r}: {problem}")
    return text


_folder.output = "folder"


def _neurons(text):
    """A network size for ``fit``: at least 2, at most 10**7 (its weights are a dense n x n
    matrix)."""
    value = _positive_int(text)
    if not 2 <= value <= MAX_NEURONS:
        raise argparse.ArgumentTypeError(f"expected an integer from 2 (one excitatory, one "
                                         f"inhibitory) to {MAX_NEURONS} (the weights are a dense "
                                         f"n x n matrix), got {text!r}")
    return value


def _hours(text):
    """Simulated hours, at most what an int64 count of seconds holds."""
    value = _positive_float(text)
    if value * 3600 >= 2**63:
        raise argparse.ArgumentTypeError(f"expected at most {2**63 / 3600:.3g} hours, got {text!r}")
    return value


MAX_NEURONS = 10**7
"""Largest ``fit --neurons`` (its dense weights: 400 TB in float32)."""
MAX_AXIS_POINTS = 10**6
"""Most values of one ``sweep`` axis (``NAME=START:STOP:NUM``)."""


class _UsageError(ValueError):
    """A bad value found after parsing (it needs the network): one line, exit status 2."""


SWEEP_NAMES = ("weight_scale", "exc_weight_scale", "inh_weight_scale", "noise_scale",
               "exc_noise_scale", "inh_noise_scale", "a", "b", "c", "d", "noise_amp", "bias",
               "v0", "u0", "exc.bias", "inh.bias", "exc.noise_amp", "inh.noise_amp")
"""Values of the Fig. 3 network that ``izhijax sweep`` can sweep (see izhijax.sweep.apply_values)."""


def _axis(text):
    """``NAME=START:STOP:NUM`` (evenly spaced, ends included) or ``NAME=V1,V2,...``."""
    name, sep, spec = text.partition("=")
    if not sep or name not in SWEEP_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected NAME=START:STOP:NUM or NAME=V1,V2,... with NAME one of "
            f"{', '.join(SWEEP_NAMES)}, got {text!r}")
    try:
        if ":" in spec:
            start, stop, num = spec.split(":")
            num = int(num)
            if num < 1:
                raise ValueError
            if num > MAX_AXIS_POINTS:
                raise argparse.ArgumentTypeError(f"at most {MAX_AXIS_POINTS} values per axis, got "
                                                 f"{num} for {name}")
            values = [float(start) + (float(stop) - float(start)) * i / max(num - 1, 1)
                      for i in range(num)]
        else:
            values = [float(v) for v in spec.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad values for {name}: {spec!r}") from None
    if not all(abs(v) < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"values for {name} must be finite, got {spec!r}")
    if "noise" in name and min(values) < 0:
        raise argparse.ArgumentTypeError(f"values for {name} must be >= 0 (a noise amplitude or a "
                                         f"factor on it), got {spec!r}")
    return name, values


def _preload_plotting():
    """Import matplotlib's figure and Agg canvas in a background thread (returned, started).

    About 0.3 s of Python imports, done while the main thread waits in XLA (compiling, running),
    which releases the interpreter lock; the plot then finds the modules loaded.
    """
    import threading

    def load():
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure                # noqa: F401

    thread = threading.Thread(target=load, name="izhijax-preload-matplotlib", daemon=True)
    thread.start()
    return thread


def _process_age():
    """Seconds since this process started (Linux /proc), or None where that cannot be read."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])     # field 22, starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def cache_dir():
    """The persistent compilation cache folder of the command, or None when it is turned off."""
    if os.environ.get("IZHIJAX_NO_CACHE", "").strip() not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "izhijax", "jax")


def _jax(x64=False):
    """Import JAX for a subcommand: float64 if asked, the persistent compilation cache on."""
    import jax
    if x64:
        jax.config.update("jax_enable_x64", True)
    folder = cache_dir()
    if folder is not None and not jax.config.jax_compilation_cache_dir:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:         # read-only home: run without the cache
            return jax
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)   # small ones too
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return jax


def build_parser():
    parser = _Parser(prog="izhijax", description="Izhikevich spiking networks in JAX.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    f3 = sub.add_parser("fig3", help="simulate the Izhikevich (2003) Fig. 3 network",
                        description="Simulate the Izhikevich (2003) Fig. 3 network (800 excitatory "
                                    "+ 200 inhibitory neurons), print a summary, write the figure.")
    f3.add_argument("--seed", type=_seed, default=0,
                    help="seed of the network and the noise (default 0)")
    f3.add_argument("--variant", choices=VARIANTS, default="brian2",
                    help="which seed's schedule to follow (default brian2)")
    f3.add_argument("--duration", type=_duration_ms, default=1000.0,
                    help="simulated time in ms (default 1000)")
    f3.add_argument("--out", type=_writable(".png"), default="fig3.png",
                    help="PNG file for the figure (default fig3.png)")
    f3.add_argument("--save", type=_writable(".npz"), default=None,
                    help="also save the recording, parameters, final state and noise key "
                         "to this .npz file (izhijax.load reads it)")
    f3.add_argument("--nwb", type=_writable(".nwb"), default=None,
                    help="also write the spike trains (units table) and the v trace to this "
                         "NWB file (needs pip install \"izhijax[nwb]\")")
    f3.add_argument("--propagation", choices=("event", "dense"), default="event",
                    help="event-driven (touch only the synapses of neurons that fired; default) "
                         "or dense (W s every step); same network, same statistics")
    f3.add_argument("--x64", action="store_true", help="simulate in float64")
    pat = sub.add_parser("patterns", help="the 20 firing patterns of Izhikevich (2004) Fig. 1",
                         description="Run the 20 single-neuron protocols of Izhikevich (2004) "
                                     "Fig. 1 in one compiled call, check each trace for its "
                                     "feature, write the 20-panel figure.")
    pat.add_argument("--out", type=_writable(".png"), default="patterns.png",
                     help="PNG file for the figure (default patterns.png)")
    pat.add_argument("--x64", action="store_true", help="simulate in float64")

    sw = sub.add_parser("sweep", help="sweep the Fig. 3 network over a grid of two parameters",
                        description="Run the Fig. 3 network over a grid of two parameters (and "
                                    "trial keys) in compiled batches on every device; print the "
                                    "range of each summary, write heat maps and a JSON.")
    sw.add_argument("--x", type=_axis, default=("exc_weight_scale", [0.25 + 0.1 * i for i in range(16)]),
                    help="first axis, NAME=START:STOP:NUM or NAME=V1,V2,... "
                         "(default exc_weight_scale=0.25:1.75:16)")
    sw.add_argument("--y", type=_axis, default=("noise_scale", [0.4 + 1.6 * i / 15 for i in range(16)]),
                    help="second axis (default noise_scale=0.4:2:16)")
    sw.add_argument("--trials", type=_positive_int, default=1, help="trial keys per grid point (default 1)")
    sw.add_argument("--duration", type=_run_ms, default=1000.0,
                    help="simulated time per network in ms (default 1000)")
    sw.add_argument("--seed", type=_seed, default=0, help="seed of the network and the noise")
    sw.add_argument("--variant", choices=VARIANTS, default="brian2", help="Fig. 3 variant")
    sw.add_argument("--batch-size", type=_positive_int, default=None,
                    help="networks per compiled call (default all)")
    sw.add_argument("--out", type=_writable(".png"), default="sweep.png",
                    help="PNG file for the heat maps (default sweep.png)")
    sw.add_argument("--json", type=_writable(".json"), default=None,
                    help="also write the summaries with their axes to this JSON file")
    sw.add_argument("--x64", action="store_true", help="simulate in float64")
    ft = sub.add_parser("fit", help="fit the Fig. 3 network to population firing rates",
                        description="Fit per-population weight scales, noise scales and bias "
                                    "currents of the Fig. 3 network to target excitatory and "
                                    "inhibitory rates (Adam on surrogate gradients), then evaluate "
                                    "on 10 held-out noise keys.")
    ft.add_argument("--exc", type=_positive_float, default=5.0,
                    help="target excitatory rate in Hz (default 5)")
    ft.add_argument("--inh", type=_positive_float, default=20.0,
                    help="target inhibitory rate in Hz (default 20)")
    ft.add_argument("--iters", type=_positive_int, default=300,
                    help="maximum optimizer steps (default 300)")
    ft.add_argument("--lr", type=_positive_float, default=0.05, help="Adam learning rate (default 0.05)")
    ft.add_argument("--batch", type=_positive_int, default=2,
                    help="noise keys averaged per optimizer step (default 2)")
    ft.add_argument("--duration", type=_run_ms, default=1000.0,
                    help="simulated time per run in ms (default 1000)")
    ft.add_argument("--seed", type=_seed, default=0, help="seed of the network and noise (default 0)")
    ft.add_argument("--variant", choices=VARIANTS, default="brian2",
                    help="which seed's schedule to follow (default brian2)")
    ft.add_argument("--neurons", type=_neurons, default=1000,
                    help="network size, 80%% excitatory (default 1000)")
    ft.add_argument("--out", type=_writable(".png"), default="fit.png",
                    help="PNG file for the loss curve and rates (default fit.png)")
    ft.add_argument("--json", type=_writable(".json"), default=None,
                    help="also write the numbers to this .json file")
    ft.add_argument("--no-progress", action="store_true", help="no progress bar")

    pc = sub.add_parser("polychronization",
                        help="the Izhikevich (2006) polychronization network, for seconds or hours",
                        description="Simulate the Izhikevich (2006) polychronization network "
                                    "(axonal delays 1-20 ms, STDP) second by second without "
                                    "keeping the raster: per-second rates and strong-weight "
                                    "percent in DIR/stats.csv, checkpoints to resume after a "
                                    "crash (rerun the same command), a figure at the end.")
    length = pc.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=_positive_int, default=None,
                        help="simulated seconds (default 60)")
    length.add_argument("--hours", type=_hours, default=None,
                        help="simulated hours (5 in the paper)")
    pc.add_argument("--seed", type=_seed, default=0, help="seed of the wiring and input (default 0)")
    pc.add_argument("--dir", type=_folder, default="polychronization_run",
                    help="run folder (default polychronization_run); an existing run of the same "
                         "network and seed is resumed")
    pc.add_argument("--checkpoint-every", type=_positive_int, default=60,
                    help="seconds between checkpoints (default 60)")
    pc.add_argument("--snapshot-every", type=_positive_int, default=None,
                    help="also save the excitatory weights every this many seconds")
    pc.add_argument("--out", type=_writable(".png"), default="polychronization.png",
                    help="PNG file for the figure (default polychronization.png)")
    pc.add_argument("--groups", action="store_true",
                    help="after the run, search the polychronous groups of the learned weights "
                         "and of the same weights shuffled (the control; one thread per CPU "
                         "with Numba): counts printed, "
                         "DIR/polyall.dat and DIR/groups.json written, a group drawn in the "
                         "figure (the longest of those of at most 60 spikes)")
    pc.add_argument("--x64", action="store_true", help="simulate in float64 (the original's "
                                                         "precision)")
    pc.add_argument("--backend", choices=("auto", "xla", "numba"), default="auto",
                    help="how each second runs: xla (the engine's compiled scan), numba (one fused "
                         "loop per second, about 3x faster, float64 to the bit of the original "
                         "without --exact; needs izhijax[brainevent]), auto (default: numba where "
                         "installed)")
    pc.add_argument("--exact", action="store_true",
                    help="no fused multiply-add on CPU (XLA_FLAGS=--xla_cpu_max_isa=AVX), so "
                         "float64 arithmetic is the C program's to the bit (with --x64)")
    pc.add_argument("--cores", type=_positive_int, default=None,
                    help="run on this many of the CPUs this process may use (Linux, like "
                         "taskset; default all). 1 is the fastest for this 1000-neuron network "
                         "on a 2-core machine: XLA:CPU then runs each of the step's ~100 small "
                         "kernels on one thread, and no process runs at the half speed some "
                         "two-core processes run at")
    pc.add_argument("--no-progress", action="store_true", help="no progress bar")
    fn = sub.add_parser("fit-neuron", help="fit a, b, c, d of one neuron to a recorded trace",
                        description="Fit an Izhikevich (2003) neuron to a recording of time, "
                                    "injected current and voltage (or spike times): writes "
                                    "PREFIX.json and PREFIX.png (izhijax._src.cli_fit_neuron).")
    what = fn.add_mutually_exclusive_group(required=True)
    what.add_argument("--trace", help="the recording: CSV with columns time,current,voltage or "
                                      "NPZ with arrays t, i, v")
    what.add_argument("--demo", type=_writable(".csv"), default=None,
                      help="write a synthetic recording to this .csv file and stop")
    fn.add_argument("--loss", choices=("voltage", "spikes", "both"), default="voltage",
                    help="fit the voltage, the spike times alone, or both (default voltage)")
    fn.add_argument("--fit", default="a,b,c,d", help="parameters to fit, among "
                                                     "a,b,c,d,gain,bias,v_rest (default a,b,c,d)")
    fn.add_argument("--iters", type=_positive_int, default=None,
                    help="shooting: Levenberg-Marquardt iterations at most (default 20); "
                         "gradient: optimizer steps on the free run (default 30)")
    fn.add_argument("--prefit", type=_positive_int, default=200,
                    help="gradient: teacher-forced pre-fit steps (default 200)")
    fn.add_argument("--method", choices=("shooting", "gradient", "cmaes"), default=None,
                    help="shooting (multiple shooting + Levenberg-Marquardt; default), gradient "
                         "(pre-fit + surrogate gradients) or cmaes (CMA-ES on the batched model; "
                         "the most accurate from spike times alone; needs izhijax[cma])")
    fn.add_argument("--horizon", type=_positive_float, default=None,
                    help="shooting: ms between imposed recorded voltages (default 0.5)")
    fn.add_argument("--evals", type=_positive_int, default=3000,
                    help="cmaes: model runs in all (default 3000)")
    fn.add_argument("--dt", type=_positive_float, default=None,
                    help="simulation step in ms, dividing the sampling interval (default it)")
    fn.add_argument("--seed", type=_seed, default=0, help="seed of the random starts (default 0)")
    fn.add_argument("--out", type=_out_prefix, default="fit_neuron",
                    help="writes PREFIX.json and PREFIX.png files (default fit_neuron)")
    fn.add_argument("--x64", action="store_true", help="simulate in float64")
    fn.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _out_prefix(text):
    """``fit-neuron --out``: a prefix of two output files, PREFIX.png and PREFIX.json (a trailing
    .png or .json is dropped), each checked as :func:`_writable` checks a file."""
    base = text[:-4] if text.lower().endswith(".png") else \
        text[:-5] if text.lower().endswith(".json") else text
    if not base:
        raise argparse.ArgumentTypeError(f"expected a file name prefix, got {text!r}")
    if os.path.isdir(base):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, expected a file name prefix")
    for suffix in (".png", ".json"):
        _writable(suffix)(base + suffix)
    return base


_out_prefix.output = ".png"


def fit_neuron(args):
    """``izhijax fit-neuron``: implemented in :mod:`izhijax._src.cli_fit_neuron`."""
    from .cli_fit_neuron import run
    return run(args)


globals()["fit-neuron"] = fit_neuron      # each subcommand is an attribute named as the command


def fig3(args):
    before = _process_age()         # Python start-up, izhijax.cli's import, argument parsing
    clock = [time.perf_counter()]
    split = {} if before is None or before > 60 else {"python": before}   # 60: not called in-process

    def lap(name):
        clock.append(time.perf_counter())
        split[name] = split.get(name, 0.0) + clock[-1] - clock[-2]

    jax = _jax(args.x64)
    import izhijax as izj
    izj.simulate        # noqa: B018  (the package is lazy: load the engine now, within "import")
    if args.nwb:
        from .interchange import require_nwb
        try:
            require_nwb()           # before the run, not after it
        except ImportError as err:
            print(f"izhijax: error: {err}", file=sys.stderr)
            return 1
    lap("import")

    net_key, noise_key = jax.random.split(jax.random.key(args.seed))
    params = izj.izhikevich2003(net_key, variant=args.variant, propagation=args.propagation)
    n_steps = max(1, round(args.duration / params.config.dt))
    from .memory import check_memory, simulation_bytes
    # two recordings at once: a run's and the previous run's, until it is released
    check_memory(simulation_bytes(params, n_steps, 1, 0, True, batch=2),
                 f"fig3 run of {params.n} neurons x {n_steps} steps", _device(jax),
                 advice="use a shorter --duration")
    jax.block_until_ready(params)
    lap("build")
    plotting = _preload_plotting()      # imported while XLA compiles and runs
    run, compile_s = izj.compile_simulation(params, noise_key, n_steps, on_divergence="raise")
    lap("compile")
    times = []
    for _ in range(3):      # the same compiled run three times (identical results): median time
        start = time.perf_counter()
        final, rec = jax.block_until_ready(run())
        times.append(time.perf_counter() - start)
    run_s = sorted(times)[1]
    lap("run")
    s = izj.summary(rec)
    lap("summary")
    sizes = "+".join(str(p.size) for p in params.populations)
    print(f"izhijax fig3: variant={args.variant} seed={args.seed} neurons={sizes} "
          f"dt={params.config.dt} ms steps={n_steps} "
          f"({n_steps * params.config.dt:g} ms) propagation={args.propagation} "
          f"backend={jax.default_backend()}")
    print(f"  spikes          {s['spikes']}")
    print(f"  rate exc / inh  {s['rate_exc']:.2f} Hz / {s['rate_inh']:.2f} Hz")
    from .analysis import DOMINANCE
    alpha, gamma = s["alpha_power"], s["gamma_power"]
    verdict = ("alpha dominates" if alpha > DOMINANCE * gamma else "gamma dominates"
               if gamma > DOMINANCE * alpha else f"neither dominates by x{DOMINANCE:g}")
    print(f"  rhythm          {s['rhythm_hz']:.1f} Hz (excitatory rate; alpha {s['alpha_hz']:.0f} Hz "
          f"{alpha:.2f} Hz^2, gamma {s['gamma_hz']:.0f} Hz {gamma:.2f} Hz^2: {verdict})")
    print(f"  compile         {compile_s:.3f} s"
          + (" (persistent cache on)" if jax.config.jax_compilation_cache_dir else ""))
    print(f"  run             {run_s:.3f} s ({run_s / (rec.duration * 1e-3):.4f} s per "
          f"simulated second; median of 3 runs)")
    plotting.join()
    from matplotlib.figure import Figure    # no pyplot: a file is all the command draws
    fig = izj.plot.fig3(rec, title=f"Izhikevich (2003) Fig. 3, izhijax, variant {args.variant}",
                        fig=Figure(figsize=(8, 6)))
    fig.savefig(args.out, dpi=120)
    lap("plot")
    print(f"  figure          {args.out}")
    if args.save:
        izj.save_run(args.save, rec, params, state=final, key=noise_key)
        lap("save")
        print(f"  recording       {args.save}")
    if args.nwb:
        from .interchange import to_nwb
        to_nwb(args.nwb, rec, params, session_description=(
            f"izhijax fig3: Izhikevich (2003) Fig. 3 network, variant {args.variant}, "
            f"seed {args.seed}"))
        lap("nwb")
        print(f"  nwb             {args.nwb}")
    print(f"  time            {sum(split.values()):.2f} s = "
          + " + ".join(f"{name} {sec:.2f}" for name, sec in split.items()) + " s (run: 3 runs)")
    return 0


def patterns(args):
    jax = _jax(args.x64)
    import matplotlib
    matplotlib.use("Agg")
    from . import features, plot
    from . import patterns as pt

    start = time.perf_counter()
    traces = pt.run()
    seconds = time.perf_counter() - start
    print(f"izhijax patterns: Izhikevich (2004) Fig. 1, 20 panels in one compiled call "
          f"({seconds:.2f} s with compilation, backend={jax.default_backend()})")
    missed = 0
    for tr in traces:
        ok = features.shows(tr.protocol.name, tr)
        missed += not ok
        print(f"  ({tr.protocol.label}) {tr.protocol.name:30s} {int(tr.spikes.sum()):3d} spikes  "
              f"{'shows the feature' if ok else 'DOES NOT show the feature'}")
    fig = plot.patterns(traces, title="Izhikevich (2004) Fig. 1, izhijax")
    fig.savefig(args.out, dpi=110)
    print(f"  figure {args.out}")
    return 1 if missed else 0


def sweep(args):
    if args.x[0] == args.y[0]:
        print(f"izhijax: error: --x and --y sweep the same value {args.x[0]!r}", file=sys.stderr)
        return 2
    jax = _jax(args.x64)
    import json
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    import izhijax as izj

    net_key, noise_key = jax.random.split(jax.random.key(args.seed))
    params = izj.izhikevich2003(net_key, variant=args.variant)
    n_steps = max(1, round(args.duration / params.config.dt))
    axes = dict([args.x, args.y])
    start = time.perf_counter()
    res = izj.sweep.run(params, noise_key, n_steps, axes, trials=args.trials,
                        batch_size=args.batch_size)
    wall = time.perf_counter() - start
    total = int(np.prod(res.shape))
    print(f"izhijax sweep: {' x '.join(f'{d}[{n}]' for d, n in zip(res.dims, res.shape))} = "
          f"{total} networks of {n_steps} steps ({n_steps * params.config.dt:g} ms), variant "
          f"{args.variant}, {jax.device_count()} {jax.default_backend()} device(s)")
    import warnings
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN summaries of a short run
        for name in ("rate_exc", "rate_inh", "rhythm_hz", "chi"):
            v = np.asarray(res[name], float)
            print(f"  {name:<10s} {np.nanmin(v):9.2f} .. {np.nanmax(v):9.2f}")
    print(f"  time       {wall:.2f} s (compile included), {wall / total * 1e3:.1f} ms per network")
    fig = izj.plot.sweep_maps(res, title=f"Fig. 3 network ({args.variant}), {args.duration:g} ms")
    fig.savefig(args.out, dpi=110)
    print(f"  figure     {args.out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res.to_dict(), f)
        print(f"  summaries  {args.json}")
    return 0


def fit(args):
    import json

    jax = _jax()
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    import optax

    import izhijax as izj
    from izhijax.plot import fit_curves

    from .memory import (Estimate, check_memory, fit_bytes, format_count, network_bytes,
                         simulation_bytes)

    n_exc = max(1, min(args.neurons - 1, round(0.8 * args.neurons)))
    net_key, fit_key, eval_key = jax.random.split(jax.random.key(args.seed), 3)
    build_net = lambda: izj.izhikevich2003(net_key, n_exc=n_exc, n_inh=args.neurons - n_exc,
                                           variant=args.variant)
    shapes = jax.eval_shape(build_net)          # the network's shapes: nothing allocated yet
    n_steps = max(1, round(args.duration / shapes.config.dt))
    top = 1000.0 / shapes.config.dt             # one spike per step
    for flag, rate in (("--exc", args.exc), ("--inh", args.inh)):
        if rate > top:
            raise _UsageError(f"argument {flag}: expected at most {top:g} Hz (one spike per "
                              f"{shapes.config.dt:g} ms step), got {rate:g}")
    need = (Estimate({"network": network_bytes(shapes)})
            + fit_bytes(shapes, n_steps, args.batch, n_iters=args.iters, n_theta=6)
            + simulation_bytes(shapes, n_steps, 0, 0, False))
    check_memory(need, f"fit of {args.neurons} neurons, {args.batch} run(s) x "
                       f"{format_count(n_steps)} steps per optimizer step, {args.iters} iterations",
                 _device(jax),
                 advice="use fewer --neurons, a smaller --batch, a shorter --duration or fewer "
                        "--iters")
    params = build_net()
    theta, build = izj.fit.population_parameters(params)
    targets = {"exc": args.exc, "inh": args.inh}
    loss = izj.fit.population_loss(targets, params)
    eval_keys = jax.random.split(eval_key, 10)
    pops = lambda r: (float(np.mean(r[..., :n_exc])), float(np.mean(r[..., n_exc:])))
    before = pops(izj.fit.evaluate(params, eval_keys, n_steps))
    print(f"izhijax fit: variant={args.variant} seed={args.seed} neurons={n_exc}+"
          f"{args.neurons - n_exc} steps={n_steps} targets exc {args.exc:g} Hz / inh "
          f"{args.inh:g} Hz, adam({args.lr:g}), {args.batch} keys per step")
    start = time.perf_counter()
    from .fit import FitDivergenceError
    try:
        result = izj.fit.fit(theta, build, loss, optax.adam(args.lr), fit_key, n_steps,
                             n_iters=args.iters, batch=args.batch, progress=not args.no_progress,
                             tol=4e-4, summary=lambda r: dict(zip(("exc", "inh"), pops(r))))
    except FitDivergenceError as err:
        raise FloatingPointError(f"the fit stopped at optimizer step {err.iteration}: {err.cause}; "
                                 f"try a smaller --lr (now {args.lr:g})") from None
    fit_s = time.perf_counter() - start
    after = pops(izj.fit.evaluate(result.params, eval_keys, n_steps))
    steps = len(result.history["loss"])
    print(f"  optimizer steps {steps} in {fit_s:.1f} s")
    print(f"  before          exc {before[0]:.2f} Hz / inh {before[1]:.2f} Hz (10 held-out keys)")
    print(f"  after           exc {after[0]:.2f} Hz / inh {after[1]:.2f} Hz (10 held-out keys)")
    print("  fitted          " + ", ".join(f"{k}={float(v):.4g}" for k, v in result.theta.items()))
    fig = fit_curves(result.history, n_exc, before, after, (args.exc, args.inh))
    fig.savefig(args.out, dpi=110)
    print(f"  figure          {args.out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"targets_hz": targets, "before_hz": dict(zip(("exc", "inh"), before)),
                       "after_hz": dict(zip(("exc", "inh"), after)), "optimizer_steps": steps,
                       "fit_seconds": fit_s,
                       "theta": {k: float(v) for k, v in result.theta.items()},
                       "loss": result.history["loss"].tolist()}, f, indent=1)
        print(f"  numbers         {args.json}")
    return 0


STATS_BYTES_PER_SECOND = 200
"""Host memory a polychronization run keeps per simulated second (its statistics row)."""


def _device(jax):
    """The device a subcommand computes on, or None for the host's CPU."""
    device = jax.devices()[0]
    return None if device.platform == "cpu" else device


def _pin_cores(cores):
    """Restrict this process to the first ``cores`` of the CPUs it may use, before JAX starts (XLA's
    CPU runtime sizes its thread pool from them). Raises :class:`_UsageError` naming ``--cores``."""
    if not hasattr(os, "sched_setaffinity"):
        raise _UsageError("--cores needs os.sched_setaffinity (Linux); pin the process with the "
                          "system's own tool instead")
    if "jax" in sys.modules:
        raise _UsageError("--cores must be set before JAX is imported (run izhijax as its own "
                          "process)")
    cpus = sorted(os.sched_getaffinity(0))
    if cores > len(cpus):
        raise _UsageError(f"--cores {cores}: this process may use {len(cpus)} CPU"
                          f"{'s' if len(cpus) > 1 else ''}")
    os.sched_setaffinity(0, cpus[:cores])


def polychronization(args):
    if args.cores is not None:
        _pin_cores(args.cores)
    if args.exact:
        if "jax" in sys.modules:
            print("izhijax: error: --exact must be set before JAX is imported", file=sys.stderr)
            return 1
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_max_isa=AVX").strip()
    jax = _jax(args.x64)
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np

    import izhijax as izj
    from izhijax._src import polychronization as pc
    from izhijax.plot import polychronization as plot

    seconds = (60 if args.hours is None else max(1, round(args.hours * 3600))) \
        if args.seconds is None else args.seconds
    net_key, run_key = jax.random.split(jax.random.key(args.seed))
    net, stim = izj.polychronization2006(net_key)
    from .memory import Estimate, check_memory, format_count, simulation_bytes
    steps = int(round(1000.0 / net.config.dt))
    need = (simulation_bytes(net, steps, 0, 0, False)
            + Estimate({"statistics": STATS_BYTES_PER_SECOND * seconds}))
    check_memory(need, f"polychronization run of {format_count(seconds)} s", _device(jax),
                 advice="use fewer --seconds or --hours")
    dtype = "float64" if args.x64 else "float32"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    backend = pc.choose_backend(args.backend, net, stim)
    print(f"izhijax polychronization: seed={args.seed} {seconds} s simulated, {dtype}"
          f"{', exact (no FMA)' if args.exact else ''}, backend {backend}, "
          f"{cpus} CPU{'s' if cpus != 1 else ''}, folder {args.dir}")
    from izhijax._src import fused
    if backend == "xla" and args.backend == "auto" and not fused.available():
        print("  (the fused loop, about 3x faster here, needs numba and brainevent: "
              "pip install \"izhijax[brainevent]\")")
    start = time.perf_counter()
    state, stats = pc.run(net, stim, run_key, seconds, args.dir,
                          checkpoint_every=args.checkpoint_every,
                          snapshot_every=args.snapshot_every, progress=not args.no_progress,
                          backend=backend)
    wall = time.perf_counter() - start
    csv = os.path.join(args.dir, "stats.csv")
    np.savetxt(csv, np.stack([stats.second, stats.exc_rate, stats.strong_percent,
                              stats.inh_rate], 1), fmt=["%d", "%.6g", "%.6g", "%.6g"],
               delimiter=",", header="second,exc_rate_hz,strong_percent,inh_rate_hz",
               comments="")
    last = stats[-1]
    print(f"  wall            {wall:.1f} s for this call "
          f"({wall / max(seconds, 1):.3f} s per simulated second incl. compilation and resumed "
          f"seconds)")
    print(f"  second {int(last.second):<8} exc {last.exc_rate:.2f} Hz, inh {last.inh_rate:.2f} Hz, "
          f"{pc.exc_exc_strong(net, state):.1f} % exc->exc weights > 9 mV/ms")
    print(f"  statistics      {csv}")
    group = _polychronous_groups(args, net, state) if args.groups else None
    _, rec = izj.simulate(net, run_key, 1000, state=state, inputs=stim, record_v=())
    w, _ = pc.learned_weights(net, state)
    post = np.asarray(net.projection("exc").weights.synapses()[1]).reshape(w.shape)
    fig = plot(stats, (w, post), rec, c_max=net.projection("exc").plasticity.w_max, group=group)
    fig.savefig(args.out, dpi=110)
    print(f"  figure          {args.out} (raster: the second after the run)")
    return 0


def _polychronous_groups(args, net, state):
    """``--groups``: the search on the learned weights and on the shuffled control; writes
    DIR/polyall.dat and DIR/groups.json, prints the counts; returns the group to draw (the
    longest, in layers, of the groups of at most 60 spikes, which stay legible; else the smallest)
    or None."""
    import json

    from izhijax._src import polychronization as pc
    from izhijax._src.groups import polychronous_groups, shuffle_weights
    tables = pc.synapse_tables(net, state)
    bar = not args.no_progress
    res = polychronous_groups(**tables, progress=bar)        # Numba: one thread per CPU
    shuffled = shuffle_weights(tables["post"], tables["weights"], tables["n_exc"], args.seed)
    ctl = polychronous_groups(**dict(tables, weights=shuffled), progress=bar)
    with open(os.path.join(args.dir, "polyall.dat"), "w") as f:
        f.write(res.polyall())
    summary = dict(groups=res.summary(), shuffled=ctl.summary(), settings=res.settings)
    with open(os.path.join(args.dir, "groups.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"  groups          {res.count} polychronous groups ({res.n_triplets} anchor sets, "
          f"{res.seconds:.1f} s, {res.settings['backend']}); shuffled weights: {ctl.count}")
    print(f"                  {os.path.join(args.dir, 'polyall.dat')}, "
          f"{os.path.join(args.dir, 'groups.json')}")
    if not res.count:
        return None
    small = [g for g in res.groups if g.size <= 60]
    if not small:
        return min(res.groups, key=lambda g: g.size)
    return max(small, key=lambda g: (g.n_layers, g.size))


def _error(message, code):
    text = " ".join(str(message).splitlines())         # one line, whatever the message
    try:
        print(f"izhijax: error: {text}", file=sys.stderr)
    except (BrokenPipeError, OSError):      # stderr closed too: the exit status says it
        pass
    return code


def _quiet_stdout():
    """After a closed pipe: send the rest of stdout to os.devnull, so that the flush at exit does
    not raise again (the Python documentation's note on SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _out_of_memory(err):
    """True for an allocator's out-of-memory error (XLA's RESOURCE_EXHAUSTED)."""
    return "RESOURCE_EXHAUSTED" in str(err) or "Out of memory" in str(err)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings of the command as one line each, ``izhijax: warning: ...`` (no source line)."""
    text = " ".join(str(message).split())
    try:
        print(f"izhijax: warning: {text} ({category.__name__})", file=sys.stderr if file is None
              else file)
    except (BrokenPipeError, OSError):
        pass


def main(argv=None):
    import warnings
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        return _run(args)


def _run(args):
    try:
        code = {"fig3": fig3, "patterns": patterns, "sweep": sweep, "fit": fit,
                "polychronization": polychronization,
                "fit-neuron": globals()["fit-neuron"]}[args.command](args)
        sys.stdout.flush()          # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except _UsageError as err:
        return _error(err, 2)
    except (OSError, ValueError, FloatingPointError) as err:     # FloatingPointError: divergence
        return _error(err, 1)
    except MemoryError as err:
        return _error(f"out of memory{': ' + str(err) if str(err) else ''}; ask for less (a "
                      f"shorter duration, fewer networks or neurons)", 1)
    except RuntimeError as err:
        if not _out_of_memory(err):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return _error(f"out of memory: {first}; ask for less (a shorter duration, fewer "
                      f"networks or neurons)", 1)


def console():
    """Entry point of the installed ``izhijax`` command: :func:`main`, then exit at once.

    Once the command has written its files and printed its report, the interpreter's orderly
    shutdown (freeing every module and JAX's runtime) would take about 0.3 s more; the streams are
    flushed and the process ends with :func:`main`'s code instead. An exception still unwinds and
    prints as usual.
    """
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        code = 141
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    console()
