"""Season batches in the web API (app/batches.py, app/api_batches.py): POST /api/batches
(dry run, folders, pairs by hand), GET one and all, retry, delete.

The end-to-end tests run the REAL engine (--mode audio, no speech models) through the
real job runner on three tiny episodes made once for the module (tests/helpers/films.py,
as tests/test_batch.py makes them): each its own bed, an original `Show.S01E0N.720p.mkv`
and a dub `Serie - 1x0N.mka` (the same bed 1 s late). The others use the fake engine
(tests/helpers/web.py): they are about the API, not the engine.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.helpers import films as mf
from tests.helpers.cli import listing
from tests.helpers.web import MKV_HEAD, FakeEngine, app_for, assert_error, make_settings

SECONDS = 24.0
AAC = ["-c:a", "aac", "-b:a", "96k"]
SEEDS = (41, 42, 44)       # beds the engine aligns at 24 s (see tests/test_batch.py)


def _wait_batch(client, batch_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/batches/{batch_id}")
        assert r.status_code == 200, r.get_json()
        data = r.get_json()
        if data["done"]:
            return data
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} did not finish: {data}")


# ------------------------------------------------------------------ the real engine

@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Path:
    """media/Show/S01 (three originals and an E04 without a dub), media/Show.ES/S01 (their
    dubs) and media/Swapped/S01 (the dubs of 1x01 and 1x02 swapped by name)."""
    media = tmp_path_factory.mktemp("media")
    src, o, d, sw = (media / ".src", media / "Show" / "S01", media / "Show.ES" / "S01",
                     media / "Swapped" / "S01")
    for f in (src, o, d, sw):
        f.mkdir(parents=True)
    for n, seed in zip((1, 2, 3), SEEDS):
        bed = mf.make_bed(src / f"bed{n}.wav", SECONDS, seed=seed)
        mf.make_film(o / f"Show.S01E0{n}.720p.mkv", bed, None, video_rate="12")
        mf.make_dub(d / f"Serie - 1x0{n}.mka", bed, None, lead_in=1.0, audio_codec=AAC)
    (o / "Show.S01E04.720p.mkv").write_bytes(MKV_HEAD)        # no dub: unpaired
    for src_n, dst_n in ((1, 2), (2, 1), (3, 3)):
        (sw / f"Serie - 1x0{dst_n}.mka").hardlink_to(d / f"Serie - 1x0{src_n}.mka")
    return media


@pytest.fixture
def real(tmp_path, season):
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=season)
    with app_for(s) as app:
        yield app.test_client(), s


def test_a_season_end_to_end_with_the_real_engine(real, tmp_path):
    client, s = real
    r = client.post("/api/batches", json={"originals": "Show/S01", "dubs": "Show.ES/S01",
                                          "mode": "audio"})
    assert r.status_code == 202, r.get_json()
    started = r.get_json()
    assert r.headers["Location"].endswith(f"/api/batches/{started['id']}")
    assert len(started["id"]) == 12 and started["name"] == "S01"
    assert started["status"] == "processing" and not started["done"]
    assert [u["path"] for u in started["unpaired_originals"]] == ["Show/S01/Show.S01E04.720p.mkv"]

    batch = _wait_batch(client, started["id"])
    assert batch["status"] == "completed", batch
    assert batch["counts"] == {"queued": 0, "processing": 0, "completed": 3, "failed": 0,
                               "cancelled": 0, "refused": 0}
    eps = batch["episodes"]
    assert [e["episode"] for e in eps] == ["S01E01", "S01E02", "S01E03"]
    for n, e in enumerate(eps, 1):
        assert e["status"] == "completed" and not e["refused"] and e["error"] is None, e
        assert e["confidence"] >= 0.5 and e["progress"] == 100
        assert e["original_name"] == f"Show.S01E0{n}.720p.mkv"
        assert e["dubbed_name"] == f"Serie - 1x0{n}.mka"
        assert e["output_name"] == f"Show.S01E0{n}.720p.mkv"
        assert client.get(e["task_url"]).get_json()["status"] == "completed"
    assert listing(s.output_dir) == ["S01"]
    assert listing(s.output_dir / "S01") == [f"Show.S01E0{n}.720p.mkv" for n in (1, 2, 3)]
    got = client.get(eps[1]["download_url"])
    assert got.status_code == 200
    assert got.get_data() == (s.output_dir / "S01" / "Show.S01E02.720p.mkv").read_bytes()

    listed = client.get("/api/batches").get_json()["batches"]
    assert [(b["id"], b["status"], b["done"], b["episodes"]) for b in listed] == [
        (started["id"], "completed", True, 3)]


def test_swapped_dubs_are_refused_the_third_completes(real):
    client, s = real
    r = client.post("/api/batches", json={"originals": "Show/S01", "dubs": "Swapped/S01",
                                          "mode": "audio", "name": "Show S01 (swapped)"})
    assert r.status_code == 202, r.get_json()
    batch = _wait_batch(client, r.get_json()["id"])
    assert batch["status"] == "completed_with_refusals", batch
    assert batch["counts"] == {"queued": 0, "processing": 0, "completed": 1, "failed": 0,
                               "cancelled": 0, "refused": 2}
    by = {e["episode"]: e for e in batch["episodes"]}
    for k in ("S01E01", "S01E02"):
        e = by[k]
        assert e["status"] == "failed" and e["refused"], e
        assert e["error"] and e["reasons"] and e["output_name"] is None
        assert e["download_url"] is None
    assert by["S01E03"]["status"] == "completed"
    assert listing(s.output_dir / "Show S01 (swapped)") == ["Show.S01E03.720p.mkv"]


# ------------------------------------------------------------------ the API (fake engine)

@pytest.fixture
def media(tmp_path) -> Path:
    """Files with a Matroska head (the fake engine accepts them; ffprobe does not, so
    nothing pairs by duration)."""
    m = tmp_path / "media"
    for rel in ("Show/S01/Show.S01E01.mkv", "Show/S01/Show.S01E02.mkv",
                "Show/S01/Show.S01E03.mkv", "Show/S01/Show.S01E05.mkv",
                "Show.ES/S01/Serie - 1x01.mka", "Show.ES/S01/Serie - 1x02.mka",
                "Show.ES/S01/Serie - 1x03.mka", "Show.ES/S01/Serie.S01E03.Latino.mkv",
                "Show.ES/S01/Making of.mkv", "Other/Serie - 1x09.mka", "Film.mkv"):
        (m / rel).parent.mkdir(parents=True, exist_ok=True)
        (m / rel).write_bytes(MKV_HEAD)
    (m / "Show.ES/S01/notes.txt").write_text("not a video")
    (m / "Empty").mkdir()
    (m / "Junk").mkdir()
    (m / "Junk/Show.S01E02.ES.mkv").write_bytes(b"PK\x03\x04 not a film")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "Serie - 1x01.mka").write_bytes(MKV_HEAD)
    return m


@pytest.fixture
def fake(tmp_path, media):
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=media)
    engine = FakeEngine()
    with app_for(s, engine, TESTING=True) as app:
        yield app.test_client(), s, engine


def test_dry_run_lists_pairs_unpaired_and_ambiguous(fake):
    client, s, _ = fake
    r = client.post("/api/batches", json={"originals": "Show/S01", "dubs": "Show.ES/S01",
                                          "dry_run": True})
    assert r.status_code == 200, r.get_json()
    plan = r.get_json()
    assert [(p["original_path"], p["dubbed_path"], p["episode"], p["how"])
            for p in plan["pairs"]] == [
        ("Show/S01/Show.S01E01.mkv", "Show.ES/S01/Serie - 1x01.mka", "S01E01", "name"),
        ("Show/S01/Show.S01E02.mkv", "Show.ES/S01/Serie - 1x02.mka", "S01E02", "name")]
    assert all(p["reason"] for p in plan["pairs"])
    assert [u["path"] for u in plan["unpaired_originals"]] == ["Show/S01/Show.S01E05.mkv"]
    assert "S01E05" in plan["unpaired_originals"][0]["reason"]
    assert [u["path"] for u in plan["unpaired_dubs"]] == ["Show.ES/S01/Making of.mkv"]
    amb = {a["path"]: a for a in plan["ambiguous"]}
    assert set(amb) == {"Show/S01/Show.S01E03.mkv", "Show.ES/S01/Serie - 1x03.mka",
                        "Show.ES/S01/Serie.S01E03.Latino.mkv"}
    assert amb["Show/S01/Show.S01E03.mkv"]["candidates"] == [
        "Show.ES/S01/Serie - 1x03.mka", "Show.ES/S01/Serie.S01E03.Latino.mkv"]
    assert plan["name"] == "S01" and plan["files"] == {"originals": 4, "dubs": 5}
    # Folders given as absolute paths inside the media folder, or with a trailing slash:
    # the answer names them relative to it.
    again = client.post("/api/batches", json={
        "originals": str(s.media_source_path / "Show" / "S01"), "dubs": "Show.ES/S01/",
        "dry_run": True}).get_json()
    assert (again["originals"], again["dubs"]) == ("Show/S01", "Show.ES/S01")
    assert again["pairs"] == plan["pairs"]
    # Nothing was started.
    assert client.get("/api/batches").get_json() == {"batches": []}
    assert client.get("/api/tasks").get_json()["tasks"] == []


def test_pairs_by_hand_run_into_the_batch_folder_and_the_list(fake):
    client, s, engine = fake
    pairs = [{"original_path": "Show/S01/Show.S01E03.mkv",
              "dubbed_path": "Show.ES/S01/Serie.S01E03.Latino.mkv"},
             {"original_path": "Show/S01/Show.S01E01.mkv",
              "dubbed_path": "Show.ES/S01/Serie - 1x01.mka"}]
    r = client.post("/api/batches", json={"pairs": pairs, "dry_run": True})
    assert [(p["episode"], p["how"]) for p in r.get_json()["pairs"]] == [
        ("S01E03", "manual"), ("S01E01", "manual")]
    assert r.get_json()["unpaired_originals"] == [] and r.get_json()["name"] == "S01"
    # With the folders: their other videos are listed as left out.
    plan = client.post("/api/batches", json={"pairs": pairs, "dry_run": True,
                                             "originals": "Show/S01",
                                             "dubs": "Show.ES/S01"}).get_json()
    assert [u["path"] for u in plan["unpaired_originals"]] == [
        "Show/S01/Show.S01E02.mkv", "Show/S01/Show.S01E05.mkv"]
    assert plan["unpaired_originals"][0]["reason"] == "not in the pairs given"
    assert [u["path"] for u in plan["unpaired_dubs"]] == [
        "Show.ES/S01/Making of.mkv", "Show.ES/S01/Serie - 1x02.mka",
        "Show.ES/S01/Serie - 1x03.mka"]
    assert plan["files"] == {"originals": 4, "dubs": 5}
    r = client.post("/api/batches", json={"pairs": pairs, "name": "My: show/1",
                                          "gap_fill": "silence"})
    assert r.status_code == 202, r.get_json()
    batch = _wait_batch(client, r.get_json()["id"], timeout=30)
    assert batch["status"] == "completed" and batch["name"] == "My: show/1"
    assert batch["originals"] == "" and batch["gap_fill"] == "silence"
    folder = batch["output_folder"]
    assert "/" not in folder and ":" not in folder
    assert [e["episode"] for e in batch["episodes"]] == ["S01E01", "S01E03"]
    assert listing(s.output_dir / folder) == ["Show.S01E01.mkv", "Show.S01E03.mkv"]
    assert {c.gap_fill for c in engine.calls} == {"silence"}

    # The same batch again: the names are taken, the new outputs get " (2)".
    r = client.post("/api/batches", json={"pairs": pairs, "name": "My: show/1"})
    second = _wait_batch(client, r.get_json()["id"], timeout=30)
    assert [e["output_name"] for e in second["episodes"]] == ["Show.S01E01 (2).mkv",
                                                              "Show.S01E03 (2).mkv"]
    listed = client.get("/api/batches").get_json()["batches"]
    assert [b["id"] for b in listed] == [second["id"], batch["id"]]      # newest first
    assert set(listed[0]) >= {"id", "name", "created_at", "originals", "dubs", "status",
                              "done", "counts", "episodes"}
    assert listed[0]["episodes"] == 2 and listed[0]["counts"]["completed"] == 2


def test_a_failed_episode_is_retried_and_a_finished_batch_deleted(fake):
    client, s, engine = fake
    pairs = [{"original_path": "Show/S01/Show.S01E01.mkv",
              "dubbed_path": "Show.ES/S01/Serie - 1x01.mka"},
             {"original_path": "Show/S01/Show.S01E02.mkv",
              "dubbed_path": "Junk/Show.S01E02.ES.mkv"}]
    r = client.post("/api/batches", json={"pairs": pairs})
    bid = r.get_json()["id"]
    batch = _wait_batch(client, bid, timeout=30)
    assert batch["status"] == "failed"
    assert batch["counts"]["completed"] == 1 and batch["counts"]["failed"] == 1
    bad = batch["episodes"][1]
    assert bad["error_code"] == "bad_input" and not bad["refused"]

    # The junk replaced by a real dub: the retry queues the failed one only.
    (s.media_source_path / "Junk/Show.S01E02.ES.mkv").write_bytes(MKV_HEAD)
    calls = len(engine.calls)
    r = client.post(f"/api/batches/{bid}/retry")
    assert r.status_code == 202, r.get_json()
    assert r.headers["Location"].endswith(f"/api/batches/{bid}")
    batch = _wait_batch(client, bid, timeout=30)
    assert batch["status"] == "completed" and len(engine.calls) == calls + 1
    assert_error(client.post(f"/api/batches/{bid}/retry"), 409, "conflict")

    tasks = [e["task_id"] for e in batch["episodes"]]
    assert client.delete(f"/api/batches/{bid}").status_code == 204
    assert_error(client.get(f"/api/batches/{bid}"), 404, "not_found")
    assert all(client.get(f"/api/status/{t}").status_code == 404 for t in tasks)
    assert len(listing(s.output_dir / "S01")) == 2                       # outputs kept


def test_delete_refused_while_an_episode_runs(tmp_path, media):
    hold = threading.Event()
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=media)
    with app_for(s, FakeEngine(hold=hold), TESTING=True) as app:
        client = app.test_client()
        r = client.post("/api/batches", json={"originals": "Show/S01", "dubs": "Show.ES/S01"})
        bid = r.get_json()["id"]
        body = assert_error(client.delete(f"/api/batches/{bid}"), 409, "conflict")
        assert "queued or processing" in body["message"]
        assert client.get(f"/api/batches/{bid}").get_json()["status"] == "processing"
        hold.set()
        _wait_batch(client, bid, timeout=30)
        assert client.delete(f"/api/batches/{bid}").status_code == 204


def test_a_restart_keeps_the_batch(tmp_path, media):
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=media)
    with app_for(s, FakeEngine(), TESTING=True) as app:
        client = app.test_client()
        r = client.post("/api/batches", json={"originals": "Show/S01", "dubs": "Show.ES/S01",
                                              "mode": "audio"})
        before = _wait_batch(client, r.get_json()["id"], timeout=30)
    with app_for(s, FakeEngine(), TESTING=True) as app:            # a new runner, same data
        client = app.test_client()
        after = client.get(f"/api/batches/{before['id']}").get_json()
        assert after == before
        assert after["mode"] == "audio" and after["status"] == "completed"
        assert [u["path"] for u in after["ambiguous"]][:1] == ["Show/S01/Show.S01E03.mkv"]
        assert [b["id"] for b in client.get("/api/batches").get_json()["batches"]] == [
            before["id"]]


@pytest.mark.parametrize("body, status, words", [
    ({"originals": "Nope/S01", "dubs": "Show.ES/S01"}, 400, ["originals folder", "does not exist"]),
    ({"originals": "Show/S01", "dubs": "../outside"}, 400, ["dubs folder", "outside the media"]),
    ({"originals": "Show/S01", "dubs": "Film.mkv"}, 400, ["is a file, not a folder"]),
    ({"originals": "Show/S01", "dubs": "Show/S01"}, 400, ["same folder"]),
    ({"originals": "Show/S01", "dubs": "Empty"}, 400, ["Nothing to pair", "holds no video"]),
    ({"originals": "Show/S01", "dubs": "Other"}, 400,
     ["Nothing to pair", "4 video(s) in the originals folder, 1 in the dubs folder"]),
    ({"originals": "Show/S01"}, 400, ["Missing field 'dubs'"]),
    ({"originals": "Show/S01", "dubs": "Show.ES/S01", "mode": "fast"}, 400, ["mode='fast'"]),
    ({"pairs": []}, 400, ["pairs is empty"]),
    ({"pairs": "Show/S01"}, 400, ["pairs must be a list"]),
    ({"pairs": [{"original_path": "Show/S01/Show.S01E01.mkv", "dubbed_path": 3}]}, 400,
     ["pair 1", "dubbed_path must be a string"]),
    ({"pairs": [{"original_path": "Show/S01/Show.S01E01.mkv",
                 "dubbed_path": "Show.ES/S01/Serie - 1x07.mka"}]}, 400,
     ["pair 1", "does not exist"]),
    ({"pairs": [{"original_path": "Show/S01/Show.S01E01.mkv",
                 "dubbed_path": "../outside/Serie - 1x01.mka"}]}, 400,
     ["pair 1", "outside the media folder"]),
    ({"pairs": [{"original_path": "Show/S01/Show.S01E01.mkv",
                 "dubbed_path": "Show.ES/S01/notes.txt"}]}, 400, ["pair 1", "'txt'"]),
    ({"pairs": [{"original_path": "Film.mkv", "dubbed_path": "Film.mkv"}]}, 400,
     ["pair 1", "same file"]),
    ({"pairs": [{"original_path": "Film.mkv", "dubbed_path": "Show.ES/S01/Serie - 1x01.mka"},
                {"original_path": "Film.mkv", "dubbed_path": "Show.ES/S01/Serie - 1x02.mka"}]},
     400, ["pair 2", "already in pair 1"]),
    ({"pairs": [{"original_path": "Film.mkv", "dubbed_path": "Show.ES/S01/Making of.mkv"}]
      * 501}, 400, ["501 pairs", "at most 500"]),
])
def test_bad_input_is_a_400_that_says_what_to_do(fake, body, status, words):
    client, s, engine = fake
    body = assert_error(client.post("/api/batches", json=body), status)
    for w in words:
        assert w in body["message"], body
    assert client.get("/api/batches").get_json() == {"batches": []}
    assert engine.calls == []


def test_unknown_batch_not_json_and_media_off(fake, tmp_path):
    client, s, _ = fake
    assert_error(client.get("/api/batches/0123456789ab"), 404, "not_found")
    assert_error(client.post("/api/batches/0123456789ab/retry"), 404, "not_found")
    assert_error(client.delete("/api/batches/0123456789ab"), 404, "not_found")
    assert_error(client.post("/api/batches", data="x", content_type="text/plain"), 400)
    off = make_settings(tmp_path / "off")
    with app_for(off, FakeEngine(), TESTING=True) as app:
        body = assert_error(app.test_client().post("/api/batches", json={
            "originals": "a", "dubs": "b", "dry_run": True}), 404, "not_found")
        assert "MEDIA_SOURCE_ENABLED" in body["message"]


def test_the_api_key_guards_batches(tmp_path, media):
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=media,
                      api_key="s3cret-key")
    with app_for(s, FakeEngine(), TESTING=True) as app:
        c = app.test_client()
        assert_error(c.get("/api/batches"), 401)
        assert_error(c.post("/api/batches", json={"originals": "Show/S01",
                                                  "dubs": "Show.ES/S01"}), 401)
        ok = c.post("/api/batches", json={"originals": "Show/S01", "dubs": "Show.ES/S01",
                                          "dry_run": True}, headers={"X-API-Key": "s3cret-key"})
        assert ok.status_code == 200


def test_episodes_in_number_order_and_the_state_of_a_batch():
    from app.batches import batch_state, episode_order
    from app.jobs import Job

    def job(ep, name, status="completed", code=None):
        return Job(id=ep, source="media", original_path="o", dubbed_path="d",
                   original_name=name, dubbed_name="d", episode=ep, status=status,
                   error_code=code)

    jobs = [job("S01E100", "b"), job("S01E99", "a"), job("S01E02", "c"),
            job("Special.mkv", "Special.mkv")]
    assert [j.episode for j in episode_order(jobs)] == ["S01E02", "S01E99", "S01E100",
                                                        "Special.mkv"]
    refusal = job("S01E03", "x", "failed", "not_same_film")
    assert batch_state(jobs).status == "completed"
    assert batch_state(jobs + [refusal]).status == "completed_with_refusals"
    assert batch_state(jobs + [refusal, job("S01E04", "y", "failed", "media_error")]
                       ).status == "failed"
    assert batch_state(jobs + [job("S01E05", "z", "cancelled")]).status == "cancelled"
    state = batch_state(jobs + [refusal, job("S01E06", "w", "queued")])
    assert state.status == "processing" and not state.done
    assert state.counts == {"queued": 1, "processing": 0, "completed": 4, "failed": 0,
                            "cancelled": 0, "refused": 1}
