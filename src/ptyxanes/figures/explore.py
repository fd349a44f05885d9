"""Summary figure of a spectral exploration: PCA, clusters and linear-combination maps."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.figures.valence import _new_figure, add_scalebar, nice_scalebar_length

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

    from ptyxanes.explore.cluster import ClusterResult
    from ptyxanes.explore.lcf import LCFResult
    from ptyxanes.explore.pca import PCAResult

logger = logging.getLogger(__name__)


def _plane(a: NDArray, plane: int | None) -> NDArray:
    """A 2D view: the map itself, or one plane of a volume (default the middle)."""
    a = np.asarray(a)
    if a.ndim == 3:
        return a[a.shape[0] // 2 if plane is None else plane]
    return a


def explore_figure(pca: PCAResult | None = None, clusters: ClusterResult | None = None,
                   lcf: LCFResult | None = None, *, pixel_size_m: float | None = None,
                   plane: int | None = None, n_scores: int = 3, title: str | None = None,
                   panel_size_in: float = 2.3) -> Figure:
    """One figure summarising PCA, clustering and linear-combination results.

    Rows (each only when its result is given): explained variance, component
    spectra and the first score maps; the cluster map and the cluster-mean
    spectra; the fraction map of each reference.

    Parameters
    ----------
    pca : PCAResult, optional
    clusters : ClusterResult, optional
    lcf : LCFResult, optional
    pixel_size_m : float, optional
        Pixel size, m, for the scale bars (none without it).
    plane : int, optional
        Plane of a volume to show (default the middle one).
    n_scores : int, optional
        Score maps shown.
    title : str, optional
    panel_size_in : float, optional
        Panel edge, inches.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Raises
    ------
    ValueError
        When no result is given.
    """
    from matplotlib.colors import ListedColormap

    rows = [r for r in (pca, clusters, lcf) if r is not None]
    if not rows:
        raise ValueError("nothing to draw: give a PCA, cluster or linear-combination result")
    n_sc = min(n_scores, pca.n_components) if pca is not None else 0
    ncols = max(2 + n_sc, 2, (len(lcf.names) if lcf is not None else 0))
    fig = _new_figure((panel_size_in * ncols, panel_size_in * len(rows) + (0.4 if title else 0)))
    grid = fig.add_gridspec(len(rows), ncols)
    tab10 = np.array([(0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17),
                      (0.84, 0.15, 0.16), (0.58, 0.4, 0.74), (0.55, 0.34, 0.29),
                      (0.89, 0.47, 0.76), (0.5, 0.5, 0.5), (0.74, 0.74, 0.13),
                      (0.09, 0.75, 0.81)])

    def image(ax: Axes, data: NDArray[Any], title_: str, **kw: Any) -> AxesImage:
        d = _plane(data, plane)
        im = ax.imshow(d, interpolation="nearest", **kw)
        ax.set_axis_off()
        ax.set_title(title_, fontsize=9)
        if pixel_size_m:
            add_scalebar(ax, nice_scalebar_length(d.shape[1] * pixel_size_m), pixel_size_m,
                         d.shape)
        return im

    r = 0
    if pca is not None:
        ax = fig.add_subplot(grid[r, 0])
        comp = np.arange(1, pca.n_components + 1)
        ax.bar(comp, 100 * pca.explained_variance_ratio, color="0.4")
        ax.plot(comp, 100 * np.cumsum(pca.explained_variance_ratio), "o-", color="C3", ms=3,
                label="cumulative")
        ax.set_xlabel("component", fontsize=8)
        ax.set_ylabel("explained variance (%)", fontsize=8)
        ax.set_ylim(0, 105)
        ax.legend(fontsize=7, frameon=False)
        ax.set_title("PCA: explained variance", fontsize=9)
        ax = fig.add_subplot(grid[r, 1])
        for i in range(n_sc):
            ax.plot(pca.energy, pca.components[i], lw=1.2, label=f"PC{i + 1}")
        ax.set_xlabel("energy (eV)", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
        ax.set_title("component spectra", fontsize=9)
        for i in range(n_sc):
            ax = fig.add_subplot(grid[r, 2 + i])
            s = pca.scores[..., i]
            lim = float(np.nanpercentile(np.abs(s), 99)) or 1.0
            im = image(ax, s, f"PC{i + 1} score", cmap="RdBu_r", vmin=-lim, vmax=lim)
            fig.colorbar(im, ax=ax, shrink=0.7, fraction=0.05)
        r += 1
    if clusters is not None:
        k = clusters.n_clusters
        cols = tab10[np.arange(k) % len(tab10)]
        cmap = ListedColormap(np.vstack([[1, 1, 1], cols]))
        ax = fig.add_subplot(grid[r, 0])
        image(ax, clusters.labels, f"k-means: {k} clusters", cmap=cmap, vmin=-0.5, vmax=k + 0.5)
        ax = fig.add_subplot(grid[r, 1:])
        for j in range(k):
            ax.plot(clusters.energy, clusters.mean_spectra[j], color=cols[j], lw=1.3,
                    label=f"cluster {j + 1} ({clusters.counts[j]} px)")
        ax.set_xlabel("energy (eV)", fontsize=8)
        ax.set_ylabel("normalised μ", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
        ax.set_title("cluster-mean spectra", fontsize=9)
        r += 1
    if lcf is not None:
        for i, name in enumerate(lcf.names):
            ax = fig.add_subplot(grid[r, i])
            im = image(ax, lcf.fractions[..., i], f"fraction of {name}", cmap="viridis",
                       vmin=0, vmax=1)
            fig.colorbar(im, ax=ax, shrink=0.7, fraction=0.05)
    if title:
        fig.suptitle(title)
    return fig
