"""Where the long stages run: in this process, on local Dask workers or on a Dask scheduler.

The :class:`ComputePresenter` holds the session's :class:`ComputeChoice` (kept
in the QSettings and on the document), owns the Dask client (connected on
first use, in a worker thread; closed when the choice changes or the window
closes) and gives the Processing presenter its reconstruct, register, fit and
tomography jobs: with a cluster chosen they run through
:func:`ptyxanes.distributed.reconstruct_series_distributed` (one task per scan),
:func:`ptyxanes.distributed.register_stack_distributed` (tasks per energy),
:func:`ptyxanes.distributed.fit_stack_distributed` and
:func:`ptyxanes.distributed.reconstruct_tilt_stack_distributed`, whose
results equal the in-process stages. The workers read the scans from their
CXI files, and the stacks from a NeXus file written for them
(``ComputeChoice.shared_dir``, which the workers must see), removed after the run.

:class:`ComputeStatus` is the status-bar widget of a run on Dask: tasks done /
submitted, running and failed, the dashboard link and a Cancel button.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qtpy.QtCore import QCoreApplication, QObject, Qt, Signal
from qtpy.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget
from superqt.utils import create_worker

from ptyxanes.distributed import DEFAULT_WORKER_MEMORY, ComputeBackend
from ptyxanes.progress import Control, Progress
from ptyxanes_gui.presenters import stage_jobs as engine

logger = logging.getLogger(__name__)

MODES = ("inprocess", "local", "scheduler")

#: Seconds between two task counts sent to the status widget.
COUNT_INTERVAL_S = 0.5


@dataclass(frozen=True)
class ComputeChoice:
    """The compute settings of a session (what the Compute dialog edits).

    Parameters
    ----------
    mode : {"inprocess", "local", "scheduler"}
    workers : int
        Local worker processes (mode ``"local"``).
    memory_limit : str
        Memory of each local worker (Dask syntax, ``"4GiB"``).
    scheduler : str
        Address of an existing scheduler (mode ``"scheduler"``), ``tcp://host:8786``.
    shared_dir : str
        Folder for the stacks the workers read ("" = the system's temporary
        folder); with a remote scheduler it must be on a file system the
        workers see.
    """

    mode: str = "inprocess"
    workers: int = 2
    memory_limit: str = DEFAULT_WORKER_MEMORY
    scheduler: str = ""
    shared_dir: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"compute mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    def backend(self) -> ComputeBackend:
        """The engine's :class:`~ptyxanes.distributed.ComputeBackend` of this choice.

        Raises
        ------
        ValueError
            No scheduler address, fewer than one worker, or a memory limit
            Dask cannot read.
        """
        if self.mode == "scheduler":
            if not self.scheduler.strip():
                raise ValueError("no scheduler address given (e.g. tcp://10.0.0.5:8786)")
            return ComputeBackend(scheduler=self.scheduler.strip())
        if self.mode == "local":
            from dask.utils import parse_bytes

            try:
                parse_bytes(self.memory_limit)
            except (ValueError, TypeError):
                raise ValueError(f"memory per worker {self.memory_limit!r} is not a size "
                                 "such as 4GiB or 2000MB") from None
            return ComputeBackend(workers=int(self.workers), memory_limit=self.memory_limit)
        return ComputeBackend()

    def describe(self) -> str:
        """One line: ``"2 local Dask workers (1 thread, 4GiB each)"``, ``"in-process"`` ..."""
        try:
            return self.backend().describe()
        except ValueError as exc:
            return f"invalid ({exc})"

    # ---------------------------------------------------------------- QSettings
    @classmethod
    def load(cls, settings: Any) -> ComputeChoice:
        """The choice stored in ``settings`` (group ``compute/``); the default when absent."""
        d = cls()
        mode = str(settings.value("compute/mode", d.mode) or d.mode)
        try:
            workers = int(settings.value("compute/workers", d.workers))
        except (TypeError, ValueError):
            workers = d.workers
        return cls(mode=mode if mode in MODES else d.mode, workers=max(1, workers),
                   memory_limit=str(settings.value("compute/memory_limit", d.memory_limit)
                                    or d.memory_limit),
                   scheduler=str(settings.value("compute/scheduler", "") or ""),
                   shared_dir=str(settings.value("compute/shared_dir", "") or ""))

    def save(self, settings: Any) -> None:
        """Store the choice in ``settings`` (group ``compute/``)."""
        for f in dataclasses.fields(self):
            settings.setValue(f"compute/{f.name}", getattr(self, f.name))


def one_line(exc: BaseException) -> str:
    """An exception as one line for the user (its message, else its type's name)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@dataclass(frozen=True)
class TaskCounts:
    """The tasks of a run on Dask so far.

    Attributes
    ----------
    done, submitted, running, failed : int
        Finished, submitted to the scheduler, running on a worker now, failed.
    stage : str
        The stage running (``"reconstruct"``, ``"register"``, ``"fit"``, ``"tomo"``).
    dashboard : str
        The Dask dashboard's address ("" when it has none).
    state : str
        ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``.
    """

    done: int = 0
    submitted: int = 0
    running: int = 0
    failed: int = 0
    stage: str = ""
    dashboard: str = ""
    state: str = "running"


class _TrackedFuture:
    """A Dask future that tells its tracker when the runner collects its result."""

    def __init__(self, future: Any, tracker: TaskTracker) -> None:
        self.future = future
        self._tracker = tracker

    def __getattr__(self, name: str) -> Any:
        return getattr(self.future, name)

    def result(self, *args: Any, **kwargs: Any) -> Any:
        out = self.future.result(*args, **kwargs)
        self._tracker._collected(self.future.key, failed=False)
        return out

    def exception(self, *args: Any, **kwargs: Any) -> Any:
        exc = self.future.exception(*args, **kwargs)
        self._tracker._collected(self.future.key, failed=True)
        return exc


class TaskTracker:
    """A Dask client seen by the engine's runner, counting the tasks it submits.

    Everything but ``submit`` and ``cancel`` goes to the client; the futures
    returned are wrapped to count the finished and failed ones; the running
    ones are asked of the scheduler (:meth:`distributed.Client.processing`).

    Parameters
    ----------
    client : distributed.Client
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._open: set[str] = set()
        self.submitted = 0
        self.done = 0
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def submit(self, *args: Any, **kwargs: Any) -> _TrackedFuture:
        fut = self._client.submit(*args, **kwargs)
        with self._lock:
            self.submitted += 1
            self._open.add(fut.key)
        return _TrackedFuture(fut, self)

    def cancel(self, futures: Any, *args: Any, **kwargs: Any) -> Any:
        plain = [f.future if isinstance(f, _TrackedFuture) else f for f in futures]
        return self._client.cancel(plain, *args, **kwargs)

    def _collected(self, key: str, failed: bool) -> None:
        with self._lock:
            if key in self._open:
                self._open.discard(key)
                if failed:
                    self.failed += 1
                else:
                    self.done += 1

    def running(self) -> int:
        """Tasks of this run a worker is processing now (asks the scheduler)."""
        try:
            processing = self._client.processing()
        except Exception:  # noqa: BLE001 - scheduler busy or gone: the runner reports it
            return 0
        with self._lock:
            return sum(1 for keys in processing.values() for k in keys if k in self._open)


class ComputePresenter(QObject):
    """The session's compute choice and Dask client; the stages' jobs on Dask.

    Parameters
    ----------
    settings : QSettings
        Where the choice persists (group ``compute/``).
    document : Document, optional
        Gets the choice as ``document.compute``.
    parent : QObject, optional

    Signals
    -------
    choice_changed(object) : the new :class:`ComputeChoice`
    connected(str) : a client is ready; its dashboard link ("" when none)
    connection_failed(str) : one line saying why
    tasks_changed(object) : :class:`TaskCounts` of the run on Dask, about every 0.5 s
    """

    choice_changed = Signal(object)
    connected = Signal(str)
    connection_failed = Signal(str)
    tasks_changed = Signal(object)

    def __init__(self, settings: Any, document: Any = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.document = document
        self.choice = ComputeChoice.load(settings)
        if document is not None:
            document.compute = self.choice
        #: seconds to try reaching an existing scheduler
        self.connect_timeout_s = 10.0
        self._lock = threading.Lock()  # held while the client is made or closed
        self._stack: contextlib.ExitStack | None = None
        self._client: Any = None
        self._client_backend: ComputeBackend | None = None
        self._controls: list[Control] = []
        self._workers: list[Any] = []
        self.last_counts: TaskCounts | None = None
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ---------------------------------------------------------------- choice
    @property
    def distributed(self) -> bool:
        """True when the stages go to Dask workers."""
        return self.choice.mode != "inprocess"

    def set_choice(self, choice: ComputeChoice) -> None:
        """Use ``choice`` from now on: saved to the settings and the document.

        A client of another backend is closed (in a worker thread).
        """
        self.choice = choice
        choice.save(self.settings)
        if self.document is not None:
            self.document.compute = choice
        logger.info("compute: %s", choice.describe())
        try:
            keep = choice.mode != "inprocess" and choice.backend() == self._client_backend
        except ValueError:
            keep = False
        if not keep and self._client is not None and not self.running:
            self._start(self._close_client, {})  # (a running stage keeps it; the next run
            # of another backend replaces it)
        self.choice_changed.emit(choice)

    def open_dialog(self, parent: QWidget | None = None) -> Any:
        """Settings ▸ Compute…: the dialog (window-modal); its OK applies the choice."""
        from ptyxanes_gui.dialogs.compute_dialog import ComputeDialog

        dlg = ComputeDialog(self.choice, self, parent)
        dlg.accepted.connect(lambda: self.set_choice(dlg.choice()))
        dlg.open()
        return dlg

    # ---------------------------------------------------------------- client
    @property
    def client(self) -> Any:
        """The client held now (None before the first run or test)."""
        return self._client

    def client_for(self, backend: ComputeBackend) -> Any:
        """A client of ``backend``: the one held, else a new one (blocks: call in a worker).

        Raises
        ------
        OSError
            The scheduler cannot be reached.
        """
        with self._lock:
            c = self._client
            if c is not None and self._client_backend == backend and \
                    getattr(c, "status", "running") == "running":
                return c
            self._close_locked()
            stack = contextlib.ExitStack()
            client = stack.enter_context(backend.connect(timeout=f"{self.connect_timeout_s}s"))
            self._stack, self._client, self._client_backend = stack, client, backend
            logger.info("compute: connected to %s, dashboard %s", backend.describe(),
                        _dashboard(client) or "none")
            return client

    def test_connection(self, choice: ComputeChoice | None = None) -> None:
        """Connect to ``choice`` (default: the current one) in a worker thread.

        Emits ``connected(dashboard)`` or ``connection_failed(message)``; the
        client is kept for the runs when the choice is applied.
        """
        choice = choice or self.choice
        try:
            backend = choice.backend()
        except ValueError as exc:
            self.connection_failed.emit(one_line(exc))
            return
        if not backend.distributed:
            self.connected.emit("")
            return
        if self.running and self._client is not None and backend != self._client_backend:
            self.connection_failed.emit("a stage is running on Dask: test another choice "
                                        "when it has finished")
            return
        self._start(lambda: _dashboard(self.client_for(backend)), {
            "returned": lambda link: self.connected.emit(link or ""),
            "errored": lambda exc: self.connection_failed.emit(one_line(exc)),
        })

    def _start(self, fn: Any, connect: dict[str, Any]) -> None:
        connect = dict(connect)
        connect.setdefault("errored", lambda exc: logger.warning("compute: %s", one_line(exc)))
        worker = create_worker(fn, _start_thread=False, _connect=connect)
        self._workers.append(worker)
        worker.finished.connect(lambda w=worker: self._workers.remove(w)
                                if w in self._workers else None)
        worker.start()

    def _close_locked(self) -> None:
        stack, self._stack, self._client, self._client_backend = self._stack, None, None, None
        if stack is not None:
            try:
                stack.close()
            except Exception:  # noqa: BLE001 - the cluster is gone anyway
                logger.debug("closing the Dask client failed", exc_info=True)

    def _close_client(self) -> None:
        with self._lock:
            self._close_locked()

    def shutdown(self) -> None:
        """Cancel the runs on Dask and close the client (and local cluster); on quit."""
        for c in list(self._controls):
            c.cancel()
        if self._client is not None:
            logger.info("compute: closing the Dask client")
        self._close_client()

    def install(self, window: Any) -> None:
        """Wire into a main window: its Processing presenter's jobs, a Settings ▸ Compute…
        menu entry (``window.act_compute``) and the :class:`ComputeStatus` in its status bar."""
        from qtpy.QtGui import QAction
        from qtpy.QtWidgets import QMenu

        self.attach(window.processing)
        self.status_widget = ComputeStatus(self, window)
        window.statusBar().addPermanentWidget(self.status_widget)
        act = QAction("&Compute…", window)
        act.setStatusTip("Run the reconstruction, registration, fit and tomography in this "
                         "process, on local Dask workers or on a Dask scheduler")
        act.setToolTip(act.statusTip())
        act.triggered.connect(lambda _checked=False: self.open_dialog(window))
        window.act_compute = act
        bar = window.menuBar()
        menu = QMenu("&Settings", bar)
        menu.setObjectName("menu_settings")
        menu.addAction(act)
        menu.setToolTipsVisible(True)
        before = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if before is not None:
            bar.insertMenu(before, menu)
        else:
            bar.addMenu(menu)
        window.settings_menu = menu

    # ---------------------------------------------------------------- runs
    def attach(self, processing: Any) -> None:
        """Give a :class:`ProcessingPresenter` the reconstruct, register, fit and tomography
        jobs of this presenter."""
        processing.jobs["reconstruct"] = self.reconstruct_job
        processing.jobs["register"] = self.register_job
        processing.jobs["fit"] = self.fit_job
        processing.jobs["tomo"] = self.tomo_job

    def cancel(self) -> None:
        """Cancel the runs on Dask (the tasks stop; nothing reaches the document)."""
        for c in list(self._controls):
            c.cancel()

    @property
    def running(self) -> bool:
        """True while a run on Dask is in progress."""
        return bool(self._controls)

    def reconstruct_job(self, sample: Any, *, control: Control | None = None, **form: Any
                        ) -> Generator[Progress, None, Any]:
        """The reconstruct stage (:func:`ptyxanes_gui.presenters.stage_jobs.reconstruct_job`),
        one Dask task per scan when chosen.

        The workers read each scan from its CXI file (the scans' folder must be on
        a file system they see) and run the steps of the in-process series
        (:func:`ptyxanes.distributed.reconstruct_series_distributed`), so the stack
        equals the in-process one; no live previews come back from the workers.
        """
        choice = self.choice
        if choice.mode == "inprocess":
            return (yield from engine.reconstruct_job(sample, control=control, **form))
        import numpy as np

        from ptyxanes.distributed import reconstruct_series_distributed
        from ptyxanes.io.stack import ImageStack

        control = control or Control()
        params = engine.reconstruct_params(sample, form)
        if not sample.scans:
            raise ValueError(f"{sample.name} has no scans to reconstruct")
        logger.info("reconstruct on Dask: %d scans, one task each, %d iterations",
                    len(sample.scans), params.ptycho.iterations)
        with self._run(choice, control, "reconstruct") as run:
            tracker = yield from run.connect()
            res = yield from run.watch(reconstruct_series_distributed(
                list(sample.scans), params.ptycho, params.series, control=control,
                client=tracker))
        # the stack exactly as :func:`ptyxanes.stages.reconstruct_stage` returns it
        dims = ("energy", "row", "col") if res.angle is None else ("energy", "angle", "row", "col")
        return ImageStack(res.objects, np.asarray(res.energy, float),
                          np.asarray(res.pixel_size, float), kind="complex", angle=res.angle,
                          dims=dims, attrs={"title": "ptychography"})

    def register_job(self, sample: Any, *, control: Control | None = None,
                     shifts: Any = None, **form: Any) -> Generator[Progress, None, Any]:
        """The register stage (:func:`ptyxanes_gui.presenters.stage_jobs.register_job`), in
        passes of one Dask task per energy when chosen
        (:func:`ptyxanes.distributed.register_stack_distributed`).

        Returns ``(aligned stack, registration table, params)`` equal to the in-process
        stage's; the workers read the stack from a NeXus file in the shared folder.
        """
        choice = self.choice
        if choice.mode == "inprocess":
            return (yield from engine.register_job(sample, control=control, shifts=shifts,
                                                   **form))
        import numpy as np

        from ptyxanes import stages
        from ptyxanes.distributed import register_stack_distributed

        control = control or Control()
        params = engine.register_params(form)
        if shifts is not None:
            params = dataclasses.replace(params, shifts=tuple(map(tuple, np.asarray(
                shifts, float).tolist())))
        source = sample.unregistered if sample.unregistered is not None else sample.stack
        if source is None:
            raise ValueError(f"{sample.name} has no energy stack to register")
        with self._run(choice, control, "register") as run:
            tracker = yield from run.connect()
            path = yield from run.write(source, "register")
            stk = dataclasses.replace(source, attrs={**source.attrs, "source_file": str(path)})
            aligned, reg = yield from run.watch(register_stack_distributed(
                stk, params, control=control, client=tracker))
        return aligned, stages.registration_table(source, reg), params

    def fit_job(self, sample: Any, *, control: Control | None = None, **form: Any
                ) -> Generator[Progress, None, Any]:
        """The fit stage (:func:`ptyxanes_gui.presenters.stage_jobs.fit_job`), on Dask when chosen.

        The maps equal the in-process fit's: the workers run the same block
        functions (:func:`ptyxanes.distributed.fit_stack_distributed`).
        """
        choice = self.choice
        if choice.mode == "inprocess":
            return (yield from engine.fit_job(sample, control=control, **form))
        from ptyxanes.distributed import fit_stack_distributed

        control = control or Control()
        stack = sample.volume_stack if sample.volume_stack is not None else sample.stack
        with self._run(choice, control, "fit") as run:
            tracker = yield from run.connect()
            path = yield from run.write(stack, "fit")

            def fit(stk: Any, **kwargs: Any) -> Generator[Progress, None, Any]:
                stk = dataclasses.replace(stk, attrs={**stk.attrs, "source_file": str(path)})
                return fit_stack_distributed(stk, client=tracker, **kwargs)

            return (yield from run.watch(engine.fit_job(sample, control=control, fit=fit,
                                                        **form)))

    def tomo_job(self, sample: Any, *, control: Control | None = None, **form: Any
                 ) -> Generator[Progress, None, Any]:
        """The tomography stage (:func:`ptyxanes_gui.presenters.stage_jobs.tomo_job`), one Dask
        task per energy when chosen (:func:`ptyxanes.distributed.reconstruct_tilt_stack_distributed`)."""
        choice = self.choice
        if choice.mode == "inprocess":
            return (yield from engine.tomo_job(sample, control=control, **form))
        from ptyxanes.distributed import reconstruct_tilt_stack_distributed

        control = control or Control()
        params = engine.tomo_params(form)
        stack = sample.tilt_stack
        if stack is None or stack.angle is None:
            raise ValueError(f"{sample.name} has no tilt series to reconstruct")
        with self._run(choice, control, "tomo") as run:
            tracker = yield from run.connect()
            path = yield from run.write(stack, "tomo")
            stk = dataclasses.replace(stack, attrs={**stack.attrs, "source_file": str(path)})
            volumes, _series = yield from run.watch(reconstruct_tilt_stack_distributed(
                stk, control=control, client=tracker, pixel_size=params.pixel_size,
                algorithm=params.algorithm, iterations=params.iterations, align=params.align,
                center=params.center, max_outer=params.max_outer))
            return volumes

    @contextlib.contextmanager
    def _run(self, choice: ComputeChoice, control: Control, stage: str) -> Iterator[_Run]:
        run = _Run(self, choice, control, stage)
        self._controls.append(control)
        try:
            yield run
        except BaseException as exc:
            from ptyxanes.progress import Cancelled

            run.emit("cancelled" if isinstance(exc, (Cancelled, GeneratorExit)) else "failed")
            raise
        else:
            run.emit("done")
        finally:
            self._controls.remove(control)
            run.cleanup()

    def _emit_counts(self, counts: TaskCounts) -> None:
        self.last_counts = counts
        self.tasks_changed.emit(counts)


class _Run:
    """One stage on Dask: the client, the workers' input file and the task counts."""

    def __init__(self, presenter: ComputePresenter, choice: ComputeChoice, control: Control,
                 stage: str) -> None:
        self.presenter = presenter
        self.choice = choice
        self.control = control
        self.stage = stage
        self.tracker: TaskTracker | None = None
        self.dashboard = ""
        self.folder: Path | None = None
        self._last = 0.0

    def connect(self) -> Generator[Progress, None, TaskTracker]:
        backend = self.choice.backend()
        yield Progress(0, 1, f"connecting to {backend.describe()}", self.stage)
        client = self.presenter.client_for(backend)
        self.control.check()
        self.dashboard = _dashboard(client) or ""
        self.tracker = TaskTracker(client)
        self.emit("running")
        return self.tracker

    def write(self, stack: Any, name: str) -> Generator[Progress, None, Path]:
        """The stack as a NeXus file the workers read (in the shared folder)."""
        from ptyxanes.io.nexus import write_stack

        yield Progress(0, 1, "writing the stack for the Dask workers", self.stage)
        base = self.choice.shared_dir or None
        if base is not None and not Path(base).is_dir():
            raise ValueError(f"the shared folder {base} for the Dask workers does not exist")
        self.folder = Path(tempfile.mkdtemp(prefix="ptyxanes-dask-", dir=base))
        path = write_stack(self.folder / f"{name}-input.nxs", stack)
        self.control.check()
        return Path(path)

    def watch(self, gen: Generator[Progress, None, Any]) -> Generator[Progress, None, Any]:
        """Relay ``gen``'s progress and send the task counts about every 0.5 s."""
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            now = time.monotonic()
            if now - self._last >= COUNT_INTERVAL_S:
                self._last = now
                self.emit("running")
            yield p

    def emit(self, state: str) -> None:
        t = self.tracker
        if t is None:
            counts = TaskCounts(stage=self.stage, dashboard=self.dashboard, state=state)
        else:
            counts = TaskCounts(done=t.done, submitted=t.submitted,
                                running=t.running() if state == "running" else 0,
                                failed=t.failed, stage=self.stage, dashboard=self.dashboard,
                                state=state)
        self.presenter._emit_counts(counts)

    def cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _dashboard(client: Any) -> str | None:
    from ptyxanes.distributed import dashboard_link

    return dashboard_link(client)


class ComputeStatus(QWidget):
    """Status-bar widget of the runs on Dask: tasks, dashboard link, Cancel.

    Parameters
    ----------
    presenter : ComputePresenter
    parent : QWidget, optional
    """

    def __init__(self, presenter: ComputePresenter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compute_status")
        self.presenter = presenter
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.where = QLabel()
        self.tasks = QLabel()
        self.link = QLabel()
        self.link.setOpenExternalLinks(True)
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.cancel_btn = QToolButton()
        self.cancel_btn.setText("Cancel")
        self.cancel_btn.setToolTip("Stop the run on Dask; nothing it computed is kept")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(presenter.cancel)
        for w in (self.where, self.tasks, self.link, self.cancel_btn):
            layout.addWidget(w)
        presenter.choice_changed.connect(self._on_choice_changed)
        presenter.tasks_changed.connect(self._on_tasks_changed)
        presenter.connected.connect(self._on_connected)
        self._on_choice_changed(presenter.choice)

    def _on_choice_changed(self, choice: ComputeChoice) -> None:
        self.setVisible(choice.mode != "inprocess")
        self.where.setText("Dask:")
        self.where.setToolTip(choice.describe())
        self.tasks.setText("idle")
        self.link.setText("")

    def _on_connected(self, link: str) -> None:
        self._set_link(link)

    def _set_link(self, link: str) -> None:
        self.link.setText(f'<a href="{link}">dashboard</a>' if link else "")
        self.link.setToolTip(link)

    def _on_tasks_changed(self, c: TaskCounts) -> None:
        text = (f"{c.stage}: {c.done}/{c.submitted} tasks done, {c.running} running, "
                f"{c.failed} failed")
        if c.state != "running":
            text += f" ({c.state})"
        self.tasks.setText(text)
        self._set_link(c.dashboard)
        self.cancel_btn.setEnabled(c.state == "running")
