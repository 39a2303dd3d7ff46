#!/usr/bin/env node
/* The dashboard's figures for scripts/bench.sh (asserts nothing):
 *   node bench_ui.mjs <base URL> <device> <start ISO> <end ISO>
 * In headless chromium (playwright-core): the bytes transferred for GET /
 * and its files on a first load (compressed as the browser accepts), and
 * the time from navigation to the chart's first draw (the page's
 * performance mark "ds-chart-drawn") for the device over [start, end):
 * the first load, then three more, each in a fresh browser context (no
 * HTTP cache), with the series request's own time (the API's share).
 * Prints one JSON line. */
import path from "node:path";
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumOf } from "./lib.mjs";
import { fileURLToPath } from "node:url";

const [base, device, start, end] = process.argv.slice(2);
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const chromium = chromiumOf(SRC);

/* launch() gives the browser a fresh temporary profile (--user-data-dir). */
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
const url = `${base}/#/device/${encodeURIComponent(device)}?range=custom&start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`;
const out = { first_load_bytes: 0, first_load_files: 0, chart_ms: [], series_ms: [], buckets: 0, samples: 0 };
try {
  for (let i = 0; i < 4; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const reqs = [];
    page.on("requestfinished", (r) => reqs.push(r));
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName("ds-chart-drawn").length > 0, null, { timeout: 60000 });
    out.chart_ms.push(Math.round(await page.evaluate(() => performance.getEntriesByName("ds-chart-drawn")[0].startTime)));
    /* The API's share: the series request, as the browser timed it. */
    out.series_ms.push(Math.round(await page.evaluate(() => {
      const e = performance.getEntriesByType("resource").find((r) => r.name.includes("/series?"));
      return e ? e.responseEnd - e.startTime : -1;
    })));
    if (i === 0) {
      for (const r of reqs) {
        const p = new URL(r.url()).pathname;
        if (p !== "/" && !p.startsWith("/ui/")) continue;
        const s = await r.sizes();
        out.first_load_bytes += s.responseBodySize + s.responseHeadersSize;
        out.first_load_files++;
      }
      out.buckets = Number(await page.getAttribute("#chart", "data-buckets"));
      out.samples = Number(await page.getAttribute("#chart", "data-samples"));
    }
    await ctx.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
