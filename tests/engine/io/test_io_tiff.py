"""TIFF stacks: folder and multi-page layouts, energy lists, bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose, assert_array_equal

from ptyxanes.io import FormatError
from ptyxanes.io.tiff import read_energy_list, read_tiff_stack

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def _imgs(e=4):
    rng = np.random.default_rng(0)
    return rng.random((e, 6, 7)).astype(np.float32)


@pytest.mark.parametrize("layout", [{}, {"photometric": "minisblack"}, {"imagej": True}])
def test_multipage(tmp_path, layout):
    imgs = _imgs()
    p = tmp_path / "stack.tiff"
    tifffile.imwrite(p, imgs, **layout)
    s = read_tiff_stack(p, [8.33, 8.34, 8.35, 8.36], pixel_size=20e-9)
    assert_array_equal(s.data, imgs)
    assert_allclose(s.energy, [8330, 8340, 8350, 8360])
    assert_allclose(s.pixel_size, 20e-9)
    assert s.kind == "modulus" and s.attrs["pixel_size_known"]
    lazy = read_tiff_stack(p, np.array([8330.0, 8340, 8350, 8360]), lazy=True)
    assert_array_equal(lazy.data[2], imgs[2])
    assert_array_equal(lazy.data[1:3, 2, :], imgs[1:3, 2, :])
    assert_array_equal(lazy.image(3), imgs[3])
    assert np.all(np.isnan(lazy.pixel_size)) and not lazy.attrs["pixel_size_known"]


def test_folder_natural_order_and_energy_file(tmp_path):
    imgs = np.stack([np.full((5, 5), i, np.uint16) for i in range(12)])
    for i, im in enumerate(imgs):
        tifffile.imwrite(tmp_path / f"img_{i}.tif", im)  # img_10 sorts after img_9
    (tmp_path / "readme.txt").write_text("not an image")
    elist = tmp_path / "energies.txt"
    elist.write_text("# keV\n" + "\n".join(f"{8.33 + 0.001 * i:.3f}" for i in range(12)))
    s = read_tiff_stack(
        tmp_path, elist, pixel_size=np.linspace(20e-9, 21e-9, 12), kind="absorption"
    )
    assert_array_equal(s.data[:, 0, 0], np.arange(12))
    assert_allclose(s.energy, 8330 + np.arange(12), atol=1e-6)
    assert s.kind == "absorption" and s.data.dtype == np.float32


def test_real_energy_list_kev():
    p = DATA / "ni_refs_pyxas_nio_linio2" / "Ni_eng_list_stetef.txt"
    if not p.exists():
        pytest.skip(f"real data {p} not found")
    e = read_energy_list(p)
    assert e.size == 101
    assert_allclose([e[0], e[-1]], [8212.0, 8777.0], atol=0.01)


@pytest.mark.parametrize(
    "energies, problem",
    [
        ([8330, 8340, 8340, 8350], "not strictly increasing"),
        ([8330, 8340, 8350], "4 images but 3 energies"),
        ([8330, np.nan, 8350, 8360], "NaN or inf"),
    ],
)
def test_bad_energies(tmp_path, energies, problem):
    p = tmp_path / "s.tif"
    tifffile.imwrite(p, _imgs())
    with pytest.raises((FormatError, ValueError), match=problem):
        read_tiff_stack(p, energies)


def test_bad_files_unchanged(tmp_path):
    p = tmp_path / "s.tif"
    p.write_bytes(b"\x89HDF\r\n\x1a\n not a tiff")
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    with pytest.raises(FormatError, match="not a readable TIFF") as err:
        read_tiff_stack(p, [1, 2])
    assert str(p) in str(err.value)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before
    d = tmp_path / "mixed"
    d.mkdir()
    tifffile.imwrite(d / "a.tif", np.zeros((4, 4), np.float32))
    tifffile.imwrite(d / "b.tif", np.zeros((4, 5), np.float32))
    with pytest.raises(FormatError, match="different shapes"):
        read_tiff_stack(d, [1, 2])
    nan = tmp_path / "nan.tif"
    im = _imgs()
    im[2, 1, 1] = np.inf
    tifffile.imwrite(nan, im)
    with pytest.raises(FormatError, match="NaN or inf"):
        read_tiff_stack(nan, [1, 2, 3, 4])
    with pytest.raises(FormatError, match="no .tif"):
        read_tiff_stack(_empty(tmp_path), [1.0])
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((2, 4, 4, 3), np.uint8), photometric="rgb")
    with pytest.raises(FormatError, match="grey-level"):
        read_tiff_stack(rgb, [1, 2])
    cut = tmp_path / "cut.tif"
    tifffile.imwrite(cut, _imgs(e=20))
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(FormatError):
        read_tiff_stack(cut, np.arange(20.0) + 8300)


def _empty(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d
