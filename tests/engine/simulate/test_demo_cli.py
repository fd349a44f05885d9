"""Demo cache (atomic, built once) and the ``ptyxanes simulate`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ptyxanes.cli import main
from ptyxanes.io.nexus import read_stack
from ptyxanes.progress import Cancelled, Control
from ptyxanes.simulate import demo, twin


@pytest.fixture
def tiny_demo(monkeypatch):
    """Build the demo at the tiny size so the cache logic is tested in a second."""
    def fake(dim, size, cycles, level, outdir, seed=0, control=None):
        return twin.simulate(dim, "tiny", cycles, level, outdir, seed, control=control)

    monkeypatch.setattr(demo, "simulate", fake)


def test_ensure_demo_builds_once_atomically(tmp_path, tiny_demo):
    root = demo.ensure_demo(tmp_path)
    assert root == tmp_path / f"demo-v{demo.DEMO_VERSION}"
    index = json.loads((root / "demo.json").read_text())
    assert [index["samples"][k]["cycles"] for k in demo.DEMO_SAMPLES] == [0, 200, 350, 500]
    means = [index["samples"][k]["mean_valence"] for k in demo.DEMO_SAMPLES]
    assert np.all(np.diff(means) > 0) and means[0] == pytest.approx(2.3, abs=0.02)
    stacks = demo.demo_stacks(root)
    assert read_stack(stacks["cycles_500"]).kind == "complex"
    stamp = (root / "demo.json").stat().st_mtime_ns
    assert demo.ensure_demo(tmp_path) == root
    assert (root / "demo.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # no temporary leftovers


def test_cancelled_demo_leaves_nothing(tmp_path, tiny_demo):
    c = Control()
    gen = demo.build_demo(tmp_path, control=c)
    next(gen)
    c.cancel()
    with pytest.raises(Cancelled):
        for _ in gen:
            pass
    assert list(tmp_path.iterdir()) == []


def test_default_cache_dir_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert demo.demo_dir() == tmp_path / "ptyxanes" / f"demo-v{demo.DEMO_VERSION}"


def test_cli_simulate_and_refuse_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", "2d", "--size", "tiny", "--cycles", "200", "-o", str(out)]) == 0
    assert (out / "stack.nxs").is_file() and (out / "truth.h5").is_file()
    t = twin.read_truth(out / "truth.h5")
    assert t["attrs"]["cycles"] == 200
    assert main(["simulate", "2d", "--size", "tiny", "-o", str(out)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert twin.read_truth(out / "truth.h5")["attrs"]["cycles"] == 200  # untouched
    assert main(["simulate", "3d", "--size", "tiny", "--seed", "2", "-o", str(out),
                 "--overwrite"]) == 0
    assert read_stack(out / "stack.nxs").is_3d
