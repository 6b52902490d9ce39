"""Several dubs onto one original in one job (`SyncRequest.more_dubs`), on the stages of
sync_service: every file probed first, the original decoded once (beside the first dub)
and its envelopes shared, each dub mapped (`sync_service._find_map`) and accepted or
refused on its own, one MKV with the accepted dubs' tracks in order (`mux.mux_tracks`),
one report with `dubs`. `sync_service.run_sync` calls `run_many`; nothing else does.
"""
from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, NoReturn

from app.errors import AlignmentError, InputError, MediaError
from app.services import media
from app.services.envelope import TrackEnvelope
from app.services.progress import STAGES, Progress, Reporter
from app.services.speech import UNKNOWN_TAG
# The stages of the one-dub pipeline this one is made of.
from app.services.sync_service import (ANALYSIS_STAGES, WRITE_STAGES, Found, RunOptions,
                                       Sources, _find_map, _language_tag, _options,
                                       _original_envelope, _refuse_unless_accepted,
                                       _retime_subtitles, _subtitle_sources, _Timer,
                                       given_subtitle, probe_original, track_title,
                                       work_folder, write_report)
from app.services.types import (DubOutcome, RenderInfo, SubtitleInfo, SyncReport,
                                SyncRequest, SyncResult)
from config import EngineSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DubJob:
    """One dub of a several-dub request: its own single-dub request (`dub_requests`), its
    options (its subtitle files read) and both files probed (the original's shared)."""

    req: SyncRequest
    opts: RunOptions
    src: Sources


def dub_requests(req: SyncRequest) -> list[SyncRequest]:
    """One single-dub request per dub of `req`, in its order: the first from `req`'s own
    dub fields, the others from `more_dubs`. None has a report path (the job writes one
    report) or further dubs."""
    first = replace(req, more_dubs=(), report_path=None)
    return [first] + [replace(first, dub=Path(d.path), dub_lang=d.lang,
                              dub_audio_track=d.audio_track, title=d.title,
                              dub_subs=tuple(d.subs)) for d in req.more_dubs]


def run_many(req: SyncRequest, settings: EngineSettings,
             progress: Callable[[Progress], None] | None,
             cancel: threading.Event | None) -> SyncResult:
    """Several dubs onto one original: every file probed first (bad input fails the
    whole request before any long work), the original decoded once (beside the first
    dub) and its envelopes shared, then each dub's map found and accepted or refused on
    its own, then one MKV with the accepted dubs' tracks in the request's order and one
    report: the first accepted dub's, with `dubs`."""
    opts = _options(req, settings, write=True)
    out = Path(req.output)  # type: ignore[arg-type]
    timer = _Timer()
    *reps, write_rep = _reporters(progress, cancel, 1 + len(req.more_dubs))
    jobs = _probe_many(req, opts, reps[0], timer)
    found = _find_maps(jobs, settings, reps)
    picks = [k for k, f in enumerate(found) if isinstance(f, Found)]
    if not picks:
        _refuse_all(req, [f for f in found if isinstance(f, DubOutcome)])
    written = dict(zip(picks, _render_mux_many(
        out, [(jobs[k], found[k]) for k in picks], settings, write_rep, timer)))
    outcomes = [_accepted(jobs[k], f, out, *written[k], timer) if isinstance(f, Found)
                else f for k, f in enumerate(found)]
    first = outcomes[picks[0]]
    report = replace(first.report, dubs=_dub_entries(outcomes, picks[0]))
    write_rep.update("report", 1.0, f"done: {len(picks)} of {len(jobs)} dubs written")
    write_report(req.report_path, report)
    return SyncResult(output=out, confidence=first.confidence, speed=first.speed,
                      report=report, dubs=tuple(outcomes))


def _reporters(progress: Callable[[Progress], None] | None,
               cancel: threading.Event | None, n: int) -> list[Reporter]:
    """`n` reporters for the dubs' analyses, then one for the writing, each over its own
    span of one overall fraction (the analyses share the analysis stages' weight equally,
    the writing has the rest), so the job's fraction only grows."""
    share = sum(STAGES[k] for k in ANALYSIS_STAGES) / sum(STAGES.values())
    spans = [(share * k / n, share * (k + 1) / n) for k in range(n)] + [(share, 1.0)]
    return [Reporter(_rescaled(progress, lo, hi), cancel,
                     skip=WRITE_STAGES if k < n else ANALYSIS_STAGES)
            for k, (lo, hi) in enumerate(spans)]


def _rescaled(progress: Callable[[Progress], None] | None, lo: float, hi: float
              ) -> Callable[[Progress], None] | None:
    """`progress` with each event's overall fraction moved into [lo, hi]."""
    if progress is None:
        return None
    return lambda p: progress(replace(p, overall=lo + (hi - lo) * p.overall))


def _probe_many(req: SyncRequest, opts: RunOptions, rep: Reporter, timer: _Timer
                ) -> list[DubJob]:
    """The original probed once, then each dub, its audio stream chosen and its subtitle
    files read: any file that cannot be used fails the whole request now (InputError)."""
    reqs = dub_requests(req)
    with timer.stage("probe"):
        rep.update("probe", 0.0, "reading the files")
        orig, o_stream = probe_original(req, write=True)
        jobs = []
        for k, r in enumerate(reqs):
            dub = media.probe(Path(r.dub), "dubbed")
            d_stream = dub.audio_stream(r.dub_audio_track, "dubbed")
            dub_opts = opts if k == 0 else replace(
                opts, dub_subs=tuple(given_subtitle(Path(p)) for p in r.dub_subs))
            jobs.append(DubJob(r, dub_opts, Sources(orig, dub, o_stream, d_stream)))
            rep.update("probe", (k + 1) / len(reqs))
    return jobs


def _find_maps(jobs: list[DubJob], settings: EngineSettings, reps: list[Reporter]
               ) -> list[Found | DubOutcome]:
    """Each dub's map, in order: its Found when accepted, else its not-accepted outcome
    (refused: AlignmentError; its analysis failed: MediaError, or InputError such as a
    silent track). The first dub is decoded beside the original; the others re-use the
    original's envelopes (decoded again only when the first dub failed before they were
    kept, which also tells the original's own failure, raised, from the dub's)."""
    orig: TrackEnvelope | None = None
    orig_speech = None                  # what of the original's dialogue was heard
    out: list[Found | DubOutcome] = []
    for job, rep in zip(jobs, reps):
        if out:
            rep.skip("probe")
        timer = _Timer()
        try:
            found = _find_map(job.req, job.src, job.opts, settings, rep, timer, orig,
                              orig_speech)
            orig, orig_speech = found.orig, found.orig_speech
            _refuse_unless_accepted(found.final, found.report, found.speech_heard,
                                    settings, None)
            out.append(found)
        except (AlignmentError, MediaError, InputError) as e:
            logger.warning("dub %s not written: %s", job.req.dub, e)
            if orig is None:
                orig = _original_envelope(job.src)
            out.append(_not_accepted(job, e))
    return out


def _not_accepted(job: DubJob, error: AlignmentError | MediaError | InputError
                  ) -> DubOutcome:
    """The outcome of a dub refused (AlignmentError, with its report) or whose analysis
    failed."""
    report = getattr(error, "report", None)
    return DubOutcome(
        dub=str(job.req.dub),
        language=report.languages.dub if report and report.languages.dub
        else _language_tag(job.req, job.src.dub_stream, None),
        accepted=False, confidence=report.confidence if report else 0.0,
        speed=report.speed if report else None,
        reasons=list(getattr(error, "reasons", []) or []), error=str(error),
        error_code=error.code, report=report)


def _accepted(job: DubJob, found: Found, out: Path, render: RenderInfo,
              subs: list[SubtitleInfo] | None, timer: _Timer) -> DubOutcome:
    """The outcome of a dub whose track was written into `out`: its report completed with
    the output, how its track was written, its subtitle files and the job's shared
    timings (probe, render, mux)."""
    tmap = found.final.tmap
    report = replace(found.report, output=str(out), render=render, subtitles=subs,
                     timings={**found.report.timings, **timer.times})
    return DubOutcome(dub=str(job.req.dub), language=found.langs.dub, accepted=True,
                      confidence=tmap.confidence, speed=tmap.speed,
                      reasons=list(tmap.reasons), report=report)


def _dub_entries(outcomes: list[DubOutcome], own: int) -> list[dict]:
    """SyncReport.dubs: each outcome's JSON form, the report's own dub's without its
    report (it is the report)."""
    return [{**o.to_dict(), "report": None} if k == own else o.to_dict()
            for k, o in enumerate(outcomes)]


def _refuse_all(req: SyncRequest, outcomes: list[DubOutcome]) -> NoReturn:
    """No dub accepted: the report (the first dub's that has one, with `dubs`) written,
    then AlignmentError naming each dub and why; when none was refused (every analysis
    failed), InputError if every dub was bad input (a silent track), else MediaError.
    Nothing is written."""
    why = [f"{Path(o.dub).name} ({o.language or UNKNOWN_TAG}): {o.error}" for o in outcomes]
    own = next((k for k, o in enumerate(outcomes) if o.report is not None), 0)
    base = outcomes[own].report or SyncReport(original=str(req.original),
                                              dub=outcomes[own].dub, reasons=why)
    report = replace(base, dubs=_dub_entries(outcomes, own))
    write_report(req.report_path, report)
    message = f"No dub was written ({len(outcomes)} given): " + "; ".join(why)
    if any(o.error_code == AlignmentError.code for o in outcomes):
        raise AlignmentError(message, reasons=why, report=report)
    if all(o.error_code == InputError.code for o in outcomes):
        raise InputError(message)
    raise MediaError(message)


def _render_mux_many(out: Path, picks: list[tuple[DubJob, Found]],
                     settings: EngineSettings, rep: Reporter, timer: _Timer
                     ) -> list[tuple[RenderInfo, list[SubtitleInfo] | None]]:
    """The accepted dubs re-timed and muxed into `out` in their order, with their
    subtitle files re-timed: per dub (how its track was written, its subtitle files'
    entries). Every re-encode is rendered to a file in the work folder but the last
    streamable one, which is piped into the mux as in a one-dub job."""
    from app.services.mux import DubTrack, mux_tracks
    from app.services.render import plan_render, run_plan
    work = work_folder(out, settings)
    orig = picks[0][0].src.orig
    try:
        plans, infos, added = [], [], []
        for k, (job, found) in enumerate(picks):
            folder = work / f"dub{k}"       # each dub's files apart: the same names
            folder.mkdir()
            sources = _subtitle_sources(job.req, job.opts, job.src.dub)
            sub_infos: list[SubtitleInfo] | None = None
            if sources:
                with timer.stage("subtitles"):
                    sub_infos, dub_added = _retime_subtitles(sources, found.final.tmap, folder)
                added += dub_added
            infos.append(sub_infos)
            plans.append(plan_render(job.src.dub, job.src.dub_stream, found.final.tmap,
                                     folder, gap_fill=job.opts.gap_fill, original=orig,
                                     orig_stream=job.src.orig_stream))
        piped = max((k for k, p in enumerate(plans) if p.streamable), default=None)
        to_file = [k for k, p in enumerate(plans) if p.producer is not None and k != piped]
        tracks = [p.track for p in plans]
        with timer.stage("render"):
            for i, k in enumerate(to_file):
                msg = f"re-timing dub {k + 1} of {len(plans)}"
                tracks[k] = run_plan(plans[k], picks[k][1].final.tmap.orig_duration,
                                     lambda f, i=i, msg=msg: rep.update(
                                         "render", (i + f) / len(to_file), msg))
            rep.update("render", 1.0)
        dubs = [DubTrack(t, f.langs.dub or UNKNOWN_TAG,
                         job.req.title or track_title(f.langs.dub))
                for t, (job, f) in zip(tracks, picks)]
        with timer.stage("render_mux" if piped is not None else "mux"):
            msg = f"writing the MKV ({len(dubs)} dub tracks)"
            rep.update("mux", 0.0, msg)
            mux_tracks(orig, dubs, out, progress=rep.stage_callback("mux", msg),
                       source=plans[piped].stages(to_pipe=True) if piped is not None
                       else None, piped=piped or 0, subtitles=added)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [(RenderInfo(reencoded=t.reencoded, codec=t.codec), i)
            for t, i in zip(tracks, infos)]
