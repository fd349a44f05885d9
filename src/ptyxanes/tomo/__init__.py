"""Parallel-beam tomography: SIRT (CPU all-slices / CUDA), FBP, joint reprojection alignment."""

from __future__ import annotations

from ptyxanes.tomo.alignment import (
    TiltAlignment,
    align_tilt_series,
    find_rotation_center,
    normalize_flat_dark,
    shift_projections,
)
from ptyxanes.tomo.projector import ParallelProjector, parallel_projector
from ptyxanes.tomo.reconstruct import center_projections, fbp, sirt
from ptyxanes.tomo.series import (
    EnergyAlignment,
    EnergySeriesVolumes,
    EnergyVolume,
    align_energy,
    attenuation_line_integrals,
    auto_sirt,
    check_volume,
    combine_energy_volumes,
    common_pixel,
    energy_line_integrals,
    reconstruct_energy,
    reconstruct_energy_series,
    reconstruct_tilt_stack,
    volume_stack,
)

__all__ = [
    "EnergyAlignment",
    "EnergySeriesVolumes",
    "EnergyVolume",
    "ParallelProjector",
    "TiltAlignment",
    "align_energy",
    "align_tilt_series",
    "attenuation_line_integrals",
    "check_volume",
    "combine_energy_volumes",
    "common_pixel",
    "energy_line_integrals",
    "center_projections",
    "fbp",
    "find_rotation_center",
    "normalize_flat_dark",
    "parallel_projector",
    "reconstruct_energy",
    "auto_sirt",
    "reconstruct_energy_series",
    "reconstruct_tilt_stack",
    "shift_projections",
    "sirt",
    "volume_stack",
]
