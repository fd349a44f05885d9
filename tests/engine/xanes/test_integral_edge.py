"""The integral edge (mean energy of the rise): analytic cases, the twin, real Ni oxides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptyxanes.simulate import spectra as ss
from ptyxanes.xanes import FitOptions, Status, calibrate_references, fit_spectra, fit_spectrum
from ptyxanes.xanes.integral import integral_edge

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
E51 = np.r_[8270.0, 8285.0, 8300.0, np.arange(8325.0, 8371.0), 8400.0, 8420.0]


def test_integral_edge_of_analytic_rises() -> None:
    """A linear rise is read at its mid level; a rigid shift moves the edge by the shift."""
    e = np.arange(8320.0, 8380.0, 0.7)
    lin = np.clip((e - 8340.0) / 12.0, 0, None)
    # levels 0.15 and 1.0 are crossed at 8341.8 and 8352 eV: their mean is the edge (the
    # trapezoid rule cuts the kink at 0.15 between two energies: 0.01 eV)
    assert integral_edge(e, lin)[0] == pytest.approx(0.5 * (8341.8 + 8352.0), abs=0.01)

    def white_line(x):
        return 1 + np.tanh((x - 8343) / 3) + 0.8 * np.exp(-0.5 * ((x - 8350) / 2.5) ** 2)

    fine = np.arange(8320.0, 8380.0, 0.05)
    base = white_line(8300.0)
    shift = integral_edge(fine, white_line(fine - 2.3) - base)[0] \
        - integral_edge(fine, white_line(fine) - base)[0]
    assert shift == pytest.approx(2.3, abs=1e-3)
    # no rise through 1.0 inside the energies, or a rise already under way: no edge
    ed, _, inside = integral_edge(e, np.stack([0.5 * lin.clip(0, 1), lin + 0.2]))
    assert not inside.any() and np.isnan(ed).all()


def test_integral_method_on_twin_spectra_accurate_with_honest_sigma() -> None:
    """Twin spectra at 0.2 % noise on |T|: MAE and the spread of (estimate - truth)/σ.

    No background slope here: the integral edge reads absolute levels of the
    normalised spectrum, so an edge-jump error moves it (docs/xanes.md, 0.2).
    """
    rng = np.random.default_rng(3)
    v = rng.uniform(2.0, 3.2, (40, 50))
    mu = 0.4 + 0.2 * ss.normalized_mu(E51, v)
    t = np.exp(-mu) * (1 + rng.normal(0, 0.002, mu.shape))
    opts = FitOptions(method="integral")
    refs = ss.reference_spectra()
    cal = calibrate_references([refs[2.0], refs[3.0]], energy=E51, options=opts)
    r = fit_spectra(E51, t, kind="modulus", calibration=cal, options=opts, threshold=None)
    ok = r.status == Status.OK
    assert ok.mean() > 0.98
    err = r.valence[ok] - v[ok]
    assert np.mean(np.abs(err)) <= 0.1, np.mean(np.abs(err))
    assert abs(np.mean(err)) <= 0.03, np.mean(err)
    z = np.std(err / r.valence_sigma[ok])
    assert 0.6 <= z <= 1.4, z
    assert 0.7 <= np.std(err / r.valence_sigma[ok]) <= 1.3
    # the single-spectrum fit (inspector) gives the map's number
    f = fit_spectrum(E51, t[5, 7], kind="modulus", options=opts, calibration=cal)
    assert f.method == "integral" and f.status == Status.OK
    assert f.valence == pytest.approx(float(r.valence[5, 7]), abs=1e-4)


def test_integral_method_on_real_lisa_oxides() -> None:
    """LISA NiO (2), LaNiO3 (3) and NiFe2O4 (2) measured against LISA NiO/LaNiO3 edges.

    The references are the same files, so NiO and LaNiO3 read their valences; the
    independent check is NiFe2O4, a second Ni2+ oxide (inverse spinel): it reads
    2 within 0.15 with the rise-only edge.
    """
    from ptyxanes.io.spectra import read_spectrum
    from ptyxanes.xanes.energy import calibrate_reference_energy

    lisa = DATA / "ni_kedge_lisa_esrf"
    if not lisa.exists():
        pytest.skip(f"{lisa} not found")
    sp = {n: calibrate_reference_energy(read_spectrum(lisa / f, column="mutrans",
                                                      valence=v))[0]
          for n, f, v in (("NiO", "NiO_111.xdi", 2.0), ("LaNiO3", "LaNiO3_Ni_80K_111.xdi", 3.0),
                          ("NiFe2O4", "NiFe2O4_Ni_80K_111.xdi", 2.0))}
    opts = FitOptions(method="integral")
    cal = calibrate_references([sp["NiO"], sp["LaNiO3"]], energy=E51, options=opts)
    # independent of any model: the edge moves 2.5 eV per valence between the two oxides
    assert 2.0 < cal.slope < 3.0, cal.slope

    def on(s):
        e, i = np.unique(np.round(s.energy, 2), return_index=True)
        return np.interp(E51, e, np.asarray(s.mu)[i])

    r = fit_spectra(E51, np.stack([on(sp[k]) for k in ("NiO", "LaNiO3", "NiFe2O4")]),
                    calibration=cal, options=opts, threshold=None)
    assert np.all(r.status == Status.OK)
    assert np.allclose(r.valence, [2.0, 3.0, 2.0], atol=0.15), r.valence
