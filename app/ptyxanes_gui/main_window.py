"""The main window: image view in the centre, dockable panels around it.

The window composes the panels, their presenters (``ptyxanes_gui.presenters``),
the docks, menus and toolbar, and wires them together; the presenters do the work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl
from qtpy.QtGui import QDesktopServices
from qtpy.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QWidget

from ptyxanes.backend import describe_compute
from ptyxanes_gui.about import about_text
from ptyxanes_gui.document import Document, Sample
from ptyxanes_gui.menus import build_actions, build_menus, build_toolbar, update_actions
from ptyxanes_gui.panels.data_panel import DataPanel
from ptyxanes_gui.panels.histogram_panel import HistogramPanel
from ptyxanes_gui.panels.image_panel import ImagePanel
from ptyxanes_gui.panels.log import LogPanel
from ptyxanes_gui.panels.processing_panel import ProcessingPanel
from ptyxanes_gui.panels.registration_panel import RegistrationPanel
from ptyxanes_gui.panels.spectrum_panel import SpectrumPanel
from ptyxanes_gui.presenters.channels import ENERGY_CHANNELS
from ptyxanes_gui.presenters.data_presenter import AutosaveController, DataPresenter
from ptyxanes_gui.presenters.explore_presenter import ExplorePresenter
from ptyxanes_gui.presenters.export_presenter import ExportPresenter
from ptyxanes_gui.presenters.figures_presenter import FiguresPresenter
from ptyxanes_gui.presenters.histogram_presenter import HistogramPresenter
from ptyxanes_gui.presenters.image_presenter import ImagePresenter
from ptyxanes_gui.presenters.log_presenter import LogPresenter
from ptyxanes_gui.presenters.processing_presenter import ProcessingPresenter, segment_summary
from ptyxanes_gui.presenters.registration_presenter import RegistrationPresenter
from ptyxanes_gui.presenters.spectrum_presenter import SpectrumPresenter
from ptyxanes_gui.presenters.tasks import Tasks
from ptyxanes_gui.presenters.volume_presenter import VolumePresenter

logger = logging.getLogger(__name__)

DOCS_URL = "https://github.com/ptyxanes/ptyxanes/blob/main/README.md"
Area = Qt.DockWidgetArea


class MainWindow(QMainWindow):
    """ptyxanes main window.

    Parameters
    ----------
    settings : QSettings
        Where layout, recent files and preferences persist (tests pass a temporary one).

    Notes
    -----
    One presenter per panel: ``data`` (Data panel: open, import, save), ``image``
    (image view), ``spectrum``, ``histogram`` (and the highlighted pixels),
    ``registration``, ``processing`` (the stages' workers), ``volume`` (3D and
    Segmentation docks), ``log``, ``export``, ``figures`` (paper figures, movie) and
    ``explore``. Their main methods and signals are also reachable on the window
    (``open_paths``, ``export_figure``, ``spectrum_shown`` ...) for scripts and tests.
    """

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
        self.last_error: str = ""
        #: ask before closing with unsaved work (scripts and tests may turn it off)
        self.ask_before_close = True
        self._message_boxes: list[QMessageBox] = []
        self._dialogs: list[QWidget] = []  # open non-modal dialogs (import, about, progress)

        self.image_panel = ImagePanel(self)
        self.setCentralWidget(self.image_panel)
        self.data_panel = DataPanel()
        self.spectrum_panel = SpectrumPanel()
        self.histogram_panel = HistogramPanel()
        self.processing_panel = ProcessingPanel()
        self.log_panel = LogPanel()
        self.registration_panel = RegistrationPanel()
        # small minimum widths: the window must fit a 1366 x 768 laptop with every dock open
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("data", "Data", self.data_panel, Area.LeftDockWidgetArea)
        self._add_dock("processing", "Processing", self.processing_panel, Area.LeftDockWidgetArea)
        self._add_dock("spectrum", "Spectrum", self.spectrum_panel, Area.RightDockWidgetArea)
        self._add_dock("histogram", "Histogram", self.histogram_panel, Area.RightDockWidgetArea)
        self._add_dock("log", "Log", self.log_panel, Area.BottomDockWidgetArea)
        for key, width in (("data", 160), ("processing", 200), ("spectrum", 220)):
            self.docks[key].setMinimumWidth(width)
        self._sized = False
        reg = self._add_dock("registration", "Registration QA", self.registration_panel,
                             Area.RightDockWidgetArea)
        self.tabifyDockWidget(self.docks["histogram"], reg)
        self.docks["histogram"].raise_()
        self._default_state = self.saveState()

        self.readout = QLabel("")
        self.readout.setObjectName("pixel_readout")
        self.readout.setMinimumWidth(80)  # elided by the status bar, never widens the window
        self.compute_label = QLabel(f"compute: {describe_compute()}")
        self.compute_label.setObjectName("compute_path")
        self.statusBar().addWidget(self.readout, 1)
        self.statusBar().addPermanentWidget(self.compute_label)

        self._build_presenters()
        build_actions(self)
        build_menus(self)
        build_toolbar(self)
        self._restore_settings()
        self._update_enabled()
        self.document.dirty_changed.connect(lambda _d: self._update_title())
        self.document.undo_changed.connect(self._on_undo_changed)
        self._autosave = AutosaveController(self, self.document, self.settings)
        # Settings ▸ Compute…: the fit and tomography in-process or on Dask
        from ptyxanes_gui.presenters.compute_presenter import ComputePresenter

        self.compute = ComputePresenter(self.settings, self.document, self)
        self.compute.install(self)

    # ================================================================ construction
    def _build_presenters(self) -> None:
        from ptyxanes.figures.colormaps import VALENCE_LIMITS

        self.tasks = Tasks(self)
        self.log = LogPresenter(self.log_panel)
        self.processing = ProcessingPresenter(self.processing_panel, self.current_sample,
                                              self.document)
        lo = self.settings.value("valence/lo", type=float)
        hi = self.settings.value("valence/hi", type=float)
        limits = (lo, hi) if lo is not None and hi is not None and hi > lo else VALENCE_LIMITS
        self.image = ImagePresenter(self.image_panel, self.current_sample, self.readout, limits)
        self.histogram = HistogramPresenter(self.histogram_panel, self.samples,
                                            self.current_sample, self.image.viewer.roi_mask)
        self.spectrum = SpectrumPresenter(self.spectrum_panel, self.image, self.current_sample)
        self.volume = VolumePresenter(self, self.samples)
        self.data = DataPresenter(self, self.data_panel, self.document, self.settings)
        self.registration = RegistrationPresenter(self.registration_panel, self.processing,
                                                  self.document, self)
        self.export = ExportPresenter(self, self.image, self.spectrum, self.histogram)
        self.figures = FiguresPresenter(self, self.image, self.volume)
        self.explore = ExplorePresenter(self, self.document, self.image, self.histogram)

        # wiring between presenters
        proc = self.processing
        proc.stage_finished.connect(lambda *_a: self.image.end_preview(redraw=False))
        proc.stage_finished.connect(self._on_stage_finished)
        proc.stage_failed.connect(lambda _s, msg: self.show_error("Processing", msg))
        proc.stage_failed.connect(lambda _s, _m: self.image.end_preview())
        proc.stage_cancelled.connect(lambda _s: self.image.end_preview())
        proc.preview.connect(lambda p: self.image.show_preview(p, proc.running_samples))
        self.image.viewer.pixel_clicked.connect(self.show_pixel_spectrum)
        self.image.viewer.roi_changed.connect(self.histogram.on_roi_changed)
        self.histogram.highlight_changed.connect(self._on_highlight_changed)
        self.histogram_panel.export_requested.connect(self.export.export_histogram_dialog)
        self.spectrum_panel.export_requested.connect(self.export.export_spectrum_dialog)
        self.data.recent_changed.connect(self._refresh_recent_menu)

        # the presenters' main methods and signals on the window, for scripts and tests
        d, f = self.data, self.figures
        self.open_paths, self.open_demo, self.open_demo_3d = d.open_paths, d.open_demo, d.open_demo_3d
        self.open_dropped, self.import_dialog = d.open_dropped, d.import_dialog
        self.add_imported_stack, self.recent_files = d.add_imported_stack, d.recent_files
        self.save_project, self.save_project_to = d.save_project, d.save_project_to
        self.data_loaded, self.demo_opened, self.imported = d.data_loaded, d.demo_opened, d.imported
        self.export_figure = self.export.export_figure
        self.export_samples_figure = self.export.export_samples_figure
        self.export_spectrum_csv = self.spectrum.export_csv
        self.export_histogram_csv = self.histogram.export_csv
        self.export_paper_figure, self.export_movie = f.export_paper_figure, f.export_movie
        self.figure_exported, self.movie_exported = f.figure_exported, f.movie_exported
        self.run_explore, self.explored = self.explore.run_explore, self.explore.explored
        self.spectrum_shown = self.spectrum.spectrum_shown
        self.highlight_changed = self.histogram.highlight_changed
        self.preview_shown = self.image.preview_shown
        self.update_image, self.update_histogram = self.image.update_image, self.histogram.update
        self.about_text = about_text

    displayed_image = property(lambda self: self.image.displayed_image)
    highlight_mask = property(lambda self: self.histogram.highlight_mask)
    valence_limits = property(lambda self: self.image.valence_limits)
    previews_drawn = property(lambda self: self.image.previews_drawn)
    last_fit = property(lambda self: self.spectrum.last_fit)
    import_dialog_shown = property(lambda self: self.data.import_dialog_shown)

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

    def show_dock(self, key: str) -> None:
        """Show a dock and bring it to the front of its tabs."""
        self.docks[key].show()
        self.docks[key].raise_()

    def _update_enabled(self) -> None:
        """Enable what applies to the current sample, with the reason as tooltip otherwise."""
        update_actions(self)

    # ================================================================ settings and layout
    def _restore_settings(self) -> None:
        geom = self.settings.value("window/geometry")
        if isinstance(geom, QByteArray):
            self.restoreGeometry(geom)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("valence/lo", self.image.valence_limits[0])
        s.setValue("valence/hi", self.image.valence_limits[1])
        s.sync()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.data.recent_files()
        for f in files:
            a = self.recent_menu.addAction(f)
            a.triggered.connect(lambda _c=False, p=f: self.data.open_paths([p]))
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
        w, h = self.width(), self.height()
        self.resizeDocks([self.docks["data"], self.docks["spectrum"]],
                         [max(260, w // 5), max(420, int(w * 0.36))], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["data"], self.docks["processing"]], [h // 4, h // 2],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["spectrum"], self.docks["histogram"]], [h // 2, int(h * 0.42)],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["log"]], [80], Qt.Orientation.Vertical)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if not self.data.confirm_discard(self.ask_before_close):
            event.ignore()
            return
        self._autosave.discard()
        self.save_settings()
        self.processing.cancel_all()
        from superqt.utils import WorkerBase

        WorkerBase.await_workers(2000)
        self.compute.shutdown()
        self.volume.close()
        self.log.close()
        super().closeEvent(event)

    def offer_recovery(self) -> bool:
        """Offer the recovery file of a session that did not close cleanly."""
        return self._autosave.offer()

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
            self.data.open_dropped(paths)

    # ================================================================ the current sample
    def current_sample(self) -> Sample | None:
        return self.samples[self.current] if 0 <= self.current < len(self.samples) else None

    def select_sample(self, index: int) -> None:
        """Show sample ``index`` in every panel."""
        if not 0 <= index < len(self.samples):
            return
        switched = index != self.current
        self.current = index
        s = self.samples[index]
        self._update_title()
        if switched:
            # overlays belong to one sample: never draw (or export) them over another
            self.histogram.clear_highlight()
            self.image.viewer.set_marker(None)
            self.spectrum.show_references(s)
            self.processing.sample_selected(s)
        new_volume = s.volume is not None and self.volume.shown_volume is not s.volume
        self.image.show_sample(s, opens_volume=new_volume)
        self.registration.set_sample(s)
        self.image.update_image()
        self.histogram.update()
        self._update_enabled()
        self.volume.follow(s)
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

    def _on_undo_changed(self) -> None:
        for act, text, word in ((self.act_undo, self.document.undo_text, "Undo"),
                                (self.act_redo, self.document.redo_text, "Redo")):
            act.setEnabled(text is not None)
            act.setText(f"&{word} {text}" if text else f"&{word}")

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

    def show_pixel_spectrum(self, row: int, col: int) -> None:
        """A click on the image: the clicked cluster highlighted (cluster channel), the
        pixel's XANES fitted and drawn."""
        self.explore.highlight_cluster(row, col)
        self.spectrum.show_pixel_spectrum(row, col)

    def _on_highlight_changed(self) -> None:
        mask = self.histogram.highlight_mask
        self.image.show_highlight(mask)
        self.volume.show_highlight(mask is not None, self.current_sample(),
                                   self.histogram_panel.highlight_range())

    # ================================================================ stages
    def run_stage(self, stage: str) -> None:
        """Process ▸ <stage>: run it on the current sample with the Processing form's values."""
        self.show_dock("processing")
        self.processing.run_stage(stage)

    def _on_stage_finished(self, stage: str, sample: Sample, result: Any) -> None:
        """Refresh the views; the presenter has stored ``result`` on ``sample`` already."""
        self.data.sample_changed(sample)
        current = sample is self.current_sample()
        if stage == "segment":
            self.statusBar().showMessage(segment_summary(sample, result), 15000)
            if result.volume:
                self.volume.show_segment_result(sample, result)
            elif current:  # the >Ni³⁺ pixels highlighted on the valence map
                if "valence" in sample.maps and self.image_panel.current_channel() != "valence":
                    self.image_panel.set_channel("valence")
                self.histogram.set_highlight(np.asarray(result.labels["high_ox"]) != 0)
            return
        if current:
            if stage in ("reconstruct", "tomo") and \
                    self.image_panel.current_channel() not in ENERGY_CHANNELS:
                self.image_panel.set_channel("absorption")
            self.select_sample(self.current)  # the new stack, maps or registered stack
            if stage == "fit":
                self.image_panel.set_channel("valence")
                self.spectrum.show_references(sample)  # the references of this fit
        self.histogram.update()
        self._update_enabled()

    # ================================================================ 3D docks
    def show_volume_dock(self) -> bool:
        """Create the napari 3D and Segmentation docks on first use (needs OpenGL)."""
        if self.volume.panel is not None:
            self.docks["volume"].show()
            return True
        if not self.volume.create_panels():
            return False
        panel, segmentation = self.volume.panel, self.volume.segmentation_panel
        dock = self._add_dock("volume", "3D volume", panel, Area.RightDockWidgetArea)
        hist = self.docks.get("histogram")
        if hist is not None and not hist.isFloating() and hist.isVisible():
            self.tabifyDockWidget(hist, dock)  # the 3D view takes the histogram's place
        self.view_menu.insertAction(self.act_3d, dock.toggleViewAction())
        seg = self._add_dock("segmentation", "Segmentation", segmentation,
                             Area.RightDockWidgetArea)
        self.tabifyDockWidget(dock, seg)
        dock.raise_()
        self.view_menu.insertAction(self.act_3d, seg.toggleViewAction())
        spec = self.docks.get("spectrum")

        def _room() -> None:  # a 3D view needs about 60 % of the right column, once laid out
            if spec is not None and spec.isVisible() and not spec.isFloating():
                h = self.height()
                self.resizeDocks([spec, dock], [int(0.45 * h), int(0.55 * h)],
                                 Qt.Orientation.Vertical)
            try:
                panel.viewer.reset_view()  # fit the volume to the new canvas
            except Exception:
                logger.debug("reset_view failed", exc_info=True)

        QTimer.singleShot(0, _room)
        return True

    # ================================================================ dialogs, help, errors
    def keep_dialog(self, dlg: QWidget) -> None:
        """Keep a non-modal dialog alive while it is open."""
        self._dialogs.append(dlg)

    def forget_dialog(self, dlg: QWidget) -> None:
        if dlg in self._dialogs:
            self._dialogs.remove(dlg)
        dlg.deleteLater()

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

    def show_about(self):
        """Help ▸ About: versions, compute path, licence and links (non-blocking)."""
        from ptyxanes_gui.about import show_about

        dlg = show_about(self)
        self.keep_dialog(dlg)
        dlg.finished.connect(lambda _r, d=dlg: self.forget_dialog(d))
        return dlg

    def open_docs(self) -> None:
        local = Path(__file__).resolve().parents[2] / "README.md"
        url = QUrl.fromLocalFile(str(local)) if local.exists() else QUrl(DOCS_URL)
        QDesktopServices.openUrl(url)
