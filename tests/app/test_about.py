"""The About dialog shows the installed version, licence and the dependencies' versions."""

from __future__ import annotations

import sys
from importlib.metadata import metadata
from pathlib import Path

import numpy as np
from ptyxanes_gui import about

import ptyxanes


def test_about_info_versions_come_from_the_installed_packages():
    import h5py

    info = about.about_info()
    assert info.version == ptyxanes.__version__
    deps = dict(info.dependencies)
    # each module's own __version__, independent of importlib.metadata
    assert deps["numpy"] == np.__version__
    assert deps["h5py"] == h5py.__version__
    assert about._version_of("no-such-distribution-ptyxanes") == "not installed"
    assert info.installation == "Python package"
    assert Path(info.location) == Path(ptyxanes.__file__).resolve().parent
    text = info.as_text().splitlines()
    assert text[0] == f"ptyxanes {ptyxanes.__version__}"
    assert f"numpy: {np.__version__}" in text


def test_about_info_in_a_frozen_bundle(tmp_path, monkeypatch):
    exe = tmp_path / "opt" / "ptyxanes" / "ptyxanes"
    exe.parent.mkdir(parents=True)
    exe.touch()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    info = about.about_info()
    assert info.installation == "desktop application"
    assert Path(info.location) == exe.parent.resolve()


def test_about_dialog_shows_version_licence_and_copies_text(qtbot):
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication, QLabel, QPushButton, QTableWidget

    dlg = about.make_about_dialog()
    qtbot.addWidget(dlg)
    head = dlg.findChild(QLabel, "about_version")
    assert f"ptyxanes {ptyxanes.__version__}" in head.text()
    assert f"Licence: {metadata('ptyxanes')['License-Expression']}" in head.text()
    table = dlg.findChild(QTableWidget, "about_dependencies")
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert list(rows) == list(about.DEPENDENCIES)
    assert rows["numpy"] == np.__version__
    QApplication.clipboard().clear()
    qtbot.mouseClick(dlg.findChild(QPushButton, "about_copy"), Qt.MouseButton.LeftButton)
    assert f"numpy: {np.__version__}" in QApplication.clipboard().text().splitlines()


def test_application_icon_has_every_shipped_size(qapp):
    from ptyxanes.resources import resources_dir

    icon = about.application_icon()
    sizes = sorted(s.width() for s in icon.availableSizes())
    files = sorted(int(p.stem.split("_")[1]) for p in (resources_dir() / "icons").glob("ptyxanes_*.png"))
    assert sizes == files and 16 in sizes and 256 in sizes
    assert icon.pixmap(32, 32).width() == 32
