"""Shared helpers of the readers of other codes' files (HDF5 scalars, energies, pixel sizes).

Every reader of a ptychographic reconstruction returns an :class:`ImageStack` of one
energy (one file = one energy, and possibly one angle); :func:`ptyxanes.io.formats.open_stack`
combines several into one stack.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack

logger = logging.getLogger(__name__)

HC_EV_M = 1.239841984e-6
"""Planck constant times speed of light, eV·m (E = hc/λ)."""

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: Path) -> bool:
    """True when ``path`` is a file that starts like HDF5 (or has a user block, as MAT v7.3)."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head == HDF5_SIGNATURE:
                return True
            # MATLAB v7.3 files carry a 512-byte user block before the HDF5 superblock
            fh.seek(512)
            if fh.read(8) == HDF5_SIGNATURE:
                return True
    except OSError:
        return False
    return bool(h5py.is_hdf5(path))


def h5_sniff(path: Path, test: Callable[[h5py.File], bool]) -> bool:
    """``test`` of the HDF5 file opened read-only; False when it is not HDF5 or is unreadable.

    The common body of the format sniffers: it never raises for a bad file.

    Parameters
    ----------
    path : pathlib.Path
    test : callable
        Called with the open ``h5py.File``; returns whether the content fits.

    Returns
    -------
    fits : bool
    """
    if not is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return bool(test(f))
    except (OSError, KeyError, ValueError):
        return False


def h5_has(path: Path, *names: str) -> bool:
    """True when the HDF5 file holds every one of ``names`` (never raises)."""
    return h5_sniff(path, lambda f: all(n in f for n in names))


def h5_attrs_have(path: Path, obj: str, *names: str) -> bool:
    """True when object ``obj`` of the HDF5 file has any of the attributes ``names``."""

    def has(f: h5py.File) -> bool:
        o = f.get(obj)
        return o is not None and any(n in o.attrs for n in names)

    return h5_sniff(path, has)


def scalar(value: Any, path: Path, what: str) -> float:
    """Turn a stored value (array of one element, bytes, number) into a finite float.

    Raises
    ------
    FormatError
        When it is not one finite number.
    """
    try:
        if isinstance(value, bytes | str):
            v = float(value.decode() if isinstance(value, bytes) else value)
        else:
            a = np.asarray(value, dtype=np.float64).ravel()
            if a.size != 1:
                raise FormatError(path, f"{what} holds {a.size} values; expected one number")
            v = float(a[0])
    except (TypeError, ValueError) as exc:
        raise FormatError(path, f"{what} is not a number ({value!r:.40})") from exc
    if not math.isfinite(v):
        raise FormatError(path, f"{what} is NaN or inf")
    return v


def energy_ev(value: float, path: Path, what: str, unit: str) -> float:
    """Convert a photon energy to eV and check it lies between 10 eV and 1 MeV.

    Parameters
    ----------
    value : float
        The stored number.
    path : pathlib.Path
        The file, for the error.
    what : str
        Where it was read (e.g. ``"/reconstruction/p/energy"``).
    unit : {"eV", "keV", "J"}
        Its unit.

    Returns
    -------
    energy : float
        eV.
    """
    factor = {"eV": 1.0, "keV": 1000.0, "J": 1.0 / 1.602176634e-19}[unit]
    e = value * factor
    if not 10.0 <= e <= 1e6:
        raise FormatError(
            path, f"{what} = {value:g} {unit} gives {e:g} eV, outside 10 eV - 1 MeV (unknown units?)"
        )
    return e


def square_pixel(dy: float, dx: float, path: Path, what: str) -> float:
    """One pixel size from row and column pitches, m; they must agree within 0.1 %.

    Raises
    ------
    FormatError
        When a pitch is not positive, or they differ (ptyxanes needs square pixels).
    """
    if not (dy > 0 and dx > 0 and math.isfinite(dy) and math.isfinite(dx)):
        raise FormatError(path, f"{what}: pixel size {dy:g} x {dx:g} m is not positive")
    if abs(dy - dx) > 1e-3 * max(dy, dx):
        raise FormatError(
            path,
            f"{what}: pixels are not square ({dy * 1e9:.3f} x {dx * 1e9:.3f} nm, row x col); "
            "resample the images to square pixels first",
        )
    if not 1e-12 <= dx <= 1e-3:
        raise FormatError(path, f"{what}: pixel size {dx:g} m is not a length in metres")
    return 0.5 * (dy + dx)


def pitch_pixel(values: Any, path: Path, what: str, expected: str = "2") -> float:
    """One square pixel size, m, from a stored pitch: one number, or (row, col).

    Parameters
    ----------
    values : array-like
        One pitch, or the row and column pitches, m.
    path : pathlib.Path
        The file, for the error.
    what : str
        Where it was read (e.g. ``"/reconstruction/p/dx_spec"``).
    expected : str, optional
        How the error names the expected values (default ``"2"``).

    Returns
    -------
    pixel_size : float
        m (see :func:`square_pixel`).

    Raises
    ------
    FormatError
        Neither one nor two values, or as :func:`square_pixel`.
    """
    d = np.ravel(np.asarray(values, dtype=np.float64))
    if d.size == 1:
        d = np.repeat(d, 2)
    if d.size != 2:
        raise FormatError(path, f"{what} has {d.size} values; expected {expected}")
    return square_pixel(float(d[0]), float(d[1]), path, what)


def first_mode(obj: NDArray[Any], path: Path, what: str) -> NDArray[np.complex64]:
    """The first object mode (or layer) of an array of shape (..., M, N).

    Every leading axis (object modes, layers, PtyREX's singleton channels) is
    indexed at 0; the choice is logged when there is more than one.
    """
    a = np.asarray(obj)
    if a.ndim < 2:
        raise FormatError(path, f"{what} has shape {a.shape}; expected an image (..., rows, cols)")
    lead = a.shape[:-2]
    if any(n > 1 for n in lead):
        logger.info("%s: %s has shape %s; using its first mode/layer", path, what, a.shape)
    if any(n == 0 for n in lead) or 0 in a.shape[-2:]:
        raise FormatError(path, f"{what} is empty (shape {a.shape})")
    img = a[(0,) * len(lead)]
    return np.asarray(img, dtype=np.complex64)


def check_image(img: NDArray[Any], path: Path, what: str) -> NDArray[np.complex64]:
    """Check a complex transmission image is finite and not all zero."""
    if not np.all(np.isfinite(img)):
        raise FormatError(path, f"{what} contains NaN or inf")
    if not np.any(img):
        raise FormatError(path, f"{what} is all zero; not a reconstructed object")
    return np.asarray(img, dtype=np.complex64)


def one_energy_stack(
    image: NDArray[Any],
    energy: float | None,
    pixel_size: float,
    path: Path,
    fmt: str,
    *,
    angle: float | None = None,
    extra: dict[str, Any] | None = None,
) -> ImageStack:
    """Wrap one reconstructed image as an ImageStack of one energy.

    ``energy`` None (the file does not say) is stored as NaN; the caller supplies it.
    """
    img = check_image(image, path, "object")
    attrs: dict[str, Any] = {"source_file": str(path), "format": fmt}
    if angle is not None:
        attrs["angle_deg"] = float(angle)
    if extra:
        attrs.update(extra)
    return ImageStack(
        data=img[None],
        energy=np.array([np.nan if energy is None else float(energy)]),
        pixel_size=np.array([float(pixel_size)]),
        kind="complex",
        attrs=attrs,
    )


def read_h5(path: str | os.PathLike[str]) -> h5py.File:
    """Open an HDF5 file read-only with a FormatError on any failure."""
    from ptyxanes.io.nexus import open_hdf5

    return open_hdf5(path)


def dataset(f: h5py.File, name: str, path: Path) -> h5py.Dataset:
    """The dataset ``name`` of an open file (FormatError naming it when missing)."""
    obj = f.get(name)
    if obj is None:
        raise FormatError(path, f"missing dataset {name}")
    if not isinstance(obj, h5py.Dataset):
        raise FormatError(path, f"{name} is a group, expected a dataset")
    return obj


def read_array(f: h5py.File, name: str, path: Path) -> NDArray[Any]:
    """Read a whole dataset into memory (FormatError on a missing or damaged one)."""
    ds = dataset(f, name, path)
    try:
        return np.asarray(ds[()])
    except OSError as exc:
        raise FormatError(path, f"cannot read {name}; truncated or corrupt ({exc})") from exc
