"""The GUI's calls into the engine, and the unpacking of their results.

No science lives here: the stages are :mod:`ptyxanes.stages` (the same
functions the command line and the pipeline run), the samples and their
files are :mod:`ptyxanes_gui.document`; this module turns a sample plus a
form's values into a stage call, and a stage's result back into the sample.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes import stages
from ptyxanes.io.errors import FormatError
from ptyxanes.progress import Control
from ptyxanes_gui.document import (
    MAP_NAMES,
    Sample,
    load_samples,
    mid_plane_stack,
    set_4d_stack,
)

logger = logging.getLogger(__name__)

__all__ = ["MAP_NAMES", "Sample", "load_path"]


def _read_stack(path: Path) -> Any:
    from ptyxanes.progress import run_sync

    return run_sync(stages.import_stage(path))


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
            if (sub / "result.h5").is_file() and _is_project(sub / "result.h5"):
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
    if _is_project(p):
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
    "valence": "valence",  # the map's own label names the element (channel_label)
    "valence_sigma": "valence σ",
    "edge_jump": "edge jump",
    "fit_quality": "fit quality",
}


def channel_label(sample: Sample | None, channel: str) -> str:
    """The axis/colour-bar label of a channel for this sample (units included).

    A volume's planes hold the linear attenuation coefficient μ (1/m), not −ln|T|; a
    transmission stack read as optical density (STXM: ``attrs["quantity"]``) says so.
    """
    stack = None if sample is None else sample.stack
    if channel == "absorption" and stack is not None and \
            "optical density" in str(stack.attrs.get("quantity", "")).lower():
        return "optical density −ln(I/I₀)"
    if (channel == "absorption" and stack is not None and stack.kind == "absorption"
            and sample.kind == "volume"):
        return "attenuation μ (1/m)"
    if channel in ("valence", "valence_sigma"):
        label = str(sample_edge(sample).valence_label)
        return label if channel == "valence" else f"{label} σ"
    return CHANNEL_LABELS[channel]


def sample_edge(sample: Sample | None) -> Any:
    """The :class:`~ptyxanes.xanes.edges.EdgeSpec` of the sample's fit (the default edge
    before any fit): element-aware labels ("Fe valence", "Fe²⁺")."""
    return _options(sample).edge_spec


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


def _options(sample: Sample | None) -> Any:
    """The FitOptions the sample's maps were fitted with, else the stage defaults."""
    decoded = None if sample is None else sample.fit_model_decoded()
    return decoded[0] if decoded is not None else sample_fit_params(sample).options


def sample_fit_params(sample: Sample | None) -> stages.FitParams:
    """The FitParams of the sample's last fit (its saved stage parameters), else the
    stage defaults with the sample's references."""
    saved = {} if sample is None else dict(sample.parameters.get("fit") or {})
    refs = () if sample is None else tuple(sample.references)
    if isinstance(saved.get("options"), dict):
        try:
            flat = {k: v for k, v in saved.items() if k != "options"}
            flat.update(saved["options"])
            flat.pop("normalization", None)  # follows from the edge
            return stages.FitParams.from_flat(flat, "the sample's fit parameters")
        except (TypeError, ValueError):
            logger.debug("saved fit parameters not usable", exc_info=True)
    return _default_fit_params(sample, refs)


def _default_fit_params(sample: Sample | None,
                        refs: tuple[tuple[float, str], ...]) -> stages.FitParams:
    """Stage defaults, at the edge that the sample's energies cover (Ni-K when unknown)."""
    from ptyxanes.xanes.edges import edge_for_energies

    stack = None if sample is None else sample.stack
    if stack is None or not np.size(stack.energy):
        return stages.FitParams(references=refs)
    return stages.FitParams.for_edge(edge_for_energies(stack.energy).name, references=refs)


def normalize(energy: NDArray[Any], mu: NDArray[Any], options: Any) -> NDArray[np.float64]:
    """Normalised μ exactly as the fit normalises (``options.norm_kwargs``: windows, post-edge
    order, e0 and the edge's normalisation; energy last axis)."""
    from ptyxanes.xanes.normalize import normalize as fn

    return np.asarray(fn(energy, mu, **options.norm_kwargs).mu, float)


def normalized_stack(sample: Sample) -> NDArray[Any] | None:
    """Normalised μ of every pixel, (E, M, N), normalised like the fit (cached)."""
    key = id(sample.stack)
    if key not in _NORM_CACHE:
        mu = absorption(np.asarray(sample.stack.data), sample.stack.kind)
        out = normalize(sample.energy, np.moveaxis(mu, 0, -1), _options(sample))
        _NORM_CACHE.clear()  # one stack's worth of memory at most
        _NORM_CACHE[key] = np.moveaxis(out, -1, 0)
    return _NORM_CACHE[key]


# ----------------------------------------------------------------------------- spectra
@dataclass
class SpectrumFit:
    """What the click inspector draws: the raw spectrum and the engine's fit of it.

    Parameters
    ----------
    energy, raw : ndarray of shape (E,)
        eV and −ln|T|.
    fit : ptyxanes.xanes.SpectrumFit or None
        The engine's fit (None when it failed; ``message`` says why).
    message : str
        R², or why the spectrum is not fitted.
    raw_label : str
        What ``raw`` is (:func:`channel_label` of the absorption channel).
    """

    energy: NDArray[np.float64]
    raw: NDArray[np.float64]
    fit: Any | None = None
    message: str = ""
    raw_label: str = "−ln|T|"

    def _f(self, name: str) -> float | None:
        v = None if self.fit is None else getattr(self.fit, name, None)
        return None if v is None or not np.isfinite(v) else float(v)

    @property
    def normalized(self) -> NDArray[np.float64] | None:
        """Normalised μ (E,)."""
        return None if self.fit is None else np.asarray(self.fit.mu_norm, float)

    @property
    def fit_energy(self) -> NDArray[np.float64] | None:
        """Fine energy grid of the model, eV."""
        return None if self.fit is None else np.asarray(self.fit.fit_energy, float)

    @property
    def fit_curve(self) -> NDArray[np.float64] | None:
        """The fitted model on :attr:`fit_energy`."""
        return None if self.fit is None else np.asarray(self.fit.fit_curve, float)

    @property
    def components(self) -> list[NDArray[np.float64]]:
        """The Gaussians (and edge step) on :attr:`fit_energy`."""
        return [] if self.fit is None else [np.asarray(c, float) for c in self.fit.components]

    edge_energy = property(lambda self: self._f("edge_energy"), doc="Edge energy, eV.")
    half_height = property(lambda self: self._f("level"), doc="Height the edge is read at.")
    peak_energy = property(lambda self: self._f("peak_energy"), doc="First main peak, eV.")
    peak_height = property(lambda self: self._f("peak_height"), doc="Its height.")
    valence = property(lambda self: self._f("valence"), doc="Valence of the fitted element.")
    valence_sigma = property(lambda self: self._f("valence_sigma"), doc="Its 1σ.")


def fit_spectrum(energy: NDArray[np.float64], raw: NDArray[np.float64],
                 sample: Sample | None = None) -> SpectrumFit:
    """Fit one spectrum exactly as the sample's map was fitted.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        eV.
    raw : ndarray of shape (E,)
        −ln|T| (or another absorption quantity).
    sample : Sample, optional
        With a fitted map: its options, shared edge shape and calibration
        (decoded once per fit); else the stage defaults calibrated on the
        sample's references.

    Returns
    -------
    fit : SpectrumFit
    """
    from ptyxanes.xanes import fit_spectrum as fn

    shift = 0.0 if sample is None else float((sample.fit_model or {}).get("energy_shift_eV", 0.0))
    out = SpectrumFit(energy=np.asarray(energy, float) + shift, raw=np.asarray(raw, float),
                      raw_label=channel_label(sample, "absorption"))
    decoded = None if sample is None else sample.fit_model_decoded()
    refs = () if sample is None else sample.references
    try:
        if decoded is not None:
            opts, template, cal = decoded
            res = fn(out.energy, out.raw, options=opts, template=template,
                     calibration=cal if cal is not None else calibration(out.energy, refs))
        else:
            # before a fit: the edge the sample's energies cover (not the Ni-K default)
            res = fn(out.energy, out.raw, options=_options(sample),
                     calibration=calibration(out.energy, refs))
    except Exception as exc:  # a bad pixel must not break the inspector
        logger.debug("fit_spectrum failed", exc_info=True)
        out.message = f"fit failed: {exc}"
        return out
    out.fit = res
    if int(res.status) != 0:
        out.message = f"not fitted: {status_name(int(res.status))}"
    elif np.isfinite(res.r2):
        out.message = f"R² {res.r2:.3f}"
    return out


def status_name(code: int) -> str:
    """Readable name of an engine status code."""
    from ptyxanes.xanes import status_names

    return str(status_names().get(code, code))


_CAL_CACHE: dict[tuple[bytes, tuple[tuple[float, str], ...]], Any] = {}


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


def reference_spectrum_objects(references: tuple[tuple[float, str], ...] = ()) -> list[Any]:
    """Reference spectra with known valence: these files, or the shipped set when empty."""
    return stages.load_references(references)


def calibration(energy: NDArray[np.float64],
                references: tuple[tuple[float, str], ...] = ()) -> Any | None:
    """Edge → valence calibration of these references on this energy grid (cached)."""
    key = (np.asarray(energy, np.float64).tobytes(), tuple(references))
    if key not in _CAL_CACHE:
        try:
            from ptyxanes.xanes.edges import edge_for_energies

            params = stages.FitParams.for_edge(edge_for_energies(energy).name,
                                               references=tuple(references))
            _CAL_CACHE[key] = stages.calibration_for(np.asarray(energy, np.float64), params)
        except (ValueError, FileNotFoundError) as exc:
            logger.warning("no valence calibration on this energy grid: %s", exc)
            _CAL_CACHE[key] = None
    return _CAL_CACHE[key]


def reference_spectra(
    sample: Sample | None = None, window: tuple[float, float] | None = None,
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Normalised reference spectra to overlay: label -> (energy eV, normalised μ).

    The references of the sample's fit (its saved parameters, else its
    references or the shipped set), on the calibrated energy scale (their
    energy shifts applied), normalised exactly like its pixels
    (``normalize(e, mu, **options.norm_kwargs)``), cut to ``window`` (eV;
    default the pre-edge start to the post-edge end). Labels name the state
    ("Fe²⁺ ref."). Empty when the references cannot be read.
    """
    out: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    options = _options(sample)
    params = dataclasses.replace(sample_fit_params(sample), options=options)
    spec = options.edge_spec
    if window is None:
        window = (float(options.pre_edge[0]), float(options.post_edge[1]))
    try:
        refs, _shifts = stages.reference_spectra(params)
    except (ValueError, OSError) as exc:
        logger.debug("no reference overlay: %s", exc)
        return out
    for ref in refs:
        if ref.valence is not None and ref.valence < 1.0:
            continue  # the metal is far from the cathode's range; keep the plot readable
        e = np.asarray(ref.energy, float)
        try:
            mu = normalize(e, np.asarray(ref.mu, float), options)
        except Exception:
            logger.debug("could not normalise reference %s", ref.name, exc_info=True)
            continue
        keep = (e >= window[0]) & (e <= window[1])
        if keep.sum() > 3:
            label = (f"{spec.state_label(ref.valence)} ref." if ref.valence is not None
                     else str(ref.name))
            out[label if label not in out else f"{label} ({ref.name})"] = (e[keep], mu[keep])
    return out


def reference_valences(sample: Sample | None = None) -> tuple[float, ...]:
    """Valences of the references of the sample's fit (dashed lines in the histogram)."""
    decoded = None if sample is None else sample.fit_model_decoded()
    cal = decoded[2] if decoded is not None else None
    if cal is not None and getattr(cal, "references", None):
        return tuple(sorted({float(r.valence) for r in cal.references if r.valence is not None
                             and r.valence >= 1.0}))
    return (2.0, 3.0)


# ----------------------------------------------------------------------------- stats
def valence_histogram(values: NDArray[Any], weights: NDArray[Any] | None,
                      bins: NDArray[np.float64]) -> tuple[NDArray[Any], dict[str, float]]:
    """Histogram (density) and summary numbers of the finite valences given.

    The histogram is ``ptyxanes.figures.valence_histogram``; the mean, median
    and σ are weighted by ``weights`` (the Ni amount, edge jump) like it.
    """
    from ptyxanes.figures import valence_histogram as fn

    v = np.asarray(values, float).ravel()
    w = None if weights is None else np.asarray(weights, float).ravel()
    ok = np.isfinite(v) & (np.isfinite(w) & (w > 0) if w is not None else True)
    v = v[ok]
    w = None if w is None else w[ok]
    if v.size == 0:
        return np.zeros(len(bins) - 1), {"mean": np.nan, "median": np.nan, "std": np.nan, "n": 0}
    counts, _edges = fn(v, weights=w, bins=len(bins) - 1,
                        value_range=(float(bins[0]), float(bins[-1])))
    return np.asarray(counts, float), _stats(v, w)


def weighted_median(v: NDArray[Any], w: NDArray[Any] | None) -> float:
    """Median of ``v`` with weights ``w`` (the value where the cumulative weight reaches half)."""
    if w is None:
        return float(np.median(v))
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _stats(v: NDArray[Any], w: NDArray[Any] | None) -> dict[str, float]:
    mean = float(np.average(v, weights=w))
    std = float(np.sqrt(np.average((v - mean) ** 2, weights=w)))
    return {"mean": mean, "median": weighted_median(v, w), "std": std, "n": float(v.size)}


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
    edge = str(values.pop("edge", "") or _default_fit_params(sample, ()).edge)
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


def fit_job(sample: Sample, *, control: Control | None = None, **form: Any
            ) -> Generator[Any, None, Any]:
    """The fit stage (:func:`ptyxanes.stages.fit_stage`) on the sample's stack or volumes.

    Returns :class:`FitMaps` (keys of :data:`MAP_NAMES`, (M, N) or (P, M, N)), the
    maps of :func:`ptyxanes.xanes.results.result_maps` (as the CLI saves them).
    """
    from ptyxanes.xanes.results import fit_model_attrs, result_maps

    params = fit_params(sample, form)
    stack = sample.volume_stack if sample.volume_stack is not None else sample.stack
    res = yield from stages.fit_stage(stack, params, control)
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


def reconstruct_params(sample: Sample, form: dict[str, Any]) -> stages.ReconstructParams:
    """ReconstructParams from the form: ``iterations``, ``warm_iterations`` (0: same),
    ``spot_um`` (µm; 0: the optics the scan files record) and ``jobs``."""
    base = stages.ReconstructParams()
    series: dict[str, Any] = {}
    spot = float(form.get("spot_um", 0.0) or 0.0)
    if spot > 0:
        series["spot"] = spot * 1e-6
    else:
        series.update(scan_optics(sample.scans or []))
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
    logger.info("reconstruct: %d scans, %d iterations, probe spot %.2f µm", len(sample.scans),
                params.ptycho.iterations, params.series.spot * 1e6)
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


def region_fit(sample: Sample, region: NDArray[np.bool_]
               ) -> tuple[SpectrumFit, NDArray[np.float64] | None, int]:
    """Fit of a region's mean spectrum, the spread of its normalised spectra, and its size.

    The mean absorption is fitted like a pixel (:func:`fit_spectrum`, as
    :func:`ptyxanes.xanes.summary.region_spectrum` does); the band is the
    standard deviation of the region's spectra, each normalised with the
    fit's windows (:func:`normalize`).

    Returns
    -------
    fit : SpectrumFit
    band : ndarray of shape (E,) or None
        ±1σ of the normalised spectra.
    n : int
        Pixels with finite spectra.
    """
    rows, cols = np.nonzero(region)
    spectra = absorption(np.asarray(sample.stack.data)[:, rows, cols], sample.stack.kind)
    good = np.all(np.isfinite(spectra), axis=0)
    if not good.any():
        return SpectrumFit(sample.energy, np.full(len(sample.energy), np.nan),
                           message="no finite spectra in the region"), None, 0
    spectra = spectra[:, good]
    fit = fit_spectrum(sample.energy, spectra.mean(axis=1), sample)
    band = None
    try:
        band = normalize(sample.energy, spectra.T, _options(sample)).std(axis=0)
    except Exception:
        logger.debug("region band failed", exc_info=True)
    return fit, band, int(good.sum())


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
