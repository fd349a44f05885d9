"""File ▸ Import…: preview, editable energies, load in a worker, Cancel, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from ptyxanes_gui.dialogs import ImportDialog, accept_drop_paths
from ptyxanes_gui.presenters.data_presenter import ImportReader
from qtpy.QtCore import QMimeData, QPointF, Qt, QUrl
from qtpy.QtGui import QDropEvent

from ptyxanes.io.formats import open_stack

STXM = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
        / "stxm_fe_L_edge_als_stack" / "71214078_aligned")
WAIT = 60_000  # ms; a generous bound for 2 busy cores, never a sleep


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dialog(qtbot, tmp_path):
    dlg = ImportDialog(start_dir=tmp_path)
    dlg.reader = ImportReader(dlg)  # runs the dialog's reads in a worker
    qtbot.addWidget(dlg)
    dlg.show()
    yield dlg
    dlg.cancel()
    qtbot.waitUntil(lambda: not dlg.is_busy(), timeout=WAIT)


def _preview(qtbot, dlg, paths):
    with qtbot.waitSignal(dlg.preview_ready, timeout=WAIT) as blk:
        dlg.set_sources(paths)
    return blk.args[0]


def _edit(dlg, row, text):
    dlg.energy_table.item(row, 0).setText(text)


@pytest.mark.slow
def test_stxm_preview_then_load_with_edited_energy(qtbot, dialog):
    pv = _preview(qtbot, dialog, [STXM])
    assert pv.format == "stxm"
    assert dialog.format_label.text().startswith("stxm")
    assert pv.shape == (123, 125, 125)
    assert "125 × 125" in dialog.shape_label.text()
    assert pv.energy.size == 123 and dialog.energy_table.rowCount() == 123
    assert pv.energy[0] == 700.0 and pv.energy[-1] == pytest.approx(730.353, abs=1e-9)
    assert dialog.energy_table.item(0, 0).text() == "700.000"
    assert dialog.energy_table.item(122, 0).text() == "730.353"
    assert dialog.energy_range_label.text() == "123, 700.000–730.353 eV"
    assert dialog.pixel_label.text() == "80.00 nm"
    assert dialog.angles_label.text() == "none"
    assert "optical density" in dialog.values_label.text()

    _edit(dialog, 0, "699.5")  # still increasing
    with qtbot.waitSignal(dialog.stack_loaded, timeout=WAIT) as blk:
        dialog.load_button.click()
    stack = blk.args[0]
    assert dialog.result() is stack

    ref = open_stack(STXM)
    assert_array_equal(np.asarray(stack.data), np.asarray(ref.data))
    assert stack.kind == ref.kind == "absorption"
    assert_array_equal(stack.pixel_size, ref.pixel_size)
    want = ref.energy.copy()
    want[0] = 699.5
    assert_array_equal(stack.energy, want)  # the other 122 keep the header's exact values
    assert stack.attrs["energies_edited"] is True


@pytest.mark.slow
def test_cancel_during_load_gives_no_stack(qtbot, dialog):
    _preview(qtbot, dialog, [STXM])
    loaded = []
    dialog.stack_loaded.connect(loaded.append)
    seen = []

    def on_progress(f):
        seen.append(f)
        if len(seen) == 1:
            dialog.cancel_button.click()

    dialog.progress_changed.connect(on_progress)
    with qtbot.waitSignal(dialog.load_cancelled, timeout=WAIT):
        dialog.load_button.click()
    assert seen and seen[0] < 1.0
    assert dialog.result() is None and loaded == []
    assert "cancelled" in dialog.message()
    assert not dialog.is_busy() and dialog.load_button.isEnabled()  # can Load again

    # closing the dialog during a load stops it too, and nothing arrives afterwards
    from qtpy.QtCore import QCoreApplication, QThreadPool

    seen.clear()
    dialog.progress_changed.disconnect(on_progress)
    with qtbot.waitSignal(dialog.progress_changed, timeout=WAIT):
        dialog.load()
    dialog.close()
    assert not dialog.is_busy()
    assert QThreadPool.globalInstance().waitForDone(WAIT)
    QCoreApplication.processEvents()
    assert dialog.result() is None and loaded == []


def test_unedited_energies_and_load_of_a_nexus_stack(qtbot, dialog, tiny_stack_file):
    pv = _preview(qtbot, dialog, [tiny_stack_file])
    ref = open_stack(tiny_stack_file, lazy=False)
    assert pv.format == "nexus"
    assert_array_equal(pv.energy, ref.energy)
    assert dialog.pixel_label.text() == "40.00 nm"
    with qtbot.waitSignal(dialog.stack_loaded, timeout=WAIT) as blk:
        dialog.load()
    stack = blk.args[0]
    assert isinstance(stack.data, np.ndarray)  # read into memory (lazy=False)
    assert_array_equal(stack.data, ref.data)
    assert_array_equal(stack.energy, ref.energy)
    assert "energies_edited" not in stack.attrs


def test_energies_not_increasing_are_refused_before_loading(qtbot, dialog, tiny_stack_file):
    _preview(qtbot, dialog, [tiny_stack_file])
    second = dialog.energy_table.item(1, 0).text()
    _edit(dialog, 2, second)  # repeats row 2's energy
    assert "not strictly increasing" in dialog.message()
    loaded = []
    dialog.stack_loaded.connect(loaded.append)
    with qtbot.waitSignal(dialog.failed, timeout=WAIT) as blk:
        dialog.load()
    assert "row 3" in blk.args[0]
    assert not dialog.is_busy() and loaded == [] and dialog.result() is None


def test_energies_file_replaces_the_energies(qtbot, dialog, tiny_stack_file, tmp_path):
    ref = open_stack(tiny_stack_file, lazy=False)
    efile = tmp_path / "energies.txt"
    new = ref.energy + 2.5
    efile.write_text("\n".join(f"{e:.1f}" for e in new))
    _preview(qtbot, dialog, [tiny_stack_file])
    with qtbot.waitSignal(dialog.preview_ready, timeout=WAIT) as blk:
        dialog.set_energies_file(efile)
    assert_array_equal(blk.args[0].energy, new)
    with qtbot.waitSignal(dialog.stack_loaded, timeout=WAIT) as blk:
        dialog.load()
    assert_array_equal(blk.args[0].energy, new)


def _truncated_h5(tmp_path):
    from conftest import make_stack_file

    p = make_stack_file(tmp_path / "cut.h5")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 5])
    return p, "truncated"


def _garbage_text(tmp_path):
    p = tmp_path / "notes.dat"
    p.write_bytes(b"this is not data\x00\x01\x02 at all\n" * 20)
    return p, "no known format"


@pytest.mark.parametrize("make", [_truncated_h5, _garbage_text])
def test_malformed_file_shows_a_clear_message(qtbot, dialog, tmp_path, make):
    path, problem = make(tmp_path)
    before = _sha(path)
    with qtbot.waitSignal(dialog.failed, timeout=WAIT) as blk:
        dialog.set_sources([path])
    text = blk.args[0]
    assert text == dialog.message()
    lines = text.splitlines()
    assert lines[0] == f"Could not read {path}"
    assert lines[1].startswith("Format tried: ")
    assert lines[2].startswith("Problem: ") and problem in lines[2]
    assert "Traceback" not in text and "Error" not in text
    assert dialog.preview() is None and not dialog.load_button.isEnabled()
    assert dialog.result() is None
    assert _sha(path) == before
    assert sorted(q.name for q in tmp_path.iterdir()) == [path.name]  # nothing written


def test_forced_format_that_does_not_fit_names_it(qtbot, dialog, tiny_stack_file):
    _preview(qtbot, dialog, [tiny_stack_file])
    with qtbot.waitSignal(dialog.failed, timeout=WAIT) as blk:
        dialog.set_format("ptypy")
    assert f"Could not read {tiny_stack_file}" in blk.args[0]
    assert "Format tried: ptypy (chosen)" in blk.args[0]
    assert "not a ptypy file" in blk.args[0]
    assert dialog.preview() is None and not dialog.load_button.isEnabled()


def test_drop_of_a_file_previews_it(qtbot, dialog, tiny_stack_file, tmp_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_stack_file)),
                  QUrl.fromLocalFile(str(tmp_path / "absent.h5")),
                  QUrl("https://example.org/stack.h5"),
                  QUrl.fromLocalFile(str(tiny_stack_file))])
    assert accept_drop_paths(mime) == [tiny_stack_file]
    assert accept_drop_paths(QMimeData()) == []
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    # Qt delivers drop events only during a real drag; call the handler as Qt would
    with qtbot.waitSignal(dialog.preview_ready, timeout=WAIT) as blk:
        dialog.dropEvent(event)
    assert event.isAccepted()
    assert blk.args[0].sources == (tiny_stack_file,)
    assert dialog.source_edit.text() == str(tiny_stack_file)


def test_dataset_top_folder_points_to_the_readable_subfolder(qtbot, dialog):
    with qtbot.waitSignal(dialog.failed, timeout=WAIT) as blk:
        dialog.set_sources([STXM.parent])
    assert blk.args[0].startswith(f"Could not read {STXM.parent}\n")
    assert "It holds readable folders: 71214078_aligned (stxm)" in blk.args[0]


@pytest.mark.slow
def test_i0_file_is_used_for_the_optical_density(qtbot, dialog, tmp_path):
    e, i0 = np.loadtxt(STXM / "i0.xsp", unpack=True)
    doubled = tmp_path / "i0_doubled.xsp"
    np.savetxt(doubled, np.column_stack([e, 2 * i0]))
    _preview(qtbot, dialog, [STXM])
    dialog.i0_edit.setText(str(doubled))
    with qtbot.waitSignal(dialog.preview_ready, timeout=WAIT):
        dialog.i0_edit.editingFinished.emit()
    with qtbot.waitSignal(dialog.stack_loaded, timeout=WAIT) as blk:
        dialog.load()
    ref = open_stack(STXM)  # with the shipped i0.xsp
    # OD = -ln(I / I0): twice the flux adds ln 2 everywhere
    np.testing.assert_allclose(np.asarray(blk.args[0].data), np.asarray(ref.data) + np.log(2),
                               atol=2e-6)


def test_tiff_without_energies_asks_for_them_then_loads(qtbot, dialog, tmp_path):
    import tifffile

    images = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5) + 1
    tif = tmp_path / "stack.tif"
    tifffile.imwrite(tif, images)
    with qtbot.waitSignal(dialog.failed, timeout=WAIT) as blk:
        dialog.set_sources([tif])
    assert f"Could not read {tif}" in blk.args[0]
    assert "Format tried: tiff" in blk.args[0]
    assert "Load energies from file…" in blk.args[0]  # the dialog's control, not a CLI flag
    efile = tmp_path / "energy_list.dat"
    efile.write_text("8.330\n8.331\n8.340\n")  # keV, read as eV
    with qtbot.waitSignal(dialog.preview_ready, timeout=WAIT) as blk:
        dialog.set_energies_file(efile)
    assert_array_equal(blk.args[0].energy, [8330.0, 8331.0, 8340.0])
    assert blk.args[0].shape == (3, 4, 5)
    with qtbot.waitSignal(dialog.stack_loaded, timeout=WAIT) as blk:
        dialog.load()
    np.testing.assert_array_equal(np.abs(np.asarray(blk.args[0].data)), images)


def test_angles_for_a_2d_stack_are_refused_clearly(qtbot, dialog, tiny_stack_file, tmp_path):
    angles = tmp_path / "angles.txt"
    angles.write_text("0\n90\n")
    _preview(qtbot, dialog, [tiny_stack_file])
    dialog.angles_edit.setText(str(angles))
    with qtbot.waitSignal(dialog.failed, timeout=WAIT) as blk:
        dialog.angles_edit.editingFinished.emit()
    assert "Format tried: nexus" in blk.args[0]
    assert "angles given but the stack is not a tilt series" in blk.args[0]


def test_a_new_source_replaces_a_running_preview(qtbot, dialog, tiny_stack_file):
    from qtpy.QtCore import QCoreApplication, QThreadPool

    seen = []
    dialog.preview_ready.connect(seen.append)
    dialog.set_sources([STXM])  # 123 text images: still reading when replaced
    with qtbot.waitSignal(dialog.preview_ready, timeout=WAIT):
        dialog.set_sources([tiny_stack_file])
    assert QThreadPool.globalInstance().waitForDone(WAIT)  # the stale STXM worker has ended
    QCoreApplication.processEvents()  # deliver its queued signals (none may count)
    assert [p.format for p in seen] == ["nexus"]
    assert dialog.preview().sources == (tiny_stack_file,)
    assert dialog.energy_table.rowCount() == len(seen[0].energy)
