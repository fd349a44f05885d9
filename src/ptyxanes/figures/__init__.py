"""Publication figures and colour maps (matplotlib with the Agg backend only)."""

from ptyxanes.figures.colormaps import VALENCE_LIMITS, valence_lut, valence_mpl_colormap
from ptyxanes.figures.valence import (
    export_csv,
    histogram_figure,
    save_figure,
    valence_histogram,
    valence_map_figure,
)

__all__ = [
    "VALENCE_LIMITS",
    "export_csv",
    "histogram_figure",
    "save_figure",
    "valence_histogram",
    "valence_lut",
    "valence_map_figure",
    "valence_mpl_colormap",
]
