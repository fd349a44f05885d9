#!/usr/bin/env bash
# Install everything ptyxanes needs on a Debian machine with Python 3.11, then
#   bash tools/bootstrap.sh run   -> open the main window on the built-in demo data
#   bash tools/bootstrap.sh test  -> run the whole test suite
# Idempotent: a second run reuses .venv and installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
shift || true

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY="$c"; break; fi
  done
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "ptyxanes needs Python >= 3.11"'

# Debian packages for PyQt6 + napari (OpenGL through Mesa) and a virtual display for tests.
DEB_PKGS="xvfb xauth libgl1 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-randr0
libfontconfig1 libdbus-1-3"
if command -v dpkg >/dev/null 2>&1; then
  missing=""
  for p in $DEB_PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "bootstrap: installing Debian packages:$missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      echo "bootstrap: please install these Debian packages (as root):$missing" >&2
    fi
  fi
fi

make_venv() {  # make_venv DIR EXTRAS
  if [ ! -x "$1/bin/python" ]; then
    "$PY" -m venv "$1"
    "$1/bin/python" -m pip install -q --upgrade pip
  fi
  "$1/bin/python" -m pip install -q -e ".[$2]"
}

case "$mode" in
  run)
    make_venv .venv gui
    if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      echo "bootstrap: no display found; opening the window on a virtual display (xvfb-run)" >&2
      exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/ptyxanes gui --demo "$@"
    fi
    exec .venv/bin/ptyxanes gui --demo "$@"
    ;;
  test)
    # The engine's tests run in a venv without any Qt package: proof that the engine is headless.
    make_venv .venv-headless test-engine
    .venv-headless/bin/ptyxanes --version
    make_venv .venv gui,test
    status=0
    # two processes (the CI machine's two cores), whole files per process so that a
    # module's fixtures are built once
    .venv-headless/bin/python -m pytest tests/engine -q -p no:cacheprovider -n 2 --dist loadfile \
        --durations=15 "$@" || status=$?
    # GUI tests under Xvfb (pytest-xvfb starts it): napari needs OpenGL.
    .venv/bin/python -m pytest tests/app -q -p no:cacheprovider --durations=10 "$@" || status=$?
    # lint (numpydoc docstring rules on the engine) and types of the whole engine
    .venv/bin/ruff check src app tests || status=$?
    .venv/bin/mypy || status=$?
    exit $status
    ;;
  *)
    echo "usage: bash tools/bootstrap.sh run|test" >&2
    exit 2
    ;;
esac
