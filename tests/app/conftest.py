"""pytest-qt fixtures for the GUI tests.

Plain-widget tests run with ``QT_QPA_PLATFORM=offscreen`` unless a display is
set (pytest-xvfb sets DISPLAY for the napari tests, which need OpenGL/xcb).
Settings go to a temporary .ini, never the user's.
"""

from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    # after pytest-xvfb has set DISPLAY (this conftest may be imported before it starts Xvfb)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def settings_path(tmp_path, monkeypatch):
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("PTYXANES_SETTINGS", str(path))
    return path


@pytest.fixture
def tiny_stack_file(tmp_path):
    """A tiny complex transmission stack whose valence field is known (engine's model)."""
    return make_stack_file(tmp_path / "tiny.h5", cycles_name="tiny sample")


def make_stack_file(path, cycles_name="sample", shape=(24, 32), seed=0):
    from ptyxanes.io.nexus import write_stack
    from ptyxanes.io.stack import ImageStack
    from ptyxanes.simulate.spectra import normalized_mu

    rng = np.random.default_rng(seed)
    energy = np.concatenate([np.arange(8270.0, 8301.0, 15.0), np.arange(8325.0, 8371.0, 1.0),
                             [8400.0, 8420.0]])
    m, n = shape
    rr, cc = np.mgrid[0:m, 0:n]
    inside = ((rr - m / 2) / (m * 0.4)) ** 2 + ((cc - n / 2) / (n * 0.4)) ** 2 < 1
    valence = np.where(inside, 2.0 + 1.4 * cc / (n - 1), np.nan)
    thick = np.where(inside, 1.0, 0.0)
    mu = normalized_mu(energy, np.nan_to_num(valence, nan=2.0))  # (M, N, E)
    absorb = 0.05 + thick[..., None] * (0.3 + 0.5 * mu) + rng.normal(0, 1e-3, mu.shape)
    phase = -0.2 * thick[..., None] * np.ones_like(mu)
    t = np.exp(-absorb + 1j * phase).astype(np.complex64)
    stack = ImageStack(np.moveaxis(t, -1, 0), energy, np.full(energy.size, 40e-9),
                       kind="complex", attrs={"sample": cycles_name})
    write_stack(path, stack)
    return path


@pytest.fixture
def window(qtbot, settings_path):
    from ptyxanes_gui.app import create_window

    w = create_window()
    w.ask_before_close = False  # pytest-qt closes widgets at teardown: no modal question
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    yield w
    dispose(w)


def dispose(w):
    """Close and delete a window deterministically (see ``dispose_window``)."""
    from ptyxanes_gui.app import dispose_window

    w.document.set_dirty(False)  # a test's unsaved work: no question at teardown
    dispose_window(w)


@pytest.fixture(scope="session")
def demo3d_result(tmp_path_factory):
    """The engine's 3D demo result project (tiny 3D twin -> pipeline, ~4 s), built once."""
    from ptyxanes.simulate import demo

    return demo.ensure_demo_3d(tmp_path_factory.mktemp("cache3d"))


@pytest.fixture(scope="session")
def demo_scans(tmp_path_factory):
    """The engine's raw-scan demo (tiny 2D twin as CXI files), built once."""
    from ptyxanes.simulate import demo

    return demo.ensure_demo_scans(tmp_path_factory.mktemp("cachescans"))


@pytest.fixture
def presenter(qtbot):
    """A ProcessingPresenter on its own panel (offscreen); ``current["sample"]`` is what
    Run acts on, ``errors`` collects the readable failure messages."""
    from ptyxanes_gui.panels.processing_panel import ProcessingPanel
    from ptyxanes_gui.presenters.processing_presenter import ProcessingPresenter

    panel = ProcessingPanel()
    qtbot.addWidget(panel)
    current = {"sample": None}
    pres = ProcessingPresenter(panel, lambda: current["sample"])
    errors = []
    pres.stage_failed.connect(lambda _s, msg: errors.append(msg))
    pres.current = current
    pres.errors = errors
    return pres
