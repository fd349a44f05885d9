"""Shared-shape edge fit (shift, scale and baseline of one template) against analytic truth."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.simulate import spectra as ss
from ptyxanes.xanes import FitOptions, Status, fit_spectra
from ptyxanes.xanes.batch import fit_template, template_edge
from ptyxanes.xanes.shape import MAX_SHIFT_EV, fit_shift, shape_and_slope, shifted_params

EW = np.arange(8325.0, 8371.0)
TEMPLATE = np.array([1.2, 8347.0, 3.0, 0.4, 8340.0, 4.0, 0.9, 8375.0, 20.0])


def _spectra(shift, scale, offset, tilt):
    f = shape_and_slope(EW[None, :] - np.asarray(shift)[:, None], TEMPLATE)[0]
    xc = (EW - EW.mean()) / 10.0
    return (np.asarray(scale)[:, None] * f + np.asarray(offset)[:, None]
            + np.asarray(tilt)[:, None] * xc)


def test_slope_is_the_derivative() -> None:
    x = np.linspace(8330, 8365, 50)
    f1, d = shape_and_slope(x, TEMPLATE)
    h = 1e-4
    num = (shape_and_slope(x + h, TEMPLATE)[0] - shape_and_slope(x - h, TEMPLATE)[0]) / (2 * h)
    np.testing.assert_allclose(d, num, atol=1e-6)
    step = np.r_[TEMPLATE, 0.3, 8345.0, 2.0]
    f2, d2 = shape_and_slope(x, step)
    num2 = (shape_and_slope(x + h, step)[0] - shape_and_slope(x - h, step)[0]) / (2 * h)
    np.testing.assert_allclose(d2, num2, atol=1e-6)
    assert np.all(f2 > f1)


def test_exact_parameters_are_recovered() -> None:
    rng = np.random.default_rng(0)
    n = 200
    truth = (rng.uniform(-4, 4, n), rng.uniform(0.7, 1.3, n), rng.uniform(-0.1, 0.1, n),
             rng.uniform(-0.02, 0.02, n))
    r = fit_shift(EW, _spectra(*truth), TEMPLATE)
    assert r.ok.all()
    np.testing.assert_allclose(r.shift, truth[0], atol=1e-5)
    np.testing.assert_allclose(r.scale, truth[1], atol=1e-5)
    np.testing.assert_allclose(r.offset, truth[2], atol=1e-5)
    np.testing.assert_allclose(r.tilt, truth[3], atol=1e-5)
    assert np.all(r.r2 > 0.999999)


def test_sigma_is_honest_for_white_noise() -> None:
    """(estimate - truth) / sigma has unit spread over many noise draws."""
    rng = np.random.default_rng(1)
    n = 4000
    shift = rng.uniform(-3, 3, n)
    y = _spectra(shift, np.ones(n), np.zeros(n), np.zeros(n))
    y = y + rng.normal(0, 0.03, y.shape)
    r = fit_shift(EW, y, TEMPLATE)
    assert r.ok.mean() > 0.99
    z = (r.shift - shift)[r.ok] / r.shift_sigma[r.ok]
    assert 0.93 < np.std(z) < 1.07
    assert abs(np.mean(z)) < 0.1


def test_bad_spectra_are_not_ok() -> None:
    y = _spectra([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    y[1, 5] = np.nan           # not finite
    y[2] = 0.2                 # flat: no edge to shift
    far = _spectra([MAX_SHIFT_EV + 8.0], [1.0], [0.0], [0.0])
    r = fit_shift(EW, np.vstack([y, far]), TEMPLATE)
    assert r.ok.tolist() == [True, False, False, False]
    assert np.isnan(r.shift[1])


def test_template_edge_moves_with_the_shift() -> None:
    opts = FitOptions()
    e0 = template_edge(TEMPLATE, opts)[0]
    e1 = template_edge(shifted_params(TEMPLATE, 2.5, 0.8), opts)[0]
    assert abs((e1 - e0) - 2.5) < 1e-3


def test_template_of_the_twin_model_matches_its_edge() -> None:
    e = np.r_[8270.0, 8285.0, 8300.0, EW, 8400.0, 8420.0]
    opts = FitOptions()
    tmpl = fit_template(e, ss.normalized_mu(e, 2.5), opts)
    # the template's half-height edge is the free fit's edge of the same spectrum
    from ptyxanes.xanes import fit_spectrum
    free = fit_spectrum(e, ss.normalized_mu(e, 2.5), options=FitOptions(shape="free"))
    assert abs(template_edge(tmpl, opts)[0] - free.edge_energy) < 0.05


def test_shared_map_falls_back_to_free_without_an_edge() -> None:
    """A map with no positive edge jump anywhere cannot give a shape: every pixel is masked."""
    e = np.r_[8270.0, 8285.0, 8300.0, EW, 8400.0, 8420.0]
    flat = np.full((4, 5, e.size), 0.3)
    r = fit_spectra(e, flat, threshold=None)
    assert r.options.shape == "free"
    assert np.all(r.status == Status.NO_EDGE)


@pytest.mark.parametrize("method", ["halfheight", "halfstep", "deriv"])
def test_methods_with_shared_shape_follow_the_truth(method) -> None:
    e = np.r_[8270.0, 8285.0, 8300.0, EW, 8400.0, 8420.0]
    v = np.linspace(2.0, 3.2, 30)
    mu = 0.3 + 0.4 * ss.normalized_mu(e, v)
    r = fit_spectra(e, mu, threshold=None, options=FitOptions(method=method))
    de = np.diff(r.edge_energy)
    np.testing.assert_allclose(de, ss.EDGE_SLOPE_EV_PER_VALENCE * np.diff(v), atol=0.02)


def test_shared_fit_is_independent_of_the_absorption_units() -> None:
    """A volume in 1/m (values ~1e5) gives the same valences as the same data in -ln|T|:
    the template is built from the sample's voxels whatever the units."""
    e = np.r_[8270.0, 8285.0, 8300.0, EW, 8400.0, 8420.0]
    rng = np.random.default_rng(4)
    v = rng.uniform(2.0, 3.2, (12, 14))
    inside = np.zeros(v.shape, bool)
    inside[2:10, 3:11] = True
    mu = 0.02 + np.where(inside, 0.3, 0.0)[..., None] * ss.normalized_mu(e, v)
    mu = mu + rng.normal(0, 0.003, mu.shape)
    a = fit_spectra(e, mu)
    b = fit_spectra(e, mu * 2.5e5)  # the same in 1/m of 4 um voxels... any scale
    assert np.array_equal(a.mask, b.mask) and a.mask[inside].mean() > 0.9
    np.testing.assert_allclose(a.template, b.template, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.edge_energy[a.mask], b.edge_energy[b.mask], atol=1e-5)
