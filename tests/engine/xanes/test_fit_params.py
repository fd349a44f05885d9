"""``ptyxanes.stages.FitParams``: the fit's defaults come from ``FitOptions.for_edge`` only,
and ``fit_stage`` applies the energy shifts it is given."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import run_sync
from ptyxanes.stages import FitParams, fit_stage
from ptyxanes.xanes import FitOptions


def test_defaults_follow_the_edge():
    assert FitParams().options == FitOptions.for_edge("Ni-K")
    fe = FitParams.for_edge("Fe-L3", window=None, e0=None, method=None)
    assert fe.options == FitOptions.for_edge("Fe-L3")
    assert fe.edge_spec.valence_label == "Fe valence"
    # a flat table (pipeline TOML, GUI form) with an edge: its windows, not Ni's
    flat = FitParams.from_flat({"edge": "Co-K", "window": [7715.0, 7760.0],
                                "threshold": "otsu", "references": [[2, "a"], [3, "b"]],
                                "calibration": "piecewise"})
    co = FitOptions.for_edge("Co-K")
    assert flat.options.window == (7715.0, 7760.0)
    assert flat.options.pre_edge == co.pre_edge and flat.options.e0 == co.e0
    assert flat.references == ((2.0, "a"), (3.0, "b")) and flat.calibration == "piecewise"
    with pytest.raises(ValueError, match=r"unknown fit parameter.*'windw'.*in \[fit\]"):
        FitParams.from_flat({"windw": [1, 2]})
    with pytest.raises(ValueError, match="threshold"):
        FitParams(threshold="median")


def test_other_edge_without_references_is_refused():
    stack = ImageStack(np.ones((5, 2, 2), np.float32), np.linspace(700, 720, 5),
                       np.full(5, 40e-9), kind="absorption")
    with pytest.raises(ValueError, match="no shipped references for Fe-L3"):
        run_sync(fit_stage(stack, FitParams.for_edge("Fe-L3")))


def _ni_stack(offset: float) -> ImageStack:
    """A Ni K-edge map whose valence runs 2 → 3 along the columns, energies + ``offset`` eV."""
    from ptyxanes.simulate.spectra import normalized_mu

    energy = np.concatenate([np.arange(8270.0, 8301.0, 10.0), np.arange(8325.0, 8371.0, 1.0),
                             [8400.0, 8420.0]])
    valence = np.broadcast_to(np.linspace(2.0, 3.0, 12), (8, 12))
    mu = 0.05 + 0.3 + 0.5 * normalized_mu(energy, valence)  # (M, N, E)
    return ImageStack(np.moveaxis(mu, -1, 0).astype(np.float32), energy + offset,
                      np.full(energy.size, 40e-9), kind="absorption")


@pytest.mark.slow
def test_energy_shift_brings_a_shifted_stack_back():
    base = run_sync(fit_stage(_ni_stack(0.0)))
    shifted = _ni_stack(+2.5)
    raw = run_sync(fit_stage(shifted))
    fixed = run_sync(fit_stage(shifted, dataclasses.replace(FitParams(), energy_shift=-2.5)))
    ok = base.mask & (base.status == 0)
    assert ok.sum() > 80
    # an uncorrected +2.5 eV scale reads far too oxidised; the shift restores the map
    assert np.nanmean(raw.valence[ok] - base.valence[ok]) > 0.5
    np.testing.assert_allclose(fixed.valence[ok], base.valence[ok], atol=0.02)
    sh = fixed.info["energy_shifts"]["stack"]
    assert sh.shift == -2.5 and sh.method == "given"
    assert base.info["energy_shifts"]["stack"].method == "none"
