"""A dataset that ships reference spectra is calibrated with them, not a mix of sets."""

from __future__ import annotations

import numpy as np
from ptyxanes_gui.presenters import engine

from ptyxanes.simulate.twin import run as simulate


def test_dataset_references_replace_the_defaults(tmp_path):
    engine.use_references_from(None)
    default = {s.name for s in engine.reference_spectrum_objects()}
    # the shipped defaults are one consistent set (PyXAS NiO + LiNiO2), never mixed with LISA
    assert len(default) == 2
    twin = simulate("2d", "tiny", 200, "stack", tmp_path / "sample", seed=1)
    samples = engine.load_path(twin.data[0])
    assert len(samples) == 1
    refs = engine.reference_spectrum_objects()
    assert {r.valence for r in refs} == {2.0, 3.0}
    assert {s.name for s in refs}.isdisjoint(default)
    cal = engine.calibration(np.asarray(samples[0].stack.energy))
    # the twin's references differ by a rigid 1.76 eV shift per valence
    assert abs(cal.slope - 1.76) < 0.25
    engine.use_references_from(None)
