"""Ground-truth sample: valence statistics per cycle number, crystal shapes, slabs."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.simulate.sample import CYCLE_MODELS, HIGH_OX_THRESHOLD, make_sample


@pytest.mark.parametrize("dim", ["2d", "3d"])
def test_sample_means_follow_paper(dim):
    paper = {0: 2.3, 200: 3.0, 350: 3.1, 500: 3.15}
    means = {}
    for cycles, target in paper.items():
        s = make_sample("tiny", cycles, seed=3, dim=dim)
        means[cycles] = s.mean_valence()
        assert means[cycles] == pytest.approx(target, abs=0.03)
        occ = s.occupancy
        assert np.all(np.isnan(s.valence[~occ]))
        assert np.array_equal(s.high_ox, occ & (s.valence > HIGH_OX_THRESHOLD))
    # pristine nearly homogeneous, cycled samples much less so
    assert means[0] < means[200] < means[350] < means[500] < 3.25


def test_pristine_homogeneous_and_spread_grows_with_cycles():
    spread = {}
    for cycles in (0, 200, 500):
        crystal_means = np.concatenate(
            [make_sample("tiny", cycles, seed=s).crystal_means() for s in range(8)])
        spread[cycles] = crystal_means.std()
    assert spread[0] < 0.05
    assert spread[0] < spread[200] < spread[500]
    s0 = make_sample("tiny", 0, seed=1)
    assert np.nanstd(s0.valence) < 0.05 and not s0.high_ox.any()
    # 200 cycles: crystals between about 2.3 and 3.5
    cm = np.concatenate([make_sample("tiny", 200, seed=s).crystal_means() for s in range(8)])
    assert 2.2 < cm.min() and cm.max() < 3.7 and cm.max() - cm.min() > 0.4


def test_crystal_sizes_and_slabs_parallel_to_c_plane():
    s = make_sample("demo", 500, seed=2)
    vs = s.voxel_size
    n = s.c_axes.shape[0]
    assert n >= 4
    assert np.allclose(np.linalg.norm(s.c_axes, axis=1), 1.0)
    counts = np.bincount(s.crystal_labels.ravel(), minlength=n + 1)[1:]
    d_eq = (6 * counts * vs**3 / np.pi) ** (1 / 3)
    assert np.all(d_eq > 0.6e-6) and np.all(d_eq < 3.2e-6)
    # slabs: moving within the c-plane stays in the slab, moving along c leaves it
    in_plane, across = [], []
    for k in range(1, n + 1):
        idx = np.argwhere((s.crystal_labels == k) & s.slab_mask)
        if len(idx) < 50:
            continue
        c = s.c_axes[k - 1]
        u = np.cross(c, [0.0, 0.0, 1.0] if abs(c[2]) < 0.9 else [1.0, 0.0, 0.0])
        u /= np.linalg.norm(u)
        for direction, out in ((u, in_plane), (c, across)):
            q = np.rint(idx + 6 * direction).astype(int)
            ok = np.all((q >= 0) & (q < s.shape), axis=1)
            q = q[ok]
            inside = s.crystal_labels[tuple(q.T)] == k
            out.append(s.slab_mask[tuple(q[inside].T)].mean())
    assert len(in_plane) >= 2
    assert np.mean(in_plane) > 0.8
    assert np.mean(across) < 0.5
    assert s.valence[s.slab_mask].min() > HIGH_OX_THRESHOLD


def test_surface_shell_is_oxidised():
    from scipy import ndimage

    s = make_sample("demo", 350, seed=4)
    occ = s.occupancy
    surface = occ & ~ndimage.binary_erosion(occ)
    core = ndimage.binary_erosion(occ, iterations=8) & ~s.slab_mask
    assert np.nanmean(s.valence[surface]) - np.nanmean(s.valence[core]) > 0.5 * CYCLE_MODELS[350].shell


def test_reproducible_and_bad_arguments():
    a = make_sample("tiny", 200, seed=5)
    b = make_sample("tiny", 200, seed=5)
    np.testing.assert_array_equal(a.valence, b.valence)
    with pytest.raises(ValueError, match="cycles"):
        make_sample("tiny", 100)
    with pytest.raises(ValueError, match="size"):
        make_sample("huge", 0)
