"""Every subcommand's bad flags and values: one line ``izhijax: error: ...``, exit status 2, no traceback.

The sweep over subcommands reads whatever :func:`izhijax.cli.build_parser` defines, so subcommands
added later are covered without editing this file: for each one a bogus flag, each option that takes
a value given none, each option with choices given a value outside them, and each option with a type
converter given a value the converter refuses. Those run in-process through ``cli.main``; a bogus flag
per subcommand and a table of extreme values (0, negative, NaN, inf, huge, empty) also run through
the console script.

Also: every output file or folder option is checked writable while parsing (a missing folder, a
folder given for a file, a place where files cannot be created, a read-only folder or file), before
anything is simulated; a request larger than the machine's memory is one line with how much it
needs, exit status 1; a pipe closed early (``izhijax fig3 | head -1``) ends quietly with status 141.
"""

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import warnings

import pytest

from izhijax._src import cli

EXE = os.path.join(os.path.dirname(sys.executable), "izhijax")
BOGUS = "%not-a-value%"


def _subcommands():
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _refuses(convert, text):
    try:
        convert(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return True
    return False


def _generic_cases():
    cases = []
    for name, sub in _subcommands().items():
        cases.append((name, "--no-such-flag-xyz"))
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0 or isinstance(
                    action, argparse._HelpAction):
                continue
            flag = action.option_strings[-1]
            cases.append((name, flag))                                  # value missing
            if action.choices is not None:
                cases.append((name, flag, BOGUS))
            elif action.type not in (None, str) and _refuses(action.type, BOGUS):
                cases.append((name, flag, BOGUS))
    return cases


def _one_line_error(stderr):
    lines = stderr.strip().splitlines()
    return "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("izhijax: error:")


def test_every_subcommand_is_covered():
    cases = _generic_cases()
    assert "fig3" in _subcommands()
    assert {c[0] for c in cases} == set(_subcommands())
    assert ("fig3", "--variant", BOGUS) in cases and ("fig3", "--duration", BOGUS) in cases


@pytest.mark.parametrize("argv", _generic_cases(), ids=" ".join)
def test_bad_flag_or_value_in_process(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    assert info.value.code == 2
    assert _one_line_error(err.getvalue()), err.getvalue()


def _run(*args, cwd=None):
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("argv", [
    *[(name, "--no-such-flag-xyz") for name in _subcommands()],
    ("fig3", "--duration", "0"),
    ("fig3", "--duration", "nan"),
    ("fig3", "--duration", "inf"),
    ("fig3", "--duration", "1e7"),
    ("fig3", "--duration", ""),
    ("fig3", "--seed", "-1"),
    ("fig3", "--seed", "4294967296"),
    ("fig3", "--seed", "abc"),
    ("fig3", "--variant", ""),
    ("fig3", "--save", "run.txt"),
    ("fig3", "--save", "/no/such/folder/run.npz"),
    ("fig3", "--x64=1"),
    ("fig3", "extra"),
    ("fig3", "--out", ""),
    ("fig3", "--out", "/no/such/folder/f.png"),
    ("--version-typo",),
    ("patterns", "--out", "."),
    ("sweep", "--duration", "0"),
    ("sweep", "--duration", "-1"),
    ("sweep", "--duration", "nan"),
    ("sweep", "--duration", "inf"),
    ("sweep", "--duration", "1e300"),               # 10^300 steps: past the int32 step index
    ("fit", "--duration", "1e12"),
    ("sweep", "--trials", "0"),
    ("sweep", "--trials", "-5"),
    ("sweep", "--trials", "1e3"),
    ("sweep", "--batch-size", "0"),
    ("sweep", "--x", "bias=1:2:100000000"),        # a billion-float list in argparse before
    ("sweep", "--x", "bias=1:2:0"),
    ("sweep", "--x", "bias=nan,1"),
    ("sweep", "--x", "bias="),
    ("sweep", "--x", "=1,2"),
    ("sweep", "--x", "noise_amp=-1,1"),             # a negative noise amplitude ran before
    ("sweep", "--y", "exc.noise_amp=-2"),
    ("sweep", "--y", "noise_scale=-0.5:1:3"),
    ("sweep", "--json", ""),
    ("fit", "--neurons", "0"),
    ("fit", "--neurons", "1"),
    ("fit", "--neurons", "100000000"),              # 4e16 bytes of weights: a traceback before
    ("fit", "--iters", "-1"),
    ("fit", "--batch", "0"),
    ("fit", "--lr", "0"),
    ("fit", "--lr", "inf"),
    ("fit", "--exc", "nan"),
    ("fit", "--duration", "-inf"),
    ("polychronization", "--seconds", "0"),
    ("polychronization", "--seconds", "1.5"),
    ("polychronization", "--hours", "1e300"),       # OverflowError traceback before
    ("polychronization", "--hours", "-1"),
    ("polychronization", "--seconds", "1", "--hours", "1"),
    ("polychronization", "--checkpoint-every", "0"),
    ("polychronization", "--snapshot-every", "-1"),
    ("polychronization", "--dir", ""),
], ids=" ".join)
def test_bad_command_line_console_script(argv):
    r = _run(*argv)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert _one_line_error(r.stderr), r.stderr


@pytest.mark.slow
def test_runtime_failure_is_one_line_exit_1(tmp_path):
    # A run folder holding something that is not a run passes the flag's checks; reading it
    # fails while running: one line, status 1.
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.npz").write_bytes(b"not an archive")
    r = _run("polychronization", "--seconds", "1", "--dir", str(run), "--no-progress",
             "--out", str(tmp_path / "p.png"))
    assert r.returncode == 1 and _one_line_error(r.stderr), r.stderr
    assert "run.npz" in r.stderr


# -- output paths are checked while parsing --------------------------------------------------------

def _output_options():
    """(subcommand, flag, suffix or "folder") of each option naming a file or folder to write."""
    out = []
    for name, sub in _subcommands().items():
        for action in sub._actions:
            kind = getattr(action.type, "output", None)
            if kind is not None:
                out.append((name, action.option_strings[-1], kind))
    return out


def test_every_output_option_is_checked():
    """Each option whose help speaks of a file or folder uses a checked output type."""
    for name, sub in _subcommands().items():
        for action in sub._actions:
            words = (action.help or "").lower()
            if action.option_strings and action.nargs != 0 and ("file" in words
                                                                or "folder" in words):
                assert getattr(action.type, "output", None) is not None, (name, action.dest)
    found = {(c, f) for c, f, _ in _output_options()}
    assert {("fig3", "--out"), ("fig3", "--save"), ("fig3", "--nwb"), ("patterns", "--out"),
            ("sweep", "--out"), ("sweep", "--json"), ("fit", "--out"), ("fit", "--json"),
            ("polychronization", "--dir"), ("polychronization", "--out")} <= found


def _bad_paths(tmp_path, kind):
    """(case, path, message fragment, skip reason or None) of places that cannot be written."""
    ext = "" if kind == "folder" else kind
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    locked = tmp_path / f"locked{ext or '_file'}"
    locked.write_text("")
    os.chmod(locked, 0o444)
    os.chmod(readonly, 0o555)
    root = "root may write anywhere the permission bits say not" if os.geteuid() == 0 else None
    cases = [("missing folder", str(tmp_path / "nope" / f"x{ext}"), "does not exist", None),
             ("unwritable place", f"/proc/izhijax-test{ext}", "cannot write",
              None if os.path.isdir("/proc/self") else "no /proc"),
             ("read-only folder", str(readonly / f"x{ext}"), "cannot write", root)]
    if kind == "folder":
        cases.append(("a file, not a folder", str(locked), "is not a folder", None))
    else:
        folder = tmp_path / f"folder{ext}"
        folder.mkdir()
        cases.append(("a folder, not a file", str(folder), "is a folder", None))
        cases.append(("read-only file", str(locked), "read-only", root))
    return cases


def _refuse_to_run(monkeypatch):
    """Make every subcommand fail loudly if it is ever called."""
    def never(args):
        raise AssertionError(f"{args.command} ran although its command line was bad")
    for name in _subcommands():
        monkeypatch.setattr(cli, name, never)


@pytest.mark.parametrize("command, flag, kind", _output_options(), ids=lambda x: str(x))
def test_unwritable_output_fails_while_parsing(tmp_path, monkeypatch, command, flag, kind):
    """A missing folder, a folder for a file (or a file for a folder), /proc, a read-only folder or
    file: one line naming the option, status 2, while parsing (nothing run)."""
    _refuse_to_run(monkeypatch)
    for case, path, fragment, skip in _bad_paths(tmp_path, kind):
        if skip:
            continue
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
            cli.main([command, flag, path])      # _refuse_to_run: nothing may run
        assert info.value.code == 2, (case, err.getvalue())
        assert _one_line_error(err.getvalue()), (case, err.getvalue())
        assert f"argument {flag}:" in err.getvalue() and fragment in err.getvalue(), \
            (case, err.getvalue())
    assert not list(tmp_path.glob("**/.izhijax-probe-*"))       # the probes leave nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_folder_refused_for_every_output(tmp_path, monkeypatch):
    _refuse_to_run(monkeypatch)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    os.chmod(readonly, 0o555)
    for command, flag, kind in _output_options():
        path = str(readonly / ("run" if kind == "folder" else f"x{kind}"))
        with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as info:
            cli.main([command, flag, path])
        assert info.value.code == 2, (command, flag)


def test_writable_outputs_pass_and_leave_no_file(tmp_path):
    """The checks create nothing: a new file name stays absent after parsing, an existing file is
    left as it was."""
    parser = cli.build_parser()
    new = tmp_path / "new.png"
    old = tmp_path / "old.json"
    old.write_text("keep")
    args = parser.parse_args(["sweep", "--out", str(new), "--json", str(old)])
    assert args.out == str(new) and not new.exists() and old.read_text() == "keep"
    args = parser.parse_args(["polychronization", "--dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()
    assert os.listdir(tmp_path) == ["old.json"]


# -- requests too large for the memory -------------------------------------------------------------

def _never(*args, **kwargs):
    raise AssertionError("the expensive part ran although the request cannot fit")


def _too_large_cases(tmp_path):
    png = str(tmp_path / "x.png")
    return [
        (["sweep", "--trials", "100000000", "--out", png], "sweep of 25600000000 networks"),
        (["sweep", "--duration", "1e8", "--out", png], "sweep of 256 networks x 100000000 steps"),
        (["fit", "--neurons", "10000000", "--out", png], "fit of 10000000 neurons"),
        (["fit", "--duration", "1e9", "--neurons", "10", "--out", png],
         "x 1000000000 steps per optimizer step"),
        (["fit", "--iters", "1000000000000", "--out", png], "1000000000000 iterations needs about"),
        (["polychronization", "--seconds", str(10**20), "--dir", str(tmp_path / "run"),
          "--out", png], "polychronization run of 1.00e+20 s"),
    ]


def _patch_expensive(monkeypatch):
    import izhijax as izj
    from izhijax._src import polychronization, sweep
    monkeypatch.setattr(sweep, "_batch", _never)
    monkeypatch.setattr(izj.fit, "fit", _never)
    monkeypatch.setattr(izj.fit, "evaluate", _never)
    monkeypatch.setattr(polychronization, "run", _never)
    monkeypatch.setattr(izj, "compile_simulation", _never)


@pytest.mark.slow
def test_too_large_requests_are_one_line_exit_1(tmp_path, monkeypatch):
    """A sweep, fit or polychronization run asking for more than the machine has: one line with
    how much it needs and how much there is, status 1, before anything is simulated."""
    monkeypatch.delenv("IZHIJAX_MEMORY_CHECK", raising=False)
    _patch_expensive(monkeypatch)
    for argv, fragment in _too_large_cases(tmp_path):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
        assert code == 1, (argv, err.getvalue())
        assert _one_line_error(err.getvalue()), err.getvalue()
        assert fragment in err.getvalue(), err.getvalue()
        assert re.search(r"needs about [\d.e+^ ]+ [KMGTPE]?i?B.*; this machine has [\d.]+ [KMGT]iB "
                         r"available; ", err.getvalue()), err.getvalue()
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "run").exists()


def test_fig3_too_large_for_a_small_machine(tmp_path, monkeypatch):
    """fig3's duration is capped (1e6 ms, a 1 GB raster); on a machine with 1 MiB free even the
    default run is refused before compiling, with its size."""
    from izhijax._src import memory
    monkeypatch.delenv("IZHIJAX_MEMORY_CHECK", raising=False)
    _patch_expensive(monkeypatch)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 2**20)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["fig3", "--out", str(tmp_path / "f.png")])
    assert code == 1 and _one_line_error(err.getvalue()), err.getvalue()
    assert re.match(r"izhijax: error: fig3 run of 1000 neurons x 1000 steps needs about [\d.]+ MiB "
                    r"\(recordings [\d.]+ MiB, .*\); this machine has 1 MiB available; use a "
                    r"shorter --duration", err.getvalue()), err.getvalue()


def test_too_large_sweep_console_script_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "IZHIJAX_MEMORY_CHECK"}
    r = subprocess.run([EXE, "sweep", "--trials", "100000000", "--out", str(tmp_path / "s.png")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1 and _one_line_error(r.stderr), r.stderr
    assert "needs about" in r.stderr and "batch_size" in r.stderr


# -- values found bad after parsing, warnings, interrupts ------------------------------------------

def test_fit_target_rate_above_one_spike_per_step_is_a_usage_error(tmp_path, monkeypatch):
    _patch_expensive(monkeypatch)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["fit", "--exc", "5000", "--out", str(tmp_path / "f.png")])
    assert code == 2 and _one_line_error(err.getvalue()), err.getvalue()
    assert "argument --exc: expected at most 1000 Hz (one spike per 1 ms step), got 5000" in \
        err.getvalue()


def test_warnings_and_interrupts_are_one_line(monkeypatch):
    def warns(args):
        warnings.warn("two\nlines", UserWarning)
        return 0

    def interrupted(args):
        raise KeyboardInterrupt

    def multiline(args):
        raise ValueError("first\nsecond")

    for command, expected, code in ((warns, "izhijax: warning: two lines (UserWarning)", 0),
                                    (interrupted, "izhijax: error: interrupted", 130),
                                    (multiline, "izhijax: error: first second", 1)):
        monkeypatch.setattr(cli, "patterns", command)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("always")
            assert cli.main(["patterns"]) == code
        assert err.getvalue() == expected + "\n", err.getvalue()


# -- a pipe closed early ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv, buffered", [
    (("fig3", "--duration", "5"), True),
    (("fig3", "--duration", "5"), False),
    (("sweep", "--x", "bias=1", "--y", "noise_scale=1", "--duration", "5"), False),
], ids=["fig3-buffered", "fig3-unbuffered", "sweep-unbuffered"])
@pytest.mark.slow
def test_closed_pipe_ends_quietly(tmp_path, argv, buffered):
    """``izhijax ... | head -1``: the reader is gone before the output is written; the command ends
    with status 141 (128 + SIGPIPE) and says nothing on stderr (before: a BrokenPipeError report,
    status 120). Like any Unix tool it stops at its first write to the closed pipe: with Python's
    default block buffering that is the flush at the end, after the figure is written; with
    ``PYTHONUNBUFFERED=1`` it is the first line."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    p = subprocess.Popen([EXE, *argv, "--out", str(tmp_path / "x.png")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    p.stdout.close()                    # the reader closes before reading anything
    _, err = p.communicate(timeout=300)
    err = err.decode()
    assert p.returncode == 141, (p.returncode, err)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    assert err.strip() == "", err
    if buffered:
        assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"
