#!/usr/bin/env node
/* deploy/grafana/devicestats.json against a real stack (run by
 * tests/integration/run.sh): valid JSON whose data sources are its declared
 * inputs; every PostgreSQL panel's SQL reads only the contract's view
 * device_samples and runs on the real database with Grafana's macros
 * expanded as Grafana does, its numbers equal to the API's; every
 * Prometheus panel names metrics (and labels) the services really export. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { check, run, sleep } from "../browser/lib.mjs";

const SRC = process.env.DS_SOURCE_DIR;
const BASE = process.env.DS_TEST_HTTP_URL;
const TOKEN = process.env.DS_TEST_API_TOKEN;
const DB = process.env.DS_TEST_DATABASE_URL;
const FILE = path.join(SRC, "deploy", "grafana", "devicestats.json");

async function get(p, base = BASE) {
  const r = await fetch(base + p);
  const t = await r.text();
  try { return { status: r.status, body: JSON.parse(t) }; } catch { return { status: r.status, body: t }; }
}
function post(p, body) {
  return fetch(BASE + p, { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + TOKEN }, body: JSON.stringify(body) });
}
/* Rows of a query (CSV through psql) as objects. */
function psql(sql) {
  const r = spawnSync("psql", [DB, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", "-c", sql], { encoding: "utf8", timeout: 60000 });
  if (r.status !== 0) throw new Error("psql failed: " + r.stderr.trim() + "\n" + sql);
  const lines = r.stdout.trim().split("\n");
  const cols = lines[0].split(",");
  return lines.slice(1).filter((l) => l !== "").map((l) => Object.fromEntries(l.split(",").map((v, i) => [cols[i], v])));
}

/* Grafana's PostgreSQL macros, as Grafana expands them. */
const FROM = new Date(Date.now() - 2 * 3600e3), TO = new Date(Date.now() + 60e3);
const INTERVAL_S = 60;
function expand(sql, device) {
  let s = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, c) => `${c.trim()} BETWEEN '${FROM.toISOString()}' AND '${TO.toISOString()}'`)
    .replace(/\$__timeGroupAlias\(([^,]+),\s*\$__interval\)/g, (_, c) => `floor(extract(epoch from ${c.trim()})/${INTERVAL_S})*${INTERVAL_S} AS "time"`)
    .replace(/\$\{device:sqlstring\}/g, "'" + String(device).replace(/'/g, "''") + "'");
  if (/\$/.test(s)) throw new Error("a macro or variable this test does not know: " + s);
  return s;
}
function close(a, b) { return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)); }

/* mosquitto_pub to the test broker (plain, or TLS with the stack's CA). */
function mosquittoPub(topic, payload) {
  const m = /^(tcp|ssl|mqtts):\/\/([^:]+):(\d+)$/.exec(process.env.DS_TEST_MQTT_URL || "");
  if (!m) throw new Error("DS_TEST_MQTT_URL: " + process.env.DS_TEST_MQTT_URL);
  const a = ["-h", m[2], "-p", m[3], "-u", process.env.DS_TEST_MQTT_USERNAME, "-P", process.env.DS_TEST_MQTT_PASSWORD,
    "-q", "1", "-t", topic, "-m", payload];
  if (m[1] !== "tcp") a.push("--cafile", process.env.DS_TEST_MQTT_CA_FILE);
  return spawnSync("mosquitto_pub", a, { timeout: 30000 });
}

async function main() {
  let dash;
  try { dash = JSON.parse(fs.readFileSync(FILE, "utf8")); } catch (e) { check(false, "devicestats.json is JSON: " + e.message); return; }
  check(true, "devicestats.json is JSON");
  const inputs = new Set((dash.__inputs || []).map((i) => "${" + i.name + "}"));
  const panels = (dash.panels || []).filter((p) => p.type !== "row");
  check(dash.uid && dash.title && panels.length >= 8, `a dashboard with ${panels.length} panels`);
  const targets = panels.flatMap((p) => (p.targets || []).map((t) => ({ p, t })));
  check(panels.every((p) => (p.targets || []).length > 0), "every panel has a query");
  check(targets.every(({ p, t }) => inputs.has((t.datasource || p.datasource).uid)), "every query uses a declared data source input");

  /* Data: two devices, within the last hour. */
  const now = Date.now();
  for (const [id, k] of [["graf-a", 1], ["graf-b", 2]]) {
    const s = [];
    for (let i = 0; i < 600; i++) s.push({ x: Math.sin(i * k) * 3, y: i * 0.25 * k, z: (i % 7) - k, ts: now - 3000e3 + i * 5000 });
    check((await post(`/devices/${id}/data`, s)).status === 202, `600 samples for ${id}`);
  }
  /* A rejected message (over MQTT: HTTP refuses it before publishing), so
   * the rejected-by-reason series exists. */
  const pub = mosquittoPub("devices/graf-bad/data", "not json");
  check(pub.status === 0, "a malformed message published");
  for (let t0 = Date.now(); Date.now() - t0 < 60000; await sleep(300)) {
    const ds = (await get("/devices")).body.devices || [];
    const rej = (await get("/rejected")).body.rejected || [];
    if (ds.filter((d) => d.id.startsWith("graf-") && d.count === 600).length === 2 && rej.length > 0) break;
  }

  const variable = dash.templating.list.find((v) => v.name === "device");
  const devices = psql(expand(variable.query, "")).map((r) => Object.values(r)[0]);
  check(devices.includes("graf-a") && devices.includes("graf-b"), "the device variable lists the devices");

  const sqlTargets = targets.filter(({ t }) => t.rawSql !== undefined);
  check(sqlTargets.length >= 4, `${sqlTargets.length} PostgreSQL queries`);
  const api = (await get(`/devices/graf-a/data?start=${FROM.toISOString()}&end=${TO.toISOString()}`)).body;
  for (const { p, t } of sqlTargets) {
    const tables = [...t.rawSql.matchAll(/\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_.]*)/gi)].map((m) => m[1]);
    check(tables.length > 0 && tables.every((n) => n === "device_samples"), `${p.title}: reads only device_samples`);
    let rows;
    try { rows = psql(expand(t.rawSql, "graf-a")); } catch (e) { check(false, `${p.title}: runs (${e.message})`); continue; }
    check(rows.length > 0, `${p.title}: runs, ${rows.length} rows`);
    if (t.format === "time_series") check("time" in rows[0], `${p.title}: has a time column`);
    if (/^Statistics/.test(p.title)) {
      const r = rows[0];
      const same = Number(r.count) === api.count && ["x", "y", "z"].every((a) =>
        Number(r[a + "_min"]) === api[a].min && Number(r[a + "_max"]) === api[a].max &&
        close(Number(r[a + "_sum"]), api[a].sum) && close(Number(r[a + "_median"]), api[a].median));
      check(same, `${p.title}: equals GET /devices/graf-a/data over the range`);
      if (!same) console.log(JSON.stringify(r), JSON.stringify(api));
    }
    if (/^Samples stored/.test(p.title)) {
      const total = rows.reduce((n, r) => n + Number(r.samples), 0);
      const all = ((await get("/devices")).body.devices || []).reduce((n, d) => n + d.count, 0);
      check(total === all, `${p.title}: ${total} samples in all, as GET /devices counts`);
    }
    if (/^Devices/.test(p.title)) {
      const a = rows.find((r) => r.device_id === "graf-a");
      check(a && Number(a.samples) === 600, `${p.title}: graf-a with its 600 samples`);
    }
  }

  /* Prometheus: the metrics, as the three services export them now. */
  const urls = [BASE, process.env.DS_TEST_INGEST_ADMIN_URL, process.env.DS_TEST_AGGREGATOR_ADMIN_URL].filter(Boolean);
  let text = "";
  for (const u of urls) text += (await get("/metrics", u)).body + "\n";
  const series = text.split("\n").filter((l) => l && !l.startsWith("#"));
  const promTargets = targets.filter(({ t }) => t.expr !== undefined);
  check(promTargets.length >= 8, `${promTargets.length} Prometheus queries`);
  for (const { p, t } of promTargets) {
    const names = [...t.expr.matchAll(/\bdevicestats_[a-z_]+/g)].map((m) => m[0]);
    const labels = [...t.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1].split(",").map((s) => s.trim()));
    const ok = names.length > 0 && names.every((n) => {
      const mine = series.filter((l) => l.startsWith(n + " ") || l.startsWith(n + "{"));
      return mine.length > 0 && labels.every((lb) => mine.some((l) => l.includes(lb + "=\"")));
    });
    check(ok, `${p.title}: ${t.expr} names exported metrics${labels.length ? " and labels" : ""}`);
  }
}

await run(main);
