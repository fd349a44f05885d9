"""The series steps' results survive the trip through a checkpoint file unchanged."""

from __future__ import annotations

import numpy as np

from ptyxanes.distributed import CheckpointStore, tasks
from ptyxanes.ptycho.engine import PtychoResult
from ptyxanes.ptycho.series import ReferenceState, ScanResult


def _complex(rng, *shape):
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)


def test_scan_result_and_reference_state_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    res = PtychoResult(
        _complex(rng, 40, 41),
        _complex(rng, 2, 16, 16),
        rng.uniform(0, 20, (30, 2)),
        rng.uniform(0, 1, 7),
        rng.uniform(0, 5, (40, 41)).astype(np.float32),
        1.25,
        {"algorithm": "rpie", "alpha": 0.5, "modes": np.int64(2), "conv": np.int8([1, 0, 1])},
    )
    scan = ScanResult(5, res, 137.676, flagged=True)
    state = ReferenceState(3, (True, False, True), 63, 6.1e-8, _complex(rng, 2, 16, 16),
                           _complex(rng, 40, 41), 12.5)
    store = CheckpointStore(tmp_path / "ckpt")
    store.save("ref", {**tasks.reference_state_arrays(state), **tasks.scan_result_arrays(scan)})
    arrays = store.load("ref")
    got, back = tasks.scan_result(arrays), tasks.reference_state(arrays)
    assert (got.index, got.quality, got.flagged) == (5, 137.676, True)
    for name in ("object", "probe", "positions", "errors", "illumination"):
        a, b = getattr(res, name), getattr(got.result, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert got.result.seconds == 1.25
    assert got.result.info == {"algorithm": "rpie", "alpha": 0.5, "modes": 2, "conv": [1, 0, 1]}
    assert (back.index, back.convention, back.window, back.pixel, back.quality) == (
        3, (True, False, True), 63, 6.1e-8, 12.5)
    np.testing.assert_array_equal(back.probe, state.probe)
    np.testing.assert_array_equal(back.object, state.object)
    # without warm_object the state carries no object
    light = ReferenceState(0, (False, False, False), 64, 6e-8, state.probe, None, 1.0)
    assert tasks.reference_state(tasks.reference_state_arrays(light)).object is None
