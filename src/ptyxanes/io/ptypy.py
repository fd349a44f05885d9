"""PtyPy reconstruction files (``.ptyr``).

PtyPy saves a run with ``Ptycho.save_run`` (``ptypy/core/ptycho.py``) through its
own HDF5 serialiser ``ptypy.io.h5rw.h5write``: every Python dict becomes a group
(attribute ``type`` = ``dict``/``param``/``ordered_dict``), every ndarray a gzip
dataset (``type='array'``), every scalar a dataset (``type='scalar'``). The file
holds ``/header`` (``kind``, ``description``) and ``/content`` with:

- ``/content/obj/<ID>/data``: the object storage, complex, shape (modes, Y, X);
- ``/content/obj/<ID>/_psize``: its pixel size (row, col), m;
- ``/content/probe/<ID>/data``: the probe, (modes, Y, X) (not used);
- ``/content/pars/scans/<scan>/data/energy``: the photon energy, keV (the scan's
  ``PtyScan`` parameter; ``illumination``/``sample`` may hold none);
- ``/content/runtime``: iteration history.

The object's first mode is used (PtyPy's ``num_object_modes`` is 1 by default;
probe modes do not enter the transmission). The energy may also be given by the
caller (``energy=`` eV) when the saved parameters lack it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np

from ptyxanes.io._recon import (
    energy_ev,
    first_mode,
    h5_has,
    one_energy_stack,
    pitch_pixel,
    read_array,
    read_h5,
    scalar,
)
from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack

logger = logging.getLogger(__name__)

NAME = "ptypy"


def sniff_ptypy(path: str | os.PathLike[str]) -> bool:
    """True for a PtyPy ``.ptyr`` file: HDF5 with ``/content/obj`` and ``/content/pars``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_ptypy : bool
    """
    return h5_has(Path(path), "content/obj", "content/pars")


def _energy(f: h5py.File, p: Path) -> float | None:
    scans = f.get("content/pars/scans")
    if isinstance(scans, h5py.Group):
        for name in scans:
            ds = scans[name].get("data/energy") if isinstance(scans[name], h5py.Group) else None
            if isinstance(ds, h5py.Dataset):
                v = ds[()]
                if isinstance(v, bytes | str) or np.size(v) == 1:
                    try:
                        val = scalar(v, p, f"/content/pars/scans/{name}/data/energy")
                    except FormatError:
                        continue
                    return energy_ev(val, p, f"/content/pars/scans/{name}/data/energy", "keV")
    return None


def read_ptypy(
    path: str | os.PathLike[str], *, energy: float | None = None, storage: str | None = None
) -> ImageStack:
    """Read the object of a PtyPy ``.ptyr`` file as complex transmission.

    Parameters
    ----------
    path : path-like
        The ``.ptyr`` file.
    energy : float, optional
        Photon energy, eV, when the file's parameters hold none (a stored one wins
        unless it is missing).
    storage : str, optional
        Object storage ID (default: the first, e.g. ``S00G00``).

    Returns
    -------
    stack : ImageStack
        One energy: ``data`` (1, Y, X) complex64, ``pixel_size`` from ``_psize``.

    Raises
    ------
    FormatError
        Not a PtyPy file, no object storage, missing or non-square ``_psize``,
        an energy in odd units, NaN/inf or an all-zero object.
    """
    p = Path(path)
    f = read_h5(p)
    try:
        objs = f.get("content/obj")
        if not isinstance(objs, h5py.Group) or len(objs) == 0:
            raise FormatError(p, "not a PtyPy file: no object storage under /content/obj")
        sid = storage or sorted(objs)[0]
        if sid not in objs:
            raise FormatError(p, f"no object storage /content/obj/{sid} (have {', '.join(objs)})")
        obj = first_mode(read_array(f, f"content/obj/{sid}/data", p), p, f"/content/obj/{sid}/data")
        px = pitch_pixel(read_array(f, f"content/obj/{sid}/_psize", p), p,
                         f"/content/obj/{sid}/_psize")
        e = _energy(f, p)
        n_modes = int(f[f"content/obj/{sid}/data"].shape[0])
    finally:
        f.close()
    if e is None:
        e = energy
    return one_energy_stack(obj, e, px, p, NAME, extra={"storage": sid, "object_modes": n_modes})
