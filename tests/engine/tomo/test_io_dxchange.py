"""Data-exchange and NXtomo readers: files laid out as their own writers write them.

* Data exchange: dxchange's ``writer.write_hdf5(arr, fname, gname="exchange",
  dname=...)`` writes a string dataset ``/implements`` and one dataset per call
  under ``/exchange`` (no attributes); the dxfile writer (``dxtomo.Entry.data``)
  adds ``axes``/``units``/``description`` attributes, as in TomoPy's
  ``tooth.h5`` (``theta`` with ``units="degrees"``). ``reader.read_aps_32id``
  reads ``/exchange/data``, ``data_white``, ``data_dark`` and ``theta``
  (degrees).
* NXtomo: the layout that ``nxtomo`` 3.1.1's ``NXtomo.save(path,
  data_path="/entry0000")`` writes (checked by dumping a file it wrote):
  ``instrument/detector/{data, image_key, image_key_control, x_pixel_size
  (units m)}``, ``instrument/beam/incident_energy`` (units keV),
  ``sample/rotation_angle`` (units degree), ``definition = "NXtomo"``, and an
  NXdata group ``data`` of soft links to them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from ptyxanes.io.dxchange import read_dxchange, read_nxtomo, sniff_dxchange, sniff_nxtomo
from ptyxanes.io.errors import FormatError

TOOTH = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "tomo_tomopy_tooth" / "tooth.h5"


def _counts(seed=0, a=5, m=3, n=4):
    rng = np.random.default_rng(seed)
    dark = rng.integers(95, 105, (4, m, n)).astype(np.uint16)
    white = rng.integers(3000, 3100, (6, m, n)).astype(np.uint16)
    data = rng.integers(400, 2900, (a, m, n)).astype(np.uint16)
    return data, white, dark


def _expected(data, white, dark):
    d = dark.astype(np.float64).mean(0)
    w = white.astype(np.float64).mean(0)
    return (-0.5 * np.log((data - d) / (w - d))).astype(np.float32)


def _write_dxchange(path, data, white, dark, theta, *, attrs=True):
    with h5py.File(path, "w") as f:
        f.create_dataset("implements", data="exchange")
        g = f.create_group("exchange")
        g.create_dataset("data", data=data)
        g.create_dataset("data_white", data=white)
        g.create_dataset("data_dark", data=dark)
        g.create_dataset("theta", data=theta)
        if attrs:
            g["data"].attrs.update(axes="theta:y:x", units="counts", description="transmission")
            g["data_white"].attrs.update(axes="theta_white:y:x", units="counts")
            g["data_dark"].attrs.update(axes="theta_dark:y:x", units="counts")
            g["theta"].attrs["units"] = "degrees"
        f.create_dataset("measurement/sample/name", data="Phantom")


def _write_nxtomo(path, frames, keys, angles, *, entry="entry0000"):
    with h5py.File(path, "w") as f:
        e = f.create_group(entry)
        e.attrs.update(NX_class="NXentry", definition="NXtomo", default="data")
        e.create_dataset("definition", data="NXtomo")
        det = e.create_group("instrument/detector")
        det.attrs["NX_class"] = "NXdetector"
        det.create_dataset("data", data=frames).attrs["interpretation"] = "image"
        det.create_dataset("image_key", data=np.asarray(keys, np.int64))
        det.create_dataset("image_key_control", data=np.asarray(keys, np.int64))
        det.create_dataset("x_pixel_size", data=6.5e-7).attrs["units"] = "m"
        det.create_dataset("y_pixel_size", data=6.5e-7).attrs["units"] = "m"
        e.create_dataset("instrument/beam/incident_energy", data=17.5).attrs["units"] = "keV"
        s = e.create_group("sample")
        s.attrs["NX_class"] = "NXsample"
        s.create_dataset("rotation_angle", data=np.asarray(angles, float)).attrs["units"] = "degree"
        d = e.create_group("data")
        d.attrs.update(NX_class="NXdata", signal="data")
        d["data"] = h5py.SoftLink(f"/{entry}/instrument/detector/data")
        d["image_key"] = h5py.SoftLink(f"/{entry}/instrument/detector/image_key")
        d["rotation_angle"] = h5py.SoftLink(f"/{entry}/sample/rotation_angle")


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("attrs", [True, False])
def test_dxchange_values_angles_exact(tmp_path, attrs):
    data, white, dark = _counts()
    theta = np.array([0.0, 36.0, 72.0, 108.0, 144.0])
    fn = tmp_path / "scan.h5"
    _write_dxchange(fn, data, white, dark, theta, attrs=attrs)
    assert sniff_dxchange(fn) and not sniff_nxtomo(fn)
    st = read_dxchange(fn)
    assert st.kind == "absorption" and st.dims == ("energy", "angle", "row", "col")
    assert st.data.shape == (1, 5, 3, 4) and st.data.dtype == np.float32
    np.testing.assert_array_equal(st.angle, theta)
    np.testing.assert_allclose(st.data[0], _expected(data, white, dark), rtol=1e-6)
    assert np.isnan(st.energy[0]) and np.isnan(st.pixel_size[0])  # not in the file
    assert st.attrs["sample"] == "Phantom" and st.attrs["format"] == "dxchange"
    # overrides, and a row subset
    st2 = read_dxchange(fn, rows=slice(1, 2), energy=8000.0, pixel_size=1e-6)
    np.testing.assert_allclose(st2.data[0], _expected(data, white, dark)[:, 1:2], rtol=1e-6)
    assert st2.energy[0] == 8000.0 and st2.pixel_size[0] == 1e-6


def test_dxchange_radians_and_unsorted_angles(tmp_path):
    data, white, dark = _counts(a=12)
    theta = np.linspace(np.pi, 0, 12)  # descending, in radians with units
    fn = tmp_path / "rad.h5"
    _write_dxchange(fn, data, white, dark, theta)
    with h5py.File(fn, "a") as f:
        f["exchange/theta"].attrs["units"] = "rad"
    st = read_dxchange(fn)
    np.testing.assert_allclose(st.angle, np.rad2deg(theta[::-1]))
    np.testing.assert_allclose(st.data[0], _expected(data, white, dark)[::-1], rtol=1e-6)


def test_dxchange_clipped_and_dead_pixels(tmp_path):
    data, white, dark = _counts()
    data[0, 0, 0] = 50  # below the dark level
    white[:, 2, 3] = dark[0, 2, 3]  # a dead pixel: flat no brighter than dark
    dark[:, 2, 3] = dark[0, 2, 3]
    fn = tmp_path / "guard.h5"
    _write_dxchange(fn, data, white, dark, np.arange(5.0))
    st = read_dxchange(fn)
    assert np.isfinite(st.data).all()
    assert st.data[0, 0, 0, 0] == pytest.approx(-0.5 * np.log(1e-3))
    assert np.all(st.data[0, :, 2, 3] == 0)
    assert st.attrs["clipped"] == 1 and st.attrs["dead_pixels"] == 1


def test_tooth_as_shipped():
    if not TOOTH.exists():
        pytest.skip(f"real data {TOOTH} not found")
    st = read_dxchange(TOOTH)
    with h5py.File(TOOTH, "r") as f:
        raw = f["exchange/data"][:].astype(np.float64)
        w = f["exchange/data_white"][:].astype(np.float64).mean(0)
        d = f["exchange/data_dark"][:].astype(np.float64).mean(0)
        theta = f["exchange/theta"][:]
    assert st.data.shape == (1, 181, 2, 640)
    np.testing.assert_array_equal(st.angle, theta)
    ref = -0.5 * np.log(np.clip((raw - d) / (w - d), 1e-3, None))
    np.testing.assert_allclose(st.data[0], ref, rtol=1e-5, atol=1e-7)
    assert st.attrs["sample"] == "Tooth"


def test_nxtomo_values_keys_metadata_exact(tmp_path):
    rng = np.random.default_rng(3)
    m, n = 2, 5
    dark = rng.uniform(90, 110, (2, m, n))
    flat = rng.uniform(2900, 3100, (4, m, n))
    proj = rng.uniform(500, 2500, (4, m, n))
    junk = np.full((1, m, n), 7.0)
    # darks, flats before, projections (not in angle order), an invalid frame, flats after
    frames = np.concatenate([dark, flat[:2], proj[:2], junk, proj[2:], flat[2:]]).astype(np.float32)
    keys = [2, 2, 1, 1, 0, 0, 3, 0, 0, 1, 1]
    angles = [0, 0, 0, 0, 90.0, 0.0, 45.0, 135.0, 45.0, 180, 180]
    fn = tmp_path / "scan.nx"
    _write_nxtomo(fn, frames, keys, angles)
    assert sniff_nxtomo(fn) and not sniff_dxchange(fn)
    st = read_nxtomo(fn)
    assert st.data.shape == (1, 4, m, n)
    np.testing.assert_array_equal(st.angle, [0.0, 45.0, 90.0, 135.0])
    f32 = frames.astype(np.float64)
    exp = _expected(f32[[4, 5, 7, 8]], f32[[2, 3, 9, 10]], f32[[0, 1]])
    np.testing.assert_allclose(st.data[0], exp[[1, 3, 0, 2]], rtol=1e-6)
    assert st.energy[0] == pytest.approx(17500.0) and st.pixel_size[0] == pytest.approx(6.5e-7)
    assert st.attrs["entry"] == "/entry0000"


def _good_dx(tmp_path):
    data, white, dark = _counts(a=12)
    fn = tmp_path / "bad.h5"
    _write_dxchange(fn, data, white, dark, np.linspace(0, 180, 12))
    return fn


def _del(path):
    def edit(f):
        del f[path]
    return edit


def _replace(path, value, units=None):
    def edit(f):
        del f[path]
        f[path] = value
        if units is not None:
            f[path].attrs["units"] = units
    return edit


DX_BAD = {
    "no flats": (_del("exchange/data_white"), "data_white"),
    "no theta": (_del("exchange/theta"), "theta"),
    "theta length": (_replace("exchange/theta", np.arange(7.0), "degrees"), "7 rotation angles"),
    "theta nan": (_replace("exchange/theta", np.r_[np.nan, np.arange(11.0)], "deg"), "NaN"),
    "theta units": (_replace("exchange/theta", np.arange(12.0), "furlong"), "units"),
    "radians, no units": (_replace("exchange/theta", np.linspace(0, np.pi, 12)), "radians"),
    "flat shape": (_replace("exchange/data_white", np.ones((3, 2, 4))), "frames are"),
    "2-D data": (_replace("exchange/data", np.ones((12, 4))), "shape"),
    "flat = dark": (_replace("exchange/data_white", np.full((2, 3, 4), 50.0)), "never exceeds"),
}


@pytest.mark.parametrize("case", sorted(DX_BAD))
def test_dxchange_malformed_clear_error_file_untouched(tmp_path, case):
    fn = _good_dx(tmp_path)
    edit, words = DX_BAD[case]
    with h5py.File(fn, "a") as f:
        edit(f)
        if case == "flat = dark":
            del f["exchange/data_dark"]
            f["exchange/data_dark"] = np.full((2, 3, 4), 50.0)
    before = _sha(fn)
    with pytest.raises(FormatError) as err:
        read_dxchange(fn)
    assert str(fn) in str(err.value) and words in str(err.value)
    assert _sha(fn) == before


def _good_nx(tmp_path):
    frames = np.concatenate([np.full((1, 2, 3), 10.0), np.full((1, 2, 3), 100.0),
                             np.full((3, 2, 3), 50.0)])
    fn = tmp_path / "bad.nx"
    _write_nxtomo(fn, frames, [2, 1, 0, 0, 0], [0, 0, 0, 60, 120], entry="entry")
    return fn


NX_BAD = {
    "no image_key": (lambda f: [f.__delitem__(p) for p in ("entry/instrument/detector/image_key",
                                                          "entry/data/image_key")], "image_key"),
    "no flats": (_replace("entry/instrument/detector/image_key", [2, 0, 0, 0, 0]), "no flat"),
    "bad key": (_replace("entry/instrument/detector/image_key", [2, 1, 0, 5, 0]), "0, 1, 2 or 3"),
    "one projection": (_replace("entry/instrument/detector/image_key", [2, 1, 1, 1, 0]), "need 2"),
    "angle length": (_replace("entry/sample/rotation_angle", [0.0, 1.0], "degree"), "2 rotation"),
    "angle units": (_replace("entry/sample/rotation_angle", np.zeros(5), "furlong"), "units"),
    "not NXtomo": (_replace("entry/definition", "NXstxm"), "NXtomo"),
}


@pytest.mark.parametrize("case", sorted(NX_BAD))
def test_nxtomo_malformed_clear_error_file_untouched(tmp_path, case):
    fn = _good_nx(tmp_path)
    read_nxtomo(fn)  # the unedited file reads
    edit, words = NX_BAD[case]
    with h5py.File(fn, "a") as f:
        edit(f)
        if case == "not NXtomo":
            f["entry"].attrs["definition"] = "NXstxm"
    before = _sha(fn)
    with pytest.raises(FormatError) as err:
        read_nxtomo(fn)
    assert str(fn) in str(err.value) and words in str(err.value)
    assert _sha(fn) == before


@pytest.mark.parametrize("reader", [read_dxchange, read_nxtomo])
def test_not_hdf5_or_truncated(tmp_path, reader):
    txt = tmp_path / "notes.h5"
    txt.write_text("hello")
    with pytest.raises(FormatError, match="not an HDF5 file"):
        reader(txt)
    assert not sniff_dxchange(txt) and not sniff_nxtomo(txt)
    good = _good_dx(tmp_path)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[:3000])
    before = _sha(cut)
    with pytest.raises(FormatError):
        reader(cut)
    assert _sha(cut) == before
