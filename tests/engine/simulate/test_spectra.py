"""Physics of the Ni K-edge model: edge position, shape, references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.simulate import spectra

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "ni_refs_pyxas_nio_linio2"


def _crossing(e, y, level, stop):
    """Rising-side energy where y first reaches ``level`` before index ``stop``."""
    j = np.nonzero(y[:stop] < level)[0][-1]
    return e[j] + (level - y[j]) / (y[j + 1] - y[j]) * (e[j + 1] - e[j])


def _half_peak(e, y):
    i = int(np.argmax(np.where(e < 8362, y, -np.inf)))
    return _crossing(e, y, 0.5 * y[i], i)


def test_half_peak_edge_matches_edge_energy_numerically():
    e = np.arange(8320.0, 8370.0, 0.002)
    vals = np.array([0.0, 1.0, 2.0, 2.3, 2.7, 3.0, 3.5, 4.0])
    mu = spectra.normalized_mu(e, vals)
    measured = np.array([_half_peak(e, m) for m in mu])
    assert_allclose(measured, spectra.edge_energy(vals), atol=0.005)
    assert np.all(np.diff(measured) > 0)
    slope = np.polyfit(vals, measured, 1)[0]
    assert slope == pytest.approx(spectra.EDGE_SLOPE_EV_PER_VALENCE, abs=1e-3)
    assert spectra.EDGE_SLOPE_EV_PER_VALENCE == pytest.approx(1.76, abs=0.01)


def test_shape_pre_post_edge_and_white_line():
    e = np.array([8200.0, 8270.0, 8285.0, 8300.0])
    assert np.all(np.abs(spectra.normalized_mu(e, [2.0, 3.0])) < 0.01)
    assert_allclose(spectra.normalized_mu([8600.0, 9000.0], 2.5), 1.0, atol=0.01)
    # the white line moves rigidly with the edge: same height, peak shifted by the slope
    e = np.arange(8340.0, 8356.0, 0.01)
    mu2, mu3 = spectra.normalized_mu(e, 2.0), spectra.normalized_mu(e, 3.0)
    assert mu3.max() == pytest.approx(mu2.max(), abs=1e-3)
    assert e[np.argmax(mu3)] - e[np.argmax(mu2)] == pytest.approx(
        spectra.EDGE_SLOPE_EV_PER_VALENCE, abs=0.05)
    # weak pre-edge: a shoulder (local maximum of the slope) below the main rise
    e = np.arange(8326.0, 8336.0, 0.05)
    mu = spectra.normalized_mu(e, 2.0)
    d = np.gradient(mu, e)
    peaks = np.nonzero((d[1:-1] > d[:-2]) & (d[1:-1] > d[2:]))[0] + 1
    assert len(peaks) == 1 and 8330.0 < e[peaks[0]] < 8333.5
    assert 0.02 < mu[peaks[0]] < 0.08


def test_broadcasting():
    e = np.linspace(8300, 8400, 7)
    v = np.full((3, 4), 2.5)
    out = spectra.normalized_mu(e, v)
    assert out.shape == (3, 4, 7)
    assert_allclose(out[1, 2], spectra.normalized_mu(e, 2.5))


def test_model_follows_measured_references():
    if not DATA.is_dir():
        pytest.skip(f"reference data not found: {DATA}")
    for name, v in (("ref_NiO.txt", 2.0), ("ref_LiNiO2.txt", 3.0)):
        d = np.loadtxt(DATA / name)
        e, mu = d[:, 0] * 1000.0, d[:, 1]
        i = int(np.argmax(np.where(e < 8362, mu, -np.inf)))
        e_meas = _crossing(e, mu, 0.5, i)
        ef = np.arange(8320.0, 8362.0, 0.005)
        m = spectra.normalized_mu(ef, v)
        e_model = _crossing(ef, m, 0.5, int(np.argmax(m)))
        assert e_model == pytest.approx(e_meas, abs=0.15)
        # white line: height and position of the measured one (NiO 1.667 at 8347.5 eV,
        # LiNiO2 1.591 at 8349.5 eV; the model's single shape sits between the two)
        assert m.max() == pytest.approx(mu[i], abs=0.05)
        assert ef[np.argmax(m)] == pytest.approx(e[i], abs=0.5)
    d = np.loadtxt(DATA / "ref_NiO.txt")
    e, mu = d[:, 0] * 1000.0, d[:, 1]
    sel = (e > 8300) & (e < 8440)
    rms = np.sqrt(np.mean((spectra.normalized_mu(e[sel], 2.0) - mu[sel]) ** 2))
    assert rms < 0.04


def test_reference_spectra_are_spectra_with_valence():
    refs = spectra.reference_spectra()
    assert sorted(refs) == [0.0, 2.0, 3.0]
    edges = [_half_peak(refs[v].energy, refs[v].mu) for v in (0.0, 2.0, 3.0)]
    assert_allclose(edges, spectra.edge_energy([0.0, 2.0, 3.0]), atol=0.15)
    assert refs[2.0].valence == 2.0
    assert spectra.valence_from_edge(spectra.edge_energy(3.3)) == pytest.approx(3.3)
