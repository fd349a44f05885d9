"""XANES engine: edges, energy calibration, normalisation, edge fits, calibration, summaries.

Spectra are energy-last arrays ``(..., E)`` with energies in eV. The main
entry points are :func:`fit_spectrum` (one spectrum, for the GUI inspector),
:func:`fit_spectra` (an in-memory map), :func:`fit_stack` (a generator over
an :class:`~ptyxanes.io.stack.ImageStack`, chunked from HDF5) and
:func:`calibrate_references`.
"""

from ptyxanes.xanes.absorption import to_absorption
from ptyxanes.xanes.batch import (
    METHODS,
    FitOptions,
    SpectrumFit,
    XanesResult,
    calibrate_references,
    choose_method,
    fit_spectra,
    fit_spectrum,
    fit_stack,
    fit_stack_array,
    otsu_threshold,
    reference_edges,
    sample_mask,
)
from ptyxanes.xanes.calibration import Calibration, ReferenceEdge, calibrate
from ptyxanes.xanes.edges import COMMON_EDGES, EdgeSpec, edge_spec, state_label
from ptyxanes.xanes.energy import (
    EnergyShift,
    align_shift,
    calibrate_reference_energy,
    feature_shift,
    foil_shift,
)
from ptyxanes.xanes.normalize import Normalized, normalize
from ptyxanes.xanes.status import Status, status_names
from ptyxanes.xanes.summary import ValenceSummary, region_spectrum, valence_summary

__all__ = [
    "COMMON_EDGES",
    "METHODS",
    "EdgeSpec",
    "EnergyShift",
    "align_shift",
    "calibrate_reference_energy",
    "choose_method",
    "edge_spec",
    "feature_shift",
    "foil_shift",
    "sample_mask",
    "state_label",
    "Calibration",
    "FitOptions",
    "Normalized",
    "ReferenceEdge",
    "SpectrumFit",
    "Status",
    "ValenceSummary",
    "XanesResult",
    "calibrate",
    "calibrate_references",
    "fit_spectra",
    "fit_spectrum",
    "fit_stack",
    "fit_stack_array",
    "normalize",
    "otsu_threshold",
    "reference_edges",
    "region_spectrum",
    "status_names",
    "to_absorption",
    "valence_summary",
]
