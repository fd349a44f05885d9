"""Physics of the NMC811 refractive index model."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.simulate import optics, spectra


def test_beta_jumps_at_ni_edge_by_edge_jump_ratio():
    e = np.array([8300.0, 8500.0])  # XANES model: 0 below, 1 far above
    mu = optics.attenuation_coefficient(e, 2.3)
    w = optics.mass_fractions()
    scale = (e / optics.E_TAB) ** -optics.POWER
    bg = sum(w[k] * optics.MASS_ATT_CM2_G[k] for k in optics.MASS_ATT_CM2_G)
    expected = (bg + w["Ni"] * optics.NI_EDGE_JUMP_CM2_G) * scale[1] / (bg * scale[0])
    assert mu[1] / mu[0] == pytest.approx(expected, rel=0.02)
    # Ni alone: K-edge jump ratio (above/below) of about 8 (tabulated 7-9)
    ni_ratio = (optics.MASS_ATT_CM2_G["Ni"] + optics.NI_EDGE_JUMP_CM2_G) / optics.MASS_ATT_CM2_G["Ni"]
    assert 7.0 < ni_ratio < 9.0
    _, beta = optics.refractive_index(e, 2.3)
    lam = optics.wavelength(e)
    assert beta[1] / beta[0] == pytest.approx(mu[1] * lam[1] / (mu[0] * lam[0]), rel=1e-9)
    # bulk attenuation length above the edge of order 10 um (NMC811, 4.75 g/cm3)
    assert 5e-6 < 1.0 / mu[1] < 20e-6


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
