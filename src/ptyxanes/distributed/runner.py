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
fit            block of rows (planes): first pass     the in-process fit's decisions
               (edge jumps, sums), auto-method        (threshold, shape, method,
               sample, then the fit                   calibration); maps assembled
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
                        raise fut.exception()
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
    """Reconstruct every scan as its own task, through the public steps of the series.

    :func:`~ptyxanes.ptycho.series.plan_series` on the client, the reference
    scan (:func:`~ptyxanes.ptycho.series.reconstruct_reference`) as the first
    task, then one :func:`~ptyxanes.ptycho.series.reconstruct_scan` task per
    other scan given the reference's state, and
    :func:`~ptyxanes.ptycho.series.assemble_series` on the client.
    """
    from ptyxanes.io.cxi import read_scan_series
    from ptyxanes.ptycho import PtychoParams
    from ptyxanes.ptycho.series import (
        SeriesParams,
        apply_convention,
        assemble_series,
        check_series,
        plan_series,
        validate_scan,
    )

    engine_keys = {f.name for f in fields(PtychoParams)}
    series_keys = {f.name for f in fields(SeriesParams)}
    unknown = set(reconstruct) - engine_keys - series_keys
    if unknown:
        raise ValueError(f"unknown reconstruct parameters {sorted(unknown)}")
    params = PtychoParams(**{k: v for k, v in reconstruct.items() if k in engine_keys})
    sp = SeriesParams(**{k: v for k, v in reconstruct.items() if k in series_keys})
    scans = read_scan_series(scan_dir)  # lazy: workers read the frames of their own scan
    check_series(scans)
    for sc in scans:  # positions and shapes here; the frames are checked by each task
        validate_scan(sc, saturation=sp.saturation, check_frames=False)
    plan = plan_series(scans, params, sp)
    n = len(plan.jobs)
    inputs = [file_signature(str(sc.path)) for sc in scans]
    ref_name = Path(str(plan.reference_job.scan.path)).name
    ref_task = _Task(
        f"reconstruct-{plan.reference:05d}-" + task_hash(params, sp, inputs, "reference"),
        tasks.series_reference,
        (plan,),
        ref_name,
    )
    got = yield from sub_progress(s.run("reconstruct", [ref_task]), 0, 1, n, "reconstruct")
    state = tasks.reference_state(got[ref_task.key])
    results = [tasks.scan_result(got[ref_task.key])]
    plan = apply_convention(plan, state.convention)
    others = []
    for j in plan.jobs:
        if j.index == state.index:
            continue
        path = str(j.scan.path)
        key = f"reconstruct-{j.index:05d}-" + task_hash(
            params, sp, file_signature(path), j.window, j.pixel, j.corners, j.shape, ref_task.key
        )
        others.append(_Task(key, tasks.series_scan, (j, state, params, sp), Path(path).name))
    rest = yield from sub_progress(s.run("reconstruct", others), 1, n - 1, n, "reconstruct")
    results += [tasks.scan_result(rest[t.key]) for t in others]
    res = assemble_series(plan, results)
    if res.info["flagged"].size:
        logger.warning(
            "unreliable reconstruction (Fourier error above %.2f x the reference's) at %s eV",
            sp.quality_limit,
            ", ".join(f"{e:.2f}" for e in res.info["flagged"]),
        )
    dims = ("energy", "row", "col") if res.angle is None else ("energy", "angle", "row", "col")
    return ImageStack(res.objects, np.asarray(res.energy, float),
                      np.asarray(res.pixel_size, float), kind="complex", angle=res.angle,
                      dims=dims, attrs={"source": str(scan_dir)})


# ----------------------------------------------------------------------------- tomo
_TOMO_KEYS = ("pixel_size", "algorithm", "iterations", "align", "center", "max_outer", "register")


def _tomo(
    s: _Session, stack_path: Path, stack: ImageStack, tomo: dict[str, Any]
) -> Generator[Progress, None, tuple[ImageStack, dict[str, NDArray[Any]]]]:
    """Align and reconstruct every energy as its own task, then register on the client."""
    from ptyxanes.tomo import combine_energy_volumes, common_pixel, volume_stack

    unknown = set(tomo) - set(_TOMO_KEYS)
    if unknown:
        raise ValueError(f"unknown tomo parameters {sorted(unknown)}")
    if not stack.is_3d or stack.angle is None:
        raise ValueError(f"the 3D pipeline needs an (energy, angle, row, col) tilt series, got "
                         f"shape {tuple(stack.data.shape)}")
    if tomo.get("algorithm", "sirt") not in ("auto", "sirt", "fbp"):
        raise ValueError(
            f"algorithm must be 'auto', 'sirt' or 'fbp', got {tomo.get('algorithm')!r}")
    ps = np.asarray(stack.pixel_size, dtype=float)
    pixel_size, pixel = common_pixel(ps, tomo.get("pixel_size"))
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
    series = yield from sub_progress(
        combine_energy_volumes([tasks.energy_volume(got[t.key]) for t in todo],
                               register=tomo.get("register", True), control=s.control),
        n_e, 1, total, "register")
    table: dict[str, NDArray[Any]] = {"energy": np.asarray(stack.energy, dtype=float)}
    if series.registration is not None:
        for i, ax in enumerate(("plane", "row", "col")):
            table[f"shifts_{ax}"] = series.registration.shifts[:, i]
    s.last_tomo = series
    return volume_stack(series.volumes, stack.energy, pixel), table


# ----------------------------------------------------------------------------- fit
def _fit(
    s: _Session, stack_path: Path, stack: ImageStack, fit: dict[str, Any],
    references: Sequence[tuple[float, str]], chunk_spectra: int,
) -> Generator[Progress, None, Any]:
    """The pipeline's fit stage, its fit run in block tasks.

    :func:`ptyxanes.stages.fit_stage` with the same :class:`~ptyxanes.stages.FitParams`
    (edge, defaults, references, energy shifts) as the in-process pipeline.
    """
    from ptyxanes import stages

    params = stages.FitParams.from_flat({**fit, "references": references})

    chunk = chunk_spectra

    def blocks(stk: ImageStack, *, options: Any, calibration: Any, threshold: Any,
               chunk_spectra: int, control: Any) -> Generator[Progress, None, Any]:
        return _fit_blocks(s, stack_path, stk, options, calibration, threshold, chunk)

    return (yield from stages.fit_stage(stack, params, s.control, fit=blocks))


def _fit_blocks(
    s: _Session, stack_path: Path, stack: ImageStack, opts: Any, calibration: Any,
    threshold: float | str | None, chunk_spectra: int,
    template: NDArray[np.float64] | None = None,
) -> Generator[Progress, None, Any]:
    """:func:`ptyxanes.xanes.fit_stack` in passes of block tasks, with its own plan and decisions.

    The passes are those of the in-process fit (first pass for the Otsu
    threshold and shared shape, sample of the ``auto`` method, fit), each
    block a task calling the same per-block function; the client combines
    them with the same functions (:mod:`ptyxanes.xanes.batch`).
    """
    from ptyxanes.xanes.batch import (
        assemble_fit,
        decide_fit,
        finish_first_pass,
        plan_fit,
    )

    t0 = time.monotonic()
    energy = np.asarray(stack.energy, np.float64)
    spatial = tuple(int(x) for x in stack.data.shape[1:])
    plan = plan_fit(energy, spatial, options=opts, calibration=calibration, threshold=threshold,
                    template=template, chunk_spectra=chunk_spectra)
    blocks = plan.blocks
    sig = file_signature(stack_path)
    auto = plan.options.method == "auto"
    # the sample needs the mask: taken with the first pass unless that pass makes the mask
    sample_first = auto and plan.first_pass and plan.threshold != "otsu"
    sample_pass = auto and not sample_first
    n_b = len(blocks)
    n_pass = 1 + int(plan.first_pass) + int(sample_pass)
    total = float(n_pass * n_b)
    start = 0.0

    def label(b0: int, b1: int) -> str:
        return f"rows {b0}-{b1 - 1}"

    samples = None
    if plan.first_pass:
        first = [_Task(f"fitpass-{i:05d}-" + task_hash(sig, b0, b1, plan, sample_first),
                       tasks.fit_first_pass, (str(stack_path), b0, b1, plan, sample_first),
                       label(b0, b1)) for i, (b0, b1) in enumerate(blocks)]
        got = yield from sub_progress(s.run("fit", first), start, n_b, total, "fit")
        start += n_b
        parts = [got[t.key] for t in first]
        if sample_first:
            samples = [(p["sample_mu"], p["sample_jump"]) for p in parts]
        plan = finish_first_pass(plan, parts)
    if sample_pass:
        todo = [_Task(f"fitsample-{i:05d}-" + task_hash(sig, b0, b1, plan),
                      tasks.fit_sample, (str(stack_path), b0, b1, plan), label(b0, b1))
                for i, (b0, b1) in enumerate(blocks)]
        got = yield from sub_progress(s.run("fit", todo), start, n_b, total, "fit")
        start += n_b
        samples = [(got[t.key]["sample_mu"], got[t.key]["sample_jump"]) for t in todo]
    decision = decide_fit(plan, calibration, samples if auto else None)
    second = [_Task(f"fit-{i:05d}-" + task_hash(sig, b0, b1, decision),
                    tasks.fit_block, (str(stack_path), b0, b1, decision), label(b0, b1))
              for i, (b0, b1) in enumerate(blocks)]
    got = yield from sub_progress(s.run("fit", second), start, n_b, total, "fit")
    res = assemble_fit(decision, [tasks.chunk_fit(got[t.key]) for t in second],
                       time.monotonic() - t0)
    return replace(res, info={**res.info, "tasks": n_b})



def _start(stack: ImageStack, client: Any, backend: Any, stats: RunStats | None,
           checkpoint: str | Path | None, name: str,
           kind: str) -> tuple[str, RunStats, CheckpointStore]:
    """Check a single-stage run's inputs; its source file, run statistics and checkpoint."""
    import tempfile

    source = stack.attrs.get("source_file")
    if not source:
        raise ValueError(f"{name} needs a stack read from a file (workers read it)")
    if client is None and (backend is None or not backend.distributed):
        raise ValueError(f"{name} needs a client or a backend with workers or a scheduler")
    stats = stats if stats is not None else RunStats()
    ckpt = (Path(checkpoint) if checkpoint is not None
            else Path(tempfile.mkdtemp(prefix=f"ptyxanes-{kind}-")))
    stats.checkpoint = str(ckpt)
    return str(source), stats, CheckpointStore(ckpt)


def fit_stack_distributed(
    stack: ImageStack,
    *,
    options: Any = None,
    calibration: Any = None,
    threshold: float | str | None = "auto",
    chunk_spectra: int = FIT_CHUNK_SPECTRA,
    control: Control | None = None,
    template: NDArray[np.float64] | None = None,
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
    options, calibration, threshold, chunk_spectra, control, template
        As :func:`ptyxanes.xanes.fit_stack`; the result is identical to it.
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
    from ptyxanes.xanes import FitOptions

    source, stats, store = _start(stack, client, backend, stats, checkpoint,
                                  "fit_stack_distributed", "fit")

    def run(c: Any) -> Generator[Progress, None, Any]:
        s = _Session(c, store, control or Control(), stats)
        stats.dashboard = dashboard_link(c)
        try:
            return (yield from _fit_blocks(s, Path(source), stack, options or FitOptions(),
                                           calibration, threshold, chunk_spectra, template))
        finally:
            s.close()

    try:
        if client is None:
            assert backend is not None
            with backend.connect() as own:
                result = yield from run(own)
        else:
            result = yield from run(client)
    finally:
        if checkpoint is None:
            shutil.rmtree(store.directory, ignore_errors=True)
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
    source, stats, store = _start(stack, client, backend, stats, checkpoint,
                                  "reconstruct_tilt_stack_distributed", "tomo")

    def run(c: Any) -> Generator[Progress, None, tuple[ImageStack, Any]]:
        s = _Session(c, store, control or Control(), stats)
        stats.dashboard = dashboard_link(c)
        try:
            out, _ = yield from _tomo(s, Path(source), stack, dict(tomo))
        finally:
            s.close()
        return out, s.last_tomo

    try:
        if client is None:
            assert backend is not None
            with backend.connect() as own:
                result = yield from run(own)
        else:
            result = yield from run(client)
    finally:
        if checkpoint is None:
            shutil.rmtree(store.directory, ignore_errors=True)
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
                                               read_stack, write_stack, STAGES)
        else:
            project = yield from _pipeline(client, store, dim, source, output, params, overwrite,
                                           control, stats, chunk_spectra, read_stack,
                                           write_stack, STAGES)
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
              chunk_spectra: int, read_stack: Any, write_stack: Any,
              stages_of: Any) -> Generator[Progress, None, Project]:
    from ptyxanes.pipeline import record_fit

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

                assert current is not None and current_path is not None
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
                stage_params = record_fit(project, result, current, params)
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
