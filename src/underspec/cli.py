"""Command-line interface: the parser of ``underspec`` built from the command groups of
:mod:`underspec.commands`, and the entry point.

Heavy modules are imported inside the commands' ``run_*`` functions so that ``underspec --help``
is fast. Every :class:`~underspec.errors.UnderspecError` becomes a one-line message and exit
code 2; a message that names a library field names its flag instead.
"""

from __future__ import annotations

import argparse
import re

from underspec import arguments as types
from underspec.commands import challenge, dataset, label, leaderboard

GROUPS = (challenge, dataset, label, leaderboard)
"""The command groups, in the order ``underspec --help`` lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``underspec`` and its sub-commands."""
    parser = types.Parser(prog="underspec", description="Classification when the data does not say what was meant.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def _on_device(args: argparse.Namespace) -> int:
    """Run the command, inside :func:`underspec.models.fit.use_device` when it has ``--device``."""
    if getattr(args, "device", None) is None:
        return args.func(args)
    from underspec.models.fit import use_device

    with use_device(args.device):
        return args.func(args)


FIELD_DESTS = {"n_boot": "bootstrap", "min_count": "min_group", "issues": "drop_issues",
               "semi_supervised": "semi", "ood_findings": "ood", "exercise_id": "id"}
"""Library field names whose flag is not simply ``--`` plus the name with dashes."""


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{dest: "--flag"}`` over a parser and all its sub-commands."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update({k: v for k, v in flag_names(sub).items() if k not in names})
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
    return names


def in_flags(message: str, parser: argparse.ArgumentParser) -> str:
    """A library message that starts with a field name (``mix_rate: ...``, ``budget 500: ...``),
    told in the command line's words (``--mix-rate: ...``). The library speaks of fields; the
    user of the command line typed flags."""
    flags = flag_names(parser)

    def flag(field: str) -> str | None:
        return flags.get(FIELD_DESTS.get(field, field))

    # a field quoted in the text (`skip_bad`) is told as its flag too
    message = re.sub(r"`([a-z][a-z_]*)`", lambda m: flag(m.group(1)) or m.group(0), message)
    match = re.match(r"([a-z][a-z_]*)(?=[: ])", message)
    if match and flag(match.group(1)):
        return flag(match.group(1)) + message[match.end():]
    return message


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``underspec`` command; returns the exit code."""
    parser = build_parser()
    return types.run_command(parser, argv, _on_device, lambda message: in_flags(message, parser))
