"""Parallel-beam projector for all slices at once: ASTRA's matrix, or matrix-free.

ASTRA's CPU algorithms are 2D only. In parallel-beam geometry every detector
row sees one independent slice, with the same system matrix ``W`` (rays ×
pixels), applied to all slices together as a 2-D array (pixels × slices).
Two strategies give the same ``W`` (ASTRA's ``'linear'`` CPU projector):

``"matrix"``
    ASTRA builds ``W`` once (``astra.projector.matrix``); it is kept with its
    transpose as ``scipy.sparse`` CSR in float32: one sparse × dense product
    per iteration. Its memory is about 32 · A · n² bytes (A angles, n
    columns): fine for small slices, gigabytes for 640² (2.4 GB at 181 angles).
``"joseph"``
    Matrix-free ray tracing (:mod:`ptyxanes.tomo._joseph`, numba, all cores):
    the same weights computed on the fly, memory proportional to the data.
    Up to :data:`FEW_SLICES` slices (wide, few-row detectors) one image line
    is traced at a time for each slice; with more, all slices share every ray.
``"auto"`` (default) takes the matrix when it needs at most
:data:`MATRIX_BUDGET` bytes, otherwise the matrix-free projector.

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
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

Strategy = Literal["auto", "matrix", "joseph"]

MATRIX_BUDGET = 64 * 2**20
"""Largest ASTRA matrix (with its transpose) built by ``strategy="auto"``, bytes."""

FEW_SLICES = 3
"""Up to this many slices the matrix-free projector traces one image line at a
time for each slice in turn (:func:`ptyxanes.tomo._joseph.forward_lines`);
with more, all slices share every ray in the innermost loop."""


def matrix_bytes(n_angles: int, n: int) -> int:
    """Memory of ASTRA's linear-projector matrix and its transpose, bytes (estimate).

    Parameters
    ----------
    n_angles : int
    n : int
        Detector columns.

    Returns
    -------
    nbytes : int
        About two non-zeros per pixel a ray crosses (A · n rays × n pixels),
        8 bytes each (float32 value + int32 index), twice (W and Wᵀ).

    Examples
    --------
    >>> round(matrix_bytes(181, 640) / 2**30, 2)
    2.21
    """
    return int(2 * n_angles * n * n * 8 * 2)


@dataclass(frozen=True)
class ParallelProjector:
    """System matrix of one parallel-beam slice geometry, applied to many slices.

    Parameters
    ----------
    angles : ndarray of shape (A,)
        Rotation angles, degrees.
    n : int
        Detector columns; the slice is n × n pixels (pixel = detector pixel).
    matrix : scipy.sparse.csr_matrix of shape (A * n, n * n) or None
        Ray weights (lengths in pixels), float32; None for the matrix-free
        projector.
    matrix_t : scipy.sparse.csr_matrix of shape (n * n, A * n) or None
        Its transpose (back-projection), stored separately for speed.
    """

    angles: NDArray[np.float64]
    n: int
    matrix: sp.csr_matrix | None
    matrix_t: sp.csr_matrix | None

    @property
    def strategy(self) -> str:
        """``"matrix"`` (ASTRA's sparse matrix) or ``"joseph"`` (matrix-free)."""
        return "matrix" if self.matrix is not None else "joseph"

    @functools.cached_property
    def _trig(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        t = np.deg2rad(self.angles)
        return np.cos(t), np.sin(t)

    def row_sums(self) -> NDArray[np.float32]:
        """``W 1``: the length of every ray inside the slice, shape (A * n,), pixels."""
        if self.matrix is not None:
            return np.asarray(self.matrix.sum(axis=1), dtype=np.float32).ravel()
        return self.forward_flat(np.ones((self.n * self.n, 1), np.float32)).ravel()

    def col_sums(self) -> NDArray[np.float32]:
        """``Wᵀ 1``: the summed ray weight through every pixel, shape (n * n,)."""
        if self.matrix is not None:
            return np.asarray(self.matrix.sum(axis=0), dtype=np.float32).ravel()
        return self.back_flat(np.ones((self.n_angles * self.n, 1), np.float32)).ravel()

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
        if self.matrix is not None:
            return self.matrix @ x
        from ptyxanes.tomo import _joseph

        m, n = x.shape[1], self.n
        if m <= FEW_SLICES:
            img = np.ascontiguousarray(np.asarray(x, np.float32).T).reshape(m, n, n)
            img_t = np.ascontiguousarray(img.transpose(0, 2, 1))
            sino = np.empty((m, self.n_angles, n), np.float32)
            _joseph.forward_lines(img, img_t, *self._trig, sino)
            return np.ascontiguousarray(sino.reshape(m, -1).T)
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((self.n_angles * n, m), np.float32)
        _joseph.forward(x, n, *self._trig, out)
        return out

    def back_flat(self, y: NDArray[np.float32]) -> NDArray[np.float32]:
        """``W.T @ y`` for y of shape (A*n, slices) -> (n*n, slices)."""
        if self.matrix_t is not None:
            return self.matrix_t @ y
        from ptyxanes.tomo import _joseph

        m, n = y.shape[1], self.n
        if m <= FEW_SLICES:
            sino = np.ascontiguousarray(np.asarray(y, np.float32).T).reshape(m, self.n_angles, n)
            img = np.empty((m, n, n), np.float32)
            _joseph.back_lines(sino, *self._trig, img, np.empty_like(img))
            return np.ascontiguousarray(img.reshape(m, -1).T)
        y = np.ascontiguousarray(y, dtype=np.float32)
        out = np.empty((n * n, m), np.float32)
        _joseph.back(y, n, *self._trig, out)
        return out

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
    if kind == "joseph":
        return ParallelProjector(np.asarray(angles, dtype=float), n, None, None)
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
    angles: NDArray[np.floating], n: int, kind: str = "linear", strategy: Strategy = "auto"
) -> ParallelProjector:
    """Build (or reuse) the projector for ``angles`` (degrees) and ``n`` detector columns.

    Parameters
    ----------
    angles : ndarray of shape (A,)
        Degrees.
    n : int
        Detector columns (slice is n × n).
    kind : {"linear", "line", "strip"}, optional
        ASTRA CPU projector model (the matrix-free projector is ``"linear"`` only).
    strategy : {"auto", "matrix", "joseph"}, optional
        ASTRA's stored matrix, or matrix-free; ``"auto"`` takes the matrix when
        :func:`matrix_bytes` is at most :data:`MATRIX_BUDGET`.

    Returns
    -------
    projector : ParallelProjector

    Examples
    --------
    >>> pr = parallel_projector(np.linspace(0, 180, 30, endpoint=False), 16)
    >>> pr.matrix.shape
    (480, 256)
    >>> parallel_projector(np.linspace(0, 180, 30, endpoint=False), 16, strategy="joseph").strategy
    'joseph'
    """
    if n < 2:
        raise ValueError(f"need at least 2 detector columns, got {n}")
    if strategy not in ("auto", "matrix", "joseph"):
        raise ValueError(f"strategy must be 'auto', 'matrix' or 'joseph', got {strategy!r}")
    angles = np.asarray(angles, dtype=float).ravel()
    if strategy == "auto":
        strategy = "matrix" if matrix_bytes(len(angles), n) <= MATRIX_BUDGET else "joseph"
    if strategy == "joseph" and kind != "linear":
        raise ValueError(f"the matrix-free projector is ASTRA's 'linear' model, not {kind!r}")
    key = "joseph" if strategy == "joseph" else kind
    return _cached(tuple(float(a) for a in angles), int(n), key)
