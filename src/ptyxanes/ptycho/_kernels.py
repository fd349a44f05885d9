"""Fused numba kernels of the CPU ePIE/rPIE path (no temporaries between the FFTs).

Single-threaded: a ``prange`` version was several times slower on a loaded
2-core machine (thread start-up and barriers per group of ~6 patterns).
"""

from __future__ import annotations

import logging

import numba as nb
import numpy as np

logger = logging.getLogger(__name__)


@nb.njit(cache=True, nogil=True, fastmath=True)
def modulus_constraint(
    far: np.ndarray, meas: np.ndarray, good: np.ndarray, idx: np.ndarray
) -> float:  # pragma: no cover - compiled
    """Replace the far-field modulus by the measured one, in place; return the error.

    ``far`` (B, K, H, W) complex64; ``meas`` (P, H, W) float32 amplitudes;
    ``good`` (H, W) float32 (0 = masked: keep the estimate); ``idx`` (B,) rows of ``meas``.
    """
    nb_, nk, h, w = far.shape
    err = 0.0
    for row in range(nb_ * h):
        b = row // h
        i = row - b * h
        m = meas[idx[b]]
        e = 0.0
        for j in range(w):
            s = np.float32(0.0)
            for k in range(nk):
                v = far[b, k, i, j]
                s += v.real * v.real + v.imag * v.imag
            a = np.sqrt(s)
            g = good[i, j]
            d = a - m[i, j]
            e += g * d * d
            f = g * m[i, j] / (a + np.float32(1e-6)) + (np.float32(1.0) - g)
            for k in range(nk):
                far[b, k, i, j] *= f
        err += e
    return err


@nb.njit(cache=True, nogil=True, fastmath=True)
def object_probe_update(
    new: np.ndarray,
    patches: np.ndarray,
    probe: np.ndarray,
    obj_coef: np.ndarray,
    num_p: np.ndarray,
    do_probe: bool,
    o2sum: np.ndarray,
    omax: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Object increment in place of ``patches``; accumulate the probe numerator.

    ``new`` (B, K, H, W): the corrected exit waves; ``patches`` (B, H, W) object
    patches (replaced by the object increment); ``probe`` (Bp, K, H, W) with
    Bp = 1 (one probe) or B (a sub-pixel shifted probe per position);
    ``obj_coef`` (Bc, H, W), Bc = 1 or B: the per-pixel object step (ePIE
    ``alpha / max|P|^2``, rPIE ``1 / ((1 - alpha)|P|^2 + alpha max|P|^2)``);
    ``num_p`` (Bn, K, H, W), Bn = 1 or B, += ``conj(O_b) dpsi_b`` (summed over b
    when Bn = 1); ``o2sum`` (H, W) += ``sum_b |O_b|^2`` and ``omax`` (B,) =
    ``max |O_b|^2`` of the patches before the update (for the probe step).
    """
    nb_, nk, h, w = new.shape
    rowmax = np.zeros((nb_, h), np.float32)
    for i in range(h):
        for b in range(nb_):
            pb = b if probe.shape[0] > 1 else 0
            nbi = b if num_p.shape[0] > 1 else 0
            cb = b if obj_coef.shape[0] > 1 else 0
            mx = np.float32(0.0)
            for j in range(w):
                o = patches[b, i, j]
                oc = o.conjugate()
                if do_probe:
                    o2 = o.real * o.real + o.imag * o.imag
                    o2sum[i, j] += o2
                    if o2 > mx:
                        mx = o2
                acc = np.complex64(0.0)
                for k in range(nk):
                    p = probe[pb, k, i, j]
                    d = new[b, k, i, j] - p * o
                    acc += p.conjugate() * d
                    if do_probe:
                        num_p[nbi, k, i, j] += oc * d
                patches[b, i, j] = obj_coef[cb, i, j] * acc
            rowmax[b, i] = mx
    for b in range(nb_):
        omax[b] = rowmax[b].max()
