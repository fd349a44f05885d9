"""The window opens every input the CLI reads (one import stage for both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from ptyxanes_gui.presenters.opening import load_path

from ptyxanes.io.formats import open_stack

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
STXM = DATA / "stxm_fe_L_edge_als_stack" / "71214078_aligned"
TOOTH = DATA / "tomo_tomopy_tooth" / "tooth.h5"


def test_real_stxm_stack_opens_as_one_sample():
    if not STXM.is_dir():
        pytest.skip(f"real STXM stack not found at {STXM}")
    (sample,) = load_path(STXM)
    ref = open_stack(STXM)
    assert_array_equal(np.asarray(sample.stack.data), np.asarray(ref.data))
    assert_array_equal(sample.stack.energy, ref.energy)
    assert sample.pixel_size == pytest.approx(80e-9)


def test_real_data_exchange_tomogram_opens_as_tilt_series():
    if not TOOTH.is_file():
        pytest.skip(f"real tooth tomogram not found at {TOOTH}")
    (sample,) = load_path(TOOTH)
    assert sample.kind == "tilt"
    assert sample.tilt_stack.data.shape == (1, 181, 2, 640)
