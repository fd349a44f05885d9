"""`ptyxanes reconstruct` and `ptyxanes align` on 2 local Dask workers equal the in-process runs."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ptyxanes.cli import main
from ptyxanes.distributed import CheckpointStore


def _same_datasets(a, b) -> int:
    """Assert every dataset of two HDF5 files bit-identical (but dates and timings)."""
    names: list[str] = []
    with h5py.File(a) as fa, h5py.File(b) as fb:
        fa.visit(lambda n: names.append(n) if isinstance(fa[n], h5py.Dataset) else None)
        assert names
        for n in names:
            if n.rsplit("/", 1)[-1] in ("date", "seconds"):
                continue
            assert n in fb, n
            np.testing.assert_array_equal(fa[n][()], fb[n][()], err_msg=n)
    return len(names)


@pytest.mark.slow
def test_reconstruct_and_align_cli_on_workers_equal_in_process(client, twin2d, tmp_path):
    """One task per scan, then one per energy (shift, residual, shifted image).

    Four of the twin's scans (one iteration, a given probe): the comparison is
    between two paths, the 2D pipeline test covers all 18 scans.
    """
    scans = tmp_path / "scans"
    scans.mkdir()
    for f in sorted(twin2d.outdir.glob("*.cxi"))[6:10]:
        (scans / f.name).symlink_to(f)
    rec = ["reconstruct", str(scans), "-q", "--iterations", "1", "--spot", "2e-6"]
    assert main([*rec, "-o", str(tmp_path / "a.nxs")]) == 0
    assert main([*rec, "-o", str(tmp_path / "b.nxs"), "--scheduler",
                 client.scheduler.address, "--checkpoint", str(tmp_path / "ck")]) == 0
    assert _same_datasets(tmp_path / "a.nxs", tmp_path / "b.nxs") > 4  # stack, every probe
    keys = CheckpointStore(tmp_path / "ck").keys()
    assert sum(k.startswith("reconstruct-") for k in keys) == 4
    with h5py.File(tmp_path / "a.nxs") as f:
        assert np.abs(f["entry/data/data"][()]).std() > 0.01  # an image, not a constant

    for mode in ([], ["--chain", "--method", "spline"]):
        al = ["align", str(tmp_path / "a.nxs"), "-q", "--pixel-size", "100e-9", *mode]
        assert main([*al, "-o", str(tmp_path / "al_a.nxs"), "--overwrite"]) == 0
        assert main([*al, "-o", str(tmp_path / "al_b.nxs"), "--overwrite", "--scheduler",
                     client.scheduler.address]) == 0
        _same_datasets(tmp_path / "al_a.nxs", tmp_path / "al_b.nxs")
        with h5py.File(tmp_path / "al_b.nxs") as f:
            assert f["entry/registration/shifts"].shape == (4, 2)
            assert np.abs(f["entry/registration/shifts"][()]).max() > 0  # registered
            assert np.all(f["entry/registration/residual"][()] < 1)
