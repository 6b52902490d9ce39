"""REST API of season batches (JSON, described in /api/openapi.json): pair two folders of
the media folder (or take pairs given by hand), queue one task per episode, follow,
retry and forget the batch. Same access rules as app.api (API key or session + CSRF
token) and the same check of every request against the OpenAPI document.

POST /api/batches, GET /api/batches, GET|DELETE /api/batches/<id>,
POST /api/batches/<id>/retry.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from app import security
# The one check of requests against the document, shared with app.api's blueprint.
from app.api import check_against_the_document
from app.batches import BatchRequest, BatchService, BatchView, refused
from app.jobs import Job
from app.submit import JobSubmitter

bp = Blueprint("api_batches", __name__, url_prefix="/api")
bp.before_request(security.api_access)
bp.before_request(check_against_the_document)


def _service() -> BatchService:
    ext = current_app.extensions
    runner = ext["jobs"]
    return BatchService(ext["syncdub_settings"], runner,
                        JobSubmitter(ext["syncdub_settings"], runner, ext["chunked_uploads"]),
                        ext["batches"])


def episode_json(job: Job) -> dict[str, Any]:
    """One episode of a batch: its task's state, in short."""
    completed = job.status == "completed"
    return {
        "episode": job.episode,
        "task_id": job.id,
        "original_name": job.original_name,
        "dubbed_name": job.dubbed_name,
        "status": job.status,
        "refused": refused(job),
        "progress": round(job.progress, 1),
        "stage": job.stage,
        "message": job.message,
        "confidence": job.confidence,
        "reasons": job.reasons,
        "error": job.error,
        "error_code": job.error_code,
        "output_name": Path(job.output_path).name if completed and job.output_path else None,
        "download_url": url_for("api.download", task_id=job.id) if completed else None,
        "task_url": url_for("api.status", task_id=job.id),
    }


def summary_json(view: BatchView) -> dict[str, Any]:
    b = view.batch
    return {"id": b.id, "name": b.name, "created_at": b.created_at,
            "originals": b.originals, "dubs": b.dubs,
            "status": view.state.status, "done": view.state.done,
            "counts": view.state.counts, "episodes": len(view.jobs),
            "url": url_for("api_batches.batch_get", batch_id=b.id)}


def batch_json(view: BatchView) -> dict[str, Any]:
    b = view.batch
    return {"id": b.id, "name": b.name, "created_at": b.created_at,
            "originals": b.originals, "dubs": b.dubs, "output_folder": b.output_subdir,
            "mode": b.mode, "gap_fill": b.gap_fill,
            "status": view.state.status, "done": view.state.done,
            "counts": view.state.counts,
            "episodes": [episode_json(j) for j in view.jobs],
            "unpaired_originals": b.unpaired_originals, "unpaired_dubs": b.unpaired_dubs,
            "ambiguous": b.ambiguous}


def _accepted(view: BatchView):
    resp = jsonify(batch_json(view))
    resp.headers["Location"] = url_for("api_batches.batch_get", batch_id=view.batch.id)
    return resp, 202


@bp.post("/batches")
def batch_create():
    """A dry run (200: the pairing) or a batch started (202: the batch)."""
    req = BatchRequest.from_json(request.get_json(silent=True))
    service = _service()
    plan = service.plan(req)
    if req.dry_run:
        return jsonify(plan.to_dict())
    batch = service.start(plan, req.name, req.options)
    return _accepted(service.view(batch.id))


@bp.get("/batches")
def batch_list():
    return jsonify(batches=[summary_json(v) for v in _service().list()])


@bp.get("/batches/<batch_id>")
def batch_get(batch_id: str):
    return jsonify(batch_json(_service().view(batch_id)))


@bp.post("/batches/<batch_id>/retry")
def batch_retry(batch_id: str):
    return _accepted(_service().retry(batch_id))


@bp.delete("/batches/<batch_id>")
def batch_delete(batch_id: str):
    _service().delete(batch_id)
    return "", 204
