"""Processing panel: the pipeline stages with parameters, Run/Cancel, progress and time left."""

from __future__ import annotations

import logging
import time

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt import QFlowLayout

from ptyxanes.stages import FitParams, ReconstructParams, RegisterParams, SegmentParams, TomoParams
from ptyxanes.xanes.batch import METHODS, SHAPES
from ptyxanes.xanes.edges import COMMON_EDGES, edge_spec

logger = logging.getLogger(__name__)


def _narrow_form() -> QFormLayout:
    """A form for a narrow dock: a row whose label and field do not fit side by side puts
    the field under its label, so the form never needs a horizontal scroll bar."""
    form = QFormLayout()
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _button_flow(*buttons: QPushButton) -> QFlowLayout:
    """Buttons side by side while they fit the dock's width, else wrapped onto the
    next line: a row of buttons never needs a horizontal scroll bar."""
    flow = QFlowLayout()
    flow.setContentsMargins(0, 0, 0, 0)
    for b in buttons:
        flow.addWidget(b)
    return flow


def _file_field(shown: QLineEdit, *buttons: QPushButton) -> QVBoxLayout:
    """A chosen file's field: the read-only text (the end of a long path stays
    visible, the whole path is its tooltip) over its buttons."""
    shown.setMinimumWidth(60)
    lay = QVBoxLayout()
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(shown)
    lay.addLayout(_button_flow(*buttons))
    return lay

# every default comes from the stage's parameter dataclass (ptyxanes.stages)
_R, _G, _T, _FP, _S = (ReconstructParams(), RegisterParams(), TomoParams(), FitParams(),
                       SegmentParams())
_F = _FP.options

#: (key, title, parameters: (name, label, default, min, max, decimals or None for int, tooltip));
#: a bool default makes a check box (min, max, decimals unused)
STAGES = [
    ("reconstruct", "Reconstruct (ptychography)",
     [("iterations", "iterations", _R.ptycho.iterations, 1, 100000, None,
       "rPIE iterations of the reference (middle) energy, started from the zone-plate probe"),
      ("warm_iterations", "other energies' iterations", _R.series.warm_iterations or 0, 0, 100000, None,
       "iterations of every other energy, started from the reference energy's probe "
       "(0: as many as the reference)"),
      ("spot_um", "probe spot (µm)", 0.0 if _R.series.probe_from_data else _R.series.spot * 1e6,
       0.0, 100.0, 2,
       "initial probe: a zone plate of this spot diameter at the sample, µm (as `ptyxanes "
       "reconstruct --spot`); 0 = 'from the data': estimated from the patterns, with the optics "
       "the CXI files record as a candidate (the default of `ptyxanes reconstruct` and the "
       "pipeline)"),
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
    ("fit", "XANES fit → valence", None),  # its own form: FitStageBox
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
SPECIAL_VALUES = {("reconstruct", "spot_um"): "from the data",
                  ("reconstruct", "warm_iterations"): "same as reference",
                  ("tomo", "align_rounds"): "no alignment"}


class StageBox(QGroupBox):
    """One stage: its parameters, Run / Cancel, a progress bar and the time left."""

    def __init__(self, key: str, title: str, params, parent=None) -> None:
        super().__init__(title, parent)
        self.setObjectName(f"stage_{key}")
        self.key = key
        self.inputs: dict[str, QWidget] = {}
        form = _narrow_form()
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
        self.form = form
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.eta = QLabel("")
        self.eta.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.run_btn)
        row.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.bar)  # own line: a narrow dock has no room beside the buttons
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


def _eV(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class FitStageBox(StageBox):
    """The fit stage's form: edge, windows and e0 (eV), method, shape, sample mask,
    energy shift (eV), references with their valences and shifts, calibration mode.

    Every default is :class:`ptyxanes.stages.FitParams`'s; a blank window or e0 is
    the edge's own (shown greyed). :meth:`params` gives plain values that
    ``ptyxanes_gui.presenters.stage_jobs.fit_params`` turns into ``FitParams``.

    Signals
    -------
    references_changed() : the reference source, the files or the edge changed
    foil_shift_requested(str, str) : edge and foil file whose energy shift the form
        shows; the presenter answers at once with :meth:`show_foil_shift`
    """

    references_changed = Signal()
    foil_shift_requested = Signal(str, str)

    #: (key, text) of the reference sources
    REFERENCE_SOURCES = (("sample", "the dataset's own (else shipped)"),
                         ("shipped", "shipped (Ni K edge)"),
                         ("files", "loaded files"))

    def __init__(self, key: str = "fit", title: str = "XANES fit → valence", parent=None) -> None:
        super().__init__(key, title, [], parent)
        f = self.form
        # every field under its label: beside the longest label a short field is squeezed
        f.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.reference_files: list[tuple[float, str]] = []

        edge = QComboBox()
        edge.setEditable(True)
        edge.addItems(list(COMMON_EDGES))
        edge.setCurrentText(_FP.edge)
        edge.setToolTip("absorption edge ELEMENT-EDGE (any element: Ni-K, Fe-L3, ...); the "
                        "windows, e0, normalisation and labels follow from it")
        edge.currentTextChanged.connect(self._on_edge_changed)
        f.addRow("edge", edge)
        self.inputs["edge"] = edge
        for name, label, tip in (
                ("pre_edge", "pre-edge (eV)", "pre-edge window of the normalisation, eV"),
                ("window", "fit window (eV)", "energy window of the edge fit, eV"),
                ("post_edge", "post-edge (eV)", "post-edge window of the normalisation, eV")):
            row = QHBoxLayout()
            for side in ("lo", "hi"):
                w = QLineEdit()
                w.setToolTip(f"{tip}; blank: from the edge")
                row.addWidget(w)
                self.inputs[f"{name}_{side}"] = w
            row.addWidget(QLabel("eV"))
            f.addRow(label, row)
        e0 = QLineEdit()
        e0.setToolTip("energy where the edge jump is measured, eV; blank: from the edge")
        f.addRow("e0 (eV)", e0)
        self.inputs["e0"] = e0
        for name, label, items, default, tip in (
                ("method", "edge method", METHODS, _F.method,
                 "auto: the map's shared shape while it explains the pixels, else a linear "
                 "combination of the references or a free fit; lcf: linear combination; "
                 "integral: mean energy of the rise between normalised absorbance 0.15 and "
                 "1.0 (no model, white line not weighted)"),
                ("shape", "edge shape", SHAPES, _F.shape,
                 "shared: one shape per map shifted per pixel; free: every Gaussian per pixel"),
                ("threshold_mode", "sample mask", ("auto", "otsu", "value"),
                 _FP.threshold if isinstance(_FP.threshold, str) else "value",
                 "auto: edge jump significant against the pixel's own pre-edge noise (no "
                 "background needed); otsu: Otsu threshold of the edge-jump histogram; value: "
                 "the edge-jump threshold below"),
                ("calibration", "calibration", ("linear", "piecewise"), _FP.calibration,
                 "edge energy → valence: one line through the references or straight "
                 "segments through them")):
            c = QComboBox()
            c.addItems(list(items))
            c.setCurrentText(str(default))
            c.setToolTip(tip)
            f.addRow(label, c)
            self.inputs[name] = c
        self.inputs["threshold_mode"].currentTextChanged.connect(self._on_threshold_mode)
        value = QDoubleSpinBox()
        value.setDecimals(4)
        value.setRange(0.0, 100.0)
        value.setValue(_FP.threshold if not isinstance(_FP.threshold, str) else 0.0)
        value.setToolTip("edge jump above which a pixel is in the sample, units of the "
                         "absorption (−ln|T|)")
        f.addRow("edge-jump threshold (−ln|T|)", value)
        self.inputs["threshold_value"] = value
        sigma = QDoubleSpinBox()
        sigma.setDecimals(1)
        sigma.setRange(0.5, 100.0)
        sigma.setValue(_F.mask_sigma)
        sigma.setToolTip("significance of the edge jump against the pre-edge noise required "
                         "by the auto mask, σ")
        f.addRow("mask significance (σ)", sigma)
        self.inputs["mask_sigma"] = sigma
        shift = QDoubleSpinBox()
        shift.setDecimals(2)
        shift.setRange(-200.0, 200.0)
        shift.setValue(_FP.energy_shift or 0.0)
        shift.setSuffix(" eV")
        shift.setToolTip("shift added to the stack's energies, eV (a known calibration offset)")
        f.addRow("energy shift of the data", shift)
        self.inputs["energy_shift"] = shift
        # a metal-foil spectrum measured with the stack: its first inflection goes to the
        # tabulated edge, and that shift is added to the stack's energies (CLI --foil)
        foil = QLineEdit()
        foil.setReadOnly(True)
        foil.setPlaceholderText("none")
        foil.setToolTip("metal-foil spectrum measured with the stack, on its energy scale "
                        "(ASCII or XDI); its first inflection is moved to the tabulated edge. "
                        "A non-zero energy shift of the data overrides it.")
        self.inputs["foil"] = foil
        self.foil_btn = QPushButton("Foil file…")
        self.foil_btn.clicked.connect(self._on_choose_foil)
        self.clear_foil_btn = QPushButton("Clear")
        self.clear_foil_btn.clicked.connect(lambda: self.set_foil_file(None))
        f.addRow("foil spectrum of the data",
                 _file_field(foil, self.foil_btn, self.clear_foil_btn))
        self.foil_shift_label = QLabel("")
        self.foil_shift_label.setObjectName("fit_foil_shift")
        self.foil_shift_label.setWordWrap(True)
        f.addRow("", self.foil_shift_label)

        src = QComboBox()
        for k, text in self.REFERENCE_SOURCES:
            src.addItem(text, k)
        src.setToolTip("reference spectra with known valence that calibrate edge energy → "
                       "valence; shipped ones exist for the Ni K edge only")
        src.currentIndexChanged.connect(lambda _i: self.references_changed.emit())
        self.inputs["references_from"] = src
        self.add_ref_btn = QPushButton("Add file…")
        self.add_ref_btn.setToolTip("load a reference spectrum (ASCII eV/keV or XDI) and give "
                                    "its valence")
        self.add_ref_btn.clicked.connect(self._on_add_reference)
        self.clear_ref_btn = QPushButton("Clear")
        self.clear_ref_btn.clicked.connect(lambda: self.set_reference_files([]))
        self.remove_ref_btn = QPushButton("Remove")
        self.remove_ref_btn.setToolTip("remove the selected loaded reference")
        self.remove_ref_btn.clicked.connect(
            lambda: self.remove_reference_file(self.ref_table.currentRow()))
        src.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        src.setMinimumContentsLength(12)  # long source names are elided, never widen the dock
        f.addRow("references", src)
        f.addRow("", _button_flow(self.add_ref_btn, self.remove_ref_btn, self.clear_ref_btn))
        self.ref_table = QTableWidget(0, 3)
        self.ref_table.setObjectName("fit_reference_table")
        self.ref_table.setHorizontalHeaderLabels(["reference", "valence", "shift (eV)"])
        # the columns share the dock's width and long texts are elided (each cell's
        # tooltip holds its whole text): the table never scrolls sideways
        header = self.ref_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.ref_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.ref_table.setWordWrap(False)
        self.ref_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.ref_table.verticalHeader().setVisible(False)
        self.ref_table.setMaximumHeight(110)
        self.ref_table.setToolTip("a loaded reference's valence can be edited here")
        self.ref_table.itemChanged.connect(self._on_reference_item_changed)
        f.addRow(self.ref_table)
        ref_shift = QLineEdit()
        ref_shift.setPlaceholderText("from each file's foil channel")
        ref_shift.setToolTip("shift added to every reference's energies, eV; blank: the "
                             "automatic calibration from a reference's own foil channel")
        f.addRow("reference shift (eV)", ref_shift)
        self.inputs["ref_shift"] = ref_shift
        refcal = QCheckBox()
        refcal.setChecked(_FP.ref_calibration)
        refcal.setToolTip("put each reference on the tabulated energy scale with its foil "
                          "channel (XDI mu_ref) when it has one")
        f.addRow("calibrate reference energies", refcal)
        self.inputs["ref_calibration"] = refcal
        # references from another instrument: resolution and scale from one compound
        # measured with the data (CLI --ref-match)
        self.ref_match: tuple[float, str] | None = None
        match = QLineEdit()
        match.setReadOnly(True)
        match.setPlaceholderText("none")
        match.setToolTip("a spectrum of one reference's compound measured with the data: the "
                         "references are broadened and shifted to superpose on it (energy "
                         "resolution and scale); then prefer the lcf method")
        self.inputs["ref_match"] = match
        self.match_btn = QPushButton("Match on file…")
        self.match_btn.clicked.connect(self._on_choose_match)
        self.clear_match_btn = QPushButton("Clear")
        self.clear_match_btn.clicked.connect(lambda: self.set_ref_match(None))
        f.addRow("match references on", _file_field(match, self.match_btn, self.clear_match_btn))
        self._on_edge_changed(_FP.edge)
        self._on_threshold_mode(self.inputs["threshold_mode"].currentText())

    # ---------------------------------------------------------------- form state
    def _on_edge_changed(self, text: str) -> None:
        try:
            spec = edge_spec(text.strip())
        except Exception:  # an edge still being typed
            return
        for name in ("pre_edge", "window", "post_edge"):
            lo, hi = getattr(spec, name)
            self.inputs[f"{name}_lo"].setPlaceholderText(_eV(lo))
            self.inputs[f"{name}_hi"].setPlaceholderText(_eV(hi))
        self.inputs["e0"].setPlaceholderText(_eV(spec.e0))
        if self.inputs["foil"].text():  # the foil's target is the new edge's energy
            self._request_foil_shift()
        self.references_changed.emit()

    def _on_threshold_mode(self, mode: str) -> None:
        self.inputs["threshold_value"].setEnabled(mode == "value")
        self.inputs["mask_sigma"].setEnabled(mode == "auto")

    def _on_choose_foil(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Foil spectrum of the data")
        if path:
            self.set_foil_file(path)

    def set_foil_file(self, path: str | None) -> None:
        """Use (or, with None, drop) a foil spectrum for the data's energy scale; the
        shift it gives is shown under it (or why it gives none)."""
        self.inputs["foil"].setText(path or "")
        self.inputs["foil"].setToolTip(path or "")
        self._request_foil_shift()

    def _request_foil_shift(self) -> None:
        self.foil_shift_label.setText("")
        path = self.inputs["foil"].text().strip()
        if path:
            self.foil_shift_requested.emit(self.inputs["edge"].currentText().strip(), path)

    def show_foil_shift(self, text: str) -> None:
        """Show the data's energy shift from the chosen foil (or why it gives none)."""
        self.foil_shift_label.setText(text)

    def _on_choose_match(self) -> None:
        from qtpy.QtWidgets import QFileDialog, QInputDialog

        path, _ = QFileDialog.getOpenFileName(self, "Spectrum of a reference compound, "
                                                    "measured with the data")
        if not path:
            return
        valence, ok = QInputDialog.getDouble(self, "Reference valence",
                                             "valence of the reference of this compound:", 2.0,
                                             0.0, 8.0, 2)
        if ok:
            self.set_ref_match(valence, path)

    def set_ref_match(self, valence: float | None, path: str | None = None) -> None:
        """Match the references on a spectrum of the valence-``valence`` reference's
        compound measured with the data (None: no matching); the reference table shows
        the resulting shifts."""
        self.ref_match = None if valence is None or not path else (float(valence), str(path))
        text = "" if self.ref_match is None else \
            f"{self.ref_match[0]:g}: {self.ref_match[1].rsplit('/', 1)[-1]}"
        self.inputs["ref_match"].setText(text)
        self.inputs["ref_match"].setToolTip(path or "")
        self.references_changed.emit()

    def _on_add_reference(self) -> None:
        from qtpy.QtWidgets import QFileDialog, QInputDialog

        path, _ = QFileDialog.getOpenFileName(self, "Reference spectrum")
        if not path:
            return
        valence, ok = QInputDialog.getDouble(self, "Reference valence",
                                             f"valence of {path.rsplit('/', 1)[-1]}:", 2.0,
                                             0.0, 8.0, 2)
        if ok:
            self.add_reference_file(valence, path)

    def add_reference_file(self, valence: float, path: str) -> None:
        """Add a loaded reference (valence, file) and switch to loaded files."""
        self.set_reference_files([*self.reference_files, (float(valence), str(path))])

    def set_reference_files(self, files: list[tuple[float, str]]) -> None:
        """Replace the loaded references; a non-empty list selects them."""
        self.reference_files = [(float(v), str(p)) for v, p in files]
        src = self.inputs["references_from"]
        if self.reference_files:
            src.setCurrentIndex(src.findData("files"))
        self.references_changed.emit()

    def remove_reference_file(self, row: int) -> None:
        """Remove the loaded reference of table row ``row`` (no-op for another source)."""
        if (self.inputs["references_from"].currentData() == "files"
                and 0 <= row < len(self.reference_files)):
            self.set_reference_files(self.reference_files[:row] + self.reference_files[row + 1:])

    def set_reference_valence(self, row: int, valence: float) -> None:
        """Give the loaded reference of table row ``row`` another valence."""
        files = list(self.reference_files)
        files[row] = (float(valence), files[row][1])
        self.set_reference_files(files)

    def _on_reference_item_changed(self, item: QTableWidgetItem) -> None:
        row, col, text = item.row(), item.column(), item.text()
        if col != 1 or not 0 <= row < len(self.reference_files):
            return
        try:
            valence = float(text.split()[0])
        except (ValueError, IndexError):
            valence = None
        # after this signal: the table's rows (this item too) are rebuilt
        QTimer.singleShot(0, lambda: self.references_changed.emit() if valence is None
                          else self.set_reference_valence(row, valence))

    def set_reference_rows(self, rows: list[tuple[str, str, str]]) -> None:
        """Show the references that a fit uses: (name, valence, energy shift) per row.

        The valence of a loaded reference (source "loaded files") is editable.
        """
        editable = self.inputs["references_from"].currentData() == "files"
        self.ref_table.blockSignals(True)
        try:
            self.ref_table.setRowCount(len(rows))
            for i, row in enumerate(rows):
                for j, text in enumerate(row):
                    item = QTableWidgetItem(text)
                    item.setToolTip(text)
                    if not (editable and j == 1 and i < len(self.reference_files)):
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.ref_table.setItem(i, j, item)
        finally:
            self.ref_table.blockSignals(False)

    def reference_rows(self) -> list[tuple[str, ...]]:
        """The rows of the reference table, as shown."""
        t = self.ref_table
        return [tuple(t.item(i, j).text() if t.item(i, j) else "" for j in range(t.columnCount()))
                for i in range(t.rowCount())]

    def params(self) -> dict:  # type: ignore[override]
        """The form's values: text of blank-able fields (None when blank), choices, numbers."""
        def text(name: str) -> str | None:
            t = self.inputs[name].text().strip()
            return t or None

        mode = self.inputs["threshold_mode"].currentText()
        shift = float(self.inputs["energy_shift"].value())
        out: dict = {"edge": self.inputs["edge"].currentText().strip()}
        for name in ("pre_edge", "window", "post_edge"):
            out[name] = (text(f"{name}_lo"), text(f"{name}_hi"))
        out.update({
            "e0": text("e0"),
            "method": self.inputs["method"].currentText(),
            "shape": self.inputs["shape"].currentText(),
            "threshold": (float(self.inputs["threshold_value"].value()) if mode == "value"
                          else mode),
            "mask_sigma": float(self.inputs["mask_sigma"].value()),
            "energy_shift": shift if shift != 0.0 else None,
            "foil": self.inputs["foil"].text().strip() or None,
            "references_from": self.inputs["references_from"].currentData(),
            "reference_files": tuple(self.reference_files),
            "ref_shift": text("ref_shift"),
            "ref_calibration": self.inputs["ref_calibration"].isChecked(),
            "ref_match": self.ref_match,
            "calibration": self.inputs["calibration"].currentText(),
        })
        return out


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
            box = FitStageBox(key, title) if key == "fit" else StageBox(key, title, params)
            box.run_btn.clicked.connect(lambda _=False, k=key: self._on_run_clicked(k))
            box.cancel_btn.clicked.connect(lambda _=False, k=key: self.cancel_requested.emit(k))
            lay.addWidget(box)
            self.stages[key] = box
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        self.scroll = scroll
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addWidget(scroll)

    def show_stage(self, key: str) -> None:
        """Scroll the panel so that stage ``key``'s form starts at the top."""
        box = self.stages[key]
        bar = self.scroll.verticalScrollBar()
        bar.setValue(min(bar.maximum(), box.y()))

    def _on_run_clicked(self, key: str) -> None:
        self.run_requested.emit(key, self.stages[key].params())
