"""Log panel: the application's log records, shown as they arrive."""

from __future__ import annotations

import logging

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

logger = logging.getLogger(__name__)


class _Emitter(QObject):
    record = Signal(str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards formatted records through a Qt signal (thread-safe)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.emitter = _Emitter()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                            "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.emitter.record.emit(self.format(record))
        except RuntimeError:  # emitter deleted at shutdown
            pass


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
