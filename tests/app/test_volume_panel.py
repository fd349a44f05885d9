"""3D panel: embedded napari viewer, quarter cut, slices, crystal isolation (Xvfb)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

pytestmark = pytest.mark.napari

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample():
    from ptyxanes.simulate.sample import make_sample

    return make_sample("tiny", 350, seed=0, dim="3d")


@pytest.fixture
def volume_panel(qtbot):
    from ptyxanes_gui.panels.volume_panel import VolumePanel

    panel = VolumePanel()
    qtbot.addWidget(panel)
    panel.resize(640, 520)
    panel.show()
    yield panel
    panel.close_viewer()


def test_volume_quarter_cut_slices_isolation_highlight(volume_panel, sample, qtbot):
    from ptyxanes_gui.viewers.napari_viewer import outside_value, visible_by_planes

    from ptyxanes.segment import label_crystals

    p = volume_panel
    p.set_volume(sample.valence, sample.voxel_size, clim=(2.0, 3.5))
    layer = p.image_layer
    assert layer.ndim == 3 and np.allclose(layer.scale, 0.1)  # µm
    inside = np.isfinite(sample.valence)
    # NaN outside the sample maps to the transparent first colour step
    data = np.asarray(layer.data)
    assert np.all(data[~inside] == np.float32(outside_value((2.0, 3.5))))
    assert layer.colormap.map(np.array([0.0]))[0, 3] == 0
    assert layer.colormap.map(np.array([1.0]))[0, 3] == 1
    assert np.array_equal(p.visible_mask(), inside)
    # crystals from the mask by connected components
    assert np.array_equal(p.crystal_labels, label_crystals(inside))

    # quarter cut: the union of the two layers' kept regions misses exactly one quarter
    p.check_cut.setChecked(True)
    assert p.quarter_cut and p.cut_layer.visible
    assert len(layer.experimental_clipping_planes) == 1
    assert len(p.cut_layer.experimental_clipping_planes) == 2
    shape, scale = data.shape, tuple(layer.scale)
    kept = visible_by_planes(shape, layer.experimental_clipping_planes, scale) | \
        visible_by_planes(shape, p.cut_layer.experimental_clipping_planes, scale)
    assert 0.2 < 1 - kept.mean() <= 0.25
    assert not kept[:, :19, :19].any() and kept[:, 21:, :].all() and kept[:, :, 21:].all()
    p.check_cut.setChecked(False)
    assert len(layer.experimental_clipping_planes) == 0 and not p.cut_layer.visible

    # orthogonal slices: 2D display with the chosen axis on the slider
    p.combo_axis.setCurrentIndex(2)
    assert p.viewer.dims.ndisplay == 2 and p.viewer.dims.order[0] == 2
    p.check_3d.setChecked(True)
    assert p.viewer.dims.ndisplay == 3

    # isolate crystal 2: only its voxels stay visible; 0 shows all again
    with qtbot.waitSignal(p.crystal_changed):
        p.combo_crystal.setCurrentIndex(2)
    assert p.current_crystal == 2
    assert np.array_equal(p.visible_mask(), p.crystal_labels == 2)
    p.isolate_crystal(0)
    assert np.array_equal(p.visible_mask(), inside)

    # highlight overlay
    hl = sample.valence > 3.2
    p.set_highlight(hl)
    assert p.highlight_layer.visible and np.array_equal(p.highlight_layer.data > 0, hl)
    p.set_highlight(None)
    assert not p.highlight_layer.visible


def test_watershed_split_and_screenshot(volume_panel, sample, qtbot, tmp_path):
    p = volume_panel
    p.set_volume(sample.valence, sample.voxel_size)
    n_components = int(p.crystal_labels.max())
    with qtbot.waitSignal(p.crystal_changed, timeout=20_000):
        p.button_split.click()
    assert p.crystal_labels.max() == sample.c_axes.shape[0] >= n_components
    p.set_quarter_cut(True)
    p.viewer.scene.camera.angles = (20.0, -40.0, -40.0)  # looks into the cut
    # PTYXANES_DOC_IMAGES=1 refreshes the README/docs screenshot instead of a temporary file
    docs = os.environ.get("PTYXANES_DOC_IMAGES") == "1"
    out = REPO / "docs" / "images" / "volume_panel.png" if docs else tmp_path / "volume_panel.png"
    img = p.screenshot(out)
    assert img.ndim == 3 and img.shape[2] == 4
    drawn = img[..., :3].sum(-1) > 0
    assert 0.05 < drawn.mean() < 0.9  # crystals drawn on the black background
    assert out.exists()
