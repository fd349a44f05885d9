"""The About dialog: installed version, licence, how it was installed, dependencies' versions.

Open it with :func:`show_about`; :func:`about_info` gathers the same facts
without Qt (they also serve bug reports: **Copy** puts them on the clipboard
as plain text).
"""

from __future__ import annotations

import logging
import platform
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, metadata, version
from pathlib import Path

logger = logging.getLogger(__name__)

#: Distributions whose versions the dialog lists, in this order.
DEPENDENCIES: tuple[str, ...] = (
    "numpy", "scipy", "h5py", "numba", "llvmlite", "scikit-image", "astra-toolbox",
    "tifffile", "matplotlib", "PyQt6", "PyQt6-Qt6", "qtpy", "superqt", "pyqtgraph",
    "napari", "vispy",
)
DOCS_URL = "https://github.com/ptyxanes/ptyxanes/blob/main/README.md"


@dataclass(frozen=True)
class AboutInfo:
    """What the About dialog shows.

    Attributes
    ----------
    version : str
        Installed ptyxanes version.
    licence : str
        SPDX licence expression of ptyxanes.
    installation : str
        ``"desktop application"`` (a frozen bundle) or ``"Python package"``.
    location : str
        Folder of the application or of the ``ptyxanes`` package.
    python : str
        Python version and platform.
    dependencies : tuple of (str, str)
        (distribution, version or ``"not installed"``).
    """

    version: str
    licence: str
    installation: str
    location: str
    python: str
    dependencies: tuple[tuple[str, str], ...]

    def as_text(self) -> str:
        """Plain-text form, one fact per line (for bug reports)."""
        lines = [f"ptyxanes {self.version}", f"licence: {self.licence}",
                 f"installed as: {self.installation} ({self.location})",
                 f"Python: {self.python}"]
        lines += [f"{name}: {ver}" for name, ver in self.dependencies]
        return "\n".join(lines)


def _version_of(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def about_info() -> AboutInfo:
    """Collect the installed version, licence and dependencies' versions.

    Returns
    -------
    info : AboutInfo
    """
    import ptyxanes

    try:
        meta = metadata("ptyxanes")
        licence = meta.get("License-Expression") or meta.get("License") or "see LICENSE"
    except PackageNotFoundError:
        licence = "BSD-3-Clause"
    frozen = bool(getattr(sys, "frozen", False))
    location = (Path(sys.executable).resolve().parent if frozen
                else Path(ptyxanes.__file__).resolve().parent)
    return AboutInfo(
        version=ptyxanes.__version__,
        licence=licence,
        installation="desktop application" if frozen else "Python package",
        location=str(location),
        python=f"{platform.python_version()} on {platform.platform(terse=True)}",
        dependencies=tuple((d, _version_of(d)) for d in DEPENDENCIES),
    )


def _icon_path() -> Path | None:
    try:
        from ptyxanes.resources import resource_path

        return resource_path("icons", "ptyxanes_128.png")
    except FileNotFoundError:
        return None


def application_icon():
    """The application's icon in every shipped size (window title bars, task bars, docks).

    Returns
    -------
    icon : QIcon
        Null (``isNull()``) when the icons folder is missing.
    """
    from qtpy.QtCore import QSize
    from qtpy.QtGui import QIcon

    icon = QIcon()
    try:
        from ptyxanes.resources import resources_dir

        folder = resources_dir() / "icons"
    except FileNotFoundError:
        return icon
    for png in sorted(folder.glob("ptyxanes_*.png")):
        size = int(png.stem.rsplit("_", 1)[1])
        icon.addFile(str(png), QSize(size, size))
    return icon


def about_text() -> str:
    """Versions and the compute path as short HTML (the main window's summary)."""
    import h5py
    import numpy as np
    import pyqtgraph
    import superqt
    from qtpy import QT_VERSION

    import ptyxanes
    from ptyxanes.backend import describe_compute

    versions = [f"ptyxanes {getattr(ptyxanes, '__version__', '?')}",
                f"Python {platform.python_version()}", f"NumPy {np.__version__}",
                f"h5py {h5py.__version__}", f"Qt {QT_VERSION}",
                f"pyqtgraph {pyqtgraph.__version__}", f"superqt {superqt.__version__}"]
    try:
        import napari

        versions.append(f"napari {napari.__version__}")
    except Exception:
        pass
    return ("<b>ptyxanes</b> — X-ray spectro-ptychography to Ni oxidation-state maps.<br>"
            + "<br>".join(versions)
            + f"<br>compute: {describe_compute()}"
            + f'<br><a href="{DOCS_URL}">Documentation</a>')


def make_about_dialog(parent=None):
    """Build (not show) the About dialog.

    Parameters
    ----------
    parent : QWidget, optional

    Returns
    -------
    dialog : QDialog
        With child widgets named ``about_version`` (QLabel), ``about_dependencies``
        (QTableWidget) and ``about_copy`` (QPushButton).
    """
    from qtpy.QtCore import Qt
    from qtpy.QtGui import QGuiApplication, QPixmap
    from qtpy.QtWidgets import (
        QDialog,
        QDialogButtonBox,
        QHBoxLayout,
        QHeaderView,
        QLabel,
        QTableWidget,
        QTableWidgetItem,
        QVBoxLayout,
    )

    info = about_info()
    dlg = QDialog(parent)
    dlg.setWindowTitle("About ptyxanes")
    dlg.setWindowIcon(application_icon())
    dlg.setObjectName("about_dialog")
    top = QHBoxLayout()
    icon = _icon_path()
    if icon is not None:
        pic = QLabel()
        pic.setPixmap(QPixmap(str(icon)).scaled(
            96, 96, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))
        top.addWidget(pic, 0, Qt.AlignmentFlag.AlignTop)
    head = QLabel(
        f"<h2>ptyxanes {info.version}</h2>"
        "X-ray spectro-ptychography to nanoscale Ni oxidation-state maps.<br>"
        f"Licence: {info.licence}<br>"
        f"Installed as: {info.installation}<br><small>{info.location}</small><br>"
        f"Python {info.python}<br>"
        f'<a href="{DOCS_URL}">Documentation</a>')
    head.setObjectName("about_version")
    head.setTextFormat(Qt.TextFormat.RichText)
    head.setOpenExternalLinks(True)
    head.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    top.addWidget(head, 1)

    table = QTableWidget(len(info.dependencies), 2)
    table.setObjectName("about_dependencies")
    table.setHorizontalHeaderLabels(["package", "version"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, (name, ver) in enumerate(info.dependencies):
        table.setItem(row, 0, QTableWidgetItem(name))
        table.setItem(row, 1, QTableWidgetItem(ver))
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
    copy.setObjectName("about_copy")
    copy.setToolTip("Copy the version and dependency list (for a bug report)")
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(info.as_text()))
    buttons.rejected.connect(dlg.reject)

    lay = QVBoxLayout(dlg)
    lay.addLayout(top)
    lay.addWidget(table)
    lay.addWidget(buttons)
    dlg.resize(460, 520)
    return dlg


def show_about(parent=None):
    """Open the About dialog (window-modal, non-blocking) and return it.

    Parameters
    ----------
    parent : QWidget, optional

    Returns
    -------
    dialog : QDialog
    """
    dlg = make_about_dialog(parent)
    dlg.open()
    return dlg
