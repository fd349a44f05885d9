"""PtyREX reconstructions (Diamond Light Source, I13-1 / I08-1 / I14).

Layout, as read by Diamond's ``nxstacker`` (``src/nxstacker/io/ptycho/ptyrex.py``,
class ``PtyREXFile``), which stacks PtyREX output into tomograms:

- ``/entry_1/process_1/output_1/object_modulus`` and ``object_phase``: 7-D float
  arrays; the object image is ``[mode, 0, 0, 0, 0, :, :]`` (rows, cols); the
  modulus/phase pair (not a complex array) is PtyREX's only object output;
- ``/entry_1/process_1/output_1/probe_modulus`` / ``probe_phase``: same layout (not used);
- ``/entry_1/process_1/common_1/dx``: object pixel size, m (one value or one per
  axis; nxstacker takes the mean);
- ``/entry_1/experiment_1/data/data_ID``: the projection identifier.

PtyREX pads the reconstructed field with modulus 1 and phase 0 outside the
scanned area; that border is kept (it is transmission 1, i.e. no absorption).
The first object mode is used.

**Energy.** No PtyREX output we know stores the photon energy. It is taken,
in this order, from ``/entry_1/instrument_1/source_1/energy`` (CXI convention, J)
when present; from a sidecar JSON next to the file (``<stem>.json``, or the only
``*.json`` in the folder) holding an ``energy`` key anywhere in it (PtyREX
configuration files: ``process.common.source.energy``), in keV when below 100
and eV otherwise; or from the caller (``--energies``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ptyxanes.io._recon import (
    energy_ev,
    h5_has,
    one_energy_stack,
    read_h5,
    scalar,
)
from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack

logger = logging.getLogger(__name__)

NAME = "ptyrex"
OUT = "entry_1/process_1/output_1"
DX = "entry_1/process_1/common_1/dx"


def sniff_ptyrex(path: str | os.PathLike[str]) -> bool:
    """True for a PtyREX output: HDF5 with ``object_modulus`` and ``object_phase`` under
    ``/entry_1/process_1/output_1``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    is_ptyrex : bool
    """
    return h5_has(Path(path), f"{OUT}/object_modulus", f"{OUT}/object_phase")


def _find_energy(obj: Any) -> float | None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.lower() in ("energy", "energy_kev", "energy_ev", "photon_energy"):
                vals = np.ravel(np.asarray(v, dtype=float)) if not isinstance(v, dict) else None
                if vals is not None and vals.size >= 1:
                    return float(vals[0])
        for v in obj.values():
            found = _find_energy(v)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = _find_energy(v)
            if found is not None:
                return found
    return None


def sidecar_json(p: Path) -> Path | None:
    """The JSON file that goes with a reconstruction, if any."""
    own = p.with_suffix(".json")
    if own.is_file():
        return own
    others = sorted(p.parent.glob("*.json"))
    return others[0] if len(others) == 1 else None


def _energy_from_json(js: Path) -> float | None:
    try:
        content = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(js, f"sidecar JSON is unreadable ({exc})") from exc
    try:
        val = _find_energy(content)
    except (TypeError, ValueError) as exc:
        raise FormatError(js, f"sidecar JSON energy is not a number ({exc})") from exc
    if val is None:
        return None
    return energy_ev(val, js, "energy", "keV" if val < 100 else "eV")


def read_ptyrex(path: str | os.PathLike[str], *, mode: int = 0) -> ImageStack:
    """Read a PtyREX reconstruction as complex transmission modulus·exp(i·phase).

    Parameters
    ----------
    path : path-like
        The PtyREX ``.hdf``/``.h5`` output.
    mode : int, optional
        Object mode (default the first).

    Returns
    -------
    stack : ImageStack
        One energy; its energy is NaN when neither the file nor a sidecar JSON holds it
        (:func:`ptyxanes.io.formats.open_stack` then requires ``energies``).

    Raises
    ------
    FormatError
        Missing datasets, modulus and phase of different shapes, not 7-D,
        a missing or bad pixel size, NaN/inf.
    """
    p = Path(path)
    f = read_h5(p)
    try:
        if not (f"{OUT}/object_modulus" in f and f"{OUT}/object_phase" in f):
            raise FormatError(p, f"not a PtyREX output: missing /{OUT}/object_modulus or object_phase")
        mod_ds, ph_ds = f[f"{OUT}/object_modulus"], f[f"{OUT}/object_phase"]
        if not isinstance(mod_ds, h5py.Dataset) or not isinstance(ph_ds, h5py.Dataset):
            raise FormatError(p, f"/{OUT}/object_modulus and object_phase must be datasets")
        if mod_ds.shape != ph_ds.shape:
            raise FormatError(
                p, f"object_modulus {mod_ds.shape} and object_phase {ph_ds.shape} differ in shape"
            )
        if mod_ds.ndim < 2:
            raise FormatError(p, f"/{OUT}/object_modulus has shape {mod_ds.shape}; expected 7-D")
        if mode >= (mod_ds.shape[0] if mod_ds.ndim > 2 else 1):
            raise FormatError(p, f"object mode {mode} asked; the file has {mod_ds.shape[0]}")
        idx = (mode,) + (0,) * (mod_ds.ndim - 3) if mod_ds.ndim > 2 else ()
        try:
            mod = np.asarray(mod_ds[idx], dtype=np.float64)
            ph = np.asarray(ph_ds[idx], dtype=np.float64)
        except OSError as exc:
            raise FormatError(p, f"cannot read the object; truncated or corrupt ({exc})") from exc
        if DX not in f:
            raise FormatError(p, f"missing dataset /{DX} (object pixel size, m)")
        dx = np.ravel(np.asarray(f[DX][()], dtype=np.float64))
        if dx.size == 0 or not np.all(np.isfinite(dx)) or np.any(dx <= 0):
            raise FormatError(p, f"/{DX} must hold positive pixel sizes in m")
        if dx.size > 1 and np.ptp(dx) > 1e-3 * dx.max():
            raise FormatError(p, f"/{DX}: pixels are not square ({dx.tolist()} m)")
        px = float(dx.mean())
        if not 1e-12 <= px <= 1e-3:
            raise FormatError(p, f"/{DX} = {px:g} is not a pixel size in metres")
        e = None
        src = "entry_1/instrument_1/source_1/energy"
        if src in f and isinstance(f[src], h5py.Dataset):
            e = energy_ev(scalar(f[src][()], p, "/" + src), p, "/" + src, "J")
        n_modes = int(mod_ds.shape[0]) if mod_ds.ndim > 2 else 1
    finally:
        f.close()
    energy_source = "file" if e is not None else None
    if e is None:
        js = sidecar_json(p)
        if js is not None:
            e = _energy_from_json(js)
            energy_source = str(js) if e is not None else None
    if mod.shape != ph.shape or mod.ndim != 2:
        raise FormatError(p, f"object image has shape {mod.shape}; expected (rows, cols)")
    img = (mod * np.exp(1j * ph)).astype(np.complex64)
    return one_energy_stack(
        img, e, px, p, NAME, extra={"object_modes": n_modes, "energy_source": energy_source}
    )
