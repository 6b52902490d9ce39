"""Property-based fuzz of the whole REST API from its own OpenAPI document (schemathesis).

The app is served over real HTTP on a free loopback port (werkzeug's threaded server, in
this process so that the engine can be the fake one: the fuzz is about the API, not the
engine) with the media folder enabled. Every documented operation gets generated
requests, valid ones and ones that break the schema (wrong types, NUL bytes, long strings,
missing fields); each response must not be a 5xx, must use a documented status code and
content type, and its body must match the documented schema."""
from __future__ import annotations

import json
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)
from werkzeug.serving import make_server

from app import create_app
from app.openapi import openapi_document
from tests.helpers.web import MKV_HEAD, FakeEngine, make_settings

MAX_EXAMPLES = 40          # per operation and generation mode; ~20 operations
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
STATS = {"cases": 0, "statuses": {}}

# Hypothesis's caches (some written while the tests are collected) go under the system's
# temporary folder, not into `.hypothesis/` in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "syncdub-hypothesis")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app over real HTTP; yields its base URL."""
    tmp = tmp_path_factory.mktemp("fuzz")
    media = tmp / "media"
    (media / "Series" / "S01").mkdir(parents=True)
    for name in ("Film.mkv", "Series/S01/E01.mkv", "Series/S01/E01.ES.mkv"):
        (media / name).write_bytes(MKV_HEAD)
    (media / "notes.txt").write_text("not a video")
    s = make_settings(tmp, media_source_enabled=True, media_source_path=media)
    app = create_app({"SETTINGS": s, "SYNC_ENGINE": FakeEngine()})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        base = f"http://127.0.0.1:{srv.server_port}"
        with urllib.request.urlopen(base + "/api/openapi.json", timeout=10) as r:
            assert json.load(r) == json.loads(json.dumps(openapi_document()))
        yield base
    finally:
        srv.shutdown()
        app.extensions["jobs"].shutdown(wait=True)


# The document the server serves at /api/openapi.json (a pure function; the first case
# checks that the server really serves it). Loaded at import: schemathesis's lazy
# `from_fixture` does not work with this pytest.
schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=2000, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_answers_within_its_document(case, server):
    response = case.call_and_validate(base_url=server, checks=CHECKS, timeout=10)
    STATS["cases"] += 1
    STATS["statuses"][response.status_code] = STATS["statuses"].get(response.status_code, 0) + 1


def test_fuzz_covered_the_api():
    """Runs after the fuzz (file order): it did send requests, and got errors as well as
    successes (a fuzz that only ever hit 404s would prove nothing)."""
    if not STATS["cases"]:
        pytest.skip("the fuzz did not run in this session")
    codes = STATS["statuses"]
    print(f"fuzz: {STATS['cases']} requests, status codes {sorted(codes.items())}")
    assert STATS["cases"] >= 200, STATS
    assert any(200 <= c < 300 for c in codes) and codes.get(400, 0) > 0, codes
    assert not any(c >= 500 for c in codes if c != 503), codes
