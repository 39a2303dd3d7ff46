# shellcheck shell=bash
# The "seed" section of scripts/bench.sh (sourced by it; uses its helpers
# row, note, sql, svc_start, calc, fmt_*, verdict and its variables).
#
#   1. The load generator against raw clients, the broker the only other
#      process: mosquitto_pub -l (one connection, QoS 1, the same single
#      objects) vs devicestats-loadgen (one connection, QoS 1, 1,000
#      devices); target >= 0.9.  Its peak RSS simulating 10,000 devices:
#      target <= 32 MiB.
#   2. The old Locust scenario (--preset seed: 10 users on device-1..10,
#      POST a sample then GET /devices/{id}/data/all, think 1-5 s) over
#      HTTP, with charts; then the same pushed (SEED_PUSH_USERS users, no
#      think time; 50, under the query service's 64 connections per client
#      address) for the figures the old Python service was measured at:
#      ~210 POST requests/s with p99 ~380 ms.
#   3. GET /devices/{id}/data/all over one device's SEED_ALL_SAMPLES rows
#      (1M: the Python service took ~17-19 s and 1.36 GB per request) and
#      the query service's peak RSS after it.
# It starts ingest and query itself and stops them again, leaving the
# stack as the next section expects it (no service running, empty store).
# A full run (not --quick) writes its table and charts into
# docs/benchmarks.md (between the seed markers) and docs/img/loadgen/.

: "${SEED_SECONDS:=60}" "${SEED_PUSH_SECONDS:=30}" "${SEED_PUSH_USERS:=50}"
: "${SEED_RAW_SAMPLES:=300000}" "${SEED_ALL_SAMPLES:=1000000}" "${SEED_RSS_DEVICES:=10000}"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  SEED_SECONDS=${BENCH_SEED_SECONDS:-8} SEED_PUSH_SECONDS=${BENCH_SEED_PUSH_SECONDS:-6}
  SEED_RAW_SAMPLES=${BENCH_SEED_RAW_SAMPLES:-20000} SEED_ALL_SAMPLES=${BENCH_SEED_ALL_SAMPLES:-50000}
  SEED_RSS_PER_DEVICE=1
fi
SEED_ROWS=()

# seed_row ...: a row of the table and of the docs section.
seed_row() {
  row "$@"
  SEED_ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |")
}

# raw_vs_loadgen: publish rates with only the broker running.
seed_raw_vs_loadgen() {
  local n=$SEED_RAW_SAMPLES lines=$RUN/raw-lines.txt t0 t1 raw lg line rss
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
      printf "{\"x\":%.3f,\"y\":%.3f,\"z\":%.3f,\"ts\":%d}\n", (i % 2001) / 10 - 100, 1.5, -2.25, 1795824000000 + i * 1000 }' >"$lines"
  # Alternately, best of two each: the machine's load swings between runs.
  raw=0 lg=0
  local i r
  for i in 1 2; do
    t0=$(now_ms)
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -i bench-raw -t devices/raw-0000/data -l <"$lines"
    t1=$(now_ms)
    r=$(calc "$n * 1000 / ($t1 - $t0)")
    raw=$(calc "($r > $raw) ? $r : $raw")
    line=$("$LOADGEN" --progress off --devices 1000 --samples "$n" --batch 1 --qos 1 --prefix rw-)
    r=$(kv rate "$line")
    lg=$(calc "($r > $lg) ? $r : $lg")
    note "raw mosquitto_pub: $n in $((t1 - t0)) ms; loadgen: $line"
  done
  seed_row "loadgen vs raw client, broker alone: QoS 1 single objects, 1 connection, best of 2 alternating (samples/s): mosquitto_pub -l vs devicestats-loadgen (1,000 devices)" \
    "$(fmt_int "$raw")" "$(fmt_int "$lg")" "$(fmt2 "$(calc "$lg / $raw")")" "≥ 0.9" "$(verdict "$(calc "$lg / $raw")" '>=' 0.9)"
  local per=${SEED_RSS_PER_DEVICE:-5}
  line=$("$LOADGEN" --progress off --devices "$SEED_RSS_DEVICES" --samples "$((SEED_RSS_DEVICES * per))" --batch 1 --qos 1 --prefix rs-)
  rss=$(kv rss_kib "$line")
  seed_row "loadgen peak RSS simulating $(fmt_int "$SEED_RSS_DEVICES") devices ($per sample(s) each)" "" \
    "$(calc "$rss / 1024" | xargs printf '%.1f MiB')" "" "≤ 32 MiB" "$(verdict "$rss" '<=' 32768)"
}

# seed_run NAME ARGS...: one loadgen run with a report and charts under
# $RUN/seed-NAME; sets SEED_LINE (its "loadgen-http key=value" line).
# Fails when the loadgen does.
seed_run() {
  local name=$1 dir=$RUN/seed-$1; shift
  "$LOADGEN" --url "$MQTT_URL" --http "http://127.0.0.1:$HTTP_PORT" --token "$BENCH_API_TOKEN" \
    --metrics "http://127.0.0.1:$INGEST_ADMIN_PORT/metrics" --progress on --plot "$dir" "$@" \
    >"$RUN/seed-$name.out" 2>"$RUN/seed-$name.err" || true
  # Exit 1 (errors, or samples lost) still reports: the rows say what.
  SEED_LINE=$(grep '^loadgen-http ' "$RUN/seed-$name.out") || {
    note "loadgen $name failed: $(tail -n 5 "$RUN/seed-$name.err" "$RUN/seed-$name.out")"
    return 1
  }
  note "seed $name: $(head -n 1 "$RUN/seed-$name.out") $SEED_LINE"
}

# ms_of KEY: a latency of SEED_LINE ("-" when there was none: negative).
ms_of() {
  local v; v=$(kv "$1" "$SEED_LINE")
  awk -v v="$v" 'BEGIN { if (v == "" || v < 0) print "-"; else printf "%.1f ms", v }'
}

seed_section() {
  note "seed: raw client vs loadgen ($SEED_RAW_SAMPLES samples), loadgen RSS at $SEED_RSS_DEVICES devices"
  seed_raw_vs_loadgen
  svc_start ingest || return 1
  svc_start query || return 1

  note "seed: the Locust scenario, 10 users, think 1-5 s, ${SEED_SECONDS}s"
  seed_run locust --preset seed --duration "$SEED_SECONDS" || return 1
  seed_row "**seed preset** (Locust's scenario: 10 users, POST then GET /data/all, think 1-5 s, ${SEED_SECONDS} s): POST p50 / p99" \
    "" "$(ms_of post_p50) / $(ms_of post_p99)" "" "" ""
  seed_row "same: GET /devices/{id}/data/all p50 / p99" "" \
    "$(ms_of all_p50) / $(ms_of all_p99)" "" "" ""
  seed_row "same: publish → visible in the statistics (markers, 1/s): p50 / p95 / p99" "" \
    "$(ms_of e2e_p50) / $(ms_of e2e_p95) / $(ms_of e2e_p99)" "" "" ""
  local lost dbl
  lost=$(kv lost "$SEED_LINE") dbl=$(kv doubled "$SEED_LINE")
  seed_row "same: count check, lost / doubled ($(fmt_int "$(kv published "$SEED_LINE")") POSTed; $(kv errors "$SEED_LINE") failed requests)" "" \
    "$lost / $dbl" "" "0 / 0" "$([ "$lost" = 0 ] && [ "$dbl" = 0 ] && echo PASS || echo MISS)"

  note "seed: pushed, $SEED_PUSH_USERS users, no think time, ${SEED_PUSH_SECONDS}s"
  seed_run push --preset seed --users "$SEED_PUSH_USERS" --think 0-0 --duration "$SEED_PUSH_SECONDS" || return 1
  local posts p99 dur rps
  posts=$(kv post_requests "$SEED_LINE") p99=$(kv post_p99 "$SEED_LINE") dur=$(kv duration_s "$SEED_LINE")
  rps=$(calc "$posts / $dur")
  seed_row "**seed preset pushed** ($SEED_PUSH_USERS users, no think time): POST requests/s vs the old Python service" \
    "~210" "$(fmt_int "$rps")" "$(fmt2 "$(calc "$rps / 210")")" "" ""
  seed_row "same: POST p99 vs the old Python service" "~380 ms" "$(ms_of post_p99)" "$(fmt2 "$(calc "$p99 / 380")")" "" ""
  lost=$(kv lost "$SEED_LINE") dbl=$(kv doubled "$SEED_LINE")
  seed_row "same: count check, lost / doubled ($(fmt_int "$(kv published "$SEED_LINE")") POSTed; $(kv errors "$SEED_LINE") failed requests)" "" \
    "$lost / $dbl" "" "0 / 0" "$([ "$lost" = 0 ] && [ "$dbl" = 0 ] && echo PASS || echo MISS)"

  note "seed: GET /data/all over $SEED_ALL_SAMPLES rows of one device"
  "$COPYLOAD" --prefix sa- --devices 1 --samples "$SEED_ALL_SAMPLES" --create-devices >&2
  compact_all "name = 'sa-0000'"
  local best hwm
  best=$(http_best 3 "http://127.0.0.1:$HTTP_PORT/devices/sa-0000/data/all") || best=
  hwm=$(vm_hwm_kib query)
  seed_row "GET /devices/{id}/data/all over $(fmt_int "$SEED_ALL_SAMPLES") rows (best of 3) vs the old Python service (over 1M rows)" \
    "17–19 s" "${best:+$(fmt_ms "$best")}" "${best:+$(fmt2 "$(calc "$best / 17000")")}" "" ""
  seed_row "query service peak RSS after it (VmHWM) vs the old service's 1.36 GB per request" "1.36 GB" \
    "$(calc "$hwm / 1024" | xargs printf '%.1f MiB')" "" "" ""

  # Leave the stack as the next section expects it.
  local n
  for n in query ingest; do ds_alive "$ST" "$n" && ds_stop_instance "$ST" "$n" 60 >/dev/null; done
  sql "TRUNCATE samples_recent, sample_chunks"
  sql "DELETE FROM devices WHERE name LIKE 'device-%' OR name LIKE 'sa-%' OR name LIKE 'rw-%' OR name LIKE 'rs-%' OR name = 'loadgen-marker'" || true
  NOTES+=("Seed: devicestats-loadgen --preset seed over HTTP (libcurl multi, one thread); old Python figures from the issue (Locust on this kind of machine); the machine is shared by other work, so rates are noisy.")
  [ "${BENCH_WRITE_DOCS:-$([ "${BENCH_QUICK:-0}" = 1 ] && echo 0 || echo 1)}" = 1 ] && seed_write_docs
  return 0
}

# seed_write_docs: the table and the charts into docs/benchmarks.md (between
# <!-- seed:begin --> and <!-- seed:end -->) and docs/img/loadgen/.
seed_write_docs() {
  local doc=$SRC/docs/benchmarks.md img=$SRC/docs/img/loadgen sec=$RUN/seed-section.md
  mkdir -p "$img"
  cp "$RUN/seed-locust/throughput.png" "$img/seed-throughput.png"
  cp "$RUN/seed-locust/latency.png" "$img/seed-latency.png"
  cp "$RUN/seed-push/throughput.png" "$img/seed-push-throughput.png"
  cp "$RUN/seed-push/latency.png" "$img/seed-push-latency.png"
  {
    echo "<!-- seed:begin (written by scripts/bench.sh; edits here are overwritten) -->"
    echo "## The seed preset against the old Python service ($(date -u +%Y-%m-%d), $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo
    echo "Measured on a shared 2-core machine while other work ran (load average at start $LOAD_START): read the rates as noisy."
    echo
    echo "| measurement | old service / raw client | DeviceStats | ratio | target | result |"
    echo "| --- | ---: | ---: | ---: | --- | --- |"
    printf '%s\n' "${SEED_ROWS[@]}"
    echo
    echo "Locust's scenario (10 users, think 1-5 s): throughput and latency per second."
    echo
    echo "![seed preset: published vs stored per second](img/loadgen/seed-throughput.png)"
    echo "![seed preset: latency percentiles per second](img/loadgen/seed-latency.png)"
    echo
    echo "Pushed ($SEED_PUSH_USERS users, no think time):"
    echo
    echo "![seed preset pushed: published vs stored per second](img/loadgen/seed-push-throughput.png)"
    echo "![seed preset pushed: latency percentiles per second](img/loadgen/seed-push-latency.png)"
    echo "<!-- seed:end -->"
  } >"$sec"
  if grep -q '^<!-- seed:begin' "$doc"; then
    awk -v f="$sec" '/^<!-- seed:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
      /^<!-- seed:end -->/ { skip = 0; next } !skip' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
  else
    { echo; cat "$sec"; } >>"$doc"
  fi
  note "wrote the seed section into $doc and its charts into $img"
}
