#!/usr/bin/env bash
# A real S3 endpoint for the tests: single-node Ceph RADOS Gateway from
# Debian packages (see docs/testing.md). Taken from the team's shared tool.
# Single-node Ceph (Pacific 16.2, Debian 12 packages) + RADOS Gateway test instance.
#   one mon (a), one OSD (0, memstore by default), optional mgr (x), radosgw (client.rgw.a)
#   auth: none (no cephx) ; pool size 1 ; RGW beast frontend on 127.0.0.1:5080
# Everything lives under $CEPH_DIR (default: <script dir>/ceph); nothing in /etc/ceph is used.
#
# Env knobs:
#   OBJECTSTORE=memstore|bluestore   (default memstore; bluestore = sparse file $CEPH_DIR/osd/ceph-0/block)
#   BLUESTORE_BYTES=N                (size of that sparse file; default 10 GiB, e.g. 42949672960 for a 10 GiB upload)
#   WITH_MGR=0|1                     (default 0; RGW works without a mgr)
#   RGW_PORT=5080  S3_UID=test  FRESH=1 (wipe even if already running)
#   INSTALL=1                        (apt-get install the packages if missing)
#
# Idempotent: if the stack started by this script is up and answering, it only re-prints
# the credentials; otherwise it tears down whatever is left (ceph-down.sh) and rebuilds from scratch.
# Output: $CEPH_DIR/s3.env  (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_ENDPOINT, CEPH_CONF)
set -euo pipefail

BASE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
D="${CEPH_DIR:-/tmp/hatoba-ceph}"
CONF="$D/ceph.conf"
OBJECTSTORE="${OBJECTSTORE:-memstore}"
BLUESTORE_BYTES="${BLUESTORE_BYTES:-10737418240}"
WITH_MGR="${WITH_MGR:-0}"
RGW_PORT="${RGW_PORT:-5080}"
S3_UID="${S3_UID:-test}"
ENDPOINT="http://127.0.0.1:$RGW_PORT"
export CEPH_CONF="$CONF"
CEPH="ceph -c $CONF --connect-timeout 10"

t0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - t0) / 1000000 )); printf '[ceph-up %3d.%01ds] %s\n' $((ms/1000)) $((ms%1000/100)) "$*"; }
die() { echo "ceph-up: ERROR: $*" >&2; for f in "$D"/log/*.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done; exit 1; }

# ---- packages -------------------------------------------------------------------------------
need=()
for b in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:ceph-common ceph:ceph-common \
         monmaptool:ceph-base jq:jq uuidgen:uuid-runtime curl:curl ss:iproute2; do
  command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
done
[ "$WITH_MGR" = 1 ] && ! command -v ceph-mgr >/dev/null && need+=(ceph-mgr)
if [ ${#need[@]} -gt 0 ]; then
  if [ "${INSTALL:-0}" = 1 ]; then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  else
    die "missing packages: ${need[*]} (rerun with INSTALL=1, or: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-mgr jq)"
  fi
fi

# ---- already up? ----------------------------------------------------------------------------
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ "${FRESH:-0}" != 1 ] && [ -f "$D/s3.env" ] \
   && alive "$D/run/ceph-mon.a.pid" && alive "$D/run/ceph-osd.0.pid" && alive "$D/run/ceph-client.rgw.a.pid" \
   && curl -fsS -m 5 -o /dev/null "$ENDPOINT/"; then
  log "already running"
  cat "$D/s3.env"
  exit 0
fi

# ---- from scratch ---------------------------------------------------------------------------
"$BASE/ceph-down.sh" >/dev/null
for p in 3300 6789 "$RGW_PORT"; do
  if ss -Hltn "sport = :$p" | grep -q .; then die "port $p on this machine is already in use"; fi
done
mkdir -p "$D"/{run,log,crash,mon/ceph-a,osd/ceph-0,mgr/ceph-x,rgw}
FSID="$(uuidgen)"
OSD_UUID="$(uuidgen)"

cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
run dir = $D/run
admin socket = \$run_dir/\$cluster-\$name.asok
pid file = \$run_dir/\$cluster-\$name.pid
log file = $D/log/\$cluster-\$name.log
mon cluster log file = $D/log/\$cluster.log
crash dir = $D/crash
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
# default paxos_propose_interval=1s makes each of radosgw's pool creations take ~2 s (stack start 13 s -> 2.5 s)
paxos propose interval = 0.1
paxos min wait = 0.01
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon data = $D/mon/\$cluster-\$id

[mgr]
mgr data = $D/mgr/\$cluster-\$id

[osd]
osd data = $D/osd/\$cluster-\$id
osd objectstore = $OBJECTSTORE
# memstore keeps objects in RAM (saved to osd data dir on clean shutdown); "device" size for statfs/full checks
memstore device bytes = 8589934592
# bluestore on a sparse file <osd data>/block
bluestore block create = true
bluestore block size = $BLUESTORE_BYTES
osd memory target = 1073741824
osd crush update on start = true

[client]
# radosgw/radosgw-admin default ms_mon_client_mode to "secure", which cannot work with auth=none
# (the mon connection fails with "get_initial_auth_request returned -13" and radosgw hangs for rgw_init_timeout=300s)
ms mon client mode = crc

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF

# ---- mon ------------------------------------------------------------------------------------
log "mon: mkfs"
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]" "$D/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" || die "ceph-mon --mkfs failed"
ceph-mon -c "$CONF" -i a || die "ceph-mon start failed"
for i in $(seq 1 60); do $CEPH mon stat >/dev/null 2>&1 && break; sleep 0.5; done
$CEPH mon stat >/dev/null 2>&1 || die "mon did not come up"
log "mon: up"

# ---- mgr (optional) --------------------------------------------------------------------------
if [ "$WITH_MGR" = 1 ]; then
  ceph-mgr -c "$CONF" -i x || die "ceph-mgr start failed"
  log "mgr: started"
fi

# ---- osd ------------------------------------------------------------------------------------
OSD_ID="$($CEPH osd new "$OSD_UUID")"
[ "$OSD_ID" = 0 ] || die "expected osd id 0, got '$OSD_ID'"
log "osd.0: mkfs ($OBJECTSTORE)"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$D/log/osd-mkfs.out" 2>&1 || { cat "$D/log/osd-mkfs.out" >&2; die "ceph-osd --mkfs failed"; }
ceph-osd -c "$CONF" -i 0 2>>"$D/log/osd-start.err" || die "ceph-osd start failed"
for i in $(seq 1 120); do
  [ "$($CEPH osd dump -f json 2>/dev/null | jq -r '.osds[0].up // 0')" = 1 ] && break
  sleep 0.5
done
[ "$($CEPH osd dump -f json | jq -r '.osds[0].up // 0')" = 1 ] || die "osd.0 did not come up"
log "osd.0: up"

# ---- radosgw --------------------------------------------------------------------------------
radosgw -c "$CONF" -n client.rgw.a || die "radosgw start failed"
for i in $(seq 1 240); do curl -fsS -m 2 -o /dev/null "$ENDPOINT/" 2>/dev/null && break; sleep 0.5; done
curl -fsS -m 5 -o /dev/null "$ENDPOINT/" || die "radosgw not answering on $ENDPOINT"
log "radosgw: answering on $ENDPOINT"

# ---- S3 user --------------------------------------------------------------------------------
if ! out="$(radosgw-admin -c "$CONF" user info --uid="$S3_UID" 2>/dev/null)"; then
  out="$(radosgw-admin -c "$CONF" user create --uid="$S3_UID" --display-name="S3 test user" 2>>"$D/log/radosgw-admin.err")" \
    || die "radosgw-admin user create failed"
fi
AK="$(jq -r '.keys[0].access_key' <<<"$out")"
SK="$(jq -r '.keys[0].secret_key' <<<"$out")"
cat > "$D/s3.env" <<EOF
export S3_ENDPOINT=$ENDPOINT
export AWS_ACCESS_KEY_ID=$AK
export AWS_SECRET_ACCESS_KEY=$SK
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_REGION=us-east-1
export CEPH_CONF=$CONF
EOF
log "user '$S3_UID' ready; credentials in $D/s3.env"
cat "$D/s3.env"
