"""3D panel: embedded napari viewer, quarter cut, slices, crystal isolation (Xvfb)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.napari

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample():
    from ptyxanes.simulate.sample import make_sample

    return make_sample("tiny", 350, seed=0, dim="3d")


@pytest.fixture
def volume_panel(qtbot):
    from ptyxanes_gui.panels.volume_panel import VolumePanel
    from ptyxanes_gui.presenters.volume_presenter import CrystalLabeller

    panel = VolumePanel()
    panel.labeller = CrystalLabeller(panel)  # labels the crystals in a worker on request
    qtbot.addWidget(panel)
    panel.resize(640, 520)
    panel.show()
    yield panel
    panel.close_viewer()


def test_volume_quarter_cut_slices_isolation_highlight(volume_panel, sample, qtbot):
    from ptyxanes_gui.viewers.napari_viewer import outside_value

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

    # quarter cut: the quadrant facing the camera is gone from the layer's data
    p.check_cut.setChecked(True)
    assert p.quarter_cut and p.removed is not None
    assert 0.2 < p.removed.mean() <= 0.25
    assert np.array_equal(p.visible_mask(), inside & ~p.removed)
    p.check_cut.setChecked(False)
    assert p.removed is None and np.array_equal(p.visible_mask(), inside)

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


def test_split_toggle_and_screenshot(volume_panel, qtbot, tmp_path):
    from ptyxanes.segment import label_crystals
    from ptyxanes.simulate.sample import make_sample

    sample = make_sample("tiny", 200, seed=0, dim="3d")  # two of its three crystals touch
    p = volume_panel
    p.set_volume(sample.valence, sample.voxel_size)
    n_true = sample.c_axes.shape[0]
    assert p.check_split.isChecked() and p.crystal_labels.max() == n_true  # split by default
    n_components = int(label_crystals(np.isfinite(sample.valence), method="components").max())
    assert n_components < n_true
    with qtbot.waitSignal(p.crystals_labelled, timeout=20_000) as blocker:
        p.check_split.setChecked(False)
    assert blocker.args == [n_components] and p.crystal_labels.max() == n_components
    with qtbot.waitSignal(p.crystals_labelled, timeout=20_000):
        p.check_split.setChecked(True)
    assert p.crystal_labels.max() == n_true
    # a large volume shows connected components at once and is split in a worker
    p.sync_label_limit = 0
    with qtbot.waitSignal(p.crystals_labelled, timeout=20_000) as blocker:
        p.set_volume(sample.valence, sample.voxel_size)
        assert p.crystal_labels.max() == n_components
    assert blocker.args == [n_true] and p.crystal_labels.max() == n_true
    assert p.combo_crystal.count() == n_true + 1
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


@pytest.mark.slow
def test_3d_demo_finds_all_truth_crystals(volume_panel, tmp_path):
    """The GUI's path to the cached 3D demo: 3 crystals, as in the simulator's truth."""
    import h5py
    from ptyxanes_gui.presenters import opening

    from ptyxanes.simulate.demo import ensure_demo_3d

    result = ensure_demo_3d(tmp_path)
    (s,) = opening.load_path(result)
    with h5py.File(result.parent / "input" / "truth.h5") as h:
        n_true = int(h["volume/crystal_labels"][()].max())
    volume_panel.set_volume(s.volume, s.voxel_size)
    assert n_true == 3 and volume_panel.crystal_labels.max() == n_true
    assert volume_panel.combo_crystal.count() == n_true + 1
    assert f"{n_true} crystal(s)" in volume_panel.label_info.text()


def test_save_view_png_and_tiff_at_requested_size(volume_panel, sample, qtbot, tmp_path):
    from PIL import Image

    p = volume_panel
    p.set_volume(sample.valence, sample.voxel_size)
    p.spin_width.setValue(320)
    p.spin_height.setValue(200)
    with qtbot.waitSignal(p.view_saved) as blocker:
        p.save_view(tmp_path / "view.png")
    assert blocker.args == [tmp_path / "view.png"]
    with Image.open(tmp_path / "view.png") as im:
        assert im.format == "PNG" and im.size == (320, 200)
        drawn = np.asarray(im)[..., :3].sum(-1) > 0
        assert 0.02 < drawn.mean() < 0.9
    p.save_view(tmp_path / "view.tif", size=(150, 250))
    with Image.open(tmp_path / "view.tif") as im:
        assert im.format == "TIFF" and im.size == (250, 150)
    assert not list(tmp_path.glob(".*.part"))
    with pytest.raises(ValueError, match="format"):
        p.save_view(tmp_path / "view.bmp")


def test_save_figure_with_colour_bar(volume_panel, sample, qtbot, tmp_path):
    """The 3D view as a figure: the rendered view plus the valence colour bar."""
    from PIL import Image

    p = volume_panel
    p.set_volume(sample.valence, sample.voxel_size, clim=(2.2, 3.4))
    with qtbot.waitSignal(p.view_saved):
        out = p.save_figure(tmp_path / "fig.png", dpi=100, size=(200, 300))
    with Image.open(out) as im:
        w, h = im.size
        px = np.asarray(im.convert("RGB")).astype(int)
    assert w == 600  # 6 inches at 100 dpi
    from ptyxanes.figures.colormaps import valence_lut

    lut = valence_lut(256)[:, :3].astype(int)
    bar = px[:, int(0.86 * w) + 2: int(0.89 * w) - 2].reshape(-1, 3)
    assert (np.abs(bar - lut[0]).sum(1) < 40).any() and (np.abs(bar - lut[-1]).sum(1) < 40).any()
    assert p.save_figure(tmp_path / "fig.pdf").read_bytes()[:4] == b"%PDF"


def test_rotating_movie_gif(volume_panel, sample, qtbot, tmp_path):
    from PIL import Image, ImageSequence

    p = volume_panel
    p.set_volume(sample.valence, sample.voxel_size)
    p.viewer.scene.camera.angles = (0.0, 30.0, 60.0)
    angles = tuple(p.viewer.scene.camera.angles)
    out = tmp_path / "turn.gif"
    ticks = []
    with qtbot.waitSignal(p.movie_saved, timeout=30_000) as blocker:
        rec = p.record_movie(out, n_frames=6, size=(96, 128))
        rec.frame_rendered.connect(lambda k, n: ticks.append((k, n)))
    assert blocker.args == [out] and ticks[-1] == (6, 6)
    with Image.open(out) as im:
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    assert len(frames) == 6 and frames[0].shape == (96, 128, 3)
    # the camera turned: every frame differs from the first (60° steps), and frame 3
    # (180°) is about a mirror image, not a copy
    diffs = [np.abs(f.astype(int) - frames[0]).mean() for f in frames[1:]]
    assert min(diffs) > 1.0
    assert np.allclose(p.viewer.scene.camera.angles, angles)  # the camera is restored
    assert p.button_movie.isEnabled()


def test_rotating_movie_cancel_leaves_no_file(volume_panel, sample, qtbot, tmp_path):
    from qtpy.QtWidgets import QPushButton

    p = volume_panel
    p.set_volume(sample.valence, sample.voxel_size)
    out = tmp_path / "turn.gif"
    rec = p.record_movie(out, n_frames=40, size=(64, 64))
    with qtbot.waitSignal(rec.cancelled, timeout=30_000):
        # the progress dialog's Cancel button, clicked after the third frame
        cancel = p._progress.findChild(QPushButton)
        assert cancel.text() == "Cancel"
        rec.frame_rendered.connect(lambda k, n: cancel.click() if k == 3 else None)
    assert len(rec.frame_times) == 3 and not rec.running
    assert not out.exists() and not list(tmp_path.iterdir())
    assert p.button_movie.isEnabled()


def test_turntable_directions_keep_elevation_and_close_the_turn():
    from ptyxanes_gui.viewers.movie import turntable_directions, write_movie

    up = np.array([0.0, -1.0, 0.0])
    view = np.array([0.5, -0.5, 0.7])
    d = turntable_directions(view, up, 8)
    assert d.shape == (8, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    np.testing.assert_allclose(d @ up, (view @ up) / np.linalg.norm(view))  # same elevation
    np.testing.assert_allclose(d[0], view / np.linalg.norm(view))
    # quarter turns are 90° apart about the up axis; frame 4 is the opposite side
    flat = d - np.outer(d @ up, up)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    np.testing.assert_allclose(flat[2] @ flat[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(flat[4], -flat[0], atol=1e-12)
    with pytest.raises(ValueError, match="no frames"):
        write_movie([], "x.gif")
    with pytest.raises(ValueError, match="gif"):
        write_movie([np.zeros((4, 4, 3), np.uint8)], "x.avi")
