"""k-means clustering of PCA scores: cluster maps and cluster-mean spectra."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.explore.pca import PCAResult
from ptyxanes.progress import Control, Progress, run_sync

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ClusterResult:
    """Clusters of the spectra of a map or volume.

    Parameters
    ----------
    labels : ndarray of shape (...), int32
        0 outside the mask, 1..K the cluster of each pixel; clusters are
        numbered by increasing first PCA score of their centre (for spectra
        that differ by an edge shift: by increasing edge energy or decreasing,
        following the sign of the first component).
    centres : ndarray of shape (K, C)
        Cluster centres in the space of the C scores used.
    mean_spectra : ndarray of shape (K, E)
        Mean normalised spectrum of each cluster.
    counts : ndarray of shape (K,)
        Pixels per cluster.
    inertia : float
        Sum of squared distances of the scores to their centres.
    energy : ndarray of shape (E,)
        eV.
    """

    labels: NDArray[np.int32]
    centres: NDArray[np.float64]
    mean_spectra: NDArray[np.float64]
    counts: NDArray[np.int64]
    inertia: float
    energy: NDArray[np.float64]

    @property
    def n_clusters(self) -> int:
        """K."""
        return int(self.centres.shape[0])

    def highlight(self, cluster: int) -> NDArray[np.bool_]:
        """Pixels of one cluster (1-based), for drawing a selection."""
        if not 1 <= int(cluster) <= self.n_clusters:
            raise ValueError(f"cluster must be between 1 and {self.n_clusters}; got {cluster}")
        return self.labels == int(cluster)


def _kmeans_pp(x: NDArray[np.float64], k: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """k-means++ seeding (Arthur & Vassilvitskii 2007)."""
    centres = [x[rng.integers(x.shape[0])]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        tot = d2.sum()
        i = rng.integers(x.shape[0]) if tot <= 0 else rng.choice(x.shape[0], p=d2 / tot)
        centres.append(x[i])
        d2 = np.minimum(d2, ((x - x[i]) ** 2).sum(1))
    return np.asarray(centres)


def _assign(x: NDArray[np.float64], c: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    d2 = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
    lab = np.argmin(d2, axis=1)
    return lab, np.maximum(d2[np.arange(x.shape[0]), lab], 0.0)


def kmeans_gen(
    pca_result: PCAResult,
    n_clusters: int,
    *,
    n_scores: int | None = None,
    spectra: NDArray[np.floating] | None = None,
    seed: int = 0,
    n_init: int = 4,
    max_iter: int = 100,
    control: Control | None = None,
) -> Generator[Progress, None, ClusterResult]:
    """k-means clustering of the PCA scores (generator yielding progress).

    Parameters
    ----------
    pca_result : PCAResult
        Scores and mask to cluster.
    n_clusters : int
        K, at least 1.
    n_scores : int, optional
        Leading scores used (default: all of ``pca_result``).
    spectra : ndarray of shape (..., E), optional
        The normalised spectra, for exact cluster-mean spectra; without them
        the means are rebuilt from the PCA (mean + centre · components).
    seed : int, optional
        Seed of the k-means++ initialisations.
    n_init : int, optional
        Initialisations tried; the one with the lowest inertia is kept.
    max_iter : int, optional
        Lloyd iterations per initialisation.
    control : Control, optional
        Cancellation, checked between iterations.

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : ClusterResult

    Raises
    ------
    ValueError
        For fewer pixels than clusters or a bad ``n_clusters`` / ``n_scores``.
    """
    ctl = control or Control()
    k = int(n_clusters)
    c_use = pca_result.n_components if n_scores is None else int(n_scores)
    if not 1 <= c_use <= pca_result.n_components:
        raise ValueError(f"n_scores must be between 1 and {pca_result.n_components}; got {n_scores}")
    mask = pca_result.mask
    x = np.asarray(pca_result.scores[mask][:, :c_use], np.float64)
    if k < 1 or x.shape[0] < k:
        raise ValueError(f"cannot make {k} clusters of {x.shape[0]} spectra")
    rng = np.random.default_rng(seed)
    best: tuple[float, NDArray[np.float64], NDArray[np.intp]] | None = None
    last = time.perf_counter()
    total = n_init * max_iter
    for run in range(max(1, int(n_init))):
        c = _kmeans_pp(x, k, rng)
        lab, d2 = _assign(x, c)
        for it in range(int(max_iter)):
            ctl.check()
            new = np.array([x[lab == j].mean(0) if np.any(lab == j) else x[rng.integers(x.shape[0])]
                            for j in range(k)])
            lab2, d2 = _assign(x, new)
            moved = float(np.abs(new - c).max())
            c = new
            if np.array_equal(lab2, lab) or moved == 0.0:
                lab = lab2
                break
            lab = lab2
            if time.perf_counter() - last > 0.3:
                last = time.perf_counter()
                yield Progress(run * max_iter + it + 1, total, "k-means", "explore")
        inertia = float(d2.sum())
        if best is None or inertia < best[0]:
            best = (inertia, c, lab)
    assert best is not None
    inertia, c, lab = best
    order = np.argsort(c[:, 0])
    rank = np.empty(k, np.intp)
    rank[order] = np.arange(k)
    lab = rank[lab]
    c = c[order]
    labels = np.zeros(mask.shape, np.int32)
    labels[mask] = lab + 1
    counts = np.bincount(lab, minlength=k).astype(np.int64)
    if spectra is not None:
        s = np.asarray(spectra, np.float64)[mask]
        means = np.array([s[lab == j].mean(0) if counts[j] else np.full(s.shape[1], np.nan)
                          for j in range(k)])
    else:
        full = np.zeros((k, pca_result.n_components))
        full[:, :c_use] = c
        means = pca_result.reconstruct(full)
    yield Progress(total, total, "k-means done", "explore")
    logger.info("k-means: %d clusters of %s pixels, inertia %.4g", k, counts.tolist(), inertia)
    return ClusterResult(labels, c, means, counts, inertia, pca_result.energy)


def kmeans(pca_result: PCAResult, n_clusters: int, **kw: Any) -> ClusterResult:
    """k-means clustering of the PCA scores (see :func:`kmeans_gen` for the options).

    Parameters
    ----------
    pca_result : PCAResult
    n_clusters : int
    **kw
        Options of :func:`kmeans_gen`.

    Returns
    -------
    result : ClusterResult

    Examples
    --------
    >>> from ptyxanes.explore.pca import pca
    >>> x = np.r_[np.zeros((20, 3)), np.ones((20, 3))][None]
    >>> r = kmeans(pca(x, 1), 2)
    >>> r.counts.tolist()
    [20, 20]
    """
    return run_sync(kmeans_gen(pca_result, n_clusters, **kw))

