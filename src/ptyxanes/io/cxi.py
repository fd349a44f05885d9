"""CXI ptychography scans: one HDF5 file per energy (2D) or per energy and angle (3D).

Paths read and written (CXI 1.6; see docs/formats.md)::

    /cxi_version                                   160
    /entry_1/instrument_1/detector_1/data          (N, H, W) intensities (counts)
    /entry_1/data_1/data                           soft link to the above
    /entry_1/instrument_1/detector_1/distance      m
    /entry_1/instrument_1/detector_1/x_pixel_size  m
    /entry_1/instrument_1/detector_1/y_pixel_size  m
    /entry_1/instrument_1/detector_1/mask          (H, W) optional, nonzero = bad pixel
    /entry_1/instrument_1/source_1/energy          J (eV in the API)
    /entry_1/sample_1/geometry_1/translation       (N, 3) x, y, z in m
    /entry_1/sample_1/geometry_1/angle             deg, rotation angle of a 3D scan (ptyxanes)

``positions`` in the API are ``translation[:, [1, 0]]``, i.e. (row, col) =
(y, x) in metres, with no change of sign. When ``source_1/energy`` is absent
but ``source_1/wavelength`` (m) is present, the energy is computed from it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from ptyxanes.io._atomic import atomic_path
from ptyxanes.io.errors import FormatError
from ptyxanes.io.nexus import open_hdf5, write_provenance
from ptyxanes.provenance import provenance as _provenance

logger = logging.getLogger(__name__)

EV_TO_J = 1.602176634e-19
"""Joules per electronvolt (exact, SI 2019)."""
HC_EV_M = 1.239841984e-6
"""Planck constant times speed of light, eV·m (wavelength = HC_EV_M / energy)."""

DETECTOR = "/entry_1/instrument_1/detector_1"
DATA_PATHS = (f"{DETECTOR}/data", "/entry_1/data_1/data")
ENERGY_PATH = "/entry_1/instrument_1/source_1/energy"
WAVELENGTH_PATH = "/entry_1/instrument_1/source_1/wavelength"
TRANSLATION_PATH = "/entry_1/sample_1/geometry_1/translation"
ANGLE_PATH = "/entry_1/sample_1/geometry_1/angle"


@dataclass(frozen=True)
class CXIScan:
    """One ptychographic scan (one energy, one rotation angle).

    Parameters
    ----------
    data : h5py.Dataset or ndarray or array-like of shape (N, H, W)
        Diffraction intensities (counts). An ``h5py.Dataset`` (file kept open)
        from :func:`read_cxi` with ``lazy=True``; from :func:`read_scan_series`
        a proxy that opens the file on each slice.
    positions : ndarray of shape (N, 2)
        (row, col) = (y, x) sample translations, m.
    energy : float
        Photon energy, eV.
    distance : float
        Sample–detector distance, m.
    detector_pixel_size : tuple of float
        (y, x) detector pixel size, m.
    mask : ndarray of bool of shape (H, W), optional
        True = bad pixel.
    angle : float, optional
        Rotation angle of a 3D scan, degrees.
    path : str, optional
        The file read.
    """

    data: Any
    positions: NDArray[np.float64]
    energy: float
    distance: float
    detector_pixel_size: tuple[float, float]
    mask: NDArray[np.bool_] | None = None
    angle: float | None = None
    path: str | None = None

    @property
    def wavelength(self) -> float:
        """X-ray wavelength, m."""
        return HC_EV_M / self.energy

    @property
    def n_frames(self) -> int:
        """Number of diffraction patterns N."""
        return int(self.data.shape[0])

    def object_pixel_size(self, shape: tuple[int, int] | None = None) -> tuple[float, float]:
        """Far-field reconstruction pixel size λz/(N p) along (row, col).

        Parameters
        ----------
        shape : tuple of int, optional
            (H, W) of the diffraction window used; default the full frame.

        Returns
        -------
        pixel : tuple of float
            (dy, dx), m.

        Examples
        --------
        >>> s = CXIScan(np.zeros((1, 128, 128)), np.zeros((1, 2)), 8340.0, 5.0, (75e-6, 75e-6))
        >>> round(s.object_pixel_size()[0] * 1e9, 2)  # nm
        77.43
        """
        h, w = shape if shape is not None else tuple(self.data.shape[-2:])
        lz = self.wavelength * self.distance
        return (lz / (h * self.detector_pixel_size[0]), lz / (w * self.detector_pixel_size[1]))


class _LazyFrames:
    """Array-like view on a CXI data set that opens the file only while slicing."""

    def __init__(self, path: Path, dpath: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = path
        self.dpath = dpath
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> NDArray[Any]:
        try:
            with h5py.File(self.path, "r") as f:
                return np.asarray(f[self.dpath][key])
        except OSError as exc:
            raise FormatError(self.path, f"cannot read {self.dpath} ({exc})") from exc

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        a = self[()]
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        return f"<lazy CXI frames {self.shape} {self.dtype} in {self.path}>"


def _scalar(f: h5py.File, name: str, p: Path, *, required: bool = True) -> float | None:
    obj = f.get(name)
    if obj is None:
        if required:
            raise FormatError(p, f"missing dataset {name}")
        return None
    if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "fiu":
        raise FormatError(p, f"{name} must be a real number")
    v = np.asarray(obj[()], dtype=np.float64)
    if v.size != 1:
        raise FormatError(p, f"{name} has shape {v.shape}; expected a scalar")
    val = float(v.ravel()[0])
    if not np.isfinite(val) or val <= 0:
        if name == ANGLE_PATH and np.isfinite(val):
            return val
        raise FormatError(p, f"{name} = {val}; expected a positive finite number")
    return val


def read_cxi(path: str | os.PathLike[str], *, lazy: bool = True) -> CXIScan:
    """Read a CXI ptychography scan.

    Parameters
    ----------
    path : path-like
        The ``.cxi`` file.
    lazy : bool, optional
        If true (default), ``data`` is the open ``h5py.Dataset`` (the file stays
        open while it is referenced; NaN/inf checked in the first frame only);
        otherwise the whole array is read and checked.

    Returns
    -------
    scan : CXIScan

    Raises
    ------
    FormatError
        Not HDF5, truncated, missing datasets, wrong shapes or dtypes,
        NaN or inf, non-positive distance, pixel size or energy.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "e8340.cxi"
    >>> _ = write_cxi(p, np.ones((3, 8, 8), np.uint16), np.zeros((3, 2)), 8340.0, 5.0,
    ...               (75e-6, 75e-6))
    >>> s = read_cxi(p, lazy=False)
    >>> s.data.shape, round(s.energy, 6), s.distance
    ((3, 8, 8), 8340.0, 5.0)
    """
    p = Path(path)
    f = open_hdf5(p)
    try:
        scan = _read_open(f, p, lazy)
    except BaseException:
        f.close()
        raise
    if not lazy:
        f.close()
    return scan


def _find_data(f: h5py.File, p: Path) -> h5py.Dataset:
    for name in DATA_PATHS:
        try:
            obj = f.get(name)
        except (KeyError, OSError):  # dangling soft link
            obj = None
        if isinstance(obj, h5py.Dataset):
            return obj
    raise FormatError(p, f"missing dataset {DATA_PATHS[0]} (nor {DATA_PATHS[1]})")


def _read_open(f: h5py.File, p: Path, lazy: bool) -> CXIScan:
    ds = _find_data(f, p)
    if ds.ndim != 3:
        raise FormatError(p, f"{ds.name} has shape {ds.shape}; expected (N, H, W)")
    if ds.dtype.kind not in "fiu":
        raise FormatError(p, f"{ds.name} has dtype {ds.dtype}; expected real intensities")
    n, h, w = ds.shape
    if n < 1:
        raise FormatError(p, f"{ds.name} holds no frames")
    distance = _scalar(f, f"{DETECTOR}/distance", p)
    px = _scalar(f, f"{DETECTOR}/x_pixel_size", p)
    py = _scalar(f, f"{DETECTOR}/y_pixel_size", p)
    energy_j = _scalar(f, ENERGY_PATH, p, required=False)
    if energy_j is not None:
        energy = energy_j / EV_TO_J
    else:
        wl = _scalar(f, WAVELENGTH_PATH, p, required=False)
        if wl is None:
            raise FormatError(p, f"missing dataset {ENERGY_PATH}")
        energy = HC_EV_M / wl
    if not 10.0 < energy < 1e6:
        raise FormatError(p, f"{ENERGY_PATH} gives {energy:g} eV; is it really in J?")
    tr = f.get(TRANSLATION_PATH)
    if not isinstance(tr, h5py.Dataset):
        raise FormatError(p, f"missing dataset {TRANSLATION_PATH}")
    t = np.asarray(tr[()], dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != n or t.shape[1] not in (2, 3):
        raise FormatError(p, f"{TRANSLATION_PATH} has shape {t.shape}; expected ({n}, 3)")
    if not np.all(np.isfinite(t)):
        raise FormatError(p, f"{TRANSLATION_PATH} contains NaN or inf")
    mask = None
    mobj = f.get(f"{DETECTOR}/mask")
    if mobj is not None:
        if not isinstance(mobj, h5py.Dataset) or mobj.shape != (h, w):
            shape = getattr(mobj, "shape", "a group")
            raise FormatError(p, f"{DETECTOR}/mask has shape {shape}; expected ({h}, {w})")
        mask = np.asarray(mobj[()]) != 0
    angle = _scalar(f, ANGLE_PATH, p, required=False)
    try:
        sample = np.asarray(ds[0]) if lazy else np.asarray(ds[()])
    except OSError as exc:
        raise FormatError(p, f"cannot read {ds.name}; truncated or corrupt ({exc})") from exc
    if not np.all(np.isfinite(sample)):
        raise FormatError(p, f"{ds.name} contains NaN or inf")
    assert distance is not None and px is not None and py is not None
    return CXIScan(
        data=ds if lazy else sample,
        positions=np.ascontiguousarray(t[:, [1, 0]]),
        energy=float(energy),
        distance=distance,
        detector_pixel_size=(py, px),
        mask=mask,
        angle=angle,
        path=str(p),
    )


class CXIWriter:
    """Write a CXI file frame by frame (for scans too large for memory).

    Parameters
    ----------
    path : path-like
        Destination; the file appears only when the ``with`` block succeeds.
    n_frames : int
        Number of diffraction patterns N.
    frame_shape : tuple of int
        (H, W).
    positions, energy, distance, detector_pixel_size, mask, angle, overwrite, provenance
        As :func:`write_cxi`.
    dtype : numpy dtype, optional
        Stored dtype of the intensities (default uint32 counts).
    compression : str, optional
        h5py filter (default ``"gzip"``, level 4: photon counts compress well).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.cxi"
    >>> with CXIWriter(p, 2, (4, 4), np.zeros((2, 2)), 8340.0, 5.0, (75e-6, 75e-6)) as w:
    ...     w.write(0, np.ones((2, 4, 4)))
    >>> int(read_cxi(p, lazy=False).data.sum())
    32
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_frames: int,
        frame_shape: tuple[int, int],
        positions: NDArray[np.floating],
        energy: float,
        distance: float,
        detector_pixel_size: tuple[float, float] | float,
        *,
        mask: NDArray[Any] | None = None,
        angle: float | None = None,
        overwrite: bool = False,
        provenance: Mapping[str, str] | None = None,
        dtype: Any = np.uint32,
        compression: str | None = "gzip",
    ) -> None:
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape != (self.n_frames, 2) or not np.all(np.isfinite(pos)):
            raise ValueError(f"positions must be ({self.n_frames}, 2) finite (row, col) in m")
        if not (np.isfinite(energy) and 10.0 < energy < 1e6):
            raise ValueError(f"energy {energy} must be in eV")
        if not (np.isfinite(distance) and distance > 0):
            raise ValueError("distance must be positive, m")
        pix = (
            (float(detector_pixel_size), float(detector_pixel_size))
            if isinstance(detector_pixel_size, int | float | np.number)
            else tuple(float(v) for v in detector_pixel_size)
        )
        if len(pix) != 2 or min(pix) <= 0:
            raise ValueError("detector_pixel_size must be positive (y, x), m")
        if mask is not None and np.shape(mask) != self.frame_shape:
            raise ValueError(f"mask must have shape {self.frame_shape}")
        self.positions = pos
        self.energy = float(energy)
        self.distance = float(distance)
        self.pixel = pix
        self.mask = None if mask is None else np.asarray(mask).astype(bool)
        self.angle = None if angle is None else float(angle)
        self.overwrite = overwrite
        self.provenance = dict(provenance) if provenance else _provenance("cxi", {})
        self.dtype = np.dtype(dtype)
        self.compression = compression
        self._ctx: Any = None
        self._file: h5py.File | None = None
        self._data: h5py.Dataset | None = None

    def __enter__(self) -> CXIWriter:
        self._ctx = atomic_path(self.path, overwrite=self.overwrite)
        tmp = self._ctx.__enter__()
        try:
            self._file = h5py.File(tmp, "w")
            self._layout(self._file)
        except BaseException as exc:
            if self._file is not None:
                self._file.close()
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _layout(self, f: h5py.File) -> None:
        f.create_dataset("cxi_version", data=160)
        f.create_dataset("number_of_entries", data=1)
        f.attrs["default"] = "entry_1"
        entry = f.create_group("entry_1")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data_1"
        det = f.create_group(DETECTOR)
        h, w = self.frame_shape
        opts: dict[str, Any] = {}
        if self.compression:
            opts["compression"] = self.compression
            if self.compression == "gzip":
                opts["compression_opts"] = 4
        self._data = det.create_dataset(
            "data", shape=(self.n_frames, h, w), dtype=self.dtype, chunks=(1, h, w), **opts
        )
        self._data.attrs["units"] = "counts"
        self._data.attrs["interpretation"] = "image"
        for name, val in (
            ("distance", self.distance),
            ("x_pixel_size", self.pixel[1]),
            ("y_pixel_size", self.pixel[0]),
        ):
            det.create_dataset(name, data=val).attrs["units"] = "m"
        if self.mask is not None:
            mk = det.create_dataset("mask", data=self.mask.astype(np.uint32))
            mk.attrs["description"] = "nonzero = bad pixel"
        src = f.create_group("/entry_1/instrument_1/source_1")
        src.create_dataset("energy", data=self.energy * EV_TO_J).attrs["units"] = "J"
        src.create_dataset("wavelength", data=HC_EV_M / self.energy).attrs["units"] = "m"
        geo = f.create_group("/entry_1/sample_1/geometry_1")
        t = np.zeros((self.n_frames, 3))
        t[:, 0] = self.positions[:, 1]
        t[:, 1] = self.positions[:, 0]
        geo.create_dataset("translation", data=t).attrs["units"] = "m"
        if self.angle is not None:
            geo.create_dataset("angle", data=self.angle).attrs["units"] = "deg"
        d1 = entry.create_group("data_1")
        d1.attrs["NX_class"] = "NXdata"
        d1.attrs["signal"] = "data"
        d1["data"] = h5py.SoftLink(f"{DETECTOR}/data")
        d1["translation"] = h5py.SoftLink(TRANSLATION_PATH)
        write_provenance(entry, self.provenance)

    def write(self, start: int, frames: NDArray[Any]) -> None:
        """Store frames ``start .. start + len(frames)``.

        Parameters
        ----------
        start : int
            Index of the first frame.
        frames : ndarray of shape (K, H, W)
            Intensities; NaN or inf raise ValueError.
        """
        assert self._data is not None, "use CXIWriter inside a with block"
        a = np.asarray(frames)
        if a.ndim == 2:
            a = a[None]
        if a.shape[1:] != self.frame_shape or start < 0 or start + a.shape[0] > self.n_frames:
            raise ValueError(f"frames {a.shape} at {start} do not fit {self._data.shape}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError("frames contain NaN or inf")
        self._data[start : start + a.shape[0]] = a.astype(self.dtype, copy=False)

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        assert self._file is not None and self._ctx is not None
        self._file.close()
        self._ctx.__exit__(et, ev, tb)


def write_cxi(
    path: str | os.PathLike[str],
    data: Any,
    positions: NDArray[np.floating],
    energy: float,
    distance: float,
    detector_pixel_size: tuple[float, float] | float,
    *,
    mask: NDArray[Any] | None = None,
    angle: float | None = None,
    overwrite: bool = False,
    provenance: Mapping[str, str] | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Write a CXI ptychography scan.

    Parameters
    ----------
    path : path-like
        Destination (atomic: temporary file then rename).
    data : array-like of shape (N, H, W)
        Intensities; integers are stored as they are, floats as float32.
        May be an ``h5py.Dataset`` (copied frame by frame).
    positions : ndarray of shape (N, 2)
        (row, col) = (y, x) sample translations, m.
    energy : float
        Photon energy, eV (stored in J).
    distance : float
        Sample–detector distance, m.
    detector_pixel_size : float or tuple of float
        (y, x) detector pixel size, m.
    mask : ndarray of shape (H, W), optional
        True/nonzero = bad pixel.
    angle : float, optional
        Rotation angle of a 3D scan, deg (stored at ``ANGLE_PATH``).
    overwrite : bool, optional
        Replace an existing file.
    provenance : mapping, optional
        A :func:`ptyxanes.provenance.provenance` record (default: stage ``"cxi"``).
    compression : str, optional
        h5py filter, default ``"gzip"``.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        Inconsistent shapes, non-finite values, energy not in eV.
    FileExistsError
        If the file exists and ``overwrite`` is false.
    """
    shape = tuple(int(s) for s in np.shape(data)) if not hasattr(data, "shape") else data.shape
    if len(shape) != 3:
        raise ValueError(f"data must be (N, H, W); got {shape}")
    kind = np.dtype(data.dtype).kind if hasattr(data, "dtype") else "f"
    dtype = np.dtype(data.dtype) if kind in "iu" else np.dtype(np.float32)
    with CXIWriter(
        path,
        shape[0],
        (shape[1], shape[2]),
        positions,
        energy,
        distance,
        detector_pixel_size,
        mask=mask,
        angle=angle,
        overwrite=overwrite,
        provenance=provenance,
        dtype=dtype,
        compression=compression,
    ) as w:
        step = max(1, int(2**26 // max(1, shape[1] * shape[2] * dtype.itemsize)))
        for i in range(0, shape[0], step):
            w.write(i, np.asarray(data[i : i + step]))
    return Path(path)


def read_scan_series(
    folder: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[CXIScan]:
    """Read a folder of CXI files as one energy series (or energy × angle series).

    Parameters
    ----------
    folder : path-like or iterable of path-like
        A folder (every ``*.cxi`` in it) or an explicit list of files.

    Returns
    -------
    scans : list of CXIScan
        Sorted by (angle, energy), whatever the file names. ``data`` of each is
        a lazy proxy that opens its file only while being sliced (so thousands
        of files never hold thousands of open handles).

    Raises
    ------
    FormatError
        If there are no CXI files, any file is bad, two files share an
        energy (and angle), or frame shapes differ.
    """
    if isinstance(folder, str | os.PathLike):
        root = Path(folder)
        if not root.is_dir():
            raise FormatError(root, "not a folder of CXI files")
        files = sorted(root.glob("*.cxi"))
        where: Path = root
    else:
        files = [Path(x) for x in folder]
        where = files[0].parent if files else Path(".")
    if not files:
        raise FormatError(where, "no .cxi files")
    scans = []
    for fp in files:
        s = read_cxi(fp, lazy=True)
        ds = s.data
        lazy = _LazyFrames(fp, ds.name, tuple(ds.shape), ds.dtype)
        ds.file.close()
        scans.append(
            CXIScan(
                lazy,
                s.positions,
                s.energy,
                s.distance,
                s.detector_pixel_size,
                s.mask,
                s.angle,
                s.path,
            )
        )
    scans.sort(key=lambda s: (s.angle if s.angle is not None else 0.0, s.energy))
    for a, b in zip(scans, scans[1:], strict=False):
        if a.angle == b.angle and abs(a.energy - b.energy) < 1e-3:
            raise FormatError(
                where,
                f"{Path(a.path or '').name} and {Path(b.path or '').name} have the same energy "
                f"{a.energy:.3f} eV"
                + (f" and angle {a.angle:g} deg" if a.angle is not None else ""),
            )
    shapes = {tuple(s.data.shape[1:]) for s in scans}
    if len(shapes) > 1:
        raise FormatError(where, f"frame shapes differ between files: {sorted(shapes)}")
    logger.info("%s: %d scans, %.1f-%.1f eV", where, len(scans), scans[0].energy, scans[-1].energy)
    return scans
