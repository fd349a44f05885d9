"""Short jobs of the window's presenters in superqt workers: a one-off call with a busy
bar in the status bar, or a generator of ``Progress`` with a progress dialog and Cancel.

The stages have their own presenter (:mod:`.processing_presenter`); this is for
the rest: demo builds, figures, movies, the spectral exploration.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class Tasks:
    """Run work off the GUI thread for the presenters of one window.

    Parameters
    ----------
    window : MainWindow
        Its status bar shows the busy bars; its ``show_error`` reports failures;
        progress dialogs are its children.
    """

    def __init__(self, window: Any) -> None:
        self.window = window
        self.workers: list[Any] = []
        self.busy = 0  # long operations running in workers (demo build ...)

    def _keep(self, worker: Any) -> None:
        self.workers.append(worker)
        worker.finished.connect(lambda w=worker: self.workers.remove(w)
                                if w in self.workers else None)

    def call(self, what: str, fn, done) -> None:
        """Run ``fn()`` (a slow, non-GUI call) in a worker; ``done(result)`` on success.

        The status bar shows a busy bar meanwhile; errors become a message box."""
        from qtpy.QtWidgets import QProgressBar
        from superqt.utils import create_worker

        status = self.window.statusBar()
        bar = QProgressBar()
        bar.setRange(0, 0)
        bar.setMaximumWidth(160)
        status.addPermanentWidget(bar)
        status.showMessage(f"{what}…")
        self.busy += 1

        def finish() -> None:
            status.removeWidget(bar)
            bar.deleteLater()
            status.clearMessage()
            self.busy -= 1

        def failed(exc: Exception) -> None:
            self.window.show_error(what, f"{what} failed: {exc}")

        self._keep(create_worker(fn, _connect={"returned": done, "errored": failed,
                                               "finished": finish}))

    def generator(self, what: str, make_gen, done):
        """Run a generator yielding ``Progress`` in a worker with a progress dialog and a
        working Cancel; ``done(result)`` on success, errors become a message box.

        ``make_gen(control)`` builds the generator (it must check ``control``)."""
        from qtpy.QtWidgets import QProgressDialog
        from superqt.utils import create_worker

        from ptyxanes.progress import Cancelled, Control

        window = self.window
        control = Control()
        dlg = QProgressDialog(f"{what}…", "Cancel", 0, 1000, window)
        dlg.setObjectName("progress_dialog")
        dlg.setWindowTitle(what)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setValue(0)
        dlg.canceled.connect(control.cancel)
        window.keep_dialog(dlg)
        self.busy += 1

        def progress(p) -> None:
            try:
                dlg.setValue(int(round(1000 * p.fraction)))
                if p.message:
                    dlg.setLabelText(f"{what}: {p.message}")
            except Exception:
                logger.debug("progress update failed", exc_info=True)

        def finish() -> None:
            self.busy -= 1
            dlg.canceled.disconnect(control.cancel)
            dlg.close()
            window.forget_dialog(dlg)

        def failed(exc: Exception) -> None:
            if isinstance(exc, Cancelled) or control.cancelled.is_set():
                window.statusBar().showMessage(f"{what}: cancelled", 5000)
                return
            window.show_error(what, f"{what} failed: {exc}")

        def job(ctrl):  # a generator function, so superqt relays the yielded progress
            return (yield from make_gen(ctrl))

        worker = create_worker(job, control, _connect={
            "yielded": progress, "returned": done, "errored": failed, "finished": finish})
        worker.control = control
        self._keep(worker)
        dlg.show()
        return worker
