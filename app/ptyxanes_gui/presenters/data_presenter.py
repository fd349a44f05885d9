"""The Data panel's presenter: opening, importing, saving and recovering samples.

Files, folders, CXI scan series, the demos, drops and File ▸ Import… all add
samples to the :class:`~ptyxanes_gui.document.Document` here; File ▸ Save writes
the whole document; :class:`AutosaveController` keeps a recovery file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, QSettings, Signal
from qtpy.QtWidgets import QFileDialog, QMessageBox, QWidget

from ptyxanes_gui.document import Document, Sample, saved_parameters
from ptyxanes_gui.panels.data_panel import DataPanel
from ptyxanes_gui.presenters import opening

logger = logging.getLogger(__name__)

MAX_RECENT = 8
DATA_FILTER = "Data and projects (*.h5 *.nxs *.hdf5 *.cxi);;All files (*)"


class DataPresenter(QObject):
    """Add samples to the document and list them in the Data panel; save the document.

    Parameters
    ----------
    window : MainWindow
        Selects a sample, refreshes the views and actions, parents the dialogs.
    panel : DataPanel
    document : Document
    settings : QSettings
        Recent files and the last folder chosen.

    Signals
    -------
    data_loaded() : samples were added
    demo_opened() : the demo finished building and is open
    imported(object) : File ▸ Import… or a drop added this Sample
    recent_changed() : the list of recent files changed
    """

    data_loaded = Signal()
    demo_opened = Signal()
    imported = Signal(object)
    recent_changed = Signal()

    def __init__(self, window: Any, panel: DataPanel, document: Document,
                 settings: QSettings) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.document = document
        self.settings = settings
        self.samples = document.samples
        self.import_dialog_shown: QWidget | None = None
        panel.sample_selected.connect(window.select_sample)

    # ---------------------------------------------------------------- folders, recent files
    def last_dir(self) -> str:
        """The folder the user last chose in a file dialog (home at first)."""
        d = str(self.settings.value("paths/last_dir", "") or "")
        return d if d and Path(d).is_dir() else str(Path.home())

    def remember_dir(self, path: str | Path) -> None:
        p = Path(path)
        self.settings.setValue("paths/last_dir", str(p if p.is_dir() else p.parent))

    def recent_files(self) -> list[str]:
        v = self.settings.value("recent/files", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def _add_recent(self, path: str) -> None:
        files = [f for f in self.recent_files() if f != path]
        files.insert(0, path)
        self.settings.setValue("recent/files", files[:MAX_RECENT])
        self.recent_changed.emit()

    # ---------------------------------------------------------------- opening
    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Open data or project",
                                                self.last_dir(), DATA_FILTER)
        if files:
            self.remember_dir(files[0])
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a folder of stack files",
                                                  self.last_dir())
        if folder:
            self.remember_dir(Path(folder).parent)
            self.open_paths([folder])

    def open_scans_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.window, "Open a folder of CXI scans (one per energy)", self.last_dir())
        if folder:
            self.remember_dir(Path(folder).parent)
            self.open_paths([folder])

    def open_demo_scans(self) -> None:
        """Open the simulated raw scans (made on first use, in a worker): a sample to
        reconstruct."""
        def done(folder: Path) -> None:
            if self.open_paths([str(folder)], title="Demo: raw ptychography scans (CXI)",
                               recent=False):
                self.window.statusBar().showMessage(
                    "Raw scans: run Reconstruct in the Processing panel (live preview)", 10000)
        self.window.tasks.call("Preparing the demo scans", opening.ensure_demo_scans, done)

    def open_demo(self, with_3d: bool = True) -> None:
        """Open the demo (built and fitted on first use, in a worker): four 2D samples
        with their valence maps, plus (``with_3d``) a 3D sample with a valence volume."""
        def build() -> tuple[Path, Path | None]:
            return opening.ensure_demo(), opening.ensure_demo_3d() if with_3d else None

        def done(paths: tuple[Path, Path | None]) -> None:
            ok = self.open_paths([str(paths[0])], title="Demo: simulated NMC811", recent=False)
            if ok and paths[1] is not None:
                self.open_demo_3d(paths[1])
            self.demo_opened.emit()
        self.window.tasks.call("Preparing the demo dataset (first time: about a minute)",
                               build, done)

    def open_demo_3d(self, path: Path | None = None) -> bool:
        """Add the 3D demo sample (a valence volume) to the Data panel without selecting it."""
        try:
            new = opening.load_path(path if path is not None else opening.ensure_demo_3d())
        except Exception as exc:
            logger.warning("3D demo not available: %s", exc)
            self.window.statusBar().showMessage(f"3D demo not available: {exc}", 10000)
            return False
        first = len(self.samples)
        for s in new:
            s.name = "NMC811 200 cycles (3D)"
        self.document.add_samples(new)
        self.panel.add_dataset(
            "Demo 3D: simulated NMC811 crystals (select to open the 3D view)",
            [(first + i, s.name, *opening.describe_shape(s)) for i, s in enumerate(new)])
        self.window.histogram.update()
        self.window._update_enabled()
        return True

    def open_paths(self, paths: list[str], title: str | None = None, recent: bool = True) -> bool:
        """Open files or folders; errors become a message box, the data stay as they were."""
        ok = False
        for path in paths:
            try:
                new = opening.load_path(path)
            except Exception as exc:
                logger.error("could not open %s: %s", path, exc)
                self.window.show_error("Could not open", f"Could not open {path}:\n\n{exc}")
                continue
            first = len(self.samples)
            if first == 0:  # the forms show the choices saved with the dataset
                self._restore_forms(Path(path))
            self.document.add_samples(new)
            rows = []
            for i, s in enumerate(new):
                rows.append((first + i, s.name, *opening.describe_shape(s)))
            self.panel.add_dataset(title or str(path), rows)
            if recent:
                self._add_recent(str(Path(path).resolve()))
            if self.document.path is None and len(self.samples) == len(new) and \
                    opening.is_dataset_file(Path(path)):
                self.document.path = Path(path)  # Save writes back where it came from
            logger.info("opened %s: %d sample(s)", path, len(new))
            if new and new[0].volume is not None:
                self.window.volume.provide(new[0])
            if not ok:
                self.panel.select(first)
                self.window.select_sample(first)
            ok = True
        if ok:
            self.window.histogram.update()
            self.window._update_enabled()
            self.data_loaded.emit()
        return ok

    def _restore_forms(self, path: Path) -> None:
        """Put the stage forms' choices saved in a dataset file back in the document
        (not an edit: no undo step, no unsaved work); a file without them changes nothing."""
        if not (path.is_file() and opening.is_dataset_file(path)):
            return
        try:
            forms = saved_parameters(path)
        except Exception as exc:  # the samples opened; the forms keep their choices
            logger.warning("%s: the saved form choices could not be read (%s)", path.name, exc)
            return
        self.document.restore_parameters(forms)

    def open_dropped(self, paths: list[Path]) -> None:
        """Dropped files and folders: projects and CXI scan folders open at once, anything
        else goes to the Import dialog (preview, energies, then Load)."""
        direct = [p for p in paths if opens_directly(p)]
        rest = [p for p in paths if p not in direct]
        if direct:
            self.open_paths([str(p) for p in direct])
        if rest:
            self.import_dialog(rest)

    def sample_changed(self, sample: Sample) -> None:
        """A stage changed the sample: its row in the Data panel follows."""
        if sample in self.samples:
            self.panel.update_sample(self.samples.index(sample), *opening.describe_shape(sample))

    # ---------------------------------------------------------------- import (File ▸ Import…)
    def import_dialog(self, paths: list[Path] | list[str] | None = None):
        """Open the Import dialog (in the last folder; previewing ``paths`` when given).

        Returns
        -------
        dialog : ImportDialog
            Non-modal; its ``stack_loaded`` adds the stack as a new sample.
        """
        from ptyxanes_gui.dialogs.import_dialog import ImportDialog

        dlg = ImportDialog(self.window, start_dir=self.last_dir())
        dlg.setObjectName("import_dialog")
        dlg.reader = ImportReader(dlg)  # its previews and loads run in a worker
        if paths:
            dlg.set_sources([Path(p) for p in paths])
        dlg.stack_loaded.connect(lambda stack, d=dlg: self.add_imported_stack(
            stack, d.preview().sources if d.preview() is not None else ()))
        dlg.finished.connect(lambda _r, d=dlg: self.window.forget_dialog(d))
        self.window.keep_dialog(dlg)
        self.import_dialog_shown = dlg
        dlg.open()
        return dlg

    def add_imported_stack(self, stack: Any, sources: Any = ()) -> Sample:
        """Add a loaded ImageStack as a new sample (unsaved work) and show it."""
        from ptyxanes_gui.document import set_4d_stack

        src = Path(sources[0]) if len(sources) else None
        if src is not None:
            self.remember_dir(src.parent)
        default = "imported"
        if src is not None:
            default = src.parent.name if src.stem in ("stack", "data", "aligned") else src.stem
        name = str(stack.attrs.get("sample", "") or stack.attrs.get("name", "") or default)
        sample = Sample(name=name, stack=stack, pixel_size=float(np.asarray(stack.pixel_size)[0]),
                        source=str(src) if src is not None else "")
        if np.ndim(stack.data) == 4:
            set_4d_stack(sample, stack)
        first = len(self.samples)
        self.document.add_samples([sample], dirty=True)
        title = f"Imported: {src}" if src is not None else "Imported"
        if len(sources) > 1:
            title += f" (+{len(sources) - 1})"
        self.panel.add_dataset(title, [(first, sample.name, *opening.describe_shape(sample))])
        logger.info("imported %s: %s", src, " × ".join(str(n) for n in np.shape(stack.data)))
        self.panel.select(first)
        self.window.select_sample(first)
        self.window.histogram.update()
        self.window._update_enabled()
        self.data_loaded.emit()
        self.imported.emit(sample)
        return sample

    # ---------------------------------------------------------------- saving
    def confirm_discard(self, ask: bool = True) -> bool:
        """Ask what to do with unsaved work (when ``ask``); True when the window may close
        or replace it."""
        if not self.document.dirty or not ask:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved work",
                          "The open samples have results or edits that are not saved.",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self.window)
        box.setInformativeText("Save them in a project file before closing?")
        box.setObjectName("unsaved_box")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        self.window._message_boxes.append(box)
        try:
            answer = box.exec()
        finally:
            self.window._message_boxes.remove(box)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project()
        return answer == QMessageBox.StandardButton.Discard

    def save_project(self, ask: bool = False) -> bool:
        """Save every sample (stacks, maps, registration, labels, tables) in one file."""
        if not self.samples:
            return False
        path = self.document.path
        if ask or path is None:
            start = str(Path(self.last_dir()) / "analysis.ptyx.h5")
            name, _ = QFileDialog.getSaveFileName(self.window, "Save project", start,
                                                  "Project (*.h5 *.nxs)")
            if not name:
                return False
            path = Path(name)
            self.remember_dir(path)
        return self.save_project_to(path)

    def save_project_to(self, path: str | Path) -> bool:
        """Save the whole document to ``path`` (errors become a message box)."""
        self.window.volume.collect_segmentation_edits()
        try:
            out = self.document.save(path)
        except Exception as exc:
            self.window.show_error("Save", f"Could not save {path}:\n\n{exc}")
            return False
        self._add_recent(str(out.resolve()))
        self.window._update_title()
        self.window.statusBar().showMessage(f"saved {len(self.samples)} sample(s) to {out}",
                                            5000)
        return True


class ImportReader(QObject):
    """Run an Import dialog's reads in a worker when it asks (``read_requested``) and
    hand the progress, the preview or stack, or the failure back to it.

    Parameters
    ----------
    dialog : ImportDialog
    """

    def __init__(self, dialog: Any) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.worker: Any = None
        dialog.read_requested.connect(self._on_read_requested)

    def _on_read_requested(self, job: int, kind: str, request: Any, energies: Any,
                           control: Any) -> None:
        from superqt.utils import create_worker

        from ptyxanes_gui.dialogs.import_dialog import load_job, preview_job

        d = self.dialog
        args = (request, control) if kind == "preview" else (request, energies, control)
        self.worker = create_worker(
            preview_job if kind == "preview" else load_job, *args,
            _connect={"yielded": lambda p, j=job: d.job_progress(j, p),
                      "returned": lambda r, j=job: d.job_returned(j, r),
                      "errored": lambda e, j=job: d.job_failed(j, e)})


def opens_directly(path: Path) -> bool:
    """A project/result file or a CXI scan folder: opened as is, not through Import."""
    p = Path(path)
    if p.suffix.lower() == ".cxi" or (p.is_dir() and any(p.glob("*.cxi"))):
        return True
    return p.is_file() and p.suffix.lower() in (".h5", ".nxs", ".hdf5") and opening.is_project(p)


class AutosaveController:
    """Writes the document to a recovery file every few minutes while it has unsaved
    work, and offers it back at the next start when the application did not close cleanly.

    Parameters
    ----------
    window : MainWindow
    document : Document
    settings : QSettings
        The recovery file sits next to the settings file.
    interval_ms : int
        Time between autosaves.
    """

    def __init__(self, window: Any, document: Document, settings: QSettings,
                 interval_ms: int = 120_000) -> None:
        from qtpy.QtCore import QTimer

        self.window = window
        self.document = document
        self.path = Path(settings.fileName()).with_name("recovery.ptyx.h5")
        self.timer = QTimer(window)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()

    def autosave(self) -> Path | None:
        """Write the recovery file now when there is unsaved work."""
        if not self.document.dirty or self.window.processing.workers:
            return None
        try:
            self.window.volume.collect_segmentation_edits()
            out = self.document.autosave(self.path)
        except Exception:
            logger.warning("autosave to %s failed", self.path, exc_info=True)
            return None
        logger.debug("autosaved to %s", out)
        return out

    def discard(self) -> None:
        """The application closes cleanly: no recovery needed."""
        self.timer.stop()
        self.path.unlink(missing_ok=True)

    def pending(self) -> Path | None:
        """The recovery file of a session that did not close cleanly, if any."""
        return self.path if self.path.is_file() else None

    def offer(self) -> bool:
        """Ask whether to reopen the recovery file; True when it was opened."""
        path = self.pending()
        if path is None:
            return False
        answer = QMessageBox.question(
            self.window, "Recover unsaved work",
            "ptyxanes did not close cleanly last time. Open the work saved automatically "
            f"at {time.strftime('%Y-%m-%d %H:%M', time.localtime(path.stat().st_mtime))}?",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Discard)
        if answer != QMessageBox.StandardButton.Open:
            path.unlink(missing_ok=True)
            return False
        ok = self.window.data.open_paths([str(path)], title="Recovered work", recent=False)
        if ok:
            self.document.path = None  # Save asks where: the recovery file is not a place
            self.document.set_dirty(True)
        return ok
