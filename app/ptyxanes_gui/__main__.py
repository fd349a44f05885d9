"""Console entry point ``ptyxanes``: the engine's subcommands plus ``gui``.

Qt is imported only after the arguments are parsed and only for ``gui``, so
``ptyxanes --version`` and every headless subcommand work without Qt.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ptyxanes.cli import build_parser, run


def _add_gui_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop application")
    p.add_argument("files", nargs="*", help="data or project files to open")
    p.add_argument("--demo", action="store_true", help="open the built-in simulated demo dataset")
    p.add_argument(
        "--screenshot", metavar="PNG", help="render the window to PNG and exit (no interaction)"
    )
    p.add_argument("--size", default="1400x900", help="window size WxH in pixels for --screenshot")
    p.set_defaults(func=_run_gui)


def _run_gui(args: argparse.Namespace) -> int:
    try:
        from ptyxanes_gui.app import run_gui
    except ImportError as exc:
        sys.stderr.write(
            f"ptyxanes gui: the GUI needs the 'gui' extra (pip install 'ptyxanes[gui]'): {exc}\n"
        )
        return 1
    return run_gui(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    code : int
        Exit status.
    """
    parser, sub = build_parser()
    _add_gui_parser(sub)
    args = parser.parse_args(argv)
    return run(args, parser)


if __name__ == "__main__":
    raise SystemExit(main())
