"""Physics of the ptychography forward model (simulate.ptycho)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.io.cxi import read_cxi, read_scan_series
from ptyxanes.progress import run_sync
from ptyxanes.simulate import ptycho as sp
from ptyxanes.simulate.sample import make_sample


def _fwhm_diameter(probe, pixel):
    """Diameter of the region above half the peak intensity (equivalent disc), m."""
    i = np.abs(probe) ** 2
    # defocused FZP spots are rings: use the region holding 90 % of the power instead
    s = np.sort(i.ravel())[::-1]
    n = int(np.searchsorted(np.cumsum(s), 0.9 * s.sum())) + 1
    return 2 * np.sqrt(n / np.pi) * pixel


@pytest.mark.parametrize("spot", [1e-6, 2e-6])
def test_probe_spot_size_follows_defocus(spot):
    px = sp.object_pixel(8340.0, 256)
    p = sp.fzp_probe(8340.0, 256, px, spot=spot)
    assert_allclose((np.abs(p) ** 2).sum(), 1.0, rtol=1e-5)
    d = _fwhm_diameter(p, px)
    assert 0.6 * spot < d < 1.5 * spot, d  # geometric cone plus diffraction
    # focal length f = D dr / lambda = 0.54 m at 8.34 keV; defocus for 2 µm ~ 2.7 mm
    assert_allclose(sp.defocus_for_spot(8340.0, 2e-6), 2e-6 * 200e-9 / sp.wavelength(8340.0))


def test_pixel_size_scales_with_inverse_energy():
    e = np.array([8270.0, 8420.0])
    px = np.array([sp.object_pixel(x, 256) for x in e])
    assert_allclose(px[0] / px[1], e[1] / e[0], rtol=1e-12)
    assert_allclose(px[0] / px[1] - 1, 0.018, atol=0.001)  # ~1.8 % across the edge scan


def test_counts_follow_dose_and_poisson():
    rng = np.random.default_rng(0)
    obj = np.ones((80, 80), np.complex64)
    probe = sp.fzp_probe(8340.0, 32, 100e-9, spot=0.6e-6)
    pos = np.array([[10, 10]] * 400)
    ideal = sp.simulate_diffraction(obj, probe, pos[:1], photons=None)
    counts = sp.simulate_diffraction(obj, probe, pos, photons=1e5, rng=rng)
    assert counts.dtype == np.uint32
    totals = counts.sum(axis=(1, 2)).astype(float)
    assert_allclose(totals.mean(), 1e5, rtol=0.003)
    assert_allclose(totals.var(), 1e5, rtol=0.2)  # Poisson: variance = mean
    expect = ideal[0] / ideal[0].sum() * 1e5
    assert_allclose(counts.mean(axis=0), expect, atol=5 * np.sqrt(expect.max() / 400))


def test_fly_scan_is_incoherent_sum_and_mask():
    rng = np.random.default_rng(1)
    t = np.exp(1j * rng.uniform(0, 1, (60, 60))).astype(np.complex64)
    probe = sp.fzp_probe(8340.0, 32, 100e-9, spot=0.6e-6)
    pos = np.array([[14, 14]])
    fly = sp.simulate_diffraction(t, probe, pos, fly_step_px=4.0, fly_subpositions=4)
    subs = [
        sp.simulate_diffraction(t, sp._shift_probe(probe, 0, o).astype(np.complex64), pos)
        for o in (-1.5, -0.5, 0.5, 1.5)
    ]
    assert_allclose(fly, np.mean(subs, axis=0), rtol=1e-4, atol=1e-7 * fly.max())
    # the blur makes the pattern less coherent than any single exposure
    step = sp.simulate_diffraction(t, probe, pos)
    assert fly[0].max() < step[0].max()
    mask = sp.bad_pixel_mask((32, 32), 10, rng)
    m = sp.simulate_diffraction(t, probe, pos, photons=1e6, mask=mask, rng=rng)
    assert np.all(m[:, mask] == 0) and m[:, ~mask].sum() > 0


def test_cxi_series_written(tmp_path):
    sample = make_sample("tiny", 0)
    geo = sp.with_geometry("tiny", step=(0.8e-6, 0.8e-6), jitter=30e-9)
    series = run_sync(
        sp.simulate_cxi_series(
            sample, [8340.0, 8300.0], tmp_path, geometry=geo, rng=np.random.default_rng(0)
        )
    )
    assert len(series.files) == 2
    scans = read_scan_series(tmp_path)
    assert [s.energy for s in scans] == [8300.0, 8340.0]
    s = read_cxi(series.files[0], lazy=False)
    assert s.data.shape[1:] == (64, 64) and s.mask is not None and s.mask.any()
    assert_allclose(s.object_pixel_size()[0], series.pixel_size[0], rtol=1e-9)
    # positions: a raster with the chosen step, quantised to the object pixel
    px = series.pixel_size[0]
    assert_allclose(s.positions / px, np.rint(s.positions / px), atol=1e-6)
    steps = np.diff(np.unique(np.rint(s.positions[:, 0] / px)))
    assert np.median(steps) * px == pytest.approx(0.8e-6, abs=px)
    assert_allclose(s.data.sum(axis=(1, 2)).mean(), geo.photons * (1 - s.mask.mean()), rtol=0.05)
