"""A real Redis and real queue workers for the scaled-mode tests and bench (no tests here).

RedisServer: Debian's `redis-server` on a free loopback port, its data in a temporary
folder (saved on stop, so a restart keeps the jobs, as a persistent Redis would);
stop() and start() again on the same port. Workers: `./start.sh worker` as subprocesses
(each its own process group, so a kill takes its pool processes too, as a machine lost
would), their environment built like the web app's (tests/helpers/web.py server_env).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.web import free_port, server_env


def redis_server_or_skip() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server; "
                    ".ci/run installs it)")
    return exe


class RedisServer:
    """`redis-server` on 127.0.0.1:<free port>, data in `folder`."""

    def __init__(self, folder: Path, exe: str = "redis-server") -> None:
        self.exe = exe
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> RedisServer:
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.folder), "--save", "60 1", "--appendonly", "no",
             "--protected-mode", "yes"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: "
                                   f"{(self.folder / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        import redis
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.exceptions.RedisError:
            return False

    def stop(self) -> None:
        """SIGTERM: Redis saves its data (dump.rdb) and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def queue_env(tmp: Path, queue_url: str, **extra: str) -> dict[str, str]:
    """The environment of a web app or worker on `tmp`'s folders (shared by all of them,
    as the storage of several machines is) with QUEUE_URL set."""
    env = server_env(tmp, free_port(), QUEUE_URL=queue_url, **extra)
    env.pop("APP_PORT", None)
    return env


class Worker:
    """`./start.sh worker -n NAME@%h` as a subprocess in its own process group."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self.proc = subprocess.Popen([str(ROOT / "start.sh"), "worker", "-n", f"{name}@%h"],
                                     cwd=ROOT, env=env, stdout=log.open("ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> Worker:
        """Until the worker's log says it is ready (celery's "ready." line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited with {self.proc.returncode}: "
                                   f"{self.log.read_text()[-3000:]}")
            if re.search(rf"\b{re.escape(self.name)}@\S+ ready\.",
                         self.log.read_text(errors="replace")):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} not ready in {timeout} s: "
                           f"{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the worker and its pool processes at once (a machine lost)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM to the main process (celery's warm shutdown), then SIGKILL to all
        after 20 s."""
        if self.proc.poll() is not None:
            return
        try:
            self.proc.terminate()
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass
