"""The Histogram panel's presenter: valence distributions of the samples, their
weighted statistics, and the highlight of a dragged valence range."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qtpy.QtCore import QObject, Signal

from ptyxanes_gui.document import Sample
from ptyxanes_gui.panels.histogram_panel import HistogramPanel
from ptyxanes_gui.presenters import spectra

logger = logging.getLogger(__name__)

#: bin edges of the valence histograms
HIST_BINS = np.linspace(1.5, 4.0, 126)


class HistogramPresenter(QObject):
    """Valence histograms of the current sample (or all samples) in the Histogram panel,
    and the highlighted pixels: those in a dragged valence range, a clicked cluster or
    a 2D segmentation.

    Parameters
    ----------
    panel : HistogramPanel
    samples : list of Sample
        The document's samples (the same list).
    current_sample : callable
        Returns the selected Sample (or None).
    roi_mask : callable
        The region drawn on the image view, (M, N) bool or None.

    Signals
    -------
    highlight_changed() : :attr:`highlight_mask` changed
    """

    highlight_changed = Signal()

    def __init__(self, panel: HistogramPanel, samples: list[Sample], current_sample,
                 roi_mask) -> None:
        super().__init__(panel)
        self.panel = panel
        self.samples = samples
        self.current_sample = current_sample
        self.roi_mask = roi_mask
        self.highlight_mask: NDArray[np.bool_] | None = None
        panel.range_changed.connect(self._on_highlight_range)
        panel.highlight_toggled.connect(lambda on: None if on else self.set_highlight(None))
        panel.scope_changed.connect(lambda _s: self.update())
        panel.overlay_toggled.connect(lambda _o: self.update())
        panel.set_reference_lines(spectra.reference_valences())

    def _scope_mask(self, s: Sample) -> NDArray[np.bool_] | None:
        scope = self.panel.scope.currentData()
        if scope == "mask" and "mask" in s.maps:
            return np.asarray(s.maps["mask"], bool)
        if scope == "roi" and s is self.current_sample():
            return self.roi_mask()
        return None

    def on_roi_changed(self) -> None:
        if self.panel.scope.currentData() == "roi":
            self.update()

    def update(self) -> None:
        """Redraw the histograms (the samples, their maps or the scope changed)."""
        cur = self.current_sample()
        with_maps = [s for s in self.samples if "valence" in s.maps]
        if not with_maps:
            self.panel.set_histograms(HIST_BINS, {}, {}, "")
            self.panel.set_message("No valence map yet: run Process ▸ Fit XANES.")
            spec = spectra.sample_edge(cur)  # the element of the sample's default edge
            self.panel.set_valence_axis(spec.valence_label, spec.element)
            refs = spectra.reference_valences(cur)
            self.panel.set_reference_lines(refs, [spec.state_label(v) for v in refs])
            return
        chosen = with_maps if self.panel.overlay_box.isChecked() else [
            s for s in with_maps if s is cur]
        hists, stats = {}, {}
        for s in chosen:
            v = np.asarray(s.maps["valence"], float)
            w = s.maps.get("edge_jump")
            m = self._scope_mask(s)
            if m is not None and m.shape == v.shape:
                v = v[m]
                w = None if w is None else np.asarray(w)[m]
            h, st = valence_histogram(v, w, HIST_BINS)
            hists[s.name], stats[s.name] = h, st
        self.panel.set_histograms(HIST_BINS, hists, stats, cur.name if cur else "")
        shown = cur if cur in chosen else chosen[0] if chosen else with_maps[0]
        spec = spectra.sample_edge(shown)
        self.panel.set_valence_axis(spec.valence_label, spec.element)
        refs = spectra.reference_valences(shown)
        self.panel.set_reference_lines(refs, [spec.state_label(v) for v in refs])
        self.panel.set_message(f"{spec.element}-weighted (edge jump) valence distribution")

    def _on_highlight_range(self, lo: float, hi: float) -> None:
        s = self.current_sample()
        if s is None or "valence" not in s.maps:
            self.set_highlight(None)
            return
        v = np.asarray(s.maps["valence"], float)
        with np.errstate(invalid="ignore"):
            mask = np.isfinite(v) & (v >= lo) & (v <= hi)
        self.set_highlight(mask)

    def set_highlight(self, mask: NDArray[np.bool_] | None) -> None:
        """Highlight these pixels (None: none)."""
        self.highlight_mask = mask
        self.highlight_changed.emit()

    def clear_highlight(self) -> None:
        """Overlays belong to one sample: none is drawn (or exported) over another."""
        self.panel.clear_highlight()
        self.set_highlight(None)

    def export_csv(self, path: str | Path) -> Path:
        """The histograms in the panel as CSV (bin centres, one column per sample)."""
        from ptyxanes_gui.viewers.export import export_csv

        data = self.panel.data
        if not data:
            raise ValueError("no histogram shown")
        centres = 0.5 * (HIST_BINS[1:] + HIST_BINS[:-1])
        names = ["valence"] + list(data)
        cols = np.column_stack([centres] + [h for _e, h in data.values()])
        return export_csv(path, names, cols)


def valence_histogram(values: NDArray[Any], weights: NDArray[Any] | None,
                      bins: NDArray[np.float64]) -> tuple[NDArray[Any], dict[str, float]]:
    """Histogram (density) and summary numbers of the finite valences given.

    The histogram is ``ptyxanes.figures.valence_histogram``; the mean, median
    and σ are weighted by ``weights`` (the Ni amount, edge jump) like it.
    """
    from ptyxanes.figures import valence_histogram as fn

    v = np.asarray(values, float).ravel()
    w = None if weights is None else np.asarray(weights, float).ravel()
    ok = np.isfinite(v) & (np.isfinite(w) & (w > 0) if w is not None else True)
    v = v[ok]
    w = None if w is None else w[ok]
    if v.size == 0:
        return np.zeros(len(bins) - 1), {"mean": np.nan, "median": np.nan, "std": np.nan, "n": 0}
    counts, _edges = fn(v, weights=w, bins=len(bins) - 1,
                        value_range=(float(bins[0]), float(bins[-1])))
    return np.asarray(counts, float), _stats(v, w)


def weighted_median(v: NDArray[Any], w: NDArray[Any] | None) -> float:
    """Median of ``v`` with weights ``w`` (the value where the cumulative weight reaches half)."""
    if w is None:
        return float(np.median(v))
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _stats(v: NDArray[Any], w: NDArray[Any] | None) -> dict[str, float]:
    mean = float(np.average(v, weights=w))
    std = float(np.sqrt(np.average((v - mean) ** 2, weights=w)))
    return {"mean": mean, "median": weighted_median(v, w), "std": std, "n": float(v.size)}


