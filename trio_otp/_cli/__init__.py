"""The command line: ``python -m trio_otp SUBCOMMAND ...`` (console script ``trio-otp``).

One argparse program; each subcommand is one module of this package, named in
:data:`SUBCOMMANDS`, that defines:

* ``HELP``: its one-line summary (shown by ``trio-otp --help``);
* ``DESCRIPTION``: the text of its own ``--help``;
* ``add_arguments(parser)``: its options, each with a ``help=`` (defaults stated);
* ``run(args) -> int``: do it, return the exit status.

A new subcommand is a new module and one line in :data:`SUBCOMMANDS`. A module is
imported only to build the parser: heavy dependencies (a database driver) are imported
inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Final, Protocol, cast

__all__ = ["EXIT_USAGE", "SUBCOMMANDS", "build_parser", "main"]

#: The subcommands: name → module (in this package) that implements it.
SUBCOMMANDS: Final[dict[str, str]] = {
    "worker": "._worker",
    "migrate": "._migrate",
    "observe": "._observe",
}

#: Exit status of a usage error (argparse's own, also for a target that cannot be
#: imported or a missing database URL).
EXIT_USAGE: Final = 2


class _Subcommand(Protocol):
    HELP: str
    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class UsageError(Exception):
    """A subcommand was given something it cannot use: printed, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line's parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog="trio-otp",
        description=(
            "trio_otp's command line: run job queue workers, migrate their store, "
            "watch a running program's observer."
        ),
        epilog="`trio-otp SUBCOMMAND --help` explains each subcommand's options.",
    )
    from trio_otp._version import __version__

    parser.add_argument("--version", action="version", version=f"trio_otp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = cast(_Subcommand, importlib.import_module(module_name, __name__))
        sub = commands.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit
    status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except UsageError as exc:
        print(f"trio-otp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return status
