"""Filtered back-projection written with numpy alone, independent of ``ptyxanes.tomo``.

The reference of the real-tooth test and of ``docs/images/make_tooth_figure.py``.
"""

from __future__ import annotations

import numpy as np


def independent_fbp(sino: np.ndarray, angles_deg: np.ndarray, center: float) -> np.ndarray:
    """Ramp-filtered back-projection written here with numpy alone.

    A point at offsets (z, x) = (plane, col) from the rotation axis projects to
    detector offset x cos θ − z sin θ (the convention of docs/tomo.md).
    Returns the (plane, col) slice with the axis at its centre.
    """
    a, n = sino.shape
    size = int(2 ** np.ceil(np.log2(2 * n)))
    ramp = 2 * np.abs(np.fft.fftfreq(size))
    filtered = np.real(np.fft.ifft(np.fft.fft(sino, n=size, axis=1) * ramp, axis=1))[:, :n]
    h = (n - 1) / 2
    z, x = np.mgrid[:n, :n].astype(float) - h
    out = np.zeros((n, n))
    det = np.arange(n, dtype=float)
    for p, th in zip(filtered, np.deg2rad(angles_deg), strict=True):
        t = x * np.cos(th) - z * np.sin(th) + center
        out += np.interp(t.ravel(), det, p, left=0.0, right=0.0).reshape(n, n)
    return out * np.pi / a
