"""The pipeline on Dask workers: one task per scan, per energy and per block of pixels.

The client plans the work, submits one task per independent piece, keeps
every finished piece in the checkpoint directory as it arrives, combines the
pieces exactly as the in-process stages do, and writes the project file once
(atomically) at the end:

=============  =====================================  ================================
stage          one task per                           combined on the client
=============  =====================================  ================================
reconstruct    scan (energy[, angle]); the reference  stack assembled, background
               scan first, the others warm-started    normalised, written to the
               from its probe                         checkpoint as a NeXus stack
align (2D)     --                                     runs on the client (one small
                                                      (E, M, N) stack)
tomo (3D)      energy: rescale, align the tilt        volumes registered in 3D,
               series, SIRT                           written as a NeXus stack
fit            block of rows (planes): edge jumps,    Otsu threshold and shared edge
               then the fit with the map's            shape from the first pass;
               threshold and shape                    maps concatenated
=============  =====================================  ================================

Workers read their inputs by path (lazy HDF5: only their scan, energy or
block), so the file system must be shared between client and workers.
"""

from __future__ import annotations

import logging
import queue
import shutil
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.distributed import tasks
from ptyxanes.distributed.backend import ComputeBackend, SchedulerLost, dashboard_link
from ptyxanes.distributed.checkpoint import CheckpointStore, file_signature, task_hash
from ptyxanes.io.errors import FormatError
from ptyxanes.io.project import Project, save_project
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Cancelled, Control, Progress, sub_progress
from ptyxanes.provenance import provenance

logger = logging.getLogger(__name__)

#: Spectra per fit task (the in-process fit's chunk, so that the maps are identical).
FIT_CHUNK_SPECTRA = 131072

#: Seconds the client waits for a lost scheduler connection to come back.
RECONNECT_GRACE_S = 10.0


@dataclass
class RunStats:
    """What a distributed run did, per stage.

    Attributes
    ----------
    computed : dict of str to int
        Tasks run on the workers.
    skipped : dict of str to int
        Tasks loaded from the checkpoint directory instead.
    checkpoint : str
        The checkpoint directory used.
    dashboard : str or None
        The Dask dashboard address.
    """

    computed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    checkpoint: str = ""
    dashboard: str | None = None


@dataclass(frozen=True)
class _Task:
    key: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    label: str


class _Session:
    """A client, the checkpoint store and the per-task progress events of one run."""

    def __init__(self, client: Any, store: CheckpointStore, control: Control,
                 stats: RunStats) -> None:
        self.client = client
        self.store = store
        self.control = control
        self.stats = stats
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.last_tomo: Any = None
        self.address = str(getattr(client.scheduler, "address", "") or client.scheduler_info()
                           .get("address", "?"))
        client.subscribe_topic(tasks.PROGRESS_TOPIC, self._on_event)

    def _on_event(self, event: Any) -> None:
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if isinstance(msg, dict):
            self.events.put(msg)

    def close(self) -> None:
        try:
            self.client.unsubscribe_topic(tasks.PROGRESS_TOPIC)
        except Exception:  # noqa: BLE001 - client already gone
            pass

    def lost(self) -> SchedulerLost:
        return SchedulerLost(self.address, str(self.store.directory))

    def run(self, stage: str, todo: Sequence[_Task]
            ) -> Generator[Progress, None, dict[str, dict[str, NDArray[Any]]]]:
        """Run tasks (skipping the stored ones); yield progress; return key -> arrays."""
        results: dict[str, dict[str, NDArray[Any]]] = {}
        pending_tasks = []
        for t in todo:
            if self.store.has(t.key):
                results[t.key] = self.store.load(t.key)
                self.stats.skipped[stage] = self.stats.skipped.get(stage, 0) + 1
            else:
                pending_tasks.append(t)
        self.stats.skipped.setdefault(stage, 0)
        self.stats.computed.setdefault(stage, 0)
        if results:
            logger.info("%s: %d of %d tasks from the checkpoint", stage, len(results), len(todo))
        total = float(len(todo))
        futures: dict[Any, _Task] = {}
        try:
            for t in pending_tasks:
                fut = self.client.submit(t.func, t.key, *t.args, pure=False,
                                         key=f"{t.key}-{uuid.uuid4().hex[:8]}")
                futures[fut] = t
        except (OSError, RuntimeError) as exc:
            raise self.lost() from exc
        by_key = {t.key: t for t in pending_tasks}
        fraction: dict[str, float] = dict.fromkeys(by_key, 0.0)
        pending = set(futures)
        message = f"{len(results)}/{len(todo)} {stage} tasks done"
        since_lost: float | None = None
        try:
            yield Progress(len(results), total, message, stage)
            while pending:
                self.control.check()
                while True:
                    try:
                        ev = self.events.get_nowait()
                    except queue.Empty:
                        break
                    k = ev.get("task")
                    if k in fraction and ev.get("total", 0) > 0:
                        fraction[k] = min(1.0, ev["done"] / ev["total"])
                        text = str(ev.get("message", ""))
                        label = by_key[k].label
                        message = text if text.startswith(label) else f"{label}: {text}"
                # "lost": its result died with a worker and is being recomputed elsewhere
                for fut in [f for f in pending if f.status in ("finished", "error", "cancelled")]:
                    t = futures[fut]
                    if fut.status == "finished":
                        try:
                            arrays = fut.result()
                        except Exception as exc:  # noqa: BLE001 - connection lost mid-transfer
                            raise self.lost() from exc
                        self.store.save(t.key, arrays)
                        results[t.key] = arrays
                        fraction.pop(t.key, None)
                        self.stats.computed[stage] += 1
                        pending.discard(fut)
                        fut.release()
                        message = f"{t.label} done"
                    elif fut.status == "error":
                        exc = fut.exception()
                        raise exc
                    else:  # cancelled: the scheduler forgot it
                        raise self.lost()
                status = getattr(self.client, "status", "running")
                if status != "running":
                    since_lost = since_lost or time.monotonic()
                    if status in ("closed", "closing") or \
                            time.monotonic() - since_lost > RECONNECT_GRACE_S:
                        raise self.lost()
                else:
                    since_lost = None
                done = len(results) + sum(fraction.values())
                yield Progress(min(done, total), total, message, stage)
                if pending:
                    time.sleep(0.2)
            yield Progress(total, total, f"{len(todo)}/{len(todo)} {stage} tasks done", stage)
        finally:
            left = [f for f in pending if f.status == "pending"]
            if left:
                try:
                    self.client.cancel(left)
                except Exception:  # noqa: BLE001 - client already gone
                    pass
        return results


# ----------------------------------------------------------------------------- reconstruct
def _reconstruct(
    s: _Session, scan_dir: Path, reconstruct: dict[str, Any]
) -> Generator[Progress, None, ImageStack]:
    """Reconstruct every scan as its own task (the reference scan first)."""
    from ptyxanes.io.cxi import read_scan_series
    from ptyxanes.ptycho import PtychoParams
    from ptyxanes.ptycho.series import (
        SeriesParams,
        _fit,
        _plan,
        _resample,
        check_series,
        normalize_background,
        rescale_probe,
        validate_scan,
    )

    engine_keys = {f.name for f in fields(PtychoParams)}
    series_keys = {f.name for f in fields(SeriesParams)}
    unknown = set(reconstruct) - engine_keys - series_keys
    if unknown:
        raise ValueError(f"unknown reconstruct parameters {sorted(unknown)}")
    params = PtychoParams(**{k: v for k, v in reconstruct.items() if k in engine_keys})
    sp = SeriesParams(**{k: v for k, v in reconstruct.items() if k in series_keys})
    scans = read_scan_series(scan_dir)
    energies, angles = check_series(scans)
    for sc in scans:  # positions and shapes here; the frames are checked by each task
        validate_scan(sc, saturation=sp.saturation, check_frames=False)
    jobs, out_shape, out_px = _plan(scans, sp)
    if angles is None:
        ref = jobs[len(jobs) // 2]
    else:
        mid = energies[len(energies) // 2]
        ref = jobs[int(np.argmin([abs(sc.energy - mid) + 1e6 * (sc.angle != angles[0])
                                  for sc in scans]))]
    warm_it = sp.warm_iterations or params.iterations
    wparams = replace(params, iterations=warm_it)

    def task(j: Any, p: Any, probe: Any, obj: Any) -> _Task:
        path = str(j.scan.path)
        key = f"reconstruct-{j.index:05d}-" + task_hash(
            p, sp, file_signature(path), j.window, j.pixel, j.corners, j.shape,
            "warm" if j.index != ref.index else "reference")
        return _Task(key, tasks.reconstruct_scan,
                     (path, j.index, j.window, j.pixel, j.corners, j.shape, p, sp, probe, obj),
                     Path(path).name)

    n = len(jobs)
    ref_task = task(ref, params, None, None)
    got = yield from sub_progress(s.run("reconstruct", [ref_task]), 0, 1, n, "reconstruct")
    base = got[ref_task.key]
    others = []
    for j in jobs:
        if j.index == ref.index:
            continue
        probe = (rescale_probe(base["probe"], ref.pixel, j.pixel, (j.window, j.window))
                 if sp.warm_start else None)
        obj = None
        if sp.warm_object:
            bo = base["object"]
            obj = _fit(_resample(bo, ref.pixel, j.pixel,
                                 (int(bo.shape[0] * ref.pixel / j.pixel),
                                  int(bo.shape[1] * ref.pixel / j.pixel))), j.shape)
        others.append(task(j, wparams, probe, obj))
    rest = yield from sub_progress(s.run("reconstruct", others), 1, n - 1, n, "reconstruct")
    done = {**rest, ref_task.key: base}
    keys = {ref.index: ref_task.key, **{j.index: t.key for j, t in
                                         zip([j for j in jobs if j.index != ref.index], others,
                                             strict=True)}}
    n_e, n_a = len(energies), 1 if angles is None else len(angles)
    out = np.ones((n_e, n_a, *out_shape), np.complex64)
    native = np.zeros((n_e, n_a))
    for j in jobs:
        r = done[keys[j.index]]
        e_i = int(np.argmin(np.abs(energies - j.scan.energy)))
        a_i = 0 if angles is None else int(np.argmin(np.abs(angles - float(j.scan.angle))))
        o = r["object"]
        if not (np.all(np.isfinite(o)) and np.all(np.isfinite(r["probe"]))):
            raise FormatError(j.scan.path or "<scan>", "reconstruction diverged (non-finite values)")
        if sp.normalize:
            o = normalize_background(o, r["illumination"])
        if sp.pixel_mode == "native" and sp.pixel_size:
            o = _resample(o, j.pixel, out_px, (int(round(o.shape[0] * j.pixel / out_px)),
                                               int(round(o.shape[1] * j.pixel / out_px))))
        out[e_i, a_i] = _fit(o, out_shape)
        native[e_i, a_i] = j.pixel
    pix = np.full(n_e, out_px) if (sp.pixel_mode == "native" and sp.pixel_size) \
        else native.mean(axis=1)
    stack = out[:, 0] if angles is None else out
    dims = ("energy", "row", "col") if angles is None else ("energy", "angle", "row", "col")
    return ImageStack(stack, np.asarray(energies), np.asarray(pix), kind="complex", angle=angles,
                      dims=dims, attrs={"source": str(scan_dir)})


# ----------------------------------------------------------------------------- tomo
_TOMO_KEYS = ("pixel_size", "algorithm", "iterations", "align", "center", "max_outer", "register")


def _tomo(
    s: _Session, stack_path: Path, stack: ImageStack, tomo: dict[str, Any]
) -> Generator[Progress, None, tuple[ImageStack, dict[str, NDArray[Any]]]]:
    """Align and reconstruct every energy as its own task, then register on the client."""
    from ptyxanes.align.registration import register_volumes

    unknown = set(tomo) - set(_TOMO_KEYS)
    if unknown:
        raise ValueError(f"unknown tomo parameters {sorted(unknown)}")
    if not stack.is_3d or stack.angle is None:
        raise ValueError(f"the 3D pipeline needs an (energy, angle, row, col) tilt series, got "
                         f"shape {tuple(stack.data.shape)}")
    if tomo.get("algorithm", "sirt") not in ("sirt", "fbp"):
        raise ValueError(f"algorithm must be 'sirt' or 'fbp', got {tomo.get('algorithm')!r}")
    ps = np.asarray(stack.pixel_size, dtype=float)
    pixel_size = tomo.get("pixel_size")
    if pixel_size is None and np.ptp(ps) > 1e-3 * ps.mean():
        pixel_size = float(ps.max())
    pixel = float(pixel_size) if pixel_size is not None else float(ps.mean())
    per_energy = {k: tomo[k] for k in ("algorithm", "iterations", "align", "center", "max_outer")
                  if k in tomo}
    sig = file_signature(stack_path)
    todo = []
    for e in range(stack.n_energies):
        key = f"tomo-{e:04d}-" + task_hash(sig, e, float(ps[e]), pixel_size, per_energy)
        todo.append(_Task(key, tasks.tomo_energy,
                          (str(stack_path), e, float(ps[e]), pixel_size, per_energy),
                          f"energy {float(stack.energy[e]):.2f} eV"))
    n_e = stack.n_energies
    total = float(n_e + 1)
    got = yield from sub_progress(s.run("tomo", todo), 0, n_e, total, "tomo")
    vols = np.stack([got[t.key]["volume"] for t in todo])
    table: dict[str, NDArray[Any]] = {"energy": np.asarray(stack.energy, dtype=float)}
    reg = None
    if tomo.get("register", True) and n_e > 1:
        vols, reg = yield from sub_progress(register_volumes(vols, control=s.control), n_e, 1,
                                            total, "register")
        for i, ax in enumerate(("plane", "row", "col")):
            table[f"shifts_{ax}"] = reg.shifts[:, i]
    vols = vols.astype(np.float32)
    s.last_tomo = (got, todo, reg, vols)
    mu = np.clip(vols, 0, None) / pixel
    out = ImageStack(mu.astype(np.float32), np.asarray(stack.energy, dtype=float),
                     np.full(n_e, pixel), kind="absorption", dims=("energy", "plane", "row", "col"))
    return out, table


# ----------------------------------------------------------------------------- fit
def _fit(
    s: _Session, stack_path: Path, stack: ImageStack, fit: dict[str, Any],
    references: Sequence[tuple[float, str]], chunk_spectra: int,
) -> Generator[Progress, None, Any]:
    """The pipeline's fit stage: options and references as the in-process stage reads them."""
    from ptyxanes.pipeline import load_references
    from ptyxanes.xanes import FitOptions, calibrate_references

    fit_kw = dict(fit)
    threshold = fit_kw.pop("threshold", "otsu")
    opts = FitOptions(**fit_kw)
    energy = np.asarray(stack.energy, np.float64)
    calibration = calibrate_references(load_references(references), energy=energy, options=opts)
    return (yield from _fit_blocks(s, stack_path, stack, opts, calibration, threshold,
                                   chunk_spectra))


def _fit_blocks(
    s: _Session, stack_path: Path, stack: ImageStack, opts: Any, calibration: Any,
    threshold: float | str | None, chunk_spectra: int,
) -> Generator[Progress, None, Any]:
    """XANES fit in blocks of rows (planes): a first pass for the threshold and shape, then fits."""
    from ptyxanes.xanes import XanesResult, otsu_threshold
    from ptyxanes.xanes.batch import fit_template, shared_calibration

    energy = np.asarray(stack.energy, np.float64)
    shape = tuple(int(x) for x in stack.data.shape)
    spatial = shape[1:]
    lead = spatial[0]
    per_lead = int(np.prod(spatial[1:])) if len(spatial) > 1 else 1
    step = max(1, chunk_spectra // max(per_lead, 1))
    blocks = [(b, min(b + step, lead)) for b in range(0, lead, step)]
    sig = file_signature(stack_path)
    need_mean = opts.uses_template
    two_pass = threshold == "otsu" or need_mean
    n_b = len(blocks)
    total = float((2 if two_pass else 1) * n_b)
    thr: float | None = None if threshold in (None, "otsu") else float(threshold)
    shared = None
    if two_pass:
        first = [_Task(f"fitpass-{i:05d}-" + task_hash(sig, b0, b1, opts, need_mean),
                       tasks.fit_edge_jumps, (str(stack_path), b0, b1, opts, need_mean),
                       f"rows {b0}-{b1 - 1}") for i, (b0, b1) in enumerate(blocks)]
        got = yield from sub_progress(s.run("fit", first), 0, n_b, total, "fit")
        if threshold == "otsu":
            thr = otsu_threshold(np.concatenate([got[t.key]["jumps"] for t in first]))
            logger.info("Otsu edge-jump threshold %.4g", thr)
        if need_mean:
            wsum = np.zeros((tasks.JUMP_BINS.size + 1, energy.size))
            wtot = np.zeros(tasks.JUMP_BINS.size + 1)
            for t in first:  # summed in block order, as the in-process fit does
                wsum += got[t.key]["wsum"]
                wtot += got[t.key]["wtot"]
            above = np.searchsorted(tasks.JUMP_BINS, thr) if thr is not None else 0
            tot = float(wtot[above:].sum())
            try:
                if not tot > 0:
                    raise ValueError("no pixel with an edge jump above the threshold")
                shared = fit_template(energy, wsum[above:].sum(0) / tot, opts)
            except ValueError as exc:
                logger.warning("shared shape unavailable (%s): every pixel fitted freely", exc)
                opts = replace(opts, shape="free")
    second = [_Task(f"fit-{i:05d}-" + task_hash(sig, b0, b1, opts, calibration, thr, shared),
                    tasks.fit_block,
                    (str(stack_path), b0, b1, opts, calibration, thr, shared),
                    f"rows {b0}-{b1 - 1}") for i, (b0, b1) in enumerate(blocks)]
    got = yield from sub_progress(s.run("fit", second), total - n_b, n_b, total, "fit")
    maps = {k: np.concatenate([got[t.key][k] for t in second]) for k in tasks.FIT_MAPS}
    if shared is not None:
        calibration = shared_calibration(calibration, shared, opts)
    return XanesResult(
        valence=maps["valence"], valence_sigma=maps["valence_sigma"],
        edge_energy=maps["edge_energy"], edge_jump=maps["edge_jump"],
        edge_sigma=maps["edge_sigma"], fit_quality=maps["fit_quality"],
        status=maps["status"].astype(np.uint8), mask=maps["mask"].astype(bool),
        threshold=float(thr) if thr is not None else float("nan"), calibration=calibration,
        options=opts, template=shared,
        info={"n_spectra": int(np.prod(spatial)), "shape": opts.shape, "tasks": n_b})


def fit_stack_distributed(
    stack: ImageStack,
    *,
    options: Any = None,
    calibration: Any = None,
    threshold: float | str | None = "otsu",
    chunk_spectra: int = FIT_CHUNK_SPECTRA,
    control: Control | None = None,
    backend: ComputeBackend | None = None,
    client: Any = None,
    checkpoint: str | Path | None = None,
    stats: RunStats | None = None,
) -> Generator[Progress, None, Any]:
    """:func:`ptyxanes.xanes.fit_stack` on Dask workers, one task per block of rows (planes).

    Parameters
    ----------
    stack : ImageStack
        Read from a file (``attrs["source_file"]``, as :func:`ptyxanes.io.nexus.read_stack`
        sets it): the workers read their blocks from that file.
    options, calibration, threshold, chunk_spectra, control
        As :func:`ptyxanes.xanes.fit_stack`; the maps are identical to it.
    backend : ComputeBackend, optional
        Where to run, unless ``client`` is given.
    client : distributed.Client, optional
    checkpoint : path-like, optional
        Directory of finished blocks (default: a temporary one, removed at the end).
    stats : RunStats, optional

    Returns
    -------
    result : ptyxanes.xanes.XanesResult

    Raises
    ------
    ValueError
        A stack that was not read from a file.
    SchedulerLost
    """
    import tempfile

    from ptyxanes.xanes import FitOptions

    source = stack.attrs.get("source_file")
    if not source:
        raise ValueError("the distributed fit needs a stack read from a file (workers read it)")
    if client is None and (backend is None or not backend.distributed):
        raise ValueError("fit_stack_distributed needs a client or a backend with workers or a "
                         "scheduler")
    stats = stats if stats is not None else RunStats()
    ckpt = Path(checkpoint) if checkpoint is not None else Path(tempfile.mkdtemp(
        prefix="ptyxanes-fit-"))
    store = CheckpointStore(ckpt)
    stats.checkpoint = str(ckpt)

    def run(c: Any) -> Generator[Progress, None, Any]:
        s = _Session(c, store, control or Control(), stats)
        stats.dashboard = dashboard_link(c)
        try:
            res = yield from _fit_blocks(s, Path(source), stack, options or FitOptions(),
                                         calibration, threshold, chunk_spectra)
        finally:
            s.close()
        shp = tuple(int(x) for x in stack.data.shape[1:])
        return replace(res, **{k: getattr(res, k).reshape(shp) for k in tasks.FIT_MAPS})

    try:
        if client is None:
            assert backend is not None
            with backend.connect() as own:
                result = yield from run(own)
        else:
            result = yield from run(client)
    finally:
        if checkpoint is None:
            shutil.rmtree(ckpt, ignore_errors=True)
    return result


def reconstruct_tilt_stack_distributed(
    stack: ImageStack,
    *,
    control: Control | None = None,
    backend: ComputeBackend | None = None,
    client: Any = None,
    checkpoint: str | Path | None = None,
    stats: RunStats | None = None,
    **tomo: Any,
) -> Generator[Progress, None, tuple[ImageStack, Any]]:
    """:func:`ptyxanes.tomo.reconstruct_tilt_stack` with one Dask task per energy.

    Parameters
    ----------
    stack : ImageStack
        Tilt series read from a file (``attrs["source_file"]``); each worker
        reads its energy from that file.
    control : Control, optional
    backend : ComputeBackend, optional
        Where to run, unless ``client`` is given.
    client : distributed.Client, optional
    checkpoint : path-like, optional
        Directory of finished energies (default: a temporary one, removed at the end).
    stats : RunStats, optional
    **tomo
        ``pixel_size``, ``algorithm``, ``iterations``, ``align``, ``center``,
        ``max_outer``, ``register`` as :func:`~ptyxanes.tomo.reconstruct_tilt_stack`.

    Returns
    -------
    volumes : ImageStack
        Identical to the in-process result.
    result : ptyxanes.tomo.EnergySeriesVolumes
        Alignments (without their intermediate volumes) and the 3D registration.

    Raises
    ------
    ValueError
        Not a tilt series, or a stack not read from a file.
    SchedulerLost
    """
    import tempfile

    from ptyxanes.tomo import EnergySeriesVolumes, TiltAlignment

    source = stack.attrs.get("source_file")
    if not source:
        raise ValueError("the distributed tomography needs a stack read from a file")
    if client is None and (backend is None or not backend.distributed):
        raise ValueError("reconstruct_tilt_stack_distributed needs a client or a backend with "
                         "workers or a scheduler")
    stats = stats if stats is not None else RunStats()
    ckpt = Path(checkpoint) if checkpoint is not None else Path(tempfile.mkdtemp(
        prefix="ptyxanes-tomo-"))
    store = CheckpointStore(ckpt)
    stats.checkpoint = str(ckpt)

    def run(c: Any) -> Generator[Progress, None, tuple[ImageStack, Any]]:
        s = _Session(c, store, control or Control(), stats)
        stats.dashboard = dashboard_link(c)
        try:
            out, _ = yield from _tomo(s, Path(source), stack, dict(tomo))
        finally:
            s.close()
        got, todo, reg, vols = s.last_tomo
        alignments = tuple(
            TiltAlignment(got[t.key]["shifts"], float(got[t.key]["center"]),
                          np.zeros((0, 0, 0), np.float32), got[t.key]["history"],
                          bool(got[t.key]["converged"]))
            if "shifts" in got[t.key] else None for t in todo)
        return out, EnergySeriesVolumes(vols, alignments, reg)

    try:
        if client is None:
            assert backend is not None
            with backend.connect() as own:
                result = yield from run(own)
        else:
            result = yield from run(client)
    finally:
        if checkpoint is None:
            shutil.rmtree(ckpt, ignore_errors=True)
    return result


# ----------------------------------------------------------------------------- pipeline
def default_checkpoint(output: str | Path) -> Path:
    """The checkpoint directory used when none is given: ``<output>.checkpoint`` beside it.

    Parameters
    ----------
    output : path-like

    Returns
    -------
    directory : pathlib.Path
    """
    out = Path(output)
    return out.with_name(out.name + ".checkpoint")


def run_pipeline_distributed(
    dim: str,
    source: str | Path,
    output: str | Path,
    params: Any = None,
    *,
    backend: ComputeBackend | None = None,
    client: Any = None,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    control: Control | None = None,
    stats: RunStats | None = None,
    chunk_spectra: int = FIT_CHUNK_SPECTRA,
) -> Generator[Progress, None, Project]:
    """Run :func:`ptyxanes.pipeline.run_pipeline`'s stages on Dask workers.

    Parameters
    ----------
    dim : {"2d", "3d"}
    source : path-like
        A folder of CXI scans or a NeXus stack file, as for the in-process pipeline.
    output : path-like
        Project file, written once by this process when every stage is done.
    params : ptyxanes.pipeline.PipelineParams, optional
    backend : ComputeBackend, optional
        Where to run (``workers`` or ``scheduler`` set). Ignored with ``client``.
    client : distributed.Client, optional
        An existing client (e.g. the GUI's); it is left open.
    checkpoint : path-like, optional
        Directory of finished tasks (default ``<output>.checkpoint``, removed
        after a successful run; a given one is kept). Running again with the
        same directory skips the finished tasks.
    overwrite : bool, optional
        Replace an existing ``output``.
    control : Control, optional
        Cancellation (checked every 0.2 s; running tasks are cancelled).
    stats : RunStats, optional
        Filled with the computed / skipped task counts per stage.
    chunk_spectra : int, optional
        Spectra per fit task (the in-process fit's chunk by default, which
        gives identical maps).

    Yields
    ------
    progress : Progress
        Per stage, with the running task's own progress in the message.

    Returns
    -------
    project : Project

    Raises
    ------
    SchedulerLost
        The scheduler went away; the message names the checkpoint directory
        to resume from.
    ValueError, FormatError
        As the in-process pipeline (raised by the task that met the problem).
    """
    from ptyxanes.io.nexus import read_stack, write_stack
    from ptyxanes.pipeline import STAGES, PipelineParams
    from ptyxanes.xanes.results import calibration_table, result_maps

    control = control or Control()
    params = params or PipelineParams()
    stats = stats if stats is not None else RunStats()
    if dim not in STAGES:
        raise ValueError(f"dim must be '2d' or '3d', got {dim!r}")
    output, source = Path(output), Path(source)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; use --overwrite to replace it")
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if client is None and (backend is None or not backend.distributed):
        raise ValueError("run_pipeline_distributed needs a client or a backend with workers "
                         "or a scheduler")
    ckpt = Path(checkpoint) if checkpoint is not None else default_checkpoint(output)
    store = CheckpointStore(ckpt)
    stats.checkpoint = str(ckpt)
    try:
        if client is None:
            assert backend is not None
            with backend.connect() as own:
                project = yield from _pipeline(own, store, dim, source, output, params,
                                               overwrite, control, stats, chunk_spectra,
                                               read_stack, write_stack, STAGES, result_maps,
                                               calibration_table)
        else:
            project = yield from _pipeline(client, store, dim, source, output, params, overwrite,
                                           control, stats, chunk_spectra, read_stack,
                                           write_stack, STAGES, result_maps, calibration_table)
    except BaseException:
        if checkpoint is None and ckpt.is_dir() and not any(ckpt.iterdir()):
            ckpt.rmdir()  # nothing finished: leave no empty folder behind
        raise
    if checkpoint is None:
        shutil.rmtree(ckpt, ignore_errors=True)
    return project


def _keep(store: CheckpointStore, name: str, stack: ImageStack, write_stack: Any,
          *inputs: Any) -> Path:
    """Keep a stage's combined stack in the checkpoint (once), for the next stage's tasks."""
    path = store.directory / f"{name}-{task_hash(*inputs)}.nxs"
    if not path.exists():
        write_stack(path, stack)
    return path


def _pipeline(client: Any, store: CheckpointStore, dim: str, source: Path, output: Path,
              params: Any, overwrite: bool, control: Control, stats: RunStats,
              chunk_spectra: int, read_stack: Any, write_stack: Any, stages_of: Any,
              result_maps: Any, calibration_table: Any) -> Generator[Progress, None, Project]:
    s = _Session(client, store, control, stats)
    stats.dashboard = dashboard_link(client)
    try:
        project = Project()
        project.inputs["source"] = str(source.resolve())
        stages = stages_of[dim] if source.is_dir() else stages_of[dim][1:]
        n = len(stages)
        current: ImageStack | None = None
        current_path: Path | None = None
        if not source.is_dir():
            current, current_path = read_stack(source, lazy=False), source
        for i, stage in enumerate(stages):
            control.check()
            logger.info("pipeline %s on Dask: stage %s", dim, stage)
            if stage == "reconstruct":
                current = yield from sub_progress(_reconstruct(s, source, params.reconstruct),
                                                  i, 1, n, stage)
                project.stacks["reconstructed"] = current
                inputs = [file_signature(f) for f in sorted(source.iterdir()) if f.is_file()]
                current_path = _keep(store, "reconstructed", current, write_stack,
                                     params.reconstruct, inputs)
                stage_params = params.reconstruct
            elif stage == "align":
                from ptyxanes.pipeline import _stage_align

                assert current is not None
                current, table = yield from sub_progress(_stage_align(current, params, control),
                                                         i, 1, n, stage)
                project.stacks["aligned"] = current
                project.tables[stage] = table
                current_path = _keep(store, "aligned", current, write_stack, params.align,
                                     file_signature(current_path))
                stage_params = params.align
            elif stage == "tomo":
                assert current is not None and current_path is not None
                current, table = yield from sub_progress(
                    _tomo(s, current_path, current, params.tomo), i, 1, n, stage)
                project.stacks["volumes"] = current
                project.tables[stage] = table
                current_path = _keep(store, "volumes", current, write_stack, params.tomo,
                                     file_signature(current_path))
                stage_params = params.tomo
            else:
                assert current is not None and current_path is not None
                result = yield from sub_progress(
                    _fit(s, current_path, current, params.fit, params.references, chunk_spectra),
                    i, 1, n, stage)
                shp = tuple(current.data.shape[1:])
                result = replace(result, **{k: getattr(result, k).reshape(shp)
                                            for k in tasks.FIT_MAPS})
                project.maps.update(result_maps(result, float(np.mean(current.pixel_size))))
                if result.calibration is not None:
                    project.tables["calibration"] = calibration_table(result.calibration)
                stage_params = {**params.fit, "references": [list(r) for r in params.references],
                                "threshold_used": float(result.threshold)}
            project.parameters[stage] = dict(stage_params)
            project.provenance.append(provenance(f"pipeline.{stage}", dict(stage_params)))
            yield Progress(i + 1, n, f"{stage} done", stage)
        project.parameters["pipeline"] = {"dim": dim, "start": stages_of[dim][0],
                                          **params.as_dict()}
        save_project(output, project, overwrite=overwrite)
        return project
    except Cancelled:
        raise
    except (OSError, TimeoutError) as exc:
        if getattr(client, "status", "running") != "running":
            raise s.lost() from exc
        raise
    finally:
        s.close()
