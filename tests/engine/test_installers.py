"""The installers' files agree with the repository: every path the PyInstaller spec
names exists, the .desktop entry runs the project's console script and names icons
that exist in every size the Linux packages install, and the frozen layout (spec
datas target + runtime hook) lets ``ptyxanes.resources`` find the shipped references.
"""

from __future__ import annotations

import ast
import configparser
import re
import runpy
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "installers" / "pyinstaller" / "ptyxanes.spec"
DESKTOP = ROOT / "resources" / "ptyxanes.desktop"
RTHOOK = ROOT / "installers" / "pyinstaller" / "rthook_ptyxanes.py"


def _spec_paths() -> tuple[dict[str, Path], ast.Module]:
    """Evaluate the spec's top-level ``NAME = <Path expression>`` assignments."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    env: dict[str, Path] = {}
    ns = {"Path": Path, "SPECPATH": str(SPEC.parent)}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            if names and names <= set(ns) | set(env):
                value = eval(compile(ast.Expression(node.value), str(SPEC), "eval"),
                             {**ns, **env})
                if isinstance(value, Path):
                    env[node.targets[0].id] = value
    return env, tree


def _hicolor_sizes(script: Path) -> list[int]:
    m = re.search(r"(?:for s in |sizes=\")([\d ]+)", script.read_text(encoding="utf-8"))
    assert m, f"{script} has no icon size loop"
    return [int(s) for s in m.group(1).split()]


def test_spec_names_existing_files():
    paths, tree = _spec_paths()
    assert paths["ROOT"] == ROOT
    for name in ("RESOURCES", "ICON_PNG", "ICON_ICO"):
        assert paths[name].exists(), f"{name} = {paths[name]} does not exist"
    # scripts and runtime hooks: HERE / "<file>"
    here_files = [n.right.value for n in ast.walk(tree)
                  if isinstance(n, ast.BinOp) and isinstance(n.left, ast.Name)
                  and n.left.id == "HERE" and isinstance(n.right, ast.Constant)]
    assert "ptyxanes_main.py" in here_files and "rthook_ptyxanes.py" in here_files
    for f in here_files:
        assert (SPEC.parent / f).is_file(), f"spec names missing {f}"


def test_desktop_entry_runs_console_script_and_icons_exist():
    from PIL import Image

    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(DESKTOP, encoding="utf-8")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    exec_words = entry["Exec"].split()
    assert exec_words[0] in scripts and exec_words[1] == "gui"
    assert entry["Categories"].endswith(";")
    icon = entry["Icon"]
    sizes = _hicolor_sizes(ROOT / "installers" / "build.sh")
    assert sizes == _hicolor_sizes(ROOT / "installers" / "linux" / "user-install.sh")
    for s in sizes:
        png = ROOT / "resources" / "icons" / f"{icon}_{s}.png"
        with Image.open(png) as im:
            assert im.size == (s, s), f"{png.name} is {im.size}"
            assert im.mode == "RGBA"
            # transparent corners (rounded tile), opaque centre
            assert im.getpixel((0, 0))[3] < 32 and im.getpixel((s // 2, s // 2))[3] == 255
    with Image.open(ROOT / "resources" / "icons" / f"{icon}.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])


def test_frozen_layout_finds_shipped_references(tmp_path, monkeypatch):
    from ptyxanes.resources import resource_path

    # Where the spec puts resources/ inside the bundle.
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    targets = [n.elts[1].value for n in ast.walk(tree)
               if isinstance(n, ast.Tuple) and len(n.elts) == 2
               and isinstance(n.elts[0], ast.Call) and ast.unparse(n.elts[0]) == "str(RESOURCES)"]
    assert len(targets) == 1
    bundle = tmp_path / "bundle"
    (bundle / targets[0]).parent.mkdir(parents=True)
    (bundle / targets[0]).symlink_to(ROOT / "resources", target_is_directory=True)
    for var in ("PTYXANES_RESOURCES", "NUMBA_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    monkeypatch.setattr(sys, "platform", "linux")
    runpy.run_path(str(RTHOOK))
    import os

    assert Path(os.environ["NUMBA_CACHE_DIR"]) == tmp_path / "cache" / "ptyxanes" / "numba"
    ref = resource_path("references", "NiO_pyxas.txt")
    assert ref.parent.parent == bundle / targets[0]
    assert ref.read_bytes() == (ROOT / "resources" / "references" / "NiO_pyxas.txt").read_bytes()


@pytest.mark.parametrize("script", ["build.sh", "test.sh", "linux/user-install.sh",
                                    "linux/postinst", "linux/postrm", "linux/ptyxanes.sh"])
def test_installer_scripts_parse(script):
    import shutil
    import subprocess

    sh = shutil.which("bash")
    if sh is None:
        pytest.skip("no bash")
    r = subprocess.run([sh, "-n", str(ROOT / "installers" / script)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
