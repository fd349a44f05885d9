"""Settings ▸ Compute…: the reconstruction, registration, fit and tomography on local Dask
workers equal the in-process stages; a bad scheduler address is a one-line message while the GUI keeps running; cancel
keeps the data.

One LocalCluster of one worker process (127.0.0.1 only) serves the whole first test.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_stack_file
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QDialog, QDialogButtonBox


def _dialog(qtbot, window):
    from ptyxanes_gui.dialogs.compute_dialog import ComputeDialog

    assert window.settings_menu.actions() == [window.act_compute]
    window.act_compute.trigger()
    dlg = window.findChild(QDialog, "compute_dialog")
    assert isinstance(dlg, ComputeDialog) and dlg.isVisible()
    return dlg


def _ok(dlg):
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def _in_process_maps(path, form):
    """The in-process GUI fit of a freshly opened copy of the sample."""
    from ptyxanes_gui.presenters import opening
    from ptyxanes_gui.presenters import stage_jobs as engine

    from ptyxanes.progress import run_sync

    (s,) = opening.load_path(path)
    return run_sync(engine.fit_job(s, **form))


@pytest.mark.slow
def test_local_workers_fit_all_samples_and_tomo_equal_in_process_then_cancel(
        qtbot, window, tmp_path, settings_path, demo3d_result, demo_scans):
    from distributed import Event
    from ptyxanes_gui.presenters.compute_presenter import ComputeChoice

    paths = [make_stack_file(tmp_path / f"s{i}.h5", f"sample {i}", shape=(20 + 4 * i, 24),
                             seed=i) for i in range(2)]
    assert window.open_paths([str(p) for p in paths])
    assert len(window.samples) == 2
    status = window.compute.status_widget
    assert not status.isVisible()  # in-process: nothing to show

    dlg = _dialog(qtbot, window)
    assert dlg.mode() == "inprocess" and not dlg.test_btn.isEnabled()
    dlg.mode_buttons["local"].setChecked(True)
    dlg.workers.setValue(1)
    dlg.memory.setText("2GiB")
    with qtbot.waitSignal(dlg.tested, timeout=60000) as test:
        dlg.test_btn.click()
    assert test.args == [True]
    link = dlg.dashboard_link()
    assert link.startswith("http://127.0.0.1:") and "href" in dlg.message.text()
    client = window.compute.client
    _ok(dlg)
    choice = ComputeChoice(mode="local", workers=1, memory_limit="2GiB")
    assert window.compute.choice == choice and window.document.compute == choice
    window.settings.sync()
    from qtpy.QtCore import QSettings

    assert ComputeChoice.load(QSettings(str(settings_path), QSettings.Format.IniFormat)) == choice
    assert status.isVisible()

    # Process ▸ Fit XANES of all samples, on the worker
    counts = []
    window.compute.tasks_changed.connect(counts.append)
    window.act_fit_all.trigger()
    qtbot.waitUntil(lambda: all("valence" in s.maps for s in window.samples)
                    and not window.processing.workers, timeout=120000)
    assert window.compute.client is client  # connected once, kept between runs
    done = [c for c in counts if c.state == "done"]
    assert len(done) == 2 and all(c.done == c.submitted > 0 and c.failed == 0 for c in done)
    assert done[-1].dashboard == link and "dashboard" in status.link.text()
    assert f"{done[-1].submitted}/{done[-1].submitted} tasks done" in status.tasks.text()
    form = window.processing_panel.stages["fit"].params()
    for s, path in zip(window.samples, paths, strict=True):
        ref = _in_process_maps(path, form)
        assert set(s.maps) == set(ref)
        for key in ref:
            np.testing.assert_array_equal(s.maps[key], ref[key], err_msg=key)
        assert np.isfinite(s.maps["valence"]).sum() > 100

    # Process ▸ Tomography on the workers (tasks per energy and per slab): the in-process volumes
    from ptyxanes_gui.presenters import opening
    from ptyxanes_gui.presenters import stage_jobs as engine

    from ptyxanes.progress import run_sync

    tilt_path = demo3d_result.parent / "input" / "stack.nxs"
    assert window.open_paths([str(tilt_path)])
    tilt = window.samples[-1]
    assert tilt.kind == "tilt"
    n_e = tilt.tilt_stack.data.shape[0]
    counts.clear()
    form3d = {"iterations": 4, "align_rounds": 0}
    with qtbot.waitSignal(window.processing.stage_finished, timeout=120000):
        window.processing.run_on("tomo", tilt, form3d)
    # one alignment task per energy, then the same number of SIRT slabs of rows per energy
    last = counts[-1]
    assert last.state == "done" and last.done == last.submitted and last.failed == 0
    assert last.submitted > n_e and last.submitted % n_e == 0
    (fresh,) = opening.load_path(tilt_path)
    ref = run_sync(engine.tomo_job(fresh, **form3d))
    assert tilt.kind == "volume" and tilt.volume_stack.data.shape == ref.data.shape
    np.testing.assert_array_equal(tilt.volume_stack.data, ref.data)
    np.testing.assert_array_equal(tilt.volume_stack.energy, ref.energy)
    qtbot.waitUntil(lambda: not window.processing.workers, timeout=10000)

    # Process ▸ Register on the worker: the first sample found (a shift per energy but the
    # first, then a residual and an image per energy), the second with hand-edited shifts
    # re-applied (an image per energy): the in-process stacks, shifts and tables
    reg_form = dict(window.processing_panel.stages["register"].params())
    n_e2 = window.samples[0].stack.n_energies
    given = np.round(np.random.default_rng(5).uniform(-1.5, 1.5, (n_e2, 2)), 2)
    for s, path, shifts in zip(window.samples[:2], paths, (None, given), strict=True):
        original = s.stack
        rform = reg_form if shifts is None else {**reg_form, "shifts": shifts}
        counts.clear()
        with qtbot.waitSignal(window.processing.stage_finished, timeout=60000):
            window.processing.run_on("register", s, rform)
        last = counts[-1]
        assert last.stage == "register" and last.state == "done" and last.failed == 0
        assert last.done == last.submitted == (3 * n_e2 - 1 if shifts is None else n_e2)
        (fresh,) = opening.load_path(path)
        aligned, table, _params = run_sync(engine.register_job(fresh, **rform))
        assert s.unregistered is original and s.stack.data.shape == aligned.data.shape
        np.testing.assert_array_equal(s.stack.data, aligned.data)
        np.testing.assert_array_equal(s.stack.energy, aligned.energy)
        np.testing.assert_array_equal(s.stack.pixel_size, aligned.pixel_size)
        assert list(s.registration) == list(table)
        for col in table:
            np.testing.assert_array_equal(np.asarray(s.registration[col]),
                                          np.asarray(table[col]), err_msg=col)
        if shifts is not None:
            np.testing.assert_array_equal(s.registration["shifts_row"], given[:, 0])
    qtbot.waitUntil(lambda: not window.processing.workers, timeout=10000)

    # Process ▸ Reconstruct 3 demo scans on the worker (one task per scan): the in-process
    # stack
    assert window.open_paths([str(demo_scans)])
    scans_sample = window.samples[-1]
    assert scans_sample.kind == "scans"
    scans_sample.scans = scans_sample.scans[6:9]
    rec_form = {"iterations": 4, "warm_iterations": 2, "spot_um": 2.0}  # a given probe: fast
    counts.clear()
    with qtbot.waitSignal(window.processing.stage_finished, timeout=60000):
        window.processing.run_on("reconstruct", scans_sample, rec_form)
    last = counts[-1]
    assert last.stage == "reconstruct" and last.state == "done"
    assert last.done == last.submitted == 3 and last.failed == 0
    (fresh,) = opening.load_path(demo_scans)
    fresh.scans = fresh.scans[6:9]
    ref = run_sync(engine.reconstruct_job(fresh, **rec_form))
    assert scans_sample.kind == "2d" and scans_sample.stack.data.shape == ref.data.shape
    np.testing.assert_array_equal(scans_sample.stack.data, ref.data)
    np.testing.assert_array_equal(scans_sample.stack.energy, ref.energy)
    np.testing.assert_array_equal(scans_sample.stack.pixel_size, ref.pixel_size)
    qtbot.waitUntil(lambda: not window.processing.workers, timeout=10000)

    # cancel: the fit's task waits behind a busy worker; Cancel stops it, the maps stay
    gate = Event("ptyxanes-test-gate", client=client)
    blocker = client.submit(lambda: Event("ptyxanes-test-gate").wait(60), pure=False)
    sample = window.samples[0]
    before = sample.maps
    window.document.set_dirty(False)
    counts.clear()
    window.processing.run_on("fit", sample, form)
    qtbot.waitUntil(lambda: any(c.submitted > 0 for c in counts), timeout=30000)
    with qtbot.waitSignal(window.processing.stage_cancelled, timeout=30000):
        status.cancel_btn.click()
    gate.set()
    blocker.result(timeout=30)
    qtbot.waitUntil(lambda: not window.processing.workers, timeout=10000)
    assert sample.maps is before and not window.document.dirty
    assert counts[-1].state == "cancelled" and counts[-1].done == 0
    assert "(cancelled)" in status.tasks.text()

    window.compute.shutdown()  # as on quit: the client and its local cluster are closed
    assert window.compute.client is None and client.status == "closed"


def test_bad_scheduler_address_is_one_line_message_gui_keeps_running(qtbot, window, tmp_path):
    (path,) = [make_stack_file(tmp_path / "s.h5", "s", shape=(12, 12))]
    assert window.open_paths([str(path)])
    window.compute.connect_timeout_s = 1.0
    dlg = _dialog(qtbot, window)
    dlg.mode_buttons["scheduler"].setChecked(True)
    dlg.address.setText("tcp://127.0.0.1:1")
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    with qtbot.waitSignal(dlg.tested, timeout=30000) as test:
        dlg.test_btn.click()
        assert not dlg.test_btn.isEnabled()  # returned at once: the connection is in a worker
    timer.stop()
    assert test.args == [False]
    text = dlg.message.text()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in text
    assert "Traceback" not in text and "\n" not in text
    assert len(ticks) >= 10  # the event loop ran during the ~1 s attempt
    assert dlg.test_btn.isEnabled()

    # OK keeps the choice; a fit then fails with the same one line, the sample unchanged
    dlg.address.setText("")
    _ok(dlg)
    assert dlg.isVisible() and "no scheduler address" in dlg.message.text()
    dlg.address.setText("tcp://127.0.0.1:1")
    _ok(dlg)
    assert not dlg.isVisible() and window.compute.choice.mode == "scheduler"
    s = window.samples[0]
    with qtbot.waitSignal(window.processing.stage_failed, timeout=30000) as failed:
        window.processing.run_on("fit", s, window.processing_panel.stages["fit"].params())
    assert failed.args[1].startswith("fit failed: cannot reach the Dask scheduler at "
                                     "tcp://127.0.0.1:1")
    assert "\n" not in failed.args[1] and "valence" not in s.maps
    qtbot.waitUntil(lambda: not window.processing.workers, timeout=10000)


def test_compute_choice_backend_and_settings(tmp_path):
    from ptyxanes_gui.presenters.compute_presenter import ComputeChoice
    from qtpy.QtCore import QSettings

    from ptyxanes.distributed import ComputeBackend

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert ComputeChoice.load(settings) == ComputeChoice()  # in-process by default
    assert ComputeChoice().backend() == ComputeBackend() and not ComputeBackend().distributed
    local = ComputeChoice(mode="local", workers=3, memory_limit="6GiB")
    assert local.backend() == ComputeBackend(workers=3, memory_limit="6GiB")
    remote = ComputeChoice(mode="scheduler", scheduler=" tcp://10.0.0.5:8786 ",
                           shared_dir=str(tmp_path))
    assert remote.backend() == ComputeBackend(scheduler="tcp://10.0.0.5:8786")
    remote.save(settings)
    settings.sync()
    again = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert ComputeChoice.load(again) == remote
    with pytest.raises(ValueError, match="'lots' is not a size"):
        ComputeChoice(mode="local", memory_limit="lots").backend()
    with pytest.raises(ValueError, match="no scheduler address"):
        ComputeChoice(mode="scheduler").backend()
    with pytest.raises(ValueError, match="compute mode"):
        ComputeChoice(mode="gpu")
