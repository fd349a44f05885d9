"""Complex refractive index of NMC811 across the Ni K-edge.

``n = 1 - delta + i beta``. The absorption part ``beta = mu * lambda / (4 pi)``
comes from the linear attenuation coefficient ``mu``: Ni (smooth pre-edge
background plus the K-edge jump times the normalised XANES model of
:mod:`ptyxanes.simulate.spectra`) plus Mn, Co, O and Li backgrounds. The
refractive part ``delta`` comes from the electron density plus the anomalous
scattering factor f' of the Ni K-shell, obtained by a numerical Kramers-Kronig
transform of the K-shell f'' of the same model. Numbers and sources are in
``docs/simulator.md``.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptyxanes.simulate.spectra import EDGE_SLOPE_EV_PER_VALENCE, REFERENCE_VALENCE, normalized_mu

logger = logging.getLogger(__name__)

#: h c, eV m (lambda = HC_EV_M / E).
HC_EV_M: float = 1.239841984e-6
#: Classical electron radius, m.
R_E: float = 2.8179403262e-15
#: Avogadro constant, 1/mol.
N_A: float = 6.02214076e23

#: Formula LiNi0.8Mn0.1Co0.1O2: element -> (atoms per formula unit, Z, molar mass g/mol).
NMC811: dict[str, tuple[float, int, float]] = {
    "Li": (1.0, 3, 6.941),
    "Ni": (0.8, 28, 58.693),
    "Mn": (0.1, 25, 54.938),
    "Co": (0.1, 27, 58.933),
    "O": (2.0, 8, 15.999),
}
#: Bulk density of NMC811, g/cm^3.
DENSITY_G_CM3: float = 4.75

#: Energy at which the tabulated mass attenuation coefficients apply, eV (Ni K-edge).
E_TAB: float = 8333.0
#: Power law of the smooth photo-absorption away from edges, mu/rho ~ E^-P.
POWER: float = 2.8
#: Mass attenuation coefficients at E_TAB, cm^2/g (NIST XCOM / Hubbell-Seltzer,
#: rounded, about +-10 %). Ni: just below its K-edge; the edge jump is separate.
MASS_ATT_CM2_G: dict[str, float] = {"Li": 0.40, "Ni": 41.0, "Mn": 250.0, "Co": 303.0, "O": 9.8}
#: Ni K-edge jump of mu/rho at E_TAB, cm^2/g (above-edge 330 minus below-edge 41).
NI_EDGE_JUMP_CM2_G: float = 289.0


def wavelength(energy: ArrayLike) -> NDArray[np.float64]:
    """Photon wavelength, m, of energies in eV.

    Examples
    --------
    >>> round(float(wavelength(8333.0)) * 1e10, 4)
    1.4879
    """
    return HC_EV_M / np.asarray(energy, dtype=np.float64)


def _molar_mass() -> float:
    return sum(n * m for n, _, m in NMC811.values())


def mass_fractions() -> dict[str, float]:
    """Mass fraction of each element in NMC811.

    Examples
    --------
    >>> round(mass_fractions()["Ni"], 3)
    0.483
    """
    mm = _molar_mass()
    return {k: n * m / mm for k, (n, _, m) in NMC811.items()}


def attenuation_coefficient(energy: ArrayLike, valence: ArrayLike, *,
                            density: float = DENSITY_G_CM3) -> NDArray[np.float64]:
    """Linear attenuation coefficient of NMC811 with a given Ni valence.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    valence : array_like of shape (...)
        Ni oxidation state(s).
    density : float, optional
        g/cm^3.

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
    e = np.asarray(energy, dtype=np.float64)
    scale = (e / E_TAB) ** (-POWER)
    w = mass_fractions()
    background = sum(w[k] * MASS_ATT_CM2_G[k] for k in MASS_ATT_CM2_G) * scale  # cm^2/g
    ni_edge = w["Ni"] * NI_EDGE_JUMP_CM2_G * scale * normalized_mu(e, valence)
    return (background + ni_edge) * density * 100.0  # 1/cm -> 1/m


def _ni_f2_edge(e: NDArray[np.float64]) -> NDArray[np.float64]:
    """K-shell (edge) part of Ni f'' for valence 2, electrons: f'' = sigma / (2 r_e lambda)."""
    sigma = NI_EDGE_JUMP_CM2_G * 1e-4 * (e / E_TAB) ** (-POWER) * NMC811["Ni"][2] / N_A
    return sigma * normalized_mu(e, REFERENCE_VALENCE) / (2.0 * R_E * wavelength(e))


@functools.lru_cache(maxsize=1)
def _ni_f1_table() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kramers-Kronig f' of the Ni K-shell edge (valence 2) on 8100-8700 eV."""
    grid = np.unique(np.concatenate([np.arange(1000.0, 8000.0, 2.0),
                                     np.arange(8000.0, 8800.0, 0.1),
                                     np.arange(8800.0, 40000.0, 4.0)]))
    f2 = _ni_f2_edge(grid)
    e_out = np.arange(8100.0, 8700.0, 0.2)
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
    # tail beyond emax: f'' ~ E^(1 - POWER), its contribution is -(2/pi) f''(emax)/(POWER - 1)
    tail = -f2[-1] / (POWER - 1.0)
    return e_out, (2.0 / np.pi) * (out + tail)


def ni_f1_anomalous(energy: ArrayLike, valence: ArrayLike) -> NDArray[np.float64]:
    """Anomalous scattering factor f' of the Ni K-shell near the edge, electrons.

    Kramers-Kronig transform of the K-shell f'' of the XANES model; the rigid
    edge shift of the model is applied to f' as well. Valid 8100-8700 eV.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV.
    valence : array_like of shape (...)

    Returns
    -------
    f1 : ndarray of shape (..., E)

    Examples
    --------
    >>> f1 = ni_f1_anomalous(np.arange(8300.0, 8360.0, 0.5), 2.0)
    >>> bool(f1.min() < -4)
    True
    """
    e = np.asarray(energy, dtype=np.float64)
    v = np.asarray(valence, dtype=np.float64)
    grid, f1 = _ni_f1_table()
    shifted = e - EDGE_SLOPE_EV_PER_VALENCE * (v[..., None] - REFERENCE_VALENCE)
    if np.any(shifted < grid[0]) or np.any(shifted > grid[-1]):
        raise ValueError(f"energies must lie within {grid[0]:.0f}-{grid[-1]:.0f} eV for Ni f'")
    return np.interp(shifted, grid, f1)


def refractive_index(energy: ArrayLike, valence: ArrayLike, *,
                     density: float = DENSITY_G_CM3) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Refractive index decrement delta and absorption index beta of NMC811.

    Parameters
    ----------
    energy : array_like of shape (E,)
        eV (8100-8700 eV).
    valence : array_like of shape (...)
        Ni oxidation state(s).
    density : float, optional
        g/cm^3 (default 4.75).

    Returns
    -------
    delta, beta : ndarray of shape (..., E)
        Dimensionless; ``n = 1 - delta + i beta``.

    Notes
    -----
    ``beta = mu lambda / (4 pi)``;
    ``delta = r_e lambda^2 / (2 pi) * n_fu * (sum_i n_i Z_i + 0.8 f'_Ni(E))``
    with ``n_fu`` formula units per m^3. Mn and Co anomalous terms and Ni
    L-shell terms are neglected (each < 0.2 electrons per formula unit).

    Examples
    --------
    >>> d, b = refractive_index([8300.0], 2.3)
    >>> 1.2e-5 < float(d[0]) < 1.5e-5, 1e-7 < float(b[0]) < 1e-6
    (True, True)
    """
    e = np.asarray(energy, dtype=np.float64)
    lam = wavelength(e)
    mu = attenuation_coefficient(e, valence, density=density)
    beta = mu * lam / (4.0 * np.pi)
    n_fu = density * 1e3 / (_molar_mass() * 1e-3) * N_A  # formula units per m^3
    z = sum(n * zz for n, zz, _ in NMC811.values())
    f1 = ni_f1_anomalous(e, valence)
    delta = R_E * lam**2 / (2.0 * np.pi) * n_fu * (z + NMC811["Ni"][0] * f1)
    return delta, beta
