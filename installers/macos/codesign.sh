#!/usr/bin/env bash
# Sign ptyxanes.app with a Developer ID and the hardened runtime (needed for
# notarisation). Run on macOS after the PyInstaller build, before dmg.sh:
#   CODESIGN_IDENTITY="Developer ID Application: NAME (TEAMID)" bash installers/macos/codesign.sh
# Without CODESIGN_IDENTITY the app is signed ad hoc ("-"): it runs on this Mac only.
set -euo pipefail
cd "$(dirname "$0")/../.."
APP=${APP:-installers/build/pyi-dist/ptyxanes.app}
ID=${CODESIGN_IDENTITY:--}
ENT=installers/macos/entitlements.plist
[ -d "$APP" ] || { echo "codesign: $APP not found; build it first" >&2; exit 1; }
# Inside out: every Mach-O file first, then the executables, then the bundle.
find "$APP/Contents" -type f \( -name '*.so' -o -name '*.dylib' -o -perm -u+x \) -print0 |
  while IFS= read -r -d '' f; do
    if file -b "$f" | grep -q 'Mach-O'; then
      codesign --force --timestamp --options runtime --entitlements "$ENT" -s "$ID" "$f"
    fi
  done
codesign --force --timestamp --options runtime --entitlements "$ENT" -s "$ID" "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"
echo "codesign: signed $APP with '$ID'"
