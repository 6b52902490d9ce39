#!/usr/bin/env python3
"""Calibration of the accept/refuse rule: a matrix of related and unrelated pairs.

From ../shared/corpus (make_pair.py), it builds:
  * true pairs: every scenario with its own seed and SEEDS extra seeds (the same film);
  * cross pairs: every scenario's original against every other scenario's dub (unrelated
    films, cross-language and same-language);
  * "wrong episode" pairs: episodes of one series that share an opening theme and end
    credits (the same music on every episode, before and after) but not their dialogue;
    their sentence bank is shared, so lines recur by chance, as catchphrases do;
then runs the engine's `analyze` (auto mode, the real models, in one process: the same
code the CLI runs, with transcripts of a track reused across its pairs) on each pair and
prints a table (pair, expected, verdict, confidence, evidence figures, map error) with the
count of false accepts, false refusals and the margins between the two populations.

Run it natively after ./start.sh setup; media go under --work (default /tmp/calib):

    .venv/bin/python bench/bench_calibration.py [--seeds 2] [--work /tmp/calib] [--json R]
    CT2_FORCE_CPU_ISA=GENERIC .venv/bin/python bench/bench_calibration.py   # other numeric path

Exit status 0 when there is no false accept and no false refusal, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORPUS = ROOT.parent / "shared" / "corpus"
PUBLIC = ["offset_3min", "pal_5min", "cut_logo_5min", "tv_commercial_8min",
          "different_me_4min"]
SEED_STEP = 101
# A series: episodes of 5 minutes, an opening theme of 40 s and end credits of 20 s that
# every episode carries (the same music), its own dialogue from one shared sentence bank.
# The theme film has one line in its first 10 s (the corpus always starts with a line, and
# a density of 0.01 a minute leaves it alone): the theme and credits are cut after it.
THEME = {"name": "series_theme", "duration_s": 75, "line_density": 0.01, "me": "same",
         "orig_lang": "en", "dub_lang": "es", "orig_audio": {"codec": "aac", "channels": 2},
         "dub_audio": {"codec": "ac3", "channels": 2}, "seed": 700}
EPISODE = {"name": "series_episode", "duration_s": 300, "me": "remixed", "offset_s": 1.0,
           "orig_lang": "en", "dub_lang": "es", "orig_audio": {"codec": "aac", "channels": 2},
           "dub_audio": {"codec": "ac3", "channels": 2}, "line_density": 10, "seed": 710}
THEME_AT, THEME_S, CREDITS = 12.0, 40.0, (55.0, 75.0)


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def make_case(scenario: Path | dict, out: Path, seed: int | None, work: Path) -> Path:
    if (out / "truth.json").exists():
        return out
    if isinstance(scenario, dict):
        path = work / f"{scenario['name']}.json"
        path.write_text(json.dumps(scenario))
        scenario = path
    cmd = [sys.executable, str(CORPUS / "make_pair.py"), str(scenario), str(out)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    log(f"[calib] making {out.name}")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def dub_of(case: Path) -> Path:
    return next(p for p in sorted(case.glob("dub.*")) if p.suffix in {".mkv", ".mp4", ".avi"})


def wrap(theme: Path, ep: Path, out: Path, side: str) -> Path:
    """The episode's file (`side`: original or dub) with the series' opening theme before
    it and its end credits after it (same picture size; audio re-encoded, stereo)."""
    if out.exists():
        return out
    src = theme / "original.mkv" if side == "original" else dub_of(theme)
    body = ep / "original.mkv" if side == "original" else dub_of(ep)
    lang = "eng" if side == "original" else "spa"
    codec = ["-c:a", "aac", "-b:a", "160k"] if side == "original" else ["-c:a", "ac3"]
    t0, t1 = THEME_AT, THEME_AT + THEME_S
    fc = (f"[0:v]trim={t0}:{t1},setpts=PTS-STARTPTS,fps=24000/1001[v0];"
          f"[0:a]atrim={t0}:{t1},asetpts=PTS-STARTPTS[a0];"
          f"[1:v]fps=24000/1001,setpts=PTS-STARTPTS[v1];"
          f"[1:a]aresample=48000,aformat=channel_layouts=stereo,asetpts=PTS-STARTPTS[a1];"
          f"[0:v]trim={CREDITS[0]}:{CREDITS[1]},setpts=PTS-STARTPTS,fps=24000/1001[v2];"
          f"[0:a]atrim={CREDITS[0]}:{CREDITS[1]},asetpts=PTS-STARTPTS[a2];"
          "[v0][a0][v1][a1][v2][a2]concat=n=3:v=1:a=1[v][a]")
    tmp = out.with_name(".part." + out.name)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-i", str(body),
                    "-filter_complex", fc, "-map", "[v]", "-map", "[a]", "-c:v", "libx264",
                    "-preset", "ultrafast", *codec, "-metadata:s:a:0", f"language={lang}",
                    str(tmp)], check=True)
    tmp.replace(out)
    return out


def truth_points(case: Path, shift: float = 0.0) -> list[tuple[float, float]]:
    """(dub_t, orig_t) every 5 s inside the true segments (shifted by a theme)."""
    t = json.loads((case / "truth.json").read_text())
    pts = []
    for s in t["segments"]:
        d = s["dub_start"] + 2.5
        while d < s["dub_end"] - 2.5:
            pts.append((d + shift, s["orig_start"] + (d - s["dub_start"]) * s["speed"] + shift))
            d += 5.0
    return pts


def map_error(report: dict, pts: list[tuple[float, float]]) -> float | None:
    """Share of the truth's points that the map places within 0.1 s (None: no truth)."""
    if not pts:
        return None
    segs = report.get("map", {}).get("segments", [])
    ok = 0
    for d, o in pts:
        for s in segs:
            if s["dub_start"] <= d < s["dub_end"]:
                ok += abs(s["orig_start"] + (d - s["dub_start"]) * s["speed"] - o) <= 0.1
                break
    return ok / len(pts)


def run_pair(orig: Path, dub: Path, settings) -> tuple[bool, dict, float]:
    from app.errors import AlignmentError
    from app.services import sync_service
    from app.services.types import SyncRequest
    t0 = time.monotonic()
    try:
        res = sync_service.analyze(SyncRequest(original=orig, dub=dub, mode="auto"), settings)
        return True, res.report.to_dict(), time.monotonic() - t0
    except AlignmentError as e:
        report = e.report.to_dict() if e.report else {"confidence": 0.0, "reasons": e.reasons}
        return False, report, time.monotonic() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/calib"), help="media folder")
    ap.add_argument("--seeds", type=int, default=2, help="extra seeds per scenario (true pairs)")
    ap.add_argument("--episodes", type=int, default=3, help="episodes of the themed series")
    ap.add_argument("--scenario", action="append", type=Path, default=None,
                    help="scenario JSON (repeatable; default: the corpus's short public ones "
                         "and bench/scenarios/*.json)")
    ap.add_argument("--threads", type=int, default=None, help="engine THREADS (default: .env)")
    ap.add_argument("--only", choices=["true", "cross", "episode"], action="append",
                    help="run only these kinds of pair")
    ap.add_argument("--pair", action="append",
                    help="run only the pairs whose name holds this text (repeatable)")
    ap.add_argument("--json", type=Path, help="write every row and the summary here")
    args = ap.parse_args(argv)

    from config import load_settings
    settings = load_settings().engine
    if args.threads is not None:
        settings = replace(settings, threads=args.threads)
    work = args.work
    (work / "cases").mkdir(parents=True, exist_ok=True)
    scen = args.scenario or ([CORPUS / "scenarios" / f"{n}.json" for n in PUBLIC]
                             + sorted((ROOT / "bench" / "scenarios").glob("*.json")))

    pairs: list[tuple[str, str, Path, Path, list]] = []     # kind, name, orig, dub, truth
    base: dict[str, Path] = {}
    for sc in scen:
        spec = json.loads(sc.read_text())
        seed0 = int(spec.get("seed", 1))
        for k in range(args.seeds + 1):
            seed = seed0 + k * SEED_STEP
            case = make_case(sc, work / "cases" / f"{sc.stem}_s{seed}", seed, work)
            if k == 0:
                base[sc.stem] = case
            pairs.append(("true", f"{sc.stem} s{seed}", case / "original.mkv", dub_of(case),
                          truth_points(case)))
    for a, ca in base.items():
        for b, cb in base.items():
            if a != b:
                pairs.append(("cross", f"{a} x {b}", ca / "original.mkv", dub_of(cb), []))
    if args.episodes >= 2:
        theme = make_case(THEME, work / "cases" / "series_theme", None, work)
        eps = [make_case(EPISODE, work / "cases" / f"series_ep{i + 1}",
                         EPISODE["seed"] + i * SEED_STEP, work) for i in range(args.episodes)]
        wo = [wrap(theme, e, work / "cases" / f"{e.name}_wrapped_orig.mkv", "original")
              for e in eps]
        wd = [wrap(theme, e, work / "cases" / f"{e.name}_wrapped_dub.mkv", "dub")
              for e in eps]
        for i in range(len(eps)):
            for j in range(len(eps)):
                kind = "true" if i == j else "episode"
                pairs.append((kind, f"series ep{i + 1} x ep{j + 1}", wo[i], wd[j],
                              truth_points(eps[i], THEME_S) if i == j else []))
    if args.only:
        pairs = [p for p in pairs if p[0] in args.only]
    if args.pair:
        pairs = [p for p in pairs if any(x in p[1] for x in args.pair)]

    rows = []
    hdr = (f"{'pair':44s} {'expect':7s} {'verdict':8s} {'conf':>5s} {'sound':>11s} "
           f"{'lines':>11s} {'segs':>4s} {'map':>5s} {'s':>5s}")
    print(hdr)
    print("-" * len(hdr))
    for kind, name, o, d, pts in pairs:
        ok, rep, dt = run_pair(o, d, settings)
        ev = rep.get("evidence") or {}
        row = {"pair": name, "kind": kind, "expected": "accept" if kind == "true" else "refuse",
               "verdict": "accept" if ok else "refuse",
               "confidence": float(rep.get("confidence", 0.0)),
               "sound_share": ev.get("sound_share"), "sound": [ev.get("sound_on_map"),
                                                               ev.get("sound_windows")],
               "line_share": ev.get("line_share"), "lines": [ev.get("lines_on_map"),
                                                             ev.get("dub_lines")],
               "segments": len(rep.get("map", {}).get("segments", [])),
               "map_ok": map_error(rep, pts) if ok else None,
               "reasons": rep.get("reasons", []), "seconds": round(dt, 1)}
        rows.append(row)
        snd = f"{row['sound'][0]}/{row['sound'][1]}" if ev else "-"
        lin = f"{row['lines'][0]}/{row['lines'][1]}" if ev else "-"
        mp = "-" if row["map_ok"] is None else f"{row['map_ok']:.0%}"
        flag = "" if row["verdict"] == row["expected"] else "  <-- WRONG"
        print(f"{name:44s} {row['expected']:7s} {row['verdict']:8s} {row['confidence']:5.2f} "
              f"{snd:>11s} {lin:>11s} {row['segments']:4d} {mp:>5s} {dt:5.1f}{flag}",
              flush=True)

    rel = [r for r in rows if r["kind"] == "true"]
    unrel = [r for r in rows if r["kind"] != "true"]
    fa = [r for r in unrel if r["verdict"] == "accept"]
    fr = [r for r in rel if r["verdict"] == "refuse"]
    bad_maps = [r for r in rel if r["map_ok"] is not None and r["map_ok"] < 0.95]

    def share(r):
        return max(r["sound_share"] or 0.0, r["line_share"] or 0.0)

    summary = {
        "pairs": len(rows), "related": len(rel), "unrelated": len(unrel),
        "wrong_episode": sum(r["kind"] == "episode" for r in rows),
        "false_accepts": len(fa), "false_refusals": len(fr), "wrong_maps": len(bad_maps),
        "max_unrelated_confidence": max((r["confidence"] for r in unrel), default=0.0),
        "min_related_confidence": min((r["confidence"] for r in rel), default=1.0),
        "max_unrelated_share": max((share(r) for r in unrel), default=0.0),
        "min_related_share": min((share(r) for r in rel), default=1.0),
        "numeric_path": {k: os.environ.get(k) for k in ("CT2_FORCE_CPU_ISA", "CT2_USE_MKL",
                                                         "OMP_NUM_THREADS")
                         if os.environ.get(k)},
        "threads": settings.threads,
    }
    summary["confidence_margin"] = round(summary["min_related_confidence"]
                                         - summary["max_unrelated_confidence"], 3)
    summary["share_margin"] = round(summary["min_related_share"]
                                    - summary["max_unrelated_share"], 3)
    print()
    print(f"pairs {summary['pairs']} (related {summary['related']}, unrelated "
          f"{summary['unrelated']}, of them wrong-episode {summary['wrong_episode']})")
    print(f"false accepts {len(fa)}, false refusals {len(fr)}, related maps off the truth "
          f"{len(bad_maps)}")
    print(f"confidence: unrelated max {summary['max_unrelated_confidence']:.2f}, related min "
          f"{summary['min_related_confidence']:.2f}, margin {summary['confidence_margin']:+.2f}")
    print(f"share of the dub explained (best of sound, lines): unrelated max "
          f"{summary['max_unrelated_share']:.2f}, related min "
          f"{summary['min_related_share']:.2f}, margin {summary['share_margin']:+.2f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    return 0 if not fa and not fr and not bad_maps else 1


if __name__ == "__main__":
    sys.exit(main())
