"""Human-readable summaries of any file ptyxanes reads (``ptyxanes info FILE``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ptyxanes.io.errors import FormatError
from ptyxanes.io.nexus import _attr_str, open_hdf5

logger = logging.getLogger(__name__)

_TEXT_SUFFIXES = (".xdi", ".txt", ".dat", ".xmu", ".csv", ".nor")


def _size(n: int) -> str:
    f = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if f < 1024 or unit == "GiB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return f"{f:.1f} GiB"


def _range(a: Any, unit: str, scale: float = 1.0, fmt: str = ".1f") -> str:
    a = np.asarray(a, dtype=np.float64) * scale
    if a.size == 0:
        return "none"
    if a.size == 1 or np.allclose(a, a.flat[0]):
        return f"{a.flat[0]:{fmt}} {unit}"
    return f"{a.min():{fmt}}–{a.max():{fmt}} {unit}"


def describe(path: str | os.PathLike[str]) -> str:
    """Summarise a data file or folder in a few lines.

    Recognises ptyxanes project files, NeXus stack files, CXI scans, other
    HDF5 files (listed as a tree), TIFF stacks, folders of CXI or TIFF files,
    and reference spectra (XDI / two-column text).

    Parameters
    ----------
    path : path-like
        File or folder.

    Returns
    -------
    text : str
        Several lines, for a terminal.

    Raises
    ------
    FormatError
        If the file does not exist or is of no known kind (the message says why).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ref.txt"
    >>> _ = p.write_text("8330 0\\n8340 0.5\\n8350 1\\n")
    >>> print(describe(p).splitlines()[0])
    ref.txt: reference spectrum (two-column text), 3 points, 8330.0–8350.0 eV
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(p, "file or folder not found")
    foreign = _describe_foreign(p)
    if foreign is not None:
        return foreign
    if p.is_dir():
        return _describe_folder(p)
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head == b"\x89HDF\r\n\x1a\n" or h5py.is_hdf5(p):
        return _describe_hdf5(p)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _describe_tiff(p)
    with open(p, "rb") as fh:
        if b"\x00" in fh.read(4096):
            raise FormatError(
                p, "binary file of unknown format (not HDF5, CXI, TIFF or a spectrum)"
            )
    return _describe_text(p)


_NATIVE = ("nexus", "cxi", "cxi-scan")


def _describe_foreign(p: Path) -> str | None:
    """Summary of an input of another code (see :mod:`ptyxanes.io.formats`), else None."""
    from ptyxanes.io.formats import _folder_members, find_format, open_stack

    fmt = find_format(p)
    if fmt is not None and fmt.name in _NATIVE:
        return None
    if fmt is None:
        if not p.is_dir():
            return None
        members = _folder_members(p)
        if not members:
            return None
        names = sorted({f.name for _, f in members})
        head = f"{p.name}/: folder of {len(members)} files, format {'+'.join(names)}"
    elif fmt.name == "tiff":
        from ptyxanes.io.formats import tiff_energy_sidecar

        if tiff_energy_sidecar(p) is None:
            return None
        head = f"{p.name}{'/' if p.is_dir() else ''}: format tiff ({fmt.description})"
    else:
        head = f"{p.name}{'/' if p.is_dir() else ''}: format {fmt.name} ({fmt.description})"
    if fmt is not None and fmt.raw:
        return head + "\n" + _describe_raw(p, fmt)
    try:
        s = open_stack(p, lazy=True)
    except FormatError as exc:
        return head + f"\n  cannot be read as it is: {exc}"
    try:
        lines = [
            head,
            f"  would read: {tuple(s.data.shape)} {s.kind}, dims {s.dims}",
            f"  energies: {s.n_energies}, {_range(s.energy, 'eV', fmt='.3f')}",
            f"  pixel size: {_range(s.pixel_size, 'nm', 1e9, '.3f')}",
        ]
        if s.angle is not None:
            lines.append(f"  angles: {s.angle.size}, {_range(s.angle, 'deg')}")
        elif "angle_deg" in s.attrs:
            lines.append(f"  angle: {s.attrs['angle_deg']:g} deg")
        if s.attrs.get("quantity"):
            lines.append(f"  values: {s.attrs['quantity']}")
        if s.attrs.get("regridded"):
            r = s.attrs["regridded"]
            lines.append(f"  objects of different shapes: rescaled to "
                         f"{r['target_pixel_size_m'] * 1e9:.2f} nm, {tuple(r['shape'])}")
    finally:
        if hasattr(s.data, "file"):
            s.data.file.close()
    return "\n".join(lines)


def _describe_raw(p: Path, fmt: Any) -> str:
    try:
        scan = fmt.read(p)
    except FormatError as exc:
        return f"  cannot be read as it is: {exc.problem}"
    try:
        ext = np.ptp(scan.positions, axis=0) * 1e6
        return "\n".join([
            f"  frames: {scan.n_frames} of {scan.data.shape[1]}×{scan.data.shape[2]} px",
            f"  energy: {scan.energy:.2f} eV; detector distance {scan.distance:g} m, "
            f"pixel {scan.detector_pixel_size[0] * 1e6:g} µm",
            f"  scan extent: {ext[0]:.2f} × {ext[1]:.2f} µm (row × col)",
            "  convert with `ptyxanes import FILE -o FOLDER` (CXI scans), then reconstruct",
        ])
    finally:
        if hasattr(scan.data, "file"):
            scan.data.file.close()


def _describe_folder(p: Path) -> str:
    cxi = sorted(p.glob("*.cxi"))
    if cxi:
        from ptyxanes.io.cxi import read_scan_series

        scans = read_scan_series(p)
        s0 = scans[0]
        angles = sorted({s.angle for s in scans if s.angle is not None})
        energies = np.array(sorted({round(s.energy, 3) for s in scans}))
        lines = [
            f"{p.name}/: CXI scan series, {len(scans)} files",
            f"  energies: {energies.size}, {_range(energies, 'eV')}",
        ]
        if angles:
            lines.append(f"  angles: {len(angles)}, {_range(angles, 'deg')}")
        lines.append(
            f"  frames per scan: {s0.n_frames} of {s0.data.shape[1]}×{s0.data.shape[2]} px, "
            f"detector distance {s0.distance:g} m"
        )
        return "\n".join(lines)
    tifs = [q for q in p.iterdir() if q.suffix.lower() in (".tif", ".tiff")]
    if tifs:
        return f"{p.name}/: folder of {len(tifs)} TIFF files (read with an energy list)"
    entries = sorted(q.name for q in p.iterdir())
    more = f" … (+{len(entries) - 20})" if len(entries) > 20 else ""
    return f"{p.name}/: folder, {len(entries)} entries: " + ", ".join(entries[:20]) + more


def _describe_hdf5(p: Path) -> str:
    f = open_hdf5(p)
    try:
        entry = f.get("entry")
        if isinstance(entry, h5py.Group) and "ptyxanes_project" in entry.attrs:
            text = _describe_project(p)
        elif "entry_1" in f:
            text = _describe_cxi(p)
        elif _looks_like_stack(f):
            text = _describe_stack(p)
        else:
            text = _describe_tree(f, p)
    finally:
        f.close()
    return text


def _looks_like_stack(f: h5py.File) -> bool:
    g = f.get("/entry/data")
    return isinstance(g, h5py.Group) and "data" in g and "energy" in g


def _describe_stack(p: Path) -> str:
    from ptyxanes.io.nexus import read_stack

    s = read_stack(p, lazy=True)
    try:
        lines = [
            f"{p.name}: NeXus image stack ({s.kind}), {_size(p.stat().st_size)}",
            f"  data: {tuple(s.data.shape)} {s.data.dtype}, dims {s.dims}",
            f"  energies: {s.n_energies}, {_range(s.energy, 'eV')}",
            f"  pixel size: {_range(s.pixel_size, 'nm', 1e9, '.2f')}",
        ]
        if s.angle is not None:
            lines.append(f"  angles: {s.angle.size}, {_range(s.angle, 'deg')}")
        sample = {k: v for k, v in s.attrs.items() if k not in ("source_file", "extra")}
        if sample:
            lines.append("  attributes: " + ", ".join(f"{k}={v}" for k, v in sample.items()))
        if s.attrs.get("extra"):
            lines.append("  extra: " + ", ".join(sorted(s.attrs["extra"])))
    finally:
        s.data.file.close()
    return "\n".join(lines)


def _describe_cxi(p: Path) -> str:
    from ptyxanes.io.cxi import read_cxi

    s = read_cxi(p, lazy=True)
    try:
        dy, dx = s.object_pixel_size()
        ext = np.ptp(s.positions, axis=0) * 1e6
        lines = [
            f"{p.name}: CXI ptychography scan, {_size(p.stat().st_size)}",
            f"  frames: {s.n_frames} of {s.data.shape[1]}×{s.data.shape[2]} px ({s.data.dtype})",
            f"  energy: {s.energy:.2f} eV (wavelength {s.wavelength * 1e12:.2f} pm)",
            f"  detector: distance {s.distance:g} m, pixel {s.detector_pixel_size[0] * 1e6:g}×"
            f"{s.detector_pixel_size[1] * 1e6:g} µm",
            f"  scan extent: {ext[0]:.2f} × {ext[1]:.2f} µm (row × col); "
            f"far-field object pixel {dy * 1e9:.2f}×{dx * 1e9:.2f} nm",
            f"  mask: {'none' if s.mask is None else f'{int(s.mask.sum())} bad pixels'}",
        ]
        if s.angle is not None:
            lines.append(f"  rotation angle: {s.angle:g} deg")
    finally:
        s.data.file.close()
    return "\n".join(lines)


def _describe_project(p: Path) -> str:
    from ptyxanes.io.project import load_project

    pr = load_project(p, lazy=True)
    try:
        lines = [f"{p.name}: ptyxanes project, {_size(p.stat().st_size)}"]
        for name, m in pr.maps.items():
            a = np.asarray(m.data, dtype=np.float64)
            finite = a[np.isfinite(a)]
            rng = f"{finite.min():.3g}…{finite.max():.3g}" if finite.size else "all NaN"
            lines.append(
                f"  map {name}: {a.shape}, {rng} {m.units}".rstrip()
                + f", pixel {m.pixel_size * 1e9:.2f} nm"
            )
        for name, s in pr.stacks.items():
            lines.append(
                f"  stack {name}: {tuple(s.data.shape)} {s.kind}, {_range(s.energy, 'eV')}"
            )
        for name, lab in pr.labels.items():
            lines.append(f"  labels {name}: {lab.shape}, {int(np.max(lab, initial=0))} max label")
        for name, t in pr.tables.items():
            n = len(next(iter(t.values()))) if t else 0
            lines.append(f"  table {name}: {n} rows, columns {', '.join(t)}")
        if pr.parameters:
            lines.append(f"  parameters: {', '.join(pr.parameters)}")
        for name, src in pr.inputs.items():
            lines.append(f"  input {name}: {src}")
        for rec in pr.provenance:
            lines.append(
                f"  step {rec.get('stage', '?')}: {rec.get('time', '')} "
                f"(ptyxanes {rec.get('version', '?')})"
            )
    finally:
        for s in pr.stacks.values():
            if isinstance(s.data, h5py.Dataset):
                s.data.file.close()
                break
    return "\n".join(lines)


def _describe_tree(f: h5py.File, p: Path, limit: int = 40) -> str:
    lines = [f"{p.name}: HDF5 file, {_size(p.stat().st_size)} (not a ptyxanes stack/CXI/project)"]
    items: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if len(items) > limit:
            return
        if isinstance(obj, h5py.Dataset):
            unit = _attr_str(obj, "units")
            items.append(f"  /{name}: {obj.shape} {obj.dtype}" + (f" [{unit}]" if unit else ""))
        else:
            cls = _attr_str(obj, "NX_class")
            items.append(f"  /{name}/" + (f" ({cls})" if cls else ""))

    try:
        f.visititems(visit)
    except (OSError, RuntimeError) as exc:
        raise FormatError(p, f"cannot list the HDF5 tree; truncated or corrupt ({exc})") from exc
    if len(items) > limit:
        items = items[:limit] + ["  …"]
    return "\n".join(lines + items)


def _describe_tiff(p: Path) -> str:
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            s = tf.series[0]
            return (
                f"{p.name}: TIFF, series shape {s.shape} ({s.axes}) {s.dtype}, "
                f"{len(tf.pages)} pages; read as a stack with an energy list"
            )
    except Exception as exc:  # tifffile raises many types for damaged files
        raise FormatError(p, f"not a readable TIFF file ({exc})") from exc


def _describe_text(p: Path) -> str:
    from ptyxanes.io.spectra import read_spectrum

    try:
        s = read_spectrum(p)
    except FormatError as exc:
        raise FormatError(
            p, f"not a known format (HDF5, CXI, TIFF, spectrum): {exc.problem}"
        ) from exc
    kind = "XDI" if "XDI" in p.read_text(errors="replace")[:20].upper() else "two-column text"
    lines = [
        f"{p.name}: reference spectrum ({kind}), {s.energy.size} points, {_range(s.energy, 'eV')}",
        f"  name: {s.name}; absorption column: {s.meta.get('column')}",
    ]
    if s.meta.get("energy_converted_from"):
        lines.append("  energies read as keV and converted to eV")
    if s.valence is not None:
        lines.append(f"  valence: {s.valence:g}")
    return "\n".join(lines)
