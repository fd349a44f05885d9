"""The images the central view shows: a sample's channels at one energy, their labels,
and the live preview of a running stage.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes_gui.document import Sample
from ptyxanes_gui.presenters.spectra import absorption, fit_options, normalize, sample_edge

logger = logging.getLogger(__name__)


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


_NORM_CACHE: dict[int, NDArray[Any] | None] = {}


def normalized_stack(sample: Sample) -> NDArray[Any] | None:
    """Normalised μ of every pixel, (E, M, N), normalised like the fit (cached)."""
    key = id(sample.stack)
    if key not in _NORM_CACHE:
        mu = absorption(np.asarray(sample.stack.data), sample.stack.kind)
        out = normalize(sample.energy, np.moveaxis(mu, 0, -1), fit_options(sample))
        _NORM_CACHE.clear()  # one stack's worth of memory at most
        _NORM_CACHE[key] = np.moveaxis(out, -1, 0)
    return _NORM_CACHE[key]


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


def shifted_difference(sample: Sample, index: int, reference: int,
                       shift: NDArray[np.float64]) -> NDArray[np.float64]:
    """−ln|T| of energy ``index`` shifted by ``shift`` (engine ``shift_image``) minus the reference."""
    from ptyxanes.align import shift_image

    data, kind = sample.stack.data, sample.stack.kind
    ref = absorption(np.asarray(data[reference]), kind)
    img = absorption(np.asarray(shift_image(np.asarray(data[index]), shift)), kind)
    return np.nan_to_num(img - ref)


