"""The stages as the Processing panel runs them: a sample plus a form's values in, a
:mod:`ptyxanes.stages` generator run, the result stored back on the sample.

No science lives here: the stages are the functions the command line and the
pipeline run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes import stages
from ptyxanes.progress import Control
from ptyxanes_gui.document import (
    MAP_NAMES,
    Sample,
    mid_plane_stack,
    set_4d_stack,
)
from ptyxanes_gui.presenters.spectra import default_fit_params

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- stages
def register_params(form: dict[str, Any]) -> stages.RegisterParams:
    """RegisterParams from the Processing form (``pixel_size_nm`` in nm)."""
    values = dict(form)
    if "pixel_size_nm" in values:
        values["pixel_size"] = float(values.pop("pixel_size_nm")) * 1e-9
    return stages.params_from_dict(stages.RegisterParams, values, "the Register form")


def register_job(sample: Sample, *, control: Control | None = None,
                 shifts: NDArray[Any] | None = None, **form: Any
                 ) -> Generator[Any, None, Any]:
    """The register stage (:func:`ptyxanes.stages.register_stage`, as ``ptyxanes align``).

    Registers the sample's unregistered stack (its stack before a first
    registration); ``shifts`` (E, 2), pixels, re-applies hand-edited shifts.
    Returns ``(aligned stack, registration table, params)``.
    """
    params = register_params(form)
    if shifts is not None:
        params = dataclasses.replace(params, shifts=tuple(map(tuple, np.asarray(
            shifts, float).tolist())))
    source = sample.unregistered if sample.unregistered is not None else sample.stack
    aligned, reg = yield from stages.register_stage(source, params, control)
    table = stages.registration_table(source, reg)
    return aligned, table, params


def _number(value: Any, what: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a number, got {value!r}") from None


def fit_params(sample: Sample | None, form: dict[str, Any]) -> stages.FitParams:
    """FitParams from the Fit form (:class:`~ptyxanes_gui.panels.processing_panel.FitStageBox`).

    Blank windows and e0 (None) follow from the edge (``FitOptions.for_edge``); a
    window with one blank end takes that end from the edge. ``references_from``
    is ``"sample"`` (the sample's references: a dataset's own, else the shipped
    set), ``"shipped"`` or ``"files"`` (``reference_files``: (valence, path)).
    Every value not in the form is the stage's default.

    Raises
    ------
    ValueError
        A value that is not a number, an unknown edge, a too narrow window ...
    """
    from ptyxanes.xanes.edges import edge_spec

    values = dict(form)
    edge = str(values.pop("edge", "") or default_fit_params(sample, ()).edge)
    spec = edge_spec(edge)
    for name, what in (("pre_edge", "pre-edge window"), ("window", "fit window"),
                       ("post_edge", "post-edge window")):
        pair = values.get(name)
        if pair is None:
            continue
        lo, hi = (_number(x, f"{what} (eV)") for x in pair)
        default = getattr(spec, name)
        values[name] = (None if lo is None and hi is None else
                        (default[0] if lo is None else lo, default[1] if hi is None else hi))
    for name, what in (("e0", "e0 (eV)"), ("energy_shift", "energy shift (eV)"),
                       ("ref_shift", "reference shift (eV)")):
        if name in values:
            values[name] = _number(values[name], what)
    source = values.pop("references_from", "sample")
    files = tuple(values.pop("reference_files", ()) or ())
    if source == "files":
        if not files:
            raise ValueError("no reference files loaded: add two or more with their valences")
        refs: tuple[tuple[float, str], ...] = files
    elif source == "shipped":
        refs = ()
    else:
        refs = tuple(sample.references) if sample is not None else ()
    return stages.FitParams.for_edge(edge, references=refs, chunk_spectra=GUI_FIT_CHUNK,
                                     **values)


def fit_form_problem(sample: Sample | None, form: dict[str, Any]) -> str | None:
    """Why a fit with this form cannot start (a sentence), or None.

    Checks the values and that the references can be read; the fit itself may
    still fail on the data (its message then reaches the log and status bar).
    """
    try:
        params = fit_params(sample, form)
        refs = stages.load_references(params.references, params.edge)
    except (ValueError, OSError) as exc:
        return f"cannot fit: {exc}"
    if len(refs) < 2:
        return f"cannot fit: {len(refs)} reference spectrum given; the calibration needs two or more"
    return None


def reference_rows(sample: Sample | None, form: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The references a fit with this form uses: (name, valence, energy shift) per row.

    The valence as a number with the element's state (``"2 (Fe²⁺)"``), the shift in
    eV with how it was found; one row with the reason when they cannot be read.
    """
    try:
        params = fit_params(sample, form)
        refs, shifts = stages.reference_spectra(params)
    except Exception as exc:  # shown in the form, not raised
        return [(f"({exc})", "", "")]
    spec = params.edge_spec
    rows = []
    for r, sh in zip(refs, shifts.values(), strict=True):
        v = r.valence
        rows.append((str(r.name or Path(str(r.path)).name),
                     "" if v is None else f"{v:g} ({spec.state_label(v)})",
                     _shift_text(sh)))
    return rows


#: Spectra per chunk of the GUI's fit (cancel latency ~ one chunk, ~0.5 s on 2 cores).
GUI_FIT_CHUNK = 16384


def fit_job(sample: Sample, *, control: Control | None = None, fit: Any = None, **form: Any
            ) -> Generator[Any, None, Any]:
    """The fit stage (:func:`ptyxanes.stages.fit_stage`) on the sample's stack or volumes.

    ``fit`` runs the fit itself (``fit_stage``'s argument; default in this process).
    Returns :class:`FitMaps` (keys of :data:`MAP_NAMES`, (M, N) or (P, M, N)), the
    maps of :func:`ptyxanes.xanes.results.result_maps` (as the CLI saves them).
    """
    from ptyxanes.xanes.results import fit_model_attrs, result_maps

    params = fit_params(sample, form)
    stack = sample.volume_stack if sample.volume_stack is not None else sample.stack
    res = yield from stages.fit_stage(stack, params, control, fit=fit)
    if not np.any(np.asarray(res.mask) & (np.asarray(res.status) == 0)):
        raise ValueError(f"no pixel of {sample.name} was fitted with {params.edge_spec.describe()}"
                         " (check the edge, the windows and the sample mask)")
    model = fit_model_attrs(res)
    shifts = res.info.get("energy_shifts", {})
    model["energy_shift_eV"] = float(shifts["stack"].shift) if "stack" in shifts else 0.0
    # the maps exactly as `ptyxanes fit` writes them (NaN outside the sample mask)
    saved = result_maps(res, float(np.asarray(stack.pixel_size).ravel()[0]))
    maps = FitMaps({key: np.asarray(saved[nx].data) for key, nx in MAP_NAMES.items()
                    if nx in saved})
    maps.model = model
    maps.params = stages.params_as_dict(params)
    maps.shifts = {k: v.describe() for k, v in shifts.items()}
    maps.method = f"{res.options.method}" + (f" ({res.info['method_reason']})"
                                             if res.info.get("method_reason") else "")
    maps.reference_rows = [
        (str(r.name), f"{r.valence:g} ({params.edge_spec.state_label(r.valence)})",
         _shift_text(shifts.get(f"reference {r.name or r.path} (valence {r.valence:g})")))
        for r in (res.calibration.references if res.calibration is not None else [])]
    return maps


def _shift_text(shift: Any) -> str:
    """An energy shift for the reference table: ``"+1.25 eV (foil: …)"`` or ``"0 (none)"``."""
    return "0 (none)" if shift is None or shift.method == "none" else str(shift.describe())


class FitMaps(dict):  # type: ignore[type-arg]
    """The maps of a fit (keys of :data:`MAP_NAMES`) with ``model`` (how they were
    fitted, ``fit_model_attrs``), ``params`` (the stage parameters, plain data),
    ``shifts`` (what was shifted → the energy shift applied, in words with eV),
    ``method`` (the method used and why) and ``reference_rows`` (name, valence,
    shift of each reference)."""

    model: dict[str, Any]
    params: dict[str, Any]
    shifts: dict[str, str]
    method: str
    reference_rows: list[tuple[str, str, str]]


def segment_job(sample: Sample, *, control: Control | None = None, **form: Any
                ) -> Generator[Any, None, stages.SegmentResult]:
    """The segment stage (:func:`ptyxanes.stages.segment_stage`) on the valence volume
    (volume sample) or map, weighted by the edge jump of a 2D map."""
    params = stages.params_from_dict(stages.SegmentParams, form, "the Segment form")
    if sample.volume is not None:
        return (yield from stages.segment_stage(
            sample.volume, params, control,
            cell_size=float(sample.voxel_size or sample.pixel_size) or None))
    return (yield from stages.segment_stage(
        sample.maps["valence"], params, control, weights=sample.maps.get("edge_jump"),
        cell_size=float(sample.pixel_size) or None))


def stage_input_problem(stage: str, sample: Sample | None) -> str | None:
    """Why ``stage`` cannot run on ``sample`` (a sentence for the user), or None.

    Parameters
    ----------
    stage : str
        ``"reconstruct"``, ``"register"``, ``"tomo"``, ``"fit"`` or ``"segment"``.
    sample : Sample or None
    """
    if sample is None:
        return "Select a sample in the Data panel first (or open a dataset)."
    if stage == "segment":
        if sample.volume is not None or "valence" in sample.maps:
            return None
        if sample.kind == "scans":
            return ("Segmentation needs a valence map: this sample has only raw scans. Run "
                    "Reconstruct, then Fit XANES, then Segment.")
        if sample.kind == "tilt":
            return ("Segmentation needs a valence map: this sample is a tilt series. Run "
                    "Tomography, then Fit XANES, then Segment.")
        return ("Segmentation needs a valence map: this sample has none yet. Run Fit XANES "
                "(Process ▸ Fit XANES) first, then Segment.")
    if stage == "reconstruct":
        if not sample.scans:
            return ("This sample has no raw ptychography scans: open a folder of CXI files "
                    "(File ▸ Open scans) or the demo scans.")
        return None
    if stage == "tomo":
        if sample.tilt_stack is None:
            return ("Tomography needs a tilt series (energy, angle, row, col) with angles: open "
                    "one (e.g. the 3D demo's input/stack.nxs) or reconstruct 3D scans first.")
        return None
    no_stack = ("This sample has only raw scans: run Reconstruct first." if sample.scans
                else "This sample has no energy stack (only maps).")
    if stage == "fit":
        if sample.volume_stack is not None:
            return None
        if sample.tilt_stack is not None:
            return "This sample is a tilt series: run Tomography first, then fit the volume."
        return no_stack if sample.stack is None else None
    if stage == "register":
        if sample.stack is None:
            return no_stack
        if sample.kind in ("tilt", "volume"):
            return ("Registration works on 2D energy stacks; the Tomography stage aligns "
                    "tilt series and registers the volumes.")
        return None
    return None


def reconstruct_params(sample: Sample, form: dict[str, Any]) -> stages.ReconstructParams:
    """ReconstructParams from the form: ``iterations``, ``warm_iterations`` (0: same),
    ``spot_um`` (µm: a given zone-plate probe, as ``ptyxanes reconstruct --spot``; 0: the
    probe estimated from the data, the command's default) and ``jobs``."""
    base = stages.ReconstructParams()
    series: dict[str, Any] = {}
    spot = float(form.get("spot_um", 0.0) or 0.0)
    if spot > 0:
        series.update(spot=spot * 1e-6, probe_from_data=False)
    if "warm_iterations" in form:
        series["warm_iterations"] = int(form["warm_iterations"]) or None
    if "jobs" in form:
        series["jobs"] = max(1, int(form["jobs"]))
    ptycho = {k: int(form[k]) for k in ("iterations", "preview_every") if k in form}
    return stages.ReconstructParams(dataclasses.replace(base.ptycho, **ptycho),
                                    dataclasses.replace(base.series, **series))


def reconstruct_job(sample: Sample, *, control: Control | None = None, **form: Any
                    ) -> Generator[Any, None, Any]:
    """The reconstruct stage (:func:`ptyxanes.stages.reconstruct_stage`) of the sample's scans."""
    params = reconstruct_params(sample, form)
    logger.info("reconstruct: %d scans, %d iterations, probe %s", len(sample.scans),
                params.ptycho.iterations, "from the data" if params.series.probe_from_data
                else f"of a {params.series.spot * 1e6:.2f} µm spot")
    return (yield from stages.reconstruct_stage(sample.scans, params, control))


def tomo_params(form: dict[str, Any]) -> stages.TomoParams:
    """TomoParams from the form: ``iterations`` and ``align_rounds`` (0: no alignment)."""
    values: dict[str, Any] = {}
    if "iterations" in form:
        values["iterations"] = int(form["iterations"])
    if "align_rounds" in form:
        rounds = int(form["align_rounds"])
        values["align"] = rounds > 0
        values["max_outer"] = max(1, rounds)
    return stages.params_from_dict(stages.TomoParams, values)


def tomo_job(sample: Sample, *, control: Control | None = None, **form: Any
             ) -> Generator[Any, None, Any]:
    """The tomography stage (:func:`ptyxanes.stages.tomo_stage`); returns the volume stack."""
    volumes, _series = yield from stages.tomo_stage(sample.tilt_stack, tomo_params(form),
                                                    control)
    return volumes


def apply_stage_result(stage: str, sample: Sample, result: Any) -> None:
    """Store a finished stage's result on ``sample`` (only ever called on success).

    reconstruct: the complex stack (E, M, N) (3D scans: a tilt series); tomo:
    the volume stack (E, P, M, N); fit: the maps (a volume fit keeps the full
    (P, M, N) maps in ``volume_maps``/``volume`` and their middle plane in ``maps``);
    register: the registered stack (the original kept in ``unregistered``) and
    its table; segment: labels and crystal table. Results derived from a
    replaced stack are dropped.
    """
    if stage == "reconstruct":
        stack = dataclasses.replace(result, attrs={**result.attrs, "sample": sample.name})
        sample.maps, sample.volume_maps, sample.volume = {}, {}, None
        sample.tilt_stack = sample.volume_stack = sample.unregistered = None
        sample.registration = None
        if result.angle is None:
            sample.stack = stack
            sample.pixel_size = float(np.asarray(result.pixel_size)[0])
        else:
            set_4d_stack(sample, stack)
    elif stage == "tomo":
        sample.maps, sample.volume_maps, sample.volume = {}, {}, None
        sample.volume_stack = result
        sample.stack = mid_plane_stack(result)
        sample.voxel_size = sample.pixel_size = float(np.asarray(result.pixel_size)[0])
    elif stage == "fit":
        sample.fit_model = dict(getattr(result, "model", {}) or {})
        sample.parameters["fit"] = dict(getattr(result, "params", {}) or {})
        if any(np.ndim(v) == 3 for v in result.values()):
            sample.volume_maps = dict(result)
            sample.volume = np.asarray(result["valence"]) if "valence" in result else None
            sample.maps = {k: np.asarray(v)[np.shape(v)[0] // 2] if np.ndim(v) == 3 else v
                           for k, v in result.items()}
            if sample.volume_stack is not None:
                sample.voxel_size = float(np.asarray(sample.volume_stack.pixel_size)[0])
        else:
            sample.maps = dict(result)
    elif stage == "register":
        aligned, table, params = result
        if sample.unregistered is None:
            sample.unregistered = sample.stack
        sample.stack = aligned
        sample.pixel_size = float(np.asarray(aligned.pixel_size)[0])
        sample.registration = table
        sample.parameters["align"] = stages.params_as_dict(params)
        sample.maps, sample.fit_model = {}, {}  # maps of the old grid no longer match
        sample.labels, sample.crystal_table = {}, None
    elif stage == "segment":
        labels = dict(sample.labels)
        # hand edits saved with an older segmentation do not apply to this one
        labels.pop("high_ox_added", None)
        labels.pop("high_ox_removed", None)
        labels.update(result.labels)
        sample.labels = labels
        sample.crystal_table = result.table
        sample.parameters["segment"] = stages.params_as_dict(result.params)


