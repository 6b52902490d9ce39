"""Jobs: a store in SQLite (survives restarts) and a thread-pool runner that calls the engine.

A job goes queued -> processing -> completed | failed | cancelled. Progress (0-100), the
engine's stage and message are written to the store as they come (at most a few times a
second), so the pages and the API only read the store. When the process dies, a job that
was processing comes back `failed` with "interrupted by restart" at the next start and can
be re-run; jobs that were still queued are queued again.

Uploaded inputs are kept after a job completes for INPUT_RETENTION_HOURS (so its map can
be corrected and the MKV rendered again), then removed by a sweep; 0 removes them at once.

Correcting (`rerender`): a finished job (completed, or refused with its best map) is
rendered again from a map document given by hand (app.services.mapdoc) with no analysis,
as a new *version* of its output: the MKV keeps its name and is replaced only when the
new one is complete; until then the previous one stays and can be downloaded. A re-render
that fails or is cancelled leaves the previous version in place (status back to
completed, `render_error` says what happened). Each version's map document is kept in
DATA_DIR/maps/<job>/v<N>.json.

Several machines (QUEUE_URL set, app.queue): the same runner with another store and
another dispatcher. Jobs live in Redis (app.jobstore_redis), the web app only queues them
on Celery and the workers (`./start.sh worker`) run each one through `run_one`, the same
`_run` / `_run_rerender` as the thread pool. Reports and map documents then live under
OUTPUT_DIR/.syncdub/ (storage every machine sees), not DATA_DIR.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from app.errors import AlignmentError, Cancelled, InputError, SyncDubError
from app.services import mapdoc
from app.services.progress import Progress
from app.services.timemap import NOTABLE_EDIT_S, TimeMap
from app.services.types import (DubInput, GapFill, Mode, SyncReport, SyncRequest,
                                SyncResult)
from app.utils.file_utils import output_stem, remove_tree, unique_path, write_text_atomic

logger = logging.getLogger(__name__)

Engine = Callable[..., SyncResult]

STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
ACTIVE = ("queued", "processing")
INTERRUPTED = "interrupted by restart"
#: Seconds between two progress writes to SQLite for one job (stage changes always write).
PROGRESS_WRITE_INTERVAL_S = 0.4
#: Seconds between two sweeps of the uploaded inputs past INPUT_RETENTION_HOURS.
SWEEP_INTERVAL_S = 600.0


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Job:
    id: str
    source: str                      # "upload" | "media"
    original_path: str
    dubbed_path: str
    original_name: str
    dubbed_name: str
    custom_name: str = ""
    mode: Mode | None = None         # None: settings
    gap_fill: GapFill | None = None  # None: settings
    input_dir: str | None = None     # uploaded inputs' folder (app.submit), removed with the job
    # Further dubs of the same original, each its own track of the one MKV:
    # [{"path": ..., "name": ...}] after dubbed_path/dubbed_name.
    more_dubs: list[dict[str, str]] = field(default_factory=list)
    status: str = "queued"
    stage: str = "queued"
    progress: float = 0.0            # 0..100
    message: str = ""
    error: str | None = None
    error_code: str | None = None
    reasons: list[str] = field(default_factory=list)
    # A completed job of several dubs some of which were not written: one line each
    # ("completed with warnings").
    warnings: list[str] = field(default_factory=list)
    output_path: str | None = None
    confidence: float | None = None
    speed: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    report_path: str | None = None
    attempts: int = 0
    created_at: str = field(default_factory=utcnow)
    started_at: str | None = None
    finished_at: str | None = None
    # A season batch's episode (app.batches): the batch, its label ("S01E02") and the
    # folder under OUTPUT_DIR its output goes to ("": OUTPUT_DIR itself).
    batch_id: str | None = None
    episode: str = ""
    output_subdir: str = ""
    # Versions of the output (see the module's docstring): the current one's number (0: no
    # output yet), one entry each {version, map_source, created_at, seconds, output},
    # where the current map came from ("analysed" | "given"), the map document of a
    # re-render waiting or running (None: the next run analyses), the last failed
    # re-render's message, and when the uploaded inputs were removed.
    version: int = 0
    versions: list[dict[str, Any]] = field(default_factory=list)
    map_source: str | None = None
    rerender_map: str | None = None
    render_error: str | None = None
    inputs_removed_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE

    @property
    def dubbed_paths(self) -> list[str]:
        """Every dub's path, the first one first."""
        return [self.dubbed_path] + [d["path"] for d in self.more_dubs]

    @property
    def dubbed_names(self) -> list[str]:
        return [self.dubbed_name] + [d["name"] for d in self.more_dubs]


_JSON_FIELDS = {"reasons", "summary", "more_dubs", "warnings", "versions"}
_COLUMNS = [f.name for f in fields(Job)]


class JobStore:
    """Jobs in one SQLite file; one connection shared behind a lock (writes are tiny)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        cols = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'id' else ''}" for c in _COLUMNS)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS jobs ({cols})")
        have = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
        for c in _COLUMNS:  # columns added by a later version
            if c not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {c}")

    @staticmethod
    def _encode(name: str, value: Any) -> Any:
        return json.dumps(value) if name in _JSON_FIELDS else value

    @staticmethod
    def _decode(row: sqlite3.Row) -> Job:
        d = {k: row[k] for k in row.keys() if k in _COLUMNS}
        for k in _JSON_FIELDS:
            d[k] = json.loads(d[k]) if d.get(k) else ({} if k == "summary" else [])
        d["version"] = d.get("version") or 0  # rows of an earlier version: NULL
        return Job(**d)

    def add(self, job: Job) -> Job:
        values = [self._encode(c, getattr(job, c)) for c in _COLUMNS]
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(_COLUMNS))})", values)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._decode(row) if row else None

    def list(self, limit: int = 200) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC "
                                    "LIMIT ?", (limit,)).fetchall()
        return [self._decode(r) for r in rows]

    def update(self, job_id: str, only_if_status: tuple[str, ...] | None = None,
               **changes: Any) -> bool:
        """Set fields; with `only_if_status`, only when the job is in one of those states
        (compare-and-set, so a cancel and a worker never overwrite each other)."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job fields {unknown}")
        sets = ", ".join(f"{k} = ?" for k in changes)
        args = [self._encode(k, v) for k, v in changes.items()] + [job_id]
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        if only_if_status:
            sql += f" AND status IN ({', '.join('?' * len(only_if_status))})"
            args += list(only_if_status)
        with self._lock:
            return self._db.execute(sql, args).rowcount > 0

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def ids_with_status(self, *statuses: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM jobs WHERE status IN ({', '.join('?' * len(statuses))}) "
                "ORDER BY created_at, rowid", statuses).fetchall()
        return [r["id"] for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            found = {r["status"]: r["n"] for r in rows}
        return {s: found.get(s, 0) for s in STATUSES}

    def in_batch(self, batch_id: str) -> list[Job]:
        """The jobs of one season batch, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE batch_id = ? "
                                    "ORDER BY created_at, rowid", (batch_id,)).fetchall()
        return [self._decode(r) for r in rows]

    def execute(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        """Run one statement on this store's connection, behind its lock (other tables of
        the same file, e.g. app.batches); returns the rows."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(settings) -> JobStore:
    """The job store the settings ask for: Redis when QUEUE_URL is set (every machine
    reads it; app.jobstore_redis, the same interface), else SQLite in DATA_DIR."""
    if settings.queue_url:
        from app.jobstore_redis import RedisJobStore
        return RedisJobStore(settings.queue_url)  # type: ignore[return-value]
    return JobStore(Path(settings.data_dir) / "jobs.sqlite3")


def _default_engine() -> Engine:
    from app.services.sync_service import run_sync  # heavy imports: only when a job runs
    return run_sync


def map_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a task list shows, from a report's JSON form
    (SyncReport.to_dict). Offsets are orig_start - dub_start of the first and last
    segments, seconds. A report of several dubs adds "dubs": each dub's file name,
    language, whether it was written, its confidence and why not."""
    segments = report["segments"]
    offsets = [s["orig_start"] - s["dub_start"] for s in segments]
    return {
        "segments": len(segments),
        "cuts": sum(1 for c in report["cuts"] if c[1] - c[0] >= NOTABLE_EDIT_S),
        "inserts": sum(1 for i in report["inserts"] if i[1] - i[0] >= NOTABLE_EDIT_S),
        "offset_first_s": round(offsets[0], 3) if offsets else None,
        "offset_last_s": round(offsets[-1], 3) if offsets else None,
        "offset_min_s": round(min(offsets), 3) if offsets else None,
        "offset_max_s": round(max(offsets), 3) if offsets else None,
        "speed": report["speed"],
        "languages": {"original": report["languages"]["original"],
                      "dubbed": report["languages"]["dub"]},
        "phrase_pairs": len(report["phrase_pairs"]),
        **({"dubs": [{"name": Path(d["dub"]).name, "language": d["language"],
                      "accepted": d["accepted"], "confidence": round(d["confidence"], 3),
                      "error": d["error"], "error_code": d["error_code"]}
                     for d in report["dubs"]]} if report.get("dubs") else {}),
    }


def _version_entry(version: int, source: str, seconds: float, output: Path
                   ) -> dict[str, Any]:
    """One entry of Job.versions."""
    return {"version": version, "map_source": source, "created_at": utcnow(),
            "seconds": round(seconds, 1), "output": Path(output).name}


def _named(job: Job, summary: dict[str, Any], result: SyncResult
           ) -> tuple[dict[str, Any], list[str]]:
    """The summary's dubs and the result's warnings under the names the user knows (an
    uploaded dub is stored as "dubbed2.mkv"); `summary["dubs"]` is in `result.dubs`'s
    order."""
    names = dict(zip(job.dubbed_paths, job.dubbed_names))

    def name(dub: str) -> str:
        return names.get(dub, Path(dub).name)
    if summary.get("dubs"):
        summary = {**summary, "dubs": [{**d, "name": name(o.dub)}
                                       for d, o in zip(summary["dubs"], result.dubs)]}
    return summary, [f"{name(d.dub)}: {d.error}" for d in result.dubs if not d.accepted]


class NotCorrectable(SyncDubError):
    """A task whose map cannot be corrected now (HTTP 409); the message says why."""

    code = "not_correctable"
    http_status = 409


class JobRunner:
    """Runs jobs on a thread pool (MAX_CONCURRENT_JOBS workers; the rest wait queued), or,
    with QUEUE_URL, queues them for Celery workers (app.queue). `worker=True`: the runner
    inside a queue worker, which runs the jobs it is given (`run_one`)."""

    def __init__(self, settings, engine: Engine | None = None, worker: bool = False):
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.output_dir = Path(settings.output_dir)
        self.work_root = self.data_dir / "work"
        # Reports and map documents: where every process that reads them can
        state = self.output_dir / ".syncdub" if settings.queue_url else self.data_dir
        self.reports_dir = state / "reports"
        self.maps_dir = state / "maps"
        # A worker never makes the shared folders: finding them is its proof that it sees
        # the web app's storage (app.queue.JobQueue.check_reachable).
        for d in (self.data_dir,) if worker else (self.data_dir, self.output_dir,
                                                  self.reports_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.store = open_store(settings)
        self._engine = engine
        self.queue = None
        self._pool: ThreadPoolExecutor | None = None
        if settings.queue_url:
            from app.queue import JobQueue
            self.queue = JobQueue(settings, self.store)  # type: ignore[arg-type]
        else:
            self._pool = ThreadPoolExecutor(max_workers=settings.max_concurrent_jobs,
                                            thread_name_prefix="syncdub-job")
        self._cancels: dict[str, threading.Event] = {}
        self._reserved: set[Path] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        """Recover after a restart: processing -> failed (interrupted), queued -> run.
        With a queue, the jobs are the workers' (and the broker's): only the reaper runs
        here (app.queue: a job whose worker was lost is queued again)."""
        if self.queue is not None:
            threading.Thread(target=self.queue.run_reaper, args=(self._stop, self.worker_lost),
                             name="syncdub-reaper", daemon=True).start()
        else:
            self._recover()
        self.sweep_inputs()
        threading.Thread(target=self._sweeper, name="syncdub-sweep", daemon=True).start()

    def _recover(self) -> None:
        for job_id in self.store.ids_with_status("processing"):
            remove_tree(self.work_root / job_id)
            job = self.store.get(job_id)
            if job is not None and job.rerender_map and self._has_previous(job):
                self._back_to_previous(job, f"re-render {INTERRUPTED}")
                continue
            self.store.update(job_id, status="failed", stage="interrupted",
                              error=INTERRUPTED, error_code="interrupted",
                              message=INTERRUPTED, finished_at=utcnow())
            logger.warning("job %s was running when the server stopped: marked failed "
                           "(re-run it from its page or POST /api/tasks/%s/retry)",
                           job_id, job_id)
        for job_id in self.store.ids_with_status("queued"):
            self._submit(job_id)

    def _sweeper(self) -> None:
        while not self._stop.wait(SWEEP_INTERVAL_S):
            try:
                self.sweep_inputs()
            except Exception:  # a sweep must never stop the sweeper
                logger.exception("input sweep failed")

    def sweep_inputs(self, now: datetime | None = None) -> list[str]:
        """Remove the uploaded inputs of completed jobs finished more than
        INPUT_RETENTION_HOURS ago (their maps can no longer be corrected); returns the
        ids swept. Media-folder inputs are the user's own files: never removed."""
        hours = self.settings.input_retention_hours
        now = now or datetime.now(timezone.utc)
        swept = []
        for job_id in self.store.ids_with_status("completed"):
            job = self.store.get(job_id)
            if job is None or not job.input_dir or job.inputs_removed_at \
                    or not job.finished_at:
                continue
            age_h = (now - datetime.fromisoformat(job.finished_at)).total_seconds() / 3600
            if age_h >= hours:
                self._remove_inputs(job)
                swept.append(job_id)
        return swept

    def _remove_inputs(self, job: Job) -> None:
        """An uploaded job's inputs (a media-folder job's are the user's: kept)."""
        if not job.input_dir:
            return
        remove_tree(Path(job.input_dir))
        self.store.update(job.id, inputs_removed_at=utcnow())
        logger.info("job %s: uploaded inputs removed", job.id)

    def shutdown(self, wait: bool = False) -> None:
        self._closed = True
        self._stop.set()
        for ev in list(self._cancels.values()):
            ev.set()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
        if wait:
            if self.queue is not None:
                self.queue.close()
            self.store.close()

    @property
    def alive(self) -> bool:
        return not self._closed

    # -- commands ---------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        """Store `job` (queued) and hand it to the pool; returns it."""
        self.store.add(job)
        logger.info("job %s queued: %s + %s (%s)", job.id, job.original_name,
                    job.dubbed_name, job.source)
        self._submit(job.id)
        return job

    def _submit(self, job_id: str) -> None:
        if self.queue is not None:
            self.queue.send(job_id)   # a worker runs it (app.queue.run_job)
            return
        self._cancels[job_id] = threading.Event()
        self._pool.submit(self._run_safely, job_id)  # type: ignore[union-attr]

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def list(self, limit: int = 200) -> list[Job]:
        return self.store.list(limit)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once; ask a running one to stop at its next step."""
        job = self.store.get(job_id)
        if job is None or job.finished:
            return job
        ev = self._cancels.get(job_id)
        if ev is not None:
            ev.set()
        if self.queue is not None:
            self.queue.request_cancel(job_id)   # the worker running it polls this
        if job.rerender_map and job.status == "queued" and self._has_previous(job):
            if self._back_to_previous(job, "re-render cancelled by the user",
                                      only_if_status=("queued",)):
                logger.info("job %s: re-render cancelled while queued", job_id)
                return self.store.get(job_id)
        if self.store.update(job_id, only_if_status=("queued",), status="cancelled",
                             stage="cancelled", message="cancelled by the user",
                             finished_at=utcnow()):
            logger.info("job %s cancelled while queued", job_id)
        else:
            self.store.update(job_id, only_if_status=("processing",),
                              message="cancelling...")
            logger.info("job %s: cancel requested", job_id)
        return self.store.get(job_id)

    def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again with the same inputs."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if not job.finished or job.status == "completed":
            raise InputError(f"Task {job_id} is {job.status}; only failed or cancelled "
                             "tasks can be re-run.")
        for p in (job.original_path, *job.dubbed_paths):
            if not Path(p).is_file():
                raise InputError("The input files of this task are gone; start a new sync.")
        if not self.store.update(job_id, only_if_status=("failed", "cancelled"),
                                 status="queued", stage="queued", progress=0.0,
                                 message="queued again", error=None, error_code=None,
                                 reasons=[], warnings=[], started_at=None, finished_at=None,
                                 rerender_map=None, render_error=None):
            raise InputError(f"Task {job_id} changed state; try again.")
        logger.info("job %s queued again", job_id)
        self._submit(job_id)
        return self.store.get(job_id)  # type: ignore[return-value]

    # -- correcting: a map given by hand, rendered again --------------------------------
    def correct_blocked(self, job: Job) -> str | None:
        """Why `job`'s map cannot be corrected and rendered again now (a sentence that
        says what to do), or None when it can."""
        if not job.finished:
            return f"the task is {job.status}; wait until it has finished."
        if job.status == "failed" and job.error_code != AlignmentError.code:
            return ("only a completed task, or one refused as not the same film, has a "
                    "map to correct; re-run this one.")
        if job.status == "cancelled":
            return "the task was cancelled before it had a map; re-run it."
        if job.more_dubs:
            return ("a task of several dubs cannot be corrected yet; correct each dub "
                    "with a task of its own (or `sync --map` on the command line).")
        if job.inputs_removed_at:
            return ("its uploaded files were removed after INPUT_RETENTION_HOURS "
                    f"({self.settings.input_retention_hours} h); start a new sync.")
        for p in (job.original_path, job.dubbed_path):
            if not Path(p).is_file():
                return f"its input {Path(p).name} is gone; start a new sync."
        if job.status == "completed":   # an accepted map: the report holds it
            return None
        report = self.report(job.id)   # a refusal's (read only for those: lists are long)
        if report is None:
            return "it has no map (no report was written); re-run it."
        if not (report.get("map") or {}).get("segments"):
            return ("it was refused before a map was fitted (nothing in common was "
                    "found); check the pairing, or give a map with `sync --map`.")
        return None

    def rerender(self, job_id: str, tmap: TimeMap) -> Job:
        """Queue `job_id` to be rendered again from `tmap` (a map document parsed by
        app.services.mapdoc), with no analysis, as the next version of its output.
        Raises KeyError (no such job) or NotCorrectable (why not)."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(job_id)
        why = self.correct_blocked(job)
        if why:
            raise NotCorrectable(f"Task {job_id} cannot be rendered again: {why}")
        folder = self.maps_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        pending = folder / "pending.json"
        write_text_atomic(pending, json.dumps({"version": mapdoc.MAP_VERSION,
                                               "map": tmap.to_dict()}, indent=2))
        if not self.store.update(job_id, only_if_status=(job.status,), status="queued",
                                 stage="queued", progress=0.0,
                                 message="queued: render the corrected map",
                                 rerender_map=str(pending), render_error=None,
                                 started_at=None):
            raise NotCorrectable(f"Task {job_id} changed state; try again.")
        logger.info("job %s: re-render of a map set by hand queued (version %d)", job_id,
                    job.version + 1)
        self._submit(job_id)
        return self.store.get(job_id)  # type: ignore[return-value]

    def _has_previous(self, job: Job) -> bool:
        """Whether `job` has a written output to go back to."""
        return job.version > 0 and bool(job.output_path) and Path(job.output_path).is_file()

    def _back_to_previous(self, job: Job, why: str,
                          only_if_status: tuple[str, ...] | None = None) -> bool:
        """A re-render that did not finish: the job is completed again with its previous
        version, `render_error` saying why."""
        return self.store.update(job.id, only_if_status=only_if_status, status="completed",
                                 stage="done", progress=100.0, message=why,
                                 render_error=why, rerender_map=None,
                                 finished_at=utcnow())

    def map_document(self, job_id: str) -> dict[str, Any] | None:
        """The map of a finished job as a map document (app.services.mapdoc: what
        `analyze --json` prints, its `map` part) with where it came from; None when the
        job has no report."""
        job = self.store.get(job_id)
        report = self.report(job_id) if job else None
        if job is None or report is None or not (report.get("map") or {}).get("segments"):
            return None
        source = ("refused" if job.status == "failed" else
                  report.get("map_source") or "analysed")
        if source == "analysed" and job.map_source == "given":
            source = "given"
        return {"version": mapdoc.MAP_VERSION, "map": report["map"], "source": source,
                "task_id": job_id, "render_version": job.version}

    def delete(self, job_id: str, remove_output: bool = False) -> None:
        """Forget a finished job: its record, inputs, report (and output when asked)."""
        job = self.store.get(job_id)
        if job is None:
            return
        remove_tree(Path(job.input_dir) if job.input_dir else None)
        remove_tree(self.reports_dir / f"{job_id}.json")
        remove_tree(self.data_dir / "clips" / job_id)   # listening clips (app/api.py)
        remove_tree(self.maps_dir / job_id)
        if remove_output and job.output_path:
            remove_tree(Path(job.output_path))
        self.store.delete(job_id)
        self._cancels.pop(job_id, None)
        logger.info("job %s deleted%s", job_id, " with its output" if remove_output else "")

    def report(self, job_id: str) -> dict[str, Any] | None:
        path = self.reports_dir / f"{job_id}.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text())

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    # -- the work ---------------------------------------------------------------------
    def _run_safely(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except Exception:  # never let a worker thread die silently
            logger.exception("job %s: runner error", job_id)
            self.store.update(job_id, only_if_status=ACTIVE, status="failed",
                              error="internal error in the job runner; see the server log",
                              error_code="internal_error", finished_at=utcnow())

    def _reserve_output(self, job: Job) -> Path:
        with self._lock:
            stem = output_stem(job.custom_name, job.original_name)
            folder = self.output_dir / job.output_subdir if job.output_subdir \
                else self.output_dir
            taken = set(self._reserved)
            while True:
                path = unique_path(folder, stem, ".mkv", taken=taken)
                # With a queue, a name is also claimed for every machine writing there.
                if self.queue is None or self.queue.claim_path(path, job.id):
                    self._reserved.add(path)
                    return path
                taken.add(path)

    def _release_output(self, path: Path) -> None:
        with self._lock:
            self._reserved.discard(path)
        if self.queue is not None:
            self.queue.release_path(path)

    def _check_reachable(self, job: Job) -> None:
        """On a queue worker: InputError naming the first input or output folder this
        machine does not see (inputs and outputs must be on shared storage)."""
        if self.queue is not None:
            self.queue.check_reachable(job, self.reports_dir)

    def run_one(self, job_id: str, cancel: threading.Event) -> None:
        """Run one queued job in this process, `cancel` its stop signal: what a queue
        worker does with a job it is given (app.queue), the same path as the pool's."""
        self._cancels[job_id] = cancel
        self._run_safely(job_id)

    def worker_lost(self, job: Job, why: str) -> None:
        """A job the reaper took back from a lost worker too many times (it is queued,
        no message sent): failed, or a re-render back to its previous version."""
        if job.rerender_map and self._has_previous(job):
            self._back_to_previous(job, f"re-render failed: {why}", only_if_status=("queued",))
        else:
            self.store.update(job.id, only_if_status=("queued",), status="failed",
                              stage="failed", message=why, error=why,
                              error_code="worker_lost", rerender_map=None,
                              finished_at=utcnow())
        logger.warning("job %s: %s", job.id, why)

    def queue_status(self) -> dict[str, Any]:
        """How jobs are run, for the health check and the System page: the embedded
        threads, or the queue's state (Redis reachable, workers seen, queue length)."""
        if self.queue is None:
            return {"ok": self.alive, "mode": "embedded",
                    "workers": self.settings.max_concurrent_jobs}
        return self.queue.status()

    def _run(self, job_id: str) -> None:
        cancel = self._cancels.setdefault(job_id, threading.Event())
        if self._closed or not self.store.update(
                job_id, only_if_status=("queued",), status="processing", stage="starting",
                progress=0.0, message="starting", started_at=utcnow()):
            return  # cancelled (or deleted) while queued
        job = self.store.get(job_id)
        assert job is not None
        self.store.update(job_id, attempts=job.attempts + 1)
        if job.rerender_map:
            self._run_rerender(job, cancel)
            return
        output = self._reserve_output(job)
        work = self.work_root / job_id
        remove_tree(work)
        work.mkdir(parents=True)
        started = time.monotonic()
        logger.info("job %s started -> %s", job_id, output.name)
        try:
            self._check_reachable(job)
            engine = self._engine or _default_engine()
            request = SyncRequest(original=Path(job.original_path), dub=Path(job.dubbed_path),
                                  output=output, mode=job.mode, gap_fill=job.gap_fill,
                                  more_dubs=tuple(DubInput(Path(d["path"]))
                                                  for d in job.more_dubs))
            output.parent.mkdir(parents=True, exist_ok=True)  # a batch's own folder
            engine_settings = replace(self.settings.engine, work_dir=work)
            result = engine(request, engine_settings, progress=self._progress_sink(job_id),
                            cancel=cancel)
            if cancel.is_set():
                raise Cancelled("cancelled by the user")
            self._save_report(job_id, result.report)
            report = result.report.to_dict()
            final = Path(result.output) if result.output else output
            summary, warnings = _named(job, map_summary(report), result)
            version = job.version + 1
            self._keep_map(job_id, version, report["map"])
            self.store.update(
                job_id, status="completed", stage="done", progress=100.0,
                message="done with warnings" if warnings else "done",
                output_path=str(final), confidence=float(result.confidence),
                speed=float(result.speed), summary=summary, warnings=warnings,
                reasons=list(result.report.reasons),
                report_path=str(self.reports_dir / f"{job_id}.json"), finished_at=utcnow(),
                version=version, map_source="analysed", render_error=None,
                versions=job.versions + [_version_entry(
                    version, "analysed", time.monotonic() - started, final)])
            if self.settings.input_retention_hours == 0 or job.more_dubs:
                self._remove_inputs(job)   # nothing to correct with them
            logger.info("job %s completed in %.1f s (confidence %.2f)", job_id,
                        time.monotonic() - started, result.confidence)
        except Cancelled:
            remove_tree(output)
            self.store.update(job_id, status="cancelled", stage="cancelled",
                              message="cancelled by the user", finished_at=utcnow())
            logger.info("job %s cancelled", job_id)
        except AlignmentError as e:
            remove_tree(output)
            refused = e.report.to_dict() if e.report else None
            if e.report:
                self._save_report(job_id, e.report)
            self._fail(job_id, e, reasons=e.reasons,
                       summary=map_summary(refused) if refused else {})
        except SyncDubError as e:
            remove_tree(output)
            self._fail(job_id, e)
        except Exception as e:  # a bug, not the user's fault: keep the trace in the log
            remove_tree(output)
            logger.exception("job %s: unexpected error", job_id)
            self.store.update(job_id, status="failed", error=f"unexpected error: {e}",
                              error_code="internal_error", finished_at=utcnow())
        finally:
            remove_tree(work)
            self._release_output(output)
            self._cancels.pop(job_id, None)

    def _run_rerender(self, job: Job, cancel: threading.Event) -> None:
        """Render `job` again from its pending map document (`rerender_map`), with no
        analysis; see the module's docstring for what happens to the previous version."""
        previous = self._has_previous(job)
        output = Path(job.output_path) if previous else self._reserve_output(job)
        work = self.work_root / job.id
        remove_tree(work)
        work.mkdir(parents=True)
        started = time.monotonic()
        logger.info("job %s: re-render of a map set by hand -> %s (version %d)", job.id,
                    output.name, job.version + 1)
        try:
            self._check_reachable(job)
            tmap = mapdoc.read_map_file(Path(job.rerender_map or ""))
            engine = self._engine or _default_engine()
            before = self.report(job.id) or {}
            lang = (before.get("languages") or {}).get("dub")
            request = SyncRequest(original=Path(job.original_path), dub=Path(job.dubbed_path),
                                  output=output, gap_fill=job.gap_fill, given_map=tmap,
                                  dub_lang=lang if lang and lang != "und" else None)
            output.parent.mkdir(parents=True, exist_ok=True)
            result = engine(request, replace(self.settings.engine, work_dir=work),
                            progress=self._progress_sink(job.id), cancel=cancel)
            if cancel.is_set():
                raise Cancelled("re-render cancelled by the user")
            self._save_report(job.id, result.report)
            report = result.report.to_dict()
            version = job.version + 1
            self._keep_map(job.id, version, report["map"])
            seconds = time.monotonic() - started
            self.store.update(
                job.id, status="completed", stage="done", progress=100.0,
                message=f"done: version {version}, map set by hand",
                output_path=str(output), confidence=float(result.confidence),
                speed=float(result.speed), summary=map_summary(report), warnings=[],
                reasons=[], error=None, error_code=None,
                report_path=str(self.reports_dir / f"{job.id}.json"), finished_at=utcnow(),
                version=version, map_source="given", rerender_map=None, render_error=None,
                versions=job.versions + [_version_entry(version, "given", seconds, output)])
            logger.info("job %s: version %d rendered in %.1f s", job.id, version, seconds)
        except Exception as e:
            cancelled = isinstance(e, Cancelled) or cancel.is_set()
            if isinstance(e, SyncDubError) or cancelled:
                why = ("re-render cancelled by the user" if cancelled
                       else f"re-render failed: {e}")
            else:
                logger.exception("job %s: unexpected error in a re-render", job.id)
                why = f"re-render failed: unexpected error: {e}"
            if previous:
                self._back_to_previous(job, why)
            else:
                remove_tree(output)
                # a refused task stays refused (its error and reasons are kept)
                self.store.update(job.id, status="failed", stage="done", message=why,
                                  render_error=why, rerender_map=None,
                                  finished_at=utcnow())
            logger.warning("job %s: %s", job.id, why)
        finally:
            remove_tree(work)
            self._release_output(output)
            self._cancels.pop(job.id, None)

    def _keep_map(self, job_id: str, version: int, tmap: dict[str, Any]) -> None:
        """Version `version`'s map document, kept to go back to (DATA_DIR/maps)."""
        (self.maps_dir / job_id).mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.maps_dir / job_id / f"v{version}.json",
                          json.dumps({"version": mapdoc.MAP_VERSION, "map": tmap}, indent=2))
        remove_tree(self.maps_dir / job_id / "pending.json")

    def _fail(self, job_id: str, e: SyncDubError, reasons: list[str] | None = None,
              summary: dict | None = None) -> None:
        logger.warning("job %s failed (%s): %s", job_id, e.code, e)
        changes: dict[str, Any] = dict(status="failed", error=str(e), error_code=e.code,
                                       finished_at=utcnow())
        if reasons is not None:
            changes["reasons"] = list(reasons)
        if summary:
            changes["summary"] = summary
        self.store.update(job_id, **changes)

    def _save_report(self, job_id: str, report: SyncReport) -> None:
        """The job's report as the engine serialises it (SyncReport.to_json), written
        atomically."""
        write_text_atomic(self.reports_dir / f"{job_id}.json", report.to_json())

    def _progress_sink(self, job_id: str) -> Callable[[Progress], None]:
        state = {"stage": None, "t": 0.0, "overall": 0.0}

        def sink(p: Progress) -> None:
            now = time.monotonic()
            overall = max(state["overall"], float(p.overall))  # never runs backwards
            state["overall"] = overall
            if p.stage == state["stage"] and now - state["t"] < PROGRESS_WRITE_INTERVAL_S \
                    and p.fraction < 1.0:
                return
            state.update(stage=p.stage, t=now)
            self.store.update(job_id, only_if_status=("processing",), stage=p.stage,
                              progress=round(min(99.9, overall * 100), 1),
                              message=p.message or "")
        return sink
