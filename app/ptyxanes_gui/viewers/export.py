"""Figure and table export of what the window shows (matplotlib Agg, no Qt)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ptyxanes.figures import save_figure

logger = logging.getLogger(__name__)

FIGURE_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".svg": "SVG", ".pdf": "PDF"}


def export_image_figure(path: str | Path, image: NDArray, *, pixel_size: float,
                        lut: NDArray[np.uint8], levels: tuple[float, float], label: str,
                        title: str = "", dpi: int = 300,
                        size_px: tuple[int, int] | None = None,
                        highlight: NDArray[np.bool_] | None = None) -> Path:
    """Write an image with its colour bar and a scale bar in µm.

    Parameters
    ----------
    path : path-like
        ``.png``, ``.tif``/``.tiff``, ``.svg`` or ``.pdf``.
    image : ndarray of shape (M, N)
    pixel_size : float
        m.
    lut : ndarray of shape (K, 4), uint8
        Colour table (e.g. ``ptyxanes.figures.colormaps.valence_lut``).
    levels : (float, float)
        Colour limits.
    label : str
        Colour bar label (with units).
    dpi : int
        Raster resolution; vector formats embed it for the image.
    size_px : (int, int), optional
        (width, height) of a raster output in pixels; default 6 × 4.5 inches at ``dpi``.

    Returns
    -------
    path : pathlib.Path
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    p = _check_format(path)
    w_px, h_px = size_px if size_px is not None else (int(6 * dpi), int(4.5 * dpi))
    fig = Figure(figsize=(w_px / dpi, h_px / dpi), dpi=dpi)
    ax = fig.add_axes((0.03, 0.05, 0.78, 0.88))
    cax = fig.add_axes((0.84, 0.12, 0.03, 0.74))
    cmap = ListedColormap(np.asarray(lut)[:, :3] / 255.0)
    cmap.set_bad((1, 1, 1, 0))
    m, n = image.shape
    um = pixel_size * 1e6
    extent = (0, n * um, m * um, 0)
    im = ax.imshow(np.ma.masked_invalid(image), cmap=cmap, vmin=levels[0], vmax=levels[1],
                   extent=extent, interpolation="nearest")
    if highlight is not None and highlight.any():
        rgba = np.zeros((m, n, 4))
        rgba[highlight] = (1.0, 0.0, 1.0, 0.6)
        ax.imshow(rgba, extent=extent, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    from ptyxanes_gui.viewers.image_viewer import nice_length

    bar = nice_length(n * um)
    x0, y0 = n * um * 0.95 - bar, m * um * 0.93
    ax.add_patch(Rectangle((x0, y0), bar, max(m * um * 0.015, 1e-9), color="k"))
    ax.text(x0 + bar / 2, y0 - m * um * 0.02, f"{bar:g} µm", ha="center", va="bottom", fontsize=8)
    _colour_bar(fig.colorbar(im, cax=cax), label)
    return save_figure(fig, p, dpi, overwrite=True)


def _check_format(path: str | Path) -> Path:
    """The path, if its suffix is a figure format (checked before any rendering)."""
    p = Path(path)
    if p.suffix.lower() not in FIGURE_FORMATS:
        raise ValueError(f"{p}: unknown figure format; use one of {sorted(FIGURE_FORMATS)}")
    return p


def _colour_bar(cb, label: str) -> None:
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)


def export_rendered_figure(path: str | Path, rgba: NDArray[np.uint8], *,
                           lut: NDArray[np.uint8], levels: tuple[float, float], label: str,
                           title: str = "", dpi: int = 300,
                           size_px: tuple[int, int] | None = None) -> Path:
    """Write a rendered view (e.g. the napari 3D screenshot, scale bar drawn in it) as a
    figure with a colour bar.

    Parameters
    ----------
    path : path-like
        ``.png``, ``.tif``/``.tiff``, ``.svg`` or ``.pdf``.
    rgba : ndarray of shape (H, W, 3 or 4), uint8
        The rendered view.
    lut, levels, label, title, dpi, size_px
        As for :func:`export_image_figure`.

    Returns
    -------
    path : pathlib.Path
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.figure import Figure

    p = _check_format(path)
    img = np.asarray(rgba)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) image, got {img.shape}")
    h, w = img.shape[:2]
    if size_px is None:
        width_in = 6.0
        size_px = (int(width_in * dpi), int(width_in * dpi * h / (w / 0.8)))
    w_px, h_px = size_px
    fig = Figure(figsize=(w_px / dpi, h_px / dpi), dpi=dpi)
    ax = fig.add_axes((0.02, 0.03, 0.8, 0.9 if title else 0.94))
    cax = fig.add_axes((0.86, 0.12, 0.03, 0.74))
    ax.imshow(img, interpolation="lanczos")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    cmap = ListedColormap(np.asarray(lut)[:, :3] / 255.0)
    _colour_bar(fig.colorbar(ScalarMappable(Normalize(*levels), cmap), cax=cax), label)
    return save_figure(fig, p, dpi, overwrite=True)


def export_csv(path: str | Path, names: list[str], columns: NDArray) -> Path:
    """Write the columns (N, len(names)) with a header line as CSV (engine ``export_csv``)."""
    from ptyxanes.figures import export_csv as write_csv

    cols = np.asarray(columns)
    return write_csv(path, {n: cols[:, i] for i, n in enumerate(names)}, overwrite=True)
