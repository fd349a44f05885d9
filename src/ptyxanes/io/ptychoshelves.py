"""PtychoShelves / fold_slice reconstructions (``*_recons.h5`` and ``.mat``).

**HDF5** (fold_slice ``ptycho/+core/+save/reconstructions_as_h5.m`` through
``+io/+HDF/save2hdf5.m`` / ``write_dataset.m``; read back by
``+io/load_ptycho_recons.m`` and ``+plotting/XANES_ptycho.m``):

- ``/reconstruction/object``: soft link to ``/reconstruction/p/objects/object_0``;
- ``/reconstruction/p/objects/object_<k>``: the object, complex stored as an HDF5
  compound of two members ``r`` and ``i`` (``write_dataset.m`` builds
  ``H5T_COMPOUND`` with ``'r'`` and ``'i'``);
- ``/reconstruction/p/energy``: photon energy, **keV** (PtychoShelves ``p.energy``);
- ``/reconstruction/p/lambda``: wavelength, m (used when ``energy`` is absent);
- ``/reconstruction/p/dx_spec``: object pixel size [row, col], m.

MATLAB writes its column-major arrays with the dimension list reversed
(``fliplr(dims)`` in ``write_dataset.m``), so an object of MATLAB size
(rows, cols[, layers]) reads in h5py as ([layers,] cols, rows): the reader takes the
first layer and transposes it back to (rows, cols).

**MAT** (``save([...]_recons.mat, 'object', 'probe', 'p', ...)``; read the same way
by ptychodus ``plugins/fold_slice/product_file.py``): ``object`` (rows, cols[, layers])
complex, ``probe`` (rows, cols, modes) (not used), struct ``p`` with ``energy``
(keV), ``lambda`` (m), ``dx_spec`` (m). MAT v5/v7 files are read with
``scipy.io.loadmat``; v7.3 files are HDF5 (``MATLAB_class`` attributes, complex
as a compound of ``real``/``imag``, dimensions reversed) and read with h5py.

The first object layer is used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from ptyxanes.io._recon import (
    HC_EV_M,
    energy_ev,
    h5_has,
    is_hdf5,
    one_energy_stack,
    pitch_pixel,
    read_h5,
    scalar,
)
from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack

logger = logging.getLogger(__name__)

NAME_H5 = "ptychoshelves-h5"
NAME_MAT = "ptychoshelves-mat"
_MAT_HEAD = b"MATLAB "  # "MATLAB 5.0 MAT-file" (v5/v7) or "MATLAB 7.3 MAT-file" (HDF5)


def sniff_ptychoshelves_h5(path: str | os.PathLike[str]) -> bool:
    """True for a fold_slice HDF5 reconstruction: ``/reconstruction/object`` and
    ``/reconstruction/p``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_recon : bool
    """
    return h5_has(Path(path), "reconstruction/object", "reconstruction/p")


def sniff_ptychoshelves_mat(path: str | os.PathLike[str]) -> bool:
    """True for a MATLAB file holding ``object`` and a ``p`` struct (v5/v7 or v7.3).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_recon : bool
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with open(p, "rb") as fh:
            head = fh.read(128)
    except OSError:
        return False
    if not head.startswith(_MAT_HEAD) or b"MAT-file" not in head[:40]:
        return False
    if is_hdf5(p):  # v7.3: HDF5 after the 512-byte MATLAB header
        return h5_has(p, "object", "p")
    try:
        import scipy.io

        names = {v[0] for v in scipy.io.whosmat(p)}
    except Exception:  # scipy raises many types for damaged files
        return False
    return {"object", "p"} <= names


def _complex(a: NDArray[Any], p: Path, what: str) -> NDArray[np.complex128]:
    """A complex array from a native complex one or a compound of (r, i) / (real, imag)."""
    if a.dtype.kind == "c":
        return a.astype(np.complex128)
    names = a.dtype.names or ()
    for re_, im_ in (("r", "i"), ("real", "imag")):
        if re_ in names and im_ in names:
            return a[re_].astype(np.float64) + 1j * a[im_].astype(np.float64)
    if a.dtype.kind in "fiu":
        return a.astype(np.complex128)
    raise FormatError(p, f"{what} has dtype {a.dtype}; expected complex or a compound {{r, i}}")


def _matlab_image(a: NDArray[Any], p: Path, what: str) -> NDArray[np.complex64]:
    """First layer of an h5py-read MATLAB array ([..., ]cols, rows), as (rows, cols)."""
    if a.ndim < 2:
        raise FormatError(p, f"{what} has shape {a.shape}; expected an image")
    if any(n > 1 for n in a.shape[:-2]):
        logger.info("%s: %s has %s layers; using the first", p, what, a.shape[:-2])
    img = a[(0,) * (a.ndim - 2)].T
    if 0 in img.shape:
        raise FormatError(p, f"{what} is empty")
    return np.asarray(img, dtype=np.complex64)


def _h5_value(f: h5py.File, name: str) -> Any | None:
    obj = f.get(name)
    if isinstance(obj, h5py.Dataset):
        return obj[()]
    return None


def _energy(energy_kev: Any, lam: Any, p: Path, where: str) -> float | None:
    if energy_kev is not None and np.size(energy_kev) >= 1:
        v = scalar(np.ravel(np.asarray(energy_kev, dtype=float))[:1], p, f"{where}/energy")
        return energy_ev(v, p, f"{where}/energy", "keV")
    if lam is not None and np.size(lam) >= 1:
        wl = scalar(np.ravel(np.asarray(lam, dtype=float))[:1], p, f"{where}/lambda")
        if not 1e-12 < wl < 1e-6:
            raise FormatError(p, f"{where}/lambda = {wl:g} is not a wavelength in metres")
        return HC_EV_M / wl
    return None


def _pixel(dx_spec: Any, p: Path, where: str) -> float:
    if dx_spec is None:
        raise FormatError(p, f"missing {where}/dx_spec (object pixel size, m)")
    return pitch_pixel(dx_spec, p, f"{where}/dx_spec", "[row, col] in m")


def read_ptychoshelves_h5(path: str | os.PathLike[str]) -> ImageStack:
    """Read a fold_slice / PtychoShelves HDF5 reconstruction.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    stack : ImageStack
        One energy (``p.energy`` keV, else from ``p.lambda``; NaN when neither),
        pixel size from ``p.dx_spec``.

    Raises
    ------
    FormatError
        Missing object or dx_spec, a dtype that is neither complex nor {r, i},
        odd units, NaN/inf.
    """
    p = Path(path)
    f = read_h5(p)
    try:
        if "reconstruction/object" not in f:
            raise FormatError(p, "missing /reconstruction/object (fold_slice reconstruction)")
        ds = f["reconstruction/object"]
        if not isinstance(ds, h5py.Dataset):
            raise FormatError(p, "/reconstruction/object is a group, expected a dataset")
        try:
            raw = ds[()]
        except OSError as exc:
            raise FormatError(p, f"cannot read /reconstruction/object ({exc})") from exc
        obj = _matlab_image(_complex(raw, p, "/reconstruction/object"), p, "/reconstruction/object")
        where = "/reconstruction/p"
        e = _energy(_h5_value(f, "reconstruction/p/energy"), _h5_value(f, "reconstruction/p/lambda"),
                    p, where)
        px = _pixel(_h5_value(f, "reconstruction/p/dx_spec"), p, where)
    finally:
        f.close()
    return one_energy_stack(obj, e, px, p, NAME_H5)


def read_ptychoshelves_mat(path: str | os.PathLike[str]) -> ImageStack:
    """Read a PtychoShelves / fold_slice ``.mat`` reconstruction (v5/v7 or v7.3).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    stack : ImageStack
        As :func:`read_ptychoshelves_h5`.

    Raises
    ------
    FormatError
        Not a MAT file, missing ``object`` or ``p.dx_spec``, NaN/inf.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError(p, "file not found")
    if is_hdf5(p):
        f = read_h5(p)
        try:
            if "object" not in f or not isinstance(f["object"], h5py.Dataset):
                raise FormatError(p, "missing variable 'object' (MAT v7.3)")
            obj = _matlab_image(_complex(f["object"][()], p, "object"), p, "object")
            e = _energy(_h5_value(f, "p/energy"), _h5_value(f, "p/lambda"), p, "p")
            px = _pixel(_h5_value(f, "p/dx_spec"), p, "p")
        finally:
            f.close()
        return one_energy_stack(obj, e, px, p, NAME_MAT, extra={"mat_version": "7.3"})
    import scipy.io

    try:
        m = scipy.io.loadmat(p, simplify_cells=True)
    except Exception as exc:  # scipy raises many types for damaged files
        raise FormatError(p, f"not a readable MAT file ({exc})") from exc
    if "object" not in m:
        raise FormatError(p, "missing variable 'object'")
    if "p" not in m or not isinstance(m["p"], dict):
        raise FormatError(p, "missing struct 'p' (energy, dx_spec)")
    a = np.asarray(m["object"])
    if a.ndim == 3:  # MATLAB (rows, cols, layers)
        if a.shape[2] > 1:
            logger.info("%s: object has %d layers; using the first", p, a.shape[2])
        a = a[:, :, 0]
    if a.ndim != 2:
        raise FormatError(p, f"object has shape {a.shape}; expected (rows, cols[, layers])")
    pp = m["p"]
    e = _energy(pp.get("energy"), pp.get("lambda"), p, "p")
    px = _pixel(pp.get("dx_spec"), p, "p")
    ang = pp.get("angle")
    angle = None
    if ang is not None and np.size(ang) == 1:
        angle = scalar(ang, p, "p.angle")
    return one_energy_stack(
        _complex(a, p, "object"), e, px, p, NAME_MAT, angle=angle, extra={"mat_version": "5"}
    )
