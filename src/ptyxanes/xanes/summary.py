"""Summaries of valence maps: Ni-weighted histograms, statistics, region-averaged spectra."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValenceSummary:
    """Ni-weighted valence statistics of a region.

    Parameters
    ----------
    counts : ndarray of shape (B,)
        Histogram of valence weighted by the edge jump (Ni amount), normalised
        to sum 1.
    edges : ndarray of shape (B + 1,)
        Bin edges (valence).
    mean, median, std : float
        Ni-weighted mean, weighted median and weighted standard deviation.
    n_pixels : int
        Pixels used (finite valence inside the region).
    ni_amount : float
        Sum of the weights (edge jumps).
    """

    counts: NDArray[np.float64]
    edges: NDArray[np.float64]
    mean: float
    median: float
    std: float
    n_pixels: int
    ni_amount: float


def valence_summary(
    valence: ArrayLike,
    edge_jump: ArrayLike,
    region: ArrayLike | None = None,
    *,
    bins: int | ArrayLike = 60,
    valence_range: tuple[float, float] = (1.5, 4.0),
) -> ValenceSummary:
    """Histogram and statistics of valence weighted by Ni amount (edge jump).

    Parameters
    ----------
    valence : array_like of shape (...)
        Valence map (NaN where not fitted).
    edge_jump : array_like of shape (...)
        Edge-jump map (Ni amount per pixel).
    region : array_like of bool, optional
        Pixels to include (a mask or a drawn region); all by default.
    bins : int or array_like, optional
        Number of bins or bin edges.
    valence_range : tuple of float, optional
        Histogram range when ``bins`` is an int.

    Returns
    -------
    summary : ValenceSummary

    Examples
    --------
    >>> s = valence_summary([2.0, 3.0, np.nan], [1.0, 3.0, 1.0])
    >>> s.mean, s.median, s.n_pixels
    (2.75, 3.0, 2)
    """
    v = np.asarray(valence, np.float64)
    w = np.asarray(edge_jump, np.float64)
    sel = np.isfinite(v) & np.isfinite(w) & (w > 0)
    if region is not None:
        sel &= np.asarray(region, bool)
    vv, ww = v[sel], w[sel]
    counts, edges = np.histogram(vv, bins=bins, range=valence_range, weights=ww)
    tot = float(ww.sum())
    if vv.size == 0:
        nan = float("nan")
        return ValenceSummary(counts.astype(np.float64), edges, nan, nan, nan, 0, 0.0)
    mean = float(np.sum(vv * ww) / tot)
    std = float(np.sqrt(np.sum(ww * (vv - mean) ** 2) / tot))
    order = np.argsort(vv)
    cw = np.cumsum(ww[order])
    median = float(vv[order][np.searchsorted(cw, 0.5 * tot)])
    return ValenceSummary(counts / tot, edges, mean, median, std, int(vv.size), tot)


def region_spectrum(
    energy: ArrayLike, data: Any, region: ArrayLike, *, kind: str = "absorption",
    energy_axis: int = 0, options: Any = None, calibration: Any = None,
) -> Any:
    """Average the spectra of a region and fit the mean.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    data : ndarray
        Stack ``(E, ...)`` (``energy_axis=0``) or spectra ``(..., E)``.
    region : array_like of bool
        Spatial selection.
    kind : {"absorption", "complex", "modulus"}, optional
        What ``data`` holds; transmission is averaged as absorption -ln|T|.
    energy_axis : {0, -1}, optional
    options : FitOptions, optional
    calibration : Calibration, optional

    Returns
    -------
    fit : SpectrumFit
        The fit of the region's mean absorption spectrum.

    Examples
    --------
    >>> from ptyxanes.simulate.spectra import normalized_mu
    >>> e = np.r_[8270., 8285., 8300., np.arange(8325., 8371.), 8400., 8420.]
    >>> stack = np.moveaxis(0.1 + 0.3 * normalized_mu(e, np.full((4, 4), 2.0)), -1, 0)
    >>> region_spectrum(e, stack, np.ones((4, 4), bool)).status
    0
    """
    from ptyxanes.xanes.absorption import to_absorption
    from ptyxanes.xanes.batch import fit_spectrum

    arr = np.asarray(data)
    spectra = np.moveaxis(arr, 0, -1) if energy_axis == 0 else arr
    sel = np.asarray(region, bool)
    mu, st = to_absorption(spectra[sel], kind)
    good = st == 0
    mean = mu[good].mean(0) if good.any() else np.full(len(np.atleast_1d(energy)), np.nan)
    return fit_spectrum(energy, mean, options=options, calibration=calibration)
