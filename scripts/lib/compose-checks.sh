# shellcheck shell=bash
# The checks of scripts/compose-check.sh, run against the stack it started
# (dc, $W, the ports and secrets are the caller's).  Each check prints one
# PASS/FAIL line; its output goes to $W/check-N.log.

NCHECK=0
# check NAME CMD...: runs CMD, counts and reports it; its status.  CMD
# fails by its status or by a `fail` anywhere in it (a check goes on after
# a fail, to log what else is wrong, and still fails).
CHECK_FAILED=0
check() {
  local name=$1 log
  shift
  NCHECK=$((NCHECK + 1))
  log=$W/check-$NCHECK.log
  CHECK_FAILED=0
  if "$@" >"$log" 2>&1 && [ "$CHECK_FAILED" = 0 ]; then
    PASSED=$((PASSED + 1))
    echo "PASS  $name"
  else
    FAILED=$((FAILED + 1))
    echo "FAIL  $name"
    tail -n 15 "$log" | sed 's/^/      /'
    return 1
  fi
}

# cid SERVICE: its container (also stopped; not a one-off `run`), by the
# labels compose v1 and v2 both set: `dc ps -q` took 6 s under load, 0.7 s
# this way, and the health wait and the non-root check call it per service.
cid() {
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" --filter label=com.docker.compose.oneoff=False |
    head -n 1
}

# build_with 0|1: dc build with BuildKit off or on (compose 1.29 builds
# through the docker CLI, which reads DOCKER_BUILDKIT).
build_with() { DOCKER_BUILDKIT=$1 COMPOSE_DOCKER_CLI_BUILD=1 dc build; }

# Both images built again with BuildKit (tag DS_IMAGE_TAG-buildkit; its own
# cache), offline (the daemon reaches no registry: a frontend image or a
# base image pulled would fail the build), then run: the programs load, as
# user devicestats; the servers and entry points are there.
c_buildkit() {
  local tag=${DS_IMAGE_TAG:-check}-buildkit
  DS_IMAGE_TAG=$tag build_with 1 || return 1
  docker run --rm "devicestats/services:$tag" sh -c \
    'id -un; for p in /usr/local/bin/devicestats-*; do echo "$p"; ldd "$p" | grep "not found" && exit 1; done; devicestats-query --help-config >/dev/null' |
    tee "$W/buildkit-services" || return 1
  [ "$(head -n 1 "$W/buildkit-services")" = devicestats ] || fail "services image: not user devicestats"
  [ "$(grep -c '^/usr/local/bin/devicestats-' "$W/buildkit-services")" -ge 5 ] || fail "services image: programs missing"
  docker run --rm --entrypoint sh "devicestats/infra:$tag" -c \
    'test -x /usr/lib/postgresql/15/bin/postgres && test -x /usr/sbin/mosquitto && command -v openssl &&
     test -x /opt/devicestats/deploy/docker/postgres-entrypoint.sh && test -r /opt/devicestats/scripts/lib/stack.sh' ||
    fail "infra image: a server or an entry point is missing"
  BUILDKIT_TAG=$tag
}
BUILDKIT_TAG=
say() { echo "$*"; }
# fail MESSAGE: logs it and fails the running check (see check).
fail() {
  echo "$*"
  CHECK_FAILED=1
  return 1
}

# wait_healthy TIMEOUT_S: every long-running service healthy, migrate done.
HEALTHY_SERVICES=(mosquitto postgres ingest aggregator query)
wait_healthy() {
  local i s c st all
  for ((i = 0; i < $1; i++)); do
    all=1
    for s in "${HEALTHY_SERVICES[@]}"; do
      c=$(cid "$s")
      st=$([ -n "$c" ] && docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")
      [ "$st" = healthy ] || all=0
    done
    for s in migrate grants; do
      c=$(cid "$s")
      [ -n "$c" ] && [ "$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$c")" = "exited 0" ] || all=0
    done
    [ $all = 1 ] && return 0
    sleep 1
  done
  dc ps
  dc logs --tail 20
  return 1
}

# http METHOD URL_OR_PATH [BODY] [noauth]: body in $W/body, status in HTTP_STATUS.
HTTP_STATUS=0
http() {
  local url=$2 auth=(-H "Authorization: Bearer $API_TOKEN")
  [[ $url == http://* ]] || url=http://127.0.0.1:$HTTP_PORT$url
  [ "${4:-}" = noauth ] && auth=()
  local args=(-s -o "$W/body" -w '%{http_code}' -X "$1" --max-time 30 "${auth[@]}")
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  HTTP_STATUS=$(curl "${args[@]}" "$url") || HTTP_STATUS=0
  [ "$HTTP_STATUS" != 0 ]
}
# The last body without blanks, for exact comparisons (grep it from a
# here-string: grep -q in a pipe would kill tr, and pipefail fail the match).
body() { tr -d ' \n' <"$W/body"; }

pub() { # TOPIC MESSAGE
  mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -u devicestats -P "$MQTT_PASSWORD" -q 1 -t "$1" -m "$2"
}

# wait_count DEVICE N TIMEOUT_S: GET /devices/DEVICE/data/all says count N.
wait_count() {
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    http GET "/devices/$1/data/all" && [ "$HTTP_STATUS" = 200 ] &&
      grep -q "^{\"device_id\":\"$1\",[^{]*\"count\":$2," <<<"$(body)" && return 0
    sleep 0.5
  done
  echo "GET /devices/$1/data/all: $HTTP_STATUS $(cat "$W/body")"
  return 1
}

expect_body() { # STATUS FIXED-STRING (in the blank-less body)
  [ "$HTTP_STATUS" = "$1" ] && grep -qF -- "$2" <<<"$(body)" && return 0
  echo "expected $1 with $2, got $HTTP_STATUS: $(cat "$W/body")"
  return 1
}

# Every process of every long-running container, in two snapshots 2 s
# apart: a root process in both (same pid) fails.  One snapshot alone could
# catch a healthcheck between docker's exec (as the container's user: root
# in the infra containers, which prepare their volumes) and its setpriv.
# docker top's ps options need pid (the 20.10 daemon refuses them without).
c_nonroot() {
  local s c top r1 r2
  for s in "${HEALTHY_SERVICES[@]}"; do
    c=$(cid "$s")
    top=$(docker top "$c" -o pid,uid,comm | tail -n +2) || fail "docker top $s failed"
    [ -n "$top" ] || fail "$s: no process listed"
    sed "s/^/$s: /" <<<"$top"
    r1+=$(awk -v s="$s" '$2 == 0 { print s, $1, $3 }' <<<"$top")$'\n'
  done
  sleep 2
  for s in "${HEALTHY_SERVICES[@]}"; do
    r2+=$(docker top "$(cid "$s")" -o pid,uid,comm | tail -n +2 | awk -v s="$s" '$2 == 0 { print s, $1, $3 }')$'\n'
  done
  echo "root in the first snapshot: $(grep -c . <<<"$r1"); in the second: $(grep -c . <<<"$r2")"
  local both
  both=$(grep -xF -f <(grep . <<<"$r1") <<<"$r2") && fail "a process runs as root: $both"
  return 0
}

c_admin() {
  http GET "http://127.0.0.1:$INGEST_ADMIN_PORT/health" noauth && expect_body 200 '"status":"ok"' &&
    http GET "http://127.0.0.1:$INGEST_ADMIN_PORT/metrics" && expect_body 200 'devicestats_ingest_stored_total' &&
    http GET "http://127.0.0.1:$AGGREGATOR_ADMIN_PORT/health" && expect_body 200 '"service":"aggregator"' &&
    http GET "http://127.0.0.1:$AGGREGATOR_ADMIN_PORT/metrics" && expect_body 200 'devicestats_aggregator_db_up1' &&
    http GET /health && expect_body 200 '"status":"ok"'
}

DEV=cc-$(ds_gen_secret | cut -c1-8)
c_samples() {
  pub "devices/$DEV/data" '{"x": 1.5, "y": -2, "z": 0.25, "ts": "2026-11-28T10:15:00.123Z"}' &&
    pub "devices/$DEV/data" '[{"x": 4, "y": 5, "z": 6, "ts": 1764324900123}, {"x": 7, "y": 8, "z": 9, "ts": "2026-11-28T10:16:00Z"}, {"x": -0.125, "y": 0.5, "z": 0.75, "ts": "2026-11-28T10:17:00Z"}]' &&
    pub "devices/$DEV/data" '{"x": 1, "y": oops}' &&
    wait_count "$DEV" 4 30 || return 1
  # Exact: count, min, max, sum and median of each axis.
  expect_body 200 '"x":{"count":4,"min":-0.125,"max":7.0,"sum":12.375,"median":2.75}' &&
    expect_body 200 '"y":{"count":4,"min":-2.0,"max":8.0,"sum":11.5,"median":2.75}' &&
    expect_body 200 '"z":{"count":4,"min":0.25,"max":9.0,"sum":16.0,"median":3.375}' || return 1
  local i
  for ((i = 0; i < 20; i++)); do
    http GET '/rejected?limit=50' && grep -qF "\"topic\":\"devices/$DEV/data\"" <<<"$(body)" && return 0
    sleep 0.5
  done
  echo "the rejected message is not in GET /rejected: $(cat "$W/body")"
  return 1
}

c_routes() {
  http GET "/devices/$DEV/series?start=2026-11-28T10:00:00Z&end=2026-11-28T11:00:00Z&interval=60s" &&
    expect_body 200 '"buckets":[{"start":"2026-11-28T10:15:00.000Z","end":"2026-11-28T10:16:00.000Z"' &&
    http GET /devices && expect_body 200 "\"$DEV\"" &&
    http POST /users "{\"name\": \"$DEV-owner\"}" && expect_body 201 '"id":' || return 1
  USER_ID=$(body | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
  http PUT "/users/$USER_ID/devices/$DEV" && [[ $HTTP_STATUS == 20? ]] &&
    http GET "/users/$USER_ID/data" && expect_body 200 "{\"user_id\":$USER_ID," &&
    expect_body 200 "\"devices\":[{\"device_id\":\"$DEV\"" &&
    expect_body 200 '"total":{"start":null,"end":null,"count":4,"x":{"count":4,"min":-0.125'
}

# The dashboard: GET / and its uPlot (the real one, not the stand-in the
# build embeds without web/node_modules).
c_dashboard() {
  http GET / && [ "$HTTP_STATUS" = 200 ] || fail "GET /: $HTTP_STATUS"
  local js
  js=$(grep -o 'src="[^"]*uPlot[^"]*"' "$W/body" | head -n 1 | sed 's/^src="//; s/"$//')
  [ -n "$js" ] || fail "no uPlot script in GET /"
  [[ $js == /* ]] || js=/$js
  http GET "$js" && [ "$HTTP_STATUS" = 200 ] || fail "GET $js: $HTTP_STATUS"
  ! grep -q DS_UPLOT_MISSING "$W/body" || fail "$js is the stand-in: the image was built without uPlot"
  echo "GET $js: $(wc -c <"$W/body") bytes"
}

c_recalc() {
  local rid=cc-recalc-$$ i
  mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -u devicestats -P "$MQTT_PASSWORD" \
    -t control/recalculate/status -W 60 >"$W/status" 2>&1 &
  local sub=$!
  sleep 1
  pub control/recalculate "{\"device_id\": \"$DEV\", \"request_id\": \"$rid\"}" || return 1
  for ((i = 0; i < 120; i++)); do
    grep -q "\"request_id\": *\"$rid\".*\"state\": *\"done\"" "$W/status" && break
    sleep 0.5
  done
  kill "$sub" 2>/dev/null
  wait "$sub" 2>/dev/null
  grep "$rid" "$W/status"
  grep -q "\"request_id\": *\"$rid\".*\"state\": *\"done\"" "$W/status" || fail "no done status"
  http GET "/devices/$DEV/stats" && expect_body 200 '"count":4,' && expect_body 200 '"computed_at":'
}

# The TLS listener from the host: a sample published over TLS, the broker
# verified against the CA it published (mqtt-ca), is stored; another CA and
# plain MQTT on the TLS port are refused.
c_tls() {
  dc exec -T mosquitto cat /var/lib/devicestats-ca/ca.crt >"$W/ca.crt" && [ -s "$W/ca.crt" ] ||
    fail "no CA certificate in the mosquitto container"
  local tls=(-h 127.0.0.1 -p "$MQTT_TLS_PORT" -u devicestats -P "$MQTT_PASSWORD" -q 1 -t "devices/$DEV-tls/data")
  mosquitto_pub "${tls[@]}" --cafile "$W/ca.crt" -m '{"x": 1, "y": 2, "z": 3}' || fail "publish over TLS failed"
  wait_count "$DEV-tls" 1 30 || return 1
  ds_tls_ensure "$W/other-ca" >/dev/null
  if mosquitto_pub "${tls[@]}" --cafile "$W/other-ca/ca.crt" -m '{"x": 9, "y": 9, "z": 9}'; then
    fail "published over TLS with another CA"
  fi
  if timeout 10 mosquitto_pub "${tls[@]}" -m '{"x": 9, "y": 9, "z": 9}'; then
    fail "plain MQTT accepted on the TLS port"
  fi
  sleep 1
  wait_count "$DEV-tls" 1 5
}

# ingest, aggregator and query hold their broker connections on the TLS
# listener (8883 inside the network), none on the plain one: established
# TCP connections in the broker's /proc/net/tcp, by each container's address.
c_services_tls() {
  local s ip hex tcp ok=0
  tcp=$(dc exec -T mosquitto cat /proc/net/tcp) || return 1
  for s in ingest aggregator query; do
    ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$(cid "$s")" | awk '{print $1}')
    IFS=. read -r a b c d <<<"$ip"
    hex=$(printf '%02X%02X%02X%02X' "$d" "$c" "$b" "$a")
    local on_tls on_plain
    on_tls=$(awk -v r="$hex" '$4 == "01" && $2 ~ /:22B3$/ && $3 ~ "^" r ":" { n++ } END { print n + 0 }' <<<"$tcp")
    on_plain=$(awk -v r="$hex" '$4 == "01" && $2 ~ /:075B$/ && $3 ~ "^" r ":" { n++ } END { print n + 0 }' <<<"$tcp")
    echo "$s ($ip): $on_tls on TLS, $on_plain plain"
    [ "$on_tls" -ge 1 ] && [ "$on_plain" = 0 ] || ok=1
  done
  return $ok
}

# Each service is connected to the database as its own role
# (pg_stat_activity: usename by application_name), the owner is not; a
# statement outside a role's grants fails with 42501 / must be owner.
c_db_roles() {
  local s rows
  local q="SELECT application_name || ' ' || usename FROM pg_stat_activity
           WHERE datname = 'devicestats' AND application_name LIKE 'devicestats-%' ORDER BY 1"
  rows=$(PGPASSWORD=$PGPASSWORD psql -X -At -h 127.0.0.1 -p "$PG_PORT" -U devicestats -d devicestats -c "$q") ||
    return 1
  echo "$rows"
  for s in ingest aggregator query; do
    grep -q "^devicestats-$s[^ ]* devicestats_$s\$" <<<"$rows" || fail "no connection of $s as devicestats_$s"
  done
  ! grep -E '^devicestats-(ingest|aggregator|query)' <<<"$rows" |
    grep -vE '^devicestats-(ingest|aggregator|query)[^ ]* devicestats_\1$' || fail "a service connected as another role"
  as_role() { PGPASSWORD=${ROLE_PW[$1]} psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
    -U "devicestats_$1" -d devicestats -c "$2" 2>&1; }
  local out
  out=$(as_role ingest 'DELETE FROM samples_recent WHERE false')
  echo "ingest DELETE: $out"
  [[ $out == *"permission denied"* ]] || fail "ingest may DELETE FROM samples_recent"
  out=$(as_role query 'BEGIN; DROP TABLE users; ROLLBACK')
  echo "query DROP: $out"
  [[ $out == *"must be owner"* ]] || fail "query may DROP TABLE users"
  out=$(as_role aggregator 'SELECT count(*) FROM rejected')
  echo "aggregator reading rejected: $out"
  [[ $out == *"permission denied"* ]] || fail "aggregator may read rejected"
  out=$(as_role query 'SELECT count(*) FROM devices')
  echo "query reading devices: $out"
  [[ $out =~ ^[0-9]+$ ]] || fail "query cannot read devices"
}

c_auth() {
  local m p
  for m in "POST /users" "POST /devices/$DEV/data" "POST /tasks/recalculate" "PUT /users/1/devices/$DEV"; do
    read -r m p <<<"$m"
    http "$m" "$p" '{"name": "x", "x": 1, "y": 2, "z": 3}' noauth || return 1
    echo "$m $p without token: $HTTP_STATUS"
    [ "$HTTP_STATUS" = 401 ] || return 1
  done
}

c_quiet_logs() {
  sleep 5 # a few healthcheck rounds
  local n
  n=$(docker logs "$(cid mosquitto)" 2>&1 | grep -c 'New connection from 127.0.0.1')
  echo "mosquitto: $n connections from inside its container"
  [ "$n" = 0 ] || return 1
  n=$(docker logs "$(cid postgres)" 2>&1 | grep -c 'authentication failed')
  echo "postgres: $n failed authentications"
  [ "$n" = 0 ]
}

c_loadgen() {
  [ -z "$(dc ps -a -q loadgen)" ] || fail "loadgen was started by up"
  dc --profile load run --rm loadgen --devices 2 --samples 200 --batch 10
}

# Publishes N samples (x = 1..N) for one device over ~20 s while ingest is
# stopped and started again: all N stored, none twice.
c_stop_ingest() {
  local dev=$DEV-stop n=3000 at_stop
  (
    for ((i = 1; i <= n; i++)); do
      echo "{\"x\": $i, \"y\": 0, \"z\": 0}"
      ((i % 30 == 0)) && sleep 0.2
    done
  ) | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -u devicestats -P "$MQTT_PASSWORD" -q 1 \
    -t "devices/$dev/data" -l &
  local p=$!
  sleep 2
  dc stop ingest || return 1
  http GET "/devices/$dev/data/all"
  at_stop=$(body | sed -n 's/^{[^{]*"count":\([0-9]*\),.*/\1/p')
  echo "ingest stopped with ${at_stop:-0} of $n stored"
  sleep 2
  dc start ingest || return 1
  wait "$p" || fail "mosquitto_pub failed"
  [ "${at_stop:-0}" -lt $n ] || fail "the publisher had finished before the stop: no test"
  wait_count "$dev" $n 90 || return 1
  expect_body 200 "\"x\":{\"count\":$n,\"min\":1.0,\"max\":$n.0,\"sum\":$((n * (n + 1) / 2)).0,"
}

c_down_up() {
  local before
  before=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | sort)
  dc down || return 1
  dc up -d || return 1
  wait_healthy 240 || return 1
  [ "$before" = "$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | sort)" ] ||
    fail "volumes changed"
  dc logs migrate | grep 'event=migrated' | tail -n 1 | tee "$W/migrated"
  grep -q 'applied=0 ' "$W/migrated" || fail "migrations applied again"
  wait_count "$DEV" 4 30 && wait_count "$DEV-stop" 3000 30 &&
    http GET "/users/$USER_ID/data" && expect_body 200 '"total":{"start":null,"end":null,"count":4,"x":{"count":4,"min":-0.125' &&
    http GET "/devices/$DEV/stats" && expect_body 200 '"computed_at":'
}

# Every layer and config of both images, grepped for this run's secrets
# and the canaries.
c_secrets() {
  local tag=${DS_IMAGE_TAG:-check} d=$W/images s l imgs
  rm -rf "$d"
  mkdir -p "$d"
  imgs=("devicestats/services:$tag" "devicestats/infra:$tag")
  [ -n "$BUILDKIT_TAG" ] && imgs+=("devicestats/services:$BUILDKIT_TAG" "devicestats/infra:$BUILDKIT_TAG")
  [ -n "${SECRET_IMAGES+x}" ] && imgs=("${SECRET_IMAGES[@]}")
  echo "${imgs[*]}"
  docker save "${imgs[@]}" | tar -C "$d" -x || return 1
  local pats=()
  for s in "${SECRETS[@]}"; do pats+=(-e "$s"); done
  if grep -rlaF "${pats[@]}" "$d" --include='*.json'; then fail "a secret in an image's metadata"; fi
  for l in "$d"/*/layer.tar; do
    # grep reads to the end (no -q: tar killed by SIGPIPE would make the
    # pipeline fail under pipefail and hide a match).
    if tar -xOf "$l" | grep -aF "${pats[@]}" >/dev/null; then fail "a secret in layer $l"; fi
  done
  echo "$(ls "$d"/*/layer.tar | wc -l) layers, ${#SECRETS[@]} secrets: none found"
}

image_sizes() {
  local tag=${DS_IMAGE_TAG:-check}
  docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
    grep -E "^devicestats/(services|infra|infra-citus):$tag(-buildkit)? |^debian:12 " | sed 's/^/  image /'
}

c_down_v() {
  dc down -v --remove-orphans || return 1
  UP=0
  local left
  left=$(
    docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
    docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
    docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
  )
  [ -z "$left" ] || fail "left behind: $left"
}

# citus_tarball: the path of citus-13.2.2.tar.gz: CITUS_SOURCE, else
# shared/vendor next to the repository or next to the local repository it
# was cloned from (as scripts/lib/citus.sh looks for it).
citus_tarball() {
  local name=shared/vendor/citus-13.2.2.tar.gz origin
  if [ -n "${CITUS_SOURCE:-}" ]; then
    [ -f "$CITUS_SOURCE" ] && echo "$CITUS_SOURCE"
    return
  fi
  [ -f "$SRC/../$name" ] && { echo "$SRC/../$name"; return 0; }
  origin=$(git -C "$SRC" remote get-url origin 2>/dev/null) || return 1
  origin=${origin#file://}
  [ -f "$origin/../$name" ] && echo "$origin/../$name"
}

# The tables distributed as deploy/sql/006_citus.sql does outside docker
# (ds_citus_distribute): the sample, chunk, snapshot and work tables hashed
# by their device (user) key in one co-location group, users, devices and
# recalc_runs reference tables; two active workers, both holding shards.
# Tables a later migration adds are not listed, so not checked here.
c_citus_layout() {
  local out
  out=$(PGPASSWORD=$PGPASSWORD psql -X -At -F ' ' -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
    -U devicestats -d devicestats <<'SQL'
SELECT 'workers', count(*) FROM pg_dist_node WHERE groupid > 0 AND isactive AND noderole = 'primary';
SELECT 'workers holding samples_recent shards', count(DISTINCT nodename)
  FROM citus_shards WHERE table_name = 'samples_recent'::regclass AND nodename LIKE 'citus-worker-%';
SELECT table_name, citus_table_type, distribution_column
  FROM citus_tables
 WHERE table_name::text IN ('samples_recent', 'sample_chunks', 'device_snapshots', 'recalc_work',
                            'user_snapshots', 'users', 'devices', 'recalc_runs')
 ORDER BY table_name::text;
SELECT 'co-location groups', count(DISTINCT colocation_id) FROM citus_tables
 WHERE table_name::text IN ('samples_recent', 'sample_chunks', 'device_snapshots', 'recalc_work',
                            'user_snapshots');
SQL
  ) || return 1
  echo "$out"
  [ "$out" = "workers 2
workers holding samples_recent shards 2
device_snapshots distributed device_id
devices reference <none>
recalc_runs reference <none>
recalc_work distributed key
sample_chunks distributed device_id
samples_recent distributed device_id
user_snapshots distributed user_id
users reference <none>
co-location groups 1" ] || fail "not the layout of deploy/sql/006_citus.sql"
}

# Where DEV's samples are: counted on every placement pair of
# samples_recent and sample_chunks (run_command_on_colocated_placements runs
# one statement per pair on the worker holding it, one snapshot: counting
# the two tables with run_command_on_shards, a compaction between the two
# counted its samples twice, 8); all 4 on one worker.  The device's
# integer key goes into the command text: it comes from the database.
c_citus_placement() {
  local out
  out=$(PGPASSWORD=$PGPASSWORD psql -X -At -F ' ' -v ON_ERROR_STOP=1 -v dev="$DEV" -h 127.0.0.1 \
    -p "$PG_PORT" -U devicestats -d devicestats <<'SQL'
WITH dev AS (SELECT id FROM devices WHERE name = :'dev')
SELECT coalesce(string_agg(DISTINCT p.nodename, ','), '-'), coalesce(sum(p.result::bigint), 0)
  FROM dev, run_command_on_colocated_placements('samples_recent', 'sample_chunks',
         'SELECT (SELECT count(*) FROM %1$s WHERE device_id = ' || dev.id || ')'
         || ' + (SELECT coalesce(sum(n), 0) FROM %2$s WHERE device_id = ' || dev.id || ')') p
 WHERE p.result::bigint > 0;
SQL
  ) || return 1
  echo "node(s) holding $DEV's samples, count: $out"
  [[ $out =~ ^citus-worker-[12]\ 4$ ]] || fail "expected the 4 samples on one worker"
}

run_citus_checks() {
  check "Citus: tables distributed as 006_citus.sql (by device), 2 workers holding shards" c_citus_layout
  check "Citus: no process runs as root in any container (workers too)" c_nonroot
  check "Citus: MQTT samples (single, array, rejected) stored exactly" c_samples
  check "Citus: the device's samples sit on one worker's shards" c_citus_placement
  check "Citus: data/all, series, devices, users routes" c_routes
  check "Citus: each service logged in as its own role; outside its grants refused" c_db_roles
  check "Citus: recalculation over MQTT reaches done; /devices/{id}/stats answers" c_recalc
  check "Citus: stop/start ingest while publishing: nothing lost, nothing twice" c_stop_ingest
  check "Citus: down then up: data kept, migrations applied 0 times" c_down_up
  check "Citus: still distributed after down/up" c_citus_layout
  check "Citus: no secret in the Citus image" c_secrets_citus
  image_sizes
  check "Citus: down -v leaves nothing" c_down_v
}

c_secrets_citus() {
  SECRET_IMAGES=("devicestats/infra-citus:${DS_IMAGE_TAG:-check}")
  c_secrets
  local rc=$?
  unset SECRET_IMAGES
  return $rc
}

run_checks() {
  check "no process runs as root in any container" c_nonroot
  check "admin ports: ingest and aggregator /health + /metrics, query /health" c_admin
  check "MQTT samples (single, array, rejected) stored exactly" c_samples
  check "MQTT over TLS from the host: verified against the broker's CA; other CA, plain refused" c_tls
  check "ingest, aggregator, query connected to the broker over TLS only" c_services_tls
  check "data/all, series, devices, users routes" c_routes
  check "each service logged in to the database as its own role; outside its grants refused" c_db_roles
  check "dashboard: GET / with the real uPlot" c_dashboard
  check "recalculation over MQTT reaches done; /devices/{id}/stats answers" c_recalc
  check "HTTP write routes refuse a missing token (401)" c_auth
  check "healthchecks are quiet (mosquitto log, postgres auth)" c_quiet_logs
  check "loadgen only with --profile load" c_loadgen
  check "compose stop/start ingest while publishing: nothing lost, nothing twice" c_stop_ingest
  check "down then up: data kept, migrations applied 0 times" c_down_up
  check "no secret in any image layer" c_secrets
  image_sizes
  check "down -v leaves nothing" c_down_v
}
