/* DeviceStats dashboard (GET /): plain JavaScript over the HTTP API of
 * DESIGN.md, one view per hash route (#/devices, #/device/<id>, #/users,
 * #/user/<uid>, #/recalc, #/rejected).  Every value from the API reaches the
 * page through textContent or an attribute, never as HTML.  The chart is
 * uPlot (embedded by the build, like this file). */
"use strict";
(function () {
  var main = document.getElementById("main");
  var banner = document.getElementById("banner");
  var DEVICE_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  var PAGE = 25;
  var REFRESH_MS = 5000;
  var view = { gen: 0, timers: [], chart: null, onResize: null };
  var downSince = 0;
  var healthTimer = null;

  /* ---- DOM helpers: text only ---- */
  function el(tag, props, kids) {
    var e = document.createElement(tag);
    props = props || {};
    Object.keys(props).forEach(function (k) {
      var v = props[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") e.textContent = String(v);
      else if (k === "cls") e.className = v;
      else if (k === "on") Object.keys(v).forEach(function (ev) { e.addEventListener(ev, v[ev]); });
      else if (k === "value") e.value = v;
      else if (k === "checked" || k === "disabled") e[k] = !!v;
      else e.setAttribute(k, v === true ? "" : String(v));
    });
    (kids || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function msg(kind, text, id) { return el("div", { cls: "msg " + (kind || ""), text: text, role: kind === "err" ? "alert" : null, id: id }); }
  function fmt(v) { return v === null || v === undefined ? "\u2014" : String(v); }
  function hashFor(route, q) {
    var s = new URLSearchParams();
    Object.keys(q || {}).forEach(function (k) { if (q[k] !== undefined && q[k] !== null && q[k] !== "") s.set(k, q[k]); });
    var t = s.toString();
    return "#/" + route + (t ? "?" + t : "");
  }
  function deviceLink(id) { return el("a", { href: "#/device/" + encodeURIComponent(id), text: id, cls: "mono" }); }
  function userLink(uid) { return uid === null || uid === undefined ? "\u2014" : el("a", { href: "#/user/" + uid, text: String(uid) }); }
  function table(headers, rows, numFrom) {
    var thead = el("tr", {}, headers.map(function (h, i) { return el("th", { text: h, cls: i >= numFrom ? "num" : null, scope: "col" }); }));
    var body = rows.map(function (r) {
      return el("tr", {}, r.map(function (c, i) {
        return el("td", { cls: i >= numFrom ? "num" : null }, [c instanceof Node ? c : fmt(c)]);
      }));
    });
    return el("div", { cls: "tw" }, [el("table", {}, [el("thead", {}, [thead]), el("tbody", {}, body)])]);
  }

  /* ---- the API, and what the page says when it is away ---- */
  function setDown(why) {
    if (!downSince) downSince = Date.now();
    banner.textContent = "The DeviceStats API is unavailable (" + why + "). The page retries every 3 s and reloads its data when it is back.";
    banner.hidden = false;
    if (!healthTimer) healthTimer = setInterval(probe, 3000);
  }
  function probe() {
    fetch("/health", { cache: "no-store" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        if (r.ok) setUp(); else setDown(b.detail || "HTTP " + r.status);
      });
    }, function () { setDown("cannot reach the server"); });
  }
  function setUp() {
    if (healthTimer) { clearInterval(healthTimer); healthTimer = null; }
    if (!downSince) return;
    downSince = 0;
    banner.hidden = true;
    banner.textContent = "";
    render(); /* what the view showed while the API was away is stale */
  }
  /* Resolves {status, body} for any HTTP answer (503 also marks the API
   * down); rejects when the server cannot be reached. */
  function api(path, opts) {
    opts = opts || {};
    opts.cache = "no-store";
    /* With API_READ_TOKEN set, reads need a token too: the one kept for
     * this tab (the write token also opens the read routes). */
    var tok = sessionStorage.getItem("ds_token");
    if (tok && !(opts.headers && opts.headers.Authorization)) {
      opts.headers = opts.headers || {};
      opts.headers.Authorization = "Bearer " + tok;
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var body = null;
        try { body = t ? JSON.parse(t) : null; } catch (e) { body = null; }
        if (r.status === 503) setDown((body && body.detail) || "HTTP 503");
        else if (downSince && r.status < 500) setUp();
        return { status: r.status, body: body };
      });
    }, function (e) {
      setDown("cannot reach the server");
      throw e;
    });
  }
  function detail(res) {
    var d = (res.body && res.body.detail) || "HTTP " + res.status;
    return res.status === 401 && location.hash.indexOf("#/recalc") !== 0 ? d + " (enter the token on the Recalculation page)" : d;
  }

  /* ---- views' lifetime ---- */
  function later(fn, ms) { view.timers.push(setTimeout(fn, ms)); }
  function every(fn, ms) { view.timers.push(setInterval(fn, ms)); }
  function teardown() {
    view.gen++;
    view.timers.forEach(function (t) { clearTimeout(t); clearInterval(t); });
    view.timers = [];
    if (view.chart) { view.chart.destroy(); view.chart = null; }
    if (view.onResize) { window.removeEventListener("resize", view.onResize); view.onResize = null; }
  }
  function alive(gen) { return gen === view.gen; }
  function show(kids) {
    while (main.firstChild) main.removeChild(main.firstChild);
    kids.forEach(function (k) { if (k) main.appendChild(k); });
  }
  function ignore() {} /* a failed fetch already set the banner */

  /* ---- ranges ---- */
  var RANGES = [["hour", "Last hour", 3600e3], ["day", "Last day", 86400e3], ["week", "Last week", 7 * 86400e3], ["all", "All time", 0], ["custom", "Custom", 0]];
  var STEPS = [[1, "1s"], [2, "2s"], [5, "5s"], [10, "10s"], [15, "15s"], [30, "30s"], [60, "1m"], [120, "2m"], [300, "5m"], [600, "10m"], [900, "15m"], [1800, "30m"], [3600, "1h"], [7200, "2h"], [10800, "3h"], [21600, "6h"], [43200, "12h"], [86400, "1d"], [172800, "2d"], [604800, "7d"], [2592000, "30d"]];
  /* The bucket interval for a span: at most ~240 buckets, at least 1 s. */
  function interval(spanMs) {
    for (var i = 0; i < STEPS.length; i++) if (spanMs / 1000 / STEPS[i][0] <= 240) return STEPS[i];
    return STEPS[STEPS.length - 1];
  }
  function localInput(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d)) return "";
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }
  /* {start, end} in ms (null: open) for the range in q; all-time bounds come later. */
  function rangeOf(q) {
    var r = q.get("range") || "hour", now = Date.now();
    for (var i = 0; i < RANGES.length; i++) if (RANGES[i][0] === r && RANGES[i][2]) return { name: r, start: now - RANGES[i][2], end: null };
    if (r === "custom") {
      var s = Date.parse(q.get("start") || ""), e = Date.parse(q.get("end") || "");
      return { name: r, start: isNaN(s) ? null : s, end: isNaN(e) ? null : e };
    }
    return { name: "all", start: null, end: null };
  }
  function rangeForm(route, q) {
    var cur = q.get("range") || "hour";
    var sel = el("select", { "aria-label": "Range", name: "range" }, RANGES.map(function (r) { return el("option", { value: r[0], text: r[1] }); }));
    sel.value = cur;
    var s = el("input", { type: "datetime-local", name: "start", "aria-label": "Start", value: localInput(q.get("start")) });
    var e = el("input", { type: "datetime-local", name: "end", "aria-label": "End", value: localInput(q.get("end")) });
    var custom = el("span", { cls: "row", hidden: cur !== "custom" }, [s, " to ", e]);
    function go() {
      var o = { range: sel.value };
      if (sel.value === "custom") {
        if (s.value) o.start = new Date(s.value).toISOString();
        if (e.value) o.end = new Date(e.value).toISOString();
      }
      location.hash = hashFor(route, o);
    }
    sel.addEventListener("change", function () { custom.hidden = sel.value !== "custom"; if (sel.value !== "custom") go(); });
    return el("form", { on: { submit: function (ev) { ev.preventDefault(); go(); } } }, [sel, custom, el("button", { type: "submit", text: "Show" })]);
  }
  function rangeQuery(start, end) {
    var p = new URLSearchParams();
    if (start !== null) p.set("start", new Date(start).toISOString());
    if (end !== null) p.set("end", new Date(end).toISOString());
    var t = p.toString();
    return t ? "?" + t : "";
  }

  /* ---- statistics tables ---- */
  function statsTable(st) {
    return table(["axis", "count", "min", "max", "sum", "median"], ["x", "y", "z"].map(function (a) {
      var s = st[a] || {};
      return [a, s.count, s.min, s.max, s.sum, s.median];
    }), 1);
  }

  /* ---- #/devices ---- */
  function viewDevices(args, q) {
    var gen = view.gen, match = q.get("match") || "", after = q.get("after") || "";
    var input = el("input", { type: "search", name: "match", value: match, placeholder: "filter by id", "aria-label": "Filter devices by id" });
    var out = el("div", {}, [el("p", { cls: "muted", text: "Loading\u2026" })]);
    show([el("h1", { text: "Devices" }),
      el("form", { on: { submit: function (ev) { ev.preventDefault(); location.hash = hashFor("devices", { match: input.value.trim() }); } } },
        [input, el("button", { type: "submit", text: "Filter" })]), out]);
    if (match && !DEVICE_RE.test(match)) { out.replaceChildren(msg("err", "A filter is part of a device id: letters, digits and _ . - only.")); return; }
    var p = new URLSearchParams({ limit: String(PAGE) });
    if (match) p.set("match", match);
    if (after) p.set("after", after);
    api("/devices?" + p).then(function (res) {
      if (!alive(gen)) return;
      if (res.status !== 200) { out.replaceChildren(msg("err", "Could not list the devices: " + detail(res))); return; }
      var ds = res.body.devices || [];
      var kids = [];
      if (!ds.length) kids.push(msg("", match ? "No device id contains \u201c" + match + "\u201d." : "No devices yet: a device appears with its first accepted sample."));
      else kids.push(table(["device", "owner", "samples", "first sample", "last sample"], ds.map(function (d) {
        return [deviceLink(d.id), userLink(d.owner), d.count, fmt(d.first), fmt(d.last)];
      }), 2));
      var pager = el("div", { cls: "row" });
      if (after) pager.appendChild(el("a", { href: hashFor("devices", { match: match }), text: "\u2190 First page" }));
      if (res.body.next) pager.appendChild(el("a", { href: hashFor("devices", { match: match, after: res.body.next }), text: "Next page \u2192", id: "next-page" }));
      kids.push(pager);
      out.replaceChildren.apply(out, kids);
    }, ignore);
  }

  /* ---- #/device/<id> ---- */
  function seriesData(buckets) {
    var cols = [[]];
    for (var i = 0; i < 9; i++) cols.push([]);
    buckets.forEach(function (b) {
      cols[0].push(Date.parse(b.start) / 1000);
      ["x", "y", "z"].forEach(function (a, k) {
        cols[1 + k * 3].push(b[a].min);
        cols[2 + k * 3].push(b[a].median);
        cols[3 + k * 3].push(b[a].max);
      });
    });
    return cols;
  }
  function chartOpts(width) {
    var colors = { x: "31,95,168", y: "200,80,40", z: "40,140,70" };
    var series = [{ label: "time" }], bands = [];
    ["x", "y", "z"].forEach(function (a, k) {
      var c = colors[a];
      series.push({ label: a + " min", stroke: "rgba(" + c + ",0.35)", width: 1 });
      series.push({ label: a + " median", stroke: "rgb(" + c + ")", width: 2 });
      series.push({ label: a + " max", stroke: "rgba(" + c + ",0.35)", width: 1 });
      bands.push({ series: [3 + k * 3, 1 + k * 3], fill: "rgba(" + c + ",0.12)" });
    });
    /* The first draw is marked for bench.sh (performance mark "ds-chart-drawn"). */
    var hooks = { draw: [function (u) {
      var n = Number(u.root.parentNode.getAttribute("data-draws") || 0) + 1;
      u.root.parentNode.setAttribute("data-draws", String(n));
      if (!performance.getEntriesByName("ds-chart-drawn").length) performance.mark("ds-chart-drawn");
    }] };
    return { width: width, height: width < 500 ? 240 : 320, series: series, bands: bands, scales: { x: { time: true } }, legend: { live: width >= 500 }, hooks: hooks };
  }
  function viewDevice(args, q) {
    var gen = view.gen, id = args[0] || "";
    if (!DEVICE_RE.test(id)) {
      show([el("h1", { text: "Device" }), msg("err", "\u201c" + id + "\u201d is not a device id: 1\u201364 letters, digits and _ . -", "not-found")]);
      return;
    }
    var statsBox = el("div", { id: "stats" }, [el("p", { cls: "muted", text: "Loading\u2026" })]);
    var chartBox = el("div", { cls: "chart", id: "chart" });
    var chartNote = el("p", { cls: "legend-note", id: "chart-note" });
    var snapBox = el("div", {});
    var auto = el("input", { type: "checkbox", id: "auto", checked: true });
    show([el("h1", {}, ["Device ", el("span", { cls: "mono", id: "device-id", text: id })]),
      rangeForm("device/" + encodeURIComponent(id), q),
      el("section", { cls: "panel" }, [el("h2", { text: "Statistics" }), statsBox]),
      el("section", { cls: "panel" }, [el("h2", { text: "Series: median per bucket, min\u2013max band" }), chartBox, chartNote,
        el("label", { cls: "row" }, [auto, "refresh every 5 s"])]),
      el("section", { cls: "panel" }, [el("h2", { text: "Latest recalculation snapshot" }), snapBox])]);
    var r = rangeOf(q);
    var bounds = null; /* all time: the device's first and last sample */

    function drawChart(buckets, step) {
      var data = seriesData(buckets);
      var samples = buckets.reduce(function (n, b) { return n + b.count; }, 0);
      chartBox.setAttribute("data-buckets", String(buckets.length));
      chartBox.setAttribute("data-samples", String(samples));
      chartNote.textContent = buckets.length + " buckets of " + step + ", " + samples + " samples; updated " + new Date().toLocaleTimeString();
      if (typeof uPlot === "undefined" || window.DS_UPLOT_MISSING) {
        chartNote.textContent = "The chart is missing: this build has no uPlot (run scripts/deps.sh and rebuild).";
        return;
      }
      if (view.chart) { view.chart.setData(data); return; }
      view.chart = new uPlot(chartOpts(chartBox.clientWidth || 360), data, chartBox);
      view.onResize = function () { if (view.chart) view.chart.setSize({ width: chartBox.clientWidth, height: chartBox.clientWidth < 500 ? 240 : 320 }); };
      window.addEventListener("resize", view.onResize);
    }
    function notFound(res, what) {
      var unknown = /unknown device/.test(detail(res));
      return msg(unknown ? "err" : "", unknown ? "Unknown device \u201c" + id + "\u201d: no device with this id has sent a sample." : what + ": " + detail(res), unknown ? "not-found" : null);
    }
    /* All time, or a custom range open at one end: bounded by the
     * device's first and last sample. */
    var needBounds = r.name === "all" || (r.name === "custom" && (r.start === null || r.end === null));
    function load() {
      var start = r.start, end = r.end;
      if (r.name === "hour" || r.name === "day" || r.name === "week") start = Date.now() - RANGES.filter(function (x) { return x[0] === r.name; })[0][2];
      if (needBounds && !bounds) { loadBounds(); return; }
      if (needBounds) { start = bounds[0]; end = bounds[1]; }
      /* One request: the series and, with total=true, the range's
       * statistics from the same read of the samples (a million samples
       * are read once, not twice).  The end is the range's: the total then
       * covers the samples /data would. */
      var e = end !== null ? end : Date.now();
      var step = interval(Math.max(e - start, 1000));
      var sq = new URLSearchParams({ start: new Date(start).toISOString(), end: new Date(e + (end !== null ? 0 : step[0] * 1000)).toISOString(), interval: step[1], total: "true" });
      api("/devices/" + encodeURIComponent(id) + "/series?" + sq).then(function (res) {
        if (!alive(gen)) return;
        if (res.status === 200) {
          drawChart(res.body.buckets || [], step[1]);
          var t = res.body.total;
          statsBox.replaceChildren(el("p", { cls: "muted", text: t.count + " samples" + (r.name !== "all" && t.start ? " from " + t.start : "") + (r.name !== "all" && end !== null && t.end ? " to " + t.end : "") }), statsTable(t));
          statsBox.setAttribute("data-count", String(t.count));
          statsBox.setAttribute("data-range", r.name);
          return;
        }
        if (res.status === 404 && /unknown device/.test(detail(res))) chartBox.hidden = true;
        else if (res.status === 404) { chartNote.textContent = "No samples in this range."; if (view.chart) view.chart.setData(seriesData([])); }
        else chartNote.textContent = "Could not read the series: " + detail(res);
        statsBox.replaceChildren(res.status === 404 ? notFound(res, "No statistics") : msg("err", "Could not read the statistics: " + detail(res)));
      }, ignore);
      api("/devices/" + encodeURIComponent(id) + "/stats").then(function (res) {
        if (!alive(gen)) return;
        if (res.status === 200) snapBox.replaceChildren(el("p", { cls: "muted", text: "computed at " + res.body.computed_at + ", " + res.body.count + " samples" }), statsTable(res.body));
        else snapBox.replaceChildren(msg("", res.status === 404 ? "No snapshot yet: start a recalculation." : "Could not read the snapshot: " + detail(res)));
      }, ignore);
    }
    function loadBounds() {
      return api("/devices?limit=1000&match=" + encodeURIComponent(id)).then(function (res) {
        if (!alive(gen) || res.status !== 200) return;
        var d = (res.body.devices || []).filter(function (x) { return x.id === id; })[0];
        if (!d || !d.first) {
          statsBox.replaceChildren(msg("err", "Unknown device \u201c" + id + "\u201d: no device with this id has sent a sample.", "not-found"));
          chartBox.hidden = true;
          return;
        }
        var f = Date.parse(d.first), l = Date.parse(d.last) + 1;
        bounds = [r.start !== null ? r.start : f, r.end !== null ? r.end : l];
        load();
      }, ignore);
    }
    load();
    every(function () {
      if (!auto.checked || downSince) return;
      if (needBounds) bounds = null; /* new samples move the last one */
      load();
    }, REFRESH_MS);
  }

  /* ---- #/users and #/user/<uid> ---- */
  function viewUsers() {
    var input = el("input", { type: "text", name: "uid", inputmode: "numeric", placeholder: "user id", "aria-label": "User id" });
    show([el("h1", { text: "Users" }),
      el("p", { text: "A user's totals over all their devices, and each device. Owners are listed with the devices." }),
      el("form", { on: { submit: function (ev) { ev.preventDefault(); location.hash = "#/user/" + encodeURIComponent(input.value.trim()); } } },
        [input, el("button", { type: "submit", text: "Show" })])]);
  }
  function viewUser(args, q) {
    var gen = view.gen, uid = args[0] || "";
    var title = el("h1", {}, ["User ", el("span", { id: "user-id", text: uid })]);
    var out = el("div", {}, [el("p", { cls: "muted", text: "Loading\u2026" })]);
    show([title, rangeForm("user/" + encodeURIComponent(uid), q), out]);
    if (!/^[1-9][0-9]{0,9}$/.test(uid)) { out.replaceChildren(msg("err", "\u201c" + uid + "\u201d is not a user id (a positive integer).", "not-found")); return; }
    var r = rangeOf(q);
    api("/users/" + uid + "/data" + (r.name === "all" ? "" : rangeQuery(r.start, r.end))).then(function (res) {
      if (!alive(gen)) return;
      if (res.status === 404 && /unknown user/.test(detail(res))) { out.replaceChildren(msg("err", "Unknown user " + uid + ": no user has this id.", "not-found")); return; }
      if (res.status === 404) { out.replaceChildren(msg("", "No samples in this range for user " + uid + ".")); return; }
      if (res.status !== 200) { out.replaceChildren(msg("err", "Could not read the user's statistics: " + detail(res))); return; }
      var b = res.body;
      title.replaceChildren("User ", el("span", { id: "user-name", text: b.name || "" }), el("span", { cls: "muted", text: " (id " + b.user_id + ")" }));
      var rows = (b.devices || []).map(function (d) {
        return [deviceLink(d.device_id), d.count, d.x.median, d.y.median, d.z.median];
      });
      out.replaceChildren(
        el("section", { cls: "panel" }, [el("h2", { text: "Total over all devices" }), el("p", { cls: "muted", text: b.total.count + " samples" }), statsTable(b.total)]),
        el("section", { cls: "panel" }, [el("h2", { text: "Per device" }), table(["device", "samples", "x median", "y median", "z median"], rows, 1)]));
    }, ignore);
  }

  /* ---- #/recalc ---- */
  function tasks() { try { return JSON.parse(sessionStorage.getItem("ds_tasks") || "[]"); } catch (e) { return []; } }
  function saveTasks(t) { sessionStorage.setItem("ds_tasks", JSON.stringify(t.slice(0, 20))); }
  function viewRecalc() {
    var gen = view.gen;
    var token = el("input", { type: "password", id: "token", autocomplete: "off", placeholder: "API token", "aria-label": "API token", value: sessionStorage.getItem("ds_token") || "" });
    var scope = el("select", { id: "scope", "aria-label": "Scope" }, [el("option", { value: "all", text: "all devices" }), el("option", { value: "device", text: "one device" }), el("option", { value: "user", text: "one user's devices" })]);
    var target = el("input", { type: "text", id: "target", placeholder: "device id or user id", "aria-label": "Device or user id", hidden: true });
    var full = el("input", { type: "checkbox", id: "full" });
    var start = el("button", { type: "submit", id: "start", text: "Start recalculation" });
    var result = el("div", { id: "recalc-result", "aria-live": "polite" });
    var list = el("div", { id: "tasks" });
    var snaps = el("div", { id: "snapshots" });
    function gate() {
      start.disabled = token.value.trim() === "";
      start.title = start.disabled ? "enter the API token first" : "";
    }
    token.addEventListener("input", function () { sessionStorage.setItem("ds_token", token.value.trim()); gate(); });
    scope.addEventListener("change", function () { target.hidden = scope.value === "all"; });
    gate();
    show([el("h1", { text: "Recalculation" }),
      el("section", { cls: "panel" }, [
        el("p", { text: "Starting a recalculation needs the API token (kept in this tab's session storage only)." }),
        el("div", { cls: "row" }, [token, el("button", { type: "button", cls: "plain", text: "Forget token", on: { click: function () { sessionStorage.removeItem("ds_token"); token.value = ""; gate(); } } })]),
        el("form", { on: { submit: submit } }, [scope, target, el("label", {}, [full, " full (also devices without new samples)"]), start]),
        result]),
      el("section", { cls: "panel" }, [el("h2", { text: "Recent tasks" }), list]),
      el("section", { cls: "panel" }, [el("h2", { text: "Latest snapshot per device" }), snaps])]);

    function submit(ev) {
      ev.preventDefault();
      var body = {};
      var t = target.value.trim();
      if (scope.value === "device") {
        if (!DEVICE_RE.test(t)) { result.replaceChildren(msg("err", "A device id is 1\u201364 letters, digits and _ . -")); return; }
        body.device_id = t;
      } else if (scope.value === "user") {
        if (!/^[1-9][0-9]{0,9}$/.test(t)) { result.replaceChildren(msg("err", "A user id is a positive integer.")); return; }
        body.user_id = Number(t);
      }
      if (full.checked) body.full = true;
      start.disabled = true;
      api("/tasks/recalculate", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + token.value.trim() }, body: JSON.stringify(body) }).then(function (res) {
        gate();
        if (!alive(gen)) return;
        if (res.status === 202) {
          result.replaceChildren(msg("ok", "Task " + res.body.task_id + " queued."));
          var all = tasks();
          all.unshift({ id: res.body.task_id, scope: body.device_id || (body.user_id ? "user " + body.user_id : "all devices"), at: new Date().toISOString(), state: "queued" });
          saveTasks(all);
          poll();
        } else if (res.status === 401) {
          result.replaceChildren(msg("err", "Not allowed (401): " + detail(res) + ". Check the API token.", "unauthorized"));
        } else {
          result.replaceChildren(msg("err", "The recalculation was refused (" + res.status + "): " + detail(res)));
        }
      }, function () { gate(); });
    }
    /* The latest tasks from GET /tasks (any client: this page, the API,
     * MQTT, the aggregator's schedule), with scope and start time for
     * those started from this tab; a task this tab just queued shows until
     * the list has it. */
    function drawTasks(server) {
      var mine = tasks(), byId = {}, seen = {};
      mine.forEach(function (t) { byId[t.id] = t; });
      server.forEach(function (t) { seen[t.request_id] = true; if (byId[t.request_id]) byId[t.request_id].state = t.state; });
      saveTasks(mine);
      var rows = mine.filter(function (t) { return !seen[t.id] && t.state === "queued"; })
        .map(function (t) { return { request_id: t.id, state: t.state }; }).concat(server);
      if (!rows.length) { list.replaceChildren(el("p", { cls: "muted", text: "No recalculation tasks yet." })); return; }
      list.replaceChildren(el("p", { cls: "muted", text: "The latest " + rows.length + ", newest first; scope and start time for those started from this tab." }),
        table(["task", "scope", "started", "state", "progress", "devices", "elapsed ms", "error"], rows.map(function (t) {
          var pr = el("progress", { max: "1", "aria-label": "progress of " + t.request_id });
          if (t.state === "done" || t.state === "failed") pr.value = 1;
          var m = byId[t.request_id];
          return [el("span", { cls: "mono", text: t.request_id }), m ? m.scope : null, m ? m.at : null, el("span", { cls: "state", "data-task": t.request_id, text: t.state }), pr, t.devices, t.elapsed_ms, t.error];
        }), 5));
    }
    var lastDone = null, pollTimer = null;
    /* One pending poll at a time (a task started here polls at once). */
    function pollIn(ms) {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, ms);
    }
    function poll() {
      clearTimeout(pollTimer);
      if (!alive(gen)) return; /* the view was left */
      api("/tasks?limit=20").then(function (res) {
        if (!alive(gen)) return;
        if (res.status !== 200) { list.replaceChildren(msg("err", "Could not list the tasks: " + detail(res))); pollIn(REFRESH_MS); return; }
        var ts = res.body.tasks || [];
        drawTasks(ts);
        var open = ts.some(function (t) { return t.state === "queued" || t.state === "running"; });
        /* A task that finished since the last look: its snapshots changed. */
        var done = ts.filter(function (t) { return t.state === "done"; }).map(function (t) { return t.request_id; }).join(" ");
        if (done !== lastDone) { lastDone = done; drawSnaps(); }
        pollIn(open ? 1000 : REFRESH_MS);
      }, function () { if (alive(gen)) pollIn(3000); });
    }
    /* The snapshots of one page of devices (25, in id order, as #/devices). */
    var snapAfter = "", snapSeq = 0;
    function drawSnaps() {
      var seq = ++snapSeq, after = snapAfter;
      var p = new URLSearchParams({ limit: String(PAGE) });
      if (after) p.set("after", after);
      api("/devices?" + p).then(function (res) {
        if (!alive(gen) || seq !== snapSeq) return;
        if (res.status !== 200) { snaps.replaceChildren(msg("err", "Could not list the devices: " + detail(res))); return; }
        var ds = res.body.devices || [], next = res.body.next;
        if (!ds.length) { snaps.replaceChildren(el("p", { cls: "muted", text: "No devices yet." })); return; }
        return Promise.all(ds.map(function (d) {
          return api("/devices/" + encodeURIComponent(d.id) + "/stats").then(function (r) { return [d.id, r]; });
        })).then(function (rs) {
          if (!alive(gen) || seq !== snapSeq) return;
          var pager = el("div", { cls: "row" });
          if (after) pager.appendChild(el("button", { type: "button", cls: "plain", id: "snap-first", text: "\u2190 First page", on: { click: function () { snapAfter = ""; drawSnaps(); } } }));
          if (next) pager.appendChild(el("button", { type: "button", cls: "plain", id: "snap-next", text: "Next page \u2192", on: { click: function () { snapAfter = next; drawSnaps(); } } }));
          snaps.replaceChildren(table(["device", "computed at", "samples", "x median", "y median", "z median"], rs.map(function (p) {
            var b = p[1].status === 200 ? p[1].body : null;
            return [deviceLink(p[0]), b ? b.computed_at : "none yet", b ? b.count : null, b ? b.x.median : null, b ? b.y.median : null, b ? b.z.median : null];
          }), 2), pager);
          snaps.setAttribute("data-after", after);
        });
      }, ignore);
    }
    poll();
  }

  /* ---- #/rejected ---- */
  function viewRejected(args, q) {
    var gen = view.gen, limit = q.get("limit") || "50";
    var sel = el("select", { "aria-label": "How many" }, ["20", "50", "200"].map(function (n) { return el("option", { value: n, text: "latest " + n }); }));
    sel.value = limit;
    sel.addEventListener("change", function () { location.hash = hashFor("rejected", { limit: sel.value }); });
    var out = el("div", {}, [el("p", { cls: "muted", text: "Loading\u2026" })]);
    show([el("h1", { text: "Rejected messages" }), el("div", { cls: "row" }, [sel, el("button", { type: "button", text: "Refresh", on: { click: render } })]), out]);
    api("/rejected?limit=" + encodeURIComponent(limit)).then(function (res) {
      if (!alive(gen)) return;
      if (res.status !== 200) { out.replaceChildren(msg("err", "Could not read the rejected messages: " + detail(res))); return; }
      var rs = res.body.rejected || [];
      if (!rs.length) { out.replaceChildren(msg("ok", "No rejected messages.")); return; }
      out.replaceChildren(el("div", { cls: "tw" }, [el("table", {}, [
        el("thead", {}, [el("tr", {}, ["received", "topic", "reason", "size", "payload"].map(function (h) { return el("th", { text: h }); }))]),
        el("tbody", {}, rs.map(function (m) {
          var p = m.payload.length > 300 ? m.payload.slice(0, 300) + "\u2026" : m.payload;
          return el("tr", {}, [el("td", { text: m.received_at }), el("td", { cls: "wrap mono", text: m.topic }), el("td", { cls: "wrap", text: m.reason }),
            el("td", { cls: "num", text: String(m.payload_size) }), el("td", { cls: "wrap mono", text: (m.payload_encoding === "base64" ? "(base64) " : "") + p })]);
        }))])]));
    }, ignore);
  }

  /* ---- router ---- */
  var VIEWS = { devices: viewDevices, device: viewDevice, users: viewUsers, user: viewUser, recalc: viewRecalc, rejected: viewRejected };
  function render() {
    teardown();
    var h = location.hash.replace(/^#\/?/, "");
    var qi = h.indexOf("?");
    var q = new URLSearchParams(qi >= 0 ? h.slice(qi + 1) : "");
    var parts = (qi >= 0 ? h.slice(0, qi) : h).split("/").map(function (s) {
      try { return decodeURIComponent(s); } catch (e) { return s; }
    });
    var name = parts[0] || "devices";
    var fn = VIEWS[name];
    document.querySelectorAll("nav a[data-nav]").forEach(function (a) {
      var on = a.getAttribute("data-nav") === name || a.getAttribute("data-nav") + "s" === name || name + "s" === a.getAttribute("data-nav");
      a.className = on ? "on" : "";
    });
    if (!fn) { show([el("h1", { text: "Not found" }), msg("err", "There is no page \u201c" + name + "\u201d here.", "not-found")]); return; }
    fn(parts.slice(1), q);
  }
  window.addEventListener("hashchange", render);
  render();
})();
