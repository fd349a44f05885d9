"""The document: everything the user has open, Qt-free, with change events.

A :class:`Document` holds every :class:`Sample` of the session (stacks,
result maps, registrations, labels, crystal tables, hand edits, the reference
spectra and stage parameters each result was made with), a dirty flag and an
undo stack for the user's edits. Every change is a psygnal event, so panels
and presenters follow it without knowing each other. :meth:`Document.save`
writes every sample into one dataset file (:func:`ptyxanes.io.project.save_dataset`)
(with the stage forms' choices, :attr:`Document.parameters`) and :func:`load_samples`
and :func:`saved_parameters` read it back; :meth:`Document.autosave` writes the
same to a recovery file without touching the dirty flag.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from psygnal import Signal

logger = logging.getLogger(__name__)

#: Result channels of a XANES fit, as the project file names them.
MAP_NAMES: dict[str, str] = {
    "edge_energy": "edge_energy",
    "valence": "oxidation_state",
    "valence_sigma": "oxidation_state_sigma",
    "edge_jump": "edge_jump",
    "fit_quality": "fit_quality",
    "mask": "mask",
    "status": "status",
}

#: Parameter group of a dataset file's first entry holding :attr:`Document.parameters`
#: (the stage forms' choices); never a stage's own parameters.
FORMS_KEY = "gui_forms"


@dataclass(eq=False)
class Sample:
    """One sample of the document.

    Parameters
    ----------
    name : str
        Shown in the Data panel.
    stack : ImageStack or None
        The energy stack (E, M, N) shown and fitted (after registration: the
        registered one), or None when only maps were loaded.
    maps : dict of str to ndarray
        Result maps (M, N) keyed by :data:`MAP_NAMES` keys (``valence`` ...).
    pixel_size : float
        m.
    source : str
        File it came from.
    volume : ndarray of shape (P, M, N), optional
        Valence volume of a 3D result.
    voxel_size : float
        m, for ``volume``.
    labels : dict of str to ndarray
        Label images/volumes (segmentation, hand edits ``high_ox_added/removed``).
    scans : list of CXIScan, optional
        Raw ptychography scans; the reconstruct stage turns them into a stack.
    tilt_stack : ImageStack, optional
        A tilt series (E, A, M, N); ``stack`` then holds the first angle's projections.
    volume_stack : ImageStack, optional
        Volumes across energy (E, P, M, N); ``stack`` then holds the middle plane.
    volume_maps : dict of str to ndarray
        The full (P, M, N) maps of a volume fit (``maps`` hold the middle plane).
    fit_model : dict
        How the maps were fitted (``ptyxanes.xanes.results.fit_model_attrs``),
        decoded once into ``fit_model_decoded`` for the click inspector.
    crystal_table : ptyxanes.segment.CrystalTable, optional
        Per-crystal table of the last segmentation.
    references : tuple of (float, str)
        ``(valence, path)`` of the calibration references of this sample's fits;
        empty: the shipped references. Chosen explicitly (on opening, a
        dataset's own ``references/`` folder; or by the user).
    registration : dict of str to ndarray, optional
        The registration table (``shifts_row``, ``shifts_col`` px, ``residual``,
        ``outlier``, ``energy`` eV; :func:`ptyxanes.stages.registration_table`).
    unregistered : ImageStack, optional
        The stack before registration (re-registered with hand-edited shifts).
    parameters : dict of str to dict
        The parameters of every stage run on this sample (plain data).
    """

    name: str
    stack: Any | None
    maps: dict[str, NDArray[Any]] = field(default_factory=dict)
    pixel_size: float = 0.0
    source: str = ""
    volume: NDArray[Any] | None = None
    voxel_size: float = 0.0
    labels: dict[str, NDArray[Any]] = field(default_factory=dict)
    scans: list[Any] | None = None
    tilt_stack: Any | None = None
    volume_stack: Any | None = None
    volume_maps: dict[str, NDArray[Any]] = field(default_factory=dict)
    fit_model: dict[str, Any] = field(default_factory=dict)
    crystal_table: Any | None = None
    references: tuple[tuple[float, str], ...] = ()
    registration: dict[str, NDArray[Any]] | None = None
    unregistered: Any | None = None
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    _decoded: tuple[Any, ...] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``"volume"``, ``"tilt"``, ``"scans"`` or ``"2d"``: what the sample holds at most."""
        if self.volume_stack is not None or self.volume is not None:
            return "volume"
        if self.tilt_stack is not None:
            return "tilt"
        if self.stack is None and self.scans:
            return "scans"
        return "2d"

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the images and maps."""
        if self.stack is not None:
            return tuple(self.stack.data.shape[-2:])  # type: ignore[return-value]
        for m in self.maps.values():
            return tuple(m.shape[-2:])  # type: ignore[return-value]
        return (0, 0)

    @property
    def energy(self) -> NDArray[np.float64] | None:
        """Energies of the stack, eV."""
        return None if self.stack is None else np.asarray(self.stack.energy, dtype=float)

    @property
    def shifts(self) -> NDArray[np.float64]:
        """Registration shifts (E, 2), pixels; empty when not registered."""
        if not self.registration:
            return np.zeros((0, 2))
        return np.stack([self.registration["shifts_row"], self.registration["shifts_col"]], 1)

    def fit_model_decoded(self) -> tuple[Any, Any, Any] | None:
        """(FitOptions, shared template, Calibration) of the maps' fit, decoded once."""
        if not self.fit_model:
            return None
        if self._decoded is None or self._decoded[0] is not self.fit_model:
            from ptyxanes.xanes.results import fit_model_from_attrs

            self._decoded = (self.fit_model, fit_model_from_attrs(self.fit_model))
        return self._decoded[1]  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- projects
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name) or "stack"


def sample_to_project(sample: Sample) -> Any:
    """Everything of one sample as a :class:`ptyxanes.io.project.Project`.

    Parameters
    ----------
    sample : Sample

    Returns
    -------
    project : ptyxanes.io.project.Project
        Maps (full volumes for a volume fit), the stack(s), labels, the crystal
        and registration tables, the stage parameters and references.
    """
    from ptyxanes.io.project import MapData, Project

    maps = {}
    for key, arr in sample.maps.items():
        nx = MAP_NAMES.get(key, key)
        full = sample.volume_maps.get(key)
        data = np.asarray(full if full is not None else arr)
        px = (sample.voxel_size or sample.pixel_size) if full is not None else sample.pixel_size
        maps[nx] = MapData(data=data, pixel_size=px, name=nx)
        if key == "valence" and sample.fit_model:
            maps[nx].attrs.update(sample.fit_model)
    stacks = {}
    if sample.volume_stack is not None:
        stacks["volumes"] = sample.volume_stack
    elif sample.tilt_stack is not None:
        stacks["tilt_series"] = sample.tilt_stack
    elif sample.stack is not None:
        stacks[_safe(sample.name)] = sample.stack
    if sample.unregistered is not None:
        stacks["unregistered"] = sample.unregistered
    tables: dict[str, dict[str, NDArray[Any]]] = {}
    if sample.crystal_table is not None:
        tables["crystals"] = sample.crystal_table.columns()
    if sample.registration:
        tables["align"] = {k: np.asarray(v) for k, v in sample.registration.items()}
    params: dict[str, dict[str, Any]] = {
        "sample": {"name": sample.name, "source": sample.source,
                   "references": [list(r) for r in sample.references],
                   "stack": next((k for k in stacks if k != "unregistered"), "")},
    }
    params.update({k: v for k, v in sample.parameters.items() if k not in ("sample", FORMS_KEY)})
    return Project(maps=maps, stacks=stacks, labels=dict(sample.labels), tables=tables,
                   parameters=params, inputs={"source": sample.source} if sample.source else {})


def crystal_table_from_columns(cols: dict[str, NDArray[Any]]) -> Any:
    """Rebuild a :class:`ptyxanes.segment.CrystalTable` from its saved columns.

    Parameters
    ----------
    cols : dict of str to ndarray
        :meth:`CrystalTable.columns` output.

    Returns
    -------
    table : ptyxanes.segment.CrystalTable
    """
    from ptyxanes.segment import CrystalTable

    axes = [a for a in ("plane", "row", "col") if f"normal_{a}" in cols]
    return CrystalTable(
        crystal_id=np.asarray(cols["crystal_id"]), n_voxels=np.asarray(cols["n_voxels"]),
        size=np.asarray(cols["size"]), high_ox_fraction=np.asarray(cols["high_ox_fraction"]),
        mean_valence=np.asarray(cols["mean_valence"]),
        normal=np.stack([np.asarray(cols[f"normal_{a}"]) for a in axes], 1),
        flatness=np.asarray(cols["flatness"]),
        centroid=np.stack([np.asarray(cols[f"centroid_{a}"]) for a in axes], 1))


def sample_from_project(project: Any, path: str | Path) -> Sample:
    """The :class:`Sample` a project (or one entry of a dataset file) holds.

    Parameters
    ----------
    project : ptyxanes.io.project.Project
    path : path-like
        The file it was read from (the sample's default name and source).

    Returns
    -------
    sample : Sample
    """
    p = Path(path)
    info = dict(project.parameters.get("sample", {}))
    stacks = dict(project.stacks)
    unregistered = stacks.pop("unregistered", None)
    stack = stacks.get(info.get("stack", "")) or next(iter(stacks.values()), None)
    maps: dict[str, NDArray[Any]] = {}
    volume_maps: dict[str, NDArray[Any]] = {}
    volume, voxel, pixel = None, 0.0, 0.0
    for key, nx in MAP_NAMES.items():
        md = project.maps.get(nx)
        if md is None:
            continue
        arr = np.asarray(md.data)
        pixel = float(md.pixel_size)
        if arr.ndim == 3:
            volume_maps[key] = arr
            if key == "valence":
                volume, voxel = arr, pixel
            arr = arr[arr.shape[0] // 2]
        maps[key] = arr
    for nx, md in project.maps.items():  # spectral exploration (PCA scores, clusters)
        if (nx.startswith("pca_score_") or nx == "clusters") and np.ndim(md.data) == 2:
            maps[nx] = np.asarray(md.data)
    ox = project.maps.get(MAP_NAMES["valence"])
    model = dict(ox.attrs) if ox is not None and "fit_shape" in (ox.attrs or {}) else {}
    refs = tuple((float(v), str(f)) for v, f in info.get("references", []))
    if not refs and "fit" in project.parameters:  # a CLI/pipeline project: its references
        refs = tuple((float(v), str(f)) for v, f in
                     project.parameters["fit"].get("references", []) or [])
    refs = _found_references(refs, p)
    table = project.tables.get("crystals")
    sample = Sample(
        name=str(info.get("name", "")) or p.stem, stack=stack, maps=maps, pixel_size=pixel,
        source=str(info.get("source", "")) or str(p), volume=volume, voxel_size=voxel,
        labels=dict(project.labels), volume_maps=volume_maps, fit_model=model,
        crystal_table=None if table is None else crystal_table_from_columns(table),
        references=refs, registration=project.tables.get("align"),
        unregistered=unregistered,
        parameters={k: v for k, v in project.parameters.items()
                    if k not in ("sample", FORMS_KEY)})
    if stack is not None and np.ndim(stack.data) == 4:
        if int(np.prod(stack.data.shape)) * 8 < 1_500_000_000:
            stack = dataclasses.replace(stack, data=np.asarray(stack.data))
        set_4d_stack(sample, stack)
        if pixel:
            sample.pixel_size = pixel
    if sample.stack is not None and not sample.pixel_size:
        sample.pixel_size = float(np.asarray(sample.stack.pixel_size)[0])
    return sample


def _found_references(refs: tuple[tuple[float, str], ...], project: Path
                      ) -> tuple[tuple[float, str], ...]:
    """The recorded reference files, looked for beside the project when moved."""
    out = []
    for v, f in refs:
        path = Path(f)
        if not path.is_file():
            moved = [c for c in (project.parent / "references" / path.name,
                                 project.parent / path.parent.parent.name / "references"
                                 / path.name) if c.is_file()]
            if not moved:
                logger.warning("%s: reference %s not found; the shipped references are used",
                               project.name, f)
                return ()
            path = moved[0]
        out.append((v, str(path)))
    return tuple(out)


def mid_plane_stack(stack: Any) -> Any | None:
    """The middle plane (E, M, N) of a volume stack (E, P, M, N); None for a tilt series."""
    if "plane" not in tuple(stack.dims):
        return None
    data = np.asarray(stack.data[:, stack.data.shape[1] // 2])
    return dataclasses.replace(stack, data=data, angle=None, dims=("energy", "row", "col"))


def set_4d_stack(sample: Sample, stack: Any) -> None:
    """Put a tilt series or volume stack (E, A|P, M, N) on ``sample``; ``stack`` becomes
    its 2D view (first-angle projections, or the middle plane)."""
    if "plane" in tuple(stack.dims):
        sample.volume_stack = stack
        sample.stack = mid_plane_stack(stack)
        sample.voxel_size = sample.voxel_size or float(np.asarray(stack.pixel_size)[0])
    elif stack.angle is not None:
        sample.tilt_stack = stack
        data = np.asarray(stack.data[:, 0])
        sample.stack = dataclasses.replace(stack, data=data, angle=None,
                                           dims=("energy", "row", "col"))
    sample.pixel_size = float(np.asarray(stack.pixel_size)[0])


def saved_parameters(path: str | Path) -> dict[str, dict[str, Any]]:
    """The stage forms' choices saved with a dataset file (:attr:`Document.parameters`).

    Parameters
    ----------
    path : path-like
        A dataset or project file.

    Returns
    -------
    parameters : dict of str to dict
        Stage to its form's values; empty for a file saved without them (a CLI or
        pipeline project, an older dataset file).

    Raises
    ------
    ptyxanes.io.FormatError
        Not a ptyxanes project or dataset file.
    """
    from ptyxanes.io.project import load_parameters

    forms = load_parameters(path).get(FORMS_KEY)
    if not isinstance(forms, dict):
        return {}
    return {str(k): dict(v) for k, v in forms.items() if isinstance(v, dict)}


def _plain(value: Any) -> Any:
    """JSON's lists back as the tuples the forms hold (reference files)."""
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def load_samples(path: str | Path) -> list[Sample]:
    """Every sample of a dataset or project file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    samples : list of Sample

    Raises
    ------
    ptyxanes.io.FormatError
        Not a ptyxanes project or dataset file.
    """
    from ptyxanes.io.project import load_dataset

    return [sample_from_project(pr, path) for pr in load_dataset(path)]


# ----------------------------------------------------------------------------- document
@dataclass(frozen=True)
class Edit:
    """One undoable user edit.

    Parameters
    ----------
    text : str
        What it did, for the Edit menu (``"paint labels"``, ``"set fit edge to Fe-K"``).
    undo, redo : callable
        Put the document back / forward; each emits its own change events.
    kind : str
        What it edits: ``"labels"``, ``"parameters"``, ``"registration"`` ... (panels
        offer their own Undo button only for their own kind).
    owner : object, optional
        Who recorded it; :meth:`Document.forget` drops the edits of an owner whose data
        went away (a new volume in the Segmentation panel).
    merge_key : object, optional
        An edit pushed right after one with the same key merges into it (one undo
        step for the arrow clicks of a spin box or the keystrokes of a field).
    """

    text: str
    undo: Callable[[], None]
    redo: Callable[[], None]
    kind: str = ""
    owner: Any = None
    merge_key: Any = None


#: :attr:`Document._clean` when no undo or redo leads back to the saved state.
_UNREACHABLE = object()
#: a parameter that was not set before an edit
_MISSING = object()


class Document:
    """The samples the user works on, the stage forms' choices, a dirty flag and an
    undo stack.

    Every user edit (segmentation hand edits, reference and parameter choices,
    registration Apply) is an :class:`Edit` on the undo stack and marks the
    document dirty; :meth:`save` clears the flag, and undoing or redoing back to
    the saved state clears it again. A document without samples is never dirty:
    there is nothing to save.

    Events (psygnal)
    ----------------
    samples_changed() : samples were added, removed or replaced
    sample_changed(object) : the content of one sample changed
    dirty_changed(bool) : there is (no longer) unsaved work
    path_changed(object) : the file the document is saved to (Path or None)
    undo_changed() : the undo or redo stack changed
    parameters_changed(str) : the choices of a stage's form changed (stage key)
    """

    samples_changed = Signal()
    sample_changed = Signal(object)
    dirty_changed = Signal(bool)
    path_changed = Signal(object)
    undo_changed = Signal()
    parameters_changed = Signal(str)

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.path: Path | None = None
        #: stage -> {parameter: value}: the choices of the stage forms (plain data)
        self.parameters: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        #: where the session's long stages run (``ptyxanes_gui.presenters.compute_presenter
        #: .ComputeChoice``); None: in this process
        self.compute: Any = None
        self._clean: Any = None  # the top undo edit of the saved state (None: empty stack)
        self._merge_open = False  # the top edit may take a following one with its key

    # ---------------------------------------------------------------- state
    @property
    def dirty(self) -> bool:
        """True when there is work not saved to :attr:`path`."""
        return self._dirty

    def set_dirty(self, dirty: bool) -> None:
        """Mark the document as unsaved work, or the current state as saved.

        Emits ``dirty_changed`` on a change.
        """
        if dirty:
            self._clean = _UNREACHABLE
        else:
            self._clean = self._top()
            self._merge_open = False
        self._set_dirty(dirty)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)

    def _top(self) -> Edit | None:
        return self._undo[-1] if self._undo else None

    def _follow_clean(self) -> None:
        """Dirty unless the undo stack is where it was when saved (or there are no samples)."""
        self._set_dirty(bool(self.samples) and self._clean is not self._top())

    def add_samples(self, samples: list[Sample], *, dirty: bool = False) -> None:
        """Append samples (opening files is not unsaved work; a demo or new results are)."""
        self.samples.extend(samples)
        self.samples_changed.emit()
        if dirty:
            self.set_dirty(True)
        elif not self._dirty:
            self._clean = self._top()  # what is open now is what the files hold

    def changed(self, sample: Sample) -> None:
        """Announce that a stage or an edit changed ``sample``; marks the document dirty."""
        self.sample_changed.emit(sample)
        self.set_dirty(True)

    def index(self, sample: Sample) -> int:
        """Position of ``sample`` (identity), -1 when absent."""
        return next((i for i, s in enumerate(self.samples) if s is sample), -1)

    # ---------------------------------------------------------------- parameters
    def set_parameters(self, stage: str, values: dict[str, Any], text: str | None = None,
                       *, merge_key: Any = None) -> bool:
        """Change some choices of a stage's form.

        Parameters
        ----------
        stage : str
            ``"fit"``, ``"register"``, ``"segment"`` ...
        values : dict
            The parameters that change and their new values (plain data).
        text : str, optional
            The user's edit, for the Edit menu: the change is undoable and marks the
            document dirty. None: the application's own update (a form following the
            selected sample), neither undoable nor unsaved work.
        merge_key : object, optional
            Changes pushed one after another with the same key merge into one undo
            step (the arrow clicks of a spin box, the keystrokes of a field).

        Returns
        -------
        changed : bool
            False when every value was already so (nothing happens).
        """
        current = self.parameters.setdefault(stage, {})
        new = {k: v for k, v in values.items() if k not in current or current[k] != v}
        if not new:
            return False
        old = {k: current.get(k, _MISSING) for k in new}

        def put(vals: dict[str, Any]) -> None:
            cur = self.parameters.setdefault(stage, {})
            for k, v in vals.items():
                if v is _MISSING:
                    cur.pop(k, None)
                else:
                    cur[k] = v
            self.parameters_changed.emit(stage)

        put(new)
        if text is not None:
            self.push(Edit(text, lambda: put(old), lambda: put(new), kind="parameters",
                           merge_key=merge_key))
        return True

    def restore_parameters(self, parameters: dict[str, dict[str, Any]]) -> None:
        """Show the forms' choices read back from a file (:func:`saved_parameters`).

        Not an edit: neither undoable nor unsaved work. Emits ``parameters_changed``
        for every stage that changed.

        Parameters
        ----------
        parameters : dict of str to dict
            Stage to its form's values (JSON's lists are taken as tuples).
        """
        for stage, values in parameters.items():
            self.set_parameters(stage, {k: _plain(v) for k, v in values.items()})

    # ---------------------------------------------------------------- undo
    def push(self, edit: Edit) -> None:
        """Record an edit that was just applied (clears the redo stack); marks dirty.

        An edit with the :attr:`Edit.merge_key` of the edit pushed just before it
        (no undo, redo or save in between) merges into that one: undoing it undoes
        both.
        """
        top = self._top()
        if (self._merge_open and top is not None and edit.merge_key is not None
                and top.merge_key == edit.merge_key and top is not self._clean):
            edit = dataclasses.replace(edit, undo=top.undo)
            self._undo.pop()
        self._undo.append(edit)
        self._redo.clear()
        self._merge_open = True
        self._follow_clean()
        self.undo_changed.emit()

    def undo(self) -> str | None:
        """Undo the last edit; returns its text, or None when there is none."""
        if not self._undo:
            return None
        edit = self._undo.pop()
        edit.undo()
        self._redo.append(edit)
        self._merge_open = False
        self._follow_clean()
        self.undo_changed.emit()
        return edit.text

    def redo(self) -> str | None:
        """Redo the last undone edit; returns its text, or None."""
        if not self._redo:
            return None
        edit = self._redo.pop()
        edit.redo()
        self._undo.append(edit)
        self._merge_open = False
        self._follow_clean()
        self.undo_changed.emit()
        return edit.text

    def forget(self, owner: Any) -> int:
        """Drop the edits recorded by ``owner`` (its data is gone); returns how many.

        The edits of other owners stay; when the document was saved, the saved state
        stays reachable only if none of the dropped edits led to it.
        """
        undo = [e for e in self._undo if e.owner is not owner]
        redo = [e for e in self._redo if e.owner is not owner]
        n = len(self._undo) + len(self._redo) - len(undo) - len(redo)
        if not n:
            return 0
        applied_dropped = len(undo) < len(self._undo)
        self._undo, self._redo = undo, redo
        if not self._dirty:
            self._clean = self._top()  # the state did not change: still the saved one
        elif applied_dropped or (self._clean is not None
                                 and not any(e is self._clean for e in undo + redo)):
            # the dropped edits made the current state, or led to the saved one
            self._clean = _UNREACHABLE
        self._merge_open = False
        self._follow_clean()
        self.undo_changed.emit()
        return n

    @property
    def undo_edit(self) -> Edit | None:
        """The edit :meth:`undo` would undo."""
        return self._top()

    @property
    def redo_edit(self) -> Edit | None:
        """The edit :meth:`redo` would redo."""
        return self._redo[-1] if self._redo else None

    @property
    def undo_text(self) -> str | None:
        """Text of the edit :meth:`undo` would undo."""
        return self._undo[-1].text if self._undo else None

    @property
    def redo_text(self) -> str | None:
        """Text of the edit :meth:`redo` would redo."""
        return self._redo[-1].text if self._redo else None

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Save every sample into one dataset file; clears the dirty flag.

        Parameters
        ----------
        path : path-like

        Returns
        -------
        path : pathlib.Path

        Raises
        ------
        ValueError
            Nothing to save.
        """
        out = self._write(path)
        if self.path != out:
            self.path = out
            self.path_changed.emit(out)
        self.set_dirty(False)  # undoing or redoing back to this state is clean again
        return out

    def autosave(self, path: str | Path) -> Path | None:
        """Write every sample to a recovery file; the dirty flag and :attr:`path` stay.

        Returns
        -------
        path : pathlib.Path or None
            None when there was nothing to save.
        """
        if not self.samples:
            return None
        return self._write(path)

    def _write(self, path: str | Path) -> Path:
        from ptyxanes.io.project import save_dataset

        savable = [s for s in self.samples if s.kind != "scans"]
        if not savable:
            raise ValueError("nothing to save: open or reconstruct a dataset first")
        skipped = len(self.samples) - len(savable)
        if skipped:
            logger.warning("%d sample(s) with only raw scans are not saved (reconstruct them "
                           "first); their scan folders stay where they are", skipped)
        projects = [sample_to_project(s) for s in savable]
        if self.parameters:  # the forms' choices, read back by saved_parameters
            projects[0].parameters[FORMS_KEY] = {k: dict(v) for k, v in self.parameters.items()}
        out = Path(save_dataset(path, projects, overwrite=True))
        logger.info("saved %d sample(s) to %s", len(savable), out)
        return out
