"""Runs the segmentation engine for the SegmentationPanel in superqt workers."""

from __future__ import annotations

import logging

import numpy as np

from ptyxanes.progress import Cancelled, Control

logger = logging.getLogger(__name__)


class SegmentationPresenter:
    """Wire a :class:`SegmentationPanel` to ``ptyxanes.segment``.

    Crystal tables and island removal run in workers; results come back to the
    GUI thread through the worker signals (STYLE.md §3).
    """

    def __init__(self, panel) -> None:
        self._panel = panel
        self._control = Control()
        self.worker = None
        panel.table_requested.connect(self._on_table_requested)
        panel.islands_requested.connect(self._on_islands_requested)
        panel.export_requested.connect(self._on_export_requested)

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
        n = self._panel.apply_edit(cleaned)
        self._panel.label_status.setText(f"removed {n} voxels in small islands")
        self._panel.islands_removed.emit(n)

    def _on_export_requested(self, path: str) -> None:
        try:
            self._panel.export_tiff(path)
        except Exception as exc:
            logger.exception("label export failed")
            self._panel.show_error(f"export failed: {exc}")

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
