#!/bin/sh
# Build step of every image: use the apt sources and settings found in $1
# (deploy/apt/, filled from the machine by scripts/compose-check.sh) instead
# of the base image's own, when there are any; then forget them.
set -eu
dir=$1
have=
for f in "$dir"/*.sources "$dir"/*.list; do
  [ -e "$f" ] || continue
  if [ -z "$have" ]; then
    rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
    have=1
  fi
  cp "$f" /etc/apt/sources.list.d/
done
for f in "$dir"/*.conf; do
  if [ -e "$f" ]; then cp "$f" /etc/apt/apt.conf.d/; fi
done
rm -rf "$dir"
