"""``ptyxanes align``: rescale a 2D energy stack to a common pixel size and register it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ptyxanes.cli._compute import add_compute_options, align_runner, wants_cluster
from ptyxanes.stages import RegisterParams

logger = logging.getLogger(__name__)

_D = RegisterParams()  # the one place the defaults live


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``align`` subcommand."""
    p = sub.add_parser(
        "align",
        help="rescale a 2D energy stack to one pixel size and register the energies",
        description="Rescale every energy to a common pixel size, find the shift of every energy by "
        "upsampled phase cross-correlation and write the aligned stack (NeXus) with the shifts "
        "under /entry/registration/.",
    )
    p.add_argument("stack", help="input NeXus stack file, (energy, row, col)")
    p.add_argument("-o", "--output", required=True, help="output NeXus stack file")
    p.add_argument(
        "--pixel-size", type=float, default=_D.pixel_size,
        help=f"common pixel size, m (default {_D.pixel_size:g})"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--reference", type=int, default=_D.reference,
                   help=f"reference energy index (default {_D.reference})")
    g.add_argument(
        "--chain", action="store_true", help="register each energy to its neighbour, accumulate"
    )
    p.add_argument(
        "--channel",
        choices=("phase", "modulus"),
        default=_D.channel,
        help=f"what to register for complex data (default {_D.channel})",
    )
    p.add_argument(
        "--method",
        choices=("fourier", "spline"),
        default=_D.method,
        help=f"how shifts are applied (default {_D.method})",
    )
    p.add_argument(
        "--upsample", type=int, default=_D.upsample_factor,
        help=f"sub-pixel precision 1/N px (default {_D.upsample_factor})"
    )
    p.add_argument(
        "--shifts-from",
        metavar="FILE",
        help="re-apply (possibly hand-edited) shifts from FILE's /entry/registration/shifts "
        "(pixels at the common pixel size) instead of registering",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_compute_options(p)
    p.set_defaults(func=_run)


def read_shifts(path: str | Path) -> np.ndarray:
    """Read ``/entry/registration/shifts`` (pixels) from an aligned file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    shifts : ndarray of shape (E, D)

    Raises
    ------
    FormatError
        When the file has no shifts.
    """
    from ptyxanes.io.errors import FormatError

    try:
        with h5py.File(path, "r") as f:
            return np.asarray(f["entry/registration/shifts"][()], dtype=float)
    except (OSError, KeyError) as exc:
        raise FormatError(path, f"no /entry/registration/shifts ({exc})") from exc


def write_registration(group: h5py.Group, shifts: Any, residual: Any = None, outliers: Any = None,
                       **attrs: Any) -> None:
    """Store shifts (pixels) and per-energy residual/outlier flags in an HDF5 group."""
    group.attrs["NX_class"] = "NXcollection"
    ds = group.create_dataset("shifts", data=np.asarray(shifts, dtype=float))
    ds.attrs["units"] = "pixel"
    ds.attrs["long_name"] = "correction applied to every energy (row, col[, ...]), pixels"
    if residual is not None:
        group.create_dataset("residual", data=np.asarray(residual, dtype=float))
    if outliers is not None:
        group.create_dataset("outliers", data=np.asarray(outliers, dtype=bool))
    for k, v in attrs.items():
        group.attrs[k] = "none" if v is None else v


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.io._atomic import atomic_path
    from ptyxanes.io.errors import FormatError
    from ptyxanes.io.formats import open_stack
    from ptyxanes.io.nexus import write_stack
    from ptyxanes.provenance import provenance
    from ptyxanes.stages import register_stage

    if args.pixel_size <= 0:
        raise ValueError(f"--pixel-size must be positive, got {args.pixel_size}")
    if Path(args.output).resolve() == Path(args.stack).resolve():
        raise ValueError("the output would overwrite the input; choose another -o")
    stack = open_stack(args.stack, lazy=wants_cluster(args))  # workers read their energies
    if stack.is_3d:
        raise FormatError(
            args.stack,
            f"expected a 2D (energy, row, col) stack, got {stack.data.shape}; "
            "use `ptyxanes tomo` for tilt series",
        )
    reference = None if args.chain else args.reference
    given = None
    if args.shifts_from:
        given = read_shifts(args.shifts_from)
        if given.shape != (stack.n_energies, 2):
            raise FormatError(
                args.shifts_from,
                f"shifts of shape {given.shape} do not fit {stack.n_energies} energies",
            )
    params = RegisterParams(
        pixel_size=args.pixel_size,
        reference=reference,
        channel=args.channel,
        method=args.method,
        upsample_factor=args.upsample,
        shifts=None if given is None else tuple(map(tuple, given.tolist())),
    )
    out, reg = run_with_bar(align_runner(args, register_stage)(stack, params=params), "align",
                            quiet=args.quiet)
    shifts = reg.shifts
    residual, outliers = (None, None) if given is not None else (reg.residual, reg.outliers)
    if outliers is not None:
        for e in np.flatnonzero(outliers):
            logger.warning(
                "energy %d (%.2f eV) is a registration outlier (residual %.3f)",
                int(e),
                float(stack.energy[e]),
                float(reg.residual[e]),
            )
    aligned = out.data
    prov = {
        "input": str(args.stack),
        "pixel_size": args.pixel_size,
        "reference": reference,
        "channel": args.channel,
        "method": args.method,
        "upsample": args.upsample,
        "shifts_from": args.shifts_from,
    }
    with atomic_path(args.output, overwrite=args.overwrite) as tmp:
        write_stack(tmp, out, overwrite=True, provenance=provenance("align", prov))
        with h5py.File(tmp, "a") as f:
            write_registration(
                f["entry"].create_group("registration"),
                shifts,
                residual,
                outliers,
                reference=-1 if reference is None else reference,
                channel=args.channel,
                method=args.method,
                pixel_size=args.pixel_size,
                chained=reference is None,
            )
    n_out = 0 if outliers is None else int(np.sum(outliers))
    msg = (
        f"wrote {args.output}: {aligned.shape} at {args.pixel_size * 1e9:.1f} nm, "
        f"max shift {np.abs(shifts).max():.2f} px, {n_out} outlier energies"
    )
    print(msg)  # noqa: T201 - CLI output
    return 0
