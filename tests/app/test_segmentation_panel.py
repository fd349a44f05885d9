"""Segmentation panel: threshold seeding, brush + undo, islands, crystal table (Xvfb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytestmark = pytest.mark.napari


@pytest.fixture
def sample():
    from ptyxanes.simulate.sample import make_sample

    return make_sample("tiny", 350, seed=0, dim="3d")


@pytest.fixture
def panels(qtbot):
    from ptyxanes_gui.panels.segmentation_panel import SegmentationPanel
    from ptyxanes_gui.panels.volume_panel import VolumePanel
    from ptyxanes_gui.presenters.segmentation_presenter import SegmentationPresenter
    from ptyxanes_gui.presenters.volume_presenter import CrystalLabeller

    vp = VolumePanel()
    vp.labeller = CrystalLabeller(vp)  # labels the crystals of a new volume
    sp = SegmentationPanel(vp)
    sp.presenter = SegmentationPresenter(sp)  # seeds, tables, islands, export
    qtbot.addWidget(vp)
    qtbot.addWidget(sp)
    vp.show()
    yield vp, sp
    vp.close_viewer()


def test_seed_paint_undo_islands_table(panels, sample, qtbot, tmp_path):
    from ptyxanes.segment import crystal_table, remove_small_islands

    vp, sp = panels
    v = sample.valence
    sp.set_data(v, sample.voxel_size, np.isfinite(v))
    assert vp.valence is not None and sp.labels_layer in vp.viewer.layers
    with np.errstate(invalid="ignore"):
        assert np.array_equal(sp.labels() == 1, v > 3.0)  # default threshold 3.0
    sp.set_threshold(3.3)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(sp.labels() == 1, v > 3.3)
    assert sp.slider_threshold.value() == sp._to_slider(3.3)
    sp.set_threshold(3.0)
    seeded = sp.labels()

    # brush in 3D at an unlabelled voxel, then undo and redo
    sp.check_3d_edit.setChecked(True)
    sp.set_tool("paint")
    assert sp.labels_layer.mode == "paint" and sp.labels_layer.n_edit_dimensions == 3
    sp.spin_brush.setValue(3)
    centre = (20, 20, 20)
    sp.labels_layer.paint(centre, 1)
    painted = sp.labels()
    assert painted[centre] == 1 and (painted != seeded).sum() > 0
    sp.button_undo.click()
    assert np.array_equal(sp.labels(), seeded)
    sp.button_redo.click()
    assert np.array_equal(sp.labels(), painted)
    sp.button_undo.click()

    # a one-voxel island painted with a 1-voxel brush in a corner
    sp.spin_brush.setValue(1)
    sp.labels_layer.paint((1, 1, 1), 1)
    seeded = sp.labels()
    assert seeded[1, 1, 1] == 1

    # remove small islands (worker) as one undoable edit; equals the engine
    sp.spin_min_size.setValue(20)
    with qtbot.waitSignal(sp.islands_removed, timeout=10_000) as blocker:
        sp.button_islands.click()
    expected = remove_small_islands(seeded, 20)
    assert (seeded != expected).any() and expected[1, 1, 1] == 0
    assert blocker.args == [int((seeded != expected).sum())]
    assert np.array_equal(sp.labels(), expected)
    sp.undo()
    assert np.array_equal(sp.labels(), seeded)
    sp.redo()

    # crystal table from a worker equals the engine's, normals drawn as arrows
    vp.set_crystal_labels(sample.crystal_labels)
    with qtbot.waitSignal(sp.table_shown, timeout=10_000):
        sp.button_table.click()
    ref = crystal_table(v, sample.crystal_labels, expected, voxel_size=sample.voxel_size)
    t = sp.table
    assert_allclose(t.high_ox_fraction, ref.high_ox_fraction)
    assert_allclose(t.mean_valence, ref.mean_valence)
    assert_allclose(t.normal, ref.normal)
    tw = sp.table_widget
    assert tw.rowCount() == len(ref)
    for i in range(len(ref)):
        assert int(tw.item(i, 0).text()) == ref.crystal_id[i]
        assert float(tw.item(i, 1).text()) == pytest.approx(ref.high_ox_fraction[i], abs=1e-4)
        assert float(tw.item(i, 2).text()) == pytest.approx(ref.mean_valence[i], abs=1e-4)
    n_arrows = int(np.all(np.isfinite(ref.normal), axis=1).sum())
    assert sp.vectors_layer is not None and sp.vectors_layer.data.shape == (2 * n_arrows, 2, 3)
    # a crystal shown alone keeps only its own arrow
    k = int(ref.crystal_id[np.all(np.isfinite(ref.normal), axis=1)][0])
    vp.isolate_crystal(k)
    i = list(ref.crystal_id).index(k)
    assert sp.vectors_layer.data.shape == (2, 2, 3)
    assert_allclose(sp.vectors_layer.data[:, 0], [ref.centroid[i]] * 2)
    vp.isolate_crystal(0)
    assert sp.vectors_layer.data.shape == (2 * n_arrows, 2, 3)

    # TIFF export and project storage
    import tifffile

    path = tmp_path / "labels.tif"
    with qtbot.waitSignal(sp.labels_exported, timeout=10_000) as blocker:
        sp.export_requested.emit(str(path))  # as "Export TIFF…" does with the chosen path
    assert blocker.args == [path] and path.name in sp.label_status.text()
    assert np.array_equal(tifffile.imread(path), expected)
    from ptyxanes.io.project import Project

    proj = Project()
    sp.store_in_project(proj)
    assert np.array_equal(proj.labels["high_ox"], expected)
    assert_allclose(proj.tables["crystals"]["mean_valence"], ref.mean_valence)
    from ptyxanes.io.project import load_project, save_project

    back = load_project(save_project(tmp_path / "seg.h5", proj))
    assert np.array_equal(back.labels["high_ox"], expected)
    assert_allclose(back.tables["crystals"]["high_ox_fraction"], ref.high_ox_fraction)


def test_hand_edits_survive_threshold_changes(panels, sample, qtbot, tmp_path):
    vp, sp = panels
    v = sample.valence
    sp.set_data(v, sample.voxel_size, np.isfinite(v))
    sp.set_threshold(3.0)
    with np.errstate(invalid="ignore"):
        seed30 = v > 3.0
    assert np.array_equal(sp.labels() == 1, seed30)

    # paint a ball (3D brush) where the seed is empty; erase a labelled voxel with a 1-voxel brush
    sp.check_3d_edit.setChecked(True)
    sp.set_tool("paint")
    sp.spin_brush.setValue(5)
    empty = np.argwhere(np.isfinite(v) & ~seed30)
    centre = tuple(int(i) for i in empty[len(empty) // 2])
    with qtbot.waitSignal(sp.labels_changed):
        sp.labels_layer.paint(centre, 1)  # emits napari's paint event, as a stroke does
    painted = (sp.labels() == 1) & ~seed30
    assert painted[centre] and painted.sum() > 5
    sp.spin_brush.setValue(1)
    erase_at = tuple(int(i) for i in np.argwhere(seed30)[0])
    sp.labels_layer.paint(erase_at, 0)
    assert sp.labels()[erase_at] == 0
    assert sp.n_hand_edits == (int(painted.sum()), 1)

    # move the threshold both ways: seed changes, painted stays labelled, erased stays erased
    for t in (3.4, 2.6, 3.2):
        sp.slider_threshold.setValue(sp._to_slider(t))
        with np.errstate(invalid="ignore"):
            seed = v > sp.threshold
        lab = sp.labels() == 1
        assert np.array_equal(lab, (seed | painted) & ~(np.arange(v.size) == np.ravel_multi_index(
            erase_at, v.shape)).reshape(v.shape))
    assert lab[erase_at] == 0 and lab[painted].all()

    # undo reverts the last hand edit (the eraser), then the paint; redo brings them back
    before = sp.labels()
    sp.button_undo.click()
    assert sp.labels()[erase_at] == 1 and sp.labels()[painted].all()
    sp.button_undo.click()
    with np.errstate(invalid="ignore"):
        assert np.array_equal(sp.labels() == 1, v > sp.threshold)
    sp.button_redo.click()
    sp.button_redo.click()
    assert np.array_equal(sp.labels(), before)
    # napari's own undo (Ctrl+Z in the canvas) goes through the same history
    sp.labels_layer.undo()
    assert sp.labels()[erase_at] == 1
    sp.labels_layer.redo()

    # discard hand edits -> the seed of the current threshold; undoable
    sp.button_discard.click()
    with np.errstate(invalid="ignore"):
        assert np.array_equal(sp.labels() == 1, v > sp.threshold)
    assert sp.n_hand_edits == (0, 0)
    sp.undo()
    assert np.array_equal(sp.labels(), before)

    # hand edits saved with the project come back on top of a fresh seed
    from ptyxanes.io.project import Project, load_project, save_project

    proj = Project()
    sp.store_in_project(proj)
    assert proj.labels["high_ox_added"].sum() == painted.sum()
    back = load_project(save_project(tmp_path / "edits.h5", proj))
    sp.set_data(v, sample.voxel_size, np.isfinite(v))  # a new session: seed only
    assert sp.n_hand_edits == (0, 0)
    sp.set_threshold(3.2)
    assert sp.restore_edits(back.labels["high_ox_added"], back.labels["high_ox_removed"])
    assert np.array_equal(sp.labels(), before)
    assert not sp.restore_edits(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))


def test_slab_normal_arrow_matches_engine_on_analytic_slabs(panels, qtbot):
    """A sphere with two parallel >Ni3+ slabs of known normal: the arrow lies along it."""
    from ptyxanes.segment import axis_angle_deg, crystal_table, slab_normal

    shape, radius, n_true = (36, 36, 36), 15.0, np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    grid = np.stack(np.meshgrid(*[np.arange(s) - (s - 1) / 2 for s in shape], indexing="ij"), -1)
    inside = np.linalg.norm(grid, axis=-1) < radius
    along = grid @ n_true
    slabs = inside & ((np.abs(along + 5) < 0.75) | (np.abs(along - 4) < 0.75))
    rng = np.random.default_rng(0)
    v = np.where(inside, 2.6 + 0.02 * rng.standard_normal(shape), np.nan).astype(np.float32)
    v[slabs] = 3.3
    vp, sp = panels
    sp.set_data(v, 50e-9)
    assert vp.crystal_labels.max() == 1
    with qtbot.waitSignal(sp.table_shown, timeout=10_000):
        sp.button_table.click()
    ref = crystal_table(v, inside.astype(int), slabs)
    engine_normal, _ = slab_normal(slabs)
    arrows = np.asarray(sp.vectors_layer.data)  # (2, 2, 3): (origin, direction) per arrow
    assert arrows.shape == (2, 2, 3)
    centroid = np.argwhere(inside).mean(0)
    for origin, direction in arrows:
        np.testing.assert_allclose(origin, centroid, atol=0.5)
        assert axis_angle_deg(direction, ref.normal[0]) < 0.01
        assert axis_angle_deg(direction, n_true) < 3.0
        assert axis_angle_deg(direction, engine_normal) < 3.0
    np.testing.assert_allclose(arrows[0, 1], -arrows[1, 1])  # a double-headed axis marker
    assert np.allclose(sp.vectors_layer.scale, 0.05)  # µm, like the volume


def test_panels_are_widgets_only():
    """No panel imports an engine function that computes or writes (the presenters do);
    constants, labels and parameter defaults are allowed."""
    import ast

    allowed = {
        "ptyxanes.stages": {"FitParams", "ReconstructParams", "RegisterParams",
                            "SegmentParams", "TomoParams"},  # the forms' defaults
        "ptyxanes.xanes.batch": {"METHODS", "SHAPES"},
        "ptyxanes.xanes.edges": {"COMMON_EDGES", "edge_spec"},  # the edge table
        "ptyxanes.figures.colormaps": {"valence_lut"},
    }
    panels = Path(__file__).resolve().parents[2] / "app" / "ptyxanes_gui" / "panels"
    found = []
    for path in sorted(panels.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [f"{path.name}: import {a.name}" for a in node.names
                          if a.name == "ptyxanes" or a.name.startswith("ptyxanes.")]
            elif isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == "ptyxanes" or node.module.startswith("ptyxanes.")):
                found += [f"{path.name}: from {node.module} import {a.name}"
                          for a in node.names if a.name not in allowed.get(node.module, ())]
    assert found == []
