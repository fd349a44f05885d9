"""Compare a fitted valence map (or volume) with the digital twin's ground truth."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from ptyxanes.align import rescale_image


def _embed(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Centre ``a`` in a zero array of ``shape`` (cropping where it is larger)."""
    out = np.zeros(shape, dtype=float)
    src, dst = [], []
    for n_in, n_out in zip(a.shape, shape, strict=True):
        if n_in <= n_out:
            o = (n_out - n_in) // 2
            src.append(slice(0, n_in))
            dst.append(slice(o, o + n_in))
        else:
            o = (n_in - n_out) // 2
            src.append(slice(o, o + n_out))
            dst.append(slice(0, n_out))
    out[tuple(dst)] = a[tuple(src)]
    return out


def valence_errors(
    valence: np.ndarray,
    weight: np.ndarray,
    pixel: float,
    true_valence: np.ndarray,
    true_weight: np.ndarray,
    true_pixel: float,
    *,
    interior: float = 0.5,
    blur: float = 1.0,
) -> np.ndarray:
    """Errors (fitted − true) over the interior of the sample, after registration.

    The truth is resampled onto the fitted grid, registered to it by phase
    cross-correlation of the Ni amount (truth thickness vs fitted edge jump),
    and compared where the fitted valence is finite and the true Ni amount is
    above ``interior`` times its maximum (crystal borders mix with vacuum).
    """
    tv = np.where(np.isfinite(true_valence), true_valence, 0.0)
    tw = np.where(np.isfinite(true_weight), true_weight, 0.0)
    # the fit sees the Ni-weighted mean over each pixel's footprint (and the
    # resolution of the reconstruction): average the truth over that scale first
    sigma = blur * pixel / true_pixel
    tv = rescale_image(ndimage.gaussian_filter(tv * tw, sigma), true_pixel, pixel)
    tw = rescale_image(ndimage.gaussian_filter(tw, sigma), true_pixel, pixel)
    shape = tuple(max(a, b) for a, b in zip(valence.shape, tw.shape, strict=True))
    fw = _embed(np.nan_to_num(weight), shape)
    tw, tv = _embed(tw, shape), _embed(tv, shape)
    shift, _, _ = phase_cross_correlation(fw, tw, upsample_factor=10, normalization=None)
    tw = ndimage.shift(tw, shift, order=1)
    tv = ndimage.shift(tv, shift, order=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tval = tv / tw
    fv = _embed(np.where(np.isfinite(valence), valence, np.nan), shape)
    fv[_embed(np.isfinite(valence).astype(float), shape) < 0.5] = np.nan
    sel = np.isfinite(fv) & (tw > interior * tw.max())
    return (fv - tval)[sel]
