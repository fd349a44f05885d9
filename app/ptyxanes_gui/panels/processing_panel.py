"""Processing panel: the pipeline stages with parameters, Run/Cancel, progress and time left."""

from __future__ import annotations

import logging
import time

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

#: (key, title, parameters: (name, label, default, min, max, decimals or None for int, tooltip));
#: a bool default makes a check box (min, max, decimals unused)
STAGES = [
    ("reconstruct", "Reconstruct (ePIE ptychography)",
     [("iterations", "iterations", 100, 1, 100000, None,
       "ePIE iterations of the reference (middle) energy, started from the zone-plate probe"),
      ("warm_iterations", "other energies' iterations", 40, 0, 100000, None,
       "iterations of every other energy, started from the reference energy's probe "
       "(0: as many as the reference)"),
      ("spot_um", "probe spot (µm)", 2.0, 0.0, 100.0, 2,
       "zone-plate probe spot diameter at the sample, µm, for the initial probe (2 µm: the "
       "same default as `ptyxanes reconstruct` and the pipeline); 0 = 'from scan files' "
       "uses the optics the CXI files record"),
      ("jobs", "parallel energies", 2, 1, 64, None, "energies reconstructed at the same time")]),
    ("register", "Register energies",
     [("reference", "reference energy index", 0, 0, 10000, None, "energy the others align to"),
      ("upsample_factor", "sub-pixel factor", 20, 1, 1000, None,
       "registration precision 1/factor pixel")]),
    ("tomo", "Tomography (SIRT)",
     [("iterations", "iterations", 200, 1, 100000, None, "SIRT iterations per energy"),
      ("align_rounds", "alignment rounds", 10, 0, 1000, None,
       "joint reprojection alignment rounds per energy (0: no alignment, centring only)")]),
    ("fit", "XANES fit → valence",
     [("pre_edge_lo", "pre-edge from (eV)", 8270.0, 7000.0, 10000.0, 1,
       "start of the pre-edge window of the normalisation"),
      ("pre_edge_hi", "pre-edge to (eV)", 8300.0, 7000.0, 10000.0, 1,
       "end of the pre-edge window"),
      ("post_edge_lo", "post-edge from (eV)", 8400.0, 7000.0, 10000.0, 1,
       "start of the post-edge window"),
      ("post_edge_hi", "post-edge to (eV)", 8420.0, 7000.0, 10000.0, 1,
       "end of the post-edge window"),
      ("jump_threshold", "edge-jump threshold", 0.0, 0.0, 100.0, 4,
       "edge jump (normalisation step of −ln|T|) above which a pixel belongs to the sample "
       "mask; 'automatic (Otsu)' picks it from the edge-jump histogram")]),
    ("segment", "Segment >Ni³⁺ and crystals",
     [("threshold", "valence threshold", 3.0, 0.0, 5.0, 3,
       "valence above which a voxel (pixel) counts as >Ni³⁺ (3.0: the Ni³⁺ reference, the "
       "same default as the Segmentation panel and ptyxanes.segment.threshold_labels)"),
      ("min_island_size", "min island size (voxels)", 10, 1, 10_000_000, None,
       ">Ni³⁺ islands with fewer voxels (pixels in 2D) are removed (1: keep all)"),
      ("split_touching", "split touching crystals", True, None, None, None,
       "crystals from a watershed of the distance map, split where they touch on a narrow "
       "neck (off: connected components, touching crystals stay one)")]),
]


#: (stage, parameter) -> text shown when a spin box is at its minimum
SPECIAL_VALUES = {("reconstruct", "spot_um"): "from scan files",
                  ("reconstruct", "warm_iterations"): "same as reference",
                  ("tomo", "align_rounds"): "no alignment",
                  ("fit", "jump_threshold"): "automatic (Otsu)"}


class StageBox(QGroupBox):
    """One stage: its parameters, Run / Cancel, a progress bar and the time left."""

    def __init__(self, key: str, title: str, params, parent=None) -> None:
        super().__init__(title, parent)
        self.setObjectName(f"stage_{key}")
        self.key = key
        self.inputs: dict[str, QSpinBox | QDoubleSpinBox | QCheckBox] = {}
        form = QFormLayout()
        for name, label, default, lo, hi, decimals, tip in params:
            if isinstance(default, bool):
                check = QCheckBox()
                check.setChecked(default)
                check.setToolTip(tip)
                form.addRow(label, check)
                self.inputs[name] = check
                continue
            if decimals is None:
                w: QSpinBox | QDoubleSpinBox = QSpinBox()
            else:
                w = QDoubleSpinBox()
                w.setDecimals(decimals)
            w.setRange(lo, hi)
            w.setValue(default)
            if (key, name) in SPECIAL_VALUES:
                w.setSpecialValueText(SPECIAL_VALUES[(key, name)])
            w.setToolTip(tip)
            form.addRow(label, w)
            self.inputs[name] = w
        self.run_btn = QPushButton("Run")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.eta = QLabel("")
        self.eta.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.run_btn)
        row.addWidget(self.cancel_btn)
        row.addWidget(self.bar, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.eta)  # own line: messages are long, the dock narrow
        self._t0 = 0.0

    def params(self) -> dict[str, float | bool]:
        return {k: (w.isChecked() if isinstance(w, QCheckBox) else w.value())
                for k, w in self.inputs.items()}

    def set_running(self, running: bool) -> None:
        self.run_btn.setEnabled(not running and self._available)
        self.cancel_btn.setEnabled(running)
        if running:
            self._t0 = time.monotonic()
            self.bar.setValue(0)
            self.eta.setText("starting…")

    def set_available(self, reason: str | None) -> None:
        self._available = reason is None
        self.run_btn.setEnabled(reason is None)
        self.run_btn.setToolTip(reason or "Run this stage on the current sample")

    def show_progress(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(round(1000 * fraction)))
        elapsed = time.monotonic() - self._t0
        if 0.02 < fraction < 1.0:
            left = elapsed * (1.0 - fraction) / fraction
            self.eta.setText(f"{message} · {left:.0f} s left")
        else:
            self.eta.setText(message)


class ProcessingPanel(QWidget):
    """The pipeline stages.

    Signals
    -------
    run_requested(str, dict) : stage key and its parameters
    cancel_requested(str) : stage key
    """

    run_requested = Signal(str, dict)
    cancel_requested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("processing_panel")
        self.stages: dict[str, StageBox] = {}
        inner = QWidget()
        lay = QVBoxLayout(inner)
        for key, title, params in STAGES:
            box = StageBox(key, title, params)
            box.set_available(None)
            box.run_btn.clicked.connect(lambda _=False, k=key: self._on_run_clicked(k))
            box.cancel_btn.clicked.connect(lambda _=False, k=key: self.cancel_requested.emit(k))
            lay.addWidget(box)
            self.stages[key] = box
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addWidget(scroll)

    def _on_run_clicked(self, key: str) -> None:
        self.run_requested.emit(key, self.stages[key].params())
