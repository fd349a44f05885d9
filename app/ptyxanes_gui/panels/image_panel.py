"""Image view: energy slider, channel switch, colour limits, ROI tools, overlays."""

from __future__ import annotations

import logging

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ptyxanes_gui.presenters.channels import CHANNEL_LABELS
from ptyxanes_gui.viewers.image_viewer import ImageViewer

logger = logging.getLogger(__name__)


class ImagePanel(QWidget):
    """The central image of the current sample.

    Signals
    -------
    channel_changed(str) : channel key chosen
    energy_changed(int) : energy index chosen on the slider
    limits_changed(float, float) : valence colour limits typed or dragged
    mask_overlay_toggled(bool)
    """

    channel_changed = Signal(str)
    energy_changed = Signal(int)
    limits_changed = Signal(float, float)
    mask_overlay_toggled = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("image_panel")
        self.viewer = ImageViewer(self)
        self.channel = QComboBox()
        self.channel.setToolTip("What to show: an energy image or a result map of the XANES fit")
        for key, label in CHANNEL_LABELS.items():
            self.channel.addItem(label, key)
        self.channel.setCurrentIndex(self.channel.findData("absorption"))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("X-ray energy")
        self.energy_label = QLabel("— eV")
        self.energy_label.setMinimumWidth(70)
        self.lo = QDoubleSpinBox()
        self.hi = QDoubleSpinBox()
        for w, tip in ((self.lo, "lower colour limit"), (self.hi, "upper colour limit")):
            w.setDecimals(3)
            w.setRange(-1e9, 1e9)
            w.setSingleStep(0.05)
            w.setKeyboardTracking(False)
            w.setToolTip(tip + " (valence limits are shared by all samples)")
            w.setFixedWidth(88)  # the ±1e9 range would otherwise size it for 13 digits
        self.rect_btn = QToolButton(text="▭ ROI")
        self.rect_btn.setToolTip("Add a rectangle region of interest")
        self.poly_btn = QToolButton(text="⬠ ROI")
        self.poly_btn.setToolTip("Draw a polygon: click its corners, double-click to close")
        self.brush_btn = QToolButton(text="✎ brush")
        self.brush_btn.setCheckable(True)
        self.brush_btn.setToolTip("Paint a region with the mouse; click again to finish")
        self.clear_btn = QToolButton(text="✕ ROIs")
        self.clear_btn.setToolTip("Remove all regions of interest")
        self.mask_box = QCheckBox("mask")
        self.mask_box.setToolTip("Overlay the sample mask of the fit")

        top = QHBoxLayout()
        top.addWidget(QLabel("Channel"))
        top.addWidget(self.channel)
        top.addWidget(self.slider, 1)
        top.addWidget(self.energy_label)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Limits"))
        bottom.addWidget(self.lo)
        bottom.addWidget(self.hi)
        bottom.addStretch(1)
        for w in (self.rect_btn, self.poly_btn, self.brush_btn, self.clear_btn, self.mask_box):
            bottom.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.viewer, 1)
        lay.addLayout(bottom)

        self.channel.currentIndexChanged.connect(
            lambda _i: self.channel_changed.emit(self.channel.currentData()))
        self.slider.valueChanged.connect(self.energy_changed.emit)
        self.lo.valueChanged.connect(self._on_limit_edited)
        self.hi.valueChanged.connect(self._on_limit_edited)
        self.viewer.levels_changed.connect(self._on_viewer_levels_changed)
        self.rect_btn.clicked.connect(lambda: self.viewer.add_rect_roi())
        self.poly_btn.clicked.connect(self.viewer.start_polygon)
        self.brush_btn.toggled.connect(self.viewer.set_brush)
        self.clear_btn.clicked.connect(self.viewer.clear_rois)
        self.mask_box.toggled.connect(self.mask_overlay_toggled.emit)
        self._quiet = False

    def current_channel(self) -> str:
        return self.channel.currentData()

    def set_channel(self, key: str) -> None:
        i = self.channel.findData(key)
        if i >= 0:
            self.channel.setCurrentIndex(i)

    def set_channel_enabled(self, key: str, enabled: bool, reason: str = "") -> None:
        """Grey out a channel the current sample does not have."""
        i = self.channel.findData(key)
        item = self.channel.model().item(i)
        if item is not None:
            item.setEnabled(enabled)
            item.setToolTip("" if enabled else reason)

    def set_energies(self, energies) -> None:
        self._energies = energies
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(energies) - 1))
        self.slider.blockSignals(False)

    def set_energy_index(self, i: int, energy: float | None) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(i)
        self.slider.blockSignals(False)
        self.energy_label.setText("—" if energy is None else f"{energy:.1f} eV")

    def set_energy_enabled(self, enabled: bool) -> None:
        self.slider.setEnabled(enabled)
        if not enabled:
            self.energy_label.setText("result map")

    def show_limits(self, lo: float, hi: float) -> None:
        self._quiet = True
        self.lo.setValue(lo)
        self.hi.setValue(hi)
        self._quiet = False

    def _on_limit_edited(self) -> None:
        if not self._quiet and self.lo.value() < self.hi.value():
            self.limits_changed.emit(self.lo.value(), self.hi.value())

    def _on_viewer_levels_changed(self, lo: float, hi: float) -> None:
        self.show_limits(lo, hi)
        self.limits_changed.emit(lo, hi)
