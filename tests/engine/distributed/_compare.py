"""Shared parameters and the equality check of the distributed tests."""

from __future__ import annotations

import numpy as np

from ptyxanes.pipeline import PipelineParams

#: Short runs: the comparisons are between two paths, not with the truth.
PARAMS_3D = PipelineParams(tomo={"iterations": 10, "max_outer": 1})
PARAMS_2D = PipelineParams(reconstruct={"iterations": 2}, align={"pixel_size": 100e-9})



def assert_same_project(a, b) -> None:
    """Every map and stack bit-identical (NaN where NaN)."""
    assert set(a.maps) == set(b.maps) and a.maps
    for k in a.maps:
        np.testing.assert_array_equal(np.asarray(a.maps[k].data), np.asarray(b.maps[k].data),
                                      err_msg=k)
    assert set(a.stacks) == set(b.stacks)
    for k in a.stacks:
        np.testing.assert_array_equal(np.asarray(a.stacks[k].data), np.asarray(b.stacks[k].data),
                                      err_msg=k)
