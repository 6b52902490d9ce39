"""Uploads that never sit in memory: multipart parts streamed to the uploads disk, and
resumable chunked uploads (create, PUT byte ranges, ask the offset, resume, finish).

Layout under UPLOADS_DIR:
    .incoming/        multipart parts while a request is being parsed (renamed away after)
    partial/<id>/     a chunked upload: `data` (the bytes so far) and `meta.json`
    jobs/<job id>/    a job's inputs, moved there by app.submit (which owns that folder)
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from flask import Request, current_app
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import ClientDisconnected

from app.errors import InputError, SyncDubError
from app.utils.file_utils import check_allowed, copy_stream, disk_free, display_name, remove_tree

logger = logging.getLogger(__name__)

#: Suggested chunk size for clients: 8 MiB keeps a retry cheap on a bad connection and
#: the number of requests for a 20 GB file reasonable (~2,500).
CHUNK_SIZE = 8 * 1024 * 1024
#: Chunked uploads untouched for this long are removed at start-up (seconds).
STALE_AFTER_S = 48 * 3600
#: Multipart parts older than this in .incoming belong to no live request (seconds).
INCOMING_STALE_S = 6 * 3600
#: Free space kept on the uploads disk beyond the announced size (bytes).
DISK_MARGIN = 512 * 1024 * 1024

_ID_RE = re.compile(r"^[0-9a-f]{32}$")


class InsufficientStorage(SyncDubError):
    code = "insufficient_storage"
    http_status = 507


class UploadNotFound(SyncDubError):
    code = "not_found"
    http_status = 404


class UploadConflict(SyncDubError):
    """A chunk does not start where the upload stands; `offset` says where it does."""

    code = "offset_mismatch"
    http_status = 409

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


class StreamingRequest(Request):
    """Writes multipart file parts straight into UPLOADS_DIR/.incoming (not /tmp, not RAM),
    so that accepting them is a rename on the same disk."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None) -> BinaryIO:
        incoming = Path(current_app.extensions["syncdub_settings"].uploads_dir) / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        f = tempfile.NamedTemporaryFile(dir=incoming, prefix="part-", delete=False)
        self.__dict__.setdefault("_syncdub_parts", []).append(f.name)
        return f  # type: ignore[return-value]

    def discard_parts(self) -> None:
        """Delete the parts not moved away by the handler (teardown)."""
        for name in self.__dict__.pop("_syncdub_parts", []):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
            except OSError as e:
                logger.warning("could not remove upload part %s: %s", name, e)


def claim_part(storage: FileStorage, dest: Path) -> Path:
    """Move a parsed multipart file (werkzeug FileStorage) to `dest` without copying."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    stream = storage.stream
    name = getattr(stream, "name", None)
    if isinstance(name, str) and os.path.exists(name):
        stream.flush()
        os.replace(name, dest)
    else:  # not one of ours (e.g. a test client's in-memory file): copy in pieces
        with open(dest, "wb") as out:
            stream.seek(0)
            copy_stream(stream, out)
    return dest


@dataclass(frozen=True)
class UploadInfo:
    upload_id: str
    filename: str
    size: int                 # announced total, bytes
    offset: int               # bytes received so far (contiguous from 0)
    complete: bool
    created_at: float
    chunk_size: int = CHUNK_SIZE

    def to_dict(self) -> dict:
        return asdict(self)


class ChunkedUploads:
    """Resumable uploads stored on disk; safe for concurrent requests (one writer per id)."""

    def __init__(self, root: Path, max_size: int, allowed: Iterable[str]):
        self.root = Path(root) / "partial"
        self.max_size = max_size
        self.allowed = frozenset(allowed)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _dir(self, upload_id: str) -> Path:
        if not _ID_RE.match(upload_id or ""):
            raise UploadNotFound(f"No upload {upload_id!r}.")
        d = self.root / upload_id
        if not (d / "meta.json").is_file():
            raise UploadNotFound(f"No upload {upload_id!r}: it may have expired; start again.")
        return d

    def _lock(self, upload_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(upload_id, threading.Lock())

    def create(self, filename: str, size: int) -> UploadInfo:
        check_allowed(filename, self.allowed, "file")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise InputError("Give the file's size in bytes (a whole number above 0).")
        if size > self.max_size:
            raise InputError(f"The file is {size} bytes; the limit is {self.max_size} bytes "
                             "(MAX_CONTENT_LENGTH).")
        self.root.mkdir(parents=True, exist_ok=True)
        if disk_free(self.root) < size + DISK_MARGIN:
            raise InsufficientStorage("Not enough free disk space for this upload; "
                                      "free some space in the uploads folder.")
        upload_id = uuid.uuid4().hex
        d = self.root / upload_id
        d.mkdir()
        (d / "data").touch()
        meta = {"filename": display_name(filename), "size": size, "created_at": time.time(),
                "complete": False}
        (d / "meta.json").write_text(json.dumps(meta))
        logger.info("upload %s created: %s, %d bytes", upload_id, meta["filename"], size)
        return self.info(upload_id)

    def info(self, upload_id: str) -> UploadInfo:
        d = self._dir(upload_id)
        meta = json.loads((d / "meta.json").read_text())
        offset = (d / "data").stat().st_size
        return UploadInfo(upload_id, meta["filename"], meta["size"], offset,
                          bool(meta.get("complete")), meta["created_at"])

    def write(self, upload_id: str, start: int, stop: int, total: int | None,
              stream: BinaryIO) -> UploadInfo:
        """Write bytes [start, stop) read from `stream`. `start` may not lie beyond what
        arrived (409 with the offset); rewriting bytes already received is harmless."""
        d = self._dir(upload_id)
        lock = self._lock(upload_id)
        if not lock.acquire(timeout=30):
            raise UploadConflict("Another request is writing this upload; retry.",
                                 self.info(upload_id).offset)
        try:
            info = self.info(upload_id)
            if total is not None and total != info.size:
                raise InputError(f"Content-Range total {total} differs from the upload's "
                                 f"size {info.size}.")
            if stop > info.size or start >= stop:
                raise InputError(f"Range {start}-{stop - 1} is outside the file "
                                 f"(0-{info.size - 1}).")
            if start > info.offset:
                raise UploadConflict(f"This chunk starts at {start} but only {info.offset} "
                                     "bytes have arrived; send from the offset.", info.offset)
            want = stop - start
            with open(d / "data", "r+b") as f:
                f.seek(start)
                try:
                    got = copy_stream(stream, f, limit=want)
                except ClientDisconnected:
                    got = -1
                f.flush()
            if got != want:
                now = self.info(upload_id).offset
                logger.info("upload %s: chunk at %d cut short; %d bytes kept",
                            upload_id, start, now)
                raise UploadConflict(f"The chunk was cut short; {now} bytes have arrived: "
                                     "resume from there.", now)
            return self.info(upload_id)
        finally:
            lock.release()

    def finish(self, upload_id: str) -> UploadInfo:
        d = self._dir(upload_id)
        info = self.info(upload_id)
        if info.offset != info.size:
            raise UploadConflict(f"Only {info.offset} of {info.size} bytes have arrived; "
                                 "send the rest first.", info.offset)
        meta = json.loads((d / "meta.json").read_text())
        meta["complete"] = True
        (d / "meta.json").write_text(json.dumps(meta))
        logger.info("upload %s complete (%d bytes)", upload_id, info.size)
        return self.info(upload_id)

    def take(self, upload_id: str, dest: Path) -> tuple[Path, str]:
        """Move a finished upload's bytes to `dest`; returns (dest, original file name)."""
        info = self.info(upload_id)
        if not info.complete:
            raise InputError(f"Upload {upload_id} is not finished ({info.offset} of "
                             f"{info.size} bytes); finish it first.")
        d = self._dir(upload_id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(d / "data", dest)
        remove_tree(d)
        return dest, info.filename

    def abort(self, upload_id: str) -> None:
        remove_tree(self._dir(upload_id))
        with self._guard:
            self._locks.pop(upload_id, None)

    def remove_stale(self, max_age_s: float = STALE_AFTER_S) -> int:
        """Remove chunked uploads untouched for `max_age_s`, and multipart parts left in
        .incoming by a request that died with the process; returns how many uploads."""
        now = time.time()
        incoming = self.root.parent / ".incoming"
        if incoming.is_dir():
            for part in incoming.iterdir():
                try:
                    if now - part.stat().st_mtime > INCOMING_STALE_S:
                        part.unlink()
                except OSError:
                    pass
        if not self.root.is_dir():
            return 0
        n = 0
        for d in self.root.iterdir():
            try:
                newest = max(p.stat().st_mtime for p in [d, *d.iterdir()])
            except (OSError, ValueError):
                newest = 0
            if now - newest > max_age_s:
                remove_tree(d)
                n += 1
        if n:
            logger.info("removed %d stale chunked upload(s)", n)
        return n
