#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (Debian's postgresql package):
# data, socket and log under $PG_DIR (default /tmp/hatoba-pg), listening on
# 127.0.0.1:$PG_PORT (default 5432) only. initdb refuses to run as root, so
# the cluster runs as the `postgres` system user. The test user `hatoba`
# (password `hatoba`) may create databases: the tests make one per server.
#
# Env knobs: PG_PORT=5432  PG_DIR=/tmp/hatoba-pg  INSTALL=1 (apt-get install
# postgresql if missing)  FRESH=1 (wipe even if already running)
#
# Idempotent: when the cluster this script started is up, it only prints the
# env file. Output: $PG_DIR/pg.env with HATOBA_TEST_PG_URL=postgres://...
set -euo pipefail

D="${PG_DIR:-/tmp/hatoba-pg}"
PORT="${PG_PORT:-5432}"
PG_USER=hatoba
PG_PASSWORD=hatoba
ENV_FILE="$D/pg.env"

log() { printf '[pg-up] %s\n' "$*"; }
die() { echo "pg-up: ERROR: $*" >&2; [ -f "$D/log/postgres.log" ] && tail -n 20 "$D/log/postgres.log" >&2; exit 1; }

# ---- packages -------------------------------------------------------------
bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
  if [ "${INSTALL:-0}" = 1 ]; then
    log "installing postgresql"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    die "PostgreSQL is not installed (rerun with INSTALL=1, or: apt-get install -y --no-install-recommends postgresql)"
  fi
fi
BIN="$(bindir)"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# ---- already up? ----------------------------------------------------------
if [ "${FRESH:-0}" != 1 ] && [ -f "$ENV_FILE" ] && as_postgres "$BIN/pg_ctl" -D "$D/data" status >/dev/null 2>&1 \
   && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  log "already running"
  cat "$ENV_FILE"
  exit 0
fi
bash "$(dirname "${BASH_SOURCE[0]}")/pg-down.sh" >/dev/null 2>&1 || true
# Debian's own cluster (pg_lsclusters: 15 main) also wants 5432 when its service runs.
if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  die "another PostgreSQL already listens on 127.0.0.1:$PORT (pg_lsclusters; stop it with pg_ctlcluster, or pick another port with PG_PORT=...)"
fi

# ---- cluster --------------------------------------------------------------
mkdir -p "$D/data" "$D/log" "$D/run"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$D"
chmod 700 "$D/data"
pwfile="$D/run/superuser-password"
echo "$PG_PASSWORD" >"$pwfile"
[ "$(id -u)" = 0 ] && chown postgres "$pwfile"
log "initdb $D/data"
as_postgres "$BIN/initdb" -D "$D/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >"$D/log/initdb.log" 2>&1 || { cat "$D/log/initdb.log" >&2; die "initdb failed"; }
rm -f "$pwfile"
# Tests only: no fsync wait (a crashed test cluster is thrown away anyway),
# room for many servers each with a pool, on loopback alone.
cat >>"$D/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$D/run'
max_connections = 400
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
log "starting on 127.0.0.1:$PORT"
as_postgres "$BIN/pg_ctl" -D "$D/data" -l "$D/log/postgres.log" -w -t 30 start >/dev/null || die "postgres did not start"
as_postgres "$BIN/psql" -h "$D/run" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
  -c "create role $PG_USER login createdb password '$PG_PASSWORD'" \
  -c "create database $PG_USER owner $PG_USER" || die "could not create the test user"

url="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PORT/$PG_USER"
cat >"$ENV_FILE" <<ENV
export HATOBA_TEST_PG_URL=$url
export PG_BIN=$BIN
ENV
log "up: $url"
cat "$ENV_FILE"
