#!/usr/bin/env bash
# Installs the Debian packages DeviceStats needs to build, test and run.
# As root it installs them; otherwise it prints the one sudo line to run.
set -euo pipefail

PKGS=(build-essential cmake pkg-config
      libpaho-mqtt-dev mosquitto mosquitto-clients
      libpq-dev postgresql postgresql-contrib
      libjson-c-dev libcurl4-openssl-dev libcunit1-dev libmicrohttpd-dev
      curl zlib1g-dev gnuplot-nox wrk libmosquitto-dev jq
      chromium fonts-dejavu-core
      clang libclang-rt-14-dev valgrind)  # libFuzzer (tests/fuzz), test.sh --valgrind
# The dashboard's uPlot and the browser tests' playwright-core come from npm
# (web/package-lock.json): node and npm from Debian unless some node is
# already installed (its own npm with it).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi
# TLS certificates of the private broker (scripts/lib/stack.sh ds_tls_ensure).
PKGS+=(openssl)
# wrk, gnuplot-nox and jq are above: scripts/test.sh runs `bench.sh --quick`.
# Benchmark-only extras; DEVICESTATS_BENCH_DEPS=1 adds them.
if [ "${DEVICESTATS_BENCH_DEPS:-0}" = 1 ]; then
  PKGS+=(wrk)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# npm ci in web/ when its lock file changed since the last install (a stamp
# in node_modules); quick when nothing changed.
web_modules() {
  local web
  web=$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)
  if cmp -s "$web/package-lock.json" "$web/node_modules/.ds-lock" 2>/dev/null; then
    return 0
  fi
  echo "deps.sh: npm ci in $web (uplot, playwright-core)" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    { echo "deps.sh: npm ci failed in $web" >&2; return 1; }
  cp "$web/package-lock.json" "$web/node_modules/.ds-lock"
}

# Citus (DEVICESTATS_DB=citus, or DEVICESTATS_DEPS_CITUS=1 for the test
# suite's Citus part): an installed citus.so, else built once per machine
# from CITUS_SOURCE into /var/cache/devicestats (scripts/lib/citus.sh).
citus() {
  if [ "${DEVICESTATS_DB:-}" = citus ] || [ "${DEVICESTATS_DEPS_CITUS:-0}" = 1 ]; then
    "$(dirname "${BASH_SOURCE[0]}")/lib/citus.sh"
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  web_modules
  citus
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start system-wide services; DeviceStats runs its own
# private broker and cluster, so leave the system ones as they were found.
web_modules
citus
