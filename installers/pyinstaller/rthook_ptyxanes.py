"""PyInstaller runtime hook: environment of the frozen application.

Runs before any ptyxanes code.  Numba writes its compiled-kernel cache next to
the source files by default, which lie in the read-only install folder of a
frozen application, so the cache goes to a per-user folder instead.  The
shipped references are found under ``<bundle>/share/ptyxanes/resources``.
"""

import os
import sys
from pathlib import Path


def _user_cache_dir() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "ptyxanes" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ptyxanes"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ptyxanes"


_bundle = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
os.environ.setdefault("NUMBA_CACHE_DIR", str(_user_cache_dir() / "numba"))
os.environ.setdefault("PTYXANES_RESOURCES", str(_bundle / "share" / "ptyxanes" / "resources"))
os.environ.setdefault("QT_API", "pyqt6")
# ptyxanes is shipped as .py sources (numba's cache needs them); never write
# __pycache__ folders into the install folder.
sys.dont_write_bytecode = True
