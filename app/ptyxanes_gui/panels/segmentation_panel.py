"""Hand segmentation of >Ni³⁺ slabs on the 3D panel's napari viewer.

A threshold seeds a napari Labels layer; napari's brush, eraser and fill edit it
in 2D slices or in 3D. Hand edits are kept as two voxel sets relative to the seed
("added" and "removed"), so moving the threshold re-seeds under them:
labels = (seed(threshold) ∪ added) − removed. Every hand edit (a brush or eraser
stroke, a fill, island removal, "Discard hand edits") is one undoable step of the
window's document (Edit ▸ Undo, the panel's Undo button, Ctrl+Z in the canvas;
not the threshold); small islands are removed by connected
components; a per-crystal table gives the >Ni³⁺ fraction, mean valence and the
slab normal, drawn as arrows (Vectors layer). The panel is widgets only: the
seeding, the tables, island removal and the TIFF export run in the
:class:`~ptyxanes_gui.presenters.segmentation_presenter.SegmentationPresenter`,
which the panel asks through its signals and which hands the results back.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

#: Label value of >Ni³⁺ voxels in the labels layer.
HIGH_OX_LABEL = 1
_TOOLS = (("Pan", "pan_zoom"), ("Brush", "paint"), ("Eraser", "erase"), ("Fill", "fill"))
_T_MIN, _T_MAX, _T_STEPS = 2.0, 4.0, 400


class SegmentationPanel(QWidget):
    """Segmentation controls acting on a :class:`VolumePanel`'s viewer.

    Signals
    -------
    table_requested : emitted by the "Crystal table" button.
    islands_requested(int) : min size, voxels.
    export_requested(str) : TIFF path chosen by the user.
    seed_requested(float) : the seed of this threshold is needed now; the presenter
        answers at once with :meth:`set_seed`.
    labels_changed : after seeding or editing.
    labels_exported(object) : the labels were written to this TIFF (Path).

    Attributes
    ----------
    added, removed : ndarray of bool or None
        Voxels painted / erased by hand, relative to the threshold seed.
    """

    table_requested = Signal()
    islands_requested = Signal(int)
    export_requested = Signal(str)
    seed_requested = Signal(float)
    labels_changed = Signal()
    labels_exported = Signal(object)
    table_shown = Signal()
    islands_removed = Signal(int)  # voxels removed

    #: A shown crystal table is recomputed this long after the last change of the
    #: labels or crystals (seeding, edits, "Split touching"), ms.
    table_refresh_delay_ms = 150

    def __init__(self, volume_panel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.volume_panel = volume_panel
        self.labels_layer = None
        self.vectors_layer = None
        self.overlay_layer = None  # read-only translucent / outline view of the labels
        self.valence: NDArray[np.float32] | None = None
        self.mask: NDArray[np.bool_] | None = None
        self.voxel_size_m = 1.0
        self.table = None
        self.seed_mask: NDArray[np.bool_] | None = None
        self.added: NDArray[np.bool_] | None = None
        self.removed: NDArray[np.bool_] | None = None
        self._writing = False
        self._seeded_threshold: float | None = None  # the threshold the labels were seeded at

        self.spin_threshold = QDoubleSpinBox()
        self.spin_threshold.setRange(_T_MIN, _T_MAX)
        self.spin_threshold.setSingleStep(0.05)
        self.spin_threshold.setDecimals(3)
        self.spin_threshold.setValue(3.0)
        self.spin_threshold.setToolTip("Voxels with valence above this seed the >Ni³⁺ labels")
        self.slider_threshold = QSlider(Qt.Orientation.Horizontal)
        self.slider_threshold.setRange(0, _T_STEPS)
        self.slider_threshold.setValue(self._to_slider(3.0))
        self.button_seed = QPushButton("Seed")
        self.button_seed.setToolTip("Replace the labels by valence > threshold")

        self.tool_group = QButtonGroup(self)
        tools = QHBoxLayout()
        for i, (text, _mode) in enumerate(_TOOLS):
            b = QPushButton(text)
            b.setCheckable(True)
            self.tool_group.addButton(b, i)
            tools.addWidget(b)
        self.tool_group.button(0).setChecked(True)
        self.spin_brush = QSpinBox()
        self.spin_brush.setRange(1, 50)
        self.spin_brush.setValue(3)
        self.spin_brush.setToolTip("Brush size, voxels")
        self.check_3d_edit = QCheckBox("Edit in 3D")
        self.check_3d_edit.setToolTip("Brush and fill act on a ball/volume instead of the slice")
        self.button_undo = QPushButton("Undo")
        self.button_undo.setToolTip("Undo the last hand edit (brush, eraser, fill, islands)")
        self.button_redo = QPushButton("Redo")
        self.button_discard = QPushButton("Discard hand edits")
        self.button_discard.setToolTip(
            "Forget all painted and erased voxels: back to the threshold seed (undoable)")

        self.spin_min_size = QSpinBox()
        self.spin_min_size.setRange(1, 10_000_000)
        self.spin_min_size.setValue(10)
        self.spin_min_size.setToolTip("Islands with fewer voxels are removed")
        self.button_islands = QPushButton("Remove small islands")
        self.button_table = QPushButton("Crystal table")
        self.button_export = QPushButton("Export TIFF…")
        self.label_status = QLabel("")
        self.combo_display = QComboBox()
        for text, mode in (("editable", "edit"), ("translucent", "translucent"),
                           ("outline", "outline")):
            self.combo_display.addItem(text, mode)
        self.combo_display.setToolTip(
            "How the >Ni³⁺ labels are drawn: the editable layer (brush, eraser, fill), or a "
            "read-only translucent or outline overlay. An isolated crystal shows only its own "
            "labels (as an overlay; choose \"all\" crystals to edit).")

        self.table_widget = QTableWidget(0, 5)
        self.table_widget.setHorizontalHeaderLabels(
            ["crystal", ">Ni³⁺ fraction", "mean valence", "slab normal (p, r, c)", "flatness"])
        self.table_widget.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        grid = QGridLayout()
        grid.addWidget(QLabel("Threshold:"), 0, 0)
        grid.addWidget(self.slider_threshold, 0, 1)
        grid.addWidget(self.spin_threshold, 0, 2)
        grid.addWidget(self.button_seed, 0, 3)
        grid.addLayout(tools, 1, 0, 1, 2)
        grid.addWidget(self.spin_brush, 1, 2)
        grid.addWidget(self.check_3d_edit, 1, 3)
        row2 = QHBoxLayout()
        for w in (self.button_undo, self.button_redo, self.button_discard, QLabel("min size:"),
                  self.spin_min_size, self.button_islands):
            row2.addWidget(w)
        row3 = QHBoxLayout()
        for w in (self.button_table, self.button_export, QLabel("Show labels:"),
                  self.combo_display):
            row3.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(row2)
        layout.addLayout(row3)
        layout.addWidget(self.table_widget, 1)
        layout.addWidget(self.label_status)

        self.slider_threshold.valueChanged.connect(self._on_slider_changed)
        self.spin_threshold.valueChanged.connect(self._on_spin_changed)
        self.button_seed.clicked.connect(self.seed)
        self.tool_group.idClicked.connect(self._on_tool_clicked)
        self.spin_brush.valueChanged.connect(self._on_brush_changed)
        self.check_3d_edit.toggled.connect(self._on_3d_edit_toggled)
        self.button_undo.clicked.connect(self.undo)
        self.button_redo.clicked.connect(self.redo)
        self.button_discard.clicked.connect(self.discard_edits)
        self.button_islands.clicked.connect(
            lambda: self.islands_requested.emit(self.spin_min_size.value()))
        self.button_table.clicked.connect(self.table_requested)
        self.button_export.clicked.connect(self._on_export_clicked)

        volume_panel.crystal_changed.connect(self._on_crystal_changed)
        self.combo_display.currentIndexChanged.connect(lambda _i: self._refresh_overlay())
        self.labels_changed.connect(self._refresh_overlay)
        # a shown table follows the labels and the crystals (recomputed in a worker)
        self._table_timer = QTimer(self)
        self._table_timer.setSingleShot(True)
        self._table_timer.setInterval(self.table_refresh_delay_ms)
        self._table_timer.timeout.connect(self._refresh_table)
        self.labels_changed.connect(self._on_table_inputs_changed)
        volume_panel.crystals_labelled.connect(self._on_table_inputs_changed)
        volume_panel.check_split.toggled.connect(self._mark_table_stale)
        self._set_enabled(False)

    # ------------------------------------------------------------------ threshold
    @staticmethod
    def _to_slider(t: float) -> int:
        return round((t - _T_MIN) / (_T_MAX - _T_MIN) * _T_STEPS)

    @property
    def threshold(self) -> float:
        """Current seeding threshold, valence units."""
        return float(self.spin_threshold.value())

    def set_threshold(self, t: float) -> None:
        """Set the threshold (re-seeds the labels)."""
        self.spin_threshold.setValue(float(t))

    def _on_slider_changed(self, pos: int) -> None:
        t = _T_MIN + pos / _T_STEPS * (_T_MAX - _T_MIN)
        if abs(t - self.spin_threshold.value()) > 0.5 * (_T_MAX - _T_MIN) / _T_STEPS:
            self.spin_threshold.setValue(t)

    def _on_spin_changed(self, t: float) -> None:
        self.slider_threshold.blockSignals(True)
        self.slider_threshold.setValue(self._to_slider(t))
        self.slider_threshold.blockSignals(False)
        before = self._seeded_threshold
        self.seed()
        if before is not None and self.labels_layer is not None and before != float(t):
            self.presenter.threshold_changed(before, float(t))

    def _set_enabled(self, on: bool) -> None:
        for w in (self.button_seed, self.button_undo, self.button_redo, self.button_discard,
                  self.button_islands, self.button_table, self.button_export):
            w.setEnabled(on)

    def set_undo_texts(self, undo: str | None, redo: str | None) -> None:
        """Show what the Undo / Redo buttons would do (None: no hand edit to undo / redo)."""
        self.button_undo.setToolTip(f"Undo {undo}" if undo else "No hand edit to undo")
        self.button_redo.setToolTip(f"Redo {redo}" if redo else "No hand edit to redo")

    # ------------------------------------------------------------------ data
    def set_data(self, valence: NDArray[np.floating], voxel_size_m: float,
                 mask: NDArray[np.bool_] | None = None) -> None:
        """Segment this volume (P, M, N); ``mask`` is the sample mask (default: finite)."""
        v = np.asarray(valence, np.float32)
        if v.ndim != 3:
            raise ValueError(f"volume must be 3D (P, M, N); got shape {v.shape}")
        self.valence = v
        self.voxel_size_m = float(voxel_size_m or 1.0)
        self.mask = np.isfinite(v) if mask is None else np.asarray(mask, bool)
        vp = self.volume_panel
        if vp.valence is None or vp.valence.shape != v.shape:
            vp.set_volume(v, self.voxel_size_m)
        viewer = vp.viewer
        for layer in (self.labels_layer, self.vectors_layer):
            if layer is not None and layer in viewer.layers:
                viewer.layers.remove(layer)
        self.vectors_layer = None
        self.table = None
        self.table_widget.setRowCount(0)
        self._table_timer.stop()
        self.table_widget.setEnabled(True)
        scale = (self.voxel_size_m * 1e6,) * 3
        # drawn over the volume (no depth test) in magenta, a colour the valence map
        # does not use, so the labels stay visible inside the translucent volume
        self.labels_layer = viewer.add_labels(np.zeros(v.shape, np.uint8), name=">Ni3+ labels",
                                              scale=scale, units="µm", opacity=0.6,
                                              blending="translucent_no_depth")
        try:
            from napari.utils.colormaps import DirectLabelColormap

            self.labels_layer.colormap = DirectLabelColormap(
                color_dict={None: "transparent", 0: "transparent", HIGH_OX_LABEL: "magenta"})
        except Exception:  # pragma: no cover - older napari keeps its default colours
            logger.debug("label colour not set", exc_info=True)
        self.labels_layer.selected_label = HIGH_OX_LABEL
        self.labels_layer.brush_size = self.spin_brush.value()
        self.labels_layer.n_edit_dimensions = 3 if self.check_3d_edit.isChecked() else 2
        self.labels_layer.events.paint.connect(self._on_layer_painted)
        # napari's own undo (Ctrl+Z in the canvas) would replay stale values after a
        # re-seed: route it to the panel's edit history instead
        self.labels_layer.undo = self.undo
        self.labels_layer.redo = self.redo
        self.seed_mask = None  # the new layer is empty: nothing to read back as an edit
        self.added = np.zeros(v.shape, bool)
        self.removed = np.zeros(v.shape, bool)
        self.presenter.data_replaced()  # the old volume's edits can no longer be undone
        self._set_enabled(True)
        self.seed()

    def seed(self) -> None:
        """Re-seed: ``valence > threshold`` inside the mask, with the hand edits kept."""
        if self.valence is None or self.labels_layer is None:
            return
        self._record_edit()  # a pending hand edit, relative to the old seed
        self.seed_requested.emit(self.threshold)  # the presenter answers with set_seed

    def set_seed(self, seed: NDArray[np.bool_], threshold: float) -> None:
        """Show the seed of ``threshold`` (voxels above it inside the mask) under the
        hand edits; the presenter's answer to ``seed_requested``."""
        seed = np.asarray(seed, bool)
        if self.valence is None or self.labels_layer is None or seed.shape != self.valence.shape:
            return  # another volume arrived meanwhile
        self.seed_mask = seed
        self._seeded_threshold = float(threshold)
        lab = self._compose()
        self._write_layer(lab)
        self.label_status.setText(
            f"seeded {int(self.seed_mask.sum())} voxels > {float(threshold):.3f}"
            + self._edits_text())
        self.labels_changed.emit()

    def _compose(self) -> NDArray[np.uint8]:
        """Labels from the seed and the hand edits: (seed ∪ added) − removed."""
        keep = (self.seed_mask | self.added) & ~self.removed
        return keep.astype(np.uint8) * np.uint8(HIGH_OX_LABEL)

    def _write_layer(self, lab: NDArray[np.uint8]) -> None:
        """Put ``lab`` into the layer without touching napari's edit history."""
        layer = self.labels_layer
        self._writing = True
        try:
            if np.shape(layer.data) == lab.shape:
                layer.data[...] = lab
                layer.refresh()
            else:
                layer.data = lab
        finally:
            self._writing = False

    def _edits_text(self) -> str:
        if self.added is None:
            return ""
        na, nr = int(self.added.sum()), int(self.removed.sum())
        return f"; hand edits: +{na} / −{nr} voxels" if na or nr else ""

    @property
    def n_hand_edits(self) -> tuple[int, int]:
        """(voxels added, voxels removed) by hand relative to the seed."""
        if self.added is None:
            return 0, 0
        self._record_edit()
        return int(self.added.sum()), int(self.removed.sum())

    def labels(self) -> NDArray[np.uint8] | None:
        """Copy of the current >Ni³⁺ labels (P, M, N), 0/1, or None before data."""
        if self.labels_layer is None:
            return None
        return np.array(self.labels_layer.data, dtype=np.uint8, copy=True)

    def apply_edit(self, new_labels: NDArray, text: str = "replace labels") -> int:
        """Write ``new_labels`` into the layer as one undoable hand edit; returns voxels changed.

        ``text`` names the edit in Edit ▸ Undo (``"remove small islands"``).
        """
        layer = self.labels_layer
        self._record_edit()
        new = np.asarray(new_labels)
        changed = int((np.asarray(layer.data) != new).sum())
        if changed:
            self._write_layer(new.astype(np.uint8))
            self._record_edit(text)
        return changed

    def _record_edit(self, text: str | None = None) -> None:
        """Turn the difference between the layer and (seed ∪ added) − removed into edits.

        Voxels now labelled become "added" (and leave "removed"); voxels now empty
        become "removed" (and leave "added"), so a later threshold keeps them as
        the user left them. One call = one undo step of the document, named ``text``
        (default: from what changed, ``"paint labels"``, ``"erase labels"``).
        """
        if self.seed_mask is None or self.added is None or self.labels_layer is None:
            return
        cur = np.asarray(self.labels_layer.data) != 0
        expected = (self.seed_mask | self.added) & ~self.removed
        idx = np.flatnonzero(cur != expected)
        if idx.size == 0:
            return
        old = (self.added.flat[idx].copy(), self.removed.flat[idx].copy())
        now = cur.flat[idx]
        self.added.flat[idx] = now
        self.removed.flat[idx] = ~now
        if text is None:
            mode = getattr(self.labels_layer, "mode", "")
            what = ("fill" if str(mode) == "fill" else
                    "paint" if now.all() else "erase" if not now.any() else "edit")
            text = f"{what} labels ({idx.size} voxel{'s' if idx.size != 1 else ''})"
        self.presenter.record_edit((idx, old, (now.copy(), ~now)), text)
        self.labels_changed.emit()

    def apply_step(self, entry: tuple, undoing: bool) -> None:
        """Put one recorded hand edit back (``undoing``) or forward (the document's undo/redo)."""
        if self.added is None:
            return
        idx, old, new = entry
        a, r = old if undoing else new
        self.added.flat[idx] = a
        self.removed.flat[idx] = r
        self._write_layer(self._compose())
        self.label_status.setText(("undone" if undoing else "redone") + self._edits_text())
        self.labels_changed.emit()

    def discard_edits(self) -> None:
        """Forget all hand edits (one undoable step): labels = seed(threshold)."""
        self._record_edit()
        if self.added is None or not (self.added.any() or self.removed.any()):
            return
        idx = np.flatnonzero(self.added | self.removed)
        old = (self.added.flat[idx].copy(), self.removed.flat[idx].copy())
        zeros = np.zeros(idx.size, bool)
        self.added[...] = False
        self.removed[...] = False
        self._write_layer(self._compose())
        self.presenter.record_edit((idx, old, (zeros, zeros)), "discard hand edits")
        self.label_status.setText("hand edits discarded")
        self.labels_changed.emit()

    # ------------------------------------------------------------------ editing
    def set_tool(self, mode: str) -> None:
        """napari labels mode: 'pan_zoom', 'paint', 'erase' or 'fill'."""
        ids = [m for _t, m in _TOOLS]
        self.tool_group.button(ids.index(mode)).setChecked(True)
        if self.labels_layer is not None:
            self.volume_panel.viewer.layers.selection.active = self.labels_layer
            self.labels_layer.mode = mode

    def _on_tool_clicked(self, i: int) -> None:
        self.set_tool(_TOOLS[i][1])

    def _on_brush_changed(self, size: int) -> None:
        if self.labels_layer is not None:
            self.labels_layer.brush_size = size

    def _on_3d_edit_toggled(self, on: bool) -> None:
        if self.labels_layer is not None:
            self.labels_layer.n_edit_dimensions = 3 if on else 2

    def _on_layer_painted(self, event=None) -> None:
        # One napari paint event per finished stroke (or fill) = one undo step. A
        # direct ``layer.paint()`` emits it before writing the voxels, so the edit
        # is read back once control returns to the event loop; every action on the
        # edits flushes a pending one first (_record_edit is idempotent).
        if not self._writing:
            QTimer.singleShot(0, self._record_edit)

    def undo(self) -> None:
        """Undo the last hand edit (brush stroke, eraser, fill, islands, discard) when it
        is the document's last edit."""
        self._record_edit()  # a stroke not read back yet is the last edit
        self.presenter.undo()

    def redo(self) -> None:
        """Redo the last undone hand edit when it is the document's next redo."""
        self._record_edit()
        self.presenter.redo()

    # ------------------------------------------------------------------ table and arrows
    def show_table(self, table) -> None:
        """Fill the per-crystal table and draw the slab normals as arrows."""
        self.table = table
        tw = self.table_widget
        tw.setRowCount(len(table))
        for i in range(len(table)):
            n = table.normal[i]
            cells = [str(int(table.crystal_id[i])), f"{table.high_ox_fraction[i]:.4f}",
                     f"{table.mean_valence[i]:.4f}",
                     "—" if not np.all(np.isfinite(n)) else
                     f"({n[0]:+.3f}, {n[1]:+.3f}, {n[2]:+.3f})",
                     "—" if not np.isfinite(table.flatness[i]) else f"{table.flatness[i]:.3f}"]
            for j, text in enumerate(cells):
                tw.setItem(i, j, QTableWidgetItem(text))
        tw.resizeColumnsToContents()
        tw.setEnabled(True)
        tw.setToolTip("")
        self._draw_normals(table)
        self.label_status.setText(f"{len(table)} crystal(s)")
        self.table_shown.emit()

    @property
    def table_stale(self) -> bool:
        """True while the shown table no longer matches the labels or crystals."""
        return self._table_timer.isActive() or not self.table_widget.isEnabled()

    def _mark_table_stale(self, *_args) -> None:
        if self.table is None:
            return
        self.table_widget.setEnabled(False)  # greyed out until recomputed
        self.table_widget.setToolTip("out of date: being recomputed")
        self.label_status.setText("crystal table out of date — recomputing…")

    def _on_table_inputs_changed(self, *_args) -> None:
        """Labels or crystals changed: recompute a shown table once the changes settle."""
        if self.table is None:
            return
        self._mark_table_stale()
        self._table_timer.start()

    def _refresh_table(self) -> None:
        if self.table is None or self.valence is None:
            return
        self.table_requested.emit()  # the presenter retries later while a worker runs

    def retry_table_later(self) -> None:
        """A worker is busy: ask for the table again once the refresh delay has passed."""
        self._table_timer.start()

    def _draw_normals(self, table, crystal: int | None = None) -> None:
        """Slab normals as double-headed arrows through the crystal centroids.

        Only the isolated crystal's arrow is drawn while one crystal is shown alone
        (``crystal`` default: the 3D panel's current crystal, 0 = all).
        """
        viewer = self.volume_panel.viewer
        if self.vectors_layer is not None and self.vectors_layer in viewer.layers:
            viewer.layers.remove(self.vectors_layer)
            self.vectors_layer = None
        if table is None:
            return
        if crystal is None:
            crystal = self.volume_panel.current_crystal
        ok = np.all(np.isfinite(table.normal), axis=1)
        if crystal:
            ok &= table.crystal_id == crystal
        if not ok.any():
            return
        radius = (3 * table.n_voxels[ok] / (4 * np.pi)) ** (1 / 3)
        centre = table.centroid[ok]
        d = table.normal[ok] * (1.2 * radius)[:, None]
        vec = np.concatenate([np.stack([centre, d], 1), np.stack([centre, -d], 1)])
        width = float(np.clip(0.12 * radius.min(), 0.3, 2.0))  # voxels
        self.vectors_layer = viewer.add_vectors(
            vec, name="slab normals", edge_width=width, length=1.0, edge_color="white",
            scale=(self.voxel_size_m * 1e6,) * 3, units="µm", vector_style="arrow",
            blending="translucent_no_depth")

    def _on_crystal_changed(self, crystal: int) -> None:
        if self.table is not None:
            self._draw_normals(self.table, crystal)
        self._refresh_overlay()

    # ------------------------------------------------------------------ display
    @property
    def label_display(self) -> str:
        """What draws the labels now: ``"edit"`` (the editable layer), ``"translucent"``
        or ``"outline"`` (overlay). An isolated crystal always uses an overlay."""
        mode = self.combo_display.currentData()
        if mode == "edit" and self.volume_panel.current_crystal:
            return "translucent"
        return mode

    def set_label_display(self, mode: str) -> None:
        """``"edit"``, ``"translucent"`` or ``"outline"``."""
        i = self.combo_display.findData(mode)
        if i < 0:
            raise ValueError(f"label display must be 'edit', 'translucent' or 'outline'; "
                             f"got {mode!r}")
        self.combo_display.setCurrentIndex(i)
        self._refresh_overlay()

    def _refresh_overlay(self, *_args) -> None:
        """Show the editable layer, or the overlay of the labels of the shown crystal(s)."""
        vp = self.volume_panel
        viewer = vp.viewer
        if self.overlay_layer is not None and self.overlay_layer in viewer.layers:
            viewer.layers.remove(self.overlay_layer)
        self.overlay_layer = None
        if self.labels_layer is None:
            return
        mode = self.label_display
        self.labels_layer.visible = mode == "edit"
        if mode == "edit":
            return
        from ptyxanes_gui.viewers.napari_viewer import add_label_overlay

        self.overlay_layer = add_label_overlay(
            viewer, np.asarray(self.labels_layer.data), voxel_size_m=self.voxel_size_m,
            mode=mode, crystal_labels=vp.crystal_labels, crystal=vp.current_crystal,
            opacity=0.45 if mode == "translucent" else 0.9)

    # ------------------------------------------------------------------ saving
    def label_arrays(self, name: str = "high_ox") -> dict[str, NDArray]:
        """Labels to save with a sample: ``name``, its hand edits and the crystals.

        Returns
        -------
        labels : dict of str to ndarray
            ``name`` (uint8 0/1), ``name + "_added"`` and ``name + "_removed"``
            (uint8 0/1 hand edits, restored by :meth:`restore_edits`) and
            ``"crystals"`` (int32) when known; empty before data.
        """
        lab = self.labels()
        if lab is None:
            return {}
        self._record_edit()
        out: dict[str, NDArray] = {name: lab, f"{name}_added": self.added.astype(np.uint8),
                                   f"{name}_removed": self.removed.astype(np.uint8)}
        if self.volume_panel.crystal_labels is not None:
            out["crystals"] = self.volume_panel.crystal_labels.copy()
        return out

    def restore_edits(self, added: NDArray | None, removed: NDArray | None) -> bool:
        """Re-apply saved hand edits (from :meth:`label_arrays`) on top of the seed.

        Returns
        -------
        restored : bool
            False when there is no data or the shapes do not match (nothing changes).
        """
        if self.added is None or added is None or removed is None:
            return False
        a, r = np.asarray(added) != 0, np.asarray(removed) != 0
        if a.shape != self.added.shape or r.shape != self.added.shape:
            logger.warning("saved hand edits %s do not match the volume %s", a.shape,
                           self.added.shape)
            return False
        self.added[...] = a & ~r
        self.removed[...] = r
        self.presenter.forget_edits()
        self._write_layer(self._compose())
        self.label_status.setText("hand edits restored" + self._edits_text())
        self.labels_changed.emit()
        return True

    def store_in_project(self, project, name: str = "high_ox") -> None:
        """Put the labels, hand edits (and the crystal table) into a ``Project``."""
        arrays = self.label_arrays(name)
        if not arrays:
            raise ValueError("no labels to store")
        crystals = arrays.pop("crystals", None)
        project.labels.update(arrays)
        if crystals is not None:
            project.labels.setdefault("crystals", crystals)
        if self.table is not None:
            project.tables["crystals"] = self.table.columns()
        project.parameters.setdefault("segment", {})["threshold"] = self.threshold

    def export_done(self, path: Path) -> None:
        """The presenter wrote the labels to ``path``."""
        self.label_status.setText(f"labels exported to {Path(path).name}")
        self.labels_exported.emit(Path(path))

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export labels", "labels.tif",
                                              "TIFF (*.tif *.tiff)")
        if path:
            self.export_requested.emit(path)

    def show_error(self, text: str) -> None:
        """Show an error in the status line."""
        self.label_status.setText(text)
