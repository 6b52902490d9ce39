"""Several dubs onto one original in one task, through the API: the multipart field
repeated, the `dubbed_paths` and `dubbed_uploads` lists, what the task says when a dub
was not written ("completed with warnings"), and the limits. The engine is the fake
here (tests/helpers/web.py: a dub named "unrelated…" is refused); the last test runs the
real one."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.submit import MAX_DUBS
from tests.helpers.media import make_unrelated, streams
from tests.helpers.web import (MKV_HEAD, app_for, assert_error, make_settings,
                               wait_finished)


@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    (root / "Film").mkdir(parents=True)
    for name in ("Film.mkv", "Film.ES.mkv", "Film.LAT.mkv", "Film.unrelated.mkv"):
        (root / "Film" / name).write_bytes(MKV_HEAD)
    return root


@pytest.fixture
def media_client(tmp_path, media, engine):
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=media)
    with app_for(s, engine) as app:
        yield app.test_client(), s


def _sync(client, **body):
    return client.post("/api/sync", json=body)


def test_multipart_with_two_dubs_makes_one_task_of_two_tracks(client, settings, engine):
    data = {"original_video": (io.BytesIO(MKV_HEAD), "Film.mkv"),
            "dubbed_video": [(io.BytesIO(MKV_HEAD), "Film.ES.mkv"),
                             (io.BytesIO(MKV_HEAD), "Film.CAT.mp4")]}
    r = client.post("/api/upload", data=data, content_type="multipart/form-data")
    assert r.status_code == 202, r.get_json()
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "completed" and job["warnings"] == []
    assert job["dubbed_name"] == "Film.ES.mkv"
    assert job["dubbed_names"] == ["Film.ES.mkv", "Film.CAT.mp4"]
    req = engine.calls[0]
    assert req.dub.name == "dubbed.mkv"
    assert [d.path.name for d in req.more_dubs] == ["dubbed2.mp4"]
    assert [d["accepted"] for d in job["result"]["map"]["dubs"]] == [True, True]
    # a task of several dubs cannot be corrected yet: its inputs go when it completes
    assert not job["correctable"] and "several dubs" in job["correct_blocked"]
    assert not any((settings.uploads_dir / "jobs").iterdir())


def test_dubbed_paths_from_the_media_folder(media_client, engine):
    client, s = media_client
    r = _sync(client, original_path="Film/Film.mkv",
              dubbed_paths=["Film/Film.ES.mkv", "Film/Film.LAT.mkv"])
    assert r.status_code == 202, r.get_json()
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "completed" and job["dubbed_names"] == [
        "Film.ES.mkv", "Film.LAT.mkv"]
    assert [d.path.name for d in engine.calls[0].more_dubs] == ["Film.LAT.mkv"]
    # the media folder's files are used where they are, and left there
    assert (s.media_source_path / "Film" / "Film.LAT.mkv").is_file()


def test_a_refused_dub_leaves_the_task_completed_with_warnings(media_client):
    client, _ = media_client
    r = _sync(client, original_path="Film/Film.mkv",
              dubbed_paths=["Film/Film.ES.mkv", "Film/Film.unrelated.mkv"])
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "completed", job
    assert len(job["warnings"]) == 1 and "Film.unrelated.mkv" in job["warnings"][0]
    dubs = job["result"]["map"]["dubs"]
    assert [(d["name"], d["accepted"]) for d in dubs] == [
        ("Film.ES.mkv", True), ("Film.unrelated.mkv", False)]
    assert dubs[1]["error_code"] == "not_same_film" and dubs[1]["error"]
    listed = client.get("/api/tasks").get_json()["tasks"][0]
    assert listed["warnings"] == job["warnings"]


def test_every_dub_refused_fails_the_task(media_client):
    client, s = media_client
    (s.media_source_path / "Film" / "Other.unrelated.mkv").write_bytes(MKV_HEAD)
    r = _sync(client, original_path="Film/Film.mkv",
              dubbed_paths=["Film/Film.unrelated.mkv", "Film/Other.unrelated.mkv"])
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "failed" and job["error_code"] == "not_same_film"
    assert not any(s.output_dir.iterdir())


@pytest.mark.parametrize("body, words", [
    ({"dubbed_path": "Film/Film.ES.mkv", "dubbed_paths": ["Film/Film.LAT.mkv"]}, "not both"),
    ({"dubbed_paths": "Film/Film.ES.mkv"}, "list of strings"),
    ({"dubbed_paths": [1, 2]}, "list of strings"),
    ({"dubbed_paths": []}, "dubbed_path"),
    ({"dubbed_paths": ["Film/Film.ES.mkv", "Film/Film.ES.mkv"]}, "twice"),
    ({"dubbed_paths": ["Film/Film.ES.mkv", "Film/Film.mkv"]}, "same file"),
    ({"dubbed_paths": ["Film/Film.ES.mkv", "../secret.mkv"]}, ""),
    ({"dubbed_paths": ["Film/Film.ES.mkv"] * (MAX_DUBS + 1)}, f"at most {MAX_DUBS}"),
])
def test_bad_dub_lists_are_refused_with_a_message(media_client, body, words):
    client, s = media_client
    r = _sync(client, original_path="Film/Film.mkv", **body)
    assert r.status_code in (400, 403), r.get_json()
    assert words in r.get_json()["message"]
    assert client.get("/api/tasks").get_json()["tasks"] == []


def test_chunked_uploads_as_several_dubs(client, settings, engine):
    ids = []
    for name in ("Film.mkv", "Film.ES.mkv", "Film.LAT.mkv"):
        up = client.post("/api/uploads", json={"filename": name, "size": len(MKV_HEAD)})
        uid = up.get_json()["upload_id"]
        client.put(f"/api/uploads/{uid}", data=MKV_HEAD,
                   headers={"Content-Range": f"bytes 0-{len(MKV_HEAD) - 1}/{len(MKV_HEAD)}"})
        assert client.post(f"/api/uploads/{uid}/finish").status_code == 200
        ids.append(uid)
    r = _sync(client, original_upload=ids[0], dubbed_uploads=ids[1:])
    assert r.status_code == 202, r.get_json()
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "completed" and job["dubbed_names"] == [
        "Film.ES.mkv", "Film.LAT.mkv"]
    same = _sync(client, original_upload=ids[0], dubbed_uploads=[ids[1], ids[1]])
    assert_error(same, 400, "bad_input")


def test_retry_needs_every_dub(media_client):
    client, s = media_client
    second = s.media_source_path / "Film" / "Other.unrelated.mkv"
    second.write_bytes(MKV_HEAD)
    r = _sync(client, original_path="Film/Film.mkv",
              dubbed_paths=["Film/Film.unrelated.mkv", "Film/Other.unrelated.mkv"])
    failed = wait_finished(client, r.get_json()["task_id"])
    assert failed["status"] == "failed"
    second.unlink()             # the second dub is gone: the task cannot be re-run
    body = assert_error(client.post(f"/api/tasks/{failed['task_id']}/retry"), 400, "bad_input")
    assert "gone" in body["message"]


# -- the real engine ----------------------------------------------------------------------
@pytest.mark.slow
def test_real_engine_writes_the_matching_dub_and_names_the_refused_one(tmp_path, clips):
    """Two dubs of one original through the API and the real engine: the matching one
    is written as a track of the MKV, the unrelated one is refused, the task is
    completed with warnings."""
    orig, dub = clips
    other = make_unrelated(tmp_path / "other.mkv")
    s = make_settings(tmp_path)
    with app_for(s) as app:
        client = app.test_client()
        with open(orig, "rb") as fo, open(dub, "rb") as fd, open(other, "rb") as fx:
            r = client.post("/api/upload", data={
                "original_video": (fo, "Film.mkv"),
                "dubbed_video": [(fd, "Film.ES.mkv"), (fx, "Other.Film.mkv")],
                "mode": "audio"}, content_type="multipart/form-data")
        assert r.status_code == 202, r.get_json()
        job = wait_finished(client, r.get_json()["task_id"], timeout=240)
    assert job["status"] == "completed", job
    assert len(job["warnings"]) == 1 and "Other.Film.mkv" in job["warnings"][0]
    dubs = job["result"]["map"]["dubs"]
    assert [(d["name"], d["accepted"]) for d in dubs] == [
        ("Film.ES.mkv", True), ("Other.Film.mkv", False)]
    out = Path(s.output_dir) / job["result"]["output"]
    audio = [st for st in streams(out) if st["codec_type"] == "audio"]
    assert len(audio) == 2                         # the original's + the one dub written
    assert audio[1]["tags"]["language"] == "spa"
