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
align (2D)     energy: its shift onto the reference   shifts accumulated (chained),
               (or neighbour), its residual, its      outliers flagged, images
               shifted and cropped image              stacked
tomo (3D)      energy: rescale, align the tilt        slabs joined and checked per
               series; then slab of detector rows:    energy, volumes registered in
               SIRT (FBP: one task per energy)        3D, written as a NeXus stack
fit            block of rows (planes): first pass     the in-process fit's decisions
               (edge jumps, sums), auto-method        (threshold, shape, method,
               sample, then the fit                   calibration); maps assembled
=============  =====================================  ================================

Workers read their inputs by path (lazy HDF5: only their scan, energy or
block), so the file system must be shared between client and workers.
"""

from __future__ import annotations

import logging
import pickle
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

from ptyxanes import stages
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

#: Detector rows per SIRT task (CPU): the slices of parallel-beam SIRT are independent.
TOMO_SLAB_ROWS = 16

#: Fewest rows of a slab (unless the detector has fewer): for very few slices the
#: matrix-free projector may take another loop order, which would change the last bits.
MIN_SLAB_ROWS = 4

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
    largest_arguments : dict of str to int
        Per stage, the largest pickled arguments of one task, bytes: what
        travels through the scheduler (the data itself is read by the workers).
    """

    computed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    checkpoint: str = ""
    dashboard: str | None = None
    largest_arguments: dict[str, int] = field(default_factory=dict)


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

    def run(self, stage: str, todo: Sequence[_Task],
            consume: Callable[[_Task, dict[str, NDArray[Any]]], Any] | None = None
            ) -> Generator[Progress, None, dict[str, Any]]:
        """Run tasks (skipping the stored ones); yield progress; return key -> arrays.

        With ``consume``, every result (computed or loaded) is passed to it as
        it arrives and what it returns is kept instead of the arrays.
        """
        keep = consume or (lambda t, arrays: arrays)
        results: dict[str, Any] = {}
        pending_tasks = []
        for t in todo:
            if self.store.has(t.key):
                results[t.key] = keep(t, self.store.load(t.key))
                self.stats.skipped[stage] = self.stats.skipped.get(stage, 0) + 1
            else:
                pending_tasks.append(t)
        self.stats.skipped.setdefault(stage, 0)
        self.stats.computed.setdefault(stage, 0)
        if results:
            logger.info("%s: %d of %d tasks from the checkpoint", stage, len(results), len(todo))
        total = float(len(todo))
        futures: dict[Any, _Task] = {}
        for t in pending_tasks:
            size = len(pickle.dumps((t.func, t.args), protocol=5))
            self.stats.largest_arguments[stage] = max(
                self.stats.largest_arguments.get(stage, 0), size)
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
                        results[t.key] = keep(t, arrays)
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
    """The pipeline's reconstruct stage: :func:`_reconstruct_series` of a folder, as a stack."""
    from ptyxanes.io.cxi import read_scan_series
    from ptyxanes.ptycho import PtychoParams
    from ptyxanes.ptycho.series import SeriesParams

    engine_keys = {f.name for f in fields(PtychoParams)}
    series_keys = {f.name for f in fields(SeriesParams)}
    unknown = set(reconstruct) - engine_keys - series_keys
    if unknown:
        raise ValueError(f"unknown reconstruct parameters {sorted(unknown)}")
    params = PtychoParams(**{k: v for k, v in reconstruct.items() if k in engine_keys})
    sp = SeriesParams(**{k: v for k, v in reconstruct.items() if k in series_keys})
    scans = read_scan_series(scan_dir)  # lazy: workers read the frames of their own scan
    res = yield from _reconstruct_series(s, scans, params, sp)
    dims = ("energy", "row", "col") if res.angle is None else ("energy", "angle", "row", "col")
    return ImageStack(res.objects, np.asarray(res.energy, float),
                      np.asarray(res.pixel_size, float), kind="complex", angle=res.angle,
                      dims=dims, attrs={"source": str(scan_dir)})


def _reconstruct_series(
    s: _Session, scans: Sequence[Any], params: Any, sp: Any
) -> Generator[Progress, None, Any]:
    """Reconstruct every scan as its own task, through the public steps of the series.

    :func:`~ptyxanes.ptycho.series.plan_series` on the client, the reference
    scan (:func:`~ptyxanes.ptycho.series.reconstruct_reference`) as the first
    task, then one :func:`~ptyxanes.ptycho.series.reconstruct_scan` task per
    other scan given the reference's state, and
    :func:`~ptyxanes.ptycho.series.assemble_series` on the client.
    """
    from ptyxanes.ptycho.series import (
        apply_convention,
        assemble_scan,
        assemble_series,
        check_series,
        plan_series,
        validate_scan,
    )

    scans = list(scans)
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
    plan = apply_convention(plan, state.convention)
    # each scan is placed in the stack as it arrives; only its probe, errors and
    # positions are kept (not its object and illumination)
    n_a = 1 if plan.angle is None else len(plan.angle)
    placed = np.ones((len(plan.energy), n_a, *plan.out_shape), np.complex64)
    job_of = {j.index: j for j in plan.jobs}

    def place(arrays: dict[str, NDArray[Any]]) -> Any:
        res = tasks.scan_result(arrays)
        where, image = assemble_scan(plan, job_of[res.index], res)
        placed[where] = image
        empty = np.zeros((0, 0), np.complex64)
        return replace(res, result=replace(res.result, object=empty,
                                           illumination=np.zeros((0, 0), np.float32)))

    results = [place(got.pop(ref_task.key))]
    others = []
    for j in plan.jobs:
        if j.index == state.index:
            continue
        path = str(j.scan.path)
        key = f"reconstruct-{j.index:05d}-" + task_hash(
            params, sp, file_signature(path), j.window, j.pixel, j.corners, j.shape, ref_task.key
        )
        others.append(_Task(key, tasks.series_scan, (j, state, params, sp), Path(path).name))
    rest = yield from sub_progress(s.run("reconstruct", others, lambda t, a: place(a)),
                                   1, n - 1, n, "reconstruct")
    results += [rest[t.key] for t in others]
    res = assemble_series(plan, results, placed=placed)
    if res.info["flagged"].size:
        logger.warning(
            "unreliable reconstruction (Fourier error above %.2f x the reference's) at %s eV",
            sp.quality_limit,
            ", ".join(f"{e:.2f}" for e in res.info["flagged"]),
        )
    return res


# ----------------------------------------------------------------------------- tomo
_TOMO_KEYS = ("pixel_size", "algorithm", "iterations", "align", "center", "max_outer", "register")


def slab_bounds(rows: int, slab_rows: int) -> list[tuple[int, int]]:
    """Slabs of about ``slab_rows`` detector rows covering ``rows`` rows, as even as possible.

    Parameters
    ----------
    rows : int
    slab_rows : int
        At least 1; slabs hold at least :data:`MIN_SLAB_ROWS` rows (unless ``rows`` is smaller).

    Returns
    -------
    slabs : list of (int, int)
        First and one-past-last row of every slab.

    Examples
    --------
    >>> slab_bounds(40, 16)
    [(0, 13), (13, 27), (27, 40)]
    >>> slab_bounds(10, 1)
    [(0, 5), (5, 10)]
    >>> slab_bounds(3, 16)
    [(0, 3)]
    """
    if slab_rows < 1:
        raise ValueError(f"slab_rows must be at least 1, got {slab_rows}")
    slab_rows = max(slab_rows, MIN_SLAB_ROWS)
    k = max(1, min(-(-rows // slab_rows), rows // MIN_SLAB_ROWS))
    edges = [round(i * rows / k) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _tomo_slabs(
    s: _Session, stack_path: Path, stack: ImageStack, sig: Any, ps: NDArray[Any],
    pixel_size: float | None, per_energy: dict[str, Any], slab_rows: int, rows: int,
) -> Generator[Progress, None, list[Any]]:
    """SIRT in two passes of tasks: one alignment per energy, then one SIRT per slab of rows.

    The slabs of an energy are joined along the rows and checked
    (:func:`~ptyxanes.tomo.check_volume`) on the client, as
    :func:`~ptyxanes.tomo.reconstruct_energy` does in-process.
    """
    from dataclasses import replace as dc_replace

    from ptyxanes.tomo import auto_sirt, check_volume

    n_e = stack.n_energies
    slabs = slab_bounds(rows, slab_rows)  # for the progress only: rescaling may change the rows
    total = float(n_e + 1)
    align_kw = {k: per_energy[k] for k in ("align", "center", "max_outer") if k in per_energy}
    defaults = stages.TomoParams()
    iterations = int(per_energy.get("iterations", defaults.iterations))
    algorithm = per_energy.get("algorithm", defaults.algorithm)
    first = []
    for e in range(n_e):
        key = f"tomoalign-{e:04d}-" + task_hash(sig, e, float(ps[e]), pixel_size, align_kw)
        first.append(_Task(key, tasks.tomo_align,
                           (str(stack_path), e, float(ps[e]), pixel_size, align_kw),
                           f"energy {float(stack.energy[e]):.2f} eV"))
    share = n_e / (1.0 + len(slabs))  # the alignment's share of the energies' progress
    got = yield from sub_progress(s.run("tomo-align", first), 0, share, total, "align")
    preps = [got[t.key] for t in first]
    second, per_energy_slabs, methods = [], [], []
    for e, (t, prep) in enumerate(zip(first, preps, strict=True)):
        c = float(prep["sirt_center"])
        # as reconstruct_energy decides it, from this energy's (rescaled) projections
        from_fbp, its = (False, iterations) if algorithm == "sirt" else auto_sirt(
            (int(prep["shape"][0]), int(prep["shape"][1]), int(prep["shape"][2])), iterations)
        methods.append(f"FBP + SIRT {its}" if from_fbp else f"SIRT {its}")
        shifts = prep.get("applied_shifts")
        mine = slab_bounds(int(prep["shape"][1]), slab_rows)  # rows after the rescaling
        per_energy_slabs.append(len(mine))
        for r0, r1 in mine:
            key = f"tomo-{e:04d}-{r0:05d}-" + task_hash(t.key, r0, r1, its, from_fbp)
            second.append(_Task(key, tasks.tomo_slab,
                                (str(stack_path), e, float(ps[e]), pixel_size, (r0, r1),
                                 shifts, c, its, from_fbp),
                                f"{t.label} rows {r0}-{r1 - 1}"))
    got = yield from sub_progress(s.run("tomo", second), share, n_e - share, total, "tomo")
    energies, start = [], 0
    for prep, count, method in zip(preps, per_energy_slabs, methods, strict=True):
        vol = np.concatenate([got[t.key]["volume"] for t in second[start:start + count]], axis=1)
        start += count
        check_volume(vol, prep["mass"][:, None, None], str(prep["where"]))
        energies.append(dc_replace(tasks.energy_volume(prep), volume=vol, method=method))
    return energies


def _tomo(
    s: _Session, stack_path: Path, stack: ImageStack, tomo: dict[str, Any],
    slab_rows: int | None = None,
) -> Generator[Progress, None, tuple[ImageStack, dict[str, NDArray[Any]]]]:
    """Align and reconstruct every energy (SIRT per slab of rows when ``slab_rows``), then register."""
    from ptyxanes.tomo import combine_energy_volumes, common_pixel, volume_stack

    unknown = set(tomo) - set(_TOMO_KEYS)
    if unknown:
        raise ValueError(f"unknown tomo parameters {sorted(unknown)}")
    if not stack.is_3d or stack.angle is None:
        raise ValueError(f"the 3D pipeline needs an (energy, angle, row, col) tilt series, got "
                         f"shape {tuple(stack.data.shape)}")
    if tomo.get("algorithm", stages.TomoParams().algorithm) not in ("auto", "sirt", "fbp"):
        raise ValueError(
            f"algorithm must be 'auto', 'sirt' or 'fbp', got {tomo.get('algorithm')!r}")
    ps = np.asarray(stack.pixel_size, dtype=float)
    pixel_size, pixel = common_pixel(ps, tomo.get("pixel_size"))
    per_energy: dict[str, Any] = {k: tomo[k] for k in ("algorithm", "iterations", "align", "center", "max_outer")
                  if k in tomo}
    sig = file_signature(stack_path)
    n_e = stack.n_energies
    rows = int(stack.data.shape[2])
    if per_energy.get("algorithm", stages.TomoParams().algorithm) in ("sirt", "auto") \
            and slab_rows is not None:
        energies = yield from _tomo_slabs(s, stack_path, stack, sig, ps, pixel_size, per_energy,
                                          slab_rows, rows)
        total = float(n_e + 1)
    else:
        todo = []
        for e in range(n_e):
            key = f"tomo-{e:04d}-" + task_hash(sig, e, float(ps[e]), pixel_size, per_energy)
            todo.append(_Task(key, tasks.tomo_energy,
                              (str(stack_path), e, float(ps[e]), pixel_size, per_energy),
                              f"energy {float(stack.energy[e]):.2f} eV"))
        total = float(n_e + 1)
        got = yield from sub_progress(s.run("tomo", todo), 0, n_e, total, "tomo")
        energies = [tasks.energy_volume(got[t.key]) for t in todo]
    series = yield from sub_progress(
        combine_energy_volumes(energies, register=tomo.get("register", True), control=s.control),
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



def _source_file(stack: ImageStack, name: str) -> Path:
    """The file a stack was read from (its workers read their part of it)."""
    source = stack.attrs.get("source_file")
    if not source:
        raise ValueError(f"{name} needs a stack read from a file (workers read it)")
    return Path(source)


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

    source = _source_file(stack, "fit_stack_distributed")
    return (yield from _one_stage(
        client, backend, checkpoint, stats, control, "fit_stack_distributed", "fit",
        lambda s: _fit_blocks(s, source, stack, options or FitOptions(), calibration,
                              threshold, chunk_spectra, template)))


def reconstruct_tilt_stack_distributed(
    stack: ImageStack,
    *,
    control: Control | None = None,
    backend: ComputeBackend | None = None,
    client: Any = None,
    checkpoint: str | Path | None = None,
    stats: RunStats | None = None,
    slab_rows: int | None = TOMO_SLAB_ROWS,
    **tomo: Any,
) -> Generator[Progress, None, tuple[ImageStack, Any]]:
    """:func:`ptyxanes.tomo.reconstruct_tilt_stack` on Dask: per energy, or per slab of rows.

    SIRT runs in two passes of tasks, one alignment per energy then one SIRT
    per slab of ``slab_rows`` detector rows (FBP, or ``slab_rows=None``: one
    task per energy).

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
    slab_rows : int or None, optional
        Detector rows per SIRT task; None: one task per energy.
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
    source = _source_file(stack, "reconstruct_tilt_stack_distributed")

    def body(s: _Session) -> Generator[Progress, None, tuple[ImageStack, Any]]:
        out, _ = yield from _tomo(s, source, stack, dict(tomo), slab_rows)
        return out, s.last_tomo

    return (yield from _one_stage(client, backend, checkpoint, stats, control,
                                  "reconstruct_tilt_stack_distributed", "tomo", body))


def _one_stage(client: Any, backend: ComputeBackend | None, checkpoint: str | Path | None,
               stats: RunStats | None, control: Control | None, name: str, kind: str,
               body: Callable[[_Session], Generator[Progress, None, Any]]
               ) -> Generator[Progress, None, Any]:
    """Run one stage's ``body`` in a session on ``client`` (or the backend's own)."""
    import tempfile

    if client is None and (backend is None or not backend.distributed):
        raise ValueError(f"{name} needs a client or a backend with workers or a scheduler")
    stats = stats if stats is not None else RunStats()
    ckpt = (Path(checkpoint) if checkpoint is not None
            else Path(tempfile.mkdtemp(prefix=f"ptyxanes-{kind}-")))
    stats.checkpoint = str(ckpt)
    store = CheckpointStore(ckpt)

    def run(c: Any) -> Generator[Progress, None, Any]:
        s = _Session(c, store, control or Control(), stats)
        stats.dashboard = dashboard_link(c)
        try:
            return (yield from body(s))
        finally:
            s.close()

    try:
        if client is None:
            assert backend is not None
            with backend.connect() as own:
                return (yield from run(own))
        return (yield from run(client))
    finally:
        if checkpoint is None:
            shutil.rmtree(store.directory, ignore_errors=True)


def reconstruct_series_distributed(
    scans: Sequence[Any],
    params: Any = None,
    series: Any = None,
    *,
    control: Control | None = None,
    backend: ComputeBackend | None = None,
    client: Any = None,
    checkpoint: str | Path | None = None,
    stats: RunStats | None = None,
) -> Generator[Progress, None, Any]:
    """:func:`ptyxanes.ptycho.series.reconstruct_series` with one Dask task per scan.

    Parameters
    ----------
    scans : sequence of ptyxanes.io.cxi.CXIScan
        Read lazily (:func:`ptyxanes.io.cxi.read_scan_series`): each worker
        reads the frames of its own scan from its file.
    params : ptyxanes.ptycho.PtychoParams, optional
    series : ptyxanes.ptycho.series.SeriesParams, optional
        ``jobs`` is ignored (the workers run the scans).
    control : Control, optional
    backend : ComputeBackend, optional
        Where to run, unless ``client`` is given.
    client : distributed.Client, optional
    checkpoint : path-like, optional
        Directory of finished scans (default: a temporary one, removed at the end).
    stats : RunStats, optional

    Returns
    -------
    result : ptyxanes.ptycho.series.SeriesResult
        Equal to the in-process result (the reference scan first, then every
        other scan warm-started from its state, as in-process), but its
        per-scan ``results`` keep their probe, errors, positions and info,
        not their object and illumination (shape (0, 0)): each scan is placed
        in the stack as it arrives (:func:`~ptyxanes.ptycho.series.assemble_scan`).

    Raises
    ------
    FormatError
        A bad scan, named (raised by the task that read it).
    SchedulerLost
    """
    from ptyxanes.ptycho import PtychoParams
    from ptyxanes.ptycho.series import SeriesParams

    params = params or PtychoParams()
    sp = series or SeriesParams()
    return (yield from _one_stage(
        client, backend, checkpoint, stats, control, "reconstruct_series_distributed",
        "reconstruct", lambda s: _reconstruct_series(s, scans, params, sp)))


def _register(s: _Session, stack_path: Path, stack: ImageStack, params: Any
              ) -> Generator[Progress, None, tuple[ImageStack, Any]]:
    """:func:`ptyxanes.align.align_image_stack` in passes of per-energy tasks.

    Shifts (each energy onto the reference, or onto its neighbour when
    chained), residuals (with the accumulated shifts) and the shifted, cropped
    images; the client accumulates the chain, flags outliers
    (:func:`~ptyxanes.align.registration.finish_registration`) and stacks the images.
    """
    from ptyxanes.align.registration import (
        Registration,
        finish_registration,
        rescaled_shape,
        valid_region,
    )

    n = stack.n_energies
    target = float(params.pixel_size)
    ps = np.asarray(stack.pixel_size, dtype=float)
    shape = rescaled_shape(tuple(int(x) for x in stack.data.shape[1:]), ps, target)
    sig = file_signature(stack_path)
    path = str(stack_path)
    reference = params.reference
    if reference is not None:
        if not -n <= reference < n:
            raise ValueError(f"reference energy {reference} out of range for {n} energies")
        reference %= n
    real_channel = params.channel if np.iscomplexobj(np.asarray(stack.data[:1, :1, :1])) \
        else "real"
    label = [f"energy {float(e):.2f} eV" for e in stack.energy]
    if params.shifts is None:
        common = (target, shape, params.channel)
        partner = [(e - 1 if e > 0 else None) if reference is None
                   else (reference if e != reference else None) for e in range(n)]
        first = [_Task(f"alignshift-{e:04d}-" + task_hash(sig, e, partner[e], common,
                                                          params.upsample_factor),
                       tasks.register_shift,
                       (path, e, partner[e], *common, params.upsample_factor), label[e])
                 for e in range(n) if partner[e] is not None]
        got = yield from sub_progress(s.run("align", first), 0, 1, 3, "register")
        step = {int(t.args[1]): got[t.key]["shift"] for t in first}
        shifts = np.zeros((n, len(shape)))
        for e in range(n):
            if e in step:
                shifts[e] = (shifts[e - 1] if reference is None else 0) + step[e]
        second = []
        for e in range(n):
            other = e - 1 if reference is None and e > 0 else \
                (reference if reference is not None else 0)
            other_shift = shifts[e - 1] if reference is None and e > 0 else None
            key = f"alignresidual-{e:04d}-" + task_hash(sig, e, shifts[e], other, other_shift,
                                                        common)
            second.append(_Task(key, tasks.register_residual,
                                (path, e, shifts[e], other, other_shift, *common), label[e]))
        got = yield from sub_progress(s.run("align", second), 1, 1, 3, "register")
        residual = np.array([float(got[t.key]["residual"]) for t in second])
        reg = finish_registration(shifts, residual, reference, real_channel,
                                  params.upsample_factor)
    else:
        given = np.asarray(params.shifts, dtype=float)
        reg = Registration(given, np.zeros(n), np.zeros(n, bool), reference, params.channel,
                           params.upsample_factor)
    region = valid_region(reg.shifts, shape)
    third = [_Task(f"alignapply-{e:04d}-" + task_hash(sig, e, reg.shifts[e], target, shape,
                                                      params.method, region),
                   tasks.register_apply,
                   (path, e, reg.shifts[e], target, shape, params.method, region), label[e])
             for e in range(n)]
    got = yield from sub_progress(s.run("align", third), 2, 1, 3, "register")
    aligned = np.stack([got[t.key]["image"] for t in third])
    attrs = {k: v for k, v in stack.attrs.items() if k not in ("extra", "source_file")}
    out = ImageStack(aligned, np.asarray(stack.energy, dtype=float), np.full(n, target),
                     kind=stack.kind, dims=("energy", "row", "col"), attrs=attrs)
    return out, reg


def register_stack_distributed(
    stack: ImageStack,
    params: Any = None,
    *,
    control: Control | None = None,
    backend: ComputeBackend | None = None,
    client: Any = None,
    checkpoint: str | Path | None = None,
    stats: RunStats | None = None,
) -> Generator[Progress, None, tuple[ImageStack, Any]]:
    """:func:`ptyxanes.stages.register_stage` with Dask tasks per energy.

    Parameters
    ----------
    stack : ImageStack
        2D (energy, row, col) stack read from a NeXus file
        (``attrs["source_file"]``): every task reads its energies from that file.
    params : ptyxanes.stages.RegisterParams, optional
    control : Control, optional
    backend : ComputeBackend, optional
        Where to run, unless ``client`` is given.
    client : distributed.Client, optional
    checkpoint : path-like, optional
        Directory of finished tasks (default: a temporary one, removed at the end).
    stats : RunStats, optional

    Returns
    -------
    aligned : ImageStack
        Equal to the in-process result.
    registration : ptyxanes.align.Registration

    Raises
    ------
    ValueError
        A 4-D stack, a non-positive pixel size, shifts that do not fit, or a
        stack not read from a file.
    SchedulerLost
    """
    from ptyxanes.stages import RegisterParams

    params = params or RegisterParams()
    if stack.is_3d:
        raise ValueError(f"registration needs a 2D (energy, row, col) stack, got shape "
                         f"{tuple(stack.data.shape)}; tilt series are aligned by tomography")
    if not params.pixel_size > 0:
        raise ValueError(f"pixel_size must be positive, got {params.pixel_size} m")
    if params.shifts is not None and np.shape(params.shifts) != (stack.n_energies, 2):
        raise ValueError(f"{np.shape(params.shifts)[0]} shifts given for {stack.n_energies} "
                         "energies")
    source = stack.attrs.get("source_file")
    if not source:
        raise ValueError("register_stack_distributed needs a stack read from a file "
                         "(workers read it)")
    return (yield from _one_stage(
        client, backend, checkpoint, stats, control, "register_stack_distributed", "align",
        lambda s: _register(s, Path(source), stack, params)))


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
    slab_rows: int | None = TOMO_SLAB_ROWS,
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
    slab_rows : int or None, optional
        Detector rows per SIRT task (None: one task per energy).

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
                                               read_stack, write_stack, STAGES, slab_rows)
        else:
            project = yield from _pipeline(client, store, dim, source, output, params, overwrite,
                                           control, stats, chunk_spectra, read_stack,
                                           write_stack, STAGES, slab_rows)
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
              stages_of: Any, slab_rows: int | None = TOMO_SLAB_ROWS
              ) -> Generator[Progress, None, Project]:
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
                from ptyxanes import stages as st

                assert current is not None and current_path is not None
                if current.is_3d:
                    raise ValueError("the 2D pipeline got a 4-D stack; use `pipeline 3d`")
                aparams = st.params_from_dict(st.RegisterParams, params.align, "[align]")
                before = current
                current, reg = yield from sub_progress(
                    _register(s, current_path, current, aparams), i, 1, n, stage)
                table = st.registration_table(before, reg)
                project.stacks["aligned"] = current
                project.tables[stage] = table
                current_path = _keep(store, "aligned", current, write_stack, params.align,
                                     file_signature(current_path))
                stage_params = params.align
            elif stage == "tomo":
                assert current is not None and current_path is not None
                current, table = yield from sub_progress(
                    _tomo(s, current_path, current, params.tomo, slab_rows), i, 1, n, stage)
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
