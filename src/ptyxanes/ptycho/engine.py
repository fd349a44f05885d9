"""ePIE and rPIE with mixed-state probes, batched over non-overlapping positions.

Model: the exit wave of probe mode ``k`` at scan position ``j`` is
``psi_jk = P_k O_j`` (``O_j`` the object patch under the probe window); the
detector measures ``I_j = sum_k |F psi_jk|^2`` (unitary FFT, incoherent modes).

One iteration visits every position once (random group order). Positions are
grouped so that the probe *supports* (a central box of ``support`` pixels that
holds the probe power) of a group do not overlap; the exit waves of a group go
through the FFTs together and their object updates touch disjoint pixels, so a
group update equals the sequential ePIE updates of its members (apart from the
negligible probe power outside the support box). The probe update of a group
is the mean of its members' ePIE probe updates. Groups are formed first-fit in
scan order, which packs the positions on near-regular lattices (on a dense
raster about 1.5x larger groups than a random visiting order, hence fewer,
larger FFT batches); the group order is random in every iteration.

On the CPU runs of groups go through one numba call
(:mod:`ptyxanes.ptycho._kernels`). With several worker threads a group is cut
into one chunk per thread; each thread runs exit waves, FFT, modulus
constraint, inverse FFT and the update kernel on its chunk, then adds the
group's object increments on its own band of object rows and applies the probe
step on its own band of probe rows (see :class:`_CpuGroups`).
In the final ``anneal`` fraction of the iterations the object and probe steps
fall as ``1 / (1 + t)``, which averages out the photon noise of the last updates.

Updates (``dpsi = F^-1[ sqrt(I) Psi / |Psi| ] - psi``, masked detector pixels
keep the estimated amplitude):

* ePIE (Maiden & Rodenburg 2009): ``O += alpha sum_k P_k* dpsi_k / max|P|^2``,
  ``P_k += beta O* dpsi_k / max|O|^2``; defaults ``alpha = beta = 1``.
* rPIE (Maiden, Johnson & Li 2017): ``O += sum_k P_k* dpsi_k / ((1 - alpha)|P|^2 +
  alpha max|P|^2)`` and likewise for the probe with ``beta``; defaults
  ``alpha = 0.25``, ``beta = 1`` (the paper recommends alpha 0.05-0.25).

Mixed states (Thibault & Menzel 2013): K modes, orthogonalised by SVD after
every iteration (keeps their incoherent sum, sorts them by power).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sfft

from ptyxanes.progress import Control, Progress

logger = logging.getLogger(__name__)

ALGORITHMS = ("epie", "rpie")
DEFAULTS = {"epie": (1.0, 1.0), "rpie": (0.25, 1.0)}


@dataclass(frozen=True)
class PtychoParams:
    """Parameters of a reconstruction.

    Attributes
    ----------
    algorithm : {"epie", "rpie"}
        Default rPIE: its object step ``1 / ((1 - alpha)|P|^2 + alpha max|P|^2)``
        is large where the probe is weak, so the object is updated in the
        weakly lit field too; ePIE's uniform ``alpha / max|P|^2`` leaves there a
        raster grid and a checkerboard in -ln|T| (noticeable on low-contrast,
        pre-edge images) while the phase looks clean.
    iterations : int
    modes : int
        Number of probe modes K (1 = pure state).
    alpha, beta : float or None
        Object and probe step parameters (None: the algorithm's default,
        ePIE 1.0/1.0, rPIE 0.25/1.0; the paper recommends 0.05-0.25: 0.25 gave the
        lowest -ln|T| errors on the twin and the independent test series).
    probe_start : int
        First iteration (0-based) in which the probe is updated.
    mode_power : float
        Initial power fraction of the extra modes.
    support : int or None
        Side of the probe support box, px (None: the centred box holding
        ``support_fraction`` of the initial probe power plus 4 px on each
        side, at most the window). Object updates are applied inside it.
    support_fraction : float
        See ``support``; 1.0 makes the grouping exact for any probe.
    refine_positions : bool
        Refine positions (sub-pixel gradient step, applied as whole pixels).
    refine_start : int
        First iteration of position refinement.
    subpixel : bool
        Honour the sub-pixel part of the positions by shifting the probe of
        each position (Fourier shift; about twice the FFTs per iteration). Off
        (or all positions within 0.02 px of whole pixels): positions are
        rounded to whole pixels.
    anneal : float
        Fraction of the iterations, at the end, in which the object and probe
        steps fall as ``1 / (1 + t)`` (t = 1, 2, ... counts those iterations):
        the final object is then close to the mean of the last updates, which
        averages out the photon noise that a constant step keeps stirring up
        (stochastic-approximation step schedule). 0 keeps the steps constant;
        not applied to runs under 8 iterations.
    preview_every : int
        Iterations between previews (object, probe) in ``Progress.preview``; 0 = never.
    workers : int
        Threads of the CPU path (each group is cut into one chunk per thread,
        with single-threaded FFTs) and ``scipy.fft`` workers of the other FFTs.
    seed : int
        Random order of the groups.
    gpu : bool
        Use CuPy when a GPU is present (untested: no GPU in CI).
    """

    algorithm: str = "rpie"
    iterations: int = 100
    modes: int = 1
    alpha: float | None = None
    beta: float | None = None
    probe_start: int = 1
    mode_power: float = 0.1
    support: int | None = None
    support_fraction: float = 0.95
    refine_positions: bool = False
    refine_start: int = 20
    subpixel: bool = True
    anneal: float = 0.25
    preview_every: int = 10
    workers: int = 1
    seed: int = 0
    gpu: bool = False

    def step_scale(self, iteration: int) -> float:
        """Factor of the object and probe steps in 0-based ``iteration`` (see ``anneal``).

        Examples
        --------
        >>> [round(PtychoParams(iterations=8, anneal=0.25).step_scale(i), 3) for i in range(5, 8)]
        [1.0, 0.5, 0.333]
        """
        n = int(round(self.anneal * self.iterations)) if self.iterations >= 8 else 0
        t = iteration - (self.iterations - n) + 1
        return 1.0 if n <= 0 or t <= 0 else 1.0 / (1.0 + t)

    def steps(self) -> tuple[float, float]:
        """(alpha, beta) with the algorithm defaults filled in."""
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {self.algorithm!r}")
        a0, b0 = DEFAULTS[self.algorithm]
        return (a0 if self.alpha is None else self.alpha, b0 if self.beta is None else self.beta)


@dataclass(frozen=True)
class PtychoResult:
    """Result of :func:`reconstruct`.

    Attributes
    ----------
    object : ndarray of complex64, shape (M, N)
        Complex transmission.
    probe : ndarray of complex64, shape (K, H, W)
        Probe modes (orthogonal, by decreasing power; photons^0.5 per pixel).
    positions : ndarray of shape (P, 2)
        (Refined) top-left corners of the probe window, px.
    errors : ndarray of shape (iterations,)
        Normalised Fourier error ``sum (|Psi| - sqrt(I))^2 / sum I`` per iteration.
    illumination : ndarray of float32, shape (M, N)
        ``sum_j |P|^2`` over positions (where the object is well determined).
    seconds : float
    """

    object: NDArray[np.complex64]
    probe: NDArray[np.complex64]
    positions: NDArray[np.float64]
    errors: NDArray[np.float64]
    illumination: NDArray[np.float32]
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def support_size(
    probe: NDArray[np.complexfloating], fraction: float = 0.995, margin: int = 4
) -> int:
    """Side of the centred box holding ``fraction`` of the probe power, plus a margin, px.

    Examples
    --------
    >>> p = np.zeros((32, 32), complex); p[14:18, 14:18] = 1
    >>> support_size(p)
    12
    """
    p2 = (np.abs(np.asarray(probe)) ** 2).reshape(-1, *np.shape(probe)[-2:]).sum(0)
    h, w = p2.shape
    total = p2.sum()
    for s in range(2, min(h, w) + 1, 2):
        r0, c0 = (h - s) // 2, (w - s) // 2
        if p2[r0 : r0 + s, c0 : c0 + s].sum() >= fraction * total:
            return min(s + 2 * margin, min(h, w))
    return min(h, w)


def group_positions(
    corners: NDArray[np.integer], separation: int, rng: np.random.Generator | None = None
) -> list[NDArray[np.intp]]:
    """Partition positions into groups whose ``separation``-boxes do not overlap.

    Two boxes of side ``s`` at corners ``a, b`` are disjoint when
    ``|a_row - b_row| >= s`` or ``|a_col - b_col| >= s``.

    Parameters
    ----------
    corners : ndarray of int, shape (P, 2)
    separation : int
    rng : numpy.random.Generator, optional
        Visit positions in random order (else in scan order).

    Returns
    -------
    groups : list of ndarray of int

    Examples
    --------
    >>> g = group_positions(np.array([[0, 0], [0, 2], [0, 5], [0, 7]]), 5)
    >>> sorted(len(x) for x in g)
    [2, 2]
    """
    from ptyxanes.ptycho import _kernels

    c = np.asarray(corners, dtype=np.int64).reshape(-1, 2)
    order = rng.permutation(len(c)) if rng is not None else np.arange(len(c))
    sep = max(int(separation), 1)
    group = _kernels.first_fit_groups(
        np.ascontiguousarray(c[:, 0]), np.ascontiguousarray(c[:, 1]), order.astype(np.int64), sep
    )
    ordered = order[np.argsort(group[order], kind="stable")]  # members in visiting order
    bounds = np.cumsum(np.bincount(group, minlength=int(group.max(initial=-1)) + 1))
    return [g.astype(np.intp) for g in np.split(ordered, bounds[:-1])] if len(c) else []


def orthogonalize_modes(probe: Any, xp: Any = np) -> Any:
    """Orthogonalise probe modes by SVD, keeping their incoherent sum; sorted by power.

    Parameters
    ----------
    probe : ndarray of shape (K, H, W)

    Returns
    -------
    probe : ndarray of shape (K, H, W)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.normal(size=(3, 8, 8)) + 1j * rng.normal(size=(3, 8, 8))
    >>> q = orthogonalize_modes(p)
    >>> np.allclose((np.abs(q) ** 2).sum(0), (np.abs(p) ** 2).sum(0))
    True
    """
    k = probe.shape[0]
    if k == 1:
        return probe
    flat = probe.reshape(k, -1)
    _, s, vh = xp.linalg.svd(flat, full_matrices=False)
    return (s[:, None] * vh).reshape(probe.shape).astype(probe.dtype)


def init_modes(
    probe: NDArray[np.complexfloating], modes: int, power: float = 0.1
) -> NDArray[np.complex64]:
    """Probe modes from one probe: the probe plus ``modes - 1`` weak low-order variants.

    The extra modes are the probe times Hermite-like polynomials of increasing
    order along (row, col), each with ``power`` of the main mode's power; the
    total power is kept.

    Examples
    --------
    >>> init_modes(np.ones((8, 8), complex), 3).shape
    (3, 8, 8)
    """
    p = np.asarray(probe, dtype=np.complex128)
    if p.ndim == 3:
        if p.shape[0] >= modes:
            return p[:modes].astype(np.complex64)
        base = p
    else:
        base = p[None]
    h, w = base.shape[-2:]
    y = (np.arange(h) - h / 2)[:, None] / (h / 4)
    x = (np.arange(w) - w / 2)[None, :] / (w / 4)
    polys = [x, y, x * y, x**2 - 0.5, y**2 - 0.5, x**3, y**3]
    total = (np.abs(base) ** 2).sum()
    out = list(base)
    for i in range(modes - len(out)):
        m = base[0] * polys[i % len(polys)]
        m *= np.sqrt(power * (np.abs(base[0]) ** 2).sum() / max((np.abs(m) ** 2).sum(), 1e-30))
        out.append(m)
    arr = np.stack(out)
    arr *= np.sqrt(total / (np.abs(arr) ** 2).sum())
    return orthogonalize_modes(arr).astype(np.complex64)


def _fft_pair(xp: Any, workers: int) -> tuple[Any, Any]:
    if xp is np:

        def fwd(a: Any) -> Any:
            return sfft.fft2(a, norm="ortho", workers=workers, overwrite_x=True)

        def inv(a: Any) -> Any:
            return sfft.ifft2(a, norm="ortho", workers=workers, overwrite_x=True)

        return fwd, inv
    return (lambda a: xp.fft.fft2(a, norm="ortho")), (lambda a: xp.fft.ifft2(a, norm="ortho"))


def reconstruct(
    data: Any,
    positions: NDArray[np.floating],
    probe: NDArray[np.complexfloating] | None = None,
    *,
    params: PtychoParams | None = None,
    obj: NDArray[np.complexfloating] | None = None,
    obj_shape: tuple[int, int] | None = None,
    mask: NDArray[np.bool_] | None = None,
    control: Control | None = None,
    label: str = "",
) -> Generator[Progress, None, PtychoResult]:
    """Reconstruct object and probe from far-field diffraction patterns (ePIE/rPIE).

    Parameters
    ----------
    data : ndarray of shape (P, H, W)
        Measured intensities (photons), detector-centred (zero frequency at
        ``(H // 2, W // 2)``).
    positions : ndarray of shape (P, 2)
        Top-left corners (row, col) of the probe window in the object array,
        px; rounded to whole pixels.
    probe : ndarray of complex, shape (H, W) or (K, H, W), optional
        Initial probe (any scale; extra modes are added unless it
        already has K >= ``modes`` modes, a warm start, it is used as it is) and
        scaled to the mean measured counts. None: estimated from the patterns
        (:func:`ptyxanes.ptycho.probe.estimate_probe`), which also checks the
        position convention (swapped or flipped axes) and uses the best one.
    params : PtychoParams, optional
    obj : ndarray of complex, shape (M, N), optional
        Initial object (default ones).
    obj_shape : (int, int), optional
        Object array shape (default: just covers the positions).
    mask : ndarray of bool, shape (H, W), optional
        Bad detector pixels (True), detector-centred like ``data``.
    control : Control, optional
    label : str, optional
        Prefix of progress messages.

    Returns
    -------
    result : PtychoResult

    Raises
    ------
    ValueError
        For inconsistent shapes or positions outside the object array.
    Cancelled
        When ``control`` is cancelled.

    References
    ----------
    A. M. Maiden, J. M. Rodenburg, Ultramicroscopy 109, 1256 (2009).
    A. Maiden, D. Johnson, P. Li, Optica 4, 736 (2017).
    P. Thibault, A. Menzel, Nature 494, 68 (2013).
    """
    params = params or PtychoParams()
    control = control or Control()
    alpha, beta = params.steps()
    from ptyxanes.backend import array_module

    xp = array_module(prefer_gpu=params.gpu)
    t0 = time.monotonic()
    d = np.asarray(data, dtype=np.float32)
    if d.ndim != 3:
        raise ValueError(f"data must be (P, H, W); got shape {d.shape}")
    n_pos, h, w = d.shape
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape != (n_pos, 2):
        raise ValueError(f"positions must be ({n_pos}, 2); got {pos.shape}")
    d, mask = check_patterns(d, mask, label)
    info_extra: dict[str, Any] = {}
    if probe is None:
        from ptyxanes.ptycho.probe import estimate_probe, transform_positions

        est = yield from estimate_probe(
            d, pos, mask=mask, workers=params.workers, control=control, label=label
        )
        probe = est.probe
        if est.convention != (False, False, False):
            turned = transform_positions(pos, est.convention)
            pos = turned - turned.min(axis=0) + pos.min(axis=0)
        info_extra = {
            "probe_spot_px": -1.0 if est.spot is None else float(est.spot),
            "probe_sign": est.sign,
            "position_convention": np.asarray(est.convention, dtype=np.int8),
        }
    corners = np.rint(pos).astype(np.int64)
    frac = pos - corners  # sub-pixel part, applied as a Fourier shift of the probe
    subpixel = params.subpixel and float(np.abs(frac).max()) > 0.02
    if obj_shape is None:
        obj_shape = (int(corners[:, 0].max()) + h, int(corners[:, 1].max()) + w)
    if (
        corners.min() < 0
        or (corners[:, 0] + h).max() > obj_shape[0]
        or (corners[:, 1] + w).max() > obj_shape[1]
    ):
        raise ValueError("probe windows leave the object array")
    # measured amplitudes in FFT order (zero frequency at [0, 0])
    # (C order throughout: the kernels are compiled for C-ordered arrays, and a Fortran-
    # ordered probe, e.g. a transposed file, would compile a strided variant)
    meas = np.ascontiguousarray(
        np.sqrt(np.maximum(sfft.ifftshift(d, axes=(-2, -1)), 0.0)), dtype=np.float32
    )
    good = (
        np.ones((h, w), np.float32)
        if mask is None
        else (~sfft.ifftshift(np.asarray(mask, bool))).astype(np.float32)
    )
    meas *= good
    p_in = np.asarray(probe)
    if p_in.ndim == 3 and p_in.shape[0] >= params.modes:
        pr = p_in[: params.modes].astype(np.complex64)
    else:
        pr = init_modes(p_in, params.modes, params.mode_power)
    # the probe power matches the mean counts (unitary FFT; |O| ~ 1)
    counts = float((meas**2).sum(axis=(1, 2)).mean()) / float(good.mean())
    pr = np.ascontiguousarray(pr * np.float32(np.sqrt(counts / float((np.abs(pr) ** 2).sum()))))
    if pr.shape[-2:] != (h, w):
        raise ValueError(f"probe shape {pr.shape[-2:]} differs from the patterns {(h, w)}")
    o = np.ones(obj_shape, np.complex64) if obj is None else np.array(obj, np.complex64, order="C")
    if o.shape != tuple(obj_shape):
        raise ValueError(f"initial object shape {o.shape} differs from {obj_shape}")
    # the support of the main mode (weak extra modes would spread it to the frame edge)
    sup = params.support or support_size(pr[:1], params.support_fraction)
    sup = min(sup, h, w)
    r0, c0 = (h - sup) // 2, (w - sup) // 2
    rng = np.random.default_rng(params.seed)
    groups = group_positions(corners + [r0, c0], sup)
    logger.debug("%s%d positions in %d groups (support %d px)", label, n_pos, len(groups), sup)
    fwd, inv = _fft_pair(xp, params.workers)
    Ob = xp.asarray(o)
    P = xp.asarray(pr)
    M = xp.asarray(meas)
    G = xp.asarray(good)
    denom_meas = float((meas**2).sum())
    errors: list[float] = []
    refine = params.refine_positions
    shifts = np.zeros((n_pos, 2))
    it_seconds: list[float] = []
    it_cpu: list[float] = []
    cpu = _CpuGroups(meas, good, (h, w), params.algorithm, alpha, beta, params.workers)
    if xp is np:
        cpu.flatten(groups, corners)
    for it in range(params.iterations):
        t_it = time.monotonic()
        c_it = time.process_time()
        control.check()
        if control.should_finish and errors:
            break
        err = 0.0
        update_probe = it >= params.probe_start
        gamma = params.step_scale(it)
        do_refine = refine and it >= params.refine_start
        fast = xp is np and not do_refine
        if fast:
            # the object step (max|P|^2, rPIE's |P|^2) is refreshed once per iteration
            p2 = (P.real**2 + P.imag**2).sum(axis=0)
            coef = _obj_coef(params.algorithm, alpha, p2)[None] * np.float32(gamma)
        order = rng.permutation(len(groups))
        if fast:  # whole runs of groups in numba
            # about 2e7 pattern pixels per thread and call (~0.2 s): cancel stays prompt
            per_call = max(
                1, int(2e7 * cpu.threads * len(groups) / (n_pos * h * w * params.modes))
            )
            for k in range(0, len(order), per_call):
                control.check()
                err += cpu.run(
                    Ob,
                    P,
                    order[k : k + per_call],
                    update_probe,
                    coef,
                    gamma,
                    frac if subpixel else None,
                )
            order = order[:0]
        for gi in order:
            idx = groups[gi]
            b = len(idx)
            rc = corners[idx]
            patches = xp.stack([Ob[r : r + h, c : c + w] for r, c in rc])  # (B, H, W)
            ramp = xp.asarray(_ramps(frac[idx], (h, w))) if subpixel else None
            Pj = P[None] if ramp is None else inv(fwd(P.copy())[None] * ramp[:, None])
            psi = Pj * patches[:, None]  # (B, K, H, W)
            far = fwd(psi.copy())
            amp = xp.sqrt((far.real**2 + far.imag**2).sum(axis=1))  # (B, H, W)
            mj = M[idx]
            err += float(((amp - mj) ** 2 * G).sum())
            factor = G * mj / (amp + 1e-6) + (1.0 - G)
            dpsi = inv(far * factor[:, None]) - psi
            p2 = (Pj.real**2 + Pj.imag**2).sum(axis=1)  # (1 or B, H, W)
            num_o = (xp.conj(Pj) * dpsi).sum(axis=1)  # (B, H, W)
            if params.algorithm == "epie":
                new = patches + (gamma * alpha / float(p2.max())) * num_o
            else:
                new = patches + gamma * num_o / ((1 - alpha) * p2 + alpha * p2.max())
            if do_refine:
                _refine_step(patches, Pj, dpsi, idx, shifts, xp)
            if update_probe:
                o2 = patches.real**2 + patches.imag**2
                nump_b = xp.conj(patches)[:, None] * dpsi  # (B, K, H, W)
                if ramp is None:
                    num_p = nump_b.sum(axis=0)  # (K, H, W)
                else:  # back to the unshifted probe frame
                    num_p = inv((fwd(nump_b) * xp.conj(ramp)[:, None]).sum(axis=0))
                if params.algorithm == "epie":
                    omax = o2.reshape(b, -1).max(axis=1)
                    P = P + (gamma * beta / b) * (num_p / float(omax.mean()))
                else:
                    den = (1 - beta) * o2.sum(axis=0) + beta * float(o2.max()) * b
                    P = P + gamma * num_p / den
            for j, (r, c) in enumerate(rc):
                Ob[r : r + h, c : c + w] += new[j] - patches[j]
        if params.modes > 1:
            P = orthogonalize_modes(P, xp)
        if do_refine:
            step = np.clip(np.rint(shifts), -1, 1).astype(np.int64)
            moved = step.any(axis=1)
            if moved.any():
                newc = corners + step
                ok = (
                    (newc.min(axis=1) >= 0)
                    & (newc[:, 0] + h <= obj_shape[0])
                    & (newc[:, 1] + w <= obj_shape[1])
                    & moved
                )
                corners[ok] = newc[ok]
                shifts[ok] -= step[ok]
                groups = group_positions(corners + [r0, c0], sup)
                if xp is np:
                    cpu.flatten(groups, corners)
        errors.append(err / max(denom_meas, 1e-30))
        it_seconds.append(time.monotonic() - t_it)
        it_cpu.append(time.process_time() - c_it)
        preview = None
        if params.preview_every and ((it + 1) % params.preview_every == 0):
            preview = {
                "object": _np(Ob, xp).copy(),
                "probe": _np(P[0], xp).copy(),
                "iteration": it + 1,
            }
        yield Progress(
            it + 1,
            params.iterations,
            f"{label}iteration {it + 1}: error {errors[-1]:.4g}",
            "reconstruct",
            preview,
        )
    on = _np(Ob, xp).astype(np.complex64)
    pn = _np(P, xp).astype(np.complex64)
    illum = np.zeros(obj_shape, np.float32)
    p2n = (np.abs(pn) ** 2).sum(axis=0)
    for r, c in corners:
        illum[r : r + h, c : c + w] += p2n
    out_pos = corners + shifts if refine else pos
    return PtychoResult(
        on,
        pn,
        out_pos,
        np.asarray(errors),
        illum,
        time.monotonic() - t0,
        {
            "algorithm": params.algorithm,
            "alpha": alpha,
            "beta": beta,
            "modes": params.modes,
            "support": sup,
            "groups": len(groups),
            "iteration_seconds": np.asarray(it_seconds),
            "iteration_cpu_seconds": np.asarray(it_cpu),
            **info_extra,
        },
    )


def check_patterns(
    data: NDArray[np.float32], mask: NDArray[np.bool_] | None = None, label: str = ""
) -> tuple[NDArray[np.float32], NDArray[np.bool_] | None]:
    """Check measured patterns; undo an FFT shift (with a warning).

    Parameters
    ----------
    data : ndarray of shape (P, H, W)
    mask : ndarray of bool, shape (H, W), optional
    label : str, optional
        Prefix of messages (e.g. the file name).

    Returns
    -------
    data, mask
        Detector-centred.

    Raises
    ------
    ValueError
        Non-finite or negative-only values, or empty frames (no counts).

    Examples
    --------
    >>> yy, xx = np.mgrid[:16, :16]
    >>> d = np.exp(-((yy - 8.0) ** 2 + (xx - 8.0) ** 2) / 4)[None].repeat(2, 0)
    >>> out, _ = check_patterns(np.fft.ifftshift(d, axes=(1, 2)).astype(np.float32))
    >>> int(np.argmax(out[0]))  # back at (8, 8)
    136
    """
    from ptyxanes.ptycho.probe import is_fft_shifted

    if not np.all(np.isfinite(data)):
        raise ValueError(f"{label}the diffraction patterns contain NaN or inf")
    sums = data.sum(axis=(1, 2))
    empty = np.nonzero(sums <= 0)[0]
    if empty.size:
        raise ValueError(
            f"{label}{empty.size} empty pattern(s) (no counts), first index {int(empty[0])}"
        )
    mean = data.mean(axis=0)
    if mask is not None:
        mean = np.where(mask, 0.0, mean)
    if is_fft_shifted(mean):
        logger.warning(
            "%sthe patterns are stored FFT-shifted (the mean pattern is brightest in the "
            "corners); shifting the zero frequency to the centre",
            label,
        )
        data = np.ascontiguousarray(sfft.fftshift(data, axes=(-2, -1)))
        if mask is not None:
            mask = np.ascontiguousarray(sfft.fftshift(np.asarray(mask, bool)))
    return data, mask


def _obj_coef(algorithm: str, alpha: float, p2: NDArray[np.float32]) -> NDArray[np.float32]:
    if algorithm == "epie":
        return np.full(p2.shape, alpha / float(p2.max()), np.float32)
    return (1.0 / ((1 - alpha) * p2 + alpha * float(p2.max()))).astype(np.float32)


class _CpuGroups:
    """The CPU path: runs of groups in one numba call, on one thread or split over several.

    One thread: :func:`ptyxanes.ptycho._kernels.serial_groups`. Several:
    :func:`ptyxanes.ptycho._kernels.parallel_groups`, which cuts each group into
    one chunk of consecutive members per thread; each thread runs, on its
    chunk, the exit waves, a single-threaded in-place FFT, the modulus
    constraint, the inverse FFT and the update kernel; then every thread adds
    the group's object increments on its own band of object rows (every pixel
    receives them in member order, so the result does not depend on timing)
    and applies the probe step on its own band of probe rows. The buffers are
    kept between calls.
    """

    def __init__(
        self,
        meas: NDArray[np.float32],
        good: NDArray[np.float32],
        hw: tuple[int, int],
        algorithm: str,
        alpha: float,
        beta: float,
        threads: int,
    ) -> None:
        self.meas, self.good, self.hw = meas, good, hw
        self.algorithm, self.alpha, self.beta = algorithm, alpha, beta
        self.threads = max(1, int(threads))
        self.work: dict[Any, Any] = {}

    def flatten(self, groups: list[NDArray[np.intp]], corners: NDArray[np.int64]) -> None:
        """The groups as flat arrays (members, offsets, corners) and their thread shares.

        ``cuts`` (G, T + 1): member bounds of each group's chunks; ``bands``
        (G, T + 1): object-row bands holding equal numbers of window rows
        (only read by ``parallel_groups``: left zero for one thread).
        """
        members = np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, np.int64)
        self.members = members
        self.starts = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
        self.rows = np.ascontiguousarray(corners[members, 0], dtype=np.int64)
        self.cols = np.ascontiguousarray(corners[members, 1], dtype=np.int64)
        self.largest = max((len(g) for g in groups), default=1)
        n, h = self.threads, self.hw[0]
        self.cuts = np.zeros((len(groups), n + 1), np.int64)
        self.bands = np.zeros((len(groups), n + 1), np.int64)
        for gi, g in enumerate(groups if n > 1 else []):  # one thread: no shares
            self.cuts[gi] = np.linspace(0, len(g), n + 1).round()
            rows = corners[g, 0]
            lo, hi = int(rows.min()), int(rows.max()) + h
            cover = np.zeros(hi - lo + 1, np.int64)
            np.add.at(cover, rows - lo, 1)
            np.add.at(cover, rows - lo + h, -1)
            cum = np.cumsum(np.cumsum(cover)[:-1])
            cut = [lo + int(np.searchsorted(cum, cum[-1] * t / n)) for t in range(1, n)]
            self.bands[gi] = (lo, *cut, hi)

    def run(
        self,
        ob: NDArray[np.complex64],
        P: NDArray[np.complex64],
        order: NDArray[np.intp],
        update_probe: bool,
        coef: NDArray[np.float32],
        gamma: float,
        frac: NDArray[np.float64] | None = None,
    ) -> float:
        """The groups ``order`` in one numba call; returns their Fourier error.

        ``coef`` is the object step (already scaled by ``gamma``); ``frac``
        (P, 2) the sub-pixel parts of the positions, by which each position's
        probe is shifted (None: whole pixels); ``gamma`` scales the probe step
        (and rPIE's object step of shifted probes). ``ob`` and ``P`` are
        updated in place.
        """
        import numba

        from ptyxanes.ptycho import _kernels

        h, w = self.hw
        nk = P.shape[0]
        work = self.work
        big = self.largest
        n = self.threads
        epie = self.algorithm == "epie"
        shift = frac is not None
        args = (
            np.zeros((0, 2)) if frac is None else np.ascontiguousarray(frac[self.members]),
            self.members,
            self.starts,
        )
        buffers = (
            _buffer(work, "psi", (big, nk, h, w), np.complex64),
            _buffer(work, "shifted", (big if shift else 0, nk, h, w), np.complex64),
            _buffer(work, "num_p", (big if shift else n, nk, h, w), np.complex64),
            _buffer(work, "coefs", (big if shift and not epie else 0, h, w), np.float32),
            _buffer(work, "spectra", (n, nk, h, w), np.complex64),
            _buffer(work, "o2sum", (n, 0 if epie else h, w), np.float32),
            _buffer(work, "omax", (big,), np.float32),
        )
        tail = (update_probe, epie, self.alpha, self.beta, gamma)
        data = (self.meas, self.good, coef)
        order = np.ascontiguousarray(order, dtype=np.int64)
        if n == 1:
            err = _kernels.serial_groups(
                ob, P, self.rows, self.cols, *args, order, *data, *buffers, *tail
            )
        else:
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
            # one parallel kernel at a time: numba's workqueue threading layer (where
            # neither OpenMP nor TBB is installed) aborts the process on concurrent launches
            with _PARALLEL_LOCK:
                err = _kernels.parallel_groups(
                    ob, P, self.rows, self.cols, *args, self.cuts, self.bands, order, *data,
                    *buffers, *tail,
                )
        return float(err)


_PARALLEL_LOCK = threading.Lock()


def _buffer(work: dict[Any, Any], key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """A C-contiguous array of ``shape`` from ``work`` (grown when too small; contents undefined)."""
    n = int(np.prod(shape))
    buf = work.get(key)
    if buf is None or buf.size < n or buf.dtype != dtype:
        buf = np.empty(max(n, 1), dtype)
        work[key] = buf
    return buf[:n].reshape(shape)


def _ramps(frac: NDArray[np.float64], hw: tuple[int, int]) -> NDArray[np.complex64]:
    """Fourier-shift factors (B, H, W) that move a probe by ``frac`` (B, 2) px (FFT order)."""
    ky = np.fft.fftfreq(hw[0])[None, :, None]
    kx = np.fft.fftfreq(hw[1])[None, None, :]
    ph = ky * frac[:, 0, None, None] + kx * frac[:, 1, None, None]
    return np.exp(-2j * np.pi * ph).astype(np.complex64)


def _np(a: Any, xp: Any) -> NDArray[Any]:
    return a if xp is np else xp.asnumpy(a)


def _refine_step(
    patches: Any, P: Any, dpsi: Any, idx: NDArray[np.intp], shifts: NDArray[np.float64], xp: Any
) -> None:
    """Accumulate a least-squares position step (Zhang et al. / Dwivedi style gradient).

    ``d psi / d r = P dO/dr``; the step minimising ``|dpsi - step * P dO/dr|^2``.
    """
    gy = (xp.roll(patches, -1, axis=1) - xp.roll(patches, 1, axis=1)) / 2
    gx = (xp.roll(patches, -1, axis=2) - xp.roll(patches, 1, axis=2)) / 2
    for k_axis, g in enumerate((gy, gx)):
        dg = P * g[:, None]  # (B, K, H, W); P: (1 or B, K, H, W)
        num = (xp.conj(dg) * dpsi).real.sum(axis=(1, 2, 3))
        den = (xp.abs(dg) ** 2).sum(axis=(1, 2, 3)) + 1e-12
        # data from the true position c + s: psi_true ~ psi + s P dO/dr
        shifts[idx, k_axis] += 0.5 * _np(num / den, xp)
