"""The engine stays headless: nothing under src/ptyxanes imports a GUI toolkit."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = {"PyQt6", "PyQt5", "PySide6", "PySide2", "qtpy", "superqt", "pyqtgraph", "napari", "vispy"}
ENGINE = Path(__file__).resolve().parents[2] / "src" / "ptyxanes"


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                roots.add(node.args[0].value.split(".")[0])
    return roots


def test_scanner_catches_a_gui_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from qtpy.QtWidgets import QWidget\n    import napari.layers\n")
    assert _imported_roots(bad) & FORBIDDEN == {"qtpy", "napari"}


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE)))
def test_engine_module_imports_no_gui(path):
    bad = _imported_roots(path) & FORBIDDEN
    assert not bad, f"{path} imports GUI modules {sorted(bad)}"


def test_cli_version_without_gui_modules():
    code = (
        "import sys\n"
        "from ptyxanes.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ptyxanes" in out.stdout
