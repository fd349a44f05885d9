"""Parallel-beam projector for all slices at once, from ASTRA's CPU projection matrix.

ASTRA's CPU algorithms are 2D only. In parallel-beam geometry every detector
row sees one independent slice, with the same system matrix ``W`` (rays ×
pixels). We ask ASTRA once for that matrix (``astra.projector.matrix`` of a
``'linear'`` CPU projector), keep it as a ``scipy.sparse`` CSR matrix in
float32 and apply it to all slices together as a 2-D array (pixels × slices):
one sparse × dense product per iteration instead of a Python loop over slices.

Array conventions
-----------------
projections : (A, M, N) -- angle, detector row, detector column
volume      : (P, M, N) -- plane, row, col; rotation about the row axis, so
              each row ``r`` is one slice ``volume[:, r, :]`` (P = N).
At angle 0 the beam runs along the plane axis: the projection is
``volume.sum(axis=0)``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParallelProjector:
    """System matrix of one parallel-beam slice geometry, applied to many slices.

    Parameters
    ----------
    angles : ndarray of shape (A,)
        Rotation angles, degrees.
    n : int
        Detector columns; the slice is n × n pixels (pixel = detector pixel).
    matrix : scipy.sparse.csr_matrix of shape (A * n, n * n)
        Ray weights (lengths in pixels), float32.
    matrix_t : scipy.sparse.csr_matrix of shape (n * n, A * n)
        Its transpose (back-projection), stored separately for speed.
    """

    angles: NDArray[np.float64]
    n: int
    matrix: sp.csr_matrix
    matrix_t: sp.csr_matrix

    @property
    def n_angles(self) -> int:
        """Number of projection angles A."""
        return len(self.angles)

    def forward(self, volume: NDArray[np.float32]) -> NDArray[np.float32]:
        """Project a volume.

        Parameters
        ----------
        volume : ndarray of shape (n, M, n)
            (plane, row, col).

        Returns
        -------
        projections : ndarray of shape (A, M, n)
        """
        p, m, c = volume.shape
        x = np.ascontiguousarray(
            np.transpose(volume, (0, 2, 1)).reshape(p * c, m), dtype=np.float32
        )
        return self.forward_flat(x).reshape(self.n_angles, self.n, m).transpose(0, 2, 1)

    def forward_flat(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """``W @ x`` for x of shape (n*n, slices) -> (A*n, slices)."""
        return self.matrix @ x

    def back_flat(self, y: NDArray[np.float32]) -> NDArray[np.float32]:
        """``W.T @ y`` for y of shape (A*n, slices) -> (n*n, slices)."""
        return self.matrix_t @ y

    def to_flat_sino(self, projections: NDArray[np.floating]) -> NDArray[np.float32]:
        """(A, M, n) projections -> (A*n, M) float32 array, one column per slice."""
        a, m, n = projections.shape
        return np.ascontiguousarray(
            np.transpose(projections, (0, 2, 1)).reshape(a * n, m), dtype=np.float32
        )

    def from_flat_volume(self, x: NDArray[np.float32], m: int) -> NDArray[np.float32]:
        """(n*n, M) -> (n, M, n) volume."""
        return np.ascontiguousarray(x.reshape(self.n, self.n, m).transpose(0, 2, 1))


@functools.lru_cache(maxsize=4)
def _cached(angles: tuple[float, ...], n: int, kind: str) -> ParallelProjector:
    import astra  # lazy: heavy, optional on some installs

    vol_geom = astra.create_vol_geom(n, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(np.asarray(angles)))
    proj_id = astra.create_projector(kind, proj_geom, vol_geom)  # CPU projector, never CUDA
    matrix_id = None
    try:
        matrix_id = astra.projector.matrix(proj_id)
        w = astra.matrix.get(matrix_id)
    finally:
        if matrix_id is not None:
            astra.matrix.delete(matrix_id)
        astra.projector.delete(proj_id)
    w = sp.csr_matrix(w, dtype=np.float32)
    logger.debug("ASTRA %s matrix %s with %d non-zeros", kind, w.shape, w.nnz)
    return ParallelProjector(np.asarray(angles, dtype=float), n, w, w.T.tocsr())


def parallel_projector(
    angles: NDArray[np.floating], n: int, kind: str = "linear"
) -> ParallelProjector:
    """Build (or reuse) the projector for ``angles`` (degrees) and ``n`` detector columns.

    Parameters
    ----------
    angles : ndarray of shape (A,)
        Degrees.
    n : int
        Detector columns (slice is n × n).
    kind : {"linear", "line", "strip"}, optional
        ASTRA CPU projector model.

    Returns
    -------
    projector : ParallelProjector

    Examples
    --------
    >>> pr = parallel_projector(np.linspace(0, 180, 30, endpoint=False), 16)
    >>> pr.matrix.shape
    (480, 256)
    """
    if n < 2:
        raise ValueError(f"need at least 2 detector columns, got {n}")
    return _cached(tuple(float(a) for a in np.asarray(angles).ravel()), int(n), kind)
