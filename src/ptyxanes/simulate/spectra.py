"""K-edge XANES model whose edge shifts linearly with the valence.

The model spectrum is one fixed shape (fitted to the measured NiO reference
shipped with PyXAS, see ``docs/simulator.md``) rigidly shifted in energy by
``EDGE_SLOPE_EV_PER_VALENCE * (valence - 2)``. Because only the position
changes, every edge definition (half-height of the first main peak, half of
the edge jump, inflection point) moves by exactly that slope, and
:func:`edge_energy` is exact for the model.

Other K edges (``edge="Co-K"``, ``"Mn-K"``, ``"Fe-K"``…) use the same shape
moved by the difference of the tabulated edge energies (xraydb): a
3d-metal K-edge test spectrum with the same white line, pre-edge and slope
per valence, placed where that element absorbs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import erf

logger = logging.getLogger(__name__)

#: Half-height edge shift per unit of Ni valence, eV. From the PyXAS references:
#: NiO (Ni2+) reaches mu = 0.5 at 8340.05 eV, LiNiO2 (Ni3+) at 8341.81 eV.
EDGE_SLOPE_EV_PER_VALENCE: float = 8341.81 - 8340.05

#: Valence of the shape's anchor (NiO).
REFERENCE_VALENCE: float = 2.0

#: Edge step: (centre eV, Gaussian-CDF width eV) for Ni2+.
_STEP = (8340.0955, 3.5517)

#: Gaussian features (amplitude, centre eV, sigma eV) for Ni2+: the weak
#: 1s->3d pre-edge, the white line, then post-edge oscillations. Least-squares
#: fit to PyXAS ref_NiO.txt between 8300 and 8440 eV (rms residual 0.026).
_PEAKS: tuple[tuple[float, float, float], ...] = (
    (0.031, 8332.2, 1.31),
    (0.6653, 8347.5114, 2.8018),
    (0.0762, 8353.453, 0.9368),
    (0.1223, 8366.5, 2.9045),
    (-0.2179, 8372.0, 10.0),
    (0.2104, 8396.9711, 7.3403),
    (-0.0984, 8417.0004, 8.2793),
)

#: Valences of the model references: Ni metal, NiO, LiNiO2.
REFERENCE_VALENCES: tuple[float, ...] = (0.0, 2.0, 3.0)
REFERENCE_NAMES: dict[float, str] = {0.0: "Ni0 (Ni metal, model)", 2.0: "Ni2+ (NiO, model)",
                                     3.0: "Ni3+ (LiNiO2, model)"}


def _shape(de: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ni2+ model evaluated at ``de`` eV relative to the Ni2+ frame (E - shift)."""
    y = 0.5 * (1.0 + erf((de - _STEP[0]) / (_STEP[1] * np.sqrt(2.0))))
    for a, c, s in _PEAKS:
        y = y + a * np.exp(-0.5 * ((de - c) / s) ** 2)
    return y


#: Tabulated Ni K-edge energy (xraydb) that the model shape belongs to, eV.
NI_K_EV: float = 8333.0


def edge_offset(edge: str = "Ni-K") -> float:
    """Energy offset (eV) of another edge's model from the Ni K-edge model.

    Parameters
    ----------
    edge : str, optional
        ``"Ni-K"``, ``"Co-K"``, ``"Mn-K"``, ``"Fe-K"`` … (K edges).

    Returns
    -------
    offset : float
        Tabulated edge energy minus 8333 eV.

    Raises
    ------
    ValueError
        For an edge that is not a K edge (the model is a K-edge shape).

    Examples
    --------
    >>> edge_offset("Co-K")
    -624.0
    """
    if edge == "Ni-K":
        return 0.0
    from ptyxanes.xanes.edges import edge_spec

    spec = edge_spec(edge)
    if spec.edge != "K":
        raise ValueError(f"the XANES model is a K-edge shape; {spec.name} is not a K edge")
    return spec.energy - NI_K_EV


def normalized_mu(energy: ArrayLike, valence: ArrayLike, edge: str = "Ni-K"
                  ) -> NDArray[np.float64]:
    """Normalised K-edge absorption of the model.

    Parameters
    ----------
    energy : array_like of shape (E,)
        Photon energies, eV.
    valence : array_like of shape (...)
        Oxidation state(s); broadcast as ``valence[..., None]`` against energy.
    edge : str, optional
        The absorbing element's K edge (default Ni-K); see :func:`edge_offset`.

    Returns
    -------
    mu : ndarray of shape (..., E)
        Pre-edge 0, post-edge about 1, white line about 1.64 (Ni2+ at 8347.6 eV).

    Examples
    --------
    >>> mu = normalized_mu([8200.0, 8347.6, 9000.0], 2.0)
    >>> [round(abs(float(x)), 2) for x in mu]
    [0.0, 1.64, 1.0]
    >>> normalized_mu(np.linspace(8300, 8400, 5), np.ones((2, 3))).shape
    (2, 3, 5)
    """
    e = np.asarray(energy, dtype=np.float64) - edge_offset(edge)
    v = np.asarray(valence, dtype=np.float64)
    shift = EDGE_SLOPE_EV_PER_VALENCE * (v - REFERENCE_VALENCE)
    return _shape(e - shift[..., None])


def _half_peak_energy_ni2() -> float:
    """Rising-side energy where the Ni2+ model reaches half its white-line maximum."""
    e = np.arange(8320.0, 8360.0, 0.001)
    y = _shape(e)
    i = int(np.argmax(y))
    half = 0.5 * y[i]
    j = int(np.nonzero(y[:i] < half)[0][-1])
    return float(e[j] + (half - y[j]) / (y[j + 1] - y[j]) * (e[j + 1] - e[j]))


#: Half-height energy of the first main peak (white line) of Ni2+, eV.
EDGE_ENERGY_NI2: float = _half_peak_energy_ni2()


def edge_energy(valence: ArrayLike, edge: str = "Ni-K") -> Any:
    """Edge position of the model: half-height of the first main peak.

    The half-height is the energy where the normalised spectrum reaches half
    of the white-line maximum on its rising side (the paper's "FWHM" edge).

    Parameters
    ----------
    valence : array_like
        Oxidation state(s).
    edge : str, optional
        K edge of the model (default Ni-K).

    Returns
    -------
    energy : float or ndarray
        eV, ``EDGE_ENERGY_NI2 + EDGE_SLOPE_EV_PER_VALENCE * (valence - 2)``
        (plus :func:`edge_offset`).

    Examples
    --------
    >>> round(float(edge_energy(3.0) - edge_energy(2.0)), 2)
    1.76
    """
    v = np.asarray(valence, dtype=np.float64)
    out = EDGE_ENERGY_NI2 + edge_offset(edge) + EDGE_SLOPE_EV_PER_VALENCE * (v - REFERENCE_VALENCE)
    return float(out) if out.ndim == 0 else out


def valence_from_edge(energy: ArrayLike) -> Any:
    """Invert :func:`edge_energy`: the valence whose model edge sits at ``energy``.

    Parameters
    ----------
    energy : array_like
        Half-height edge energy, eV.

    Returns
    -------
    valence : float or ndarray

    Examples
    --------
    >>> round(valence_from_edge(edge_energy(2.7)), 6)
    2.7
    """
    e = np.asarray(energy, dtype=np.float64)
    out = REFERENCE_VALENCE + (e - EDGE_ENERGY_NI2) / EDGE_SLOPE_EV_PER_VALENCE
    return float(out) if out.ndim == 0 else out


def reference_energies(edge: str = "Ni-K") -> NDArray[np.float64]:
    """Default energy grid of the model references: 8200-8500 eV (Ni-K).

    Parameters
    ----------
    edge : str, optional
        K edge; the grid moves with :func:`edge_offset`.

    Returns
    -------
    energy : ndarray of shape (E,)
        eV; 5 eV steps far from the edge, 0.25 eV steps from 8320 to 8380 eV.
    """
    return edge_offset(edge) + np.unique(np.concatenate([np.arange(8200.0, 8320.0, 5.0),
                                                         np.arange(8320.0, 8380.0, 0.25),
                                                         np.arange(8380.0, 8500.01, 2.0)]))


def reference_spectra(energy: ArrayLike | None = None, edge: str = "Ni-K") -> dict[float, Any]:
    """Model reference spectra of valence 0, 2 and 3 (Ni0, Ni2+, Ni3+ by default).

    Parameters
    ----------
    energy : array_like of shape (E,), optional
        Energies, eV (default :func:`reference_energies`).
    edge : str, optional
        K edge of the model (default Ni-K).

    Returns
    -------
    references : dict of float to ptyxanes.io.spectra.Spectrum
        Keyed by valence (0.0, 2.0, 3.0); ``mu`` normalised.

    Examples
    --------
    >>> refs = reference_spectra()
    >>> sorted(refs)
    [0.0, 2.0, 3.0]
    >>> refs[3.0].valence
    3.0
    """
    from ptyxanes.io.spectra import Spectrum
    from ptyxanes.xanes.edges import state_label

    e = reference_energies(edge) if energy is None else np.asarray(energy, dtype=np.float64)
    element = edge.split("-")[0]
    out: dict[float, Any] = {}
    for v in REFERENCE_VALENCES:
        name = REFERENCE_NAMES[v] if edge == "Ni-K" else f"{state_label(element, v)} (model)"
        out[v] = Spectrum(
            energy=e.copy(),
            mu=normalized_mu(e, v, edge),
            name=name,
            valence=v,
            path=None,
            meta={"column": "normalised mu (model)", "source": "ptyxanes.simulate.spectra",
                  "edge_energy_eV": float(edge_energy(v, edge)), "edge": edge},
        )
    return out
