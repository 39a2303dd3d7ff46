#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR (tests/fuzz/CMakeLists.txt)
# for FUZZ_SECONDS each (default 20) over its committed seed corpus
# (corpus/<target>/, read only) plus a working corpus kept in
# BUILD_DIR/fuzz-corpus/<target>/ between runs.  Fails on the first crash,
# leak, timeout or sanitizer report, naming the input that caused it (under
# BUILD_DIR/fuzz-artifacts/): turn it into a unit test, fix, rerun.
#   tests/fuzz/run.sh BUILD_DIR [TARGET...]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${1:?usage: $0 BUILD_DIR [TARGET...]}
shift
SECONDS_EACH=${FUZZ_SECONDS:-20}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_sample fuzz_time fuzz_recalc fuzz_http fuzz_chunk fuzz_rejected)

declare -A dict=([fuzz_sample]=sample.dict [fuzz_time]=time.dict [fuzz_recalc]=recalc.dict
                 [fuzz_http]=http.dict)
mkdir -p "$BUILD/fuzz-artifacts"
total_runs=0
for t in "${targets[@]}"; do
  bin=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -n 1)
  [ -n "$bin" ] || { echo "fuzz: $t not built in $BUILD" >&2; exit 1; }
  work=$BUILD/fuzz-corpus/$t
  mkdir -p "$work"
  args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$t-")
  [ -n "${dict[$t]:-}" ] && args+=(-dict="$HERE/${dict[$t]}")
  log=$BUILD/fuzz-artifacts/$t.log
  start=$(date +%s)
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$bin" "${args[@]}" "$work" "$HERE/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t FAILED after $(($(date +%s) - start)) s; the input is named above (Test unit written to ...)" >&2
    exit 1
  fi
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo 0)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+' || echo '?')
  echo "fuzz: $t ok: $runs inputs in $(($(date +%s) - start)) s, coverage $cov, corpus $(find "$work" -type f | wc -l) files" >&2
  total_runs=$((total_runs + runs))
done
echo "fuzz: ${#targets[@]} targets, $total_runs inputs, ${SECONDS_EACH} s each" >&2
