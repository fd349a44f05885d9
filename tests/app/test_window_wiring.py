"""The main window's wiring of the Import dialog, drops, paper figures, movie and exploration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_stack_file

STXM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
    "stxm_fe_L_edge_als_stack" / "71214078_aligned"


def test_import_dialog_adds_the_stack_as_a_dirty_sample(window, qtbot):
    from ptyxanes.io.formats import open_stack

    assert STXM.is_dir(), f"real STXM stack missing: {STXM}"
    window.settings.setValue("paths/last_dir", str(STXM.parent))
    dlg = window.import_dialog([STXM])
    assert dlg.isVisible() and dlg._start_dir == str(STXM.parent)  # starts in the last folder
    qtbot.waitUntil(lambda: dlg.preview() is not None, timeout=30_000)
    with qtbot.waitSignal(window.imported, timeout=30_000) as blocker:
        dlg.load()
    sample = blocker.args[0]
    truth = open_stack(STXM)
    assert window.samples == [sample] and window.current_sample() is sample
    assert np.array_equal(np.asarray(sample.stack.data), np.asarray(truth.data))
    assert np.array_equal(sample.energy, truth.energy)
    assert sample.pixel_size == pytest.approx(float(np.asarray(truth.pixel_size)[0]))
    assert window.document.dirty and window.windowTitle().endswith("*]")


def test_drop_opens_the_import_dialog_with_the_paths(window, qtbot, tmp_path):
    from qtpy.QtCore import QMimeData, QPointF, Qt, QUrl
    from qtpy.QtGui import QDropEvent

    a = make_stack_file(tmp_path / "a.h5", shape=(8, 10))
    b = tmp_path / "folder"
    b.mkdir()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(a)), QUrl.fromLocalFile(str(b)),
                  QUrl("https://example.org/x.h5")])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    dlg = window.import_dialog_shown
    assert dlg.isVisible() and dlg._sources == (a, b)  # local paths only, in order
    assert window.samples == []  # nothing loaded before the user presses Load


@pytest.fixture
def figure_window(window, demo3d_result):
    """The 3D demo sample (with a >Ni³⁺ segmentation) and two 2D samples with valence maps."""
    from ptyxanes_gui.document import Sample

    assert window.open_demo_3d(demo3d_result)
    s3 = window.samples[0]
    s3.labels["high_ox"] = (np.nan_to_num(s3.volume) > 3.0).astype(np.uint8)
    rr, cc = np.mgrid[0:20, 0:30]
    for i in range(2):
        v = np.where((rr - 10) ** 2 + (cc - 15) ** 2 < 64, 2.2 + 0.04 * cc + 0.3 * i, np.nan)
        window.document.add_samples([Sample(name=f"map {i}", stack=None, pixel_size=50e-9,
                                            maps={"valence": v, "edge_jump": np.isfinite(v)
                                                  * 1.0})])
    window._update_enabled()
    return window


@pytest.mark.slow
def test_each_paper_figure_action_writes_the_requested_pixel_size(figure_window, qtbot,
                                                                   tmp_path):
    from PIL import Image

    w = figure_window
    for kind, size in (("fig3a", (420, 360)), ("fig3b", (400, 330)), ("fig3e", (380, 300)),
                       ("fig5", (640, 420))):
        assert w.act_paper[kind].isEnabled()
        out = tmp_path / f"{kind}.png"
        with qtbot.waitSignal(w.figure_exported, timeout=60_000) as blocker:
            assert w.export_paper_figure(kind, out, dpi=100, size_px=size)
        assert blocker.args == [out]
        with Image.open(out) as im:
            assert im.size == size
            px = np.asarray(im.convert("RGB"))
        assert px.std() > 5  # something drawn, not a blank page
    with qtbot.waitSignal(w.figure_exported, timeout=60_000):
        w.export_paper_figure("fig5", tmp_path / "fig5.pdf")
    assert (tmp_path / "fig5.pdf").read_bytes().startswith(b"%PDF")


def test_missing_segmentation_is_a_message_not_a_file(window, demo3d_result, tmp_path):
    assert window.open_demo_3d(demo3d_result)
    assert not window.export_paper_figure("fig3e", tmp_path / "x.png")
    assert "Segment" in window.last_error and not (tmp_path / "x.png").exists()


def test_movie_in_a_worker_with_cancel(figure_window, qtbot, tmp_path):
    w = figure_window
    out = tmp_path / "turn.gif"
    with qtbot.waitSignal(w.movie_exported, timeout=60_000):
        w.export_movie(out, n_frames=4, size=96)
    from PIL import Image

    with Image.open(out) as im:
        assert im.n_frames == 4
    worker = w.export_movie(tmp_path / "cancelled.gif", n_frames=200, size=96)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.control.cancel()
    assert not (tmp_path / "cancelled.gif").exists()
    assert w.last_error == ""  # a cancel is not an error


@pytest.mark.napari
def test_quarter_cut_layer_data_has_exactly_one_quadrant_removed(qtbot):
    from ptyxanes_gui.panels.volume_panel import VolumePanel
    from ptyxanes_gui.viewers.napari_viewer import outside_value

    from ptyxanes.simulate.sample import make_sample

    sample = make_sample("tiny", 350, seed=0, dim="3d")
    p = VolumePanel()
    qtbot.addWidget(p)
    try:
        p.set_volume(sample.valence, sample.voxel_size, clim=(2.0, 3.5))
        v = sample.valence
        inside = np.isfinite(v)
        for camera in ("isometric", "row"):
            p.set_camera(camera)
            p.set_quarter_cut(True)
            data = np.asarray(p.image_layer.data)
            gone = data == np.float32(outside_value((2.0, 3.5)))
            removed = gone & inside  # sample voxels the cut took away
            # exactly one quadrant: a box split at the centre on the two non-up axes,
            # the whole extent along the third
            idx = np.nonzero(p.removed)
            box = np.zeros_like(p.removed)
            box[idx[0].min():idx[0].max() + 1, idx[1].min():idx[1].max() + 1,
                idx[2].min():idx[2].max() + 1] = True
            assert np.array_equal(box, p.removed)
            full = [ax for ax in range(3) if idx[ax].min() == 0
                    and idx[ax].max() == v.shape[ax] - 1]
            halves = [ax for ax in range(3) if ax not in full]
            assert len(halves) == 2 and len(full) == 1
            for ax in halves:
                n = idx[ax].max() - idx[ax].min() + 1
                assert abs(n - v.shape[ax] / 2) <= 1
            assert np.array_equal(removed, inside & p.removed)
            assert np.array_equal(~gone, inside & ~p.removed)  # nothing else touched
        # the mesh rendering is cut the same way and replaces the volume layer
        p.set_rendering("mesh")
        assert not p.image_layer.visible and p.surface_layer in p.viewer.layers
        assert np.array_equal(p.surface_layer.metadata["removed"], p.removed)
        assert np.array_equal(p.surface_layer.metadata["kept"], inside & ~p.removed)
        p.set_rendering("translucent")
        assert p.image_layer.visible and p.surface_layer is None
        p.set_quarter_cut(False)
        assert np.array_equal(p.visible_mask(), inside)
    finally:
        p.close_viewer()


def test_explore_adds_score_and_cluster_channels_equal_to_the_engine(window, qtbot,
                                                                    tiny_stack_file, tmp_path):
    from ptyxanes.explore import kmeans, normalized_spectra, pca
    from ptyxanes.xanes.edges import edge_spec

    assert window.open_paths([str(tiny_stack_file)])
    s = window.current_sample()
    assert window.act_explore.isEnabled()
    with qtbot.waitSignal(window.explored, timeout=60_000):
        window.run_explore(3, 2, seed=1)
    sd = normalized_spectra(s.energy, np.asarray(s.stack.data), kind=s.stack.kind,
                            energy_axis=0, edge=edge_spec("Ni-K"))  # the stack's edge
    p = pca(sd, 3)
    c = kmeans(p, 2, spectra=sd.mu, seed=1)
    for k in range(3):
        np.testing.assert_array_equal(s.maps[f"pca_score_{k + 1}"], p.scores[..., k])
        assert window.image_panel.channel.findData(f"pca_score_{k + 1}") >= 0
    np.testing.assert_array_equal(s.labels["clusters"], c.labels)
    np.testing.assert_array_equal(s.maps["clusters"],
                                  np.where(c.labels > 0, c.labels, np.nan).astype(np.float32))
    assert window.image_panel.current_channel() == "clusters"
    assert np.array_equal(window.displayed_image, s.maps["clusters"], equal_nan=True)
    assert window.document.dirty
    # a click on a cluster highlights exactly its pixels
    r, col = map(int, np.argwhere(c.labels == 2)[0])
    window.show_pixel_spectrum(r, col)
    assert np.array_equal(window.highlight_mask, c.labels == 2)
    # saved with the project and shown again as channels when it is opened
    from ptyxanes_gui.document import load_samples

    assert window.save_project_to(tmp_path / "explored.h5")
    back = load_samples(tmp_path / "explored.h5")[0]
    np.testing.assert_array_equal(back.maps["pca_score_2"], p.scores[..., 1])
    np.testing.assert_array_equal(back.labels["clusters"], c.labels)
    combo = window.image_panel.channel
    for key in list(window.image.extra_labels):  # as in a fresh window
        combo.removeItem(combo.findData(key))
    window.image.extra_labels.clear()
    assert combo.findData("pca_score_3") < 0
    window.document.add_samples([back])
    window.select_sample(1)
    assert window.image_panel.channel.findData("pca_score_3") >= 0


@pytest.mark.napari
@pytest.mark.slow
def test_label_overlay_translucent_outline_and_isolated_crystal(qtbot):
    from ptyxanes_gui.panels.segmentation_panel import SegmentationPanel
    from ptyxanes_gui.panels.volume_panel import VolumePanel
    from ptyxanes_gui.presenters.segmentation_presenter import SegmentationPresenter
    from ptyxanes_gui.presenters.volume_presenter import CrystalLabeller
    from scipy import ndimage

    from ptyxanes.simulate.sample import make_sample

    sample = make_sample("tiny", 350, seed=0, dim="3d")
    vp = VolumePanel()
    vp.labeller = CrystalLabeller(vp)  # labels the crystals of a new volume
    sp = SegmentationPanel(vp)
    sp.presenter = SegmentationPresenter(sp)  # its workers (tables, islands)
    qtbot.addWidget(vp)
    qtbot.addWidget(sp)
    try:
        sp.set_data(sample.valence, sample.voxel_size)
        sp.set_threshold(2.9)
        lab = sp.labels() > 0
        assert lab.any() and sp.labels_layer.visible and sp.overlay_layer is None
        sp.set_label_display("outline")
        assert not sp.labels_layer.visible
        shell = lab & ~ndimage.binary_erosion(lab)
        assert np.array_equal(np.asarray(sp.overlay_layer.data) > 0, shell)
        sp.set_label_display("translucent")
        assert np.array_equal(np.asarray(sp.overlay_layer.data) > 0, lab)
        assert sp.overlay_layer.opacity < 1
        # an isolated crystal hides the other crystals' labels, also from the editable view
        sp.set_label_display("edit")
        k = int(np.bincount(vp.crystal_labels[lab]).argmax())
        vp.isolate_crystal(k)
        mine = lab & (vp.crystal_labels == k)
        assert mine.any() and (lab & ~mine).any()
        assert not sp.labels_layer.visible
        assert np.array_equal(np.asarray(sp.overlay_layer.data) > 0, mine)
        vp.isolate_crystal(0)
        assert sp.labels_layer.visible and sp.overlay_layer is None
    finally:
        vp.close_viewer()
