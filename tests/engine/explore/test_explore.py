"""PCA, k-means and linear-combination maps against known mixtures built on the twin."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.explore import kmeans, linear_combination, normalized_spectra, pca
from ptyxanes.progress import Cancelled, Control, run_sync
from ptyxanes.simulate.sample import make_sample
from ptyxanes.simulate.spectra import normalized_mu
from ptyxanes.simulate.twin import SIZES

ENERGY = SIZES["tiny"].energies_2d


def _ari(a, b) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985), written out independently of the engine."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    n = a.size
    pairs = lambda x: x * (x - 1) / 2.0  # noqa: E731
    cont = np.array([[np.sum((a == i) & (b == j)) for j in np.unique(b)] for i in np.unique(a)],
                    float)
    s_ij = pairs(cont).sum()
    s_a, s_b = pairs(cont.sum(1)).sum(), pairs(cont.sum(0)).sum()
    exp = s_a * s_b / pairs(n)
    return float((s_ij - exp) / (0.5 * (s_a + s_b) - exp))


@pytest.fixture(scope="module")
def twin_mixture():
    """A twin map of two phases, each a mixture of the Ni2+ and Ni3+ model spectra.

    Phases come from the twin's truth: pixels whose projected valence is above the
    sample median are the oxidised phase (Ni3+ fraction ~0.85), the others the reduced
    phase (~0.15); 1 % noise of the edge jump is added to every spectrum.
    """
    s = make_sample("tiny", 200, seed=3, dim="2d")
    v = s.projected_valence()
    inside = np.isfinite(v)
    phase = np.zeros(v.shape, np.int32)
    med = np.median(v[inside])
    phase[inside & (v <= med)] = 1
    phase[inside & (v > med)] = 2
    rng = np.random.default_rng(0)
    f3 = np.where(phase == 2, 0.85, 0.15) + 0.03 * rng.standard_normal(v.shape)
    f3 = np.clip(f3, 0, 1)
    r2, r3 = normalized_mu(ENERGY, 2.0), normalized_mu(ENERGY, 3.0)
    spectra = (1 - f3)[..., None] * r2 + f3[..., None] * r3
    spectra += 0.01 * rng.standard_normal(spectra.shape)
    spectra[~inside] = np.nan
    return spectra, phase, f3, inside


def test_pca_two_valence_states(twin_mixture):
    spectra, phase, _, inside = twin_mixture
    r = pca(spectra, 5, energy=ENERGY)
    assert r.components.shape == (5, ENERGY.size)
    assert r.scores.shape == spectra.shape[:-1] + (5,)
    assert np.isnan(r.scores[~inside]).all() and np.isfinite(r.scores[inside]).all()
    assert r.explained_variance_ratio[:2].sum() >= 0.95
    # the rest is noise: each further component holds about 1/E of the noise variance
    assert r.explained_variance_ratio[2] < 0.02
    # component 1 is the Ni3+ - Ni2+ difference spectrum (up to scale)
    diff = normalized_mu(ENERGY, 3.0) - normalized_mu(ENERGY, 2.0)
    cos = abs(r.components[0] @ diff) / np.linalg.norm(diff)
    assert cos > 0.98
    # scores are the projections of the centred spectra, checked for one pixel
    i = tuple(np.argwhere(inside)[7])
    assert_allclose(r.scores[i], (spectra[i] - r.mean) @ r.components.T, rtol=1e-4, atol=1e-5)
    # PCA of a matrix equals the SVD of the centred matrix (independent computation)
    x = spectra[inside]
    sv = np.linalg.svd(x - x.mean(0), compute_uv=False)
    assert_allclose(r.explained_variance_ratio, (sv**2 / (sv**2).sum())[:5], rtol=1e-6)


def test_kmeans_matches_truth_phases(twin_mixture):
    spectra, phase, _, inside = twin_mixture
    r = pca(spectra, 3, energy=ENERGY)
    c = kmeans(r, 2, spectra=spectra, seed=1)
    assert c.labels.shape == phase.shape
    assert (c.labels[~inside] == 0).all() and set(np.unique(c.labels[inside])) == {1, 2}
    assert _ari(c.labels[inside], phase[inside]) >= 0.8
    assert c.counts.sum() == inside.sum()
    # cluster-mean spectra are the means of the member spectra
    for k in (1, 2):
        assert_allclose(c.mean_spectra[k - 1], spectra[c.labels == k].mean(0), atol=1e-9)
    assert c.highlight(2).sum() == c.counts[1]


def test_lcf_recovers_known_fractions(twin_mixture):
    spectra, _, f3, inside = twin_mixture
    refs = np.array([normalized_mu(ENERGY, 2.0), normalized_mu(ENERGY, 3.0)])
    r = linear_combination(spectra, refs, names=["Ni2+", "Ni3+"])
    got = r.fractions[inside]
    assert_allclose(got.sum(-1), 1.0, atol=1e-5)
    assert np.sqrt(np.mean((got[:, 1] - f3[inside]) ** 2)) < 0.06
    assert np.nanmax(r.residual) < 0.02


@pytest.mark.parametrize("sum_to_one", [True, False])
def test_lcf_exact_three_references(sum_to_one):
    rng = np.random.default_rng(5)
    refs = np.array([normalized_mu(ENERGY, v) for v in (0.0, 2.0, 3.0)])
    f = rng.dirichlet([1.0, 1.0, 1.0], size=(6, 7))
    f[0, 0] = [0.0, 0.4, 0.6]  # on the boundary of the simplex
    if not sum_to_one:
        f *= rng.uniform(0.5, 1.5, size=(6, 7, 1))
    r = linear_combination(f @ refs, refs, sum_to_one=sum_to_one)
    assert_allclose(r.fractions, f, atol=1e-5)
    assert np.nanmax(r.residual) < 1e-6


def test_lcf_nonnegative_clips_outside_simplex():
    refs = np.array([normalized_mu(ENERGY, v) for v in (2.0, 3.0)])
    # a spectrum beyond Ni3+ (valence 3.6): best non-negative mixture is pure Ni3+
    y = normalized_mu(ENERGY, 3.6)[None, None]
    r = linear_combination(y, refs)
    assert_allclose(r.fractions[0, 0], [0.0, 1.0], atol=1e-9)
    free = linear_combination(y, refs, nonnegative=False)
    assert free.fractions[0, 0, 0] < -0.1  # the unconstrained fit extrapolates
    # the per-pixel NNLS path (used for many references) agrees with the exact one
    from ptyxanes.explore import lcf

    f, _ = lcf._solve_nnls(y.reshape(1, -1), refs, True)
    assert_allclose(f[0], [0.0, 1.0], atol=1e-4)


def test_normalized_spectra_from_twin_stack_and_cancel():
    """Absorption stack of the twin's truth -> normalised spectra equal the model."""
    s = make_sample("tiny", 0, seed=2, dim="2d")
    v = s.projected_valence()
    t = s.thickness()
    mu = normalized_mu(ENERGY, np.nan_to_num(v, nan=2.0))
    absorb = 0.2 + t[..., None] * 1e6 * mu  # -ln|T| with a flat background
    stack = np.moveaxis(absorb, -1, 0)
    thr = 0.25 * t.max() * 1e6  # edge jump of a quarter of the thickest column
    sd = normalized_spectra(ENERGY, stack, kind="absorption", energy_axis=0, threshold=thr)
    assert sd.mask[t > 0.5 * t.max()].all() and not sd.mask[t == 0].any()
    assert 0 < sd.threshold < 1e9
    otsu = normalized_spectra(ENERGY, stack, kind="absorption", energy_axis=0)
    assert otsu.mask.any() and not otsu.mask[t == 0].any()
    m = sd.mask
    # independent pre-/post-edge normalisation of the model spectra (lines, jump at 8345 eV)
    y = mu[m]
    pre, post = ENERGY <= 8300, ENERGY >= 8400
    a = np.polyfit(ENERGY[pre] - 8345, y[:, pre].T, 1)
    b = np.polyfit(ENERGY[post] - 8345, y[:, post].T, 1)
    expect = (y - (a[1][:, None] + a[0][:, None] * (ENERGY - 8345))) / (b[1] - a[1])[:, None]
    assert_allclose(sd.mu[m], expect, atol=1e-4)
    ctl = Control()
    ctl.cancel()
    from ptyxanes.explore import pca_gen

    with pytest.raises(Cancelled):
        run_sync(pca_gen(sd, 2, control=ctl))
    with pytest.raises(ValueError, match="n_components"):
        pca(sd, 99)
