"""``ptyxanes simulate``: write a simulated dataset with its ground truth."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
    """
    p = sub.add_parser(
        "simulate",
        help="simulate an NMC811 spectro-ptychography dataset with ground truth",
        description=(
            "Simulate faceted NMC811 crystals (Ni valence field), image them across the Ni "
            "K-edge and write the data plus truth.h5 and references/ into DIR. "
            "Sizes: tiny (seconds), demo (under a minute), paper (the paper's 51 (2D) or "
            "25 energies x 241 angles (3D); long, streams to disk)."
        ),
    )
    p.add_argument("dim", choices=("2d", "3d"),
                   help="2d: one projection per energy; 3d: 180 deg tilt series per energy")
    p.add_argument("--size", choices=("tiny", "small", "demo", "paper"), default="tiny",
                   help="dataset size (default tiny; small: 2D only, 50 nm voxels, 78 nm pixels)")
    p.add_argument("--cycles", type=int, choices=(0, 200, 350, 500), default=0,
                   help="charge-discharge cycles of the sample (0 = pristine)")
    p.add_argument("--level", choices=("stack", "cxi"), default="stack",
                   help="stack: reconstructed complex transmission stack (NeXus); "
                        "cxi: raw ptychography scans (CXI, one file per energy/angle)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--photons", type=float, default=None,
                   help="stack-level noise: incident photons per pixel (default: the size's "
                        "value; 0 = noise-free)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                   help="output folder (must be empty or absent unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="allow writing into a non-empty DIR (existing files are replaced)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ptyxanes simulate``.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    code : int
    """
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.simulate.twin import simulate

    out: Path = args.output
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not args.overwrite:
            raise FileExistsError(f"{out} is not empty; use --overwrite or choose another folder")
        # replace only what simulate writes (never other files of the folder)
        for f in [out / "stack.nxs", out / "truth.h5", *out.glob("*.cxi")]:
            if f.is_file():
                f.unlink()
    kw = {}
    if args.photons is not None:
        kw["photons_per_pixel"] = args.photons or None
    files = run_with_bar(
        simulate(args.dim, args.size, args.cycles, args.level, out, seed=args.seed, **kw),
        f"simulate {args.dim} {args.size}")
    sys.stdout.write(
        f"wrote {len(files.data)} data file(s), {files.truth.name} and references/ to {out} "
        f"in {files.seconds:.1f} s (mean Ni valence {files.summary.get('mean_valence', 0):.2f})\n")
    return 0
