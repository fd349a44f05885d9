"""Screenshot of Settings ▸ Compute… after *Test connection* started two local Dask workers
(docs/images/compute_dialog.png).

Run under an X server (the dashboard link is a free local port)::

    xvfb-run -s "-screen 0 1366x768x24" python tools/screenshot_compute_dialog.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from qtpy.QtCore import QEventLoop, QSettings, QTimer
from qtpy.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    app = QApplication(sys.argv)
    from ptyxanes_gui.dialogs.compute_dialog import ComputeDialog
    from ptyxanes_gui.presenters.compute_presenter import ComputeChoice, ComputePresenter

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        presenter = ComputePresenter(settings)
        dlg = ComputeDialog(ComputeChoice(mode="local", workers=2, memory_limit="2GiB"),
                            presenter)
        dlg.show()
        loop = QEventLoop()
        dlg.tested.connect(loop.quit)
        dlg.test_connection()
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
        for _ in range(20):  # lay out and paint the link before grabbing
            app.processEvents()
            time.sleep(0.02)
        out = ROOT / "docs" / "images" / "compute_dialog.png"
        dlg.grab().save(str(out))
        sys.stderr.write(f"message: {dlg.message.text()!r}; wrote {out}\n")
        presenter.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
