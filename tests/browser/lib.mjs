/* What the Node test scripts share (tests/browser/dashboard.mjs,
 * tests/browser/bench_ui.mjs, tests/grafana/grafana.mjs): pass/fail
 * counting with one line per check, the run's end, and headless Chromium
 * (Debian's, driven by playwright-core from web/node_modules). */
import path from "node:path";
import { createRequire } from "node:module";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/* playwright-core's chromium, from the web/ package of the source tree src. */
export function chromiumOf(src) {
  return createRequire(path.join(src, "web", "package.json"))("playwright-core").chromium;
}

export const results = { passed: 0, failed: 0 };

export function check(ok, what) {
  if (ok) { results.passed++; console.log("ok   " + what); }
  else { results.failed++; console.log("FAIL " + what); }
  return ok;
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

/* Runs main, counts an exception as a failure, prints the totals and exits
 * 0 only when nothing failed. */
export async function run(main) {
  try {
    await main();
  } catch (e) {
    results.failed++;
    console.log("FAIL " + (e.stack || e));
  }
  console.log(`${results.passed} passed, ${results.failed} failed`);
  process.exit(results.failed === 0 ? 0 : 1);
}
