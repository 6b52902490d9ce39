"""Real headless Chromium (Debian's /usr/bin/chromium, driven by playwright) against the
real server (gunicorn) and the real engine: upload two generated clips through the page,
watch the progress reach 100 %, see the report picture, download the MKV."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers.media import make_unrelated, streams
from tests.helpers.web import free_port, start_gunicorn, stop

pytestmark = pytest.mark.browser  # ~20 s: not "slow"

# Records the highest value each upload bar reaches (the page leaves for the task page
# as soon as the uploads finish, so the test can't look at them afterwards).
RECORD_BARS = """
new MutationObserver(() => {
  for (const id of ["original-progress", "dubbed-progress"]) {
    const el = document.getElementById(id);
    if (!el) continue;
    const v = Number(el.getAttribute("aria-valuenow") || 0);
    const k = "max-" + id;
    if (v > Number(sessionStorage.getItem(k) || 0)) sessionStorage.setItem(k, String(v));
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});
"""


@pytest.fixture
def server(tmp_path, clips):
    port = free_port()
    media = tmp_path / "media"
    (media / "Series" / "S01").mkdir(parents=True)
    for clip, name in zip(clips, ("E01.GER-ENG.WEBRip.mkv", "E01.ES.mkv")):
        shutil.copy(clip, media / "Series" / "S01" / name)
    proc = start_gunicorn(tmp_path / "srv", port, tmp_path / "server.log",
                          MEDIA_SOURCE_ENABLED="true", MEDIA_SOURCE_PATH=str(media))
    try:
        yield f"http://127.0.0.1:{port}", tmp_path / "srv"
    finally:
        stop(proc)


def test_upload_sync_and_download_in_chromium(browser, server, clips, tmp_path):
    base, srv = server
    orig, dub = clips
    shots = tmp_path / "shots"
    shots.mkdir()
    page = browser.new_page()
    page.add_init_script(RECORD_BARS)

    page.goto(base + "/")
    assert page.locator("h1").inner_text().strip().endswith("SyncDub")
    page.wait_for_selector("#health-state .bi")
    assert "Comenzar sincronización" in page.content()      # Spanish from Accept-Language
    page.screenshot(path=str(shots / "home.png"), full_page=True)

    page.goto(base + "/upload")
    page.set_input_files("#original-file", str(orig))
    page.set_input_files("#dubbed-file", str(dub))
    page.fill("#custom_name", "Película de prueba")
    page.select_option("#mode", "audio")
    page.screenshot(path=str(shots / "upload.png"), full_page=True)
    page.click("#submit-btn")
    page.wait_for_url("**/tasks/*", timeout=60_000)
    bars = page.evaluate("[sessionStorage.getItem('max-original-progress'),"
                         " sessionStorage.getItem('max-dubbed-progress')]")
    assert bars == ["100", "100"], bars

    page.wait_for_selector("#task-progress[aria-valuenow='100']", timeout=180_000)
    assert page.locator("#task-progress .progress-bar").inner_text().strip() == "100 %"
    assert page.locator("#status-badge").inner_text().strip() == "Completada"
    page.wait_for_function("() => { const i = document.getElementById('offset-picture');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=30_000)
    assert page.locator("#result").is_visible()
    assert page.locator("#languages").inner_text().count("spa") == 1
    assert "%" in page.locator("#confidence").inner_text()
    page.screenshot(path=str(shots / "task.png"), full_page=True)

    with page.expect_download(timeout=60_000) as dl_info:
        page.click("#download")
    dl = dl_info.value
    assert dl.suggested_filename == "Película de prueba.mkv"
    saved = tmp_path / "downloaded.mkv"
    dl.save_as(str(saved))
    assert saved.read_bytes() == (srv / "output" / "Película de prueba.mkv").read_bytes()
    kinds = [s["codec_type"] for s in streams(saved)]
    assert kinds.count("video") == 1 and kinds.count("audio") == 2

    page.goto(base + "/tasks")
    page.wait_for_selector(".task-card")
    assert page.locator(".task-card").count() == 1
    page.screenshot(path=str(shots / "tasks.png"), full_page=True)
    page.goto(base + "/system")
    page.screenshot(path=str(shots / "system.png"), full_page=True)
    if Path("/tmp/syncdub-shots").is_dir():  # for a human to look at, when asked for
        for p in shots.iterdir():
            shutil.copy(p, "/tmp/syncdub-shots")


def test_media_folder_picker_in_chromium(browser, server, tmp_path):
    base, srv = server
    page = browser.new_page()
    page.goto(base + "/upload")
    page.click("label[for=mode-nfs]")
    page.wait_for_selector("#nfs-list .list-group-item")
    assert page.locator("#media-badge").inner_text() == "Disponible"
    # a click on a folder's row opens it, as its "Open" button does
    page.locator("#nfs-list .folder-row", has_text="Series").locator(".fw-semibold").click()
    page.locator("#nfs-list .list-group-item", has_text="S01").locator("button").click()
    page.wait_for_selector("[data-path='Series/S01/E01.ES.mkv']")
    assert page.locator("#crumbs").inner_text().replace("\n", "").endswith("SeriesS01")
    page.click("[data-path='Series/S01/E01.GER-ENG.WEBRip.mkv'] .pick-original")
    page.click("[data-path='Series/S01/E01.ES.mkv'] .pick-dubbed")
    assert page.locator("#nfs-original").inner_text().strip().startswith("E01.GER-ENG")
    page.screenshot(path=str(tmp_path / "nfs.png"), full_page=True)
    page.click("#submit-btn")
    page.wait_for_url("**/tasks/*", timeout=30_000)
    page.wait_for_selector("#task-progress[aria-valuenow='100']", timeout=180_000)
    assert page.locator("#status-badge").inner_text().strip() == "Completada"
    assert (srv / "output" / "E01.GER-ENG.WEBRip.synced.mkv").is_file()
    if Path("/tmp/syncdub-shots").is_dir():
        shutil.copy(tmp_path / "nfs.png", "/tmp/syncdub-shots")


def test_refused_task_shows_its_reasons_and_leaves_no_file(browser, server, clips, tmp_path):
    """The real engine refuses an unrelated dub (another sound bed): the task page says
    so in words with the refusal's reasons, and the output folder holds nothing."""
    base, srv = server
    other = make_unrelated(tmp_path / "other.mkv")
    page = browser.new_page()
    page.goto(base + "/upload")
    page.set_input_files("#original-file", str(clips[0]))
    page.set_input_files("#dubbed-file", str(other))
    page.select_option("#mode", "audio")        # no Whisper: the audio evidence refuses
    page.click("#submit-btn")
    page.wait_for_url("**/tasks/*", timeout=60_000)
    page.wait_for_selector("#failure:not(.d-none)", timeout=180_000)
    assert page.locator("#status-badge").inner_text().strip() == "Fallida"
    title = page.locator("#failure-title").inner_text()
    assert "misma película" in title, title                 # err.not_same_film, in Spanish
    reasons = page.locator("#failure-reasons li").all_inner_texts()
    assert reasons and all(len(r) > 15 for r in reasons), reasons
    task_id = page.url.rsplit("/", 1)[-1]
    job = json.loads(page.evaluate(f"fetch('/api/status/{task_id}').then(r => r.text())"))
    assert job["error_code"] == "not_same_film" and reasons == job["reasons"], job
    page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
    out = srv / "output"
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []  # no MKV, no .part
    if Path("/tmp/syncdub-shots").is_dir():
        shutil.copy(tmp_path / "refused.png", "/tmp/syncdub-shots")


def test_two_dubs_in_one_task_in_chromium(browser, server, clips, tmp_path):
    """'Add another dub' on the upload page: the original, its dub and an unrelated
    film's audio as a second dub. The real engine writes the matching dub, refuses the
    other; the task page says "completed with warnings" and lists both dubs."""
    base, srv = server
    orig, dub = clips
    other = make_unrelated(tmp_path / "Otra.Pelicula.mkv")
    page = browser.new_page()
    page.goto(base + "/upload")
    page.set_input_files("#original-file", str(orig))
    page.set_input_files("#dubbed-file", str(dub))
    page.click("#add-dub")
    page.set_input_files("#dubbed2-file", str(other))
    page.select_option("#mode", "audio")
    page.screenshot(path=str(tmp_path / "upload-two-dubs.png"), full_page=True)
    page.click("#submit-btn")
    page.wait_for_url("**/tasks/*", timeout=60_000)
    page.wait_for_selector("#task-progress[aria-valuenow='100']", timeout=240_000)
    page.wait_for_selector("#dubs-table tbody tr")
    assert page.locator("#status-badge").inner_text().strip() == "Completada con avisos"
    assert "Otra.Pelicula.mkv" in page.locator("#warnings-list").inner_text()
    rows = page.locator("#dubs-table tbody tr")
    assert rows.count() == 2
    assert "escrito" in rows.nth(0).inner_text() and "no escrito" in rows.nth(1).inner_text()
    assert "no es la misma película" in rows.nth(1).inner_text()
    page.screenshot(path=str(tmp_path / "task-two-dubs.png"), full_page=True)
    out = list((srv / "output").glob("*.mkv"))
    assert len(out) == 1
    audio = [s for s in streams(out[0]) if s["codec_type"] == "audio"]
    assert len(audio) == 2 and audio[1]["tags"]["language"] == "spa"
    if Path("/tmp/syncdub-shots").is_dir():
        for name in ("upload-two-dubs.png", "task-two-dubs.png"):
            shutil.copy(tmp_path / name, "/tmp/syncdub-shots")
