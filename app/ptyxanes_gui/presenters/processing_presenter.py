"""Runs pipeline stages in background workers and hands results back to the window."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)
from superqt.utils import create_worker

from ptyxanes.progress import Cancelled, Control, Progress
from ptyxanes_gui.document import Document
from ptyxanes_gui.panels.processing_panel import ProcessingPanel
from ptyxanes_gui.presenters import stage_jobs

logger = logging.getLogger(__name__)

#: stage -> job (a generator function of the sample and the form's values)
JOBS: dict[str, Callable[..., Any]] = {
    "reconstruct": stage_jobs.reconstruct_job,
    "register": stage_jobs.register_job,
    "tomo": stage_jobs.tomo_job,
    "fit": stage_jobs.fit_job,
    "segment": stage_jobs.segment_job,
}

#: shortest time between two live previews, s (at most ~5 redraws per second)
PREVIEW_INTERVAL_S = 0.2


def input_value(widget: QWidget) -> Any:
    """The plain value of one form input (bool, number, text, or a combo's item data)."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return widget.value()
    if isinstance(widget, QComboBox):
        data = widget.currentData()
        return data if data is not None else widget.currentText()
    if isinstance(widget, QLineEdit):
        return widget.text()
    raise TypeError(f"no value for a {type(widget).__name__}")


def set_input_value(widget: QWidget, value: Any) -> None:
    """Show ``value`` (from :func:`input_value`) in a form input."""
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        widget.setValue(value)
    elif isinstance(widget, QComboBox):
        i = widget.findData(value)
        if i >= 0:
            widget.setCurrentIndex(i)
        else:
            widget.setCurrentText(str(value))
    elif isinstance(widget, QLineEdit):
        widget.setText(str(value))


def form_values(box: Any) -> dict[str, Any]:
    """Every choice of a stage form as plain data (the Fit form's loaded references too)."""
    out = {name: input_value(w) for name, w in box.inputs.items()}
    if hasattr(box, "reference_files"):
        out["reference_files"] = tuple(tuple(r) for r in box.reference_files)
    if hasattr(box, "ref_match"):  # (valence, spectrum file); the field shows only its name
        out["ref_match_spectrum"] = tuple(box.ref_match) if box.ref_match else ()
    return out


def input_labels(box: Any) -> dict[str, str]:
    """The form's row label of each input (``"pre-edge (eV) low end"`` for a window's ends)."""
    names = {id(w): n for n, w in box.inputs.items()}
    form: QFormLayout = box.form
    out: dict[str, str] = {}
    for row in range(form.rowCount()):
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        if label is None or field is None or label.widget() is None:
            continue
        text = label.widget().text()
        lay = field.layout()
        widgets = [field.widget()] if lay is None else [lay.itemAt(i).widget()
                                                        for i in range(lay.count())]
        for w in widgets:
            if w is not None and id(w) in names:
                out[names[id(w)]] = text
    for name in list(out):
        for end, word in (("_lo", "low end"), ("_hi", "high end")):
            if name.endswith(end):
                out[name] = f"{out[name]} {word}"
    return out


_SOURCES = {"sample": "use the dataset's own references", "shipped": "use the shipped references",
            "files": "use the loaded reference files"}


def _ref_name(ref: tuple[float, str]) -> str:
    return f"{str(ref[1]).replace(chr(92), '/').rsplit('/', 1)[-1]} ({ref[0]:g})"


def describe_change(stage: str, labels: dict[str, str], old: dict[str, Any],
                    new: dict[str, Any]) -> str:
    """What a change of a stage form did, for Edit ▸ Undo (``"set fit edge to Fe-K"``)."""
    if "reference_files" in new:
        before, after = tuple(old.get("reference_files", ())), tuple(new["reference_files"])
        if not after:
            return "remove the loaded references"
        if len(after) == len(before) + 1 and after[:-1] == before:
            return f"add reference {_ref_name(after[-1])}"
        if len(after) == len(before) - 1 and all(r in before for r in after):
            gone = next(r for r in before if r not in after)
            return f"remove reference {_ref_name(gone)}"
        if [r[1] for r in after] == [r[1] for r in before]:
            i = next(i for i, (a, b) in enumerate(zip(after, before, strict=True)) if a != b)
            return f"set the valence of {_ref_name(before[i]).rsplit(' (', 1)[0]} to {after[i][0]:g}"
        return "change the loaded references"
    if "references_from" in new:
        return _SOURCES.get(str(new["references_from"]), "choose the references")
    name = sorted(new)[0]
    label, value = labels.get(name, name.replace("_", " ")), new[name]
    if isinstance(value, bool):
        return f"turn {'on' if value else 'off'} {stage} {label}"
    if value == "":
        return f"clear {stage} {label}"
    if isinstance(value, float):
        value = f"{value:g}"
    return f"set {stage} {label} to {value}"


class ProcessingPresenter(QObject):
    """Own one worker per stage; results go out through signals, errors to the user.

    The stage forms are views of the document's :attr:`Document.parameters`: a
    user's change of a form (a parameter, a reference choice) is an undoable edit
    of the document, and an undo or redo puts the form back.

    Signals
    -------
    stage_finished(str, object, object) : stage, sample, result (only on success; the
        result is already stored on the sample by :func:`stage_jobs.apply_stage_result`)
    stage_failed(str, str) : stage, readable message (not for a cancel)
    stage_cancelled(str)
    preview(object) : an intermediate result of a running stage (the engine's
        ``Progress.preview``), at most one per :data:`PREVIEW_INTERVAL_S`
    """

    stage_finished = Signal(str, object, object)
    stage_failed = Signal(str, str)
    stage_cancelled = Signal(str)
    preview = Signal(object)

    def __init__(self, panel: ProcessingPanel, current_sample: Callable[[], Any],
                 document: Document | None = None) -> None:
        super().__init__(panel)
        self._panel = panel
        self.document = document
        self._current_sample = current_sample
        self._controls: dict[str, Control] = {}
        self._cancel_t0: dict[str, float] = {}
        self.workers: dict[str, Any] = {}
        #: stage -> job; another presenter may replace one (e.g. the compute presenter's Dask jobs)
        self.jobs: dict[str, Callable[..., Any]] = dict(JOBS)
        #: stage -> the sample it is running on
        self.running_samples: dict[str, Any] = {}
        self.previews_emitted = 0
        self.last_cancel_latency_s: float | None = None
        self._last_preview_t = 0.0
        self._pending_preview: Any = None
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.timeout.connect(self._emit_pending_preview)
        self._fit_queue: list[Any] = []  # Fit XANES of all samples: the samples still to fit
        panel.run_requested.connect(self._on_run_requested)
        panel.cancel_requested.connect(self._on_cancel_requested)
        self.stage_finished.connect(self._on_stage_finished)
        self.stage_cancelled.connect(self._on_stage_cancelled)
        fit_box = panel.stages.get("fit")
        if fit_box is not None and hasattr(fit_box, "references_changed"):
            fit_box.references_changed.connect(self.refresh_fit_references)
            fit_box.foil_shift_requested.connect(self._on_foil_shift_requested)
            self.refresh_fit_references()
        self._applying = False  # the presenter itself is changing a form
        self._labels: dict[str, dict[str, str]] = {}
        if document is not None:
            self._follow_forms(document)

    # ---------------------------------------------------------------- forms <-> document
    def _follow_forms(self, document: Document) -> None:
        """Put every form's choices in the document and keep both in step."""
        for stage, box in self._panel.stages.items():
            self._labels[stage] = input_labels(box)
            document.set_parameters(stage, form_values(box))
            for name, w in box.inputs.items():
                # typing and arrow clicks in one field merge into one undo step
                merge = isinstance(w, (QSpinBox, QDoubleSpinBox, QLineEdit)) or (
                    isinstance(w, QComboBox) and w.isEditable())
                def edited(*_a: Any, s: str = stage,
                           k: Any = (stage, name) if merge else None) -> None:
                    self._on_form_edited(s, k)

                if isinstance(w, QCheckBox):
                    w.toggled.connect(edited)
                elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                    w.valueChanged.connect(edited)
                elif isinstance(w, QComboBox):
                    w.currentTextChanged.connect(edited)
                elif isinstance(w, QLineEdit):
                    w.textChanged.connect(edited)
            if hasattr(box, "references_changed"):
                # the reference list (an edge typed in the form is its own field's edit)
                box.references_changed.connect(lambda s=stage: self._on_form_edited(
                    s, only=("reference_files", "references_from")))
        document.parameters_changed.connect(self._show_parameters)

    def _on_form_edited(self, stage: str, merge_key: Any = None,
                        only: tuple[str, ...] | None = None) -> None:
        """A user changed a form: an undoable edit of the document's parameters."""
        doc = self.document
        if self._applying or doc is None:
            return
        old = doc.parameters.get(stage, {})
        values = form_values(self._panel.stages[stage])
        new = {k: v for k, v in values.items() if (k not in old or old[k] != v)
               and (only is None or k in only)}
        if new:
            doc.set_parameters(stage, new, describe_change(stage, self._labels[stage], old, new),
                               merge_key=merge_key)

    def _show_parameters(self, stage: str) -> None:
        """The document's parameters changed (an undo, a redo): the form follows."""
        box = self._panel.stages.get(stage)
        values = self.document.parameters.get(stage, {}) if self.document else {}
        if box is None or form_values(box) == {**form_values(box), **values}:
            return
        self._applying = True
        try:
            files = values.get("reference_files")
            if files is not None and tuple(box.reference_files) != tuple(files):
                box.set_reference_files([tuple(r) for r in files])  # may switch the source
            for name, w in box.inputs.items():
                if name in values and input_value(w) != values[name]:
                    set_input_value(w, values[name])
            match = values.get("ref_match_spectrum")
            if match is not None and tuple(box.ref_match or ()) != tuple(match):
                box.set_ref_match(*(match if match else (None, None)))
            if "foil" in values and hasattr(box, "set_foil_file"):
                box.set_foil_file(str(values["foil"] or "") or None)  # its shift shown again
        finally:
            self._applying = False
        if stage == "fit":
            self.refresh_fit_references()

    def _on_foil_shift_requested(self, edge: str, path: str) -> None:
        """The Fit form's foil: the data's energy shift it gives, shown in the form."""
        from ptyxanes.stages import FitParams, stack_energy_shift

        try:
            text = stack_energy_shift(FitParams.for_edge(edge, foil=path)).describe()
        except Exception as exc:  # shown in the form, not raised
            text = f"no shift from this foil: {exc}"
        self._panel.stages["fit"].show_foil_shift(text)

    def refresh_fit_references(self) -> None:
        """Show in the Fit form the references a fit would use, with valences and shifts."""
        box = self._panel.stages["fit"]
        try:
            sample = self._current_sample()
        except Exception:  # no window yet
            sample = None
        box.set_reference_rows(stage_jobs.reference_rows(sample, box.params()))

    def sample_selected(self, sample: Any) -> None:
        """Follow a newly selected sample: the Fit form's edge and its reference table.

        The edge changes only when the sample's energies do not cover the one chosen
        (an Fe L-edge STXM stack after a Ni K-edge sample); a covered choice stays.
        """
        box = self._panel.stages.get("fit")
        if box is None:
            return
        stack = getattr(sample, "stack", None)
        if stack is not None and np.size(stack.energy):
            from ptyxanes.xanes.edges import edge_for_energies, edge_spec

            combo = box.inputs["edge"]
            e = np.asarray(stack.energy, float)
            try:
                chosen = edge_spec(combo.currentText().strip() or "Ni-K").energy
            except ValueError:
                chosen = float("nan")
            if not e.min() <= chosen <= e.max():
                self._applying = True  # the application's choice, not an undoable edit
                try:
                    combo.setCurrentText(edge_for_energies(e).name)
                finally:
                    self._applying = False
                if self.document is not None:
                    self.document.set_parameters("fit", form_values(box))
        self.refresh_fit_references()

    def run_stage(self, stage: str) -> None:
        """Run ``stage`` on the current sample with the form's values (menu and toolbar)."""
        self._panel.run_requested.emit(stage, self._panel.stages[stage].params())

    def fit_all(self, samples: list[Any]) -> None:
        """Fit every sample without a valence map, one after the other."""
        self._fit_queue = [s for s in samples if "valence" not in s.maps
                           and stage_jobs.stage_input_problem("fit", s) is None]
        self._fit_next()

    def _fit_next(self) -> None:
        if self._fit_queue and not self.is_running("fit"):
            sample = self._fit_queue.pop(0)
            self.run_on("fit", sample, self._panel.stages["fit"].params())

    def _on_stage_finished(self, stage: str, sample: Any, result: Any) -> None:
        if stage == "fit":
            QTimer.singleShot(0, self._fit_next)
            if sample.volume_maps:
                logger.info("fit: valence volume %s of %s",
                            "×".join(map(str, np.shape(sample.volume))), sample.name)
        elif stage == "reconstruct":
            logger.info("reconstruct: %s now has a stack %s", sample.name,
                        "×".join(map(str, np.shape(sample.stack.data)))
                        if sample.stack is not None else "(tilt series)")
        elif stage == "tomo":
            logger.info("tomo: %s now has volumes %s: run Fit for the valence volume",
                        sample.name, "×".join(map(str, sample.volume_stack.data.shape)))

    def _on_stage_cancelled(self, _stage: str) -> None:
        self._fit_queue = []

    def is_running(self, stage: str) -> bool:
        return stage in self.workers

    def _on_run_requested(self, stage: str, params: dict) -> None:
        self.run_on(stage, self._current_sample(), params)

    def run_on(self, stage: str, sample: Any, params: dict) -> None:
        """Start ``stage`` on ``sample`` in a background worker (one per stage at a time)."""
        box = self._panel.stages[stage]
        problem = stage_jobs.stage_input_problem(stage, sample)
        if problem is None and stage == "fit":
            problem = stage_jobs.fit_form_problem(sample, params)
        if problem is not None:
            box.show_progress(0.0, problem)
            self.stage_failed.emit(stage, problem)
            return
        if stage in self.workers:
            logger.warning("%s is still running: wait for it or cancel it first", stage)
            return
        job = self.jobs[stage]
        control = Control()
        self._controls[stage] = control
        self._cancel_t0.pop(stage, None)
        kwargs = dict(params)
        logger.info("%s: started on %s %s", stage, sample.name,
                    {k: v for k, v in kwargs.items() if k != "shifts"})
        box.set_running(True)
        self.running_samples[stage] = sample
        self.workers[stage] = create_worker(
            job, sample, control=control, **kwargs,
            _connect={
                "yielded": lambda p, s=stage: self._on_worker_yielded(s, p),
                "returned": lambda r, s=stage, smp=sample: self._on_worker_returned(s, smp, r),
                "errored": lambda e, s=stage: self._on_worker_errored(s, e),
                "finished": lambda s=stage: self._on_worker_finished(s),
            },
        )

    def _on_cancel_requested(self, stage: str) -> None:
        control = self._controls.get(stage)
        if control is not None:
            logger.info("%s: cancel requested", stage)
            self._cancel_t0[stage] = time.monotonic()
            self._panel.stages[stage].eta.setText("cancelling…")
            control.cancel()

    def _on_worker_yielded(self, stage: str, p: Any) -> None:
        if stage in self._cancel_t0:
            return  # keep "cancelling…" shown until the worker stops
        if isinstance(p, Progress):
            label = p.message or stage
            if p.stage and p.stage != stage:
                label = f"{p.stage}: {label}"
            self._panel.stages[stage].show_progress(p.fraction, label)
            if p.preview is not None:
                self._queue_preview(p.preview)

    # ---------------------------------------------------------------- previews
    def _queue_preview(self, preview: Any) -> None:
        """Emit at once when the last preview is old enough, else keep the newest for later."""
        self._pending_preview = preview
        wait = PREVIEW_INTERVAL_S - (time.monotonic() - self._last_preview_t)
        if wait <= 0:
            self._preview_timer.stop()
            self._emit_pending_preview()
        elif not self._preview_timer.isActive():
            self._preview_timer.start(int(wait * 1000) + 1)

    def _emit_pending_preview(self) -> None:
        preview, self._pending_preview = self._pending_preview, None
        if preview is None or not self.workers:
            return
        self._last_preview_t = time.monotonic()
        self.previews_emitted += 1
        self.preview.emit(preview)

    # ---------------------------------------------------------------- outcomes
    def _on_worker_returned(self, stage: str, sample: Any, result: Any) -> None:
        try:
            stage_jobs.apply_stage_result(stage, sample, result)
        except Exception as exc:  # a result we cannot store must not crash the window
            logger.exception("%s: could not store the result", stage)
            self._panel.stages[stage].show_progress(0.0, "failed")
            self.stage_failed.emit(stage, f"{stage} finished but its result could not be "
                                          f"stored: {exc}")
            return
        self._panel.stages[stage].show_progress(1.0, "done")
        if stage == "fit":
            for what, text in getattr(result, "shifts", {}).items():
                if not text.startswith("+0.00 eV (none"):
                    logger.info("fit: energy shift of %s: %s", what, text)
            if getattr(result, "method", ""):
                logger.info("fit: method %s", result.method)
            rows = getattr(result, "reference_rows", None)
            if rows:
                self._panel.stages["fit"].set_reference_rows(rows)
        logger.info("%s: finished on %s", stage, sample.name)
        if self.document is not None:
            self.document.changed(sample)
        self.stage_finished.emit(stage, sample, result)

    def _on_worker_errored(self, stage: str, exc: Exception) -> None:
        box = self._panel.stages[stage]
        if isinstance(exc, Cancelled):
            t0 = self._cancel_t0.get(stage)
            if t0 is not None:
                self.last_cancel_latency_s = time.monotonic() - t0
                logger.info("%s: cancelled after %.2f s; data unchanged", stage,
                            self.last_cancel_latency_s)
            else:
                logger.info("%s: cancelled; data unchanged", stage)
            box.show_progress(0.0, "cancelled")
            self.stage_cancelled.emit(stage)
            return
        box.show_progress(0.0, "failed")
        logger.error("%s failed: %s: %s", stage, type(exc).__name__, exc)
        self.stage_failed.emit(stage, f"{stage} failed: {exc}")

    def _on_worker_finished(self, stage: str) -> None:
        self.workers.pop(stage, None)
        self.running_samples.pop(stage, None)
        self._controls.pop(stage, None)
        self._cancel_t0.pop(stage, None)
        if not self.workers:
            self._preview_timer.stop()
            self._pending_preview = None
        self._panel.stages[stage].set_running(False)

    def cancel_all(self) -> None:
        for stage in list(self._controls):
            self._on_cancel_requested(stage)


def segment_summary(sample: Any, result: Any) -> str:
    """Log a segmentation's per-crystal table; the one-line summary for the status bar."""
    table = result.table
    axes = "p, r, c" if result.volume else "r, c"
    params = result.params
    logger.info("segment %s: %d crystal(s); %d %s > %.3g (%d in islands < %d removed; "
                "crystals by %s)", sample.name, len(table),
                int(np.count_nonzero(result.labels["high_ox"])),
                "voxels" if result.volume else "pixels", params.threshold,
                result.islands_removed, params.min_island_size,
                "watershed" if params.split_touching else "connected components")
    for i in range(len(table)):
        n = table.normal[i]
        normal = ("—" if not np.all(np.isfinite(n))
                  else "(" + ", ".join(f"{x:+.2f}" for x in n) + f") ({axes})")
        logger.info("  crystal %d: >Ni³⁺ fraction %.3f, mean valence %.3f, slab normal %s",
                    int(table.crystal_id[i]), table.high_ox_fraction[i],
                    table.mean_valence[i], normal)
    fractions = ", ".join(f"{f:.2f}" for f in table.high_ox_fraction)
    return (f"{sample.name}: {len(table)} crystal(s), >Ni³⁺ fraction {fractions} "
            "(table in the log)")
