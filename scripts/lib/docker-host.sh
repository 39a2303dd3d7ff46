# shellcheck shell=bash
# Docker on a Debian machine without a registry, for scripts/compose-check.sh:
# the packages, a daemon started by hand, the local debian:12 base image
# made with debootstrap from the machine's own apt mirror, and that mirror
# handed to the image builds (deploy/apt/).  Source it after stack.sh.

# The URI of the first apt source of suite $1 (default bookworm), from
# /etc/apt/sources.list.d/*.sources (deb822) or the one-line *.list files.
dh_apt_mirror() {
  local suite=${1:-bookworm} f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; ok = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
          if ($i ~ /^Suites:/) { n = split($i, a, /[ \t]+/); for (j = 2; j <= n; j++) if (a[j] == s) ok = 1 }
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
          if ($i ~ /^Enabled:[ \t]*no/) ok = 0
        }
        if (ok && deb && uri != "") { print uri; exit 0 } }' "$f"
  done | head -n 1 | grep . && return 0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v s="$suite" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
        if ($(i + 1) == s) { print $i; exit 0 } }' "$f"
  done | head -n 1 | grep .
}

# Fills $1 (deploy/apt) with the machine's apt sources and the Acquire::
# settings that reach them; the same files every time on one machine, so
# the build cache holds.
dh_apt_context() {
  local d=$1 f
  find "$d" -mindepth 1 ! -name README -delete
  [ -s /etc/apt/sources.list ] && grep -q '^deb' /etc/apt/sources.list &&
    cp /etc/apt/sources.list "$d/host.list"
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && cp "$f" "$d/"
  done
  apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' >"$d/host.conf" || true
  compgen -G "$d/*.sources" >/dev/null || compgen -G "$d/*.list" >/dev/null
}

# Installs what is missing of docker.io, docker-compose (unless compose v2
# answers) and debootstrap.
dh_install() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null ||
    need+=(docker-compose)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ ${#need[@]} -eq 0 ] && return 0
  ds_log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

# Puts Debian's docker client (/usr/bin/docker, docker.io) first in PATH
# (a symlink in directory $1) when the docker found first is another one:
# compose 1.29 builds through the docker in PATH, and a newer client without
# its buildx plugin (this machine's /usr/local/bin/docker 28.2.2) refuses
# DOCKER_BUILDKIT=1, while docker.io's 20.10 client speaks BuildKit itself.
dh_debian_cli() {
  local d=$1 cur
  cur=$(command -v docker) || return 0
  [ -x /usr/bin/docker ] && [ "$(readlink -f "$cur")" != "$(readlink -f /usr/bin/docker)" ] || return 0
  dpkg -S "$(readlink -f "$cur")" >/dev/null 2>&1 && return 0
  mkdir -p "$d" && ln -sf /usr/bin/docker "$d/docker" || return 1
  PATH=$d:$PATH
  hash -r
  ds_log "the docker client in PATH, $cur ($("$cur" --version 2>/dev/null)), is not Debian's: using /usr/bin/docker"
}

# Starts dockerd when no daemon answers; sets DH_DOCKERD_PID when it did.
DH_DOCKERD_PID=
dh_daemon() {
  docker info >/dev/null 2>&1 && return 0
  ds_log "no Docker daemon answers: starting dockerd (log: $1)"
  setsid dockerd >"$1" 2>&1 </dev/null &
  DH_DOCKERD_PID=$!
  local i
  for ((i = 0; i < 120; i++)); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DH_DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 20 "$1" >&2
  return 1
}

# Stops the daemon dh_daemon started (containers were stopped before).
dh_daemon_stop() {
  [ -n "$DH_DOCKERD_PID" ] || return 0
  kill -TERM "$DH_DOCKERD_PID" 2>/dev/null
  local i
  for ((i = 0; i < 60; i++)); do
    kill -0 "$DH_DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$DH_DOCKERD_PID" 2>/dev/null
  DH_DOCKERD_PID=
}

# Makes the local debian:12 image (debootstrap minbase from the machine's
# mirror, in a scratch directory under $1) unless the daemon has one.
dh_base_image() {
  docker image inspect debian:12 >/dev/null 2>&1 && return 0
  local mirror dir
  mirror=$(dh_apt_mirror bookworm) || { ds_log "no bookworm source in the apt sources"; return 1; }
  dir=$(mktemp -d "$1/debian12.XXXXXX")
  ds_log "making debian:12: debootstrap --variant=minbase bookworm from $mirror"
  # Without the downloaded packages and indexes (80 MB): every image runs
  # apt-get update itself.
  if debootstrap --variant=minbase bookworm "$dir/root" "$mirror" >"$dir.log" 2>&1 &&
    rm -rf "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/lib/apt/lists/"* &&
    tar -C "$dir/root" -c . | docker import - debian:12 >/dev/null; then
    rm -rf "$dir" "$dir.log"
    return 0
  fi
  tail -n 20 "$dir.log" >&2
  rm -rf "$dir"
  return 1
}
