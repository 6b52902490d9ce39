/* SyncDub season batches: the new-batch page (folder picker, proposed pairing, edited by
   hand), one batch's page and the list of batches. Talks to the JSON API only
   (/api/media/list, /api/batches), like curl would; loaded after app.js (SyncDub.api). */
(function () {
  "use strict";
  const T = (window.SYNCDUB && window.SYNCDUB.t) || {};
  const t = (k) => T[k] || k;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const POLL_MS = 1500;

  const {api, el, fmtSize, fmtDate, showListing} = window.SyncDub;   // app.js's, loaded first
  const baseName = (p) => String(p || "").split("/").pop();
  function showAlert(box, msg) { box.textContent = msg || ""; box.classList.toggle("d-none", !msg); }

  // ---- the media folder picker, for folders (the upload page's look) ------------------------
  // roles: [{key, label, cls}]; onPick(role, path) is called when a folder is chosen.
  function folderPicker(roles, onPick) {
    const list = $("#nfs-list");
    const box = $("#picker");
    const pickButtons = (path) => el("div", {class: "btn-group btn-group-sm flex-shrink-0"},
      ...roles.map((r) => el("button", {type: "button", class: "btn " + r.cls + " pick-" + r.key,
        "aria-label": r.label + ": " + (path || "/"), onclick: () => onPick(r.key, path)}, r.label)));

    async function browse(path) {
      try {
        const data = await api("GET", "/api/media/list?path=" + encodeURIComponent(path));
        showListing(data, browse);
        list.replaceChildren();
        const videos = data.entries.filter((x) => x.type !== "directory").length;
        if (data.path) {   // the folder being looked at can be chosen too
          list.append(el("div", {class: "list-group-item list-group-item-light d-flex flex-wrap align-items-center gap-2 this-folder", "data-path": data.path},
            el("i", {class: "bi bi-folder2-open text-warning"}),
            el("div", {class: "flex-grow-1 text-break min-w-0"}, el("div", {class: "fw-semibold", text: box.dataset.thisFolder + ": " + baseName(data.path)}),
              el("div", {class: "small text-body-secondary", text: videos + " " + t("up.videos")})),
            pickButtons(data.path)));
        }
        if (!data.entries.length) list.append(el("div", {class: "list-group-item text-body-secondary", text: t("up.empty")}));
        for (const entry of data.entries) {
          if (entry.type === "directory") {
            // the whole row opens the folder, as on the upload page (its button is the keyboard's way in)
            list.append(el("div", {class: "list-group-item list-group-item-action d-flex flex-wrap align-items-center gap-2 folder-row", "data-path": entry.path,
                                   onclick: (e) => { if (!e.target.closest("button")) browse(entry.path); }},
              el("i", {class: "bi bi-folder-fill text-warning"}),
              el("div", {class: "flex-grow-1 text-break min-w-0"}, el("div", {class: "fw-semibold", text: entry.name}),
                el("div", {class: "small text-body-secondary", text: entry.items + " " + t("up.items") + ", " + entry.videos + " " + t("up.videos")})),
              el("button", {type: "button", class: "btn btn-sm btn-outline-primary open-folder", "aria-label": box.dataset.enter + ": " + entry.name,
                onclick: () => browse(entry.path)}, box.dataset.enter),
              pickButtons(entry.path)));
          } else {
            list.append(el("div", {class: "list-group-item d-flex align-items-center gap-2 text-body-secondary", "data-path": entry.path},
              el("i", {class: "bi bi-film"}),
              el("div", {class: "flex-grow-1 text-break small", text: entry.name}),
              el("div", {class: "small text-nowrap", text: fmtSize(entry.size)})));
          }
        }
      } catch (e) {
        $("#media-badge").className = "badge text-bg-danger";
        $("#media-badge").textContent = t("media.unavailable");
        list.replaceChildren(el("div", {class: "list-group-item text-danger", text: e.message}));
      }
    }
    $("#nfs-up").addEventListener("click", () => browse(list.dataset.parent || ""));
    $("#nfs-refresh").addEventListener("click", () => browse(list.dataset.path || ""));
    browse("");
    return browse;
  }

  // ---- new batch -----------------------------------------------------------------------------
  function newPage() {
    const form = $("#batch-form");
    if (form.dataset.mediaEnabled !== "true") return;
    const chosen = {originals: null, dubs: null};
    const errBox = $("#form-error"), startErr = $("#start-error");
    const propose = $("#propose-btn"), start = $("#start-btn");
    // the proposal being edited
    let state = null;

    function showChoice(role) {
      const box = $("#chosen-" + role);
      if (!chosen[role]) { box.textContent = box.dataset.empty; return; }
      box.replaceChildren(el("i", {class: "bi bi-folder-fill " + (role === "originals" ? "text-primary" : "text-success")}),
        " ", el("span", {class: "chosen-path", text: chosen[role]}), " ",
        el("button", {type: "button", class: "btn btn-sm btn-outline-danger py-0", "aria-label": "×",
          onclick: () => { chosen[role] = null; showChoice(role); hideProposal(); }}, "×"));
    }
    folderPicker([{key: "originals", label: t("batch.pick_originals"), cls: "btn-primary"},
                  {key: "dubs", label: t("batch.pick_dubs"), cls: "btn-success"}],
      (role, path) => { chosen[role] = path; showChoice(role); hideProposal(); });

    function hideProposal() { state = null; $("#proposal").classList.add("d-none"); }
    function options() {
      const name = $("#batch-name").value.trim();
      return {mode: $("#mode").value || null, gap_fill: $("#gap_fill").value || null, name: name || null};
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showAlert(errBox, "");
      if (!chosen.originals || !chosen.dubs) { showAlert(errBox, t("batch.need_folders")); return; }
      if (chosen.originals === chosen.dubs) { showAlert(errBox, t("batch.same_folder")); return; }
      propose.disabled = true;
      const label = propose.querySelector("span"), was = label.textContent;
      label.textContent = t("batch.proposing") + "…";
      try {
        const body = Object.assign({originals: chosen.originals, dubs: chosen.dubs, dry_run: true}, options());
        const [p, dubList] = await Promise.all([
          api("POST", "/api/batches", body),
          api("GET", "/api/media/list?path=" + encodeURIComponent(chosen.dubs)).catch(() => null)]);
        showProposal(p, dubList);
      } catch (e) {
        hideProposal();
        showAlert(errBox, e.message);
      } finally {
        propose.disabled = false;
        label.textContent = was;
      }
    });

    function showProposal(p, dubList) {
      const isOriginal = (path) => path.startsWith(chosen.originals + "/");
      const reasons = {};            // path -> why it is not paired
      const episodes = {};           // original path -> its episode label, from the proposal
      (p.pairs || []).forEach((x) => { if (x.episode) episodes[x.original_path] = x.episode; });
      const dubs = new Set();        // every dubs-side file, for the selects
      if (dubList) dubList.entries.filter((x) => x.type !== "directory").forEach((x) => dubs.add(x.path));
      (p.pairs || []).forEach((x) => dubs.add(x.dubbed_path));
      (p.unpaired_dubs || []).forEach((x) => { dubs.add(x.path); reasons[x.path] = x.reason; });
      (p.unpaired_originals || []).forEach((x) => { reasons[x.path] = x.reason; });
      const ambiguous = p.ambiguous || [];
      ambiguous.forEach((a) => {
        reasons[a.path] = a.reason;
        if (isOriginal(a.path)) (a.candidates || []).forEach((d) => dubs.add(d));
        else dubs.add(a.path);
      });
      const originals = [];           // every originals-side file the proposal names, in order
      const addOrig = (path) => { if (!originals.includes(path)) originals.push(path); };
      (p.pairs || []).forEach((x) => addOrig(x.original_path));
      (p.unpaired_originals || []).forEach((x) => addOrig(x.path));
      ambiguous.filter((a) => isOriginal(a.path)).forEach((a) => addOrig(a.path));
      state = {
        originals: chosen.originals, dubs: chosen.dubs,
        rows: (p.pairs || []).map((x) => ({original_path: x.original_path, dubbed_path: x.dubbed_path,
          episode: x.episode || "", how: x.how || "name", reason: x.reason || ""})),
        dubFiles: Array.from(dubs).sort((a, b) => baseName(a).localeCompare(baseName(b))),
        originalFiles: originals, reasons, episodes,
        ambiguous,
        ambiguousOriginals: new Set(ambiguous.filter((a) => isOriginal(a.path)).map((a) => a.path)),
      };
      renderProposal();
      $("#proposal").classList.remove("d-none");
      $("#proposal").scrollIntoView({behavior: "smooth", block: "start"});
    }

    function howCell(row) {
      const icon = {name: "bi-fonts", duration: "bi-stopwatch", manual: "bi-hand-index"}[row.how] || "bi-question-circle";
      return el("td", {class: "how", "data-label": $("#pairs-table thead th:nth-child(4)").textContent},
        el("span", {class: "badge rounded-pill " + (row.how === "manual" ? "text-bg-warning" : "text-bg-light border"), "data-how": row.how},
          el("i", {class: "bi " + icon, "aria-hidden": "true"}), " " + t("batch.how." + row.how)),
        row.reason ? el("div", {class: "small text-body-secondary text-break", text: row.reason}) : null);
    }

    function renderProposal() {
      const heads = Array.from(document.querySelectorAll("#pairs-table thead th")).map((th) => th.textContent.trim());
      const used = new Map();
      state.rows.forEach((r) => { if (r.dubbed_path) used.set(r.dubbed_path, (used.get(r.dubbed_path) || 0) + 1); });
      const body = $("#pairs-table tbody");
      body.replaceChildren(...state.rows.map((row, i) => {
        const selId = "dub-select-" + i;
        const sel = el("select", {class: "form-select form-select-sm dub-select" + ((used.get(row.dubbed_path) || 0) > 1 ? " is-invalid" : ""), id: selId,
          "aria-label": heads[2] + ": " + baseName(row.original_path)},
          el("option", {value: "", text: t("batch.choose_dub")}),
          ...state.dubFiles.map((d) => el("option", {value: d, selected: d === row.dubbed_path ? "selected" : null,
            text: baseName(d) + (used.has(d) || d === row.dubbed_path ? "" : "  · " + t("batch.unpaired"))})));
        sel.value = row.dubbed_path || "";
        sel.addEventListener("change", () => {
          row.dubbed_path = sel.value;
          row.how = "manual";
          row.reason = t("batch.by_hand");
          renderProposal();
          const again = document.getElementById(selId);
          if (again) again.focus();
        });
        return el("tr", {"data-original": row.original_path},
          el("th", {scope: "row", class: "text-nowrap", "data-label": heads[0], text: row.episode || "–"}),
          el("td", {class: "text-break original", "data-label": heads[1]}, el("i", {class: "bi bi-film text-primary", "aria-hidden": "true"}), " " + baseName(row.original_path)),
          el("td", {class: "dubbed", "data-label": heads[2]}, sel),
          howCell(row),
          el("td", {class: "text-end"},
            el("button", {type: "button", class: "btn btn-sm btn-outline-danger drop-row", "aria-label": t("batch.drop") + ": " + baseName(row.original_path),
              onclick: () => { state.rows.splice(i, 1); renderProposal(); }}, el("i", {class: "bi bi-trash3", "aria-hidden": "true"}), " " + t("batch.drop"))));
      }));
      $("#pairs-table").classList.toggle("d-none", !state.rows.length);
      showAlert($("#no-pairs"), state.rows.length ? "" : t("batch.no_pairs"));

      const inRows = new Set(state.rows.map((r) => r.original_path));
      const addButton = (path) => el("button", {type: "button", class: "btn btn-sm btn-outline-primary py-0 ms-1 add-pair",
        "aria-label": t("batch.add_pair") + ": " + baseName(path),
        onclick: () => {
          state.rows.push({original_path: path, dubbed_path: "", episode: state.episodes[path] || "",
            how: "manual", reason: t("batch.by_hand")});
          renderProposal();
          const sels = document.querySelectorAll("#pairs-table .dub-select");
          if (sels.length) sels[sels.length - 1].focus();
        }}, el("i", {class: "bi bi-plus-lg", "aria-hidden": "true"}), " " + t("batch.add_pair"));

      // ambiguous: listed with their candidates, never paired by themselves; a dub is
      // listed only when no ambiguous original listed already names it as a candidate
      const ambOrig = state.ambiguous.filter((a) => state.ambiguousOriginals.has(a.path) && !inRows.has(a.path));
      const named = new Set(ambOrig.flatMap((a) => a.candidates || []));
      const ambDubs = state.ambiguous.filter((a) => !state.ambiguousOriginals.has(a.path) && !used.has(a.path)
        && !(a.candidates || []).some((o) => inRows.has(o)));    // settled once its original has a row
      const amb = ambOrig.concat(ambDubs.filter((a) => !named.has(a.path)));
      $("#ambiguous-box").classList.toggle("d-none", !amb.length);
      $("#ambiguous-list").replaceChildren(...amb.map((a) => el("li", {class: "text-break", "data-path": a.path},
        el("span", {class: "fw-semibold", text: baseName(a.path)}), " — " + (a.reason || ""),
        (a.candidates || []).length ? el("div", {text: t("batch.candidates") + ": " + a.candidates.map(baseName).join(", ")}) : null,
        state.ambiguousOriginals.has(a.path) ? addButton(a.path) : null)));

      const lonelyOrig = state.originalFiles.filter((p) => !inRows.has(p) && !state.ambiguousOriginals.has(p));
      $("#unpaired-originals-box").classList.toggle("d-none", !lonelyOrig.length);
      $("#unpaired-originals").replaceChildren(...lonelyOrig.map((p) => el("li", {class: "mb-1 text-break", "data-path": p},
        el("i", {class: "bi bi-film text-primary", "aria-hidden": "true"}), " ", el("span", {class: "fw-semibold", text: baseName(p)}),
        state.reasons[p] ? el("span", {class: "text-body-secondary", text: " — " + state.reasons[p]}) : null, addButton(p))));

      const stillAmbiguous = new Set(ambDubs.map((a) => a.path));
      const lonelyDubs = state.dubFiles.filter((d) => !used.has(d) && !stillAmbiguous.has(d));
      $("#unpaired-dubs-box").classList.toggle("d-none", !lonelyDubs.length);
      $("#unpaired-dubs").replaceChildren(...lonelyDubs.map((d) => el("li", {class: "mb-1 text-break", "data-path": d},
        el("i", {class: "bi bi-music-note-beamed text-success", "aria-hidden": "true"}), " ", el("span", {class: "fw-semibold", text: baseName(d)}),
        state.reasons[d] ? el("span", {class: "text-body-secondary", text: " — " + state.reasons[d]}) : null)));

      // "label: n" rather than "n label": right in both languages for any n
      $("#proposal-summary").textContent = t("batch.summary") + ": " + state.rows.length + " · " +
        t("batch.unpaired") + ": " + (lonelyOrig.length + lonelyDubs.length) + " · " + t("batch.ambiguous_n") + ": " + amb.length;
      start.disabled = !state.rows.length;
      showAlert(startErr, "");
    }

    start.addEventListener("click", async () => {
      showAlert(startErr, "");
      if (!state || !state.rows.length) { showAlert(startErr, t("batch.no_pairs")); return; }
      if (state.rows.some((r) => !r.dubbed_path)) { showAlert(startErr, t("batch.need_dub")); return; }
      if (new Set(state.rows.map((r) => r.dubbed_path)).size !== state.rows.length) { showAlert(startErr, t("batch.dub_twice")); return; }
      start.disabled = true;
      const label = start.querySelector("span"), was = label.textContent;
      label.textContent = t("batch.starting") + "…";
      try {
        const body = Object.assign({originals: state.originals, dubs: state.dubs,
          pairs: state.rows.map((r) => ({original_path: r.original_path, dubbed_path: r.dubbed_path}))}, options());
        const b = await api("POST", "/api/batches", body);
        window.location.href = "/batches/" + encodeURIComponent(b.id);
      } catch (e) {
        showAlert(startErr, e.message);
        start.disabled = false;
        label.textContent = was;
      }
    });
  }

  // ---- one batch -------------------------------------------------------------------------------
  const STATUS_CLASS = {queued: "secondary", processing: "info", completed: "success", refused: "warning",
                        failed: "danger", cancelled: "secondary", completed_with_refusals: "warning"};
  const COUNT_ORDER = ["completed", "refused", "failed", "cancelled", "processing", "queued"];
  const epStatus = (ep) => (ep.refused || ep.status === "refused") ? "refused" : ep.status;
  function countsOf(b) {    // from the episodes when the answer has them, else the API's counts
    const c = {queued: 0, processing: 0, completed: 0, refused: 0, failed: 0, cancelled: 0};
    if (!Array.isArray(b.episodes)) return Object.assign(c, b.counts || {});
    b.episodes.forEach((ep) => { const s = epStatus(ep); c[s] = (c[s] || 0) + 1; });
    return c;
  }
  const total = (c) => Object.values(c).reduce((a, n) => a + (Number(n) || 0), 0);
  function pctOf(v) {     // progress as a percentage (the API's episodes give 0-100)
    const n = Number(v) || 0;
    return Math.max(0, Math.min(100, n));
  }
  function batchPct(b) {
    const eps = b.episodes || [];
    if (!eps.length) {
      const c = countsOf(b), n = total(c);
      return b.done ? 100 : n ? 100 * (n - c.queued - c.processing) / n : 0;
    }
    let sum = 0;
    for (const ep of eps) {
      const s = epStatus(ep);
      sum += (s === "queued") ? 0 : (s === "processing") ? pctOf(ep.progress) : 100;
    }
    return sum / eps.length;
  }
  function statusBadge(status, key) {
    return el("span", {class: "badge text-bg-" + (STATUS_CLASS[status] || "secondary"), text: t(key)});
  }
  function countsLine(c) {
    return COUNT_ORDER.filter((k) => c[k]).map((k) => t("batch.count." + k) + ": " + c[k]).join(" · ");
  }
  function plainError(ep) {
    const key = "err." + (ep.error_code || "generic");
    return T[key] || t("err.generic");
  }
  function confCell(ep) {
    if (ep.confidence === null || ep.confidence === undefined) return "–";
    const c = Math.round(100 * ep.confidence);
    const level = c >= 80 ? "high" : c >= 60 ? "medium" : "low";
    return el("span", {class: "text-nowrap"}, c + " % ", el("small", {class: "text-body-secondary", text: t("conf." + level)}));
  }

  function episodeRow(ep, heads) {
    const s = epStatus(ep);
    const status = el("td", {class: "status", "data-label": heads[2]});
    if (s === "refused") {
      status.append(el("span", {class: "badge text-bg-warning"}, el("i", {class: "bi bi-shield-x", "aria-hidden": "true"}), " " + t("batch.ep.refused")));
    } else {
      status.append(statusBadge(s, "batch.ep." + s));
    }
    if (s === "processing") {
      const pct = pctOf(ep.progress);
      status.append(el("div", {class: "progress mt-1 ep-progress", role: "progressbar", "aria-label": (ep.episode || "") + " " + heads[2],
        "aria-valuenow": String(Math.round(pct)), "aria-valuemin": "0", "aria-valuemax": "100", style: "height: .9rem"},
        el("div", {class: "progress-bar progress-bar-striped progress-bar-animated bg-info", style: "width:" + pct + "%", text: Math.round(pct) + " %"})));
      const stage = ep.stage && T["stage." + ep.stage] ? T["stage." + ep.stage] : (ep.stage || "");
      if (stage) status.append(el("div", {class: "small text-body-secondary", text: stage}));
    }
    const details = el("td", {class: "details small text-break", "data-label": heads[4]});
    if (s === "refused") {
      details.append(el("div", {class: "fw-semibold text-warning-emphasis refused-line", text: t("batch.refused")}));
    } else if (s === "failed") {
      details.append(el("div", {class: "fw-semibold text-danger", text: plainError(ep)}));
      if (ep.error) details.append(el("div", {class: "text-body-secondary", text: ep.error}));
    } else if (s === "completed" && ep.output_name) {
      details.append(el("div", {class: "text-body-secondary", text: ep.output_name}));
    }
    const reasons = ep.reasons || [];
    if (reasons.length) details.append(el("ul", {class: "mb-0 ps-3 reasons"}, ...reasons.map((r) => el("li", {text: r}))));
    const actions = el("td", {class: "text-md-end actions", "data-label": heads[5]},
      el("div", {class: "d-inline-flex gap-1"},
        ep.download_url && s === "completed" ? el("a", {class: "btn btn-sm btn-success download", href: ep.download_url, download: ""},
          el("i", {class: "bi bi-download", "aria-hidden": "true"}), " " + t("batch.download")) : null,
        ep.task_id ? el("a", {class: "btn btn-sm btn-outline-secondary task-link", href: "/tasks/" + encodeURIComponent(ep.task_id)},
          el("i", {class: "bi bi-box-arrow-up-right", "aria-hidden": "true"}), " " + t("batch.task")) : null));
    return el("tr", {"data-episode": ep.episode || "", "data-status": s, "data-task-id": ep.task_id || ""},
      el("th", {scope: "row", class: "text-nowrap", "data-label": heads[0], text: ep.episode || "–"}),
      el("td", {class: "text-break names", "data-label": heads[1]},
        el("div", {}, el("i", {class: "bi bi-film text-primary", "aria-hidden": "true"}), " " + (ep.original_name || "")),
        el("div", {class: "small text-body-secondary"}, el("i", {class: "bi bi-music-note-beamed text-success", "aria-hidden": "true"}), " " + (ep.dubbed_name || ""))),
      status,
      el("td", {class: "confidence", "data-label": heads[3]}, confCell(ep)),
      details, actions);
  }

  function fileList(box, items) {
    box.parentElement.classList.toggle("d-none", !items.length);
    box.replaceChildren(...items.map((x) => el("li", {class: "text-break"}, el("span", {class: "fw-semibold", text: baseName(x.path)}),
      x.reason ? " — " + x.reason : "", (x.candidates || []).length ? " (" + t("batch.candidates") + ": " + x.candidates.map(baseName).join(", ") + ")" : "")));
  }

  function batchPage() {
    const root = $("#batch");
    const id = root.dataset.batchId;
    const heads = Array.from(document.querySelectorAll("#episodes-table thead th")).map((th) => th.textContent.trim());
    const rowSig = new Map();
    let timer = null;
    let leftOutShown = false;

    function render(b) {
      $("#batch-name").textContent = b.name || baseName(b.originals) || id;
      document.title = (b.name || t("batch.announce")) + " · SyncDub";
      const badge = $("#batch-status");
      badge.className = "badge align-middle text-bg-" + (STATUS_CLASS[b.status] || "secondary");
      badge.textContent = t("batch.status." + b.status);
      $("#batch-originals").textContent = b.originals || "";
      $("#batch-dubs").textContent = b.dubs || "";
      $("#batch-created").textContent = fmtDate(b.created_at);
      const c = countsOf(b);
      const pct = batchPct(b);
      const box = $("#batch-progress");
      const bar = box.querySelector(".progress-bar");
      const v = b.done ? 100 : pct;
      bar.style.width = v + "%";
      bar.textContent = Math.round(v) + " %";
      box.setAttribute("aria-valuenow", String(Math.round(v)));
      bar.className = "progress-bar " + (b.done ? "bg-" + (STATUS_CLASS[b.status] || "secondary") : "progress-bar-striped progress-bar-animated");
      // the live region: changed only when the words change, so a screen reader hears news
      const eps = b.episodes || [];
      const words = t("batch.announce") + ": " + t("batch.status." + b.status) + ". " + t("batch.episodes") + ": " + eps.length + "; " + countsLine(c) + ".";
      const counts = $("#batch-counts");
      if (counts.dataset.words !== words) {
        counts.dataset.words = words;
        counts.replaceChildren(el("span", {class: "visually-hidden", text: words}),
          el("span", {class: "badge text-bg-light border", "aria-hidden": "true", text: t("batch.episodes") + ": " + eps.length}),
          ...COUNT_ORDER.filter((k) => c[k]).map((k) => el("span", {class: "badge text-bg-" + STATUS_CLASS[k], "aria-hidden": "true", "data-count": k, text: t("batch.count." + k) + ": " + c[k]})));
      }
      // rows: replaced only when that episode changed (keeps focus and the live region quiet)
      const body = $("#episodes-table tbody");
      const keys = eps.map((ep, i) => ep.task_id || String(i));
      if (body.children.length !== eps.length || keys.some((k, i) => body.children[i].dataset.key !== k)) {
        body.replaceChildren();
        rowSig.clear();
      }
      eps.forEach((ep, i) => {
        const sig = JSON.stringify(ep);
        if (rowSig.get(keys[i]) === sig) return;
        rowSig.set(keys[i], sig);
        const row = episodeRow(ep, heads);
        row.dataset.key = keys[i];
        if (body.children[i]) body.children[i].replaceWith(row); else body.append(row);
      });
      // what POST .../retry queues again: every failed (refused ones too) or cancelled episode
      const retryable = eps.some((ep) => ep.status === "failed" || ep.status === "cancelled");
      $("#btn-retry-failed").classList.toggle("d-none", !retryable);
      if (!leftOutShown) {
        const uo = b.unpaired_originals || [], ud = b.unpaired_dubs || [], am = b.ambiguous || [];
        if (uo.length || ud.length || am.length) {
          fileList($("#left-originals"), uo); fileList($("#left-dubs"), ud); fileList($("#left-ambiguous"), am);
          $("#left-out").classList.remove("d-none");
        }
        leftOutShown = true;
      }
      return !b.done;
    }

    async function poll() {
      clearTimeout(timer);
      try {
        const b = await api("GET", "/api/batches/" + encodeURIComponent(id));
        showAlert($("#batch-error"), "");
        if (render(b)) timer = setTimeout(poll, POLL_MS);
      } catch (e) {
        if (e.status === 404) { $("#batch-missing").classList.remove("d-none"); return; }
        showAlert($("#batch-error"), e.message);
        timer = setTimeout(poll, 3000);
      }
    }
    $("#btn-retry-failed").addEventListener("click", async () => {
      const btn = $("#btn-retry-failed");
      btn.disabled = true;
      try {
        render(await api("POST", "/api/batches/" + encodeURIComponent(id) + "/retry"));
      } catch (e) { showAlert($("#batch-error"), e.message); }
      btn.disabled = false;
      poll();
    });
    poll();
  }

  // ---- list of batches -------------------------------------------------------------------------
  function batchCard(b) {
    const c = countsOf(b);
    const pct = b.done ? 100 : batchPct(b);
    const eps = total(c);
    return el("a", {href: "/batches/" + encodeURIComponent(b.id), class: "card card-body text-decoration-none text-body task-card border-" + (STATUS_CLASS[b.status] || "secondary"), "data-batch-id": b.id},
      el("div", {class: "row align-items-center g-2"},
        el("div", {class: "col-md-7 min-w-0"},
          el("div", {}, !b.done ? el("span", {class: "spinner-border spinner-border-sm text-info me-1", "aria-hidden": "true"}) : null,
            el("span", {class: "fw-semibold", text: b.name || baseName(b.originals)}), " ",
            statusBadge(b.status, "batch.status." + b.status)),
          b.originals ? el("div", {class: "small text-body-secondary text-break", text: b.originals + "  ⇄  " + (b.dubs || "")}) : null,
          el("div", {class: "small", text: t("batch.episodes") + ": " + eps + (countsLine(c) ? " · " + countsLine(c) : "")}),
          el("div", {class: "small text-body-secondary"}, el("i", {class: "bi bi-clock"}), " " + fmtDate(b.created_at))),
        el("div", {class: "col-md-5"},
          el("div", {class: "progress", role: "progressbar", "aria-label": t("batch.announce") + " " + (b.name || b.id), "aria-valuenow": String(Math.round(pct)), "aria-valuemin": "0", "aria-valuemax": "100", style: "height: 1.1rem"},
            el("div", {class: "progress-bar bg-" + (b.done ? (STATUS_CLASS[b.status] || "secondary") : "info progress-bar-striped progress-bar-animated"), style: "width:" + pct + "%", text: Math.round(pct) + " %"})))));
  }

  function listPage() {
    let timer = null;
    async function refresh() {
      clearTimeout(timer);
      try {
        const data = await api("GET", "/api/batches");
        const list = data.batches || [];
        $("#batch-list").replaceChildren(...list.map(batchCard));
        $("#batches-empty").classList.toggle("d-none", list.length > 0);
        timer = setTimeout(refresh, list.some((b) => !b.done) ? POLL_MS * 2 : 10000);
      } catch (e) {
        $("#batch-list").replaceChildren(el("div", {class: "text-danger", text: e.message}));
        timer = setTimeout(refresh, 5000);
      }
    }
    $("#batches-refresh").addEventListener("click", refresh);
    refresh();
  }

  window.SyncDubBatch = {newPage, batchPage, listPage, folderPicker};
})();
