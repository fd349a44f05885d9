"""Make the XANES figures of docs/xanes.md (run from the repository root).

    .venv/bin/python docs/images/make_xanes_figures.py

Writes docs/images/xanes_fit.png (one real and one simulated spectrum with the
three-Gaussian fit and the half-height construction) and
docs/images/xanes_calibration.png (edge → valence calibration from the LISA
Ni foil, NiO and LaNiO3 references in ../shared/data).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ptyxanes.io.spectra import read_spectrum  # noqa: E402
from ptyxanes.simulate import spectra as ss  # noqa: E402
from ptyxanes.xanes import FitOptions, calibrate, fit_spectrum  # noqa: E402
from ptyxanes.xanes.calibration import ReferenceEdge  # noqa: E402
from ptyxanes.xanes.edge import direct_half_height  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "ni_kedge_lisa_esrf"
OUT = ROOT / "docs" / "images"
E51 = np.r_[8270.0, 8285.0, 8300.0, np.arange(8325.0, 8371.0), 8400.0, 8420.0]
REAL_OPTS = FitOptions(window=(8320.0, 8360.0), pre_edge=(8200.0, 8300.0),
                       post_edge=(8420.0, 8480.0), step=True)


def _lisa(name: str) -> tuple[np.ndarray, np.ndarray]:
    s = read_spectrum(DATA / name, column="mutrans")
    e, keep = np.unique(np.round(s.energy, 1), return_index=True)
    return e, s.mu[keep]


def _panel(ax, f, title: str, marker: str) -> None:
    sel = (f.energy >= f.fit_energy[0] - 15) & (f.energy <= f.fit_energy[-1] + 15)
    ax.plot(f.energy[sel], f.mu_norm[sel], marker, color="0.2", ms=3, label="data (normalised)")
    ax.plot(f.fit_energy, f.fit_curve, color="C3", lw=2, label="fit")
    names = ["Gaussian 1", "Gaussian 2", "Gaussian 3", "edge step"]
    for k, c in enumerate(f.components):
        ax.plot(f.fit_energy, c, "--", lw=1, label=names[k])
    ax.plot([f.peak_energy], [f.peak_height], "v", color="k", ms=8, label="first main peak")
    ax.axhline(f.level, color="0.5", lw=0.8, ls=":")
    ax.plot([f.edge_energy, f.edge_energy], [0, f.level], color="C0", lw=1.5)
    ax.plot([f.edge_energy], [f.level], "o", color="C0",
            label=f"half height: {f.edge_energy:.2f} ± {f.edge_sigma:.2f} eV")
    ax.set_xlim(f.fit_energy[0] - 12, f.fit_energy[-1] + 10)
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel("normalised absorption")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")


def fit_figure() -> None:
    e, mu = _lisa("NiO_111.xdi")
    real = fit_spectrum(e, mu, options=REAL_OPTS)
    rng = np.random.default_rng(0)
    t = np.exp(-(0.4 + 0.2 * ss.normalized_mu(E51, 2.6))) * (1 + rng.normal(0, 0.002, E51.size))
    sim = fit_spectrum(E51, t, kind="modulus")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    _panel(axes[0], real, f"real: NiO, ESRF BM08 LISA (R² {real.r2:.4f}; 3 Gaussians + step)", ".")
    _panel(axes[1], sim, f"simulated: valence 2.6, 51 energies, 0.2 % noise (R² {sim.r2:.4f})",
           "o")
    fig.tight_layout()
    fig.savefig(OUT / "xanes_fit.png", dpi=110)


def calibration_figure() -> None:
    edges = []
    for name, val, label in (("Ni_foil_111.xdi", 0.0, "Ni foil"), ("NiO_111.xdi", 2.0, "NiO"),
                             ("LaNiO3_Ni_80K_111.xdi", 3.0, "LaNiO3")):
        e, mu = _lisa(name)
        f = fit_spectrum(e, mu, options=REAL_OPTS)
        d = direct_half_height(e, f.mu_norm, window=REAL_OPTS.window)
        edges.append((ReferenceEdge(label, val, f.edge_energy, 0.0, f), d))
    cal = calibrate([r for r, _ in edges])
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(5.5, 5.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    v = np.linspace(-0.3, 3.3, 10)
    ax.plot(v, cal.edge_of(v), color="C3",
            label=f"E = {cal.intercept:.2f} + {cal.slope:.2f} v eV")
    for r, d in edges:
        ax.plot(r.valence, r.edge_energy, "o", color="k")
        ax.plot(r.valence, d, "x", color="C0")
        ax.annotate(r.name, (r.valence, r.edge_energy), textcoords="offset points",
                    xytext=(6, -12), fontsize=8)
    ax.plot([], [], "o", color="k", label="fit half height")
    ax.plot([], [], "x", color="C0", label="direct interpolation")
    ax.set_ylabel("edge energy (eV)")
    ax.legend(fontsize=8)
    ax.set_title("Calibration from real references (LISA, ESRF BM08)", fontsize=10)
    ax2.axhline(0, color="0.5", lw=0.8)
    ax2.plot([r.valence for r, _ in edges], cal.residuals, "o", color="k")
    ax2.set_ylabel("residual (eV)")
    ax2.set_xlabel("Ni valence")
    fig.tight_layout()
    fig.savefig(OUT / "xanes_calibration.png", dpi=110)
    for r, d in edges:
        print(f"{r.name:7s} v={r.valence:.0f} fit {r.edge_energy:.2f} eV, direct {d:.2f} eV")  # noqa: T201
    print(f"calibration E = {cal.intercept:.3f} + {cal.slope:.3f} v; residuals "  # noqa: T201
          f"{np.round(cal.residuals, 3).tolist()} eV; sigma(a,b) "
          f"{np.sqrt(np.diag(cal.covariance)).round(3).tolist()}")


if __name__ == "__main__":
    fit_figure()
    calibration_figure()
