#!/usr/bin/env bash
# Renders a `tune report` HTML page in headless Chromium (Debian's `chromium` package) and saves
# a PNG, to check that the page draws in a real browser.
# Usage: scripts/screenshot-report.sh REPORT.html OUT.png [WIDTH HEIGHT]
set -euo pipefail
page=${1:?usage: $0 REPORT.html OUT.png [WIDTH HEIGHT]}
out=${2:?usage: $0 REPORT.html OUT.png [WIDTH HEIGHT]}
width=${3:-1500}
height=${4:-1400}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "error: no Chromium found; install it with: apt-get install chromium" >&2
  exit 1
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$width,$height" \
  --screenshot="$out" "file://$(realpath "$page")" 2>/dev/null
test -s "$out" || { echo "error: Chromium wrote no screenshot to $out" >&2; exit 1; }
echo "screenshot written to $out"
