"""Diamond I13-1 raw ptychography scans (GDA NeXus) converted to the project's CXI scans."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ptyxanes.cli import main
from ptyxanes.io import FormatError, read_cxi
from ptyxanes.io.formats import detect_format, open_stack

sys.path.insert(0, str(Path(__file__).parent))
from peer_writers import write_i13_nxs  # noqa: E402


def _scan(tmp_path, name="12345.nxs", **kw):
    frames = np.random.default_rng(0).poisson(5, (6, 16, 16)).astype(np.uint16)
    x = np.array([0.0, 0.5, 1.0, 0.0, 0.5, 1.0]) - 10.0  # um
    y = np.array([0.0, 0.0, 0.0, 0.5, 0.5, 0.5]) + 3.0
    return write_i13_nxs(tmp_path / name, frames, x, y, **kw), frames, x, y


def test_i13_scan_converts_to_cxi(tmp_path, capsys):
    f, frames, x, y = _scan(tmp_path)
    assert detect_format(f) == "i13-nexus"
    out = tmp_path / "cxi"
    assert main(["import", str(f), "-o", str(out), "-q"]) == 0
    s = read_cxi(out / "12345.cxi", lazy=False)
    assert_array_equal(s.data, frames)
    assert_allclose(s.positions, np.column_stack([y, x]) * 1e-6, rtol=1e-12)  # (row, col), m
    assert s.energy == pytest.approx(9700.0, rel=1e-12)
    assert s.distance == pytest.approx(14.5, rel=1e-12)
    assert s.detector_pixel_size == (55e-6, 55e-6)
    with pytest.raises(FormatError, match="raw ptychography scans.*ptyxanes import"):
        open_stack(f)


def test_i13_missing_energy_or_distance_named(tmp_path, capsys):
    f, *_ = _scan(tmp_path, energy_kev=None, t2_z_mm=None)
    before = hashlib.sha256(f.read_bytes()).hexdigest()
    out = tmp_path / "cxi"
    assert main(["import", str(f), "-o", str(out), "-q"]) == 1
    assert "no photon energy found" in capsys.readouterr().err
    e = tmp_path / "e.txt"
    e.write_text("9.7\n")
    assert main(["import", str(f), "-o", str(out), "--energies", str(e), "-q"]) == 1
    assert "--distance" in capsys.readouterr().err
    assert main(["import", str(f), "-o", str(out), "--energies", str(e), "--distance", "2.5",
                 "--detector-pixel", "75e-6", "-q"]) == 0
    s = read_cxi(out / "12345.cxi", lazy=False)
    assert (s.energy, s.distance, s.detector_pixel_size) == (9700.0, 2.5, (75e-6, 75e-6))
    assert hashlib.sha256(f.read_bytes()).hexdigest() == before


def test_i13_info_describes_the_scan(tmp_path, capsys):
    f, *_ = _scan(tmp_path)
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    assert "format i13-nexus" in out and "frames: 6 of 16×16 px" in out
    assert "energy: 9700.00 eV; detector distance 14.5 m, pixel 55 µm" in out
    assert "scan extent: 0.50 × 1.00 µm" in out
