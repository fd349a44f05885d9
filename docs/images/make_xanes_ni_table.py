"""Print the table of real Ni spectra against the PyXAS references in docs/xanes.md, 0.2.1.

    PYTHONPATH=src python docs/images/make_xanes_ni_table.py

Every Ni spectrum of ../shared/data (LISA, XAS Data Library, NIST X23A2), each on the
tabulated energy scale from its own foil channel, is sampled at the paper's 51
energies, copied 10 times with 0.002 noise in absorption and fitted as pixels of one map
against the shipped PyXAS NiO / LiNiO2 references, whose scale is aligned on the LISA
NiO: by least squares over the window for the shared shape and lcf, by the integral edge
for the integral method, and by least squares with a fitted Gaussian broadening of the
references (resolution_match) for the last column.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ptyxanes.io.spectra import read_spectrum
from ptyxanes.xanes import FitOptions, calibrate_references, fit_spectra
from ptyxanes.xanes.calibration import default_references
from ptyxanes.xanes.energy import (
    align_shift,
    broadened,
    calibrate_reference_energy,
    foil_shift,
    integral_shift,
    resolution_match,
    shifted,
)
from ptyxanes.xanes.normalize import normalize

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
E51 = np.r_[8270.0, 8285.0, 8300.0, np.arange(8325.0, 8371.0), 8400.0, 8420.0]
GRID = np.arange(8270.0, 8420.1, 0.25)


def _on(s, grid):
    e, i = np.unique(np.round(s.energy, 2), return_index=True)
    return np.interp(grid, e, np.asarray(s.mu)[i])


def _norm(s, grid):
    return normalize(grid, _on(s, grid)[None], **FitOptions().norm_kwargs).mu[0]


def spectra() -> dict:
    """The real Ni spectra, each on the tabulated scale from its foil channel."""
    out = {}
    lisa = DATA / "ni_kedge_lisa_esrf"
    for name, f in (("LISA NiO", "NiO_111.xdi"), ("LISA NiFe2O4", "NiFe2O4_Ni_80K_111.xdi"),
                    ("LISA NiCo2O4", "NiCo2O4_Ni_80K_111.xdi"),
                    ("LISA LaNiO3", "LaNiO3_Ni_80K_111.xdi")):
        out[name] = calibrate_reference_energy(read_spectrum(lisa / f, column="mutrans"))[0]
    for f in sorted((DATA / "ni_kedge_xasdatalibrary").glob("Ni[O2]*.xdi")):
        out[f"XASlib {f.stem}"] = calibrate_reference_energy(read_spectrum(f))[0]
    merged = DATA / "nio_athena_nist_x23a2" / "NiO_merged.txt"
    a = np.loadtxt(merged)
    s = read_spectrum(merged, column=1)
    out["NIST NiO merged"] = dataclasses.replace(s, energy=a[:, 0] + foil_shift(a[:, 0],
                                                                                a[:, 2]).shift)
    return out


def main() -> None:
    """Fit them as one map against the aligned PyXAS references and print the table."""
    sp = spectra()
    names = list(sp)
    rng = np.random.default_rng(0)
    t = np.stack([_on(sp[n], E51) for n in names])
    t = np.repeat(t[:, None], 10, 1) + rng.normal(0, 0.002, (len(names), 10, E51.size))
    py = default_references()
    cols = {}
    def matched(*args):
        sig, sh = resolution_match(*args)
        return dataclasses.replace(sh, details={**sh.details, "sigma": sig})

    for label, align, method in (("shared (auto)", align_shift, "auto"),
                                 ("lcf", align_shift, "lcf"),
                                 ("integral", integral_shift, "integral"),
                                 ("lcf, resolution", matched, "lcf")):
        sh = align(GRID, _norm(py[0], GRID), GRID, _norm(sp["LISA NiO"], GRID), (8325.0, 8370.0))
        opts = FitOptions(method=method)
        sig = sh.details.get("sigma", 0.0)
        cal = calibrate_references([shifted(broadened(p, sig), sh) for p in py], energy=E51,
                                   options=opts)
        r = fit_spectra(E51, t, calibration=cal, options=opts, threshold=None)
        with np.errstate(invalid="ignore"):
            cols[f"{label} {sh.shift:+.2f} eV"] = [float(np.nanmean(v)) if np.isfinite(v).any()
                                                   else float("nan") for v in r.valence]
    print(f"{'spectrum':24s}" + "".join(f"{k:>24s}" for k in cols))  # noqa: T201
    for i, n in enumerate(names):
        print(f"{n:24s}" + "".join(f"{cols[k][i]:24.2f}" for k in cols))  # noqa: T201


if __name__ == "__main__":
    main()
