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

from ptyxanes.stages import FitParams, ReconstructParams, RegisterParams, SegmentParams, TomoParams

logger = logging.getLogger(__name__)

# every default comes from the stage's parameter dataclass (ptyxanes.stages)
_R, _G, _T, _F, _S = (ReconstructParams(), RegisterParams(), TomoParams(), FitParams().options,
                      SegmentParams())

#: (key, title, parameters: (name, label, default, min, max, decimals or None for int, tooltip));
#: a bool default makes a check box (min, max, decimals unused)
STAGES = [
    ("reconstruct", "Reconstruct (ePIE ptychography)",
     [("iterations", "iterations", _R.ptycho.iterations, 1, 100000, None,
       "ePIE iterations of the reference (middle) energy, started from the zone-plate probe"),
      ("warm_iterations", "other energies' iterations", _R.series.warm_iterations or 0, 0, 100000, None,
       "iterations of every other energy, started from the reference energy's probe "
       "(0: as many as the reference)"),
      ("spot_um", "probe spot (µm)", _R.series.spot * 1e6, 0.0, 100.0, 2,
       "zone-plate probe spot diameter at the sample, µm, for the initial probe (2 µm: the "
       "same default as `ptyxanes reconstruct` and the pipeline); 0 = 'from scan files' "
       "uses the optics the CXI files record"),
      ("jobs", "parallel energies", _R.series.jobs, 1, 64, None, "energies reconstructed at the same time")]),
    ("register", "Register energies",
     [("pixel_size_nm", "common pixel (nm)", _G.pixel_size * 1e9, 1.0, 10000.0, 1,
       "every energy is rescaled to this pixel size first (as `ptyxanes align`)"),
      ("reference", "reference energy index", _G.reference, 0, 10000, None,
       "energy the others align to"),
      ("upsample_factor", "sub-pixel factor", _G.upsample_factor, 1, 1000, None,
       "registration precision 1/factor pixel")]),
    ("tomo", "Tomography (SIRT)",
     [("iterations", "iterations", _T.iterations, 1, 100000, None, "SIRT iterations per energy"),
      ("align_rounds", "alignment rounds", _T.max_outer if _T.align else 0, 0, 1000, None,
       "joint reprojection alignment rounds per energy (0: no alignment, centring only)")]),
    ("fit", "XANES fit → valence",
     [("pre_edge_lo", "pre-edge from (eV)", _F.pre_edge[0], 7000.0, 10000.0, 1,
       "start of the pre-edge window of the normalisation"),
      ("pre_edge_hi", "pre-edge to (eV)", _F.pre_edge[1], 7000.0, 10000.0, 1,
       "end of the pre-edge window"),
      ("post_edge_lo", "post-edge from (eV)", _F.post_edge[0], 7000.0, 10000.0, 1,
       "start of the post-edge window"),
      ("post_edge_hi", "post-edge to (eV)", _F.post_edge[1], 7000.0, 10000.0, 1,
       "end of the post-edge window"),
      ("jump_threshold", "edge-jump threshold", 0.0, 0.0, 100.0, 4,
       "edge jump (normalisation step of −ln|T|) above which a pixel belongs to the sample "
       "mask; 'automatic (Otsu)' picks it from the edge-jump histogram")]),
    ("segment", "Segment >Ni³⁺ and crystals",
     [("threshold", "valence threshold", _S.threshold, 0.0, 5.0, 3,
       "valence above which a voxel (pixel) counts as >Ni³⁺ (3.0: the Ni³⁺ reference, the "
       "same default as the Segmentation panel and ptyxanes.segment.threshold_labels)"),
      ("min_island_size", "min island size (voxels)", _S.min_island_size, 1, 10_000_000, None,
       ">Ni³⁺ islands with fewer voxels (pixels in 2D) are removed (1: keep all)"),
      ("split_touching", "split touching crystals", _S.split_touching, None, None, None,
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
        """The form's values (ints from integer boxes)."""
        return {k: (w.isChecked() if isinstance(w, QCheckBox) else w.value())
                for k, w in self.inputs.items()}

    def set_running(self, running: bool) -> None:
        self.run_btn.setEnabled(not running)
        self.cancel_btn.setEnabled(running)
        if running:
            self._t0 = time.monotonic()
            self.bar.setValue(0)
            self.eta.setText("starting…")

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
