"""The fit on Dask workers equals the in-process fit for every method and mask."""

from __future__ import annotations

import numpy as np
import pytest

from ptyxanes.distributed import RunStats, fit_stack_distributed
from ptyxanes.io.nexus import read_stack, write_stack
from ptyxanes.pipeline import load_references
from ptyxanes.progress import run_sync
from ptyxanes.xanes import FitOptions, calibrate_references, fit_stack

MAPS = ("valence", "valence_sigma", "edge_energy", "edge_jump", "edge_sigma", "fit_quality",
        "status", "mask")


def _same(want, got, case):
    for k in MAPS:
        np.testing.assert_array_equal(getattr(want, k), getattr(got, k), err_msg=f"{case}: {k}")
    assert want.options == got.options, case
    assert want.info["method"] == got.info["method"], case
    assert want.info.get("method_reason") == got.info.get("method_reason"), case
    np.testing.assert_array_equal(want.threshold, got.threshold, err_msg=case)
    if want.template is None:
        assert got.template is None, case
    else:
        np.testing.assert_array_equal(want.template, got.template, err_msg=case)


@pytest.mark.slow
def test_fit_equals_in_process_for_every_method_and_threshold(client, inproc3d, tmp_path):
    """Defaults (auto method, auto mask), Otsu, a number, no mask; lcf, shared, free shapes.

    Blocks of 2 000 voxels, so that the map's first pass, the ``auto`` sample
    and the fit are all spread over several tasks.
    """
    path = tmp_path / "volumes.h5"
    write_stack(path, inproc3d.stacks["volumes"])
    stack = read_stack(path, lazy=True)
    energy = np.asarray(stack.energy, np.float64)
    cal = calibrate_references(load_references(()), energy=energy, options=FitOptions())
    otsu = run_sync(fit_stack(stack, calibration=cal, threshold="otsu", chunk_spectra=2000))
    assert otsu.threshold > 0
    cases = [
        (FitOptions(), "auto"),                             # the defaults
        (FitOptions(), "otsu"),
        (FitOptions(method="lcf"), "auto"),
        (FitOptions(method="halfheight"), 0.5 * otsu.threshold),
        (FitOptions(method="halfheight", shape="free"), None),
    ]
    stats = RunStats()
    methods = set()
    for opts, thr in cases:
        case = f"method={opts.method} shape={opts.shape} threshold={thr}"
        want = run_sync(fit_stack(stack, options=opts, calibration=cal, threshold=thr,
                                  chunk_spectra=2000))
        got = run_sync(fit_stack_distributed(stack, options=opts, calibration=cal, threshold=thr,
                                             chunk_spectra=2000, client=client, stats=stats))
        _same(want, got, case)
        assert np.isfinite(got.edge_energy).sum() > 100, case
        assert got.info["tasks"] >= 2, case
        methods.add((got.options.method, got.options.shape))
    assert len(methods) >= 3  # lcf, shared and free fits all compared
    assert stats.computed["fit"] > 0


@pytest.mark.slow
def test_fit_with_given_template_equals_in_process(client, inproc3d, tmp_path):
    """A shared shape given up front skips the first pass on both paths."""
    path = tmp_path / "volumes.h5"
    write_stack(path, inproc3d.stacks["volumes"])
    stack = read_stack(path, lazy=True)
    first = run_sync(fit_stack(stack, options=FitOptions(method="halfheight"), threshold=None,
                               chunk_spectra=2000))
    assert first.template is not None
    opts = FitOptions(method="halfheight")
    want = run_sync(fit_stack(stack, options=opts, threshold="auto", chunk_spectra=2000,
                              template=first.template))
    got = run_sync(fit_stack_distributed(stack, options=opts, threshold="auto",
                                         chunk_spectra=2000, client=client,
                                         template=first.template))
    _same(want, got, "template given")
    np.testing.assert_array_equal(got.template, first.template)
