"""``ptyxanes import``: any supported input (reconstructions, STXM, TIFF ...) to a NeXus stack."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Generator
from pathlib import Path

import numpy as np

from ptyxanes.progress import Progress

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
    p.add_argument("-o", "--output", required=True,
                   help="NeXus stack file to write (.h5); for raw scans (I13-1 .nxs) a folder "
                   "that receives one CXI file per scan")
    p.add_argument("--energies", metavar="FILE",
                   help="energy list (eV or keV, one per line): one per file in name order, "
                   "or one per image of a TIFF stack; replaces the files' energies")
    p.add_argument("--angles", metavar="FILE", help="rotation angles, deg, one per file")
    p.add_argument("--i0", metavar="FILE",
                   help="incident flux of an STXM stack: two columns, energy (eV) and I0")
    p.add_argument("--format", metavar="NAME", help=f"force a format instead of detecting it ({names})")
    p.add_argument("--distance", type=float, metavar="M",
                   help="raw scans: sample-detector distance, m (when the file lacks it)")
    p.add_argument("--detector-pixel", type=float, metavar="M",
                   help="raw scans: detector pixel pitch, m (default: the file's, else 55e-6)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ptyxanes.cli._progress import run_with_bar
    from ptyxanes.io.formats import expand_sources
    from ptyxanes.io.nexus import write_stack
    from ptyxanes.provenance import provenance
    from ptyxanes.stages import ImportParams, import_stage

    items = expand_sources(args.sources, args.format)
    if any(f.raw for _, f in items):
        return _run_raw(args, items)
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; use --overwrite to replace it")
    for s in args.sources:
        if Path(s).exists() and Path(s).resolve() == out.resolve():
            raise ValueError("the output must not be one of the sources")
    stack = run_with_bar(
        import_stage(args.sources, ImportParams(energies=args.energies, angles=args.angles,
                                                i0=args.i0, format=args.format)),
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


def _convert_raw(args: argparse.Namespace, items: list) -> Generator[Progress, None, list[Path]]:
    from ptyxanes.io.cxi import write_cxi
    from ptyxanes.io.errors import FormatError
    from ptyxanes.io.formats import energy_vector
    from ptyxanes.provenance import provenance

    bad = [p for p, f in items if f.name != "i13-nexus"]
    if bad:
        raise FormatError(bad[0], "only I13-1 raw scans are converted to CXI (not mixed with "
                          "other inputs); a CXI folder is read by ptyxanes pipeline as it is")
    energies = energy_vector(args.energies, len(items)) if args.energies else None
    out_dir = Path(args.output)
    targets = [out_dir / (p.stem + ".cxi") for p, _ in items]
    for t in targets:
        if t.exists() and not args.overwrite:
            raise FileExistsError(f"{t} exists; use --overwrite to replace it")
    written = []
    for k, ((p, fmt), target) in enumerate(zip(items, targets, strict=True)):
        scan = fmt.read(p, energy=None if energies is None else float(energies[k]),
                        distance=args.distance, detector_pixel=args.detector_pixel)
        try:
            params = {"source": str(p.resolve()), "format": fmt.name, "energy_eV": scan.energy,
                      "distance_m": scan.distance, "detector_pixel_m": scan.detector_pixel_size[0]}
            write_cxi(target, scan.data, scan.positions, scan.energy, scan.distance,
                      scan.detector_pixel_size, overwrite=args.overwrite,
                      provenance=provenance("import", params))
        finally:
            if hasattr(scan.data, "file"):
                scan.data.file.close()
        written.append(target)
        yield Progress(k + 1, len(items), f"{p.name} -> {target.name}", stage="import")
    return written


def _run_raw(args: argparse.Namespace, items: list) -> int:
    from ptyxanes.cli._progress import run_with_bar

    written = run_with_bar(_convert_raw(args, items), "import", quiet=args.quiet)
    print(f"wrote {len(written)} CXI scans to {args.output}")  # noqa: T201 - CLI output
    return 0
