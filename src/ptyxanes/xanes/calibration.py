"""Edge energy → valence calibration from reference spectra of known valence."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

#: Smallest 1σ (eV) given to a reference edge energy (energy-scale reproducibility).
EDGE_SIGMA_FLOOR: float = 0.02


@dataclass(frozen=True)
class ReferenceEdge:
    """Edge of one reference spectrum.

    Parameters
    ----------
    name : str
        Reference name.
    valence : float
        Known Ni valence.
    edge_energy : float
        Edge energy found by the same method as the pixels, eV.
    edge_sigma : float
        Its 1σ, eV.
    fit : object, optional
        The :class:`~ptyxanes.xanes.batch.SpectrumFit` that produced it.
    """

    name: str
    valence: float
    edge_energy: float
    edge_sigma: float
    fit: Any = None


@dataclass(frozen=True)
class Calibration:
    """Linear calibration ``E_edge = a + b * valence`` and its inverse.

    Parameters
    ----------
    intercept : float
        ``a``, eV (edge energy of valence 0).
    slope : float
        ``b``, eV per valence unit.
    covariance : ndarray of shape (2, 2)
        Covariance of (a, b).
    references : tuple of ReferenceEdge
        The references used.
    method : str
        Edge method the calibration belongs to.
    piecewise : bool
        Instead of the line, straight segments through the reference points
        (sorted by valence; the end segments extended), for a calibration
        that curves between a metal and its oxides. ``slope`` and
        ``intercept`` stay those of the fitted line (reported).

    Notes
    -----
    The edge energies of the references are regressed on their (exact)
    valences by weighted least squares with weights ``1 / (σ_i^2 + floor^2)``;
    with more than two references the covariance is scaled by the reduced
    χ² when it exceeds one, so scatter about the line counts as uncertainty.
    A pixel's valence is ``v = (E - a) / b`` with
    ``σ_v^2 = (σ_E^2 + [1, v] C [1, v]^T) / b^2`` (first-order propagation of
    the pixel's edge uncertainty and the calibration covariance C).
    """

    intercept: float
    slope: float
    covariance: NDArray[np.float64]
    references: tuple[ReferenceEdge, ...] = field(default_factory=tuple)
    method: str = "halfheight"
    piecewise: bool = False

    @property
    def residuals(self) -> NDArray[np.float64]:
        """Reference edge energy minus the line, eV."""
        return np.array([r.edge_energy - (self.intercept + self.slope * r.valence)
                         for r in self.references])

    @property
    def valence_residuals(self) -> NDArray[np.float64]:
        """Valence each reference reads on the line minus its known valence."""
        return self.residuals / self.slope

    def _nodes(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        refs = sorted(self.references, key=lambda r: r.valence)
        v = np.array([r.valence for r in refs], np.float64)
        e = np.array([r.edge_energy for r in refs], np.float64)
        # one node per valence (mean edge of repeated valences)
        uv = np.unique(v)
        ue = np.array([e[v == x].mean() for x in uv])
        return uv, ue

    def _segment_slope(self, valence: NDArray[np.float64]) -> NDArray[np.float64]:
        uv, ue = self._nodes()
        seg = np.clip(np.searchsorted(uv, valence) - 1, 0, uv.size - 2)
        return (ue[seg + 1] - ue[seg]) / (uv[seg + 1] - uv[seg])

    def edge_of(self, valence: ArrayLike) -> NDArray[np.float64]:
        """Edge energy (eV) of a valence on the calibration line.

        Parameters
        ----------
        valence : array_like

        Returns
        -------
        energy : ndarray
        """
        v = np.asarray(valence, np.float64)
        if self.piecewise and len({r.valence for r in self.references}) >= 2:
            uv, ue = self._nodes()
            k = self._segment_slope(v)
            seg = np.clip(np.searchsorted(uv, v) - 1, 0, uv.size - 2)
            return ue[seg] + k * (v - uv[seg])
        return self.intercept + self.slope * v

    def valence(
        self, edge: ArrayLike, edge_sigma: ArrayLike | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Valence and its 1σ for edge energies.

        Parameters
        ----------
        edge : array_like
            Edge energies, eV.
        edge_sigma : array_like, optional
            Their 1σ, eV (0 if omitted).

        Returns
        -------
        valence, sigma : ndarray

        Examples
        --------
        >>> c = Calibration(8336.5, 1.76, np.zeros((2, 2)))
        >>> v, s = c.valence(8340.02, 0.176)
        >>> round(float(v), 3), round(float(s), 3)
        (2.0, 0.1)
        """
        e = np.asarray(edge, np.float64)
        se = np.zeros_like(e) if edge_sigma is None else np.asarray(edge_sigma, np.float64)
        if self.piecewise and len({r.valence for r in self.references}) >= 2:
            uv, ue = self._nodes()
            seg = np.clip(np.searchsorted(ue, e) - 1, 0, ue.size - 2)
            k = (ue[seg + 1] - ue[seg]) / (uv[seg + 1] - uv[seg])
            v = uv[seg] + (e - ue[seg]) / k
            return v, np.sqrt(se**2 + EDGE_SIGMA_FLOOR**2) / np.abs(k)
        v = (e - self.intercept) / self.slope
        c = self.covariance
        var_line = c[0, 0] + 2 * v * c[0, 1] + v * v * c[1, 1]
        return v, np.sqrt(se**2 + var_line) / abs(self.slope)


#: A reference reading further than this from its valence on the line is warned about.
RESIDUAL_WARNING_VALENCE: float = 0.2


def calibrate(
    edges: Sequence[ReferenceEdge], *, method: str = "halfheight",
    sigma_floor: float = EDGE_SIGMA_FLOOR, piecewise: bool = False
) -> Calibration:
    """Fit the linear edge-energy calibration to reference edges.

    Parameters
    ----------
    edges : sequence of ReferenceEdge
        At least two references with distinct valences.
    method : str, optional
        Name of the edge method (stored).
    sigma_floor : float, optional
        Minimum 1σ of a reference edge, eV.
    piecewise : bool, optional
        Segments through the references instead of the line (see
        :class:`Calibration`); needs edges that increase with valence.

    Returns
    -------
    calibration : Calibration

    Raises
    ------
    ValueError
        Fewer than two distinct valences, a non-finite edge, or edges that do
        not increase with valence.

    Examples
    --------
    >>> refs = [ReferenceEdge("NiO", 2.0, 8340.0, 0.01), ReferenceEdge("LNO", 3.0, 8341.8, 0.01)]
    >>> c = calibrate(refs)
    >>> round(c.slope, 3), round(c.intercept, 2)
    (1.8, 8336.4)
    """
    refs = tuple(edges)
    v = np.array([r.valence for r in refs], np.float64)
    e = np.array([r.edge_energy for r in refs], np.float64)
    if len(set(v.tolist())) < 2:
        raise ValueError("calibration needs references of at least two different valences")
    if not np.all(np.isfinite(e)):
        bad = [r.name for r in refs if not np.isfinite(r.edge_energy)]
        raise ValueError(f"no edge energy found for reference(s) {bad}")
    s = np.sqrt(np.array([r.edge_sigma if np.isfinite(r.edge_sigma) else 0.0 for r in refs]) ** 2
                + sigma_floor**2)
    x = np.stack([np.ones_like(v), v], 1)
    w = 1.0 / s**2
    cov = np.linalg.inv(x.T @ (w[:, None] * x))
    coef = cov @ (x.T @ (w * e))
    dof = len(refs) - 2
    if dof > 0:
        chi2 = float(np.sum(w * (e - x @ coef) ** 2) / dof)
        cov = cov * max(chi2, 1.0)
    if coef[1] <= 0:
        listing = ", ".join(f"{r.name} (valence {r.valence:g}) {r.edge_energy:.2f} eV"
                            for r in refs)
        raise ValueError(f"reference edge energies do not increase with valence: {listing}")
    cal = Calibration(float(coef[0]), float(coef[1]), np.asarray(cov, np.float64), refs, method,
                      piecewise)
    if piecewise:
        uv, ue = cal._nodes()
        if np.any(np.diff(ue) <= 0):
            raise ValueError("a piecewise calibration needs edge energies that increase with "
                             "valence from reference to reference")
    logger.info("calibration: E = %.3f + %.4f * v (eV)%s", coef[0], coef[1],
                " (piecewise through the references)" if piecewise else "")
    if len(refs) > 2:
        for r, dv in zip(refs, cal.valence_residuals, strict=True):
            logger.info("reference %s: valence %g reads %.2f on the line (residual %+.3f eV)",
                        r.name, r.valence, r.valence + dv, dv * cal.slope)
        worst = float(np.max(np.abs(cal.valence_residuals)))
        if worst > RESIDUAL_WARNING_VALENCE and not piecewise:
            logger.warning("the linear calibration misses a reference by %.2f valence (more than "
                           "%.1f): the edge does not move linearly with valence over these "
                           "references; a piecewise-linear calibration follows them", worst,
                           RESIDUAL_WARNING_VALENCE)
    return cal


#: Shipped default references (file, valence) under ``resources/references``: PyXAS
#: NiO and LiNiO2 (one consistent energy scale, the one the digital twin was fitted to).
DEFAULT_REFERENCES: tuple[tuple[str, float], ...] = (("NiO_pyxas.txt", 2.0),
                                                     ("LiNiO2_pyxas.txt", 3.0))


def default_references() -> list[Any]:
    """Read the shipped default reference spectra.

    Returns
    -------
    references : list of ptyxanes.io.spectra.Spectrum
        NiO (valence 2) and LiNiO2 (valence 3); sources in
        ``resources/references/README.md``.

    Examples
    --------
    >>> [r.valence for r in default_references()]
    [2.0, 3.0]
    """
    from ptyxanes.io.spectra import read_spectrum
    from ptyxanes.resources import resource_path

    return [read_spectrum(resource_path("references", f), valence=v)
            for f, v in DEFAULT_REFERENCES]
