"""Reconstructions of other codes (PtyPy, PtyREX, ptychodus, PtychoShelves) read into one stack.

``data/ptypy_minimal.ptyr`` was written by PtyPy's own ``Ptycho.save_run``, the files in
``data/ptychodus`` by ptychodus 1.7.0's own writers and the MATLAB v7.3 file by
hdf5storage (scripts beside them); the other layouts are written by ``peer_writers.py``
following each code's writer (named there).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ptyxanes.io import FormatError
from ptyxanes.io.formats import FORMATS, detect_format, expand_sources, open_stack

sys.path.insert(0, str(Path(__file__).parent))
from peer_writers import (  # noqa: E402
    WRITERS,
    write_ptychodus_h5,
    write_ptychoshelves_h5,
    write_ptyrex,
)

DATA = Path(__file__).parent / "data"
ENERGIES = np.array([8330.0, 8341.25, 8350.5])


def obj(k: int, shape: tuple[int, int] = (10, 14)) -> np.ndarray:
    r, c = np.mgrid[0 : shape[0], 0 : shape[1]]
    return ((0.5 + r / 40 + k / 10) * np.exp(1j * (c / 10 - k / 5))).astype(np.complex64)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ------------------------------------------------------------ files of the real writers
def ptychodus_object(k: int) -> np.ndarray:
    """The pattern written by data/make_ptychodus_fixtures.py (computed independently)."""
    r, c = np.mgrid[0:12, 0:16]
    return (0.5 + r / 40 + k / 10) * np.exp(1j * (c / 10 - k / 5))


@pytest.mark.parametrize("ext", ["h5", "npz"])
def test_ptychodus_own_writer_files_read_exactly(ext):
    files = [DATA / "ptychodus" / f"product_{k}.{ext}" for k in (1, 0)]  # unsorted on purpose
    assert {detect_format(f) for f in files} == {f"ptychodus-{ext}"}
    s = open_stack(files)
    assert s.kind == "complex" and s.data.shape == (2, 12, 16)
    assert_array_equal(s.energy, [8330.0, 8345.5])
    assert_array_equal(s.pixel_size, [12.5e-9, 12.0e-9])
    assert s.attrs["angle_deg"] == 17.5  # tomography_angle_deg
    for k in range(2):
        assert_allclose(s.data[k], ptychodus_object(k), rtol=1e-6, atol=1e-7)


def test_ptychoshelves_mat73_from_matlab_compatible_writer():
    f = DATA / "ptychoshelves_v73.mat"
    assert detect_format(f) == "ptychoshelves-mat"
    s = open_stack(f)
    r, c = np.mgrid[0:12, 0:16]
    assert s.data.shape == (1, 12, 16)  # MATLAB (rows, cols), stored reversed in HDF5
    assert_allclose(s.data[0], (0.6 + r / 50) * np.exp(-1j * c / 8), rtol=1e-6, atol=1e-7)
    assert s.energy[0] == pytest.approx(8342.5, abs=1e-9)  # p.energy 8.3425 keV
    assert s.pixel_size[0] == pytest.approx(15e-9, rel=1e-12)


def test_ptypy_own_save_run_file():
    """data/ptypy_minimal.ptyr: written by PtyPy's Ptycho.save_run (make_ptypy_fixture.py)."""
    f = DATA / "ptypy_minimal.ptyr"
    assert detect_format(f) == "ptypy"
    s = open_stack(f)
    r, c = np.mgrid[0:12, 0:16]
    assert s.data.shape == (1, 12, 16)
    assert_allclose(s.data[0], (0.7 + r / 60) * np.exp(1j * (c / 12)), rtol=1e-6, atol=1e-7)
    assert s.energy[0] == pytest.approx(8342.5, abs=1e-9)  # pars.scans.MF.data.energy, keV
    assert s.pixel_size[0] == 12.5e-9  # Storage _psize
    assert s.attrs["storage"] == "SMFG00"


# ------------------------------------------------------------ every layout, one file per energy
@pytest.mark.parametrize("name", sorted(WRITERS))
def test_layout_folder_reads_energies_pixels_values(tmp_path, name):
    px = [20e-9, 20.1e-9, 20.2e-9]
    for k in (2, 0, 1):  # written out of order: sorted by energy on reading
        WRITERS[name](tmp_path, k, obj(k), px[k], ENERGIES[k])
    files = sorted(p for p in tmp_path.iterdir() if p.suffix != ".json")
    assert {detect_format(f) for f in files} == {name}
    s = open_stack(tmp_path)
    assert s.data.shape == (3, 10, 14) and s.data.dtype == np.complex64
    assert_allclose(s.energy, ENERGIES, rtol=0, atol=1e-9)
    assert_allclose(s.pixel_size, px, rtol=1e-12)
    tol = 2e-7 if name == "ptyrex" else 0  # modulus/phase float32 pair
    for k in range(3):
        assert_allclose(s.data[k], obj(k), rtol=tol, atol=tol)
    assert s.attrs["format"] == name and len(s.attrs["sources"]) == 3


def test_formats_have_unique_names_and_detection_never_crosses(tmp_path):
    assert len({f.name for f in FORMATS}) == len(FORMATS)
    for name, w in WRITERS.items():
        f = w(tmp_path, 0, obj(0), 2e-8, 8340.0)
        hits = [fmt.name for fmt in FORMATS if fmt.sniff(f)]
        assert hits == [name], (name, hits)
        f.unlink()
        f.with_suffix(".json").unlink(missing_ok=True)


def test_different_sizes_go_through_rescale_not_padding(tmp_path):
    # same field of view, different pixel sizes: 20 nm x (10, 14) and 25 nm x (8, 11) px
    write_ptychodus_h5(tmp_path / "a.h5", np.full((10, 14), 0.8 * np.exp(0.3j)), 20e-9, 8330.0)
    write_ptychodus_h5(tmp_path / "b.h5", np.full((8, 11), 0.7 * np.exp(0.1j)), 25e-9, 8340.0)
    s = open_stack(tmp_path)
    assert s.data.shape == (2, 8, 11)  # 14 px x 20/25 = 11.2 -> 11: common FOV at 25 nm
    assert_array_equal(s.pixel_size, [25e-9, 25e-9])
    assert_allclose(s.data[0], 0.8 * np.exp(0.3j), rtol=1e-6)  # constant stays constant
    assert_allclose(s.data[1], 0.7 * np.exp(0.1j), rtol=1e-6)
    assert s.attrs["regridded"]["original_shapes"] == [[10, 14], [8, 11]]


def test_tilt_series_of_files_becomes_energy_angle_stack(tmp_path):
    k = 0
    for e in (8340.0, 8330.0):
        for a in (30.0, -30.0, 0.0):
            write_ptychodus_h5(tmp_path / f"p{k}.h5", obj(k), 2e-8, e, angle=a)
            k += 1
    s = open_stack(tmp_path)
    assert s.data.shape == (2, 3, 10, 14) and s.dims == ("energy", "angle", "row", "col")
    assert_array_equal(s.energy, [8330.0, 8340.0])
    assert_array_equal(s.angle, [-30.0, 0.0, 30.0])
    # p4 was written at 8330 eV and -30 deg
    assert_allclose(s.data[0, 0], obj(4), rtol=0, atol=0)


def test_energies_and_angles_override(tmp_path):
    for k in range(3):
        write_ptyrex(tmp_path / f"scan_{k}.hdf", obj(k), 2e-8, json_sidecar=False)
    e_file = tmp_path / "e.txt"
    e_file.write_text("8.330\n8.340\n8.350\n")  # keV
    s = open_stack(tmp_path, energies=e_file)
    assert_allclose(s.energy, [8330.0, 8340.0, 8350.0])
    s2 = open_stack(sorted(tmp_path.glob("*.hdf")), energies=[8330, 8340, 8350],
                    angles=[0.0, 0.0, 0.0])
    assert_allclose(s2.data, s.data)


# ------------------------------------------------------------ malformed inputs
def test_ptyrex_without_energy_asks_for_energies(tmp_path):
    f = write_ptyrex(tmp_path / "scan_1.hdf", obj(0), 2e-8, json_sidecar=False)
    before = sha(f)
    with pytest.raises(FormatError, match=r"scan_1.hdf.*no photon energy.*--energies"):
        open_stack(f)
    assert sha(f) == before


def _break(kind: str, tmp_path: Path) -> Path:
    if kind == "ptyrex-shapes":
        f = write_ptyrex(tmp_path / "s.hdf", obj(0), 2e-8, 8.34)
        with h5py.File(f, "a") as h:
            del h["entry_1/process_1/output_1/object_phase"]
            h["entry_1/process_1/output_1/object_phase"] = np.zeros((1, 1, 1, 1, 1, 9, 14))
        return f
    if kind == "ptyrex-dx":
        f = write_ptyrex(tmp_path / "s.hdf", obj(0), 2e-8, 8.34)
        with h5py.File(f, "a") as h:
            del h["entry_1/process_1/common_1/dx"]
        return f
    if kind == "ptychodus-nan":
        return write_ptychodus_h5(tmp_path / "p.h5", obj(0) * np.nan, 2e-8, 8340.0)
    if kind == "ptychodus-pixel":
        f = write_ptychodus_h5(tmp_path / "p.h5", obj(0), 2e-8, 8340.0)
        with h5py.File(f, "a") as h:
            h["object"].attrs["pixel_width_m"] = 3e-8
        return f
    if kind == "ptychodus-units":
        return write_ptychodus_h5(tmp_path / "p.h5", obj(0), 2e-8, 8.34)  # keV in an eV field
    if kind == "ptychoshelves-dx":
        f = write_ptychoshelves_h5(tmp_path / "r.h5", obj(0), 2e-8, 8.34)
        with h5py.File(f, "a") as h:
            del h["reconstruction/p/dx_spec"]
        return f
    if kind == "ptyrex-json":
        f = write_ptyrex(tmp_path / "s.hdf", obj(0), 2e-8, 8.34)
        f.with_suffix(".json").write_text("{not json")
        return f
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, message", [
    ("ptyrex-shapes", "object_modulus .* and object_phase .* differ"),
    ("ptyrex-dx", "missing dataset /entry_1/process_1/common_1/dx"),
    ("ptychodus-nan", "NaN or inf"),
    ("ptychodus-pixel", "not square"),
    ("ptychodus-units", "outside 10 eV - 1 MeV"),
    ("ptychoshelves-dx", "missing /reconstruction/p/dx_spec"),
    ("ptyrex-json", "sidecar JSON is unreadable"),
])
def test_malformed_files_give_clear_errors_and_stay_untouched(tmp_path, kind, message):
    f = _break(kind, tmp_path)
    files = sorted(tmp_path.iterdir())
    before = {p: sha(p) for p in files}
    with pytest.raises(FormatError, match=message) as err:
        open_stack(f)
    assert err.value.path.endswith((f.name, ".json"))
    assert {p: sha(p) for p in sorted(tmp_path.iterdir())} == before


def test_same_energy_twice_and_unknown_files_are_errors(tmp_path):
    write_ptychodus_h5(tmp_path / "a.h5", obj(0), 2e-8, 8340.0)
    write_ptychodus_h5(tmp_path / "b.h5", obj(1), 2e-8, 8340.0)
    with pytest.raises(FormatError, match="same energy 8340 eV .a.h5, b.h5."):
        open_stack(tmp_path)
    junk = tmp_path / "junk.h5"
    with h5py.File(junk, "w") as h:
        h["x"] = 1
    with pytest.raises(FormatError, match="junk.h5: HDF5 file of no known format"):
        detect_format(junk)
    with pytest.raises(FormatError, match="not a ptypy file"):
        expand_sources([tmp_path / "a.h5"], format="ptypy")
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes((tmp_path / "a.h5").read_bytes()[:3000])
    with pytest.raises(FormatError, match="trunc.h5: HDF5 file that cannot be opened; truncated"):
        open_stack(trunc)
    trunc.unlink()
    (tmp_path / "cfg.json").write_text(json.dumps({"a": 1}))
    assert [p.name for p, _ in expand_sources([tmp_path])] == ["a.h5", "b.h5"]
