"""The ``ptyxanes`` command line (headless part).

Each subcommand lives in its own module ``ptyxanes.cli.<name>`` that defines
``register(subparsers)``; ``register`` adds a parser and sets
``func=<callable(args) -> int>`` as its default. The GUI package adds the
``gui`` subcommand on top of :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

import ptyxanes
from ptyxanes.io.errors import FormatError
from ptyxanes.progress import Cancelled

logger = logging.getLogger(__name__)

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("info", "align", "tomo", "simulate", "fit", "pipeline", "reconstruct",
                             "import_", "explore")


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """Build the parser with every headless subcommand.

    Returns
    -------
    parser : argparse.ArgumentParser
    subparsers : argparse._SubParsersAction
        So that the GUI can add ``gui``.
    """
    parser = argparse.ArgumentParser(
        prog="ptyxanes",
        description="X-ray spectro-ptychography to nanoscale Ni oxidation-state maps.",
    )
    parser.add_argument("--version", action="version", version=f"ptyxanes {ptyxanes.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ptyxanes.cli.{name}").register(sub)
    return parser, sub


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run a parsed command; turn expected failures into one-line messages.

    Parameters
    ----------
    args : argparse.Namespace
    parser : argparse.ArgumentParser

    Returns
    -------
    code : int
        Process exit status (0 ok, 1 failed, 2 usage, 130 cancelled).
    """
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except (FormatError, FileNotFoundError, FileExistsError, ValueError) as exc:
        sys.stderr.write(f"ptyxanes {args.command}: error: {exc}\n")
        return 1
    except (KeyboardInterrupt, Cancelled):
        sys.stderr.write(f"ptyxanes {args.command}: cancelled\n")
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ptyxanes``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    code : int
    """
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    return run(args, parser)
