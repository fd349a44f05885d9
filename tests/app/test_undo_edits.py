"""Undoable user edits: segmentation hand edits, reference and parameter choices.

Every edit goes through the window's document as one undo step with a name, marks
the document dirty, and an undo gives back exactly the state before it.
"""

from __future__ import annotations

import numpy as np
import pytest
from ptyxanes_gui.document import Document, Edit, Sample, load_samples
from qtpy.QtGui import QKeySequence


def test_dirty_follows_the_saved_state_through_undo_redo_and_merges():
    doc = Document()
    state = {"v": 0}

    def edit(v: int, key=None) -> Edit:
        old = state["v"]
        state["v"] = v
        return Edit(f"set {v}", lambda: state.update(v=old), lambda: state.update(v=v),
                    merge_key=key)

    doc.push(edit(1))
    assert not doc.dirty  # no samples: nothing to save
    doc.add_samples([Sample("a", None)])
    assert not doc.dirty
    doc.push(edit(2))
    assert doc.dirty
    doc.set_dirty(False)  # saved with v == 2
    doc.push(edit(3))
    assert doc.dirty
    doc.undo()
    assert state["v"] == 2 and not doc.dirty  # back at the saved state
    doc.undo()
    assert state["v"] == 1 and doc.dirty
    doc.redo()
    assert state["v"] == 2 and not doc.dirty
    # keystrokes of one field merge into one step; undo goes back before the first
    doc.push(edit(5, key="k"))
    doc.push(edit(6, key="k"))
    assert doc.undo_text == "set 6" and doc.undo() == "set 6"
    assert state["v"] == 2 and not doc.dirty
    # a stage result is unsaved work that no undo takes back
    doc.changed(doc.samples[0])
    doc.push(edit(7))
    doc.undo()
    assert doc.dirty
    # forgetting an owner's applied edits keeps the document dirty
    doc.set_dirty(False)
    doc.push(Edit("x", lambda: None, lambda: None, owner="panel"))
    assert doc.forget("panel") == 1 and doc.undo_text == "set 2" and doc.dirty


def test_parameter_and_reference_edits_undo_through_the_edit_menu(qtbot, window):
    from ptyxanes.xanes.calibration import default_references

    doc = window.document
    doc.add_samples([Sample("a", None)])
    assert "Ctrl+Shift+Z" in [k.toString() for k in window.act_redo.shortcuts()]
    assert window.act_undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)

    # a parameter: the form and the document's parameters go back and forth
    box = window.processing_panel.stages["fit"]
    sigma = box.inputs["mask_sigma"]
    before = sigma.value()
    assert doc.parameters["fit"]["mask_sigma"] == before and not doc.dirty
    with qtbot.waitSignal(doc.dirty_changed):
        sigma.setValue(before + 2.0)
    assert doc.parameters["fit"]["mask_sigma"] == before + 2.0
    assert window.act_undo.text() == f"&Undo set fit mask significance (σ) to {before + 2:g}"
    window.act_undo.trigger()
    assert sigma.value() == before and doc.parameters["fit"]["mask_sigma"] == before
    assert window.act_redo.text().startswith("&Redo set fit mask significance")
    window.act_redo.trigger()
    assert sigma.value() == before + 2.0 and doc.parameters["fit"]["mask_sigma"] == before + 2.0
    # typing an edge is one step, whatever the edge in between
    edge = box.inputs["edge"]
    first = edge.currentText()
    for text in ("F", "Fe", "Fe-", "Fe-K", "Fe-L", "Fe-L3"):
        edge.setCurrentText(text)
    assert window.act_undo.text() == "&Undo set fit edge to Fe-L3"
    window.act_undo.trigger()
    assert edge.currentText() == first and doc.parameters["fit"]["edge"] == first
    assert window.act_undo.text().startswith("&Undo set fit mask significance")
    seg = window.processing_panel.stages["segment"].inputs["split_touching"]
    seg.setChecked(not seg.isChecked())
    assert window.act_undo.text() == ("&Undo turn on segment split touching crystals"
                                      if seg.isChecked() else
                                      "&Undo turn off segment split touching crystals")
    window.act_undo.trigger()
    assert doc.parameters["segment"]["split_touching"] == seg.isChecked()

    # references: load two files, change a valence in the table, remove one; undo each
    files = [(float(r.valence), str(r.path)) for r in default_references()]
    box.add_reference_file(*files[0])
    box.add_reference_file(*files[1])
    assert box.inputs["references_from"].currentData() == "files"
    assert doc.parameters["fit"]["reference_files"] == tuple(files)
    assert window.act_undo.text() == f"&Undo add reference LiNiO2_pyxas.txt ({files[1][0]:g})"
    item = box.ref_table.item(1, 1)
    assert item.text().startswith("3")
    with qtbot.waitSignal(box.references_changed):
        item.setText("3.5")  # the user types a valence into the table
    assert box.reference_files[1][0] == 3.5
    assert window.act_undo.text() == "&Undo set the valence of LiNiO2_pyxas.txt to 3.5"
    assert box.ref_table.item(1, 1).text().startswith("3.5")
    window.act_undo.trigger()
    assert box.reference_files == files and doc.parameters["fit"]["reference_files"] == tuple(files)
    assert box.ref_table.item(1, 1).text().startswith("3 ")
    box.ref_table.setCurrentCell(0, 0)
    box.remove_ref_btn.click()
    assert box.reference_files == files[1:]
    window.act_undo.trigger()
    assert box.reference_files == files
    # the shift added to every reference's energies
    shift = box.inputs["ref_shift"]
    shift.setText("1.5")
    assert window.act_undo.text() == "&Undo set fit reference shift (eV) to 1.5"
    assert doc.parameters["fit"]["ref_shift"] == "1.5"
    window.act_undo.trigger()
    assert shift.text() == "" and doc.parameters["fit"]["ref_shift"] == ""
    # the source choice: shipped, then undo back to the loaded files
    src = box.inputs["references_from"]
    src.setCurrentIndex(src.findData("shipped"))
    assert window.act_undo.text() == "&Undo use the shipped references"
    window.act_undo.trigger()
    assert src.currentData() == "files" and doc.parameters["fit"]["references_from"] == "files"
    # everything undone back to the opened state: clean again
    while doc.undo_text is not None:
        window.act_undo.trigger()
    assert box.reference_files == [] and sigma.value() == before and not doc.dirty


@pytest.mark.napari
def test_label_stroke_is_one_undo_step_and_saved_labels_reopen(qtbot, tmp_path):
    from ptyxanes_gui.panels.segmentation_panel import SegmentationPanel
    from ptyxanes_gui.panels.volume_panel import VolumePanel
    from ptyxanes_gui.presenters.segmentation_presenter import SegmentationPresenter
    from ptyxanes_gui.presenters.volume_presenter import CrystalLabeller

    # a ball whose valence rises from 2.0 to 3.4 along the columns (NaN outside)
    n, voxel = 24, 50e-9
    p, r, c = np.mgrid[:n, :n, :n] - (n - 1) / 2
    v = np.where(p**2 + r**2 + c**2 < (0.45 * n) ** 2, 2.7 + 1.4 * c / n, np.nan)
    v = v.astype(np.float32)
    sample = Sample("ball", None, maps={"valence": v[n // 2]}, pixel_size=voxel, volume=v,
                    voxel_size=voxel, volume_maps={"valence": v})
    doc = Document()
    doc.add_samples([sample])
    vp = VolumePanel()
    vp.labeller = CrystalLabeller(vp)  # labels the crystals of a new volume
    sp = SegmentationPanel(vp)
    SegmentationPresenter(sp)  # the panel's presenter (its edits, undo and workers)
    qtbot.addWidget(vp)
    qtbot.addWidget(sp)
    vp.show()
    try:
        sp.set_data(v, voxel, np.isfinite(v))
        sp.presenter.attach(doc, sample)  # as the window does for the sample it shows
        assert not doc.dirty and np.array_equal(sample.labels["high_ox"], sp.labels())
        seeded = sp.labels()

        # one 3D brush stroke -> one undo step, the document dirty
        sp.check_3d_edit.setChecked(True)
        sp.set_tool("paint")
        sp.spin_brush.setValue(3)
        with np.errstate(invalid="ignore"):
            empty = np.argwhere(np.isfinite(v) & ~(v > sp.threshold))
        centre = tuple(int(i) for i in empty[len(empty) // 2])
        with qtbot.waitSignal(doc.dirty_changed, timeout=5000):
            sp.labels_layer.paint(centre, 1)
        painted = sp.labels()
        assert painted[centre] == 1 and (painted != seeded).any()
        assert doc.undo_edit.kind == "labels" and doc.undo_text.startswith("paint labels (")
        assert np.array_equal(sample.labels["high_ox"], painted)
        assert sp.button_undo.toolTip() == f"Undo {doc.undo_text}"
        assert doc.undo() is not None
        assert np.array_equal(sp.labels(), seeded) and np.array_equal(sample.labels["high_ox"],
                                                                      seeded)
        assert not doc.dirty  # back at the opened state
        doc.redo()
        assert np.array_equal(sp.labels(), painted) and doc.dirty

        # a 2D eraser stroke in the slice, also one step
        sp.check_3d_edit.setChecked(False)
        sp.set_tool("erase")
        labelled = tuple(int(i) for i in np.argwhere(seeded)[0])
        with qtbot.waitSignal(doc.undo_changed, timeout=5000):
            sp.labels_layer.paint(labelled, 0)
        edited = sp.labels()
        assert edited[labelled] == 0 and doc.undo_text.startswith("erase labels (")
        sp.button_undo.click()
        assert np.array_equal(sp.labels(), painted)
        sp.button_redo.click()
        assert np.array_equal(sp.labels(), edited)

        # saved, reopened as the window does (seed, saved hand edits): the edited labels
        out = doc.save(tmp_path / "edited.ptyx.h5")
        assert not doc.dirty
        (back,) = load_samples(out)
        assert np.array_equal(back.labels["high_ox"], edited)
        # a new threshold changes the labels to be saved: unsaved work, not an undo step
        top = doc.undo_edit
        sp.set_threshold(sp.threshold + 0.2)
        assert doc.dirty and doc.undo_edit is top
        assert np.array_equal(sample.labels["high_ox"], sp.labels())
        sp.set_data(back.volume, back.voxel_size, np.isfinite(back.volume))
        assert doc.undo_edit is None or doc.undo_edit.kind != "labels"  # old volume's edits
        assert sp.restore_edits(back.labels["high_ox_added"], back.labels["high_ox_removed"])
        doc2 = Document()
        doc2.add_samples([back])
        sp.presenter.attach(doc2, back)
        assert np.array_equal(sp.labels(), edited) and not doc2.dirty
    finally:
        vp.close_viewer()
