"""``ptyxanes import`` / ``info`` / ``fit`` on foreign inputs, and TIFF stacks with energy lists."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose, assert_array_equal

from ptyxanes.cli import main
from ptyxanes.io import FormatError
from ptyxanes.io.formats import detect_format, open_stack
from ptyxanes.io.nexus import read_stack

sys.path.insert(0, str(Path(__file__).parent))
from peer_writers import write_ptychodus_h5, write_ptyrex  # noqa: E402


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def obj(k: int) -> np.ndarray:
    r, c = np.mgrid[0:6, 0:9]
    return ((0.9 - r / 50 - k / 20) * np.exp(1j * (c / 20 + k / 7))).astype(np.complex64)


def test_import_writes_nexus_with_provenance(tmp_path, capsys):
    src = tmp_path / "recons"
    src.mkdir()
    for k, e in enumerate((8350.0, 8330.0, 8340.0)):
        write_ptychodus_h5(src / f"p{k}.h5", obj(k), 2e-8 + k * 1e-10, e)
    assert main(["info", str(src)]) == 0
    info = capsys.readouterr().out
    assert "recons/: folder of 3 files, format ptychodus-h5" in info
    assert "(3, 6, 9) complex" in info and "8330.000–8350.000 eV" in info
    out = tmp_path / "stack.h5"
    assert main(["import", str(src), "-o", str(out), "-q"]) == 0
    assert "ptychodus-h5 -> (3, 6, 9) complex" in capsys.readouterr().out
    s = read_stack(out, lazy=False)
    assert_array_equal(s.energy, [8330.0, 8340.0, 8350.0])
    assert_allclose(s.pixel_size, [2.01e-8, 2.02e-8, 2.0e-8])
    assert_array_equal(s.data[0], obj(1))
    with h5py.File(out) as f:
        g = f["entry/process_import"]
        params = json.loads(g.attrs["parameters"])
        assert g.attrs["stage"] == "import"
    assert params["format"] == "ptychodus-h5"
    assert sorted(Path(p).name for p in params["files"]) == ["p0.h5", "p1.h5", "p2.h5"]
    # existing output refused, nothing changed
    before = sha(out)
    assert main(["import", str(src), "-o", str(out), "-q"]) == 1
    assert sha(out) == before and "exists" in capsys.readouterr().err


def test_import_needs_energies_for_ptyrex_and_writes_nothing(tmp_path, capsys):
    for k in range(2):
        write_ptyrex(tmp_path / f"scan_{k}.hdf", obj(k), 2e-8, json_sidecar=False)
    out = tmp_path / "out" / "stack.h5"
    assert main(["import", str(tmp_path), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "scan_0.hdf: no photon energy" in err and "--energies" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    e = tmp_path / "energies.txt"
    e.write_text("8330\n8345\n")
    assert main(["import", str(tmp_path), "-o", str(out), "--energies", str(e), "-q"]) == 0
    assert_array_equal(read_stack(out).energy, [8330.0, 8345.0])


def test_tiff_stack_with_sidecar_or_option(tmp_path, capsys):
    imgs = np.random.default_rng(0).uniform(0.2, 0.9, (3, 5, 7)).astype(np.float32)
    t = tmp_path / "txm.tif"
    tifffile.imwrite(t, imgs, photometric="minisblack")
    assert detect_format(t) == "tiff"
    with pytest.raises(FormatError, match="TIFF stack holds no energies: give --energies"):
        open_stack(t)
    e = tmp_path / "list.dat"
    e.write_text("8.33\n8.34\n8.35\n")
    s = open_stack(t, energies=e)
    assert_array_equal(s.energy, [8330.0, 8340.0, 8350.0])
    assert_array_equal(s.data, imgs)
    (tmp_path / "txm.txt").write_text("8330\n8340\n8350\n")  # sidecar next to the file
    assert_array_equal(open_stack(t).energy, [8330.0, 8340.0, 8350.0])
    assert main(["info", str(t)]) == 0
    assert "format tiff" in capsys.readouterr().out
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        tifffile.imwrite(folder / f"img_{k + 8}.tif", imgs[k], photometric="minisblack")
    (folder / "energies.txt").write_text("8330\n8340\n8350\n")
    s2 = open_stack(folder)
    assert_array_equal(s2.data, imgs)  # natural order: img_8, img_9, img_10


@pytest.mark.slow
def test_fit_and_align_open_foreign_inputs_directly(tmp_path, capsys):
    """fit/align take a folder of reconstructions like a NeXus stack (same numbers)."""
    from ptyxanes.simulate.twin import run as simulate

    twin = simulate("2d", "tiny", 0, "stack", tmp_path / "twin", seed=1)
    native = read_stack(twin.data[0], lazy=False)
    src = tmp_path / "recons"
    src.mkdir()
    for k in range(native.n_energies):
        write_ptychodus_h5(src / f"e{k:03d}.h5", native.data[k], native.pixel_size[k],
                           native.energy[k])
    a1, a2 = tmp_path / "a1.h5", tmp_path / "a2.h5"
    assert main(["align", str(src), "-o", str(a1), "--pixel-size", "2e-7"]) == 0
    assert main(["align", str(twin.data[0]), "-o", str(a2), "--pixel-size", "2e-7"]) == 0
    assert_allclose(read_stack(a1, lazy=False).data, read_stack(a2, lazy=False).data,
                    rtol=1e-5, atol=1e-6)
