"""``ptyxanes tomo``: align and reconstruct every energy of a tilt series, register the volumes."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import h5py
import numpy as np

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
        help="rescale every projection to this pixel size, m (default: keep, must agree)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _line_integrals(data: np.ndarray, kind: str) -> np.ndarray:
    """Line integrals of the linear attenuation coefficient, ∫μ dl = −2 ln|T|.

    |T| is the amplitude transmission, so the intensity transmission is
    |T|² = exp(−∫μ dl); an "absorption" projection stores −ln|T|.
    """
    if kind == "complex":
        return -2.0 * np.log(np.clip(np.abs(data), 1e-6, None))
    if kind == "modulus":
        return -2.0 * np.log(np.clip(data, 1e-6, None))
    return 2.0 * np.asarray(data)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.align import rescale_image
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.cli.align import write_registration
    from ptyxanes.io._atomic import atomic_path
    from ptyxanes.io.errors import FormatError
    from ptyxanes.io.nexus import read_stack, write_stack
    from ptyxanes.io.stack import ImageStack
    from ptyxanes.provenance import provenance
    from ptyxanes.tomo import reconstruct_energy_series

    if args.iterations < 1:
        raise ValueError(f"--iterations must be at least 1, got {args.iterations}")
    if Path(args.output).resolve() == Path(args.stack).resolve():
        raise ValueError("the output would overwrite the input; choose another -o")
    stack = read_stack(args.stack, lazy=False)
    if not stack.is_3d or stack.angle is None:
        raise FormatError(
            args.stack, f"expected an (energy, angle, row, col) tilt series, got {stack.data.shape}"
        )
    ps = np.asarray(stack.pixel_size, dtype=float)
    if args.pixel_size is not None:
        data = np.stack(
            [
                np.stack(
                    [
                        rescale_image(np.asarray(stack.data[e, a]), ps[e], args.pixel_size)
                        for a in range(stack.data.shape[1])
                    ]
                )
                for e in range(stack.n_energies)
            ]
        )
        pixel = float(args.pixel_size)
    else:
        if np.ptp(ps) > 1e-3 * ps.mean():
            raise FormatError(args.stack, "pixel sizes differ between energies; give --pixel-size")
        data, pixel = np.asarray(stack.data), float(ps.mean())
    proj = _line_integrals(data, stack.kind).astype(np.float32)
    res = run_with_bar(
        reconstruct_energy_series(
            proj,
            np.asarray(stack.angle),
            algorithm=args.algorithm,
            iterations=args.iterations,
            align=not args.no_align,
            center=args.center,
            max_outer=args.align_rounds,
        ),
        "tomo",
        quiet=args.quiet,
    )
    mu = np.clip(res.volumes, 0, None) / pixel  # per voxel -> 1/m
    params = {
        "input": str(args.stack),
        "iterations": args.iterations,
        "algorithm": args.algorithm,
        "center": args.center,
        "align": not args.no_align,
        "pixel_size": pixel,
    }
    out = ImageStack(
        mu,
        np.asarray(stack.energy),
        np.full(stack.n_energies, pixel),
        kind="absorption",
        dims=("energy", "plane", "row", "col"),
    )
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
