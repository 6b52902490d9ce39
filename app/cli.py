"""Command line: `python -m app sync|analyze|batch ...` (also `./start.sh cli ...`).

Exit codes: 0 done; 2 bad input (missing file, not media, no audio stream, silent
audio, an output or report folder that cannot be written, a `--map` document that is not
JSON or not a usable map: the message names the field...; for `batch`: a folder that
does not exist or holds no media, no episode paired, no -o without --dry-run, outputs
that exist without --force);
3 refused: the files do not seem to be the same film (nothing written; for `batch`: any
episode refused; for `sync` with several dubs: any dub refused, the MKV holding the
accepted ones is still written, "N of M dubs written");
4 other failure (ffmpeg, model; for `batch`: any episode failed so, which wins over 3;
for `sync` with several dubs: any dub's analysis failed so, the others still written);
130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from app.errors import AlignmentError, InputError, SyncDubError
from app.services.progress import Progress
from app.services.types import GAP_FILLS, MODES, SyncReport, SyncRequest, SyncResult

if TYPE_CHECKING:
    from app.services import batch
    from app.services.timemap import TimeMap
    from app.services.pairing import Pairing
    from config import Settings

EXIT_OK, EXIT_INPUT, EXIT_REFUSED, EXIT_FAILED = 0, 2, 3, 4


class ProgressBar:
    """One updating line on stderr: stage, stage %, overall %."""

    def __init__(self, stream=None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._last = ""
        self._t = 0.0
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        width = 30
        filled = int(round(p.overall * width))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {p.overall * 100:5.1f}%  "
                f"{p.stage} {p.fraction * 100:3.0f}%  {p.message}")
        if self.tty:
            self.stream.write("\r" + line[:110].ljust(110))
            self.stream.flush()
        elif line.split("%")[0] != self._last and (now - self._t > 2 or p.fraction >= 1):
            self.stream.write(line + "\n")
            self._t = now
        self._last = line.split("%")[0]

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m app",
                                 description="Put a dubbed audio track onto the original "
                                             "release, in sync.")
    sub = ap.add_subparsers(dest="command", required=True)

    def engine_opts(p):
        p.add_argument("--mode", choices=MODES,
                       help="evidence to use (default: SYNC_MODE, auto)")
        p.add_argument("--audio-track", type=int, dest="audio_track", metavar="N",
                       help="original's audio stream to match (0-based; default: default)")
        p.add_argument("--dub-audio-track", type=int, dest="dub_audio_track", metavar="N",
                       help="dub's audio stream to use (0-based; default: default)")
        p.add_argument("--min-confidence", type=float, dest="min_confidence",
                       help="refuse below this confidence (0..1; default MIN_CONFIDENCE)")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    def output_opts(p, per_dub: bool = False):
        # per_dub (sync): repeatable, one value per DUB in the same order
        each = {"action": "append"} if per_dub else {}
        p.add_argument("--dub-lang", dest="dub_lang", metavar="TAG", **each,
                       help="ISO 639-2 tag of the dub (default: its stream tag, or detected)"
                            + ("; once per DUB, in the same order" if per_dub else ""))
        p.add_argument("--title", **each,
                       help='dub track title (default: "<Language> (SyncDub)")'
                            + ("; once per DUB, in the same order" if per_dub else ""))
        p.add_argument("--gap-fill", choices=GAP_FILLS, dest="gap_fill",
                       help="what plays where the dub lacks a scene (default: silence)")
        p.add_argument("--force", action="store_true", help="overwrite an existing output")

    def common(p, several: bool = False):
        p.add_argument("original", type=Path, help="the original release (video + audio)")
        if several:
            p.add_argument("dub", type=Path, nargs="+", metavar="DUB",
                           help="the dubbed release (any container); several dubs of the "
                                "same film give one MKV with a track for each accepted one")
        else:
            p.add_argument("dub", type=Path, help="the dubbed release (any container)")
        p.add_argument("--report", type=Path, help="write the JSON report here")
        engine_opts(p)

    s = sub.add_parser(
        "sync", help="write the original + re-timed dub(s) as one MKV",
        description="Align each DUB to ORIGINAL and write one MKV: the original's streams "
                    "copied and a re-timed track for each dub, in the order given. A dub "
                    "that is refused (not the same film) is left out and the others are "
                    "written. Exit: 0 every dub written; 3 a dub refused (with several, "
                    "the accepted ones are still written); 4 another failure (wins over 3); "
                    "2 bad input (nothing run); 130 interrupted.")
    common(s, several=True)
    s.add_argument("-o", "--output", type=Path, required=True, help="output .mkv")
    output_opts(s, per_dub=True)
    s.add_argument("--dub-subs", type=Path, action="append", default=[], dest="dub_subs",
                   metavar="FILE",
                   help="a subtitle file of the dub (.srt, .ass, .ssa, .vtt; language from "
                        "its name, e.g. film.es.srt) re-timed into the MKV; repeatable; one "
                        "DUB only. Files beside each dub named like it (Film.es.srt) are "
                        "added anyway")
    s.add_argument("--map", type=Path, dest="map", metavar="MAP.json",
                   help="render this map instead of finding one (no analysis): the JSON "
                        "that analyze --json prints, whole or its \"map\" alone, edited "
                        "as needed; - reads it from stdin; one DUB only; never refused for "
                        "its confidence")
    a = sub.add_parser("analyze", help="print the time map and confidence; write nothing")
    common(a)
    a.add_argument("--json", action="store_true", help="print the whole report as JSON")
    b = sub.add_parser(
        "batch", help="sync a season: pair each episode with its dub, write one MKV each",
        description="Pair each episode in ORIGINALS with its dub in DUBS, from the file "
                    "names (then durations), and sync each pair into OUT_DIR/<original "
                    "name>.mkv, one after another. A line per episode as it ends "
                    "(written / refused / failed), then a summary. Unpaired and ambiguous "
                    "files are listed, not an error. Exit: 0 every paired episode written; "
                    "3 any refused (e.g. two dubs swapped by their names; the others are "
                    "still written); 4 any failed for another reason (wins over 3); 2 bad "
                    "input (a folder missing or without media, nothing paired, no -o, "
                    "outputs that exist without --force: nothing run); 130 interrupted.")
    b.add_argument("originals", type=Path, help="folder of the original episodes")
    b.add_argument("dubs", type=Path, help="folder of the dubbed episodes")
    b.add_argument("-o", "--output-dir", type=Path, dest="output_dir",
                   help="folder for the synced episodes (required unless --dry-run)")
    b.add_argument("--dry-run", action="store_true", dest="dry_run",
                   help="list the proposed pairing and exit; sync nothing")
    b.add_argument("--json", action="store_true",
                   help="--dry-run: print the pairing as JSON")
    b.add_argument("--report", type=Path,
                   help="write the batch's JSON report here (pairs with their results, "
                        "unpaired, ambiguous)")
    engine_opts(b)
    output_opts(b)
    return ap


MIN_PRINTED_S = 0.1        # shorter cuts/inserts are not printed (still in the report)


def _print_map(report: SyncReport, out: TextIO | None = None) -> None:
    """The map in words: speed, confidence, segments, cuts, inserts, warnings."""
    out = out or sys.stdout   # looked up now, so redirect_stdout works
    print(f"speed      {report.speed:.6f}  (original seconds per dub second)", file=out)
    print(f"confidence {report.confidence:.2f}", file=out)
    if report.map_source == "given":
        print("map        set by hand (--map): rendered as given, no analysis", file=out)
    for s in report.segments:
        print(f"segment    dub {s['dub_start']:9.3f}-{s['dub_end']:9.3f} s -> original "
              f"{s['orig_start']:9.3f}-{s['orig_end']:9.3f} s  offset {s['offset']:+.3f} s",
              file=out)
    # Slivers of a few frames at the films' very ends (the two files simply end a
    # little differently) are in the report, not worth a line here.
    for c in report.cuts:
        if c[1] - c[0] >= MIN_PRINTED_S:
            print(f"cut        original {c[0]:9.3f}-{c[1]:9.3f} s not in the dub", file=out)
    for i in report.inserts:
        if i[1] - i[0] >= MIN_PRINTED_S:
            print(f"insert     dub {i[0]:9.3f}-{i[1]:9.3f} s dropped", file=out)
    for r in report.reasons:
        print(f"warning    {r}", file=out)


def _print_pairing(pairing: Pairing, out: TextIO | None = None) -> None:
    """The pairing in words: pairs (and how), unpaired files, ambiguous files."""
    out = out or sys.stdout
    print(f"pairs ({len(pairing.pairs)})", file=out)
    for p in pairing.pairs:
        print(f"  {p.how:<8}  {p.original.name}  <-  {p.dub.name}  ({p.reason})", file=out)
    for title, items in (("unpaired originals", pairing.unpaired_originals),
                         ("unpaired dubs", pairing.unpaired_dubs)):
        print(f"{title} ({len(items)})", file=out)
        for u in items:
            print(f"  {u.path.name}: {u.reason}", file=out)
    print(f"ambiguous ({len(pairing.ambiguous)})", file=out)
    for a in pairing.ambiguous:
        cands = ", ".join(c.name for c in a.candidates) or "nothing on the other side"
        print(f"  {a.path.name} -> {cands}: {a.reason}", file=out)


def _pairing_json(pairing: Pairing) -> str:
    return json.dumps(asdict(pairing), default=str, indent=2, ensure_ascii=False)


def _load_settings(args: argparse.Namespace) -> Settings | None:
    """The settings (config.py) with --min-confidence applied; None (the error printed)
    when the configuration is wrong."""
    from config import ConfigError, load_settings
    try:
        settings = load_settings()
    except ConfigError as e:
        print(f"error: configuration: {e}", file=sys.stderr)
        return None
    if getattr(args, "min_confidence", None) is not None:
        settings = replace(settings, engine=replace(settings.engine,
                                                    min_confidence=args.min_confidence))
    return settings


def _pairing(args: argparse.Namespace, allowed: frozenset[str]) -> Pairing | None:
    """The two folders checked and paired (None: the error printed). Durations are
    probed (ffprobe) only for the files the names leave unpaired."""
    from app.services.pairing import media_files, pair_files
    files = {}
    for role, folder in (("originals", args.originals), ("dubs", args.dubs)):
        if not folder.is_dir():
            print(f"error: the {role} folder {folder} does not exist or is not a folder; "
                  "give the folder that holds the episodes", file=sys.stderr)
            return None
        files[role] = media_files(folder, allowed)
        if not files[role]:
            print(f"error: no video or audio files in the {role} folder {folder} (accepted: "
                  f"{', '.join(sorted(allowed))}); nothing to pair", file=sys.stderr)
            return None
    if args.originals.resolve() == args.dubs.resolve():
        print("error: the originals and the dubs are the same folder; give two folders",
              file=sys.stderr)
        return None
    return pair_files(files["originals"], files["dubs"])


def _batch(args: argparse.Namespace) -> int:
    """`batch`: pair the two folders; --dry-run lists the pairing, else each pair is
    synced into -o (app.services.batch)."""
    if not args.dry_run and args.output_dir is None:
        print("error: give the output folder with -o OUT_DIR (or --dry-run to only list "
              "the pairing)", file=sys.stderr)
        return EXIT_INPUT
    settings = _load_settings(args)
    if settings is None:
        return EXIT_INPUT
    pairing = _pairing(args, settings.allowed_extensions)
    if pairing is None:
        return EXIT_INPUT
    if args.json and args.dry_run:
        print(_pairing_json(pairing))
    else:
        _print_pairing(pairing)
    if not pairing.pairs:
        print("error: no episode could be paired (see the reasons above); rename the "
              "files so their names carry the episode numbers", file=sys.stderr)
        return EXIT_INPUT
    if args.dry_run:
        return EXIT_OK
    return _run_batch(args, pairing, settings)


def _run_batch(args: argparse.Namespace, pairing: Pairing, settings: Settings) -> int:
    from app.services import batch

    options = batch.BatchOptions(mode=args.mode, gap_fill=args.gap_fill,
                                 dub_lang=args.dub_lang, title=args.title,
                                 orig_audio_track=args.audio_track,
                                 dub_audio_track=args.dub_audio_track, force=args.force)
    if args.report is not None:
        try:
            from app.services.media import check_writable_folder
            check_writable_folder(args.report, "report")
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_INPUT
    bar = ProgressBar(enabled=not args.quiet)

    def progress(ep: batch.EpisodeProgress) -> None:
        bar(replace(ep.progress, message=f"{ep.label} ({ep.index}/{ep.total}) "
                                         f"{ep.progress.message}"))

    def done(ep: batch.EpisodeResult) -> None:
        bar.close()
        print(_episode_line(ep), flush=True)

    print(f"sync ({len(pairing.pairs)} episodes into {args.output_dir})", flush=True)
    try:
        result = batch.run_batch(pairing, args.output_dir, settings.engine, options,
                                 progress=progress, on_episode=done)
    except InputError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:       # between two episodes: nothing half-written
        bar.close()
        print("interrupted", file=sys.stderr)
        return 130
    bar.close()
    n = {s: result.count(s) for s in ("written", "refused", "failed", "not run")}
    print(f"summary    {n['written']} written, {n['refused']} refused, {n['failed']} "
          f"failed" + (f", {n['not run']} not run" if n["not run"] else "")
          + f" (of {len(result.episodes)} paired); "
          f"{len(pairing.unpaired_originals) + len(pairing.unpaired_dubs)} unpaired, "
          f"{len(pairing.ambiguous)} ambiguous")
    if n["refused"]:
        print("refused episodes: " + ", ".join(e.label for e in result.episodes
                                                if e.status == "refused")
              + " - the dub may be another episode; check the pairing", file=sys.stderr)
    if args.report is not None:
        try:
            batch.write_batch_report(args.report, result)
            print(f"report     {args.report}")
        except OSError as e:
            print(f"failed: cannot write the report {args.report}: {e}", file=sys.stderr)
            return EXIT_FAILED
    if result.stopped:
        print("interrupted", file=sys.stderr)
        return 130
    if n["failed"]:
        return EXIT_FAILED
    return EXIT_REFUSED if n["refused"] else EXIT_OK


def _episode_line(ep: batch.EpisodeResult) -> str:
    """`S01E02  written  conf 0.97  -> out/Show.S01E02.mkv`, or refused/failed and why."""
    conf = f"  conf {ep.confidence:.2f}" if ep.confidence is not None else ""
    if ep.status == "written":
        return f"{ep.label}  written{conf}  -> {ep.output}"
    why = ep.reasons[0] if ep.status == "refused" and ep.reasons else ep.message
    return (f"{ep.label}  {ep.status}: {why}{conf}  "
            f"({ep.original.name} <- {ep.dub.name})")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "batch":
        return _batch(args)
    loaded = _load_settings(args)
    if loaded is None:
        return EXIT_INPUT
    settings = loaded.engine
    from app.services import sync_service

    output = getattr(args, "output", None)
    if output is not None:
        if output.suffix.lower() != ".mkv":
            print(f"error: the output must be a .mkv file, not {output.name!r}", file=sys.stderr)
            return EXIT_INPUT
        if output.exists() and not args.force:
            print(f"error: {output} exists; use --force to overwrite it", file=sys.stderr)
            return EXIT_INPUT
    if args.command == "sync":
        req = _sync_request(args)
        if req is None:
            return EXIT_INPUT
    else:
        req = SyncRequest(original=args.original, dub=args.dub, output=output,
                          report_path=args.report, mode=args.mode,
                          orig_audio_track=args.audio_track,
                          dub_audio_track=args.dub_audio_track)
    bar = ProgressBar(enabled=not args.quiet)
    t0 = time.monotonic()
    try:
        if args.command == "sync":
            res = sync_service.run_sync(req, settings, progress=bar)
        else:
            res = sync_service.analyze(req, settings, progress=bar)
    except InputError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except AlignmentError as e:
        bar.close()
        print(f"refused: {e}", file=sys.stderr)
        if args.command == "analyze" and args.json and e.report:
            # The refused map and its evidence, as for an accepted one (exit 3 says which).
            print(e.report.to_json())
        return EXIT_REFUSED
    except SyncDubError as e:
        bar.close()
        print(f"failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:            # a disk that fills or goes away mid-run: no traceback
        bar.close()
        print(f"failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bar.close()
        print("interrupted", file=sys.stderr)
        return 130
    bar.close()
    if args.command == "analyze" and args.json:
        print(res.report.to_json())
    elif res.dubs:
        return _print_dubs(res, time.monotonic() - t0)
    else:
        _print_map(res.report)
        if res.output:
            print(f"wrote      {res.output}  ({time.monotonic() - t0:.1f} s)")
        _print_subtitles(res.report)
    return EXIT_OK


def _sync_request(args: argparse.Namespace) -> SyncRequest | None:
    """The `sync` request: the first DUB with the request's own fields, the others as
    `more_dubs`, each with its --dub-lang and --title (given once per DUB, in the same
    order, or not at all); None (the error printed) when the counts do not match."""
    from app.services.types import DubInput
    dubs: list[Path] = args.dub
    per_dub = {}
    for flag, values in (("--dub-lang", args.dub_lang), ("--title", args.title)):
        values = values or [None] * len(dubs)
        if len(values) != len(dubs):
            print(f"error: {flag} is given {len(values)} times for {len(dubs)} dubs; give it "
                  "once per dub, in the same order as the dubs, or not at all",
                  file=sys.stderr)
            return None
        per_dub[flag] = values
    if args.dub_subs and len(dubs) > 1:
        print("error: --dub-subs goes with one dub only; with several, put each dub's "
              "subtitle files beside it, named like it (Film.es.srt): they are found",
              file=sys.stderr)
        return None
    langs, titles = per_dub["--dub-lang"], per_dub["--title"]
    given_map = None
    if args.map is not None:
        if len(dubs) > 1:
            print("error: --map goes with one dub only (a map is one dub's); sync each "
                  "dub with its own map, or the dubs without --map", file=sys.stderr)
            return None
        given_map = _read_map(args.map)
        if given_map is None:
            return None
    return SyncRequest(
        original=args.original, dub=dubs[0], output=args.output, report_path=args.report,
        dub_lang=langs[0], gap_fill=args.gap_fill, mode=args.mode,
        orig_audio_track=args.audio_track, dub_audio_track=args.dub_audio_track,
        title=titles[0], dub_subs=tuple(args.dub_subs),
        more_dubs=tuple(DubInput(path, lang=lang, audio_track=args.dub_audio_track,
                                 title=title)
                        for path, lang, title in zip(dubs[1:], langs[1:], titles[1:])),
        given_map=given_map)


def _read_map(path: Path) -> TimeMap | None:
    """`--map`: the map document (app.services.mapdoc) read from the file, or from stdin
    for `-`; None (the error printed) when it cannot be read or used. Its times are checked
    against the files once they are probed."""
    from app.services import mapdoc
    try:
        if str(path) == "-":
            return mapdoc.parse_map_document(sys.stdin.buffer.read()
                                             if hasattr(sys.stdin, "buffer")
                                             else sys.stdin.read())
        return mapdoc.read_map_file(path)
    except InputError as e:
        print(f"error: --map {path}: {e}", file=sys.stderr)
        return None


def _print_subtitles(report: SyncReport) -> None:
    for sub in report.subtitles or ():
        what = (f"skipped: {sub.error}" if sub.error else
                f"{sub.language}, {sub.moved} cues re-timed, {sub.dropped} dropped")
        name = Path(sub.source).name + (f" stream {sub.stream}" if sub.stream is not None
                                        else "")
        print(f"subtitles  {name}  ({what})")


def _print_dubs(res: SyncResult, seconds: float) -> int:
    """A several-dub sync: each accepted dub's map, a line per dub (written / refused /
    failed and why), the file; the exit status (0 all written, 3 any refused, 4 any
    failed otherwise)."""
    for n, d in enumerate(res.dubs, 1):
        if d.accepted and d.report is not None:
            print(f"dub {n}      {Path(d.dub).name}  ({d.language})")
            _print_map(d.report)
            _print_subtitles(d.report)
    for n, d in enumerate(res.dubs, 1):
        status = "written" if d.accepted else (
            "refused" if d.error_code == AlignmentError.code else "failed")
        why = f"  conf {d.confidence:.2f}" if d.accepted else f": {d.error}"
        print(f"dub {n}      {status}  {Path(d.dub).name} ({d.language}){why}")
    written = sum(d.accepted for d in res.dubs)
    print(f"wrote      {res.output}  ({written} of {len(res.dubs)} dubs written, "
          f"{seconds:.1f} s)")
    if written == len(res.dubs):
        return EXIT_OK
    print(f"warning: {written} of {len(res.dubs)} dubs written; left out: "
          + "; ".join(res.warnings), file=sys.stderr)
    failed = any(not d.accepted and d.error_code != AlignmentError.code for d in res.dubs)
    return EXIT_FAILED if failed else EXIT_REFUSED
