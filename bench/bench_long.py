#!/usr/bin/env python3
"""Benchmark the CLI on a long film against the I/O floor measured in the same run.

    .venv/bin/python bench/bench_long.py CASE_DIR [--runs N] [--mode auto|audio|speech]
        [--sync] [--against DIR] [--corpus ../shared/corpus] [--keep]

CASE_DIR is a pair made by ../shared/corpus/make_pair.py (e.g. long_120min).

Audio path (--mode auto, the default, or audio), each run:
  * the I/O floor: ffmpeg decoding both audio streams (to 16 kHz mono, discarded) plus
    stream-copying the original into a new MKV — the least any tool must do;
  * the CLI (`python -m app sync`): wall time, CPU seconds (user + system of the whole
    tree: the CLI and its ffmpeg children, from the rusage of wait4), peak RSS;
  * their ratios, and the score of the last run's output (score.py) when the corpus is
    there. With --runs N the floor and the CLI alternate (floor, CLI, floor, CLI...:
    the machine's noise hits both alike) and the medians are printed.
Speech path (--mode speech), each run: `python -m app analyze --mode speech` (with
--sync: `sync --mode speech`, then scored in one line): wall time, CPU seconds, peak RSS, what the
speech stage heard; and the map against the audio path's (`analyze --mode audio`, run
once first): where both place the dub, how far apart (max and median, ms).

--against DIR runs another checkout's CLI (e.g. `git archive` of main unpacked in DIR)
in turn with this one's in every run, A (this) and B (DIR) — audio path: A B after one
floor, B A after the next, so neither always runs right after the floor —, each printed
and its medians apart: before and after under the same noise.

Peak RSS is of the whole process tree: the CLI's Python and its ffmpeg children sampled
together every 0.1 s (bench/treemem.py; pages shared between processes count in each);
the largest single process (its ru_maxrss) is printed beside it.
Targets (issue 15): audio ratio <= 1.5 and CPU ratio <= 2.5 (medians of 3), 100 % within
20 ms; speech <= 6 min, peak RSS <= 1.5 GB, the map within 20 ms of the audio path's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ is on sys.path (the benches run as scripts)
from corpus_score import score_line
from treemem import TreeSampler

ROOT = Path(__file__).resolve().parent.parent


def run_tree(argv: list[str], **kw) -> dict:
    """Run `argv` to its end: wall s; CPU s (user + system) of its tree and its largest
    single process's peak RSS (MB), both from the rusage wait4 returns (a child's own,
    its waited-for descendants included); the peak of its tree's summed RSS (MB,
    treemem); its exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, **kw)
    with TreeSampler(proc.pid) as s:
        _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": s.peak / 2**20,
            "maxrss": ru.ru_maxrss / 1024, "rc": proc.returncode}


def dub_file(case: Path) -> Path:
    for ext in ("mkv", "mp4", "avi"):
        if (case / f"dub.{ext}").exists():
            return case / f"dub.{ext}"
    raise SystemExit(f"no dub.* in {case}")


def floor(orig: Path, dub: Path, tmp: Path) -> dict:
    q = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    dec = [run_tree(q + ["-i", str(p), "-map", "0:a:0", "-ac", "1", "-ar", "16000",
                         "-f", "f32le", "-"], **quiet) for p in (orig, dub)]
    copy = run_tree(q + ["-i", str(orig), "-map", "0", "-c", "copy", str(tmp / "copy.mkv")],
                    **quiet)
    (tmp / "copy.mkv").unlink(missing_ok=True)
    parts = dec + [copy]
    return {"wall": sum(p["wall"] for p in parts), "cpu": sum(p["cpu"] for p in parts),
            "dec": [d["wall"] for d in dec], "copy": copy["wall"]}


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def audio_path(args, orig: Path, dub: Path, case: Path, tmp: Path) -> int:
    rows: dict[str, list[dict]] = {}
    out, rep = tmp / "out.mkv", tmp / "report.json"
    for k in range(args.runs):
        f = floor(orig, dub, tmp)
        print(f"I/O floor      {f['wall']:7.1f} s  (decode original {f['dec'][0]:.1f} s + dub "
              f"{f['dec'][1]:.1f} s + stream copy {f['copy']:.1f} s), CPU {f['cpu']:.1f} s")
        # with --against, A B after one floor and B A after the next: neither is always
        # the one that runs right after the floor
        for label, root in roots(args)[::-1 if k % 2 else 1]:
            out.unlink(missing_ok=True)
            c = run_tree([sys.executable, "-m", "app", "sync", str(orig), str(dub), "-o",
                          str(out), "--report", str(rep), "-q", "--mode", args.mode], cwd=root)
            if c["rc"] != 0:
                print(f"CLI{label} failed with exit {c['rc']}")
                return 1
            report = json.loads(rep.read_text())
            print(f"CLI{label} wall       {c['wall']:7.1f} s  stages: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in report["timings"].items()))
            print(f"ratio          {c['wall'] / f['wall']:7.2f}   (target <= 1.5), CPU "
                  f"{c['cpu']:.1f} s = {c['cpu'] / f['cpu']:.2f} x the floor's (target <= 2.5)")
            print(f"peak RSS       {c['rss']:7.0f} MB the whole tree (largest process "
                  f"{c['maxrss']:.0f} MB; target <= 1536)")
            print(f"map            speed {report['speed']:.7f}, {len(report['segments'])} "
                  f"segments, confidence {report['confidence']:.2f}")
            rows.setdefault(label, []).append(
                {"floor": f["wall"], "wall": c["wall"], "ratio": c["wall"] / f["wall"],
                 "cpu_ratio": c["cpu"] / f["cpu"], "cpu": c["cpu"], "rss": c["rss"]})
    if args.runs > 1:
        for label, rs in rows.items():
            print(f"\nmedians of {args.runs} paired runs{label}: floor {median(rs, 'floor'):.1f} s, "
                  f"CLI {median(rs, 'wall'):.1f} s, ratio {median(rs, 'ratio'):.2f} "
                  f"({min(r['ratio'] for r in rs):.2f}-{max(r['ratio'] for r in rs):.2f}), "
                  f"CPU {median(rs, 'cpu'):.1f} s, CPU ratio {median(rs, 'cpu_ratio'):.2f}, "
                  f"peak RSS {median(rs, 'rss'):.0f} MB")
    score(args, out, case)
    return 0


def roots(args) -> list[tuple[str, Path]]:
    """(label, checkout) of the CLIs to run, in turn in every run: this one, and the one
    given with --against (e.g. `git archive` of main), labelled A and B."""
    if args.against is None:
        return [("", ROOT)]
    return [(" A", ROOT), (" B", args.against.resolve())]


def map_agreement(a: dict, b: dict, dub_duration: float, step: float = 0.5) -> dict:
    """Where two maps (report["map"]) both place the dub, how far apart they put it."""
    def to_orig(m: dict, t: float) -> float | None:
        for s in m["segments"]:
            if s["dub_start"] <= t < s["dub_end"]:
                return s["orig_start"] + (t - s["dub_start"]) * s.get("speed", m["speed"])
        return None
    diffs, only = [], 0
    for t in [i * step for i in range(int(dub_duration / step))]:
        x, y = to_orig(a, t), to_orig(b, t)
        if x is not None and y is not None:
            diffs.append(abs(x - y) * 1000)
        elif (x is None) != (y is None):
            only += 1
    if not diffs:
        return {"both_s": 0.0, "one_s": only * step, "max_ms": float("inf"),
                "median_ms": float("inf"), "within_20ms": 0.0}
    return {"both_s": len(diffs) * step, "one_s": only * step, "max_ms": max(diffs),
            "median_ms": statistics.median(diffs),
            "within_20ms": sum(d <= 20 for d in diffs) / len(diffs)}


def speech_path(args, orig: Path, dub: Path, case: Path, tmp: Path) -> int:
    ref_rep = tmp / "audio.json"
    r = run_tree([sys.executable, "-m", "app", "analyze", str(orig), str(dub), "--report",
                  str(ref_rep), "-q", "--mode", "audio"], cwd=ROOT, stdout=subprocess.DEVNULL)
    ref = json.loads(ref_rep.read_text()) if r["rc"] == 0 else None
    print(f"audio path     {r['wall']:7.1f} s  (the reference map: "
          + (f"speed {ref['speed']:.7f}, {len(ref['segments'])} segments)" if ref else
             f"failed, exit {r['rc']})"))
    rows: dict[str, list[dict]] = {}
    out, rep = tmp / "out.mkv", tmp / "speech.json"
    for k in range(args.runs):
        for label, root in roots(args):
            rows.setdefault(label, []).append(
                speech_run(args, orig, dub, case, root, label, ref, out, rep))
    for label, rs in rows.items():
        if args.runs > 1:
            print(f"\nmedians of {args.runs} runs{label}: wall {median(rs, 'wall'):.1f} s, "
                  f"CPU {median(rs, 'cpu'):.1f} s, peak RSS {median(rs, 'rss'):.0f} MB")
    return 0 if all(r["rc"] == 0 for rs in rows.values() for r in rs) else 1


def speech_run(args, orig: Path, dub: Path, case: Path, root: Path, label: str,
               ref: dict | None, out: Path, rep: Path) -> dict:
    """One `analyze`/`sync --mode speech` of the checkout at `root`, printed (with
    --sync, its output scored: score.py in one line)."""
    out.unlink(missing_ok=True)
    rep.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "app", "sync" if args.sync else "analyze", str(orig),
            str(dub), "--report", str(rep), "-q", "--mode", "speech"]
    c = run_tree(argv + (["-o", str(out)] if args.sync else []), cwd=root,
                 stdout=subprocess.DEVNULL)
    report = json.loads(rep.read_text()) if rep.exists() else None
    verdict = "accepted" if c["rc"] == 0 else f"exit {c['rc']}"
    print(f"speech CLI{label} {c['wall']:7.1f} s = {c['wall'] / 60:.1f} min ({verdict}; target "
          f"<= 6 min), CPU {c['cpu']:.1f} s, peak RSS {c['rss']:.0f} MB the whole tree "
          f"(largest process {c['maxrss']:.0f} MB; target <= 1536)")
    row = {"wall": c["wall"], "cpu": c["cpu"], "rss": c["rss"], "rc": c["rc"]}
    if not report:
        return row
    print("  stages       " + ", ".join(f"{k} {v:.1f}" for k, v in report["timings"].items()))
    print("  speech       " + ", ".join(f"{k} {v}" for k, v in (report.get("speech") or {}
                                                                 ).items()))
    ev = report.get("evidence") or {}
    if report.get("map"):
        print(f"  map          speed {report['speed']:.7f}, {len(report['segments'])} "
              f"segments, confidence {report['confidence']:.2f}, "
              f"{len(report.get('phrase_pairs') or [])} phrase pairs, "
              f"{ev.get('lines_on_map')} of {ev.get('dub_lines')} dub lines on it")
    if ref and report.get("map"):
        ag = map_agreement(ref["map"], report["map"], ref["map"]["dub_duration"])
        row.update(ag)
        print(f"  vs audio map both place {ag['both_s']:.0f} s of the dub, one only "
              f"{ag['one_s']:.0f} s; apart by max {ag['max_ms']:.1f} ms, median "
              f"{ag['median_ms']:.1f} ms, {100 * ag['within_20ms']:.1f} % within 20 ms")
    if args.sync and out.exists():
        print(f"  score        {score_line(args.corpus, out, case)}")
        if args.keep:
            kept = out.with_name(f"out{label.strip()}.mkv")
            out.replace(kept)
            print(f"  output kept: {kept}")
    return row


def score(args, out: Path, case: Path) -> None:
    script = args.corpus / "score.py"
    if script.exists() and out.exists():
        subprocess.run([sys.executable, str(script), str(out), str(case)])
    if out.exists() and not args.keep:
        out.unlink()
    elif out.exists():
        print(f"output kept: {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", type=Path)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--keep", action="store_true", help="keep the output MKV")
    ap.add_argument("--mode", default="auto", choices=["auto", "audio", "speech"])
    ap.add_argument("--runs", type=int, default=1, help="paired runs (medians printed)")
    ap.add_argument("--sync", action="store_true",
                    help="speech mode: sync (and score) instead of analyze")
    ap.add_argument("--against", type=Path, metavar="DIR",
                    help="another checkout (e.g. git archive of main) whose CLI runs in "
                         "turn with this one's in every run (A: this, B: DIR)")
    args = ap.parse_args()
    case = args.case.resolve()
    orig, dub = case / "original.mkv", dub_file(case)
    tmp = Path(tempfile.mkdtemp(prefix="syncdub-bench-"))
    if args.mode == "speech":
        return speech_path(args, orig, dub, case, tmp)
    return audio_path(args, orig, dub, case, tmp)


if __name__ == "__main__":
    sys.exit(main())
