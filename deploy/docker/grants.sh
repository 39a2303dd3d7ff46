#!/usr/bin/env bash
# Compose's one-shot grants service: deploy/sql/grants.sql applied as the
# owner (DATABASE_URL, PGPASSWORD) after the migrations, at every start, as
# run.sh does (scripts/lib/stack.sh ds_db_grants).  DS_ROOT exists to try it
# outside a container.
set -euo pipefail
DS_PROG=grants
ROOT=${DS_ROOT:-/opt/devicestats}
# shellcheck source=../../scripts/lib/stack.sh
. "$ROOT/scripts/lib/stack.sh"
[ -n "${DATABASE_URL:-}" ] || ds_die "DATABASE_URL is required"
ds_db_grants "$ROOT" "$DATABASE_URL"
ds_log "applied ${DEVICESTATS_SQL_DIR:-$ROOT/deploy/sql}/grants.sql"
