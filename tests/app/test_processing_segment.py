"""The segment stage of the Processing panel (>Ni³⁺ threshold, islands, crystals, table).

Runs the stage as a user does (Run button, worker, finished slot) on a 2D valence
map with known truth and on the engine's 3D demo, checks cancel and a missing
valence map, and (napari, Xvfb) that a shown crystal table follows a re-labelling.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import make_stack_file
from numpy.testing import assert_allclose, assert_array_equal

#: two crystals: A (rows 5:25, cols 5:30) with a valence ramp 2.5 -> 3.2 along cols and
#: a 2x2 >Ni3+ island; B (rows 28:37, cols 35:65) all above 3.1
SHAPE = (40, 70)
A = (slice(5, 25), slice(5, 30))
B = (slice(28, 37), slice(35, 65))
ISLAND = (slice(8, 10), slice(8, 10))


def _two_crystal_maps():
    rng = np.random.default_rng(7)
    rr, cc = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    valence = np.full(SHAPE, np.nan)
    valence[A] = 2.5 + 0.7 * (cc[A] - 5) / 24
    valence[ISLAND] = 3.4
    valence[B] = 3.1 + 0.3 * rng.random(valence[B].shape)
    jump = np.zeros(SHAPE)
    jump[A] = 1.0 + (cc[A] - 5) / 24  # thicker towards the oxidised side: weights matter
    jump[B] = 0.5
    return valence, jump


@pytest.fixture
def two_crystal_project(tmp_path):
    from ptyxanes.io.project import MapData, Project, save_project

    valence, jump = _two_crystal_maps()
    maps = {"oxidation_state": MapData(valence, 40e-9, "oxidation_state"),
            "edge_jump": MapData(jump, 40e-9, "edge_jump")}
    path = tmp_path / "two_crystals.h5"
    save_project(path, Project(maps=maps, parameters={"sample": {"name": "two crystals"}}))
    return path, valence, jump


def _set_params(box, **params):
    for k, v in params.items():
        w = box.inputs[k]
        w.setChecked(v) if isinstance(v, bool) else w.setValue(v)


def _run_segment(qtbot, pres, start=None, **params):
    box = pres._panel.stages["segment"]
    _set_params(box, **params)
    steps = []
    with qtbot.waitSignal(pres.stage_finished, timeout=30_000) as done:
        (start or box.run_btn.click)()
        pres.workers["segment"].yielded.connect(steps.append)
    qtbot.waitUntil(lambda: "segment" not in pres.workers, timeout=5000)
    assert done.args[0] == "segment"
    return done.args[1], done.args[2], steps


def test_segment_stage_on_2d_map_matches_truth(qtbot, window, two_crystal_project):
    from ptyxanes.segment import remove_small_islands, threshold_labels

    path, valence, jump = two_crystal_project
    assert window.open_paths([str(path)])
    sample = window.current_sample()
    box = window.processing_panel.stages["segment"]
    assert box.run_btn.isEnabled()  # wired: no longer "not available yet"
    assert box.params() == {"threshold": 3.0, "min_island_size": 10, "split_touching": True}

    smp, result, _steps = _run_segment(qtbot, window.processing, min_island_size=1)
    assert smp is sample and not result.volume
    seed = threshold_labels(valence, 3.0, mask=np.isfinite(valence))
    assert_array_equal(sample.labels["high_ox"], seed)
    assert sample.labels["high_ox"].dtype == np.uint8
    crystals = sample.labels["crystals"]
    assert crystals.dtype == np.int32 and crystals.max() == 2  # the truth: two crystals
    truth = np.zeros(SHAPE, int)
    truth[A], truth[B] = 1, 2  # numbered by decreasing size
    assert_array_equal(crystals, truth)

    # the table against the truth computed by hand (edge-jump weighted)
    table = sample.crystal_table
    assert table is result.table and len(table) == 2
    hox = valence > 3.0
    for k, region in ((0, A), (1, B)):
        w, v, h = jump[region], valence[region], hox[region]
        assert table.high_ox_fraction[k] == pytest.approx((w * h).sum() / w.sum(), rel=1e-12)
        assert table.mean_valence[k] == pytest.approx((w * v).sum() / w.sum(), rel=1e-12)
    assert table.high_ox_fraction[1] == 1.0
    assert table.size[0] == pytest.approx(500 * (40e-9) ** 2)

    # the >Ni3+ pixels are highlighted on the valence image; the table is reported
    assert window.image_panel.current_channel() == "valence"
    assert_array_equal(window.highlight_mask, seed != 0)
    assert window.image_panel.viewer.highlight_item.isVisible()
    assert "2 crystal(s)" in window.statusBar().currentMessage()
    assert box.eta.text() == "done"

    # default min island size (10 px) drops the 2x2 island, nothing else (Process menu)
    assert window.act_segment.isEnabled()
    _smp, result, _ = _run_segment(qtbot, window.processing, window.act_segment.trigger,
                                   min_island_size=10)
    assert_array_equal(sample.labels["high_ox"], remove_small_islands(seed, 10))
    assert result.islands_removed == 4 and sample.labels["high_ox"][ISLAND].sum() == 0
    assert_array_equal(window.highlight_mask, sample.labels["high_ox"] != 0)

    # Save project keeps the labels and the per-crystal table
    from ptyxanes.io.project import load_project

    assert window.save_project_to(path.parent / "segmented.h5"), window.last_error
    saved = load_project(path.parent / "segmented.h5")
    assert_array_equal(saved.labels["high_ox"], sample.labels["high_ox"])
    np.testing.assert_allclose(saved.tables["crystals"]["high_ox_fraction"],
                               sample.crystal_table.high_ox_fraction)


def test_segment_stage_on_3d_demo_equals_engine(qtbot, presenter, demo3d_result):
    from ptyxanes_gui.presenters import opening

    from ptyxanes.segment import (
        crystal_table,
        label_crystals,
        remove_small_islands,
        threshold_labels,
    )

    (s,) = opening.load_path(demo3d_result)
    assert s.volume is not None and s.volume.ndim == 3
    presenter.current["sample"] = s
    smp, result, steps = _run_segment(qtbot, presenter)
    assert smp is s and result.volume
    v = s.volume
    finite = np.isfinite(v)
    crystals = label_crystals(finite)
    high_ox = remove_small_islands(threshold_labels(v, 3.0, mask=finite), 10)
    assert crystals.max() == 3  # the 3D demo's three crystals (two touching) are split
    assert_array_equal(s.labels["crystals"], crystals)
    assert_array_equal(s.labels["high_ox"], high_ox)
    ref = crystal_table(v, crystals, high_ox, voxel_size=s.voxel_size)
    assert len(s.crystal_table) == 3
    assert_allclose(s.crystal_table.high_ox_fraction, ref.high_ox_fraction, rtol=1e-12)
    assert_allclose(s.crystal_table.mean_valence, ref.mean_valence, rtol=1e-12)
    assert_allclose(s.crystal_table.normal, ref.normal, rtol=1e-12)
    # progress at least per crystal, ending at 1
    table_steps = [p for p in steps if p.message == "crystal table"]
    assert len(table_steps) >= 3 and steps[-1].fraction == 1.0

    # touching crystals kept together: connected components find 2
    _smp, result, _ = _run_segment(qtbot, presenter, split_touching=False)
    assert not result.params.split_touching and len(s.crystal_table) == 2
    assert_array_equal(s.labels["crystals"], label_crystals(finite, method="components"))


def test_cancel_leaves_sample_labels_unchanged(qtbot, presenter):
    from ptyxanes_gui.document import Sample

    # 20 x 20 small crystals: enough work (watershed, 400 table rows) to cancel mid-way
    valence = np.full((420, 420), np.nan)
    for r in range(20):
        for c in range(20):
            valence[r * 21 + 2:r * 21 + 19, c * 21 + 2:c * 21 + 19] = 2.5 + 0.05 * ((r + c) % 20)
    old_labels = {"high_ox": np.ones((420, 420), np.uint8)}
    sample = Sample("many crystals", None, maps={"valence": valence}, pixel_size=50e-9,
                    labels=old_labels)
    sentinel = object()
    sample.crystal_table = sentinel
    presenter.current["sample"] = sample
    box = presenter._panel.stages["segment"]
    finished = []
    presenter.stage_finished.connect(lambda *a: finished.append(a))
    with qtbot.waitSignal(presenter.stage_cancelled, timeout=30_000):
        box.run_btn.click()
        box.cancel_btn.click()
    qtbot.waitUntil(lambda: "segment" not in presenter.workers, timeout=5000)
    assert not finished
    assert sample.labels is old_labels and list(sample.labels) == ["high_ox"]
    assert (sample.labels["high_ox"] == 1).all()
    assert sample.crystal_table is sentinel
    assert box.eta.text() == "cancelled" and box.run_btn.isEnabled()


def test_no_valence_map_gives_readable_message(qtbot, window, tmp_path, presenter):
    path = make_stack_file(tmp_path / "stack_only.h5", "not fitted")
    assert window.open_paths([str(path)])
    sample = window.current_sample()
    assert "valence" not in sample.maps
    with qtbot.waitSignal(window.processing.stage_failed, timeout=5000) as failed:
        window.processing_panel.stages["segment"].run_btn.click()
    stage, message = failed.args
    assert stage == "segment" and "Fit XANES" in message and "valence map" in message
    assert "Traceback" not in message and window.last_error == message
    assert "segment" not in window.processing.workers
    assert sample.labels == {} and sample.crystal_table is None
    # nothing open at all
    with qtbot.waitSignal(presenter.stage_failed, timeout=5000) as failed:
        presenter._panel.stages["segment"].run_btn.click()
    assert failed.args[0] == "segment" and "open a dataset" in failed.args[1]


def _needs_display():
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        pytest.skip("napari needs an OpenGL display (run under Xvfb)")


@pytest.mark.napari
def test_crystal_table_follows_split_touching_and_seed(qtbot, demo3d_result):
    _needs_display()
    from ptyxanes_gui.panels.segmentation_panel import SegmentationPanel
    from ptyxanes_gui.panels.volume_panel import VolumePanel
    from ptyxanes_gui.presenters import opening
    from ptyxanes_gui.presenters.segmentation_presenter import SegmentationPresenter
    from ptyxanes_gui.presenters.volume_presenter import CrystalLabeller

    from ptyxanes.segment import crystal_table, label_crystals

    (s,) = opening.load_path(demo3d_result)
    v = np.asarray(s.volume, np.float32)
    finite = np.isfinite(v)
    vp = VolumePanel()
    vp.labeller = CrystalLabeller(vp)  # re-labels the crystals when split touching changes
    sp = SegmentationPanel(vp)
    sp.presenter = SegmentationPresenter(sp)  # its workers (tables, islands)
    qtbot.addWidget(vp)
    qtbot.addWidget(sp)
    vp.show()
    try:
        sp.set_data(v, s.voxel_size)
        assert vp.crystal_labels.max() == 3
        with qtbot.waitSignal(sp.table_shown, timeout=10_000):
            sp.button_table.click()
        assert sp.table_widget.rowCount() == 3 and not sp.table_stale

        def expected(method):
            return crystal_table(v, label_crystals(finite, method=method), sp.labels(),
                                 voxel_size=s.voxel_size)

        # Split touching off: the table is marked stale at once, then recomputed by itself
        with qtbot.waitSignal(sp.table_shown, timeout=10_000):
            vp.check_split.setChecked(False)
            assert sp.table_stale and not sp.table_widget.isEnabled()
        assert vp.crystal_labels.max() == 2
        assert sp.table_widget.rowCount() == 2 and not sp.table_stale
        ref = expected("components")
        assert_allclose(sp.table.high_ox_fraction, ref.high_ox_fraction)
        assert_allclose(sp.table.mean_valence, ref.mean_valence)

        # a new seed (threshold) recomputes the fractions
        with qtbot.waitSignal(sp.table_shown, timeout=10_000):
            sp.set_threshold(3.2)
        ref = expected("components")
        assert_allclose(sp.table.high_ox_fraction, ref.high_ox_fraction)
        assert float(sp.table_widget.item(0, 1).text()) == pytest.approx(
            ref.high_ox_fraction[0], abs=1e-4)

        # and back to split crystals
        with qtbot.waitSignal(sp.table_shown, timeout=10_000):
            vp.check_split.setChecked(True)
        assert sp.table_widget.rowCount() == 3
        assert_allclose(sp.table.high_ox_fraction, expected("watershed").high_ox_fraction)
    finally:
        vp.close_viewer()


@pytest.mark.napari
def test_segment_stage_hands_volume_labels_to_segmentation_panel(qtbot, window,
                                                                 demo3d_result, tmp_path):
    _needs_display()
    from ptyxanes.segment import crystal_table

    assert window.open_paths([str(demo3d_result)])
    s = window.current_sample()
    sp, vp = window.volume.segmentation_panel, window.volume.panel
    assert sp is not None and window.volume.shown_volume is s.volume
    sp.set_threshold(3.3)
    _smp, result, _ = _run_segment(qtbot, window.processing, threshold=3.1)
    assert sp.threshold == pytest.approx(3.1)
    assert_array_equal(sp.labels(), s.labels["high_ox"])  # islands removed as a hand edit
    assert_array_equal(vp.crystal_labels, s.labels["crystals"])
    assert sp.table is result.table and sp.table_widget.rowCount() == 3
    # the island removal is undoable (Edit ▸ Undo too): back to the plain seed; the shown
    # table follows
    assert window.act_undo.text() == "&Undo segment: remove small islands"
    assert window.document.dirty
    with qtbot.waitSignal(sp.table_shown, timeout=10_000):
        sp.undo()
    assert window.act_redo.text() == "&Redo segment: remove small islands"
    with np.errstate(invalid="ignore"):
        seed = np.isfinite(s.volume) & (s.volume > 3.1)
    assert_array_equal(sp.labels() != 0, seed)
    ref = crystal_table(s.volume, s.labels["crystals"], seed, voxel_size=s.voxel_size)
    assert_allclose(sp.table.high_ox_fraction, ref.high_ox_fraction)
    assert (ref.high_ox_fraction >= result.table.high_ox_fraction).all()

    # saved, a stroke marks the document dirty, an undo back to the saved labels is clean
    doc, path = window.document, tmp_path / "segmented.ptyx.h5"
    assert window.save_project_to(path) and not doc.dirty
    sp.check_3d_edit.setChecked(True)
    sp.set_tool("paint")
    empty = np.argwhere(np.isfinite(s.volume) & ~seed)
    centre = tuple(int(i) for i in empty[len(empty) // 2])
    with qtbot.waitSignal(doc.dirty_changed, timeout=5000):
        sp.labels_layer.paint(centre, 1)
    edited = sp.labels()
    assert edited[centre] == 1 and window.act_undo.text().startswith("&Undo paint labels (")
    window.act_undo.trigger()
    assert_array_equal(sp.labels() != 0, seed)
    assert not doc.dirty
    window.act_redo.trigger()
    assert_array_equal(sp.labels(), edited)
    assert doc.dirty and window.save_project_to(path) and not doc.dirty
    # the project reopened in the window shows the edited labels
    n = len(window.samples)
    assert window.open_paths([str(path)])
    assert window.volume.shown_volume is window.samples[n].volume
    assert_array_equal(sp.labels(), edited)
    assert_array_equal(window.samples[n].labels["high_ox"], edited)
