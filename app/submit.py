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
from typing import Iterator, Sequence, TypeVar

from werkzeug.datastructures import FileStorage

from app.errors import InputError
from app.jobs import Job, JobRunner
from app.services.types import GAP_FILLS, MODES, GapFill, Mode
from app.uploads import ChunkedUploads, claim_part
from app.utils.file_utils import (PathNotFound, check_allowed, display_name, extension,
                                  media_file, remove_tree)
from config import Settings

T = TypeVar("T")

#: Folder under UPLOADS_DIR that holds one folder of inputs per job.
JOB_INPUTS = "jobs"
#: Longest custom_name accepted (characters); the output file's stem is then cut to
#: file_utils.MAX_STEM.
MAX_CUSTOM_NAME = 200
#: Most dubs one job takes onto its original (each is analysed in turn: a job of more
#: than a few is better split).
MAX_DUBS = 8


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


@dataclass(frozen=True)
class BatchEpisode:
    """Where a job sits in a season batch: the batch's id, the episode's label
    ("S01E02") and the batch's output folder (one name under OUTPUT_DIR)."""

    batch_id: str
    label: str
    output_subdir: str


def new_job_id() -> str:
    """A fresh job id: 12 hex digits, also the name of the job's input folder."""
    return uuid.uuid4().hex[:12]


def input_dir(uploads_dir: Path, job_id: str) -> Path:
    """The folder holding a job's uploaded inputs."""
    return Path(uploads_dir) / JOB_INPUTS / job_id


def input_file(folder: Path, role: str, filename: str) -> Path:
    """Where the `role` ("original", "dubbed", "dubbed2"...) input goes: the user's name
    is kept only for its extension."""
    return folder / f"{role}.{extension(filename)}"


def dub_role(n: int) -> str:
    """The input role of the n-th dub (0-based): "dubbed", "dubbed2", "dubbed3"..."""
    return "dubbed" if n == 0 else f"dubbed{n + 1}"


def _as_list(value: T | Sequence[T] | None) -> list[T]:
    """One value or several (a field given once or repeated) as a list; None: []."""
    if value is None:
        return []
    if isinstance(value, (str, FileStorage)):
        return [value]  # type: ignore[list-item]
    return list(value)  # type: ignore[arg-type]


def _dub_count(n: int, field: str) -> None:
    if n > MAX_DUBS:
        raise InputError(f"{n} dubbed files in {field!r}: one task takes at most {MAX_DUBS}; "
                         "start another task for the rest.")


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

    def from_parts(self, original_video: FileStorage | None,
                   dubbed_videos: FileStorage | Sequence[FileStorage] | None,
                   options: JobOptions) -> Job:
        """Multipart files (the original, one or more dubs), already streamed to the
        uploads disk, moved (not copied) into the job's input folder."""
        original = self._part(original_video, "original_video", "original video")
        given = _as_list(dubbed_videos)
        _dub_count(len(given), "dubbed_video")
        dubs = [self._part(d, "dubbed_video", "dubbed video") for d in given or [None]]
        with self._input_folder() as (job_id, folder):
            opath = claim_part(original, input_file(folder, "original", original.filename))
            dpaths = [claim_part(d, input_file(folder, dub_role(i), d.filename))
                      for i, d in enumerate(dubs)]
            return self._queue(job_id, "upload", (opath, dpaths),
                               (display_name(original.filename),
                                [display_name(d.filename) for d in dubs]), options, folder)

    def from_uploads(self, original_upload: str, dubbed_uploads: str | Sequence[str],
                     options: JobOptions) -> Job:
        """Finished chunked uploads (by upload id: the original, one or more dubs), moved
        into the job's input folder; the uploads are consumed."""
        dubbed_uploads = [u for u in _as_list(dubbed_uploads) if u]
        _require(original_upload=original_upload,
                 dubbed_upload=dubbed_uploads[0] if dubbed_uploads else "")
        _dub_count(len(dubbed_uploads), "dubbed_uploads")
        if len(set(dubbed_uploads)) != len(dubbed_uploads) or original_upload in dubbed_uploads:
            raise InputError("The same upload is given twice; each file is uploaded once.")
        ids = [("original_upload", original_upload)] + [
            ("dubbed_upload", u) for u in dubbed_uploads]
        infos = [self.uploads.info(u) for _, u in ids]
        for (name, _), info in zip(ids, infos):
            if not info.complete:
                raise InputError(f"Upload {info.upload_id} ({name}) is not finished.")
        with self._input_folder() as (job_id, folder):
            taken = [self.uploads.take(u, input_file(
                folder, "original" if i == 0 else dub_role(i - 1), info.filename))
                for i, ((_, u), info) in enumerate(zip(ids, infos))]
            return self._queue(job_id, "upload", (taken[0][0], [p for p, _ in taken[1:]]),
                               (taken[0][1], [n for _, n in taken[1:]]), options, folder)

    def from_media(self, original_path: str, dubbed_paths: str | Sequence[str],
                   options: JobOptions) -> Job:
        """Videos in the media folder (paths relative to it: the original, one or more
        dubs), used where they are."""
        root = media_root(self.settings)
        dubbed_paths = [d for d in _as_list(dubbed_paths) if d]
        _require(original_path=original_path,
                 dubbed_path=dubbed_paths[0] if dubbed_paths else "")
        _dub_count(len(dubbed_paths), "dubbed_paths")
        allowed = self.settings.allowed_extensions
        opath = media_file(root, original_path, allowed, "original video")
        dpaths = [media_file(root, d, allowed, "dubbed video") for d in dubbed_paths]
        if opath in dpaths:
            raise InputError("The original and the dubbed video are the same file.")
        if len(set(dpaths)) != len(dpaths):
            raise InputError("The same dubbed video is given twice.")
        return self._queue(new_job_id(), "media", (opath, dpaths),
                           (opath.name, [d.name for d in dpaths]), options)

    def _part(self, part: FileStorage | None, field: str, what: str) -> FileStorage:
        if part is None or not part.filename:
            raise InputError(f"Missing file field {field!r} (the {what}).")
        check_allowed(part.filename, self.settings.allowed_extensions, what)
        return part

    # -- season batches (app.batches) ----------------------------------------------------
    def media_pair(self, original_path: str, dubbed_path: str) -> tuple[Path, Path]:
        """An episode's two videos in the media folder (paths relative to it), checked as
        `from_media` checks them: inside the folder, existing, allowed, not one file."""
        root = media_root(self.settings)
        _require(original_path=original_path, dubbed_path=dubbed_path)
        allowed = self.settings.allowed_extensions
        opath = media_file(root, original_path, allowed, "original video")
        dpath = media_file(root, dubbed_path, allowed, "dubbed video")
        if opath == dpath:
            raise InputError(f"The original and the dubbed video are the same file "
                             f"({original_path!r}).")
        return opath, dpath

    def from_batch(self, original: Path, dubbed: Path, options: JobOptions,
                   episode: BatchEpisode) -> Job:
        """Queue one episode of a season batch: two media-folder files already checked
        by `media_pair`, used where they are; the output goes to the batch's folder."""
        return self.runner.submit(Job(
            id=new_job_id(), source="media", original_path=str(original),
            dubbed_path=str(dubbed), original_name=original.name, dubbed_name=dubbed.name,
            batch_id=episode.batch_id, episode=episode.label,
            output_subdir=episode.output_subdir, **asdict(options)))

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

    def _queue(self, job_id: str, source: str, paths: tuple[Path, list[Path]],
               names: tuple[str, list[str]], options: JobOptions,
               folder: Path | None = None) -> Job:
        """Queue the job: `paths`/`names` are (the original's, the dubs' in order)."""
        (opath, dpaths), (oname, dnames) = paths, names
        return self.runner.submit(Job(
            id=job_id, source=source, original_path=str(opath), dubbed_path=str(dpaths[0]),
            original_name=oname, dubbed_name=dnames[0],
            more_dubs=[{"path": str(p), "name": n} for p, n in zip(dpaths[1:], dnames[1:])],
            input_dir=str(folder) if folder is not None else None, **asdict(options)))
