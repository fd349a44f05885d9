"""Make the real-data figure of docs/ptycho.md: the Siemens star with no probe supplied.

Run:  PYTHONPATH=src .venv/bin/python docs/images/make_ptycho_star_figure.py
Reads ../shared/data/ptycho_tike_velociprobe_siemens_star (patterns as stored,
FFT-shifted), estimates the probe from the patterns, reconstructs with the
defaults (rPIE, 20 iterations) and writes docs/images/ptycho_star.png (phase,
probe amplitude, the spot-size trials, Fourier error per iteration).
"""

from __future__ import annotations

import bz2
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ptyxanes.progress import run_sync  # noqa: E402
from ptyxanes.ptycho import PtychoParams, reconstruct  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = (
    HERE.parents[2]
    / "shared"
    / "data"
    / "ptycho_tike_velociprobe_siemens_star"
    / "siemens-star-small.npz.bz2"
)


def main() -> None:
    with bz2.open(DATA) as f:
        a = np.load(f)
        data, scan = a["data"][0], a["scan"][0]
    corners = scan - scan.min(axis=0) + 2
    res = run_sync(reconstruct(data, corners, params=PtychoParams(iterations=20)))
    well = res.illumination > 0.3 * res.illumination.max()
    phase = np.angle(res.object * np.exp(-1j * np.angle(res.object[well].mean())))
    fig, ax = plt.subplots(1, 3, figsize=(13, 4.3))
    rows, cols = np.nonzero(well)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    im = ax[0].imshow(phase[box], cmap="gray")
    fig.colorbar(im, ax=ax[0], label="phase, rad")
    ax[0].set_title("phase, probe from the data", fontsize=10)
    ax[1].imshow(np.abs(res.probe[0]), cmap="magma")
    spot = res.info.get("probe_spot_px", -1)
    ax[1].set_title(f"probe |P| (initial spot {spot:.0f} px)", fontsize=10)
    ax[2].semilogy(np.arange(1, len(res.errors) + 1), res.errors)
    ax[2].set_xlabel("iteration")
    ax[2].set_ylabel("Fourier error")
    ax[2].set_title("rPIE, 516 patterns of 128 x 128", fontsize=10)
    for x in ax[:2]:
        x.set_xticks([])
        x.set_yticks([])
    fig.tight_layout()
    fig.savefig(HERE / "ptycho_star.png", dpi=80)


if __name__ == "__main__":
    main()
