"""``ptyxanes tomo``: align and reconstruct every energy of a tilt series, register the volumes."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import h5py
import numpy as np

from ptyxanes.cli._compute import add_compute_options, tomo_runner

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``tomo`` subcommand."""
    p = sub.add_parser(
        "tomo",
        help="align and reconstruct an (energy, angle, row, col) tilt series into volumes",
        description="For every energy: joint reprojection alignment, then SIRT (or FBP); the volumes "
        "are registered in 3D and written as linear attenuation coefficient (1/m), kind absorption.",
    )
    p.add_argument("stack", help="input NeXus tilt-series stack (energy, angle, row, col)")
    p.add_argument("-o", "--output", required=True, help="output NeXus volume stack")
    p.add_argument("--iterations", type=int, default=200, help="SIRT iterations (default 200)")
    p.add_argument(
        "--algorithm", choices=("sirt", "fbp"), default="sirt", help="reconstruction (default sirt)"
    )
    p.add_argument(
        "--center",
        type=float,
        default=None,
        help="rotation-axis column, pixels (default: found from the data)",
    )
    p.add_argument("--no-align", action="store_true", help="skip the joint reprojection alignment")
    p.add_argument(
        "--align-rounds", type=int, default=10, help="most alignment rounds (default 10)"
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        help="rescale every projection to this pixel size, m (default: keep; the coarsest when energies differ)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_compute_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.cli.align import write_registration
    from ptyxanes.io._atomic import atomic_path
    from ptyxanes.io.errors import FormatError
    from ptyxanes.io.nexus import read_stack, write_stack
    from ptyxanes.provenance import provenance
    from ptyxanes.tomo import reconstruct_tilt_stack

    if args.iterations < 1:
        raise ValueError(f"--iterations must be at least 1, got {args.iterations}")
    if Path(args.output).resolve() == Path(args.stack).resolve():
        raise ValueError("the output would overwrite the input; choose another -o")
    stack = read_stack(args.stack, lazy=False)
    if not stack.is_3d or stack.angle is None:
        raise FormatError(
            args.stack, f"expected an (energy, angle, row, col) tilt series, got {stack.data.shape}"
        )
    out, res = run_with_bar(
        tomo_runner(args, reconstruct_tilt_stack)(
            stack,
            pixel_size=args.pixel_size,
            algorithm=args.algorithm,
            iterations=args.iterations,
            align=not args.no_align,
            center=args.center,
            max_outer=args.align_rounds,
        ),
        "tomo",
        quiet=args.quiet,
    )
    mu, pixel = out.data, float(out.pixel_size[0])
    params = {
        "input": str(args.stack),
        "iterations": args.iterations,
        "algorithm": args.algorithm,
        "center": args.center,
        "align": not args.no_align,
        "pixel_size": pixel,
    }
    with atomic_path(args.output, overwrite=args.overwrite) as tmp:
        write_stack(tmp, out, overwrite=True, provenance=provenance("tomo", params))
        with h5py.File(tmp, "a") as f:
            reg = f["entry"].create_group("registration")
            shifts = (
                res.registration.shifts
                if res.registration is not None
                else np.zeros((stack.n_energies, 3))
            )
            residual = res.registration.residual if res.registration is not None else None
            outliers = res.registration.outliers if res.registration is not None else None
            write_registration(reg, shifts, residual, outliers, kind="volumes (plane, row, col)")
            if not args.no_align:
                al = f["entry"].create_group("tilt_alignment")
                al.attrs["NX_class"] = "NXcollection"
                al.create_dataset("shifts", data=np.stack([a.shifts for a in res.alignments]))
                al["shifts"].attrs["units"] = "pixel"
                al.create_dataset("center", data=np.array([a.center for a in res.alignments]))
                al.create_dataset("angle", data=np.asarray(stack.angle))
    print(f"wrote {args.output}: volumes {mu.shape} (1/m) at {pixel * 1e9:.1f} nm")  # noqa: T201
    return 0
