"""Domain errors. Each message says what went wrong and what to try."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.services.types import SyncReport


class SyncDubError(Exception):
    """Base of every error SyncDub reports to a user."""

    code = "syncdub_error"
    http_status = 500


class InputError(SyncDubError):
    """A file given by the user cannot be used (missing, not media, no audio...)."""

    code = "bad_input"
    http_status = 400


class MediaError(SyncDubError):
    """ffmpeg/ffprobe failed on media that looked valid."""

    code = "media_error"
    http_status = 500


class AlignmentError(SyncDubError):
    """The files could not be aligned with enough confidence: refused, nothing written."""

    code = "not_same_film"
    http_status = 422

    def __init__(self, message: str, reasons: list[str] | None = None,
                 report: SyncReport | None = None):
        """`reasons`: why the map is not trusted; `report`: what was measured before the
        refusal (written like an accepted run's, for the user to read)."""
        super().__init__(message)
        self.reasons = list(reasons or [])
        self.report = report


class ModelError(SyncDubError):
    """A speech or embedding model is missing or cannot be loaded."""

    code = "model_error"
    http_status = 500


class InputPathError(SyncDubError):
    """A user-given path escapes its root or does not exist."""

    code = "forbidden_path"
    http_status = 403


class Cancelled(SyncDubError):
    """The job was cancelled by the user."""

    code = "cancelled"
    http_status = 409


class QueueUnavailable(SyncDubError):
    """The job queue (QUEUE_URL's Redis) cannot be reached: nothing can be queued or read
    until it is back (HTTP 503)."""

    code = "queue_unavailable"
    http_status = 503
