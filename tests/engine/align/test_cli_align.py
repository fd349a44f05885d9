"""``ptyxanes align`` end to end on a synthetic stack with known shifts."""

from __future__ import annotations

import h5py
import numpy as np

from ptyxanes.cli import main
from ptyxanes.io.nexus import read_stack, write_stack
from ptyxanes.io.stack import ImageStack

from .test_registration import _energy_series


def test_align_cli_writes_shifts_and_reapplies(tmp_path):
    rng = np.random.default_rng(11)
    truth = rng.uniform(-3, 3, (5, 2))
    truth[0] = 0
    data = _energy_series(rng, truth, shape=(80, 80)).astype(np.complex64)
    src = tmp_path / "stack.h5"
    write_stack(
        src, ImageStack(data, np.arange(5) * 10 + 8300.0, np.full(5, 40e-9), kind="complex")
    )
    out = tmp_path / "aligned.h5"
    assert main(["align", str(src), "-o", str(out), "-q"]) == 0
    with h5py.File(out, "r") as f:
        shifts = f["entry/registration/shifts"][()]
        assert f["entry/registration/residual"].shape == (5,)
    assert np.sqrt(np.mean((shifts - truth) ** 2)) <= 0.1
    st = read_stack(out, lazy=False)
    assert st.kind == "complex" and st.data.shape[0] == 5 and st.data.shape[1] < 80
    np.testing.assert_allclose(st.pixel_size, 40e-9)
    # hand-edited shifts are re-applied
    edited = tmp_path / "edited.h5"
    with h5py.File(out, "r") as f, h5py.File(edited, "w") as g:
        g.create_dataset(
            "entry/registration/shifts", data=np.zeros_like(f["entry/registration/shifts"][()])
        )
    out2 = tmp_path / "again.h5"
    assert (
        main(
            [
                "align",
                str(src),
                "-o",
                str(out2),
                "--shifts-from",
                str(edited),
                "--method",
                "spline",
                "-q",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(read_stack(out2, lazy=False).data, data, atol=1e-5)
    # rescaled: half the pixel count at twice the pixel size; refuses to overwrite
    out3 = tmp_path / "coarse.h5"
    assert main(["align", str(src), "-o", str(out3), "--pixel-size", "80e-9", "-q"]) == 0
    assert read_stack(out3, lazy=False).data.shape[1] <= 40
    assert main(["align", str(src), "-o", str(out3), "-q"]) == 1
