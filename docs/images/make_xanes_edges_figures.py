"""Make the edge / method-choice figure of docs/xanes.md (run from the repository root).

    PYTHONPATH=src python docs/images/make_xanes_edges_figures.py

Writes docs/images/xanes_stxm_fe.png from the real ALS Fe L-edge STXM stack in
../shared/data/stxm_fe_L_edge_als_stack: (a) the Fe2+ / Fe3+ end-members on the
L2,3 "area" normalisation with the windows, (b) the default fit's valence map,
(c) default vs an independent per-pixel least-squares LCF.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ptyxanes.io.spectra import Spectrum  # noqa: E402
from ptyxanes.xanes import FitOptions, Status, calibrate_references, fit_spectra  # noqa: E402
from ptyxanes.xanes.normalize import normalize  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / ".." / "shared" / "data" / "stxm_fe_L_edge_als_stack"
OUT = ROOT / "docs" / "images"


def main() -> None:
    """Compute and save the figure."""
    d = STACK / "71214078_aligned"
    e = np.loadtxt(STACK / "Energy.txt")
    img = np.stack([np.array((d / f"71214078_a{i:03d}.xim").read_text().split(), float)
                    .reshape(125, 125) for i in range(e.size)])
    i0 = np.loadtxt(d / "i0.xsp")[:, 1]
    od = np.moveaxis(-np.log(img / i0[:, None, None]), 0, -1)
    red = np.loadtxt(d / "reduced.r")[:, 1]
    ox = np.loadtxt(d / "oxidized.r")[:, 1]
    opts = FitOptions.for_edge("Fe-L3")
    cal = calibrate_references([Spectrum(e, red, "Fe2+", 2.0), Spectrum(e, ox, "Fe3+", 3.0)],
                               energy=e, options=opts)
    r = fit_spectra(e, od, options=opts, calibration=cal)
    x = np.stack([red, ox, np.ones_like(e), e - e.mean()], 1)
    coef, *_ = np.linalg.lstsq(x, od.reshape(-1, e.size).T, rcond=None)
    tot = (coef[0] + coef[1]).reshape(od.shape[:2])
    with np.errstate(invalid="ignore", divide="ignore"):
        v_ind = ((2 * coef[0] + 3 * coef[1]) / (coef[0] + coef[1])).reshape(od.shape[:2])
    clear = tot > 0.3
    ok = clear & (r.status == Status.OK)
    rr = np.corrcoef(r.valence[ok], v_ind[ok])[0, 1]

    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    n = normalize(e, np.stack([red, ox]), **opts.norm_kwargs)
    for y, lab, c in ((n.mu[0], "Fe²⁺ (reduced)", "tab:blue"), (n.mu[1], "Fe³⁺ (oxidised)", "tab:red")):
        ax[0].plot(e, y, color=c, label=lab)
    for (lo, hi), c in ((opts.pre_edge, "0.85"), (opts.post_edge, "0.85")):
        ax[0].axvspan(max(lo, e[0]), min(hi, e[-1]), color=c, zorder=0)
    ax[0].axvline(opts.window[0], ls=":", c="k")
    ax[0].set_xlabel("energy (eV)")
    ax[0].set_ylabel("normalised OD (mean 1 over L3 + L2)")
    ax[0].set_title("Fe L2,3 end-members, area normalisation")
    ax[0].legend(fontsize=8)
    im = ax[1].imshow(np.where(r.mask, r.valence, np.nan), vmin=2, vmax=3, cmap="coolwarm")
    fig.colorbar(im, ax=ax[1], label=opts.edge_spec.valence_label)
    ax[1].set_title(f"default fit: {r.info['method']} ({100 * ok.sum() / clear.sum():.0f} % of "
                    "Fe pixels)")
    ax[1].set_axis_off()
    ax[2].plot(v_ind[ok], r.valence[ok], ".", ms=2, alpha=0.4)
    ax[2].plot([1.5, 3.5], [1.5, 3.5], "k--", lw=0.8)
    ax[2].set_xlim(1.5, 3.5)
    ax[2].set_ylim(1.5, 3.5)
    ax[2].set_xlabel("independent per-pixel LCF (Fe valence)")
    ax[2].set_ylabel("default fit (Fe valence)")
    ax[2].set_title(f"r = {rr:.3f}, mean difference "
                    f"{float(np.mean(r.valence[ok] - v_ind[ok])):+.3f}")
    fig.tight_layout()
    fig.savefig(OUT / "xanes_stxm_fe.png", dpi=110)


if __name__ == "__main__":
    main()
