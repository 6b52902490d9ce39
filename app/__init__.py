"""SyncDub web application factory."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify

__all__ = ["create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, logging, blueprints, job runner. Nothing heavy runs here.

    `test_config` may hold `SETTINGS` (a config.Settings) and any Flask keys.
    """
    from config import load_settings

    test_config = dict(test_config or {})
    settings = test_config.pop("SETTINGS", None) or load_settings()
    app = Flask(__name__, static_folder="../static", template_folder="../templates")
    app.config.update(SECRET_KEY=settings.secret_key,
                      MAX_CONTENT_LENGTH=settings.max_content_length)
    app.config.update(test_config)
    app.extensions["syncdub_settings"] = settings
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    @app.get("/api/health")
    def health():
        return jsonify(status="ok")

    return app


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
