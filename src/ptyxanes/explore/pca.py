"""Principal component analysis of the spectra of a map or volume (numpy only).

The spectra matrix has few columns (E energies, at most about a hundred) and
many rows (pixels or voxels), so the E x E covariance is accumulated block by
block and diagonalised; no (pixels x pixels) matrix is ever formed. This is
the same decomposition as an SVD of the centred data matrix (its right
singular vectors are the eigenvectors of the covariance).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.progress import Control, Progress, run_sync

if TYPE_CHECKING:
    from ptyxanes.explore.spectra import SpectralData

logger = logging.getLogger(__name__)

#: Spectra handled per block.
BLOCK: int = 65536


@dataclass(frozen=True, eq=False)
class PCAResult:
    """Principal components of a set of spectra.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    mean : ndarray of shape (E,)
        Mean spectrum subtracted before the decomposition.
    components : ndarray of shape (K, E)
        Unit component spectra, by decreasing variance; the sign is chosen so
        that each component's largest entry is positive.
    explained_variance : ndarray of shape (K,)
        Variance of the scores along each component (normalised μ squared).
    explained_variance_ratio : ndarray of shape (K,)
        Fraction of the total variance explained by each component.
    scores : ndarray of shape (..., K), float32
        Projection of every spectrum on the components; NaN outside ``mask``.
    mask : ndarray of shape (...), bool
        Pixels that entered the decomposition.
    """

    energy: NDArray[np.float64]
    mean: NDArray[np.float64]
    components: NDArray[np.float64]
    explained_variance: NDArray[np.float64]
    explained_variance_ratio: NDArray[np.float64]
    scores: NDArray[np.float32]
    mask: NDArray[np.bool_]

    @property
    def n_components(self) -> int:
        """K."""
        return int(self.components.shape[0])

    def score_maps(self) -> NDArray[np.float32]:
        """Scores with the component first: shape (K, ...)."""
        return np.moveaxis(self.scores, -1, 0)

    def reconstruct(self, scores: NDArray[np.floating]) -> NDArray[np.float64]:
        """Spectra ``mean + scores @ components`` for scores of shape (..., K)."""
        return self.mean + np.asarray(scores, np.float64) @ self.components


def _as_spectra(spectra: SpectralData | NDArray[Any], mask: NDArray[np.bool_] | None
                ) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    from ptyxanes.explore.spectra import SpectralData

    if isinstance(spectra, SpectralData):
        return np.asarray(spectra.mu), spectra.mask if mask is None else mask & spectra.mask
    arr = np.asarray(spectra)
    if arr.ndim < 2:
        raise ValueError("expected spectra of shape (..., E)")
    finite = np.isfinite(arr).all(axis=-1)
    m = finite if mask is None else (np.asarray(mask, bool) & finite)
    return arr, m


def pca_gen(
    spectra: SpectralData | NDArray[Any],
    n_components: int = 4,
    *,
    mask: NDArray[np.bool_] | None = None,
    energy: NDArray[np.floating] | None = None,
    control: Control | None = None,
) -> Generator[Progress, None, PCAResult]:
    """PCA of the spectra of a map or volume (generator yielding progress).

    Parameters
    ----------
    spectra : SpectralData or ndarray of shape (..., E)
        Normalised spectra, energy last (NaN spectra are left out).
    n_components : int, optional
        Components kept (at most E).
    mask : ndarray of bool of shape (...), optional
        Pixels to use (default: every finite spectrum).
    energy : ndarray of shape (E,), optional
        eV (taken from ``spectra`` when it is a :class:`SpectralData`).
    control : Control, optional
        Cancellation, checked between blocks.

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : PCAResult

    Raises
    ------
    ValueError
        Fewer than two spectra, or ``n_components`` not in 1..E.
    """
    from ptyxanes.explore.spectra import SpectralData

    ctl = control or Control()
    arr, m = _as_spectra(spectra, mask)
    if energy is None:
        energy = (spectra.energy if isinstance(spectra, SpectralData)
                  else np.arange(arr.shape[-1], dtype=np.float64))
    e = np.asarray(energy, np.float64)
    n_e = arr.shape[-1]
    if not 1 <= int(n_components) <= n_e:
        raise ValueError(f"n_components must be between 1 and {n_e} (the number of energies); "
                         f"got {n_components}")
    idx = np.flatnonzero(m.ravel())
    n = idx.size
    if n < 2:
        raise ValueError(f"PCA needs at least two spectra inside the mask; got {n}")
    flat = arr.reshape(-1, n_e)
    blocks = [idx[i:i + BLOCK] for i in range(0, n, BLOCK)]
    total = 2 * len(blocks)
    # pass 1: mean and covariance about a provisional centre (stable for offsets)
    shift = np.asarray(flat[idx[0]], np.float64)
    s1 = np.zeros(n_e)
    s2 = np.zeros((n_e, n_e))
    last = time.perf_counter()
    for k, b in enumerate(blocks):
        ctl.check()
        x = np.asarray(flat[b], np.float64) - shift
        s1 += x.sum(0)
        s2 += x.T @ x
        if time.perf_counter() - last > 0.3:
            last = time.perf_counter()
            yield Progress(k + 1, total, "PCA: covariance", "explore")
    mean_c = s1 / n
    cov = (s2 - n * np.outer(mean_c, mean_c)) / (n - 1)
    mean = mean_c + shift
    w, v = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1]
    w = np.clip(w[order], 0.0, None)
    v = v[:, order]
    k_keep = int(n_components)
    comps = v[:, :k_keep].T.copy()
    for c in comps:  # deterministic sign
        if c[np.argmax(np.abs(c))] < 0:
            c *= -1
    tot_var = float(w.sum())
    ratio = w[:k_keep] / tot_var if tot_var > 0 else np.zeros(k_keep)
    scores = np.full(m.shape + (k_keep,), np.nan, np.float32)
    sflat = scores.reshape(-1, k_keep)
    for k, b in enumerate(blocks):
        ctl.check()
        sflat[b] = (np.asarray(flat[b], np.float64) - mean) @ comps.T
        if time.perf_counter() - last > 0.3:
            last = time.perf_counter()
            yield Progress(len(blocks) + k + 1, total, "PCA: scores", "explore")
    yield Progress(total, total, "PCA done", "explore")
    logger.info("PCA of %d spectra: explained variance ratios %s", n,
                ", ".join(f"{r:.3f}" for r in ratio))
    return PCAResult(e, mean, comps, w[:k_keep].copy(), ratio, scores, m.copy())


def pca(spectra: SpectralData | NDArray[Any], n_components: int = 4, *, mask: NDArray[np.bool_] | None = None,
        energy: NDArray[np.floating] | None = None) -> PCAResult:
    """PCA of the spectra of a map or volume (see :func:`pca_gen`).

    Parameters
    ----------
    spectra : SpectralData or ndarray of shape (..., E)
        Normalised spectra, energy last.
    n_components : int, optional
        Components kept.
    mask : ndarray of bool, optional
        Pixels to use.
    energy : ndarray of shape (E,), optional
        eV.

    Returns
    -------
    result : PCAResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 1)) * np.array([1.0, 2.0, 0.0])
    >>> r = pca(x[None], 2)
    >>> round(float(r.explained_variance_ratio[0]), 6)
    1.0
    """
    return run_sync(pca_gen(spectra, n_components, mask=mask, energy=energy))
