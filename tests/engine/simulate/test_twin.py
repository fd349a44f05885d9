"""End-to-end digital twin: files readable, shifts written = shifts applied, truth consistent."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.io.nexus import read_stack
from ptyxanes.io.spectra import read_spectrum
from ptyxanes.progress import Cancelled, Control, Progress
from ptyxanes.simulate import imaging, spectra, twin
from ptyxanes.simulate.sample import make_sample


def test_paper_parameters():
    p = twin.SIZES["paper"]
    assert p.energies_2d.size == 51 and p.energies_3d.size == 25
    assert_allclose(p.energies_2d[:3], [8270, 8285, 8300])
    assert_allclose(p.energies_2d[3:-2], np.arange(8325, 8371))
    assert_allclose(p.energies_3d[3:-2], np.arange(8341, 8361))
    assert p.n_angles == 241


def test_tiny_2d_end_to_end(tmp_path):
    reports = []
    gen = twin.simulate("2d", "tiny", 200, "stack", tmp_path, seed=3)
    while True:
        try:
            reports.append(next(gen))
        except StopIteration as stop:
            files = stop.value
            break
    assert all(isinstance(r, Progress) for r in reports) and reports[-1].fraction == 1.0
    st = read_stack(files.data[0], lazy=False)
    e = twin.SIZES["tiny"].energies_2d
    assert_allclose(st.energy, e)
    assert st.kind == "complex" and st.data.shape[0] == e.size
    assert_allclose(st.pixel_size * st.energy, st.pixel_size[0] * st.energy[0], rtol=1e-9)
    truth = twin.read_truth(files.truth)
    shifts = truth["acquisition/shifts_px"]
    assert_allclose(st.attrs["extra"]["shifts_px"], shifts)
    # the written images are the sample's projections with exactly those shifts applied
    sample = make_sample("tiny", 200, 3)
    assert_allclose(truth["volume/valence"], sample.valence)
    for i in (0, 6, e.size - 1):
        expect = imaging.project_stack(sample, e[i:i + 1], st.pixel_size[i:i + 1],
                                       shifts=shifts[i:i + 1],
                                       out_shape=st.data.shape[1:]).data[0]
        assert_allclose(st.data[i], expect, atol=1e-6)
    assert truth["attrs"]["mean_valence"] == pytest.approx(3.0, abs=0.01)
    pv = truth["projection/valence"]
    assert np.nanmin(pv) >= 2.0 and np.nanmax(pv) <= 3.9
    assert_allclose(truth["projection/thickness"], sample.thickness())
    refs = sorted(p.name for p in (tmp_path / "references").iterdir())
    assert refs == ["Ni0_metal.xdi", "Ni2_NiO.xdi", "Ni3_LiNiO2.xdi"]
    s3 = read_spectrum(tmp_path / "references" / "Ni3_LiNiO2.xdi")
    assert s3.valence == 3.0
    assert_allclose(s3.mu, spectra.normalized_mu(s3.energy, 3.0), atol=1e-8)


def test_tiny_3d_end_to_end_and_noise(tmp_path):
    files = twin.run("3d", "tiny", 500, "stack", tmp_path, seed=1, photons_per_pixel=1e4)
    st = read_stack(files.data[0])
    spec = twin.SIZES["tiny"]
    assert st.data.shape[:2] == (spec.energies_3d.size, spec.n_angles)
    assert_allclose(st.angle, np.linspace(0, 180, spec.n_angles))
    truth = twin.read_truth(files.truth)
    sh = truth["acquisition/shifts_px"]
    assert sh.shape == (spec.energies_3d.size, spec.n_angles, 2)
    sample = make_sample("tiny", 500, 1, dim="3d")
    i, a = 2, 7
    clean = imaging.transmission_projection(sample, spec.energies_3d[i], st.angle[a],
                                            pixel_size=st.pixel_size[i], shift=sh[i, a],
                                            out_shape=st.data.shape[2:])
    noisy = np.asarray(st.data[i, a])
    assert clean.shape == noisy.shape
    # Poisson modulus noise: std of |T| ~ 1 / (2 sqrt(n)) where T ~ 1
    empty = np.abs(clean) > 0.9999
    assert np.std(np.abs(noisy)[empty]) == pytest.approx(0.5 / np.sqrt(1e4), rel=0.2)
    assert np.abs(np.mean(np.abs(noisy) - np.abs(clean))) < 2e-3
    assert truth["crystals/c_axes"].shape == (sample.c_axes.shape[0], 3)


def test_cancel_leaves_no_stack(tmp_path):
    c = Control()
    gen = twin.simulate("2d", "tiny", 0, "stack", tmp_path, control=c)
    next(gen)
    c.cancel()
    with pytest.raises(Cancelled):
        for _ in gen:
            pass
    assert not (tmp_path / "stack.nxs").exists()


def test_cxi_level(tmp_path):
    """With simulate.ptycho: one readable CXI scan per energy plus truth; without: a clear error."""
    spec = importlib.util.find_spec("ptyxanes.simulate.ptycho")
    ptycho = None
    if spec is not None:
        from ptyxanes.simulate import ptycho
    if ptycho is None or not hasattr(ptycho, "simulate_cxi_series"):
        with pytest.raises(ValueError, match="ptycho"):
            twin.run("2d", "tiny", 0, "cxi", tmp_path)
        return
    from ptyxanes.io.cxi import read_scan_series

    files = twin.run("2d", "tiny", 200, "cxi", tmp_path, seed=2)
    scans = read_scan_series(tmp_path)
    e = twin.SIZES["tiny"].energies_2d
    assert len(files.data) == e.size == len(scans)
    assert_allclose([s.energy for s in scans], e, atol=1e-6)
    truth = twin.read_truth(files.truth)
    assert truth["attrs"]["cycles"] == 200 and "volume/valence" in truth


def test_bad_arguments(tmp_path):
    for args in (("4d", "tiny", 0, "stack"), ("2d", "huge", 0, "stack"),
                 ("2d", "tiny", 7, "stack"), ("2d", "tiny", 0, "raw")):
        with pytest.raises(ValueError):
            twin.run(*args, tmp_path)


def test_truth_on_data_grid_matches_images(tmp_path):
    """Truth thickness resampled to the data grid predicts -ln|T| of an unshifted image."""
    from ptyxanes.simulate.optics import refractive_index, wavelength

    sample = make_sample("tiny", 0, seed=6)
    e = np.array([8300.0, 8420.0])
    px = imaging.detector_pixel_size(e, 64)
    st = imaging.project_stack(sample, e, px)
    path = twin.write_truth(tmp_path / "truth.h5", sample, energies=e, pixel_size=px,
                            shifts_px=np.zeros((2, 2)))
    truth = twin.read_truth(path)
    thick = truth["projection_data_grid/thickness"]
    assert thick.shape == st.data.shape[1:]
    _, beta = refractive_index(e[:1], 2.3)
    predicted = 2 * np.pi / wavelength(e[0]) * beta[0] * thick
    measured = -np.log(np.abs(st.data[0]))
    assert_allclose(measured.sum(), predicted.sum(), rtol=0.01)
    inside = thick > 0.3 * thick.max()
    assert_allclose(measured[inside], predicted[inside], rtol=0.05)
    pv = truth["projection_data_grid/valence"]
    assert np.nanmean(pv) == pytest.approx(2.3, abs=0.03)
