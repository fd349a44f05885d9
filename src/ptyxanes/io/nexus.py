"""NeXus (HDF5) stack files: reconstructed images across energy.

Layout (see docs/formats.md for the full description and a writing snippet)::

    /                       attrs NX_class="NXroot", default="entry"
    /entry                  NXentry, attrs default="data"
    /entry/data             NXdata, attrs signal="data", axes=["energy", ".", "."]
                            (or ["energy", "angle", ".", "."] for tilt series,
                            ["energy", ".", ".", "."] for volumes),
                            energy_indices=0, angle_indices=1
    /entry/data/data        (E, M, N) or (E, A, M, N); complex64 (complex
                            transmission) or float32; chunked one image per chunk;
                            attrs ptyxanes_kind, dims, interpretation="image"
    /entry/data/energy      (E,) float64, eV, strictly increasing, attr units="eV"
    /entry/data/angle       (A,) float64, deg (tilt series only), attr units="deg"
    /entry/data/pixel_size  (E,) float64, m, attr units="m"
    /entry/process_<stage>  NXprocess: provenance (software, version, time, parameters)

``ptyxanes_kind`` is ``"complex"`` (complex transmission T), ``"modulus"``
(|T|), or ``"absorption"`` (−ln|T| for projections; the linear attenuation
coefficient in 1/m for volumes). A real ``data`` without the attribute is
read as ``"modulus"``.

Lazy reading returns the ``h5py.Dataset`` itself as ``ImageStack.data``: the
dataset holds the HDF5 file open until the dataset object is garbage
collected (or ``stack.data.file.close()`` is called); slice it
(``stack.data[i]``) to read one image at a time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from ptyxanes.io._atomic import atomic_path
from ptyxanes.io.errors import FormatError
from ptyxanes.io.stack import ImageStack
from ptyxanes.provenance import provenance as _provenance

logger = logging.getLogger(__name__)

KIND_ATTR = "ptyxanes_kind"
"""Attribute of the ``data`` dataset saying what the values are."""

KINDS = ("complex", "modulus", "absorption")

_RESERVED = {"data", "energy", "angle", "pixel_size"}


# --------------------------------------------------------------------------- helpers
def open_hdf5(path: str | os.PathLike[str]) -> h5py.File:
    """Open an HDF5 file read-only, turning every failure into a FormatError.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    f : h5py.File
        Opened read-only (the file on disk is never changed).

    Raises
    ------
    FormatError
        If the file is missing, is not HDF5, or is truncated or corrupt.
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(p, "file not found")
    if p.is_dir():
        raise FormatError(p, "is a folder, not an HDF5 file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise FormatError(p, f"cannot read the file ({exc})") from exc
    if head != b"\x89HDF\r\n\x1a\n" and not h5py.is_hdf5(p):
        raise FormatError(p, "not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise FormatError(p, f"cannot open as HDF5; truncated or corrupt file ({exc})") from exc


def _attr_str(obj: h5py.HLObject, name: str, default: str | None = None) -> str | None:
    v = obj.attrs.get(name, default)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
        return v.decode() if isinstance(v, bytes) else str(v)
    return None if v is None else str(v)


def _attr_list(obj: h5py.HLObject, name: str) -> list[str] | None:
    v = obj.attrs.get(name)
    if v is None:
        return None
    if isinstance(v, str | bytes):
        s = v.decode() if isinstance(v, bytes) else v
        return [s]
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.ravel(v)]


def find_nxdata(
    f: h5py.File, path: str | os.PathLike[str], default: str = "/entry/data"
) -> h5py.Group:
    """Follow the NeXus ``default`` attribute chain to the plotted NXdata group.

    Parameters
    ----------
    f : h5py.File
        Open file.
    path : path-like
        The file's name, for error messages.
    default : str, optional
        Group used when the chain is absent.

    Returns
    -------
    group : h5py.Group
        The NXdata group.

    Raises
    ------
    FormatError
        If neither the chain nor ``default`` leads to a group.
    """
    grp: h5py.Group = f
    for _ in range(4):
        name = _attr_str(grp, "default")
        if not name or name not in grp or not isinstance(grp[name], h5py.Group):
            break
        grp = grp[name]
        if _attr_str(grp, "NX_class") == "NXdata":
            return grp
    obj = f.get(default)
    if isinstance(obj, h5py.Group):
        return obj
    raise FormatError(path, f"missing group {default} (no NeXus default chain to an NXdata)")


def _vector(
    grp: h5py.Group, name: str, path: Any, n: int | None, *, required: bool = True
) -> NDArray[np.float64] | None:
    full = f"{grp.name}/{name}"
    if name not in grp:
        if required:
            raise FormatError(path, f"missing dataset {full}")
        return None
    ds = grp[name]
    if not isinstance(ds, h5py.Dataset):
        raise FormatError(path, f"{full} is a group, expected a dataset")
    if ds.dtype.kind not in "fiu":
        raise FormatError(path, f"{full} has dtype {ds.dtype}; expected real numbers")
    try:
        v = np.asarray(ds[()], dtype=np.float64)
    except OSError as exc:
        raise FormatError(path, f"cannot read {full}; truncated or corrupt ({exc})") from exc
    if v.ndim == 0 and n is not None and name == "pixel_size":
        v = np.full(n, float(v))
    if v.ndim != 1 or (n is not None and v.shape[0] != n):
        want = f"({n},)" if n is not None else "1-D"
        raise FormatError(path, f"{full} has shape {v.shape}; expected {want}")
    if not np.all(np.isfinite(v)):
        raise FormatError(path, f"{full} contains NaN or inf")
    return v


# --------------------------------------------------------------------------- read
def read_stack(path: str | os.PathLike[str], *, lazy: bool = True) -> ImageStack:
    """Read a NeXus stack file.

    Parameters
    ----------
    path : path-like
        The ``.h5``/``.nxs`` file (layout in the module docstring).
    lazy : bool, optional
        If true (default) ``data`` is the open ``h5py.Dataset`` (read one
        image at a time by slicing; the file stays open while the dataset is
        referenced); NaN/inf are then checked in the first image only. If
        false the whole array is read and checked.

    Returns
    -------
    stack : ImageStack
        With ``attrs["source_file"]`` set to the path, ``attrs["extra"]`` the
        ``/entry/extra`` datasets, and the stored free attributes.

    Raises
    ------
    FormatError
        Not HDF5, truncated, missing ``data``/``energy``/``pixel_size``,
        wrong shape or dtype, unknown kind, energies not strictly increasing,
        NaN or inf.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> s = ImageStack(np.ones((2, 4, 5), np.complex64), np.array([8330.0, 8340.0]),
    ...                np.array([2e-8, 2e-8]))
    >>> r = read_stack(write_stack(p, s), lazy=False)
    >>> r.data.shape, r.kind, r.dims
    ((2, 4, 5), 'complex', ('energy', 'row', 'col'))
    """
    p = Path(path)
    f = open_hdf5(p)
    try:
        stack = _read_open(f, p, lazy)
    except BaseException:
        f.close()
        raise
    if not lazy:
        f.close()
    return stack


def _read_open(f: h5py.File, p: Path, lazy: bool) -> ImageStack:
    stack = read_stack_group(find_nxdata(f, p), p, lazy=lazy)
    extra_grp = f.get("/entry/extra")
    if isinstance(extra_grp, h5py.Group):
        stack.attrs["extra"] = {
            k: v[()] for k, v in extra_grp.items() if isinstance(v, h5py.Dataset)
        }
    return stack


def read_stack_group(
    grp: h5py.Group, p: str | os.PathLike[str], *, lazy: bool = True
) -> ImageStack:
    """Read an ImageStack from an NXdata group laid out as in :func:`write_stack_group`.

    Parameters
    ----------
    grp : h5py.Group
        The NXdata group (``/entry/data`` of a stack file, ``/entry/stacks/<name>``
        of a project).
    p : path-like
        The file, for error messages and ``attrs["source_file"]``.
    lazy : bool, optional
        Keep ``data`` as the ``h5py.Dataset`` (NaN/inf checked on the first image).

    Returns
    -------
    stack : ImageStack

    Raises
    ------
    FormatError
        Missing datasets, wrong shapes or dtypes, energies not strictly
        increasing, NaN or inf.
    """
    p = Path(p)
    signal = _attr_str(grp, "signal") or "data"
    if signal not in grp:
        raise FormatError(p, f"missing dataset {grp.name}/{signal}")
    ds = grp[signal]
    if not isinstance(ds, h5py.Dataset):
        raise FormatError(p, f"{ds.name} is a group, expected a dataset")
    if ds.ndim not in (3, 4):
        raise FormatError(p, f"{ds.name} has shape {ds.shape}; expected (E, M, N) or (E, A, M, N)")
    if ds.dtype.kind not in "fciu":
        raise FormatError(p, f"{ds.name} has dtype {ds.dtype}; expected complex or real numbers")
    kind = _attr_str(ds, KIND_ATTR) or ("complex" if ds.dtype.kind == "c" else "modulus")
    if kind not in KINDS:
        raise FormatError(p, f"{ds.name} attribute {KIND_ATTR}={kind!r}; expected one of {KINDS}")
    if (kind == "complex") != (ds.dtype.kind == "c"):
        raise FormatError(p, f"{ds.name} has dtype {ds.dtype} but {KIND_ATTR}={kind!r}")
    n_e = ds.shape[0]
    energy = _vector(grp, "energy", p, n_e)
    assert energy is not None
    if np.any(np.diff(energy) <= 0):
        raise FormatError(p, f"{grp.name}/energy: energies are not strictly increasing")
    pixel = _vector(grp, "pixel_size", p, n_e)
    assert pixel is not None
    if np.any(pixel <= 0):
        raise FormatError(p, f"{grp.name}/pixel_size must be positive")
    dims_attr = _attr_list(ds, "dims")
    dims: tuple[str, ...] = tuple(dims_attr) if dims_attr else ()
    if dims and len(dims) != ds.ndim:
        raise FormatError(p, f"{ds.name} attribute dims={dims} does not match shape {ds.shape}")
    angle = None
    if ds.ndim == 4 and (not dims or dims[1] == "angle"):
        angle = _vector(grp, "angle", p, ds.shape[1], required=False)
    try:
        # lazily: check one image only (a 4-D stack's ds[0] may be hundreds of MB)
        first = np.asarray(ds[(0,) * (ds.ndim - 2)]) if lazy else np.asarray(ds[()])
    except OSError as exc:
        raise FormatError(p, f"cannot read {ds.name}; truncated or corrupt ({exc})") from exc
    if not np.all(np.isfinite(first)):
        raise FormatError(p, f"{ds.name} contains NaN or inf")
    attrs: dict[str, Any] = {}
    raw = _attr_str(grp, "ptyxanes_attrs")
    if raw:
        try:
            attrs.update(json.loads(raw))
        except json.JSONDecodeError:
            logger.warning("%s: unreadable ptyxanes_attrs ignored", p)
    attrs["source_file"] = str(p)
    return ImageStack(
        data=ds if lazy else first,
        energy=energy,
        pixel_size=pixel,
        kind=kind,  # type: ignore[arg-type]
        angle=angle,
        dims=dims,
        attrs=attrs,
    )


# --------------------------------------------------------------------------- write

def init_nexus_file(f: h5py.File, title: str, *, default: str | None = "data") -> h5py.Group:
    """Write the NXroot attributes and create ``/entry`` (NXentry) with its title.

    Parameters
    ----------
    f : h5py.File
        A file opened for writing.
    title : str
        ``/entry/title``.
    default : str or None, optional
        Name of the entry's default NXdata group (for silx view / h5web).

    Returns
    -------
    entry : h5py.Group
    """
    f.attrs["NX_class"] = "NXroot"
    f.attrs["default"] = "entry"
    f.attrs["creator"] = "ptyxanes"
    entry = f.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    if default is not None:
        entry.attrs["default"] = default
    entry.create_dataset("title", data=title)
    return entry

def write_stack(
    path: str | os.PathLike[str],
    stack: ImageStack,
    *,
    overwrite: bool = False,
    extra: Mapping[str, Any] | None = None,
    provenance: Mapping[str, str] | None = None,
    compression: str | None = None,
) -> Path:
    """Write an ImageStack as a NeXus file that opens with a default plot.

    Parameters
    ----------
    path : path-like
        Destination (written to a temporary file, then renamed).
    stack : ImageStack
        The stack; ``data`` may be an ndarray or an ``h5py.Dataset`` of
        another file (copied one image at a time). Complex data are stored
        as complex64, real data as float32.
    overwrite : bool, optional
        Replace an existing file.
    extra : mapping, optional
        Arrays stored as datasets in ``/entry/extra`` (an NXcollection), e.g.
        applied shifts; read back in ``attrs["extra"]``.
    provenance : mapping of str to str, optional
        A :func:`ptyxanes.provenance.provenance` record; stored on
        ``/entry/process_<stage>``. Default: a record for stage ``"stack"``.
    compression : str, optional
        h5py compression filter (``"gzip"``, ``"lzf"``); none by default.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If shapes disagree, energies are not strictly increasing, the kind is
        unknown or values are not finite.
    FileExistsError
        If the file exists and ``overwrite`` is false.
    """
    _check_stack(stack)
    shape = tuple(int(s) for s in stack.data.shape)
    prov = dict(provenance) if provenance else _provenance("stack", {})
    dest = Path(path)
    with atomic_path(dest, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        title = str(stack.attrs.get("title", stack.attrs.get("sample", dest.stem)))
        entry = init_nexus_file(f, title)
        write_stack_group(entry, "data", stack, compression=compression)
        if extra:
            ex = entry.create_group("extra")
            ex.attrs["NX_class"] = "NXcollection"
            for k, v in extra.items():
                ex.create_dataset(str(k), data=v)
        write_provenance(entry, prov)
    logger.info("wrote stack %s %s (%s)", dest, shape, stack.kind)
    return dest


def write_stack_group(
    parent: h5py.Group, name: str, stack: ImageStack, *, compression: str | None = None
) -> h5py.Group:
    """Write an ImageStack as an NXdata group ``parent/name`` (the stack-file layout).

    Parameters
    ----------
    parent : h5py.Group
        Where to create the group.
    name : str
        Group name.
    stack : ImageStack
        Checked first (ValueError when inconsistent); copied one image at a time.
    compression : str, optional
        h5py filter.

    Returns
    -------
    group : h5py.Group
        The NXdata group.
    """
    _check_stack(stack)
    data = stack.data
    complex_ = stack.kind == "complex"
    dtype = np.complex64 if complex_ else np.float32
    shape = tuple(int(s) for s in data.shape)
    chunks = (1,) * (len(shape) - 2) + shape[-2:]
    dims = stack.dims
    if len(shape) == 4:
        axes = (
            ["energy", "angle", ".", "."] if stack.angle is not None else ["energy", ".", ".", "."]
        )
    else:
        axes = ["energy", ".", "."]
    grp = parent.create_group(name)
    grp.attrs["NX_class"] = "NXdata"
    grp.attrs["signal"] = "data"
    grp.attrs["axes"] = axes
    grp.attrs["energy_indices"] = 0
    if len(shape) == 4 and stack.angle is not None:
        grp.attrs["angle_indices"] = 1
    free = {k: v for k, v in stack.attrs.items() if k not in ("extra", "source_file")}
    grp.attrs["ptyxanes_attrs"] = json.dumps(free, default=_jsonable)
    ds = grp.create_dataset(
        "data", shape=shape, dtype=dtype, chunks=chunks, compression=compression
    )
    ds.attrs[KIND_ATTR] = stack.kind
    ds.attrs["dims"] = list(dims)
    ds.attrs["interpretation"] = "image"
    if stack.kind == "absorption":
        is_volume = len(dims) == 4 and dims[1] == "plane"
        ds.attrs["units"] = "1/m" if is_volume else ""
        ds.attrs["long_name"] = (
            "linear attenuation coefficient (1/m)" if is_volume else "absorption -ln|T|"
        )
    else:
        ds.attrs["long_name"] = "transmission T" if complex_ else "transmission modulus |T|"
    # one image at a time: memory stays at one (M, N) image whatever the stack size
    for idx in np.ndindex(*shape[:-2]):
        img = np.asarray(data[idx])
        if not np.all(np.isfinite(img)):
            raise ValueError(f"stack image {idx} contains NaN or inf")
        ds[idx] = img.astype(dtype, copy=False)
    e = grp.create_dataset("energy", data=np.asarray(stack.energy, np.float64))
    e.attrs["units"] = "eV"
    e.attrs["long_name"] = "photon energy (eV)"
    px = grp.create_dataset("pixel_size", data=np.asarray(stack.pixel_size, np.float64))
    px.attrs["units"] = "m"
    px.attrs["long_name"] = "pixel size at each energy (m)"
    if stack.angle is not None:
        a = grp.create_dataset("angle", data=np.asarray(stack.angle, np.float64))
        a.attrs["units"] = "deg"
        a.attrs["long_name"] = "rotation angle (deg)"
    return grp


def write_provenance(entry: h5py.Group, record: Mapping[str, str]) -> h5py.Group:
    """Store a provenance record as an NXprocess group ``process_<stage>``.

    Parameters
    ----------
    entry : h5py.Group
        The NXentry.
    record : mapping of str to str
        From :func:`ptyxanes.provenance.provenance`.

    Returns
    -------
    group : h5py.Group
        The NXprocess group (its attributes hold every field; ``program``,
        ``version``, ``date`` and ``parameters`` are also datasets per NeXus).
    """
    stage = str(record.get("stage", "stack")) or "stack"
    name = f"process_{stage}"
    k = 1
    while name in entry:
        k += 1
        name = f"process_{stage}_{k}"
    g = entry.create_group(name)
    g.attrs["NX_class"] = "NXprocess"
    for key, val in record.items():
        g.attrs[str(key)] = str(val)
    g.create_dataset("program", data=str(record.get("software", "ptyxanes")))
    g.create_dataset("version", data=str(record.get("version", "")))
    g.create_dataset("date", data=str(record.get("time", "")))
    g.create_dataset("parameters", data=str(record.get("parameters", "{}")))
    return g


def _check_stack(stack: ImageStack) -> None:
    shape = tuple(stack.data.shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"stack data must be (E, M, N) or (E, A, M, N); got {shape}")
    if stack.kind not in KINDS:
        raise ValueError(f"unknown stack kind {stack.kind!r}; expected one of {KINDS}")
    energy = np.asarray(stack.energy, np.float64)
    if energy.shape != (shape[0],):
        raise ValueError(f"energy has shape {energy.shape}; expected ({shape[0]},)")
    if not np.all(np.isfinite(energy)) or np.any(np.diff(energy) <= 0):
        raise ValueError("energies must be finite and strictly increasing")
    px = np.asarray(stack.pixel_size, np.float64)
    if px.shape != (shape[0],) or not np.all(np.isfinite(px)) or np.any(px <= 0):
        raise ValueError(f"pixel_size must be ({shape[0]},) positive finite values, m")
    if stack.angle is not None:
        a = np.asarray(stack.angle, np.float64)
        if len(shape) != 4 or a.shape != (shape[1],) or not np.all(np.isfinite(a)):
            raise ValueError(f"angle must be ({shape[1] if len(shape) == 4 else '?'},) finite, deg")
    if stack.dims and len(stack.dims) != len(shape):
        raise ValueError(f"dims {stack.dims} do not match shape {shape}")
    kind = np.dtype(stack.data.dtype).kind
    if stack.kind == "complex" and kind != "c":
        raise ValueError("kind 'complex' needs complex data")
    if stack.kind != "complex" and kind == "c":
        raise ValueError(f"kind {stack.kind!r} needs real data")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return repr(obj)
