# shellcheck shell=bash
# Local-stack helpers shared by scripts/run.sh, tests/integration/run.sh and
# tests/integration/stackctl.sh: a private PostgreSQL cluster, a mosquitto
# broker with generated credentials, the services, and the bookkeeping to
# start, wait for, stop and check each process by its own pid.
#
# Source it; it defines ds_* functions and sets nothing else.  Callers set
# DS_PROG (the name used in messages).
#
# Process bookkeeping: ds_spawn starts a command in its own session (so a
# Ctrl-C in the terminal reaches only the script, which then stops everything
# in order) under a small wrapper subshell that records, in a state
# directory, <name>.pid (the command's pid) and, once it exits, <name>.rc.

DS_PG_BINDIR=${DS_PG_BINDIR:-}
if [ -z "$DS_PG_BINDIR" ]; then
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/pg_ctl" ]; then DS_PG_BINDIR=$d; break; fi
  done
fi
DS_MOSQUITTO=${DS_MOSQUITTO:-}
if [ -z "$DS_MOSQUITTO" ]; then
  for d in /usr/sbin/mosquitto /usr/bin/mosquitto; do
    if [ -x "$d" ]; then DS_MOSQUITTO=$d; break; fi
  done
fi
DS_SERVICES=(ingest aggregator query)

ds_log() { echo "${DS_PROG:-stack}: $*" >&2; }
ds_die() { echo "${DS_PROG:-stack}: error: $*" >&2; exit 1; }
ds_is_root() { [ "$(id -u)" -eq 0 ]; }

# Prints 32 random hex characters.
ds_gen_secret() {
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

# ds_write_secret FILE VALUE: writes VALUE to FILE, mode 0600.
ds_write_secret() {
  (umask 077 && printf '%s\n' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1")
}

# ds_read_secret FILE: prints the first line of FILE.
ds_read_secret() {
  local v
  IFS= read -r v <"$1" || [ -n "$v" ] || return 1
  printf '%s' "$v"
}

# Percent-encodes $1 for use inside a URL.
ds_urlencode() {
  local s=$1 out= c i
  local LC_ALL=C
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# True when something listens on TCP port $1 (any address, v4 or v6).
ds_port_in_use() {
  local hex f
  hex=$(printf '%04X' "$1")
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    # local_address is field 2 (addr:PORT), state field 4 (0A = LISTEN).
    if awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
                         END { exit !found }' "$f"; then
      return 0
    fi
  done
  return 1
}

# ds_free_port [EXCLUDED_PORT...]: prints a random free port from 20000 up to
# the ephemeral range (32768 on Linux), or 59999
# that is not one of the arguments.
ds_free_port() {
  local p tries ex ok lo=20000 hi=60000 eph
  # Stay below the kernel's ephemeral range: a port picked from it can be
  # taken by some client's outgoing connection before our server binds it.
  if read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null && [ "$eph" -gt 21000 ]; then
    hi=$eph
  fi
  for ((tries = 0; tries < 200; tries++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    ok=1
    for ex in "$@"; do [ "$p" = "$ex" ] && ok=0; done
    if [ $ok = 1 ] && ! ds_port_in_use "$p"; then
      echo "$p"
      return 0
    fi
  done
  ds_die "no free port found"
}

# ---------------------------------------------------------------- PostgreSQL
# Layout under a base directory B: B/pg (owned by the cluster's OS user,
# 0700) holding data/, sock/ and postgres.log.  As root the cluster runs as
# the "postgres" user, which must be able to reach B.

ds_pg_os_user() { if ds_is_root; then echo postgres; else id -un; fi; }

# Runs a command as the cluster's OS user.
ds_pg_as() {
  if ds_is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The same, in a new session, so that a Ctrl-C in the terminal does not reach
# the postmaster (the script stops it in order).
ds_pg_as_detached() {
  if ds_is_root; then
    setsid runuser -u postgres -- "$@"
  else
    setsid "$@"
  fi
}

# ds_pg_prepare B: creates B/pg with the right owner and checks that the
# cluster's OS user can reach it.
ds_pg_prepare() {
  local b=$1
  [ -n "$DS_PG_BINDIR" ] || ds_die "PostgreSQL server binaries not found (install postgresql; scripts/deps.sh does)"
  mkdir -p "$b/pg"
  if ds_is_root; then
    id postgres >/dev/null 2>&1 || ds_die "user 'postgres' missing (install postgresql)"
    chown postgres: "$b/pg"
    if ! runuser -u postgres -- test -w "$b/pg" -a -x "$b/pg"; then
      ds_die "the 'postgres' user cannot reach $b/pg: every parent directory needs o+x (or choose another place, e.g. DEVICESTATS_RUN_DIR=/var/tmp/devicestats)"
    fi
  fi
  chmod 700 "$b/pg"
}

ds_pg_initialized() { [ -f "$1/pg/data/PG_VERSION" ]; }

# ds_pg_init B [nosync]: initdb with a "postgres" superuser reachable only
# through the private socket (trust) and password (SCRAM) logins on TCP.
ds_pg_init() {
  local b=$1 nosync=${2:-}
  local args=(-D "$b/pg/data" -U postgres -E UTF8 --no-locale
              --auth-local=trust --auth-host=scram-sha-256)
  [ "$nosync" = nosync ] && args+=(--no-sync)
  ds_pg_as "$DS_PG_BINDIR/initdb" "${args[@]}" >"$b/pg/initdb.log" 2>&1 ||
    { cat "$b/pg/initdb.log" >&2; ds_die "initdb failed"; }
  # Our settings live in devicestats.conf, rewritten at every start.
  ds_pg_as sh -c 'echo "include_if_exists = '"'"'devicestats.conf'"'"'" >>"$1"' _ "$b/pg/data/postgresql.conf"
}

# ds_pg_start B PORT FSYNC(on|off): writes devicestats.conf (plus the lines
# in DS_PG_EXTRA_CONF) and starts the cluster, waiting until it accepts
# connections.
ds_pg_start() {
  local b=$1 port=$2 fsync=$3 conf
  mkdir -p "$b/pg/sock"
  ds_is_root && chown postgres: "$b/pg/sock"
  chmod 700 "$b/pg/sock"
  conf="# Written by scripts/lib/stack.sh at every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$b/pg/sock'
unix_socket_permissions = 0700
fsync = $fsync
max_connections = 200
log_line_prefix = '%m [%p] %q%u@%d '
"
  if [ "$fsync" = off ]; then
    conf+="synchronous_commit = off
full_page_writes = off
"
  fi
  conf+=${DS_PG_EXTRA_CONF:-}
  printf '%s' "$conf" | ds_pg_as sh -c 'cat >"$1"' _ "$b/pg/data/devicestats.conf"
  # A cluster left running by a killed script holds our directory: stop it.
  if ds_pg_as "$DS_PG_BINDIR/pg_ctl" -D "$b/pg/data" status >/dev/null 2>&1; then
    ds_log "stopping a PostgreSQL left running in $b/pg"
    ds_pg_stop "$b"
  fi
  ds_pg_as_detached "$DS_PG_BINDIR/pg_ctl" -D "$b/pg/data" -l "$b/pg/postgres.log" \
    -w -t 120 start >/dev/null 2>&1 </dev/null ||
    { tail -n 30 "$b/pg/postgres.log" >&2; ds_die "PostgreSQL did not start (log: $b/pg/postgres.log)"; }
}

ds_pg_stop() {
  ds_pg_as "$DS_PG_BINDIR/pg_ctl" -D "$1/pg/data" -w -t 120 -m fast stop >/dev/null 2>&1 </dev/null
}

ds_pg_restart() {
  ds_pg_as_detached "$DS_PG_BINDIR/pg_ctl" -D "$1/pg/data" -l "$1/pg/postgres.log" \
    -w -t 120 -m fast restart >/dev/null 2>&1 </dev/null
}

ds_pg_running() {
  ds_pg_as "$DS_PG_BINDIR/pg_ctl" -D "$1/pg/data" status >/dev/null 2>&1 </dev/null
}

# ds_psql_admin B PORT [psql args]: psql as the superuser over the socket
# (with the session options DS_PG_ADMIN_OPTIONS when set, not PGOPTIONS).
ds_psql_admin() {
  local b=$1 port=$2; shift 2
  env -u PGPASSWORD -u PGSERVICE -u PGOPTIONS -u PGSSLMODE ${DS_PG_ADMIN_OPTIONS:+"PGOPTIONS=$DS_PG_ADMIN_OPTIONS"} \
    "$DS_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$b/pg/sock" -p "$port" -U postgres "$@"
}

# ds_pg_ensure_db B PORT PASSWORD: creates the role devicestats (with that
# password) and the database devicestats when they do not exist yet.
ds_pg_ensure_db() {
  local b=$1 port=$2
  DS_NEW_DB_PASSWORD=$3 ds_psql_admin "$b" "$port" -d postgres <<'SQL' >/dev/null
\getenv pw DS_NEW_DB_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'devicestats') AS need_role \gset
\if :need_role
CREATE ROLE devicestats LOGIN PASSWORD :'pw';
\endif
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = 'devicestats') AS need_db \gset
\if :need_db
CREATE DATABASE devicestats OWNER devicestats;
\endif
SQL
}

# ds_db_url PORT PASSWORD [ROLE]: a DATABASE_URL (the owner devicestats
# unless ROLE is given).
ds_db_url() {
  printf 'postgresql://%s:%s@127.0.0.1:%s/devicestats' "${3:-devicestats}" "$(ds_urlencode "$2")" "$1"
}

# The services that connect with a role of their own (deploy/sql/grants.sql).
DS_DB_ROLES=(ingest query aggregator)

# ds_pg_ensure_roles B PORT DIR: for each service S of DS_DB_ROLES, the
# login role devicestats_S with the password in DIR/db-password-S (generated
# once, mode 0600; set again at each call).  No privileges: ds_db_grants.
# The owner devicestats is made a member of each (it may see the services'
# statements in pg_stat_activity and end their backends, as when they all
# were devicestats).  Run in the database devicestats (not postgres): on a
# Citus coordinator CREATE/ALTER ROLE made there reach the workers.
ds_pg_ensure_roles() {
  local b=$1 port=$2 dir=$3 svc pw
  for svc in "${DS_DB_ROLES[@]}"; do
    [ -s "$dir/db-password-$svc" ] || ds_write_secret "$dir/db-password-$svc" "$(ds_gen_secret)"
    pw=$(ds_read_secret "$dir/db-password-$svc")
    DS_NEW_ROLE=devicestats_$svc DS_NEW_DB_PASSWORD=$pw ds_psql_admin "$b" "$port" -d devicestats <<'SQL' >/dev/null
\getenv role DS_NEW_ROLE
\getenv pw DS_NEW_DB_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS need_role \gset
\if :need_role
CREATE ROLE :"role" LOGIN PASSWORD :'pw';
\else
ALTER ROLE :"role" LOGIN PASSWORD :'pw';
\endif
SELECT NOT pg_has_role('devicestats', :'role', 'MEMBER') AS need_member \gset
\if :need_member
GRANT :"role" TO devicestats;
\endif
SQL
  done
}

# ds_db_grants SOURCE_DIR DATABASE_URL: applies deploy/sql/grants.sql as
# the owner (DATABASE_URL), in one transaction.
ds_db_grants() {
  local sqldir=${DEVICESTATS_SQL_DIR:-$1/deploy/sql}
  # client_min_messages=error: on Citus, ALL TABLES IN SCHEMA public also
  # names Citus's own views (citus_tables, citus_schemas, owned by the
  # superuser), and each GRANT/REVOKE warned once per column about them.
  PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=error" \
    "$DS_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -1 -d "$2" -f "$sqldir/grants.sql" >/dev/null ||
    ds_die "applying $sqldir/grants.sql failed"
}

# ds_svc_db_env STATE PORT DIR: writes STATE/db-S.env (mode 0600) for each
# service S of DS_DB_ROLES: its DATABASE_URL and PG* login as devicestats_S.
# ds_service_start passes it to every instance of S.
ds_svc_db_env() {
  local st=$1 port=$2 dir=$3 svc pw
  for svc in "${DS_DB_ROLES[@]}"; do
    pw=$(ds_read_secret "$dir/db-password-$svc")
    (umask 077 && printf '%s\n' "DATABASE_URL=$(ds_db_url "$port" "$pw" "devicestats_$svc")" \
      "PGUSER=devicestats_$svc" "PGPASSWORD=$pw" >"$st/db-$svc.env")
  done
}

# ds_migrate BUILD_DIR SOURCE_DIR DATABASE_URL: applies pending migrations
# with devicestats-migrate.  When that tool is not built and
# DS_MIGRATE_FALLBACK=1, applies every deploy/sql/*.sql with psql instead
# (only for throwaway databases: it keeps no record of what it applied).
ds_migrate() {
  local build=$1 src=$2 url=$3 bin f
  bin=$build/services/migrate/devicestats-migrate
  local sqldir=${DEVICESTATS_SQL_DIR:-$src/deploy/sql}
  if [ -x "$bin" ]; then
    DATABASE_URL=$url DEVICESTATS_SQL_DIR=$sqldir "$bin" || ds_die "migrations failed ($bin)"
  elif [ "${DS_MIGRATE_FALLBACK:-0}" = 1 ]; then
    ds_log "$bin not built: applying $sqldir/*.sql with psql"
    for f in "$sqldir"/[0-9]*.sql; do
      "$DS_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -1 -d "$url" -f "$f" >/dev/null ||
        ds_die "migration $f failed"
    done
  else
    ds_die "$bin not found: build first"
  fi
}

# ----------------------------------------------------------------- TLS
# ds_tls_ensure DIR [SANS]: a private CA (DIR/ca.crt, ca.key) and a server
# certificate signed by it for localhost and 127.0.0.1 (DIR/server.crt,
# server.key), generated once: kept while ca.crt, server.crt and server.key
# exist.  EC P-256 keys, mode 0600; certificates valid ten years.  SANS:
# more subjectAltName entries (compose: DNS:mosquitto).
ds_tls_ensure() {
  local d=$1 sans="DNS:localhost,IP:127.0.0.1${2:+,$2}"
  if [ -s "$d/ca.crt" ] && [ -s "$d/server.crt" ] && [ -s "$d/server.key" ]; then
    return 0
  fi
  command -v openssl >/dev/null || ds_die "openssl not found (scripts/deps.sh installs it)"
  mkdir -p "$d"
  chmod 755 "$d"
  (
    set -e
    umask 077
    cd "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=DeviceStats private CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out ca.crt
    openssl ecparam -name prime256v1 -genkey -noout -out server.key
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyAgreement" \
      "extendedKeyUsage=serverAuth" "subjectAltName=$sans" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
      -days 3650 -extfile server.ext -out server.crt
    rm -f server.csr server.ext ca.srl
    chmod 644 ca.crt server.crt
  ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; ds_die "could not generate TLS certificates in $d"; }
  rm -f "$d/openssl.log"
}

# ----------------------------------------------------------------- mosquitto
# Layout under B: B/mosquitto/{mosquitto.conf,passwd,acl,data/,tls/}.

# ds_mqtt_configure B PORT ALLOW_ANON(0|1) SRC_DIR [USER PASSWORD]: renders
# the config from deploy/mosquitto.  The password file and ACL are created
# only when missing (operators add device accounts to them); the service
# account's password is (re)set in the password file each time.  The
# listeners bind DS_MQTT_BIND (default 127.0.0.1; the container uses 0.0.0.0).
# TLS: with DS_MQTT_TLS_PORT set, a second, TLS-only listener on that port
# presents DS_MQTT_TLS_CERT / DS_MQTT_TLS_KEY (copied into B/mosquitto/tls,
# where the broker's own user can read them).  DS_MQTT_PLAIN=0 leaves the
# plain listener out (PORT is then unused).
ds_mqtt_configure() {
  local b=$1 port=$2 anon=$3 src=$4 user=${5:-} pass=${6:-}
  local d=$b/mosquitto conf auth acl listeners= bind=${DS_MQTT_BIND:-127.0.0.1}
  mkdir -p "$d/data"
  chmod 700 "$d"
  if [ "${DS_MQTT_PLAIN:-1}" != 0 ]; then
    listeners="listener $port $bind"
  fi
  if [ -n "${DS_MQTT_TLS_PORT:-}" ]; then
    [ -r "${DS_MQTT_TLS_CERT:-}" ] && [ -r "${DS_MQTT_TLS_KEY:-}" ] ||
      ds_die "the TLS listener needs a readable certificate and key (DS_MQTT_TLS_CERT, DS_MQTT_TLS_KEY)"
    mkdir -p "$d/tls"
    (umask 077 && cp -f "$DS_MQTT_TLS_CERT" "$d/tls/server.crt" && cp -f "$DS_MQTT_TLS_KEY" "$d/tls/server.key") ||
      ds_die "cannot copy the TLS certificate and key into $d/tls"
    listeners+="
listener ${DS_MQTT_TLS_PORT} $bind
certfile $d/tls/server.crt
keyfile $d/tls/server.key
tls_version tlsv1.2"
  fi
  [ -n "$listeners" ] || ds_die "no MQTT listener: DS_MQTT_PLAIN=0 needs DS_MQTT_TLS_PORT"
  if [ "$anon" = 1 ]; then
    auth="allow_anonymous true"
  else
    [ -n "$user" ] && [ -n "$pass" ] || ds_die "ds_mqtt_configure: credentials required"
    [ -f "$d/passwd" ] || (umask 077 && : >"$d/passwd")
    mosquitto_passwd -b "$d/passwd" "$user" "$pass" >/dev/null ||
      ds_die "mosquitto_passwd failed"
    if [ ! -f "$d/acl" ]; then
      acl=$(<"$src/deploy/mosquitto/acl.in")
      printf '%s\n' "${acl//@MQTT_SERVICE_USER@/$user}" >"$d/acl"
    fi
    auth="allow_anonymous false
password_file $d/passwd
acl_file $d/acl"
  fi
  conf=$(<"$src/deploy/mosquitto/mosquitto.conf.in")
  conf=${conf//@MQTT_LISTENERS@/$listeners}
  conf=${conf//@MQTT_DATA_DIR@/$d/data}
  conf=${conf//@MQTT_AUTH@/$auth}
  printf '%s\n' "$conf" >"$d/mosquitto.conf"
  # As root mosquitto drops to the "mosquitto" user, then reads the
  # password and ACL files and writes its persistence file.
  if ds_is_root && id mosquitto >/dev/null 2>&1; then
    chown -R mosquitto: "$d"
  fi
  chmod 600 "$d"/passwd "$d"/acl 2>/dev/null || true
}

# ds_mqtt_device_valid ID: true for a device id of the contract (1-64 of
# A-Z a-z 0-9 _ . -) that is not the service account's name.
ds_mqtt_device_valid() {
  [[ $1 =~ ^[A-Za-z0-9_.-]{1,64}$ ]] && [ "$1" != devicestats ]
}

# ds_mqtt_device_add B ID PASSWORD: sets the device's broker password and
# gives it its ACL entry (write devices/ID/data, nothing else), replacing
# any previous one.  The broker sees it after ds_mqtt_reload.
ds_mqtt_device_add() {
  local d=$1/mosquitto id=$2
  ds_mqtt_device_valid "$id" || ds_die "bad device id '$id' (1-64 of A-Z a-z 0-9 _ . -)"
  [ -f "$d/passwd" ] && [ -f "$d/acl" ] || ds_die "no broker accounts in $d (start run.sh once)"
  mosquitto_passwd -b "$d/passwd" "$id" "$3" >/dev/null || ds_die "mosquitto_passwd failed"
  ds_mqtt_acl_drop "$d/acl" "$id"
  printf '%s\n' "# device $id" "user $id" "topic write devices/$id/data" >>"$d/acl"
  ds_mqtt_fix_owner "$d"
}

# ds_mqtt_device_remove B ID: removes the device's password and ACL entry.
ds_mqtt_device_remove() {
  local d=$1/mosquitto id=$2
  ds_mqtt_device_valid "$id" || ds_die "bad device id '$id'"
  if cut -d: -f1 "$d/passwd" | grep -qxF -- "$id"; then
    mosquitto_passwd -D "$d/passwd" "$id" >/dev/null || ds_die "mosquitto_passwd -D failed"
  fi
  ds_mqtt_acl_drop "$d/acl" "$id"
  ds_mqtt_fix_owner "$d"
}

# ds_mqtt_device_list B: prints the device accounts (every account of the
# password file but the service account), one per line.
ds_mqtt_device_list() {
  cut -d: -f1 "$1/mosquitto/passwd" | grep -vxF devicestats | sort || true
}

# Removes the three-line entry "# device ID" / "user ID" / "topic ..." of
# ID from the ACL file $1.
ds_mqtt_acl_drop() {
  local f=$1 id=$2
  awk -v id="$id" '$0 == "# device " id { skip = 3 } skip > 0 { skip--; next } { print }' "$f" \
    >"$f.tmp" && chmod 600 "$f.tmp" && mv -f "$f.tmp" "$f"
}

# The broker, as its own user, reads its password and ACL files again at
# each reload.
ds_mqtt_fix_owner() {
  if ds_is_root && id mosquitto >/dev/null 2>&1; then
    chown mosquitto: "$1/passwd" "$1/acl"
  fi
  chmod 600 "$1/passwd" "$1/acl"
}

# ds_mqtt_reload STATE LOG: SIGHUP to the running broker (instance
# "mosquitto"), then waits until it logged its reload.  Fails when it does
# not run.
ds_mqtt_reload() {
  local st=$1 log=$2 off
  ds_alive "$st" mosquitto || return 1
  off=$(ds_size "$log")
  kill -HUP "$(ds_pid "$st" mosquitto)" || return 1
  ds_wait_log "$st" mosquitto "$log" "$off" 'Reloading config' 10
}

# ds_mqtt_start B STATE LOG: starts the broker as instance "mosquitto" and
# waits until it listens.
ds_mqtt_start() {
  local b=$1 st=$2 log=$3 off
  [ -n "$DS_MOSQUITTO" ] || ds_die "mosquitto not found (install mosquitto; scripts/deps.sh does)"
  off=$(ds_size "$log")
  ds_spawn "$st" mosquitto "$log" "$DS_MOSQUITTO" -c "$b/mosquitto/mosquitto.conf"
  ds_wait_log "$st" mosquitto "$log" "$off" 'mosquitto version .* running' 30 ||
    { tail -n 20 "$log" >&2; ds_die "mosquitto did not start (log: $log)"; }
}

# ------------------------------------------------------------- processes

# Size in bytes of file $1 (0 when missing).
ds_size() { if [ -e "$1" ]; then stat -c %s "$1"; else echo 0; fi; }

# ds_spawn STATE NAME LOG CMD...: starts CMD in its own session, stdout and
# stderr appended to LOG, stdin from /dev/null; records STATE/NAME.pid and,
# when it exits, STATE/NAME.rc.
ds_spawn() {
  local st=$1 name=$2 log=$3; shift 3
  rm -f "$st/$name.pid" "$st/$name.rc" "$st/$name.expected"
  printf '%q ' "$@" >"$st/$name.cmd"
  (
    set +e
    setsid "$@" </dev/null >>"$log" 2>&1 &
    p=$!
    echo "$p" >"$st/$name.pid.tmp" && mv -f "$st/$name.pid.tmp" "$st/$name.pid"
    wait "$p"
    echo $? >"$st/$name.rc.tmp" && mv -f "$st/$name.rc.tmp" "$st/$name.rc"
  ) >/dev/null 2>&1 </dev/null &
  local i
  for ((i = 0; i < 500; i++)); do
    [ -s "$st/$name.pid" ] && return 0
    sleep 0.01
  done
  ds_die "could not start $name"
}

ds_pid() { cat "$1/$2.pid" 2>/dev/null; }

# True while instance NAME runs.
ds_alive() {
  [ -s "$1/$2.pid" ] && [ ! -e "$1/$2.rc" ] && kill -0 "$(cat "$1/$2.pid")" 2>/dev/null
}

# ds_wait_log STATE NAME LOG OFFSET REGEX TIMEOUT_S: waits until LOG, past
# byte OFFSET, has a line matching REGEX.  Fails early when NAME exits.
ds_wait_log() {
  local st=$1 name=$2 log=$3 off=$4 re=$5 timeout=$6 deadline
  deadline=$((SECONDS + timeout))
  while :; do
    if [ -e "$log" ] && tail -c +"$((off + 1))" "$log" | grep -Eq -- "$re"; then
      return 0
    fi
    if [ -e "$st/$name.rc" ]; then
      ds_log "$name exited with code $(cat "$st/$name.rc") before logging /$re/"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      ds_log "$name did not log /$re/ within ${timeout}s"
      return 1
    fi
    sleep 0.1
  done
}

# ds_stop_instance STATE NAME [TIMEOUT_S [SIGNAL]]: signals the instance
# (SIGTERM by default), waits for it to exit and prints its exit code; after
# the timeout it is killed and "timeout" printed.  Marks it as stopped on
# purpose.
ds_stop_instance() {
  local st=$1 name=$2 timeout=${3:-60} sig=${4:-TERM} pid deadline
  pid=$(ds_pid "$st" "$name") || { echo none; return 0; }
  : >"$st/$name.expected"
  if [ ! -e "$st/$name.rc" ]; then
    kill -s "$sig" "$pid" 2>/dev/null || true
  fi
  deadline=$((SECONDS + timeout))
  while [ ! -e "$st/$name.rc" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      # Gone; give its wrapper a moment to record the exit code (a wrapper
      # that was itself killed never will).
      ds_wait_file "$st/$name.rc" 50 || { echo unknown; return 0; }
      break
    fi
    if ((SECONDS >= deadline)); then
      kill -s KILL "$pid" 2>/dev/null || true
      ds_wait_file "$st/$name.rc" 100 || true
      echo timeout
      return 0
    fi
    sleep 0.05
  done
  cat "$st/$name.rc"
}

# ds_wait_file FILE TENTHS: waits up to TENTHS/10 s for FILE to exist.
ds_wait_file() {
  local i
  for ((i = 0; i < $2; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  [ -e "$1" ]
}

# ds_kill_orphan STATE NAME: a previous run that was killed may have left
# instance NAME running; stop it, by pid, if its command line still matches.
ds_kill_orphan() {
  local st=$1 name=$2 pid exe
  pid=$(ds_pid "$st" "$name") || return 0
  [ -e "$st/$name.rc" ] && return 0
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
  if grep -qF -- "$(basename "$exe")" "$st/$name.cmd" 2>/dev/null; then
    ds_log "stopping $name (pid $pid) left running by a previous run"
    kill -s TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 300; i++)); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
    kill -s KILL "$pid" 2>/dev/null || true
  fi
}

# ds_service_bin BUILD SVC: prints the path of devicestats-SVC when built.
ds_service_bin() {
  local f=$1/services/$2/devicestats-$2
  [ -x "$f" ] && printf '%s' "$f"
}

# ds_service_start STATE NAME LOG BIN [ENV=VAL...]: starts a service with
# the environment in the array DS_SVC_ENV, then its database login
# (STATE/db-S.env, S the service, or for an extra instance the service in
# the first line of STATE/NAME.extra), then the given assignments.  When
# TEST_VALGRIND=1 it runs under valgrind.
ds_service_start() {
  local st=$1 name=$2 log=$3 bin=$4; shift 4
  local pre=() base=$name db=()
  [ -f "$st/$name.extra" ] && base=$(head -n 1 "$st/$name.extra")
  [ -f "$st/db-$base.env" ] && mapfile -t db <"$st/db-$base.env"
  set -- "${db[@]}" "$@"
  if [ "${TEST_VALGRIND:-0}" = 1 ]; then
    pre=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
  fi
  # INGEST_INSTANCES is run.sh's (and the harness's), not the service's:
  # ingest would warn about an unknown INGEST_ variable.
  ds_spawn "$st" "$name" "$log" env -u INGEST_INSTANCES "${DS_SVC_ENV[@]}" "$@" "${pre[@]}" "$bin"
}

# The Citus variant (DEVICESTATS_DB=citus): coordinator and workers.
# shellcheck source=stack_citus.sh
. "$(dirname "${BASH_SOURCE[0]}")/stack_citus.sh"
