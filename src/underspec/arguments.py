"""The command line's argument types: each declares what it accepts, checked when the command
line is parsed, before any work (a bad ``--epochs`` never costs a minute of training).

A type is called by :mod:`argparse` with the text of one argument; it returns the value or
raises :class:`argparse.ArgumentTypeError`, whose message argparse prints after the flag's
name (``argument --epochs: expected a number > 0, got 'nan'``) with exit code 2. This module
imports nothing heavy, so that ``underspec --help`` stays fast.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable

from underspec.constraints import COUNT, NATURAL, NON_NEGATIVE, PORT, POSITIVE, SEED, SHARE, Number
from underspec.errors import UnderspecError, check_output_dir, check_output_file

__all__ = ["COUNT", "NATURAL", "NON_NEGATIVE", "PORT", "POSITIVE", "SEED", "SHARE", "Number", "Parser",
           "output_file", "output_folder", "run_command"]


def output_file(text: str) -> str:
    """A file to write: not a folder, in a folder that can be written (checked before any work)."""
    try:
        check_output_file(text)
    except UnderspecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def output_folder(text: str) -> str:
    """A folder to write as a whole: absent, empty, or one underspec wrote (see
    :func:`~underspec.errors.check_output_dir`); a user's files are never replaced."""
    try:
        check_output_dir(text)
    except UnderspecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class Parser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` that reports an error on one line (no usage block) and
    reads ``-5,10,10`` as a value, not as an unknown option."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse takes any argument that starts with '-' and is not a plain number for an
        # option: `--sizes -5,10,10` would say "expected one argument", hiding the real problem.
        self._negative_number_matcher = re.compile(r"^-\d[\d.,eE+-]*$")

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None, call: Callable[[argparse.Namespace], int],
                explain: Callable[[str], str] = str) -> int:
    """Parse ``argv`` and run ``call(args)`` as a command: exit code 2 with one line (``explain``
    may reword it) on bad input or a bad argument, 130 on Ctrl-C, warnings on one line too."""
    prog = parser.prog

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr)

    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0), or a bad argument (2, the message already printed)
        return exc.code if isinstance(exc.code, int) else 2
    ctrl_c: list[int] = []

    def on_ctrl_c(signum, frame) -> None:
        ctrl_c.append(signum)
        raise KeyboardInterrupt

    # A library may turn the KeyboardInterrupt of a Ctrl-C into another error: numpy's fromfile,
    # interrupted in np.load, raises "TypeError: expected str, bytes or os.PathLike object, not
    # BufferedReader" (seen in CI). The handler records the Ctrl-C, so that error exits as one.
    ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler and \
        threading.current_thread() is threading.main_thread()
    if ours:
        signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return call(args)
    except (KeyboardInterrupt, Exception) as exc:
        if isinstance(exc, KeyboardInterrupt) or ctrl_c:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        if isinstance(exc, UnderspecError):
            print(f"{prog}: error: {explain(str(exc))}", file=sys.stderr)
            return 2
        raise
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)
