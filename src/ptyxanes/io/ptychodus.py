"""ptychodus product files (``.h5`` and ``.npz``), as written by ptychodus and Pty-Chi runs.

HDF5 (``ptychodus/api/io.py``, ``save_product`` / ``load_product``, ptychodus 1.7):

- root attributes ``name``, ``photon_energy_eV`` (eV; older files ``probe_energy_eV``),
  ``detector_object_distance_m``, ``tomography_angle_deg`` (deg), ``exposure_time_s`` ...;
- ``object``: complex, (layers, rows, cols) with attributes ``pixel_width_m``,
  ``pixel_height_m`` (m), ``center_x_m``, ``center_y_m``;
- ``probe``: complex, (modes, rows, cols) or (OPR modes, modes, rows, cols) (not used);
- ``probe_position_x_m``, ``probe_position_y_m``, ``probe_position_indexes``, ``loss_values``.

NPZ (``ptychodus/plugins/npz_product_file.py``, ``NPZProductFileIO``): the same
vocabulary as top-level arrays; the object's attributes become
``object_pixel_width_m``, ``object_pixel_height_m``, ``object_center_x_m`` ...

The first object layer is used (single-slice reconstructions have one); a
multislice object's layers are not summed. The angle is kept as
``attrs["angle_deg"]`` for tilt series.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import h5py
import numpy as np

from ptyxanes.io._recon import (
    energy_ev,
    first_mode,
    h5_attrs_have,
    h5_has,
    one_energy_stack,
    read_array,
    read_h5,
    scalar,
    square_pixel,
)
from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack

logger = logging.getLogger(__name__)

NAME_H5 = "ptychodus-h5"
NAME_NPZ = "ptychodus-npz"
_ENERGY_KEYS = ("photon_energy_eV", "probe_energy_eV")


def sniff_ptychodus_h5(path: str | os.PathLike[str]) -> bool:
    """True for a ptychodus HDF5 product: a root ``object`` dataset and a photon-energy
    root attribute.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_product : bool
    """
    p = Path(path)
    return h5_has(p, "object", "probe") and h5_attrs_have(p, "/", *_ENERGY_KEYS)


def sniff_ptychodus_npz(path: str | os.PathLike[str]) -> bool:
    """True for a ptychodus NPZ product: a zip of ``object.npy`` and ``photon_energy_eV.npy``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_product : bool
    """
    p = Path(path)
    if not p.is_file() or not zipfile.is_zipfile(p):
        return False
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return "object.npy" in names and any(f"{k}.npy" in names for k in _ENERGY_KEYS)


def read_ptychodus_h5(path: str | os.PathLike[str]) -> ImageStack:
    """Read the object of a ptychodus HDF5 product file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    stack : ImageStack
        One energy (``photon_energy_eV``), pixel size from the object's
        ``pixel_width_m``/``pixel_height_m``, ``attrs["angle_deg"]`` from
        ``tomography_angle_deg``.

    Raises
    ------
    FormatError
        Missing object or energy, non-square or missing pixel size, NaN/inf.
    """
    p = Path(path)
    f = read_h5(p)
    try:
        key = next((k for k in _ENERGY_KEYS if k in f.attrs), None)
        if key is None:
            raise FormatError(p, "missing root attribute photon_energy_eV (ptychodus product)")
        e = energy_ev(scalar(f.attrs[key], p, f"attribute {key}"), p, f"attribute {key}", "eV")
        if "object" not in f or not isinstance(f["object"], h5py.Dataset):
            raise FormatError(p, "missing dataset /object")
        ods = f["object"]
        for a in ("pixel_width_m", "pixel_height_m"):
            if a not in ods.attrs:
                raise FormatError(p, f"/object has no attribute {a} (pixel size, m)")
        px = square_pixel(
            scalar(ods.attrs["pixel_height_m"], p, "/object pixel_height_m"),
            scalar(ods.attrs["pixel_width_m"], p, "/object pixel_width_m"),
            p,
            "/object",
        )
        obj = first_mode(read_array(f, "object", p), p, "/object")
        angle = (
            scalar(f.attrs["tomography_angle_deg"], p, "attribute tomography_angle_deg")
            if "tomography_angle_deg" in f.attrs
            else None
        )
        layers = int(ods.shape[0]) if ods.ndim == 3 else 1
    finally:
        f.close()
    return one_energy_stack(obj, e, px, p, NAME_H5, angle=angle, extra={"object_layers": layers})


def read_ptychodus_npz(path: str | os.PathLike[str]) -> ImageStack:
    """Read the object of a ptychodus NPZ product file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    stack : ImageStack
        As :func:`read_ptychodus_h5`.

    Raises
    ------
    FormatError
        Not a zip archive, missing ``object``/energy/pixel size, NaN/inf.
    """
    p = Path(path)
    try:
        npz = np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise FormatError(p, f"not a readable NPZ archive ({exc})") from exc
    with npz:
        names = set(npz.files)

        def need(k: str) -> np.ndarray:
            if k not in names:
                raise FormatError(p, f"missing array {k!r} (ptychodus NPZ product)")
            try:
                return np.asarray(npz[k])
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise FormatError(p, f"cannot read array {k!r} ({exc})") from exc

        key = next((k for k in _ENERGY_KEYS if k in names), _ENERGY_KEYS[0])
        e = energy_ev(scalar(need(key), p, key), p, key, "eV")
        px = square_pixel(
            scalar(need("object_pixel_height_m"), p, "object_pixel_height_m"),
            scalar(need("object_pixel_width_m"), p, "object_pixel_width_m"),
            p,
            "object",
        )
        raw = need("object")
        obj = first_mode(raw, p, "object")
        angle = (
            scalar(npz["tomography_angle_deg"], p, "tomography_angle_deg")
            if "tomography_angle_deg" in names
            else None
        )
    return one_energy_stack(
        obj, e, px, p, NAME_NPZ, angle=angle,
        extra={"object_layers": int(raw.shape[0]) if raw.ndim == 3 else 1},
    )
