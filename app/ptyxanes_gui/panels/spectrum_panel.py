"""Spectrum panel: the XANES of the clicked pixel or ROI, its fit and the edge construction."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QSize, Qt, Signal
from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

logger = logging.getLogger(__name__)

PIN_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
COMPONENT_COLOURS = ["#8fbc8f", "#daa520", "#bc8f8f"]


class _Plots(pg.GraphicsLayoutWidget):
    """The two plots, with a modest preferred size.

    The panel's word-wrapped result line gives it a height-for-width, and a dock's
    scroll area then sizes the panel to its preferred height: pyqtgraph's default
    (about 460 px) would make a laptop's short spectrum dock scroll. The plots still
    stretch into all the room the dock has.
    """

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(320, 180)


class SpectrumPanel(QWidget):
    """Raw −ln|T| (top) and normalised μ with fit, components, half-height edge (bottom).

    Plot items are created once and updated with ``setData`` so a click redraws
    in a few milliseconds.

    Signals
    -------
    export_requested() : the user asked to save the curves as CSV
    """

    export_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("spectrum_panel")
        self.plots = _Plots()
        self.plots.setBackground("w")
        self.raw_plot = self.plots.addPlot(row=0, col=0)
        self.raw_plot.setLabel("left", "−ln|T|")
        self.raw_plot.getAxis("left").enableAutoSIPrefix(False)
        self.raw_plot.showGrid(x=True, y=True, alpha=0.2)
        self.norm_plot = self.plots.addPlot(row=1, col=0)
        self.norm_plot.setLabel("left", "normalised μ")
        self.norm_plot.setLabel("bottom", "energy", units="eV")
        self.norm_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.norm_plot.showGrid(x=True, y=True, alpha=0.2)
        self.raw_plot.setXLink(self.norm_plot)
        self.plots.ci.layout.setRowStretchFactor(0, 1)
        self.plots.ci.layout.setRowStretchFactor(1, 3)
        # top left, two columns: the pre-edge region there is flat and low
        self.legend = self.norm_plot.addLegend(offset=(10, 5), labelTextSize="7pt",
                                             brush=pg.mkBrush(255, 255, 255, 170),
                                             colCount=2, verSpacing=-6)

        self.raw_curve = self.raw_plot.plot(pen=None, symbol="o", symbolSize=4,
                                            symbolBrush="k", name="−ln|T|")
        self.roi_band_hi = pg.PlotDataItem(pen=pg.mkPen(None))
        self.roi_band_lo = pg.PlotDataItem(pen=pg.mkPen(None))
        self.roi_band = pg.FillBetweenItem(self.roi_band_lo, self.roi_band_hi,
                                           brush=pg.mkBrush(100, 100, 255, 60))
        self.norm_plot.addItem(self.roi_band)
        self.ref_curves: list[pg.PlotDataItem] = []
        self.norm_curve = self.norm_plot.plot(pen=None, symbol="o", symbolSize=5,
                                              symbolBrush="k", name="data")
        self.fit_curve = self.norm_plot.plot(pen=pg.mkPen("#d62728", width=2), name="fit")
        self.component_curves = [
            self.norm_plot.plot(pen=pg.mkPen(c, width=1, style=Qt.PenStyle.DashLine),
                                name="Gaussians" if i == 0 else None)
            for i, c in enumerate(COMPONENT_COLOURS)
        ]
        self.half_line = pg.PlotDataItem(pen=pg.mkPen("#555", width=1, style=Qt.PenStyle.DotLine))
        self.edge_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1,
                                                                style=Qt.PenStyle.DashLine))
        self.norm_plot.addItem(self.half_line)
        self.norm_plot.addItem(self.edge_line)
        self.edge_line.setVisible(False)
        self.pins: list[pg.PlotDataItem] = []

        self.title = QLabel("Click a pixel in the image (or draw an ROI) to see its XANES")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result = QLabel("")
        self.result.setStyleSheet("font-weight: bold")
        self.refs_box = QCheckBox("references")
        self.refs_box.setChecked(True)
        self.pin_btn = QPushButton("Pin")
        self.pin_btn.setToolTip("Keep the current curve to compare with the next ones")
        self.clear_pins_btn = QPushButton("Clear pins")
        self.export_btn = QPushButton("CSV…")
        self.export_btn.setToolTip("Save the curves shown as CSV")
        self.result.setWordWrap(True)
        row = QHBoxLayout()
        row.addStretch(1)
        for w in (self.refs_box, self.pin_btn, self.clear_pins_btn, self.export_btn):
            row.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.title)
        lay.addWidget(self.plots, 1)
        lay.addWidget(self.result)
        lay.addLayout(row)
        self.refs_box.toggled.connect(lambda on: [c.setVisible(on) for c in self.ref_curves])
        self.pin_btn.clicked.connect(self.pin_current)
        self.clear_pins_btn.clicked.connect(self.clear_pins)
        self.export_btn.clicked.connect(self.export_requested.emit)
        self.current_label = ""
        self._x_range: tuple[float, float] | None = None
        self.current: dict[str, np.ndarray] = {}

    def set_references(self, refs: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        for c in self.ref_curves:
            self.norm_plot.removeItem(c)
        self.ref_curves = []
        greys = ["#7f7f7f", "#bcbd22", "#17becf", "#aaaaaa"]
        for i, (name, (e, mu)) in enumerate(refs.items()):
            c = pg.PlotDataItem(e, mu, pen=pg.mkPen(greys[i % len(greys)], width=1.5), name=name)
            c.setZValue(-5)
            c.setVisible(self.refs_box.isChecked())
            self.norm_plot.addItem(c)
            self.ref_curves.append(c)

    def show_fit(self, label: str, fit, spread: np.ndarray | None = None) -> None:
        """Draw a :class:`ptyxanes_gui.presenters.spectra.InspectedSpectrum`."""
        self.current_label = label
        self.title.setText(label)
        e = fit.energy
        # every new spectrum starts from the full view: an earlier pan or zoom does not stick
        self._x_range = (float(e[0]), float(e[-1]))
        self.norm_plot.setXRange(*self._x_range, padding=0.02)
        self.raw_plot.enableAutoRange(axis="y")
        self.norm_plot.enableAutoRange(axis="y")
        self.raw_curve.setData(e, fit.raw)
        self.raw_plot.setLabel("left", getattr(fit, "raw_label", "−ln|T|"))
        self.current = {"energy": e, "raw": fit.raw}
        if fit.normalized is not None:
            self.norm_curve.setData(e, fit.normalized)
            self.current["normalized"] = fit.normalized
            if spread is not None:
                self.roi_band_lo.setData(e, fit.normalized - spread)
                self.roi_band_hi.setData(e, fit.normalized + spread)
                self.current["spread"] = spread
                self.roi_band.setVisible(True)
            else:
                self.roi_band.setVisible(False)
        else:
            self.norm_curve.setData([], [])
            self.roi_band.setVisible(False)
        if fit.fit_curve is not None:
            self.fit_curve.setData(fit.fit_energy, fit.fit_curve)
            self.current["fit"] = np.interp(e, fit.fit_energy, fit.fit_curve)
        else:
            self.fit_curve.setData([], [])
        for i, c in enumerate(self.component_curves):
            if i < len(fit.components) and fit.fit_energy is not None:
                c.setData(fit.fit_energy, fit.components[i])
            else:
                c.setData([], [])
        if fit.edge_energy is not None:
            self.edge_line.setValue(fit.edge_energy)
            self.edge_line.setVisible(True)
            if fit.half_height is not None:
                x0 = e[0] if fit.peak_energy is None else min(e[0], fit.peak_energy)
                x1 = fit.peak_energy if fit.peak_energy is not None else fit.edge_energy
                self.half_line.setData([x0, x1], [fit.half_height, fit.half_height])
            else:
                self.half_line.setData([], [])
        else:
            self.edge_line.setVisible(False)
            self.half_line.setData([], [])
        parts = []
        if fit.valence is not None:
            sigma = f" ± {fit.valence_sigma:.2f}" if fit.valence_sigma is not None else ""
            parts.append(f"valence {fit.valence:.2f}{sigma}")
        if fit.edge_energy is not None:
            parts.append(f"edge {fit.edge_energy:.2f} eV")
        if fit.message:
            parts.append(fit.message)
        self.result.setText("   ".join(parts))

    def pin_current(self) -> None:
        y = self.current.get("normalized", self.current.get("raw"))
        if y is None:
            return
        colour = PIN_COLOURS[len(self.pins) % len(PIN_COLOURS)]
        target = self.norm_plot if "normalized" in self.current else self.raw_plot
        item = target.plot(self.current["energy"], y, pen=pg.mkPen(colour, width=1.5),
                           name=f"pinned: {self.current_label}")
        item.setZValue(-1)
        item.pinned_target = target
        self.pins.append(item)

    def clear_pins(self) -> None:
        for p in self.pins:
            p.pinned_target.removeItem(p)
            self.legend.removeItem(p)
        self.pins.clear()

    def curves_table(self) -> tuple[list[str], np.ndarray]:
        """Columns (names, values) of the current curves for CSV export."""
        names = list(self.current)
        return names, np.column_stack([self.current[n] for n in names]) if names else np.empty((0, 0))
