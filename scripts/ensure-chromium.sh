#!/usr/bin/env bash
# Make sure Debian's Chromium is installed before the browser tests (tests/browser) run: they
# drive /usr/bin/chromium headless with Playwright (Playwright's own browser download is not
# used). Missing and we are root: apt-get install it. Missing and we cannot: say so; the
# browser tests will skip with that reason (and fail in CI, where the browser is required).
set -u
CHROMIUM="${RAMPWIRE_TEST_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing Debian's chromium" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
    || true
  [ -x "$CHROMIUM" ] && exit 0
fi
msg="ensure-chromium: no Chromium at $CHROMIUM (run: apt-get install -y chromium as root)"
if [ -n "${CI:-}" ]; then
  echo "$msg; the browser tests will fail (CI)" >&2
else
  echo "$msg; the browser tests will be skipped" >&2
fi
exit 0
