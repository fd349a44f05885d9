"""A dataset that ships reference spectra is calibrated with them, chosen explicitly per sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ptyxanes_gui.presenters import opening, spectra

from ptyxanes.simulate.twin import run as simulate


def test_dataset_references_are_the_samples_explicit_choice(tmp_path):
    shipped = {s.name for s in spectra.reference_spectrum_objects()}
    # the shipped defaults are one consistent set (PyXAS NiO + LiNiO2), never mixed with LISA
    assert len(shipped) == 2
    twin = simulate("2d", "tiny", 200, "stack", tmp_path / "sample", seed=1)
    (sample,) = opening.load_path(twin.data[0])
    assert {v for v, _f in sample.references} == {2.0, 3.0}
    assert all(Path(f).parent.name == "references" for _v, f in sample.references)
    refs = spectra.reference_spectrum_objects(sample.references)
    assert {s.name for s in refs}.isdisjoint(shipped)
    cal = spectra.calibration(np.asarray(sample.stack.energy), sample.references)
    # the twin's references differ by a rigid 1.76 eV shift per valence
    assert abs(cal.slope - 1.76) < 0.25
    # nothing leaks: a stack without references is calibrated with the shipped set
    default = spectra.calibration(np.asarray(sample.stack.energy))
    assert abs(default.slope - cal.slope) > 1e-6
