#!/usr/bin/env bash
# Builds everything with ASan+UBSan into build-test/ and runs every test
# (ctest: unit and integration; each integration scenario starts its own
# throwaway stack on free ports).  Extra arguments go to ctest, e.g.
#   scripts/test.sh -L unit        scripts/test.sh -R ingest
# Environment: DS_TEST_BUILD_DIR (build-test), DS_TEST_JOBS (nproc),
# CI=true (fail when LeakSanitizer cannot run, instead of warning),
# DS_TEST_CITUS (default 1: the tests labelled citus run too: the ingest,
# query, aggregator and storage scenarios again on a Citus coordinator and
# 2 workers; deps.sh makes Citus available, built once per machine when no
# package is installed, docs/scaling.md.  DS_TEST_CITUS=0 leaves them out).
#
# The fuzz step (README § Security): with clang present, the libFuzzer
# targets of tests/fuzz/ are built in build-fuzz/ (DS_FUZZ_BUILD_DIR) and
# each runs FUZZ_SECONDS (default 20; 0 skips the step) after ctest.  It
# runs on a full run (no arguments) or when FUZZ_SECONDS is set;
#   scripts/test.sh --fuzz        only the fuzz step
#
#   scripts/test.sh --valgrind [ctest args]
# builds without sanitizers in build-valgrind/ (DS_VALGRIND_BUILD_DIR) and
# runs the integration scenarios (-L integration unless ctest arguments are
# given) with every service under valgrind memcheck (TEST_VALGRIND=1,
# scripts/lib/stack.sh): a memory error or a definite leak makes the
# service exit 99 and its scenario fail.  Slow (services run ~20x slower);
# not part of CI, see README § Security.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DS_TEST_BUILD_DIR:-$SRC/build-test}
JOBS=${DS_TEST_JOBS:-$(nproc)}

CITUS=${DS_TEST_CITUS:-1}
if [ "$CITUS" = 1 ]; then
  DEVICESTATS_DEPS_CITUS=1 "$SRC/scripts/deps.sh"
else
  "$SRC/scripts/deps.sh"
fi

# The fuzz step: clang build of the targets, then tests/fuzz/run.sh.
fuzz_step() {
  if [ "${FUZZ_SECONDS:-20}" = 0 ]; then
    echo "test.sh: fuzz step skipped (FUZZ_SECONDS=0)" >&2
    return 0
  fi
  if ! command -v clang >/dev/null; then
    echo "test.sh: fuzz step skipped: no clang (scripts/deps.sh installs it)" >&2
    return 0
  fi
  local fb=${DS_FUZZ_BUILD_DIR:-$SRC/build-fuzz} t0=$SECONDS
  CC=clang cmake -S "$SRC" -B "$fb" -DDS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$fb" -j"$JOBS" --target fuzz_targets >/dev/null
  "$SRC/tests/fuzz/run.sh" "$fb"
  echo "test.sh: fuzz step took $((SECONDS - t0)) s (build included)" >&2
}
if [ "${1:-}" = --valgrind ]; then
  shift
  command -v valgrind >/dev/null || { echo "test.sh: valgrind missing (scripts/deps.sh)" >&2; exit 1; }
  VB=${DS_VALGRIND_BUILD_DIR:-$SRC/build-valgrind}
  cmake -S "$SRC" -B "$VB" -DDS_SANITIZE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$VB" -j"$JOBS"
  export TEST_VALGRIND=1
  export DS_TEST_READY_TIMEOUT_S=${DS_TEST_READY_TIMEOUT_S:-300}
  export DS_TEST_STOP_TIMEOUT_S=${DS_TEST_STOP_TIMEOUT_S:-300}
  cd "$VB"
  [ $# -gt 0 ] || set -- -L integration
  exec ctest --output-on-failure --no-tests=error --timeout 3600 -j"$JOBS" "$@"
fi
run_fuzz=0
if [ "${1:-}" = --fuzz ]; then
  fuzz_step
  exit 0
fi
if [ $# -eq 0 ] || [ -n "${FUZZ_SECONDS:-}" ]; then
  run_fuzz=1
fi

cmake -S "$SRC" -B "$BUILD" -DDS_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDS_CITUS_TESTS="$([ "$CITUS" = 1 ] && echo ON || echo OFF)" >/dev/null
cmake --build "$BUILD" -j"$JOBS"

# LeakSanitizer cannot run under ptrace (strace, gdb, some CI containers):
# probe it once and turn leak detection off, loudly, when it cannot work --
# or fail when CI=true, where a green run must have checked for leaks.
leaks=1
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf 'int main(void) { return 0; }\n' >"$probe_dir/p.c"
if cc -fsanitize=address -o "$probe_dir/p" "$probe_dir/p.c" 2>/dev/null; then
  if ! ASAN_OPTIONS=detect_leaks=1 "$probe_dir/p" >"$probe_dir/out" 2>&1; then
    if [ "${CI:-}" = true ]; then
      # In CI a run without leak checks must not pass as a full one.
      echo "test.sh: LeakSanitizer does not work here ($(head -n 1 "$probe_dir/out")) and CI=true: failing (run the CI job without ptrace, e.g. not under strace)" >&2
      exit 1
    fi
    echo "test.sh: LeakSanitizer does not work here ($(head -n 1 "$probe_dir/out")); leak checks are OFF" >&2
    leaks=0
  fi
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=$leaks:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -z "${LSAN_OPTIONS:-}" ] && [ -f "$SRC/tests/lsan.supp" ]; then
  export LSAN_OPTIONS=suppressions=$SRC/tests/lsan.supp:print_suppressions=0
fi

cd "$BUILD"
# --no-tests=error: a filter that matches nothing (or a build that registered
# no tests) is a failure, not a green run.
citus_filter=()
[ "$CITUS" = 1 ] || citus_filter=(-LE citus)
ctest --output-on-failure --no-tests=error -j"$JOBS" "${citus_filter[@]}" "$@"
if [ $run_fuzz = 1 ]; then
  fuzz_step
fi
