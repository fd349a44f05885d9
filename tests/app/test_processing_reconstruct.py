"""Reconstruct stage of the Processing panel on raw CXI scans: progress, live preview,
result equal to the engine's own run, cancel, readable errors.

Uses the engine's cached demo scans (tiny 2D twin at level cxi, ~4 s to simulate)
in a temporary cache; a few energies and iterations keep each run to seconds.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest


def _open_scans(window, folder, keep=slice(None)):
    assert window.open_paths([str(folder)]), window.last_error
    s = window.current_sample()
    assert s.kind == "scans" and s.stack is None
    s.scans = s.scans[keep]
    return s


def test_open_scans_sample(window, demo_scans):
    from ptyxanes.io.cxi import read_scan_series

    s = _open_scans(window, demo_scans)
    truth = read_scan_series(demo_scans)
    assert [x.energy for x in s.scans] == pytest.approx([x.energy for x in truth])
    assert len(s.scans) == 18
    top = window.data_panel.tree.topLevelItem(0).child(0)
    assert top.text(1) == "18 scans" and top.text(2) == "18"
    # what cannot run yet says why, the reconstruct stage can run
    from ptyxanes_gui.presenters import stage_jobs

    assert stage_jobs.stage_input_problem("reconstruct", s) is None
    assert "Reconstruct first" in stage_jobs.stage_input_problem("fit", s)
    window.processing_panel.stages["fit"].run_btn.click()
    assert "Reconstruct first" in window.last_error
    assert "fit" not in window.processing.workers


@pytest.mark.slow
def test_reconstruct_progress_preview_and_result(qtbot, window, demo_scans):
    from ptyxanes.progress import run_sync
    from ptyxanes.ptycho import PtychoParams
    from ptyxanes.ptycho.series import SeriesParams, reconstruct_series

    s = _open_scans(window, demo_scans, slice(6, 9))  # 3 energies around the edge
    scans = list(s.scans)
    box = window.processing_panel.stages["reconstruct"]
    box.inputs["iterations"].setValue(40)
    box.inputs["warm_iterations"].setValue(20)
    box.inputs["spot_um"].setValue(0.0)  # "from the data", the default
    bar = []
    box.bar.valueChanged.connect(bar.append)
    shapes = []
    window.preview_shown.connect(lambda: shapes.append(window.displayed_image.shape))
    t0 = time.monotonic()
    with qtbot.waitSignal(window.processing.stage_finished, timeout=60000) as done:
        box.run_btn.click()
    seconds = time.monotonic() - t0
    assert done.args[0] == "reconstruct" and done.args[1] is s
    assert window.last_error == ""
    # progress went up to done, with a live preview of the object drawn in the image view
    assert bar and bar[-1] == 1000 and len(set(bar)) > 3
    assert box.eta.text() == "done"
    assert window.previews_drawn >= 1 and shapes
    # at most ~5 redraws per second
    assert window.processing.previews_emitted <= 5 * seconds + 2
    # the sample now has the stack, equal to the engine's own run (probe from the data)
    assert s.kind == "2d" and s.stack is not None
    res = run_sync(reconstruct_series(scans, PtychoParams(iterations=40),
                                      SeriesParams(warm_iterations=20)))
    assert s.stack.data.shape == res.objects.shape
    # each energy's object has its own field (window and pixel change with energy)
    assert all(len(sh) == 2 and abs(sh[0] - res.objects.shape[1]) <= 4 for sh in shapes)
    np.testing.assert_allclose(s.energy, [x.energy for x in scans])
    np.testing.assert_allclose(np.asarray(s.stack.data), res.objects, rtol=1e-4, atol=1e-5)
    assert s.pixel_size == pytest.approx(float(res.pixel_size[0]))
    # the image view shows the reconstruction; register and fit can run next
    assert window.displayed_image.shape == s.shape
    from ptyxanes_gui.presenters import stage_jobs

    assert stage_jobs.stage_input_problem("register", s) is None
    assert stage_jobs.stage_input_problem("fit", s) is None
    assert window.data_panel.tree.topLevelItem(0).child(0).text(2) == "3"


def test_cancel_reconstruct_leaves_sample_unchanged(qtbot, window, demo_scans):
    s = _open_scans(window, demo_scans, slice(0, 4))
    scans = s.scans
    box = window.processing_panel.stages["reconstruct"]
    box.inputs["iterations"].setValue(5000)  # far longer than the test
    with qtbot.waitSignal(window.preview_shown, timeout=30000):
        box.run_btn.click()
    t0 = time.monotonic()
    with qtbot.waitSignal(window.processing.stage_cancelled, timeout=5000):
        box.cancel_btn.click()
    latency = time.monotonic() - t0
    assert latency < 1.5, f"cancel took {latency:.2f} s"
    qtbot.waitUntil(lambda: "reconstruct" not in window.processing.workers, timeout=5000)
    assert s.stack is None and s.scans is scans and s.kind == "scans" and not s.maps
    assert box.eta.text() == "cancelled"
    assert window.last_error == ""
    assert box.run_btn.isEnabled() and not box.cancel_btn.isEnabled()


def test_broken_cxi_file_gives_message(qtbot, window, demo_scans, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    for f in sorted(demo_scans.glob("*.cxi"))[:2]:
        shutil.copy(f, folder / f.name)
    (folder / "scan_09999.000eV.cxi").write_bytes(b"this is not an HDF5 file")
    assert not window.open_paths([str(folder)])
    assert "scan_09999.000eV.cxi" in window.last_error
    assert window.findChild(type(window._message_boxes[-1]), "error_box") is not None
    assert window.samples == []


def test_empty_frame_fails_readably_and_leaves_sample(qtbot, window, demo_scans, tmp_path):
    """A file that opens but has an empty frame fails when the stage checks it."""
    from ptyxanes.io.cxi import read_cxi, write_cxi

    folder = tmp_path / "empty_frame"
    folder.mkdir()
    files = sorted(demo_scans.glob("*.cxi"))[:2]
    shutil.copy(files[0], folder / files[0].name)
    scan = read_cxi(files[1], lazy=False)
    data = np.array(scan.data)
    data[3] = 0
    write_cxi(folder / files[1].name, data, scan.positions, scan.energy, scan.distance,
              scan.detector_pixel_size, mask=scan.mask)
    s = _open_scans(window, folder)
    with qtbot.waitSignal(window.processing.stage_failed, timeout=30000):
        window.processing_panel.stages["reconstruct"].run_btn.click()
    assert files[1].name in window.last_error and "empty frame" in window.last_error
    assert "Traceback" not in window.last_error
    assert s.stack is None and s.kind == "scans"
    assert window.processing_panel.stages["reconstruct"].eta.text() == "failed"
