"""Twin CXI series -> reconstruct -> align + XANES fit: valence as good as from the ideal stack.

The tiny twin's valence error is limited by its 156 nm pixels (shells and slabs
of 1-2 voxels; the pipeline's own test measures MAE 0.22-0.27 on noise-free
stacks). So the test asks that ptychography adds no error: the MAE from the
reconstructed stack is at most the MAE from the twin's exact transmission stack
plus 0.05.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ptyxanes.io.cxi import read_scan_series
from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams
from ptyxanes.ptycho.series import SeriesParams, reconstruct_series, write_series
from ptyxanes.simulate.twin import read_truth
from ptyxanes.simulate.twin import run as simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))


def _mae(stack_path, twin_dir, out):
    from truth_compare import valence_errors

    from ptyxanes.io.project import load_project
    from ptyxanes.pipeline import PipelineParams, run_pipeline

    ref = Path(twin_dir) / "references"
    params = PipelineParams(
        align={"pixel_size": 100e-9},
        references=((2.0, str(ref / "Ni2_NiO.xdi")), (3.0, str(ref / "Ni3_LiNiO2.xdi"))),
    )
    run_sync(run_pipeline("2d", stack_path, out, params))
    saved = load_project(out)
    v, jump = saved.maps["oxidation_state"], saved.maps["edge_jump"]
    truth = read_truth(Path(twin_dir) / "truth.h5")
    err = valence_errors(
        v.data,
        jump.data,
        v.pixel_size,
        truth["projection/valence"],
        truth["projection/thickness"],
        1e-7,
    )
    assert err.size > 100
    return float(np.mean(np.abs(err)))


@pytest.mark.slow
def test_reconstructed_series_valence(tmp_path):
    pytest.importorskip("ptyxanes.pipeline")
    cxi = simulate("2d", "tiny", 200, "cxi", tmp_path / "cxi", seed=0)
    ideal = simulate("2d", "tiny", 200, "stack", tmp_path / "stack", seed=0)
    res = run_sync(
        reconstruct_series(
            read_scan_series(cxi.outdir),
            PtychoParams(algorithm="rpie", iterations=40),
            SeriesParams(jobs=2),
        )
    )
    stack = write_series(tmp_path / "ptycho.h5", res)
    mae_ptycho = _mae(stack, cxi.outdir, tmp_path / "p1.h5")
    mae_ideal = _mae(ideal.data[0], ideal.outdir, tmp_path / "p2.h5")
    assert mae_ptycho <= mae_ideal + 0.05, (mae_ptycho, mae_ideal)
