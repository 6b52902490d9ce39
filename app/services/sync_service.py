"""Orchestrates the pipeline: probe -> extract -> audio anchors -> speech anchors -> fit ->
picture -> edges -> judge -> language -> render/mux -> report.

The only entry points the web app and the CLI use: `run_sync` (writes the MKV) and
`analyze` (the map only). No Flask here. Each stage is a function taking and returning
dataclasses; `plan_speech` (where speech is needed) is pure.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from app.errors import AlignmentError, InputError, MediaError, ModelError
from app.services import evidence, features, mapdoc, media, subtitle_bitmaps, subtitles
from app.services.align import Alignment, align_envelopes
from app.services.edges import refine_edges
from app.services.envelope import TrackEnvelope, plan_splits, track_envelope
from app.services.picture import refine_picture
from app.services.progress import Progress, Reporter
from app.services.speech import UNKNOWN_TAG, iso639_2, language_name
from app.services.speech_track import FileAudio, Listener
from app.services.speech_windows import hear_and_match
from app.services.timemap import TimeMap
from app.services.types import (GAP_FILLS, MODES, Anchor, GapFill, Languages,
                                Mode, RenderInfo, ReportStreams, SpeechResult, SubtitleInfo,
                                SyncReport, SyncRequest, SyncResult)
from app.utils.file_utils import write_text_atomic
from config import EngineSettings

if TYPE_CHECKING:
    from app.services.mux import AddedSubtitle

logger = logging.getLogger(__name__)

MAX_REPORT_ANCHORS = 400          # thinned for the report and the picture
PROBE_DUB_S = 300.0               # speech probe: this much of the dub's middle ...
PROBE_ORIG_S = 900.0              # ... against this much of the original around it
PROBE_MIN_SIM = 0.5               # a pair this similar is a translation, not chance
PROBE_MIN_PAIRS = 3
LANGUAGE_PROBE_S = 60.0           # dub seconds Whisper hears to name an untagged dub
EDGE_REACH_S = 3.0                # waveform edge search around an audio-placed edge ...
SPEECH_EDGE_REACH_S = 12.0        # ... and around a speech-placed one
# An audio map whose decode holds less than this share of the dub's windows in its runs
# is not trusted alone: the dialogue is heard everywhere (a well-matched film holds 0.8+).
MIN_AUDIO_COVERAGE = 0.6


class _Timer:
    """Wall time per stage (s), accumulated: `with timer.stage("render"): ...`."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = round(self.times.get(name, 0.0) + time.perf_counter() - t0, 3)


@dataclass(frozen=True)
class RunOptions:
    """The request's choices, settled against the settings."""

    mode: Mode
    gap_fill: GapFill
    write: bool                   # False: analyze only
    dub_subs: tuple[subtitles.Sidecar, ...] = ()   # the request's subtitle files, read


@dataclass(frozen=True)
class Sources:
    """The probe stage: both files and the audio stream matched in each."""

    orig: media.MediaInfo
    dub: media.MediaInfo
    orig_stream: media.StreamInfo
    dub_stream: media.StreamInfo


@dataclass(frozen=True)
class Extracted:
    """The extract stage: 100 Hz onset envelopes (features.py) and per-band envelopes of
    both tracks; durations in seconds; the frame rates' speed hint. (The speech stage
    reads the tracks again, by stretches: speech_track.)"""

    orig_env: np.ndarray
    dub_env: np.ndarray
    orig_bands: np.ndarray
    dub_bands: np.ndarray
    orig_dur: float
    dub_dur: float
    speed_hint: float | None


@dataclass(frozen=True)
class Judgement:
    """A map judged by how much of the dub it explains (evidence.py): the evidence, the
    map with its confidence and reasons revised, whether the evidence accounts for the
    dub (False: refuse, whatever the confidence)."""

    evidence: evidence.Evidence
    tmap: TimeMap
    accounted: bool


@dataclass(frozen=True)
class Fit:
    """A candidate map: the alignment that found it and its judgement."""

    alignment: Alignment
    judgement: Judgement


@dataclass(frozen=True)
class SpeechPlan:
    """Where the dialogue is needed after the audio stage.

    `transcribe`: at all. `probe`: a sample of the dialogue is compared first (a long dub
    whose audio matched nowhere; unrelated films are refused before two full
    transcriptions). `orig_regions`/`dub_regions`: (start, end) seconds of each track to
    transcribe, None for the whole tracks. `fits`: per candidate map fitted with the
    speech anchors, whether the audio windows count too (False: speech alone).
    """

    transcribe: bool = False
    probe: bool = False
    orig_regions: tuple[tuple[float, float], ...] | None = None
    dub_regions: tuple[tuple[float, float], ...] | None = None
    fits: tuple[bool, ...] = ()


def _speed_hint(orig: media.MediaInfo, dub: media.MediaInfo) -> float | None:
    """Frame rates suggest a speed (25 fps dub of a 23.976 film: PAL; equal rates: 1);
    only a hint."""
    ov, dv = orig.video, dub.video
    if ov and dv and ov.fps > 0 and dv.fps > 0:
        r = dv.fps / ov.fps
        return 1.0 if abs(r - 1) < 1e-4 else r
    return None


def speech_regions(alignment: Alignment, orig_dur: float, dub_dur: float
                   ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]] | None:
    """(original regions, dub regions) to transcribe for an audio map with holes, or None
    when no hole matters. A hole matters when the map has an edit inside it (its place is
    a guess) or when it reaches either end of the dub (a lead-in or tail the bed does not
    share). Each dub hole is paired with the stretch of the original its neighbours map
    it to, with a margin for an edit hidden inside."""
    tmap = alignment.tmap
    segs = [sg for sg in tmap.segments if sg.dub_end > sg.dub_start]
    edges = [sg.dub_end for sg in segs[:-1]] + [sg.dub_start for sg in segs[1:]]
    o_reg: list[tuple[float, float]] = []
    d_reg: list[tuple[float, float]] = []
    for h0, h1 in alignment.holes:
        at_end = h0 <= 1.0 or h1 >= dub_dur - 1.0
        if not at_end and not any(h0 <= e <= h1 for e in edges):
            continue
        before = [sg for sg in segs if sg.dub_start <= h0]
        after = [sg for sg in segs if sg.dub_end >= h1]
        o0 = before[-1].to_original(h0) if before else 0.0
        o1 = after[0].to_original(h1) if after else orig_dur
        margin = 30.0 + 0.1 * (h1 - h0)
        o_reg.append((max(0.0, min(o0, o1) - margin), min(orig_dur, max(o0, o1) + margin)))
        d_reg.append((max(0.0, h0 - 5.0), min(dub_dur, h1 + 5.0)))
    return (o_reg, d_reg) if d_reg else None


def audio_is_weak(audio: Fit | None, min_confidence: float) -> bool:
    """True when the audio map alone cannot be trusted: there is none, its evidence does
    not account for the dub, its confidence is below `min_confidence`, or its decode
    holds too little of the dub's windows."""
    return audio is None or not audio.judgement.accounted \
        or audio.judgement.tmap.confidence < min_confidence \
        or audio.alignment.diagnostics.coverage < MIN_AUDIO_COVERAGE


def plan_speech(mode: Mode, audio: Fit | None, settings: EngineSettings,
                orig_dur: float, dub_dur: float) -> SpeechPlan:
    """Where speech is needed, from the audio stage's map (`audio`, None when the audio
    was not matched) and the mode. Pure.

    Speech mode: the whole tracks, one speech-only fit. Audio mode: nowhere. Auto: the
    whole tracks when the audio is weak (`audio_is_weak`; a dub of
    `settings.speech_probe_after_s` or longer is probed first), fitted by speech alone
    and by speech + audio; else only the stretches the audio left undetermined (holes
    at an edit or at either end: `speech_regions`), so a film with a shared bed pays for
    no transcription at all."""
    if mode == "audio":
        return SpeechPlan()
    if mode == "speech":
        return SpeechPlan(transcribe=True, fits=(False,))
    if audio_is_weak(audio, settings.min_confidence):
        return SpeechPlan(transcribe=True, probe=dub_dur >= settings.speech_probe_after_s,
                          fits=(False, True))
    assert audio is not None
    regions = speech_regions(audio.alignment, orig_dur, dub_dur)
    if regions is None:
        return SpeechPlan()
    return SpeechPlan(transcribe=True, orig_regions=tuple(regions[0]),
                      dub_regions=tuple(regions[1]), fits=(True,))


def _judge(alignment: Alignment, speech_res: SpeechResult | None,
           tmap: TimeMap | None = None) -> Judgement:
    """The alignment's map (or `tmap`, the same map with refined edges) judged by how much
    of the dub it explains (evidence.py)."""
    tmap = tmap if tmap is not None else alignment.tmap
    ev = evidence.gather(tmap, windows_active=alignment.windows_active,
                         windows_matched=alignment.windows_matched,
                         dub_lines=speech_res.dub_lines if speech_res else (),
                         pairs=tuple(speech_res.pairs) if speech_res else (),
                         anchors=tuple(alignment.anchors))
    judged, ok = evidence.judge(tmap, ev, speech_heard=speech_res is not None)
    return Judgement(ev, judged, ok)


def analyze(req: SyncRequest, settings: EngineSettings,
            progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> SyncResult:
    """Find the time map without writing media (report only). One dub only: a request
    with `more_dubs` is an InputError (analyze each dub on its own)."""
    if req.more_dubs:
        raise InputError("analyze takes one dub at a time; analyze each dub on its own "
                         "(sync takes several)")
    if req.given_map is not None:
        raise InputError("analyze finds a map; a map given by hand is rendered by sync "
                         "(sync ORIGINAL DUB --map MAP.json -o OUT.mkv)")
    return _run(req, settings, progress, cancel, write=False)


def run_sync(req: SyncRequest, settings: EngineSettings,
             progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None) -> SyncResult:
    """Align the dub to the original and write the MKV to `req.output`.

    Raises InputError (bad files), AlignmentError (refused: not the same film, with the
    reasons; nothing is written), MediaError, ModelError, Cancelled.

    With `req.more_dubs`, every dub gets its own map and is accepted or refused on its
    own (`sync_many.run_many`): the MKV holds the accepted ones, `SyncResult.dubs` says what became
    of each and `warnings` names the ones left out; AlignmentError only when none is
    accepted.

    With `req.given_map` (one dub only), that map is rendered as it is: `_run_given_map`.
    """
    if req.output is None:
        raise InputError("no output path given")
    if req.given_map is not None:
        if req.more_dubs:
            raise InputError("a map given by hand is for one dub; give one DUB with --map "
                             "(each dub has its own map)")
        return _run_given_map(req, settings, progress, cancel)
    if req.more_dubs:
        from app.services.sync_many import run_many   # it builds on this module's stages
        return run_many(req, settings, progress, cancel)
    return _run(req, settings, progress, cancel, write=True)


def _run(req: SyncRequest, settings: EngineSettings,
         progress: Callable[[Progress], None] | None, cancel: threading.Event | None,
         write: bool) -> SyncResult:
    """The stages in order (README, "How the engine works"); `write`: render and mux."""
    opts = _options(req, settings, write)
    rep = Reporter(progress, cancel, skip=() if write else ("render", "mux"))
    timer = _Timer()
    src = _probe(req, write, rep, timer)
    found = _find_map(req, src, opts, settings, rep, timer)
    _refuse_unless_accepted(found.final, found.report, found.speech_heard, settings,
                            req.report_path)
    report = found.report
    if write:
        render, subs = _render_mux(req, src, found.final.tmap, opts, found.langs, settings,
                                   rep, timer)
        report = replace(report, output=str(Path(req.output)), render=render, subtitles=subs)
    rep.update("report", 1.0, "done")
    report = replace(report, timings=timer.times)
    write_report(req.report_path, report)
    return SyncResult(output=Path(req.output) if write else None,
                      confidence=found.final.tmap.confidence, speed=found.final.tmap.speed,
                      report=report)


def _run_given_map(req: SyncRequest, settings: EngineSettings,
                   progress: Callable[[Progress], None] | None,
                   cancel: threading.Event | None) -> SyncResult:
    """A map given by hand (`req.given_map`, app.services.mapdoc) rendered as it is:
    probe -> the map checked against the files' durations -> languages (the user's or
    the streams' tags; no Whisper) -> render/mux -> report. No analysis, and never
    refused for its confidence: the report says `map_source` "given" and the dub track's
    title that the map was set by hand."""
    opts = _options(req, settings, write=True)
    rep = Reporter(progress, cancel, skip=ANALYSIS_STAGES[1:])
    timer = _Timer()
    src = _probe(req, True, rep, timer)
    assert req.given_map is not None and req.output is not None
    out = Path(req.output)
    tmap = mapdoc.fit_to_files(req.given_map, src.orig.duration, src.dub.duration)
    langs = Languages(original=src.orig_stream.language or UNKNOWN_TAG,
                      dub=_language_tag(req, src.dub_stream, None))
    map_dict = tmap.to_dict()
    render, subs = _render_mux(req, src, tmap, opts, langs, settings, rep, timer)
    rep.update("report", 1.0, "done")
    report = SyncReport(
        original=str(src.orig.path), dub=str(src.dub.path), gap_fill=opts.gap_fill,
        speed=tmap.speed, speed_hint=_speed_hint(src.orig, src.dub),
        confidence=tmap.confidence, map=map_dict, segments=map_dict["segments"],
        cuts=map_dict["cuts"], inserts=map_dict["inserts"], languages=langs,
        streams=_report_streams(src),
        output=str(out), timings=timer.times, render=render, subtitles=subs,
        map_source="given")
    write_report(req.report_path, report)
    return SyncResult(output=out, confidence=tmap.confidence, speed=tmap.speed,
                      report=report)


@dataclass(frozen=True)
class Found:
    """One dub's map found and judged, nothing written yet: the final judgement (accepted
    or not: `_refuse_unless_accepted` decides), both tracks' tags, the report, whether the
    dialogue was heard, and for a further dub of the same original its envelopes and
    what of its dialogue was heard (None: nothing)."""

    final: Judgement
    langs: Languages
    report: SyncReport
    speech_heard: bool
    orig: TrackEnvelope
    orig_speech: Listener | None = None


def _find_map(req: SyncRequest, src: Sources, opts: RunOptions, settings: EngineSettings,
              rep: Reporter, timer: _Timer, orig: TrackEnvelope | None = None,
              orig_speech: Listener | None = None) -> Found:
    """extract -> audio anchors -> speech anchors -> fit -> picture -> edges -> judge ->
    language -> report, for one dub. `orig`: the original's envelopes already extracted
    (a further dub of a several-dub job: only the dub is decoded); `orig_speech`: what of
    the original's dialogue an earlier dub heard (not heard again)."""
    ext = _extract(src, rep, timer, orig)
    shared = TrackEnvelope(ext.orig_env, ext.orig_bands)
    audio = _audio_anchors(ext, opts.mode, rep, timer)
    plan = plan_speech(opts.mode, audio, settings, ext.orig_dur, ext.dub_dur)
    listeners = _listeners(src, settings, orig_speech) if plan.transcribe else None
    speech_res = _speech_anchors(src, ext, audio, plan, opts, settings, req, rep, timer,
                                 listeners)
    fitted = _fit(ext, audio, speech_res, plan, rep, timer)
    tmap, picture = _picture(fitted.alignment, src, rep, timer)
    tmap, edge_moves = _edges(tmap, fitted, src, settings, rep, timer)
    # The final map judged: its edges as placed now, its confidence and reasons revised by
    # how much of the dub it explains.
    final = _judge(fitted.alignment, speech_res, tmap)
    langs = _languages(req, src, speech_res, opts, ext.dub_dur, settings, rep, timer)
    report = _report(src, ext, opts, final, fitted.alignment, speech_res, picture, edge_moves,
                     langs, timer)
    return Found(final, langs, report, speech_res is not None, shared,
                 listeners[0] if listeners else orig_speech)


#: The analysis stages (each dub's) and the writing stages (once per job of several dubs:
#: app.services.sync_many).
ANALYSIS_STAGES = ("probe", "extract", "audio_anchors", "speech_anchors", "fit")
WRITE_STAGES = ("render", "mux", "report")


def _options(req: SyncRequest, settings: EngineSettings, write: bool) -> RunOptions:
    """The mode and gap fill (the request's, else the settings'), checked; where the
    results go and the subtitle files given are checked first: a folder that cannot be
    written or a subtitle file that cannot be read fails now, not after the analysis."""
    mode = (req.mode or settings.sync_mode or "auto").lower()
    gap_fill = (req.gap_fill or settings.gap_fill or "silence").lower()
    if mode not in MODES:
        raise InputError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if gap_fill not in GAP_FILLS:
        raise InputError(f"gap fill {gap_fill!r} is not one of {', '.join(GAP_FILLS)}")
    for path, what in ((req.output if write else None, "output"), (req.report_path, "report")):
        if path is not None:
            media.check_writable_folder(Path(path), what)
    dub_subs = tuple(given_subtitle(Path(p)) for p in req.dub_subs)
    return RunOptions(mode, gap_fill, write, dub_subs)  # type: ignore[arg-type]


def given_subtitle(path: Path) -> subtitles.Sidecar:
    """A subtitle file given with the request, read once to check it: its format (from
    the extension, else the content) and its language and flags from the name's dot
    tokens after the first ("Film.es.srt", "subs.forced.spa.ass"; a one-token name is
    read whole: "es.srt"). Raises InputError when it is missing, not a text subtitle file
    SyncDub can read, or holds no cue."""
    if not path.is_file():
        raise InputError(f"subtitle file {path} does not exist or is not a file; give the "
                         "path of a .srt, .ass, .ssa or .vtt file")
    subs = subtitles.read_subtitles(path, subtitles.SIDECAR_FORMATS.get(path.suffix.lower()))
    fmt = subtitles.SIDECAR_FORMATS.get(path.suffix.lower()) or subs.format
    if fmt not in subtitles.SIDECAR_FORMATS.values():
        raise InputError(f"{path} is a {fmt} subtitle file; SyncDub re-times SubRip, "
                         "ASS/SSA and WebVTT files (convert it to SubRip first)")
    if not any(not ev.is_comment for ev in subs.events):
        raise InputError(f"no subtitle cue found in {path}; check that it is a {fmt} "
                         "file in a text encoding")
    tokens = path.stem.split(".")
    return subtitles.sidecar_from_tokens(path, fmt, tokens[1:] if len(tokens) > 1 else tokens)


def _probe(req: SyncRequest, write: bool, rep: Reporter, timer: _Timer) -> Sources:
    """Both files probed and their audio streams chosen; a sync needs the original's
    video."""
    with timer.stage("probe"):
        rep.update("probe", 0.0, "reading the files")
        orig, o_stream = probe_original(req, write)
        dub = media.probe(Path(req.dub), "dubbed")
        d_stream = dub.audio_stream(req.dub_audio_track, "dubbed")
        rep.update("probe", 1.0)
    return Sources(orig, dub, o_stream, d_stream)


def probe_original(req: SyncRequest, write: bool
                   ) -> tuple[media.MediaInfo, media.StreamInfo]:
    """The original probed and its audio stream chosen; a sync (`write`) needs its
    video. Raises InputError."""
    orig = media.probe(Path(req.original), "original")
    o_stream = orig.audio_stream(req.orig_audio_track, "original")
    if write and orig.video is None:
        raise InputError(f"original file {orig.path.name!r} has no video stream: the "
                         "original release must be the film (video + audio)")
    return orig, o_stream


def _extract(src: Sources, rep: Reporter, timer: _Timer,
             orig: TrackEnvelope | None = None) -> Extracted:
    """Both soundtracks decoded at once (a long one in two halves: envelope.py; ffmpeg
    runs in its own processes, numpy releases the GIL) into their envelopes; only the
    dub's when the original's are given (`orig`: a further dub of the same original).
    No decoded signal is kept: the speech stage reads the stretches it hears again."""
    fractions = {"o": 0.0 if orig is None else 1.0, "d": 0.0}
    lock = threading.Lock()

    message = "decoding both soundtracks" if orig is None else "decoding the dubbed soundtrack"

    def progress_of(key: str) -> Callable[[float], None]:
        def report(x: float) -> None:
            with lock:
                fractions[key] = x
            rep.update("extract", (fractions["o"] + fractions["d"]) / 2, message)
        return report

    tracks = [(src.dub, src.dub_stream)]
    if orig is None:
        tracks.append((src.orig, src.orig_stream))
    split = plan_splits(tracks)
    with timer.stage("extract"), ThreadPoolExecutor(2) as pool:
        fo = pool.submit(_original_envelope, src, progress_of("o"), split[1]) \
            if orig is None else None
        fd = pool.submit(track_envelope, src.dub, src.dub_stream, bed_only=False,
                         progress=progress_of("d"), split=split[0])
        o_env = fo.result() if fo is not None else orig
        d_env = fd.result()
    return Extracted(o_env.env, d_env.env, o_env.bands, d_env.bands,
                     src.orig.duration or len(o_env.env) / features.FRAME_RATE,
                     src.dub.duration or len(d_env.env) / features.FRAME_RATE,
                     _speed_hint(src.orig, src.dub))


def _original_envelope(src: Sources, progress: Callable[[float], None] | None = None,
                       split: bool | None = None) -> TrackEnvelope:
    """The original's envelopes, from its bed (centre dropped); `split`: as
    track_envelope's (None: decoded alone)."""
    return track_envelope(src.orig, src.orig_stream, bed_only=True, progress=progress,
                          split=split)


def _audio_anchors(ext: Extracted, mode: Mode, rep: Reporter, timer: _Timer) -> Fit | None:
    """The map from the shared music and effects, judged (None in speech mode)."""
    with timer.stage("audio_anchors"):
        if mode not in {"auto", "audio"}:
            rep.skip("audio_anchors")
            return None
        rep.update("audio_anchors", 0.1, "matching the music and effects")
        alignment = align_envelopes(ext.orig_env, ext.dub_env, ext.orig_dur, ext.dub_dur,
                                    speed_hint=ext.speed_hint, orig_bands=ext.orig_bands,
                                    dub_bands=ext.dub_bands)
        rep.update("audio_anchors", 1.0)
    return Fit(alignment, _judge(alignment, None))


def _listeners(src: Sources, settings: EngineSettings, orig_speech: Listener | None = None
               ) -> tuple[Listener, Listener]:
    """The two tracks' listeners (speech_track: their full mix read by stretches, heard
    once); the original's is `orig_speech` when an earlier dub already heard some."""
    from app.services.transcribe import get_transcriber
    tr = get_transcriber(settings)
    orig = orig_speech if orig_speech is not None else Listener(
        FileAudio(src.orig, src.orig_stream), tr)
    return orig, Listener(FileAudio(src.dub, src.dub_stream), tr)


def _speech_anchors(src: Sources, ext: Extracted, audio: Fit | None, plan: SpeechPlan,
                    opts: RunOptions, settings: EngineSettings, req: SyncRequest,
                    rep: Reporter, timer: _Timer,
                    listeners: tuple[Listener, Listener] | None) -> SpeechResult | None:
    """Phrase pairs where `plan` says (None when it says nowhere); the probe first when it
    asks for one (a refusal is written as the report and raised). Whole tracks of a long
    dub are heard in windows (speech_windows)."""
    if not plan.transcribe or listeners is None:
        rep.skip("speech_anchors")
        return None
    from app.services.embed import get_embedder
    with timer.stage("speech_anchors"):
        if plan.probe:
            rep.update("speech_anchors", 0.0, "checking that the dialogue matches")
            refusal = _speech_probe(src, ext, audio, opts, settings, timer, listeners)
            if refusal is not None:
                write_report(req.report_path, refusal.report)
                raise refusal
        rep.update("speech_anchors", 0.0, "transcribing both tracks" if plan.dub_regions
                   is None else "transcribing where the music does not match")
        return hear_and_match(
            *listeners, get_embedder(settings).embed,
            orig_regions=list(plan.orig_regions) if plan.orig_regions else None,
            dub_regions=list(plan.dub_regions) if plan.dub_regions else None,
            speed_hint=ext.speed_hint,
            progress=rep.stage_callback("speech_anchors", "transcribing"))


def _speech_probe(src: Sources, ext: Extracted, audio: Fit | None, opts: RunOptions,
                  settings: EngineSettings, timer: _Timer,
                  listeners: tuple[Listener, Listener]) -> AlignmentError | None:
    """Before two full transcriptions of a long pair whose audio shares nothing: five
    minutes of the dub's middle against fifteen of the original's. Two releases of one
    film have translated lines there; unrelated films do not, and are refused now,
    not after an hour of transcription. Returns the refusal (with its report), or None
    when the dialogue matches (what was heard is kept by the listeners)."""
    from app.services.embed import get_embedder
    dub_dur = ext.dub_dur
    mid = dub_dur / 2
    d0, d1 = max(0.0, mid - PROBE_DUB_S / 2), min(dub_dur, mid + PROBE_DUB_S / 2)
    om = mid * (ext.speed_hint or 1.0)
    # The window stays inside the original, however much longer the dub is.
    o1 = min(ext.orig_dur, max(om + PROBE_ORIG_S / 2, PROBE_ORIG_S))
    o0 = max(0.0, min(om - PROBE_ORIG_S / 2, o1 - PROBE_ORIG_S))
    res = hear_and_match(*listeners, get_embedder(settings).embed,
                         orig_regions=[(o0, o1)], dub_regions=[(d0, d1)])
    strong = [p for p in res.pairs if p.similarity >= PROBE_MIN_SIM]
    timer.times["speech_probe_pairs"] = len(strong)
    if len(strong) >= PROBE_MIN_PAIRS:
        return None
    reasons = ["the music and effects match nowhere",
               f"the dialogue does not match either ({len(strong)} lines paired by meaning "
               f"in {PROBE_DUB_S / 60:.0f} minutes of the dub's middle)"]
    report = SyncReport(
        original=str(src.orig.path), dub=str(src.dub.path), mode=opts.mode,
        gap_fill=opts.gap_fill, speed_hint=ext.speed_hint, confidence=0.0, reasons=reasons,
        diagnostics=audio.alignment.diagnostics.to_dict() if audio else {},
        timings=timer.times, speech_probe={
            "dub_region": [round(d0, 1), round(d1, 1)],
            "orig_region": [round(o0, 1), round(o1, 1)],
            "pairs": res.pairs, **res.timings})
    return AlignmentError("These files do not seem to be the same film: " + "; ".join(reasons)
                          + ". Check that both files are releases of the same film.",
                          reasons=reasons, report=report)


def _fit(ext: Extracted, audio: Fit | None, speech_res: SpeechResult | None,
         plan: SpeechPlan, rep: Reporter, timer: _Timer) -> Fit:
    """The map: the audio's alone when no speech was heard; else the best of the audio
    map and the candidates `plan.fits` asks for (speech alone, speech + audio reusing the
    audio scan). A map whose evidence accounts for the dub beats one whose does not;
    then the more confident wins, the later on a tie."""
    if speech_res is None:
        rep.update("fit", 1.0)
        assert audio is not None
        return audio
    with timer.stage("fit"):
        rep.update("fit", 0.0, "fitting the time map")
        best = Fit(audio.alignment, _judge(audio.alignment, speech_res)) if audio else None
        scan = audio.alignment.scan if audio else None
        for use_audio in plan.fits:
            cand = align_envelopes(ext.orig_env, ext.dub_env, ext.orig_dur, ext.dub_dur,
                                   speed_hint=ext.speed_hint, speech=speech_res.anchors,
                                   use_audio=use_audio, orig_bands=ext.orig_bands,
                                   dub_bands=ext.dub_bands, scan=scan if use_audio else None)
            judged = _judge(cand, speech_res)
            if best is None or (judged.accounted, judged.tmap.confidence) >= (
                    best.judgement.accounted, best.judgement.tmap.confidence):
                best = Fit(cand, judged)
        rep.update("fit", 1.0)
    assert best is not None
    return best


def _picture(alignment: Alignment, src: Sources, rep: Reporter, timer: _Timer
             ) -> tuple[TimeMap, dict | None]:
    """Speech-placed offsets pinned by the picture when both files have video: (the map,
    the picture stage's figures, None when it did not run)."""
    if not (alignment.speech_placed and src.orig.video and src.dub.video):
        return alignment.tmap, None
    with timer.stage("picture"):
        rep.update("fit", 0.85, "matching the pictures")
        return refine_picture(alignment.tmap, src.orig, src.dub)


def _bed_snippet(path: Path, stream: media.StreamInfo, start: float,
                 duration: float) -> np.ndarray:
    """edges.Loader over a file's bed: mono 16 kHz from `start` for `duration` s."""
    return media.read_snippet(path, stream, start, duration, bed_only=True)


def _edges(tmap: TimeMap, fitted: Fit, src: Sources, settings: EngineSettings,
           rep: Reporter, timer: _Timer) -> tuple[TimeMap, list[dict]]:
    """Every edit edge of a trusted map re-placed on the waveforms (edges.py): (the map,
    the moves)."""
    judged = fitted.judgement
    if len(tmap.segments) <= 1 or not judged.accounted \
            or judged.tmap.confidence < settings.min_confidence:
        return tmap, []
    alignment = fitted.alignment
    with timer.stage("edges"):
        rep.update("fit", 0.9, "placing the edits on the waveforms")
        # Speech-placed maps are off by up to a few hundred ms (search that far), and
        # their edges by up to a line or two (one mismatched pair moves an edge to
        # the next line): the search reaches further than around audio-placed ones.
        resid = alignment.diagnostics.residual_ms / 1000.0
        return refine_edges(
            tmap, partial(_bed_snippet, src.orig.path, src.orig_stream),
            partial(_bed_snippet, src.dub.path, src.dub_stream),
            # Speech anchors are instants; an audio anchor stands for a 12 s window
            # that may straddle the edit, so only the former bound an edge.
            anchors=[(a.dub_t, a.orig_t) for a in alignment.anchors if a.source == "speech"],
            reach=SPEECH_EDGE_REACH_S if alignment.speech_placed else EDGE_REACH_S,
            widen=alignment.speech_placed, max_lag_s=min(0.5, max(0.01, 3.0 * resid)))


def _detect_language(dub: media.MediaInfo, d_stream: media.StreamInfo, dub_dur: float,
                     settings: EngineSettings, seconds: float = LANGUAGE_PROBE_S) -> str:
    """ISO 639-2 tag of the dub from Whisper on a stretch a third into the film (past
    logos and credits), or "und" when no speech is found or no model is there (the sync
    itself needs no model: a missing one only leaves the track untagged)."""
    from app.services.transcribe import get_transcriber
    start = max(0.0, min(dub_dur / 3, dub_dur - seconds))
    try:
        audio = media.read_snippet(dub.path, d_stream, start, seconds)
        t = get_transcriber(settings).transcribe(audio)
    except (ModelError, MediaError) as e:
        logger.warning("could not detect the dub's language: %s", e)
        return UNKNOWN_TAG
    return iso639_2(t.language) if t.segments else UNKNOWN_TAG


def _language_tag(req: SyncRequest, stream: media.StreamInfo,
                  detected: str | None) -> str:
    """The dub track's ISO 639-2 tag: the user's, else the stream's own, else detected."""
    if req.dub_lang:
        return req.dub_lang
    if stream.language and stream.language.lower() not in {UNKNOWN_TAG, ""}:
        return stream.language
    return iso639_2(detected)


def _languages(req: SyncRequest, src: Sources, speech_res: SpeechResult | None,
               opts: RunOptions, dub_dur: float, settings: EngineSettings, rep: Reporter,
               timer: _Timer) -> Languages:
    """Both tracks' ISO 639-2 tags. A dub with no tag anywhere (AVI, a stripped MKV) and
    no transcription so far is named by Whisper from a minute of it (~2 s on a CPU)
    before a file is written in auto mode."""
    dub_tag = _language_tag(req, src.dub_stream,
                            speech_res.dub_language if speech_res else None)
    if dub_tag == UNKNOWN_TAG and opts.mode == "auto" and opts.write:
        with timer.stage("language"):
            rep.update("fit", 0.95, "detecting the dub's language")
            dub_tag = _detect_language(src.dub, src.dub_stream, dub_dur, settings)
    orig_tag = src.orig_stream.language or iso639_2(
        speech_res.orig_language if speech_res else None)
    return Languages(original=orig_tag, dub=dub_tag)


def _thin(anchors: list[Anchor], n: int) -> list[Anchor]:
    if len(anchors) <= n:
        return anchors
    idx = np.linspace(0, len(anchors) - 1, n).round().astype(int)
    return [anchors[i] for i in idx]


def _report(src: Sources, ext: Extracted, opts: RunOptions, final: Judgement,
            alignment: Alignment, speech_res: SpeechResult | None, picture: dict | None,
            edge_moves: list[dict], langs: Languages, timer: _Timer) -> SyncReport:
    """The report of the final map (accepted or not; nothing written yet), with what the
    picture and edge stages did."""
    tmap = final.tmap
    map_dict = tmap.to_dict()
    return SyncReport(
        original=str(src.orig.path), dub=str(src.dub.path), mode=opts.mode,
        gap_fill=opts.gap_fill, speed=tmap.speed, speed_hint=ext.speed_hint,
        confidence=tmap.confidence, reasons=list(tmap.reasons), map=map_dict,
        segments=map_dict["segments"], cuts=[list(c) for c in tmap.cuts],
        inserts=[list(i) for i in tmap.inserts],
        anchors=_thin(alignment.anchors, MAX_REPORT_ANCHORS),
        anchor_count=len(alignment.anchors), languages=langs,
        phrase_pairs=list(speech_res.pairs) if speech_res else [],
        speech=dict(speech_res.timings) if speech_res else None,
        evidence=final.evidence.to_dict(),
        diagnostics=replace(alignment.diagnostics, picture=picture,
                            edges=edge_moves).to_dict(),
        streams=_report_streams(src),
        timings=timer.times)


def _report_streams(src: Sources) -> ReportStreams:
    """The report's word on the streams used: each track's audio index, the dub's codec
    and channels."""
    return ReportStreams(src.orig_stream.kind_index, src.dub_stream.kind_index,
                         src.dub_stream.codec, src.dub_stream.channels)


def _refuse_unless_accepted(final: Judgement, report: SyncReport, speech_heard: bool,
                            settings: EngineSettings, report_path: Path | None) -> None:
    """Raise AlignmentError (the report written first) unless the evidence accounts for
    the dub and the map is confident enough."""
    tmap = final.tmap
    if final.accounted and tmap.confidence >= settings.min_confidence and tmap.segments:
        return
    reasons = list(tmap.reasons) or ["the evidence is too weak"]
    write_report(report_path, report)
    raise AlignmentError(
        "These files do not seem to be the same film (confidence "
        f"{tmap.confidence:.2f} < {settings.min_confidence:.2f}): " + "; ".join(reasons)
        + (". The dialogue was compared too and does not match either. Check that both "
           "files are releases of the same film." if speech_heard else
           ". Check that both files are releases of the same film, or try --mode "
           "speech if the music differs."), reasons=reasons, report=report)


SubtitleSource = subtitles.Sidecar | subtitles.EmbeddedSubtitle


def _subtitle_sources(req: SyncRequest, opts: RunOptions, dub: media.MediaInfo
                      ) -> list[tuple[SubtitleSource, str]]:
    """(source, origin) of the dub's subtitles to carry over, in the MKV's order: the
    files given, then the dub's own subtitle streams ("embedded"), then the sidecars
    beside the dub that were not given too. A sidecar and a stream of the same language
    are both kept."""
    given: list[tuple[SubtitleSource, str]] = [(sc, "given") for sc in opts.dub_subs]
    seen = {sc.path.resolve() for sc in opts.dub_subs}
    embedded = [(e, "embedded") for e in subtitles.embedded_subtitles(dub)]
    return given + embedded + [
        (sc, "sidecar") for sc in subtitles.find_sidecar_subtitles(Path(req.dub))
        if sc.path.resolve() not in seen]


def _embedded_file(emb: subtitles.EmbeddedSubtitle, work: Path, name: str
                   ) -> tuple[subtitles.Sidecar | None, str | None]:
    """A dub's text subtitle stream as a file in `work` to re-time: (the file, None), or
    (None, why not): a codec SyncDub cannot carry, or an extraction that failed (ffmpeg
    or the disk): a stream of the dub never fails the sync."""
    if emb.skip:
        return None, emb.skip
    try:
        path = subtitles.extract_embedded(emb, work, name)
    except (MediaError, OSError) as e:      # ffmpeg or the disk; a bug is not hidden
        logger.warning("subtitle stream %d of %s skipped: %s", emb.stream.index, emb.dub, e)
        return None, f"the stream could not be extracted: {e}"
    return subtitles.Sidecar(path, emb.format, emb.language, emb.forced,
                             emb.hearing_impaired), None


def _retime_one(src: SubtitleSource, tmap: TimeMap, work: Path, i: int
                ) -> tuple[Path, subtitles.RetimeResult]:
    """One subtitle source re-timed into `work`: (the file to mux, the counts). A text
    file or stream through pysubs2 (`retime_file`), a picture stream (PGS, VobSub, DVB)
    through its packets (`retime_bitmap`). Raises InputError, MediaError or OSError when
    it cannot be read or written."""
    if isinstance(src, subtitles.EmbeddedSubtitle) and src.is_bitmap:
        return subtitle_bitmaps.retime_bitmap(src, tmap, work, f"subtitle{i}")
    if isinstance(src, subtitles.EmbeddedSubtitle):
        sc, error = _embedded_file(src, work, f"embedded{i}")
        if sc is None:
            raise InputError(error or "the stream could not be read")
    else:
        sc = src
    dst = work / f"subtitle{i}.{sc.format}"
    return dst, subtitles.retime_file(sc.path, dst, tmap, sc.format)


def _subtitle_info(src: SubtitleSource, origin: str) -> SubtitleInfo:
    """The report's entry for a subtitle source, before it is re-timed."""
    if isinstance(src, subtitles.EmbeddedSubtitle):
        return SubtitleInfo(source=str(src.dub), origin=origin, format=src.format,
                            language=src.language, forced=src.forced,
                            hearing_impaired=src.hearing_impaired, stream=src.stream.index)
    return SubtitleInfo(source=str(src.path), origin=origin, format=src.format,
                        language=src.language, forced=src.forced,
                        hearing_impaired=src.hearing_impaired)


def _retime_subtitles(sources: list[tuple[SubtitleSource, str]], tmap: TimeMap,
                      work: Path) -> tuple[list[SubtitleInfo], list[AddedSubtitle]]:
    """Each subtitle file or dub stream re-timed through the final map into `work`: (the
    report's entries, the files to mux). A file or stream that cannot be read, a codec
    SyncDub cannot carry, or one none of whose cues lands on the original's timeline, is
    skipped with its `error`: the dub's subtitles never fail the sync."""
    from app.services.mux import AddedSubtitle
    infos: list[SubtitleInfo] = []
    added: list[AddedSubtitle] = []
    for i, (src, origin) in enumerate(sources):
        info = _subtitle_info(src, origin)
        if isinstance(src, subtitles.EmbeddedSubtitle) and src.skip:
            infos.append(replace(info, error=src.skip))
            continue
        try:
            dst, res = _retime_one(src, tmap, work, i)
        except (InputError, MediaError, OSError) as e:   # the file, ffmpeg or the disk
            logger.warning("subtitles %s skipped: %s", info.source, e)
            infos.append(replace(info, error=str(e)))
            continue
        info = replace(info, **res.counts())
        if res.moved == 0:
            infos.append(replace(info, error="none of its cues plays on the original's "
                                             "timeline (all in scenes the original lacks)"
                                 if res.dropped else "no subtitle cue found in it"))
            continue
        infos.append(info)
        added.append(AddedSubtitle(dst, info.language,
                                   track_title(info.language),
                                   info.forced, info.hearing_impaired))
    return infos, added


def _render_mux(req: SyncRequest, src: Sources, tmap: TimeMap, opts: RunOptions,
                langs: Languages, settings: EngineSettings, rep: Reporter,
                timer: _Timer) -> tuple[RenderInfo, list[SubtitleInfo] | None]:
    """The dub re-timed onto the original's timeline and muxed into `req.output`, with
    the dub's subtitle files re-timed too: (how the track was written, the subtitle
    files' entries, None when the dub has none)."""
    from app.services.mux import mux
    from app.services.render import plan_render, run_plan
    out = Path(req.output)  # type: ignore[arg-type]
    work = work_folder(out, settings)
    title = req.title or track_title(langs.dub, given_map=req.given_map is not None)
    orig = src.orig
    sub_infos: list[SubtitleInfo] | None = None
    try:
        added: list[AddedSubtitle] = []
        sources = _subtitle_sources(req, opts, src.dub)
        if sources:
            with timer.stage("subtitles"):
                sub_infos, added = _retime_subtitles(sources, tmap, work)
        plan = plan_render(src.dub, src.dub_stream, tmap, work, gap_fill=opts.gap_fill,
                           original=orig, orig_stream=src.orig_stream)
        track = plan.track
        if plan.streamable:
            # Re-encoded: the filter graph, the encoder and the mux run at once, piped
            # (the mux reads the track as it is encoded): one stage, "render_mux".
            with timer.stage("render_mux"):
                msg = "re-timing the dubbed audio and writing the MKV"
                rep.update("render", 0.0, msg)
                mux(orig, track, out, language=langs.dub, title=title,
                    source=plan.stages(to_pipe=True),
                    progress=rep.stage_callback("render", msg), subtitles=added)
                rep.update("mux", 1.0, msg)
        else:
            if plan.producer is not None:       # FLAC: the whole file first
                with timer.stage("render"):
                    msg = "re-timing the dubbed audio"
                    rep.update("render", 0.0, msg)
                    track = run_plan(plan, tmap.orig_duration,
                                     rep.stage_callback("render", msg))
            else:
                rep.update("render", 1.0, "the dub's own packets are kept (no re-encode)")
            with timer.stage("mux"):
                rep.update("mux", 0.0, "writing the MKV")
                mux(orig, track, out, language=langs.dub, title=title,
                    progress=rep.stage_callback("mux", "writing the MKV"), subtitles=added)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return RenderInfo(reencoded=track.reencoded, codec=track.codec), sub_infos


def work_folder(out: Path, settings: EngineSettings) -> Path:
    """A new folder for the render's files (`.syncdub-*` under WORK_DIR, else beside the
    output, whose folder is made too); the caller removes it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work_root = Path(settings.work_dir or out.parent)
    work_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".syncdub-", dir=work_root))


def track_title(language: str | None, given_map: bool = False) -> str:
    """The dub track's default title: "Spanish (SyncDub)", or "Spanish (SyncDub, map set
    by hand)" when the map was given (SyncRequest.given_map)."""
    return f"{language_name(language)} (SyncDub{', map set by hand' if given_map else ''})"


def write_report(path: Path | None, report: SyncReport) -> None:
    """The one writer of a report file: its JSON (SyncReport.to_json) written beside the
    target (`file_utils.write_text_atomic`), then renamed. Nothing when `path` is None."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, report.to_json())
