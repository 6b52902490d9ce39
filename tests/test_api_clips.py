"""Listening through the API: GET /api/tasks/<id>/points and /clips/<point>, with the REAL
engine on the generated 24 s clips (the dub 1.5 s late) and real ffmpeg for the clips."""
from __future__ import annotations

import threading

import pytest

from app.services.clips import clip_format
from tests.helpers.media import ffprobe, streams
from tests.helpers.web import (FakeEngine, app_for, assert_error, completed_upload,
                               make_settings, upload, wait_finished)


@pytest.fixture(scope="module")
def done(tmp_path_factory, clips):
    """(client, settings, task id) of a completed task made by the real engine."""
    tmp = tmp_path_factory.mktemp("api_clips")
    s = make_settings(tmp)
    orig, dub = clips
    with app_for(s) as app:
        client = app.test_client()
        tid = completed_upload(client, orig, dub)
        yield client, s, tid


def test_points_of_a_completed_task(done):
    client, s, tid = done
    r = client.get(f"/api/tasks/{tid}/points")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["duration"] == pytest.approx(24.0, abs=0.2)
    assert body["tracks"] == [{"index": 0, "language": "spa", "title": "Spanish (SyncDub)"}]
    points = body["points"]
    assert points and [p["id"] for p in points] == [f"p{i + 1}" for i in range(len(points))]
    assert any(p["kind"] == "inside" for p in points)
    for p in points:
        assert 0 <= p["t"] <= body["duration"] and 0 <= p["confidence"] <= 1 and p["label"]
        assert p["clip"]["duration"] == 8.0
        assert 0 <= p["clip"]["start"] <= body["duration"] - 8.0 + 0.01
    report = client.get(f"/api/report/{tid}").get_json()
    inside = next(p for p in points if p["kind"] == "inside")
    assert inside["confidence"] == pytest.approx(report["segments"][0]["confidence"], abs=1e-3)


@pytest.mark.parametrize("kind,channels", [("both", 2), ("original", 2), ("dub", 2),
                                           ("mix", 2)])
def test_a_clip_decodes_with_its_length_and_channels(done, tmp_path, kind, channels):
    client, s, tid = done
    points = client.get(f"/api/tasks/{tid}/points").get_json()["points"]
    p = points[-1]
    r = client.get(f"/api/tasks/{tid}/clips/{p['id']}?kind={kind}")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    suffix, mimetype = clip_format()
    assert r.mimetype == mimetype
    assert "private" in r.headers["Cache-Control"] and r.headers.get("Accept-Ranges") == "bytes"
    got = tmp_path / f"clip{suffix}"
    got.write_bytes(r.get_data())
    (st,) = streams(got)
    assert st["channels"] == channels
    assert float(ffprobe(got, "-show_format")["format"]["duration"]) == \
        pytest.approx(p["clip"]["duration"], abs=0.1)
    assert any((s.data_dir / "clips" / tid).iterdir())


def test_range_requests_and_the_cache(done):
    client, s, tid = done
    url = f"/api/tasks/{tid}/clips/p1?kind=both&track=0"
    whole = client.get(url)
    assert whole.status_code == 200
    cached = sorted((s.data_dir / "clips" / tid / "v1").iterdir())
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.headers["Content-Range"].startswith("bytes 0-99/")
    assert part.get_data() == whole.get_data()[:100]
    tail = client.get(url, headers={"Range": "bytes=100-"})
    assert tail.status_code == 206 and tail.get_data() == whole.get_data()[100:]
    assert sorted((s.data_dir / "clips" / tid / "v1").iterdir()) == cached  # made once
    etag = whole.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_bad_requests_say_what_to_use(done):
    client, s, tid = done
    body = assert_error(client.get(f"/api/tasks/{tid}/clips/p1?kind=karaoke"), 400,
                        "bad_input")
    assert "original, dub, both, mix" in body["message"]
    body = assert_error(client.get(f"/api/tasks/{tid}/clips/p999"), 404)
    assert f"/api/tasks/{tid}/points" in body["message"]
    body = assert_error(client.get(f"/api/tasks/{tid}/clips/p1?track=1"), 400)
    assert "track=0" in body["message"]
    assert_error(client.get(f"/api/tasks/{tid}/points?track=-1"), 400)
    assert_error(client.get(f"/api/tasks/{tid}/clips/p1?track=one"), 400)
    assert_error(client.get("/api/tasks/nosuchtask/points"), 404)
    assert_error(client.get("/api/tasks/nosuchtask/clips/p1"), 404)


def test_a_task_not_completed_is_409_and_clips_go_with_the_task(tmp_path):
    hold = threading.Event()
    with app_for(make_settings(tmp_path), FakeEngine(hold=hold), TESTING=True) as app:
        client = app.test_client()
        tid = upload(client).get_json()["task_id"]
        try:
            body = assert_error(client.get(f"/api/tasks/{tid}/points"), 409, "not_completed")
            assert "completed" in body["message"]
            assert_error(client.get(f"/api/tasks/{tid}/clips/p1"), 409, "not_completed")
        finally:
            hold.set()
        assert wait_finished(client, tid)["status"] == "completed"
        folder = app.extensions["jobs"].data_dir / "clips" / tid
        folder.mkdir(parents=True)
        (folder / "both-t0-0-8000.ogg").write_bytes(b"OggS")
        assert client.delete(f"/api/tasks/{tid}").status_code == 200
        assert not folder.exists()


def test_several_dubs_each_track_its_own_points_and_clips(tmp_path, clips):
    """Two dubs of one film (1.5 s and 3 s late) in one task: the MKV holds both, the
    points of track 1 come from the second dub's own map, its clips are made."""
    from tests.helpers.media import make_pair
    _, late = make_pair(tmp_path / "late", delay=3.0)
    orig, dub = clips
    with app_for(make_settings(tmp_path)) as app:
        client = app.test_client()
        with open(orig, "rb") as fo, open(dub, "rb") as f1, open(late, "rb") as f2:
            r = client.post("/api/upload", data={
                "original_video": (fo, "Film.mkv"),
                "dubbed_video": [(f1, "Film.ES.mkv"), (f2, "Film.LAT.mkv")],
                "mode": "audio"})
        tid = r.get_json()["task_id"]
        job = wait_finished(client, tid, timeout=240)
        assert job["status"] == "completed" and not job["warnings"], job
        body = client.get(f"/api/tasks/{tid}/points").get_json()
        assert [t["index"] for t in body["tracks"]] == [0, 1]
        second = client.get(f"/api/tasks/{tid}/points?track=1").get_json()
        offsets = {round(p["detail"]["offset"], 1) for p in body["points"]
                   if p["kind"] == "inside"}
        offsets1 = {round(p["detail"]["offset"], 1) for p in second["points"]
                    if p["kind"] == "inside"}
        assert offsets == {-1.5} and offsets1 == {-3.0}
        p = next(p for p in second["points"] if p["kind"] == "inside")
        r = client.get(f"/api/tasks/{tid}/clips/{p['id']}?kind=dub&track=1")
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        got = tmp_path / ("clip" + clip_format()[0])
        got.write_bytes(r.get_data())
        assert float(ffprobe(got, "-show_format")["format"]["duration"]) == \
            pytest.approx(8.0, abs=0.1)
        body = assert_error(client.get(f"/api/tasks/{tid}/clips/p1?track=2"), 400)
        assert "track=0 to 1" in body["message"]
