"""Paper-scale 3D demo: the truth -> attenuation volumes path, and its fit recovering the truth."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from ptyxanes.progress import run_sync
from ptyxanes.simulate.demo3d import GEOMETRY, MU_JUMP, absorption_volumes
from ptyxanes.simulate.spectra import normalized_mu, reference_spectra
from ptyxanes.simulate.twin import SIZES

ENERGY = SIZES["demo"].energies_3d


def _two_valence_volume():
    v = np.full((12, 14, 16), np.nan)
    v[2:10, 2:12, 2:8] = 2.4
    v[2:10, 2:12, 8:14] = 3.2
    return v


def test_geometry_is_paper_scale():
    assert min(GEOMETRY.shape) >= 96 and 40e-9 <= GEOMETRY.voxel_size <= 50e-9
    assert GEOMETRY.diameter[0] / GEOMETRY.voxel_size >= 25  # crystals tens of voxels across


def test_absorption_volumes_are_the_model_spectra():
    v = _two_valence_volume()
    vols = run_sync(absorption_volumes(v, ENERGY, blur=0.0, noise=0.0))
    assert vols.shape == (ENERGY.size,) + v.shape
    inside = np.isfinite(v)
    assert (vols[:, ~inside] == 0).all()
    assert_allclose(vols[:, 5, 5, 4] / MU_JUMP, normalized_mu(ENERGY, 2.4), rtol=1e-5)
    assert_allclose(vols[:, 5, 5, 10] / MU_JUMP, normalized_mu(ENERGY, 3.2), rtol=1e-5)
    noisy = run_sync(absorption_volumes(v, ENERGY, blur=0.0, noise=0.03, seed=1))
    assert abs(np.std(noisy[:, ~inside]) / MU_JUMP - 0.03) < 0.003


def test_fit_of_the_demo_volumes_recovers_the_valence():
    from ptyxanes.xanes import FitOptions, calibrate_references, fit_stack_array

    v = _two_valence_volume()
    vols = run_sync(absorption_volumes(v, ENERGY, seed=2))
    refs = reference_spectra()
    opts = FitOptions()
    cal = calibrate_references([refs[2.0], refs[3.0]], energy=ENERGY, options=opts)
    res = run_sync(fit_stack_array(ENERGY, vols, kind="absorption", energy_axis=0, options=opts,
                                   calibration=cal, threshold="otsu"))
    core = np.zeros(v.shape, bool)
    core[3:9, 3:11, 3:7] = True  # away from the blurred borders
    assert np.nanmedian(np.abs(res.valence[core] - 2.4)) < 0.1
    core2 = np.roll(core, 6, axis=2)
    assert np.nanmedian(np.abs(res.valence[core2] - 3.2)) < 0.1
