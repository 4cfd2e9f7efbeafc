"""The ``izhijax`` command.

    izhijax fig3 [--seed S] [--variant V] [--duration MS] [--out fig3.png] [--save run.npz]

A bad flag or value prints one line, ``izhijax: error: ...``, and exits with status 2.
"""

import argparse
import os
import sys
import time


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


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text!r}")
    return value


def _writable(suffix):
    def check(text):
        folder = os.path.dirname(os.path.abspath(text))
        if not os.path.isdir(folder):
            raise argparse.ArgumentTypeError(f"folder {folder!r} does not exist")
        if suffix and not text.lower().endswith(suffix):
            raise argparse.ArgumentTypeError(f"expected a {suffix} file name, got {text!r}")
        return text
    return check


def build_parser():
    from .models import VARIANTS
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
    f3.add_argument("--x64", action="store_true", help="simulate in float64")
    return parser


def fig3(args):
    import jax
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import matplotlib
    matplotlib.use("Agg")
    import izhijax as izj

    net_key, noise_key = jax.random.split(jax.random.key(args.seed))
    params = izj.izhikevich2003(net_key, variant=args.variant)
    n_steps = max(1, round(args.duration / params.config.dt))
    run, compile_s = izj.compile_simulation(params, noise_key, n_steps, on_divergence="raise")
    start = time.perf_counter()
    final, rec = jax.block_until_ready(run())
    run_s = time.perf_counter() - start
    s = izj.summary(rec)
    n_exc = params.config.n_exc
    print(f"izhijax fig3: variant={args.variant} seed={args.seed} neurons={n_exc}+"
          f"{params.n - n_exc} dt={params.config.dt} ms steps={n_steps} "
          f"({n_steps * params.config.dt:g} ms) backend={jax.default_backend()}")
    print(f"  spikes          {s['spikes']}")
    print(f"  rate exc / inh  {s['rate_exc']:.2f} Hz / {s['rate_inh']:.2f} Hz")
    print(f"  rhythm          {s['rhythm_hz']:.1f} Hz (peak of the excitatory population rate)")
    print(f"  compile         {compile_s:.3f} s")
    print(f"  run             {run_s:.3f} s ({run_s / (rec.duration * 1e-3):.3f} s per "
          f"simulated second)")
    fig = izj.plot.fig3(rec, title=f"Izhikevich (2003) Fig. 3, izhijax, variant {args.variant}")
    fig.savefig(args.out, dpi=120)
    print(f"  figure          {args.out}")
    if args.save:
        izj.save_run(args.save, rec, params, state=final, key=noise_key)
        print(f"  recording       {args.save}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return {"fig3": fig3}[args.command](args)
    except (OSError, ValueError, FloatingPointError) as err:     # FloatingPointError: divergence
        print(f"izhijax: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
