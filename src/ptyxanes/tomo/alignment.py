"""Flat/dark normalisation, rotation-centre finding and joint reprojection alignment.

Joint iterative reconstruction and reprojection (Gürsoy et al. 2017):
reconstruct the volume from the current alignment, re-project it with the
same projector, register every measured projection to its re-projection by
phase cross-correlation, update the shifts, repeat until they stop changing.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ptyxanes.progress import Control, Progress
from ptyxanes.tomo.projector import parallel_projector
from ptyxanes.tomo.reconstruct import sirt

logger = logging.getLogger(__name__)

MIN_ROWS_VERTICAL = 8
"""Fewest detector rows for vertical alignment: with fewer, a vertical shift
moves most of a projection out of the field, and cross-correlation has no
vertical structure to lock onto."""

ALIGN_MAX_COLUMNS = 256
"""The alignment works on projections binned along the columns to at most this
width (SIRT cost grows as the square of the width); the shifts are scaled back."""

FEW_ROWS_MAX_ROUNDS = 3
"""Most alignment rounds for projections of fewer than :data:`MIN_ROWS_VERTICAL`
rows (horizontal alignment only: a few rows hold little structure to refine
the registration round after round)."""

MIN_MASS_KEPT = 0.9
"""Alignment shifts that leave less than this fraction of the projected mass
inside the field are discarded (the projections are then only centred)."""


def mass_kept(projections: NDArray[np.floating], shifts: NDArray[np.floating]) -> float:
    """Fraction of the positive projected mass still in the field after shifting.

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
    shifts : ndarray of shape (A, 2)
        (row, col) shifts, pixels.

    Returns
    -------
    fraction : float
        Σ max(shifted, 0) / Σ max(projections, 0) (1 for empty projections).

    Examples
    --------
    >>> p = np.zeros((1, 2, 8)); p[0, :, 2:4] = 1
    >>> mass_kept(p, np.array([[0.0, 1.0]])), mass_kept(p, np.array([[5.0, 0.0]]))
    (1.0, 0.0)
    """
    proj = np.asarray(projections, dtype=np.float32)
    total = float(np.clip(proj, 0, None).sum(dtype=np.float64))
    if total <= 0:
        return 1.0
    kept = float(np.clip(shift_projections(proj, shifts), 0, None).sum(dtype=np.float64))
    return kept / total


def normalize_flat_dark(
    data: NDArray[np.floating],
    flat: NDArray[np.floating],
    dark: NDArray[np.floating] | None = None,
    *,
    minimum: float = 1e-3,
) -> NDArray[np.float32]:
    """Convert raw counts to line integrals ``−ln((I − D) / (F − D))``.

    Parameters
    ----------
    data : ndarray of shape (A, M, N)
        Raw projections.
    flat : ndarray of shape (F, M, N) or (M, N)
        Open-beam images (averaged over the first axis when 3-D).
    dark : ndarray of shape (D, M, N) or (M, N), optional
        Dark images (averaged); zero when absent.
    minimum : float, optional
        Transmission floor against log of zero or negatives.

    Returns
    -------
    line_integrals : ndarray of shape (A, M, N), float32

    Examples
    --------
    >>> d = np.full((2, 1, 3), 60.0); f = np.full((4, 1, 3), 110.0); k = np.full((4, 1, 3), 10.0)
    >>> [round(float(v), 4) for v in normalize_flat_dark(d, f, k)[0, 0]]
    [0.6931, 0.6931, 0.6931]
    """
    data = np.asarray(data, dtype=np.float64)
    flat = np.asarray(flat, dtype=np.float64)
    f = flat.mean(axis=0) if flat.ndim == data.ndim else flat
    if dark is None:
        d = np.zeros_like(f)
    else:
        dark = np.asarray(dark, dtype=np.float64)
        d = dark.mean(axis=0) if dark.ndim == data.ndim else dark
    trans = (data - d) / np.maximum(f - d, 1e-12)
    return (-np.log(np.clip(trans, minimum, None))).astype(np.float32)


def _com_columns(
    projections: NDArray[np.floating],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    p = np.clip(np.asarray(projections, dtype=float), 0, None)
    mass = p.sum(axis=(1, 2)) + 1e-30
    cols = np.arange(p.shape[2])
    rows = np.arange(p.shape[1])
    com_c = (p.sum(axis=1) * cols).sum(axis=1) / mass
    com_r = (p.sum(axis=2) * rows).sum(axis=1) / mass
    return com_r, com_c


def _sinusoid_fit(angles: NDArray[np.floating], com: NDArray[np.floating]) -> NDArray[np.float64]:
    t = np.deg2rad(np.asarray(angles, dtype=float))
    design = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(design, com, rcond=None)
    return coef


def find_rotation_center(projections: NDArray[np.floating], angles: NDArray[np.floating]) -> float:
    """Rotation-axis column from the centre-of-mass sinusoid of the projections.

    In parallel beam the centre of mass of every projection follows
    ``c + a cos θ + b sin θ``; the constant ``c`` is the axis.

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
        Line integrals (non-negative, object inside the field of view).
    angles : ndarray of shape (A,)
        Degrees.

    Returns
    -------
    center : float
        Column of the rotation axis, pixels.

    Examples
    --------
    >>> ang = np.linspace(0, 180, 60, endpoint=False)
    >>> vol = np.zeros((32, 1, 32), np.float32); vol[5:9, :, 20:24] = 1
    >>> p = parallel_projector(ang, 32).forward(vol)
    >>> round(find_rotation_center(np.roll(p, 3, axis=2), ang), 1)
    18.5
    """
    _, com_c = _com_columns(projections)
    return float(_sinusoid_fit(angles, com_c)[0])


@dataclass(frozen=True)
class TiltAlignment:
    """Result of the joint reprojection alignment of one tilt series.

    Parameters
    ----------
    shifts : ndarray of shape (A, 2)
        Correction (row, col) applied to every projection, pixels, with the
        rotation axis moved to the detector centre (the mean column shift is
        ``(N - 1) / 2 − center``).
    center : float
        Rotation-axis column in the input projections, pixels.
    volume : ndarray of shape (N, M, N)
        Last SIRT reconstruction from the aligned projections (shape (0, M, 0)
        when the alignment ran on binned columns or was discarded).
    history : ndarray of shape (K,)
        RMS change of the shifts at each outer iteration, pixels.
    converged : bool
    attrs : dict, optional
        ``notes``: what was skipped or discarded and why (messages for the
        user); ``binning``: column binning used; ``mass_kept``: fraction of the
        projected mass inside the field after the shifts.
    """

    shifts: NDArray[np.float64]
    center: float
    volume: NDArray[np.float32]
    history: NDArray[np.float64]
    converged: bool
    attrs: dict[str, Any] = field(default_factory=dict)


def shift_projections(
    projections: NDArray[np.floating], shifts: NDArray[np.floating], order: int = 1
) -> NDArray[np.float32]:
    """Shift every projection by its (row, col) correction, zero outside.

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
    shifts : ndarray of shape (A, 2)
        Pixels.
    order : int, optional
        Spline order.

    Returns
    -------
    shifted : ndarray of shape (A, M, N), float32
    """
    projections = np.asarray(projections, dtype=np.float32)
    out = np.empty_like(projections)
    for i, (p, s) in enumerate(zip(projections, np.asarray(shifts, dtype=float), strict=True)):
        out[i] = ndimage.shift(p, s, order=order, mode="constant", cval=0.0)
    return out


def align_tilt_series(
    projections: NDArray[np.floating],
    angles: NDArray[np.floating],
    *,
    center: float | None = None,
    max_outer: int = 10,
    sirt_iterations: int = 30,
    tolerance: float = 0.05,
    upsample_factor: int = 20,
    vertical: bool = True,
    max_columns: int = ALIGN_MAX_COLUMNS,
    control: Control | None = None,
) -> Generator[Progress, None, TiltAlignment]:
    """Align the projections of a tilt series by joint reconstruction and reprojection.

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
        Line integrals (non-negative, empty background ≈ 0).
    angles : ndarray of shape (A,)
        Degrees.
    center : float, optional
        Rotation-axis column; found from the centre-of-mass sinusoid when None.
    max_outer : int, optional
        Most reconstruct–reproject–register rounds.
    sirt_iterations : int, optional
        SIRT iterations per round.
    tolerance : float, optional
        Stop when the RMS change of the shifts falls below this, pixels.
    upsample_factor : int, optional
        Sub-pixel precision of the registration.
    vertical : bool, optional
        Also align vertically (rows); skipped, with a note, for projections of
        fewer than :data:`MIN_ROWS_VERTICAL` rows, which are then aligned in
        at most :data:`FEW_ROWS_MAX_ROUNDS` rounds.
    max_columns : int, optional
        Bin the columns for the alignment rounds so that at most this many
        remain (the shifts are scaled back to full resolution).
    control : Control, optional
        Cancellation; ``finish_early`` stops after the current round.

    Returns
    -------
    alignment : TiltAlignment
        ``attrs["notes"]`` lists what was skipped or discarded. Shifts that
        would leave less than :data:`MIN_MASS_KEPT` of the projected mass in
        the field are discarded: the projections are then only centred on the
        rotation axis (given, or found from the centre-of-mass sinusoid).

    Notes
    -----
    The shifts start from the centre of mass: the vertical centre of mass of a
    parallel-beam projection does not depend on the angle and the horizontal
    one follows a sinusoid, so departures from both are first estimates of the
    misalignment. The mean vertical shift is arbitrary and set to zero.

    References
    ----------
    D. Gürsoy et al., "Rapid alignment of nanotomography data using joint
    iterative reconstruction and reprojection", Sci. Rep. 7, 11818 (2017).
    """
    control = control or Control()
    proj = np.asarray(projections, dtype=np.float32)
    angles = np.asarray(angles, dtype=float)
    if proj.ndim != 3 or len(angles) != proj.shape[0]:
        raise ValueError(
            f"expected (angle, row, col) projections for {len(angles)} angles, got {proj.shape}"
        )
    a, m, n = proj.shape
    notes: list[str] = []
    if vertical and m < MIN_ROWS_VERTICAL:
        notes.append(
            f"vertical alignment skipped: the projections have {m} detector rows "
            f"(at least {MIN_ROWS_VERTICAL} needed)"
        )
        logger.warning(notes[-1])
        vertical = False
        if max_outer > FEW_ROWS_MAX_ROUNDS:
            logger.info("horizontal alignment of %d-row projections: at most %d rounds", m,
                        FEW_ROWS_MAX_ROUNDS)
            max_outer = FEW_ROWS_MAX_ROUNDS
    b = max(1, int(np.ceil(n / max(int(max_columns), 2))))
    nb = n // b
    work = proj[:, :, : nb * b].reshape(a, m, nb, b).mean(axis=3) if b > 1 else proj
    cb = None if center is None else (float(center) - (b - 1) / 2) / b
    al = yield from _align_binned(
        work, angles, cb, max_outer, sirt_iterations, tolerance, upsample_factor, vertical,
        control,
    )
    shifts = al.shifts * np.array([1.0, b])
    shifts[:, 1] += (n - nb * b) / 2  # columns cropped by the binning
    found = al.center * b + (b - 1) / 2 if center is None else float(center)
    kept = mass_kept(proj, shifts)
    converged = al.converged
    if kept < MIN_MASS_KEPT:
        c0 = find_rotation_center(proj, angles) if center is None else float(center)
        notes.append(
            f"alignment discarded: its shifts would leave only {100 * kept:.0f} % of the "
            f"projected mass in the field; projections only centred on the rotation axis "
            f"at column {c0:.1f}"
        )
        logger.warning(notes[-1])
        shifts = np.zeros((a, 2))
        shifts[:, 1] = (n - 1) / 2 - c0
        found, converged = c0, False
        kept = mass_kept(proj, shifts)
    volume = al.volume
    if b > 1 or notes:
        volume = np.zeros((0, m, 0), np.float32)  # not at full resolution / not aligned
    return TiltAlignment(
        shifts, float(found), volume, al.history, converged,
        {"notes": tuple(notes), "binning": b, "mass_kept": kept},
    )


def _align_binned(
    proj: NDArray[np.float32],
    angles: NDArray[np.floating],
    center: float | None,
    max_outer: int,
    sirt_iterations: int,
    tolerance: float,
    upsample_factor: int,
    vertical: bool,
    control: Control,
) -> Generator[Progress, None, TiltAlignment]:
    """The joint reprojection loop on (possibly binned) projections."""
    from skimage.registration import phase_cross_correlation

    a, m, n = proj.shape
    com_r, com_c = _com_columns(proj)
    coef = _sinusoid_fit(angles, com_c)
    t = np.deg2rad(angles)
    fitted = coef[0] + coef[1] * np.cos(t) + coef[2] * np.sin(t)
    found = float(coef[0]) if center is None else float(center)
    shifts = np.zeros((a, 2))
    shifts[:, 1] = (fitted - com_c) + ((n - 1) / 2 - found)
    if vertical:
        shifts[:, 0] = com_r.mean() - com_r
    pr = parallel_projector(angles, n)
    history: list[float] = []
    converged = False
    volume = np.zeros((n, m, n), np.float32)
    total = max_outer
    for k in range(max_outer):
        control.check()
        aligned = shift_projections(proj, shifts)
        volume = yield from _round_progress(
            sirt(aligned, angles, iterations=sirt_iterations, backend="cpu", control=control),
            k, 0.8, total, f"alignment round {k + 1}: SIRT",
        )
        reproj = pr.forward(volume)
        delta = np.zeros((a, 2))
        for i in range(a):
            if not (np.any(reproj[i]) and np.any(aligned[i])):
                continue  # nothing to register (empty projection)
            d, _, _ = phase_cross_correlation(
                reproj[i], aligned[i], upsample_factor=upsample_factor, normalization=None
            )
            delta[i] = d
        if not vertical:
            delta[:, 0] = 0
        delta[:, 0] -= delta[:, 0].mean()
        if center is not None:
            delta[:, 1] -= delta[:, 1].mean()  # a given axis fixes the mean column
        shifts += delta
        change = float(np.sqrt(np.mean(delta**2)))
        history.append(change)
        logger.info("alignment round %d: RMS shift change %.3f px", k + 1, change)
        yield Progress(k + 1, total, f"alignment round {k + 1}: Δ {change:.3f} px", "align", None)
        if change < tolerance:
            converged = True
            break
        if control.should_finish:
            break
    if center is None:
        found = (n - 1) / 2 - float(shifts[:, 1].mean())
    return TiltAlignment(shifts, found, volume, np.asarray(history), converged)


def _round_progress(
    gen: Generator[Progress, None, Any], start: float, span: float, total: float, message: str
) -> Generator[Progress, None, Any]:
    """Run a nested generator, reporting its progress within one round (no preview)."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(start + span * p.fraction, total, message, "align", None)
