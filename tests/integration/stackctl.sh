#!/usr/bin/env bash
# Acts on the throwaway stack of a running integration scenario.  The
# harness gives scenarios a wrapper ($DS_TEST_STACKCTL) with the state
# directory baked in (DS_STACK_STATE).
#   restart-db                  pg_ctl restart -m fast
#   stop-db | start-db
#   stop <svc>                  SIGTERM, wait; fails unless it exits 0
#   kill <svc>                  SIGKILL, wait
#   start <svc> [ENV=VAL...]    start again with the same env (plus these
#                               assignments, for this start only), wait for ready
#   stop-broker | kill-broker   mosquitto: SIGTERM (it saves its state) or
#                               SIGKILL (it loses what it did not autosave)
#   start-broker                start mosquitto again with its configuration
#   start-extra <svc> <name> [ENV=VAL...]
#                               another instance of svc, named <name>
#   log <svc>                   prints the path of its log
#   mqtt-user <name> <password> adds a device's broker account and ACL entry
#                               and makes mosquitto reload them (SIGHUP)
#   reap                        stops everything (the harness's watcher,
#                               when the harness itself was killed)
# <svc> is a service name (ingest, aggregator, query) or an extra instance's
# name.
set -euo pipefail

DS_PROG=stackctl
[ -n "${DS_STACK_STATE:-}" ] || { echo "stackctl: DS_STACK_STATE not set" >&2; exit 2; }
# shellcheck source=/dev/null
. "$DS_STACK_STATE/state.sh"
# shellcheck source=../../scripts/lib/stack.sh
. "$SRC/scripts/lib/stack.sh"

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1; shift

need() { [ $# -ge "$1" ] || usage; }

# Binary of an instance: a service's own, or the one an extra was made from.
bin_of() {
  local v="BIN_$1"
  if [[ $v =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && [ -n "${!v:-}" ]; then printf '%s' "${!v}"; return 0; fi
  if [ -f "$ST/$1.extra" ]; then
    local base
    base=$(head -n 1 "$ST/$1.extra")
    v="BIN_$base"
    [ -n "${!v:-}" ] && { printf '%s' "${!v}"; return 0; }
  fi
  ds_die "unknown service '$1'"
}

wait_ready() { # name offset
  ds_wait_log "$ST" "$1" "$LOGS/$1.log" "$2" 'event=ready' "$READY_TIMEOUT" ||
    ds_die "$1 did not become ready (log: $LOGS/$1.log)"
}

case $action in
  restart-db)
    ds_pg_restart "$T" || ds_die "PostgreSQL restart failed"
    ;;
  stop-db)
    ds_pg_stop "$T" || ds_die "PostgreSQL stop failed"
    ;;
  start-db)
    ds_pg_as_detached "$DS_PG_BINDIR/pg_ctl" -D "$T/pg/data" -l "$T/pg/postgres.log" \
      -w -t 120 start >/dev/null 2>&1 </dev/null || ds_die "PostgreSQL start failed"
    ;;
  stop)
    need 1 "$@"
    bin_of "$1" >/dev/null
    ds_alive "$ST" "$1" || ds_die "$1 is not running"
    rc=$(ds_stop_instance "$ST" "$1" "${DS_TEST_STOP_TIMEOUT_S:-60}")
    echo "stackctl: $1 exited with code $rc" >&2
    [ "$rc" = 0 ] || exit 1
    ;;
  kill)
    need 1 "$@"
    bin_of "$1" >/dev/null
    ds_alive "$ST" "$1" || ds_die "$1 is not running"
    rc=$(ds_stop_instance "$ST" "$1" 30 KILL)
    echo "stackctl: $1 killed (code $rc)" >&2
    ;;
  start)
    need 1 "$@"
    name=$1
    bin=$(bin_of "$name")
    ds_alive "$ST" "$name" && ds_die "$name is already running"
    extra_env=()
    if [ -f "$ST/$name.extra" ]; then
      mapfile -t extra_env < <(tail -n +2 "$ST/$name.extra")
    fi
    if [ -f "$ST/$name.env" ]; then
      mapfile -t -O "${#extra_env[@]}" extra_env <"$ST/$name.env"
    fi
    for kv in "${@:2}"; do
      [[ $kv == *=* ]] || ds_die "expected ENV=VALUE, got '$kv'"
      extra_env+=("$kv")
    done
    echo "--- stackctl: start $name" >>"$LOGS/$name.log"
    off=$(ds_size "$LOGS/$name.log")
    ds_service_start "$ST" "$name" "$LOGS/$name.log" "$bin" "${extra_env[@]}"
    wait_ready "$name" "$off"
    ;;
  start-extra)
    need 2 "$@"
    base=$1 name=$2; shift 2
    bin=$(bin_of "$base")
    [[ $name =~ ^[A-Za-z0-9_-]+$ ]] || ds_die "bad instance name '$name'"
    [ -e "$ST/$name.pid" ] && ds_die "instance '$name' exists"
    for kv in "$@"; do
      [[ $kv == *=* ]] || ds_die "expected ENV=VALUE, got '$kv'"
    done
    printf '%s\n' "$base" "$@" >"$ST/$name.extra"
    ds_service_start "$ST" "$name" "$LOGS/$name.log" "$bin" "$@"
    wait_ready "$name" 0
    ;;
  stop-broker | kill-broker)
    ds_alive "$ST" mosquitto || ds_die "mosquitto is not running"
    sig=TERM
    [ "$action" = kill-broker ] && sig=KILL
    rc=$(ds_stop_instance "$ST" mosquitto 30 "$sig")
    echo "stackctl: mosquitto stopped with SIG$sig (code $rc)" >&2
    ;;
  start-broker)
    ds_alive "$ST" mosquitto && ds_die "mosquitto is already running"
    ds_mqtt_start "$T" "$ST" "$LOGS/mosquitto.log"
    ;;
  mqtt-user)
    need 2 "$@"
    ds_mqtt_device_add "$T" "$1" "$2"
    ds_mqtt_reload "$ST" "$LOGS/mosquitto.log" || ds_die "mosquitto did not reload"
    ;;
  reap)
    for f in "$ST"/*.pid; do
      [ -e "$f" ] || continue
      n=$(basename "$f" .pid)
      [ "$n" = mosquitto ] && continue
      ds_alive "$ST" "$n" && ds_stop_instance "$ST" "$n" 20 >/dev/null
    done
    ds_alive "$ST" mosquitto && ds_stop_instance "$ST" mosquitto 20 >/dev/null
    if [ -d "$T/pg/data" ] && ds_pg_running "$T"; then ds_pg_stop "$T" || true; fi
    ds_citus_workers_stop "$T" || true
    : >"$T/cleaned"
    ;;
  log)
    need 1 "$@"
    printf '%s\n' "$LOGS/$1.log"
    ;;
  *)
    usage
    ;;
esac
