"""The pipeline on 2 local Dask workers equals the in-process pipeline, bit for bit."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from _compare import PARAMS_2D, PARAMS_3D, assert_same_project

from ptyxanes.cli import main
from ptyxanes.distributed import CheckpointStore, RunStats, run_pipeline_distributed
from ptyxanes.distributed.runner import TOMO_SLAB_ROWS, slab_bounds
from ptyxanes.io.project import load_project
from ptyxanes.pipeline import run_pipeline
from ptyxanes.progress import Cancelled, Control, run_sync
from ptyxanes.xanes import fit_stack
from ptyxanes.xanes.results import result_maps


@pytest.mark.slow
def test_3d_via_cli_on_existing_scheduler_equals_in_process(client, twin3d, inproc3d, tmp_path):
    """`ptyxanes pipeline 3d --scheduler ADDRESS`: SIRT per slab of rows, same volumes and maps."""
    out, ckpt = tmp_path / "dask.h5", tmp_path / "ckpt"
    code = main(["pipeline", "3d", str(twin3d.outdir / "stack.nxs"), "-o", str(out), "-q",
                 "--sirt-iterations", "10", "--config", str(_toml(tmp_path, "tomo",
                                                                      max_outer=1)),
                 "--scheduler", client.scheduler.address, "--checkpoint", str(ckpt)])
    assert code == 0
    got = load_project(out, lazy=False)
    assert_same_project(inproc3d, got)
    assert np.isfinite(got.maps["oxidation_state"].data).sum() > 100
    # one checkpoint per energy's alignment, per slab of rows (SIRT) and per fit block
    keys = CheckpointStore(ckpt).keys()
    n_e, rows = inproc3d.stacks["volumes"].data.shape[:3:2]
    slabs = len(slab_bounds(rows, TOMO_SLAB_ROWS))
    assert slabs >= 2
    assert sum(k.startswith("tomoalign-") for k in keys) == n_e
    assert sum(k.startswith("tomo-") for k in keys) == n_e * slabs
    assert any(k.startswith("fit-") for k in keys)


def _toml(folder, table, **values):
    path = folder / "params.toml"
    path.write_text(f"[{table}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
    return path


@pytest.mark.slow
def test_2d_from_cxi_scans_equals_in_process(client, twin2d, tmp_path):
    """One task per scan (reference scan first, the others warm-started), per energy
    (registration), per block (fit)."""
    twin = twin2d
    ref = run_sync(run_pipeline("2d", twin.outdir, tmp_path / "ref.h5", PARAMS_2D))
    stats = RunStats()
    got = run_sync(run_pipeline_distributed("2d", twin.outdir, tmp_path / "dask.h5", PARAMS_2D,
                                            client=client, stats=stats))
    assert_same_project(ref, got)
    assert stats.computed["reconstruct"] == len(twin.data) == 18
    # shift and residual per energy but the reference's shift, shifted image per energy
    assert stats.computed["align"] == 3 * 18 - 1
    _only_small_arguments(stats, ("reconstruct", "align", "fit"))
    assert not (tmp_path / "dask.h5.checkpoint").exists()  # default checkpoint removed
    assert_same_project(ref, load_project(tmp_path / "dask.h5", lazy=False))


@pytest.mark.slow
def test_killed_worker_gives_complete_equal_result(client, twin3d, inproc3d, tmp_path):
    """SIGKILL one worker process while it runs a task: its tasks run again elsewhere.

    With ``slab_rows=None``: one tomography task per energy (SIRT and alignment together).
    """
    pids_before = set(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_busy_worker(p):
        if killed or p.stage != "tomo" or p.done <= 0:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    stats = RunStats()
    got = run_sync(run_pipeline_distributed("3d", twin3d.outdir / "stack.nxs",
                                            tmp_path / "dask.h5", PARAMS_3D, client=client,
                                            stats=stats, slab_rows=None), kill_busy_worker)
    assert killed and killed[0] in pids_before
    assert_same_project(inproc3d, got)
    n_e = len(inproc3d.stacks["volumes"].energy)
    assert stats.computed["tomo"] == n_e and stats.skipped["tomo"] == 0
    assert killed[0] not in set(client.run(os.getpid).values())  # (its nanny restarts it)
    _only_small_arguments(stats, ("tomo", "fit"))


def _only_small_arguments(stats, stages):
    """Tasks get paths and parameters: the workers read the data from the files themselves.

    A scan task carries the reference state (its probe and object, ~0.2 MB
    here), less than the scan's own frames (100 × 64² float32 = 1.6 MB); a fit
    task its plan (energies, calibration); the others a few hundred bytes.
    """
    limits = {"reconstruct": 1_000_000, "fit": 100_000}
    for stage in stages:
        assert 0 < stats.largest_arguments[stage] < limits.get(stage, 5_000), \
            (stage, stats.largest_arguments)


@pytest.mark.slow
def test_interrupted_run_resumes_and_skips_finished_tasks(client, twin3d, inproc3d, tmp_path):
    """Cancel after a few SIRT slabs; the second run loads them and computes only the rest.

    The fit runs in blocks of 2 000 spectra; the maps equal the in-process
    fit of the same volumes with the same chunks and the pipeline's mask.
    """
    src, out, ckpt = twin3d.outdir / "stack.nxs", tmp_path / "dask.h5", tmp_path / "ckpt"
    control, first = Control(), RunStats()

    def cancel_after_three(p):
        if first.computed.get("tomo", 0) >= 3:
            control.cancel()

    with pytest.raises(Cancelled):
        run_sync(run_pipeline_distributed("3d", src, out, PARAMS_3D, client=client,
                                          checkpoint=ckpt, control=control, stats=first,
                                          chunk_spectra=2000), cancel_after_three)
    assert not out.exists()
    stored = [k for k in CheckpointStore(ckpt).keys() if k.startswith("tomo-")]
    assert 3 <= len(stored) == first.computed["tomo"]
    second = RunStats()
    got = run_sync(run_pipeline_distributed("3d", src, out, PARAMS_3D, client=client,
                                            checkpoint=ckpt, stats=second, chunk_spectra=2000))
    n_e, rows = inproc3d.stacks["volumes"].data.shape[:3:2]
    n_slabs = n_e * len(slab_bounds(rows, TOMO_SLAB_ROWS))
    assert second.skipped["tomo-align"] == n_e  # every alignment finished before any slab
    assert second.computed["tomo-align"] == 0
    assert second.skipped["tomo"] == len(stored)
    assert second.computed["tomo"] == n_slabs - len(stored)
    _only_small_arguments(first, ("tomo-align", "tomo"))
    assert second.computed["fit"] >= 4  # two passes over >= 2 blocks
    np.testing.assert_array_equal(got.stacks["volumes"].data, inproc3d.stacks["volumes"].data)
    # in-process fit of the same volumes in the same 2 000-spectrum chunks
    from ptyxanes.pipeline import load_references
    from ptyxanes.stages import FitParams
    from ptyxanes.xanes import calibrate_references

    vols = inproc3d.stacks["volumes"]
    fp = FitParams.from_flat(PARAMS_3D.fit)  # the pipeline's defaults (mask "auto")
    cal = calibrate_references(load_references(()), energy=np.asarray(vols.energy),
                               options=fp.options)
    res = run_sync(fit_stack(vols, options=fp.options, calibration=cal, chunk_spectra=2000,
                             threshold=fp.threshold))
    want = result_maps(res, float(np.mean(vols.pixel_size)))
    for k, m in want.items():
        np.testing.assert_array_equal(m.data, got.maps[k].data, err_msg=k)


@pytest.mark.slow
def test_fit_cli_on_workers_equals_in_process(client, inproc3d, tmp_path):
    """`ptyxanes fit --scheduler`: blocks of 2 000 voxels on the workers, maps identical."""
    from ptyxanes.io.nexus import write_stack

    vols = write_stack(tmp_path / "volumes.h5", inproc3d.stacks["volumes"])
    common = ["fit", str(vols), "-q", "--chunk", "2000"]
    assert main([*common, "-o", str(tmp_path / "a.h5")]) == 0
    assert main([*common, "-o", str(tmp_path / "b.h5"), "--scheduler", client.scheduler.address,
                 "--checkpoint", str(tmp_path / "ck")]) == 0
    a, b = load_project(tmp_path / "a.h5", lazy=False), load_project(tmp_path / "b.h5", lazy=False)
    assert set(a.maps) == set(b.maps) and np.isfinite(a.maps["oxidation_state"].data).sum() > 100
    for k in a.maps:
        np.testing.assert_array_equal(a.maps[k].data, b.maps[k].data, err_msg=k)
    n_blocks = sum(k.startswith("fit-") for k in CheckpointStore(tmp_path / "ck").keys())
    assert n_blocks >= 2


@pytest.mark.slow
def test_tomo_cli_on_workers_equals_in_process(client, twin3d, tmp_path, capsys):
    """`ptyxanes tomo --scheduler`: alignment per energy, SIRT per slab; all outputs identical."""
    import h5py

    common = ["tomo", str(twin3d.outdir / "stack.nxs"), "-q", "--iterations", "10",
              "--align-rounds", "1"]
    assert main([*common, "-o", str(tmp_path / "a.h5")]) == 0
    axis_a = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("rotation axis")]
    assert main([*common, "-o", str(tmp_path / "b.h5"), "--scheduler",
                 client.scheduler.address]) == 0
    axis_b = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("rotation axis")]
    assert len(axis_a) == 1 and axis_a == axis_b  # every energy's centre, as in-process
    with h5py.File(tmp_path / "a.h5") as fa, h5py.File(tmp_path / "b.h5") as fb:
        for name in ("entry/data/data", "entry/tilt_alignment/shifts",
                     "entry/tilt_alignment/center", "entry/registration/shifts"):
            assert name in fa, name
            np.testing.assert_array_equal(fa[name][()], fb[name][()], err_msg=name)
        assert np.asarray(fa["entry/data/data"]).max() > 0
