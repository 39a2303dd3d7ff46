# shellcheck shell=bash
# The Citus variant of the local stack (DEVICESTATS_DB=citus), sourced by
# scripts/lib/stack.sh.  The coordinator is the stack's usual cluster (B/pg,
# the one the services connect to); worker i is a private cluster of its own
# under B/citus-worker<i>/pg.  Every node preloads citus and serves the
# database devicestats to the role devicestats; the coordinator reaches the
# workers (and itself) over 127.0.0.1 with the passwords it keeps in
# pg_dist_authinfo.  The migrations then distribute the tables
# (deploy/sql/006_citus.sql); the services never know.

# Prints "citus" or "postgres" (DEVICESTATS_DB; unset means postgres).
ds_db_variant() {
  case ${DEVICESTATS_DB:-postgres} in
    citus) echo citus ;;
    postgres | '') echo postgres ;;
    *) ds_die "DEVICESTATS_DB=$DEVICESTATS_DB: expected postgres or citus" ;;
  esac
}

# Settings of every Citus node (appended to devicestats.conf).
# citus.max_adaptive_executor_pool_size = 1: one connection per worker for
# a statement; ingest's COPY of a batch spanning many devices took 585-770 ms
# with the default (16), 25 ms with 1.
# citus.allow_modifications_from_workers_to_replicated_tables = off: every
# write reaches the reference tables (users, devices, recalc_runs) through
# the coordinator, which then serialises them with its own locks.  With the
# default (on) it also locks them on the first worker by calling
# lock_shard_resources() there as the service's role, which checks that
# the role may write the locked table -- and the tables it references:
# ingest inserting a device (devices -> users) or query assigning one was
# refused "permission denied for table users" although the coordinator
# had accepted the statement.  Off: no remote lock, one round trip less
# per reference-table write, and deploy/sql/grants.sql serves both.
# citus.shard_count: shards per distributed table (CITUS_SHARD_COUNT,
# default 16: the most workers the tables can later be spread over; every
# multi-device statement runs one task per shard, so fewer are cheaper on
# small clusters).
ds_citus_conf() {
  printf '%s\n' "shared_preload_libraries = 'citus'" \
    "max_prepared_transactions = 200" \
    "citus.max_adaptive_executor_pool_size = 1" \
    "citus.allow_modifications_from_workers_to_replicated_tables = off" \
    "citus.shard_count = ${CITUS_SHARD_COUNT:-16}"
}

ds_citus_worker_base() { printf '%s/citus-worker%s' "$1" "$2"; }

# Fails with a hint unless the server can load citus.
ds_citus_check_installed() {
  local lib
  lib=$("$DS_PG_BINDIR/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)
  [ -f "$lib/citus.so" ] ||
    ds_die "DEVICESTATS_DB=citus: citus.so is not in $lib (scripts/deps.sh installs it with DEVICESTATS_DB=citus; see scripts/lib/citus.sh)"
}

# ds_citus_node_up BASE PORT FSYNC PASSWORD [nosync]: creates (first time)
# and starts one node, with the role and database and the extension.
ds_citus_node_up() {
  local b=$1 port=$2 fsync=$3 pw=$4 nosync=${5:-}
  ds_pg_prepare "$b"
  ds_pg_initialized "$b" || ds_pg_init "$b" "$nosync"
  DS_PG_EXTRA_CONF=$(ds_citus_conf) ds_pg_start "$b" "$port" "$fsync"
  ds_pg_ensure_db "$b" "$port" "$pw"
  ds_psql_admin "$b" "$port" -d devicestats -c 'CREATE EXTENSION IF NOT EXISTS citus' >/dev/null ||
    ds_die "CREATE EXTENSION citus failed on the node in $b (log: $b/pg/postgres.log)"
}

# ds_citus_up B COORD_PORT FSYNC PASSWORD NOSYNC WORKER_PORT...: starts the
# workers and the coordinator (B/pg), and makes the coordinator know the
# workers.  PASSWORD is the devicestats role's; the nodes' superuser gets a
# password of its own, kept in B/citus-password (0600).
ds_citus_up() {
  local b=$1 port=$2 fsync=$3 pw=$4 nosync=$5; shift 5
  local i=0 wp su_pw
  ds_citus_check_installed
  [ -f "$b/citus-password" ] || ds_write_secret "$b/citus-password" "$(ds_gen_secret)"
  su_pw=$(ds_read_secret "$b/citus-password")
  for wp in "$@"; do
    i=$((i + 1))
    ds_citus_node_up "$(ds_citus_worker_base "$b" "$i")" "$wp" "$fsync" "$pw" "$nosync"
    ds_citus_set_su_password "$(ds_citus_worker_base "$b" "$i")" "$wp" "$su_pw"
  done
  ds_citus_node_up "$b" "$port" "$fsync" "$pw" "$nosync"
  ds_citus_set_su_password "$b" "$port" "$su_pw"
  # Every node connects to the others (the coordinator to run queries, each
  # node's maintenance daemon for recovery and deadlock detection).
  i=0
  for wp in "$@"; do
    i=$((i + 1))
    ds_citus_authinfo "$(ds_citus_worker_base "$b" "$i")" "$wp" "$su_pw" "$pw"
  done
  ds_citus_authinfo "$b" "$port" "$su_pw" "$pw"
  ds_psql_admin "$b" "$port" -d devicestats -v coord_port="$port" -v workers="$*" <<'SQL' >/dev/null ||
SELECT citus_set_coordinator_host('127.0.0.1', :coord_port);
SELECT citus_add_node('127.0.0.1', p::int)
  FROM unnest(string_to_array(:'workers', ' ')) AS p
 WHERE NOT EXISTS (SELECT FROM pg_dist_node n WHERE n.nodename = '127.0.0.1' AND n.nodeport = p::int);
SQL
    ds_die "adding the Citus workers failed (log: $b/pg/postgres.log)"
}

# ds_citus_authinfo BASE PORT SUPERUSER_PASSWORD PASSWORD: the passwords
# this node uses to reach every node (pg_dist_authinfo, node 0 = all).
ds_citus_authinfo() {
  DS_SU_PW=$3 DS_PW=$4 ds_psql_admin "$1" "$2" -d devicestats <<'SQL' >/dev/null ||
\getenv su_pw DS_SU_PW
\getenv pw DS_PW
-- libpq conninfo values are quoted, with ' and \ escaped.
DELETE FROM pg_dist_authinfo WHERE nodeid = 0 AND rolename IN ('postgres', 'devicestats');
INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES
  (0, 'postgres', 'password=''' || replace(replace(:'su_pw', '\', '\\'), '''', '\''') || ''''),
  (0, 'devicestats', 'password=''' || replace(replace(:'pw', '\', '\\'), '''', '\''') || '''');
SQL
    ds_die "setting pg_dist_authinfo failed on the node in $1"
}

ds_citus_set_su_password() {
  DS_SU_PW=$3 ds_psql_admin "$1" "$2" -d postgres <<'SQL' >/dev/null
\getenv su_pw DS_SU_PW
ALTER ROLE postgres PASSWORD :'su_pw';
SQL
}

# ds_citus_workers_stop B: stops every worker under B that runs.
ds_citus_workers_stop() {
  local w
  for w in "$1"/citus-worker*; do
    [ -f "$w/pg/data/PG_VERSION" ] || continue
    ds_pg_running "$w" && ds_pg_stop "$w"
  done
  return 0
}

# ds_citus_roles B COORD_PORT DIR WORKER_PORT...: the services' own roles
# (ds_pg_ensure_roles, passwords in DIR) on every worker too, and on every
# node the pg_dist_authinfo entries for them: Citus reaches the workers as
# the role the service logged in with.  Run after ds_pg_ensure_roles on the
# coordinator and before ds_db_grants (Citus propagates the grants).
ds_citus_roles() {
  local b=$1 port=$2 dir=$3; shift 3
  local i=0 wp svc base ports=("$port" "$@") bases=("$b")
  for wp in "$@"; do
    i=$((i + 1))
    ds_pg_ensure_roles "$(ds_citus_worker_base "$b" "$i")" "$wp" "$dir"
    bases+=("$(ds_citus_worker_base "$b" "$i")")
  done
  for ((i = 0; i < ${#bases[@]}; i++)); do
    for svc in "${DS_DB_ROLES[@]}"; do
      DS_ROLE=devicestats_$svc DS_PW=$(ds_read_secret "$dir/db-password-$svc") \
        ds_psql_admin "${bases[i]}" "${ports[i]}" -d devicestats <<'SQL' >/dev/null ||
\getenv role DS_ROLE
\getenv pw DS_PW
DELETE FROM pg_dist_authinfo WHERE nodeid = 0 AND rolename = :'role';
INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES
  (0, :'role', 'password=''' || replace(replace(:'pw', '\', '\\'), '''', '\''') || '''');
SQL
        ds_die "setting pg_dist_authinfo for devicestats_$svc failed on the node in ${bases[i]}"
    done
  done
}
