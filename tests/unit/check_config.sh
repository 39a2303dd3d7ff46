#!/usr/bin/env bash
# --check-config of every service, table-driven (issue 9, item 9): each
# variable's table row (from --help-config) gives the bad values to try --
# an integer that is not one, one below its minimum and one above its
# maximum, a boolean that is not one -- plus the contract's string
# variables with a bad value each (URL, address, level, CA file).  Each must
# exit 2 with a line naming the variable; the good configuration exits 0;
# and no secret given in the environment may appear in any output.
#   tests/unit/check_config.sh BUILD_DIR
set -uo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
fails=0 runs=0
SECRETS=(cc-db-pw-7f3a cc-mqtt-pw-91bd cc-token-5e2c cc-pgpass-c0de)
BASE_ENV=(PATH=/usr/bin:/bin
  "DATABASE_URL=postgresql://devicestats:${SECRETS[0]}@127.0.0.1:1/devicestats"
  "MQTT_PASSWORD=${SECRETS[1]}" "API_TOKEN=${SECRETS[2]}" "PGPASSWORD=${SECRETS[3]}"
  INGEST_SPOOL_DIR=/tmp)
# The sanitizer build's settings (scripts/test.sh) pass through env -i.
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
  [ -n "${!v:-}" ] && BASE_ENV+=("$v=${!v}")
done
# Bad values of the contract's string variables (DESIGN.md): the DATABASE_URL
# one carries a password libpq's own parse error would quote.
declare -A BAD_STR=(
  [MQTT_URL]='ftp://broker:1883'
  [DATABASE_URL]="postgresql://devicestats:${SECRETS[0]}%zz@127.0.0.1/devicestats"
  [HTTP_ADDR]='localhost'
  [ADMIN_ADDR]='10.0.0.300'
  [LOG_LEVEL]='loud'
  [MQTT_CA_FILE]='/nonexistent/ca.crt'
)

run() { # run BIN VAR=VALUE... : sets rc and out
  out=$(env -i "${BASE_ENV[@]}" "${@:2}" "$1" --check-config 2>&1)
  rc=$?
  runs=$((runs + 1))
  local s
  for s in "${SECRETS[@]}"; do
    if [[ $out == *"$s"* ]]; then
      echo "FAIL: $(basename "$1") ${*:2}: a secret appears in the output: $out" >&2
      fails=$((fails + 1))
    fi
  done
}

expect_bad() { # expect_bad BIN NAME VALUE
  run "$1" "$2=$3"
  if [ "$rc" != 2 ] || ! grep -q "event=startup_failed.*$2" <<<"$out"; then
    echo "FAIL: $(basename "$1") $2='$3': exit $rc, want 2 naming $2: $out" >&2
    fails=$((fails + 1))
  fi
}

for b in services/ingest/devicestats-ingest services/aggregator/devicestats-aggregator \
         services/query/devicestats-query services/migrate/devicestats-migrate; do
  bin=$BUILD/$b
  [ -x "$bin" ] || { echo "FAIL: $bin not built" >&2; fails=$((fails + 1)); continue; }
  run "$bin"
  if [ "$rc" != 0 ] || ! grep -q 'event=config' <<<"$out"; then
    echo "FAIL: $(basename "$bin"): the good configuration exits $rc: $out" >&2
    fails=$((fails + 1))
  fi
  n=0
  while IFS='|' read -r _ name type def range _; do
    name=$(tr -d ' `' <<<"$name") type=$(tr -d ' ' <<<"$type") range=$(tr -d ' ' <<<"$range")
    case $type in
      integer)
        min=${range%%..*} max=${range##*..}
        expect_bad "$bin" "$name" 12x
        expect_bad "$bin" "$name" "$((min - 1))"
        expect_bad "$bin" "$name" "$((max + 1))"
        n=$((n + 3)) ;;
      bool)
        expect_bad "$bin" "$name" maybe
        n=$((n + 1)) ;;
      string)
        if [ -n "${BAD_STR[$name]:-}" ]; then
          expect_bad "$bin" "$name" "${BAD_STR[$name]}"
          n=$((n + 1))
        fi ;;
    esac
  done < <("$bin" --help-config | grep '^| `')
  echo "check_config: $(basename "$bin"): $n bad values refused" >&2
done
echo "check_config: $runs runs, $fails failures" >&2
[ $fails = 0 ]
