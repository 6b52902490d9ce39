"""Peak RSS of the SyncDub server while a big file is uploaded: it must stay flat.

Starts the server as start.sh does (gunicorn, 1 gthread worker) on temporary folders,
uploads a sparse file of zeros (default 2 GB, made under /tmp, never committed) through
POST /api/upload (multipart) and through the resumable API (8 MiB PUTs), samples the RSS
of the gunicorn processes every 50 ms, and prints baseline and peak.

    .venv/bin/python bench/bench_upload_rss.py [--size 2G] [--mode both|multipart|chunked]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from config import VARIABLES, parse_size  # noqa: E402

PIECE = 1024 * 1024


class RssSampler(threading.Thread):
    """Sums the RSS of a process and its children every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(UPLOADS_DIR=str(tmp / "uploads"), OUTPUT_DIR=str(tmp / "output"),
               DATA_DIR=str(tmp / "data"), APP_HOST="127.0.0.1", APP_PORT=str(port),
               LOG_LEVEL="WARNING", MAX_CONTENT_LENGTH="20GB", API_KEY="")
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    cmd = [str(gunicorn) if gunicorn.exists() else "gunicorn", "--workers", "1",
           "--worker-class", "gthread", "--threads", "4", "--timeout", "0",
           "--bind", f"127.0.0.1:{port}", "app:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/health")
            c.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def send_file(conn: http.client.HTTPConnection, f, limit: int) -> None:
    left = limit
    while left:
        buf = f.read(min(PIECE, left))
        if not buf:
            raise SystemExit("source file ended early")
        conn.send(buf)
        left -= len(buf)


def upload_multipart(port: int, src: Path, sampler: "RssSampler") -> int:
    """POST /api/upload; returns the peak RSS seen until the 202 (the job it starts then
    imports the engine and runs ffprobe: not the upload's memory)."""
    size = src.stat().st_size
    b = "syncdubbench"
    head1 = (f'--{b}\r\nContent-Disposition: form-data; name="original_video"; '
             f'filename="big.mkv"\r\nContent-Type: video/x-matroska\r\n\r\n').encode()
    mid = (f'\r\n--{b}\r\nContent-Disposition: form-data; name="dubbed_video"; '
           f'filename="dub.mkv"\r\nContent-Type: video/x-matroska\r\n\r\n').encode()
    tail = f"\r\n--{b}--\r\n".encode()
    dub = b"\x1a\x45\xdf\xa3" + b"\0" * 4092
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", "/api/upload")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={b}")
    conn.putheader("Content-Length", str(len(head1) + size + len(mid) + len(dub) + len(tail)))
    conn.endheaders()
    conn.send(head1)
    with open(src, "rb") as f:
        send_file(conn, f, size)
    conn.send(mid + dub + tail)
    r = conn.getresponse()
    body = r.read()
    peak = sampler.peak
    if r.status != 202:
        raise SystemExit(f"multipart upload: HTTP {r.status} {body[:200]!r}")
    task = json.loads(body)["task_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        conn.request("GET", f"/api/status/{task}")
        status = json.loads(conn.getresponse().read())["status"]
        if status not in ("queued", "processing"):
            break
        time.sleep(0.2)
    return peak


def upload_chunked(port: int, src: Path, sampler: "RssSampler") -> int:
    size = src.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/api/uploads", json.dumps({"filename": "big.mkv", "size": size}),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    info = json.loads(r.read())
    if r.status != 201:
        raise SystemExit(f"create upload: HTTP {r.status} {info}")
    uid, chunk = info["upload_id"], info["chunk_size"]
    with open(src, "rb") as f:
        off = 0
        while off < size:
            n = min(chunk, size - off)
            conn.putrequest("PUT", f"/api/uploads/{uid}")
            conn.putheader("Content-Range", f"bytes {off}-{off + n - 1}/{size}")
            conn.putheader("Content-Length", str(n))
            conn.endheaders()
            send_file(conn, f, n)
            r = conn.getresponse()
            off = json.loads(r.read())["offset"]
    conn.request("POST", f"/api/uploads/{uid}/finish")
    r = conn.getresponse()
    if r.status != 200:
        raise SystemExit(f"finish: HTTP {r.status} {r.read()[:200]!r}")
    r.read()
    return sampler.peak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="2G", help="file size (default 2G)")
    ap.add_argument("--mode", choices=("both", "multipart", "chunked"), default="both")
    args = ap.parse_args(argv)
    size = parse_size("--size", args.size)
    tmp = Path(tempfile.mkdtemp(prefix="syncdub-upload-bench-", dir="/tmp"))
    src = tmp / "zeros.mkv"
    with open(src, "wb") as f:  # sparse: no disk used for the source
        f.truncate(size)
    port = free_port()
    proc = start_server(tmp / "srv", port)
    mb = 1024 * 1024
    try:
        sampler = RssSampler(proc.pid)
        time.sleep(0.5)
        base = sampler.rss()
        print(f"server: gunicorn pid {proc.pid}; file {size / mb:.0f} MiB; "
              f"baseline RSS {base / mb:.1f} MiB")
        sampler.start()
        modes = ("chunked", "multipart") if args.mode == "both" else (args.mode,)
        worst = 0
        for mode in modes:
            before = sampler.rss()
            sampler.peak = 0
            t0 = time.monotonic()
            peak = (upload_multipart if mode == "multipart" else upload_chunked)(
                port, src, sampler)
            dt = time.monotonic() - t0
            worst = max(worst, peak - before)
            print(f"{mode:9s}: {size / mb / dt:7.1f} MiB/s, peak RSS {peak / mb:.1f} MiB "
                  f"(+{(peak - before) / mb:.1f} MiB over {before / mb:.1f} MiB before it)")
            shutil.rmtree(tmp / "srv" / "uploads", ignore_errors=True)
        sampler.stop()
        flat = worst < 64 * mb
        print(f"largest growth during an upload: {worst / mb:.1f} MiB for a "
              f"{size / mb:.0f} MiB file: {'flat' if flat else 'GROWS with the file'}")
        return 0 if flat else 1
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
