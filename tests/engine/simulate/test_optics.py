"""Physics of the NMC811 refractive index model."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.simulate import optics, spectra


def test_beta_jumps_at_ni_edge_by_edge_jump_ratio():
    import xraydb

    e = np.array([8300.0, 8500.0])  # XANES model: 0 below, 1 far above
    mu = optics.attenuation_coefficient(e, 2.3)
    w = optics.mass_fractions()
    # the material's mu/rho (cm^2/g) is the mass-weighted sum of the tables' values (xraydb)
    tab = sum(w[k] * np.asarray(xraydb.mu_elam(k, e)) for k in w)
    assert_allclose(mu / (optics.DENSITY_G_CM3 * 100.0), tab, rtol=0.02)
    # Ni alone: the K-edge jump ratio (above/below) of the tables
    below, jump = optics.absorber_mass_attenuation([8333.0])
    ratio = float((below[0] + jump[0]) / below[0])
    assert ratio == pytest.approx(xraydb.xray_edge("Ni", "K").jump_ratio, rel=0.05)
    _, beta = optics.refractive_index(e, 2.3)
    lam = optics.wavelength(e)
    assert beta[1] / beta[0] == pytest.approx(mu[1] * lam[1] / (mu[0] * lam[0]), rel=1e-9)
    # bulk attenuation length above the edge of order 10 um (NMC811, 4.75 g/cm3)
    assert 5e-6 < 1.0 / mu[1] < 20e-6


@pytest.mark.parametrize(("edge", "material"), [("Co-K", "LiCoO2"), ("Mn-K", "LiMn2O4")])
def test_other_k_edges_follow_their_tables(edge, material):
    from ptyxanes.xanes.edges import edge_spec

    e0 = edge_spec(edge).energy
    e = np.arange(e0 - 30.0, e0 + 60.0, 0.25)
    _, b2 = optics.refractive_index(e, 2.0, edge=edge, material=material)
    _, b3 = optics.refractive_index(e, 3.0, edge=edge, material=material)
    level = 0.5 * (b2[0] + b2.max())
    e2 = e[np.nonzero(b2 >= level)[0][0]]
    e3 = e[np.nonzero(b3 >= level)[0][0]]
    assert e3 - e2 == pytest.approx(spectra.EDGE_SLOPE_EV_PER_VALENCE, abs=0.3)
    assert abs(e2 - spectra.edge_energy(2.0, edge)) < 8.0
    d, _ = optics.refractive_index([e0 - 100.0], 2.0, edge=edge, material=material)
    assert 5e-6 < float(d[0]) < 5e-5


def test_beta_follows_xanes_edge_shift():
    e = np.arange(8330.0, 8352.0, 0.01)
    _, b2 = optics.refractive_index(e, 2.0)
    _, b3 = optics.refractive_index(e, 3.0)
    level = 0.5 * (b2[0] + b2.max())
    e2 = e[np.nonzero(b2 < level)[0][-1]]
    e3 = e[np.nonzero(b3 < level)[0][-1]]
    assert e3 - e2 == pytest.approx(spectra.EDGE_SLOPE_EV_PER_VALENCE, abs=0.1)


def test_delta_from_electron_density_and_anomalous_dip():
    # far from the edge delta ~ r_e lambda^2 n_e / 2 pi with n_e of NMC811
    d, _ = optics.refractive_index([8150.0], 2.0)
    mm = sum(n * m for n, _, m in optics.NMC811.values())
    ne = 4.75e3 / (mm * 1e-3) * optics.N_A * 46.6
    lam = optics.wavelength(8150.0)
    free = optics.R_E * lam**2 * ne / (2 * np.pi)
    assert d[0] < free  # f' < 0 below the edge
    assert d[0] == pytest.approx(free, rel=0.08)
    # f' of Ni dips to several electrons negative at the edge, minimum near the edge energy
    e = np.arange(8320.0, 8365.0, 0.25)
    for v in (2.0, 3.0):
        f1 = optics.ni_f1_anomalous(e, v)
        assert -12.0 < f1.min() < -5.0
        assert abs(e[np.argmin(f1)] - spectra.edge_energy(v)) < 3.0


def test_energy_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="energies"):
        optics.refractive_index([9500.0], 2.0)
