"""Figure export of rendered views (the 3D screenshot) with a colour bar (matplotlib, no Qt)."""

from __future__ import annotations

import numpy as np
import pytest


def _rendered(h=120, w=160):
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 3] = 255
    img[30:90, 40:120, 0] = 220  # a red "crystal"
    return img


def test_rendered_view_figure_has_the_requested_size_and_a_colour_bar(tmp_path):
    from PIL import Image
    from ptyxanes_gui.viewers.export import export_rendered_figure

    from ptyxanes.figures.colormaps import valence_lut

    lut = valence_lut(256)
    out = export_rendered_figure(tmp_path / "v.png", _rendered(), lut=lut, levels=(2.0, 3.5),
                                 label="Ni valence", title="200 cycles", dpi=100,
                                 size_px=(640, 400))
    with Image.open(out) as im:
        assert im.size == (640, 400)
        px = np.asarray(im.convert("RGB"))
    # the colour bar (right of the view) holds the LUT's blue (bottom) and red (top) ends
    bar = px[:, int(0.86 * 640) + 3: int(0.89 * 640) - 3]
    colours = bar.reshape(-1, 3).astype(int)
    assert any(np.abs(colours - lut[0, :3]).sum(1) < 40)
    assert any(np.abs(colours - lut[-1, :3]).sum(1) < 40)
    pdf = export_rendered_figure(tmp_path / "v.pdf", _rendered(), lut=lut, levels=(2.0, 3.5),
                                 label="Ni valence")
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_rendered_view_figure_refuses_bad_input(tmp_path):
    from ptyxanes_gui.viewers.export import export_rendered_figure

    from ptyxanes.figures.colormaps import valence_lut

    with pytest.raises(ValueError, match="format"):
        export_rendered_figure(tmp_path / "v.bmp", _rendered(), lut=valence_lut(8),
                               levels=(2, 3), label="v")
    with pytest.raises(ValueError, match="image"):
        export_rendered_figure(tmp_path / "v.png", np.zeros((5, 5)), lut=valence_lut(8),
                               levels=(2, 3), label="v")
    assert not (tmp_path / "v.png").exists()
