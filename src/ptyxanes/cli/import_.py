"""``ptyxanes import``: any supported input (reconstructions, STXM, TIFF ...) to a NeXus stack."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``import`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    from ptyxanes.io.formats import FORMATS

    names = ", ".join(f.name for f in FORMATS if not f.raw)
    p = sub.add_parser(
        "import",
        help="read reconstructions (PtyPy, PtyREX, ptychodus, PtychoShelves), STXM or TIFF "
        "stacks into one NeXus stack",
        description="Detect the format of every SOURCE by its content (files, or folders of "
        "one file per energy), read energies, pixel sizes and angles from the files, and "
        f"write one NeXus stack. Formats: {names}. Files of different shapes are rescaled to "
        "the coarsest pixel size and cropped to the common field of view.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="files and/or folders")
    p.add_argument("-o", "--output", required=True, help="NeXus stack file to write (.h5)")
    p.add_argument("--energies", metavar="FILE",
                   help="energy list (eV or keV, one per line): one per file in name order, "
                   "or one per image of a TIFF stack; replaces the files' energies")
    p.add_argument("--angles", metavar="FILE", help="rotation angles, deg, one per file")
    p.add_argument("--i0", metavar="FILE",
                   help="incident flux of an STXM stack: two columns, energy (eV) and I0")
    p.add_argument("--format", metavar="NAME", help=f"force a format instead of detecting it ({names})")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.io.formats import iter_open_stack
    from ptyxanes.io.nexus import write_stack
    from ptyxanes.provenance import provenance

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; use --overwrite to replace it")
    for s in args.sources:
        if Path(s).exists() and Path(s).resolve() == out.resolve():
            raise ValueError("the output must not be one of the sources")
    stack = run_with_bar(
        iter_open_stack(args.sources, energies=args.energies, angles=args.angles, i0=args.i0,
                        format=args.format),
        "import", quiet=args.quiet,
    )
    params = {
        "sources": [str(Path(s).resolve()) for s in args.sources],
        "files": stack.attrs.get("sources", []),
        "format": stack.attrs.get("format"),
        "energies": args.energies,
        "angles": args.angles,
        "i0": args.i0,
        "regridded": stack.attrs.get("regridded"),
    }
    try:
        write_stack(out, stack, overwrite=args.overwrite, provenance=provenance("import", params))
    finally:
        if hasattr(stack.data, "file"):
            stack.data.file.close()
    e = np.asarray(stack.energy)
    print(  # noqa: T201 - CLI output
        f"wrote {out}: {stack.attrs.get('format')} -> {tuple(stack.data.shape)} {stack.kind}, "
        f"{e.size} energies {e.min():.2f}-{e.max():.2f} eV, pixel "
        f"{float(np.max(stack.pixel_size)) * 1e9:.2f} nm"
    )
    return 0
