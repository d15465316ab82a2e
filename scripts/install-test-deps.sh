#!/usr/bin/env bash
# System packages the tests use beyond Python: GDAL's ogrinfo (OGC API client test), Chromium and a CJK font
# (map rendering test). Tests that need them skip with a reason when they are missing.
set -u
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  command -v ogrinfo >/dev/null 2>&1 || missing="$missing gdal-bin"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$missing fonts-wqy-microhei"
  if [ -n "$missing" ]; then
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing) \
      >/tmp/corridor-test-deps.log 2>&1 || echo "warning: could not install$missing; those tests will skip" >&2
  fi
else
  echo "note: not root or no apt-get; tests needing gdal-bin or chromium skip if those are missing" >&2
fi
exit 0
