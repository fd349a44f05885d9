"""Ptychographic reconstruction: ePIE/rPIE with mixed-state probes, energy series.

See docs/ptycho.md for the algorithms, their parameters and the handling of
energy series (pixel size that changes with energy, warm starts, parallel jobs).
"""

from __future__ import annotations

import logging

from ptyxanes.ptycho.engine import (
    ALGORITHMS,
    PtychoParams,
    PtychoResult,
    check_patterns,
    group_positions,
    init_modes,
    orthogonalize_modes,
    reconstruct,
    support_size,
)
from ptyxanes.ptycho.probe import ProbeEstimate, estimate_probe

logger = logging.getLogger(__name__)

__all__ = [
    "ALGORITHMS",
    "ProbeEstimate",
    "estimate_probe",
    "PtychoParams",
    "PtychoResult",
    "check_patterns",
    "group_positions",
    "init_modes",
    "orthogonalize_modes",
    "reconstruct",
    "support_size",
]
