"""Screenshot of File ▸ Import… previewing the real ALS STXM stack (docs/images/import_dialog.png).

Run under a 1366×768 X server::

    xvfb-run -s "-screen 0 1366x768x24" python tools/screenshot_import_dialog.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from qtpy.QtCore import QEventLoop, QTimer
from qtpy.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
STXM = ROOT.parent / "shared" / "data" / "stxm_fe_L_edge_als_stack" / "71214078_aligned"


def main() -> int:
    app = QApplication(sys.argv)
    from ptyxanes_gui.dialogs import ImportDialog

    dlg = ImportDialog(start_dir=STXM.parent)
    dlg.show()
    loop = QEventLoop()
    dlg.preview_ready.connect(loop.quit)
    dlg.failed.connect(loop.quit)
    t = time.perf_counter()
    dlg.set_sources([STXM])
    blocked = (time.perf_counter() - t) * 1e3
    QTimer.singleShot(120_000, loop.quit)
    loop.exec()
    dlg.move(0, 0)
    dlg.energy_table.scrollToTop()
    for _ in range(20):  # let the table lay out and paint before grabbing the screen
        app.processEvents()
        time.sleep(0.02)

    screen = app.primaryScreen().geometry()
    frame = dlg.frameGeometry()
    out = ROOT / "docs" / "images" / "import_dialog.png"
    app.primaryScreen().grabWindow(0).save(str(out))
    sys.stderr.write(f"set_sources returned in {blocked:.1f} ms; screen {screen.width()}x"
                     f"{screen.height()}, dialog {frame.width()}x{frame.height()}; "
                     f"message: {dlg.message()!r}; wrote {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
