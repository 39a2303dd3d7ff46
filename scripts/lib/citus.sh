#!/usr/bin/env bash
# Makes the Citus extension available to the local PostgreSQL server.
#
#   scripts/lib/citus.sh            (idempotent; quick once done)
#
# 1. When $(pg_config --pkglibdir)/citus.so exists (a distribution's or
#    Citus's own packages), nothing is done.
# 2. Otherwise Citus is built from the release tarball named by CITUS_SOURCE
#    (default: ../shared/vendor/citus-13.2.2.tar.gz next to the repository,
#    or next to the local repository it was cloned from),
#    whose sha256 must match, with the vendored PostgreSQL-15.20 patch
#    applied, into a per-machine cache outside the work tree
#    (DEVICESTATS_CACHE_DIR, default /var/cache/devicestats), keyed by the
#    Citus version and the server's exact version.  The build (about 4 min on
#    2 idle cores) happens once per machine; later calls only copy the staged
#    files into place.
#
# Needs root for the packages and the install (as for scripts/deps.sh);
# otherwise it prints what to run.  Called by scripts/deps.sh when
# DEVICESTATS_DB=citus or DEVICESTATS_DEPS_CITUS=1.
set -euo pipefail

CITUS_VERSION=13.2.2
CITUS_SHA256=029ac92b200cb825de0560f6a18b98a91579d6678673250da01542d6c33f4d86
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { echo "citus.sh: $*" >&2; }
die() { echo "citus.sh: error: $*" >&2; exit 1; }

PG_BINDIR=${DS_PG_BINDIR:-}
if [ -z "$PG_BINDIR" ]; then
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/postgres" ]; then PG_BINDIR=$d; break; fi
  done
fi
[ -n "$PG_BINDIR" ] || die "PostgreSQL server not found (scripts/deps.sh installs it)"

pkglibdir() {
  if [ -x "$PG_BINDIR/pg_config" ]; then "$PG_BINDIR/pg_config" --pkglibdir
  elif command -v pg_config >/dev/null; then pg_config --pkglibdir
  else echo /usr/lib/postgresql/15/lib; fi
}

if [ -f "$(pkglibdir)/citus.so" ]; then
  exit 0
fi

# The server's exact version: Citus must be compiled against the headers of
# the server that loads it (PostgreSQL 15.20 exports a function 15.18 lacks).
pg_version=$("$PG_BINDIR/postgres" --version | awk '{print $3}')
pg_major=${pg_version%%.*}
server_pkg=postgresql-$pg_major
server_pkg_version=$(dpkg-query -W -f='${Version}' "$server_pkg" 2>/dev/null || true)

# The tarball: CITUS_SOURCE, else shared/vendor next to the repository,
# else next to the repository it was cloned from (a CI clone elsewhere of a
# local repository).
citus_default_source() {
  local name=shared/vendor/citus-$CITUS_VERSION.tar.gz origin
  if [ -f "$SRC/../$name" ]; then
    printf '%s' "$(cd "$SRC/.." && pwd)/$name"
    return
  fi
  origin=$(git -C "$SRC" remote get-url origin 2>/dev/null || true)
  origin=${origin#file://}
  if [ -n "$origin" ] && [ -d "$origin" ] && [ -f "$origin/../$name" ]; then
    printf '%s' "$(cd "$origin/.." && pwd)/$name"
    return
  fi
  printf '%s' "$(cd "$SRC/.." && pwd)/$name"
}
CITUS_SOURCE=${CITUS_SOURCE:-$(citus_default_source)}
[ -f "$CITUS_SOURCE" ] || die "Citus is not installed and CITUS_SOURCE ($CITUS_SOURCE) does not exist.
  Install Citus for PostgreSQL $pg_major from your distribution or from Citus's own packages
  (https://docs.citusdata.com/en/stable/installation/), or set CITUS_SOURCE to citus-$CITUS_VERSION.tar.gz"
CITUS_PATCH=${CITUS_PATCH:-$(dirname "$CITUS_SOURCE")/citus-$CITUS_VERSION-pg15.20.patch}

if [ "$(id -u)" -ne 0 ]; then
  echo "citus.sh: Citus is not installed; as root run: $0" >&2
  exit 1
fi

sum=$(sha256sum "$CITUS_SOURCE" | awk '{print $1}')
[ "$sum" = "$CITUS_SHA256" ] || die "$CITUS_SOURCE: sha256 $sum, expected $CITUS_SHA256"

CACHE_ROOT=${DEVICESTATS_CACHE_DIR:-/var/cache/devicestats}
patch_tag=none
[ -f "$CITUS_PATCH" ] && patch_tag=$(sha256sum "$CITUS_PATCH" | cut -c1-8)
CACHE=$CACHE_ROOT/citus-$CITUS_VERSION-pg$pg_version-$patch_tag
mkdir -p "$CACHE_ROOT"
exec 8>"$CACHE_ROOT/citus.lock"
flock 8   # one build per machine at a time; a second caller waits and reuses it

# Build dependencies; the server headers at the server's own version.
need=()
for p in liblz4-dev libzstd-dev libkrb5-dev libcurl4-openssl-dev patch; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
dev_pkg=postgresql-server-dev-$pg_major
dev_have=$(dpkg-query -W -f='${Status} ${Version}' "$dev_pkg" 2>/dev/null || true)
if [ ! -f "$CACHE/done" ] && [ "$dev_have" != "install ok installed $server_pkg_version" ]; then
  need+=("$dev_pkg${server_pkg_version:+=$server_pkg_version}")
fi
if [ ${#need[@]} -gt 0 ] && [ ! -f "$CACHE/done" ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Others may be running apt: wait for dpkg's lock instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed (the headers must match the server, $server_pkg $server_pkg_version)"
fi

if [ ! -f "$CACHE/done" ]; then
  say "building Citus $CITUS_VERSION for PostgreSQL $pg_version in $CACHE (once per machine, a few minutes)"
  rm -rf "$CACHE"
  mkdir -p "$CACHE/build"
  tar -xzf "$CITUS_SOURCE" -C "$CACHE/build"
  tree=$CACHE/build/citus-$CITUS_VERSION
  if [ -f "$CITUS_PATCH" ]; then
    (cd "$tree" && patch -p1 -s <"$CITUS_PATCH") || die "patch $CITUS_PATCH failed"
  fi
  pgc=$PG_BINDIR/pg_config
  [ -x "$pgc" ] || pgc=$(command -v pg_config)
  # with_llvm=no: no JIT bitcode (clang would compile everything twice).
  (
    cd "$tree"
    ./configure PG_CONFIG="$pgc" >"$CACHE/configure.log" 2>&1 &&
      make -j"$(nproc)" with_llvm=no >"$CACHE/make.log" 2>&1 &&
      make install with_llvm=no DESTDIR="$CACHE/stage" >"$CACHE/install.log" 2>&1
  ) || { tail -n 30 "$CACHE"/*.log >&2; die "build failed (logs in $CACHE)"; }
  rm -rf "$CACHE/build"
  echo "$CITUS_VERSION $pg_version $(date -u +%FT%TZ)" >"$CACHE/done"
fi

# Install the staged files (the extension's .so, .control and SQL scripts).
cp -R "$CACHE/stage/." / ||
  die "installing from $CACHE/stage failed"
[ -f "$(pkglibdir)/citus.so" ] || die "citus.so not in $(pkglibdir) after the install"
say "Citus $CITUS_VERSION installed into $(pkglibdir)"
