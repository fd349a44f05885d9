"""The Histogram panel's presenter: valence distributions of the samples, their
weighted statistics, and the highlight of a dragged valence range."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


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


