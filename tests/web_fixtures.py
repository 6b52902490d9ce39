"""Helpers for the web tests: settings on temp folders, a fake engine, tiny lavfi media."""
from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.errors import Cancelled, InputError
from app.services.progress import STAGES, Progress
from app.services.types import SyncRequest, SyncResult
from config import load_settings

# A sound bed that never repeats: noise and tone bursts gated by a product of sines with
# incommensurate periods (the engine matches onsets; a periodic bed would be ambiguous).
_GATE = "gt(sin(7.3*t)*sin(2.1*t+1)*sin(0.77*t+2),0.12)"
BED = (f"aevalsrc='{_GATE}*(0.5*sin(2*PI*(220+180*floor(mod(3.7*t,5)))*t)"
       f"+0.3*(random(0)-0.5))+0.02*(random(1)-0.5)':s=48000:d={{d}}")


def make_settings(tmp: Path, **overrides: Any):
    base = dict(uploads_dir=tmp / "uploads", output_dir=tmp / "output",
                data_dir=tmp / "data", app_host="127.0.0.1")
    base.update(overrides)
    s = load_settings({}, dotenv=False, **base)
    return replace(s, engine=replace(s.engine, models_dir=tmp / "models"))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_pair(folder: Path, seconds: float = 24.0, delay: float = 1.5) -> tuple[Path, Path]:
    """original.mkv (video + bed) and dubbed.mkv (the same bed `delay` s later, another
    lead-in), both small: 160x90 at 10 fps."""
    folder.mkdir(parents=True, exist_ok=True)
    bed = folder / "bed.wav"
    ffmpeg("-f", "lavfi", "-i", BED.format(d=seconds + delay + 1), "-ac", "2", str(bed))
    orig, dub = folder / "original.mkv", folder / "dubbed.mkv"
    video = f"testsrc2=s=160x90:r=10:d={seconds}"
    ffmpeg("-f", "lavfi", "-i", video, "-i", str(bed), "-t", str(seconds),
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k",
           "-metadata:s:a:0", "language=eng", str(orig))
    # the dub: 1.5 s of a quiet hum, then the same bed
    ffmpeg("-f", "lavfi", "-i", video, "-f", "lavfi",
           "-i", f"sine=f=90:d={delay}:r=48000", "-i", str(bed),
           "-filter_complex", "[1:a]volume=0.05,aformat=channel_layouts=stereo[a0];"
                              "[a0][2:a]concat=n=2:v=0:a=1[a]",
           "-map", "0:v", "-map", "[a]", "-t", str(seconds),
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k",
           "-metadata:s:a:0", "language=spa", str(dub))
    bed.unlink()
    return orig, dub


def fake_report(confidence: float = 0.93) -> dict[str, Any]:
    return {
        "segments": [{"dub_start": 1.5, "dub_end": 20.0, "orig_start": 0.0, "speed": 1.0}],
        "cuts": [], "inserts": [[0.0, 1.5]],
        "anchors": [{"dub_t": t + 1.5, "orig_t": t, "score": 12.0, "source": "audio"}
                    for t in range(0, 18, 2)],
        "confidence": confidence, "reasons": [], "speed": 1.0,
        "languages": {"original": "eng", "dub": "spa"},
        "phrase_pairs": [{"dub_start": 3.0, "dub_end": 4.0, "dub_text": "hola",
                          "orig_start": 1.5, "orig_end": 2.5, "orig_text": "hello",
                          "similarity": 0.8}],
        "timings": {"probe": 0.01},
    }


class FakeEngine:
    """run_sync's signature; checks the inputs start with a media signature (so junk
    fails like the real engine), reports every stage, honours cancel, writes a file."""

    def __init__(self, step_s: float = 0.0, hold: threading.Event | None = None):
        self.step_s = step_s
        self.hold = hold            # when given, wait for it in the middle of the job
        self.calls: list[SyncRequest] = []
        self.started = threading.Event()

    def __call__(self, request: SyncRequest, settings, progress=None, cancel=None
                 ) -> SyncResult:
        self.calls.append(request)
        self.started.set()
        for p in (request.original, request.dub):
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
        tmp = Path(request.output).with_suffix(".part")
        tmp.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 4096)
        tmp.replace(request.output)
        return SyncResult(output=Path(request.output), confidence=0.93, speed=1.0,
                          report=fake_report())


MKV_HEAD = b"\x1a\x45\xdf\xa3" + b"\0" * 1020


# -- a real server in a subprocess ----------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


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
    proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env(tmp, port, **extra),
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
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
