#!/usr/bin/env bash
# Manages the broker accounts of devices for the stack of scripts/run.sh.
#   scripts/device-account.sh add ID      creates (or resets) the account ID:
#                                         prints its password; it may publish
#                                         on devices/ID/data and nothing else
#   scripts/device-account.sh remove ID   deletes the account and its ACL entry
#   scripts/device-account.sh list        prints the device accounts
# add and remove reload the running broker (SIGHUP to the pid run.sh
# recorded), so the change holds within a second; when the stack is not
# running it holds from its next start.  Environment: DEVICESTATS_RUN_DIR
# (.run, as run.sh), DEVICE_PASSWORD (add: this password instead of a
# generated one).
set -euo pipefail

DS_PROG=device-account.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$SRC"
# shellcheck source=lib/stack.sh
. "$SRC/scripts/lib/stack.sh"

usage() { sed -n '3,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1
RUN=${DEVICESTATS_RUN_DIR:-.run}
[ -d "$RUN/mosquitto" ] || ds_die "no broker in $RUN (start scripts/run.sh once, or set DEVICESTATS_RUN_DIR)"
RUN=$(cd "$RUN" && pwd)

# One change at a time (two adds must not lose one another's entry).
exec 8>"$RUN/mosquitto/.accounts.lock"
flock 8

reload() {
  if ds_alive "$RUN/proc" mosquitto; then
    ds_mqtt_reload "$RUN/proc" "$RUN/logs/mosquitto.log" || ds_die "the broker did not reload"
    ds_log "broker reloaded"
  else
    ds_log "the broker is not running: the change holds from its next start"
  fi
}

case $action in
  add)
    [ $# -eq 2 ] || usage
    id=$2
    pw=${DEVICE_PASSWORD:-$(ds_gen_secret)}
    ds_mqtt_device_add "$RUN" "$id" "$pw"
    reload
    if [ -z "${DEVICE_PASSWORD:-}" ]; then
      ds_log "device $id: user name $id, password on stdout (shown once)"
      printf '%s\n' "$pw"
    fi
    ;;
  remove)
    [ $# -eq 2 ] || usage
    ds_mqtt_device_list "$RUN" | grep -qxF -- "$2" || ds_die "no device account '$2'"
    ds_mqtt_device_remove "$RUN" "$2"
    reload
    ds_log "device $2 removed"
    ;;
  list)
    [ $# -eq 1 ] || usage
    ds_mqtt_device_list "$RUN"
    ;;
  *)
    usage
    ;;
esac
