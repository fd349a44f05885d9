"""Matrix-free parallel-beam projector (Joseph's method), numba kernels.

Reproduces ASTRA's CPU ``'linear'`` projector for a 2D parallel geometry
(detector pixel = image pixel, n detector columns, n × n slice) without storing
its matrix: every ray is traced through the slice, one image row (or column,
for rays closer to horizontal) at a time, and the value is interpolated
linearly between the two nearest pixels, with weight 1/|cos θ| (or 1/|sin θ|),
the ray length in one row. The back-projection is the exact transpose of the
same weights, so SIRT with these two operators is ASTRA's SIRT.

Layouts (as :class:`ptyxanes.tomo.projector.ParallelProjector`): an image is
(n·n, m) with pixel ``row * n + col`` and m slices side by side (innermost, so
every weight is applied to all slices in one contiguous loop); a sinogram is
(A·n, m) with ray ``angle * n + detector``.

ASTRA's conventions, checked element by element against ``astra.matrix.get``
of the ``'linear'`` projector: pixel (i, j) has centre x = j − h, y = h − i with
h = n/2 − ½; detector column d has u = d − h; the ray at angle θ meets the
image where x cos θ + y sin θ = u; rows are traversed when |cos θ| ≥ |sin θ|.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(inline="always")
def _span(start, step, count, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Indices k in [0, count) where start + k·step may lie in [−1, n] (one spare each side).

    Outside this range both interpolation neighbours are outside the slice, so
    the loops skip it; the per-pixel bounds checks inside stay for the edges.
    """
    if step == 0.0:
        if -1.0 <= start <= n:
            return 0, count
        return 0, 0
    a = (-1.0 - start) / step
    b = (n - start) / step
    lo = min(a, b)
    hi = max(a, b)
    k0 = max(0, int(np.floor(lo)) - 1)
    k1 = min(count, int(np.ceil(hi)) + 2)
    return k0, max(k0, k1)


@nb.njit(inline="always")
def _gather(x, acc, w, start, step, n, along, across):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Add one ray's weights times ``x`` to ``acc``; the ray crosses lines t = 0..n-1.

    On line t the ray sits at ``start + t·step`` across it; pixel p of line t is
    ``x[t·along + p·across]`` (rows: along n, across 1; columns: along 1, across n).
    """
    m = acc.shape[0]
    t_lo, t_hi = _span(start, step, n, n)
    for t in range(t_lo, t_hi):
        pos = start + t * step
        p0 = int(np.floor(pos))
        f = pos - p0
        if 0 <= p0 < n:
            w0 = np.float32(w * (1.0 - f))
            b = t * along + p0 * across
            for q in range(m):
                acc[q] += w0 * x[b, q]
        if 0 <= p0 + 1 < n:
            w1 = np.float32(w * f)
            b = t * along + (p0 + 1) * across
            for q in range(m):
                acc[q] += w1 * x[b, q]


@nb.njit(inline="always")
def _scatter(y, out, w, base, step, n, k0, fixed, across):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Add one image line's weights times the rays k0 + d (d = 0..n-1) crossing it to ``out``.

    Ray d sits at ``base + d·step`` along the line; pixel p of the line is
    ``out[fixed + p·across]`` (a row: fixed i·n, across 1; a column: fixed j, across n).
    """
    m = y.shape[1]
    d_lo, d_hi = _span(base, step, n, n)
    for d in range(d_lo, d_hi):
        pos = base + d * step
        p0 = int(np.floor(pos))
        f = pos - p0
        k = k0 + d
        if 0 <= p0 < n:
            w0 = np.float32(w * (1.0 - f))
            b = fixed + p0 * across
            for q in range(m):
                out[b, q] += w0 * y[k, q]
        if 0 <= p0 + 1 < n:
            w1 = np.float32(w * f)
            b = fixed + (p0 + 1) * across
            for q in range(m):
                out[b, q] += w1 * y[k, q]


@nb.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def forward(x, n, cos, sin, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """out[(A·n, m)] = W x for x of shape (n·n, m) (out is overwritten)."""
    a_count = cos.shape[0]
    m = x.shape[1]
    h = n / 2.0 - 0.5
    for k in nb.prange(a_count * n):
        a = k // n
        u = (k - a * n) - h
        c = cos[a]
        s = sin[a]
        acc = np.zeros(m, np.float32)
        if abs(c) >= abs(s):
            # rows i: the ray meets row 0 at column (u - h s)/c + h
            _gather(x, acc, 1.0 / abs(c), (u - h * s) / c + h, s / c, n, n, 1)
        else:
            # columns j: the ray meets column 0 at row h - (u + h c)/s
            _gather(x, acc, 1.0 / abs(s), h - (u + h * c) / s, c / s, n, 1, n)
        for q in range(m):
            out[k, q] = acc[q]


@nb.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def back(y, n, cos, sin, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """out[(n·n, m)] = Wᵀ y for y of shape (A·n, m) (out is overwritten).

    Rays traversing rows write only into the row they cross, so the first pass
    runs in parallel over image rows; the second (rays traversing columns) in
    parallel over columns: no two threads ever write the same pixel.
    """
    a_count = cos.shape[0]
    h = n / 2.0 - 0.5
    out[:, :] = 0.0
    for i in nb.prange(n):
        for a in range(a_count):
            c = cos[a]
            s = sin[a]
            if abs(c) < abs(s):
                continue
            # column of detector 0's ray in row i, moving 1/c per detector
            _scatter(y, out, 1.0 / abs(c), (-h - (h - i) * s) / c + h, 1.0 / c, n, a * n,
                     i * n, 1)
    for j in nb.prange(n):
        for a in range(a_count):
            c = cos[a]
            s = sin[a]
            if abs(c) >= abs(s):
                continue
            # row of detector 0's ray in column j, moving -1/s per detector
            _scatter(y, out, 1.0 / abs(s), h - (-h - (j - h) * c) / s, -1.0 / s, n, a * n, j, n)


# ---------------------------------------------------------------------------
# Line-driven kernels, slices outermost (few slices, wide detectors)
#
# The kernels above trace one ray at a time with all slices in the innermost
# loop: with one or two slices that loop is too short to pay, and successive
# steps of a ray are a whole image row apart. The kernels below visit the same
# (ray, pixel) weights in another order: one image line (a row, or a column
# for rays closer to horizontal) at a time, every ray of one angle crossing it
# in turn, so that both the image line and the sinogram row are read and
# written contiguously. Layouts: image (m, n, n) as (slice, row, col) and its
# transpose (slice, col, row); sinogram (m, A, n) as (slice, angle, detector).
# ---------------------------------------------------------------------------


@nb.njit(inline="always")
def _interior(base, step, n, d_lo, d_hi):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Sub-range [i_lo, i_hi) of [d_lo, d_hi) where base + d·step lies in [0, n − 1) with margin.

    There both interpolation neighbours are inside the line, so the loop needs
    no bounds checks (one step of margin each side against rounding; |step| ≥ 1).
    """
    if step > 0:
        i_lo = int(np.ceil(-base / step)) + 1
        i_hi = int(np.floor((n - 1 - base) / step)) - 1
    else:
        i_lo = int(np.ceil((n - 1 - base) / step)) + 1
        i_hi = int(np.floor(-base / step)) - 1
    i_lo = min(max(i_lo, d_lo), d_hi)
    i_hi = min(max(i_hi, i_lo), d_hi)
    return i_lo, i_hi


@nb.njit(inline="always")
def _gather_checked(img, line, acc, a, wf, base, step, n, d0, d1):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    for d in range(d0, d1):
        pos = base + d * step
        if not -1.0 < pos < n:
            continue
        p0 = int(pos + 1.0) - 1  # floor (truncation of a positive number)
        f = np.float32(pos - p0)
        for q in range(img.shape[0]):
            if 0 <= p0 < n - 1:
                v = img[q, line, p0] + f * (img[q, line, p0 + 1] - img[q, line, p0])
            elif p0 == -1:
                v = f * img[q, line, 0]
            else:
                v = (np.float32(1.0) - f) * img[q, line, n - 1]
            acc[q, a, d] += wf * v


@nb.njit(inline="always")
def _line_gather(img, line, acc, a, w, base, step, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """acc[q, a, d] += w·(linear interpolation of img[q, line] at base + d·step) for every d."""
    d_lo, d_hi = _span(base, step, n, n)
    i_lo, i_hi = _interior(base, step, n, d_lo, d_hi)
    wf = np.float32(w)
    _gather_checked(img, line, acc, a, wf, base, step, n, d_lo, i_lo)
    for d in range(i_lo, i_hi):
        pos = base + d * step
        p0 = int(pos)
        f = np.float32(pos - p0)
        for q in range(img.shape[0]):
            acc[q, a, d] += wf * (img[q, line, p0] + f * (img[q, line, p0 + 1] - img[q, line, p0]))
    _gather_checked(img, line, acc, a, wf, base, step, n, i_hi, d_hi)


@nb.njit(inline="always")
def _scatter_checked(sino, a, out, line, wf, base, step, n, d0, d1):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    for d in range(d0, d1):
        pos = base + d * step
        if not -1.0 < pos < n:
            continue
        p0 = int(pos + 1.0) - 1  # floor (truncation of a positive number)
        f = np.float32(pos - p0)
        for q in range(sino.shape[0]):
            v = wf * sino[q, a, d]
            fv = f * v
            if 0 <= p0 < n - 1:
                out[q, line, p0] += v - fv
                out[q, line, p0 + 1] += fv
            elif p0 == -1:
                out[q, line, 0] += fv
            else:
                out[q, line, n - 1] += v - fv


@nb.njit(inline="always")
def _line_scatter(sino, a, out, line, w, base, step, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """out[q, line, p] += the weights of pixel p of this line times sino[q, a, d], all d."""
    d_lo, d_hi = _span(base, step, n, n)
    i_lo, i_hi = _interior(base, step, n, d_lo, d_hi)
    wf = np.float32(w)
    _scatter_checked(sino, a, out, line, wf, base, step, n, d_lo, i_lo)
    for d in range(i_lo, i_hi):
        pos = base + d * step
        p0 = int(pos)
        f = np.float32(pos - p0)
        for q in range(sino.shape[0]):
            v = wf * sino[q, a, d]
            fv = f * v
            out[q, line, p0] += v - fv
            out[q, line, p0 + 1] += fv
    _scatter_checked(sino, a, out, line, wf, base, step, n, i_hi, d_hi)


@nb.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def forward_lines(img, img_t, cos, sin, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """out[(m, A, n)] = W img for img (m, n, n) and its transpose img_t (out is overwritten).

    In parallel over angles: every thread writes its own sinogram rows.
    """
    m, n = img.shape[0], img.shape[1]
    a_count = cos.shape[0]
    h = n / 2.0 - 0.5
    for a in nb.prange(a_count):
        c = cos[a]
        s = sin[a]
        for q in range(m):
            for d in range(n):
                out[q, a, d] = 0.0
        if abs(c) >= abs(s):
            for i in range(n):
                _line_gather(img, i, out, a, 1.0 / abs(c), (-h - (h - i) * s) / c + h, 1.0 / c, n)
        else:
            for j in range(n):
                _line_gather(img_t, j, out, a, 1.0 / abs(s), h - (-h - (j - h) * c) / s,
                             -1.0 / s, n)


@nb.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def back_lines(sino, cos, sin, out, out_t):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """out[(m, n, n)] = Wᵀ sino for sino (m, A, n); out_t is a work array of the same shape.

    Rays traced row by row go into ``out`` in parallel over rows; the others
    into ``out_t`` (transposed) in parallel over columns; then the two are added.
    """
    m, n = out.shape[0], out.shape[1]
    a_count = cos.shape[0]
    h = n / 2.0 - 0.5
    for i in nb.prange(n):
        for q in range(m):
            for j in range(n):
                out[q, i, j] = 0.0
                out_t[q, i, j] = 0.0
        for a in range(a_count):
            c = cos[a]
            s = sin[a]
            if abs(c) >= abs(s):
                _line_scatter(sino, a, out, i, 1.0 / abs(c), (-h - (h - i) * s) / c + h, 1.0 / c, n)
            else:
                # the same loop index as column j of the transposed image
                _line_scatter(sino, a, out_t, i, 1.0 / abs(s), h - (-h - (i - h) * c) / s,
                              -1.0 / s, n)
    for i in nb.prange(n):
        for q in range(m):
            for j in range(n):
                out[q, i, j] += out_t[q, j, i]
