"""The edge model (three Gaussians, optional edge step) and its batch least-squares solver.

The model of a normalised spectrum inside the fit window is

.. math::

    f(E) = \\sum_{k=1}^{3} A_k \\exp\\left(-\\frac{(E - c_k)^2}{2 s_k^2}\\right)
           \\; [+\\; H \\, \\Phi\\left(\\frac{E - c_0}{s_0}\\right)]

with :math:`\\Phi` the standard normal CDF (the optional edge step). The
parameters are ordered ``[A1, c1, s1, A2, c2, s2, A3, c3, s3 (, H, c0, s0)]``.

The solver is a projected Levenberg–Marquardt with the analytic Jacobian,
compiled with numba and run over all spectra of a chunk in parallel
(``prange``): no Python loop over pixels. Each spectrum costs a few
microseconds per iteration. The same compiled kernel fits one spectrum for
the GUI's pixel inspector.
"""

from __future__ import annotations

import logging
import math

import numba as nb
import numpy as np
from numpy.typing import NDArray

#: float64 array of the compiled kernels
_A = NDArray[np.float64]

logger = logging.getLogger(__name__)

N_GAUSS = 3
SQRT2 = math.sqrt(2.0)
SQRT2PI = math.sqrt(2.0 * math.pi)

#: Edge definitions computed from the fitted curve.
METHOD_CODES = {"halfheight": 0, "halfstep": 1, "deriv": 2}

# kernel flags
FLAG_OK = 0
FLAG_NOT_CONVERGED = 1
FLAG_NO_PEAK = 2
FLAG_NO_EDGE = 3
FLAG_SKIPPED = 4
FLAG_SPIKE = 5


def n_params(step: bool) -> int:
    """Number of model parameters: 9, or 12 with the edge step.

    Parameters
    ----------
    step : bool
        Whether the model includes the edge step.

    Returns
    -------
    n : int

    Examples
    --------
    >>> n_params(False), n_params(True)
    (9, 12)
    """
    return 3 * N_GAUSS + (3 if step else 0)


def model(energy: NDArray[np.float64], params: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate the edge model (numpy, any batch shape).

    Parameters
    ----------
    energy : ndarray of shape (E,)
        Energies, eV.
    params : ndarray of shape (..., 9) or (..., 12)
        Model parameters (see the module docstring); 12 includes the edge step.

    Returns
    -------
    f : ndarray of shape (..., E)
        Normalised absorption of the model.

    Examples
    --------
    >>> p = np.array([1.0, 8340.0, 2.0, 0.0, 8350.0, 2.0, 0.0, 8360.0, 2.0])
    >>> float(model(np.array([8340.0]), p)[0])
    1.0
    """
    from scipy.special import ndtr

    e = np.asarray(energy, np.float64)
    p = np.asarray(params, np.float64)
    f = np.zeros(p.shape[:-1] + e.shape)
    for k in range(N_GAUSS):
        a, c, s = (p[..., 3 * k + j, None] for j in range(3))
        f = f + a * np.exp(-0.5 * ((e - c) / s) ** 2)
    if p.shape[-1] == 12:
        h, c0, s0 = p[..., 9, None], p[..., 10, None], p[..., 11, None]
        f = f + h * ndtr((e - c0) / s0)
    return f


def components(energy: NDArray[np.float64], params: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate each model component separately.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        Energies, eV.
    params : ndarray of shape (9,) or (12,)
        Model parameters.

    Returns
    -------
    parts : ndarray of shape (3, E) or (4, E)
        The three Gaussians, then the edge step when present.

    Examples
    --------
    >>> p = np.array([1.0, 8340.0, 2.0, 0.5, 8350.0, 2.0, 0.2, 8360.0, 9.0])
    >>> components(np.array([8340.0, 8350.0]), p).shape
    (3, 2)
    """
    p = np.asarray(params, np.float64)
    out = []
    for k in range(N_GAUSS):
        q = np.zeros(9)
        q[3 * k : 3 * k + 3] = p[3 * k : 3 * k + 3]
        q[3 * ((k + 1) % 3) + 2] = q[3 * ((k + 2) % 3) + 2] = 1.0
        out.append(model(energy, q))
    if p.size == 12:
        q = np.zeros(12)
        q[2] = q[5] = q[8] = 1.0
        q[9:] = p[9:]
        out.append(model(energy, q))
    return np.array(out)


def default_bounds(
    window: tuple[float, float], step: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Parameter bounds of the edge model for a fit window.

    Parameters
    ----------
    window : tuple of float
        (low, high) energies of the fit window, eV.
    step : bool
        Include the edge-step parameters.

    Returns
    -------
    lower, upper : ndarray of shape (9,) or (12,)

    Notes
    -----
    Amplitudes ``A_k`` in [0, 4] (normalised units), centres ``c_k`` in
    [low - 10, high + 30] eV (the third Gaussian may sit beyond the window to
    carry the post-edge level), widths ``s_k`` in [0.5, 40] eV. Edge step:
    ``H`` in [0, 1.5], ``c0`` in [low, high], ``s0`` in [0.5, 15] eV.

    Examples
    --------
    >>> lo, hi = default_bounds((8325.0, 8370.0), False)
    >>> lo[:3].tolist(), hi[:3].tolist()
    ([0.0, 8315.0, 0.5], [4.0, 8400.0, 40.0])
    """
    lo_e, hi_e = float(window[0]), float(window[1])
    lo = [0.0, lo_e - 10.0, 0.5] * N_GAUSS
    hi = [4.0, hi_e + 30.0, 40.0] * N_GAUSS
    if step:
        lo += [0.0, lo_e, 0.5]
        hi += [1.5, hi_e, 15.0]
    return np.array(lo), np.array(hi)


# ----------------------------------------------------------------------------- numba kernels
@nb.njit(cache=True, nogil=True, fastmath=True)
def _eval_jac(e: _A, p: _A, step: bool, f: _A, jac: _A) -> None:  # pragma: no cover - compiled
    """Model values ``f`` (n,) and Jacobian ``jac`` stored transposed, (m, n)."""
    n = e.size
    for i in range(n):
        f[i] = 0.0
    for k in range(3):
        a = p[3 * k]
        c = p[3 * k + 1]
        s = p[3 * k + 2]
        inv = 1.0 / s
        for i in range(n):
            u = (e[i] - c) * inv
            g = math.exp(-0.5 * u * u)
            f[i] += a * g
            jac[3 * k, i] = g
            t = a * g * u * inv
            jac[3 * k + 1, i] = t
            jac[3 * k + 2, i] = t * u
    if step:
        h = p[9]
        c0 = p[10]
        s0 = p[11]
        for i in range(n):
            u = (e[i] - c0) / s0
            cdf = 0.5 * (1.0 + math.erf(u / SQRT2))
            pdf = math.exp(-0.5 * u * u) / SQRT2PI
            f[i] += h * cdf
            jac[9, i] = cdf
            jac[10, i] = -h * pdf / s0
            jac[11, i] = -h * pdf * u / s0


@nb.njit(cache=True, nogil=True, fastmath=True)
def _eval_f(e: _A, p: _A, step: bool, f: _A) -> None:  # pragma: no cover - compiled
    n = e.size
    for i in range(n):
        f[i] = 0.0
    for k in range(3):
        a = p[3 * k]
        c = p[3 * k + 1]
        inv = 1.0 / p[3 * k + 2]
        for i in range(n):
            u = (e[i] - c) * inv
            f[i] += a * math.exp(-0.5 * u * u)
    if step:
        h = p[9]
        c0 = p[10]
        s0 = p[11]
        for i in range(n):
            f[i] += h * 0.5 * (1.0 + math.erf((e[i] - c0) / (s0 * SQRT2)))


@nb.njit(cache=True, nogil=True)
def _f_d1_d2(x: float, p: _A, step: bool) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """Value, first and second energy derivatives of the model at one energy."""
    f = 0.0
    d1 = 0.0
    d2 = 0.0
    for k in range(3):
        a = p[3 * k]
        c = p[3 * k + 1]
        s = p[3 * k + 2]
        u = (x - c) / s
        g = a * math.exp(-0.5 * u * u)
        f += g
        d1 -= g * u / s
        d2 += g * (u * u - 1.0) / (s * s)
    if step:
        h = p[9]
        c0 = p[10]
        s0 = p[11]
        u = (x - c0) / s0
        pdf = math.exp(-0.5 * u * u) / SQRT2PI
        f += h * 0.5 * (1.0 + math.erf(u / SQRT2))
        d1 += h * pdf / s0
        d2 -= h * pdf * u / (s0 * s0)
    return f, d1, d2


@nb.njit(cache=True, nogil=True)
def _dfdp(x: float, p: _A, step: bool, out: _A) -> None:  # pragma: no cover - compiled
    for k in range(3):
        a = p[3 * k]
        c = p[3 * k + 1]
        s = p[3 * k + 2]
        u = (x - c) / s
        g = math.exp(-0.5 * u * u)
        out[3 * k] = g
        out[3 * k + 1] = a * g * u / s
        out[3 * k + 2] = a * g * u * u / s
    if step:
        h = p[9]
        s0 = p[11]
        u = (x - p[10]) / s0
        pdf = math.exp(-0.5 * u * u) / SQRT2PI
        out[9] = 0.5 * (1.0 + math.erf(u / SQRT2))
        out[10] = -h * pdf / s0
        out[11] = -h * pdf * u / s0


@nb.njit(cache=True, nogil=True)
def _cholesky_solve(a: _A, b: _A, x: _A, lmat: _A, y: _A) -> bool:  # pragma: no cover - compiled
    """Solve a x = b for symmetric positive definite a; ``lmat`` (m, m) and ``y`` (m,) are
    work space. False if a is not SPD."""
    m = b.size
    for j in range(m):
        d = a[j, j]
        for k in range(j):
            d -= lmat[j, k] * lmat[j, k]
        if not d > 1e-300:
            return False
        d = math.sqrt(d)
        lmat[j, j] = d
        for i in range(j):
            lmat[i, j] = 0.0
        for i in range(j + 1, m):
            v = a[i, j]
            for k in range(j):
                v -= lmat[i, k] * lmat[j, k]
            lmat[i, j] = v / d
    for i in range(m):
        v = b[i]
        for k in range(i):
            v -= lmat[i, k] * y[k]
        y[i] = v / lmat[i, i]
    for i in range(m - 1, -1, -1):
        v = y[i]
        for k in range(i + 1, m):
            v -= lmat[k, i] * x[k]
        x[i] = v / lmat[i, i]
    return True


@nb.njit(cache=True, nogil=True, fastmath=True)
def _normal_eq(jac: _A, f: _A, y: _A, a: _A, g: _A) -> None:  # pragma: no cover - compiled
    m, n = jac.shape
    for j in range(m):
        v = 0.0
        for i in range(n):
            v += jac[j, i] * (f[i] - y[i])
        g[j] = v
        for q in range(j + 1):
            v = 0.0
            for i in range(n):
                v += jac[j, i] * jac[q, i]
            a[j, q] = v
            a[q, j] = v


@nb.njit(cache=True, nogil=True)
def _lm(e: _A, y: _A, p0: _A, lo: _A, hi: _A, step: bool, max_iter: int,
        tol: float) -> tuple[_A, float, int, bool]:  # pragma: no cover - compiled
    """Projected Levenberg–Marquardt for one spectrum. Returns (p, cost, iterations, converged)."""
    n = e.size
    m = p0.size
    p = p0.copy()
    for j in range(m):
        p[j] = min(max(p[j], lo[j]), hi[j])
    f = np.empty(n)
    jac = np.empty((m, n))
    ft = np.empty(n)
    jt = np.empty((m, n))
    a = np.empty((m, m))
    g = np.empty(m)
    d = np.empty(m)
    am = np.empty((m, m))
    pt = np.empty(m)
    lw = np.empty((m, m))
    yw = np.empty(m)
    _eval_jac(e, p, step, f, jac)
    cost = 0.0
    for i in range(n):
        r = f[i] - y[i]
        cost += r * r
    lam = 1e-2
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - it is returned
        _normal_eq(jac, f, y, a, g)
        for j in range(m):
            g[j] = -g[j]
        improved = False
        for _ in range(12):
            for j in range(m):
                for q in range(m):
                    am[j, q] = a[j, q]
                am[j, j] = a[j, j] * (1.0 + lam) + 1e-12
            if not _cholesky_solve(am, g, d, lw, yw):
                lam *= 10.0
                continue
            for j in range(m):
                pt[j] = min(max(p[j] + d[j], lo[j]), hi[j])
            _eval_jac(e, pt, step, ft, jt)
            ct = 0.0
            for i in range(n):
                r = ft[i] - y[i]
                ct += r * r
            if ct < cost:
                rel = (cost - ct) / (cost + 1e-300)
                for j in range(m):
                    p[j] = pt[j]
                f, ft = ft, f
                jac, jt = jt, jac
                cost = ct
                lam = max(lam * 0.3, 1e-10)
                improved = True
                if rel < tol:
                    converged = True
                break
            lam *= 4.0
        if not improved:
            converged = True  # no descent direction left: a (projected) minimum
        if converged:
            break
    return p, cost, it, converged


@nb.njit(cache=True, nogil=True)
def _first_peak(p: _A, step: bool, elo: float, ehi: float, frac: float
                ) -> tuple[float, float]:  # pragma: no cover - compiled
    """Energy and height of the first main peak: the first local maximum above ``frac`` x max."""
    hstep = 0.5
    ng = int((ehi - elo) / hstep) + 1
    vals = np.empty(ng)
    gmax = -1e300
    for i in range(ng):
        x = elo + hstep * i
        v, _, _ = _f_d1_d2(x, p, step)
        vals[i] = v
        if v > gmax:
            gmax = v
    if not gmax > 0.0:
        return np.nan, np.nan
    for i in range(1, ng - 1):
        if vals[i] >= frac * gmax and vals[i] >= vals[i - 1] and vals[i] >= vals[i + 1]:
            x = elo + hstep * i
            for _ in range(8):  # Newton on f' = 0 inside the bracket
                _, d1, d2 = _f_d1_d2(x, p, step)
                if d2 >= 0.0:
                    break
                xn = x - d1 / d2
                xn = min(max(xn, elo + hstep * (i - 1)), elo + hstep * (i + 1))
                if abs(xn - x) < 1e-7:
                    x = xn
                    break
                x = xn
            v, _, _ = _f_d1_d2(x, p, step)
            return x, v
    return np.nan, np.nan


@nb.njit(cache=True, nogil=True)
def _rising_crossing(p: _A, step: bool, level: float, elo: float, xpk: float
                     ) -> float:  # pragma: no cover - compiled
    """Energy below ``xpk`` where the model rises through ``level`` (last crossing before the peak)."""
    x1 = xpk
    v1, _, _ = _f_d1_d2(x1, p, step)
    if not v1 > level:
        return np.nan
    x0 = x1
    found = False
    while x0 > elo:
        x0 = max(x0 - 0.25, elo)
        v0, _, _ = _f_d1_d2(x0, p, step)
        if v0 <= level:
            found = True
            break
        x1 = x0
        v1 = v0
    if not found:
        return np.nan
    # safeguarded Newton (bisection fallback) in [x0, x1]
    a = x0
    b = x1
    x = a + (level - v0) / (v1 - v0) * (b - a)
    for _ in range(30):
        v, d1, _ = _f_d1_d2(x, p, step)
        r = v - level
        if r > 0.0:
            b = x
        else:
            a = x
        if abs(r) < 1e-12:
            break
        xn = x - r / d1 if d1 > 0.0 else 0.5 * (a + b)
        if not (a < xn < b):
            xn = 0.5 * (a + b)
        if abs(xn - x) < 1e-9:
            x = xn
            break
        x = xn
    return x


@nb.njit(cache=True, nogil=True)
def _deriv_max(p: _A, step: bool, elo: float, xpk: float) -> float:  # pragma: no cover - compiled
    """Energy of the largest first derivative between ``elo`` and the first peak."""
    ng = int((xpk - elo) / 0.25) + 1
    if ng < 3:
        return np.nan
    best = -1e300
    ib = -1
    for i in range(ng):
        _, d1, _ = _f_d1_d2(elo + 0.25 * i, p, step)
        if d1 > best:
            best = d1
            ib = i
    if ib <= 0 or ib >= ng - 1:
        return np.nan
    x = elo + 0.25 * ib
    h = 0.25
    for _ in range(3):  # parabola through three derivative samples, shrinking
        _, dm, _ = _f_d1_d2(x - h, p, step)
        _, d0, _ = _f_d1_d2(x, p, step)
        _, dp, _ = _f_d1_d2(x + h, p, step)
        den = dm - 2.0 * d0 + dp
        if den < 0.0:
            x = x + 0.5 * h * (dm - dp) / den
        h *= 0.25
    return x


@nb.njit(cache=True, nogil=True)
def _edge(p: _A, step: bool, method: int, elo: float, ehi: float, frac: float
          ) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """(edge energy, peak energy, peak height) for one parameter vector."""
    xpk, hpk = _first_peak(p, step, elo, ehi, frac)
    if not np.isfinite(xpk):
        return np.nan, np.nan, np.nan
    if method == 0:
        xe = _rising_crossing(p, step, 0.5 * hpk, elo, xpk)
    elif method == 1:
        xe = _rising_crossing(p, step, 0.5, elo, xpk)
    else:
        xe = _deriv_max(p, step, elo, xpk)
    return xe, xpk, hpk


@nb.njit(cache=True, nogil=True)
def _fit_one(e: _A, y: _A, p0: _A, lo: _A, hi: _A, step: bool, method: int, max_iter: int,
             tol: float, frac: float, pre_map: _A, out_p: _A,
             out_f: _A) -> None:  # pragma: no cover - compiled
    """Fit one spectrum; fill ``out_p`` (params) and ``out_f`` (9 scalars, see _OUT)."""
    n = e.size
    m = p0.size
    for j in range(m):
        out_p[j] = np.nan
    for j in range(out_f.size):
        out_f[j] = np.nan
    for i in range(n):
        if not np.isfinite(y[i]):
            out_f[8] = FLAG_SKIPPED
            return
    p, cost, it, conv = _lm(e, y, p0, lo, hi, step, max_iter, tol)
    for j in range(m):
        out_p[j] = p[j]
    elo = e[0]
    ehi = e[n - 1]
    xe, xpk, hpk = _edge(p, step, method, elo, ehi, frac)
    ymean = 0.0
    for i in range(n):
        ymean += y[i]
    ymean /= n
    sst = 0.0
    for i in range(n):
        sst += (y[i] - ymean) ** 2
    dof = max(n - m, 1)
    s2 = cost / dof
    out_f[1] = cost
    out_f[2] = 1.0 - cost / sst if sst > 0 else np.nan
    out_f[3] = s2
    out_f[4] = xpk
    out_f[5] = hpk
    out_f[7] = it
    if not conv:
        out_f[8] = FLAG_NOT_CONVERGED
        return
    if not np.isfinite(xpk):
        out_f[8] = FLAG_NO_PEAK
        return
    if not np.isfinite(xe):
        out_f[8] = FLAG_NO_EDGE
        return
    out_f[0] = xe
    f = np.empty(n)
    jac = np.empty((m, n))
    _eval_jac(e, p, step, f, jac)
    # uncertainty: gradient of the edge energy w.r.t. the parameters, Gauss-Newton covariance
    grad = np.zeros(m)
    tmp = np.empty(m)
    if method == 0 or method == 1:
        _, d1e, _ = _f_d1_d2(xe, p, step)
        _dfdp(xe, p, step, tmp)
        if method == 0:
            _dfdp(xpk, p, step, grad)
            for j in range(m):
                grad[j] = (0.5 * grad[j] - tmp[j]) / d1e
        else:
            for j in range(m):
                grad[j] = -tmp[j] / d1e
    else:
        q = p.copy()
        for j in range(m):
            h = 1e-5 * max(abs(p[j]), 1.0)
            q[j] = p[j] + h
            xp_, _, _ = _edge(q, step, method, elo, ehi, frac)
            q[j] = p[j] - h
            xm_, _, _ = _edge(q, step, method, elo, ehi, frac)
            q[j] = p[j]
            grad[j] = (xp_ - xm_) / (2.0 * h)
    a = np.empty((m, m))
    _normal_eq(jac, f, y, a, tmp)
    for j in range(m):
        a[j, j] += 1e-12 * (1.0 + a[j, j])
    # parameters held at a bound are fixed (active constraints): no variance along them
    for j in range(m):
        if p[j] <= lo[j] or p[j] >= hi[j]:
            grad[j] = 0.0
            for jj in range(m):
                a[j, jj] = 0.0
                a[jj, j] = 0.0
            a[j, j] = 1.0
            for i in range(n):
                jac[j, i] = 0.0
    z = np.empty(m)
    if _cholesky_solve(a, grad, z, np.empty((m, m)), np.empty(m)):
        # k = J z is dE/dy (sensitivity to each fitted point); the pre-edge line
        # carries noise of the pre-edge points into every y: dE/dmu_pre = -M^T k.
        var = 0.0
        for j in range(m):
            var += grad[j] * z[j]
        k = np.zeros(n)
        for i in range(n):
            v = 0.0
            for j in range(m):
                v += jac[j, i] * z[j]
            k[i] = v
        for q_ in range(pre_map.shape[1]):
            v = 0.0
            for i in range(n):
                v += pre_map[i, q_] * k[i]
            var += v * v
        out_f[6] = math.sqrt(max(var * s2, 0.0))
    out_f[8] = FLAG_OK


#: Columns of the per-spectrum scalar output of the kernels.
_OUT = ("edge", "cost", "r2", "s2", "peak_energy", "peak_height", "edge_sigma", "iterations",
        "flag")


@nb.njit(parallel=True, cache=True)
def _fit_batch(e: _A, ys: _A, p0s: _A, lo: _A, hi: _A, step: bool, method: int,
               max_iter: int, tol: float, frac: float, pre_map: _A,
               out_p: _A, out_f: _A) -> None:  # pragma: no cover - compiled
    for i in nb.prange(ys.shape[0]):
        _fit_one(e, ys[i], p0s[i], lo, hi, step, method, max_iter, tol, frac, pre_map,
                 out_p[i], out_f[i])


@nb.njit(cache=True)
def _fit_batch_serial(e: _A, ys: _A, p0s: _A, lo: _A, hi: _A, step: bool, method: int,
                      max_iter: int, tol: float, frac: float, pre_map: _A,
                      out_p: _A, out_f: _A) -> None:  # pragma: no cover - compiled
    for i in range(ys.shape[0]):
        _fit_one(e, ys[i], p0s[i], lo, hi, step, method, max_iter, tol, frac, pre_map,
                 out_p[i], out_f[i])


def fit_batch(
    energy: NDArray[np.float64],
    spectra: NDArray[np.float64],
    p0: NDArray[np.float64],
    *,
    bounds: tuple[NDArray[np.float64], NDArray[np.float64]],
    method: str = "halfheight",
    max_iter: int = 100,
    tol: float = 1e-10,
    peak_fraction: float = 0.75,
    pre_map: NDArray[np.float64] | None = None,
    parallel: bool = True,
) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
    """Fit the edge model to many normalised spectra at once (compiled, parallel).

    Parameters
    ----------
    energy : ndarray of shape (E,)
        Energies of the fit window, eV, increasing.
    spectra : ndarray of shape (N, E)
        Normalised spectra; rows with NaN are skipped (flag 4).
    p0 : ndarray of shape (N, P) or (P,)
        Starting parameters (P = 9, or 12 with the edge step).
    bounds : tuple of ndarray of shape (P,)
        Lower and upper bounds.
    method : {"halfheight", "halfstep", "deriv"}
        Edge definition on the fitted curve.
    max_iter : int, optional
        Levenberg–Marquardt iterations at most.
    tol : float, optional
        Stop when one step lowers the cost by less than this fraction.
    peak_fraction : float, optional
        The first main peak is the first local maximum reaching this fraction
        of the largest model value in the window.
    pre_map : ndarray of shape (E, Q), optional
        Linear map from the Q pre-edge points to the pre-edge line at the
        fitted energies (normalisation noise enters the edge uncertainty).
    parallel : bool, optional
        Use all cores (numba ``prange``).

    Returns
    -------
    params : ndarray of shape (N, P)
    out : dict of str to ndarray of shape (N,)
        ``edge`` (eV), ``edge_sigma`` (eV, 1σ), ``cost`` (sum of squared
        residuals), ``r2``, ``s2`` (residual variance), ``peak_energy``,
        ``peak_height``, ``iterations``, ``flag`` (0 ok, 1 not converged,
        2 no first peak, 3 no rising crossing, 4 skipped, 5 spike).

    Examples
    --------
    >>> e = np.arange(8325.0, 8371.0)
    >>> p = np.array([1.2, 8347.0, 3.0, 0.4, 8340.0, 4.0, 0.9, 8375.0, 20.0])
    >>> y = model(e, p)[None]
    >>> lo, hi = default_bounds((e[0], e[-1]), False)
    >>> params, out = fit_batch(e, y, p * 1.0001, bounds=(lo, hi))
    >>> bool(abs(params[0, 1] - 8347.0) < 1e-3), int(out["flag"][0])
    (True, 0)
    """
    code = METHOD_CODES.get(method)
    if code is None:
        raise ValueError(f"unknown edge method {method!r}; expected one of {list(METHOD_CODES)}")
    e = np.ascontiguousarray(energy, np.float64)
    ys = np.ascontiguousarray(spectra, np.float64)
    lo, hi = (np.ascontiguousarray(b, np.float64) for b in bounds)
    m = lo.size
    p0s = np.ascontiguousarray(np.broadcast_to(np.asarray(p0, np.float64), (ys.shape[0], m)))
    step = m == 12
    out_p = np.empty((ys.shape[0], m))
    out_f = np.empty((ys.shape[0], len(_OUT)))
    pm = np.zeros((e.size, 1)) if pre_map is None else np.ascontiguousarray(pre_map, np.float64)
    kern = _fit_batch if parallel and ys.shape[0] > 1 else _fit_batch_serial
    kern(e, ys, p0s, lo, hi, step, code, int(max_iter), float(tol), float(peak_fraction),
         pm, out_p, out_f)
    return out_p, {k: out_f[:, i] for i, k in enumerate(_OUT)}


@nb.njit(cache=True)
def _edges_of(params: _A, step: bool, method: int, elo: float, ehi: float, frac: float,
              out: _A) -> None:  # pragma: no cover - compiled
    for i in range(params.shape[0]):
        xe, xpk, hpk = _edge(params[i], step, method, elo, ehi, frac)
        out[i, 0] = xe
        out[i, 1] = xpk
        out[i, 2] = hpk


def edges_from_params(
    params: NDArray[np.float64], window: tuple[float, float], *, method: str = "halfheight",
    peak_fraction: float = 0.75,
) -> NDArray[np.float64]:
    """Edge energies of given model parameters (the same routine the fitter uses).

    Parameters
    ----------
    params : ndarray of shape (N, 9) or (N, 12)
        Model parameters.
    window : tuple of float
        Fit window (low, high), eV.
    method : {"halfheight", "halfstep", "deriv"}, optional
        Edge definition.
    peak_fraction : float, optional
        See :func:`fit_batch`.

    Returns
    -------
    edges : ndarray of shape (N, 3)
        Edge energy, first-peak energy (eV) and first-peak height.

    Examples
    --------
    >>> p = np.array([[1.0, 8345.0, 3.0, 0.0, 8350.0, 3.0, 0.0, 8360.0, 3.0]])
    >>> round(float(edges_from_params(p, (8325.0, 8370.0))[0, 0]), 3)
    8341.468
    """
    p = np.ascontiguousarray(np.atleast_2d(params), np.float64)
    out = np.empty((p.shape[0], 3))
    _edges_of(p, p.shape[1] == 12, METHOD_CODES[method], float(window[0]), float(window[1]),
              float(peak_fraction), out)
    return out


@nb.njit(parallel=True, cache=True)
def _eval_batch(e: _A, params: _A, step: bool, out: _A) -> None:  # pragma: no cover - compiled
    for i in nb.prange(params.shape[0]):
        if np.isfinite(params[i, 0]):
            _eval_f(e, params[i], step, out[i])
        else:
            out[i, :] = np.nan


def model_batch(energy: NDArray[np.float64], params: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate the model for many parameter vectors (compiled, parallel).

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    params : ndarray of shape (N, 9) or (N, 12)
        Model parameters; rows with NaN give NaN.

    Returns
    -------
    f : ndarray of shape (N, E)

    Examples
    --------
    >>> p = np.array([[1.0, 8340.0, 2.0, 0.0, 8350.0, 2.0, 0.0, 8360.0, 2.0]])
    >>> float(model_batch(np.array([8340.0]), p)[0, 0])
    1.0
    """
    e = np.ascontiguousarray(energy, np.float64)
    p = np.ascontiguousarray(params, np.float64)
    out = np.empty((p.shape[0], e.size))
    _eval_batch(e, p, p.shape[1] == 12, out)
    return out
