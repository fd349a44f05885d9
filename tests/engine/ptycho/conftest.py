"""Shared helpers of the ptychography tests: accuracy against a known transmission."""

from __future__ import annotations

import numpy as np
from skimage.registration import phase_cross_correlation


def compare_to_truth(obj, truth, illumination, *, level=0.3):
    """RMS errors of -ln|T| (fraction of its range) and phase (rad) in the well-lit region.

    The reconstruction is registered to the truth (whole pixels), then a global
    phase offset and ramp and a global -ln|T| offset (the object/probe scale
    ambiguity) are removed by least squares.
    """
    h = min(obj.shape[0], truth.shape[0])
    w = min(obj.shape[1], truth.shape[1])
    shift, _, _ = phase_cross_correlation(
        np.angle(truth[:h, :w]), np.angle(obj[:h, :w]), normalization=None
    )
    s = np.rint(shift).astype(int)
    o = np.roll(obj, tuple(s), axis=(0, 1))
    ill = np.roll(illumination, tuple(s), axis=(0, 1))
    o, ill, t = o[:h, :w], ill[:h, :w], truth[:h, :w]
    well = ill > level * ill.max()
    y, x = np.nonzero(well)
    d = np.angle(o[well] * np.conj(t[well]))
    a = np.c_[np.ones_like(y), y, x].astype(float)
    coef, *_ = np.linalg.lstsq(a, d, rcond=None)
    phase_rms = float(np.sqrt(np.mean((d - a @ coef) ** 2)))
    lt = -np.log(np.abs(t[well]))
    lo = -np.log(np.abs(o[well]))
    diff = lo - lt
    diff -= diff.mean()
    absorption_rel = float(np.sqrt(np.mean(diff**2)) / np.ptp(lt))
    return absorption_rel, phase_rms, int(well.sum())
