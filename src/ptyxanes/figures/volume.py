"""Lit renderings of valence volumes without an OpenGL context (numpy + numba).

A volume is turned into triangle meshes (:func:`skimage.measure.marching_cubes`
on the lightly smoothed occupancy), each vertex coloured by the valence a
little inside the surface, and the meshes are drawn by a small z-buffer
rasteriser with orthographic projection and Lambert + ambient lighting, so the
crystal facets read as flat shaded faces. Translucent layers are composited
over the opaque ones (one front surface per layer). Cutting a quadrant out of
the occupancy before meshing exposes the interior valence on the cut faces
(paper Fig. 2c and 3a).

Axes are (plane, row, col) voxel indices. A :class:`Camera` looks along
``view`` (from the camera into the scene) with ``up`` pointing to the top of
the image; the default up is ``-row`` (row 0 at the top, as in the images).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from collections.abc import Generator

    from ptyxanes.progress import Control, Progress

logger = logging.getLogger(__name__)

#: Named camera directions: ``view`` (into the scene) and ``up``, (plane, row, col).
CAMERA_PRESETS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "isometric": ((1.0, 0.75, 1.0), (0.0, -1.0, 0.0)),
    "plane": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "row": ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0)),
    "col": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
}


@dataclass(frozen=True)
class Camera:
    """An orthographic camera.

    Parameters
    ----------
    view : tuple of 3 float
        Viewing direction, from the camera into the scene, (plane, row, col).
    up : tuple of 3 float
        Direction shown upwards on screen (made perpendicular to ``view``).
    """

    view: tuple[float, float, float] = CAMERA_PRESETS["isometric"][0]
    up: tuple[float, float, float] = CAMERA_PRESETS["isometric"][1]

    @classmethod
    def preset(cls, name: str) -> Camera:
        """Camera of a preset: ``"isometric"`` or along an axis ``"plane"``, ``"row"``, ``"col"``.

        Raises
        ------
        ValueError
            For an unknown name.
        """
        if name not in CAMERA_PRESETS:
            raise ValueError(f"unknown camera preset {name!r}; use one of {sorted(CAMERA_PRESETS)}")
        v, u = CAMERA_PRESETS[name]
        return cls(v, u)

    def basis(self) -> NDArray[np.float64]:
        """Rows: view (depth), screen down, screen right, as unit vectors (plane, row, col)."""
        v = np.asarray(self.view, float)
        v = v / np.linalg.norm(v)
        u = np.asarray(self.up, float)
        u = u - (u @ v) * v
        if np.linalg.norm(u) < 1e-9:
            raise ValueError("camera up is parallel to the view direction")
        u /= np.linalg.norm(u)
        right = np.cross(u, v)
        return np.array([v, -u, right / np.linalg.norm(right)])

    def turned(self, degrees: float) -> Camera:
        """The camera turned by ``degrees`` about its up axis (for turntable movies)."""
        b = self.basis()
        v, up = b[0], -b[1]
        a = np.deg2rad(degrees)
        v2 = v * np.cos(a) + np.cross(up, v) * np.sin(a) + up * (up @ v) * (1 - np.cos(a))
        return Camera(tuple(v2), tuple(up))


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh in voxel coordinates.

    Parameters
    ----------
    vertices : ndarray of shape (V, 3)
        (plane, row, col), voxels.
    faces : ndarray of shape (F, 3), int
    values : ndarray of shape (V,)
        Value at each vertex (valence), NaN where unknown.
    """

    vertices: NDArray[np.float64]
    faces: NDArray[np.int64]
    values: NDArray[np.float64]


def fill_nearest(values: NDArray[np.floating]) -> NDArray[np.float32]:
    """Copy with every NaN replaced by the nearest finite value (for sampling near surfaces)."""
    from scipy import ndimage

    v = np.asarray(values, np.float32)
    bad = ~np.isfinite(v)
    if not bad.any():
        return v.copy()
    if bad.all():
        return np.zeros_like(v)
    idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
    return v[tuple(idx)]


def quarter_mask(shape: tuple[int, int, int], camera: Camera, *,
                 centre: tuple[float, float, float] | None = None) -> NDArray[np.bool_]:
    """Voxels of the quadrant facing the camera, about the axis closest to ``up``.

    The two axes other than the one most parallel to the camera's up are split
    at ``centre``; the removed quadrant is the one on the camera's side of both
    (for a view exactly along one of them, the lower half of that axis).

    Parameters
    ----------
    shape : tuple of int
        (P, M, N).
    camera : Camera
    centre : tuple of float, optional
        Split point, voxels (default: the volume centre).

    Returns
    -------
    quarter : ndarray of bool, shape (P, M, N)
    """
    b = camera.basis()
    up_axis = int(np.argmax(np.abs(b[1])))
    c = [(s - 1) / 2 for s in shape] if centre is None else list(centre)
    keep = np.ones(shape, bool)
    for ax in range(3):
        if ax == up_axis:
            continue
        toward_camera = -b[0][ax]  # the camera sits at -view
        idx = np.arange(shape[ax]) - c[ax]
        side = idx > 0 if toward_camera > 1e-9 else idx < 0
        if abs(toward_camera) <= 1e-9:
            side = idx < 0
        sl: list[slice | None] = [None, None, None]
        sl[ax] = slice(None)
        keep = keep & side[tuple(sl)]
    return keep


def surface_mesh(occupancy: NDArray[np.bool_], values: NDArray[np.floating] | None = None, *,
                 smooth: float = 0.8, inset: float = 1.5, step: int = 1) -> Mesh:
    """Iso-surface of a region with the values a little inside the surface.

    Parameters
    ----------
    occupancy : ndarray of bool, shape (P, M, N)
        The region (crystals, one crystal, the >Ni³⁺ voxels).
    values : ndarray of shape (P, M, N), optional
        Values to colour by (NaN outside); default all NaN.
    smooth : float, optional
        Gaussian σ (voxels) applied to the occupancy before meshing; keeps
        facets flat instead of voxel steps.
    inset : float, optional
        Depth (voxels) inside the surface where the values are sampled.
    step : int, optional
        Marching-cubes step size (2 halves the triangles).

    Returns
    -------
    mesh : Mesh
        Empty (no faces) when the region is empty.
    """
    from scipy import ndimage
    from skimage.measure import marching_cubes

    occ = np.asarray(occupancy, bool)
    if not occ.any():
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0))
    f = np.pad(occ.astype(np.float32), 2)
    if smooth > 0:
        f = ndimage.gaussian_filter(f, smooth)
    verts, faces, normals, _ = marching_cubes(f, 0.5, step_size=step, allow_degenerate=False)
    verts = verts - 2.0
    if values is None:
        vals = np.full(len(verts), np.nan)
    else:
        filled = fill_nearest(values)
        pts = verts - inset * normals  # normals point to decreasing occupancy (outwards)
        vals = ndimage.map_coordinates(filled, pts.T, order=1, mode="nearest")
    return Mesh(verts.astype(np.float64), faces.astype(np.int64), vals.astype(np.float64))


def slice_mesh(values: NDArray[np.floating], axis: int, index: int,
               keep: NDArray[np.bool_] | None = None) -> Mesh:
    """A planar mesh of one voxel slice (two triangles per voxel inside ``keep``).

    Parameters
    ----------
    values : ndarray of shape (P, M, N)
    axis : int
        0, 1 or 2.
    index : int
        Slice index along ``axis``.
    keep : ndarray of bool, shape (P, M, N), optional
        Voxels to draw (default: finite values).

    Returns
    -------
    mesh : Mesh
        Vertices at voxel corners of the slice plane; one value per vertex
        (each voxel's quad has its own four vertices, so colours do not bleed).
    """
    v = np.take(np.asarray(values, np.float64), index, axis=axis)
    k = np.isfinite(v) if keep is None else np.take(keep, index, axis=axis) & np.isfinite(v)
    rr, cc = np.nonzero(k)
    n = rr.size
    if n == 0:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0))
    corners = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, 0.5], [0.5, -0.5]])
    uv = np.stack([rr, cc], -1)[:, None, :] + corners[None]  # (n, 4, 2)
    verts = np.empty((n, 4, 3))
    other = [a for a in range(3) if a != axis]
    verts[..., axis] = index
    verts[..., other[0]] = uv[..., 0]
    verts[..., other[1]] = uv[..., 1]
    base = 4 * np.arange(n)[:, None]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]])
    vals = np.repeat(v[rr, cc], 4)
    return Mesh(verts.reshape(-1, 3), faces.astype(np.int64), vals)


def _raster(xy: NDArray[np.float64], depth: NDArray[np.float64], colour: NDArray[np.float64],
            faces: NDArray[np.int64], shade: NDArray[np.float64], zbuf: NDArray[np.float64],
            img: NDArray[np.float64], idbuf: NDArray[np.int64], layer: int
            ) -> None:  # pragma: no cover - jit
    h, w = zbuf.shape
    for t in range(faces.shape[0]):
        i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
        x0, y0 = xy[i0, 1], xy[i0, 0]
        x1, y1 = xy[i1, 1], xy[i1, 0]
        x2, y2 = xy[i2, 1], xy[i2, 0]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area == 0.0:
            continue
        xmin = max(int(np.floor(min(x0, x1, x2))), 0)
        xmax = min(int(np.ceil(max(x0, x1, x2))), w - 1)
        ymin = max(int(np.floor(min(y0, y1, y2))), 0)
        ymax = min(int(np.ceil(max(y0, y1, y2))), h - 1)
        s = shade[t]
        for py in range(ymin, ymax + 1):
            fy = py + 0.5
            for px in range(xmin, xmax + 1):
                fx = px + 0.5
                w0 = ((x1 - fx) * (y2 - fy) - (x2 - fx) * (y1 - fy)) / area
                w1 = ((x2 - fx) * (y0 - fy) - (x0 - fx) * (y2 - fy)) / area
                w2 = 1.0 - w0 - w1
                if w0 < -1e-6 or w1 < -1e-6 or w2 < -1e-6:
                    continue
                z = w0 * depth[i0] + w1 * depth[i1] + w2 * depth[i2]
                if z < zbuf[py, px]:
                    zbuf[py, px] = z
                    idbuf[py, px] = layer
                    for c in range(3):
                        img[py, px, c] = s * (w0 * colour[i0, c] + w1 * colour[i1, c]
                                              + w2 * colour[i2, c])


_KERNEL = None


def _raster_kernel() -> Any:
    """The rasteriser compiled by numba on first use (cached on disk)."""
    global _KERNEL
    if _KERNEL is None:
        import numba as nb

        _KERNEL = nb.njit(cache=True)(_raster)
    return _KERNEL


@dataclass(frozen=True, eq=False)
class Layer:
    """One mesh to draw.

    Parameters
    ----------
    mesh : Mesh
    colour : tuple of 3 float or None
        A single RGB colour in [0, 1]; None: colour by ``mesh.values`` with the valence map.
    alpha : float
        1 opaque; below 1 the layer's front surface is blended over the opaque layers.
    name : str
        For legends.
    """

    mesh: Mesh
    colour: tuple[float, float, float] | None = None
    alpha: float = 1.0
    name: str = ""


@dataclass(frozen=True, eq=False)
class Rendering:
    """A rendered image and how it maps to the volume.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), float in [0, 1]
    coverage : ndarray of shape (H, W), bool
        Pixels where any surface was drawn.
    pixels_per_voxel : float
        Screen scale (orthographic): one voxel spans this many pixels.
    origin : ndarray of shape (2,)
        Screen (row, col) of the projected volume origin (voxel 0, 0, 0).
    basis : ndarray of shape (3, 3)
        Camera basis (view, down, right), unit vectors in (plane, row, col).
    """

    image: NDArray[np.float64]
    coverage: NDArray[np.bool_]
    pixels_per_voxel: float
    origin: NDArray[np.float64]
    basis: NDArray[np.float64]

    def project(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """Screen (row, col) of points (..., 3) in voxel coordinates."""
        p = np.asarray(points, float)
        return self.origin + self.pixels_per_voxel * (p @ self.basis[1:].T)


def _colours(mesh: Mesh, colour: tuple[float, float, float] | None, clim: tuple[float, float]
             ) -> NDArray[np.float64]:
    if colour is not None:
        return np.tile(np.asarray(colour, float)[:3], (len(mesh.vertices), 1))
    from ptyxanes.figures.colormaps import valence_lut

    lut = valence_lut(256)[:, :3] / 255.0
    x = (np.nan_to_num(mesh.values, nan=clim[0]) - clim[0]) / (clim[1] - clim[0])
    return lut[np.clip((x * 255).round().astype(int), 0, 255)]


def render(layers: list[Layer], shape: tuple[int, int, int], camera: Camera, *,
           size: int = 600, light: tuple[float, float, float] | None = None,
           ambient: float = 0.35, background: tuple[float, float, float] = (1.0, 1.0, 1.0),
           clim: tuple[float, float] = (2.0, 3.5), crop: bool = True,
           margin: float = 0.04, fit: str = "box") -> Rendering:
    """Draw meshes with lighting into an RGB image (orthographic, z-buffered).

    Parameters
    ----------
    layers : list of Layer
        Opaque layers are z-buffered together; translucent ones are blended on top.
    shape : tuple of int
        (P, M, N) of the volume the meshes come from (sets the framing).
    camera : Camera
    size : int, optional
        Edge of the square frame before cropping, pixels.
    light : tuple of 3 float, optional
        Direction the light travels, camera frame (depth, down, right);
        default from the upper left and the viewer.
    ambient : float, optional
        Ambient fraction of the lighting.
    background : tuple of 3 float, optional
        RGB.
    clim : tuple of float, optional
        Valence colour limits.
    crop : bool, optional
        Crop the image to the drawn content plus ``margin``.
    margin : float, optional
        Crop margin, fraction of the frame.
    fit : {"box", "sphere"}, optional
        Frame the volume's projected bounding box, or the bounding sphere of the
        meshes (the same framing from every direction: use it for movies, with
        ``crop=False``).

    Returns
    -------
    rendering : Rendering
    """
    b = camera.basis()
    corners = np.array([[i, j, k] for i in (0, shape[0]) for j in (0, shape[1])
                        for k in (0, shape[2])], float) - 0.5
    cam = corners @ b.T
    lo, hi = cam[:, 1:].min(0), cam[:, 1:].max(0)
    if fit == "sphere":
        pts = [ly.mesh.vertices for ly in layers if len(ly.mesh.vertices)]
        if pts:
            allv = np.concatenate(pts)
            c3 = 0.5 * (allv.min(0) + allv.max(0))
            radius = float(np.sqrt(((allv - c3) ** 2).sum(1).max())) + 1.0
        else:
            c3 = (np.asarray(shape, float) - 1) / 2
            radius = 0.5 * float(np.linalg.norm(np.asarray(shape, float)))
        centre = (c3 @ b.T)[1:]
        lo, hi = centre - radius, centre + radius
    elif fit != "box":
        raise ValueError(f"fit must be 'box' or 'sphere'; got {fit!r}")
    ppv = (size - 1) / float(max(hi - lo))
    origin = -lo * ppv
    ldir = np.asarray(light if light is not None else (1.0, 0.6, 0.5), float)
    ldir /= np.linalg.norm(ldir)
    h = w = int(size)
    img = np.empty((h, w, 3))
    img[:] = background
    zbuf = np.full((h, w), np.inf)
    idbuf = np.full((h, w), -1, np.int64)
    translucent = []
    for li, layer in enumerate(layers):
        m = layer.mesh
        if len(m.faces) == 0:
            continue
        if layer.alpha < 1.0:
            translucent.append((li, layer))
            continue
        _draw(m, layer, b, ppv, origin, ldir, ambient, clim, zbuf, img, idbuf, li)
    for li, layer in translucent:
        zb = np.full((h, w), np.inf)
        im2 = np.zeros((h, w, 3))
        id2 = np.full((h, w), -1, np.int64)
        _draw(layer.mesh, layer, b, ppv, origin, ldir, ambient, clim, zb, im2, id2, li)
        front = zb < zbuf
        a = float(layer.alpha)
        img[front] = a * im2[front] + (1 - a) * img[front]
        idbuf[front & (idbuf < 0)] = li
    coverage = idbuf >= 0
    out_origin = origin.copy()
    if crop and coverage.any():
        rows, cols = np.nonzero(coverage)
        pad = int(round(margin * size))
        r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, h)
        c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, w)
        img, coverage = img[r0:r1, c0:c1], coverage[r0:r1, c0:c1]
        out_origin = origin - [r0, c0]
    return Rendering(np.clip(img, 0, 1), coverage, float(ppv), out_origin, b)


def _draw(m: Mesh, layer: Layer, b: NDArray[np.float64], ppv: float, origin: NDArray[np.float64],
          ldir: NDArray[np.float64], ambient: float, clim: tuple[float, float],
          zbuf: NDArray[np.float64], img: NDArray[np.float64], idbuf: NDArray[np.int64], li: int
          ) -> None:
    cam = m.vertices @ b.T
    xy = origin + ppv * cam[:, 1:]
    depth = cam[:, 0].copy()
    col = _colours(m, layer.colour, clim)
    tri = cam[m.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    # two-sided lighting: the face normal pointing towards the camera (depth decreasing)
    n *= np.where(n[:, :1] > 0, -1.0, 1.0)
    diffuse = np.clip(-(n @ ldir), 0.0, 1.0)
    shade = ambient + (1 - ambient) * diffuse
    _raster_kernel()(np.ascontiguousarray(xy), depth, np.ascontiguousarray(col),
            np.ascontiguousarray(m.faces), np.ascontiguousarray(shade), zbuf, img, idbuf, li)


def turntable(layers: list[Layer], shape: tuple[int, int, int], camera: Camera, *,
              n_frames: int = 72, size: int = 480, clim: tuple[float, float] = (2.0, 3.5),
              background: tuple[float, float, float] = (1.0, 1.0, 1.0),
              control: Control | None = None
              ) -> Generator[Progress, None, tuple[list[NDArray[np.uint8]], float]]:
    """Frames of a 360° turn of the camera about its up axis (generator).

    Parameters
    ----------
    layers : list of Layer
        Meshes, built once (the turn only re-projects them).
    shape : tuple of int
        (P, M, N) of the volume.
    camera : Camera
        Frame 0; frame k is turned by 360° k / n_frames.
    n_frames : int, optional
    size : int, optional
        Square frame edge, pixels (the meshes' bounding sphere fills it).
    clim : tuple of float, optional
    background : tuple of 3 float, optional
    control : Control, optional
        Cancellation, checked between frames.

    Yields
    ------
    progress : Progress
        One per frame; ``preview`` holds the frame.

    Returns
    -------
    frames : list of ndarray of uint8, shape (size, size, 3)
    pixels_per_voxel : float
        Screen scale of every frame.
    """
    from ptyxanes.progress import Control, Progress

    ctl = control or Control()
    if n_frames < 2:
        raise ValueError(f"a turn needs at least 2 frames; got {n_frames}")
    frames = []
    ppv = 1.0
    for k in range(int(n_frames)):
        ctl.check()
        r = render(layers, shape, camera.turned(360.0 * k / n_frames), size=size, clim=clim,
                   background=background, crop=False, fit="sphere")
        ppv = r.pixels_per_voxel
        frame = (255 * r.image + 0.5).astype(np.uint8)
        frames.append(frame)
        yield Progress(k + 1, n_frames, f"frame {k + 1} of {n_frames}", "movie", preview=frame)
    return frames, ppv
