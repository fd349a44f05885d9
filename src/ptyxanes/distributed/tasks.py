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
def scan_result_arrays(res: Any) -> dict[str, NDArray[Any]]:
    """A :class:`ptyxanes.ptycho.series.ScanResult` as plain arrays (checkpoint and transfer).

    Parameters
    ----------
    res : ptyxanes.ptycho.series.ScanResult

    Returns
    -------
    arrays : dict
        ``index``, ``quality``, ``flagged`` and the reconstruction's ``object``,
        ``probe``, ``positions``, ``errors``, ``illumination``, ``seconds`` and
        ``info`` (JSON).
    """
    import json

    r = res.result
    return {
        "index": np.asarray(res.index),
        "quality": np.asarray(res.quality, np.float64),
        "flagged": np.asarray(bool(res.flagged)),
        "object": r.object,
        "probe": r.probe,
        "positions": np.asarray(r.positions),
        "errors": np.asarray(r.errors),
        "illumination": r.illumination,
        "seconds": np.asarray(r.seconds, np.float64),
        "info": np.asarray(json.dumps(r.info, default=_json_default)),
    }


def _json_default(obj: Any) -> Any:
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def scan_result(arrays: dict[str, NDArray[Any]]) -> Any:
    """The :class:`ptyxanes.ptycho.series.ScanResult` of :func:`scan_result_arrays`.

    Parameters
    ----------
    arrays : dict

    Returns
    -------
    result : ptyxanes.ptycho.series.ScanResult
    """
    import json

    from ptyxanes.ptycho.engine import PtychoResult
    from ptyxanes.ptycho.series import ScanResult

    r = PtychoResult(
        arrays["object"],
        arrays["probe"],
        arrays["positions"],
        arrays["errors"],
        arrays["illumination"],
        float(arrays["seconds"]),
        json.loads(str(arrays["info"])),
    )
    return ScanResult(
        int(arrays["index"]), r, float(arrays["quality"]), bool(arrays["flagged"])
    )


def reference_state_arrays(state: Any) -> dict[str, NDArray[Any]]:
    """A :class:`ptyxanes.ptycho.series.ReferenceState` as plain arrays (``ref_*`` keys).

    Parameters
    ----------
    state : ptyxanes.ptycho.series.ReferenceState

    Returns
    -------
    arrays : dict
    """
    out = {
        "ref_index": np.asarray(state.index),
        "ref_convention": np.asarray(state.convention, bool),
        "ref_window": np.asarray(state.window),
        "ref_pixel": np.asarray(state.pixel, np.float64),
        "ref_probe": state.probe,
        "ref_quality": np.asarray(state.quality, np.float64),
    }
    if state.object is not None:
        out["ref_object"] = state.object
    return out


def reference_state(arrays: dict[str, NDArray[Any]]) -> Any:
    """The :class:`ptyxanes.ptycho.series.ReferenceState` of :func:`reference_state_arrays`.

    Parameters
    ----------
    arrays : dict

    Returns
    -------
    state : ptyxanes.ptycho.series.ReferenceState
    """
    from ptyxanes.ptycho.series import ReferenceState

    conv = arrays["ref_convention"]
    return ReferenceState(
        int(arrays["ref_index"]),
        (bool(conv[0]), bool(conv[1]), bool(conv[2])),
        int(arrays["ref_window"]),
        float(arrays["ref_pixel"]),
        arrays["ref_probe"],
        arrays.get("ref_object"),
        float(arrays["ref_quality"]),
    )


@portable
def series_reference(task: str, plan: Any) -> dict[str, NDArray[Any]]:
    """Reconstruct the reference scan of a series (:func:`ptyxanes.ptycho.series.reconstruct_reference`).

    Parameters
    ----------
    task : str
        Key for progress events.
    plan : ptyxanes.ptycho.series.SeriesPlan
        Of scans read lazily (:func:`ptyxanes.io.cxi.read_scan_series`): only
        the reference's frames are read, on the worker.

    Returns
    -------
    arrays : dict
        :func:`reference_state_arrays` and :func:`scan_result_arrays` of the reference.

    Raises
    ------
    FormatError
        A bad reference scan (empty or saturated frames) or a diverged reconstruction.
    """
    from ptyxanes.ptycho.series import reconstruct_reference, validate_scan

    validate_scan(plan.reference_job.scan, saturation=plan.series.saturation)
    state, res = run_sync(reconstruct_reference(plan, control=Control()), reporter(task))
    return {**reference_state_arrays(state), **scan_result_arrays(res)}


@portable
def series_scan(
    task: str, job: Any, reference: Any, params: Any, series: Any
) -> dict[str, NDArray[Any]]:
    """Reconstruct one other scan of a series (:func:`ptyxanes.ptycho.series.reconstruct_scan`).

    Parameters
    ----------
    task : str
        Key for progress events.
    job : ptyxanes.ptycho.series.ScanJob
        From the plan with the reference's convention; its frames are read
        lazily, on the worker.
    reference : ptyxanes.ptycho.series.ReferenceState
    params : ptyxanes.ptycho.PtychoParams
    series : ptyxanes.ptycho.series.SeriesParams

    Returns
    -------
    arrays : dict
        :func:`scan_result_arrays`.

    Raises
    ------
    FormatError
        A bad scan (empty or saturated frames) or a diverged reconstruction.
    """
    from ptyxanes.ptycho.series import reconstruct_scan, validate_scan

    validate_scan(job.scan, saturation=series.saturation)
    res = reconstruct_scan(
        job, reference, params, series, control=Control(), on_progress=reporter(task)
    )
    return scan_result_arrays(res)


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
    """Align and reconstruct the tilt series of one energy (:func:`ptyxanes.tomo.reconstruct_energy`).

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
        :func:`energy_volume_arrays` of the result.

    Raises
    ------
    ValueError
        As :func:`ptyxanes.tomo.reconstruct_energy` (failed alignment, empty volume).
    """
    from ptyxanes.tomo import reconstruct_energy

    proj, angles, n_e = _energy_projections(stack_path, energy_index, from_pixel, to_pixel)
    res = run_sync(reconstruct_energy(proj, angles, index=energy_index, count=n_e, **tomo),
                   reporter(task))
    return energy_volume_arrays(res)


def _energy_projections(stack_path: str, energy_index: int, from_pixel: float,
                        to_pixel: float | None) -> tuple[NDArray[np.float32], NDArray[Any], int]:
    """One energy's line integrals (A, M, N), the angles and the number of energies."""
    from ptyxanes.io.nexus import read_stack
    from ptyxanes.tomo import energy_line_integrals

    stack = read_stack(stack_path, lazy=True)
    try:
        raw = np.asarray(stack.data[energy_index])
        n_e = int(stack.data.shape[0])
    finally:
        _close(stack)
    proj = energy_line_integrals(raw, stack.kind, from_pixel, to_pixel)
    return proj, np.asarray(stack.angle, dtype=float), n_e


@portable
def tomo_align(
    task: str,
    stack_path: str,
    energy_index: int,
    from_pixel: float,
    to_pixel: float | None,
    tomo: dict[str, Any],
) -> dict[str, NDArray[Any]]:
    """Align the tilt series of one energy (:func:`ptyxanes.tomo.align_energy`), before its SIRT slabs.

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
        ``align``, ``center``, ``max_outer`` (others are ignored).

    Returns
    -------
    arrays : dict
        :func:`energy_volume_arrays` of the alignment (an empty ``volume``),
        ``sirt_center`` (the rotation axis given to SIRT, pixels),
        ``applied_shifts`` (when the projections are shifted), ``where``,
        ``shape`` (A, M, N) and ``mass``: the total of every projection the volume check
        compares with (float64, shape (A,)).

    Raises
    ------
    ValueError
        An alignment that moves most of the projected mass out of the field.
    """
    from ptyxanes.tomo import EnergyVolume, align_energy

    proj, angles, n_e = _energy_projections(stack_path, energy_index, from_pixel, to_pixel)
    kw = {k: tomo[k] for k in ("align", "center", "max_outer") if k in tomo}
    prep = run_sync(align_energy(proj, angles, index=energy_index, count=n_e, **kw),
                    reporter(task))
    out = energy_volume_arrays(EnergyVolume(np.zeros((0, 0, 0), np.float32), prep.alignment,
                                            prep.center, prep.notes))
    out["sirt_center"] = np.asarray(prep.sirt_center)
    if prep.shifts is not None:
        out["applied_shifts"] = np.asarray(prep.shifts, np.float64)
    out["where"] = np.asarray(prep.where)
    out["shape"] = np.asarray(proj.shape)
    out["mass"] = np.asarray(proj, dtype=np.float64).sum(axis=(1, 2))
    return out


@portable
def tomo_slab(
    task: str,
    stack_path: str,
    energy_index: int,
    from_pixel: float,
    to_pixel: float | None,
    rows: tuple[int, int],
    shifts: NDArray[np.float64] | None,
    sirt_center: float,
    iterations: int,
    from_fbp: bool = False,
) -> dict[str, NDArray[Any]]:
    """SIRT of one slab of detector rows of one energy (:func:`ptyxanes.tomo.sirt`).

    Parallel-beam slices are independent: the slab's volume equals the same
    rows of the whole energy's SIRT.

    Parameters
    ----------
    task : str
        Key for progress events.
    stack_path : str
        NeXus tilt-series stack; this energy is read whole (the alignment's
        vertical shifts move rows across slab borders), then cut to the slab.
    energy_index : int
    from_pixel, to_pixel : float
        As :func:`tomo_align`, m.
    rows : (int, int)
        First and one-past-last detector row of the slab.
    shifts : ndarray of shape (A, 2) or None
        The (row, col) shifts applied to the projections, pixels
        (:attr:`ptyxanes.tomo.EnergyAlignment.shifts`; None: none).
    sirt_center : float
        Rotation-axis column given to SIRT, pixels.
    iterations : int

    from_fbp : bool, optional
        Start SIRT from the non-negative part of the slab's FBP (``algorithm
        "auto"`` on wide slices, :func:`ptyxanes.tomo.auto_sirt`); the FBP is
        per slice too, so the slab still equals the same rows of the whole.

    Returns
    -------
    arrays : dict
        ``volume`` (P, rows[1] - rows[0], N), float32.
    """
    from ptyxanes.tomo import fbp, shift_projections, sirt

    proj, angles, _ = _energy_projections(stack_path, energy_index, from_pixel, to_pixel)
    if shifts is not None:
        proj = shift_projections(proj, shifts)
    slab = np.ascontiguousarray(proj[:, rows[0]:rows[1]])
    del proj
    initial = np.clip(fbp(slab, angles, center=sirt_center), 0, None) if from_fbp else None
    vol = run_sync(sirt(slab, angles, iterations=iterations, center=sirt_center, initial=initial),
                   reporter(task))
    return {"volume": vol}


def energy_volume_arrays(res: Any) -> dict[str, NDArray[Any]]:
    """A :class:`ptyxanes.tomo.EnergyVolume` as plain arrays (for the checkpoint and transfer).

    Parameters
    ----------
    res : ptyxanes.tomo.EnergyVolume

    Returns
    -------
    arrays : dict
        ``volume``, ``center``, ``notes``, ``method`` and, when aligned, ``shifts``,
        ``history``, ``converged``, ``align_center`` and the alignment's
        ``mass_kept`` / ``binning`` (its intermediate volume is not kept).
    """
    out: dict[str, NDArray[Any]] = {
        "volume": np.asarray(res.volume), "center": np.asarray(res.center, np.float64),
        "notes": np.asarray(res.notes, dtype=str),
        "method": np.asarray(getattr(res, "method", ""), dtype=str)}
    al = res.alignment
    if al is not None:
        out["shifts"] = np.asarray(al.shifts)
        out["align_center"] = np.asarray(al.center, np.float64)
        out["history"] = np.asarray(al.history, np.float64)
        out["converged"] = np.asarray(bool(al.converged))
        out["align_notes"] = np.asarray(tuple(al.attrs.get("notes", ())), dtype=str)
        for k in ("mass_kept", "binning"):
            if k in al.attrs:
                out[f"align_{k}"] = np.asarray(al.attrs[k])
    return out


def energy_volume(arrays: dict[str, NDArray[Any]]) -> Any:
    """The :class:`ptyxanes.tomo.EnergyVolume` of :func:`energy_volume_arrays`.

    Parameters
    ----------
    arrays : dict

    Returns
    -------
    result : ptyxanes.tomo.EnergyVolume
        Its alignment without the intermediate volume (shape (0, 0, 0)).
    """
    from ptyxanes.tomo import EnergyVolume, TiltAlignment

    al = None
    if "shifts" in arrays:
        attrs: dict[str, Any] = {"notes": tuple(str(n) for n in arrays["align_notes"])}
        for k in ("mass_kept", "binning"):
            if f"align_{k}" in arrays:
                attrs[k] = arrays[f"align_{k}"].item()
        al = TiltAlignment(arrays["shifts"], float(arrays["align_center"]),
                           np.zeros((0, 0, 0), np.float32), arrays["history"],
                           bool(arrays["converged"]), attrs)
    return EnergyVolume(arrays["volume"], al, float(arrays["center"]),
                        tuple(str(n) for n in arrays["notes"]),
                        str(arrays["method"]) if "method" in arrays else "")


def _close(stack: Any) -> None:
    """Close the HDF5 file behind a lazy stack (if any)."""
    f = getattr(getattr(stack.data, "file", None), "close", None)
    if f is not None:
        try:
            f()
        except Exception:  # noqa: BLE001 - already closed
            pass


# ----------------------------------------------------------------------------- XANES fit
def _read_block(stack_path: str, b0: int, b1: int) -> tuple[str, NDArray[Any]]:
    """Rows (planes) ``b0:b1`` of a stack as flat spectra (N, E), as the in-process fit reads them."""
    from ptyxanes.io.nexus import read_stack

    stack = read_stack(stack_path, lazy=True)
    try:
        block = np.asarray(stack.data[:, b0:b1])
    finally:
        _close(stack)
    return stack.kind, np.moveaxis(block, 0, -1).reshape(-1, block.shape[0])


@portable
def fit_first_pass(
    task: str,
    stack_path: str,
    b0: int,
    b1: int,
    plan: Any,
    sample: bool,
) -> dict[str, NDArray[Any]]:
    """First pass of the fit over one block of rows (planes) (:func:`ptyxanes.xanes.batch.first_pass_block`).

    Parameters
    ----------
    task : str
    stack_path : str
        NeXus stack (energy, ...); rows (planes) ``b0:b1`` are read.
    b0, b1 : int
    plan : ptyxanes.xanes.batch.FitPlan
        Before its first pass.
    sample : bool
        Also take the block's sample spectra for the ``auto`` method (when
        the mask does not wait for the first pass).

    Returns
    -------
    arrays : dict
        ``jumps``, ``wsum``, ``wtot`` as the plan needs them; with ``sample``
        also ``sample_mu`` and ``sample_jump``.
    """
    from ptyxanes.xanes.batch import first_pass_block, sample_block

    kind, spectra = _read_block(stack_path, b0, b1)
    out = first_pass_block(spectra, kind, plan)
    if sample:
        out["sample_mu"], out["sample_jump"] = sample_block(spectra, kind, plan)
    reporter(task)(Progress(1, 1, "edge jumps"))
    return out


@portable
def fit_sample(task: str, stack_path: str, b0: int, b1: int, plan: Any
               ) -> dict[str, NDArray[Any]]:
    """Sample spectra of one block for the ``auto`` method (:func:`ptyxanes.xanes.batch.sample_block`).

    Parameters
    ----------
    task : str
    stack_path : str
    b0, b1 : int
    plan : ptyxanes.xanes.batch.FitPlan
        After its first pass.

    Returns
    -------
    arrays : dict
        ``sample_mu`` (K, E) and ``sample_jump`` (K,).
    """
    from ptyxanes.xanes.batch import sample_block

    kind, spectra = _read_block(stack_path, b0, b1)
    mu, jump = sample_block(spectra, kind, plan)
    reporter(task)(Progress(1, 1, "sample spectra"))
    return {"sample_mu": mu, "sample_jump": jump}


@portable
def fit_block(task: str, stack_path: str, b0: int, b1: int, decision: Any
              ) -> dict[str, NDArray[Any]]:
    """Fit the spectra of one block with the map's decision (:func:`ptyxanes.xanes.batch.fit_block`).

    Parameters
    ----------
    task : str
    stack_path : str
        NeXus stack (energy, ...); rows (planes) ``b0:b1`` are read.
    b0, b1 : int
    decision : ptyxanes.xanes.batch.FitDecision
        Mask, method, shape and calibration of the whole map.

    Returns
    -------
    arrays : dict
        The fields of :class:`ptyxanes.xanes.batch.ChunkFit` (floats as
        float32, as the maps keep them; ``template`` only when set).
    """
    from dataclasses import fields

    from ptyxanes.xanes.batch import fit_block as fit_one

    kind, spectra = _read_block(stack_path, b0, b1)
    res = fit_one(spectra, kind, decision)
    reporter(task)(Progress(1, 1, f"fitted {spectra.shape[0]} spectra"))
    out: dict[str, NDArray[Any]] = {}
    for f in fields(res):
        v = getattr(res, f.name)
        if v is None:
            continue
        v = np.asarray(v)
        out[f.name] = v.astype(np.float32) if f.name not in ("status", "template") else v
    return out


def chunk_fit(arrays: dict[str, NDArray[Any]]) -> Any:
    """The :class:`ptyxanes.xanes.batch.ChunkFit` of :func:`fit_block`'s arrays.

    Parameters
    ----------
    arrays : dict

    Returns
    -------
    chunk : ptyxanes.xanes.batch.ChunkFit
    """
    from ptyxanes.xanes.batch import ChunkFit

    return ChunkFit(**{k: arrays[k] for k in ("edge", "sigma", "jump", "r2", "status",
                                             "valence", "vsigma")},
                    template=arrays.get("template"))


#: The per-pixel maps of :class:`ptyxanes.xanes.XanesResult`.
FIT_MAPS = ("valence", "valence_sigma", "edge_energy", "edge_jump", "edge_sigma", "fit_quality",
            "status", "mask")


# ----------------------------------------------------------------------------- 2D registration
def _registration_input(stack_path: str, energy_index: int, target: float,
                        shape: tuple[int, ...]) -> NDArray[Any]:
    """One energy of a stack on the common pixel size and shape (as :func:`rescale_stack`)."""
    from ptyxanes.align.registration import rescale_image
    from ptyxanes.io.nexus import read_stack

    stack = read_stack(stack_path, lazy=True)
    try:
        image = np.asarray(stack.data[energy_index])
    finally:
        _close(stack)
    ps = float(np.asarray(stack.pixel_size, dtype=float)[energy_index])
    return rescale_image(image, ps, target, shape=shape)


@portable
def register_shift(task: str, stack_path: str, energy_index: int, partner: int, target: float,
                   shape: tuple[int, ...], channel: str, upsample_factor: int
                   ) -> dict[str, NDArray[Any]]:
    """The shift of one energy onto its partner (:func:`ptyxanes.align.registration.registration_shift`).

    Parameters
    ----------
    task : str
    stack_path : str
        NeXus stack (energy, row, col); only the two energies are read.
    energy_index, partner : int
        The energy and the one it is registered to (the reference, or the
        previous energy when chained).
    target : float
        Common pixel size, m.
    shape : tuple of int
        Common image shape (:func:`ptyxanes.align.registration.rescaled_shape`).
    channel : str
    upsample_factor : int

    Returns
    -------
    arrays : dict
        ``shift`` (D,), pixels.
    """
    from ptyxanes.align.registration import registration_image, registration_shift

    ref = registration_image(_registration_input(stack_path, partner, target, shape), channel)
    mov = registration_image(_registration_input(stack_path, energy_index, target, shape),
                             channel)
    reporter(task)(Progress(1, 1, "registered"))
    return {"shift": registration_shift(ref, mov, upsample_factor)}


@portable
def register_residual(task: str, stack_path: str, energy_index: int, shift: NDArray[Any],
                      partner: int, partner_shift: NDArray[Any] | None, target: float,
                      shape: tuple[int, ...], channel: str) -> dict[str, NDArray[Any]]:
    """The residual of one registered energy (:func:`ptyxanes.align.registration.registration_residual`).

    Parameters
    ----------
    task : str
    stack_path : str
    energy_index : int
    shift : ndarray of shape (D,)
        Its final shift, pixels.
    partner : int
        The energy it is compared with.
    partner_shift : ndarray of shape (D,) or None
        The partner's shift when chained (None: the partner is not shifted).
    target : float
        Common pixel size, m.
    shape : tuple of int
    channel : str

    Returns
    -------
    arrays : dict
        ``residual`` (scalar).
    """
    from ptyxanes.align.registration import (
        registration_image,
        registration_residual,
        shift_image,
    )

    other = registration_image(_registration_input(stack_path, partner, target, shape), channel)
    if partner_shift is not None:
        other = shift_image(other, partner_shift, "fourier")
    mov = registration_image(_registration_input(stack_path, energy_index, target, shape),
                             channel)
    reporter(task)(Progress(1, 1, "residual"))
    return {"residual": np.asarray(registration_residual(mov, shift, other))}


@portable
def register_apply(task: str, stack_path: str, energy_index: int, shift: NDArray[Any],
                   target: float, shape: tuple[int, ...], method: str,
                   region: tuple[slice, ...]) -> dict[str, NDArray[Any]]:
    """One energy shifted and cropped to the common valid region (as :func:`apply_shifts`).

    Parameters
    ----------
    task : str
    stack_path : str
    energy_index : int
    shift : ndarray of shape (D,)
        Pixels.
    target : float
        Common pixel size, m.
    shape : tuple of int
    method : {"fourier", "spline"}
    region : tuple of slice
        :func:`ptyxanes.align.registration.valid_region` of all the shifts.

    Returns
    -------
    arrays : dict
        ``image``: the aligned image.
    """
    from ptyxanes.align.registration import shift_image

    image = _registration_input(stack_path, energy_index, target, shape)
    reporter(task)(Progress(1, 1, "shifted"))
    return {"image": shift_image(image, shift, method)[region]}  # type: ignore[arg-type]
