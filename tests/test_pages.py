"""HTML pages: they render, in English or Spanish, and link the vendored assets only."""
from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT
from tests.helpers.web import FakeEngine, app_for, make_settings, upload, wait_finished


@pytest.fixture
def client(tmp_path):
    with app_for(make_settings(tmp_path), FakeEngine()) as app:
        yield app.test_client()


@pytest.mark.parametrize("path", ["/", "/upload", "/tasks", "/system"])
def test_pages_render_without_external_assets(client, path):
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "vendor/bootstrap/bootstrap.min.css" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)      # nothing from a CDN
    for asset in re.findall(r'(?:src|href)="/static/([^"?]+)', html):
        assert (ROOT / "static" / asset).is_file(), asset


def test_language_from_accept_language_and_cookie(client):
    es = client.get("/upload", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    assert "Subir archivos locales" in es.get_data(as_text=True)
    assert '<html lang="es">' in es.get_data(as_text=True)
    en = client.get("/upload", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Upload from this computer" in en.get_data(as_text=True)
    r = client.get("/lang/es?next=/tasks")
    assert r.status_code == 302 and r.headers["Location"] == "/tasks"
    assert "Estado de tareas" in client.get("/tasks").get_data(as_text=True)
    assert client.get("/lang/fr").status_code == 404


def test_task_page_and_seed_alias(client):
    tid = upload(client).get_json()["task_id"]
    wait_finished(client, tid)
    html = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert f'data-task-id="{tid}"' in html and "offset-picture" in html
    assert client.get("/status").headers["Location"].endswith("/tasks")
    assert client.get("/tasks/unknown").status_code == 404


def test_upload_page_shows_nfs_state(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    with app_for(make_settings(tmp_path, media_source_enabled=True, media_source_path=media),
                 FakeEngine()) as app:
        html = app.test_client().get("/upload").get_data(as_text=True)
        assert 'data-media-enabled="true"' in html and 'id="nfs-list"' in html


def test_every_string_the_script_uses_is_translated():
    from app.utils.i18n import JS_STRINGS, LANGUAGES, STRINGS
    js = (ROOT / "static" / "js" / "app.js").read_text()
    keys = set(re.findall(r'\bt\("([a-z_.]+)"\)', js))
    assert keys and keys <= set(JS_STRINGS), keys - set(JS_STRINGS)
    for key, entry in {**STRINGS, **JS_STRINGS}.items():
        assert set(entry) == set(LANGUAGES) and all(entry.values()), key


def test_favicon_is_linked_and_served_without_login(client, tmp_path):
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    r = client.get("/favicon.ico")
    assert r.status_code == 301 and r.headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).startswith("<svg")
    # asked for before logging in (the login page's own icon): no redirect to /login
    keyed = make_settings(tmp_path / "keyed", api_key="s3cret-key")
    with app_for(keyed, FakeEngine()) as app:
        assert app.test_client().get("/favicon.ico").status_code == 301


def test_upload_page_offers_another_dub(client):
    html = client.get("/upload", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="add-dub"' in html and 'data-max="8"' in html and "Add another dub" in html
    assert 'href="/batches/new"' in html and "Sync it as a batch" in html
