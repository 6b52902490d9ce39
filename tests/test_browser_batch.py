"""Season batches in a real headless Chromium (Debian's /usr/bin/chromium, driven by
playwright) against the real server (gunicorn) and the real engine (--mode audio: no
speech models), as tests/test_browser.py does for one film.

The media folder holds a season: Show/S01 with two originals `Show.S01E0N.1080p.mkv` and
an E03 without a dub, and Show.ES/S01 with their dubs `Show - 1x0N [ES].mkv` (the same bed
1 s late; tests/helpers/films.py, the beds tests/test_batch.py uses; two episodes keep the
test near a minute on two cores). In the browser: pick the two folders in the picker,
propose, see the pairing (every episode; E03 unpaired), drop E02's row and pair it again
by hand, start, land on the batch page and see every episode completed with a download
link. Screenshots: /tmp/batch_shots/ (when that folder
exists) for a person to look at.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import films as mf
from tests.helpers.web import MKV_HEAD, free_port, start_gunicorn, stop

pytestmark = pytest.mark.browser  # ~60 s: two episodes through the real engine

SECONDS = 24.0
AAC = ["-c:a", "aac", "-b:a", "96k"]
SEEDS = (41, 42)           # beds the engine aligns at 24 s (see tests/test_batch.py)
EPISODES = (1, 2)
SHOTS = Path("/tmp/batch_shots")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    media = tmp_path_factory.mktemp("media")
    src, o, d = media / ".src", media / "Show" / "S01", media / "Show.ES" / "S01"
    for f in (src, o, d):
        f.mkdir(parents=True)
    for n, seed in zip(EPISODES, SEEDS):
        bed = mf.make_bed(src / f"bed{n}.wav", SECONDS, seed=seed)
        mf.make_film(o / f"Show.S01E0{n}.1080p.mkv", bed, None, video_rate="12")
        mf.make_dub(d / f"Show - 1x0{n} [ES].mkv", bed, None, lead_in=1.0,
                    audio_codec=AAC, video_rate="12")
    (o / "Show.S01E03.1080p.mkv").write_bytes(MKV_HEAD)        # no dub: unpaired
    shutil.rmtree(src)
    return media


@pytest.fixture
def server(tmp_path, media):
    port = free_port()
    proc = start_gunicorn(tmp_path / "srv", port, tmp_path / "server.log",
                          MEDIA_SOURCE_ENABLED="true", MEDIA_SOURCE_PATH=str(media))
    try:
        yield f"http://127.0.0.1:{port}", tmp_path / "srv"
    finally:
        stop(proc)


def _shot(page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / name), full_page=True)


def _folder_row(page, name: str):
    return page.locator("#nfs-list .list-group-item:not(.this-folder)", has_text=name)


def test_season_batch_in_chromium(browser, server, tmp_path):
    base, srv = server
    shots = tmp_path / "shots"
    shots.mkdir()
    page = browser.new_page()
    page.goto(base + "/upload")
    page.click("nav a[href='/batches/new']")                 # the nav's entry
    page.wait_for_url("**/batches/new")
    assert "Sincronizar una temporada" in page.locator("h1").inner_text()

    # the picker: open Show, choose S01 as the originals; from the root, open Show.ES,
    # choose S01 as the dubs
    page.wait_for_selector("#nfs-list .list-group-item")
    assert page.locator("#media-badge").inner_text() == "Disponible"
    _folder_row(page, "Show.ES").wait_for()
    page.locator("#nfs-list .list-group-item[data-path='Show'] .open-folder").click()
    page.locator("#nfs-list [data-path='Show/S01'] .pick-originals").click()
    page.locator("#nfs-up").click()
    page.locator("#nfs-list .list-group-item[data-path='Show.ES'] .open-folder").click()
    page.locator("#nfs-list .list-group-item[data-path='Show.ES/S01'] .fw-semibold").click()  # the row
    page.wait_for_selector("#nfs-list [data-path='Show.ES/S01/Show - 1x02 [ES].mkv']")
    page.locator("#nfs-list .this-folder .pick-dubs").click()    # the folder being looked at
    assert page.locator("#chosen-originals .chosen-path").inner_text() == "Show/S01"
    assert page.locator("#chosen-dubs .chosen-path").inner_text() == "Show.ES/S01"
    page.select_option("#mode", "audio")                      # no speech models here
    page.fill("#batch-name", "Show T1")

    page.click("#propose-btn")
    page.wait_for_selector("#proposal:not(.d-none) #pairs-table tbody tr")
    rows = page.locator("#pairs-table tbody tr")
    assert rows.count() == 2
    for n in EPISODES:
        row = page.locator(f"#pairs-table tbody tr[data-original='Show/S01/Show.S01E0{n}.1080p.mkv']")
        assert row.locator("th").inner_text() == f"S01E0{n}"
        assert row.locator(".dub-select").input_value() == f"Show.ES/S01/Show - 1x0{n} [ES].mkv"
        assert row.locator(".how [data-how]").get_attribute("data-how") == "name"
        assert "nombre" in row.locator(".how").inner_text()
    lonely = page.locator("#unpaired-originals li")
    assert lonely.count() == 1 and "Show.S01E03.1080p.mkv" in lonely.inner_text()
    assert page.locator("#unpaired-dubs-box").is_hidden()
    assert page.locator("#ambiguous-box").is_hidden()
    assert page.locator("#proposal-summary").inner_text().startswith("Parejas: 2 · sin pareja: 1 ·")
    _shot(page, shots, "batch_proposal.png")

    # by hand: drop E02, then pair it again (the select starts empty: never guessed)
    page.locator("#pairs-table tbody tr[data-original$='E02.1080p.mkv'] .drop-row").click()
    assert rows.count() == 1
    assert page.locator("#unpaired-dubs li").inner_text().strip().startswith("Show - 1x02")
    page.locator("#unpaired-originals li[data-path$='E02.1080p.mkv'] .add-pair").click()
    assert rows.count() == 2
    page.click("#start-btn")
    assert "Elige un archivo doblado" in page.locator("#start-error").inner_text()
    new_row = rows.nth(1)
    assert new_row.locator(".dub-select").input_value() == ""
    new_row.locator(".dub-select").select_option("Show.ES/S01/Show - 1x02 [ES].mkv")
    assert new_row.locator(".how [data-how]").get_attribute("data-how") == "manual"
    assert page.locator("#unpaired-dubs-box").is_hidden()
    # the phone width: each row a small card, nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, shots, "batch_proposal_phone.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("#start-btn")
    page.wait_for_url(lambda url: "/batches/" in url and not url.endswith("/new"),
                      timeout=30_000)
    batch_id = page.url.rsplit("/", 1)[-1]
    page.wait_for_selector("#episodes-table tbody tr")
    assert page.locator("#episodes-table tbody tr").count() == 2
    _shot(page, shots, "batch_running.png")
    page.wait_for_selector("#batch-progress[aria-valuenow='100']", timeout=150_000)
    assert page.locator("#batch-status").inner_text() == "Completado"
    assert page.locator("#episodes-table tbody tr[data-status='completed']").count() == 2
    assert page.locator("#batch-name").inner_text() == "Show T1"
    for n in EPISODES:
        row = page.locator(f"#episodes-table tbody tr[data-episode='S01E0{n}']")
        assert "%" in row.locator(".confidence").inner_text()
        href = row.locator("a.download").get_attribute("href")
        assert href and href.startswith("/api/download/")
        assert row.locator("a.task-link").get_attribute("href").startswith("/tasks/")
    assert page.locator("#btn-retry-failed").is_hidden()
    counts = page.locator("#batch-counts").inner_text()
    assert "completados: 2" in counts, counts
    assert "Show.S01E03.1080p.mkv" in page.locator("#left-originals").inner_text()  # no dub
    _shot(page, shots, "batch_done.png")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, shots, "batch_done_phone.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    # a download is the episode's MKV, named after the original
    with page.expect_download(timeout=60_000) as dl_info:
        page.locator("#episodes-table tbody tr[data-episode='S01E02'] a.download").click()
    assert dl_info.value.suggested_filename == "Show.S01E02.1080p.mkv"
    doc = json.loads(page.evaluate(f"fetch('/api/batches/{batch_id}').then(r => r.text())"))
    assert [e["status"] for e in doc["episodes"]] == ["completed"] * 2
    assert sorted(p.name for p in (srv / "output").rglob("*.mkv")) == [
        f"Show.S01E0{n}.1080p.mkv" for n in EPISODES]

    # the list of batches
    page.goto(base + "/batches")
    page.wait_for_selector(f".task-card[data-batch-id='{batch_id}']")
    assert "Show T1" in page.locator(".task-card").inner_text()
    _shot(page, shots, "batches.png")
    if SHOTS.is_dir():  # for a human to look at
        for p in shots.iterdir():
            shutil.copy(p, SHOTS)


# ------------------------------------------------------------------ every episode state
# The batch page drawn from a batch the API could answer (page.route stands in for
# GET /api/batches/<id> and POST .../retry): a refusal in words with its reasons, a
# failure in plain words, a progress bar, the Retry button, the files left out.

def _episode(n: int, status: str, **kw) -> dict:
    ep = {"episode": f"S01E0{n}", "task_id": f"task{n}",
          "original_name": f"Show.S01E0{n}.1080p.mkv", "dubbed_name": f"Show - 1x0{n} [ES].mkv",
          "status": status, "refused": False, "progress": 0.0, "stage": "queued",
          "message": "", "confidence": None, "reasons": [], "error": None, "error_code": None,
          "output_name": None, "download_url": None, "task_url": f"/api/status/task{n}"}
    ep.update(kw)
    return ep


MIXED = {
    "id": "b0mixed", "name": "Show T1", "created_at": "2026-11-29T16:00:00+00:00",
    "originals": "Show/S01", "dubs": "Show.ES/S01", "status": "processing", "done": False,
    "counts": {"queued": 1, "processing": 1, "completed": 1, "failed": 1, "cancelled": 0,
               "refused": 1},
    "episodes": [
        _episode(1, "completed", progress=100.0, stage="done", confidence=0.91,
                 output_name="Show.S01E01.1080p.mkv", download_url="/api/download/task1"),
        _episode(2, "failed", refused=True, progress=62.0, stage="fit", confidence=0.12,
                 error_code="not_same_film",
                 error="These files do not seem to be the same film.",
                 reasons=["3 of 38 dub lines found a counterpart",
                          "the sound matched in 2 % of the dub"]),
        _episode(3, "failed", progress=5.0, stage="probe", error_code="media_error",
                 error="ffmpeg failed (1): Invalid data found when processing input"),
        _episode(4, "processing", progress=42.5, stage="audio_anchors",
                 message="window 12 of 30"),
        _episode(5, "queued"),
    ],
    "unpaired_originals": [{"path": "Show/S01/Show.S01E06.1080p.mkv",
                            "reason": "reads S01E06, which no file on the other side does"}],
    "unpaired_dubs": [],
    "ambiguous": [{"path": "Show.ES/S01/Show - 07.mkv",
                   "candidates": ["Show/S01/Show.S01E07.mkv", "Show/S02/Show.S02E07.mkv"],
                   "reason": "episode 7 without a season"}],
}


@pytest.fixture
def bare_server(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    port = free_port()
    proc = start_gunicorn(tmp_path / "srv", port, tmp_path / "server.log",
                          MEDIA_SOURCE_ENABLED="true", MEDIA_SOURCE_PATH=str(media))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_batch_page_shows_every_episode_state(browser, bare_server, tmp_path):
    base = bare_server
    page = browser.new_page()
    retried = []

    def answer(route):
        if route.request.method == "POST":
            retried.append(route.request.headers.get("x-csrf-token"))
            route.fulfill(status=202, content_type="application/json", body=json.dumps(MIXED))
        else:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(MIXED))
    page.route("**/api/batches/b0mixed**", answer)
    page.goto(base + "/batches/b0mixed")
    page.wait_for_selector("#episodes-table tbody tr[data-episode='S01E05']")
    row = lambda n: page.locator(f"#episodes-table tbody tr[data-episode='S01E0{n}']")  # noqa: E731
    assert row(1).get_attribute("data-status") == "completed"
    assert row(1).locator("a.download").get_attribute("href") == "/api/download/task1"
    assert row(1).locator("a.task-link").get_attribute("href") == "/tasks/task1"
    assert row(2).get_attribute("data-status") == "refused"
    refused = row(2).locator(".details").inner_text()
    assert "rechazado: no es la misma película" in refused
    assert "3 of 38 dub lines found a counterpart" in refused
    assert row(2).locator("a.download").count() == 0
    assert "ffmpeg no pudo leer" in row(3).locator(".details").inner_text()
    assert "Invalid data" in row(3).locator(".details").inner_text()
    assert row(4).locator(".ep-progress").get_attribute("aria-valuenow") == "43"
    assert "Comparando el sonido" in row(4).inner_text()
    assert row(5).get_attribute("data-status") == "queued"
    assert page.locator("#batch-status").inner_text() == "En curso"
    assert page.locator("#batch-progress").get_attribute("aria-valuenow") == "69"  # (300+42.5)/5
    counts = page.locator("#batch-counts").inner_text()
    for words in ("Episodios: 5", "completados: 1", "rechazados: 1", "fallidos: 1",
                  "en curso: 1", "en cola: 1"):
        assert words in counts, counts
    assert "Show.S01E06.1080p.mkv" in page.locator("#left-originals").inner_text()
    assert "Show.S01E07.mkv" in page.locator("#left-ambiguous").inner_text()
    page.screenshot(path=str(tmp_path / "batch_mixed.png"), full_page=True)
    page.locator("#btn-retry-failed").click()
    page.wait_for_function("() => !document.getElementById('btn-retry-failed').disabled")
    assert retried and retried[0]                          # the session's CSRF token went along
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "batch_mixed_phone.png"), full_page=True)

    # a batch that does not exist: said so, no endless spinner
    page.unroute("**/api/batches/b0mixed**")
    page.goto(base + "/batches/nosuchbatch")
    page.wait_for_selector("#batch-missing:not(.d-none)")
    if SHOTS.is_dir():
        for name in ("batch_mixed.png", "batch_mixed_phone.png"):
            shutil.copy(tmp_path / name, SHOTS)


def test_new_batch_flags_ambiguous_files_and_shows_errors(browser, bare_server, tmp_path):
    """Two dubs read as S01E01: the original is flagged with both, never paired by itself;
    pairing it by hand is one choice away. A folder without videos: the API's message."""
    media = tmp_path / "media"
    for d in ("Empty/A", "Empty/B", "X/O", "X/D"):
        (media / d).mkdir(parents=True)
    for name in ("O/X.S01E01.mkv", "O/X.S01E02.mkv", "D/X 1x01 a.mkv", "D/X 1x01 b.mkv",
                 "D/X 1x02.mkv"):
        (media / "X" / name).write_bytes(MKV_HEAD)
    page = browser.new_page()
    page.goto(bare_server + "/batches/new")
    page.locator("#nfs-list [data-path='Empty'] .open-folder").click()
    page.locator("#nfs-list [data-path='Empty/A'] .pick-originals").click()
    page.locator("#nfs-list [data-path='Empty/A'] .pick-dubs").click()
    page.click("#propose-btn")
    assert "en carpetas distintas" in page.locator("#form-error").inner_text()
    page.locator("#nfs-list [data-path='Empty/B'] .pick-dubs").click()
    page.click("#propose-btn")
    page.wait_for_selector("#form-error:has-text('holds no video')")
    assert page.locator("#proposal").is_hidden()

    page.locator("#crumbs a[aria-label='/']").click()
    page.locator("#nfs-list [data-path='X'] .open-folder").click()
    page.locator("#nfs-list [data-path='X/O'] .pick-originals").click()
    page.locator("#nfs-list [data-path='X/D'] .pick-dubs").click()
    page.click("#propose-btn")
    page.wait_for_selector("#proposal:not(.d-none)")
    assert page.locator("#form-error").is_hidden()
    rows = page.locator("#pairs-table tbody tr")
    assert rows.count() == 1 and rows.locator("th").inner_text() == "S01E02"
    amb = page.locator("#ambiguous-list li")
    assert amb.count() == 1                                   # the original, with both dubs
    text = amb.inner_text()
    assert "X.S01E01.mkv" in text and "X 1x01 a.mkv, X 1x01 b.mkv" in text, text
    assert page.locator("#proposal-summary").inner_text().endswith("ambiguos: 1")
    page.screenshot(path=str(tmp_path / "batch_ambiguous.png"), full_page=True)
    amb.locator(".add-pair").click()
    assert rows.count() == 2 and rows.nth(1).locator(".dub-select").input_value() == ""
    rows.nth(1).locator(".dub-select").select_option("X/D/X 1x01 b.mkv")
    assert page.locator("#ambiguous-box").is_hidden()
    assert page.locator("#unpaired-dubs li").inner_text().strip().startswith("X 1x01 a.mkv")
    # the same dub in two rows is stopped before anything starts
    rows.nth(0).locator(".dub-select").select_option("X/D/X 1x01 b.mkv")
    page.click("#start-btn")
    assert "dos filas" in page.locator("#start-error").inner_text()
    assert page.url.endswith("/batches/new")
    if SHOTS.is_dir():
        shutil.copy(tmp_path / "batch_ambiguous.png", SHOTS)
