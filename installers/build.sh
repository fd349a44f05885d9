#!/usr/bin/env bash
# Build the Linux installers of the ptyxanes desktop application:
#   installers/dist/ptyxanes_<version>_<arch>.deb         (root: dpkg -i, into /opt/ptyxanes)
#   installers/dist/ptyxanes-<version>-linux-<arch>.tar.gz (no root: unpack, run ptyxanes/ptyxanes)
# from the one-folder PyInstaller bundle of installers/pyinstaller/ptyxanes.spec.
# The build runs in its own virtual environment, installers/.venv-build, made from
# this repository's pyproject.toml (extras gui + installer); a second run reuses it.
# Needs: python3.11 (or $PYTHON), dpkg-deb, tar.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=installers/.venv-build
WORK=installers/build
DIST=installers/dist
t0=$(date +%s)

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY="$c"; break; fi
  done
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "ptyxanes needs Python >= 3.11"'

if [ ! -x "$VENV/bin/python" ]; then
  echo "build: creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
echo "build: installing ptyxanes[gui,installer] into $VENV"
"$VENV/bin/python" -m pip install -q ".[gui,installer]"
# Always the working tree's code (a plain, not editable, install: the bundle copies it).
"$VENV/bin/python" -m pip install -q --no-deps --force-reinstall .

VERSION=$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("ptyxanes"))')
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
MACHINE=$(uname -m)
# Debian orders 0.2~dev3 before 0.2; PEP 440 writes 0.2.dev3.
DEB_VERSION=$(echo "$VERSION" | sed 's/\.dev/~dev/; s/+/+/')
echo "build: ptyxanes $VERSION"

echo "build: PyInstaller (one folder)"
t1=$(date +%s)
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath "$WORK/pyi-dist" --workpath "$WORK/pyi-work" installers/pyinstaller/ptyxanes.spec
t2=$(date +%s)
BUNDLE="$WORK/pyi-dist/ptyxanes"
"$BUNDLE/ptyxanes" --version

mkdir -p "$DIST"
# --- .deb -------------------------------------------------------------------
PKG="$WORK/deb/ptyxanes_${DEB_VERSION}_${ARCH}"
rm -rf "$WORK/deb"
# (gzip: every dpkg reads it, and it packs the ~1 GB bundle ten times faster than xz)
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications"
cp -a "$BUNDLE" "$PKG/opt/ptyxanes"
install -m 755 installers/linux/ptyxanes.sh "$PKG/usr/bin/ptyxanes"
install -m 644 resources/ptyxanes.desktop "$PKG/usr/share/applications/ptyxanes.desktop"
for s in 16 24 32 48 64 128 256 512; do
  install -D -m 644 "resources/icons/ptyxanes_${s}.png" \
    "$PKG/usr/share/icons/hicolor/${s}x${s}/apps/ptyxanes.png"
done
install -m 755 installers/linux/postinst installers/linux/postrm "$PKG/DEBIAN/"
SIZE_KB=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE_KB@/$SIZE_KB/" \
  installers/linux/control.in > "$PKG/DEBIAN/control"
DEB="$DIST/ptyxanes_${DEB_VERSION}_${ARCH}.deb"
rm -f "$DIST"/ptyxanes_*.deb
dpkg-deb --root-owner-group -Zgzip -z6 --build "$PKG" "$DEB" >/dev/null

# --- .tar.gz ----------------------------------------------------------------
TARDIR="ptyxanes-${VERSION}-linux-${MACHINE}"
rm -rf "${WORK:?}/tar" && mkdir -p "$WORK/tar/$TARDIR"
cp -a "$BUNDLE" "$WORK/tar/$TARDIR/ptyxanes"
install -m 755 installers/linux/user-install.sh "$WORK/tar/$TARDIR/user-install.sh"
rm -f "$DIST"/ptyxanes-*-linux-*.tar.gz
tar -C "$WORK/tar" --owner=0 --group=0 -czf "$DIST/$TARDIR.tar.gz" "$TARDIR"
t3=$(date +%s)

echo "build: bundle $(du -sh "$BUNDLE" | cut -f1) ($(find "$BUNDLE" -type f | wc -l) files)"
echo "build: PyInstaller $((t2 - t1)) s, packaging $((t3 - t2)) s, total $((t3 - t0)) s"
ls -l "$DEB" "$DIST/$TARDIR.tar.gz"
