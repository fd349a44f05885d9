"""Edge energies: robust single-spectrum fits, direct interpolation, linear combination."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ptyxanes.xanes import model as mdl

logger = logging.getLogger(__name__)

#: Starting shapes relative to the energy where the normalised data first reach 0.5:
#: (A, dc, s) per Gaussian, then (H, dc0, s0) of the optional step. T1 came from a fit
#: of the Ni2+ model spectrum, T2 is broader, T3 has a weak white line (metal-like).
TEMPLATES: tuple[tuple[float, ...], ...] = (
    (1.19, 7.0, 4.2, 0.06, -0.8, 1.5, 0.95, 23.5, 12.5, 0.45, 0.0, 1.5),
    (0.8, 8.0, 4.0, 0.3, 2.0, 3.0, 1.0, 25.0, 15.0, 0.5, 1.0, 3.0),
    (0.5, 3.0, 3.0, 0.5, 12.0, 5.0, 1.0, 25.0, 15.0, 0.7, 0.0, 2.0),
)


def half_step_crossing(energy: NDArray[np.float64], mu_norm: NDArray[np.float64]) -> NDArray[np.float64]:
    """Energy where normalised spectra first reach 0.5, by linear interpolation (vectorised).

    Parameters
    ----------
    energy : ndarray of shape (E,)
        Energies, eV.
    mu_norm : ndarray of shape (..., E)
        Normalised spectra.

    Returns
    -------
    e_half : ndarray of shape (...)
        eV; NaN where the spectrum never reaches 0.5 or starts above it.

    Examples
    --------
    >>> round(float(half_step_crossing(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.25, 1.0]))), 4)
    2.3333
    """
    y = np.asarray(mu_norm, np.float64)
    e = np.asarray(energy, np.float64)
    above = y >= 0.5
    i = np.argmax(above, axis=-1)
    ok = above.any(axis=-1) & (i > 0)
    i = np.clip(i, 1, e.size - 1)
    y1 = np.take_along_axis(y, i[..., None], -1)[..., 0]
    y0 = np.take_along_axis(y, (i - 1)[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        x = e[i - 1] + (0.5 - y0) / (y1 - y0) * (e[i] - e[i - 1])
    return np.where(ok, x, np.nan)


def detect_spikes(mu_norm: NDArray[np.float64], *, min_size: float = 0.3,
                  n_sigma: float = 8.0) -> NDArray[np.bool_]:
    """Flag spectra with a single-energy spike.

    A point is a spike when it differs from the mean of its two neighbours by
    more than ``min_size`` (normalised units) and by more than ``n_sigma``
    robust standard deviations of that difference over the spectrum.

    Parameters
    ----------
    mu_norm : ndarray of shape (..., E)
        Normalised spectra on a finely spaced window (1 eV steps or so).
    min_size : float, optional
        Smallest spike, normalised units.
    n_sigma : float, optional
        Robust significance.

    Returns
    -------
    spike : ndarray of shape (...), bool

    Examples
    --------
    >>> y = np.linspace(0, 1, 20)
    >>> z = y.copy(); z[7] += 0.6
    >>> detect_spikes(np.stack([y, z])).tolist()
    [False, True]
    """
    y = np.asarray(mu_norm, np.float64)
    d = y[..., 1:-1] - 0.5 * (y[..., :-2] + y[..., 2:])
    rob = 1.4826 * np.median(np.abs(d), axis=-1, keepdims=True) / np.sqrt(1.5)
    big = (np.abs(d) > min_size) & (np.abs(d) > n_sigma * rob)
    return big.any(axis=-1)


def residual_spikes(residuals: NDArray[np.float64], *, min_size: float = 0.3,
                    n_sigma: float = 8.0, isolation: float = 0.6) -> NDArray[np.bool_]:
    """Flag spectra with a single-energy spike against their fitted model.

    A spike is one energy whose residual (data minus fitted model) exceeds
    ``min_size`` normalised units and ``n_sigma`` robust standard deviations of
    the spectrum's residuals, and which stands alone: it differs from the mean
    residual of its two neighbours by more than ``isolation`` of itself. A white
    line the model follows leaves no such residual, and a feature the model misses
    (a real peak several energies wide) has neighbours that share it, so neither
    is a spike.

    Parameters
    ----------
    residuals : ndarray of shape (..., F)
        Data minus model in the fit window, normalised units; NaN rows give False.
    min_size : float, optional
        Smallest spike, normalised units.
    n_sigma : float, optional
        Robust significance.
    isolation : float, optional
        Fraction of the spike by which it must stand above its neighbours.

    Returns
    -------
    spike : ndarray of shape (...), bool

    Examples
    --------
    >>> r = np.random.default_rng(0).normal(0, 0.01, (3, 30))
    >>> r[1, 12] += 0.8  # a spike
    >>> r[2, 10:16] += 0.8  # a real feature the model missed: not a spike
    >>> residual_spikes(r).tolist()
    [False, True, False]
    """
    r = np.asarray(residuals, np.float64)
    if r.shape[-1] < 3:
        return np.zeros(r.shape[:-1], bool)
    with np.errstate(invalid="ignore"):
        med = np.median(r, axis=-1, keepdims=True)
        rob = 1.4826 * np.median(np.abs(r - med), axis=-1, keepdims=True)
        a = np.abs(r - med)
        big = (a > min_size) & (a > n_sigma * rob)
        nb = np.zeros_like(r)
        nb[..., 1:-1] = 0.5 * (r[..., :-2] + r[..., 2:])
        nb[..., 0] = r[..., 1]
        nb[..., -1] = r[..., -2]
        alone = np.abs(r - nb) > isolation * np.abs(r)
    return np.asarray((big & alone).any(axis=-1))


def direct_half_height(energy: NDArray[np.float64], mu_norm: NDArray[np.float64],
                       window: tuple[float, float] = (8325.0, 8370.0),
                       peak_fraction: float = 0.75) -> float:
    """Model-free half-height edge of one densely sampled normalised spectrum.

    The first local maximum reaching ``peak_fraction`` of the window maximum is
    the first main peak; the edge is where the data, linearly interpolated,
    last rise through half its height before that peak.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    mu_norm : ndarray of shape (E,)
        Normalised spectrum.
    window : tuple of float, optional
        Energy window searched, eV.
    peak_fraction : float, optional
        See above.

    Returns
    -------
    energy : float
        eV, NaN if not found.

    Examples
    --------
    >>> e = np.linspace(8320, 8370, 501)
    >>> y = np.exp(-0.5 * ((e - 8350) / 4) ** 2)
    >>> round(direct_half_height(e, y), 2)
    8345.29
    """
    sel = (energy >= window[0]) & (energy <= window[1])
    e, y = energy[sel], mu_norm[sel]
    top = np.nanmax(y)
    for i in range(1, y.size - 1):
        if y[i] >= peak_fraction * top and y[i] >= y[i - 1] and y[i] >= y[i + 1]:
            half = 0.5 * y[i]
            below = np.nonzero(y[:i] < half)[0]
            if below.size == 0:
                return float("nan")
            j = int(below[-1])
            return float(e[j] + (half - y[j]) / (y[j + 1] - y[j]) * (e[j + 1] - e[j]))
    return float("nan")


def template_starts(e_cross: NDArray[np.float64] | float, step: bool) -> NDArray[np.float64]:
    """Starting parameters from :data:`TEMPLATES` placed at a crossing energy.

    Parameters
    ----------
    e_cross : float or ndarray of shape (N,)
        Energy (eV) where the data first reach 0.5.
    step : bool
        Include the edge-step parameters.

    Returns
    -------
    p0 : ndarray of shape (T, N, P)
        One start per template.

    Examples
    --------
    >>> template_starts(8340.0, False).shape
    (3, 1, 9)
    """
    x = np.atleast_1d(np.asarray(e_cross, np.float64))
    m = mdl.n_params(step)
    out = np.empty((len(TEMPLATES), x.size, m))
    for t, tpl in enumerate(TEMPLATES):
        q = np.asarray(tpl[:m], np.float64)
        out[t] = q
        for j in (1, 4, 7) + ((10,) if step else ()):
            out[t, :, j] = x + q[j]
    return out


@dataclass(frozen=True)
class LcfResult:
    """Linear-combination fit against two references.

    Parameters
    ----------
    valence : ndarray of shape (...)
        Weighted valence ``(w_a v_a + w_b v_b) / (w_a + w_b)``.
    valence_sigma : ndarray of shape (...)
        1σ from the least-squares covariance.
    weights : ndarray of shape (..., 2)
        Weights of the two references.
    r2 : ndarray of shape (...)
        Coefficient of determination.
    """

    valence: NDArray[np.float64]
    valence_sigma: NDArray[np.float64]
    weights: NDArray[np.float64]
    r2: NDArray[np.float64]


def lcf(mu_norm: NDArray[np.float64], ref_a: NDArray[np.float64], ref_b: NDArray[np.float64],
        valence_a: float, valence_b: float) -> LcfResult:
    """Fit spectra as ``w_a ref_a + w_b ref_b`` (vectorised normal equations).

    Parameters
    ----------
    mu_norm : ndarray of shape (..., E)
        Normalised spectra in the fit window.
    ref_a, ref_b : ndarray of shape (E,)
        Normalised references on the same energies.
    valence_a, valence_b : float
        Their valences.

    Returns
    -------
    result : LcfResult

    Examples
    --------
    >>> a, b = np.array([0., 1., 2., 1.]), np.array([0., 0., 1., 2.])
    >>> r = lcf(0.25 * a + 0.75 * b + 0 * a, a, b, 2.0, 3.0)
    >>> round(float(r.valence), 3)
    2.75
    """
    y = np.asarray(mu_norm, np.float64)
    x = np.stack([ref_a, ref_b], axis=1)
    xtx_inv = np.linalg.inv(x.T @ x)
    w = y @ (x @ xtx_inv)
    res = y - w @ x.T
    n = y.shape[-1]
    s2 = (res**2).sum(-1) / max(n - 2, 1)
    tot = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (w[..., 0] * valence_a + w[..., 1] * valence_b) / tot
        # dv/dw_a = (v_a - v) / tot, dv/dw_b = (v_b - v) / tot
        g = np.stack([(valence_a - v) / tot, (valence_b - v) / tot], -1)
        var = s2 * np.einsum("...i,ij,...j->...", g, xtx_inv, g)
        sst = ((y - y.mean(-1, keepdims=True)) ** 2).sum(-1)
        r2 = 1 - (res**2).sum(-1) / sst
    return LcfResult(v, np.sqrt(np.maximum(var, 0)), w, r2)


@dataclass(frozen=True)
class LcfNResult:
    """Linear-combination fit against K references with an optional baseline.

    Parameters
    ----------
    valence : ndarray of shape (...)
        ``sum_k w_k v_k / sum_k w_k`` over the reference weights.
    valence_sigma : ndarray of shape (...)
        1σ from the least-squares covariance (residual variance scaled).
    weights : ndarray of shape (..., K)
        Reference weights.
    r2 : ndarray of shape (...)
        Coefficient of determination.
    s2 : ndarray of shape (...)
        Residual variance.
    residuals : ndarray of shape (..., E)
        Data minus model.
    """

    valence: NDArray[np.float64]
    valence_sigma: NDArray[np.float64]
    weights: NDArray[np.float64]
    r2: NDArray[np.float64]
    s2: NDArray[np.float64]
    residuals: NDArray[np.float64]


def lcf_n(mu_norm: NDArray[np.float64], refs: NDArray[np.float64], valences: NDArray[np.float64],
          energy: NDArray[np.float64] | None = None, baseline: int = 1) -> LcfNResult:
    """Fit spectra as ``sum_k w_k ref_k + b + c (E - mean E) / 10 eV`` (vectorised).

    The baseline absorbs a residual offset and slope of the normalisation (the
    same role it has in the shared-shape fit); the valence is the weighted mean
    of the reference valences.

    Parameters
    ----------
    mu_norm : ndarray of shape (..., E)
        Normalised spectra.
    refs : ndarray of shape (K, E)
        Normalised references on the same energies.
    valences : ndarray of shape (K,)
        Their valences.
    energy : ndarray of shape (E,), optional
        Energies (eV), needed for ``baseline=1``.
    baseline : {-1, 0, 1}, optional
        -1: none; 0: an offset; 1: an offset and a slope.

    Returns
    -------
    result : LcfNResult

    Examples
    --------
    >>> e = np.arange(10.0)
    >>> a, b = np.exp(-0.5 * (e - 4) ** 2), np.exp(-0.5 * (e - 6) ** 2)
    >>> r = lcf_n(0.25 * a + 0.75 * b + 0.1 + 0.01 * e, np.stack([a, b]), np.array([2., 3.]), e)
    >>> round(float(r.valence), 4)
    2.75
    """
    y = np.asarray(mu_norm, np.float64)
    k = refs.shape[0]
    cols = [np.asarray(r, np.float64) for r in refs]
    if baseline >= 0:
        cols.append(np.ones(y.shape[-1]))
    if baseline >= 1:
        if energy is None:
            raise ValueError("lcf_n with a sloped baseline needs the energies")
        ee = np.asarray(energy, np.float64)
        cols.append((ee - ee.mean()) / 10.0)
    x = np.stack(cols, axis=1)
    xtx_inv = np.linalg.pinv(x.T @ x)
    w = y @ (x @ xtx_inv)
    res = y - w @ x.T
    n = y.shape[-1]
    s2 = (res**2).sum(-1) / max(n - x.shape[1], 1)
    wr = w[..., :k]
    vals = np.asarray(valences, np.float64)
    tot = wr.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (wr * vals).sum(-1) / tot
        g = np.zeros(w.shape)
        g[..., :k] = (vals - v[..., None]) / tot[..., None]
        var = s2 * np.einsum("...i,ij,...j->...", g, xtx_inv, g)
        sst = ((y - y.mean(-1, keepdims=True)) ** 2).sum(-1)
        r2 = 1 - (res**2).sum(-1) / sst
    return LcfNResult(v, np.sqrt(np.maximum(var, 0)), wr, r2, s2, res)
