"""Entry point of the frozen ptyxanes application (PyInstaller).

``ptyxanes`` behaves as the ``ptyxanes`` console command.  The windowed
``ptyxanes-gui`` executable (Windows and macOS bundles) opens the main window
when it is started without a subcommand, e.g. from a shortcut or the Dock.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path


def _argv() -> list[str]:
    args = sys.argv[1:]
    if Path(sys.executable).stem.lower() == "ptyxanes-gui" and (not args or args[0] != "gui"):
        args = ["gui", *args]
    return args


if __name__ == "__main__":
    multiprocessing.freeze_support()
    from ptyxanes_gui.__main__ import main

    raise SystemExit(main(_argv()))
