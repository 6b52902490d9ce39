#!/usr/bin/env python3
"""Benchmark several dubs in one job against one job per dub, on a long film.

    .venv/bin/python bench/bench_multidub.py CASE_DIR [--runs 2] [--mode auto]
                                             [--corpus ../shared/corpus] [--no-score]

CASE_DIR is a pair made by ../shared/corpus/make_pair.py (e.g. long_120min). The dub is
given twice, which costs what two different dubs of the same length would:
  * A, one job:   `python -m app sync ORIGINAL DUB DUB -o a.mkv` (two dub tracks);
  * B, two jobs:  `python -m app sync ORIGINAL DUB -o b1.mkv`, then the same into b2.mkv.
Measured in the order A B A B... (`--runs` pairs), each in a fresh Python process that
runs the CLI(s) and reads its peak RSS (resource.getrusage(RUSAGE_CHILDREN): the largest
of the CLI and its ffmpeg children; for B the larger of the two jobs') and the wall time
(for B the sum). Prints every run and the medians, then scores both dub tracks of the
last A output with the corpus's score.py (--track 1 and --track 2: the original has one
audio stream).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dub_file(case: Path) -> Path:
    for ext in ("mkv", "mp4", "avi"):
        if (case / f"dub.{ext}").exists():
            return case / f"dub.{ext}"
    raise SystemExit(f"no dub.* in {case}")


def measure_child(argvs: list[list[str]]) -> None:
    """Run `argvs` one after another (in this fresh process) and print one JSON line:
    wall seconds (all of them), peak RSS in MB (children), exit statuses."""
    t0 = time.perf_counter()
    codes = [subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL).returncode
             for argv in argvs]
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mb": rss, "codes": codes}))


def measure(argvs: list[list[str]]) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", json.dumps(argvs)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", type=Path, nargs="?")
    ap.add_argument("--runs", type=int, default=2, help="A B pairs (default 2)")
    ap.add_argument("--mode", default="auto")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--no-score", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        measure_child(json.loads(args.child))
        return 0
    if args.case is None:
        ap.error("give CASE_DIR")
    case = args.case.resolve()
    orig, dub = case / "original.mkv", dub_file(case)
    tmp = Path(tempfile.mkdtemp(prefix="syncdub-bench-multi-"))

    def sync(dubs: list[Path], out: Path) -> list[str]:
        return [sys.executable, "-m", "app", "sync", str(orig), *map(str, dubs),
                "-o", str(out), "--force", "-q", "--mode", args.mode,
                "--report", str(out.with_suffix(".json"))]

    jobs = {"A one job, two dubs": [sync([dub, dub], tmp / "a.mkv")],
            "B two jobs": [sync([dub], tmp / "b1.mkv"), sync([dub], tmp / "b2.mkv")]}
    got: dict[str, list[dict]] = {k: [] for k in jobs}
    for run in range(args.runs):
        for name, argvs in jobs.items():
            m = measure(argvs)
            if any(m["codes"]):
                print(f"{name}: the CLI exited {m['codes']}")
                return 1
            got[name].append(m)
            print(f"run {run + 1}  {name:<20} wall {m['wall']:6.1f} s   peak RSS "
                  f"{m['rss_mb']:6.0f} MB", flush=True)
    print()
    med = {k: (statistics.median(m["wall"] for m in v), statistics.median(m["rss_mb"] for m in v))
           for k, v in got.items()}
    for name, (wall, rss) in med.items():
        print(f"median {name:<20} wall {wall:6.1f} s   peak RSS {rss:6.0f} MB")
    (a_wall, a_rss), (b_wall, b_rss) = med.values()
    print(f"one job / two jobs: wall {a_wall / b_wall:.2f}, peak RSS {a_rss / b_rss:.2f}")
    rep = json.loads((tmp / "a.json").read_text())
    print("one job's stages: " + ", ".join(f"{k} {v:.1f}" for k, v in rep["timings"].items()))
    score = args.corpus / "score.py"
    if score.exists() and not args.no_score:
        for track in (1, 2):
            print(f"\nscore of dub track {track} (score.py --track {track})", flush=True)
            subprocess.run([sys.executable, str(score), str(tmp / "a.mkv"), str(case),
                            "--track", str(track)])
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
