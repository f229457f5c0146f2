#!/usr/bin/env bash
# Render every dashboard page with sample data into PNGs for a reviewer: runs the browser test
# (a real `rampwire serve`, Debian's Chromium) and keeps its screenshots in $1 (default
# ./var/screenshots). Usage: scripts/screenshots.sh [folder]
set -eu
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-var/screenshots}")"
mkdir -p "$out"
scripts/ensure-chromium.sh
SCREENSHOT_DIR="$out" .venv/bin/pytest tests/browser -q -p no:cacheprovider
echo "screenshots in $out:"
ls "$out"
