"""Functions that run on the Dask workers, one per task.

Every task receives file paths and small parameters, reads its own input
lazily from HDF5 (only its scan, its energy or its block of rows), calls the
engine's functions and returns plain arrays. Progress is sent to the client
as worker events (topic :data:`PROGRESS_TOPIC`), at most every 0.5 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.io.errors import FormatError
from ptyxanes.progress import Control, Progress, run_sync

logger = logging.getLogger(__name__)


class TaskFormatError(FormatError):
    """A :class:`~ptyxanes.io.errors.FormatError` raised on a worker, able to travel back.

    Parameters
    ----------
    path : str
    problem : str
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem))


def portable(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a task so that its FormatError reaches the client intact (pickled by path, problem).

    Parameters
    ----------
    func : callable

    Returns
    -------
    wrapped : callable
    """
    import functools

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TaskFormatError:
            raise
        except FormatError as exc:
            raise TaskFormatError(exc.path, exc.problem) from None

    return wrapped

#: Worker event topic of per-task progress: ``{"task", "done", "total", "message"}``.
PROGRESS_TOPIC = "ptyxanes-progress"


def reporter(task: str, interval: float = 0.5) -> Callable[[Progress], None]:
    """A progress callback that sends at most one worker event per ``interval`` s.

    Parameters
    ----------
    task : str
        Task key, to tell the events of concurrent tasks apart.
    interval : float, optional
        s.

    Returns
    -------
    report : callable
        A no-op outside a Dask worker.
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return lambda p: None
    last = [0.0]

    def report(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or p.done >= p.total:
            last[0] = now
            worker.log_event(PROGRESS_TOPIC, {"task": task, "done": float(p.done),
                                              "total": float(p.total), "message": p.message})

    return report


# ----------------------------------------------------------------------------- ptychography
@portable
def reconstruct_scan(
    task: str,
    path: str,
    index: int,
    window: int,
    pixel: float,
    corners: NDArray[np.float64],
    shape: tuple[int, int],
    params: Any,
    series: Any,
    probe: NDArray[np.complex64] | None,
    obj: NDArray[np.complex64] | None,
) -> dict[str, NDArray[Any]]:
    """Reconstruct one scan of a series (one energy at one angle).

    Parameters
    ----------
    task : str
        Key for progress events.
    path : str
        CXI file, read lazily on the worker.
    index : int
        Job index in the series.
    window : int
        Detector window, px.
    pixel : float
        Object pixel, m.
    corners : ndarray of shape (P, 2)
        Probe-window corners, px.
    shape : (int, int)
        Object shape, px.
    params : ptyxanes.ptycho.PtychoParams
        Engine parameters (iterations already set for cold or warm start).
    series : ptyxanes.ptycho.series.SeriesParams
    probe : ndarray of complex64, shape (K, H, W), or None
        Starting probe; None = the cold-start probe of the series parameters.
    obj : ndarray of complex64 or None
        Starting object.

    Returns
    -------
    arrays : dict
        ``object``, ``probe``, ``illumination``, ``errors``, ``positions``.

    Raises
    ------
    FormatError
        A bad scan (empty or saturated frames) or a diverged reconstruction.
    """
    from ptyxanes.io.cxi import read_cxi
    from ptyxanes.ptycho.series import _initial_probe, _Job, _run_job, validate_scan

    scan = read_cxi(path, lazy=True)
    validate_scan(scan, saturation=series.saturation)
    job = _Job(index, scan, window, pixel, np.asarray(corners), tuple(shape))
    start = _initial_probe(job, series) if probe is None else probe
    res = _run_job(job, params, series, start, obj, Control(), reporter(task))
    return {"object": res.object, "probe": res.probe, "illumination": res.illumination,
            "errors": np.asarray(res.errors), "positions": np.asarray(res.positions)}


# ----------------------------------------------------------------------------- tomography
@portable
def tomo_energy(
    task: str,
    stack_path: str,
    energy_index: int,
    from_pixel: float,
    to_pixel: float | None,
    tomo: dict[str, Any],
) -> dict[str, NDArray[Any]]:
    """Align and reconstruct the tilt series of one energy.

    Parameters
    ----------
    task : str
        Key for progress events.
    stack_path : str
        NeXus tilt-series stack (energy, angle, row, col); only this energy is read.
    energy_index : int
    from_pixel : float
        Pixel of this energy, m.
    to_pixel : float or None
        Common pixel the projections are rescaled to, m (None: kept).
    tomo : dict
        ``algorithm``, ``iterations``, ``align``, ``center``, ``max_outer``
        (as :func:`ptyxanes.tomo.reconstruct_energy_series`).

    Returns
    -------
    arrays : dict
        ``volume`` (P, M, N) in projection units per voxel and, when aligned,
        ``shifts`` (A, 2) px, ``center`` (px), ``history`` and ``converged`` of
        the tilt-series alignment.
    """
    from ptyxanes.align.registration import rescale_image
    from ptyxanes.io.nexus import read_stack
    from ptyxanes.tomo import (
        align_tilt_series,
        attenuation_line_integrals,
        fbp,
        shift_projections,
        sirt,
    )

    report = reporter(task)
    stack = read_stack(stack_path, lazy=True)
    try:
        raw = np.asarray(stack.data[energy_index])
    finally:
        _close(stack)
    angles = np.asarray(stack.angle, dtype=float)
    if to_pixel is not None:
        raw = np.stack([rescale_image(raw[a], from_pixel, to_pixel) for a in range(raw.shape[0])])
    proj = attenuation_line_integrals(raw, stack.kind)
    center = tomo.get("center")
    out: dict[str, NDArray[Any]] = {}
    if tomo.get("align", True):
        al = run_sync(align_tilt_series(proj, angles, center=center,
                                        max_outer=tomo.get("max_outer", 10)), report)
        aligned, c = shift_projections(proj, al.shifts), None
        out["shifts"] = np.asarray(al.shifts)
        out["center"] = np.asarray(al.center, np.float64)
        out["history"] = np.asarray(al.history, np.float64)
        out["converged"] = np.asarray(bool(al.converged))
    else:
        aligned, c = proj, center
    if tomo.get("algorithm", "sirt") == "sirt":
        vol = run_sync(sirt(aligned, angles, iterations=tomo.get("iterations", 200), center=c),
                       report)
    else:
        vol = fbp(aligned, angles, center=c)
    out["volume"] = np.asarray(vol)
    return out


def _close(stack: Any) -> None:
    """Close the HDF5 file behind a lazy stack (if any)."""
    f = getattr(getattr(stack.data, "file", None), "close", None)
    if f is not None:
        try:
            f()
        except Exception:  # noqa: BLE001 - already closed
            pass


# ----------------------------------------------------------------------------- XANES fit
def _read_block(stack_path: str, b0: int, b1: int) -> tuple[Any, NDArray[Any]]:
    from ptyxanes.io.nexus import read_stack

    stack = read_stack(stack_path, lazy=True)
    try:
        block = np.asarray(stack.data[:, b0:b1])
    finally:
        _close(stack)
    return stack, block


@portable
def fit_edge_jumps(
    task: str,
    stack_path: str,
    b0: int,
    b1: int,
    options: Any,
    need_mean: bool,
) -> dict[str, NDArray[Any]]:
    """First pass of the fit over one block of rows (planes): edge jumps and binned sums.

    Parameters
    ----------
    task : str
    stack_path : str
        NeXus stack (energy, ...); rows (planes) ``b0:b1`` are read.
    b0, b1 : int
    options : ptyxanes.xanes.FitOptions
    need_mean : bool
        Also return the edge-jump-weighted sums of the normalised spectra in
        the bins of :data:`JUMP_BINS` (for the shared edge shape).

    Returns
    -------
    arrays : dict
        ``jumps`` (float32, NaN where not usable), and with ``need_mean``
        ``wsum`` (bins + 1, E) and ``wtot`` (bins + 1,).
    """
    from ptyxanes.xanes import normalize, to_absorption
    from ptyxanes.xanes.status import Status

    stack, block = _read_block(stack_path, b0, b1)
    e = np.asarray(stack.energy, np.float64)
    spectra = np.moveaxis(block, 0, -1).reshape(-1, e.size)
    ab, st = to_absorption(spectra, stack.kind)
    nm = normalize(e, ab, pre_edge=options.pre_edge, post_edge=options.post_edge,
                   post_order=options.post_order, e0=options.e0, status=st)
    j = np.where(nm.status == Status.OK, nm.edge_jump, np.nan)
    out: dict[str, NDArray[Any]] = {"jumps": j.astype(np.float32)}
    if need_mean:
        wsum = np.zeros((JUMP_BINS.size + 1, e.size))
        wtot = np.zeros(JUMP_BINS.size + 1)
        with np.errstate(invalid="ignore"):
            use = np.isfinite(j) & (j > 0) & np.isfinite(nm.mu).all(1)
        wj = j[use].astype(np.float64)
        bi = np.searchsorted(JUMP_BINS, wj)
        wtot += np.bincount(bi, weights=wj, minlength=wtot.size)
        wmu = wj[:, None] * nm.mu[use]
        for q in range(e.size):
            wsum[:, q] += np.bincount(bi, weights=wmu[:, q], minlength=wtot.size)
        out["wsum"], out["wtot"] = wsum, wtot
    reporter(task)(Progress(1, 1, "edge jumps"))
    return out


#: Edge-jump bins of the mean spectrum (2.3 % wide; −ln|T| and 1/m alike), as the
#: in-process fit uses.
JUMP_BINS = np.geomspace(1e-8, 1e8, 1601)


@portable
def fit_block(
    task: str,
    stack_path: str,
    b0: int,
    b1: int,
    options: Any,
    calibration: Any,
    threshold: float | None,
    template: NDArray[np.float64] | None,
) -> dict[str, NDArray[Any]]:
    """Fit the spectra of one block of rows (planes) with a fixed threshold and shape.

    Parameters
    ----------
    task : str
    stack_path : str
        NeXus stack (energy, ...); rows (planes) ``b0:b1`` are read.
    b0, b1 : int
    options : ptyxanes.xanes.FitOptions
    calibration : ptyxanes.xanes.Calibration or None
        As given to the whole fit (re-measured with ``template`` inside).
    threshold : float or None
        Edge-jump threshold of the whole map (input units).
    template : ndarray or None
        Shared edge shape of the whole map.

    Returns
    -------
    arrays : dict
        The block's maps: ``valence``, ``valence_sigma``, ``edge_energy``,
        ``edge_jump``, ``edge_sigma``, ``fit_quality``, ``status``, ``mask``.
    """
    from ptyxanes.xanes import fit_stack_array

    stack, block = _read_block(stack_path, b0, b1)
    e = np.asarray(stack.energy, np.float64)
    per = int(np.prod(block.shape[1:]))
    res = run_sync(fit_stack_array(e, block, kind=stack.kind, options=options,
                                   calibration=calibration, threshold=threshold, energy_axis=0,
                                   chunk_spectra=max(per, 1), template=template),
                   reporter(task))
    return {k: np.asarray(getattr(res, k)) for k in FIT_MAPS}


#: The per-pixel maps of :class:`ptyxanes.xanes.XanesResult` a block returns.
FIT_MAPS = ("valence", "valence_sigma", "edge_energy", "edge_jump", "edge_sigma", "fit_quality",
            "status", "mask")
