"""Spectra of a sample: a pixel's or a region's fit, the fit settings of a sample,
the reference spectra and the valence calibration.

The fits are :func:`ptyxanes.xanes.fit_spectrum` with the options, edge shape and
calibration the sample's maps were fitted with, so a click agrees with the map.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes import stages
from ptyxanes_gui.document import (
    Sample,
)

logger = logging.getLogger(__name__)


def sample_edge(sample: Sample | None) -> Any:
    """The :class:`~ptyxanes.xanes.edges.EdgeSpec` of the sample's fit (the default edge
    before any fit): element-aware labels ("Fe valence", "Fe²⁺")."""
    return fit_options(sample).edge_spec


def absorption(values: NDArray[Any], kind: str) -> NDArray[np.float64]:
    """−ln|T| of complex or modulus data; absorption data as they are."""
    if kind == "absorption":
        return np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(np.abs(np.asarray(values)).astype(np.float64))


def pixel_spectrum(sample: Sample, row: int, col: int) -> NDArray[np.float64]:
    """Raw absorption −ln|T| of one pixel across energy."""
    return absorption(sample.stack.data[:, row, col], sample.stack.kind)


def fit_options(sample: Sample | None) -> Any:
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
    return default_fit_params(sample, refs)


def default_fit_params(sample: Sample | None,
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


# ----------------------------------------------------------------------------- spectra
@dataclass
class InspectedSpectrum:
    """What the click inspector draws: the raw spectrum and the engine's fit of it.

    Parameters
    ----------
    energy, raw : ndarray of shape (E,)
        eV and the absorbance (``raw_label`` says which).
    fit : ptyxanes.xanes.SpectrumFit or None
        The engine's fit (None when it failed; ``message`` says why).
    message : str
        R², or why the spectrum is not fitted.
    raw_label : str
        What ``raw`` is (:func:`~ptyxanes_gui.presenters.channels.channel_label` of the
        absorption channel).
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
                 sample: Sample | None = None) -> InspectedSpectrum:
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
    fit : InspectedSpectrum
    """
    from ptyxanes.xanes import fit_spectrum as fn

    shift = 0.0 if sample is None else float((sample.fit_model or {}).get("energy_shift_eV", 0.0))
    from ptyxanes_gui.presenters.channels import channel_label

    out = InspectedSpectrum(energy=np.asarray(energy, float) + shift, raw=np.asarray(raw, float),
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
            res = fn(out.energy, out.raw, options=fit_options(sample),
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
    options = fit_options(sample)
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


def region_fit(sample: Sample, region: NDArray[np.bool_]
               ) -> tuple[InspectedSpectrum, NDArray[np.float64] | None, int]:
    """Fit of a region's mean spectrum, the spread of its normalised spectra, and its size.

    The mean absorption is fitted like a pixel (:func:`fit_spectrum`, as
    :func:`ptyxanes.xanes.summary.region_spectrum` does); the band is the
    standard deviation of the region's spectra, each normalised with the
    fit's windows (:func:`normalize`).

    Returns
    -------
    fit : InspectedSpectrum
    band : ndarray of shape (E,) or None
        ±1σ of the normalised spectra.
    n : int
        Pixels with finite spectra.
    """
    rows, cols = np.nonzero(region)
    spectra = absorption(np.asarray(sample.stack.data)[:, rows, cols], sample.stack.kind)
    good = np.all(np.isfinite(spectra), axis=0)
    if not good.any():
        return InspectedSpectrum(sample.energy, np.full(len(sample.energy), np.nan),
                           message="no finite spectra in the region"), None, 0
    spectra = spectra[:, good]
    fit = fit_spectrum(sample.energy, spectra.mean(axis=1), sample)
    band = None
    try:
        band = normalize(sample.energy, spectra.T, fit_options(sample)).std(axis=0)
    except Exception:
        logger.debug("region band failed", exc_info=True)
    return fit, band, int(good.sum())


