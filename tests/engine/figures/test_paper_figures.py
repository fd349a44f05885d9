"""Paper figures: exported size and dpi, colour bar and scale bar present, quarter cut exact."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ptyxanes.figures import (
    fig3a_volume,
    fig3b_crystal_slices,
    fig3e_segmented,
    fig5_figure,
    save_figure,
    valence_lut,
)
from ptyxanes.figures.volume import Camera, Layer, quarter_mask, render, surface_mesh
from ptyxanes.simulate.sample import SampleGeometry, make_sample


@pytest.fixture(scope="module")
def maps():
    out = {}
    for cycles in (0, 200):
        s = make_sample("tiny", cycles, seed=1, dim="2d")
        out[f"{cycles} cycles"] = s.projected_valence()
    return out


@pytest.fixture(scope="module")
def sample3d():
    return make_sample("tiny", 200, seed=0, dim="3d",
                       geometry=SampleGeometry((40, 40, 40), 100e-9, 3, (1.2e-6, 1.8e-6)))


def _colorbar_column(img, fig, cb_ax):
    """Pixel colours down the middle of the colour-bar axis, top to bottom."""
    h = img.shape[0]
    k = h / (fig.get_figheight() * fig.dpi)  # saved dpi / drawing dpi
    x0, y0, x1, y1 = k * cb_ax.get_window_extent().extents
    col = int(round((x0 + x1) / 2))
    rows = np.arange(int(h - y1) + 2, int(h - y0) - 2)
    return img[rows, col, :3].astype(float)


def _has_colorbar(img, fig, label="Ni valence"):
    cb_axes = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert cb_axes, "no colour-bar axis"
    ok = False
    lut = valence_lut(256)[:, :3].astype(float)
    for a in cb_axes:
        colours = _colorbar_column(img, fig, a)
        # top of the bar ~ the LUT's last entry (>Ni3+ red), bottom ~ its first (Ni2+ blue)
        top, bottom = colours[:3].mean(0), colours[-3:].mean(0)
        if (np.abs(top - lut[-1]).max() < 25 and np.abs(bottom - lut[0]).max() < 25):
            ok = True
    return ok


def _scalebar_pixels(img, ax, colour):
    """Count pixels of ``colour`` in the lower-left eighth of an image axis."""
    h = img.shape[0]
    fig = ax.get_figure()
    k = h / (fig.get_figheight() * fig.dpi)
    x0, y0, x1, y1 = k * ax.get_window_extent().extents
    box = img[int(h - y0 - 0.2 * (y1 - y0)):int(h - y0), int(x0):int(x0 + 0.5 * (x1 - x0)), :3]
    return int((np.abs(box.astype(int) - colour).max(-1) < 10).sum())


@pytest.mark.slow
def test_fig5_png_size_dpi_colorbar_scalebar(maps, tmp_path):
    phase = np.nan_to_num(list(maps.values())[0]) * 0.1
    fig = fig5_figure(maps, 100e-9, phase=phase, absorption=phase * 2)
    p = save_figure(fig, tmp_path / "fig5.png", dpi=150, size_px=(1500, 800))
    with Image.open(p) as im:
        assert im.size == (1500, 800)
        assert im.info["dpi"] == pytest.approx((150, 150), abs=0.1)
        img = np.asarray(im.convert("RGB"))
    assert _has_colorbar(img, fig)
    map_axes = [a for a in fig.axes if a.images and a.get_label() != "<colorbar>"]
    assert len(map_axes) == 2 + 2 + 1  # phase, -ln|T|, detail valence, two samples
    for ax in map_axes:  # the white scale bar of every map
        assert _scalebar_pixels(img, ax, (255, 255, 255)) > 20
    hist = [a for a in fig.axes if a.get_xlabel() == "Ni valence"]
    assert len(hist) == 1 and len(hist[0].get_legend().get_texts()) == 2


@pytest.mark.slow
def test_fig5_tiff_and_vector_text(maps, tmp_path):
    fig = fig5_figure(maps, 100e-9)
    p = save_figure(fig, tmp_path / "fig5.tif", dpi=200, size_px=(1000, 400))
    with Image.open(p) as im:
        assert im.size == (1000, 400)
        assert im.info["dpi"] == pytest.approx((200, 200), abs=0.1)
    svg = save_figure(fig, tmp_path / "fig5.svg").read_text(encoding="utf-8")
    # text is drawn as glyph paths with each string in a comment
    assert "<!-- Ni valence (shared) -->" in svg
    assert svg.count('id="scalebar_label') == len(maps) and 'id="scalebar' in svg
    pdf = save_figure(fig, tmp_path / "fig5.pdf").read_bytes()
    assert b"/FontFile2" in pdf  # TrueType fonts embedded


def test_quarter_mask_is_one_quadrant():
    shape = (10, 12, 14)
    for name in ("isometric", "plane", "col"):
        q = quarter_mask(shape, Camera.preset(name))
        # exactly the voxels below the centre on both non-vertical axes (plane and col)
        p, c = np.meshgrid(np.arange(10), np.arange(14), indexing="ij")
        expect2 = (p < 4.5) & (c < 6.5)  # camera at low plane / low col (or on the axis)
        expect = np.broadcast_to(expect2[:, None, :], shape)
        assert q.sum() == 5 * 12 * 7
        np.testing.assert_array_equal(q, expect)
    # seen from the other side, the opposite quadrant goes
    q = quarter_mask(shape, Camera((-1.0, 0.5, -1.0), (0, -1, 0)))
    assert q[9, 0, 13] and not q[0, 0, 0] and q.sum() == 5 * 12 * 7


def test_render_cube_along_axis_is_its_lit_colour():
    v = np.full((20, 20, 20), np.nan)
    v[5:15, 4:16, 6:14] = 3.5  # >Ni3+: the last LUT colour
    m = surface_mesh(np.isfinite(v), v, smooth=0.0)
    r = render([Layer(m)], v.shape, Camera.preset("plane"), size=200, crop=False, ambient=1.0)
    # the silhouette is the 12 x 8 voxel face (the 0.5 iso-level lies on the voxel boundary)
    area_vox = r.coverage.sum() / r.pixels_per_voxel**2
    assert area_vox == pytest.approx(12 * 8, rel=0.05)
    rows, cols = np.nonzero(r.coverage)
    assert np.ptp(rows) > np.ptp(cols)  # rows (12) are the taller screen axis
    lut = valence_lut(256)[-1, :3] / 255
    inner = r.image[r.coverage]
    assert np.abs(np.median(inner, 0) - lut).max() < 0.02


def test_fig3a_cut_and_labels_export(sample3d, tmp_path):
    v = sample3d.valence
    res = fig3a_volume(v, sample3d.voxel_size, labels=sample3d.slab_mask, size=300)
    assert res.removed is not None and res.removed.sum() == np.prod(v.shape) // 4
    p = save_figure(res.figure, tmp_path / "a.png", dpi=120, size_px=(720, 600))
    with Image.open(p) as im:
        assert im.size == (720, 600)
        img = np.asarray(im.convert("RGB"))
    assert _has_colorbar(img, res.figure)
    img_ax = [a for a in res.figure.axes if a.images][0]
    assert _scalebar_pixels(img, img_ax, (0, 0, 0)) > 30  # black bar on white
    legend = [t.get_text() for t in img_ax.get_legend().get_texts()]
    assert legend == [">Ni³⁺ labels (magenta)"]
    # the cut makes the rendering differ from the uncut one
    full = fig3a_volume(v, sample3d.voxel_size, cut_quarter=False, size=300)
    assert full.rendering.coverage.sum() != res.rendering.coverage.sum() or not np.allclose(
        full.rendering.image, res.rendering.image)


@pytest.mark.slow
def test_fig3b_and_3e(sample3d, tmp_path):
    v, lab = sample3d.valence, sample3d.crystal_labels
    b = fig3b_crystal_slices(v, lab, 1, sample3d.voxel_size, size=160,
                             normal=sample3d.c_axes[0])
    texts = [t.get_text() for t in b.figure.axes[0].texts]
    assert " slab normal" in texts
    e = fig3e_segmented(v, lab, 1, sample3d.high_ox, sample3d.voxel_size, size=160)
    svg = save_figure(e.figure, tmp_path / "e.svg").read_text(encoding="utf-8")
    assert "magenta" in svg and ("nm -->" in svg or "µm -->" in svg)
    assert 'id="scalebar"' in svg
    with pytest.raises(ValueError, match="crystal 99"):
        fig3e_segmented(v, lab, 99, sample3d.high_ox, sample3d.voxel_size)
