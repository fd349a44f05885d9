"""One entry point for every input ptyxanes reads: format detection by content, and stacking.

:data:`FORMATS` lists every readable format as a :class:`Format` entry (its name, a
``sniff(path) -> bool`` that looks at the content, never the extension, and a
``read(path, **options)``). :func:`detect_format` names the format of a file or
folder; :func:`open_stack` (or its generator :func:`iter_open_stack`) reads one or
many sources into one :class:`~ptyxanes.io.stack.ImageStack`:

- a stack format (NeXus stack, STXM, TIFF, tomography) gives its stack as is;
- per-energy reconstructions (PtyPy, PtyREX, ptychodus, PtychoShelves), one file
  per energy (and per angle for tilt series), or a folder of them, are combined
  into an energy (or energy × angle) stack of complex transmission, sorted by
  energy (then angle), with the energy and pixel size of every file. Objects of
  different shapes are brought onto one grid by the rescale stage
  (:func:`ptyxanes.align.rescale_image`, coarsest pixel size, centred common
  field of view), never by padding, and ``attrs["regridded"]`` says so.

Overrides: ``energies`` (one per file, in order; or one per image of a single
stack) replaces or supplies the energies, ``angles`` the rotation angles, ``i0``
the STXM incident flux. A file with no energy and no override is an error.

Adding a format is one line in :data:`FORMATS`.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ptyxanes.io._recon import h5_sniff, is_hdf5
from ptyxanes.io.dxchange import read_dxchange, read_nxtomo, sniff_dxchange, sniff_nxtomo
from ptyxanes.io.errors import FormatError
from ptyxanes.io.i13 import read_i13, sniff_i13
from ptyxanes.io.ptychodus import (
    read_ptychodus_h5,
    read_ptychodus_npz,
    sniff_ptychodus_h5,
    sniff_ptychodus_npz,
)
from ptyxanes.io.ptychoshelves import (
    read_ptychoshelves_h5,
    read_ptychoshelves_mat,
    sniff_ptychoshelves_h5,
    sniff_ptychoshelves_mat,
)
from ptyxanes.io.ptypy import read_ptypy, sniff_ptypy
from ptyxanes.io.ptyrex import read_ptyrex, sniff_ptyrex
from ptyxanes.io.stack import ImageStack
from ptyxanes.io.stxm import iter_read_stxm, sniff_stxm
from ptyxanes.progress import Control, Progress, run_sync

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Format:
    """A readable input format.

    Parameters
    ----------
    name : str
        Short name (``--format NAME``).
    sniff : callable
        ``sniff(path) -> bool``: True when the file or folder is of this format,
        judged by its content. Must never raise.
    read : callable
        ``read(path, **options) -> ImageStack`` (or CXI scans when ``raw``); may
        also be a generator yielding :class:`~ptyxanes.progress.Progress` and
        returning the stack (for long reads).
    description : str, optional
        One line for ``ptyxanes info``.
    options : tuple of str, optional
        Keywords of :func:`open_stack` this reader takes itself (``"energies"``,
        ``"i0"``); others are applied by :func:`open_stack` after reading.
    raw : bool, optional
        Raw ptychography scans (``read`` returns a list of
        :class:`~ptyxanes.io.cxi.CXIScan`), converted by ``ptyxanes import``.
    """

    name: str
    sniff: Callable[[Path], bool]
    read: Callable[..., Any]
    description: str = ""
    options: tuple[str, ...] = ()
    raw: bool = False


# ----------------------------------------------------------------- native and simple formats
def _sniff_nexus_stack(path: Path) -> bool:
    import h5py

    def fits(f: h5py.File) -> bool:
        entry = f.get("entry")
        if isinstance(entry, h5py.Group) and "ptyxanes_project" in entry.attrs:
            return False
        g = f.get("/entry/data")
        return isinstance(g, h5py.Group) and "data" in g and "energy" in g

    return h5_sniff(path, fits)


def _read_nexus_stack(path: Path, *, lazy: bool = True) -> ImageStack:
    from ptyxanes.io.nexus import read_stack

    return read_stack(path, lazy=lazy)


def _sniff_cxi_folder(path: Path) -> bool:
    return path.is_dir() and any(q.suffix.lower() == ".cxi" for q in path.iterdir())


def _sniff_cxi_file(path: Path) -> bool:
    from ptyxanes.io._recon import h5_has

    return h5_has(path, "entry_1/instrument_1/detector_1/data") or h5_has(
        path, "entry_1/data_1/data")


def _read_cxi_file(path: Path) -> Any:
    from ptyxanes.io.cxi import read_cxi

    return read_cxi(path)


def _read_cxi_folder(path: Path) -> Any:
    from ptyxanes.io.cxi import read_scan_series

    return read_scan_series(path)


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ENERGY_SIDECARS = ("energies.txt", "energy.txt", "energies.dat", "energy_list.txt")


def _is_tiff(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _TIFF_MAGIC
    except OSError:
        return False


def _sniff_tiff(path: Path) -> bool:
    if path.is_dir():
        return any(q.is_file() and _is_tiff(q) for q in path.iterdir())
    return path.is_file() and _is_tiff(path)


def tiff_energy_sidecar(path: Path) -> Path | None:
    """The energy-list text file that goes with a TIFF stack, if any.

    For a file ``x.tif``: ``x.txt``, ``x_energies.txt``, or one of ``energies.txt``,
    ``energy.txt`` ... (any case) in its folder; for a folder: one of those names
    inside it (or its only ``.txt`` file).
    """
    folder = path if path.is_dir() else path.parent
    cands: list[Path] = []
    if not path.is_dir():
        cands += [path.with_suffix(".txt"), path.with_name(path.stem + "_energies.txt")]
    lower = {q.name.lower(): q for q in folder.iterdir() if q.is_file()}
    cands += [lower[n] for n in _ENERGY_SIDECARS if n in lower]
    for c in cands:
        if c.is_file():
            return c
    if path.is_dir():
        txt = [q for q in folder.iterdir() if q.suffix.lower() == ".txt" and q.is_file()]
        if len(txt) == 1:
            return txt[0]
    return None


def _read_tiff(path: Path, *, energies: Any = None) -> ImageStack:
    from ptyxanes.io.tiff import read_tiff_stack

    if energies is None:
        energies = tiff_energy_sidecar(path)
        if energies is None:
            raise FormatError(
                path,
                "a TIFF stack holds no energies: give --energies FILE (one per image) "
                "or put energies.txt next to it",
            )
    s = read_tiff_stack(path, energies, lazy=False)
    s.attrs["format"] = "tiff"
    if not isinstance(energies, np.ndarray | list | tuple):
        s.attrs["energy_file"] = str(energies)
    return s


# ----------------------------------------------------------------- the registry
#: Every readable format, most specific first (detection takes the first match).
FORMATS: list[Format] = [
    # NXtomo before "nexus": an NXtomo entry may also hold an energy dataset
    Format("dxchange", sniff_dxchange, read_dxchange,
           "APS data-exchange tomography (counts, flats, darks)"),
    Format("nxtomo", sniff_nxtomo, read_nxtomo, "NXtomo tomography (counts, flats, darks)"),
    Format("nexus", _sniff_nexus_stack, _read_nexus_stack, "ptyxanes NeXus image stack",
           options=("lazy",)),
    Format("ptypy", sniff_ptypy, read_ptypy, "PtyPy reconstruction (.ptyr)"),
    Format("ptyrex", sniff_ptyrex, read_ptyrex, "PtyREX reconstruction (Diamond)"),
    Format("ptychodus-h5", sniff_ptychodus_h5, read_ptychodus_h5, "ptychodus product (HDF5)"),
    Format("ptychodus-npz", sniff_ptychodus_npz, read_ptychodus_npz, "ptychodus product (NPZ)"),
    Format("ptychoshelves-h5", sniff_ptychoshelves_h5, read_ptychoshelves_h5,
           "PtychoShelves / fold_slice reconstruction (HDF5)"),
    Format("ptychoshelves-mat", sniff_ptychoshelves_mat, read_ptychoshelves_mat,
           "PtychoShelves / fold_slice reconstruction (MAT)"),
    Format("stxm", sniff_stxm, iter_read_stxm, "aXis2000 / ALS STXM stack (.hdr + .xim)",
           options=("i0",)),
    Format("tiff", _sniff_tiff, _read_tiff, "TIFF image stack", options=("energies",)),
    Format("cxi", _sniff_cxi_folder, _read_cxi_folder, "folder of CXI ptychography scans",
           raw=True),
    Format("cxi-scan", _sniff_cxi_file, _read_cxi_file, "CXI ptychography scan", raw=True),
    Format("i13-nexus", sniff_i13, read_i13, "Diamond I13-1 raw ptychography scan (GDA NeXus)",
           raw=True),
]


def get_format(name: str) -> Format:
    """The :class:`Format` called ``name``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise ValueError(f"unknown format {name!r}; known: {', '.join(f.name for f in FORMATS)}")


def find_format(path: str | os.PathLike[str]) -> Format | None:
    """The first format whose ``sniff`` accepts ``path``, or None."""
    p = Path(path)
    for fmt in FORMATS:
        try:
            if fmt.sniff(p):
                return fmt
        except Exception:  # a sniffer must never stop detection  # noqa: BLE001
            logger.debug("sniffer %s failed on %s", fmt.name, p, exc_info=True)
    return None


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the format of a file or folder from its content.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    name : str
        A :data:`FORMATS` name, or ``"folder"`` for a folder of per-energy files.

    Raises
    ------
    FormatError
        If the path does not exist or no format recognises it.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from ptyxanes.io.nexus import write_stack
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> s = ImageStack(np.ones((2, 4, 4), np.complex64), np.array([8330.0, 8340.0]),
    ...                np.array([2e-8, 2e-8]))
    >>> detect_format(write_stack(p, s))
    'nexus'
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(p, "file or folder not found")
    fmt = find_format(p)
    if fmt is not None:
        return fmt.name
    if p.is_dir() and _folder_members(p):
        return "folder"
    raise FormatError(p, _unknown(p))


def _unknown(p: Path) -> str:
    names = ", ".join(f.name for f in FORMATS)
    if p.is_file() and is_hdf5(p):
        import h5py

        try:
            h5py.File(p, "r").close()
        except OSError as exc:
            return f"HDF5 file that cannot be opened; truncated or corrupt ({exc})"
        return f"HDF5 file of no known format (tried {names})"
    return f"{'folder' if p.is_dir() else 'file'} of no known format (tried {names})"


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def _folder_members(folder: Path) -> list[tuple[Path, Format]]:
    out = []
    for q in sorted(folder.iterdir(), key=_natural_key):
        if q.name.startswith(".") or not q.is_file():
            continue
        fmt = find_format(q)
        if fmt is not None:
            out.append((q, fmt))
    return out


def expand_sources(
    sources: Sequence[str | os.PathLike[str]], format: str | None = None
) -> list[tuple[Path, Format]]:
    """Resolve sources (files or folders) into (path, format) pairs, in reading order.

    A folder that is itself of a format (STXM, TIFF folder, CXI series) is one
    source; any other folder contributes its recognised files in natural name
    order (files of no format, e.g. sidecar JSON or text, are skipped).

    Raises
    ------
    FormatError
        A missing path, a file of no known format, a folder with no readable file,
        or a file not of the forced ``format``.
    """
    forced = get_format(format) if format else None
    out: list[tuple[Path, Format]] = []
    for s in sources:
        p = Path(s)
        if not p.exists():
            raise FormatError(p, "file or folder not found")
        if forced is not None:
            if p.is_dir() and not forced.sniff(p):
                members = [(q, forced) for q, f in _folder_members(p) if forced.sniff(q)]
                if not members:
                    raise FormatError(p, f"no {forced.name} files in the folder")
                out += members
            elif not forced.sniff(p):
                raise FormatError(p, f"not a {forced.name} file ({forced.description})")
            else:
                out.append((p, forced))
            continue
        fmt = find_format(p)
        if fmt is not None:
            out.append((p, fmt))
        elif p.is_dir():
            members = _folder_members(p)
            if not members:
                raise FormatError(p, "no readable files in the folder (" + _unknown(p) + ")")
            out += members
        else:
            raise FormatError(p, _unknown(p))
    if not out:
        raise ValueError("no sources given")
    return out


def _vector(values: Any, n: int, what: str, where: Any) -> np.ndarray:
    from ptyxanes.io.tiff import read_energy_list

    if what == "energies":
        e = read_energy_list(values)
    else:
        if isinstance(values, str | os.PathLike):
            try:
                e = np.loadtxt(values, ndmin=1, comments="#", usecols=0, dtype=np.float64)
            except (OSError, ValueError) as exc:
                raise FormatError(values, f"cannot read the angle list ({exc})") from exc
        else:
            e = np.asarray(values, dtype=np.float64).ravel()
        if not np.all(np.isfinite(e)):
            raise FormatError(where, "angles contain NaN or inf")
    if e.size != n:
        raise FormatError(where, f"{e.size} {what} given for {n} files/images")
    return e


def energy_vector(values: str | os.PathLike[str] | ArrayLike, n: int) -> np.ndarray:
    """Read ``n`` energies (eV, or keV when all below 100) from a file or an array.

    Raises
    ------
    FormatError
        Unreadable list, not strictly increasing, or not ``n`` values.
    """
    where = values if isinstance(values, str | os.PathLike) else "energies"
    return _vector(values, n, "energies", where)


def iter_open_stack(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    energies: str | os.PathLike[str] | ArrayLike | None = None,
    angles: str | os.PathLike[str] | ArrayLike | None = None,
    i0: str | os.PathLike[str] | None = None,
    format: str | None = None,
    lazy: bool = True,
    control: Control | None = None,
) -> Generator[Progress, None, ImageStack]:
    """Read one or many sources into one stack, yielding progress per file.

    Parameters
    ----------
    sources : path-like or sequence of path-like
        Files and/or folders.
    energies : path-like or array-like, optional
        Energies (eV, or keV when all below 100): one per per-energy file (in
        the order of :func:`expand_sources`), or one per image of a single stack.
        They replace the energies stored in the files.
    angles : path-like or array-like, optional
        Rotation angles, deg, one per file (tilt series of reconstructions).
    i0 : path-like, optional
        Incident flux (energy, I0) for STXM stacks.
    format : str, optional
        Force a format (a :data:`FORMATS` name) instead of detecting it.
    lazy : bool, optional
        Keep a NeXus stack's data as the open ``h5py.Dataset`` (default); other
        formats are always read into memory.
    control : Control, optional
        Cancellation.

    Yields
    ------
    progress : Progress
        One report per file read.

    Returns
    -------
    stack : ImageStack
        ``attrs["format"]``, ``attrs["sources"]`` (list of files read).

    Raises
    ------
    FormatError
        Unknown format, missing energy, energies not strictly increasing (or
        repeated), a raw scan folder (use ``ptyxanes pipeline``/``import``),
        inconsistent stacks across files.
    """
    control = control or Control()
    srcs = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    items = expand_sources(srcs, format)
    raw = [p for p, f in items if f.raw]
    if raw:
        raise FormatError(
            raw[0],
            f"raw ptychography scans ({next(f for p, f in items if f.raw).description}); "
            "reconstruct them first (ptyxanes pipeline / reconstruct; I13-1 .nxs scans: "
            "ptyxanes import SOURCE -o FOLDER converts them to CXI scans)",
        )
    n = len(items)
    opts: dict[str, Any] = {"energies": energies, "i0": i0, "lazy": lazy}
    stacks: list[ImageStack] = []
    for k, (p, fmt) in enumerate(items):
        control.check()
        kw = {o: opts[o] for o in fmt.options if opts.get(o) is not None}
        if "energies" in kw and n > 1:
            kw.pop("energies")
        got = fmt.read(p, **kw)
        if inspect.isgenerator(got):
            got = yield from got
        stacks.append(got)
        yield Progress(k + 1, n, f"read {p.name} ({fmt.name})", stage="import")
    used_energies = n == 1 and "energies" in items[0][1].options
    if n == 1:
        return _finish_single(stacks[0], items[0], None if used_energies else energies, angles)
    return _combine(stacks, items, energies, angles)


def _finish_single(
    s: ImageStack, item: tuple[Path, Format], energies: Any, angles: Any
) -> ImageStack:
    p, fmt = item
    changes: dict[str, Any] = {}
    if energies is not None:
        changes["energy"] = _vector(energies, s.n_energies, "energies", p)
    elif not np.all(np.isfinite(s.energy)):
        if not (s.is_3d and s.n_energies == 1):
            raise FormatError(
                p, f"no photon energy in the file ({fmt.description} stores none here); "
                "give --energies FILE"
            )
        # a single-energy tomogram reconstructs without one; a spectral fit needs --energies
        logger.info("%s holds no photon energy; give --energies to record one", p)
    if angles is not None:
        if not s.is_3d:
            raise FormatError(p, "angles given but the stack is not a tilt series")
        changes["angle"] = _vector(angles, int(s.data.shape[1]), "angles", p)
    attrs = dict(s.attrs)
    attrs.setdefault("format", fmt.name)
    attrs["sources"] = [str(p)]
    angle = attrs.pop("angle_deg", None)
    s = dataclasses.replace(s, attrs=attrs, **changes)
    if angle is not None and not s.is_3d:
        s.attrs["angle_deg"] = angle
    if np.any(np.diff(s.energy) <= 0):
        raise FormatError(p, "energies are not strictly increasing")
    return s


def _combine(
    stacks: list[ImageStack], items: list[tuple[Path, Format]], energies: Any, angles: Any
) -> ImageStack:
    n = len(stacks)
    for s, (p, fmt) in zip(stacks, items, strict=True):
        if s.n_energies != 1 or s.is_3d:
            raise FormatError(
                p, f"{fmt.description} holds {tuple(s.data.shape)}; only files of one image "
                "each (one energy, one angle) can be combined; open it alone",
            )
    e = (
        _vector(energies, n, "energies", items[0][0])
        if energies is not None
        else np.array([float(s.energy[0]) for s in stacks])
    )
    for k, (s, (p, fmt)) in enumerate(zip(stacks, items, strict=True)):
        if not np.isfinite(e[k]):
            raise FormatError(
                p, f"no photon energy in the file ({fmt.description} stores none here); "
                "give --energies FILE with one energy per file, in name order",
            )
    if angles is not None:
        a = _vector(angles, n, "angles", items[0][0])
    else:
        a = np.array([float(s.attrs.get("angle_deg", np.nan)) for s in stacks])
    kinds = {s.kind for s in stacks}
    if len(kinds) > 1:
        raise FormatError(items[0][0], f"files hold different kinds of values: {sorted(kinds)}")
    tilt = np.all(np.isfinite(a)) and np.unique(np.round(a, 6)).size > 1
    px = np.array([float(s.pixel_size[0]) for s in stacks])
    images = [np.asarray(s.data[0]) for s in stacks]
    shapes = {im.shape for im in images}
    regridded = None
    if len(shapes) > 1:
        from ptyxanes.align import rescale_image

        target = float(px.max())
        common = tuple(
            int(v) for v in np.min([[round(m * q / target) for m in im.shape]
                                    for im, q in zip(images, px, strict=True)], axis=0)
        )
        logger.warning(
            "objects of %d shapes across files; rescaled to %.2f nm pixels and cropped to the "
            "common %s field of view", len(shapes), target * 1e9, common,
        )
        regridded = {"target_pixel_size_m": target, "shape": list(common),
                     "original_shapes": [list(im.shape) for im in images]}
        images = [rescale_image(im, float(q), target, shape=common)
                  for im, q in zip(images, px, strict=True)]
        px = np.full(n, target)
    attrs: dict[str, Any] = {
        "format": "+".join(sorted({f.name for _, f in items})),
        "sources": [str(p) for p, _ in items],
    }
    if regridded:
        attrs["regridded"] = regridded
    if not tilt:
        order = np.argsort(e, kind="stable")
        es = e[order]
        if np.any(np.diff(es) <= 0):
            i = int(np.argmax(np.diff(es) <= 0))
            dup = [str(items[j][0].name) for j in order[i:i + 2]]
            raise FormatError(
                items[order[i]][0].parent,
                f"two files have the same energy {es[i]:g} eV ({', '.join(dup)}); "
                "energies must be strictly increasing",
            )
        pxo = px[order]
        if np.all(np.isfinite(a)):
            attrs["angle_deg"] = float(a[0])
        data = np.stack([images[j] for j in order]).astype(np.complex64 if
                                                             stacks[0].kind == "complex"
                                                             else np.float32)
        return ImageStack(data, es, pxo, kind=stacks[0].kind, attrs=attrs)
    ue = np.unique(e)
    ua = np.unique(a)
    grid: dict[tuple[float, float], int] = {}
    for k in range(n):
        key = (float(e[k]), float(a[k]))
        if key in grid:
            raise FormatError(items[k][0], f"a second file for {key[0]:g} eV, {key[1]:g} deg")
        grid[key] = k
    if len(grid) != ue.size * ua.size:
        missing = [(x, y) for x in ue for y in ua if (float(x), float(y)) not in grid]
        raise FormatError(
            items[0][0].parent,
            f"tilt series incomplete: {len(missing)} (energy, angle) pairs missing, e.g. "
            f"{missing[0][0]:g} eV at {missing[0][1]:g} deg",
        )
    data = np.stack([np.stack([images[grid[(float(x), float(y))]] for y in ua]) for x in ue])
    pxe = np.array([px[grid[(float(x), float(ua[0]))]] for x in ue])
    return ImageStack(data.astype(np.complex64), ue, pxe, kind="complex", angle=ua,
                      dims=("energy", "angle", "row", "col"), attrs=attrs)


def open_stack(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    energies: str | os.PathLike[str] | ArrayLike | None = None,
    angles: str | os.PathLike[str] | ArrayLike | None = None,
    i0: str | os.PathLike[str] | None = None,
    format: str | None = None,
    lazy: bool = True,
    progress: Callable[[Progress], None] | None = None,
    control: Control | None = None,
) -> ImageStack:
    """Read any supported input (one or many files or folders) into one ImageStack.

    Parameters
    ----------
    sources, energies, angles, i0, format, lazy, control
        See :func:`iter_open_stack`.
    progress : callable, optional
        Called with every :class:`~ptyxanes.progress.Progress`.

    Returns
    -------
    stack : ImageStack

    Raises
    ------
    FormatError
        See :func:`iter_open_stack`.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from ptyxanes.io.nexus import write_stack
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> s = ImageStack(np.ones((2, 4, 4), np.complex64), np.array([8330.0, 8340.0]),
    ...                np.array([2e-8, 2e-8]))
    >>> open_stack(write_stack(p, s)).data.shape
    (2, 4, 4)
    """
    return run_sync(
        iter_open_stack(sources, energies=energies, angles=angles, i0=i0, format=format,
                        lazy=lazy, control=control),
        progress,
    )
