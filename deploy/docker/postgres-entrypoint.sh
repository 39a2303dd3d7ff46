#!/usr/bin/env bash
# Container entry point of the database: the same cluster as run.sh's
# (scripts/lib/stack.sh: initdb, role and database devicestats with
# $PGPASSWORD), then PostgreSQL in the foreground listening on the
# container's network with password (SCRAM) logins; the services' roles
# made or updated at every start.  DS_ROOT, DS_DATA, DS_PORT and DS_LISTEN
# exist to try it outside a container.
set -euo pipefail
DS_PROG=postgres-entrypoint
ROOT=${DS_ROOT:-/opt/devicestats} B=${DS_DATA:-/var/lib/devicestats} PORT=${DS_PORT:-5432}
# shellcheck source=../../scripts/lib/stack.sh
. "$ROOT/scripts/lib/stack.sh"
[ -n "${PGPASSWORD:-}" ] || ds_die "PGPASSWORD is required"
mkdir -p "$B"
chmod 755 "$B"
ds_pg_prepare "$B"
if ! ds_pg_initialized "$B"; then
  ds_pg_init "$B"
  echo "host all all all scram-sha-256" | ds_pg_as sh -c 'cat >>"$1"' _ "$B/pg/data/pg_hba.conf"
fi
# Create the role and database (first start) on a private socket only.
ds_pg_start "$B" "$PORT" "${DS_PG_FSYNC:-on}"
ds_pg_ensure_db "$B" "$PORT" "$PGPASSWORD"
# The services' roles (devicestats_ingest, _query, _aggregator) with the
# passwords PGPASSWORD_INGEST, _QUERY, _AGGREGATOR, set again at every
# start; their privileges come from the grants service after the migrations.
roles=$(mktemp -d)
for svc in "${DS_DB_ROLES[@]}"; do
  v=PGPASSWORD_${svc^^}
  [ -n "${!v:-}" ] || ds_die "$v is required"
  ds_write_secret "$roles/db-password-$svc" "${!v}"
  unset "$v"
done
ds_pg_ensure_roles "$B" "$PORT" "$roles"
rm -rf "$roles"
ds_pg_stop "$B"
# devicestats.conf (from ds_pg_start) holds the port and socket; listen on
# the container's network too.  setpriv execs (runuser would stay as PID 1
# without passing docker's stop signal on).
if ds_is_root; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups \
    "$DS_PG_BINDIR/postgres" -D "$B/pg/data" -c listen_addresses="${DS_LISTEN:-*}"
fi
exec "$DS_PG_BINDIR/postgres" -D "$B/pg/data" -c listen_addresses="${DS_LISTEN:-*}"
