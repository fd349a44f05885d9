"""Raw ptychography scans of Diamond I13-1 (GDA NeXus ``.nxs``), converted to CXI scans.

Layout, from PtyPy's I13 recipes (``ptypy/experiment/legacy/I13_ffp.py``,
``I13_nfp.py``: ``NEXUS_PATHS``) and Diamond's nxstacker I13-1 spec
(``src/nxstacker/facility/specs/i13-1.yaml``):

- ``/entry1/instrument/<detector>/data``: diffraction frames, (N, H, W) or a grid
  (ny, nx, H, W) flattened to N (the detector group, e.g. ``excalibur``,
  ``merlin_sw_hdf``, is the one holding a 3-D or 4-D ``data``);
- ``/entry1/instrument/t1_sxy/t1_sx`` and ``t1_sy`` (or group ``t1_sxyz``): sample
  positions, **µm** (PtyPy's ``motors_multiplier = 1e-6``), x = column, y = row;
- photon energy: the recipes take it as a parameter (keV); it is read here from
  the first of ``/entry1/before_scan/dcm1_energy/dcm1_energy``,
  ``/entry1/instrument/dcm1/energy``, ``/entry1/instrument/dcm_energy/energy``
  (keV), else it must be given (``energy``, eV);
- sample–detector distance: ``/entry1/before_scan/t2/t2_z`` (nxstacker's I13-1
  spec; mm unless a ``units`` attribute says otherwise), else ``distance`` (m);
- detector pixel: ``/entry1/instrument/<detector>/x_pixel_size`` when present (m),
  else ``detector_pixel`` (default 55 µm, the Medipix3 pitch of I13-1's Excalibur
  and Merlin detectors).

The energy, distance and detector-pixel paths beyond the frames and motors are
not written by PtyPy's recipes and remain assumptions; every value read is
recorded in the CXI provenance.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ptyxanes.io._recon import energy_ev, h5_sniff, read_h5, scalar
from ptyxanes.io.cxi import CXIScan
from ptyxanes.io.errors import FormatError

logger = logging.getLogger(__name__)

NAME = "i13-nexus"
_ENERGY_PATHS = (
    "entry1/before_scan/dcm1_energy/dcm1_energy",
    "entry1/instrument/dcm1/energy",
    "entry1/instrument/dcm_energy/energy",
)
_DISTANCE_PATH = "entry1/before_scan/t2/t2_z"
_MOTOR_GROUPS = ("t1_sxy", "t1_sxyz")
MEDIPIX3_PIXEL = 55e-6
"""Default detector pixel pitch, m."""


def _detector(f: h5py.File) -> h5py.Group | None:
    inst = f.get("entry1/instrument")
    if not isinstance(inst, h5py.Group):
        return None
    for name in inst:
        g = inst[name]
        if isinstance(g, h5py.Group) and name not in _MOTOR_GROUPS:
            d = g.get("data")
            if isinstance(d, h5py.Dataset) and d.ndim in (3, 4):
                return g
    return None


def sniff_i13(path: str | os.PathLike[str]) -> bool:
    """True for an I13-1 GDA scan: ``/entry1/instrument`` with a ``t1_sxy`` (or ``t1_sxyz``)
    motor group and a detector group holding 3-D or 4-D ``data``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_i13 : bool
    """

    def fits(f: h5py.File) -> bool:
        inst = f.get("entry1/instrument")
        return (isinstance(inst, h5py.Group) and any(m in inst for m in _MOTOR_GROUPS)
                and _detector(f) is not None)

    return h5_sniff(Path(path), fits)


def _units_scale(ds: h5py.Dataset, default: str) -> float:
    u = ds.attrs.get("units", default)
    u = u.decode() if isinstance(u, bytes) else str(u)
    return {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6, "nm": 1e-9}.get(
        u.strip(), {"mm": 1e-3, "um": 1e-6}[default])


def read_i13(
    path: str | os.PathLike[str],
    *,
    energy: float | None = None,
    distance: float | None = None,
    detector_pixel: float | None = None,
) -> CXIScan:
    """Read an I13-1 raw ptychography scan as a :class:`~ptyxanes.io.cxi.CXIScan`.

    Parameters
    ----------
    path : path-like
        The GDA ``.nxs`` file.
    energy : float, optional
        Photon energy, eV; overrides the file.
    distance : float, optional
        Sample–detector distance, m; overrides the file.
    detector_pixel : float, optional
        Detector pixel pitch, m; overrides the file (default 55 µm).

    Returns
    -------
    scan : CXIScan
        ``data`` is the open ``h5py.Dataset`` of (N, H, W) frames (close it with
        ``scan.data.file.close()``), or an ndarray when the frames were a 4-D grid;
        positions (row, col) in m.

    Raises
    ------
    FormatError
        No detector frames, no motors, motor and frame counts differing, missing
        energy or distance (with what to pass), NaN positions.
    """
    p = Path(path)
    f = read_h5(p)
    keep_open = False
    try:
        det = _detector(f)
        if det is None:
            raise FormatError(p, "no detector frames under /entry1/instrument/<detector>/data")
        mot = next((f[f"entry1/instrument/{m}"] for m in _MOTOR_GROUPS
                    if f"entry1/instrument/{m}" in f), None)
        if mot is None or "t1_sx" not in mot or "t1_sy" not in mot:
            raise FormatError(p, "missing sample motors /entry1/instrument/t1_sxy/t1_sx, t1_sy")
        sx = np.ravel(np.asarray(mot["t1_sx"][()], dtype=np.float64)) * _units_scale(mot["t1_sx"], "um")
        sy = np.ravel(np.asarray(mot["t1_sy"][()], dtype=np.float64)) * _units_scale(mot["t1_sy"], "um")
        ds = det["data"]
        frames: Any = np.asarray(ds[()]).reshape(-1, *ds.shape[-2:]) if ds.ndim == 4 else ds
        n = frames.shape[0]
        if sx.size != n or sy.size != n:
            raise FormatError(p, f"{n} frames but {sx.size} x and {sy.size} y motor positions")
        if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sy))):
            raise FormatError(p, "motor positions contain NaN or inf")
        found: dict[str, Any] = {}
        e = energy
        if e is None:
            for ep in _ENERGY_PATHS:
                if ep in f and isinstance(f[ep], h5py.Dataset):
                    e = energy_ev(scalar(f[ep][()], p, "/" + ep), p, "/" + ep, "keV")
                    found["energy_path"] = "/" + ep
                    break
        if e is None:
            raise FormatError(p, "no photon energy found (tried " + ", ".join(_ENERGY_PATHS)
                              + "); give --energies FILE")
        z = distance
        if z is None and _DISTANCE_PATH in f:
            z = scalar(f[_DISTANCE_PATH][()], p, "/" + _DISTANCE_PATH) * _units_scale(
                f[_DISTANCE_PATH], "mm")
            found["distance_path"] = "/" + _DISTANCE_PATH
        if z is None or not z > 0:
            raise FormatError(p, f"no positive sample-detector distance (/{_DISTANCE_PATH}); "
                              "give --distance M")
        px = detector_pixel
        if px is None and "x_pixel_size" in det:
            px = scalar(det["x_pixel_size"][()], p, f"{det.name}/x_pixel_size")
        px = MEDIPIX3_PIXEL if px is None else px
        if not 1e-7 < px < 1e-2:
            raise FormatError(p, f"detector pixel {px:g} m is not a detector pitch in metres")
        keep_open = isinstance(frames, h5py.Dataset)
    finally:
        if not keep_open:
            f.close()
    logger.info("%s: I13-1 scan, %d frames %s, %.1f eV, %.3f m", p, n, frames.shape[1:], e, z)
    return CXIScan(data=frames, positions=np.column_stack([sy, sx]), energy=float(e),
                   distance=float(z), detector_pixel_size=(float(px), float(px)), path=str(p))
