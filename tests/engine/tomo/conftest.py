"""Small synthetic phantoms for the tomography tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def phantom(n=48, m=16, seed=0, count=8):
    """Random non-negative balls in an (n, m, n) (plane, row, col) volume."""
    rng = np.random.default_rng(seed)
    p, r, c = np.indices((n, m, n))
    vol = np.zeros((n, m, n), np.float32)
    for _ in range(count):
        ctr = rng.uniform([0.3 * n, 0.25 * m, 0.3 * n], [0.7 * n, 0.75 * m, 0.7 * n])
        rad = rng.uniform(0.06 * n, 0.14 * n)
        vol += (((p - ctr[0]) ** 2 + (r - ctr[1]) ** 2 + (c - ctr[2]) ** 2) < rad**2) * rng.uniform(
            0.5, 1.0
        )
    return ndimage.gaussian_filter(vol, 0.7).astype(np.float32)


def rotate_project(vol, angles):
    """Projections by rotating the volume (independent of the ASTRA projector)."""
    return np.stack(
        [ndimage.rotate(vol, -a, axes=(0, 2), reshape=False, order=1).sum(0) for a in angles]
    ).astype(np.float32)
