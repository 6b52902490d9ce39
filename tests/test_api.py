"""REST API: every endpoint, errors included. The engine is a fake here (these tests are
about the web layer); tests/test_api_engine.py runs the real one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import io
import json
import logging
import os
import threading
import time

import pytest
from werkzeug.routing import Rule

from app import create_app
from app.errors import AlignmentError, ModelError
from tests.helpers.web import (MKV_HEAD, FakeEngine, app_for, assert_error, fake_report,
                               fake_sync_report, make_settings, upload, wait_finished)


# -- POST /api/upload ------------------------------------------------------------------------
def test_upload_runs_a_job_to_completion(client, settings, engine):
    r = upload(client, custom_name="Mi película", mode="audio", gap_fill="original")
    assert r.status_code == 202
    body = r.get_json()
    assert body["status"] == "queued" and body["task_id"]
    assert r.headers["Location"].endswith(f"/api/status/{body['task_id']}")
    job = wait_finished(client, body["task_id"])
    assert job["status"] == "completed" and job["progress"] == 100 and job["stage"] == "done"
    assert job["original_name"] == "Film.2019.mkv" and job["dubbed_name"] == "Film.ES.mkv"
    res = job["result"]
    assert res["output"] == "Mi película.mkv" and res["confidence"] == pytest.approx(0.93)
    assert res["map"]["segments"] == 1 and res["map"]["offset_first_s"] == -1.5
    assert res["map"]["languages"] == {"original": "eng", "dubbed": "spa"}
    assert (settings.output_dir / "Mi película.mkv").is_file()
    req = engine.calls[0]
    assert req.mode == "audio" and req.gap_fill == "original"
    # work folder and incoming parts are gone once the job completed; the inputs are
    # kept INPUT_RETENTION_HOURS (the map can be corrected), then swept
    assert job["version"] == 1 and job["map_source"] == "analysed" and job["correctable"]
    assert list((settings.uploads_dir / "jobs").iterdir())
    assert not any((settings.uploads_dir / ".incoming").iterdir())
    assert not (settings.data_dir / "work" / body["task_id"]).exists()
    jobs = client.application.extensions["jobs"]
    assert jobs.sweep_inputs() == []
    later = datetime.now(timezone.utc) + timedelta(hours=settings.input_retention_hours,
                                                   minutes=1)
    assert jobs.sweep_inputs(now=later) == [body["task_id"]]
    assert not any((settings.uploads_dir / "jobs").iterdir())
    job = client.get(f"/api/status/{body['task_id']}").get_json()
    assert not job["correctable"] and "INPUT_RETENTION_HOURS" in job["correct_blocked"]


def test_upload_streams_parts_to_the_uploads_disk(client, settings, app):
    # the multipart parser writes file parts into UPLOADS_DIR/.incoming, not into memory
    from app.uploads import StreamingRequest
    assert app.request_class is StreamingRequest
    big = b"\x1a\x45\xdf\xa3" + os.urandom(3 * 1024 * 1024)
    r = upload(client, orig=big)
    assert r.status_code == 202
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "completed"


@pytest.mark.parametrize("missing", ["original_video", "dubbed_video"])
def test_upload_missing_field(client, missing):
    data = {"original_video": (io.BytesIO(MKV_HEAD), "a.mkv"),
            "dubbed_video": (io.BytesIO(MKV_HEAD), "b.mkv")}
    del data[missing]
    body = assert_error(client.post("/api/upload", data=data), 400, "bad_input")
    assert missing in body["message"]


def test_upload_wrong_extension(client, settings):
    body = assert_error(upload(client, names=("film.exe", "b.mkv")), 400, "bad_input")
    assert "exe" in body["message"] and "mkv" in body["message"]
    assert not any((settings.uploads_dir / ".incoming").iterdir())
    assert client.get("/api/tasks").get_json()["tasks"] == []


def test_upload_bad_options(client):
    assert_error(upload(client, mode="fast"), 400, "bad_input")
    assert_error(upload(client, gap_fill="music"), 400, "bad_input")


def test_upload_over_the_size_limit_is_413(tmp_path, engine):
    s = make_settings(tmp_path, max_content_length=2048)
    with app_for(s, engine) as app:
        r = upload(app.test_client(), orig=MKV_HEAD * 4)
        assert_error(r, 413)


def test_non_media_fails_with_a_clear_message_and_no_output(client, settings):
    r = upload(client, orig=b"this is not a video at all" * 100)
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "failed" and job["error_code"] == "bad_input"
    assert "not a video" in job["error"]
    assert list(settings.output_dir.iterdir()) == []
    assert job["result"] is None


# -- outputs -------------------------------------------------------------------------------
def test_output_names_are_sanitized_and_unique(client, settings):
    ids = [upload(client, custom_name="../../etc/Film: Part 1?").get_json()["task_id"]
           for _ in range(2)]
    ids.append(upload(client, names=("Die Hard (1988).mkv", "x.mkv")).get_json()["task_id"])
    outs = [wait_finished(client, i)["result"]["output"] for i in ids]
    assert outs == ["etc_Film_ Part 1.mkv", "etc_Film_ Part 1 (2).mkv",
                    "Die Hard (1988).synced.mkv"]
    assert sorted(p.name for p in settings.output_dir.iterdir()) == sorted(outs)


# -- status, tasks, download, report ----------------------------------------------------------
def test_unknown_task_is_404_everywhere(client):
    for method, url in [("get", "/api/status/nope"), ("get", "/api/download/nope"),
                        ("get", "/api/report/nope"), ("get", "/api/report/nope/offset.svg"),
                        ("delete", "/api/tasks/nope"), ("post", "/api/tasks/nope/retry")]:
        assert_error(getattr(client, method)(url), 404, "not_found")
    assert client.get("/tasks/nope").status_code == 404


def test_unknown_route_and_wrong_method_are_json(client):
    assert_error(client.get("/api/nothing-here"), 404)
    r = client.get("/api/upload")
    assert_error(r, 405)
    assert "POST" in r.headers["Allow"]


def test_download_supports_ranges(client, settings):
    tid = upload(client).get_json()["task_id"]
    wait_finished(client, tid)
    whole = client.get(f"/api/download/{tid}")
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    assert "attachment" in whole.headers["Content-Disposition"]
    data = whole.get_data()
    assert data[:4] == b"\x1a\x45\xdf\xa3"
    part = client.get(f"/api/download/{tid}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.get_data() == data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(f"/api/download/{tid}", headers={"Range": f"bytes={len(data) - 10}-"})
    assert tail.status_code == 206 and tail.get_data() == data[-10:]
    assert client.get(f"/api/download/{tid}",
                      headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416
    etag = whole.headers["ETag"]
    assert client.get(f"/api/download/{tid}", headers={"If-None-Match": etag}).status_code == 304


def test_download_before_completion_is_400(client, engine):
    engine.hold = threading.Event()
    tid = upload(client).get_json()["task_id"]
    assert engine.started.wait(5)
    assert_error(client.get(f"/api/download/{tid}"), 400, "bad_input")
    engine.hold.set()
    wait_finished(client, tid)


def test_report_json_and_picture(client):
    tid = upload(client).get_json()["task_id"]
    wait_finished(client, tid)
    rep = client.get(f"/api/report/{tid}").get_json()
    assert rep == fake_report()
    svg = client.get(f"/api/report/{tid}/offset.svg?lang=es")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    text = svg.get_data(as_text=True)
    assert text.startswith("<svg") and "Desfase" in text
    assert text.count('class="anchor"') == 9 and 'class="segment"' in text
    assert 'class="insert"' in text


def test_tasks_list_newest_first(client):
    a = upload(client).get_json()["task_id"]
    wait_finished(client, a)
    b = upload(client).get_json()["task_id"]
    wait_finished(client, b)
    data = client.get("/api/tasks").get_json()
    assert [t["task_id"] for t in data["tasks"]] == [b, a]
    assert data["counts"]["completed"] == 2


def test_progress_is_reported_while_running(client, engine):
    engine.hold = threading.Event()
    tid = upload(client).get_json()["task_id"]
    assert engine.started.wait(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        job = client.get(f"/api/status/{tid}").get_json()
        if job["progress"] > 0:
            break
        time.sleep(0.02)
    assert job["status"] == "processing" and 0 < job["progress"] < 100
    assert job["stage"] in ("probe", "extract", "audio_anchors") and job["message"]
    assert job["started_at"] and not job["finished_at"]
    engine.hold.set()
    assert wait_finished(client, tid)["status"] == "completed"


# -- cancel, delete, retry -----------------------------------------------------------------
def test_cancel_running_then_queued(tmp_path):
    engine = FakeEngine(hold=threading.Event())
    s = make_settings(tmp_path)
    with app_for(s, engine) as app:
        client = app.test_client()
        running = upload(client).get_json()["task_id"]
        assert engine.started.wait(5)
        queued = upload(client).get_json()["task_id"]
        assert client.get(f"/api/status/{queued}").get_json()["status"] == "queued"
        r = client.delete(f"/api/tasks/{queued}")
        assert r.status_code == 202 and r.get_json()["status"] == "cancelled"
        r = client.delete(f"/api/tasks/{running}")
        assert r.status_code == 202
        job = wait_finished(client, running)
        assert job["status"] == "cancelled"
        assert list(s.output_dir.iterdir()) == []
        assert not (s.data_dir / "work" / running).exists()
        assert len(engine.calls) == 1  # the queued one never ran


def test_delete_finished_task(client, settings):
    tid = upload(client).get_json()["task_id"]
    out = settings.output_dir / wait_finished(client, tid)["result"]["output"]
    r = client.delete(f"/api/tasks/{tid}")
    assert r.status_code == 200 and r.get_json()["deleted"] is True
    assert out.is_file()  # the MKV is kept unless asked
    assert_error(client.get(f"/api/status/{tid}"), 404)
    tid = upload(client).get_json()["task_id"]
    out = settings.output_dir / wait_finished(client, tid)["result"]["output"]
    assert client.delete(f"/api/tasks/{tid}?delete_output=true").status_code == 200
    assert not out.exists()


def test_failed_task_can_be_retried(client, engine, settings):
    real = engine.__call__
    calls = {"n": 0}

    def flaky(request, s, progress=None, cancel=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ModelError("the Whisper model could not load")
        return real(request, s, progress, cancel)

    engine.__class__ = type("Flaky", (FakeEngine,), {"__call__": lambda self, *a, **k: flaky(*a, **k)})
    tid = upload(client).get_json()["task_id"]
    job = wait_finished(client, tid)
    assert job["status"] == "failed" and job["error_code"] == "model_error"
    assert list((settings.uploads_dir / "jobs").iterdir())  # inputs kept for a re-run
    r = client.post(f"/api/tasks/{tid}/retry")
    assert r.status_code == 202
    job = wait_finished(client, tid)
    assert job["status"] == "completed" and job["attempts"] == 2 and job["error"] is None
    assert_error(client.post(f"/api/tasks/{tid}/retry"), 400, "bad_input")


def test_alignment_refusal_keeps_reasons_and_report(client, engine, settings):
    def refuse(request, s, progress=None, cancel=None):
        raise AlignmentError("These files do not seem to be the same film",
                             reasons=["only 2 anchors agree"], report=fake_sync_report(0.2))
    engine.__class__ = type("Refuse", (FakeEngine,), {"__call__": lambda self, *a, **k: refuse(*a, **k)})
    tid = upload(client).get_json()["task_id"]
    job = wait_finished(client, tid)
    assert job["status"] == "failed" and job["error_code"] == "not_same_film"
    assert job["reasons"] == ["only 2 anchors agree"] and job["has_report"]
    assert client.get(f"/api/report/{tid}").get_json()["confidence"] == 0.2
    assert client.get(f"/api/report/{tid}/offset.svg").status_code == 200
    assert list(settings.output_dir.iterdir()) == []


def test_unexpected_engine_error_fails_the_job(client, engine, settings):
    engine.__class__ = type("Boom", (FakeEngine,), {
        "__call__": lambda self, *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))})
    tid = upload(client).get_json()["task_id"]
    job = wait_finished(client, tid)
    assert job["status"] == "failed" and job["error_code"] == "internal_error"
    assert "boom" in job["error"]


# -- resumable uploads -----------------------------------------------------------------------
def create_upload(client, name="film.mkv", size=1000):
    r = client.post("/api/uploads", json={"filename": name, "size": size})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def put(client, uid, data: bytes, start: int, total: int, **kw):
    end = start + len(data) - 1
    return client.put(f"/api/uploads/{uid}", data=data,
                      headers={"Content-Range": f"bytes {start}-{end}/{total}"}, **kw)


def test_chunked_upload_interrupted_and_resumed_is_byte_identical(client, settings):
    blob = MKV_HEAD + os.urandom(300_000)
    info = create_upload(client, "Original Film.mkv", len(blob))
    uid = info["upload_id"]
    assert info["offset"] == 0 and info["chunk_size"] > 0 and not info["complete"]
    assert put(client, uid, blob[:100_000], 0, len(blob)).get_json()["offset"] == 100_000
    # the next chunk's connection drops after 30,000 of its 100,000 bytes
    chunk = blob[100_000:200_000]
    r = client.put(f"/api/uploads/{uid}", input_stream=io.BytesIO(chunk[:30_000]),
                   environ_overrides={"CONTENT_LENGTH": str(len(chunk))},
                   headers={"Content-Range": f"bytes 100000-199999/{len(blob)}"})
    assert r.status_code in (400, 409), r.get_json()
    offset = client.get(f"/api/uploads/{uid}").get_json()["offset"]
    assert offset == 130_000
    # the client resumes from what arrived (re-sending a few bytes already there is fine)
    assert put(client, uid, blob[offset - 10:], offset - 10, len(blob)).status_code == 200
    done = client.post(f"/api/uploads/{uid}/finish").get_json()
    assert done["complete"] and done["offset"] == len(blob)
    dub = create_upload(client, "dub.mkv", len(MKV_HEAD))
    put(client, dub["upload_id"], MKV_HEAD, 0, len(MKV_HEAD))
    client.post(f"/api/uploads/{dub['upload_id']}/finish")
    r = client.post("/api/sync", json={"original_upload": uid, "dubbed_upload": dub["upload_id"]})
    assert r.status_code == 202
    job_folder = settings.uploads_dir / "jobs" / r.get_json()["task_id"]
    assert (job_folder / "original.mkv").read_bytes() == blob
    job = wait_finished(client, r.get_json()["task_id"])
    assert job["status"] == "completed" and job["original_name"] == "Original Film.mkv"
    assert job["result"]["output"] == "Original Film.synced.mkv"
    assert_error(client.get(f"/api/uploads/{uid}"), 404)  # consumed by the job


def test_chunked_upload_errors(client):
    assert_error(client.post("/api/uploads", json={"filename": "a.txt", "size": 10}), 400)
    assert_error(client.post("/api/uploads", json={"filename": "a.mkv"}), 400)
    assert_error(client.post("/api/uploads", json={"filename": "a.mkv", "size": -1}), 400)
    assert_error(client.post("/api/uploads", json={"filename": "a.mkv", "size": 10**15}), 400)
    uid = create_upload(client, size=100)["upload_id"]
    assert_error(client.put(f"/api/uploads/{uid}", data=b"x" * 10), 400)  # no Content-Range
    body = assert_error(put(client, uid, b"x" * 10, 50, 100), 409, "offset_mismatch")
    assert body["offset"] == 0                                   # where to resume from
    assert_error(put(client, uid, b"x" * 10, 0, 99), 400)        # wrong total
    assert_error(put(client, uid, b"x" * 10, 95, 100), 400)      # past the end of the file
    assert put(client, uid, b"x" * 10, 0, 100).get_json()["offset"] == 10
    assert_error(client.put(f"/api/uploads/{uid}", data=b"x" * 5,   # length != range
                            headers={"Content-Range": "bytes 10-19/100"}), 400)
    body = assert_error(client.post(f"/api/uploads/{uid}/finish"), 409)
    assert body["offset"] == 10
    other = create_upload(client, size=10)["upload_id"]
    assert_error(client.post("/api/sync", json={"original_upload": uid,
                                                "dubbed_upload": other}), 400, "bad_input")
    assert_error(client.post("/api/sync", json={"original_upload": uid}), 400)
    for bad in ("0" * 32, "../../etc", "x"):
        assert_error(client.get(f"/api/uploads/{bad}"), 404)
    assert client.delete(f"/api/uploads/{other}").status_code == 204
    assert_error(client.get(f"/api/uploads/{other}"), 404)


# -- media folder -------------------------------------------------------------------------
@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    (root / "Series" / "S1").mkdir(parents=True)
    (root / "Series" / "S1" / "E01.GER.mkv").write_bytes(MKV_HEAD)
    (root / "Series" / "S1" / "E01.ES.mkv").write_bytes(MKV_HEAD)
    (root / "Series" / "notes.txt").write_text("x")
    (root / "Film.mkv").write_bytes(MKV_HEAD)
    (root / ".hidden.mkv").write_bytes(MKV_HEAD)
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "stolen.mkv").write_bytes(MKV_HEAD)
    os.symlink(outside, root / "escape")
    os.symlink(outside / "stolen.mkv", root / "link.mkv")
    os.symlink(root / "Film.mkv", root / "Series" / "inside-link.mkv")
    return root


@pytest.fixture
def media_client(tmp_path, media, engine):
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=media)
    with app_for(s, engine) as app:
        yield app.test_client()


def test_media_status_and_list(media_client):
    st = media_client.get("/api/media/status").get_json()
    assert st["enabled"] and st["available"]
    root = media_client.get("/api/media/list").get_json()
    assert root["path"] == "" and root["parent"] is None
    names = [(e["name"], e["type"]) for e in root["entries"]]
    assert names == [("Series", "directory"), ("Film.mkv", "video")]  # no links out, no hidden
    assert root["entries"][1]["size"] == len(MKV_HEAD)
    sub = media_client.get("/api/media/list?path=Series").get_json()
    assert sub["parent"] == "" and sub["breadcrumbs"] == [{"name": "Series", "path": "Series"}]
    assert [e["name"] for e in sub["entries"]] == ["S1", "inside-link.mkv"]
    assert sub["entries"][0]["items"] == 2 and sub["entries"][0]["videos"] == 2
    deep = media_client.get("/api/media/list?path=Series/S1").get_json()
    assert deep["parent"] == "Series"
    assert [e["path"] for e in deep["entries"]] == ["Series/S1/E01.ES.mkv", "Series/S1/E01.GER.mkv"]


@pytest.mark.parametrize("path", ["..", "../secret", "Series/../../secret", "escape",
                                  "escape/", "/etc", "Series/S1/../../../secret"])
def test_media_list_refuses_escapes(media_client, path):
    assert_error(media_client.get("/api/media/list", query_string={"path": path}), 403,
                 "forbidden_path")


def test_media_list_missing_folder_is_404(media_client):
    assert_error(media_client.get("/api/media/list?path=Nope"), 404)


def test_media_disabled(client):
    assert client.get("/api/media/status").get_json()["enabled"] is False
    assert_error(client.get("/api/media/list"), 404)
    assert_error(client.post("/api/sync", json={"original_path": "a.mkv",
                                                "dubbed_path": "b.mkv"}), 404)


def test_sync_from_media_folder(media_client, engine, media):
    r = media_client.post("/api/sync", json={"original_path": "Series/S1/E01.GER.mkv",
                                             "dubbed_path": "Series/S1/E01.ES.mkv",
                                             "custom_name": "E01"})
    assert r.status_code == 202
    job = wait_finished(media_client, r.get_json()["task_id"])
    assert job["status"] == "completed" and job["source"] == "media"
    assert job["result"]["output"] == "E01.mkv"
    assert engine.calls[0].original == media / "Series" / "S1" / "E01.GER.mkv"
    assert (media / "Series" / "S1" / "E01.GER.mkv").is_file()  # sources are never removed
    # a link that stays inside the root is fine
    r = media_client.post("/api/sync", json={"original_path": "Series/inside-link.mkv",
                                             "dubbed_path": "Film.mkv"})
    assert r.status_code == 400  # resolves to the same file as the dub
    r = media_client.post("/api/sync", data={"original_path": "Series/inside-link.mkv",
                                             "dubbed_path": "Series/S1/E01.ES.mkv"})
    assert r.status_code == 202  # form-encoded bodies work too (seed clients)


@pytest.mark.parametrize("orig", ["../secret/stolen.mkv", "link.mkv", "escape/stolen.mkv",
                                  "/etc/passwd"])
def test_sync_refuses_escapes(media_client, orig):
    assert_error(media_client.post("/api/sync", json={"original_path": orig,
                                                      "dubbed_path": "Film.mkv"}), 403)


def test_sync_media_errors(media_client):
    assert_error(media_client.post("/api/sync", json={"dubbed_path": "Film.mkv"}), 400)
    assert_error(media_client.post("/api/sync", json={"original_path": "Missing.mkv",
                                                      "dubbed_path": "Film.mkv"}), 404)
    assert_error(media_client.post("/api/sync", json={"original_path": "Series/notes.txt",
                                                      "dubbed_path": "Film.mkv"}), 400)
    assert_error(media_client.post("/api/sync", json={"original_path": "Film.mkv",
                                                      "dubbed_path": "Film.mkv",
                                                      "mode": "turbo"}), 400)


# -- health, system, openapi -------------------------------------------------------------------
def test_health(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    h = r.get_json()
    assert h["status"] in ("ok", "degraded")
    assert set(h["checks"]) == {"ffmpeg", "models", "disk", "runner"}
    assert h["checks"]["ffmpeg"]["ok"] and h["checks"]["runner"]["ok"]


def test_health_fails_when_the_runner_is_down(client, app):
    app.extensions["jobs"].shutdown()
    r = client.get("/api/health")
    assert r.status_code == 503 and r.get_json()["status"] == "error"


def test_system_info(client):
    info = client.get("/api/system-info").get_json()
    assert info["cpu"]["count"] >= 1 and info["memory"]["total_bytes"] > 0
    assert set(info["disk"]) >= {"uploads", "output", "data"}
    assert "cuda_devices" in info["gpu"]
    assert info["models"]["whisper"]["name"] == "base"
    assert info["versions"]["flask"] and info["versions"]["python"]


def test_openapi_matches_the_routes(app, client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, m.upper()) for path, ops in doc["paths"].items()
                  for m in ops if m != "parameters"}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = _openapi_path(rule)
        routed |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    for path, ops in doc["paths"].items():  # every path parameter is declared
        params = {p["name"] for p in ops.get("parameters", [])}
        for op in (v for k, v in ops.items() if k != "parameters"):
            params |= {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert {seg[1:-1] for seg in path.split("/") if seg.startswith("{")} <= params


def _openapi_path(rule: Rule) -> str:
    out = rule.rule
    for arg in rule.arguments:
        out = out.replace(f"<{arg}>", f"{{{arg}}}")
        for conv in ("string", "int", "path"):
            out = out.replace(f"<{conv}:{arg}>", f"{{{arg}}}")
    return out


# -- access -----------------------------------------------------------------------------------
@pytest.fixture
def keyed(tmp_path, engine):
    s = make_settings(tmp_path, api_key="s3cret-key")
    with app_for(s, engine) as app:
        yield app


def test_api_key_required(keyed):
    c = keyed.test_client()
    assert_error(c.get("/api/tasks"), 401)
    assert_error(c.get("/api/tasks", headers={"X-API-Key": "wrong"}), 401)
    assert c.get("/api/tasks", headers={"X-API-Key": "s3cret-key"}).status_code == 200
    assert c.get("/api/health").status_code == 200            # for container health checks
    assert c.get("/api/openapi.json").status_code == 200
    r = upload(c)
    assert r.status_code == 401
    r = c.post("/api/upload", headers={"X-API-Key": "s3cret-key"},
               data={"original_video": (io.BytesIO(MKV_HEAD), "a.mkv"),
                     "dubbed_video": (io.BytesIO(MKV_HEAD), "b.mkv")})
    assert r.status_code == 202


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_pages_need_login_and_csrf(keyed):
    c = keyed.test_client()
    r = c.get("/tasks")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    page = c.get("/login").get_data(as_text=True)
    token = _csrf(page)
    assert c.post("/login", data={"api_key": "s3cret-key"}).status_code == 400  # no CSRF
    assert c.post("/login", data={"api_key": "nope", "csrf_token": token}).status_code == 401
    r = c.post("/login?next=/tasks", data={"api_key": "s3cret-key", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/tasks")
    assert c.get("/tasks").status_code == 200
    # the logged-in browser may use the API; changes need the CSRF header
    assert c.get("/api/tasks").status_code == 200
    html = c.get("/upload").get_data(as_text=True)
    meta = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert_error(c.post("/api/uploads", json={"filename": "a.mkv", "size": 5}), 403)
    r = c.post("/api/uploads", json={"filename": "a.mkv", "size": 5},
               headers={"X-CSRF-Token": meta})
    assert r.status_code == 201
    # no open redirect after login
    c2 = keyed.test_client()
    tok = _csrf(c2.get("/login").get_data(as_text=True))
    r = c2.post("/login?next=//evil.example/x", data={"api_key": "s3cret-key",
                                                        "csrf_token": tok})
    assert r.headers["Location"] == "/"
    # logging out needs the token too
    assert c.post("/logout").status_code == 400
    assert c.post("/logout", data={"csrf_token": meta}).status_code == 302
    assert c.get("/tasks").status_code == 302


def test_warning_when_open_on_the_network(tmp_path, engine, caplog):
    caplog.set_level(logging.WARNING)
    for host, key, warned in [("0.0.0.0", "", True), ("127.0.0.1", "", False),
                              ("0.0.0.0", "k", False)]:
        caplog.clear()
        app = create_app({"SETTINGS": make_settings(tmp_path, app_host=host, api_key=key),
                          "SYNC_ENGINE": engine})
        app.extensions["jobs"].shutdown(wait=True)
        assert ("API_KEY is not set" in caplog.text) is warned, host


def test_json_errors_shape_for_bad_json(client):
    r = client.post("/api/sync", data="[1, 2]", content_type="application/json")
    assert_error(r, 400)
    assert json.loads(r.get_data())["error"] == "bad_input"


def test_stale_uploads_are_removed_at_start(tmp_path, engine):
    s = make_settings(tmp_path)
    old, fresh = s.uploads_dir / "partial" / ("a" * 32), s.uploads_dir / "partial" / ("b" * 32)
    part = s.uploads_dir / ".incoming" / "part-x"
    for d in (old, fresh):
        d.mkdir(parents=True)
        (d / "data").write_bytes(b"x")
        (d / "meta.json").write_text("{}")
    part.parent.mkdir()
    part.write_bytes(b"x")
    week_ago = time.time() - 7 * 24 * 3600
    for p in (old, old / "data", old / "meta.json", part):
        os.utime(p, (week_ago, week_ago))
    app = create_app({"SETTINGS": s, "SYNC_ENGINE": engine})
    app.extensions["jobs"].shutdown(wait=True)
    assert not old.exists() and fresh.exists() and not part.exists()
