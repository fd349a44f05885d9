"""CXI scans: the real PETRA III file, round trips, series ordering, bad input."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ptyxanes.io import FormatError
from ptyxanes.io.cxi import (
    ANGLE_PATH,
    ENERGY_PATH,
    EV_TO_J,
    TRANSLATION_PATH,
    CXIWriter,
    read_cxi,
    read_scan_series,
    write_cxi,
)

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
P25 = DATA / "ptycho_cdtools_petra3_p25_nearfield" / "PETRAIII_P25_Near_Field_Ptycho.cxi"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _scan(n=5, h=8, w=9, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.poisson(50, (n, h, w)).astype(np.uint32)
    pos = rng.random((n, 2)) * 1e-6
    mask = np.zeros((h, w), bool)
    mask[2, 3] = True
    return data, pos, mask


def test_real_petra3_file():
    if not P25.exists():
        pytest.skip(f"real data {P25} not found")
    before = _sha(P25)
    s = read_cxi(P25)
    assert isinstance(s.data, h5py.Dataset)
    assert s.data.shape == (200, 100, 100)
    assert_allclose(s.distance, 1.12, rtol=1e-6)
    assert_allclose(s.detector_pixel_size, (5.5e-5, 5.5e-5), rtol=1e-6)
    assert_allclose(s.energy, 12660, rtol=2e-3)
    # energy and stored wavelength agree: lambda = hc / E
    with h5py.File(P25) as f:
        wl = float(f["entry_1/instrument_1/source_1/wavelength"][()])
        t = f[TRANSLATION_PATH][()]
    assert_allclose(s.wavelength, wl, rtol=1e-5)
    assert s.mask is not None and s.mask.shape == (100, 100) and s.mask.sum() == 5
    assert_allclose(s.positions, t[:, [1, 0]])
    assert s.angle is None
    dy, dx = s.object_pixel_size()
    assert_allclose(dy, wl * 1.12 / (100 * 5.5e-5), rtol=1e-5)
    frame = s.data[17]
    assert frame.shape == (100, 100) and frame.max() > 0
    s.data.file.close()
    assert _sha(P25) == before


def test_roundtrip_and_layout(tmp_path):
    data, pos, mask = _scan()
    p = write_cxi(
        tmp_path / "a.cxi", data, pos, 8340.0, 5.0, (75e-6, 70e-6), mask=mask, angle=-12.5
    )
    s = read_cxi(p, lazy=False)
    assert_array_equal(s.data, data)
    assert s.data.dtype == np.uint32
    assert_allclose(s.positions, pos)
    assert_allclose(s.energy, 8340.0, rtol=1e-12)
    assert s.detector_pixel_size == (75e-6, 70e-6)
    assert_array_equal(s.mask, mask)
    assert s.angle == -12.5
    with h5py.File(p) as f:
        assert_allclose(f[ENERGY_PATH][()], 8340.0 * EV_TO_J)
        assert_array_equal(f["entry_1/data_1/data"][()], data)  # soft link
        assert f["entry_1/data_1"].get("data", getlink=True).path.endswith("detector_1/data")
        t = f[TRANSLATION_PATH][()]
        assert t.shape == (5, 3)
        assert_allclose(t[:, 0], pos[:, 1])
        assert_allclose(t[:, 1], pos[:, 0])
        assert f[ANGLE_PATH].attrs["units"] == "deg"
        assert f["entry_1/instrument_1/detector_1/data"].chunks == (1, 8, 9)


def test_streaming_writer(tmp_path):
    data, pos, _ = _scan(n=6)
    with CXIWriter(tmp_path / "s.cxi", 6, (8, 9), pos, 8350.0, 5.0, 75e-6, dtype=np.uint16) as w:
        for i in range(0, 6, 4):
            w.write(i, data[i : i + 4])
    s = read_cxi(tmp_path / "s.cxi", lazy=False)
    assert_array_equal(s.data, data)
    # a failure inside the block leaves no file
    with pytest.raises(RuntimeError):
        with CXIWriter(tmp_path / "t.cxi", 6, (8, 9), pos, 8350.0, 5.0, 75e-6):
            raise RuntimeError("boom")
    assert not (tmp_path / "t.cxi").exists()
    assert [x.name for x in tmp_path.iterdir()] == ["s.cxi"]


def test_series_sorted_by_energy_not_names(tmp_path):
    energies = [8360.0, 8330.0, 8345.0]
    names = ["a.cxi", "b.cxi", "c.cxi"]  # alphabetical order != energy order
    for name, e in zip(names, energies, strict=True):
        data, pos, _ = _scan(seed=int(e))
        write_cxi(tmp_path / name, data, pos, e, 5.0, 75e-6)
    (tmp_path / "notes.txt").write_text("ignored")
    scans = read_scan_series(tmp_path)
    assert [s.energy for s in scans] == pytest.approx(sorted(energies))
    assert [Path(s.path).name for s in scans] == ["b.cxi", "c.cxi", "a.cxi"]
    assert_array_equal(scans[0].data[1], _scan(seed=8330)[0][1])
    # duplicate energy is an error naming both files
    data, pos, _ = _scan()
    write_cxi(tmp_path / "d.cxi", data, pos, 8345.0, 5.0, 75e-6)
    with pytest.raises(FormatError, match="same energy"):
        read_scan_series(tmp_path)


def test_series_3d_sorted_by_angle_then_energy(tmp_path):
    k = 0
    for a in (90.0, 0.0):
        for e in (8350.0, 8340.0):
            data, pos, _ = _scan(n=2)
            write_cxi(tmp_path / f"f{k}.cxi", data, pos, e, 5.0, 75e-6, angle=a)
            k += 1
    scans = read_scan_series(tmp_path)
    got = np.array([(s.angle, s.energy) for s in scans])
    assert_allclose(got, [(0, 8340), (0, 8350), (90, 8340), (90, 8350)])


def test_empty_folder(tmp_path):
    with pytest.raises(FormatError, match="no .cxi files"):
        read_scan_series(tmp_path)


def _good(tmp_path: Path) -> Path:
    data, pos, mask = _scan()
    return write_cxi(
        tmp_path / "bad.cxi", data.astype(np.float32), pos, 8340.0, 5.0, 75e-6, mask=mask
    )


def _del(name):
    def edit(f):
        del f[name]

    return edit


def _set(name, value):
    def edit(f):
        del f[name]
        f[name] = value

    return edit


def _del_data(f):
    del f["entry_1/instrument_1/detector_1/data"]
    del f["entry_1/data_1/data"]


@pytest.mark.parametrize(
    "edit, problem",
    [
        (_del_data, "missing dataset /entry_1/instrument_1/detector_1/data"),
        (
            _del("entry_1/instrument_1/detector_1/distance"),
            "missing dataset /entry_1/instrument_1/detector_1/distance",
        ),
        (_del(TRANSLATION_PATH), "missing dataset " + TRANSLATION_PATH),
        (_set(TRANSLATION_PATH, np.zeros((4, 3))), "expected (5, 3)"),
        (_set("entry_1/instrument_1/detector_1/mask", np.zeros((3, 3))), "mask has shape"),
        (
            _set("entry_1/instrument_1/detector_1/data", np.zeros((5, 8), np.float32)),
            "expected (N, H, W)",
        ),
        (_set("entry_1/instrument_1/detector_1/data", np.zeros((5, 8, 9), "S2")), "dtype"),
        (
            _set("entry_1/instrument_1/detector_1/data", np.full((5, 8, 9), np.inf, np.float32)),
            "NaN or inf",
        ),
        (_set(TRANSLATION_PATH, np.full((5, 3), np.nan)), "NaN or inf"),
        (_set(ENERGY_PATH, 8340.0), "really in J"),
        (_set("entry_1/instrument_1/detector_1/distance", -1.0), "positive"),
    ],
)
def test_bad_files(tmp_path, edit, problem):
    p = _good(tmp_path)
    with h5py.File(p, "a") as f:
        edit(f)
    before = _sha(p)
    with pytest.raises(FormatError) as err:
        read_cxi(p, lazy=False)
    assert problem in str(err.value), str(err.value)
    assert str(p) in str(err.value)
    assert _sha(p) == before


def test_not_hdf5_and_truncated(tmp_path):
    p = tmp_path / "x.cxi"
    p.write_bytes(b"PK\x03\x04 a zip, not hdf5")
    with pytest.raises(FormatError, match="not an HDF5 file"):
        read_cxi(p)
    if P25.exists():
        cut = tmp_path / "cut.cxi"
        cut.write_bytes(P25.read_bytes()[:1_000_000])
        before = _sha(cut)
        with pytest.raises(FormatError, match="truncated") as err:
            read_cxi(cut, lazy=False)
        assert str(cut) in str(err.value) and _sha(cut) == before
    # a truncated file inside a series names that file
    d = tmp_path / "series"
    d.mkdir()
    data, pos, _ = _scan()
    good = write_cxi(d / "good.cxi", data, pos, 8340.0, 5.0, 75e-6, compression=None)
    shutil.copy(good, d / "bad.cxi")
    raw = (d / "bad.cxi").read_bytes()
    (d / "bad.cxi").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(FormatError, match="bad.cxi"):
        read_scan_series(d)


def test_write_rejects_bad_parameters(tmp_path):
    data, pos, _ = _scan()
    with pytest.raises(ValueError, match="positions"):
        write_cxi(tmp_path / "a.cxi", data, pos[:3], 8340.0, 5.0, 75e-6)
    with pytest.raises(ValueError, match="eV"):
        write_cxi(tmp_path / "a.cxi", data, pos, 8340.0 * EV_TO_J, 5.0, 75e-6)
    bad = data.astype(np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_cxi(tmp_path / "a.cxi", bad, pos, 8340.0, 5.0, 75e-6)
    assert not any(tmp_path.iterdir())
