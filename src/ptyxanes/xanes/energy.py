"""Energy calibration: reference-foil channels, named edge features, given shifts.

Spectra measured at different beamlines (or in different runs) disagree in
their energy scale by up to a few eV, which is a whole valence unit at the
Ni K-edge (1.8 eV per valence). Every energy scale is therefore brought onto
the tabulated one (xraydb) before edges are compared:

* **foil channel** (:func:`foil_shift`): a metal foil measured simultaneously
  (XDI ``mu_ref`` / ``murefer`` / ``mutrans_ref``) has its first inflection
  point, the maximum of dμ/dE on the rising edge, at the tabulated edge energy
  (the convention of Athena and of the edge tables). The shift moves the foil's
  inflection there and applies to the sample channel of the same scan.
* **named feature** (:func:`feature_shift`): the first inflection of a metal
  reference, or of any spectrum whose feature energy is known.
* **alignment** (:func:`align_shift`): the shift that best superposes a
  spectrum on a calibrated spectrum of the same compound (least squares of the
  normalised spectra over the edge window), for a reference set measured
  without a foil.
* **integral edge** (:func:`integral_shift`): the same, by the mean energy of
  the rising edge (:mod:`ptyxanes.xanes.integral`) instead of the whole window.
* **given** shift: a number from the user.

A shift ``s`` is *added* to the energies: ``E_calibrated = E_measured + s``.
Every shift applied is described by an :class:`EnergyShift` (value in eV, how
it was found, from what), which callers report and store in provenance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

#: XDI column names of a simultaneous reference (foil) channel, lower case.
FOIL_COLUMNS: tuple[str, ...] = ("mu_ref", "murefer", "mutrans_ref", "mu_reference", "mref")


@dataclass(frozen=True)
class EnergyShift:
    """One energy-scale correction.

    Parameters
    ----------
    shift : float
        Added to the measured energies, eV.
    method : {"foil", "feature", "align", "integral", "given", "none"}
        How it was found.
    target : str
        What was measured and where it should be, in words with eV.
    details : dict
        Numbers behind it (found and target energies, eV).
    """

    shift: float
    method: str
    target: str = ""
    details: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """Plain one-line description, e.g. ``"+1.25 eV (foil: …)"``.

        Returns
        -------
        text : str
        """
        return f"{self.shift:+.2f} eV ({self.method}{': ' + self.target if self.target else ''})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for provenance.

        Returns
        -------
        d : dict
        """
        return {"shift_eV": float(self.shift), "method": self.method, "target": self.target,
                **{k: float(v) for k, v in self.details.items()}}


NO_SHIFT = EnergyShift(0.0, "none")


def _clean(energy: ArrayLike, mu: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Sorted energies with near-duplicates (closer than 0.05 eV) averaged."""
    e = np.asarray(energy, np.float64)
    y = np.asarray(mu, np.float64)
    ok = np.isfinite(e) & np.isfinite(y)
    e, y = e[ok], y[ok]
    o = np.argsort(e)
    e, y = e[o], y[o]
    grp = np.concatenate([[0], np.cumsum(np.diff(e) > 0.05)])
    n = np.bincount(grp)
    return np.bincount(grp, e) / n, np.bincount(grp, y) / n


def first_inflection(energy: ArrayLike, mu: ArrayLike, near: float, *,
                     search: float = 15.0, smooth: float = 1.0, fraction: float = 0.5) -> float:
    """First inflection point of an absorption edge (maximum of dμ/dE), eV.

    The derivative is taken on a 0.05 eV grid after a Gaussian smoothing of
    ``smooth`` eV (1σ); among its local maxima within ``near ± search`` that
    reach half of the largest one, the lowest in energy is the first
    inflection (a metal foil's K-edge shoulder, not the later white-line rise).

    Parameters
    ----------
    energy, mu : array_like of shape (E,)
        A spectrum (any normalisation; unsorted or duplicated energies allowed).
    near : float
        Expected edge energy, eV.
    search : float, optional
        Half-width of the search window, eV.
    smooth : float, optional
        Gaussian smoothing, eV.
    fraction : float, optional
        A local maximum of dμ/dE counts when it reaches this fraction of the
        largest; 1 gives the steepest point (the main inflection).

    Returns
    -------
    energy : float
        eV.

    Raises
    ------
    ValueError
        If the spectrum has fewer than five energies in the window or no rising edge.

    Examples
    --------
    >>> e = np.arange(8300.0, 8380.0, 0.5)
    >>> mu = 1 / (1 + np.exp(-(e - 8333.4) / 1.5))
    >>> round(first_inflection(e, mu, 8333.0), 2)
    8333.4
    """
    from scipy.ndimage import gaussian_filter1d

    e, y = _clean(energy, mu)
    sel = (e >= near - search - 5 * smooth - 2) & (e <= near + search + 5 * smooth + 2)
    if sel.sum() < 5:
        raise ValueError(f"fewer than 5 energies within {search:g} eV of {near:.1f} eV")
    grid = np.arange(e[sel][0], e[sel][-1], 0.05)
    yg = np.interp(grid, e[sel], y[sel])
    if smooth > 0:
        yg = gaussian_filter1d(yg, smooth / 0.05, mode="nearest")
    d = np.gradient(yg, grid)
    inside = (grid >= near - search) & (grid <= near + search)
    if not inside.any() or not np.nanmax(d[inside]) > 0:
        raise ValueError(f"no rising edge within {search:g} eV of {near:.1f} eV")
    top = float(np.nanmax(d[inside]))
    idx = np.nonzero(inside)[0]
    for i in idx:
        if 0 < i < d.size - 1 and d[i] >= d[i - 1] and d[i] >= d[i + 1] and d[i] >= fraction * top * (1 - 1e-9):
            den = d[i - 1] - 2 * d[i] + d[i + 1]
            off = 0.5 * (d[i - 1] - d[i + 1]) / den if den != 0 else 0.0
            return float(grid[i] + np.clip(off, -1, 1) * 0.05)
    return float(grid[idx[np.argmax(d[idx])]])


def foil_shift(energy: ArrayLike, mu_ref: ArrayLike, edge: str = "Ni-K", *,
               search: float = 15.0) -> EnergyShift:
    """Shift that puts a metal-foil channel's first inflection at the tabulated edge.

    Parameters
    ----------
    energy : array_like of shape (E,)
        Measured energies, eV.
    mu_ref : array_like of shape (E,)
        The foil channel (any offset or scale).
    edge : str, optional
        Edge of the foil's metal, e.g. ``"Ni-K"``.
    search : float, optional
        Search half-width around the tabulated energy, eV.

    Returns
    -------
    shift : EnergyShift

    Examples
    --------
    >>> e = np.arange(8300.0, 8380.0, 0.5)
    >>> s = foil_shift(e, 1 / (1 + np.exp(-(e - 8330.5) / 1.5)), "Ni-K")
    >>> round(s.shift, 2)
    2.5
    """
    from ptyxanes.xanes.edges import edge_spec

    spec = edge_spec(edge)
    found = first_inflection(energy, mu_ref, spec.energy, search=search)
    return EnergyShift(spec.energy - found, "foil",
                       f"foil inflection {found:.2f} eV moved to the tabulated {spec.name} "
                       f"{spec.energy:.1f} eV",
                       {"found_eV": found, "target_eV": spec.energy})


def feature_shift(energy: ArrayLike, mu: ArrayLike, target: float, *, near: float | None = None,
                  search: float = 15.0) -> EnergyShift:
    """Shift that puts a spectrum's first inflection at a known energy.

    Parameters
    ----------
    energy, mu : array_like of shape (E,)
        The spectrum (e.g. a metal reference measured on its own).
    target : float
        Where its first inflection belongs, eV (a metal's tabulated edge).
    near : float, optional
        Search centre, eV (default ``target``).
    search : float, optional
        Search half-width, eV.

    Returns
    -------
    shift : EnergyShift

    Examples
    --------
    >>> e = np.arange(8300.0, 8380.0, 0.5)
    >>> round(feature_shift(e, 1 / (1 + np.exp(-(e - 8334) / 1.5)), 8333.0).shift, 2)
    -1.0
    """
    found = first_inflection(energy, mu, target if near is None else near, search=search)
    return EnergyShift(target - found, "feature",
                       f"first inflection {found:.2f} eV moved to {target:.2f} eV",
                       {"found_eV": found, "target_eV": float(target)})


def align_shift(energy: ArrayLike, mu_norm: ArrayLike, ref_energy: ArrayLike,
                ref_mu_norm: ArrayLike, window: tuple[float, float], *,
                max_shift: float = 8.0) -> EnergyShift:
    """Shift that best superposes a normalised spectrum on a calibrated one.

    Minimises ``sum (a mu(E - s) + b - ref(E))^2`` over the window (``a``,
    ``b`` solved exactly) on a 0.02 eV grid of ``s``, refined by a parabola.

    Parameters
    ----------
    energy, mu_norm : array_like of shape (E,)
        The spectrum to shift (normalised).
    ref_energy, ref_mu_norm : array_like of shape (R,)
        A calibrated spectrum of the same compound (normalised).
    window : tuple of float
        Energies compared, eV (on the reference's scale).
    max_shift : float, optional
        Largest shift searched, eV.

    Returns
    -------
    shift : EnergyShift

    Examples
    --------
    >>> e = np.arange(8300.0, 8400.0, 0.5)
    >>> f = lambda x: 1 / (1 + np.exp(-(x - 8340) / 2)) + np.exp(-0.5 * ((x - 8348) / 3) ** 2)
    >>> round(float(align_shift(e, f(e + 1.7), e, f(e), (8320, 8380)).shift), 2)
    1.7
    """
    e, y = _clean(energy, mu_norm)
    re_, ry = _clean(ref_energy, ref_mu_norm)
    grid = re_[(re_ >= window[0]) & (re_ <= window[1])]
    if grid.size < 5:
        raise ValueError(f"fewer than 5 reference energies in {window[0]:g}–{window[1]:g} eV")
    target = np.interp(grid, re_, ry)
    shifts = np.arange(-max_shift, max_shift + 1e-9, 0.02)
    # every shift at once: least squares of target = a m + b in closed form
    m = np.interp((grid[None, :] - shifts[:, None]).ravel(), e, y).reshape(shifts.size, -1)
    mc = m - m.mean(1, keepdims=True)
    tc = target - target.mean()
    smm = (mc * mc).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = np.where(smm > 0, (tc @ tc) - (mc @ tc) ** 2 / smm, tc @ tc)
    i = int(np.argmin(cost))
    s = float(shifts[i])
    if 0 < i < shifts.size - 1:
        den = cost[i - 1] - 2 * cost[i] + cost[i + 1]
        if den > 0:
            s += 0.02 * 0.5 * (cost[i - 1] - cost[i + 1]) / den
    if abs(s) >= max_shift - 0.05:
        raise ValueError(f"no alignment within ±{max_shift:g} eV (best at the limit {s:+.2f} eV)")
    return EnergyShift(float(s), "align", f"superposed on a calibrated spectrum over "
                       f"{window[0]:.1f}–{window[1]:.1f} eV", {"cost": float(cost[i])})


def integral_shift(energy: ArrayLike, mu_norm: ArrayLike, ref_energy: ArrayLike,
                   ref_mu_norm: ArrayLike, window: tuple[float, float], *,
                   levels: tuple[float, float] | None = None) -> EnergyShift:
    """Shift that puts a spectrum's integral edge on a calibrated spectrum's.

    The integral edge (:func:`~ptyxanes.xanes.integral.integral_edge`, the
    mean energy of the rise between normalised absorbance 0.15 and 1.0) of
    each spectrum is measured in ``window`` and the difference is the shift.
    This aligns two measurements of one compound by the same edge position
    that the ``integral`` fit method reads valence from, so that white lines
    broadened differently by two beamlines do not move it.

    Parameters
    ----------
    energy, mu_norm : array_like of shape (E,)
        The spectrum to shift (normalised).
    ref_energy, ref_mu_norm : array_like of shape (R,)
        A calibrated spectrum of the same compound (normalised).
    window : tuple of float
        Energies in which both rises are measured, eV.
    levels : (float, float), optional
        Normalised levels (default :data:`~ptyxanes.xanes.integral.INTEGRAL_LEVELS`).

    Returns
    -------
    shift : EnergyShift

    Raises
    ------
    ValueError
        A spectrum does not rise through both levels inside ``window``.

    Examples
    --------
    >>> e = np.arange(8300.0, 8400.0, 0.5)
    >>> f = lambda x: 1 / (1 + np.exp(-(x - 8340) / 2)) + np.exp(-0.5 * ((x - 8348) / 3) ** 2)
    >>> round(float(integral_shift(e, f(e + 1.7), e, f(e), (8320, 8380)).shift), 2)
    1.7
    """
    from ptyxanes.xanes.integral import INTEGRAL_LEVELS, integral_edge

    lv = INTEGRAL_LEVELS if levels is None else levels
    found = []
    for name, (en, mu) in (("spectrum", (energy, mu_norm)), ("reference", (ref_energy,
                                                                          ref_mu_norm))):
        e, y = _clean(en, mu)
        w = (e >= window[0]) & (e <= window[1])
        edge = float(integral_edge(e[w], y[w], levels=lv)[0])
        if not np.isfinite(edge):
            raise ValueError(f"the {name} does not rise from {lv[0]:g} to {lv[1]:g} (normalised) "
                             f"inside {window[0]:g}–{window[1]:g} eV")
        found.append(edge)
    s = found[1] - found[0]
    return EnergyShift(float(s), "integral", f"integral edge {found[0]:.2f} eV moved onto the "
                       f"calibrated spectrum's {found[1]:.2f} eV",
                       {"found_eV": found[0], "target_eV": found[1]})


def align_series(energies: Sequence[ArrayLike], foils: Sequence[ArrayLike], edge: str = "Ni-K",
                 *, window: tuple[float, float] | None = None, reference: int = 0,
                 max_shift: float = 15.0) -> list[EnergyShift]:
    """Energy shifts of a series of scans, foil to foil.

    The foil channel of scan ``reference`` is put on the tabulated edge
    (:func:`foil_shift`, its first inflection); every other scan's foil
    channel is then superposed on that calibrated foil over the whole
    ``window`` (:func:`align_shift`, scale and offset free). Aligning whole
    foil spectra uses every energy of the edge, so it scatters less than
    locating each foil's inflection on its own, and a series measured while
    the monochromator drifts comes back onto one scale (Athena's "align"
    of reference channels).

    Parameters
    ----------
    energies : sequence of array_like
        Measured energies of each scan, eV.
    foils : sequence of array_like
        The foil (reference) channel of each scan, any offset or scale.
    edge : str, optional
        Edge of the foil's metal (``"Ni-K"``).
    window : tuple of float, optional
        Energies compared, eV on the calibrated scale (default: the
        tabulated edge −20 … +40 eV).
    reference : int, optional
        The scan whose foil is calibrated on the tabulated edge.
    max_shift : float, optional
        Largest shift of a scan relative to the reference scan, eV.

    Returns
    -------
    shifts : list of EnergyShift
        One per scan, each to be added to that scan's energies.

    Raises
    ------
    ValueError
        Fewer than one scan, ``energies`` and ``foils`` of different lengths,
        or a foil with no edge near the tabulated energy.

    Examples
    --------
    >>> e = np.arange(8300.0, 8380.0, 0.5)
    >>> foil = lambda x: 1 / (1 + np.exp(-(x - 8333.0) / 1.5)) + 0.01 * (x - 8300)
    >>> sh = align_series([e, e, e], [foil(e + 0.5), foil(e - 1.0), foil(e - 3.2)])
    >>> [round(x.shift, 2) for x in sh]
    [0.5, -1.0, -3.2]
    """
    from ptyxanes.xanes.edges import edge_spec

    if len(energies) != len(foils) or not len(energies):
        raise ValueError(f"{len(energies)} energy axes and {len(foils)} foil channels: one of "
                         "each per scan is needed")
    spec = edge_spec(edge)
    win = window if window is not None else (spec.energy - 20.0, spec.energy + 40.0)
    first = foil_shift(energies[reference], foils[reference], edge)
    e_ref = np.asarray(energies[reference], np.float64) + first.shift
    out = []
    for i, (e, f) in enumerate(zip(energies, foils, strict=True)):
        if i == reference:
            out.append(first)
            continue
        # start from the foils' own inflections, then superpose within ±2 eV of that
        start = foil_shift(e, f, edge, search=max_shift).shift
        a = align_shift(np.asarray(e, np.float64) + start, f, e_ref, foils[reference], win,
                        max_shift=2.0)
        a = replace(a, shift=a.shift + start)
        out.append(EnergyShift(a.shift, "foil", f"foil superposed on scan {reference}'s foil, "
                               f"whose inflection is at the tabulated {spec.name} "
                               f"{spec.energy:.1f} eV", {"reference_scan": float(reference),
                                                         "target_eV": spec.energy}))
        logger.info("scan %d: foil-to-foil shift %+.2f eV", i, a.shift)
    return out


def _xdi_columns(path: str) -> list[str]:
    names: dict[int, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                body = line[1:].strip()
                if body.lower().startswith("column."):
                    key, _, val = body.partition(":")
                    try:
                        names[int(key.split(".")[1])] = val.strip().split()[0].lower()
                    except (ValueError, IndexError):
                        continue
    except OSError:
        return []
    return [names[k] for k in sorted(names)]


def foil_column(spectrum: Any) -> str | None:
    """The simultaneous foil channel of an XDI spectrum's file, if it has one.

    Parameters
    ----------
    spectrum : ptyxanes.io.spectra.Spectrum
        As read from an XDI file (its ``path`` is re-read for the
        ``Column.N`` names).

    Returns
    -------
    column : str or None
        A column name (``mu_ref``, ``murefer``…) or a ``ln(itrans/irefer)``
        expression for :func:`~ptyxanes.io.spectra.read_spectrum`.
    """
    path = getattr(spectrum, "path", None)
    if not path:
        return None
    names = _xdi_columns(str(path))
    for c in FOIL_COLUMNS:
        if c in names:
            return c
    if "irefer" in names and "itrans" in names:
        return "ln(itrans/irefer)"
    return None


def shifted(spectrum: Any, shift: EnergyShift) -> Any:
    """The spectrum on the calibrated energy scale (energies + shift).

    Parameters
    ----------
    spectrum : ptyxanes.io.spectra.Spectrum
    shift : EnergyShift

    Returns
    -------
    spectrum : ptyxanes.io.spectra.Spectrum
        A copy with ``energy + shift.shift`` and ``meta["energy_shift"]``.
    """
    meta = dict(getattr(spectrum, "meta", {}) or {})
    meta["energy_shift"] = shift.as_dict()
    return replace(spectrum, energy=np.asarray(spectrum.energy, np.float64) + shift.shift,
                   meta=meta)


def _gauss_broadened(energy: NDArray[np.float64], mu: NDArray[np.float64], sigma: float,
                     step: float = 0.1) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A spectrum on a uniform ``step`` grid convolved with a Gaussian of 1σ ``sigma`` eV."""
    from scipy.ndimage import gaussian_filter1d

    e, y = _clean(energy, mu)
    grid = np.arange(e[0], e[-1] + 0.5 * step, step)
    yg = np.interp(grid, e, y)
    if sigma > 0:
        yg = gaussian_filter1d(yg, sigma / step, mode="nearest")
    return grid, yg


def resolution_match(energy: ArrayLike, mu_norm: ArrayLike, ref_energy: ArrayLike,
                     ref_mu_norm: ArrayLike, window: tuple[float, float], *,
                     max_sigma: float = 4.0, step: float = 0.25,
                     max_shift: float = 8.0) -> tuple[float, EnergyShift]:
    """Energy resolution and shift that superpose a spectrum on one of the same compound.

    Two instruments measure one compound with different energy resolution as
    well as on different energy scales: the sharper spectrum has the higher,
    narrower white line. The spectrum is convolved with a Gaussian of 1σ
    ``sigma`` (0 … ``max_sigma`` eV in steps of ``step``, refined by a parabola)
    and aligned (:func:`align_shift`) on the calibrated one; the ``sigma`` of
    least misfit is the extra broadening of the calibrated instrument. Applied
    with :func:`broadened` to every reference of the set, it puts the references
    on the data's resolution as well as on its scale, which matters to fits that
    compare shapes (``lcf``). A ``sigma`` of 0 means the calibrated spectrum is
    the sharper one (references cannot be sharpened).

    Parameters
    ----------
    energy, mu_norm : array_like of shape (E,)
        The spectrum to broaden and shift (normalised).
    ref_energy, ref_mu_norm : array_like of shape (R,)
        A calibrated spectrum of the same compound, at the data's resolution
        (normalised).
    window : tuple of float
        Energies compared, eV.
    max_sigma, step : float, optional
        Broadenings tried, eV.
    max_shift : float, optional
        Largest shift searched, eV.

    Returns
    -------
    sigma : float
        Gaussian 1σ to apply to the spectrum, eV.
    shift : EnergyShift
        The shift of the broadened spectrum (``details["broadening_eV"]``).

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter1d
    >>> e = np.arange(8300.0, 8400.0, 0.1)
    >>> f = lambda x: 1 / (1 + np.exp(-(x - 8340) / 1.0)) + np.exp(-0.5 * ((x - 8346) / 1.5) ** 2)
    >>> sig, sh = resolution_match(e, f(e + 1.2), e, gaussian_filter1d(f(e), 15.0), (8320, 8370))
    >>> round(sig, 1), round(sh.shift, 1)
    (1.5, 1.2)
    """
    e, y = _clean(energy, mu_norm)
    s0 = align_shift(e, y, ref_energy, ref_mu_norm, window, max_shift=max_shift).shift
    sigmas = np.arange(0.0, max_sigma + 1e-9, step)
    costs = np.empty(sigmas.size)
    shifts = np.empty(sigmas.size)
    for i, sg in enumerate(sigmas):
        eb, yb = _gauss_broadened(e, y, float(sg))
        a = align_shift(eb + s0, yb, ref_energy, ref_mu_norm, window, max_shift=2.0)
        costs[i], shifts[i] = a.details["cost"], a.shift + s0
    i = int(np.argmin(costs))
    sig = float(sigmas[i])
    if 0 < i < sigmas.size - 1:
        den = costs[i - 1] - 2 * costs[i] + costs[i + 1]
        if den > 0:
            sig += float(step * 0.5 * (costs[i - 1] - costs[i + 1]) / den)
    if sig >= max_sigma - 0.5 * step:
        raise ValueError(f"no resolution match up to {max_sigma:g} eV of broadening (best at "
                         "the limit): are the two spectra of the same compound?")
    eb, yb = _gauss_broadened(e, y, sig)
    a = align_shift(eb + s0, yb, ref_energy, ref_mu_norm, window, max_shift=2.0)
    shift = EnergyShift(a.shift + s0, "align", f"broadened by a {sig:.2f} eV Gaussian and "
                        f"superposed on a calibrated spectrum over {window[0]:.1f}–"
                        f"{window[1]:.1f} eV", {"cost": a.details["cost"],
                                                 "broadening_eV": sig})
    logger.info("resolution match: %.2f eV Gaussian broadening, shift %+.2f eV (misfit %.4g, "
                "%.4g without broadening)", sig, shift.shift, a.details["cost"], costs[0])
    return sig, shift


def broadened(spectrum: Any, sigma: float) -> Any:
    """The spectrum convolved with a Gaussian of 1σ ``sigma`` eV (on a 0.1 eV grid).

    Parameters
    ----------
    spectrum : ptyxanes.io.spectra.Spectrum
    sigma : float
        eV (:func:`resolution_match`); 0 returns the spectrum unchanged.

    Returns
    -------
    spectrum : ptyxanes.io.spectra.Spectrum
        A copy on a uniform 0.1 eV grid with ``meta["broadening_eV"]``.
    """
    if not sigma > 0:
        return spectrum
    e, y = _gauss_broadened(np.asarray(spectrum.energy, np.float64),
                            np.asarray(spectrum.mu, np.float64), float(sigma))
    meta = dict(getattr(spectrum, "meta", {}) or {})
    meta["broadening_eV"] = float(sigma)
    return replace(spectrum, energy=e, mu=y, meta=meta)


def calibrate_reference_energy(spectrum: Any, edge: str = "Ni-K", *,
                               shift: float | None = None) -> tuple[Any, EnergyShift]:
    """Put a reference spectrum on the tabulated energy scale.

    In order: a given ``shift``; the spectrum's own foil channel (re-read from
    its file); otherwise no shift.

    Parameters
    ----------
    spectrum : ptyxanes.io.spectra.Spectrum
    edge : str, optional
        Edge of the foil metal (the element's own edge).
    shift : float, optional
        A shift given by the user, eV.

    Returns
    -------
    spectrum : Spectrum
        Shifted copy (or the input when no shift applies).
    shift : EnergyShift
    """
    if shift is not None:
        s = EnergyShift(float(shift), "given", "given by the user")
        return shifted(spectrum, s), s
    col = foil_column(spectrum)
    path = getattr(spectrum, "path", None)
    if col is not None and path:
        from ptyxanes.io.spectra import read_spectrum

        foil = read_spectrum(path, column=col)
        s = foil_shift(foil.energy, foil.mu, edge)
        s = replace(s, target=f"{col} channel of {getattr(spectrum, 'name', '')}: {s.target}")
        logger.info("reference %s: energy shift %s", getattr(spectrum, "name", ""), s.describe())
        return shifted(spectrum, s), s
    return spectrum, NO_SHIFT
