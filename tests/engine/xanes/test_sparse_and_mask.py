"""Sparse energy sampling, the background-free sample mask and model-based spikes (twin truth)."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.simulate import spectra as ss
from ptyxanes.xanes import FitOptions, Status, calibrate_references, fit_spectra, fit_spectrum

PRE_POST = (np.array([8270.0, 8285.0, 8300.0]), np.array([8400.0, 8420.0]))


def _sparse_energies(n: int) -> np.ndarray:
    return np.r_[PRE_POST[0], np.linspace(8333.0, 8362.0, n), PRE_POST[1]]


@pytest.mark.parametrize(("n", "max_mae"), [(6, 0.06), (8, 0.06), (10, 0.05)])
def test_sparse_energies_default_and_lcf(n: int, max_mae: float) -> None:
    """6, 8 and 10 energies in the edge window: the shape comes from the dense references."""
    rng = np.random.default_rng(n)
    v = rng.uniform(2.0, 3.0, (30, 30))
    e = _sparse_energies(n)
    mu = 0.4 + 0.2 * ss.normalized_mu(e, v)
    t = np.exp(-mu) * (1 + rng.normal(0, 0.002, mu.shape))
    refs = ss.reference_spectra()
    for method in ("auto", "lcf"):
        opts = FitOptions(method=method)
        cal = calibrate_references([refs[2.0], refs[3.0]], energy=e, options=opts)
        r = fit_spectra(e, t, kind="modulus", calibration=cal, options=opts)
        ok = r.status == Status.OK
        assert ok.mean() > 0.98, method
        mae = float(np.mean(np.abs(r.valence[ok] - v[ok])))
        assert mae <= max_mae, (method, mae)
        # sigma grows as energies are removed but stays a usable number
        assert 0.005 < float(np.median(r.valence_sigma[ok])) < 0.1


def test_too_few_energies_are_refused_with_the_minimum() -> None:
    e = np.r_[PRE_POST[0], 8340.0, 8350.0, PRE_POST[1]]
    refs = ss.reference_spectra()
    opts = FitOptions(method="lcf")
    cal = calibrate_references([refs[2.0], refs[3.0]], energy=e, options=opts)
    with pytest.raises(ValueError, match=r"only 2 energies .* needs at least 3"):
        fit_spectra(e, 0.1 + 0.3 * ss.normalized_mu(e, np.full((3,), 2.5)), calibration=cal,
                    options=opts)


def _field(rng: np.random.Generator, m: int = 40, n: int = 40):
    """A full-field map inside a particle: thickness and valence vary, no empty pixel."""
    yy, xx = np.mgrid[:m, :n]
    v = 2.0 + 0.9 * (xx / n) + 0.1 * np.sin(yy / 5.0)
    jump = 0.05 + 0.25 * (0.5 + 0.5 * np.cos(xx / 7.0) * np.cos(yy / 9.0))
    return v, jump


def test_full_field_map_keeps_every_pixel_and_accuracy() -> None:
    """No background: every pixel is sample, fitted with the MAE of a map with background."""
    rng = np.random.default_rng(7)
    e = np.r_[8270.0, 8285.0, 8300.0, np.arange(8325.0, 8371.0), 8400.0, 8420.0]
    v, jump = _field(rng)
    refs = ss.reference_spectra()
    cal = calibrate_references([refs[2.0], refs[3.0]], energy=e)
    mu = 0.3 + jump[..., None] * ss.normalized_mu(e, v)
    t_full = np.exp(-mu) * (1 + rng.normal(0, 0.002, mu.shape))
    full = fit_spectra(e, t_full, kind="modulus", calibration=cal)
    assert full.mask.all()  # edge jumps 0.05-0.3 at 0.002 noise: all clearly sample
    assert (full.status == Status.OK).mean() >= 0.99
    mae_full = float(np.nanmean(np.abs(full.valence - v)))
    # the same field surrounded by empty background (rows of no sample)
    pad = np.concatenate([np.exp(-0.3 * np.ones((20,) + t_full.shape[1:]))
                          * (1 + rng.normal(0, 0.002, (20,) + t_full.shape[1:])), t_full])
    bg = fit_spectra(e, pad, kind="modulus", calibration=cal)
    assert bg.mask[:20].mean() < 0.01  # the empty rows are not sample
    assert (bg.status[20:] == Status.OK).mean() >= 0.99
    mae_bg = float(np.nanmean(np.abs(bg.valence[20:] - v)))
    assert mae_full <= 0.05 and abs(mae_full - mae_bg) < 0.01, (mae_full, mae_bg)


def test_white_lines_are_not_spikes_and_spikes_are() -> None:
    """Spikes are judged against the fitted model: a sharp real white line is not one."""
    e = np.arange(8325.0, 8371.0, 0.5)
    e = np.r_[8270.0, 8285.0, 8300.0, e, 8400.0, 8420.0]
    sharp = ss.normalized_mu(e, 2.0) + 1.2 * np.exp(-0.5 * ((e - 8348.0) / 0.9) ** 2)
    f = fit_spectrum(e, 0.2 + 0.3 * sharp, options=FitOptions(shape="free"))
    assert f.status != Status.SPIKE
    spiked = sharp.copy()
    spiked[np.argmin(np.abs(e - 8360.0))] += 1.0
    g = fit_spectrum(e, 0.2 + 0.3 * spiked, options=FitOptions(shape="free"))
    assert g.status == Status.SPIKE
