"""Tomography and volume fit from the Processing panel, on the engine's 3D demo.

The presenter runs the stages in workers exactly as in the window; these tests
drive it with its panel only (no napari), so they run offscreen. The 3D demo
(tiny 3D twin -> pipeline, ~4 s) is built in a temporary cache.
"""

from __future__ import annotations

import numpy as np
import pytest


def _run(qtbot, pres, stage, sample, **params):
    box = pres._panel.stages[stage]
    for k, v in params.items():
        box.inputs[k].setValue(v)
    pres.current["sample"] = sample
    with qtbot.waitSignal(pres.stage_finished, timeout=60000) as done:
        box.run_btn.click()
    assert done.args[0] == stage and done.args[1] is sample
    qtbot.waitUntil(lambda: stage not in pres.workers, timeout=5000)
    return done.args[2]


def _engine_fit(stack, references=()):
    from ptyxanes_gui.presenters import spectra, stage_jobs

    from ptyxanes import xanes
    from ptyxanes.progress import run_sync
    from ptyxanes.xanes.results import result_maps

    options = xanes.FitOptions(pre_edge=(8270.0, 8300.0), post_edge=(8400.0, 8420.0))
    res = run_sync(xanes.fit_stack(stack, options=options,
                                   calibration=spectra.calibration(np.asarray(stack.energy),
                                                                  references),
                                   chunk_spectra=stage_jobs.GUI_FIT_CHUNK))
    return result_maps(res, 1.0)  # as the CLI saves them: NaN outside the mask


@pytest.mark.slow
def test_tomo_then_fit_on_tilt_series(qtbot, presenter, demo3d_result):
    from ptyxanes_gui.presenters import channels, opening, stage_jobs

    from ptyxanes.progress import run_sync
    from ptyxanes.tomo import reconstruct_tilt_stack

    (s,) = opening.load_path(demo3d_result.parent / "input" / "stack.nxs")
    assert s.kind == "tilt" and s.tilt_stack.data.ndim == 4
    e, a, m, n = s.tilt_stack.data.shape
    assert s.stack.data.shape == (e, m, n)  # first-angle projections, to look at
    assert "Tomography first" in stage_jobs.stage_input_problem("fit", s)
    bar = []
    presenter._panel.stages["tomo"].bar.valueChanged.connect(bar.append)
    previews = []
    presenter.preview.connect(previews.append)
    _run(qtbot, presenter, "tomo", s, iterations=20, align_rounds=2)
    assert presenter.errors == []
    assert bar[-1] == 1000 and len(set(bar)) > 3
    # a live preview of the SIRT estimate: a (row, col) middle plane of the volume
    assert previews and previews[-1]["label"] == "SIRT middle plane"
    assert channels.preview_image(previews[-1]).shape == (m, n)
    out, _ = run_sync(reconstruct_tilt_stack(s.tilt_stack, iterations=20, max_outer=2))
    assert s.kind == "volume" and s.volume_stack.data.shape == out.data.shape
    assert s.volume_stack.data.shape[:1] == (e,) and s.volume_stack.data.ndim == 4
    np.testing.assert_allclose(s.volume_stack.data, out.data, rtol=1e-4, atol=1e-3)
    p = out.data.shape[1]
    np.testing.assert_allclose(s.stack.data, out.data[:, p // 2], rtol=1e-4, atol=1e-3)
    assert s.voxel_size == pytest.approx(float(out.pixel_size[0]))
    # the fit stage takes the volume: the whole (P, M, N) valence volume
    _run(qtbot, presenter, "fit", s)
    assert s.volume is not None and s.volume.shape == out.data.shape[1:]
    assert s.maps["valence"].shape == out.data.shape[2:]


@pytest.mark.slow
def test_volume_fit_whole_volume_and_save_reopen(qtbot, presenter, demo3d_result, tmp_path):
    from ptyxanes_gui.presenters import opening

    (s,) = opening.load_path(demo3d_result)
    assert s.kind == "volume" and s.volume_stack is not None
    shape = s.volume_stack.data.shape[1:]
    old_volume = s.volume
    _run(qtbot, presenter, "fit", s)
    assert presenter.errors == []
    assert s.volume is not old_volume and s.volume.shape == shape
    assert set(s.volume_maps) >= {"valence", "valence_sigma", "edge_energy", "mask"}
    assert all(v.shape == shape for v in s.volume_maps.values())
    ref = _engine_fit(s.volume_stack, s.references)  # the references it was made with
    np.testing.assert_allclose(s.volume, ref["oxidation_state"].data, rtol=1e-5, atol=1e-5,
                               equal_nan=True)
    assert np.isfinite(s.volume).sum() > 100
    np.testing.assert_array_equal(s.maps["valence"], s.volume[shape[0] // 2])

    from ptyxanes_gui.document import Document

    doc = Document()
    doc.add_samples([s])
    (r,) = opening.load_path(doc.save(tmp_path / "volume.h5"))
    np.testing.assert_array_equal(r.volume, s.volume)
    for key, vol in s.volume_maps.items():
        np.testing.assert_array_equal(r.volume_maps[key], vol)
    assert r.volume_stack.data.shape == s.volume_stack.data.shape
    np.testing.assert_array_equal(np.asarray(r.volume_stack.data),
                                  np.asarray(s.volume_stack.data))
    assert r.voxel_size == pytest.approx(s.voxel_size)


def test_cancel_tomo_leaves_tilt_series(qtbot, presenter, demo3d_result):
    from ptyxanes_gui.presenters import opening

    (s,) = opening.load_path(demo3d_result.parent / "input" / "stack.nxs")
    tilt, stack = s.tilt_stack, s.stack
    box = presenter._panel.stages["tomo"]
    box.inputs["iterations"].setValue(100000)
    box.inputs["align_rounds"].setValue(0)
    presenter.current["sample"] = s
    with qtbot.waitSignal(presenter.stage_cancelled, timeout=10000):
        box.run_btn.click()
        qtbot.waitUntil(lambda: box.bar.value() > 0, timeout=10000)
        box.cancel_btn.click()
    qtbot.waitUntil(lambda: "tomo" not in presenter.workers, timeout=5000)
    assert presenter.last_cancel_latency_s < 1.0
    assert s.tilt_stack is tilt and s.stack is stack and s.volume_stack is None
    assert box.eta.text() == "cancelled" and presenter.errors == []


def test_volume_planes_are_labelled_as_attenuation(demo3d_result):
    from ptyxanes_gui.presenters import channels, opening

    (s,) = opening.load_path(demo3d_result)
    assert s.kind == "volume"
    assert channels.channel_label(s, "absorption") == "attenuation μ (1/m)"
    assert channels.channel_label(s, "valence") == "Ni valence"  # the fitted edge names the element
