#!/usr/bin/env bash
# System packages the tests use beyond Python: GDAL's ogrinfo (OGC API client test), Chromium and a CJK font
# (map rendering test), PostgreSQL 15 with PostGIS 3 (the PostGIS backend tests start a throwaway cluster on
# loopback). Tests that need them skip with a reason when they are missing.
set -u
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  command -v ogrinfo >/dev/null 2>&1 || missing="$missing gdal-bin"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$missing fonts-wqy-microhei"
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$missing postgresql-15"
  ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || missing="$missing postgresql-15-postgis-3"
  if [ -n "$missing" ]; then
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing) \
      >/tmp/corridor-test-deps.log 2>&1 || echo "warning: could not install$missing; those tests will skip" >&2
  fi
else
  echo "note: not root or no apt-get; tests needing gdal-bin, chromium or PostGIS skip if those are missing" >&2
fi
exit 0
