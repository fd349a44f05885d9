"""Shared-shape edge fit: one three-Gaussian shape per map, shifted and scaled per pixel.

The free fit (:func:`ptyxanes.xanes.model.fit_batch`) gives every pixel its own
nine (or twelve) parameters. On noisy, thin samples most of the noise then goes
into the widths and amplitudes, which are strongly correlated with the edge
position. The shared-shape fit keeps the three-Gaussian shape ``T`` of the map's
Ni-weighted mean spectrum (fitted once, freely) and fits per pixel only

.. math::

    y(E) = a \\, T(E - s) + b + c \\, (E - \\bar E) / 10\\,\\mathrm{eV}

with the edge shift ``s`` (eV), a scale ``a`` (edge-jump normalisation error)
and a baseline line ``b + c x`` (the error of the pre-edge line, which is
extrapolated from three energies 25–70 eV below the window; inside the window
its offset and tilt are measured by the flat pre-edge part and the post-edge
part instead). Any linear error of the normalisation is thereby absorbed, so
the pre-edge noise does not bias the shift. The pixel's edge is the shape's
edge moved by ``s``: ``E_edge = E_T + s``, where ``E_T`` is the template's edge
by the chosen definition (half height of the first main peak above the
baseline ``b`` for ``halfheight``). References are fitted with the same
template, so the calibration compares like with like.

The solver searches a grid of shifts (``a``, ``b``, ``c`` are linear and
solved exactly at each) and refines with Levenberg–Marquardt (4×4 normal
equations), compiled with numba and run over all spectra of a chunk in
parallel: no Python loop over pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

from ptyxanes.xanes import model as mdl

#: float64 array of the compiled kernels
_A = NDArray[np.float64]

logger = logging.getLogger(__name__)

#: Largest edge shift from the template accepted as a fit (eV).
MAX_SHIFT_EV: float = 12.0
#: Accepted range of the scale ``a`` (normalised spectra have ``a`` close to 1; far
#: outside, the spectrum does not look like the map's edge at all).
SCALE_RANGE: tuple[float, float] = (0.2, 5.0)


def shape_and_slope(x: NDArray[np.float64], params: NDArray[np.float64]
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The template shape and its energy derivative at arbitrary energies.

    Parameters
    ----------
    x : ndarray of any shape
        Energies, eV.
    params : ndarray of shape (9,) or (12,)
        Edge-model parameters (see :mod:`ptyxanes.xanes.model`).

    Returns
    -------
    f, dfdx : ndarray of the shape of ``x``

    Examples
    --------
    >>> p = np.array([1.0, 8340.0, 2.0, 0.0, 8350.0, 2.0, 0.0, 8360.0, 2.0])
    >>> f, d = shape_and_slope(np.array([8340.0]), p)
    >>> float(f[0]), float(d[0])
    (1.0, 0.0)
    """
    p = np.ascontiguousarray(params, np.float64)
    x = np.asarray(x, np.float64)
    flat = np.ascontiguousarray(x.ravel())
    f = np.empty_like(flat)
    d = np.empty_like(flat)
    _eval_shape(flat, p, p.size == 12, 0.0, f, d)
    return f.reshape(x.shape), d.reshape(x.shape)


@dataclass(frozen=True)
class ShapeFit:
    """Per-spectrum results of :func:`fit_shift` (arrays of shape (N,)).

    Parameters
    ----------
    shift, shift_sigma : ndarray
        Edge shift from the template and its 1σ, eV.
    scale, offset, tilt : ndarray
        ``a``, ``b`` and ``c`` of the model (``c`` per 10 eV).
    r2 : ndarray
        Coefficient of determination in the window.
    s2 : ndarray
        Residual variance (4 parameters fitted).
    ok : ndarray of bool
        Converged, scale inside :data:`SCALE_RANGE`, shift within ±:data:`MAX_SHIFT_EV`.
    residuals : ndarray of shape (N, E)
        Model minus data in the window.
    """

    shift: NDArray[np.float64]
    shift_sigma: NDArray[np.float64]
    scale: NDArray[np.float64]
    offset: NDArray[np.float64]
    tilt: NDArray[np.float64]
    r2: NDArray[np.float64]
    s2: NDArray[np.float64]
    ok: NDArray[np.bool_]
    residuals: NDArray[np.float64]


def _tilt_axis(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return (x - x.mean()) / 10.0


def baseline(x: NDArray[np.float64], offset: float, tilt: float) -> NDArray[np.float64]:
    """The fitted baseline ``b + c (E - mean E) / 10 eV`` on energies ``x`` of the window.

    Parameters
    ----------
    x : ndarray of shape (F,)
        Energies spanning the fit window (its mean defines the tilt's origin).
    offset, tilt : float
        ``b`` and ``c`` of :class:`ShapeFit`.

    Returns
    -------
    line : ndarray of shape (F,)
    """
    return offset + tilt * _tilt_axis(np.asarray(x, np.float64))


@nb.njit(cache=True, nogil=True)
def _eval_shape(x: _A, tp: _A, step: bool, s: float, f: _A, d: _A) -> None:  # pragma: no cover - compiled
    """Template values ``f`` and slopes ``d`` at ``x - s`` (the edge model's own kernel)."""
    for i in range(x.size):
        fv, dv, _ = mdl._f_d1_d2(x[i] - s, tp, step)
        f[i] = fv
        d[i] = dv


@nb.njit(cache=True, nogil=True)
def _linear_abc(f: _A, xc: _A, y: _A, a3: _A, g3: _A, sol: _A, lw: _A, yw: _A
                ) -> float:  # pragma: no cover - compiled
    """Least squares of y ~ a f + b + c xc for fixed shape values; returns the cost."""
    n = y.size
    for j in range(3):
        g3[j] = 0.0
        for q in range(3):
            a3[j, q] = 0.0
    for i in range(n):
        v0 = f[i]
        v2 = xc[i]
        a3[0, 0] += v0 * v0
        a3[0, 1] += v0
        a3[0, 2] += v0 * v2
        a3[1, 1] += 1.0
        a3[1, 2] += v2
        a3[2, 2] += v2 * v2
        g3[0] += v0 * y[i]
        g3[1] += y[i]
        g3[2] += v2 * y[i]
    a3[1, 0] = a3[0, 1]
    a3[2, 0] = a3[0, 2]
    a3[2, 1] = a3[1, 2]
    for j in range(3):
        a3[j, j] += 1e-12
    if not mdl._cholesky_solve(a3, g3, sol, lw, yw):
        return np.inf
    cost = 0.0
    for i in range(n):
        r = sol[0] * f[i] + sol[1] + sol[2] * xc[i] - y[i]
        cost += r * r
    return cost


@nb.njit(cache=True, nogil=True)
def _model4(f: _A, xc: _A, p: _A, y: _A, mv: _A) -> float:  # pragma: no cover - compiled
    """Model values a f + b + c xc into ``mv``; returns the sum of squared residuals."""
    cost = 0.0
    for i in range(f.size):
        mv[i] = p[0] * f[i] + p[1] + p[2] * xc[i]
        r = mv[i] - y[i]
        cost += r * r
    return cost


@nb.njit(cache=True, nogil=True)
def _jacobian4(f: _A, d: _A, xc: _A, p: _A, jac: _A) -> None:  # pragma: no cover - compiled
    """Transposed Jacobian (4, n) of a T(E - s) + b + c xc in (a, b, c, s)."""
    for i in range(f.size):
        jac[0, i] = f[i]
        jac[1, i] = 1.0
        jac[2, i] = xc[i]
        jac[3, i] = -p[0] * d[i]


@nb.njit(cache=True, nogil=True)
def _fit_one(x: _A, y: _A, tp: _A, step: bool, xc: _A, grid: _A, tab: _A, t0: float,
             th: float, max_iter: int, tol: float, pre_map: _A, out: _A,
             res: _A) -> None:  # pragma: no cover - compiled
    """Fit one spectrum: grid search of the shift (linear a, b, c at each), then LM.

    ``tab`` holds the template at ``t0 + th * k`` (linear interpolation for the grid)."""
    n = x.size
    for j in range(out.size):
        out[j] = np.nan
    for i in range(n):
        res[i] = np.nan
        if not np.isfinite(y[i]):
            return
    f = np.empty(n)
    d = np.empty(n)
    a3 = np.empty((3, 3))
    g3 = np.empty(3)
    sol = np.empty(3)
    lw3 = np.empty((3, 3))
    yw3 = np.empty(3)
    best = np.inf
    p = np.zeros(4)
    for gi in range(grid.size):
        for i in range(n):
            u = (x[i] - grid[gi] - t0) / th
            k = int(u)
            k = min(max(k, 0), tab.size - 2)
            fr = u - k
            f[i] = tab[k] * (1.0 - fr) + tab[k + 1] * fr
        c = _linear_abc(f, xc, y, a3, g3, sol, lw3, yw3)
        if c < best and sol[0] > 0.0:
            best = c
            p[0] = sol[0]
            p[1] = sol[1]
            p[2] = sol[2]
            p[3] = grid[gi]
    if not np.isfinite(best):
        return
    # Levenberg-Marquardt on (a, b, c, s); the Jacobian is stored transposed (4, n)
    jac = np.empty((4, n))
    mv = np.empty(n)
    am = np.empty((4, 4))
    amat = np.empty((4, 4))
    g = np.empty(4)
    dp = np.empty(4)
    lw = np.empty((4, 4))
    yw = np.empty(4)
    pt = np.empty(4)
    _eval_shape(x, tp, step, p[3], f, d)
    cost = _model4(f, xc, p, y, mv)
    lam = 1e-3
    converged = False
    for _ in range(max_iter):
        _jacobian4(f, d, xc, p, jac)
        mdl._normal_eq(jac, mv, y, amat, g)
        for j in range(4):
            g[j] = -g[j]
        improved = False
        for _t in range(10):
            for j in range(4):
                for q in range(4):
                    am[j, q] = amat[j, q]
                am[j, j] = amat[j, j] * (1.0 + lam) + 1e-12
            if not mdl._cholesky_solve(am, g, dp, lw, yw):
                lam *= 10.0
                continue
            dp[3] = min(max(dp[3], -2.0), 2.0)
            for j in range(4):
                pt[j] = p[j] + dp[j]
            _eval_shape(x, tp, step, pt[3], f, d)
            ct = _model4(f, xc, pt, y, res)  # res: scratch here
            if ct <= cost:
                for j in range(4):
                    p[j] = pt[j]
                cost = ct
                lam = max(lam * 0.3, 1e-9)
                improved = True
                break
            lam *= 10.0
        if not improved:
            _eval_shape(x, tp, step, p[3], f, d)  # f, d hold a rejected trial
        _model4(f, xc, p, y, mv)
        if not improved or abs(dp[3]) < tol:
            converged = True
            break
    for i in range(n):
        res[i] = mv[i] - y[i]
    # uncertainty at the solution
    _jacobian4(f, d, xc, p, jac)
    mdl._normal_eq(jac, mv, y, amat, g)
    for j in range(4):
        amat[j, j] += 1e-12
    es = np.zeros(4)
    es[3] = 1.0
    z = np.empty(4)
    ymean = 0.0
    for i in range(n):
        ymean += y[i]
    ymean /= n
    sst = 0.0
    for i in range(n):
        sst += (y[i] - ymean) ** 2
    s2 = cost / max(n - 4, 1)
    out[0] = p[0]
    out[1] = p[1]
    out[2] = p[2]
    out[3] = p[3]
    out[5] = 1.0 - cost / sst if sst > 0 else np.nan
    out[6] = s2
    out[7] = 1.0 if converged else 0.0
    if mdl._cholesky_solve(amat, es, z, lw, yw):
        var = z[3]
        for q in range(pre_map.shape[1]):
            v = 0.0
            for i in range(n):
                dk = 0.0
                for j in range(4):
                    dk += jac[j, i] * z[j]
                v += pre_map[i, q] * dk
            var += v * v
        out[4] = math.sqrt(max(var * s2, 0.0))


@nb.njit(parallel=True, cache=True)
def _fit_batch(x: _A, ys: _A, tp: _A, step: bool, xc: _A, grid: _A, tab: _A, t0: float,
               th: float, max_iter: int, tol: float, pre_map: _A, out: _A,
               res: _A) -> None:  # pragma: no cover - compiled
    for i in nb.prange(ys.shape[0]):
        _fit_one(x, ys[i], tp, step, xc, grid, tab, t0, th, max_iter, tol, pre_map, out[i],
                 res[i])


@nb.njit(cache=True)
def _fit_serial(x: _A, ys: _A, tp: _A, step: bool, xc: _A, grid: _A, tab: _A, t0: float,
                th: float, max_iter: int, tol: float, pre_map: _A, out: _A,
                res: _A) -> None:  # pragma: no cover - compiled
    for i in range(ys.shape[0]):
        _fit_one(x, ys[i], tp, step, xc, grid, tab, t0, th, max_iter, tol, pre_map, out[i],
                 res[i])


def fit_shift(
    energy: NDArray[np.float64],
    spectra: NDArray[np.float64],
    template: NDArray[np.float64],
    *,
    pre_map: NDArray[np.float64] | None = None,
    max_iter: int = 40,
    tol: float = 1e-5,
    grid_step: float = 0.5,
) -> ShapeFit:
    """Fit ``a T(E - s) + b + c (E - mean E) / 10 eV`` to many normalised spectra at once.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        Energies of the fit window, eV.
    spectra : ndarray of shape (N, E)
        Normalised spectra on ``energy``; rows with NaN come back not ok.
    template : ndarray of shape (9,) or (12,)
        Edge-model parameters of the shape ``T``.
    pre_map : ndarray of shape (E, Q), optional
        Linear map from the Q pre-edge points to the pre-edge line at
        ``energy``: their noise enters ``shift_sigma``.
    max_iter : int, optional
        Levenberg–Marquardt iterations at most.
    tol : float, optional
        Stop when a step changes the shift by less than this (eV).
    grid_step : float, optional
        Spacing of the shift grid searched first (eV; ``a``, ``b``, ``c`` are
        linear and solved exactly at each grid shift), so the refinement
        starts in the global minimum even for sparse energies.

    Returns
    -------
    fit : ShapeFit

    Notes
    -----
    ``shift_sigma`` is the Gauss–Newton 1σ: ``sqrt(s2 (C_ss + |M^T k|^2))``
    with ``C = (J^T J)^-1``, ``k = J C e_s`` the shift's sensitivity to each
    fitted point, ``M`` = ``pre_map`` and ``s2`` the residual variance. As the
    baseline line is fitted, ``M^T k`` vanishes for a linear pre-edge: the
    normalisation's noise is absorbed (the term is kept for other maps).
    Compiled with numba and run over the spectra in parallel (``prange``).

    Examples
    --------
    >>> e = np.arange(8325.0, 8371.0)
    >>> t = np.array([1.2, 8347.0, 3.0, 0.4, 8340.0, 4.0, 0.9, 8375.0, 20.0])
    >>> y = 0.9 * shape_and_slope(e - 1.5, t)[0] + 0.02 + 0.001 * (e - 8340.0)
    >>> r = fit_shift(e, y[None], t)
    >>> round(float(r.shift[0]), 4), bool(r.ok[0])
    (1.5, True)
    """
    x = np.ascontiguousarray(energy, np.float64)
    ys = np.ascontiguousarray(spectra, np.float64)
    tp = np.ascontiguousarray(template, np.float64)
    n = ys.shape[0]
    xc = _tilt_axis(x)
    grid = np.arange(-MAX_SHIFT_EV, MAX_SHIFT_EV + 0.5 * grid_step, grid_step)
    pm = np.zeros((x.size, 0)) if pre_map is None else np.ascontiguousarray(pre_map, np.float64)
    out = np.empty((n, 8))
    res = np.empty((n, x.size))
    kern = _fit_batch if n > 1 else _fit_serial
    th = 0.02  # eV: table of the template for the grid search (interpolation error < 1e-3)
    t0 = float(x[0] - MAX_SHIFT_EV - 1.0)
    tab = shape_and_slope(t0 + th * np.arange(int((x[-1] - x[0] + 2 * MAX_SHIFT_EV + 2) / th) + 2,
                                                    dtype=np.float64),
                          tp)[0]
    kern(x, ys, tp, tp.size == 12, xc, grid, tab, t0, th, int(max_iter), float(tol), pm, out,
         res)
    a, s, sig = out[:, 0], out[:, 3], out[:, 4]
    with np.errstate(invalid="ignore"):
        ok = ((out[:, 7] == 1.0) & (a > SCALE_RANGE[0]) & (a < SCALE_RANGE[1])
              & (np.abs(s) <= MAX_SHIFT_EV) & np.isfinite(sig))
    return ShapeFit(shift=s, shift_sigma=sig, scale=a, offset=out[:, 1], tilt=out[:, 2],
                    r2=out[:, 5], s2=out[:, 6], ok=ok, residuals=res)


def shifted_params(template: NDArray[np.float64], shift: float, scale: float
                   ) -> NDArray[np.float64]:
    """Edge-model parameters of ``scale * T(E - shift)`` (the offset is not a parameter).

    Parameters
    ----------
    template : ndarray of shape (9,) or (12,)
    shift : float
        eV.
    scale : float

    Returns
    -------
    params : ndarray of the template's shape

    Examples
    --------
    >>> shifted_params(np.array([1.0, 8340.0, 2.0] * 3), 1.0, 2.0)[:3].tolist()
    [2.0, 8341.0, 2.0]
    """
    p = np.array(template, np.float64)
    for j in range(0, 9, 3):
        p[j] *= scale
        p[j + 1] += shift
    if p.size == 12:
        p[9] *= scale
        p[10] += shift
    return p
