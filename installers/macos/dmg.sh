#!/usr/bin/env bash
# Pack ptyxanes.app into a compressed disk image with an Applications link.
# Run on macOS after the PyInstaller build (and codesign.sh):
#   bash installers/macos/dmg.sh            -> installers/dist/ptyxanes-<version>-macos-<arch>.dmg
set -euo pipefail
cd "$(dirname "$0")/../.."
APP=${APP:-installers/build/pyi-dist/ptyxanes.app}
[ -d "$APP" ] || { echo "dmg: $APP not found; build it first" >&2; exit 1; }
VERSION=$("$APP/Contents/MacOS/ptyxanes" --version | awk '{print $2}')
OUT=installers/dist/ptyxanes-${VERSION}-macos-$(uname -m).dmg
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
mkdir -p installers/dist
rm -f "$OUT"
hdiutil create -volname "ptyxanes $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$OUT"
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp -s "$CODESIGN_IDENTITY" "$OUT"
fi
echo "dmg: wrote $OUT"
