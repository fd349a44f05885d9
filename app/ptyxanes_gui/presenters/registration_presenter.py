"""The Registration QA panel's presenter: a sample's registration, the difference
images of hand-edited shifts, and their Apply (the register stage with given
shifts, as ``ptyxanes align --shifts-from``), undoable."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from qtpy.QtCore import QObject

from ptyxanes_gui.document import Document, Edit, Sample
from ptyxanes_gui.panels.registration_panel import RegistrationPanel
from ptyxanes_gui.presenters import channels

logger = logging.getLogger(__name__)


def registration_state(s: Sample) -> dict[str, Any]:
    """What a registration changes on a sample (for undo)."""
    keys = ("stack", "unregistered", "registration", "pixel_size", "maps", "fit_model",
            "labels", "crystal_table")
    return {k: getattr(s, k) for k in keys}


class RegistrationPresenter(QObject):
    """Wire the Registration QA panel to the register stage and the document's undo.

    Parameters
    ----------
    panel : RegistrationPanel
    processing : ProcessingPresenter
        Runs the register stage.
    document : Document
    window : MainWindow
        The current sample, its re-selection after an undo, Edit ▸ Undo, the dock.
    """

    def __init__(self, panel: RegistrationPanel, processing: Any, document: Document,
                 window: Any) -> None:
        super().__init__(panel)
        self.panel = panel
        self.processing = processing
        self.document = document
        self.window = window
        panel.shifts_edited.connect(self._on_shifts_edited)
        panel.apply_requested.connect(self.apply_shifts)
        panel.undo_apply_requested.connect(window.undo)
        panel.difference_needed.connect(self._on_difference_needed)
        processing.stage_finished.connect(self._on_stage_finished)

    def set_sample(self, sample: Sample) -> None:
        self.panel.set_sample(sample)

    def _on_difference_needed(self, index: int, reference: int, shift: Any) -> None:
        s = self.panel.sample
        if s is not None and s.stack is not None:
            self.panel.show_difference(channels.shifted_difference(s, index, reference, shift))

    def _on_shifts_edited(self) -> None:
        logger.info("registration shifts edited by hand (Apply re-registers with them)")

    def _on_stage_finished(self, stage: str, sample: Sample, _result: Any) -> None:
        if stage != "register":
            return
        shifts = sample.shifts
        logger.info("register: %s on %.1f nm pixels, max |shift| %.2f px", sample.name,
                    sample.pixel_size * 1e9,
                    float(np.max(np.abs(shifts))) if len(shifts) else 0.0)
        self.panel.set_sample(sample)
        self.window.show_dock("registration")

    def apply_shifts(self, shifts: np.ndarray) -> None:
        """Re-apply hand-edited shifts: the register stage with given shifts, as
        ``ptyxanes align --shifts-from`` (undoable: Edit ▸ Undo)."""
        s = self.window.current_sample()
        if s is None or s.stack is None:
            return
        before = registration_state(s)
        form = dict(self.window.processing_panel.stages["register"].params())

        def finished(stage: str, sample: Sample, _result: Any) -> None:
            if stage != "register" or sample is not s:
                return
            self.processing.stage_finished.disconnect(finished)
            after = registration_state(s)

            def put(state: dict[str, Any]) -> None:
                for k, v in state.items():
                    setattr(s, k, v)
                self.document.sample_changed.emit(s)
                if s is self.window.current_sample():
                    self.window.select_sample(self.window.current)
            self.document.push(Edit("apply edited shifts", lambda: put(before),
                                    lambda: put(after)))

        self.processing.stage_finished.connect(finished)
        self.processing.run_on("register", s, {**form, "shifts": np.asarray(shifts, float)})
