"""Registration on the digital twin (ptyxanes.simulate) with known random shifts."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.align import register_stack, rescale_stack
from ptyxanes.progress import run_sync

imaging = pytest.importorskip("ptyxanes.simulate.imaging")
sample_mod = pytest.importorskip("ptyxanes.simulate.sample")

ENERGIES = np.array([8270, 8300, 8330, 8340, 8345, 8350, 8355, 8360, 8400, 8420.0])


@pytest.mark.parametrize("reference", [0, None])
def test_twin_shifts_recovered_after_rescaling(reference):
    sample = sample_mod.make_sample("tiny", cycles=200)
    rng = np.random.default_rng(1)
    shifts = rng.uniform(-3, 3, (len(ENERGIES), 2))  # content moves by +shift (twin convention)
    shifts[0] = 0
    pixel = np.linspace(100e-9, 110e-9, len(ENERGIES))  # every energy its own pixel size
    st = imaging.project_stack(sample, ENERGIES, pixel_size=pixel, shifts=shifts)
    target = 100e-9
    data = rescale_stack(np.asarray(st.data), st.pixel_size, target)
    reg = run_sync(register_stack(data, reference=reference, channel="phase"))
    expected = -shifts * pixel[:, None] / target  # corrections, in target pixels
    rms = float(np.sqrt(np.mean((reg.shifts - expected) ** 2)))
    assert rms <= 0.1, rms
    assert not reg.outliers.any()
