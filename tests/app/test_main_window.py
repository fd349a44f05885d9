"""The main window driven as a user would: open, click, drag, run, cancel, export."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import dispose, make_stack_file
from qtpy.QtCore import QPoint, Qt

from ptyxanes.io.nexus import read_stack


@pytest.fixture
def two_samples(tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    make_stack_file(folder / "a_pristine.h5", "pristine", seed=1)
    make_stack_file(folder / "b_200.h5", "200 cycles", seed=2)
    return folder


@pytest.fixture
def result_project(tmp_path):
    """A project file holding valence maps (as the fit writes them) for two samples."""
    from ptyxanes.io.project import MapData, Project, save_project

    rng = np.random.default_rng(3)
    m, n = 20, 30
    valence = np.full((m, n), np.nan)
    valence[3:17, 4:26] = rng.uniform(2.0, 3.4, (14, 22))
    jump = np.where(np.isfinite(valence), 1.0, 0.0)
    maps = {"oxidation_state": MapData(valence, 40e-9, "oxidation_state"),
            "oxidation_state_sigma": MapData(np.where(np.isfinite(valence), 0.05, np.nan),
                                             40e-9, "oxidation_state_sigma"),
            "edge_jump": MapData(jump, 40e-9, "edge_jump"),
            "mask": MapData(np.isfinite(valence).astype(np.uint8), 40e-9, "mask")}
    path = tmp_path / "result.h5"
    save_project(path, Project(maps=maps, parameters={"sample": {"name": "cycled"}}))
    return path, valence


def _click_pixel(qtbot, window, row, col):
    viewer = window.image_panel.viewer
    scene_pos = viewer.scene_pos_of_pixel(row, col)
    view_pos = viewer.mapFromScene(scene_pos)
    with qtbot.waitSignal(window.spectrum_shown, timeout=5000) as blocker:
        qtbot.mouseClick(viewer.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(int(view_pos.x()), int(view_pos.y())))
    return blocker.args


def test_open_folder_shows_samples_and_compute_path(window, two_samples):
    from ptyxanes.backend import describe_compute

    with_signal = window.open_paths([str(two_samples)])
    assert with_signal
    top = window.data_panel.tree.topLevelItem(0)
    assert [top.child(i).text(0) for i in range(top.childCount())] == ["pristine", "200 cycles"]
    assert describe_compute() in window.compute_label.text()
    assert window.recent_files()[0].endswith("series")
    # every dock has an objectName so its place persists
    assert all(d.objectName() for d in window.docks.values())


def test_click_pixel_shows_that_pixels_spectrum(qtbot, window, two_samples):
    window.open_paths([str(two_samples)])
    window.data_panel.select(1)
    row, col = _click_pixel(qtbot, window, 11, 20)
    assert (row, col) == (11, 20)
    stack = read_stack(two_samples / "b_200.h5", lazy=False)
    expected = -np.log(np.abs(stack.data[:, 11, 20]).astype(float))
    x, y = window.spectrum_panel.raw_curve.getData()
    np.testing.assert_allclose(x, stack.energy)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert "row 11, col 20" in window.readout.text()
    assert "y 0.440 µm, x 0.800 µm" in window.readout.text()  # 40 nm pixels
    from ptyxanes_gui.presenters import spectra

    fit = spectra.fit_spectrum(stack.energy, expected, window.current_sample())
    assert f"valence {fit.valence:.2f}" in window.spectrum_panel.result.text()
    assert window.image_panel.viewer.marked == (11, 20)  # a cross on the clicked pixel


def test_roi_average_spectrum(qtbot, window, two_samples):
    window.open_paths([str(two_samples)])
    viewer = window.image_panel.viewer
    viewer.add_rect_roi(4, 6, 5, 7)
    mask = viewer.roi_mask()
    assert mask.sum() == 35 and mask[4:9, 6:13].all()
    viewer.add_polygon_roi([(15, 20), (15, 25), (20, 25)])
    assert viewer.roi_mask().sum() > 35
    assert "ROI mean" in window.spectrum_panel.title.text()
    viewer.clear_rois()
    assert viewer.roi_mask() is None
    window.image_panel.brush_btn.setChecked(True)
    viewer.paint_brush(2, 3)
    pos = viewer.mapFromScene(viewer.scene_pos_of_pixel(10, 12))
    qtbot.mouseClick(viewer.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(int(pos.x()), int(pos.y())))
    window.image_panel.brush_btn.setChecked(False)
    mask = viewer.roi_mask()
    assert mask[2, 3] and mask[10, 12] and mask.sum() <= 1 + 5  # one dot + a radius-1 disc


def test_histogram_range_highlights_pixels(qtbot, window, result_project):
    path, valence = result_project
    assert window.open_paths([str(path)])
    assert window.image_panel.current_channel() == "valence"
    hp = window.histogram_panel
    assert hp.table.rowCount() == 1
    assert float(hp.table.item(0, 1).text()) == pytest.approx(np.nanmean(valence), abs=1e-3)
    with qtbot.waitSignal(window.highlight_changed, timeout=3000):
        hp.set_highlight_range(2.5, 3.0)
    expected = np.isfinite(valence) & (valence >= 2.5) & (valence <= 3.0)
    np.testing.assert_array_equal(window.highlight_mask, expected)
    assert window.image_panel.viewer.highlight_item.isVisible()
    with qtbot.waitSignal(window.highlight_changed, timeout=3000):
        hp.highlight_box.setChecked(False)
    assert window.highlight_mask is None


def test_valence_limits_shared_and_persisted(qtbot, window, result_project, settings_path):
    path, _ = result_project
    window.open_paths([str(path)])
    window.image_panel.lo.setValue(2.2)
    window.image_panel.hi.setValue(3.3)
    assert window.valence_limits == (2.2, 3.3)
    assert window.image_panel.viewer.image_item.getLevels() == pytest.approx((2.2, 3.3))
    window.close()
    from ptyxanes_gui.app import create_window

    again = create_window()
    try:
        assert again.valence_limits == (2.2, 3.3)
        assert again.recent_files()[0].endswith("result.h5")
    finally:
        dispose(again)


def test_register_runs_with_progress_then_cancel_leaves_data(qtbot, window, tmp_path):
    path = make_stack_file(tmp_path / "big.h5", "big", shape=(48, 64))
    window.open_paths([str(path)])
    sample = window.current_sample()
    box = window.processing_panel.stages["register"]
    progress = []
    window.processing.stage_finished.connect(lambda *a: None)
    with qtbot.waitSignal(window.processing.stage_finished, timeout=60000) as done:
        box.run_btn.click()
        window.processing.workers["register"].yielded.connect(lambda p: progress.append(p))
    stage, smp, (aligned, table, _params) = done.args
    assert stage == "register" and smp is sample and sample.stack is aligned
    assert table["shifts_row"].shape == (sample.stack.n_energies,)
    assert box.bar.value() == 1000 and box.eta.text() == "done"
    qtbot.waitUntil(lambda: box.run_btn.isEnabled(), timeout=5000)
    # the registration QA panel shows the shifts
    x, _y = window.registration_panel.row_curve.getData()
    assert len(x) == sample.stack.n_energies

    before = np.array(sample.stack.data, copy=True)
    old_reg = sample.registration
    with qtbot.waitSignal(window.processing.stage_cancelled, timeout=10000):
        box.run_btn.click()
        box.cancel_btn.click()
    qtbot.waitUntil(lambda: "register" not in window.processing.workers, timeout=5000)
    assert sample.registration is old_reg
    np.testing.assert_array_equal(np.asarray(sample.stack.data), before)
    assert box.eta.text() == "cancelled"


def test_registration_nudge_and_undo(qtbot, window, tmp_path):
    path = make_stack_file(tmp_path / "s.h5", "s")
    window.open_paths([str(path)])
    with qtbot.waitSignal(window.processing.stage_finished, timeout=60000):
        window.processing_panel.stages["register"].run_btn.click()
    qtbot.waitUntil(lambda: "register" not in window.processing.workers, timeout=5000)
    rp = window.registration_panel
    rp.energy.setValue(3)
    before = rp.shifts.copy()
    rp.nudge_btns["→"].click()
    assert rp.shifts[3, 1] == pytest.approx(before[3, 1] + 0.5)
    rp.undo_btn.click()
    np.testing.assert_array_equal(rp.shifts, before)
    sample = window.current_sample()
    original = sample.stack
    rp.nudge_btns["↓"].click()
    edited = rp.shifts.copy()
    with qtbot.waitSignal(window.processing.stage_finished, timeout=60000):
        rp.apply_btn.click()
    assert sample.stack is not original
    np.testing.assert_allclose(sample.shifts, edited)  # re-registered with the edited shifts
    assert window.document.dirty and window.act_undo.isEnabled()
    rp.unapply_btn.click()  # Edit > Undo
    assert sample.stack is original


def test_fit_from_processing_panel(qtbot, window, tmp_path):
    path = make_stack_file(tmp_path / "s.h5", "s")
    window.open_paths([str(path)])
    box = window.processing_panel.stages["fit"]
    seen = []
    box.bar.valueChanged.connect(seen.append)
    finished = []
    window.processing.stage_finished.connect(lambda *a: finished.append(a))
    box.run_btn.click()
    assert "fit" in window.processing.workers
    qtbot.waitUntil(lambda: "fit" not in window.processing.workers, timeout=100000)
    assert window.last_error == ""
    assert finished and finished[0][0] == "fit"
    assert seen and seen[-1] == 1000
    maps = window.current_sample().maps
    assert "valence" in maps
    assert window.image_panel.current_channel() == "valence"
    # the click inspector refits a pixel exactly as the map did (same shape, calibration)
    rows, cols = np.nonzero(np.isfinite(maps["valence"]))
    assert rows.size > 10
    for i in np.linspace(0, rows.size - 1, 5).astype(int):
        window.show_pixel_spectrum(int(rows[i]), int(cols[i]))
        assert window.last_fit.valence == pytest.approx(maps["valence"][rows[i], cols[i]],
                                                        abs=1e-3)
        assert f"valence {window.last_fit.valence:.2f}" in window.spectrum_panel.result.text()


def test_export_figure_png_size_and_vector(window, result_project, tmp_path):
    from PIL import Image

    path, _ = result_project
    window.open_paths([str(path)])
    png = window.export_figure(tmp_path / "fig.png", dpi=150, size_px=(900, 600))
    with Image.open(png) as im:
        assert im.size == (900, 600)
        assert im.info.get("dpi", (150, 150))[0] == pytest.approx(150, abs=1)
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 10  # not blank
    tif = window.export_figure(tmp_path / "fig.tif", dpi=100, size_px=(400, 300))
    with Image.open(tif) as im:
        assert im.size == (400, 300)
    svg = window.export_figure(tmp_path / "fig.svg")
    assert svg.read_text()[:200].lstrip().startswith("<?xml")
    pdf = window.export_figure(tmp_path / "fig.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    hist = window.export_histogram_csv(tmp_path / "hist.csv")
    lines = hist.read_text().splitlines()
    assert lines[0].startswith("valence,")
    assert len(lines) == 1 + len(window.histogram_panel.data[next(iter(window.histogram_panel.data))][1])


def test_spectrum_pin_and_csv(qtbot, window, two_samples, tmp_path):
    window.open_paths([str(two_samples)])
    _click_pixel(qtbot, window, 10, 10)
    window.spectrum_panel.pin_btn.click()
    _click_pixel(qtbot, window, 12, 25)
    assert len(window.spectrum_panel.pins) == 1
    out = window.export_spectrum_csv(tmp_path / "spec.csv")
    header = out.read_text().splitlines()[0].split(",")
    assert header[:2] == ["energy", "raw"]
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert data.shape[0] == window.current_sample().stack.n_energies
    window.spectrum_panel.clear_pins_btn.click()
    assert window.spectrum_panel.pins == []


def test_malformed_file_gives_message_not_crash(qtbot, window, two_samples, tmp_path):
    window.open_paths([str(two_samples)])
    n_before = len(window.samples)
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"this is not an HDF5 file at all")
    assert not window.open_paths([str(bad)])
    assert "broken.h5" in window.last_error
    qtbot.waitUntil(lambda: any(b.isVisible() for b in window._message_boxes), timeout=3000)
    assert len(window.samples) == n_before
    assert window.current_sample().name == "pristine"


def test_missing_file_and_empty_folder(window, tmp_path):
    assert not window.open_paths([str(tmp_path / "nope.h5")])
    assert "no such file" in window.last_error
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not window.open_paths([str(empty)])
    assert "no readable" in window.last_error


def test_drop_opens_files(qtbot, window, two_samples):
    from qtpy.QtCore import QMimeData, QPointF, QUrl
    from qtpy.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(two_samples / "a_pristine.h5"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    dlg = window.import_dialog_shown  # a stack goes through the Import dialog's preview
    assert dlg._sources == (two_samples / "a_pristine.h5",) and window.samples == []
    qtbot.waitUntil(lambda: dlg.preview() is not None, timeout=20_000)
    with qtbot.waitSignal(window.imported, timeout=20_000):
        dlg.load()
    assert [s.name for s in window.samples] == ["pristine"]


def test_menus_and_about(window):
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "&Process", "&Settings", "&Help"]
    text = window.about_text()
    assert "ptyxanes" in text and "Qt" in text and "http" in text
    window.docks["histogram"].close()
    window.reset_layout()
    assert window.docks["histogram"].isVisible()


def test_screenshot_command(qtbot, tmp_path, settings_path, monkeypatch, two_samples):
    from ptyxanes_gui.__main__ import main
    from qtpy.QtGui import QImage

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    out = tmp_path / "shot.png"
    assert main(["gui", str(two_samples), "--screenshot", str(out), "--size", "1000x700"]) == 0
    img = QImage(str(out))
    assert not img.isNull()
    assert img.width() >= 1000 and img.height() >= 700


def test_export_all_samples_figure(window, result_project, tmp_path):
    from PIL import Image

    path, _ = result_project
    window.open_paths([str(path), str(path)])
    out = window.export_samples_figure(tmp_path / "all.png", dpi=100, size_px=(1000, 400))
    with Image.open(out) as im:
        assert im.size == (1000, 400)


def test_volume_dock_created_lazily_for_3d_results(qtbot, window, tmp_path):
    """A project with a valence volume opens the napari 3D dock (needs OpenGL: Xvfb)."""
    import os

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        pytest.skip("napari needs an OpenGL display (run under Xvfb)")
    from ptyxanes.io.project import MapData, Project, save_project

    vol = np.full((6, 10, 12), np.nan)
    vol[1:5, 2:8, 2:10] = 2.8
    path = tmp_path / "vol.h5"
    save_project(path, Project(maps={"oxidation_state": MapData(vol, 40e-9, "oxidation_state")}))
    assert "dock_volume" not in [d.objectName() for d in window.docks.values()]
    assert window.open_paths([str(path)])
    assert window.docks["volume"].objectName() == "dock_volume"
    assert window.volume.panel is not None
    with qtbot.waitSignal(window.highlight_changed, timeout=3000):
        window.histogram_panel.set_highlight_range(2.7, 2.9)


def test_fit_then_save_project_and_reopen(qtbot, window, tmp_path):
    path = make_stack_file(tmp_path / "s.h5", "s")
    window.open_paths([str(path)])
    window.processing_panel.stages["fit"].run_btn.click()
    qtbot.waitUntil(lambda: "fit" not in window.processing.workers, timeout=100000)
    valence = np.asarray(window.current_sample().maps["valence"], float)
    assert window.save_project_to(tmp_path / "saved.h5"), window.last_error
    window.open_paths([str(tmp_path / "saved.h5")])
    reopened = window.samples[-1]
    np.testing.assert_allclose(np.asarray(reopened.maps["valence"], float), valence)
    assert reopened.stack is not None and reopened.stack.n_energies == 51


def test_cancel_a_running_fit_within_a_second_leaves_the_maps(qtbot, window, tmp_path):
    """A fit of ~100 000 spectra is cancelled mid-way: the stage says cancelled within about
    a second and the sample keeps the maps of the previous fit."""
    import time

    path = make_stack_file(tmp_path / "big.h5", "big", shape=(250, 400))
    window.open_paths([str(path)])
    sample = window.current_sample()
    old_maps = {"valence": np.full(sample.shape, 2.5)}
    sample.maps = dict(old_maps)
    box = window.processing_panel.stages["fit"]
    box.run_btn.click()
    worker = window.processing.workers["fit"]
    seen = []
    worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=60000)  # running
    t0 = time.monotonic()
    with qtbot.waitSignal(window.processing.stage_cancelled, timeout=10000):
        box.cancel_btn.click()
    latency = time.monotonic() - t0
    assert latency < 2.5, latency  # one 16k-spectra chunk on 2 shared cores
    qtbot.waitUntil(lambda: "fit" not in window.processing.workers, timeout=5000)
    assert set(sample.maps) == {"valence"}
    np.testing.assert_array_equal(sample.maps["valence"], old_maps["valence"])
    assert box.eta.text() == "cancelled"
    assert seen[-1].done < seen[-1].total  # stopped between chunks, not at the end
