"""ptyxanes: X-ray spectro-ptychography to nanoscale chemical-state maps.

The headless engine. Arrays in, arrays and dataclasses out; it never imports
a GUI toolkit (PyQt6, qtpy, superqt, pyqtgraph, napari, vispy).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ptyxanes")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
