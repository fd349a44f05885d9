"""The document: the whole dataset saved and reopened, unsaved work guarded, overlays per sample."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dispose, make_stack_file
from ptyxanes_gui.document import Document, Sample
from ptyxanes_gui.presenters import opening, stage_jobs
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication, QMessageBox

from ptyxanes.progress import run_sync


def _fitted(tmp_path, name, seed):
    (s,) = opening.load_path(make_stack_file(tmp_path / f"{name}.h5", name, seed=seed))
    stage_jobs.apply_stage_result("fit", s, run_sync(stage_jobs.fit_job(s)))
    return s


def _assert_same(a, b):
    assert a.name == b.name and a.references == b.references
    assert set(a.maps) == set(b.maps) and a.maps
    for k in a.maps:
        np.testing.assert_array_equal(np.asarray(a.maps[k]), np.asarray(b.maps[k]))
    np.testing.assert_array_equal(np.asarray(a.stack.data), np.asarray(b.stack.data))
    np.testing.assert_allclose(a.stack.pixel_size, b.stack.pixel_size)
    assert a.fit_model == b.fit_model
    assert set(a.labels) == set(b.labels)
    for k in a.labels:
        np.testing.assert_array_equal(a.labels[k], b.labels[k])
    assert (a.registration is None) == (b.registration is None)
    if a.registration is not None:
        for k in a.registration:
            np.testing.assert_array_equal(a.registration[k], b.registration[k])
        np.testing.assert_array_equal(np.asarray(a.unregistered.data),
                                      np.asarray(b.unregistered.data))
    assert (a.crystal_table is None) == (b.crystal_table is None)
    if a.crystal_table is not None:
        for k, v in a.crystal_table.columns().items():
            np.testing.assert_array_equal(v, b.crystal_table.columns()[k])


def test_save_four_fitted_samples_registration_and_segmentation_then_reopen(qtbot, window,
                                                                            tmp_path):
    samples = [_fitted(tmp_path, f"s{i}", seed=i) for i in range(4)]
    # one registered (then fitted on the registered stack), one segmented
    stage_jobs.apply_stage_result("register", samples[1], run_sync(stage_jobs.register_job(samples[1])))
    stage_jobs.apply_stage_result("fit", samples[1], run_sync(stage_jobs.fit_job(samples[1])))
    stage_jobs.apply_stage_result("segment", samples[2],
                              run_sync(stage_jobs.segment_job(samples[2], threshold=2.6,
                                                          min_island_size=1)))
    assert samples[2].crystal_table is not None and len(samples[2].crystal_table) >= 1
    window.document.add_samples(samples, dirty=True)
    assert window.document.dirty
    out = tmp_path / "all.ptyx.h5"
    assert window.save_project_to(out), window.last_error
    assert not window.document.dirty and window.document.path == out

    reopened = opening.load_path(out)
    assert len(reopened) == 4
    for a, b in zip(samples, reopened, strict=True):
        _assert_same(a, b)
    # the registration's parameters and the fit's references travel with the sample
    assert reopened[1].parameters["align"]["upsample_factor"] == 100
    assert reopened[1].shifts.shape == (samples[1].stack.n_energies, 2)


def test_closing_with_unsaved_work_asks(qtbot, window, tmp_path):
    window.ask_before_close = True
    (s,) = opening.load_path(make_stack_file(tmp_path / "a.h5", "a"))
    window.document.add_samples([s])
    window.document.changed(s)  # e.g. a stage finished
    answers = []

    def answer(button):
        def click():
            box = next(w for w in QApplication.topLevelWidgets()
                       if isinstance(w, QMessageBox) and w.objectName() == "unsaved_box"
                       and w.isVisible())
            answers.append(box.text())
            box.button(button).click()
        QTimer.singleShot(50, click)

    answer(QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert answers and window.isVisible()
    answer(QMessageBox.StandardButton.Discard)
    assert window.close()
    assert len(answers) == 2
    window.ask_before_close = False


def test_clean_document_closes_without_asking(window):
    assert not window.document.dirty
    assert window.close()


def test_switching_samples_clears_overlays_and_export_holds_one_sample(qtbot, window,
                                                                      tmp_path):
    from PIL import Image

    a, b = _fitted(tmp_path, "a", 0), _fitted(tmp_path, "b", 1)
    b.maps["valence"] = np.where(np.isfinite(b.maps["valence"]), 3.6, np.nan)  # out of range
    window.document.add_samples([a, b])
    window.data_panel.add_dataset("two", [(0, "a", "", ""), (1, "b", "", "")])
    window.select_sample(0)
    window.image_panel.set_channel("valence")
    window.histogram_panel.set_highlight_range(2.0, 3.0)
    assert window.highlight_mask is not None and window.highlight_mask.any()
    window.select_sample(1)
    assert window.highlight_mask is None
    assert not window.image_panel.viewer.highlight_item.isVisible()
    assert not window.histogram_panel.highlight_box.isChecked()
    png = window.export_figure(tmp_path / "b.png", dpi=50)
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    highlight = (rgb[..., 1] > 180) & (rgb[..., 0] < 90) & (rgb[..., 2] < 90)
    assert highlight.sum() == 0  # no green highlight pixels of sample a in b's figure


def test_document_undo_redo_and_dirty_events():
    doc = Document()
    doc.add_samples([Sample("a", None)])  # a document without samples has nothing to save
    seen = []
    doc.dirty_changed.connect(seen.append)
    state = {"v": 1}
    from ptyxanes_gui.document import Edit

    state["v"] = 2
    doc.push(Edit("set 2", lambda: state.update(v=1), lambda: state.update(v=2)))
    assert doc.dirty and seen == [True] and doc.undo_text == "set 2"
    assert doc.undo() == "set 2" and state["v"] == 1 and doc.redo_text == "set 2"
    assert doc.redo() == "set 2" and state["v"] == 2
    assert doc.undo() and doc.undo() is None


def test_autosave_writes_a_recovery_file_offered_after_a_crash(qtbot, window, tmp_path,
                                                               monkeypatch):
    (s,) = opening.load_path(make_stack_file(tmp_path / "a.h5", "a"))
    window.document.add_samples([s], dirty=True)
    path = window._autosave.autosave()
    assert path is not None and path.is_file()
    assert window.document.dirty and window.document.path is None  # autosave is not Save
    assert window._autosave.pending() == path
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Open))
    n = len(window.samples)
    assert window.offer_recovery()
    assert len(window.samples) == n + 1 and window.document.dirty
    np.testing.assert_array_equal(np.asarray(window.samples[-1].stack.data),
                                  np.asarray(s.stack.data))
    window.document.set_dirty(False)
    window.close()  # a clean close removes the recovery file
    assert window._autosave.pending() is None


@pytest.mark.parametrize("size", [(1366, 768)])
def test_every_dock_fits_a_laptop_screen(qtbot, window, size, tmp_path):
    from qtpy.QtWidgets import QScrollArea

    assert window.open_paths([str(make_stack_file(tmp_path / "s.h5", "a sample"))])
    window.show_pixel_spectrum(12, 16)
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() <= size[0], timeout=5000)
    # before the 3D dock opens: the histogram's plot, message and table are all shown
    hist = window.docks["histogram"].findChild(QScrollArea)
    qtbot.waitUntil(lambda: hist.viewport().height() < 0.4 * size[1], timeout=5000)
    assert hist.verticalScrollBar().maximum() == 0, hist.viewport().height()
    window.show_volume_dock()  # the 3D dock too
    qtbot.waitUntil(lambda: window.width() <= size[0], timeout=5000)
    # the 3D dock takes about half the right column, the spectrum keeps the rest
    spectrum = window.docks["spectrum"]
    qtbot.waitUntil(lambda: spectrum.height() > 0.3 * size[1], timeout=5000)
    assert window.minimumSizeHint().width() <= size[0]
    assert window.minimumSize().width() <= size[0] and window.minimumSize().height() <= size[1]
    QApplication.processEvents()
    shown = []
    for key, dock in window.docks.items():
        if not dock.isVisible() or dock.visibleRegion().isEmpty():
            continue  # closed, or a tab behind another
        shown.append(key)
        top_left = dock.mapTo(window, dock.rect().topLeft())
        assert top_left.x() >= 0 and top_left.x() + dock.width() <= size[0] + 1, key
        assert top_left.y() >= 0 and top_left.y() + dock.height() <= size[1] + 1, key
        # and its controls fit its width: no scroll area in it needs a horizontal bar
        for area in dock.findChildren(QScrollArea):
            if area.isVisible():
                assert area.horizontalScrollBar().maximum() == 0, (key, area.objectName())
    assert {"data", "processing", "spectrum", "log"} <= set(shown)
    assert "volume" in shown or "histogram" in shown
    # the spectrum's plots and buttons are all shown: its dock does not scroll
    scroll = spectrum.findChild(QScrollArea)
    assert scroll.verticalScrollBar().maximum() == 0
    assert window.spectrum_panel.plots.height() >= 150


def test_form_choices_are_saved_with_the_project_and_shown_again(qtbot, window, tmp_path):
    from ptyxanes_gui.app import create_window
    from ptyxanes_gui.document import sample_to_project, saved_parameters
    from ptyxanes_gui.presenters.processing_presenter import form_values

    from ptyxanes.io.project import save_dataset
    from ptyxanes.xanes.calibration import default_references

    # a dataset file saved before the forms were kept: opens, the forms keep their choices
    (s,) = opening.load_path(make_stack_file(tmp_path / "a.h5", "a"))
    old = save_dataset(tmp_path / "old.ptyx.h5", [sample_to_project(s)])
    assert saved_parameters(old) == {}
    doc = window.document
    defaults = {k: dict(v) for k, v in doc.parameters.items()}
    assert window.data.open_paths([str(old)])
    assert len(doc.samples) == 1 and doc.parameters == defaults and not doc.dirty

    # the user's choices: edge, method, mask significance, references, registration, tomo
    stages = window.processing_panel.stages
    fit = stages["fit"]
    assert fit.inputs["edge"].currentText() != "Er-L3"  # Er L3 (8358 eV) is in the data
    with qtbot.waitSignal(doc.parameters_changed):
        fit.inputs["edge"].setCurrentText("Er-L3")
    fit.inputs["method"].setCurrentText("halfstep")
    fit.inputs["mask_sigma"].setValue(fit.inputs["mask_sigma"].value() + 2.0)
    ref = next((float(r.valence), str(r.path)) for r in default_references())
    fit.add_reference_file(*ref)
    fit.set_ref_match(2.0, ref[1])  # a spectrum of the valence-2 compound, measured with the data
    e = np.arange(8280.0, 8400.0, 0.25)
    foil = tmp_path / "foil.txt"  # an edge-like foil spectrum: the form shows its shift
    np.savetxt(foil, np.c_[e, 1 / (1 + np.exp(-(e - 8356.0) / 1.2))])
    fit.set_foil_file(str(foil))
    assert fit.foil_shift_label.text().startswith("+2.00 eV (foil")  # 8358 - 8356 eV
    stages["register"].inputs["upsample_factor"].setValue(37)
    with qtbot.waitSignal(doc.parameters_changed):
        stages["tomo"].inputs["iterations"].setValue(77)
    assert doc.dirty
    chosen = {k: dict(v) for k, v in doc.parameters.items()}
    shown = {k: form_values(b) for k, b in stages.items()}
    assert chosen["fit"]["method"] == "halfstep" and chosen["tomo"]["iterations"] == 77
    out = tmp_path / "forms.ptyx.h5"
    assert window.save_project_to(out), window.last_error
    assert not doc.dirty

    fresh = create_window()
    fresh.ask_before_close = False
    try:
        assert fresh.document.parameters != chosen
        with qtbot.waitSignal(fresh.document.parameters_changed):
            assert fresh.data.open_paths([str(out)])
        fs = fresh.processing_panel.stages
        assert fresh.document.parameters == chosen
        assert {k: form_values(b) for k, b in fs.items()} == shown
        assert fs["fit"].inputs["edge"].currentText() == "Er-L3"
        assert fs["fit"].inputs["method"].currentText() == "halfstep"
        assert fs["fit"].inputs["mask_sigma"].value() == chosen["fit"]["mask_sigma"]
        assert fs["fit"].reference_files == [ref]
        assert fs["fit"].inputs["references_from"].currentData() == "files"
        assert fs["fit"].params()["ref_match"] == (2.0, ref[1])
        assert fs["fit"].params()["foil"] == str(foil)
        assert fs["fit"].foil_shift_label.text() == fit.foil_shift_label.text()
        assert fs["register"].inputs["upsample_factor"].value() == 37
        assert fs["tomo"].inputs["iterations"].value() == 77
        # reopening is neither unsaved work nor an undo step
        assert not fresh.document.dirty and fresh.document.undo_text is None
        # the saved choices are the document's, not a sample's stage parameters
        assert "gui_forms" not in fresh.document.samples[0].parameters
    finally:
        dispose(fresh)
