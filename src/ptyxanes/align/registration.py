"""Rescaling and sub-pixel registration of image stacks across energy.

Every energy of a ptychographic series has its own pixel size (λz/(N p)), so
images are first rescaled to a common pixel size (40 nm by default, as in the
paper) and then registered to each other by upsampled phase cross-correlation
(Guizar-Sicairos et al. 2008). The registration works on the phase (default:
it changes little across the absorption edge) or on the modulus, after the
empty background is masked and the borders tapered so that the contrast change
across the edge and the image borders do not pull the result.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ptyxanes.progress import Control, Progress

logger = logging.getLogger(__name__)

Channel = Literal["phase", "modulus"]
ShiftMethod = Literal["fourier", "spline"]

DEFAULT_PIXEL_SIZE = 40e-9
"""Common pixel size of the paper, m."""


@dataclass(frozen=True)
class Registration:
    """Result of registering a stack of images across energy.

    Parameters
    ----------
    shifts : ndarray of shape (E, 2) or (E, 3)
        Correction of every energy, pixels, (row, col) (or (plane, row, col)
        for volumes): shifting image ``e`` by ``shifts[e]`` aligns it with the
        reference. Edit and re-apply with :func:`apply_shifts`.
    residual : ndarray of shape (E,)
        One minus the correlation coefficient between each registered
        (prepared) image and its reference (0 = identical after shifting,
        1 = unrelated).
    outliers : ndarray of bool, shape (E,)
        Energies whose residual is far from the others
        (robust z-score above ``outlier_threshold``).
    reference : int or None
        Index of the reference energy, ``None`` when chained neighbour to neighbour.
    channel : str
        ``"phase"``, ``"modulus"`` or ``"real"`` (real-valued input).
    upsample_factor : int
        Sub-pixel precision 1/upsample_factor pixel.
    """

    shifts: NDArray[np.float64]
    residual: NDArray[np.float64]
    outliers: NDArray[np.bool_]
    reference: int | None
    channel: str
    upsample_factor: int
    attrs: dict[str, Any] = field(default_factory=dict)


def rescale_image(
    image: NDArray[Any],
    pixel_size: float,
    target: float = DEFAULT_PIXEL_SIZE,
    order: int = 1,
    shape: tuple[int, ...] | None = None,
) -> NDArray[Any]:
    """Resample an image (or volume) to another pixel size about its centre.

    Parameters
    ----------
    image : ndarray of shape (M, N) or (P, M, N)
        Real or complex image; complex images are resampled in real and
        imaginary parts (no phase wrapping trouble).
    pixel_size : float
        Current pixel size, m.
    target : float, optional
        Wanted pixel size, m.
    order : int, optional
        Spline order of the interpolation.
    shape : tuple of int, optional
        Output shape (centre-anchored); default ``round(n * pixel_size / target)``
        per axis.

    Returns
    -------
    out : ndarray
        Image on the ``target`` grid, sharing its centre with the input.

    Examples
    --------
    >>> rescale_image(np.ones((10, 10)), 20e-9, 40e-9).shape
    (5, 5)
    """
    if pixel_size <= 0 or target <= 0:
        raise ValueError(f"pixel sizes must be positive, got {pixel_size} and {target}")
    image = np.asarray(image)
    factor = pixel_size / target
    if shape is None:
        shape_out = tuple(max(1, int(round(n * factor))) for n in image.shape)
    else:
        shape_out = tuple(int(n) for n in shape)
    if abs(factor - 1.0) < 1e-9 and shape_out == image.shape:
        return image.copy()
    # output pixel i sits at input coordinate c_in + (i - c_out) / factor
    scale = np.full(image.ndim, 1.0 / factor)
    offset = np.array(
        [(n - 1) / 2 - (m - 1) / 2 / factor for n, m in zip(image.shape, shape_out, strict=True)]
    )
    if np.iscomplexobj(image):
        re = ndimage.affine_transform(
            image.real, scale, offset, shape_out, order=order, mode="nearest"
        )
        im = ndimage.affine_transform(
            image.imag, scale, offset, shape_out, order=order, mode="nearest"
        )
        return (re + 1j * im).astype(image.dtype)
    return ndimage.affine_transform(image, scale, offset, shape_out, order=order, mode="nearest")


def rescale_stack(
    stack: NDArray[Any], pixel_size: NDArray[np.float64] | float, target: float = DEFAULT_PIXEL_SIZE
) -> NDArray[Any]:
    """Rescale every energy of a stack to one pixel size, cropped to a common shape.

    Parameters
    ----------
    stack : ndarray of shape (E, M, N) or (E, P, M, N)
    pixel_size : float or ndarray of shape (E,)
        Pixel size of every energy, m.
    target : float, optional
        Common pixel size, m (default 40 nm).

    Returns
    -------
    out : ndarray of shape (E, M', N') or (E, P', M', N')
        All on the smallest rescaled shape, centres kept.

    Examples
    --------
    >>> s = np.ones((2, 20, 20))
    >>> rescale_stack(s, [20e-9, 22e-9], 40e-9).shape
    (2, 10, 10)
    """
    ps = np.broadcast_to(np.asarray(pixel_size, dtype=float), (len(stack),))
    shape = rescaled_shape(np.shape(stack)[1:], ps, target)
    return np.stack(
        [
            rescale_image(np.asarray(stack[e]), float(ps[e]), target, shape=shape)
            for e in range(len(stack))
        ]
    )


def rescaled_shape(shape: tuple[int, ...], pixel_size: NDArray[np.float64], target: float
                   ) -> tuple[int, ...]:
    """The common image shape of :func:`rescale_stack`: the smallest rescaled shape.

    Parameters
    ----------
    shape : tuple of int
        Shape of every energy's image.
    pixel_size : ndarray of shape (E,)
        Pixel size of every energy, m.
    target : float
        Common pixel size, m.

    Returns
    -------
    shape : tuple of int

    Examples
    --------
    >>> rescaled_shape((20, 20), np.array([20e-9, 22e-9]), 40e-9)
    (10, 10)
    """
    # one common, centre-anchored output grid (cropping by whole pixels would move
    # the centre by half a pixel whenever the size difference is odd)
    shapes = np.array([[round(n * p / target) for n in shape] for p in np.ravel(pixel_size)])
    return tuple(int(max(1, v)) for v in shapes.min(axis=0))


def registration_image(image: NDArray[Any], channel: str = "phase", *,
                       mask_background: bool = True, taper: float = 0.1) -> NDArray[np.float64]:
    """The real image an energy is registered by: its channel, background masked, tapered.

    Parameters
    ----------
    image : ndarray of shape (M, N) or (P, M, N)
        Complex or real image on the common pixel size.
    channel : {"phase", "modulus"}, optional
        For complex images.
    mask_background, taper : optional
        See :func:`prepare_for_registration`.

    Returns
    -------
    prepared : ndarray, float64
    """
    return prepare_for_registration(_channel_image(image, channel),
                                    mask_background=mask_background, taper=taper)


def registration_shift(reference: NDArray[np.float64], moving: NDArray[np.float64],
                       upsample_factor: int = 100) -> NDArray[np.float64]:
    """The shift that registers ``moving`` onto ``reference`` (upsampled phase correlation).

    Parameters
    ----------
    reference, moving : ndarray
        :func:`registration_image` of two energies.
    upsample_factor : int, optional
        Sub-pixel precision 1/upsample_factor pixel.

    Returns
    -------
    shift : ndarray of shape (D,)
        Pixels, to apply to ``moving``.
    """
    return _pcc(reference, moving, upsample_factor)


def registration_residual(moving: NDArray[np.float64], shift: NDArray[np.float64],
                          target: NDArray[np.float64]) -> float:
    """One minus the correlation of a shifted registration image with its target.

    Parameters
    ----------
    moving : ndarray
        :func:`registration_image` of the energy.
    shift : ndarray of shape (D,)
        Its shift, pixels.
    target : ndarray
        What it was registered to, already shifted.

    Returns
    -------
    residual : float
        0 for a perfect match.
    """
    moved = shift_image(moving, shift, "fourier")
    a = moved - moved.mean()
    b = target - target.mean()
    corr = np.sum(a * b) / (np.sqrt(np.sum(a**2) * np.sum(b**2)) + 1e-30)
    return float(1.0 - corr)


def finish_registration(shifts: NDArray[np.float64], residual: NDArray[np.float64],
                        reference: int | None, channel: str, upsample_factor: int,
                        outlier_threshold: float = 5.0) -> Registration:
    """The :class:`Registration` of per-energy shifts and residuals, outliers flagged.

    Parameters
    ----------
    shifts : ndarray of shape (E, D)
        Pixels.
    residual : ndarray of shape (E,)
        :func:`registration_residual` of every energy.
    reference : int or None
    channel : str
        The channel registered (``"real"`` for real images).
    upsample_factor : int
    outlier_threshold : float, optional
        Robust z-score of the residual above which an energy is flagged.

    Returns
    -------
    registration : Registration
    """
    outliers = _robust_z(np.asarray(residual, float)) > outlier_threshold
    if outliers.any():
        logger.warning("registration outliers at energies %s", np.flatnonzero(outliers).tolist())
    return Registration(shifts=np.asarray(shifts, float), residual=np.asarray(residual, float),
                        outliers=outliers, reference=reference, channel=channel,
                        upsample_factor=upsample_factor)


def _channel_image(image: NDArray[Any], channel: str) -> NDArray[np.float64]:
    if not np.iscomplexobj(image):
        return np.asarray(image, dtype=float)
    if channel == "phase":
        return np.angle(image).astype(float)
    if channel == "modulus":
        return np.abs(image).astype(float)
    raise ValueError(f"channel must be 'phase' or 'modulus', got {channel!r}")


def _taper(shape: tuple[int, ...], width: float) -> NDArray[np.float64]:
    """Separable cosine taper falling to 0 over ``width`` (fraction) at every border."""
    win = np.ones(shape)
    for ax, n in enumerate(shape):
        w = max(1, int(round(width * n)))
        prof = np.ones(n)
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(w) + 0.5) / w)
        prof[:w] = ramp
        prof[n - w :] = np.minimum(prof[n - w :], ramp[::-1])
        shp = [1] * len(shape)
        shp[ax] = n
        win = win * prof.reshape(shp)
    return win


def prepare_for_registration(
    image: NDArray[np.float64], *, mask_background: bool = True, taper: float = 0.1
) -> NDArray[np.float64]:
    """Subtract the background, mask it and taper the borders of a real image.

    Parameters
    ----------
    image : ndarray of shape (M, N) or (P, M, N)
        Real image (phase, modulus or absorption).
    mask_background : bool, optional
        Zero the pixels that look like empty background (closer to the
        background median than 3 robust standard deviations), smoothed.
    taper : float, optional
        Fraction of each axis over which a cosine window falls to zero.

    Returns
    -------
    out : ndarray, same shape

    Examples
    --------
    >>> im = np.zeros((32, 32)); im[10:20, 10:20] = 1
    >>> out = prepare_for_registration(im)
    >>> bool(out[15, 15] > 0.5 and abs(out[0, 0]) < 1e-12)
    True
    """
    im = np.asarray(image, dtype=float)
    # the border pixels estimate the background level (the sample is inside the field of view)
    border = np.concatenate([np.take(im, [0, -1], axis=ax).ravel() for ax in range(im.ndim)])
    bg = np.median(border)
    mad = 1.4826 * np.median(np.abs(border - bg)) + 1e-12 * (np.abs(im).max() + 1e-30)
    out = im - bg
    if mask_background:
        mask = np.abs(out) > 3 * mad
        mask = ndimage.binary_dilation(mask, iterations=2)
        soft = ndimage.gaussian_filter(mask.astype(float), 1.5)
        out = out * soft
    if taper > 0:
        out = out * _taper(im.shape, taper)
    return out


def _fourier_shift(image: NDArray[Any], shift: NDArray[np.float64]) -> NDArray[Any]:
    shifted = np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(image), shift))
    return shifted if np.iscomplexobj(image) else shifted.real


def shift_image(
    image: NDArray[Any],
    shift: NDArray[np.float64] | tuple[float, ...],
    method: ShiftMethod = "fourier",
) -> NDArray[Any]:
    """Shift an image (or volume) by a sub-pixel amount.

    Parameters
    ----------
    image : ndarray of shape (M, N) or (P, M, N)
        Real or complex.
    shift : sequence of float
        Shift along every axis, pixels (positive moves content to higher indices).
    method : {"fourier", "spline"}, optional
        Fourier shift (exact for band-limited images, wraps at the borders and
        leaves line artefacts there) or cubic spline (borders filled by the
        nearest value).

    Returns
    -------
    out : ndarray, same shape and kind

    Examples
    --------
    >>> im = np.zeros((16, 16)); im[4, 4] = 1
    >>> out = shift_image(im, (2, 3), "spline")
    >>> tuple(int(i) for i in np.unravel_index(np.argmax(out), out.shape))
    (6, 7)
    """
    image = np.asarray(image)
    shift = np.asarray(shift, dtype=float)
    if method == "fourier":
        return _fourier_shift(image, shift).astype(image.dtype, copy=False)
    if method == "spline":
        if np.iscomplexobj(image):
            re = ndimage.shift(image.real, shift, order=3, mode="nearest")
            im = ndimage.shift(image.imag, shift, order=3, mode="nearest")
            return (re + 1j * im).astype(image.dtype)
        return ndimage.shift(image, shift, order=3, mode="nearest").astype(image.dtype, copy=False)
    raise ValueError(f"method must be 'fourier' or 'spline', got {method!r}")


def valid_region(shifts: NDArray[np.float64], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The region of the image that holds real data at every energy after shifting.

    Parameters
    ----------
    shifts : ndarray of shape (E, D)
        Shifts applied, pixels.
    shape : tuple of int
        Image shape (D axes).

    Returns
    -------
    region : tuple of slice

    Examples
    --------
    >>> valid_region(np.array([[1.5, -2.0], [0.0, 0.5]]), (10, 10))
    (slice(2, 10, None), slice(1, 8, None))
    """
    shifts = np.atleast_2d(np.asarray(shifts, dtype=float))
    region = []
    for ax, n in enumerate(shape):
        lo = int(np.ceil(max(0.0, shifts[:, ax].max()) - 1e-9))
        hi = n - int(np.ceil(max(0.0, -shifts[:, ax].min()) - 1e-9))
        if hi <= lo:
            raise ValueError(
                f"shifts up to {np.abs(shifts[:, ax]).max():.1f} px leave no common region"
            )
        region.append(slice(lo, hi))
    return tuple(region)


def apply_shifts(
    stack: NDArray[Any],
    shifts: NDArray[np.float64],
    *,
    method: ShiftMethod = "fourier",
    crop: bool = True,
) -> NDArray[Any]:
    """Shift every energy of a stack and crop to the region valid at every energy.

    Parameters
    ----------
    stack : ndarray of shape (E, M, N) or (E, P, M, N)
    shifts : ndarray of shape (E, 2) or (E, 3)
        Per-energy shifts, pixels (e.g. ``Registration.shifts``, possibly edited).
    method : {"fourier", "spline"}, optional
        See :func:`shift_image`.
    crop : bool, optional
        Crop to :func:`valid_region`.

    Returns
    -------
    out : ndarray of shape (E, M', N') (or (E, P', M', N'))

    Examples
    --------
    >>> s = np.random.default_rng(0).random((3, 20, 20))
    >>> apply_shifts(s, np.array([[0, 0], [1.2, 0], [-2.5, 1]])).shape
    (3, 15, 19)
    """
    stack = np.asarray(stack)
    shifts = np.asarray(shifts, dtype=float)
    if shifts.shape != (stack.shape[0], stack.ndim - 1):
        raise ValueError(
            f"shifts of shape {shifts.shape} do not fit a stack of shape {stack.shape}"
        )
    out = np.stack([shift_image(stack[e], shifts[e], method) for e in range(len(stack))])
    if crop:
        out = out[(slice(None),) + valid_region(shifts, stack.shape[1:])]
    return out


def _pcc(
    reference: NDArray[np.float64], moving: NDArray[np.float64], upsample_factor: int
) -> NDArray[np.float64]:
    from skimage.registration import phase_cross_correlation

    shift, _, _ = phase_cross_correlation(
        reference, moving, upsample_factor=upsample_factor, normalization=None
    )
    return np.asarray(shift, dtype=float)


def _robust_z(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Robust z-score of how much *worse* than the median each residual is.

    One-sided: a residual below the others (the reference registered to itself
    has 0) is a good match, not an outlier.
    """
    med = np.median(x)
    mad = 1.4826 * np.median(np.abs(x - med))
    scale = max(mad, 0.01)  # residuals are 1 - correlation: ignore spreads below 0.01
    return (x - med) / scale


def register_stack(
    stack: NDArray[Any],
    *,
    reference: int | None = 0,
    channel: Channel = "phase",
    upsample_factor: int = 100,
    mask_background: bool = True,
    taper: float = 0.1,
    outlier_threshold: float = 5.0,
    control: Control | None = None,
) -> Generator[Progress, None, Registration]:
    """Find the shift of every energy by upsampled phase cross-correlation.

    Parameters
    ----------
    stack : ndarray of shape (E, M, N) or (E, P, M, N)
        Images (complex transmission or real) on a common pixel size
        (see :func:`rescale_stack`); volumes are registered in 3D.
    reference : int or None, optional
        Reference energy index; ``None`` chains neighbour to neighbour
        (energy e against e-1) and accumulates the shifts (relative to energy 0).
    channel : {"phase", "modulus"}, optional
        What to register for complex input (ignored for real input).
    upsample_factor : int, optional
        Sub-pixel precision 1/upsample_factor pixel.
    mask_background, taper : optional
        See :func:`prepare_for_registration`.
    outlier_threshold : float, optional
        Robust z-score of the residual above which an
        energy is flagged.
    control : Control, optional
        Cancellation.

    Returns
    -------
    registration : Registration
        Shifts to apply with :func:`apply_shifts`, residuals and outlier flags.

    Raises
    ------
    ValueError
        For a reference index out of range or an unknown channel.

    References
    ----------
    M. Guizar-Sicairos, S. T. Thurman, J. R. Fienup, "Efficient subpixel image
    registration algorithms", Opt. Lett. 33, 156 (2008).

    Examples
    --------
    >>> from ptyxanes.progress import run_sync
    >>> rng = np.random.default_rng(1)
    >>> im = ndimage.gaussian_filter(rng.random((64, 64)), 2)
    >>> st = np.stack([im, shift_image(im, (1.5, -2.25))])
    >>> reg = run_sync(register_stack(st, mask_background=False, taper=0))
    >>> np.round(reg.shifts[1], 2).tolist()
    [-1.5, 2.25]
    """
    control = control or Control()
    stack = np.asarray(stack)
    n = stack.shape[0]
    if reference is not None and not -n <= reference < n:
        raise ValueError(f"reference energy {reference} out of range for {n} energies")
    if reference is not None:
        reference %= n
    real_channel = channel if np.iscomplexobj(stack) else "real"
    prep = [
        registration_image(stack[e], channel, mask_background=mask_background, taper=taper)
        for e in range(n)
    ]
    shifts = np.zeros((n, stack.ndim - 1))
    for e in range(n):
        control.check()
        if reference is None:
            if e > 0:
                step = registration_shift(prep[e - 1], prep[e], upsample_factor)
                shifts[e] = shifts[e - 1] + step
        elif e != reference:
            shifts[e] = registration_shift(prep[reference], prep[e], upsample_factor)
        yield Progress(e + 1, n, f"registering energy {e + 1}/{n}", "register")
    ref_img = prep[reference if reference is not None else 0]
    residual = np.zeros(n)
    for e in range(n):
        if reference is None and e > 0:
            target = shift_image(prep[e - 1], shifts[e - 1], "fourier")
        else:
            target = ref_img
        residual[e] = registration_residual(prep[e], shifts[e], target)
    return finish_registration(shifts, residual, reference, real_channel, upsample_factor,
                               outlier_threshold)


def register_volumes(
    volumes: NDArray[Any],
    *,
    reference: int | None = 0,
    upsample_factor: int = 20,
    method: ShiftMethod = "fourier",
    control: Control | None = None,
) -> Generator[Progress, None, tuple[NDArray[Any], Registration]]:
    """Register per-energy volumes to each other in 3D and apply the shifts.

    Parameters
    ----------
    volumes : ndarray of shape (E, P, M, N)
        Real volumes (e.g. linear attenuation coefficient).
    reference : int or None, optional
        Reference energy, or ``None`` to chain.
    upsample_factor : int, optional
        Sub-voxel precision.
    method : {"fourier", "spline"}, optional
        How the shifts are applied.
    control : Control, optional

    Returns
    -------
    registered : ndarray of shape (E, P', M', N')
        Shifted and cropped to the region valid at every energy.
    registration : Registration
        Shifts (E, 3) in voxels, (plane, row, col).
    """
    reg = yield from register_stack(
        np.asarray(volumes), reference=reference, upsample_factor=upsample_factor, control=control
    )
    out = apply_shifts(volumes, reg.shifts, method=method)
    if method == "fourier":
        out = np.clip(out, 0, None) if np.all(np.asarray(volumes) >= 0) else out
    return out, reg
