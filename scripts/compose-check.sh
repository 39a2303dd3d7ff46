#!/usr/bin/env bash
# The compose deployment, end to end, on a Debian machine as root: installs
# what is missing (docker.io, docker-compose, debootstrap), starts dockerd if
# no daemon answers (and stops it at the end), makes the local debian:12
# base image if the daemon has none (debootstrap from the machine's apt
# mirror), then builds, starts (up -d), waits for health and checks the
# system through its published ports on 127.0.0.1.  One pass/fail line per
# check, "N passed, M failed" last; exit 1 when a check failed.
#
# The images are built with BuildKit off (the legacy builder; the stack runs
# these) and, once per recipe (deploy/Dockerfile, .dockerignore, the apt
# helpers, deps.sh's image sets: a stamp in DS_CACHE_DIR), with BuildKit on,
# offline both.
#
# Environment: DS_COMPOSE_PROJECT (devicestats-check), DS_COMPOSE_CMD (e.g.
# "docker-compose"; default docker compose v2 when present), DS_IMAGE_TAG
# (check), DS_COMPOSE_MQTT_PORT, _MQTT_TLS_PORT, _HTTP_PORT,
# _INGEST_ADMIN_PORT, _AGGREGATOR_ADMIN_PORT, _PG_PORT (free ports),
# DS_COMPOSE_BUILDKIT (auto: once per recipe; 1: every run; 0: never),
# DS_COMPOSE_CITUS=0 (leave the Citus variant out; only: the Citus variant
# alone, after the builds), CITUS_SOURCE (the Citus
# tarball; default ../shared/vendor/citus-13.2.2.tar.gz as scripts/lib/citus.sh),
# DS_COMPOSE_KEEP=1 (leave the stack up; no down -v), DS_CACHE_DIR
# (/var/cache/devicestats).
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DS_PROG=compose-check
# shellcheck source=lib/stack.sh
. "$SRC/scripts/lib/stack.sh"
# shellcheck source=lib/docker-host.sh
. "$SRC/scripts/lib/docker-host.sh"
# shellcheck source=lib/compose-checks.sh
. "$SRC/scripts/lib/compose-checks.sh"

ds_is_root || ds_die "run as root (it installs packages and drives the Docker daemon)"
PROJECT=${DS_COMPOSE_PROJECT:-devicestats-check}
CACHE=${DS_CACHE_DIR:-/var/cache/devicestats}
mkdir -p "$CACHE"
W=$(mktemp -d "${TMPDIR:-/tmp}/compose-check.XXXXXX")
PASSED=0 FAILED=0 UP=0 CANARIES=()
T0=$(date +%s)

finish() {
  local rc=$?
  if [ "$UP" = 1 ] && [ "${DS_COMPOSE_KEEP:-0}" != 1 ]; then
    dc down -v --remove-orphans >"$W/down-final.log" 2>&1
  fi
  for f in "${CANARIES[@]}"; do rm -f "$f"; done
  if [ -n "$DH_DOCKERD_PID" ]; then
    ds_log "stopping the dockerd it started"
    dh_daemon_stop
  fi
  [ "$FAILED" -gt 0 ] && ds_log "logs and outputs kept in $W" || rm -rf "$W"
  echo "$PASSED passed, $FAILED failed ($(($(date +%s) - T0)) s)"
  [ "$FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
  exit 1
}
trap finish EXIT
trap 'exit 1' INT TERM

# ------------------------------------------------------------ the machine
dh_install || ds_die "cannot install docker.io docker-compose debootstrap"
dh_daemon "$W/dockerd.log" || ds_die "dockerd did not start"
dh_debian_cli "$W/bin" || ds_die "cannot put /usr/bin/docker first in PATH"
if [ -n "${DS_COMPOSE_CMD:-}" ]; then
  read -r -a DC_CMD <<<"$DS_COMPOSE_CMD"
elif docker compose version >/dev/null 2>&1; then
  DC_CMD=(docker compose)
else
  DC_CMD=(docker-compose)
  # Debian 12 packages compose v1 (docker-compose 1.29) only: no compose v2
  # plugin; this script uses v2 where it exists, untried here.
  ds_log "no compose v2 (docker compose): Debian 12 has no package of it; docker-compose (v1)"
fi
ds_log "compose: ${DC_CMD[*]} ($("${DC_CMD[@]}" version --short 2>/dev/null || echo '?')), project $PROJECT"
t=$(date +%s)
dh_base_image "$CACHE" || ds_die "cannot make the debian:12 base image"
ds_log "base image debian:12 ready ($(($(date +%s) - t)) s)"
dh_apt_context "$SRC/deploy/apt" || ds_log "no apt sources found: the images use the base image's own"

# ------------------------------------------------- the stack's environment
ports=()
pick() { local p=${1:-}; [ -n "$p" ] || p=$(ds_free_port "${ports[@]}"); ports+=("$p"); echo "$p"; }
MQTT_PORT=$(pick "${DS_COMPOSE_MQTT_PORT:-}")
MQTT_TLS_PORT=$(pick "${DS_COMPOSE_MQTT_TLS_PORT:-}")
HTTP_PORT=$(pick "${DS_COMPOSE_HTTP_PORT:-}")
INGEST_ADMIN_PORT=$(pick "${DS_COMPOSE_INGEST_ADMIN_PORT:-}")
AGGREGATOR_ADMIN_PORT=$(pick "${DS_COMPOSE_AGGREGATOR_ADMIN_PORT:-}")
PG_PORT=$(pick "${DS_COMPOSE_PG_PORT:-}")
PGPASSWORD=$(ds_gen_secret) MQTT_PASSWORD=$(ds_gen_secret) API_TOKEN=$(ds_gen_secret)
declare -A ROLE_PW
for s in "${DS_DB_ROLES[@]}"; do ROLE_PW[$s]=$(ds_gen_secret); done
cat >"$W/env" <<ENV
PGPASSWORD=$PGPASSWORD
PGPASSWORD_INGEST=${ROLE_PW[ingest]}
PGPASSWORD_QUERY=${ROLE_PW[query]}
PGPASSWORD_AGGREGATOR=${ROLE_PW[aggregator]}
MQTT_PASSWORD=$MQTT_PASSWORD
API_TOKEN=$API_TOKEN
BIND_ADDR=127.0.0.1
MQTT_PORT=$MQTT_PORT
MQTT_TLS_PORT=$MQTT_TLS_PORT
HTTP_PORT=$HTTP_PORT
INGEST_ADMIN_PORT=$INGEST_ADMIN_PORT
AGGREGATOR_ADMIN_PORT=$AGGREGATOR_ADMIN_PORT
PGPORT=$PG_PORT
DS_IMAGE_TAG=${DS_IMAGE_TAG:-check}
ENV
DC_FILES=(-f "$SRC/deploy/compose.yaml")
dc() { "${DC_CMD[@]}" --env-file "$W/env" -p "$PROJECT" "${DC_FILES[@]}" "$@"; }
# Secrets that must never reach an image: canaries where secrets live
# (a run directory, deploy/.env when there is none) and this run's own.
canary=canary-$(ds_gen_secret)
mkdir -p "$SRC/.run" && echo "$canary" >"$SRC/.run/compose-check-canary" &&
  CANARIES+=("$SRC/.run/compose-check-canary")
if [ ! -e "$SRC/deploy/.env" ]; then
  echo "API_TOKEN=$canary" >"$SRC/deploy/.env" && CANARIES+=("$SRC/deploy/.env")
fi
SECRETS=("$canary" "$PGPASSWORD" "$MQTT_PASSWORD" "$API_TOKEN" "${ROLE_PW[@]}")
for f in "$SRC"/.run/api-token "$SRC"/.run/db-password "$SRC"/.run/mqtt-password; do
  [ -s "$f" ] && SECRETS+=("$(cat "$f")")
done

# ------------------------------------------------------------------ checks
dc down -v --remove-orphans >/dev/null 2>&1 # a previous run's leftovers
t=$(date +%s)
# Not against older images: stop at a failed build.
check "build, BuildKit off (DOCKER_BUILDKIT=0 ${DC_CMD[*]} build)" build_with 0 || exit 1
ds_log "build: $(($(date +%s) - t)) s"
BK_STAMP=$CACHE/compose-buildkit-$( (cat "$SRC/deploy/Dockerfile" "$SRC/.dockerignore" \
  "$SRC/deploy/docker/apt-setup.sh" "$SRC/deploy/docker/apt-install.sh" &&
  "$SRC/scripts/deps.sh" --print build runtime infra) | sha256sum | cut -c1-16)
case ${DS_COMPOSE_BUILDKIT:-auto} in
  0) BK=0 ;;
  1) BK=1 ;;
  *) if [ -e "$BK_STAMP" ]; then BK=0; else BK=1; fi ;;
esac
if [ "$BK" = 1 ]; then
  t=$(date +%s)
  check "build, BuildKit on (DOCKER_BUILDKIT=1, offline), images sound" c_buildkit && touch "$BK_STAMP"
  ds_log "BuildKit build: $(($(date +%s) - t)) s"
elif [ "${DS_COMPOSE_BUILDKIT:-auto}" = 0 ]; then
  ds_log "BuildKit build left out (DS_COMPOSE_BUILDKIT=0)"
else
  ds_log "BuildKit build skipped: it passed with this recipe ($BK_STAMP; DS_COMPOSE_BUILDKIT=1 forces it)"
fi
t=$(date +%s)
# UP before up: a failed up -d (a one-shot service exiting 1) leaves
# containers that the exit's down -v must remove.
if [ "${DS_COMPOSE_CITUS:-1}" = only ]; then
  ds_log "DS_COMPOSE_CITUS=only: the plain stack is not started"
elif UP=1 && check "up -d" dc up -d; then
  check "every service healthy, migrate exited 0" wait_healthy 240
  ds_log "up to healthy: $(($(date +%s) - t)) s"
  run_checks
fi

# ------------------------------------------------------ the Citus variant
# deploy/compose.citus.yaml over the same file: postgres becomes a Citus
# coordinator with two workers; its image builds Citus from the tarball
# staged in vendor/citus/ (gitignored).
if [ "${DS_COMPOSE_CITUS:-1}" = 0 ]; then
  ds_log "the Citus variant left out (DS_COMPOSE_CITUS=0)"
elif ! tarball=$(citus_tarball); then
  echo "SKIP  Citus variant: no Citus tarball (CITUS_SOURCE, or ../shared/vendor/citus-13.2.2.tar.gz)"
else
  mkdir -p "$SRC/vendor/citus"
  cp "$tarball" "$SRC/vendor/citus/"
  for f in "$(dirname "$tarball")"/citus-13.2.2-*.patch; do [ -f "$f" ] && cp "$f" "$SRC/vendor/citus/"; done
  CITUS_PASSWORD=$(ds_gen_secret)
  echo "CITUS_PASSWORD=$CITUS_PASSWORD" >>"$W/env"
  SECRETS+=("$CITUS_PASSWORD")
  DC_FILES+=(-f "$SRC/deploy/compose.citus.yaml")
  HEALTHY_SERVICES+=(citus-worker-1 citus-worker-2)
  DEV=$DEV-citus
  t=$(date +%s)
  if check "Citus: build (the coordinator's and workers' image with Citus)" build_with 0; then
    ds_log "Citus build: $(($(date +%s) - t)) s"
    t=$(date +%s)
    if UP=1 && check "Citus: up -d" dc up -d; then
      check "Citus: every service healthy (coordinator, 2 workers), migrate exited 0" wait_healthy 300
      ds_log "Citus up to healthy: $(($(date +%s) - t)) s"
      run_citus_checks
    fi
  fi
fi
exit 0
