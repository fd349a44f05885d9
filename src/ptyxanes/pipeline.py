"""The end-to-end pipeline: scans or stacks in, a project file with valence maps out.

2D: reconstruct (if given CXI scans) → rescale + register energies → XANES fit.
3D: reconstruct every (energy, angle) → align tilt series + SIRT per energy →
register volumes → voxel-wise XANES fit.

Every intermediate is kept in the project file (``/entry/stacks/<stage>``), so
the GUI can open it and any stage can be re-run with new parameters from the
previous stage's output without redoing the earlier ones
(:func:`run_pipeline` with ``start=``).
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ptyxanes import stages
from ptyxanes.io.errors import FormatError
from ptyxanes.io.project import Project, load_project, save_project
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Control, Progress, sub_progress
from ptyxanes.provenance import provenance
from ptyxanes.xanes.results import calibration_table, result_maps

logger = logging.getLogger(__name__)

Dim = Literal["2d", "3d"]

#: Stages in order; the middle one depends on the dimensionality.
STAGES: dict[str, tuple[str, ...]] = {
    "2d": ("reconstruct", "align", "fit"),
    "3d": ("reconstruct", "tomo", "fit"),
}

#: Name of the stack each stage leaves in the project (``/entry/stacks/<name>``).
STAGE_OUTPUT: dict[str, str] = {
    "reconstruct": "reconstructed",
    "align": "aligned",
    "tomo": "volumes",
}


@dataclass(frozen=True)
class PipelineParams:
    """Parameters of every stage, as the pipeline's TOML tables give them.

    Each table holds fields of one stage's parameter dataclass in
    :mod:`ptyxanes.stages`, where every default is defined; missing fields keep it.

    Parameters
    ----------
    reconstruct : dict
        Fields of :class:`ptyxanes.ptycho.PtychoParams` and
        :class:`ptyxanes.ptycho.series.SeriesParams` (``algorithm``, ``iterations``, ``spot`` ...).
    align : dict
        Fields of :class:`ptyxanes.stages.RegisterParams` (``pixel_size`` in m,
        ``reference``, ``channel``, ``method``, ``upsample_factor``).
    tomo : dict
        Fields of :class:`ptyxanes.stages.TomoParams` (``iterations``, ``algorithm`` ...).
    fit : dict
        Fields of :class:`ptyxanes.stages.FitParams` in one flat table: ``edge``
        (windows and e0 then follow from it), :class:`ptyxanes.xanes.FitOptions`
        fields (``method``, ``shape``, windows in eV, ``mask_sigma`` ...),
        ``threshold`` (``"auto"``, ``"otsu"`` or an edge-jump threshold),
        ``energy_shift`` (eV), ``foil``, ``ref_shift`` (eV), ``ref_calibration``,
        ``calibration`` (``"linear"`` or ``"piecewise"``) and ``chunk_spectra``.
    references : tuple of (float, str)
        (valence, file) reference spectra; empty = the shipped references.
    """

    reconstruct: dict[str, Any] = field(default_factory=dict)
    align: dict[str, Any] = field(default_factory=dict)
    tomo: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    references: tuple[tuple[float, str], ...] = ()

    @classmethod
    def from_toml(cls, path: str | Path) -> PipelineParams:
        """Read parameters from a TOML file.

        The file has tables ``[reconstruct]``, ``[align]``, ``[tomo]``, ``[fit]``
        and an optional ``references = [[2, "NiO.txt"], ...]``.

        Parameters
        ----------
        path : path-like

        Returns
        -------
        params : PipelineParams

        Raises
        ------
        FormatError
            If the file is not valid TOML or has unknown tables.
        """
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise FormatError(path, f"cannot read parameters: {exc}") from exc
        unknown = set(doc) - {"reconstruct", "align", "tomo", "fit", "references"}
        if unknown:
            raise FormatError(path, f"unknown parameter tables {sorted(unknown)}")
        refs = tuple((float(v), str(p)) for v, p in doc.get("references", []))
        out = cls(
            reconstruct=dict(doc.get("reconstruct", {})),
            align=dict(doc.get("align", {})),
            tomo=dict(doc.get("tomo", {})),
            fit=dict(doc.get("fit", {})),
            references=refs,
        )
        try:  # unknown names are reported now, not after an hour of reconstruction
            out.stage_params()
        except (TypeError, ValueError) as exc:
            raise FormatError(path, str(exc)) from exc
        return out

    def stage_params(self) -> dict[str, Any]:
        """The parameter dataclass of every stage.

        Returns
        -------
        params : dict of str to dataclass
            ``reconstruct``, ``align``, ``tomo``, ``fit`` (:mod:`ptyxanes.stages`).

        Raises
        ------
        ValueError
            An unknown parameter name.
        """
        return {
            "reconstruct": stages.ReconstructParams.from_flat(self.reconstruct),
            "align": stages.params_from_dict(stages.RegisterParams, self.align, "[align]"),
            "tomo": stages.params_from_dict(stages.TomoParams, self.tomo, "[tomo]"),
            "fit": stages.FitParams.from_flat({**self.fit, "references": self.references}),
        }

    def as_dict(self) -> dict[str, Any]:
        """Parameters as plain data, for provenance."""
        return {
            "reconstruct": self.reconstruct,
            "align": self.align,
            "tomo": self.tomo,
            "fit": self.fit,
            "references": [list(r) for r in self.references],
        }


def _is_scan_input(path: Path) -> bool:
    """True when ``path`` is a folder of CXI scans (rather than a stack or reconstructions)."""
    from ptyxanes.io.formats import find_format

    fmt = find_format(path)
    return path.is_dir() and fmt is not None and fmt.raw


def load_references(references: Sequence[tuple[float, str]]) -> list[Any]:
    """Read reference spectra with their valences (see :func:`ptyxanes.stages.load_references`).

    Parameters
    ----------
    references : sequence of (float, str)
        (valence, path) pairs; empty: the shipped references.

    Returns
    -------
    spectra : list of ptyxanes.io.spectra.Spectrum
    """
    return stages.load_references(references)


def _stage_reconstruct(
    scan_dir: Path, params: PipelineParams, control: Control
) -> Generator[Progress, None, ImageStack]:
    from ptyxanes.io.cxi import read_scan_series

    rparams = stages.ReconstructParams.from_flat(params.reconstruct)
    scans = read_scan_series(scan_dir)
    stack = yield from stages.reconstruct_stage(scans, rparams, control)
    return dataclasses.replace(stack, attrs={"source": str(scan_dir)})


def _stage_align(
    stack: ImageStack, params: PipelineParams, control: Control
) -> Generator[Progress, None, tuple[ImageStack, dict[str, np.ndarray]]]:
    if stack.is_3d:
        raise ValueError("the 2D pipeline got a 4-D stack; use `pipeline 3d`")
    aparams = stages.params_from_dict(stages.RegisterParams, params.align, "[align]")
    aligned, reg = yield from stages.register_stage(stack, aparams, control)
    return aligned, stages.registration_table(stack, reg)


def _stage_tomo(
    stack: ImageStack, params: PipelineParams, control: Control
) -> Generator[Progress, None, tuple[ImageStack, dict[str, np.ndarray]]]:
    tparams = stages.params_from_dict(stages.TomoParams, params.tomo, "[tomo]")
    volumes, series = yield from stages.tomo_stage(stack, tparams, control)
    table: dict[str, np.ndarray] = {"energy": np.asarray(stack.energy, dtype=float)}
    if series.registration is not None:
        for i, ax in enumerate(("plane", "row", "col")):
            table[f"shifts_{ax}"] = series.registration.shifts[:, i]
    return volumes, table


def _fit_params(params: PipelineParams) -> stages.FitParams:
    return stages.FitParams.from_flat({**params.fit, "references": params.references})


def _stage_fit(
    stack: ImageStack, params: PipelineParams, control: Control
) -> Generator[Progress, None, Any]:
    return (yield from stages.fit_stage(stack, _fit_params(params), control))



def record_fit(project: Project, result: Any, stack: ImageStack,
               params: PipelineParams) -> dict[str, Any]:
    """Put a fit's maps and calibration table into the project; return its stage parameters.

    Shared by the in-process and the distributed pipeline, so both write the same file.

    Parameters
    ----------
    project : Project
        Updated in place (``maps``, ``tables["calibration"]``).
    result : ptyxanes.xanes.XanesResult
        Maps shaped like the stack's images.
    stack : ImageStack
        The fitted stack (its mean pixel size, m, goes with the maps).
    params : PipelineParams

    Returns
    -------
    stage_params : dict
        The ``[fit]`` parameters with the references, threshold used and energy shifts.
    """
    project.maps.update(result_maps(result, float(np.mean(stack.pixel_size))))
    if result.calibration is not None:
        project.tables["calibration"] = calibration_table(result.calibration)
    return {**params.fit, "references": [list(r) for r in params.references],
            "threshold_used": float(result.threshold),
            "energy_shifts": {k: v.as_dict() for k, v in
                              result.info.get("energy_shifts", {}).items()}}


def run_pipeline(
    dim: Dim,
    source: str | Path,
    output: str | Path,
    params: PipelineParams | None = None,
    *,
    start: str | None = None,
    overwrite: bool = False,
    control: Control | None = None,
) -> Generator[Progress, None, Project]:
    """Run the pipeline stage by stage and save everything in a project file.

    Parameters
    ----------
    dim : {"2d", "3d"}
        2D energy stacks or 3D tilt series.
    source : path-like
        A folder of CXI scans (reconstructed first) or a NeXus stack file
        (the reconstruction is skipped). Ignored when ``start`` re-runs from ``output``.
    output : path-like
        The project file to write.
    params : PipelineParams, optional
        Stage parameters.
    start : str, optional
        Re-run from this stage (``"align"``, ``"tomo"`` or ``"fit"``) using the
        previous stage's stack stored in the existing ``output``.
    overwrite : bool, optional
        Replace an existing ``output`` (implied by ``start``).
    control : Control, optional
        Cancellation.

    Yields
    ------
    progress : Progress
        With ``stage`` set to the running stage.

    Returns
    -------
    project : Project
        What was saved.

    Raises
    ------
    ValueError
        Unknown stage, or an output that exists without ``overwrite``.
    FormatError
        Unusable input files.
    """
    control = control or Control()
    params = params or PipelineParams()
    if dim not in STAGES:
        raise ValueError(f"dim must be '2d' or '3d', got {dim!r}")
    stages = STAGES[dim]
    output = Path(output)
    source = Path(source)
    project = Project()
    current: ImageStack | None = None

    if start is not None:
        if start not in stages[1:]:
            raise ValueError(f"--from must be one of {stages[1:]} for {dim}, got {start!r}")
        if not output.exists():
            raise FileNotFoundError(f"{output} does not exist: nothing to re-run from")
        old = load_project(output, lazy=False)
        previous = stages[stages.index(start) - 1]
        key = STAGE_OUTPUT[previous]
        if key not in old.stacks:
            raise FormatError(output, f"has no /entry/stacks/{key} to re-run '{start}' from")
        # keep the earlier stages' results, drop the ones about to be recomputed
        for s in stages[: stages.index(start)]:
            if STAGE_OUTPUT.get(s) in old.stacks:
                project.stacks[STAGE_OUTPUT[s]] = old.stacks[STAGE_OUTPUT[s]]
            if s in old.parameters:
                project.parameters[s] = old.parameters[s]
            if s in old.tables:
                project.tables[s] = old.tables[s]
        project.inputs.update(old.inputs)
        project.provenance.extend(old.provenance)
        current = old.stacks[key]
        todo = stages[stages.index(start):]
        overwrite = True
    else:
        if output.exists() and not overwrite:
            raise FileExistsError(f"{output} exists; use --overwrite to replace it")
        if not source.exists():
            raise FileNotFoundError(f"{source} does not exist")
        project.inputs["source"] = str(source.resolve())
        if _is_scan_input(source):
            todo = stages
        else:
            from ptyxanes.io.formats import open_stack

            current = open_stack(source, lazy=False)
            todo = stages[1:]

    n = len(todo)
    for i, stage in enumerate(todo):
        control.check()
        logger.info("pipeline %s: stage %s", dim, stage)
        if stage == "reconstruct":
            gen = _stage_reconstruct(source, params, control)
            current = yield from sub_progress(gen, i, 1, n, stage)
            project.stacks["reconstructed"] = current
            stage_params = params.reconstruct
        elif stage in ("align", "tomo"):
            assert current is not None
            gen2 = (_stage_align if stage == "align" else _stage_tomo)(current, params, control)
            current, table = yield from sub_progress(gen2, i, 1, n, stage)
            project.stacks[STAGE_OUTPUT[stage]] = current
            project.tables[stage] = table
            stage_params = params.align if stage == "align" else params.tomo
        else:  # fit
            assert current is not None
            result = yield from sub_progress(_stage_fit(current, params, control), i, 1, n, stage)
            stage_params = record_fit(project, result, current, params)
        project.parameters[stage] = dict(stage_params)
        project.provenance.append(provenance(f"pipeline.{stage}", dict(stage_params)))
        yield Progress(i + 1, n, f"{stage} done", stage)

    project.parameters["pipeline"] = {"dim": dim, "start": start or stages[0], **params.as_dict()}
    save_project(output, project, overwrite=overwrite)
    return project
