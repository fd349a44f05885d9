"""The demo opens with valence maps ready: every sample is fitted on first build and cached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ptyxanes.cli import main
from ptyxanes.io.project import load_project
from ptyxanes.simulate import demo, twin


@pytest.fixture
def tiny_demo(monkeypatch):
    """The demo at the tiny size (same build and fit, a fraction of the time)."""
    def fake(dim, size, cycles, level, outdir, seed=0, control=None):
        return twin.simulate(dim, "tiny", cycles, level, outdir, seed, control=control)

    monkeypatch.setattr(demo, "simulate", fake)


@pytest.mark.slow
def test_demo_samples_are_fitted_with_their_own_references(tmp_path, tiny_demo):
    root = demo.ensure_demo(tmp_path)
    index = json.loads((root / "demo.json").read_text())
    fitted = []
    for name in demo.DEMO_SAMPLES:
        proj = load_project(root / name / demo.RESULT_NAME)
        v = np.asarray(proj.maps["oxidation_state"].data, float)
        w = np.asarray(proj.maps["edge_jump"].data, float)
        ok = np.isfinite(v) & np.isfinite(w) & (w > 0)
        assert ok.sum() >= 10  # the tiny twin: a few dozen Ni pixels
        fitted.append(float(np.average(v[ok], weights=w[ok])))
        info = proj.parameters["sample"]
        assert info["name"] == demo.demo_sample_name(name)
        # the references are the sample's own, recorded where the demo now lives
        refs = [Path(f) for _v, f in info["references"]]
        assert {v for v, _f in info["references"]} >= {2.0, 3.0}
        assert all(f.is_file() and f.parent == root / name / "references" for f in refs)
        assert proj.stacks[name].data.shape[1:] == v.shape  # the stack travels with the maps
    # the cached maps are what `ptyxanes fit` gives with the sample's own references
    refs = load_project(root / "cycles_200" / demo.RESULT_NAME).parameters["sample"]["references"]
    out = tmp_path / "cli.h5"
    args = ["fit", str(root / "cycles_200" / "stack.nxs"), "-o", str(out), "-q"]
    for v, f in refs:
        args += ["--ref", f"{v}:{f}"]
    assert main(args) == 0
    cli = load_project(out).maps["oxidation_state"].data
    cached = load_project(root / "cycles_200" / demo.RESULT_NAME).maps["oxidation_state"].data
    np.testing.assert_array_equal(cached, cli)
    assert len(fitted) == 4 and index["version"] == demo.DEMO_VERSION
