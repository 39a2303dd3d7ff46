#!/bin/sh
# Build step: installs the Debian packages listed in file $1 (one per line:
# a set printed by scripts/deps.sh --print SET), without recommends, then
# drops apt's lists and the file.
set -eu
apt-get update -qq
xargs -a "$1" apt-get install -y -qq --no-install-recommends >/dev/null
rm -rf /var/lib/apt/lists/* "$1"
