"""Runs pipeline stages in background workers and hands results back to the window."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Signal
from superqt.utils import create_worker

from ptyxanes.progress import Cancelled, Control, Progress
from ptyxanes_gui.panels.processing_panel import ProcessingPanel
from ptyxanes_gui.presenters import engine

logger = logging.getLogger(__name__)

#: stage -> (engine feature that must exist, job factory)
JOBS: dict[str, tuple[str | None, Callable[..., Any] | None]] = {
    "register": ("register", engine.register_job),
    "fit": ("fit", engine.fit_job),
}


class ProcessingPresenter(QObject):
    """Own one worker per stage; results go out through signals, errors to the user.

    Signals
    -------
    stage_finished(str, object, object) : stage, sample, result (only on success)
    stage_failed(str, str) : stage, readable message (not for a cancel)
    stage_cancelled(str)
    preview(object) : an intermediate image from a running stage
    """

    stage_finished = Signal(str, object, object)
    stage_failed = Signal(str, str)
    stage_cancelled = Signal(str)
    preview = Signal(object)

    def __init__(self, panel: ProcessingPanel, current_sample: Callable[[], Any]) -> None:
        super().__init__(panel)
        self._panel = panel
        self._current_sample = current_sample
        self._controls: dict[str, Control] = {}
        self.workers: dict[str, Any] = {}
        panel.run_requested.connect(self._on_run_requested)
        panel.cancel_requested.connect(self._on_cancel_requested)
        self.refresh_availability()

    def refresh_availability(self) -> None:
        for key, box in self._panel.stages.items():
            feature, _job = JOBS.get(key, (None, None))
            if feature is None:
                box.set_available(f"not available yet: the engine has no '{key}' stage "
                                  "wired to the GUI")
            else:
                box.set_available(engine.available(feature))

    def is_running(self, stage: str) -> bool:
        return stage in self.workers

    def _on_run_requested(self, stage: str, params: dict) -> None:
        self.run_on(stage, self._current_sample(), params)

    def run_on(self, stage: str, sample: Any, params: dict) -> None:
        """Start ``stage`` on ``sample`` in a background worker (one per stage at a time)."""
        box = self._panel.stages[stage]
        if sample is None or sample.stack is None:
            self.stage_failed.emit(stage, "Open a dataset with an energy stack first.")
            return
        if stage in self.workers:
            return
        _feature, job = JOBS[stage]
        control = Control()
        self._controls[stage] = control
        kwargs = {k: (int(v) if float(v).is_integer() and k in ("reference", "upsample_factor")
                      else v) for k, v in params.items()}
        logger.info("%s: started on %s %s", stage, sample.name, kwargs)
        box.set_running(True)
        self.workers[stage] = create_worker(
            job, sample, control=control, **kwargs,
            _connect={
                "yielded": lambda p, s=stage: self._on_worker_yielded(s, p),
                "returned": lambda r, s=stage, smp=sample: self._on_worker_returned(s, smp, r),
                "errored": lambda e, s=stage: self._on_worker_errored(s, e),
                "finished": lambda s=stage: self._on_worker_finished(s),
            },
        )

    def _on_cancel_requested(self, stage: str) -> None:
        control = self._controls.get(stage)
        if control is not None:
            logger.info("%s: cancel requested", stage)
            control.cancel()

    def _on_worker_yielded(self, stage: str, p: Any) -> None:
        if isinstance(p, Progress):
            self._panel.stages[stage].show_progress(p.fraction, p.message or stage)
            if p.preview is not None:
                self.preview.emit(p.preview)

    def _on_worker_returned(self, stage: str, sample: Any, result: Any) -> None:
        self._panel.stages[stage].show_progress(1.0, "done")
        logger.info("%s: finished on %s", stage, sample.name)
        self.stage_finished.emit(stage, sample, result)

    def _on_worker_errored(self, stage: str, exc: Exception) -> None:
        box = self._panel.stages[stage]
        if isinstance(exc, Cancelled):
            box.show_progress(0.0, "cancelled")
            logger.info("%s: cancelled; data unchanged", stage)
            self.stage_cancelled.emit(stage)
            return
        box.show_progress(0.0, "failed")
        logger.error("%s failed: %s: %s", stage, type(exc).__name__, exc)
        self.stage_failed.emit(stage, f"{stage} failed: {exc}")

    def _on_worker_finished(self, stage: str) -> None:
        self.workers.pop(stage, None)
        self._controls.pop(stage, None)
        self._panel.stages[stage].set_running(False)

    def cancel_all(self) -> None:
        for c in self._controls.values():
            c.cancel()
