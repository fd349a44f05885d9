"""File ▸ Export's paper figures and rotating-volume movie: what they draw is gathered
on the GUI thread (:func:`~ptyxanes_gui.presenters.paper_figures.figure_input`), then
drawn and written in a worker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QFileDialog, QInputDialog

logger = logging.getLogger(__name__)


class FiguresPresenter(QObject):
    """Paper figures (Fig. 3a, 3b, 3e, 5) and the rotating movie of the 3D sample.

    Parameters
    ----------
    window : MainWindow
        The samples, the current one, settings, dialogs, errors and the worker runner.
    image : ImagePresenter
        The valence colour limits and the shown energy.
    volume : VolumePresenter
        The 3D view's crystals, isolated crystal, labels and camera.

    Signals
    -------
    figure_exported(object) : Path of a paper figure
    movie_exported(object) : Path of a rotating-volume movie
    """

    figure_exported = Signal(object)
    movie_exported = Signal(object)

    def __init__(self, window: Any, image: Any, volume: Any) -> None:
        super().__init__(window)
        self.window = window
        self.image = image
        self.volume = volume

    def figure_input(self, kind: str):
        """What a paper figure draws: the 3D view's crystals, isolated crystal, labels and
        camera when it shows the figure's volume; the samples' own data otherwise."""
        from ptyxanes_gui.presenters.paper_figures import figure_input, volume_sample

        w = self.window
        crystal_labels = segmented = None
        crystal, camera = 0, "isometric"
        vp = self.volume.panel
        if kind != "fig5" and vp is not None:
            try:
                vs = volume_sample(w.samples, w.current_sample())
            except ValueError:
                vs = None
            if vs is not None and self.volume.shown_volume is vs.volume and vp.valence is not None:
                crystal_labels, crystal = vp.crystal_labels, vp.current_crystal
                camera = getattr(vp, "camera_preset", "isometric")
                if self.volume.segmentation_panel is not None:
                    segmented = self.volume.segmentation_panel.label_arrays().get("high_ox")
        return figure_input(kind, w.samples, w.current_sample(),
                            clim=self.image.valence_limits, crystal_labels=crystal_labels,
                            crystal=crystal, segmented=segmented, camera=camera,
                            energy_index=self.image.energy_index)

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
            inp = self.figure_input(kind)
        except ValueError as exc:
            self.window.show_error("Export", str(exc))
            return False
        text = PAPER_FIGURES[kind][0].split(":")[0]

        def done(out: Path) -> None:
            self.window.statusBar().showMessage(f"{text} written to {out}", 10000)
            logger.info("%s written to %s", text, out)
            self.figure_exported.emit(Path(out))
        self.window.tasks.call(f"Drawing {text}",
                               lambda: write_figure(inp, path, dpi=dpi, size_px=size_px), done)
        return True

    def paper_figure_dialog(self, kind: str) -> None:
        """Ask for a file (and, for PNG/TIFF, the size in pixels and DPI), then export."""
        from ptyxanes_gui.presenters.paper_figures import PAPER_FIGURES

        w = self.window
        text, default, _three_d = PAPER_FIGURES[kind]
        try:
            self.figure_input(kind)
        except ValueError as exc:
            w.show_error("Export", str(exc))
            return
        start = str(Path(w.data.last_dir()) / default)
        name, _ = QFileDialog.getSaveFileName(w, text, start,
                                              "PNG (*.png);;TIFF (*.tif);;SVG (*.svg);;PDF (*.pdf)")
        if not name:
            return
        w.data.remember_dir(name)
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

        settings = self.window.settings
        dlg = QDialog(self.window)
        dlg.setWindowTitle(title)
        form = QFormLayout(dlg)
        spins = []
        for label, key, default, lo, hi in (("Width (px)", "width", 1800, 100, 20000),
                                            ("Height (px)", "height", 1500, 100, 20000),
                                            ("Resolution (DPI)", "dpi", 300, 50, 2400)):
            sp = QSpinBox()
            sp.setRange(lo, hi)
            sp.setValue(int(settings.value(f"figures/{key}", default)))
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
            settings.setValue(f"figures/{key}", sp.value())
        w, h, dpi = (sp.value() for _k, sp in spins)
        return (w, h), dpi

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
            inp = self.figure_input("fig3a")
        except ValueError as exc:
            self.window.show_error("Export", str(exc))
            return None
        crystal = inp.crystal if inp.crystal_labels is not None else 0
        vp = self.volume.panel
        label = vp.valence_label if vp is not None else "valence"

        def gen(control):
            return volume_movie(inp.valence, path, voxel_size_m=inp.voxel_size,
                                n_frames=n_frames, size=size, camera=inp.camera,
                                labels=inp.segmented, crystal_labels=inp.crystal_labels,
                                crystal=crystal, clim=inp.clim, title=inp.title,
                                control=control, label=label)

        def done(out: Path) -> None:
            self.window.statusBar().showMessage(f"movie written to {out}", 10000)
            self.movie_exported.emit(Path(out))
        return self.window.tasks.generator("Rendering the rotating movie", gen, done)

    def export_movie_dialog(self) -> None:
        """Ask for a file and the frames per turn, then render the movie."""
        from ptyxanes_gui.viewers.movie import movie_formats

        w = self.window
        filters = ";;".join(f"{ext[1:].upper()} (*{ext})" for ext in movie_formats())
        name, _ = QFileDialog.getSaveFileName(w, "Export rotating 3D movie",
                                              str(Path(w.data.last_dir()) / "volume.gif"),
                                              filters)
        if not name:
            return
        if Path(name).suffix.lower() not in movie_formats():
            name = str(Path(name).with_suffix(movie_formats()[0]))
        w.data.remember_dir(name)
        frames, ok = QInputDialog.getInt(w, "Export rotating 3D movie",
                                         "Frames per 360° turn", 72, 8, 720)
        if ok:
            self.export_movie(name, n_frames=frames)
