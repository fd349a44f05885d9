"""``ptyxanes fit``: XANES fit of an image/volume stack into an oxidation-state project file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from ptyxanes.cli._compute import add_compute_options, fit_runner
from ptyxanes.stages import FitParams

#: The stage defaults every option shows (ptyxanes.stages.FitParams / FitOptions.for_edge).
_D = FitParams()

logger = logging.getLogger(__name__)


def _ref_arg(text: str) -> tuple[float, str]:
    try:
        val, path = text.split(":", 1)
        return float(val), path
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--ref expects VALENCE:PATH (e.g. 2:NiO.txt), got {text!r}") from exc


def _threshold_arg(text: str) -> float | str:
    if text.lower() in ("otsu", "auto"):
        return text.lower()
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--threshold: a number, 'auto' or 'otsu', got {text!r}") from exc


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fit`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    p = sub.add_parser(
        "fit",
        help="fit the absorption edge of every pixel/voxel: valence, sigma, edge energy maps",
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
                   help="reference spectrum with its valence (two-column ASCII in eV or keV, "
                        "or XDI); repeat for two or more. Default: the shipped NiO (2) and "
                        "LiNiO2 (3) of resources/references")
    p.add_argument("--edge", default=_D.edge,
                   help="absorption edge ELEMENT-EDGE (Ni-K, Co-K, Mn-K, Fe-K, Fe-L3, ...): "
                        "tabulated energy (xraydb), default windows and labels; L2,3 edges are "
                        "normalised by their mean absorption over the L3 + L2 window")
    p.add_argument("--method", choices=("auto", "halfheight", "halfstep", "deriv", "lcf",
                                        "integral"),
                   default=_D.options.method,
                   help="auto: the half-height edge of the map's shared shape while it explains "
                        "the pixels, else a linear combination of the references (or a free "
                        "fit without them); halfheight: half-height of the first main peak of "
                        "the fitted curve (paper); halfstep: half of the edge step; deriv: "
                        "maximum of the first derivative; lcf: linear combination of all "
                        "references with a baseline line; integral: mean energy of the rise "
                        "between normalised absorbance 0.15 and 1.0, no model, not weighted by "
                        "the white line")
    p.add_argument("--shape", choices=("shared", "free"), default=_D.options.shape,
                   help="shared: one three-Gaussian shape per map (fit of its weighted mean "
                        "spectrum), shifted/scaled per pixel on a fitted baseline line, about "
                        "4x more precise on thin noisy samples; free: all nine Gaussian "
                        "parameters per pixel (the paper's fit)")
    p.add_argument("--window", nargs=2, type=float, default=None,
                   metavar=("LOW", "HIGH"),
                   help="energy window of the edge fit, eV (default from --edge: 8325 8370 "
                        "for Ni-K)")
    p.add_argument("--pre-edge", nargs=2, type=float, default=None,
                   metavar=("LOW", "HIGH"),
                   help="pre-edge normalisation window, eV (default from --edge)")
    p.add_argument("--post-edge", nargs=2, type=float, default=None,
                   metavar=("LOW", "HIGH"),
                   help="post-edge normalisation window, eV (default from --edge)")
    p.add_argument("--post-order", type=int, choices=(0, 1), default=_D.options.post_order,
                   help="post-edge line (1) or constant (0)")
    p.add_argument("--e0", type=float, default=None,
                   help="energy where the edge jump is measured, eV (default from --edge: "
                        "tabulated edge + 12 eV for K edges)")
    p.add_argument("--energy-shift", type=float, default=None, metavar="EV",
                   help="shift added to the stack's energies, eV (a known calibration offset)")
    p.add_argument("--foil", default=None, metavar="PATH",
                   help="a metal-foil spectrum measured with the stack (ASCII or XDI, on the "
                        "stack's energy scale): the stack's energies are shifted so that its "
                        "first inflection sits at the tabulated edge energy")
    p.add_argument("--ref-shift", type=float, default=None, metavar="EV",
                   help="shift added to every reference's energies, eV, instead of the automatic "
                        "calibration from a reference's own foil channel (XDI mu_ref/murefer)")
    p.add_argument("--ref-match", type=_ref_arg, default=None, metavar="VALENCE:PATH",
                   help="a spectrum of the compound of the reference with this valence, "
                        "measured with the data (e.g. 2:NiO.xdi): the references are broadened "
                        "and shifted to superpose on it, matching the data's energy "
                        "resolution and scale; the default method then fits their linear "
                        "combination (lcf)")
    p.add_argument("--no-ref-calibration", action="store_true",
                   help="use the references' energies as they are (no foil-channel calibration)")
    p.add_argument("--calibration", choices=("linear", "piecewise"), default=_D.calibration,
                   help="edge-energy to valence calibration: one line through the references, "
                        "or straight segments through them (curved metal-to-oxide series)")
    p.add_argument("--step", action="store_true",
                   help="add an edge step (error function) to the three Gaussians")
    p.add_argument("--threshold", type=_threshold_arg, default=_D.threshold,
                   help="sample mask: 'auto' = edge jump significant against each pixel's own "
                        "pre-edge noise (no background needed), 'otsu' = Otsu threshold of the "
                        "edge-jump histogram (fields with empty background), or an edge-jump "
                        "threshold in units of the input absorption (-ln|T| for projections)")
    p.add_argument("--mask-sigma", type=float, default=_D.options.mask_sigma,
                   help="significance of the edge jump required by --threshold auto (sigma)")
    p.add_argument("--min-r2", type=float, default=_D.options.min_r2,
                   help="fits with R^2 below this are masked as POOR_FIT (dimensionless)")
    p.add_argument("--chunk", type=int, default=_D.chunk_spectra,
                   help="spectra held in memory at once (memory ~ 50 x E bytes per spectrum)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_compute_options(p)
    p.set_defaults(func=_run)


def fit_params_from_args(args: argparse.Namespace) -> FitParams:
    """The fit stage's parameters from the parsed options (None = the edge's default).

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    params : FitParams
    """
    def pair(v: list[float] | None) -> tuple[float, float] | None:
        return None if v is None else (float(v[0]), float(v[1]))

    return FitParams.for_edge(
        args.edge, pre_edge=pair(args.pre_edge), post_edge=pair(args.post_edge),
        window=pair(args.window), e0=args.e0, post_order=args.post_order, step=args.step,
        method=args.method, min_r2=args.min_r2, shape=args.shape, mask_sigma=args.mask_sigma,
        threshold=args.threshold, references=tuple(args.ref or ()),
        energy_shift=args.energy_shift, foil=args.foil, ref_shift=args.ref_shift,
        ref_calibration=not args.no_ref_calibration, calibration=args.calibration,
        chunk_spectra=args.chunk, ref_match=args.ref_match)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.io.formats import open_stack
    from ptyxanes.io.project import Project, save_project
    from ptyxanes.provenance import provenance
    from ptyxanes.stages import fit_stage, load_references
    from ptyxanes.xanes import fit_stack
    from ptyxanes.xanes.results import calibration_table, result_maps

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; use --overwrite to replace it")
    if out.resolve() == Path(args.stack).resolve():
        raise ValueError("the output must not be the input stack")
    fp = fit_params_from_args(args)
    opts = fp.options
    spec = fp.edge_spec
    if not fp.references and spec.name != "Ni-K":
        raise ValueError(f"no shipped references for {spec.name}: give two or more with "
                         "--ref VALENCE:PATH")
    refs = load_references(fp.references, spec.name)  # fails before the stack is opened
    stack = open_stack(args.stack, lazy=True)
    try:
        res = run_with_bar(fit_stage(stack, fp, fit=fit_runner(args, fit_stack)), "fit",
                           quiet=args.quiet)
    finally:
        if hasattr(stack.data, "file"):
            stack.data.file.close()
    shifts = res.info["energy_shifts"]
    px = float(np.asarray(stack.pixel_size)[0])
    m = res.mask
    cal = res.calibration
    maps = result_maps(res, px)
    ro = res.options
    params = {"edge": spec.name, "edge_energy_eV": spec.energy, "method": opts.method,
              "method_used": ro.method, "method_reason": res.info.get("method_reason", ""),
              "normalization": ro.normalization, "window_eV": list(opts.window),
              "pre_edge_eV": list(opts.pre_edge), "post_edge_eV": list(opts.post_edge),
              "post_order": opts.post_order, "e0_eV": opts.e0, "step": opts.step,
              "min_r2": opts.min_r2, "threshold": res.threshold,
              "mask": res.info.get("mask", ""), "shape": ro.shape,
              "mask_sigma": opts.mask_sigma, "calibration_mode": fp.calibration,
              "energy_shifts": {k: v.as_dict() for k, v in shifts.items()},
              "template": [] if res.template is None else np.asarray(res.template).tolist(),
              "calibration": {"intercept_eV": cal.intercept, "slope_eV_per_valence": cal.slope,
                              "covariance": cal.covariance.tolist(),
                              "piecewise": bool(cal.piecewise),
                              "valence_residuals": [float(x) for x in cal.valence_residuals]}}
    table = calibration_table(cal)
    inputs = {"stack": str(Path(args.stack).resolve())}
    for i, r in enumerate(refs):
        inputs[f"reference_{i}"] = f"{r.valence}:{r.path}"
    proj = Project(maps=maps, tables={"calibration": table}, parameters={"fit": params},
                   inputs=inputs, provenance=[provenance("fit", params)])
    save_project(out, proj, overwrite=args.overwrite)
    ok = m & (res.status == 0)
    v = res.valence[ok]
    lines = [f"edge {spec.describe()}"]
    for k, sh in shifts.items():
        if sh.method != "none":
            lines.append(f"energy shift of {k}: {sh.describe()}")
    lines.append(f"method: {ro.method}" + (f" ({res.info['method_reason']})"
                                           if res.info.get("method_reason") else ""))
    resid = ", ".join(f"{r.name} ({r.valence:g}) {dv:+.2f}" for r, dv in
                      zip(cal.references, cal.valence_residuals, strict=True))
    lines.append(f"calibration E = {cal.intercept:.2f} eV + {cal.slope:.3f} eV x valence"
                 + (" (piecewise through the references)" if cal.piecewise else "")
                 + f"; reference residuals (valence): {resid}")
    msg = f"wrote {out}: {int(ok.sum())} of {m.size} pixels fitted ({int(m.sum())} in the mask)"
    if v.size:
        msg += (f"; {spec.valence_label} mean {float(np.mean(v)):.3f} "
                f"median {float(np.median(v)):.3f}")
    lines.append(msg)
    print("\n".join(lines))  # noqa: T201 - CLI output
    return 0
