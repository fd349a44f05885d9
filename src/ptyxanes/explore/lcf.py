"""Linear-combination maps: the fraction of each reference spectrum in every pixel.

Every spectrum ``y`` is fitted by ``R^T f`` with ``f >= 0`` (optional) and
``sum(f) = 1`` (optional), R the (n_refs, E) references on the data's
energies. For up to :data:`EXACT_MAX_REFS` references the constrained
least-squares problem is solved exactly and vectorised over all pixels: the
solution restricted to its support is the (equality-constrained) least-squares
solution on that support, so the unconstrained solutions on every non-empty
subset of references are computed with precomputed matrices, and each pixel
takes the feasible one with the smallest residual. Above that, each pixel is
solved by :func:`scipy.optimize.nnls` (sum-to-one as a heavily weighted row).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.progress import Control, Progress, run_sync

if TYPE_CHECKING:
    from ptyxanes.explore.spectra import SpectralData

logger = logging.getLogger(__name__)

#: Up to this many references the fit enumerates reference subsets (exact, vectorised).
EXACT_MAX_REFS: int = 8
#: Spectra per block.
BLOCK: int = 65536


@dataclass(frozen=True, eq=False)
class LCFResult:
    """Linear-combination fit of reference spectra in every pixel.

    Parameters
    ----------
    fractions : ndarray of shape (..., R), float32
        Weight of each reference; NaN outside ``mask``.
    residual : ndarray of shape (...), float32
        RMS misfit per energy, normalised μ units; NaN outside ``mask``.
    names : tuple of str
        Reference names, in the order of the last axis.
    mask : ndarray of shape (...), bool
    nonnegative, sum_to_one : bool
        The constraints used.
    """

    fractions: NDArray[np.float32]
    residual: NDArray[np.float32]
    names: tuple[str, ...]
    mask: NDArray[np.bool_]
    nonnegative: bool
    sum_to_one: bool

    def fraction_maps(self) -> NDArray[np.float32]:
        """Fractions with the reference first: shape (R, ...)."""
        return np.moveaxis(self.fractions, -1, 0)


def _subset_solver(refs: NDArray[np.float64], subset: tuple[int, ...], sum_to_one: bool
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """(P, q): coefficients on ``subset`` are ``y @ P.T + q`` for spectra y (n, E)."""
    a = refs[list(subset)]  # (s, E)
    gram = a @ a.T
    ginv = np.linalg.pinv(gram)
    p = ginv @ a  # (s, E): unconstrained LS
    q = np.zeros(len(subset))
    if sum_to_one:
        one = np.ones(len(subset))
        g1 = ginv @ one
        den = float(one @ g1)
        if den <= 0:
            return None
        # f = f_u - g1 (1.f_u - 1) / den
        p = p - np.outer(g1, one @ p) / den
        q = g1 / den
    return p, q


def _solve_block(y: NDArray[np.float64], refs: NDArray[np.float64],
                 solvers: list[tuple[tuple[int, ...], tuple[NDArray[np.float64], NDArray[np.float64]]]],
                 nonneg: bool, sum_to_one: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n, r = y.shape[0], refs.shape[0]
    best_f = np.full((n, r), np.nan)
    best_cost = np.full(n, np.inf)
    for subset, (p, q) in solvers:
        f_s = y @ p.T + q
        ok = np.ones(n, bool) if not nonneg else (f_s >= -1e-12).all(1)
        f = np.zeros((n, r))
        f[:, list(subset)] = f_s
        if nonneg:
            np.clip(f, 0.0, None, out=f)
        cost = ((y - f @ refs) ** 2).sum(1)
        better = ok & (cost < best_cost)
        best_cost[better] = cost[better]
        best_f[better] = f[better]
    return best_f, best_cost


def _solve_nnls(y: NDArray[np.float64], refs: NDArray[np.float64], sum_to_one: bool
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    from scipy.optimize import nnls

    a = refs.T
    w = 1e3 * float(np.abs(refs).max() or 1.0)
    if sum_to_one:
        a = np.vstack([a, np.full((1, refs.shape[0]), w)])
    out = np.empty((y.shape[0], refs.shape[0]))
    for i, yi in enumerate(y):
        b = np.r_[yi, w] if sum_to_one else yi
        out[i] = nnls(a, b)[0]
    return out, ((y - out @ refs) ** 2).sum(1)


def linear_combination_gen(
    spectra: SpectralData | NDArray[Any],
    references: NDArray[np.floating],
    *,
    names: Sequence[str] | None = None,
    nonnegative: bool = True,
    sum_to_one: bool = True,
    mask: NDArray[np.bool_] | None = None,
    control: Control | None = None,
) -> Generator[Progress, None, LCFResult]:
    """Linear-combination fractions of references in every pixel (generator).

    Parameters
    ----------
    spectra : SpectralData or ndarray of shape (..., E)
        Normalised spectra, energy last (NaN spectra are left out).
    references : ndarray of shape (R, E)
        Normalised reference spectra on the same energies.
    names : sequence of str, optional
        Reference names (default ``ref1``...).
    nonnegative : bool, optional
        Fractions ≥ 0.
    sum_to_one : bool, optional
        Fractions add up to 1.
    mask : ndarray of bool, optional
        Pixels to fit (default: every finite spectrum).
    control : Control, optional

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : LCFResult

    Raises
    ------
    ValueError
        References of the wrong shape or not finite, or names of the wrong length.
    """
    from ptyxanes.explore.pca import _as_spectra

    ctl = control or Control()
    arr, m = _as_spectra(spectra, mask)
    n_e = arr.shape[-1]
    refs = np.atleast_2d(np.asarray(references, np.float64))
    if refs.ndim != 2 or refs.shape[1] != n_e:
        raise ValueError(f"references must have shape (R, {n_e}) to match the spectra; "
                         f"got {refs.shape}")
    if not np.isfinite(refs).all():
        raise ValueError("a reference spectrum has non-finite values on the data's energies")
    r = refs.shape[0]
    labels = tuple(names) if names is not None else tuple(f"ref{i + 1}" for i in range(r))
    if len(labels) != r:
        raise ValueError(f"{len(labels)} names for {r} references")
    exact = r <= EXACT_MAX_REFS
    solvers = []
    if exact:
        subsets = [s for k in range(1, r + 1) for s in itertools.combinations(range(r), k)]
        if not nonnegative:
            subsets = [tuple(range(r))]
        for s in subsets:
            sol = _subset_solver(refs, s, sum_to_one)
            if sol is not None:
                solvers.append((s, sol))
    idx = np.flatnonzero(m.ravel())
    flat = arr.reshape(-1, n_e)
    frac = np.full(m.shape + (r,), np.nan, np.float32)
    res = np.full(m.shape, np.nan, np.float32)
    fflat, rflat = frac.reshape(-1, r), res.reshape(-1)
    blocks = [idx[i:i + BLOCK] for i in range(0, idx.size, BLOCK)]
    last = time.perf_counter()
    for k, b in enumerate(blocks):
        ctl.check()
        y = np.asarray(flat[b], np.float64)
        if exact:
            f, cost = _solve_block(y, refs, solvers, nonnegative, sum_to_one)
        else:
            f, cost = _solve_nnls(y, refs, sum_to_one)
        fflat[b] = f
        rflat[b] = np.sqrt(cost / n_e)
        if time.perf_counter() - last > 0.3:
            last = time.perf_counter()
            yield Progress(k + 1, len(blocks), "linear combinations", "explore")
    yield Progress(len(blocks), len(blocks), "linear combinations done", "explore")
    logger.info("LCF of %d spectra with %d references (%s)", idx.size, r,
                "exact subsets" if exact else "per-pixel NNLS")
    return LCFResult(frac, res, labels, m.copy(), bool(nonnegative), bool(sum_to_one))


def linear_combination(spectra: SpectralData | NDArray[Any], references: NDArray[np.floating],
                       **kw: Any) -> LCFResult:
    """Linear-combination fractions of references (see :func:`linear_combination_gen`).

    Parameters
    ----------
    spectra : SpectralData or ndarray of shape (..., E)
    references : ndarray of shape (R, E)
    **kw
        Options of :func:`linear_combination_gen`.

    Returns
    -------
    result : LCFResult

    Examples
    --------
    >>> refs = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    >>> r = linear_combination((0.3 * refs[0] + 0.7 * refs[1])[None, None], refs)
    >>> [round(float(f), 6) for f in r.fractions[0, 0]]
    [0.3, 0.7]
    """
    return run_sync(linear_combination_gen(spectra, references, **kw))


def references_on(energy: NDArray[np.floating], references: Sequence) -> NDArray[np.float64]:
    """Interpolate reference spectra onto the data's energies.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    references : sequence of (energy, mu) pairs
        Each reference's energies (eV, increasing) and normalised absorption.

    Returns
    -------
    refs : ndarray of shape (R, E)

    Raises
    ------
    ValueError
        When the data's energies reach outside a reference's range.
    """
    e = np.asarray(energy, np.float64)
    out = []
    for i, (re, rm) in enumerate(references):
        re = np.asarray(re, np.float64)
        if e.min() < re.min() - 1e-6 or e.max() > re.max() + 1e-6:
            raise ValueError(f"reference {i + 1} covers {re.min():.1f}-{re.max():.1f} eV, "
                             f"the data {e.min():.1f}-{e.max():.1f} eV")
        out.append(np.interp(e, re, np.asarray(rm, np.float64)))
    return np.asarray(out)
