#!/usr/bin/env bash
# Submit the signed dmg to Apple's notary service, wait, and staple the ticket.
# One-time set-up of a keychain profile (app-specific password of the Apple ID):
#   xcrun notarytool store-credentials ptyxanes-notary --apple-id ID --team-id TEAMID
# Then, on macOS after codesign.sh (with a Developer ID) and dmg.sh:
#   NOTARY_PROFILE=ptyxanes-notary bash installers/macos/notarize.sh [DMG]
set -euo pipefail
cd "$(dirname "$0")/../.."
DMG=${1:-$(ls -t installers/dist/ptyxanes-*-macos-*.dmg | head -1)}
PROFILE=${NOTARY_PROFILE:?set NOTARY_PROFILE to a notarytool keychain profile}
xcrun notarytool submit "$DMG" --keychain-profile "$PROFILE" --wait
xcrun stapler staple "$DMG"
xcrun stapler validate "$DMG"
spctl --assess --type open --context context:primary-signature --verbose=2 "$DMG" || true
echo "notarize: $DMG notarised and stapled"
