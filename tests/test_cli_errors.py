"""Every subcommand's bad flags and values: one line ``izhijax: error: ...``, exit status 2, no traceback.

The sweep over subcommands reads whatever :func:`izhijax.cli.build_parser` defines, so subcommands
added later are covered without editing this file: for each one a bogus flag, each option that takes
a value given none, each option with choices given a value outside them, and each option with a type
converter given a value the converter refuses. Those run in-process through ``cli.main``; a bogus flag
per subcommand and targeted bad values for ``fig3`` also run through the console script.
"""

import argparse
import contextlib
import io
import os
import subprocess
import sys

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
    ("--version-typo",),
], ids=" ".join)
def test_bad_command_line_console_script(argv):
    r = _run(*argv)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert _one_line_error(r.stderr), r.stderr


@pytest.mark.slow
def test_runtime_failure_is_one_line_exit_1(tmp_path):
    # A folder named like a PNG passes the flag's checks; writing the figure there fails (OSError).
    target = tmp_path / "f.png"
    target.mkdir()
    r = _run("fig3", "--duration", "5", "--out", str(target))
    assert r.returncode == 1 and _one_line_error(r.stderr), r.stderr
    assert "f.png" in r.stderr
