#!/usr/bin/env bash
# Wharf test services: start (idempotently, in the background) a minimal single-host Ceph cluster
# -- 1 mon, 1 mgr, 1 OSD (BlueStore on a sparse file, or memstore) -- plus one
# RADOS Gateway serving S3 on 127.0.0.1:$RGW_PORT, all state under DATA_DIR.
#
#   usage: start-ceph-rgw.sh DATA_DIR
#   env:   RGW_PORT (7480)  CEPH_MON_PORT (3300; v1 port = +3489 -> 6789)
#          CEPH_OBJECTSTORE (bluestore | memstore)  CEPH_NO_MGR=1 (skip mgr)
#          S3_ACCESS_KEY / S3_SECRET_KEY (used only when the user is first made)
#
# Needs: apt-get install --no-install-recommends ceph-mon ceph-osd ceph-mgr radosgw ceph-common
# Prints: S3_ENDPOINT=, S3_ACCESS_KEY=, S3_SECRET_KEY=, S3_REGION= (also in DATA_DIR/s3.env)
# Runs as root or any user that can write DATA_DIR; binds only 127.0.0.1.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 DATA_DIR" >&2; exit 2; }
DATA=$(realpath -m "$1")
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${CEPH_MON_PORT:-3300}
MON_PORT_V1=$((MON_PORT + 3489))
OBJECTSTORE=${CEPH_OBJECTSTORE:-bluestore}
CONF=$DATA/ceph.conf
T0=$(date +%s.%N)

log() { printf '[ceph %6.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{print a-b}')" "$*" >&2; }
die() { log "ERROR: $*"; for f in "$DATA"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done; exit 1; }
c() { timeout 30 ceph -c "$CONF" --connect-timeout 15 "$@"; }

# running NAME EXE: true if DATA/run/NAME.pid names a live process of EXE
running() {
  local pf=$DATA/run/$1.pid pid
  [ -s "$pf" ] || return 1
  pid=$(cat "$pf")
  [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

wait_for() { # SECONDS DESCRIPTION CMD...
  local limit=$1 what=$2; shift 2
  local end=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}

mkdir -p "$DATA"/{run,log,mon,osd,rgw}

# ---------------------------------------------------------------- bootstrap
if [ ! -f "$DATA/.bootstrapped" ]; then
  log "bootstrapping new cluster in $DATA (objectstore=$OBJECTSTORE)"
  rm -rf "$DATA"/mon "$DATA"/mgr "$DATA"/osd "$DATA"/rgw "$DATA"/run "$DATA"/keyring "$DATA"/monmap "$DATA"/s3.env
  mkdir -p "$DATA"/{run,log,mon,osd,rgw}
  FSID=$(uuidgen)
  cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT_V1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $DATA/keyring
run dir = $DATA/run
admin socket = $DATA/run/\$name.asok
pid file = $DATA/run/\$name.pid
log file = $DATA/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $DATA/log/cluster.log
crash dir = $DATA/crash
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
# mons batch map changes for 1 s by default: every pool create costs ~1 s
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $DATA/mon/\$cluster-\$id
keyring = \$mon_data/keyring

[mgr]
mgr data = $DATA/mgr/\$cluster-\$id
mgr disabled modules = dashboard prometheus

[osd]
osd data = $DATA/osd/\$cluster-\$id
keyring = \$osd_data/keyring
osd objectstore = $OBJECTSTORE
osd memory target = 939524096
osd max object size = 1073741824
bluestore block create = true
bluestore block size = 21474836480
bluestore fsck on mount = false
bluestore cache autotune = true
memstore device bytes = 8589934592

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $DATA/rgw
rgw thread pool size = 64
rgw enable usage log = false
EOF
  keyring=$DATA/keyring
  ceph-authtool --create-keyring "$keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n mgr.x \
    --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n client.rgw.gw \
    --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  chmod 600 "$keyring"
  monmaptool --create --clobber --fsid "$FSID" \
    --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT_V1]" "$DATA/monmap" >/dev/null
  mkdir -p "$DATA/mon/ceph-a"
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DATA/monmap" --keyring "$keyring" \
    || die "ceph-mon --mkfs failed"
  touch "$DATA/.bootstrapped"
  log "mon store created"
fi

# ---------------------------------------------------------------- mon
if ! running mon.a ceph-mon; then
  log "starting ceph-mon"
  ceph-mon -c "$CONF" -i a || die "ceph-mon failed to start"
fi
wait_for 60 "mon quorum" c quorum_status
log "mon up"

# ---------------------------------------------------------------- mgr (optional)
if [ -z "${CEPH_NO_MGR:-}" ] && ! running mgr.x ceph-mgr; then
  mkdir -p "$DATA/mgr/ceph-x"
  log "starting ceph-mgr"
  ceph-mgr -c "$CONF" -i x || die "ceph-mgr failed to start"
fi

# ---------------------------------------------------------------- osd
if [ ! -f "$DATA/osd/.created" ]; then
  log "creating osd.0"
  rm -rf "$DATA/osd/ceph-0"; mkdir -p "$DATA/osd/ceph-0"
  OSD_UUID=$(uuidgen)
  OSD_KEY=$(ceph-authtool --gen-print-key)
  printf '{"cephx_secret": "%s"}' "$OSD_KEY" >"$DATA/run/osd-new.json"
  c osd purge 0 --yes-i-really-mean-it >/dev/null 2>&1 || true   # leftover of an interrupted run
  id=$(c osd new "$OSD_UUID" 0 -i "$DATA/run/osd-new.json") || die "ceph osd new failed"
  rm -f "$DATA/run/osd-new.json"
  [ "$id" = 0 ] || die "expected osd id 0, got '$id'"
  printf '[osd.0]\n\tkey = %s\n' "$OSD_KEY" >"$DATA/osd/ceph-0/keyring"
  chmod 600 "$DATA/osd/ceph-0/keyring"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$DATA/log/osd-mkfs.log" 2>&1 \
    || die "ceph-osd --mkfs failed (see $DATA/log/osd-mkfs.log)"
  touch "$DATA/osd/.created"
  log "osd.0 created"
fi
if ! running osd.0 ceph-osd; then
  log "starting ceph-osd"
  ceph-osd -c "$CONF" -i 0 || die "ceph-osd failed to start"
fi
osd_up() { c osd dump -f json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(o["osd"]==0 and o["up"]==1 for o in d["osds"]) else 1)'; }
wait_for 120 "osd.0 up" osd_up
log "osd.0 up"

# ---------------------------------------------------------------- rgw
if ! running client.rgw.gw radosgw; then
  log "starting radosgw"
  radosgw -c "$CONF" -n client.rgw.gw || die "radosgw failed to start"
fi
rgw_ready() { running client.rgw.gw radosgw && curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"; }
wait_for 300 "radosgw HTTP on 127.0.0.1:$RGW_PORT" rgw_ready
log "radosgw answering"

# ---------------------------------------------------------------- S3 user
if [ ! -f "$DATA/s3.env" ]; then
  AK=${S3_ACCESS_KEY:-$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Z0-9' | head -c 20)}
  SK=${S3_SECRET_KEY:-$(head -c 60 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)}
  timeout 60 radosgw-admin -c "$CONF" -n client.admin user info --uid=s3test >/dev/null 2>&1 ||
    timeout 60 radosgw-admin -c "$CONF" -n client.admin user create --uid=s3test \
      --display-name="S3 test user" --access-key="$AK" --secret-key="$SK" >/dev/null \
      || die "radosgw-admin user create failed"
  cat >"$DATA/s3.env.tmp" <<EOF
S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
S3_ACCESS_KEY=$AK
S3_SECRET_KEY=$SK
S3_REGION=us-east-1
EOF
  mv "$DATA/s3.env.tmp" "$DATA/s3.env"
  log "S3 user s3test created"
fi
log "ready"
cat "$DATA/s3.env"
