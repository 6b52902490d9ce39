"""The Listen card in real headless Chromium (Debian's /usr/bin/chromium via playwright)
against gunicorn and the real engine: a finished task's page lists its listening points,
and a clip plays (the audio element loads it and knows its length)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.browser import AUDIO_ARGS, chromium
from tests.helpers.web import free_port, http_json, start_gunicorn, stop, wait_served_task

SHOTS = Path("/tmp/listen_shots")

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "profile", locale="en-GB", extra_args=AUDIO_ARGS) as ctx:
        yield ctx


@pytest.fixture
def finished(tmp_path, clips):
    """(base URL, task id) of a task the real engine completed, served by gunicorn."""
    port = free_port()
    media = tmp_path / "media"
    media.mkdir()
    for clip, name in zip(clips, ("Film.mkv", "Film.ES.mkv")):
        shutil.copy(clip, media / name)
    proc = start_gunicorn(tmp_path / "srv", port, tmp_path / "server.log",
                          MEDIA_SOURCE_ENABLED="true", MEDIA_SOURCE_PATH=str(media))
    base = f"http://127.0.0.1:{port}"
    try:
        tid = http_json("POST", base + "/api/sync", {"original_path": "Film.mkv",
                                                 "dubbed_path": "Film.ES.mkv",
                                                 "mode": "audio"})["task_id"]
        job = wait_served_task(base, tid)
        assert job["status"] == "completed", job
        yield base, tid
    finally:
        stop(proc)


def test_listen_card_plays_a_clip(browser, finished):
    base, tid = finished
    points = http_json("GET", f"{base}/api/tasks/{tid}/points")["points"]
    page = browser.new_page()
    page.goto(f"{base}/tasks/{tid}")
    page.wait_for_selector("#listen-points tr", timeout=30_000)
    assert page.locator("#listen-box").is_visible()
    rows = page.locator("#listen-points tr")
    assert rows.count() == len(points) > 0
    assert "left ear" in page.locator("#listen-help").inner_text()
    first = rows.nth(0).inner_text()
    assert ":" in first and "%" in first

    # play the inside point's clip ("both": original left, dub right)
    i = next(k for k, p in enumerate(points) if p["kind"] == "inside")
    p = points[i]
    row = rows.nth(i)
    assert row.locator("input[value=both]").is_checked()
    audio = row.locator("audio")
    assert audio.get_attribute("preload") == "none" and audio.get_attribute("aria-label")
    audio.evaluate("a => a.play()")
    page.wait_for_function("a => a.readyState >= 1 && isFinite(a.duration)",
                           arg=audio.element_handle(), timeout=20_000)
    assert audio.evaluate("a => a.duration") == pytest.approx(p["clip"]["duration"], abs=0.2)
    assert audio.evaluate("a => a.error") is None

    # the dub alone: another clip, loaded the same way
    row.locator("label", has_text="dub").first.click()
    assert "kind=dub" in audio.evaluate("a => a.currentSrc || a.src")
    audio.evaluate("a => a.load()")
    page.wait_for_function("a => a.readyState >= 1 && isFinite(a.duration)",
                           arg=audio.element_handle(), timeout=20_000)
    assert audio.evaluate("a => a.duration") == pytest.approx(p["clip"]["duration"], abs=0.2)

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#listen-box").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "task-listen.png"), full_page=True)
    page.locator("#listen-box").screenshot(path=str(SHOTS / "listen-card.png"))

    # the same card in Spanish (the ES link)
    page.goto(f"{base}/lang/es?next=/tasks/{tid}")
    page.wait_for_selector("#listen-points tr", timeout=30_000)
    assert "oído izquierdo" in page.locator("#listen-help").inner_text()
    assert page.locator("#listen-points label", has_text="ambos (I/D)").count() == len(points)
    page.locator("#listen-box").screenshot(path=str(SHOTS / "listen-card-es.png"))
