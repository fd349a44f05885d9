"""SIRT and FBP reconstruction of parallel-beam tilt series.

The CPU path reconstructs all slices at once with the sparse projection matrix
of :mod:`ptyxanes.tomo.projector` (one sparse × dense product per iteration for
every slice together). The GPU path uses ASTRA's ``SIRT3D_CUDA`` and is taken
only when :func:`ptyxanes.backend.astra_has_cuda` is true (ASTRA's CUDA calls
kill the process on machines without a GPU).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ptyxanes.backend import astra_has_cuda
from ptyxanes.progress import Control, Progress
from ptyxanes.tomo.projector import Strategy, parallel_projector

logger = logging.getLogger(__name__)

Backend = Literal["auto", "cpu", "cuda"]


def center_projections(
    projections: NDArray[np.floating], center: float | None, order: int = 1
) -> NDArray[np.float32]:
    """Shift projections horizontally so that the rotation axis is at the detector centre.

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
    center : float or None
        Column of the rotation axis, pixels (None: already at ``(N - 1) / 2``).
    order : int, optional
        Interpolation order.

    Returns
    -------
    centred : ndarray of shape (A, M, N), float32

    Examples
    --------
    >>> p = np.zeros((1, 1, 9)); p[0, 0, 2] = 1
    >>> int(np.argmax(center_projections(p, 2.0)[0, 0]))
    4
    """
    projections = np.asarray(projections, dtype=np.float32)
    if center is None:
        return projections
    d = (projections.shape[2] - 1) / 2 - float(center)
    if abs(d) < 1e-6:
        return projections
    return ndimage.shift(projections, (0, 0, d), order=order, mode="constant", cval=0.0)


def _check(projections: NDArray[np.floating], angles: NDArray[np.floating]) -> None:
    if projections.ndim != 3:
        raise ValueError(f"projections must be (angle, row, col), got shape {projections.shape}")
    if len(angles) != projections.shape[0]:
        raise ValueError(f"{len(angles)} angles for {projections.shape[0]} projections")


def sirt(
    projections: NDArray[np.floating],
    angles: NDArray[np.floating],
    *,
    iterations: int = 200,
    center: float | None = None,
    nonnegative: bool = True,
    chunk: int | None = None,
    backend: Backend = "auto",
    initial: NDArray[np.floating] | None = None,
    control: Control | None = None,
    projector: Strategy = "auto",
) -> Generator[Progress, None, NDArray[np.float32]]:
    """Reconstruct a volume from parallel-beam projections by SIRT.

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
        Line integrals (e.g. −ln|T|), one projection per angle.
    angles : ndarray of shape (A,)
        Degrees.
    iterations : int, optional
        SIRT iterations (200 as in the paper).
    center : float, optional
        Rotation-axis column, pixels; default the detector centre.
    nonnegative : bool, optional
        Clip the estimate at zero after every iteration.
    chunk : int, optional
        Iterations between progress reports and cancellation checks; by
        default 10, fewer for large problems (about 0.5 s between reports).
    backend : {"auto", "cpu", "cuda"}, optional
        ``"auto"`` takes CUDA only when :func:`~ptyxanes.backend.astra_has_cuda`.
    initial : ndarray of shape (N, M, N), optional
        Starting volume (CPU path).
    control : Control, optional
        Cancellation; ``finish_early`` returns the current estimate.
    projector : {"auto", "matrix", "joseph"}, optional
        CPU projector: ASTRA's stored sparse matrix (small slices) or the
        matrix-free one (memory proportional to the data); ``"auto"`` chooses
        by size (:func:`~ptyxanes.tomo.projector.parallel_projector`).

    Returns
    -------
    volume : ndarray of shape (N, M, N), float32
        (plane, row, col), in units of the projections per pixel
        (divide by the pixel size in m for 1/m).

    Raises
    ------
    ValueError
        Bad shapes, or ``backend="cuda"`` without a usable GPU.

    Notes
    -----
    Update ``x <- x + C Wᵀ R (b − W x)`` with ``R``, ``C`` the inverse row and
    column sums of ``W`` (ASTRA's SIRT), applied to every slice at once.

    Examples
    --------
    >>> from ptyxanes.progress import run_sync
    >>> ang = np.linspace(0, 180, 40, endpoint=False)
    >>> vol = np.zeros((24, 2, 24), np.float32); vol[8:16, :, 6:12] = 1
    >>> proj = parallel_projector(ang, 24).forward(vol)
    >>> rec = run_sync(sirt(proj, ang, iterations=100, backend="cpu"))
    >>> bool(np.abs(rec - vol).mean() < 0.05)
    True
    """
    control = control or Control()
    projections = np.asarray(projections)
    angles = np.asarray(angles, dtype=float)
    _check(projections, angles)
    if backend == "cuda" and not astra_has_cuda():
        raise ValueError("backend='cuda' asked for, but ASTRA finds no CUDA GPU")
    proj = center_projections(projections, center)
    if chunk is None:
        # ~4 multiply-adds per pixel, angle and slice and iteration, ~2e8 per second
        work = 4.0 * proj.shape[0] * proj.shape[2] ** 2 * proj.shape[1]
        chunk = int(np.clip(1e8 / work, 1, 10))
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    if backend == "cuda" or (backend == "auto" and astra_has_cuda()):
        return (yield from _sirt_cuda(proj, angles, iterations, nonnegative, chunk, control))
    a, m, n = proj.shape
    pr = parallel_projector(angles, n, strategy=projector)
    b = pr.to_flat_sino(proj)
    row_sum = pr.row_sums()
    col_sum = pr.col_sums()
    inv_r = np.where(row_sum > 1e-6, 1.0 / np.maximum(row_sum, 1e-6), 0.0).astype(np.float32)[
        :, None
    ]
    inv_c = np.where(col_sum > 1e-6, 1.0 / np.maximum(col_sum, 1e-6), 0.0).astype(np.float32)[
        :, None
    ]
    if initial is None:
        x = np.zeros((n * n, m), np.float32)
    else:
        x = np.ascontiguousarray(
            np.transpose(np.asarray(initial, np.float32), (0, 2, 1)).reshape(n * n, m)
        )
    for start in range(0, iterations, chunk):
        control.check()
        if control.should_finish:
            break
        for _ in range(min(chunk, iterations - start)):
            resid = b - pr.forward_flat(x)
            resid *= inv_r
            x += inv_c * pr.back_flat(resid)
            if nonnegative:
                np.maximum(x, 0, out=x)
        done = min(start + chunk, iterations)
        # live preview: the middle plane (row, col) of the current estimate
        plane = np.ascontiguousarray(x.reshape(n, n, m)[n // 2].T)
        yield Progress(done, iterations, f"SIRT (CPU, all slices, {pr.strategy} projector)", "tomo",
                       {"object": plane, "iteration": done, "label": "SIRT middle plane"})
    return pr.from_flat_volume(x, m)


def _sirt_cuda(
    proj: NDArray[np.float32],
    angles: NDArray[np.floating],
    iterations: int,
    nonnegative: bool,
    chunk: int,
    control: Control,
) -> Generator[Progress, None, NDArray[np.float32]]:
    """ASTRA SIRT3D_CUDA (only called when astra_has_cuda(); untested without a GPU)."""
    import astra

    a, m, n = proj.shape
    vol_geom = astra.create_vol_geom(n, n, m)  # (rows=plane, cols=col, slices=row)
    proj_geom = astra.create_proj_geom("parallel3d", 1.0, 1.0, m, n, np.deg2rad(angles))
    sino = np.ascontiguousarray(np.transpose(proj, (1, 0, 2)))  # (row, angle, col)
    sino_id = rec_id = alg_id = None
    try:
        sino_id = astra.data3d.create("-proj3d", proj_geom, sino)
        rec_id = astra.data3d.create("-vol", vol_geom, 0.0)
        cfg = astra.astra_dict("SIRT3D_CUDA")
        cfg["ProjectionDataId"], cfg["ReconstructionDataId"] = sino_id, rec_id
        if nonnegative:
            cfg["option"] = {"MinConstraint": 0.0}
        alg_id = astra.algorithm.create(cfg)
        for start in range(0, iterations, chunk):
            control.check()
            if control.should_finish:
                break
            astra.algorithm.run(alg_id, min(chunk, iterations - start))
            done = min(start + chunk, iterations)
            plane = np.ascontiguousarray(astra.data3d.get_shared(rec_id)[:, n // 2, :]) \
                if hasattr(astra.data3d, "get_shared") else None
            yield Progress(done, iterations, "SIRT3D_CUDA", "tomo",
                           None if plane is None else
                           {"object": plane, "iteration": done, "label": "SIRT middle plane"})
        vol = astra.data3d.get(rec_id)  # (row, plane, col)
        return np.ascontiguousarray(np.transpose(vol, (1, 0, 2)), dtype=np.float32)
    finally:
        if alg_id is not None:
            astra.algorithm.delete(alg_id)
        for i in (rec_id, sino_id):
            if i is not None:
                astra.data3d.delete(i)


def _ramp_filter(n: int, window: str) -> NDArray[np.float64]:
    size = max(64, int(2 ** np.ceil(np.log2(2 * n))))
    k = np.concatenate([np.arange(1, size // 2 + 1, 2), np.arange(size // 2 - 1, 0, -2)])
    h = np.zeros(size)
    h[0] = 0.25
    h[1::2] = -1.0 / (np.pi * k) ** 2  # Kak & Slaney's band-limited ramp (no DC bias)
    filt = np.real(np.fft.fft(h))
    if window == "hann":
        f = np.fft.fftfreq(size)
        filt *= 0.5 + 0.5 * np.cos(2 * np.pi * f)
    elif window != "ramp":
        raise ValueError(f"window must be 'ramp' or 'hann', got {window!r}")
    return filt


def fbp(
    projections: NDArray[np.floating],
    angles: NDArray[np.floating],
    *,
    center: float | None = None,
    window: str = "hann",
    projector: Strategy = "auto",
) -> NDArray[np.float32]:
    """Filtered back-projection of all slices at once (quick preview).

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
    angles : ndarray of shape (A,)
        Degrees, evenly covering 180°.
    center : float, optional
        Rotation-axis column, pixels.
    window : {"hann", "ramp"}, optional
        Apodisation of the ramp filter.
    projector : {"auto", "matrix", "joseph"}, optional
        Back-projector (see :func:`sirt`).

    Returns
    -------
    volume : ndarray of shape (N, M, N), float32

    Examples
    --------
    >>> ang = np.linspace(0, 180, 90, endpoint=False)
    >>> vol = np.zeros((32, 1, 32), np.float32); vol[10:22, :, 10:22] = 1
    >>> rec = fbp(parallel_projector(ang, 32).forward(vol), ang, window="ramp")
    >>> bool(abs(rec[14:18, 0, 14:18].mean() - 1) < 0.05)
    True
    """
    projections = np.asarray(projections)
    angles = np.asarray(angles, dtype=float)
    _check(projections, angles)
    proj = center_projections(projections, center)
    a, m, n = proj.shape
    filt = _ramp_filter(n, window)
    spec = np.fft.fft(proj, n=len(filt), axis=2) * filt
    filtered = np.real(np.fft.ifft(spec, axis=2))[:, :, :n].astype(np.float32)
    pr = parallel_projector(angles, n, strategy=projector)
    x = pr.back_flat(pr.to_flat_sino(filtered)) * np.float32(np.pi / a)
    return pr.from_flat_volume(x, m)
