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
        One of ``"demo"``, ``"project"``, ``"fit"``, ``"fit_spectrum"``,
        ``"register"``, ``"figures"``.

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
    """

    name: str
    stack: Any | None
    maps: dict[str, NDArray[Any]] = field(default_factory=dict)
    pixel_size: float = 0.0
    source: str = ""
    volume: NDArray[Any] | None = None
    voxel_size: float = 0.0
    labels: dict[str, NDArray[Any]] = field(default_factory=dict)

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
    return [Sample(name=name, stack=stack, pixel_size=float(np.asarray(stack.pixel_size)[0]),
                   source=str(p))]


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
    from ptyxanes.io.project import load_project

    proj = load_project(p)
    stack = next(iter(proj.stacks.values()), None) if proj.stacks else None
    maps: dict[str, NDArray[Any]] = {}
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
            if key == "valence":
                volume, voxel = arr, pixel
            arr = arr[arr.shape[0] // 2]
        maps[key] = arr
    if stack is not None and np.ndim(stack.data) == 4:
        stack = _mid_plane_stack(stack)
    if stack is not None and not pixel:
        pixel = float(np.asarray(stack.pixel_size)[0])
    name = str(getattr(proj, "parameters", {}).get("sample", {}).get("name", "")) or p.stem
    return Sample(name=name, stack=stack, maps=maps, pixel_size=pixel, source=str(p),
                  volume=volume, voxel_size=voxel, labels=dict(proj.labels))


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


def fit_spectrum(energy: NDArray[np.float64], raw: NDArray[np.float64]) -> SpectrumFit:
    """Fit one spectrum with the engine's single-spectrum fit (when it exists).

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    raw : ndarray of shape (E,)
        −ln|T| (or another absorption quantity).

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


def register_job(sample: Sample, *, reference: int = 0, upsample_factor: int = 20,
                 control: Any = None) -> Generator[Any, None, Any]:
    """Register a sample's energies (engine ``ptyxanes.align.register_stack``)."""
    from ptyxanes.align import register_stack

    data = np.asarray(sample.stack.data)
    channel = "phase" if np.iscomplexobj(data) else "modulus"
    reg = yield from register_stack(data, reference=reference, channel=channel,
                                    upsample_factor=upsample_factor, control=control)
    return reg


def fit_job(sample: Sample, *, control: Any = None, **params: Any) -> Generator[Any, None, Any]:
    """Fit the XANES of every pixel (engine ``ptyxanes.xanes.fit_stack``); returns maps.

    ``params`` may hold ``pre_edge_lo/hi`` and ``post_edge_lo/hi`` (eV).
    """
    from ptyxanes import xanes

    opts = {}
    if "pre_edge_lo" in params:
        opts["pre_edge"] = (float(params["pre_edge_lo"]), float(params["pre_edge_hi"]))
    if "post_edge_lo" in params:
        opts["post_edge"] = (float(params["post_edge_lo"]), float(params["post_edge_hi"]))
    options = xanes.FitOptions(**opts)
    res = yield from xanes.fit_stack(sample.stack, options=options,
                                     calibration=calibration(sample.energy), control=control)
    maps: dict[str, NDArray[Any]] = {}
    for key in MAP_NAMES:
        val = _get(res, key, MAP_NAMES[key])
        if val is not None:
            maps[key] = np.asarray(val)
    return maps


def apply_shifts(data: NDArray[Any], shifts: NDArray[np.float64]) -> NDArray[Any]:
    """Shift every energy by ``shifts`` (engine ``ptyxanes.align.apply_shifts``)."""
    from ptyxanes.align import apply_shifts as fn

    return fn(data, shifts, crop=False)


def save_sample_project(path: str | Path, sample: Sample) -> Path:
    """Save one sample (stack and result maps) with ``ptyxanes.io.project.save_project``."""
    from ptyxanes.io import project as proj_mod

    maps = {}
    for key, arr in sample.maps.items():
        nx = MAP_NAMES.get(key, key)
        maps[nx] = proj_mod.MapData(data=np.asarray(arr), pixel_size=sample.pixel_size, name=nx)
    import re

    stack_name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", sample.name) or "stack"
    stacks = {stack_name: sample.stack} if sample.stack is not None else {}
    project = proj_mod.Project(maps=maps, stacks=stacks, labels=dict(sample.labels),
                               parameters={"sample": {"name": sample.name}},
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
