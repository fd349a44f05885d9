"""The project file: everything an analysis produces, in one NeXus HDF5 file.

Layout (see docs/formats.md)::

    /                         NXroot, default="entry"
    /entry                    NXentry, default=<first map> (else "stacks"); attrs
                              ptyxanes_project=1 and the provenance of the save
    /entry/<map>              NXdata per map: data (M, N) or (P, M, N) float,
                              axes ["y", "x"] or ["z", "y", "x"] in m (pixel centres),
                              attrs pixel_size (m); data attrs units, long_name
    /entry/stacks/<name>      NXdata per image stack (the stack-file layout)
    /entry/labels/<name>      integer label images/volumes (0 = background)
    /entry/tables/<name>/<c>  1-D columns of a table (NXcollection per table)
    /entry/parameters/<stage> JSON text of that stage's parameters
    /entry/inputs/<name>      path (text) of an input used
    /entry/provenance         JSON text: list of provenance records, oldest first
    /entry/process_<k>        NXprocess per provenance record (for NeXus tools)

A dataset file (:func:`save_dataset`) holds several samples: ``/entry`` is the
first, ``/sample_1``, ``/sample_2`` ... the others, each laid out like ``/entry``;
the root attribute ``ptyxanes_samples`` lists them in order.

Saves are atomic: a temporary file in the same folder, renamed over the target.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from ptyxanes.io._atomic import atomic_path
from ptyxanes.io.errors import FormatError
from ptyxanes.io.nexus import (
    _attr_str,
    init_nexus_file,
    open_hdf5,
    read_stack_group,
    write_provenance,
    write_stack_group,
)
from ptyxanes.io.stack import ImageStack
from ptyxanes.provenance import provenance as _provenance

logger = logging.getLogger(__name__)

RESERVED = frozenset(
    {"stacks", "labels", "tables", "parameters", "inputs", "provenance", "title", "extra"}
)
"""Names a map cannot take (groups of the project layout)."""

_NAME = re.compile(r"^[A-Za-z0-9_.\-+]+$")


@dataclass
class MapData:
    """A 2D map or 3D volume of one quantity (valence, edge energy, thickness...).

    Parameters
    ----------
    data : ndarray of shape (M, N) or (P, M, N)
        Values (NaN where undefined).
    pixel_size : float
        Pixel (voxel) size, m.
    name : str
        Short name; also the NXdata group name ``/entry/<name>``.
    units : str, optional
        Units of the values (``"eV"``, ``""`` for valence...).
    long_name : str, optional
        Axis label for plots.
    attrs : dict, optional
        Free metadata (JSON-serialisable values).
    """

    data: NDArray[Any]
    pixel_size: float
    name: str = ""
    units: str = ""
    long_name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    """All results of an analysis.

    Parameters
    ----------
    maps : dict of str to MapData
        Written as ``/entry/<name>`` NXdata groups.
    stacks : dict of str to ImageStack
        ``/entry/stacks/<name>``.
    labels : dict of str to ndarray
        Integer label images or volumes, ``/entry/labels/<name>``.
    tables : dict of str to dict of str to ndarray
        Free 1-D columns (shifts, per-crystal tables...); columns of one table
        share their length.
    parameters : dict of str to dict
        Parameters per stage (JSON).
    inputs : dict of str to str
        Name → path of the inputs used.
    provenance : list of dict
        Provenance records (:func:`ptyxanes.provenance.provenance`), oldest first.
    """

    maps: dict[str, MapData] = field(default_factory=dict)
    stacks: dict[str, ImageStack] = field(default_factory=dict)
    labels: dict[str, NDArray[Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, NDArray[Any]]] = field(default_factory=dict)
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    provenance: list[dict[str, str]] = field(default_factory=list)


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name or ""):
        raise ValueError(f"{kind} name {name!r}: use letters, digits, '_', '-', '.', '+'")
    if kind == "map" and (name in RESERVED or name.startswith("process_")):
        raise ValueError(f"map name {name!r} is reserved")


def _json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, Path):
            return str(o)
        return repr(o)

    return json.dumps(obj, default=default, sort_keys=True)


def save_project(
    path: str | os.PathLike[str], project: Project, *, overwrite: bool = False
) -> Path:
    """Save a project atomically (temporary file, then rename).

    Parameters
    ----------
    path : path-like
        Destination ``.h5``/``.nxs``.
    project : Project
        What to save; stacks may be lazy (``h5py.Dataset``), even from the file
        being replaced (copied image by image before the rename; POSIX only).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        Bad names, map shapes, non-positive pixel sizes, table columns of
        different lengths, non-integer labels.
    FileExistsError
        If the file exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "proj.h5"
    >>> pr = Project(maps={"valence": MapData(np.full((3, 4), 2.5), 5e-8, "valence")},
    ...              parameters={"fit": {"method": "halfheight"}})
    >>> r = load_project(save_project(p, pr))
    >>> r.maps["valence"].data.shape, r.parameters["fit"]["method"]
    ((3, 4), 'halfheight')
    """
    _validate(project)
    dest = Path(path)
    with atomic_path(dest, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        entry = init_nexus_file(f, dest.stem, default=None)
        _write_entry(entry, project, dest)
    logger.info(
        "saved project %s: %d maps, %d stacks, %d labels",
        dest,
        len(project.maps),
        len(project.stacks),
        len(project.labels),
    )
    return dest


def _validate(project: Project) -> None:
    for name, m in project.maps.items():
        _check_name("map", name)
        a = np.asarray(m.data)
        if a.ndim not in (2, 3) or a.dtype.kind not in "fiub":
            raise ValueError(f"map {name!r}: expected a real (M, N) or (P, M, N) array")
        if not (np.isfinite(m.pixel_size) and m.pixel_size > 0):
            raise ValueError(f"map {name!r}: pixel_size must be positive, m")
    for name in project.stacks:
        _check_name("stack", name)
    for name, lab in project.labels.items():
        _check_name("label", name)
        if np.asarray(lab).dtype.kind not in "iub":
            raise ValueError(f"labels {name!r} must be integers")
    for tname, cols in project.tables.items():
        _check_name("table", tname)
        lengths = {len(np.asarray(c)) for c in cols.values()}
        if len(lengths) > 1:
            raise ValueError(f"table {tname!r}: columns differ in length {sorted(lengths)}")
        for c in cols:
            _check_name("column", c)
    for group in (project.parameters, project.inputs):
        for name in group:
            _check_name("entry", name)


def _write_entry(entry: h5py.Group, project: Project, dest: Path) -> None:
    entry.attrs["ptyxanes_project"] = 1
    for key, val in _provenance("project", {"path": str(dest)}).items():
        entry.attrs[f"saved_{key}"] = val
    for name, m in project.maps.items():
        _write_map(entry, name, m)
    st = entry.create_group("stacks")
    st.attrs["NX_class"] = "NXcollection"
    for name, stack in project.stacks.items():
        write_stack_group(st, name, stack)
    if project.stacks:
        st.attrs["default"] = next(iter(project.stacks))
    if project.maps:
        entry.attrs["default"] = next(iter(project.maps))
    elif project.stacks:
        entry.attrs["default"] = "stacks"
    lab = entry.create_group("labels")
    lab.attrs["NX_class"] = "NXcollection"
    for name, arr in project.labels.items():
        a = np.asarray(arr)
        lab.create_dataset(
            name, data=a.astype(np.int32) if a.dtype == bool else a, compression="gzip"
        )
    tab = entry.create_group("tables")
    tab.attrs["NX_class"] = "NXcollection"
    for tname, cols in project.tables.items():
        g = tab.create_group(tname)
        g.attrs["NX_class"] = "NXcollection"
        g.attrs["columns"] = list(cols)
        for c, v in cols.items():
            g.create_dataset(c, data=np.asarray(v))
    par = entry.create_group("parameters")
    par.attrs["NX_class"] = "NXcollection"
    for stage, params in project.parameters.items():
        par.create_dataset(stage, data=_json(params)).attrs["format"] = "json"
    inp = entry.create_group("inputs")
    inp.attrs["NX_class"] = "NXcollection"
    for name, pth in project.inputs.items():
        inp.create_dataset(name, data=str(pth))
    entry.create_dataset("provenance", data=_json(list(project.provenance))).attrs["format"] = (
        "json"
    )
    for rec in project.provenance:
        write_provenance(entry, rec)


def _write_map(entry: h5py.Group, name: str, m: MapData) -> None:
    a = np.asarray(m.data)
    g = entry.create_group(name)
    g.attrs["NX_class"] = "NXdata"
    g.attrs["signal"] = "data"
    axes = ["y", "x"] if a.ndim == 2 else ["z", "y", "x"]
    g.attrs["axes"] = axes
    g.attrs["pixel_size"] = float(m.pixel_size)
    g.attrs["ptyxanes_attrs"] = _json(m.attrs)
    ds = g.create_dataset("data", data=a, chunks=True if a.size > 4096 else None)
    ds.attrs["units"] = m.units
    ds.attrs["long_name"] = m.long_name or m.name or name
    ds.attrs["interpretation"] = "image"
    for i, ax in enumerate(axes):
        d = g.create_dataset(ax, data=np.arange(a.shape[i]) * float(m.pixel_size))
        d.attrs["units"] = "m"
        d.attrs["long_name"] = f"{ax} (m)"
        g.attrs[f"{ax}_indices"] = i


def load_project(path: str | os.PathLike[str], *, lazy: bool = True) -> Project:
    """Load a project saved by :func:`save_project`.

    Parameters
    ----------
    path : path-like
        The project file.
    lazy : bool, optional
        Keep stacks as ``h5py.Dataset`` (the file stays open while they are
        referenced); maps, labels and tables are always read into memory.

    Returns
    -------
    project : Project

    Raises
    ------
    FormatError
        Not HDF5, truncated, not a ptyxanes project, or a malformed group.
    """
    p = Path(path)
    f = open_hdf5(p)
    keep_open = False
    try:
        entry = f.get("entry")
        if not isinstance(entry, h5py.Group) or "ptyxanes_project" not in entry.attrs:
            raise FormatError(p, "not a ptyxanes project file (no /entry with ptyxanes_project)")
        proj, keep_open = _read_entry(entry, p, lazy)
    except FormatError:
        f.close()
        raise
    except (OSError, KeyError, ValueError) as exc:
        f.close()
        raise FormatError(p, f"cannot read the project; truncated or corrupt ({exc})") from exc
    if not keep_open:
        f.close()
    return proj


def load_parameters(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The stage parameters of a project (of a dataset: its first sample), nothing else.

    Reads only ``/entry/parameters``: cheap for a project of any size.

    Parameters
    ----------
    path : path-like
        A project or dataset file.

    Returns
    -------
    parameters : dict of str to Any
        Stage name to its decoded JSON (empty when the file has none).

    Raises
    ------
    FormatError
        Not HDF5, not a ptyxanes project, or a parameter that is not valid JSON.
    """
    p = Path(path)
    with open_hdf5(p) as f:
        entry = f.get("entry")
        if not isinstance(entry, h5py.Group) or "ptyxanes_project" not in entry.attrs:
            raise FormatError(p, "not a ptyxanes project file (no /entry with ptyxanes_project)")
        par = entry.get("parameters")
        if not isinstance(par, h5py.Group):
            return {}
        return {stage: _load_json(d, p) for stage, d in par.items()}


def _read_entry(entry: h5py.Group, p: Path, lazy: bool) -> tuple[Project, bool]:
    keep_open = False
    proj = Project()
    for name, obj in entry.items():
        if (
            isinstance(obj, h5py.Group)
            and _attr_str(obj, "NX_class") == "NXdata"
            and name not in RESERVED
        ):
            proj.maps[name] = _read_map(obj, p)
    stacks = entry.get("stacks")
    if isinstance(stacks, h5py.Group):
        for name, g in stacks.items():
            proj.stacks[name] = read_stack_group(g, p, lazy=lazy)
            keep_open = keep_open or lazy
    labels = entry.get("labels")
    if isinstance(labels, h5py.Group):
        for name, d in labels.items():
            proj.labels[name] = np.asarray(d[()])
    tables = entry.get("tables")
    if isinstance(tables, h5py.Group):
        for tname, g in tables.items():
            cols = g.attrs.get("columns")
            names = (
                []
                if cols is None
                else [c.decode() if isinstance(c, bytes) else str(c) for c in np.ravel(cols)]
            )
            order = [c for c in names if c in g] or list(g)
            proj.tables[tname] = {c: np.asarray(g[c][()]) for c in order}
    par = entry.get("parameters")
    if isinstance(par, h5py.Group):
        for stage, d in par.items():
            proj.parameters[stage] = _load_json(d, p)
    inp = entry.get("inputs")
    if isinstance(inp, h5py.Group):
        for name, d in inp.items():
            v = d[()]
            proj.inputs[name] = v.decode() if isinstance(v, bytes) else str(v)
    if "provenance" in entry:
        proj.provenance = list(_load_json(entry["provenance"], p))
    return proj, keep_open


def _read_map(g: h5py.Group, p: Path) -> MapData:
    if "data" not in g:
        raise FormatError(p, f"missing dataset {g.name}/data")
    d = g["data"]
    if d.ndim not in (2, 3):
        raise FormatError(p, f"{d.name} has shape {d.shape}; expected (M, N) or (P, M, N)")
    px = float(g.attrs.get("pixel_size", np.nan))
    if not (np.isfinite(px) and px > 0):
        raise FormatError(p, f"{g.name} attribute pixel_size missing or not positive")
    raw = _attr_str(g, "ptyxanes_attrs") or "{}"
    return MapData(
        data=np.asarray(d[()]),
        pixel_size=px,
        name=g.name.rsplit("/", 1)[-1],
        units=_attr_str(d, "units") or "",
        long_name=_attr_str(d, "long_name") or "",
        attrs=json.loads(raw),
    )


def _load_json(d: h5py.Dataset, p: Path) -> Any:
    v = d[()]
    text = v.decode() if isinstance(v, bytes) else str(v)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(p, f"{d.name} is not valid JSON ({exc})") from exc


#: Root attribute of a dataset file: the NXentry names of its samples, in order.
SAMPLES_ATTR = "ptyxanes_samples"


def save_dataset(
    path: str | os.PathLike[str], projects: list[Project], *, overwrite: bool = False
) -> Path:
    """Save several samples' projects in one file (one NXentry per sample), atomically.

    The first sample is ``/entry`` (so :func:`load_project` and NeXus viewers
    read it as a plain project); the others are ``/sample_1``, ``/sample_2`` ...,
    each laid out like ``/entry``. The root attribute ``ptyxanes_samples`` lists
    the entries in order.

    Parameters
    ----------
    path : path-like
        Destination ``.h5``/``.nxs``.
    projects : list of Project
        One per sample (at least one).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        No project, or a project :func:`save_project` would refuse.
    FileExistsError
        If the file exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "dataset.h5"
    >>> a = Project(maps={"valence": MapData(np.full((3, 4), 2.5), 5e-8, "valence")})
    >>> b = Project(maps={"valence": MapData(np.full((2, 2), 3.0), 5e-8, "valence")})
    >>> [q.maps["valence"].data.shape for q in load_dataset(save_dataset(p, [a, b]))]
    [(3, 4), (2, 2)]
    """
    if not projects:
        raise ValueError("a dataset needs at least one sample")
    for project in projects:
        _validate(project)
    dest = Path(path)
    with atomic_path(dest, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        names = ["entry"] + [f"sample_{k}" for k in range(1, len(projects))]
        entry = init_nexus_file(f, dest.stem, default=None)
        _write_entry(entry, projects[0], dest)
        for name, project in zip(names[1:], projects[1:], strict=True):
            g = f.create_group(name)
            g.attrs["NX_class"] = "NXentry"
            g.create_dataset("title", data=f"{dest.stem} {name}")
            _write_entry(g, project, dest)
        f.attrs[SAMPLES_ATTR] = names
    logger.info("saved dataset %s: %d samples", dest, len(projects))
    return dest


def load_dataset(path: str | os.PathLike[str], *, lazy: bool = True) -> list[Project]:
    """Load every sample of a file saved by :func:`save_dataset` (or one project).

    Parameters
    ----------
    path : path-like
    lazy : bool, optional
        Keep stacks as ``h5py.Dataset`` (the file stays open while referenced).

    Returns
    -------
    projects : list of Project
        In the saved order; one for a plain project file.

    Raises
    ------
    FormatError
        Not a ptyxanes project or dataset, or a malformed entry.
    """
    p = Path(path)
    f = open_hdf5(p)
    keep_open = False
    out: list[Project] = []
    try:
        raw = f.attrs.get(SAMPLES_ATTR)
        names = (["entry"] if raw is None else
                 [n.decode() if isinstance(n, bytes) else str(n) for n in np.ravel(raw)])
        for name in names:
            entry = f.get(name)
            if not isinstance(entry, h5py.Group) or "ptyxanes_project" not in entry.attrs:
                raise FormatError(p, f"not a ptyxanes project file (no /{name} with "
                                     "ptyxanes_project)")
            proj, keep = _read_entry(entry, p, lazy)
            keep_open = keep_open or keep
            out.append(proj)
    except FormatError:
        f.close()
        raise
    except (OSError, KeyError, ValueError) as exc:
        f.close()
        raise FormatError(p, f"cannot read the dataset; truncated or corrupt ({exc})") from exc
    if not keep_open:
        f.close()
    return out
