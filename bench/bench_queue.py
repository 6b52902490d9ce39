#!/usr/bin/env python3
"""Jobs per minute through the queue (QUEUE_URL) with 1 worker and with 2, on this machine.

    .venv/bin/python bench/bench_queue.py [CASE_DIR] [--jobs 6] [--workers 1,2]
                                          [--rounds 2] [--corpus ../shared/corpus]

CASE_DIR is a pair made by ../shared/corpus/make_pair.py (original.mkv, dub.*); without
it, offset_3min is made once into /tmp/syncdub-bench-queue/. What runs is what a
deployment of the scale profile runs: a redis-server on a free loopback port, the web
app under gunicorn with QUEUE_URL set, and `./start.sh worker` processes (concurrency 1
each), all on one machine's folders (the shared storage). For each round and each worker
count (A B A B with --rounds 2): the workers are started, `--jobs` syncs of the pair are
sent through POST /api/sync at once, and the wall time from the first request to the
last job completed is measured; then the workers are stopped. Prints the wall time and
jobs per minute of each run, the medians, and (with the corpus) score.py on one output.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus_score import score_line  # noqa: E402  (bench/)
from tests.helpers.queue import RedisServer, Worker, queue_env  # noqa: E402
from tests.helpers.web import free_port, start_gunicorn, stop  # noqa: E402


def call(url: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def make_case(corpus: Path, where: Path) -> Path:
    case = where / "offset_3min"
    if not (case / "truth.json").is_file():
        print(f"making {case} with {corpus / 'make_pair.py'} (once)", flush=True)
        subprocess.run([sys.executable, str(corpus / "make_pair.py"),
                        str(corpus / "scenarios" / "offset_3min.json"), str(case)], check=True)
    return case


def one_run(base: str, tmp: Path, env: dict[str, str], workers: int, jobs: int, dub: str,
            tag: str) -> tuple[float, list[dict]]:
    """Start `workers` workers, send `jobs` syncs, wait for all; (wall s, statuses)."""
    started = [Worker(f"{tag}w{i}", env, tmp / f"{tag}w{i}.log") for i in range(workers)]
    try:
        for w in started:
            w.wait_ready()
        t0 = time.perf_counter()
        tasks = [call(f"{base}/api/sync", {"original_path": "original.mkv",
                                           "dubbed_path": dub,
                                           "custom_name": f"{tag}-{i}"})["task_id"]
                 for i in range(jobs)]
        done: dict[str, dict] = {}
        while len(done) < len(tasks):
            for t in tasks:
                if t not in done:
                    st = call(f"{base}/api/status/{t}")
                    if st["status"] not in ("queued", "processing"):
                        done[t] = st
            time.sleep(0.2)
        wall = time.perf_counter() - t0
    finally:
        for w in started:
            w.stop()
    return wall, [done[t] for t in tasks]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", type=Path, nargs="?")
    ap.add_argument("--jobs", type=int, default=6, help="jobs per run (default 6)")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare (1,2)")
    ap.add_argument("--rounds", type=int, default=2, help="A B rounds (default 2)")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    case = (args.case or make_case(args.corpus, Path("/tmp/syncdub-bench-queue"))).resolve()
    dub = next((p.name for p in sorted(case.glob("dub.*")) if p.suffix in (
        ".mkv", ".mp4", ".avi")), None)
    if dub is None:
        raise SystemExit(f"no dub.mkv/mp4/avi in {case}")
    counts = [int(n) for n in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="syncdub-bench-queue-"))
    redis = RedisServer(tmp / "redis").start()
    env = queue_env(tmp, redis.url, MEDIA_SOURCE_ENABLED="true", MEDIA_SOURCE_PATH=str(case))
    port = free_port()
    web = start_gunicorn(tmp, port, tmp / "web.log", QUEUE_URL=redis.url,
                         MEDIA_SOURCE_ENABLED="true", MEDIA_SOURCE_PATH=str(case))
    base = f"http://127.0.0.1:{port}"
    walls: dict[int, list[float]] = {n: [] for n in counts}
    last: dict | None = None
    print(f"{args.jobs} jobs of {case.name} per run; worker counts {counts}; "
          f"{args.rounds} round(s); Redis {redis.url}", flush=True)
    try:
        for r in range(args.rounds):
            for n in counts:
                tag = f"r{r}n{n}"
                wall, statuses = one_run(base, tmp, env, n, args.jobs, dub, tag)
                bad = [s for s in statuses if s["status"] != "completed"]
                if bad:
                    raise SystemExit(f"{len(bad)} job(s) not completed: {bad[0]}")
                walls[n].append(wall)
                last = statuses[-1]
                print(f"round {r + 1}, {n} worker(s): {args.jobs} jobs in {wall:6.1f} s = "
                      f"{args.jobs * 60 / wall:5.2f} jobs/min", flush=True)
        for n in counts:
            m = statistics.median(walls[n])
            print(f"median, {n} worker(s): {m:.1f} s = {args.jobs * 60 / m:.2f} jobs/min")
        if len(counts) == 2:
            a, b = (statistics.median(walls[n]) for n in counts)
            print(f"{counts[1]} workers against {counts[0]}: {a / b:.2f}x the jobs per minute")
        if last is not None:
            mkv = tmp / "output" / last["result"]["output"]
            print(f"score of {mkv.name}: {score_line(args.corpus, mkv, case)}")
    finally:
        stop(web)
        redis.stop()
        for p in (tmp / "output").glob("*.mkv"):
            p.unlink()
    print(f"logs in {tmp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
