"""The paper's figures in one call each: Fig. 3a, 3b, 3e (3D) and Fig. 5 (2D).

3D renderings come from :mod:`ptyxanes.figures.volume` (no OpenGL); every
figure is a :class:`matplotlib.figure.Figure` with an Agg canvas and carries
its colour bar, scale bar and title, ready for
:func:`ptyxanes.figures.save_figure` (PNG/TIFF at a chosen size and DPI,
SVG/PDF with embedded fonts).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

from ptyxanes.figures.colormaps import VALENCE_LIMITS, valence_mpl_colormap
from ptyxanes.figures.valence import (
    _format_length,
    _new_figure,
    add_scalebar,
    nice_scalebar_length,
    valence_histogram,
)
from ptyxanes.figures.volume import (
    Camera,
    Layer,
    Rendering,
    quarter_mask,
    render,
    slice_mesh,
    surface_mesh,
)

logger = logging.getLogger(__name__)

#: Colour of segmented >Ni³⁺ labels in 3D figures (named in the legend).
LABEL_COLOUR: tuple[float, float, float] = (0.85, 0.0, 0.85)
LABEL_COLOUR_NAME: str = "magenta"
#: Colour of translucent crystal envelopes.
ENVELOPE_COLOUR: tuple[float, float, float] = (0.75, 0.78, 0.82)


def _camera(camera: Camera | str) -> Camera:
    return Camera.preset(camera) if isinstance(camera, str) else camera


def _check_volume(valence: NDArray, voxel_size_m: float) -> NDArray[np.float64]:
    v = np.asarray(valence, np.float64)
    if v.ndim != 3:
        raise ValueError(f"expected a valence volume (P, M, N); got shape {v.shape}")
    if not np.isfinite(v).any():
        raise ValueError("the valence volume has no finite voxel: nothing to draw")
    if not (np.isfinite(voxel_size_m) and voxel_size_m > 0):
        raise ValueError(f"voxel size must be positive, m; got {voxel_size_m}")
    return v


def _crystal_voxels(valence: NDArray, crystal_labels: NDArray, crystal: int,
                    voxel_size_m: float) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The checked valence volume and the voxels of one crystal that have a valence."""
    v = _check_volume(valence, voxel_size_m)
    mine = (np.asarray(crystal_labels) == int(crystal)) & np.isfinite(v)
    if not mine.any():
        raise ValueError(f"crystal {crystal} has no voxel with a valence")
    return v, mine


def _screen_scalebar(ax: Axes, rendering: Rendering, voxel_size_m: float, *, colour: str = "black",
                     length_m: float | None = None) -> float:
    """Scale bar in the lower left of a rendered image; returns its length, m."""
    from matplotlib.patches import Rectangle

    h, w = rendering.image.shape[:2]
    px_m = voxel_size_m / rendering.pixels_per_voxel
    length = length_m or nice_scalebar_length(w * px_m)
    lpx = length / px_m
    x0, y0 = 0.05 * w, 0.94 * h
    bh = max(0.012 * h, 1.5)
    ax.add_patch(Rectangle((x0, y0 - bh), lpx, bh, color=colour, lw=0)).set_gid("scalebar")
    ax.text(x0 + lpx / 2, y0 - bh - 0.015 * h, _format_length(length), color=colour,
            ha="center", va="bottom", fontsize=9).set_gid("scalebar_label")
    return float(length)


def _image_axis(fig: Figure, rendering: Rendering, voxel_size_m: float, title: str | None,
                clim: tuple[float, float], *, colorbar_label: str = "Ni valence",
                legend: list[tuple[str, tuple[float, float, float]]] | None = None) -> Axes:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    ax = fig.add_subplot()
    ax.imshow(rendering.image, interpolation="lanczos")
    ax.set_axis_off()
    _screen_scalebar(ax, rendering, voxel_size_m)
    sm = ScalarMappable(Normalize(*clim), valence_mpl_colormap())
    cb = fig.colorbar(sm, ax=ax, shrink=0.7, fraction=0.05, pad=0.02)
    cb.set_label(colorbar_label)
    if legend:
        ax.legend(handles=[Patch(color=c, label=n) for n, c in legend], loc="upper right",
                  fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return ax


@dataclass(frozen=True, eq=False)
class VolumeFigure:
    """A 3D figure and the rendering behind it.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    rendering : Rendering
        The drawn image and its screen geometry.
    removed : ndarray of bool or None
        Voxels cut away (the quarter), when a cut was made.
    """

    figure: object
    rendering: Rendering
    removed: NDArray[np.bool_] | None = None


def fig3a_volume(
    valence: NDArray[np.floating],
    voxel_size_m: float,
    *,
    camera: Camera | str = "isometric",
    cut_quarter: bool = True,
    labels: NDArray[np.bool_] | None = None,
    label_alpha: float = 0.45,
    clim: tuple[float, float] = VALENCE_LIMITS,
    title: str | None = "Ni valence, one quarter removed",
    size: int = 700,
    figsize: tuple[float, float] = (6.0, 5.0),
) -> VolumeFigure:
    """Fig. 3a: the valence volume as a lit iso-surface with one quarter cut away.

    Parameters
    ----------
    valence : ndarray of shape (P, M, N)
        Ni valence, NaN outside the sample.
    voxel_size_m : float
        m.
    camera : Camera or str, optional
        A camera or a preset name (``"isometric"``, ``"plane"``, ``"row"``, ``"col"``).
    cut_quarter : bool, optional
        Remove the quadrant facing the camera (:func:`~ptyxanes.figures.volume.quarter_mask`).
    labels : ndarray of bool, shape (P, M, N), optional
        Segmented >Ni³⁺ voxels, drawn as a translucent :data:`LABEL_COLOUR` overlay
        named in the legend.
    label_alpha : float, optional
        Opacity of the label overlay.
    clim : tuple of float, optional
        Valence colour limits.
    title : str, optional
    size : int, optional
        Render resolution, pixels.
    figsize : tuple of float, optional
        Inches.

    Returns
    -------
    result : VolumeFigure
    """
    v = _check_volume(valence, voxel_size_m)
    cam = _camera(camera)
    occ = np.isfinite(v)
    removed = quarter_mask(v.shape, cam) if cut_quarter else None
    keep = occ & ~removed if removed is not None else occ
    layers = [Layer(surface_mesh(keep, v), name="valence")]
    legend = None
    if labels is not None:
        lab = np.asarray(labels, bool) & keep
        layers.append(Layer(surface_mesh(lab, smooth=0.6), LABEL_COLOUR, label_alpha,
                            ">Ni³⁺ labels"))
        legend = [(f">Ni³⁺ labels ({LABEL_COLOUR_NAME})", LABEL_COLOUR)]
    r = render(layers, v.shape, cam, size=size, clim=clim)
    fig = _new_figure(figsize)
    _image_axis(fig, r, voxel_size_m, title, clim, legend=legend)
    return VolumeFigure(fig, r, removed)


def fig3b_crystal_slices(
    valence: NDArray[np.floating],
    crystal_labels: NDArray[np.integer],
    crystal: int,
    voxel_size_m: float,
    *,
    point: tuple[int, int, int] | None = None,
    normal: NDArray[np.floating] | None = None,
    camera: Camera | str = "isometric",
    clim: tuple[float, float] = VALENCE_LIMITS,
    title: str | None = None,
    size: int = 700,
    figsize: tuple[float, float] = (6.0, 5.0),
) -> VolumeFigure:
    """Fig. 3b: one crystal alone, three orthogonal valence slices and the slab normal.

    Parameters
    ----------
    valence : ndarray of shape (P, M, N)
    crystal_labels : ndarray of int, shape (P, M, N)
        0 background, k crystal k.
    crystal : int
        The crystal to show; every other crystal is hidden.
    voxel_size_m : float
        m.
    point : tuple of int, optional
        (plane, row, col) where the slices cross (default: the crystal's centroid).
    normal : ndarray of shape (3,), optional
        Slab normal to draw as an arrow (default: estimated from the crystal's
        voxels above Ni³⁺ by :func:`ptyxanes.segment.slab_normal`; none if
        there are too few).
    camera : Camera or str, optional
    clim : tuple of float, optional
    title : str, optional
        Default ``"crystal <k>: orthogonal slices"``.
    size : int, optional
    figsize : tuple of float, optional

    Returns
    -------
    result : VolumeFigure

    Raises
    ------
    ValueError
        When the crystal has no voxel.
    """
    v, mine = _crystal_voxels(valence, crystal_labels, crystal, voxel_size_m)
    cam = _camera(camera)
    idx = np.argwhere(mine)
    pt = np.round(idx.mean(0)).astype(int) if point is None else np.asarray(point, int)
    if normal is None:
        from ptyxanes.segment import slab_normal

        high = mine & (np.nan_to_num(v) > 3.0)
        if high.sum() >= 10:
            try:
                normal, _ = slab_normal(high)
            except ValueError:
                normal = None
    vin = np.where(mine, v, np.nan)
    layers = [Layer(slice_mesh(vin, a, int(pt[a]), mine), name=f"slice {a}") for a in range(3)]
    layers.append(Layer(surface_mesh(mine), ENVELOPE_COLOUR, 0.3, "crystal"))
    r = render(layers, v.shape, cam, size=size, clim=clim)
    fig = _new_figure(figsize)
    ax = _image_axis(fig, r, voxel_size_m, title or f"crystal {crystal}: orthogonal slices", clim)
    if normal is not None:
        n = np.asarray(normal, float)
        n = n / np.linalg.norm(n)
        reach = 0.5 * float(np.ptp(idx, axis=0).max())
        a0, a1 = r.project(pt), r.project(pt + reach * n)
        ax.annotate("", xy=(a1[1], a1[0]), xytext=(a0[1], a0[0]),
                    arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 2})
        ax.text(a1[1], a1[0], " slab normal", fontsize=9, color="black", va="center",
                path_effects=_white_outline())
    return VolumeFigure(fig, r, None)


def _white_outline() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=2, foreground="white")]


def fig3e_segmented(
    valence: NDArray[np.floating],
    crystal_labels: NDArray[np.integer],
    crystal: int,
    segmented: NDArray[np.bool_],
    voxel_size_m: float,
    *,
    camera: Camera | str = "isometric",
    alpha: float = 0.3,
    title: str | None = None,
    size: int = 700,
    figsize: tuple[float, float] = (6.0, 5.0),
) -> VolumeFigure:
    """Fig. 3e: the segmented >Ni³⁺ region inside its translucent crystal.

    Parameters
    ----------
    valence : ndarray of shape (P, M, N)
        Used for the crystal envelope (finite voxels).
    crystal_labels : ndarray of int, shape (P, M, N)
    crystal : int
        The crystal shown; others are hidden, and so are their labels.
    segmented : ndarray of bool, shape (P, M, N)
        >Ni³⁺ voxels (a segmentation; only this crystal's part is drawn).
    voxel_size_m : float
    camera : Camera or str, optional
    alpha : float, optional
        Opacity of the crystal envelope.
    title : str, optional
    size : int, optional
    figsize : tuple of float, optional

    Returns
    -------
    result : VolumeFigure
    """
    v, mine = _crystal_voxels(valence, crystal_labels, crystal, voxel_size_m)
    seg = np.asarray(segmented, bool) & mine
    cam = _camera(camera)
    layers = [Layer(surface_mesh(seg, smooth=0.6), LABEL_COLOUR, 1.0, ">Ni³⁺"),
              Layer(surface_mesh(mine), ENVELOPE_COLOUR, alpha, "crystal")]
    r = render(layers, v.shape, cam, size=size)
    fig = _new_figure(figsize)
    from matplotlib.patches import Patch

    ax = fig.add_subplot()
    ax.imshow(r.image, interpolation="lanczos")
    ax.set_axis_off()
    _screen_scalebar(ax, r, voxel_size_m)
    frac = seg.sum() / max(mine.sum(), 1)
    ax.legend(handles=[Patch(color=LABEL_COLOUR, label=f">Ni³⁺ segmented ({LABEL_COLOUR_NAME}, "
                                                        f"{100 * frac:.0f} % of the crystal)"),
                       Patch(color=ENVELOPE_COLOUR, label="crystal (translucent)")],
              loc="upper right", fontsize=8, frameon=False)
    ax.set_title(title or f"crystal {crystal}: segmented >Ni³⁺ region")
    return VolumeFigure(fig, r, None)


def fig5_figure(
    valence_maps: Mapping[str, NDArray[np.floating]],
    pixel_size_m: float,
    *,
    detail: str | None = None,
    phase: NDArray[np.floating] | None = None,
    absorption: NDArray[np.floating] | None = None,
    weights: Mapping[str, NDArray[np.floating]] | None = None,
    clim: tuple[float, float] = VALENCE_LIMITS,
    bins: int = 75,
    title: str | None = None,
    panel_size_in: float = 2.4,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Fig. 5 in one figure: one sample's phase, −ln|T| and valence; every sample's
    valence with one shared colour bar; the Ni-weighted valence histograms (Fig. 5g).

    Parameters
    ----------
    valence_maps : mapping of str to ndarray of shape (M, N)
        Sample name -> valence map (NaN outside the sample), in display order.
    pixel_size_m : float
        m (the same for all maps).
    detail : str, optional
        The sample of the top row (default: the first); its ``phase`` and
        ``absorption`` (−ln|T|) maps are drawn beside its valence.
    phase, absorption : ndarray of shape (M, N), optional
        Phase (rad) and −ln|T| of ``detail`` at one energy; a row is drawn
        only if at least one is given.
    weights : mapping of str to ndarray, optional
        Ni weights per sample for the histograms (edge jump or thickness).
    clim : tuple of float, optional
        Shared valence colour limits.
    bins : int, optional
        Histogram bins.
    title : str, optional
    panel_size_in : float, optional
        Edge of one map panel, inches.
    figsize : tuple of float, optional
        Inches (default from the panel count).

    Returns
    -------
    fig : matplotlib.figure.Figure

    Raises
    ------
    ValueError
        No maps, maps that are not 2D, or an unknown ``detail``.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    if not valence_maps:
        raise ValueError("no valence maps to draw")
    names = list(valence_maps)
    for n in names:
        if np.ndim(valence_maps[n]) != 2:
            raise ValueError(f"valence map {n!r} must be 2D; got shape {np.shape(valence_maps[n])}")
        if not np.isfinite(valence_maps[n]).any():
            raise ValueError(f"valence map {n!r} has no finite pixel")
    detail = detail or names[0]
    if detail not in valence_maps:
        raise ValueError(f"detail sample {detail!r} is not among {names}")
    top = phase is not None or absorption is not None
    # the histogram takes two columns: beside the detail row, or after the sample maps
    ncols = max(len(names), 3) + 2 if top else len(names) + 2
    nrows = 2 if top else 1
    if figsize is None:
        figsize = (panel_size_in * ncols + 0.8, panel_size_in * nrows + (0.5 if title else 0.2))
    fig = _new_figure(figsize)
    grid = fig.add_gridspec(nrows, ncols)
    cmap = valence_mpl_colormap()
    letters = iter("abcdefghijklmnop")

    def panel(ax: Axes, data: NDArray[np.floating], name: str, *, cm: Any,
              lo: float | None = None, hi: float | None = None,
              bar_label: str | None = None) -> AxesImage:
        ax.set_axis_off()
        im = ax.imshow(data, cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"({next(letters)}) {name}", fontsize=9, loc="left")
        add_scalebar(ax, nice_scalebar_length(data.shape[1] * pixel_size_m), pixel_size_m,
                     data.shape)
        if bar_label:
            cb = fig.colorbar(im, ax=ax, shrink=0.8, fraction=0.046, pad=0.02)
            cb.set_label(bar_label, fontsize=8)
            cb.ax.tick_params(labelsize=7)
        return im

    if top:
        row = [(phase, "phase (rad)", "phase"), (absorption, "−ln|T|", "−ln|T|")]
        col = 0
        for data, label, short in row:
            if data is None:
                continue
            d = np.asarray(data, float)
            finite = d[np.isfinite(d)]
            lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0, 1))
            panel(fig.add_subplot(grid[0, col]), d, f"{detail}: {short}", cm="gray", lo=lo,
                  hi=hi, bar_label=label)
            col += 1
        panel(fig.add_subplot(grid[0, col]), np.asarray(valence_maps[detail], float),
              f"{detail}: valence", cm=cmap, lo=clim[0], hi=clim[1], bar_label="Ni valence")
    axes = []
    for i, n in enumerate(names):
        ax = fig.add_subplot(grid[nrows - 1, i])
        panel(ax, np.asarray(valence_maps[n], float), n, cm=cmap, lo=clim[0], hi=clim[1])
        axes.append(ax)
    cb = fig.colorbar(ScalarMappable(Normalize(*clim), cmap), ax=axes, shrink=0.8,
                      fraction=0.04, pad=0.02)
    cb.set_label("Ni valence (shared)")
    hax = fig.add_subplot(grid[0, ncols - 2:] if top else grid[0, len(names):])
    for n in names:
        w = None if weights is None else weights.get(n)
        d, e = valence_histogram(valence_maps[n], w, bins=bins, value_range=clim)
        hax.plot(np.repeat(e, 2)[1:-1], np.repeat(d, 2), label=n, lw=1.3)
    for r, lbl in ((2.0, "Ni²⁺"), (3.0, "Ni³⁺")):
        if clim[0] <= r <= clim[1]:
            hax.axvline(r, color="0.3", ls="--", lw=0.8)
            hax.text(r, 0.98, f" {lbl}", transform=hax.get_xaxis_transform(), ha="left",
                     va="top", fontsize=8)
    hax.set_xlim(*clim)
    hax.set_ylim(bottom=0)
    hax.set_xlabel("Ni valence", fontsize=8)
    hax.set_ylabel("Ni-weighted density", fontsize=8)
    hax.tick_params(labelsize=7)
    hax.legend(frameon=False, fontsize=7, loc="center right")
    hax.set_title(f"({next(letters)}) valence histograms", fontsize=9, loc="left")
    if title:
        fig.suptitle(title)
    return fig


__all__ = ["LABEL_COLOUR", "LABEL_COLOUR_NAME", "VolumeFigure", "fig3a_volume", "fig3b_crystal_slices",
           "fig3e_segmented", "fig5_figure"]
