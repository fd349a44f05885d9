"""napari helpers for the paper's Fig. 3a and the GL-free rotating movie."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ptyxanes.progress import run_sync
from ptyxanes.simulate.sample import SampleGeometry, make_sample


@pytest.fixture(scope="module")
def sample():
    return make_sample("tiny", 200, seed=0, dim="3d",
                       geometry=SampleGeometry((32, 30, 34), 100e-9, 3, (1.0e-6, 1.6e-6)))


@pytest.fixture
def model():
    from napari.components import ViewerModel

    return ViewerModel()


def test_quarter_cut_removes_exactly_one_quadrant_of_the_layer_data(sample, model):
    from ptyxanes_gui.viewers.napari_viewer import add_valence_volume, outside_value

    v = sample.valence
    clim = (2.0, 3.5)
    layer = add_valence_volume(model, v, voxel_size_m=sample.voxel_size, clim=clim)
    data = np.asarray(layer.data)
    shown = data > outside_value(clim)
    inside = np.isfinite(v)
    p, m, n = v.shape
    # the quadrant facing the isometric camera: plane below and col below the centre
    quad = np.zeros(v.shape, bool)
    quad[: p // 2, :, : n // 2] = True
    np.testing.assert_array_equal(shown, inside & ~quad)
    assert (inside & quad).sum() > 100  # the cut removed real voxels
    np.testing.assert_array_equal(layer.metadata["removed"], quad)
    assert layer.rendering == "iso" and model.dims.ndisplay == 3
    # from the other side the opposite quadrant is removed
    other = add_valence_volume(model, v, voxel_size_m=sample.voxel_size, camera="col")
    assert other.metadata["removed"].sum() == quad.sum()


def test_camera_presets(model, sample):
    from ptyxanes_gui.viewers.napari_viewer import add_valence_volume, set_camera_preset

    add_valence_volume(model, sample.valence, voxel_size_m=sample.voxel_size, cut_quarter=False)
    cam = getattr(model, "scene", model).camera
    for name, axis in (("plane", 0), ("row", 1), ("col", 2)):
        set_camera_preset(model, name)
        d = np.asarray(cam.view_direction)
        assert abs(d[axis]) == pytest.approx(1.0, abs=1e-6)
    set_camera_preset(model, "isometric")
    d = np.asarray(cam.view_direction)
    assert (np.abs(d) > 0.4).all()
    with pytest.raises(ValueError, match="unknown camera preset"):
        set_camera_preset(model, "diagonal")


@pytest.mark.slow
def test_label_overlay_named_colour_outline_and_isolation(model, sample):
    from ptyxanes_gui.viewers.napari_viewer import add_label_overlay

    from ptyxanes.figures.paper import LABEL_COLOUR

    labels = sample.high_ox
    lay = add_label_overlay(model, labels, voxel_size_m=sample.voxel_size)
    assert "magenta" in lay.name and lay.opacity < 1
    np.testing.assert_allclose(lay.colormap.map(np.array([1]))[0, :3], LABEL_COLOUR)
    assert lay.data.sum() == labels.sum()
    outline = add_label_overlay(model, labels, voxel_size_m=sample.voxel_size, mode="outline")
    assert 0 < outline.data.sum() < labels.sum()
    assert not (outline.data.astype(bool) & ~labels).any()
    # an isolated crystal shows its own labels only
    one = add_label_overlay(model, labels, voxel_size_m=sample.voxel_size,
                            crystal_labels=sample.crystal_labels, crystal=2)
    on = one.data.astype(bool)
    assert on.any() and (sample.crystal_labels[on] == 2).all()
    assert on.sum() == (labels & (sample.crystal_labels == 2)).sum()


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_volume_movie_frames_and_bars(sample, tmp_path, suffix):
    from ptyxanes_gui.viewers.movie import annotate_frame, mp4_available, volume_movie

    if suffix == ".mp4":
        assert mp4_available()  # imageio-ffmpeg is a gui dependency
    p = run_sync(volume_movie(sample.valence, tmp_path / f"m{suffix}",
                              voxel_size_m=sample.voxel_size, n_frames=6, size=160,
                              labels=sample.high_ox))
    assert p.is_file() and p.stat().st_size > 1000
    if suffix == ".gif":
        with Image.open(p) as im:
            assert im.n_frames == 6
            im.seek(3)
            frame = np.asarray(im.convert("RGB"))
        assert frame.shape[0] == 160 and frame.shape[1] > 160  # colour-bar strip on the right
    else:
        import imageio_ffmpeg

        reader = imageio_ffmpeg.read_frames(str(p))
        meta = next(reader)
        assert sum(1 for _ in reader) == 6 and meta["size"][1] == 160
    # the colour bar runs from the >Ni3+ red at the top to the Ni2+ blue at the bottom
    from ptyxanes.figures.colormaps import valence_lut

    img = annotate_frame(np.zeros((200, 200, 3), np.uint8), scalebar_px=50, scalebar_text="1 µm")
    lut = valence_lut(256)[:, :3].astype(int)
    col = img[:, 200 + max(70, 200 // 6) // 5 + 4].astype(int)
    assert np.abs(col[int(0.15 * 200) + 2] - lut[-1]).max() < 12
    assert np.abs(col[int(0.85 * 200) - 2] - lut[0]).max() < 12
    assert (img[int(0.93 * 200) + 1, 12:60] == 0).all()  # the black scale bar


def test_movie_cancel_writes_nothing(sample, tmp_path):
    from ptyxanes_gui.viewers.movie import volume_movie

    from ptyxanes.progress import Cancelled, Control

    ctl = Control()
    gen = volume_movie(sample.valence, tmp_path / "c.gif", voxel_size_m=sample.voxel_size,
                       n_frames=8, size=120, control=ctl)
    next(gen)
    ctl.cancel()
    with pytest.raises(Cancelled):
        for _ in gen:
            pass
    assert not list(tmp_path.iterdir())


def test_valence_surface_has_no_vertex_inside_the_cut_quadrant(sample, model):
    from ptyxanes_gui.viewers.napari_viewer import add_valence_surface

    v = sample.valence
    layer = add_valence_surface(model, v, voxel_size_m=sample.voxel_size)
    verts, faces, values = layer.data
    p, m, n = v.shape
    cp, cc = (p - 1) / 2, (n - 1) / 2
    # vertices lie on the surface of the kept voxels: none deeper than a voxel into the quadrant
    deep = (verts[:, 0] < cp - 1.5) & (verts[:, 2] < cc - 1.5)
    assert not deep.any()
    assert (verts[:, 0] < cp).any() or (verts[:, 2] < cc).any()
    full = add_valence_surface(model, v, voxel_size_m=sample.voxel_size, cut_quarter=False)
    assert ((full.data[0][:, 0] < cp - 1.5) & (full.data[0][:, 2] < cc - 1.5)).any()
    np.testing.assert_array_equal(layer.metadata["kept"],
                                  np.isfinite(v) & ~layer.metadata["removed"])
    assert np.nanmin(values) >= 2.0 and np.nanmax(values) <= 3.5
