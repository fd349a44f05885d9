"""Pre-/post-edge normalisation of many spectra at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptyxanes.xanes.status import Status

logger = logging.getLogger(__name__)

#: Default pre-edge window, eV (the paper's 8270, 8285 and 8300 eV energies).
PRE_EDGE: tuple[float, float] = (8270.0, 8300.0)
#: Default post-edge window, eV (the paper's 8400 and 8420 eV energies).
POST_EDGE: tuple[float, float] = (8400.0, 8420.0)
#: Default energy at which the edge jump is measured, eV.
E0: float = 8345.0


@dataclass(frozen=True)
class Normalized:
    """Normalised spectra and what the normalisation found.

    Parameters
    ----------
    mu : ndarray of shape (..., E)
        ``(mu - pre(E)) / edge_jump``: pre-edge 0, post-edge about 1; NaN for
        spectra that could not be normalised.
    edge_jump : ndarray of shape (...)
        ``post(E0) - pre(E0)`` in the units of the input absorption.
    pre_coef : ndarray of shape (..., 2)
        (offset at E0, slope per eV) of the pre-edge line.
    post_coef : ndarray of shape (..., 2)
        (offset at E0, slope per eV) of the post-edge line (slope 0 if constant).
    status : ndarray of shape (...), uint8
        ``OK`` or ``NO_EDGE`` (jump not positive) or the input status.
    e0 : float
        Energy at which the jump is measured, eV.
    pre_variance_factor : float
        Variance of the pre-edge line at ``e0`` per unit noise variance,
        ``x0^T (X^T X)^-1 x0``; used to propagate the normalisation error.
    post_variance_factor : float
        The same for the post-edge line.
    """

    mu: NDArray[np.float64]
    edge_jump: NDArray[np.float64]
    pre_coef: NDArray[np.float64]
    post_coef: NDArray[np.float64]
    status: NDArray[np.uint8]
    e0: float
    pre_variance_factor: float
    post_variance_factor: float = 0.0
    pre_scatter: NDArray[np.float64] | None = None
    pre_dof: int = 0

    def noise(self) -> NDArray[np.float64]:
        """Noise of each spectrum (1σ per energy, input units) from the pre-edge scatter.

        With five or more degrees of freedom in the pre-edge window each spectrum
        has its own estimate (not below half of the map's pooled one); with fewer,
        the map's pooled estimate (median of the per-spectrum variances, corrected
        for the median of the χ² distribution) is used for all.

        Returns
        -------
        sigma : ndarray of shape (...)
            NaN where the pre-edge holds no degree of freedom.
        """
        shape = self.edge_jump.shape
        if self.pre_scatter is None or self.pre_dof < 1:
            return np.full(shape, np.nan)
        from scipy.stats import chi2

        v = self.pre_scatter**2
        ok = np.isfinite(v) & (self.status == Status.OK)
        if not ok.any():
            return np.full(shape, np.nan)
        pooled = float(np.sqrt(np.median(v[ok]) / (chi2.median(self.pre_dof) / self.pre_dof)))
        if self.pre_dof >= 5:
            return np.maximum(self.pre_scatter, 0.5 * pooled)
        return np.full(shape, pooled)

    def jump_significance(self) -> NDArray[np.float64]:
        """Edge jump over its 1σ implied by the pre-edge noise (see :meth:`noise`).

        Returns
        -------
        z : ndarray of shape (...)
            NaN where no noise estimate exists.

        Examples
        --------
        >>> e = np.r_[np.arange(8200.0, 8300.0, 5.0), 8340.0, np.arange(8400.0, 8421.0, 5.0)]
        >>> rng = np.random.default_rng(0)
        >>> mu = 0.1 + np.outer([0.0, 0.1], e > 8330) + rng.normal(0, 0.002, (2, e.size))
        >>> z = normalize(e, mu, post_order=0).jump_significance()
        >>> bool(abs(z[0]) < 4), bool(z[1] > 10)
        (True, True)
        """
        s = self.noise() * np.sqrt(self.pre_variance_factor + self.post_variance_factor)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.edge_jump / s


def _line_design(e: NDArray[np.float64], e0: float, order: int) -> NDArray[np.float64]:
    x = np.ones((e.size, 2))
    x[:, 1] = e - e0
    if order == 0:
        x[:, 1] = 0.0
    return x


def _fit_lines(
    y: NDArray[np.float64], e: NDArray[np.float64], e0: float, order: int
) -> tuple[NDArray[np.float64], float]:
    """Least-squares lines through the last axis of ``y``; returns coefficients and x0 factor."""
    order = order if e.size >= 2 else 0
    x = _line_design(e, e0, order)
    pinv = np.linalg.pinv(x)  # (2, n): works for the rank-1 constant design too
    coef = y @ pinv.T
    cov = pinv @ pinv.T
    return coef, float(cov[0, 0])


def pre_edge_map(energy: ArrayLike, fit_energy: ArrayLike, pre_edge: tuple[float, float] = PRE_EDGE,
                 e0: float = E0) -> NDArray[np.float64]:
    """Linear map from the pre-edge points to the pre-edge line at other energies.

    Parameters
    ----------
    energy : array_like of shape (E,)
        All energies, eV.
    fit_energy : array_like of shape (F,)
        Energies where the line is evaluated, eV.
    pre_edge : tuple of float, optional
        Pre-edge window, eV.
    e0 : float, optional
        Reference energy of the line, eV.

    Returns
    -------
    m : ndarray of shape (F, Q)
        ``pre(fit_energy) = m @ mu[pre-edge points]``.

    Examples
    --------
    >>> m = pre_edge_map([8270., 8300., 8340.], [8340.])
    >>> np.round(m, 3).tolist()
    [[-1.333, 2.333]]
    """
    e = np.asarray(energy, np.float64)
    sel = (e >= pre_edge[0]) & (e <= pre_edge[1])
    x = _line_design(e[sel], e0, 1 if sel.sum() >= 2 else 0)
    xf = _line_design(np.asarray(fit_energy, np.float64), e0, 1 if sel.sum() >= 2 else 0)
    return xf @ np.linalg.pinv(x)


def normalize(
    energy: ArrayLike,
    mu: ArrayLike,
    *,
    pre_edge: tuple[float, float] = PRE_EDGE,
    post_edge: tuple[float, float] = POST_EDGE,
    post_order: int = 1,
    e0: float = E0,
    status: NDArray[np.uint8] | None = None,
    normalization: str = "jump",
    window: tuple[float, float] | None = None,
) -> Normalized:
    """Normalise spectra by a pre-edge line and a post-edge line or constant.

    Parameters
    ----------
    energy : array_like of shape (E,)
        Energies, eV, increasing.
    mu : array_like of shape (..., E)
        Absorption spectra, energy last.
    pre_edge, post_edge : tuple of float, optional
        Inclusive energy windows (eV) of the pre-edge and post-edge fits.
    post_order : {0, 1}, optional
        1: a line through the post-edge energies; 0: a constant.
    e0 : float, optional
        Energy (eV) at which the edge jump ``post(e0) - pre(e0)`` is taken.
    status : ndarray of shape (...), optional
        Input status; spectra not ``OK`` stay as they are and become NaN.
    normalization : {"jump", "area"}, optional
        ``"jump"``: divide by the edge jump ``post(e0) - pre(e0)`` (K edges).
        ``"area"``: divide by the mean of ``mu - pre(E)`` over ``window``
        (overlapping L3/L2 edges, see :mod:`ptyxanes.xanes.edges`); the
        post-edge window is then not needed.
    window : tuple of float, optional
        Energy window of the ``"area"`` normalisation, eV (required for it).

    Returns
    -------
    result : Normalized

    Raises
    ------
    ValueError
        If a window holds no energy or ``post_order`` is not 0 or 1.

    Notes
    -----
    Pre-edge: ``pre(E) = a + b (E - e0)`` by least squares over the pre-edge
    energies (a constant if only one energy lies there). Post-edge: the same,
    or a constant. The normalised spectrum is ``(mu - pre(E)) / J`` with
    ``J = post(e0) - pre(e0)``; spectra with ``J <= 0`` (flat or inverted)
    get ``NO_EDGE``.

    Examples
    --------
    >>> e = np.array([8270., 8285., 8300., 8340., 8400., 8420.])
    >>> n = normalize(e, 0.1 + 0.5 * (e > 8330))
    >>> np.round(n.mu, 3).tolist() == [0, 0, 0, 1, 1, 1], round(float(n.edge_jump), 3)
    (True, 0.5)
    """
    if post_order not in (0, 1):
        raise ValueError(f"post_order must be 0 or 1, got {post_order}")
    if normalization not in ("jump", "area"):
        raise ValueError(f"normalization must be 'jump' or 'area', got {normalization!r}")
    if normalization == "area" and window is None:
        raise ValueError("the 'area' normalisation needs the edge window")
    e = np.asarray(energy, dtype=np.float64)
    y = np.asarray(mu, dtype=np.float64)
    pre_sel = (e >= pre_edge[0]) & (e <= pre_edge[1])
    post_sel = (e >= post_edge[0]) & (e <= post_edge[1])
    if not pre_sel.any():
        raise ValueError(f"no energy in the pre-edge window {pre_edge[0]:g}–{pre_edge[1]:g} eV "
                         f"(the data cover {e.min():g}–{e.max():g} eV)")
    if normalization == "area":
        post_sel = (e >= window[0]) & (e <= window[1])  # type: ignore[index]
    if not post_sel.any():
        raise ValueError(f"no energy in the post-edge window {post_edge[0]:g}–{post_edge[1]:g} eV "
                         f"(the data cover {e.min():g}–{e.max():g} eV)")
    st = np.zeros(y.shape[:-1], np.uint8) if status is None else np.array(status, np.uint8)
    if normalization == "area":
        # L2,3: the continuum step is a few % of the white lines, so the background is
        # the line through the pre-edge and post-edge points (the post-edge above L2);
        # a line through the few eV below L3 alone would be extrapolated across the
        # whole L3 + L2 window. Without post-edge points: a constant pre-edge level.
        post_pts = (e >= post_edge[0]) & (e <= post_edge[1])
        base_sel = pre_sel | post_pts if post_pts.sum() >= 2 else pre_sel
        pre_order = 1 if post_pts.sum() >= 2 else 0
    else:
        base_sel = pre_sel
        pre_order = 1
    pre_coef, pre_var = _fit_lines(y[..., base_sel], e[base_sel], e0, pre_order)
    n_pre = int(base_sel.sum())
    dof = n_pre - (pre_order + 1 if n_pre >= 2 else 1)
    scatter = None
    if dof >= 1:
        pre_fit = pre_coef[..., :1] + pre_coef[..., 1:] * (e[base_sel] - e0)
        scatter = np.sqrt(((y[..., base_sel] - pre_fit) ** 2).sum(-1) / dof)
    if normalization == "area":
        # mean absorption above the background line over the edge window
        em = float(e[post_sel].mean())
        mean_y = y[..., post_sel].mean(-1)
        post_coef = np.stack([mean_y, np.zeros_like(mean_y)], -1)
        x = _line_design(e[base_sel], e0, pre_order)
        xm = _line_design(np.array([em]), e0, pre_order)
        pre_var = float((xm @ np.linalg.pinv(x.T @ x) @ xm.T)[0, 0])
        post_var = 1.0 / int(post_sel.sum())
        jump = mean_y - (pre_coef[..., 0] + pre_coef[..., 1] * (em - e0))
    else:
        post_coef, post_var = _fit_lines(y[..., post_sel], e[post_sel], e0, post_order)
        jump = post_coef[..., 0] - pre_coef[..., 0]
    scale = np.abs(pre_coef[..., 0]) + np.abs(post_coef[..., 0])
    with np.errstate(invalid="ignore"):
        # a jump within rounding of the absorption level is no edge (flat spectrum)
        bad = ~(jump > 1e-9 * scale + 1e-300) & (st == Status.OK)
    st[bad] = Status.NO_EDGE
    pre_line = pre_coef[..., :1] + pre_coef[..., 1:] * (e - e0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (y - pre_line) / jump[..., None]
    out[st != Status.OK] = np.nan
    return Normalized(out, jump, pre_coef, post_coef, st, float(e0), pre_var, post_var,
                      scatter, max(dof, 0))
