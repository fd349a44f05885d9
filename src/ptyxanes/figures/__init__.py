"""Publication figures and colour maps (matplotlib with the Agg backend only)."""

from ptyxanes.figures.colormaps import VALENCE_LIMITS, valence_lut, valence_mpl_colormap
from ptyxanes.figures.paper import (
    VolumeFigure,
    fig3a_volume,
    fig3b_crystal_slices,
    fig3e_segmented,
    fig5_figure,
)
from ptyxanes.figures.valence import (
    export_csv,
    histogram_figure,
    save_figure,
    valence_histogram,
    valence_map_figure,
)

__all__ = [
    "VALENCE_LIMITS",
    "VolumeFigure",
    "export_csv",
    "fig3a_volume",
    "fig3b_crystal_slices",
    "fig3e_segmented",
    "fig5_figure",
    "histogram_figure",
    "save_figure",
    "valence_histogram",
    "valence_lut",
    "valence_map_figure",
    "valence_mpl_colormap",
]
