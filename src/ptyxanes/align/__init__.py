"""Rescaling and registration of image stacks across energy (2D images and 3D volumes)."""

from __future__ import annotations

from ptyxanes.align.registration import (
    DEFAULT_PIXEL_SIZE,
    Registration,
    apply_shifts,
    prepare_for_registration,
    register_stack,
    register_volumes,
    rescale_image,
    rescale_stack,
    shift_image,
    valid_region,
)

__all__ = [
    "DEFAULT_PIXEL_SIZE",
    "Registration",
    "apply_shifts",
    "prepare_for_registration",
    "register_stack",
    "register_volumes",
    "rescale_image",
    "rescale_stack",
    "shift_image",
    "valid_region",
]
