"""ptyxanes.figures: sizes, formats, shared colour limits, CSV."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.figures import (
    export_csv,
    histogram_figure,
    save_figure,
    valence_histogram,
    valence_map_figure,
)
from ptyxanes.figures.valence import nice_scalebar_length


def _maps():
    rng = np.random.default_rng(0)
    a = 2.3 + 0.1 * rng.standard_normal((32, 40))
    b = 3.1 + 0.3 * rng.standard_normal((32, 40))
    b[:5] = np.nan
    return {"pristine": a, "200 cycles": b}


@pytest.mark.parametrize("dpi", [72, 150])
def test_png_and_tiff_pixel_size(tmp_path, dpi):
    from PIL import Image

    fig = valence_map_figure(_maps(), 100e-9, figsize=(6.0, 3.0))
    png = save_figure(fig, tmp_path / "m.png", dpi=dpi)
    tif = save_figure(fig, tmp_path / "m.tif", dpi=dpi)
    for p in (png, tif):
        with Image.open(p) as im:
            assert im.size == (round(6.0 * dpi), round(3.0 * dpi))
    with pytest.raises(FileExistsError):
        save_figure(fig, png, dpi=dpi)
    save_figure(fig, png, dpi=dpi, overwrite=True)
    assert not list(tmp_path.glob("*.part"))


def test_svg_and_pdf_are_valid(tmp_path):
    import xml.etree.ElementTree as ET

    fig = histogram_figure({"a": np.full(50, 2.4), "b": (np.full(50, 3.1), np.ones(50))})
    svg = save_figure(fig, tmp_path / "h.svg")
    pdf = save_figure(fig, tmp_path / "h.pdf")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]
    with pytest.raises(ValueError, match="unsupported"):
        save_figure(fig, tmp_path / "h.bmp")


def test_shared_colour_limits_and_scalebar():
    maps = _maps()
    fig = valence_map_figure(maps, {"pristine": 100e-9, "200 cycles": 50e-9}, clim=(2.2, 3.4))
    images = [im for ax in fig.axes for im in ax.images]
    assert len(images) == 2
    for im in images:
        assert im.get_clim() == (2.2, 3.4)
    # the colour bar axis spans the same limits
    cbar_ax = [ax for ax in fig.axes if not ax.images][0]
    lim = sorted(cbar_ax.get_ylim())
    assert_allclose(lim, [2.2, 3.4])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "1 µm" in texts  # 40 px x 100 nm = 4 um -> 1 um bar
    assert "500 nm" in texts  # 40 px x 50 nm = 2 um -> 0.5 um bar
    assert nice_scalebar_length(3e-6) == pytest.approx(0.5e-6)
    with pytest.raises(ValueError, match="2D"):
        valence_map_figure({"v": np.zeros((2, 2, 2))}, 1e-7)
    with pytest.raises(ValueError, match="increasing"):
        valence_map_figure(maps, 1e-7, clim=(3, 2))


def test_histogram_weights_and_reference_lines():
    v = np.array([2.05, 2.05, 3.05, np.nan])
    d, e = valence_histogram(v, np.array([1.0, 1.0, 2.0, 5.0]), bins=15, value_range=(2, 3.5))
    assert_allclose((d * np.diff(e)).sum(), 1.0)
    assert_allclose(d[0] * 0.1, 0.5) and assert_allclose(d[10] * 0.1, 0.5)
    fig = histogram_figure({"x": v}, bins=15)
    xs = [ln.get_xdata()[0] for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert sorted(xs) == [2.0, 3.0]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["x"]


def test_export_csv_roundtrip(tmp_path):
    d, e = valence_histogram(np.linspace(2, 3.5, 100), bins=10)
    p = export_csv(tmp_path / "h.csv", {"centre": (e[1:] + e[:-1]) / 2, "density": d},
                   comment="valence histogram\nptyxanes")
    lines = p.read_text().splitlines()
    assert lines[:3] == ["# valence histogram", "# ptyxanes", "centre,density"]
    back = np.loadtxt(p, delimiter=",", skiprows=3)
    assert_allclose(back[:, 1], d)
    with pytest.raises(ValueError, match="equal length"):
        export_csv(tmp_path / "bad.csv", {"a": [1, 2], "b": [1]})
