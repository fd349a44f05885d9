"""Make docs/images/tomo_tooth.png: the real TomoPy tooth reconstructed by `ptyxanes tomo`.

Run (from the repository root):

    .venv/bin/python docs/images/make_tooth_figure.py [--volume TOOTH_VOL.h5]

``--volume`` takes the output of ``ptyxanes tomo ../shared/data/tomo_tomopy_tooth/tooth.h5
-o TOOTH_VOL.h5`` (defaults: alignment, then ``--algorithm auto``, which on these
640-column slices is SIRT 10 started from the FBP); without it the command is run here.
The slice is compared with an independent filtered back-projection (numpy ramp
filter + linear-interpolation back-projection: the test's own code,
``tests/engine/tomo/independent.py``) at the rotation centre found from the data,
and with that FBP at the detector centre.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ptyxanes.io.dxchange import read_dxchange  # noqa: E402
from ptyxanes.io.nexus import read_stack  # noqa: E402
from ptyxanes.tomo import find_rotation_center  # noqa: E402

HERE = Path(__file__).resolve().parent
TOOTH = HERE.parents[1] / ".." / "shared" / "data" / "tomo_tomopy_tooth" / "tooth.h5"
sys.path.insert(0, str(HERE.parents[1] / "tests" / "engine" / "tomo"))
from independent import independent_fbp  # noqa: E402  (the test's own reference)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--volume", help="output of `ptyxanes tomo tooth.h5` (else run it here)")
    ap.add_argument("--label", default="ptyxanes tomo, defaults (alignment, FBP + SIRT 10)")
    a = ap.parse_args()
    if a.volume is None:
        out = Path(tempfile.mkdtemp()) / "tooth_vol.h5"
        subprocess.run(
            [sys.executable, "-m", "ptyxanes", "tomo", str(TOOTH), "-o", str(out), "-q"], check=True
        )
        a.volume = str(out)
    st = read_dxchange(TOOTH)
    proj = 2 * st.data[0]
    centre = find_rotation_center(proj, st.angle)
    vol = np.asarray(read_stack(a.volume, lazy=False).data[0])
    sl = vol[:, 0, :]
    ref = independent_fbp(proj[:, 0, :], st.angle, centre)
    off = independent_fbp(proj[:, 0, :], st.angle, (proj.shape[2] - 1) / 2)
    r = float(np.corrcoef(sl.ravel(), ref.ravel())[0, 1])
    r_off = float(np.corrcoef(off.ravel(), ref.ravel())[0, 1])
    hi = float(np.percentile(ref, 99.8))
    fig, ax = plt.subplots(1, 4, figsize=(15, 4.2))
    for k, (img, title) in enumerate(
        [
            (sl, f"{a.label}\naxis found at {centre:.1f} px"),
            (ref, f"independent FBP at {centre:.1f} px\ncorrelation with ptyxanes {r:.3f}"),
            (off, f"FBP at the detector centre 319.5 px\ncorrelation {r_off:.3f}: doubled edges"),
        ]
    ):
        ax[k].imshow(img, cmap="gray", vmin=0, vmax=hi if k else float(np.percentile(sl, 99.8)))
        ax[k].set_title(title, fontsize=9)
        ax[k].axis("off")
    row = sl.shape[0] // 2
    ax[3].plot(sl[row] / sl[row].max(), label="ptyxanes", lw=1)
    ax[3].plot(ref[row] / ref[row].max(), label="independent FBP", lw=1, alpha=0.8)
    ax[3].set_title(f"middle row of the slice (plane {row}), normalised", fontsize=9)
    ax[3].set_xlabel("column (px)")
    ax[3].legend(fontsize=8)
    fig.suptitle(
        "TomoPy tooth (APS data exchange, 181 angles × 640 columns, flat/dark normalised): "
        "slice 0 of 2",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(HERE / "tomo_tooth.png", dpi=90)
    print(f"centre {centre:.2f} px, correlation {r:.4f} (detector-centre FBP {r_off:.4f})")  # noqa: T201


if __name__ == "__main__":
    main()
