"""SyncDub web application factory."""
from __future__ import annotations

import os

# numpy's OpenBLAS starts a busy-waiting thread per core; SyncDub's matrix products are
# small and run beside the ffmpeg decoders, which those threads starve (a 2-hour film's
# extract stage: 26.8 -> 21 s on 2 cores). It must be set before numpy is imported;
# a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _keep_freed_memory() -> None:
    """Let glibc's malloc reuse freed blocks instead of returning them to the kernel.

    The analysis streams two soundtracks through numpy in blocks of a few MB; by default
    every such block is mmap'ed, page-faulted in and unmapped again (a 2-hour film: ~3 M
    page faults, 4-5 s of kernel time on the extract stage). Blocks under 64 MB now come
    from the heap, and up to 128 MB of free heap is kept. No effect off glibc."""
    import ctypes
    import platform
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 64 << 20)
        libc.mallopt(m_trim_threshold, 128 << 20)
    except (OSError, AttributeError):
        pass


_keep_freed_memory()

import logging  # noqa: E402
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, logging, blueprints, job runner. Nothing heavy runs here.

    `test_config` may hold `SETTINGS` (a config.Settings), `SYNC_ENGINE` (a callable with
    run_sync's signature, for tests) and any Flask keys.
    """
    from config import load_settings

    from app import api, api_batches, main, security
    from app.batches import open_batch_store
    from app.jobs import JobRunner
    from app.logging_setup import configure_logging
    from app.uploads import ChunkedUploads, StreamingRequest

    test_config = dict(test_config or {})
    settings = test_config.pop("SETTINGS", None) or load_settings()
    engine = test_config.pop("SYNC_ENGINE", None)
    configure_logging(settings)

    app = Flask(__name__, static_folder="../static", template_folder="../templates")
    app.request_class = StreamingRequest
    app.config.update(SECRET_KEY=settings.secret_key,
                      MAX_CONTENT_LENGTH=settings.max_content_length,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(days=30))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(test_config)
    app.extensions["syncdub_settings"] = settings

    for d in (settings.uploads_dir, settings.output_dir, settings.data_dir):
        Path(d).mkdir(parents=True, exist_ok=True)
    uploads = ChunkedUploads(settings.uploads_dir, settings.max_content_length,
                             settings.allowed_extensions)
    uploads.remove_stale()
    app.extensions["chunked_uploads"] = uploads
    runner = JobRunner(settings, engine=engine)
    app.extensions["jobs"] = runner
    app.extensions["batches"] = open_batch_store(runner.store)
    runner.start()

    app.register_blueprint(api.bp)
    app.register_blueprint(api_batches.bp)
    app.register_blueprint(main.bp)
    _register_errors(app)

    @app.teardown_request
    def _discard_upload_parts(exc: BaseException | None) -> None:
        if isinstance(request, StreamingRequest):
            request.discard_parts()

    security.warn_if_exposed(settings)
    return app


def _register_errors(app: Flask) -> None:
    from app.errors import SyncDubError
    from app.uploads import UploadConflict

    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.path == "/api"

    @app.errorhandler(SyncDubError)
    def _domain_error(e: SyncDubError):
        body: dict[str, Any] = {"error": e.code, "message": str(e)}
        if isinstance(e, UploadConflict):
            body["offset"] = e.offset
        if wants_json():
            return jsonify(body), e.http_status
        return render_template("error.html", code=e.http_status, message=str(e)), e.http_status

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if wants_json():
            name = (e.name or "error").lower().replace(" ", "_")
            resp = jsonify(error=name, message=e.description)
            resp.status_code = e.code or 500
            if e.code == 405 and e.valid_methods:  # type: ignore[attr-defined]
                resp.headers["Allow"] = ", ".join(e.valid_methods)  # type: ignore[attr-defined]
            return resp
        return render_template("error.html", code=e.code, message=e.description), e.code

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        if isinstance(e, HTTPException):
            return _http_error(e)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        msg = "Unexpected server error; the log has the details."
        if wants_json():
            return jsonify(error="internal_error", message=msg), 500
        return render_template("error.html", code=500, message=msg), 500


_app = None


def __getattr__(name: str):
    # `gunicorn app:app` imports this package (it shadows app.py) and asks for `app`:
    # build it on first access, never at import time.
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)
