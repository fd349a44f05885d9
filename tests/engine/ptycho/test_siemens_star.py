"""Real far-field data (APS Velociprobe Siemens star, from tike): the star must appear.

Criterion (falsifiable): around the best centre, the phase sampled on circles
of radius 50-150 px has one dominant azimuthal harmonic -- the star's 30
spokes at every radius, holding >= 30 % of the azimuthal variance. The
reconstruction starts from the patterns as stored (FFT-shifted) with no probe
supplied: the engine must recognise the shift and estimate the probe. The
same reconstruction (with tike's probe) from shuffled scan positions must fail.
"""

from __future__ import annotations

import bz2
import logging
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams, reconstruct

DATA = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "data"
    / "ptycho_tike_velociprobe_siemens_star"
    / "siemens-star-small.npz.bz2"
)
RADII = (50, 70, 90, 110, 130, 150)


def _harmonics(phase, centre, radii=RADII, n=720):
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    out = []
    for r in radii:
        v = ndimage.map_coordinates(
            phase, [centre[0] + r * np.sin(th), centre[1] + r * np.cos(th)], order=1
        )
        s = np.abs(np.fft.rfft(v - v.mean())) ** 2
        s[0] = 0
        m = int(np.argmax(s))
        out.append((m, float(s[m] / s.sum())))
    return out


def star_score(obj, illumination):
    """(spoke harmonics per radius, weakest dominant fraction) at the best centre."""
    well = illumination > 0.5 * illumination.max()
    phase = np.angle(obj * np.exp(-1j * np.angle(obj[well].mean())))
    rows, cols = np.nonzero(well)
    cy0, cx0 = rows.mean(), cols.mean()
    best = (-1.0, [])
    for cy in np.arange(cy0 - 48, cy0 + 49, 4):
        for cx in np.arange(cx0 - 48, cx0 + 49, 4):
            h = _harmonics(phase, (cy, cx), radii=(60, 90))
            f = min(x[1] for x in h) if h[0][0] == h[1][0] else 0.0
            if f > best[0]:
                best = (f, [cy, cx])
    h = _harmonics(phase, best[1])
    return [m for m, _ in h], min(f for _, f in h)


@pytest.fixture(scope="module")
def star():
    if not DATA.exists():
        pytest.skip(f"{DATA} not found")
    with bz2.open(DATA) as f:
        a = np.load(f)
        data, scan, probe = a["data"][0], a["scan"][0], a["probe"][0]
    # stored FFT-shifted (zero frequency at the corners), kept so
    corners = scan - scan.min(axis=0) + 2
    return data, corners, probe.reshape(-1, 128, 128)[0]


@pytest.mark.slow
def test_siemens_star_without_probe(star, caplog):
    data, corners, probe = star
    p = PtychoParams(iterations=20, preview_every=0)
    with caplog.at_level(logging.WARNING, logger="ptyxanes.ptycho"):
        res = run_sync(reconstruct(data, corners, params=p))
    assert any("FFT-shifted" in r.getMessage() for r in caplog.records)
    spokes, fraction = star_score(res.object, res.illumination)
    assert spokes == [30] * len(RADII), spokes
    assert fraction >= 0.3, fraction
    assert res.errors[-1] < 0.4 * res.errors[0]
    # control: wrong positions give no star (even from tike's probe)
    shuffled = np.random.default_rng(0).permutation(len(corners))
    bad = run_sync(reconstruct(data, corners[shuffled], probe, params=PtychoParams(iterations=10)))
    spokes_b, fraction_b = star_score(bad.object, bad.illumination)
    assert len(set(spokes_b)) > 1 or fraction_b < 0.3, (spokes_b, fraction_b)
