"""Access control: the API key (X-API-Key), the pages' login, CSRF tokens.

With API_KEY unset everything is open (the app is meant for a home network; a warning is
logged when it listens beyond loopback). With API_KEY set:
- the API wants `X-API-Key: <key>`, or a logged-in browser session; a session request that
  changes something must also carry the CSRF token (`X-CSRF-Token` header);
- pages want a login (a form asking for the key), and every form post carries the token.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets

from flask import abort, current_app, request, session

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: API paths open without a key: container health checks and the API description.
PUBLIC_API_ENDPOINTS = frozenset({"api.health", "api.openapi"})


def _key() -> str:
    return current_app.extensions["syncdub_settings"].api_key


def _fingerprint(key: str) -> str:
    # Stored in the session instead of a flag, so changing API_KEY logs everyone out.
    return hashlib.sha256(("syncdub-login:" + key).encode()).hexdigest()[:32]


def auth_required() -> bool:
    return bool(_key())


def check_key(given: str | None) -> bool:
    key = _key()
    return bool(key) and given is not None and hmac.compare_digest(given.encode(), key.encode())


def logged_in() -> bool:
    key = _key()
    return not key or session.get("auth") == _fingerprint(key)


def log_in() -> None:
    session.clear()
    session["auth"] = _fingerprint(_key())
    session.permanent = True
    csrf_token()


def log_out() -> None:
    session.clear()


def csrf_token() -> str:
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return tok


def csrf_valid() -> bool:
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    tok = session.get("csrf") or ""
    return bool(tok) and hmac.compare_digest(given.encode(), tok.encode())


def require_csrf() -> None:
    """Form posts from pages: the token must match the session's (400 otherwise)."""
    if request.method not in SAFE_METHODS and not csrf_valid():
        abort(400, description="The form expired or did not come from this site; "
                               "reload the page and try again.")


def api_access() -> None:
    """before_request of the API blueprint."""
    if not auth_required() or request.endpoint in PUBLIC_API_ENDPOINTS:
        return
    if check_key(request.headers.get("X-API-Key")):
        return
    if logged_in():
        if request.method not in SAFE_METHODS and not csrf_valid():
            abort(403, description="Missing or wrong X-CSRF-Token for a session request.")
        return
    abort(401, description="Send the API key in the X-API-Key header.")


def is_loopback(host: str) -> bool:
    h = (host or "").strip().strip("[]")
    if h in ("localhost", ""):
        return h == "localhost"
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings) -> None:
    if not settings.api_key and not is_loopback(settings.app_host):
        logger.warning("API_KEY is not set and SyncDub listens on %s: anyone who can reach "
                       "this port can upload files and read results. Set API_KEY in .env "
                       "(or bind APP_HOST=127.0.0.1).", settings.app_host)
