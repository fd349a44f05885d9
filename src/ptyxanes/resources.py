"""Locate files shipped in the project's ``resources/`` folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """Return the folder holding the shipped resources.

    Looks in ``$PTYXANES_RESOURCES``, then the source checkout
    (``<repo>/resources``), then ``<prefix>/share/ptyxanes/resources``.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    FileNotFoundError
        If no resources folder can be found.
    """
    candidates = []
    if env := os.environ.get("PTYXANES_RESOURCES"):
        candidates.append(Path(env))
    candidates.append(Path(__file__).resolve().parents[2] / "resources")
    candidates.append(Path(sys.prefix) / "share" / "ptyxanes" / "resources")
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError("ptyxanes resources folder not found; set PTYXANES_RESOURCES")


def resource_path(*parts: str) -> Path:
    """Return the path of one shipped resource file.

    Parameters
    ----------
    *parts : str
        Path components below ``resources/`` (e.g. ``"references", "NiO.txt"``).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    """
    p = resources_dir().joinpath(*parts)
    if not p.exists():
        raise FileNotFoundError(f"resource not found: {p}")
    return p
