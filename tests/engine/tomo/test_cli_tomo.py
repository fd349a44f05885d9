"""``ptyxanes tomo`` end to end on a two-energy synthetic tilt series."""

from __future__ import annotations

import h5py
import numpy as np

from ptyxanes.cli import main
from ptyxanes.io.nexus import read_stack, write_stack
from ptyxanes.io.stack import ImageStack

from .conftest import phantom, rotate_project


def test_tomo_cli_absorption_volumes(tmp_path):
    vol = phantom(n=32, m=8, seed=4) * 0.05  # attenuation per voxel
    ang = np.linspace(0, 180, 40, endpoint=False)
    p = rotate_project(vol, ang)
    # two energies: the second more absorbing; complex (amplitude) transmission as a
    # ptychography output, |T|^2 = exp(-integral of mu)
    t = np.stack([np.exp(-p / 2), np.exp(-p)]).astype(np.complex64)
    pixel = 40e-9
    src = tmp_path / "tilt.h5"
    write_stack(
        src, ImageStack(t, np.array([8300.0, 8400.0]), np.full(2, pixel), kind="complex", angle=ang)
    )
    out = tmp_path / "vol.h5"
    code = main(
        ["tomo", str(src), "-o", str(out), "--iterations", "60", "--align-rounds", "3", "-q"]
    )
    assert code == 0
    st = read_stack(out, lazy=False)
    assert st.kind == "absorption" and st.data.shape[0] == 2 and st.data.ndim == 4
    mu = np.asarray(st.data)
    # linear attenuation coefficient: truth 0.05/voxel / 40 nm in the balls
    inside = vol > 0.8 * vol.max()
    assert (
        abs(
            mu[0][inside[: mu.shape[1], : mu.shape[2], : mu.shape[3]]].mean()
            * pixel
            / vol[inside].mean()
            - 1
        )
        < 0.25
    )
    assert abs(mu[1].sum() / mu[0].sum() - 2) < 0.1
    with h5py.File(out, "r") as f:
        assert f["entry/registration/shifts"].shape == (2, 3)
        assert f["entry/tilt_alignment/shifts"].shape == (2, 40, 2)
