"""3D panel: the valence volume in an embedded napari viewer.

Quarter cut (the quadrant facing the camera removed from the layer's data, paper
Fig. 2c/3a), camera presets (isometric, along each axis), volume or lit iso-surface
rendering, orthogonal slices
(2D/3D toggle and slice axis), per-crystal isolation (Fig. 3b-d; crystals split
where they touch by default), a highlight overlay (histogram range), and export:
a screenshot at a chosen size (PNG/TIFF) and a rotating-volume movie (GIF, or
MP4 when imageio-ffmpeg is installed) rendered frame by frame in the GUI thread
with a cancellable progress dialog.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ptyxanes_gui.viewers.napari_viewer import (
    fill_outside,
    padded_limits,
    quarter_cut_data,
    set_camera_preset,
    valence_napari_colormap,
)

logger = logging.getLogger(__name__)

_AXES = ("plane", "row", "col")
#: (preset, menu text) of the camera combo box
CAMERAS = (("isometric", "isometric"), ("plane", "along plane"), ("row", "along row"),
           ("col", "along col"))



def _rows(*rows: tuple[QWidget, ...]) -> QVBoxLayout:
    """Widgets in left-aligned rows, one row per tuple."""
    out = QVBoxLayout()
    for widgets in rows:
        row = QHBoxLayout()
        for w in widgets:
            row.addWidget(w)
        row.addStretch(1)
        out.addLayout(row)
    return out

class VolumePanel(QWidget):
    """Embedded napari viewer of a valence volume.

    Attributes
    ----------
    viewer : napari.components.ViewerModel
        The viewer model (layers, dims, camera).
    qt_viewer : napari.qt.QtViewer
        Its Qt widget, embedded in this panel.
    image_layer : napari.layers.Image or None
        The valence layer (with the quarter cut, its data lack the removed quadrant).
    removed : ndarray of bool or None
        The quadrant cut away (None without a cut).
    crystal_labels : ndarray of int32 or None
        Crystals labelled from the sample mask (0 = outside).
    """

    #: Volumes with more voxels are split into crystals in a worker (the watershed
    #: takes ~1.4 s per 1.7 M voxels on one core); connected components show first.
    sync_label_limit = 1_000_000

    crystal_changed = Signal(int)  # 0 = all crystals
    volume_changed = Signal()
    crystals_labelled = Signal(int)  # number of crystals
    view_saved = Signal(object)  # Path
    movie_saved = Signal(object)  # Path
    relabel_requested = Signal(str)  # label method: crystals to label in a worker
    #: label method: the crystals of a new volume are needed now; the presenter answers
    #: at once with :meth:`take_crystal_labels`
    crystals_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.components import ViewerModel
        from napari.qt import QtViewer

        self.viewer = ViewerModel(title="ptyxanes 3D", ndisplay=3)
        self.qt_viewer = QtViewer(self.viewer, show_welcome_screen=False)
        self.image_layer = None
        self.removed: NDArray[np.bool_] | None = None
        self.surface_layer = None  # the "mesh" rendering
        self.highlight_layer = None
        self.crystal_labels: NDArray[np.int32] | None = None
        self.valence: NDArray[np.float32] | None = None
        self.voxel_size_m = 1.0
        self.clim = (2.0, 3.5)
        self.valence_label = "valence"  # the colour bar of exported figures ("Fe valence")
        self._crystal = 0
        self._closed = False
        self._handed_labels: NDArray[np.int32] | None = None

        self.check_3d = QCheckBox("3D")
        self.check_3d.setChecked(True)
        self.check_3d.setToolTip("Volume rendering (on) or orthogonal slices (off)")
        self.combo_axis = QComboBox()
        self.combo_axis.addItems([f"slice along {a}" for a in _AXES])
        self.combo_axis.setToolTip("Axis the slider moves through in 2D")
        self.check_cut = QCheckBox("Remove a quarter")
        self.check_cut.setToolTip("Cut away the quarter facing the camera to show the inside "
                                  "(the voxels are removed, so exports show the cut too)")
        self.combo_camera = QComboBox()
        for key, text in CAMERAS:
            self.combo_camera.addItem(text, key)
        self.combo_camera.setToolTip("Camera preset; the quarter cut faces the camera")
        self.combo_render = QComboBox()
        self.combo_render.addItem("volume", "translucent")
        self.combo_render.addItem("surface", "iso")
        self.combo_render.addItem("mesh", "mesh")
        self.combo_render.setToolTip(
            "Translucent volume; the lit iso-surface of the crystals coloured by valence; or "
            "the same surface as a faceted triangle mesh (fast without a graphics card)")
        self.combo_crystal = QComboBox()
        self.combo_crystal.setToolTip("Show one crystal alone")
        self.check_split = QCheckBox("Split touching")
        self.check_split.setChecked(True)
        self.check_split.setToolTip(
            "Crystals from a watershed of the distance map, split where they touch on a "
            "narrow neck (off: connected components, touching crystals stay one)")
        self.label_info = QLabel("")
        self.movie = None  # the running MovieRecorder
        self._progress = None

        from ptyxanes_gui.viewers.movie import mp4_available

        self.spin_width = QSpinBox()
        self.spin_height = QSpinBox()
        for spin, value, what in ((self.spin_width, 1200, "Width"),
                                  (self.spin_height, 900, "Height")):
            spin.setRange(64, 8192)
            spin.setValue(value)
            spin.setSuffix(" px")
            spin.setToolTip(f"{what} of saved views and movie frames, pixels")
        self.button_save_view = QPushButton("Save view…")
        self.button_save_view.setToolTip("Save the 3D view as PNG or TIFF at the size set here")
        self.spin_frames = QSpinBox()
        self.spin_frames.setRange(4, 720)
        self.spin_frames.setValue(72)
        self.spin_frames.setSuffix(" frames")
        self.spin_frames.setToolTip("Frames for one 360° turn of the camera (72 = 5° per frame)")
        self.button_movie = QPushButton("Movie…")
        self.button_movie.setToolTip(
            "Rotating-volume movie: the camera turns 360° about the screen's vertical axis; "
            + ("GIF or MP4" if mp4_available() else
               "saved as animated GIF (MP4 needs the imageio-ffmpeg package)"))
        self.label_movie_format = QLabel("GIF / MP4" if mp4_available() else
                                         "GIF (MP4 needs imageio-ffmpeg)")

        # controls in short rows: the dock shares a laptop screen's right column (~490 px)
        view_rows = _rows((self.check_3d, self.combo_axis, self.check_cut),
                          (self.combo_camera, self.combo_render, QLabel("Crystal:"),
                           self.combo_crystal, self.check_split))
        export_rows = _rows((QLabel("Export:"), self.spin_width, QLabel("×"), self.spin_height,
                             self.button_save_view),
                            (self.spin_frames, self.button_movie, self.label_movie_format))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(view_rows)
        layout.addWidget(self.qt_viewer, 1)
        layout.addLayout(export_rows)
        layout.addWidget(self.label_info)
        self._set_crystal_items(0)

        self.check_3d.toggled.connect(self._on_3d_toggled)
        self.combo_axis.currentIndexChanged.connect(self._on_axis_changed)
        self.check_cut.toggled.connect(self.set_quarter_cut)
        self.combo_camera.currentIndexChanged.connect(
            lambda _i: self.set_camera(self.combo_camera.currentData()))
        self.combo_render.currentIndexChanged.connect(
            lambda _i: self.set_rendering(self.combo_render.currentData()))
        self.combo_crystal.currentIndexChanged.connect(self._on_crystal_selected)
        self.check_split.toggled.connect(self._on_split_toggled)
        self.button_save_view.clicked.connect(self.save_view_dialog)
        self.button_movie.clicked.connect(self.movie_dialog)

    # ------------------------------------------------------------------ data
    def set_volume(
        self,
        valence: NDArray[np.floating],
        voxel_size_m: float,
        clim: tuple[float, float] = (2.0, 3.5),
        crystal_labels: NDArray[np.integer] | None = None,
        label: str | None = None,
    ) -> None:
        """Show a valence volume (P, M, N); NaN outside the sample is transparent.

        ``label`` names the valence in exported figures (``"Fe valence"``; default: kept).

        Without ``crystal_labels`` the presenter labels the crystals from the finite
        voxels (``crystals_requested``; split where they touch, unless "Split
        touching" is off; a volume over :attr:`sync_label_limit` voxels shows its
        connected components first and is split in a worker).
        """
        v = np.asarray(valence, np.float32)
        if v.ndim != 3:
            raise ValueError(f"volume must be 3D (P, M, N); got shape {v.shape}")
        self.valence = v
        if label:
            self.valence_label = str(label)
        self.voxel_size_m = float(voxel_size_m or 1.0)
        self.clim = (float(clim[0]), float(clim[1]))
        relabel = False
        if crystal_labels is None:
            method = self.label_method
            if method == "watershed" and v.size > self.sync_label_limit:
                method, relabel = "components", True
            self._handed_labels = None
            self.crystals_requested.emit(method)  # answered by take_crystal_labels
            crystal_labels, self._handed_labels = self._handed_labels, None
            if crystal_labels is None:  # no presenter: no crystals known
                logger.debug("no crystal labels for the volume %s", v.shape)
                crystal_labels = np.zeros(v.shape, np.int32)
        self.crystal_labels = np.asarray(crystal_labels, np.int32)
        self._crystal = 0
        scale = (self.voxel_size_m * 1e6,) * 3
        data = fill_outside(v, self.clim)
        for layer in (self.image_layer, self.highlight_layer, self.surface_layer):
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.highlight_layer = self.surface_layer = None
        cmap = valence_napari_colormap()
        self.image_layer = self.viewer.add_image(
            data, name="valence", colormap=cmap, contrast_limits=padded_limits(self.clim),
            scale=scale, rendering="translucent", blending="translucent", units="µm",
            interpolation3d="nearest")
        self.set_rendering(self.combo_render.currentData())
        self.viewer.canvas.overlays.scale_bar.visible = True
        self._set_crystal_items(int(self.crystal_labels.max()))
        self.set_quarter_cut(self.check_cut.isChecked())
        self.viewer.reset_view()
        self.set_camera(self.camera_preset)
        self._update_info()
        self.volume_changed.emit()
        if relabel:
            self.label_info.setText(self.label_info.text() + "; splitting touching crystals…")
            self._on_split_toggled()
        else:
            self.crystals_labelled.emit(int(self.crystal_labels.max()))

    def take_crystal_labels(self, labels: NDArray[np.integer]) -> None:
        """The presenter's answer to ``crystals_requested``: the crystals of the volume
        being shown."""
        if self.valence is not None and np.shape(labels) == self.valence.shape:
            self._handed_labels = np.asarray(labels, np.int32)

    def set_crystal_labels(self, labels: NDArray[np.integer]) -> None:
        """Replace the crystal labels (e.g. after a watershed split)."""
        if self.valence is None or np.shape(labels) != self.valence.shape:
            raise ValueError("crystal labels must match the volume")
        self.crystal_labels = np.asarray(labels, np.int32)
        self._set_crystal_items(int(self.crystal_labels.max()))
        self.isolate_crystal(0)
        self._update_info()
        self.crystals_labelled.emit(int(self.crystal_labels.max()))

    @property
    def label_method(self) -> str:
        """``"watershed"`` (split touching crystals) or ``"components"``."""
        return "watershed" if self.check_split.isChecked() else "components"

    def _set_crystal_items(self, n: int) -> None:
        self.combo_crystal.blockSignals(True)
        self.combo_crystal.clear()
        self.combo_crystal.addItem("all")
        self.combo_crystal.addItems([str(k) for k in range(1, n + 1)])
        self.combo_crystal.setCurrentIndex(0)
        self.combo_crystal.blockSignals(False)

    def _update_info(self) -> None:
        if self.valence is None:
            return
        n = 0 if self.crystal_labels is None else int(self.crystal_labels.max())
        p, m, nn = self.valence.shape
        um = self.voxel_size_m * 1e6
        self.label_info.setText(
            f"{p}×{m}×{nn} voxels of {um * 1e3:.0f} nm, {n} crystal(s)"
        )

    # ------------------------------------------------------------------ view
    def set_ndisplay(self, ndisplay: int) -> None:
        """2 = orthogonal slices with a slider, 3 = volume rendering."""
        self.viewer.dims.ndisplay = int(ndisplay)
        self.check_3d.blockSignals(True)
        self.check_3d.setChecked(ndisplay == 3)
        self.check_3d.blockSignals(False)

    def _on_3d_toggled(self, checked: bool) -> None:
        self.set_ndisplay(3 if checked else 2)

    def set_slice_axis(self, axis: int) -> None:
        """Axis (0 plane, 1 row, 2 col) the 2D slider runs along."""
        order = [axis] + [a for a in range(3) if a != axis]
        self.viewer.dims.order = tuple(order)

    def _on_axis_changed(self, index: int) -> None:
        self.set_slice_axis(index)
        if self.check_3d.isChecked():
            self.set_ndisplay(2)

    def set_quarter_cut(self, on: bool) -> None:
        """Remove (or restore) the quadrant facing the camera from the layer's data
        (:func:`~ptyxanes_gui.viewers.napari_viewer.quarter_cut_data`)."""
        self.check_cut.blockSignals(True)
        self.check_cut.setChecked(bool(on))
        self.check_cut.blockSignals(False)
        self._refresh_data()

    @property
    def camera_preset(self) -> str:
        """The camera preset chosen (``"isometric"``, ``"plane"``, ``"row"``, ``"col"``)."""
        return self.combo_camera.currentData()

    def set_camera(self, name: str) -> None:
        """Point the 3D camera along a preset; the quarter cut turns to face it."""
        i = self.combo_camera.findData(name)
        if i < 0:
            raise ValueError(f"unknown camera preset {name!r}; "
                             f"choose one of {[k for k, _t in CAMERAS]}")
        self.combo_camera.blockSignals(True)
        self.combo_camera.setCurrentIndex(i)
        self.combo_camera.blockSignals(False)
        if self.image_layer is None:
            return
        set_camera_preset(self.viewer, name)
        if self.quarter_cut:
            self._refresh_data()

    def set_rendering(self, mode: str) -> None:
        """``"translucent"`` volume, ``"iso"`` lit surface of the crystals, or ``"mesh"``
        (:func:`~ptyxanes_gui.viewers.napari_viewer.add_valence_surface`)."""
        i = self.combo_render.findData(mode)
        if i < 0:
            raise ValueError(f"rendering must be 'translucent', 'iso' or 'mesh'; got {mode!r}")
        self.combo_render.blockSignals(True)
        self.combo_render.setCurrentIndex(i)
        self.combo_render.blockSignals(False)
        if self.image_layer is None:
            return
        if mode == "mesh" or self.surface_layer is not None:
            self._refresh_data()
        if mode == "mesh":
            return
        if mode == "iso":
            lo_pad = padded_limits(self.clim)[0]
            self.image_layer.iso_threshold = 0.5 * (lo_pad + self.clim[0])
        self.image_layer.rendering = mode

    def _refresh_data(self) -> None:
        """Layer data from the valence, the isolated crystal and the quarter cut."""
        if self.image_layer is None or self.valence is None:
            return
        keep = None
        if self._crystal and self.crystal_labels is not None:
            keep = self.crystal_labels == self._crystal
        if self.quarter_cut:
            data, self.removed = quarter_cut_data(self.valence, self.clim,
                                                  camera=self.camera_preset, keep=keep)
        else:
            data, self.removed = fill_outside(self.valence, self.clim, keep), None
        self.image_layer.data = data
        if self.surface_layer is not None and self.surface_layer in self.viewer.layers:
            self.viewer.layers.remove(self.surface_layer)
        self.surface_layer = None
        mesh = self.combo_render.currentData() == "mesh"
        self.image_layer.visible = not mesh
        if mesh and (keep is None or keep.any()):
            from ptyxanes_gui.viewers.napari_viewer import add_valence_surface

            self.surface_layer = add_valence_surface(
                self.viewer, self.valence, voxel_size_m=self.voxel_size_m, clim=self.clim,
                cut_quarter=self.quarter_cut, camera=self.camera_preset, keep=keep)

    @property
    def quarter_cut(self) -> bool:
        """True while a quarter is cut away."""
        return self.check_cut.isChecked()

    def isolate_crystal(self, crystal: int) -> None:
        """Show crystal ``crystal`` alone (0 = all crystals)."""
        if self.valence is None or self.crystal_labels is None:
            return
        self._crystal = int(crystal)
        self._refresh_data()
        self.combo_crystal.blockSignals(True)
        self.combo_crystal.setCurrentIndex(crystal)
        self.combo_crystal.blockSignals(False)
        self.crystal_changed.emit(self._crystal)

    @property
    def current_crystal(self) -> int:
        """Isolated crystal (0 = all)."""
        return self._crystal

    def visible_mask(self) -> NDArray[np.bool_]:
        """Voxels drawn (inside the sample and the isolated crystal, outside the cut)."""
        if self.image_layer is None:
            return np.zeros((0, 0, 0), bool)
        return np.asarray(self.image_layer.data) >= self.clim[0]

    def _on_crystal_selected(self, index: int) -> None:
        self.isolate_crystal(max(index, 0))

    def _on_split_toggled(self, _on: bool = False) -> None:
        """Ask for the crystals to be re-labelled with the chosen method (the presenter
        labels them in a worker and hands them to :meth:`labels_returned`)."""
        if self.valence is None:
            return
        self.check_split.setEnabled(False)
        self.relabel_requested.emit(self.label_method)

    def labels_returned(self, labels: NDArray[np.int32], shape: tuple) -> None:
        """Crystal labels of a volume of ``shape``, labelled in a worker."""
        if self.valence is None or self.valence.shape != shape or self._closed:
            return  # another volume arrived meanwhile
        self.set_crystal_labels(labels)

    def labelling_failed(self, exc: Exception) -> None:
        logger.error("crystal labelling failed: %s", exc)
        self.label_info.setText(f"crystal labelling failed: {exc}")

    # ------------------------------------------------------------------ overlays
    def set_highlight(self, mask: NDArray[np.bool_] | None) -> None:
        """Overlay ``mask`` (e.g. voxels in a dragged histogram range); None removes it."""
        if mask is None:
            if self.highlight_layer is not None:
                self.highlight_layer.visible = False
            return
        m = np.asarray(mask, bool)
        if self.valence is None or m.shape != self.valence.shape:
            logger.debug("highlight mask shape %s does not match the volume", m.shape)
            return
        data = m.astype(np.uint8)
        if self.highlight_layer is None or self.highlight_layer not in self.viewer.layers:
            self.highlight_layer = self.viewer.add_labels(
                data, name="highlight", scale=self.image_layer.scale, units="µm", opacity=0.7,
                blending="translucent_no_depth")
        else:
            self.highlight_layer.data = data
        self.highlight_layer.visible = True

    # ------------------------------------------------------------------ export / close
    def screenshot(self, path: str | Path | None = None, *, size: tuple[int, int] | None = None):
        """Render the canvas; save it (PNG/TIFF by suffix) when ``path`` is given.

        Parameters
        ----------
        path : path-like, optional
        size : (height, width), optional
            Pixels; default the canvas size.

        Returns
        -------
        img : ndarray of uint8, shape (H, W, 4)
        """
        from qtpy.QtWidgets import QApplication

        QApplication.processEvents()  # pending camera/layer updates reach the canvas first
        img = self.qt_viewer.screenshot(path=None, flash=False, size=size)
        if path is not None:
            from ptyxanes_gui.viewers.movie import save_image

            save_image(img, path)
        return img

    @property
    def export_size(self) -> tuple[int, int]:
        """(height, width) of saved views and movie frames, pixels."""
        return self.spin_height.value(), self.spin_width.value()

    def save_view(self, path: str | Path, size: tuple[int, int] | None = None) -> Path:
        """Save the current view as PNG or TIFF at ``size`` = (height, width) pixels."""
        p = Path(path)
        self.screenshot(p, size=size or self.export_size)
        self.label_info.setText(f"view saved to {p.name}")
        self.view_saved.emit(p)
        return p

    def save_figure(self, path: str | Path, *, dpi: int = 300,
                    size: tuple[int, int] | None = None, title: str = "") -> Path:
        """Save the current view as a figure with the valence colour bar (and the view's
        scale bar): PNG/TIFF at ``dpi``, SVG or PDF.

        Parameters
        ----------
        path : path-like
        dpi : int, optional
        size : (height, width), optional
            Pixels of the rendered view; default :attr:`export_size`.
        title : str, optional
        """
        from ptyxanes.figures.colormaps import valence_lut
        from ptyxanes_gui.viewers.export import export_rendered_figure

        img = self.screenshot(None, size=size or self.export_size)
        p = export_rendered_figure(path, img, lut=valence_lut(256), levels=self.clim,
                                   label=self.valence_label, title=title, dpi=dpi)
        self.label_info.setText(f"figure saved to {Path(p).name}")
        self.view_saved.emit(Path(p))
        return Path(p)

    def save_view_dialog(self) -> None:
        """Ask for a file and save the view (File > Export hook): a figure with the colour
        bar (PNG/TIFF/SVG/PDF) or the plain rendered view (PNG/TIFF)."""
        figure = "Figure with colour bar (*.png *.tif *.tiff *.svg *.pdf)"
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save 3D view", "volume_view.png",
            f"{figure};;Plain view PNG (*.png);;Plain view TIFF (*.tif *.tiff)")
        if not path:
            return
        suffix = Path(path).suffix.lower()
        try:
            if chosen == figure or suffix in (".svg", ".pdf"):
                if suffix not in (".png", ".tif", ".tiff", ".svg", ".pdf"):
                    path += ".png"
                self.save_figure(path)
                return
            if suffix not in (".png", ".tif", ".tiff"):
                path += ".png"
            self.save_view(path)
        except Exception as exc:
            logger.exception("saving the 3D view failed")
            self.label_info.setText(f"saving the view failed: {exc}")

    def record_movie(self, path: str | Path, *, n_frames: int | None = None,
                     size: tuple[int, int] | None = None, fps: float = 24.0,
                     show_progress: bool = True):
        """Start a rotating-volume movie; returns the running ``MovieRecorder``.

        Frames are rendered one per event-loop turn (the GUI stays responsive);
        a progress dialog offers Cancel. Listen to the recorder's ``finished``,
        ``cancelled`` and ``failed`` signals (or this panel's ``movie_saved``).
        """
        from ptyxanes_gui.viewers.movie import MovieRecorder

        if self.movie is not None and self.movie.running:
            raise RuntimeError("a movie is already being recorded")
        rec = MovieRecorder(self.qt_viewer, path, n_frames=n_frames or self.spin_frames.value(),
                            size=size or self.export_size, fps=fps, parent=self)
        self.movie = rec
        if show_progress:
            dlg = QProgressDialog(f"Rendering {Path(path).name}…", "Cancel", 0, rec.n_frames,
                                  self)
            dlg.setWindowTitle("Rotating movie")
            dlg.setWindowModality(Qt.WindowModality.WindowModal)
            dlg.setMinimumDuration(0)
            dlg.setAutoClose(False)
            dlg.setAutoReset(False)
            dlg.canceled.connect(rec.cancel)
            rec.frame_rendered.connect(lambda k, _n: dlg.setValue(k))
            for sig in (rec.finished, rec.cancelled, rec.failed):
                sig.connect(lambda *_a: dlg.close())
            self._progress = dlg
            dlg.show()
        rec.finished.connect(self._on_movie_finished)
        rec.cancelled.connect(lambda: self.label_info.setText("movie cancelled"))
        rec.failed.connect(self.label_info.setText)
        self.button_movie.setEnabled(False)
        for sig in (rec.finished, rec.cancelled, rec.failed):
            sig.connect(lambda *_a: self.button_movie.setEnabled(True))
        rec.start()
        return rec

    def _on_movie_finished(self, path: Path) -> None:
        ms = 1e3 * float(np.mean(self.movie.frame_times)) if self.movie.frame_times else 0.0
        self.label_info.setText(f"movie saved to {Path(path).name} ({ms:.0f} ms/frame)")
        self.movie_saved.emit(path)

    def movie_dialog(self) -> None:
        """Ask for a file and record the rotating movie (File > Export hook)."""
        from ptyxanes_gui.viewers.movie import mp4_available

        filters = "Animated GIF (*.gif)" + (";;MP4 video (*.mp4)" if mp4_available() else "")
        path, _ = QFileDialog.getSaveFileName(self, "Rotating movie", "volume_movie.gif", filters)
        if not path:
            return
        if Path(path).suffix.lower() not in ((".gif", ".mp4") if mp4_available() else (".gif",)):
            path = str(Path(path).with_suffix(".gif"))
        try:
            self.record_movie(path)
        except Exception as exc:
            logger.exception("movie failed")
            self.label_info.setText(f"movie failed: {exc}")

    def close_viewer(self) -> None:
        """Close the napari viewer and its OpenGL canvas (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.movie is not None and self.movie.running:
            self.movie.cancel()
        try:
            self.viewer.layers.clear()
        except Exception:  # pragma: no cover - best effort on shutdown
            logger.debug("clearing layers failed", exc_info=True)
        self.qt_viewer.close()
        self.qt_viewer.deleteLater()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.close_viewer()
        super().closeEvent(event)
