# shellcheck shell=bash
# The `curves` section of scripts/bench.sh (sourced by it; uses its stack
# and helpers): how the cost grows with the work, each point beside its
# ceiling measured in the same run.
#   history      one device holding N samples: GET /devices/{id}/data/all
#                and a 1-day range vs percentile_cont on the naive layout;
#                time per sample; the query service's VmHWM (restarted per
#                point: answer or 503, never grow)
#   concurrency  random 1-hour ranges of the history device at 1..256
#                connections, cold (query restarted) and warm chunk cache,
#                vs pgbench on the naive layout; GET /health vs a constant
#                libmicrohttpd server
#   total        a full recalculation over D devices × S samples vs the
#                grouped percentile_cont on the naive layout; aggregator VmHWM
#   fleet        ingest end to end (single objects, QoS 1) with N distinct
#                devices publishing interleaved, vs min(broker, COPY) with
#                as many devices; ingest VmHWM (restarted per point)
#   backlog      ingest stopped while N messages queue for its session at
#                the broker, then started: drain rate vs the live end to end
#                rate; ingest VmHWM while draining
# Every point goes into the table, into $RUN/curves.json (one object per
# point and series) and, through scripts/plot-curves.sh, into PNGs.  Points
# that take under a minute are the median of BENCH_CURVE_RUNS (3) runs.
#
# Sizes: BENCH_CURVE_HISTORY ("100000 1000000 10000000"),
# BENCH_CURVE_CONNS ("1 16 64 256"), BENCH_CURVE_TOTAL ("1000x1000
# 1000x10000 10000x1000 3000x10000", devices x samples per device),
# BENCH_CURVE_FLEET ("1000 10000 100000"), BENCH_CURVE_FLEET_SAMPLES
# (300000 per point), BENCH_CURVE_BACKLOG ("50000 200000 1000000"),
# BENCH_CURVE_SECONDS (HTTP_SECONDS) per concurrency run.

C_HISTORY=${BENCH_CURVE_HISTORY:-100000 1000000 10000000}
C_CONNS=${BENCH_CURVE_CONNS:-1 16 64 256}
C_TOTAL=${BENCH_CURVE_TOTAL:-1000x1000 1000x10000 10000x1000 3000x10000}
C_FLEET=${BENCH_CURVE_FLEET:-1000 10000 100000}
C_FLEET_SAMPLES=${BENCH_CURVE_FLEET_SAMPLES:-300000}
C_BACKLOG=${BENCH_CURVE_BACKLOG:-50000 200000 1000000}
C_SECONDS=${BENCH_CURVE_SECONDS:-$HTTP_SECONDS}
C_RUNS=${BENCH_CURVE_RUNS:-3}
CURVES_JSON=$RUN/curves.json
: >"$CURVES_JSON"
MIB=65536 # KiB

# point CURVE PANEL SERIES X Y UNIT [KIND [PASS]]: one point of a curve into
# curves.json.  KIND: measured (default), ceiling or target; PASS: true,
# false or null (no target on this series).
point() {
  printf '{"curve":"%s","panel":"%s","series":"%s","x":%s,"y":%s,"unit":"%s","kind":"%s","pass":%s}\n' \
    "$1" "$2" "$3" "$4" "${5:-null}" "$6" "${7:-measured}" "${8:-null}" >>"$CURVES_JSON"
}
pass_of() { [ "$1" = PASS ] && echo true || echo false; }
mib() { calc "$1 / 1024" | xargs printf '%.1f MiB'; }

# curve_reset: an empty store and no curve devices (their snapshots first).
curve_reset() {
  sql "TRUNCATE samples_recent, sample_chunks"
  sql "SET client_min_messages = warning; DROP TABLE IF EXISTS bench_naive"
  sql "DELETE FROM user_snapshots" >/dev/null 2>&1 || true
  sql "DELETE FROM device_snapshots WHERE device_id IN (SELECT id FROM devices WHERE name LIKE 'cv%')"
  sql "DELETE FROM devices WHERE name LIKE 'cv%'"
}
# svc_restart SVC: a fresh process (its VmHWM starts over, its caches empty).
svc_restart() {
  ds_alive "$ST" "$1" && ds_stop_instance "$ST" "$1" 60 >/dev/null
  svc_start "$1"
}
# wrk_run CONNS URL [SCRIPT]: sets WRK_RPS and WRK_ERRORS (non-2xx answers
# plus socket errors).
wrk_run() {
  local c=$1 url=$2 t out
  t=$((c < 2 ? 1 : 2))
  out=$("$WRK" -c "$c" -t "$t" -d "${C_SECONDS}s" ${3:+-s "$3"} "$url" 2>&1) || { echo "$out" >&2; WRK_RPS=0 WRK_ERRORS=1; return 0; }
  echo "$out" >>"$LOGS/wrk-curves.log"
  WRK_RPS=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' <<<"$out")
  WRK_ERRORS=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
}

# ------------------------------------------------------------------ history
C_CONC_DEV='' C_CONC_N=0 C_CONC_ID=0
curve_history() {
  local n dev id a ad b bd s e hwm mid code ratio v cnt ok=0
  naive_table
  for n in $C_HISTORY; do
    dev=cvh$n-0000
    note "curves: history: loading $n samples of $dev"
    "$COPYLOAD" --prefix "cvh$n-" --devices 1 --samples "$n" --create-devices >&2
    compact_bulk
    "$COPYLOAD" --table bench_naive --prefix "cvh$n-" --devices 1 --samples "$n" >&2
    sql "VACUUM ANALYZE bench_naive" && sql "VACUUM ANALYZE sample_chunks"
    id=$(sql "SELECT id FROM devices WHERE name = '$dev'")
    # One day in the middle of the history (all of it when shorter).
    mid=$((LOAD_BASE_S + n / 2))
    s=$((n > 86400 ? mid - 43200 : LOAD_BASE_S)) e=$((n > 86400 ? mid + 43200 : LOAD_BASE_S + n))
    a=$(sql_best 3 "$(stats_sql bench_naive "device_id = $id")")
    ad=$(sql_best 3 "$(stats_sql bench_naive "device_id = $id AND ts >= to_timestamp($s) AND ts < to_timestamp($e)")")
    svc_restart query || return 1
    b=$(http_best 3 "$QBASE/devices/$dev/data/all") || b=
    # The answer covers every sample (the bulk-made chunks included).
    cnt=$(grep -o '"count": *[0-9]*' "$RUN/http.body" | head -n 1 | grep -o '[0-9]*$' || true)
    if [ -n "$b" ] && [ "$cnt" != "$n" ]; then note "curves: history: /data/all counted ${cnt:-nothing} of $n samples"; b=; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' "$QBASE/devices/$dev/data/all")
    bd=$(http_best 3 "$QBASE/devices/$dev/data?start=$(date -u -d "@$s" +%FT%TZ)&end=$(date -u -d "@$e" +%FT%TZ)") || bd=
    hwm=$(vm_hwm_kib query)
    point history "time" "SQL percentile_cont, all time (ceiling)" "$n" "$a" ms ceiling
    point history "time" "SQL percentile_cont, 1 day (ceiling)" "$n" "$ad" ms ceiling
    point history "time" "0.3 × SQL all time (target)" "$n" "$(calc "0.3 * $a")" ms target
    if [ -n "$b" ]; then
      ratio=$(calc "$b / $a") v=$(verdict "$ratio" '<=' 0.3)
      point history "time" "GET /data/all" "$n" "$b" ms measured "$(pass_of "$v")"
      point history "time per sample" "GET /data/all, ns per sample" "$n" "$(calc "$b * 1000000 / $n")" ns
      row "13 history: all time, 1 device × $(fmt_int "$n") (best of 3) vs naive SQL" "$(fmt_ms "$a")" "$(fmt_ms "$b") ($(calc "$b * 1000000 / $n" | xargs printf '%.0f') ns/sample)" "$(fmt2 "$ratio")" "≤ 0.3" "$v"
    else
      point history "time" "GET /data/all" "$n" null ms measured false
      row "13 history: all time, 1 device × $(fmt_int "$n") vs naive SQL" "$(fmt_ms "$a")" "HTTP $code" "" "≤ 0.3 (or 503)" "$([ "$code" = 503 ] && echo "503" || echo MISS)"
    fi
    if [ -n "$bd" ]; then
      ratio=$(calc "$bd / $ad") v=$(verdict "$ratio" '<=' 0.3)
      point history "time" "GET /data, 1-day range" "$n" "$bd" ms measured "$(pass_of "$v")"
      row "13 history: 1-day range of that device vs naive SQL" "$(fmt_ms "$ad")" "$(fmt_ms "$bd")" "$(fmt2 "$ratio")" "≤ 0.3" "$v"
    fi
    v=$(verdict "$hwm" '<=' $MIB)
    point history "peak RSS" "query VmHWM" "$n" "$(calc "$hwm / 1024")" MiB measured "$(pass_of "$v")"
    point history "peak RSS" "64 MiB (target)" "$n" 64 MiB target
    row "13 history: query peak RSS after those requests (restarted per point)" "" "$(mib "$hwm")" "" "≤ 64 MiB" "$v"
    # The concurrency curve reads the history device nearest 1M samples.
    if [ "$C_CONC_N" -eq 0 ] || [ $((n <= 1000000)) -eq 1 ]; then C_CONC_DEV=$dev C_CONC_N=$n C_CONC_ID=$id; fi
    ok=1
  done
  [ "$ok" = 1 ]
}

# -------------------------------------------------------------- concurrency
curve_concurrency() {
  local c hours rc rw rs rh rk e64='' ec=0 er=0 r256='' v lua=$RUN/range.lua pgs=$RUN/range-pgbench.sql cp
  hours=$((C_CONC_N / 3600))
  [ "$hours" -ge 1 ] || { note "curves: concurrency needs a history of at least 3600 samples"; return 0; }
  # Random whole hours of the device's history, for wrk and for pgbench.
  cat >"$lua" <<EOF
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
request = function()
  local s = $LOAD_BASE_S + 3600 * math.random(0, $((hours - 1)))
  return wrk.format("GET", "/devices/$C_CONC_DEV/data?start=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", s) ..
    "&end=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", s + 3600))
end
EOF
  { echo "\\set s $LOAD_BASE_S + 3600 * random(0, $((hours - 1)))"
    stats_sql bench_naive "device_id = $C_CONC_ID AND ts >= to_timestamp(:s) AND ts < to_timestamp(:s + 3600)"; echo; } >"$pgs"
  : >"$RUN/consthttp.out"
  # In a session of its own, as every service runs (ds_service_start):
  # with the kernel's autogroup scheduling, each session is one group with
  # an equal share of the CPU on a loaded machine, so a constant server
  # sharing the bench's session competed on other terms than the service.
  setsid "$CONSTHTTP" "$CONST_PORT" "$QUERY_THREADS" >"$RUN/consthttp.out" 2>&1 &
  cp=$!
  EXTRA_PIDS+=("$cp")
  for ((i = 0; i < 100; i++)); do grep -q ready "$RUN/consthttp.out" && break; sleep 0.05; done
  for c in $C_CONNS; do
    rs=$("$PGBENCH" -n -c "$c" -j $((c < 2 ? 1 : 2)) -T "$C_SECONDS" -f "$pgs" "$DATABASE_URL" 2>&1 |
      tee -a "$LOGS/pgbench.log" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -n 1)
    svc_restart query || return 1
    wrk_run "$c" "$QBASE/" "$lua"; rc=$WRK_RPS er=$WRK_ERRORS
    wrk_run "$c" "$QBASE/" "$lua"; rw=$WRK_RPS er=$((er + WRK_ERRORS))
    wrk_run "$c" "$QBASE/health"; rh=$WRK_RPS er=$((er + WRK_ERRORS))
    wrk_run "$c" "http://127.0.0.1:$CONST_PORT/health"; rk=$WRK_RPS
    [ "$c" = 64 ] && e64=$rw
    [ "$c" = 256 ] && r256=$rw ec=$er
    point concurrency "1-hour ranges" "SQL on naive rows, pgbench (ceiling)" "$c" "${rs:-null}" req/s ceiling
    point concurrency "1-hour ranges" "1-hour range, cold chunk cache" "$c" "$rc" req/s
    point concurrency "1-hour ranges" "1-hour range, warm chunk cache" "$c" "$rw" req/s
    point concurrency "GET /health" "constant MHD server (ceiling)" "$c" "$rk" req/s ceiling
    point concurrency "GET /health" "GET /health" "$c" "$rh" req/s measured "$(pass_of "$(verdict "$(calc "$rh / $rk")" '>=' 0.8)")"
    row "13 concurrency: random 1-hour ranges, $c connections (req/s): pgbench SQL vs HTTP warm (cold $(fmt_int "$rc"); errors $er)" \
      "$(fmt_int "${rs:-0}")" "$(fmt_int "$rw")" "$(awk -v a="$rw" -v b="${rs:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')" "" ""
    row "13 concurrency: GET /health, $c connections (req/s): constant server vs service" "$(fmt_int "$rk")" "$(fmt_int "$rh")" \
      "$(fmt2 "$(calc "$rh / $rk")")" "≥ 0.8" "$(verdict "$(calc "$rh / $rk")" '>=' 0.8)"
  done
  kill "$cp"; wait "$cp" 2>/dev/null || true
  untrack "$cp"
  if [ -n "$e64" ] && [ -n "$r256" ]; then
    v=$( ((ec == 0)) && verdict "$(calc "$r256 / $e64")" '>=' 0.9 || echo MISS)
    row "13 **concurrency: warm range req/s at 256 vs at 64 connections** (errors at 256: $ec)" "$(fmt_int "$e64")" "$(fmt_int "$r256")" \
      "$(fmt2 "$(calc "$r256 / $e64")")" "≥ 0.9, 0 errors" "$v"
  fi
}

# -------------------------------------------------------------------- total
curve_total() {
  local p d s n a b hwm ratio v ev
  for p in $C_TOTAL; do
    d=${p%x*} s=${p#*x} n=$((d * s))
    curve_reset
    naive_table
    note "curves: total: loading $d devices × $s samples"
    "$COPYLOAD" --prefix "cvt$p-" --devices "$d" --samples "$n" --create-devices >&2
    compact_bulk
    "$COPYLOAD" --table bench_naive --prefix "cvt$p-" --devices "$d" --samples "$n" >&2
    sql "VACUUM ANALYZE bench_naive" && sql "VACUUM ANALYZE sample_chunks" && sql "VACUUM ANALYZE samples_recent"
    checkpoint
    a=$(sql_best 1 "$(stats_sql bench_naive true device_id)")
    svc_restart aggregator || return 1
    if recalc "{\"full\":true,\"request_id\":\"curve-$p\"}" "curve-$p"; then
      b=$RECALC_MS
      ev=$(grep -o '"elapsed_ms": *[0-9]*' <<<"$RECALC_EVENT" | grep -o '[0-9]*$' || true)
    else
      b=
    fi
    hwm=$(vm_hwm_kib aggregator)
    point total "time" "grouped SQL percentile_cont (ceiling)" "$n" "$a" ms ceiling
    point total "time" "0.4 × SQL (target)" "$n" "$(calc "0.4 * $a")" ms target
    if [ -n "$b" ]; then
      ratio=$(calc "$b / $a") v=$(verdict "$ratio" '<=' 0.4)
      point total "time" "full recalculation ($p)" "$n" "$b" ms measured "$(pass_of "$v")"
      row "13 total: full recalculation, $(fmt_int "$d") devices × $(fmt_int "$s") (elapsed_ms ${ev:-?}) vs grouped SQL" "$(fmt_ms "$a")" "$(fmt_ms "$b")" "$(fmt2 "$ratio")" "≤ 0.4" "$v"
    else
      row "13 total: full recalculation, $(fmt_int "$d") devices × $(fmt_int "$s")" "$(fmt_ms "$a")" "failed" "" "≤ 0.4" "MISS"
    fi
    point total "peak RSS" "aggregator VmHWM" "$n" "$(calc "$hwm / 1024")" MiB
    row "13 total: aggregator peak RSS over that run (restarted per point)" "" "$(mib "$hwm")" "" "flat" ""
  done
  curve_reset
}

# -------------------------------------------------------------------- fleet
# fleet_run N SAMPLES: broker ceiling, COPY ceiling and end to end with N
# devices; sets F_A F_B F_C (samples/s) and F_HWM (ingest KiB).
fleet_run() {
  local n=$1 total=$2 pfx=cvf$1- out=$RUN/sink.out sp line sl t_end
  sink_start "$total"
  sp=$SINK_PID
  line=$("$LOADGEN" --progress off --prefix "$pfx" --devices "$n" --samples "$total" --inflight "$PUB_INFLIGHT")
  wait "$sp" || note "sink: $(tail -n 1 "$out")"
  untrack "$sp"
  sl=$(tail -n 1 "$out")
  F_A=$(calc "$total * 1000 / ($(kv last_ms "$sl") - $(kv start_ms "$line"))")
  curve_reset
  checkpoint
  F_B=$(kv rate "$("$COPYLOAD" --prefix "$pfx" --devices "$n" --samples "$total" --create-devices)")
  curve_reset
  checkpoint
  svc_restart ingest || return 1
  line=$("$LOADGEN" --progress off --prefix "$pfx" --devices "$n" --samples "$total" --inflight "$PUB_INFLIGHT")
  t_end=$(wait_count "$total") || return 1
  F_C=$(calc "$total * 1000 / ($t_end - $(kv start_ms "$line"))")
  F_HWM=$(vm_hwm_kib ingest)
  note "curves: fleet $n devices: broker $F_A, COPY $F_B, end to end $F_C samples/s, ingest VmHWM $F_HWM KiB"
  curve_reset
}
curve_fleet() {
  local n r as bs cs hs a b c hwm m first='' v vr
  for n in $C_FLEET; do
    as=() bs=() cs=() hs=()
    for ((r = 0; r < C_RUNS; r++)); do
      fleet_run "$n" "$C_FLEET_SAMPLES" || return 1
      as+=("$F_A") bs+=("$F_B") cs+=("$F_C") hs+=("$F_HWM")
    done
    a=$(median "${as[@]}") b=$(median "${bs[@]}") c=$(median "${cs[@]}")
    hwm=$(printf '%s\n' "${hs[@]}" | sort -n | tail -n 1)
    m=$(calc "($a < $b) ? $a : $b")
    [ -z "$first" ] && first=$c
    vr=$(verdict "$(calc "$c / $first")" '>=' 0.8)
    point fleet "throughput" "min(broker, COPY) (ceiling)" "$n" "$m" samples/s ceiling
    point fleet "throughput" "0.8 × end to end at the first size (target)" "$n" "$(calc "0.8 * $first")" samples/s target
    point fleet "throughput" "ingest end to end" "$n" "$c" samples/s measured "$(pass_of "$vr")"
    v=$(verdict "$hwm" '<=' $MIB)
    point fleet "peak RSS" "ingest VmHWM" "$n" "$(calc "$hwm / 1024")" MiB measured "$(pass_of "$v")"
    point fleet "peak RSS" "64 MiB (target)" "$n" 64 MiB target
    row "13 fleet: end to end, $(fmt_int "$n") devices, $(fmt_int "$C_FLEET_SAMPLES") single objects (median of $C_RUNS; vs min(broker, COPY); vs the first size $(fmt2 "$(calc "$c / $first")"))" \
      "$(fmt_int "$m")" "$(fmt_int "$c")" "$(fmt2 "$(calc "$c / $m")")" "≥ 0.8 × first size" "$vr"
    row "13 fleet: ingest peak RSS at $(fmt_int "$n") devices (worst of $C_RUNS)" "" "$(mib "$hwm")" "" "≤ 64 MiB" "$v"
  done
}

# ------------------------------------------------------------------ backlog
curve_backlog() {
  local n line t0 t_end live rate hwm v devs=1000
  curve_reset
  svc_restart ingest || return 1
  line=$("$LOADGEN" --progress off --prefix cvb- --devices "$devs" --samples "${C_BACKLOG%% *}" --inflight "$PUB_INFLIGHT")
  t_end=$(wait_count "${C_BACKLOG%% *}") || return 1
  live=$(calc "${C_BACKLOG%% *} * 1000 / ($t_end - $(kv start_ms "$line"))")
  for n in $C_BACKLOG; do
    curve_reset
    # Stopped cleanly: its persistent session keeps its subscription, and
    # the broker queues what arrives meanwhile.
    ds_stop_instance "$ST" ingest 60 >/dev/null
    "$LOADGEN" --progress off --prefix cvb- --devices "$devs" --samples "$n" --inflight "$PUB_INFLIGHT" >/dev/null
    t0=$(now_ms)
    svc_start ingest || return 1
    t_end=$(wait_count "$n") || return 1
    rate=$(calc "$n * 1000 / ($t_end - $t0)")
    hwm=$(vm_hwm_kib ingest)
    note "curves: backlog $n: drained at $rate samples/s (live $live), ingest VmHWM $hwm KiB"
    v=$(verdict "$(calc "$rate / $live")" '>=' 0.9)
    point backlog "throughput" "live end to end (ceiling)" "$n" "$live" samples/s ceiling
    point backlog "throughput" "0.9 × live (target)" "$n" "$(calc "0.9 * $live")" samples/s target
    point backlog "throughput" "drain after restart" "$n" "$rate" samples/s measured "$(pass_of "$v")"
    row "13 backlog: $(fmt_int "$n") messages queued for a stopped ingest, drained after its start (samples/s) vs live end to end" \
      "$(fmt_int "$live")" "$(fmt_int "$rate")" "$(fmt2 "$(calc "$rate / $live")")" "≥ 0.9" "$v"
    v=$(verdict "$hwm" '<=' $MIB)
    point backlog "peak RSS" "ingest VmHWM" "$n" "$(calc "$hwm / 1024")" MiB measured "$(pass_of "$v")"
    point backlog "peak RSS" "64 MiB (target)" "$n" 64 MiB target
    row "13 backlog: ingest peak RSS while draining $(fmt_int "$n")" "" "$(mib "$hwm")" "" "≤ 64 MiB" "$v"
  done
  curve_reset
}

curves_section() {
  LOAD_BASE_S=$(($(sed -n 's/.*LOAD_TS_BASE_MS INT64_C(\([0-9]*\)).*/\1/p' "$SRC/tests/load/load_gen.h") / 1000))
  QBASE=http://127.0.0.1:$HTTP_PORT
  curve_reset
  curve_history && curve_concurrency
  curve_total || note "curves: total failed"
  curve_fleet || note "curves: fleet failed"
  curve_backlog || note "curves: backlog failed"
  cp "$CURVES_JSON" "$LOGS/curves.json"
  if "$SRC/scripts/plot-curves.sh" "$CURVES_JSON" "$RUN/curves" >&2; then
    if [ -n "${BENCH_CURVES_DIR:-}" ]; then
      mkdir -p "$BENCH_CURVES_DIR" && cp "$RUN"/curves/*.png "$CURVES_JSON" "$BENCH_CURVES_DIR/"
    fi
    if [ "${BENCH_WRITE_DOCS:-$([ "${BENCH_QUICK:-0}" = 1 ] && echo 0 || echo 1)}" = 1 ]; then
      mkdir -p "$SRC/docs/img/curves"
      cp "$RUN"/curves/*.png "$CURVES_JSON" "$SRC/docs/img/curves/"
      note "curves: charts and curves.json written to docs/img/curves/"
    fi
  else
    note "curves: plotting failed"
  fi
  NOTES+=("Curves: median of $C_RUNS runs for the fleet points; concurrency runs ${C_SECONDS}s each (wrk, random 1-hour ranges); every point is in curves.json (kept in the run's logs) and drawn by scripts/plot-curves.sh.")
}
