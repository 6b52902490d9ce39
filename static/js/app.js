/* SyncDub pages: everything here talks to the JSON API (/api/...), like curl would. */
(function () {
  "use strict";
  const T = (window.SYNCDUB && window.SYNCDUB.t) || {};
  const LANG = (window.SYNCDUB && window.SYNCDUB.lang) || "en";
  const t = (k) => T[k] || k;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const STAGES = ["probe", "extract", "audio_anchors", "speech_anchors", "fit", "render", "mux", "report"];
  const POLL_MS = 1000;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  async function api(method, url, body) {
    const opts = {method, headers: {"Accept": "application/json", "X-CSRF-Token": csrf()},
                  credentials: "same-origin"};
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(url, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error((data && data.message) || r.statusText || ("HTTP " + r.status));
      err.status = r.status; err.data = data;
      throw err;
    }
    return data;
  }

  function fmtSize(n) {
    if (n === null || n === undefined) return "";
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function fmtDate(s) { return s ? new Date(s).toLocaleString(LANG) : ""; }
  function fmtSec(s) {
    if (s === null || s === undefined) return "–";
    const sign = s < 0 ? "−" : "+";
    return sign + Math.abs(s).toFixed(3) + " s";
  }
  function setBar(box, pct, text) {
    if (!box) return;
    const bar = box.querySelector(".progress-bar");
    const v = Math.max(0, Math.min(100, pct));
    bar.style.width = v + "%";
    bar.textContent = text !== undefined ? text : (Math.round(v) + " %");
    box.setAttribute("aria-valuenow", String(Math.round(v)));
  }
  function statusClass(s) {
    return {queued: "secondary", processing: "info", completed: "success",
            failed: "danger", cancelled: "warning"}[s] || "secondary";
  }
  // A task's badge: "completed with warnings" (several dubs, some not written) is its own.
  function jobBadge(job) {
    const warn = job.status === "completed" && (job.warnings || []).length > 0;
    return {cls: warn ? "warning" : statusClass(job.status), text: t(warn ? "status.completed_warnings" : "status." + job.status)};
  }
  function dubNames(job) { return (job.dubbed_names || [job.dubbed_name]).join(", "); }
  // The range of a map's segment offsets, least to greatest (a middle segment may sit
  // below both ends); older tasks only have the first and last.
  function offsetRange(m) {
    const lo = m.offset_min_s ?? m.offset_first_s, hi = m.offset_max_s ?? m.offset_last_s;
    if (lo === undefined || lo === null) return "–";
    return lo === hi ? fmtSec(lo) : fmtSec(lo) + " … " + fmtSec(hi);
  }
  function stageLabel(job) { return t("stage." + job.stage) !== "stage." + job.stage ? t("stage." + job.stage) : job.stage; }
  function plainError(job) {
    const key = "err." + (job.error_code || "generic");
    return T[key] || t("err.generic");
  }

  // ---- home --------------------------------------------------------------------------
  async function home() {
    try {
      const h = await api("GET", "/api/health");
      const icon = h.status === "ok" ? "bi-check-circle-fill text-success"
        : h.status === "degraded" ? "bi-exclamation-circle-fill text-warning" : "bi-x-circle-fill text-danger";
      $("#health-state").replaceChildren(el("i", {class: "bi " + icon}), " " + t("health." + h.status));
      const d = h.checks.disk.output;
      $("#health-detail").textContent = d ? fmtSize(d.free_bytes) + " " + t("health.free") : "";
    } catch (e) { $("#health-state").textContent = e.message; }
    try {
      const m = await api("GET", "/api/media/status");
      const txt = !m.enabled ? t("media.disabled") : m.available ? t("media.available") : t("media.unavailable");
      const icon = m.available ? "bi-check-lg text-success" : "bi-dash-circle text-secondary";
      $("#media-state").replaceChildren(el("i", {class: "bi " + icon}), " " + txt);
    } catch (e) { $("#media-state").textContent = e.message; }
  }

  // ---- resumable upload of one file -----------------------------------------------------
  function putChunk(url, blob, start, total, onProgress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open("PUT", url);
      x.setRequestHeader("Content-Range", "bytes " + start + "-" + (start + blob.size - 1) + "/" + total);
      x.setRequestHeader("Content-Type", "application/octet-stream");
      x.setRequestHeader("X-CSRF-Token", csrf());
      x.upload.onprogress = (ev) => onProgress(ev.loaded);
      x.onload = () => {
        let data = null;
        try { data = JSON.parse(x.responseText); } catch (e) { data = null; }
        if (x.status >= 200 && x.status < 300) resolve(data);
        else { const err = new Error((data && data.message) || ("HTTP " + x.status)); err.status = x.status; err.data = data; reject(err); }
      };
      x.onerror = () => { const err = new Error("network error"); err.status = 0; reject(err); };
      x.send(blob);
    });
  }

  async function uploadFile(file, progressBox, note) {
    const key = "syncdub-upload:" + [file.name, file.size, file.lastModified].join(":");
    let info = null;
    const saved = localStorage.getItem(key);
    if (saved) {
      try { info = await api("GET", "/api/uploads/" + saved); } catch (e) { info = null; }
    }
    if (!info) {
      info = await api("POST", "/api/uploads", {filename: file.name, size: file.size});
      localStorage.setItem(key, info.upload_id);
    }
    const url = "/api/uploads/" + info.upload_id;
    let offset = info.offset;
    let failures = 0;
    progressBox.classList.remove("d-none");
    while (offset < file.size) {
      const end = Math.min(file.size, offset + info.chunk_size);
      try {
        const r = await putChunk(url, file.slice(offset, end), offset, file.size,
          (loaded) => setBar(progressBox, 100 * (offset + loaded) / file.size));
        offset = r.offset;
        failures = 0;
        note.textContent = t("up.uploading") + " " + fmtSize(offset) + " / " + fmtSize(file.size);
      } catch (e) {
        if (e.status && e.status !== 409 && e.status < 500) throw e;  // a real refusal
        failures += 1;
        if (failures > 8) throw e;
        note.textContent = t("up.resuming") + "…";
        await new Promise((r) => setTimeout(r, Math.min(15000, 500 * 2 ** failures)));
        try { offset = (await api("GET", url)).offset; } catch (e2) { /* retry later */ }
      }
      setBar(progressBox, 100 * offset / file.size);
    }
    const done = await api("POST", url + "/finish");
    localStorage.removeItem(key);
    const bar = progressBox.querySelector(".progress-bar");
    bar.classList.remove("progress-bar-animated", "progress-bar-striped");
    bar.classList.add("bg-success");
    setBar(progressBox, 100);
    note.textContent = t("up.done") + " · " + fmtSize(file.size);
    return done.upload_id;
  }

  // ---- the media folder picker (upload page, new-batch page) -------------------------------
  // A listing of /api/media/list shown around #nfs-list: where it is (data-path, -parent),
  // the Up button, the folder's state badge and the breadcrumbs, each opening `browse`.
  function showListing(data, browse) {
    const list = $("#nfs-list");
    list.dataset.path = data.path;
    list.dataset.parent = data.parent === null ? "" : data.parent;
    $("#nfs-up").disabled = data.parent === null;
    $("#media-badge").className = "badge text-bg-success";
    $("#media-badge").textContent = t("media.available");
    const go = (p) => (e) => { e.preventDefault(); browse(p); };
    const crumbs = $("#crumbs");
    crumbs.replaceChildren(el("li", {class: "breadcrumb-item"},
      el("a", {href: "#", "aria-label": "/", onclick: go("")}, el("i", {class: "bi bi-hdd"}))));
    data.breadcrumbs.forEach((c, i) => {
      const last = i === data.breadcrumbs.length - 1;
      crumbs.append(el("li", {class: "breadcrumb-item" + (last ? " active" : ""), "aria-current": last ? "location" : null},
        last ? c.name : el("a", {href: "#", onclick: go(c.path)}, c.name)));
    });
  }

  // ---- upload page -----------------------------------------------------------------------
  function uploadPage() {
    const form = $("#sync-form");
    const errBox = $("#form-error");
    const submit = $("#submit-btn");
    const chosen = {original: null, dubbed: []};   // media folder: one original, 1+ dubs
    let mode = "local";
    let extraDubs = 0;                                // local: further dub rows made so far

    function showError(msg) { errBox.textContent = msg; errBox.classList.toggle("d-none", !msg); }
    function setMode(m) {
      mode = m;
      $("#local-panel").classList.toggle("d-none", m !== "local");
      $("#nfs-panel").classList.toggle("d-none", m !== "nfs");
      submit.querySelector("span").textContent = submit.dataset["label" + (m === "local" ? "Local" : "Nfs")];
      submit.classList.toggle("btn-primary", m === "local");
      submit.classList.toggle("btn-success", m === "nfs");
      if (m === "nfs" && form.dataset.mediaEnabled === "true" && !$("#nfs-list").dataset.loaded) browse("");
    }
    document.querySelectorAll('input[name="source"]').forEach((r) => r.addEventListener("change", () => setMode(r.value)));

    function toast(msg) {
      const box = $("#toast");
      box.querySelector(".toast-body").textContent = msg;
      window.bootstrap ? bootstrap.Toast.getOrCreateInstance(box, {delay: 2500}).show() : null;
    }
    function choiceLine(entry, remove) {
      return el("div", {class: "nfs-choice"}, el("i", {class: "bi bi-film"}), " " + entry.name + " ",
        el("button", {type: "button", class: "btn btn-sm btn-outline-danger py-0", "aria-label": "× " + entry.name,
          onclick: remove}, "×"));
    }
    function showChoice(role) {
      const box = $("#nfs-" + role);
      const picked = role === "original" ? (chosen.original ? [chosen.original] : []) : chosen.dubbed;
      if (!picked.length) { box.textContent = box.dataset.empty; return; }
      box.replaceChildren(...picked.map((entry) => choiceLine(entry, () => {
        if (role === "original") chosen.original = null;
        else chosen.dubbed = chosen.dubbed.filter((d) => d !== entry);
        showChoice(role);
      })));
    }
    // The media folder: "use as dubbed" adds a dub (several dubs go onto the one original).
    function choose(role, entry) {
      if (role === "original") { chosen.original = entry; return true; }
      if (chosen.dubbed.some((d) => d.path === entry.path)) return false;
      const max = Number($("#nfs-dubbed").dataset.max || 8);
      if (chosen.dubbed.length >= max) { showError(t("up.too_many_dubs").replace("{n}", max)); return false; }
      chosen.dubbed.push(entry);
      return true;
    }
    // Local files: a further dub row (file input, its upload bar and note, a remove button).
    function addDubRow() {
      const box = $("#more-dubs"), max = Number($("#add-dub").dataset.max || 8);
      if (box.children.length + 1 >= max) return;
      extraDubs += 1;
      const id = "dubbed" + (extraDubs + 1);
      const label = box.dataset.label + " " + (box.children.length + 2);
      const input = el("input", {class: "form-control", type: "file", id: id + "-file",
        accept: $("#dubbed-file").getAttribute("accept"), "aria-label": label});
      const row = el("div", {class: "more-dub mt-3", "data-id": id},
        el("div", {class: "d-flex align-items-center gap-2"},
          el("label", {class: "form-label fw-semibold mb-1 flex-grow-1", for: id + "-file", text: label}),
          el("button", {type: "button", class: "btn btn-sm btn-outline-danger py-0", "aria-label": box.dataset.remove + " " + label,
            onclick: () => { row.remove(); $("#add-dub").disabled = false; }}, "×")),
        input,
        el("div", {class: "progress mt-2 d-none", role: "progressbar", id: id + "-progress", "aria-label": label,
          "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", style: "height: 1.25rem"},
          el("div", {class: "progress-bar progress-bar-striped progress-bar-animated", style: "width: 0%"}, "0 %")),
        el("div", {class: "small text-body-secondary mt-1", id: id + "-upload-note"}));
      box.append(row);
      $("#add-dub").disabled = box.children.length + 1 >= max;
      input.focus();
    }
    if ($("#add-dub")) $("#add-dub").addEventListener("click", addDubRow);
    // Every local dub chosen, in order: [file, its bar, its note].
    function localDubs() {
      const rows = [["dubbed"], ...Array.from(document.querySelectorAll("#more-dubs .more-dub")).map((r) => [r.dataset.id])];
      return rows.map(([id]) => [$("#" + id + "-file").files[0], $("#" + id + "-progress"), $("#" + id + "-upload-note")])
        .filter(([f]) => f);
    }
    async function browse(path) {
      const list = $("#nfs-list");
      try {
        const data = await api("GET", "/api/media/list?path=" + encodeURIComponent(path));
        list.dataset.loaded = "1";
        showListing(data, browse);
        list.replaceChildren();
        if (!data.entries.length) list.append(el("div", {class: "list-group-item text-body-secondary", text: t("up.empty")}));
        for (const entry of data.entries) {
          if (entry.type === "directory") {
            // the whole row opens the folder (its button is the keyboard's way in)
            list.append(el("div", {class: "list-group-item list-group-item-action d-flex align-items-center gap-2 folder-row",
                                   onclick: (e) => { if (!e.target.closest("button")) browse(entry.path); }},
              el("i", {class: "bi bi-folder-fill text-warning"}),
              el("div", {class: "flex-grow-1 text-break"}, el("div", {class: "fw-semibold", text: entry.name}),
                el("div", {class: "small text-body-secondary", text: entry.items + " " + t("up.items") + ", " + entry.videos + " " + t("up.videos")})),
              el("button", {type: "button", class: "btn btn-sm btn-outline-primary", onclick: () => browse(entry.path)}, document.querySelector("#nfs-panel").dataset.enter || "→")));
          } else {
            const pick = (role) => () => {
              if (!choose(role, entry)) return;
              showChoice(role);
              toast(t(role === "original" ? "up.chosen_original" : "up.chosen_dubbed") + ": " + entry.name);
            };
            list.append(el("div", {class: "list-group-item d-flex align-items-center gap-2", "data-path": entry.path},
              el("i", {class: "bi bi-film text-primary"}),
              el("div", {class: "flex-grow-1 text-break"}, el("div", {class: "fw-semibold", text: entry.name}),
                el("div", {class: "small text-body-secondary", text: fmtSize(entry.size)})),
              el("div", {class: "btn-group btn-group-sm"},
                el("button", {type: "button", class: "btn btn-primary pick-original", onclick: pick("original")}, t("up.as_original")),
                el("button", {type: "button", class: "btn btn-success pick-dubbed", onclick: pick("dubbed")}, t("up.as_dubbed")))));
          }
        }
      } catch (e) {
        $("#media-badge").className = "badge text-bg-danger";
        $("#media-badge").textContent = t("media.unavailable");
        list.replaceChildren(el("div", {class: "list-group-item text-danger", text: e.message}));
      }
    }
    if ($("#nfs-up")) {
      $("#nfs-up").addEventListener("click", () => browse($("#nfs-list").dataset.parent || ""));
      $("#nfs-refresh").addEventListener("click", () => browse($("#nfs-list").dataset.path || ""));
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("");
      const opts = {custom_name: $("#custom_name").value.trim(), mode: $("#mode").value, gap_fill: $("#gap_fill").value};
      submit.disabled = true;
      try {
        let body;
        if (mode === "local") {
          const o = $("#original-file").files[0], dubs = localDubs();
          if (!o || !$("#dubbed-file").files[0]) throw new Error(t("up.need_both"));
          const oid = await uploadFile(o, $("#original-progress"), $("#original-upload-note"));
          const ids = [];
          for (const [file, bar, note] of dubs) ids.push(await uploadFile(file, bar, note));
          body = Object.assign(ids.length > 1 ? {original_upload: oid, dubbed_uploads: ids}
            : {original_upload: oid, dubbed_upload: ids[0]}, opts);
        } else {
          if (!chosen.original || !chosen.dubbed.length) throw new Error(t("up.need_both"));
          const paths = chosen.dubbed.map((d) => d.path);
          body = Object.assign(paths.length > 1 ? {original_path: chosen.original.path, dubbed_paths: paths}
            : {original_path: chosen.original.path, dubbed_path: paths[0]}, opts);
        }
        submit.querySelector("span").textContent = t("up.starting") + "…";
        const r = await api("POST", "/api/sync", body);
        window.location.href = "/tasks/" + encodeURIComponent(r.task_id);
      } catch (e) {
        showError(e.message);
        submit.disabled = false;
        setMode(mode);
      }
    });
    setMode("local");
  }

  // ---- task list ---------------------------------------------------------------------------
  function taskCard(job) {
    const pct = job.status === "completed" ? 100 : job.progress;
    const bar = el("div", {class: "progress", role: "progressbar", "aria-valuenow": String(Math.round(pct)), "aria-valuemin": "0", "aria-valuemax": "100", style: "height: 1.1rem"},
      el("div", {class: "progress-bar bg-" + statusClass(job.status) + (job.status === "processing" ? " progress-bar-striped progress-bar-animated" : ""), style: "width:" + pct + "%", text: Math.round(pct) + " %"}));
    const line = job.status === "failed" ? plainError(job) : job.status === "completed" && job.result
      ? t("task.confidence") + ": " + Math.round(100 * job.result.confidence) + " % · " + (job.result.output || "")
      : stageLabel(job) + (job.message && job.status === "processing" ? " · " + job.message : "");
    return el("a", {href: "/tasks/" + job.task_id, class: "card card-body text-decoration-none text-body border-" + statusClass(job.status) + " task-card", "data-task-id": job.task_id},
      el("div", {class: "row align-items-center g-2"},
        el("div", {class: "col-md-7"},
          el("div", {}, job.status === "processing" ? el("span", {class: "spinner-border spinner-border-sm text-info me-1"}) : null,
            el("span", {class: "fw-semibold", text: job.original_name}), " ",
            el("span", {class: "badge text-bg-" + jobBadge(job).cls, text: jobBadge(job).text})),
          el("div", {class: "small text-body-secondary text-truncate", text: "+ " + dubNames(job)}),
          el("div", {class: "small", text: line}),
          el("div", {class: "small text-body-secondary"}, el("i", {class: "bi bi-clock"}), " " + fmtDate(job.created_at))),
        el("div", {class: "col-md-5"}, bar)));
  }

  function tasksPage() {
    let timer = null;
    async function refresh() {
      clearTimeout(timer);
      try {
        const data = await api("GET", "/api/tasks");
        $("#task-list").replaceChildren(...data.tasks.map(taskCard));
        $("#tasks-empty").classList.toggle("d-none", data.tasks.length > 0);
        const active = data.tasks.some((j) => j.status === "queued" || j.status === "processing");
        timer = setTimeout(refresh, active ? POLL_MS * 2 : 10000);
      } catch (e) {
        $("#task-list").replaceChildren(el("div", {class: "text-danger", text: e.message}));
        timer = setTimeout(refresh, 5000);
      }
    }
    $("#tasks-refresh").addEventListener("click", refresh);
    refresh();
  }

  // ---- one task ------------------------------------------------------------------------------
  function taskPage() {
    const root = $("#task");
    const id = root.dataset.taskId;
    let reportShown = false;
    let timer = null;

    function renderStages(job) {
      const list = $("#stages");
      const cur = STAGES.indexOf(job.stage);
      const done = job.status === "completed";
      list.replaceChildren(...STAGES.map((s, i) => {
        let cls = "text-bg-light text-body-secondary", icon = "bi-circle";
        if (done || (cur >= 0 && i < cur)) { cls = "text-bg-success"; icon = "bi-check-circle"; }
        else if (i === cur && job.status === "processing") { cls = "text-bg-info"; icon = "bi-arrow-repeat"; }
        else if (i === cur && job.status === "failed") { cls = "text-bg-danger"; icon = "bi-x-circle"; }
        return el("li", {class: "badge rounded-pill " + cls, "data-stage": s}, el("i", {class: "bi " + icon}), " " + t("stage." + s));
      }));
    }

    function dl(box, rows) {
      box.replaceChildren();
      for (const [k, v] of rows) box.append(el("dt", {class: "col-6 fw-normal text-body-secondary", text: k}), el("dd", {class: "col-6 mb-1", text: v}));
    }

    async function showReport(job) {
      reportShown = true;
      $("#picture-box").classList.remove("d-none");
      $("#offset-picture").src = "/api/report/" + id + "/offset.svg?lang=" + LANG + "&v=" + encodeURIComponent(job.finished_at || "");
      $("#report-link").href = "/api/report/" + id;
      try {
        const rep = await api("GET", "/api/report/" + id);
        const pairs = rep.phrase_pairs || [];
        $("#pairs-box").classList.remove("d-none");
        $("#pairs-none").classList.toggle("d-none", pairs.length > 0);
        $("#pairs-none").textContent = t("pairs.none");
        $("#pairs-table").classList.toggle("d-none", !pairs.length);
        $("#pairs-table tbody").replaceChildren(...pairs.slice(0, 200).map((p) => el("tr", {},
          el("td", {class: "text-nowrap text-body-secondary", text: Number(p.orig_start).toFixed(1) + " s"}),
          el("td", {text: p.orig_text}),
          el("td", {class: "text-nowrap text-body-secondary", text: Number(p.dub_start).toFixed(1) + " s"}),
          el("td", {text: p.dub_text}),
          el("td", {class: "text-end", text: p.similarity !== undefined ? Number(p.similarity).toFixed(2) : ""}))));
      } catch (e) { /* the picture is enough */ }
    }

    // The Listen card: a clip at every edge of the map and inside long segments
    // (GET /api/tasks/<id>/points, /clips/<point>?kind=...&track=...).
    let listenShown = false;
    const KINDS = ["both", "original", "dub", "mix"];
    function fill(key, vals) { return t(key).replace(/\{(\w+)\}/g, (m, k) => (k in vals ? vals[k] : m)); }
    function hms(s) {
      const n = Math.max(0, Math.floor(s));
      return Math.floor(n / 3600) + ":" + String(Math.floor(n / 60) % 60).padStart(2, "0") + ":" + String(n % 60).padStart(2, "0");
    }
    // h:mm:ss.s, for the stretches a label names (a 1.5 s insert is not "0:00–0:01")
    function hmsTenths(s) {
      const n = Math.max(0, Math.floor(s * 10 + 1e-6));
      return hms(n / 10) + "." + (n % 10);
    }
    function pointText(p) {
      const d = p.detail || {};
      if (p.kind === "cut") {
        const v = {from: hmsTenths(d.start), to: hmsTenths(d.end), len: Number(d.length).toFixed(1)};
        return fill(d.at === "start" ? "listen.cut_start" : d.at === "end" ? "listen.cut_end" : "listen.cut_middle", v);
      }
      if (p.kind === "insert") return fill("listen.insert", {from: hmsTenths(d.dub_start), to: hmsTenths(d.dub_end), len: Number(d.length).toFixed(1)});
      if (p.kind === "edge") return fill("listen.edge", {a: fmtSec(d.offset_before), b: fmtSec(d.offset_after)}) +
        (Math.abs(d.speed_after - d.speed_before) > 1e-6 ? "; " + fill("listen.speed", {s: Number(d.speed_after).toFixed(5)}) : "");
      if (p.kind === "inside") return fill("listen.inside", {a: fmtSec(d.offset)}) +
        (Math.abs((d.speed || 1) - 1) > 1e-6 ? ", " + fill("listen.speed", {s: Number(d.speed).toFixed(5)}) : "");
      return p.label;
    }
    function pointRow(p, track) {
      const when = hms(p.t);
      const url = (kind) => "/api/tasks/" + id + "/clips/" + encodeURIComponent(p.id) + "?kind=" + kind + "&track=" + track;
      const audio = el("audio", {controls: "", preload: "none", src: url("both"), class: "listen-audio d-block",
                                 "data-point": p.id, "aria-label": fill("listen.player", {t: when, kind: t("listen.kind.both")})});
      const choice = el("div", {class: "btn-group btn-group-sm text-nowrap mb-1", role: "group", "aria-label": fill("listen.choice", {t: when})},
        ...KINDS.flatMap((k) => {
          const rid = "listen-" + p.id + "-" + k;
          return [el("input", {type: "radio", class: "btn-check", name: "listen-" + p.id, id: rid, value: k, checked: k === "both",
                               onchange: () => { audio.pause(); audio.src = url(k); audio.setAttribute("aria-label", fill("listen.player", {t: when, kind: t("listen.kind." + k)})); }}),
                  el("label", {class: "btn btn-outline-secondary", for: rid, text: t("listen.kind." + k)})];
        }));
      const c = Math.round(100 * (p.confidence || 0));
      const level = c >= 80 ? "success" : c >= 60 ? "warning" : "danger";
      return el("tr", {"data-point": p.id, "data-kind": p.kind},
        el("td", {class: "text-nowrap font-monospace", text: when}),
        el("td", {}, el("span", {class: "badge text-bg-light border me-1", text: t("listen.point." + p.kind)}), pointText(p)),
        el("td", {class: "text-end text-nowrap"}, el("span", {class: "badge text-bg-" + level, text: c + " %"})),
        el("td", {class: "listen-player"}, choice, audio));
    }
    async function loadPoints(track) {
      try {
        const data = await api("GET", "/api/tasks/" + id + "/points?track=" + track);
        const points = data.points || [];
        $("#listen-none").classList.toggle("d-none", points.length > 0);
        $("#listen-none").textContent = t("listen.none");
        $("#listen-table").classList.toggle("d-none", !points.length);
        $("#listen-points").replaceChildren(...points.map((p) => pointRow(p, track)));
        const tracks = data.tracks || [];
        $("#listen-track-wrap").classList.toggle("d-none", tracks.length < 2);
        const sel = $("#listen-track");
        if (sel.options.length !== tracks.length) {
          sel.replaceChildren(...tracks.map((x) => el("option", {value: String(x.index), text: (x.index + 1) + ": " + (x.title || x.language || "")})));
        }
        sel.value = String(track);
      } catch (e) {
        $("#listen-none").classList.remove("d-none");
        $("#listen-none").textContent = t("listen.error") + " " + e.message;
        $("#listen-table").classList.add("d-none");
      }
    }
    function showListen() {
      listenShown = true;
      $("#listen-box").classList.remove("d-none");
      loadPoints(0);
    }
    $("#listen-track").addEventListener("change", (e) => loadPoints(Number(e.target.value) || 0));

    function render(job) {
      const badge = $("#status-badge");
      badge.className = "badge align-middle text-bg-" + jobBadge(job).cls;
      badge.textContent = jobBadge(job).text;
      $("#names").textContent = job.original_name + "  +  " + dubNames(job);
      $("#created").textContent = fmtDate(job.created_at);
      $("#finished-wrap").classList.toggle("d-none", !job.finished_at);
      $("#finished").textContent = fmtDate(job.finished_at);
      const pct = job.status === "completed" ? 100 : job.progress;
      const box = $("#task-progress");
      setBar(box, pct);
      const bar = box.querySelector(".progress-bar");
      bar.className = "progress-bar bg-" + statusClass(job.status) + (job.status === "processing" || job.status === "queued" ? " progress-bar-striped progress-bar-animated" : "");
      $("#stage-label").textContent = stageLabel(job);
      $("#stage-message").textContent = job.status === "processing" ? job.message || "" : "";
      renderStages(job);
      const active = job.status === "queued" || job.status === "processing";
      $("#btn-cancel").classList.toggle("d-none", !active);
      $("#btn-retry").classList.toggle("d-none", !(job.status === "failed" || job.status === "cancelled"));
      $("#btn-delete").classList.toggle("d-none", active);

      const failed = job.status === "failed";
      $("#failure").classList.toggle("d-none", !failed);
      if (failed) {
        $("#failure-title").textContent = plainError(job);
        $("#failure-detail").textContent = job.error || "";
        $("#failure-reasons").replaceChildren(...(job.reasons || []).map((r) => el("li", {text: r})));
        if (job.has_report && !reportShown) showReport(job);
      }
      if (job.status === "completed" && job.result) {
        const r = job.result;
        $("#result").classList.remove("d-none");
        const c = Math.round(100 * (r.confidence || 0));
        const level = c >= 80 ? "high" : c >= 60 ? "medium" : "low";
        $("#confidence").replaceChildren(c + " % ", el("small", {class: "fs-6 text-body-secondary", text: t("conf." + level)}));
        const cb = $("#confidence-bar");
        cb.style.width = c + "%";
        cb.className = "progress-bar bg-" + (level === "high" ? "success" : level === "medium" ? "warning" : "danger");
        $("#download").href = r.download_url;
        $("#download").classList.toggle("disabled", !r.output_exists);
        $("#output-name").textContent = r.output || "";
        const m = r.map || {};
        dl($("#map-summary"), [
          [t("map.offset"), offsetRange(m)],
          [t("map.speed"), r.speed ? Number(r.speed).toFixed(5) + "×" : "–"],
          [t("map.segments"), String(m.segments ?? "–")],
          [t("map.cuts"), String(m.cuts ?? "–")],
          [t("map.inserts"), String(m.inserts ?? "–")]]);
        const langs = m.languages || {};
        dl($("#languages"), [[t("lang.original"), langs.original || t("lang.unknown")], [t("lang.dubbed"), langs.dubbed || t("lang.unknown")]]);
        const warnings = job.warnings || [];
        $("#warnings-box").classList.toggle("d-none", !warnings.length);
        $("#warnings-list").replaceChildren(...warnings.map((x) => el("li", {text: x})));
        const dubs = m.dubs || [];
        $("#dubs-box").classList.toggle("d-none", !dubs.length);
        $("#dubs-table tbody").replaceChildren(...dubs.map((d) => el("tr", {class: d.accepted ? "" : "table-warning"},
          el("td", {class: "text-break dub-name", text: d.name}),
          el("td", {text: d.language || t("lang.unknown")}),
          // a refusal in a few words (its reasons are in the warnings above); another error whole
          el("td", {text: d.accepted ? t("task.dub_written") : t("task.dub_refused") + ": " +
            (d.error_code === "not_same_film" ? t("task.dub_not_same") : d.error || "")}),
          el("td", {class: "text-end text-nowrap", text: Math.round(100 * (d.confidence || 0)) + " %"}))));
        const reasons = job.reasons || [];
        $("#reasons-box").classList.toggle("d-none", !reasons.length);
        $("#result-reasons").replaceChildren(...reasons.map((x) => el("li", {text: x})));
        if (!reportShown) showReport(job);
        if (!listenShown && r.output_exists) showListen();
      }
      return active;
    }

    async function poll() {
      clearTimeout(timer);
      try {
        const job = await api("GET", "/api/status/" + id);
        if (render(job)) timer = setTimeout(poll, POLL_MS);
      } catch (e) {
        timer = setTimeout(poll, 3000);
      }
    }
    $("#btn-cancel").addEventListener("click", async () => { await api("DELETE", "/api/tasks/" + id).catch(() => null); poll(); });
    $("#btn-retry").addEventListener("click", async () => {
      reportShown = false;
      listenShown = false;
      ["#result", "#picture-box", "#pairs-box", "#listen-box"].forEach((s) => $(s).classList.add("d-none"));
      try { await api("POST", "/api/tasks/" + id + "/retry"); } catch (e) { alert(e.message); }
      poll();
    });
    $("#btn-delete").addEventListener("click", async () => {
      if (!confirm(t("task.confirm_delete"))) return;
      await api("DELETE", "/api/tasks/" + id);
      window.location.href = "/tasks";
    });
    poll();
  }

  // el, api and the formatters are shared with the batch pages (batch.js).
  window.SyncDub = {home, uploadPage, tasksPage, taskPage, api, el, fmtSize, fmtDate, showListing};
})();
