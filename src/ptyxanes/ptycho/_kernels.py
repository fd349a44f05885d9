"""Fused numba kernels of the CPU ePIE/rPIE path (no temporaries between the FFTs).

Each kernel is single-threaded and releases the GIL. :func:`chunk_step` runs a
chunk's whole chain (exit waves, FFT, modulus constraint, inverse FFT, update)
in one call: the FFTs are pocketfft's, called from numba through rocket-fft
(in place, single-threaded, its AVX2 build where the processor has it).
:func:`serial_groups` runs many groups on one thread in one call;
:func:`parallel_groups` splits every group over threads (numba ``prange``,
one chunk per thread, then a band of object and probe rows per thread). The
loops run along image rows (contiguous, mode loop outside) and use numpy's
error model (no division-by-zero checks), so that LLVM vectorises them.
"""

from __future__ import annotations

import logging

import numba as nb
import numpy as np
from rocket_fft import c2c

logger = logging.getLogger(__name__)

# fastmath without "reassoc": reassociated sums compile differently when a kernel is
# inlined into another (serial_groups) or loaded from numba's cache, so a process that
# compiled the kernels and one that loaded them would not give the same bits. Sums are
# kept per column instead (elementwise, vectorised without reassociation).
_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "afn", "contract"}
_JIT: dict = {"cache": True, "nogil": True, "fastmath": _FASTMATH, "error_model": "numpy"}


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
    ev = np.zeros(w, np.float64)  # the error per column
    e32 = np.empty(w, np.float32)  # ... of one pattern (float32 keeps the loop vectorised)
    for b in range(nb_):
        m = meas[idx[b]]
        for j in range(w):
            e32[j] = 0.0
        for i in range(h):
            mi = m[i]
            gi = good[i]
            if nk == 1:  # one pass over the row
                row = far[b, 0, i]
                for j in range(w):
                    v = row[j]
                    a = np.sqrt(v.real * v.real + v.imag * v.imag)
                    g = gi[j]
                    d = a - mi[j]
                    e32[j] += g * d * d
                    row[j] = v * (g * mi[j] / (a + np.float32(1e-6)) + (np.float32(1.0) - g))
                continue
            for j in range(w):
                s[j] = 0.0
            for k in range(nk):
                row = far[b, k, i]
                for j in range(w):
                    v = row[j]
                    s[j] += v.real * v.real + v.imag * v.imag
            for j in range(w):
                a = np.sqrt(s[j])
                g = gi[j]
                d = a - mi[j]
                e32[j] += g * d * d
                f[j] = g * mi[j] / (a + np.float32(1e-6)) + (np.float32(1.0) - g)
            for k in range(nk):
                row = far[b, k, i]
                for j in range(w):
                    row[j] = row[j] * f[j]
        for j in range(w):
            ev[j] += e32[j]
    err = 0.0
    for j in range(w):
        err += ev[j]
    return err


@nb.njit(**_JIT)
def object_probe_update(
    new: np.ndarray,
    ob: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    probe: np.ndarray,
    obj_coef: np.ndarray,
    num_p: np.ndarray,
    do_probe: bool,
    o2sum: np.ndarray,
    omax: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Object increments into ``new[:, 0]``; accumulate the probe numerator.

    ``new`` (B, K, H, W): the corrected exit waves, whose mode 0 receives the
    object increments row by row once the row is used (no separate buffer: less
    cache traffic); ``ob`` (M, N) the object (read only: the windows at
    ``rows``, ``cols``, as the exit waves saw them); ``probe`` (Bp, K, H, W) with
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
    # max |O|^2 per column, reduced once per window: a running scalar max is a
    # serial dependency chain (about 1.6 ns per pixel, more than the update itself)
    mrow = np.empty(w, np.float32)
    for b in range(nb_):
        pb = b if probe.shape[0] > 1 else 0
        nbi = b if num_p.shape[0] > 1 else 0
        cb = b if obj_coef.shape[0] > 1 else 0
        for j in range(w):
            mrow[j] = 0.0
        r = rows[b]
        c = cols[b]
        for i in range(h):
            orow = ob[r + i, c : c + w]
            crow = obj_coef[cb, i]
            if nk == 1:  # one pass over the row, no accumulator
                prow = probe[pb, 0, i]
                nrow = new[b, 0, i]
                if not do_probe:
                    for j in range(w):
                        p = prow[j]
                        nrow[j] = crow[j] * (p.conjugate() * (nrow[j] - p * orow[j]))
                    continue
                qrow = num_p[nbi, 0, i]
                for j in range(w):
                    o = orow[j]
                    p = prow[j]
                    d = nrow[j] - p * o
                    nrow[j] = crow[j] * (p.conjugate() * d)
                    qrow[j] += o.conjugate() * d
                    mrow[j] = max(mrow[j], o.real * o.real + o.imag * o.imag)
                if o2sum.shape[0] > 0:
                    srow = o2sum[i]
                    for j in range(w):
                        o = orow[j]
                        srow[j] += o.real * o.real + o.imag * o.imag
                continue
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
                        mrow[j] = max(mrow[j], o2)
                else:
                    for j in range(w):
                        o = orow[j]
                        mrow[j] = max(mrow[j], o.real * o.real + o.imag * o.imag)
            irow = new[b, 0, i]  # every mode of this row is used: it takes the increment
            for j in range(w):
                irow[j] = crow[j] * acc[j]
        mx = np.float32(0.0)
        for j in range(w):
            mx = max(mx, mrow[j])
        omax[b] = mx


@nb.njit(**_JIT)
def chunk_step(
    ob: np.ndarray,
    probe: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    psi: np.ndarray,
    meas: np.ndarray,
    good: np.ndarray,
    idx: np.ndarray,
    obj_coef: np.ndarray,
    num_p: np.ndarray,
    do_probe: bool,
    o2sum: np.ndarray,
    omax: np.ndarray,
) -> float:  # pragma: no cover - compiled
    """A chunk's whole ePIE/rPIE chain; returns its Fourier error.

    :func:`exit_waves` into the work buffer ``psi`` (B, K, H, W), unitary FFT
    in place, :func:`modulus_constraint`, inverse FFT, :func:`object_probe_update`
    (see those for the arguments); ``psi[:, 0]`` then holds the object increments.
    """
    exit_waves(ob, probe, rows, cols, psi)
    axes = np.array([2, 3], dtype=np.int64)
    fct = 1.0 / np.sqrt(psi.shape[2] * psi.shape[3])
    c2c(psi, psi, axes, True, fct, 1)
    err = modulus_constraint(psi, meas, good, idx)
    c2c(psi, psi, axes, False, fct, 1)
    object_probe_update(psi, ob, rows, cols, probe, obj_coef, num_p, do_probe, o2sum, omax)
    return err


@nb.njit(**_JIT)
def _ramp(n: int, shift: float, sign: float, out: np.ndarray) -> None:  # pragma: no cover
    """``out[k] = exp(sign 2 pi i f_k shift)`` with the FFT frequencies ``f_k`` of ``n`` points."""
    for k in range(n):
        f = (k if k < (n + 1) // 2 else k - n) / n
        out[k] = np.exp(sign * 2j * np.pi * f * shift)


@nb.njit(**_JIT)
def shift_probes(
    probe: np.ndarray, frac: np.ndarray, spectrum: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """The probe (K, H, W) shifted by each row of ``frac`` (B, 2) px into ``out`` (B, K, H, W).

    Fourier shift: ``ifft2(fft2(P) exp(-2 pi i (k_y f_r + k_x f_c)))`` (unitary
    FFTs); ``spectrum`` (K, H, W) is a work buffer.
    """
    nk, h, w = probe.shape
    fct = 1.0 / np.sqrt(h * w)
    ry = np.empty(h, np.complex64)
    rx = np.empty(w, np.complex64)
    spectrum[:] = probe
    c2c(spectrum, spectrum, np.array([1, 2], dtype=np.int64), True, fct, 1)
    for b in range(frac.shape[0]):
        _ramp(h, frac[b, 0], -1.0, ry)
        _ramp(w, frac[b, 1], -1.0, rx)
        for k in range(nk):
            for i in range(h):
                src = spectrum[k, i]
                dst = out[b, k, i]
                for j in range(w):
                    dst[j] = src[j] * (ry[i] * rx[j])
    c2c(out, out, np.array([2, 3], dtype=np.int64), False, fct, 1)


@nb.njit(**_JIT)
def unshift_sum(
    num_p: np.ndarray, frac: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """``out`` (K, H, W) = sum over b of ``num_p[b]`` (B, K, H, W) shifted back by ``-frac[b]``.

    The inverse of :func:`shift_probes` for the probe numerators, summed in
    Fourier space (``num_p`` is overwritten by its spectrum).
    """
    nb_, nk, h, w = num_p.shape
    fct = 1.0 / np.sqrt(h * w)
    ry = np.empty(h, np.complex64)
    rx = np.empty(w, np.complex64)
    c2c(num_p, num_p, np.array([2, 3], dtype=np.int64), True, fct, 1)
    out[:] = 0
    for b in range(nb_):
        _ramp(h, frac[b, 0], 1.0, ry)
        _ramp(w, frac[b, 1], 1.0, rx)
        for k in range(nk):
            for i in range(h):
                src = num_p[b, k, i]
                dst = out[k, i]
                for j in range(w):
                    dst[j] += src[j] * (ry[i] * rx[j])
    c2c(out, out, np.array([1, 2], dtype=np.int64), False, fct, 1)


@nb.njit(**_JIT)
def _probe_power(shifted: np.ndarray, out: np.ndarray) -> float:  # pragma: no cover - compiled
    """``out[b] = sum_k |shifted[b, k]|^2`` (B, H, W); returns its maximum over the batch."""
    nb_, nk, h, w = shifted.shape
    mrow = np.zeros(w, np.float32)  # max per column (see object_probe_update)
    for b in range(nb_):
        for i in range(h):
            crow = out[b, i]
            for j in range(w):
                crow[j] = 0.0
            for k in range(nk):
                prow = shifted[b, k, i]
                for j in range(w):
                    v = prow[j]
                    crow[j] += v.real * v.real + v.imag * v.imag
            for j in range(w):
                mrow[j] = max(mrow[j], crow[j])
    mx = np.float32(0.0)
    for j in range(w):
        mx = max(mx, mrow[j])
    return float(mx)


@nb.njit(**_JIT)
def _rpie_fill(out: np.ndarray, alpha: float, gamma: float, a0: float) -> None:  # pragma: no cover
    """``out = gamma / ((1 - alpha) out + a0)`` in place (``out`` holds ``|P_b|^2``)."""
    nb_, h, w = out.shape
    for b in range(nb_):
        for i in range(h):
            crow = out[b, i]
            for j in range(w):
                crow[j] = np.float32(gamma) / (np.float32(1.0 - alpha) * crow[j] + np.float32(a0))


@nb.njit(**_JIT)
def rpie_coefs(
    shifted: np.ndarray, alpha: float, gamma: float, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """The rPIE object step of each shifted probe, ``gamma / ((1 - alpha)|P_b|^2 + alpha max|P|^2)``.

    ``shifted`` (B, K, H, W); ``out`` (B, H, W); the max is over the whole batch.
    """
    _rpie_fill(out, alpha, gamma, alpha * _probe_power(shifted, out))


@nb.njit(**_JIT)
def _prepare_chunk(
    probe: np.ndarray,
    frac: np.ndarray,
    spectrum: np.ndarray,
    shifted: np.ndarray,
    coefs: np.ndarray,
    epie: bool,
) -> float:  # pragma: no cover - compiled
    """A chunk's shifted probes (:func:`shift_probes`); rPIE: their power into ``coefs``.

    Returns the largest power (rPIE; 0 for ePIE), of which the group's maximum
    sets the object step (:func:`_rpie_fill` in :func:`_step_chunk`).
    """
    shift_probes(probe, frac, spectrum, shifted)
    return 0.0 if epie else _probe_power(shifted, coefs)


@nb.njit(**_JIT)
def _step_chunk(
    ob: np.ndarray,
    probe: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    frac: np.ndarray,
    idx: np.ndarray,
    meas: np.ndarray,
    good: np.ndarray,
    obj_coef: np.ndarray,
    psi: np.ndarray,
    shifted: np.ndarray,
    num_p: np.ndarray,
    coefs: np.ndarray,
    spectrum: np.ndarray,
    o2sum: np.ndarray,
    omax: np.ndarray,
    do_probe: bool,
    epie: bool,
    alpha: float,
    gamma: float,
    a0: float,
) -> float:  # pragma: no cover - compiled
    """:func:`chunk_step` on a chunk of a group; returns its Fourier error.

    With sub-pixel parts (``frac`` has rows) the chunk's probes are ``shifted``
    (:func:`_prepare_chunk`), rPIE's object step is filled in from their power
    with ``a0 = alpha max|P|^2`` of the whole group, and the chunk's probe
    numerators ``num_p`` (B, K, H, W) are shifted back and summed into
    ``spectrum`` (K, H, W). Whole pixels: one probe, numerators summed into
    ``num_p`` (1, K, H, W). ``o2sum`` (H or 0, W) receives the chunk's
    ``sum |O|^2``.
    """
    nk, h, w = spectrum.shape
    cf = obj_coef
    if frac.shape[0] > 0:
        pjb = shifted
        if not epie:
            _rpie_fill(coefs, alpha, gamma, a0)
            cf = coefs
    else:
        pjb = probe.reshape((1, nk, h, w))
    if do_probe:
        num_p[:] = 0
        o2sum[:] = 0
    err = chunk_step(ob, pjb, rows, cols, psi, meas, good, idx, cf, num_p, do_probe, o2sum, omax)
    if do_probe and frac.shape[0] > 0:
        unshift_sum(num_p, frac, spectrum)
    return err


@nb.njit(**_JIT)
def _finish_band(
    ob: np.ndarray,
    probe: np.ndarray,
    inc: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    lo: int,
    hi: int,
    numer: np.ndarray,
    o2sum: np.ndarray,
    omax: np.ndarray,
    do_probe: bool,
    epie: bool,
    beta: float,
    gamma: float,
    plo: int,
    phi: int,
) -> None:  # pragma: no cover - compiled
    """A group's object increments on object rows ``lo:hi`` and its probe step on probe rows ``plo:phi``.

    :func:`add_patches` of ``inc`` (B, K, H, W) and, with ``do_probe``,
    :func:`probe_step` with the chunks' numerators ``numer`` (T, K, H, W) and
    ``o2sum`` (T, H or 0, W): ePIE ``gamma beta / (B mean max|O|^2)``, rPIE
    ``gamma / ((1 - beta) sum |O|^2 + beta B max|O|^2)``; ``omax`` (B,).
    """
    add_patches(ob, inc, rows, cols, lo, hi)
    if do_probe:
        b = omax.shape[0]
        if epie:
            probe_step(probe, numer, o2sum, gamma * beta / (b * omax.mean()), 0.0, 1.0, plo, phi)
        else:
            probe_step(probe, numer, o2sum, gamma, 1.0 - beta, beta * omax.max() * b, plo, phi)


@nb.njit(**_JIT)
def serial_groups(
    ob: np.ndarray,
    probe: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    frac: np.ndarray,
    members: np.ndarray,
    starts: np.ndarray,
    order: np.ndarray,
    meas: np.ndarray,
    good: np.ndarray,
    obj_coef: np.ndarray,
    psi: np.ndarray,
    shifted: np.ndarray,
    num_p: np.ndarray,
    coefs: np.ndarray,
    spectra: np.ndarray,
    o2sum: np.ndarray,
    omax: np.ndarray,
    do_probe: bool,
    epie: bool,
    alpha: float,
    beta: float,
    gamma: float,
) -> float:  # pragma: no cover - compiled
    """Groups ``order`` one after the other on one thread; returns their Fourier error.

    Group ``g`` has the positions ``members[starts[g]:starts[g + 1]]``, with
    window corners ``rows``, ``cols`` and sub-pixel parts ``frac`` (P, 2) at the
    same places (``frac`` with no rows: whole pixels). Each group is one chunk:
    :func:`_prepare_chunk` (sub-pixel parts only), :func:`_step_chunk` and
    :func:`_finish_band` over all rows.

    ``probe`` (K, H, W) is updated in place. Work buffers: ``psi`` (>= B, K, H,
    W); ``shifted`` (>= B, K, H, W; no rows for whole pixels); ``num_p`` (>= B,
    K, H, W; one row for whole pixels); ``coefs`` (>= B, H, W; rPIE with
    sub-pixel parts); ``spectra`` (1, K, H, W); ``o2sum`` (1, H or 0, W);
    ``omax`` (>= B,). One call for many groups: no interpreter (and no GIL)
    between them. Not compiled ``parallel``: the energies of a series call it
    from several Python threads at once, which numba's ``workqueue`` threading
    layer (used where neither TBB nor OpenMP is installed) does not allow for
    parallel kernels.
    """
    shift = frac.shape[0] > 0
    err = 0.0
    for gi in order:
        lo = starts[gi]
        hi = starts[gi + 1]
        b = hi - lo
        r = rows[lo:hi]
        c = cols[lo:hi]
        fr = frac[lo:hi]
        a0 = 0.0
        if shift:
            a0 = alpha * _prepare_chunk(probe, fr, spectra[0], shifted[:b], coefs[:b], epie)
        nump = num_p[:b] if shift else num_p[:1]
        err += _step_chunk(
            ob, probe, r, c, fr, members[lo:hi], meas, good, obj_coef, psi[:b], shifted[:b],
            nump, coefs[:b], spectra[0], o2sum[0], omax[:b], do_probe, epie, alpha, gamma, a0,
        )
        numer = spectra[:1] if shift else num_p[:1]
        _finish_band(
            ob, probe, psi[:b], r, c, 0, ob.shape[0], numer, o2sum[:1], omax[:b],
            do_probe, epie, beta, gamma, 0, probe.shape[1],
        )
    return err


@nb.njit(parallel=True, **_JIT)
def parallel_groups(
    ob: np.ndarray,
    probe: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    frac: np.ndarray,
    members: np.ndarray,
    starts: np.ndarray,
    cuts: np.ndarray,
    bands: np.ndarray,
    order: np.ndarray,
    meas: np.ndarray,
    good: np.ndarray,
    obj_coef: np.ndarray,
    psi: np.ndarray,
    shifted: np.ndarray,
    num_p: np.ndarray,
    coefs: np.ndarray,
    spectra: np.ndarray,
    o2sum: np.ndarray,
    omax: np.ndarray,
    do_probe: bool,
    epie: bool,
    alpha: float,
    beta: float,
    gamma: float,
) -> float:  # pragma: no cover - compiled
    """:func:`serial_groups` with each group split over ``T`` threads (numba ``prange``).

    ``cuts`` (G, T + 1): the member bounds of group g's chunks (relative to
    ``starts[g]``; a chunk may be empty); ``bands`` (G, T + 1): the object-row
    bounds of the threads' shares of the group's increments (every pixel
    receives them in member order: the result does not depend on timing).
    Per group: the chunks' :func:`_prepare_chunk` (sub-pixel parts), their
    :func:`_step_chunk`, then :func:`_finish_band` on the threads' object and
    probe rows. ``num_p`` has one row per thread for whole pixels;
    ``spectra`` (T, K, H, W) and ``o2sum`` (T, H or 0, W) one per thread.
    """
    nt = spectra.shape[0]
    nph = probe.shape[1]
    shift = frac.shape[0] > 0
    errs = np.zeros(nt)
    pmax = np.zeros(nt)
    err = 0.0
    for gi in order:
        lo = starts[gi]
        b = starts[gi + 1] - lo
        if shift:
            for t in nb.prange(nt):
                c0 = cuts[gi, t]
                c1 = cuts[gi, t + 1]
                pmax[t] = 0.0
                if c1 > c0:
                    pmax[t] = _prepare_chunk(
                        probe, frac[lo + c0 : lo + c1], spectra[t], shifted[c0:c1],
                        coefs[c0:c1], epie,
                    )
        a0 = alpha * pmax.max()
        for t in nb.prange(nt):
            c0 = cuts[gi, t]
            c1 = cuts[gi, t + 1]
            errs[t] = 0.0
            if c1 > c0:
                nump = num_p[c0:c1] if shift else num_p[t : t + 1]
                errs[t] = _step_chunk(
                    ob, probe, rows[lo + c0 : lo + c1], cols[lo + c0 : lo + c1],
                    frac[lo + c0 : lo + c1], members[lo + c0 : lo + c1], meas, good,
                    obj_coef, psi[c0:c1], shifted[c0:c1], nump, coefs[c0:c1], spectra[t],
                    o2sum[t], omax[c0:c1], do_probe, epie, alpha, gamma, a0,
                )
            else:  # no members: nothing to add to the probe step
                if shift:
                    spectra[t] = 0
                else:
                    num_p[t] = 0
                o2sum[t] = 0
        numer = spectra if shift else num_p[:nt]
        for t in nb.prange(nt):
            _finish_band(
                ob, probe, psi[:b], rows[lo : lo + b], cols[lo : lo + b], bands[gi, t],
                bands[gi, t + 1], numer, o2sum, omax[:b], do_probe, epie, beta, gamma,
                (nph * t) // nt, (nph * (t + 1)) // nt,
            )
        for t in range(nt):
            err += errs[t]
    return err


@nb.njit(**_JIT)
def add_patches(
    ob: np.ndarray, inc: np.ndarray, rows: np.ndarray, cols: np.ndarray, lo: int, hi: int
) -> None:  # pragma: no cover - compiled
    """``ob[r_b : r_b + H, c_b : c_b + W] += inc[b, 0]`` for every b, in order, on object rows ``lo:hi``.

    ``inc`` (B, K, H, W): the increments in mode 0 (see :func:`object_probe_update`).
    Threads that own disjoint row bands add a group's increments together, and
    every pixel still receives them in the same order (a deterministic result).
    """
    nb_, _, h, w = inc.shape
    for b in range(nb_):
        r = rows[b]
        c = cols[b]
        for i in range(max(0, lo - r), min(h, hi - r)):
            orow = ob[r + i, c : c + w]
            irow = inc[b, 0, i]
            for j in range(w):
                orow[j] += irow[j]


@nb.njit(**_JIT)
def probe_step(
    probe: np.ndarray,
    num_p: np.ndarray,
    o2sum: np.ndarray,
    scale: float,
    o2_weight: float,
    offset: float,
    lo: int,
    hi: int,
) -> None:  # pragma: no cover - compiled
    """``P += scale * sum_t num_p[t] / (o2_weight * sum_t o2sum[t] + offset)`` on probe rows ``lo:hi``.

    ``probe`` (K, H, W); ``num_p`` (T, K, H, W) the chunks' numerators;
    ``o2sum`` (T', H, W) the chunks' ``sum |O|^2`` (T' may differ from T: the
    numerators of shifted probes come summed; not read when ``o2_weight`` is 0:
    ePIE, ``offset`` 1).
    """
    nt, nk, h, w = num_p.shape
    sc = np.float32(scale)
    den = np.empty(w, np.float32)
    for i in range(lo, hi):
        for j in range(w):
            den[j] = np.float32(offset)
        if o2_weight != 0.0:
            for t in range(o2sum.shape[0]):
                srow = o2sum[t, i]
                for j in range(w):
                    den[j] += np.float32(o2_weight) * srow[j]
        for j in range(w):
            den[j] = sc / den[j]
        for k in range(nk):
            prow = probe[k, i]
            for t in range(nt):
                qrow = num_p[t, k, i]
                for j in range(w):
                    prow[j] += den[j] * qrow[j]


@nb.njit(cache=True)
def first_fit_groups(
    rows: np.ndarray, cols: np.ndarray, order: np.ndarray, sep: int
) -> np.ndarray:  # pragma: no cover - compiled
    """Group of every position, first fit in ``order``: boxes of side ``sep`` must not overlap.

    Returns ``group`` (P,) int64: position ``order[i]`` joins the first group
    (in creation order) none of whose members lies within ``sep`` in both
    row and column, else starts a new group.
    """
    n = rows.shape[0]
    group = np.full(n, -1, np.int64)
    head = np.empty(n, np.int64)  # first member of each group
    nxt = np.full(n, -1, np.int64)  # next member in the same group
    tail = np.empty(n, np.int64)
    ng = 0
    for ii in range(n):
        j = order[ii]
        r = rows[j]
        c = cols[j]
        placed = False
        for g in range(ng):
            m = head[g]
            clash = False
            while m >= 0:
                if abs(rows[m] - r) < sep and abs(cols[m] - c) < sep:
                    clash = True
                    break
                m = nxt[m]
            if not clash:
                group[j] = g
                nxt[tail[g]] = j
                tail[g] = j
                placed = True
                break
        if not placed:
            group[j] = ng
            head[ng] = j
            tail[ng] = j
            ng += 1
    return group


@nb.njit(**_JIT)
def fft_pairs(a: np.ndarray, n_pairs: int, workers: int) -> None:  # pragma: no cover - compiled
    """``n_pairs`` unitary forward + inverse 2D FFTs in place, in batches of ``len(a)``.

    The FFT floor of an ePIE iteration with the engine's FFT (``benchmarks/ptycho.py``).
    """
    axes = np.array([1, 2], dtype=np.int64)
    fct = 1.0 / np.sqrt(a.shape[1] * a.shape[2])
    done = 0
    while done < n_pairs:
        b = min(a.shape[0], n_pairs - done)
        c2c(a[:b], a[:b], axes, True, fct, workers)
        c2c(a[:b], a[:b], axes, False, fct, workers)
        done += b
