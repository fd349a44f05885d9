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
* **given** shift: a number from the user.

A shift ``s`` is *added* to the energies: ``E_calibrated = E_measured + s``.
Every shift applied is described by an :class:`EnergyShift` (value in eV, how
it was found, from what), which callers report and store in provenance.
"""

from __future__ import annotations

import logging
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
    method : {"foil", "feature", "align", "given", "none"}
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
    cost = np.empty(shifts.size)
    for i, s in enumerate(shifts):
        m = np.interp(grid - s, e, y)
        x = np.stack([m, np.ones_like(m)], 1)
        coef, *_ = np.linalg.lstsq(x, target, rcond=None)
        cost[i] = float(np.sum((x @ coef - target) ** 2))
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
