"""Normalised spectra of a map or volume, ready for model-free exploration."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SpectralData:
    """Pre-/post-edge normalised spectra with the pixels (voxels) to explore.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV, increasing.
    mu : ndarray of shape (..., E), float32
        Normalised absorption (pre-edge 0, post-edge 1); NaN outside ``mask``.
    mask : ndarray of shape (...), bool
        Pixels inside the sample whose spectrum could be normalised.
    edge_jump : ndarray of shape (...), float32
        Edge jump in the units of the input absorption (the Ni amount).
    threshold : float
        Edge-jump threshold that made ``mask``.
    """

    energy: NDArray[np.float64]
    mu: NDArray[np.float32]
    mask: NDArray[np.bool_]
    edge_jump: NDArray[np.float32]
    threshold: float

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """(M, N) or (P, M, N)."""
        return tuple(self.mask.shape)

    def flat(self) -> NDArray[np.float64]:
        """The spectra inside ``mask`` as an (n, E) float64 matrix."""
        return np.asarray(self.mu[self.mask], np.float64)


def normalized_spectra(
    energy: NDArray[np.floating],
    data: Any,
    *,
    kind: str = "complex",
    energy_axis: int = 0,
    threshold: float | str | None = "otsu",
    mask: NDArray[np.bool_] | None = None,
    norm_kwargs: dict[str, Any] | None = None,
) -> SpectralData:
    """Convert a spectral stack to normalised spectra and a sample mask.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    data : ndarray
        An image stack ``(E, M, N)`` / ``(E, P, M, N)`` (``energy_axis=0``) or
        energy-last spectra ``(..., E)`` (``energy_axis=-1``).
    kind : {"complex", "modulus", "absorption"}, optional
        What ``data`` holds (see :func:`ptyxanes.xanes.absorption.to_absorption`).
    energy_axis : {0, -1}, optional
    threshold : float, "otsu" or None, optional
        Edge-jump threshold of the sample mask (input absorption units);
        ``"otsu"`` picks it from the edge-jump histogram, None keeps every
        pixel with a positive jump.
    mask : ndarray of bool, optional
        Extra mask ANDed with the edge-jump mask.
    norm_kwargs : dict, optional
        Windows and normalisation of :func:`ptyxanes.xanes.normalize.normalize`
        (e.g. ``FitOptions.for_edge("Fe-L3").norm_kwargs``); default: the Ni K-edge.

    Returns
    -------
    spectra : SpectralData

    Raises
    ------
    ValueError
        Energies not matching the data, or no pixel with an edge.

    Examples
    --------
    >>> e = np.array([8270., 8300., 8340., 8350., 8400., 8420.])
    >>> mu = (0.5 + (e > 8330) * (1.0 + 1e-3 * (e - 8345))) * np.ones((2, 3, 1))
    >>> s = normalized_spectra(e, mu, kind="absorption", energy_axis=-1, threshold=None)
    >>> bool(s.mask.all()), round(float(s.mu[0, 0, 3]), 3)
    (True, 1.005)
    """
    from ptyxanes.xanes.absorption import to_absorption
    from ptyxanes.xanes.batch import otsu_threshold
    from ptyxanes.xanes.normalize import normalize
    from ptyxanes.xanes.status import Status

    e = np.asarray(energy, np.float64).ravel()
    arr = np.asarray(data)
    if energy_axis == 0:
        arr = np.moveaxis(arr, 0, -1)
    elif energy_axis != -1:
        raise ValueError("energy_axis must be 0 or -1")
    if arr.shape[-1] != e.size:
        raise ValueError(f"the data have {arr.shape[-1]} energies but {e.size} energy values were given")
    if arr.ndim < 2:
        raise ValueError("expected a map or volume of spectra, got a single spectrum")
    mu, status = to_absorption(arr, kind)
    norm = normalize(e, mu, status=status, **(norm_kwargs or {}))
    jump = np.where(norm.status == Status.OK, norm.edge_jump, np.nan)
    if threshold == "otsu":
        thr = otsu_threshold(jump)
    elif threshold is None:
        thr = 0.0
    else:
        thr = float(threshold)
    with np.errstate(invalid="ignore"):
        keep = (norm.status == Status.OK) & (jump > thr) & np.isfinite(norm.mu).all(axis=-1)
    if mask is not None:
        if np.shape(mask) != keep.shape:
            raise ValueError(f"mask shape {np.shape(mask)} differs from the image shape {keep.shape}")
        keep &= np.asarray(mask, bool)
    if not keep.any():
        raise ValueError("no pixel has an absorption edge above the threshold: nothing to explore")
    out = np.asarray(norm.mu, np.float32)
    out[~keep] = np.nan
    logger.info("explore: %d of %d spectra inside the sample (edge jump > %.3g)",
                int(keep.sum()), keep.size, thr)
    return SpectralData(e, out, keep, np.asarray(jump, np.float32), float(thr))
