"""Tomography raw data: APS data-exchange HDF5 and NeXus NXtomo, flat/dark normalised.

Both formats hold raw detector counts of every projection together with
open-beam (flat, white) and dark images. The readers here normalise them,
``T = (I − D) / (F − D)`` with the mean flat F and mean dark D, and return a
single-energy tilt series (1, A, M, N) of kind ``"absorption"``, i.e. −ln|T|
of the amplitude transmission, which is ``−½ ln T`` for the measured intensity
transmission T = |T|² (the project's convention for absorption projections:
:func:`ptyxanes.tomo.attenuation_line_integrals` doubles it back to ∫μ dl).

Data exchange (APS 2-BM, 32-ID; TomoPy's sample data), as written by
dxchange's ``writer.write_hdf5(data, fname, gname="exchange", dname=...)``
and read by ``reader.read_aps_32id``::

    /implements             string dataset ("exchange")
    /exchange/data          (A, M, N) counts, projections (theta, row, col)
    /exchange/data_white    (F, M, N) counts, flat fields
    /exchange/data_dark     (D, M, N) counts, dark fields (optional)
    /exchange/theta         (A,) rotation angles, degrees (attribute
                            ``units`` "degrees"/"deg" or "rad"/"radians")

NXtomo (NeXus application definition; the ``nxtomo`` package's
``NXtomo.save(path, data_path="/entry0000")`` writes it so)::

    /<entry> NXentry, definition = "NXtomo"
        instrument/detector/data        (K, M, N) every frame
        instrument/detector/image_key   (K,) 0 projection, 1 flat, 2 dark, 3 invalid
        instrument/detector/x_pixel_size  m (attribute ``units``)
        instrument/beam/incident_energy   keV (attribute ``units``)
        sample/rotation_angle           (K,) degrees (attribute ``units``)
        data NXdata: data, image_key, rotation_angle (links to the above)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from ptyxanes.io._recon import h5_sniff, read_h5
from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack

logger = logging.getLogger(__name__)

TRANSMISSION_FLOOR = 1e-3
"""Smallest intensity transmission kept (−ln of it is 6.9): counts at or below
the dark level are clipped to it instead of giving −ln of zero or a negative."""

_ANGLE_UNITS = {"degrees": 1.0, "degree": 1.0, "deg": 1.0, "°": 1.0,
                "rad": 180 / np.pi, "radian": 180 / np.pi, "radians": 180 / np.pi}
_LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6,
                 "microns": 1e-6, "nm": 1e-9}
_ENERGY_UNITS = {"ev": 1.0, "kev": 1e3}


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        return _text(v.ravel()[0])
    return str(v)


def _units(obj: h5py.HLObject) -> str | None:
    u = obj.attrs.get("units")
    return None if u is None else _text(u).strip().lower()


def _dataset(f: h5py.File, path: str, p: Path, ndim: int | None = None) -> h5py.Dataset:
    obj = f.get(path)
    if obj is None:
        raise FormatError(p, f"missing dataset {path}")
    if not isinstance(obj, h5py.Dataset):
        raise FormatError(p, f"{path} is a group, expected a dataset")
    if obj.dtype.kind not in "iuf":
        raise FormatError(p, f"{path} has dtype {obj.dtype}; expected real numbers")
    if ndim is not None and obj.ndim != ndim:
        want = "(frames, rows, columns)" if ndim == 3 else f"{ndim} dimensions"
        raise FormatError(p, f"{path} has shape {obj.shape}; expected {want}")
    return obj


def _read(ds: h5py.Dataset, p: Path, sel: Any = ()) -> NDArray[np.float64]:
    try:
        return np.asarray(ds[sel], dtype=np.float64)
    except (OSError, ValueError, TypeError) as exc:
        raise FormatError(p, f"cannot read {ds.name}; truncated or corrupt ({exc})") from exc


def _angles_deg(ds: h5py.Dataset, p: Path, sel: Any = ()) -> NDArray[np.float64]:
    a = _read(ds, p, sel).ravel()
    u = _units(ds)
    if u is not None and u not in _ANGLE_UNITS:
        raise FormatError(p, f"{ds.name} has units '{u}'; expected degrees or radians")
    if not np.all(np.isfinite(a)):
        raise FormatError(p, f"{ds.name} contains NaN or inf")
    if u is None and len(a) > 10 and 3.0 <= np.ptp(a) <= 2 * np.pi + 1e-6:
        raise FormatError(
            p,
            f"{ds.name} spans {np.ptp(a):.3f} with no units attribute: these look like radians, "
            "but the format stores degrees; fix the file or pass the angles in degrees",
        )
    return a * _ANGLE_UNITS.get(u or "deg", 1.0)


def normalize_counts(
    data: NDArray[np.floating],
    flat: NDArray[np.floating],
    dark: NDArray[np.floating] | None,
    path: str | os.PathLike[str] = "<array>",
) -> tuple[NDArray[np.float32], dict[str, int]]:
    """Flat/dark normalisation to −ln|T| (amplitude), guarded against ≤ 0.

    Parameters
    ----------
    data : ndarray of shape (A, M, N)
        Projections, counts.
    flat : ndarray of shape (F, M, N)
        Open-beam images, counts (averaged over F).
    dark : ndarray of shape (D, M, N) or None
        Dark images, counts (averaged over D); zero when None.
    path : path-like, optional
        File named in errors.

    Returns
    -------
    absorption : ndarray of shape (A, M, N), float32
        ``−½ ln T`` with ``T = (I − D) / (F − D)`` clipped below at
        :data:`TRANSMISSION_FLOOR`; pixels whose flat does not exceed the dark
        are set to 0 (no information).
    counts : dict
        ``{"dead_pixels": ..., "clipped": ...}``: detector pixels with F ≤ D,
        and projection values with I ≤ D (or T below the floor).

    Raises
    ------
    FormatError
        When the flat does not exceed the dark anywhere.

    Examples
    --------
    >>> a, c = normalize_counts(np.full((1, 1, 2), 30.0), np.full((2, 1, 2), 110.0),
    ...                         np.full((2, 1, 2), 10.0))
    >>> [round(float(v), 4) for v in a[0, 0]], c["clipped"]
    ([0.8047, 0.8047], 0)
    """
    f = np.asarray(flat, dtype=np.float64).mean(axis=0)
    d = np.zeros_like(f) if dark is None else np.asarray(dark, dtype=np.float64).mean(axis=0)
    denom = f - d
    good = denom > 0
    if not good.any():
        raise FormatError(path, "the flat field never exceeds the dark field: cannot normalise")
    num = np.asarray(data, dtype=np.float64) - d
    trans = np.divide(num, denom, out=np.ones_like(num), where=good)
    low = trans < TRANSMISSION_FLOOR
    np.maximum(trans, TRANSMISSION_FLOOR, out=trans)
    out = (-0.5 * np.log(trans)).astype(np.float32)
    out[:, ~good] = 0.0
    counts = {"dead_pixels": int((~good).sum()), "clipped": int((low & good).sum())}
    if counts["dead_pixels"] or counts["clipped"]:
        logger.warning(
            "%s: %d detector pixels with flat ≤ dark set to 0; %d values at or below the dark "
            "level clipped to transmission %.0e",
            path, counts["dead_pixels"], counts["clipped"], TRANSMISSION_FLOOR,
        )
    return out, counts


def _stack(
    absorption: NDArray[np.float32],
    angles: NDArray[np.float64],
    energy: float | None,
    pixel: float | None,
    attrs: dict[str, Any],
) -> ImageStack:
    order = np.argsort(angles, kind="stable")
    if np.any(order != np.arange(len(order))):
        absorption, angles = absorption[order], angles[order]
    return ImageStack(
        absorption[None],
        np.array([np.nan if energy is None else float(energy)]),
        np.array([np.nan if pixel is None else float(pixel)]),
        kind="absorption",
        angle=np.asarray(angles, dtype=np.float64),
        dims=("energy", "angle", "row", "col"),
        attrs=attrs,
    )


def _rows(rows: slice | None) -> Any:
    return slice(None) if rows is None else rows


def _check_frames(p: Path, what: str, a: NDArray[np.float64]) -> None:
    if not np.all(np.isfinite(a)):
        raise FormatError(p, f"{what} contains NaN or inf")


def sniff_dxchange(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an HDF5 file with the data-exchange ``/exchange/data`` layout.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    ok : bool
        ``/exchange/data`` is a 3-D dataset and ``/exchange/data_white`` exists.
        Never raises; the file is opened read-only.
    """

    def fits(f: h5py.File) -> bool:
        d = f.get("exchange/data")
        return isinstance(d, h5py.Dataset) and d.ndim == 3 and "exchange/data_white" in f

    return h5_sniff(Path(path), fits)


def read_dxchange(
    path: str | os.PathLike[str],
    *,
    rows: slice | None = None,
    angles: NDArray[np.floating] | None = None,
    energy: float | None = None,
    pixel_size: float | None = None,
) -> ImageStack:
    """Read an APS data-exchange tomography file, flat/dark normalised.

    Parameters
    ----------
    path : path-like
        HDF5 file with ``/exchange/data``, ``data_white``, ``data_dark``, ``theta``.
    rows : slice, optional
        Detector rows (slices) to read; all by default.
    angles : ndarray of shape (A,), optional
        Rotation angles, degrees, when the file has no ``/exchange/theta``.
    energy : float, optional
        Photon energy, eV (the format's files often have none: NaN then).
    pixel_size : float, optional
        Detector pixel size at the sample, m (NaN when neither given nor in the file).

    Returns
    -------
    stack : ImageStack
        (1, A, M, N) float32 −ln|T| (kind ``"absorption"``), ``angle`` in
        degrees ascending, ``attrs`` with ``format="dxchange"``, the sample
        name and the normalisation counts.

    Raises
    ------
    FormatError
        Not HDF5, missing ``/exchange/data`` or ``data_white``, shapes that
        disagree, no angles, angles of unknown units, NaN/inf, flat ≤ dark.

    Notes
    -----
    Energy is read from ``/measurement/instrument/monochromator/energy``
    (``units`` attribute, keV when absent) and the pixel size from
    ``/measurement/instrument/detection_system/objective/resolution``
    (µm when no ``units``) when present.

    Examples
    --------
    >>> import tempfile, h5py
    >>> fn = tempfile.mktemp(suffix=".h5")
    >>> with h5py.File(fn, "w") as f:
    ...     f["exchange/data"] = np.full((3, 1, 2), 60.0)
    ...     f["exchange/data_white"] = np.full((2, 1, 2), 110.0)
    ...     f["exchange/data_dark"] = np.full((2, 1, 2), 10.0)
    ...     f["exchange/theta"] = [0.0, 60.0, 120.0]
    >>> st = read_dxchange(fn)
    >>> st.data.shape, st.angle.tolist(), round(float(st.data[0, 0, 0, 0]), 4)
    ((1, 3, 1, 2), [0.0, 60.0, 120.0], 0.3466)
    """
    p, f = Path(path), read_h5(path)
    with f:
        if not isinstance(f.get("exchange"), h5py.Group):
            raise FormatError(p, "missing group /exchange (not a data-exchange file)")
        ds = _dataset(f, "exchange/data", p, 3)
        white = _dataset(f, "exchange/data_white", p, 3)
        dark = _dataset(f, "exchange/data_dark", p, 3) if "exchange/data_dark" in f else None
        a, m, n = ds.shape
        for other in (white, dark):
            if other is not None and other.shape[1:] != (m, n):
                raise FormatError(
                    p, f"{other.name} frames are {other.shape[1]} × {other.shape[2]} pixels but "
                    f"the projections are {m} × {n}"
                )
        if white.shape[0] == 0:
            raise FormatError(p, "/exchange/data_white holds no flat-field images")
        if a < 2:
            raise FormatError(p, f"/exchange/data holds {a} projection(s); need at least 2")
        if "exchange/theta" in f:
            theta = _angles_deg(_dataset(f, "exchange/theta", p), p)
            if angles is not None:
                logger.warning("%s: angles given; /exchange/theta in the file ignored", p)
                theta = np.asarray(angles, dtype=np.float64).ravel()
        elif angles is not None:
            theta = np.asarray(angles, dtype=np.float64).ravel()
        else:
            raise FormatError(p, "missing dataset /exchange/theta (rotation angles); give the angles")
        if theta.shape != (a,):
            raise FormatError(p, f"{len(theta)} rotation angles for {a} projections")
        sel = (slice(None), _rows(rows), slice(None))
        data = _read(ds, p, sel)
        flat = _read(white, p, sel)
        drk = None if dark is None or dark.shape[0] == 0 else _read(dark, p, sel)
        if data.shape[1] == 0:
            raise FormatError(p, f"rows {rows} select no detector row of {m}")
        for what, arr in (("/exchange/data", data), ("/exchange/data_white", flat),
                          ("/exchange/data_dark", drk)):
            if arr is not None:
                _check_frames(p, what, arr)
        e = energy if energy is not None else _scalar(
            f, "measurement/instrument/monochromator/energy", _ENERGY_UNITS, "kev", p)
        px = pixel_size if pixel_size is not None else _scalar(
            f, "measurement/instrument/detection_system/objective/resolution", _LENGTH_UNITS,
            "um", p)
        name = f.get("measurement/sample/name")
        sample = _text(name[()]) if isinstance(name, h5py.Dataset) else ""
    absorption, counts = normalize_counts(data, flat, drk, p)
    attrs = {"format": "dxchange", "source": str(p), "sample": sample, **counts}
    if drk is None:
        logger.warning("%s: no dark images; the dark level is taken as 0", p)
    return _stack(absorption, theta, e, px, attrs)


def _scalar(
    f: h5py.File, path: str, units: dict[str, float], default_unit: str, p: Path
) -> float | None:
    obj = f.get(path)
    if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "iuf":
        return None
    v = np.asarray(obj[()], dtype=np.float64).ravel()
    if v.size == 0 or not np.isfinite(v[0]) or v[0] <= 0:
        return None
    u = (_units(obj) or default_unit).replace("μ", "µ")
    if u.lower() not in {k.lower() for k in units}:
        raise FormatError(p, f"{path} has units '{u}', not one of {', '.join(units)}")
    scale = {k.lower(): s for k, s in units.items()}[u.lower()]
    return float(v[0] * scale)


def _nxtomo_entry(f: h5py.File) -> h5py.Group | None:
    names = sorted(f.keys(), key=lambda k: (k != "entry", k))
    for k in names:
        g = f.get(k)
        if not isinstance(g, h5py.Group):
            continue
        d = g.get("definition")
        definition = _text(d[()]) if isinstance(d, h5py.Dataset) else _text(
            g.attrs.get("definition", ""))
        if definition.strip() == "NXtomo":
            return g
    return None


def _first(g: h5py.Group, *paths: str) -> str | None:
    for q in paths:
        if isinstance(g.get(q), h5py.Dataset):
            return f"{g.name}/{q}"
    return None


def sniff_nxtomo(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an HDF5 file with an NXentry whose definition is NXtomo.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    ok : bool
        An entry with ``definition = "NXtomo"`` and detector data. Never raises.
    """

    def fits(f: h5py.File) -> bool:
        g = _nxtomo_entry(f)
        return g is not None and _first(g, "data/data", "instrument/detector/data") is not None

    return h5_sniff(Path(path), fits)


def read_nxtomo(
    path: str | os.PathLike[str],
    *,
    rows: slice | None = None,
    energy: float | None = None,
    pixel_size: float | None = None,
) -> ImageStack:
    """Read a NeXus NXtomo file, flat/dark normalised.

    Parameters
    ----------
    path : path-like
        HDF5 file with an NXentry of definition ``NXtomo`` (``/entry`` or any name).
    rows : slice, optional
        Detector rows (slices) to read.
    energy : float, optional
        Photon energy, eV; overrides ``instrument/beam/incident_energy``.
    pixel_size : float, optional
        Pixel size, m; overrides ``instrument/detector/x_pixel_size``.

    Returns
    -------
    stack : ImageStack
        (1, A, M, N) float32 −ln|T| (kind ``"absorption"``) of the frames with
        ``image_key`` 0, angles in degrees ascending; flats (key 1) and darks
        (key 2) averaged; invalid frames (key 3) skipped.

    Raises
    ------
    FormatError
        No NXtomo entry, missing data / image_key / rotation_angle, lengths
        that disagree, no projection or no flat frame, unknown units, NaN/inf.

    Examples
    --------
    >>> import tempfile, h5py
    >>> fn = tempfile.mktemp(suffix=".nx")
    >>> with h5py.File(fn, "w") as f:
    ...     f["entry/definition"] = "NXtomo"
    ...     f["entry/instrument/detector/data"] = np.array([10, 110, 60, 60.0]).reshape(4, 1, 1)
    ...     f["entry/instrument/detector/image_key"] = [2, 1, 0, 0]
    ...     f["entry/sample/rotation_angle"] = [0.0, 0.0, 0.0, 90.0]
    >>> st = read_nxtomo(fn)
    >>> st.data.shape, st.angle.tolist()
    ((1, 2, 1, 1), [0.0, 90.0])
    """
    p, f = Path(path), read_h5(path)
    with f:
        g = _nxtomo_entry(f)
        if g is None:
            raise FormatError(p, "no NXentry with definition NXtomo")
        dpath = _first(g, "instrument/detector/data", "data/data")
        kpath = _first(g, "instrument/detector/image_key", "data/image_key")
        apath = _first(g, "sample/rotation_angle", "data/rotation_angle")
        for what, q in (("detector data", dpath), ("image_key", kpath),
                        ("rotation_angle", apath)):
            if q is None:
                raise FormatError(p, f"{g.name}: missing {what} (instrument/detector or data)")
        assert dpath is not None and kpath is not None and apath is not None
        ds = _dataset(f, dpath, p, 3)
        k, m, n = ds.shape
        keys = _read(_dataset(f, kpath, p), p).ravel()
        ang = _angles_deg(_dataset(f, apath, p), p)
        if keys.shape != (k,) or ang.shape != (k,):
            raise FormatError(
                p, f"{k} frames but {len(keys)} image keys and {len(ang)} rotation angles"
            )
        if not np.all(np.isin(keys, (0, 1, 2, 3))):
            raise FormatError(p, f"{kpath}: image keys must be 0, 1, 2 or 3")
        proj_i = np.flatnonzero(keys == 0)
        flat_i = np.flatnonzero(keys == 1)
        dark_i = np.flatnonzero(keys == 2)
        if len(proj_i) < 2:
            raise FormatError(p, f"{kpath}: {len(proj_i)} projection frame(s) (key 0); need 2")
        if len(flat_i) == 0:
            raise FormatError(p, f"{kpath}: no flat-field frame (key 1); cannot normalise")
        r = _rows(rows)
        data = _read(ds, p, (proj_i, r, slice(None)))
        flat = _read(ds, p, (flat_i, r, slice(None)))
        drk = _read(ds, p, (dark_i, r, slice(None))) if len(dark_i) else None
        if data.shape[1] == 0:
            raise FormatError(p, f"rows {rows} select no detector row of {m}")
        for what, arr in (("projections", data), ("flat fields", flat), ("dark fields", drk)):
            if arr is not None:
                _check_frames(p, f"{dpath} ({what})", arr)
        e = energy if energy is not None else _scalar(
            f, f"{g.name}/instrument/beam/incident_energy", _ENERGY_UNITS, "kev", p)
        if e is None and energy is None:
            e = _scalar(f, f"{g.name}/beam/incident_energy", _ENERGY_UNITS, "kev", p)
        px = pixel_size if pixel_size is not None else _scalar(
            f, f"{g.name}/instrument/detector/x_pixel_size", _LENGTH_UNITS, "m", p)
        entry = g.name
    absorption, counts = normalize_counts(data, flat, drk, p)
    if drk is None:
        logger.warning("%s: no dark frames (image_key 2); the dark level is taken as 0", p)
    attrs = {"format": "nxtomo", "source": str(p), "entry": entry, **counts}
    return _stack(absorption, ang[proj_i], e, px, attrs)
