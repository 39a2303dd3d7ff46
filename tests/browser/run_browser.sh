#!/usr/bin/env bash
# ctest entry of the browser tests: checks that chromium, node and the npm
# modules are there, then runs a browser scenario (dashboard.mjs, ...)
# against a throwaway stack (tests/integration/run.sh).
#   tests/browser/run_browser.sh <scenario.mjs>
# Skipped (exit 77) only when /usr/bin/chromium is absent; a missing node
# or playwright-core fails (scripts/deps.sh installs both).
set -euo pipefail
SRC=${DS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ ! -x /usr/bin/chromium ]; then
  echo "SKIP: /usr/bin/chromium is absent (scripts/deps.sh installs Debian's chromium); the browser test did not run" >&2
  exit 77
fi
command -v node >/dev/null || { echo "run_browser: node is missing: run scripts/deps.sh" >&2; exit 1; }
[ -f "$SRC/web/node_modules/playwright-core/package.json" ] ||
  { echo "run_browser: $SRC/web/node_modules/playwright-core is missing: run scripts/deps.sh (npm ci in web/)" >&2; exit 1; }
exec "$SRC/tests/integration/run.sh" "$@"
