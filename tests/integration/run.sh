#!/usr/bin/env bash
# Integration harness: runs one scenario binary against a throwaway stack.
#   tests/integration/run.sh <scenario-binary> [args...]
# Starts PostgreSQL (fsync off) and mosquitto (with credentials) on free
# loopback ports in a temp dir, applies the migrations, starts the services
# that are built and waits for each event=ready, runs the scenario with
# DS_TEST_* variables, then SIGTERMs every service and requires exit code 0
# and no unexpected level=error line in any service log.  On failure it
# prints the logs and keeps the temp dir.
#
# Environment: DS_BUILD_DIR (default <source>/build), DS_SOURCE_DIR,
# DS_TEST_KEEP=1 keeps the temp dir, DS_TEST_READY_TIMEOUT_S (60),
# DS_TEST_LOG_LEVEL (passed to services as LOG_LEVEL), TEST_VALGRIND=1,
# DS_TEST_MQTT_TLS=1 (the broker's plain listener off: services and the
# scenario's clients use the TLS listener, checked against the stack's CA).
# INGEST_INSTANCES=N (ingest-1..N on the shared subscription, as run.sh),
# DEVICESTATS_DB=citus (a Citus coordinator + CITUS_WORKERS workers, default
# 2, instead of one cluster; the scenario sees DS_TEST_DB=citus).
set -euo pipefail

DS_PROG=it-run
[ $# -ge 1 ] || { echo "usage: $0 <scenario-binary> [args...]" >&2; exit 2; }
SCENARIO=$1; shift
SRC=${DS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${DS_BUILD_DIR:-$SRC/build}
# shellcheck source=../../scripts/lib/stack.sh
. "$SRC/scripts/lib/stack.sh"
SCENARIO_NAME=$(basename "$SCENARIO")
READY_TIMEOUT=${DS_TEST_READY_TIMEOUT_S:-60}

T=$(mktemp -d "${TMPDIR:-/tmp}/ds-it-$SCENARIO_NAME.XXXXXX")
chmod 755 "$T"          # the postgres and mosquitto users traverse it
ST=$T/proc LOGS=$T/logs
mkdir -p "$ST" "$LOGS"
declare -p SRC BUILD T ST LOGS >"$T/state.sh"
# If this script is killed (ctest's timeout sends SIGKILL), nothing here
# runs: a watcher in its own session then stops the stack by its pids.
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
  if [ -d "$2" ] && [ ! -e "$2/cleaned" ]; then
    DS_STACK_STATE=$2 "$3" reap
  fi' _ $$ "$T" "$SRC/tests/integration/stackctl.sh" </dev/null >/dev/null 2>&1 &
FAILED=0
CLEANED=0

print_logs() {
  local f
  for f in "$LOGS"/*.log "$T/pg/postgres.log" "$T"/citus-worker*/pg/postgres.log; do
    [ -e "$f" ] || continue
    echo "=================== $f"
    tail -n "${DS_TEST_LOG_LINES:-400}" "$f"
  done
}

# Stops everything still running, by pid: services, broker, cluster.
stop_all() {
  local n
  for n in "$ST"/*.pid; do
    [ -e "$n" ] || continue
    n=$(basename "$n" .pid)
    [ "$n" = mosquitto ] && continue
    ds_alive "$ST" "$n" && ds_stop_instance "$ST" "$n" 30 >/dev/null
  done
  ds_alive "$ST" mosquitto && ds_stop_instance "$ST" mosquitto 30 >/dev/null
  if [ -d "$T/pg/data" ] && ds_pg_running "$T"; then ds_pg_stop "$T" || true; fi
  ds_citus_workers_stop "$T" || true
}

cleanup() {
  local rc=$?
  [ $CLEANED = 1 ] && return
  CLEANED=1
  trap - EXIT INT TERM
  [ $rc -ne 0 ] && FAILED=1
  stop_all
  : >"$T/cleaned"
  if [ $FAILED = 1 ]; then
    print_logs
    echo "$DS_PROG: $SCENARIO_NAME FAILED; stack kept in $T" >&2
    exit 1
  fi
  if [ "${DS_TEST_KEEP:-0}" = 1 ]; then
    echo "$DS_PROG: kept $T" >&2
  else
    rm -rf "$T"
  fi
  exit 0
}
trap cleanup EXIT
trap 'FAILED=1; exit 1' INT TERM

fail() { echo "$DS_PROG: FAIL: $*" >&2; FAILED=1; }

# --- ports
PG_PORT=$(ds_free_port)
MQTT_PORT=$(ds_free_port "$PG_PORT")
HTTP_PORT=$(ds_free_port "$PG_PORT" "$MQTT_PORT")
INGEST_ADMIN_PORT=$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT")
AGGREGATOR_ADMIN_PORT=$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$INGEST_ADMIN_PORT")
MQTT_TLS_PORT=$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$INGEST_ADMIN_PORT" "$AGGREGATOR_ADMIN_PORT")

# --- PostgreSQL (DEVICESTATS_DB=citus: a coordinator on PG_PORT plus
# CITUS_WORKERS workers, default 2, on free ports of their own)
DB_PASSWORD=$(ds_gen_secret)
WORKER_PORTS=()
if [ "$(ds_db_variant)" = citus ]; then
  for ((i = 0; i < ${CITUS_WORKERS:-2}; i++)); do
    WORKER_PORTS+=("$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$INGEST_ADMIN_PORT" "$AGGREGATOR_ADMIN_PORT" "$MQTT_TLS_PORT" "${WORKER_PORTS[@]}")")
  done
  ds_citus_up "$T" "$PG_PORT" off "$DB_PASSWORD" nosync "${WORKER_PORTS[@]}"
else
  ds_pg_prepare "$T"
  ds_pg_init "$T" nosync
  ds_pg_start "$T" "$PG_PORT" off
  ds_pg_ensure_db "$T" "$PG_PORT" "$DB_PASSWORD"
fi
DATABASE_URL=$(ds_db_url "$PG_PORT" "$DB_PASSWORD")
DS_MIGRATE_FALLBACK=${DS_MIGRATE_FALLBACK:-1} ds_migrate "$BUILD" "$SRC" "$DATABASE_URL" \
  >"$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log" >&2; exit 1; }
# Each service logs in with its own role (deploy/sql/grants.sql).
ds_pg_ensure_roles "$T" "$PG_PORT" "$T"
[ "$(ds_db_variant)" = citus ] && ds_citus_roles "$T" "$PG_PORT" "$T" "${WORKER_PORTS[@]}"
ds_db_grants "$SRC" "$DATABASE_URL"
ds_svc_db_env "$ST" "$PG_PORT" "$T"

# --- mosquitto
MQTT_USER=devicestats
MQTT_PASSWORD=$(ds_gen_secret)
# Every stack has the TLS listener too.  Its private CA and certificate are
# made once per build directory (openssl costs ~0.4 s of CPU) and shared by
# the scenarios; $T/tls points at them.
mkdir -p "$BUILD/it-tls"
(flock 7 && ds_tls_ensure "$BUILD/it-tls/tls") 7>"$BUILD/it-tls/lock" ||
  ds_die "no TLS certificates in $BUILD/it-tls"
ln -s "$BUILD/it-tls/tls" "$T/tls"
MQTT_TLS=${DS_TEST_MQTT_TLS:-0}
MQTT_URL=tcp://127.0.0.1:$MQTT_PORT
[ "$MQTT_TLS" = 1 ] && MQTT_URL=ssl://127.0.0.1:$MQTT_TLS_PORT
DS_MQTT_TLS_PORT=$MQTT_TLS_PORT DS_MQTT_TLS_CERT=$T/tls/server.crt DS_MQTT_TLS_KEY=$T/tls/server.key \
  DS_MQTT_PLAIN=$([ "$MQTT_TLS" = 1 ] && echo 0 || echo 1) \
  ds_mqtt_configure "$T" "$MQTT_PORT" 0 "$SRC" "$MQTT_USER" "$MQTT_PASSWORD"
ds_mqtt_start "$T" "$ST" "$LOGS/mosquitto.log"

# --- services
API_TOKEN=$(ds_gen_secret)
DS_SVC_ENV=(
  "DATABASE_URL=$DATABASE_URL"
  "PGHOST=127.0.0.1" "PGPORT=$PG_PORT" "PGUSER=devicestats"
  "PGPASSWORD=$DB_PASSWORD" "PGDATABASE=devicestats"
  "MQTT_URL=$MQTT_URL" "MQTT_CA_FILE=$T/tls/ca.crt"
  "MQTT_USERNAME=$MQTT_USER" "MQTT_PASSWORD=$MQTT_PASSWORD"
  "HTTP_PORT=$HTTP_PORT" "API_TOKEN=$API_TOKEN"
  "INGEST_SPOOL_DIR=$T/spool"
)
[ -n "${DS_TEST_LOG_LEVEL:-}" ] && DS_SVC_ENV+=("LOG_LEVEL=$DS_TEST_LOG_LEVEL")

# Everything stackctl.sh needs to act on this stack.
{
  declare -p PG_PORT MQTT_PORT MQTT_TLS_PORT HTTP_PORT INGEST_ADMIN_PORT AGGREGATOR_ADMIN_PORT READY_TIMEOUT DS_SVC_ENV
  echo "SERVICES=()"
} >>"$T/state.sh"

started=()
for svc in "${DS_SERVICES[@]}"; do
  bin=$(ds_service_bin "$BUILD" "$svc") || { echo "$DS_PROG: $svc not built, skipped" >&2; continue; }
  echo "SERVICES+=($svc)" >>"$T/state.sh"
  echo "BIN_$svc=$(printf %q "$bin")" >>"$T/state.sh"
  if [ "$svc" = ingest ] && [ "${INGEST_INSTANCES:-1}" -gt 1 ]; then
    # As scripts/run.sh: ingest-1..N on the shared subscription, each with
    # its own client id, spool and admin port (instance 1 on
    # INGEST_ADMIN_PORT); stackctl knows them as extra instances of ingest.
    taken=("$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$INGEST_ADMIN_PORT" "$AGGREGATOR_ADMIN_PORT" "$MQTT_TLS_PORT" "${WORKER_PORTS[@]}")
    for ((i = 1; i <= INGEST_INSTANCES; i++)); do
      port=$INGEST_ADMIN_PORT
      [ "$i" -gt 1 ] && port=$(ds_free_port "${taken[@]}") && taken+=("$port")
      printf '%s\n' ingest "ADMIN_PORT=$port" "INGEST_CLIENT_ID=devicestats-ingest-$i" \
        INGEST_SHARE_GROUP=ingest "INGEST_SPOOL_DIR=$T/spool-$i" >"$ST/ingest-$i.extra"
      mapfile -t svc_env < <(tail -n +2 "$ST/ingest-$i.extra")
      ds_service_start "$ST" "ingest-$i" "$LOGS/ingest-$i.log" "$bin" "${svc_env[@]}"
      started+=("ingest-$i")
    done
    continue
  fi
  # A service's own settings (kept for stackctl's restarts).
  [ "$svc" = ingest ] && echo "ADMIN_PORT=$INGEST_ADMIN_PORT" >"$ST/$svc.env"
  [ "$svc" = aggregator ] && echo "ADMIN_PORT=$AGGREGATOR_ADMIN_PORT" >"$ST/$svc.env"
  svc_env=()
  [ -f "$ST/$svc.env" ] && mapfile -t svc_env <"$ST/$svc.env"
  ds_service_start "$ST" "$svc" "$LOGS/$svc.log" "$bin" "${svc_env[@]}"
  started+=("$svc")
done
for svc in "${started[@]}"; do
  ds_wait_log "$ST" "$svc" "$LOGS/$svc.log" 0 'event=ready' "$READY_TIMEOUT" ||
    { fail "$svc not ready"; exit 1; }
done

cat >"$T/stackctl" <<EOF
#!/bin/sh
DS_STACK_STATE=$(printf %q "$T") exec $(printf %q "$SRC/tests/integration/stackctl.sh") "\$@"
EOF
chmod 755 "$T/stackctl"

# --- the scenario
export DS_TEST_DATABASE_URL=$DATABASE_URL
for svc in "${DS_DB_ROLES[@]}"; do
  export "DS_TEST_DATABASE_URL_${svc^^}=$(ds_db_url "$PG_PORT" "$(ds_read_secret "$T/db-password-$svc")" "devicestats_$svc")"
done
export DS_TEST_MQTT_URL=$MQTT_URL
export DS_TEST_MQTT_PLAIN_URL=tcp://127.0.0.1:$MQTT_PORT
export DS_TEST_MQTT_TLS_URL=ssl://127.0.0.1:$MQTT_TLS_PORT
export DS_TEST_MQTT_CA_FILE=$T/tls/ca.crt DS_TEST_TLS_CA_FILE=$T/tls/ca.crt
export DS_TEST_MQTT_USERNAME=$MQTT_USER DS_TEST_MQTT_PASSWORD=$MQTT_PASSWORD
export DS_TEST_HTTP_URL=http://127.0.0.1:$HTTP_PORT
export DS_TEST_INGEST_ADMIN_URL=http://127.0.0.1:$INGEST_ADMIN_PORT
export DS_TEST_AGGREGATOR_ADMIN_URL=http://127.0.0.1:$AGGREGATOR_ADMIN_PORT
export DS_TEST_API_TOKEN=$API_TOKEN
export DS_TEST_STACKCTL=$T/stackctl
export DS_TEST_ALLOW_ERRORS=$T/allow-errors
export DS_TEST_SERVICES="${started[*]}"
export DS_TEST_DIR=$T
DS_TEST_DB=$(ds_db_variant)
export DS_TEST_DB
: >"$DS_TEST_ALLOW_ERRORS"

echo "$DS_PROG: $SCENARIO_NAME: db $DS_TEST_DB, pg :$PG_PORT, mqtt :$MQTT_PORT (tls :$MQTT_TLS_PORT), http :$HTTP_PORT, services: ${started[*]:-none}, dir $T" >&2
set +e
"$SCENARIO" "$@"
src=$?
set -e
[ $src -eq 0 ] || fail "scenario $SCENARIO_NAME exited with $src"

# --- shut down and check every service instance
for f in "$ST"/*.pid; do
  [ -e "$f" ] || continue
  n=$(basename "$f" .pid)
  [ "$n" = mosquitto ] && continue
  if [ -e "$ST/$n.expected" ]; then
    continue                      # stopped or killed by the scenario
  fi
  if [ -e "$ST/$n.rc" ]; then
    fail "$n exited on its own with code $(cat "$ST/$n.rc")"
    continue
  fi
  rc=$(ds_stop_instance "$ST" "$n" "${DS_TEST_STOP_TIMEOUT_S:-60}")
  [ "$rc" = 0 ] || fail "$n exited with code $rc after SIGTERM"
done

# Unexpected errors in service logs (the scenario may allow event names).
for f in "$LOGS"/*.log; do
  case $(basename "$f") in mosquitto.log | migrate.log) continue ;; esac
  while IFS= read -r line; do
    ev=$(printf '%s\n' "$line" | grep -Eo 'event=[A-Za-z0-9_.-]+' | head -n 1 | cut -d= -f2)
    if [ -n "$ev" ] && grep -qxF -- "$ev" "$DS_TEST_ALLOW_ERRORS"; then
      continue
    fi
    fail "unexpected error in $(basename "$f"): $line"
  done < <(grep -E '(^| )level=error( |$)' "$f" || true)
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
    fail "sanitizer report in $(basename "$f")"
  fi
done

[ $FAILED = 0 ] && echo "$DS_PROG: $SCENARIO_NAME passed" >&2
exit $FAILED
