"""Energy (and angle) series of ptychography scans: checks, pixel sizes, warm starts, output.

Pixel size. The reconstruction pixel ``lambda z / (N p)`` changes with energy
(about 1.8 % over 8.27-8.42 keV). Two ways to handle it:

* ``pixel_mode="crop"`` (default): the detector window of every energy is
  cropped to ``N_E = round(lambda_E z / (d p))`` so that the pixel stays within
  half a detector pixel of the target ``d`` (default: the full window at the
  lowest energy);
* ``pixel_mode="native"``: every energy uses the full window at its own pixel
  size; with a target pixel size the images are resampled to it afterwards,
  otherwise the stack keeps the native pixel of every energy (the ``align``
  stage rescales).

The pixel size of every energy is in the output stack (``pixel_size``) and the
native one under ``/entry/ptycho/native_pixel_size``.

Warm start. The middle energy of the (first angle of the) series is
reconstructed cold, from a probe estimated from its patterns (or a probe
file, or the zone plate); the position convention found there applies to
every scan. Every other job starts from its probe (and optionally its
object), rescaled in Fourier space to its own pixel size; a job whose Fourier
error is far above the reference's is rerun from its own probe estimate and
flagged if it stays there. After the reference the jobs are independent and
run in a thread pool (the FFTs and array operations release the GIL).

Steps. :func:`reconstruct_series` is :func:`plan_series`,
:func:`reconstruct_reference`, :func:`apply_convention`, one
:func:`reconstruct_scan` per other scan and :func:`assemble_series`; other
runners (:mod:`ptyxanes.distributed`) call the same steps.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import queue
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ptyxanes.io.cxi import CXIScan
from ptyxanes.io.errors import FormatError
from ptyxanes.progress import Cancelled, Control, Progress, run_sync
from ptyxanes.ptycho.engine import PtychoParams, PtychoResult, reconstruct

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeriesParams:
    """How a series is reconstructed.

    Attributes
    ----------
    pixel_mode : {"crop", "native"}
    pixel_size : float or None
        Target pixel, m (crop: sets the windows; native: resample to it).
    warm_start : bool
        Start every job from the reference job's probe.
    warm_object : bool
        Also start from the reference job's object.
    warm_iterations : int or None
        Iterations of warm-started jobs (default: the same as the reference).
    jobs : int
        Parallel jobs (threads).
    probe_file : str or None
        ``.npy`` file (complex, (H, W) or (K, H, W)) with the initial probe;
        default: estimated from the patterns of the reference scan
        (:func:`ptyxanes.ptycho.probe.estimate_probe`; the zone-plate probe of
        optics recorded in the file is one of the candidates).
    spot, defocus : float
        Zone-plate probe (spot diameter, m, or defocus, m): a candidate of the
        estimate from the data, or the initial probe with ``probe_from_data=False``.
    probe_from_data : bool
        Estimate the initial probe from the reference scan's patterns (the zone
        plate of ``spot``/``defocus`` and of optics recorded in the file are
        candidates too); False: the zone-plate probe as it is.
    diameter, outer_zone : float
        Zone plate, m.
    saturation : float or None
        Counts at or above which a pixel is saturated (default: the integer
        dtype's maximum).
    normalize : bool
        Scale and rotate every image so that its background has |T| = 1 and
        phase 0 (:func:`normalize_background`).
    quality_limit : float
        An energy whose final Fourier error, in units of its Poisson floor, exceeds
        this multiple of the reference's is reconstructed again from its own probe
        estimate, and flagged (``info["flagged"]``, a warning) if it stays above.
    """

    pixel_mode: str = "crop"
    pixel_size: float | None = None
    warm_start: bool = True
    warm_object: bool = False
    warm_iterations: int | None = None
    jobs: int = 2
    probe_file: str | None = None
    spot: float = 2e-6
    defocus: float | None = None
    probe_from_data: bool = True
    diameter: float = 400e-6
    outer_zone: float = 200e-9
    saturation: float | None = None
    normalize: bool = True
    quality_limit: float = 1.5


def normalize_background(
    obj: NDArray[np.complexfloating],
    illumination: NDArray[np.floating],
    *,
    level: float = 0.3,
    top: float = 0.25,
) -> NDArray[np.complex64]:
    """Fix the object/probe scale and phase ambiguity: background -> |T| = 1, phase 0.

    The background is the ``top`` fraction of the well-lit pixels (illumination
    above ``level`` times its maximum) with the highest modulus (vacuum or the
    least absorbing support). Without this, -ln|T| has a different offset at
    every energy, which the XANES normalisation cannot remove.

    Parameters
    ----------
    obj : ndarray of complex, shape (M, N)
    illumination : ndarray of shape (M, N)

    Returns
    -------
    obj : ndarray of complex64

    Examples
    --------
    >>> o = np.full((4, 4), 0.5 * np.exp(0.3j)); o[0, 0] = 0.25
    >>> t = normalize_background(o, np.ones((4, 4)))
    >>> round(float(abs(t[1, 1])), 3), round(float(np.angle(t[1, 1])), 3)
    (1.0, 0.0)
    """
    well = illumination > level * illumination.max()
    if not well.any():
        return np.asarray(obj, np.complex64)
    vals = obj[well]
    a = np.abs(vals)
    bg = vals[a >= np.quantile(a, 1 - top)]
    scale = float(np.median(np.abs(bg)))
    phase = float(np.angle(np.mean(bg / np.abs(bg))))
    out = obj / scale * np.exp(-1j * phase)
    return out.astype(np.complex64)


@dataclass
class SeriesResult:
    """Reconstructed series.

    Attributes
    ----------
    objects : ndarray of complex64, shape (E, M, N) or (E, A, M, N)
    energy : ndarray of shape (E,)
    angle : ndarray of shape (A,) or None
    pixel_size : ndarray of shape (E,)
        Pixel of the output images, m.
    native_pixel_size : ndarray of shape (E,) or (E, A)
        Pixel of each reconstruction, m.
    windows : ndarray of int
        Detector window used for each job.
    results : list of PtychoResult
        In job order (angle-major, as ``scans``).
    files : list of str
    """

    objects: NDArray[np.complex64]
    energy: NDArray[np.float64]
    angle: NDArray[np.float64] | None
    pixel_size: NDArray[np.float64]
    native_pixel_size: NDArray[np.float64]
    windows: NDArray[np.int64]
    results: list[PtychoResult]
    files: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def validate_scan(
    scan: CXIScan, *, saturation: float | None = None, check_frames: bool = True
) -> None:
    """Check one scan; raise a :class:`FormatError` naming its file.

    Checks: frames (P, H, W) with P positions; finite positions with no
    isolated position far outside the scanned field; mask shape; no empty and
    no saturated frames.

    Parameters
    ----------
    scan : CXIScan
    saturation : float, optional
        Saturation level (default: the maximum of an integer dtype).
    check_frames : bool, optional
        Read the frames to look for empty or saturated ones.

    Raises
    ------
    FormatError
    """
    where = scan.path or "<scan>"
    shape = tuple(scan.data.shape)
    if len(shape) != 3:
        raise FormatError(where, f"diffraction data must be (frames, rows, cols); got {shape}")
    pos = np.asarray(scan.positions, dtype=np.float64)
    if pos.shape != (shape[0], 2):
        raise FormatError(where, f"{shape[0]} frames but positions of shape {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise FormatError(where, "positions contain NaN or inf")
    if scan.mask is not None and tuple(scan.mask.shape) != shape[1:]:
        raise FormatError(where, f"mask shape {scan.mask.shape} differs from frames {shape[1:]}")
    if len(pos) > 3:
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(pos).query(pos, k=2)
        nn = dist[:, 1]
        typical = float(np.median(nn))
        far = np.nonzero(nn > 20 * max(typical, 1e-12))[0]
        if far.size:
            raise FormatError(
                where,
                f"{far.size} position(s) outside the scanned field (e.g. index "
                f"{far[0]} at {pos[far[0]]} m, {nn[far[0]] / typical:.0f} steps away)",
            )
    if not check_frames:
        return
    data = scan.data
    dtype = np.dtype(getattr(data, "dtype", np.float32))
    sat = (
        saturation
        if saturation is not None
        else (float(np.iinfo(dtype).max) if dtype.kind in "iu" else None)
    )
    empty: list[int] = []
    saturated: list[int] = []
    step = max(1, int(2**25 // max(1, shape[1] * shape[2] * 4)))
    for i in range(0, shape[0], step):
        block = np.asarray(data[i : i + step], dtype=np.float64)
        if scan.mask is not None:
            block[:, np.asarray(scan.mask, bool)] = 0
        if not np.all(np.isfinite(block)):
            raise FormatError(where, f"frames {i}..{i + len(block) - 1} contain NaN or inf")
        sums = block.sum(axis=(1, 2))
        empty.extend((i + np.nonzero(sums <= 0)[0]).tolist())
        if sat is not None:
            saturated.extend((i + np.nonzero(block.max(axis=(1, 2)) >= sat)[0]).tolist())
    if empty:
        raise FormatError(where, f"{len(empty)} empty frame(s) (no counts), first index {empty[0]}")
    if saturated:
        raise FormatError(
            where,
            f"{len(saturated)} saturated frame(s) (counts >= {sat:g}), first index {saturated[0]}",
        )


def check_series(
    scans: Sequence[CXIScan],
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Energies and angles of a series; every angle must have every energy.

    Returns
    -------
    energy : ndarray of shape (E,)
    angle : ndarray of shape (A,) or None

    Raises
    ------
    FormatError
        Mixed 2D/3D files, or an angle missing an energy (names the folder and both).
    """
    if not scans:
        raise ValueError("no scans")
    has_angle = {s.angle is not None for s in scans}
    where = str(Path(scans[0].path or ".").parent)
    if len(has_angle) > 1:
        raise FormatError(where, "some CXI files have a rotation angle and some do not")
    energies = np.unique(np.round([s.energy for s in scans], 3))
    if has_angle == {False}:
        return energies, None
    angles = np.unique([float(s.angle) for s in scans if s.angle is not None])
    for a in angles:
        have = np.round([s.energy for s in scans if s.angle == a], 3)
        missing = np.setdiff1d(energies, have)
        if missing.size:
            raise FormatError(
                where,
                f"angle {a:g} deg has no scan at {missing[0]:.3f} eV "
                f"(missing energy; {missing.size} in all)",
            )
    return energies, angles


def crop_window(frames: NDArray[Any], n: int) -> NDArray[Any]:
    """Centred ``n x n`` crop of detector-centred frames (zero frequency stays at ``n // 2``).

    Examples
    --------
    >>> a = np.zeros((1, 8, 8)); a[0, 4, 4] = 1
    >>> int(np.argmax(crop_window(a, 5)[0]))  # centre of 5x5 = (2, 2)
    12
    """
    h, w = frames.shape[-2:]
    r0, c0 = h // 2 - n // 2, w // 2 - n // 2
    return frames[..., r0 : r0 + n, c0 : c0 + n]


def _centre_fit(a: NDArray[Any], shape: tuple[int, int]) -> NDArray[Any]:
    """Crop or zero-pad the last two axes so that index ``n // 2`` goes to ``m // 2``."""
    out = np.zeros((*a.shape[:-2], *shape), dtype=a.dtype)
    src = []
    dst = []
    for n, m in zip(a.shape[-2:], shape, strict=True):
        off = m // 2 - n // 2  # dst = src + off
        lo, hi = max(0, -off), min(n, m - off)
        src.append(slice(lo, hi))
        dst.append(slice(lo + off, hi + off))
    out[..., dst[0], dst[1]] = a[..., src[0], src[1]]
    return out


def rescale_probe(
    probe: NDArray[np.complexfloating], from_pixel: float, to_pixel: float, shape: tuple[int, int]
) -> NDArray[np.complex64]:
    """Resample probe modes to another pixel size and window, keeping total power.

    Band-limited (Fourier) resampling: the probe's spectrum is zero-padded or
    cropped to ``round(N from_pixel / to_pixel)`` points (a new pixel within
    ``0.5 / N`` of ``to_pixel``), then the probe is cropped or zero-padded to
    ``shape`` about its centre pixel. Equal pixels only crop or pad (no
    interpolation, which would imprint a grid on the object of a warm start).

    Parameters
    ----------
    probe : ndarray of shape (K, H, W) or (H, W)
    from_pixel, to_pixel : float
        m.
    shape : (int, int)
        New window.

    Returns
    -------
    probe : ndarray of complex64, shape (K, *shape)

    Examples
    --------
    >>> rescale_probe(np.ones((1, 8, 8), complex), 1.0, 1.0, (6, 6)).shape
    (1, 6, 6)
    """
    p = np.asarray(probe, dtype=np.complex128)
    if p.ndim == 2:
        p = p[None]
    power = float((np.abs(p) ** 2).sum())
    h, w = p.shape[-2:]
    z = from_pixel / to_pixel
    n2 = (int(round(h * z)), int(round(w * z)))
    if n2 != (h, w):
        spec = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(p, axes=(-2, -1))), axes=(-2, -1))
        spec = _centre_fit(spec, n2)
        p = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(spec, axes=(-2, -1))), axes=(-2, -1))
    out = _centre_fit(p, (int(shape[0]), int(shape[1]))).astype(np.complex64)
    new = float((np.abs(out) ** 2).sum())
    if new > 0:
        out *= np.float32(np.sqrt(power / new))
    return out


def _resample(
    img: NDArray[np.complexfloating], from_pixel: float, to_pixel: float, shape: tuple[int, int]
) -> NDArray[np.complex64]:
    z = from_pixel / to_pixel
    h, w = img.shape
    ii, jj = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    ci = (h - 1) / 2 + (ii - (shape[0] - 1) / 2) / z
    cj = (w - 1) / 2 + (jj - (shape[1] - 1) / 2) / z
    re = ndimage.map_coordinates(img.real, [ci, cj], order=3, mode="nearest")
    im = ndimage.map_coordinates(img.imag, [ci, cj], order=3, mode="nearest")
    return (re + 1j * im).astype(np.complex64)


def _fit(img: NDArray[Any], shape: tuple[int, int], fill: complex = 1.0) -> NDArray[Any]:
    """Centre-crop or pad to ``shape``."""
    out = np.full(shape, fill, dtype=img.dtype)
    h, w = img.shape
    sh, sw = min(h, shape[0]), min(w, shape[1])
    ri, ci = (h - sh) // 2, (w - sw) // 2
    ro, co = (shape[0] - sh) // 2, (shape[1] - sw) // 2
    out[ro : ro + sh, co : co + sw] = img[ri : ri + sh, ci : ci + sw]
    return out


@dataclass(frozen=True)
class ScanJob:
    """One scan of a planned series, placed on the common object grid.

    Attributes
    ----------
    index : int
        Position of the scan in the series (the order of ``scans``).
    scan : CXIScan
        With the series' position convention applied.
    window : int
        Detector window, px.
    pixel : float
        Object pixel, m.
    corners : ndarray of shape (P, 2)
        Top-left corners of the probe window on the object, px.
    shape : (int, int)
        Object shape, px.
    """

    index: int
    scan: CXIScan
    window: int
    pixel: float
    corners: NDArray[np.float64]
    shape: tuple[int, int]


#: The position convention that leaves positions as recorded (no swap, no flips).
NO_CONVENTION: tuple[bool, bool, bool] = (False, False, False)


@dataclass(frozen=True)
class SeriesPlan:
    """Every job of a series, its output grid and its reference scan (:func:`plan_series`).

    Attributes
    ----------
    scans : tuple of CXIScan
        As given (positions as recorded).
    params : PtychoParams
        Engine parameters of the reference (and of a quality rerun).
    series : SeriesParams
    energy : ndarray of shape (E,)
        eV.
    angle : ndarray of shape (A,) or None
        deg.
    jobs : tuple of ScanJob
        One per scan, in the order of ``scans``.
    out_shape : (int, int)
        Shape of the output images, px.
    out_pixel : float
        Pixel of the output images when resampled (native mode with a pixel size), m.
    reference : int
        Index of the reference job (middle energy of the first angle).
    convention : (bool, bool, bool)
        Position convention (swap, flip rows, flip cols) applied to ``jobs``.
    """

    scans: tuple[CXIScan, ...]
    params: PtychoParams
    series: SeriesParams
    energy: NDArray[np.float64]
    angle: NDArray[np.float64] | None
    jobs: tuple[ScanJob, ...]
    out_shape: tuple[int, int]
    out_pixel: float
    reference: int
    convention: tuple[bool, bool, bool] = NO_CONVENTION

    @property
    def reference_job(self) -> ScanJob:
        """The reference job."""
        return self.jobs[self.reference]

    @property
    def warm_params(self) -> PtychoParams:
        """Engine parameters of the warm-started jobs (``warm_iterations``)."""
        return replace(
            self.params, iterations=self.series.warm_iterations or self.params.iterations
        )


@dataclass(frozen=True)
class ReferenceState:
    """What every other scan of a series takes from the reference scan (:func:`reconstruct_reference`).

    Attributes
    ----------
    index : int
        Job index of the reference.
    convention : (bool, bool, bool)
        Position convention found on the reference (swap, flip rows, flip cols),
        applied to every scan.
    window : int
        Detector window of the reference, px.
    pixel : float
        Object pixel of the reference, m.
    probe : ndarray of complex64, shape (K, H, W)
        Reconstructed probe, the warm start of the other scans.
    object : ndarray of complex64 or None
        Reconstructed object (only with ``warm_object``).
    quality : float
        Final Fourier error over its Poisson floor: the quality check's yardstick.
    """

    index: int
    convention: tuple[bool, bool, bool]
    window: int
    pixel: float
    probe: NDArray[np.complex64]
    object: NDArray[np.complex64] | None
    quality: float


@dataclass(frozen=True)
class ScanResult:
    """One reconstructed scan of a series (:func:`reconstruct_reference`, :func:`reconstruct_scan`).

    Attributes
    ----------
    index : int
        Job index.
    result : PtychoResult
    quality : float
        Final Fourier error over its Poisson floor.
    flagged : bool
        Still above ``quality_limit`` times the reference's after a rerun.
    """

    index: int
    result: PtychoResult
    quality: float
    flagged: bool = False


def _plan(
    scans: Sequence[CXIScan], sp: SeriesParams
) -> tuple[list[ScanJob], tuple[int, int], float]:
    frame = scans[0].data.shape[-1]
    if scans[0].data.shape[-2] != frame:
        raise FormatError(scans[0].path or "<scan>", "frames must be square")
    lam = np.array([s.wavelength for s in scans])
    z = scans[0].distance
    pdet = scans[0].detector_pixel_size[1]
    if sp.pixel_mode not in ("crop", "native"):
        raise ValueError(f"pixel_mode must be 'crop' or 'native'; got {sp.pixel_mode!r}")
    if sp.pixel_mode == "crop":
        target = sp.pixel_size or float(lam.max() * z / (frame * pdet))
        windows = np.rint(lam * z / (target * pdet)).astype(int)
        if windows.max() > frame:
            raise ValueError(
                f"pixel size {target:.3g} m needs a {windows.max()} px window; "
                f"the frames have {frame} px"
            )
    else:
        windows = np.full(len(scans), frame)
    pixels = lam * z / (windows * pdet)
    ref_px = float(pixels.min())
    # common field: every scan's positions relative to the centre of the first scan
    allpos = np.concatenate([np.asarray(s.positions) for s in scans])
    centre = (allpos.min(axis=0) + allpos.max(axis=0)) / 2
    extent = allpos.max(axis=0) - allpos.min(axis=0)
    jobs = []
    for i, (s, n, px) in enumerate(zip(scans, windows, pixels, strict=True)):
        shape = (
            int(np.ceil(extent[0] / px)) + int(n) + 4,
            int(np.ceil(extent[1] / px)) + int(n) + 4,
        )
        corners = (np.asarray(s.positions) - centre) / px + np.array(shape) // 2 - int(n) // 2
        jobs.append(ScanJob(i, s, int(n), float(px), corners, shape))
    out_px = sp.pixel_size if (sp.pixel_mode == "native" and sp.pixel_size) else ref_px
    out_shape = (
        int(np.ceil(extent[0] / out_px)) + int(windows.max()) + 4,
        int(np.ceil(extent[1] / out_px)) + int(windows.max()) + 4,
    )
    return jobs, out_shape, out_px


def _recorded_optics(scan: CXIScan) -> dict[str, float]:
    """Zone-plate optics a CXI file records (``spot``, ``defocus``, ``diameter``, ``outer_zone``).

    In m, from the JSON parameters of its ``/entry_1/process_*`` groups; empty if none.
    """
    import json

    out: dict[str, float] = {}
    if not scan.path:
        return out
    try:
        with h5py.File(scan.path, "r") as f:
            entry = f.get("entry_1")
            for name in entry or {}:
                if not name.startswith("process_"):
                    continue
                params = json.loads(str(entry[name].attrs.get("parameters", "{}")))
                for key in ("spot", "defocus", "diameter", "outer_zone"):
                    val = params.get(key)
                    if isinstance(val, int | float) and np.isfinite(val) and val > 0:
                        out[key] = float(val)
    except (OSError, ValueError, TypeError, AttributeError):
        logger.debug("no optics recorded in %s", scan.path, exc_info=True)
    return out


def _initial_probe(job: ScanJob, sp: SeriesParams) -> NDArray[np.complex64] | None:
    """The probe the user chose (file, spot or defocus), else None (estimate from the data)."""
    if sp.probe_file:
        p = np.load(sp.probe_file)
        if not np.iscomplexobj(p) or p.ndim not in (2, 3):
            raise FormatError(
                sp.probe_file, "probe file must hold a complex (H, W) or (K, H, W) array"
            )
        p3 = p if p.ndim == 3 else p[None]
        return (
            rescale_probe(p3, job.pixel, job.pixel, (job.window, job.window))
            if p3.shape[-1] != job.window
            else p3.astype(np.complex64)
        )
    if sp.probe_from_data:
        return None
    return _given_optics_probe(job, sp)


def _given_optics_probe(job: ScanJob, sp: SeriesParams) -> NDArray[np.complex64]:
    """The zone-plate probe of the optics in ``sp`` at the job's energy, window and pixel."""
    from ptyxanes.simulate.ptycho import fzp_probe

    return fzp_probe(
        job.scan.energy,
        job.window,
        job.pixel,
        diameter=sp.diameter,
        outer_zone=sp.outer_zone,
        defocus=sp.defocus,
        spot=sp.spot,
    )


def _estimated_probe(
    job: ScanJob, sp: SeriesParams, params: PtychoParams, control: Control
) -> Generator[Progress, None, Any]:
    """Probe estimate of one job from its patterns (recorded optics as an extra candidate)."""
    from ptyxanes.ptycho.engine import check_patterns
    from ptyxanes.ptycho.probe import estimate_probe
    from ptyxanes.simulate.ptycho import fzp_probe

    label = f"{Path(job.scan.path or '').name}: "
    data = crop_window(np.asarray(job.scan.data[:], np.float32), job.window)
    mask = (
        None if job.scan.mask is None else crop_window(np.asarray(job.scan.mask, bool), job.window)
    )
    data, mask = check_patterns(data, mask, label)
    extra = [("zone plate of the given optics", _given_optics_probe(job, sp))]
    optics = _recorded_optics(job.scan)
    if "spot" in optics or "defocus" in optics:
        extra.append(
            (
                "zone plate of the recorded optics",
                fzp_probe(
                    job.scan.energy,
                    job.window,
                    job.pixel,
                    diameter=optics.get("diameter", sp.diameter),
                    outer_zone=optics.get("outer_zone", sp.outer_zone),
                    defocus=optics.get("defocus"),
                    spot=optics.get("spot", 2e-6),
                ),
            )
        )
    return (
        yield from estimate_probe(
            data,
            job.corners,
            mask=mask,
            extra=extra,
            workers=params.workers,
            control=control,
            label=label,
        )
    )


def _quality(result: PtychoResult, job: ScanJob) -> float:
    """Final Fourier error over its Poisson floor.

    The floor is ``(sqrt(I) - sqrt(lambda))^2 ~ 1/4`` per counting pixel,
    normalised like the error by the total counts.
    """
    data = crop_window(np.asarray(job.scan.data[:], dtype=np.float32), job.window)
    if job.scan.mask is not None:
        data = data * ~crop_window(np.asarray(job.scan.mask, bool), job.window)
    floor = 0.25 * float(np.count_nonzero(data > 0)) / max(float(data.sum()), 1e-30)
    return float(result.errors[-1]) / max(floor, 1e-30)


def _with_convention(scan: CXIScan, convention: tuple[bool, bool, bool]) -> CXIScan:
    from ptyxanes.ptycho.probe import transform_positions

    return replace(scan, positions=transform_positions(scan.positions, convention))


def _run_job(
    job: ScanJob,
    params: PtychoParams,
    sp: SeriesParams,
    probe: NDArray[np.complex64] | None,
    obj: NDArray[np.complex64] | None,
    control: Control,
    report: Any,
) -> PtychoResult:
    s = job.scan
    data = crop_window(np.asarray(s.data[:], dtype=np.float32), job.window)
    mask = None if s.mask is None else crop_window(np.asarray(s.mask, bool), job.window)
    gen = reconstruct(
        data,
        job.corners,
        probe,
        params=params,
        obj=obj,
        obj_shape=job.shape,
        mask=mask,
        control=control,
        label=f"{Path(s.path or '').name}: ",
    )
    res = run_sync(gen, on_progress=report)
    if not (np.all(np.isfinite(res.object)) and np.all(np.isfinite(res.probe))):
        raise FormatError(s.path or "<scan>", "reconstruction diverged (non-finite values)")
    return res


def plan_series(
    scans: Sequence[CXIScan],
    params: PtychoParams | None = None,
    series: SeriesParams | None = None,
    *,
    convention: tuple[bool, bool, bool] = NO_CONVENTION,
) -> SeriesPlan:
    """Plan a series: detector windows, pixel sizes, object grids and the reference scan.

    Reads only the scans' metadata and positions (not the frames, which
    :func:`validate_scan` checks).

    Parameters
    ----------
    scans : sequence of CXIScan
        As from :func:`ptyxanes.io.cxi.read_scan_series` (sorted by angle, energy).
    params : PtychoParams, optional
    series : SeriesParams, optional
    convention : (bool, bool, bool), optional
        Position convention (swap, flip rows, flip cols) applied to every scan.

    Returns
    -------
    plan : SeriesPlan

    Raises
    ------
    FormatError
        Mixed 2D/3D files, an angle missing an energy, frames not square.
    ValueError
        A pixel size that needs a larger window than the frames have.
    """
    params = params or PtychoParams()
    sp = series or SeriesParams()
    given = tuple(scans)
    energies, angles = check_series(given)
    convention = tuple(bool(c) for c in convention)  # type: ignore[assignment]
    moved = (
        list(given)
        if convention == NO_CONVENTION
        else [_with_convention(s, convention) for s in given]
    )
    jobs, out_shape, out_px = _plan(moved, sp)
    if angles is None:
        ref = len(jobs) // 2
    else:
        mid = energies[len(energies) // 2]
        ref = int(np.argmin([abs(s.energy - mid) + 1e6 * (s.angle != angles[0]) for s in given]))
    return SeriesPlan(
        given, params, sp, energies, angles, tuple(jobs), out_shape, out_px, ref, convention
    )


def apply_convention(plan: SeriesPlan, convention: tuple[bool, bool, bool]) -> SeriesPlan:
    """The plan of the same scans with another position convention (e.g. the reference's).

    Parameters
    ----------
    plan : SeriesPlan
    convention : (bool, bool, bool)
        Swap, flip rows, flip cols, relative to the positions as recorded.

    Returns
    -------
    plan : SeriesPlan
        ``plan`` itself when the convention is unchanged.
    """
    if tuple(convention) == plan.convention:
        return plan
    return plan_series(plan.scans, plan.params, plan.series, convention=convention)


def _job_data(
    job: ScanJob,
) -> tuple[NDArray[np.float32], NDArray[np.bool_] | None]:
    s = job.scan
    data = crop_window(np.asarray(s.data[:], dtype=np.float32), job.window)
    mask = None if s.mask is None else crop_window(np.asarray(s.mask, bool), job.window)
    return data, mask


def reconstruct_reference(
    plan: SeriesPlan, *, control: Control | None = None
) -> Generator[Progress, None, tuple[ReferenceState, ScanResult]]:
    """Reconstruct the reference scan cold: its probe, position convention and quality.

    The initial probe is the user's (probe file, or the zone plate with
    ``probe_from_data=False``) or estimated from the reference's patterns
    (:func:`ptyxanes.ptycho.probe.estimate_probe`, with the zone plates of the
    given and of the recorded optics as candidates); the position convention
    found there applies to every scan of the series (:func:`apply_convention`).

    Parameters
    ----------
    plan : SeriesPlan
        As from :func:`plan_series` (positions as recorded).
    control : Control, optional

    Yields
    ------
    progress : Progress
        The probe estimate (stage ``"probe"``), then the iterations (stage
        ``"reconstruct"``, ``total`` = the reference's iterations, with previews).

    Returns
    -------
    state : ReferenceState
        What the other scans start from.
    result : ScanResult
        The reference scan itself.

    Raises
    ------
    FormatError
        The reconstruction diverged.
    ValueError
        The plan already has a convention and the estimate finds another one.
    Cancelled
    """
    control = control or Control()
    sp, params = plan.series, plan.params
    ref = plan.reference_job
    probe0 = _initial_probe(ref, sp)
    convention = plan.convention
    if probe0 is None:
        estimate = yield from _estimated_probe(ref, sp, params, control)
        probe0 = estimate.probe
        if estimate.convention != NO_CONVENTION:
            if plan.convention != NO_CONVENTION:
                raise ValueError(
                    "the reference's probe estimate found a position convention on positions "
                    "that already had one applied; plan the series without a convention"
                )
            convention = tuple(bool(c) for c in estimate.convention)  # type: ignore[assignment]
            plan = apply_convention(plan, convention)
            ref = plan.reference_job
    data, mask = _job_data(ref)
    gen = reconstruct(
        data,
        ref.corners,
        probe0,
        params=params,
        obj_shape=ref.shape,
        mask=mask,
        control=control,
        label=f"{Path(ref.scan.path or '').name}: ",
    )
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            res: PtychoResult = stop.value
            break
        yield Progress(p.done, params.iterations, p.message, "reconstruct", p.preview)
    quality = _quality(res, ref)
    state = ReferenceState(
        ref.index,
        convention,
        ref.window,
        ref.pixel,
        res.probe,
        res.object if sp.warm_object else None,
        quality,
    )
    return state, ScanResult(ref.index, res, quality)


def reconstruct_scan(
    job: ScanJob,
    reference: ReferenceState,
    params: PtychoParams,
    series: SeriesParams,
    *,
    control: Control | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> ScanResult:
    """Reconstruct one non-reference scan from the reference's state, with the quality check.

    The scan starts from the reference's probe rescaled in Fourier space to its
    pixel and window (:func:`rescale_probe`; ``warm_start=False``: the user's
    probe), optionally from its object (``warm_object``), for
    ``warm_iterations``. If its final Fourier error over its Poisson floor is
    above ``quality_limit`` times the reference's, it is reconstructed again
    (full iterations) from its own probe estimate and the better of the two is
    kept; if that stays above, the result is flagged (and a warning logged).

    Parameters
    ----------
    job : ScanJob
        From the plan with the reference's convention (:func:`apply_convention`).
    reference : ReferenceState
    params : PtychoParams
        Engine parameters of the series (the reference's iterations).
    series : SeriesParams
    control : Control, optional
    on_progress : callable, optional
        Called with every progress event of the job.

    Returns
    -------
    result : ScanResult

    Raises
    ------
    FormatError
        The reconstruction diverged.
    Cancelled
    """
    control = control or Control()
    report = on_progress or (lambda p: None)
    sp = series
    if sp.warm_start:
        probe: NDArray[np.complex64] | None = rescale_probe(
            reference.probe, reference.pixel, job.pixel, (job.window, job.window)
        )
    else:
        probe = _initial_probe(job, sp)
    obj = None
    if sp.warm_object and reference.object is not None:
        bo = reference.object
        obj = _fit(
            _resample(
                bo,
                reference.pixel,
                job.pixel,
                (
                    int(bo.shape[0] * reference.pixel / job.pixel),
                    int(bo.shape[1] * reference.pixel / job.pixel),
                ),
            ),
            job.shape,
        )
    wparams = replace(params, iterations=sp.warm_iterations or params.iterations)
    res = _run_job(job, wparams, sp, probe, obj, control, report)
    quality = _quality(res, job)
    limit = sp.quality_limit * reference.quality
    if quality <= limit:
        return ScanResult(job.index, res, quality)
    # far above the reference's error: rerun from its own probe estimate, flag if it stays bad
    name = Path(job.scan.path or "").name
    logger.warning(
        "%s: Fourier error %.2f x its noise floor against %.2f x for the reference; "
        "reconstructing it again from its own probe estimate",
        name,
        quality,
        reference.quality,
    )
    probe = _initial_probe(job, sp)
    if probe is None:
        probe = run_sync(_estimated_probe(job, sp, params, control), report).probe
    again = _run_job(job, params, sp, probe, None, control, lambda p: None)
    q2 = _quality(again, job)
    if q2 < quality:
        res, quality = again, q2
    flagged = quality > limit
    if flagged:
        logger.warning("%s: still %.2f x its noise floor; flagged as unreliable", name, quality)
    return ScanResult(job.index, res, quality, flagged)


def assemble_scan(
    plan: SeriesPlan, job: ScanJob, result: ScanResult
) -> tuple[tuple[int, int], NDArray[np.complex64]]:
    """One scan's image on the output grid (background normalised, resampled) and its place.

    Parameters
    ----------
    plan : SeriesPlan
        With the reference's convention (:func:`apply_convention`).
    job : ScanJob
        The scan's job in ``plan``.
    result : ScanResult
        Its reconstruction.

    Returns
    -------
    place : (int, int)
        Energy and angle index in the stack (angle 0 for an energy series).
    image : ndarray of shape ``plan.out_shape``, complex64

    Raises
    ------
    FormatError
        A result with non-finite values.
    """
    sp = plan.series
    r = result.result
    if not (np.all(np.isfinite(r.object)) and np.all(np.isfinite(r.probe))):
        raise FormatError(job.scan.path or "<scan>", "reconstruction diverged (non-finite values)")
    energies, angles = plan.energy, plan.angle
    e_i = int(np.argmin(np.abs(energies - job.scan.energy)))
    a_i = 0 if angles is None else int(np.argmin(np.abs(angles - float(job.scan.angle or 0.0))))
    o = r.object
    if sp.normalize:
        o = normalize_background(o, r.illumination)
    if sp.pixel_mode == "native" and sp.pixel_size:
        o = _resample(
            o,
            job.pixel,
            plan.out_pixel,
            (
                int(round(o.shape[0] * job.pixel / plan.out_pixel)),
                int(round(o.shape[1] * job.pixel / plan.out_pixel)),
            ),
        )
    return (e_i, a_i), np.asarray(_fit(o, plan.out_shape), np.complex64)


def assemble_series(
    plan: SeriesPlan,
    results: Sequence[ScanResult],
    *,
    seconds: float = 0.0,
    placed: NDArray[np.complex64] | None = None,
) -> SeriesResult:
    """Stack the reconstructed scans: background normalised, resampled, fitted to the output grid.

    Parameters
    ----------
    plan : SeriesPlan
        With the reference's convention (:func:`apply_convention`).
    results : sequence of ScanResult
        One per job, any order.
    seconds : float, optional
        Wall time of the reconstruction, s (``info["seconds"]``).
    placed : ndarray of shape (E, A, M, N), complex64, optional
        Every scan's :func:`assemble_scan` image already in its place (a
        runner that assembles each scan as it arrives and keeps only its
        probe, errors and positions); the results' objects are then not used.

    Returns
    -------
    result : SeriesResult
        ``info``: ``reference`` (job index), ``seconds``, ``pixel_mode``,
        ``quality`` (per job) and ``flagged`` (energies, eV).

    Raises
    ------
    ValueError
        A job without a result.
    FormatError
        A result with non-finite values.
    """
    sp = plan.series
    by_index = {r.index: r for r in results}
    missing = [j.index for j in plan.jobs if j.index not in by_index]
    if missing:
        raise ValueError(f"no result for {len(missing)} scan(s), e.g. job {missing[0]}")
    energies, angles = plan.energy, plan.angle
    n_e = len(energies)
    n_a = 1 if angles is None else len(angles)
    if placed is None:
        out = np.ones((n_e, n_a, *plan.out_shape), np.complex64)
    else:
        out = placed
    native = np.zeros((n_e, n_a))
    for j in plan.jobs:
        if placed is None:
            (e_i, a_i), image = assemble_scan(plan, j, by_index[j.index])
            out[e_i, a_i] = image
        else:
            e_i = int(np.argmin(np.abs(energies - j.scan.energy)))
            a_i = (
                0 if angles is None else int(np.argmin(np.abs(angles - float(j.scan.angle or 0.0))))
            )
        native[e_i, a_i] = j.pixel
    if sp.pixel_mode == "native" and sp.pixel_size:
        pix = np.full(n_e, plan.out_pixel)
    else:
        pix = native.mean(axis=1)
    stack = out[:, 0] if angles is None else out
    ordered = [by_index[j.index] for j in plan.jobs]
    return SeriesResult(
        stack,
        energies,
        angles,
        pix,
        native if angles is not None else native[:, 0],
        np.array([j.window for j in plan.jobs]),
        [r.result for r in ordered],
        [str(s.path) for s in plan.scans],
        {
            "reference": plan.reference,
            "seconds": seconds,
            "pixel_mode": sp.pixel_mode,
            "quality": np.array([r.quality for r in ordered]),
            "flagged": np.asarray(
                [float(j.scan.energy) for j, r in zip(plan.jobs, ordered, strict=True) if r.flagged]
            ),
        },
    )


def reconstruct_series(
    scans: Sequence[CXIScan],
    params: PtychoParams | None = None,
    series: SeriesParams | None = None,
    *,
    control: Control | None = None,
) -> Generator[Progress, None, SeriesResult]:
    """Reconstruct every scan of an energy (or energy x angle) series.

    The steps, each public so that other runners (e.g. :mod:`ptyxanes.distributed`)
    run the same ones: :func:`validate_scan` every file, :func:`plan_series`,
    :func:`reconstruct_reference`, :func:`apply_convention` (the reference's),
    :func:`reconstruct_scan` for every other scan (in a thread pool of
    ``jobs``), :func:`assemble_series`.

    Parameters
    ----------
    scans : sequence of CXIScan
        As from :func:`ptyxanes.io.cxi.read_scan_series` (sorted by angle, energy).
    params : PtychoParams, optional
        Engine parameters of every job.
    series : SeriesParams, optional
    control : Control, optional

    Returns
    -------
    result : SeriesResult

    Raises
    ------
    FormatError
        A bad scan (named) -- checked for all files before any work starts --
        or a job that diverged.
    Cancelled
    """
    params = params or PtychoParams()
    sp = series or SeriesParams()
    control = control or Control()
    scans = list(scans)
    check_series(scans)
    for i, s in enumerate(scans):
        validate_scan(s, saturation=sp.saturation)
        yield Progress(i + 1, len(scans), f"checked {Path(s.path or '').name}", "check")
    plan = plan_series(scans, params, sp)
    n_it = params.iterations
    total = float(n_it + plan.warm_params.iterations * (len(plan.jobs) - 1))
    t0 = time.monotonic()
    gen = reconstruct_reference(plan, control=control)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            state, ref_result = stop.value
            break
        if p.stage == "reconstruct":
            p = Progress(p.done, total, p.message, "reconstruct", p.preview)
        yield p
    plan = apply_convention(plan, state.convention)
    results: dict[int, ScanResult] = {state.index: ref_result}
    q: queue.Queue[Progress] = queue.Queue()
    done = float(n_it)
    others = [j for j in plan.jobs if j.index != state.index]
    failures: list[str] = []
    with cf.ThreadPoolExecutor(max_workers=max(1, sp.jobs)) as pool:
        futs = {
            pool.submit(
                reconstruct_scan, j, state, params, sp, control=control, on_progress=q.put
            ): j
            for j in others
        }
        pending = set(futs)
        while pending:
            finished, pending = cf.wait(pending, timeout=0.3)
            last_preview = None
            while not q.empty():
                p = q.get_nowait()
                if p.preview is not None:
                    last_preview = p.preview
                done += 1
            for f in finished:
                j = futs[f]
                try:
                    results[j.index] = f.result()
                except Cancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - reported with the file name below
                    failures.append(f"{Path(j.scan.path or '').name}: {exc}")
            yield Progress(
                min(done, total),
                total,
                f"{len(results)}/{len(plan.jobs)} scans done",
                "reconstruct",
                last_preview,
            )
            if control.cancelled.is_set():
                raise Cancelled
    if failures:
        raise ValueError("reconstruction failed for " + "; ".join(failures))
    out = assemble_series(plan, list(results.values()), seconds=time.monotonic() - t0)
    logger.info("reconstructed %d scans in %.1f s", len(plan.jobs), out.info["seconds"])
    return out


def write_series(
    path: str | Path,
    result: SeriesResult,
    *,
    overwrite: bool = False,
    parameters: dict[str, Any] | None = None,
) -> Path:
    """Write the reconstructed stack (NeXus) plus ``/entry/ptycho/`` in one atomic write.

    ``/entry/data``: complex transmission (energy[, angle], row, col) with
    energy (eV), angle (deg), pixel_size (m, per energy). ``/entry/ptycho/``:
    ``native_pixel_size`` (m), ``windows`` (px), ``quality`` (final Fourier
    error over the Poisson floor, per scan), ``flagged_energies`` (eV), and per scan ``scan_<i>/``
    with ``probe`` (K, H, W), ``errors`` (iterations), ``positions`` (P, 2;
    px, window corners), ``energy``, ``angle``, ``file``.

    Parameters
    ----------
    path : path-like
    result : SeriesResult
    overwrite : bool, optional
    parameters : dict, optional
        Stored in the provenance record.

    Returns
    -------
    path : pathlib.Path
    """
    from ptyxanes.io._atomic import atomic_path
    from ptyxanes.io.nexus import init_nexus_file, write_provenance, write_stack_group
    from ptyxanes.io.stack import ImageStack
    from ptyxanes.provenance import provenance

    dims = ("energy", "row", "col") if result.angle is None else ("energy", "angle", "row", "col")
    stack = ImageStack(
        result.objects,
        result.energy,
        result.pixel_size,
        "complex",
        result.angle,
        dims,
        {"title": "ptychography"},
    )
    dest = Path(path)
    with atomic_path(dest, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        entry = init_nexus_file(f, "ptychography")
        write_stack_group(entry, "data", stack)
        g = entry.create_group("ptycho")
        g.attrs["NX_class"] = "NXcollection"
        g.create_dataset("native_pixel_size", data=result.native_pixel_size).attrs["units"] = "m"
        g.create_dataset("windows", data=result.windows)
        if "quality" in result.info:
            g.create_dataset("quality", data=result.info["quality"])
            g.create_dataset("flagged_energies", data=result.info["flagged"]).attrs["units"] = "eV"
        for i, (r, fname) in enumerate(zip(result.results, result.files, strict=True)):
            s = g.create_group(f"scan_{i:04d}")
            s.create_dataset("probe", data=r.probe)
            s.create_dataset("errors", data=r.errors)
            s.create_dataset("positions", data=r.positions).attrs["units"] = "pixel"
            s.attrs["file"] = fname
            for k, v in r.info.items():
                s.attrs[k] = v
        write_provenance(entry, provenance("reconstruct", parameters or {}))
    logger.info("wrote %s", dest)
    return dest


__all__ = [
    "NO_CONVENTION",
    "ReferenceState",
    "ScanJob",
    "ScanResult",
    "SeriesParams",
    "SeriesPlan",
    "SeriesResult",
    "apply_convention",
    "assemble_scan",
    "assemble_series",
    "plan_series",
    "reconstruct_reference",
    "reconstruct_scan",
    "validate_scan",
    "check_series",
    "crop_window",
    "rescale_probe",
    "reconstruct_series",
    "write_series",
]
