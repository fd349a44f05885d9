"""File ▸ Export: the image view and the samples' valence maps as figures, the
spectrum and histogram curves as CSV."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

logger = logging.getLogger(__name__)


def valence_figure(path: str | Path, maps: dict[str, NDArray[Any]], pixel_size: float,
                   clim: tuple[float, float], *, dpi: int = 300,
                   size_px: tuple[int, int] | None = None) -> Path:
    """Valence maps with shared limits, scale and colour bars (``ptyxanes.figures``)."""
    from ptyxanes.figures import save_figure, valence_map_figure

    figsize = None if size_px is None else (size_px[0] / dpi, size_px[1] / dpi)
    fig = valence_map_figure(maps, pixel_size, clim=clim, figsize=figsize)
    return Path(save_figure(fig, path, dpi=dpi, overwrite=True))


