"""REST API (JSON), described in /api/openapi.json. Handlers parse, call a service, serialize.

Seed-compatible: POST /api/upload (multipart original_video, dubbed_video, custom_name),
POST /api/sync (original_path, dubbed_path, custom_name), GET /api/status/<id>,
GET /api/download/<id>, GET /api/tasks, GET /api/media/status, GET /api/media/list.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from werkzeug.http import parse_content_range_header

from app import security, system, validation
from app.errors import InputError, SyncDubError
from app.jobs import Job, JobRunner, NotCorrectable
from app.openapi import openapi_document
from app.services import clips, mapdoc
from app.submit import JobOptions, JobSubmitter, media_root
from app.uploads import ChunkedUploads
from app.utils.file_utils import PathNotFound, list_media
from app.utils.i18n import pick_language
from app.utils.report_svg import render_offset_svg
from config import Settings

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")
bp.before_request(security.api_access)


@bp.before_request
def check_against_the_document() -> None:
    """Query strings and JSON/form bodies must fit the OpenAPI document (validation.py):
    one check for every endpoint, before any handler touches a value."""
    op = validation.operation(request.url_rule.rule, request.method) \
        if request.url_rule is not None else None
    if op is None:
        return
    body = None
    # Only a body the document describes as fields is decoded here: a chunk of a file
    # (PUT /api/uploads/<id>) sent without a content type looks like a form to the
    # client library, and decoding it would consume the stream its handler must read.
    if validation.body_schema(op) is not None:
        if request.is_json:
            body = request.get_json(silent=True)
        elif request.mimetype == "application/x-www-form-urlencoded":
            body = request.form
    validation.check_request(op, request.args, body)


def _settings() -> Settings:
    return current_app.extensions["syncdub_settings"]


def _runner() -> JobRunner:
    return current_app.extensions["jobs"]


def _uploads() -> ChunkedUploads:
    return current_app.extensions["chunked_uploads"]


def _submitter() -> JobSubmitter:
    return JobSubmitter(_settings(), _runner(), _uploads())


def _job_or_404(task_id: str) -> Job:
    job = _runner().get(task_id)
    if job is None:
        raise PathNotFound(f"No task {task_id!r}.")
    return job


def _text(data: Mapping[str, Any], name: str) -> str:
    """A field's value as text; "" when absent or empty."""
    return str(data.get(name) or "")


def _choice(data: Mapping[str, Any], name: str) -> str | None:
    """A choice field, trimmed and lower-cased; None when absent or empty."""
    return (data.get(name) or "").strip().lower() or None


def _texts(data: Mapping[str, Any], one: str, several: str) -> list[str]:
    """A field that takes one value (`one`) or a list (`several`): the values given, in
    order. Both at once is an error; so is a list that is not a list of strings."""
    if data.get(one) and data.get(several):
        raise InputError(f"Give {one!r} or {several!r}, not both.")
    values = data.get(several)
    if values is None:
        return [_text(data, one)] if data.get(one) else []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InputError(f"{several!r} must be a list of strings.")
    return values


def _options(data: Mapping[str, Any]) -> JobOptions:
    """custom_name, mode, gap_fill from a form or JSON body (JobOptions checks them)."""
    return JobOptions(mode=_choice(data, "mode"),  # type: ignore[arg-type]
                      gap_fill=_choice(data, "gap_fill"),  # type: ignore[arg-type]
                      custom_name=(data.get("custom_name") or "").strip())


def job_json(job: Job) -> dict[str, Any]:
    """The public shape of a task (GET /api/status/<id>)."""
    blocked = _runner().correct_blocked(job)
    result = None
    if job.status == "completed":
        result = {
            "output": Path(job.output_path).name if job.output_path else None,
            "output_exists": bool(job.output_path and Path(job.output_path).is_file()),
            "confidence": job.confidence,
            "speed": job.speed,
            "map": job.summary,
            "download_url": url_for("api.download", task_id=job.id),
            "report_url": url_for("api.report", task_id=job.id),
            "picture_url": url_for("api.report_picture", task_id=job.id),
        }
    return {
        "task_id": job.id,
        "status": job.status,
        "progress": round(job.progress, 1),
        "stage": job.stage,
        "message": job.message,
        "error": job.error,
        "error_code": job.error_code,
        "reasons": job.reasons,
        "source": job.source,
        "original_name": job.original_name,
        "dubbed_name": job.dubbed_name,
        "dubbed_names": job.dubbed_names,
        "warnings": job.warnings,
        "batch_id": job.batch_id,
        "episode": job.episode,
        "batch_url": url_for("api_batches.batch_get", batch_id=job.batch_id)
        if job.batch_id else None,
        "custom_name": job.custom_name,
        "mode": job.mode,
        "gap_fill": job.gap_fill,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "has_report": job.report_path is not None or (job.status == "failed" and bool(
            job.summary)),
        "result": result,
        # correcting the map (app.jobs: rerender): the output's versions
        "version": job.version,
        "versions": job.versions,
        "map_source": job.map_source,
        "rerender": bool(job.rerender_map),
        "render_error": job.render_error,
        "correctable": blocked is None,
        "correct_blocked": blocked,
        "map_url": url_for("api.task_map_get", task_id=job.id),
    }


def _accepted(job: Job) -> tuple[Response, int]:
    resp = jsonify(task_id=job.id, status=job.status,
                   status_url=url_for("api.status", task_id=job.id))
    resp.headers["Location"] = url_for("api.status", task_id=job.id)
    return resp, 202


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        data = request.form.to_dict()
    if not isinstance(data, dict):
        raise InputError("Send a JSON object.")
    return data


# -- starting jobs -------------------------------------------------------------------
@bp.post("/upload")
def upload():
    """The original and one or more dubs (`dubbed_video` repeated) in one multipart
    request (streamed to the uploads disk by the request class) -> a queued task."""
    options = _options(request.form)
    job = _submitter().from_parts(request.files.get("original_video"),
                                  request.files.getlist("dubbed_video"), options)
    return _accepted(job)


@bp.post("/sync")
def sync():
    """Start a task from files already on the server: the media folder (original_path,
    dubbed_path or a list dubbed_paths) or finished chunked uploads (original_upload,
    dubbed_upload or a list dubbed_uploads)."""
    data = _json_body()
    options = _options(data)
    if data.get("original_upload") or data.get("dubbed_upload") or data.get("dubbed_uploads"):
        job = _submitter().from_uploads(_text(data, "original_upload"),
                                        _texts(data, "dubbed_upload", "dubbed_uploads"),
                                        options)
    else:
        job = _submitter().from_media(_text(data, "original_path"),
                                      _texts(data, "dubbed_path", "dubbed_paths"), options)
    return _accepted(job)


# -- resumable uploads ---------------------------------------------------------------
@bp.post("/uploads")
def upload_create():
    data = _json_body()
    size = data.get("size")
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    info = _uploads().create(str(data.get("filename") or ""), size)  # type: ignore[arg-type]
    resp = jsonify(info.to_dict())
    resp.headers["Location"] = url_for("api.upload_info", upload_id=info.upload_id)
    return resp, 201


@bp.get("/uploads/<upload_id>")
def upload_info(upload_id: str):
    return jsonify(_uploads().info(upload_id).to_dict())


@bp.put("/uploads/<upload_id>")
def upload_chunk(upload_id: str):
    header = request.headers.get("Content-Range")
    rng = parse_content_range_header(header) if header else None
    if rng is None or rng.units != "bytes" or rng.start is None:
        raise InputError("Send the chunk's place as 'Content-Range: bytes START-END/TOTAL'.")
    if request.content_length is not None and request.content_length != rng.stop - rng.start:
        raise InputError(f"Content-Length {request.content_length} does not match "
                         f"Content-Range {header!r}.")
    info = _uploads().write(upload_id, rng.start, rng.stop, rng.length, request.stream)
    return jsonify(info.to_dict())


@bp.post("/uploads/<upload_id>/finish")
def upload_finish(upload_id: str):
    return jsonify(_uploads().finish(upload_id).to_dict())


@bp.delete("/uploads/<upload_id>")
def upload_delete(upload_id: str):
    _uploads().abort(upload_id)
    return "", 204


# -- tasks ----------------------------------------------------------------------------
@bp.get("/status/<task_id>")
def status(task_id: str):
    return jsonify(job_json(_job_or_404(task_id)))


@bp.get("/tasks")
def tasks():
    limit = request.args.get("limit", default=200, type=int)
    jobs = _runner().list(max(1, min(limit or 200, 1000)))
    return jsonify(tasks=[job_json(j) for j in jobs], counts=_runner().counts())


@bp.delete("/tasks/<task_id>")
def task_delete(task_id: str):
    """Cancel a queued or running task; remove a finished one (its inputs and report;
    `?delete_output=true` removes the MKV too)."""
    job = _job_or_404(task_id)
    if not job.finished:
        job = _runner().cancel(task_id)
        return jsonify(task_id=task_id, status=job.status, cancelled=True), 202
    remove_output = request.args.get("delete_output", "").lower() in ("1", "true", "yes")
    _runner().delete(task_id, remove_output=remove_output)
    return jsonify(task_id=task_id, deleted=True, output_deleted=remove_output)


@bp.post("/tasks/<task_id>/retry")
def task_retry(task_id: str):
    _job_or_404(task_id)
    return _accepted(_runner().retry(task_id))


@bp.get("/download/<task_id>")
def download(task_id: str):
    job = _job_or_404(task_id)
    if not job.output_path or not (job.status == "completed" or job.version > 0):
        raise InputError(f"Task {task_id} is {job.status}: there is nothing to download yet.")
    path = Path(job.output_path)
    if not path.is_file():
        raise PathNotFound("The output file is no longer in the output folder.")
    return send_file(path, mimetype="video/x-matroska", as_attachment=True,
                     download_name=path.name, conditional=True, etag=True, max_age=0)


def _report_or_404(task_id: str) -> dict[str, Any]:
    _job_or_404(task_id)
    report = _runner().report(task_id)
    if report is None:
        raise PathNotFound(f"Task {task_id} has no report (yet).")
    return report


@bp.get("/report/<task_id>")
def report(task_id: str):
    return jsonify(_report_or_404(task_id))


@bp.get("/report/<task_id>/offset.svg")
def report_picture(task_id: str):
    lang = request.args.get("lang") or pick_language(request.accept_languages)
    svg = render_offset_svg(_report_or_404(task_id), lang)
    return Response(svg, mimetype="image/svg+xml",
                    headers={"Cache-Control": "no-cache",
                             "Content-Security-Policy": "default-src 'none'; style-src "
                                                       "'unsafe-inline'"})



# -- the map as a document: read it, correct it, render it again (app.jobs) ----------
#: A map document is small (a film's map: a few kB; MAX_SEGMENTS segments: ~2 MB).
MAX_MAP_BYTES = 4 * 1024 * 1024


@bp.get("/tasks/<task_id>/map")
def task_map_get(task_id: str):
    """The task's current map as a map document (what `analyze --json` prints; PUT it
    back, edited, to render the MKV again): a completed task's, or a refused task's best
    map (`source` "refused")."""
    _job_or_404(task_id)
    doc = _runner().map_document(task_id)
    if doc is None:
        raise PathNotFound(f"Task {task_id} has no map: it has not finished, or it failed "
                           "before a map was found.")
    return jsonify(doc)


@bp.put("/tasks/<task_id>/map")
def task_map_put(task_id: str):
    """Render the task again from this map document (no analysis) as a new version of
    its MKV; 202. The previous version stays until the new one is complete."""
    job = _job_or_404(task_id)
    if (request.content_length or 0) > MAX_MAP_BYTES:
        raise InputError(f"The map document is larger than {MAX_MAP_BYTES // 2**20} MB; "
                         "send the map that GET /api/tasks/<id>/map gives, edited.")
    why = _runner().correct_blocked(job)
    if why:
        raise NotCorrectable(f"Task {task_id} cannot be rendered again: {why}")
    durations = (_runner().report(task_id) or {}).get("map") or {}
    tmap = mapdoc.parse_map_document(request.get_data(cache=False),
                                     dub_duration=durations.get("dub_duration"),
                                     orig_duration=durations.get("orig_duration"))
    return _accepted(_runner().rerender(task_id, tmap))


# -- listening: clips at the map's edges (app/services/clips.py) ----------------------
class TaskNotCompleted(SyncDubError):
    """Listening needs a completed task (HTTP 409)."""

    code = "not_completed"
    http_status = 409


def _shift_ms() -> int:
    """The clip's `shift_ms`: a preview of the dub moved later by that many ms (a nudge
    of the segment's offset, heard before it is applied)."""
    raw = request.args.get("shift_ms", "0").strip() or "0"
    try:
        shift = int(raw)
    except ValueError:
        raise InputError(f"shift_ms must be a whole number of milliseconds, not "
                         f"{raw[:40]!r}.") from None
    if abs(shift) > clips.MAX_SHIFT_MS:
        raise InputError(f"shift_ms must be between -{clips.MAX_SHIFT_MS} and "
                         f"{clips.MAX_SHIFT_MS}.")
    return shift


def _listening(task_id: str, track: int) -> tuple[Path, dict[str, Any], Any]:
    """A completed task's MKV, the report of dub `track` and the MKV's probe."""
    job = _job_or_404(task_id)
    if job.status != "completed":
        raise TaskNotCompleted(f"Task {task_id} is {job.status}: clips can be heard once "
                               "it has completed.")
    report = _report_or_404(task_id)
    path = Path(job.output_path) if job.output_path else None
    if path is None or not path.is_file():
        raise PathNotFound("The output file is no longer in the output folder: there is "
                           "nothing to listen to.")
    info = clips.probe_output(path)
    clips.dub_stream_index(len(info.audio), clips.accepted_dubs(report), track)
    return path, report, info


@bp.get("/tasks/<task_id>/points")
def task_points(task_id: str):
    """The places of the map worth hearing (each cut, insert, edge and a few inside long
    segments) with their confidence, and the MKV's dub tracks."""
    track = request.args.get("track", default=0, type=int)
    path, report, info = _listening(task_id, track)
    points = clips.listening_points(clips.report_for_track(report, track))
    return jsonify(points=[{**p.to_dict(), "clip": dict(zip(
        ("start", "duration"), clips.clip_window(p.t, info.duration)))} for p in points],
        duration=info.duration, track=track, clip_seconds=clips.CLIP_SECONDS,
        kinds=list(clips.CLIP_KINDS), tracks=clips.tracks_of(info, report))


@bp.get("/tasks/<task_id>/clips/<point_id>")
def task_clip(task_id: str, point_id: str):
    """About 8 s of the MKV centred on a point: the original, the dub, both (original
    left, dub right) or a mix; made on demand, cached, Range requests answered."""
    kind = (request.args.get("kind") or "both").strip().lower()
    if kind not in clips.CLIP_KINDS:
        raise InputError(f"kind must be one of {', '.join(clips.CLIP_KINDS)}, not "
                         f"{kind[:40]!r}.")
    track = request.args.get("track", default=0, type=int)
    shift = _shift_ms()
    path, report, info = _listening(task_id, track)
    points = clips.listening_points(clips.report_for_track(report, track))
    point = next((p for p in points if p.id == point_id), None)
    if point is None:
        raise PathNotFound(f"Task {task_id} has no listening point {point_id[:40]!r}: "
                           f"GET /api/tasks/{task_id}/points lists them (p1 to "
                           f"p{len(points)}).")
    start, duration = clips.clip_window(point.t, info.duration)
    dub = clips.dub_stream_index(len(info.audio), clips.accepted_dubs(report), track)
    version = _job_or_404(task_id).version
    clip = clips.make_clip(path, start, duration, kind, 0, dub,
                           _runner().data_dir / "clips" / task_id / f"v{version}",
                           track=track, dub_shift=shift / 1000.0)
    resp = send_file(clip, mimetype=clips.clip_format()[1], conditional=True, etag=True,
                     max_age=3600)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp

# -- media folder ---------------------------------------------------------------------
@bp.get("/media/status")
def media_status():
    s = _settings()
    root = Path(s.media_source_path)
    available = s.media_source_enabled and root.is_dir()
    return jsonify(enabled=s.media_source_enabled, available=bool(available),
                   path=str(root) if s.media_source_enabled else None,
                   message=None if available else
                   (s.media_source_warning or "MEDIA_SOURCE_ENABLED is false")
                   if not s.media_source_enabled
                   else f"{root} is not a folder (is the volume mounted?)")


@bp.get("/media/list")
def media_list():
    s = _settings()
    listing = list_media(media_root(s), request.args.get("path", ""), s.allowed_extensions)
    return jsonify(path=listing.path, parent=listing.parent, breadcrumbs=listing.breadcrumbs,
                   entries=[e.__dict__ for e in listing.entries])


# -- system ---------------------------------------------------------------------------
@bp.get("/health")
def health():
    h = system.health(_settings(), _runner())
    return jsonify(h), (503 if h["status"] == "error" else 200)


@bp.get("/system-info")
def system_info():
    return jsonify(system.system_info(_settings(), _runner()))


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
