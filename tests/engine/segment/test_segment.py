"""ptyxanes.segment against analytic volumes and the digital twin's ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.progress import Cancelled, Control, Progress, run_sync
from ptyxanes.segment import (
    axis_angle_deg,
    crystal_table,
    crystal_table_gen,
    label_crystals,
    remove_small_islands,
    slab_normal,
    threshold_labels,
)


def _slab_volume(normal, shape=(40, 40, 40), radius=16.0, offsets=(-6.0, 5.0), thick=1.5, seed=0):
    """Sphere of valence 2.6 with parallel >Ni3+ slabs (valence 3.3) of a known normal."""
    rng = np.random.default_rng(seed)
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    grid = np.stack(np.meshgrid(*[np.arange(s) - (s - 1) / 2 for s in shape], indexing="ij"), -1)
    inside = np.linalg.norm(grid, axis=-1) < radius
    along = grid @ n
    slabs = np.zeros(shape, bool)
    for o in offsets:
        slabs |= np.abs(along - o) < thick / 2
    slabs &= inside
    v = np.where(inside, 2.6 + 0.02 * rng.standard_normal(shape), np.nan)
    v[slabs] = 3.3
    return v, inside, slabs, n


def test_threshold_labels_matches_valence_and_ignores_nan():
    v, inside, slabs, _ = _slab_volume([1, 1, 0])
    lab = threshold_labels(v, 3.0)
    assert lab.dtype == np.uint8
    with np.errstate(invalid="ignore"):
        assert np.array_equal(lab == 1, v > 3.0)
    assert np.array_equal(lab == 1, slabs)
    half = np.zeros_like(inside)
    half[:20] = True
    assert not threshold_labels(v, 3.0, mask=half)[20:].any()
    with pytest.raises(ValueError, match="mask shape"):
        threshold_labels(v, 3.0, mask=half[0])


@pytest.mark.parametrize("normal", [[1, 0, 0], [0, 1, 1], [1, 2, 3], [0.3, -0.8, 0.5]])
def test_slab_normal_recovers_known_normal(normal):
    _, _, slabs, n = _slab_volume(normal)
    est, flat = slab_normal(slabs)
    assert axis_angle_deg(est, n) < 3.0
    assert flat > 0.8
    assert_allclose(np.linalg.norm(est), 1.0)


def test_slab_normal_2d_and_empty():
    m = np.zeros((30, 30), bool)
    r, c = np.mgrid[:30, :30]
    m[np.abs((r - 15) * 0.6 + (c - 15) * 0.8) < 0.7] = True  # line with normal (0.6, 0.8)
    est, _ = slab_normal(m)
    assert axis_angle_deg(est, [0.6, 0.8]) < 3.0
    est, flat = slab_normal(np.zeros((5, 5), bool))
    assert np.isnan(est).all() and np.isnan(flat)


def test_remove_small_islands_per_label():
    a = np.zeros((20, 20, 20), np.uint8)
    a[2:8, 2:8, 2:8] = 1  # 216 voxels
    a[15, 15, 15] = 1  # island of 1
    a[12:14, 2:4, 2:4] = 2  # 8 voxels of label 2
    a[18, 2, 2] = 2
    out = remove_small_islands(a, 5)
    assert out.dtype == a.dtype
    assert out[15, 15, 15] == 0 and out[18, 2, 2] == 0
    assert (out == 1).sum() == 216 and (out == 2).sum() == 8
    assert np.array_equal(remove_small_islands(a, 1), a)
    # corner-touching voxels join only with full connectivity
    b = np.zeros((4, 4), bool)
    b[0, 0] = b[1, 1] = True
    assert remove_small_islands(b, 2).sum() == 0
    assert remove_small_islands(b, 2, connectivity=2).sum() == 2


def test_label_crystals_components_and_watershed_split_touching_spheres():
    shape = (30, 30, 50)
    g = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    a = np.linalg.norm(g - [15, 15, 14], axis=-1) < 10
    b = np.linalg.norm(g - [15, 15, 33], axis=-1) < 10  # overlaps a on a thin neck
    far = np.linalg.norm(g - [4, 4, 46], axis=-1) < 3
    mask = a | b | far
    comp = label_crystals(mask, method="components")
    assert comp.max() == 2
    ws = label_crystals(mask, method="watershed", min_distance=5)
    assert ws.max() == 3
    # each sphere's centre ends in a different crystal, and labels are sorted by size
    assert ws[15, 15, 14] != ws[15, 15, 33]
    assert ws[4, 4, 46] == 3
    with pytest.raises(ValueError, match="method"):
        label_crystals(mask, method="kmeans")


def test_crystal_table_analytic():
    v1, in1, s1, n1 = _slab_volume([0, 1, 1], shape=(36, 36, 36), radius=15)
    v2, in2, s2, n2 = _slab_volume([1, 0, 0], shape=(36, 36, 36), radius=15, offsets=(0.0,), seed=1)
    v = np.concatenate([v1, v2], axis=2)
    crystals = np.concatenate([in1.astype(int), 2 * in2], axis=2)
    hox = threshold_labels(v, 3.0)
    steps: list[Progress] = []
    t = run_sync(crystal_table_gen(v, crystals, hox, voxel_size=1e-7), on_progress=steps.append)
    assert steps[-1].done == steps[-1].total == 2
    assert t.crystal_id.tolist() == [1, 2]
    assert_allclose(t.high_ox_fraction, [s1.sum() / in1.sum(), s2.sum() / in2.sum()])
    assert_allclose(t.mean_valence, [np.nanmean(v1), np.nanmean(v2)])
    assert_allclose(t.size, [in1.sum() * 1e-21, in2.sum() * 1e-21])
    assert axis_angle_deg(t.normal[0], n1) < 3 and axis_angle_deg(t.normal[1], n2) < 3
    cols = t.columns()
    assert set(cols) >= {"crystal_id", "high_ox_fraction", "mean_valence", "normal_plane",
                         "normal_row", "normal_col"}
    assert all(c.shape == (2,) for c in cols.values())


def test_crystal_table_weights_2d_and_errors():
    v = np.full((4, 6), 2.5)
    v[0, :] = 3.4
    w = np.ones_like(v)
    w[0, :] = 3.0  # thicker where oxidised
    t = crystal_table(v, np.ones((4, 6), int), v > 3, weights=w, surface_margin=0)
    assert_allclose(t.high_ox_fraction, [18 / 36])
    assert_allclose(t.mean_valence, [(18 * 3.4 + 18 * 2.5) / 36])
    with pytest.raises(ValueError, match="shapes differ"):
        crystal_table(v, np.ones((4, 5), int), v > 3)


def test_crystal_table_cancel():
    v, inside, _, _ = _slab_volume([1, 0, 0])
    c = Control()
    c.cancel()
    with pytest.raises(Cancelled):
        run_sync(crystal_table_gen(v, inside.astype(int), v > 3, control=c))


@pytest.mark.parametrize("cycles,seed", [(350, 0), (500, 1)])
def test_twin_crystals_fraction_and_c_axes(cycles, seed):
    from ptyxanes.simulate.sample import make_sample

    s = make_sample("tiny", cycles, seed=seed, dim="3d")
    mask = np.isfinite(s.valence)
    n_true = s.c_axes.shape[0]
    lab = label_crystals(mask, method="watershed", min_distance=5)
    assert lab.max() == n_true
    for k in range(1, n_true + 1):  # every true crystal is >90 % one watershed region
        counts = np.bincount(lab[s.crystal_labels == k], minlength=n_true + 1)
        assert counts.max() / counts.sum() > 0.9
    hox = threshold_labels(s.valence, 3.0)
    assert np.array_equal(hox.astype(bool), s.high_ox)
    t = crystal_table(s.valence, s.crystal_labels, hox)
    for i, k in enumerate(t.crystal_id):
        truth = s.high_ox[s.crystal_labels == k].mean()
        assert_allclose(t.high_ox_fraction[i], truth)
    # the slab normal from the segmented slab voxels matches each crystal's c-axis
    ts = crystal_table(s.valence, s.crystal_labels, s.slab_mask, surface_margin=0)
    angles = [axis_angle_deg(ts.normal[i], s.c_axes[k - 1]) for i, k in enumerate(ts.crystal_id)]
    assert max(angles) < 3.0


# ---------------------------------------------------------------- default labelling vs truth
def _match_iou(found, truth):
    """For each found crystal: (best truth id, IoU with it)."""
    out = []
    for k in range(1, int(found.max()) + 1):
        f = found == k
        counts = np.bincount(truth[f], minlength=int(truth.max()) + 1)
        counts[0] = 0
        j = int(counts.argmax())
        out.append((j, counts[j] / (f.sum() + (truth == j).sum() - counts[j])))
    return out


def test_label_crystals_default_splits_touching_spheres_not_ellipsoids():
    shape = (40, 40, 60)
    g = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).astype(float)
    a = np.linalg.norm(g - [20, 20, 20], axis=-1) < 8
    for sep in (12, 14, 15):  # neck half-width 5.3, 3.9 and 2.8 voxels for radius 8
        b = np.linalg.norm(g - [20, 20, 20 + sep], axis=-1) < 8
        assert label_crystals(a | b, method="components").max() == 1  # they touch
        lab = label_crystals(a | b)
        assert lab.max() == 2
        assert lab[20, 20, 20] != lab[20, 20, 20 + sep]
        assert min(iou for _, iou in _match_iou(lab, a + 2 * (b & ~a))) > 0.8
    rng = np.random.default_rng(0)
    for axes in [(6, 8, 14), (4, 12, 25), (8, 8, 28), (3, 3, 12)]:  # one convex crystal each
        q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        x = (g - [20, 20, 30]) @ q.T
        lab = label_crystals(((x / axes) ** 2).sum(-1) < 1)
        assert lab.max() == 1, axes
    box = np.zeros((30, 30, 30), bool)
    box[5:25, 5:25, 8:22] = True
    assert label_crystals(box).max() == 1
    with pytest.raises(ValueError, match="merge_ratio"):
        label_crystals(box, merge_ratio=0.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_label_crystals_default_matches_twin_truth(seed):
    from ptyxanes.simulate.sample import make_sample

    for cycles in (200, 500):
        s = make_sample("tiny", cycles, seed=seed, dim="3d")
        lab = label_crystals(np.isfinite(s.valence))
        assert lab.max() == s.c_axes.shape[0]
        match = _match_iou(lab, s.crystal_labels)
        assert sorted(j for j, _ in match) == list(range(1, s.c_axes.shape[0] + 1))
        assert min(iou for _, iou in match) > 0.9


def test_label_crystals_default_on_3d_demo_reconstruction(tmp_path):
    """The demo's SIRT volume (156 nm voxels) against the simulator's 100 nm truth."""
    import h5py

    from ptyxanes.io.project import load_project
    from ptyxanes.simulate.demo import ensure_demo_3d

    result = ensure_demo_3d(tmp_path)
    vmap = load_project(result).maps["oxidation_state"]
    v, vs = np.asarray(vmap.data), float(vmap.pixel_size)
    with h5py.File(result.parent / "input" / "truth.h5") as h:
        truth, tvs = h["volume/crystal_labels"][()], float(h["volume"].attrs["voxel_size"])
    found = label_crystals(np.isfinite(v))
    assert label_crystals(np.isfinite(v), method="components").max() < 3  # two crystals touch
    # register the truth onto the reconstruction grid: best mask overlap near the centroids
    m = found > 0
    base = (np.argwhere(truth > 0).mean(0) + 0.5) * tvs - (np.argwhere(m).mean(0) + 0.5) * vs

    def resample(offset):
        idx = [np.clip(((np.arange(n) + 0.5) * vs + offset[a]) // tvs, 0, truth.shape[a] - 1)
               .astype(int) for a, n in enumerate(v.shape)]
        return truth[np.ix_(*idx)]

    steps = np.arange(-2, 3) * 0.25 * vs
    offsets = [base + np.array([a, b, c]) for a in steps for b in steps for c in steps]
    t = max((resample(o) for o in offsets),
            key=lambda t: (m & (t > 0)).sum() / (m | (t > 0)).sum())
    assert found.max() == int(truth.max()) == 3
    match = _match_iou(found, t)
    assert sorted(j for j, _ in match) == [1, 2, 3]
    assert min(iou for _, iou in match) > 0.7
