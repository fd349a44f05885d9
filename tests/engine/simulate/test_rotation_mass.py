"""Tilt projections of a non-cubic sample box keep all the material at every angle."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.simulate import imaging
from ptyxanes.simulate.sample import make_sample


@pytest.mark.parametrize("use_numba", [False, True])
def test_projection_mass_is_angle_independent(use_numba):
    sample = make_sample("tiny", 200, seed=1, dim="2d")  # thin box: (24, 56, 56)
    assert sample.occupancy.shape[0] < sample.occupancy.shape[2]
    totals = [imaging._projected_paths_uncached(sample, a, use_numba=use_numba)[1].sum()
              for a in (0.0, 45.0, 90.0, 150.0)]
    np.testing.assert_allclose(np.array(totals) / totals[0], 1.0, atol=2e-3)
