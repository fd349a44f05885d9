"""Make the figure of docs/ptycho.md: a twin fly scan reconstructed with 3 probe modes.

Run:  .venv/bin/python docs/images/make_ptycho_figure.py
Writes docs/images/ptycho_twin.png (object phase and -ln|T| against the truth,
probe modes, Fourier error per iteration).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ptyxanes.progress import run_sync  # noqa: E402
from ptyxanes.ptycho import PtychoParams, reconstruct  # noqa: E402
from ptyxanes.simulate import imaging  # noqa: E402
from ptyxanes.simulate import ptycho as sp  # noqa: E402
from ptyxanes.simulate.sample import make_sample  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    energy = 8350.0
    geo = sp.GEOMETRIES["demo"]  # 128 px window, 2 µm spot, fly scan
    px = sp.object_pixel(energy, geo.window)
    sample = make_sample("tiny", 200)
    t = imaging.transmission_2d(sample, energy, px)
    rng = np.random.default_rng(0)
    pos = sp.scan_for_object((t.shape[0] * px, t.shape[1] * px), geo, rng)
    data, rec, probe0 = sp.simulate_scan(t, energy, px, pos, geo, rng=rng)
    truth, corners = sp.scan_frame(t, np.rint(rec / px), geo.window)
    res = {}
    for k in (1, 3):
        res[k] = run_sync(
            reconstruct(
                data,
                corners,
                probe0,
                obj_shape=truth.shape,
                params=PtychoParams(algorithm="rpie", iterations=60, modes=k),
            )
        )
    r = res[3]
    ill = r.illumination > 0.3 * r.illumination.max()
    o = r.object * np.exp(-1j * np.angle((r.object * np.conj(truth))[ill].mean()))
    sl = np.s_[
        geo.window // 2 - 10 : -geo.window // 2 + 10, geo.window // 2 - 10 : -geo.window // 2 + 10
    ]
    ext = np.array([0, o[sl].shape[1], o[sl].shape[0], 0]) * px * 1e6
    fig, ax = plt.subplots(2, 4, figsize=(15, 7.5))
    for a, img, title in (
        (ax[0, 0], np.angle(truth[sl]), "truth: phase (rad)"),
        (ax[0, 1], np.angle(o[sl]), "rPIE, 3 modes: phase (rad)"),
        (ax[1, 0], -np.log(np.abs(truth[sl])), "truth: -ln|T|"),
        (ax[1, 1], -np.log(np.abs(o[sl]) / np.abs(o[ill]).max()), "rPIE, 3 modes: -ln|T|"),
    ):
        im = a.imshow(img, extent=ext, cmap="gray")
        a.set_title(title)
        a.set_xlabel("µm")
        fig.colorbar(im, ax=a, shrink=0.8)
    pext = np.array([-1, 1, 1, -1]) * geo.window / 2 * px * 1e6
    powers = (np.abs(r.probe) ** 2).sum(axis=(1, 2))
    for i in range(3):
        a = ax[0 if i < 2 else 1, 2 + (i % 2)] if i < 2 else ax[1, 2]
        a.imshow(np.abs(r.probe[i]), extent=pext, cmap="magma")
        a.set_title(f"probe mode {i + 1}: |P| ({100 * powers[i] / powers.sum():.0f} % power)")
        a.set_xlabel("µm")
    a = ax[1, 3]
    for k, style in ((1, "--"), (3, "-")):
        a.semilogy(np.arange(1, len(res[k].errors) + 1), res[k].errors, style, label=f"{k} mode(s)")
    a.set_xlabel("iteration")
    a.set_title("Fourier error (fly scan)")
    a.legend()
    fig.suptitle(
        f"Digital twin, 200 cycles, {energy:.0f} eV: fly scan, {len(corners)} positions, "
        f"128 px patterns, {px * 1e9:.0f} nm pixels"
    )
    fig.tight_layout()
    fig.savefig(HERE / "ptycho_twin.png", dpi=80)


if __name__ == "__main__":
    main()
