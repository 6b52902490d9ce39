"""The API with the REAL engine on tiny lavfi media (two 24 s clips, the dub 1.5 s late)."""
from __future__ import annotations

import io

import pytest

from tests.helpers.media import streams
from tests.helpers.web import app_for, make_settings, wait_finished


@pytest.fixture
def real(tmp_path):
    s = make_settings(tmp_path)
    with app_for(s) as app:
        yield app, app.test_client(), s


def test_upload_real_clips_end_to_end(real, clips, tmp_path):
    app, client, s = real
    orig, dub = clips
    with open(orig, "rb") as fo, open(dub, "rb") as fd:
        r = client.post("/api/upload", data={"original_video": (fo, "Film (2001).mkv"),
                                             "dubbed_video": (fd, "Film.ES.mkv"),
                                             "mode": "audio"})
    assert r.status_code == 202, r.get_json()
    tid = r.get_json()["task_id"]
    job = wait_finished(client, tid, timeout=180)
    assert job["status"] == "completed", job
    res = job["result"]
    assert res["output"] == "Film (2001).synced.mkv" and res["confidence"] >= 0.5
    assert res["map"]["offset_first_s"] == pytest.approx(-1.5, abs=0.05)
    assert res["map"]["languages"]["dubbed"] == "spa"
    got = tmp_path / "got.mkv"
    got.write_bytes(client.get(res["download_url"]).get_data())
    kinds = [st["codec_type"] for st in streams(got)]
    assert kinds.count("video") == 1 and kinds.count("audio") == 2
    part = client.get(res["download_url"], headers={"Range": "bytes=0-1023"})
    assert part.status_code == 206 and part.get_data() == got.read_bytes()[:1024]
    rep = client.get(res["report_url"]).get_json()
    assert rep["segments"] and rep["anchors"]
    svg = client.get(res["picture_url"]).get_data(as_text=True)
    assert 'class="anchor"' in svg and 'class="segment"' in svg
    assert list(s.output_dir.iterdir()) == [s.output_dir / res["output"]]
    assert not any((s.data_dir / "work").iterdir())
    assert any((s.uploads_dir / "jobs").iterdir())   # kept: INPUT_RETENTION_HOURS


def test_non_media_under_a_video_extension_fails_clearly(real, clips):
    app, client, s = real
    orig, _ = clips
    junk = io.BytesIO(b"PK\x03\x04 this is a zip file, not a film " * 2000)
    with open(orig, "rb") as fo:
        r = client.post("/api/upload", data={"original_video": (fo, "film.mkv"),
                                             "dubbed_video": (junk, "dub.mkv")})
    tid = r.get_json()["task_id"]
    job = wait_finished(client, tid, timeout=60)
    assert job["status"] == "failed", job
    assert job["error_code"] == "bad_input", job
    assert "dub.mkv" in job["error"] or "dubbed" in job["error"], job["error"]
    assert list(s.output_dir.iterdir()) == []
    assert not any((s.data_dir / "work").iterdir())
