"""Complex transmission images of a simulated sample: 2D projections and tilt series.

Sign convention: the refractive index is ``n = 1 - delta + i beta`` and the
complex transmission of a projection is

    T = exp(-k * integral(beta dl) + i k * integral(delta dl)),   k = 2 pi / lambda,

so ``-ln|T| = k * integral(beta dl)`` (the absorption the XANES fit uses) and
the phase ``arg T = k * integral(delta dl)`` is positive in the material.

Geometry: volumes are (plane, row, col); the beam runs along the plane axis at
0 deg. Tomographic rotation is about the row (vertical) axis through the volume
centre: a point at offsets (z, x) (plane, col) from the axis projects at
detector column offset ``t = x cos(theta) - z sin(theta)``.

Efficiency: the Ni valence is continuous, so each voxel is split between the
two nearest nodes of a valence grid (hat functions, ``VALENCE_STEP`` apart);
the path length through each node is projected once, and each energy then
needs only ``delta, beta`` at the K grid valences:
``integral(beta dl) = sum_k beta(E, v_k) L_k``.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from ptyxanes.io.stack import ImageStack
from ptyxanes.simulate.optics import refractive_index, wavelength
from ptyxanes.simulate.sample import Sample

logger = logging.getLogger(__name__)

#: Spacing of the valence nodes used to project the valence field.
VALENCE_STEP: float = 0.05
#: Sample-detector distance, m (I13-1, paper Methods).
DETECTOR_DISTANCE: float = 5.0
#: Detector pixel, m (EIGER 500k).
DETECTOR_PIXEL: float = 75e-6


def detector_pixel_size(energy: ArrayLike, window: int, *, distance: float = DETECTOR_DISTANCE,
                        detector_pixel: float = DETECTOR_PIXEL) -> NDArray[np.float64]:
    """Ptychographic object pixel size ``lambda z / (N p)``.

    Parameters
    ----------
    energy : array_like
        eV.
    window : int
        Detector window N (pixels on a side) used in the reconstruction.
    distance : float, optional
        Sample-detector distance z, m.
    detector_pixel : float, optional
        Detector pixel p, m.

    Returns
    -------
    pixel_size : ndarray
        m, same shape as ``energy``.

    Examples
    --------
    >>> round(float(detector_pixel_size(8333.0, 256)) * 1e9, 1)
    38.7
    """
    return wavelength(energy) * distance / (window * detector_pixel)


def _valence_nodes(valence: NDArray[np.floating]) -> NDArray[np.float64]:
    finite = valence[np.isfinite(valence)]
    if finite.size == 0:
        return np.array([2.0, 2.0 + VALENCE_STEP])
    lo = np.floor(finite.min() / VALENCE_STEP) * VALENCE_STEP
    hi = np.ceil(finite.max() / VALENCE_STEP) * VALENCE_STEP + VALENCE_STEP
    return np.arange(lo, hi + 0.5 * VALENCE_STEP, VALENCE_STEP)


def _bin_project(valence: NDArray[np.floating], weight: NDArray[np.floating],
                 nodes: NDArray[np.float64], length: float) -> NDArray[np.float32]:
    """Path length (m) through each valence node, summed along axis 0: (K, M, N).

    Each voxel's ``weight * length`` is split between the two valence nodes
    around its valence (linear hat functions). Works in slabs of planes to
    bound memory.
    """
    _, m, n = valence.shape
    k = nodes.size
    out = np.zeros(k * m * n, np.float64)
    step = max(1, int(4_000_000 // max(m * n, 1)))
    for z0 in range(0, valence.shape[0], step):
        wgt = np.asarray(weight[z0:z0 + step])
        sel = wgt > 0
        if not sel.any():
            continue
        v = np.asarray(valence[z0:z0 + step])[sel].astype(np.float64)
        pos = (np.nan_to_num(v, nan=nodes[0]) - nodes[0]) / VALENCE_STEP
        i0 = np.clip(np.floor(pos).astype(np.int64), 0, k - 2)
        frac = np.clip(pos - i0, 0.0, 1.0)
        pix = np.nonzero(sel)
        flat = pix[1].astype(np.int64) * n + pix[2]
        w = wgt[sel].astype(np.float64) * length
        out += np.bincount(i0 * (m * n) + flat, weights=w * (1 - frac), minlength=k * m * n)
        out += np.bincount((i0 + 1) * (m * n) + flat, weights=w * frac, minlength=k * m * n)
    return out.reshape(k, m, n).astype(np.float32)


def _node_optics(nodes: NDArray[np.float64], energy: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    delta, beta = refractive_index([float(energy)], nodes)
    return delta[:, 0], beta[:, 0]


def _exponent(paths: NDArray[np.float32], nodes: NDArray[np.float64],
              energy: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(k * integral(beta dl), k * integral(delta dl)) maps from node path lengths."""
    delta, beta = _node_optics(nodes, energy)
    k = 2.0 * np.pi / float(wavelength(energy))
    a = np.tensordot(k * beta, paths, axes=(0, 0))
    p = np.tensordot(k * delta, paths, axes=(0, 0))
    return a, p


def _out_shape(shape: tuple[int, int], voxel: float, pixel: float) -> tuple[int, int]:
    return (max(1, int(round(shape[0] * voxel / pixel))), max(1, int(round(shape[1] * voxel / pixel))))


def _resample(img: NDArray[np.floating], voxel: float, pixel: float, out_shape: tuple[int, int],
              shift: Sequence[float] = (0.0, 0.0)) -> NDArray[np.float64]:
    """Centre-anchored resampling of a projected map onto a pixel grid, shifted by ``shift`` px.

    Output pixel (i, j) samples the input at ``c_in + (i - c_out - shift) * pixel / voxel``
    (linear interpolation, zero outside; Gaussian pre-filter when downsampling).
    """
    ratio = pixel / voxel
    if (abs(ratio - 1.0) < 1e-9 and tuple(out_shape) == img.shape
            and shift[0] == 0.0 and shift[1] == 0.0):
        return np.asarray(img, np.float64)
    src = np.asarray(img, np.float64)
    if ratio > 1.0:
        src = ndimage.gaussian_filter(src, 0.42 * np.sqrt(ratio**2 - 1.0), mode="constant")
    c_in = (np.array(src.shape) - 1) / 2.0
    c_out = (np.array(out_shape) - 1) / 2.0
    matrix = np.array([ratio, ratio])
    offset = c_in - ratio * (c_out + np.asarray(shift, np.float64))
    return ndimage.affine_transform(src, matrix, offset=offset, output_shape=tuple(out_shape),
                                    order=1, mode="constant", cval=0.0)


def _to_t(a: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.complex64]:
    return np.exp(-a + 1j * p).astype(np.complex64)


def _pixel_array(pixel_size: Any, n: int, voxel: float) -> NDArray[np.float64]:
    if pixel_size is None:
        return np.full(n, voxel)
    px = np.asarray(pixel_size, np.float64)
    if px.ndim == 0:
        px = np.full(n, float(px))
    if px.shape != (n,) or np.any(px <= 0) or not np.all(np.isfinite(px)):
        raise ValueError(f"pixel_size must be a positive float or ({n},) values, m")
    return px


#: One-entry cache (sample, angle) -> (nodes, paths): callers that loop over energies
#: at a fixed angle (ptychography per energy) rotate and bin the volume only once.
_PATH_CACHE: list[Any] = [None, None, None]


def _projected_paths(sample: Sample, angle_deg: float = 0.0) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
    """Valence nodes and node path lengths (K, M, N) of the projection at ``angle_deg``."""
    if _PATH_CACHE[0] is sample and _PATH_CACHE[1] == float(angle_deg):
        return _PATH_CACHE[2]
    result = _projected_paths_uncached(sample, angle_deg)
    _PATH_CACHE[:] = [sample, float(angle_deg), result]
    return result


#: Volumes with at least this many voxels use the numba rotate-and-bin kernel.
NUMBA_MIN_VOXELS: int = 1_000_000


@functools.lru_cache(maxsize=1)
def _numba_kernel() -> Any:
    """Compile (once) the fused rotate + interpolate + bin kernel, or None without numba."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    @numba.njit(parallel=True, cache=True)
    def kernel(occ: NDArray[np.float32], val: NDArray[np.float32], c: float, s: float, v0: float,
               dv: float, length: float, n_beam: int, out: NDArray[np.float64]
               ) -> None:  # pragma: no cover - compiled
        p, m_rows, n = occ.shape
        k = out.shape[0]
        cz = (p - 1) / 2.0
        cx = (n - 1) / 2.0
        cb = (n_beam - 1) / 2.0
        for m in numba.prange(m_rows):
            for t in range(n):
                dx = t - cx
                # the ray spans the whole rotated box (its diagonal), not only p planes
                for si in range(n_beam):
                    dz = si - cb
                    z = c * dz - s * dx + cz
                    x = s * dz + c * dx + cx
                    if z <= -1.0 or z >= p or x <= -1.0 or x >= n:
                        continue
                    z0 = int(np.floor(z))
                    x0 = int(np.floor(x))
                    fz = z - z0
                    fx = x - x0
                    o = 0.0
                    vv = 0.0
                    for a in range(2):
                        zz = z0 + a
                        if zz < 0 or zz >= p:
                            continue
                        wz = fz if a == 1 else 1.0 - fz
                        for b in range(2):
                            xx = x0 + b
                            if xx < 0 or xx >= n:
                                continue
                            w = wz * (fx if b == 1 else 1.0 - fx)
                            o += w * occ[zz, m, xx]
                            vv += w * val[zz, m, xx]
                    if o <= 1e-3:
                        continue
                    pos = (vv / o - v0) / dv
                    i0 = int(np.floor(pos))
                    if i0 < 0:
                        i0 = 0
                    if i0 > k - 2:
                        i0 = k - 2
                    frac = pos - i0
                    if frac < 0.0:
                        frac = 0.0
                    if frac > 1.0:
                        frac = 1.0
                    out[i0, m, t] += o * length * (1.0 - frac)
                    out[i0 + 1, m, t] += o * length * frac

    return kernel


def _projected_paths_uncached(sample: Sample, angle_deg: float, *,
                              use_numba: bool | None = None
                              ) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
    """Valence nodes and node path lengths (K, M, N) of the projection at ``angle_deg``.

    Rotation is trilinear (order 1) resampling of occupancy and occupancy x valence
    about the row axis; large volumes use a fused numba kernel (same arithmetic,
    no rotated copies), small ones ``scipy.ndimage.affine_transform``.
    """
    nodes = _valence_nodes(sample.valence)
    occ = sample.occupancy
    if angle_deg % 360.0 == 0.0:
        return nodes, _bin_project(sample.valence, occ.astype(np.float32), nodes, sample.voxel_size)
    th = np.deg2rad(angle_deg)
    # rays must cross the whole rotated (plane, col) box: integrate over its diagonal
    n_beam = int(np.ceil(np.hypot(occ.shape[0], occ.shape[2]))) + 1
    if use_numba is None:
        use_numba = occ.size >= NUMBA_MIN_VOXELS
    kernel = _numba_kernel() if use_numba else None
    if kernel is not None:
        out = np.zeros((nodes.size, occ.shape[1], occ.shape[2]), np.float64)
        kernel(occ.astype(np.float32), np.where(occ, sample.valence, 0.0).astype(np.float32),
               float(np.cos(th)), float(np.sin(th)), float(nodes[0]), VALENCE_STEP,
               float(sample.voxel_size), n_beam, out)
        return nodes, out.astype(np.float32)
    c, s = np.cos(th), np.sin(th)
    # input (z, m, x) = R (s_out, m, t_out) about the volume centre
    matrix = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
    centre = (np.array(occ.shape, np.float64) - 1) / 2.0
    out_shape = (n_beam, occ.shape[1], occ.shape[2])
    out_centre = np.array([(n_beam - 1) / 2.0, centre[1], centre[2]])
    offset = centre - matrix @ out_centre
    occ_f = occ.astype(np.float32)
    val0 = np.where(occ, sample.valence, 0.0).astype(np.float32)
    occ_r = ndimage.affine_transform(occ_f, matrix, offset=offset, output_shape=out_shape, order=1,
                                     mode="constant", cval=0.0)
    val_r = ndimage.affine_transform(val0, matrix, offset=offset, output_shape=out_shape, order=1,
                                     mode="constant", cval=0.0)
    good = occ_r > 1e-3
    v = np.where(good, val_r / np.where(good, occ_r, 1.0), np.nan)
    return nodes, _bin_project(v, np.where(good, occ_r, 0.0), nodes, sample.voxel_size)


def transmission_2d(sample: Sample, energy: float, pixel_size: float | None = None) -> NDArray[np.complex64]:
    """Complex transmission of the sample with the beam along the plane axis.

    Parameters
    ----------
    sample : Sample
    energy : float
        eV.
    pixel_size : float, optional
        Output pixel size, m; the physical field of view of the sample grid is
        kept (default: the voxel size, no resampling).

    Returns
    -------
    t : ndarray of complex64, shape (M, N)
        ``exp(-k int(beta) + i k int(delta))``.

    Examples
    --------
    >>> from ptyxanes.simulate.sample import make_sample
    >>> t = transmission_2d(make_sample("tiny", 0), 8350.0)
    >>> bool(np.abs(t).min() < 0.99), bool(np.abs(t).max() <= 1.0)
    (True, True)
    """
    return transmission_projection(sample, energy, 0.0, pixel_size=pixel_size)


def transmission_projection(sample: Sample, energy: float, angle_deg: float,
                            pixel_size: float | None = None,
                            shift: Sequence[float] = (0.0, 0.0), *,
                            out_shape: tuple[int, int] | None = None) -> NDArray[np.complex64]:
    """Complex transmission of one tilt projection (rotation about the row axis).

    Parameters
    ----------
    sample : Sample
    energy : float
        eV.
    angle_deg : float
        Rotation angle, deg (0 = beam along the plane axis).
    pixel_size : float, optional
        Output pixel size, m (default the voxel size).
    shift : (float, float), optional
        Misalignment (row, col) in output pixels: the image content moves by +shift.
    out_shape : (int, int), optional
        Output shape (default: the sample's field of view at ``pixel_size``),
        centred on the rotation axis.

    Returns
    -------
    t : ndarray of complex64, shape (M', N')
    """
    nodes, paths = _projected_paths(sample, angle_deg)
    px = sample.voxel_size if pixel_size is None else float(pixel_size)
    a, p = _exponent(paths, nodes, energy)
    shape = (_out_shape(a.shape, sample.voxel_size, px) if out_shape is None
             else (int(out_shape[0]), int(out_shape[1])))
    return _to_t(_resample(a, sample.voxel_size, px, shape, shift),
                 _resample(p, sample.voxel_size, px, shape, shift))


class LazyTransmission:
    """Array-like (E, [A,] M, N) complex64 transmission computed one energy at a time.

    ``obj[i]`` computes the images of energy ``i``; ``np.asarray(obj)`` computes all.
    Lets :func:`ptyxanes.io.nexus.write_stack` stream large stacks to disk.
    """

    def __init__(self, paths: Any, nodes: NDArray[np.float64], energies: NDArray[np.float64],
                 pixel_sizes: NDArray[np.float64], voxel: float, out_shape: tuple[int, int],
                 shifts: NDArray[np.float64], tilt: bool) -> None:
        self.paths = paths  # (K, M, N) or (A, K, M, N) path lengths, m
        self.nodes = nodes
        self.energies = energies
        self.pixel_sizes = pixel_sizes
        self.voxel = voxel
        self.out_shape = out_shape
        self.shifts = shifts  # (E, 2) or (E, A, 2) px
        self.tilt = tilt
        self.dtype = np.dtype(np.complex64)
        n_a = (paths.shape[0],) if tilt else ()
        self.shape = (len(energies), *n_a, *out_shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _one(self, paths: NDArray[np.float32], i: int, shift: Sequence[float]) -> NDArray[np.complex64]:
        a, p = _exponent(np.asarray(paths), self.nodes, float(self.energies[i]))
        px = float(self.pixel_sizes[i])
        return _to_t(_resample(a, self.voxel, px, self.out_shape, shift),
                     _resample(p, self.voxel, px, self.out_shape, shift))

    def __getitem__(self, i: Any) -> NDArray[np.complex64]:
        idx = i if isinstance(i, tuple) else (i,)
        if not all(isinstance(k, (int, np.integer)) for k in idx) or len(idx) > (2 if self.tilt else 1):
            return np.asarray(self)[i]
        e = int(idx[0]) % self.shape[0]
        if self.tilt:
            if len(idx) == 2:
                a = int(idx[1]) % self.shape[1]
                return self._one(self.paths[a], e, self.shifts[e, a])
            return np.stack([self._one(self.paths[a], e, self.shifts[e, a])
                             for a in range(self.shape[1])])
        return self._one(self.paths, e, self.shifts[e])

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        out = np.stack([self[i] for i in range(self.shape[0])])
        return out if dtype is None else out.astype(dtype)


def project_stack(sample: Sample, energies: ArrayLike, pixel_size: Any = None, *,
                  shifts: ArrayLike | None = None, lazy: bool = False,
                  out_shape: tuple[int, int] | None = None) -> ImageStack:
    """Complex transmission images of the sample at every energy (2D, beam along planes).

    Parameters
    ----------
    sample : Sample
    energies : array_like of shape (E,)
        eV, strictly increasing.
    pixel_size : float or array_like of shape (E,), optional
        Pixel size per energy, m (e.g. :func:`detector_pixel_size`); every
        image has the same shape, set by the mean pixel size over the sample's
        field of view. Default: the voxel size.
    shifts : array_like of shape (E, 2), optional
        Per-energy misalignment (row, col), px of that energy's grid.
    lazy : bool, optional
        Return a :class:`LazyTransmission` as ``data`` (computed per energy on access).
    out_shape : (int, int), optional
        Image shape (default: field of view / mean pixel size), centred on the sample.

    Returns
    -------
    stack : ImageStack
        kind "complex", shape (E, M', N'); ``attrs["shifts_px"]`` holds the shifts.

    Examples
    --------
    >>> from ptyxanes.simulate.sample import make_sample
    >>> st = project_stack(make_sample("tiny", 0), [8300.0, 8400.0])
    >>> st.data.shape[0], st.kind
    (2, 'complex')
    """
    e = np.asarray(energies, np.float64)
    if e.ndim != 1 or np.any(np.diff(e) <= 0):
        raise ValueError("energies must be a 1-D strictly increasing array, eV")
    px = _pixel_array(pixel_size, e.size, sample.voxel_size)
    nodes, paths = _projected_paths(sample, 0.0)
    shape = (_out_shape(paths.shape[1:], sample.voxel_size, float(px.mean()))
             if out_shape is None else (int(out_shape[0]), int(out_shape[1])))
    sh = np.zeros((e.size, 2)) if shifts is None else np.asarray(shifts, np.float64)
    if sh.shape != (e.size, 2):
        raise ValueError(f"shifts must have shape ({e.size}, 2) (row, col) px")
    data: Any = LazyTransmission(paths, nodes, e, px, sample.voxel_size, shape, sh, tilt=False)
    if not lazy:
        data = np.asarray(data)
    return ImageStack(data=data, energy=e, pixel_size=px, kind="complex",
                      dims=("energy", "row", "col"),
                      attrs={"shifts_px": sh, "cycles": sample.cycles})


def random_shifts(n_energies: int, n_angles: int | None, rng: np.random.Generator, *,
                  offset_px: float = 3.0, drift_px: float = 4.0, jitter_px: float = 0.7) -> NDArray[np.float64]:
    """Misalignment of every image: per-energy offset, slow drift over angles, jitter.

    Parameters
    ----------
    n_energies : int
    n_angles : int or None
        None for 2D stacks (one image per energy).
    rng : numpy.random.Generator
    offset_px, drift_px, jitter_px : float, optional
        Standard deviation of the per-energy offset, peak amplitude of the
        smooth drift across the tilt series, and standard deviation of the
        white jitter, px.

    Returns
    -------
    shifts : ndarray of shape (E, 2) or (E, A, 2)
        (row, col) px.
    """
    off = rng.normal(0.0, offset_px, size=(n_energies, 2))
    if n_angles is None:
        return off + rng.normal(0.0, jitter_px, size=(n_energies, 2))
    t = np.linspace(0.0, 1.0, n_angles)
    # smooth drift: a random low-order polynomial in the rotation progress, per energy and axis
    coef = rng.uniform(-1.0, 1.0, size=(n_energies, 2, 3))
    poly = coef[..., 0:1] * t + coef[..., 1:2] * t**2 + coef[..., 2:3] * np.sin(np.pi * t)
    drift = drift_px * np.moveaxis(poly, 1, 2) / 3.0
    return off[:, None, :] + drift + rng.normal(0.0, jitter_px, size=(n_energies, n_angles, 2))


def tilt_paths(sample: Sample, angles: ArrayLike, *, scratch: str | os.PathLike[str] | None = None,
               ) -> Any:
    """Generator over angles: yields (index, count) and returns (nodes, paths (A, K, M, N)).

    Parameters
    ----------
    sample : Sample
    angles : array_like of shape (A,)
        deg.
    scratch : path-like, optional
        Folder for a memory-mapped scratch array (for large tilt series).
    """
    a = np.asarray(angles, np.float64)
    nodes = _valence_nodes(sample.valence)
    _, m, n = sample.shape
    shape = (a.size, nodes.size, m, n)
    if scratch is not None:
        fd, name = tempfile.mkstemp(suffix=".npy", dir=scratch)
        os.close(fd)
        paths: Any = np.lib.format.open_memmap(name, mode="w+", dtype=np.float32, shape=shape)
    else:
        paths = np.empty(shape, np.float32)
    for i, ang in enumerate(a):
        _, paths[i] = _projected_paths_uncached(sample, float(ang))
        yield i + 1, a.size
    return nodes, paths


def tilt_series(sample: Sample, energies: ArrayLike, angles: ArrayLike, *,
                shifts: ArrayLike | None = None, pixel_size: Any = None,
                lazy: bool = False) -> ImageStack:
    """Complex transmission over a rotation (tilt) series at every energy.

    Parameters
    ----------
    sample : Sample
    energies : array_like of shape (E,)
        eV, strictly increasing.
    angles : array_like of shape (A,)
        deg; rotation about the row axis (see module notes for the direction).
    shifts : array_like of shape (A, 2) or (E, A, 2), optional
        Misalignment (row, col) of every projection, px of its energy's grid;
        the image content moves by +shift (see :func:`random_shifts`).
    pixel_size : float or array_like of shape (E,), optional
        m (default the voxel size).
    lazy : bool, optional
        Compute energies on access (see :class:`LazyTransmission`).

    Returns
    -------
    stack : ImageStack
        kind "complex", shape (E, A, M', N'), ``angle`` set,
        ``attrs["shifts_px"]`` of shape (E, A, 2).
    """
    e = np.asarray(energies, np.float64)
    a = np.asarray(angles, np.float64)
    if e.ndim != 1 or np.any(np.diff(e) <= 0):
        raise ValueError("energies must be a 1-D strictly increasing array, eV")
    gen = tilt_paths(sample, a)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            nodes, paths = stop.value
            break
    return tilt_stack_from_paths(sample, e, a, nodes, paths, shifts=shifts,
                                 pixel_size=pixel_size, lazy=lazy)


def tilt_stack_from_paths(sample: Sample, e: NDArray[np.float64], a: NDArray[np.float64],
                          nodes: NDArray[np.float64], paths: Any, *, shifts: Any = None,
                          pixel_size: Any = None, lazy: bool = False) -> ImageStack:
    """Build the tilt-series ImageStack from projected node path lengths (see :func:`tilt_paths`)."""
    px = _pixel_array(pixel_size, e.size, sample.voxel_size)
    shape = _out_shape(paths.shape[2:], sample.voxel_size, float(px.mean()))
    if shifts is None:
        sh = np.zeros((e.size, a.size, 2))
    else:
        sh = np.asarray(shifts, np.float64)
        if sh.shape == (a.size, 2):
            sh = np.broadcast_to(sh, (e.size, a.size, 2)).copy()
    if sh.shape != (e.size, a.size, 2):
        raise ValueError(f"shifts must have shape ({a.size}, 2) or ({e.size}, {a.size}, 2)")
    data: Any = LazyTransmission(paths, nodes, e, px, sample.voxel_size, shape, sh, tilt=True)
    if not lazy:
        data = np.asarray(data)
    return ImageStack(data=data, energy=e, pixel_size=px, kind="complex", angle=a,
                      dims=("energy", "angle", "row", "col"),
                      attrs={"shifts_px": sh, "cycles": sample.cycles})
