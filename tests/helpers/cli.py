"""The CLI as the tests run it: `main(argv)` in this process, or `python -m app` as a
user runs it (the real stdout and stderr). (No tests here.)"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from app.cli import main
from tests.helpers import ROOT


def run_cli(argv: list) -> tuple[int, str, str]:
    """main(argv) with its stdout and stderr captured: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def run_module(args: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m app ...` as a user runs it (the real stdout and stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())
