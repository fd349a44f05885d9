"""The cached 3D demo: a tiny 3D twin processed to a valence volume, against its truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ptyxanes.io.project import load_project
from ptyxanes.progress import Cancelled, Control, run_sync
from ptyxanes.simulate.demo import (
    DEMO_3D_CYCLES,
    build_demo_3d,
    demo_3d_dir,
    ensure_demo_3d,
    is_complete_3d,
)
from ptyxanes.simulate.twin import read_truth


@pytest.fixture(scope="module")
def demo3d(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, ensure_demo_3d(cache)


def test_result_is_a_valence_volume_close_to_truth(demo3d):
    cache, result = demo3d
    assert result == demo_3d_dir(cache) / "result.h5"
    assert is_complete_3d(result.parent)
    proj = load_project(result)
    md = proj.maps["oxidation_state"]
    vol = np.asarray(md.data, float)
    assert vol.ndim == 3 and min(vol.shape) >= 16
    voxel = float(np.ravel(md.pixel_size)[0])
    assert 5e-8 < voxel < 5e-7

    truth = read_truth(result.parent / "input" / "truth.h5")
    labels = truth["volume/crystal_labels"]
    truth_vox = json.loads(truth["attrs"]["summary"])["voxel_size"]
    truth_mean = float(truth["volume/valence"][labels > 0].mean())
    assert truth["attrs"]["cycles"] == DEMO_3D_CYCLES
    # the fitted voxels are the crystals: same physical volume within 25 %
    fitted = np.isfinite(vol)
    assert fitted.any() and not fitted.all()
    v_fit = fitted.sum() * voxel**3
    v_true = (labels > 0).sum() * truth_vox**3
    assert abs(v_fit / v_true - 1) < 0.25, (v_fit, v_true)
    assert abs(np.nanmean(vol) - truth_mean) < 0.3
    assert abs(np.nanmedian(vol) - truth_mean) < 0.2
    # every map of the project is a volume of the same shape
    for name in ("oxidation_state_sigma", "edge_energy", "edge_jump"):
        assert np.asarray(proj.maps[name].data).shape == vol.shape


def test_cached_and_atomic(demo3d):
    cache, result = demo3d
    mtime = result.stat().st_mtime_ns
    assert ensure_demo_3d(cache) == result
    assert result.stat().st_mtime_ns == mtime  # not rebuilt
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_cancel_leaves_nothing(tmp_path):
    control = Control()
    control.cancel()
    with pytest.raises(Cancelled):
        run_sync(build_demo_3d(tmp_path, control=control))
    assert list(tmp_path.iterdir()) == []
