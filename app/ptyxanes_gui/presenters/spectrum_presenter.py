"""The Spectrum panel's presenter: the click inspector (a pixel's XANES fitted as its
map was), the mean spectrum of a drawn region, and the reference overlays."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject, Signal

from ptyxanes_gui.document import Sample
from ptyxanes_gui.panels.spectrum_panel import SpectrumPanel
from ptyxanes_gui.presenters import spectra

logger = logging.getLogger(__name__)


class SpectrumPresenter(QObject):
    """Fit and draw the spectra the user points at.

    Parameters
    ----------
    panel : SpectrumPanel
    image : ImagePresenter
        Whose view is clicked (pixel marker, readout, region of interest).
    current_sample : callable
        Returns the selected Sample (or None).

    Signals
    -------
    spectrum_shown(int, int) : the panel now shows pixel (row, col)
    """

    spectrum_shown = Signal(int, int)

    def __init__(self, panel: SpectrumPanel, image, current_sample) -> None:
        super().__init__(panel)
        self.panel = panel
        self.image = image
        self.current_sample = current_sample
        self.last_fit: spectra.InspectedSpectrum | None = None
        self.last_click_ms = 0.0
        image.viewer.roi_changed.connect(self._on_roi_changed)
        panel.set_references(spectra.reference_spectra())

    def show_references(self, sample: Sample | None) -> None:
        """Overlay the references of the sample's fit (edge, files, shifts), on its
        normalisation."""
        self.panel.set_references(spectra.reference_spectra(sample))

    def show_pixel_spectrum(self, row: int, col: int) -> None:
        """Fit and draw the XANES of one pixel (click inspector)."""
        s = self.current_sample()
        if s is None or s.stack is None:
            return
        t0 = time.perf_counter()
        raw = spectra.pixel_spectrum(s, row, col)
        fit = spectra.fit_spectrum(s.energy, raw, s)
        self.image.viewer.set_marker(row, col)
        if "valence" in s.maps:
            # The map comes from the batch fit; say so when it differs from this fit.
            v = float(s.maps["valence"][row, col])
            sig = s.maps.get("valence_sigma")
            sig_txt = f" ± {float(sig[row, col]):.2f}" if sig is not None else ""
            note = f"map {v:.2f}{sig_txt}" if np.isfinite(v) else "map: outside mask"
            fit.message = f"{fit.message}   ({note})" if fit.message else f"({note})"
        self.panel.show_fit(f"{s.name}: pixel (row {row}, col {col})", fit)
        self.last_click_ms = 1000 * (time.perf_counter() - t0)
        self.image.readout.setText(self.image.readout_text(row, col))
        self.last_fit = fit
        logger.debug("click inspector: %.1f ms", self.last_click_ms)
        self.spectrum_shown.emit(row, col)

    def _on_roi_changed(self) -> None:
        s = self.current_sample()
        mask = self.image.viewer.roi_mask()
        if s is None or s.stack is None or mask is None or not mask.any():
            return
        fit, band, n = spectra.region_fit(s, mask)
        self.panel.show_fit(f"{s.name}: ROI mean of {n} pixels", fit, band)

    def export_csv(self, path: str | Path) -> Path:
        """The curves in the panel as CSV."""
        from ptyxanes_gui.viewers.export import export_csv

        names, cols = self.panel.curves_table()
        if not names:
            raise ValueError("no spectrum shown: click a pixel first")
        return export_csv(path, names, cols)
