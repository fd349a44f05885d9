"""Initial probe and data conventions from the measured patterns themselves.

Probe. Without the object, the far field of the probe is its pupil; the mean
of many patterns of a weakly scattering object is close to ``|pupil|^2``, so
``sqrt(mean pattern)`` (above 5 % of its maximum, the rest set to zero) gives
the amplitude of the pupil -- its angular extent, a central stop, an
off-centre beam. Its phase (the defocus) is not in the mean pattern: the
candidates carry the quadratic pupil phase of a zone-plate spot of diameter
``D`` px at the sample,

``phi(k) = s pi D k^2 / (2 N R)``   (``k`` detector pixels from the centre,
``R`` the pupil radius, px, ``N`` the window, ``s = +-1``),

which is the geometric cone of half-angle ``R / N`` (pixels per pixel) that is
``D`` px wide at the sample. Every candidate (``D`` from 0 to 0.8 N, both
signs, and any probe the caller adds, e.g. from the optics recorded in the
file) runs a few ePIE iterations on the positions nearest the scan centre;
the one with the lowest Fourier error wins, and ``D`` is refined between its
neighbours.

Conventions. Patterns stored FFT-shifted (zero frequency in the corners) are
recognised by the mean pattern being brighter near the corners than near the
centre, and shifted back with a warning. Position conventions (rows and
columns swapped, either sign flipped) are tried the same way on a short run
with the chosen spot and both signs of the defocus (flipping both axes is the
same as the other sign: the object comes out conjugated and turned by 180
degrees, which the data cannot tell apart, so the convention as given is
kept in that case); when another convention fits the data clearly better
(Fourier error at least 10 % lower) the spot is searched again under it and
it is used, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ptyxanes.progress import Control, Progress

logger = logging.getLogger(__name__)

#: Candidate spot diameters as fractions of the window.
SPOT_FRACTIONS = (0.0, 0.06, 0.12, 0.2, 0.3, 0.42, 0.56, 0.7)
#: Position conventions: (swap rows/cols, flip rows, flip cols).
CONVENTIONS = tuple(
    (swap, fr, fc) for swap in (False, True) for fr in (False, True) for fc in (False, True)
)
#: One convention of each pair that differs by a 180-degree turn (flipping both axes),
#: which the other sign of the defocus makes equivalent.
CONVENTIONS_MOD180 = (
    (False, False, False),
    (False, False, True),
    (True, False, False),
    (True, False, True),
)


def _name(conv: tuple[bool, bool, bool]) -> str:
    if not any(conv):
        return "positions as given"
    parts = [
        w
        for w, on in zip(("rows/cols swapped", "rows flipped", "cols flipped"), conv, strict=True)
        if on
    ]
    return "with " + ", ".join(parts)


def is_fft_shifted(mean_pattern: NDArray[np.floating]) -> bool:
    """True when a mean diffraction pattern has its zero frequency in the corners.

    Compares the mean intensity within ``N/4`` of the array centre with that
    within ``N/4`` of the nearest corner.

    Parameters
    ----------
    mean_pattern : ndarray of shape (H, W)

    Returns
    -------
    shifted : bool

    Examples
    --------
    >>> yy, xx = np.mgrid[:32, :32]
    >>> m = np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / 20.0)
    >>> is_fft_shifted(m), is_fft_shifted(np.fft.ifftshift(m))
    (False, True)
    """
    m = np.asarray(mean_pattern, dtype=np.float64)
    h, w = m.shape
    yy, xx = np.mgrid[:h, :w]
    r_centre = np.hypot(yy - h // 2, xx - w // 2)
    r_corner = np.hypot(np.minimum(yy, h - yy), np.minimum(xx, w - xx))
    lim = min(h, w) / 4
    centre = float(m[r_centre < lim].mean())
    corner = float(m[r_corner < lim].mean())
    return corner > centre


def pupil_from_patterns(
    mean_pattern: NDArray[np.floating],
    mask: NDArray[np.bool_] | None = None,
    *,
    threshold: float = 0.05,
) -> tuple[NDArray[np.float64], float]:
    """Pupil amplitude and radius from the mean (detector-centred) pattern.

    Parameters
    ----------
    mean_pattern : ndarray of shape (H, W)
        Mean measured intensity, zero frequency at ``(H // 2, W // 2)``.
    mask : ndarray of bool, optional
        Bad pixels (True); filled from their 3 x 3 neighbours' median.
    threshold : float, optional
        Fraction of the maximum below which the amplitude is set to zero.

    Returns
    -------
    amplitude : ndarray of shape (H, W)
        ``sqrt(mean)`` above the threshold, else 0.
    radius : float
        Radius around the centre holding 95 % of the mean intensity, px.

    Examples
    --------
    >>> yy, xx = np.mgrid[:64, :64]
    >>> disk = (np.hypot(yy - 32, xx - 32) < 10).astype(float)
    >>> amp, r = pupil_from_patterns(disk)
    >>> 9 <= r <= 10.5
    True
    """
    from scipy import ndimage

    m = np.maximum(np.asarray(mean_pattern, dtype=np.float64), 0.0)
    if mask is not None and np.any(mask):
        med = ndimage.median_filter(m, size=3)
        m = np.where(mask, med, m)
    h, w = m.shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h // 2, xx - w // 2).ravel()
    order = np.argsort(r, kind="stable")
    cs = np.cumsum(m.ravel()[order])
    radius = float(r[order][min(np.searchsorted(cs, 0.95 * cs[-1]), r.size - 1)])
    amp = np.sqrt(m)
    amp[m < threshold * m.max()] = 0.0
    return amp, max(radius, 1.0)


def defocused_probe(
    amplitude: NDArray[np.floating], radius: float, spot: float, sign: int = 1
) -> NDArray[np.complex64]:
    """Probe whose pupil is ``amplitude`` with the quadratic phase of a ``spot`` px wide cone.

    Parameters
    ----------
    amplitude : ndarray of shape (N, N)
        Pupil amplitude, detector-centred.
    radius : float
        Pupil radius, px (the cone's half-angle is ``radius / N``).
    spot : float
        Spot diameter at the sample, px (0: in focus).
    sign : {1, -1}
        Downstream (1) or upstream (-1) of the focus.

    Returns
    -------
    probe : ndarray of complex64, shape (N, N)
        Centred in the window, ``sum |P|^2 = 1``.

    Examples
    --------
    >>> amp = (np.hypot(*np.mgrid[-16:16, -16:16]) < 8).astype(float)
    >>> p = defocused_probe(amp, 8.0, 12.0)
    >>> round(float((np.abs(p) ** 2).sum()), 3)
    1.0
    """
    a = np.asarray(amplitude, dtype=np.float64)
    h, w = a.shape
    yy, xx = np.mgrid[:h, :w]
    k2 = (yy - h // 2) ** 2 + (xx - w // 2) ** 2
    n = float(min(h, w))
    field_ = a * np.exp(-1j * sign * np.pi * spot * k2 / (2 * n * radius))
    p = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(field_)))
    s = float(np.sqrt((np.abs(p) ** 2).sum()))
    return (p / max(s, 1e-30)).astype(np.complex64)


def transform_positions(
    positions: NDArray[np.floating], convention: tuple[bool, bool, bool]
) -> NDArray[np.float64]:
    """Apply a position convention (swap, flip rows, flip cols), keeping the bounding box corner.

    Examples
    --------
    >>> transform_positions(np.array([[0.0, 1.0], [2.0, 5.0]]), (True, False, True)).tolist()
    [[5.0, 0.0], [1.0, 2.0]]
    """
    p = np.asarray(positions, dtype=np.float64).copy()
    swap, fr, fc = convention
    if swap:
        p = p[:, ::-1].copy()
    lo = p.min(axis=0)
    hi = p.max(axis=0)
    if fr:
        p[:, 0] = hi[0] + lo[0] - p[:, 0]
    if fc:
        p[:, 1] = hi[1] + lo[1] - p[:, 1]
    return p


@dataclass(frozen=True)
class ProbeEstimate:
    """Result of :func:`estimate_probe`.

    Attributes
    ----------
    probe : ndarray of complex64, shape (H, W)
        Chosen initial probe (``sum |P|^2 = 1``).
    spot : float or None
        Spot diameter of the chosen candidate, px (None: a caller's candidate won).
    sign : int
    pupil_radius : float
        px.
    convention : (bool, bool, bool)
        Position convention (swap, flip rows, flip cols) that fitted best.
    trials : list of (str, float)
        Every candidate's label and trial Fourier error.
    """

    probe: NDArray[np.complex64]
    spot: float | None
    sign: int
    pupil_radius: float
    convention: tuple[bool, bool, bool] = (False, False, False)
    trials: list[tuple[str, float]] = field(default_factory=list)


def _central_subset(corners: NDArray[np.float64], n: int) -> NDArray[np.intp]:
    c = np.asarray(corners, dtype=np.float64)
    centre = (c.min(axis=0) + c.max(axis=0)) / 2
    d = np.hypot(*(c - centre).T)
    return np.sort(np.argsort(d, kind="stable")[: min(n, len(c))])


def estimate_probe(
    data: NDArray[np.floating],
    corners: NDArray[np.floating],
    *,
    mask: NDArray[np.bool_] | None = None,
    extra: Sequence[tuple[str, NDArray[np.complexfloating]]] = (),
    positions_check: bool = True,
    subset: int = 80,
    iterations: int = 5,
    workers: int = 1,
    control: Control | None = None,
    label: str = "",
) -> Generator[Progress, None, ProbeEstimate]:
    """Choose the initial probe (and position convention) by the data error of short trial runs.

    Parameters
    ----------
    data : ndarray of shape (P, H, W)
        Measured intensities, detector-centred.
    corners : ndarray of shape (P, 2)
        Top-left corners of the probe window, px.
    mask : ndarray of bool, shape (H, W), optional
        Bad pixels (True).
    extra : sequence of (label, probe), optional
        Further candidates (e.g. the zone-plate probe of recorded optics).
    positions_check : bool, optional
        Also try the other position conventions (:data:`CONVENTIONS`).
    subset : int, optional
        Positions (nearest the scan centre) used by the trial runs.
    iterations : int, optional
        ePIE iterations of a trial (the probe is updated from the third).
    workers : int, optional
    control : Control, optional
    label : str, optional

    Returns
    -------
    estimate : ProbeEstimate

    Notes
    -----
    A trial costs ``iterations`` passes over ``subset`` patterns; 10 spot
    trials, 7 sign/convention trials (1 without ``positions_check``), and 10
    more when another convention wins.
    """
    from ptyxanes.progress import run_sync
    from ptyxanes.ptycho.engine import PtychoParams, reconstruct

    control = control or Control()
    d = np.asarray(data, dtype=np.float32)
    n_pos, h, w = d.shape
    mean = d.mean(axis=0)
    amp, radius = pupil_from_patterns(mean, mask)
    sub = _central_subset(np.asarray(corners, dtype=np.float64), subset)
    ds = d[sub]
    params = PtychoParams(
        algorithm="epie",
        iterations=iterations,
        probe_start=2,
        anneal=0.0,
        preview_every=0,
        workers=workers,
    )
    n = float(min(h, w))

    def trial(probe: NDArray[np.complexfloating], conv: tuple[bool, bool, bool]) -> float:
        control.check()
        c = transform_positions(np.asarray(corners, dtype=np.float64), conv)[sub]
        c = c - np.floor(c.min(axis=0)) + 1
        res = run_sync(reconstruct(ds, c, probe, params=params, mask=mask))
        e = res.errors[-2:]
        return float(np.mean(e)) if np.all(np.isfinite(e)) else np.inf

    trials: list[tuple[str, float]] = []
    ident = (False, False, False)
    total = 2 * len(SPOT_FRACTIONS) + len(extra) + 12
    done = 0

    def tick(msg: str) -> Progress:
        return Progress(min(done, total), total, f"{label}probe from the data: {msg}", "probe")

    def spot_search(
        conv: tuple[bool, bool, bool], sign: int
    ) -> Generator[Progress, None, tuple[float, NDArray[np.complex64], float]]:
        """Best spot on the grid, refined between its neighbours: (error, probe, spot)."""
        nonlocal done
        scored: dict[float, tuple[float, NDArray[np.complex64]]] = {}
        for f in SPOT_FRACTIONS:
            spot = f * n
            p = defocused_probe(amp, radius, spot, sign)
            scored[spot] = (trial(p, conv), p)
            trials.append((f"spot {spot:.1f} px, sign {sign:+d}, {_name(conv)}", scored[spot][0]))
            done += 1
            yield tick(f"spot {spot:.1f} px, error {scored[spot][0]:.4g}")
        spots = sorted(scored)
        i = min(range(len(spots)), key=lambda k: scored[spots[k]][0])
        for j in (i - 1, i + 1):
            if 0 <= j < len(spots):
                spot = (spots[i] + spots[j]) / 2
                p = defocused_probe(amp, radius, spot, sign)
                scored[spot] = (trial(p, conv), p)
                trials.append(
                    (f"spot {spot:.1f} px, sign {sign:+d}, {_name(conv)}", scored[spot][0])
                )
            done += 1
            yield tick("refining the spot")
        spot = min(scored, key=lambda k: scored[k][0])
        return scored[spot][0], scored[spot][1], spot

    err0, probe0, spot0 = yield from spot_search(ident, 1)
    best: tuple[float, NDArray[np.complex64], float | None, int, tuple[bool, bool, bool]] = (
        err0,
        probe0,
        spot0,
        1,
        ident,
    )
    # the other side of the focus (as given: a 180-degree turn of the positions
    # with the other sign fits the data as well, the object conjugated and reflected)
    for conv in CONVENTIONS_MOD180 if positions_check and n_pos >= 4 else (ident,):
        for sign in (1, -1):
            if conv == ident and sign == 1 or spot0 == 0:
                continue
            p = defocused_probe(amp, radius, spot0, sign)
            e = trial(p, conv)
            trials.append((f"spot {spot0:.1f} px, sign {sign:+d}, {_name(conv)}", e))
            done += 1
            yield tick(f"positions {_name(conv)}, error {e:.4g}")
            # another convention must fit clearly better (10 %) than the one given
            if e < (0.9 if conv != ident else 1.0) * best[0]:
                best = (e, p, spot0, sign, conv)
    if best[4] != ident:
        # the spot again, under the new convention
        e, p, spot_b = yield from spot_search(best[4], best[3])
        if e < best[0]:
            best = (e, p, spot_b, best[3], best[4])
        logger.warning(
            "%sthe positions fit the data better %s (trial error %.3g vs %.3g as given); "
            "using that convention",
            label,
            _name(best[4]),
            best[0],
            err0,
        )
    for name, p in extra:
        e = trial(np.asarray(p), best[4])
        trials.append((name, e))
        if e < best[0]:
            best = (e, np.asarray(p, np.complex64), None, 1, best[4])
        done += 1
        yield tick(f"{name}, error {e:.4g}")
    err, probe, spot, sign, conv = best
    logger.info(
        "%sprobe from the data: pupil radius %.1f px, %s (trial error %.4g)",
        label,
        radius,
        "a supplied candidate" if spot is None else f"spot {spot:.1f} px, sign {sign:+d}",
        err,
    )
    return ProbeEstimate(probe, spot, sign, radius, conv, trials)


__all__ = [
    "CONVENTIONS",
    "ProbeEstimate",
    "defocused_probe",
    "estimate_probe",
    "is_fft_shifted",
    "pupil_from_patterns",
    "transform_positions",
]
