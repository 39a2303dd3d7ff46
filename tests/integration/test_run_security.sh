#!/usr/bin/env bash
# scripts/run.sh's security set-up, on free ports in a temp directory, with
# MQTT_PLAIN=0: the plain MQTT port is not open and the services reach the
# broker over TLS; each service is logged in to PostgreSQL as its own role
# (passwords 0600 in the run directory); scripts/device-account.sh adds a
# device while the stack runs (it publishes within a second, only its own
# topic), lists it, and removes it (refused afterwards); with API_READ_TOKEN
# the data routes need a token, /health does not.
#   tests/integration/test_run_security.sh   (DS_BUILD_DIR: the build)
set -euo pipefail
DS_PROG=test-run-security
SRC=${DS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${DS_BUILD_DIR:-$SRC/build}
# shellcheck source=../../scripts/lib/stack.sh
. "$SRC/scripts/lib/stack.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/ds-run-sec.XXXXXX")
chmod 755 "$T"
RUN=$T/run
PG=$(ds_free_port) MQ=$(ds_free_port "$PG") HT=$(ds_free_port "$PG" "$MQ")
AD=$(ds_free_port "$PG" "$MQ" "$HT")
AA=$(ds_free_port "$PG" "$MQ" "$HT" "$AD")
MT=$(ds_free_port "$PG" "$MQ" "$HT" "$AD" "$AA")
OUT=$T/run.out
pid=
fail() {
  echo "$DS_PROG: FAIL: $*" >&2
  echo "=== run.sh output" >&2; cat "$OUT" >&2 || true
  for f in "$RUN"/logs/*.log; do echo "=== $f" >&2; tail -n 40 "$f" >&2; done
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  exit 1
}
wait_for() { # what file regex timeout_s
  local i
  for ((i = 0; i < $4 * 10; i++)); do
    grep -Eq -- "$3" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$1: no /$3/ in $2 after $4 s"
}

export DEVICESTATS_RUN_DIR=$RUN
RT=read-$$-token
API_READ_TOKEN=$RT PGPORT=$PG MQTT_PORT=$MQ MQTT_TLS_PORT=$MT MQTT_PLAIN=0 HTTP_PORT=$HT INGEST_ADMIN_PORT=$AD \
  AGGREGATOR_ADMIN_PORT=$AA DS_SKIP_BUILD=1 DS_BUILD_DIR=$BUILD \
  setsid "$SRC/scripts/run.sh" >"$OUT" 2>&1 </dev/null &
pid=$!
wait_for "start" "$OUT" 'DeviceStats is running' 180

# --- transport: no plain listener; the services came in over TLS
ds_port_in_use "$MQ" && fail "the plain MQTT port $MQ is open with MQTT_PLAIN=0"
grep -q "New connection from 127.0.0.1:[0-9]* on port $MT" "$RUN/logs/mosquitto.log" ||
  fail "no connection on the TLS port $MT"
for c in devicestats-ingest devicestats-aggregator devicestats-query; do
  grep -q "as $c" "$RUN/logs/mosquitto.log" || fail "$c did not connect to the broker"
done

# --- database roles
for s in ingest query aggregator; do
  [ "$(stat -c %a "$RUN/db-password-$s")" = 600 ] || fail "db-password-$s is not 0600"
done
# --- read routes behind API_READ_TOKEN (GET /devices also makes query
# open its database connection, which it does on demand)
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://127.0.0.1:$HT/devices")" = 401 ] || fail "GET /devices without a token"
[ "$(code -H "Authorization: Bearer wrong" "http://127.0.0.1:$HT/devices")" = 401 ] ||
  fail "GET /devices with a wrong token"
[ "$(code -H "Authorization: Bearer $RT" "http://127.0.0.1:$HT/devices")" = 200 ] ||
  fail "GET /devices with the read token"
[ "$(code -H "Authorization: Bearer $(cat "$RUN/api-token")" "http://127.0.0.1:$HT/rejected")" = 200 ] ||
  fail "GET /rejected with the write token"
[ "$(code "http://127.0.0.1:$HT/health")" = 200 ] || fail "GET /health without a token"
users=$(PGPASSWORD=$(cat "$RUN/db-password") "$DS_PG_BINDIR/psql" -X -At -h 127.0.0.1 -p "$PG" \
  -U devicestats -d devicestats -c \
  "SELECT string_agg(DISTINCT usename, ' ' ORDER BY usename) FROM pg_stat_activity
    WHERE datname = 'devicestats' AND usename <> 'devicestats'")
[ "$users" = "devicestats_aggregator devicestats_ingest devicestats_query" ] ||
  fail "services are logged in as '$users'"

# --- device accounts
dev="sec-dev-$$" other="sec-other-$$"
count() {
  curl -s -H "Authorization: Bearer $RT" "http://127.0.0.1:$HT/devices/$1/data/all" | grep -Eo '"count": ?[0-9]+' | head -n 1 |
    grep -Eo '[0-9]+$' || echo 0
}
wait_count() { # device n
  local i
  for ((i = 0; i < 300; i++)); do
    [ "$(count "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  fail "expected $2 samples of $1, the API says $(count "$1")"
}
pub() { # user password topic -> exit code of mosquitto_pub
  mosquitto_pub -h 127.0.0.1 -p "$MT" --cafile "$RUN/tls/ca.crt" -u "$1" -P "$2" -q 1 \
    -t "$3" -m '{"x": 1, "y": 2, "z": 3}' 2>/dev/null
}

pw=$("$SRC/scripts/device-account.sh" add "$dev" 2>"$T/add.err") || { cat "$T/add.err" >&2; fail "add"; }
[ ${#pw} -ge 16 ] || fail "add printed no password"
added=$(date +%s%N)
pub "$dev" "$pw" "devices/$dev/data" || fail "the new account could not publish"
ms=$((($(date +%s%N) - added) / 1000000))
[ "$ms" -lt 1000 ] || fail "the first publish took $ms ms"
pub "$dev" "$pw" "devices/$other/data" || true   # denied by the ACL, silently
pub "$dev" "$pw" "devices/$dev/data" || fail "second publish"
wait_count "$dev" 2
sleep 0.5
[ "$(count "$other")" = 0 ] || fail "the device published for another device"
"$SRC/scripts/device-account.sh" list | grep -qxF "$dev" || fail "list does not show $dev"
"$SRC/scripts/device-account.sh" list | grep -qxF devicestats && fail "list shows the service account"
"$SRC/scripts/device-account.sh" add "bad/id" 2>/dev/null && fail "a bad id was accepted"

"$SRC/scripts/device-account.sh" remove "$dev" 2>"$T/rm.err" || { cat "$T/rm.err" >&2; fail "remove"; }
pub "$dev" "$pw" "devices/$dev/data" && fail "a removed account could still connect"
"$SRC/scripts/device-account.sh" list | grep -qxF "$dev" && fail "list still shows $dev"
grep -q "user $dev\$" "$RUN/mosquitto/acl" && fail "the ACL entry of $dev is left"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "run.sh exited with $rc"
rm -rf "$T"
echo "$DS_PROG: passed" >&2
