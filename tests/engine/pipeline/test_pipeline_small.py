"""2D pipeline on the ``small`` twin (50 nm voxels, 78 nm pixels), from the exact stack
and from raw CXI scans through ptychography.

With the paper's free 9-parameter fit the tiny twin (156 nm pixels) reached a valence
MAE of ~0.2 and the small one ~0.08; the default shared-shape fit brings them to
0.045 and 0.013 (see docs/xanes.md). These tests hold the small twin to the issue's
MAE <= 0.1 with margin, including the ptychographic reconstruction.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ptyxanes.io.project import load_project
from ptyxanes.pipeline import PipelineParams, run_pipeline
from ptyxanes.progress import run_sync
from ptyxanes.simulate.twin import read_truth
from ptyxanes.simulate.twin import run as simulate

sys.path.insert(0, str(Path(__file__).parent))
from truth_compare import valence_errors  # noqa: E402

TRUTH_VOXEL = 50e-9  # the small twin's voxel size, m
# ptychography of the small twin: the probe guess at the twin's 1 µm spot (the 2 µm
# default costs ~0.1 in MAE), 100 ePIE iterations at the reference energy, 40 at the
# others, warm-started from their neighbour's probe and object (~35 s on 2 cores)
RECONSTRUCT = {"iterations": 100, "spot": 1e-6, "warm_object": True, "warm_iterations": 40}


def _refs(twin):
    ref = twin.outdir / "references"
    return ((2.0, str(ref / "Ni2_NiO.xdi")), (3.0, str(ref / "Ni3_LiNiO2.xdi")))


def _errors(out, twin):
    saved = load_project(out)
    v, jump = saved.maps["oxidation_state"], saved.maps["edge_jump"]
    truth = read_truth(twin.truth)
    err = valence_errors(v.data, jump.data, v.pixel_size, truth["projection/valence"],
                         truth["projection/thickness"], TRUTH_VOXEL)
    return err, v.pixel_size


def test_pipeline_2d_small_stack_reaches_mae_0p1(tmp_path):
    twin = simulate("2d", "small", 200, "stack", tmp_path / "twin", seed=3)
    out = tmp_path / "result.h5"
    params = PipelineParams(align={"pixel_size": 50e-9}, references=_refs(twin))
    run_sync(run_pipeline("2d", twin.data[0], out, params))
    err, pixel = _errors(out, twin)
    assert pixel == pytest.approx(50e-9)
    assert err.size > 500
    # measured MAE 0.013, bias -0.001 (free fit: 0.052-0.079, bias +0.03)
    assert np.mean(np.abs(err)) <= 0.04
    assert abs(np.mean(err)) < 0.02


@pytest.mark.slow
def test_pipeline_2d_small_from_cxi_reaches_mae_0p1(tmp_path):
    """Reconstruct the small twin's CXI series (probe guess at the twin's 1 µm spot)."""
    twin = simulate("2d", "small", 200, "cxi", tmp_path / "twin", seed=3)
    assert len(twin.data) == 18
    out = tmp_path / "result.h5"
    params = PipelineParams(reconstruct=RECONSTRUCT, align={"pixel_size": 50e-9},
                            references=_refs(twin))
    run_sync(run_pipeline("2d", twin.outdir, out, params))
    err, _ = _errors(out, twin)
    assert err.size > 500
    # measured MAE 0.022, bias -0.013 with the shared-shape fit (the free fit: MAE 0.094,
    # bias +0.044; with it the default 2 µm probe guess or fewer iterations gave 0.11-0.21)
    assert np.mean(np.abs(err)) <= 0.06
    assert abs(np.mean(err)) < 0.04
