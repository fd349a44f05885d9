"""The Fit form's foil spectrum: shown shift, FitParams.foil, and the fit uses it."""

from __future__ import annotations

import numpy as np
import pytest


def test_foil_file_shifts_the_data_energies(qtbot, presenter, tiny_stack_file, tmp_path):
    from ptyxanes_gui.presenters import opening, stage_jobs

    from ptyxanes.stages import stack_energy_shift

    # a Ni foil whose first inflection sits 1.7 eV below the tabulated Ni K-edge (8333 eV)
    e = np.arange(8280.0, 8400.0, 0.25)
    foil = tmp_path / "foil.txt"
    np.savetxt(foil, np.c_[e, 1 / (1 + np.exp(-(e - (8333.0 - 1.7)) / 1.2))])
    (s,) = opening.load_path(tiny_stack_file)
    presenter.current["sample"] = s
    box = presenter._panel.stages["fit"]
    box.set_foil_file(str(foil))
    assert box.foil_shift_label.text().startswith("+1.70 eV (foil")
    params = stage_jobs.fit_params(s, box.params())
    assert params.foil == str(foil)
    assert stack_energy_shift(params).shift == pytest.approx(1.7, abs=0.02)
    with qtbot.waitSignal(presenter.stage_finished, timeout=120000):
        box.run_btn.click()
    qtbot.waitUntil(lambda: "fit" not in presenter.workers, timeout=5000)
    assert presenter.errors == []
    assert s.fit_model["energy_shift_eV"] == pytest.approx(1.7, abs=0.02)
    # a foil that holds no edge is a message in the form, not an exception
    flat = tmp_path / "flat.txt"
    np.savetxt(flat, np.c_[e, np.zeros_like(e)])
    box.set_foil_file(str(flat))
    assert box.foil_shift_label.text().startswith("no shift from this foil")
    box.set_foil_file(None)
    assert box.params()["foil"] is None and box.foil_shift_label.text() == ""


def test_match_references_on_a_spectrum_of_the_data(presenter, tiny_stack_file):
    """'Match references on' a LISA NiO: the table shows the shipped references broadened
    and shifted as ``ptyxanes fit --ref-match`` does (docs/xanes.md, 0.2.1)."""
    from pathlib import Path

    from ptyxanes_gui.presenters import opening, stage_jobs

    from ptyxanes.stages import reference_spectra

    nio = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
        "ni_kedge_lisa_esrf" / "NiO_111.xdi"
    if not nio.exists():
        pytest.skip(f"{nio} not found")
    (s,) = opening.load_path(tiny_stack_file)
    presenter.current["sample"] = s
    presenter.sample_selected(s)
    box = presenter._panel.stages["fit"]
    box.inputs["references_from"].setCurrentIndex(
        box.inputs["references_from"].findData("shipped"))
    box.set_ref_match(2.0, str(nio))
    params = stage_jobs.fit_params(s, box.params())
    assert params.ref_match == (2.0, str(nio))
    _, shifts = reference_spectra(params)
    want = [f"{sh.shift:+.2f}" for sh in shifts.values()]
    rows = box.reference_rows()
    assert len(rows) == 2 and all("broadened" in r[2] for r in rows), rows
    assert [r[2][:5] for r in rows] == want
    box.set_ref_match(None)
    assert box.params()["ref_match"] is None
    assert not any("broadened" in r[2] for r in box.reference_rows())
