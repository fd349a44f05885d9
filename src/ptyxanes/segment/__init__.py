"""Segmentation of >Ni³⁺ regions, crystal labelling and per-crystal tables.

Pure numpy/scipy/scikit-image; works on 2D maps (M, N) and 3D volumes (P, M, N).
"""

from __future__ import annotations

from ptyxanes.segment.core import (
    CrystalTable,
    axis_angle_deg,
    crystal_table,
    crystal_table_gen,
    label_crystals,
    remove_small_islands,
    slab_normal,
    threshold_labels,
)

__all__ = [
    "CrystalTable",
    "axis_angle_deg",
    "crystal_table",
    "crystal_table_gen",
    "label_crystals",
    "remove_small_islands",
    "slab_normal",
    "threshold_labels",
]
