#!/usr/bin/env bash
# scripts/bench.sh's curves section at --quick sizes, from the test suite:
# every curve comes out as table rows, as points in a well-formed
# curves.json (ceilings beside the measured series) and as a non-empty PNG.
# It never checks a speed.  Environment: DS_BUILD_DIR, DS_SOURCE_DIR.
set -euo pipefail
SRC=${DS_SOURCE_DIR:?} BUILD=${DS_BUILD_DIR:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! BENCH_ONLY=curves DS_SKIP_BUILD=1 DS_BENCH_BUILD_DIR=$BUILD BENCH_WRITE_DOCS=0 BENCH_CURVES_DIR=$dir/out \
  "$SRC/scripts/bench.sh" --quick >"$dir/table" 2>"$dir/err"; then
  tail -n 60 "$dir/err"; cat "$dir/table"
  echo "FAIL: bench.sh --quick (curves) exited non-zero"; exit 1
fi
cat "$dir/table"
fail=0
for c in history concurrency total fleet backlog; do
  grep -q "^| 13 $c: " "$dir/table" || { echo "FAIL: no table row of the $c curve"; fail=1; }
  [ -s "$dir/out/$c.png" ] || { echo "FAIL: $c.png missing or empty"; fail=1; }
  n=$(jq -c --arg c "$c" 'select(.curve == $c and .kind == "measured" and .y != null)' "$dir/out/curves.json" | wc -l)
  k=$(jq -c --arg c "$c" 'select(.curve == $c and .kind == "ceiling")' "$dir/out/curves.json" | wc -l)
  [ "$n" -ge 2 ] && [ "$k" -ge 1 ] || { echo "FAIL: $c: $n measured points, $k ceiling points"; fail=1; }
done
bad=$(grep '^| ' "$dir/table" | awk -F'|' 'NF != 8' | head -n 3)
[ -z "$bad" ] || { echo "FAIL: malformed rows: $bad"; fail=1; }
[ $fail = 0 ] && echo "ok: five curves, their points and charts"
exit $fail
