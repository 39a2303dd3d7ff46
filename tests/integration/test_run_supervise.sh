#!/usr/bin/env bash
# scripts/run.sh as a user runs it, on free ports in a temp directory:
# everything starts, a sample published over MQTT is answered over HTTP,
# ingest SIGKILLed is restarted by run.sh (logged) and stores again, a
# sample sent to the TLS listener (generated CA) is stored, and
# SIGTERM to run.sh stops every process and exits 0.
#   tests/integration/test_run_supervise.sh   (DS_BUILD_DIR: the build)
set -euo pipefail
DS_PROG=test-run-supervise
SRC=${DS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${DS_BUILD_DIR:-$SRC/build}
# shellcheck source=../../scripts/lib/stack.sh
. "$SRC/scripts/lib/stack.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/ds-run-sh.XXXXXX")
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

DEVICESTATS_RUN_DIR=$RUN PGPORT=$PG MQTT_PORT=$MQ MQTT_TLS_PORT=$MT HTTP_PORT=$HT INGEST_ADMIN_PORT=$AD AGGREGATOR_ADMIN_PORT=$AA DS_SKIP_BUILD=1 \
  DS_BUILD_DIR=$BUILD setsid "$SRC/scripts/run.sh" >"$OUT" 2>&1 </dev/null &
pid=$!
wait_for "start" "$OUT" 'DeviceStats is running' 180

PW=$(cat "$RUN/mqtt-password")
dev="run-sh-$$"
pub() { mosquitto_pub -p "$MQ" -u devicestats -P "$PW" -q 1 -t "devices/$dev/data" -m "$1"; }
count() {
  curl -s "http://127.0.0.1:$HT/devices/$dev/data/all" | grep -Eo '"count": ?[0-9]+' | head -n 1 |
    grep -Eo '[0-9]+$' || echo 0
}
wait_count() {
  local i
  for ((i = 0; i < 300; i++)); do
    [ "$(count)" = "$1" ] && return 0
    sleep 0.1
  done
  fail "expected $1 samples of $dev, the API says $(count)"
}
pub '{"x": 1, "y": 2, "z": 3}'
wait_count 1

ipid=$(cat "$RUN/proc/ingest.pid")
kill -KILL "$ipid"
wait_for "supervision" "$OUT" 'ingest exited on its own with code [0-9]+; restarting' 30
wait_for "supervision" "$OUT" 'ingest restarted' 30
readies=0
for ((i = 0; i < 300 && readies < 2; i++)); do
  readies=$(grep -c 'event=ready' "$RUN/logs/ingest.log" || true)
  sleep 0.1
done
[ "$readies" -ge 2 ] || fail "the restarted ingest never became ready"
[ "$(cat "$RUN/proc/ingest.pid")" != "$ipid" ] || fail "ingest has the same pid"
pub '{"x": 4, "y": 5, "z": 6}'
wait_count 2
# The TLS listener, with the CA run.sh generated (and printed).
grep -qF "CA: $RUN/tls/ca.crt" "$OUT" || fail "run.sh did not print the CA's path"
[ "$(stat -c %a "$RUN/tls/server.key")" = 600 ] || fail "tls/server.key is not 0600"
mosquitto_pub -h 127.0.0.1 -p "$MT" --cafile "$RUN/tls/ca.crt" -u devicestats -P "$PW" -q 1 \
  -t "devices/$dev/data" -m '{"x": 7, "y": 8, "z": 9}' || fail "publish over TLS on :$MT"
wait_count 3
# The restarted ingest answers on its admin port (run.sh passed it again).
curl -sf "http://127.0.0.1:$AD/health" | grep -q '"status": "ok"' || fail "ingest /health on :$AD"
curl -sf "http://127.0.0.1:$AD/metrics" | grep -q '^devicestats_ingest_stored_total [1-9]' ||
  fail "ingest /metrics on :$AD"
curl -sf "http://127.0.0.1:$AA/health" | grep -q '"service": "aggregator"' || fail "aggregator /health on :$AA"
curl -sf "http://127.0.0.1:$AA/metrics" | grep -q '^devicestats_aggregator_db_up 1' ||
  fail "aggregator /metrics on :$AA"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "run.sh exited with $rc after SIGTERM"
for n in ingest aggregator query mosquitto; do
  p=$(cat "$RUN/proc/$n.pid")
  kill -0 "$p" 2>/dev/null && fail "$n (pid $p) still runs after run.sh stopped"
done
ds_pg_running "$RUN" && fail "PostgreSQL still runs after run.sh stopped"
echo "$DS_PROG: passed (ingest SIGKILLed, restarted by run.sh, stored again; SIGTERM: exit 0)" >&2
rm -rf "$T"
