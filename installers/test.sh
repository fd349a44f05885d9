#!/usr/bin/env bash
# Smoke test of the built Linux installers (run as root, after installers/build.sh):
# install the .deb and run the installed application from a clean environment (no
# Python, no virtual environment, a fresh HOME): --version; simulate 2d + fit, twice
# (the second run loads numba's cached kernels); a GUI screenshot of the demo under
# Xvfb; simulate 3d + pipeline 3d (ASTRA) and a screenshot of its napari 3D view.
# Uninstall and check that nothing is left behind. Then the same bundle from the
# .tar.gz, as a user without root. Files stay in $SMOKE_DIR (default: a new folder
# under /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=installers/dist
DEB=$(ls -t "$DIST"/ptyxanes_*.deb 2>/dev/null | head -1 || true)
TAR=$(ls -t "$DIST"/ptyxanes-*-linux-*.tar.gz 2>/dev/null | head -1 || true)
[ -n "$DEB" ] && [ -n "$TAR" ] || { echo "test: no installers in $DIST; run installers/build.sh" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "test: run as root (dpkg -i)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "test: needs xvfb-run (apt-get install xvfb xauth)" >&2; exit 1; }

OUT=${SMOKE_DIR:-$(mktemp -d /tmp/ptyxanes-smoke.XXXXXX)}
mkdir -p "$OUT/home"
step() { echo; echo "=== $*"; }
fail() { echo "test: FAILED: $*" >&2; exit 1; }
# The installed command with nothing of this machine's Python set-up.
app() { env -i HOME="$OUT/home" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

step "install $DEB"
dpkg -i "$DEB"
[ "$(command -v ptyxanes)" = /usr/bin/ptyxanes ] || fail "ptyxanes is not /usr/bin/ptyxanes"
VERSION=$(dpkg-query -W -f='${Version}' ptyxanes)

step "ptyxanes --version"
v=$(app ptyxanes --version)
echo "$v"
[ "$v" = "ptyxanes $(echo "$VERSION" | sed 's/~dev/.dev/')" ] || fail "--version says '$v', package is $VERSION"

step "ptyxanes simulate 2d --size tiny"
app ptyxanes simulate 2d --size tiny --cycles 200 -o "$OUT/twin"
[ -s "$OUT/twin/stack.nxs" ] && [ -s "$OUT/twin/truth.h5" ] || fail "simulate wrote no stack"

step "ptyxanes fit (shipped references; numba compiles its kernels)"
t0=$(date +%s.%N)
app ptyxanes fit "$OUT/twin/stack.nxs" -o "$OUT/result.h5" -q
t1=$(date +%s.%N)
app ptyxanes info "$OUT/result.h5" | tee "$OUT/info.txt"
grep -q "map oxidation_state:" "$OUT/info.txt" || fail "no valence map in result.h5"
grep -q "share/ptyxanes/resources/references" "$OUT/info.txt" || fail "fit did not use the bundled references"
nbi=$(find "$OUT/home/.cache/ptyxanes/numba" -name '*.nbi' 2>/dev/null | wc -l)
echo "numba cache: $nbi index files in \$HOME/.cache/ptyxanes/numba"
[ "$nbi" -gt 0 ] || fail "numba wrote no cache in the user's cache folder"

step "ptyxanes fit again (simulated references; numba loads its cache)"
t2=$(date +%s.%N)
app ptyxanes fit "$OUT/twin/stack.nxs" -o "$OUT/result2.h5" -q \
  --ref "2:$OUT/twin/references/Ni2_NiO.xdi" --ref "3:$OUT/twin/references/Ni3_LiNiO2.xdi"
t3=$(date +%s.%N)
printf 'fit wall time: first %.1f s, second %.1f s\n' "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)"

step "ptyxanes gui --demo --screenshot (Xvfb)"
app xvfb-run -a -s "-screen 0 1600x1000x24" ptyxanes gui --demo --screenshot "$OUT/screenshot.png" --size 1400x900
file "$OUT/screenshot.png"
# (the window may be wider than asked: its docks have minimum widths)
file "$OUT/screenshot.png" | grep -qE "PNG image data, [0-9]{4} x 900" || fail "no PNG screenshot"
[ "$(stat -c %s "$OUT/screenshot.png")" -gt 50000 ] || fail "screenshot too small to show the demo"

step "3D: ptyxanes simulate 3d + pipeline 3d (ASTRA SIRT), napari view under Xvfb"
app ptyxanes simulate 3d --size tiny --cycles 200 -o "$OUT/twin3d"
app ptyxanes pipeline 3d "$OUT/twin3d/stack.nxs" -o "$OUT/project3d.h5" -q
app xvfb-run -a -s "-screen 0 1600x1000x24" ptyxanes gui "$OUT/project3d.h5" \
  --screenshot "$OUT/screenshot3d.png" 2>&1 | tee "$OUT/gui3d.log"
grep -q "opened .*project3d.h5" "$OUT/gui3d.log" || fail "the GUI did not open the 3D project"
! grep -qE "3D viewer could not start|3D view failed|Traceback" "$OUT/gui3d.log" \
  || fail "the napari 3D view did not start"
file "$OUT/screenshot3d.png" | grep -q "PNG image data" || fail "no 3D screenshot"

step "uninstall (dpkg --purge)"
dpkg --purge ptyxanes
left=""
for p in /opt/ptyxanes /usr/bin/ptyxanes /usr/share/applications/ptyxanes.desktop; do
  [ -e "$p" ] && left="$left $p"
done
icons=$(find /usr/share/icons -name 'ptyxanes*' 2>/dev/null)
# (menu caches such as mimeinfo.cache must not name the removed entry either)
icons="$icons $(grep -rl ptyxanes /usr/share/applications 2>/dev/null || true)"
icons=$(echo $icons)
[ -z "$left$icons" ] || fail "left behind:$left $icons"
dpkg -s ptyxanes >/dev/null 2>&1 && fail "dpkg still knows ptyxanes"
echo "nothing left in /opt/ptyxanes, /usr/bin, /usr/share/applications, /usr/share/icons"

step "tarball $TAR (no root)"
mkdir -p "$OUT/tar"
tar -C "$OUT/tar" -xzf "$TAR"
top=$(ls "$OUT/tar")
app "$OUT/tar/$top/ptyxanes/ptyxanes" --version
app sh "$OUT/tar/$top/user-install.sh"
app "$OUT/home/.local/bin/ptyxanes" --version
[ -s "$OUT/home/.local/share/applications/ptyxanes.desktop" ] || fail "user-install.sh wrote no menu entry"
app sh "$OUT/tar/$top/user-install.sh" --remove
[ ! -e "$OUT/home/.local/bin/ptyxanes" ] || fail "user-install.sh --remove left the command"

echo
echo "test: PASSED (files in $OUT)"
