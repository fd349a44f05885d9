"""The Fit form's reference table shows the references of the sample the user selects."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import make_stack_file
from qtpy.QtCore import QPoint, Qt

from ptyxanes.io.spectra import read_spectrum, write_spectrum
from ptyxanes.xanes.calibration import default_references

LISA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ni_kedge_lisa_esrf"


def _click_sample(qtbot, window, name):
    """Click the sample's row in the Data panel, as a user does."""
    tree = window.data_panel.tree
    (item,) = tree.findItems(name, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, 0)
    tree.scrollToItem(item)
    with qtbot.waitSignal(window.data_panel.sample_selected, timeout=5000):
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                         pos=tree.visualItemRect(item).topLeft() + QPoint(8, 6))


def test_reference_table_follows_the_selected_sample(qtbot, window, tmp_path):
    if not LISA.is_dir():
        pytest.fail(f"{LISA} not found: the real reference spectra are part of the test data")
    # sample "own" ships its references (LISA NiO and LaNiO3, given valences 2 and 3),
    # sample "plain" has none: it is calibrated with the shipped set
    own = tmp_path / "own"
    (own / "references").mkdir(parents=True)
    names = {}
    for valence, file in ((2.0, "NiO_111.xdi"), (3.0, "LaNiO3_Ni_80K_111.xdi")):
        spec = read_spectrum(LISA / file)
        write_spectrum(own / "references" / file, dataclasses.replace(spec, valence=valence))
        names[spec.name] = f"{valence:g} (Ni{'²' if valence == 2 else '³'}⁺)"
    shipped = {r.name: f"{r.valence:g} (Ni{'²' if r.valence == 2 else '³'}⁺)"
               for r in default_references()}
    assert set(shipped).isdisjoint(names)
    assert window.open_paths([str(make_stack_file(own / "a.h5", "own"))])
    assert window.open_paths([str(make_stack_file(tmp_path / "b.h5", "plain", seed=1))])
    box = window.processing_panel.stages["fit"]
    assert box.inputs["references_from"].currentData() == "sample"

    def shown():
        return {name: valence for name, valence, _shift in box.reference_rows()}

    assert window.current_sample().name == "plain" and shown() == shipped
    _click_sample(qtbot, window, "own")
    assert window.current_sample().name == "own" and shown() == names
    _click_sample(qtbot, window, "plain")
    assert shown() == shipped
