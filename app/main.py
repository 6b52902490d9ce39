"""HTML pages: Home, New sync (upload or media folder), Tasks, one task, season batches
(list, new, one batch), System, login.

Pages render a shell; the browser script (static/js/app.js) fills it from the API, so the
pages and curl see the same data.
"""
from __future__ import annotations

import logging
from urllib.parse import urlparse

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request,
                   url_for)

from app import security, system
from app.services.types import GAP_FILLS, MODES
from app.submit import MAX_CUSTOM_NAME, MAX_DUBS
from app.utils.i18n import LANGUAGES, js_strings, pick_language, translator

logger = logging.getLogger(__name__)

bp = Blueprint("main", __name__)

#: Endpoints reachable without logging in.
OPEN_ENDPOINTS = frozenset({"main.login", "main.set_language", "main.favicon", "static"})


@bp.before_app_request
def _language() -> None:
    g.lang = pick_language(request.accept_languages, request.cookies.get("lang"))


@bp.before_request
def _login_and_csrf():
    if security.auth_required() and not security.logged_in() \
            and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("main.login", next=request.full_path.rstrip("?")))
    security.require_csrf()
    return None


@bp.app_context_processor
def _template_globals() -> dict:
    lang = getattr(g, "lang", "en")
    return {"lang": lang, "t": translator(lang), "js_strings": js_strings(lang),
            "csrf_token": security.csrf_token, "auth_required": security.auth_required(),
            "languages": LANGUAGES}


def _settings():
    return current_app.extensions["syncdub_settings"]


@bp.get("/")
def index():
    return render_template("index.html", active="home")


@bp.get("/upload")
def upload():
    s = _settings()
    return render_template("upload.html", active="upload",
                           media_enabled=s.media_source_enabled,
                           allowed=sorted(s.allowed_extensions),
                           max_size=s.max_content_length,
                           modes=MODES, gap_fills=GAP_FILLS, max_name=MAX_CUSTOM_NAME,
                           max_dubs=MAX_DUBS,
                           default_mode=s.engine.sync_mode, default_gap=s.engine.gap_fill)


@bp.get("/tasks")
def tasks():
    return render_template("tasks.html", active="tasks")


@bp.get("/status")
def status_alias():  # the seed's "Estado" address
    return redirect(url_for("main.tasks"))


@bp.get("/tasks/<task_id>")
def task(task_id: str):
    if current_app.extensions["jobs"].get(task_id) is None:
        abort(404)
    return render_template("task.html", active="tasks", task_id=task_id)


@bp.get("/batches")
def batches():
    return render_template("batches.html", active="batches")


@bp.get("/batches/new")
def batch_new():
    s = _settings()
    return render_template("batch_new.html", active="batches",
                           media_enabled=s.media_source_enabled,
                           modes=MODES, gap_fills=GAP_FILLS,
                           default_mode=s.engine.sync_mode, default_gap=s.engine.gap_fill)


@bp.get("/batches/<batch_id>")
def batch(batch_id: str):
    # The page asks GET /api/batches/<id> and says so when there is no such batch.
    return render_template("batch.html", active="batches", batch_id=batch_id)


@bp.get("/system")
def system_page():
    s = _settings()
    runner = current_app.extensions["jobs"]
    return render_template("system.html", active="system",
                           info=system.system_info(s, runner), health=system.health(s, runner))


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says; the icon is an SVG."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not security.auth_required():
        return redirect(url_for("main.index"))
    error = None
    if request.method == "POST":
        if security.check_key(request.form.get("api_key")):
            security.log_in()
            return redirect(_safe_next(request.args.get("next")))
        logger.warning("failed login from %s", request.remote_addr)
        error = translator(g.lang)("login.wrong")
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    security.log_out()
    return redirect(url_for("main.login") if security.auth_required() else url_for("main.index"))


@bp.get("/lang/<code>")
def set_language(code: str):
    if code not in LANGUAGES:
        abort(404)
    resp = redirect(_safe_next(request.args.get("next")))
    resp.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax")
    return resp


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        u = urlparse(target)
        if not u.scheme and not u.netloc:
            return target
    return url_for("main.index")
