"""3D panel: the valence volume in an embedded napari viewer.

Quarter cut (clipping planes, paper Fig. 2c/3a), orthogonal slices
(2D/3D toggle and slice axis), per-crystal isolation (Fig. 3b-d) and a highlight
overlay (histogram range).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ptyxanes_gui.viewers.napari_viewer import (
    fill_outside,
    padded_limits,
    quarter_planes,
    valence_napari_colormap,
)

logger = logging.getLogger(__name__)

_AXES = ("plane", "row", "col")


class VolumePanel(QWidget):
    """Embedded napari viewer of a valence volume.

    Attributes
    ----------
    viewer : napari.components.ViewerModel
        The viewer model (layers, dims, camera).
    qt_viewer : napari.qt.QtViewer
        Its Qt widget, embedded in this panel.
    image_layer, cut_layer : napari.layers.Image or None
        The valence layer and the second layer used to draw the quarter cut.
    crystal_labels : ndarray of int32 or None
        Crystals labelled from the sample mask (0 = outside).
    """

    crystal_changed = Signal(int)  # 0 = all crystals
    volume_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.components import ViewerModel
        from napari.qt import QtViewer

        self.viewer = ViewerModel(title="ptyxanes 3D", ndisplay=3)
        self.qt_viewer = QtViewer(self.viewer, show_welcome_screen=False)
        self.image_layer = None
        self.cut_layer = None
        self.highlight_layer = None
        self.crystal_labels: NDArray[np.int32] | None = None
        self.valence: NDArray[np.float32] | None = None
        self.voxel_size_m = 1.0
        self.clim = (2.0, 3.5)
        self._crystal = 0
        self._closed = False

        self.check_3d = QCheckBox("3D")
        self.check_3d.setChecked(True)
        self.check_3d.setToolTip("Volume rendering (on) or orthogonal slices (off)")
        self.combo_axis = QComboBox()
        self.combo_axis.addItems([f"slice along {a}" for a in _AXES])
        self.combo_axis.setToolTip("Axis the slider moves through in 2D")
        self.check_cut = QCheckBox("Remove a quarter")
        self.check_cut.setToolTip("Cut away one quarter of the volume to show the inside")
        self.combo_crystal = QComboBox()
        self.combo_crystal.setToolTip("Show one crystal alone")
        self.button_split = QPushButton("Split touching")
        self.button_split.setToolTip("Re-label crystals by a watershed of the distance map")
        self.label_info = QLabel("")

        top = QHBoxLayout()
        for w in (self.check_3d, self.combo_axis, self.check_cut, QLabel("Crystal:"),
                  self.combo_crystal, self.button_split):
            top.addWidget(w)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.qt_viewer, 1)
        layout.addWidget(self.label_info)
        self._set_crystal_items(0)

        self.check_3d.toggled.connect(self._on_3d_toggled)
        self.combo_axis.currentIndexChanged.connect(self._on_axis_changed)
        self.check_cut.toggled.connect(self.set_quarter_cut)
        self.combo_crystal.currentIndexChanged.connect(self._on_crystal_selected)
        self.button_split.clicked.connect(self._on_split_clicked)

    # ------------------------------------------------------------------ data
    def set_volume(
        self,
        valence: NDArray[np.floating],
        voxel_size_m: float,
        clim: tuple[float, float] = (2.0, 3.5),
        crystal_labels: NDArray[np.integer] | None = None,
    ) -> None:
        """Show a valence volume (P, M, N); NaN outside the sample is transparent."""
        v = np.asarray(valence, np.float32)
        if v.ndim != 3:
            raise ValueError(f"volume must be 3D (P, M, N); got shape {v.shape}")
        self.valence = v
        self.voxel_size_m = float(voxel_size_m or 1.0)
        self.clim = (float(clim[0]), float(clim[1]))
        if crystal_labels is None:
            from ptyxanes.segment import label_crystals

            crystal_labels = label_crystals(np.isfinite(v), method="components")
        self.crystal_labels = np.asarray(crystal_labels, np.int32)
        self._crystal = 0
        scale = (self.voxel_size_m * 1e6,) * 3
        data = fill_outside(v, self.clim)
        for layer in (self.image_layer, self.cut_layer, self.highlight_layer):
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.highlight_layer = None
        cmap = valence_napari_colormap()
        common = {"colormap": cmap, "contrast_limits": padded_limits(self.clim), "scale": scale,
                  "rendering": "translucent", "blending": "translucent", "units": "µm",
                  "interpolation3d": "nearest"}
        self.image_layer = self.viewer.add_image(data, name="valence", **common)
        self.cut_layer = self.viewer.add_image(data, name="valence (cut)", visible=False,
                                               **common)
        self.viewer.canvas.overlays.scale_bar.visible = True
        self._set_crystal_items(int(self.crystal_labels.max()))
        self.set_quarter_cut(self.check_cut.isChecked())
        self.viewer.reset_view()
        self._update_info()
        self.volume_changed.emit()

    def set_crystal_labels(self, labels: NDArray[np.integer]) -> None:
        """Replace the crystal labels (e.g. after a watershed split)."""
        if self.valence is None or np.shape(labels) != self.valence.shape:
            raise ValueError("crystal labels must match the volume")
        self.crystal_labels = np.asarray(labels, np.int32)
        self._set_crystal_items(int(self.crystal_labels.max()))
        self.isolate_crystal(0)
        self._update_info()

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
        """Remove (or restore) the quarter row < centre, col < centre with clipping planes."""
        self.check_cut.blockSignals(True)
        self.check_cut.setChecked(bool(on))
        self.check_cut.blockSignals(False)
        if self.image_layer is None:
            return
        if on:
            main, second = quarter_planes(self.image_layer.data.shape, tuple(self.image_layer.scale))
            self.image_layer.experimental_clipping_planes = main
            self.cut_layer.experimental_clipping_planes = second
            self.cut_layer.visible = True
        else:
            self.image_layer.experimental_clipping_planes = []
            self.cut_layer.experimental_clipping_planes = []
            self.cut_layer.visible = False

    @property
    def quarter_cut(self) -> bool:
        """True while a quarter is cut away."""
        return self.check_cut.isChecked()

    def isolate_crystal(self, crystal: int) -> None:
        """Show crystal ``crystal`` alone (0 = all crystals)."""
        if self.valence is None or self.crystal_labels is None:
            return
        crystal = int(crystal)
        keep = None if crystal == 0 else self.crystal_labels == crystal
        data = fill_outside(self.valence, self.clim, keep)
        self.image_layer.data = data
        self.cut_layer.data = data
        self._crystal = crystal
        self.combo_crystal.blockSignals(True)
        self.combo_crystal.setCurrentIndex(crystal)
        self.combo_crystal.blockSignals(False)
        self.crystal_changed.emit(crystal)

    @property
    def current_crystal(self) -> int:
        """Isolated crystal (0 = all)."""
        return self._crystal

    def visible_mask(self) -> NDArray[np.bool_]:
        """Voxels drawn (inside the sample and the isolated crystal), before clipping."""
        if self.image_layer is None:
            return np.zeros((0, 0, 0), bool)
        return np.asarray(self.image_layer.data) >= self.clim[0]

    def _on_crystal_selected(self, index: int) -> None:
        self.isolate_crystal(max(index, 0))

    def _on_split_clicked(self) -> None:
        if self.valence is None:
            return
        from superqt.utils import create_worker

        from ptyxanes.segment import label_crystals

        self.button_split.setEnabled(False)
        self._split_worker = create_worker(
            label_crystals, np.isfinite(self.valence), method="watershed",
            min_distance=max(3, min(self.valence.shape) // 10),
            _connect={"returned": self.set_crystal_labels,
                      "errored": self._on_worker_errored,
                      "finished": lambda: self.button_split.setEnabled(True)},
        )

    def _on_worker_errored(self, exc: Exception) -> None:
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
        """Render the canvas; save a PNG when ``path`` is given. Returns the RGBA array."""
        from qtpy.QtWidgets import QApplication

        QApplication.processEvents()  # pending camera/layer updates reach the canvas first
        img = self.qt_viewer.screenshot(path=None, flash=False, size=size)
        if path is not None:
            import imageio.v3 as iio

            from ptyxanes.io._atomic import atomic_path

            with atomic_path(path, overwrite=True) as tmp:
                iio.imwrite(tmp, img, extension=".png")
        return img

    def close_viewer(self) -> None:
        """Close the napari viewer and its OpenGL canvas (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.viewer.layers.clear()
        except Exception:  # pragma: no cover - best effort on shutdown
            logger.debug("clearing layers failed", exc_info=True)
        self.qt_viewer.close()
        self.qt_viewer.deleteLater()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.close_viewer()
        super().closeEvent(event)
