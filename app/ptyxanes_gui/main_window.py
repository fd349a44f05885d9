"""The main window: image view in the centre, dockable panels around it."""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QByteArray, QSettings, Qt, QUrl, Signal
from qtpy.QtGui import QAction, QDesktopServices, QKeySequence
from qtpy.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from ptyxanes_gui.document import Document, Edit
from ptyxanes_gui.panels.data_panel import DataPanel
from ptyxanes_gui.panels.histogram_panel import HistogramPanel
from ptyxanes_gui.panels.image_panel import ImagePanel
from ptyxanes_gui.panels.log import LogPanel, QtLogHandler
from ptyxanes_gui.panels.processing_panel import ProcessingPanel
from ptyxanes_gui.panels.spectrum_panel import SpectrumPanel
from ptyxanes_gui.presenters import engine
from ptyxanes_gui.presenters.engine import ENERGY_CHANNELS, MAP_CHANNELS, Sample
from ptyxanes_gui.presenters.processing_presenter import ProcessingPresenter
from ptyxanes_gui.viewers import colormaps

logger = logging.getLogger(__name__)

DOCS_URL = "https://github.com/ptyxanes/ptyxanes/blob/main/README.md"
MAX_RECENT = 8
HIST_BINS = np.linspace(1.5, 4.0, 126)
DATA_FILTER = "Data and projects (*.h5 *.nxs *.hdf5 *.cxi);;All files (*)"


class MainWindow(QMainWindow):
    """ptyxanes main window.

    Parameters
    ----------
    settings : QSettings
        Where layout, recent files and preferences persist (tests pass a temporary one).

    Signals
    -------
    data_loaded() : samples were added
    spectrum_shown(int, int) : the spectrum panel now shows pixel (row, col)
    highlight_changed() : the highlighted pixel set changed
    preview_shown() : the image view drew a live preview of a running stage
    demo_opened() : the demo finished building and is open
    """

    data_loaded = Signal()
    spectrum_shown = Signal(int, int)
    highlight_changed = Signal()
    preview_shown = Signal()
    demo_opened = Signal()
    imported = Signal(object)  # Sample: File ▸ Import… or a drop added it
    figure_exported = Signal(object)  # Path of a paper figure
    movie_exported = Signal(object)  # Path of a rotating-volume movie
    explored = Signal(object)  # Sample: Process ▸ Explore spectra added its channels

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ptyxanes_main_window")
        self.setWindowTitle("ptyxanes")
        self.setAcceptDrops(True)
        from ptyxanes_gui.about import application_icon

        self.setWindowIcon(application_icon())
        self.settings = settings
        self.document = Document()
        self.samples: list[Sample] = self.document.samples  # the same list, never rebound
        self.current: int = -1
        self.energy_index = 0
        self.valence_limits: tuple[float, float] = self._default_valence_limits()
        self.channel_limits: dict[str, tuple[float, float]] = {}
        self.highlight_mask: np.ndarray | None = None
        self.last_error: str = ""
        self.last_click_ms: float = 0.0
        self.busy = 0  # long operations running in workers (demo build ...)
        #: ask before closing with unsaved work (scripts and tests may turn it off)
        self.ask_before_close = True
        self._workers: list[Any] = []
        self._message_boxes: list[QMessageBox] = []
        self._volume_panel = None
        self._segmentation_panel = None
        self._shown_volume = None  # the volume the 3D docks show now
        self._extra_labels: dict[str, str] = {}  # result channels added at run time (explore)
        self._dialogs: list[QWidget] = []  # open non-modal dialogs (import, about, progress)

        self.image_panel = ImagePanel(self)
        self.setCentralWidget(self.image_panel)
        self.data_panel = DataPanel()
        self.spectrum_panel = SpectrumPanel()
        self.histogram_panel = HistogramPanel()
        self.processing_panel = ProcessingPanel()
        self.log_panel = LogPanel()
        # small minimum widths: the window must fit a 1366 x 768 laptop with every dock open
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("data", "Data", self.data_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("processing", "Processing", self.processing_panel,
                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("spectrum", "Spectrum", self.spectrum_panel,
                       Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("histogram", "Histogram", self.histogram_panel,
                       Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("log", "Log", self.log_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        for key, width in (("data", 160), ("processing", 200), ("spectrum", 220)):
            self.docks[key].setMinimumWidth(width)
        self._sized = False
        self._add_registration_dock()
        self._default_state = self.saveState()

        self.log_handler = QtLogHandler()
        self.log_handler.emitter.record.connect(self.log_panel.append)
        for name in ("ptyxanes", "ptyxanes_gui"):
            lg = logging.getLogger(name)
            lg.addHandler(self.log_handler)
            if lg.getEffectiveLevel() > logging.INFO:
                lg.setLevel(logging.INFO)

        self.processing = ProcessingPresenter(self.processing_panel, self.current_sample,
                                              self.document)
        self.processing.stage_finished.connect(self._on_stage_finished)
        self.processing.stage_failed.connect(lambda _s, msg: self.show_error("Processing", msg))
        self.processing.stage_cancelled.connect(self._on_stage_cancelled)
        self.processing.stage_failed.connect(lambda _s, _m: self._end_preview())
        self.processing.preview.connect(self._on_preview)
        self.previews_drawn = 0
        self._previewing = False

        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect_panels()
        self.spectrum_panel.set_references(engine.reference_spectra())
        self.histogram_panel.set_reference_lines(engine.reference_valences())
        self._restore_settings()
        self._update_enabled()
        self.document.dirty_changed.connect(self._on_dirty_changed)
        self.document.undo_changed.connect(self._on_undo_changed)
        self._autosave = AutosaveController(self, self.document, self.settings)

    # ================================================================ construction
    def _add_dock(self, key: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        # a scroll area: a panel wider or taller than its share of a laptop screen
        # scrolls instead of pushing the window's minimum size past the screen
        from qtpy.QtWidgets import QFrame, QScrollArea

        scroll = QScrollArea()
        scroll.setObjectName(f"scroll_{key}")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(widget)
        dock.setWidget(scroll)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _add_registration_dock(self) -> None:
        try:
            from ptyxanes_gui.panels.registration_panel import RegistrationPanel
        except ImportError:
            logger.debug("registration panel not available", exc_info=True)
            return
        self.registration_panel = RegistrationPanel()
        dock = self._add_dock("registration", "Registration QA", self.registration_panel,
                              Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.docks["histogram"], dock)
        self.docks["histogram"].raise_()
        self.registration_panel.shifts_edited.connect(self._on_registration_shifts_edited)
        self.registration_panel.apply_requested.connect(self._on_registration_apply)
        self.registration_panel.undo_apply_requested.connect(self._on_registration_undo_apply)

    def _build_status_bar(self) -> None:
        self.readout = QLabel("")
        self.readout.setObjectName("pixel_readout")
        self.readout.setMinimumWidth(80)  # elided by the status bar, never widens the window
        self.compute_label = QLabel(f"compute: {engine.describe_compute()}")
        self.compute_label.setObjectName("compute_path")
        self.statusBar().addWidget(self.readout, 1)
        self.statusBar().addPermanentWidget(self.compute_label)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.triggered.connect(lambda _checked=False: slot())
        return a

    def _build_actions(self) -> None:
        S = QKeySequence.StandardKey
        self.act_open = self._action("&Open…", self.open_dialog, S.Open,
                                     "Open a NeXus stack, a result/project file or a folder")
        self.act_import = self._action(
            "&Import…", self.import_dialog, "Ctrl+I",
            "Preview any readable stack (NeXus, TIFF series, STXM, HDF5 …), check its energies "
            "and load it as a new sample")
        self.act_open_folder = self._action("Open &folder…", self.open_folder_dialog, None,
                                            "Open every stack file in a folder as samples")
        self.act_demo = self._action("Open &demo dataset", self.open_demo, None,
                                     "The built-in simulated NMC811 dataset (4 samples)")
        self.act_open_scans = self._action(
            "Open &scans (CXI folder)…", self.open_scans_dialog, None,
            "A folder of CXI ptychography scans, one per energy: reconstruct it in the "
            "Processing panel")
        self.act_demo_scans = self._action(
            "Open demo s&cans", self.open_demo_scans, None,
            "Simulated raw ptychography scans (tiny NMC811 twin, 18 energies) to reconstruct")
        self.act_save = self._action("&Save project", self.save_project, S.Save,
                                     "Save every sample with its stacks, maps, registration, "
                                     "labels and tables in one project file")
        self.act_save_as = self._action("Save project &as…", lambda: self.save_project(ask=True),
                                        S.SaveAs, "Save the project under a new name")
        self.act_export_fig = self._action("Export &figure…", self.export_figure_dialog,
                                           "Ctrl+E", "Image with colour bar and scale bar: "
                                           "PNG/TIFF (chosen DPI), SVG, PDF")
        self.act_export_samples = self._action(
            "Export all samples' &valence maps…", self.export_samples_figure_dialog, None,
            "Valence maps of every sample side by side, shared colour limits")
        self.act_export_spec = self._action("Export &spectrum CSV…", self.export_spectrum_dialog,
                                            None, "The curves in the Spectrum panel as CSV")
        self.act_export_hist = self._action("Export &histogram CSV…",
                                            self.export_histogram_dialog, None,
                                            "The histograms in the Histogram panel as CSV")
        self.act_export_3d = self._action(
            "Export &3D view…", self._export_3d_view, None,
            "Screenshot of the napari 3D view at a chosen size (PNG/TIFF)")
        self.act_export_movie = self._action(
            "Export rotating 3D &movie…", self._export_3d_movie, None,
            "The 3D view turning 360° as an animated GIF (MP4 with imageio-ffmpeg)")
        from ptyxanes_gui.presenters.paper_figures import PAPER_FIGURES

        self.act_paper: dict[str, QAction] = {}
        for kind, (text, _default, three_d) in PAPER_FIGURES.items():
            self.act_paper[kind] = self._action(
                text, lambda k=kind: self.paper_figure_dialog(k), None,
                ("From the 3D sample (current, else the first): " if three_d else
                 "From every 2D sample's valence map: ")
                + "PNG/TIFF at a chosen size and DPI, SVG, PDF")
        self.act_explore = self._action(
            "&Explore spectra (PCA, clusters)…", self.explore_dialog, None,
            "Principal components and k-means clusters of the current sample's normalised "
            "spectra, shown as result channels (click a cluster to highlight its pixels)")
        self.act_quit = self._action("&Quit", self.close, S.Quit)
        self.act_undo = self._action("&Undo", self.undo, S.Undo)
        self.act_redo = self._action("&Redo", self.redo, S.Redo)
        self.act_undo.setEnabled(False)
        self.act_redo.setEnabled(False)
        self.act_reset = self._action("&Reset layout", self.reset_layout, None,
                                      "Put every panel back where it started")
        self.act_3d = self._action("&3D volume", self.show_volume_dock, None,
                                   "The valence volume in napari (3D results only)")
        self.act_fit = self._action("&Fit XANES (current sample)",
                                    lambda: self._run_stage("fit"), "Ctrl+R")
        self.act_fit_all = self._action("Fit XANES of &all samples", self.fit_all_samples, None,
                                        "Fit every open sample, one after the other")
        self.act_register = self._action("&Register energies (current sample)",
                                         lambda: self._run_stage("register"))
        self.act_reconstruct = self._action(
            "Re&construct scans (current sample)", lambda: self._run_stage("reconstruct"), None,
            "Ptychography of every energy of the sample's CXI scans, with a live preview")
        self.act_tomo = self._action(
            "&Tomography (current sample)", lambda: self._run_stage("tomo"), None,
            "Align and reconstruct the tilt series of every energy into volumes (SIRT)")
        self.act_reconstruct.setIconText("Reconstruct")  # short toolbar labels
        self.act_tomo.setIconText("Tomography")
        self.act_segment = self._action(
            "&Segment >Ni³⁺ and crystals (current sample)", lambda: self._run_stage("segment"),
            None, "Threshold the valence (map or volume), remove small islands, label the "
                  "crystals and tabulate their >Ni³⁺ fraction, mean valence and slab normal")
        self.act_cancel = self._action("&Cancel all", self.processing.cancel_all, "Esc")
        self.act_about = self._action("&About ptyxanes", self.show_about)
        self.act_docs = self._action("&Documentation", self.open_docs)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        for a in (self.act_open, self.act_import, self.act_open_folder, self.act_open_scans,
                  self.act_demo, self.act_demo_scans):
            f.addAction(a)
        self.recent_menu = f.addMenu("Open &recent")
        f.addSeparator()
        for a in (self.act_save, self.act_save_as):
            f.addAction(a)
        f.addSeparator()
        exp = f.addMenu("E&xport")
        for a in (self.act_export_fig, self.act_export_samples, self.act_export_spec,
                  self.act_export_hist, self.act_export_3d, self.act_export_movie):
            exp.addAction(a)
        exp.addSeparator()
        for a in self.act_paper.values():
            exp.addAction(a)
        f.addSeparator()
        f.addAction(self.act_quit)
        f.setToolTipsVisible(True)
        exp.setToolTipsVisible(True)
        e = mb.addMenu("&Edit")
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        v = mb.addMenu("&View")
        self.view_menu = v
        for key in self.docks:
            v.addAction(self.docks[key].toggleViewAction())
        v.addAction(self.act_3d)
        v.addSeparator()
        v.addAction(self.act_reset)
        v.setToolTipsVisible(True)
        p = mb.addMenu("&Process")
        for a in (self.act_reconstruct, self.act_register, self.act_tomo, self.act_fit,
                  self.act_fit_all, self.act_segment, self.act_cancel):
            p.addAction(a)
        p.insertAction(self.act_cancel, self.act_explore)
        p.setToolTipsVisible(True)
        h = mb.addMenu("&Help")
        h.addAction(self.act_docs)
        h.addAction(self.act_about)
        self._refresh_recent_menu()

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        for a in (self.act_open, self.act_demo, self.act_save, self.act_export_fig):
            tb.addAction(a)
        tb.addSeparator()
        for a in (self.act_reconstruct, self.act_register, self.act_tomo, self.act_fit,
                  self.act_cancel):
            tb.addAction(a)

    def _connect_panels(self) -> None:
        ip = self.image_panel
        ip.channel_changed.connect(lambda _c: self.update_image())
        ip.energy_changed.connect(self._on_energy_changed)
        ip.limits_changed.connect(self._on_limits_changed)
        ip.mask_overlay_toggled.connect(lambda _on: self._update_mask_overlay())
        ip.viewer.pixel_hovered.connect(self._on_pixel_hovered)
        ip.viewer.pixel_clicked.connect(self.show_pixel_spectrum)
        ip.viewer.roi_changed.connect(self._on_roi_changed)
        self.data_panel.sample_selected.connect(self.select_sample)
        hp = self.histogram_panel
        hp.range_changed.connect(self._on_highlight_range)
        hp.highlight_toggled.connect(lambda on: None if on else self._set_highlight(None))
        hp.scope_changed.connect(lambda _s: self.update_histogram())
        hp.overlay_toggled.connect(lambda _o: self.update_histogram())
        hp.export_requested.connect(self.export_histogram_dialog)
        self.spectrum_panel.export_requested.connect(self.export_spectrum_dialog)

    def _update_enabled(self) -> None:
        """Enable what applies to the current sample, with the reason as tooltip otherwise."""
        sample = self.current_sample()
        for action, stage in ((self.act_fit, "fit"), (self.act_register, "register"),
                              (self.act_reconstruct, "reconstruct"), (self.act_tomo, "tomo"),
                              (self.act_segment, "segment")):
            reason = engine.stage_input_problem(stage, sample)
            action.setEnabled(reason is None)
            action.setToolTip(reason or action.text().replace("&", ""))
            action.setStatusTip(reason or "")
        has_data = bool(self.samples)
        for a in (self.act_save, self.act_save_as, self.act_fit_all):
            a.setEnabled(has_data)
            a.setToolTip("" if has_data else "open a dataset first")
        self.act_3d.setEnabled(any(s.volume is not None for s in self.samples))
        has_3d = self._volume_panel is not None and self._shown_volume is not None
        for a in (self.act_export_3d, self.act_export_movie):
            a.setEnabled(has_3d)
            a.setToolTip("" if has_3d else "open a 3D result first (the 3D dock)")
        any_3d = any(s.volume is not None for s in self.samples)
        any_2d = any(s.volume is None and "valence" in s.maps for s in self.samples)
        for kind, act in self.act_paper.items():
            ok = any_2d if kind == "fig5" else any_3d
            act.setEnabled(ok)
        self.act_export_movie.setEnabled(any_3d)
        self.act_export_movie.setToolTip("" if any_3d else "open a 3D result first")
        explore_ok = sample is not None and sample.stack is not None and \
            np.ndim(sample.stack.data) == 3
        self.act_explore.setEnabled(explore_ok)
        self.act_explore.setToolTip("" if explore_ok else "the current sample has no energy stack")
        if not self.act_3d.isEnabled():
            self.act_3d.setToolTip("no 3D result is open (open a project with a valence volume)")

    # ================================================================ settings
    def _default_valence_limits(self) -> tuple[float, float]:
        from ptyxanes.figures.colormaps import VALENCE_LIMITS

        return VALENCE_LIMITS

    def _restore_settings(self) -> None:
        s = self.settings
        geom = s.value("window/geometry")
        if isinstance(geom, QByteArray):
            self.restoreGeometry(geom)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        lo = s.value("valence/lo", type=float)
        hi = s.value("valence/hi", type=float)
        if lo is not None and hi is not None and hi > lo:
            self.valence_limits = (lo, hi)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("valence/lo", self.valence_limits[0])
        s.setValue("valence/hi", self.valence_limits[1])
        s.sync()

    def recent_files(self) -> list[str]:
        v = self.settings.value("recent/files", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def _add_recent(self, path: str) -> None:
        files = [f for f in self.recent_files() if f != path]
        files.insert(0, path)
        self.settings.setValue("recent/files", files[:MAX_RECENT])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for f in files:
            a = self.recent_menu.addAction(f)
            a.triggered.connect(lambda _c=False, p=f: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(files))

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            if dock.objectName() not in ("dock_volume", "dock_segmentation"):
                dock.setVisible(True)
                dock.setFloating(False)
        self.apply_default_sizes()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if not self._sized and not self.settings.contains("window/state"):
            self._sized = True
            self.apply_default_sizes()

    def apply_default_sizes(self) -> None:
        w = self.width()
        self.resizeDocks([self.docks["data"], self.docks["spectrum"]],
                         [max(260, w // 5), max(420, int(w * 0.36))], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["data"], self.docks["processing"]],
                         [self.height() // 4, self.height() // 2], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["spectrum"], self.docks["histogram"]],
                         [self.height() // 2, self.height() // 3], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["log"]], [80], Qt.Orientation.Vertical)

    def confirm_discard(self) -> bool:
        """Ask what to do with unsaved work; True when the window may close or replace it."""
        if not self.document.dirty or not self.ask_before_close:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved work",
                          "The open samples have results or edits that are not saved.",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("Save them in a project file before closing?")
        box.setObjectName("unsaved_box")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        self._message_boxes.append(box)
        try:
            answer = box.exec()
        finally:
            self._message_boxes.remove(box)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project()
        return answer == QMessageBox.StandardButton.Discard

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if not self.confirm_discard():
            event.ignore()
            return
        self._autosave.discard()
        self.save_settings()
        self.processing.cancel_all()
        from superqt.utils import WorkerBase

        WorkerBase.await_workers(2000)
        if self._volume_panel is not None:
            try:
                self._volume_panel.close_viewer()
            except Exception:
                logger.debug("closing the 3D viewer failed", exc_info=True)
        logging.getLogger("ptyxanes").removeHandler(self.log_handler)
        logging.getLogger("ptyxanes_gui").removeHandler(self.log_handler)
        super().closeEvent(event)

    # ================================================================ opening
    def last_dir(self) -> str:
        """The folder the user last chose in a file dialog (home at first)."""
        d = str(self.settings.value("paths/last_dir", "") or "")
        return d if d and Path(d).is_dir() else str(Path.home())

    def _remember_dir(self, path: str | Path) -> None:
        p = Path(path)
        self.settings.setValue("paths/last_dir", str(p if p.is_dir() else p.parent))

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open data or project", self.last_dir(),
                                                DATA_FILTER)
        if files:
            self._remember_dir(files[0])
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of stack files",
                                                  self.last_dir())
        if folder:
            self._remember_dir(Path(folder).parent)
            self.open_paths([folder])

    def open_scans_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder of CXI scans (one per energy)", self.last_dir())
        if folder:
            self._remember_dir(Path(folder).parent)
            self.open_paths([folder])

    def _in_worker(self, what: str, fn, done) -> None:
        """Run ``fn()`` (a slow, non-GUI call) in a worker; ``done(result)`` on success.

        The status bar shows a busy bar meanwhile; errors become a message box."""
        from qtpy.QtWidgets import QProgressBar
        from superqt.utils import create_worker

        bar = QProgressBar()
        bar.setRange(0, 0)
        bar.setMaximumWidth(160)
        self.statusBar().addPermanentWidget(bar)
        self.statusBar().showMessage(f"{what}…")
        self.busy += 1

        def finish() -> None:
            self.statusBar().removeWidget(bar)
            bar.deleteLater()
            self.statusBar().clearMessage()
            self.busy -= 1

        def failed(exc: Exception) -> None:
            self.show_error(what, f"{what} failed: {exc}")

        worker = create_worker(fn, _connect={"returned": done, "errored": failed,
                                             "finished": finish})
        self._workers.append(worker)
        worker.finished.connect(lambda w=worker: self._workers.remove(w)
                                if w in self._workers else None)

    def open_demo_scans(self) -> None:
        """Open the simulated raw scans (made on first use, in a worker): a sample to
        reconstruct."""
        def done(folder: Path) -> None:
            if self.open_paths([str(folder)], title="Demo: raw ptychography scans (CXI)",
                               recent=False):
                self.statusBar().showMessage(
                    "Raw scans: run Reconstruct in the Processing panel (live preview)", 10000)
        self._in_worker("Preparing the demo scans", engine.ensure_demo_scans, done)

    def open_demo(self, with_3d: bool = True) -> None:
        """Open the demo (built and fitted on first use, in a worker): four 2D samples
        with their valence maps, plus (``with_3d``) a 3D sample with a valence volume."""
        def build() -> tuple[Path, Path | None]:
            return engine.ensure_demo(), engine.ensure_demo_3d() if with_3d else None

        def done(paths: tuple[Path, Path | None]) -> None:
            ok = self.open_paths([str(paths[0])], title="Demo: simulated NMC811", recent=False)
            if ok and paths[1] is not None:
                self.open_demo_3d(paths[1])
            self.demo_opened.emit()
        self._in_worker("Preparing the demo dataset (first time: about a minute)", build, done)

    def open_demo_3d(self, path: Path | None = None) -> bool:
        """Add the 3D demo sample (a valence volume) to the Data panel without selecting it."""
        try:
            new = engine.load_path(path if path is not None else engine.ensure_demo_3d())
        except Exception as exc:
            logger.warning("3D demo not available: %s", exc)
            self.statusBar().showMessage(f"3D demo not available: {exc}", 10000)
            return False
        first = len(self.samples)
        for s in new:
            s.name = "NMC811 200 cycles (3D)"
        self.document.add_samples(new)
        self.data_panel.add_dataset(
            "Demo 3D: simulated NMC811 crystals (select to open the 3D view)",
            [(first + i, s.name, *engine.describe_shape(s)) for i, s in enumerate(new)])
        self.update_histogram()
        self._update_enabled()
        return True

    def open_paths(self, paths: list[str], title: str | None = None, recent: bool = True) -> bool:
        """Open files or folders; errors become a message box, the data stay as they were."""
        ok = False
        for path in paths:
            try:
                new = engine.load_path(path)
            except Exception as exc:
                logger.error("could not open %s: %s", path, exc)
                self.show_error("Could not open", f"Could not open {path}:\n\n{exc}")
                continue
            first = len(self.samples)
            self.document.add_samples(new)
            rows = []
            for i, s in enumerate(new):
                rows.append((first + i, s.name, *engine.describe_shape(s)))
            self.data_panel.add_dataset(title or str(path), rows)
            if recent:
                self._add_recent(str(Path(path).resolve()))
            if self.document.path is None and len(self.samples) == len(new) and \
                    engine.is_dataset_file(Path(path)):
                self.document.path = Path(path)  # Save writes back where it came from
            logger.info("opened %s: %d sample(s)", path, len(new))
            if new and new[0].volume is not None:
                self._provide_volume(new[0])
            if not ok:
                self.data_panel.select(first)
                self.select_sample(first)
            ok = True
        if ok:
            self.update_histogram()
            self._update_enabled()
            self.data_loaded.emit()
        return ok

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        from ptyxanes_gui.dialogs.import_dialog import accept_drop_paths

        if accept_drop_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        from ptyxanes_gui.dialogs.import_dialog import accept_drop_paths

        paths = accept_drop_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_dropped(paths)

    def open_dropped(self, paths: list[Path]) -> None:
        """Dropped files and folders: projects and CXI scan folders open at once, anything
        else goes to the Import dialog (preview, energies, then Load)."""
        direct = [p for p in paths if _opens_directly(p)]
        rest = [p for p in paths if p not in direct]
        if direct:
            self.open_paths([str(p) for p in direct])
        if rest:
            self.import_dialog(rest)

    # ================================================================ import (File ▸ Import…)
    def import_dialog(self, paths: list[Path] | list[str] | None = None):
        """Open the Import dialog (in the last folder; previewing ``paths`` when given).

        Returns
        -------
        dialog : ImportDialog
            Non-modal; its ``stack_loaded`` adds the stack as a new sample.
        """
        from ptyxanes_gui.dialogs.import_dialog import ImportDialog

        dlg = ImportDialog(self, start_dir=self.last_dir(),
                           source=[Path(p) for p in paths] if paths else None)
        dlg.setObjectName("import_dialog")
        dlg.stack_loaded.connect(lambda stack, d=dlg: self.add_imported_stack(
            stack, d.preview().sources if d.preview() is not None else ()))
        dlg.finished.connect(lambda _r, d=dlg: self._forget_dialog(d))
        self._dialogs.append(dlg)
        self.import_dialog_shown = dlg
        dlg.open()
        return dlg

    def _forget_dialog(self, dlg: QWidget) -> None:
        if dlg in self._dialogs:
            self._dialogs.remove(dlg)
        dlg.deleteLater()

    def add_imported_stack(self, stack: Any, sources: Any = ()) -> Sample:
        """Add a loaded ImageStack as a new sample (unsaved work) and show it."""
        from ptyxanes_gui.document import set_4d_stack

        src = Path(sources[0]) if len(sources) else None
        if src is not None:
            self._remember_dir(src.parent)
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
        self.data_panel.add_dataset(title, [(first, sample.name, *engine.describe_shape(sample))])
        logger.info("imported %s: %s", src, " × ".join(str(n) for n in np.shape(stack.data)))
        self.data_panel.select(first)
        self.select_sample(first)
        self.update_histogram()
        self._update_enabled()
        self.data_loaded.emit()
        self.imported.emit(sample)
        return sample

    # ================================================================ state
    def current_sample(self) -> Sample | None:
        return self.samples[self.current] if 0 <= self.current < len(self.samples) else None

    def select_sample(self, index: int) -> None:
        if not 0 <= index < len(self.samples):
            return
        switched = index != self.current
        self.current = index
        s = self.samples[index]
        self._update_title()
        if switched:
            # overlays belong to one sample: never draw (or export) them over another
            self.histogram_panel.clear_highlight()
            self._set_highlight(None)
            self.image_panel.viewer.set_marker(None)
            self.spectrum_panel.set_references(engine.reference_spectra(s))
            self.processing.sample_selected(s)
        has_stack = s.stack is not None
        for key in ENERGY_CHANNELS:
            self.image_panel.set_channel_enabled(key, has_stack, "this sample has no energy stack")
        reason_fit = "run Process ▸ Fit XANES first"
        for key in MAP_CHANNELS:
            self.image_panel.set_channel_enabled(key, key in s.maps, reason_fit)
        if has_stack:
            self.image_panel.set_energies(s.energy)
            self.energy_index = min(self.energy_index, s.stack.n_energies - 1)
        for key in s.maps:  # explore channels of an opened project
            if key not in self._extra_labels and (key.startswith("pca_score_")
                                                  or key == "clusters"):
                self._add_channel(key, "k-means clusters" if key == "clusters"
                                  else f"PC{key.rsplit('_', 1)[1]} score")
        for key in self._extra_labels:
            self.image_panel.set_channel_enabled(key, key in s.maps,
                                                 "run Process ▸ Explore spectra first")
        channel = self.image_panel.current_channel()
        if (channel in MAP_CHANNELS or channel in self._extra_labels) and channel not in s.maps:
            self.image_panel.set_channel("absorption")
        elif channel in ENERGY_CHANNELS and not has_stack and "valence" in s.maps:
            self.image_panel.set_channel("valence")
        elif (s.volume is not None and self._shown_volume is not s.volume
              and "valence" in s.maps):
            self.image_panel.set_channel("valence")  # a 3D result opens on its valence slice
        if hasattr(self, "registration_panel"):
            self.registration_panel.set_sample(s)
        self.update_image()
        self.update_histogram()
        self._update_enabled()
        if s.volume is not None and self._shown_volume is not s.volume:
            self._provide_volume(s)
        hint = {"scans": "raw scans: run Process ▸ Reconstruct (Processing panel)",
                "tilt": "tilt series (showing the first angle's projections): run Process ▸ "
                        "Tomography"}.get(s.kind)
        if s.volume_stack is not None and s.volume is None:
            hint = "volumes (showing the middle plane, μ in 1/m): run Process ▸ Fit XANES"
        if hint:
            self.statusBar().showMessage(f"{s.name}: {hint}", 10000)

    def _update_title(self) -> None:
        s = self.current_sample()
        name = s.name if s is not None else ""
        where = self.document.path.name if self.document.path is not None else "unsaved"
        star = "*" if self.document.dirty else ""
        self.setWindowTitle(f"ptyxanes — {name} [{where}{star}]" if name else "ptyxanes")

    def _on_dirty_changed(self, _dirty: bool) -> None:
        self._update_title()

    def _on_undo_changed(self) -> None:
        for act, text, word in ((self.act_undo, self.document.undo_text, "Undo"),
                                (self.act_redo, self.document.redo_text, "Redo")):
            act.setEnabled(text is not None)
            act.setText(f"&{word} {text}" if text else f"&{word}")

    def offer_recovery(self) -> bool:
        """Offer the recovery file of a session that did not close cleanly."""
        return self._autosave.offer()

    def undo(self) -> None:
        """Undo the last user edit (registration nudge or apply ...)."""
        text = self.document.undo()
        if text:
            self.statusBar().showMessage(f"undone: {text}", 5000)

    def redo(self) -> None:
        """Redo the last undone edit."""
        text = self.document.redo()
        if text:
            self.statusBar().showMessage(f"redone: {text}", 5000)

    def _on_energy_changed(self, i: int) -> None:
        self.energy_index = i
        self.update_image()

    def update_image(self) -> None:
        s = self.current_sample()
        if s is None:
            return
        ch = self.image_panel.current_channel()
        if ch in ENERGY_CHANNELS and s.stack is not None:
            img = engine.energy_image(s, ch, self.energy_index)
            self.image_panel.set_energy_enabled(True)
            self.image_panel.set_energy_index(self.energy_index, float(s.energy[self.energy_index]))
        elif ch in s.maps:
            img = np.asarray(s.maps[ch], float)
            self.image_panel.set_energy_enabled(False)
        else:
            if s.stack is None and not s.maps:  # raw scans: nothing to show until reconstructed
                self.image_panel.viewer.image_item.clear()
                self.displayed_image = None
            return
        self.displayed_image = img
        if ch == "valence":
            cmap, levels = colormaps.valence_colormap(), self.valence_limits
        else:
            cmap = colormaps.grey_colormap() if ch in ENERGY_CHANNELS else colormaps.other_colormap()
            levels = self.channel_limits.get(ch) or self._auto_levels(img)
        self.image_panel.viewer.set_image(img, s.pixel_size, levels, cmap,
                                          self._channel_label(s, ch))
        self.image_panel.show_limits(*levels)
        self._update_mask_overlay()
        self._apply_highlight()

    @staticmethod
    def _auto_levels(img: np.ndarray) -> tuple[float, float]:
        finite = img[np.isfinite(img)]
        if finite.size == 0:
            return (0.0, 1.0)
        lo, hi = np.percentile(finite, [0.5, 99.5])
        return (float(lo), float(hi if hi > lo else lo + 1.0))

    def _on_limits_changed(self, lo: float, hi: float) -> None:
        ch = self.image_panel.current_channel()
        if ch == "valence":
            self.valence_limits = (lo, hi)  # shared by every sample
        else:
            self.channel_limits[ch] = (lo, hi)
        self.image_panel.viewer.set_levels((lo, hi))

    def _update_mask_overlay(self) -> None:
        s = self.current_sample()
        show = self.image_panel.mask_box.isChecked() and s is not None and "mask" in s.maps
        self.image_panel.viewer.set_overlay(
            "mask", ~np.asarray(s.maps["mask"], bool) if show else None)

    # ================================================================ readout / spectrum
    def _on_pixel_hovered(self, row: int, col: int) -> None:
        s = self.current_sample()
        if s is None or row < 0:
            self.readout.setText("")
            return
        self.readout.setText(self.readout_text(row, col))

    def readout_text(self, row: int, col: int) -> str:
        s = self.current_sample()
        um = s.pixel_size * 1e6
        parts = [f"row {row}, col {col}", f"y {row * um:.3f} µm, x {col * um:.3f} µm"]
        img = getattr(self, "displayed_image", None)
        if img is not None and img.shape == s.shape:
            parts.append(f"value {img[row, col]:.4g}")
        if "valence" in s.maps:
            v = s.maps["valence"][row, col]
            sig = s.maps.get("valence_sigma")
            sig_txt = f" ± {sig[row, col]:.2f}" if sig is not None and np.isfinite(sig[row, col]) else ""
            parts.append(f"valence {v:.2f}{sig_txt}" if np.isfinite(v) else "valence —")
        return "   ".join(parts)

    def show_pixel_spectrum(self, row: int, col: int) -> None:
        """Fit and draw the XANES of one pixel (click inspector)."""
        s = self.current_sample()
        if s is None or s.stack is None:
            return
        self._highlight_cluster(s, row, col)
        t0 = time.perf_counter()
        raw = engine.pixel_spectrum(s, row, col)
        fit = engine.fit_spectrum(s.energy, raw, s)
        self.image_panel.viewer.set_marker(row, col)
        if "valence" in s.maps:
            # The map comes from the batch fit; say so when it differs from this fit.
            v = float(s.maps["valence"][row, col])
            sig = s.maps.get("valence_sigma")
            sig_txt = f" ± {float(sig[row, col]):.2f}" if sig is not None else ""
            note = f"map {v:.2f}{sig_txt}" if np.isfinite(v) else "map: outside mask"
            fit.message = f"{fit.message}   ({note})" if fit.message else f"({note})"
        self.spectrum_panel.show_fit(f"{s.name}: pixel (row {row}, col {col})", fit)
        self.last_click_ms = 1000 * (time.perf_counter() - t0)
        self.readout.setText(self.readout_text(row, col))
        self.last_fit = fit
        logger.debug("click inspector: %.1f ms", self.last_click_ms)
        self.spectrum_shown.emit(row, col)

    def _on_roi_changed(self) -> None:
        s = self.current_sample()
        mask = self.image_panel.viewer.roi_mask()
        if self.histogram_panel.scope.currentData() == "roi":
            self.update_histogram()
        if s is None or s.stack is None or mask is None or not mask.any():
            return
        fit, band, n = engine.region_fit(s, mask)
        self.spectrum_panel.show_fit(f"{s.name}: ROI mean of {n} pixels", fit, band)

    # ================================================================ histogram
    def _scope_mask(self, s: Sample) -> np.ndarray | None:
        scope = self.histogram_panel.scope.currentData()
        if scope == "mask" and "mask" in s.maps:
            return np.asarray(s.maps["mask"], bool)
        if scope == "roi" and s is self.current_sample():
            return self.image_panel.viewer.roi_mask()
        return None

    def update_histogram(self) -> None:
        cur = self.current_sample()
        with_maps = [s for s in self.samples if "valence" in s.maps]
        if not with_maps:
            self.histogram_panel.set_histograms(HIST_BINS, {}, {}, "")
            self.histogram_panel.set_message("No valence map yet: run Process ▸ Fit XANES.")
            spec = engine.sample_edge(cur)  # the element of the sample's default edge
            self.histogram_panel.set_valence_axis(spec.valence_label, spec.element)
            refs = engine.reference_valences(cur)
            self.histogram_panel.set_reference_lines(refs, [spec.state_label(v) for v in refs])
            return
        chosen = with_maps if self.histogram_panel.overlay_box.isChecked() else [
            s for s in with_maps if s is cur]
        hists, stats = {}, {}
        for s in chosen:
            v = np.asarray(s.maps["valence"], float)
            w = s.maps.get("edge_jump")
            m = self._scope_mask(s)
            if m is not None and m.shape == v.shape:
                v = v[m]
                w = None if w is None else np.asarray(w)[m]
            h, st = engine.valence_histogram(v, w, HIST_BINS)
            hists[s.name], stats[s.name] = h, st
        self.histogram_panel.set_histograms(HIST_BINS, hists, stats, cur.name if cur else "")
        shown = cur if cur in chosen else chosen[0] if chosen else with_maps[0]
        spec = engine.sample_edge(shown)
        self.histogram_panel.set_valence_axis(spec.valence_label, spec.element)
        refs = engine.reference_valences(shown)
        self.histogram_panel.set_reference_lines(refs, [spec.state_label(v) for v in refs])
        self.histogram_panel.set_message(
            f"{spec.element}-weighted (edge jump) valence distribution")

    def _on_highlight_range(self, lo: float, hi: float) -> None:
        s = self.current_sample()
        if s is None or "valence" not in s.maps:
            self._set_highlight(None)
            return
        v = np.asarray(s.maps["valence"], float)
        with np.errstate(invalid="ignore"):
            mask = np.isfinite(v) & (v >= lo) & (v <= hi)
        self._set_highlight(mask)

    def _set_highlight(self, mask: np.ndarray | None) -> None:
        self.highlight_mask = mask
        self._apply_highlight()
        self.highlight_changed.emit()

    def _apply_highlight(self) -> None:
        self.image_panel.viewer.set_overlay("highlight", self.highlight_mask)
        if self._volume_panel is not None:
            s = self.current_sample()
            vol_mask = None
            if self.highlight_mask is not None and s is not None and s.volume is not None:
                lo, hi = self.histogram_panel.highlight_range()
                with np.errstate(invalid="ignore"):
                    vol_mask = np.isfinite(s.volume) & (s.volume >= lo) & (s.volume <= hi)
            try:
                self._volume_panel.set_highlight(vol_mask)
            except Exception:
                logger.debug("3D highlight failed", exc_info=True)

    # ================================================================ processing
    def _run_stage(self, stage: str) -> None:
        self.docks["processing"].show()
        self.docks["processing"].raise_()
        box = self.processing_panel.stages[stage]
        self.processing_panel.run_requested.emit(stage, box.params())

    def fit_all_samples(self) -> None:
        """Fit every sample without a valence map, one after the other."""
        self._fit_queue = [s for s in self.samples if "valence" not in s.maps
                           and engine.stage_input_problem("fit", s) is None]
        self._fit_next()

    def _fit_next(self) -> None:
        queue = getattr(self, "_fit_queue", [])
        if queue and not self.processing.is_running("fit"):
            sample = queue.pop(0)
            box = self.processing_panel.stages["fit"]
            self.processing.run_on("fit", sample, box.params())

    def _on_stage_finished(self, stage: str, sample: Sample, result: Any) -> None:
        """Refresh the views; the presenter has stored ``result`` on ``sample`` already."""
        self._end_preview(redraw=False)
        if sample in self.samples:
            self.data_panel.update_sample(self.samples.index(sample),
                                          *engine.describe_shape(sample))
        if stage == "fit":
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, self._fit_next)
            if sample is self.current_sample():
                self.select_sample(self.current)
                self.image_panel.set_channel("valence")
                # the references of this fit (edge, files, shifts), on its normalisation
                self.spectrum_panel.set_references(engine.reference_spectra(sample))
            if sample.volume_maps:
                logger.info("fit: valence volume %s of %s",
                            "×".join(map(str, np.shape(sample.volume))), sample.name)
            self.update_histogram()
        elif stage in ("reconstruct", "tomo"):
            if sample is self.current_sample():
                if self.image_panel.current_channel() not in ENERGY_CHANNELS:
                    self.image_panel.set_channel("absorption")
                self.select_sample(self.current)
            self._update_enabled()
            if stage == "reconstruct":
                logger.info("reconstruct: %s now has a stack %s", sample.name,
                            "×".join(map(str, np.shape(sample.stack.data)))
                            if sample.stack is not None else "(tilt series)")
            else:
                logger.info("tomo: %s now has volumes %s: run Fit for the valence volume",
                            sample.name, "×".join(map(str, sample.volume_stack.data.shape)))
        elif stage == "register":
            shifts = sample.shifts
            logger.info("register: %s on %.1f nm pixels, max |shift| %.2f px", sample.name,
                        sample.pixel_size * 1e9,
                        float(np.max(np.abs(shifts))) if len(shifts) else 0.0)
            if sample is self.current_sample():
                self.select_sample(self.current)  # the registered (cropped) stack
            self.update_histogram()
            self.registration_panel.set_sample(sample)
            self.docks["registration"].show()
            self.docks["registration"].raise_()
        elif stage == "segment":
            self._show_segment_result(sample, result)

    def _show_segment_result(self, sample: Sample, result: Any) -> None:
        """Segment stage: the per-crystal table to the log and status bar; a 2D map gets
        its >Ni³⁺ pixels highlighted on the valence image, a volume shown in the 3D dock
        hands its labels, crystals and table to the Segmentation panel."""
        table = result.table
        axes = "p, r, c" if result.volume else "r, c"
        params = result.params
        logger.info("segment %s: %d crystal(s); %d %s > %.3g (%d in islands < %d removed; "
                    "crystals by %s)", sample.name, len(table),
                    int(np.count_nonzero(result.labels["high_ox"])),
                    "voxels" if result.volume else "pixels", params.threshold,
                    result.islands_removed, params.min_island_size,
                    "watershed" if params.split_touching else "connected components")
        for i in range(len(table)):
            n = table.normal[i]
            normal = ("—" if not np.all(np.isfinite(n))
                      else "(" + ", ".join(f"{x:+.2f}" for x in n) + f") ({axes})")
            logger.info("  crystal %d: >Ni³⁺ fraction %.3f, mean valence %.3f, slab normal %s",
                        int(table.crystal_id[i]), table.high_ox_fraction[i],
                        table.mean_valence[i], normal)
        fractions = ", ".join(f"{f:.2f}" for f in table.high_ox_fraction)
        self.statusBar().showMessage(
            f"{sample.name}: {len(table)} crystal(s), >Ni³⁺ fraction {fractions} "
            "(table in the log)", 15000)
        if result.volume:
            sp, vp = self._segmentation_panel, self._volume_panel
            if sp is None or vp is None or self._shown_volume is not sample.volume:
                return  # stored on the sample; the 3D docks show another volume
            try:
                vp.set_crystal_labels(result.labels["crystals"])
                sp.set_threshold(params.threshold)  # re-seeds the labels
                sp.apply_edit(result.labels["high_ox"])  # islands removed: one undoable edit
                sp.show_table(table)
                self.docks["segmentation"].show()
                self.docks["segmentation"].raise_()
            except Exception as exc:
                logger.exception("segmentation hand-off failed")
                self.show_error("Segment", f"The Segmentation panel could not show the "
                                           f"result: {exc}")
        elif sample is self.current_sample():
            if "valence" in sample.maps and self.image_panel.current_channel() != "valence":
                self.image_panel.set_channel("valence")
            self._set_highlight(np.asarray(result.labels["high_ox"]) != 0)

    def _on_stage_cancelled(self, _stage: str) -> None:
        self._fit_queue = []
        self._end_preview()

    def _on_preview(self, preview: Any) -> None:
        """Draw a running stage's intermediate object (the presenter throttles to ~5/s)."""
        channel = self.image_panel.current_channel()
        img = engine.preview_image(preview, "phase" if channel == "phase" else "absorption")
        if img is None:
            return
        s = self.current_sample()
        if s is None or not any(r is s for r in self.processing.running_samples.values()):
            return  # another sample is shown: do not paint its neighbour's object over it
        label = "preview: phase (rad)" if channel == "phase" else "preview: −ln|T|"
        if isinstance(preview, dict) and preview.get("label"):
            label = f"preview: {preview['label']}"
        it = preview.get("iteration") if isinstance(preview, dict) else None
        if it is not None:
            label += f", iteration {it}"
        self._previewing = True
        levels = self._auto_levels(img)
        self.image_panel.viewer.set_image(img, s.pixel_size, levels, colormaps.grey_colormap(),
                                          label)
        self.image_panel.show_limits(*levels)
        self.displayed_image = img
        self.previews_drawn += 1
        self.preview_shown.emit()

    def _end_preview(self, redraw: bool = True) -> None:
        """Put the current sample's own image back after a live preview."""
        if self._previewing:
            self._previewing = False
            if redraw:
                self.update_image()

    def _on_registration_shifts_edited(self) -> None:
        logger.info("registration shifts edited by hand (Apply re-registers with them)")

    def _on_registration_apply(self, shifts: np.ndarray) -> None:
        """Re-apply hand-edited shifts: the register stage with given shifts, as
        ``ptyxanes align --shifts-from`` (undoable: Edit ▸ Undo)."""
        s = self.current_sample()
        if s is None or s.stack is None:
            return
        before = _registration_state(s)
        form = dict(self.processing_panel.stages["register"].params())

        def finished(stage: str, sample: Sample, _result: Any) -> None:
            if stage != "register" or sample is not s:
                return
            self.processing.stage_finished.disconnect(finished)
            after = _registration_state(s)

            def put(state: dict[str, Any]) -> None:
                for k, v in state.items():
                    setattr(s, k, v)
                self.document.sample_changed.emit(s)
                if s is self.current_sample():
                    self.select_sample(self.current)
            self.document.push(Edit("apply edited shifts", lambda: put(before),
                                    lambda: put(after)))

        self.processing.stage_finished.connect(finished)
        self.processing.run_on("register", s, {**form, "shifts": np.asarray(shifts, float)})

    def _on_registration_undo_apply(self) -> None:
        self.undo()

    # ================================================================ 3D (H7's panels)
    def _provide_volume(self, sample: Sample) -> None:
        self._shown_volume = sample.volume  # also when napari fails: one error, not one per click
        if self._volume_panel is None and not self.show_volume_dock():
            return
        self.docks["volume"].show()
        self.docks["volume"].raise_()
        try:
            self._volume_panel.set_volume(sample.volume, sample.voxel_size or sample.pixel_size,
                                          clim=self.valence_limits,
                                          label=self._channel_label(sample, "valence"))
            if self._segmentation_panel is not None:
                mask = sample.labels.get("mask")
                if mask is None:
                    mask = np.isfinite(sample.volume)
                self._segmentation_panel.set_data(sample.volume,
                                                  sample.voxel_size or sample.pixel_size, mask)
                self._segmentation_panel.restore_edits(sample.labels.get("high_ox_added"),
                                                       sample.labels.get("high_ox_removed"))
        except Exception as exc:
            logger.exception("3D view failed")
            self.show_error("3D view", f"The 3D view could not show the volume: {exc}")

    def _export_3d_view(self) -> None:
        if self._volume_panel is None:
            self.show_error("Export", "Open a 3D result first.")
            return
        self._volume_panel.save_view_dialog()

    def _export_3d_movie(self) -> None:
        if self._volume_panel is None:
            self.show_error("Export", "Open a 3D result first.")
            return
        self._volume_panel.movie_dialog()

    def show_volume_dock(self) -> bool:
        """Create the napari 3D dock on first use (needs OpenGL)."""
        if self._volume_panel is not None:
            self.docks["volume"].show()
            return True
        try:
            from ptyxanes_gui.panels.volume_panel import VolumePanel
        except ImportError as exc:
            self.show_error("3D view", f"The 3D panel is not available: {exc}")
            return False
        try:
            self._volume_panel = VolumePanel(parent=None)
        except Exception as exc:
            logger.exception("napari viewer failed")
            self.show_error("3D view", f"The 3D viewer could not start (OpenGL?): {exc}")
            return False
        dock = self._add_dock("volume", "3D volume", self._volume_panel,
                              Qt.DockWidgetArea.RightDockWidgetArea)
        hist = self.docks.get("histogram")
        if hist is not None and not hist.isFloating() and hist.isVisible():
            self.tabifyDockWidget(hist, dock)  # the 3D view takes the histogram's place
        self.view_menu.insertAction(self.act_3d, dock.toggleViewAction())
        try:
            from ptyxanes_gui.panels.segmentation_panel import SegmentationPanel

            self._segmentation_panel = SegmentationPanel(self._volume_panel)
            seg = self._add_dock("segmentation", "Segmentation", self._segmentation_panel,
                                 Qt.DockWidgetArea.RightDockWidgetArea)
            self.tabifyDockWidget(dock, seg)
            dock.raise_()
            self.view_menu.insertAction(self.act_3d, seg.toggleViewAction())
        except ImportError:
            logger.debug("segmentation panel not available", exc_info=True)
        # a 3D view needs room: about 60 % of the right column's height, once laid out
        from qtpy.QtCore import QTimer

        spec = self.docks.get("spectrum")

        def _room() -> None:
            if spec is not None and spec.isVisible() and not spec.isFloating():
                h = self.height()
                self.resizeDocks([spec, dock], [int(0.35 * h), int(0.6 * h)],
                                 Qt.Orientation.Vertical)
            try:
                self._volume_panel.viewer.reset_view()  # fit the volume to the new canvas
            except Exception:
                logger.debug("reset_view failed", exc_info=True)

        QTimer.singleShot(0, _room)
        return True

    # ================================================================ saving / export
    def save_project(self, ask: bool = False) -> bool:
        """Save every sample (stacks, maps, registration, labels, tables) in one file."""
        if not self.samples:
            return False
        path = self.document.path
        if ask or path is None:
            start = str(Path(self.last_dir()) / "analysis.ptyx.h5")
            name, _ = QFileDialog.getSaveFileName(self, "Save project", start,
                                                  "Project (*.h5 *.nxs)")
            if not name:
                return False
            path = Path(name)
            self._remember_dir(path)
        return self.save_project_to(path)

    def save_project_to(self, path: str | Path) -> bool:
        """Save the whole document to ``path`` (errors become a message box)."""
        self._collect_segmentation_edits()
        try:
            out = self.document.save(path)
        except Exception as exc:
            self.show_error("Save", f"Could not save {path}:\n\n{exc}")
            return False
        self._add_recent(str(out.resolve()))
        self._update_title()
        self.statusBar().showMessage(f"saved {len(self.samples)} sample(s) to {out}", 5000)
        return True

    def _collect_segmentation_edits(self) -> None:
        """The 3D Segmentation panel's labels and hand edits go to the sample they belong to."""
        for s in self.samples:
            if (self._segmentation_panel is not None and s.volume is not None
                    and self._shown_volume is s.volume):
                s.labels.update(self._segmentation_panel.label_arrays())

    def export_figure(self, path: str | Path, dpi: int = 300,
                      size_px: tuple[int, int] | None = None) -> Path:
        """Export the current image view (with colour and scale bars) to a file."""
        from ptyxanes.figures.colormaps import valence_lut
        from ptyxanes_gui.viewers.export import export_image_figure

        s = self.current_sample()
        ch = self.image_panel.current_channel()
        img = self.displayed_image
        levels = self.valence_limits if ch == "valence" else self.channel_limits.get(
            ch, self._auto_levels(img))
        if ch == "valence":
            lut = valence_lut(256)
        elif ch in ENERGY_CHANNELS:
            g = np.linspace(0, 255, 256).astype(np.uint8)
            lut = np.column_stack([g, g, g, np.full(256, 255, np.uint8)])
        else:
            lut = colormaps.other_colormap().getLookupTable(nPts=256, alpha=True)
        title = s.name if ch not in ENERGY_CHANNELS else f"{s.name} — {s.energy[self.energy_index]:.1f} eV"
        if ch == "valence" and self.highlight_mask is None:
            return engine.valence_figure(path, {s.name: img}, s.pixel_size, self.valence_limits,
                                         dpi=dpi, size_px=size_px)
        return export_image_figure(path, img, pixel_size=s.pixel_size, lut=lut, levels=levels,
                                   label=self._channel_label(s, ch), title=title, dpi=dpi,
                                   size_px=size_px, highlight=self.highlight_mask)

    def export_samples_figure(self, path: str | Path, dpi: int = 300,
                              size_px: tuple[int, int] | None = None) -> Path:
        """All samples' valence maps side by side with the shared colour limits."""
        maps = {s.name: np.asarray(s.maps["valence"], float) for s in self.samples
                if "valence" in s.maps and np.ndim(s.maps["valence"]) == 2}
        if not maps:
            raise ValueError("no valence maps yet: run Process ▸ Fit XANES of all samples")
        first = next(s for s in self.samples if "valence" in s.maps)
        return engine.valence_figure(path, maps, first.pixel_size, self.valence_limits, dpi=dpi,
                                     size_px=size_px)

    def export_samples_figure_dialog(self) -> None:
        self._figure_dialog("Export all samples", "samples.png", self.export_samples_figure)

    def export_figure_dialog(self) -> None:
        self._figure_dialog("Export figure", "figure.png", self.export_figure)

    def _figure_dialog(self, title: str, default: str, fn) -> None:
        if self.current_sample() is None:
            self.show_error("Export", "Open a dataset first.")
            return
        start = str(Path(self.settings.value("paths/last_dir", str(Path.home()))) / default)
        name, _ = QFileDialog.getSaveFileName(self, title, start,
                                              "PNG (*.png);;TIFF (*.tif);;SVG (*.svg);;PDF (*.pdf)")
        if not name:
            return
        dpi = 300
        if Path(name).suffix.lower() in (".png", ".tif", ".tiff"):
            dpi, ok = QInputDialog.getInt(self, title, "Resolution (DPI)", 300, 50, 2400)
            if not ok:
                return
        try:
            fn(name, dpi=dpi)
        except Exception as exc:
            self.show_error("Export", f"Could not export {name}:\n\n{exc}")

    def export_spectrum_csv(self, path: str | Path) -> Path:
        from ptyxanes_gui.viewers.export import export_csv

        names, cols = self.spectrum_panel.curves_table()
        if not names:
            raise ValueError("no spectrum shown: click a pixel first")
        return export_csv(path, names, cols)

    def export_histogram_csv(self, path: str | Path) -> Path:
        from ptyxanes_gui.viewers.export import export_csv

        data = self.histogram_panel.data
        if not data:
            raise ValueError("no histogram shown")
        centres = 0.5 * (HIST_BINS[1:] + HIST_BINS[:-1])
        names = ["valence"] + list(data)
        cols = np.column_stack([centres] + [h for _e, h in data.values()])
        return export_csv(path, names, cols)

    def export_spectrum_dialog(self) -> None:
        self._csv_dialog("Export spectrum", "spectrum.csv", self.export_spectrum_csv)

    def export_histogram_dialog(self) -> None:
        self._csv_dialog("Export histogram", "histogram.csv", self.export_histogram_csv)

    def _csv_dialog(self, title: str, default: str, fn) -> None:
        start = str(Path(self.settings.value("paths/last_dir", str(Path.home()))) / default)
        name, _ = QFileDialog.getSaveFileName(self, title, start, "CSV (*.csv)")
        if name:
            try:
                fn(name)
            except Exception as exc:
                self.show_error(title, str(exc))

    # ================================================================ paper figures, movie
    def _figure_input(self, kind: str):
        """What a paper figure draws: the 3D view's crystals, isolated crystal, labels and
        camera when it shows the figure's volume; the samples' own data otherwise."""
        from ptyxanes_gui.presenters.paper_figures import figure_input, volume_sample

        crystal_labels = segmented = None
        crystal, camera = 0, "isometric"
        vp = self._volume_panel
        if kind != "fig5" and vp is not None:
            try:
                vs = volume_sample(self.samples, self.current_sample())
            except ValueError:
                vs = None
            if vs is not None and self._shown_volume is vs.volume and vp.valence is not None:
                crystal_labels, crystal = vp.crystal_labels, vp.current_crystal
                camera = getattr(vp, "camera_preset", "isometric")
                if self._segmentation_panel is not None:
                    segmented = self._segmentation_panel.label_arrays().get("high_ox")
        return figure_input(kind, self.samples, self.current_sample(),
                            clim=self.valence_limits, crystal_labels=crystal_labels,
                            crystal=crystal, segmented=segmented, camera=camera,
                            energy_index=self.energy_index)

    def export_paper_figure(self, kind: str, path: str | Path, *, dpi: int = 300,
                            size_px: tuple[int, int] | None = None) -> bool:
        """Write paper figure ``kind`` (see ``PAPER_FIGURES``) in a worker; ``figure_exported``
        fires with the path when it is written, errors become a message box.

        Returns
        -------
        started : bool
            False when the data for the figure are missing (the message says why).
        """
        from ptyxanes_gui.presenters.paper_figures import PAPER_FIGURES, write_figure

        try:
            inp = self._figure_input(kind)
        except ValueError as exc:
            self.show_error("Export", str(exc))
            return False
        text = PAPER_FIGURES[kind][0].split(":")[0]

        def done(out: Path) -> None:
            self.statusBar().showMessage(f"{text} written to {out}", 10000)
            logger.info("%s written to %s", text, out)
            self.figure_exported.emit(Path(out))
        self._in_worker(f"Drawing {text}",
                        lambda: write_figure(inp, path, dpi=dpi, size_px=size_px), done)
        return True

    def paper_figure_dialog(self, kind: str) -> None:
        """Ask for a file (and, for PNG/TIFF, the size in pixels and DPI), then export."""
        from ptyxanes_gui.presenters.paper_figures import PAPER_FIGURES

        text, default, _three_d = PAPER_FIGURES[kind]
        try:
            self._figure_input(kind)
        except ValueError as exc:
            self.show_error("Export", str(exc))
            return
        start = str(Path(self.last_dir()) / default)
        name, _ = QFileDialog.getSaveFileName(self, text, start,
                                              "PNG (*.png);;TIFF (*.tif);;SVG (*.svg);;PDF (*.pdf)")
        if not name:
            return
        self._remember_dir(name)
        size_px, dpi = None, 300
        if Path(name).suffix.lower() in (".png", ".tif", ".tiff"):
            chosen = self._ask_raster_size(text)
            if chosen is None:
                return
            size_px, dpi = chosen
        self.export_paper_figure(kind, name, dpi=dpi, size_px=size_px)

    def _ask_raster_size(self, title: str) -> tuple[tuple[int, int], int] | None:
        """Width × height (px) and DPI of a raster figure (remembered between exports)."""
        from qtpy.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QSpinBox

        dlg = QDialog(self)
        dlg.setWindowTitle(title)
        form = QFormLayout(dlg)
        spins = []
        for label, key, default, lo, hi in (("Width (px)", "width", 1800, 100, 20000),
                                            ("Height (px)", "height", 1500, 100, 20000),
                                            ("Resolution (DPI)", "dpi", 300, 50, 2400)):
            sp = QSpinBox()
            sp.setRange(lo, hi)
            sp.setValue(int(self.settings.value(f"figures/{key}", default)))
            form.addRow(label, sp)
            spins.append((key, sp))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dlg.accept)
        buttons.rejected.connect(dlg.reject)
        form.addRow(buttons)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        for key, sp in spins:
            self.settings.setValue(f"figures/{key}", sp.value())
        w, h, dpi = (sp.value() for _k, sp in spins)
        return (w, h), dpi

    def _run_generator(self, what: str, make_gen, done, *, modal_progress: bool = True):
        """Run a generator yielding ``Progress`` in a worker with a progress dialog and a
        working Cancel; ``done(result)`` on success, errors become a message box.

        ``make_gen(control)`` builds the generator (it must check ``control``)."""
        from qtpy.QtWidgets import QProgressDialog
        from superqt.utils import create_worker

        from ptyxanes.progress import Cancelled, Control

        control = Control()
        dlg = QProgressDialog(f"{what}…", "Cancel", 0, 1000, self)
        dlg.setObjectName("progress_dialog")
        dlg.setWindowTitle(what)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setValue(0)
        dlg.canceled.connect(control.cancel)
        self._dialogs.append(dlg)
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
            self._forget_dialog(dlg)

        def failed(exc: Exception) -> None:
            if isinstance(exc, Cancelled) or control.cancelled.is_set():
                self.statusBar().showMessage(f"{what}: cancelled", 5000)
                return
            self.show_error(what, f"{what} failed: {exc}")

        def job(ctrl):  # a generator function, so superqt relays the yielded progress
            return (yield from make_gen(ctrl))

        worker = create_worker(job, control, _connect={
            "yielded": progress, "returned": done, "errored": failed, "finished": finish})
        worker.control = control
        self._workers.append(worker)
        worker.finished.connect(lambda w=worker: self._workers.remove(w)
                                if w in self._workers else None)
        dlg.show()
        return worker

    def export_movie(self, path: str | Path, *, n_frames: int = 72, size: int = 480):
        """Rotating-volume movie (GIF, MP4 with imageio-ffmpeg) of the 3D sample, rendered
        without OpenGL in a worker; ``movie_exported`` fires with the path.

        Returns
        -------
        worker : superqt worker or None
            None when there is no 3D sample (message box).
        """
        from ptyxanes_gui.viewers.movie import volume_movie

        try:
            inp = self._figure_input("fig3a")
        except ValueError as exc:
            self.show_error("Export", str(exc))
            return None
        crystal = inp.crystal if inp.crystal_labels is not None else 0
        vp = self._volume_panel
        label = vp.valence_label if vp is not None else "valence"

        def gen(control):
            return volume_movie(inp.valence, path, voxel_size_m=inp.voxel_size,
                                n_frames=n_frames, size=size, camera=inp.camera,
                                labels=inp.segmented, crystal_labels=inp.crystal_labels,
                                crystal=crystal, clim=inp.clim, title=inp.title,
                                control=control, label=label)

        def done(out: Path) -> None:
            self.statusBar().showMessage(f"movie written to {out}", 10000)
            self.movie_exported.emit(Path(out))
        return self._run_generator("Rendering the rotating movie", gen, done)

    def _export_3d_movie(self) -> None:
        from ptyxanes_gui.viewers.movie import movie_formats

        filters = ";;".join(f"{ext[1:].upper()} (*{ext})" for ext in movie_formats())
        name, _ = QFileDialog.getSaveFileName(self, "Export rotating 3D movie",
                                              str(Path(self.last_dir()) / "volume.gif"), filters)
        if not name:
            return
        if Path(name).suffix.lower() not in movie_formats():
            name = str(Path(name).with_suffix(movie_formats()[0]))
        self._remember_dir(name)
        frames, ok = QInputDialog.getInt(self, "Export rotating 3D movie",
                                         "Frames per 360° turn", 72, 8, 720)
        if ok:
            self.export_movie(name, n_frames=frames)

    # ================================================================ exploration
    def _channel_label(self, sample: Sample | None, channel: str) -> str:
        return self._extra_labels.get(channel) or engine.channel_label(sample, channel)

    def explore_dialog(self) -> None:
        """Ask for the number of components and clusters, then explore the current sample."""
        s = self.current_sample()
        if s is None or s.stack is None:
            self.show_error("Explore", "Open a sample with an energy stack first.")
            return
        k, ok = QInputDialog.getInt(self, "Explore spectra", "Principal components", 4, 1, 12)
        if not ok:
            return
        c, ok = QInputDialog.getInt(self, "Explore spectra", "k-means clusters", 3, 1, 12)
        if ok:
            self.run_explore(k, c)

    def run_explore(self, n_components: int = 4, n_clusters: int = 3, seed: int = 0):
        """PCA and k-means of the current sample's normalised spectra in a worker; the score
        maps (``pca_score_<k>``) and the cluster map (``clusters``) become result channels
        of that sample; ``explored`` fires when they are shown.

        Returns
        -------
        worker : superqt worker or None
        """
        from ptyxanes_gui.presenters.paper_figures import explore_job

        s = self.current_sample()
        if s is None or s.stack is None or np.ndim(s.stack.data) != 3:
            self.show_error("Explore", "The current sample has no energy stack (E, M, N).")
            return None
        stack = s.stack
        energy, data, kind = np.asarray(stack.energy, float), stack.data, stack.kind

        def gen(control):
            return explore_job(energy, data, kind, n_components, n_clusters, seed, control)

        def done(res) -> None:
            self._show_explore(s, res, {"pca": n_components, "clusters": n_clusters,
                                        "seed": seed})
        return self._run_generator(f"Exploring the spectra of {s.name}", gen, done)

    def _show_explore(self, s: Sample, res: Any, params: dict[str, Any]) -> None:
        for key in [k for k in s.maps if k.startswith("pca_score_")]:
            del s.maps[key]  # an earlier run with more components
        for k in range(res.scores.shape[-1]):
            key = f"pca_score_{k + 1}"
            s.maps[key] = res.scores[..., k]
            self._add_channel(key, f"PC{k + 1} score ({100 * res.explained[k]:.0f} %)")
        s.maps["clusters"] = np.where(res.clusters > 0, res.clusters, np.nan).astype(np.float32)
        s.labels["clusters"] = res.clusters
        self._add_channel("clusters", "k-means clusters")
        s.parameters["explore"] = dict(params)
        self.document.changed(s)
        logger.info("explore %s: %d spectra; PCA explained %s; %d clusters of %s pixels",
                    s.name, res.n_spectra,
                    ", ".join(f"{100 * r:.1f} %" for r in res.explained),
                    int(res.clusters.max()),
                    ", ".join(str(int(n)) for n in np.bincount(res.clusters.ravel())[1:]))
        if s is self.current_sample():
            self.select_sample(self.current)
            self.image_panel.set_channel("clusters")
        self.statusBar().showMessage(
            f"{s.name}: PCA scores and clusters added as channels (click a cluster to "
            "highlight its pixels)", 10000)
        self.explored.emit(s)

    def _add_channel(self, key: str, label: str) -> None:
        combo = self.image_panel.channel
        i = combo.findData(key)
        if i < 0:
            combo.addItem(label, key)
        else:
            combo.setItemText(i, label)
        self._extra_labels[key] = label

    def _highlight_cluster(self, s: Sample, row: int, col: int) -> None:
        """On the cluster channel, a click highlights every pixel of the clicked cluster."""
        lab = s.labels.get("clusters")
        if self.image_panel.current_channel() != "clusters" or lab is None:
            return
        lab = np.asarray(lab)
        if not (0 <= row < lab.shape[0] and 0 <= col < lab.shape[1]):
            return
        k = int(lab[row, col])
        self._set_highlight(lab == k if k > 0 else None)
        if k > 0:
            self.statusBar().showMessage(
                f"cluster {k}: {int(np.count_nonzero(lab == k))} pixels highlighted", 5000)

    # ================================================================ help / errors
    def show_error(self, title: str, message: str) -> None:
        """A readable, non-blocking message box (the data are left as they were)."""
        self.last_error = message
        logger.warning("%s: %s", title, message)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                          self)
        box.setObjectName("error_box")
        box.finished.connect(lambda _r, b=box: self._message_boxes.remove(b)
                             if b in self._message_boxes else None)
        self._message_boxes.append(box)
        box.open()

    def about_text(self) -> str:
        import h5py
        import pyqtgraph
        import superqt
        from qtpy import QT_VERSION

        import ptyxanes

        versions = [f"ptyxanes {getattr(ptyxanes, '__version__', '?')}",
                    f"Python {platform.python_version()}", f"NumPy {np.__version__}",
                    f"h5py {h5py.__version__}", f"Qt {QT_VERSION}",
                    f"pyqtgraph {pyqtgraph.__version__}", f"superqt {superqt.__version__}"]
        try:
            import napari

            versions.append(f"napari {napari.__version__}")
        except Exception:
            pass
        return ("<b>ptyxanes</b> — X-ray spectro-ptychography to Ni oxidation-state maps.<br>"
                + "<br>".join(versions)
                + f"<br>compute: {engine.describe_compute()}"
                + f'<br><a href="{DOCS_URL}">Documentation</a>')

    def show_about(self):
        """Help ▸ About: versions, compute path, licence and links (non-blocking)."""
        from ptyxanes_gui.about import show_about

        dlg = show_about(self)
        self._dialogs.append(dlg)
        dlg.finished.connect(lambda _r, d=dlg: self._forget_dialog(d))
        return dlg

    def open_docs(self) -> None:
        local = Path(__file__).resolve().parents[2] / "README.md"
        url = QUrl.fromLocalFile(str(local)) if local.exists() else QUrl(DOCS_URL)
        QDesktopServices.openUrl(url)


def _opens_directly(path: Path) -> bool:
    """A project/result file or a CXI scan folder: opened as is, not through Import."""
    p = Path(path)
    if p.suffix.lower() == ".cxi" or (p.is_dir() and any(p.glob("*.cxi"))):
        return True
    return p.is_file() and p.suffix.lower() in (".h5", ".nxs", ".hdf5") and engine._is_project(p)


def _registration_state(s: Sample) -> dict[str, Any]:
    """What a registration changes on a sample (for undo)."""
    keys = ("stack", "unregistered", "registration", "pixel_size", "maps", "fit_model",
            "labels", "crystal_table")
    return {k: getattr(s, k) for k in keys}


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
            self.window._collect_segmentation_edits()
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
        ok = self.window.open_paths([str(path)], title="Recovered work", recent=False)
        if ok:
            self.document.path = None  # Save asks where: the recovery file is not a place
            self.document.set_dirty(True)
        return ok
