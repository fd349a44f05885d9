"""``describe``: one summary per supported kind of file, clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from ptyxanes.cli import main
from ptyxanes.io import FormatError, ImageStack
from ptyxanes.io.cxi import write_cxi
from ptyxanes.io.describe import describe
from ptyxanes.io.nexus import write_stack
from ptyxanes.io.project import MapData, Project, save_project
from ptyxanes.io.spectra import Spectrum, write_spectrum

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def test_stack_cxi_project_spectrum(tmp_path):
    e = np.array([8330.0, 8340.0, 8350.0])
    st = ImageStack(np.ones((3, 4, 5), np.complex64), e, np.array([3e-8, 2.99e-8, 2.98e-8]))
    text = describe(write_stack(tmp_path / "s.h5", st))
    assert "NeXus image stack (complex)" in text
    assert "8330.0–8350.0 eV" in text and "29.80–30.00 nm" in text
    text = describe(
        write_cxi(
            tmp_path / "a.cxi",
            np.ones((4, 8, 8), np.uint16),
            np.zeros((4, 2)),
            8340.0,
            5.0,
            75e-6,
            angle=30.0,
        )
    )
    assert (
        "CXI ptychography scan" in text
        and "8340.00 eV" in text
        and "rotation angle: 30 deg" in text
    )
    pr = Project(
        maps={"valence": MapData(np.array([[2.0, 3.5]]), 5e-8, "valence")}, stacks={"s": st}
    )
    text = describe(save_project(tmp_path / "p.h5", pr))
    assert "ptyxanes project" in text and "map valence: (1, 2), 2…3.5" in text and "stack s" in text
    sp = write_spectrum(tmp_path / "r.xdi", Spectrum(e, np.array([0.0, 0.5, 1.0]), "NiO", 2.0))
    text = describe(sp)
    assert "reference spectrum (XDI), 3 points" in text and "valence: 2" in text


def test_folder_of_cxi_and_tiff(tmp_path):
    for en in (8350.0, 8330.0):
        write_cxi(
            tmp_path / f"e{en:.0f}.cxi",
            np.ones((2, 4, 4), np.uint16),
            np.zeros((2, 2)),
            en,
            5.0,
            75e-6,
        )
    assert "CXI scan series, 2 files" in describe(tmp_path)
    assert "8330.0–8350.0 eV" in describe(tmp_path)
    t = tmp_path / "s.tif"
    tifffile.imwrite(t, np.zeros((3, 4, 5), np.float32), photometric="minisblack")
    assert "TIFF, series shape (3, 4, 5)" in describe(t)


def test_real_files():
    cxi = DATA / "ptycho_cdtools_petra3_p25_nearfield" / "PETRAIII_P25_Near_Field_Ptycho.cxi"
    tooth = DATA / "tomo_tomopy_tooth" / "tooth.h5"
    if not (cxi.exists() and tooth.exists()):
        pytest.skip("real data not found")
    text = describe(cxi)
    assert "200 of 100×100 px" in text and "distance 1.12 m" in text and "5 bad pixels" in text
    text = describe(tooth)
    assert "format dxchange" in text
    assert "(1, 181, 2, 640) absorption" in text and "181, 0.0–179.0 deg" in text


def test_errors(tmp_path, capsys):
    with pytest.raises(FormatError, match="not found"):
        describe(tmp_path / "none.h5")
    b = tmp_path / "x.bin"
    b.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
    with pytest.raises(FormatError, match="binary file of unknown format"):
        describe(b)
    t = tmp_path / "notes.txt"
    t.write_text("hello world\n")
    with pytest.raises(FormatError, match="not a known format"):
        describe(t)
    # the CLI turns it into a one-line error, not a traceback
    assert main(["info", str(t)]) != 0
    err = capsys.readouterr().err
    assert "notes.txt" in err and "Traceback" not in err
