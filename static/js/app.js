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
  // a nudge in milliseconds, signed ("+200 ms", "−10 ms")
  function fmtMs(ms) { return (ms < 0 ? "−" : "+") + Math.abs(Math.round(ms)) + " ms"; }
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
    let shownVersion = null;   // the output version the page shows (Correct card)
    let pollGrace = 0;         // poll until then even when the task is not running
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
    // One Listen row: its point, audio element and the kind chosen. A point inside a
    // segment whose offset is being corrected plays a preview of that change (shift_ms).
    let listenRows = [];
    function setClip(row, force) {
      const shift = row.kind === "original" ? 0 : previewShift(row.p.t);
      const src = "/api/tasks/" + id + "/clips/" + encodeURIComponent(row.p.id) + "?kind=" + row.kind +
        "&track=" + row.track + (shift ? "&shift_ms=" + shift : "");
      if (!force && row.audio.getAttribute("src") === src) return;
      row.audio.pause();
      row.audio.setAttribute("src", src);
      const preview = shift ? fill("listen.preview", {d: fmtMs(shift)}) : "";
      row.audio.setAttribute("aria-label", fill("listen.player", {t: row.when, kind: t("listen.kind." + row.kind)}) +
        (preview ? " (" + preview + ")" : ""));
      row.note.textContent = preview;
      row.note.classList.toggle("d-none", !preview);
    }
    function refreshClips() { listenRows.forEach((row) => setClip(row, false)); }
    function pointRow(p, track) {
      const when = hms(p.t);
      const audio = el("audio", {controls: "", preload: "none", class: "listen-audio d-block", "data-point": p.id});
      const note = el("span", {class: "badge text-bg-warning listen-preview d-none"});
      const row = {p, track, when, audio, note, kind: "both"};
      listenRows.push(row);
      setClip(row, true);
      const choice = el("div", {class: "btn-group btn-group-sm text-nowrap mb-1", role: "group", "aria-label": fill("listen.choice", {t: when})},
        ...KINDS.flatMap((k) => {
          const rid = "listen-" + p.id + "-" + k;
          return [el("input", {type: "radio", class: "btn-check", name: "listen-" + p.id, id: rid, value: k, checked: k === "both",
                               onchange: () => { row.kind = k; setClip(row, true); }}),
                  el("label", {class: "btn btn-outline-secondary", for: rid, text: t("listen.kind." + k)})];
        }));
      const c = Math.round(100 * (p.confidence || 0));
      const level = c >= 80 ? "success" : c >= 60 ? "warning" : "danger";
      return el("tr", {"data-point": p.id, "data-kind": p.kind},
        el("td", {class: "text-nowrap font-monospace", text: when}),
        el("td", {}, el("span", {class: "badge text-bg-light border me-1", text: t("listen.point." + p.kind)}), pointText(p)),
        el("td", {class: "text-end text-nowrap"}, el("span", {class: "badge text-bg-" + level, text: c + " %"})),
        el("td", {class: "listen-player"}, choice, audio, note));
    }
    async function loadPoints(track) {
      try {
        const data = await api("GET", "/api/tasks/" + id + "/points?track=" + track);
        const points = data.points || [];
        $("#listen-none").classList.toggle("d-none", points.length > 0);
        $("#listen-none").textContent = t("listen.none");
        $("#listen-table").classList.toggle("d-none", !points.length);
        listenRows = [];
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
      listenRows = [];
      $("#listen-points").replaceChildren();      // another version's points are not these
      $("#listen-box").classList.remove("d-none");
      loadPoints(0);
    }
    $("#listen-track").addEventListener("change", (e) => loadPoints(Number(e.target.value) || 0));

    // The Correct card: the map of the current version (GET /api/tasks/<id>/map), each
    // segment's offset nudged or typed, the edges between segments moved on the dub's
    // timeline; Apply PUTs the edited map and the task renders it as a new version.
    // A segment is {dub_start, dub_end, speed, offset, orig_start (as served), ...}; its
    // place on the original follows: orig_start = offset + dub_start * speed.
    const NUDGES = [-100, -10, 10, 100];
    const MAX_PREVIEW_MS = 10000;         // the clips' shift_ms range (app/services/clips.py)
    const EPS = 5e-7;                     // s: below this two times are the same
    const fix6 = (x) => Math.round(x * 1e6) / 1e6;
    const fix3 = (x) => Math.round(x * 1e3) / 1e3;
    let map = null;          // {key, source, doc, base: [seg], edit: [seg]}
    let mapKey = null;       // the map loaded (or being loaded): a version, or "refused"
    let correctJob = null;   // the last task JSON seen
    let correctBusy = false; // a PUT in flight
    let cells = [];          // per segment: the elements to repaint
    let edges = [];          // per pair of neighbours: their inputs

    function hmsMs(s) {
      const ms = Math.max(0, Math.round(s * 1000));
      return hms(ms / 1000) + "." + String(ms % 1000).padStart(3, "0");
    }
    const origStart = (s) => s.offset + s.dub_start * s.speed;
    const origEnd = (s) => origStart(s) + (s.dub_end - s.dub_start) * s.speed;
    const moved = (i, k) => Math.abs(map.edit[i][k] - map.base[i][k]) > EPS;
    const segChanged = (i) => moved(i, "offset") || moved(i, "dub_start") || moved(i, "dub_end");
    // The nudge a clip at original time t previews: its segment's offset change, in ms
    // (the segment as rendered now holds t).
    function previewShift(t) {
      if (!map || !map.base.length || mapKey === "refused") return 0;
      let best = -1, dist = Infinity;
      map.base.forEach((s, i) => {
        const a = s.orig_start, b = a + (s.dub_end - s.dub_start) * s.speed;
        const d = t < a ? a - t : t >= b ? t - b : 0;
        if (d < dist) { dist = d; best = i; }
      });
      if (best < 0 || dist > 0.05) return 0;
      const ms = Math.round((map.edit[best].offset - map.base[best].offset) * 1000);
      return Math.abs(ms) <= MAX_PREVIEW_MS ? ms : 0;   // further: no preview, Apply to hear it
    }

    function segmentOf(raw, doc) {
      const speed = Number(raw.speed ?? doc.speed ?? 1) || 1;
      const ds = Number(raw.dub_start), de = Number(raw.dub_end);
      const os = raw.orig_start !== undefined ? Number(raw.orig_start) : Number(raw.offset) + ds * speed;
      const offset = raw.offset !== undefined ? Number(raw.offset) : os - ds * speed;
      return {dub_start: ds, dub_end: de, speed, offset, orig_start: os,
              confidence: raw.confidence, anchors: raw.anchors};
    }

    async function loadMap(key) {
      mapKey = key;
      try {
        const data = await api("GET", "/api/tasks/" + id + "/map");
        if (mapKey !== key) return;
        const doc = data.map || {};
        const base = (doc.segments || []).map((x) => segmentOf(x, doc));
        map = {key, source: data.source, doc, base, edit: base.map((x) => ({...x}))};
        buildCorrect();
      } catch (e) {
        if (mapKey !== key) return;
        map = null;
        cells = []; edges = [];
        $("#correct-segments").replaceChildren();
        if (e.status === 404) { $("#correct-box").classList.add("d-none"); return; }
        $("#correct-state").textContent = t("correct.map_error") + " " + e.message;
      }
      paintCorrect();
      refreshClips();
    }

    function numberInput(label, onchange) {
      return el("input", {type: "number", step: "0.001", inputmode: "decimal", class: "form-control form-control-sm correct-time",
                          "aria-label": label, onchange});
    }
    // A typed number of seconds (null when it is not one), kept to the millisecond; the
    // value it was shown with gives back the exact value it stood for.
    function typed(input, ...was) {
      const v = parseFloat(String(input.value).replace(",", "."));
      if (!isFinite(v)) return null;
      return was.find((w) => w.toFixed(3) === v.toFixed(3)) ?? fix3(v);
    }
    function buildCorrect() {
      const body = $("#correct-segments");
      cells = []; edges = [];
      const rows = [];
      map.edit.forEach((s, i) => {
        const n = i + 1;
        const offset = numberInput(fill("correct.offset_label", {n}), (e) => {
          const v = typed(e.target, map.base[i].offset, map.edit[i].offset);
          if (v === null) { e.target.classList.add("is-invalid"); e.target.setCustomValidity(t("correct.bad_number")); return; }
          map.edit[i].offset = v;
          changed();
        });
        const c = {dub: el("td", {class: "text-nowrap font-monospace"}), orig: el("td", {class: "text-nowrap font-monospace"}),
                   offset, delta: el("span", {class: "badge text-bg-warning correct-delta d-none"}),
                   cell: null};
        c.cell = el("td", {class: "correct-offset"}, el("div", {class: "d-flex align-items-center gap-1"}, offset, c.delta));
        cells.push(c);
        const conf = Math.round(100 * (Number(s.confidence) || 0));
        const level = conf >= 80 ? "success" : conf >= 60 ? "warning" : "danger";
        rows.push(el("tr", {class: "correct-seg", "data-seg": String(i)},
          el("th", {scope: "row", class: "text-body-secondary", text: String(n)}),
          c.dub, c.orig, c.cell,
          el("td", {}, el("div", {class: "btn-group btn-group-sm", role: "group", "aria-label": fill("correct.nudge_group", {n})},
            ...NUDGES.map((ms) => el("button", {type: "button", class: "btn btn-outline-secondary text-nowrap", "data-nudge": String(ms),
              "aria-label": fill("correct.nudge_label", {n, d: fmtMs(ms)}),
              onclick: () => { map.edit[i].offset = fix6(map.edit[i].offset + ms / 1000); changed(); }}, fmtMs(ms).replace(" ms", ""))))),
          el("td", {class: "text-end text-nowrap", text: s.speed.toFixed(5) + "×"}),
          el("td", {class: "text-end text-nowrap"}, s.confidence === undefined || s.confidence === null ? "–"
            : el("span", {class: "badge text-bg-" + level, text: conf + " %"}))));
        if (i + 1 < map.edit.length) rows.push(edgeRow(i));
      });
      body.replaceChildren(...rows);
    }
    // The edge after segment i: one dub time when the two segments touch on the dub (a
    // cut, or a change of offset), else where i ends and where i+1 starts (an insert is
    // dropped between them). Each segment keeps its offset.
    function edgeRow(i) {
      const a = i + 1, b = i + 2;
      const setEnd = (e) => {
        const v = typed(e.target, map.base[i].dub_end, map.edit[i].dub_end);
        if (v === null) { e.target.classList.add("is-invalid"); return; }
        map.edit[i].dub_end = v;
        if (edges[i].touching) map.edit[i + 1].dub_start = v;
        changed();
      };
      const setStart = (e) => {
        const v = typed(e.target, map.base[i + 1].dub_start, map.edit[i + 1].dub_start);
        if (v === null) { e.target.classList.add("is-invalid"); return; }
        map.edit[i + 1].dub_start = v;
        changed();
      };
      const touching = Math.abs(map.base[i].dub_end - map.base[i + 1].dub_start) < 1e-3;
      const cell = el("td", {colspan: "6", class: "small text-body-secondary"});
      const e = {touching, end: null, start: null};
      if (touching) {
        e.end = numberInput(fill("correct.edge_label", {a, b}), setEnd);
        cell.append(el("div", {class: "d-flex flex-wrap align-items-center gap-2"},
          el("span", {text: fill("correct.edge", {a, b})}), e.end, el("span", {text: "s"})));
      } else {
        e.end = numberInput(fill("correct.end_label", {a}), setEnd);
        e.start = numberInput(fill("correct.start_label", {b}), setStart);
        cell.append(el("div", {class: "d-flex flex-wrap align-items-center gap-2"},
          el("span", {text: fill("correct.gap_end", {a})}), e.end, el("span", {text: "s;"}),
          el("span", {text: fill("correct.gap_start", {b})}), e.start, el("span", {text: "s (" + t("correct.gap_note") + ")"})));
      }
      edges.push(e);
      return el("tr", {class: "correct-edge", "data-edge": String(i)},
        el("td", {class: "text-body-secondary text-center"}, el("i", {class: "bi bi-arrow-down-up", "aria-hidden": "true"})), cell);
    }

    // What is wrong with the edited map, as [message, inputs to mark]; the server checks
    // the rest (the files' durations).
    function problems() {
      const out = [], segs = map.edit;
      segs.forEach((s, i) => {
        const n = i + 1;
        const mine = [cells[i].offset, edges[i - 1] && (edges[i - 1].start || edges[i - 1].end), edges[i] && edges[i].end];
        if (s.dub_end - s.dub_start < 0.001) out.push([fill("correct.bad_length", {n}), mine]);
        if (s.dub_start < -EPS || origStart(s) < -EPS) out.push([fill("correct.bad_before", {n}), mine]);
        if (i + 1 < segs.length && s.dub_end > segs[i + 1].dub_start + EPS) {
          out.push([fill("correct.bad_dub_overlap", {a: n, b: n + 1}), [edges[i].end, edges[i].start]]);
        }
      });
      const byOrig = segs.map((s, i) => [origStart(s), origEnd(s), i]).sort((x, y) => x[0] - y[0]);
      for (let k = 0; k + 1 < byOrig.length; k++) {
        const [, end, i] = byOrig[k], [start, , j] = byOrig[k + 1];
        if (end > start + 1e-3) {
          out.push([fill("correct.bad_orig_overlap", {a: Math.min(i, j) + 1, b: Math.max(i, j) + 1}), [cells[i].offset, cells[j].offset]]);
        }
      }
      return out;
    }

    function changed() { paintCorrect(); refreshClips(); }

    function showValue(input, value, isMoved) {
      if (!input) return;
      input.value = value.toFixed(3);
      input.setCustomValidity("");
      input.classList.remove("is-invalid");
      input.classList.toggle("correct-changed", isMoved);
    }

    function paintCorrect() {
      const job = correctJob || {};
      const refused = mapKey === "refused";
      const active = job.status === "queued" || job.status === "processing";
      const ready = !!map && map.base.length > 0;
      $("#correct-table").classList.toggle("d-none", !ready);
      let count = 0, bad = [];
      if (ready) {
        map.edit.forEach((s, i) => {
          const c = cells[i];
          c.dub.textContent = hmsMs(s.dub_start) + " – " + hmsMs(s.dub_end);
          c.dub.classList.toggle("correct-changed", moved(i, "dub_start") || moved(i, "dub_end"));
          const os = segChanged(i) ? origStart(s) : s.orig_start;
          c.orig.textContent = hmsMs(os) + " – " + hmsMs(os + (s.dub_end - s.dub_start) * s.speed);
          c.orig.classList.toggle("correct-changed", segChanged(i));
          showValue(c.offset, s.offset, moved(i, "offset"));
          const d = (s.offset - map.base[i].offset) * 1000;
          c.delta.textContent = Math.abs(d) >= 0.5 ? fmtMs(d) : "";
          c.delta.title = fill("correct.was", {v: fmtSec(map.base[i].offset)});
          c.delta.classList.toggle("d-none", Math.abs(d) < 0.5);
          if (segChanged(i)) count += 1;
        });
        edges.forEach((e, i) => {
          showValue(e.end, map.edit[i].dub_end, moved(i, "dub_end"));
          showValue(e.start, map.edit[i + 1].dub_start, moved(i + 1, "dub_start"));
        });
        bad = problems();
        for (const [msg, inputs] of bad) {
          for (const x of inputs) if (x) { x.classList.add("is-invalid"); x.setCustomValidity(msg); }
        }
      }
      const allowed = ready && !!job.correctable && !active && !correctBusy;
      $("#correct-fields").disabled = !ready || active || correctBusy || !job.correctable;
      $("#correct-fields").classList.toggle("d-none", !job.correctable && !active);
      $("#correct-apply").disabled = !allowed || bad.length > 0 || (!refused && count === 0);
      $("#correct-reset").disabled = !ready || count === 0 || active || correctBusy;
      $("#correct-apply span").textContent = t(refused ? "correct.accept" : "correct.apply");
      $("#correct-apply").classList.toggle("btn-warning", refused);
      $("#correct-apply").classList.toggle("btn-primary", !refused);
      const state = $("#correct-state");
      state.classList.toggle("text-danger", bad.length > 0);
      if (active && job.rerender) state.textContent = fill("correct.rendering", {n: (job.version || 0) + 1});
      else if (correctBusy) state.textContent = t("correct.sending");
      else if (bad.length) state.textContent = bad.map((b) => b[0]).filter((m, k, all) => all.indexOf(m) === k).join(" ");
      else if (!state.dataset.error) state.textContent = !ready ? "" : count ? fill("correct.changed", {n: count}) : t("correct.no_changes");
    }

    function mapDocument() {
      const segments = map.edit.map((s, i) => {
        const seg = {dub_start: s.dub_start, dub_end: s.dub_end, speed: s.speed,
                     orig_start: segChanged(i) ? fix6(origStart(s)) : s.orig_start};
        if (typeof s.confidence === "number") seg.confidence = s.confidence;
        if (typeof s.anchors === "number") seg.anchors = s.anchors;
        return seg;
      });
      const m = {segments};
      if (typeof map.doc.speed === "number") m.speed = map.doc.speed;
      if (typeof map.doc.confidence === "number") m.confidence = map.doc.confidence;
      return {version: 1, map: m};
    }

    async function applyMap() {
      const state = $("#correct-state");
      delete state.dataset.error;
      correctBusy = true;
      paintCorrect();
      try {
        await api("PUT", "/api/tasks/" + id + "/map", mapDocument());
        correctBusy = false;
        pollGrace = Date.now() + 5000;   // follow the task even if it has not queued yet
        poll();
      } catch (e) {
        correctBusy = false;
        paintCorrect();
        state.dataset.error = "1";
        state.classList.add("text-danger");
        state.textContent = t("correct.refused_put") + " " + e.message;
      }
    }
    $("#correct-apply").addEventListener("click", applyMap);
    $("#correct-reset").addEventListener("click", () => {
      if (!map) return;
      map.edit = map.base.map((x) => ({...x}));
      delete $("#correct-state").dataset.error;
      changed();
    });

    function versionText(v, first) {
      const took = v.seconds === null || v.seconds === undefined ? "" : Number(v.seconds).toFixed(1);
      const parts = [fill("correct.version", {n: v.version}), t("correct.source." + v.map_source)];
      if (took) {
        parts.push(v.version === 1 && v.map_source !== "given" ? fill("correct.synced_in", {s: took})
          : fill("correct.rendered_in", {s: took}) +
            (first && first !== v && first.seconds !== null && first.seconds !== undefined
              ? " " + fill("correct.first_took", {s: Number(first.seconds).toFixed(1)}) : ""));
      }
      return parts.join(" — ");
    }

    // The card follows the task: a completed task's map (reloaded for each new version),
    // a refused task's best map, the re-render under way.
    function updateCorrect(job) {
      correctJob = job;
      const box = $("#correct-box");
      const active = job.status === "queued" || job.status === "processing";
      const refused = job.status === "failed" && job.error_code === "not_same_film";
      const done = job.status === "completed" && job.result;
      const key = done ? "v" + (job.version || 1) : refused ? "refused" : null;
      const blocked = !job.correctable && job.correct_blocked && !(active && job.rerender);
      if (!((key && (job.correctable || blocked)) || (active && job.rerender))) { box.classList.add("d-none"); return; }
      box.classList.remove("d-none");
      const open = !!job.correctable || (active && job.rerender);
      $("#correct-refused-help").classList.toggle("d-none", !(refused && open));
      $("#correct-help").classList.toggle("d-none", refused || !open);   // refused: no file, no clips yet
      $("#correct-table").setAttribute("aria-describedby", refused ? "correct-refused-help" : "correct-help");
      const versions = job.versions || [];
      $("#correct-versions-wrap").classList.toggle("d-none", !versions.length);
      $("#correct-versions").replaceChildren(...versions.map((v) => el("li", {class: v.version === job.version ? "fw-semibold" : ""},
        versionText(v, versions[0]),
        v.version === job.version ? el("span", {class: "badge text-bg-success ms-2", text: t("correct.current")}) : null)));
      const err = $("#correct-render-error");
      err.classList.toggle("d-none", !job.render_error);
      err.textContent = job.render_error ? t("correct.render_error") + " " + job.render_error : "";
      $("#correct-blocked").classList.toggle("d-none", !blocked);
      $("#correct-blocked").textContent = blocked ? t("correct.blocked") + " " + job.correct_blocked : "";
      if (key && job.correctable && key !== mapKey) {
        delete $("#correct-state").dataset.error;
        loadMap(key);
      }
      paintCorrect();
    }

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
      // a re-render (Correct card) runs on a completed task: its clips and picture
      // are the previous version's until the new one is complete
      if (active && job.rerender) {
        listenShown = false;
        $("#listen-box").classList.add("d-none");
      }
      if (job.status === "completed" && job.result) {
        const r = job.result;
        if (shownVersion !== null && job.version !== shownVersion) { reportShown = false; listenShown = false; }
        shownVersion = job.version;
        $("#result").classList.remove("d-none");
        const c = Math.round(100 * (r.confidence || 0));
        const level = c >= 80 ? "high" : c >= 60 ? "medium" : "low";
        $("#confidence").replaceChildren(c + " % ", el("small", {class: "fs-6 text-body-secondary", text: t("conf." + level)}));
        const cb = $("#confidence-bar");
        cb.style.width = c + "%";
        cb.className = "progress-bar bg-" + (level === "high" ? "success" : level === "medium" ? "warning" : "danger");
        // a new version: a new URL, so that no cache hands back the previous file
        $("#download").href = r.download_url + (job.version > 1 ? (r.download_url.includes("?") ? "&" : "?") + "v=" + job.version : "");
        $("#download").classList.toggle("disabled", !r.output_exists);
        $("#output-name").textContent = r.output || "";
        const cur = (job.versions || []).find((v) => v.version === job.version);
        $("#output-version").classList.toggle("d-none", !(cur && (job.version > 1 || cur.map_source === "given")));
        $("#output-version").textContent = cur ? fill("correct.version", {n: cur.version}) + " · " + t("correct.source." + cur.map_source) : "";
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
      updateCorrect(job);
      return active;
    }

    async function poll() {
      clearTimeout(timer);
      try {
        const job = await api("GET", "/api/status/" + id);
        if (render(job) || Date.now() < pollGrace) timer = setTimeout(poll, POLL_MS);
      } catch (e) {
        timer = setTimeout(poll, 3000);
      }
    }
    $("#btn-cancel").addEventListener("click", async () => { await api("DELETE", "/api/tasks/" + id).catch(() => null); poll(); });
    $("#btn-retry").addEventListener("click", async () => {
      reportShown = false;
      listenShown = false;
      mapKey = null;
      ["#result", "#picture-box", "#pairs-box", "#listen-box", "#correct-box"].forEach((s) => $(s).classList.add("d-none"));
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
