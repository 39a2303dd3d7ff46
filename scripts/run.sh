#!/usr/bin/env bash
# Runs DeviceStats locally: installs what is missing (scripts/deps.sh),
# builds into build/, starts a private PostgreSQL cluster and a mosquitto
# broker under $DEVICESTATS_RUN_DIR (default .run), applies the migrations,
# starts the services, prints where everything is and stays in the
# foreground.  Ctrl-C or SIGTERM stops everything it started and exits 0.
# Data (database, broker queues, credentials) survives a restart.
#
# Environment: MQTT_PORT (1883), HTTP_PORT (8000), INGEST_ADMIN_PORT (8001),
# AGGREGATOR_ADMIN_PORT (8002), PGPORT (55432),
# DEVICESTATS_RUN_DIR (.run), PGPASSWORD (database password when the stack
# is first created), API_TOKEN, API_READ_TOKEN (the services inherit it),
# MQTT_ALLOW_ANONYMOUS=1 (open broker),
# DS_SKIP_BUILD=1 (use build/ as it is), DS_BUILD_DIR (build),
# MQTT_TLS_PORT (8883: the broker's TLS-only listener), MQTT_TLS_CERT and
# MQTT_TLS_KEY (its certificate and key; unset: a private CA and a server
# certificate generated once into $DEVICESTATS_RUN_DIR/tls/), MQTT_CA_FILE
# (the CA clients check it against; default tls/ca.crt when generated),
# MQTT_PLAIN=0 (no plain listener; the services then connect over TLS).
# Variants: DEVICESTATS_DB=citus runs the database as a Citus coordinator
# (on PGPORT) plus CITUS_WORKERS workers (default 2, on PGPORT+1...), each a
# private cluster under the run directory; INGEST_INSTANCES=N (default 1)
# starts N ingest processes on the shared subscription
# $share/ingest/devices/+/data, instance i with client id
# devicestats-ingest-i, spool $DEVICESTATS_RUN_DIR/spool-i and admin port
# INGEST_ADMIN_PORT+i-1.
set -euo pipefail

DS_PROG=run.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$SRC"
# shellcheck source=lib/stack.sh
. "$SRC/scripts/lib/stack.sh"

MQTT_PORT=${MQTT_PORT:-1883}
MQTT_TLS_PORT=${MQTT_TLS_PORT:-8883}
MQTT_PLAIN=${MQTT_PLAIN:-1}
HTTP_PORT=${HTTP_PORT:-8000}
INGEST_ADMIN_PORT=${INGEST_ADMIN_PORT:-8001}
AGGREGATOR_ADMIN_PORT=${AGGREGATOR_ADMIN_PORT:-8002}
PG_PORT=${PGPORT:-55432}
RUN=${DEVICESTATS_RUN_DIR:-.run}
BUILD=${DS_BUILD_DIR:-$SRC/build}
ANON=${MQTT_ALLOW_ANONYMOUS:-0}
READY_TIMEOUT=${DS_READY_TIMEOUT_S:-60}
DB_VARIANT=$(ds_db_variant)
CITUS_WORKERS=${CITUS_WORKERS:-2}
INGEST_INSTANCES=${INGEST_INSTANCES:-1}
[[ $CITUS_WORKERS =~ ^[1-9][0-9]?$ ]] || ds_die "CITUS_WORKERS=$CITUS_WORKERS: expected 1..99"
[[ $INGEST_INSTANCES =~ ^[1-9][0-9]?$ ]] || ds_die "INGEST_INSTANCES=$INGEST_INSTANCES: expected 1..99"
WORKER_PORTS=()
if [ "$DB_VARIANT" = citus ]; then
  for ((i = 1; i <= CITUS_WORKERS; i++)); do WORKER_PORTS+=($((PG_PORT + i))); done
fi
# The service instances, as name:service.  One ingest is "ingest" as ever;
# several are ingest-1..N on the shared subscription.
INSTANCES=()
for svc in "${DS_SERVICES[@]}"; do
  if [ "$svc" = ingest ] && [ "$INGEST_INSTANCES" -gt 1 ]; then
    for ((i = 1; i <= INGEST_INSTANCES; i++)); do INSTANCES+=("ingest-$i:ingest"); done
  else
    INSTANCES+=("$svc:$svc")
  fi
done

"$SRC/scripts/deps.sh"

if [ "${DS_SKIP_BUILD:-0}" != 1 ]; then
  cmake -S "$SRC" -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)"
fi

mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
chmod 755 "$RUN"     # the postgres and mosquitto users need to traverse it
ST=$RUN/proc LOGS=$RUN/logs
mkdir -p "$ST" "$LOGS"

# One run.sh per run directory.
exec 9>"$RUN/lock"
flock -n 9 || ds_die "another run.sh is using $RUN"

# Processes a killed run.sh may have left behind (checked by pid; a
# leftover PostgreSQL is stopped by ds_pg_start).
for n in "${INSTANCES[@]%%:*}" mosquitto; do ds_kill_orphan "$ST" "$n"; done
ports=("$MQTT_TLS_PORT" "$HTTP_PORT" "$AGGREGATOR_ADMIN_PORT")
[ "$MQTT_PLAIN" != 0 ] && ports+=("$MQTT_PORT")
for ((i = 0; i < INGEST_INSTANCES; i++)); do ports+=($((INGEST_ADMIN_PORT + i))); done
ds_pg_running "$RUN" || ports+=("$PG_PORT")
for ((i = 1; i <= ${#WORKER_PORTS[@]}; i++)); do
  ds_pg_running "$(ds_citus_worker_base "$RUN" "$i")" || ports+=("${WORKER_PORTS[i - 1]}")
done
for p in "${ports[@]}"; do
  ds_port_in_use "$p" && ds_die "port $p is in use (set PGPORT, MQTT_PORT, MQTT_TLS_PORT, HTTP_PORT, INGEST_ADMIN_PORT or AGGREGATOR_ADMIN_PORT)"
done

STOPPING=0
stop_all() {
  local n rc
  local rev=()
  for ((i = ${#INSTANCES[@]} - 1; i >= 0; i--)); do rev+=("${INSTANCES[i]%%:*}"); done
  for n in "${rev[@]}"; do
    if ds_alive "$ST" "$n"; then
      rc=$(ds_stop_instance "$ST" "$n" "${DS_STOP_TIMEOUT_S:-60}")
      ds_log "$n stopped (exit code $rc)"
    fi
  done
  if ds_alive "$ST" mosquitto; then
    rc=$(ds_stop_instance "$ST" mosquitto 30)
    ds_log "mosquitto stopped (exit code $rc)"
  fi
  if [ -f "$RUN/pg/data/PG_VERSION" ] && ds_pg_running "$RUN"; then
    ds_pg_stop "$RUN" && ds_log "PostgreSQL stopped"
  fi
  ds_citus_workers_stop "$RUN"
}
on_signal() {
  [ $STOPPING = 1 ] && return
  STOPPING=1
  ds_log "stopping"
  stop_all
  exit 0
}
on_exit() {
  local rc=$?
  [ $STOPPING = 1 ] && return
  STOPPING=1
  stop_all
  exit "$rc"
}
trap on_signal INT TERM
trap on_exit EXIT

# --- PostgreSQL (the Citus coordinator is this same cluster)
if [ "$DB_VARIANT" = citus ] && ds_pg_initialized "$RUN" && [ ! -f "$RUN/citus-password" ]; then
  ds_die "$RUN holds a plain PostgreSQL cluster: use another DEVICESTATS_RUN_DIR for DEVICESTATS_DB=citus"
fi
if [ "$DB_VARIANT" = postgres ] && [ -f "$RUN/citus-password" ]; then
  ds_die "$RUN holds a Citus cluster: set DEVICESTATS_DB=citus (or use another DEVICESTATS_RUN_DIR)"
fi
ds_pg_prepare "$RUN"
if ! ds_pg_initialized "$RUN"; then
  ds_log "creating the PostgreSQL cluster in $RUN/pg"
  if [ -n "${PGPASSWORD:-}" ]; then
    DB_PASSWORD=$PGPASSWORD
  else
    DB_PASSWORD=$(ds_gen_secret)
  fi
  ds_write_secret "$RUN/db-password" "$DB_PASSWORD"
  ds_pg_init "$RUN"
elif [ -n "${PGPASSWORD:-}" ]; then
  DB_PASSWORD=$PGPASSWORD
else
  [ -f "$RUN/db-password" ] || ds_die "$RUN/db-password missing: set PGPASSWORD to the database password"
  DB_PASSWORD=$(ds_read_secret "$RUN/db-password")
fi
if [ "$DB_VARIANT" = citus ]; then
  ds_log "Citus: coordinator on $PG_PORT, workers on ${WORKER_PORTS[*]}"
  ds_citus_up "$RUN" "$PG_PORT" on "$DB_PASSWORD" "" "${WORKER_PORTS[@]}"
else
  ds_pg_start "$RUN" "$PG_PORT" on
  ds_pg_ensure_db "$RUN" "$PG_PORT" "$DB_PASSWORD"
fi
DATABASE_URL=$(ds_db_url "$PG_PORT" "$DB_PASSWORD")
ds_migrate "$BUILD" "$SRC" "$DATABASE_URL"
# One role per service, with only what it needs (deploy/sql/grants.sql);
# passwords in $RUN/db-password-<service>.  Migrations run as the owner.
ds_pg_ensure_roles "$RUN" "$PG_PORT" "$RUN"
[ "$DB_VARIANT" = citus ] && ds_citus_roles "$RUN" "$PG_PORT" "$RUN" "${WORKER_PORTS[@]}"
ds_db_grants "$SRC" "$DATABASE_URL"
ds_svc_db_env "$ST" "$PG_PORT" "$RUN"

# --- mosquitto
MQTT_USER=devicestats
MQTT_PASSWORD=
if [ "$ANON" != 1 ]; then
  if [ ! -f "$RUN/mqtt-password" ]; then
    ds_write_secret "$RUN/mqtt-password" "$(ds_gen_secret)"
  fi
  MQTT_PASSWORD=$(ds_read_secret "$RUN/mqtt-password")
fi
# The TLS listener: the operator's certificate, or our private CA's.
if [ -n "${MQTT_TLS_CERT:-}" ] || [ -n "${MQTT_TLS_KEY:-}" ]; then
  [ -r "${MQTT_TLS_CERT:-}" ] && [ -r "${MQTT_TLS_KEY:-}" ] ||
    ds_die "MQTT_TLS_CERT and MQTT_TLS_KEY must both name readable files"
  TLS_CERT=$MQTT_TLS_CERT TLS_KEY=$MQTT_TLS_KEY
  MQTT_CA_FILE=${MQTT_CA_FILE:-}
else
  ds_tls_ensure "$RUN/tls"
  TLS_CERT=$RUN/tls/server.crt TLS_KEY=$RUN/tls/server.key
  MQTT_CA_FILE=${MQTT_CA_FILE:-$RUN/tls/ca.crt}
fi
DS_MQTT_TLS_PORT=$MQTT_TLS_PORT DS_MQTT_TLS_CERT=$TLS_CERT DS_MQTT_TLS_KEY=$TLS_KEY \
  DS_MQTT_PLAIN=$MQTT_PLAIN ds_mqtt_configure "$RUN" "$MQTT_PORT" "$ANON" "$SRC" "$MQTT_USER" "$MQTT_PASSWORD"
ds_mqtt_start "$RUN" "$ST" "$LOGS/mosquitto.log"
# Our services use the plain loopback listener when there is one.
SVC_MQTT_URL=tcp://127.0.0.1:$MQTT_PORT
[ "$MQTT_PLAIN" = 0 ] && SVC_MQTT_URL=ssl://127.0.0.1:$MQTT_TLS_PORT

# --- services
if [ -z "${API_TOKEN:-}" ]; then
  [ -f "$RUN/api-token" ] || ds_write_secret "$RUN/api-token" "$(ds_gen_secret)"
  API_TOKEN=$(ds_read_secret "$RUN/api-token")
fi
DS_SVC_ENV=(
  "DATABASE_URL=$DATABASE_URL"
  "PGHOST=127.0.0.1" "PGPORT=$PG_PORT" "PGUSER=devicestats"
  "PGPASSWORD=$DB_PASSWORD" "PGDATABASE=devicestats"
  "MQTT_URL=$SVC_MQTT_URL"
  "HTTP_PORT=$HTTP_PORT" "API_TOKEN=$API_TOKEN"
  "INGEST_SPOOL_DIR=${INGEST_SPOOL_DIR:-$RUN/spool}"
)
[ -n "$MQTT_CA_FILE" ] && DS_SVC_ENV+=("MQTT_CA_FILE=$MQTT_CA_FILE")
if [ "$ANON" != 1 ]; then
  DS_SVC_ENV+=("MQTT_USERNAME=$MQTT_USER" "MQTT_PASSWORD=$MQTT_PASSWORD")
fi

# An instance's own settings on top of DS_SVC_ENV (words without spaces).
svc_env() {
  case $1 in
    ingest) echo "ADMIN_PORT=$INGEST_ADMIN_PORT" ;;
    aggregator) echo "ADMIN_PORT=$AGGREGATOR_ADMIN_PORT" ;;
    ingest-*)
      local i=${1#ingest-}
      echo "ADMIN_PORT=$((INGEST_ADMIN_PORT + i - 1)) INGEST_CLIENT_ID=devicestats-ingest-$i"
      echo "INGEST_SHARE_GROUP=ingest INGEST_SPOOL_DIR=${INGEST_SPOOL_DIR:-$RUN/spool}-$i"
      ;;
  esac
}
# The service binary of instance $1.
inst_svc() {
  local e
  for e in "${INSTANCES[@]}"; do [ "${e%%:*}" = "$1" ] && { echo "${e#*:}"; return; }; done
}

started=()
for e in "${INSTANCES[@]}"; do
  name=${e%%:*} svc=${e#*:}
  bin=$(ds_service_bin "$BUILD" "$svc") || { ds_log "devicestats-$svc not built, skipped"; continue; }
  echo "--- run.sh: start $(date -u +%FT%TZ)" >>"$LOGS/$name.log"
  off=$(ds_size "$LOGS/$name.log")
  ds_service_start "$ST" "$name" "$LOGS/$name.log" "$bin" $(svc_env "$name")
  started+=("$name:$off")
done
for s in "${started[@]}"; do
  name=${s%%:*}
  ds_wait_log "$ST" "$name" "$LOGS/$name.log" "${s#*:}" 'event=ready' "$READY_TIMEOUT" ||
    { tail -n 20 "$LOGS/$name.log" >&2; ds_die "$name did not start (log: $LOGS/$name.log)"; }
done

names=()
for s in "${started[@]}"; do names+=("${s%%:*}"); done
mqtt_creds="user $MQTT_USER, password in $RUN/mqtt-password"
[ "$ANON" = 1 ] && mqtt_creds="anonymous access (MQTT_ALLOW_ANONYMOUS=1)"
mqtt_plain="tcp://127.0.0.1:$MQTT_PORT    "
[ "$MQTT_PLAIN" = 0 ] && mqtt_plain="plain listener off (MQTT_PLAIN=0)    "
mqtt_ca=${MQTT_CA_FILE:-"the system's CAs"}
api_token_where="from API_TOKEN"
[ -f "$RUN/api-token" ] && [ "$API_TOKEN" = "$(ds_read_secret "$RUN/api-token")" ] &&
  api_token_where="$RUN/api-token"
ingest_where="http://127.0.0.1:$INGEST_ADMIN_PORT/health  /metrics"
if [ "$INGEST_INSTANCES" -gt 1 ]; then
  ingest_where="$INGEST_INSTANCES instances on \$share/ingest, admin ports $INGEST_ADMIN_PORT..$((INGEST_ADMIN_PORT + INGEST_INSTANCES - 1)) (/health /metrics)"
fi
db_where="postgresql://devicestats@127.0.0.1:$PG_PORT/devicestats    (owner; password in $RUN/db-password)"
[ "$DB_VARIANT" = citus ] && db_where+="
  Citus       coordinator :$PG_PORT, $CITUS_WORKERS workers on ${WORKER_PORTS[*]}"
cat <<EOF

DeviceStats is running (services: ${names[*]:-none}).
  HTTP API    http://127.0.0.1:$HTTP_PORT/    (docs: /docs)
  Ingest      $ingest_where
  Aggregator  http://127.0.0.1:$AGGREGATOR_ADMIN_PORT/health  /metrics
  API token   $API_TOKEN    ($api_token_where)
  MQTT        $mqtt_plain($mqtt_creds)
  MQTT (TLS)  ssl://127.0.0.1:$MQTT_TLS_PORT    (CA: $mqtt_ca)
  PostgreSQL  $db_where
              services as devicestats_ingest, _query, _aggregator (passwords in $RUN/db-password-<service>)
  Logs        $LOGS/
Ctrl-C stops everything.
EOF

# Stay in the foreground and supervise: a service (or the broker) that dies
# on its own is started again after a delay that doubles with each quick
# death (1 s up to 30 s; back to 1 s once it has run for a minute), and each
# restart is logged here and in the service's log.
declare -A delay=() due=() since=()
now_s() { date +%s; }
restart_one() { # name
  local s=$1 bin
  echo "--- run.sh: restart $(date -u +%FT%TZ) after exit code $(cat "$ST/$s.rc")" >>"$LOGS/$s.log"
  if [ "$s" = mosquitto ]; then
    ds_spawn "$ST" mosquitto "$LOGS/mosquitto.log" "$DS_MOSQUITTO" -c "$RUN/mosquitto/mosquitto.conf"
  else
    bin=$(ds_service_bin "$BUILD" "$(inst_svc "$s")") || return 0
    ds_service_start "$ST" "$s" "$LOGS/$s.log" "$bin" $(svc_env "$s")
  fi
  since[$s]=$(now_s)
}
for s in "${names[@]}" mosquitto; do delay[$s]=1 since[$s]=$(now_s); done
while :; do
  for s in "${names[@]}" mosquitto; do
    [ "$STOPPING" = 1 ] && break
    if [ -e "$ST/$s.rc" ]; then
      if [ -z "${due[$s]:-}" ]; then
        if (($(now_s) - since[$s] >= 60)); then delay[$s]=1; fi
        due[$s]=$(($(now_s) + delay[$s]))
        ds_log "$s exited on its own with code $(cat "$ST/$s.rc"); restarting in ${delay[$s]} s (log: $LOGS/$s.log)"
      elif (($(now_s) >= due[$s])); then
        restart_one "$s"
        ds_log "$s restarted"
        unset "due[$s]"
        delay[$s]=$((delay[$s] * 2 > 30 ? 30 : delay[$s] * 2))
      fi
    fi
  done
  sleep 1 &
  wait $! || true
done
