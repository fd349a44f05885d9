"""Histogram panel: valence histograms of several samples, reference lines, range highlight."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

SAMPLE_COLOURS = ["#1f4e9c", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b"]


class HistogramPanel(QWidget):
    """Valence histograms (paper Fig. 5g style) with a draggable highlight range.

    Signals
    -------
    range_changed(float, float) : the highlight range was dragged (valence units)
    highlight_toggled(bool)
    scope_changed(str) : ``"map"``, ``"mask"`` or ``"roi"``
    overlay_toggled(bool) : show all samples or only the current one
    export_requested()
    """

    range_changed = Signal(float, float)
    highlight_toggled = Signal(bool)
    scope_changed = Signal(str)
    overlay_toggled = Signal(bool)
    export_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("histogram_panel")
        self.plot = pg.PlotWidget(background="w")
        # neutral until a sample gives its element (set_valence_axis)
        self.plot.setLabel("bottom", "valence")
        self.plot.setLabel("left", "density (edge-jump weighted)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # top-left: below Ni2+ there is little density, while >Ni3+ tails run to the right edge
        self.legend = self.plot.addLegend(offset=(10, 10), labelTextSize="8pt",
                                        brush=pg.mkBrush(255, 255, 255, 150))
        self.ref_lines = []
        self.region = pg.LinearRegionItem(values=(3.0, 3.5), brush=pg.mkBrush(40, 220, 40, 50))
        self.region.setZValue(10)
        self.region.setVisible(False)
        self.plot.addItem(self.region)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.scope = QComboBox()
        for label, key in (("whole map", "map"), ("sample mask", "mask"), ("ROI", "roi")):
            self.scope.addItem(label, key)
        self.scope.setCurrentIndex(1)
        self.overlay_box = QCheckBox("all samples")
        self.overlay_box.setChecked(True)
        self.highlight_box = QCheckBox("highlight range")
        self.highlight_box.setToolTip("Drag the shaded band: pixels in that valence range light up")
        self.export_btn = QToolButton()  # a tool button: as narrow as its text
        self.export_btn.setText("CSV…")
        self.export_btn.setToolTip("Save the histograms shown as CSV")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["sample", "mean", "median", "σ", "pixels"])
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(110)
        # small minimum heights: the dock fits its share of a 1366 x 768 screen (the plot
        # takes what the window gives, the table scrolls from its header and one row on)
        self.table.setMinimumHeight(46)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        self.plot.setMinimumHeight(100)
        self.info = QLabel("")
        self.info.setMinimumWidth(40)  # a long message is cut (whole in its tool tip), never
        # widens the dock
        row = QHBoxLayout()
        row.addWidget(self.scope)
        row.addWidget(self.overlay_box)
        row.addWidget(self.highlight_box)
        row.addStretch(1)
        row.addWidget(self.export_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.plot, 3)
        lay.addWidget(self.info)
        lay.addWidget(self.table, 1)  # a quarter of what is left over, up to its maximum
        self.region.sigRegionChanged.connect(self._on_region_changed)
        self.highlight_box.toggled.connect(self._on_highlight_toggled)
        self.scope.currentIndexChanged.connect(
            lambda _i: self.scope_changed.emit(self.scope.currentData()))
        self.overlay_box.toggled.connect(self.overlay_toggled.emit)
        self.export_btn.clicked.connect(self.export_requested.emit)
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def set_valence_axis(self, label: str, element: str) -> None:
        """Element-aware axis labels, e.g. ``("Fe valence", "Fe")``."""
        self.plot.setLabel("bottom", label)
        self.plot.setLabel("left", f"density ({element}-weighted)")

    def set_reference_lines(self, valences: tuple[float, ...],
                            labels: list[str] | None = None) -> None:
        """Dashed lines at the references' valences, labelled (``"Fe²⁺"``; default ``"2+"``)."""
        for line in self.ref_lines:
            self.plot.removeItem(line)
        self.ref_lines = []
        labels = labels if labels is not None else [f"{v:g}+" for v in valences]
        for v, text in zip(valences, labels, strict=True):
            line = pg.InfiniteLine(v, angle=90, pen=pg.mkPen("k", width=1, style=Qt.PenStyle.DashLine),
                                   label=text, labelOpts={"position": 0.92, "color": "k"})
            self.plot.addItem(line)
            self.ref_lines.append(line)

    def set_histograms(self, edges: np.ndarray, hists: dict[str, np.ndarray],
                       stats: dict[str, dict[str, float]], current: str) -> None:
        """Replace the curves: one step curve per sample name; ``current`` drawn thicker."""
        for c in self.curves.values():
            self.plot.removeItem(c)
            self.legend.removeItem(c)
        self.curves = {}
        self.data = {}
        for i, (name, h) in enumerate(hists.items()):
            colour = SAMPLE_COLOURS[i % len(SAMPLE_COLOURS)]
            width = 3 if name == current else 1.5
            c = pg.PlotDataItem(edges, h, stepMode="center", pen=pg.mkPen(colour, width=width),
                                name=name)
            self.plot.addItem(c)
            self.curves[name] = c
            self.data[name] = (edges, h)
        self.table.setRowCount(len(stats))
        for r, (name, s) in enumerate(stats.items()):
            vals = [name, f"{s['mean']:.3f}", f"{s['median']:.3f}", f"{s['std']:.3f}",
                    f"{int(s['n'])}"]
            for c, v in enumerate(vals):
                self.table.setItem(r, c, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()

    def set_message(self, text: str) -> None:
        self.info.setText(text)
        self.info.setToolTip(text)

    def clear_highlight(self) -> None:
        """Switch the highlight off without emitting (another sample is shown)."""
        self.highlight_box.blockSignals(True)
        self.highlight_box.setChecked(False)
        self.highlight_box.blockSignals(False)
        self.region.setVisible(False)

    def highlight_range(self) -> tuple[float, float]:
        lo, hi = self.region.getRegion()
        return float(lo), float(hi)

    def set_highlight_range(self, lo: float, hi: float) -> None:
        """Set the range as a drag would (emits ``range_changed``)."""
        self.highlight_box.setChecked(True)
        self.region.setRegion((lo, hi))

    def _on_region_changed(self) -> None:
        if self.highlight_box.isChecked():
            self.range_changed.emit(*self.highlight_range())

    def _on_highlight_toggled(self, on: bool) -> None:
        self.region.setVisible(on)
        self.highlight_toggled.emit(on)
        if on:
            self.range_changed.emit(*self.highlight_range())
