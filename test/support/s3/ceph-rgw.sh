#!/bin/bash
# A single-node Ceph (Pacific 16.2.x from Debian bookworm: one mon, one OSD, no mgr) with radosgw on loopback:
# the S3 server of the tests (the reference user runs Rook Ceph RGW). Adapted from the recipe measured in
# ../shared/tools/ceph-rgw-up.sh; the project keeps its own copy so that a fresh clone needs nothing outside it.
#
#   ceph-rgw.sh [--base DIR] start            start mon, osd and the main gateway (no-op when already healthy;
#                                             restarts only the main gateway when mon and osd still run)
#   ceph-rgw.sh [--base DIR] stop [--purge]   stop every daemon of this cluster (--purge: also delete DIR)
#   ceph-rgw.sh [--base DIR] status           exit 0 when mon, osd and main gateway are up and answering
#   ceph-rgw.sh [--base DIR] gw-start NAME PORT   start (or keep) an extra gateway NAME on http://127.0.0.1:PORT
#   ceph-rgw.sh [--base DIR] gw-stop NAME         stop gateway NAME only (mon and osd stay up): an S3 outage
#                                                 (gw-start main brings the main gateway back on its ports)
#
# Environment (all optional):
#   PGC_RGW_BASE        base directory (default /tmp/cdk8s-postgres-rgw); --base wins
#   PGC_RGW_HTTP_PORT   main gateway, plain HTTP (default 7480)
#   PGC_RGW_HTTPS_PORT  main gateway, TLS (default 7443); certificate for 127.0.0.1 and localhost, CA = DIR/rgw.crt
#   PGC_RGW_MON_PORT    monitor, msgr v1 (default 6789); PGC_RGW_MON2_PORT msgr v2 (default 3300)
#   PGC_RGW_OBJSTORE    memstore (default: starts in ~3 s, objects in the OSD's RAM, capped at 4 GiB) or
#                       bluestore (sparse 10 GiB file in DIR, ~7 s, RAM bounded by the OSD cache)
#
# The S3 credentials are random per cluster and written only to DIR/state.json (mode 0600); nothing secret is
# printed. State for other processes (ports, pids, CA) is in DIR/state.json as well.
# Learned the hard way (see ../shared/reference/backup-facts.md): cephx must be on (radosgw hangs with auth none);
# beast tcp_nodelay=1 (else small GETs stall about 40 ms); deleted objects are freed by RGW garbage collection.
set -euo pipefail

APT_LINE='apt-get update && apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common uuid-runtime openssl curl'

BASE=${PGC_RGW_BASE:-/tmp/cdk8s-postgres-rgw}
if [ "${1:-}" = "--base" ]; then BASE=$2; shift 2; fi
CMD=${1:-status}; shift || true
HTTP_PORT=${PGC_RGW_HTTP_PORT:-7480}
HTTPS_PORT=${PGC_RGW_HTTPS_PORT:-7443}
MON_PORT=${PGC_RGW_MON_PORT:-6789}
MON2_PORT=${PGC_RGW_MON2_PORT:-3300}
OBJSTORE=${PGC_RGW_OBJSTORE:-memstore}
CONF=$BASE/ceph.conf
STATE=$BASE/state.json
export CEPH_CONF=$CONF

elapsed() { local d=$(( ($(date +%s%N) - $1) / 100000000 )); echo "$((d / 10)).$((d % 10))"; }
say() { echo "ceph-rgw: $*"; }
die() { echo "ceph-rgw: error: $*" >&2; exit 1; }

need_packages() {
  local missing=()
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen openssl curl flock; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing ${missing[*]}: the tests need Ceph RGW from Debian's packages. Install them (as root) with:
  $APT_LINE"
  fi
}

# pid of daemon NAME if its pid file names a live process started with this cluster's config, else empty
live_pid() {
  local f=$BASE/run/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"; then echo "$pid"; fi
}

http_ok() { curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null | grep -q '^200$'; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# true while PID exists and is not a zombie (a container's PID 1 may never reap our daemonized processes)
running() { local st; st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }

stop_daemon() {  # NAME [SIGNAL]: SIGTERM (or SIGNAL), wait up to 15 s, then SIGKILL
  local pid; pid=$(live_pid "$1")
  [ -n "$pid" ] || { rm -f "$BASE/run/$1.pid"; return 0; }
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do running "$pid" || break; sleep 0.1; done
  if running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$BASE/run/$1.pid"
}

healthy() {
  [ -f "$STATE" ] && [ -n "$(live_pid mon.a)" ] && [ -n "$(live_pid osd.0)" ] && [ -n "$(live_pid client.rgw.main)" ] \
    && http_ok "$(state_port main)"
}

state_port() {  # port of gateway NAME recorded in state.json
  sed -n "s/.*\"$1Port\": *\([0-9]*\).*/\1/p" "$STATE" 2>/dev/null | head -1
}

write_state() {
  local key=$1 secret=$2 tmp=$STATE.tmp
  umask 077
  cat >"$tmp" <<EOF
{
  "base": "$BASE",
  "conf": "$CONF",
  "keyring": "$BASE/keyring",
  "objectStore": "$OBJSTORE",
  "mainPort": $HTTP_PORT,
  "httpsPort": $HTTPS_PORT,
  "endpoint": "http://127.0.0.1:$HTTP_PORT",
  "httpsEndpoint": "https://localhost:$HTTPS_PORT",
  "caFile": "$BASE/rgw.crt",
  "region": "us-east-1",
  "accessKeyId": "$key",
  "secretAccessKey": "$secret",
  "startedAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
  mv "$tmp" "$STATE"
}

wait_rgw() {  # NAME PORT
  for _ in $(seq 1 600); do
    http_ok "$2" && return 0
    [ -n "$(live_pid "client.rgw.$1")" ] || { tail -20 "$BASE/log/client.rgw.$1.log" >&2 || true; die "radosgw $1 exited during start-up (log: $BASE/log/client.rgw.$1.log)"; }
    sleep 0.1
  done
  die "radosgw $1 did not answer on 127.0.0.1:$2 within 60 s (log: $BASE/log/client.rgw.$1.log)"
}

start_gateway() {  # NAME HTTP_PORT [HTTPS_PORT]
  local name=$1 port=$2 tls=${3:-} fe
  if [ -n "$(live_pid "client.rgw.$name")" ]; then
    if http_ok "$port"; then return 0; fi
    # still shutting down after gw-stop: let it finish (a second SIGTERM would make it exit without unwatching)
    local old; old=$(live_pid "client.rgw.$name")
    for _ in $(seq 1 200); do [ -n "$old" ] && running "$old" || break; sleep 0.05; done
    stop_daemon "client.rgw.$name" KILL
  fi
  port_busy "$port" && die "port $port is in use by another process; choose another port for gateway $name"
  fe="beast tcp_nodelay=1 endpoint=127.0.0.1:$port"
  [ -n "$tls" ] && fe="$fe ssl_endpoint=127.0.0.1:$tls ssl_certificate=$BASE/rgw.crt ssl_private_key=$BASE/rgw.key"
  local extra=(); [ "$name" = main ] || extra=(--rgw-enable-gc-threads=false)
  ceph auth get-or-create "client.rgw.$name" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' -o "$BASE/keyring.rgw.$name" >/dev/null 2>&1 \
    || die "could not create the cephx key of gateway $name (is the monitor up? ceph-rgw.sh status)"
  # 9>&-: daemons must not inherit the lock's descriptor (they would hold the lock for their whole life)
  radosgw -c "$CONF" -n "client.rgw.$name" --keyring "$BASE/keyring.rgw.$name" --rgw-frontends "$fe" "${extra[@]}" 9>&- >>"$BASE/log/daemons.out" 2>&1
  wait_rgw "$name" "$port"
}

cmd_start() {
  if healthy; then say "already running ($BASE, http://127.0.0.1:$(state_port main))"; return 0; fi
  if [ -f "$STATE" ] && [ -n "$(live_pid mon.a)" ] && [ -n "$(live_pid osd.0)" ]; then
    # Only the main gateway is down (gw-stop main, or it crashed): never wipe a cluster other workers are using.
    start_gateway main "$(state_port main)" "$(state_port https)"
    say "main gateway restarted on http://127.0.0.1:$(state_port main) ($BASE)"
    return 0
  fi
  # Leftovers of a cluster that is not healthy: stop what still runs and start afresh (tests never rely on old data).
  [ -d "$BASE" ] && cmd_stop >/dev/null
  for p in "$HTTP_PORT" "$HTTPS_PORT" "$MON_PORT" "$MON2_PORT"; do
    port_busy "$p" && die "port $p on 127.0.0.1 is in use by another process (another Ceph or RGW?). Stop it, or set PGC_RGW_HTTP_PORT / PGC_RGW_HTTPS_PORT / PGC_RGW_MON_PORT / PGC_RGW_MON2_PORT"
  done
  case "$OBJSTORE" in memstore|bluestore) ;; *) die "PGC_RGW_OBJSTORE must be memstore or bluestore, not '$OBJSTORE'";; esac
  local t0 fsid osd_uuid id key secret
  t0=$(date +%s%N)
  rm -rf "$BASE"; mkdir -p "$BASE"/{mon,osd,rgw,log,run}; chmod 700 "$BASE"
  fsid=$(uuidgen)
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON2_PORT,v1:127.0.0.1:$MON_PORT]
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $BASE/keyring
auth allow insecure global id reclaim = false
log file = $BASE/log/\$name.log
admin socket = $BASE/run/\$name.asok
pid file = $BASE/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
osd crush chooseleaf type = 0
ms async op threads = 2
# A killed radosgw leaves its watch on the control objects; until the OSD drops it, every metadata change (bucket
# create/delete, user create) waits on notify: 30 s by default. Clients ping their watches every tick.
osd client watch timeout = 5
objecter tick interval = 1
[mon]
mon data = $BASE/mon/\$name
# commit map changes at once rather than batching for 1 s: radosgw's first start makes ~8 of them (pools)
paxos propose interval = 0.05
paxos min wait = 0.01
[osd]
osd data = $BASE/osd/\$name
osd objectstore = $OBJSTORE
osd op num shards = 2
osd op num threads per shard = 2
# bluestore: sparse 10 GiB file, small cache (tests write little and read it back soon)
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mount = false
osd memory target = 939524096
bluestore cache autotune = true
# memstore: objects live in the OSD's memory, capped here
memstore device bytes = 4294967296
[client]
# 512 threads by default: far more than a test needs
rgw thread pool size = 32
rgw data = $BASE/rgw
rgw dns name = localhost
# No lifecycle threads: retention is the agent's job, and their 5 s sleeps make radosgw's shutdown take 10 s.
rgw enable lc threads = false
# free deleted objects within a minute rather than two hours (the main gateway collects; extra ones do not)
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
EOF
  export CEPH_CONF=$CONF
  local C="ceph -c $CONF --connect-timeout 10"
  # --- mon
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON2_PORT,v1:127.0.0.1:$MON_PORT]" "$BASE/monmap" >/dev/null
  local K=$BASE/keyring
  ceph-authtool --create-keyring "$K" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$K" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$K" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  chmod 600 "$K"
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$BASE/monmap" --keyring "$K" >/dev/null
  ceph-mon -c "$CONF" -i a 9>&- >>"$BASE/log/daemons.out" 2>&1
  local ok=
  for _ in $(seq 1 60); do $C mon stat >/dev/null 2>&1 && { ok=1; break; }; sleep 0.5; done
  [ -n "$ok" ] || die "monitor did not come up (log: $BASE/log/mon.a.log)"
  say "mon up ($(elapsed "$t0") s)"
  # --- osd
  osd_uuid=$(uuidgen)
  id=$($C osd new "$osd_uuid")
  [ "$id" = 0 ] || die "expected osd id 0, got '$id'"
  mkdir -p "$BASE/osd/osd.0"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$BASE/log/osd.0.mkfs.log" 2>&1 \
    || { tail -5 "$BASE/log/osd.0.mkfs.log" >&2; die "ceph-osd --mkfs failed (log: $BASE/log/osd.0.mkfs.log)"; }
  ceph-osd -c "$CONF" -i 0 9>&- >>"$BASE/log/daemons.out" 2>&1
  ok=
  for _ in $(seq 1 120); do $C osd stat 2>/dev/null | grep -q "1 up" && { ok=1; break; }; sleep 0.5; done
  [ -n "$ok" ] || die "osd.0 did not come up (log: $BASE/log/osd.0.log)"
  say "osd.0 up, $OBJSTORE ($(elapsed "$t0") s)"
  # --- main gateway, HTTP and TLS (pgBackRest cannot talk plain-HTTP S3; it wants a hostname certificate)
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$BASE/rgw.key" -out "$BASE/rgw.crt" -days 30 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
  chmod 600 "$BASE/rgw.key"
  start_gateway main "$HTTP_PORT" "$HTTPS_PORT"
  say "rgw up on http://127.0.0.1:$HTTP_PORT and https://localhost:$HTTPS_PORT ($(elapsed "$t0") s)"
  key=$(openssl rand -hex 10 | tr a-f A-F)
  secret=$(openssl rand -base64 30 | tr -d '/+=\n' | cut -c1-40)
  radosgw-admin -c "$CONF" user create --uid=test --display-name=test --access-key="$key" --secret-key="$secret" >/dev/null 2>"$BASE/log/user-create.err" \
    || { cat "$BASE/log/user-create.err" >&2; die "radosgw-admin user create failed"; }
  write_state "$key" "$secret"
  say "S3 user 'test' created; credentials in $STATE; started in $(elapsed "$t0") s"
}

cmd_stop() {
  [ -d "$BASE/run" ] || { say "not running ($BASE)"; [ "${1:-}" = --purge ] && rm -rf "$BASE"; return 0; }
  local f n
  # SIGKILL for gateways and OSD: start never reuses data, a clean radosgw shutdown takes seconds, and a clean
  # memstore shutdown writes every object to disk first.
  for f in "$BASE"/run/client.rgw.*.pid; do [ -e "$f" ] || continue; n=$(basename "$f" .pid); stop_daemon "$n" KILL; done
  stop_daemon osd.0 KILL
  stop_daemon mon.a
  if [ "${1:-}" = --purge ]; then rm -rf "$BASE"; say "stopped and removed $BASE"; else say "stopped (logs kept in $BASE/log)"; fi
}

cmd_status() {
  local rc=0 n pid port
  [ -f "$STATE" ] || { say "not started ($BASE)"; return 3; }
  for n in mon.a osd.0; do
    pid=$(live_pid $n); if [ -n "$pid" ]; then say "$n running (pid $pid)"; else say "$n stopped"; rc=1; fi
  done
  for f in "$BASE"/run/client.rgw.*.pid; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid); pid=$(live_pid "$n")
    if [ "$n" = client.rgw.main ]; then port=$(state_port main); else port=$(cat "$BASE/run/${n#client.}.port" 2>/dev/null || echo '?'); fi
    if [ -n "$pid" ] && http_ok "$port"; then say "$n answering on 127.0.0.1:$port (pid $pid)"; else say "$n not answering on 127.0.0.1:$port"; [ "$n" = client.rgw.main ] && rc=1; fi
  done
  [ -n "$(live_pid client.rgw.main)" ] || { say "client.rgw.main stopped"; rc=1; }
  return $rc
}

need_packages
mkdir -p "$(dirname "$BASE")"
# One lock for every command: two jest workers never start (or stop) the cluster at the same time. The kernel
# releases it if the holder dies, so it cannot go stale.
exec 9>"$BASE.lock"
flock -w 300 9 || die "timed out waiting for $BASE.lock"

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop "${1:-}" ;;
  status) cmd_status ;;
  gw-start)
    [ $# -ge 2 ] || [ "${1:-}" = main ] || die "usage: ceph-rgw.sh gw-start NAME PORT (or gw-start main)"
    [ -f "$STATE" ] && [ -n "$(live_pid mon.a)" ] && [ -n "$(live_pid osd.0)" ] || die "the cluster is not running; run ceph-rgw.sh start first"
    [[ $1 =~ ^[a-z0-9]+$ ]] || die "gateway name must be [a-z0-9]+"
    if [ "$1" = main ]; then
      start_gateway main "$(state_port main)" "$(state_port https)"; say "gateway main answering on http://127.0.0.1:$(state_port main)"
    else
      [[ $2 =~ ^[0-9]+$ ]] || die "port must be a number, not '$2'"
      start_gateway "$1" "$2"; echo "$2" >"$BASE/run/rgw.$1.port"; say "gateway $1 answering on http://127.0.0.1:$2"
    fi ;;
  gw-stop)
    [ $# -ge 1 ] || die "usage: ceph-rgw.sh gw-stop NAME"
    # SIGTERM closes the port within milliseconds; the process then takes 2-5 s to unregister its watches and exit,
    # in the background (gw-start waits for that). SIGKILL would leave a stale watch that stalls every metadata
    # change of the cluster (bucket create/delete, user create) until the OSD drops it.
    pid=$(live_pid "client.rgw.$1")
    if [ -n "$pid" ]; then
      port=$(if [ "$1" = main ]; then state_port main; else cat "$BASE/run/rgw.$1.port" 2>/dev/null; fi)
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do [ -n "$port" ] && port_busy "$port" || break; sleep 0.02; done
    fi
    say "gateway $1 stopped" ;;
  *) die "unknown command '$CMD' (start, stop [--purge], status, gw-start NAME PORT, gw-stop NAME)" ;;
esac
