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
    """Pad and shift projections horizontally so that the rotation axis is at the detector centre.

    The detector is widened by ``p = ceil(|d|)`` zero columns on both sides
    (``d = (N − 1)/2 − center``, the shift), so nothing is shifted out of the
    field: a sample near the detector edge keeps all its mass (linear
    interpolation conserves the sum of every row).

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
    center : float or None
        Column of the rotation axis, pixels (None: already at ``(N - 1) / 2``).
    order : int, optional
        Interpolation order.

    Returns
    -------
    centred : ndarray of shape (A, M, N + 2p), float32
        The axis at column ``(N + 2p − 1) / 2``; ``p = (width − N) / 2`` is
        the padding on each side (0 when the axis is already centred).

    Examples
    --------
    >>> p = np.zeros((1, 1, 9)); p[0, 0, 8] = 1
    >>> c = center_projections(p, 2.0)
    >>> c.shape, int(np.argmax(c[0, 0])), float(c.sum())
    ((1, 1, 13), 12, 1.0)
    """
    projections = np.asarray(projections, dtype=np.float32)
    if center is None:
        return projections
    d = (projections.shape[2] - 1) / 2 - float(center)
    if abs(d) < 1e-6:
        return projections
    pad = int(np.ceil(abs(d) - 1e-6))
    padded = np.pad(projections, ((0, 0), (0, 0), (pad, pad)))
    return ndimage.shift(padded, (0, 0, d), order=order, mode="constant", cval=0.0)


def _crop(volume: NDArray[np.float32], n: int) -> NDArray[np.float32]:
    """The central (n, M, n) of a (plane, row, col) volume reconstructed on a padded detector."""
    pad = (volume.shape[2] - n) // 2
    if pad == 0:
        return volume
    return np.ascontiguousarray(volume[pad : pad + n, :, pad : pad + n])


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
        Rotation-axis column, pixels; default the detector centre. The
        projections are padded so that none of their mass leaves the field
        (:func:`center_projections`); the reconstruction runs on the padded
        width and the (N, M, N) volume around the axis is returned.
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
    n_in = projections.shape[2]
    proj = center_projections(projections, center)
    if chunk is None:
        # ~4 multiply-adds per pixel, angle and slice and iteration, ~2e8 per second
        work = 4.0 * proj.shape[0] * proj.shape[2] ** 2 * proj.shape[1]
        chunk = int(np.clip(1e8 / work, 1, 10))
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    if backend == "cuda" or (backend == "auto" and astra_has_cuda()):
        vol = yield from _sirt_cuda(proj, angles, iterations, nonnegative, chunk, control)
        return _crop(vol, n_in)
    a, m, n = proj.shape
    pad = (n - n_in) // 2
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
        init = np.asarray(initial, np.float32)
        if init.shape != (n_in, m, n_in):
            raise ValueError(f"initial volume has shape {init.shape}, expected {(n_in, m, n_in)}")
        init = np.pad(init, ((pad, pad), (0, 0), (pad, pad)))
        x = np.ascontiguousarray(np.transpose(init, (0, 2, 1)).reshape(n * n, m))
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
        plane = np.ascontiguousarray(x.reshape(n, n, m)[n // 2, pad : pad + n_in].T)
        yield Progress(done, iterations, f"SIRT (CPU, all slices, {pr.strategy} projector)", "tomo",
                       {"object": plane, "iteration": done, "label": "SIRT middle plane"})
    return _crop(pr.from_flat_volume(x, m), n_in)


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
        Rotation-axis column, pixels (the projections are padded, as in :func:`sirt`).
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
    n_in = projections.shape[2]
    proj = center_projections(projections, center)
    a, m, n = proj.shape
    filt = _ramp_filter(n, window)
    spec = np.fft.fft(proj, n=len(filt), axis=2) * filt
    filtered = np.real(np.fft.ifft(spec, axis=2))[:, :, :n].astype(np.float32)
    pr = parallel_projector(angles, n, strategy=projector)
    x = pr.back_flat(pr.to_flat_sino(filtered)) * np.float32(np.pi / a)
    return _crop(pr.from_flat_volume(x, m), n_in)
