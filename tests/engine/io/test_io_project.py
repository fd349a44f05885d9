"""Project files: full round trip, atomic saves, NeXus plot chain, bad input."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ptyxanes.io import FormatError, ImageStack
from ptyxanes.io.nexus import write_stack
from ptyxanes.io.project import MapData, Project, load_project, save_project
from ptyxanes.provenance import provenance


def _project() -> Project:
    rng = np.random.default_rng(3)
    val = rng.normal(3.0, 0.2, (6, 7))
    val[0, 0] = np.nan
    energy = np.array([8330.0, 8345.0, 8360.0])
    stack2d = ImageStack(
        (rng.random((3, 6, 7)) * np.exp(1j * rng.random((3, 6, 7)))).astype(np.complex64),
        energy,
        3e-8 * 8330 / energy,
        attrs={"sample": "nmc811"},
    )
    vol = ImageStack(
        rng.random((3, 4, 6, 7)).astype(np.float32),
        energy,
        np.full(3, 4e-8),
        kind="absorption",
        dims=("energy", "plane", "row", "col"),
    )
    return Project(
        maps={
            "valence": MapData(val, 3e-8, "valence", "", "Ni valence", {"method": "halfheight"}),
            "edge": MapData(rng.random((4, 6, 7)) + 8340, 4e-8, "edge", "eV", "edge energy"),
        },
        stacks={"aligned": stack2d, "volume": vol},
        labels={"crystals": rng.integers(0, 5, (6, 7)).astype(np.int32), "high_ox": val > 3.1},
        tables={"shifts": {"row": rng.random(3), "col": rng.random(3), "energy": energy}},
        parameters={"fit": {"method": "halfheight", "window": [8330, 8360], "nested": {"a": 1}}},
        inputs={"scans": "/data/scans", "reference": "/refs/NiO.xdi"},
        provenance=[provenance("align", {"upsample": 10}), provenance("fit", {"m": 1})],
    )


def test_roundtrip(tmp_path):
    pr = _project()
    p = save_project(tmp_path / "p.h5", pr)
    r = load_project(p, lazy=False)
    assert set(r.maps) == {"valence", "edge"}
    assert_array_equal(r.maps["valence"].data, pr.maps["valence"].data)  # NaN kept
    assert r.maps["valence"].pixel_size == 3e-8
    assert r.maps["valence"].attrs == {"method": "halfheight"}
    assert (r.maps["edge"].units, r.maps["edge"].long_name) == ("eV", "edge energy")
    assert_array_equal(r.stacks["aligned"].data, pr.stacks["aligned"].data)
    assert_allclose(r.stacks["aligned"].pixel_size, pr.stacks["aligned"].pixel_size)
    assert r.stacks["aligned"].attrs["sample"] == "nmc811"
    assert r.stacks["volume"].dims == ("energy", "plane", "row", "col")
    assert r.stacks["volume"].kind == "absorption"
    assert_array_equal(r.labels["crystals"], pr.labels["crystals"])
    assert_array_equal(r.labels["high_ox"].astype(bool), pr.labels["high_ox"])
    assert list(r.tables["shifts"]) == ["row", "col", "energy"]
    assert_allclose(r.tables["shifts"]["col"], pr.tables["shifts"]["col"])
    assert r.parameters == pr.parameters | {"fit": {**pr.parameters["fit"]}}
    assert r.parameters["fit"]["window"] == [8330, 8360]
    assert r.inputs == pr.inputs
    assert [x["stage"] for x in r.provenance] == ["align", "fit"]
    assert r.provenance == pr.provenance


def test_lazy_stacks_and_resave_over_itself(tmp_path):
    p = save_project(tmp_path / "p.h5", _project())
    r = load_project(p)
    assert isinstance(r.stacks["aligned"].data, h5py.Dataset)
    want = np.asarray(r.stacks["aligned"].data[()])
    r.maps["new"] = MapData(np.ones((2, 2)), 1e-8, "new")
    save_project(p, r, overwrite=True)  # reads lazily from the file it replaces
    r2 = load_project(p, lazy=False)
    assert "new" in r2.maps
    assert_array_equal(r2.stacks["aligned"].data, want)


def test_default_plot_chain(tmp_path):
    p = save_project(tmp_path / "p.h5", _project())
    with h5py.File(p) as f:
        entry = f[f.attrs["default"]]
        g = entry[entry.attrs["default"]]
        assert g.attrs["NX_class"] == "NXdata" and g.name == "/entry/valence"
        assert list(g.attrs["axes"]) == ["y", "x"]
        assert_allclose(g["x"][:3], [0, 3e-8, 6e-8])
        assert g["x"].attrs["units"] == "m"
        assert entry.attrs["saved_software"] == "ptyxanes"
        assert "process_align" in entry and "process_fit" in entry


def test_failed_save_leaves_old_file(tmp_path):
    p = save_project(tmp_path / "p.h5", _project())
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    bad = _project()
    bad.stacks["aligned"].data[1, 2, 3] = np.nan  # detected mid-write
    with pytest.raises(ValueError, match="NaN"):
        save_project(p, bad, overwrite=True)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before
    assert sorted(os.listdir(tmp_path)) == ["p.h5"]  # no temporary left
    with pytest.raises(FileExistsError):
        save_project(p, _project())


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda pr: pr.maps.update(stacks=MapData(np.ones((2, 2)), 1e-8)), "reserved"),
        (lambda pr: pr.maps.update({"a/b": MapData(np.ones((2, 2)), 1e-8)}), "name"),
        (lambda pr: pr.maps.update(m=MapData(np.ones(4), 1e-8)), "(M, N)"),
        (lambda pr: pr.maps.update(m=MapData(np.ones((2, 2)), 0.0)), "pixel_size"),
        (lambda pr: pr.tables.update(t={"a": np.ones(2), "b": np.ones(3)}), "differ in length"),
        (lambda pr: pr.labels.update(l=np.ones((2, 2))), "integers"),
    ],
)
def test_bad_projects_rejected(tmp_path, mutate, problem):
    pr = _project()
    mutate(pr)
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        save_project(tmp_path / "p.h5", pr)
    assert not any(tmp_path.iterdir())


def test_bad_files(tmp_path):
    txt = tmp_path / "a.h5"
    txt.write_text("hello")
    with pytest.raises(FormatError, match="not an HDF5 file"):
        load_project(txt)
    stackfile = write_stack(
        tmp_path / "s.h5",
        ImageStack(
            np.ones((2, 3, 3), np.float32), np.array([1e4, 2e4]), np.ones(2), kind="modulus"
        ),
    )
    with pytest.raises(FormatError, match="not a ptyxanes project"):
        load_project(stackfile)
    p = save_project(tmp_path / "p.h5", _project())
    with h5py.File(p, "a") as f:
        del f["entry/valence/data"]
        f["entry/parameters/fit"][...] = "{not json"
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    with pytest.raises(FormatError, match="missing dataset /entry/valence/data") as err:
        load_project(p)
    assert str(p) in str(err.value)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before
    p2 = save_project(tmp_path / "p2.h5", _project())
    with h5py.File(p2, "a") as f:
        del f["entry/parameters/fit"]
        f["entry/parameters/fit"] = "{not json"
    with pytest.raises(FormatError, match="not valid JSON"):
        load_project(p2)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(Path(p2).read_bytes()[:4000])
    with pytest.raises(FormatError, match="truncated|corrupt"):
        load_project(cut)
