"""Imaging physics: line integrals, rotation geometry, pixel sizes, applied shifts."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.simulate import imaging
from ptyxanes.simulate.optics import refractive_index, wavelength
from ptyxanes.simulate.sample import make_sample


def _direct_integrals(sample, energy, axis=0):
    """k * sum(beta dl), k * sum(delta dl) voxel by voxel (no valence binning)."""
    occ = sample.occupancy
    delta, beta = refractive_index([energy], np.where(occ, sample.valence, 2.0))
    k = 2 * np.pi / wavelength(energy)
    a = (np.where(occ, beta[..., 0], 0.0) * sample.voxel_size * k).sum(axis=axis)
    p = (np.where(occ, delta[..., 0], 0.0) * sample.voxel_size * k).sum(axis=axis)
    return a, p


@pytest.mark.parametrize("energy", [8300.0, 8343.0, 8420.0])
def test_zero_degree_projection_is_line_integral(energy):
    s = make_sample("tiny", 350, seed=2, dim="3d")
    a, p = _direct_integrals(s, energy)
    t0 = imaging.transmission_projection(s, energy, 0.0)
    assert_allclose(-np.log(np.abs(t0)), a, rtol=2e-3, atol=2e-5)
    assert_allclose(np.angle(t0), p, rtol=2e-3, atol=2e-5)
    assert np.angle(t0).max() > 0.3  # a micrometre of NMC shifts the phase by ~0.5 rad
    assert_allclose(imaging.transmission_2d(s, energy), t0)


def test_rotation_direction_and_mass_conservation():
    s = make_sample("tiny", 200, seed=1, dim="3d")
    a, _ = _direct_integrals(s, 8400.0, axis=2)  # (P, M): beam along col
    t90 = imaging.transmission_projection(s, 8400.0, 90.0)
    # theta = 90: detector column offset t = -z, so the image is the col-sum, plane reversed
    assert_allclose(-np.log(np.abs(t90)), a.T[:, ::-1], rtol=5e-3, atol=1e-4)
    tot0 = -np.log(np.abs(imaging.transmission_projection(s, 8400.0, 0.0))).sum()
    for ang in (23.0, 137.0):
        tot = -np.log(np.abs(imaging.transmission_projection(s, 8400.0, ang))).sum()
        assert tot == pytest.approx(tot0, rel=0.01)


def test_pixel_size_scales_with_inverse_energy_and_keeps_field_of_view():
    e = np.array([8270.0, 8345.0, 8420.0])
    px = imaging.detector_pixel_size(e, 64)
    assert_allclose(px * e, px[0] * e[0], rtol=1e-12)
    assert px[1] == pytest.approx(1.23984e-6 / 8345.0 * 5.0 / (64 * 75e-6), rel=1e-4)
    s = make_sample("tiny", 0, seed=0)
    areas = []
    for energy, p in zip(e, px, strict=True):
        t = imaging.transmission_2d(s, energy, pixel_size=float(p))
        areas.append(((-np.log(np.abs(t))).sum()) * p**2 / (2 * np.pi / wavelength(energy)))
    # integral of beta over the image area: physical, independent of the pixel grid
    expect = [_direct_integrals(s, energy)[0].sum() * s.voxel_size**2
              / (2 * np.pi / wavelength(energy)) for energy in e]
    assert_allclose(np.array(areas) / expect, 1.0, rtol=0.02)
    st = imaging.project_stack(s, e, pixel_size=px)
    assert_allclose(st.pixel_size, px)
    assert st.data.shape[0] == 3 and st.data.dtype == np.complex64


def test_shifts_applied_equal_shifts_requested():
    s = make_sample("tiny", 200, seed=4)
    e = np.array([8300.0, 8350.0, 8400.0])
    shifts = np.array([[0.0, 0.0], [2.5, -1.25], [-3.3, 4.0]])
    ref = imaging.project_stack(s, e)
    st = imaging.project_stack(s, e, shifts=shifts)
    assert_allclose(st.attrs["shifts_px"], shifts)
    for i in range(3):
        a0 = -np.log(np.abs(ref.data[i]))
        a1 = -np.log(np.abs(st.data[i]))
        rows, cols = np.indices(a0.shape)
        c0 = np.array([(a0 * rows).sum(), (a0 * cols).sum()]) / a0.sum()
        c1 = np.array([(a1 * rows).sum(), (a1 * cols).sum()]) / a1.sum()
        assert_allclose(c1 - c0, shifts[i], atol=0.02)


def test_tilt_series_shifts_and_lazy_equals_eager():
    s = make_sample("tiny", 500, seed=0, dim="3d")
    rng = np.random.default_rng(0)
    angles = np.linspace(0.0, 180.0, 7)
    sh = imaging.random_shifts(2, angles.size, rng)
    assert sh.shape == (2, 7, 2) and np.abs(sh).max() < 20
    eager = imaging.tilt_series(s, [8300.0, 8400.0], angles, shifts=sh)
    lazy = imaging.tilt_series(s, [8300.0, 8400.0], angles, shifts=sh, lazy=True)
    assert eager.data.shape == (2, 7, 40, 40)
    assert_allclose(lazy.data[1], eager.data[1])
    assert_allclose(eager.attrs["shifts_px"], sh)
    single = imaging.transmission_projection(s, 8400.0, angles[3], shift=sh[1, 3])
    assert_allclose(eager.data[1, 3], single, atol=1e-6)


def test_numba_rotation_kernel_equals_scipy_path():
    s = make_sample("tiny", 350, seed=3, dim="3d")
    for ang in (37.0, 121.5):
        n1, p1 = imaging._projected_paths_uncached(s, ang, use_numba=False)
        n2, p2 = imaging._projected_paths_uncached(s, ang, use_numba=True)
        assert_allclose(n1, n2)
        assert_allclose(p2, p1, rtol=1e-5, atol=1e-12)
