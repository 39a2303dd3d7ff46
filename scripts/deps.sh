#!/usr/bin/env bash
# Installs the Debian packages DeviceStats needs to build, test and run.
# As root it installs them; otherwise it prints the one sudo line to run.
#
# The packages come in sets, the one list of them for this machine and for
# the container images (deploy/Dockerfile installs the sets this script
# prints, so a package added here reaches the images too):
#   build    compile every target (services, tools, unit tests)
#   runtime  the shared libraries the programs load (the services image)
#   infra    the servers run.sh starts and what configures them (PostgreSQL,
#            mosquitto with mosquitto_passwd, openssl for the private CA)
#   test     the test suite's and benchmarks' tools
# Usage:
#   scripts/deps.sh                      every set, npm modules of web/, Citus
#                                        when asked (below); quick when done
#   scripts/deps.sh --print SET...       the packages of SETs, one per line
#   scripts/deps.sh --install SET...     apt-get install exactly those
#                                        (--no-install-recommends; no npm, no
#                                        Citus; as root)
set -euo pipefail

declare -A SETS
SETS[build]="build-essential cmake pkg-config libpaho-mqtt-dev libpq-dev libjson-c-dev
  libcurl4-openssl-dev libcunit1-dev libmicrohttpd-dev zlib1g-dev libmosquitto-dev"
# What the programs built from `build` load: one runtime package per -dev
# package above that they link (the image build fails if one is missing:
# deploy/Dockerfile runs ldd on every program).
SETS[runtime]="libpaho-mqtt1.3 libpq5 libjson-c5 libcurl4 libmicrohttpd12 libmosquitto1 zlib1g"
SETS[infra]="postgresql mosquitto openssl"
# chromium: the dashboard's browser tests; clang, libclang-rt: libFuzzer
# (tests/fuzz); valgrind: test.sh --valgrind; wrk, gnuplot-nox, jq: test.sh
# runs `bench.sh --quick` (jq: its curves section, scripts/plot-curves.sh).
SETS[test]="postgresql-contrib mosquitto-clients curl gnuplot-nox wrk jq chromium fonts-dejavu-core
  clang libclang-rt-14-dev valgrind"

# pkgs SET...: the packages of the sets, one per line.
pkgs() {
  local s
  for s in "$@"; do
    [ -n "${SETS[$s]+x}" ] || { echo "deps.sh: unknown set '$s' (build, runtime, infra, test)" >&2; exit 2; }
    printf '%s\n' ${SETS[$s]}
  done
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

case ${1:-} in
  --print)
    shift
    pkgs "$@"
    exit 0
    ;;
  --install)
    shift
    [ "$(id -u)" -eq 0 ] || { echo "deps.sh: --install needs root" >&2; exit 1; }
    pkgs "$@" >/dev/null # an unknown set: exit 2 here
    mapfile -t p < <(pkgs "$@")
    echo "deps.sh: installing ($*) ${p[*]}" >&2
    apt_install "${p[@]}"
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: deps.sh [--print|--install SET...]  (sets: build runtime infra test)" >&2
    exit 2
    ;;
esac

mapfile -t PKGS < <(pkgs build runtime infra test)
# The dashboard's uPlot and the browser tests' playwright-core come from npm
# (web/package-lock.json): node and npm from Debian unless some node is
# already installed (its own npm with it).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
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
apt_install "${missing[@]}"
# The Debian packages start system-wide services; DeviceStats runs its own
# private broker and cluster, so leave the system ones as they were found.
web_modules
citus
