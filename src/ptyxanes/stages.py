"""One implementation per processing stage: import, reconstruct, register, tomography, fit, segment.

Every stage is a generator function ``<stage>_stage(input, params, control=None)``
that yields :class:`~ptyxanes.progress.Progress` and returns its result, with a
frozen parameter dataclass whose field defaults are the only place the stage's
defaults are written. The command line (``ptyxanes align``, ``fit`` ...), the
pipeline (:mod:`ptyxanes.pipeline`, its TOML tables) and the GUI's forms and
workers all build these dataclasses and call these functions, so the same input
and the same parameters give the same arrays whichever door is used.

==============  ========================  ==============================  =====================
stage           parameters                input                           result
==============  ========================  ==============================  =====================
import          :class:`ImportParams`     stack file                      ImageStack
reconstruct     :class:`ReconstructParams` CXI scans                      ImageStack (complex)
register        :class:`RegisterParams`   2D stack (E, M, N)              (ImageStack, Registration)
tomo            :class:`TomoParams`       tilt series (E, A, M, N)        (ImageStack, volumes)
fit             :class:`FitParams`        stack (E, [P,] M, N)            XanesResult
segment         :class:`SegmentParams`    valence map/volume              SegmentResult
==============  ========================  ==============================  =====================
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from ptyxanes.align.registration import DEFAULT_PIXEL_SIZE
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Control, Progress, sub_progress
from ptyxanes.ptycho.engine import PtychoParams
from ptyxanes.ptycho.series import SeriesParams
from ptyxanes.xanes.batch import FitOptions

logger = logging.getLogger(__name__)

_P = TypeVar("_P")

#: Stacks whose file is larger than this (bytes) are read lazily by :func:`import_stage`.
LAZY_ABOVE_BYTES = 1_500_000_000


def params_from_dict(cls: type[_P], values: Mapping[str, Any], where: str = "") -> _P:
    """Build a parameter dataclass from plain data (a TOML table, a GUI form).

    Parameters
    ----------
    cls : type
        One of the ``*Params`` dataclasses of this module.
    values : mapping of str to object
        Field values; missing fields keep their defaults. Lists become tuples.
    where : str, optional
        Where the values come from, for the error message (e.g. ``"[align]"``).

    Returns
    -------
    params : cls

    Raises
    ------
    ValueError
        An unknown field name (the message lists the known ones).

    Examples
    --------
    >>> params_from_dict(SegmentParams, {"threshold": 2.9}).threshold
    2.9
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}{' in ' + where if where else ''}; "
                         f"known: {sorted(names)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**clean)


def params_as_dict(params: Any) -> dict[str, Any]:
    """Parameters as plain JSON-able data (tuples become lists), for provenance and projects.

    Parameters
    ----------
    params : dataclass instance

    Returns
    -------
    values : dict of str to object
    """
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        return v

    out: dict[str, Any] = plain(params)
    return out


# ----------------------------------------------------------------------------- import
@dataclass(frozen=True)
class ImportParams:
    """Parameters of the import stage.

    Parameters
    ----------
    lazy_above : int
        NeXus stack files larger than this many bytes stay on disk (h5py
        slices); smaller ones are read whole, so a pixel's spectrum is a memory
        slice. Other formats are always read into memory.
    energies : str or None
        File of energies (eV, or keV when all below 100) replacing the stored
        ones, one per image or per file.
    angles : str or None
        File of rotation angles (deg), one per file of a tilt series.
    i0 : str or None
        Incident-flux file (energy eV, counts) of an STXM stack.
    format : str or None
        Force a format of :data:`ptyxanes.io.formats.FORMATS`; None detects it
        from the content.
    """

    lazy_above: int = LAZY_ABOVE_BYTES
    energies: str | None = None
    angles: str | None = None
    i0: str | None = None
    format: str | None = None


def import_stage(
    path: str | Path | Sequence[str | Path],
    params: ImportParams | None = None,
    control: Control | None = None,
) -> Generator[Progress, None, ImageStack]:
    """Read any supported stack: NeXus, reconstructions of other codes, STXM, TIFF, tomography.

    Parameters
    ----------
    path : path-like or sequence of path-like
        A file or folder, or several per-energy files (see
        :func:`ptyxanes.io.formats.open_stack`).
    params : ImportParams, optional
    control : Control, optional
        Checked between files.

    Yields
    ------
    progress : Progress

    Returns
    -------
    stack : ImageStack

    Raises
    ------
    FormatError
        The input is not a readable stack (the message names the file, the
        format tried and the problem).
    """
    from ptyxanes.io.formats import iter_open_stack

    params = params or ImportParams()
    control = control or Control()
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    lazy = all(p.is_file() and p.stat().st_size > params.lazy_above for p in paths)
    return (yield from iter_open_stack(
        paths[0] if len(paths) == 1 else paths, energies=params.energies,
        angles=params.angles, i0=params.i0, format=params.format, lazy=lazy, control=control))


# ----------------------------------------------------------------------------- reconstruct
@dataclass(frozen=True)
class ReconstructParams:
    """Parameters of the ptychography reconstruction of an energy (or tilt) series.

    Parameters
    ----------
    ptycho : PtychoParams
        Per-scan engine parameters (algorithm, iterations, modes ...).
    series : SeriesParams
        Series parameters (pixel mode, warm start, probe optics in m, parallel jobs).
    """

    ptycho: PtychoParams = field(default_factory=PtychoParams)
    series: SeriesParams = field(default_factory=SeriesParams)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], where: str = "[reconstruct]"
                  ) -> ReconstructParams:
        """Split one flat table of fields between :class:`PtychoParams` and :class:`SeriesParams`.

        Parameters
        ----------
        values : mapping of str to object
            Fields of either dataclass.
        where : str, optional
            Source named in the error message.

        Returns
        -------
        params : ReconstructParams

        Raises
        ------
        ValueError
            A name that is a field of neither.
        """
        pk = {f.name for f in dataclasses.fields(PtychoParams)}
        sk = {f.name for f in dataclasses.fields(SeriesParams)}
        unknown = sorted(set(values) - pk - sk)
        if unknown:
            raise ValueError(f"unknown reconstruct parameter(s) {unknown} in {where}")
        return cls(
            params_from_dict(PtychoParams, {k: v for k, v in values.items() if k in pk}),
            params_from_dict(SeriesParams, {k: v for k, v in values.items() if k in sk}),
        )


def reconstruct_stage(
    scans: Sequence[Any], params: ReconstructParams | None = None,
    control: Control | None = None,
) -> Generator[Progress, None, ImageStack]:
    """Reconstruct every scan of a series into a complex stack.

    Parameters
    ----------
    scans : sequence of ptyxanes.io.cxi.CXIScan
        One scan per energy (and angle).
    params : ReconstructParams, optional
    control : Control, optional
        Cancellation.

    Yields
    ------
    progress : Progress
        With live previews of the object.

    Returns
    -------
    stack : ImageStack
        ``(energy, row, col)``, or ``(energy, angle, row, col)`` for a tilt series;
        kind ``"complex"``; pixel size per energy, m.
    """
    from ptyxanes.ptycho.series import reconstruct_series

    params = params or ReconstructParams()
    res = yield from reconstruct_series(list(scans), params.ptycho, params.series,
                                        control=control)
    dims = ("energy", "row", "col") if res.angle is None else ("energy", "angle", "row", "col")
    return ImageStack(res.objects, np.asarray(res.energy, float),
                      np.asarray(res.pixel_size, float), kind="complex", angle=res.angle,
                      dims=dims, attrs={"title": "ptychography"})


# ----------------------------------------------------------------------------- register
@dataclass(frozen=True)
class RegisterParams:
    """Parameters of the 2D energy registration (``ptyxanes align``).

    Parameters
    ----------
    pixel_size : float
        Common pixel size every energy is rescaled to first, m.
    reference : int or None
        Reference energy index; None registers each energy to its neighbour
        and accumulates (chain).
    channel : {"phase", "modulus"}
        What is registered for complex data.
    method : {"fourier", "spline"}
        How the shifts are applied.
    upsample_factor : int
        Sub-pixel precision of the cross-correlation, 1/N pixel.
    shifts : tuple of (float, float), optional
        Hand-edited shifts (pixels at ``pixel_size``, one (row, col) per
        energy) re-applied instead of registering.
    """

    pixel_size: float = DEFAULT_PIXEL_SIZE
    reference: int | None = 0
    channel: Literal["phase", "modulus"] = "phase"
    method: Literal["fourier", "spline"] = "fourier"
    upsample_factor: int = 100
    shifts: tuple[tuple[float, float], ...] | None = None


def register_stage(
    stack: ImageStack, params: RegisterParams | None = None, control: Control | None = None
) -> Generator[Progress, None, tuple[ImageStack, Any]]:
    """Rescale a 2D energy stack to one pixel size, register the energies, shift and crop.

    Parameters
    ----------
    stack : ImageStack
        ``(energy, row, col)``.
    params : RegisterParams, optional
    control : Control, optional

    Yields
    ------
    progress : Progress

    Returns
    -------
    aligned : ImageStack
        On ``params.pixel_size``, cropped to the region valid at every energy.
    registration : ptyxanes.align.Registration
        Shifts (pixels), residuals and outlier flags.

    Raises
    ------
    ValueError
        A 4-D stack, a non-positive pixel size, or shifts that do not fit the energies.
    """
    from ptyxanes.align import align_image_stack

    params = params or RegisterParams()
    if stack.is_3d:
        raise ValueError(f"registration needs a 2D (energy, row, col) stack, got shape "
                         f"{tuple(stack.data.shape)}; tilt series are aligned by tomography")
    if not params.pixel_size > 0:
        raise ValueError(f"pixel_size must be positive, got {params.pixel_size} m")
    given = None if params.shifts is None else np.asarray(params.shifts, dtype=float)
    if given is not None and given.shape != (stack.n_energies, 2):
        raise ValueError(f"{given.shape[0]} shifts given for {stack.n_energies} energies")
    aligned, reg = yield from align_image_stack(
        stack, pixel_size=params.pixel_size, reference=params.reference,
        channel=params.channel, method=params.method, upsample_factor=params.upsample_factor,
        shifts=given, control=control)
    return aligned, reg


def registration_table(stack: ImageStack, registration: Any) -> dict[str, NDArray[Any]]:
    """The per-energy registration table kept in a project (``/entry/tables/align``).

    Parameters
    ----------
    stack : ImageStack
        The registered stack (for its energies, eV).
    registration : ptyxanes.align.Registration

    Returns
    -------
    table : dict of str to ndarray of shape (E,)
        ``shifts_row``, ``shifts_col`` (pixels), ``residual``, ``outlier``, ``energy`` (eV).
    """
    return {"shifts_row": np.asarray(registration.shifts[:, 0], float),
            "shifts_col": np.asarray(registration.shifts[:, 1], float),
            "residual": np.asarray(registration.residual, float),
            "outlier": np.asarray(registration.outliers).astype(np.uint8),
            "energy": np.asarray(stack.energy, dtype=float)}


# ----------------------------------------------------------------------------- tomography
@dataclass(frozen=True)
class TomoParams:
    """Parameters of the tomography of every energy of a tilt series.

    Parameters
    ----------
    pixel_size : float or None
        Rescale every projection to this pixel size, m; None keeps it (the
        coarsest when energies differ).
    algorithm : {"sirt", "fbp", "auto"}
        ``"auto"`` (default): plain SIRT, or SIRT from the FBP on wide slices
        (:func:`ptyxanes.tomo.auto_sirt`).
    iterations : int
        SIRT iterations per energy.
    align : bool
        Joint reprojection alignment of the tilt series.
    center : float or None
        Rotation-axis column, pixels; None finds it from the data.
    max_outer : int
        Most alignment rounds.
    """

    pixel_size: float | None = None
    algorithm: Literal["sirt", "fbp", "auto"] = "auto"
    iterations: int = 200
    align: bool = True
    center: float | None = None
    max_outer: int = 10


def tomo_stage(
    stack: ImageStack, params: TomoParams | None = None, control: Control | None = None
) -> Generator[Progress, None, tuple[ImageStack, Any]]:
    """Align and reconstruct every energy of a tilt series, then register the volumes.

    Parameters
    ----------
    stack : ImageStack
        ``(energy, angle, row, col)`` with ``angle`` (degrees).
    params : TomoParams, optional
    control : Control, optional

    Yields
    ------
    progress : Progress

    Returns
    -------
    volumes : ImageStack
        ``(energy, plane, row, col)`` of μ (1/m).
    series : ptyxanes.tomo.EnergySeriesVolumes
        Alignment and registration details.

    Raises
    ------
    ValueError
        Not a tilt series.
    """
    from ptyxanes.tomo import reconstruct_tilt_stack

    params = params or TomoParams()
    if not stack.is_3d or stack.angle is None:
        raise ValueError(f"tomography needs an (energy, angle, row, col) tilt series with "
                         f"angles, got shape {tuple(stack.data.shape)}")
    if not isinstance(stack.data, np.ndarray):
        stack = dataclasses.replace(stack, data=np.asarray(stack.data))
    volumes, series = yield from reconstruct_tilt_stack(
        stack, pixel_size=params.pixel_size, algorithm=params.algorithm,
        iterations=params.iterations, align=params.align, center=params.center,
        max_outer=params.max_outer, control=control)
    return volumes, series


# ----------------------------------------------------------------------------- fit
#: Sample-mask threshold of the fit stage: ``"auto"`` = the edge jump significant against
#: each pixel's own pre-edge noise (``FitOptions.mask_sigma``), no background needed.
DEFAULT_THRESHOLD: float | str = "auto"

#: Names of :class:`FitParams` fields that are not :class:`~ptyxanes.xanes.FitOptions` fields.
_FIT_OWN = ("threshold", "references", "energy_shift", "foil", "ref_shift", "ref_calibration",
            "calibration", "chunk_spectra", "ref_match")


@dataclass(frozen=True)
class FitParams:
    """Parameters of the XANES fit of every pixel or voxel.

    Build with :meth:`for_edge` (or :meth:`from_flat`): the windows, e0 and
    normalisation then follow from the edge through
    :meth:`ptyxanes.xanes.FitOptions.for_edge`, the one place of the fit's
    defaults; ``FitParams()`` is the Ni K-edge default.

    Parameters
    ----------
    options : FitOptions
        Edge, normalisation windows (eV), e0 (eV), method (``"auto"``), shape,
        ``mask_sigma`` ...
    threshold : float or {"auto", "otsu"}
        Sample mask: ``"auto"`` = edge jump significant against the pixel's own
        pre-edge noise (``options.mask_sigma``); ``"otsu"`` = Otsu threshold of
        the edge-jump histogram; a number = edge-jump threshold in units of the
        absorption.
    references : tuple of (float, str)
        ``(valence, path)`` of the calibration reference spectra; empty: the
        shipped NiO (2) and LiNiO2 (3), which exist for the Ni K edge only.
        Always explicit: nothing is taken from the folder the data came from
        unless listed here.
    energy_shift : float or None
        Shift added to the stack's energies, eV (a known calibration offset);
        overrides ``foil``.
    foil : str or None
        A metal-foil spectrum measured with the stack (on its energy scale): the
        stack's energies are shifted so that its first inflection sits at the
        tabulated edge energy.
    ref_shift : float or None
        Shift added to every reference's energies, eV, instead of the automatic
        calibration from a reference's own foil channel (XDI ``mu_ref``).
    ref_calibration : bool
        Calibrate references from their foil channel when they have one.
    ref_match : (float, str) or None
        ``(valence, path)``: a spectrum of the compound of the reference with
        that valence, measured with the data (on the tabulated scale after its
        own foil channel). The whole reference set is broadened and shifted so
        that this reference superposes on it
        (:func:`~ptyxanes.xanes.energy.resolution_match`): references from an
        instrument of other energy resolution and scale, e.g. the shipped set.
        With matched references, ``method="auto"`` fits their linear
        combination (``"lcf"``).
    calibration : {"linear", "piecewise"}
        Edge-energy to valence calibration: one line through the references, or
        straight segments through them.
    chunk_spectra : int
        Spectra held in memory at once (cancel latency ~ one chunk).
    """

    options: FitOptions = field(default_factory=FitOptions.for_edge)
    threshold: float | str = DEFAULT_THRESHOLD
    references: tuple[tuple[float, str], ...] = ()
    energy_shift: float | None = None
    foil: str | None = None
    ref_shift: float | None = None
    ref_calibration: bool = True
    calibration: Literal["linear", "piecewise"] = "linear"
    chunk_spectra: int = 131072
    ref_match: tuple[float, str] | None = None

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, str) and t not in ("auto", "otsu"):
            raise ValueError(f"threshold must be a number, 'auto' or 'otsu', got {t!r}")
        if self.calibration not in ("linear", "piecewise"):
            raise ValueError(f"calibration must be 'linear' or 'piecewise', "
                             f"got {self.calibration!r}")

    @property
    def edge(self) -> str:
        """The edge name, e.g. ``"Fe-L3"``."""
        return str(self.options.edge)

    @property
    def edge_spec(self) -> Any:
        """The :class:`~ptyxanes.xanes.edges.EdgeSpec` with these windows (labels, energies)."""
        return self.options.edge_spec

    @classmethod
    def for_edge(cls, edge: str = "Ni-K", **values: Any) -> FitParams:
        """Parameters for an edge; every value that is None keeps its default.

        Parameters
        ----------
        edge : str, optional
            ``"Ni-K"``, ``"Fe-L3"`` … (see :data:`ptyxanes.xanes.edges.COMMON_EDGES`).
        **values
            Fields of this class (``threshold``, ``references``, ``energy_shift`` …)
            and of :class:`~ptyxanes.xanes.FitOptions` (``window``, ``pre_edge``,
            ``post_edge``, ``e0`` in eV, ``method``, ``shape``, ``mask_sigma`` …).

        Returns
        -------
        params : FitParams

        Raises
        ------
        ValueError
            An unknown name, an unknown edge or an impossible value.

        Examples
        --------
        >>> p = FitParams.for_edge("Fe-L3", window=None)
        >>> p.options.window == FitOptions.for_edge("Fe-L3").window
        True
        >>> FitParams.for_edge("Ni-K") == FitParams()
        True
        """
        vals = {k: v for k, v in values.items() if v is not None}
        opt_names = {f.name for f in dataclasses.fields(FitOptions)}
        unknown = sorted(set(vals) - opt_names - set(_FIT_OWN))
        if unknown:
            raise ValueError(f"unknown fit parameter(s) {unknown}; known: "
                             f"{sorted(opt_names | set(_FIT_OWN))}")
        own = {k: v for k, v in vals.items() if k in _FIT_OWN}
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in vals.items()
                if k not in _FIT_OWN and k != "edge"}
        if "references" in own:
            own["references"] = tuple((float(v), str(p)) for v, p in own["references"])
        if "ref_match" in own:
            own["ref_match"] = (float(own["ref_match"][0]), str(own["ref_match"][1]))
        return cls(options=FitOptions.for_edge(edge, **opts), **own)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], where: str = "[fit]") -> FitParams:
        """Build from one flat table: :class:`FitOptions` fields (with ``edge``) plus this class's own.

        Parameters
        ----------
        values : mapping of str to object
        where : str, optional
            Source named in the error message.

        Returns
        -------
        params : FitParams

        Raises
        ------
        ValueError
            An unknown name (the message names ``where``).
        """
        vals = dict(values)
        edge = str(vals.pop("edge", None) or FitOptions().edge)
        try:
            return cls.for_edge(edge, **vals)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{exc} in {where}") from exc


def load_references(references: Sequence[tuple[float, str]], edge: str = "Ni-K") -> list[Any]:
    """Read reference spectra with their valences; the shipped ones when none are given.

    Parameters
    ----------
    references : sequence of (float, str)
        ``(valence, path)`` pairs.
    edge : str, optional
        The edge fitted: shipped references exist for ``"Ni-K"`` only.

    Returns
    -------
    spectra : list of ptyxanes.io.spectra.Spectrum
        With ``valence`` set.

    Raises
    ------
    ValueError
        No references given for an edge without shipped ones.
    """
    from ptyxanes.io.spectra import read_spectrum

    if not references:
        from ptyxanes.xanes.edges import edge_spec

        name = edge_spec(edge).name
        if name != "Ni-K":
            raise ValueError(f"no shipped references for {name}: give two or more reference "
                             "spectra with their valences")
        from ptyxanes.xanes.calibration import default_references

        return list(default_references())
    return [read_spectrum(p, valence=float(v)) for v, p in references]


def folder_references(folder: str | Path) -> tuple[tuple[float, str], ...]:
    """The reference spectra of a folder that state their valence (e.g. a dataset's ``references/``).

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    references : tuple of (float, str)
        ``(valence, path)`` of every readable spectrum with a valence ≥ 1, sorted
        by file name; empty when fewer than two.
    """
    from ptyxanes.io.spectra import read_spectrum

    out = []
    for f in sorted(Path(folder).glob("*")):
        try:
            spec = read_spectrum(f)
        except Exception:  # not a spectrum (README, plot ...)
            continue
        if spec.valence is not None and spec.valence >= 1.0:
            out.append((float(spec.valence), str(f)))
    return tuple(out) if len(out) >= 2 else ()


def reference_spectra(params: FitParams) -> tuple[list[Any], dict[str, Any]]:
    """The references of ``params`` on the calibrated energy scale, with the shifts applied.

    Parameters
    ----------
    params : FitParams

    Returns
    -------
    spectra : list of ptyxanes.io.spectra.Spectrum
        Shifted copies (valence set).
    shifts : dict of str to ptyxanes.xanes.energy.EnergyShift
        ``"reference <name> (valence v)"`` → the shift applied (eV).
    """
    from ptyxanes.xanes.energy import NO_SHIFT, calibrate_reference_energy

    spec = params.edge_spec
    shifts: dict[str, Any] = {}
    out = []
    for r in load_references(params.references, spec.name):
        if not params.ref_calibration and params.ref_shift is None:
            r2, sh = r, NO_SHIFT
        else:
            r2, sh = calibrate_reference_energy(r, spec.name, shift=params.ref_shift)
        shifts[f"reference {r.name or r.path} (valence {r.valence:g})"] = sh
        out.append(r2)
    if params.ref_match is not None:
        out, shifts = _match_references(params, out, shifts)
    return out, shifts


def _match_references(params: FitParams, refs: list[Any], shifts: dict[str, Any]
                      ) -> tuple[list[Any], dict[str, Any]]:
    """The references broadened and shifted onto ``params.ref_match`` (resolution_match)."""
    from ptyxanes.io.spectra import read_spectrum
    from ptyxanes.xanes.energy import (
        broadened,
        calibrate_reference_energy,
        resolution_match,
        shifted,
    )
    from ptyxanes.xanes.normalize import normalize

    assert params.ref_match is not None
    valence, path = params.ref_match
    match = [r for r in refs if r.valence is not None and abs(r.valence - valence) < 1e-9]
    if not match:
        raise ValueError(f"--ref-match {valence:g}:{path}: no reference of valence {valence:g} "
                         f"to match (references: "
                         f"{', '.join(f'{r.valence:g}' for r in refs)})")
    spec = params.edge_spec
    meas = read_spectrum(path, valence=valence)
    if params.ref_calibration:
        meas = calibrate_reference_energy(meas, spec.name)[0]
    ref = match[0]
    lo = max(float(np.min(ref.energy)), float(np.min(meas.energy)))
    hi = min(float(np.max(ref.energy)), float(np.max(meas.energy)))
    grid = np.arange(lo, hi, 0.25)
    kw = params.options.norm_kwargs

    def norm(s: Any) -> NDArray[np.float64]:
        e, i = np.unique(np.round(np.asarray(s.energy, np.float64), 3), return_index=True)
        return normalize(grid, np.interp(grid, e, np.asarray(s.mu, np.float64)[i])[None],
                         **kw).mu[0]

    sigma, sh = resolution_match(grid, norm(ref), grid, norm(meas), params.options.window)
    out = [shifted(broadened(r, sigma), sh) for r in refs]
    total = {name: dataclasses.replace(
        sh, shift=float(sh.shift) + float(before.shift),
        target=f"{sh.target} (the valence {valence:g} reference on {Path(path).name})")
        for name, before in shifts.items()}
    logger.info("references matched on %s: %.2f eV Gaussian broadening, %+.2f eV",
                Path(path).name, sigma, sh.shift)
    return out, total


def stack_energy_shift(params: FitParams) -> Any:
    """The shift added to the stack's energies: given, from the foil, or none.

    Parameters
    ----------
    params : FitParams

    Returns
    -------
    shift : ptyxanes.xanes.energy.EnergyShift
        eV.
    """
    from ptyxanes.xanes.energy import NO_SHIFT, EnergyShift, foil_shift

    if params.energy_shift is not None:
        return EnergyShift(float(params.energy_shift), "given", "given by the user")
    if params.foil:
        from ptyxanes.io.spectra import read_spectrum

        foil = read_spectrum(params.foil)
        return foil_shift(foil.energy, foil.mu, params.edge_spec.name)
    return NO_SHIFT


def calibration_for(energy: NDArray[Any], params: FitParams) -> Any:
    """The edge → valence calibration of ``params.references`` on this energy grid.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV, already shifted (see :func:`stack_energy_shift`).
    params : FitParams

    Returns
    -------
    calibration : ptyxanes.xanes.Calibration
    """
    from ptyxanes.xanes import calibrate_references

    refs, _ = reference_spectra(params)
    return calibrate_references(refs, energy=np.asarray(energy, float), options=params.options,
                                piecewise=params.calibration == "piecewise")


def fit_stage(
    stack: ImageStack, params: FitParams | None = None, control: Control | None = None,
    *, fit: Any = None,
) -> Generator[Progress, None, Any]:
    """Fit the absorption edge of every pixel (2D stack) or voxel (volume stack).

    The references are read and put on the tabulated energy scale, the stack's
    energies shifted (given shift or foil), the references calibrated on the
    stack's energies, then every spectrum fitted.

    Parameters
    ----------
    stack : ImageStack
        ``(energy, row, col)`` or ``(energy, plane, row, col)``; energies in eV.
    params : FitParams, optional
    control : Control, optional
    fit : callable, optional
        Runs the fit, with the signature of :func:`ptyxanes.xanes.fit_stack`
        (default); e.g. the command line's Dask runner.

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : ptyxanes.xanes.XanesResult
        Valence, σ, edge energy (eV), edge jump, R², status, mask; the
        calibration used in ``result.calibration``; ``result.info["energy_shifts"]``
        maps ``"stack"`` and each reference to the
        :class:`~ptyxanes.xanes.energy.EnergyShift` applied (eV).

    Raises
    ------
    ValueError
        No references for an edge without shipped ones, or references that do
        not calibrate (the message says why).
    """
    from ptyxanes.xanes import calibrate_references, fit_stack

    params = params or FitParams()
    refs, shifts = reference_spectra(params)
    stack_shift = stack_energy_shift(params)
    shifts["stack"] = stack_shift
    if stack_shift.shift != 0.0:
        stack = dataclasses.replace(
            stack, energy=np.asarray(stack.energy, np.float64) + stack_shift.shift)
    options = params.options
    if params.ref_match is not None and options.method == "auto":
        # references put on the data's resolution and scale: their shapes are the data's
        # end-members, so the linear combination is the model that follows the spectra
        # (a shared shape reads compounds of one valence with other white lines apart)
        logger.info("fit: references matched to %s: method auto fits their linear "
                    "combination (lcf)", params.ref_match[1])
        options = dataclasses.replace(options, method="lcf")
    cal = calibrate_references(refs, energy=np.asarray(stack.energy, float),
                               options=options,
                               piecewise=params.calibration == "piecewise")
    run = fit if fit is not None else fit_stack
    res = yield from run(stack, options=options, calibration=cal,
                         threshold=params.threshold, chunk_spectra=params.chunk_spectra,
                         control=control)
    if res.calibration is None:
        res = dataclasses.replace(res, calibration=cal)
    res.info["energy_shifts"] = shifts
    return res


# ----------------------------------------------------------------------------- segment
@dataclass(frozen=True)
class SegmentParams:
    """Parameters of the >Ni³⁺ segmentation and crystal table.

    Parameters
    ----------
    threshold : float
        Valence above which a pixel (voxel) is >Ni³⁺.
    min_island_size : int
        >Ni³⁺ islands with fewer pixels (voxels) are removed; 1 keeps all.
    split_touching : bool
        Split touching crystals (watershed) or label connected components.
    """

    threshold: float = 3.0
    min_island_size: int = 10
    split_touching: bool = True


@dataclass(frozen=True)
class SegmentResult:
    """What :func:`segment_stage` returns.

    Parameters
    ----------
    labels : dict of str to ndarray
        ``"high_ox"`` (uint8, 1 = >Ni³⁺) and ``"crystals"`` (int32, 0 = outside,
        crystals 1..n by decreasing size), shaped like the valence input.
    table : ptyxanes.segment.CrystalTable
        Per-crystal >Ni³⁺ fraction, mean valence and slab normal.
    params : SegmentParams
        The parameters used.
    islands_removed : int
        Pixels (voxels) dropped as small islands.
    """

    labels: dict[str, NDArray[Any]]
    table: Any
    params: SegmentParams
    islands_removed: int = 0

    @property
    def volume(self) -> bool:
        """True when a (P, M, N) volume was segmented."""
        return bool(np.ndim(self.labels["high_ox"]) == 3)


def segment_stage(
    valence: NDArray[Any], params: SegmentParams | None = None, control: Control | None = None,
    *, weights: NDArray[Any] | None = None, cell_size: float | None = None,
) -> Generator[Progress, None, SegmentResult]:
    """Segment the >Ni³⁺ regions of a valence map or volume and tabulate the crystals.

    Parameters
    ----------
    valence : ndarray of shape (M, N) or (P, M, N)
        NaN outside the sample; the crystals are the finite pixels.
    params : SegmentParams, optional
    control : Control, optional
        Checked between the steps and between crystals.
    weights : ndarray, optional
        Ni amount per pixel (edge jump) weighting the table's fractions and means.
    cell_size : float, optional
        Pixel (voxel) size, m.

    Yields
    ------
    progress : Progress

    Returns
    -------
    result : SegmentResult
    """
    from ptyxanes.segment import (
        crystal_table_gen,
        label_crystals,
        remove_small_islands,
        threshold_labels,
    )

    params = params or SegmentParams()
    control = control or Control()
    valence = np.asarray(valence, dtype=float)
    if weights is not None:
        weights = np.clip(np.nan_to_num(np.asarray(weights, np.float64)), 0.0, None)
        if weights.shape != valence.shape:
            weights = None
    total = 10.0
    yield Progress(0, total, f"threshold {params.threshold:g}", "segment")
    mask = np.isfinite(valence)
    seed = threshold_labels(valence, float(params.threshold), mask=mask)
    control.check()
    yield Progress(1, total, "small islands", "segment")
    high_ox = remove_small_islands(seed, int(params.min_island_size))
    removed = int(np.count_nonzero(seed) - np.count_nonzero(high_ox))
    control.check()
    method = "watershed" if params.split_touching else "components"
    yield Progress(2, total, f"crystals ({method})", "segment")
    crystals = label_crystals(mask, method=method)
    control.check()
    table = yield from sub_progress(
        crystal_table_gen(valence, crystals, high_ox, voxel_size=cell_size, weights=weights,
                          control=control), 4.0, 6.0, total, "segment")
    logger.info("segment: %d crystals, %d cells > %g (%d in islands < %d removed)",
                len(table), int(np.count_nonzero(high_ox)), params.threshold, removed,
                int(params.min_island_size))
    return SegmentResult(labels={"high_ox": np.asarray(high_ox).astype(np.uint8),
                                 "crystals": np.asarray(crystals).astype(np.int32)},
                         table=table, params=params, islands_removed=removed)
