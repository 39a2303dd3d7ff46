#!/usr/bin/env bash
# Container entry point of the broker: the same configuration as run.sh's
# private broker (deploy/mosquitto/*.in rendered by scripts/lib/stack.sh),
# listening on all interfaces of the container, data in /var/lib/devicestats.
# DS_ROOT, DS_DATA and DS_PORT exist to try it outside a container.
set -euo pipefail
DS_PROG=mosquitto-entrypoint
ROOT=${DS_ROOT:-/opt/devicestats} DATA=${DS_DATA:-/var/lib/devicestats} PORT=${DS_PORT:-1883}
# shellcheck source=../../scripts/lib/stack.sh
. "$ROOT/scripts/lib/stack.sh"
anon=${MQTT_ALLOW_ANONYMOUS:-0}
if [ "$anon" != 1 ]; then
  [ -n "${MQTT_PASSWORD:-}" ] || ds_die "MQTT_PASSWORD is required (or MQTT_ALLOW_ANONYMOUS=1)"
fi
mkdir -p "$DATA"
DS_MQTT_BIND=${DS_MQTT_BIND:-0.0.0.0} ds_mqtt_configure "$DATA" "$PORT" "$anon" "$ROOT" \
  "${MQTT_USERNAME:-devicestats}" "${MQTT_PASSWORD:-}"
exec "$DS_MOSQUITTO" -c "$DATA/mosquitto/mosquitto.conf"
