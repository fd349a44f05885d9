"""The GUI's single door to the engine.

Every engine call the application makes goes through this module. Engine
modules are being written in parallel; a missing one makes :func:`available`
return a reason, and the window disables the matching menu entry with that
reason as its tooltip instead of crashing. No science lives here: only calls
into ``ptyxanes`` and the unpacking of its results.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

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


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        logger.debug("engine module %s not importable: %s", name, exc)
        return None


def _attr(module: str, name: str) -> Any | None:
    mod = _module(module)
    return getattr(mod, name, None) if mod is not None else None


def available(feature: str) -> str | None:
    """Return None when an engine feature is present, else why not (for a tooltip).

    Parameters
    ----------
    feature : str
        One of ``"demo"``, ``"project"``, ``"save_project"``, ``"fit"``,
        ``"fit_spectrum"``, ``"register"``, ``"figures"``, ``"reconstruct"``,
        ``"tomo"``, ``"demo_scans"``, ``"segment"``.

    Returns
    -------
    reason : str or None
    """
    needs = {
        "demo": ("ptyxanes.simulate.demo", "ensure_demo"),
        "project": ("ptyxanes.io.project", "load_project"),
        "save_project": ("ptyxanes.io.project", "save_project"),
        "fit": ("ptyxanes.xanes", "fit_stack"),
        "fit_spectrum": ("ptyxanes.xanes", "fit_spectrum"),
        "register": ("ptyxanes.align", "register_stack"),
        "figures": ("ptyxanes.figures", "valence_map_figure"),
        "reconstruct": ("ptyxanes.ptycho.series", "reconstruct_series"),
        "tomo": ("ptyxanes.tomo", "reconstruct_tilt_stack"),
        "demo_scans": ("ptyxanes.simulate.demo", "ensure_demo_scans"),
        "segment": ("ptyxanes.segment", "crystal_table_gen"),
    }
    module, name = needs[feature]
    if _attr(module, name) is None:
        return f"not available yet: the engine has no {module}.{name}"
    return None


# ----------------------------------------------------------------------------- samples
@dataclass
class Sample:
    """One sample as the GUI shows it.

    Parameters
    ----------
    name : str
        Shown in the Data panel.
    stack : ImageStack or None
        The energy stack (E, M, N), or None when only maps were loaded.
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
        Label images/volumes (segmentation).
    scans : list of CXIScan, optional
        Raw ptychography scans (one per energy [and angle]); the reconstruct
        stage turns them into ``stack`` (2D) or ``tilt_stack`` (3D).
    tilt_stack : ImageStack, optional
        A tilt series (E, A, M, N) with angles; ``stack`` then holds the
        projections at the first angle (for looking only) and the tomography
        stage makes ``volume_stack`` from it.
    volume_stack : ImageStack, optional
        Volumes across energy (E, P, M, N); ``stack`` then holds its middle
        plane and the fit stage fits every voxel.
    volume_maps : dict of str to ndarray
        The full (P, M, N) result maps of a volume fit (``maps`` hold their
        middle plane).
    fit_model : dict
        How the maps were fitted (``ptyxanes.xanes.results.fit_model_attrs``:
        options, shared edge shape, calibration), so that the click inspector
        refits a pixel exactly as the map did.
    crystal_table : ptyxanes.segment.CrystalTable, optional
        Per-crystal table of the last segment stage (>Ni³⁺ fraction, mean valence,
        slab normal), computed with ``labels["high_ox"]`` and ``labels["crystals"]``.
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
        if self.stack is not None:
            return tuple(self.stack.data.shape[-2:])  # type: ignore[return-value]
        for m in self.maps.values():
            return tuple(m.shape[-2:])  # type: ignore[return-value]
        return (0, 0)

    @property
    def energy(self) -> NDArray[np.float64] | None:
        return None if self.stack is None else np.asarray(self.stack.energy, dtype=float)


def _read_stack(path: Path) -> Any:
    from ptyxanes.io.nexus import read_stack

    # Small files are read whole: a pixel's spectrum is then a memory slice
    # (fast click inspector); big ones stay lazy (h5py slices).
    lazy = path.stat().st_size > 1_500_000_000
    return read_stack(path, lazy=lazy)


def _is_project(path: Path) -> bool:
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
    from ptyxanes.io.errors import FormatError

    p = Path(path)
    if not p.exists():
        raise FormatError(p, "no such file or folder")
    if (refs := _dataset_references(p)) is not None:
        use_references_from(refs)
    if p.is_file() and p.suffix.lower() == ".cxi":
        p = p.parent  # one scan of a series stands for its folder
    if p.is_dir() and any(p.glob("*.cxi")):
        return [scans_sample(p)]
    if p.is_dir():
        files = sorted(
            f for f in p.iterdir()
            if f.suffix.lower() in (".h5", ".nxs", ".hdf5") and not f.stem.startswith("truth")
        )
        for sub in sorted(d for d in p.iterdir() if d.is_dir()):
            files.extend(sorted(f for f in sub.iterdir()
                                if f.suffix.lower() in (".h5", ".nxs", ".hdf5")
                                and not f.stem.startswith("truth")))
        samples: list[Sample] = []
        for f in files:
            try:
                samples.extend(load_path(f))
            except FormatError as exc:
                logger.warning("skipped %s", exc)
        if not samples:
            raise FormatError(p, "no readable stack or project files in this folder")
        return _sort_samples(samples)
    if available("project") is None and _is_project(p):
        return [_sample_from_project(p)]
    stack = _read_stack(p)
    default = p.parent.name if p.stem in ("stack", "data", "aligned") else p.stem
    name = str(stack.attrs.get("sample", "") or stack.attrs.get("name", "") or default)
    name = _pretty_name(name)
    sample = Sample(name=name, stack=stack, pixel_size=float(np.asarray(stack.pixel_size)[0]),
                    source=str(p))
    if np.ndim(stack.data) == 4:
        _set_4d_stack(sample, stack)
    return [sample]


def _set_4d_stack(sample: Sample, stack: Any) -> None:
    """Put a tilt series or volume stack (E, A|P, M, N) on ``sample``; ``stack`` becomes
    its 2D view (first-angle projections, or the middle plane)."""
    import dataclasses

    if "plane" in tuple(stack.dims):
        sample.volume_stack = stack
        sample.stack = _mid_plane_stack(stack)
        sample.voxel_size = sample.voxel_size or float(np.asarray(stack.pixel_size)[0])
    elif stack.angle is not None:
        sample.tilt_stack = stack
        data = np.asarray(stack.data[:, 0])
        sample.stack = dataclasses.replace(stack, data=data, angle=None,
                                           dims=("energy", "row", "col"))
    sample.pixel_size = float(np.asarray(stack.pixel_size)[0])


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


def _sample_from_project(p: Path) -> Sample:
    import dataclasses

    from ptyxanes.io.project import load_project

    proj = load_project(p)
    stack = next(iter(proj.stacks.values()), None) if proj.stacks else None
    maps: dict[str, NDArray[Any]] = {}
    volume_maps: dict[str, NDArray[Any]] = {}
    volume = None
    voxel = 0.0
    pixel = 0.0
    for key, nx in MAP_NAMES.items():
        md = proj.maps.get(nx)
        if md is None:
            continue
        arr = np.asarray(md.data)
        pixel = float(np.ravel(md.pixel_size)[0]) if md.pixel_size is not None else pixel
        if arr.ndim == 3:
            volume_maps[key] = arr
            if key == "valence":
                volume, voxel = arr, pixel
            arr = arr[arr.shape[0] // 2]
        maps[key] = arr
    name = str(getattr(proj, "parameters", {}).get("sample", {}).get("name", "")) or p.stem
    ox = proj.maps.get(MAP_NAMES["valence"])
    model = dict(ox.attrs) if ox is not None and "fit_shape" in (ox.attrs or {}) else {}
    sample = Sample(name=name, stack=stack, maps=maps, pixel_size=pixel, source=str(p),
                    volume=volume, voxel_size=voxel, labels=dict(proj.labels),
                    volume_maps=volume_maps, fit_model=model)
    if stack is not None and np.ndim(stack.data) == 4:
        if int(np.prod(stack.data.shape)) * 8 < 1_500_000_000:
            stack = dataclasses.replace(stack, data=np.asarray(stack.data))  # fit needs it whole
        _set_4d_stack(sample, stack)
        if pixel:
            sample.pixel_size = pixel
    if sample.stack is not None and not sample.pixel_size:
        sample.pixel_size = float(np.asarray(sample.stack.pixel_size)[0])
    return sample


def _mid_plane_stack(stack: Any) -> Any | None:
    """The middle plane (E, M, N) of a volume stack (E, P, M, N), matching the maps'
    middle slice; None for a tilt series (its images are projections, not slices)."""
    import dataclasses

    if "plane" not in tuple(stack.dims):
        return None
    data = np.asarray(stack.data[:, stack.data.shape[1] // 2])
    return dataclasses.replace(stack, data=data, angle=None, dims=("energy", "row", "col"))


def ensure_demo_3d() -> Path | None:
    """Return the cached 3D demo's result project (made on first use, a few seconds),
    or None when this engine has no 3D demo."""
    fn = _attr("ptyxanes.simulate.demo", "ensure_demo_3d")
    return None if fn is None else Path(fn())


def ensure_demo_scans() -> Path:
    """Return the cached folder of demo CXI scans (simulated on first use, a few seconds)."""
    fn = _attr("ptyxanes.simulate.demo", "ensure_demo_scans")
    if fn is None:
        raise RuntimeError(available("demo_scans"))
    return Path(fn())


def ensure_demo() -> Path:
    """Return the cached demo folder (simulated on first use)."""
    fn = _attr("ptyxanes.simulate.demo", "ensure_demo")
    if fn is None:
        raise RuntimeError(available("demo"))
    return Path(fn())


def describe_compute() -> str:
    from ptyxanes.backend import describe_compute as dc

    return dc()


# ----------------------------------------------------------------------------- channels
ENERGY_CHANNELS = ("modulus", "phase", "absorption", "normalized")
MAP_CHANNELS = ("edge_energy", "valence", "valence_sigma", "edge_jump", "fit_quality")
CHANNEL_LABELS = {
    "modulus": "modulus |T|",
    "phase": "phase (rad)",
    "absorption": "−ln|T|",
    "normalized": "normalised μ",
    "edge_energy": "edge energy (eV)",
    "valence": "Ni valence",
    "valence_sigma": "valence σ",
    "edge_jump": "edge jump",
    "fit_quality": "fit quality",
}


def channel_label(sample: Sample | None, channel: str) -> str:
    """The axis/colour-bar label of a channel for this sample (units included).

    A volume's planes hold the linear attenuation coefficient μ (1/m), not −ln|T|.
    """
    stack = None if sample is None else sample.stack
    if (channel == "absorption" and stack is not None and stack.kind == "absorption"
            and sample.kind == "volume"):
        return "attenuation μ (1/m)"
    return CHANNEL_LABELS[channel]


def absorption(values: NDArray[Any], kind: str) -> NDArray[np.float64]:
    """−ln|T| of complex or modulus data; absorption data as they are."""
    if kind == "absorption":
        return np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(np.abs(np.asarray(values)).astype(np.float64))


def energy_image(sample: Sample, channel: str, index: int) -> NDArray[np.float64]:
    """The image of one energy in the chosen channel."""
    stack = sample.stack
    img = np.asarray(stack.data[index])
    if stack.kind == "complex" and channel == "phase":
        return np.angle(img).astype(np.float64)
    if channel == "modulus":
        return np.abs(img).astype(np.float64) if stack.kind != "absorption" else np.exp(-img)
    if channel == "phase":
        return np.zeros(img.shape)
    if channel == "normalized":
        norm = normalized_stack(sample)
        if norm is not None:
            return np.asarray(norm[index], np.float64)
    return absorption(img, stack.kind)


def pixel_spectrum(sample: Sample, row: int, col: int) -> NDArray[np.float64]:
    """Raw absorption −ln|T| of one pixel across energy."""
    return absorption(sample.stack.data[:, row, col], sample.stack.kind)


_NORM_CACHE: dict[int, NDArray[Any] | None] = {}


def _normalize_fn() -> Any | None:
    fn = _attr("ptyxanes.xanes", "normalize")
    if not callable(fn):
        fn = _attr("ptyxanes.xanes.normalize", "normalize")
    return fn if callable(fn) else None


def normalized_stack(sample: Sample) -> NDArray[Any] | None:
    """Normalised μ of every pixel, (E, M, N), from ``ptyxanes.xanes.normalize`` (cached)."""
    key = id(sample.stack)
    if key in _NORM_CACHE:
        return _NORM_CACHE[key]
    fn = _normalize_fn()
    out = None
    if fn is not None:
        try:
            mu = absorption(np.asarray(sample.stack.data), sample.stack.kind)
            res = fn(sample.energy, np.moveaxis(mu, 0, -1))
            out = np.moveaxis(np.asarray(res.mu), -1, 0)
        except Exception:
            logger.exception("normalisation failed")
    _NORM_CACHE[key] = out
    return out


# ----------------------------------------------------------------------------- spectra
@dataclass
class SpectrumFit:
    """What the click inspector draws for one spectrum (all optional but energy/raw)."""

    energy: NDArray[np.float64]
    raw: NDArray[np.float64]
    normalized: NDArray[np.float64] | None = None
    fit_energy: NDArray[np.float64] | None = None
    fit_curve: NDArray[np.float64] | None = None
    components: list[NDArray[np.float64]] = field(default_factory=list)
    edge_energy: float | None = None
    half_height: float | None = None
    peak_energy: float | None = None
    peak_height: float | None = None
    valence: float | None = None
    valence_sigma: float | None = None
    message: str = ""


def _get(obj: Any, *names: str) -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return None


def _float(x: Any) -> float | None:
    try:
        v = float(np.asarray(x).ravel()[0])
    except (TypeError, ValueError, IndexError):
        return None
    return v if np.isfinite(v) else None


def fit_spectrum(energy: NDArray[np.float64], raw: NDArray[np.float64],
                 model: dict[str, Any] | None = None) -> SpectrumFit:
    """Fit one spectrum with the engine's single-spectrum fit (when it exists).

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    raw : ndarray of shape (E,)
        −ln|T| (or another absorption quantity).
    model : dict, optional
        The sample's ``fit_model``: the spectrum is then fitted with the map's
        options, shared edge shape and calibration (the map's own numbers);
        without it, a free fit calibrated on the current references.

    Returns
    -------
    fit : SpectrumFit
        ``normalized`` etc. are None when the engine cannot fit yet.
    """
    out = SpectrumFit(energy=np.asarray(energy, float), raw=np.asarray(raw, float))
    fn = _attr("ptyxanes.xanes", "fit_spectrum")
    if fn is None or not callable(fn):
        out.message = "edge fit not available yet"
        norm = _normalize_fn()
        if norm is not None:
            try:
                out.normalized = np.asarray(norm(out.energy, out.raw).mu, float)
            except Exception:
                logger.debug("normalize failed", exc_info=True)
        return out
    try:
        if model:
            from ptyxanes.xanes.results import fit_model_from_attrs

            opts, template, cal = fit_model_from_attrs(model)
            res = fn(out.energy, out.raw, options=opts, template=template,
                     calibration=cal if cal is not None else calibration(out.energy))
        else:
            res = fn(out.energy, out.raw, calibration=calibration(out.energy))
    except Exception as exc:  # a bad pixel must not break the inspector
        logger.debug("fit_spectrum failed", exc_info=True)
        out.message = f"fit failed: {exc}"
        return out
    norm = _get(res, "normalized", "mu_norm", "norm")
    out.normalized = None if norm is None else np.asarray(norm, float)
    fe = _get(res, "fit_energy", "model_energy")
    fc = _get(res, "fit_curve", "model", "fitted")
    out.fit_energy = None if fe is None else np.asarray(fe, float)
    out.fit_curve = None if fc is None else np.asarray(fc, float)
    if out.fit_curve is not None and out.fit_energy is None:
        out.fit_energy = out.energy
    comps = _get(res, "components", "gaussians")
    if comps is not None:
        out.components = [np.asarray(c, float) for c in comps]
    out.edge_energy = _float(_get(res, "edge_energy", "edge"))
    out.half_height = _float(_get(res, "level", "half_height", "half_max"))
    out.peak_energy = _float(_get(res, "peak_energy"))
    out.peak_height = _float(_get(res, "peak_height"))
    out.valence = _float(_get(res, "valence", "oxidation_state"))
    out.valence_sigma = _float(_get(res, "valence_sigma", "sigma", "oxidation_state_sigma"))
    status = _get(res, "status")
    if status is not None and _float(status) not in (None, 0.0):
        out.message = f"not fitted: {status_name(int(status))}"
    r2 = _float(_get(res, "r2"))
    if r2 is not None and not out.message:
        out.message = f"R² {r2:.3f}"
    return out


def status_name(code: int) -> str:
    """Readable name of an engine status code."""
    fn = _attr("ptyxanes.xanes", "status_names")
    names = fn() if callable(fn) else {}
    return str(names.get(code, code))


_CAL_CACHE: dict[bytes, Any] = {}


_REFERENCE_FOLDER: Path | None = None


def use_references_from(folder: str | Path | None) -> None:
    """Calibrate with the reference spectra of a dataset's ``references/`` folder.

    A dataset that ships its own references (the digital twin does; a beamline
    dataset would carry the NiO / LiNiO2 standards measured with it) is
    calibrated with them; ``None`` goes back to the shipped defaults.
    """
    global _REFERENCE_FOLDER
    _REFERENCE_FOLDER = None if folder is None else Path(folder)
    _CAL_CACHE.clear()


def _dataset_references(path: Path) -> Path | None:
    """The ``references/`` folder next to a stack file (or in a sample sub-folder)."""
    for cand in (path / "references", path.parent / "references"):
        if cand.is_dir():
            return cand
    if path.is_dir():
        for sub in sorted(d for d in path.iterdir() if d.is_dir()):
            if (sub / "references").is_dir():
                return sub / "references"
    return None


def reference_spectrum_objects() -> list[Any]:
    """Reference spectra with known valence.

    The dataset's own references (see :func:`use_references_from`) when it has
    at least two with a valence, else the engine's default set (one consistent
    energy scale; never a mix of sets), else the twin's model references.
    """
    if _REFERENCE_FOLDER is not None:
        from ptyxanes.io.spectra import read_spectrum

        refs = []
        for f in sorted(_REFERENCE_FOLDER.glob("*")):
            try:
                spec = read_spectrum(f)
            except Exception:
                continue
            if spec.valence is not None and spec.valence >= 1.0:
                refs.append(spec)
        if len(refs) >= 2:
            return refs
    fn = _attr("ptyxanes.xanes.calibration", "default_references")
    if callable(fn):
        try:
            return list(fn())
        except Exception:
            logger.debug("no shipped references", exc_info=True)
    fn = _attr("ptyxanes.simulate.spectra", "reference_spectra")
    return list(fn().values()) if callable(fn) else []


def calibration(energy: NDArray[np.float64]) -> Any | None:
    """Edge → valence calibration from the references on this energy grid (cached)."""
    key = np.asarray(energy, np.float64).tobytes()
    if key in _CAL_CACHE:
        return _CAL_CACHE[key]
    fn = _attr("ptyxanes.xanes", "calibrate_references")
    cal = None
    if callable(fn):
        try:
            cal = fn(reference_spectrum_objects(), energy=np.asarray(energy, np.float64))
        except Exception:
            logger.warning("no valence calibration on this energy grid", exc_info=True)
    _CAL_CACHE[key] = cal
    return cal


def reference_spectra(
    window: tuple[float, float] = (8250.0, 8450.0),
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Normalised reference spectra to overlay: name -> (energy eV, normalised μ).

    The references of :func:`reference_spectrum_objects` (shipped, else the
    twin's model), normalised by the engine like the pixels and cut to ``window``.
    """
    out: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    norm = _normalize_fn()
    for spec in reference_spectrum_objects():
        if spec.valence is not None and spec.valence < 1.0:
            continue  # Ni metal is far from the cathode's range; keep the plot readable
        e = np.asarray(spec.energy, float)
        mu = np.asarray(spec.mu, float)
        if norm is not None:
            try:
                mu = np.asarray(norm(e, mu).mu, float)
            except Exception:
                logger.debug("could not normalise reference %s", spec.name, exc_info=True)
        keep = (e >= window[0]) & (e <= window[1])
        if keep.sum() > 3:
            label = f"Ni{spec.valence:g}+ ref." if spec.valence is not None else spec.name
            out[f"{label} ({spec.name})"] = (e[keep], mu[keep])
    return out


def reference_valences() -> tuple[float, float]:
    """Valences of the Ni²⁺ and Ni³⁺ references (dashed lines in the histogram)."""
    return (2.0, 3.0)


# ----------------------------------------------------------------------------- stats
def valence_histogram(values: NDArray[Any], weights: NDArray[Any] | None,
                      bins: NDArray[np.float64]) -> tuple[NDArray[Any], dict[str, float]]:
    """Histogram (density) and summary numbers of the finite valences given.

    Uses ``ptyxanes.xanes.valence_histogram`` when the engine has it.
    """
    fn = _attr("ptyxanes.figures", "valence_histogram")
    v = np.asarray(values, float).ravel()
    w = None if weights is None else np.asarray(weights, float).ravel()
    ok = np.isfinite(v) & (np.isfinite(w) & (w > 0) if w is not None else True)
    v = v[ok]
    w = None if w is None else w[ok]
    if fn is not None:
        try:
            counts, _edges = fn(v, weights=w, bins=len(bins) - 1,
                                value_range=(float(bins[0]), float(bins[-1])))
            return np.asarray(counts, float), _stats(v, w)
        except Exception:
            logger.debug("engine histogram failed; using numpy", exc_info=True)
    if v.size == 0:
        return np.zeros(len(bins) - 1), {"mean": np.nan, "median": np.nan, "std": np.nan, "n": 0}
    counts, _ = np.histogram(v, bins=bins, weights=w, density=True)
    return counts, _stats(v, w)


def _stats(v: NDArray[Any], w: NDArray[Any] | None) -> dict[str, float]:
    if v.size == 0:
        return {"mean": np.nan, "median": np.nan, "std": np.nan, "n": 0}
    mean = float(np.average(v, weights=w))
    std = float(np.sqrt(np.average((v - mean) ** 2, weights=w)))
    return {"mean": mean, "median": float(np.median(v)), "std": std, "n": float(v.size)}


# ----------------------------------------------------------------------------- jobs
Job = Callable[..., Generator[Any, None, Any]]


@dataclass(frozen=True)
class RegisterResult:
    """A register stage's result: the registration, and the stack rescaled to one pixel
    size when the energies had different pixel sizes (ptychography: λz/(Np))."""

    registration: Any
    rescaled: Any | None = None

    @property
    def shifts(self) -> NDArray[np.float64]:
        return self.registration.shifts


def register_job(sample: Sample, *, reference: int = 0, upsample_factor: int = 20,
                 control: Any = None) -> Generator[Any, None, Any]:
    """Register a sample's energies (engine ``ptyxanes.align.register_stack``).

    When the energies have different pixel sizes (a reconstructed series), they are first
    rescaled to the coarsest one with ``ptyxanes.align.registration.rescale_stack`` (as
    ``ptyxanes align`` and the pipeline do); the rescaled stack comes back in the result.
    """
    from ptyxanes.align import register_stack
    from ptyxanes.align.registration import rescale_stack
    from ptyxanes.io.stack import ImageStack

    stack = sample.stack
    data = np.asarray(stack.data)
    px = np.asarray(stack.pixel_size, dtype=float).ravel()
    rescaled = None
    if px.size > 1 and np.ptp(px) > 1e-4 * px.max():
        target = float(px.max())
        logger.info("register: energies rescaled from %.2f-%.2f nm to %.2f nm pixels first",
                    px.min() * 1e9, px.max() * 1e9, target * 1e9)
        data = rescale_stack(data, px, target)
        attrs = {k: v for k, v in stack.attrs.items() if k not in ("extra", "source_file")}
        rescaled = ImageStack(data, np.asarray(stack.energy, dtype=float),
                              np.full(data.shape[0], target), kind=stack.kind,
                              dims=("energy", "row", "col"), attrs=attrs)
    channel = "phase" if np.iscomplexobj(data) else "modulus"
    reg = yield from register_stack(data, reference=reference, channel=channel,
                                    upsample_factor=upsample_factor, control=control)
    return RegisterResult(reg, rescaled)


def stage_input_problem(stage: str, sample: Sample | None) -> str | None:
    """Why ``stage`` cannot run on ``sample`` (a sentence for the user), or None.

    Parameters
    ----------
    stage : str
        ``"reconstruct"``, ``"register"``, ``"tomo"``, ``"fit"`` or ``"segment"``.
    sample : Sample or None
    """
    if sample is None:
        return "Open a dataset first."
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
                else "Open a dataset with an energy stack first.")
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


def scan_optics(scans: list[Any]) -> dict[str, float]:
    """Zone-plate optics a CXI series records, as ``SeriesParams`` fields (m).

    Reads ``spot``, ``defocus``, ``diameter`` and ``outer_zone`` from the JSON
    ``parameters`` of the ``/entry_1/process_*`` provenance groups of the first
    file (the digital twin writes them); empty when the files do not say.
    """
    import json

    import h5py

    out: dict[str, float] = {}
    path = scans[0].path if scans else None
    if not path:
        return out
    try:
        with h5py.File(path, "r") as f:
            entry = f.get("entry_1")
            for name in (entry or {}):
                if not name.startswith("process_"):
                    continue
                params = json.loads(str(entry[name].attrs.get("parameters", "{}")))
                for key in ("spot", "defocus", "diameter", "outer_zone"):
                    val = params.get(key)
                    if isinstance(val, int | float) and np.isfinite(val) and val > 0:
                        out[key] = float(val)
    except (OSError, ValueError, TypeError, AttributeError):
        logger.debug("no optics recorded in %s", path, exc_info=True)
    return out


def reconstruct_job(sample: Sample, *, iterations: int = 100, warm_iterations: int = 40,
                    spot_um: float = 0.0, jobs: int = 2, preview_every: int = 10,
                    control: Any = None) -> Generator[Any, None, Any]:
    """Ptychography of every scan (engine ``ptyxanes.ptycho.series.reconstruct_series``).

    Parameters
    ----------
    sample : Sample
        With ``scans``.
    iterations : int
        ePIE iterations of the reference (middle) energy.
    warm_iterations : int
        Iterations of the other energies, started from the reference probe
        (0: as many as ``iterations``).
    spot_um : float
        Zone-plate probe spot diameter at the sample, µm; 0 takes the optics
        the CXI files record (:func:`scan_optics`), else the engine default.
    jobs : int
        Energies reconstructed in parallel.
    preview_every : int
        Iterations between live previews.

    Returns
    -------
    result : ptyxanes.ptycho.series.SeriesResult
    """
    from ptyxanes.ptycho import PtychoParams
    from ptyxanes.ptycho.series import SeriesParams, reconstruct_series

    optics = scan_optics(sample.scans)
    if spot_um and float(spot_um) > 0:
        optics["spot"] = float(spot_um) * 1e-6
        optics.pop("defocus", None)
    params = PtychoParams(iterations=int(iterations), preview_every=int(preview_every))
    series = SeriesParams(warm_iterations=int(warm_iterations) or None, jobs=max(1, int(jobs)),
                          **optics)
    logger.info("reconstruct: %d scans, %d/%s iterations, probe spot %.2f µm%s",
                len(sample.scans), params.iterations, series.warm_iterations or params.iterations,
                series.spot * 1e6, " (from the scan files)" if "spot" in optics and not spot_um
                else "")
    return (yield from reconstruct_series(sample.scans, params, series, control=control))


def tomo_job(sample: Sample, *, iterations: int = 200, align_rounds: int = 10,
             control: Any = None) -> Generator[Any, None, Any]:
    """Align and reconstruct every energy of the tilt series
    (engine ``ptyxanes.tomo.reconstruct_tilt_stack``); returns the volume stack (E, P, M, N).

    ``align_rounds`` 0 skips the joint reprojection alignment.
    """
    import dataclasses

    from ptyxanes.tomo import reconstruct_tilt_stack

    stack = sample.tilt_stack
    if not isinstance(stack.data, np.ndarray):
        stack = dataclasses.replace(stack, data=np.asarray(stack.data))
    out, _res = yield from reconstruct_tilt_stack(
        stack, iterations=int(iterations), align=int(align_rounds) > 0,
        max_outer=max(1, int(align_rounds)), control=control)
    return out


def preview_image(preview: Any, channel: str = "absorption") -> NDArray[np.float64] | None:
    """The 2D image to draw for an engine preview: the current ptychography object
    (its phase for the ``"phase"`` channel, else −ln|T|), or a 2D array as it is."""
    obj = preview.get("object") if isinstance(preview, dict) else preview
    if obj is None:
        return None
    arr = np.asarray(obj)
    if arr.ndim != 2:
        return None
    if np.iscomplexobj(arr):
        if channel == "phase":
            return np.angle(arr).astype(np.float64)
        return absorption(arr, "complex")
    return arr.astype(np.float64)


def apply_stage_result(stage: str, sample: Sample, result: Any) -> None:
    """Store a finished stage's result on ``sample`` (only ever called on success).

    reconstruct: the complex stack (E, M, N) (3D scans: a tilt series); tomo:
    the volume stack (E, P, M, N); fit: the maps (a volume fit keeps the full
    (P, M, N) maps in ``volume_maps``/``volume`` and their middle plane in ``maps``);
    register: ``sample.registration``. Results derived from a replaced stack are dropped.
    """
    if stage == "reconstruct":
        from ptyxanes.io.stack import ImageStack

        dims = ("energy", "row", "col") if result.angle is None else (
            "energy", "angle", "row", "col")
        stack = ImageStack(result.objects, np.asarray(result.energy, float),
                           np.asarray(result.pixel_size, float), "complex", result.angle, dims,
                           {"title": "ptychography", "sample": sample.name})
        sample.maps, sample.volume_maps, sample.volume = {}, {}, None
        sample.tilt_stack = sample.volume_stack = None
        if result.angle is None:
            sample.stack = stack
            sample.pixel_size = float(np.asarray(result.pixel_size)[0])
        else:
            _set_4d_stack(sample, stack)
    elif stage == "tomo":
        sample.maps, sample.volume_maps, sample.volume = {}, {}, None
        sample.volume_stack = result
        sample.stack = _mid_plane_stack(result)
        sample.voxel_size = sample.pixel_size = float(np.asarray(result.pixel_size)[0])
    elif stage == "fit":
        sample.fit_model = dict(getattr(result, "model", {}) or {})
        if any(np.ndim(v) == 3 for v in result.values()):
            sample.volume_maps = dict(result)
            sample.volume = np.asarray(result["valence"]) if "valence" in result else None
            sample.maps = {k: np.asarray(v)[np.shape(v)[0] // 2] if np.ndim(v) == 3 else v
                           for k, v in result.items()}
            if sample.volume_stack is not None:
                sample.voxel_size = float(np.asarray(sample.volume_stack.pixel_size)[0])
        else:
            sample.maps.update(result)
    elif stage == "register":
        reg = result.registration if isinstance(result, RegisterResult) else result
        if isinstance(result, RegisterResult) and result.rescaled is not None:
            sample.stack = result.rescaled
            sample.pixel_size = float(np.asarray(result.rescaled.pixel_size)[0])
            sample.maps = {}  # maps of the old grid no longer match
        sample.registration = reg
    elif stage == "segment":
        labels = dict(sample.labels)
        # hand edits saved with an older segmentation do not apply to this one
        labels.pop("high_ox_added", None)
        labels.pop("high_ox_removed", None)
        labels.update(result.labels)
        sample.labels = labels
        sample.crystal_table = result.table


#: Spectra per chunk of the GUI's fit (cancel latency ~ one chunk).
GUI_FIT_CHUNK = 16384


def fit_job(sample: Sample, *, control: Any = None, **params: Any) -> Generator[Any, None, Any]:
    """Fit the XANES of every pixel, or of every voxel of a volume sample
    (engine ``ptyxanes.xanes.fit_stack``); returns maps (M, N) or (P, M, N).

    ``params`` may hold ``pre_edge_lo/hi`` and ``post_edge_lo/hi`` (eV) and
    ``jump_threshold`` (edge jump of the sample mask; 0 or absent: Otsu).
    """
    from ptyxanes import xanes

    opts = {}
    if "pre_edge_lo" in params:
        opts["pre_edge"] = (float(params["pre_edge_lo"]), float(params["pre_edge_hi"]))
    if "post_edge_lo" in params:
        opts["post_edge"] = (float(params["post_edge_lo"]), float(params["post_edge_hi"]))
    options = xanes.FitOptions(**opts)
    stack = sample.volume_stack if sample.volume_stack is not None else sample.stack
    energy = np.asarray(stack.energy, dtype=float)
    jump = float(params.get("jump_threshold", 0.0) or 0.0)
    # chunks of 16k spectra (~0.5 s each on 2 cores): progress moves and a cancel takes
    # effect within about a second even on a 1000 x 1000 map
    res = yield from xanes.fit_stack(stack, options=options, calibration=calibration(energy),
                                     threshold=jump if jump > 0 else "otsu", control=control,
                                     chunk_spectra=GUI_FIT_CHUNK)
    from ptyxanes.xanes.results import fit_model_attrs

    maps = FitMaps()
    for key in MAP_NAMES:
        val = _get(res, key, MAP_NAMES[key])
        if val is not None:
            maps[key] = np.asarray(val)
    maps.model = fit_model_attrs(res)
    return maps


class FitMaps(dict):
    """The maps of a fit (a dict, keys of :data:`MAP_NAMES`) with ``model``: how they
    were fitted (``ptyxanes.xanes.results.fit_model_attrs``)."""

    model: dict[str, Any]


@dataclass(frozen=True)
class SegmentResult:
    """What the segment stage returns (see :func:`segment_job`).

    Attributes
    ----------
    labels : dict of str to ndarray
        ``"high_ox"`` (uint8, 1 = >Ni³⁺) and ``"crystals"`` (int32, 0 = outside,
        crystals 1..n by decreasing size), both shaped like the valence map or volume.
    table : ptyxanes.segment.CrystalTable
        Per-crystal >Ni³⁺ fraction, mean valence and slab normal.
    threshold : float
        Valence threshold used.
    min_island_size : int
        >Ni³⁺ islands smaller than this (voxels or pixels) were removed.
    method : str
        Crystal labelling: ``"watershed"`` (touching crystals split) or ``"components"``.
    volume : bool
        True when the full (P, M, N) volume was segmented, False for a 2D map.
    islands_removed : int
        Voxels (pixels) dropped as small islands.
    """

    labels: dict[str, NDArray[Any]]
    table: Any
    threshold: float
    min_island_size: int
    method: str
    volume: bool
    islands_removed: int = 0


def segment_job(sample: Sample, *, threshold: float = 3.0, min_island_size: int = 10,
                split_touching: bool = True, control: Any = None
                ) -> Generator[Any, None, SegmentResult]:
    """Segment the >Ni³⁺ regions and tabulate the crystals (engine ``ptyxanes.segment``).

    Works on the full valence volume (P, M, N) of a volume sample, else on the 2D
    valence map (M, N), whose edge-jump map (the Ni amount per pixel) weights the
    table's fractions and means. The crystals are the finite valence voxels,
    labelled by :func:`ptyxanes.segment.label_crystals`.

    Parameters
    ----------
    sample : Sample
        With ``volume`` or ``maps["valence"]``.
    threshold : float
        Valence above which a voxel is >Ni³⁺.
    min_island_size : int
        >Ni³⁺ islands with fewer voxels (pixels) are removed; 1 keeps all.
    split_touching : bool
        Split touching crystals (watershed) or not (connected components).
    control : ptyxanes.progress.Control, optional
        Checked between the steps and between crystals.

    Yields
    ------
    progress : ptyxanes.progress.Progress
        After each step and per crystal of the table.

    Returns
    -------
    result : SegmentResult
    """
    from ptyxanes.progress import Control, Progress, sub_progress
    from ptyxanes.segment import (
        crystal_table_gen,
        label_crystals,
        remove_small_islands,
        threshold_labels,
    )

    control = control or Control()
    weights = None
    if sample.volume is not None:
        valence = np.asarray(sample.volume)
        cell = float(sample.voxel_size or sample.pixel_size) or None
    else:
        valence = np.asarray(sample.maps["valence"])
        cell = float(sample.pixel_size) or None
        jump = sample.maps.get("edge_jump")
        if jump is not None and np.shape(jump) == valence.shape:
            weights = np.clip(np.nan_to_num(np.asarray(jump, np.float64)), 0.0, None)
    total = 10.0
    what = "voxels" if valence.ndim == 3 else "pixels"
    yield Progress(0, total, f"threshold {threshold:g}", "segment")
    mask = np.isfinite(valence)
    seed = threshold_labels(valence, float(threshold), mask=mask)
    control.check()
    yield Progress(1, total, "small islands", "segment")
    high_ox = remove_small_islands(seed, int(min_island_size))
    removed = int(np.count_nonzero(seed) - np.count_nonzero(high_ox))
    control.check()
    method = "watershed" if split_touching else "components"
    yield Progress(2, total, "crystals (split touching)" if split_touching else "crystals",
                   "segment")
    crystals = label_crystals(mask, method=method)
    control.check()
    table = yield from sub_progress(
        crystal_table_gen(valence, crystals, high_ox, voxel_size=cell, weights=weights,
                          control=control), 4.0, 6.0, total, "segment")
    logger.info("segment: %d crystals, %d %s > %g (%d in islands < %d removed)",
                len(table), int(np.count_nonzero(high_ox)), what, threshold, removed,
                int(min_island_size))
    return SegmentResult(labels={"high_ox": high_ox.astype(np.uint8),
                                 "crystals": crystals.astype(np.int32)},
                         table=table, threshold=float(threshold),
                         min_island_size=int(min_island_size), method=method,
                         volume=valence.ndim == 3, islands_removed=removed)


def apply_shifts(data: NDArray[Any], shifts: NDArray[np.float64]) -> NDArray[Any]:
    """Shift every energy by ``shifts`` (engine ``ptyxanes.align.apply_shifts``)."""
    from ptyxanes.align import apply_shifts as fn

    return fn(data, shifts, crop=False)


def save_sample_project(path: str | Path, sample: Sample) -> Path:
    """Save one sample with ``ptyxanes.io.project.save_project``.

    A volume sample is saved whole: its full (P, M, N) maps and its volume
    stack (E, P, M, N); a tilt series keeps its (E, A, M, N) stack; a 2D sample
    its stack and maps.
    """
    from ptyxanes.io import project as proj_mod

    maps = {}
    for key, arr in sample.maps.items():
        nx = MAP_NAMES.get(key, key)
        full = sample.volume_maps.get(key)
        if full is not None:
            maps[nx] = proj_mod.MapData(data=np.asarray(full),
                                        pixel_size=sample.voxel_size or sample.pixel_size,
                                        name=nx)
        else:
            maps[nx] = proj_mod.MapData(data=np.asarray(arr), pixel_size=sample.pixel_size,
                                        name=nx)
        if key == "valence" and sample.fit_model:
            maps[nx].attrs.update(sample.fit_model)  # the inspector refits like the map
    import re

    stack_name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", sample.name) or "stack"
    if sample.volume_stack is not None:
        stacks = {"volumes": sample.volume_stack}
    elif sample.tilt_stack is not None:
        stacks = {"tilt_series": sample.tilt_stack}
    else:
        stacks = {stack_name: sample.stack} if sample.stack is not None else {}
    tables = {}
    if sample.crystal_table is not None:
        tables["crystals"] = sample.crystal_table.columns()
    project = proj_mod.Project(maps=maps, stacks=stacks, labels=dict(sample.labels),
                               tables=tables, parameters={"sample": {"name": sample.name}},
                               inputs={"source": sample.source})
    return Path(proj_mod.save_project(path, project, overwrite=True))


def shifted_difference(sample: Sample, index: int, reference: int,
                       shift: NDArray[np.float64]) -> NDArray[np.float64]:
    """−ln|T| of energy ``index`` shifted by ``shift`` (engine ``shift_image``) minus the reference."""
    from ptyxanes.align import shift_image

    data, kind = sample.stack.data, sample.stack.kind
    ref = absorption(np.asarray(data[reference]), kind)
    img = absorption(np.asarray(shift_image(np.asarray(data[index]), shift)), kind)
    return np.nan_to_num(img - ref)


def valence_figure(path: str | Path, maps: dict[str, NDArray[Any]], pixel_size: float,
                   clim: tuple[float, float], *, dpi: int = 300,
                   size_px: tuple[int, int] | None = None) -> Path:
    """Valence maps with shared limits, scale and colour bars (``ptyxanes.figures``)."""
    from ptyxanes.figures import save_figure, valence_map_figure

    figsize = None if size_px is None else (size_px[0] / dpi, size_px[1] / dpi)
    fig = valence_map_figure(maps, pixel_size, clim=clim, figsize=figsize)
    return Path(save_figure(fig, path, dpi=dpi, overwrite=True))
