"""Several machines: jobs run by Celery workers, through Redis (QUEUE_URL).

Who talks to whom: the web app (any number of processes) writes each job to the job
store in Redis (app.jobstore_redis) and sends one Celery message (`syncdub.run_job`,
the job's id) to the queue `syncdub.jobs` on the same Redis; a worker (`./start.sh
worker`, `celery -A app.queue:celery worker`, on any machine) takes the message, claims
the job and runs it with the same JobRunner code as the embedded thread pool, writing
progress and the result to the store, the MKV to OUTPUT_DIR and the report under
OUTPUT_DIR/.syncdub/. The web app only reads the store; nothing runs in it.

Faults, and what happens:
- A message delivered twice (Redis gives an unacknowledged message again after its
  visibility timeout; a child killed is rejected and requeued) never runs a job twice:
  a worker first takes the job's *lease* (a key with a time to live, SET NX), then moves
  the job queued -> processing (compare-and-set). A duplicate finds either the lease or
  a job no longer queued, and is dropped.
- A worker killed (SIGKILL, out of memory, the machine gone): the process running a job
  renews its lease every WORKER_HEARTBEAT_S (10 s); the lease lives LEASE_BEATS of them
  (60 s). A *reaper* (in every web process and every worker, every REAP_BEATS heartbeats:
  30 s) finds a processing job without a lease and queues it again (a new message), or,
  at its MAX_LOSSES-th loss, ends it failed "worker lost". So a job is never left
  "processing": it is back in the queue within about 90 s of the kill, whatever the
  broker's visibility timeout (1 hour for Redis).
- Cancel: the web app sets a flag key; the process running the job polls it every
  second and sets the job's stop event, as the embedded runner does.
- Redis away: the store raises QueueUnavailable (HTTP 503), /api/health says "queue:
  cannot reach redis at ..." (503) until it is back; the clients reconnect by themselves.
- Inputs or OUTPUT_DIR not visible on the worker's machine: the job fails at once with
  a message naming the path (check_reachable).

Monitoring: each worker's main process writes a heartbeat (host, concurrency, when) to
`syncdub:workers`; the jobs each one runs come from the leases.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import redis

from app.errors import Cancelled, InputError
from app.jobs import Job, JobRunner, utcnow
from app.jobstore_redis import RedisJobStore, guarded, unreachable
from app.services.progress import Progress
from config import Settings, redact_url

logger = logging.getLogger(__name__)

TASK_NAME = "syncdub.run_job"
QUEUE_NAME = "syncdub.jobs"
#: A lease lives this many heartbeats: a job silent that long has lost its worker. Six,
#: so that a worker busy decoding (a slow disk, a loaded CPU) misses five before it counts.
LEASE_BEATS = 6
#: The reaper looks for lost jobs every this many heartbeats.
REAP_BEATS = 3
#: A job whose worker was lost this many times fails ("worker lost") instead of being
#: queued again: a job that kills its worker (out of memory) must not kill them all.
MAX_LOSSES = 3
#: Seconds between two looks at a running job's cancel flag.
CANCEL_POLL_S = 1.0
#: Seconds a name claimed for an output, a cancel flag or a loss count is kept at most.
KEEP_S = 7 * 24 * 3600
#: A worker not heard from for this long is no longer listed.
FORGET_WORKER_S = 24 * 3600

# Renew (ARGV[2] = seconds) or drop (ARGV[2] = "") a lease, only when it is still ours.
_LEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
return redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
"""


def make_celery(settings: Settings):
    """The Celery app on QUEUE_URL: late acknowledgement (a message is acknowledged when
    its job has ended), requeued when the process running it dies, one message at a time
    per process, JSON only, no result backend (results are in the job store)."""
    from celery import Celery
    app = Celery("syncdub", broker=settings.queue_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1, task_serializer="json", accept_content=["json"],
        task_ignore_result=True, result_backend=None, task_default_queue=QUEUE_NAME,
        broker_connection_retry_on_startup=True, broker_connection_timeout=4,
        worker_send_task_events=False,
        broker_transport_options={"socket_connect_timeout": 4})
    return app


class JobQueue:
    """The queue side of a JobRunner with QUEUE_URL: sending jobs, leases, cancel flags,
    output names, heartbeats, the reaper and the state shown by the System page."""

    def __init__(self, settings: Settings, store: RedisJobStore) -> None:
        self.settings = settings
        self.store = store
        self.url = store.url
        self.r = store.redis
        self.beat_s = settings.worker_heartbeat_s
        self.lease_s = LEASE_BEATS * self.beat_s
        self._lease = self.r.register_script(_LEASE)
        self._celery = None
        self._celery_lock = threading.Lock()

    def key(self, *parts: str) -> str:
        return self.store.key(*parts)

    # -- the web side ------------------------------------------------------------------
    def celery(self):
        with self._celery_lock:
            if self._celery is None:
                self._celery = make_celery(self.settings)
            return self._celery

    def send(self, job_id: str) -> None:
        """One message for `job_id` (its cancel flag from an earlier run cleared). When
        it cannot be sent, the job is failed with the reason (it can be re-run), never
        left queued with no message, and QueueUnavailable is raised."""
        try:
            self.r.delete(self.key("cancel", job_id))
            self.celery().send_task(TASK_NAME, args=[job_id], queue=QUEUE_NAME)
        except Exception as e:  # kombu's OperationalError, redis' ConnectionError
            error = unreachable(self.url, e)
            try:
                self.store.update(job_id, only_if_status=("queued",), status="failed",
                                  stage="failed", message=str(error), error=str(error),
                                  error_code=error.code, finished_at=utcnow())
            except Exception:  # Redis away: the job was not stored either
                pass
            raise error from None
        logger.info("job %s sent to the queue %s", job_id, QUEUE_NAME)

    @guarded
    def request_cancel(self, job_id: str) -> None:
        self.r.set(self.key("cancel", job_id), "1", ex=KEEP_S)

    @guarded
    def claim_path(self, path: Path, job_id: str) -> bool:
        """Claim an output name for every machine (False: another job has it; a job run
        again after its worker was lost gets its own name back)."""
        key = self.key("output", str(path))
        return bool(self.r.set(key, job_id, nx=True, ex=KEEP_S)) or self.r.get(key) == job_id

    @guarded
    def release_path(self, path: Path) -> None:
        self.r.delete(self.key("output", str(path)))

    # -- the worker side ---------------------------------------------------------------
    def take_lease(self, job_id: str, worker: str) -> str | None:
        """The job's lease for this process, or None when another process holds it."""
        token = json.dumps({"worker": worker, "host": socket.gethostname(),
                            "pid": os.getpid(), "since": utcnow(),
                            "token": uuid.uuid4().hex[:8]})
        ok = self.r.set(self.key("lease", job_id), token, nx=True, ex=self.lease_s)
        return token if ok else None

    def renew_lease(self, job_id: str, token: str) -> bool:
        return bool(self._lease(keys=[self.key("lease", job_id)],
                                args=[token, self.lease_s]))

    def drop_lease(self, job_id: str, token: str) -> None:
        self._lease(keys=[self.key("lease", job_id)], args=[token, ""])

    def watch(self, job_id: str, token: str, cancel: threading.Event,
              stop: threading.Event) -> None:
        """While the job runs in this process: its cancel flag read every CANCEL_POLL_S,
        its lease renewed every heartbeat. Redis away: the job goes on (its lease
        expires if Redis stays away longer than the lease)."""
        renewed = time.monotonic()
        while not stop.wait(CANCEL_POLL_S):
            try:
                if not cancel.is_set() and self.r.exists(self.key("cancel", job_id)):
                    logger.info("job %s: cancel requested", job_id)
                    cancel.set()
                if time.monotonic() - renewed >= self.beat_s:
                    if not self.renew_lease(job_id, token):
                        logger.error("job %s: its lease was lost (Redis away longer than "
                                     "%d s?); another worker may run it again", job_id,
                                     self.lease_s)
                    renewed = time.monotonic()
            except redis.exceptions.RedisError as e:
                logger.warning("job %s: cannot reach redis (%s); the job goes on", job_id, e)

    def check_reachable(self, job: Job, reports_dir: Path) -> None:
        """InputError naming what this machine does not see: the shared OUTPUT_DIR (its
        .syncdub/ folder, made by the web app) or an input file."""
        host = socket.gethostname()
        rule = ("inputs and outputs must be on storage shared by all machines, at the "
                "same paths (MEDIA_SOURCE_PATH, UPLOADS_DIR, OUTPUT_DIR)")
        if not reports_dir.is_dir():
            raise InputError(f"OUTPUT_DIR {self.settings.output_dir} on worker {host} is not "
                             f"the web app's output folder ({reports_dir} is missing): "
                             f"{rule}.")
        paths = [job.original_path, *job.dubbed_paths]
        for p in paths:
            if not Path(p).is_file():
                raise InputError(f"Input {p} is not reachable from worker {host}: {rule}.")

    # -- heartbeats and the reaper -----------------------------------------------------
    @guarded
    def beat(self, info: dict[str, Any]) -> None:
        """A worker's heartbeat (its main process): who, where, how many at once."""
        now = self._now()
        self.r.hset(self.key("workers"), info["name"],
                    json.dumps({**info, "last_seen": now}))

    @guarded
    def forget_worker(self, name: str) -> None:
        self.r.hdel(self.key("workers"), name)

    def _now(self) -> float:
        """Redis' clock (seconds): one clock for every machine's heartbeats."""
        sec, usec = self.r.time()
        return sec + usec / 1e6

    @guarded
    def leases(self) -> dict[str, dict[str, Any]]:
        """job id -> its lease (worker, host, pid, since), for the processing jobs."""
        ids = self.store.ids_with_status("processing")
        if not ids:
            return {}
        values = self.r.mget([self.key("lease", i) for i in ids])
        return {i: json.loads(v) for i, v in zip(ids, values) if v}

    @guarded
    def reap(self, on_lost: Callable[[Job, str], None]) -> list[str]:
        """Queue again each processing job that has no lease (its worker is gone); at its
        MAX_LOSSES-th loss, `on_lost(job, why)` ends it instead. Safe to run in many
        processes at once: the move out of processing is one compare-and-set that also
        checks the lease is still absent. Returns the ids taken back."""
        taken = []
        for job_id in self.store.ids_with_status("processing"):
            lease = self.key("lease", job_id)
            job = self.store.get(job_id)
            if job is None or self.r.exists(lease):
                continue
            if not self.store.update(job_id, only_if_status=("processing",), unless_key=lease,
                                     status="queued", stage="queued", progress=0.0,
                                     started_at=None):
                continue
            losses = self.r.incr(self.key("lost", job_id))
            self.r.expire(self.key("lost", job_id), KEEP_S)
            taken.append(job_id)
            if losses >= MAX_LOSSES:
                self.r.delete(self.key("lost", job_id))
                on_lost(job, f"worker lost: the worker running it stopped answering "
                             f"{losses} times (killed, out of memory, or its machine went "
                             "down); see the workers' logs")
                continue
            self.store.update(job_id, only_if_status=("queued",),
                              message=f"queued again: its worker stopped answering "
                                      f"(attempt {losses + 1} of {MAX_LOSSES})")
            logger.warning("job %s: its worker stopped answering; queued again (%d of %d)",
                           job_id, losses + 1, MAX_LOSSES)
            self.send(job_id)
        return taken

    def run_reaper(self, stop: threading.Event, on_lost: Callable[[Job, str], None]) -> None:
        """reap() every REAP_BEATS heartbeats until `stop` (a thread's body)."""
        while not stop.wait(REAP_BEATS * self.beat_s):
            try:
                self.reap(on_lost)
            except Exception as e:  # Redis away: try again next time
                logger.warning("reaper: %s", e)

    def finished(self, job_id: str) -> None:
        """A job has ended in this process: forget its cancel flag and losses."""
        job = self.store.get(job_id)
        if job is None or job.finished:
            self.r.delete(self.key("cancel", job_id), self.key("lost", job_id))

    # -- what the System page and the health check show -------------------------------
    def workers(self) -> list[dict[str, Any]]:
        """Every worker heard from in the last day: name, host, pid, concurrency,
        last_seen (seconds ago), alive, and the jobs it runs."""
        now = self._now()
        running: dict[str, list[str]] = {}
        for job_id, lease in self.leases().items():
            running.setdefault(lease.get("worker", "?"), []).append(job_id)
        out = []
        for name, raw in sorted(self.r.hgetall(self.key("workers")).items()):
            w = json.loads(raw)
            ago = max(0.0, now - float(w.get("last_seen", 0)))
            if ago > FORGET_WORKER_S:
                self.r.hdel(self.key("workers"), name)
                continue
            w.pop("last_seen", None)
            out.append({**w, "last_seen_s": round(ago, 1), "alive": ago < self.lease_s,
                        "jobs": running.pop(name, [])})
        return out

    def status(self) -> dict[str, Any]:
        """ok (Redis answers), the queue's length, the workers seen; with the reason
        when Redis cannot be reached."""
        base = {"mode": "celery", "url": redact_url(self.url), "queue": QUEUE_NAME}
        try:
            self.store.ping()
            workers = self.workers()
            return {**base, "ok": True, "queue_length": self.r.llen(QUEUE_NAME),
                    "workers_alive": sum(1 for w in workers if w["alive"]),
                    "worker_list": workers}
        except Exception as e:  # QueueUnavailable, or any Redis error: say it
            problem = str(e) if "cannot reach redis" in str(e) else \
                str(unreachable(self.url, e))
            return {**base, "ok": False, "problem": problem}

    def close(self) -> None:
        """Close the connections to the broker (the store is closed by its runner)."""
        with self._celery_lock:
            if self._celery is not None:
                self._celery.close()


# ---------------------------------------------------------------- the worker process

def _delayed(seconds: float):
    """run_sync's signature, waiting `seconds` (stage "starting", cancel honoured) before
    the real engine: WORKER_TEST_DELAY_S, to test a worker killed mid-job."""
    from app.jobs import _default_engine

    def engine(request, settings, progress=None, cancel=None):
        if progress is not None:
            progress(Progress("starting", 0.0, 0.0, f"waiting WORKER_TEST_DELAY_S={seconds:g} s"))
        if cancel is not None and cancel.wait(seconds):
            raise Cancelled("cancelled by the user")
        if cancel is None:
            time.sleep(seconds)
        return _default_engine()(request, settings, progress=progress, cancel=cancel)
    return engine


_runner: JobRunner | None = None
_runner_lock = threading.Lock()


def worker_runner() -> JobRunner:
    """This process's runner (made on first use: after the fork, in a pool process)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            from config import load_settings
            settings = load_settings()
            delay = settings.worker_test_delay_s
            _runner = JobRunner(settings, engine=_delayed(delay) if delay else None,
                                worker=True)
        return _runner


def execute(job_id: str, worker: str) -> str:
    """Run one delivered job in this process: take its lease (else it runs elsewhere:
    this delivery is dropped), watch its cancel flag and renew its lease while the
    runner runs it. Returns what happened, for the worker's log."""
    runner = worker_runner()
    q = runner.queue
    assert q is not None, "a worker needs QUEUE_URL"
    token = q.take_lease(job_id, worker)
    if token is None:
        logger.info("job %s is running on another worker: this delivery is dropped", job_id)
        return "duplicate"
    cancel, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=q.watch, args=(job_id, token, cancel, stop),
                               name=f"syncdub-watch-{job_id}", daemon=True)
    watcher.start()
    try:
        runner.run_one(job_id, cancel)
    finally:
        stop.set()
        watcher.join(5)
        q.drop_lease(job_id, token)
        q.finished(job_id)
    job = runner.store.get(job_id)
    return job.status if job else "deleted"


def _register(app) -> None:
    from celery import signals

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
              ignore_result=True)
    def run_job(self, job_id: str) -> str:
        return execute(job_id, self.request.hostname or socket.gethostname())

    stop = threading.Event()

    @signals.worker_ready.connect(weak=False)
    def _started(sender=None, **_: Any) -> None:
        """The worker's main process: heartbeats and the reaper, on a thread."""
        runner = JobRunner(app.syncdub_settings, worker=True)
        q = runner.queue
        controller = getattr(sender, "controller", None)
        info = {"name": getattr(sender, "hostname", None) or socket.gethostname(),
                "host": socket.gethostname(), "pid": os.getpid(),
                "concurrency": getattr(controller, "concurrency", None)
                or app.syncdub_settings.worker_concurrency,
                "started_at": utcnow()}

        def loop() -> None:
            n = 0
            while True:
                try:
                    q.beat(info)
                    if n % REAP_BEATS == 0:
                        q.reap(runner.worker_lost)
                except Exception as e:
                    logger.warning("heartbeat: %s", e)
                n += 1
                if stop.wait(q.beat_s):
                    break
            try:
                q.forget_worker(info["name"])
            except Exception:
                pass
        threading.Thread(target=loop, name="syncdub-heartbeat", daemon=True).start()
        logger.info("worker %s ready on %s (queue %s, concurrency %s)", info["name"],
                    redact_url(app.syncdub_settings.queue_url), QUEUE_NAME,
                    info["concurrency"])

    @signals.worker_shutdown.connect(weak=False)
    def _stopping(**_: Any) -> None:
        stop.set()


_celery_app = None


def __getattr__(name: str):
    # `celery -A app.queue:celery worker` asks for `celery`: the worker's app, built from
    # the settings (.env and the environment) on first access, never at import.
    global _celery_app
    if name == "celery":
        if _celery_app is None:
            from config import load_settings
            settings = load_settings()
            if not settings.queue_url:
                raise SystemExit("QUEUE_URL is not set: a worker takes its jobs from the "
                                 "Redis queue the web app sends them to; set QUEUE_URL="
                                 "redis://HOST:6379/0 (the web app's) in .env")
            _celery_app = make_celery(settings)
            _celery_app.syncdub_settings = settings
            _register(_celery_app)
        return _celery_app
    raise AttributeError(name)
