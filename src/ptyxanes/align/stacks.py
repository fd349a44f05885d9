"""ImageStack-level wrappers: what the CLI and the pipeline call."""

from __future__ import annotations

import logging
from collections.abc import Generator

import numpy as np

from ptyxanes.align.registration import (
    DEFAULT_PIXEL_SIZE,
    Channel,
    Registration,
    ShiftMethod,
    apply_shifts,
    register_stack,
    rescale_stack,
)
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Control, Progress

logger = logging.getLogger(__name__)


def align_image_stack(
    stack: ImageStack,
    *,
    pixel_size: float = DEFAULT_PIXEL_SIZE,
    reference: int | None = 0,
    channel: Channel = "phase",
    method: ShiftMethod = "fourier",
    upsample_factor: int = 100,
    shifts: np.ndarray | None = None,
    control: Control | None = None,
) -> Generator[Progress, None, tuple[ImageStack, Registration]]:
    """Rescale a 2D energy stack to one pixel size, register it and apply the shifts.

    Parameters
    ----------
    stack : ImageStack
        (energy, row, col) stack, any kind.
    pixel_size : float, optional
        Common pixel size, m (default 40 nm).
    reference : int or None, optional
        Reference energy, or None to chain neighbour to neighbour.
    channel : {"phase", "modulus"}, optional
        Registered channel for complex stacks.
    method : {"fourier", "spline"}, optional
        How the shifts are applied.
    upsample_factor : int, optional
        Sub-pixel precision.
    shifts : ndarray of shape (E, 2), optional
        Re-apply these (e.g. hand-edited) shifts instead of registering.
    control : Control, optional

    Returns
    -------
    aligned : ImageStack
        On the common pixel size, cropped to the region valid at every energy;
        ``attrs["registration_shifts"]`` holds the shifts applied.
    registration : Registration
        (With zero residuals when ``shifts`` were given.)

    Raises
    ------
    ValueError
        For a 4-D stack or shifts of the wrong shape.
    """
    if stack.is_3d:
        raise ValueError(
            f"align_image_stack needs a 2D (energy, row, col) stack, got {stack.data.shape}"
        )
    data = rescale_stack(np.asarray(stack.data), stack.pixel_size, pixel_size)
    n = data.shape[0]
    if shifts is None:
        reg = yield from register_stack(
            data,
            reference=reference,
            channel=channel,
            upsample_factor=upsample_factor,
            control=control,
        )
    else:
        shifts = np.asarray(shifts, dtype=float)
        if shifts.shape != (n, 2):
            raise ValueError(f"shifts of shape {shifts.shape} do not fit {n} energies")
        reg = Registration(
            shifts, np.zeros(n), np.zeros(n, bool), reference, channel, upsample_factor
        )
        yield Progress(1, 1, "shifts given", "register")
    aligned = apply_shifts(data, reg.shifts, method=method)
    attrs = {k: v for k, v in stack.attrs.items() if k not in ("extra", "source_file")}
    out = ImageStack(
        aligned,
        np.asarray(stack.energy, dtype=float),
        np.full(n, float(pixel_size)),
        kind=stack.kind,
        dims=("energy", "row", "col"),
        attrs=attrs,
    )
    return out, reg
