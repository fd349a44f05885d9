"""Compute backend, checkpoint store, CLI options and the lost-scheduler error."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
from _compare import PARAMS_3D

from ptyxanes.cli import build_parser, main
from ptyxanes.cli._compute import pipeline_runner, wants_cluster
from ptyxanes.distributed import (
    CheckpointStore,
    ComputeBackend,
    RunStats,
    SchedulerLost,
    file_signature,
    run_pipeline_distributed,
    task_hash,
)
from ptyxanes.pipeline import run_pipeline
from ptyxanes.progress import run_sync


def test_backend_choice_and_description():
    assert not ComputeBackend().distributed
    assert ComputeBackend().describe() == "in-process"
    assert ComputeBackend(workers=3, memory_limit="1GiB").describe() == \
        "3 local Dask workers (1 thread, 1GiB each)"
    assert ComputeBackend(scheduler="tcp://127.0.0.1:8786").describe() == \
        "Dask scheduler at tcp://127.0.0.1:8786"
    with pytest.raises(ValueError, match="at least 1"):
        ComputeBackend(workers=0)
    with pytest.raises(ValueError, match="no Dask client"):
        with ComputeBackend().connect():
            pass


def test_checkpoint_store_roundtrip_and_atomic(tmp_path):
    store = CheckpointStore(tmp_path / "ck")
    a = np.arange(12, dtype=np.complex64).reshape(3, 4)
    store.save("tomo-0001-abc", {"volume": a, "shifts": np.ones((2, 2))})
    assert store.has("tomo-0001-abc") and not store.has("tomo-0002-abc")
    got = store.load("tomo-0001-abc")
    np.testing.assert_array_equal(got["volume"], a)
    assert got["volume"].dtype == np.complex64
    assert store.keys() == ["tomo-0001-abc"]
    assert sorted(p.name for p in store.directory.iterdir()) == ["tomo-0001-abc.npz"]


def test_task_hash_follows_parameters_and_input_file(tmp_path):
    f = tmp_path / "scan.cxi"
    f.write_bytes(b"abc")
    h1 = task_hash({"iterations": 10}, file_signature(f))
    assert h1 == task_hash({"iterations": 10}, file_signature(f))
    assert h1 != task_hash({"iterations": 11}, file_signature(f))
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the input changed
    assert h1 != task_hash({"iterations": 10}, file_signature(f))
    assert task_hash(np.zeros(3)) != task_hash(np.ones(3))


def test_cli_compute_options():
    parser, _ = build_parser()
    args = parser.parse_args(["pipeline", "3d", "s.nxs", "-o", "p.h5"])
    assert not wants_cluster(args)
    assert pipeline_runner(args, run_pipeline) is run_pipeline
    args = parser.parse_args(["pipeline", "3d", "s.nxs", "-o", "p.h5", "--workers", "2",
                              "--checkpoint", "ck"])
    assert wants_cluster(args) and args.workers == 2 and args.checkpoint == "ck"
    assert pipeline_runner(args, run_pipeline) is not run_pipeline


def test_cli_from_with_workers_is_a_one_line_error(tmp_path, capsys):
    code = main(["pipeline", "2d", str(tmp_path), "-o", str(tmp_path / "p.h5"), "--from", "fit",
                 "--workers", "2", "-q"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--from" in err[0]


@pytest.mark.slow
def test_lost_scheduler_names_the_checkpoint(twin3d, tmp_path):
    """The scheduler goes away mid-run: SchedulerLost says where to resume from."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           protocol="tcp://", host="127.0.0.1", dashboard_address=":0")
    client = Client(cluster)
    ckpt = tmp_path / "ckpt"

    def stop_scheduler(p):
        if p.stage == "tomo":
            cluster.sync(cluster.scheduler.close)

    try:
        with pytest.raises(SchedulerLost) as info:
            run_sync(run_pipeline_distributed("3d", twin3d.outdir / "stack.nxs",
                                              tmp_path / "p.h5", PARAMS_3D, client=client,
                                              checkpoint=ckpt, stats=RunStats()),
                     stop_scheduler)
        assert str(ckpt) in str(info.value) and "resume" in str(info.value)
        assert not (tmp_path / "p.h5").exists()
    finally:
        client.close()
        with contextlib.suppress(Exception):  # its worker thread may still be in a SIRT
            cluster.close(timeout=2)


def test_slab_bounds_cover_every_row_once_in_slabs_of_at_least_four():
    """SIRT slabs: contiguous, disjoint, all rows; >= MIN_SLAB_ROWS rows (one slab if fewer)."""
    from ptyxanes.distributed.runner import MIN_SLAB_ROWS, slab_bounds

    for rows in (1, 3, 4, 7, 8, 26, 100, 375):
        for want in (1, 4, 5, 16, 1000):
            slabs = slab_bounds(rows, want)
            assert slabs[0][0] == 0 and slabs[-1][1] == rows
            assert all(a[1] == b[0] for a, b in zip(slabs[:-1], slabs[1:], strict=True))
            sizes = [b - a for a, b in slabs]
            assert min(sizes) >= min(rows, MIN_SLAB_ROWS)
            assert max(sizes) <= max(want, MIN_SLAB_ROWS) + 1 or len(slabs) == 1
    assert len(slab_bounds(375, 16)) == 24
    with pytest.raises(ValueError, match="slab_rows"):
        slab_bounds(10, 0)


def test_fbp_started_slabs_equal_the_rows_of_the_whole_energy(twin3d, monkeypatch):
    """``algorithm="auto"`` on wide slices (SIRT from the FBP): the alignment task and the
    slab tasks, joined, equal the in-process reconstruction of the energy bit for bit."""
    from ptyxanes.distributed import tasks
    from ptyxanes.distributed.runner import slab_bounds
    from ptyxanes.io.nexus import read_stack
    from ptyxanes.progress import run_sync
    from ptyxanes.tomo import auto_sirt, energy_line_integrals, reconstruct_energy
    from ptyxanes.tomo import series as tomo_series

    path = twin3d.outdir / "stack.nxs"
    stack = read_stack(path)
    pixel = float(np.asarray(stack.pixel_size).ravel()[0])
    proj = energy_line_integrals(np.asarray(stack.data[0]), stack.kind, pixel, None)
    angles = np.asarray(stack.angle, dtype=float)
    # a small work budget makes this tiny series "wide": FBP, then a few SIRT iterations
    monkeypatch.setattr(tomo_series, "SIRT_WORK_BUDGET", 20 * float(np.prod(proj.shape)) * proj.shape[2])
    from_fbp, its = auto_sirt(proj.shape, 40)
    assert from_fbp and its < 40
    whole = run_sync(reconstruct_energy(proj, angles, algorithm="auto", iterations=40,
                                        align=False))
    assert whole.method == f"FBP + SIRT {its}"
    prep = tasks.tomo_align("t", str(path), 0, pixel, None, {"align": False})
    assert tuple(prep["shape"]) == proj.shape
    slabs = [tasks.tomo_slab("t", str(path), 0, pixel, None, rows, None,
                             float(prep["sirt_center"]), its, True)["volume"]
             for rows in slab_bounds(proj.shape[1], 4)]
    assert len(slabs) >= 2
    np.testing.assert_array_equal(np.concatenate(slabs, axis=1), whole.volume)
