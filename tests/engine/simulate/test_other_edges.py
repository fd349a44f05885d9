"""A twin map at another element's K edge is fitted as accurately as the Ni K-edge one."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.simulate import optics
from ptyxanes.simulate import spectra as ss
from ptyxanes.xanes import FitOptions, Status, calibrate_references, fit_spectra

E51 = np.r_[8270.0, 8285.0, 8300.0, np.arange(8325.0, 8371.0), 8400.0, 8420.0]


def _twin_map(edge: str, material: str, rng: np.random.Generator):
    """Complex transmission of a 1-4 um thick cathode field through the optics model."""
    e = E51 + ss.edge_offset(edge)
    yy, xx = np.mgrid[:32, :32]
    v = 2.0 + xx / 31.0
    thick = 1.0e-6 + 3.0e-6 * (0.5 + 0.5 * np.sin(yy / 6.0) * np.cos(xx / 8.0))
    delta, beta = optics.refractive_index(e, v, edge=edge, material=material)
    k = 2 * np.pi / optics.wavelength(e)
    t = np.exp((-1j * delta - beta) * k * thick[..., None])
    t = t * (1 + rng.normal(0, 0.002, t.shape))  # 0.2 % noise on |T|
    return e, t, v


@pytest.mark.slow
@pytest.mark.parametrize(("edge", "material"), [("Co-K", "LiCoO2"), ("Mn-K", "LiMn2O4")])
def test_other_k_edge_twin_as_accurate_as_ni(edge: str, material: str) -> None:
    rng = np.random.default_rng(11)
    maes = {}
    for ed, mat in (("Ni-K", "NMC811"), (edge, material)):
        e, t, v = _twin_map(ed, mat, rng)
        opts = FitOptions.for_edge(ed)
        refs = ss.reference_spectra(edge=ed)
        cal = calibrate_references([refs[2.0], refs[3.0]], energy=e, options=opts)
        r = fit_spectra(e, t, kind="complex", options=opts, calibration=cal)
        ok = r.status == Status.OK
        assert ok.mean() > 0.97, (ed, ok.mean())
        maes[ed] = float(np.mean(np.abs(r.valence[ok] - v[ok])))
        assert abs(cal.slope - ss.EDGE_SLOPE_EV_PER_VALENCE) < 0.05
    assert maes[edge] <= 0.05, maes
    assert maes[edge] <= maes["Ni-K"] + 0.02, maes
