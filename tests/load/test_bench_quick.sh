#!/usr/bin/env bash
# scripts/bench.sh --quick end to end, from the test suite: it must finish
# and print its table with every section's rows.  It never checks a speed
# (the machine is shared; benchmarks report, tests assert behaviour).
# Environment: DS_BUILD_DIR (the build whose binaries the bench runs),
# DS_SOURCE_DIR.
set -euo pipefail
SRC=${DS_SOURCE_DIR:?} BUILD=${DS_BUILD_DIR:?}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
t0=$SECONDS
if ! DS_SKIP_BUILD=1 DS_BENCH_BUILD_DIR=$BUILD BENCH_WRITE_DOCS=0 \
  "$SRC/scripts/bench.sh" --quick >"$out" 2>"$err"; then
  tail -n 60 "$err"; cat "$out"
  echo "FAIL: bench.sh --quick exited non-zero"; exit 1
fi
cat "$out"
echo "bench.sh --quick took $((SECONDS - t0)) s"
fail=0
need() {
  grep -qF -- "$1" "$out" || { echo "FAIL: no line with '$1' in the table"; fail=1; }
}
need '| measurement | ceiling | DeviceStats | ratio | target | result |'
need 'loadgen vs raw client'
need 'loadgen peak RSS simulating'
need '**seed preset** (Locust'
need '**seed preset pushed**'
need 'GET /devices/{id}/data/all over'
need '2c **end to end, single objects**'
need '2 kill loop'
need '3b **GET /devices/{id}/data/all**'
need '4b **full recalculation**'
# Every row of the table has its six cells.
bad=$(grep '^| ' "$out" | awk -F'|' 'NF != 8' | head -n 3)
[ -z "$bad" ] || { echo "FAIL: malformed rows: $bad"; fail=1; }
# The seed count checks came out 0 / 0 (behaviour, not speed).
grep -F 'count check, lost / doubled' "$out" | grep -vq '| 0 / 0 |  | 0 / 0 | PASS |' &&
  { echo "FAIL: a seed count check lost or doubled samples"; fail=1; }
exit $fail
