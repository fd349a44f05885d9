"""Fixtures: one local Dask cluster (2 worker processes on 127.0.0.1) and the tiny twins."""

from __future__ import annotations

import pytest
from _compare import PARAMS_3D

from ptyxanes.distributed import ComputeBackend
from ptyxanes.pipeline import run_pipeline
from ptyxanes.progress import run_sync
from ptyxanes.simulate.twin import run as simulate


@pytest.fixture(scope="session")
def client():
    """A LocalCluster of 2 single-threaded worker processes (local addresses only)."""
    with ComputeBackend(workers=2, memory_limit="2GiB").connect() as c:
        c.wait_for_workers(2, timeout=120)
        yield c


@pytest.fixture(scope="session")
def twin3d(tmp_path_factory):
    return simulate("3d", "tiny", 200, "stack", tmp_path_factory.mktemp("d3") / "twin", seed=4)


@pytest.fixture(scope="session")
def twin2d(tmp_path_factory):
    """The tiny 2D twin as CXI scans (18 energies)."""
    return simulate("2d", "tiny", 200, "cxi", tmp_path_factory.mktemp("d2") / "twin", seed=3)


@pytest.fixture(scope="session")
def inproc3d(twin3d, tmp_path_factory):
    """The in-process 3D pipeline's project (the reference every distributed run must equal)."""
    out = tmp_path_factory.mktemp("ref3") / "ref.h5"
    return run_sync(run_pipeline("3d", twin3d.outdir / "stack.nxs", out, PARAMS_3D))
