"""Compute back-ends: which array module and which ASTRA path to use.

ASTRA's CUDA functions kill the process (SIGFPE) on a machine without a GPU,
so every CUDA path is gated on :func:`astra_has_cuda`, which asks
``astra.use_cuda()`` once and caches the answer.
"""

from __future__ import annotations

import functools
import logging
import os
from types import ModuleType

import numpy as np

logger = logging.getLogger(__name__)


@functools.cache
def astra_has_cuda() -> bool:
    """Return True when ASTRA can use a CUDA GPU (False without astra or GPU).

    Set ``PTYXANES_NO_GPU=1`` to force the CPU paths.
    """
    if os.environ.get("PTYXANES_NO_GPU"):
        return False
    try:
        import astra
    except ImportError:
        return False
    try:
        return bool(astra.use_cuda())
    except Exception:  # pragma: no cover - depends on the driver
        logger.debug("astra.use_cuda() failed", exc_info=True)
        return False


@functools.cache
def cupy_module() -> ModuleType | None:
    """Return the ``cupy`` module when a usable CUDA GPU is present, else None."""
    if os.environ.get("PTYXANES_NO_GPU"):
        return None
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:  # ImportError, or CUDA errors without a driver
        logger.debug("cupy not usable", exc_info=True)
    return None


def array_module(prefer_gpu: bool = True) -> ModuleType:
    """Return ``cupy`` when a GPU is present and wanted, else ``numpy``.

    Parameters
    ----------
    prefer_gpu : bool, optional
        Use the GPU when there is one.

    Returns
    -------
    xp : module
    """
    if prefer_gpu and (cp := cupy_module()) is not None:
        return cp
    return np


def describe_compute() -> str:
    """One-line description of the active compute paths, e.g. ``"CPU (2 cores)"``."""
    parts = []
    if cupy_module() is not None:
        parts.append("GPU (CuPy)")
    if astra_has_cuda():
        parts.append("GPU (ASTRA CUDA)")
    parts.append(f"CPU ({os.cpu_count()} cores)")
    return ", ".join(parts)
