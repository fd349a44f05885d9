"""Helpers for the embedded napari viewer: valence colour map and NaN handling.

napari and vispy are imported lazily (STYLE.md §2.7).
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

#: Fraction of the colour range below the lower limit reserved for "outside the sample".
_PAD = 1.0 / 256


def outside_value(clim: tuple[float, float]) -> float:
    """Value written in place of NaN so that it maps to the transparent entry."""
    lo, hi = clim
    return float(lo - 0.5 * _PAD * (hi - lo) / (1 - _PAD))


def padded_limits(clim: tuple[float, float]) -> tuple[float, float]:
    """Contrast limits of the layer: the valence limits plus the transparent pad."""
    lo, hi = clim
    return float(lo - _PAD * (hi - lo) / (1 - _PAD)), float(hi)


def valence_napari_colormap():
    """napari ``Colormap`` of the valence LUT with a transparent first step.

    The first ``_PAD`` of the range (values written by :func:`fill_outside`) is
    fully transparent; the rest is ``valence_lut`` (Ni²⁺ blue → >Ni³⁺ red).
    Use it with :func:`padded_limits` as contrast limits.
    """
    from napari.utils.colormaps import Colormap

    from ptyxanes.figures.colormaps import valence_lut

    lut = valence_lut(256).astype(np.float32) / 255.0
    # linear interpolation with a transparent step below _PAD ("zero" interpolation
    # renders black in napari's translucent volume mode)
    colors = np.vstack([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], lut])
    controls = np.concatenate([[0.0, 0.999 * _PAD], _PAD + (1 - _PAD) * np.linspace(0, 1, 256)])
    return Colormap(colors=colors, controls=controls.astype(np.float32), interpolation="linear",
                    name="ptyxanes_valence_transparent", display_name="valence")


def fill_outside(
    valence: NDArray[np.floating], clim: tuple[float, float], keep: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Copy of ``valence`` with NaN (and voxels outside ``keep``) set to the transparent value."""
    out = np.array(valence, dtype=np.float32, copy=True)
    hide = ~np.isfinite(out)
    if keep is not None:
        hide |= ~keep
    lo, hi = clim
    np.clip(out, lo, hi, out=out)  # keeps visible voxels off the transparent step
    out[hide] = outside_value(clim)
    return out


def quarter_planes(
    shape: tuple[int, ...], scale: tuple[float, ...] = (1.0, 1.0, 1.0)
) -> tuple[list[dict], list[dict]]:
    """Clipping planes whose union removes the quarter (row < centre, col < centre).

    Returns
    -------
    main, second : list of dict
        Planes of the main layer (keeps row >= centre) and of the second layer
        (keeps row <= centre and col >= centre), in data coordinates
        (plane, row, col) in world units (napari 0.9 places clipping planes in the
        scaled world frame, not in voxels). vispy keeps points with
        ``(x - position) · normal >= 0``.
    """
    centre = [(s - 1) / 2 * float(f) for s, f in zip(shape[-3:], scale[-3:], strict=True)]
    main = [{"position": centre, "normal": (0, 1, 0), "enabled": True}]
    second = [
        {"position": centre, "normal": (0, -1, 0), "enabled": True},
        {"position": centre, "normal": (0, 0, 1), "enabled": True},
    ]
    return main, second


def visible_by_planes(
    shape: tuple[int, int, int], planes: list, scale: tuple[float, ...] = (1.0, 1.0, 1.0)
) -> NDArray[np.bool_]:
    """Voxels a layer with these (world-frame) clipping planes keeps (for tests and exports)."""
    grid = np.stack(np.meshgrid(*[np.arange(s) * float(f) for s, f in zip(shape, scale, strict=True)],
                                indexing="ij"), -1)
    keep = np.ones(shape, bool)
    for p in planes:
        pos = np.asarray(p.position if hasattr(p, "position") else p["position"], float)
        nrm = np.asarray(p.normal if hasattr(p, "normal") else p["normal"], float)
        enabled = p.enabled if hasattr(p, "enabled") else p.get("enabled", True)
        if enabled:
            keep &= (grid - pos) @ nrm >= 0
    return keep
