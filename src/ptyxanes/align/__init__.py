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
from ptyxanes.align.stacks import align_image_stack

__all__ = [
    "align_image_stack",
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
