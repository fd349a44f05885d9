"""Registration QA: per-energy shifts, difference against the reference, manual nudge with undo."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)


class RegistrationPanel(QWidget):
    """Shows a sample's registration result and lets the user nudge shifts.

    Signals
    -------
    shifts_edited() : a nudge or undo changed the shifts
    apply_requested(object) : apply these (E, 2) shifts to the stack
    undo_apply_requested()
    difference_needed(int, int, object) : energy index, reference index and the hand
        edit's shift (row, col) px; the presenter answers with :meth:`show_difference`
    """

    shifts_edited = Signal()
    apply_requested = Signal(object)
    undo_apply_requested = Signal()
    difference_needed = Signal(int, int, object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("registration_panel")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "energy", units="eV")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.setLabel("left", "shift (px)")
        self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.row_curve = self.plot.plot(pen="b", symbol="o", symbolSize=5, name="row")
        self.col_curve = self.plot.plot(pen="r", symbol="s", symbolSize=5, name="col")
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("k", style=pg.QtCore.Qt.PenStyle.DotLine))
        self.plot.addItem(self.cursor)
        self.diff = pg.ImageView()
        self.diff.ui.roiBtn.hide()
        self.diff.ui.menuBtn.hide()
        self.diff.ui.histogram.hide()
        self.energy = QSpinBox()
        self.energy.setToolTip("energy index to inspect / nudge")
        self.step = QDoubleSpinBox()
        self.step.setRange(0.05, 10)
        self.step.setValue(0.5)
        self.step.setSuffix(" px")
        self.info = QLabel("Run Process ▸ Register energies to see the shifts.")
        grid = QGridLayout()
        self.nudge_btns = {}
        for (label, d, r, c) in (("↑", (-1, 0), 0, 1), ("↓", (1, 0), 2, 1), ("←", (0, -1), 1, 0),
                                 ("→", (0, 1), 1, 2)):
            b = QPushButton(label)
            b.setFixedWidth(32)
            b.clicked.connect(lambda _=False, d=d: self.nudge(*d))
            grid.addWidget(b, r, c)
            self.nudge_btns[label] = b
        self.undo_btn = QPushButton("Undo")
        self.apply_btn = QPushButton("Apply shifts")
        self.apply_btn.setToolTip("Register again with these shifts (as `ptyxanes align --shifts-from`); Edit ▸ Undo reverts")
        self.unapply_btn = QPushButton("Revert stack")
        ctl = QHBoxLayout()
        ctl.addWidget(QLabel("energy"))
        ctl.addWidget(self.energy)
        ctl.addWidget(QLabel("step"))
        ctl.addWidget(self.step)
        ctl.addLayout(grid)
        ctl.addWidget(self.undo_btn)
        ctl.addStretch(1)
        ctl.addWidget(self.apply_btn)
        ctl.addWidget(self.unapply_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.diff, 1)
        lay.addLayout(ctl)
        lay.addWidget(self.info)
        self.energy.valueChanged.connect(lambda _i: self._redraw())
        self.undo_btn.clicked.connect(self.undo)
        self.apply_btn.clicked.connect(lambda: self.apply_requested.emit(self.shifts.copy()))
        self.unapply_btn.clicked.connect(self.undo_apply_requested.emit)
        self.sample = None
        self.shifts = np.zeros((0, 2))
        self._undo: list[np.ndarray] = []
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in [*self.nudge_btns.values(), self.undo_btn, self.apply_btn, self.energy]:
            w.setEnabled(on)

    def set_sample(self, sample) -> None:
        self.sample = sample
        reg = getattr(sample, "registration", None)
        if not reg or sample.stack is None:
            self.shifts = np.zeros((0, 2))
            self.row_curve.setData([], [])
            self.col_curve.setData([], [])
            self.diff.clear()
            self.info.setText("Run Process ▸ Register energies to see the shifts.")
            self._set_enabled(False)
            return
        self.shifts = np.array(sample.shifts, float)
        self._registered = self.shifts.copy()  # what the shown (registered) stack has applied
        ref = sample.parameters.get("align", {}).get("reference", 0)
        self._reference = int(ref) if ref is not None else 0
        self._undo.clear()
        self.energy.setRange(0, len(self.shifts) - 1)
        self._set_enabled(True)
        self._redraw()

    def nudge(self, drow: float, dcol: float) -> None:
        if not len(self.shifts):
            return
        self._undo.append(self.shifts.copy())
        e = self.energy.value()
        self.shifts[e] += np.array([drow, dcol]) * self.step.value()
        self._redraw()
        self.shifts_edited.emit()

    def undo(self) -> None:
        if self._undo:
            self.shifts = self._undo.pop()
            self._redraw()
            self.shifts_edited.emit()

    def show_difference(self, diff: np.ndarray) -> None:
        """Draw an energy's image minus the reference's."""
        self.diff.setImage(diff, autoLevels=True)

    def _redraw(self) -> None:
        if self.sample is None or not len(self.shifts):
            return
        energy = self.sample.energy
        self.row_curve.setData(energy, self.shifts[:, 0])
        self.col_curve.setData(energy, self.shifts[:, 1])
        e = self.energy.value()
        self.cursor.setValue(energy[e])
        # the shown stack is registered already: draw the effect of the hand edit only
        self.difference_needed.emit(e, self._reference, self.shifts[e] - self._registered[e])
        residual = np.asarray(self.sample.registration.get("residual", []))
        res = residual[e] if len(residual) > e else np.nan
        self.info.setText(f"energy {energy[e]:.1f} eV: shift ({self.shifts[e, 0]:+.2f}, "
                          f"{self.shifts[e, 1]:+.2f}) px, residual {res:.3f}; difference "
                          f"shown against energy {self._reference}")
