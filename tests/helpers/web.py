"""Helpers for the web tests: settings on temp folders, a fake engine, the app built and
shut down, API calls the tests repeat, and the real server in a subprocess. (No tests
here; the app, client and runner fixtures are in tests/conftest.py.)"""
from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from app.errors import AlignmentError, Cancelled, InputError
from app.services.progress import STAGES, Progress
from app.services.types import (Anchor, DubOutcome, Languages, PhrasePair, SyncReport,
                                SyncRequest, SyncResult)
from config import load_settings
from tests.helpers import ROOT


def make_settings(tmp: Path, **overrides: Any):
    base = dict(uploads_dir=tmp / "uploads", output_dir=tmp / "output",
                data_dir=tmp / "data", app_host="127.0.0.1")
    base.update(overrides)
    s = load_settings({}, dotenv=False, **base)
    return replace(s, engine=replace(s.engine, models_dir=tmp / "models"))


def fake_sync_report(confidence: float = 0.93) -> SyncReport:
    """An engine report: a 1.5 s lead-in dropped, one segment at speed 1."""
    return SyncReport(
        original="original.mkv", dub="dub.mkv", speed=1.0, confidence=confidence,
        segments=[{"dub_start": 1.5, "dub_end": 20.0, "orig_start": 0.0, "speed": 1.0}],
        inserts=[[0.0, 1.5]],
        anchors=[Anchor(t + 1.5, t, 12.0, "audio") for t in range(0, 18, 2)],
        languages=Languages(original="eng", dub="spa"),
        phrase_pairs=[PhrasePair(3.0, 4.0, "hola", 1.5, 2.5, "hello", 0.8)],
        timings={"probe": 0.01})


def fake_report(confidence: float = 0.93) -> dict[str, Any]:
    """fake_sync_report's JSON form, as the job runner stores it."""
    return fake_sync_report(confidence).to_dict()


class FakeEngine:
    """run_sync's signature; checks the inputs start with a media signature (so junk
    fails like the real engine), reports every stage, honours cancel, writes a file.
    Several dubs (request.more_dubs): each accepted unless its file name has
    "unrelated" in it; none accepted raises AlignmentError, as the engine does."""

    def __init__(self, step_s: float = 0.0, hold: threading.Event | None = None):
        self.step_s = step_s
        self.hold = hold            # when given, wait for it in the middle of the job
        self.calls: list[SyncRequest] = []
        self.started = threading.Event()

    def __call__(self, request: SyncRequest, settings, progress=None, cancel=None
                 ) -> SyncResult:
        self.calls.append(request)
        self.started.set()
        dubs = [request.dub, *(d.path for d in request.more_dubs)]
        for p in (request.original, *dubs):
            head = Path(p).read_bytes()[:16]
            if not (head.startswith(b"\x1a\x45\xdf\xa3") or b"ftyp" in head):
                raise InputError(f"{Path(p).name!r} is not a video file ffprobe can read")
        acc = 0.0
        for i, (stage, w) in enumerate(STAGES.items()):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled by the user")
            if self.hold is not None and i == 3:
                while not self.hold.wait(0.05):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("cancelled by the user")
            acc += w
            if progress:
                progress(Progress(stage, 1.0, acc, f"{stage} done"))
            time.sleep(self.step_s)
        assert settings.work_dir is not None and Path(settings.work_dir).is_dir()
        (Path(settings.work_dir) / "scratch.tmp").write_bytes(b"x")
        outcomes = tuple(
            DubOutcome(str(p), "und", False, 0.1, error="refused: not the same film",
                       error_code="not_same_film") if "unrelated" in Path(p).name else
            DubOutcome(str(p), "spa", True, 0.93, 1.0) for p in dubs) \
            if request.more_dubs else ()
        if outcomes and not any(o.accepted for o in outcomes):
            raise AlignmentError("none of the dubs matches", reasons=["no dub matched"])
        report = replace(fake_sync_report(), dubs=[
            {**o.to_dict(), "report": None} for o in outcomes] or None)
        tmp = Path(request.output).with_suffix(".part")
        tmp.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 4096)
        tmp.replace(request.output)
        return SyncResult(output=Path(request.output), confidence=0.93, speed=1.0,
                          report=report, dubs=outcomes)


MKV_HEAD = b"\x1a\x45\xdf\xa3" + b"\0" * 1020


# -- the app in this process -----------------------------------------------------------------
@contextmanager
def app_for(settings, engine=None, **flask_config: Any) -> Iterator[Any]:
    """create_app on `settings` (with `engine` for the sync engine, when given); its job
    runner is shut down on the way out."""
    from app import create_app
    config: dict[str, Any] = {"SETTINGS": settings}
    if engine is not None:
        config["SYNC_ENGINE"] = engine
    app = create_app({**config, **flask_config})
    try:
        yield app
    finally:
        app.extensions["jobs"].shutdown(wait=True)


def upload(client, orig=MKV_HEAD, dub=MKV_HEAD, names=("Film.2019.mkv", "Film.ES.mkv"),
           **form):
    data = {"original_video": (io.BytesIO(orig), names[0]),
            "dubbed_video": (io.BytesIO(dub), names[1]), **form}
    return client.post("/api/upload", data=data, content_type="multipart/form-data")


def wait_finished(client, task_id: str, timeout: float = 10.0, headers=None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.get(f"/api/status/{task_id}", headers=headers).get_json()
        if data["status"] not in ("queued", "processing"):
            return data
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not finish: {data}")


def http_json(method: str, url: str, body: dict | None = None) -> dict:
    """A JSON request to a served app (gunicorn), its JSON answer."""
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def wait_served_task(base: str, task_id: str, timeout: float = 120) -> dict:
    """Poll a served app's task until it has finished (or `timeout` s); its JSON."""
    deadline = time.monotonic() + timeout
    while (job := http_json("GET", f"{base}/api/status/{task_id}"))["status"] in (
            "queued", "processing") and time.monotonic() < deadline:
        time.sleep(0.3)
    return job


def completed_upload(client, orig: Path, dub: Path, timeout: float = 180) -> str:
    """Upload a pair as ("Film (2001).mkv", "Film.ES.mkv") in audio mode through the test
    client and wait for the real engine to complete it; the task id."""
    r = upload(client, Path(orig).read_bytes(), Path(dub).read_bytes(),
               names=("Film (2001).mkv", "Film.ES.mkv"), mode="audio")
    assert r.status_code == 202, r.get_json()
    tid = r.get_json()["task_id"]
    job = wait_finished(client, tid, timeout=timeout)
    assert job["status"] == "completed", job
    return tid


def assert_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) >= {"error", "message"} and body["message"]
    if code:
        assert body["error"] == code
    return body


# -- a real server in a subprocess ----------------------------------------------------------


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path, port: int, **extra: str) -> dict[str, str]:
    import os
    env = {k: v for k, v in os.environ.items() if k not in _CONFIG_VARS}
    env.update(UPLOADS_DIR=str(tmp / "uploads"), OUTPUT_DIR=str(tmp / "output"),
               DATA_DIR=str(tmp / "data"), MODELS_DIR=str(tmp / "models"),
               APP_HOST="127.0.0.1", APP_PORT=str(port), API_KEY="", LOG_LEVEL="INFO",
               MEDIA_SOURCE_ENABLED="false")
    env.update(extra)
    return env


def start_gunicorn(tmp: Path, port: int, log: Path, **extra: str) -> subprocess.Popen:
    """The product's server: gunicorn app:app, one gthread worker (as start.sh runs it)."""
    cmd = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", "1",
           "--worker-class", "gthread", "--threads", "4", "--timeout", "0",
           "--bind", f"127.0.0.1:{port}", "app:app"]
    if not Path(cmd[0]).exists():
        import sys
        cmd[0:1] = [sys.executable, "-m", "gunicorn"]
    return spawn_server(cmd, port, log, env=server_env(tmp, port, **extra))


def spawn_server(cmd: list[str], port: int, log: Path,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """`cmd` started in the repository (output appended to `log`); returns once the app
    answers on `port`."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/api/health", proc)
    return proc


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _config_vars() -> set[str]:
    from config import VARIABLES
    return set(VARIABLES)


_CONFIG_VARS = _config_vars()
