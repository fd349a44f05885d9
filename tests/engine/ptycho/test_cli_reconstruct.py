"""``ptyxanes reconstruct`` on a tiny twin series (2D and 3D folders)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ptyxanes.cli import main
from ptyxanes.progress import run_sync
from ptyxanes.simulate import ptycho as sp
from ptyxanes.simulate.sample import make_sample


@pytest.mark.slow
def test_cli_2d_and_3d(tmp_path, capsys):
    sample = make_sample("tiny", 0)
    geo = sp.with_geometry("tiny", step=(0.8e-6, 0.8e-6))
    run_sync(
        sp.simulate_cxi_series(
            sample, [8330.0, 8350.0], tmp_path / "s2", geometry=geo, rng=np.random.default_rng(0)
        )
    )
    out = tmp_path / "stack.h5"
    assert (
        main(
            [
                "reconstruct",
                str(tmp_path / "s2"),
                "-o",
                str(out),
                "--iterations",
                "5",
                "--modes",
                "2",
                "-q",
            ]
        )
        == 0
    )
    with h5py.File(out) as f:
        assert f["entry/data/data"].shape[0] == 2
        assert f["entry/ptycho/scan_0000/probe"].shape[0] == 2
        assert f["entry/ptycho/scan_0000/errors"].shape == (5,)
        assert f["entry/data/energy"][()].tolist() == [8330.0, 8350.0]
    # existing output without --overwrite: one-line error, file untouched
    assert main(["reconstruct", str(tmp_path / "s2"), "-o", str(out), "-q"]) == 1
    assert "exists" in capsys.readouterr().err
    # 3D folder: (energy, angle, row, col)
    run_sync(
        sp.simulate_cxi_series(
            sample,
            [8330.0, 8350.0],
            tmp_path / "s3",
            geometry=geo,
            angles=[0.0, 30.0],
            rng=np.random.default_rng(1),
        )
    )
    out3 = tmp_path / "stack3.h5"
    assert (
        main(
            [
                "reconstruct",
                str(tmp_path / "s3"),
                "-o",
                str(out3),
                "--iterations",
                "3",
                "--algorithm",
                "rpie",
                "-q",
            ]
        )
        == 0
    )
    with h5py.File(out3) as f:
        assert f["entry/data/data"].ndim == 4
        assert f["entry/data/data"].shape[:2] == (2, 2)
        assert f["entry/data/angle"][()].tolist() == [0.0, 30.0]


def test_cli_bad_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["reconstruct", str(tmp_path / "empty"), "-o", str(tmp_path / "o.h5")]) == 1
    assert "no .cxi files" in capsys.readouterr().err
