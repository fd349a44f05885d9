"""An energy series simulated without the project's twin code (for the default-settings tests).

Physics written out here: an analytic sample (two chemical species in round
particles on a thin support) evaluated exactly on each pattern's pixel grid,
a defocused zone-plate-like probe (hard-edged circular pupil -> side lobes)
propagated by the angular spectrum, far-field intensities ``|FFT(P O)|^2``
with a fixed incident fluence, Poisson counts. The reconstruction pixel is
``lambda z / (N p)`` at every energy (40 nm at the lowest energy).
"""

from __future__ import annotations

import numpy as np

HC = 1.239841984e-6  # eV m
N = 64
DET_PIXEL = 75e-6
PIXEL_AT_LOW = 40e-9
E_LOW = 8270.0
DISTANCE = PIXEL_AT_LOW * N * DET_PIXEL / (HC / E_LOW)


def pixel(energy):
    return HC / energy * DISTANCE / (N * DET_PIXEL)


def _edge(energy, e0, white):
    """Normalised absorption: arctan step at e0 with a white line (unitless, ~0..1.5)."""
    step = 0.5 + np.arctan((energy - e0) / 2.0) / np.pi
    return step + white * np.exp(-(((energy - e0 - 4.0) / 4.0) ** 2))


# particles: (row, col) centre m, radius m, species fraction of A
PARTICLES = [
    ((1.55e-6, 1.60e-6), 0.55e-6, 1.0),
    ((2.70e-6, 2.55e-6), 0.45e-6, 0.0),
    ((2.60e-6, 1.30e-6), 0.35e-6, 0.5),
    ((1.30e-6, 2.90e-6), 0.30e-6, 0.2),
]


def transmission(energy, rows_m, cols_m):
    """Complex transmission at (rows_m, cols_m) (arrays, m)."""
    ta = np.zeros(np.broadcast(rows_m, cols_m).shape)
    tb = np.zeros_like(ta)
    for (r0, c0), rad, fa in PARTICLES:
        d2 = ((rows_m - r0) ** 2 + (cols_m - c0) ** 2) / rad**2
        thick = np.sqrt(np.clip(1 - d2, 0, None))  # sphere profile, 0..1
        ta += fa * thick
        tb += (1 - fa) * thick
    support = 0.02 * (1 + 0.5 * np.sin(rows_m / 0.4e-6) * np.cos(cols_m / 0.5e-6))
    mu_a = 0.06 + 0.28 * _edge(energy, 8345.0, 0.5)
    mu_b = 0.06 + 0.28 * _edge(energy, 8350.0, 0.2)
    absorb = mu_a * ta + mu_b * tb + support
    phase = -(0.9 * (ta + tb) + 0.5 * support) * (1 - 0.15 * _edge(energy, 8347.0, 0.0))
    return np.exp(-absorb + 1j * phase)


def probe(energy, px, n=N, outer_zone=80e-9, spot=0.6e-6):
    """Defocused circular-pupil probe (sum |P|^2 = 1), side lobes from the hard pupil edge."""
    lam = HC / energy
    dz = spot * outer_zone / lam
    q = np.fft.fftfreq(n, px)
    q2 = q[:, None] ** 2 + q[None, :] ** 2
    pupil = (q2 <= (1 / (2 * outer_zone)) ** 2).astype(float)
    p = np.fft.fftshift(np.fft.ifft2(pupil * np.exp(-1j * np.pi * lam * dz * q2)))
    return p / np.sqrt((np.abs(p) ** 2).sum())


def scan(rng, n_side=6, step=0.32e-6, jitter=0.04e-6, origin=(0.45e-6, 0.45e-6)):
    """Regular n_side x n_side raster of probe-window corners (m) with Gaussian jitter."""
    g = np.arange(n_side) * step
    rr, cc = np.meshgrid(g, g, indexing="ij")
    pos = np.c_[rr.ravel(), cc.ravel()] + np.asarray(origin)
    return pos + rng.normal(0, jitter, pos.shape)


def patterns(energy, pos, rng, photons=3e5):
    """Poisson far-field patterns (detector-centred), the probe and the pixel."""
    px = pixel(energy)
    p = probe(energy, px)
    ii = np.arange(N) * px
    out = np.empty((len(pos), N, N), np.uint32)
    for j, (r, c) in enumerate(pos):
        o = transmission(energy, r + ii[:, None], c + ii[None, :])
        far = np.fft.fftshift(np.fft.fft2(p * o, norm="ortho"))
        out[j] = rng.poisson(photons * np.abs(far) ** 2)
    return out, p, px


def absorption_metrics(obj, truth, well):
    """(-ln|T| correlation, RMS error / contrast, contrast, phase correlation) on ``well``.

    Offsets are removed (the scale ambiguity); the contrast is the 1-99 % range of
    the true -ln|T|.
    """
    lt = -np.log(np.abs(truth[well]))
    lo = -np.log(np.abs(obj[well]))
    corr = float(np.corrcoef(lt, lo)[0, 1])
    d = (lo - lo.mean()) - (lt - lt.mean())
    contrast = float(np.percentile(lt, 99) - np.percentile(lt, 1))
    # phase: remove the global offset and linear ramp (ambiguities of ptychography)
    y, x = np.nonzero(well)
    dphi = np.angle(obj[well] * np.conj(truth[well]))
    a = np.c_[np.ones_like(y), y, x].astype(float)
    coef, *_ = np.linalg.lstsq(a, dphi, rcond=None)
    pt = np.angle(truth[well])
    po = pt + dphi - a @ coef
    pcorr = float(np.corrcoef(pt, po)[0, 1])
    return corr, float(np.sqrt(np.mean(d**2))) / contrast, contrast, pcorr
