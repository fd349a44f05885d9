"""``ptyxanes reconstruct``: ptychographic reconstruction of a folder of CXI scans."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ptyxanes.cli._compute import add_compute_options, reconstruct_runner

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``reconstruct`` subcommand."""
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct a folder of CXI ptychography scans (one per energy [and angle])",
        description="ePIE/rPIE reconstruction of every scan of an energy series (or of every "
        "energy and angle of a 3D series) into a NeXus stack of complex transmission, with the "
        "probes, error curves and positions under /entry/ptycho/.",
    )
    p.add_argument("scan_dir", help="folder of .cxi files (one energy series, any file names)")
    p.add_argument("-o", "--output", required=True, help="output NeXus stack file (.h5/.nxs)")
    p.add_argument(
        "--algorithm",
        choices=("epie", "rpie"),
        default="rpie",
        help="reconstruction algorithm (default rpie; epie leaves a raster grid in weakly lit "
        "parts of -ln|T|)",
    )
    p.add_argument(
        "--iterations",
        type=int,
        default=100,
        help="iterations of the reference energy (default 100)",
    )
    p.add_argument(
        "--warm-iterations",
        type=int,
        default=None,
        help="iterations of the warm-started energies (default: --iterations)",
    )
    p.add_argument("--modes", type=int, default=1, help="probe modes K (default 1)")
    p.add_argument(
        "--alpha", type=float, default=None, help="object step (default: ePIE 1.0, rPIE 0.25)"
    )
    p.add_argument("--beta", type=float, default=None, help="probe step (default 1.0)")
    p.add_argument(
        "--pixel-mode",
        choices=("crop", "native"),
        default="crop",
        help="crop the detector window per energy to keep the pixel size (crop, "
        "default) or reconstruct at each energy's own pixel size (native)",
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        help="target pixel size, m (crop: sets the windows; native: resample to it)",
    )
    p.add_argument(
        "--probe",
        default=None,
        help="initial probe, .npy complex (H, W) or (K, H, W) (default: estimated from the "
        "patterns: pupil from the mean pattern, spot size and position convention chosen by "
        "the data error of short trial runs)",
    )
    p.add_argument(
        "--spot",
        type=float,
        default=None,
        help="zone-plate probe: spot diameter at the sample, m (default: probe from the data)",
    )
    p.add_argument(
        "--defocus",
        type=float,
        default=None,
        help="zone-plate probe: distance downstream of focus, m (overrides --spot; "
        "default: probe from the data)",
    )
    p.add_argument("--jobs", type=int, default=2, help="parallel energies (default 2)")
    p.add_argument("--refine-positions", action="store_true", help="refine scan positions")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_compute_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.io.cxi import read_scan_series
    from ptyxanes.ptycho import PtychoParams
    from ptyxanes.ptycho.series import SeriesParams, reconstruct_series, write_series

    if args.iterations < 1 or args.modes < 1:
        raise ValueError("--iterations and --modes must be at least 1")
    if args.pixel_size is not None and args.pixel_size <= 0:
        raise ValueError(f"--pixel-size must be positive, got {args.pixel_size}")
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; use --overwrite to replace it")
    scans = read_scan_series(args.scan_dir)
    params = PtychoParams(
        algorithm=args.algorithm,
        iterations=args.iterations,
        modes=args.modes,
        alpha=args.alpha,
        beta=args.beta,
        refine_positions=args.refine_positions,
    )
    series = SeriesParams(
        pixel_mode=args.pixel_mode,
        pixel_size=args.pixel_size,
        warm_iterations=args.warm_iterations,
        jobs=args.jobs,
        probe_file=args.probe,
        spot=2e-6 if args.spot is None else args.spot,
        defocus=args.defocus,
        probe_from_data=args.spot is None and args.defocus is None,
    )
    result = run_with_bar(
        reconstruct_runner(args, reconstruct_series)(scans, params=params, series=series),
        "reconstruct", quiet=args.quiet,
    )
    write_series(
        out,
        result,
        overwrite=args.overwrite,
        parameters={
            "scan_dir": str(args.scan_dir),
            **vars(params),
            "pixel_mode": series.pixel_mode,
            "pixel_size": series.pixel_size,
        },
    )
    logger.info("wrote %s", out)
    return 0
