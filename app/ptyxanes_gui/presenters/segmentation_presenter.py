"""Runs the segmentation engine for the SegmentationPanel (the threshold seed at once;
tables, island removal and the TIFF export in superqt workers), and records the
panel's hand edits as undoable edits of the document."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ptyxanes.progress import Cancelled, Control
from ptyxanes_gui.document import Document, Edit, Sample

logger = logging.getLogger(__name__)


def write_labels_tiff(path: str | Path, labels: np.ndarray, voxel_size_m: float, *,
                      overwrite: bool = True) -> Path:
    """Write labels (P, M, N) as a multi-page uint8 ImageJ TIFF, one page per plane, atomically.

    Parameters
    ----------
    path : path-like
        Destination ``.tif``.
    labels : ndarray of shape (P, M, N)
        Label volume (0 = background).
    voxel_size_m : float
        Voxel size, m (written as µm spacing and resolution).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path
    """
    import tifffile

    from ptyxanes.io._atomic import atomic_path

    um = float(voxel_size_m) * 1e6
    p = Path(path)
    with atomic_path(p, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, np.asarray(labels, np.uint8), imagej=True,
                         resolution=(1 / um, 1 / um),
                         metadata={"spacing": um, "unit": "um", "axes": "ZYX"})
    return p

#: ``Sample.parameters`` key of the panel's seeding threshold (saved with the labels)
PANEL_PARAMETERS = "segmentation_panel"


class SegmentationPresenter:
    """Wire a :class:`SegmentationPanel` to ``ptyxanes.segment`` and to the document.

    Crystal tables and island removal run in workers; results come back to the
    GUI thread through the worker signals (STYLE.md §3).

    Every hand edit of the panel (a stroke, a fill, island removal, discarding the
    edits) is an :class:`~ptyxanes_gui.document.Edit` of kind ``"labels"`` on the
    document's undo stack, so Edit ▸ Undo, the panel's Undo button and Ctrl+Z in
    the napari canvas step through one history, and every edit marks the document
    dirty; so does a new threshold (not an undo step). Once :meth:`attach` names
    the sample the panel shows, its labels and hand edits
    (:meth:`SegmentationPanel.label_arrays`) and the seeding threshold are kept on
    that sample, so a save or a switch of samples never loses them, and a reopened
    sample is re-seeded at its saved threshold. Until then the presenter keeps a
    document of its own (a panel used alone).
    """

    def __init__(self, panel) -> None:
        self._panel = panel
        panel.presenter = self  # the panel hands its edits, undo and redo to this presenter
        self._control = Control()
        self.worker = None
        self.export_worker: Any = None
        self.document = Document()
        self.sample: Sample | None = None
        self.document.undo_changed.connect(self._on_undo_changed)
        panel.table_requested.connect(self._on_table_requested)
        panel.islands_requested.connect(self._on_islands_requested)
        panel.export_requested.connect(self._on_export_requested)
        panel.seed_requested.connect(self._on_seed_requested)
        panel.labels_changed.connect(self._store_on_sample)

    # ------------------------------------------------------------------ document
    def attach(self, document: Document, sample: Sample | None) -> None:
        """Record the hand edits in ``document``; the panel shows ``sample``'s volume.

        Call after the panel got the sample's volume (``set_data``, ``restore_edits``).
        """
        if document is not self.document:
            self.document.forget(self)
            self.document.undo_changed.disconnect(self._on_undo_changed)
            self.document = document
            document.undo_changed.connect(self._on_undo_changed)
        self.sample = None
        saved = (sample.parameters.get(PANEL_PARAMETERS, {}).get("threshold")
                 if sample is not None else None)
        if saved is not None and float(saved) != self._panel.threshold:
            # the seed the saved hand edits were made on, so the labels are the saved ones
            self._panel.set_threshold(float(saved))
            self.document.forget(self)  # a pending edit of the re-seed is no user edit
        self.sample = sample
        self._store_on_sample()
        self._on_undo_changed()

    def data_replaced(self) -> None:
        """The panel shows new data (of no sample until :meth:`attach`); its earlier edits
        can no longer be undone."""
        self.sample = None
        self.document.forget(self)

    def forget_edits(self) -> None:
        """The panel's hand edits were replaced wholesale: the earlier ones can no longer be
        undone."""
        self.document.forget(self)

    def record_edit(self, entry: tuple[Any, ...], text: str) -> None:
        """Push a hand edit the panel just made (``(idx, old, new)`` of its edit arrays)."""
        panel = self._panel
        self.document.push(Edit(text, lambda: self._replay(panel.apply_step, entry, True),
                                lambda: self._replay(panel.apply_step, entry, False),
                                kind="labels", owner=self))

    def threshold_changed(self, before: float, after: float) -> None:
        """The user moved the seeding threshold: unsaved work (the saved labels change).

        Not an undo step: undo and redo step through the hand edits, which stay
        relative to whatever seed the threshold gives.
        """
        if self.sample is not None and before != after:
            self.document.changed(self.sample)

    def _replay(self, fn, *args) -> None:
        fn(*args)
        if self.sample is not None:
            self.document.sample_changed.emit(self.sample)

    def _own(self, edit: Edit | None) -> bool:
        return edit is not None and edit.owner is self

    def undo(self) -> None:
        """Undo the document's last edit when it is one of this panel's."""
        if self._own(self.document.undo_edit):
            self.document.undo()

    def redo(self) -> None:
        """Redo the document's next edit when it is one of this panel's."""
        if self._own(self.document.redo_edit):
            self.document.redo()

    def _on_undo_changed(self) -> None:
        u, r = self.document.undo_edit, self.document.redo_edit
        self._panel.set_undo_texts(u.text if self._own(u) else None,
                                   r.text if self._own(r) else None)

    def _store_on_sample(self) -> None:
        """The panel's labels and hand edits go to the sample they belong to."""
        s = self.sample
        if s is None or self._panel.labels_layer is None:
            return
        arrays = self._panel.label_arrays()
        if s.volume is not None and arrays.get("high_ox") is not None \
                and arrays["high_ox"].shape != np.shape(s.volume):
            return  # not this sample's volume
        s.labels.update(arrays)
        s.parameters[PANEL_PARAMETERS] = {"threshold": self._panel.threshold}

    def _busy(self, on: bool) -> None:
        self._panel.button_table.setEnabled(not on)
        self._panel.button_islands.setEnabled(not on)

    def _on_table_requested(self) -> None:
        from superqt.utils import create_worker

        from ptyxanes.segment import crystal_table_gen

        p = self._panel
        if self.worker is not None and getattr(self.worker, "is_running", False):
            p.retry_table_later()  # one worker at a time
            return
        labels = p.labels()
        if labels is None or p.valence is None:
            return
        crystals = p.volume_panel.crystal_labels
        if crystals is None or crystals.shape != labels.shape:
            from ptyxanes.segment import label_crystals

            crystals = label_crystals(p.mask)
        self._control = Control()
        self._busy(True)
        self.worker = create_worker(
            crystal_table_gen, p.valence, crystals, labels, voxel_size=p.voxel_size_m,
            control=self._control,
            _connect={"yielded": self._on_progress, "returned": p.show_table,
                      "errored": self._on_worker_errored, "finished": lambda: self._busy(False)},
        )

    def _on_islands_requested(self, min_size: int) -> None:
        from superqt.utils import create_worker

        from ptyxanes.segment import remove_small_islands

        labels = self._panel.labels()
        if labels is None:
            return
        self._busy(True)
        self.worker = create_worker(
            remove_small_islands, labels, int(min_size),
            _connect={"returned": self._on_islands_done, "errored": self._on_worker_errored,
                      "finished": lambda: self._busy(False)},
        )

    def _on_islands_done(self, cleaned: np.ndarray) -> None:
        n = self._panel.apply_edit(cleaned, "remove small islands")
        self._panel.label_status.setText(f"removed {n} voxels in small islands")
        self._panel.islands_removed.emit(n)

    def _on_seed_requested(self, threshold: float) -> None:
        """The panel's seed: ``valence > threshold`` inside its mask (a comparison: at once)."""
        from ptyxanes.segment import threshold_labels

        p = self._panel
        if p.valence is None:
            return
        seed = threshold_labels(p.valence, threshold, mask=p.mask) != 0
        p.set_seed(seed, threshold)

    def _on_export_requested(self, path: str) -> None:
        """Write the panel's labels to a TIFF in a worker (the panel hears ``export_done``)."""
        from superqt.utils import create_worker

        p = self._panel
        labels = p.labels()  # a copy: later edits do not reach the file being written
        if labels is None:
            p.show_error("export failed: no labels to export")
            return

        def failed(exc: Exception) -> None:
            logger.error("label export to %s failed: %s", path, exc)
            p.show_error(f"export failed: {exc}")

        p.button_export.setEnabled(False)
        self.export_worker = create_worker(
            write_labels_tiff, path, labels, p.voxel_size_m,
            _connect={"returned": p.export_done, "errored": failed,
                      "finished": lambda: p.button_export.setEnabled(p.labels_layer is not None)},
        )

    def _on_progress(self, p) -> None:
        self._panel.label_status.setText(f"{p.message}: {p.done:.0f}/{p.total:.0f}")

    def _on_worker_errored(self, exc: Exception) -> None:
        if isinstance(exc, Cancelled):
            self._panel.label_status.setText("cancelled")
            return
        logger.error("segmentation failed: %s", exc)
        self._panel.show_error(f"segmentation failed: {exc}")

    def cancel(self) -> None:
        """Cancel a running crystal table."""
        self._control.cancel()
