"""TIFF stacks as TXM-XANES users have them: a folder of TIFFs or one multi-page TIFF.

The images carry no reliable energy or pixel size, so the energies come from a
list (an array or a text file with one energy per line, or energy in the first
column; keV auto-detected as for spectra) and the pixel size from the caller.
Files in a folder are ordered by their names in natural order (``img_2`` before
``img_10``), and image ``i`` belongs to the ``i``-th energy of the list.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptyxanes.io.errors import FormatError
from ptyxanes.io.spectra import KEV_THRESHOLD
from ptyxanes.io.stack import ImageStack, StackKind

logger = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def read_energy_list(source: str | os.PathLike[str] | ArrayLike) -> NDArray[np.float64]:
    """Read a list of energies (eV) from an array or a text file.

    Parameters
    ----------
    source : path-like or array-like
        A text file (one energy per line, or energy in the first column; ``#``
        comments) or the energies themselves. Values whose maximum is below
        100 are taken as keV.

    Returns
    -------
    energy : ndarray of shape (E,)
        eV, strictly increasing.

    Raises
    ------
    FormatError
        For an unreadable file, non-numeric lines, NaN or inf, or energies not
        strictly increasing (ValueError instead when an array was given).

    Examples
    --------
    >>> read_energy_list([8.33, 8.34, 8.35]).tolist()
    [8330.0, 8340.0, 8350.0]
    """
    is_file = isinstance(source, str | os.PathLike)
    where = Path(source) if is_file else None  # type: ignore[arg-type]

    def fail(problem: str) -> Exception:
        return (
            FormatError(where, problem) if where is not None else ValueError(f"energies: {problem}")
        )

    if where is not None:
        try:
            lines = where.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise FormatError(
                where, f"cannot read the energy list ({exc.strerror or exc})"
            ) from exc
        vals = []
        for k, ln in enumerate(lines):
            s = ln.split("#", 1)[0].replace(",", " ").split()
            if not s:
                continue
            try:
                vals.append(float(s[0]))
            except ValueError:
                raise fail(f"non-numeric line {k + 1}: {ln.strip()[:40]!r}") from None
        e = np.asarray(vals, dtype=np.float64)
    else:
        e = np.asarray(source, dtype=np.float64).ravel()
    if e.size == 0:
        raise fail("no energies")
    if not np.all(np.isfinite(e)):
        raise fail("NaN or inf energy")
    if float(np.max(e)) < KEV_THRESHOLD:
        e = e * 1000.0
    if np.any(np.diff(e) <= 0):
        i = int(np.argmax(np.diff(e) <= 0))
        raise fail(f"energies are not strictly increasing (entry {i + 2}: {e[i + 1]:g} eV)")
    return e


class _TiffImages:
    """Array-like (E, M, N) view that reads TIFF pages only when sliced."""

    def __init__(
        self, files: Sequence[Path], pages: Sequence[int], shape: tuple[int, ...], dtype: np.dtype
    ):
        self.files = list(files)
        self.pages = list(pages)
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, i: int) -> NDArray[Any]:
        import tifffile

        try:
            with tifffile.TiffFile(self.files[i]) as tf:
                series = tf.series[0]
                n = int(np.prod(series.shape[:-2], dtype=np.int64))
                if len(series.pages) == n and series.pages[self.pages[i]] is not None:
                    img = series.pages[self.pages[i]].asarray()  # type: ignore[union-attr]
                else:  # several images in one page (planar samples)
                    img = series.asarray().reshape(n, *series.shape[-2:])[self.pages[i]]
            return np.asarray(img).reshape(self.shape[1:])
        except Exception as exc:  # tifffile raises many types for damaged files
            raise FormatError(
                self.files[i], f"cannot read TIFF image {self.pages[i]} ({exc})"
            ) from exc

    def __getitem__(self, key: Any) -> NDArray[Any]:
        k0, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(k0, int | np.integer):
            return self._read(int(k0))[rest] if rest else self._read(int(k0))
        idx = np.arange(self.shape[0])[k0]
        out = np.stack([self._read(int(i)) for i in np.atleast_1d(idx)])
        return out[(slice(None), *rest)] if rest else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        a = self[:]
        return a if dtype is None else a.astype(dtype)


def read_tiff_stack(
    path_or_folder: str | os.PathLike[str],
    energies: str | os.PathLike[str] | ArrayLike,
    *,
    pixel_size: float | ArrayLike | None = None,
    kind: StackKind = "modulus",
    lazy: bool = False,
) -> ImageStack:
    """Read a TIFF image stack with its energy list.

    Parameters
    ----------
    path_or_folder : path-like
        A multi-page TIFF (the first series of the file; every leading axis
        is flattened into the image index), or a folder of TIFFs (``*.tif``,
        ``*.tiff``, natural name order; each may hold several images).
    energies : path-like or array-like
        One energy per image (see :func:`read_energy_list`), eV or keV.
    pixel_size : float or array-like of shape (E,), optional
        Pixel size, m. TIFFs carry no reliable one: when omitted it is NaN and
        ``attrs["pixel_size_known"]`` is False (set it before writing).
    kind : {"modulus", "absorption"}, optional
        What the grey values are: transmission |T| (e.g. I/I0, default) or
        absorption (−ln T, optical density).
    lazy : bool, optional
        If true ``data`` is a proxy that reads a page only when sliced
        (NaN/inf checked on the first image); otherwise an ndarray.

    Returns
    -------
    stack : ImageStack
        (E, M, N) float32 (or the stored dtype when lazy).

    Raises
    ------
    FormatError
        Not a TIFF, no TIFFs in the folder, image count differing from the
        energy count, images of different shapes, colour images, NaN or inf,
        bad energy list.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.tif"
    >>> tifffile.imwrite(p, np.ones((3, 4, 5), np.float32), photometric="minisblack")
    >>> s = read_tiff_stack(p, [8.33, 8.34, 8.35], pixel_size=30e-9)
    >>> s.data.shape, float(s.energy[0]), float(s.pixel_size[0])
    ((3, 4, 5), 8330.0, 3e-08)
    """
    import tifffile

    if kind not in ("modulus", "absorption"):
        raise ValueError(f"kind must be 'modulus' or 'absorption' for TIFF stacks; got {kind!r}")
    src = Path(path_or_folder)
    if not src.exists():
        raise FormatError(src, "file or folder not found")
    files: list[Path] = []
    pages: list[int] = []
    shapes: dict[tuple[int, ...], Path] = {}
    dtypes = set()
    if src.is_dir():
        candidates = sorted(
            (p for p in src.iterdir() if p.suffix.lower() in TIFF_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
        if not candidates:
            raise FormatError(src, "no .tif/.tiff files in the folder")
    else:
        candidates = [src]
    for fp in candidates:
        try:
            with tifffile.TiffFile(fp) as tf:
                series = tf.series[0]
                axes = series.axes
                shape = tuple(int(v) for v in series.shape)
                dtypes.add(np.dtype(series.dtype))
        except Exception as exc:  # tifffile raises many types for damaged files
            raise FormatError(fp, f"not a readable TIFF file ({exc})") from exc
        if axes.endswith("S") or len(shape) < 2:
            raise FormatError(
                fp, f"images have shape {shape} ({axes}); expected grey-level (M, N) images"
            )
        n = int(np.prod(shape[:-2], dtype=np.int64))
        for j in range(n):
            files.append(fp)
            pages.append(j)
        shapes.setdefault(shape[-2:], fp)
    if len(shapes) > 1:
        desc = ", ".join(f"{s} in {p.name}" for s, p in shapes.items())
        raise FormatError(src, f"images have different shapes: {desc}")
    shape = next(iter(shapes))
    energy = read_energy_list(energies)
    if energy.size != len(files):
        raise FormatError(src, f"{len(files)} images but {energy.size} energies")
    if pixel_size is None:
        px = np.full(energy.size, np.nan)
        known = False
    else:
        px = np.broadcast_to(np.asarray(pixel_size, dtype=np.float64), energy.shape).copy()
        if not np.all(np.isfinite(px)) or np.any(px <= 0):
            raise ValueError("pixel_size must be positive, m")
        known = True
    dtype = np.result_type(*dtypes)
    if dtype.kind not in "fiu":
        raise FormatError(src, f"images have dtype {dtype}; expected grey-level numbers")
    proxy = _TiffImages(files, pages, (energy.size, *shape), dtype)
    data: Any
    if lazy:
        data = proxy
        check = proxy[0]
    else:
        data = np.empty(proxy.shape, np.float32)
        for i in range(energy.size):
            data[i] = proxy[i]
        check = data
    if not np.all(np.isfinite(check)):
        raise FormatError(src, "images contain NaN or inf")
    attrs = {"source_file": str(src), "pixel_size_known": known}
    logger.info("%s: %d TIFF images %s", src, energy.size, shape)
    return ImageStack(data, energy, px, kind=kind, attrs=attrs)
