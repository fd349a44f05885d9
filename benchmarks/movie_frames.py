# ruff: noqa: T201 - a benchmark script prints its numbers
"""Benchmark: time per rotating-movie frame, napari screenshots vs the GL-free renderer.

The napari path is what ``MovieRecorder`` does per frame (turn the camera,
``QtViewer.screenshot`` at the movie size) on the volume shown the way the 3D
panel shows it (translucent rendering, a quarter clipped away). The GL-free
path is ``volume_movie``'s per-frame work (re-project the meshes, z-buffer,
colour bar and scale bar) after meshing once. Frames are interleaved (one
napari frame, one GL-free frame, ...) so both see the same machine load.
Needs a display (run under ``xvfb-run``):

    xvfb-run -a .venv/bin/python benchmarks/movie_frames.py [--frames 6] [--size 480] [--volume tiny|paper]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def volume(kind: str):
    from ptyxanes.simulate.sample import GEOMETRIES, SampleGeometry, make_sample

    if kind == "paper":
        from ptyxanes.simulate.demo3d import GEOMETRY

        s = make_sample("demo", 200, seed=0, dim="3d", geometry=GEOMETRY)
    else:
        g = GEOMETRIES[("3d", "tiny")]
        s = make_sample("tiny", 200, seed=0, dim="3d",
                        geometry=SampleGeometry(g.shape, g.voxel_size, g.n_crystals, g.diameter))
    return s.valence, s.voxel_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", type=int, default=480)
    ap.add_argument("--volume", choices=("tiny", "paper"), default="tiny")
    a = ap.parse_args()

    import napari
    from ptyxanes_gui.viewers.movie import annotate_frame, turntable_directions
    from ptyxanes_gui.viewers.napari_viewer import (
        fill_outside,
        padded_limits,
        quarter_planes,
        valence_napari_colormap,
    )
    from qtpy.QtWidgets import QApplication

    from ptyxanes.figures.valence import nice_scalebar_length
    from ptyxanes.figures.volume import Camera, Layer, quarter_mask, render, surface_mesh

    v, vs = volume(a.volume)
    clim = (2.0, 3.5)
    print(f"volume {v.shape} of {vs * 1e9:.0f} nm voxels, {np.isfinite(v).sum()} inside; "
          f"{a.frames} frames of {a.size} px each way")

    # napari, as the 3D panel shows it
    viewer = napari.Viewer(show=True)
    data = fill_outside(v, clim)
    common = {"colormap": valence_napari_colormap(), "contrast_limits": padded_limits(clim),
              "scale": (vs * 1e6,) * 3, "rendering": "translucent", "blending": "translucent",
              "interpolation3d": "nearest"}
    main_l = viewer.add_image(data, name="valence", **common)
    cut_l = viewer.add_image(data, name="cut", **common)
    p1, p2 = quarter_planes(data.shape, main_l.scale)
    main_l.experimental_clipping_planes = p1
    cut_l.experimental_clipping_planes = p2
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    qt_viewer = viewer.window._qt_viewer
    cam = viewer.camera
    dirs = turntable_directions(cam.view_direction, cam.up_direction, a.frames)
    QApplication.processEvents()
    qt_viewer.screenshot(path=None, flash=False, size=(a.size, a.size))  # warm-up

    # GL-free: mesh once
    t0 = time.perf_counter()
    camera = Camera.preset("isometric")
    keep = np.isfinite(v) & ~quarter_mask(v.shape, camera)
    layers = [Layer(surface_mesh(keep, v))]
    t_mesh = time.perf_counter() - t0
    render(layers, v.shape, camera, size=a.size, crop=False, fit="sphere")  # jit warm-up

    t_napari, t_free = [], []
    for k in range(a.frames):
        t = time.perf_counter()
        cam.set_view_direction(tuple(dirs[k]), tuple(cam.up_direction))
        qt_viewer.screenshot(path=None, flash=False, size=(a.size, a.size))
        t_napari.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = render(layers, v.shape, camera.turned(360.0 * k / a.frames), size=a.size, crop=False,
                   fit="sphere")
        px_m = vs / r.pixels_per_voxel
        bar = nice_scalebar_length(a.size * px_m)
        annotate_frame((255 * r.image).astype(np.uint8), clim=clim, scalebar_px=bar / px_m,
                       scalebar_text="1 µm")
        t_free.append(time.perf_counter() - t)
    viewer.close()
    n, f = 1e3 * np.median(t_napari), 1e3 * np.median(t_free)
    print(f"napari screenshot per frame: median {n:.0f} ms (all: "
          f"{', '.join(f'{1e3 * x:.0f}' for x in t_napari)})")
    print(f"GL-free frame:               median {f:.0f} ms (all: "
          f"{', '.join(f'{1e3 * x:.0f}' for x in t_free)}); meshing once {1e3 * t_mesh:.0f} ms")
    print(f"speed-up per frame: {n / f:.1f}x")


if __name__ == "__main__":
    main()
