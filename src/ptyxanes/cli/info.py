"""``ptyxanes info``: what the installation can do (compute paths, versions)."""

from __future__ import annotations

import argparse
import importlib.util
import platform

import numpy as np

import ptyxanes


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``info`` subcommand."""
    p = sub.add_parser("info", help="versions and compute paths (CPU/GPU); with FILE, describe it")
    p.add_argument("file", nargs="?", help="a data file to describe")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.file:
        from ptyxanes.io import describe  # the format readers know their own files

        print(describe.describe(args.file))  # noqa: T201 - CLI output
        return 0
    lines = [
        f"ptyxanes {ptyxanes.__version__}",
        f"python {platform.python_version()}  numpy {np.__version__}",
    ]
    for mod in ("scipy", "h5py", "skimage", "astra", "numba", "cupy", "PyQt6", "napari"):
        lines.append(f"  {mod:8s} {'yes' if importlib.util.find_spec(mod) else 'no'}")
    from ptyxanes.backend import describe_compute

    lines.append(f"compute: {describe_compute()}")
    print("\n".join(lines))  # noqa: T201 - CLI output
    return 0
