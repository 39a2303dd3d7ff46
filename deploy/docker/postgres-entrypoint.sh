#!/usr/bin/env bash
# Container entry point of the database: the same cluster as run.sh's
# (scripts/lib/stack.sh: initdb, role and database devicestats with
# $PGPASSWORD), then PostgreSQL in the foreground listening on the
# container's network with password (SCRAM) logins; the services' roles
# made or updated at every start.  DS_ROOT, DS_DATA, DS_PORT and DS_LISTEN
# exist to try it outside a container.
# Citus (deploy/compose.citus.yaml): CITUS_NODE=worker or coordinator; every
# node preloads citus (scripts/lib/stack_citus.sh's settings), has the
# extension, the superuser password CITUS_PASSWORD, the services' roles and
# pg_dist_authinfo entries for the owner, the superuser and those roles; the
# coordinator adds the workers named in CITUS_WORKERS (host names, port
# 5432), once, and names itself CITUS_COORDINATOR_HOST (postgres).
set -euo pipefail
DS_PROG=postgres-entrypoint
ROOT=${DS_ROOT:-/opt/devicestats} B=${DS_DATA:-/var/lib/devicestats} PORT=${DS_PORT:-5432}
# shellcheck source=../../scripts/lib/stack.sh
. "$ROOT/scripts/lib/stack.sh"
[ -n "${PGPASSWORD:-}" ] || ds_die "PGPASSWORD is required"
CITUS=${CITUS_NODE:-}
case $CITUS in
  '' | worker | coordinator) ;;
  *) ds_die "CITUS_NODE=$CITUS: expected worker or coordinator" ;;
esac
if [ -n "$CITUS" ]; then
  ds_citus_check_installed
  [ -n "${CITUS_PASSWORD:-}" ] || ds_die "CITUS_PASSWORD is required (the Citus nodes' superuser)"
fi
mkdir -p "$B"
chmod 755 "$B"
ds_pg_prepare "$B"
# The healthcheck passes only once B/pg/ready exists, made just before the
# server starts for good: pg_isready alone passed during the phase below
# (the same port on 127.0.0.1), and migrate, or a coordinator adding this
# worker, then met a server about to stop.
rm -f "$B/pg/ready"
if ! ds_pg_initialized "$B"; then
  ds_pg_init "$B"
  echo "host all all all scram-sha-256" | ds_pg_as sh -c 'cat >>"$1"' _ "$B/pg/data/pg_hba.conf"
fi
# Create the role and database (first start) on a private socket only.
DS_PG_EXTRA_CONF=$([ -z "$CITUS" ] || ds_citus_conf) ds_pg_start "$B" "$PORT" "${DS_PG_FSYNC:-on}"
# Citus: every node sets its own roles and passwords, without propagating
# them.  After the first start each node knows the others (metadata), and
# an ALTER ROLE propagated to nodes that were themselves in this phase (no
# TCP yet) failed: after down/up every node restarted in a loop.
[ -z "$CITUS" ] || DS_PG_ADMIN_OPTIONS='-c citus.enable_ddl_propagation=off'
ds_pg_ensure_db "$B" "$PORT" "$PGPASSWORD"
if [ -n "$CITUS" ]; then
  ds_psql_admin "$B" "$PORT" -d devicestats -c 'CREATE EXTENSION IF NOT EXISTS citus' >/dev/null ||
    ds_die "CREATE EXTENSION citus failed"
  ds_citus_set_su_password "$B" "$PORT" "$CITUS_PASSWORD"
  ds_citus_authinfo "$B" "$PORT" "$CITUS_PASSWORD" "$PGPASSWORD"
fi
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
# This node's pg_dist_authinfo entries of the services' roles.
[ -z "$CITUS" ] || ds_citus_roles "$B" "$PORT" "$roles"
rm -rf "$roles"
unset DS_PG_ADMIN_OPTIONS
if [ "$CITUS" = coordinator ]; then
  # Once: the coordinator's name and the workers (which get the roles and
  # objects from the coordinator then).
  ds_psql_admin "$B" "$PORT" -d devicestats -v coord="${CITUS_COORDINATOR_HOST:-postgres}" \
    -v workers="${CITUS_WORKERS:-}" <<'SQL' >/dev/null ||
SELECT citus_set_coordinator_host(:'coord', 5432)
 WHERE NOT EXISTS (SELECT FROM pg_dist_node WHERE groupid = 0 AND nodename = :'coord' AND nodeport = 5432);
SELECT citus_add_node(w, 5432)
  FROM unnest(string_to_array(:'workers', ' ')) AS w
 WHERE w <> '' AND NOT EXISTS (SELECT FROM pg_dist_node n WHERE n.nodename = w AND n.nodeport = 5432);
SQL
    ds_die "adding the Citus workers ($CITUS_WORKERS) failed"
  ds_log "Citus coordinator with workers: $CITUS_WORKERS"
fi
unset CITUS_PASSWORD
ds_pg_stop "$B"
touch "$B/pg/ready"
# devicestats.conf (from ds_pg_start) holds the port and socket; listen on
# the container's network too.  setpriv execs (runuser would stay as PID 1
# without passing docker's stop signal on).
if ds_is_root; then
  # HOME of postgres: libpq in the server (Citus's connections to the other
  # nodes) reads ~/.postgresql/, and root's is not readable (migrate failed:
  # could not open certificate file "/root/.postgresql/postgresql.crt").
  export HOME=$B/pg
  exec setpriv --reuid=postgres --regid=postgres --init-groups \
    "$DS_PG_BINDIR/postgres" -D "$B/pg/data" -c listen_addresses="${DS_LISTEN:-*}"
fi
exec "$DS_PG_BINDIR/postgres" -D "$B/pg/data" -c listen_addresses="${DS_LISTEN:-*}"
