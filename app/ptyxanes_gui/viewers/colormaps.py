"""pyqtgraph colour maps built from the engine's shared colour tables."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg

logger = logging.getLogger(__name__)


def valence_colormap() -> pg.ColorMap:
    """The Ni valence map (Ni²⁺ blue → >Ni³⁺ red) from ``ptyxanes.figures.colormaps``."""
    from ptyxanes.figures.colormaps import valence_lut

    lut = valence_lut(256)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut, name="ptyxanes_valence")


def grey_colormap() -> pg.ColorMap:
    """Plain grey scale for intensities, phases and absorption."""
    return pg.ColorMap([0.0, 1.0], [(0, 0, 0, 255), (255, 255, 255, 255)], name="grey")


def other_colormap() -> pg.ColorMap:
    """Perceptual map for non-valence result maps (edge energy, jump, quality)."""
    cm = pg.colormap.get("viridis")
    return cm
