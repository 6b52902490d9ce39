"""Season batches, the run: each paired episode synced in turn (`run_sync`), one MKV per
episode named after its original (`OUT_DIR/<original stem>.mkv`).

An episode ends `written`, `refused` (the engine found the two files are not the same
episode: nothing written, the reasons kept) or `failed` (bad media, ffmpeg, a model...);
neither stops the others. A stop (Ctrl-C, or `cancel` set) ends the batch after the
episode under way, which writes nothing (run_sync renders to a temporary name): that
episode and the ones not started are `not run`, and `BatchResult.stopped` is True.
Unpaired and ambiguous files are carried into the result as the pairing listed them.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Literal

from app.errors import AlignmentError, Cancelled, InputError, SyncDubError
from app.services import sync_service
from app.services.media import check_writable_folder
from app.services.pairing import Ambiguity, Pair, Pairing, Unpaired, episode_label
from app.services.progress import Progress, safe_call
from app.services.types import SyncReport, SyncRequest
from app.utils.file_utils import write_text_atomic

from config import EngineSettings

logger = logging.getLogger(__name__)

Status = Literal["written", "refused", "failed", "not run"]


@dataclass(frozen=True)
class BatchOptions:
    """What every episode's SyncRequest carries besides its files (None: the settings'
    default, as for `sync`). `force`: overwrite outputs that exist."""

    mode: str | None = None
    gap_fill: str | None = None
    dub_lang: str | None = None
    title: str | None = None
    orig_audio_track: int | None = None
    dub_audio_track: int | None = None
    force: bool = False


@dataclass(frozen=True)
class EpisodeProgress:
    """Progress of episode `index` (1-based) of `total`, `label` e.g. "S01E02"."""

    index: int
    total: int
    label: str
    progress: Progress


@dataclass(frozen=True)
class EpisodeResult:
    """One pair's outcome. `confidence`: the map's (0..1), also for a refusal when the
    engine measured one; `reasons`: why the map was not trusted (refused) or warnings
    (written); `message`: the error for refused/failed; `seconds`: wall time."""

    label: str
    original: Path
    dub: Path
    how: str
    pair_reason: str
    status: Status
    output: Path | None = None
    confidence: float | None = None
    reasons: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0
    report: SyncReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "original": str(self.original), "dub": str(self.dub),
                "how": self.how, "pair_reason": self.pair_reason, "status": self.status,
                "output": str(self.output) if self.output else None,
                "confidence": self.confidence, "reasons": list(self.reasons),
                "message": self.message, "seconds": round(self.seconds, 2),
                "report": self.report.to_dict() if self.report else None}


@dataclass(frozen=True)
class BatchResult:
    out_dir: Path
    episodes: tuple[EpisodeResult, ...]
    unpaired_originals: tuple[Unpaired, ...] = ()
    unpaired_dubs: tuple[Unpaired, ...] = ()
    ambiguous: tuple[Ambiguity, ...] = ()
    stopped: bool = False

    def count(self, status: Status) -> int:
        return sum(e.status == status for e in self.episodes)

    def to_dict(self) -> dict[str, Any]:
        def unp(u: Unpaired) -> dict[str, str]:
            return {"path": str(u.path), "reason": u.reason}

        return {"out_dir": str(self.out_dir), "stopped": self.stopped,
                "summary": {s: self.count(s) for s in ("written", "refused", "failed",
                                                       "not run")},
                "episodes": [e.to_dict() for e in self.episodes],
                "unpaired_originals": [unp(u) for u in self.unpaired_originals],
                "unpaired_dubs": [unp(u) for u in self.unpaired_dubs],
                "ambiguous": [{"path": str(a.path),
                               "candidates": [str(c) for c in a.candidates],
                               "reason": a.reason} for a in self.ambiguous]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str, ensure_ascii=False)


def output_path(pair: Pair, out_dir: Path) -> Path:
    """Where the episode is written: OUT_DIR/<original stem>.mkv."""
    return Path(out_dir) / f"{pair.original.stem}.mkv"


def check_outputs(pairing: Pairing, out_dir: Path, force: bool) -> None:
    """Raise InputError, before anything runs, when an output exists (unless `force`),
    would be one of the input files, or would be written by two episodes."""
    seen: dict[Path, Pair] = {}
    inputs = {p.resolve() for x in pairing.pairs for p in (x.original, x.dub)}
    existing = []
    for pair in pairing.pairs:
        out = output_path(pair, out_dir)
        key = out.absolute()
        if key in seen:
            raise InputError(f"{seen[key].original.name} and {pair.original.name} would both "
                             f"be written as {out}; rename one of them")
        seen[key] = pair
        if out.exists() and out.resolve() in inputs:
            raise InputError(f"the output {out} would overwrite an input file; choose "
                             "another output folder")
        if out.exists() and not force:
            existing.append(out)
    if existing:
        names = ", ".join(p.name for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise InputError(f"{len(existing)} output(s) already exist in {out_dir} ({names}); "
                         "use --force to overwrite them, or choose another output folder")
    if pairing.pairs:                     # the message names a real output, not a stand-in
        check_writable_folder(output_path(pairing.pairs[0], out_dir), "output")


def run_batch(pairing: Pairing, out_dir: Path, settings: EngineSettings,
              options: BatchOptions = BatchOptions(),
              progress: Callable[[EpisodeProgress], None] | None = None,
              on_episode: Callable[[EpisodeResult], None] | None = None,
              cancel: threading.Event | None = None) -> BatchResult:
    """Sync every pair of `pairing` in order into `out_dir` (made if missing).

    Raises InputError before any episode runs when the outputs cannot be written (see
    `check_outputs`). After that it never raises for an episode: each ends written,
    refused or failed. `progress` gets each episode's engine progress; `on_episode` each
    episode's result as it ends (`progress.safe_call`: their errors are logged and never
    stop the batch; Cancelled raised by either stops it like `cancel`). Ctrl-C or
    `cancel`: stops, returns what was done (`stopped`)."""
    out_dir = Path(out_dir)
    check_outputs(pairing, out_dir, options.force)
    total = len(pairing.pairs)
    results: list[EpisodeResult] = []
    stopped = False
    for i, pair in enumerate(pairing.pairs, 1):
        label = episode_label(pair)
        base = EpisodeResult(label, pair.original, pair.dub, pair.how, pair.reason, "not run")
        if stopped or (cancel is not None and cancel.is_set()):
            stopped = True
            results.append(base)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        res = _run_one(pair, base, output_path(pair, out_dir), settings, options,
                       _episode_progress(progress, i, total, label), cancel)
        if res is None:                                     # interrupted
            stopped = True
            results.append(base)
            continue
        results.append(res)
        try:
            safe_call(on_episode, res)
        except Cancelled:                                   # the callback's way to stop
            stopped = True
    return BatchResult(out_dir, tuple(results), pairing.unpaired_originals,
                       pairing.unpaired_dubs, pairing.ambiguous, stopped)


def _run_one(pair: Pair, base: EpisodeResult, out: Path, settings: EngineSettings,
             options: BatchOptions, progress: Callable[[Progress], None],
             cancel: threading.Event | None) -> EpisodeResult | None:
    """One episode through run_sync; None when interrupted."""
    req = SyncRequest(original=pair.original, dub=pair.dub, output=out,
                      dub_lang=options.dub_lang, title=options.title,
                      gap_fill=options.gap_fill, mode=options.mode,  # type: ignore[arg-type]
                      orig_audio_track=options.orig_audio_track,
                      dub_audio_track=options.dub_audio_track)
    t0 = time.monotonic()
    try:
        res = sync_service.run_sync(req, settings, progress=progress, cancel=cancel)
    except (KeyboardInterrupt, Cancelled):
        logger.info("batch stopped during %s", pair.original.name)
        return None
    except AlignmentError as e:
        rep = e.report
        return replace(base, status="refused", message=str(e), reasons=tuple(e.reasons),
                       confidence=rep.confidence if rep else None, report=rep,
                       seconds=time.monotonic() - t0)
    except (SyncDubError, OSError) as e:
        logger.warning("episode %s failed: %s", pair.original.name, e)
        return replace(base, status="failed", message=str(e), seconds=time.monotonic() - t0)
    return replace(base, status="written", output=res.output, confidence=res.confidence,
                   reasons=tuple(res.report.reasons), report=res.report,
                   seconds=time.monotonic() - t0)


def _episode_progress(progress: Callable[[EpisodeProgress], None] | None, index: int,
                      total: int, label: str) -> Callable[[Progress], None]:
    def report(p: Progress) -> None:
        safe_call(progress, EpisodeProgress(index, total, label, p))
    return report


def write_batch_report(path: Path, result: BatchResult) -> None:
    """The batch's JSON report, written atomically (`file_utils.write_text_atomic`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, result.to_json())
