// The trio_otp observer page: renders each pushed view (server-sent events).
// Hand-written, no framework; every text goes in through textContent.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="observer-csrf"]').content;
  const actions = document.querySelector('meta[name="observer-actions"]').content === "on";
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function duration(s) {
    if (s === null || s === undefined) return "?";
    if (s < 60) return s.toFixed(0) + " s";
    if (s < 3600) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function say(text) { $("message").textContent = text; }

  async function post(path, body) {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Observer-CSRF": csrf },
      body: JSON.stringify(body),
    });
    say(path + ": " + r.status + " " + (await r.text()).trim());
  }

  function treeNode(n) {
    const name = el("span", { class: "node-name" }, n.label || "?");
    const li = el("li", { "data-pid": n.pid === null ? "" : n.pid, "data-name": n.label || "" }, name);
    if (n.pid !== null) li.append(" ", el("span", { class: "meta" }, "<0." + n.pid + "> " + (n.kind || "")));
    if (n.status !== "running") li.append(" ", el("span", { class: "status-down" }, "(" + n.status + ")"));
    const r = el("span", { class: "restarts" + (n.restarts ? " nonzero" : ""), "data-restarts": n.restarts, title: "restarts" }, n.restarts);
    li.append(" ↻ ", r);
    if (n.strategy) {
      const i = n.intensity;
      li.append(" ", el("span", { class: "meta" }, n.strategy + ", intensity " + i.used + "/" + i.max + " in " + i.seconds + " s"));
    }
    if (n.children.length || n.more) {
      const ul = el("ul");
      for (const c of n.children) ul.append(treeNode(c));
      if (n.more) ul.append(el("li", { class: "meta" }, "… and " + n.more + " more"));
      li.append(ul);
    }
    return li;
  }

  function chart(title, points, now, seconds) {
    const w = 260, h = 70, box = el("div", { class: "chart" });
    const total = points.reduce((a, p) => a + p[1], 0);
    box.append(el("div", { class: "title" }, title + " (" + total + " in " + Math.round(seconds / 60) + " min)"));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("data-series", title);
    const max = Math.max(1, ...points.map((p) => p[1]));
    const x = (t) => w - ((now - t) / seconds) * w;
    const y = (v) => h - 4 - (v / max) * (h - 12);
    let d = "M0," + y(0);
    let last = now - seconds;
    for (const [t, v] of points) {
      if (t - last > 1) d += " L" + x(last + 1).toFixed(1) + "," + y(0) + " L" + x(t - 1).toFixed(1) + "," + y(0);
      d += " L" + x(t).toFixed(1) + "," + y(v).toFixed(1);
      last = t;
    }
    d += " L" + x(Math.max(last + 1, now)).toFixed(1) + "," + y(0);
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d); path.setAttribute("fill", "none");
    path.setAttribute("stroke", "#2a6fdb"); path.setAttribute("stroke-width", "1.5");
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", 4); label.setAttribute("y", 12); label.setAttribute("font-size", 10);
    label.textContent = "max " + max + "/s";
    svg.append(path, label);
    box.append(svg);
    return box;
  }

  async function showHistory(queue, id) {
    const r = await fetch("/api/jobs/" + encodeURIComponent(queue) + "/" + id, { credentials: "same-origin" });
    if (!r.ok) { say(await r.text()); return; }
    const data = await r.json();
    $("history").hidden = false;
    $("history-title").textContent = "Job " + queue + "#" + id + ": attempts";
    const ol = $("history-list"); ol.replaceChildren();
    for (const a of data.attempts) {
      ol.append(el("li", {}, a.kind + " (attempt " + a.attempt + ") at " + a.at.toFixed(1) + (a.error ? ": " + a.error : "")));
    }
  }

  function jobLink(queue, id, name) {
    const a = el("a", { href: "#", class: "job-link" }, name + "#" + id);
    a.addEventListener("click", (e) => { e.preventDefault(); showHistory(queue, id); });
    return a;
  }

  function queueView(q) {
    const div = el("div", { class: "queue", "data-queue": q.key });
    div.append(el("h3", {}, q.title));
    const counts = el("div", { class: "counts" });
    for (const [k, v] of Object.entries(q.counts)) counts.append(el("span", { "data-count": k }, k + ": " + v));
    div.append(counts);
    const running = el("ul", { class: "running" });
    for (const j of q.running) {
      const li = el("li", {}, jobLink(q.key, j.id, j.name), " attempt " + j.attempt + ", age " + duration(j.age));
      if (actions) {
        const b = el("button", { type: "button" }, "cancel");
        b.addEventListener("click", () => post("/api/jobs/cancel", { queue: q.key, job: j.id }));
        li.append(" ", b);
      }
      running.append(li);
    }
    div.append(el("div", {}, "Running:"), running);
    const failures = el("ul", { class: "failures" });
    for (const f of q.failures) {
      const li = el("li", { "data-job": f.id }, jobLink(q.key, f.id, f.name), " attempt " + f.attempt + ": " + (f.error || "?"));
      if (actions) {
        const b = el("button", { type: "button" }, "retry");
        b.addEventListener("click", () => post("/api/jobs/retry", { queue: q.key, job: f.id }));
        li.append(" ", b);
      }
      failures.append(li);
    }
    div.append(el("div", {}, "Recent failures:"), failures);
    return div;
  }

  function processRow(p, names) {
    const rel = [];
    if (p.links.length) rel.push("links " + p.links.map((i) => names[i] || "0." + i).join(", "));
    if (p.monitors.length) rel.push("monitors " + p.monitors.map((i) => names[i] || "0." + i).join(", "));
    if (p.monitored_by.length) rel.push("monitored by " + p.monitored_by.map((i) => names[i] || "0." + i).join(", "));
    const tr = el("tr", { "data-pid": p.pid, "data-name": p.label },
      el("td", {}, "0." + p.pid), el("td", {}, p.name || ""), el("td", {}, p.class),
      el("td", { class: "state" }, p.status === null ? "" : p.status),
      el("td", { class: "mailbox" }, p.mailbox),
      el("td", { class: "handled" }, p.handled === null ? "" : p.handled),
      el("td", { class: "restarts", "data-restarts": p.restarts }, p.restarts),
      el("td", {}, (p.uptime_at_least ? "≥ " : "") + duration(p.uptime)),
      el("td", {}, rel.join("; ")),
      el("td", {}, p.steps ? (100 * p.cpu_share).toFixed(1) + " % (" + p.steps + " steps)" : ""));
    const cell = el("td");
    if (actions) {
      const b = el("button", { type: "button", class: "kill" }, "kill");
      b.addEventListener("click", () => { if (confirm("Kill " + p.label + "?")) post("/api/kill", { pid: p.pid }); });
      cell.append(b);
    }
    tr.append(cell);
    return tr;
  }

  function render(view) {
    $("tree").replaceChildren(...view.tree.map(treeNode));
    const names = {};
    for (const p of view.processes) names[p.pid] = p.label;
    $("processes").tBodies[0].replaceChildren(...view.processes.map((p) => processRow(p, names)));
    $("process-count").textContent = "(" + view.process_count + ")";
    $("summary").textContent = view.process_count + " processes, observed for " + duration(view.now - view.observed_since);
    $("actions-flag").textContent = actions ? "actions on" : "read-only";
    const s = view.scheduler;
    $("scheduler").textContent = s.window
      ? "Scheduler share: sampled " + s.sample_for + " s every " + s.sample_every + " s; outside processes " + (100 * s.other_share).toFixed(1) + " %"
      : "Scheduler share: first sample in " + s.sample_every + " s";
    const c = view.charts;
    const titles = { calls: "calls", restarts: "restarts", jobs_done: "jobs done", jobs_failed: "jobs failed" };
    $("charts").replaceChildren(...Object.entries(c.series).map(([k, pts]) => chart(titles[k] || k, pts, c.now, c.seconds)));
    $("queues").replaceChildren(...(view.queues.length ? view.queues.map(queueView) : [el("p", { class: "meta" }, "no job queue running")]));
  }

  function connect() {
    const source = new EventSource("/api/events");
    source.addEventListener("snapshot", (e) => {
      $("connection").textContent = "live"; $("connection").className = "on";
      render(JSON.parse(e.data));
    });
    source.addEventListener("bye", () => {
      $("connection").textContent = "observer stopped"; $("connection").className = "off"; source.close();
    });
    source.onerror = () => { $("connection").textContent = "reconnecting…"; $("connection").className = "off"; };
  }
  connect();
})();
