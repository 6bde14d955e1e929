#!/usr/bin/env bash
# Stops the test cluster started by pg-up.sh and removes its directory.
set -euo pipefail
D="${PG_DIR:-/tmp/hatoba-pg}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -n "$BIN" ] && [ -f "$D/data/postmaster.pid" ]; then
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$BIN/pg_ctl" -D "$D/data" -m fast -w stop || true
  else "$BIN/pg_ctl" -D "$D/data" -m fast -w stop || true; fi
fi
rm -rf "$D"
echo "[pg-down] stopped; removed $D"
