"""The Correct card in real headless Chromium (Debian's /usr/bin/chromium via playwright)
against gunicorn and the real engine: a finished task's map is nudged on its page, the
Listen clip plays the nudge at once (shift_ms), Apply renders version 2, and the dub track
of the new download is measured against the old one's: it moved by the nudge. A refused
pair's best map is accepted by hand from the same card."""
from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.browser import AUDIO_ARGS, chromium
from tests.helpers.media import decode_mono, ffmpeg, make_pair, make_unrelated, streams
from tests.helpers.web import free_port, http_json, start_gunicorn, stop, wait_served_task

SHOTS = Path("/tmp/correct_shots")
RATE = 16000            # Hz: the dub tracks compared at this rate (0.0625 ms a sample)

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "profile", locale="en-GB", extra_args=AUDIO_ARGS) as ctx:
        yield ctx


@pytest.fixture
def server(tmp_path):
    """(base URL, media folder) of gunicorn serving the real engine."""
    port = free_port()
    media = tmp_path / "media"
    media.mkdir()
    proc = start_gunicorn(tmp_path / "srv", port, tmp_path / "server.log",
                          MEDIA_SOURCE_ENABLED="true", MEDIA_SOURCE_PATH=str(media))
    try:
        yield f"http://127.0.0.1:{port}", media
    finally:
        stop(proc)


def _sync(base: str, original: str, dub: str) -> str:
    return http_json("POST", base + "/api/sync", {"original_path": original, "dubbed_path": dub,
                                              "mode": "audio"})["task_id"]


def _download(url: str, path: Path) -> Path:
    with urllib.request.urlopen(url, timeout=60) as r:
        path.write_bytes(r.read())
    return path


def _dub_track(mkv: Path) -> np.ndarray:
    """The MKV's dub track (its last audio stream) as a player plays it, mono, RATE."""
    audio = [s for s in streams(mkv) if s["codec_type"] == "audio"]
    return decode_mono(mkv, f"0:a:{len(audio) - 1}", rate=RATE)


def _lag_ms(new: np.ndarray, old: np.ndarray, max_ms: float = 1000.0) -> float:
    """How much later (ms) `new` plays than `old`: the peak of their cross-correlation
    within ±max_ms, refined between samples by a parabola."""
    n = len(new) + len(old)
    corr = np.fft.irfft(np.fft.rfft(new, n) * np.conj(np.fft.rfft(old, n)), n)
    reach = int(max_ms * RATE / 1000)
    lags = np.r_[np.arange(0, reach + 1), np.arange(-reach, 0)]
    window = np.r_[corr[:reach + 1], corr[-reach:]]
    k = int(np.argmax(window))
    a, b, c = window[k - 1], window[k], window[(k + 1) % len(window)]
    frac = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) else 0.0
    return (lags[k] + frac) * 1000 / RATE


def _play(page, audio, duration: float) -> None:
    """play() the audio element; it loads its clip and knows its length."""
    audio.evaluate("a => { a.load(); a.play(); }")
    page.wait_for_function("a => a.readyState >= 1 && isFinite(a.duration)",
                           arg=audio.element_handle(), timeout=20_000)
    assert audio.evaluate("a => a.error") is None
    assert audio.evaluate("a => a.duration") == pytest.approx(duration, abs=0.2)


def test_nudge_preview_apply_and_the_new_file_moved(browser, server, clips, tmp_path):
    base, media = server
    for clip, name in zip(clips, ("Film.mkv", "Film.ES.mkv")):
        shutil.copy(clip, media / name)
    tid = _sync(base, "Film.mkv", "Film.ES.mkv")
    job = wait_served_task(base, tid)
    assert job["status"] == "completed" and job["correctable"] and job["version"] == 1, job
    old = _download(base + job["result"]["download_url"], tmp_path / "v1.mkv")
    doc = http_json("GET", f"{base}/api/tasks/{tid}/map")
    segs = doc["map"]["segments"]
    points = http_json("GET", f"{base}/api/tasks/{tid}/points")["points"]

    page = browser.new_page()
    page.goto(f"{base}/tasks/{tid}")
    page.wait_for_selector("#correct-segments tr.correct-seg", timeout=30_000)
    page.wait_for_selector("#listen-points tr", timeout=30_000)
    assert page.locator("#correct-title").inner_text().strip() == "Correct the map"
    assert page.locator("#correct-segments tr.correct-seg").count() == len(segs)
    versions = page.locator("#correct-versions")
    assert "Version 1 — map analysed — synced in" in versions.inner_text()
    assert page.locator("#correct-apply").is_disabled()        # nothing changed yet

    # the inside point's clip plays as it is
    i = next(k for k, p in enumerate(points) if p["kind"] == "inside")
    p = points[i]
    seg = next(k for k, s in enumerate(segs) if s["orig_start"] <= p["t"] <= s["orig_end"])
    audio = page.locator("#listen-points tr").nth(i).locator("audio")
    assert "shift_ms" not in audio.get_attribute("src")
    _play(page, audio, p["clip"]["duration"])

    # +100 ms twice on its segment: the offset says +0.200 s more, marked as changed
    row = page.locator(f"#correct-segments tr.correct-seg[data-seg='{seg}']")
    plus = row.get_by_role("button", name=f"Segment {seg + 1}: offset +100 ms")
    plus.click()
    plus.click()
    offset = row.locator("input.correct-time")
    assert float(offset.input_value()) == pytest.approx(segs[seg]["offset"] + 0.2, abs=6e-4)
    assert "correct-changed" in offset.get_attribute("class")
    assert row.locator(".correct-delta").inner_text().strip() == "+200 ms"
    assert page.locator("#correct-state").inner_text().strip() == "Segments changed: 1."

    # the clip is now the preview of that nudge, and plays
    src = audio.get_attribute("src")
    assert "shift_ms=200" in src and "kind=both" in src, src
    assert "preview of a +200 ms nudge" in audio.get_attribute("aria-label")
    assert page.locator("#listen-points tr").nth(i).locator(".listen-preview").is_visible()
    _play(page, audio, p["clip"]["duration"])
    # Reset undoes it, and the clip is the plain one again; then nudge again
    page.click("#correct-reset")
    assert "shift_ms" not in audio.get_attribute("src")
    assert "correct-changed" not in offset.get_attribute("class")
    plus.click()
    plus.click()

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#correct-box").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "task-nudged.png"), full_page=True)
    page.locator("#correct-box").screenshot(path=str(SHOTS / "correct-card-nudged.png"))

    # Apply: version 2 is rendered from the edited map; the page follows it
    page.click("#correct-apply")
    page.wait_for_function("() => document.querySelectorAll('#correct-versions li').length === 2",
                           timeout=120_000)
    page.wait_for_selector("#correct-segments tr.correct-seg", timeout=30_000)
    job = http_json("GET", f"{base}/api/status/{tid}")
    assert job["status"] == "completed" and job["version"] == 2, job
    assert job["map_source"] == "given" and job["render_error"] is None
    assert [v["map_source"] for v in job["versions"]] == ["analysed", "given"]
    versions = page.locator("#correct-versions li")        # now two
    assert "Version 2 — map set by hand — rendered in" in versions.nth(1).inner_text()
    assert "(the first sync took" in versions.nth(1).inner_text()
    assert "current" in versions.nth(1).inner_text()
    assert page.locator("#output-version").inner_text() == "Version 2 · map set by hand"
    page.wait_for_function("() => !document.querySelector('#correct-segments .correct-changed')")
    new_doc = http_json("GET", f"{base}/api/tasks/{tid}/map")
    assert new_doc["source"] == "given" and new_doc["render_version"] == 2
    assert new_doc["map"]["segments"][seg]["offset"] == pytest.approx(
        segs[seg]["offset"] + 0.2, abs=1e-6)
    # the Listen card is back with the new version's points, no preview in them
    page.wait_for_selector("#listen-box:not(.d-none) #listen-points tr", timeout=30_000)
    now = segs[seg]["offset"] + 0.2           # the inside point's words: the new offset
    words = f"offset {'−' if now < 0 else '+'}{abs(now):.3f} s"
    page.wait_for_function("w => document.querySelector('#listen-points').textContent"
                           ".includes(w)", arg=words, timeout=30_000)
    assert "shift_ms" not in page.locator("#listen-points audio").first.get_attribute("src")
    page.locator("#correct-box").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "task-version2.png"), full_page=True)

    # measured on the files: the new download's dub plays 200 ms later than the old one's
    href = page.locator("#download").get_attribute("href")
    new = _download(base + href, tmp_path / "v2.mkv")
    assert new.read_bytes() != old.read_bytes()
    lag = _lag_ms(_dub_track(new), _dub_track(old))
    assert lag == pytest.approx(200.0, abs=5.0), lag

    # the card in Spanish
    page.goto(f"{base}/lang/es?next=/tasks/{tid}")
    page.wait_for_selector("#correct-segments tr.correct-seg", timeout=30_000)
    assert page.locator("#correct-title").inner_text().strip() == "Corregir el mapa"
    assert page.get_by_role("button", name="Segmento 1: desfase −10 ms").count() == 1
    assert "Versión 2 — mapa fijado a mano" in page.locator("#correct-versions").inner_text()
    page.locator("#correct-box").screenshot(path=str(SHOTS / "correct-card-es.png"))


def _partly_related(folder: Path) -> tuple[Path, Path]:
    """A 60 s original and a "dub" whose first 16 s are its sound and the rest another
    film's: the real engine finds a map but refuses it (too little of the dub matches)."""
    orig, dub = make_pair(folder / "pair", seconds=60)
    other = make_unrelated(folder / "other.mkv", seconds=60)
    mixed = folder / "mixed.mkv"
    ffmpeg("-i", dub, "-i", other, "-filter_complex",
           "[0:a]atrim=0:16,asetpts=PTS-STARTPTS[a];[1:a]atrim=16:60,asetpts=PTS-STARTPTS[b];"
           "[a][b]concat=n=2:v=0:a=1[o]", "-map", "0:v", "-map", "[o]", "-c:v", "copy",
           "-c:a", "aac", "-t", "60", mixed)
    return orig, mixed


def test_a_refused_map_is_accepted_by_hand(browser, server, tmp_path):
    base, media = server
    orig, dub = _partly_related(tmp_path / "made")
    shutil.copy(orig, media / "Film.mkv")
    shutil.copy(dub, media / "Other.mkv")
    tid = _sync(base, "Film.mkv", "Other.mkv")
    job = wait_served_task(base, tid)
    assert job["status"] == "failed" and job["error_code"] == "not_same_film", job
    doc = http_json("GET", f"{base}/api/tasks/{tid}/map")
    assert doc["source"] == "refused" and doc["map"]["segments"], doc

    page = browser.new_page()
    page.goto(f"{base}/tasks/{tid}")
    page.wait_for_selector("#correct-segments tr.correct-seg", timeout=30_000)
    assert page.locator("#failure-reasons li").count() == len(job["reasons"]) > 0
    assert page.locator("#correct-refused-help").is_visible()
    accept = page.get_by_role("button", name="Accept this map by hand")
    assert accept.is_enabled()                              # as it is, no edit needed
    assert page.locator("#listen-box").is_hidden()          # nothing written to listen to
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "refused-card.png"), full_page=True)

    accept.click()
    page.wait_for_selector("#status-badge:text('Completed')", timeout=120_000)
    page.wait_for_selector("#correct-versions li", timeout=30_000)
    job = http_json("GET", f"{base}/api/status/{tid}")
    assert job["status"] == "completed" and job["version"] == 1, job
    assert job["map_source"] == "given" and job["versions"][0]["map_source"] == "given"
    assert page.locator("#failure").is_hidden()
    assert page.locator("#correct-refused-help").is_hidden()
    assert "Version 1 — map set by hand — rendered in" in page.locator(
        "#correct-versions").inner_text()
    assert page.locator("#download").get_attribute("href")
    page.screenshot(path=str(SHOTS / "refused-accepted.png"), full_page=True)


def test_edges_move_on_the_dub_and_overlaps_are_caught(browser, server, clips):
    """A three-segment map (given through the API): the edge between two segments that
    touch on the dub is one typed time, the edge around a dropped stretch is two; a
    segment moved onto its neighbour's place on the original is caught before Apply;
    Apply sends the edges moved, every offset kept."""
    base, media = server
    for clip, name in zip(clips, ("Film.mkv", "Film.ES.mkv")):
        shutil.copy(clip, media / name)
    tid = _sync(base, "Film.mkv", "Film.ES.mkv")
    assert wait_served_task(base, tid)["status"] == "completed"
    three = [(1.5, 10.0, -1.5), (10.0, 17.0, -1.0), (18.0, 24.0, -1.9)]
    http_json("PUT", f"{base}/api/tasks/{tid}/map", {"version": 1, "map": {"segments": [
        {"dub_start": a, "dub_end": b, "speed": 1.0, "orig_start": a + off}
        for a, b, off in three]}})
    assert wait_served_task(base, tid)["version"] == 2

    page = browser.new_page()
    page.goto(f"{base}/tasks/{tid}")
    page.wait_for_selector("#correct-segments tr.correct-seg", timeout=30_000)
    assert page.locator("#correct-segments tr.correct-seg").count() == 3
    edge = page.get_by_label("Dub time of the edge between segments 1 and 2, in seconds")
    end2 = page.get_by_label("Dub time where segment 2 ends, in seconds")
    start3 = page.get_by_label("Dub time where segment 3 starts, in seconds")
    assert edge.input_value() == "10.000" and end2.input_value() == "17.000"
    assert start3.input_value() == "18.000"

    edge.fill("11")
    edge.press("Tab")
    seg1, seg2 = (page.locator(f"#correct-segments tr.correct-seg[data-seg='{k}']")
                  for k in (0, 1))
    assert seg1.locator("td").nth(0).inner_text() == "0:00:01.500 – 0:00:11.000"
    assert seg2.locator("td").nth(0).inner_text() == "0:00:11.000 – 0:00:17.000"
    # each keeps its offset: segment 2 now starts 1 s later on the original too
    assert seg2.locator("td").nth(1).inner_text() == "0:00:10.000 – 0:00:16.000"
    assert seg2.locator("input.correct-time").input_value() == "-1.000"
    assert "correct-changed" in edge.get_attribute("class")

    # segment 3 starting at 17.5 s of the dub would play over segment 2's end
    start3.fill("17.5")
    start3.press("Tab")
    assert "Segments 2 and 3 would play at the same time on the original." in \
        page.locator("#correct-state").inner_text()
    assert page.locator("#correct-apply").is_disabled()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#correct-box").screenshot(path=str(SHOTS / "correct-card-edges.png"))
    start3.fill("18.2")
    start3.press("Tab")
    assert page.locator("#correct-state").inner_text().strip() == "Segments changed: 3."
    assert page.locator("#correct-apply").is_enabled()

    page.click("#correct-apply")
    page.wait_for_function("() => document.querySelectorAll('#correct-versions li').length === 3",
                           timeout=120_000)
    got = http_json("GET", f"{base}/api/tasks/{tid}/map")["map"]["segments"]
    assert [t for s in got for t in (s["dub_start"], s["dub_end"])] == pytest.approx(
        [1.5, 11.0, 11.0, 17.0, 18.2, 24.0], abs=1e-6)
    assert [s["offset"] for s in got] == pytest.approx([-1.5, -1.0, -1.9], abs=1e-6)
