"""``ptyxanes pipeline``: scans or stacks to an oxidation-state project file in one go."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from ptyxanes.cli._compute import add_compute_options, pipeline_runner

logger = logging.getLogger(__name__)


def parse_ref(text: str) -> tuple[float, str]:
    """Parse ``VALENCE:FILE`` (e.g. ``2:NiO.txt``).

    Parameters
    ----------
    text : str

    Returns
    -------
    ref : (float, str)

    Raises
    ------
    argparse.ArgumentTypeError
        When the text is not of that form.
    """
    state, sep, path = text.partition(":")
    try:
        if not sep or not path:
            raise ValueError
        return float(state), path
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected VALENCE:FILE such as 2:NiO.txt, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``pipeline`` subcommand."""
    p = sub.add_parser(
        "pipeline",
        help="reconstruct, register/align, (3D: SIRT) and fit in one go",
        description="2D: reconstruct (if given a folder of CXI scans) -> rescale and register the "
        "energies -> XANES fit. 3D: reconstruct every (energy, angle) -> align each tilt series and "
        "SIRT per energy -> register the volumes -> voxel-wise XANES fit. Every intermediate is kept "
        "in the project file; --from re-runs a later stage from it with new parameters.",
    )
    p.add_argument("dim", choices=("2d", "3d"), help="2D energy stacks or 3D tilt series")
    p.add_argument("source", help="folder of CXI scans, or a stack: NeXus, reconstructions of other "
                   "codes (file or folder), STXM or TIFF (skips reconstruction)")
    p.add_argument("-o", "--output", required=True, help="project file to write (NeXus HDF5)")
    p.add_argument("--ref", action="append", type=parse_ref, default=[], metavar="VALENCE:FILE",
                   help="reference spectrum with its Ni valence (repeat; default: shipped NiO=2, LiNiO2=3)")
    p.add_argument("--config", metavar="TOML",
                   help="stage parameters: tables [reconstruct], [align], [tomo], [fit]")
    p.add_argument("--method", choices=("halfheight", "halfstep", "deriv", "lcf", "integral"),
                   help="edge definition of the fit (default halfheight)")
    p.add_argument("--pixel-size", type=float, help="common pixel size of the 2D registration, m (default 40e-9)")
    p.add_argument("--iterations", type=int, help="ptychography iterations per energy")
    p.add_argument("--sirt-iterations", type=int, help="SIRT iterations per energy (3D; default 200)")
    p.add_argument("--from", dest="start", choices=("align", "tomo", "fit"),
                   help="re-run from this stage using the intermediates stored in OUTPUT")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_compute_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.pipeline import PipelineParams, run_pipeline

    params = PipelineParams.from_toml(args.config) if args.config else PipelineParams()
    rec, ali, tomo, fit = (dict(params.reconstruct), dict(params.align), dict(params.tomo),
                           dict(params.fit))
    if args.method:
        fit["method"] = args.method
    if args.pixel_size is not None:
        if args.pixel_size <= 0:
            raise ValueError(f"--pixel-size must be positive, got {args.pixel_size}")
        ali["pixel_size"] = args.pixel_size
    if args.iterations is not None:
        rec["iterations"] = args.iterations
    if args.sirt_iterations is not None:
        tomo["iterations"] = args.sirt_iterations
    refs = tuple(args.ref) or params.references
    params = PipelineParams(rec, ali, tomo, fit, refs)
    project = run_with_bar(
        pipeline_runner(args, run_pipeline)(args.dim, args.source, args.output, params,
                                            start=args.start, overwrite=args.overwrite),
        f"pipeline {args.dim}", quiet=args.quiet,
    )
    v = project.maps["oxidation_state"].data
    inside = np.isfinite(v)
    msg = f"wrote {args.output}: {inside.sum()} fitted pixels"
    if inside.any():
        msg += f", mean Ni valence {np.nanmean(v):.2f} (median {np.nanmedian(v):.2f})"
    print(msg)  # noqa: T201 - CLI output
    return 0
