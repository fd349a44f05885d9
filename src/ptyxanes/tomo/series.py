"""Align and reconstruct every energy of a spectral tilt series, then register the volumes."""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ptyxanes.align.registration import Registration, register_volumes
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Control, Progress, sub_progress
from ptyxanes.tomo.alignment import (
    TiltAlignment,
    align_tilt_series,
    find_rotation_center,
    mass_kept,
    shift_projections,
)
from ptyxanes.tomo.reconstruct import fbp, sirt

logger = logging.getLogger(__name__)

Algorithm = Literal["auto", "sirt", "fbp"]

SIRT_WORK_BUDGET = 1.5e9
"""``algorithm="auto"`` runs plain SIRT (from zero) when angles × columns² ×
rows × iterations is at most this many voxel-ray updates; larger problems start
SIRT from the FBP and run only as many iterations as this allows (at least
:data:`MIN_AUTO_ITERATIONS`)."""

MIN_AUTO_ITERATIONS = 10
"""Fewest SIRT iterations after an FBP start (``algorithm="auto"``)."""


def auto_sirt(shape: tuple[int, int, int], iterations: int) -> tuple[bool, int]:
    """How ``algorithm="auto"`` reconstructs projections of this shape.

    Parameters
    ----------
    shape : tuple of int
        (A, M, N) projections: angles, detector rows, columns.
    iterations : int
        SIRT iterations asked for.

    Returns
    -------
    from_fbp : bool
        Start SIRT from the (non-negative part of the) FBP rather than from zero.
    iterations : int
        SIRT iterations to run.

    Notes
    -----
    SIRT from zero recovers the low spatial frequencies first and needs
    hundreds of iterations for the finest ones, at a cost proportional to
    A · N² · M per iteration. On wide slices (the 640-column TomoPy tooth:
    1.5 · 10⁸ per iteration) the FBP gives every frequency at once; SIRT
    started from it then enforces non-negativity and lowers the data residual.

    Examples
    --------
    >>> auto_sirt((60, 24, 48), 200)
    (False, 200)
    >>> auto_sirt((181, 2, 640), 200)
    (True, 10)
    """
    a, m, n = (int(v) for v in shape)
    work = float(a) * n * n * m
    if work * iterations <= SIRT_WORK_BUDGET:
        return False, int(iterations)
    return True, int(min(iterations, max(MIN_AUTO_ITERATIONS, SIRT_WORK_BUDGET // work)))


@dataclass(frozen=True)
class EnergySeriesVolumes:
    """Per-energy volumes of a spectral tilt series.

    Parameters
    ----------
    volumes : ndarray of shape (E, P, M, N)
        Registered volumes (plane, row, col), in projection units per voxel
        (linear attenuation coefficient × voxel size for −ln|T| input).
    alignments : tuple of TiltAlignment
        Tilt-series alignment of every energy (``None`` entries when not aligned).
    registration : Registration or None
        3D registration of the volumes (``None`` for a single energy).
    attrs : dict, optional
        ``centers``: rotation-axis column of every energy, pixels (given, or
        found from the data); ``notes``: what was skipped and why;
        ``methods``: the reconstruction of every energy (:class:`EnergyVolume`).
    """

    volumes: NDArray[np.float32]
    alignments: tuple[TiltAlignment | None, ...]
    registration: Registration | None
    attrs: dict[str, Any] = field(default_factory=dict)


def reconstruct_energy_series(
    projections: NDArray[np.floating],
    angles: NDArray[np.floating],
    *,
    algorithm: Algorithm = "auto",
    iterations: int = 200,
    align: bool = True,
    center: float | None = None,
    max_outer: int = 10,
    register: bool = True,
    control: Control | None = None,
) -> Generator[Progress, None, EnergySeriesVolumes]:
    """Align and reconstruct every energy, then register the volumes in 3D.

    Parameters
    ----------
    projections : ndarray of shape (E, A, M, N)
        Line integrals (−ln|T|) per energy and angle.
    angles : ndarray of shape (A,)
        Degrees.
    algorithm : {"auto", "sirt", "fbp"}, optional
        Final reconstruction: SIRT from zero, FBP (quick previews), or
        ``"auto"``: plain SIRT when the problem is small, otherwise SIRT
        started from the FBP with fewer iterations (:func:`auto_sirt`).
    iterations : int, optional
        SIRT iterations of the final reconstruction.
    align : bool, optional
        Joint reprojection alignment of every energy (else only centring).
    center : float, optional
        Rotation-axis column, pixels; found from the data for every energy when
        None (by the alignment, or from the centre-of-mass sinusoid without it).
    max_outer : int, optional
        Alignment rounds.
    register : bool, optional
        Register the volumes to the first energy by 3D phase cross-correlation.
    control : Control, optional

    Returns
    -------
    result : EnergySeriesVolumes

    Raises
    ------
    ValueError
        Bad shapes; an alignment that moves most of the projected mass out of
        the field; a volume that is all zero, not finite, or holds almost none
        of the projected mass (never returned as a result).
    """
    control = control or Control()
    projections = np.asarray(projections)
    if projections.ndim != 4:
        raise ValueError(
            f"expected (energy, angle, row, col) projections, got shape {projections.shape}"
        )
    if algorithm not in ("auto", "sirt", "fbp"):
        raise ValueError(f"algorithm must be 'auto', 'sirt' or 'fbp', got {algorithm!r}")
    e_count = projections.shape[0]
    total = 3.0 * e_count + 1
    done: list[EnergyVolume] = []
    for e in range(e_count):
        control.check()
        r = yield from sub_progress(
            reconstruct_energy(
                projections[e], angles, index=e, count=e_count, algorithm=algorithm,
                iterations=iterations, align=align, center=center, max_outer=max_outer,
                control=control,
            ),
            3 * e,
            3,
            total,
        )
        done.append(r)
    return (yield from sub_progress(
        combine_energy_volumes(done, register=register, control=control), 3 * e_count, 1, total
    ))


@dataclass(frozen=True)
class EnergyVolume:
    """The aligned reconstruction of one energy of a spectral tilt series.

    Parameters
    ----------
    volume : ndarray of shape (P, M, N)
        Projection units per voxel; checked by :func:`check_volume`.
    alignment : TiltAlignment or None
        Tilt-series alignment (None when not aligned).
    center : float
        Rotation-axis column, pixels (given, or found from the data).
    notes : tuple of str
        What the alignment skipped or discarded, prefixed with the energy
        when the series has more than one.
    method : str
        The reconstruction that ran, e.g. ``"SIRT 200"``, ``"FBP + SIRT 13"``, ``"FBP"``.
    """

    volume: NDArray[np.floating]
    alignment: TiltAlignment | None
    center: float
    notes: tuple[str, ...] = ()
    method: str = ""


def reconstruct_energy(
    projections: NDArray[np.floating],
    angles: NDArray[np.floating],
    *,
    index: int = 0,
    count: int = 1,
    algorithm: Algorithm = "auto",
    iterations: int = 200,
    align: bool = True,
    center: float | None = None,
    max_outer: int = 10,
    control: Control | None = None,
) -> Generator[Progress, None, EnergyVolume]:
    """Align and reconstruct the tilt series of one energy (one step of :func:`reconstruct_energy_series`).

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
        Line integrals of this energy.
    angles : ndarray of shape (A,)
        Degrees.
    index, count : int, optional
        This energy's index and the number of energies (for messages).
    algorithm, iterations, align, center, max_outer, control
        See :func:`reconstruct_energy_series`.

    Yields
    ------
    progress : Progress
        Alignment in the first third, reconstruction in the rest.

    Returns
    -------
    result : EnergyVolume

    Raises
    ------
    ValueError
        An alignment that moves most of the projected mass out of the field;
        an empty, non-finite or massless volume.
    """
    control = control or Control()
    if algorithm not in ("auto", "sirt", "fbp"):
        raise ValueError(f"algorithm must be 'auto', 'sirt' or 'fbp', got {algorithm!r}")
    prep = yield from sub_progress(
        align_energy(projections, angles, index=index, count=count, align=align, center=center,
                     max_outer=max_outer, control=control),
        0, 1, 3, "align")
    aligned = prep.aligned(projections)
    c = prep.sirt_center
    if algorithm == "fbp":
        vol = fbp(aligned, angles, center=c)
        method = "FBP"
        yield Progress(3, 3, f"FBP energy {index + 1}", "tomo")
    else:
        from_fbp, its = (False, iterations) if algorithm == "sirt" else auto_sirt(
            aligned.shape, iterations)
        initial = np.clip(fbp(aligned, angles, center=c), 0, None) if from_fbp else None
        method = f"FBP + SIRT {its}" if from_fbp else f"SIRT {its}"
        if from_fbp:
            logger.info("%s: SIRT started from the FBP, %d iterations (%d angles x %d rows x "
                        "%d columns; algorithm 'sirt' for plain SIRT)", prep.where, its,
                        *aligned.shape)
        vol = yield from sub_progress(
            sirt(aligned, angles, iterations=its, center=c, initial=initial, control=control),
            1, 2, 3, "tomo")
    check_volume(vol, projections, prep.where)
    return EnergyVolume(vol, prep.alignment, prep.center, prep.notes, method)

@dataclass(frozen=True)
class EnergyAlignment:
    """How the projections of one energy go into its reconstruction (:func:`align_energy`).

    Parameters
    ----------
    alignment : TiltAlignment or None
        The tilt-series alignment (None when not aligned).
    shifts : ndarray of shape (A, 2) or None
        The (row, col) shifts applied to the projections before the
        reconstruction, pixels (None: none).
    sirt_center : float
        Rotation-axis column given to the reconstruction, pixels (the found or
        given axis; after an alignment, the detector centre moved by the mean
        column shift, which the reconstruction pads for instead of cutting).
    center : float
        Rotation-axis column of the input projections, pixels (given or found).
    notes : tuple of str
        What the alignment skipped or discarded, prefixed with the energy.
    where : str
        The energy as named in messages (``"energy 3 of 11"``).
    """

    alignment: TiltAlignment | None
    shifts: NDArray[np.float64] | None
    sirt_center: float
    center: float
    notes: tuple[str, ...]
    where: str

    def aligned(self, projections: NDArray[np.floating]) -> NDArray[np.floating]:
        """The projections the reconstruction starts from (shifted when aligned).

        Parameters
        ----------
        projections : ndarray of shape (A, M, N)
            The energy's line integrals, as given to :func:`align_energy`.

        Returns
        -------
        aligned : ndarray of shape (A, M, N)
            Every row depends on the rows of ``projections`` (vertical shifts):
            shift the whole tilt series before taking a slab of rows.
        """
        if self.shifts is None:
            return projections
        return shift_projections(projections, self.shifts)


def align_energy(
    projections: NDArray[np.floating],
    angles: NDArray[np.floating],
    *,
    index: int = 0,
    count: int = 1,
    align: bool = True,
    center: float | None = None,
    max_outer: int = 10,
    control: Control | None = None,
) -> Generator[Progress, None, EnergyAlignment]:
    """Align the tilt series of one energy, or find its rotation axis (first step of :func:`reconstruct_energy`).

    Parameters
    ----------
    projections : ndarray of shape (A, M, N)
        Line integrals of this energy.
    angles : ndarray of shape (A,)
        Degrees.
    index, count, align, center, max_outer, control
        See :func:`reconstruct_energy`.

    Returns
    -------
    prep : EnergyAlignment

    Raises
    ------
    ValueError
        An alignment that moves most of the projected mass out of the field.
    """
    control = control or Control()
    proj = projections
    where = f"energy {index + 1} of {count}" if count > 1 else "the tilt series"
    notes: list[str] = []
    if align:
        al = yield from align_tilt_series(proj, angles, center=center, max_outer=max_outer,
                                          control=control)
        kept = mass_kept(proj, al.shifts)
        if kept < 0.5:
            raise ValueError(
                f"alignment of {where} moves {100 * (1 - kept):.0f} % of the projected mass "
                "out of the field; reconstruct without alignment (--no-align) or give --center"
            )
        notes += [f"{where}: {n}" if count > 1 else n for n in al.attrs.get("notes", ())]
        # the per-projection corrections move the projections; the common column shift
        # (the axis) is left to the reconstruction, which pads instead of cutting
        jitter = np.array(al.shifts, dtype=float)
        axis_shift = float(jitter[:, 1].mean())
        jitter[:, 1] -= axis_shift
        c = (proj.shape[2] - 1) / 2 - axis_shift
        return EnergyAlignment(al, jitter, c, float(al.center), tuple(notes), where)
    c = find_rotation_center(proj, angles) if center is None else float(center)
    if center is None:
        logger.info("%s: rotation axis found at column %.2f", where, c)
    yield Progress(1, 1, "rotation axis", "align")
    return EnergyAlignment(None, None, float(c), float(c), (), where)


def combine_energy_volumes(
    results: Sequence[EnergyVolume],
    *,
    register: bool = True,
    control: Control | None = None,
) -> Generator[Progress, None, EnergySeriesVolumes]:
    """Stack the energies' volumes (in energy order) and register them in 3D.

    Parameters
    ----------
    results : sequence of EnergyVolume
        :func:`reconstruct_energy` of every energy, in energy order.
    register : bool, optional
        Register the volumes to the first energy (with more than one energy).
    control : Control, optional

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : EnergySeriesVolumes
    """
    control = control or Control()
    vols = np.stack([r.volume for r in results])
    reg = None
    if register and len(results) > 1:
        vols, reg = yield from sub_progress(
            register_volumes(vols, control=control), 0, 1, 1, "register"
        )
    yield Progress(1, 1, "done", "register")
    return EnergySeriesVolumes(
        vols.astype(np.float32), tuple(r.alignment for r in results), reg,
        {"centers": tuple(r.center for r in results),
         "notes": tuple(n for r in results for n in r.notes),
         "methods": tuple(r.method for r in results)},
    )


def common_pixel(pixel_sizes: NDArray[np.floating], pixel_size: float | None = None
                 ) -> tuple[float | None, float]:
    """The pixel every energy's projections are brought onto.

    Parameters
    ----------
    pixel_sizes : ndarray of shape (E,)
        Pixel of every energy, m.
    pixel_size : float, optional
        Asked pixel, m.

    Returns
    -------
    target : float or None
        Pixel to rescale to, m (None: no rescaling). By default the coarsest
        one when the energies' pixels differ by more than 0.1 %.
    pixel : float
        The reconstruction's pixel (voxel) size, m.
    """
    ps = np.asarray(pixel_sizes, dtype=float)
    if pixel_size is None and np.ptp(ps) > 1e-3 * ps.mean():
        pixel_size = float(ps.max())
    return pixel_size, (float(pixel_size) if pixel_size is not None else float(ps.mean()))


def energy_line_integrals(data: NDArray[Any], kind: str, from_pixel: float,
                          to_pixel: float | None) -> NDArray[np.float32]:
    """One energy's tilt series (A, M, N) rescaled to a pixel, as line integrals.

    Parameters
    ----------
    data : ndarray of shape (A, M, N)
        Complex T, |T| or −ln|T| (``kind``).
    kind : {"complex", "modulus", "absorption"}
    from_pixel : float
        Pixel of this energy, m.
    to_pixel : float or None
        Pixel to rescale to, m (None: kept).

    Returns
    -------
    line_integrals : ndarray, float32
        :func:`attenuation_line_integrals` of the (rescaled) projections.
    """
    from ptyxanes.align.registration import rescale_image

    data = np.asarray(data)
    if to_pixel is not None:
        data = np.stack([rescale_image(np.asarray(data[a]), from_pixel, to_pixel)
                         for a in range(data.shape[0])])
    return attenuation_line_integrals(data, kind)


def volume_stack(volumes: NDArray[np.floating], energy: NDArray[np.floating], pixel: float
                 ) -> ImageStack:
    """Volumes in projection units per voxel -> an ImageStack of μ (1/m), negatives clipped.

    Parameters
    ----------
    volumes : ndarray of shape (E, P, M, N)
    energy : ndarray of shape (E,)
        eV.
    pixel : float
        Voxel size, m.

    Returns
    -------
    stack : ImageStack
        Kind ``"absorption"``, dims (energy, plane, row, col).
    """
    mu = np.clip(volumes, 0, None) / pixel
    return ImageStack(
        mu.astype(np.float32),
        np.asarray(energy, dtype=float),
        np.full(len(energy), pixel),
        kind="absorption",
        dims=("energy", "plane", "row", "col"),
    )


MIN_VOLUME_MASS = 0.1
"""A volume whose total is below this fraction of the mean projected mass is an
error: the data did not go into it (mass pushed out of the field, wrong geometry)."""


def check_volume(volume: NDArray[np.floating], projections: NDArray[np.floating], where: str) -> None:
    """Refuse an empty, non-finite or massless reconstruction.

    Parameters
    ----------
    volume : ndarray of shape (P, M, N)
        Reconstruction, projection units per voxel.
    projections : ndarray of shape (A, M, N)
        The projections it came from.
    where : str
        What is named in the error (e.g. ``"energy 3 of 11"``).

    Raises
    ------
    ValueError
        NaN or inf in the volume; all of it zero; or, when the projections
        hold positive mass, a volume total below :data:`MIN_VOLUME_MASS` of
        the mean projected total (in parallel beam every projection of a
        sample inside the field integrates the whole volume).

    Examples
    --------
    >>> check_volume(np.ones((2, 1, 2)), np.full((3, 1, 2), 2.0), "x")
    >>> check_volume(np.zeros((2, 1, 2)), np.full((3, 1, 2), 2.0), "x")
    Traceback (most recent call last):
    ...
    ValueError: the reconstructed volume of x is all zero: no data went into it
    """
    v = np.asarray(volume)
    if v.size == 0:
        raise ValueError(f"the reconstructed volume of {where} is empty")
    finite = np.isfinite(v)
    if not finite.all():
        bad = 100.0 * (1 - finite.mean())
        raise ValueError(f"the reconstructed volume of {where} has {bad:.1f} % NaN or inf voxels")
    if not np.any(v):
        raise ValueError(f"the reconstructed volume of {where} is all zero: no data went into it")
    expected = float(np.asarray(projections, dtype=np.float64).sum(axis=(1, 2)).mean())
    total = float(v.sum(dtype=np.float64))
    if expected > 0 and total < MIN_VOLUME_MASS * expected:
        raise ValueError(
            f"the reconstructed volume of {where} holds {100 * total / expected:.1f} % of the "
            "mass in its projections: the data did not go into it (sample outside the field or "
            "wrong geometry)"
        )


def attenuation_line_integrals(data: NDArray[Any], kind: str) -> NDArray[np.float32]:
    """Line integrals of the linear attenuation coefficient, ``∫μ dl = −2 ln|T|``.

    Parameters
    ----------
    data : ndarray
        Complex transmission T, its modulus |T|, or −ln|T| ("absorption").
    kind : {"complex", "modulus", "absorption"}

    Returns
    -------
    line_integrals : ndarray, float32

    Notes
    -----
    |T| is the amplitude transmission; the intensity transmission is
    |T|² = exp(−∫μ dl), hence the factor 2.

    Examples
    --------
    >>> float(attenuation_line_integrals(np.array([np.exp(-0.5)]), "modulus")[0])
    1.0
    """
    if kind == "complex":
        out = -2.0 * np.log(np.clip(np.abs(data), 1e-6, None))
    elif kind == "modulus":
        out = -2.0 * np.log(np.clip(np.asarray(data, dtype=float), 1e-6, None))
    elif kind == "absorption":
        out = 2.0 * np.asarray(data, dtype=float)
    else:
        raise ValueError(f"unknown stack kind {kind!r}")
    return out.astype(np.float32)


def reconstruct_tilt_stack(
    stack: ImageStack,
    *,
    pixel_size: float | None = None,
    algorithm: Algorithm = "auto",
    iterations: int = 200,
    align: bool = True,
    center: float | None = None,
    max_outer: int = 10,
    register: bool = True,
    control: Control | None = None,
) -> Generator[Progress, None, tuple[ImageStack, EnergySeriesVolumes]]:
    """Tilt-series ImageStack (E, A, M, N) -> volumes of μ (1/m), kind "absorption".

    Parameters
    ----------
    stack : ImageStack
        Tilt series with ``angle`` set (complex, modulus or absorption kind).
    pixel_size : float, optional
        Rescale every projection to this pixel size, m. By default, energies
        whose pixel sizes differ (λz/(Np) changes with energy) are all
        brought onto the coarsest one (never upsampled).
    algorithm, iterations, align, center, max_outer, register, control
        See :func:`reconstruct_energy_series`.

    Returns
    -------
    volumes : ImageStack
        (energy, plane, row, col) linear attenuation coefficient, 1/m, kind
        ``"absorption"``, ``dims=("energy", "plane", "row", "col")``.
    result : EnergySeriesVolumes
        Alignments and the 3D registration.

    Raises
    ------
    ValueError
        Not a tilt series.
    """
    if not stack.is_3d or stack.angle is None:
        raise ValueError(
            f"expected an (energy, angle, row, col) tilt series, got {stack.data.shape}"
        )
    ps = np.asarray(stack.pixel_size, dtype=float)
    target, pixel = common_pixel(ps, pixel_size)
    proj = np.stack([energy_line_integrals(np.asarray(stack.data[e]), stack.kind, ps[e], target)
                     for e in range(stack.n_energies)])
    res = yield from reconstruct_energy_series(
        proj,
        np.asarray(stack.angle, dtype=float),
        algorithm=algorithm,
        iterations=iterations,
        align=align,
        center=center,
        max_outer=max_outer,
        register=register,
        control=control,
    )
    return volume_stack(res.volumes, stack.energy, pixel), res
