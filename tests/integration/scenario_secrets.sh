#!/usr/bin/env bash
# Secrets never reach a log line (issue 9, item 9), run by
# tests/integration/run.sh against its throwaway stack.  Each service runs
# at LOG_LEVEL=debug, a few seconds per case, with the stack's real secrets
# (database password in DATABASE_URL and PGPASSWORD, broker password, API
# token) or planted ones, through the normal path and the error paths: the
# database refusing the connection, a wrong database password (URL and
# PGPASSWORD), a malformed DATABASE_URL with the password in it, the broker
# refusing the password, the broker away.  The query service also gets
# requests with the right and with a wrong bearer token.  The stack's own
# logs and its services' role passwords are checked too.  No log may
# contain any of the secrets; each error case must have logged its error.
set -uo pipefail
BUILD=${DS_BUILD_DIR:?}
DIR=$DS_TEST_DIR/secrets
mkdir -p "$DIR"
DB_URL=$DS_TEST_DATABASE_URL
DB_PW=$(sed -E 's|^[a-z]+://[^:/@]+:([^@]*)@.*|\1|' <<<"$DB_URL")
[ -n "$DB_PW" ] && [ "$DB_PW" != "$DB_URL" ] || { echo "scenario_secrets: no password in DS_TEST_DATABASE_URL" >&2; exit 1; }
PG_PORT=$(sed -E 's|.*@[^:/]+:([0-9]+)/.*|\1|' <<<"$DB_URL")
MQTT_URL=$DS_TEST_MQTT_URL
WRONG_DB=sx-db-wrong-4f1c WRONG_PG=sx-pgpass-wrong-77aa WRONG_MQTT=sx-mqtt-wrong-0b9e
WRONG_TOKEN=sx-token-wrong-d3d3 BAD_URL_PW=sx-urlpw-9c9c
SECRETS=("$DB_PW" "$DS_TEST_MQTT_PASSWORD" "$DS_TEST_API_TOKEN" "$WRONG_DB" "$WRONG_PG"
         "$WRONG_MQTT" "$WRONG_TOKEN" "$BAD_URL_PW")
# The services' own database roles' passwords (deploy/sql/grants.sql).
for f in "$DS_TEST_DIR"/db-password-*; do
  [ -s "$f" ] && SECRETS+=("$(cat "$f")")
done
fails=0
fail() { echo "scenario_secrets: FAIL: $*" >&2; fails=$((fails + 1)); }

# case NAME EXPECT_REGEX VAR=VALUE...: runs the three services with the
# stack's settings overridden by the assignments, 4 s, then SIGTERM.
run_case() {
  local name=$1 expect=$2 svc pid
  shift 2
  local pids=()
  for svc in ingest aggregator query; do
    env -i PATH=/usr/bin:/bin LOG_LEVEL=debug STATS_PERIOD_S=1 \
      "DATABASE_URL=$DB_URL" "MQTT_URL=$MQTT_URL" \
      "MQTT_USERNAME=$DS_TEST_MQTT_USERNAME" "MQTT_PASSWORD=$DS_TEST_MQTT_PASSWORD" \
      "PGPASSWORD=$DB_PW" "API_TOKEN=$DS_TEST_API_TOKEN" \
      HTTP_PORT=0 "INGEST_SPOOL_DIR=$DIR/spool-$name" "INGEST_CLIENT_ID=sx-ingest-$name" \
      "AGGREGATOR_CLIENT_ID=sx-agg-$name" "QUERY_MQTT_CLIENT_ID=sx-query-$name" \
      RETRY_MIN_MS=100 RETRY_MAX_MS=500 "$@" \
      "$BUILD/services/$svc/devicestats-$svc" >"$DIR/$name-$svc.log" 2>&1 &
    pids+=($!)
  done
  # Up to 20 s for the query service's ready line (slow under sanitizers
  # on a loaded machine): its database errors come with requests.
  local port="" i
  for i in $(seq 1 80); do
    port=$(grep -Eo 'event=ready .*port=[0-9]+' "$DIR/$name-query.log" | grep -Eo 'port=[0-9]+' | cut -d= -f2)
    [ -n "$port" ] && break
    grep -q 'event=startup_failed' "$DIR/$name-query.log" && break
    sleep 0.25
  done
  sleep 1
  if [ -n "$port" ]; then
    # Requests with the right token, a wrong one, and a token in the URL.
    curl -s -o /dev/null -H "Authorization: Bearer $DS_TEST_API_TOKEN" -d '{"name": "sx"}' \
      "http://127.0.0.1:$port/users" || true
    curl -s -o /dev/null -H "Authorization: Bearer $WRONG_TOKEN" -d '{}' \
      "http://127.0.0.1:$port/tasks/recalculate" || true
    curl -s -o /dev/null "http://127.0.0.1:$port/devices?token=$WRONG_TOKEN" || true
    curl -s -o /dev/null "http://127.0.0.1:$port/devices/x/data/all" || true
  fi
  sleep 2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  for svc in ingest aggregator query; do
    local log=$DIR/$name-$svc.log s
    [ -s "$log" ] || fail "$name: $svc logged nothing"
    for s in "${SECRETS[@]}"; do
      if grep -qF -- "$s" "$log"; then
        # The event only: the line itself would put the secret in this output.
        fail "$name: $svc logged a secret ($(grep -F -- "$s" "$log" | grep -Eo 'event=[A-Za-z0-9_]+' | head -n 1))"
      fi
    done
    if [ -n "$expect" ] && ! grep -Eq "$expect" "$log"; then
      fail "$name: $svc did not log the error case ($expect): $(tail -n 3 "$log")"
    fi
  done
  echo "scenario_secrets: $name: $(cat "$DIR/$name"-*.log | wc -l) log lines checked" >&2
}

run_case normal 'event=ready'
run_case db_refused 'level=(warn|error).*(5432|refused|:1 |port 1|db|database)' \
  "DATABASE_URL=postgresql://devicestats:$DB_PW@127.0.0.1:1/devicestats?connect_timeout=1"
run_case db_wrong_password 'level=(warn|error).*(password|authentication)' \
  "DATABASE_URL=postgresql://devicestats:$WRONG_DB@127.0.0.1:$PG_PORT/devicestats"
run_case pgpassword_wrong 'level=(warn|error).*(password|authentication)' \
  DATABASE_URL= PGHOST=127.0.0.1 "PGPORT=$PG_PORT" PGUSER=devicestats PGDATABASE=devicestats \
  "PGPASSWORD=$WRONG_PG"
run_case db_url_malformed 'event=startup_failed.*DATABASE_URL' \
  "DATABASE_URL=postgresql://devicestats:$BAD_URL_PW%zz@127.0.0.1:$PG_PORT/devicestats"
run_case broker_refused 'level=(warn|error).*(mqtt|broker|MQTT)' "MQTT_PASSWORD=$WRONG_MQTT"
run_case broker_away 'level=(warn|error).*(mqtt|broker|MQTT)' MQTT_URL=tcp://127.0.0.1:1

# And the stack's own services, which ran with the real secrets throughout.
for log in "$DS_TEST_DIR"/logs/*.log; do
  for s in "${SECRETS[@]}"; do
    if grep -qF -- "$s" "$log"; then
      fail "$(basename "$log") (the stack's) logged a secret"
    fi
  done
done

if [ $fails -gt 0 ]; then
  echo "scenario_secrets: $fails failures (logs in $DIR)" >&2
  exit 1
fi
echo "scenario_secrets: no secret in any log" >&2
