"""``ptyxanes tomo``: align and reconstruct every energy of a tilt series, register the volumes."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import h5py
import numpy as np

from ptyxanes.cli._compute import add_compute_options, tomo_runner
from ptyxanes.io.stack import ImageStack
from ptyxanes.stages import TomoParams

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``tomo`` subcommand."""
    p = sub.add_parser(
        "tomo",
        help="align and reconstruct an (energy, angle, row, col) tilt series into volumes",
        description="For every energy: joint reprojection alignment, then SIRT (from the FBP on wide slices) or FBP; the volumes "
        "are registered in 3D and written as linear attenuation coefficient (1/m), kind absorption. "
        "The input is a NeXus tilt-series stack, or raw tomography data with flat and dark fields "
        "(APS data exchange /exchange/data, NeXus NXtomo), normalised to -ln(T) on reading. "
        "The rotation axis is found from the data unless --center is given: by the joint "
        "alignment, or, with --no-align, from the centre-of-mass sinusoid of the projections. "
        "Vertical alignment is skipped for projections of fewer than 8 rows, and an alignment "
        "that would push the sample out of the field is discarded (the projections are then "
        "only centred); an empty or non-finite volume is an error and no file is written.",
    )
    p.add_argument(
        "stack",
        help="input: NeXus tilt-series stack (energy, angle, row, col), APS data-exchange "
        "HDF5 or NXtomo file",
    )
    p.add_argument("-o", "--output", required=True, help="output NeXus volume stack")
    p.add_argument(
        "--iterations", type=int, default=200,
        help="SIRT iterations (default 200; with --algorithm auto, fewer on wide slices)",
    )
    p.add_argument(
        "--algorithm", choices=("auto", "sirt", "fbp"), default=TomoParams().algorithm,
        help="reconstruction: sirt (from zero), fbp, or auto (default): plain SIRT when "
        "angles x columns^2 x rows x iterations is at most 1.5e9, otherwise SIRT started from "
        "the FBP with as many iterations as that allows (at least 10; the 640-column TomoPy "
        "tooth: 10); the method used is printed",
    )
    p.add_argument(
        "--center",
        type=float,
        default=None,
        help="rotation-axis column, pixels (default: found from the data, with or without "
        "alignment, and printed)",
    )
    p.add_argument("--no-align", action="store_true", help="skip the joint reprojection alignment")
    p.add_argument(
        "--align-rounds", type=int, default=10,
        help="most alignment rounds (default 10; at most 3 for projections of fewer than 8 rows)"
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        help="rescale every projection to this pixel size, m (default: keep; the coarsest when "
        "energies differ); for raw data (data exchange, NXtomo), the pixel size itself",
    )
    p.add_argument(
        "--energy",
        type=float,
        default=None,
        help="photon energy, eV, for raw tomography data whose file has none",
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
    from ptyxanes.io.nexus import write_stack
    from ptyxanes.provenance import provenance
    from ptyxanes.tomo import reconstruct_tilt_stack

    if args.iterations < 1:
        raise ValueError(f"--iterations must be at least 1, got {args.iterations}")
    if Path(args.output).resolve() == Path(args.stack).resolve():
        raise ValueError("the output would overwrite the input; choose another -o")
    stack, fmt = read_tilt_series(args.stack, energy=args.energy, pixel_size=args.pixel_size)
    if not stack.is_3d or stack.angle is None:
        raise FormatError(
            args.stack, f"expected an (energy, angle, row, col) tilt series, got {stack.data.shape}"
        )
    unknown_pixel = not np.all(np.isfinite(stack.pixel_size))
    if unknown_pixel:
        # per-voxel values: the reconstruction divides by a pixel size of 1
        logger.warning(
            "%s has no pixel size: volumes are attenuation per voxel (pixel size written as 1); "
            "give --pixel-size for 1/m", args.stack,
        )
        stack = dataclasses.replace(stack, pixel_size=np.ones(stack.n_energies))
    if not np.all(np.isfinite(stack.energy)):
        logger.warning("%s has no photon energy: written as 0 eV; give --energy", args.stack)
        stack = dataclasses.replace(stack, energy=np.arange(stack.n_energies, dtype=float))
    out, res = run_with_bar(
        tomo_runner(args, reconstruct_tilt_stack)(
            stack,
            pixel_size=None if fmt in ("dxchange", "nxtomo") else args.pixel_size,
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
    centers = res.attrs.get("centers", ())
    # notes (skipped or discarded alignment) were already logged as warnings
    methods = res.attrs.get("methods", ())
    if methods:
        print("reconstruction: " + ", ".join(dict.fromkeys(methods)))  # noqa: T201
    if centers:
        how = "given" if args.center is not None else "found from the data"
        print(  # noqa: T201
            "rotation axis "
            + ", ".join(f"{c:.2f}" for c in centers)
            + f" px (column, {how})"
        )
    params = {
        "input": str(args.stack),
        "input_format": fmt,
        "centers_px": [float(c) for c in centers],
        "iterations": args.iterations,
        "algorithm": args.algorithm,
        "methods": list(methods),
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
            if unknown_pixel:
                f["entry/data/pixel_size"].attrs["units"] = "pixel (unknown)"
                f["entry/data/data"].attrs["units"] = "1/voxel"
    if unknown_pixel:
        print(f"wrote {args.output}: volumes {mu.shape} (attenuation per voxel)")  # noqa: T201
    else:
        print(f"wrote {args.output}: volumes {mu.shape} (1/m) at {pixel * 1e9:.1f} nm")  # noqa: T201
    return 0


def read_tilt_series(
    path: str, *, energy: float | None = None, pixel_size: float | None = None
) -> tuple[ImageStack, str]:
    """Read a tilt series from any input of the format registry (NeXus, data exchange, NXtomo, reconstructions).

    Parameters
    ----------
    path : str
        Input file; the format is detected from its content.
    energy : float, optional
        Photon energy, eV, for raw data whose file has none.
    pixel_size : float, optional
        Pixel size, m, for raw data whose file has none.

    Returns
    -------
    stack : ImageStack
        (E, A, M, N) tilt series.
    format : str
        The detected format (:func:`ptyxanes.io.formats.detect_format`).
    """
    from ptyxanes.io.dxchange import read_dxchange, read_nxtomo
    from ptyxanes.io.formats import detect_format, open_stack

    fmt = detect_format(path)
    if fmt in ("dxchange", "nxtomo"):
        reader = read_dxchange if fmt == "dxchange" else read_nxtomo
        return reader(path, energy=energy, pixel_size=pixel_size), fmt
    return open_stack(path, lazy=False), fmt
