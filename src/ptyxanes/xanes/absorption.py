"""From transmission to absorption, masking what cannot be used."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.xanes.status import SATURATION_T, Status

logger = logging.getLogger(__name__)


def to_absorption(
    data: NDArray[Any], kind: str = "complex"
) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
    """Convert spectra to absorption and flag unusable ones.

    Parameters
    ----------
    data : ndarray of shape (..., E)
        Spectra with energy last: complex transmission T (``kind="complex"``),
        its modulus (``"modulus"``) or an absorption quantity used as is
        (``"absorption"``: -ln|T| of projections, attenuation in 1/m of volumes).
    kind : {"complex", "modulus", "absorption"}
        What ``data`` holds.

    Returns
    -------
    mu : ndarray of shape (..., E), float64
        ``-ln|T|`` (or ``data`` itself for absorption); NaN where undefined.
    status : ndarray of shape (...), uint8
        :class:`~ptyxanes.xanes.status.Status` per spectrum: ``NONFINITE``,
        ``NONPOSITIVE_TRANSMISSION``, ``SATURATED`` (``|T|`` below
        :data:`~ptyxanes.xanes.status.SATURATION_T`, or three or more energies
        clipped at exactly the same maximal absorption) or ``OK``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown.

    Examples
    --------
    >>> mu, st = to_absorption(np.array([[0.5, 0.25], [-0.1, 0.5]]), "modulus")
    >>> np.round(mu[0], 3).tolist(), st.tolist()
    ([0.693, 1.386], [0, 2])
    """
    if kind not in ("complex", "modulus", "absorption"):
        raise ValueError(f"unknown stack kind {kind!r}; expected complex, modulus or absorption")
    arr = np.asarray(data)
    status = np.zeros(arr.shape[:-1], np.uint8)
    finite = np.isfinite(arr).all(axis=-1)
    if kind == "absorption":
        mu = np.asarray(arr, dtype=np.float64).copy()
    else:
        if kind == "complex":
            t = np.abs(arr).astype(np.float64)
            nonpos = (t <= 0).any(axis=-1)
        else:
            t = np.asarray(arr, dtype=np.float64)
            nonpos = (t <= 0).any(axis=-1)
        sat = ((t > 0) & (t < SATURATION_T)).any(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = -np.log(np.where(t > 0, t, np.nan))
        status[sat] = Status.SATURATED
        status[nonpos] = Status.NONPOSITIVE_TRANSMISSION
    with np.errstate(invalid="ignore"):
        top = np.nanmax(np.where(np.isfinite(mu), mu, -np.inf), axis=-1, keepdims=True)
        bottom = np.nanmin(np.where(np.isfinite(mu), mu, np.inf), axis=-1, keepdims=True)
        clipped = ((mu == top).sum(axis=-1) >= 3) & (top[..., 0] > bottom[..., 0])
    status[clipped & (status == Status.OK)] = Status.SATURATED
    status[~finite] = Status.NONFINITE
    mu[status != Status.OK] = np.nan
    return mu, status
