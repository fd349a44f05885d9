"""Settings ▸ Compute…: run the long stages in this process, on local Dask workers or on a
Dask scheduler.

Three choices: *In this process* (the default), *Local workers* (a number of
worker processes on this machine and the memory of each) and *Existing
scheduler* (its address, e.g. one started by dask-jobqueue on a SLURM
cluster, and a folder the workers can read). *Test connection* connects in a
worker thread and shows the Dask dashboard as a link, or one line saying why
it failed. OK applies the choice (kept in the settings and on the document).
"""

from __future__ import annotations

import html
import logging
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ptyxanes_gui.presenters.compute_presenter import ComputeChoice

logger = logging.getLogger(__name__)


class ComputeDialog(QDialog):
    """Edit a :class:`~ptyxanes_gui.presenters.compute_presenter.ComputeChoice`.

    Parameters
    ----------
    choice : ComputeChoice
        Shown at first.
    presenter : ComputePresenter, optional
        Runs *Test connection* (without one the button is hidden).
    parent : QWidget, optional

    Signals
    -------
    tested(bool) : a connection test ended (True: connected)
    """

    tested = Signal(bool)

    def __init__(self, choice: ComputeChoice, presenter: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compute_dialog")
        self.setWindowTitle("Compute")
        self.presenter = presenter
        self.testing = False
        self.setMinimumWidth(480)
        lay = QVBoxLayout(self)
        intro = QLabel("Where the reconstruction, registration, fit and tomography run. "
                       "Results are the same everywhere; Dask splits a stage into tasks (one "
                       "per scan, per energy, or per block of rows) that run in parallel.")
        intro.setWordWrap(True)
        lay.addWidget(intro)

        self.group = QButtonGroup(self)
        self.mode_buttons: dict[str, QRadioButton] = {}
        texts = {"inprocess": "In this process (default)",
                 "local": "Local workers (Dask, on this machine)",
                 "scheduler": "Existing Dask scheduler (a cluster)"}
        forms: dict[str, QFormLayout] = {}
        for mode, text in texts.items():
            rb = QRadioButton(text)
            rb.setObjectName(f"compute_{mode}")
            self.group.addButton(rb)
            self.mode_buttons[mode] = rb
            lay.addWidget(rb)
            form = QFormLayout()
            form.setContentsMargins(24, 0, 0, 4)
            forms[mode] = form
            lay.addLayout(form)

        self.workers = QSpinBox()
        self.workers.setRange(1, 512)
        self.workers.setToolTip("Worker processes, one thread each")
        self.memory = QLineEdit()
        self.memory.setToolTip("Memory of each worker (Dask pauses a worker at 80 % of it, "
                               "restarts it at 95 %), e.g. 4GiB")
        forms["local"].addRow("Workers", self.workers)
        forms["local"].addRow("Memory per worker", self.memory)

        self.address = QLineEdit()
        self.address.setPlaceholderText("tcp://10.0.0.5:8786")
        self.shared = QLineEdit()
        self.shared.setPlaceholderText("the system's temporary folder")
        self.shared.setToolTip("The workers read the stacks from here: it must be on a file "
                               "system every worker sees")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse_shared)
        shared_row = QHBoxLayout()
        shared_row.addWidget(self.shared)
        shared_row.addWidget(browse)
        forms["scheduler"].addRow("Address", self.address)
        forms["scheduler"].addRow("Shared folder", shared_row)
        self._mode_widgets = {"local": [self.workers, self.memory],
                              "scheduler": [self.address, self.shared, browse]}

        test_row = QHBoxLayout()
        self.test_btn = QPushButton("Test connection")
        self.test_btn.setToolTip("Start the workers or reach the scheduler (in the background) "
                                 "and show the Dask dashboard")
        self.test_btn.clicked.connect(self.test_connection)
        self.message = QLabel()
        self.message.setObjectName("compute_message")
        self.message.setWordWrap(True)
        self.message.setOpenExternalLinks(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        test_row.addWidget(self.test_btn)
        test_row.addStretch(1)
        lay.addLayout(test_row)
        lay.addWidget(self.message)
        self.test_btn.setVisible(presenter is not None)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

        self.group.buttonToggled.connect(lambda *_: self._update_enabled())
        self.set_choice(choice)
        if presenter is not None:
            presenter.connected.connect(self._on_connected)
            presenter.connection_failed.connect(self._on_failed)

    # ---------------------------------------------------------------- values
    def set_choice(self, choice: ComputeChoice) -> None:
        """Show ``choice`` in the widgets."""
        self.mode_buttons[choice.mode].setChecked(True)
        self.workers.setValue(int(choice.workers))
        self.memory.setText(choice.memory_limit)
        self.address.setText(choice.scheduler)
        self.shared.setText(choice.shared_dir)
        self._update_enabled()

    def mode(self) -> str:
        """The checked mode (``"inprocess"``, ``"local"``, ``"scheduler"``)."""
        return next(m for m, b in self.mode_buttons.items() if b.isChecked())

    def choice(self) -> ComputeChoice:
        """The choice the widgets hold now."""
        return ComputeChoice(mode=self.mode(), workers=self.workers.value(),
                             memory_limit=self.memory.text().strip(),
                             scheduler=self.address.text().strip(),
                             shared_dir=self.shared.text().strip())

    def _update_enabled(self) -> None:
        mode = self.mode()
        for m, widgets in self._mode_widgets.items():
            for w in widgets:
                w.setEnabled(m == mode)
        self.test_btn.setEnabled(mode != "inprocess" and not self.testing)
        self.message.setText("")

    def _browse_shared(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder the Dask workers can read",
                                                  self.shared.text())
        if folder:
            self.shared.setText(folder)

    def accept(self) -> None:
        """Apply only a valid choice; else say what is wrong."""
        try:
            self.choice().backend()
        except ValueError as exc:
            self._on_failed(str(exc))
            return
        super().accept()

    # ---------------------------------------------------------------- test
    def test_connection(self) -> None:
        """Connect to the choice shown (in a worker thread); the result appears below."""
        if self.presenter is None:
            return
        self.testing = True
        self.test_btn.setEnabled(False)
        choice = self.choice()
        self.message.setText(html.escape(
            "starting the workers…" if choice.mode == "local" else
            f"connecting to {choice.scheduler or '?'}…"))
        self.presenter.test_connection(choice)

    def _end_test(self) -> None:
        self.testing = False
        self.test_btn.setEnabled(self.mode() != "inprocess")

    def _on_connected(self, link: str) -> None:
        if not self.testing:
            return
        self._end_test()
        if link:
            self.message.setText(f'Connected. Dashboard: <a href="{html.escape(link)}">'
                                 f'{html.escape(link)}</a>')
        else:
            self.message.setText("Connected (no dashboard).")
        self.tested.emit(True)

    def _on_failed(self, message: str) -> None:
        was_testing = self.testing
        self._end_test()
        line = " ".join(str(message).split())
        self.message.setText(f'<span style="color:#b00020">{html.escape(line)}</span>')
        if was_testing:
            self.tested.emit(False)

    def dashboard_link(self) -> str:
        """The link shown after a successful test ("" otherwise)."""
        import re

        m = re.search(r'href="([^"]+)"', self.message.text())
        return html.unescape(m.group(1)) if m else ""
