#!/usr/bin/env bash
# Benchmarks DeviceStats against the ceilings of what it is built on, in one
# run on one throwaway stack, and prints ONE markdown table: each ceiling and
# the DeviceStats figure side by side, their ratio, the target and PASS/MISS.
#
#   Issue 2 (ingest)      broker ceiling (publisher -> mosquitto -> discarding
#                         subscriber), COPY ceiling (same rows by binary COPY),
#                         end to end (publish -> committed in PostgreSQL);
#                         single objects and arrays of 100, QoS 1; ingest peak
#                         RSS; bytes per stored sample (rows and chunks).
#   Issue 3 (query)       all-time statistics of a 1M-sample device: bare SQL
#                         (percentile_cont) vs GET /devices/{id}/data/all;
#                         a 1-hour range under 64 connections: pgbench vs wrk;
#                         /health vs a constant libmicrohttpd server; peak RSS.
#   Issue 4 (aggregator)  every device's statistics in one grouped SQL
#                         statement vs a full recalculation; an incremental
#                         run after 10 devices got new samples.
#   Issue 11 (dashboard)  GET / and its files: bytes transferred on a first
#                         load (gzip) and the time to the chart drawn for a
#                         1M-sample device over one day, in headless chromium
#                         (tests/browser/bench_ui.mjs).
#   Seed (issue 12)       the load generator against raw mosquitto_pub and
#                         its RSS at 10,000 devices; the old Locust scenario
#                         (--preset seed) and the same pushed, next to the
#                         old Python service's figures; /data/all over 1M
#                         rows (scripts/lib/bench_seed.sh).
#   Curves (issue 13)     how the cost grows: history length, concurrency,
#                         total data, fleet size, backlog; each point beside
#                         its ceiling; charts by scripts/plot-curves.sh
#                         (scripts/lib/bench_curves.sh).
#   Kill window           what a SIGKILLed ingest loses (Paho acknowledges
#                         QoS 1 messages before ingest has committed them):
#                         publish single objects at full speed, SIGKILL
#                         ingest mid-stream, restart it, count what is missing.
#
# Not part of scripts/test.sh: it takes minutes and asserts nothing; it
# reports.  Builds Release (no sanitizers) into build-bench/.
#
# Usage: scripts/bench.sh [--quick]   (--quick is BENCH_QUICK=1: small sizes,
# under 2 minutes; scripts/test.sh runs it and checks only that the table
# came out).
# Environment (defaults are the issue sizes; BENCH_QUICK=1 shrinks them):
#   BENCH_DEVICES (1000)           publishing devices (issue 2)
#   BENCH_SAMPLES (1000000)        samples published as single objects
#   BENCH_ARRAY_SAMPLES (2000000)  samples published in arrays of 100
#   BENCH_PUB_CONNS (1)  BENCH_PUB_INFLIGHT (100)  publisher connections and
#                                  QoS 1 messages in flight per connection
#                                  (the fastest Paho settings measured here)
#   BENCH_MQTT_INFLIGHT            when set, mosquitto's max_inflight_messages
#                                  (else the stack's own configuration)
#   BENCH_Q_SAMPLES (1000000)      samples of the query device (1 per second)
#   BENCH_AGG_DEVICES (1000)  BENCH_AGG_SAMPLES (10000 per device)
#   BENCH_HTTP_SECONDS (10)  BENCH_HTTP_CONNS (64)
#   BENCH_FSYNC (on)               PostgreSQL fsync (on, as scripts/run.sh)
#   BENCH_KILL_SAMPLES (300000)    samples published during the kill-window run
#   BENCH_UI_SAMPLES (1000000)     samples of the dashboard's device, all in one day
#   BENCH_ONLY ("seed ingest killwindow query aggregator ui scale curves")
#                                  sections to run (scale: ingest instances
#                                  1/2/4, plain vs Citus; sizes in
#                                  scripts/lib/bench_scale.sh; curves: sizes
#                                  in scripts/lib/bench_curves.sh; --quick
#                                  leaves curves out unless named here)
#   BENCH_CURVES_DIR               also copy curves.json and the curves'
#                                  PNGs there
#   BENCH_LOAD_GATE (1.5)  BENCH_LOAD_WAIT_S (60; 0 with --quick)  before
#                                  each section the bench prints the load
#                                  average and waits up to WAIT_S for the
#                                  1-minute load to fall to GATE; past it the
#                                  section runs and its rows say "noisy"
#   SEED_SECONDS (60) SEED_PUSH_SECONDS (30) SEED_PUSH_USERS (64)
#   SEED_RAW_SAMPLES (300000) SEED_ALL_SAMPLES (1000000) SEED_RSS_DEVICES (10000)
#                                  the seed section's sizes
#   BENCH_WRITE_DOCS (1; 0 with --quick)  the seed section rewrites its part
#                                  of docs/benchmarks.md and docs/img/loadgen/
#   BENCH_REPEAT (1)               ingest runs: best of N (the machine is shared)
#   BENCH_QUERY_RUNS (3)           query section: pgbench/wrk pairs of the
#                                  1-hour range and /health (median)
#   BENCH_KEEP=1                   keep the run directory (logs, cluster)
#   DS_BENCH_BUILD_DIR (build-bench)  DS_SKIP_BUILD=1 (use it as it is)
#   BENCH_RUN_DIR                  where the throwaway stack lives
#                                  (default: a new directory under /var/tmp)
set -euo pipefail

for arg in "$@"; do
  case $arg in
    --quick) BENCH_QUICK=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$arg' (--quick, --help)" >&2; exit 2 ;;
  esac
done

# shellcheck disable=SC2034  # read by stack.sh
DS_PROG=bench.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/stack.sh
. "$SRC/scripts/lib/stack.sh"

BUILD=${DS_BENCH_BUILD_DIR:-$SRC/build-bench}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  # Small enough for under 2 minutes on a quiet 2-core machine (--quick).
  : "${BENCH_DEVICES:=100}" "${BENCH_SAMPLES:=30000}" "${BENCH_ARRAY_SAMPLES:=100000}"
  : "${BENCH_Q_SAMPLES:=50000}" "${BENCH_AGG_DEVICES:=100}" "${BENCH_AGG_SAMPLES:=500}"
  : "${BENCH_HTTP_SECONDS:=2}" "${BENCH_QUERY_RUNS:=1}" "${BENCH_KILL_SAMPLES:=30000}" "${BENCH_KILLS:=5}"
  : "${BENCH_STATS_PERIOD_S:=2}" "${BENCH_UI_SAMPLES:=100000}"
  : "${BENCH_CURVE_HISTORY:=5000 20000 50000}" "${BENCH_CURVE_CONNS:=1 16 64}" "${BENCH_CURVE_SECONDS:=3}"
  : "${BENCH_CURVE_TOTAL:=20x1000 100x1000}" "${BENCH_CURVE_FLEET:=100 1000 3000}" "${BENCH_CURVE_FLEET_SAMPLES:=9000}"
  : "${BENCH_CURVE_BACKLOG:=3000 10000}" "${BENCH_CURVE_RUNS:=1}" "${BENCH_LOAD_WAIT_S:=0}"
fi
DEVICES=${BENCH_DEVICES:-1000}
SAMPLES=${BENCH_SAMPLES:-1000000}
ARRAY_SAMPLES=${BENCH_ARRAY_SAMPLES:-2000000}
PUB_CONNS=${BENCH_PUB_CONNS:-1}
PUB_INFLIGHT=${BENCH_PUB_INFLIGHT:-100}
Q_SAMPLES=${BENCH_Q_SAMPLES:-1000000}
AGG_DEVICES=${BENCH_AGG_DEVICES:-1000}
AGG_SAMPLES=${BENCH_AGG_SAMPLES:-10000}
HTTP_SECONDS=${BENCH_HTTP_SECONDS:-10}
HTTP_CONNS=${BENCH_HTTP_CONNS:-64}
FSYNC=${BENCH_FSYNC:-on}
# --quick leaves the curves out (it_bench_curves_quick runs them alone).
ONLY=${BENCH_ONLY:-seed ingest killwindow query aggregator ui scale$([ "${BENCH_QUICK:-0}" = 1 ] || echo " curves")}
KILL_SAMPLES=${BENCH_KILL_SAMPLES:-300000}
REPEAT=${BENCH_REPEAT:-1}
Q_RUNS=${BENCH_QUERY_RUNS:-3}
QUERY_THREADS=${QUERY_THREADS:-4}
WAIT_S=${BENCH_WAIT_S:-900}
WRK=${WRK:-wrk}
PGBENCH=${PGBENCH:-$DS_PG_BINDIR/pgbench}

# ------------------------------------------------------------------ helpers
now_ms() { date +%s%3N; }
# kv KEY LINE: the value of KEY=value in a logfmt-ish line.
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1; }
# calc EXPR: floating-point arithmetic.
calc() { awk "BEGIN { v = $1; print v }"; }
fmt_int() { awk -v v="$1" 'BEGIN { printf "%.0f", v }' | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
fmt_ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v }'; }
# median V...: the middle value (the lower middle of an even count).
median() { printf '%s\n' "$@" | grep -v '^n/a$' | sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "n/a" }'; }
fmt2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
# verdict VALUE OP LIMIT: PASS or MISS.
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == "<=") ? (v <= l) : (op == "<") ? (v < l) : (v >= l); print ok ? "PASS" : "MISS" }'; }
# ratio A B: A/B with two decimals, n/a when B is 0 or empty; verdict_r:
# verdict of such a ratio (n/a stays n/a).  median sorts n/a last.
ratio() { awk -v a="$1" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict_r() { if [ "$1" = n/a ]; then echo n/a; else verdict "$@"; fi; }
section_on() { [[ " $ONLY " == *" $1 "* ]]; }
note() { echo "bench.sh: $*" >&2; }

ROWS=()
# row ITEM CEILING DEVICESTATS RATIO TARGET RESULT (marked when the section
# ran on a loaded machine: see gate)
row() { ROWS+=("| $1$NOISY | $2 | $3 | $4 | $5 | $6 |"); }
NOISY=''
# gate SECTION: prints the load average, then waits (up to
# BENCH_LOAD_WAIT_S) for the 1-minute load to fall to BENCH_LOAD_GATE; a
# section that starts above it has its rows marked noisy.
gate() {
  local l waited=0 max=${BENCH_LOAD_WAIT_S:-60} lim=${BENCH_LOAD_GATE:-1.5}
  while l=$(cut -d ' ' -f 1 /proc/loadavg) && awk -v l="$l" -v m="$lim" 'BEGIN { exit !(l > m) }' && ((waited < max)); do
    ((waited == 0)) && note "section $1: load $l > $lim, waiting up to ${max}s"
    sleep 5
    waited=$((waited + 5))
  done
  NOISY=''
  awk -v l="$l" -v m="$lim" 'BEGIN { exit !(l > m) }' && NOISY=" *(noisy: load $l)*"
  note "section $1: load average $(cut -d ' ' -f 1-3 /proc/loadavg)${NOISY:+, marked noisy}"
}
NOTES=()

# ------------------------------------------------------------------- build
if [ "${DS_SKIP_BUILD:-0}" != 1 ]; then
  note "building Release into $BUILD"
  # DS_WERROR=OFF: -O3 finds warnings -O2 does not; a bench must not fail on them.
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDS_SANITIZE=OFF -DDS_WERROR=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" >"$BUILD/bench-build.log" 2>&1 ||
    { tail -n 30 "$BUILD/bench-build.log" >&2; ds_die "build failed"; }
fi
LOADGEN=$BUILD/tests/load/devicestats-loadgen
SINK=$BUILD/tests/load/devicestats-sink
COPYLOAD=$BUILD/tests/load/devicestats-copyload
CONSTHTTP=$BUILD/tests/load/devicestats-consthttp
for b in "$LOADGEN" "$SINK" "$COPYLOAD" "$CONSTHTTP"; do
  [ -x "$b" ] || ds_die "$b not built"
done
if section_on query; then
  command -v "$WRK" >/dev/null || ds_die "wrk missing (DEVICESTATS_BENCH_DEPS=1 scripts/deps.sh installs it)"
  [ -x "$PGBENCH" ] || ds_die "pgbench missing ($PGBENCH)"
fi

# ------------------------------------------------------------------- stack
if [ -n "${BENCH_RUN_DIR:-}" ]; then
  RUN=$BENCH_RUN_DIR
  mkdir -p "$RUN"
else
  RUN=$(mktemp -d /var/tmp/devicestats-bench.XXXXXX)
fi
RUN=$(cd "$RUN" && pwd)
chmod 755 "$RUN"
ST=$RUN/proc LOGS=$RUN/logs
mkdir -p "$ST" "$LOGS"
PG_PORT=$(ds_free_port)
MQTT_PORT=$(ds_free_port "$PG_PORT")
HTTP_PORT=$(ds_free_port "$PG_PORT" "$MQTT_PORT")
CONST_PORT=$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT")
INGEST_ADMIN_PORT=$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$CONST_PORT")

# Helpers started in the background (sink, constant server, mosquitto_sub),
# by pid; each is untracked once reaped, so cleanup never signals a reused pid.
EXTRA_PIDS=()
untrack() {
  local p keep=()
  for p in "${EXTRA_PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  EXTRA_PIDS=("${keep[@]}")
}
cleanup() {
  local rc=$? n p
  set +e
  for p in "${EXTRA_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for n in "$ST"/*.pid; do
    n=$(basename "$n" .pid)
    [ "$n" = mosquitto ] && continue
    ds_alive "$ST" "$n" && ds_stop_instance "$ST" "$n" 60 >/dev/null
  done
  declare -F scale_cleanup >/dev/null && scale_cleanup
  ds_alive "$ST" mosquitto && ds_stop_instance "$ST" mosquitto 30 >/dev/null
  ds_pg_running "$RUN" && ds_pg_stop "$RUN"
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    note "run directory kept: $RUN"
  else
    rm -rf "$RUN"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note "PostgreSQL on $PG_PORT (fsync=$FSYNC), mosquitto on $MQTT_PORT, HTTP on $HTTP_PORT; run dir $RUN"
ds_pg_prepare "$RUN"
ds_pg_init "$RUN" nosync
# The concurrency curve runs pgbench at up to 256 connections.
DS_PG_EXTRA_CONF="max_connections = 300
${DS_PG_EXTRA_CONF:-}"
ds_pg_start "$RUN" "$PG_PORT" "$FSYNC"
DB_PASSWORD=$(ds_gen_secret)
ds_pg_ensure_db "$RUN" "$PG_PORT" "$DB_PASSWORD"
DATABASE_URL=$(ds_db_url "$PG_PORT" "$DB_PASSWORD")
export DATABASE_URL
ds_migrate "$BUILD" "$SRC" "$DATABASE_URL"

ds_mqtt_configure "$RUN" "$MQTT_PORT" 1 "$SRC"
if [ -n "${BENCH_MQTT_INFLIGHT:-}" ]; then
  sed -i "s/^max_inflight_messages .*/max_inflight_messages $BENCH_MQTT_INFLIGHT/" "$RUN/mosquitto/mosquitto.conf"
fi
MQTT_INFLIGHT_CONF=$(sed -n 's/^max_inflight_messages //p' "$RUN/mosquitto/mosquitto.conf")
ds_mqtt_start "$RUN" "$ST" "$LOGS/mosquitto.log"
export MQTT_URL=tcp://127.0.0.1:$MQTT_PORT
unset MQTT_USERNAME MQTT_PASSWORD

PSQL=("$DS_PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL")
sql() { "${PSQL[@]}" -c "$1"; }
# checkpoint: flush dirty buffers before a timed run, so that no run pays
# for the previous one's checkpoint.
checkpoint() { ds_psql_admin "$RUN" "$PG_PORT" -d devicestats -c CHECKPOINT; }

BENCH_API_TOKEN=$(ds_gen_secret)
# shellcheck disable=SC2034  # read by ds_service_start
DS_SVC_ENV=(
  "DATABASE_URL=$DATABASE_URL" "MQTT_URL=$MQTT_URL" "HTTP_PORT=$HTTP_PORT"
  "HTTP_ADDR=127.0.0.1" "API_TOKEN=$BENCH_API_TOKEN" "QUERY_THREADS=$QUERY_THREADS"
  "INGEST_CLIENT_ID=bench-ingest" "MQTT_ALLOW_ANONYMOUS=1" "STATS_PERIOD_S=${BENCH_STATS_PERIOD_S:-10}"
  "INGEST_SPOOL_DIR=$RUN/spool"
  # Every load generator connects from 127.0.0.1: the per-address limit
  # (default 64) would refuse the concurrency the bench measures.
  "QUERY_MAX_CONNECTIONS_PER_IP=0"
)
# svc_start SVC: starts devicestats-SVC and waits for event=ready; false when
# it is not built or does not become ready.
svc_start() {
  local svc=$1 bin off extra=()
  bin=$(ds_service_bin "$BUILD" "$svc") || { note "devicestats-$svc not built"; return 1; }
  off=$(ds_size "$LOGS/$svc.log")
  # ingest's admin port: stored/s for the load generator's progress line.
  [ "$svc" = ingest ] && extra=("ADMIN_PORT=$INGEST_ADMIN_PORT")
  ds_service_start "$ST" "$svc" "$LOGS/$svc.log" "$bin" "${extra[@]}"
  ds_wait_log "$ST" "$svc" "$LOGS/$svc.log" "$off" 'event=ready' 60 ||
    { tail -n 20 "$LOGS/$svc.log" >&2; note "$svc did not become ready"; return 1; }
}
vm_hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$(ds_pid "$ST" "$1")/status"; }
# stored_count: samples in the store (rows plus compacted chunks).
stored_count() {
  sql "SELECT (SELECT count(*) FROM samples_recent) + (SELECT coalesce(sum(n), 0) FROM sample_chunks)"
}
# wait_count N: polls until the store holds N samples; prints the time (ms)
# at which it did (to within the last poll: 50 ms plus the count itself).
# Fails after WAIT_S.
wait_count() {
  local want=$1 deadline=$((SECONDS + WAIT_S)) c
  while :; do
    c=$(stored_count)
    if [ "$c" -ge "$want" ]; then now_ms; return 0; fi
    if ((SECONDS >= deadline)); then note "store holds $c of $want samples after ${WAIT_S}s"; return 1; fi
    # count(*) scans the table: on 2 cores, polling it back to back would
    # take a core from ingest and PostgreSQL.  Poll often only near the end.
    if ((c * 100 < want * 95)); then sleep 0.5; else sleep 0.05; fi
  done
}
# compact_all [WHERE]: ds_compact(id, 10000) over the devices until nothing moves.
compact_all() {
  local where=${1:-true} moved
  while :; do
    moved=$(sql "SELECT coalesce(sum(ds_compact(id, 10000)), 0) FROM devices WHERE $where")
    [ "$moved" -eq 0 ] && break
  done
}
# compact_bulk: everything in samples_recent into chunks of 10,000 samples
# per device in one statement, then an empty samples_recent: the layout
# ds_compact(id, 10000) makes (oldest first, arrays in (ts, x, y, z)
# order), without its per-call cost (a call per 10,000 samples: hours at
# the curves' 10M-30M samples).  Only when samples_recent holds nothing
# but rows just loaded for a bench.
compact_bulk() {
  sql "BEGIN;
       INSERT INTO sample_chunks (device_id, first_ts, last_ts, n, ts, x, y, z)
       SELECT device_id, min(ts), max(ts), count(*),
              array_agg(ts ORDER BY ts, x, y, z), array_agg(x ORDER BY ts, x, y, z),
              array_agg(y ORDER BY ts, x, y, z), array_agg(z ORDER BY ts, x, y, z)
         FROM (SELECT device_id, ts, x, y, z,
                      (row_number() OVER (PARTITION BY device_id ORDER BY ts, x, y, z) - 1) / 10000 AS k
                 FROM samples_recent) s
        GROUP BY device_id, k;
       TRUNCATE samples_recent;
       COMMIT" >/dev/null
}
# naive_table: the naive layout the Python service used (one row per sample,
# btree on device and time), for the SQL ceilings.
naive_table() {
  sql "SET client_min_messages = warning;
       CREATE TABLE IF NOT EXISTS bench_naive (device_id integer NOT NULL, ts timestamptz NOT NULL,
         x double precision NOT NULL, y double precision NOT NULL, z double precision NOT NULL);
       CREATE INDEX IF NOT EXISTS bench_naive_device_ts_idx ON bench_naive (device_id, ts)"
}
# sql_best N SQL: best wall time (ms, psql \timing) of N runs.
sql_best() {
  local n=$1 q=$2 i
  { printf '%s\n' '\timing on'; for ((i = 0; i < n; i++)); do echo "$q"; done; } |
    "$DS_PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -o /dev/null 2>&1 |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -g | head -n 1
}
# stats_sql FROM WHERE [GROUP]: the all-time statistics statement.
stats_sql() {
  local cols="count(*), min(x), max(x), sum(x), percentile_cont(0.5) WITHIN GROUP (ORDER BY x),
    min(y), max(y), sum(y), percentile_cont(0.5) WITHIN GROUP (ORDER BY y),
    min(z), max(z), sum(z), percentile_cont(0.5) WITHIN GROUP (ORDER BY z)"
  if [ -n "${3:-}" ]; then
    printf 'SELECT %s, %s FROM %s WHERE %s GROUP BY %s;' "$3" "$cols" "$1" "$2" "$3"
  else
    printf 'SELECT %s FROM %s WHERE %s;' "$cols" "$1" "$2"
  fi
}
# http_best N URL: best time_total (ms) of N curl GETs; fails unless 200.
http_best() {
  local n=$1 url=$2 i out best=
  for ((i = 0; i < n; i++)); do
    out=$(curl -s -o "$RUN/http.body" -w '%{http_code} %{time_total}' "$url") || return 1
    [ "${out%% *}" = 200 ] || { note "GET $url: ${out%% *} $(head -c 300 "$RUN/http.body")"; return 1; }
    best=$(awk -v a="${best:-1e18}" -v b="${out#* }" 'BEGIN { print (b * 1000 < a) ? b * 1000 : a }')
  done
  echo "$best"
}
# wrk_rps URL: requests per second of wrk; fails on non-2xx answers or errors.
wrk_rps() {
  local out
  out=$("$WRK" -c "$HTTP_CONNS" -t 2 -d "${HTTP_SECONDS}s" --latency "$1" 2>&1) || { echo "$out" >&2; return 1; }
  echo "$out" >>"$LOGS/wrk.log"
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
    note "wrk $1: $(grep 'Non-2xx\|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ')"
  fi
  sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' <<<"$out"
}
MISSING="n/a (service missing)"

# ================================================================ issue 2
# broker_ceiling BATCH SAMPLES: publisher -> mosquitto -> devicestats-sink.
# Sets RATE_A (samples/s from the first publish to the sink's last sample)
# and PUB_A (the publisher's own rate).
# sink_start N: devicestats-sink expecting N samples, output in
# $RUN/sink.out, started and ready; sets SINK_PID.
sink_start() {
  : >"$RUN/sink.out"
  "$SINK" --expect "$1" --idle-ms 20000 >"$RUN/sink.out" 2>>"$LOGS/sink.log" &
  SINK_PID=$!
  EXTRA_PIDS+=("$SINK_PID")
  for ((i = 0; i < 100; i++)); do grep -q 'sink ready' "$RUN/sink.out" && break; sleep 0.05; done
}
broker_ceiling() {
  local batch=$1 n=$2 out=$RUN/sink.out line sp
  sink_start "$n"
  sp=$SINK_PID
  line=$("$LOADGEN" --progress off --devices "$DEVICES" --samples "$n" --batch "$batch" \
    --connections "$PUB_CONNS" --inflight "$PUB_INFLIGHT")
  wait "$sp" || note "sink: $(tail -n 1 "$out")"
  untrack "$sp"
  local sl; sl=$(tail -n 1 "$out")
  RATE_A=$(calc "$n * 1000 / ($(kv last_ms "$sl") - $(kv start_ms "$line"))")
  PUB_A=$(kv rate "$line")
  note "broker ceiling batch=$batch: $sl / $line"
}
# copy_ceiling SAMPLES: the same rows by one binary COPY into an empty
# samples_recent.  Sets RATE_B.
copy_ceiling() {
  local n=$1 line
  sql "TRUNCATE samples_recent"
  checkpoint
  line=$("$COPYLOAD" --prefix ld- --devices "$DEVICES" --samples "$n" --create-devices)
  RATE_B=$(kv rate "$line")
  note "COPY ceiling: $line"
  sql "TRUNCATE samples_recent"
}
# end_to_end BATCH SAMPLES: publish -> ingest -> committed.  Sets RATE_C, PUB_C.
end_to_end() {
  local batch=$1 n=$2 line t_end
  sql "TRUNCATE samples_recent, sample_chunks"
  checkpoint
  line=$("$LOADGEN" --progress off --devices "$DEVICES" --samples "$n" --batch "$batch" \
    --connections "$PUB_CONNS" --inflight "$PUB_INFLIGHT")
  t_end=$(wait_count "$n") || return 1
  RATE_C=$(calc "$n * 1000 / ($t_end - $(kv start_ms "$line"))")
  PUB_C=$(kv rate "$line")
  note "end to end batch=$batch: $line committed_ms=$t_end"
}

# best_of FN ARGS...: runs FN REPEAT times and keeps the run with the highest
# rate (its RATE_x and PUB_x), to damp what other processes on the machine do.
best_of() {
  local fn=$1 i br='' bp=''; shift
  for ((i = 0; i < REPEAT; i++)); do
    RATE_A='' RATE_B='' RATE_C='' PUB_A='' PUB_C=''
    "$fn" "$@" || return 1
    local r=${RATE_A:-${RATE_B:-$RATE_C}} p=${PUB_A:-$PUB_C}
    if [ -z "$br" ] || awk -v a="$r" -v b="$br" 'BEGIN { exit !(a > b) }'; then br=$r bp=$p; fi
  done
  RATE_A=$br RATE_B=$br RATE_C=$br PUB_A=$bp PUB_C=$bp
}

# spool_figures: from ingest's stats line (STATS_PERIOD_S): spool bytes
# written per message, and the most messages ever acknowledged but not yet
# fdatasynced (the power-loss window at INGEST_SPOOL_SYNC_MS).
spool_figures() {
  local l written received unsynced
  sleep $((${BENCH_STATS_PERIOD_S:-10} + 1))
  l=$(grep 'event=stats' "$LOGS/ingest.log" | tail -n 1)
  written=$(kv spool_written_bytes "$l") received=$(kv received "$l") unsynced=$(kv spool_unsynced_max "$l")
  [ -n "$written" ] && [ -n "$received" ] && [ "$received" -gt 0 ] || return 0
  row "2 spool bytes written per message (single objects and arrays of 100 together)" "" "$(fmt2 "$(calc "$written / $received")")" "" "" ""
  row "2 power-loss window: messages acknowledged but not yet fdatasynced, most at once (INGEST_SPOOL_SYNC_MS ${INGEST_SPOOL_SYNC_MS:-100})" "" "$(fmt_int "$unsynced")" "" "" ""
}

ingest_section() {
  local a1 b1 p1 a100 b100 p100 c1 c100 pc1 pc100 hwm alone
  note "issue 2: ceilings (single objects: $SAMPLES samples, arrays of 100: $ARRAY_SAMPLES samples, $DEVICES devices)"
  # The publisher alone (broker with no subscriber): its headroom.
  alone=$("$LOADGEN" --progress off --devices "$DEVICES" --samples "$SAMPLES" --batch 1 \
    --connections "$PUB_CONNS" --inflight "$PUB_INFLIGHT")
  note "publisher alone: $alone"
  row "2 publisher alone, single objects, QoS 1 (samples/s into the broker, no subscriber)" "$(fmt_int "$(kv rate "$alone")")" "" "" "" ""
  best_of broker_ceiling 1 "$SAMPLES"; a1=$RATE_A p1=$PUB_A
  best_of broker_ceiling 100 "$ARRAY_SAMPLES"; a100=$RATE_A p100=$PUB_A
  best_of copy_ceiling "$SAMPLES"; b1=$RATE_B
  best_of copy_ceiling "$ARRAY_SAMPLES"; b100=$RATE_B
  if ! svc_start ingest; then
    row "2 ingest, single objects (samples/s)" "$(fmt_int "$(calc "($a1 < $b1) ? $a1 : $b1")")" "$MISSING" "" "≥ 0.70" "n/a"
    row "2 ingest, arrays of 100 (samples/s)" "$(fmt_int "$b100")" "$MISSING" "" "≥ 0.70" "n/a"
    return 0
  fi
  best_of end_to_end 1 "$SAMPLES" || return 1; c1=$RATE_C pc1=$PUB_C
  best_of end_to_end 100 "$ARRAY_SAMPLES" || return 1; c100=$RATE_C pc100=$PUB_C
  hwm=$(vm_hwm_kib ingest)

  local m1 r1 r100
  m1=$(calc "($a1 < $b1) ? $a1 : $b1")
  r1=$(calc "$c1 / $m1")
  r100=$(calc "$c100 / $b100")
  row "2a broker ceiling, single objects (samples/s; publisher $(fmt_int "$p1"))" "$(fmt_int "$a1")" "" "" "" ""
  row "2b COPY ceiling, single-object rows (samples/s)" "$(fmt_int "$b1")" "" "" "" ""
  row "2c **end to end, single objects** (samples/s; publisher $(fmt_int "$pc1")) vs min(a, b)" \
    "$(fmt_int "$m1")" "$(fmt_int "$c1")" "$(fmt2 "$r1")" "≥ 0.70" "$(verdict "$r1" '>=' 0.70)"
  row "2a broker ceiling, arrays of 100 (samples/s; publisher $(fmt_int "$p100"))" "$(fmt_int "$a100")" "" "" "" ""
  row "2b COPY ceiling, same rows (samples/s)" "$(fmt_int "$b100")" "" "" "" ""
  row "2c **end to end, arrays of 100** (samples/s; publisher $(fmt_int "$pc100")) vs b" \
    "$(fmt_int "$b100")" "$(fmt_int "$c100")" "$(fmt2 "$r100")" "≥ 0.70" "$(verdict "$r100" '>=' 0.70)"
  row "2 ingest peak RSS (VmHWM)" "" "$(calc "$hwm / 1024" | xargs printf '%.1f MiB')" "" "≤ 64 MiB" \
    "$(verdict "$hwm" '<=' 65536)"
  spool_figures

  # Storage: the rows ingest wrote (the last run), then the same compacted.
  local n rows_b chunk_b chunks
  sql "VACUUM ANALYZE samples_recent" 
  n=$(sql "SELECT count(*) FROM samples_recent")
  rows_b=$(calc "$(sql "SELECT pg_total_relation_size('samples_recent')") / $n")
  compact_all
  sql "VACUUM ANALYZE sample_chunks"
  chunks=$(sql "SELECT count(*) FROM sample_chunks")
  chunk_b=$(calc "$(sql "SELECT pg_total_relation_size('sample_chunks')") / $(sql "SELECT sum(n) FROM sample_chunks")")
  row "2 bytes per stored sample, rows in samples_recent (table + index; naive layout ~105)" "" "$(fmt2 "$rows_b")" "" "" ""
  row "2 bytes per stored sample, compacted sample_chunks ($chunks chunks of ~$((n / chunks)))" "" "$(fmt2 "$chunk_b")" "" "" ""
  NOTES+=("Ingest: best of $REPEAT; mosquitto max_inflight_messages=$MQTT_INFLIGHT_CONF; publisher (devicestats-loadgen, libmosquitto): $PUB_CONNS connection(s) × $PUB_INFLIGHT QoS 1 messages in flight; $DEVICES devices; timestamps in the payload (integer ms); end to end = first publish until count(*) in PostgreSQL reaches the total; broker ceiling = first publish until the sink's last message.")

  # Leave an empty store for the next sections.
  sql "TRUNCATE samples_recent, sample_chunks"
  sql "DELETE FROM devices WHERE name LIKE 'ld-%'"
}

# ================================================================ issue 3
query_section() {
  local dev=qb-0000 id naive_sql view_sql a_naive a_view b start_iso end_iso c d e f hwm
  note "issue 3: loading $Q_SAMPLES samples of $dev (one per second)"
  "$COPYLOAD" --prefix qb- --devices 1 --samples "$Q_SAMPLES" --create-devices >&2
  compact_all "name = '$dev'"
  naive_table
  "$COPYLOAD" --table bench_naive --prefix qb- --devices 1 --samples "$Q_SAMPLES" >&2
  sql "VACUUM ANALYZE bench_naive" && sql "VACUUM ANALYZE samples_recent" && sql "VACUUM ANALYZE sample_chunks"
  id=$(sql "SELECT id FROM devices WHERE name = '$dev'")

  naive_sql=$(stats_sql bench_naive "device_id = $id")
  view_sql=$(stats_sql device_samples "device_id = '$dev'")
  a_naive=$(sql_best 3 "$naive_sql")
  a_view=$(sql_best 3 "$view_sql")
  # One hour in the middle of the device's history: 3600 samples.
  local base_s=$(( $(sed -n 's/.*LOAD_TS_BASE_MS INT64_C(\([0-9]*\)).*/\1/p' "$SRC/tests/load/load_gen.h") / 1000 ))
  local off=$(( Q_SAMPLES / 2 ))
  start_iso=$(date -u -d "@$((base_s + off))" +%Y-%m-%dT%H:%M:%SZ)
  end_iso=$(date -u -d "@$((base_s + off + 3600))" +%Y-%m-%dT%H:%M:%SZ)
  printf '%s\n' "$(stats_sql bench_naive "device_id = $id AND ts >= '$start_iso' AND ts < '$end_iso'")" >"$RUN/range.sql"

  # The constant server and the service side by side: 3 alternating pairs
  # of /health runs (the headline ratio is their median; each run's ratio
  # is listed), as are the pgbench and wrk runs of the 1-hour range.
  : >"$RUN/consthttp.out"
  # In a session of its own, as every service runs (ds_service_start):
  # with the kernel's autogroup scheduling, each session is one group with
  # an equal share of the CPU on a loaded machine, so a constant server
  # sharing the bench's session competed on other terms than the service.
  setsid "$CONSTHTTP" "$CONST_PORT" "$QUERY_THREADS" >"$RUN/consthttp.out" 2>&1 &
  local cp=$!
  EXTRA_PIDS+=("$cp")
  for ((i = 0; i < 100; i++)); do grep -q ready "$RUN/consthttp.out" && break; sleep 0.05; done
  row "3a all-time statistics of 1 device × $(fmt_int "$Q_SAMPLES"), SQL percentile_cont on naive rows (best of 3)" "$(fmt_ms "$a_naive")" "" "" "" ""
  row "3a same SQL on the device_samples view (best of 3)" "$(fmt_ms "$a_view")" "" "" "" ""
  if svc_start query; then
    local base="http://127.0.0.1:$HTTP_PORT"
    b=$(http_best 3 "$base/devices/$dev/data/all") || b=
    grep -o '"count": *[0-9]*' "$RUN/http.body" | head -n 1 | sed 's/^/bench.sh: data\/all /' >&2 || true
    local r cs=() ds=() es=() fs=() dr=() fr=()
    for ((r = 0; r < Q_RUNS; r++)); do
      c=$("$PGBENCH" -n -c "$HTTP_CONNS" -j 2 -T "$HTTP_SECONDS" -f "$RUN/range.sql" "$DATABASE_URL" 2>&1 |
        tee -a "$LOGS/pgbench.log" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -n 1)
      d=$(wrk_rps "$base/devices/$dev/data?start=$start_iso&end=$end_iso") || d=0
      e=$(wrk_rps "http://127.0.0.1:$CONST_PORT/health") || e=0
      f=$(wrk_rps "$base/health") || f=0
      cs+=("$c") ds+=("$d") es+=("$e") fs+=("$f")
      dr+=("$(ratio "$d" "$c")") fr+=("$(ratio "$f" "$e")")
    done
    c=$(median "${cs[@]}") d=$(median "${ds[@]}") e=$(median "${es[@]}") f=$(median "${fs[@]}")
    local dmed fmed fmin
    # A run without a ceiling (pgbench finished no transaction: its -T
    # ran out while its clients were still connecting) has no ratio.
    dmed=$(median "${dr[@]}") fmed=$(median "${fr[@]}") fmin=$(printf '%s\n' "${fr[@]}" | sort -g | head -n 1)
    hwm=$(vm_hwm_kib query)
    if [ -n "$b" ]; then
      row "3b **GET /devices/{id}/data/all** (best of 3) vs naive SQL: b/a" "$(fmt_ms "$a_naive")" "$(fmt_ms "$b")" \
        "$(fmt2 "$(calc "$b / $a_naive")")" "≤ 1.0" "$(verdict "$(calc "$b / $a_naive")" '<=' 1.0)"
    else
      row "3b GET /devices/{id}/data/all" "$(fmt_ms "$a_naive")" "failed" "" "≤ 1.0" "MISS"
    fi
    row "3d **1-hour range, 64 connections** (req/s): pgbench SQL vs wrk HTTP, d/c (median of $Q_RUNS pairs; each: ${dr[*]})" "$(fmt_int "$c")" "$(fmt_int "$d")" \
      "$dmed" "≥ 0.8" "$(verdict_r "$dmed" '>=' 0.8)"
    row "3f **GET /health, 64 connections** (req/s): constant MHD server vs service, f/e (median of $Q_RUNS alternating pairs; each: ${fr[*]}; target in every run)" "$(fmt_int "$e")" "$(fmt_int "$f")" \
      "$fmed" "≥ 0.8" "$(verdict_r "$fmin" '>=' 0.8)"
    row "3 query peak RSS under that load (VmHWM)" "" "$(calc "$hwm / 1024" | xargs printf '%.1f MiB')" "" "≤ 64 MiB" \
      "$(verdict "$hwm" '<=' 65536)"
  else
    row "3b GET /devices/{id}/data/all" "$(fmt_ms "$a_naive")" "$MISSING" "" "≤ 1.0" "n/a"
    row "3d 1-hour range, 64 connections (req/s)" "" "$MISSING" "" "≥ 0.8" "n/a"
    row "3f GET /health, 64 connections (req/s)" "" "$MISSING" "" "≥ 0.8" "n/a"
  fi
  kill "$cp"; wait "$cp" 2>/dev/null || true
  untrack "$cp"
  NOTES+=("Query: QUERY_THREADS=$QUERY_THREADS (the constant server uses as many); wrk -c $HTTP_CONNS -t 2 -d ${HTTP_SECONDS}s; pgbench -c $HTTP_CONNS -j 2 -T $HTTP_SECONDS; range $start_iso .. $end_iso.")
}

# =============================================================== issue 11
ui_section() {
  local dev=ui-0000 n=${BENCH_UI_SAMPLES:-1000000} out start_iso end_iso
  if [ ! -x /usr/bin/chromium ] || [ ! -f "$SRC/web/node_modules/playwright-core/package.json" ]; then
    row "11 dashboard" "" "chromium or playwright-core missing (scripts/deps.sh)" "" "" "n/a"
    return 0
  fi
  # One day: the samples 86400000/n ms apart from LOAD_TS_BASE_MS.
  local base_ms
  base_ms=$(sed -n 's/.*LOAD_TS_BASE_MS INT64_C(\([0-9]*\)).*/\1/p' "$SRC/tests/load/load_gen.h")
  note "issue 11: loading $n samples of $dev within one day"
  "$COPYLOAD" --prefix ui- --devices 1 --samples "$n" --ts-step $((86400000 / n)) --create-devices >&2
  compact_all "name = '$dev'"
  sql "VACUUM ANALYZE sample_chunks" && sql "VACUUM ANALYZE samples_recent"
  start_iso=$(date -u -d "@$((base_ms / 1000))" +%Y-%m-%dT%H:%M:%SZ)
  end_iso=$(date -u -d "@$((base_ms / 1000 + 86400))" +%Y-%m-%dT%H:%M:%SZ)
  ds_alive "$ST" query || svc_start query || { row "11 dashboard" "" "$MISSING" "" "" "n/a"; return 0; }
  out=$(node "$SRC/tests/browser/bench_ui.mjs" "http://127.0.0.1:$HTTP_PORT" "$dev" "$start_iso" "$end_iso" 2>>"$LOGS/bench_ui.log") ||
    { tail -n 20 "$LOGS/bench_ui.log" >&2; row "11 dashboard" "" "failed (bench_ui.mjs)" "" "" "MISS"; return 0; }
  note "dashboard: $out"
  local bytes files first rest samples buckets series
  bytes=$(sed -n 's/.*"first_load_bytes":\([0-9]*\).*/\1/p' <<<"$out")
  files=$(sed -n 's/.*"first_load_files":\([0-9]*\).*/\1/p' <<<"$out")
  first=$(sed -n 's/.*"chart_ms":\[\([0-9]*\).*/\1/p' <<<"$out")
  rest=$(sed -n 's/.*"chart_ms":\[[0-9]*,\([0-9,]*\)\].*/\1/p' <<<"$out" | tr ',' '\n' | sort -n | sed -n 2p)
  series=$(sed -n 's/.*"series_ms":\[\([0-9-]*\).*/\1/p' <<<"$out")
  samples=$(sed -n 's/.*"samples":\([0-9]*\).*/\1/p' <<<"$out")
  buckets=$(sed -n 's/.*"buckets":\([0-9]*\).*/\1/p' <<<"$out")
  row "11 **dashboard first load**: GET / and its $files files, bytes transferred (gzip)" "" "$(calc "$bytes / 1024" | xargs printf '%.1f KB')" "" "≤ 200 KB" \
    "$(verdict "$bytes" '<=' 204800)"
  row "11 **time to the chart drawn**, $(fmt_int "$samples") samples over one day ($buckets buckets): first load (of which the series request; median of 3 more loads)" "" \
    "$(fmt_ms "$first") ($(fmt_ms "$series"); $(fmt_ms "$rest"))" "" "≤ 1 s" "$(verdict "$first" '<=' 1000)"
  NOTES+=("Dashboard: headless chromium (playwright-core), 1280×900, a fresh browser context per load (no HTTP cache); time = navigation start to uPlot's first draw (performance mark), statistics and series requested at once; range $start_iso .. $end_iso.")
}

# ================================================================ issue 4
# recalc REQUEST_JSON REQUEST_ID: publishes a command and waits for its done
# (or failed) status.  Sets RECALC_MS (wall time), RECALC_EVENT (the event).
recalc() {
  local cmd=$1 rid=$2 out=$RUN/status-$2.out sp t0 deadline
  : >"$out"
  mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t control/recalculate/status >"$out" 2>/dev/null &
  sp=$!
  EXTRA_PIDS+=("$sp")
  sleep 0.3
  t0=$(now_ms)
  mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t control/recalculate -m "$cmd"
  deadline=$((SECONDS + WAIT_S))
  RECALC_EVENT=
  while ((SECONDS < deadline)); do
    RECALC_EVENT=$(grep -F "\"$rid\"" "$out" | grep -E '"state": *"(done|failed)"' | head -n 1 || true)
    [ -n "$RECALC_EVENT" ] && break
    sleep 0.02
  done
  RECALC_MS=$(($(now_ms) - t0))
  kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
  untrack "$sp"
  [ -n "$RECALC_EVENT" ] || { note "no done/failed status for $rid within ${WAIT_S}s"; return 1; }
  note "recalc $rid: ${RECALC_MS} ms: $RECALC_EVENT"
  grep -q '"state": *"done"' <<<"$RECALC_EVENT"
}

aggregator_section() {
  local total=$((AGG_DEVICES * AGG_SAMPLES)) a_naive a_view b inc ev_ms
  note "issue 4: loading $AGG_DEVICES devices × $AGG_SAMPLES samples"
  "$COPYLOAD" --prefix ag- --devices "$AGG_DEVICES" --samples "$total" --create-devices >&2
  compact_all "name LIKE 'ag-%'"
  naive_table
  "$COPYLOAD" --table bench_naive --prefix ag- --devices "$AGG_DEVICES" --samples "$total" >&2
  sql "VACUUM ANALYZE bench_naive" && sql "VACUUM ANALYZE samples_recent" && sql "VACUUM ANALYZE sample_chunks"
  local all; all=$(stored_count)
  note "issue 4: the store holds $all samples of $(sql "SELECT count(*) FROM devices") devices"
  a_naive=$(sql_best 1 "$(stats_sql bench_naive true device_id)")
  a_view=$(sql_best 1 "$(stats_sql device_samples true device_id)")
  row "4a every device's statistics, one grouped SQL on naive rows ($(fmt_int "$all") samples)" "$(fmt_ms "$a_naive")" "" "" "" ""
  row "4a same on the device_samples view" "$(fmt_ms "$a_view")" "" "" "" ""
  if ! svc_start aggregator; then
    row "4b full recalculation" "$(fmt_ms "$a_naive")" "$MISSING" "" "≤ 1.0" "n/a"
    row "4 incremental after 10 devices got samples" "" "$MISSING" "" "< 2% of full" "n/a"
    return 0
  fi
  if recalc '{"full":true,"request_id":"bench-full"}' bench-full; then
    b=$RECALC_MS
    ev_ms=$(grep -o '"elapsed_ms": *[0-9]*' <<<"$RECALC_EVENT" | grep -o '[0-9]*$' || true)
    row "4b **full recalculation** (command to done event; elapsed_ms ${ev_ms:-?}) vs grouped SQL: b/a" \
      "$(fmt_ms "$a_naive")" "$(fmt_ms "$b")" "$(fmt2 "$(calc "$b / $a_naive")")" "≤ 1.0" \
      "$(verdict "$(calc "$b / $a_naive")" '<=' 1.0)"
  else
    row "4b full recalculation" "$(fmt_ms "$a_naive")" "failed" "" "≤ 1.0" "MISS"
    return 0
  fi
  # Incremental: 10 devices get 100 new samples each through MQTT and ingest.
  if ds_alive "$ST" ingest || svc_start ingest; then
    "$LOADGEN" --progress off --prefix ag- --devices 10 --samples 1000 --first "$AGG_SAMPLES" --batch 100 >&2
    wait_count "$((all + 1000))" >/dev/null
    if recalc '{"request_id":"bench-incr"}' bench-incr; then
      inc=$RECALC_MS
      local devs; devs=$(grep -o '"devices": *[0-9]*' <<<"$RECALC_EVENT" | grep -o '[0-9]*$' || true)
      local iev; iev=$(grep -o '"elapsed_ms": *[0-9]*' <<<"$RECALC_EVENT" | grep -o '[0-9]*$' || true)
      # The share compares the runs' own times (elapsed_ms in the done
      # events); the wall-clock share, command to event, is shown beside it.
      local share wshare
      if [ -n "$iev" ] && [ -n "$ev_ms" ] && [ "$ev_ms" -gt 0 ]; then
        share=$(calc "$iev / $ev_ms")
      else
        share=$(calc "$inc / $b")
      fi
      wshare=$(calc "$inc / $b")
      row "4 **incremental after 10 devices got samples** ($devs devices recomputed): run time elapsed_ms ${iev:-?} vs ${ev_ms:-?} (wall, command to done event: $(fmt_ms "$inc") vs $(fmt_ms "$b"))" \
        "$(fmt_ms "${ev_ms:-$b}")" "$(fmt_ms "${iev:-$inc}")" \
        "$(awk -v a="$share" -v w="$wshare" 'BEGIN { printf "%.2f%% (wall %.1f%%)", 100 * a, 100 * w }')" \
        "< 2%" "$(verdict "$share" '<' 0.02)"
    else
      row "4 incremental after 10 devices got samples" "$(fmt_ms "$b")" "failed" "" "< 2% of full" "MISS"
    fi
  else
    row "4 incremental after 10 devices got samples" "" "n/a (ingest missing)" "" "< 2% of full" "n/a"
  fi
}

# killwindow_section: the kill loop.  Ingest SIGKILLed BENCH_KILLS times at
# random moments (0.3-1.5 s apart) while the load generator publishes
# KILL_SAMPLES single objects at full speed, each time started again with
# the same environment; then every sample must be stored exactly once.
# Loadgen gives each sample of a device its own ts, so (device, ts) names a
# sample: lost = published - distinct, duplicated = rows - distinct.
killwindow_section() {
  local line rate stored distinct prev='' stable=0 lost dup k kills=${BENCH_KILLS:-10}
  note "kill loop: $KILL_SAMPLES single objects, ingest SIGKILLed $kills times"
  if ! { ds_alive "$ST" ingest || svc_start ingest; }; then
    row "2 kill loop" "" "n/a (ingest missing)" "" "" ""
    return 0
  fi
  sql "TRUNCATE samples_recent, sample_chunks"
  "$LOADGEN" --progress off --prefix kw- --devices 100 --samples "$KILL_SAMPLES" --batch 1 \
    --connections "$PUB_CONNS" --inflight "$PUB_INFLIGHT" >"$RUN/killwindow.out" &
  local lg=$!
  for ((k = 0; k < kills; k++)); do
    sleep "0.$((3 + RANDOM % 10))"
    ds_stop_instance "$ST" ingest 30 KILL >/dev/null
    svc_start ingest || { row "2 kill loop" "" "ingest did not restart" "" "" ""; return 0; }
  done
  wait "$lg" || true
  line=$(cat "$RUN/killwindow.out")
  # Wait until the count stops moving for 3 s (the broker has delivered all).
  while ((stable < 6)); do
    sleep 0.5
    stored=$(stored_count)
    if [ "$stored" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
    prev=$stored
  done
  distinct=$(sql "SELECT count(DISTINCT (device_id, ts)) FROM device_samples WHERE device_id LIKE 'kw-%'")
  lost=$((KILL_SAMPLES - distinct))
  dup=$((stored - distinct))
  rate=$(kv rate "$line")
  note "kill loop: $line stored=$stored distinct=$distinct lost=$lost duplicated=$dup; ingest: $(grep -o 'event=shutdown_complete.*\|event=stats .*' "$LOGS/ingest.log" | tail -n 1)"
  row "2 kill loop: ingest SIGKILLed $kills times while $(fmt_int "$KILL_SAMPLES") single objects arrive at $(fmt_int "$rate") samples/s: lost / duplicated" \
    "" "$(fmt_int "$lost") / $(fmt_int "$dup")" "" "0 / 0" "$( ((lost == 0 && dup == 0)) && echo PASS || echo MISS)"
}

# shellcheck source=scripts/lib/bench_seed.sh
. "$SRC/scripts/lib/bench_seed.sh"

BENCH_T0=$SECONDS
LOAD_START=$(cut -d ' ' -f 1-3 /proc/loadavg)
# shellcheck source=lib/bench_scale.sh
. "$SRC/scripts/lib/bench_scale.sh"
# shellcheck source=lib/bench_curves.sh
. "$SRC/scripts/lib/bench_curves.sh"
section_on seed && { gate seed; seed_section || ds_die "seed section failed"; }
section_on ingest && { gate ingest; ingest_section; }
section_on killwindow && { gate killwindow; killwindow_section; }
section_on query && { gate query; query_section; }
section_on aggregator && { gate aggregator; aggregator_section; }
section_on ui && { gate ui; ui_section; }
section_on scale && { gate scale; scale_section || note "scale section failed"; }
section_on curves && { gate curves; curves_section || note "curves section failed"; }

cat <<EOF

DeviceStats benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown), PostgreSQL fsync=$FSYNC, $((SECONDS - BENCH_T0)) s, load average at start $LOAD_START, at end $(cut -d ' ' -f 1-3 /proc/loadavg)

| measurement | ceiling | DeviceStats | ratio | target | result |
| --- | ---: | ---: | ---: | --- | --- |
EOF
printf '%s\n' "${ROWS[@]}"
echo
for n in "${NOTES[@]}"; do echo "- $n"; done
