"""Helpers for the embedded napari viewer: valence colour map and NaN handling.

napari and vispy are imported lazily (STYLE.md §2.7).
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

#: Fraction of the colour range below the lower limit reserved for "outside the sample".
_PAD = 1.0 / 256


def outside_value(clim: tuple[float, float]) -> float:
    """Value written in place of NaN so that it maps to the transparent entry."""
    lo, hi = clim
    return float(lo - 0.5 * _PAD * (hi - lo) / (1 - _PAD))


def padded_limits(clim: tuple[float, float]) -> tuple[float, float]:
    """Contrast limits of the layer: the valence limits plus the transparent pad."""
    lo, hi = clim
    return float(lo - _PAD * (hi - lo) / (1 - _PAD)), float(hi)


def valence_napari_colormap():
    """napari ``Colormap`` of the valence LUT with a transparent first step.

    The first ``_PAD`` of the range (values written by :func:`fill_outside`) is
    fully transparent; the rest is ``valence_lut`` (Ni²⁺ blue → >Ni³⁺ red).
    Use it with :func:`padded_limits` as contrast limits.
    """
    from napari.utils.colormaps import Colormap

    from ptyxanes.figures.colormaps import valence_lut

    lut = valence_lut(256).astype(np.float32) / 255.0
    # linear interpolation with a transparent step below _PAD ("zero" interpolation
    # renders black in napari's translucent volume mode)
    colors = np.vstack([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], lut])
    controls = np.concatenate([[0.0, 0.999 * _PAD], _PAD + (1 - _PAD) * np.linspace(0, 1, 256)])
    return Colormap(colors=colors, controls=controls.astype(np.float32), interpolation="linear",
                    name="ptyxanes_valence_transparent", display_name="valence")


def fill_outside(
    valence: NDArray[np.floating], clim: tuple[float, float], keep: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Copy of ``valence`` with NaN (and voxels outside ``keep``) set to the transparent value."""
    out = np.array(valence, dtype=np.float32, copy=True)
    hide = ~np.isfinite(out)
    if keep is not None:
        hide |= ~keep
    lo, hi = clim
    np.clip(out, lo, hi, out=out)  # keeps visible voxels off the transparent step
    out[hide] = outside_value(clim)
    return out


def quarter_planes(
    shape: tuple[int, ...], scale: tuple[float, ...] = (1.0, 1.0, 1.0)
) -> tuple[list[dict], list[dict]]:
    """Clipping planes whose union removes the quarter (row < centre, col < centre).

    Returns
    -------
    main, second : list of dict
        Planes of the main layer (keeps row >= centre) and of the second layer
        (keeps row <= centre and col >= centre), in data coordinates
        (plane, row, col) in world units (napari 0.9 places clipping planes in the
        scaled world frame, not in voxels). vispy keeps points with
        ``(x - position) · normal >= 0``.
    """
    centre = [(s - 1) / 2 * float(f) for s, f in zip(shape[-3:], scale[-3:], strict=True)]
    main = [{"position": centre, "normal": (0, 1, 0), "enabled": True}]
    second = [
        {"position": centre, "normal": (0, -1, 0), "enabled": True},
        {"position": centre, "normal": (0, 0, 1), "enabled": True},
    ]
    return main, second


def visible_by_planes(
    shape: tuple[int, int, int], planes: list, scale: tuple[float, ...] = (1.0, 1.0, 1.0)
) -> NDArray[np.bool_]:
    """Voxels a layer with these (world-frame) clipping planes keeps (for tests and exports)."""
    grid = np.stack(np.meshgrid(*[np.arange(s) * float(f) for s, f in zip(shape, scale, strict=True)],
                                indexing="ij"), -1)
    keep = np.ones(shape, bool)
    for p in planes:
        pos = np.asarray(p.position if hasattr(p, "position") else p["position"], float)
        nrm = np.asarray(p.normal if hasattr(p, "normal") else p["normal"], float)
        enabled = p.enabled if hasattr(p, "enabled") else p.get("enabled", True)
        if enabled:
            keep &= (grid - pos) @ nrm >= 0
    return keep


# ----------------------------------------------------------------------------- paper figures (Fig. 3a)
def engine_camera(view_direction, up_direction):
    """The engine :class:`~ptyxanes.figures.volume.Camera` of a napari view (world = data axes)."""
    from ptyxanes.figures.volume import Camera

    return Camera(tuple(float(x) for x in view_direction), tuple(float(x) for x in up_direction))


def _scene_camera(viewer):
    scene = getattr(viewer, "scene", None)  # napari >= 0.9: viewer.camera is deprecated
    return scene.camera if scene is not None else viewer.camera


def set_camera_preset(viewer, name: str) -> None:
    """Point a napari viewer's 3D camera along a preset.

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
    name : {"isometric", "plane", "row", "col"}
        Isometric, or looking along one data axis (:data:`ptyxanes.figures.volume.CAMERA_PRESETS`).
    """
    from ptyxanes.figures.volume import Camera

    cam = Camera.preset(name)
    _scene_camera(viewer).set_view_direction(tuple(cam.view), tuple(cam.up))


def quarter_cut_data(
    valence: NDArray[np.floating], clim: tuple[float, float], *, camera: str | object = "isometric",
    keep: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Layer data with the quadrant facing the camera removed (set transparent).

    Unlike clipping planes, the voxels are gone from the layer's data, so the
    cut shows from any camera and in exports; the cut faces show the valence
    inside the crystals.

    Parameters
    ----------
    valence : ndarray of shape (P, M, N)
        NaN outside the sample.
    clim : tuple of float
        Valence colour limits (see :func:`fill_outside`).
    camera : str or Camera, optional
        The quadrant facing this camera goes (preset name or engine camera).
    keep : ndarray of bool, optional
        Voxels to show at all (an isolated crystal).

    Returns
    -------
    data : ndarray of float32, shape (P, M, N)
        For an Image layer with :func:`valence_napari_colormap` and :func:`padded_limits`.
    removed : ndarray of bool, shape (P, M, N)
        The quadrant cut away.
    """
    from ptyxanes.figures.volume import Camera, quarter_mask

    cam = Camera.preset(camera) if isinstance(camera, str) else camera
    removed = quarter_mask(np.shape(valence), cam)
    k = ~removed if keep is None else (np.asarray(keep, bool) & ~removed)
    return fill_outside(valence, clim, k), removed


def add_valence_volume(
    viewer, valence: NDArray[np.floating], *, voxel_size_m: float,
    clim: tuple[float, float] = (2.0, 3.5), cut_quarter: bool = True, camera: str = "isometric",
    keep: NDArray[np.bool_] | None = None, name: str = "valence",
):
    """Show a valence volume as a lit iso-surface coloured by valence (paper Fig. 3a).

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
    valence : ndarray of shape (P, M, N)
        NaN outside the sample.
    voxel_size_m : float
        m (the layer is scaled in µm).
    clim : tuple of float, optional
    cut_quarter : bool, optional
        Remove the quadrant facing ``camera`` from the layer's data.
    camera : str, optional
        Preset the camera is set to (``"isometric"``, ``"plane"``, ``"row"``, ``"col"``).
    keep : ndarray of bool, optional
        Voxels to show (an isolated crystal); others are transparent.
    name : str, optional

    Returns
    -------
    layer : napari.layers.Image
        ``rendering="iso"`` (surface shading shows the facets), nearest
        interpolation, valence colour map; ``layer.metadata["removed"]`` holds
        the cut quadrant (or None).
    """
    if cut_quarter:
        data, removed = quarter_cut_data(valence, clim, camera=camera, keep=keep)
    else:
        data, removed = fill_outside(valence, clim, keep), None
    lo_pad = padded_limits(clim)[0]
    layer = viewer.add_image(
        data, name=name, colormap=valence_napari_colormap(), contrast_limits=padded_limits(clim),
        scale=(voxel_size_m * 1e6,) * 3, units="µm", rendering="iso",
        iso_threshold=0.5 * (lo_pad + clim[0]), interpolation3d="nearest",
        blending="translucent", metadata={"removed": removed, "clim": tuple(clim)})
    viewer.dims.ndisplay = 3
    set_camera_preset(viewer, camera)
    return layer


def isolated_labels(labels: NDArray, crystal_labels: NDArray[np.integer] | None,
                    crystal: int) -> NDArray[np.uint8]:
    """Labels of one crystal only (0 = all crystals): other crystals' labels are dropped."""
    lab = np.asarray(labels) > 0
    if crystal and crystal_labels is not None:
        lab = lab & (np.asarray(crystal_labels) == int(crystal))
    return lab.astype(np.uint8)


def label_overlay_data(labels: NDArray, *, mode: str = "translucent") -> NDArray[np.uint8]:
    """Label voxels to draw: all of them, or only their outer shell (``mode="outline"``)."""
    from scipy import ndimage

    lab = np.asarray(labels) > 0
    if mode == "outline":
        lab = lab & ~ndimage.binary_erosion(lab)
    elif mode != "translucent":
        raise ValueError(f"mode must be 'translucent' or 'outline'; got {mode!r}")
    return lab.astype(np.uint8)


def add_label_overlay(
    viewer, labels: NDArray, *, voxel_size_m: float, mode: str = "translucent",
    opacity: float = 0.45, crystal_labels: NDArray[np.integer] | None = None, crystal: int = 0,
):
    """Segmentation labels as a semi-transparent (or outline) overlay in one named colour.

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
    labels : ndarray of shape (P, M, N)
        Segmented voxels (> 0).
    voxel_size_m : float
        m.
    mode : {"translucent", "outline"}, optional
        The whole region or its one-voxel outer shell.
    opacity : float, optional
    crystal_labels : ndarray of int, optional
    crystal : int, optional
        With ``crystal_labels``: show only this crystal's labels.

    Returns
    -------
    layer : napari.layers.Labels
        Named after its colour (:data:`ptyxanes.figures.paper.LABEL_COLOUR_NAME`), so the
        layer list works as the legend.
    """
    from napari.utils.colormaps import DirectLabelColormap

    from ptyxanes.figures.paper import LABEL_COLOUR, LABEL_COLOUR_NAME

    data = label_overlay_data(isolated_labels(labels, crystal_labels, crystal), mode=mode)
    cmap = DirectLabelColormap(color_dict={0: (0, 0, 0, 0), 1: (*LABEL_COLOUR, 1.0),
                                           None: (0, 0, 0, 0)})
    layer = viewer.add_labels(data, name=f">Ni³⁺ labels ({LABEL_COLOUR_NAME})",
                              scale=(voxel_size_m * 1e6,) * 3, opacity=float(opacity),
                              blending="translucent", colormap=cmap, units="µm")
    return layer


def add_valence_surface(
    viewer, valence: NDArray[np.floating], *, voxel_size_m: float,
    clim: tuple[float, float] = (2.0, 3.5), cut_quarter: bool = True, camera: str = "isometric",
    keep: NDArray[np.bool_] | None = None, name: str = "valence surface",
):
    """Show a valence volume as a lit, faceted iso-surface mesh (napari Surface layer).

    The mesh is the one of the GL-free figures (:func:`ptyxanes.figures.volume.surface_mesh`):
    the crystals' surface, with the quadrant facing ``camera`` removed from the
    voxels first, so the cut faces show the valence inside. A triangle mesh
    renders far faster than ray-casting the volume in software OpenGL.

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
    valence : ndarray of shape (P, M, N)
        NaN outside the sample.
    voxel_size_m : float
        m (the layer is scaled in µm).
    clim : tuple of float, optional
    cut_quarter : bool, optional
    camera : str, optional
        Camera preset, also the side of the cut.
    keep : ndarray of bool, optional
        Voxels to show (an isolated crystal).
    name : str, optional

    Returns
    -------
    layer : napari.layers.Surface
        Flat shading (facets), valence colour map; ``layer.metadata["removed"]``
        holds the cut quadrant (or None) and ``["kept"]`` the voxels meshed.
    """
    from napari.utils.colormaps import Colormap

    from ptyxanes.figures.colormaps import valence_lut
    from ptyxanes.figures.volume import Camera, quarter_mask, surface_mesh

    v = np.asarray(valence, np.float64)
    kept = np.isfinite(v) if keep is None else (np.isfinite(v) & np.asarray(keep, bool))
    removed = quarter_mask(v.shape, Camera.preset(camera)) if cut_quarter else None
    if removed is not None:
        kept = kept & ~removed
    mesh = surface_mesh(kept, v)
    values = np.clip(np.nan_to_num(mesh.values, nan=clim[0]), *clim)
    cmap = Colormap(valence_lut(256).astype(np.float32) / 255.0, name="ptyxanes_valence",
                    display_name="valence")
    layer = viewer.add_surface(
        (mesh.vertices, mesh.faces, values), name=name, colormap=cmap, contrast_limits=clim,
        shading="flat", scale=(voxel_size_m * 1e6,) * 3, units="µm",
        metadata={"removed": removed, "kept": kept, "clim": tuple(clim)})
    viewer.dims.ndisplay = 3
    set_camera_preset(viewer, camera)
    return layer
