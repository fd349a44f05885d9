"""ePIE/rPIE against known synthetic objects: accuracy, mixed states on fly scans, mask."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.progress import Cancelled, Control, run_sync
from ptyxanes.ptycho import (
    PtychoParams,
    group_positions,
    init_modes,
    orthogonalize_modes,
    reconstruct,
)
from ptyxanes.simulate import ptycho as sp

from .conftest import compare_to_truth

E = 8340.0


def _object(n=40):
    yy, xx = np.mgrid[:n, :n]
    amp = np.exp(-0.3 * ((np.sin(xx / 3.0) * np.cos(yy / 4.0)) > 0.2) - 0.1)
    ph = 0.8 * np.exp(-((yy - n / 2) ** 2 + (xx - 0.45 * n) ** 2) / 80.0)
    return (amp * np.exp(1j * ph)).astype(np.complex64)


def _scan(geometry, seed=1, photons=-1.0):
    rng = np.random.default_rng(seed)
    px = sp.object_pixel(E, geometry.window)
    t = _object()
    pos = sp.scan_for_object((40 * px, 40 * px), geometry, rng)
    mask = sp.bad_pixel_mask((geometry.window,) * 2, 30, rng)
    data, rec, probe = sp.simulate_scan(
        t, E, px, pos, geometry, rng=rng, mask=mask, photons=photons
    )
    truth, corners = sp.scan_frame(t, np.rint(rec / px), geometry.window)
    return data, corners, probe, truth, mask


def test_group_positions_disjoint():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 100, (200, 2))
    groups = group_positions(c, 12, rng)
    assert sorted(np.concatenate(groups).tolist()) == list(range(200))
    for g in groups:
        d = np.abs(c[g][:, None] - c[g][None])
        apart = (d[..., 0] >= 12) | (d[..., 1] >= 12)
        np.fill_diagonal(apart, True)
        assert apart.all()


def test_modes_orthogonal_and_power_kept():
    p = init_modes(sp.fzp_probe(E, 32, 150e-9, spot=1e-6), 4)
    flat = p.reshape(4, -1)
    gram = flat.conj() @ flat.T
    assert_allclose(np.abs(gram - np.diag(np.diag(gram))), 0, atol=1e-6 * np.abs(gram).max())
    q = orthogonalize_modes(p * np.array([1, 2, 0.5, 3])[:, None, None])
    assert_allclose(
        (np.abs(q) ** 2).sum(0),
        (np.abs(p * np.array([1, 2, 0.5, 3])[:, None, None]) ** 2).sum(0),
        rtol=1e-4,
        atol=1e-9,
    )


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["epie", "rpie"])
def test_raster_scan_recovers_object(algorithm):
    g = sp.with_geometry("tiny", fly=False)
    data, corners, probe, truth, mask = _scan(g)
    res = run_sync(
        reconstruct(
            data,
            corners,
            probe,
            obj_shape=truth.shape,
            mask=mask,
            params=PtychoParams(algorithm=algorithm, iterations=80),
        )
    )
    absorption, phase, n = compare_to_truth(res.object, truth, res.illumination)
    assert n > 1000
    assert absorption < 0.03
    assert phase < 0.05
    assert res.errors[-1] < 0.3 * res.errors[0]


def test_mask_pixels_keep_estimate():
    """Garbage in masked pixels must not matter when the mask is given."""
    g = sp.with_geometry("tiny", fly=False)
    data, corners, probe, truth, mask = _scan(g, seed=3)
    bad = data.astype(np.float32).copy()
    bad[:, mask] = 20 * float(data.max())  # hot pixels
    p = PtychoParams(iterations=30)
    masked = run_sync(reconstruct(bad, corners, probe, obj_shape=truth.shape, mask=mask, params=p))
    unmasked = run_sync(reconstruct(bad, corners, probe, obj_shape=truth.shape, params=p))
    a_m, ph_m, _ = compare_to_truth(masked.object, truth, masked.illumination)
    a_u, ph_u, _ = compare_to_truth(unmasked.object, truth, unmasked.illumination)
    assert ph_m < 0.15, (ph_m, ph_u)
    assert ph_u > 2 * ph_m, (ph_m, ph_u)


@pytest.mark.slow
def test_fly_scan_better_with_modes():
    """Motion blur is incoherent: 3 modes fit the fly-scan data better than 1.

    (On this tiny object the -ln|T| and phase errors of 1 and 3 modes are
    about equal; the Fourier error is what the modes reduce.)"""
    g = sp.with_geometry("tiny", fly=True, step=(0.3e-6, 0.6e-6), photons=1e7)
    data, corners, probe, truth, mask = _scan(g, seed=2)
    out = {}
    for k in (1, 3):
        res = run_sync(
            reconstruct(
                data,
                corners,
                probe,
                obj_shape=truth.shape,
                mask=mask,
                params=PtychoParams(iterations=60, modes=k),
            )
        )
        a, ph, _ = compare_to_truth(res.object, truth, res.illumination)
        out[k] = (res.errors[-1], a, ph)
    assert out[3][0] < 0.85 * out[1][0], out  # Fourier error
    assert out[3][2] < 1.2 * out[1][2], out  # phase no worse


def test_progress_preview_and_cancel():
    g = sp.with_geometry("tiny", fly=False, step=(0.6e-6, 0.6e-6))
    data, corners, probe, truth, mask = _scan(g)
    steps = []
    run_sync(
        reconstruct(
            data,
            corners,
            probe,
            obj_shape=truth.shape,
            params=PtychoParams(iterations=4, preview_every=2),
        ),
        steps.append,
    )
    assert [s.done for s in steps] == [1, 2, 3, 4]
    assert steps[1].preview["object"].shape == truth.shape and steps[0].preview is None
    c = Control()
    c.cancel()
    with pytest.raises(Cancelled):
        run_sync(reconstruct(data, corners, probe, control=c))


def test_bad_inputs():
    data = np.ones((3, 16, 16))
    with pytest.raises(ValueError, match="positions"):
        run_sync(reconstruct(data, np.zeros((2, 2)), np.ones((16, 16))))
    with pytest.raises(ValueError, match="leave"):
        run_sync(reconstruct(data, np.zeros((3, 2)) - 5, np.ones((16, 16)), obj_shape=(20, 20)))
    with pytest.raises(ValueError, match="algorithm"):
        run_sync(
            reconstruct(
                data, np.zeros((3, 2)), np.ones((16, 16)), params=PtychoParams(algorithm="dm")
            )
        )


@pytest.mark.slow
def test_position_refinement():
    """Positions off by up to 2 px: refinement moves them back and fixes the object."""
    g = sp.with_geometry("tiny", fly=False)
    data, corners, probe, truth, mask = _scan(g)
    rng = np.random.default_rng(5)
    wrong = corners + rng.integers(-2, 3, corners.shape)
    out = {}
    for refine in (False, True):
        p = PtychoParams(algorithm="rpie", iterations=60, refine_positions=refine, refine_start=10)
        r = run_sync(reconstruct(data, wrong, probe, obj_shape=truth.shape, mask=mask, params=p))
        out[refine] = (
            np.abs(r.positions - corners).mean(),
            compare_to_truth(r.object, truth, r.illumination)[1],
            r.errors[-1],
        )
    assert out[True][0] < 0.5 * out[False][0], out
    assert out[True][1] < 0.5 * out[False][1], out
    assert out[True][2] < 0.3 * out[False][2], out
