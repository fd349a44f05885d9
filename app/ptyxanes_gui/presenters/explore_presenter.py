"""Process ▸ Explore spectra: PCA and k-means of a sample's normalised spectra in a
worker, shown as result channels; a click on a cluster highlights its pixels."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QInputDialog

from ptyxanes_gui.document import Document, Sample

logger = logging.getLogger(__name__)


class ExplorePresenter(QObject):
    """Run the spectral exploration and show its channels.

    Parameters
    ----------
    window : MainWindow
        The current sample, its re-selection, dialogs, errors and the worker runner.
    document : Document
    image : ImagePresenter
        Gets the score and cluster channels.
    histogram : HistogramPresenter
        Owns the highlighted pixels.

    Signals
    -------
    explored(object) : the Sample whose channels were added and shown
    """

    explored = Signal(object)

    def __init__(self, window: Any, document: Document, image: Any, histogram: Any) -> None:
        super().__init__(window)
        self.window = window
        self.document = document
        self.image = image
        self.histogram = histogram

    def explore_dialog(self) -> None:
        """Ask for the number of components and clusters, then explore the current sample."""
        w = self.window
        s = w.current_sample()
        if s is None or s.stack is None:
            w.show_error("Explore", "Open a sample with an energy stack first.")
            return
        k, ok = QInputDialog.getInt(w, "Explore spectra", "Principal components", 4, 1, 12)
        if not ok:
            return
        c, ok = QInputDialog.getInt(w, "Explore spectra", "k-means clusters", 3, 1, 12)
        if ok:
            self.run_explore(k, c)

    def run_explore(self, n_components: int = 4, n_clusters: int = 3, seed: int = 0):
        """PCA and k-means of the current sample's normalised spectra in a worker; the score
        maps (``pca_score_<k>``) and the cluster map (``clusters``) become result channels
        of that sample; ``explored`` fires when they are shown.

        Returns
        -------
        worker : superqt worker or None
        """
        from ptyxanes_gui.presenters.paper_figures import explore_job

        s = self.window.current_sample()
        if s is None or s.stack is None or np.ndim(s.stack.data) != 3:
            self.window.show_error("Explore",
                                   "The current sample has no energy stack (E, M, N).")
            return None
        stack = s.stack
        energy, data, kind = np.asarray(stack.energy, float), stack.data, stack.kind

        def gen(control):
            return explore_job(energy, data, kind, n_components, n_clusters, seed, control)

        def done(res) -> None:
            self._show(s, res, {"pca": n_components, "clusters": n_clusters, "seed": seed})
        return self.window.tasks.generator(f"Exploring the spectra of {s.name}", gen, done)

    def _show(self, s: Sample, res: Any, params: dict[str, Any]) -> None:
        for key in [k for k in s.maps if k.startswith("pca_score_")]:
            del s.maps[key]  # an earlier run with more components
        for k in range(res.scores.shape[-1]):
            key = f"pca_score_{k + 1}"
            s.maps[key] = res.scores[..., k]
            self.image.add_channel(key, f"PC{k + 1} score ({100 * res.explained[k]:.0f} %)")
        s.maps["clusters"] = np.where(res.clusters > 0, res.clusters, np.nan).astype(np.float32)
        s.labels["clusters"] = res.clusters
        self.image.add_channel("clusters", "k-means clusters")
        s.parameters["explore"] = dict(params)
        self.document.changed(s)
        logger.info("explore %s: %d spectra; PCA explained %s; %d clusters of %s pixels",
                    s.name, res.n_spectra,
                    ", ".join(f"{100 * r:.1f} %" for r in res.explained),
                    int(res.clusters.max()),
                    ", ".join(str(int(n)) for n in np.bincount(res.clusters.ravel())[1:]))
        w = self.window
        if s is w.current_sample():
            w.select_sample(w.current)
            self.image.panel.set_channel("clusters")
        w.statusBar().showMessage(
            f"{s.name}: PCA scores and clusters added as channels (click a cluster to "
            "highlight its pixels)", 10000)
        self.explored.emit(s)

    def highlight_cluster(self, row: int, col: int) -> None:
        """On the cluster channel, a click highlights every pixel of the clicked cluster."""
        s = self.window.current_sample()
        if s is None or s.stack is None:
            return
        lab = s.labels.get("clusters")
        if self.image.panel.current_channel() != "clusters" or lab is None:
            return
        lab = np.asarray(lab)
        if not (0 <= row < lab.shape[0] and 0 <= col < lab.shape[1]):
            return
        k = int(lab[row, col])
        self.histogram.set_highlight(lab == k if k > 0 else None)
        if k > 0:
            self.window.statusBar().showMessage(
                f"cluster {k}: {int(np.count_nonzero(lab == k))} pixels highlighted", 5000)
