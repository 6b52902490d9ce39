"""Starting a job from two files: the one place that knows a job's input folder.

Files that arrive over HTTP (multipart parts, finished chunked uploads) are moved into
the job's own folder, `UPLOADS_DIR/jobs/<job id>/original.<ext>` and `dubbed.<ext>`,
which the runner removes when the job completes or its task is deleted (a failed job
keeps it, so it can be re-run). Files from the media folder are used where they are.
When a job cannot be queued, its input folder is removed again.

The arguments are named after the API's fields, and the messages name them.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from werkzeug.datastructures import FileStorage

from app.errors import InputError
from app.jobs import Job, JobRunner
from app.services.types import GAP_FILLS, MODES, GapFill, Mode
from app.uploads import ChunkedUploads, claim_part
from app.utils.file_utils import (PathNotFound, check_allowed, display_name, extension,
                                  media_file, remove_tree)
from config import Settings

#: Folder under UPLOADS_DIR that holds one folder of inputs per job.
JOB_INPUTS = "jobs"
#: Longest custom_name accepted (characters); the output file's stem is then cut to
#: file_utils.MAX_STEM.
MAX_CUSTOM_NAME = 200


@dataclass(frozen=True)
class JobOptions:
    """What the user chose for one job; None means the settings' default."""

    custom_name: str = ""            # output file name without .mkv; "": the original's
    mode: Mode | None = None
    gap_fill: GapFill | None = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in MODES:
            raise InputError(f"mode={self.mode!r}: use one of {', '.join(MODES)}.")
        if self.gap_fill is not None and self.gap_fill not in GAP_FILLS:
            raise InputError(f"gap_fill={self.gap_fill!r}: use one of "
                             f"{', '.join(GAP_FILLS)}.")
        if len(self.custom_name) > MAX_CUSTOM_NAME:
            raise InputError(f"custom_name is too long ({MAX_CUSTOM_NAME} characters at most).")


def new_job_id() -> str:
    """A fresh job id: 12 hex digits, also the name of the job's input folder."""
    return uuid.uuid4().hex[:12]


def input_dir(uploads_dir: Path, job_id: str) -> Path:
    """The folder holding a job's uploaded inputs."""
    return Path(uploads_dir) / JOB_INPUTS / job_id


def input_file(folder: Path, role: str, filename: str) -> Path:
    """Where the `role` ("original" or "dubbed") input goes: the user's name is kept only
    for its extension."""
    return folder / f"{role}.{extension(filename)}"


def media_root(settings: Settings) -> Path:
    """The mounted media folder; PathNotFound (404) when the picker is off."""
    if not settings.media_source_enabled:
        raise PathNotFound("The media folder is not enabled (MEDIA_SOURCE_ENABLED=false).")
    return settings.media_source_path


def _require(**values: str) -> None:
    for name, value in values.items():
        if not value:
            raise InputError(f"Missing field {name!r}.")


class JobSubmitter:
    """Turns two files and the user's options into a queued job on `runner`."""

    def __init__(self, settings: Settings, runner: JobRunner, uploads: ChunkedUploads) -> None:
        self.settings = settings
        self.runner = runner
        self.uploads = uploads

    def from_parts(self, original_video: FileStorage | None, dubbed_video: FileStorage | None,
                   options: JobOptions) -> Job:
        """Two multipart files, already streamed to the uploads disk, moved (not copied)
        into the job's input folder."""
        original = self._part(original_video, "original_video", "original video")
        dubbed = self._part(dubbed_video, "dubbed_video", "dubbed video")
        with self._input_folder() as (job_id, folder):
            opath = claim_part(original, input_file(folder, "original", original.filename))
            dpath = claim_part(dubbed, input_file(folder, "dubbed", dubbed.filename))
            return self._queue(job_id, "upload", (opath, dpath),
                               (display_name(original.filename), display_name(dubbed.filename)),
                               options, folder)

    def from_uploads(self, original_upload: str, dubbed_upload: str,
                     options: JobOptions) -> Job:
        """Two finished chunked uploads (by upload id), moved into the job's input folder;
        the uploads are consumed."""
        _require(original_upload=original_upload, dubbed_upload=dubbed_upload)
        infos = {"original_upload": self.uploads.info(original_upload),
                 "dubbed_upload": self.uploads.info(dubbed_upload)}
        for name, info in infos.items():
            if not info.complete:
                raise InputError(f"Upload {info.upload_id} ({name}) is not finished.")
        with self._input_folder() as (job_id, folder):
            opath, oname = self.uploads.take(original_upload, input_file(
                folder, "original", infos["original_upload"].filename))
            dpath, dname = self.uploads.take(dubbed_upload, input_file(
                folder, "dubbed", infos["dubbed_upload"].filename))
            return self._queue(job_id, "upload", (opath, dpath), (oname, dname), options,
                               folder)

    def from_media(self, original_path: str, dubbed_path: str, options: JobOptions) -> Job:
        """Two videos in the media folder (paths relative to it), used where they are."""
        root = media_root(self.settings)
        _require(original_path=original_path, dubbed_path=dubbed_path)
        allowed = self.settings.allowed_extensions
        opath = media_file(root, original_path, allowed, "original video")
        dpath = media_file(root, dubbed_path, allowed, "dubbed video")
        if opath == dpath:
            raise InputError("The original and the dubbed video are the same file.")
        return self._queue(new_job_id(), "media", (opath, dpath), (opath.name, dpath.name),
                           options)

    def _part(self, part: FileStorage | None, field: str, what: str) -> FileStorage:
        if part is None or not part.filename:
            raise InputError(f"Missing file field {field!r} (the {what}).")
        check_allowed(part.filename, self.settings.allowed_extensions, what)
        return part

    @contextmanager
    def _input_folder(self) -> Iterator[tuple[str, Path]]:
        """A new job id and its input folder, removed again when the block raises."""
        job_id = new_job_id()
        folder = input_dir(self.settings.uploads_dir, job_id)
        try:
            yield job_id, folder
        except Exception:
            remove_tree(folder)
            raise

    def _queue(self, job_id: str, source: str, paths: tuple[Path, Path],
               names: tuple[str, str], options: JobOptions, folder: Path | None = None) -> Job:
        return self.runner.submit(Job(
            id=job_id, source=source, original_path=str(paths[0]), dubbed_path=str(paths[1]),
            original_name=names[0], dubbed_name=names[1],
            input_dir=str(folder) if folder is not None else None, **asdict(options)))
