#!/usr/bin/env bash
# Proves check_banned.sh can fail: every line marked BAD in sample_bad.c.txt
# is reported (and nothing else), sample_good.c.txt (comments, strings,
# strtok_r, parameters, an allowed identifier splice) passes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
check=$here/check_banned.sh
fail() { echo "banned selftest: $*" >&2; exit 1; }

set +e
out=$("$check" "$here/sample_bad.c.txt" 2>/dev/null)
rc=$?
set -e
[ "$rc" = 1 ] || fail "bad sample: exit $rc, want 1"
want=$(grep -n '/\* BAD' "$here/sample_bad.c.txt" | cut -d: -f1)
got=$(printf '%s\n' "$out" | sed -n 's/^[^:]*:\([0-9]*\): .*/\1/p' | sort -n | uniq)
[ "$got" = "$want" ] ||
  fail "bad sample: reported lines
$got
want
$want
(output:
$out)"

"$check" "$here/sample_good.c.txt" >/dev/null || fail "good sample reported:
$("$check" "$here/sample_good.c.txt" 2>&1)"

set +e
"$check" "$here/no-such-file" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "missing input: exit $rc, want 2"
echo "banned selftest: ok ($(printf '%s\n' "$out" | wc -l) findings in the bad sample)"
