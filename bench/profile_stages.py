#!/usr/bin/env python3
"""Where a run's time and memory go, stage by stage: wall s, CPU s and peak RSS of the
whole process tree (this Python process and its ffmpeg children) per stage.

    .venv/bin/python bench/profile_stages.py CASE_DIR [--mode speech] [--sync OUT.mkv]
        [--json OUT.json]

Runs `sync_service.analyze` in this process (what `python -m app analyze` runs; with
--sync, `run_sync` writing OUT.mkv: what `python -m app sync` runs) with the
engine's stage functions and the speech path's steps wrapped by timers, while a thread
samples the tree every 0.1 s. Per stage:
  * wall: seconds inside the stage (summed over its calls);
  * CPU: user + system seconds of the tree while inside it: this process (all threads),
    the ffmpeg children already waited for (os.times) and the live ones (psutil);
  * peak RSS: the largest sum of the tree's RSS sampled while inside it (pages shared
    between processes counted in each: an upper bound).
Nested steps (transcribe, decode, envelope, embed...) are indented under their stage.
Wrapped where they exist, so the same script profiles the code before and after a change.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from treemem import TreeSampler, descendants  # noqa: E402  (bench/: run as a script)


class StageSampler:
    """Nested, named spans over this process's tree: wall time, tree CPU and the peak of
    the tree's RSS sampled (treemem) while inside each."""

    def __init__(self, period: float = 0.1):
        self.open: list[dict] = []
        self.done: list[dict] = []
        self._lock = threading.Lock()
        self.rss = TreeSampler(period=period, on_sample=self._seen)

    def _seen(self, rss: int) -> None:
        with self._lock:
            for s in self.open:
                s["rss"] = max(s["rss"], rss)

    @property
    def peak(self) -> int:
        return self.rss.peak

    @staticmethod
    def tree_cpu() -> float:
        """User + system s of this process, its children waited for, the live ones."""
        t = os.times()
        total = t.user + t.system + t.children_user + t.children_system
        for c in descendants(os.getpid()):
            try:
                ct = c.cpu_times()
                total += ct.user + ct.system
            except psutil.Error:
                pass
        return total

    def enter(self, name: str) -> dict:
        span = {"name": name, "depth": 0, "t0": time.perf_counter(), "cpu0": self.tree_cpu(),
                "rss": 0}
        with self._lock:
            span["depth"] = len(self.open)
            self.open.append(span)
        self.rss.sample()
        return span

    def leave(self, span: dict) -> None:
        self.rss.sample()
        span["wall"] = time.perf_counter() - span["t0"]
        span["cpu"] = self.tree_cpu() - span["cpu0"]
        with self._lock:
            self.open.remove(span)
            self.done.append(span)


def wrap(sampler: StageSampler, owner, attr: str, name: str | None = None) -> bool:
    """Replace owner.attr by a timed wrapper; False when it does not exist."""
    fn = getattr(owner, attr, None)
    if fn is None:
        return False

    @functools.wraps(fn)
    def timed(*a, **kw):
        span = sampler.enter(name or attr)
        try:
            return fn(*a, **kw)
        finally:
            sampler.leave(span)
    setattr(owner, attr, timed)
    return True


def instrument(sampler: StageSampler) -> None:
    from app.services import embed, media, speech, sync_service, transcribe
    for stage in ("_probe", "_extract", "_audio_anchors", "_speech_anchors", "_fit",
                  "_picture", "_edges", "_languages", "_report"):
        wrap(sampler, sync_service, stage, stage.lstrip("_"))
    wrap(sampler, sync_service, "_speech_probe", "speech probe")
    wrap(sampler, sync_service, "_render_mux", "render_mux")
    # the audio path's steps
    from app.services import envelope
    wrap(sampler, envelope, "track_envelope", "envelope of a track")
    # the speech path's steps, under whatever names the code has
    wrap(sampler, media, "read_audio", "decode whole track")
    wrap(sampler, transcribe._WhisperBackend, "transcribe", "whisper")
    wrap(sampler, speech, "speech_envelope", "speech envelope")
    wrap(sampler, speech, "refine_phrases", "onsets")
    wrap(sampler, speech, "match_transcripts", "match")
    wrap(sampler, embed.USEEmbedder, "embed", "embed")
    try:                                 # the code after issue 15
        from app.services import speech_track, speech_windows
    except ImportError:
        return
    wrap(sampler, speech_track, "_hear_span", "hear a span")
    wrap(sampler, speech_track, "refine_phrases", "onsets")
    wrap(sampler, speech_windows.SparseListening, "windows", "windows")
    wrap(sampler, speech_windows.SparseListening, "edits", "edits")
    wrap(sampler, speech_windows, "match_stretches", "match")


def table(spans: list[dict]) -> list[dict]:
    """Aggregate spans by (depth, name) in order of first appearance."""
    rows: dict[tuple, dict] = {}
    for s in sorted(spans, key=lambda s: s["t0"]):
        key = (s["depth"], s["name"])
        r = rows.setdefault(key, {"stage": s["name"], "depth": s["depth"], "calls": 0,
                                  "wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0})
        r["calls"] += 1
        r["wall_s"] += s["wall"]
        r["cpu_s"] += s["cpu"]
        r["peak_rss_mb"] = max(r["peak_rss_mb"], s["rss"] / 2**20)
    return list(rows.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", type=Path)
    ap.add_argument("--mode", default="speech")
    ap.add_argument("--sync", type=Path, metavar="OUT.mkv",
                    help="run the whole sync (render and mux) into OUT.mkv")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    case = args.case.resolve()
    dub = next(case / f"dub.{e}" for e in ("mkv", "mp4", "avi") if (case / f"dub.{e}").exists())

    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from app.errors import AlignmentError
    from app.services.sync_service import analyze, run_sync
    from app.services.types import SyncRequest
    from config import load_settings

    sampler = StageSampler()
    instrument(sampler)
    sampler.rss.__enter__()
    t0, cpu0 = time.perf_counter(), sampler.tree_cpu()
    whole = sampler.enter("whole run")
    try:
        req = SyncRequest(case / "original.mkv", dub, mode=args.mode,
                          output=args.sync.resolve() if args.sync else None)
        rep = (run_sync if args.sync else analyze)(req, load_settings().engine).report
    except AlignmentError as e:              # refused: its report says why
        print(f"REFUSED: {e}")
        rep = e.report
    finally:
        sampler.leave(whole)
        sampler.rss.__exit__()
    wall, cpu = time.perf_counter() - t0, sampler.tree_cpu() - cpu0
    rows = table(sampler.done)
    print(f"\n{'stage':32s} {'calls':>5s} {'wall s':>8s} {'CPU s':>8s} {'peak RSS MB':>12s}")
    for r in rows:
        print(f"{'  ' * r['depth'] + r['stage']:32s} {r['calls']:5d} {r['wall_s']:8.1f} "
              f"{r['cpu_s']:8.1f} {r['peak_rss_mb']:12.0f}")
    print(f"whole: {wall:.1f} s wall, {cpu:.1f} s CPU, peak tree RSS "
          f"{sampler.peak / 2**20:.0f} MB; map speed {rep.speed or 0:.7f}, "
          f"{len(rep.segments or [])} segments, confidence {rep.confidence:.2f}, "
          f"phrase pairs {len(rep.phrase_pairs or [])}")
    ev = rep.evidence or {}
    if ev:
        print(f"evidence: {ev.get('lines_on_map')} of {ev.get('dub_lines')} dub lines on the "
              f"map ({ev.get('line_share')}), accounts for the dub: {ev.get('accounts_for_dub')}")
    if rep.speech:
        print("speech:", json.dumps(rep.speech))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "wall_s": wall, "cpu_s": cpu,
                                         "peak_rss_mb": sampler.peak / 2**20,
                                         "report": json.loads(rep.to_json())}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
