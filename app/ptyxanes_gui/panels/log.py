"""Log panel: the application's log records, shown as they arrive (the records come
through :class:`~ptyxanes_gui.presenters.log_presenter.LogPresenter`)."""

from __future__ import annotations

import logging

from qtpy.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

logger = logging.getLogger(__name__)


class LogPanel(QWidget):
    """Read-only view of log messages."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("log_panel")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(5000)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.text)

    def append(self, line: str) -> None:
        """Add a line; follow the newest line unless the user scrolled up to read."""
        bar = self.text.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 2
        self.text.appendPlainText(line)
        if following:
            bar.setValue(bar.maximum())
