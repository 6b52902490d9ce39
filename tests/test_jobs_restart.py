"""Restart: the app served from a subprocess is killed (-9) during a job and started again.
The running job comes back failed ("interrupted by restart") and can be re-run; the task
list, earlier results, queued jobs and half-done chunked uploads survive."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from tests.helpers import ROOT
from tests.helpers.web import MKV_HEAD, free_port, spawn_server, stop

# The real app (create_app) with a stand-in engine that blocks while HOLD exists when the
# output is named "slow...": a job that is surely running when the server is killed.
SERVER = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from werkzeug.serving import make_server
    from app import create_app
    from app.services.progress import Progress
    from tests.helpers.web import FakeEngine, make_settings

    tmp, port = Path({tmp!r}), {port}
    hold = tmp / "HOLD"

    class Engine(FakeEngine):
        def __call__(self, request, settings, progress=None, cancel=None):
            if Path(request.output).name.startswith("slow"):
                progress(Progress("extract", 0.5, 0.15, "decoding"))
                while hold.exists():
                    time.sleep(0.05)
            return super().__call__(request, settings, progress, cancel)

    app = create_app({{"SETTINGS": make_settings(tmp), "SYNC_ENGINE": Engine()}})
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()
""")


def call(base: str, method: str, path: str, body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def multipart(fields: dict[str, tuple[str, bytes] | str]) -> tuple[bytes, str]:
    boundary = "syncdubtestboundary"
    out = b""
    for name, v in fields.items():
        out += f"--{boundary}\r\n".encode()
        if isinstance(v, tuple):
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{v[0]}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n").encode() + v[1] + b"\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{v}\r\n'.encode()
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def start(tmp: Path, port: int, log: Path) -> subprocess.Popen:
    script = tmp / "server.py"
    script.write_text(SERVER.format(root=str(ROOT), tmp=str(tmp), port=port))
    return spawn_server([sys.executable, str(script)], port, log)


def submit(base: str, name: str) -> str:
    body, ctype = multipart({"original_video": ("orig.mkv", MKV_HEAD),
                             "dubbed_video": ("dub.mkv", MKV_HEAD), "custom_name": name})
    code, data = call(base, "POST", "/api/upload", body, {"Content-Type": ctype})
    assert code == 202, data
    return data["task_id"]


def wait_status(base: str, tid: str, want: set[str], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, job = call(base, "GET", f"/api/status/{tid}")
        if job.get("status") in want:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{tid}: {job}")


def send_then_drop(port: int, path: str, headers: dict, data: bytes, send: int) -> None:
    """A PUT whose connection dies after `send` bytes of the body."""
    s = socket.create_connection(("127.0.0.1", port))
    head = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(head.encode() + data[:send])
    time.sleep(0.3)
    s.shutdown(socket.SHUT_RDWR)
    s.close()


def test_kill_during_a_job_then_restart(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    (tmp_path / "HOLD").touch()
    proc = start(tmp_path, port, log)
    try:
        done = submit(base, "first")
        first = wait_status(base, done, {"completed"})
        out_before = (tmp_path / "output" / first["result"]["output"]).read_bytes()
        slow = submit(base, "slow one")
        wait_status(base, slow, {"processing"})
        queued = submit(base, "later")
        assert wait_status(base, queued, {"queued"})["status"] == "queued"

        # a chunked upload whose second chunk is cut by a dropped connection
        blob = MKV_HEAD + os.urandom(2_000_000)
        code, up = call(base, "POST", "/api/uploads",
                        json.dumps({"filename": "big.mkv", "size": len(blob)}).encode(),
                        {"Content-Type": "application/json"})
        assert code == 201
        uid = up["upload_id"]
        code, _ = call(base, "PUT", f"/api/uploads/{uid}", blob[:500_000],
                       {"Content-Range": f"bytes 0-499999/{len(blob)}"})
        assert code == 200
        send_then_drop(port, f"/api/uploads/{uid}",
                       {"Content-Range": f"bytes 500000-{len(blob) - 1}/{len(blob)}",
                        "Content-Length": str(len(blob) - 500_000)},
                       blob[500_000:], 700_000)
        _, info = call(base, "GET", f"/api/uploads/{uid}")
        assert 500_000 <= info["offset"] <= 1_200_000

        os.kill(proc.pid, signal.SIGKILL)   # no clean shutdown: the job is mid-way
        proc.wait(10)
    finally:
        stop(proc)

    proc = start(tmp_path, port, log)
    try:
        job = wait_status(base, slow, {"failed"})
        assert job["error"] == "interrupted by restart" and job["error_code"] == "interrupted"
        assert job["stage"] == "interrupted"
        _, listing = call(base, "GET", "/api/tasks")
        assert {t["task_id"] for t in listing["tasks"]} == {done, slow, queued}
        # the earlier result is intact, and the queued job ran after the restart
        assert call(base, "GET", f"/api/status/{done}")[1]["status"] == "completed"
        with urllib.request.urlopen(f"{base}/api/download/{done}") as r:
            assert r.read() == out_before
        assert wait_status(base, queued, {"completed"})["result"]["output"] == "later.mkv"
        assert not (tmp_path / "data" / "work" / slow).exists()
        # the interrupted job is re-run from its kept inputs
        (tmp_path / "HOLD").unlink()
        code, _ = call(base, "POST", f"/api/tasks/{slow}/retry")
        assert code == 202
        job = wait_status(base, slow, {"completed"})
        assert job["attempts"] == 2 and job["result"]["output"] == "slow one.mkv"
        # the broken upload resumes where its bytes stop, across the restart
        _, info = call(base, "GET", f"/api/uploads/{uid}")
        off = info["offset"]
        code, info = call(base, "PUT", f"/api/uploads/{uid}", blob[off:],
                          {"Content-Range": f"bytes {off}-{len(blob) - 1}/{len(blob)}"})
        assert code == 200 and info["offset"] == len(blob)
        assert call(base, "POST", f"/api/uploads/{uid}/finish")[1]["complete"]
        assert (tmp_path / "uploads" / "partial" / uid / "data").read_bytes() == blob
    finally:
        stop(proc)
    assert f"job {slow} was running when the server stopped" in log.read_text()
