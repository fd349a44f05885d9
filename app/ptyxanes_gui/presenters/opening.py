"""Open inputs as samples: data files, projects, folders, CXI scan series and the demos.

Every stack is read through :func:`ptyxanes.stages.import_stage` (the format
registry), projects through :func:`ptyxanes_gui.document.load_samples`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ptyxanes import stages
from ptyxanes.io.errors import FormatError
from ptyxanes_gui.document import (
    Sample,
    load_samples,
    set_4d_stack,
)

logger = logging.getLogger(__name__)


def _read_stack(path: Path) -> Any:
    from ptyxanes.progress import run_sync

    return run_sync(stages.import_stage(path))


def is_project(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "entry" in f and any(
                k in f["entry"] for k in ("stacks", "oxidation_state", "labels")
            )
    except OSError:
        return False


def load_path(path: str | Path) -> list[Sample]:
    """Open a data file, a project file or a folder of stack files.

    Parameters
    ----------
    path : path-like
        A NeXus stack file, a project/result file, or a folder of stack
        files (e.g. the demo: one file per sample).

    Returns
    -------
    samples : list of Sample

    Raises
    ------
    ptyxanes.io.FormatError
        If the file cannot be read (the message names the file and problem).
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(p, "no such file or folder")
    folder = dataset_references(p)
    refs = () if folder is None else stages.folder_references(folder)
    if refs:
        logger.info("%s: calibrated with the dataset's own reference spectra %s", p.name,
                    ", ".join(f"valence {v:g} {Path(f).name}" for v, f in refs))
    for sample in (samples := _load_path(p)):
        if refs and not sample.references and not sample.maps:
            sample.references = refs
    return samples


def _load_path(p: Path) -> list[Sample]:
    if p.is_file() and p.suffix.lower() == ".cxi":
        p = p.parent  # one scan of a series stands for its folder
    if p.is_dir() and any(p.glob("*.cxi")):
        return [scans_sample(p)]
    if p.is_dir() and _registry_format(p) not in (None, "folder"):
        return [_stack_sample(p)]  # one stack of another code or instrument (STXM, TIFF, ...)
    if p.is_dir():
        files = sorted(
            f for f in p.iterdir()
            if f.suffix.lower() in (".h5", ".nxs", ".hdf5") and not f.stem.startswith("truth")
        )
        for sub in sorted(d for d in p.iterdir() if d.is_dir()):
            if (sub / "result.h5").is_file() and is_project(sub / "result.h5"):
                files.append(sub / "result.h5")  # a fitted sample: its project holds the stack
                continue
            files.extend(sorted(f for f in sub.iterdir()
                                if f.suffix.lower() in (".h5", ".nxs", ".hdf5")
                                and not f.stem.startswith("truth")))
        samples: list[Sample] = []
        for f in files:
            try:
                samples.extend(_load_path(f))
            except FormatError as exc:
                logger.warning("skipped %s", exc)
        if not samples:
            raise FormatError(p, "no readable stack or project files in this folder")
        return _sort_samples(samples)
    if is_project(p):
        return load_samples(p)
    return [_stack_sample(p)]


def _registry_format(p: Path) -> str | None:
    from ptyxanes.io.formats import detect_format

    try:
        return detect_format(p)
    except FormatError:
        return None


def _stack_sample(p: Path) -> Sample:
    stack = _read_stack(p)
    default = p.parent.name if p.stem in ("stack", "data", "aligned") else p.stem
    name = str(stack.attrs.get("sample", "") or stack.attrs.get("name", "") or default)
    name = _pretty_name(name)
    sample = Sample(name=name, stack=stack, pixel_size=float(np.asarray(stack.pixel_size)[0]),
                    source=str(p))
    if np.ndim(stack.data) == 4:
        set_4d_stack(sample, stack)
    return sample


def scans_sample(folder: str | Path) -> Sample:
    """A sample holding the raw CXI scans of a folder (no stack until reconstructed).

    Raises
    ------
    ptyxanes.io.FormatError
        A bad CXI file (named), or two files with the same energy.
    """
    from ptyxanes.io.cxi import read_scan_series

    folder = Path(folder)
    scans = read_scan_series(folder)
    # the reconstruction's pixel (crop mode): the full window at the lowest energy
    pixel = max(float(s.object_pixel_size()[1]) for s in scans)
    name = _pretty_name(folder.name)
    if folder.name.startswith("demoscans"):
        name = "NMC811 200 cycles (scans)"
    return Sample(name=name, stack=None, pixel_size=pixel, source=str(folder), scans=scans)


def describe_shape(sample: Sample) -> tuple[str, str]:
    """(shape, energies) texts of the Data panel for one sample."""
    if sample.kind == "scans":
        energies = {round(s.energy, 3) for s in sample.scans}
        return (f"{len(sample.scans)} scans", str(len(energies)))
    full = sample.volume_stack if sample.volume_stack is not None else sample.tilt_stack
    if full is not None:
        shape = "×".join(str(d) for d in full.data.shape[1:])
        shape += " (A×M×N)" if sample.kind == "tilt" else " (P×M×N)"
        return (shape, str(full.n_energies))
    if sample.volume is not None:
        shape = "×".join(str(d) for d in sample.volume.shape)
    else:
        shape = "×".join(str(d) for d in sample.shape)
    return (shape, "" if sample.stack is None else str(sample.stack.n_energies))


def _pretty_name(name: str) -> str:
    """``cycles_200`` -> ``200 cycles`` (the demo's folder names)."""
    import re

    m = re.fullmatch(r"cycles?_(\d+)", name)
    return f"{m.group(1)} cycles" if m else name


def _sort_samples(samples: list[Sample]) -> list[Sample]:
    import re

    def key(s: Sample) -> tuple[int, str]:
        if "pristine" in s.name.lower():
            return (0, s.name)
        m = re.search(r"(\d+)", s.name)
        return (int(m.group(1)) if m else 10**9, s.name)

    return sorted(samples, key=key)


def ensure_demo_3d() -> Path:
    """The cached 3D demo's result project: the paper-scale twin (104³ voxels of 45 nm,
    six crystals; :func:`ptyxanes.simulate.demo3d.ensure_paper_demo_3d`), made on first use
    in about half a minute."""
    from ptyxanes.simulate.demo3d import ensure_paper_demo_3d as fn

    return Path(fn())


def ensure_demo_scans() -> Path:
    """The cached folder of demo CXI scans (simulated on first use, a few seconds)."""
    from ptyxanes.simulate.demo import ensure_demo_scans as fn

    return Path(fn())


def ensure_demo() -> Path:
    """The cached demo folder (simulated and fitted on first use)."""
    from ptyxanes.simulate.demo import ensure_demo as fn

    return Path(fn())


def dataset_references(path: Path) -> Path | None:
    """The ``references/`` folder next to a stack file (or in a sample sub-folder)."""
    for cand in (path / "references", path.parent / "references"):
        if cand.is_dir():
            return cand
    if path.is_dir():
        for sub in sorted(d for d in path.iterdir() if d.is_dir()):
            if (sub / "references").is_dir():
                return sub / "references"
    return None


def is_dataset_file(path: Path) -> bool:
    """True for a dataset file the application saved (Save may write back to it); a
    project written by the CLI or the pipeline is an input, never overwritten."""
    import h5py

    from ptyxanes.io.project import SAMPLES_ATTR

    try:
        with h5py.File(path, "r") as f:
            return SAMPLES_ATTR in f.attrs
    except OSError:
        return False
