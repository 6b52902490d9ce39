"""The map as a document: a time map written by `analyze --json`, edited by hand (or by a
script) and given back to `sync --map`, which renders exactly that map with no analysis.

Pure: JSON text or parsed JSON in, a `TimeMap` out; `read_map_file` is the one twin that
reads a file. Every error is a `MapDocumentError` (an `InputError`: exit 2, HTTP 400)
whose message starts with the field it is about, as a path into the document:
``map.segments[2].dub_end: 131.200 s is before its dub_start 140.000 s``.

Accepted documents (format version 1):

* the whole report, as `analyze --json` (or `sync --report`) writes it: an object with
  ``"version": 1`` and ``"map": {...}``. Only `version` and `map` are read; every other
  key (the report's copies of the segments, anchors, evidence...) is ignored;
* the `map` object alone (``{"segments": [...], ...}``), optionally with ``"version": 1``.

In both, "map" names the map object in the messages (the report's `map`, or the whole
document when it is the map alone). A document without `version` is read as version 1;
any other version is refused.

The map object. Times are seconds, on each file's own timeline (t = 0 at its start);
`speed` is original seconds per dub second (> 1: the dub runs faster, e.g. a PAL
transfer 1.0427083). Inside a segment ``orig_t = orig_start + (dub_t - dub_start) *
speed``; the segment's *offset* is ``orig_start - dub_start * speed`` (positive: the dub's
sound plays later on the original's timeline than in the dub file).

* ``segments`` (required, a non-empty list, in dub order): each an object with
  ``dub_start``, ``dub_end`` (required; dub_start >= 0, dub_end > dub_start),
  ``speed`` (required; between `MIN_SPEED` and `MAX_SPEED`), and where the segment plays
  on the original: ``orig_start`` (>= 0) or ``offset`` (orig_start is then computed).
  ``orig_end`` and ``offset`` are derived values that `analyze` writes for reading; when
  present they must agree (within `AGREE_S`) with the others, so an edit of one without
  the other is an error, not silently lost: change them together, or delete them.
  Optional: ``confidence`` (0..1, default 0) and ``anchors`` (a count, default 0), shown
  in the report only.
* ``speed`` (optional): the map's overall speed, shown in the report (default: the
  longest segment's). ``confidence`` (optional, 0..1, default 0): shown in the report;
  a given map is never refused for its confidence.
* Ignored: ``reasons``, ``cuts``, ``inserts`` (computed again from the segments) and
  ``orig_duration``, ``dub_duration`` (the files' own durations are used).

Segments must not overlap on the dub's timeline (they are listed in its order) nor on the
original's (two pieces of the dub would play at once); they may be out of order on the
original (a scene moved). Dub time outside every segment is dropped; original time that
no segment covers is filled with silence (or the original's audio: `--gap-fill
original`). When the files' durations are known (`fit_to_files`), every segment must lie
inside both files, give or take `DURATION_SLACK_S`.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.errors import InputError
from app.services.timemap import Segment, TimeMap

#: The map document's format version (the report's: app.services.types.REPORT_VERSION).
MAP_VERSION = 1
#: A speed outside this range is not a film at another frame rate (those are within a few
#: per cent of 1: 25/23.976 = 1.0427) but a typo, e.g. a percentage or a duration.
MIN_SPEED, MAX_SPEED = 0.5, 2.0
#: How far a segment may reach past a file's end: container and stream durations differ
#: by a frame or an audio packet (tens of ms); half a second past the end is a wrong map.
DURATION_SLACK_S = 0.5
#: Tolerance of the derived fields (`offset`, `orig_end`) and of touching segments:
#: analyze writes full floats, so only rounding differs; an edit of a millisecond or more
#: to one field and not the other is caught.
AGREE_S = 1e-3
#: More segments than this is not a map of a film (the engine writes a handful).
MAX_SEGMENTS = 10_000


class MapDocumentError(InputError):
    """A map document that cannot be used; `field` is the path of the field it is about
    ("map.segments[2].dub_end"; "" for the document as a whole)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def parse_map_document(text: str | bytes, dub_duration: float | None = None,
                       orig_duration: float | None = None) -> TimeMap:
    """A map document's JSON text (see the module's docstring) -> its TimeMap. Raises
    MapDocumentError when it is not JSON or not a usable map."""
    try:
        data = json.loads(text)
    except UnicodeDecodeError as e:
        raise MapDocumentError("", f"the map document is not UTF-8 text ({e.reason}); give "
                                   "the JSON that analyze --json prints") from None
    except json.JSONDecodeError as e:
        raise MapDocumentError("", f"the map document is not JSON: {e.msg} at line {e.lineno}"
                                   f" column {e.colno}; give the JSON that analyze --json "
                                   "prints (the whole report, or its map)") from None
    return load_map_document(data, dub_duration, orig_duration)


def read_map_file(path: Path, dub_duration: float | None = None,
                  orig_duration: float | None = None) -> TimeMap:
    """`parse_map_document` on a file's content. Raises MapDocumentError when it cannot be
    read."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise MapDocumentError("", f"map file {path} not found; give the JSON file that "
                                   "analyze --json wrote") from None
    except OSError as e:
        raise MapDocumentError("", f"map file {path} cannot be read: {e.strerror or e}"
                               ) from None
    return parse_map_document(text, dub_duration, orig_duration)


def load_map_document(data: Any, dub_duration: float | None = None,
                      orig_duration: float | None = None) -> TimeMap:
    """Parsed JSON (the whole report or its `map` alone) -> the TimeMap it describes,
    every field checked; with the files' durations (seconds, None: unknown) the segments
    are checked to lie inside them (`fit_to_files`). The map's durations are the files'
    when given, else the extent of its segments (the document's own are not read)."""
    if not isinstance(data, dict):
        raise MapDocumentError("", f"the map document must be a JSON object, not "
                                   f"{_kind(data)}; give the JSON that analyze --json prints")
    _check_version(data)
    if "map" in data:
        m = data["map"]
        if m is None:
            raise MapDocumentError("map", "null: this report has no map (the pair was "
                                          "refused before a map was fitted); write the "
                                          "segments by hand or analyze another pair")
        if not isinstance(m, dict):
            raise MapDocumentError("map", f"must be an object, not {_kind(m)}")
    else:
        m = data
    segs = _segments(m)
    speed = _number(m, "speed", "map", default=None)
    if speed is not None:
        _check_speed(speed, "map.speed")
    confidence = _unit(m, "confidence", "map")
    longest = max(segs, key=lambda s: s.dub_end - s.dub_start)
    tmap = TimeMap(segments=tuple(segs),
                   orig_duration=max(s.orig_end for s in segs),
                   dub_duration=max(s.dub_end for s in segs),
                   speed=longest.speed if speed is None else speed,
                   confidence=confidence)
    if dub_duration is not None or orig_duration is not None:
        tmap = fit_to_files(tmap, orig_duration, dub_duration)
    return tmap


def fit_to_files(tmap: TimeMap, orig_duration: float | None,
                 dub_duration: float | None) -> TimeMap:
    """The map with the files' durations (seconds; None: unknown, the map's kept), every
    segment checked to lie inside them (give or take DURATION_SLACK_S). Raises
    MapDocumentError naming the first segment that does not."""
    for i, s in enumerate(tmap.segments):
        name = f"map.segments[{i}]"
        if dub_duration is not None and s.dub_end > dub_duration + DURATION_SLACK_S:
            raise MapDocumentError(
                f"{name}.dub_end", f"{s.dub_end:.3f} s is past the dub's end "
                f"({dub_duration:.3f} s); is this map for this dub?")
        if orig_duration is not None and s.orig_end > orig_duration + DURATION_SLACK_S:
            last = s.to_dub(orig_duration)
            raise MapDocumentError(
                name, f"ends at {s.orig_end:.3f} s on the original, past its end "
                f"({orig_duration:.3f} s); end it earlier on the dub (dub_end {last:.3f} s "
                "or less), or check that this map is for this original")
    return replace(tmap, orig_duration=tmap.orig_duration if orig_duration is None
                   else orig_duration,
                   dub_duration=tmap.dub_duration if dub_duration is None else dub_duration)


# ------------------------------------------------------------------ the checks

def _kind(value: Any) -> str:
    """A JSON value's kind in words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return "a list" if isinstance(value, list) else "an object"


def _check_version(data: dict) -> None:
    if "version" not in data:
        return
    v = data["version"]
    if isinstance(v, bool) or v != MAP_VERSION:
        raise MapDocumentError("version", f"{v!r} is not a version this SyncDub reads "
                                          f"(it reads version {MAP_VERSION}, what its "
                                          "analyze --json prints)")


def _number(obj: dict, key: str, where: str, default: float | None | str = "required"
            ) -> float | None:
    """obj[key] as a finite float; `default` when absent (the string "required": an
    error)."""
    field = f"{where}.{key}"
    if key not in obj:
        if default == "required":
            raise MapDocumentError(field, "missing")
        return default  # type: ignore[return-value]
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MapDocumentError(field, f"must be a number, not {_kind(v)}")
    if not math.isfinite(v):
        raise MapDocumentError(field, f"must be a finite number, not {v}")
    return float(v)


def _unit(obj: dict, key: str, where: str) -> float:
    """An optional 0..1 value (a confidence); 0 when absent."""
    v = _number(obj, key, where, default=0.0)
    assert v is not None
    if not 0.0 <= v <= 1.0:
        raise MapDocumentError(f"{where}.{key}", f"{v:g} is not between 0 and 1")
    return v


def _check_speed(speed: float, field: str) -> None:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise MapDocumentError(field, f"{speed:g} is not a speed SyncDub renders (between "
                                      f"{MIN_SPEED:g} and {MAX_SPEED:g}: original seconds "
                                      "per dub second, e.g. 1.0427083 for PAL)")


def _segments(m: dict) -> list[Segment]:
    """The map's segments, each checked, then their order and overlaps."""
    if "segments" not in m:
        raise MapDocumentError("map.segments", "missing; a map lists its segments "
                                               "(dub_start, dub_end, orig_start, speed)")
    raw = m["segments"]
    if not isinstance(raw, list):
        raise MapDocumentError("map.segments", f"must be a list, not {_kind(raw)}")
    if not raw:
        raise MapDocumentError("map.segments", "empty; a map needs at least one segment")
    if len(raw) > MAX_SEGMENTS:
        raise MapDocumentError("map.segments", f"{len(raw)} segments; at most {MAX_SEGMENTS}")
    segs = [_segment(s, f"map.segments[{i}]") for i, s in enumerate(raw)]
    _check_dub_order(segs)
    _check_original_overlaps(segs)
    return segs


def _segment(s: Any, name: str) -> Segment:
    """One segment object, checked field by field (module docstring)."""
    if not isinstance(s, dict):
        raise MapDocumentError(name, f"must be an object, not {_kind(s)}")
    d0 = _number(s, "dub_start", name)
    d1 = _number(s, "dub_end", name)
    speed = _number(s, "speed", name)
    assert d0 is not None and d1 is not None and speed is not None
    _check_speed(speed, f"{name}.speed")
    if d0 < 0:
        raise MapDocumentError(f"{name}.dub_start", f"{d0:.3f} s is before the dub's start")
    if d1 <= d0:
        raise MapDocumentError(f"{name}.dub_end", f"{d1:.3f} s is not after its dub_start "
                                                  f"{d0:.3f} s")
    offset = _number(s, "offset", name, default=None)
    o0 = _number(s, "orig_start", name, default=None)
    if o0 is None and offset is None:
        raise MapDocumentError(f"{name}.orig_start", "missing; say where the segment plays "
                                                     "on the original (orig_start or offset)")
    if o0 is None:
        assert offset is not None
        o0 = offset + d0 * speed
    elif offset is not None and abs(offset - (o0 - d0 * speed)) > AGREE_S:
        raise MapDocumentError(
            f"{name}.offset", f"{offset:.3f} s disagrees with orig_start - dub_start * "
            f"speed = {o0 - d0 * speed:.3f} s; change them together, or delete one")
    if o0 < 0:
        raise MapDocumentError(f"{name}.orig_start", f"{o0:.3f} s is before the original's "
                                                     "start; start the segment later on the "
                                                     "dub (dub_start) instead")
    seg = Segment(dub_start=d0, dub_end=d1, orig_start=o0, speed=speed,
                  confidence=_unit(s, "confidence", name),
                  anchors=_count(s, "anchors", name))
    o1 = _number(s, "orig_end", name, default=None)
    if o1 is not None and abs(o1 - seg.orig_end) > AGREE_S:
        raise MapDocumentError(
            f"{name}.orig_end", f"{o1:.3f} s disagrees with orig_start + (dub_end - "
            f"dub_start) * speed = {seg.orig_end:.3f} s; change them together, or delete it")
    return seg


def _count(obj: dict, key: str, name: str) -> int:
    v = _number(obj, key, name, default=0.0)
    assert v is not None
    if v < 0 or v != int(v):
        raise MapDocumentError(f"{name}.{key}", f"{v:g} is not a count")
    return int(v)


def _check_dub_order(segs: list[Segment]) -> None:
    for i in range(1, len(segs)):
        prev, s = segs[i - 1], segs[i]
        if s.dub_start < prev.dub_end - AGREE_S:
            raise MapDocumentError(
                f"map.segments[{i}].dub_start",
                f"{s.dub_start:.3f} s is before the end of segments[{i - 1}] on the dub "
                f"({prev.dub_end:.3f} s): segments are listed in dub order and must not "
                "overlap")


def _check_original_overlaps(segs: list[Segment]) -> None:
    """No two segments play at once on the original (they may be out of its order)."""
    order = sorted(range(len(segs)), key=lambda k: segs[k].orig_start)
    for a, b in zip(order, order[1:]):
        if segs[b].orig_start < segs[a].orig_end - AGREE_S:
            raise MapDocumentError(
                f"map.segments[{b}].orig_start",
                f"{segs[b].orig_start:.3f} s is inside segments[{a}] on the original "
                f"({segs[a].orig_start:.3f}-{segs[a].orig_end:.3f} s): two pieces of the "
                "dub would play at once")
