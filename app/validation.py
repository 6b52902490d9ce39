"""Requests checked against the API's own OpenAPI document, once for every endpoint.

Every query parameter and JSON (or form-encoded) body field that the document describes
must have its documented type, hold no NUL character and fit its documented `maxLength`;
anything else is refused with InputError (HTTP 400 `bad_input`) naming the field before a
handler sees it. So a number where a path is expected, a NUL byte (which no file name can
hold) or a 5,000-character path never reaches the file system. Handlers keep their own
checks of meaning (which modes exist, whether a path stays inside the media folder).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

from app.errors import InputError
from app.openapi import openapi_document

_RULE_ARG = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_WHOLE_NUMBER = re.compile(r"[+-]?\d{1,18}")
BOOLEAN_WORDS = {"1": True, "true": True, "yes": True, "on": True,
                 "0": False, "false": False, "no": False, "off": False, "": False}


def openapi_path(rule: str) -> str:
    """A Flask rule as the document writes it: '/api/status/<task_id>' ->
    '/api/status/{task_id}'."""
    return _RULE_ARG.sub(r"{\1}", rule)


@lru_cache(maxsize=1)
def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): op
            for path, item in openapi_document()["paths"].items()
            for method, op in item.items() if method != "parameters"}


def operation(rule: str, method: str) -> dict[str, Any] | None:
    """The document's operation for a Flask rule and an HTTP method (None if undocumented)."""
    return _operations().get((openapi_path(rule), method.lower()))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def check_value(field: str, value: Any, schema: Mapping[str, Any]) -> None:
    """Raise InputError naming `field` unless `value` fits `schema` (type, NUL, maxLength).
    A JSON null counts as the field left out; integers and booleans may come as text (a
    query string or a form has nothing else)."""
    if value is None:
        return
    kind = schema.get("type")
    if kind == "string":
        if not isinstance(value, str):
            raise InputError(f"{field} must be a string, not {_kind(value)}.")
        if "\x00" in value:
            raise InputError(f"{field} must not contain a NUL character (no file name or "
                             "text here can hold one).")
        longest = schema.get("maxLength")
        if longest is not None and len(value) > longest:
            raise InputError(f"{field} is too long ({len(value)} characters; {longest} at "
                             "most).")
    elif kind == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()) is not None)
        if not ok:
            raise InputError(f"{field} must be a whole number, not {value!r:.40}.")
    elif kind == "boolean":
        ok = isinstance(value, bool) or \
            (isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS)
        if not ok:
            raise InputError(f"{field} must be true or false, not {value!r:.40}.")


def body_schema(op: Mapping[str, Any]) -> Mapping[str, Any] | None:
    content = (op.get("requestBody") or {}).get("content") or {}
    media = content.get("application/json") or content.get(
        "application/x-www-form-urlencoded")
    return media.get("schema") if media else None


def check_request(op: Mapping[str, Any], query: Mapping[str, str], body: Any) -> None:
    """Check the query string (every value of a repeated parameter) and a decoded body
    (a dict from JSON or a form; anything else is left to the handler) against `op`."""
    for p in op.get("parameters", ()):
        if p.get("in") == "query" and hasattr(query, "getlist"):
            for v in query.getlist(p["name"]):
                check_value(p["name"], v, p.get("schema", {}))
        elif p.get("in") == "query" and p["name"] in query:
            check_value(p["name"], query[p["name"]], p.get("schema", {}))
    schema = body_schema(op)
    if schema is None or not isinstance(body, Mapping):
        return
    for name, prop in (schema.get("properties") or {}).items():
        if name in body:
            check_value(name, body[name], prop)
