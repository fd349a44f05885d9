"""``ptyxanes fit``: XANES fit of an image/volume stack into an oxidation-state project file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from ptyxanes.cli._compute import add_compute_options, fit_runner
from ptyxanes.stages import FitParams

logger = logging.getLogger(__name__)

_D = FitParams()  # the one place the defaults live
_O = _D.options


def _ref_arg(text: str) -> tuple[float, str]:
    try:
        val, path = text.split(":", 1)
        return float(val), path
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--ref expects VALENCE:PATH (e.g. 2:NiO.txt), got {text!r}") from exc


def _threshold_arg(text: str) -> float | str:
    if text.lower() == "otsu":
        return "otsu"
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--threshold: a number or 'otsu', got {text!r}") from exc


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fit`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    p = sub.add_parser(
        "fit",
        help="fit the Ni K-edge of every pixel/voxel: valence, sigma, edge energy maps",
        description=(
            "Fit the XANES of every pixel (2D stack, E x M x N) or voxel (volumes, E x P x M x N) "
            "of a NeXus stack: -ln|T| (or the absorption as stored), pre/post-edge normalisation, "
            "three Gaussians over the edge, edge energy, valence from a linear calibration on "
            "reference spectra. Writes a project file with NXdata maps /entry/oxidation_state, "
            "oxidation_state_sigma, edge_energy (eV), edge_energy_sigma (eV), edge_jump, "
            "fit_quality (R^2), status and mask; NaN outside the mask."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("stack", help="input stack: NeXus stack, reconstructions (file or folder), "
                   "STXM or TIFF stack (any input of `ptyxanes import`)")
    p.add_argument("-o", "--output", required=True, help="result project file (.h5) to write")
    p.add_argument("--ref", action="append", type=_ref_arg, default=None, metavar="VALENCE:PATH",
                   help="reference spectrum with its Ni valence (two-column ASCII in eV or keV, "
                        "or XDI); repeat for two or more. Default: the shipped NiO (2) and "
                        "LiNiO2 (3) of resources/references")
    p.add_argument("--method", choices=("halfheight", "halfstep", "deriv", "lcf"),
                   default=_O.method,
                   help="edge definition: half-height of the first main peak of the fitted "
                        "curve (paper), half of the edge step, maximum of the first derivative, "
                        "or linear-combination fit of the two highest-valence references")
    p.add_argument("--shape", choices=("shared", "free"), default=_O.shape,
                   help="shared: one three-Gaussian shape per map (fit of its Ni-weighted mean "
                        "spectrum), shifted/scaled per pixel on a fitted baseline line, about "
                        "4x more precise on thin noisy samples; free: all nine Gaussian "
                        "parameters per pixel (the paper's fit)")
    p.add_argument("--window", nargs=2, type=float, default=_O.window,
                   metavar=("LOW", "HIGH"), help="energy window of the edge fit, eV")
    p.add_argument("--pre-edge", nargs=2, type=float, default=_O.pre_edge,
                   metavar=("LOW", "HIGH"), help="pre-edge normalisation window, eV")
    p.add_argument("--post-edge", nargs=2, type=float, default=_O.post_edge,
                   metavar=("LOW", "HIGH"), help="post-edge normalisation window, eV")
    p.add_argument("--post-order", type=int, choices=(0, 1), default=_O.post_order,
                   help="post-edge line (1) or constant (0)")
    p.add_argument("--e0", type=float, default=_O.e0,
                   help="energy where the edge jump is measured, eV")
    p.add_argument("--step", action="store_true",
                   help="add an edge step (error function) to the three Gaussians")
    p.add_argument("--threshold", type=_threshold_arg, default=_D.threshold,
                   help="edge-jump threshold of the sample mask (units of the input absorption, "
                        "-ln|T| for projections) or 'otsu' for an automatic choice")
    p.add_argument("--min-r2", type=float, default=_O.min_r2,
                   help="fits with R^2 below this are masked as POOR_FIT (dimensionless)")
    p.add_argument("--chunk", type=int, default=_D.chunk_spectra,
                   help="spectra held in memory at once (memory ~ 50 x E bytes per spectrum)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_compute_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.io.formats import open_stack
    from ptyxanes.io.project import Project, save_project
    from ptyxanes.io.spectra import read_spectrum
    from ptyxanes.provenance import provenance
    from ptyxanes.stages import calibration_for
    from ptyxanes.xanes import FitOptions, fit_stack
    from ptyxanes.xanes.calibration import default_references
    from ptyxanes.xanes.results import calibration_table, result_maps

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; use --overwrite to replace it")
    if out.resolve() == Path(args.stack).resolve():
        raise ValueError("the output must not be the input stack")
    opts = FitOptions(pre_edge=tuple(args.pre_edge), post_edge=tuple(args.post_edge),
                      post_order=args.post_order, e0=args.e0, window=tuple(args.window),
                      step=args.step, method=args.method, min_r2=args.min_r2,
                      shape=args.shape)
    if args.ref:
        refs = [read_spectrum(path, valence=val) for val, path in args.ref]
    else:
        refs = default_references()
    stack = open_stack(args.stack, lazy=True)
    try:
        fparams = FitParams(options=opts, threshold=args.threshold,
                            references=tuple(args.ref or ()), chunk_spectra=args.chunk)
        cal = calibration_for(stack.energy, fparams)
        # in process: the call of ptyxanes.stages.fit_stage; with a cluster, its Dask twin
        res = run_with_bar(fit_runner(args, fit_stack)(stack, options=fparams.options,
                                                       calibration=cal,
                                                       threshold=fparams.threshold,
                                                       chunk_spectra=fparams.chunk_spectra),
                           "fit", quiet=args.quiet)
    finally:
        if hasattr(stack.data, "file"):
            stack.data.file.close()
    px = float(np.asarray(stack.pixel_size)[0])
    m = res.mask
    cal = res.calibration if res.calibration is not None else cal
    maps = result_maps(res, px)
    params = {"method": opts.method, "window_eV": list(opts.window),
              "pre_edge_eV": list(opts.pre_edge), "post_edge_eV": list(opts.post_edge),
              "post_order": opts.post_order, "e0_eV": opts.e0, "step": opts.step,
              "min_r2": opts.min_r2, "threshold": res.threshold, "shape": res.options.shape,
              "template": [] if res.template is None else np.asarray(res.template).tolist(),
              "calibration": {"intercept_eV": cal.intercept, "slope_eV_per_valence": cal.slope,
                              "covariance": cal.covariance.tolist()}}
    table = calibration_table(cal)
    inputs = {"stack": str(Path(args.stack).resolve())}
    for i, r in enumerate(refs):
        inputs[f"reference_{i}"] = f"{r.valence}:{r.path}"
    proj = Project(maps=maps, tables={"calibration": table}, parameters={"fit": params},
                   inputs=inputs, provenance=[provenance("fit", params)])
    save_project(out, proj, overwrite=args.overwrite)
    ok = m & (res.status == 0)
    v = res.valence[ok]
    msg = (f"wrote {out}: {int(ok.sum())} of {m.size} pixels fitted; calibration "
           f"E = {cal.intercept:.2f} + {cal.slope:.3f} v eV")
    if v.size:
        msg += f"; valence mean {np.mean(v):.3f} median {np.median(v):.3f}"
    print(msg)  # noqa: T201 - CLI output
    return 0
