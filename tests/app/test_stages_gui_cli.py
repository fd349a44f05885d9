"""Every stage gives the same arrays from the GUI's presenter and from the command line.

Both call :mod:`ptyxanes.stages` with parameters whose defaults are defined once; the
GUI's Processing form starts at those defaults.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import make_stack_file

from ptyxanes.cli import main as cli
from ptyxanes.io.nexus import read_stack
from ptyxanes.io.project import load_project
from ptyxanes.progress import run_sync
from ptyxanes.stages import SegmentParams, segment_stage


def _run(qtbot, presenter, stage, sample, **form):
    presenter.current["sample"] = sample
    box = presenter._panel.stages[stage]
    for k, v in form.items():
        w = box.inputs[k]
        w.setChecked(v) if isinstance(v, bool) else w.setValue(v)
    with qtbot.waitSignal(presenter.stage_finished, timeout=120000) as done:
        box.run_btn.click()
    qtbot.waitUntil(lambda: stage not in presenter.workers, timeout=5000)
    assert presenter.errors == []
    return done.args[2]


@pytest.fixture
def shifted_stack(tmp_path):
    """A stack whose energies are displaced by known sub-pixel shifts."""
    import dataclasses

    from ptyxanes.align import shift_image
    from ptyxanes.io.nexus import write_stack

    src = make_stack_file(tmp_path / "s.h5", "s", shape=(40, 48))
    stack = read_stack(src, lazy=False)
    rng = np.random.default_rng(3)
    truth = rng.uniform(-2, 2, (stack.n_energies, 2))
    truth[0] = 0
    data = np.stack([shift_image(np.asarray(im), -t) for im, t in zip(stack.data, truth,
                                                                     strict=True)])
    path = tmp_path / "shifted.h5"
    write_stack(path, dataclasses.replace(stack, data=data.astype(stack.data.dtype)))
    return path, truth


def test_register_gui_equals_align_cli(qtbot, presenter, shifted_stack, tmp_path):
    from ptyxanes_gui.presenters import opening

    path, truth = shifted_stack
    (s,) = opening.load_path(path)
    aligned, table, params = _run(qtbot, presenter, "register", s)
    out = tmp_path / "aligned.h5"
    assert cli(["align", str(path), "-o", str(out), "-q"]) == 0
    ref = read_stack(out, lazy=False)
    np.testing.assert_array_equal(np.asarray(aligned.data), np.asarray(ref.data))
    np.testing.assert_array_equal(aligned.pixel_size, ref.pixel_size)
    # same defaults: 40 nm target, upsampling 100, cropped
    assert params.upsample_factor == 100 and params.pixel_size == pytest.approx(40e-9)
    assert aligned.data.shape[1:] != s.unregistered.data.shape[1:]  # cropped
    shifts = np.stack([table["shifts_row"], table["shifts_col"]], 1)
    # and right: the images change across the edge, so a few energies are off by ~0.15 px
    np.testing.assert_allclose(shifts, truth, atol=0.25)
    assert np.median(np.abs(shifts - truth)) < 0.05


def test_fit_and_segment_gui_equal_cli(qtbot, presenter, tmp_path):
    from ptyxanes_gui import document
    from ptyxanes_gui.presenters import opening

    path = make_stack_file(tmp_path / "s.h5", "s")
    (s,) = opening.load_path(path)
    maps = _run(qtbot, presenter, "fit", s)
    out = tmp_path / "fit.h5"
    assert cli(["fit", str(path), "-o", str(out), "-q"]) == 0
    proj = load_project(out)
    for key, nx in document.MAP_NAMES.items():
        np.testing.assert_array_equal(np.asarray(maps[key], float),
                                      np.asarray(proj.maps[nx].data, float), err_msg=key)
    # the valence follows the stack's known field, 2 + 1.4 col/(N-1) inside the ellipse
    # (its gradient; the shipped references set the offset of this model's spectra)
    v = np.asarray(maps["valence"])
    rows, cols = np.nonzero(np.isfinite(v))
    slope = np.polyfit(cols, v[rows, cols], 1)[0]
    assert slope == pytest.approx(1.4 / 31, rel=0.3)

    result = _run(qtbot, presenter, "segment", s, threshold=2.8, min_island_size=1)
    ref = run_sync(segment_stage(np.asarray(proj.maps["oxidation_state"].data),
                                 SegmentParams(threshold=2.8, min_island_size=1),
                                 weights=np.asarray(proj.maps["edge_jump"].data),
                                 cell_size=40e-9))
    for k in ("high_ox", "crystals"):
        np.testing.assert_array_equal(result.labels[k], ref.labels[k])
    for k, col in ref.table.columns().items():
        np.testing.assert_array_equal(result.table.columns()[k], col, err_msg=k)
    # >Ni3+ where the known valence field exceeds 2.8 (col > 0.57 N)
    hi = np.nonzero(result.labels["high_ox"])[1]
    assert hi.size and hi.min() >= 0.5 * 32


def test_form_defaults_are_the_stage_defaults(presenter):
    from ptyxanes.stages import FitParams, RegisterParams, TomoParams

    stages = presenter._panel.stages
    assert stages["register"].params()["upsample_factor"] == RegisterParams().upsample_factor
    assert stages["register"].params()["pixel_size_nm"] == pytest.approx(40.0)
    # the fit form starts blank where the edge decides (windows, e0) and at the stage's
    # defaults elsewhere: together exactly FitParams() (with the GUI's chunk size)
    from ptyxanes_gui.presenters import stage_jobs

    form = stages["fit"].params()
    assert form["pre_edge"] == (None, None) and form["e0"] is None
    assert stage_jobs.fit_params(None, form) == dataclasses.replace(
        FitParams(), chunk_spectra=stage_jobs.GUI_FIT_CHUNK)
    assert stages["fit"].inputs["pre_edge_lo"].placeholderText() == \
        f"{FitParams().options.pre_edge[0]:g}"
    assert stages["tomo"].params()["iterations"] == TomoParams().iterations


@pytest.mark.slow
@pytest.mark.parametrize(("form", "options"), [({}, []), ({"spot_um": 1.0}, ["--spot", "1e-6"])],
                         ids=["probe-from-data", "given-spot"])
def test_reconstruct_gui_equals_reconstruct_cli(qtbot, presenter, demo_scans, tmp_path, form,
                                                options):
    """Two energies of the demo scans, a few iterations: the GUI's stack is the CLI's file,
    with the probe estimated from the data (both defaults) and with a given zone plate."""
    import shutil

    from ptyxanes_gui.presenters import opening

    folder = tmp_path / "scans"
    folder.mkdir()
    for f in sorted(demo_scans.glob("*.cxi"))[:2]:  # two pre-edge energies
        shutil.copy(f, folder)
    s = opening.scans_sample(folder)
    assert len(s.scans) == 2
    assert presenter._panel.stages["reconstruct"].params()["spot_um"] == 0.0  # from the data
    stack = _run(qtbot, presenter, "reconstruct", s, iterations=5, **form)
    out = tmp_path / "rec.h5"
    assert cli(["reconstruct", str(folder), "-o", str(out), "--iterations", "5",
                "-q", *options]) == 0
    ref = read_stack(out, lazy=False)
    np.testing.assert_array_equal(np.asarray(stack.data), np.asarray(ref.data))
    np.testing.assert_array_equal(stack.pixel_size, ref.pixel_size)
    np.testing.assert_array_equal(stack.energy, ref.energy)
    # and an image of the sample: its phase varies inside the scanned field (the twin's
    # particles shift the phase by ~0.2-0.5 rad), the unlit margin stays flat
    for im in np.angle(np.asarray(stack.data)):
        m, n = im.shape
        assert im[m // 3: 2 * m // 3, n // 3: 2 * n // 3].std() > 10 * im[:3].std()


def test_tomo_gui_equals_tomo_cli(qtbot, presenter, demo3d_result, tmp_path):
    """Two energies of the 3D demo's tilt series, few iterations and alignment rounds."""
    from ptyxanes_gui.presenters import opening

    from ptyxanes.io.nexus import write_stack

    full = read_stack(demo3d_result.parent / "input" / "stack.nxs", lazy=False)
    keep = [0, full.n_energies - 1]  # below and above the edge
    small = dataclasses.replace(full, data=np.asarray(full.data)[keep],
                                energy=np.asarray(full.energy)[keep],
                                pixel_size=np.asarray(full.pixel_size)[keep])
    path = tmp_path / "tilt.nxs"
    write_stack(path, small)
    (s,) = opening.load_path(path)
    assert s.tilt_stack is not None
    volumes = _run(qtbot, presenter, "tomo", s, iterations=20, align_rounds=2)
    out = tmp_path / "vol.h5"
    assert cli(["tomo", str(path), "-o", str(out), "--iterations", "20", "--align-rounds",
                "2", "-q"]) == 0
    ref = read_stack(out, lazy=False)
    np.testing.assert_array_equal(np.asarray(volumes.data), np.asarray(ref.data))
    np.testing.assert_array_equal(volumes.pixel_size, ref.pixel_size)
    # and right: more attenuation above the edge than below it, inside the particle
    below, above = np.asarray(volumes.data)
    inside = above > 0.5 * above.max()
    assert inside.any() and above[inside].mean() > below[inside].mean()
