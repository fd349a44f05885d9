"""SIRT/FBP, centre finding and joint reprojection alignment against known truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from ptyxanes.backend import astra_has_cuda
from ptyxanes.progress import Cancelled, Control, run_sync
from ptyxanes.tomo import (
    align_tilt_series,
    fbp,
    find_rotation_center,
    normalize_flat_dark,
    parallel_projector,
    reconstruct_energy_series,
    sirt,
)

from .conftest import phantom, rotate_project

TOOTH = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "data"
    / "tomo_tomopy_tooth"
    / "tooth.h5"
)
ANGLES = np.linspace(0, 180, 60, endpoint=False)


def _rel_err(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_sirt_all_slices_matches_truth_and_reports_progress():
    vol = phantom()
    proj = rotate_project(vol, ANGLES)
    steps = []
    rec = run_sync(sirt(proj, ANGLES, iterations=60, chunk=20, backend="cpu"), steps.append)
    assert [s.done for s in steps] == [20, 40, 60]
    assert rec.shape == vol.shape and rec.min() >= 0
    # each step previews the middle plane of the current estimate; the last one is the result's
    assert [s.preview["iteration"] for s in steps] == [20, 40, 60]
    np.testing.assert_array_equal(steps[-1].preview["object"], rec[rec.shape[0] // 2])
    err = _rel_err(rec, vol)
    assert err < 0.2, err
    # more iterations fit better; an unconstrained run goes negative
    rec10 = run_sync(sirt(proj, ANGLES, iterations=10, backend="cpu"))
    assert _rel_err(rec10, vol) > err
    free = run_sync(sirt(proj, ANGLES, iterations=60, nonnegative=False, backend="cpu"))
    assert free.min() < 0


def test_sirt_per_slice_equals_all_slices():
    """All-slices SIRT gives ASTRA's 2D CPU SIRT slice by slice."""
    import astra

    vol = phantom(n=32, m=3, seed=1)
    pr = parallel_projector(ANGLES, 32)
    proj = pr.forward(vol)
    rec = run_sync(sirt(proj, ANGLES, iterations=30, backend="cpu"))
    vg = astra.create_vol_geom(32, 32)
    pg = astra.create_proj_geom("parallel", 1.0, 32, np.deg2rad(ANGLES))
    pid = astra.create_projector("linear", pg, vg)
    try:
        for r in range(3):
            sid = astra.data2d.create("-sino", pg, proj[:, r, :])
            rid = astra.data2d.create("-vol", vg, 0.0)
            cfg = astra.astra_dict("SIRT")
            cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
            cfg["option"] = {"MinConstraint": 0.0}
            aid = astra.algorithm.create(cfg)
            astra.algorithm.run(aid, 30)
            ref = astra.data2d.get(rid)
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])
            np.testing.assert_allclose(rec[:, r, :], ref, atol=2e-3 * ref.max())
    finally:
        astra.projector.delete(pid)


def test_sirt_cancel_and_finish_early():
    proj = rotate_project(phantom(n=24, m=2), ANGLES)
    c = Control()
    c.cancel()
    with pytest.raises(Cancelled):
        run_sync(sirt(proj, ANGLES, backend="cpu", control=c))
    c = Control()
    steps = []
    gen = sirt(proj, ANGLES, iterations=200, chunk=5, backend="cpu", control=c)

    def on(p):
        steps.append(p)
        c.finish_early.set()

    rec = run_sync(gen, on)
    assert len(steps) == 1 and rec.max() > 0


def test_fbp_and_centre_on_shifted_phantom():
    vol = phantom(n=48, m=4, seed=2)
    proj = rotate_project(vol, ANGLES)
    shifted = ndimage.shift(proj, (0, 0, 2.5), order=1)
    c = find_rotation_center(shifted, ANGLES)
    assert abs(c - (23.5 + 2.5)) < 0.3
    rec = fbp(shifted, ANGLES, center=c)
    assert _rel_err(rec, vol) < 0.35
    assert _rel_err(fbp(shifted, ANGLES), vol) > _rel_err(rec, vol) + 0.1


@pytest.mark.parametrize("given_center", [True, False])
def test_joint_reprojection_alignment_recovers_misalignment(given_center):
    vol = phantom(n=48, m=24, seed=0)
    proj = rotate_project(vol, ANGLES)
    rng = np.random.default_rng(7)
    mis = rng.uniform(-3, 3, (len(ANGLES), 2))
    mis -= mis.mean(axis=0)
    meas = np.stack(
        [ndimage.shift(p, s, order=3, mode="constant") for p, s in zip(proj, mis, strict=True)]
    )
    al = run_sync(align_tilt_series(meas, ANGLES, center=23.5 if given_center else None))
    err = al.shifts + mis  # shifts are corrections: ideally -mis
    err -= err.mean(axis=0)  # the common offset is the rotation axis / vertical gauge
    rms = float(np.sqrt(np.mean(err**2)))
    assert rms <= 0.5, rms
    assert abs(al.center - 23.5) < 1.5
    before = float(np.sqrt(np.mean((mis - mis.mean(0)) ** 2)))
    assert rms < before / 4


def test_energy_series_registered():
    vol = phantom(n=32, m=12, seed=3)
    ang = np.linspace(0, 180, 40, endpoint=False)
    p0 = rotate_project(vol, ang)
    p1 = 1.5 * ndimage.shift(p0, (0, 1.0, 0), order=1)  # whole volume 1 row lower, more absorbing
    res = run_sync(
        reconstruct_energy_series(np.stack([p0, p1]), ang, iterations=40, align=False, center=15.5)
    )
    assert res.registration is not None
    np.testing.assert_allclose(res.registration.shifts[1], [0, -1.0, 0], atol=0.15)
    ratio = res.volumes[1].sum() / res.volumes[0].sum()
    assert abs(ratio - 1.5) < 0.1


def _tooth():
    if not TOOTH.exists():
        pytest.skip(f"real data {TOOTH} not found")
    import h5py

    with h5py.File(TOOTH, "r") as f:
        data = f["exchange/data"][:]
        flat = f["exchange/data_white"][:]
        dark = f["exchange/data_dark"][:]
        theta = f["exchange/theta"][:]
    return normalize_flat_dark(data, flat, dark), theta


def test_tooth_centre_and_fbp():
    proj, theta = _tooth()
    c = find_rotation_center(proj, theta)
    assert abs(c - 296) <= 3, c
    b = 4  # bin columns 4x for speed
    pb = proj.reshape(proj.shape[0], proj.shape[1], -1, b).mean(-1)
    cb = (c - (b - 1) / 2) / b

    def negativity(center):
        v = fbp(pb, theta, center=center)
        return float(-v[v < 0].sum() / v[v > 0].sum()), v

    neg, vol = negativity(cb)
    assert neg < 0.03
    # a wrong axis (±2.5 binned px = ±10 px) leaves much more negative mass
    assert negativity(cb - 2.5)[0] > 2 * neg and negativity(cb + 2.5)[0] > 2 * neg
    # tooth positive, background (outside the reconstruction circle's object) near zero
    sl = vol[:, 0, :]
    inside = sl > 0.5 * np.percentile(sl, 99.5)
    inside = ndimage.binary_erosion(inside, iterations=2)
    outside = ~ndimage.binary_dilation(sl > 0.2 * np.percentile(sl, 99.5), iterations=6)
    assert inside.sum() > 100 and outside.sum() > 1000
    assert sl[inside].min() > 0
    assert abs(sl[outside].mean()) < 0.05 * sl[inside].mean()


@pytest.mark.slow
def test_tooth_sirt_positive():
    proj, theta = _tooth()
    b = 4
    pb = proj.reshape(proj.shape[0], proj.shape[1], -1, b).mean(-1)
    cb = (find_rotation_center(proj, theta) - (b - 1) / 2) / b
    rec = run_sync(sirt(pb, theta, iterations=100, center=cb, backend="cpu"))
    ref = fbp(pb, theta, center=cb)
    mask = ref > 0.5 * np.percentile(ref, 99.5)
    assert rec.min() >= 0
    # SIRT agrees with FBP inside the tooth within 20 %
    assert abs(rec[mask].mean() / ref[mask].mean() - 1) < 0.2


@pytest.mark.gpu
@pytest.mark.skipif(not astra_has_cuda(), reason="no CUDA GPU for ASTRA")
def test_sirt_cuda_matches_cpu():  # untested in this project's CI (no GPU)
    vol = phantom(n=32, m=8)
    proj = rotate_project(vol, ANGLES)
    cpu = run_sync(sirt(proj, ANGLES, iterations=50, backend="cpu"))
    gpu = run_sync(sirt(proj, ANGLES, iterations=50, backend="cuda"))
    assert _rel_err(gpu, cpu) < 0.05


def test_twin_tilt_series_alignment():
    """Digital twin (ptyxanes.simulate): per-projection misalignment recovered to ≤ 0.5 px RMS."""
    imaging = pytest.importorskip("ptyxanes.simulate.imaging")
    from ptyxanes.simulate.sample import make_sample

    sample = make_sample("tiny")
    ang = np.linspace(0, 180, 60, endpoint=False)
    rng = np.random.default_rng(0)
    mis = rng.uniform(-3, 3, (len(ang), 2))
    mis -= mis.mean(axis=0)
    st = imaging.tilt_series(sample, [8300.0], ang, shifts=mis)
    proj = -np.log(np.abs(np.asarray(st.data[0])))
    n = proj.shape[2]
    al = run_sync(align_tilt_series(proj, ang, center=(n - 1) / 2))
    err = al.shifts + mis
    err -= err.mean(axis=0)
    rms = float(np.sqrt(np.mean(err**2)))
    assert rms <= 0.5, rms


@pytest.mark.slow
def test_twin_energy_series_volumes():
    """Twin tilt series at two energies, misaligned: volumes match the truth in shape and edge jump."""
    imaging = pytest.importorskip("ptyxanes.simulate.imaging")
    from ptyxanes.simulate.optics import attenuation_coefficient
    from ptyxanes.simulate.sample import make_sample

    sample = make_sample("tiny")
    energies = np.array([8300.0, 8420.0])
    ang = np.linspace(0, 180, 60, endpoint=False)
    rng = np.random.default_rng(2)
    st = imaging.tilt_series(sample, energies, ang, shifts=rng.uniform(-2, 2, (2, len(ang), 2)))
    proj = -2 * np.log(np.abs(np.asarray(st.data)))  # ∫μ dl
    res = run_sync(reconstruct_energy_series(proj, ang, iterations=100))
    mu = res.volumes / sample.voxel_size
    inside = np.isfinite(sample.valence)
    truth = np.where(
        inside[..., None], attenuation_coefficient(energies, np.nan_to_num(sample.valence)), 0
    )
    # both energies: the reconstruction correlates with the truth (planes centred, best offset)
    p = inside.shape[0]
    for e in range(2):
        best = 0.0
        for off in range(mu.shape[1] - p + 1):
            sub = mu[e, off : off + p, : inside.shape[1] - 1, : inside.shape[2] - 1]
            t = truth[: sub.shape[0], : sub.shape[1], : sub.shape[2], e]
            best = max(best, float(np.corrcoef(sub.ravel(), t.ravel())[0, 1]))
        assert best > 0.85, (e, best)
    # the edge jump (ratio of the two energies) is kept
    ratio = mu[1][mu[0] > 0.5 * mu[0].max()].mean() / mu[0][mu[0] > 0.5 * mu[0].max()].mean()
    expected = truth[..., 1][inside].mean() / truth[..., 0][inside].mean()
    assert abs(ratio / expected - 1) < 0.1, (ratio, expected)
