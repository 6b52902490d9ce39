"""Several machines (QUEUE_URL): the job store in Redis, the web app as a producer only,
Celery workers started with `./start.sh worker`, and the faults: a worker killed mid-job,
a cancel that must reach another process, Redis stopped and started, inputs a worker
cannot see. A real `redis-server` on a free loopback port (tests/helpers/queue.py);
skipped when it is not installed.

The slow tests run real workers and gunicorn; WORKER_HEARTBEAT_S=1 makes a lost worker's
lease run out in 6 s (10 s heartbeats: 60 s), WORKER_TEST_DELAY_S holds a job in the
"processing" state long enough to kill or cancel it.
"""
from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from app.jobs import Job, JobRunner, JobStore
from config import ConfigError, load_settings
from tests.helpers.queue import RedisServer, Worker, queue_env, redis_server_or_skip
from tests.helpers.web import (MKV_HEAD, FakeEngine, app_for, assert_error, free_port,
                               make_settings, start_gunicorn, stop, upload)


@pytest.fixture
def redis_server(tmp_path):
    exe = redis_server_or_skip()
    with RedisServer(tmp_path / "redis", exe) as server:
        yield server


def _job(tmp: Path, job_id: str, **kw) -> Job:
    for name in ("o.mkv", "d.mkv"):
        (tmp / name).write_bytes(MKV_HEAD)
    return Job(id=job_id, source="media", original_path=str(tmp / "o.mkv"),
               dubbed_path=str(tmp / "d.mkv"), original_name="Film.mkv",
               dubbed_name="Film.ES.mkv", **kw)


# -- configuration -----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["amqp://host/0", "redis://", "redis://h:99999/0",
                                   "redis://h/zero", "host:6379"])
def test_a_bad_queue_url_names_the_variable(value):
    with pytest.raises(ConfigError) as err:
        load_settings({"QUEUE_URL": value})
    assert str(err.value).startswith("QUEUE_URL=") and "redis://HOST:6379/0" in str(err.value)


def test_queue_settings_and_the_password_never_shown():
    s = load_settings({"QUEUE_URL": "redis://:s3cret@nas:6380/2", "WORKER_CONCURRENCY": "3",
                       "WORKER_HEARTBEAT_S": "5"})
    assert (s.queue_url, s.worker_concurrency, s.worker_heartbeat_s) == (
        "redis://:s3cret@nas:6380/2", 3, 5)
    assert s.to_dict()["queue_url"] == "redis://:***@nas:6380/2"
    assert load_settings({}).queue_url == ""          # embedded mode by default


# -- the two stores keep one contract ------------------------------------------------------

@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = JobStore(tmp_path / "jobs.sqlite3")
        yield s
        s.close()
        return
    from app.jobstore_redis import RedisJobStore
    exe = redis_server_or_skip()
    with RedisServer(tmp_path / "redis", exe) as server:
        s = RedisJobStore(server.url)
        yield s
        s.close()


def test_store_contract(store, tmp_path):
    a = store.add(_job(tmp_path, "a", batch_id="b1", episode="S01E01",
                       summary={"speed": 1.0}, more_dubs=[{"path": "/x", "name": "x"}]))
    time.sleep(0.01)
    store.add(_job(tmp_path, "b"))
    time.sleep(0.01)
    store.add(_job(tmp_path, "c", batch_id="b1"))
    assert store.get("a") == a and store.get("nope") is None
    assert [j.id for j in store.list()] == ["c", "b", "a"]
    assert [j.id for j in store.list(limit=2)] == ["c", "b"]
    # compare-and-set: only from the states given
    assert store.update("a", only_if_status=("queued",), status="processing", progress=5.0)
    assert not store.update("a", only_if_status=("queued",), status="cancelled")
    assert store.update("b", status="completed", reasons=["r"], speed=None)
    assert not store.update("nope", status="failed")
    got = store.get("a")
    assert (got.status, got.progress, got.summary, got.more_dubs) == (
        "processing", 5.0, {"speed": 1.0}, [{"path": "/x", "name": "x"}])
    assert store.get("b").reasons == ["r"]
    assert store.ids_with_status("queued", "processing") == ["a", "c"]
    assert store.counts() == {"queued": 1, "processing": 1, "completed": 1, "failed": 0,
                              "cancelled": 0}
    assert [j.id for j in store.in_batch("b1")] == ["a", "c"]
    with pytest.raises(ValueError, match="unknown job fields"):
        store.update("a", colour="red")
    store.delete("a")
    assert store.get("a") is None and [j.id for j in store.in_batch("b1")] == ["c"]
    assert store.counts()["processing"] == 0 and [j.id for j in store.list()] == ["c", "b"]


def test_batches_beside_the_jobs_in_redis(redis_server):
    from app.batches import Batch, open_batch_store
    from app.jobstore_redis import RedisBatchStore, RedisJobStore
    batches = open_batch_store(RedisJobStore(redis_server.url))
    assert isinstance(batches, RedisBatchStore)
    one = batches.add(Batch(id="b1", name="Show S01", originals="o", dubs="d",
                            output_subdir="Show S01", ambiguous=[{"path": "x"}]))
    time.sleep(0.01)
    batches.add(Batch(id="b2", name="Show S02", originals="o2", dubs="d2",
                      output_subdir="Show S02"))
    assert batches.get("b1") == one and batches.get("zz") is None
    assert [b.id for b in batches.list()] == ["b2", "b1"]
    batches.delete("b1")
    assert [b.id for b in batches.list()] == ["b2"]


# -- the web app with QUEUE_URL: a producer only ---------------------------------------------

@pytest.fixture
def queued_app(tmp_path, redis_server):
    engine = FakeEngine()
    with app_for(make_settings(tmp_path, queue_url=redis_server.url), engine,
                 TESTING=True) as app:
        yield app, engine


def _queue_length(url: str) -> int:
    import redis

    from app.queue import QUEUE_NAME
    return redis.Redis.from_url(url).llen(QUEUE_NAME)


def test_the_web_app_only_queues(queued_app, redis_server):
    app, engine = queued_app
    client = app.test_client()
    task = upload(client).get_json()["task_id"]
    time.sleep(0.5)
    status = client.get(f"/api/status/{task}").get_json()
    assert status["status"] == "queued" and engine.calls == []   # nothing ran here
    assert _queue_length(redis_server.url) == 1
    assert client.delete(f"/api/tasks/{task}").get_json()["status"] == "cancelled"
    assert client.post(f"/api/tasks/{task}/retry").status_code == 202
    assert _queue_length(redis_server.url) == 2    # the first is dropped when delivered
    runner = app.extensions["jobs"]
    assert runner.reports_dir == Path(runner.settings.output_dir) / ".syncdub" / "reports"
    assert runner.reports_dir.is_dir()             # made by the web app: the shared mark
    info = client.get("/api/system-info").get_json()["queue"]
    assert (info["mode"], info["ok"], info["length"], info["workers"]) == (
        "celery", True, 2, [])
    assert client.get("/api/health").get_json()["checks"]["runner"]["mode"] == "celery"


def test_a_worker_runs_a_job_and_a_duplicate_delivery_is_dropped(queued_app, tmp_path):
    from app import queue
    app, _ = queued_app
    settings = app.extensions["syncdub_settings"]
    job = app.extensions["jobs"].submit(_job(tmp_path, "j1"))
    worker = JobRunner(settings, engine=FakeEngine(), worker=True)
    token = worker.queue.take_lease(job.id, "w2@elsewhere")    # held by another process
    assert worker.queue.take_lease(job.id, "w1@here") is None
    worker.queue.drop_lease(job.id, token)
    cancel = __import__("threading").Event()
    token = worker.queue.take_lease(job.id, "w1@here")
    worker.run_one(job.id, cancel)
    worker.queue.drop_lease(job.id, token)
    done = worker.store.get(job.id)
    assert done.status == "completed" and done.attempts == 1
    assert Path(done.report_path).parent == Path(settings.output_dir) / ".syncdub" / "reports"
    assert app.test_client().get(f"/api/report/{job.id}").status_code == 200  # web reads it
    worker.run_one(job.id, cancel)                 # delivered again: not run twice
    assert worker.store.get(job.id).attempts == 1
    assert queue.LEASE_BEATS * settings.worker_heartbeat_s == 60
    worker.shutdown(wait=True)


def test_a_worker_that_cannot_see_the_files_fails_the_job_naming_the_path(queued_app,
                                                                           tmp_path):
    app, _ = queued_app
    settings = app.extensions["syncdub_settings"]
    runner = app.extensions["jobs"]
    job = runner.submit(replace(_job(tmp_path, "j1"), original_path="/mnt/nowhere/o.mkv"))
    worker = JobRunner(settings, engine=FakeEngine(), worker=True)
    worker.run_one(job.id, __import__("threading").Event())
    failed = worker.store.get(job.id)
    assert failed.status == "failed" and failed.error_code == "bad_input"
    assert "/mnt/nowhere/o.mkv is not reachable from worker" in failed.error
    assert "storage shared by all machines" in failed.error
    # a worker whose OUTPUT_DIR is another folder than the web app's
    other = JobRunner(replace(settings, output_dir=tmp_path / "local-output"),
                      engine=FakeEngine(), worker=True)
    job = runner.submit(_job(tmp_path, "j2"))
    other.run_one(job.id, __import__("threading").Event())
    failed = other.store.get(job.id)
    assert failed.status == "failed" and "local-output" in failed.error
    assert "is not the web app's output folder" in failed.error
    for r in (worker, other):
        r.shutdown(wait=True)


def test_the_reaper_queues_a_lost_job_again_then_fails_it(queued_app, tmp_path):
    from app import queue
    app, _ = queued_app
    runner = app.extensions["jobs"]
    q = runner.queue
    runner.store.add(_job(tmp_path, "j1", status="processing", stage="extract"))
    token = q.take_lease("j1", "w1@here")
    assert q.reap(runner.worker_lost) == []        # its worker is alive
    q.drop_lease("j1", token)                      # ... and now lost
    for attempt in range(2, queue.MAX_LOSSES + 1):
        assert q.reap(runner.worker_lost) == ["j1"]
        job = runner.store.get("j1")
        assert (job.status, job.stage) == ("queued", "queued")
        assert job.message == f"queued again: its worker stopped answering (attempt " \
                              f"{attempt} of {queue.MAX_LOSSES})"
        runner.store.update("j1", status="processing")   # taken, and lost again
    assert q.reap(runner.worker_lost) == ["j1"]
    job = runner.store.get("j1")
    assert (job.status, job.error_code) == ("failed", "worker_lost")
    assert job.error.startswith("worker lost: the worker running it stopped answering 3 ")
    assert _queue_length(runner.settings.queue_url) == 2   # one message per requeue


def test_health_says_when_redis_is_away_and_recovers(queued_app, redis_server):
    app, _ = queued_app
    client = app.test_client()
    task = upload(client).get_json()["task_id"]
    assert client.get("/api/health").status_code == 200
    redis_server.stop()
    r = client.get("/api/health")
    assert r.status_code == 503
    body = r.get_json()
    assert body["reason"].startswith(f"queue: cannot reach redis at {redis_server.url}")
    assert body["checks"]["runner"]["ok"] is False
    assert_error(client.get(f"/api/status/{task}"), 503, "queue_unavailable")
    assert client.get("/system").status_code == 200          # the page says why
    redis_server.start()
    assert client.get("/api/health").status_code == 200
    assert client.get(f"/api/status/{task}").get_json()["status"] == "queued"  # kept


def test_system_page_lists_workers_or_says_embedded(queued_app, client):
    assert "embedded (threads)" in client.get("/system").get_data(as_text=True)
    app, _ = queued_app
    runner = app.extensions["jobs"]
    runner.queue.beat({"name": "w1@gpu-box", "host": "gpu-box", "pid": 1, "concurrency": 2,
                       "started_at": "2026-01-01T00:00:00+00:00"})
    runner.store.add(_job(Path(runner.settings.uploads_dir), "j9", status="processing"))
    runner.queue.take_lease("j9", "w1@gpu-box")
    page = app.test_client().get("/system", headers={"Accept-Language": "es"}).get_data(
        as_text=True)
    assert "w1@gpu-box" in page and "gpu-box" in page and "j9" in page
    assert "Trabajadores" in page
    workers = app.test_client().get("/api/system-info").get_json()["queue"]["workers"]
    assert [(w["name"], w["concurrency"], w["alive"], w["jobs"]) for w in workers] == [
        ("w1@gpu-box", 2, True, ["j9"])]


# -- real workers: ./start.sh worker, gunicorn ---------------------------------------------

def _get(url: str, timeout: float = 10) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _send(url: str, method: str = "POST", body: dict | None = None) -> dict:
    req = urllib.request.Request(url, method=method, data=json.dumps(body or {}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Cluster:
    """redis-server, gunicorn (the web app, QUEUE_URL set) and workers on one machine;
    the media folder, uploads and output shared by all, as on several machines."""

    def __init__(self, tmp: Path, redis: RedisServer, clips, **env: str) -> None:
        self.tmp = tmp
        self.redis = redis
        media = tmp / "media"
        media.mkdir()
        for name in ("original.mkv", "dubbed.mkv"):
            shutil.copy(clips[0].parent / name, media / name)
        self.env = queue_env(tmp, redis.url, MEDIA_SOURCE_ENABLED="true",
                             MEDIA_SOURCE_PATH=str(media), **env)
        self.port = free_port()
        extra = {k: v for k, v in self.env.items()
                 if k in ("QUEUE_URL", "MEDIA_SOURCE_ENABLED", "MEDIA_SOURCE_PATH",
                          *env)}
        self.web = start_gunicorn(tmp, self.port, tmp / "web.log", **extra)
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers: dict[str, Worker] = {}

    def worker(self, name: str) -> Worker:
        w = Worker(name, self.env, self.tmp / f"{name}.log")
        self.workers[name] = w
        return w

    def sync(self, name: str) -> str:
        return _send(f"{self.base}/api/sync", body={
            "original_path": "original.mkv", "dubbed_path": "dubbed.mkv",
            "custom_name": name})["task_id"]

    def status(self, task: str) -> dict:
        return _get(f"{self.base}/api/status/{task}")[1]

    def wait(self, task: str, until, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status(task)
            if until(st):
                return st
            time.sleep(0.25)
        raise AssertionError(f"task {task} still {st['status']} ({st['message']}) after "
                             f"{timeout} s;\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                         for p in sorted(self.tmp.glob("*.log")))

    def close(self) -> None:
        for w in self.workers.values():
            w.stop()
        stop(self.web)


@pytest.fixture
def cluster(tmp_path, redis_server, clips, request):
    made = []

    def make(**env: str) -> Cluster:
        c = Cluster(tmp_path, redis_server, clips, **env)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def _in_sync(mkv: Path) -> list[float]:
    """Lags (s) of the output's dub track (a:1) against its original track (a:0) at five
    places: the synced dub plays the same bed at the same time."""
    from tests.helpers.films import lag_at
    from tests.helpers.media import decode_mono
    rate = 16000
    orig, dub = decode_mono(mkv, "0:a:0", rate), decode_mono(mkv, "0:a:1", rate)
    lags = []
    for t in (4.0, 8.0, 12.0, 16.0, 20.0):
        lag, peak = lag_at(orig, dub, t, rate, half_window=1.0, search=0.1)
        assert peak > 0.5, f"{mkv.name}: the bed not found at {t} s (ncc {peak:.2f})"
        lags.append(lag)
    return lags


def _done(st: dict) -> bool:
    return st["status"] not in ("queued", "processing")


@pytest.mark.slow
def test_four_jobs_on_two_workers_all_complete_in_sync(cluster):
    c = cluster()
    workers = [c.worker("w1"), c.worker("w2")]
    for w in workers:
        w.wait_ready()
    tasks = [c.sync(f"ep{i}") for i in range(4)]
    for task in tasks:
        st = c.wait(task, _done, 180)
        assert st["status"] == "completed", (st, c.logs())
        assert abs(st["result"]["map"]["offset_first_s"] - -1.5) <= 0.020
        lags = _in_sync(c.tmp / "output" / st["result"]["output"])
        assert max(abs(x) for x in lags) <= 0.020, lags
        assert _get(f"{c.base}/api/report/{task}")[0] == 200
    ran = {name: w.log.read_text().count("completed in") for name, w in c.workers.items()}
    assert sum(ran.values()) == 4 and all(ran.values()), ran   # both workers took jobs
    assert sorted(p.name for p in (c.tmp / "output").glob("*.mkv")) == [
        f"ep{i}.mkv" for i in range(4)]
    info = _get(f"{c.base}/api/system-info")[1]["queue"]
    assert sorted(w["name"].split("@")[0] for w in info["workers"] if w["alive"]) == [
        "w1", "w2"] and info["length"] == 0


@pytest.mark.slow
def test_a_worker_killed_mid_job_the_job_completes_on_the_other(cluster):
    c = cluster(WORKER_HEARTBEAT_S="1", WORKER_TEST_DELAY_S="6")
    first = c.worker("w1").wait_ready()
    task = c.sync("killed")
    c.wait(task, lambda st: st["status"] == "processing", 60)
    second = c.worker("w2").wait_ready()
    first.kill()                                   # SIGKILL: main and pool processes
    killed_at = time.monotonic()
    st = c.wait(task, _done, 120)
    assert st["status"] == "completed" and st["attempts"] == 2, (st, c.logs())
    took = time.monotonic() - killed_at
    print(f"killed -> completed on the other worker in {took:.1f} s (lease 6 s, delay 6 s)")
    assert took < 120
    assert f"job {task}: its worker stopped answering; queued again (2 of 3)" in c.logs()
    assert f"job {task} completed in" in second.log.read_text()
    assert max(abs(x) for x in _in_sync(c.tmp / "output" / st["result"]["output"])) <= 0.020
    assert [p.name for p in (c.tmp / "output").glob("*.mkv")] == ["killed.mkv"]


@pytest.mark.slow
def test_cancel_reaches_a_job_running_on_a_worker(cluster):
    c = cluster(WORKER_TEST_DELAY_S="60")
    c.worker("w1").wait_ready()
    task = c.sync("cancelled")
    c.wait(task, lambda st: st["status"] == "processing", 60)
    asked = time.monotonic()
    assert _send(f"{c.base}/api/tasks/{task}", method="DELETE")["cancelled"] is True
    st = c.wait(task, _done, 15)
    assert st["status"] == "cancelled" and time.monotonic() - asked < 10, st
    assert not list((c.tmp / "output").glob("*.mkv"))


@pytest.mark.slow
def test_redis_stopped_and_started_health_503_then_200_and_jobs_run_again(cluster):
    c = cluster(WORKER_HEARTBEAT_S="1")
    c.worker("w1").wait_ready()
    assert _get(f"{c.base}/api/health")[0] == 200
    c.redis.stop()
    code, body = _get(f"{c.base}/api/health")
    assert code == 503 and body["reason"].startswith(
        f"queue: cannot reach redis at {c.redis.url}"), body
    c.redis.start()
    deadline = time.monotonic() + 30
    while _get(f"{c.base}/api/health")[0] != 200:
        assert time.monotonic() < deadline, c.logs()
        time.sleep(0.5)
    task = c.sync("after")                        # the worker is back on the queue too
    assert c.wait(task, _done, 120)["status"] == "completed", c.logs()
