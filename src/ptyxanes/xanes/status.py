"""Per-pixel status codes of the XANES engine."""

from __future__ import annotations

import enum
import logging

logger = logging.getLogger(__name__)


class Status(enum.IntEnum):
    """Why a pixel (voxel) has, or has not, a valence.

    Every pixel of a :class:`~ptyxanes.xanes.batch.XanesResult` carries one
    code (``uint8`` in files). Only ``OK`` pixels inside the sample mask have
    finite outputs; every other pixel is NaN in the valence, sigma and edge
    energy maps. When several problems apply, the first one found in the
    processing order below wins.

    Attributes
    ----------
    OK : 0
        Fitted; the valence is valid.
    NONFINITE : 1
        NaN or inf in the input at one or more energies.
    NONPOSITIVE_TRANSMISSION : 2
        Transmission modulus ``|T| <= 0`` at one or more energies (the
        logarithm is undefined).
    SATURATED : 3
        Transmission below ``SATURATION_T`` (absorption above ~9) or a clipped
        plateau of identical maximal values: the detector or the
        reconstruction saturated, the edge shape is meaningless.
    NO_EDGE : 4
        Edge jump not positive (flat or inverted spectrum) or the pre/post
        windows hold too few energies to normalise.
    BELOW_THRESHOLD : 5
        Edge jump below the sample-mask threshold (outside the sample).
    FIT_FAILED : 6
        The edge fit did not converge or found no rising edge / first peak.
    SPIKE : 7
        One energy is an outlier far above the noise (a spike); the fit is
        distorted by it.
    POOR_FIT : 8
        The fit explains too little of the signal (R^2 below ``min_r2``).
    OUT_OF_RANGE : 9
        The edge energy lies outside the fitted energy window (extrapolated).
    """

    OK = 0
    NONFINITE = 1
    NONPOSITIVE_TRANSMISSION = 2
    SATURATED = 3
    NO_EDGE = 4
    BELOW_THRESHOLD = 5
    FIT_FAILED = 6
    SPIKE = 7
    POOR_FIT = 8
    OUT_OF_RANGE = 9


#: Transmission below this counts as saturated (absorption -ln|T| > 9.2).
SATURATION_T: float = 1e-4


def status_names() -> dict[int, str]:
    """Map every status code to its name (for legends and file attributes).

    Returns
    -------
    names : dict of int to str

    Examples
    --------
    >>> status_names()[0], status_names()[5]
    ('OK', 'BELOW_THRESHOLD')
    """
    return {int(s): s.name for s in Status}
