"""Job store (SQLite) and runner, without HTTP."""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from app.jobs import INTERRUPTED, Job, JobRunner, JobStore, map_summary
from app.services.progress import Progress
from app.services.types import SyncReport
from tests.helpers.web import MKV_HEAD, FakeEngine, fake_report, fake_sync_report, make_settings


def _job(tmp: Path, jid: str = "j1", **kw) -> Job:
    for name in ("o.mkv", "d.mkv"):
        (tmp / name).write_bytes(MKV_HEAD)
    return Job(id=jid, source="media", original_path=str(tmp / "o.mkv"),
               dubbed_path=str(tmp / "d.mkv"), original_name="Film.mkv",
               dubbed_name="Film.ES.mkv", **kw)


def wait(runner: JobRunner, jid: str, timeout: float = 5) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = runner.get(jid)
        if job.finished:
            return job
        time.sleep(0.01)
    raise AssertionError(runner.get(jid))


def test_store_round_trip_and_compare_and_set(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.add(_job(tmp_path, reasons=["a"], summary={"segments": 2}))
    got = store.get("j1")
    assert got.reasons == ["a"] and got.summary == {"segments": 2} and got.status == "queued"
    assert store.update("j1", only_if_status=("processing",), status="failed") is False
    assert store.update("j1", only_if_status=("queued",), status="processing", progress=12.5)
    assert store.get("j1").progress == 12.5
    assert store.counts()["processing"] == 1
    store.close()
    again = JobStore(tmp_path / "jobs.sqlite3")       # persisted on disk
    assert again.get("j1").status == "processing"
    with pytest.raises(ValueError):
        again.update("j1", nonsense=1)


def test_restart_marks_running_failed_and_requeues_queued(tmp_path):
    s = make_settings(tmp_path)
    store = JobStore(s.data_dir / "jobs.sqlite3")
    store.add(_job(tmp_path, "running", status="processing", stage="extract", progress=40))
    store.add(_job(tmp_path, "waiting"))
    (s.data_dir / "work" / "running").mkdir(parents=True)
    store.close()
    engine = FakeEngine()
    runner = JobRunner(s, engine=engine)
    runner.start()
    try:
        job = runner.get("running")
        assert job.status == "failed" and job.error == INTERRUPTED and job.finished_at
        assert not (s.data_dir / "work" / "running").exists()
        assert wait(runner, "waiting").status == "completed"
        assert runner.retry("running").status == "queued"
        assert wait(runner, "running").status == "completed"
    finally:
        runner.shutdown(wait=True)


def test_work_folder_is_given_to_the_engine_and_removed(tmp_path):
    s = make_settings(tmp_path)
    seen = {}

    class Spy(FakeEngine):
        def __call__(self, request, settings, progress=None, cancel=None):
            seen["work"] = settings.work_dir
            return super().__call__(request, settings, progress, cancel)

    runner = JobRunner(s, engine=Spy())
    runner.start()
    try:
        runner.submit(_job(tmp_path))
        assert wait(runner, "j1").status == "completed"
        assert seen["work"] == s.data_dir / "work" / "j1" and not seen["work"].exists()
        assert runner.report("j1") == fake_report()
    finally:
        runner.shutdown(wait=True)


def test_jobs_run_one_at_a_time_by_default(tmp_path):
    s = make_settings(tmp_path)
    active, peak, lock = [0], [0], threading.Lock()

    class Counting(FakeEngine):
        def __call__(self, *a, **k):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            try:
                return super().__call__(*a, **k)
            finally:
                with lock:
                    active[0] -= 1

    runner = JobRunner(s, engine=Counting())
    runner.start()
    try:
        for i in range(3):
            runner.submit(_job(tmp_path, f"j{i}", custom_name=f"out{i}"))
        for i in range(3):
            assert wait(runner, f"j{i}").status == "completed"
        assert peak[0] == 1
    finally:
        runner.shutdown(wait=True)


def test_progress_sink_throttles_and_never_goes_back(tmp_path):
    s = make_settings(tmp_path)
    runner = JobRunner(s, engine=FakeEngine())
    runner.store.add(_job(tmp_path, status="processing"))
    sink = runner._progress_sink("j1")
    sink(Progress("extract", 0.5, 0.20, "decoding"))
    assert runner.get("j1").progress == 20.0 and runner.get("j1").stage == "extract"
    sink(Progress("extract", 0.6, 0.25, "decoding"))        # within the interval: skipped
    assert runner.get("j1").progress == 20.0
    sink(Progress("audio_anchors", 0.0, 0.10, "matching"))  # new stage: written, not lower
    job = runner.get("j1")
    assert job.stage == "audio_anchors" and job.progress == 25.0 and job.message == "matching"
    runner.shutdown(wait=True)


def test_map_summary():
    m = map_summary(fake_report())
    assert m == {"segments": 1, "cuts": 0, "inserts": 1, "offset_first_s": -1.5,
                 "offset_last_s": -1.5, "offset_min_s": -1.5, "offset_max_s": -1.5,
                 "speed": 1.0, "languages": {"original": "eng", "dubbed": "spa"},
                 "phrase_pairs": 1}
    assert map_summary(SyncReport(original="o.mkv", dub="d.mkv").to_dict())["segments"] == 0


def test_map_summary_gives_the_offsets_range_and_leaves_out_slivers():
    """A map whose middle segment sits below both ends: the range is min...max, not
    first...last; cuts of 40 and 6 ms at the ends are not counted as edits."""
    seg = [{"dub_start": d, "dub_end": d + 10.0, "orig_start": o, "speed": 1.0}
           for d, o in ((0.0, 0.0), (10.0, 6.0), (20.0, 34.5))]
    rep = replace(fake_sync_report(), segments=seg,
                  cuts=[[0.0, 0.04], [12.0, 40.0], [299.994, 300.0]], inserts=[])
    m = map_summary(rep.to_dict())
    assert (m["offset_first_s"], m["offset_last_s"]) == (0.0, 14.5)
    assert (m["offset_min_s"], m["offset_max_s"]) == (-4.0, 14.5)
    assert m["cuts"] == 1 and m["inserts"] == 0
