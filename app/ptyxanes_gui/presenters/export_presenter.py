"""File ▸ Export: the image view and the samples' valence maps as figures, the
spectrum and histogram curves as CSV."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qtpy.QtCore import QObject
from qtpy.QtWidgets import QFileDialog, QInputDialog

from ptyxanes_gui.presenters.channels import ENERGY_CHANNELS
from ptyxanes_gui.presenters.image_presenter import auto_levels
from ptyxanes_gui.viewers import colormaps

logger = logging.getLogger(__name__)


def valence_figure(path: str | Path, maps: dict[str, NDArray[Any]], pixel_size: float,
                   clim: tuple[float, float], *, dpi: int = 300,
                   size_px: tuple[int, int] | None = None) -> Path:
    """Valence maps with shared limits, scale and colour bars (``ptyxanes.figures``)."""
    from ptyxanes.figures import save_figure, valence_map_figure

    figsize = None if size_px is None else (size_px[0] / dpi, size_px[1] / dpi)
    fig = valence_map_figure(maps, pixel_size, clim=clim, figsize=figsize)
    return Path(save_figure(fig, path, dpi=dpi, overwrite=True))




class ExportPresenter(QObject):
    """Write what the window shows: the image view with colour and scale bars, every
    sample's valence map side by side, and the spectrum and histogram curves.

    Parameters
    ----------
    window : MainWindow
        The samples, the current one, the dialogs' parent and folder, errors.
    image, spectrum, histogram : ImagePresenter, SpectrumPresenter, HistogramPresenter
        What they show is what is written.
    """

    def __init__(self, window: Any, image: Any, spectrum: Any, histogram: Any) -> None:
        super().__init__(window)
        self.window = window
        self.image = image
        self.spectrum = spectrum
        self.histogram = histogram

    def export_figure(self, path: str | Path, dpi: int = 300,
                      size_px: tuple[int, int] | None = None) -> Path:
        """Export the current image view (with colour and scale bars) to a file."""
        from ptyxanes.figures.colormaps import valence_lut
        from ptyxanes_gui.viewers.export import export_image_figure

        s = self.window.current_sample()
        ch = self.image.panel.current_channel()
        img = self.image.displayed_image
        valence_limits = self.image.valence_limits
        highlight = self.histogram.highlight_mask
        levels = valence_limits if ch == "valence" else self.image.channel_limits.get(
            ch, auto_levels(img))
        if ch == "valence":
            lut = valence_lut(256)
        elif ch in ENERGY_CHANNELS:
            g = np.linspace(0, 255, 256).astype(np.uint8)
            lut = np.column_stack([g, g, g, np.full(256, 255, np.uint8)])
        else:
            lut = colormaps.other_colormap().getLookupTable(nPts=256, alpha=True)
        title = s.name if ch not in ENERGY_CHANNELS else \
            f"{s.name} — {s.energy[self.image.energy_index]:.1f} eV"
        if ch == "valence" and highlight is None:
            return valence_figure(path, {s.name: img}, s.pixel_size, valence_limits,
                                  dpi=dpi, size_px=size_px)
        return export_image_figure(path, img, pixel_size=s.pixel_size, lut=lut, levels=levels,
                                   label=self.image.channel_label(s, ch), title=title, dpi=dpi,
                                   size_px=size_px, highlight=highlight)

    def export_samples_figure(self, path: str | Path, dpi: int = 300,
                              size_px: tuple[int, int] | None = None) -> Path:
        """All samples' valence maps side by side with the shared colour limits."""
        samples = self.window.samples
        maps = {s.name: np.asarray(s.maps["valence"], float) for s in samples
                if "valence" in s.maps and np.ndim(s.maps["valence"]) == 2}
        if not maps:
            raise ValueError("no valence maps yet: run Process ▸ Fit XANES of all samples")
        first = next(s for s in samples if "valence" in s.maps)
        return valence_figure(path, maps, first.pixel_size, self.image.valence_limits, dpi=dpi,
                              size_px=size_px)

    def export_samples_figure_dialog(self) -> None:
        self._figure_dialog("Export all samples", "samples.png", self.export_samples_figure)

    def export_figure_dialog(self) -> None:
        self._figure_dialog("Export figure", "figure.png", self.export_figure)

    def _figure_dialog(self, title: str, default: str, fn) -> None:
        w = self.window
        if w.current_sample() is None:
            w.show_error("Export", "Open a dataset first.")
            return
        start = str(Path(w.settings.value("paths/last_dir", str(Path.home()))) / default)
        name, _ = QFileDialog.getSaveFileName(w, title, start,
                                              "PNG (*.png);;TIFF (*.tif);;SVG (*.svg);;PDF (*.pdf)")
        if not name:
            return
        dpi = 300
        if Path(name).suffix.lower() in (".png", ".tif", ".tiff"):
            dpi, ok = QInputDialog.getInt(w, title, "Resolution (DPI)", 300, 50, 2400)
            if not ok:
                return
        try:
            fn(name, dpi=dpi)
        except Exception as exc:
            w.show_error("Export", f"Could not export {name}:\n\n{exc}")

    def export_spectrum_dialog(self) -> None:
        self._csv_dialog("Export spectrum", "spectrum.csv", self.spectrum.export_csv)

    def export_histogram_dialog(self) -> None:
        self._csv_dialog("Export histogram", "histogram.csv", self.histogram.export_csv)

    def _csv_dialog(self, title: str, default: str, fn) -> None:
        w = self.window
        start = str(Path(w.settings.value("paths/last_dir", str(Path.home()))) / default)
        name, _ = QFileDialog.getSaveFileName(w, title, start, "CSV (*.csv)")
        if name:
            try:
                fn(name)
            except Exception as exc:
                w.show_error(title, str(exc))
