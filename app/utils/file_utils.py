"""Paths from users, allowed extensions, output names, the media-folder listing.

Every path a user gives is resolved (symlinks included) and must stay inside its root;
anything else raises `InputPathError` (HTTP 403). Uploaded files are stored under
server-made ids; user file names are only displayed (`display_name`).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

from werkzeug.security import safe_join
from werkzeug.utils import secure_filename

from app.errors import InputError, InputPathError

logger = logging.getLogger(__name__)

#: Bytes read or written per step when copying a stream to disk: big enough for speed,
#: small enough that memory never grows with the file (a 20 GB upload uses 1 MiB).
COPY_BUFSIZE = 1024 * 1024

#: Longest output file stem we make (file systems allow 255 bytes; leave room for
#: " (12).mkv" and multi-byte characters).
MAX_STEM = 120


class PathNotFound(InputPathError):
    """A path inside the root that does not exist (HTTP 404)."""

    code = "not_found"
    http_status = 404


def extension(name: str) -> str:
    """'Film.Part.MKV' -> 'mkv' ('' when there is none)."""
    suffix = Path(name).suffix
    return suffix[1:].lower() if suffix else ""


def allowed_file(name: str, allowed: Iterable[str]) -> bool:
    return bool(name) and extension(name) in set(allowed)


def check_allowed(name: str, allowed: Iterable[str], what: str = "file") -> None:
    """Raise InputError naming the accepted extensions when `name`'s is not one."""
    allowed = sorted(set(allowed))
    if not name:
        raise InputError(f"No {what} was given.")
    if not allowed_file(name, allowed):
        ext = extension(name) or "no extension"
        raise InputError(f"The {what} {display_name(name)!r} has {ext!r}: "
                         f"use one of {', '.join(allowed)}.")


def display_name(name: str) -> str:
    """A user's file name made safe to show and log (no folders, no control characters)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return base[:255] or "file"


def output_stem(custom_name: str | None, original_name: str) -> str:
    """The output file's stem: `custom_name` when given, else the original's name.

    Keeps letters of any script and spaces (films have accents), drops anything that is
    not safe in a file name on Linux, Windows or macOS; never empty.
    """
    raw = (custom_name or "").strip()
    if raw.lower().endswith(".mkv"):
        raw = raw[:-4]
    if not raw:
        raw = Path(display_name(original_name)).stem + ".synced"
    s = unicodedata.normalize("NFC", raw)
    s = re.sub(r'[\x00-\x1f<>:"/\\|?*]+', "_", s)
    s = re.sub(r"\s+", " ", s).strip(" ._")
    if not s:
        s = secure_filename(raw) or "syncdub"
    return s[:MAX_STEM].rstrip(" ._") or "syncdub"


def unique_path(directory: Path, stem: str, suffix: str = ".mkv",
                taken: Iterable[Path] = ()) -> Path:
    """`directory/stem.mkv`, or `stem (2).mkv`... when that exists or is `taken`."""
    taken = {Path(p) for p in taken}
    candidate = directory / f"{stem}{suffix}"
    n = 2
    while candidate.exists() or candidate in taken:
        candidate = directory / f"{stem} ({n}){suffix}"
        n += 1
    return candidate


def resolve_inside(root: Path, relative: str | None, what: str = "path") -> Path:
    """`root/relative`, resolved (symlinks followed); 403 when it leaves `root`.

    Absolute paths are accepted when they point inside `root` (the seed's clients send
    them); `..`, and links pointing outside, are refused. A path no file system can hold
    (a NUL byte, a name over 255 bytes, a loop of links) is a 400 naming `what`.
    """
    try:
        path = _resolve_inside(root, relative)
        path.exists()       # raises for what no file system holds (a name over 255 bytes)
        return path
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(f"The {what} {(relative or '')[:80]!r} cannot be used: "
                         f"{reason}.") from None


def _resolve_inside(root: Path, relative: str | None) -> Path:
    root_resolved = Path(root).resolve()
    rel = (relative or "").strip()
    if rel.startswith(str(root_resolved) + os.sep) or rel == str(root_resolved):
        rel = rel[len(str(root_resolved)):]
    elif os.path.isabs(rel):
        if not Path(rel).resolve().is_relative_to(root_resolved):
            raise InputPathError(f"The path {rel!r} is outside the media folder.")
        rel = os.path.relpath(Path(rel).resolve(), root_resolved)
    rel = rel.replace("\\", "/").lstrip("/")
    if rel in ("", "."):
        return root_resolved
    joined = safe_join(str(root_resolved), rel)
    if joined is None:
        raise InputPathError(f"The path {rel!r} is outside the media folder.")
    resolved = Path(joined).resolve()
    if not resolved.is_relative_to(root_resolved):
        raise InputPathError(f"The path {rel!r} leads outside the media folder.")
    return resolved


def media_file(root: Path, relative: str, allowed: Iterable[str], what: str) -> Path:
    """A video inside the media folder that exists and has an allowed extension."""
    if not relative:
        raise InputError(f"Choose the {what}.")
    path = resolve_inside(root, relative, what)
    if not path.is_file():
        raise PathNotFound(f"The {what} {relative!r} does not exist in the media folder.")
    check_allowed(path.name, allowed, what)
    return path


@dataclass(frozen=True)
class Entry:
    name: str
    path: str                 # relative to the media root, '/'-separated
    type: str                 # "directory" | "video"
    size: int | None = None   # bytes, videos only
    items: int | None = None  # directories only: entries inside
    videos: int | None = None


@dataclass(frozen=True)
class Listing:
    path: str                 # relative, '' for the root
    parent: str | None        # None at the root
    breadcrumbs: list[dict[str, str]] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


def list_media(root: Path, relative: str | None, allowed: Iterable[str]) -> Listing:
    """Folders and allowed videos in `root/relative`, folders first, names sorted.

    Hidden entries and links that lead outside `root` are left out.
    """
    root_resolved = Path(root).resolve()
    folder = resolve_inside(root_resolved, relative, "folder")
    if not folder.is_dir():
        raise PathNotFound(f"The folder {relative!r} does not exist in the media folder.")
    allowed = set(allowed)
    dirs: list[Entry] = []
    videos: list[Entry] = []
    for child in folder.iterdir():
        if child.name.startswith("."):
            continue
        try:
            target = child.resolve()
            if not target.is_relative_to(root_resolved):
                continue
            rel = (folder / child.name).relative_to(root_resolved).as_posix()
            if target.is_dir():
                items, vids = _count(target, allowed)
                dirs.append(Entry(child.name, rel, "directory", items=items, videos=vids))
            elif target.is_file() and extension(child.name) in allowed:
                videos.append(Entry(child.name, rel, "video", size=target.stat().st_size))
        except OSError as e:  # a broken link or an unreadable entry: skip it
            logger.debug("skipping %s: %s", child, e)
    rel_path = "" if folder == root_resolved else folder.relative_to(root_resolved).as_posix()
    crumbs, acc = [], []
    for part in (rel_path.split("/") if rel_path else []):
        acc.append(part)
        crumbs.append({"name": part, "path": "/".join(acc)})
    parent = None if not rel_path else "/".join(rel_path.split("/")[:-1])
    key = lambda e: e.name.lower()  # noqa: E731
    return Listing(rel_path, parent, crumbs, sorted(dirs, key=key) + sorted(videos, key=key))


def _count(folder: Path, allowed: set[str]) -> tuple[int, int]:
    try:
        names = [c for c in os.listdir(folder) if not c.startswith(".")]
    except OSError:
        return 0, 0
    return len(names), sum(1 for n in names if extension(n) in allowed)


def copy_stream(src: BinaryIO, dest: BinaryIO, limit: int | None = None,
                bufsize: int = COPY_BUFSIZE) -> int:
    """Copy up to `limit` bytes (all when None) in fixed-size pieces; returns bytes copied."""
    done = 0
    while limit is None or done < limit:
        n = bufsize if limit is None else min(bufsize, limit - done)
        buf = src.read(n)
        if not buf:
            break
        dest.write(buf)
        done += len(buf)
    return done


def disk_free(path: Path) -> int:
    """Free bytes on the file system holding `path` (its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def write_text_atomic(dst: Path, text: str) -> None:
    """Write `text` as UTF-8 to a temporary file beside `dst` (".NAME.<random>.part"),
    flush it to disk, then rename it to `dst`: never a half-written file under the final
    name (an old `dst` stays as it was if anything fails). The file gets the usual
    permissions (0666 less the umask), like any file the user's programs write."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:12]}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_tree(path: Path | None) -> None:
    """Remove a folder (or file) if present; never raises."""
    if path is None:
        return
    try:
        if Path(path).is_dir() and not Path(path).is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            Path(path).unlink(missing_ok=True)
    except OSError as e:
        logger.warning("could not remove %s: %s", path, e)
