"""The real ALS Fe L-edge STXM stack: the default fit against an independent per-pixel LCF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptyxanes.io.spectra import Spectrum
from ptyxanes.xanes import FitOptions, Status, calibrate_references, fit_spectra, fit_spectrum

STACK = (Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
         / "stxm_fe_L_edge_als_stack")


@pytest.fixture(scope="module")
def stxm():
    """OD = -ln(I / I0) of the aligned stack (M, N, E), energies, the two end-members."""
    d = STACK / "71214078_aligned"
    energy = np.loadtxt(STACK / "Energy.txt")
    images = np.stack([np.array((d / f"71214078_a{i:03d}.xim").read_text().split(), float)
                       .reshape(125, 125) for i in range(energy.size)])
    i0 = np.loadtxt(d / "i0.xsp")
    assert np.allclose(i0[:, 0], energy, atol=1e-3)
    od = np.moveaxis(-np.log(images / i0[:, 1][:, None, None]), 0, -1)
    red = np.loadtxt(d / "reduced.r")[:, 1]  # Fe2+
    ox = np.loadtxt(d / "oxidized.r")[:, 1]  # Fe3+
    return energy, od, red, ox


def _independent_lcf(energy, od, red, ox):
    """Per-pixel least squares OD = a red + b ox + c + d E; valence (2a + 3b) / (a + b)."""
    x = np.stack([red, ox, np.ones_like(energy), energy - energy.mean()], 1)
    coef, *_ = np.linalg.lstsq(x, od.reshape(-1, energy.size).T, rcond=None)
    tot = coef[0] + coef[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (2 * coef[0] + 3 * coef[1]) / tot
    return v.reshape(od.shape[:2]), tot.reshape(od.shape[:2])


@pytest.mark.slow
def test_default_fit_follows_fe2_and_fe3(stxm) -> None:
    energy, od, red, ox = stxm
    opts = FitOptions.for_edge("Fe-L3")
    refs = [Spectrum(energy, red, "reduced (Fe2+)", 2.0), Spectrum(energy, ox, "oxidized (Fe3+)", 3.0)]
    cal = calibrate_references(refs, energy=energy, options=opts)
    r = fit_spectra(energy, od, options=opts, calibration=cal)  # default method and mask
    # the shared shape cannot follow Fe2+ and Fe3+ at once: auto switches to the references
    assert r.options.method == "lcf", r.info
    assert r.info["structure_ratio"] > 20
    v_ind, tot = _independent_lcf(energy, od, red, ox)
    # a clear Fe edge: at least 30 % of the end-member's Fe amount in the pixel
    clear = tot > 0.3
    assert clear.sum() > 1500
    fitted = clear & (r.status == Status.OK)
    frac = fitted.mean() / clear.mean()
    rr = np.corrcoef(r.valence[fitted], v_ind[fitted])[0, 1]
    diff = float(np.mean(r.valence[fitted] - v_ind[fitted]))
    assert frac >= 0.90, frac
    assert rr >= 0.95, rr
    assert abs(diff) <= 0.05, diff
    # the Fe2+ particle is in the map as in the independent fit
    ind_red = np.mean(v_ind[fitted] < 2.4)
    assert ind_red > 0.1
    assert abs(np.mean(r.valence[fitted] < 2.4) - ind_red) < 0.05
    # empty pixels are not sample
    empty = tot < 0.02
    assert np.mean(r.mask[empty]) < 0.05


def test_references_are_fitted_not_spikes(stxm) -> None:
    """The sharp Fe L3 white lines are real: no reference or averaged spectrum is a SPIKE."""
    energy, od, red, ox = stxm
    opts = FitOptions.for_edge("Fe-L3", method="halfheight", shape="free")
    for ref in (red, ox):
        f = fit_spectrum(energy, ref, options=opts)
        assert f.status != Status.SPIKE
    # the area normalisation: references have mean 1 over the L3 + L2 window
    w = (energy >= opts.window[0]) & (energy <= opts.window[1])
    f = fit_spectrum(energy, ox, options=opts)
    assert abs(float(np.mean(f.mu_norm[w])) - 1.0) < 1e-9
    # the continuum step above L2 is tiny against the L3 white line (why "area" is used)
    pre = energy <= opts.pre_edge[1]
    post = energy >= opts.post_edge[0]
    step = ox[post].mean() - ox[pre].mean()
    assert step < 0.05 * (ox.max() - ox[pre].mean())


def test_cli_fits_the_fe_l_edge(stxm, tmp_path, capsys) -> None:
    """``ptyxanes fit --edge Fe-L3`` on a crop holding both phases, with the two end-members."""
    import h5py

    from ptyxanes.cli import main
    from ptyxanes.io.nexus import write_stack
    from ptyxanes.io.stack import ImageStack

    energy, od, red, ox = stxm
    v_ind, tot = _independent_lcf(energy, od, red, ox)
    rows, cols = np.nonzero(tot > 0.3)
    # a 40 x 40 crop around the Fe-bearing pixels (both phases)
    r0 = int(np.clip(np.median(rows) - 20, 0, od.shape[0] - 40))
    c0 = int(np.clip(np.median(cols) - 20, 0, od.shape[1] - 40))
    crop = od[r0:r0 + 40, c0:c0 + 40]
    p = tmp_path / "stxm.h5"
    write_stack(p, ImageStack(np.moveaxis(crop, -1, 0).astype(np.float32), energy,
                              np.full(energy.size, 8e-8), kind="absorption"))
    out = tmp_path / "fit.h5"
    d = STACK / "71214078_aligned"
    assert main(["fit", str(p), "-o", str(out), "-q", "--edge", "Fe-L3",
                 "--ref", f"2:{d / 'reduced.r'}", "--ref", f"3:{d / 'oxidized.r'}"]) == 0
    text = capsys.readouterr().out
    assert "Fe-L3 edge at 706.8 eV" in text and "Fe valence mean" in text
    assert "method: lcf" in text
    assert "np.float64" not in text
    with h5py.File(out) as f:
        val = f["/entry/oxidation_state/data"][()]
    sub = v_ind[r0:r0 + 40, c0:c0 + 40]
    clear = tot[r0:r0 + 40, c0:c0 + 40] > 0.3
    ok = clear & np.isfinite(val)
    assert ok.sum() >= 0.9 * clear.sum()
    assert np.corrcoef(val[ok], sub[ok])[0, 1] > 0.95


def test_single_spectrum_lcf_matches_the_map(stxm) -> None:
    """The inspector's fit_spectrum gives an lcf pixel the map's valence."""
    energy, od, red, ox = stxm
    opts = FitOptions.for_edge("Fe-L3", method="lcf")
    refs = [Spectrum(energy, red, "Fe2+", 2.0), Spectrum(energy, ox, "Fe3+", 3.0)]
    cal = calibrate_references(refs, energy=energy, options=opts)
    crop = od[40:50, 40:50]
    r = fit_spectra(energy, crop, options=opts, calibration=cal)
    rows, cols = np.nonzero(r.status == Status.OK)
    assert rows.size > 10
    for i, j in zip(rows[:5], cols[:5], strict=True):
        f = fit_spectrum(energy, crop[i, j], options=opts, calibration=cal)
        assert f.method == "lcf" and f.status == Status.OK
        assert abs(f.valence - r.valence[i, j]) < 1e-4
        assert f.components.shape == (2, f.fit_energy.size)
