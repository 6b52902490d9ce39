"""Correcting a task's map through the API: GET /api/tasks/<id>/map, PUT it back edited,
and the MKV rendered again as a new version (app/jobs.py: rerender), with the REAL engine
on the generated 24 s clips (the dub 1.5 s late) and real ffmpeg; the version life cycle
(previous kept while rendering, failed / cancelled / interrupted re-renders, a refused
task accepted by hand) with an engine that writes a marker instead of a film."""
from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.errors import AlignmentError, InputError
from app.jobs import JobRunner
from app.services.clips import clip_format
from app.services.types import SyncResult
from tests.helpers.media import decode_mono, ffprobe
from tests.helpers.web import (FakeEngine, app_for, assert_error, completed_upload,
                               fake_sync_report, make_settings, upload, wait_finished)

RATE = 16000


def lag_ms(a: np.ndarray, b: np.ndarray) -> float:
    """How much later (ms) signal b plays the same sound as a (cross-correlation)."""
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    size = 1 << (2 * n - 1).bit_length()
    xc = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)
    k = int(np.argmax(xc))
    return (k if k < size // 2 else k - size) * 1000.0 / RATE


def right_ear(path: Path) -> np.ndarray:
    """The right channel of a clip, mono float32 at RATE."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-af",
                        "pan=mono|c0=c1", "-ar", str(RATE), "-f", "f32le", "-"],
                       capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype="<f4")


def shifted(doc: dict, seconds: float) -> dict:
    """The map document with every segment's offset moved by `seconds` (orig_start and
    the derived fields together, as the README says)."""
    m = json.loads(json.dumps(doc["map"]))
    for seg in m["segments"]:
        seg["orig_start"] += seconds
        seg["orig_end"] += seconds
        seg["offset"] += seconds
    return {"version": doc["version"], "map": m}


@pytest.fixture(scope="module")
def done(tmp_path_factory, clips):
    """(client, settings, task id, first output's copy) of a task the real engine
    completed."""
    tmp = tmp_path_factory.mktemp("api_map")
    s = make_settings(tmp)
    orig, dub = clips
    with app_for(s) as app:
        client = app.test_client()
        tid = completed_upload(client, orig, dub)
        first = tmp / "v1.mkv"
        first.write_bytes(client.get(f"/api/download/{tid}").get_data())
        yield client, s, tid, first


def test_get_map_is_a_map_document(done):
    client, s, tid, _ = done
    r = client.get(f"/api/tasks/{tid}/map")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["version"] == 1 and doc["source"] == "analysed" and doc["task_id"] == tid
    assert doc["render_version"] == 1
    (seg,) = doc["map"]["segments"]
    assert seg["offset"] == pytest.approx(-1.5, abs=0.02)
    job = client.get(f"/api/status/{tid}").get_json()
    assert job["correctable"] and job["correct_blocked"] is None and job["version"] == 1
    assert job["map_url"].endswith(f"/api/tasks/{tid}/map")
    assert job["versions"][0]["map_source"] == "analysed" and job["versions"][0]["seconds"] > 0


def test_a_shifted_map_renders_a_new_version_moved_by_the_shift(done, tmp_path):
    client, s, tid, first = done
    doc = client.get(f"/api/tasks/{tid}/map").get_json()
    r = client.put(f"/api/tasks/{tid}/map", json=shifted(doc, 0.100))
    assert r.status_code == 202, r.get_json()
    assert r.headers["Location"].endswith(f"/api/status/{tid}")
    job = wait_finished(client, tid, timeout=180)
    assert job["status"] == "completed" and job["render_error"] is None, job
    assert job["version"] == 2 and job["map_source"] == "given" and not job["rerender"]
    assert [v["map_source"] for v in job["versions"]] == ["analysed", "given"]
    assert job["versions"][1]["seconds"] > 0
    name = job["versions"][0]["output"]
    assert job["result"]["output"] == name == "Film (2001).synced.mkv"  # the same name
    assert sorted(p.name for p in s.output_dir.iterdir()) == [name]
    second = tmp_path / "v2.mkv"
    second.write_bytes(client.get(job["result"]["download_url"]).get_data())
    # measured on the files: the dub track is 100 ms later, the original's the same
    moved = lag_ms(decode_mono(first, "0:a:1"), decode_mono(second, "0:a:1"))
    assert moved == pytest.approx(100.0, abs=5.0)
    assert abs(lag_ms(decode_mono(first, "0:a:0"), decode_mono(second, "0:a:0"))) < 1.0
    title = ffprobe(second, "-show_streams")["streams"][2]["tags"]["title"]
    assert "map set by hand" in title
    assert client.get(f"/api/report/{tid}").get_json()["map_source"] == "given"
    again = client.get(f"/api/tasks/{tid}/map").get_json()
    assert again["source"] == "given" and again["render_version"] == 2
    assert again["map"]["segments"][0]["offset"] == pytest.approx(
        doc["map"]["segments"][0]["offset"] + 0.1, abs=1e-6)
    maps = s.data_dir / "maps" / tid
    assert sorted(p.name for p in maps.iterdir()) == ["v1.json", "v2.json"]
    # clips are those of the new version (their cache is per version)
    points = client.get(f"/api/tasks/{tid}/points").get_json()["points"]
    assert client.get(f"/api/tasks/{tid}/clips/{points[0]['id']}").status_code == 200
    assert (s.data_dir / "clips" / tid / "v2").is_dir()


def test_a_nudge_preview_clip_moves_the_dub(done, tmp_path):
    client, s, tid, _ = done
    p = client.get(f"/api/tasks/{tid}/points").get_json()["points"][-1]
    suffix, _ = clip_format()
    got = {}
    for shift in (0, 250, -250):
        r = client.get(f"/api/tasks/{tid}/clips/{p['id']}?kind=both&shift_ms={shift}")
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        got[shift] = tmp_path / f"clip{shift}{suffix}"
        got[shift].write_bytes(r.get_data())
    right = {k: right_ear(f) for k, f in got.items()}      # "both": the dub's ear
    assert lag_ms(right[0], right[250]) == pytest.approx(250.0, abs=5.0)
    assert lag_ms(right[0], right[-250]) == pytest.approx(-250.0, abs=5.0)
    assert float(ffprobe(got[250], "-show_format")["format"]["duration"]) == \
        pytest.approx(p["clip"]["duration"], abs=0.1)
    body = assert_error(client.get(f"/api/tasks/{tid}/clips/p1?shift_ms=abc"), 400)
    assert "shift_ms" in body["message"]
    assert_error(client.get(f"/api/tasks/{tid}/clips/p1?shift_ms=20000"), 400)


@pytest.mark.parametrize("body,field", [
    (b"{not json", "not JSON"),
    (b'{"version": 2, "map": {"segments": []}}', "version"),
    (b'{"version": 1, "map": {"segments": [{"dub_start": 0, "dub_end": 10, "speed": 1, '
     b'"orig_start": 0}, {"dub_start": 5, "dub_end": 20, "speed": 1, "orig_start": 12}]}}',
     "map.segments[1]"),
    (b'{"segments": [{"dub_start": 0, "dub_end": 900, "speed": 1, "orig_start": 0}]}',
     "dub_end"),
    (b'{"segments": [{"dub_start": 0, "dub_end": 10, "speed": 1, "orig_start": 0, '
     b'"offset": 0.5}]}', "offset"),
    (b'[1, 2]', "JSON object"),
])
def test_bad_map_documents_are_400_naming_the_field(done, body, field):
    client, s, tid, _ = done
    before = client.get(f"/api/status/{tid}").get_json()["version"]
    r = client.put(f"/api/tasks/{tid}/map", data=body, content_type="application/json")
    err = assert_error(r, 400)
    assert field in err["message"], err
    job = client.get(f"/api/status/{tid}").get_json()
    assert job["status"] == "completed" and job["version"] == before


def test_map_endpoints_404_and_too_large(done):
    client, s, tid, _ = done
    assert_error(client.get("/api/tasks/nosuchtask/map"), 404)
    assert_error(client.put("/api/tasks/nosuchtask/map", json={"segments": []}), 404)
    big = b'{"segments": [' + b" " * (5 * 1024 * 1024) + b"]}"
    body = assert_error(client.put(f"/api/tasks/{tid}/map", data=big,
                                   content_type="application/json"), 400)
    assert "larger than" in body["message"]


# -- the version life cycle, with an engine that writes a marker -----------------------
class MarkerEngine(FakeEngine):
    """FakeEngine whose output says which map it rendered ("analysed" or the first
    segment's orig_start), so versions can be told apart on the file; `fail_given`
    makes a re-render fail, `refuse` makes the analysis refuse."""

    def __init__(self, hold=None, fail_given=False, refuse=False):
        super().__init__(hold=hold)
        self.fail_given = fail_given
        self.refuse = refuse

    def __call__(self, request, settings, progress=None, cancel=None):
        if request.given_map is None and self.refuse:
            raise AlignmentError("refused: not the same film", reasons=["too few anchors"],
                                 report=replace(fake_sync_report(0.2),
                                                map=_map_dict()))
        if request.given_map is not None and self.fail_given:
            raise InputError("map.segments[0]: ends past the original's end")
        result = super().__call__(request, settings, progress, cancel)
        mark = ("analysed" if request.given_map is None else
                f"given {request.given_map.segments[0].orig_start:.3f}")
        Path(request.output).write_bytes(b"\x1a\x45\xdf\xa3" + mark.encode())
        report = replace(result.report, map=_map_dict(),
                         map_source="given" if request.given_map is not None else None)
        return SyncResult(output=result.output, confidence=result.confidence,
                          speed=result.speed, report=report)


def _map_dict(offset: float = -1.5) -> dict:
    return {"speed": 1.0, "confidence": 0.93, "reasons": [], "orig_duration": 30.0,
            "dub_duration": 30.0, "segments": [{"dub_start": 1.5, "dub_end": 20.0,
                                                "orig_start": 1.5 + offset, "speed": 1.0,
                                                "confidence": 0.93, "anchors": 9}],
            "cuts": [], "inserts": []}


def _doc(orig_start: float) -> dict:
    return {"version": 1, "map": {"segments": [{"dub_start": 1.5, "dub_end": 20.0,
                                                "orig_start": orig_start, "speed": 1.0}]}}


def _completed(client, engine) -> str:
    tid = upload(client).get_json()["task_id"]
    assert wait_finished(client, tid)["status"] == "completed"
    return tid


def test_the_previous_version_stays_until_the_new_one_is_complete(tmp_path):
    hold = threading.Event()
    engine = MarkerEngine()
    with app_for(make_settings(tmp_path), engine, TESTING=True) as app:
        client = app.test_client()
        tid = _completed(client, engine)
        url = f"/api/download/{tid}"
        assert client.get(url).get_data().endswith(b"analysed")
        engine.hold = hold
        try:
            assert client.put(f"/api/tasks/{tid}/map", json=_doc(0.3)).status_code == 202
            assert engine.started.wait(5)
            job = client.get(f"/api/status/{tid}").get_json()
            assert job["status"] in ("queued", "processing") and job["rerender"]
            assert not job["correctable"] and "wait" in job["correct_blocked"]
            # still downloadable: the previous version
            r = client.get(url)
            assert r.status_code == 200 and r.get_data().endswith(b"analysed")
            err = assert_error(client.put(f"/api/tasks/{tid}/map", json=_doc(0.4)), 409,
                               "not_correctable")
            assert "wait" in err["message"]
        finally:
            hold.set()
        job = wait_finished(client, tid)
        assert job["status"] == "completed" and job["version"] == 2
        assert client.get(url).get_data().endswith(b"given 0.300")


def test_a_failed_or_cancelled_rerender_keeps_the_previous_version(tmp_path):
    engine = MarkerEngine(fail_given=True)
    with app_for(make_settings(tmp_path), engine, TESTING=True) as app:
        client = app.test_client()
        tid = _completed(client, engine)
        assert client.put(f"/api/tasks/{tid}/map", json=_doc(0.3)).status_code == 202
        job = wait_finished(client, tid)
        assert job["status"] == "completed" and job["version"] == 1
        assert "re-render failed" in job["render_error"] and "orig" in job["render_error"]
        assert client.get(f"/api/download/{tid}").get_data().endswith(b"analysed")
        assert job["correctable"]
        # cancelled while it runs: back to version 1 too
        engine.fail_given = False
        hold = threading.Event()
        engine.hold = hold
        engine.started.clear()
        assert client.put(f"/api/tasks/{tid}/map", json=_doc(0.3)).status_code == 202
        assert engine.started.wait(5)
        assert client.delete(f"/api/tasks/{tid}").status_code == 202
        job = wait_finished(client, tid)
        assert job["status"] == "completed" and job["version"] == 1
        assert "cancelled" in job["render_error"]
        assert client.get(f"/api/download/{tid}").get_data().endswith(b"analysed")


def test_a_rerender_interrupted_by_a_restart_keeps_the_previous_version(tmp_path):
    s = make_settings(tmp_path)
    hold = threading.Event()
    engine = MarkerEngine()
    with app_for(s, engine, TESTING=True) as app:
        client = app.test_client()
        tid = _completed(client, engine)
        engine.hold = hold
        engine.started.clear()
        assert client.put(f"/api/tasks/{tid}/map", json=_doc(0.3)).status_code == 202
        assert engine.started.wait(5)
        runner = app.extensions["jobs"]
        runner.shutdown(wait=False)  # the process "dies" mid-render
        hold.set()
    again = JobRunner(s, engine=MarkerEngine())
    try:
        job = again.get(tid)
        if job.status == "processing":   # the cancelled thread did not get to write
            again.start()
            job = again.get(tid)
        assert job.status == "completed" and job.version == 1, job
        assert job.render_error and job.rerender_map is None
        assert Path(job.output_path).read_bytes().endswith(b"analysed")
    finally:
        again.shutdown(wait=True)


def test_a_refused_task_is_accepted_by_hand(tmp_path):
    engine = MarkerEngine(refuse=True)
    with app_for(make_settings(tmp_path), engine, TESTING=True) as app:
        client = app.test_client()
        tid = upload(client).get_json()["task_id"]
        job = wait_finished(client, tid)
        assert job["status"] == "failed" and job["error_code"] == "not_same_film"
        assert job["correctable"] and job["version"] == 0
        assert_error(client.get(f"/api/download/{tid}"), 400)
        doc = client.get(f"/api/tasks/{tid}/map").get_json()
        assert doc["source"] == "refused" and doc["render_version"] == 0
        r = client.put(f"/api/tasks/{tid}/map", json={"version": 1, "map": doc["map"]})
        assert r.status_code == 202, r.get_json()
        job = wait_finished(client, tid)
        assert job["status"] == "completed" and job["error"] is None, job
        assert job["version"] == 1 and job["map_source"] == "given"
        assert client.get(f"/api/download/{tid}").get_data().endswith(b"given 0.000")
        assert client.get(f"/api/tasks/{tid}/map").get_json()["source"] == "given"


def test_tasks_that_cannot_be_corrected_say_why(tmp_path):
    engine = MarkerEngine()
    s = make_settings(tmp_path, input_retention_hours=0)
    with app_for(s, engine, TESTING=True) as app:
        client = app.test_client()
        tid = _completed(client, engine)        # inputs removed at once
        job = client.get(f"/api/status/{tid}").get_json()
        assert not job["correctable"] and "INPUT_RETENTION_HOURS" in job["correct_blocked"]
        err = assert_error(client.put(f"/api/tasks/{tid}/map", json=_doc(0.3)), 409,
                           "not_correctable")
        assert "start a new sync" in err["message"]
        # a task that failed for another reason than a refusal has no map to correct
        bad = upload(client, b"junk" * 300, b"junk" * 300).get_json()["task_id"]
        job = wait_finished(client, bad)
        assert job["status"] == "failed" and not job["correctable"]
        assert_error(client.get(f"/api/tasks/{bad}/map"), 404)
        assert_error(client.put(f"/api/tasks/{bad}/map", json=_doc(0.3)), 409)
