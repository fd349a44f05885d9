#!/bin/sh
# Install ptyxanes for the current user only (no root): run from the unpacked
# tarball. Adds ~/.local/bin/ptyxanes, a menu entry and icons; the application
# stays in this folder. `sh user-install.sh --remove` undoes it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin="$HOME/.local/bin"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor"
sizes="16 24 32 48 64 128 256 512"
if [ "${1:-}" = --remove ]; then
  rm -f "$bin/ptyxanes" "$apps/ptyxanes.desktop"
  for s in $sizes; do rm -f "$icons/${s}x${s}/apps/ptyxanes.png"; done
  echo "ptyxanes: removed the command, menu entry and icons (this folder is left as is)"
  exit 0
fi
mkdir -p "$bin" "$apps"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$here/ptyxanes/ptyxanes" > "$bin/ptyxanes"
chmod +x "$bin/ptyxanes"
res="$here/ptyxanes/_internal/share/ptyxanes/resources"
sed "s|^Exec=ptyxanes|Exec=$here/ptyxanes/ptyxanes|; s|^TryExec=.*|TryExec=$here/ptyxanes/ptyxanes|" \
  "$res/ptyxanes.desktop" > "$apps/ptyxanes.desktop"
for s in $sizes; do
  mkdir -p "$icons/${s}x${s}/apps"
  cp "$res/icons/ptyxanes_${s}.png" "$icons/${s}x${s}/apps/ptyxanes.png"
done
echo "ptyxanes: installed $bin/ptyxanes and a menu entry (make sure $bin is on your PATH)"
