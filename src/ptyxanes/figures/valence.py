"""Publication figures of valence maps and histograms (matplotlib, Agg only).

Figures are built on :class:`matplotlib.figure.Figure` directly (never pyplot),
so no GUI backend is touched and figures are garbage-collected normally.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from ptyxanes.figures.colormaps import VALENCE_LIMITS, valence_mpl_colormap
from ptyxanes.io._atomic import atomic_path

logger = logging.getLogger(__name__)

#: Valences of the dashed reference lines (Ni²⁺, Ni³⁺).
REFERENCE_VALENCES: tuple[float, ...] = (2.0, 3.0)

_FORMATS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".svg": "svg", ".pdf": "pdf"}


def _new_figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def nice_scalebar_length(width_m: float, fraction: float = 0.25) -> float:
    """Pick a round scale-bar length near ``fraction`` of an image width.

    Parameters
    ----------
    width_m : float
        Image width, m.
    fraction : float, optional
        Target fraction of the width.

    Returns
    -------
    length : float
        1, 2 or 5 times a power of ten, m.

    Examples
    --------
    >>> round(nice_scalebar_length(8e-6) * 1e6, 6)
    2.0
    """
    target = width_m * fraction
    exp = np.floor(np.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * 10**exp <= target:
            return float(m * 10**exp)
    return float(10**exp)


def _format_length(length_m: float) -> str:
    um = length_m * 1e6
    if um >= 1:
        return f"{um:g} µm"
    return f"{um * 1e3:g} nm"


def add_scalebar(ax: Axes, length_m: float, pixel_size_m: float, shape: tuple[int, int]) -> None:
    """Draw a white scale bar with its length in the lower-left corner of an image axis.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axis showing an image in pixel coordinates (origin upper left).
    length_m : float
        Bar length, m.
    pixel_size_m : float
        Pixel size, m.
    shape : tuple of int
        (M, N) of the image.
    """
    from matplotlib.patches import Rectangle

    m, n = shape
    length_px = length_m / pixel_size_m
    x0, y0 = 0.05 * n, m - 0.07 * m
    h = max(0.015 * m, 1.0)
    bar = ax.add_patch(Rectangle((x0, y0 - h), length_px, h, color="white", ec="black", lw=0.5))
    label = ax.text(x0 + length_px / 2, y0 - h - 0.02 * m, _format_length(length_m),
                    color="white", ha="center", va="bottom", fontsize=8, path_effects=_outline())
    # ids name the scale bar in SVG output (outlined text is drawn as paths only)
    bar.set_gid("scalebar")
    label.set_gid("scalebar_label")


def _outline() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=1.5, foreground="black")]


def valence_map_figure(
    maps: Mapping[str, NDArray[np.floating]],
    pixel_size_m: float | Mapping[str, float],
    clim: tuple[float, float] = VALENCE_LIMITS,
    *,
    ncols: int | None = None,
    panel_size_in: float = 2.5,
    figsize: tuple[float, float] | None = None,
    scalebar_m: float | None = None,
    title: str | None = None,
    colorbar_label: str = "Ni valence",
) -> Figure:
    """Multi-panel figure of valence maps with shared colour limits.

    Parameters
    ----------
    maps : mapping of str to ndarray of shape (M, N)
        Panel title -> valence map (NaN outside the sample, drawn transparent).
    pixel_size_m : float or mapping of str to float
        Pixel size, m (one for all panels, or one per map).
    clim : tuple of float, optional
        Colour limits in valence units, shared by every panel.
    ncols : int, optional
        Panels per row (default: all in one row up to 4).
    panel_size_in : float, optional
        Panel edge, inches, when ``figsize`` is not given.
    figsize : tuple of float, optional
        Figure (width, height), inches; the saved image is ``figsize * dpi`` pixels.
    scalebar_m : float, optional
        Scale-bar length, m (default: a round length near a quarter of the first map).
    title : str, optional
        Figure title.
    colorbar_label : str, optional
        Colour-bar label.

    Returns
    -------
    fig : matplotlib.figure.Figure
        With an Agg canvas; one image axis per map plus a colour bar.

    Raises
    ------
    ValueError
        For no maps, a map that is not 2D, or ``clim`` not increasing.

    Examples
    --------
    >>> fig = valence_map_figure({"a": np.full((8, 8), 2.5)}, 1e-7)
    >>> fig.axes[0].images[0].get_clim()
    (2.0, 3.5)
    """
    if not maps:
        raise ValueError("no maps to draw")
    lo, hi = float(clim[0]), float(clim[1])
    if not hi > lo:
        raise ValueError(f"clim must be increasing; got {clim}")
    names = list(maps)
    for name in names:
        if np.ndim(maps[name]) != 2:
            raise ValueError(f"map {name!r} must be 2D; got shape {np.shape(maps[name])}")
    n = len(names)
    ncols = ncols or min(n, 4)
    nrows = int(np.ceil(n / ncols))
    if figsize is None:
        figsize = (panel_size_in * ncols + 1.0, panel_size_in * nrows + (0.4 if title else 0.1))
    fig = _new_figure(figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap = valence_mpl_colormap()
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        name = names[i]
        data = np.asarray(maps[name], float)
        px = pixel_size_m[name] if isinstance(pixel_size_m, Mapping) else pixel_size_m
        ax.set_facecolor("none")
        im = ax.imshow(data, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        bar = scalebar_m or nice_scalebar_length(data.shape[1] * float(px))
        add_scalebar(ax, bar, float(px), data.shape)
    assert im is not None  # n >= 1 maps were drawn
    cb = fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.85, fraction=0.05)
    cb.set_label(colorbar_label)
    if title:
        fig.suptitle(title)
    return fig


def valence_histogram(
    valence: NDArray[np.floating],
    weights: NDArray[np.floating] | None = None,
    *,
    bins: int = 75,
    value_range: tuple[float, float] = (2.0, 3.5),
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Ni-weighted valence histogram normalised to unit area.

    Parameters
    ----------
    valence : ndarray
        Valence map or volume; NaN values are left out.
    weights : ndarray, optional
        Ni amount per pixel (e.g. thickness or edge jump); uniform if omitted.
    bins : int, optional
        Number of bins.
    value_range : tuple of float, optional
        Histogram range in valence units.

    Returns
    -------
    density : ndarray of shape (bins,)
        Probability density (integrates to 1 over the range, or all zeros).
    edges : ndarray of shape (bins + 1,)
        Bin edges, valence units.

    Examples
    --------
    >>> d, e = valence_histogram(np.array([2.1, 2.1, 3.0, np.nan]), bins=3, value_range=(2, 3.5))
    >>> np.round(d * np.diff(e), 3).tolist()
    [0.667, 0.0, 0.333]
    """
    v = np.asarray(valence, float).ravel()
    w = np.ones_like(v) if weights is None else np.asarray(weights, float).ravel()
    if w.shape != v.shape:
        raise ValueError(f"weights size {w.size} differs from valence size {v.size}")
    ok = np.isfinite(v) & np.isfinite(w)
    counts, edges = np.histogram(v[ok], bins=bins, range=value_range, weights=w[ok])
    total = counts.sum()
    density = counts / (total * np.diff(edges)) if total > 0 else np.zeros(bins)
    return density.astype(np.float64), edges.astype(np.float64)


def histogram_figure(
    samples: Mapping[str, NDArray[np.floating] | tuple[NDArray, NDArray | None]],
    *,
    bins: int = 75,
    value_range: tuple[float, float] = (2.0, 3.5),
    references: Sequence[float] = REFERENCE_VALENCES,
    figsize: tuple[float, float] = (4.0, 3.0),
    colors: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str = "Ni valence",
) -> Figure:
    """Overlaid Ni-weighted valence histograms with dashed Ni²⁺/Ni³⁺ lines (paper Fig. 5g).

    Parameters
    ----------
    samples : mapping of str to ndarray or (valence, weights)
        Legend label -> valence values (and optional Ni weights).
    bins, value_range
        See :func:`valence_histogram`.
    references : sequence of float, optional
        Valences marked by dashed vertical lines.
    figsize : tuple of float, optional
        Inches.
    colors : sequence of str, optional
        Line colours (default: matplotlib's cycle).
    title : str, optional
        Axis title.
    xlabel : str, optional
        Axis label (``EdgeSpec.valence_label``, e.g. ``"Fe valence"``).

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axis; one step line per sample, labelled, plus the reference lines.

    Examples
    --------
    >>> fig = histogram_figure({"pristine": np.full(10, 2.3)}, bins=15)
    >>> len(fig.axes[0].get_lines())
    3
    """
    if not samples:
        raise ValueError("no samples to draw")
    fig = _new_figure(figsize)
    ax = fig.add_subplot()
    for i, (name, item) in enumerate(samples.items()):
        vals, w = item if isinstance(item, tuple) else (item, None)
        d, e = valence_histogram(vals, w, bins=bins, value_range=value_range)
        kw: dict[str, Any] = {} if colors is None else {"color": colors[i % len(colors)]}
        ax.plot(np.repeat(e, 2)[1:-1], np.repeat(d, 2), label=name, lw=1.5, **kw)
    labels = {2.0: "Ni²⁺", 3.0: "Ni³⁺"}
    for r in references:
        ax.axvline(r, color="0.3", ls="--", lw=1)
        ax.text(r, 1.0, labels.get(float(r), f"{r:g}"), transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8)
    ax.set_xlim(*value_range)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Ni-weighted density")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def save_figure(
    fig: Figure, path: str | os.PathLike[str], dpi: float = 300, *, overwrite: bool = False,
    size_px: tuple[int, int] | None = None,
) -> Path:
    """Save a figure atomically as PNG, TIFF, SVG or PDF (format from the suffix).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; raster output is ``figsize * dpi`` pixels (no tight cropping).
    path : path-like
        Destination ending in .png, .tif, .tiff, .svg or .pdf.
    dpi : float, optional
        Dots per inch (raster formats; also the raster resolution inside SVG/PDF).
    overwrite : bool, optional
        Replace an existing file.
    size_px : (width, height), optional
        Output size in pixels at ``dpi``: the figure is resized to
        ``size_px / dpi`` inches first (its layout follows).

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        For an unsupported suffix, a non-positive dpi or size.

    Notes
    -----
    PDF fonts are embedded as TrueType (``pdf.fonttype`` 42, text stays
    searchable); SVG text is written as glyph paths (no font needed to view
    it) with each string kept in a comment. PNG and TIFF record the dpi.
    FileExistsError
        If the file exists and ``overwrite`` is false.
    """
    p = Path(path)
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(f"{p}: unsupported figure format {p.suffix!r}; use {sorted(_FORMATS)}")
    if not dpi > 0:
        raise ValueError(f"dpi must be positive; got {dpi}")
    if size_px is not None:
        w, h = (int(size_px[0]), int(size_px[1]))
        if w <= 0 or h <= 0:
            raise ValueError(f"size must be positive pixels; got {w} x {h}")
        fig.set_size_inches(w / dpi, h / dpi)
    meta = {"png": {"Software": "ptyxanes"}, "svg": {"Creator": "ptyxanes"},
            "pdf": {"Creator": "ptyxanes"}}.get(fmt)
    import matplotlib

    rc = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path"}
    with atomic_path(p, overwrite=overwrite) as tmp, matplotlib.rc_context(rc):  # type: ignore[arg-type]  # stub: dict of literal keys
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
    logger.info("saved figure %s (%s, %g dpi)", p, fmt, dpi)
    return p


def export_csv(
    path: str | os.PathLike[str],
    columns: Mapping[str, NDArray | Sequence[float]],
    *,
    overwrite: bool = False,
    comment: str | None = None,
) -> Path:
    """Write equal-length columns (spectra, histograms, tables) to a CSV file atomically.

    Parameters
    ----------
    path : path-like
        Destination.
    columns : mapping of str to 1-D array
        Header name -> values; all the same length.
    overwrite : bool, optional
        Replace an existing file.
    comment : str, optional
        Lines written first, each prefixed by ``# ``.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        If the columns are empty, not 1-D, or of different lengths.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = export_csv(pathlib.Path(tempfile.mkdtemp()) / "h.csv", {"v": [2.0, 3.0], "n": [1, 2]})
    >>> p.read_text().splitlines()
    ['v,n', '2.0,1', '3.0,2']
    """
    if not columns:
        raise ValueError("no columns to write")
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    lengths = {k: a.shape for k, a in arrays.items()}
    if any(a.ndim != 1 for a in arrays.values()) or len({a.size for a in arrays.values()}) != 1:
        raise ValueError(f"columns must be 1-D and of equal length; got shapes {lengths}")
    p = Path(path)
    with atomic_path(p, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            if comment:
                for line in comment.splitlines():
                    fh.write(f"# {line}\n")
            w = csv.writer(fh)
            w.writerow(list(arrays))
            for row in zip(*(a.tolist() for a in arrays.values()), strict=True):
                w.writerow(row)
    return p
