"""The GUI's Fit form on another element's edge: the real Fe L-edge STXM stack.

The form's edge, windows, method, mask and references become the same
``ptyxanes.stages.FitParams`` that ``ptyxanes fit`` builds, so the GUI's maps equal
the CLI's; labels name the element; a fit that cannot run is a message.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from ptyxanes.cli import main as cli
from ptyxanes.io.project import load_project

STXM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
    "stxm_fe_L_edge_als_stack" / "71214078_aligned"


@pytest.fixture(scope="module")
def fe_crop(tmp_path_factory):
    """A crop of the real stack (rows 24-72, columns 0-64) holding the Fe²⁺ particle and
    Fe³⁺ regions, written as a NeXus stack that the GUI and the CLI both open."""
    from ptyxanes.io.formats import open_stack
    from ptyxanes.io.nexus import write_stack

    stack = open_stack(STXM, lazy=False)
    crop = dataclasses.replace(stack, data=np.ascontiguousarray(
        np.asarray(stack.data)[:, 24:72, 0:64]))
    path = tmp_path_factory.mktemp("fe") / "fe_crop.h5"
    write_stack(path, crop)
    return path


def _fe_form(box):
    box.inputs["edge"].setCurrentText("Fe-L3")
    box.set_reference_files([(2.0, str(STXM / "reduced.r")), (3.0, str(STXM / "oxidized.r"))])


@pytest.mark.slow
def test_fe_l3_stxm_gui_equals_cli_with_fe_labels(qtbot, presenter, fe_crop, tmp_path):
    from ptyxanes_gui import document
    from ptyxanes_gui.presenters import channels, opening, spectra

    from ptyxanes.xanes import FitOptions
    from ptyxanes.xanes.normalize import normalize

    (s,) = opening.load_path(fe_crop)
    presenter.current["sample"] = s
    box = presenter._panel.stages["fit"]
    _fe_form(box)
    fe = FitOptions.for_edge("Fe-L3")
    # the form follows the edge: blank windows show (and mean) the Fe L3 windows, eV
    assert box.inputs["window_lo"].placeholderText() == f"{fe.window[0]:g}"
    rows = box.reference_rows()
    assert [r[1] for r in rows] == ["2 (Fe²⁺)", "3 (Fe³⁺)"]
    assert all(r[2] for r in rows)  # every reference's energy shift is shown
    with qtbot.waitSignal(presenter.stage_finished, timeout=120000) as done:
        box.run_btn.click()
    qtbot.waitUntil(lambda: "fit" not in presenter.workers, timeout=5000)
    assert presenter.errors == []
    maps = done.args[2]

    out = tmp_path / "fit.h5"
    assert cli(["fit", str(fe_crop), "-o", str(out), "-q", "--edge", "Fe-L3",
                "--ref", f"2:{STXM / 'reduced.r'}", "--ref", f"3:{STXM / 'oxidized.r'}"]) == 0
    proj = load_project(out)
    for key, nx in document.MAP_NAMES.items():
        np.testing.assert_array_equal(np.asarray(maps[key], float),
                                      np.asarray(proj.maps[nx].data, float), err_msg=key)
    assert proj.parameters["fit"]["edge"] == "Fe-L3"

    # both end-members are in the map (the Fe²⁺ particle and the Fe³⁺ matrix)
    v = np.asarray(maps["valence"], float)
    ok = np.isfinite(v)
    assert ok.sum() > 0.2 * v.size
    assert np.sum(v[ok] < 2.4) > 30 and np.sum(v[ok] > 2.6) > 30

    # element-aware labels: colour bar / axis and histogram reference lines
    assert channels.channel_label(s, "valence") == "Fe valence"
    assert channels.channel_label(s, "valence_sigma") == "Fe valence σ"
    assert spectra.sample_edge(s).state_label(2) == "Fe²⁺"
    assert spectra.reference_valences(s) == (2.0, 3.0)

    # references drawn on the data's normalisation (area over the L3+L2 window)
    overlay = spectra.reference_spectra(s)
    assert set(overlay) == {"Fe²⁺ ref.", "Fe³⁺ ref."}
    from ptyxanes.io.spectra import read_spectrum

    red = read_spectrum(STXM / "reduced.r", valence=2.0)
    e, mu = overlay["Fe²⁺ ref."]
    keep = (red.energy >= e[0]) & (red.energy <= e[-1])
    want = normalize(red.energy, red.mu, **fe.norm_kwargs).mu[keep]
    np.testing.assert_allclose(mu, want, rtol=1e-9)
    # a pixel fitted as Fe²⁺ looks like the Fe²⁺ reference on that normalisation, and a
    # pixel fitted as Fe³⁺ like the Fe³⁺ one
    for target, near, far in ((v[ok].min(), "Fe²⁺ ref.", "Fe³⁺ ref."),
                              (v[ok].max(), "Fe³⁺ ref.", "Fe²⁺ ref.")):
        r, c = np.argwhere(v == target)[0]
        fit = spectra.fit_spectrum(s.energy, spectra.pixel_spectrum(s, r, c), s)
        assert fit.fit is not None, fit.message
        rms = {k: np.sqrt(np.nanmean((np.interp(overlay[k][0], fit.energy, fit.normalized)
                                      - overlay[k][1]) ** 2)) for k in (near, far)}
        assert rms[near] < rms[far], (target, rms)


def test_fit_that_cannot_run_is_a_message(qtbot, presenter, fe_crop, caplog, capsys):
    from ptyxanes_gui.presenters import opening

    (s,) = opening.load_path(fe_crop)
    presenter.current["sample"] = s
    box = presenter._panel.stages["fit"]
    box.inputs["edge"].setCurrentText("Fe-L3")  # no references: none are shipped for Fe
    caplog.set_level(logging.DEBUG)
    box.run_btn.click()
    assert "fit" not in presenter.workers
    assert len(presenter.errors) == 1 and "no shipped references for Fe-L3" in presenter.errors[0]
    assert "no shipped references" in box.eta.text()
    assert "reference" in box.reference_rows()[0][0]  # the table says why, too

    # a fit that fails inside its worker (the Ni K windows on an Fe L-edge stack): a
    # message, the sample untouched
    box.inputs["edge"].setCurrentText("Ni-K")
    box.inputs["references_from"].setCurrentIndex(
        box.inputs["references_from"].findData("shipped"))
    with qtbot.waitSignal(presenter.stage_failed, timeout=60000):
        box.run_btn.click()
    qtbot.waitUntil(lambda: "fit" not in presenter.workers, timeout=10000)
    assert len(presenter.errors) == 2 and presenter.errors[1].startswith("fit failed: ")
    assert "valence" not in s.maps
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in caplog.text and "Traceback" not in capsys.readouterr().err


def test_selecting_an_fe_sample_moves_the_form_to_its_edge(presenter, fe_crop):
    """The form's edge follows a newly selected sample whose energies do not cover it."""
    from ptyxanes_gui.presenters import opening, spectra

    (s,) = opening.load_path(fe_crop)
    box = presenter._panel.stages["fit"]
    box.inputs["edge"].setCurrentText("Ni-K")
    presenter.current["sample"] = s
    presenter.sample_selected(s)
    assert box.inputs["edge"].currentText() == "Fe-L3"
    box.inputs["edge"].setCurrentText("Fe-L2")  # a choice the energies cover stays
    presenter.sample_selected(s)
    assert box.inputs["edge"].currentText() == "Fe-L2"
    # without a form, a sample's fit parameters and calibration follow its energies too
    assert spectra.sample_fit_params(s).edge == "Fe-L3"
