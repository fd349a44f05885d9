"""Start the desktop application: ``ptyxanes gui [FILES] [--demo] [--screenshot PNG]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

logger = logging.getLogger(__name__)

ORGANIZATION = "ptyxanes"
APPLICATION = "ptyxanes"


def make_settings():
    """QSettings of the application; ``$PTYXANES_SETTINGS`` (an .ini path) overrides the location."""
    from qtpy.QtCore import QSettings

    path = os.environ.get("PTYXANES_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION,
                     APPLICATION)


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options: row-major images (STYLE §4), antialiased curves."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w",
                        foreground="k")


def _install_excepthook(window) -> None:
    def hook(etype, value, tb):
        text = "".join(traceback.format_exception(etype, value, tb))
        logger.error("unexpected error:\n%s", text)
        if window is not None:
            window.show_error("Unexpected error", f"{etype.__name__}: {value}")

    sys.excepthook = hook


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError as exc:
        raise SystemExit(f"ptyxanes gui: --size must be WxH, e.g. 1400x900 (got {text!r})") from exc
    return w, h


def create_window(settings=None):
    """Create (not show) a MainWindow with pyqtgraph configured; a QApplication must exist."""
    configure_pyqtgraph()
    from ptyxanes_gui.main_window import MainWindow

    return MainWindow(settings if settings is not None else make_settings())


def run_gui(args: argparse.Namespace) -> int:
    """Run the application.

    Parameters
    ----------
    args : argparse.Namespace
        ``files`` (list of str), ``demo`` (bool), ``screenshot`` (str or None), ``size`` (WxH).

    Returns
    -------
    code : int
        Exit status (1 when a ``--screenshot`` could not be made).
    """
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    screenshot = getattr(args, "screenshot", None)
    if screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    from ptyxanes_gui.about import application_icon

    app.setWindowIcon(application_icon())  # title bars, task bar, dialogs
    window = create_window()
    _install_excepthook(window)
    # Let Ctrl+C in the terminal reach Python while Qt's loop runs.
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    timer = QTimer()
    timer.start(250)
    timer.timeout.connect(lambda: None)

    if screenshot:
        window.resize(*_parse_size(getattr(args, "size", "1400x900")))
    elif not window.settings.contains("window/geometry"):
        fit_to_screen(window)
    window.show()
    if screenshot:  # not interactive: build and open synchronously, then draw
        if getattr(args, "demo", False):
            from ptyxanes_gui.presenters import opening

            window.open_paths([str(opening.ensure_demo())], title="Demo: simulated NMC811",
                              recent=False)
        if args.files:
            window.open_paths(list(args.files))
        return _screenshot(app, window, Path(screenshot))

    def start() -> None:  # once the event loop runs: the window paints while data load
        window.offer_recovery()
        if getattr(args, "demo", False):
            window.open_demo()
        if args.files:
            window.open_paths(list(args.files))
    QTimer.singleShot(0, start)
    return app.exec()


def fit_to_screen(window, preferred: tuple[int, int] = (1400, 900)) -> None:
    """Size the window to ``preferred`` or the screen's free area, whichever is smaller."""
    screen = window.screen() if hasattr(window, "screen") else None
    if screen is None:
        window.resize(*preferred)
        return
    avail = screen.availableGeometry()
    window.resize(min(preferred[0], avail.width()), min(preferred[1], avail.height()))


def prepare_showcase(window) -> None:
    """Put the window in a telling state for a screenshot: valence map, a pixel, a range.

    Samples without results are fitted first (synchronously: a screenshot is
    not interactive).
    """
    from ptyxanes.progress import run_sync
    from ptyxanes_gui.presenters import stage_jobs

    s = window.current_sample()
    if s is None:
        return
    for smp in window.samples:
        if smp.stack is not None and "valence" not in smp.maps:
            try:
                stage_jobs.apply_stage_result("fit", smp, run_sync(stage_jobs.fit_job(smp)))
            except (ValueError, FileNotFoundError) as exc:
                logger.warning("fit of %s failed: %s", smp.name, exc)
    window.select_sample(window.current)
    if len(window.samples) > 1:
        window.data_panel.select(len(window.samples) - 2)
        s = window.current_sample()
    if "valence" in s.maps:
        window.image_panel.set_channel("valence")
    else:
        mid = s.stack.n_energies // 2 if s.stack is not None else 0
        window.image_panel.slider.setValue(mid)
    m, n = s.shape
    img = getattr(window, "displayed_image", None)
    row, col = m // 2, n // 2
    if img is not None:
        import numpy as np

        # a pixel inside the sample: high absorption (or any valid valence)
        finite = np.argwhere(np.isfinite(img) & (img >= np.nanpercentile(img, 60)))
        if len(finite):
            row, col = (int(x) for x in finite[len(finite) // 2])
    window.show_pixel_spectrum(row, col)
    window.processing_panel.show_stage("fit")  # the form a user of the demo meets first


def dispose_window(window) -> None:
    """Close and delete a window now, then collect garbage while nothing paints.

    pyqtgraph items that Python's garbage collector frees later, in the middle
    of another widget's paint, can crash the process; deleting them
    deterministically avoids that (matters when the app runs inside a host
    process such as a test session).
    """
    import gc

    from qtpy.QtCore import QCoreApplication, QEvent
    from qtpy.QtWidgets import QApplication

    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    gc.collect()


def _screenshot(app, window, path: Path) -> int:
    prepare_showcase(window)
    for _ in range(5):
        app.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(path), "PNG")
    dispose_window(window)
    if not ok:
        logger.error("could not write the screenshot %s", path)
        return 1
    logger.info("screenshot written to %s", path)
    return 0
