#!/usr/bin/env python3
"""Re-rendering a corrected map against a full sync, measured in the same run.

    .venv/bin/python bench/bench_rerender.py CASE_DIR [--runs 2] [--shift 0.100]
                                             [--corpus ../shared/corpus] [--mode auto]

CASE_DIR is a pair made by ../shared/corpus/make_pair.py (e.g. long_120min). Runs, A B A B
(`--runs` pairs):
  A  the full sync: `python -m app sync ORIG DUB -o A.mkv --report A.json` (analysis,
     render, mux);
  B  the re-render of a corrected map: A's report with every segment's offset moved by
     `--shift` seconds, given to `python -m app sync ORIG DUB --map B-map.json -o B.mkv`
     (render and mux only: what Apply on the task page and PUT /api/tasks/<id>/map run).
Prints each run's wall time and peak RSS (children included), the medians and their
ratio, and (when the corpus is there) score.py's median signed error of both outputs:
A about 0 ms, B about the shift (the corrected map was applied exactly).
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

from corpus_score import score_line

ROOT = Path(__file__).resolve().parent.parent


def run(argv: list[str]) -> tuple[float, float]:
    """(wall s, peak RSS MiB of the children so far) of one command."""
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def dub_file(case: Path) -> Path:
    for ext in ("mkv", "mp4", "avi"):
        if (case / f"dub.{ext}").exists():
            return case / f"dub.{ext}"
    raise SystemExit(f"no dub.* in {case}")


def shifted_map(report: Path, shift: float, out: Path) -> None:
    """The report's map with every segment `shift` s later on the original."""
    doc = json.loads(report.read_text())
    m = doc["map"]
    for seg in m["segments"]:
        seg["orig_start"] += shift
        seg.pop("orig_end", None)
        seg.pop("offset", None)
    out.write_text(json.dumps({"version": doc["version"], "map": m}, indent=1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", type=Path)
    ap.add_argument("--runs", type=int, default=2, help="A B pairs (default 2)")
    ap.add_argument("--shift", type=float, default=0.100, help="s added to every offset")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--mode", default="auto")
    args = ap.parse_args()
    case = args.case.resolve()
    orig, dub = case / "original.mkv", dub_file(case)
    tmp = Path(tempfile.mkdtemp(prefix="syncdub-rerender-"))
    app = [sys.executable, "-m", "app", "sync", "-q", "--force", str(orig), str(dub)]
    full, again = [], []
    for i in range(args.runs):
        a_out, a_rep = tmp / f"A{i}.mkv", tmp / f"A{i}.json"
        wall, rss = run(app + ["--mode", args.mode, "-o", str(a_out),
                               "--report", str(a_rep)])
        full.append(wall)
        print(f"A{i} full sync   {wall:7.1f} s  (peak RSS so far {rss:.0f} MiB)", flush=True)
        b_map, b_out = tmp / f"B{i}-map.json", tmp / f"B{i}.mkv"
        shifted_map(a_rep, args.shift, b_map)
        wall, rss = run(app + ["--map", str(b_map), "-o", str(b_out)])
        again.append(wall)
        print(f"B{i} re-render   {wall:7.1f} s  (peak RSS so far {rss:.0f} MiB)", flush=True)
    a, b = statistics.median(full), statistics.median(again)
    print(f"median full sync {a:.1f} s, re-render {b:.1f} s: the re-render takes "
          f"{b / a:.2f} of a full sync ({a / b:.1f}x quicker)")
    last = args.runs - 1
    print(f"A score: {score_line(args.corpus, tmp / f'A{last}.mkv', case)}")
    print(f"B score: {score_line(args.corpus, tmp / f'B{last}.mkv', case)} "
          f"(expected about {args.shift * 1000:+.0f} ms)")
    for p in tmp.glob("*.mkv"):
        p.unlink()
    print(f"maps and reports in {tmp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
