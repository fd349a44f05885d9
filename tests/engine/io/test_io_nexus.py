"""NeXus stack files: round trips, NeXus default plot chain, laziness, bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ptyxanes.io import FormatError, ImageStack
from ptyxanes.io.nexus import KIND_ATTR, read_stack, write_stack


def _stack2d(kind="complex", e=4, m=6, n=7) -> ImageStack:
    rng = np.random.default_rng(0)
    energy = np.linspace(8330, 8360, e)
    if kind == "complex":
        data = (rng.random((e, m, n)) * np.exp(1j * rng.random((e, m, n)))).astype(np.complex64)
    else:
        data = rng.random((e, m, n)).astype(np.float32)
    return ImageStack(
        data, energy, 2e-8 * 8330 / energy, kind=kind, attrs={"sample": "nmc", "cycles": 200}
    )


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["complex", "modulus", "absorption"])
def test_roundtrip_2d(tmp_path, kind):
    s = _stack2d(kind)
    p = write_stack(tmp_path / "s.h5", s)
    r = read_stack(p, lazy=False)
    assert r.kind == kind and r.dims == ("energy", "row", "col")
    assert r.data.dtype == (np.complex64 if kind == "complex" else np.float32)
    assert_array_equal(r.data, s.data)
    assert_allclose(r.energy, s.energy)
    assert_allclose(r.pixel_size, s.pixel_size)
    assert r.angle is None
    assert r.attrs["sample"] == "nmc" and r.attrs["cycles"] == 200
    assert r.attrs["source_file"] == str(p)


def test_roundtrip_tilt_series_and_volume(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.random((3, 5, 4, 6)).astype(np.complex64)
    ang = np.linspace(0, 180, 5, endpoint=False)
    s = ImageStack(data, np.array([8340.0, 8350, 8360]), np.full(3, 4e-8), angle=ang)
    r = read_stack(write_stack(tmp_path / "t.h5", s, extra={"shifts": np.ones((3, 5, 2))}))
    assert r.dims == ("energy", "angle", "row", "col")
    assert_allclose(r.angle, ang)
    assert_array_equal(r.data[1, 2], data[1, 2])
    assert_array_equal(r.attrs["extra"]["shifts"], np.ones((3, 5, 2)))
    with h5py.File(tmp_path / "t.h5") as f:
        assert list(f["entry/data"].attrs["axes"]) == ["energy", "angle", ".", "."]
        assert f["entry/data/data"].chunks == (1, 1, 4, 6)
    vol = ImageStack(
        np.abs(data).astype(np.float32),
        s.energy,
        s.pixel_size,
        kind="absorption",
        dims=("energy", "plane", "row", "col"),
    )
    r = read_stack(write_stack(tmp_path / "v.h5", vol))
    assert r.dims == ("energy", "plane", "row", "col") and r.angle is None
    with h5py.File(tmp_path / "v.h5") as f:
        assert f["entry/data/data"].attrs["units"] == "1/m"


def test_nexus_default_chain_for_viewers(tmp_path):
    p = write_stack(tmp_path / "s.h5", _stack2d())
    with h5py.File(p) as f:
        assert f.attrs["default"] == "entry"
        entry = f[f.attrs["default"]]
        assert entry.attrs["NX_class"] == "NXentry"
        nxdata = entry[entry.attrs["default"]]
        assert nxdata.attrs["NX_class"] == "NXdata"
        sig = nxdata[nxdata.attrs["signal"]]
        assert sig.ndim == 3 and sig.attrs[KIND_ATTR] == "complex"
        axes = list(nxdata.attrs["axes"])
        assert axes == ["energy", ".", "."]
        assert nxdata["energy"].attrs["units"] == "eV"
        assert nxdata["pixel_size"].attrs["units"] == "m"
        assert sig.chunks == (1, 6, 7)
        procs = [k for k in entry if k.startswith("process_")]
        assert procs and entry[procs[0]].attrs["software"] == "ptyxanes"


def test_lazy_returns_dataset_that_keeps_file_open(tmp_path):
    s = _stack2d()
    p = write_stack(tmp_path / "s.h5", s)
    r = read_stack(p)
    assert isinstance(r.data, h5py.Dataset)
    assert_array_equal(r.image(2), s.data[2])
    # a lazy stack can be re-written image by image into another file
    r2 = read_stack(write_stack(tmp_path / "copy.h5", r), lazy=False)
    assert_array_equal(r2.data, s.data)
    r.data.file.close()


def test_overwrite_refused(tmp_path):
    p = write_stack(tmp_path / "s.h5", _stack2d())
    before = _sha(p)
    with pytest.raises(FileExistsError):
        write_stack(p, _stack2d("modulus"))
    assert _sha(p) == before
    write_stack(p, _stack2d("modulus"), overwrite=True)
    assert read_stack(p, lazy=False).kind == "modulus"


def test_write_rejects_bad_stacks(tmp_path):
    s = _stack2d()
    with pytest.raises(ValueError, match="strictly increasing"):
        write_stack(tmp_path / "a.h5", ImageStack(s.data, s.energy[::-1], s.pixel_size))
    bad = s.data.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_stack(tmp_path / "b.h5", ImageStack(bad, s.energy, s.pixel_size))
    assert not any(tmp_path.iterdir())  # nothing left behind


def _write_then_break(tmp_path: Path, edit) -> Path:
    p = write_stack(tmp_path / "bad.h5", _stack2d())
    with h5py.File(p, "a") as f:
        edit(f)
    return p


def _replace(name, value):
    def edit(f):
        del f[name]
        f[name] = value

    return edit


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda f: f.__delitem__("entry/data/data"), "missing dataset /entry/data/data"),
        (lambda f: f.__delitem__("entry/data/energy"), "missing dataset /entry/data/energy"),
        (
            lambda f: f.__delitem__("entry/data/pixel_size"),
            "missing dataset /entry/data/pixel_size",
        ),
        (_replace("entry/data/data", np.zeros((4, 6), np.float32)), "expected (E, M, N)"),
        (_replace("entry/data/data", np.zeros((4, 6, 7), "S4")), "dtype"),
        (_replace("entry/data/energy", np.arange(5.0)), "shape (5,)"),
        (_replace("entry/data/energy", np.array([1.0, 3, 2, 4])), "not strictly increasing"),
        (_replace("entry/data/energy", np.array([1.0, 2, np.inf, 4])), "NaN or inf"),
        (_replace("entry/data/data", np.full((4, 6, 7), np.nan, np.float32)), "NaN or inf"),
        (lambda f: f["entry/data/data"].attrs.__setitem__(KIND_ATTR, "phase"), "ptyxanes_kind"),
        (lambda f: f["entry/data/data"].attrs.__setitem__(KIND_ATTR, "modulus"), "dtype complex64"),
    ],
)
def test_bad_files(tmp_path, edit, problem):
    p = _write_then_break(tmp_path, edit)
    before = _sha(p)
    with pytest.raises(FormatError) as err:
        read_stack(p, lazy=False)
    assert problem in str(err.value), str(err.value)
    assert str(p) in str(err.value)
    assert _sha(p) == before


def test_not_hdf5_truncated_missing(tmp_path):
    txt = tmp_path / "a.h5"
    txt.write_text("energy mu\n1 2\n")
    with pytest.raises(FormatError, match="not an HDF5 file"):
        read_stack(txt)
    p = write_stack(tmp_path / "s.h5", _stack2d(e=8, m=64, n=64))
    raw = p.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(raw[: len(raw) // 2])
    before = _sha(cut)
    with pytest.raises(FormatError, match="truncated") as err:
        read_stack(cut, lazy=False)
    assert str(cut) in str(err.value)
    assert _sha(cut) == before
    with pytest.raises(FormatError, match="file not found"):
        read_stack(tmp_path / "none.h5")


def test_silx_finds_the_default_plot(tmp_path):
    """silx's own NXdata validator (the ESRF readers' view) accepts the default plot."""
    from silx.io import nxdata

    s = _stack2d()
    tilt = ImageStack(
        np.ones((2, 3, 4, 5), np.float32),
        np.array([8340.0, 8350.0]),
        np.full(2, 2e-8),
        kind="modulus",
        angle=np.array([0.0, 60, 120]),
    )
    for name, st in (("s.h5", s), ("t.h5", tilt)):
        p = write_stack(tmp_path / name, st)
        with h5py.File(p) as f:
            g = nxdata.get_default(f, validate=True)
            assert g is not None and g.group.name == "/entry/data"
            assert g.signal.shape == st.data.shape
            assert g.axes_names[0] == "photon energy (eV)"
