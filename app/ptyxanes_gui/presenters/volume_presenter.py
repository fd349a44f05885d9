"""The 3D docks' presenter: the valence volume of a 3D sample in the napari Volume
panel, its crystals (labelled in a worker), the highlight of a valence range, and
the Segmentation panel's labels and hand edits."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from qtpy.QtCore import QObject

from ptyxanes_gui.document import Sample
from ptyxanes_gui.presenters.channels import channel_label

logger = logging.getLogger(__name__)


class CrystalLabeller(QObject):
    """Label a Volume panel's crystals when it asks: a new volume's at once
    (``crystals_requested``), and in a worker when "Split touching" is toggled or a
    volume is too large to split at once (``relabel_requested``).

    Parameters
    ----------
    panel : VolumePanel
    """

    def __init__(self, panel: Any) -> None:
        super().__init__(panel)
        self.panel = panel
        self.worker: Any = None
        panel.relabel_requested.connect(self._on_relabel_requested)
        panel.crystals_requested.connect(self._on_crystals_requested)

    def _on_crystals_requested(self, method: str) -> None:
        from ptyxanes.segment import label_crystals

        p = self.panel
        if p.valence is not None:
            p.take_crystal_labels(label_crystals(np.isfinite(p.valence), method=method))

    def _on_relabel_requested(self, method: str) -> None:
        from superqt.utils import create_worker

        from ptyxanes.segment import label_crystals

        p = self.panel
        if p.valence is None:
            p.check_split.setEnabled(True)
            return
        shape = p.valence.shape
        self.worker = create_worker(
            label_crystals, np.isfinite(p.valence), method=method,
            _connect={"returned": lambda lab: p.labels_returned(lab, shape),
                      "errored": p.labelling_failed,
                      "finished": lambda: p.check_split.setEnabled(True)},
        )


class VolumePresenter(QObject):
    """Show 3D samples in the Volume and Segmentation docks (created on first use).

    Parameters
    ----------
    window : MainWindow
        Creates the docks (:meth:`MainWindow.add_volume_docks`), shows errors.
    samples : list of Sample
        The document's samples (the same list).
    """

    def __init__(self, window: Any, samples: list[Sample]) -> None:
        super().__init__(window)
        self.window = window
        self.samples = samples
        self.panel: Any = None  # VolumePanel, once the dock exists
        self.segmentation_panel: Any = None
        self.segmentation: Any = None  # SegmentationPresenter of that panel
        self.shown_volume: np.ndarray | None = None  # the volume the 3D docks show now
        self._labeller: CrystalLabeller | None = None

    def create_panels(self) -> bool:
        """Create the Volume and Segmentation panels (napari needs OpenGL); False, with a
        message, when the viewer cannot start."""
        from ptyxanes_gui.panels.segmentation_panel import SegmentationPanel
        from ptyxanes_gui.panels.volume_panel import VolumePanel
        from ptyxanes_gui.presenters.segmentation_presenter import SegmentationPresenter

        try:
            panel = VolumePanel(parent=None)
        except Exception as exc:
            logger.exception("napari viewer failed")
            self.window.show_error("3D view", f"The 3D viewer could not start (OpenGL?): {exc}")
            return False
        self.panel = panel
        self.segmentation_panel = SegmentationPanel(panel)
        self.segmentation = SegmentationPresenter(self.segmentation_panel)
        self._labeller = CrystalLabeller(panel)
        return True

    def provide(self, sample: Sample) -> None:
        """Show ``sample``'s valence volume (creating the 3D docks on first use)."""
        self.shown_volume = sample.volume  # also when napari fails: one error, not one per click
        if self.panel is None and not self.window.show_volume_dock():
            return
        self.window.show_dock("volume")
        try:
            self.panel.set_volume(sample.volume, sample.voxel_size or sample.pixel_size,
                                  clim=self.window.image.valence_limits,
                                  label=channel_label(sample, "valence"))
            if self.segmentation_panel is not None:
                mask = sample.labels.get("mask")
                if mask is None:
                    mask = np.isfinite(sample.volume)
                self.segmentation_panel.set_data(sample.volume,
                                                 sample.voxel_size or sample.pixel_size, mask)
                self.segmentation_panel.restore_edits(sample.labels.get("high_ox_added"),
                                                      sample.labels.get("high_ox_removed"))
                self.segmentation.attach(self.window.document, sample)
        except Exception as exc:
            logger.exception("3D view failed")
            self.window.show_error("3D view", f"The 3D view could not show the volume: {exc}")

    def follow(self, sample: Sample) -> None:
        """A newly selected sample: show its volume when it has another one."""
        if sample.volume is not None and self.shown_volume is not sample.volume:
            self.provide(sample)

    def shows(self, sample: Sample | None) -> bool:
        """True when the 3D docks show this sample's volume."""
        return (self.panel is not None and sample is not None and sample.volume is not None
                and self.shown_volume is sample.volume)

    def show_highlight(self, highlighted: bool, sample: Sample | None,
                       valence_range: tuple[float, float]) -> None:
        """The voxels of the highlighted valence range (when pixels are highlighted)."""
        if self.panel is None:
            return
        vol_mask = None
        if highlighted and sample is not None and sample.volume is not None:
            lo, hi = valence_range
            with np.errstate(invalid="ignore"):
                vol_mask = np.isfinite(sample.volume) & (sample.volume >= lo) & (sample.volume <= hi)
        try:
            self.panel.set_highlight(vol_mask)
        except Exception:
            logger.debug("3D highlight failed", exc_info=True)

    def show_segment_result(self, sample: Sample, result: Any) -> None:
        """A volume's segmentation: its labels, crystals and table to the Segmentation
        panel (when the 3D docks show that volume)."""
        sp, vp = self.segmentation_panel, self.panel
        if sp is None or vp is None or self.shown_volume is not sample.volume:
            return  # stored on the sample; the 3D docks show another volume
        try:
            vp.set_crystal_labels(result.labels["crystals"])
            sp.set_threshold(result.params.threshold)  # re-seeds the labels
            sp.apply_edit(result.labels["high_ox"], "segment: remove small islands")
            sp.show_table(result.table)
            self.window.show_dock("segmentation")
        except Exception as exc:
            logger.exception("segmentation hand-off failed")
            self.window.show_error("Segment", f"The Segmentation panel could not show the "
                                              f"result: {exc}")

    def collect_segmentation_edits(self) -> None:
        """The 3D Segmentation panel's labels and hand edits go to the sample they belong to."""
        for s in self.samples:
            if (self.segmentation_panel is not None and s.volume is not None
                    and self.shown_volume is s.volume):
                s.labels.update(self.segmentation_panel.label_arrays())

    def export_view(self) -> None:
        """File ▸ Export ▸ 3D view: a screenshot of the napari view."""
        if self.panel is None:
            self.window.show_error("Export", "Open a 3D result first.")
            return
        self.panel.save_view_dialog()

    def close(self) -> None:
        if self.panel is not None:
            try:
                self.panel.close_viewer()
            except Exception:
                logger.debug("closing the 3D viewer failed", exc_info=True)
