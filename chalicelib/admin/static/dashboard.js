// The admin dashboard: reads the admin API every 2 s and renders it. Text from jobs (params,
// errors) only ever goes into textContent, never into HTML.
"use strict";
(function () {
  const BASE = document.body.dataset.base;
  const API = BASE + "/api";
  const KEY = "chalice-jobs-admin-token";
  const STATES = ["ACTIVE", "PENDING", "FUTURE", "RETRYING", "FAILED", "COMPLETED"];
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let timer = null;

  function takeTokenFromFragment() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function button(label, onClick, cls) {
    const b = el("button", label, cls);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function age(seconds) {
    if (!seconds) return "-";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m" + String(Math.floor(seconds % 60)).padStart(2, "0") + "s";
    return Math.floor(seconds / 3600) + "h" + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
  }

  function when(ts) {
    return ts ? new Date(ts * 1000).toLocaleString() : "-";
  }

  async function api(method, path) {
    const token = sessionStorage.getItem(KEY);
    const response = await fetch(API + path, {
      method, headers: { Authorization: "Bearer " + token }, cache: "no-store",
    });
    if (response.status === 401) {
      sessionStorage.removeItem(KEY);
      showLogin("That token was refused.");
      throw new Error("unauthorized");
    }
    const body = await response.json();
    if (!body.success) throw new Error(body.error || ("HTTP " + response.status));
    return body;
  }

  async function act(method, path, what) {
    try {
      await api(method, path);
      setStatus(what);
    } catch (error) {
      setStatus(what + " failed: " + error.message);
    }
    refresh();
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  function replaceRows(tbody, rows, columns, emptyText) {
    tbody.replaceChildren(...rows);
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", emptyText, "empty");
      td.colSpan = columns;
      tr.append(td);
      tbody.append(tr);
    }
  }

  function renderQueues(queues) {
    const rows = queues.map((q) => {
      const tr = el("tr");
      tr.id = "queue-" + q.name;
      tr.dataset.queue = q.name;
      tr.append(el("td", q.name));
      for (const state of STATES) {
        const td = el("td", q.counts[state], "num");
        td.dataset.state = state;
        tr.append(td);
      }
      tr.append(el("td", q.processed_today + " / " + q.failed_today + " failed", "num"));
      tr.append(el("td", age(q.oldest_pending_s), "num"));
      tr.append(el("td", q.paused ? "paused" : "running", q.paused ? "paused" : ""));
      const actions = el("td");
      const path = "/queues/" + encodeURIComponent(q.name);
      actions.append(q.paused
        ? button("Resume", () => act("POST", path + "/resume", "resumed " + q.name))
        : button("Pause", () => act("POST", path + "/pause", "paused " + q.name)));
      if (q.counts.FAILED) {
        actions.append(" ", button("Retry all failed", () => act("POST", path + "/retry-failed", "retried the failed jobs of " + q.name)));
      }
      tr.append(actions);
      return tr;
    });
    replaceRows($("queues").tBodies[0], rows, 11, "no queues yet");
    const select = $("history-queue");
    const chosen = select.value;
    select.replaceChildren(...queues.map((q) => { const o = el("option", q.name); o.value = q.name; return o; }));
    if (queues.some((q) => q.name === chosen)) select.value = chosen;
  }

  function renderFailed(jobs) {
    const rows = jobs.map((job) => {
      const tr = el("tr");
      tr.dataset.jobId = job.id;
      tr.append(el("td", job.id, "mono"));
      tr.append(el("td", job.type));
      tr.append(el("td", JSON.stringify(job.params), "params"));
      const errors = job.errors && job.errors.length ? job.errors : [job.error || ""];
      tr.append(el("td", errors.join("\n"), "error"));
      tr.append(el("td", when(job.completed_at)));
      const actions = el("td");
      const path = "/jobs/" + encodeURIComponent(job.id);
      actions.append(
        button("Retry", () => act("POST", path + "/retry", "retried " + job.id)), " ",
        button("Delete", () => { if (confirm("Delete " + job.id + "?")) act("DELETE", path, "deleted " + job.id); }, "danger"),
      );
      tr.append(actions);
      return tr;
    });
    replaceRows($("failed").tBodies[0], rows, 6, "no failed jobs");
  }

  function renderWorkers(workers) {
    const rows = workers.map((w) => {
      const tr = el("tr");
      for (const value of [w.id, w.host, w.pid, w.queues.join(", "), w.running, w.concurrency, when(w.started_at), when(w.last_seen)]) {
        tr.append(el("td", value));
      }
      return tr;
    });
    replaceRows($("workers").tBodies[0], rows, 8, "no live workers");
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderChart(days) {
    const width = 720, height = 180, bottom = 20, top = 30;
    const most = Math.max(1, ...days.map((d) => d.processed));
    const slot = width / Math.max(1, days.length);
    const bar = Math.max(2, slot / 2 - 4);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "processed and failed per day" });
    days.forEach((d, i) => {
      const x = i * slot + 4;
      const scale = (n) => (n / most) * (height - bottom - top);
      const p = scale(d.processed), f = scale(d.failed);
      chart.append(svg("rect", { class: "processed", x, y: height - bottom - p, width: bar, height: p }, undefined));
      chart.append(svg("rect", { class: "failed", x: x + bar + 2, y: height - bottom - f, width: bar, height: f }, undefined));
      chart.lastChild.append(svg("title", {}, d.failed + " failed"));
      chart.append(svg("text", { x, y: height - 6 }, d.date.slice(5)));
      chart.append(svg("text", { x, y: height - bottom - p - 2 }, String(d.processed)));
    });
    chart.append(svg("rect", { class: "processed", x: 4, y: 2, width: 10, height: 10 }));
    chart.append(svg("text", { x: 18, y: 11 }, "processed"));
    chart.append(svg("rect", { class: "failed", x: 80, y: 2, width: 10, height: 10 }));
    chart.append(svg("text", { x: 94, y: 11 }, "failed"));
    $("chart").replaceChildren(chart);
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [{ queues }, { workers }] = await Promise.all([api("GET", "/queues"), api("GET", "/workers")]);
      renderQueues(queues);
      renderWorkers(workers);
      const failed = await Promise.all(queues.filter((q) => q.counts.FAILED).map((q) =>
        api("GET", "/queues/" + encodeURIComponent(q.name) + "/jobs?state=FAILED&limit=20")));
      renderFailed(failed.flatMap((page) => page.jobs));
      const chosen = $("history-queue").value;
      if (chosen) renderChart((await api("GET", "/queues/" + encodeURIComponent(chosen) + "/history?days=14")).history);
      $("main").dataset.refreshed = String(Date.now());
      if (!/failed:/.test($("status").textContent)) setStatus("updated " + new Date().toLocaleTimeString());
    } catch (error) {
      if (error.message === "unauthorized") return;
      setStatus("cannot refresh: " + error.message);
    }
    timer = setTimeout(refresh, 2000);
  }

  function showLogin(message) {
    clearTimeout(timer);
    $("main").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    setStatus(message || "");
  }

  function start() {
    $("login").hidden = true;
    $("main").hidden = false;
    $("forget").hidden = false;
    refresh();
  }

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin("Token forgotten."); });
  $("history-queue").addEventListener("change", refresh);

  takeTokenFromFragment();
  if (sessionStorage.getItem(KEY)) start(); else showLogin();
})();
