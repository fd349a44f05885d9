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
from ptyxanes.xanes.edge import (
    detect_spikes,
    half_step_crossing,
    lcf_n,
    residual_spikes,
    template_starts,
)
from ptyxanes.xanes.integral import integral_edge
from ptyxanes.xanes.normalize import E0, POST_EDGE, PRE_EDGE, normalize, pre_edge_map
from ptyxanes.xanes.status import Status

logger = logging.getLogger(__name__)

METHODS = ("auto", "halfheight", "halfstep", "deriv", "lcf", "integral")
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
    method : {"auto", "halfheight", "halfstep", "deriv", "lcf", "integral"}
        Edge definition (``lcf`` = linear combination of two references;
        ``integral`` = the model-free mean energy of the rising edge between
        normalised absorbance 0.15 and 1.0, :mod:`ptyxanes.xanes.integral`,
        which does not weigh the white line and so compares compounds of one
        valence but different white lines).
        ``auto`` (default): the half-height edge of the shared shape while that
        shape explains every pixel; when the shared fit leaves residuals with a
        structure common to many pixels (the edge *shape* changes across the
        map, e.g. Fe²⁺ next to Fe³⁺), a linear combination of the references
        (two or more, with spectra on the data's energies) or, without them, the
        free fit (see :func:`choose_method`).
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
    edge : str
        Absorption edge (``"Ni-K"``, ``"Fe-L3"`` …), for labels and provenance;
        :meth:`for_edge` derives the windows from it.
    normalization : {"jump", "area"}
        Edge-jump (K edges) or mean-absorption (overlapping L3/L2) normalisation,
        see :func:`~ptyxanes.xanes.normalize.normalize`.
    mask_sigma : float
        Sample mask: a pixel is sample when its edge jump exceeds this many
        standard deviations of the jump implied by its own pre-edge scatter
        (see :func:`sample_mask`).
    lcf_gain : float
        ``auto`` with references: the linear combination of the references
        replaces the shared shape when it leaves this many times less residual
        variance on the map's spectra (see :func:`choose_method`).
    structure_ratio : float
        ``auto`` without references: the shared shape is abandoned when the leading principal
        component of its residuals carries more than this many times the
        residual variance of a typical component (see :func:`residual_structure`).
    """

    pre_edge: tuple[float, float] = PRE_EDGE
    post_edge: tuple[float, float] = POST_EDGE
    post_order: int = 0
    e0: float = E0
    window: tuple[float, float] = (8325.0, 8370.0)
    step: bool = False
    method: str = "auto"
    shape: str = "shared"
    peak_fraction: float = 0.75
    max_iter: int = 50
    tol: float = 1e-4
    min_r2: float = 0.9
    edge: str = "Ni-K"
    normalization: str = "jump"
    mask_sigma: float = 5.0
    structure_ratio: float = 8.0
    lcf_gain: float = 1.0

    @classmethod
    def for_edge(cls, edge: str = "Ni-K", **overrides: Any) -> FitOptions:
        """Options whose windows, e0 and normalisation follow from an edge.

        Parameters
        ----------
        edge : str, optional
            ``"Ni-K"``, ``"Co-K"``, ``"Mn-K"``, ``"Fe-K"``, ``"Fe-L3"`` …
        **overrides
            Any field; ``None`` values are ignored (a CLI option not given).

        Returns
        -------
        options : FitOptions

        Examples
        --------
        >>> o = FitOptions.for_edge("Fe-L3")
        >>> o.normalization, o.window
        ('area', (703.8, 727.9))
        >>> FitOptions.for_edge("Ni-K") == FitOptions()
        True
        """
        from ptyxanes.xanes.edges import edge_spec

        ov = {k: v for k, v in overrides.items() if v is not None}
        spec = edge_spec(edge, pre_edge=ov.pop("pre_edge", None), window=ov.pop("window", None),
                         post_edge=ov.pop("post_edge", None), e0=ov.pop("e0", None))
        return cls(pre_edge=spec.pre_edge, window=spec.window, post_edge=spec.post_edge,
                   e0=spec.e0, edge=spec.name,
                   normalization=ov.pop("normalization", spec.normalization), **ov)

    @property
    def edge_spec(self) -> Any:
        """The :class:`~ptyxanes.xanes.edges.EdgeSpec` with these options' windows."""
        from ptyxanes.xanes.edges import edge_spec

        return edge_spec(self.edge, pre_edge=self.pre_edge, window=self.window,
                         post_edge=self.post_edge, e0=self.e0)

    @property
    def norm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~ptyxanes.xanes.normalize.normalize`."""
        return {"pre_edge": self.pre_edge, "post_edge": self.post_edge,
                "post_order": self.post_order, "e0": self.e0,
                "normalization": self.normalization, "window": self.window}

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; expected one of {SHAPES}")
        if self.window[1] - self.window[0] < 5:
            raise ValueError(f"fit window {self.window[0]:g}–{self.window[1]:g} eV is too "
                             "narrow (at least 5 eV)")
        if self.normalization not in ("jump", "area"):
            raise ValueError(f"unknown normalization {self.normalization!r}; expected jump or area")

    @property
    def curve_method(self) -> str:
        """Edge method applied to the fitted curve (``halfheight`` for ``lcf``)."""
        return "halfheight" if self.method in ("lcf", "auto") else self.method

    @property
    def uses_template(self) -> bool:
        """True when pixels are fitted with the map's shared shape."""
        return self.shape == "shared" and self.method not in ("lcf", "integral")


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
#: Fewest energies in the fit window per model: LCF (two weights and one degree of
#: freedom), the shared shape (shift, scale, baseline offset and tilt, plus one).
MIN_ENERGIES_LCF: int = 3
MIN_ENERGIES_SHARED: int = 5
#: The integral edge needs energies on the rise between its two levels.
MIN_ENERGIES_INTEGRAL: int = 4


def _n_window(energy: NDArray[np.float64], opts: FitOptions) -> int:
    return int(((energy >= opts.window[0]) & (energy <= opts.window[1])).sum())


def _window(energy: NDArray[np.float64], opts: FitOptions, model: str = "free"
            ) -> NDArray[np.bool_]:
    """Fit-window selection; refuses a window with fewer energies than ``model`` needs."""
    w = (energy >= opts.window[0]) & (energy <= opts.window[1])
    need, why = {
        "lcf": (MIN_ENERGIES_LCF, "two reference weights plus one degree of freedom"),
        "integral": (MIN_ENERGIES_INTEGRAL, "a rise sampled below, on and above the edge"),
        "shared": (MIN_ENERGIES_SHARED, "shift, scale and a baseline line of the shared shape, "
                                        "plus one degree of freedom"),
        "free": (mdl.n_params(opts.step) + 3,
                 f"{mdl.n_params(opts.step)} edge-model parameters plus three degrees of "
                 "freedom; with fewer energies use the shared shape from densely measured "
                 "references or method lcf"),
    }[model]
    if w.sum() < need:
        raise ValueError(f"only {int(w.sum())} energies inside the fit window "
                         f"{opts.window[0]:g}–{opts.window[1]:g} eV; the {model} fit needs at "
                         f"least {need} ({why})")
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
    check_spikes: bool = True,
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
    check_spikes : bool, optional
        Flag a single-energy outlier against the fitted model as ``SPIKE``
        (:func:`~ptyxanes.xanes.edge.residual_spikes`); off for references.

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
    norm = normalize(e, ab, status=st, **opts.norm_kwargs)
    w = _window(e, opts, "integral" if opts.method == "integral" else
                "shared" if (opts.uses_template and template is not None) else "free")
    y = norm.mu[0]
    ew = e[w]
    fine = np.arange(ew[0], ew[-1] + 0.5 * fine_step, fine_step)
    npar = mdl.n_params(opts.step)
    nan = float("nan")
    status = int(norm.status[0])
    if status != Status.OK:
        return SpectrumFit(e, y, float(norm.edge_jump[0]), fine, np.full(fine.size, nan),
                           np.full((3 + opts.step, fine.size), nan), np.full(npar, nan), nan,
                           nan, nan, nan, nan, nan, nan, status, opts.method)
    if opts.method == "integral":
        return _fit_spectrum_integral(e, y, norm, fine, opts, calibration)
    if opts.method == "lcf" and _has_lcf_spectra(calibration, e):
        return _fit_spectrum_lcf(e, y, float(norm.edge_jump[0]), fine, opts, calibration,
                                 check_spikes, float(norm.noise()[0] / norm.edge_jump[0])
                                 if norm.pre_dof >= 5 else None)
    if opts.uses_template and template is not None:
        return _fit_spectrum_shared(e, y, float(norm.edge_jump[0]), w, fine, opts, calibration,
                                    np.asarray(template, np.float64), check_spikes,
                                    float(norm.noise()[0] / norm.edge_jump[0])
                                    if norm.pre_dof >= 5 else None)
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
    if check_spikes and status in (Status.OK, Status.POOR_FIT, Status.FIT_FAILED) and \
            _free_spikes(ew, y[w][None], p[None])[0]:
        status = int(Status.SPIKE)
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


def _integral_noise(norm: Any, y: NDArray[np.float64]) -> NDArray[np.float64]:
    """1σ per energy of normalised spectra for the integral edge.

    The pre-edge scatter (per spectrum or pooled, :meth:`Normalized.noise`) over
    the edge jump; without pre-edge degrees of freedom, the scatter of the
    spectra's second differences in the window (an upper bound: it keeps some
    of the edge's curvature).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        s = norm.noise() / norm.edge_jump
    if y.shape[-1] >= 4:
        d2 = np.diff(y, 2, axis=-1)
        fb = 1.4826 * np.median(np.abs(d2 - np.median(d2, -1, keepdims=True)), -1) / np.sqrt(6)
        s = np.where(np.isfinite(s), s, fb)
    return s


def _integral_status(edge: NDArray[np.float64], sig: NDArray[np.float64],
                     inside: NDArray[np.bool_]) -> NDArray[np.uint8]:
    st = np.full(edge.shape, Status.OK, np.uint8)
    st[~inside] = Status.OUT_OF_RANGE
    st[inside & ~(np.isfinite(edge) & np.isfinite(sig))] = Status.FIT_FAILED
    return st


def _fit_spectrum_integral(e: NDArray[np.float64], y: NDArray[np.float64], norm: Any,
                           fine: NDArray[np.float64], opts: FitOptions,
                           calibration: Calibration | None) -> SpectrumFit:
    """One spectrum's integral edge (no model: the curve is the data in the window)."""
    w = _window(e, opts, "integral")
    ew = e[w]
    noise = _integral_noise(norm, y[w][None])
    ed, sg, inside = integral_edge(ew, y[w][None], noise=noise, norm_factors=(
        norm.pre_variance_factor, norm.post_variance_factor))
    status = int(_integral_status(ed, sg, inside)[0])
    nan = float("nan")
    edge, sig = (float(ed[0]), float(sg[0])) if status == Status.OK else (nan, nan)
    val = vs = nan
    if calibration is not None and status == Status.OK:
        v, s = calibration.valence(edge, sig)
        val, vs = float(v), float(s)
    return SpectrumFit(e, y, float(norm.edge_jump[0]), fine, np.interp(fine, ew, y[w]),
                       np.zeros((0, fine.size)), np.zeros(0), edge, sig, nan, nan, nan, nan,
                       nan, status, "integral", val, vs)


def _fit_spectrum_lcf(e: NDArray[np.float64], y: NDArray[np.float64], jump: float,
                      fine: NDArray[np.float64], opts: FitOptions, calibration: Any,
                      check_spikes: bool, noise_norm: float | None = None) -> SpectrumFit:
    """One spectrum as the map's ``lcf`` pixels (references + baseline line)."""
    w = _window(e, opts, "lcf")
    ew = e[w]
    rmat, rval = _lcf_refs(calibration, e, opts)  # type: ignore[misc]
    r = lcf_n(y[w][None], rmat[:, w], rval, ew, baseline=1)
    val, vs = float(r.valence[0]), float(r.valence_sigma[0])
    noise = None if noise_norm is None else np.array([noise_norm])
    ok = np.isfinite(val) and bool(_fit_ok(r.r2, r.s2, noise, opts)[0])
    status = int(Status.OK if ok else Status.POOR_FIT)
    if check_spikes and residual_spikes(r.residuals)[0]:
        status = int(Status.SPIKE)
    comps = np.stack([np.interp(fine, ew, wk * rk[w]) for wk, rk in zip(r.weights[0], rmat,
                                                                         strict=True)])
    curve = np.interp(fine, ew, y[w] - r.residuals[0])
    edge = float(calibration.edge_of(val)) if status == Status.OK else float("nan")
    sig = vs * abs(calibration.slope) if status == Status.OK else float("nan")
    if status != Status.OK:
        val = vs = float("nan")
    return SpectrumFit(e, y, jump, fine, curve, comps, r.weights[0], edge, sig, float("nan"),
                       float("nan"), float("nan"), float(r.r2[0]), float(r.s2[0]), status,
                       "lcf", val, vs)


def _free_spikes(ew: NDArray[np.float64], y: NDArray[np.float64], params: NDArray[np.float64]
                 ) -> NDArray[np.bool_]:
    """Spikes against free fits whose unresolved Gaussians are dropped.

    A free fit can place a Gaussian narrower than the energy spacing on a
    single outlier and so hide it; such a Gaussian is no spectral feature. The
    fits without those Gaussians, re-scaled on a fitted baseline
    (:func:`~ptyxanes.xanes.shape.fit_shift`), are the model the residuals are
    taken against.
    """
    p = np.array(params, np.float64, copy=True)
    out = np.zeros(p.shape[0], bool)
    if ew.size < 3:
        return out
    narrow = 1.5 * float(np.median(np.diff(ew)))
    for j in (0, 3, 6):
        p[:, j] = np.where(p[:, j + 2] < narrow, 0.0, p[:, j])
    # candidates: a large second difference (cheap); confirmed against the model
    with np.errstate(invalid="ignore"):
        cand = np.isfinite(p).all(1) & detect_spikes(y)
    for i in np.nonzero(cand)[0]:
        sf = shape_fit.fit_shift(ew, y[i][None], p[i])
        out[i] = bool(np.isfinite(sf.residuals[0]).all() and residual_spikes(-sf.residuals[0]))
    return out


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
                         calibration: Calibration | None, template: NDArray[np.float64],
                         check_spikes: bool = True, noise_norm: float | None = None
                         ) -> SpectrumFit:
    """One spectrum by the map's shared shape (same arithmetic as the map)."""
    ew = e[w]
    e_t, pk_t, h_t = template_edge(template, opts)
    sf = shape_fit.fit_shift(ew, y[w][None], template,
                             pre_map=pre_edge_map(e, ew, opts.pre_edge, opts.e0))
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = np.array([noise_norm]) if noise_norm is not None else None
    out = _shared_outputs(sf, e_t, opts, noise)
    status = int(out["status"][0])
    if check_spikes and status in (Status.OK, Status.POOR_FIT, Status.FIT_FAILED) and \
            residual_spikes(-sf.residuals[0]):
        status = int(Status.SPIKE)
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


#: A fit with R² below ``min_r2`` is still good when its residual variance is below
#: this many times the noise variance from the pre-edge scatter (a thin, noisy pixel).
NOISE_VARIANCE_FACTOR: float = 3.0


def _fit_ok(r2: NDArray[np.float64], s2: NDArray[np.float64], noise: NDArray[np.float64] | None,
            opts: FitOptions) -> NDArray[np.bool_]:
    """R² at least ``min_r2``, or residuals no larger than the spectrum's own noise."""
    with np.errstate(invalid="ignore"):
        ok = r2 >= opts.min_r2
        if noise is not None:
            ok |= np.isfinite(r2) & (s2 <= NOISE_VARIANCE_FACTOR * noise**2)
    return ok


def background_threshold(jumps: NDArray[np.floating]) -> float:
    """Otsu threshold of the edge jumps, but only when they hold a background class.

    The lower Otsu class is background when its mean jump is below a fifth of
    the upper class's (empty pixels have a jump near zero); otherwise the map
    is sample throughout and the threshold is 0 (every positive jump kept).

    Parameters
    ----------
    jumps : ndarray
        Edge jumps.

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> bg = np.r_[rng.normal(0.001, 0.002, 300), rng.uniform(0.2, 0.3, 300)]
    >>> 0.005 < background_threshold(bg) < 0.2
    True
    >>> background_threshold(rng.uniform(0.1, 0.3, 600))
    0.0
    """
    v = np.asarray(jumps, np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    t = otsu_threshold(v)
    if v.size < 2 or t <= 0:
        return 0.0
    lo, hi = v[v <= t], v[v > t]
    if lo.size == 0 or hi.size == 0 or lo.mean() >= 0.2 * hi.mean():
        return 0.0
    return t


def sample_mask(norm: Any, mask_sigma: float = 5.0) -> NDArray[np.bool_]:
    """Sample pixels: edge jump significant against the pixel's own pre-edge noise.

    Parameters
    ----------
    norm : Normalized
        From :func:`~ptyxanes.xanes.normalize.normalize`.
    mask_sigma : float, optional
        Significance required (jump over its 1σ).

    Returns
    -------
    mask : ndarray of bool
        True where the jump exceeds ``mask_sigma`` σ. Where no noise estimate
        exists (too few pre-edge energies) the Otsu threshold of the edge-jump
        histogram is used, and only when that histogram has a background class
        (:func:`background_threshold`).

    Notes
    -----
    The significance needs no background in the field: a map entirely inside
    a particle keeps every pixel with a real edge, and empty pixels fail the
    test whatever the histogram looks like.

    Examples
    --------
    >>> from ptyxanes.xanes.normalize import normalize
    >>> e = np.r_[np.arange(8200.0, 8300.0, 5.0), 8340.0, np.arange(8400.0, 8421.0, 5.0)]
    >>> rng = np.random.default_rng(0)
    >>> mu = 0.1 + np.outer([0.0, 0.1, 0.2], e > 8330) + rng.normal(0, 0.002, (3, e.size))
    >>> sample_mask(normalize(e, mu, post_order=0)).tolist()
    [False, True, True]
    """
    z = norm.jump_significance()
    with np.errstate(invalid="ignore"):
        if np.isfinite(z).any():
            return z > mask_sigma
        j = np.where(norm.status == Status.OK, norm.edge_jump, np.nan)
        return j > background_threshold(j)


def _shared_outputs(sf: shape_fit.ShapeFit, e_t: float, opts: FitOptions,
                    noise: NDArray[np.float64] | None = None
                    ) -> dict[str, NDArray[Any]]:
    """Edge, its sigma, R² and status codes of shared-shape fits."""
    edge = e_t + sf.shift
    st = np.full(sf.shift.shape, Status.OK, np.uint8)
    st[~sf.ok] = Status.FIT_FAILED
    with np.errstate(invalid="ignore"):
        st[(st == Status.OK) & ~_fit_ok(sf.r2, sf.s2, noise, opts)] = Status.POOR_FIT
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


#: A reference whose shared-shape fit leaves an RMS residual above this fraction of its range
#: (a metal foil against an oxide map's shape) cannot be measured with the map's shape.
REFERENCE_MISMATCH_LIMIT: float = 0.06


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
        yr = np.asarray(f.mu_norm, np.float64)[w]
        rel = float(np.sqrt(np.mean(sf.residuals[0] ** 2)) / max(float(np.ptp(yr)), 1e-12))
        if rel > REFERENCE_MISMATCH_LIMIT:
            raise ValueError(f"reference {ref.name!r} does not match the map's edge shape (RMS "
                             f"residual {100 * rel:.1f} % of its range, limit "
                             f"{100 * REFERENCE_MISMATCH_LIMIT:.0f} %); use shape='free'")
        edges.append(ReferenceEdge(ref.name, ref.valence, float(e_t + sf.shift[0]), 0.0, f))
    return calibrate(edges, method=calibration.method, piecewise=calibration.piecewise)


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
                raise ValueError(f"reference {ref.name!r} covers {e[0]:.0f}–{e[-1]:.0f} eV, "
                                 f"not the stack's {grid[0]:.0f}–{grid[-1]:.0f} eV")
            if _n_window(grid, opts) >= mdl.n_params(opts.step) + 3 or opts.method == "integral":
                mu = np.interp(grid, e, mu)
                e = grid
            else:
                # sparse stack energies: the reference keeps its own dense grid (its shape
                # is the shared shape of a sparse map; LCF interpolates it)
                logger.info("reference %s fitted on its own %d energies (the stack has %d in "
                            "the window)", ref.name, _n_window(e, opts), _n_window(grid, opts))
        f = fit_spectrum(e, mu, options=opts_curve, check_spikes=False)
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
    piecewise: bool = False,
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
    piecewise : bool, optional
        Straight segments through the references instead of one line (a
        calibration that curves, e.g. metal foil plus oxides); with three or
        more references the fit reports each one's residual and warns above
        0.2 valence.

    Returns
    -------
    calibration : Calibration
    """
    opts = options or FitOptions()
    return calibrate(reference_edges(references, energy=energy, options=opts),
                     method=opts.curve_method, piecewise=piecewise)


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
class ChunkFit:
    """The fit of one block of spectra (flat, in the block's pixel order).

    Attributes
    ----------
    edge, sigma : ndarray of shape (N,)
        Edge energy and its 1σ, eV.
    jump : ndarray of shape (N,)
        Edge jump, input absorption units.
    r2 : ndarray of shape (N,)
        Fit quality.
    status : ndarray of uint8, shape (N,)
        :class:`~ptyxanes.xanes.status.Status` codes.
    valence, vsigma : ndarray of shape (N,)
        Valence and its 1σ (NaN without a calibration).
    template : ndarray or None
        The starting shape of a free fit (None otherwise).
    """

    edge: NDArray[np.float64]
    sigma: NDArray[np.float64]
    jump: NDArray[np.float64]
    r2: NDArray[np.float64]
    status: NDArray[np.uint8]
    valence: NDArray[np.float64]
    vsigma: NDArray[np.float64]
    template: NDArray[np.float64] | None = None


_ChunkOut = ChunkFit


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
    calibration: Calibration | None, threshold: float | str | None,
    lcf_refs: tuple[NDArray[np.float64], NDArray[np.float64]] | None,
    shared: NDArray[np.float64] | None = None,
) -> ChunkFit:
    """Fit a flat batch (N, E) of spectra; pixels below ``threshold`` are not fitted.

    With ``shared`` (a template shape) pixels get the shared-shape fit."""
    n = spectra.shape[0]
    ab, st = to_absorption(spectra, kind)
    norm = normalize(energy, ab, status=st, **opts.norm_kwargs)
    st = norm.status.copy()
    # 1σ per energy in normalised units, where each spectrum's pre-edge measures it
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = norm.noise() / norm.edge_jump if norm.pre_dof >= 5 else np.full(n, np.nan)
    if threshold == "auto":
        st[(st == Status.OK) & ~sample_mask(norm, opts.mask_sigma)] = Status.BELOW_THRESHOLD
    elif threshold is not None:
        with np.errstate(invalid="ignore"):
            st[(st == Status.OK) & ~(norm.edge_jump > float(threshold))] = Status.BELOW_THRESHOLD
    w = _window(energy, opts, opts.method if opts.method in ("lcf", "integral") else
                "shared" if shared is not None else "free")
    ew = energy[w]
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
            rmat, rval = lcf_refs
            lres = lcf_n(y, rmat[:, w], rval, ew, baseline=1)
            val[todo], vsig[todo], r2[todo] = lres.valence, lres.valence_sigma, lres.r2
            if calibration is not None:
                edge[todo] = calibration.edge_of(lres.valence)
                sig[todo] = lres.valence_sigma * abs(calibration.slope)
            with np.errstate(invalid="ignore"):
                phys = (lres.weights.sum(-1) > 0) & (lres.valence >= rval.min() - 0.5) \
                    & (lres.valence <= rval.max() + 0.5)
            sub = np.where(np.isfinite(lres.valence) & _fit_ok(lres.r2, lres.s2, noise[todo], opts),
                           Status.OK, Status.POOR_FIT).astype(np.uint8)
            sub[(sub == Status.OK) & ~phys] = Status.OUT_OF_RANGE
            sub[np.isin(sub, (Status.OK, Status.POOR_FIT)) & residual_spikes(lres.residuals)] = \
                Status.SPIKE
            st[todo] = sub
        elif opts.method == "integral":
            yi = norm.mu[todo][:, w]
            noise_i = _integral_noise(norm, norm.mu[:, w])[todo]
            ie, isg, inside = integral_edge(ew, yi, noise=noise_i, norm_factors=(
                norm.pre_variance_factor, norm.post_variance_factor))
            st[todo] = _integral_status(ie, isg, inside)
            edge[todo], sig[todo] = ie, isg
            if calibration is not None:
                val[todo], vsig[todo] = calibration.valence(ie, isg)
        elif shared is not None:
            template = shared
            sf = shape_fit.fit_shift(ew, y, shared,
                                     pre_map=pre_edge_map(energy, ew, opts.pre_edge, opts.e0))
            o = _shared_outputs(sf, template_edge(shared, opts)[0], opts, noise[todo])
            o["status"][np.isin(o["status"], (Status.OK, Status.POOR_FIT))
                        & residual_spikes(-sf.residuals)] = Status.SPIKE
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
            res = mdl.model_batch(ew, params) - y
            fst = _flag_status(out, opts)
            fst[np.isin(fst, (Status.OK, Status.POOR_FIT, Status.FIT_FAILED))
                & _free_spikes(ew, y, params)] = Status.SPIKE
            st[todo] = fst
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
    return ChunkFit(edge, sig, norm.edge_jump, r2, st, val, vsig, template)


#: Spectra sampled from the map to decide the ``auto`` method.
AUTO_SAMPLE: int = 8000


def residual_structure(residuals: NDArray[np.float64], jump: NDArray[np.float64],
                       edge: NDArray[np.float64], good: NDArray[np.bool_]
                       ) -> tuple[float, float]:
    """How much of the shared-shape residual is a pattern that varies between pixels.

    The residuals are converted to absorption units (times the edge jump, where
    the noise of a transmission measurement is about uniform), the part common
    to all pixels with the same edge energy (the shape's own misfit, which
    cancels in the calibration) is removed in 0.1 eV bins of edge energy, and
    the eigenvalues of the residual covariance are compared: white noise gives
    eigenvalues within a factor ``(1 + sqrt(F/N))^2`` of each other; a change of
    edge shape across the map puts a large share into the first one.

    Parameters
    ----------
    residuals : ndarray of shape (N, F)
        Model minus normalised data.
    jump : ndarray of shape (N,)
        Edge jumps (absorption units).
    edge : ndarray of shape (N,)
        Edge energies, eV.
    good : ndarray of bool, shape (N,)
        Spectra used.

    Returns
    -------
    ratio : float
        Largest eigenvalue over the median one (about 1–1.5 for noise alone).
    amplitude : float
        RMS over the window of the leading pattern, normalised units
        (its share of a typical pixel's normalised spectrum).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(0, 0.01, (500, 40))
    >>> ratio, amp = residual_structure(r, np.ones(500), np.zeros(500), np.ones(500, bool))
    >>> ratio < 2
    True
    >>> r2 = r + np.outer(rng.choice([-1.0, 1.0], 500), np.sin(np.arange(40) / 5)) * 0.1
    >>> residual_structure(r2, np.ones(500), np.zeros(500), np.ones(500, bool))[0] > 20
    True
    """
    g = good & np.isfinite(residuals).all(1) & np.isfinite(jump) & np.isfinite(edge)
    if g.sum() < 20:
        return float("nan"), float("nan")
    res = residuals[g]
    ed = edge[g]
    j = jump[g]
    b = np.floor((ed - ed.min()) / 0.1).astype(np.int64)
    nb_ = int(b.max()) + 1
    sums = np.zeros((nb_, res.shape[1]))
    cnt = np.zeros(nb_)
    np.add.at(sums, b, res)
    np.add.at(cnt, b, 1.0)
    glob = res.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(cnt[:, None] >= 10, sums / cnt[:, None], glob)
    r = (res - means[b]) * j[:, None]
    lam, vec = np.linalg.eigh(r.T @ r / r.shape[0])
    lam = np.maximum(lam[::-1], 0.0)
    med = float(np.median(lam))
    ratio = float(lam[0] / med) if med > 0 else float("inf")
    amp = float(np.sqrt(max(lam[0] - med, 0.0) / r.shape[1]) / np.median(j))
    return ratio, amp


#: ``auto``: references whose shapes differ by more than this (RMS after the best shift,
#: scale and baseline line, relative to the spectrum's range) span a shape family that a
#: single shifted shape cannot follow.
REFERENCE_SHAPE_LIMIT: float = 0.05


def reference_shape_difference(calibration: Calibration | None, energy: NDArray[np.float64],
                               window: tuple[float, float]) -> float:
    """How much the references' edge shapes differ beyond a rigid shift.

    Each pair of references adjacent in valence is superposed: the higher one
    fitted as ``a ref_low(E - s) + b + c E`` (``s`` on a 0.05 eV grid, ``a``,
    ``b``, ``c`` by least squares) over the window.

    Parameters
    ----------
    calibration : Calibration
        With reference spectra on ``energy``.
    energy : ndarray of shape (E,)
        eV.
    window : tuple of float
        eV.

    Returns
    -------
    difference : float
        Largest RMS residual over the pairs, relative to the range of the
        higher reference in the window (0 for rigidly shifted references);
        NaN without two references.
    """
    if calibration is None:
        return float("nan")
    refs = sorted((r for r in calibration.references if r.fit is not None),
                  key=lambda r: r.valence)
    worst = float("nan")
    for lo, hi in zip(refs[:-1], refs[1:], strict=True):
        le = np.asarray(lo.fit.energy, np.float64)
        w = (le >= window[0]) & (le <= window[1])
        e = le[w]
        if e.size < 5:
            continue
        a = np.asarray(lo.fit.mu_norm, np.float64)[w]
        b = np.interp(e, np.asarray(hi.fit.energy, np.float64),
                      np.asarray(hi.fit.mu_norm, np.float64))
        if not (np.isfinite(a).all() and np.isfinite(b).all()) or lo.valence == hi.valence:
            continue
        best = np.inf
        for sft in np.arange(-8.0, 8.0 + 1e-9, 0.05):
            x = np.stack([np.interp(e - sft, e, a), np.ones_like(e), (e - e.mean()) / 10.0], 1)
            coef, *_ = np.linalg.lstsq(x, b, rcond=None)
            best = min(best, float(np.sqrt(np.mean((x @ coef - b) ** 2))))
        rel = best / max(float(np.ptp(b)), 1e-12)
        worst = rel if not np.isfinite(worst) else max(worst, rel)
    return worst


#: ``auto``: leading residual pattern (normalised units, RMS over the window) below which a
#: pattern, however significant, is too small to bias the shared-shape valence.
STRUCTURE_MIN_AMPLITUDE: float = 0.03


def choose_method(energy: NDArray[np.float64], mu_norm: NDArray[np.float64],
                  jump: NDArray[np.float64], opts: FitOptions,
                  template: NDArray[np.float64] | None, calibration: Calibration | None
                  ) -> tuple[FitOptions, NDArray[np.float64] | None, dict[str, Any]]:
    """Resolve ``method="auto"``: keep the shared shape or follow a changing edge shape.

    The sample's spectra are fitted with the shared shape. With two or more
    reference spectra on the data's energies they are also fitted as a linear
    combination of the references (a shape family spanned by them, plus a
    baseline line); when that leaves ``opts.lcf_gain`` times less residual
    variance (median over the sample, absorption units), the edge shape
    changes across the map in the way the references change, the shared shape
    would bias one phase, and ``lcf`` is used. Without references, a residual
    pattern that varies between pixels (:func:`residual_structure`: eigenvalue
    ratio above ``opts.structure_ratio`` and amplitude above
    :data:`STRUCTURE_MIN_AMPLITUDE`) switches to the free fit. A reference that
    the shared shape cannot fit at all also abandons it.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    mu_norm : ndarray of shape (N, E)
        Normalised sample spectra.
    jump : ndarray of shape (N,)
        Their edge jumps.
    opts : FitOptions
        With ``method="auto"``.
    template : ndarray or None
        The shared shape (None when it could not be built).
    calibration : Calibration or None

    Returns
    -------
    options : FitOptions
        With the chosen method (``halfheight``, ``lcf``) and shape.
    template : ndarray or None
        The shared shape, None when it is not used.
    info : dict
        ``method_reason`` (text with the numbers), ``structure_ratio``,
        ``structure_amplitude``, ``lcf_gain``.
    """
    info: dict[str, Any] = {}
    ratio = amp = gain = float("nan")
    mismatch = ""
    w = (energy >= opts.window[0]) & (energy <= opts.window[1])
    ew = energy[w]
    lcf_ok = _has_lcf_spectra(calibration, energy)
    if template is not None and mu_norm.shape[0] >= 20:
        sf = shape_fit.fit_shift(ew, mu_norm[:, w], template,
                                 pre_map=pre_edge_map(energy, ew, opts.pre_edge, opts.e0))
        o = _shared_outputs(sf, template_edge(template, opts)[0], opts)
        ratio, amp = residual_structure(sf.residuals, jump, o["edge"], sf.ok)
        info["shared_unfitted_fraction"] = float(np.mean(o["status"] != Status.OK))
        if lcf_ok:
            rmat, rval = _lcf_refs(calibration, energy, replace(opts, method="lcf"))  # type: ignore[misc]
            lr = lcf_n(mu_norm[:, w], rmat[:, w], rval, ew, baseline=1)
            # residual variances in absorption units (noise about uniform there)
            with np.errstate(invalid="ignore"):
                s_sh = np.nanmedian(sf.s2 * jump**2)
                s_lc = np.nanmedian(lr.s2 * jump**2)
            gain = float(s_sh / s_lc) if s_lc > 0 else float("nan")
    if template is not None and calibration is not None:
        try:
            shared_calibration(calibration, template, replace(opts, method="halfheight"))
        except ValueError as exc:
            mismatch = str(exc)
    info["structure_ratio"] = ratio
    info["structure_amplitude"] = amp
    info["lcf_gain"] = gain
    unfitted = info.get("shared_unfitted_fraction", 0.0)
    ref_diff = reference_shape_difference(calibration, energy, opts.window) if lcf_ok \
        else float("nan")
    info["reference_shape_difference"] = ref_diff
    if unfitted > 0.5:
        structured = True
        evidence = f"the shared shape fails on {100 * unfitted:.0f} % of the sample's spectra"
    elif np.isfinite(gain):
        structured = bool(ref_diff > REFERENCE_SHAPE_LIMIT and gain > opts.lcf_gain)
        evidence = (f"the references differ in shape by {100 * ref_diff:.1f} % beyond a shift "
                    f"(limit {100 * REFERENCE_SHAPE_LIMIT:.0f} %) and their linear combination "
                    f"leaves {gain:.2f} times less residual variance than the shared shape "
                    f"(limit {opts.lcf_gain:.2f})")
    else:
        structured = bool(np.isfinite(ratio) and ratio > opts.structure_ratio
                          and amp > STRUCTURE_MIN_AMPLITUDE)
        evidence = (f"residual pattern {ratio:.1f} times the noise eigenvalue, {amp:.3f} of the "
                    f"edge (limits {opts.structure_ratio:.1f} and {STRUCTURE_MIN_AMPLITUDE:.3f})")
    if template is not None and not structured and not mismatch:
        info["method_reason"] = f"shared edge shape kept: {evidence}"
        logger.info("auto method: %s", info["method_reason"])
        return replace(opts, method="halfheight"), template, info
    why = ("no shared shape" if template is None else
           f"reference mismatch ({mismatch})" if mismatch else
           f"the edge shape changes across the map: {evidence}")
    if lcf_ok and (structured or not mismatch):
        info["method_reason"] = f"linear combination of the references: {why}"
        new = replace(opts, method="lcf")
    else:
        info["method_reason"] = f"free fit per pixel: {why}"
        new = replace(opts, method="halfheight", shape="free")
    logger.info("auto method: %s", info["method_reason"])
    return new, None, info


def _covers(fe: Any, energy: NDArray[np.float64]) -> bool:
    fe = np.asarray(fe, np.float64)
    return bool(fe.size >= 2 and fe[0] <= energy[0] + 1e-6 and fe[-1] >= energy[-1] - 1e-6)


def _has_lcf_spectra(calibration: Calibration | None, energy: NDArray[np.float64]) -> bool:
    if calibration is None or len({r.valence for r in calibration.references}) < 2:
        return False
    for r in calibration.references:
        f = r.fit
        if f is None or getattr(f, "mu_norm", None) is None or not _covers(f.energy, energy):
            return False
    return True


def template_from_references(calibration: Calibration | None, opts: FitOptions
                             ) -> NDArray[np.float64]:
    """Shared shape of a sparsely sampled map: the edge-model fit of a dense reference.

    The reference whose valence is nearest the middle of the references' range is used
    (for references that differ only by a shift, any one gives the same shape).

    Parameters
    ----------
    calibration : Calibration
        Its references fitted on their own (dense) energies.
    opts : FitOptions

    Returns
    -------
    template : ndarray of shape (9,) or (12,)

    Raises
    ------
    ValueError
        Without a reference fitted on enough energies.
    """
    need = mdl.n_params(opts.step) + 3
    refs = [] if calibration is None else [
        r for r in calibration.references if r.fit is not None
        and _n_window(np.asarray(r.fit.energy, np.float64), opts) >= need
        and np.all(np.isfinite(r.fit.params))]
    if not refs:
        raise ValueError(f"the map has fewer than {need} energies in the fit window "
                         f"{opts.window[0]:g}–{opts.window[1]:g} eV and no densely measured "
                         "reference gives the shared shape: give references or use method lcf")
    vals = np.array([r.valence for r in refs])
    mid = 0.5 * (vals.min() + vals.max())
    best = refs[int(np.argmin(np.abs(vals - mid)))]
    logger.info("shared shape from the dense reference %s (sparse map)", best.name)
    return np.asarray(best.fit.params, np.float64)


def _lcf_refs(calibration: Calibration | None, energy: NDArray[np.float64], opts: FitOptions
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Reference spectra (K, E) on the stack energies and their valences, for ``lcf``."""
    if opts.method != "lcf":
        return None
    if calibration is None or len({r.valence for r in calibration.references}) < 2:
        raise ValueError("method 'lcf' needs references of at least two different valences")
    curves, vals = [], []
    for r in sorted(calibration.references, key=lambda r: r.valence):
        f = r.fit
        if f is None or not _covers(f.energy, energy):
            raise ValueError(f"method 'lcf' needs the spectrum of reference {r.name!r} over the "
                             f"stack's {energy[0]:.1f}–{energy[-1]:.1f} eV")
        fe = np.asarray(f.energy, np.float64)
        same = fe.shape == energy.shape and np.allclose(fe, energy)
        curves.append(np.asarray(f.mu_norm, np.float64) if same
                      else np.interp(energy, fe, np.asarray(f.mu_norm, np.float64)))
        vals.append(r.valence)
    return np.stack(curves), np.asarray(vals, np.float64)


# ----------------------------------------------------------------------------- map fit in passes
# The map fit runs in up to three passes over blocks of rows (planes): the first
# pass (edge jumps for the Otsu threshold, Ni-weighted sums for the shared shape),
# the sample of the ``auto`` method, and the fit. fit_stack_array runs them one
# after the other; ptyxanes.distributed runs each block as a task. Both call the
# functions below, so that they give the same maps.

#: Edge-jump bins of the first pass's Ni-weighted sums (2.3 % wide: −ln|T| and 1/m alike).
JUMP_BINS: NDArray[np.float64] = np.geomspace(1e-8, 1e8, 1601)


@dataclass(frozen=True)
class FitPlan:
    """The blocks of a map fit and what is known of it before (or after) the first pass.

    Attributes
    ----------
    energy : ndarray of shape (E,)
        eV.
    spatial : tuple of int
        Spatial shape of the map (volume).
    blocks : tuple of (int, int)
        Ranges of the leading spatial axis (rows or planes), about
        ``chunk_spectra`` spectra each.
    options : FitOptions
        ``method="auto"`` with ``shape="free"`` already resolved to halfheight;
        ``shape="free"`` when the first pass found no shared shape.
    threshold : float, "auto", "otsu" or None
        The mask as asked.
    thr : float or None
        The numeric edge-jump threshold (given, or the Otsu threshold after the
        first pass); None for ``"auto"`` and None.
    template : ndarray or None
        Shared shape (given, from a dense reference, or after the first pass).
    need_mean : bool
        The first pass forms the map's Ni-weighted mean spectrum.
    first_pass : bool
        A first pass over the data is needed (Otsu threshold or shared shape).
    """

    energy: NDArray[np.float64]
    spatial: tuple[int, ...]
    blocks: tuple[tuple[int, int], ...]
    options: FitOptions
    threshold: float | str | None
    thr: float | None
    template: NDArray[np.float64] | None
    need_mean: bool
    first_pass: bool

    @property
    def mask_rule(self) -> float | str | None:
        """The threshold argument of the per-block fit: ``"auto"`` or :attr:`thr`."""
        return "auto" if self.threshold == "auto" else self.thr

    @property
    def sample_per_block(self) -> int:
        """Sample spectra per block for the ``auto`` method (:data:`AUTO_SAMPLE` in all)."""
        return max(1, AUTO_SAMPLE // max(len(self.blocks), 1))


@dataclass(frozen=True)
class FitDecision:
    """Everything the per-block fit needs, decided for the whole map.

    Attributes
    ----------
    plan : FitPlan
        After its first pass.
    options : FitOptions
        With the method and shape chosen (``auto`` resolved).
    template : ndarray or None
        Shared shape used, None for free and LCF fits.
    calibration : Calibration or None
        Re-measured with the shared shape when there is one.
    lcf_refs : (ndarray, ndarray) or None
        Reference spectra on the map's energies and their valences (``lcf``).
    info : dict
        Why the ``auto`` method chose what it chose.
    """

    plan: FitPlan
    options: FitOptions
    template: NDArray[np.float64] | None
    calibration: Calibration | None
    lcf_refs: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    info: dict[str, Any] = field(default_factory=dict)


def plan_fit(
    energy: ArrayLike,
    spatial: Sequence[int],
    *,
    options: FitOptions | None = None,
    calibration: Calibration | None = None,
    threshold: float | str | None = "auto",
    template: NDArray[np.float64] | None = None,
    chunk_spectra: int = 131072,
) -> FitPlan:
    """Plan a map fit: blocks, passes and what is known before reading the data.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    spatial : sequence of int
        Spatial shape (``()`` for one spectrum).
    options, calibration, threshold, template, chunk_spectra
        As :func:`fit_stack_array`.

    Returns
    -------
    plan : FitPlan

    Raises
    ------
    ValueError
        ``lcf`` without usable references; a sparse map without a dense
        reference for the shared shape.
    """
    opts = options or FitOptions()
    e = np.asarray(energy, np.float64)
    spatial = tuple(int(s) for s in spatial)
    lead = spatial[0] if spatial else 1
    per_lead = int(np.prod(spatial[1:])) if len(spatial) > 1 else 1
    step_lead = max(1, chunk_spectra // max(per_lead, 1))
    blocks = tuple((i, min(i + step_lead, lead)) for i in range(0, lead, step_lead))
    _lcf_refs(calibration, e, opts)  # refuse an impossible lcf before reading any data
    if opts.method == "auto" and opts.shape == "free":
        opts = replace(opts, method="halfheight")  # free shapes follow every pixel already
    if opts.uses_template and template is None and \
            _n_window(e, opts) < mdl.n_params(opts.step) + 3:
        template = template_from_references(calibration, opts)
    need_mean = opts.uses_template and template is None
    thr = None if threshold in (None, "otsu", "auto") else float(threshold)
    shared = np.asarray(template, np.float64) if (opts.uses_template and template is not None) \
        else None
    return FitPlan(e, spatial, blocks, opts, threshold, thr, shared, need_mean,
                   threshold == "otsu" or need_mean)


def first_pass_block(spectra: NDArray[Any], kind: str, plan: FitPlan) -> dict[str, NDArray[Any]]:
    """The first pass over one block: edge jumps and Ni-weighted sums in edge-jump bins.

    Parameters
    ----------
    spectra : ndarray of shape (N, E)
        The block's spectra, in ``kind`` units.
    kind : {"absorption", "complex", "modulus"}
    plan : FitPlan
        Before its first pass.

    Returns
    -------
    part : dict
        ``jumps`` (N,) float32, NaN where not usable (with ``threshold="otsu"``);
        ``wsum`` (bins + 1, E) and ``wtot`` (bins + 1,) over :data:`JUMP_BINS`
        (with ``plan.need_mean``).
    """
    e, opts = plan.energy, plan.options
    ab, st = to_absorption(spectra, kind)
    nm = normalize(e, ab, status=st, **opts.norm_kwargs)
    j = np.where(nm.status == Status.OK, nm.edge_jump, np.nan)
    out: dict[str, NDArray[Any]] = {}
    if plan.threshold == "otsu":
        out["jumps"] = j.astype(np.float32)
    if plan.need_mean:
        # Ni-weighted sums of the normalised spectra in fine log bins of edge jump, so
        # that the mean of the pixels above the (not yet known) Otsu threshold can be
        # formed after this pass without keeping the spectra
        wsum = np.zeros((JUMP_BINS.size + 1, e.size))
        wtot = np.zeros(JUMP_BINS.size + 1)
        with np.errstate(invalid="ignore"):
            use = np.isfinite(j) & (j > 0) & np.isfinite(nm.mu).all(1)
            if plan.threshold == "auto":
                use &= sample_mask(nm, opts.mask_sigma)
        wj = j[use].astype(np.float64)
        bi = np.searchsorted(JUMP_BINS, wj)
        wtot += np.bincount(bi, weights=wj, minlength=wtot.size)
        wmu = wj[:, None] * nm.mu[use]
        for q in range(e.size):
            wsum[:, q] += np.bincount(bi, weights=wmu[:, q], minlength=wtot.size)
        out["wsum"], out["wtot"] = wsum, wtot
    return out


def finish_first_pass(plan: FitPlan, parts: Sequence[Mapping[str, NDArray[Any]]]) -> FitPlan:
    """Combine the first pass of every block (in block order): Otsu threshold, shared shape.

    Parameters
    ----------
    plan : FitPlan
    parts : sequence of dict
        :func:`first_pass_block` of every block, in block order.

    Returns
    -------
    plan : FitPlan
        With ``thr`` (Otsu) and ``template`` set, or ``shape="free"`` when the
        map's mean spectrum gives no shared shape.
    """
    thr, shared, opts = plan.thr, plan.template, plan.options
    if plan.threshold == "otsu":
        thr = otsu_threshold(np.concatenate([p["jumps"] for p in parts]))
        logger.info("Otsu edge-jump threshold %.4g", thr)
    if plan.need_mean:
        wsum = np.zeros((JUMP_BINS.size + 1, plan.energy.size))
        wtot = np.zeros(JUMP_BINS.size + 1)
        for p in parts:
            wsum += p["wsum"]
            wtot += p["wtot"]
        # the sample's pixels (edge jump above the threshold), weighted by Ni amount
        above = np.searchsorted(JUMP_BINS, thr) if thr is not None else 0
        tot = float(wtot[above:].sum())
        try:
            if not tot > 0:
                raise ValueError("no pixel with an edge jump above the threshold")
            shared = fit_template(plan.energy, wsum[above:].sum(0) / tot, opts)
        except ValueError as exc:
            logger.warning("shared shape unavailable (%s): every pixel fitted freely", exc)
            opts = replace(opts, shape="free")
    return replace(plan, thr=thr, template=shared, options=opts, first_pass=False)


def sample_block(spectra: NDArray[Any], kind: str, plan: FitPlan
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Sample spectra of one block for the ``auto`` method: normalised spectra and edge jumps.

    Parameters
    ----------
    spectra : ndarray of shape (N, E)
    kind : {"absorption", "complex", "modulus"}
    plan : FitPlan
        After its first pass.

    Returns
    -------
    mu_norm : ndarray of shape (K, E)
        Up to :attr:`FitPlan.sample_per_block` spectra inside the mask, evenly spread.
    jumps : ndarray of shape (K,)
    """
    e, opts, rule = plan.energy, plan.options, plan.mask_rule
    ab, st = to_absorption(spectra, kind)
    nm = normalize(e, ab, status=st, **opts.norm_kwargs)
    with np.errstate(invalid="ignore"):
        ok = (nm.status == Status.OK) & np.isfinite(nm.mu).all(-1)
        if rule == "auto":
            ok &= sample_mask(nm, opts.mask_sigma)
        elif rule is not None:
            ok &= nm.edge_jump > float(rule)
    idx = np.nonzero(ok)[0]
    per = plan.sample_per_block
    if idx.size > per:
        idx = idx[np.linspace(0, idx.size - 1, per).astype(int)]
    return nm.mu[idx], nm.edge_jump[idx]


def decide_fit(plan: FitPlan, calibration: Calibration | None,
               samples: Sequence[tuple[NDArray[np.float64], NDArray[np.float64]]] | None = None
               ) -> FitDecision:
    """Resolve the method (``auto``: :func:`choose_method`) and re-measure the calibration.

    Parameters
    ----------
    plan : FitPlan
        After its first pass.
    calibration : Calibration or None
    samples : sequence of (ndarray, ndarray), optional
        :func:`sample_block` of every block, in block order (needed for
        ``method="auto"``).

    Returns
    -------
    decision : FitDecision
    """
    e, opts, shared = plan.energy, plan.options, plan.template
    choice: dict[str, Any] = {}
    if opts.method == "auto":
        if samples is None:
            raise ValueError("method 'auto' needs the sample spectra of every block")
        ys = np.concatenate([s[0] for s in samples])
        js = np.concatenate([s[1] for s in samples])
        opts, shared, choice = choose_method(e, ys, js, opts, shared, calibration)
    lcf_refs = _lcf_refs(calibration, e, opts)
    if shared is not None:
        e_t = template_edge(shared, opts)[0]
        logger.info("shared edge shape: edge %.3f eV", e_t)
        if calibration is not None:
            calibration = shared_calibration(calibration, shared, opts)
    return FitDecision(plan, opts, shared, calibration, lcf_refs, choice)


def fit_block(spectra: NDArray[Any], kind: str, decision: FitDecision) -> ChunkFit:
    """Fit the spectra of one block with the map's decision (mask, method, shape, calibration).

    Parameters
    ----------
    spectra : ndarray of shape (N, E)
    kind : {"absorption", "complex", "modulus"}
    decision : FitDecision

    Returns
    -------
    chunk : ChunkFit
    """
    d = decision
    return _fit_chunk(d.plan.energy, spectra, kind, d.options, d.calibration, d.plan.mask_rule,
                      d.lcf_refs, d.template)


def assemble_fit(decision: FitDecision, chunks: Sequence[ChunkFit], seconds: float = 0.0
                 ) -> XanesResult:
    """The maps of a whole fit from its blocks' fits (in block order).

    Parameters
    ----------
    decision : FitDecision
    chunks : sequence of ChunkFit
        Block fits in block order; pixels after the last one (a fit told to
        finish early) are marked ``FIT_FAILED``.
    seconds : float, optional
        Elapsed time, s (for ``info``).

    Returns
    -------
    result : XanesResult
    """
    plan, opts = decision.plan, decision.options
    spatial, threshold, thr = plan.spatial, plan.threshold, plan.thr
    npix = int(np.prod(spatial)) if spatial else 1
    maps = {k: np.full(npix, np.nan, np.float32)
            for k in ("valence", "sigma", "edge", "jump", "r2", "esig")}
    status = np.zeros(npix, np.uint8)
    tmpl_out = decision.template
    k = 0
    for out in chunks:
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
    status[k:] = Status.FIT_FAILED
    mask = status == Status.OK
    if thr is not None or threshold == "auto":
        with np.errstate(invalid="ignore"):
            mask = mask | np.isin(status, (Status.FIT_FAILED, Status.POOR_FIT, Status.SPIKE,
                                           Status.OUT_OF_RANGE))
    shp = spatial if spatial else ()
    return XanesResult(
        valence=maps["valence"].reshape(shp), valence_sigma=maps["sigma"].reshape(shp),
        edge_energy=maps["edge"].reshape(shp), edge_jump=maps["jump"].reshape(shp),
        edge_sigma=maps["esig"].reshape(shp),
        fit_quality=maps["r2"].reshape(shp), status=status.reshape(shp), mask=mask.reshape(shp),
        threshold=float(thr) if thr is not None else float("nan"),
        calibration=decision.calibration, options=opts, template=tmpl_out,
        info={"seconds": seconds, "n_spectra": npix, "shape": opts.shape,
              "mask": (f"edge jump above {opts.mask_sigma:g} sigma of the pre-edge noise"
                       if threshold == "auto" else f"threshold {threshold}"),
              "method": opts.method, **decision.info})


def fit_spectra(
    energy: ArrayLike,
    spectra: ArrayLike,
    *,
    kind: str = "absorption",
    options: FitOptions | None = None,
    calibration: Calibration | None = None,
    threshold: float | str | None = "auto",
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
    threshold : float, "auto", "otsu" or None, optional
        Sample mask. ``"auto"`` (default): pixels whose edge jump exceeds
        ``options.mask_sigma`` standard deviations of the jump implied by their
        own pre-edge scatter (:func:`sample_mask`; needs no background in the
        field); ``"otsu"``: edge jump above the Otsu threshold of the edge-jump
        histogram (only meaningful when the field holds empty background); a
        number: edge-jump threshold in input units; None fits every pixel.
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
    threshold: float | str | None = "auto",
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
    threshold : float, "auto", "otsu" or None, optional
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
    plan = plan_fit(e, spatial, options=opts, calibration=calibration,
                    threshold=threshold, template=template, chunk_spectra=chunk_spectra)

    def read(b0: int, b1: int) -> NDArray[Any]:
        if not spatial:
            return np.asarray(data)[None]
        if energy_axis == 0:
            blk = np.asarray(data[:, b0:b1])
            return np.moveaxis(blk, 0, -1).reshape(-1, e.size)
        return np.asarray(data[b0:b1]).reshape(-1, e.size)

    blocks = plan.blocks
    total = (2 if plan.first_pass else 1) * len(blocks)
    done = 0
    t0 = time.monotonic()
    if plan.first_pass:
        parts = []
        for b0, b1 in blocks:
            ctl.check()
            parts.append(first_pass_block(read(b0, b1), kind, plan))
            done += 1
            yield Progress(done, total, "edge jumps" + (" and mean spectrum" if plan.need_mean
                                                        else ""), "fit")
        plan = finish_first_pass(plan, parts)
        del parts
    samples = [sample_block(read(b0, b1), kind, plan) for b0, b1 in blocks] \
        if plan.options.method == "auto" else None
    decision = decide_fit(plan, calibration, samples)
    npix = int(np.prod(spatial)) if spatial else 1
    chunks: list[ChunkFit] = []
    k = 0
    for b0, b1 in blocks:
        ctl.check()
        out = fit_block(read(b0, b1), kind, decision)
        chunks.append(out)
        k += out.edge.size
        done += 1
        yield Progress(done, total, f"fitted {k}/{npix} spectra", "fit")
        if ctl.should_finish:
            break
    elapsed = time.monotonic() - t0
    logger.info("fitted %d spectra in %.2f s", npix, elapsed)
    return assemble_fit(decision, chunks, elapsed)


def fit_stack(
    stack: Any,
    *,
    options: FitOptions | None = None,
    calibration: Calibration | None = None,
    threshold: float | str | None = "auto",
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
