"""The Log panel's presenter: the ``ptyxanes`` and ``ptyxanes_gui`` loggers' records,
from any thread, appended to the panel on the GUI thread."""

from __future__ import annotations

import logging

from qtpy.QtCore import QObject, Signal

from ptyxanes_gui.panels.log import LogPanel

logger = logging.getLogger(__name__)

#: the loggers whose records the panel shows
LOGGERS = ("ptyxanes", "ptyxanes_gui")


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


class LogPresenter:
    """Show the application's log records (INFO and above) in a Log panel.

    Parameters
    ----------
    panel : LogPanel
    """

    def __init__(self, panel: LogPanel) -> None:
        self.panel = panel
        self.handler = QtLogHandler()
        self.handler.emitter.record.connect(panel.append)
        for name in LOGGERS:
            lg = logging.getLogger(name)
            lg.addHandler(self.handler)
            if lg.getEffectiveLevel() > logging.INFO:
                lg.setLevel(logging.INFO)

    def close(self) -> None:
        """Stop forwarding records (the window closes)."""
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)
