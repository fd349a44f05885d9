"""The demo's 3D sample: listed in the Data panel; selecting it fills the 3D and
Segmentation docks (napari: Xvfb). Uses the engine's real 3D demo (tiny twin ->
pipeline, ~4 s) and two small 2D stacks in place of the slow 2D demo."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import make_stack_file


@pytest.fixture
def fake_demo(tmp_path, monkeypatch, demo3d_result):
    from ptyxanes_gui.presenters import opening

    folder = tmp_path / "demo"
    folder.mkdir()
    make_stack_file(folder / "pristine.h5", "pristine")
    make_stack_file(folder / "cycles_200.h5", "cycles_200", seed=1)
    monkeypatch.setattr(opening, "ensure_demo", lambda: folder)
    monkeypatch.setattr(opening, "ensure_demo_3d", lambda: demo3d_result)
    return folder


def test_3d_project_sample_gets_mid_plane_stack(demo3d_result):
    from ptyxanes_gui.presenters import opening, spectra

    (s,) = opening.load_path(demo3d_result)
    assert s.volume is not None and s.volume.ndim == 3
    p, m, n = s.volume.shape
    assert s.voxel_size > 0
    # the energy stack is the volume's middle plane, matching the maps' middle slice
    assert s.stack.data.ndim == 3 and s.stack.data.shape[1:] == (m, n)
    assert s.maps["valence"].shape == (m, n)
    np.testing.assert_array_equal(np.isfinite(s.maps["valence"]), np.isfinite(s.volume[p // 2]))
    r, c = np.argwhere(np.isfinite(s.maps["valence"]))[0]
    spec = spectra.pixel_spectrum(s, int(r), int(c))
    assert spec.shape == (s.stack.n_energies,) and np.all(np.isfinite(spec))


def test_screenshot_demo_stays_2d(qtbot, window, fake_demo):
    with qtbot.waitSignal(window.demo_opened, timeout=60000):
        window.open_demo(with_3d=False)  # built in a worker: the window stays live
    assert len(window.samples) == 2
    assert all(s.volume is None for s in window.samples)
    assert window.volume.panel is None


@pytest.mark.napari
def test_demo_3d_sample_opens_volume_and_segmentation(qtbot, window, fake_demo):
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        pytest.skip("napari needs an OpenGL display (run under Xvfb)")
    with qtbot.waitSignal(window.demo_opened, timeout=60000):
        window.open_demo()
    # the 2D demo stays selected; the 3D sample is listed but nothing 3D opened yet
    assert window.current_sample().volume is None
    assert window.volume.panel is None
    idx = [i for i, s in enumerate(window.samples) if s.volume is not None]
    assert len(idx) == 1
    s3 = window.samples[idx[0]]
    assert s3.name == "NMC811 200 cycles (3D)"
    tree = window.data_panel.tree
    names = [tree.topLevelItem(i).child(j).text(0) for i in range(tree.topLevelItemCount())
             for j in range(tree.topLevelItem(i).childCount())]
    assert "NMC811 200 cycles (3D)" in names
    assert window.act_3d.isEnabled()

    window.data_panel.select(idx[0])  # what a click in the tree does
    assert window.current == idx[0]
    vp = window.volume.panel
    assert vp is not None and window.docks["volume"].isVisible()
    np.testing.assert_array_equal(vp.valence, s3.volume.astype(np.float32))
    assert vp.voxel_size_m == pytest.approx(s3.voxel_size)
    seg = window.volume.segmentation_panel
    assert seg is not None
    np.testing.assert_array_equal(seg.valence, s3.volume.astype(np.float32))
    np.testing.assert_array_equal(seg.mask, np.isfinite(s3.volume))
    # the image view shows the valence of the volume's middle slice
    assert window.image_panel.current_channel() == "valence"
    assert window.displayed_image.shape == s3.volume.shape[1:]
    np.testing.assert_array_equal(np.isfinite(window.displayed_image),
                                  np.isfinite(s3.volume[s3.volume.shape[0] // 2]))

    # back to a 2D sample and again to 3D: the volume is not rebuilt needlessly
    window.data_panel.select(0)
    assert window.current == 0
    layer = vp.image_layer
    window.data_panel.select(idx[0])
    assert vp.image_layer is layer


@pytest.mark.napari
@pytest.mark.slow
def test_fit_on_3d_sample_fits_the_volume_shows_and_saves_it(qtbot, window, demo3d_result,
                                                             tmp_path):
    """Process ▸ Fit on a volume sample fits every voxel; the 3D dock shows the new volume
    and Save project writes the full volume maps."""
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        pytest.skip("napari needs an OpenGL display (run under Xvfb)")
    assert window.open_paths([str(demo3d_result)])
    s = window.current_sample()
    assert s.volume_stack is not None
    shape = s.volume_stack.data.shape[1:]
    old = s.volume
    with qtbot.waitSignal(window.processing.stage_finished, timeout=60000):
        window.act_fit.trigger()
    assert window.last_error == ""
    assert s.volume is not old and s.volume.shape == shape
    vp = window.volume.panel
    np.testing.assert_array_equal(vp.valence, s.volume.astype(np.float32))
    assert window.displayed_image.shape == shape[1:]

    assert window.save_project_to(tmp_path / "saved3d.h5"), window.last_error
    assert window.open_paths([str(tmp_path / "saved3d.h5")])
    reopened = window.samples[-1]
    np.testing.assert_array_equal(reopened.volume, s.volume)
    assert reopened.volume_stack.data.shape == s.volume_stack.data.shape


@pytest.mark.napari
def test_segmentation_hand_edits_saved_with_the_project(qtbot, window, demo3d_result, tmp_path):
    """Seed, paint by hand, save the project, reopen: labels and hand edits come back and
    survive a new threshold."""
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        pytest.skip("napari needs an OpenGL display (run under Xvfb)")
    assert window.open_paths([str(demo3d_result)])
    seg = window.volume.segmentation_panel
    assert seg is not None and window.act_export_3d.isEnabled()
    seg.set_threshold(3.1)
    seg.seed()
    lab = seg.labels().copy()
    inside = np.argwhere(seg.mask & (lab == 0))
    p, r, c = inside[len(inside) // 2]
    painted = lab.copy()
    painted[p, r, c] = 1
    assert seg.apply_edit(painted) == 1
    assert window.save_project_to(tmp_path / "seg.h5"), window.last_error
    from ptyxanes.io.project import load_project

    saved = load_project(tmp_path / "seg.h5").labels
    assert saved["high_ox_added"][p, r, c] == 1
    assert window.open_paths([str(tmp_path / "seg.h5")])
    seg2 = window.volume.segmentation_panel
    assert seg2.labels()[p, r, c] == 1  # the hand edit is back
    seg2.set_threshold(3.3)  # a new threshold keeps it
    assert seg2.labels()[p, r, c] == 1


def test_tomography_draws_a_live_preview_in_the_window(qtbot, window, demo3d_result):
    """Process ▸ Tomography on the 3D demo's tilt series: the image view shows the SIRT
    estimate's middle plane while it iterates, then the sample becomes a volume."""
    assert window.open_paths([str(demo3d_result.parent / "input" / "stack.nxs")])
    s = window.current_sample()
    assert s.kind == "tilt"
    rows_cols = s.tilt_stack.data.shape[2:]
    box = window.processing_panel.stages["tomo"]
    box.inputs["iterations"].setValue(40)
    box.inputs["align_rounds"].setValue(1)
    shapes = []
    window.preview_shown.connect(lambda: shapes.append(window.displayed_image.shape))
    with qtbot.waitSignal(window.processing.stage_finished, timeout=60000):
        box.run_btn.click()
    assert window.last_error == ""
    assert window.previews_drawn >= 1
    assert s.kind == "volume" and s.volume_stack is not None
    # the previews were (row, col) planes of the SIRT grid (before the energies' common crop)
    assert shapes and all(sh == rows_cols for sh in shapes)
