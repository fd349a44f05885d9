"""``ptyxanes explore`` end to end on a stack of known two-phase mixtures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ptyxanes.cli import main
from ptyxanes.io.nexus import write_stack
from ptyxanes.io.project import load_project
from ptyxanes.io.stack import ImageStack
from ptyxanes.simulate.spectra import normalized_mu
from ptyxanes.simulate.twin import SIZES, write_references

ENERGY = SIZES["tiny"].energies_2d


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory):
    """-ln|T| stack: a disc of 70 % Ni3+ (left) and 20 % Ni3+ (right) on a flat background."""
    d = tmp_path_factory.mktemp("explore")
    yy, xx = np.mgrid[:30, :40]
    inside = (yy - 15) ** 2 + (xx - 20) ** 2 < 12**2
    f3 = np.where(xx < 20, 0.7, 0.2)
    r2, r3 = normalized_mu(ENERGY, 2.0), normalized_mu(ENERGY, 3.0)
    mu = (1 - f3)[..., None] * r2 + f3[..., None] * r3
    rng = np.random.default_rng(1)
    absorb = 0.05 + inside[..., None] * 0.8 * mu + 0.005 * rng.standard_normal(mu.shape)
    stack = ImageStack(np.moveaxis(absorb, -1, 0).astype(np.float32), ENERGY,
                       np.full(ENERGY.size, 100e-9), kind="absorption")
    write_stack(d / "stack.nxs", stack)
    refs = write_references(d / "references")
    return d, inside, f3, refs


@pytest.mark.slow
def test_explore_cli_writes_maps_and_figure(stack_file, capsys):
    d, inside, f3, _ = stack_file
    out = d / "ex.h5"
    refs = d / "references"
    code = main(["explore", str(d / "stack.nxs"), "-o", str(out), "--pca", "3", "--clusters",
                 "2", "--ref", str(refs / "Ni2_NiO.xdi"), "--ref", str(refs / "Ni3_LiNiO2.xdi"),
                 "-q"])
    assert code == 0
    msg = capsys.readouterr().out
    assert "PCA variance" in msg and "mean fractions" in msg
    pr = load_project(out, lazy=False)
    assert {"pca_score_1", "pca_score_3", "fraction_Ni2_NiO", "fraction_Ni3_LiNiO2",
            "lcf_residual", "edge_jump"} <= set(pr.maps)
    frac3 = pr.maps["fraction_Ni3_LiNiO2"].data
    m = np.isfinite(frac3)
    assert m.sum() > 0.9 * inside.sum() and not m[~inside].any()
    assert np.abs(frac3[m] - f3[m]).mean() < 0.05
    labels = pr.labels["clusters"]
    left = labels[inside & (np.arange(40) < 18)[None, :]]
    right = labels[inside & (np.arange(40) > 21)[None, :]]
    assert np.bincount(left).argmax() != np.bincount(right).argmax()
    assert set(pr.tables["pca_variance"]) >= {"explained_variance_ratio"}
    with Image.open(d / "ex.png") as im:
        assert im.size[0] > 500


def test_explore_cli_errors(stack_file, capsys):
    d, *_ = stack_file
    assert main(["explore", str(d / "stack.nxs"), "-o", str(d / "x.h5"), "--pca", "0"]) == 1
    assert "nothing to do" in capsys.readouterr().err
    assert main(["explore", str(d / "stack.nxs"), "-o", str(d / "x.h5"), "--pca", "0",
                 "--clusters", "2"]) == 1
    assert "--clusters works on the PCA scores" in capsys.readouterr().err
    assert not (d / "x.h5").exists()


@pytest.mark.slow
def test_explore_real_fe_l_edge_stack_separates_the_fe2_particle(tmp_path):
    """Real ALS STXM Fe L-edge stack: k-means on the PCA scores finds the Fe2+ particle.

    The cluster whose mean L3 spectrum peaks at the lower energy (Fe2+: ~708 eV; Fe3+:
    ~710 eV) must be the one the reference fractions call reduced, and vice versa.
    """
    from pathlib import Path

    stack = (Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
             / "stxm_fe_L_edge_als_stack" / "71214078_aligned")
    if not stack.is_dir():
        pytest.skip(f"real STXM stack not found at {stack}")
    out = tmp_path / "fe.h5"
    assert main(["explore", str(stack), "-o", str(out), "-q", "--edge", "Fe-L3", "--pca", "3",
                 "--clusters", "2", "--ref", str(stack / "reduced.r"),
                 "--ref", str(stack / "oxidized.r")]) == 0
    p = load_project(out)
    clusters = np.asarray(p.labels["clusters"])
    e = np.asarray(p.tables["cluster_spectra"]["energy"])
    l3 = (e > 705) & (e < 712)
    peaks = [e[l3][np.argmax(np.asarray(p.tables["cluster_spectra"][f"cluster{k}"])[l3])]
             for k in (1, 2)]
    reduced = np.asarray(p.maps["fraction_reduced"].data)
    mean_red = [float(np.nanmean(reduced[clusters == k])) for k in (1, 2)]
    low, high = int(np.argmin(peaks)), int(np.argmax(peaks))
    assert peaks[high] - peaks[low] > 1.0  # eV
    assert mean_red[low] > 0.5 > mean_red[high]
