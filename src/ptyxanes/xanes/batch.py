"""Per-pixel XANES fitting of whole maps and volumes: the public engine API."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptyxanes.progress import Control, Progress
from ptyxanes.xanes import model as mdl
from ptyxanes.xanes import shape as shape_fit
from ptyxanes.xanes.absorption import to_absorption
from ptyxanes.xanes.calibration import Calibration, ReferenceEdge, calibrate
from ptyxanes.xanes.edge import detect_spikes, half_step_crossing, lcf, template_starts
from ptyxanes.xanes.normalize import E0, POST_EDGE, PRE_EDGE, normalize, pre_edge_map
from ptyxanes.xanes.status import Status

logger = logging.getLogger(__name__)

METHODS = ("halfheight", "halfstep", "deriv", "lcf")
SHAPES = ("shared", "free")


@dataclass(frozen=True)
class FitOptions:
    """Parameters of the XANES fit (all energies in eV).

    Parameters
    ----------
    pre_edge, post_edge : tuple of float
        Normalisation windows.
    post_order : {0, 1}
        Post-edge line (1) or constant (0).
    e0 : float
        Energy where the edge jump is measured.
    window : tuple of float
        Energies fitted by the edge model.
    step : bool
        Add an edge step (error function) to the three Gaussians.
    method : {"halfheight", "halfstep", "deriv", "lcf"}
        Edge definition (``lcf`` = linear combination of two references).
    shape : {"shared", "free"}
        ``shared`` (default): one three-Gaussian shape per map (the fit of its
        Ni-weighted mean spectrum), shifted, scaled and offset per pixel (3
        parameters, see :mod:`ptyxanes.xanes.shape`); ``free``: all 9 (12)
        parameters per pixel, as in the paper. Shared is about 4x more precise on
        thin, noisy samples; free follows pixels whose edge *shape* differs.
    peak_fraction : float
        First main peak = first local maximum above this fraction of the window maximum.
    max_iter : int
        Levenberg–Marquardt iterations at most.
    tol : float
        Relative cost decrease that ends the iterations.
    min_r2 : float
        Fits with R² below this get ``POOR_FIT``.
    """

    pre_edge: tuple[float, float] = PRE_EDGE
    post_edge: tuple[float, float] = POST_EDGE
    post_order: int = 0
    e0: float = E0
    window: tuple[float, float] = (8325.0, 8370.0)
    step: bool = False
    method: str = "halfheight"
    shape: str = "shared"
    peak_fraction: float = 0.75
    max_iter: int = 50
    tol: float = 1e-4
    min_r2: float = 0.9

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; expected one of {SHAPES}")
        if self.window[1] - self.window[0] < 5:
            raise ValueError(f"fit window {self.window} eV is too narrow")

    @property
    def curve_method(self) -> str:
        """Edge method applied to the fitted curve (``halfheight`` for ``lcf``)."""
        return "halfheight" if self.method == "lcf" else self.method

    @property
    def uses_template(self) -> bool:
        """True when pixels are fitted with the map's shared shape."""
        return self.shape == "shared" and self.method != "lcf"


@dataclass(frozen=True)
class SpectrumFit:
    """One spectrum's fit, with everything needed to draw it.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        Energies, eV.
    mu_norm : ndarray of shape (E,)
        Normalised absorption.
    edge_jump : float
        Edge jump in input units.
    fit_energy : ndarray of shape (F,)
        Fine energy grid over the fit window, eV.
    fit_curve : ndarray of shape (F,)
        Fitted model on ``fit_energy``.
    components : ndarray of shape (3, F) or (4, F)
        Three Gaussians (and the edge step).
    params : ndarray of shape (9,) or (12,)
        Model parameters.
    edge_energy, edge_sigma : float
        Edge energy and its 1σ, eV.
    peak_energy, peak_height : float
        First main peak of the fitted curve (eV, normalised units).
    level : float
        Height at which the edge is read (half of ``peak_height`` for
        ``halfheight``, 0.5 for ``halfstep``).
    r2, chi2_red : float
        Coefficient of determination and residual variance in the window.
    status : int
        :class:`~ptyxanes.xanes.status.Status` code.
    method : str
        Edge method.
    valence, valence_sigma : float
        With a calibration; NaN otherwise.
    """

    energy: NDArray[np.float64]
    mu_norm: NDArray[np.float64]
    edge_jump: float
    fit_energy: NDArray[np.float64]
    fit_curve: NDArray[np.float64]
    components: NDArray[np.float64]
    params: NDArray[np.float64]
    edge_energy: float
    edge_sigma: float
    peak_energy: float
    peak_height: float
    level: float
    r2: float
    chi2_red: float
    status: int
    method: str
    valence: float = float("nan")
    valence_sigma: float = float("nan")


@dataclass(frozen=True)
class XanesResult:
    """Per-pixel (per-voxel) results of a XANES fit.

    All maps share the spatial shape of the input (``(M, N)`` or ``(P, M, N)``).
    Valence, sigma and edge energy are NaN wherever ``status != OK`` or
    outside ``mask``.

    Parameters
    ----------
    valence, valence_sigma : ndarray, float32
        Ni oxidation state and its 1σ.
    edge_energy : ndarray, float32
        eV.
    edge_jump : ndarray, float32
        Input units (−ln|T| or 1/m).
    edge_sigma : ndarray, float32
        1σ of the edge energy, eV.
    fit_quality : ndarray, float32
        R² of the edge fit in the window.
    status : ndarray, uint8
        :class:`~ptyxanes.xanes.status.Status`.
    mask : ndarray, bool
        Sample mask: edge jump above ``threshold`` (and a usable spectrum).
    threshold : float
        Edge-jump threshold used.
    calibration : Calibration or None
        The calibration applied.
    options : FitOptions
        The options used.
    template : ndarray or None
        Parameters of the mean-spectrum fit used as start (last chunk).
    """

    valence: NDArray[np.float32]
    valence_sigma: NDArray[np.float32]
    edge_energy: NDArray[np.float32]
    edge_jump: NDArray[np.float32]
    edge_sigma: NDArray[np.float32]
    fit_quality: NDArray[np.float32]
    status: NDArray[np.uint8]
    mask: NDArray[np.bool_]
    threshold: float
    calibration: Calibration | None
    options: FitOptions
    template: NDArray[np.float64] | None = None
    info: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- one spectrum
def _window(energy: NDArray[np.float64], opts: FitOptions) -> NDArray[np.bool_]:
    w = (energy >= opts.window[0]) & (energy <= opts.window[1])
    if w.sum() < mdl.n_params(opts.step) + 3:
        raise ValueError(f"only {int(w.sum())} energies inside the fit window {opts.window} eV; "
                         f"the model needs at least {mdl.n_params(opts.step) + 3}")
    return w


def _flag_status(out: Mapping[str, NDArray[np.float64]], opts: FitOptions) -> NDArray[np.uint8]:
    flag = out["flag"]
    st = np.full(flag.shape, Status.OK, np.uint8)
    st[np.isin(flag, (mdl.FLAG_NOT_CONVERGED, mdl.FLAG_NO_PEAK, mdl.FLAG_NO_EDGE))] = Status.FIT_FAILED
    st[np.isnan(flag)] = Status.FIT_FAILED
    st[flag == mdl.FLAG_SPIKE] = Status.SPIKE
    with np.errstate(invalid="ignore"):
        poor = (st == Status.OK) & ~(out["r2"] >= opts.min_r2)
        st[poor] = Status.POOR_FIT
        e = out["edge"]
        oor = (st == Status.OK) & ~((e > opts.window[0]) & (e < opts.window[1]))
        st[oor] = Status.OUT_OF_RANGE
        st[(st == Status.OK) & ~np.isfinite(out["edge_sigma"])] = Status.FIT_FAILED
    return st


def fit_spectrum(
    energy: ArrayLike,
    mu: ArrayLike,
    *,
    kind: str = "absorption",
    options: FitOptions | None = None,
    calibration: Calibration | None = None,
    start: NDArray[np.float64] | None = None,
    template: NDArray[np.float64] | None = None,
    fine_step: float = 0.1,
) -> SpectrumFit:
    """Fit one spectrum (robust multi-start; a few milliseconds).

    Parameters
    ----------
    energy : array_like of shape (E,)
        Energies, eV.
    mu : array_like of shape (E,)
        Complex transmission, modulus or absorption (see ``kind``).
    kind : {"absorption", "complex", "modulus"}, optional
        What ``mu`` holds.
    options : FitOptions, optional
        Fit parameters.
    calibration : Calibration, optional
        To report a valence.
    start : ndarray of shape (P,), optional
        An extra starting point (e.g. the map's template) tried with the templates.
    template : ndarray of shape (P,), optional
        The map's shared shape (:attr:`XanesResult.template`). With
        ``options.shape == "shared"`` the spectrum is fitted exactly as the map's
        pixels were (shift, scale and offset of this shape); without it, or with
        ``shape="free"``, all parameters are fitted.
    fine_step : float, optional
        Spacing of the returned fitted curve, eV.

    Returns
    -------
    fit : SpectrumFit
        Never raises for bad data: a failed fit has a non-OK ``status`` and NaN numbers.

    Examples
    --------
    >>> from ptyxanes.simulate.spectra import normalized_mu, edge_energy
    >>> e = np.r_[8270., 8285., 8300., np.arange(8325., 8371.), 8400., 8420.]
    >>> f = fit_spectrum(e, 0.2 + 0.5 * normalized_mu(e, 2.0))
    >>> f.status, abs(f.edge_energy - edge_energy(2.0)) < 0.3
    (0, True)
    """
    opts = options or FitOptions()
    e = np.asarray(energy, np.float64)
    m = np.asarray(mu)
    ab, st = to_absorption(m[None], kind)
    norm = normalize(e, ab, pre_edge=opts.pre_edge, post_edge=opts.post_edge,
                     post_order=opts.post_order, e0=opts.e0, status=st)
    w = _window(e, opts)
    y = norm.mu[0]
    ew = e[w]
    fine = np.arange(ew[0], ew[-1] + 0.5 * fine_step, fine_step)
    npar = mdl.n_params(opts.step)
    nan = float("nan")
    status = int(norm.status[0])
    if status == Status.OK and detect_spikes(y[w]):
        status = int(Status.SPIKE)
    if status != Status.OK:
        return SpectrumFit(e, y, float(norm.edge_jump[0]), fine, np.full(fine.size, nan),
                           np.full((3 + opts.step, fine.size), nan), np.full(npar, nan), nan,
                           nan, nan, nan, nan, nan, nan, status, opts.method)
    if opts.uses_template and template is not None:
        return _fit_spectrum_shared(e, y, float(norm.edge_jump[0]), w, fine, opts, calibration,
                                    np.asarray(template, np.float64))
    x = float(half_step_crossing(ew, y[w]))
    x0 = x if np.isfinite(x) else float(np.mean(opts.window))
    starts = template_starts(x0, opts.step)[:, 0]
    if start is not None:
        starts = np.vstack([np.asarray(start, np.float64)[None], starts])
    bounds = mdl.default_bounds((ew[0], ew[-1]), opts.step)
    ys = np.repeat(y[w][None], starts.shape[0], 0)
    params, out = mdl.fit_batch(ew, ys, starts, bounds=bounds, method=opts.curve_method,
                                max_iter=opts.max_iter, tol=opts.tol,
                                peak_fraction=opts.peak_fraction,
                                pre_map=pre_edge_map(e, ew, opts.pre_edge, opts.e0),
                                parallel=False)
    cost = np.where(np.isfinite(out["cost"]), out["cost"], np.inf)
    good = out["flag"] == 0
    best = int(np.argmin(np.where(good, cost, np.inf))) if good.any() else int(np.argmin(cost))
    one = {k: v[best : best + 1] for k, v in out.items()}
    status = int(_flag_status(one, opts)[0])
    p = params[best]
    hpk = float(one["peak_height"][0])
    level = 0.5 * hpk if opts.curve_method == "halfheight" else 0.5
    edge = float(one["edge"][0])
    sig = float(one["edge_sigma"][0])
    val = vs = nan
    if calibration is not None and status == Status.OK:
        v, s = calibration.valence(edge, sig)
        val, vs = float(v), float(s)
    return SpectrumFit(
        energy=e, mu_norm=y, edge_jump=float(norm.edge_jump[0]), fit_energy=fine,
        fit_curve=mdl.model(fine, p), components=mdl.components(fine, p), params=p,
        edge_energy=edge, edge_sigma=sig, peak_energy=float(one["peak_energy"][0]),
        peak_height=hpk, level=level, r2=float(one["r2"][0]), chi2_red=float(one["s2"][0]),
        status=status, method=opts.method, valence=val, valence_sigma=vs)


def template_edge(template: NDArray[np.float64], opts: FitOptions) -> tuple[float, float, float]:
    """(edge energy, first-peak energy, first-peak height) of a template shape.

    Parameters
    ----------
    template : ndarray of shape (9,) or (12,)
    opts : FitOptions

    Returns
    -------
    edge, peak_energy, peak_height : float
    """
    r = mdl.edges_from_params(np.asarray(template, np.float64)[None], opts.window,
                              method=opts.curve_method, peak_fraction=opts.peak_fraction)[0]
    return float(r[0]), float(r[1]), float(r[2])


def _fit_spectrum_shared(e: NDArray[np.float64], y: NDArray[np.float64], jump: float,
                         w: NDArray[np.bool_], fine: NDArray[np.float64], opts: FitOptions,
                         calibration: Calibration | None, template: NDArray[np.float64]
                         ) -> SpectrumFit:
    """One spectrum by the map's shared shape (same arithmetic as the map)."""
    ew = e[w]
    e_t, pk_t, h_t = template_edge(template, opts)
    sf = shape_fit.fit_shift(ew, y[w][None], template,
                             pre_map=pre_edge_map(e, ew, opts.pre_edge, opts.e0))
    out = _shared_outputs(sf, e_t, opts)
    status = int(out["status"][0])
    shift, a = float(sf.shift[0]), float(sf.scale[0])
    p = shape_fit.shifted_params(template, shift, a)
    edge, sig = float(out["edge"][0]), float(out["edge_sigma"][0])
    # the fitted baseline b + c x: the half-height construction sits on top of it
    base = shape_fit.baseline(ew, float(sf.offset[0]), float(sf.tilt[0]))
    line = np.interp(fine, ew, base)
    pk = pk_t + shift
    b_edge = float(np.interp(edge if np.isfinite(edge) else pk, ew, base))
    b_peak = float(np.interp(pk, ew, base)) if np.isfinite(pk) else b_edge
    val = vs = float("nan")
    if calibration is not None and status == Status.OK:
        v, sv = calibration.valence(edge, sig)
        val, vs = float(v), float(sv)
    if status != Status.OK:
        edge = sig = float("nan")
    hpk = b_peak + a * h_t
    level = b_edge + 0.5 * a * (h_t if opts.curve_method == "halfheight" else 1.0)
    return SpectrumFit(
        energy=e, mu_norm=y, edge_jump=jump, fit_energy=fine,
        fit_curve=mdl.model(fine, p) + line, components=mdl.components(fine, p), params=p,
        edge_energy=edge, edge_sigma=sig, peak_energy=pk, peak_height=hpk,
        level=level, r2=float(sf.r2[0]), chi2_red=float(sf.s2[0]), status=status,
        method=opts.method, valence=val, valence_sigma=vs)


def _shared_outputs(sf: shape_fit.ShapeFit, e_t: float, opts: FitOptions
                    ) -> dict[str, NDArray[np.float64]]:
    """Edge, its sigma, R² and status codes of shared-shape fits."""
    edge = e_t + sf.shift
    st = np.full(sf.shift.shape, Status.OK, np.uint8)
    st[~sf.ok] = Status.FIT_FAILED
    with np.errstate(invalid="ignore"):
        st[(st == Status.OK) & ~(sf.r2 >= opts.min_r2)] = Status.POOR_FIT
        st[(st == Status.OK) & ~((edge > opts.window[0]) & (edge < opts.window[1]))] = \
            Status.OUT_OF_RANGE
    return {"edge": edge, "edge_sigma": sf.shift_sigma, "r2": sf.r2, "status": st}


def fit_template(energy: NDArray[np.float64], mean: NDArray[np.float64],
                 opts: FitOptions) -> NDArray[np.float64]:
    """The shared shape: robust multi-start free fit of a (mean) normalised spectrum.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        All energies, eV (the fit window is taken from ``opts``).
    mean : ndarray of shape (E,)
        Normalised spectrum, e.g. the Ni-weighted mean of a map.
    opts : FitOptions

    Returns
    -------
    template : ndarray of shape (9,) or (12,)

    Raises
    ------
    ValueError
        If no starting point gives a usable fit.
    """
    w = _window(energy, opts)
    ew = energy[w]
    ym = np.asarray(mean, np.float64)[w]
    xs = half_step_crossing(ew, ym[None])[0]
    x0 = float(xs) if np.isfinite(xs) else float(np.mean(opts.window))
    starts = template_starts(x0, opts.step)[:, 0]
    lo, hi = mdl.default_bounds((ew[0], ew[-1]), opts.step)
    # A Gaussian narrower than the energy sampling is not resolved by the data: with
    # sparse energies it would fit the noise between two points and give the shape a
    # spurious first peak. Widths start at the median energy spacing.
    min_width = max(float(lo[2]), float(np.median(np.diff(ew))))
    lo[2:9:3] = min_width
    starts[:, 2:9:3] = np.clip(starts[:, 2:9:3], min_width, hi[2])
    bounds = (lo, hi)
    pm, om = mdl.fit_batch(ew, np.repeat(ym[None], starts.shape[0], 0), starts,
                           bounds=bounds, method=opts.curve_method,
                           max_iter=max(opts.max_iter, 200), tol=opts.tol,
                           peak_fraction=opts.peak_fraction, parallel=False)
    good = om["flag"] == 0
    if not good.any():
        raise ValueError("the mean spectrum has no usable edge: cannot build the shared shape")
    return pm[int(np.argmin(np.where(good, om["cost"], np.inf)))]


def shared_calibration(calibration: Calibration, template: NDArray[np.float64],
                       opts: FitOptions) -> Calibration:
    """Re-measure a calibration's reference edges with the shared shape.

    The references keep their normalised spectra (``ReferenceEdge.fit``); each
    is fitted as ``a T(E - s) + b`` like the pixels, so that pixels and
    references share one edge definition.

    Parameters
    ----------
    calibration : Calibration
        From :func:`calibrate_references`.
    template : ndarray of shape (9,) or (12,)
    opts : FitOptions

    Returns
    -------
    calibration : Calibration
        The input unchanged when a reference has no stored spectrum.
    """
    e_t = template_edge(template, opts)[0]
    edges = []
    for ref in calibration.references:
        f = ref.fit
        if f is None or getattr(f, "mu_norm", None) is None:
            logger.warning("reference %s has no spectrum: calibration kept from free fits",
                           ref.name)
            return calibration
        e = np.asarray(f.energy, np.float64)
        w = (e >= opts.window[0]) & (e <= opts.window[1])
        sf = shape_fit.fit_shift(e[w], np.asarray(f.mu_norm, np.float64)[w][None], template)
        if not sf.ok[0]:
            raise ValueError(f"reference {ref.name!r} does not match the map's edge shape "
                             "(shared-shape fit failed); use shape='free'")
        edges.append(ReferenceEdge(ref.name, ref.valence, float(e_t + sf.shift[0]), 0.0, f))
    return calibrate(edges, method=calibration.method)


# ----------------------------------------------------------------------------- references
def reference_edges(
    references: Sequence[Any],
    *,
    energy: ArrayLike | None = None,
    options: FitOptions | None = None,
) -> list[ReferenceEdge]:
    """Edge energies of reference spectra by the pixels' own method.

    Parameters
    ----------
    references : sequence of ptyxanes.io.spectra.Spectrum
        Each with ``valence`` set; absorption (raw or normalised) on its own grid.
    energy : array_like of shape (E,), optional
        If given, each reference is first interpolated onto these energies
        (the stack's), so that references and pixels are sampled alike.
    options : FitOptions, optional
        Same options as the pixels.

    Returns
    -------
    edges : list of ReferenceEdge

    Raises
    ------
    ValueError
        A reference without valence, or not covering ``energy``.
    """
    opts = options or FitOptions()
    opts_curve = replace(opts, method=opts.curve_method)
    out = []
    for ref in references:
        if ref.valence is None:
            raise ValueError(f"reference {ref.name!r} has no valence")
        e, mu = np.asarray(ref.energy, np.float64), np.asarray(ref.mu, np.float64)
        if energy is not None:
            grid = np.asarray(energy, np.float64)
            if grid[0] < e[0] or grid[-1] > e[-1]:
                raise ValueError(f"reference {ref.name!r} covers {e[0]:.0f}-{e[-1]:.0f} eV, "
                                 f"not the stack's {grid[0]:.0f}-{grid[-1]:.0f} eV")
            mu = np.interp(grid, e, mu)
            e = grid
        f = fit_spectrum(e, mu, options=opts_curve)
        if f.status != Status.OK:
            raise ValueError(f"reference {ref.name!r}: edge fit failed ({Status(f.status).name})")
        # The residual of a high-SNR reference is the model's systematic misfit, which
        # is shared with the pixels and cancels in the calibration: it is not a random
        # error of the reference edge. The calibration's floor (energy-scale
        # reproducibility) and, with three or more references, their scatter about the
        # line give the calibration uncertainty instead.
        out.append(ReferenceEdge(ref.name, float(ref.valence), f.edge_energy, 0.0, f))
    return out


def calibrate_references(
    references: Sequence[Any],
    *,
    energy: ArrayLike | None = None,
    options: FitOptions | None = None,
) -> Calibration:
    """Edge energies of the references, then the linear calibration.

    Parameters
    ----------
    references : sequence of ptyxanes.io.spectra.Spectrum
        Two or more references with valences.
    energy : array_like of shape (E,), optional
        The stack's energies (see :func:`reference_edges`).
    options : FitOptions, optional
        Same options as the pixels.

    Returns
    -------
    calibration : Calibration
    """
    opts = options or FitOptions()
    return calibrate(reference_edges(references, energy=energy, options=opts),
                     method=opts.curve_method)


# ----------------------------------------------------------------------------- many spectra
def otsu_threshold(values: NDArray[np.floating]) -> float:
    """Otsu threshold of the finite positive values (0 if fewer than two distinct).

    Parameters
    ----------
    values : ndarray
        Edge jumps.

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> 0.01 < otsu_threshold(np.r_[np.zeros(50) + 0.01, np.ones(50)]) < 1.0
    True
    """
    from skimage.filters import threshold_otsu

    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < 2 or np.ptp(v) == 0:
        return 0.0
    return float(threshold_otsu(v, nbins=256))


@dataclass(frozen=True)
class _ChunkOut:
    edge: NDArray[np.float64]
    sigma: NDArray[np.float64]
    jump: NDArray[np.float64]
    r2: NDArray[np.float64]
    status: NDArray[np.uint8]
    valence: NDArray[np.float64]
    vsigma: NDArray[np.float64]
    template: NDArray[np.float64] | None


def _misfit_corrected_s2(res: NDArray[np.float64], edge: NDArray[np.float64],
                         good: NDArray[np.bool_], n_par: int) -> NDArray[np.float64]:
    """Residual variance with the model's systematic misfit removed.

    The misfit of the edge model is shared by all pixels of a material and
    cancels in the calibration; it is not noise. It moves with the edge, so it
    is estimated as the mean residual of the well-fitted pixels in 0.1 eV bins
    of edge energy and subtracted before the variance is taken. With fewer than
    20 good pixels the plain residual variance is returned.

    Parameters
    ----------
    res : ndarray of shape (N, E)
        Model minus data.
    edge : ndarray of shape (N,)
        Edge energies, eV.
    good : ndarray of bool, shape (N,)
        Pixels whose residuals define the misfit pattern.
    n_par : int
        Fitted parameters per spectrum.

    Returns
    -------
    s2 : ndarray of shape (N,)
    """
    dof = max(res.shape[1] - n_par, 1)
    if good.sum() < 20:
        return (res**2).sum(1) / dof
    ed = np.where(good, edge, np.nan)
    b = np.floor((ed - np.nanmin(ed)) / 0.1)
    b = np.where(np.isfinite(b), b, -1).astype(np.int64)
    nb_ = int(b.max()) + 1
    sums = np.zeros((nb_, res.shape[1]))
    cnt = np.zeros(nb_)
    np.add.at(sums, b[good], res[good])
    np.add.at(cnt, b[good], 1.0)
    glob = res[good].mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(cnt[:, None] >= 10, sums / cnt[:, None], glob)
    common = np.where((b >= 0)[:, None], means[np.maximum(b, 0)], glob)
    return ((res - common) ** 2).sum(1) / dof


def _fit_chunk(
    energy: NDArray[np.float64], spectra: NDArray[Any], kind: str, opts: FitOptions,
    calibration: Calibration | None, threshold: float | None,
    lcf_refs: tuple[NDArray[np.float64], NDArray[np.float64], float, float] | None,
    shared: NDArray[np.float64] | None = None,
) -> _ChunkOut:
    """Fit a flat batch (N, E) of spectra; pixels below ``threshold`` are not fitted.

    With ``shared`` (a template shape) pixels get the shared-shape fit."""
    n = spectra.shape[0]
    ab, st = to_absorption(spectra, kind)
    norm = normalize(energy, ab, pre_edge=opts.pre_edge, post_edge=opts.post_edge,
                     post_order=opts.post_order, e0=opts.e0, status=st)
    st = norm.status.copy()
    if threshold is not None:
        with np.errstate(invalid="ignore"):
            st[(st == Status.OK) & ~(norm.edge_jump > threshold)] = Status.BELOW_THRESHOLD
    w = _window(energy, opts)
    ew = energy[w]
    with np.errstate(invalid="ignore"):
        st[(st == Status.OK) & detect_spikes(norm.mu[:, w])] = Status.SPIKE
    edge = np.full(n, np.nan)
    sig = np.full(n, np.nan)
    r2 = np.full(n, np.nan)
    val = np.full(n, np.nan)
    vsig = np.full(n, np.nan)
    template = None
    todo = np.nonzero(st == Status.OK)[0]
    if todo.size:
        y = norm.mu[todo][:, w]
        if opts.method == "lcf":
            assert lcf_refs is not None
            ra, rb, va, vb = lcf_refs
            res = lcf(y, ra[w], rb[w], va, vb)
            val[todo], vsig[todo], r2[todo] = res.valence, res.valence_sigma, res.r2
            if calibration is not None:
                edge[todo] = calibration.edge_of(res.valence)
                sig[todo] = res.valence_sigma * abs(calibration.slope)
            sub = np.where(np.isfinite(res.valence) & (res.r2 >= opts.min_r2), Status.OK,
                           Status.POOR_FIT).astype(np.uint8)
            st[todo] = sub
        elif shared is not None:
            template = shared
            sf = shape_fit.fit_shift(ew, y, shared,
                                     pre_map=pre_edge_map(energy, ew, opts.pre_edge, opts.e0))
            o = _shared_outputs(sf, template_edge(shared, opts)[0], opts)
            st[todo] = o["status"]
            s2c = _misfit_corrected_s2(sf.residuals, o["edge"], o["status"] == Status.OK, 4)
            with np.errstate(invalid="ignore", divide="ignore"):
                o["edge_sigma"] = o["edge_sigma"] * np.sqrt(s2c / sf.s2)
            edge[todo], sig[todo], r2[todo] = o["edge"], o["edge_sigma"], o["r2"]
            if calibration is not None:
                val[todo], vsig[todo] = calibration.valence(o["edge"], o["edge_sigma"])
        else:
            # start every pixel from the chunk's jump-weighted mean spectrum, shifted
            jw = norm.edge_jump[todo]
            mean = (norm.mu[todo] * jw[:, None]).sum(0) / jw.sum()
            xs = half_step_crossing(ew, mean[w][None])[0]
            x0 = float(xs) if np.isfinite(xs) else float(np.mean(opts.window))
            try:
                template = fit_template(energy, mean, opts)
            except ValueError:  # the mean has no usable edge: the default starting shape
                template = template_starts(x0, opts.step)[0, 0]
            bounds = mdl.default_bounds((ew[0], ew[-1]), opts.step)
            xp = half_step_crossing(ew, y)
            shift = np.clip(np.nan_to_num(xp - x0), -6.0, 6.0)
            p0 = np.repeat(template[None], todo.size, 0)
            for j in (1, 4, 7) + ((10,) if opts.step else ()):
                p0[:, j] += shift
            params, out = mdl.fit_batch(
                ew, y, p0, bounds=bounds, method=opts.curve_method, max_iter=opts.max_iter,
                tol=opts.tol, peak_fraction=opts.peak_fraction,
                pre_map=pre_edge_map(energy, ew, opts.pre_edge, opts.e0))
            st[todo] = _flag_status(out, opts)
            res = mdl.model_batch(ew, params) - y
            good = st[todo] == Status.OK
            s2c = _misfit_corrected_s2(res, out["edge"], good, params.shape[1])
            with np.errstate(invalid="ignore", divide="ignore"):
                out["edge_sigma"] = out["edge_sigma"] * np.sqrt(s2c / out["s2"])
            logger.debug("fit flags %s", np.bincount(out["flag"][np.isfinite(out["flag"])]
                                                     .astype(int)))
            edge[todo], sig[todo], r2[todo] = out["edge"], out["edge_sigma"], out["r2"]
            if calibration is not None:
                val[todo], vsig[todo] = calibration.valence(out["edge"], out["edge_sigma"])
    bad = st != Status.OK
    for a in (edge, sig, val, vsig):
        a[bad] = np.nan
    return _ChunkOut(edge, sig, norm.edge_jump, r2, st, val, vsig, template)


def _lcf_refs(calibration: Calibration | None, energy: NDArray[np.float64], opts: FitOptions
              ) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float] | None:
    if opts.method != "lcf":
        return None
    if calibration is None or len(calibration.references) < 2:
        raise ValueError("method 'lcf' needs a calibration with at least two references")
    refs = sorted(calibration.references, key=lambda r: r.valence)[-2:]
    curves = []
    for r in refs:
        f = r.fit
        if f is None or f.energy.shape != energy.shape or not np.allclose(f.energy, energy):
            raise ValueError("method 'lcf' needs references resampled on the stack energies")
        curves.append(f.mu_norm)
    return curves[0], curves[1], refs[0].valence, refs[1].valence


def fit_spectra(
    energy: ArrayLike,
    spectra: ArrayLike,
    *,
    kind: str = "absorption",
    options: FitOptions | None = None,
    calibration: Calibration | None = None,
    threshold: float | str | None = "otsu",
    template: NDArray[np.float64] | None = None,
) -> XanesResult:
    """Fit every spectrum of an in-memory array (energy last).

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    spectra : array_like of shape (..., E)
        Complex transmission, modulus or absorption (``kind``).
    kind : {"absorption", "complex", "modulus"}, optional
    options : FitOptions, optional
    calibration : Calibration, optional
        Without it the valence maps are NaN.
    threshold : float, "otsu" or None, optional
        Edge-jump threshold of the sample mask; ``"otsu"`` (default) picks it
        automatically from the edge-jump histogram, None fits every pixel.
    template : ndarray, optional
        Shared shape (see :func:`fit_stack_array`).

    Returns
    -------
    result : XanesResult

    Examples
    --------
    >>> from ptyxanes.simulate.spectra import normalized_mu
    >>> e = np.r_[8270., 8285., 8300., np.arange(8325., 8371.), 8400., 8420.]
    >>> r = fit_spectra(e, 0.1 + 0.4 * normalized_mu(e, np.full((2, 3), 2.5)), threshold=None)
    >>> r.edge_energy.shape, int(r.status.max())
    ((2, 3), 0)
    """
    e = np.asarray(energy, np.float64)
    arr = np.asarray(spectra)
    res = None
    gen = fit_stack_array(e, arr, kind=kind, options=options, calibration=calibration,
                          threshold=threshold, template=template)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            res = stop.value
            break
    return res


def fit_stack_array(
    energy: NDArray[np.float64],
    data: Any,
    *,
    kind: str = "absorption",
    options: FitOptions | None = None,
    calibration: Calibration | None = None,
    threshold: float | str | None = "otsu",
    energy_axis: int = -1,
    chunk_spectra: int = 131072,
    control: Control | None = None,
    template: NDArray[np.float64] | None = None,
) -> Generator[Progress, None, XanesResult]:
    """Fit spectra read chunk by chunk from an array or an HDF5 dataset.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    data : ndarray or h5py.Dataset
        Energy-last ``(..., E)`` (``energy_axis=-1``) or an image stack
        ``(E, M, N)`` / ``(E, P, M, N)`` (``energy_axis=0``), read lazily one
        block of rows (planes) at a time.
    kind : {"absorption", "complex", "modulus"}, optional
    options : FitOptions, optional
    calibration : Calibration, optional
    threshold : float, "otsu" or None, optional
        See :func:`fit_spectra`. With ``"otsu"`` the data are read twice: a
        first pass computes the edge-jump map and its threshold.
    energy_axis : {-1, 0}, optional
        Where the energy axis is.
    chunk_spectra : int, optional
        About how many spectra are held in memory at once.
    control : Control, optional
        Cancellation (checked between chunks).
    template : ndarray of shape (9,) or (12,), optional
        Shared shape to use (``options.shape == "shared"``); by default the
        free fit of the map's Ni-weighted (edge jump squared) mean spectrum,
        computed in a first pass over the data. With a calibration, its
        references are re-measured with this shape (:func:`shared_calibration`).

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : XanesResult

    Notes
    -----
    Memory: a chunk of ``chunk_spectra`` spectra of E energies needs about
    ``8 * 6 * E * chunk_spectra`` bytes of work space; the results are seven
    float32/uint8 maps of the spatial shape.
    """
    opts = options or FitOptions()
    ctl = control or Control()
    e = np.asarray(energy, np.float64)
    if energy_axis not in (0, -1):
        raise ValueError("energy_axis must be 0 or -1")
    shape = tuple(int(s) for s in data.shape)
    spatial = shape[1:] if energy_axis == 0 else shape[:-1]
    if (shape[0] if energy_axis == 0 else shape[-1]) != e.size:
        raise ValueError(f"data have {shape} but there are {e.size} energies")
    if len(spatial) == 0:
        spatial = ()
    lead = spatial[0] if spatial else 1
    per_lead = int(np.prod(spatial[1:])) if len(spatial) > 1 else 1
    step_lead = max(1, chunk_spectra // max(per_lead, 1))
    blocks = [(i, min(i + step_lead, lead)) for i in range(0, lead, step_lead)]
    lcf_refs = _lcf_refs(calibration, e, opts)

    def read(b0: int, b1: int) -> NDArray[Any]:
        if not spatial:
            return np.asarray(data)[None]
        if energy_axis == 0:
            blk = np.asarray(data[:, b0:b1])
            return np.moveaxis(blk, 0, -1).reshape(-1, e.size)
        return np.asarray(data[b0:b1]).reshape(-1, e.size)

    need_mean = opts.uses_template and template is None
    n_pass = 2 if (threshold == "otsu" or need_mean) else 1
    total = n_pass * len(blocks)
    done = 0
    t0 = time.monotonic()
    thr: float | None = None if threshold in (None, "otsu") else float(threshold)
    shared = np.asarray(template, np.float64) if (opts.uses_template and template is not None) \
        else None
    if n_pass == 2:
        jumps = np.empty(int(np.prod(spatial)) if spatial else 1, np.float32) \
            if threshold == "otsu" else None
        # Ni-weighted sums of the normalised spectra in fine log bins of edge jump, so
        # that the mean of the pixels above the (not yet known) Otsu threshold can be
        # formed after this pass without keeping the spectra
        jbins = np.geomspace(1e-8, 1e8, 1601)  # 2.3 % bins: -ln|T| and 1/m alike
        wsum = np.zeros((jbins.size + 1, e.size))
        wtot = np.zeros(jbins.size + 1)
        k = 0
        for b0, b1 in blocks:
            ctl.check()
            ab, st = to_absorption(read(b0, b1), kind)
            nm = normalize(e, ab, pre_edge=opts.pre_edge, post_edge=opts.post_edge,
                           post_order=opts.post_order, e0=opts.e0, status=st)
            j = np.where(nm.status == Status.OK, nm.edge_jump, np.nan)
            if jumps is not None:
                jumps[k : k + j.size] = j
            k += j.size
            if need_mean:
                with np.errstate(invalid="ignore"):
                    use = np.isfinite(j) & (j > 0) & np.isfinite(nm.mu).all(1)
                wj = j[use].astype(np.float64)
                bi = np.searchsorted(jbins, wj)
                wtot += np.bincount(bi, weights=wj, minlength=wtot.size)
                wmu = wj[:, None] * nm.mu[use]
                for q in range(e.size):
                    wsum[:, q] += np.bincount(bi, weights=wmu[:, q], minlength=wtot.size)
            done += 1
            yield Progress(done, total, "edge jumps" + (" and mean spectrum" if need_mean else ""),
                           "fit")
        if jumps is not None:
            thr = otsu_threshold(jumps)
            del jumps
            logger.info("Otsu edge-jump threshold %.4g", thr)
        if need_mean:
            # the sample's pixels (edge jump above the threshold), weighted by Ni amount
            above = np.searchsorted(jbins, thr) if thr is not None else 0
            tot = float(wtot[above:].sum())
            try:
                if not tot > 0:
                    raise ValueError("no pixel with an edge jump above the threshold")
                shared = fit_template(e, wsum[above:].sum(0) / tot, opts)
            except ValueError as exc:
                logger.warning("shared shape unavailable (%s): every pixel fitted freely", exc)
                opts = replace(opts, shape="free")
    if shared is not None:
        e_t = template_edge(shared, opts)[0]
        logger.info("shared edge shape: edge %.3f eV", e_t)
        if calibration is not None:
            calibration = shared_calibration(calibration, shared, opts)
    npix = int(np.prod(spatial)) if spatial else 1
    maps = {k: np.full(npix, np.nan, np.float32)
            for k in ("valence", "sigma", "edge", "jump", "r2", "esig")}
    status = np.zeros(npix, np.uint8)
    tmpl_out = shared
    k = 0
    for b0, b1 in blocks:
        ctl.check()
        out = _fit_chunk(e, read(b0, b1), kind, opts, calibration, thr, lcf_refs, shared)
        sl = slice(k, k + out.edge.size)
        maps["valence"][sl] = out.valence
        maps["sigma"][sl] = out.vsigma
        maps["edge"][sl] = out.edge
        maps["jump"][sl] = out.jump
        maps["r2"][sl] = out.r2
        maps["esig"][sl] = out.sigma
        status[sl] = out.status
        tmpl_out = out.template if out.template is not None else tmpl_out
        k += out.edge.size
        done += 1
        yield Progress(done, total, f"fitted {k}/{npix} spectra", "fit")
        if ctl.should_finish:
            status[k:] = Status.FIT_FAILED
            break
    mask = status == Status.OK
    if thr is not None:
        with np.errstate(invalid="ignore"):
            mask = mask | np.isin(status, (Status.FIT_FAILED, Status.POOR_FIT, Status.SPIKE,
                                           Status.OUT_OF_RANGE))
    shp = spatial if spatial else ()
    elapsed = time.monotonic() - t0
    logger.info("fitted %d spectra in %.2f s", npix, elapsed)
    return XanesResult(
        valence=maps["valence"].reshape(shp), valence_sigma=maps["sigma"].reshape(shp),
        edge_energy=maps["edge"].reshape(shp), edge_jump=maps["jump"].reshape(shp), edge_sigma=maps["esig"].reshape(shp),
        fit_quality=maps["r2"].reshape(shp), status=status.reshape(shp), mask=mask.reshape(shp),
        threshold=float(thr) if thr is not None else float("nan"), calibration=calibration,
        options=opts, template=tmpl_out,
        info={"seconds": elapsed, "n_spectra": npix, "shape": opts.shape})


def fit_stack(
    stack: Any,
    *,
    options: FitOptions | None = None,
    calibration: Calibration | None = None,
    threshold: float | str | None = "otsu",
    chunk_spectra: int = 131072,
    control: Control | None = None,
    template: NDArray[np.float64] | None = None,
) -> Generator[Progress, None, XanesResult]:
    """Fit an :class:`~ptyxanes.io.stack.ImageStack` (lazy HDF5 or in memory).

    Parameters
    ----------
    stack : ImageStack
        ``(E, M, N)`` images or ``(E, P, M, N)`` volumes; its ``kind`` says
        whether values are complex T, |T| or absorption.
    options, calibration, threshold, chunk_spectra, control, template
        See :func:`fit_stack_array`.

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : XanesResult
    """
    return (yield from fit_stack_array(
        np.asarray(stack.energy, np.float64), stack.data, kind=stack.kind, options=options,
        calibration=calibration, threshold=threshold, energy_axis=0,
        chunk_spectra=chunk_spectra, control=control, template=template))
