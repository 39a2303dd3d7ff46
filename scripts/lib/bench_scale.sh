# shellcheck shell=bash
# The `scale` section of scripts/bench.sh (sourced by it; uses its stack
# and helpers): what the scale-out layers cost on one machine.
#   - ingest end to end with 1, 2 and 4 instances on $share/ingest
#     (single objects and arrays of 100);
#   - COPY into plain PostgreSQL vs the Citus coordinator with 2 workers;
#   - all-time statistics of one device (GET /devices/{id}/data/all), plain
#     vs Citus;
#   - a full recalculation, plain vs Citus.
# One machine cannot show a speed-up from more nodes: the Citus figures
# show the cost of the distribution layer (targets: Citus >= 0.5 x plain for
# ingest's COPY, >= 0.8 x for reads).  docs/scaling.md projects from them.
#
# Sizes: BENCH_SCALE_SAMPLES (SAMPLES), BENCH_SCALE_ARRAY_SAMPLES
# (ARRAY_SAMPLES), BENCH_SCALE_Q_SAMPLES (Q_SAMPLES), BENCH_SCALE_AGG_DEVICES
# (AGG_DEVICES), BENCH_SCALE_AGG_SAMPLES (AGG_SAMPLES per device),
# BENCH_SCALE_INSTANCES ("1 2 4"), CITUS_WORKERS (2).

S_SAMPLES=${BENCH_SCALE_SAMPLES:-$SAMPLES}
S_ARRAY=${BENCH_SCALE_ARRAY_SAMPLES:-$ARRAY_SAMPLES}
S_Q=${BENCH_SCALE_Q_SAMPLES:-$Q_SAMPLES}
S_AGG_DEV=${BENCH_SCALE_AGG_DEVICES:-$AGG_DEVICES}
S_AGG_S=${BENCH_SCALE_AGG_SAMPLES:-$AGG_SAMPLES}
S_INSTANCES=${BENCH_SCALE_INSTANCES:-1 2 4}

# scale_ingest_up N: ingest-1..N on the shared subscription, clean sessions
# (a stopped bench instance must not keep a share queued).
scale_ingest_up() {
  local i bin off
  bin=$(ds_service_bin "$BUILD" ingest) || return 1
  for ((i = 1; i <= $1; i++)); do
    off=$(ds_size "$LOGS/ingest-$i.log")
    ds_service_start "$ST" "ingest-$i" "$LOGS/ingest-$i.log" "$bin" INGEST_SHARE_GROUP=ingest \
      "INGEST_CLIENT_ID=bench-ingest-$i" INGEST_CLEAN_SESSION=1 "INGEST_SPOOL_DIR=$RUN/spool-$i"
    ds_wait_log "$ST" "ingest-$i" "$LOGS/ingest-$i.log" "$off" 'event=ready' 60 || return 1
  done
}
scale_ingest_down() {
  local i
  for ((i = 1; i <= $1; i++)); do
    ds_alive "$ST" "ingest-$i" && ds_stop_instance "$ST" "ingest-$i" 60 >/dev/null
  done
  return 0
}

# scale_use plain|citus: points sql/psql, the services' database and the
# HTTP port at one of the two databases.
scale_use() {
  if [ "$1" = citus ]; then DATABASE_URL=$CITUS_URL; else DATABASE_URL=$PLAIN_URL; fi
  export DATABASE_URL
  PSQL=("$DS_PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL")
}

scale_section() {
  local n r1 r100 base1='' base100='' i
  PLAIN_URL=$DATABASE_URL
  # The single ingest of the other sections would take every message too.
  if ds_alive "$ST" ingest; then
    ds_stop_instance "$ST" ingest 60 >/dev/null
  fi
  # ... and its persistent session would queue them: end it.
  mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -i bench-ingest -t devices/none -E 2>/dev/null || true

  note "scale: ingest with ${S_INSTANCES// /, } instances ($S_SAMPLES single objects, $S_ARRAY in arrays of 100)"
  for n in $S_INSTANCES; do
    scale_ingest_up "$n" || { scale_ingest_down "$n"; ds_die "scale: ingest instances did not start"; }
    best_of end_to_end 1 "$S_SAMPLES" || return 1; r1=$RATE_C
    best_of end_to_end 100 "$S_ARRAY" || return 1; r100=$RATE_C
    scale_ingest_down "$n"
    [ -z "$base1" ] && base1=$r1 base100=$r100
    row "S ingest end to end, $n instance(s), single objects (samples/s) vs 1 instance" \
      "$(fmt_int "$base1")" "$(fmt_int "$r1")" "$(fmt2 "$(calc "$r1 / $base1")")" "" ""
    row "S ingest end to end, $n instance(s), arrays of 100 (samples/s) vs 1 instance" \
      "$(fmt_int "$base100")" "$(fmt_int "$r100")" "$(fmt2 "$(calc "$r100 / $base100")")" "" ""
  done
  sql "TRUNCATE samples_recent, sample_chunks"

  # --- a Citus coordinator and workers beside the plain cluster
  local cb=$RUN/citus cport wports=() w
  cport=$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$CONST_PORT")
  for ((w = 0; w < ${CITUS_WORKERS:-2}; w++)); do
    wports+=("$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$CONST_PORT" "$cport" "${wports[@]}")")
  done
  mkdir -p "$cb" && chmod 755 "$cb"
  SCALE_CITUS_BASE=$cb
  note "scale: Citus coordinator on $cport, workers on ${wports[*]}"
  ds_citus_up "$cb" "$cport" "$FSYNC" "$DB_PASSWORD" nosync "${wports[@]}"
  CITUS_URL=$(ds_db_url "$cport" "$DB_PASSWORD")
  ds_migrate "$BUILD" "$SRC" "$CITUS_URL" >/dev/null

  # --- COPY: the same rows into each
  local cp1 cp100 cc1 cc100
  scale_use plain; best_of copy_ceiling "$S_SAMPLES"; cp1=$RATE_B
  scale_use citus; best_of copy_ceiling "$S_SAMPLES"; cc1=$RATE_B
  scale_use plain; best_of copy_ceiling "$S_ARRAY"; cp100=$RATE_B
  scale_use citus; best_of copy_ceiling "$S_ARRAY"; cc100=$RATE_B
  row "S COPY of $(fmt_int "$S_SAMPLES") rows, $DEVICES devices (samples/s): plain vs Citus coordinator + ${#wports[@]} workers" \
    "$(fmt_int "$cp1")" "$(fmt_int "$cc1")" "$(fmt2 "$(calc "$cc1 / $cp1")")" "≥ 0.5" "$(verdict "$(calc "$cc1 / $cp1")" '>=' 0.5)"
  row "S COPY of $(fmt_int "$S_ARRAY") rows (samples/s): plain vs Citus" \
    "$(fmt_int "$cp100")" "$(fmt_int "$cc100")" "$(fmt2 "$(calc "$cc100 / $cp100")")" "≥ 0.5" "$(verdict "$(calc "$cc100 / $cp100")" '>=' 0.5)"

  # --- all-time statistics of one device, through the query service
  local dev=sc-0000 tp tc qport qbin
  for v in plain citus; do
    scale_use "$v"
    "$COPYLOAD" --prefix sc- --devices 1 --samples "$S_Q" --create-devices >&2
    compact_all "name = '$dev'"
    sql "VACUUM ANALYZE sample_chunks"
  done
  qport=$(ds_free_port "$PG_PORT" "$MQTT_PORT" "$HTTP_PORT" "$CONST_PORT" "$cport" "${wports[@]}")
  qbin=$(ds_service_bin "$BUILD" query) || ds_die "devicestats-query not built"
  ds_alive "$ST" query || svc_start query || return 1
  ds_service_start "$ST" query-citus "$LOGS/query-citus.log" "$qbin" "DATABASE_URL=$CITUS_URL" "HTTP_PORT=$qport"
  ds_wait_log "$ST" query-citus "$LOGS/query-citus.log" 0 'event=ready' 60 || return 1
  tp=$(http_best 3 "http://127.0.0.1:$HTTP_PORT/devices/$dev/data/all") || return 1
  tc=$(http_best 3 "http://127.0.0.1:$qport/devices/$dev/data/all") || return 1
  ds_stop_instance "$ST" query-citus 30 >/dev/null
  row "S all-time statistics of 1 device × $(fmt_int "$S_Q") (GET /devices/{id}/data/all, best of 3): plain vs Citus, plain/Citus" \
    "$(fmt_ms "$tp")" "$(fmt_ms "$tc")" "$(fmt2 "$(calc "$tp / $tc")")" "≥ 0.8" "$(verdict "$(calc "$tp / $tc")" '>=' 0.8)"

  # --- a full recalculation, one aggregator on each database in turn
  local total=$((S_AGG_DEV * S_AGG_S)) ap ac abin
  abin=$(ds_service_bin "$BUILD" aggregator) || ds_die "devicestats-aggregator not built"
  for v in plain citus; do
    scale_use "$v"
    "$COPYLOAD" --prefix sa- --devices "$S_AGG_DEV" --samples "$total" --create-devices >&2
    compact_all "name LIKE 'sa-%'"
    sql "VACUUM ANALYZE sample_chunks"
  done
  ds_alive "$ST" aggregator && ds_stop_instance "$ST" aggregator 60 >/dev/null
  # Own groups and client ids: the stopped aggregator's persistent session
  # stays a member of its group and would be handed commands.
  ds_service_start "$ST" agg-scale "$LOGS/agg-scale-plain.log" "$abin" "DATABASE_URL=$PLAIN_URL" \
    AGGREGATOR_CLIENT_ID=bench-agg-scale-p AGGREGATOR_GROUP=aggscale-p
  ds_wait_log "$ST" agg-scale "$LOGS/agg-scale-plain.log" 0 'event=ready' 60 || return 1
  recalc '{"full":true,"request_id":"scale-plain"}' scale-plain || return 1
  ap=$RECALC_MS
  ds_stop_instance "$ST" agg-scale 60 >/dev/null
  ds_service_start "$ST" agg-scale "$LOGS/agg-scale-citus.log" "$abin" "DATABASE_URL=$CITUS_URL" \
    AGGREGATOR_CLIENT_ID=bench-agg-scale-c AGGREGATOR_GROUP=aggscale-c
  ds_wait_log "$ST" agg-scale "$LOGS/agg-scale-citus.log" 0 'event=ready' 60 || return 1
  recalc '{"full":true,"request_id":"scale-citus"}' scale-citus || return 1
  ac=$RECALC_MS
  ds_stop_instance "$ST" agg-scale 60 >/dev/null
  row "S full recalculation, $(fmt_int "$S_AGG_DEV") devices × $(fmt_int "$S_AGG_S"), one aggregator: plain vs Citus, plain/Citus" \
    "$(fmt_ms "$ap")" "$(fmt_ms "$ac")" "$(fmt2 "$(calc "$ap / $ac")")" "" ""
  scale_use plain
  NOTES+=("Scale: one machine; Citus = a coordinator and ${#wports[@]} workers as private clusters on the same 2 cores (citus.max_adaptive_executor_pool_size=1, citus.shard_count=${CITUS_SHARD_COUNT:-16}); ingest instances share \$share/ingest with clean sessions; ratios below 1 for more instances or for Citus are the cost of the layer on one machine, not a projection (docs/scaling.md).")
}

# Stops the Citus nodes of the scale section (bench.sh's cleanup).
scale_cleanup() {
  [ -n "${SCALE_CITUS_BASE:-}" ] || return 0
  ds_pg_running "$SCALE_CITUS_BASE" && ds_pg_stop "$SCALE_CITUS_BASE"
  ds_citus_workers_stop "$SCALE_CITUS_BASE"
}
