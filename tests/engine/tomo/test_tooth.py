"""Real slice sizes and safety: matrix-free projector, the real tooth end to end, refusals."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import ndimage

from ptyxanes.cli import main
from ptyxanes.io.dxchange import read_dxchange
from ptyxanes.io.nexus import read_stack
from ptyxanes.progress import run_sync
from ptyxanes.tomo import (
    align_tilt_series,
    center_projections,
    find_rotation_center,
    parallel_projector,
    reconstruct_energy_series,
    sirt,
)
from ptyxanes.tomo.alignment import TiltAlignment

from .conftest import phantom, rotate_project
from .independent import independent_fbp

TOOTH = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "tomo_tomopy_tooth" / "tooth.h5"


@pytest.mark.parametrize(
    "angles",
    [
        np.array([0.0, 45.0, 90.0, 135.0, 30.0, 60.0, 120.0, 200.0, 300.0]),
        np.linspace(0, 180, 23, endpoint=False) + 3,
    ],
)
@pytest.mark.parametrize("n", [16, 17])
@pytest.mark.parametrize("m", [1, 2, 5])
def test_matrix_free_projector_is_astras_matrix(angles, n, m):
    """The matrix-free projector applies ASTRA's own 'linear' matrix W and its transpose.

    Up to FEW_SLICES slices (1, 2) it traces image lines per slice; with more (5), rays.
    """
    mat = parallel_projector(angles, n, strategy="matrix")
    free = parallel_projector(angles, n, strategy="joseph")
    assert mat.strategy == "matrix" and free.strategy == "joseph" and free.matrix is None
    w = mat.matrix.toarray()
    rng = np.random.default_rng(n)
    x = rng.random((n * n, m)).astype(np.float32)
    y = rng.random((len(angles) * n, m)).astype(np.float32)
    np.testing.assert_allclose(free.forward_flat(x), w @ x, atol=1e-5 * np.abs(w @ x).max())
    np.testing.assert_allclose(free.back_flat(y), w.T @ y, atol=1e-5 * np.abs(w.T @ y).max())
    np.testing.assert_allclose(free.row_sums(), w.sum(1), rtol=1e-5, atol=1e-5)


def test_projector_strategy_by_size():
    small = parallel_projector(np.linspace(0, 180, 60, endpoint=False), 32)
    assert small.strategy == "matrix"
    # 640 columns x 181 angles: the matrix would need 2.2 GB; matrix-free, built instantly
    big = parallel_projector(np.linspace(0, 180, 181, endpoint=False), 640)
    assert big.strategy == "joseph" and big.matrix is None


def test_sirt_matrix_free_equals_matrix():
    ang = np.linspace(0, 180, 50, endpoint=False)
    vol = phantom(n=32, m=3, seed=5)
    proj = rotate_project(vol, ang)
    a = run_sync(sirt(proj, ang, iterations=40, backend="cpu", projector="matrix"))
    b = run_sync(sirt(proj, ang, iterations=40, backend="cpu", projector="joseph"))
    np.testing.assert_allclose(b, a, atol=1e-4 * a.max())


def test_centre_found_without_alignment():
    ang = np.linspace(0, 180, 60, endpoint=False)
    vol = phantom(n=48, m=4, seed=2)
    proj = ndimage.shift(rotate_project(vol, ang), (0, 0, -3.0), order=1)
    res = run_sync(reconstruct_energy_series(proj[None], ang, algorithm="fbp", align=False))
    assert abs(res.attrs["centers"][0] - (23.5 - 3.0)) < 0.3
    # the slice is right, not doubled: it matches the truth as well as with the true centre
    given = run_sync(
        reconstruct_energy_series(proj[None], ang, algorithm="fbp", align=False, center=20.5)
    )
    err = np.linalg.norm(res.volumes - given.volumes) / np.linalg.norm(given.volumes)
    assert err < 0.05, err


def test_few_rows_skip_vertical_alignment_and_keep_mass():
    """Two-row projections: the vertical alignment is skipped with a note; nothing leaves the field."""
    ang = np.linspace(0, 180, 60, endpoint=False)
    vol = phantom(n=48, m=2, seed=1)
    proj = rotate_project(vol, ang)
    al = run_sync(align_tilt_series(proj, ang, max_outer=10, tolerance=0.0))
    assert any("vertical alignment skipped" in n for n in al.attrs["notes"])
    assert len(al.history) == 3  # few rows: at most FEW_ROWS_MAX_ROUNDS rounds
    assert np.all(al.shifts[:, 0] == 0)
    assert al.attrs["mass_kept"] > 0.95
    assert abs(al.center - 23.5) < 1.0


@pytest.mark.slow
def test_twin_sample_near_the_detector_edge_keeps_its_mass():
    """Centring pads the detector: a twin sample reaching past (N-1)/2 from the axis is not cut.

    Two rows of the digital twin's sample (true μ at 8300 eV, per voxel) sit off the axis,
    towards a corner of the N × N slice; the detector (96 columns) holds all of it at every
    angle, but with the axis 9 px off its centre, so shifting without padding would cut the
    sample's projections near the detector edge.
    """
    from ptyxanes.simulate.optics import attenuation_coefficient
    from ptyxanes.simulate.sample import make_sample

    sample = make_sample("tiny")
    v = sample.valence[:, 26:28, :]
    mu = np.where(np.isfinite(v), attenuation_coefficient(np.array([8300.0]), np.nan_to_num(v))[..., 0],
                  0.0) * sample.voxel_size
    w, h = 160, 79.5  # a wide field around the axis, for the independent projection
    big = np.zeros((w, 2, w), np.float32)
    cz, cx = np.argwhere(mu.sum(axis=1) > 0).mean(axis=0)
    z0, x0 = int(round(h + 37 - cz)), int(round(h - 27 - cx))  # centre 37 planes, -27 cols off
    big[z0 : z0 + mu.shape[0], :, x0 : x0 + mu.shape[2]] = mu
    truth = float(big.sum())
    ang = np.linspace(0, 180, 60, endpoint=False)
    lo, n = 23, 96
    det = rotate_project(big, ang)[:, :, lo : lo + n]
    axis = h - lo  # 56.5: 9 px right of the detector centre 47.5
    # the detector holds the whole sample at every angle ...
    np.testing.assert_allclose(det.sum(axis=(1, 2)), truth, rtol=5e-3)
    # ... but a shift without padding would cut it near the edge
    cut = ndimage.shift(det, (0, 0, (n - 1) / 2 - axis), order=1, mode="constant")
    assert cut.sum(axis=(1, 2)).min() < 0.97 * truth
    centred = center_projections(det, axis)
    assert centred.shape == (60, 2, n + 18)
    np.testing.assert_allclose(centred.sum(axis=(1, 2)), det.sum(axis=(1, 2)), rtol=1e-5)
    # the reconstructions hold the true mass, and the sample where it is
    inner = big[int(h - (n - 1) / 2) :][:n, :, int(h - (n - 1) / 2) :][:, :, :n]
    assert abs(inner.sum() / truth - 1) < 1e-6  # the sample is inside the N x N slice
    rec = run_sync(sirt(det, ang, iterations=40, center=axis, backend="cpu"))
    assert rec.shape == (n, 2, n)
    assert abs(rec.sum() / truth - 1) < 0.02, rec.sum() / truth
    assert float(np.corrcoef(rec.ravel(), inner.ravel())[0, 1]) > 0.9


def _write_small_dxchange(path, n=32, m=2, count=40, shift=0.0):
    ang = np.linspace(0, 180, count, endpoint=False)
    vol = phantom(n=n, m=m, seed=6) * 0.05
    p = ndimage.shift(rotate_project(vol, ang), (0, 0, shift), order=1)
    flat, dark = 4000.0, 100.0
    data = dark + (flat - dark) * np.exp(-p)  # intensity transmission exp(-∫μ)
    with h5py.File(path, "w") as f:
        f.create_dataset("implements", data="exchange")
        f["exchange/data"] = data.astype(np.float32)
        f["exchange/data_white"] = np.full((3, m, n), flat, np.float32)
        f["exchange/data_dark"] = np.full((3, m, n), dark, np.float32)
        f["exchange/theta"] = ang
    return vol, ang


def test_cli_reads_dxchange_and_reports_centre(tmp_path, capsys):
    src = tmp_path / "raw.h5"
    vol, _ = _write_small_dxchange(src, shift=-2.0)
    out = tmp_path / "vol.h5"
    code = main(["tomo", str(src), "-o", str(out), "--no-align", "--iterations", "80", "-q",
                 "--pixel-size", "1e-6", "--energy", "8000"])
    assert code == 0
    text = capsys.readouterr().out
    assert "rotation axis 13.50 px (column, found from the data)" in text
    st = read_stack(out, lazy=False)
    mu = np.asarray(st.data[0]) * 1e-6  # back to attenuation per voxel
    assert st.energy[0] == 8000.0 and st.pixel_size[0] == 1e-6
    inside = vol > 0.5 * vol.max()
    assert abs(mu[inside].mean() / vol[inside].mean() - 1) < 0.25


def test_cli_forced_bad_alignment_is_an_error_not_a_file(tmp_path, monkeypatch, capsys):
    src = tmp_path / "raw.h5"
    _write_small_dxchange(src)
    out = tmp_path / "vol.h5"

    def bad_alignment(proj, angles, **kw):
        shifts = np.zeros((len(angles), 2))
        shifts[:, 0] = 5.0  # every projection pushed 5 rows down: out of a 2-row field
        return TiltAlignment(shifts, 15.5, np.zeros((0, 2, 0), np.float32), np.zeros(1), True)
        yield  # pragma: no cover - a generator like the real one

    monkeypatch.setattr("ptyxanes.tomo.series.align_tilt_series", bad_alignment)
    code = main(["tomo", str(src), "-o", str(out), "--iterations", "5", "-q"])
    assert code == 1
    assert "out of the field" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def test_cli_empty_volume_is_an_error_not_a_file(tmp_path, monkeypatch, capsys):
    src = tmp_path / "raw.h5"
    _write_small_dxchange(src)
    out = tmp_path / "vol.h5"

    def zero_sirt(proj, angles, **kw):
        return np.zeros((proj.shape[2], proj.shape[1], proj.shape[2]), np.float32)
        yield  # pragma: no cover

    monkeypatch.setattr("ptyxanes.tomo.series.sirt", zero_sirt)
    assert main(["tomo", str(src), "-o", str(out), "--no-align", "-q"]) == 1
    assert "all zero" in capsys.readouterr().err
    assert not out.exists()

    def nan_sirt(proj, angles, **kw):
        return np.full((proj.shape[2], proj.shape[1], proj.shape[2]), np.nan, np.float32)
        yield  # pragma: no cover

    monkeypatch.setattr("ptyxanes.tomo.series.sirt", nan_sirt)
    assert main(["tomo", str(src), "-o", str(out), "--no-align", "-q"]) == 1
    assert "NaN" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_tooth_cli_as_shipped_matches_independent_fbp(tmp_path, capsys):
    """`ptyxanes tomo tooth.h5` with its defaults on the real file: centre 296 ± 1 px, slice ≈ FBP.

    The defaults align (horizontally: 2 rows) and reconstruct by ``--algorithm auto``, which on
    these wide slices is SIRT started from the FBP; the slice is compared with a filtered
    back-projection written in the test at the centre found from the data.
    """
    if not TOOTH.exists():
        pytest.skip(f"real data {TOOTH} not found")
    st = read_dxchange(TOOTH)
    proj = 2 * st.data[0]  # ∫μ dl = −ln T
    centre = find_rotation_center(proj, st.angle)
    assert abs(centre - 296) <= 1, centre
    out = tmp_path / "tooth_vol.h5"
    code = main(["tomo", str(TOOTH), "-o", str(out), "-q"])
    assert code == 0
    text = capsys.readouterr().out
    found = float(text.split("rotation axis ")[1].split(" px")[0])
    assert abs(found - 296) <= 1, found
    assert "reconstruction: FBP + SIRT" in text
    vol = np.asarray(read_stack(out, lazy=False).data[0])  # per voxel (no pixel size in file)
    assert vol.shape == (640, 2, 640) and vol.min() >= 0
    ref = independent_fbp(proj[:, 0, :], st.angle, centre)
    sl = vol[:, 0, :]
    r = float(np.corrcoef(sl.ravel(), ref.ravel())[0, 1])
    assert r >= 0.95, r
    # an FBP with the axis at the detector centre (319.5 px, doubled edges) matches far worse
    off = independent_fbp(proj[:, 0, :], st.angle, 319.5)
    assert float(np.corrcoef(sl.ravel(), off.ravel())[0, 1]) < r - 0.1
