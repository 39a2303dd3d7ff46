#!/usr/bin/env node
/* The dashboard (GET /) in a real browser: Debian's chromium driven by
 * playwright-core, against the stack tests/integration/run.sh started
 * (DS_TEST_* variables).  Checks what issue 11 lists under "Tested in a real
 * browser" and "Bad input", at 1280 and 390 px wide, and saves screenshots
 * under $DS_BUILD_DIR/artifacts/browser/.  Run by run_browser.sh. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { CHROMIUM_ARGS, CHROMIUM_PATH, check, chromiumOf, run, sleep } from "./lib.mjs";

const SRC = process.env.DS_SOURCE_DIR;
const BUILD = process.env.DS_BUILD_DIR;
const BASE = process.env.DS_TEST_HTTP_URL;
const TOKEN = process.env.DS_TEST_API_TOKEN;
const STACKCTL = process.env.DS_TEST_STACKCTL;
const chromium = chromiumOf(SRC);
const ART = path.join(BUILD, "artifacts", "browser");
fs.mkdirSync(ART, { recursive: true });

async function until(what, fn, ms = 30000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < ms) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(250);
  }
  throw new Error("timed out waiting for " + what + (last instanceof Error ? ": " + last.message : ""));
}
async function api(p, opts = {}) {
  const r = await fetch(BASE + p, opts);
  const t = await r.text();
  let body = null;
  try { body = JSON.parse(t); } catch { body = t; }
  return { status: r.status, body };
}
function post(p, body, token = TOKEN, method = "POST") {
  return api(p, { method, headers: { "Content-Type": "application/json", Authorization: "Bearer " + token }, body: JSON.stringify(body) });
}
function stackctl(...args) {
  const r = spawnSync(STACKCTL, args, { stdio: "inherit", timeout: 120000 });
  if (r.status !== 0) throw new Error("stackctl " + args.join(" ") + " failed");
}
/* A raw GET (no decoding): status, headers, the bytes as sent. */
function raw(p, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(BASE + p, { headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, bytes: Buffer.concat(chunks) }));
    }).on("error", reject);
  });
}

/* mosquitto_pub to the test broker (plain, or TLS with the stack's CA). */
function mosquittoPub(topic, payload) {
  const m = /^(tcp|ssl|mqtts):\/\/([^:]+):(\d+)$/.exec(process.env.DS_TEST_MQTT_URL || "");
  if (!m) throw new Error("DS_TEST_MQTT_URL: " + process.env.DS_TEST_MQTT_URL);
  const a = ["-h", m[2], "-p", m[3], "-u", process.env.DS_TEST_MQTT_USERNAME, "-P", process.env.DS_TEST_MQTT_PASSWORD,
    "-q", "1", "-t", topic, "-m", payload];
  if (m[1] !== "tcp") a.push("--cafile", process.env.DS_TEST_MQTT_CA_FILE);
  return spawnSync("mosquitto_pub", a, { timeout: 30000 });
}

/* ---- data the test publishes ---- */
const DEV = "dash-a";
const ODD = ["ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-0123456789", "abcdefghijklmnopqrstuvwxyz-_."];
const EVIL = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">&amp;'\"";
const now = Date.now();

async function seed() {
  const samples = [];
  for (let i = 0; i < 1000; i++)
    samples.push({ x: Math.sin(i / 40) * 10, y: Math.cos(i / 25) * 5 + i / 1000, z: (i % 17) - 8.5, ts: now - 50 * 60000 + i * 3000 });
  check((await post(`/devices/${DEV}/data`, samples)).status === 202, "1000 samples published over HTTP (MQTT behind it)");
  for (const id of ODD) check((await post(`/devices/${id}/data`, { x: 1.5, y: -2, z: 0.25 })).status === 202, `sample for device id ${id}`);
  const pages = [];
  for (let i = 0; i < 30; i++) pages.push(post(`/devices/page-${String(i).padStart(2, "0")}/data`, { x: i, y: i, z: i }));
  check((await Promise.all(pages)).every((r) => r.status === 202), "30 paging devices published");
  const u = await post("/users", { name: EVIL });
  check(u.status === 201, "user with HTML/JS in the name created");
  check((await post(`/users/${u.body.id}/devices/${DEV}`, {}, TOKEN, "PUT")).status === 200, "device assigned to the user");
  /* A rejected message, over MQTT itself (HTTP refuses it before publishing). */
  const pub = mosquittoPub("devices/dash-bad/data", '{"x": "<b>bold</b>", "y": 1, "z": 2}');
  check(pub.status === 0, "malformed message published over MQTT");
  await until("every sample stored", async () => {
    const r = await api("/devices");
    const ds = r.body.devices || [];
    const a = ds.find((d) => d.id === DEV);
    return a && a.count === 1000 && ds.length >= 33;
  }, 60000);
  await until("the rejected message", async () => (await api("/rejected")).body.rejected.length > 0, 30000);
  return u.body.id;
}

/* ---- browser helpers ---- */
const consoleErrors = [];
let phase = "start";
function watch(page) {
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push({ phase, text: m.text(), url: (m.location() || {}).url || "" }); });
  page.on("pageerror", (e) => consoleErrors.push({ phase, text: "pageerror: " + e.message, url: "" }));
}
async function go(page, hash) {
  await page.goto(BASE + "/" + hash);
  await page.waitForLoadState("load");
}
async function shot(page, name) { await page.screenshot({ path: path.join(ART, name + ".png"), fullPage: true }); }
/* Pixels of the median lines' colours on the chart's canvas. */
function chartPixels(page) {
  return page.evaluate(() => {
    const c = document.querySelector("#chart canvas");
    if (!c) return { n: 0, hash: 0 };
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0, h = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && ((Math.abs(d[i] - 31) < 30 && Math.abs(d[i + 1] - 95) < 30 && Math.abs(d[i + 2] - 168) < 30) ||
          (Math.abs(d[i] - 200) < 30 && Math.abs(d[i + 1] - 80) < 30 && Math.abs(d[i + 2] - 40) < 30))) n++;
      h = (h * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13 + d[i + 3]) >>> 0;
    }
    return { n, hash: h };
  });
}
async function statsCells(page) {
  return page.$$eval("main section:first-of-type tbody tr", (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)));
}
function apiCells(st) {
  const s = (v) => (v === null || v === undefined ? "\u2014" : String(v));
  return ["x", "y", "z"].map((a) => [a, s(st[a].count), s(st[a].min), s(st[a].max), s(st[a].sum), s(st[a].median)]);
}

async function desktop(ctx, uid) {
  const page = await ctx.newPage();
  watch(page);
  await page.setViewportSize({ width: 1280, height: 900 });

  phase = "devices";
  await go(page, "");
  await page.waitForSelector("main table");
  const listed = await page.$$eval("main tbody tr td:first-child", (t) => t.map((x) => x.textContent));
  check(listed.includes(DEV) && ODD.every((id) => listed.includes(id)), "the devices list shows the published devices (odd ids as they are)");
  check(listed.length === 25 && (await page.$("#next-page")) !== null, "the list is paged (25 and a next page)");
  await shot(page, "devices-1280");
  await page.fill("input[name=match]", "page-");
  await page.press("input[name=match]", "Enter");
  await page.waitForFunction(() => location.hash.includes("match=page-") && document.querySelectorAll("main tbody tr").length === 25);
  await page.click("#next-page");
  await page.waitForFunction(() => document.querySelectorAll("main tbody tr").length === 5);
  const p2 = await page.$$eval("main tbody tr td:first-child", (t) => t.map((x) => x.textContent));
  check(p2.join(",") === "page-25,page-26,page-27,page-28,page-29", "filter + next page: the last five matching devices");

  phase = "device";
  await page.click("text=First page");
  await go(page, "#/devices?match=" + encodeURIComponent(ODD[0]));
  await page.click(`a:text-is("${ODD[0]}")`);
  await page.waitForFunction(() => document.querySelector("main section tbody tr"));
  check((await page.textContent("#device-id")) === ODD[0], "a device id with every allowed character opens its page");
  check((await page.textContent("main section tbody tr td:nth-child(2)")) === "1", "its statistics (1 sample)");

  await go(page, `#/device/${DEV}?range=all`);
  await page.waitForSelector("#chart canvas", { timeout: 30000 });
  await page.waitForSelector('#stats[data-range="all"]', { timeout: 30000 });
  const all = await api(`/devices/${DEV}/data/all`);
  const cells = await statsCells(page);
  check(JSON.stringify(cells) === JSON.stringify(apiCells(all.body)), "all-time statistics on the page equal the API's");
  if (JSON.stringify(cells) !== JSON.stringify(apiCells(all.body))) console.log("page", JSON.stringify(cells), "\napi ", JSON.stringify(apiCells(all.body)));

  await go(page, `#/device/${DEV}?range=hour`);
  await page.waitForFunction(() => document.querySelector("#chart")?.getAttribute("data-samples") === "1000", null, { timeout: 30000 });
  const before = await until("the chart drawn", async () => { const p = await chartPixels(page); return p.n > 200 && p; });
  check(before.n > 200, `the chart's canvas is drawn (${before.n} pixels of the median lines)`);
  /* The table and the chart are fetched separately: wait for the table of this range. */
  await page.waitForSelector('#stats[data-range="hour"][data-count="1000"]', { timeout: 30000 });
  const hourCells = await statsCells(page);
  check(JSON.stringify(hourCells) === JSON.stringify(cells), "last hour: the same statistics (every sample is in it)");
  await shot(page, "device-1280");
  fs.copyFileSync(path.join(ART, "device-1280.png"), path.join(ART, "readme-device.png"));
  const more = [];
  for (let i = 0; i < 100; i++) more.push({ x: 20 + i / 10, y: -12, z: 9, ts: Date.now() - 1000 + i });
  check((await post(`/devices/${DEV}/data`, more)).status === 202, "100 new samples published");
  await page.waitForFunction(() => document.querySelector("#chart").getAttribute("data-samples") === "1100", null, { timeout: 30000 });
  const after = await until("the chart redrawn", async () => { const p = await chartPixels(page); return p.hash !== before.hash && p; }, 15000);
  check(after.hash !== before.hash, "the chart updates by itself after new samples arrive");
  check((await page.textContent("main section tbody tr td:nth-child(2)")) === "1100", "the statistics too (1100 samples)");

  phase = "user";
  await go(page, `#/user/${uid}`);
  await page.waitForSelector("#user-name");
  check((await page.textContent("#user-name")) === EVIL, "the user's name is shown as text, <script> and all");
  const xss = await page.evaluate(() => [window.__xss, document.querySelectorAll("script").length, document.querySelectorAll("main img").length]);
  check(xss[0] === undefined && xss[1] === 2 && xss[2] === 0, "nothing of it ran or became an element");
  const ud = await api(`/users/${uid}/data`);
  check(JSON.stringify(await statsCells(page)) === JSON.stringify(apiCells(ud.body.total)), "the user's total equals the API's");
  await shot(page, "user-1280");

  phase = "rejected";
  await go(page, "#/rejected");
  await page.waitForSelector("main tbody tr");
  const rej = await page.$$eval("main tbody td", (t) => t.map((x) => x.textContent).join(" | "));
  check(rej.includes('{"x": "<b>bold</b>"') && rej.includes("devices/dash-bad/data"), "the rejected message, payload as text");
  check((await page.$("main tbody b")) === null, "its HTML did not become an element");
  const reason = (await api("/rejected")).body.rejected[0].reason;
  check(rej.includes(reason), "with its reason (" + reason + ")");

  phase = "recalc";
  await go(page, "#/recalc");
  await page.evaluate(() => sessionStorage.clear());
  await go(page, "#/devices");
  await go(page, "#/recalc");
  await page.waitForSelector("#start");
  check(await page.isDisabled("#start"), "without a token the start button is disabled");
  await page.fill("#token", "wrong-token");
  await page.selectOption("#scope", "device");
  await page.fill("#target", DEV);
  phase = "unauthorized"; /* the 401 answer is logged by the browser */
  await page.click("#start");
  await page.waitForSelector("#unauthorized");
  check(/401/.test(await page.textContent("#unauthorized")), "a wrong token: 401 shown as a message");
  check((await page.textContent("h1")) === "Recalculation", "the page is still there");
  phase = "recalc";
  /* A task started elsewhere (the API): the page lists it too. */
  const other = await post("/tasks/recalculate", { device_id: ODD[0] });
  check(other.status === 202, "a task started through the API");
  const otherId = other.body.task_id;
  await page.waitForSelector(`#tasks [data-task="${otherId}"]`, { timeout: 15000 });
  check(true, "recent tasks: one started elsewhere is listed (GET /tasks)");
  await page.fill("#token", TOKEN);
  await page.click("#start");
  await page.waitForFunction(() => /^Task \S+ queued\.$/.test(document.querySelector("#recalc-result")?.textContent || ""));
  const mine = /^Task (\S+) queued\.$/.exec(await page.textContent("#recalc-result"))[1];
  const state = await until("the task done", async () => {
    const s = await page.$$eval(`#tasks [data-task="${mine}"]`, (t) => t.map((x) => x.textContent));
    return s.length === 1 && (s[0] === "done" || s[0] === "failed") && s[0];
  }, 90000);
  check(state === "done", "a recalculation started from the page reaches done");
  const order = await page.$$eval("#tasks .state", (t) => t.map((x) => x.getAttribute("data-task")));
  const listedTasks = (await api("/tasks?limit=20")).body.tasks.map((t) => t.request_id);
  check(order.indexOf(mine) >= 0 && order.indexOf(mine) < order.indexOf(otherId) && JSON.stringify(order) === JSON.stringify(listedTasks),
    "recent tasks newest first, as GET /tasks lists them");
  await page.waitForFunction((d) => [...document.querySelectorAll("#snapshots tr")].some((r) => r.textContent.includes(d) && !r.textContent.includes("none yet")), DEV, { timeout: 15000 });
  check(true, "its snapshot is listed");
  check(await page.evaluate(() => sessionStorage.getItem("ds_token")) === TOKEN, "the token is kept in session storage");
  await page.reload();
  await page.waitForSelector("#start");
  await page.waitForSelector(`#tasks [data-task="${mine}"]`);
  const row = await page.$$eval(`#tasks tr`, (rs, id) => rs.filter((r) => r.textContent.includes(id)).map((r) => r.textContent), mine);
  check(!(await page.isDisabled("#start")) && row.length === 1 && row[0].includes(DEV), "after a reload: token and recent task (with its scope) still there");
  /* Snapshots, paged like the devices list: 25, then the next page. */
  await page.waitForSelector("#snap-next");
  const snapIds = async () => page.$$eval("#snapshots tbody tr td:first-child", (t) => t.map((x) => x.textContent));
  const s1 = await snapIds();
  const api1 = (await api("/devices?limit=25")).body;
  check(s1.length === 25 && JSON.stringify(s1) === JSON.stringify(api1.devices.map((d) => d.id)), "snapshots: the first page of 25 devices");
  await page.click("#snap-next");
  await page.waitForFunction((a) => document.querySelector("#snapshots").getAttribute("data-after") === a, api1.next);
  const s2 = await snapIds();
  const api2 = (await api("/devices?limit=25&after=" + encodeURIComponent(api1.next))).body;
  check(s2.length > 0 && JSON.stringify(s2) === JSON.stringify(api2.devices.map((d) => d.id)), `snapshots: the next page (${s2.length} devices)`);
  await page.click("#snap-first");
  await page.waitForFunction(() => document.querySelector("#snapshots").getAttribute("data-after") === "");
  check(JSON.stringify(await snapIds()) === JSON.stringify(s1), "snapshots: back to the first page");
  await shot(page, "recalc-1280");

  phase = "docs";
  await page.goto(BASE + "/docs");
  check((await page.$('a[href="/"]')) !== null, "/docs links to the dashboard");
  await go(page, "");
  check((await page.$('a[href="/docs"]')) !== null, "the dashboard links to /docs");

  /* Bad input: 404s are expected from here on. */
  phase = "bad";
  await go(page, "#/device/no-such-device");
  await page.waitForSelector("#not-found");
  check(/Unknown device/.test(await page.textContent("#not-found")), "unknown device: a clear message");
  await go(page, "#/device/bad%24id");
  await page.waitForSelector("#not-found");
  check(/not a device id/.test(await page.textContent("#not-found")), "malformed device id: a clear message");
  await go(page, "#/user/999999");
  await page.waitForSelector("#not-found");
  check(/Unknown user/.test(await page.textContent("#not-found")), "unknown user: a clear message");
  await go(page, "#/user/abc");
  await page.waitForSelector("#not-found");
  check(/not a user id/.test(await page.textContent("#not-found")), "malformed user id: a clear message");

  phase = "down";
  await go(page, `#/device/${DEV}?range=hour`);
  await page.waitForSelector("#chart canvas");
  stackctl("stop", "query");
  await page.waitForSelector("#banner:not([hidden])", { timeout: 20000 });
  check(/unavailable/.test(await page.textContent("#banner")), "the API down: the page says so");
  await shot(page, "api-down-1280");
  stackctl("start", "query");
  await page.waitForSelector("#banner[hidden]", { state: "attached", timeout: 30000 });
  await page.waitForSelector("#chart canvas", { timeout: 20000 });
  check((await page.textContent("main section tbody tr td:nth-child(2)")) === "1100", "the API back: the page recovers by itself");
  await page.close();
}

async function phone(ctx) {
  phase = "phone";
  const page = await ctx.newPage();
  watch(page);
  await page.setViewportSize({ width: 390, height: 844 });
  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
  await go(page, "");
  await page.waitForSelector("main table");
  check(await fits(), "390 px: the devices page fits (tables scroll inside)");
  await shot(page, "devices-390");
  await go(page, `#/device/${DEV}?range=day`);
  await page.waitForSelector("#chart canvas");
  const p = await until("the chart drawn", async () => { const x = await chartPixels(page); return x.n > 100 && x; });
  const w = await page.evaluate(() => document.querySelector("#chart canvas").getBoundingClientRect().width);
  check(p.n > 100 && w <= 390, `390 px: the chart is drawn and fits (${Math.round(w)} px wide)`);
  check(await fits(), "390 px: the device page fits");
  await shot(page, "device-390");
  await go(page, "#/recalc");
  await page.waitForSelector("#start");
  check(await fits(), "390 px: the recalculation page fits");
  await shot(page, "recalc-390");
  await page.close();
}

/* Compression and caching, as a browser would get them. */
async function transport() {
  const pg = await raw("/", { "Accept-Encoding": "gzip, deflate, br" });
  check(pg.status === 200 && pg.headers["content-encoding"] === "gzip" && pg.headers["cache-control"] === "no-cache" && pg.headers.etag, "GET /: gzip, no-cache, ETag");
  const plain = await raw("/");
  check(plain.headers["content-encoding"] === undefined && plain.bytes.toString().startsWith("<!DOCTYPE html>"), "GET / without Accept-Encoding: plain HTML");
  check((await raw("/", { "If-None-Match": pg.headers.etag })).status === 304, "GET / revalidated: 304");
  let total = pg.bytes.length;
  const links = [...plain.bytes.toString().matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]);
  for (const l of links) {
    const r = await raw(l, { "Accept-Encoding": "gzip" });
    check(r.status === 200 && /immutable/.test(r.headers["cache-control"] || ""), `${l.replace(/\?.*/, "")}: cached for good under its version`);
    total += r.bytes.length;
  }
  check(links.length === 4, "the page loads four files, all from /ui/");
  check(total <= 200 * 1024, `first load ${total} bytes transferred (<= 200 KB)`);
  check((await raw("/ui/nope.js")).status === 404, "an unknown /ui/ file: 404");
}

async function main() {
  const uid = await seed();
  await transport();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    await desktop(ctx, uid);
    await phone(ctx);
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  /* Console errors: none at all outside the bad-input, wrong-token and
   * outage phases (whose refused requests the browser logs), except a
   * device's "no snapshot yet" 404 (an answer the page shows) and /docs'
   * favicon (that page has none). */
  const bad = consoleErrors.filter((e) => {
    if (e.phase === "bad" || e.phase === "down" || e.phase === "unauthorized") return !/Failed to load resource/.test(e.text);
    if (e.phase === "docs" && /\/favicon\.ico$/.test(e.url)) return false;
    return !(/Failed to load resource: the server responded with a status of 404/.test(e.text) && /\/stats$/.test(e.url));
  });
  bad.forEach((e) => console.log(`console error (${e.phase}): ${e.text} ${e.url}`));
  check(bad.length === 0, "no console errors");
  console.log(`screenshots in ${ART}`);
}

await run(main);
