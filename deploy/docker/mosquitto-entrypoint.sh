#!/usr/bin/env bash
# Container entry point of the broker: the same configuration as run.sh's
# private broker (deploy/mosquitto/*.in rendered by scripts/lib/stack.sh),
# listening on all interfaces of the container, data in /var/lib/devicestats:
# plain MQTT on 1883 (unless MQTT_PLAIN=0) and TLS only on 8883.
# TLS certificate: DS_TLS_IN (/etc/devicestats/tls, compose mounts
# MQTT_TLS_DIR there) when it holds server.crt and server.key, else a private
# CA and a server certificate for mosquitto, localhost and 127.0.0.1 made
# once into the data volume (tls/; the CA key never leaves it).  The CA
# certificate (tls/ca.crt, or DS_TLS_IN's ca.crt) is published into DS_CA_OUT
# (/var/lib/devicestats-ca, compose's volume mqtt-ca) for the services.
# DS_ROOT, DS_DATA, DS_PORT, DS_TLS_PORT, DS_TLS_IN and DS_CA_OUT exist to
# try it outside a container.
set -euo pipefail
DS_PROG=mosquitto-entrypoint
ROOT=${DS_ROOT:-/opt/devicestats} DATA=${DS_DATA:-/var/lib/devicestats} PORT=${DS_PORT:-1883}
TLS_PORT=${DS_TLS_PORT:-8883} TLS_IN=${DS_TLS_IN:-/etc/devicestats/tls}
CA_OUT=${DS_CA_OUT:-/var/lib/devicestats-ca}
# shellcheck source=../../scripts/lib/stack.sh
. "$ROOT/scripts/lib/stack.sh"
anon=${MQTT_ALLOW_ANONYMOUS:-0}
if [ "$anon" != 1 ]; then
  [ -n "${MQTT_PASSWORD:-}" ] || ds_die "MQTT_PASSWORD is required (or MQTT_ALLOW_ANONYMOUS=1)"
fi
mkdir -p "$DATA"
if [ -s "$TLS_IN/server.crt" ] && [ -s "$TLS_IN/server.key" ]; then
  cert=$TLS_IN/server.crt key=$TLS_IN/server.key ca=$TLS_IN/ca.crt
  [ -s "$ca" ] || ds_die "$TLS_IN (MQTT_TLS_DIR) has no ca.crt: the services check the broker against it"
  ds_log "TLS listener: the certificate of $TLS_IN"
else
  ds_tls_ensure "$DATA/tls" DNS:mosquitto
  cert=$DATA/tls/server.crt key=$DATA/tls/server.key ca=$DATA/tls/ca.crt
  ds_log "TLS listener: the private CA of $DATA/tls"
fi
mkdir -p "$CA_OUT"
cp -f "$ca" "$CA_OUT/ca.crt.tmp" && chmod 644 "$CA_OUT/ca.crt.tmp" && mv -f "$CA_OUT/ca.crt.tmp" "$CA_OUT/ca.crt"
DS_MQTT_BIND=${DS_MQTT_BIND:-0.0.0.0} DS_MQTT_PLAIN=${MQTT_PLAIN:-1} \
  DS_MQTT_TLS_PORT=$TLS_PORT DS_MQTT_TLS_CERT=$cert DS_MQTT_TLS_KEY=$key \
  ds_mqtt_configure "$DATA" "$PORT" "$anon" "$ROOT" "${MQTT_USERNAME:-devicestats}" "${MQTT_PASSWORD:-}"
exec "$DS_MOSQUITTO" -c "$DATA/mosquitto/mosquitto.conf"
