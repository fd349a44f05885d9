"""aXis2000 / ALS STXM image stacks: a ``.hdr`` header, one ``.xim`` text image per energy.

The header is the ALS STXM control program's "ScanDefinition" text (read by
aXis2000's ``read_sdf`` / ``stack_rb`` and MANTiS's ``file_sdf``), with, for a
"NEXAFS Image Scan" stack:

- ``PAxis = { Name = "Sample X"; Unit = "um"; ... Points = (N, x1, ..., xN); }``: columns;
- ``QAxis = { Name = "Sample Y"; Unit = "um"; ... Points = (M, y1, ..., yM); }``: rows;
- ``StackAxis = { Name = "Energy"; Unit = "eV"; ... Points = (E, e1, ..., eE); }``.

The images are ``<stem>_a000.xim``, ``<stem>_a001.xim``, ... (one per energy, in
header order): tab-separated text, one line per row (Sample Y), one column per
Sample X point, values in detector counts. The incident flux comes from
``i0.xsp`` in the same folder (two columns: energy eV, I0 counts) or from a file
given by the caller (same two-column form); the stack is returned as optical
density OD = −ln(I/I0), kind ``"absorption"`` (note OD = −2 ln|T|). I0 is
interpolated linearly onto the stack energies when its grid differs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Generator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Progress, run_sync

logger = logging.getLogger(__name__)

NAME = "stxm"
_HEAD_BYTES = 4096


def _header_of(path: Path) -> Path | None:
    """The .hdr file of a source (the header itself, or the only one in a folder)."""
    if path.is_dir():
        hdrs = [q for q in sorted(path.glob("*.hdr")) if _is_stack_header(q)]
        return hdrs[0] if len(hdrs) == 1 else None
    return path if _is_stack_header(path) else None


def _is_stack_header(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return False
    return b"ScanDefinition" in head and b"PAxis" in head and b"\x00" not in head


def sniff_stxm(path: str | os.PathLike[str]) -> bool:
    """True for an ALS STXM ``.hdr`` header (or a folder with exactly one) of an image stack.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_stxm : bool
    """
    return _header_of(Path(path)) is not None


def _axis(text: str, name: str, hdr: Path) -> tuple[str, NDArray[np.float64]]:
    m = re.search(name + r"\s*=\s*\{(.*?)Points\s*=\s*\(([^)]*)\)", text, re.S)
    if m is None:
        raise FormatError(hdr, f"header has no {name} with Points = (...)")
    unit_m = re.search(r'Unit\s*=\s*"([^"]*)"', m.group(1))
    unit = unit_m.group(1) if unit_m else ""
    try:
        vals = [float(v) for v in m.group(2).replace("\n", " ").split(",") if v.strip()]
    except ValueError as exc:
        raise FormatError(hdr, f"{name} Points are not numbers ({exc})") from exc
    if not vals:
        raise FormatError(hdr, f"{name} Points are empty")
    n = int(vals[0])
    pts = np.asarray(vals[1:], dtype=np.float64)
    if n != pts.size:
        raise FormatError(hdr, f"{name} announces {n} points but lists {pts.size}")
    return unit, pts


def read_two_columns(path: Path, what: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Read (energy, value) from a two-column text file (``#`` comments, any whitespace).

    Raises
    ------
    FormatError
        Unreadable, non-numeric, fewer than two columns or two rows, NaN/inf.
    """
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise FormatError(path, f"cannot read the {what} ({exc.strerror or exc})") from exc
    rows = []
    for k, ln in enumerate(lines):
        s = ln.split("#", 1)[0].replace(",", " ").split()
        if not s:
            continue
        if len(s) < 2:
            raise FormatError(path, f"{what}: line {k + 1} has one column; expected energy and value")
        try:
            rows.append((float(s[0]), float(s[1])))
        except ValueError:
            raise FormatError(path, f"{what}: non-numeric line {k + 1}: {ln.strip()[:40]!r}") from None
    if len(rows) < 2:
        raise FormatError(path, f"{what}: fewer than two (energy, value) rows")
    a = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise FormatError(path, f"{what}: NaN or inf")
    return a[:, 0], a[:, 1]


def _i0_on(energy: NDArray[np.float64], i0_path: Path) -> NDArray[np.float64]:
    e0, i0 = read_two_columns(i0_path, "I0 spectrum")
    if np.any(np.diff(e0) <= 0):
        raise FormatError(i0_path, "I0 energies are not strictly increasing")
    if np.any(i0 <= 0):
        raise FormatError(i0_path, "I0 has values <= 0 counts")
    if e0.size == energy.size and np.allclose(e0, energy, atol=0.01):
        return i0
    lo, hi = float(energy.min()), float(energy.max())
    if lo < e0[0] - 0.01 or hi > e0[-1] + 0.01:
        raise FormatError(
            i0_path,
            f"I0 covers {e0[0]:.2f}-{e0[-1]:.2f} eV; the stack needs {lo:.2f}-{hi:.2f} eV",
        )
    return np.interp(energy, e0, i0)


def read_xim(path: Path, shape: tuple[int, int]) -> NDArray[np.float64]:
    """Read one ``.xim`` text image (rows of tab-separated counts).

    Raises
    ------
    FormatError
        Missing, non-numeric, ragged, of a shape other than ``shape``, NaN/inf.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FormatError(path, f"cannot read the image ({exc.strerror or exc})") from exc
    rows = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not rows or len({len(r) for r in rows}) != 1:
        raise FormatError(path, "image rows have different numbers of values (truncated file?)")
    try:
        img = np.asarray(rows, dtype=np.float64)
    except ValueError as exc:
        raise FormatError(path, f"image holds non-numeric values ({exc})") from exc
    if img.shape != shape:
        raise FormatError(
            path, f"image is {img.shape[0]} x {img.shape[1]} px; the header says {shape[0]} x {shape[1]}"
        )
    if not np.all(np.isfinite(img)):
        raise FormatError(path, "image contains NaN or inf")
    return img


def read_stxm(
    path: str | os.PathLike[str], *, i0: str | os.PathLike[str] | None = None
) -> ImageStack:
    """Read an aXis2000 / ALS STXM stack as optical density −ln(I/I0).

    The same as :func:`iter_read_stxm` without progress reports.

    Parameters
    ----------
    path : path-like
        The ``.hdr`` file, or its folder.
    i0 : path-like, optional
        Two-column text file (energy eV, I0 counts); default ``i0.xsp`` next to the header.

    Returns
    -------
    stack : ImageStack
        See :func:`iter_read_stxm`.
    """
    return run_sync(iter_read_stxm(path, i0=i0))


def iter_read_stxm(
    path: str | os.PathLike[str], *, i0: str | os.PathLike[str] | None = None
) -> Generator[Progress, None, ImageStack]:
    """Read an aXis2000 / ALS STXM stack as optical density −ln(I/I0), one report per image.

    Parameters
    ----------
    path : path-like
        The ``.hdr`` file, or its folder.
    i0 : path-like, optional
        Two-column text file (energy eV, I0 counts); default ``i0.xsp`` next to the header.

    Yields
    ------
    progress : Progress
        After every image.

    Returns
    -------
    stack : ImageStack
        (E, M, N) float32 optical density, kind ``"absorption"``, pixel size from
        the Sample X step (m), ``attrs["quantity"] = "optical density -ln(I/I0)"``.

    Raises
    ------
    FormatError
        Header without axes, energies not increasing, missing or misshapen images,
        non-square pixels, missing I0 (no ``i0.xsp`` and none given), counts <= 0.
    """
    src = Path(path)
    if not src.exists():
        raise FormatError(src, "file or folder not found")
    hdr = _header_of(src)
    if hdr is None:
        raise FormatError(src, "not an ALS STXM stack header (.hdr with ScanDefinition/PAxis)")
    text = hdr.read_text(encoding="utf-8", errors="replace")
    ux, x = _axis(text, "PAxis", hdr)
    uy, y = _axis(text, "QAxis", hdr)
    ue, energy = _axis(text, "StackAxis", hdr)
    if ue.lower() != "ev":
        raise FormatError(hdr, f"StackAxis unit {ue!r}; expected eV")
    if np.any(np.diff(energy) <= 0):
        i = int(np.argmax(np.diff(energy) <= 0))
        raise FormatError(hdr, f"energies are not strictly increasing (entry {i + 2}: {energy[i + 1]:g} eV)")
    scale = {"um": 1e-6, "µm": 1e-6, "nm": 1e-9, "mm": 1e-3}
    if ux not in scale or uy not in scale:
        raise FormatError(hdr, f"unknown units of the sample axes ({ux!r}, {uy!r}); expected um")
    if x.size < 2 or y.size < 2:
        raise FormatError(hdr, "sample axes need at least two points each")
    dx = abs(float(np.mean(np.diff(x)))) * scale[ux]
    dy = abs(float(np.mean(np.diff(y)))) * scale[uy]
    if abs(dx - dy) > 1e-3 * max(dx, dy) or dx <= 0:
        raise FormatError(hdr, f"pixels are not square ({dy * 1e9:.1f} x {dx * 1e9:.1f} nm)")
    stem = hdr.stem
    files = [hdr.parent / f"{stem}_a{k:03d}.xim" for k in range(energy.size)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FormatError(
            hdr, f"{len(missing)} of {energy.size} images missing (first: {missing[0]})"
        )
    i0_path = Path(i0) if i0 is not None else hdr.parent / "i0.xsp"
    if not i0_path.is_file():
        raise FormatError(
            hdr if i0 is None else i0_path,
            "missing I0: no i0.xsp next to the header; give the incident flux with --i0 FILE",
        )
    flux = _i0_on(energy, i0_path)
    shape = (y.size, x.size)
    od = np.empty((energy.size, *shape), np.float32)
    for k, fp in enumerate(files):
        img = read_xim(fp, shape)
        if np.any(img <= 0):
            raise FormatError(fp, f"{int(np.sum(img <= 0))} pixels with counts <= 0; OD undefined")
        od[k] = -np.log(img / flux[k])
        yield Progress(k + 1, energy.size, fp.name, stage="import")
    attrs = {
        "source_file": str(hdr),
        "format": NAME,
        "quantity": "optical density -ln(I/I0)",
        "i0_file": str(i0_path),
        "pixel_size_known": True,
    }
    logger.info("%s: STXM stack %d x %d x %d", hdr, *od.shape)
    return ImageStack(od, energy, np.full(energy.size, 0.5 * (dx + dy)), kind="absorption",
                      attrs=attrs)
