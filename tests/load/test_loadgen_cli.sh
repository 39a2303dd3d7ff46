#!/bin/sh
# devicestats-loadgen's command line from the outside: a bad one exits 2
# with the reason on stderr, --help exits 0.  Usage: test_loadgen_cli.sh BINARY
set -u
LG=$1
fail=0
expect2() { # REASON ARGS...
  reason=$1; shift
  out=$("$LG" "$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" != 2 ] || ! printf '%s\n' "$out" | grep -qF -- "$reason"; then
    echo "FAIL: $* -> exit $rc, '$out' (expected 2 and '$reason')"; fail=1
  else
    echo "ok: $* -> 2: $out"
  fi
}
expect2 "bad value '-5' for --rate" --rate -5
expect2 "bad value 'ten' for --devices" --devices ten
expect2 "unknown preset 'nope'" --preset nope
expect2 "--readers needs --http" --readers 3
"$LG" --help | grep -q -- '--preset seed' || { echo "FAIL: --help"; fail=1; }
exit $fail
