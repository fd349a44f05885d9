"""Complex refractive index of a battery cathode across a 3d-metal K-edge.

``n = 1 - delta + i beta``. The absorption part ``beta = mu * lambda / (4 pi)``
comes from the linear attenuation coefficient ``mu``: the absorbing element
(smooth below-edge absorption plus the K-edge jump times the normalised XANES
model of :mod:`ptyxanes.simulate.spectra`) plus the other elements of the
material. The refractive part ``delta`` comes from the electron density plus
the anomalous scattering factors: f' of the absorber's K shell by a numerical
Kramers-Kronig transform of the K-shell f'' of the same model, f' of the other
elements from the Chantler tables. Mass attenuation coefficients (Elam,
Ravel and Sieber), f' (Chantler), atomic numbers and masses come from xraydb;
the absorber's below- and above-edge absorption are power laws through the
tabulated values 1 and 300 eV from the edge. Numbers and sources are in
``docs/simulator.md``.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptyxanes.simulate.spectra import (
    EDGE_SLOPE_EV_PER_VALENCE,
    REFERENCE_VALENCE,
    normalized_mu,
)

logger = logging.getLogger(__name__)

#: h c, eV m (lambda = HC_EV_M / E).
HC_EV_M: float = 1.239841984e-6
#: Classical electron radius, m.
R_E: float = 2.8179403262e-15
#: Avogadro constant, 1/mol.
N_A: float = 6.02214076e23


def _composition(atoms: dict[str, float]) -> dict[str, tuple[float, int, float]]:
    import xraydb

    return {el: (n, int(xraydb.atomic_number(el)), float(xraydb.atomic_mass(el)))
            for el, n in atoms.items()}


#: Formula LiNi0.8Mn0.1Co0.1O2: element -> (atoms per formula unit, Z, molar mass g/mol),
#: Z and molar masses from xraydb.
NMC811: dict[str, tuple[float, int, float]] = _composition(
    {"Li": 1.0, "Ni": 0.8, "Mn": 0.1, "Co": 0.1, "O": 2.0})
#: Bulk density of NMC811, g/cm^3.
DENSITY_G_CM3: float = 4.75
#: Other cathode materials for other edges: formula (as NMC811) and density, g/cm^3.
MATERIALS: dict[str, tuple[dict[str, tuple[float, int, float]], float]] = {
    "NMC811": (NMC811, DENSITY_G_CM3),
    "LiCoO2": (_composition({"Li": 1.0, "Co": 1.0, "O": 2.0}), 5.05),
    "LiMn2O4": (_composition({"Li": 1.0, "Mn": 2.0, "O": 4.0}), 4.28),
}


def _material(material: str | None) -> tuple[dict[str, tuple[float, int, float]], float]:
    if material is None:
        return MATERIALS["NMC811"]
    try:
        return MATERIALS[material]
    except KeyError as exc:
        raise ValueError(f"unknown material {material!r}; known: {sorted(MATERIALS)}") from exc


@functools.lru_cache(maxsize=16)
def _edge_laws(element: str, e0: float) -> tuple[float, float, float, float]:
    """(mu/rho at e0 - 1 eV, power below, mu/rho at e0 + 1 eV, power above), cm^2/g."""
    import xraydb

    lo = np.array([e0 - 300.0, e0 - 1.0])
    hi = np.array([e0 + 1.0, e0 + 300.0])
    mb = np.asarray(xraydb.mu_elam(element, lo), np.float64)
    ma = np.asarray(xraydb.mu_elam(element, hi), np.float64)
    pb = float(-np.log(mb[1] / mb[0]) / np.log(lo[1] / lo[0]))
    pa = float(-np.log(ma[1] / ma[0]) / np.log(hi[1] / hi[0]))
    return float(mb[1]), pb, float(ma[0]), pa


def _absorber(edge: str) -> tuple[str, float]:
    from ptyxanes.xanes.edges import edge_spec

    spec = edge_spec(edge)
    if spec.edge != "K":
        raise ValueError(f"the simulator models K edges; {spec.name} is not one")
    return spec.element, spec.energy


def absorber_mass_attenuation(energy: ArrayLike, edge: str = "Ni-K"
                              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Smooth below-edge absorption and K-edge jump of the absorbing element, cm^2/g.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    edge : str, optional
        ``"Ni-K"``, ``"Co-K"``, ``"Mn-K"`` …

    Returns
    -------
    below, jump : ndarray of shape (E,)
        ``mu/rho`` without the K shell, and the K-shell jump (above minus
        below), both extended as power laws through xraydb's values.

    Examples
    --------
    >>> b, j = absorber_mass_attenuation([8333.0])
    >>> 6.5 < float((b[0] + j[0]) / b[0]) < 8.5
    True
    """
    element, e0 = _absorber(edge)
    mb, pb, ma, pa = _edge_laws(element, e0)
    e = np.asarray(energy, np.float64)
    below = mb * (e / (e0 - 1.0)) ** (-pb)
    above = ma * (e / (e0 + 1.0)) ** (-pa)
    return below, above - below


def wavelength(energy: ArrayLike) -> NDArray[np.float64]:
    """Photon wavelength, m, of energies in eV.

    Examples
    --------
    >>> round(float(wavelength(8333.0)) * 1e10, 4)
    1.4879
    """
    return HC_EV_M / np.asarray(energy, dtype=np.float64)


def _molar_mass(comp: dict[str, tuple[float, int, float]] | None = None) -> float:
    return sum(n * m for n, _, m in (comp or NMC811).values())


def mass_fractions(material: str | None = None) -> dict[str, float]:
    """Mass fraction of each element of a material (default NMC811).

    Parameters
    ----------
    material : str, optional
        A key of :data:`MATERIALS`.

    Returns
    -------
    fractions : dict of str to float

    Examples
    --------
    >>> round(mass_fractions()["Ni"], 3)
    0.483
    """
    comp, _ = _material(material)
    mm = _molar_mass(comp)
    return {k: n * m / mm for k, (n, _, m) in comp.items()}


def attenuation_coefficient(energy: ArrayLike, valence: ArrayLike, *,
                            density: float | None = None, edge: str = "Ni-K",
                            material: str | None = None) -> NDArray[np.float64]:
    """Linear attenuation coefficient of a cathode with a given absorber valence.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    valence : array_like of shape (...)
        Oxidation state(s) of the absorbing element.
    density : float, optional
        g/cm^3 (default: the material's).
    edge : str, optional
        The absorber's K edge (default Ni-K).
    material : str, optional
        A key of :data:`MATERIALS` (default NMC811).

    Returns
    -------
    mu : ndarray of shape (..., E)
        1/m.

    Examples
    --------
    >>> mu = attenuation_coefficient([8300.0, 8420.0], 2.3)
    >>> bool(mu[1] > 3 * mu[0])
    True
    """
    import xraydb

    comp, rho = _material(material)
    rho = rho if density is None else float(density)
    element, _ = _absorber(edge)
    if element not in comp:
        raise ValueError(f"the material has no {element} to absorb at the {edge} edge")
    e = np.asarray(energy, dtype=np.float64)
    w = mass_fractions(material)
    below, jump = absorber_mass_attenuation(e, edge)
    background = w[element] * below
    for k in comp:
        if k != element:
            background = background + w[k] * np.asarray(xraydb.mu_elam(k, e), np.float64)
    edge_part = w[element] * jump * normalized_mu(e, valence, edge)
    return (background + edge_part) * rho * 100.0  # 1/cm -> 1/m


def _f2_edge(e: NDArray[np.float64], edge: str) -> NDArray[np.float64]:
    """K-shell (edge) part of the absorber's f'' for valence 2, electrons: sigma / (2 r_e lambda)."""
    element, _ = _absorber(edge)
    import xraydb

    _, jump = absorber_mass_attenuation(e, edge)
    sigma = jump * 1e-4 * float(xraydb.atomic_mass(element)) / N_A
    return sigma * normalized_mu(e, REFERENCE_VALENCE, edge) / (2.0 * R_E * wavelength(e))


@functools.lru_cache(maxsize=8)
def _f1_table(edge: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kramers-Kronig f' of the absorber's K-shell edge (valence 2), edge - 233 … + 367 eV."""
    element, e0 = _absorber(edge)
    grid = np.unique(np.concatenate([np.arange(max(500.0, e0 - 7333.0), e0 - 333.0, 2.0),
                                     np.arange(e0 - 333.0, e0 + 467.0, 0.1),
                                     np.arange(e0 + 467.0, 5.0 * e0, 4.0)]))
    f2 = _f2_edge(grid, edge)
    e_out = np.arange(e0 - 233.0, e0 + 367.0, 0.2)
    f2_out = np.interp(e_out, grid, f2)
    w = np.gradient(grid)  # trapezoid-like weights of the non-uniform grid
    emax = grid[-1]
    out = np.empty_like(e_out)
    for s in range(0, e_out.size, 500):
        eo = e_out[s:s + 500, None]
        f2o = f2_out[s:s + 500, None]
        den = eo**2 - grid[None, :] ** 2
        num = grid[None, :] * f2[None, :] - eo * f2o
        with np.errstate(divide="ignore", invalid="ignore"):
            integrand = np.where(np.abs(den) > 1e-9, num / den, 0.0)
        pv = (integrand * w).sum(axis=1)
        pv += eo[:, 0] * f2o[:, 0] * np.log((emax + eo[:, 0]) / (emax - eo[:, 0])) / (2 * eo[:, 0])
        out[s:s + 500] = pv
    # tail beyond emax: f'' ~ E^(1 - p) with the above-edge power p of the tables
    p_above = _edge_laws(element, e0)[3]
    tail = -f2[-1] / (p_above - 1.0)
    return e_out, (2.0 / np.pi) * (out + tail)


def f1_anomalous(energy: ArrayLike, valence: ArrayLike, edge: str = "Ni-K"
                 ) -> NDArray[np.float64]:
    """Anomalous scattering factor f' of the absorber's K shell near the edge, electrons.

    Kramers-Kronig transform of the K-shell f'' of the XANES model; the rigid
    edge shift of the model is applied to f' as well. Valid from 233 eV below
    to 367 eV above the tabulated edge.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    valence : array_like of shape (...)
    edge : str, optional
        K edge (default Ni-K).

    Returns
    -------
    f1 : ndarray of shape (..., E)

    Raises
    ------
    ValueError
        Energies outside the table.

    Examples
    --------
    >>> f1 = f1_anomalous(np.arange(8300.0, 8360.0, 0.5), 2.0)
    >>> bool(f1.min() < -4)
    True
    """
    e = np.asarray(energy, dtype=np.float64)
    v = np.asarray(valence, dtype=np.float64)
    grid, f1 = _f1_table(edge)
    shifted = e - EDGE_SLOPE_EV_PER_VALENCE * (v[..., None] - REFERENCE_VALENCE)
    if np.any(shifted < grid[0]) or np.any(shifted > grid[-1]):
        raise ValueError(f"energies must lie within {grid[0]:.0f}–{grid[-1]:.0f} eV for the "
                         f"{edge} f'")
    return np.interp(shifted, grid, f1)


def ni_f1_anomalous(energy: ArrayLike, valence: ArrayLike) -> NDArray[np.float64]:
    """F' of the Ni K shell (:func:`f1_anomalous` with ``edge="Ni-K"``), electrons.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV (8100-8700 eV).
    valence : array_like of shape (...)

    Returns
    -------
    f1 : ndarray of shape (..., E)
    """
    return f1_anomalous(energy, valence, "Ni-K")


def refractive_index(energy: ArrayLike, valence: ArrayLike, *,
                     density: float | None = None, edge: str = "Ni-K",
                     material: str | None = None
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Refractive index decrement delta and absorption index beta of a cathode.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV (within 233 eV below and 367 eV above the edge).
    valence : array_like of shape (...)
        Oxidation state(s) of the absorber.
    density : float, optional
        g/cm^3 (default: the material's, 4.75 for NMC811).
    edge : str, optional
        The absorber's K edge (default Ni-K).
    material : str, optional
        A key of :data:`MATERIALS` (default NMC811).

    Returns
    -------
    delta, beta : ndarray of shape (..., E)
        Dimensionless; ``n = 1 - delta + i beta``.

    Notes
    -----
    ``beta = mu lambda / (4 pi)``;
    ``delta = r_e lambda^2 / (2 pi) * n_fu * (sum_i n_i (Z_i + f'_i(E)))``
    with ``n_fu`` formula units per m^3, the absorber's f' from
    :func:`f1_anomalous` and the others' from the Chantler tables (xraydb).

    Examples
    --------
    >>> d, b = refractive_index([8300.0], 2.3)
    >>> 1.2e-5 < float(d[0]) < 1.5e-5, 1e-7 < float(b[0]) < 1e-6
    (True, True)
    """
    import xraydb

    comp, rho = _material(material)
    rho = rho if density is None else float(density)
    element, _ = _absorber(edge)
    e = np.asarray(energy, dtype=np.float64)
    lam = wavelength(e)
    mu = attenuation_coefficient(e, valence, density=rho, edge=edge, material=material)
    beta = mu * lam / (4.0 * np.pi)
    n_fu = rho * 1e3 / (_molar_mass(comp) * 1e-3) * N_A  # formula units per m^3
    electrons = np.zeros(e.shape) + sum(n * zz for n, zz, _ in comp.values())
    for k, (n, _, _) in comp.items():
        if k != element:
            electrons = electrons + n * np.asarray(xraydb.f1_chantler(k, e), np.float64)
    f1 = f1_anomalous(e, valence, edge)
    delta = R_E * lam**2 / (2.0 * np.pi) * n_fu * (electrons + comp[element][0] * f1)
    return delta, beta
