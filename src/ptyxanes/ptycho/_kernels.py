"""Fused numba kernels of the CPU ePIE/rPIE path (no temporaries between the FFTs).

Each kernel is single-threaded and releases the GIL; the engine runs them on
chunks of a group in its own threads (one chunk per FFT worker), which costs one
hand-over per group instead of one per kernel. The loops run along image rows
(contiguous, mode loop outside) and use numpy's error model (no division-by-zero
checks), so that LLVM vectorises them.
"""

from __future__ import annotations

import logging

import numba as nb
import numpy as np

logger = logging.getLogger(__name__)

_JIT: dict = {"cache": True, "nogil": True, "fastmath": True, "error_model": "numpy"}


@nb.njit(**_JIT)
def exit_waves(
    ob: np.ndarray,
    probe: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    psi: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Exit waves ``psi[b, k] = P_k O_b`` of a batch.

    ``ob`` (M, N) complex64 object; ``probe`` (Bp, K, H, W), Bp = 1 or B;
    ``rows``, ``cols`` (B,) window corners; ``psi`` (B, K, H, W) is written.
    """
    nb_, nk, h, w = psi.shape
    for b in range(nb_):
        pb = b if probe.shape[0] > 1 else 0
        r = rows[b]
        c = cols[b]
        for i in range(h):
            orow = ob[r + i, c : c + w]
            for k in range(nk):
                src = probe[pb, k, i]
                dst = psi[b, k, i]
                for j in range(w):
                    dst[j] = src[j] * orow[j]


@nb.njit(**_JIT)
def modulus_constraint(
    far: np.ndarray, meas: np.ndarray, good: np.ndarray, idx: np.ndarray
) -> float:  # pragma: no cover - compiled
    """Replace the far-field modulus by the measured one, in place; return the error.

    ``far`` (B, K, H, W) complex64; ``meas`` (P, H, W) float32 amplitudes;
    ``good`` (H, W) float32 (0 = masked: keep the estimate); ``idx`` (B,) rows of ``meas``.
    The error is ``sum good (|Psi| - sqrt(I))^2`` with ``|Psi|^2`` summed over modes.
    """
    nb_, nk, h, w = far.shape
    s = np.empty(w, np.float32)
    f = np.empty(w, np.float32)
    err = 0.0
    for b in range(nb_):
        m = meas[idx[b]]
        for i in range(h):
            for j in range(w):
                s[j] = 0.0
            for k in range(nk):
                row = far[b, k, i]
                for j in range(w):
                    v = row[j]
                    s[j] += v.real * v.real + v.imag * v.imag
            mi = m[i]
            gi = good[i]
            e = np.float32(0.0)
            for j in range(w):
                a = np.sqrt(s[j])
                g = gi[j]
                d = a - mi[j]
                e += g * d * d
                f[j] = g * mi[j] / (a + np.float32(1e-6)) + (np.float32(1.0) - g)
            err += float(e)
            for k in range(nk):
                row = far[b, k, i]
                for j in range(w):
                    row[j] = row[j] * f[j]
    return err


@nb.njit(**_JIT)
def object_probe_update(
    new: np.ndarray,
    ob: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    inc: np.ndarray,
    probe: np.ndarray,
    obj_coef: np.ndarray,
    num_p: np.ndarray,
    do_probe: bool,
    o2sum: np.ndarray,
    omax: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Object increments into ``inc``; accumulate the probe numerator.

    ``new`` (B, K, H, W): the corrected exit waves; ``ob`` (M, N) the object
    (read only: the windows at ``rows``, ``cols``, as the exit waves saw them);
    ``inc`` (B, H, W) receives the object increments; ``probe`` (Bp, K, H, W) with
    Bp = 1 (one probe) or B (a sub-pixel shifted probe per position);
    ``obj_coef`` (Bc, H, W), Bc = 1 or B: the per-pixel object step (ePIE
    ``alpha / max|P|^2``, rPIE ``1 / ((1 - alpha)|P|^2 + alpha max|P|^2)``);
    ``num_p`` (Bn, K, H, W), Bn = 1 or B, += ``conj(O_b) dpsi_b`` (summed over b
    when Bn = 1); ``o2sum`` (H, W) += ``sum_b |O_b|^2`` (skipped when it has no
    rows: ePIE does not use it) and ``omax`` (B,) = ``max |O_b|^2`` of the windows
    (for the probe step).
    """
    nb_, nk, h, w = new.shape
    acc = np.empty(w, np.complex64)
    for b in range(nb_):
        pb = b if probe.shape[0] > 1 else 0
        nbi = b if num_p.shape[0] > 1 else 0
        cb = b if obj_coef.shape[0] > 1 else 0
        mx = np.float32(0.0)
        r = rows[b]
        c = cols[b]
        for i in range(h):
            orow = ob[r + i, c : c + w]
            for j in range(w):
                acc[j] = 0.0
            for k in range(nk):
                prow = probe[pb, k, i]
                nrow = new[b, k, i]
                if do_probe:
                    qrow = num_p[nbi, k, i]
                    for j in range(w):
                        o = orow[j]
                        p = prow[j]
                        d = nrow[j] - p * o
                        acc[j] += p.conjugate() * d
                        qrow[j] += o.conjugate() * d
                else:
                    for j in range(w):
                        p = prow[j]
                        acc[j] += p.conjugate() * (nrow[j] - p * orow[j])
            if do_probe:
                if o2sum.shape[0] > 0:
                    srow = o2sum[i]
                    for j in range(w):
                        o = orow[j]
                        o2 = o.real * o.real + o.imag * o.imag
                        srow[j] += o2
                        mx = max(mx, o2)
                else:
                    for j in range(w):
                        o = orow[j]
                        mx = max(mx, o.real * o.real + o.imag * o.imag)
            crow = obj_coef[cb, i]
            irow = inc[b, i]
            for j in range(w):
                irow[j] = crow[j] * acc[j]
        omax[b] = mx


@nb.njit(**_JIT)
def add_patches(
    ob: np.ndarray, inc: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> None:  # pragma: no cover - compiled
    """``ob[r_b : r_b + H, c_b : c_b + W] += inc[b]`` for every b, in order."""
    nb_, h, w = inc.shape
    for b in range(nb_):
        r = rows[b]
        c = cols[b]
        for i in range(h):
            orow = ob[r + i, c : c + w]
            irow = inc[b, i]
            for j in range(w):
                orow[j] += irow[j]
