"""The image view's presenter: the current sample's channel at the chosen energy, colour
limits, the mask and highlight overlays, the hover readout and a running stage's
live preview."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QLabel

from ptyxanes_gui.document import Sample
from ptyxanes_gui.panels.image_panel import ImagePanel
from ptyxanes_gui.presenters import channels
from ptyxanes_gui.presenters.channels import ENERGY_CHANNELS, MAP_CHANNELS
from ptyxanes_gui.viewers import colormaps

logger = logging.getLogger(__name__)


def auto_levels(img: np.ndarray) -> tuple[float, float]:
    """Colour limits of an image: its 0.5 and 99.5 percentiles of the finite values."""
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    return (float(lo), float(hi if hi > lo else lo + 1.0))


class ImagePresenter(QObject):
    """Draw the current sample in the Image panel.

    Parameters
    ----------
    panel : ImagePanel
    current_sample : callable
        Returns the selected Sample (or None).
    readout : QLabel
        The status bar's pixel readout.
    valence_limits : tuple of float
        Colour limits of the valence channel, shared by every sample.

    Signals
    -------
    preview_shown() : the view drew a live preview of a running stage
    """

    preview_shown = Signal()

    def __init__(self, panel: ImagePanel, current_sample, readout: QLabel,
                 valence_limits: tuple[float, float]) -> None:
        super().__init__(panel)
        self.panel = panel
        self.viewer = panel.viewer
        self.current_sample = current_sample
        self.readout = readout
        self.energy_index = 0
        self.valence_limits = valence_limits
        self.channel_limits: dict[str, tuple[float, float]] = {}
        self.displayed_image: np.ndarray | None = None
        self.highlight_mask: np.ndarray | None = None
        self.extra_labels: dict[str, str] = {}  # result channels added at run time (explore)
        self.previews_drawn = 0
        self._previewing = False
        panel.channel_changed.connect(lambda _c: self.update_image())
        panel.energy_changed.connect(self._on_energy_changed)
        panel.limits_changed.connect(self._on_limits_changed)
        panel.mask_overlay_toggled.connect(lambda _on: self._update_mask_overlay())
        panel.viewer.pixel_hovered.connect(self._on_pixel_hovered)

    # ---------------------------------------------------------------- the sample
    def show_sample(self, s: Sample, opens_volume: bool = False) -> None:
        """Enable the channels ``s`` has, keep a channel it has, and draw it.

        ``opens_volume``: a 3D result about to be shown in the 3D dock opens on its
        valence slice."""
        has_stack = s.stack is not None
        for key in ENERGY_CHANNELS:
            self.panel.set_channel_enabled(key, has_stack, "this sample has no energy stack")
        reason_fit = "run Process ▸ Fit XANES first"
        for key in MAP_CHANNELS:
            self.panel.set_channel_enabled(key, key in s.maps, reason_fit)
        if has_stack:
            self.panel.set_energies(s.energy)
            self.energy_index = min(self.energy_index, s.stack.n_energies - 1)
        for key in s.maps:  # explore channels of an opened project
            if key not in self.extra_labels and (key.startswith("pca_score_")
                                                 or key == "clusters"):
                self.add_channel(key, "k-means clusters" if key == "clusters"
                                 else f"PC{key.rsplit('_', 1)[1]} score")
        for key in self.extra_labels:
            self.panel.set_channel_enabled(key, key in s.maps,
                                           "run Process ▸ Explore spectra first")
        channel = self.panel.current_channel()
        if (channel in MAP_CHANNELS or channel in self.extra_labels) and channel not in s.maps:
            self.panel.set_channel("absorption")
        elif channel in ENERGY_CHANNELS and not has_stack and "valence" in s.maps:
            self.panel.set_channel("valence")
        elif opens_volume and "valence" in s.maps:
            self.panel.set_channel("valence")  # a 3D result opens on its valence slice

    def channel_label(self, sample: Sample | None, channel: str) -> str:
        return self.extra_labels.get(channel) or channels.channel_label(sample, channel)

    def add_channel(self, key: str, label: str) -> None:
        """A result channel added at run time (explore scores, clusters)."""
        combo = self.panel.channel
        i = combo.findData(key)
        if i < 0:
            combo.addItem(label, key)
        else:
            combo.setItemText(i, label)
        self.extra_labels[key] = label

    def _on_energy_changed(self, i: int) -> None:
        self.energy_index = i
        self.update_image()

    def update_image(self) -> None:
        s = self.current_sample()
        if s is None:
            return
        ch = self.panel.current_channel()
        if ch in ENERGY_CHANNELS and s.stack is not None:
            img = channels.energy_image(s, ch, self.energy_index)
            self.panel.set_energy_enabled(True)
            self.panel.set_energy_index(self.energy_index, float(s.energy[self.energy_index]))
        elif ch in s.maps:
            img = np.asarray(s.maps[ch], float)
            self.panel.set_energy_enabled(False)
        else:
            if s.stack is None and not s.maps:  # raw scans: nothing to show until reconstructed
                self.viewer.image_item.clear()
                self.displayed_image = None
            return
        self.displayed_image = img
        levels = self.levels(ch, img)
        if ch == "valence":
            cmap = colormaps.valence_colormap()
        else:
            cmap = colormaps.grey_colormap() if ch in ENERGY_CHANNELS else colormaps.other_colormap()
        self.viewer.set_image(img, s.pixel_size, levels, cmap, self.channel_label(s, ch))
        self.panel.show_limits(*levels)
        self._update_mask_overlay()
        self.show_highlight(self.highlight_mask)

    def levels(self, channel: str, img: np.ndarray) -> tuple[float, float]:
        """The colour limits of a channel: shared for valence, chosen or automatic else."""
        if channel == "valence":
            return self.valence_limits
        return self.channel_limits.get(channel) or auto_levels(img)

    def _on_limits_changed(self, lo: float, hi: float) -> None:
        ch = self.panel.current_channel()
        if ch == "valence":
            self.valence_limits = (lo, hi)  # shared by every sample
        else:
            self.channel_limits[ch] = (lo, hi)
        self.viewer.set_levels((lo, hi))

    def _update_mask_overlay(self) -> None:
        s = self.current_sample()
        show = self.panel.mask_box.isChecked() and s is not None and "mask" in s.maps
        self.viewer.set_overlay("mask", ~np.asarray(s.maps["mask"], bool) if show else None)

    def show_highlight(self, mask: np.ndarray | None) -> None:
        """Draw the highlighted pixels (a histogram range, a cluster, segmented pixels)."""
        self.highlight_mask = mask
        self.viewer.set_overlay("highlight", mask)

    # ---------------------------------------------------------------- readout
    def _on_pixel_hovered(self, row: int, col: int) -> None:
        s = self.current_sample()
        if s is None or row < 0:
            self.readout.setText("")
            return
        self.readout.setText(self.readout_text(row, col))

    def readout_text(self, row: int, col: int) -> str:
        s = self.current_sample()
        um = s.pixel_size * 1e6
        parts = [f"row {row}, col {col}", f"y {row * um:.3f} µm, x {col * um:.3f} µm"]
        img = self.displayed_image
        if img is not None and img.shape == s.shape:
            parts.append(f"value {img[row, col]:.4g}")
        if "valence" in s.maps:
            v = s.maps["valence"][row, col]
            sig = s.maps.get("valence_sigma")
            sig_txt = f" ± {sig[row, col]:.2f}" if sig is not None and np.isfinite(sig[row, col]) else ""
            parts.append(f"valence {v:.2f}{sig_txt}" if np.isfinite(v) else "valence —")
        return "   ".join(parts)

    # ---------------------------------------------------------------- live preview
    def show_preview(self, preview: Any, running_samples: dict[str, Any]) -> None:
        """Draw a running stage's intermediate object (the processing presenter throttles
        to ~5/s); only over the sample it runs on."""
        channel = self.panel.current_channel()
        img = channels.preview_image(preview, "phase" if channel == "phase" else "absorption")
        if img is None:
            return
        s = self.current_sample()
        if s is None or not any(r is s for r in running_samples.values()):
            return  # another sample is shown: do not paint its neighbour's object over it
        label = "preview: phase (rad)" if channel == "phase" else "preview: −ln|T|"
        if isinstance(preview, dict) and preview.get("label"):
            label = f"preview: {preview['label']}"
        it = preview.get("iteration") if isinstance(preview, dict) else None
        if it is not None:
            label += f", iteration {it}"
        self._previewing = True
        levels = auto_levels(img)
        self.viewer.set_image(img, s.pixel_size, levels, colormaps.grey_colormap(), label)
        self.panel.show_limits(*levels)
        self.displayed_image = img
        self.previews_drawn += 1
        self.preview_shown.emit()

    def end_preview(self, redraw: bool = True) -> None:
        """Put the current sample's own image back after a live preview."""
        if self._previewing:
            self._previewing = False
            if redraw:
                self.update_image()
