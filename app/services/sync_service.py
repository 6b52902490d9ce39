"""Orchestrates the pipeline: probe -> extract -> anchors -> fit -> render -> mux -> report.

The only entry points the web app and the CLI use: `run_sync` (writes the MKV) and
`analyze` (the map only). No Flask here.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from app.errors import AlignmentError, InputError, MediaError, ModelError
from app.services import features as F
from app.services import media
from app.services.align import Alignment, align_envelopes
from app.services.edges import refine_edges
from app.services import evidence as EV
from app.services.envelope import track_envelope
from app.services.picture import refine_picture
from app.services.progress import Progress, Reporter
from app.services.speech import iso639_2, language_name, speech_anchors
from app.services.timemap import TimeMap
from app.services.types import Anchor, SpeechResult, SyncRequest, SyncResult
from config import EngineSettings

logger = logging.getLogger(__name__)

MAX_REPORT_ANCHORS = 400          # thinned for the report and the picture
PROBE_DUB_S = 300.0               # speech probe: this much of the dub's middle ...
PROBE_ORIG_S = 900.0              # ... against this much of the original around it
PROBE_MIN_SIM = 0.5               # a pair this similar is a translation, not chance
PROBE_MIN_PAIRS = 3
LANGUAGE_PROBE_S = 60.0           # dub seconds Whisper hears to name an untagged dub
EDGE_REACH_S = 3.0                # waveform edge search around an audio-placed edge ...
SPEECH_EDGE_REACH_S = 12.0        # ... and around a speech-placed one


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


def _speech_probe(orig, o_stream, dub, d_stream, orig_dur: float, dub_dur: float,
                  hint: float | None, settings: EngineSettings,
                  alignment: Alignment | None, timer: "_Timer") -> None:
    """Before two full transcriptions of a long pair whose audio shares nothing: five
    minutes of the dub's middle against fifteen of the original's. Two releases of one
    film have translated lines there; unrelated films do not, and are refused now,
    not after an hour of transcription."""
    mid = dub_dur / 2
    d0, d1 = max(0.0, mid - PROBE_DUB_S / 2), min(dub_dur, mid + PROBE_DUB_S / 2)
    om = mid * (hint or 1.0)
    # The window stays inside the original, however much longer the dub is.
    o1 = min(orig_dur, max(om + PROBE_ORIG_S / 2, PROBE_ORIG_S))
    o0 = max(0.0, min(om - PROBE_ORIG_S / 2, o1 - PROBE_ORIG_S))
    o_audio = media.read_snippet(orig.path, o_stream, o0, o1 - o0)
    d_audio = media.read_snippet(dub.path, d_stream, d0, d1 - d0)
    res = speech_anchors(o_audio, d_audio, media.ANALYSIS_RATE, settings)
    strong = [p for p in res.pairs if p.similarity >= PROBE_MIN_SIM]
    timer.times["speech_probe_pairs"] = len(strong)
    if len(strong) >= PROBE_MIN_PAIRS:
        return
    reasons = ["the music and effects match nowhere",
               f"the dialogue does not match either ({len(strong)} lines paired by meaning "
               f"in {PROBE_DUB_S / 60:.0f} minutes of the dub's middle)"]
    report = {"original": str(orig.path), "dub": str(dub.path), "confidence": 0.0,
              "reasons": reasons, "speech_probe": {
                  "dub_region": [round(d0, 1), round(d1, 1)],
                  "orig_region": [round(o0, 1), round(o1, 1)],
                  "pairs": [asdict(p) for p in res.pairs], **res.timings},
              "diagnostics": alignment.diagnostics.to_dict() if alignment else {},
              "timings": timer.times}
    raise AlignmentError("These files do not seem to be the same film: " + "; ".join(reasons)
                         + ". Check that both files are releases of the same film.",
                         reasons=reasons, report=report)


def _detect_language(dub, d_stream, dub_dur: float, settings: EngineSettings,
                     seconds: float = LANGUAGE_PROBE_S) -> str:
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
        return "und"
    return iso639_2(t.language) if t.segments else "und"


def _language_tag(req: SyncRequest, stream: media.StreamInfo,
                  detected: str | None) -> str:
    """The dub track's ISO 639-2 tag: the user's, else the stream's own, else detected."""
    if req.dub_lang:
        return req.dub_lang
    if stream.language and stream.language.lower() not in {"und", ""}:
        return stream.language
    return iso639_2(detected)


def _thin(anchors: list[Anchor], n: int) -> list[Anchor]:
    if len(anchors) <= n:
        return anchors
    idx = np.linspace(0, len(anchors) - 1, n).round().astype(int)
    return [anchors[i] for i in idx]


def _judge(alignment: Alignment, speech_res: SpeechResult | None,
           tmap=None) -> tuple[EV.Evidence, TimeMap, bool]:
    """The alignment's map (or `tmap`, the same map with refined edges) judged by how much
    of the dub it explains (evidence.py): (evidence, map with revised confidence and
    reasons, whether the evidence accounts for the dub)."""
    tmap = tmap if tmap is not None else alignment.tmap
    ev = EV.gather(tmap, windows_active=alignment.windows_active,
                   windows_matched=alignment.windows_matched,
                   dub_lines=speech_res.dub_lines if speech_res else (),
                   pairs=tuple(speech_res.pairs) if speech_res else (),
                   anchors=tuple(alignment.anchors))
    judged, ok = EV.judge(tmap, ev, speech_heard=speech_res is not None)
    return ev, judged, ok


def analyze(req: SyncRequest, settings: EngineSettings,
            progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> SyncResult:
    """Find the time map without writing media (report only)."""
    return _run(req, settings, progress, cancel, write=False)


def run_sync(req: SyncRequest, settings: EngineSettings,
             progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None) -> SyncResult:
    """Align the dub to the original and write the MKV to `req.output`.

    Raises InputError (bad files), AlignmentError (refused: not the same film, with the
    reasons; nothing is written), MediaError, ModelError, Cancelled.
    """
    if req.output is None:
        raise InputError("no output path given")
    return _run(req, settings, progress, cancel, write=True)


def _run(req: SyncRequest, settings: EngineSettings, progress, cancel, write: bool
         ) -> SyncResult:
    mode = (req.mode or settings.sync_mode or "auto").lower()
    gap_fill = (req.gap_fill or settings.gap_fill or "silence").lower()
    if mode not in {"auto", "audio", "speech"}:
        raise InputError(f"mode {mode!r} is not one of auto, audio, speech")
    if gap_fill not in {"silence", "original"}:
        raise InputError(f"gap fill {gap_fill!r} is not one of silence, original")
    # Where the results go is checked first: a folder that cannot be written fails now,
    # not after the analysis.
    for path, what in ((req.output if write else None, "output"), (req.report_path, "report")):
        if path is not None:
            media.check_writable_folder(Path(path), what)
    rep = Reporter(progress, cancel, skip=() if write else ("render", "mux"))
    timer = _Timer()

    with timer.stage("probe"):
        rep.update("probe", 0.0, "reading the files")
        orig = media.probe(Path(req.original), "original")
        dub = media.probe(Path(req.dub), "dubbed")
        o_stream = orig.audio_stream(req.orig_audio_track, "original")
        d_stream = dub.audio_stream(req.dub_audio_track, "dubbed")
        if write and orig.video is None:
            raise InputError(f"original file {orig.path.name!r} has no video stream: the "
                             "original release must be the film (video + audio)")
        rep.update("probe", 1.0)

    # Only the speech mode keeps the decoded signal (230 MB per hour and track); auto
    # decodes again in the rare case the audio evidence is too weak.
    need_audio_kept = mode == "speech"
    with timer.stage("extract"):
        fr = {"o": 0.0, "d": 0.0}
        lock = threading.Lock()

        def prog(key):
            def f(x):
                with lock:
                    fr[key] = x
                rep.update("extract", (fr["o"] + fr["d"]) / 2, "decoding both soundtracks")
            return f
        # Both decodes at once (a long one in two halves: envelope.py): ffmpeg runs in
        # its own processes, numpy releases the GIL.
        with ThreadPoolExecutor(2) as ex:
            # The original is matched on its bed (centre dropped); Whisper needs the
            # dialogue, so that signal is kept only when it is the full mix anyway.
            keep_orig = need_audio_kept and (media.downmix_filter(o_stream, True)
                                             == media.downmix_filter(o_stream, False))
            fo = ex.submit(track_envelope, orig, o_stream, bed_only=True,
                           keep_audio=keep_orig, progress=prog("o"))
            fd = ex.submit(track_envelope, dub, d_stream, bed_only=False,
                           keep_audio=need_audio_kept, progress=prog("d"))
            o_env, d_env = fo.result(), fd.result()
    orig_env, orig_bands, orig_audio = o_env.env, o_env.bands, o_env.audio
    dub_env, dub_bands, dub_audio = d_env.env, d_env.bands, d_env.audio
    del o_env, d_env
    orig_dur = orig.duration or len(orig_env) / F.FRAME_RATE
    dub_dur = dub.duration or len(dub_env) / F.FRAME_RATE
    hint = _speed_hint(orig, dub)

    speech_res: SpeechResult | None = None
    alignment: Alignment | None = None
    with timer.stage("audio_anchors"):
        if mode in {"auto", "audio"}:
            rep.update("audio_anchors", 0.1, "matching the music and effects")
            alignment = align_envelopes(orig_env, dub_env, orig_dur, dub_dur, speed_hint=hint,
                                        orig_bands=orig_bands, dub_bands=dub_bands)
            rep.update("audio_anchors", 1.0)
        else:
            rep.skip("audio_anchors")
    judged = _judge(alignment, None) if alignment is not None else None
    weak = judged is None or not judged[2] \
        or judged[1].confidence < settings.min_confidence \
        or alignment.diagnostics.coverage < 0.6
    # Where speech is needed: everything in speech mode or when the audio is weak; in
    # auto otherwise only the stretches the audio left undetermined (holes at an edit or
    # at either end), so a film with a shared bed pays for no transcription at all.
    regions: tuple[list, list] | None = None
    if mode == "auto" and not weak and alignment is not None:
        regions = speech_regions(alignment, orig_dur, dub_dur)
    if mode == "speech" or (mode == "auto" and (weak or regions)):
        with timer.stage("speech_anchors"):
            if mode == "auto" and weak and dub_dur >= settings.speech_probe_after_s:
                rep.update("speech_anchors", 0.0, "checking that the dialogue matches")
                try:
                    _speech_probe(orig, o_stream, dub, d_stream, orig_dur, dub_dur, hint,
                                  settings, alignment, timer)
                except AlignmentError as e:
                    _write_report(req.report_path, e.report)
                    raise
            rep.update("speech_anchors", 0.0, "transcribing both tracks" if regions is None
                       else "transcribing where the music does not match")
            if orig_audio is None:
                orig_audio = media.read_audio(orig.path, o_stream, expected_seconds=orig_dur)
            if dub_audio is None:
                dub_audio = media.read_audio(dub.path, d_stream, expected_seconds=dub_dur)
            speech_res = speech_anchors(orig_audio, dub_audio, media.ANALYSIS_RATE, settings,
                                        progress=rep.stage_callback("speech_anchors",
                                                                    "transcribing"),
                                        orig_regions=regions[0] if regions else None,
                                        dub_regions=regions[1] if regions else None)
        with timer.stage("fit"):
            rep.update("fit", 0.0, "fitting the time map")
            # Speech alone (the beds differ), and in auto also speech + audio together
            # (reusing the audio scan). A map whose evidence accounts for the dub beats
            # one whose does not; then the more confident wins, the later on a tie.
            scan = alignment.scan if alignment is not None else None
            if alignment is not None:
                judged = _judge(alignment, speech_res)
            for use_audio in ([True] if regions else [False, True] if mode == "auto"
                              else [False]):
                cand = align_envelopes(orig_env, dub_env, orig_dur, dub_dur, speed_hint=hint,
                                       speech=speech_res.anchors, use_audio=use_audio,
                                       orig_bands=orig_bands, dub_bands=dub_bands,
                                       scan=scan if use_audio else None)
                cj = _judge(cand, speech_res)
                if judged is None or (cj[2], cj[1].confidence) >= (judged[2],
                                                                    judged[1].confidence):
                    alignment, judged = cand, cj
            rep.update("fit", 1.0)
    else:
        rep.skip("speech_anchors")
        rep.update("fit", 1.0)
    del orig_audio, dub_audio
    assert alignment is not None and judged is not None
    tmap = alignment.tmap
    speech_placed = not alignment.scan or not alignment.scan.windows
    if speech_placed and orig.video and dub.video:
        with timer.stage("picture"):      # speech-placed offsets pinned by the picture
            rep.update("fit", 0.85, "matching the pictures")
            tmap, picture = refine_picture(tmap, orig, dub)
            alignment.diagnostics = replace(alignment.diagnostics, picture=picture)
    edge_moves: list[dict] = []
    if len(tmap.segments) > 1 and judged[2] and judged[1].confidence >= settings.min_confidence:
        with timer.stage("edges"):
            rep.update("fit", 0.9, "placing the edits on the waveforms")
            # Speech-placed maps are off by up to a few hundred ms (search that far), and
            # their edges by up to a line or two (one mismatched pair moves an edge to
            # the next line): the search reaches further than around audio-placed ones.
            resid = alignment.diagnostics.residual_ms / 1000.0
            tmap, edge_moves = refine_edges(
                tmap,
                lambda s, d: media.read_snippet(orig.path, o_stream, s, d, bed_only=True),
                lambda s, d: media.read_snippet(dub.path, d_stream, s, d, bed_only=True),
                # Speech anchors are instants; an audio anchor stands for a 12 s window
                # that may straddle the edit, so only the former bound an edge.
                anchors=[(a.dub_t, a.orig_t) for a in alignment.anchors
                         if a.source == "speech"],
                reach=SPEECH_EDGE_REACH_S if speech_placed else EDGE_REACH_S,
                widen=speech_placed,
                max_lag_s=min(0.5, max(0.01, 3.0 * resid)))
    # The final map judged: its edges as placed now, its confidence and reasons revised by
    # how much of the dub it explains.
    evidence, tmap, accounted = _judge(alignment, speech_res, tmap)

    dub_tag = _language_tag(req, d_stream, speech_res.dub_language if speech_res else None)
    if dub_tag == "und" and mode == "auto" and write:
        # No tag anywhere (AVI, a stripped MKV) and no transcription so far: a minute
        # of the dub is enough for Whisper to name its language (~2 s on a CPU).
        with timer.stage("language"):
            rep.update("fit", 0.95, "detecting the dub's language")
            dub_tag = _detect_language(dub, d_stream, dub_dur, settings)
    orig_tag = o_stream.language or iso639_2(speech_res.orig_language if speech_res else None)
    title = req.title or f"{language_name(dub_tag)} (SyncDub)"
    report = {
        "version": 1,
        "original": str(orig.path), "dub": str(dub.path),
        "mode": mode, "gap_fill": gap_fill,
        "speed": tmap.speed, "speed_hint": hint,
        "confidence": tmap.confidence, "reasons": list(tmap.reasons),
        "map": tmap.to_dict(),
        "segments": tmap.to_dict()["segments"],
        "cuts": [list(c) for c in tmap.cuts], "inserts": [list(i) for i in tmap.inserts],
        "anchors": [asdict(a) for a in _thin(alignment.anchors, MAX_REPORT_ANCHORS)],
        "anchor_count": len(alignment.anchors),
        "languages": {"original": orig_tag, "dub": dub_tag},
        "phrase_pairs": [asdict(p) for p in speech_res.pairs] if speech_res else [],
        "speech": dict(speech_res.timings) if speech_res else None,
        "evidence": evidence.to_dict(),
        "diagnostics": replace(alignment.diagnostics, edges=edge_moves).to_dict(),
        "streams": {"original_audio": o_stream.kind_index, "dub_audio": d_stream.kind_index,
                    "dub_codec": d_stream.codec, "dub_channels": d_stream.channels},
        "output": None,
        "timings": timer.times,
    }

    if not accounted or tmap.confidence < settings.min_confidence or not tmap.segments:
        reasons = list(tmap.reasons) or ["the evidence is too weak"]
        _write_report(req.report_path, report)
        raise AlignmentError(
            "These files do not seem to be the same film (confidence "
            f"{tmap.confidence:.2f} < {settings.min_confidence:.2f}): " + "; ".join(reasons)
            + (". The dialogue was compared too and does not match either. Check that both "
               "files are releases of the same film." if speech_res is not None else
               ". Check that both files are releases of the same film, or try --mode "
               "speech if the music differs."), reasons=reasons, report=report)

    if write:
        from app.services.mux import mux
        from app.services.render import plan_render, run_plan
        out = Path(req.output)  # type: ignore[arg-type]
        out.parent.mkdir(parents=True, exist_ok=True)
        work_root = settings.work_dir or out.parent
        Path(work_root).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".syncdub-", dir=work_root))
        try:
            plan = plan_render(dub, d_stream, tmap, work, gap_fill=gap_fill,
                               original=orig, orig_stream=o_stream)
            track = plan.track
            if plan.streamable:
                # Re-encoded: the filter graph, the encoder and the mux run at once, piped
                # (the mux reads the track as it is encoded): one stage, "render_mux".
                with timer.stage("render_mux"):
                    msg = "re-timing the dubbed audio and writing the MKV"
                    rep.update("render", 0.0, msg)
                    mux(orig, track, out, language=dub_tag, title=title,
                        source=plan.stages(to_pipe=True),
                        progress=rep.stage_callback("render", msg))
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
                    mux(orig, track, out, language=dub_tag, title=title,
                        progress=rep.stage_callback("mux", "writing the MKV"))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report["output"] = str(out)
        report["render"] = {"reencoded": track.reencoded, "codec": track.codec}
    rep.update("report", 1.0, "done")
    report["timings"] = timer.times
    _write_report(req.report_path, report)
    return SyncResult(output=Path(req.output) if write else None,
                      confidence=tmap.confidence, speed=tmap.speed, report=report)


def _write_report(path: Path | None, report: dict) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    tmp.replace(path)
