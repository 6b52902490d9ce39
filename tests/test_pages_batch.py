"""The season-batch pages (/batches, /batches/new, /batches/<id>): they render in English
and Spanish, link the vendored assets only, sit in the nav, and every text they show has
both languages. (The pages' behaviour in a real browser: tests/test_browser_batch.py.)"""
from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT
from tests.helpers.web import FakeEngine, app_for, make_settings

PAGES = ["/batches", "/batches/new", "/batches/0123abcd"]
BATCH_TEMPLATES = ["batch_new.html", "batch.html", "batches.html"]


@pytest.fixture
def client(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    with app_for(make_settings(tmp_path, media_source_enabled=True, media_source_path=media),
                 FakeEngine()) as app:
        yield app.test_client()


def _html(client, path: str, lang: str) -> str:
    r = client.get(path, headers={"Accept-Language": lang})
    assert r.status_code == 200, (path, r.status_code)
    return r.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("lang", ["en", "es"])
def test_batch_pages_render_with_local_assets_only(client, path, lang):
    html = _html(client, path, lang)
    assert f'<html lang="{lang}">' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)      # nothing from a CDN
    assets = re.findall(r'(?:src|href)="/static/([^"?]+)', html)
    assert "js/batch.js" in assets and "js/app.js" in assets
    assert assets.index("js/app.js") < assets.index("js/batch.js")   # batch.js uses SyncDub.api
    for asset in assets:
        assert (ROOT / "static" / asset).is_file(), asset
    # the nav's entry is the current one
    assert re.search(r'class="nav-link active" aria-current="page" href="/batches/new"', html)


def test_new_batch_page_texts_in_both_languages(client):
    en = _html(client, "/batches/new", "en-GB,en;q=0.8")
    assert "Sync a season" in en and "Propose pairing" in en and "Start batch" in en
    assert 'id="nfs-list"' in en and 'data-media-enabled="true"' in en
    es = _html(client, "/batches/new", "es-ES,es;q=0.9")
    assert "Sincronizar una temporada" in es and "Proponer emparejamiento" in es
    assert "Iniciar lote" in es and "Carpeta de doblajes" in es
    # the matching and gap options, as on the upload page
    assert 'id="mode"' in en and 'id="gap_fill"' in en
    for field in ("mode", "gap_fill", "batch-name"):
        assert f'<label class="form-label" for="{field}">' in en


def test_batch_page_and_list(client):
    html = _html(client, "/batches/0123abcd", "es")
    assert 'data-batch-id="0123abcd"' in html and "Lotes de temporada" in html
    assert 'id="episodes-table"' in html and "Reintentar fallidos" in html
    assert re.search(r'id="batch-counts"[^>]*aria-live="polite"', html)
    assert html.count('<th scope="col">') >= 5               # a real table with headers
    lst = _html(client, "/batches", "en")
    assert "Season batches" in lst and 'href="/batches/new"' in lst
    # a batch id is escaped, never markup
    odd = client.get("/batches/%3Cb%3Ex").get_data(as_text=True)
    assert "<b>x" not in odd and "&lt;b&gt;x" in odd


@pytest.mark.parametrize("path", ["/", "/upload", "/tasks", "/system"])
def test_nav_links_to_the_new_batch_page(client, path):
    en = _html(client, path, "en")
    assert re.search(r'href="/batches/new"><i class="bi bi-collection-play"></i> Season batch<',
                     en)
    es = _html(client, path, "es")
    assert re.search(r'href="/batches/new"><i class="bi bi-collection-play"></i> Temporada<', es)


def test_new_batch_page_without_the_media_folder(tmp_path):
    with app_for(make_settings(tmp_path), FakeEngine()) as app:
        html = app.test_client().get("/batches/new").get_data(as_text=True)
    assert 'data-media-enabled="false"' in html and "MEDIA_SOURCE_ENABLED" in html
    assert 'id="nfs-list"' not in html
    assert re.search(r'id="propose-btn" disabled', html)


def test_every_batch_text_is_translated():
    from app.utils.i18n import JS_STRINGS, LANGUAGES, STRINGS
    js = (ROOT / "static" / "js" / "batch.js").read_text()
    keys = set(re.findall(r'\bt\("([a-z_.]+)"\)', js))
    assert keys and keys <= set(JS_STRINGS), keys - set(JS_STRINGS)
    for name in BATCH_TEMPLATES:
        used = set(re.findall(r"\bt\('([a-z_.]+)'\)", (ROOT / "templates" / name).read_text()))
        assert used and used <= set(STRINGS) | set(JS_STRINGS), (name, used - set(STRINGS)
                                                                 - set(JS_STRINGS))
    for key, entry in {**STRINGS, **JS_STRINGS}.items():
        assert set(entry) == set(LANGUAGES) and all(entry.values()), key
    assert not set(STRINGS) & set(JS_STRINGS)


def test_batch_pages_want_a_login_when_the_key_is_set(tmp_path):
    with app_for(make_settings(tmp_path, api_key="s3cret"), FakeEngine()) as app:
        c = app.test_client()
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 302 and "/login?next=" in r.headers["Location"], path
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          c.get("/login").get_data(as_text=True)).group(1)
        r = c.post("/login?next=/batches/new", data={"api_key": "s3cret", "csrf_token": token})
        assert r.status_code == 302 and r.headers["Location"].endswith("/batches/new")
        html = c.get("/batches/new").get_data(as_text=True)
        # the page's script sends this token in X-CSRF-Token (SyncDub.api in app.js)
        meta = re.search(r'<meta name="csrf-token" content="([^"]{20,})">', html).group(1)
        body = {"originals": "Show/S01", "dubs": "Show.ES/S01", "dry_run": True}
        assert c.post("/api/batches", json=body).status_code == 403
        r = c.post("/api/batches", json=body, headers={"X-CSRF-Token": meta})
        assert r.status_code in (400, 404), r.get_data(as_text=True)   # past the guard
        assert r.get_json()["message"]                # what the page shows the user
