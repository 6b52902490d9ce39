#!/usr/bin/env python3
"""Benchmark the CLI on a long film against the I/O floor measured in the same run.

    .venv/bin/python bench/bench_long.py CASE_DIR [--corpus ../shared/corpus] [--keep]

CASE_DIR is a pair made by ../shared/corpus/make_pair.py (e.g. long_120min). Prints:
  * the I/O floor: ffmpeg decoding both audio streams (to 16 kHz mono, discarded) plus
    stream-copying the original into a new MKV — the least any tool must do;
  * the CLI's wall time (`python -m app sync`) and its peak RSS (children included);
  * their ratio, and the score (score.py) when the corpus is there.
Targets (issue 2): ratio <= 2 (goal 1.5), peak RSS <= 1.5 GB, >= 98 % within 20 ms.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def dub_file(case: Path) -> Path:
    for ext in ("mkv", "mp4", "avi"):
        if (case / f"dub.{ext}").exists():
            return case / f"dub.{ext}"
    raise SystemExit(f"no dub.* in {case}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", type=Path)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--keep", action="store_true", help="keep the output MKV")
    ap.add_argument("--mode", default="auto")
    args = ap.parse_args()
    case = args.case.resolve()
    orig, dub = case / "original.mkv", dub_file(case)
    tmp = Path(tempfile.mkdtemp(prefix="syncdub-bench-"))
    q = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]

    dec = [timed(q + ["-i", str(p), "-map", "0:a:0", "-ac", "1", "-ar", "16000",
                      "-f", "f32le", "-"]) for p in (orig, dub)]
    copy = timed(q + ["-i", str(orig), "-map", "0", "-c", "copy", str(tmp / "copy.mkv")])
    (tmp / "copy.mkv").unlink(missing_ok=True)
    floor = sum(dec) + copy
    print(f"I/O floor      {floor:7.1f} s  (decode original {dec[0]:.1f} s + dub {dec[1]:.1f} s"
          f" + stream copy {copy:.1f} s)")

    out, rep = tmp / "out.mkv", tmp / "report.json"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "app", "sync", str(orig), str(dub), "-o", str(out),
                        "--report", str(rep), "-q", "--mode", args.mode], cwd=ROOT)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # MB, largest child
    if r.returncode != 0:
        print(f"CLI failed with exit {r.returncode}")
        return 1
    report = json.loads(rep.read_text())
    print(f"CLI wall       {wall:7.1f} s  stages: "
          + ", ".join(f"{k} {v:.1f}" for k, v in report["timings"].items()))
    print(f"ratio          {wall / floor:7.2f}   (target <= 2, goal 1.5)")
    print(f"peak RSS       {rss:7.0f} MB (largest process: the CLI or one ffmpeg; target <= 1536)")
    print(f"map            speed {report['speed']:.7f}, {len(report['segments'])} segments, "
          f"confidence {report['confidence']:.2f}")
    score = args.corpus / "score.py"
    if score.exists():
        subprocess.run([sys.executable, str(score), str(out), str(case)])
    if not args.keep:
        out.unlink(missing_ok=True)
    else:
        print(f"output kept: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
