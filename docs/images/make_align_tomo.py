"""Make the figures of docs/align.md and docs/tomo.md (synthetic data, known truth).

Run:  .venv/bin/python docs/images/make_align_tomo.py
Writes docs/images/align_shifts.png and docs/images/tomo_slice.png.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from ptyxanes.align import register_stack, shift_image  # noqa: E402
from ptyxanes.progress import run_sync  # noqa: E402
from ptyxanes.tomo import align_tilt_series, shift_projections, sirt  # noqa: E402

HERE = Path(__file__).resolve().parent


def particles(shape, rng, n=12):
    rr, cc = np.indices(shape)
    t = np.zeros(shape)
    m = min(shape)
    for _ in range(n):
        r0, c0 = rng.uniform(0.25 * m, 0.75 * m, 2)
        rad = rng.uniform(0.04 * m, 0.1 * m)
        t += np.clip(1 - ((rr - r0) ** 2 + (cc - c0) ** 2) / rad**2, 0, None) ** 0.5
    return ndimage.gaussian_filter(t, 1.0)


def align_figure() -> None:
    rng = np.random.default_rng(3)
    n = 16
    truth = rng.uniform(-3, 3, (n, 2))
    truth[0] = 0
    t = particles((112, 112), rng)
    stack = []
    for e in range(n):
        beta = 0.05 if e < n // 2 else 0.4
        obj = shift_image(np.exp(-beta * t + 1j * 0.8 * t), -truth[e])[8:-8, 8:-8]
        stack.append(
            obj + 0.01 * (rng.standard_normal(obj.shape) + 1j * rng.standard_normal(obj.shape))
        )
    reg = run_sync(register_stack(np.stack(stack), reference=0, channel="phase"))
    after = truth - reg.shifts
    rms = np.sqrt(np.mean(after**2))
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for k, name in enumerate(("row", "col")):
        ax[0].plot(truth[:, k], "o-", label=f"{name} shift before")
        ax[1].plot(after[:, k], "o-", label=f"{name} residual after")
    ax[0].set(xlabel="energy index", ylabel="misalignment (px)", title="before registration")
    ax[1].set(
        xlabel="energy index",
        ylabel="misalignment (px)",
        title=f"after registration (RMS {rms:.3f} px)",
    )
    ax[1].set_ylim(-0.2, 0.2)
    for a in ax:
        a.legend(fontsize=8)
        a.axvline(n // 2 - 0.5, color="0.7", ls=":")
    fig.savefig(HERE / "align_shifts.png", dpi=110)


def tomo_figure() -> None:
    rng = np.random.default_rng(0)
    n, m = 64, 16
    p, r, c = np.indices((n, m, n))
    vol = np.zeros((n, m, n), np.float32)
    for _ in range(10):
        ctr = rng.uniform([0.3 * n, 0.25 * m, 0.3 * n], [0.7 * n, 0.75 * m, 0.7 * n])
        rad = rng.uniform(0.06 * n, 0.14 * n)
        vol += (((p - ctr[0]) ** 2 + (r - ctr[1]) ** 2 + (c - ctr[2]) ** 2) < rad**2) * rng.uniform(
            0.5, 1
        )
    vol = ndimage.gaussian_filter(vol, 0.7).astype(np.float32)
    ang = np.linspace(0, 180, 90, endpoint=False)
    proj = np.stack(
        [ndimage.rotate(vol, -a, axes=(0, 2), reshape=False, order=1).sum(0) for a in ang]
    )
    mis = rng.uniform(-3, 3, (len(ang), 2))
    mis -= mis.mean(0)
    meas = np.stack(
        [ndimage.shift(q, s, order=3, mode="constant") for q, s in zip(proj, mis, strict=True)]
    )
    raw = run_sync(sirt(meas, ang, iterations=200))
    al = run_sync(align_tilt_series(meas, ang, center=(n - 1) / 2))
    rec = run_sync(sirt(shift_projections(meas, al.shifts), ang, iterations=200))
    err = al.shifts + mis
    err -= err.mean(0)
    rms = np.sqrt(np.mean(err**2))
    row = m // 2
    fig, ax = plt.subplots(1, 4, figsize=(13, 3.4), constrained_layout=True)
    vmax = vol[:, row].max()
    for a, img, title in zip(
        ax[:3],
        (vol[:, row], raw[:, row], rec[:, row]),
        ("truth", "SIRT 200, not aligned", "SIRT 200, after joint alignment"),
        strict=True,
    ):
        a.imshow(img, vmin=0, vmax=vmax, cmap="gray")
        a.set(title=title, xticks=[], yticks=[])
    found = al.shifts - al.shifts.mean(0)
    ax[3].plot(-mis[:, 1], found[:, 1], ".", label="col")
    ax[3].plot(-mis[:, 0], found[:, 0], ".", label="row")
    ax[3].plot([-3, 3], [-3, 3], "k-", lw=0.5)
    ax[3].set(
        xlabel="true correction (px)",
        ylabel="found correction (px)",
        title=f"{len(ang)} projections, RMS error {rms:.2f} px",
        aspect="equal",
    )
    ax[3].legend(fontsize=7)
    fig.savefig(HERE / "tomo_slice.png", dpi=110)


if __name__ == "__main__":
    align_figure()
    tomo_figure()
