#!/bin/bash
# Container healthcheck without curl: GET http://127.0.0.1:PORT/PATH (default
# /health) with bash's /dev/tcp; healthy when the answer is 200.
# Usage: ds-http-health PORT [PATH]
set -eu
exec 3<>"/dev/tcp/127.0.0.1/$1"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "${2:-/health}" >&3
read -r -t 5 _ status _ <&3
[ "$status" = 200 ]
